"""The one door from rewards to the verifiers: bounded, cached, and never raising.

Every correctness reward (and every adapter) judges its batch here. The verifier's worker pool
enforces the per-answer limit and the batch deadline, cheapest answers first, outside the trainer's
process. This module adds what a trainer needs around that: verdicts for identical inputs are reused
within the process (so `math_reward` and `cosine_length_reward` in one step verify once), calls
made at the same time from several threads are checked together in one batch (see _Group), and any
failure of the machinery itself becomes an unjudged verdict (`correct=None`), never an exception.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Sequence

from evalkit.types import Verdict
from evalkit.verifiers.base import (LONGEST_S, VerifyItem, from_caller, is_from_caller, limit_options,
                                    verifier_factory, verify_checked, verify_in_chunks)

log = logging.getLogger("evalkit.rewards")

PER_ANSWER_S = 1.0  # an answer that takes longer to check scores 0 (`timeout`)
BATCH_DEADLINE_S = 10.0  # answers still unchecked when the batch has taken this long score 0 (`timeout`)
_CACHE_SIZE = 16384
BACKSTOP_S = 30.0  # beyond its own limits, how long a verifier that keeps its deadline itself is waited for


@dataclass(frozen=True)
class Limits:
    """How long checking may take.

    per_answer_s: wall-clock seconds one answer may take before it scores 0 with reason `timeout`.
    batch_deadline_s: seconds the whole batch may take; answers still unchecked then score 0 (`timeout`).
    """

    per_answer_s: float = PER_ANSWER_S
    batch_deadline_s: float = BATCH_DEADLINE_S

    def __post_init__(self) -> None:
        # `float("inf")` (or 1e12) asks for no limit: held to LONGEST_S, which no clock or wait overflows
        for name in ("per_answer_s", "batch_deadline_s"):
            value = getattr(self, name)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value > LONGEST_S:
                object.__setattr__(self, name, LONGEST_S)

    def problem(self) -> str | None:
        """What is wrong with these limits (a number of seconds above 0 each), or None."""
        for name in ("per_answer_s", "batch_deadline_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= LONGEST_S:
                return f"option {name!r}: expected a number of seconds above 0, got {value!r}"
        return None




_verifiers: dict[tuple, Any] = {}
_cache: OrderedDict[tuple, Verdict] = OrderedDict()
_lock = threading.Lock()
_turn = threading.Condition(_lock)  # wakes the calls waiting for a round (see _Group)


class _Call:
    """One `judge` call's items still to check (`todo`), and the verdicts it has so far."""

    def __init__(self, todo: dict[tuple, VerifyItem]) -> None:
        self.wanted = len(todo)
        self.todo = todo
        self.results: dict[tuple, Verdict] = {}
        self.leads = False


class _Group:
    """The calls of one process that check with the same verifier, options and limits. Calls made at
    once (OpenRLHF's one call per sample from many threads, TRL's async rewards of one step) are
    checked together: one call at a time leads a round, which checks everything the waiting calls
    want in one batch (one deadline, the verifier's workers side by side), and answers already in
    the running round are not checked twice. A call waits for at most the round before its own."""

    def __init__(self) -> None:
        self.waiting: list[_Call] = []
        self.round: dict[tuple, list[_Call]] | None = None  # the running round's keys -> calls riding on it
        self.led = False


_groups: dict[tuple, _Group] = {}
_said: set[str] = set()  # the bad options already logged


def judge(verifier: str, items: Sequence[VerifyItem], limits: Limits = Limits(),
          options: dict[str, Any] | None = None) -> list[Verdict]:
    """One Verdict per item, in order. Never raises.

    verifier: a registered verifier name (`math`, `choice`, `code`, or a plugin).
    limits: the per-answer limit and the batch deadline.
    options: the verifier's options (a task spec's `verifier_options`).
    A fault of the machinery (the verifier cannot be loaded, its pool cannot start, it raised)
    gives `Verdict.infra_error` for the items it affects: unjudged, not wrong.
    """
    if not items:
        return []
    bad = limits.problem()
    if bad:  # before the cache: a verdict reached under other limits is no answer to these
        say_once(f"evalkit: the {verifier} reward's limits are not usable ({bad}); every answer it is given is "
                  "unjudged")
        return [Verdict.infra_error(f"{verifier} verifier failed: {bad}")] * len(items)
    try:
        options_key = json.dumps(options or {}, sort_keys=True, default=str)
    except (TypeError, ValueError):
        options_key = repr(options)
    # the per-answer limit is part of the question (a program that passed in 5 s may fail in 0.5 s)
    keys = [_key(verifier, options_key, limits.per_answer_s, item) for item in items]
    out: list[Verdict | None] = [None] * len(items)
    with _lock:
        for i, key in enumerate(keys):
            hit = _cache.get(key)
            if hit is not None:
                _cache.move_to_end(key)
                out[i] = hit
    # Identical items in one batch (real sampling repeats answers) are checked once.
    todo: dict[tuple, int] = {}
    for i, key in enumerate(keys):
        if out[i] is None and key not in todo:
            todo[key] = i
    if todo:
        try:
            done = _together(verifier, options_key, options or {}, limits, {k: items[i] for k, i in todo.items()})
        except Exception as e:  # noqa: BLE001 - a reward must never raise into the trainer (limits that do not hash)
            if is_from_caller(e):
                raise
            log.exception("evalkit: the %s verifier could not be run", verifier)
            done = {k: Verdict.infra_error(f"{verifier} verifier failed: {type(e).__name__}: {e}") for k in todo}
        for i, key in enumerate(keys):
            if out[i] is None:
                out[i] = done.get(key)
    return [v if v is not None else Verdict.infra_error("not judged") for v in out]


def _together(verifier: str, options_key: str, options: dict[str, Any], limits: Limits,
              todo: dict[tuple, VerifyItem]) -> dict[tuple, Verdict]:
    """The verdicts of `todo`, checked in a round with those of the calls made at the same time."""
    call = _Call(todo)
    with _turn:
        group = _groups.setdefault((os.getpid(), verifier, options_key, limits), _Group())
        if group.round is not None:  # ride on the running round for what it already checks
            for key in [k for k in call.todo if k in group.round]:
                group.round[key].append(call)
                del call.todo[key]
        if call.todo:
            group.waiting.append(call)
            if not group.led:
                group.led = call.leads = True
        try:
            while len(call.results) < call.wanted and not call.leads:
                _turn.wait()
        except BaseException as e:  # interrupted while waiting (the caller's signal handler): leave, pass on the lead
            if call in group.waiting:
                group.waiting.remove(call)
            if call.leads:
                _hand_over(group)
            raise from_caller(e)
    if call.leads:
        try:
            _lead_round(group, verifier, options_key, options, limits)
        finally:
            with _turn:
                _hand_over(group)
    return call.results


def _lead_round(group: _Group, verifier: str, options_key: str, options: dict[str, Any], limits: Limits) -> None:
    """Check everything the waiting calls want in one batch, and hand each its verdicts."""
    with _turn:
        calls, group.waiting = group.waiting, []
        wanted: dict[tuple, VerifyItem] = {}
        for c in calls:
            wanted.update(c.todo)
        done = {k: _cache[k] for k in wanted if k in _cache}  # checked by an earlier round meanwhile
        keys = [k for k in wanted if k not in done]
        group.round = {k: [] for k in keys}
    fresh: list[Verdict] = []
    try:
        fresh = _run(verifier, options_key, options, [wanted[k] for k in keys], limits) if keys else []
    finally:
        done.update(zip(keys, fresh))
        with _turn:
            for key, verdict in zip(keys, fresh):
                if _keeps(verdict):
                    _cache[key] = verdict
            while len(_cache) > _CACHE_SIZE:
                _cache.popitem(last=False)
            riders = group.round or {}
            group.round = None
            for c in calls:
                c.results.update((k, done.get(k) or Verdict.infra_error("not judged")) for k in c.todo)
                c.todo = {}
            for key, cs in riders.items():
                for c in cs:
                    c.results[key] = done.get(key) or Verdict.infra_error("not judged")
            _turn.notify_all()


def _keeps(verdict: Verdict) -> bool:
    """Whether a verdict is the answer's for good: not one that load decided (timeout, error), nor one a judge
    gave no readable reply for (unparsed, cut at max_tokens, no reply), which the judge's own cache keeps neither."""
    if verdict.reason in ("timeout", "error"):
        return False
    return verdict.judge is None or verdict.judge.says is not None


def _hand_over(group: _Group) -> None:
    """The lead passes to the first waiting call, if any (called holding the lock)."""
    group.led = bool(group.waiting)
    if group.waiting:
        group.waiting[0].leads = True
    _turn.notify_all()


def _run(verifier: str, options_key: str, options: dict[str, Any], items: list[VerifyItem],
         limits: Limits) -> list[Verdict]:
    """The verdicts of `items`, held to the Verifier contract (`verify_checked`): a verifier that
    raises, hangs, or returns what is not one Verdict per item leaves its items unjudged."""
    t0 = time.perf_counter()
    try:
        impl, native_deadline = _verifier(verifier, options_key, options, limits)
    except (Exception, SystemExit) as e:  # noqa: BLE001 - a reward must never raise into (or end) the trainer
        if isinstance(e, (ValueError, TypeError)):  # a bad option: one line, once (not a traceback every step)
            say_once(f"evalkit: the {verifier} verifier cannot be built ({e}); every answer it is given is unjudged")
        else:
            log.exception("evalkit: the %s verifier failed; %d answers are unjudged", verifier, len(items))
        ms = (time.perf_counter() - t0) * 1e3
        return [Verdict.infra_error(f"{verifier} verifier failed: {type(e).__name__}: {e}", ms=ms)] * len(items)
    if native_deadline:  # it keeps the batch deadline itself; the backstop catches one that does not
        verdicts = verify_checked(impl, items, limits.batch_deadline_s + limits.per_answer_s + BACKSTOP_S)
    else:
        left = limits.batch_deadline_s - (time.perf_counter() - t0)
        verdicts = verify_in_chunks(impl, items, time.monotonic() + left, limits.per_answer_s)
    faults = [v for v in verdicts if v.correct is None and v.reason == "error"]
    if faults:
        log.error("evalkit: the %s verifier left %d of %d distinct answers unjudged: %s", verifier, len(faults),
                  len(items), faults[0].detail)
    return verdicts


def _verifier(name: str, options_key: str, options: dict[str, Any], limits: Limits) -> tuple[Any, bool]:
    """The verifier built with the reward's limits, which its worker pool (or sandbox) enforces
    outside this process, and whether it enforces the batch deadline itself (Capabilities.limits)."""
    key = (name, options_key, limits)
    with _lock:
        found = _verifiers.get(key)
    if found is None:
        factory = verifier_factory(name)
        spelled = limit_options(factory, limits.per_answer_s, limits.batch_deadline_s)
        found = (factory(**{**options, **spelled}), "batch_deadline_s" in spelled)
        with _lock:
            found = _verifiers.setdefault(key, found)
    return found


def _digest(value: Any) -> tuple[int, int]:
    # Python's string hash (cached on the string, so a second reward over the same completions
    # pays nothing) plus the length: keys stay small, and a collision is astronomically unlikely.
    if not isinstance(value, str):
        try:
            value = json.dumps(value, sort_keys=True, default=str)
        except (TypeError, ValueError):  # a key that is no string, a float NaN... or an int past Python's digit limit
            try:
                value = repr(value)
            except Exception:  # noqa: BLE001 - that int's repr raises too: its pickle, else this object alone
                try:
                    value = pickle.dumps(value)
                except Exception:  # noqa: BLE001
                    value = f"{type(value).__qualname__}@{id(value)}"
    return hash(value), len(value)


def say_once(line: str, level: int = logging.ERROR) -> None:
    """Log `line` (an error unless `level` says otherwise) the first time this process says it: a bad option
    or a data note, not a line every step."""
    with _lock:
        if line in _said:
            return
        _said.add(line)
    log.log(level, "%s", line)


def _key(verifier: str, options_key: str, per_answer_s: float, item: VerifyItem) -> tuple:
    # the think format decides where the answer is, so the same text may get another verdict under another
    return (verifier, options_key, per_answer_s, _digest(item.completion or ""), _digest(item.gold),
            item.finish_reason, bool(item.think_open), _digest(item.problem or ""), item.think_format)


def clear_cache() -> None:
    """Forget reused verdicts (benchmarks call this to measure fresh batches)."""
    with _lock:
        _cache.clear()


def warm_up(verifier: str = "math") -> None:
    """Start the verifier's worker processes now, without waiting for them, so that the first
    training batch does not pay for their start (call it before loading the model)."""
    try:
        start = getattr(verifier_factory(verifier), "warm_up", None)
        if start is not None:
            start()
    except Exception:  # noqa: BLE001 - warming up is an optimisation, never a failure
        log.exception("evalkit: could not warm up the %s verifier", verifier)
