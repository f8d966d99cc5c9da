"""Reading a run directory (config.json, samples.jsonl, results.json) for the report, leniently.

The report must render whatever a run left behind: a run still in progress (no results.json yet,
a half-written last line), an older run without trace data, a run whose results lack a metric.
Only a malformed line in the middle of samples.jsonl is an error (it means the file is corrupt).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from evalkit.budgets import headline_budget
from evalkit.errors import InputError
from evalkit.metrics import group_answers
from evalkit.run.rundir import RunDir, scored_samples


@dataclass(frozen=True)
class RunData:
    """One run directory as the report sees it.

    path: the run directory. config: config.json (or {}). results: the `results` list of
    results.json, one entry per (task, model), completed from the samples where keys are missing.
    samples: the sample records, in file order. stopped: why the last `evalkit run` on it stopped
    (invocations.jsonl's `why`: "SIGTERM", "interrupted" for Ctrl-C, or the error), None where it finished,
    is still going or left no record. no_samples: the directory has results.json but no samples.jsonl (its
    figures are shown as they are; there are no problems, samples or traces to show).
    """

    path: Path
    config: dict
    results: list[dict]
    samples: list[dict] = field(repr=False)
    stopped: str | None = None
    no_samples: bool = False  # results.json without samples.jsonl: its figures as they are, nothing per problem

    @property
    def title(self) -> str:
        return self.path.resolve().name

    @property
    def think_format(self):
        """The run's think format as config.json records it (r1 for runs made before formats)."""
        from evalkit.errors import InputError
        from evalkit.thinking import R1, ThinkFormat

        row = (self.config.get("think_format") or {}).get("row")
        try:
            return ThinkFormat.from_dict(row) if isinstance(row, dict) else R1
        except InputError:
            return R1

    def think_open(self, task: str) -> bool:
        """Whether the task's prompt opens the think block (its completions start inside it)."""
        for spec in self.config.get("tasks") or []:
            if isinstance(spec, dict) and spec.get("name") == task:
                return bool(spec.get("think_open"))
        return False


def load(run_dir: str | Path) -> RunData:
    """Read a run directory. InputError when it is not one (no samples.jsonl and no results.json)."""
    path = Path(run_dir)
    if not path.is_dir():
        raise InputError(f"{path}: not a run directory (it does not exist or is not a directory)")
    run = RunDir(path)
    if not run.is_run():
        raise InputError(f"{path}: not a run directory (no samples.jsonl or results.json in it)")
    config = run.config() or {}
    try:
        samples = scored_samples(run.samples(), config)  # what results.json counts
    except InputError as e:  # it names config.json alone; a compare reads several
        message = str(e)
        if message.startswith("config.json: "):
            message = f"{run.config_path}: {message.removeprefix('config.json: ')}"
        raise InputError(message) from None
    if not run.samples_path.is_file():  # results.json alone (samples.jsonl moved or not copied): its figures stand
        results = [{k: v for k, v in e.items() if v is not None} for e in run.results() or [] if isinstance(e, dict)]
        return RunData(path, config, results, samples, _stopped(run), no_samples=True)
    return RunData(path, config, _complete_results(run.results() or [], samples), samples, _stopped(run))


def _stopped(run: RunDir) -> str | None:
    """Why the last `evalkit run` on the directory stopped (its invocations.jsonl's last end, a `stopped` line),
    None where it finished, has no end yet (still going, or killed) or left no readable record."""
    end = run.last_end()
    return str(end[1] or "an error") if end is not None and end[0] == "stopped" else None


def entry_budget(entry: dict):
    """The thinking budget a results entry's headline figures are of: a budget sweep's largest
    (`think_budgets.largest`), None for a run without budgets."""
    sweep = entry.get("think_budgets")
    return sweep.get("largest") if isinstance(sweep, dict) else None


def headline_samples(entry: dict, samples: list[dict]) -> list[tuple[int, dict]]:
    """(index in `samples`, record) of the samples a results entry's headline figures count: its task
    and model's, and in a budget sweep only those of the budget the figures are of
    (`think_budgets.largest`, as evalkit.run.results chose it)."""
    task, model = str(entry.get("task")), str(entry.get("model"))
    budget = entry_budget(entry)
    return [(i, s) for i, s in enumerate(samples)
            if str(s.get("task")) == task and str(s.get("model")) == model
            and (budget is None or s.get("budget") == budget)]


def is_truncated(rec: dict) -> bool:
    """Whether a sample counts as truncated: its verdict's reason, as results.json's n_truncated
    counts it (a cut-off completion the verifier could not judge, e.g. without a gold, is unjudged)."""
    return rec.get("reason") == "truncated"


def _complete_results(results: list[dict], samples: list[dict]) -> list[dict]:
    """Fill counts missing from results.json from the samples. An entry results.json lacks, or one
    that counts other samples than samples.jsonl holds (written before the run's last samples: a run
    still going, or stopped before it rewrote results.json), is made from the samples instead: plain
    avg@n, no CI, with `from_samples` saying why ("missing" or "stale")."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for rec in samples:
        groups[(rec.get("task"), rec.get("model"))].append(rec)
    out = []
    seen = set()
    for entry in results:
        if not isinstance(entry, dict):
            continue
        key = (entry.get("task"), entry.get("model"))
        seen.add(key)
        n = entry.get("n_samples")
        if isinstance(n, int) and n != len(headline_samples(entry, samples)):  # none left counts as stale too
            out.append(_from_samples(key, groups.get(key, []), "stale"))
        else:
            out.append({**_counts(groups.get(key, [])), **{k: v for k, v in entry.items() if v is not None}})
    for key, recs in groups.items():
        if key not in seen:
            out.append(_from_samples(key, recs, "missing"))
    return out


def _from_samples(key: tuple, recs: list[dict], why: str) -> dict:
    """A results entry made from a (task, model)'s samples: in a budget sweep, its largest budget over every
    sample (the headline's, as evalkit.budgets.budget_results chooses it: a budget an interrupted sweep left on
    fewer samples is not; pooled, cut answers would outvote it)."""
    largest = headline_budget(Counter(r.get("budget") for r in recs if r.get("budget") is not None))
    sweep = {}
    if largest is not None:
        sweep = {"think_budgets": {"largest": largest}}
        recs = [r for r in recs if r.get("budget") == largest]
    return {"task": key[0], "model": key[1], **_counts(recs), "metrics": _avg_at_n(recs), **sweep,
            "from_samples": why}


def _counts(recs: list[dict]) -> dict:
    if not recs:
        return {}
    tokens = [r["completion_tokens"] for r in recs if isinstance(r.get("completion_tokens"), (int, float))]
    return {
        "n_problems": len({r.get("problem_id") for r in recs}),
        "n_samples": len(recs),
        "n_unjudged": sum(r.get("correct") is None for r in recs),
        "n_truncated": sum(is_truncated(r) for r in recs),
        "n_timeout": sum(r.get("reason") == "timeout" for r in recs),
        "mean_completion_tokens": sum(tokens) / len(tokens) if tokens else None,
        "n_with_tokens": len(tokens),
    }


def _avg_at_n(recs: list[dict]) -> dict:
    per_problem: dict[object, list[bool]] = defaultdict(list)
    for r in recs:
        if r.get("correct") is not None:
            per_problem[r.get("problem_id")].append(bool(r["correct"]))
    if not per_problem:
        return {}
    value = sum(sum(v) / len(v) for v in per_problem.values()) / len(per_problem)
    # the problems it covers, so the page marks a figure over fewer than the row's "over X of Y problems*"
    return {"avg@n": {"value": value, "n_problems": len(per_problem)}}


def answer_spread(recs: list[dict]) -> tuple[str | None, float, int]:
    """(majority answer, its share of the answered samples, number of distinct answers).

    Answers are grouped by evalkit.metrics.group_answers without a verifier: the correct ones are one
    answer, each having been verified equal to the gold (`0.5` beside `\\frac{1}{2}`); the others by
    their text, white space aside. A group is named by its most common text. maj@k also merges wrong
    answers its verifier finds equal, so its vote may differ; the page says so (the report runs no verifier).
    """
    answered = [r for r in recs if r.get("answer") is not None and str(r["answer"]).strip()]
    if not answered:
        return None, 0.0, 0
    classes, _ = group_answers([str(r["answer"]) for r in answered], [r.get("correct") is True for r in answered])
    texts: dict[int, Counter] = defaultdict(Counter)
    for cls, r in zip(classes, answered):
        texts[cls][str(r["answer"])] += 1
    sizes = Counter(classes)
    top, count = sizes.most_common(1)[0]
    return texts[top].most_common(1)[0][0], count / len(answered), len(sizes)
