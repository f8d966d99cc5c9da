"""Planning a run: task specs → problems, what identifies the run, which samples are still to make,
and the requests for them (each with its own seed and its prompt from the one renderer)."""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from evalkit.backends.base import Backend, backend_name, sample_seed
from evalkit.errors import InputError, ServerError
from evalkit.run.rundir import Key, RunDir
from evalkit.taskspec import (TaskSpec, generation_problem, load_problems, names_a_file, prompt_messages,
                              without_secrets)
from evalkit.thinking import R1, ThinkFormat
from evalkit.types import GenerationSettings, Problem, Request


@dataclass
class TaskPlan:
    """One task of a run: its spec, its problems, where they came from, and how to sample them.

    source: `hub` or `local`. revision: the dataset revision (or the local file's digest).
    generation: the spec's generation settings with the run's overrides.
    limited: whether --limit left problems of the dataset out.
    """

    spec: TaskSpec
    problems: list[Problem]
    source: str
    revision: str
    generation: GenerationSettings
    by_id: dict[str, Problem] = field(default_factory=dict)
    limited: bool = False  # --limit left problems of the dataset out
    outside: frozenset[str] = frozenset()  # the problems --since/--until (or a release) left out

    @property
    def n(self) -> int:
        return self.generation.n


def run_dir_name(tasks: Sequence[str], model: str | None, completions: str | None) -> str:
    """`<tasks joined by +>--<model with / as _>`, or the completions file's name for a replay run."""
    # a spec file is named by its stem: `tasks/x.yaml`, `X.YML` and a path without a suffix alike (joined to
    # --out's folder, a path would put the run outside it)
    names = "+".join((Path(t).stem if t.lower().endswith((".yaml", ".yml")) else Path(t).name) if names_a_file(t)
                     else t for t in tasks)
    if completions:
        from evalkit.backends.replay import replay_name

        who = replay_name(completions)
    else:
        who = (model or "model").rstrip("/").replace("/", "_")
    return f"{names}--{who}"


def plan_task(spec: TaskSpec, n: int | None = None, temperature: float | None = None, top_p: float | None = None,
              max_tokens: int | None = None, seed: int | None = None, limit: int | None = None,
              data_source: str = "auto") -> TaskPlan:
    """Load a task's problems and settle its generation settings (None keeps the spec's value).

    limit: only the first `limit` problems. data_source: `auto`, `hub` or `local` (see load_problems).
    """
    generation = spec.generation.given(n=n, temperature=temperature, top_p=top_p, max_tokens=max_tokens, seed=seed)
    problem = generation_problem(n, temperature, top_p, max_tokens)  # the spec's own were checked as it was read
    if problem:
        option = {"n": "-n"}.get(problem[0], "--" + problem[0].replace("_", "-"))
        raise InputError(f"{option}: {problem[1]}")
    if limit is not None and limit < 1:
        raise InputError(f"--limit must be at least 1, got {limit}")
    loaded = load_problems(spec, limit=limit, source=data_source)
    return TaskPlan(spec, loaded.problems, loaded.source, loaded.revision, generation,
                    {p.id: p for p in loaded.problems}, limited=limit is not None and len(loaded.problems) >= limit,
                    outside=loaded.outside)


def identity(plans: list[TaskPlan], model_id: str, backend: str, system_prompt: str | None, think_prefill: bool,
             replay_file: Path | None, replays: bool) -> dict[str, Any]:
    """What identifies a run: a rerun that changes any of it is refused without --overwrite.

    replays: the backend scores recorded completions, so the think prefill does not apply.
    """
    return {
        "model": model_id, "backend": backend, "system_prompt": system_prompt,
        "think_prefill": None if replays else think_prefill,
        # the file's name: its content is checked against the samples (a moved folder or another
        # install of the bundled demo is the same replay)
        "completions": replay_file.name if replay_file else None,
        "tasks": {p.spec.name: {
            "prompt": p.spec.prompt, "system": p.spec.system, "dataset_revision": p.revision,
            "chat_template_kwargs": p.spec.chat_template_kwargs or None,
            "temperature": p.generation.temperature, "top_p": p.generation.top_p,
            "max_tokens": p.generation.max_tokens, "seed": p.generation.seed,
            # only where set, so runs made before windows existed still resume (a release is in the revision)
            **({"window": p.spec.window.to_dict()} if p.spec.window else {}),
            # what judges a sample: another gold column or verifier makes other verdicts
            "fields": {k: getattr(p.spec.fields, k) for k in ("id", "problem", "answer", "tests")},
            "verifier": p.spec.verifier,
            "verifier_options": _judged_as(p.spec.verifier_options), "think_open": p.spec.think_open,
            # a judge's rubric of the spec's own, by its text: one edited under the same path judges otherwise
            **({"judge_rubric": key} if (key := _rubric_key(p.spec)) else {}),
        } for p in plans},
    }


# identity keys of a task that runs made before evalkit recorded them lack; such a run resumes as if
# they had not changed
_LATER_TASK_KEYS = ("fields", "verifier", "verifier_options", "think_open", "judge_rubric")


# How a spec's judge is reached, not what it judges: a judge server moved to another URL (or given more time, or
# another key) is the same judge, as `--judge-base-url` is no part of a run's identity
_JUDGE_TRANSPORT = ("base_url", "timeout_s", "concurrency", "retries", "api_key")


def _judged_as(options: dict[str, Any]) -> dict[str, Any]:
    """Verifier options as a run's identity records them: no secret (without_secrets), nor how the judge is reached."""
    options = without_secrets(options)
    judge = options.get("judge")
    if isinstance(judge, dict):
        options = {**options, "judge": {k: v for k, v in judge.items() if k not in _JUDGE_TRANSPORT}}
    return options


def _rubric_key(spec: TaskSpec) -> str | None:
    """The key (version and digest of its text) of the judge rubric file a spec's verifier options name, else None."""
    judge = spec.verifier_options.get("judge")
    rubric = judge.get("rubric") if isinstance(judge, dict) else None
    if not isinstance(rubric, str) or not rubric:
        return None
    from evalkit.verifiers._judge_prompt import load_rubric

    return load_rubric(rubric).key


def check_overwritable(run_dir: RunDir) -> None:
    """InputError unless `run_dir` is missing, empty or an evalkit run: --overwrite removes only runs."""
    path = run_dir.path
    if path.exists() and not path.is_dir():
        raise InputError(f"{path}: exists and is not a directory; choose another --out")
    if run_dir.holds_anything() and not (run_dir.config_path.is_file() or run_dir.is_run()):
        raise InputError(f"{path}: exists and is not an evalkit run (no config.json, samples.jsonl or "
                         "results.json); --overwrite removes only run directories, so choose another --out")


def check_identity(run_dir: RunDir, wanted: dict[str, Any]) -> None:
    """InputError when `run_dir` holds another run (or something that is not a run)."""
    try:
        config = run_dir.config()
    except InputError as e:
        raise InputError(f"{e}; use --overwrite to start over") from None
    if config is None:
        if run_dir.holds_anything():
            raise InputError(f"{run_dir.path}: exists and is not an evalkit run; choose another --out")
        return
    old = config.get("identity")
    if isinstance(old, dict) and isinstance(old.get("completions"), str):  # runs that recorded the file's path
        old = {**old, "completions": Path(old["completions"]).name}
    if isinstance(old, dict) and isinstance(old.get("tasks"), dict):
        # runs that recorded a judge's api_key (evalkit writes none now) resume as if they had not
        old = {**old, "tasks": {name: {**task, "verifier_options": _judged_as(task["verifier_options"])}
                                if isinstance(task, dict) and isinstance(task.get("verifier_options"), dict) else task
                                for name, task in old["tasks"].items()}}
        wanted = {**wanted, "tasks": {name: {k: v for k, v in task.items()
                                             if k not in _LATER_TASK_KEYS or k in old["tasks"].get(name, {})}
                                      for name, task in wanted["tasks"].items()}}
    if old == wanted:
        return
    diffs = _diff(old or {}, wanted)
    raise InputError(f"{run_dir.path} holds a run with other settings ({'; '.join(diffs[:4])}); "
                     "use --overwrite to start over or --out for a new run directory")


def _diff(old: Any, new: Any, prefix: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for key in sorted(set(old) | set(new), key=str):
            out += _diff(old.get(key), new.get(key), f"{prefix}{key}.")
        return out
    if old == new:
        return []
    name = prefix.rstrip(".")
    if name.count(".") == 1 and name.startswith("tasks."):  # a task added or renamed: its whole spec dumped
        if old is None:                                       # made a refusal of several hundred characters
            return [f"{name}: not in the run there"]
        if new is None:
            return [f"{name}: not in this run"]
    if isinstance(old, str) and isinstance(new, str) and max(len(repr(old)), len(repr(new))) > 120:
        # a long prompt changed in one word: cut at the same start, both sides read alike; show where they part
        at = next((i for i, (a, b) in enumerate(zip(old, new)) if a != b), min(len(old), len(new)))
        return [f"{name}: differs from character {at + 1}: '{_around(old, at)}' -> '{_around(new, at)}'"]
    return [f"{name}: {_short(old)} -> {_short(new)}"]


def _around(text: str, at: int) -> str:
    """`text` from 40 characters before `at` to 60 after, escaped as repr escapes it."""
    lo = max(0, at - 40)
    return ("…" if lo else "") + repr(text[lo:at + 60])[1:-1] + ("…" if len(text) > at + 60 else "")


def _short(value: Any, most: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= most else text[:most - 1] + "…"


MAX_SAMPLES = 10_000_000  # the most samples one run plans: about a gigabyte of resume keys


def wanted_keys(plans: list[TaskPlan], records, model_id: str,
                budgets: Sequence[int] = ()) -> tuple[list[Key], list[str]]:
    """(keys, notes). keys: every sample the run should hold: each problem x sample (x thinking budget,
    when `budgets`), or for a replay each record that matches a problem of the run (InputError when
    none does).

    notes: what a replay leaves out, for the user once the run starts: problems no record covers,
    records of problems the date window left out, records that match no problem (unless -n or --limit
    left them out), and a record without `task`
    that one naming its task shadows (the named one is served). A record without `task` whose problem
    id several tasks of the run have is an InputError: only `task` says whose it is.
    """
    if records is None:
        total = sum(len(p.problems) * p.n for p in plans) * max(1, len(budgets))
        if total > MAX_SAMPLES:  # each is planned in memory before the first is made (10**12 ran out of it)
            raise InputError(f"this run would make {total:,} samples (problems x -n x budgets), more than one run "
                             f"holds ({MAX_SAMPLES:,}); lower -n or --limit")
        return [(p.spec.name, model_id, prob.id, s, b) for p in plans for prob in p.problems for s in range(p.n)
                for b in (budgets or (None,))], []
    by_task = {p.spec.name: p for p in plans}
    named: set[Key] = set()
    unmatched: list[str] = []
    ambiguous: dict[str, list[str]] = {}  # problem id of a record without `task` -> the tasks that have it
    outside: set[str] = set()  # records of problems the date window left out
    shadowed = 0
    for r in records:
        targets = [by_task[r.task]] if r.task in by_task else ([] if r.task else plans)
        hits = [p for p in targets if r.problem_id in p.by_id]
        if len(hits) > 1:  # a record without `task` is one task's: scoring it against each would be a guess
            ambiguous.setdefault(r.problem_id, [p.spec.name for p in hits])
            continue
        if not hits and any(r.problem_id in p.outside for p in targets):
            outside.add(f"{r.task + ':' if r.task else ''}{r.problem_id}")
        elif not hits and not any(p.limited for p in plans):
            unmatched.append(f"{r.task + ':' if r.task else ''}{r.problem_id}")
        for p in hits:
            if r.sample >= p.n:
                continue
            key = (p.spec.name, r.model, r.problem_id, r.sample, None)
            shadowed += key in named  # load_replay refused true duplicates: one names its task, one does not
            named.add(key)
    if ambiguous:
        tasks = sorted({t for names in ambiguous.values() for t in names})
        ids = ", ".join(repr(i) for i in sorted(ambiguous)[:3]) + (", ..." if len(ambiguous) > 3 else "")
        raise InputError(f"replayed records without a 'task' field match problems of several tasks of the run "
                         f"({', '.join(tasks)}: problem ids {ids}), so which task's gold judges them is unknown; "
                         f"add a 'task' field naming its task to each record, or run one task")
    if not named and records:
        some = ", ".join(sorted({r.problem_id for r in records})[:3])
        raise InputError(f"no replayed record matches a problem of {', '.join(by_task)} "
                         f"(record problem ids look like: {some}; task ids like: "
                         f"{', '.join(list(plans[0].by_id)[:3])})")
    notes = []
    if outside:
        notes.append(f"{len(outside)} replayed problem(s) lie outside the run's date window (or have no date) and are "
                     f"not scored (problem ids such as {', '.join(sorted(outside)[:3])})")
    if unmatched:
        notes.append(f"{len(unmatched)} replayed record(s) match no problem of the run and are not scored "
                     f"(problem ids such as {', '.join(sorted(set(unmatched))[:3])})")
    if shadowed:
        notes.append(f"{shadowed} replayed record(s) without 'task' are shadowed by a record for the same "
                     "problem and sample that names its task; the named record is scored")
    for p in plans:
        covered = {k[2] for k in named if k[0] == p.spec.name}
        if len(covered) < len(p.problems):
            scored = f"the metrics cover the other {len(covered)}" if covered else "the task is left out of the results"
            notes.append(f"{p.spec.name}: {len(p.problems) - len(covered)} of {len(p.problems)} problems have "
                         f"no replayed record; {scored}")
    order = {(p.spec.name, pid): i for p in plans for i, pid in enumerate(p.by_id)}
    return sorted(named, key=lambda k: (k[0], k[1], order[(k[0], k[2])], k[3])), notes


def build_requests(keys: list[Key], plans: list[TaskPlan], engine: Backend, system_prompt: str | None,
                   think_prefill: bool, think_format: ThinkFormat = R1) -> list[Request]:
    """One Request per key: the prompt rendered once per problem (`prompt_messages`, then the
    backend's chat template, its prefill the run's think format's), and the sample's own seed."""
    by_task = {p.spec.name: p for p in plans}
    rendered: dict[tuple[str, str], tuple] = {}
    out: list[Request] = []
    for task, model, pid, sample, budget in keys:
        plan = by_task[task]
        if (task, pid) not in rendered:
            messages = prompt_messages(plan.spec, plan.by_id[pid], system_prompt)
            prompt, prefill = _render(engine, messages, think_prefill, plan.spec.chat_template_kwargs,
                                      think_format, f"{task} problem {pid!r}")
            rendered[(task, pid)] = (messages, prompt, prefill)
        messages, prompt, prefill = rendered[(task, pid)]
        g = plan.generation
        out.append(Request(task=task, problem_id=pid, sample=sample, seed=sample_seed(g.seed, task, pid, sample),
                           prompt=prompt, messages=tuple(messages), prefill=prefill, temperature=float(g.temperature),
                           top_p=float(g.top_p), max_tokens=int(g.max_tokens), model=model, budget=budget,
                           chat_template_kwargs=dict(plan.spec.chat_template_kwargs) or None))
    return out


def _render(engine: Backend, messages: list[dict[str, str]], think_prefill: bool,
            chat_template_kwargs: dict[str, Any], think_format: ThinkFormat, what: str) -> tuple[str, str]:
    """(prompt, prefill) from the backend's render; InputError naming the backend and the problem when
    it fails (a chat template that refuses a system message) or breaks the protocol (a plugin's)."""
    name = backend_name(engine)
    try:
        out = engine.render(messages, think_prefill, chat_template_kwargs, *_format_arg(engine, think_format))
    except (InputError, ServerError):
        raise
    except (Exception, SystemExit) as e:  # noqa: BLE001 - one line naming the backend, not a traceback (nor a
        # silent exit: a plugin's sys.exit is its failure)
        raise InputError(f"the {name} backend could not render the prompt of {what}: {type(e).__name__}: {e}") from None
    if not (isinstance(out, (tuple, list)) and len(out) == 3 and isinstance(out[0], str) and isinstance(out[1], str)):
        raise InputError(f"the {name} backend's render returned {type(out).__name__} {str(out)[:80]!r} for {what}; "
                         "expected (prompt text, prefill text, think_open)")
    return out[0], out[1]


def _format_arg(engine: Backend, think_format: ThinkFormat) -> tuple[ThinkFormat, ...]:
    """The think format as render()'s fourth argument, for a backend whose render takes it; a plugin
    backend written before think formats takes three (and renders r1's prefill)."""
    try:
        params = list(inspect.signature(engine.render).parameters.values())
    except (TypeError, ValueError):
        return (think_format,)
    takes = len(params) >= 4 or any(p.kind is p.VAR_POSITIONAL for p in params)
    return (think_format,) if takes else ()
