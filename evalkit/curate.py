"""`evalkit curate`: GRPO training data from a run, chosen by how often the model solved each problem.

A GRPO group whose answers are all right or all wrong has zero advantage and teaches nothing (DAPO's
dynamic sampling, open-r1's pass-rate filter), so the useful problems are those the current model
solves sometimes. `curate` reads a run directory (a replay of another harness's outputs works the
same), measures each problem's pass rate (avg@n over its judged samples; in a run with thinking
budgets, over those of one budget: the largest unless asked otherwise), keeps the problems in
[LOW, HIGH], optionally drops duplicates and problems that share a long n-gram with a benchmark
(evalkit.contamination), and writes the rest with `evalkit export`'s writers, each row asked with the
very messages the run asked it, and carrying its pass rate. Every dropped problem goes to a side file
with its reason.
"""

from __future__ import annotations

import json
import os
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence

from evalkit.budgets import headline_budget
from evalkit.contamination import NGRAM, NgramIndex
from evalkit.errors import InputError
from evalkit.outputs import check_outputs, run_files, runs_around
from evalkit.rewards.export import (check_out_path, format_column, trainer_notes, training_row, uniform_golds,
                                    write_files)
from evalkit.run.loop import rules_for, unreadable_golds  # what `evalkit run` and export call no gold
from evalkit.run.rundir import RunDir, scored_samples  # the one reader of a run directory
from evalkit.taskspec import prompt_messages as run_messages  # the one renderer of prompts
from evalkit.taskspec import TaskSpec, builtin_tasks_dir, load_problems, load_task
from evalkit.thinking import ThinkFormat
from evalkit.types import Problem

# Why a problem is dropped, in the order the checks run: a row reports the first that applies.
DROP_REASONS: tuple[tuple[str, str], ...] = (
    ("no_gold", "no gold answer its verifier can read (no reward can score it)"),
    ("unjudged", "no sample of it could be judged (infrastructure faults only)"),
    ("too_few_samples", "fewer judged samples than --min-samples"),
    ("pass_rate_low", "pass rate below LOW"),
    ("pass_rate_high", "pass rate above HIGH"),
    ("contaminated", "shares an n-gram with a benchmark problem (--decontaminate)"),
    ("duplicate", "same problem text as a row kept before it (--dedup)"),
)

@dataclass(frozen=True)
class PassRate:
    """One problem's measured pass rate: `correct` of `judged` samples (unjudged ones left out)."""

    task: str
    problem_id: str
    judged: int
    correct: int
    unjudged: int

    @property
    def rate(self) -> float | None:
        return self.correct / self.judged if self.judged else None


@dataclass(frozen=True)
class Dropped:
    """A problem curate left out. reason: a name from DROP_REASONS; detail: the specifics (the
    benchmark problem and shared words, the row it duplicates)."""

    task: str
    problem_id: str
    reason: str
    pass_rate: float | None
    n_samples: int
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"task": self.task, "problem_id": self.problem_id, "reason": self.reason,
                "pass_rate": self.pass_rate, "n_samples": self.n_samples, "detail": self.detail}


@dataclass(frozen=True)
class CurateResult:
    """What `curate` wrote: the training file, the side file of dropped rows, and the counts."""

    out: Path
    dropped_path: Path
    kept: int
    dropped: tuple[Dropped, ...]
    benchmarks: tuple[str, ...] = ()  # what --decontaminate checked against
    skipped_benchmarks: tuple[str, ...] = ()  # under `all`, those that could not be loaded
    sampled_benchmarks: tuple[str, ...] = ()  # read from a bundled sample, not the whole benchmark
    ngram: int = NGRAM  # the n-gram length decontamination used
    budget: int | None = None  # the thinking budget whose samples were measured (None: an ordinary run)
    budgets: tuple[int, ...] = ()  # every thinking budget the run has
    headline_budget: int | None = None  # the largest made on every sample: results.json's headline, the default
    task_budgets: dict[str, int] = field(default_factory=dict)  # the budget each task was measured at
    notes: tuple[str, ...] = ()  # what the kept rows' tasks ask with that the rows cannot carry (trainer_notes)

    def counts(self) -> dict[str, int]:
        """Rows per outcome: `kept`, then each drop reason (zeros included), in DROP_REASONS order."""
        by = Counter(d.reason for d in self.dropped)
        return {"kept": self.kept, **{name: by.get(name, 0) for name, _ in DROP_REASONS}}


def parse_pass_rate(text: str) -> tuple[float, float]:
    """`LOW:HIGH` (inclusive, each in [0, 1], LOW <= HIGH) as two floats; InputError otherwise."""
    parts = str(text).split(":")
    try:
        if len(parts) != 2:
            raise ValueError
        low, high = float(parts[0]), float(parts[1])
    except ValueError:
        raise InputError(f"--pass-rate: expected LOW:HIGH such as 0.1:0.9, got {text!r}") from None
    if not (0.0 <= low <= 1.0 and 0.0 <= high <= 1.0):
        raise InputError(f"--pass-rate: LOW and HIGH must lie in [0, 1], got {text!r}")
    if low > high:
        raise InputError(f"--pass-rate: LOW must not exceed HIGH, got {text!r} (did you mean {high:g}:{low:g}?)")
    return low, high


def normalise(text: str) -> str:
    """The text `--dedup` compares: Unicode NFKC, casefolded, whitespace runs as one space."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def curate(run_dir: str | os.PathLike, pass_rate: tuple[float, float] | str, fmt: str,
           out: str | os.PathLike, *, min_samples: int = 1, dedup: bool = False,
           decontaminate: Sequence[str] = (), model: str | None = None,
           dropped_out: str | os.PathLike | None = None, ngram: int = NGRAM,
           budget: int | None = None, think_format: str | None = None, gold_lists: bool = False) -> CurateResult:
    """Write the problems of a run whose pass rate lies in `pass_rate` as a training set.

    run_dir: an `evalkit run` directory (samples.jsonl and config.json), replay runs included.
    pass_rate: (LOW, HIGH) or "LOW:HIGH", inclusive; a problem's pass rate is its correct share of
        its judged samples (avg@n).
    fmt, out: as for `evalkit export` (`trl`: JSON lines or parquet by suffix; `verl`: parquet).
        Each row carries `pass_rate` and `n_samples` (TRL: columns; veRL: in `extra_info`).
    min_samples: drop problems with fewer judged samples than this.
    dedup: drop a problem whose text equals (exactly, or after `normalise`) one kept before it.
    decontaminate: benchmark tasks (built-in names, YAML paths, or `all`); a problem sharing
        `ngram` consecutive words with one of their problems is dropped.
    model: which model's samples to measure, for a run holding several (required then).
    budget: for a run with thinking budgets (`--think-budget`), whose samples to measure: each budget
        is its own experiment, so pass rates never mix them. Default: each task's headline, as
        results.json's (the largest budget made on every sample of the task); else it must be one of the
        run's budgets. A run without budgets takes none.
    dropped_out: the side file of dropped rows (JSON lines); default OUT's stem + `.dropped.jsonl`.
    think_format: how the policy will think, written to every row as `evalkit export --think-format`
        writes it (TRL: a `think_format` column; veRL: `extra_info.think_format`); None: the run's own
        format (config.json's `think_format`), since a run usually measures the policy to be trained. A
        run that recorded none writes nothing (the rewards then assume r1).
    gold_lists: every gold as a list, as for `evalkit export --gold-lists`.
    Raises InputError for bad input; nothing is written then.
    """
    low, high = parse_pass_rate(pass_rate) if isinstance(pass_rate, str) else parse_pass_rate(f"{pass_rate[0]}:{pass_rate[1]}")
    if min_samples < 1:
        raise InputError(f"--min-samples must be at least 1, got {min_samples}")
    if isinstance(ngram, bool) or not isinstance(ngram, int) or ngram < 1:
        raise InputError(f"ngram must be a whole number of at least 1, got {ngram!r}")
    out = check_out_path(fmt, out)
    dropped_path = Path(dropped_out) if dropped_out else out.with_name(_stem(out) + ".dropped.jsonl")
    if dropped_path.resolve() == out.resolve():
        raise InputError(f"--dropped {dropped_path}: is the training file --out; choose another path")
    run_dir = Path(run_dir)
    config, samples = _read_run(run_dir)
    # what results.json and the report count (a rerun with a smaller -n or --limit leaves more lines)
    samples = scored_samples(samples, config)
    model = _one_model(run_dir, samples, model)
    swept = [s for s in samples if s.get("model") == model and s.get("budget") is not None]
    budgets = sorted({s["budget"] for s in swept})
    # each task's headline, as results.json chooses it: the largest budget made on every sample of the task
    per_task: dict[Any, Counter] = defaultdict(Counter)
    for s in swept:
        per_task[s.get("task")][s["budget"]] += 1
    headlines = {task: headline_budget(c) for task, c in per_task.items()}
    headline = next(iter(set(headlines.values()))) if len(set(headlines.values())) == 1 else None
    budget = _one_budget(run_dir, budgets, budget, headline)
    task_budgets = {task: budget for task in headlines} if budget is not None else headlines
    samples = [s for s in samples if s.get("budget") == (task_budgets.get(s.get("task")) if budgets else None)]
    anyone = {(s.get("task"), str(s.get("problem_id"))) for s in samples}  # sampled for any model of the run
    samples = [s for s in samples if s.get("model") == model]
    rates = _pass_rates(samples)
    tasks = _tasks(run_dir, config, {task for task, _ in rates})
    _check_not_an_input(run_dir, config, {"--out": out, "--dropped": dropped_path}, decontaminate)
    index = NgramIndex.from_tasks(list(decontaminate), ngram) if decontaminate else None
    system_prompt = (config.get("identity") or {}).get("system_prompt")
    form = _format_extra(run_dir, config, think_format)
    prompts = {(s["task"], str(s["problem_id"])): s.get("prompt") for s in samples}
    opened = _think_open(samples)

    candidates: list[tuple[TaskSpec, Problem, PassRate]] = []
    dropped: list[Dropped] = []
    unsampled: list[str] = []
    windowed = {t.get("name") for t in config.get("tasks") or [] if isinstance(t, dict) and t.get("window")}
    unfinished = _unfinished(run_dir)  # its note says the problems not sampled yet are left out
    for spec, problems in tasks:
        sampled = [p for p in problems if (spec.name, p.id) in rates]  # not all of them: --limit
        if not unfinished and spec.name not in windowed:  # a date window left out problems the spec holds
            unsampled += _unsampled(spec.name, problems, rates, anyone, bool(config.get("completions")))
        no_gold = _without_gold(spec, [p for p in sampled if rates[(spec.name, p.id)].judged == 0])
        for problem in sampled:
            pr = rates[(spec.name, problem.id)]
            if problem.id in no_gold:  # its samples are unjudged, and a rerun cannot judge them
                dropped.append(Dropped(spec.name, problem.id, "no_gold", pr.rate, pr.judged, no_gold[problem.id]))
                continue
            reason = _rate_reason(pr, min_samples, low, high)
            if reason:
                dropped.append(Dropped(spec.name, problem.id, reason, pr.rate, pr.judged,
                                       f"{pr.correct}/{pr.judged} correct, {pr.unjudged} unjudged"))
            else:
                candidates.append((spec, problem, pr))
    if index is not None:
        overlaps = index.find([p.problem for _, p, _ in candidates])
        kept_candidates = []
        for (spec, problem, pr), hit in zip(candidates, overlaps):
            if hit is None:
                kept_candidates.append((spec, problem, pr))
            else:
                dropped.append(Dropped(spec.name, problem.id, "contaminated", pr.rate, pr.judged,
                                       f"{hit.task} {hit.problem_id}: \"{hit.ngram}\""))
        candidates = kept_candidates
    rows = []
    # problem text -> task -> that task's prompt (as JSON) -> the (task, id) first kept with them
    seen: dict[str, dict[str, dict[str, tuple[str, str]]]] = {}
    for spec, problem, pr in candidates:
        messages = run_messages(spec, problem, system_prompt)
        if dedup:
            exact, loose = "exact:" + problem.problem, "normalised:" + normalise(problem.problem)
            # the prompt around the problem: its text in it is compared above, exactly or normalised
            asked = json.dumps(messages, sort_keys=True, default=str)
            # (as the template shows it: `{{ question | trim }}` drops the white space around it)
            for shown in dict.fromkeys((problem.problem, problem.problem.strip())):
                quoted = json.dumps(shown)[1:-1]
                if quoted and quoted in asked:
                    asked = asked.replace(quoted, "\u0000")
                    break
            # in one task, a problem asked with another prompt is another question: a multiple-choice stem
            # ("Which of the following is true?") with options of its own
            first = how = None
            for key, name in ((exact, "exact"), (loose, "normalised")):
                tasks_seen = seen.get(key, {})
                other = next((next(iter(p.values())) for t, p in tasks_seen.items() if t != spec.name), None)
                first = other or tasks_seen.get(spec.name, {}).get(asked)
                if first is not None:
                    how = name
                    break
            if first is not None:
                dropped.append(Dropped(spec.name, problem.id, "duplicate", pr.rate, pr.judged,
                                       f"{how} duplicate of {first[0]} {first[1]}"))
                continue
            for key in (exact, loose):
                seen.setdefault(key, {}).setdefault(spec.name, {}).setdefault(asked, (spec.name, problem.id))
        _check_prompt(run_dir, spec, problem, messages, prompts.get((spec.name, problem.id)))
        rows.append(training_row(spec, problem, messages, fmt, len(rows),
                                 {"pass_rate": pr.rate, "n_samples": pr.judged, **form,
                                  **opened.get((spec.name, problem.id), {})}))
    order = {name: i for i, (name, _) in enumerate(DROP_REASONS)}
    dropped.sort(key=lambda d: order[d.reason])
    if not rows:  # an empty file is no training set (veRL's and datasets' loaders refuse it)
        counts = Counter(d.reason for d in dropped)
        why = ", ".join(f"{counts[name]} {name}" for name, _ in DROP_REASONS if counts[name]) or "no problem sampled"
        # what would keep some: only the options behind the reasons that dropped them
        advice = [text for reasons, text in (
            (("pass_rate_low", "pass_rate_high"), "widen --pass-rate"), (("too_few_samples",), "lower --min-samples"),
            (("unjudged",), "rerun the unjudged samples (`evalkit run` resumes them)"),
            (("no_gold",), "give the problems without one a gold answer in the task's data"),
            (("contaminated",), "check --decontaminate ({})".format(
                next((f"problem {d.problem_id} matches {d.detail}" for d in dropped if d.reason == "contaminated"), ""))))
            if any(counts[r] for r in reasons)]
        raise InputError(f"{run_dir}: no problem is left to train on ({why}); nothing written"
                         + (f". To keep some: {'; '.join(advice)}" if advice else ""))
    write_files([(uniform_golds(rows, always=gold_lists), out), ([d.to_dict() for d in dropped], dropped_path)])
    kept_tasks = {spec.name for spec, _, _ in candidates}
    return CurateResult(out=out, dropped_path=dropped_path, kept=len(rows), dropped=tuple(dropped),
                        benchmarks=tuple(index.tasks) if index else (),
                        skipped_benchmarks=index.skipped if index else (),
                        sampled_benchmarks=index.sampled if index else (), ngram=ngram, budget=budget,
                        budgets=tuple(budgets), headline_budget=headline, task_budgets=task_budgets,
                        notes=unfinished + tuple(unsampled) + tuple(trainer_notes([_as_asked(spec, config) for spec, _ in tasks
                                                                          if spec.name in kept_tasks])))


def _as_asked(spec: TaskSpec, config: dict[str, Any]) -> TaskSpec:
    """`spec` with the chat template options the run asked with, as config.json records them: the task's own
    and those `evalkit run --chat-template-kwargs` added (the YAML reloaded holds only the first)."""
    recorded = (((config.get("identity") or {}).get("tasks") or {}).get(spec.name) or {}).get("chat_template_kwargs")
    return replace(spec, chat_template_kwargs=recorded) if isinstance(recorded, dict) and recorded else spec


def _unsampled(task: str, problems: Sequence[Problem], rates: dict, anyone: set, replay: bool) -> list[str]:
    """A note when problems of `task` have no sample of the measured model (at the budget measured) that a `--limit`
    cannot explain (it takes the first problems): one before the last sampled, or one another model of the run has
    samples of (a replay file that holds none for it). They are in neither file."""
    order = [p.id for p in problems]
    last = max((i for i, pid in enumerate(order) if (task, pid) in rates), default=-1)
    missing = [pid for i, pid in enumerate(order)
               if (task, pid) not in rates and (i < last or (task, str(pid)) in anyone)]
    if not missing:
        return []
    shown = ", ".join(map(str, missing[:5])) + (", ..." if len(missing) > 5 else "")
    many = len(missing) != 1
    return [f"note: {len(missing)} problem{'s' if many else ''} of {task} {'have' if many else 'has'} no sample of this "
            f"model ({shown}): {'they are' if many else 'it is'} in neither file"
            + (" (the run's replay file holds none for them?)" if replay else "")]


def _unfinished(run_dir: Path) -> tuple[str, ...]:
    """A note when the run's last `evalkit run` did not finish (stopped, or killed with no end recorded): its
    problems never sampled are in no file, and a problem cut short has fewer samples than the rest."""
    end = RunDir(run_dir).last_end()
    if end is None or end[0] == "finished":
        return ()
    last = "running" if end[0] == "running" else f"stopped ({end[1]})"
    how = "was killed or is still running (no end recorded)" if last == "running" else f"was {last}"
    return (f"note: the run's last `evalkit run` {how}: its problems not sampled yet are in neither file; "
            "run that command again to finish it, then curate",)


def summary_table(result: CurateResult) -> str:
    """The table `evalkit curate` prints: rows kept and dropped by reason."""
    counts = result.counts()
    meaning = dict(DROP_REASONS, kept="written to the training file")
    rows = [("outcome", "rows", "")] + [(k, str(v), meaning[k]) for k, v in counts.items()]
    rows.append(("total", str(sum(counts.values())), ""))
    widths = [max(len(r[i]) for r in rows) for i in range(2)]
    lines = [f"{a.ljust(widths[0])}  {b.rjust(widths[1])}  {c}".rstrip() for a, b, c in rows]
    lines.insert(1, "-" * len(lines[0]))
    if result.budget is None and result.task_budgets:  # the tasks' headlines differ: each task at its own
        lines.append("\npass rates at each task's headline budget (the largest made on every sample of the task): "
                     + ", ".join(f"{task} {b}" for task, b in sorted(result.task_budgets.items())))
    if result.budget is not None:
        which = ("the largest" if result.budget == max(result.budgets) else
                 "the largest made on every sample; a larger one holds fewer" if result.budget == result.headline_budget
                 else "chosen with --budget")
        lines.append(f"\npass rates at thinking budget {result.budget} ({which} of the run's "
                     f"{', '.join(map(str, result.budgets))})")
    if result.benchmarks:
        lines.append(f"\ndecontaminated against {len(result.benchmarks)} benchmarks ({result.ngram}-word n-grams): "
                     + ", ".join(result.benchmarks))
    if result.skipped_benchmarks:
        lines.append("not checked (could not be loaded): " + ", ".join(result.skipped_benchmarks))
    if result.sampled_benchmarks:
        lines.append("checked against a bundled sample only, not the whole benchmark (the hub was not reached): "
                     + ", ".join(result.sampled_benchmarks))
    return "\n".join(lines)


# ------------------------------------------------------------------------------- the run directory


def _read_run(run_dir: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    if not run_dir.is_dir():
        raise InputError(f"{run_dir}: not a directory (give an evalkit run directory)")
    run = RunDir(run_dir)
    if not run.samples_path.is_file():
        raise InputError(f"{run_dir}: no samples.jsonl (not an evalkit run directory, or the run wrote nothing yet)")
    config = run.config()
    if config is None:
        raise InputError(f"{run.config_path}: missing (curate needs the run's config to render its prompts)")
    samples = run.samples()  # RunDir checks the fields curate reads, in config.json and in each line
    if not samples:
        raise InputError(f"{run.samples_path}: holds no samples")
    return config, samples


def _one_model(run_dir: Path, samples: list[dict[str, Any]], model: str | None) -> str:
    models = sorted({str(s.get("model")) for s in samples})
    if model is not None:
        if model not in models:
            raise InputError(f"--model {model!r}: {run_dir} has samples of {', '.join(models)}")
        return model
    if len(models) > 1:
        raise InputError(f"{run_dir} holds samples of several models ({', '.join(models)}); choose one with --model")
    return models[0]


def _one_budget(run_dir: Path, budgets: list[int], budget: int | None, headline: int | None) -> int | None:
    """The budget to measure: the one asked for, else the headline's (the largest made on every sample)."""
    if not budgets:
        if budget is not None:
            raise InputError(f"--budget {budget}: {run_dir} has no thinking budgets "
                             "(it was run without --think-budget)")
        return None
    if budget is None:
        return headline
    if budget not in budgets:
        raise InputError(f"--budget {budget}: {run_dir} has thinking budgets {', '.join(map(str, budgets))}")
    return budget


def _pass_rates(samples: list[dict[str, Any]]) -> dict[tuple[str, str], PassRate]:
    counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for s in samples:
        c = counts[(s["task"], str(s["problem_id"]))]
        if s.get("correct") is None:
            c[2] += 1
        else:
            c[0] += 1
            c[1] += s["correct"] is True
    return {key: PassRate(key[0], key[1], *c) for key, c in counts.items()}


def _tasks(run_dir: Path, config: dict[str, Any], wanted: set[str]) -> list[tuple[TaskSpec, list[Problem]]]:
    """The run's task specs and problems, loaded as the run loaded them (same source and revision)."""
    out = []
    entries = {t.get("name"): t for t in config.get("tasks") or []}
    missing = sorted(wanted - set(entries))
    if missing:
        raise InputError(f"{run_dir / 'config.json'}: field 'tasks' has no entry for task {missing[0]!r} of samples.jsonl")
    for name, entry in entries.items():
        if name not in wanted:
            continue
        path = entry.get("path")
        try:
            spec = load_task(path if path and Path(path).is_file() else name)
        except InputError as e:
            # a spec of the user's, moved or gone (no built-in of its name)
            if path and not Path(path).is_file() and not (builtin_tasks_dir() / f"{name}.yaml").is_file():
                raise InputError(f"{run_dir / 'config.json'}: task {name!r} was run from {path}, which is gone "
                                 "(moved or deleted); put the spec back there to curate the run") from None
            raise e
        if spec.prompt != entry.get("prompt") or spec.system != entry.get("system"):
            raise InputError(f"{spec.path or name}: field 'prompt' or 'system' differs from the one {run_dir} "
                             "was run with; curate renders the run's own prompts")
        loaded = load_problems(spec, source=entry.get("dataset_source") or "auto")
        if entry.get("dataset_revision") and loaded.revision != entry["dataset_revision"]:
            raise InputError(f"{spec.path or name}: its dataset is now revision {loaded.revision}, the run used "
                             f"{entry['dataset_revision']}; curate needs the problems the run was asked")
        out.append((spec, loaded.problems))
    return out


def _format_extra(run_dir: Path, config: dict[str, Any], think_format: str | None) -> dict[str, Any]:
    """The think-format column of every row: the one asked for, else the run's recorded row, else none."""
    if think_format is not None:
        return {"think_format": format_column(think_format)}
    row = (config.get("think_format") or {}).get("row") if isinstance(config.get("think_format"), dict) else None
    if not row:
        return {}
    return {"think_format": format_column(ThinkFormat.from_dict(row, f"{RunDir(run_dir).config_path}: think_format"))}


def _think_open(samples: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, bool]]:
    """(task, problem id) -> {"think_open": True} where its samples all recorded that the model's
    template opened thinking in the prompt. The rewards read it per row (veRL's naive manager scores one
    response at a time, with no batch to read the template off)."""
    seen: dict[tuple[str, str], set] = defaultdict(set)
    for s in samples:
        if isinstance(s.get("think_open"), bool):
            seen[(s["task"], str(s["problem_id"]))].add(s["think_open"])
    # only where it opened: a false (a replay line that did not say, say) would overrule what the rewards
    # read off a batch's completions, which a row without it leaves them to
    return {key: {"think_open": True} for key, values in seen.items() if values == {True}}


def _check_not_an_input(run_dir: Path, config: dict[str, Any], outputs: dict[str, Path],
                        decontaminate: Sequence[str] = ()) -> None:
    """Refuse to write over the run's own files, another run's, its tasks' specs and data (run_files
    names those config.json records), or the specs and data of the benchmarks it decontaminates against:
    that would lose them."""
    check_outputs(outputs, {**runs_around(outputs), **run_files(run_dir, config, report=True),
                            **_benchmark_files(decontaminate)}, "curate")


def _benchmark_files(names: Sequence[str]) -> dict[Path, str]:
    """The spec and bundled data of each --decontaminate benchmark (a suite: its tasks; `all`: every built-in)."""
    from evalkit.suites import expand_suites
    from evalkit.taskspec import list_tasks, load_task

    specs = []
    for name in names:
        specs += list_tasks() if name == "all" else [load_task(x) for x in expand_suites([name])]
    files: dict[Path, str] = {}
    for spec in specs:
        for path, what in ((spec.path, "spec"), (spec.dataset.local, "dataset")):
            if path is not None:
                files[Path(path)] = f"benchmark {spec.name}'s {what} (--decontaminate)"
    return files


def _without_gold(spec: TaskSpec, unjudged: list[Problem]) -> dict[str, str]:
    """problem id -> why, for those of `unjudged` (no judged sample) that hold no gold the task's verifier can
    read, as `evalkit run` and `export` say it; a problem the run judged keeps its pass rate whatever today's
    verifier says. A verifier that cannot be built here (a plugin not installed) names none."""
    if not unjudged:
        return {}
    try:
        return dict(unreadable_golds(unjudged, rules_for(spec)))
    except InputError:
        return {}


def _rate_reason(pr: PassRate, min_samples: int, low: float, high: float) -> str | None:
    if pr.judged == 0:
        return "unjudged"
    if pr.judged < min_samples:
        return "too_few_samples"
    if pr.rate < low:
        return "pass_rate_low"
    if pr.rate > high:
        return "pass_rate_high"
    return None


def _check_prompt(run_dir: Path, spec: TaskSpec, problem: Problem, messages: list[dict[str, str]],
                  stored: str | None) -> None:
    """Every message rendered now must appear in the prompt the run stored (the chat template only
    wraps them), so a row is never asked differently from how it was measured."""
    if stored is None:
        return
    for m in messages:
        if m["content"] not in stored:
            raise InputError(f"{run_dir / 'samples.jsonl'}: the prompt of {spec.name} {problem.id!r} differs from "
                             f"what its task renders now ({m['role']} message); the task or its data changed")


def _stem(out: Path) -> str:
    """OUT's name without its format's suffixes: train.v1.jsonl.gz -> train.v1."""
    name = out.name
    for suffix in (".gz", ".jsonl", ".json", ".parquet"):
        name = name[: -len(suffix)] if name.endswith(suffix) and len(name) > len(suffix) else name
    return name
