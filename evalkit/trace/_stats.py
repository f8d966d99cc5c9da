"""TraceStats (one completion) and `summarize` (one run)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from evalkit.trace._acts import Act, Episode
from evalkit.trace._rules import KINDS

# What `marker_counts` counts: the acts of each kind, and the acts flagged aha.
COUNTED = KINDS + ("aha",)


@dataclass(frozen=True)
class TraceStats:
    """What the analyzer found in one completion. `to_dict()` gives the stable JSON form
    (keys documented in evalkit.trace's module docstring)."""

    unit: str
    length: int
    think_length: int
    answer_length: int
    has_think: bool
    truncated: bool
    markers: tuple[Act, ...]
    episodes: tuple[Episode, ...]
    marker_counts: dict[str, int]
    markers_per_1k: float
    reflection_share: float
    trajectory: tuple[dict[str, Any], ...]
    first_correct_position: int | None
    final_correct: bool | None
    self_corrections: dict[str, int]
    overthinking_share: float | None
    outcome_efficiency: float | None
    thought_switches: int
    ut_score: float | None
    superficial_reflection: bool | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "unit": self.unit,
            "length": self.length,
            "think_length": self.think_length,
            "answer_length": self.answer_length,
            "has_think": self.has_think,
            "truncated": self.truncated,
            "markers": [m.to_dict() for m in self.markers],
            "episodes": [e.to_dict() for e in self.episodes],
            "marker_counts": dict(self.marker_counts),
            "markers_per_1k": self.markers_per_1k,
            "reflection_share": self.reflection_share,
            "trajectory": [dict(t) for t in self.trajectory],
            "first_correct_position": self.first_correct_position,
            "final_correct": self.final_correct,
            "self_corrections": dict(self.self_corrections),
            "overthinking_share": self.overthinking_share,
            "outcome_efficiency": self.outcome_efficiency,
            "thought_switches": self.thought_switches,
            "ut_score": self.ut_score,
            "superficial_reflection": self.superficial_reflection,
        }


def _mean(values) -> float | None:
    vals = [float(v) for v in values if v is not None]
    return round(sum(vals) / len(vals), 4) if vals else None


def _group(stats: Sequence[dict], correct: Sequence[bool | None]) -> dict[str, Any]:
    """The figures of one group of samples (`stats`, as dicts) with their verdicts (`correct`)."""
    total_len = sum(s["length"] for s in stats)
    total_markers = sum(len(s["markers"]) for s in stats)
    return {
        "n": len(stats),
        "mean_length": _mean(s["length"] for s in stats),
        "mean_think_length": _mean(s["think_length"] for s in stats),
        "mean_answer_length": _mean(s["answer_length"] for s in stats),
        "markers_per_1k": round(1000 * total_markers / total_len, 3) if total_len else None,
        "mean_markers": {k: _mean(s["marker_counts"].get(k, 0) for s in stats) for k in COUNTED},
        "mean_episodes": _mean(len(s.get("episodes") or ()) for s in stats),
        "reflection_rate": _mean(_reflects(s) for s in stats),
        "mean_reflection_share": _mean(s["reflection_share"] for s in stats),
        "truncated_rate": _mean(s["truncated"] for s in stats),
        "mean_self_corrections": {k: _mean(s["self_corrections"][k] for s in stats)
                                  for k in ("wrong_to_right", "right_to_wrong", "wrong_to_wrong")},
        "mean_overthinking_share": _mean(s["overthinking_share"] for s in stats),
        "mean_outcome_efficiency": _mean(s["outcome_efficiency"] for s in stats),
        "mean_thought_switches": _mean(s["thought_switches"] for s in stats),
        "mean_ut_score": _mean(s["ut_score"] for s in stats),
        "superficial_reflection_rate": _superficial(stats, correct),
    }


def _superficial(stats: Sequence[dict], correct: Sequence[bool | None]) -> float | None:
    """Among the judged samples that reflect, the share whose final answer is still wrong (oat-zero's
    superficial self-reflection rate); None when none reflects."""
    return _mean(not c for s, c in zip(stats, correct) if c is not None and _reflects(s))


def _reflects(s: dict) -> bool:
    return any(s["marker_counts"].get(k, 0) for k in KINDS)


# Behaviours related to accuracy in the summary: name -> predicate over one stats dict.
BEHAVIOURS = {
    "reflection": _reflects,
    **{f"{k}": (lambda s, k=k: s["marker_counts"].get(k, 0) > 0) for k in COUNTED},
    "self_correction_wrong_to_right": lambda s: s["self_corrections"]["wrong_to_right"] > 0,
    "self_correction_right_to_wrong": lambda s: s["self_corrections"]["right_to_wrong"] > 0,
    "truncated": lambda s: bool(s["truncated"]),
}


def summarize(stats_list: Sequence[TraceStats | dict], correct_list: Sequence[bool | None] | None = None) -> dict[str, Any]:
    """Run-level figures over many analysed completions.

    stats_list: TraceStats or their `to_dict()` form (as stored in samples.jsonl `trace`).
    correct_list: each sample's verdict (`correct`); None takes each stats' `final_correct`.
    Unjudged samples (None) count in `all` but in neither `correct` nor `wrong`, nor in accuracies.

    Returns {n, n_correct, n_wrong, n_unjudged, unit, accuracy, markers_per_1k, by_outcome: {all, correct,
    wrong: group figures}, behaviours: {name: {n_with, n_without, accuracy_with, accuracy_without, lift}},
    superficial_reflection_rate} where lift = accuracy_with - accuracy_without ("does reflecting help?").
    """
    # A TraceStats is read through its fields (vars): its acts need not become dicts to be counted.
    dicts = [vars(s) if isinstance(s, TraceStats) else s for s in stats_list]
    if correct_list is None:
        correct_list = [d.get("final_correct") for d in dicts]
    if len(correct_list) != len(dicts):
        raise ValueError(f"summarize: {len(dicts)} stats but {len(correct_list)} correct values")
    right = [d for d, c in zip(dicts, correct_list) if c is True]
    wrong = [d for d, c in zip(dicts, correct_list) if c is False]
    everything = _group(dicts, correct_list)
    judged = [(d, c) for d, c in zip(dicts, correct_list) if c is not None]
    behaviours = {}
    for name, pred in BEHAVIOURS.items():
        with_ = [c for d, c in judged if pred(d)]
        without = [c for d, c in judged if not pred(d)]
        acc_w, acc_wo = _mean(with_), _mean(without)
        behaviours[name] = {
            "n_with": len(with_), "n_without": len(without),
            "accuracy_with": acc_w, "accuracy_without": acc_wo,
            "lift": None if acc_w is None or acc_wo is None else round(acc_w - acc_wo, 4),
        }
    units = sorted({d["unit"] for d in dicts})
    return {
        "n": len(dicts),
        "n_correct": len(right),
        "n_wrong": len(wrong),
        "n_unjudged": len(dicts) - len(judged),
        "unit": units[0] if len(units) == 1 else ("mixed" if units else None),
        "accuracy": _mean(c for _, c in judged),
        "markers_per_1k": everything["markers_per_1k"] if dicts else None,
        "by_outcome": {"all": everything, "correct": _group(right, [True] * len(right)),
                       "wrong": _group(wrong, [False] * len(wrong))},
        "behaviours": behaviours,
        # Among reflecting samples, the share whose final answer is still wrong (oat-zero's SSR); each
        # group of by_outcome says the same of its own samples.
        "superficial_reflection_rate": everything["superficial_reflection_rate"],
    }


def format_summary(summary: dict[str, Any]) -> str:
    """The run-level summary as a few lines of plain text (what `evalkit analyze` prints)."""
    unit = summary.get("unit") or "chars"
    acc = summary.get("accuracy")
    lines = [
        f"{summary['n']} completions: {summary['n_correct']} correct, {summary['n_wrong']} wrong, "
        f"{summary['n_unjudged']} unjudged" + (f" (accuracy {acc:.3f})" if acc is not None else ""),
        f"markers per 1k {unit}: " + ("- (no text)" if summary["markers_per_1k"] is None else
                                      f"{summary['markers_per_1k']} (acts of reflection)"),
        f"{'':28}{'all':>10}{'correct':>10}{'wrong':>10}",
    ]
    groups = summary["by_outcome"]

    def row(label: str, get) -> None:
        cells = []
        for g in ("all", "correct", "wrong"):
            v = get(groups[g]) if groups[g]["n"] else None
            # from 999.5 on, three significant digits would be written 1e+03
            cells.append("-" if v is None else f"{v:,.0f}" if abs(v) >= 999.5 else f"{v:.3g}" if isinstance(v, float) else str(v))
        lines.append(f"{label:28}" + "".join(f"{c:>10}" if len(c) < 10 else f" {c}" for c in cells))  # never touching

    row("n", lambda g: g["n"])
    row(f"mean length ({unit})", lambda g: g["mean_length"])
    row("acts per 1k", lambda g: g["markers_per_1k"])
    for k in COUNTED:
        row(f"  mean {k}", lambda g, k=k: g["mean_markers"][k])
    row("mean episodes", lambda g: g["mean_episodes"])
    row("reflection rate", lambda g: g["reflection_rate"])
    row("self-corr. wrong->right", lambda g: g["mean_self_corrections"]["wrong_to_right"])
    row("self-corr. right->wrong", lambda g: g["mean_self_corrections"]["right_to_wrong"])
    row("overthinking share", lambda g: g["mean_overthinking_share"])
    row("outcome efficiency", lambda g: g["mean_outcome_efficiency"])
    row("thought switches", lambda g: g["mean_thought_switches"])
    row("UT score", lambda g: g["mean_ut_score"])
    row("truncated rate", lambda g: g["truncated_rate"])
    compared = [(name, b) for name, b in summary["behaviours"].items() if b["n_with"] and b["n_without"]]
    if compared:  # no heading over nothing (nothing judged, or every completion alike)
        lines.append("accuracy with / without each behaviour:")
    for name, b in compared:
        lines.append(f"  {name:32} {b['accuracy_with']:.3f} (n={b['n_with']}) / {b['accuracy_without']:.3f} "
                     f"(n={b['n_without']})  lift {b['lift']:+.3f}")
    ssr = summary.get("superficial_reflection_rate")
    if ssr is not None:
        lines.append(f"superficial reflection (reflecting, still wrong): {ssr:.3f} of reflecting completions")
    return "\n".join(lines)
