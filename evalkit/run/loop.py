"""The loop of a run: generate → verify → trace → write.

Generation runs in its own thread; finished samples are verified and analyzed in batches (BATCH, or
whatever came within FLUSH_SECONDS) and appended to samples.jsonl, on disk before the next batch is
counted, so a run killed at any point loses only what was in flight (a batch being verified included:
it waits for its slowest check, and an interrupt writes it unjudged for the rerun to verify).
"""

from __future__ import annotations

import json
import queue
import sys
import threading
import time
from collections import defaultdict
from dataclasses import fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from evalkit.backends.base import BUILTIN_BACKENDS, Backend, backend_name, completion_problem, did_not_fit
from evalkit.errors import InputError, ServerError
from evalkit.run.planning import TaskPlan
from evalkit.run.rundir import RunDir, SampleWriter
from evalkit.taskspec import TaskSpec, spec_location
from evalkit.thinking import R1, ThinkFormat
from evalkit.types import Completion, Problem, Request, Verdict, last_user_message
from evalkit.verifiers.base import (Verifier, VerifyItem, best_verdict, capabilities, get_verifier, gold_problem,
                                    golds_for, option_problem, readable_golds, rules_verifier, verifier_busy,
                                    verify_checked, verify_wait)

if TYPE_CHECKING:
    from evalkit.trace import ReflectionModel

BATCH = 64  # samples verified and written together
FLUSH_SECONDS = 1.0  # ... or after this long, whichever comes first
HALT_S = 30.0  # how long an interrupted run waits for an engine that was told to stop
JUDGE = "judge"  # the registered verifier `--judge` wraps every task's verifier in (`math+judge`)


def rules_for(spec: TaskSpec) -> Verifier:
    """The verifier that reads the task's answers (for a cascade such as `math+judge`, its rules),
    built with the task's options; a bad name or option is the user's input error."""
    try:
        return rules_verifier(spec.verifier, **spec.verifier_options)
    except KeyError as e:
        raise InputError(f"{spec_location(spec, 'verifier')}: field 'verifier': {e.args[0]}") from None
    except (TypeError, ValueError) as e:
        raise _build_error(spec, spec.verifier, spec.verifier_options, e) from None


def _build_error(spec: TaskSpec, name: str, options: dict[str, Any], error: Exception) -> InputError:
    """A verifier that raised TypeError or ValueError as it was built: its options' fault where the spec
    gives some (the option it does not take, or a value it refuses); without options, the verifier's
    own (a plugin's bug, or an entry point that names no class or function), not a field the spec lacks."""
    if options:
        return InputError(f"{spec_location(spec, 'verifier_options')}: field 'verifier_options': "
                          f"{option_problem(name, error)}")
    return InputError(f"{spec_location(spec, 'verifier')}: field 'verifier': the {name} verifier could not be "
                      f"built: {type(error).__name__}: {error}")


def generate_and_verify(engine: Backend, requests: list[Request], plans: list[TaskPlan],
                        verifiers: dict[str, Verifier], rules: dict[str, Verifier], run_dir: RunDir, progress: bool,
                        trace: bool = True, think_format: ThinkFormat = R1,
                        reflection_model: ReflectionModel | str | None = None) -> int:
    """Generate `requests`, verify each with its task's verifier (the trace's candidate answers with
    its rules verifier), and append the sample lines; returns how many were written.
    think_format: the run's think format: where each completion's thinking ends and its answer is.
    reflection_model: the trace's reflection model (`evalkit.trace.load_model`'s, or its file; None:
    the shipped weights)."""
    by_task = {p.spec.name: p for p in plans}
    think_open_by_task = {p.spec.name: p.spec.think_open for p in plans}
    from tqdm import tqdm

    bar = tqdm(total=len(requests), unit="sample", desc="evalkit", file=sys.stderr, disable=not progress,
               dynamic_ncols=True, smoothing=0.1)
    results: queue.Queue = queue.Queue(maxsize=4 * BATCH)
    end = object()

    name = backend_name(engine)
    stopping = threading.Event()  # the run is unwinding (Ctrl-C, SIGTERM): nobody reads `results` any more
    generated = threading.Event()  # the engine's generate has returned

    def hand_over(item: Any) -> None:
        while not stopping.is_set():
            try:
                results.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def produce() -> None:
        asked = {_asked_key(r) for r in requests}
        left = set(asked)  # asked and not yet answered
        try:
            try:
                for item in engine.generate(requests):
                    if stopping.is_set():
                        return
                    _answered(item, left, asked, name)
                    hand_over(item)
            finally:
                generated.set()  # an interrupt from now on would stop the next generate, not this one
            if stopping.is_set():
                return
            if left:  # results over fewer samples than planned would read as the run's
                raise ServerError(f"the {name} backend's generate ended with {len(left)} of {len(asked)} "
                                  "requests unanswered")
        except BaseException as e:
            hand_over(e)
        hand_over(end)

    # generation runs in its own thread, so verifying and writing overlap with it
    producer = threading.Thread(target=produce, daemon=True, name="evalkit-generate")
    producer.start()
    written = 0
    failure: BaseException | None = None
    too_long: list[str] = []  # samples whose prompt left no room in the context window
    try:
        with run_dir.appender() as sink:
            batch: list[tuple[Request, Completion]] = []  # received, not yet written

            def write_batch() -> int:
                records = _judged(batch, by_task, verifiers, rules, think_open_by_task, trace, think_format,
                                  reflection_model)
                n = len(batch)
                batch.clear()  # an interrupt from here on loses these lines, never writes them twice
                wrote = sink.write(records)
                bar.update(n)
                return wrote

            try:
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
                        if did_not_fit(item[1]):
                            too_long.append(f"{item[0].task}/{item[0].problem_id}")
                    if batch and (len(batch) >= BATCH or time.monotonic() - last >= FLUSH_SECONDS):
                        written += write_batch()
                        last = time.monotonic()
                if batch:
                    written += write_batch()
            except KeyboardInterrupt:  # Ctrl-C, SIGTERM: what came back is kept unverified; a rerun verifies it
                stopping.set()  # nothing is handed over from now on (the engine is halted below)
                batch += _waiting(results)
                if batch:
                    sink.write(_unverified(batch, by_task, think_open_by_task, think_format))
                raise
    except BaseException:  # Ctrl-C, SIGTERM, a disk that fails: generation stops before the run unwinds
        stopping.set()
        if not generated.is_set():
            _halt(engine, producer)
        raise
    bar.close()
    if too_long:  # the run went on; what it could not ask is worth one line
        shown = ", ".join(sorted(set(too_long))[:5]) + (", ..." if len(set(too_long)) > 5 else "")
        print(f"evalkit: warning: {len(too_long)} samples have a prompt that does not fit the model's context "
              f"window ({shown}); they are recorded as truncated with nothing generated (a larger context "
              "window, --max-model-len, fits them: in a new --out, or with --overwrite, as a rerun here reuses "
              "every sample it holds)", file=sys.stderr)
    if failure is not None:
        saved = f"({written} samples of this invocation are saved; rerun to resume)"
        if isinstance(failure, (ServerError, InputError)):
            raise InputError(f"{failure} {saved}") from None
        if isinstance(failure, (Exception, SystemExit, KeyboardInterrupt)) and getattr(
                engine, "name", None) not in BUILTIN_BACKENDS:
            # a plugin backend that fails its own way: one line naming it (a built-in's bug keeps its traceback);
            # an exit or interrupt raised on the generating thread is its own too (signals reach the main thread)
            raise InputError(f"the {name} backend failed: {type(failure).__name__}: {failure} {saved}") from None
        raise failure
    return written


def _waiting(results: queue.Queue) -> list[tuple[Request, Completion]]:
    """The completions generation handed over that the run had not taken yet (a stopped run keeps them)."""
    found = []
    while True:
        try:
            item = results.get_nowait()
        except queue.Empty:
            return found
        if (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], Request)
                and isinstance(item[1], Completion)):
            found.append(item)


def _answered(item: Any, left: set, asked: set, name: str) -> None:
    """Check one thing a backend's generate yielded and take its sample off `left`; ServerError when it is
    not a (Request, Completion) pair, breaks the Completion contract, or answers a sample not asked or
    answered already (a doubled or foreign line would skew the metrics)."""
    if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], Request)
            and isinstance(item[1], Completion)):
        got = f"({', '.join(type(x).__name__ for x in item)})" if isinstance(item, tuple) else type(item).__name__
        raise ServerError(f"the {name} backend's generate yielded {got}; expected (Request, Completion) pairs")
    req = item[0]
    problem = completion_problem(item[1])
    if problem:
        raise ServerError(f"the {name} backend's generate yielded, for {req.task} problem {req.problem_id!r} "
                          f"sample {req.sample}, a Completion with {problem}")
    key = _asked_key(req)
    if key not in left:
        raise ServerError(f"the {name} backend's generate yielded a completion for {req.task} problem "
                          f"{req.problem_id!r} sample {req.sample}, "
                          f"{'which it had answered already' if key in asked else 'which was not asked'}")
    left.discard(key)


def _halt(engine: Backend, producer: threading.Thread) -> None:
    """Stop an engine that can be stopped (`interrupt()`, as the transformers backend's) and wait for its
    generation thread: a daemon thread still inside torch when Python exits aborts the process
    ("terminate called without an active exception"). Other engines are left to their own cleanup."""
    interrupt = getattr(engine, "interrupt", None)
    if not callable(interrupt):
        return
    try:
        interrupt()
    except Exception:  # the run is unwinding with its own error; this one would hide it
        return
    producer.join(HALT_S)


def judge_options(judge: str | None, base_url: str | None, max_flips: int | None,
                  retries: int | None = None) -> dict[str, Any] | None:
    if not judge and not base_url:
        for flag, value in (("--judge-max-flips", max_flips), ("--judge-retries", retries)):
            if value is not None:
                raise InputError(f"{flag} needs --judge MODEL --judge-base-url URL")
        return None
    if not (judge and base_url):
        raise InputError("--judge and --judge-base-url go together (the judge model and its OpenAI-compatible URL)")
    return {"model": judge, "base_url": base_url, **({} if max_flips is None else {"max_flips": max_flips}),
            **({} if retries is None else {"retries": retries})}


def task_verifiers(plans: list[TaskPlan], judge_options: dict[str, Any] | None, run_dir: Path) -> dict[str, Any]:
    """Each task's verifier; with a judge, the task's verifier wrapped in the judge cascade. A verifier
    that keeps state with the run (`attach`) is given the run directory."""
    out = {}
    for p in plans:
        name, options = p.spec.verifier, dict(p.spec.verifier_options)
        if judge_options:
            # --judge wraps the task's verifier in the judge cascade, unless the spec already does
            name = name if name.rpartition("+")[2] == JUDGE else f"{name}+{JUDGE}"
            options["judge"] = {**(options.get("judge") or {}), **judge_options}
        try:
            verifier = get_verifier(name, **options)
        except KeyError as e:
            raise InputError(f"{spec_location(p.spec, 'verifier')}: field 'verifier': "
                             f"{e.args[0] if e.args else e}") from None
        except (ValueError, TypeError) as e:
            raise _build_error(p.spec, name, options, e) from None
        if hasattr(verifier, "attach"):
            verifier.attach(run_dir)
        out[p.spec.name] = verifier
    return out


def _flush(batch, by_task, verifiers, rules, think_open_by_task, sink: SampleWriter, trace: bool = True,
           think_format: ThinkFormat = R1, reflection_model: ReflectionModel | str | None = None,
           recorded_open: list[bool] | None = None) -> int:
    """Verify a batch, analyze its traces, append its lines, and flush them to disk.
    recorded_open: each sample's `think_open` as its line records it (samples checked again)."""
    return sink.write(_judged(batch, by_task, verifiers, rules, think_open_by_task, trace, think_format,
                              reflection_model, recorded_open))


def _opened_of(batch, think_open_by_task, think_format: ThinkFormat) -> list[bool]:
    """Whether each sample's thinking was open before its completion (the task's prefill, the backend's, or
    a prompt that ends inside a think block)."""
    return [think_open_by_task[req.task] or comp.think_open or (req.prefill == "" and _opened(req.prompt, think_format))
            for req, comp in batch]


def _unverified(batch, by_task, think_open_by_task, think_format: ThinkFormat = R1) -> list[dict[str, Any]]:
    """The sample lines of a batch the run was stopped before verifying: unjudged (`faulted`), which a
    rerun verifies, so a completion already made is never made again."""
    stopped = Verdict.infra_error("the run was stopped before this sample was verified (a rerun of the same "
                                  "command verifies it)")
    return _records(batch, by_task, [stopped] * len(batch), [None] * len(batch),
                    _opened_of(batch, think_open_by_task, think_format))


def _judged(batch, by_task, verifiers, rules, think_open_by_task, trace: bool = True,
            think_format: ThinkFormat = R1, reflection_model: ReflectionModel | str | None = None,
            recorded_open: list[bool] | None = None) -> list[dict[str, Any]]:
    """A batch verified and its traces analyzed: its sample lines."""
    by_verifier: dict[str, list[int]] = defaultdict(list)
    for i, (req, _) in enumerate(batch):
        by_verifier[req.task].append(i)
    verdicts: list[Verdict | None] = [None] * len(batch)
    think_open = (recorded_open if recorded_open is not None
                  else _opened_of(batch, think_open_by_task, think_format))
    for task, idx in by_verifier.items():
        plan = by_task[task]
        rows = []
        for i in idx:
            req, comp = batch[i]
            problem = plan.by_id[req.problem_id]
            rows.append((VerifyItem(completion=comp.text, gold=None, finish_reason=comp.finish_reason,
                                    think_open=think_open[i], problem=asked_problem(req, problem.problem),
                                    think_format=think_format),
                         problem.tests if problem.tests is not None else problem.answer))
        # a verifier that raises, hangs or breaks its contract leaves its samples unjudged; the run goes on
        for i, v in zip(idx, verify_any(verifiers[task], rows)):
            verdicts[i] = v
    # a task whose verifier has not returned (it hangs) has its trace's candidate answers left unchecked: the trace's
    # own instance of that verifier would be waited on as long again
    hung = {task for task in by_verifier if verifier_busy(verifiers[task])}
    traces = (_traces(batch, by_task, rules, think_open, verdicts, think_format, reflection_model, hung) if trace
              else [None] * len(batch))
    return _records(batch, by_task, verdicts, traces, think_open)


def _records(batch, by_task, verdicts, traces, think_open) -> list[dict[str, Any]]:
    records = []
    for (req, comp), verdict, trace, opened in zip(batch, verdicts, traces, think_open):
        problem = by_task[req.task].by_id[req.problem_id]
        if did_not_fit(comp) and verdict.reason == "truncated":  # say why, not just that it was cut off
            tokens = f" ({comp.prompt_tokens} tokens)" if comp.prompt_tokens else ""
            verdict = replace(verdict, detail=f"the prompt{tokens} does not fit the model's context window: "
                                              "nothing was generated")
        record = {
            "task": req.task, "problem_id": req.problem_id, "sample": req.sample, "seed": req.seed,
            "model": req.model or comp.model, "prompt": req.prompt, "completion": comp.text,
            "think_open": opened,
            "finish_reason": comp.finish_reason, "prompt_tokens": comp.prompt_tokens,
            "completion_tokens": comp.completion_tokens, "reasoning_tokens": comp.reasoning_tokens,
            "gold": problem.answer if problem.tests is None else None,
            "budget": req.budget, "forced_waits": comp.forced_waits,
            **verdict.to_dict(), "trace": trace,
        }
        records.append(_writable(record))
    return records


def _asked_key(req: Request) -> tuple:
    """What tells one asked sample from another (the resume key, the model as the request names it)."""
    return (req.task, req.model, req.problem_id, req.sample, req.budget)


def _writable(record: dict[str, Any]) -> dict[str, Any]:
    """`record`, or, when a value in it is not JSON (a plugin's, past the contract checks), the record with
    such values written as their text and the sample unjudged, so the batch is still written and a rerun
    checks the sample again."""
    try:
        json.dumps(record, ensure_ascii=False)
        return record
    except (TypeError, ValueError) as e:
        shown = json.loads(json.dumps(record, ensure_ascii=False, default=repr))
        fault = Verdict.infra_error(f"the sample could not be written as JSON ({type(e).__name__}: {e}); its values "
                                    "that are not JSON are written as their text")
        return {**shown, **fault.to_dict()}


def unreadable_golds(problems: Sequence[Problem], verifier: Verifier) -> list[tuple[str, str]]:
    """(problem id, why) of each of `problems` none of whose golds `verifier` can check (no gold, or
    one its check_gold refuses): its samples would all be unjudged."""
    out = []
    for problem in problems:
        answer = problem.tests if problem.tests is not None else problem.answer
        golds = golds_of(verifier, answer)
        whys = [gold_problem(verifier, g) for g in golds]  # None as a gold: as the verifier's check_gold says
        if all(whys):
            out.append((problem.id, "no gold answer" if golds[0] is None else whys[0]))
    return out


def check_golds(spec: TaskSpec, problems: Sequence[Problem], verifier: Verifier, left: str, nothing: str) -> None:
    """InputError where none of `problems` has a gold `verifier` can read (a `choice` task over numbers:
    every sample would be left unjudged), saying `nothing` ("nothing generated"); else a warning counting
    those that have none, saying what becomes of them (`left`: "their samples are left unjudged")."""
    bad = unreadable_golds(problems, verifier)
    if not bad:
        return
    pid, why = bad[0]
    where = f"{spec_location(spec, 'fields.answer')}: task {spec.name}, verifier {spec.verifier}"
    if len(bad) == len(problems):
        raise InputError(f"{where}: no problem has a gold answer the verifier can read (problem {pid}: {why}); "
                         f"{nothing}: check the spec's `answer` field and its `verifier`")
    print(f"evalkit: warning: {where}: {len(bad)} of {len(problems)} problems have no gold answer the "
          f"verifier can read (first: problem {pid}: {why}); {left}", file=sys.stderr)


def golds_of(verifier: Verifier, answer: Any) -> tuple[Any, ...]:
    """The golds a problem's answer (taskspec.gold_answer: text, None, or a tuple of accepted answers)
    is checked against: a tuple is read as `evalkit.rewards` reads a list (golds_for: each answer
    alone, or the whole for a verifier that takes its gold as it is), less those the verifier cannot read
    while one it can remains (readable_golds); None is checked as no gold."""
    if isinstance(answer, tuple):
        return readable_golds(verifier, golds_for(verifier, list(answer))) or (None,)
    return (answer,)


def verify_any(verifier: Verifier, rows: Sequence[tuple[VerifyItem, Any]]) -> list[Verdict]:
    """One verdict per (item, answer) row, its item checked against each gold of the answer (golds_of)
    in one verify_checked call under the run's deadline; a row's verdict is best_verdict of its own."""
    items, owners = [], []  # an answer with several accepted golds has one item per gold
    for i, (item, answer) in enumerate(rows):
        for gold in golds_of(verifier, answer):
            items.append(replace(item, gold=gold))
            owners.append(i)
    found: dict[int, list[Verdict]] = defaultdict(list)
    for i, v in zip(owners, verify_checked(verifier, items, verify_wait(verifier, len(items)))):
        found[i].append(v)
    return [best_verdict(found[i]) for i in range(len(rows))]


def faulted(sample: dict[str, Any]) -> bool:
    """Whether a fault of the machinery, not the model, decided the sample's verdict: it is unjudged
    (`correct` null, reason `error`: a verifier that failed or hung, a sandbox that could not start), or
    its judge gave no reply (the rule's verdict stood in)."""
    if sample.get("correct") is None and sample.get("reason") == "error":
        return True
    judge = sample.get("judge")
    return isinstance(judge, dict) and bool(judge.get("error"))


def faulted_samples(samples: list[dict[str, Any]], wanted: set, plans: list[TaskPlan]) -> list[dict[str, Any]]:
    """The samples on disk, of the keys the run wants, whose verdict a fault decided (`faulted`): what
    a rerun checks again. A problem without a gold answer or tests is left out: nothing can judge it."""
    from evalkit.run.rundir import sample_key

    problems = {(p.spec.name, pid): problem for p in plans for pid, problem in p.by_id.items()}

    def judgeable(s: dict[str, Any]) -> bool:
        problem = problems.get((s["task"], str(s["problem_id"])))
        return problem is not None and (problem.answer is not None or problem.tests is not None)

    found: dict[Any, dict[str, Any]] = {}  # a key written twice (an old run's doubled line) is checked once
    for s in samples:
        if faulted(s) and s.get("completion") is not None and sample_key(s) in wanted and judgeable(s):
            found.setdefault(sample_key(s), s)
    return list(found.values())


def rejudge(run_dir: RunDir, samples: list[dict[str, Any]], plans: list[TaskPlan], verifiers: dict[str, Verifier],
            rules: dict[str, Verifier], system_prompt: str | None, trace: bool = True, think_format: ThinkFormat = R1,
            reflection_model: ReflectionModel | str | None = None, opened: list[bool] | None = None) -> tuple[int, int]:
    """Check `samples` (see `faulted_samples`) again from their recorded completions, as `_flush` checks
    a fresh sample (the verdict, then the trace that reads it), and rewrite their lines in samples.jsonl
    in place (atomically: the file is whole at every moment). Returns (lines rewritten, of those how
    many have a verdict without a fault now). With `trace` off a line keeps the trace it had.
    opened: each sample's `think_open` as it is to be read now (`read_replies`); every line is then rewritten."""
    from evalkit.run.rundir import sample_key
    from evalkit.taskspec import prompt_messages

    by_task = {p.spec.name: p for p in plans}
    batch = []
    for s in samples:
        plan, pid = by_task[s["task"]], str(s["problem_id"])
        g = plan.generation
        messages = prompt_messages(plan.spec, plan.by_id[pid], system_prompt)
        req = Request(task=s["task"], problem_id=pid, sample=int(s["sample"]), seed=s.get("seed") or 0,
                      prompt=s.get("prompt") or "", messages=tuple(messages), prefill="",
                      temperature=float(g.temperature), top_p=float(g.top_p), max_tokens=int(g.max_tokens),
                      model=s.get("model"), budget=s.get("budget"))
        comp = Completion(text=s["completion"], finish_reason=s.get("finish_reason"),
                          prompt_tokens=s.get("prompt_tokens"), completion_tokens=s.get("completion_tokens"),
                          model=s.get("model"), think_open=bool(s.get("think_open")),
                          reasoning_tokens=s.get("reasoning_tokens"), forced_waits=s.get("forced_waits"))
        batch.append((req, comp))
    collected = _Collect()
    think_open_by_task = {p.spec.name: p.spec.think_open for p in plans}
    for start in range(0, len(batch), BATCH):
        part = slice(start, start + BATCH)
        recorded = opened[part] if opened is not None else [bool(s.get("think_open")) for s in samples[part]]
        _flush(batch[part], by_task, verifiers, rules, think_open_by_task, collected, trace, think_format,
               reflection_model, recorded_open=recorded)
    fresh = {}
    for i, (old, new) in enumerate(zip(samples, collected.records)):
        if opened is not None or not faulted(new) or new.get("detail") != old.get("detail"):
            verdict = {f.name: new.get(f.name) for f in fields(Verdict)}
            fresh[sample_key(old)] = {**old, **verdict, "trace": new.get("trace") if trace else old.get("trace")}
            if opened is not None:
                fresh[sample_key(old)]["think_open"] = opened[i]
    if fresh:
        run_dir.replace_samples(fresh)
    return len(fresh), sum(not faulted(r) for r in fresh.values())


class _Collect:
    """A SampleWriter that keeps the records instead of appending them."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def write(self, records: list[dict[str, Any]]) -> int:
        self.records.extend(records)
        return len(records)


def asked_problem(req: Request, fallback: str | None) -> str | None:
    """The problem as the model was asked it, for a verifier that reads it (a judge): the last user
    message the task's prompt template rendered, which holds what the problem field may not (a choice
    task's options); `fallback` (the problem field) when the request has no messages."""
    return last_user_message(req.messages) or fallback


def _opened(prompt: str, think_format: ThinkFormat = R1) -> bool:
    return think_format.thinks and prompt.rstrip().endswith(think_format.open)


_TRACE_WARNED: list[str] = []


def _traces(batch, by_task, verifiers, think_open, verdicts, think_format: ThinkFormat = R1,
            reflection_model: ReflectionModel | str | None = None,
            hung: set[str] = frozenset()) -> list[dict[str, Any] | None]:
    """The trace analyzer's dict per sample. Candidate answers along the trace are checked with the
    task's verifier when its answers are values (Capabilities.votes); programs are not."""
    try:
        from evalkit.trace import analyze_many
    except ImportError:
        return [None] * len(batch)
    out: list[dict[str, Any] | None] = [None] * len(batch)
    groups: dict[str, list[int]] = defaultdict(list)
    for i, (req, _) in enumerate(batch):
        groups[req.task].append(i)
    for task, idx in groups.items():
        plan = by_task[task]
        votes = capabilities(verifiers[task]).votes and task not in hung
        try:
            completions = [batch[i][1].text for i in idx]
            golds = [plan.by_id[batch[i][0].problem_id].answer for i in idx] if votes else None
            stats = analyze_many(completions, golds, verifier=_candidate_checker(verifiers[task]) if votes else None,
                                 think_open=[think_open[i] for i in idx],
                                 finish_reasons=[batch[i][1].finish_reason for i in idx],
                                 correct=[verdicts[i].correct for i in idx], think_format=think_format,
                                 reflection_model=reflection_model)
            for i, s in zip(idx, stats):
                out[i] = s.to_dict()
        except Exception as e:  # the verdicts stand; the trace is left null and the user told once
            if not _TRACE_WARNED:
                _TRACE_WARNED.append(str(e))
                print(f"evalkit: warning: trace analysis failed ({type(e).__name__}: {e})", file=sys.stderr)
    return out


def _candidate_checker(verifier: Verifier):
    """The trace analyzer's batch callable over the task's own verifier: each bare candidate answer
    is boxed, so the verifier reads exactly it."""

    def check(pairs: list[tuple[str, Any]]) -> list[bool | None]:
        rows = [(VerifyItem(completion=c if "\\boxed" in c else f"\\boxed{{{c}}}", gold=None), gold)
                for c, gold in pairs]
        return [v.correct for v in verify_any(verifier, rows)]

    return check
