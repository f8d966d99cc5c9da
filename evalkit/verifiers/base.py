"""The Verifier protocol, what a verifier declares about itself, and the registry of verifiers.

A verifier is text in, Verdict out. What the rest of evalkit needs to know about one (does its
answer vote in maj@k? which limits does it take? how does a dataset value become its gold?) is
declared by the verifier itself as `Capabilities`, so no module outside a verifier tests its name,
and a plugin (entry-point group `evalkit.verifiers`) is treated exactly like a built-in.
"""

from __future__ import annotations

import contextlib
import decimal
import inspect
import json
import math
import os
import queue
import re
import reprlib
import sys
import threading
import time
from dataclasses import dataclass, fields, is_dataclass, replace
from importlib.metadata import EntryPoint
from typing import Any, Callable, Protocol, Sequence, runtime_checkable

from evalkit.errors import InputError
from evalkit.latex import float_text
from evalkit.plugins import find_entry_point, load_entry_point, plugin_entry_points, refuse_builtin_name
from evalkit.types import REASONS, JudgeRecord, TestResult, Verdict

ENTRY_POINT_GROUP = "evalkit.verifiers"
LIMIT_OPTIONS = ("per_answer_s", "batch_deadline_s")  # the one spelling of the limits every caller uses
LONGEST_S = 7 * 24 * 3600.0  # the longest limit kept: a week, as good as none for one batch, and no clock overflows
VERIFY_S = (120.0, 10.0)  # a verifier that bounds no batch itself: (at least, per sample) seconds a batch may take


def verify_wait(verifier: Any, n: int) -> float | None:
    """Seconds to wait for `verifier` over `n` items: None for one that bounds its own batch (Capabilities.limits
    holds `batch_deadline_s`, as math, code and a judge cascade do), which is then called on the caller's thread
    (its own SIGALRM timeouts work there, as math-verify's do) and trusted to keep it; else VERIFY_S."""
    if "batch_deadline_s" in capabilities(verifier).limits:
        return None
    return max(VERIFY_S[0], VERIFY_S[1] * n)


@dataclass(frozen=True)
class VerifyItem:
    """One thing to verify.

    completion: the model's whole text (think block included).
    gold: the gold answer (math / choice) or the code tests (CodeTests, dict or JSON text).
    finish_reason: the backend's finish reason, when known (`length` means truncated).
    think_open: the prompt opened the think block, so the completion starts inside it.
    problem: the problem statement, for verifiers that read it (a judge model); None when unknown.
    answer_only: `completion` is final answer text alone (a pairs line's `answer`, a bare PRED), read
        whole as a gold is read: no think block, no extraction.
    think_format: how the completion thinks (a evalkit.thinking row or its name; None is r1): where its
        thinking ends and its answer is.
    """

    completion: str | None
    gold: Any
    finish_reason: str | None = None
    think_open: bool = False
    problem: str | None = None
    answer_only: bool = False
    think_format: Any = None


@dataclass(frozen=True)
class Capabilities:
    """What a verifier tells the rest of evalkit about itself (a class attribute `capabilities`).

    votes: its answers are values that can agree with each other (a number, a letter), so they vote
        in maj@k and the trace analyzer checks the candidate answers along a trace with it. False
        for answers that are programs: no maj@k, and the trace is analyzed without answers.
    limits: which of LIMIT_OPTIONS (`per_answer_s`: seconds one answer may take; `batch_deadline_s`:
        seconds a whole `verify_many` may take) the factory accepts as options. A caller that has a
        batch deadline the verifier does not take enforces it itself, in small chunks.
    gold: how a dataset value (a column, a veRL ground truth, an OpenRLHF label) becomes this
        verifier's gold: `text` (scalars as text), `last_boxed` (text; a worked solution's last
        `\\boxed{}`), or `as_is` (handed over untouched, e.g. code-test JSON). Under `text` and
        `last_boxed` a list is several accepted answers, each read alone (`golds_for`).
    """

    votes: bool = True
    limits: frozenset[str] = frozenset()
    gold: str = "text"

    def __post_init__(self) -> None:
        unknown = set(self.limits) - set(LIMIT_OPTIONS)
        if unknown:
            raise ValueError(f"Capabilities.limits: unknown option(s) {sorted(unknown)} (known: {LIMIT_OPTIONS})")
        if self.gold not in GOLD_READERS:
            raise ValueError(f"Capabilities.gold: {self.gold!r} is not one of {', '.join(GOLD_READERS)}")


def _gold_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if hasattr(value, "tolist"):  # numpy scalars from parquet
        value = value.tolist()
    if isinstance(value, float):
        return float_text(value)
    if isinstance(value, dict):
        return json.dumps(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(decimal.Decimal(value))  # str() refuses an int of more than 4,300 digits; Decimal's does not
    return str(value)


def _gold_last_boxed(value: Any) -> str | None:
    from evalkit.latex import last_boxed

    text = _gold_text(value)
    if text and "\\boxed" in text:  # a worked solution: the gold is its last box
        return last_boxed(text) or text
    return text


# Capabilities.gold -> how a dataset value becomes the verifier's gold (None stays None: unjudged).
GOLD_READERS: dict[str, Callable[[Any], Any]] = {
    "text": _gold_text,
    "last_boxed": _gold_last_boxed,
    "as_is": lambda value: value,
}


@runtime_checkable
class Verifier(Protocol):
    """Text in, Verdict out; never raises. `verify_many` keeps input order.

    Besides `name` and `verify_many`, a verifier may define (evalkit uses defaults otherwise):
    `capabilities` (a Capabilities; default `Capabilities()`), `equivalent(a, b) -> bool` (whether
    two extracted answers are the same for maj@k; default: equal text after whitespace is
    normalised), `check(require_layers) -> dict` (see `check_verifier`), `check_gold(gold)` (raises
    ValueError saying why a gold it was given cannot be one of its golds; see `gold_problem`) and
    `warm_up()` (start its workers without waiting).
    """

    name: str

    def verify_many(self, items: Sequence[VerifyItem]) -> list[Verdict]: ...


def gold_problem(verifier: Any, gold: Any) -> str | None:
    """Why `gold` cannot be a gold of `verifier` (its `check_gold`), or None: what `evalkit verify`
    refuses as bad input where a run or a reward records an `error` verdict for that row."""
    check = getattr(verifier, "check_gold", None)
    if check is None:
        return None
    try:
        check(gold)
    except (Exception, SystemExit) as e:  # noqa: BLE001 - a plugin's check: whatever it raises (or exits with) says why
        return str(e) or type(e).__name__
    return None


def capabilities(verifier: Any) -> Capabilities:
    """What `verifier` (an instance, or its registered factory) declares; the defaults if nothing."""
    found = getattr(verifier, "capabilities", None)
    return found if isinstance(found, Capabilities) else Capabilities()


EQUIVALENT_S = 30.0  # seconds one `equivalent(a, b)` may take before maj@k stops asking the verifier
_EQ_HUNG: dict[int, threading.Thread] = {}  # id(verifier) -> the thread of an equivalent() call that overran
_EQ_TOLD: set[int] = set()  # the verifiers whose hang the user has been told of


def equivalence(verifier: Any) -> Callable[[str, str], bool] | None:
    """maj@k's answer equivalence of `verifier`: its `equivalent`, held to never raising and never
    hanging (a call that fails counts as not equivalent; once one takes over EQUIVALENT_S the verifier
    is not asked again while that call runs: the answers left are grouped by their text; either is
    reported once on stderr); None when it has none or its answers do not vote (Capabilities.votes)."""
    same = getattr(verifier, "equivalent", None)
    if same is None or not capabilities(verifier).votes:
        return None
    name = _name(verifier)
    failed: list[str] = []
    bounded = _Bounded(same)

    def hung() -> bool:
        stuck = _EQ_HUNG.get(id(verifier))
        if stuck is not None and not stuck.is_alive():
            del _EQ_HUNG[id(verifier)]
            _EQ_TOLD.discard(id(verifier))
            stuck = None
        if stuck is not None and id(verifier) not in _EQ_TOLD:  # once per verifier while its call hangs
            _EQ_TOLD.add(id(verifier))
            print(f"evalkit: warning: the {name} verifier's equivalent() did not return within {EQUIVALENT_S:g} s; "
                  "maj@k groups the answers it has not compared by their text", file=sys.stderr)
        return stuck is not None

    def equivalent(a: str, b: str) -> bool:
        if hung():
            return False
        try:
            return bool(bounded(EQUIVALENT_S, a, b))
        except TimeoutError:
            _EQ_HUNG[id(verifier)] = bounded.thread
            hung()
        except Exception as e:  # noqa: BLE001 - maj@k then groups these answers by their text
            if not failed:
                failed.append(f"{type(e).__name__}: {e}")
                print(f"evalkit: warning: the {name} verifier's equivalent() failed ({failed[0]}); maj@k "
                      "groups the answers it could not compare by their text", file=sys.stderr)
        return False

    return equivalent


class _Bounded:
    """`fn(*args)` run on a daemon thread of its own, waited for at most `timeout` seconds (TimeoutError
    then; a call that hangs is left behind, and so is its thread). The thread ends after IDLE_S without
    work and starts again with the next call."""

    IDLE_S = 5.0

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn
        self.jobs: queue.SimpleQueue = queue.SimpleQueue()
        self.thread: threading.Thread | None = None
        self.lock = threading.Lock()

    def __call__(self, timeout: float, *args: Any) -> Any:
        box: dict[str, Any] = {}
        done = threading.Event()
        with self.lock:
            self.jobs.put((args, box, done))
            if self.thread is None:
                self.thread = threading.Thread(target=self._serve, daemon=True, name="evalkit-equivalent")
                self.thread.start()
        if not done.wait(timeout):
            raise TimeoutError
        if "error" in box:
            raise box["error"]
        return box["value"]

    def _serve(self) -> None:
        while True:
            try:
                args, box, done = self.jobs.get(timeout=self.IDLE_S)
            except queue.Empty:
                with self.lock:
                    if self.jobs.empty():  # no call is waiting: end; the next call starts a thread
                        self.thread = None
                        return
                continue
            try:
                box["value"] = self.fn(*args)
            except Exception as e:  # noqa: BLE001 - handed to the caller's thread
                box["error"] = e
            except BaseException as e:  # noqa: BLE001 - SystemExit, KeyboardInterrupt: the function's own (no signal
                # reaches this thread); left to end the thread, every later call waited its whole timeout
                box["error"] = _own(e)
            done.set()


def check_verifier(verifier: Any, require_layers: Sequence[str] = ()) -> dict[str, Any]:
    """Check the environment `verifier` needs before anything is generated (`evalkit run` calls it).

    require_layers: sandbox layers the user requires (`--require-layers`); a verifier that runs no
        sandbox has none to offer and ignores them.
    Returns what config.json records about the environment (e.g. the sandbox layers in force; {} if
    the verifier says nothing). Raises InputError, one line, when a requirement is not met.
    """
    check = getattr(verifier, "check", None)
    if check is None:
        return {}
    try:
        return dict(check(require_layers=tuple(require_layers)) or {})
    except InputError:
        raise
    except (Exception, SystemExit) as e:  # noqa: BLE001 - a verifier's check that fails (or exits) is a run that
        # cannot be judged
        name = _name(verifier)
        raise InputError(f"the {name} verifier's environment check failed: {type(e).__name__}: {e}") from None


def _name(verifier: Any) -> str:
    """What messages call a verifier: its `name`, else its class's."""
    return getattr(verifier, "name", None) or type(verifier).__name__


def verify_checked(verifier: Any, items: Sequence[VerifyItem], deadline_s: float | None = None) -> list[Verdict]:
    """`verifier.verify_many(items)` held to the Verifier contract: one Verdict per item, in order, never
    raising. A verifier that raises (SystemExit too), returns the wrong number of results, or results
    that are not Verdicts (or a field of which breaks VERDICT_FIELDS) leaves every item unjudged
    (`correct` None, reason `error`, the fault in `detail`): the verifier's fault, not the model's.

    deadline_s: seconds to wait for it (None: no bound); a verifier still busy then leaves the items
        unjudged, and one that has not returned from an earlier call is not called again. For
        verifiers that do not bound themselves (Capabilities.limits without `batch_deadline_s`).
    """
    items = list(items)
    name = _name(verifier)
    if not items:
        return []
    try:
        with _DIRECTORY.kept(name):
            verdicts = _call_bounded(verifier, items, deadline_s)
    except _StillBusy:
        return [Verdict.infra_error(f"the {name} verifier is still running an earlier batch that took longer "
                                    f"than {deadline_s:g} s")] * len(items)
    except (Exception, SystemExit) as e:  # noqa: BLE001 - a verifier must not raise (nor exit): its items stay unjudged
        if is_from_caller(e):
            raise
        return [Verdict.infra_error(f"the {name} verifier failed: {type(e).__name__}: {e}")] * len(items)
    if verdicts is None:
        return [Verdict.infra_error(f"the {name} verifier did not return within {deadline_s:g} s")] * len(items)
    fault = _contract_fault(verdicts, len(items))
    if fault:
        return [Verdict.infra_error(f"the {name} verifier {fault}")] * len(items)
    return verdicts


class _Directory:
    """The working directory as it was when verifiers started running, set back once none is running: a plugin
    that changes it (to run a tool in its folder) must not move the run's relative paths (its directory, the
    report) nor a trainer's. The directory is the process's, and the rewards verify from several threads at
    once: it is saved as the first call starts and set back as the last one ends, never under a call still
    running."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running: list[str] = []  # the verifiers in the calls now running
        self.seen: set[str] = set()  # those running when it moved
        self.before: str | None = None
        self.warned: set[frozenset[str]] = set()

    @contextlib.contextmanager
    def kept(self, name: str):
        with self.lock:
            if not self.running:
                try:
                    self.before = os.getcwd()
                except OSError:  # the directory is gone already: nothing to keep
                    self.before = None
                self.seen = set()
            self.running.append(name)
            self.seen.add(name)
        try:
            yield
        finally:
            with self.lock:
                self.running.remove(name)
                if not self.running and self.before is not None:
                    self._set_back()

    def _set_back(self) -> None:
        try:
            moved = os.getcwd() != self.before
        except OSError:
            moved = True
        if not moved:
            return
        os.chdir(self.before)
        who = frozenset(self.seen)
        if who not in self.warned:  # once for the verifiers that may have moved it, not once a batch
            self.warned.add(who)
            names = " or ".join(f"the {n} verifier" for n in sorted(who))
            print(f"evalkit: warning: {names} changed the working directory: changed back to {self.before} once it "
                  "returned", file=sys.stderr)


_DIRECTORY = _Directory()


def _finite(x: Any) -> bool:
    try:  # an int too large for a float raises OverflowError
        return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
    except OverflowError:
        return False


def _tests_ok(tests: Any) -> bool:
    return tests is None or isinstance(tests, (tuple, list)) and all(
        isinstance(t, TestResult) and isinstance(t.passed, bool) and isinstance(t.reason, str) for t in tests)


def _judge_ok(judge: Any) -> bool:
    if judge is None:
        return True
    try:
        return isinstance(judge, JudgeRecord) and bool(json.dumps(judge.to_dict(), allow_nan=False))
    except (TypeError, ValueError):
        return False


# What each field of a Verdict must hold, so that its sample line can be written and read back:
# (field, test, what is expected).
VERDICT_FIELDS: tuple[tuple[str, Callable[[Any], bool], str], ...] = (
    ("correct", lambda x: x is None or isinstance(x, bool), "True, False or None"),
    ("reason", lambda x: isinstance(x, str) and x in REASONS, f"one of {', '.join(REASONS)}"),
    ("score", _finite, "a finite number"),
    ("answer", lambda x: x is None or isinstance(x, str), "a string or None"),
    ("detail", lambda x: isinstance(x, str), "a string"),
    ("ms", _finite, "a finite number"),
    ("tests", _tests_ok, "None or TestResults"),
    ("judge", _judge_ok, "None or a JudgeRecord of JSON values"),
)


def _contract_fault(verdicts: list[Any], wanted: int) -> str | None:
    """What is wrong with a verifier's results for `wanted` items, or None."""
    if len(verdicts) != wanted:
        return f"returned {len(verdicts)} results for {wanted} item{'s' * (wanted != 1)}"
    for v in verdicts:
        if not isinstance(v, Verdict):
            return f"returned a {type(v).__name__} where a Verdict belongs"
        for name, ok, expected in VERDICT_FIELDS:
            value = getattr(v, name)
            if not ok(value):
                return f"returned a Verdict with {name}={reprlib.repr(value)} (expected {expected})"
        if (v.correct is True) != (v.reason == "correct"):  # Verdict(True, 0.0, "x", "wrong") counted as right
            return (f"returned a Verdict with correct={v.correct!r} and reason={v.reason!r} (reason 'correct' goes "
                    "with correct True, and only with it)")
    return None


_BUSY: dict[int, Any] = {}  # id(verifier) -> the thread of a call that overran its deadline and runs on


def verify_in_chunks(verifier: Any, items: Sequence[VerifyItem], end: float, per_answer_s: float) -> list[Verdict]:
    """A batch deadline for a verifier that has none of its own (`choice`, most plugins): items go in small chunks,
    shortest completion first, and those not started by `end` (a time.monotonic() instant) score 0 (`timeout`).
    A chunk already running may take `per_answer_s` past `end`; one still running then leaves its items unjudged
    (the verifier hangs: its fault, not the answers'), and so do the items after it."""
    size = max(4, 2 * int(getattr(getattr(verifier, "config", None), "workers", 2) or 2))  # keeps its workers busy
    order = sorted(range(len(items)), key=lambda i: len(items[i].completion or ""))
    out: list[Verdict | None] = [None] * len(items)
    stuck: Verdict | None = None
    for start in range(0, len(order), size):
        chunk = order[start:start + size]
        now = time.monotonic()
        if stuck is None and now >= end:
            for i in chunk:
                out[i] = Verdict(False, 0.0, None, "timeout", "batch deadline passed before it was checked")
            continue
        wait = math.ceil((max(0.0, end - now) + per_answer_s) * 10) / 10  # tenths: a readable detail
        found = [stuck] * len(chunk) if stuck else verify_checked(verifier, [items[i] for i in chunk], wait)
        for i, v in zip(chunk, found):
            out[i] = v
        if stuck is None and verifier_busy(verifier):
            stuck = found[0]
    return [v if v is not None else Verdict.infra_error("not judged") for v in out]


def verifier_busy(verifier: Any) -> bool:
    """Whether `verifier` has not yet returned from a call that overran its `verify_checked` deadline."""
    stuck = _BUSY.get(id(verifier))
    return stuck is not None and stuck.is_alive()


def from_caller(e: BaseException) -> BaseException:
    """`e`, marked as raised by the caller's signal handler while evalkit waited: `is_from_caller` then says so,
    and the handlers that keep a verifier's or a reward's own errors from reaching the caller pass it on."""
    try:
        e.__evalkit_from_caller__ = True  # type: ignore[attr-defined]
    except AttributeError:  # an exception without a __dict__
        pass
    return e


def is_from_caller(e: BaseException) -> bool:
    return getattr(e, "__evalkit_from_caller__", False) is True


def _own(e: BaseException) -> RuntimeError:
    """A KeyboardInterrupt or SystemExit a plugin raised on a thread of evalkit's, as the fault it is."""
    return RuntimeError(f"{type(e).__name__}: {e}" if str(e) else type(e).__name__)


class _StillBusy(Exception):
    """The verifier has not returned from an earlier call that overran its deadline."""


def _call_bounded(verifier: Any, items: list[VerifyItem], deadline_s: float | None) -> list[Any] | None:
    """verify_many's results as a list, or None when it is still running after `deadline_s`."""
    if deadline_s is None:
        return list(verifier.verify_many(items))
    stuck = _BUSY.get(id(verifier))
    if stuck is not None:
        if stuck.is_alive():
            raise _StillBusy
        del _BUSY[id(verifier)]
    out: dict[str, Any] = {}

    def call() -> None:
        try:
            out["verdicts"] = list(verifier.verify_many(items))
        except (Exception, SystemExit) as e:  # noqa: BLE001 - handed to the caller's thread
            out["error"] = e
        except BaseException as e:  # noqa: BLE001 - a KeyboardInterrupt here is the verifier's own (signals reach
            # the main thread only), not the user's Ctrl-C: a fault like any other
            out["error"] = _own(e)

    # a thread, not a process: a plugin need not pickle; one that hangs is left behind (daemon)
    worker = threading.Thread(target=call, daemon=True, name="evalkit-verify")
    worker.start()
    try:
        worker.join(deadline_s)
    except BaseException as e:
        # raised by the caller's own signal handler while this thread waited (its alarm, a watchdog): the
        # caller's to catch, not a verifier fault; the call goes on as one that overran
        _BUSY[id(verifier)] = worker
        raise from_caller(e)
    if worker.is_alive():
        _BUSY[id(verifier)] = worker
        return None
    if "error" in out:
        raise out["error"]
    return out["verdicts"]


def golds_for(verifier: Any, value: Any) -> tuple[Any, ...]:
    """A dataset value as the golds `verifier` accepts, read the way it declares (Capabilities.gold).

    A list or array (veRL datasets sometimes list several accepted answers, e.g. `["7", "7.0"]`) means
    any of them is accepted: each element is one gold, never the list joined into one. Under `as_is`
    the value is one gold, untouched. No gold in the row (None, "", NaN: a missing value in a numeric
    column, an empty list) gives (): the answer is unjudged, never compared with the text "nan".
    """
    if _no_gold(value):
        return ()
    kind = capabilities(verifier).gold
    if kind == "as_is":
        return (value,)
    if hasattr(value, "tolist") and not isinstance(value, str):  # numpy arrays and scalars from parquet
        value = value.tolist()
    values = _flatten(value) if isinstance(value, (list, tuple)) else [value]
    return tuple(gold for v in values if not _no_gold(v) and (gold := GOLD_READERS[kind](v)) is not None)


def readable_golds(verifier: Any, golds: Sequence[Any]) -> tuple[Any, ...]:
    """`golds` (several accepted answers) less those `verifier` cannot read (gold_problem), while one it can
    remains: `("B", "7")` for a choice task is "B" (an unreadable member would make every wrong answer
    unjudged); with none readable, all of them, so the fault shows."""
    if len(golds) < 2:
        return tuple(golds)
    kept = tuple(g for g in golds if gold_problem(verifier, g) is None)
    return kept or tuple(golds)


def best_verdict(found: Sequence[Verdict]) -> Verdict:
    """Of one answer's verdicts against each of its accepted golds (golds_for): a correct one, else an
    unjudged one (an accepted answer could not be checked, so wrong would be a guess), else one whose judge gave
    no reply (the rule's verdict stood in for it: the fault must show, so a rerun asks again), else the first."""
    return (next((v for v in found if v.correct), None) or next((v for v in found if v.correct is None), None)
            or next((v for v in found if v.judge is not None and v.judge.error), None) or found[0])


def _no_gold(value: Any) -> bool:
    if value is None or (isinstance(value, str) and not value):
        return True
    return isinstance(value, float) and value != value  # NaN


def _flatten(values: list | tuple) -> list[Any]:
    out: list[Any] = []
    for v in values:
        out.extend(_flatten(v) if isinstance(v, (list, tuple)) else [v])
    return out


def limit_options(verifier: Any, per_answer_s: float | None = None,
                  batch_deadline_s: float | None = None) -> dict[str, float]:
    """The limit options to build `verifier` (a factory) with: those it accepts, of those given."""
    given = {"per_answer_s": per_answer_s, "batch_deadline_s": batch_deadline_s}
    accepted = capabilities(verifier).limits
    return {k: v for k, v in given.items() if v is not None and k in accepted}


# name -> factory(**options) -> Verifier. Built-ins register where they are defined (their modules
# are imported on first use, so `import evalkit` stays light); plugins come from the entry points.
VERIFIERS: dict[str, Callable[..., Verifier]] = {}
BUILTIN_VERIFIERS = {
    "math": "evalkit.verifiers.math:MathVerifier",
    "choice": "evalkit.verifiers.choice:ChoiceVerifier",
    "code": "evalkit.verifiers.code:CodeVerifier",
    "judge": "evalkit.verifiers.judge:make_judge",
}


def register_verifier(name: str, factory: Callable[..., Verifier]) -> None:
    """Make `factory(**options)` the verifier called `name` (a plugin may call this at import).
    ValueError for a built-in's name: `math_reward` scoring with a plugin's verifier would be silent."""
    refuse_builtin_name("verifier", name, factory, BUILTIN_VERIFIERS)
    VERIFIERS[name] = factory


def _entry_points() -> dict[str, EntryPoint]:
    return plugin_entry_points(ENTRY_POINT_GROUP, BUILTIN_VERIFIERS)


def verifier_factory(name: str) -> Callable[..., Verifier]:
    """The factory registered as `name`, loading a built-in or a plugin on first use.

    Raises KeyError naming the known verifiers when there is none, and saying what failed when its
    module cannot be imported (a missing dependency is not an unknown name).
    """
    if "+" in name:
        inner, _, outer = name.rpartition("+")
        return Cascade(inner, outer)
    if name not in VERIFIERS:
        ep = find_entry_point(ENTRY_POINT_GROUP, BUILTIN_VERIFIERS, name)
        if ep is None:
            known = ", ".join(sorted(set(VERIFIERS) | set(_entry_points())))
            raise KeyError(f"unknown verifier {name!r} (known: {known})")
        kind = "built-in" if name in BUILTIN_VERIFIERS else f"plugin ({ep.value})"
        try:
            factory = load_entry_point(ep)
        except (Exception, SystemExit) as e:  # noqa: BLE001 - any import failure, a sys.exit too, is reported as it is
            raise KeyError(f"{kind} verifier {name!r} could not be loaded: {type(e).__name__}: {e}") from None
        VERIFIERS.setdefault(name, factory)
    return VERIFIERS[name]


def get_verifier(name: str, **options: Any) -> Verifier:
    """The verifier registered as `name`, built with `options` (a task spec's verifier options).

    `INNER+OUTER` (e.g. `math+judge`) is a cascade: see `Cascade`.
    Raises KeyError for a name that cannot be loaded or a verifier that fails as it is built (the
    message names it and what failed), TypeError / ValueError for options it refuses.
    """
    factory = verifier_factory(name)
    try:
        return factory(**options)
    except (KeyError, TypeError, ValueError, InputError):
        raise
    except (Exception, SystemExit) as e:  # noqa: BLE001 - a plugin failing (or exiting) as it starts: named
        ep = None if "+" in name else find_entry_point(ENTRY_POINT_GROUP, BUILTIN_VERIFIERS, name)
        kind = "built-in" if name in BUILTIN_VERIFIERS else f"plugin ({ep.value})" if ep else "registered"
        raise KeyError(f"{kind} verifier {name!r} could not be built: {type(e).__name__}: {e}") from None


def verifier_names() -> list[str]:
    """Every verifier name known here: built-ins, registered ones and installed plugins."""
    return sorted(set(VERIFIERS) | set(_entry_points()))


@dataclass(frozen=True)
class Cascade:
    """The factory of `INNER+OUTER` (e.g. `math+judge`): OUTER's factory gets the built INNER verifier
    as `inner=`, and its own options from the option named after it (`judge: {...}`); the rest of the
    options build INNER. Any registered verifier whose factory takes `inner` can wrap another. INNER
    reads the answers, so the cascade declares INNER's capabilities, with the limits OUTER takes too: a limit
    option goes to each of the two that takes it (a judge bounds its questions by the batch deadline)."""

    inner: str
    outer: str

    @property
    def capabilities(self) -> Capabilities:
        inner = capabilities(verifier_factory(self.inner))
        return replace(inner, limits=inner.limits | self._outer_limits())

    def _outer_limits(self) -> frozenset[str]:
        found = getattr(verifier_factory(self.outer), "capabilities", None)
        return found.limits if isinstance(found, Capabilities) else frozenset()

    def __call__(self, **options: Any) -> Verifier:
        own = options.pop(self.outer, None) or {}
        if not isinstance(own, dict):
            raise ValueError(f"verifier {self.inner}+{self.outer!r}: option {self.outer!r} must be a mapping "
                             "of its options")
        takes = self._outer_limits()
        inner_takes = capabilities(verifier_factory(self.inner)).limits
        for name in LIMIT_OPTIONS:
            if name in options and name in takes:
                own = {name: options[name], **own}
                if name not in inner_takes:
                    del options[name]
        inner = get_verifier(self.inner, **options)
        try:
            return get_verifier(self.outer, inner=inner, **own)
        except TypeError as e:  # the outer verifier says so itself: it takes no `inner`
            if "inner" not in str(e):
                raise
            raise ValueError(f"verifier {self.inner}+{self.outer}: {self.outer!r} wraps no other verifier (it takes no "
                             "`inner`); after a '+' goes one that does, such as judge") from None


def rules_verifier(name: str, **options: Any) -> Verifier:
    """The verifier that reads the answers: `name` itself, or INNER of a cascade `INNER+OUTER` (built
    with the options meant for it). maj@k's equivalence and the trace's candidate answers use it,
    so a judge is never asked about them."""
    wrapped = "+" in name
    while "+" in name:
        name, _, outer = name.rpartition("+")
        options.pop(outer, None)
    if wrapped:  # a limit the cascade took for its judge (choice+judge's batch_deadline_s) is not the rules'
        takes = capabilities(verifier_factory(name)).limits
        options = {k: v for k, v in options.items() if k not in LIMIT_OPTIONS or k in takes}
    return get_verifier(name, **options)


def option_problem(verifier: str, error: Exception) -> str:
    """What is wrong with a verifier's options, in the user's words: for an option it does not take
    (a TypeError from a dataclass or a keyword signature), which option and the ones it takes."""
    unknown = re.search(r"unexpected keyword argument '(\w+)'", str(error))
    if not unknown:
        return str(error)
    taken = _options_taken(verifier.rpartition("+")[0] or verifier, str(error))
    known = f" (it takes: {', '.join(taken)})" if taken else ""
    return f"the {verifier} verifier takes no option {unknown.group(1)!r}{known}"


def _options_taken(verifier: str, error: str) -> list[str]:
    """The option names of `verifier`'s factory: its keyword parameters, and the fields of the options
    dataclass its **options go to (the `Options.__init__()` the error names), where they can be found."""
    try:
        factory = verifier_factory(verifier)
    except KeyError:
        return []
    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        params = []
    names = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    holder = re.search(r"(\w+)\.__init__\(\)", error)
    module = sys.modules.get(getattr(factory, "__module__", None) or "")
    options = getattr(module, holder.group(1), None) if holder and module else None
    if is_dataclass(options):
        names += [f.name for f in fields(options) if f.init]
    return sorted(set(names))
