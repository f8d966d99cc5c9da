"""A run's results: metrics per task and model, from everything its samples.jsonl holds."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Collection, Sequence

from evalkit.metrics import summarize
from evalkit.run.loop import rules_for
from evalkit.run.planning import TaskPlan
from evalkit.run.rundir import Key, RunDir, sample_key
from evalkit.verifiers.base import Verifier, capabilities, equivalence


@dataclass(frozen=True)
class TaskResults:
    """One task and model's results (an entry of results.json).

    task, model, verifier: whose results. metrics: name (`avg@n`, `pass@4`, `maj@4`, ...) ->
    {"value", "ci_low", "ci_high", "n_problems"}. n_problems, n_samples, samples_per_problem: what
    was scored. n_unjudged, n_truncated, n_timeout, n_no_answer: counts by reason (unjudged samples
    are left out of their problem's n). extra: the rest of the entry (curves, breakdowns, judge
    counts, and whatever a metric adds), kept as it is.
    """

    task: str
    model: str
    verifier: str
    metrics: dict[str, dict[str, Any]]
    n_problems: int = 0
    n_samples: int = 0
    samples_per_problem: int = 0
    n_unjudged: int = 0
    n_truncated: int = 0
    n_timeout: int = 0
    n_no_answer: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    _FIELDS = ("task", "model", "verifier", "metrics", "n_problems", "n_samples", "samples_per_problem",
               "n_unjudged", "n_truncated", "n_timeout", "n_no_answer")

    def to_dict(self) -> dict[str, Any]:
        return {**{k: getattr(self, k) for k in self._FIELDS}, **self.extra}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TaskResults":
        return cls(**{k: d[k] for k in cls._FIELDS if k in d}, extra={k: v for k, v in d.items() if k not in cls._FIELDS})


def summarizer(verifier: Verifier | None, metrics: Sequence[str] | None = None,
               meta: dict[str, dict[str, Any]] | None = None) -> Callable[[list[dict[str, Any]]], dict[str, Any]]:
    """How one task and model's samples are summarized, for results.json and for every budget of a sweep
    or an anytime curve alike: the task's `metrics:` (None: the defaults), maj@k only for a verifier whose
    answers vote (grouped by its own `equivalent`), and the judge's counts.

    verifier: the task's rules verifier (None: answers vote, grouped by their text).
    """
    votes = capabilities(verifier).votes
    equivalent = equivalence(verifier)  # a plugin's that raises: not equivalent
    chosen = {} if metrics is None else {"metrics": [m for m in metrics if votes or m.lower() != "maj@k"]}

    def summary_of(samples: list[dict[str, Any]]) -> dict[str, Any]:
        summary = summarize(samples, meta, equivalent=equivalent, **chosen)
        if not votes:  # a majority over programs means nothing
            summary["metrics"] = {k: v for k, v in summary["metrics"].items() if not k.startswith("maj@")}
            summary["maj_at_k_curve"] = []
        judged = [s["judge"] for s in samples if s.get("judge")]
        if judged:  # how often the judge was asked, and what it changed
            summary["judge"] = {"consulted": len(judged), "flipped": sum(bool(j.get("flipped")) for j in judged),
                                "unparsed": sum(j.get("says") is None and not j.get("error") for j in judged),
                                "faults": sum(bool(j.get("error")) for j in judged)}
        return summary

    return summary_of


def compute_results(run_dir: Path, plans: list[TaskPlan] | None = None,
                    verifiers: dict[str, Verifier] | None = None,
                    keys: Collection[Key] | None = None) -> list[TaskResults]:
    """Metrics per task and model from the run's samples.jsonl (all of it, resumed parts included).

    plans: the tasks (their problems' meta for breakdowns, their `metrics:` lists, their verifiers).
    verifiers: each task's rules verifier, already built (else built from its plan); maj@k groups
    answers with its own `equivalent`, and only a verifier whose answers vote gets maj@k.
    keys: only these samples, at any budget (what the invocation asked for: a rerun with a smaller -n
    or --limit scores that many; the file keeps the rest).
    """
    samples = RunDir(run_dir).samples()
    sweep = (RunDir(run_dir).config() or {}).get("think_budgets") or {}  # its close and cue tell a cut
    if keys is not None:  # every budget a sweep has had counts (a rerun may add budgets)
        wanted = {k[:4] for k in keys}
        samples = [s for s in samples if sample_key(s)[:4] in wanted]
    plan_of = {p.spec.name: p for p in plans or []}
    verifiers = dict(verifiers or {})
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for s in samples:
        groups[(s["task"], s["model"])].append(s)
    results = []
    for (task, model), ss in sorted(groups.items()):
        plan = plan_of.get(task)
        if task not in verifiers and plan is not None:
            verifiers[task] = rules_for(plan.spec)
        meta = {prob.id: prob.meta for prob in plan.problems} if plan else None
        summary_of = summarizer(verifiers.get(task), plan.spec.metrics if plan else None, meta)
        extra: dict[str, Any] = {}
        if any(s.get("budget") is not None for s in ss):
            from evalkit.budgets import budget_results

            # the headline figures are the largest budget's; every budget has its own under `think_budgets`
            extra["think_budgets"] = budget_results(ss, summary_of, close=sweep.get("close"),
                                                    answer_cue=sweep.get("answer_cue"))
            ss = [s for s in ss if s.get("budget") == extra["think_budgets"]["largest"]]
        results.append(TaskResults.from_dict({"task": task, "model": model,
                                              "verifier": plan.spec.verifier if plan else "math",
                                              **summary_of(ss), **extra}))
    return results
