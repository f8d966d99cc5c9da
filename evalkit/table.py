"""The short results table `evalkit run` prints."""

from __future__ import annotations

from typing import Any, Sequence

# Why a figure can cover fewer problems than its task has; the table and the report mark such a
# figure with `*` and give, under it, the reasons that hold (`coverage_note`).
NO_JUDGED_SAMPLE = ("a problem with no judged sample (no gold answer or tests, or an infrastructure fault) "
                    "is left out of every figure")
FEWER_THAN_K = "pass@k, maj@k and G-Pass@k count only the problems with at least k judged samples"
_ALL_JUDGED = ("avg@n", "pass@1", "maj@1")  # figures over every problem with a judged sample


def figure_text(stat: dict[str, Any] | None) -> str:
    """A figure in % with its 95% CI (`50.0 [35.2, 64.8]`); the value alone where it has no interval."""
    if not stat or stat.get("value") is None:
        return "-"
    v, lo, hi = stat["value"], stat.get("ci_low"), stat.get("ci_high")
    if lo is None or hi is None or lo != lo:
        return f"{100 * v:.1f}"
    return f"{100 * v:.1f} [{100 * lo:.1f}, {100 * hi:.1f}]"


def covered(stat: Any) -> float | None:
    """How many problems a metric of results.json covers (its `n_problems`), None when it does not say."""
    n = stat.get("n_problems") if isinstance(stat, dict) else None
    return n if isinstance(n, (int, float)) and not isinstance(n, bool) else None


def _short(stat: Any, n_problems: Any) -> bool:
    n = covered(stat)
    return n is not None and isinstance(n_problems, (int, float)) and n < n_problems


def coverage_reasons(entry: dict[str, Any]) -> list[str]:
    """Why some of a results entry's figures cover fewer problems than its `n_problems` (the
    NO_JUDGED_SAMPLE and FEWER_THAN_K that hold; both when the entry cannot tell which); [] when
    every figure covers every problem."""
    metrics = entry.get("metrics") or {}
    total = entry.get("n_problems")
    short = [covered(m) for m in metrics.values() if _short(m, total)]
    if not short:
        return []
    judged = max((n for name in _ALL_JUDGED if (n := covered(metrics.get(name))) is not None), default=None)
    reasons = []
    if judged is None or judged < total:
        reasons.append(NO_JUDGED_SAMPLE)
    if judged is None or any(n < judged for n in short):
        reasons.append(FEWER_THAN_K)
    return reasons


def coverage_note(entries: Sequence[dict[str, Any]]) -> str | None:
    """The footnote under figures marked `*` (over fewer problems than their task has), the same in the
    table and the report; None when no figure is marked."""
    reasons = list(dict.fromkeys(r for e in entries for r in coverage_reasons(e)))
    return f"* Over fewer problems than the task has: {'; '.join(reasons)}." if reasons else None


def _at_largest_k(metrics: dict[str, Any], family: str) -> tuple[int | None, Any]:
    """(k, figure) of a family (`pass`, `maj`) at its largest k in results.json; (None, None) when absent."""
    ks = [int(name.split("@")[1]) for name in metrics if name.startswith(f"{family}@")]
    k = max(ks) if ks else None
    return k, metrics.get(f"{family}@{k}")


def _g_pass(metrics: dict[str, Any]) -> tuple[str | None, Any]:
    """(label, figure) of G-Pass at the largest k a results entry holds: mG-Pass@k (`mG@16`) where it has it, else
    G-Pass@k_τ at τ = 0.5 where it has that, else at its largest τ (`@16_1.0`); (None, None) when it has neither."""
    mg = [(int(name.split("@")[1]), name) for name in metrics if name.startswith("mG-Pass@")]
    if mg:
        k, name = max(mg)
        return f"mG@{k}", metrics[name]
    g = []
    for name in metrics:
        if name.startswith("G-Pass@") and "_" in name:
            k, tau = name[len("G-Pass@"):].split("_", 1)
            g.append((int(k), tau == "0.5", float(tau), name))
    if not g:
        return None, None
    k, _, tau, name = max(g)
    return f"@{k}_{tau}", metrics[name]


def results_table(results: Sequence[dict[str, Any]]) -> str:
    """One row per task and model: avg@n, pass@k and maj@k at the largest k (in %, 95% CI), and G-Pass where a task
    asks for it (`_g_pass`); a figure over fewer problems than the task has is marked `*`, and the footnote says
    why."""
    g_pass = any(_g_pass(r.get("metrics", {}))[0] for r in results)
    header = ["task", "model", "problems", "n", "avg@n", "pass@k", "maj@k", *(["G-Pass"] if g_pass else []),
              "trunc", "unjudged"]
    rows = [header]
    names = short_names([r["model"] for r in results])
    for r in results:
        metrics = r.get("metrics", {})

        def cell(stat: Any) -> str:
            return figure_text(stat) + ("*" if _short(stat, r["n_problems"]) else "")

        figures = [cell(metrics.get("avg@n"))]
        for family in ("pass", "maj"):
            k, stat = _at_largest_k(metrics, family)
            figures.append(f"@{k} {cell(stat)}" if k else "-")
        if g_pass:
            label, stat = _g_pass(metrics)
            figures.append(f"{label} {cell(stat)}" if label else "-")
        rows.append([
            r["task"], names[r["model"]], str(r["n_problems"]), str(r.get("samples_per_problem", "")),
            *figures, str(r.get("n_truncated", 0)), str(r.get("n_unjudged", 0)),
        ])
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    note = coverage_note(results)
    if note:
        lines.append(note)
    return "\n".join(lines)


def short_names(models: Sequence[str], width: int = 40) -> dict[str, str]:
    """Each model's name for a table: its last `width` characters (`…` marking the cut), or the whole
    name where cutting would leave two models looking alike (checkpoints of one run)."""
    cut = {m: m if len(m) <= width else "…" + m[-(width - 1):] for m in set(models)}
    seen: dict[str, int] = {}
    for shown in cut.values():
        seen[shown] = seen.get(shown, 0) + 1
    return {m: shown if seen[shown] == 1 else m for m, shown in cut.items()}
