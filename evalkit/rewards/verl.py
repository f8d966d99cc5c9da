"""veRL adapter: evalkit's verifiers as veRL's custom reward function.

Point veRL at this file (two config lines):

    custom_reward_function.path=<site-packages>/evalkit/rewards/verl.py
    custom_reward_function.name=compute_score

(`python -c "import evalkit.rewards.verl as m; print(m.__file__)"` prints the path)

or, with `reward_model.reward_manager=batch`, `custom_reward_function.name=compute_score_batch`, which
checks the whole batch at once (cheapest first, under one deadline) and is much faster; or, with veRL's
reward loop (`reward_model.use_reward_loop=True`), `custom_reward_function.name=compute_score_async`:
the loop awaits one call per response, all of a batch at once, and `compute_score_async` gathers
the calls into batches of at most `CONCURRENCY.limit` (`EVALKIT_VERL_CONCURRENCY`, default 64), each
checked like `compute_score_batch` (one deadline, cheapest first) in a thread, so the loop's event
loop never blocks and slow answers do not queue one behind another.

Routing: `extra_info["verifier"]` when the row carries it (what `evalkit export --format verl`
writes), else a code-test JSON ground truth means `code`, else the data source's name
(`DATA_SOURCE_ROUTES`), else `math`. veRL cannot carry None, so an unjudged answer scores 0.0 and is
counted in the `unjudged` field, which veRL logs with the other fields of the returned dict.

A judge for what the rules cannot read: `reward_kwargs` `judge_model` and `judge_base_url` (or the
environment's EVALKIT_JUDGE_MODEL / EVALKIT_JUDGE_BASE_URL) make every row a rule-then-judge cascade
(code rows keep their tests' verdict), with at most `judge_concurrency` questions in flight and none
past the batch deadline; the judge reads `extra_info["problem"]` (what `evalkit export` writes) or
`extra_info["question"]`. A judge fault (server down or hung) is counted in `unjudged`; a reply
that does not parse keeps the rule's 0; a flip is counted in `judge_flipped`.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import numbers
import os
import re
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Sequence

from evalkit.rewards._correctness import (BadOptions, answer_limit, is_cascade, judge_reward_options, one_row_options,
                                         verdicts, verdicts_side_by_side)
from evalkit.rewards._inputs import flag, is_code_tests
from evalkit.rewards._judge import BATCH_DEADLINE_S, Limits, say_once
from evalkit.types import Verdict
from evalkit.verifiers.base import capabilities, get_verifier, is_from_caller, verifier_factory

log = logging.getLogger("evalkit.rewards")

# data_source pattern -> verifier; first match wins.
DATA_SOURCE_ROUTES: list[tuple[str, re.Pattern]] = [
    # `code` ending a word's start too (bigcodebench, DeepCoder, OpenCodeReasoning, KodCode), not in unicode,
    # encoded, decode; apps, taco and lcb (lcbv5) as words of their own (not perhaps)
    ("code", re.compile(r"humaneval|mbpp|(?<![a-z])(?!unicode|encod|decod)[a-z]*cod(?:e|ing)"
                        r"|(?<![a-z])(?:apps|taco|lcb(?:v[0-9]+)?)(?![a-z])", re.I)),
    # arc as a word of its own: allenai/ai2_arc, arc_challenge, ARC-Easy (not research, search)
    ("choice", re.compile(r"gpqa|mmlu|(?<![a-z])arc(?![a-z])|choice|multiple", re.I)),
    ("math", re.compile(r".")),
]


def compute_score(data_source: str, solution_str: str, ground_truth: Any, extra_info: dict | None = None,
                  **kwargs: Any) -> dict[str, Any]:
    """Score one response, the way veRL's naive reward manager calls a custom reward function.

    data_source: the row's `data_source` (a task name such as `math500`; routes the verifier).
    solution_str: the decoded response.
    ground_truth: `reward_model.ground_truth`: the gold answer, or code-test JSON for code.
    extra_info: the row's `extra_info`; `verifier`, `think_open`, `think_format` and `finish_reason` are read.
    Returns `{"score", "acc", "pred", "reason", "unjudged"}`: score is the reward (0.0 when
    unjudged), acc 1.0/0.0, pred the extracted answer ("" when none).
    """
    return compute_score_batch([data_source], [solution_str], [ground_truth], [extra_info], **kwargs)[0]


class Concurrency:
    """The bound on `compute_score_async`: at most `limit` responses are being checked at once.
    `in_flight` and `peak` are for monitoring (and the tests). A plain class, not a dataclass: veRL
    may load this file as a module it never registers, where dataclasses cannot resolve types."""

    def __init__(self, limit: int) -> None:
        self.limit, self.in_flight, self.peak = limit, 0, 0
        self._lock = threading.Lock()
        self._batchers: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._executor: ThreadPoolExecutor | None = None

    def batcher(self) -> "_Batcher":
        """This event loop's batcher (veRL may run one loop per reward worker)."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if loop not in self._batchers:
                self._batchers[loop] = _Batcher(self)
            return self._batchers[loop]

    def executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self.limit, thread_name_prefix="evalkit-verl")
            return self._executor

    def enter(self, n: int = 1) -> None:
        with self._lock:
            self.in_flight += n
            self.peak = max(self.peak, self.in_flight)

    def leave(self, n: int = 1) -> None:
        with self._lock:
            self.in_flight -= n


def _concurrency_from_env() -> int:
    """EVALKIT_VERL_CONCURRENCY, else 64: an empty value is unset, and one that is no whole number is 64 with a
    warning (a ValueError here failed veRL's import of the reward function)."""
    text = os.environ.get("EVALKIT_VERL_CONCURRENCY", "").strip()
    if not text:
        return 64
    try:
        return max(1, int(text))
    except ValueError:
        log.warning("evalkit: EVALKIT_VERL_CONCURRENCY=%r is not a whole number: 64 is used", text)
        return 64


CONCURRENCY = Concurrency(_concurrency_from_env())
_GRACE_S = 5.0  # past the batch deadline, the awaiting side stops waiting for a check that never returned
_LINGER_S = 0.01  # how long the first response of a batch waits for the others the loop is about to send


class _Batcher:
    """Gathers the responses awaited at once on one event loop into batches of at most `limit`, each
    checked by one `compute_score_batch` call in a worker thread, one batch at a time per set of
    options. So a batch's answers share one deadline and the verifier's workers side by side,
    cheapest first: one call per response would queue them at the worker pool one by one, and slow
    answers would add up until the quick ones behind them were given up on."""

    def __init__(self, bound: Concurrency) -> None:
        self.bound = bound
        self.pending: dict[tuple, list[tuple[tuple, asyncio.Future]]] = {}  # options' key -> (response, future)
        self.options: dict[tuple, dict[str, Any]] = {}  # options' key -> compute_score_batch's keyword arguments
        self.runners: dict[tuple, asyncio.Task] = {}

    def submit(self, key: tuple, options: dict[str, Any], response: tuple) -> asyncio.Future:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self.pending.setdefault(key, []).append((response, future))
        self.options[key] = options
        runner = self.runners.get(key)
        if runner is None or runner.done():
            self.runners[key] = loop.create_task(self._run(key))
        return future

    async def _run(self, key: tuple) -> None:
        queue = self.pending[key]
        batch: list[tuple[tuple, asyncio.Future]] = []
        try:
            while queue:
                if len(queue) < self.bound.limit:  # let the rest of the loop's responses arrive
                    await asyncio.sleep(_LINGER_S)
                batch = [(r, f) for r, f in queue[:self.bound.limit] if not f.done()]  # done: its caller left
                del queue[:self.bound.limit]
                if batch:
                    await self._check(self.options[key], batch)
        finally:  # cancelled with the loop: no caller may wait for a batch that will never come back
            for _, future in batch + queue:
                if not future.done():
                    future.cancel()

    async def _check(self, kwargs: dict[str, Any], batch: list) -> None:
        partial, deadline = kwargs["partial"], kwargs["batch_deadline_s"]
        columns = [list(c) for c in zip(*(response for response, _ in batch))]
        self.bound.enter(len(batch))
        try:
            check = asyncio.get_running_loop().run_in_executor(
                self.bound.executor(), lambda: compute_score_batch(*columns, **kwargs))
            # limits that are no number are compute_score_batch's to refuse (one line, once), not a TypeError here
            limits = Limits(batch_deadline_s=deadline)
            wait = limits.batch_deadline_s if limits.problem() is None else BATCH_DEADLINE_S
            rows = await asyncio.wait_for(check, wait + _GRACE_S)
        except asyncio.TimeoutError:
            verdict = Verdict(correct=False, score=0.0, answer=None, reason="timeout",
                              detail="the check did not come back in time")
            rows = [_judge_keys(_result(verdict, partial), kwargs, columns[3]) for _ in batch]
        except Exception as e:  # noqa: BLE001 - never raise into the trainer
            log.exception("evalkit: veRL compute_score_async failed")
            verdict = Verdict.infra_error(f"compute_score_async failed: {type(e).__name__}")
            rows = [_judge_keys(_result(verdict, partial), kwargs, columns[3]) for _ in batch]
        finally:
            self.bound.leave(len(batch))
        for (_, future), row in zip(batch, rows):
            if not future.done():
                future.set_result(row)


async def compute_score_async(data_source: str, solution_str: str, ground_truth: Any, extra_info: dict | None = None,
                              *, per_answer_s: float | None = None, batch_deadline_s: float = BATCH_DEADLINE_S,
                              partial: bool = False, verifier_options: dict[str, Any] | None = None,
                              **kwargs: Any) -> dict[str, Any]:
    """`compute_score` as a coroutine, for veRL's reward loop (which awaits every response of a batch
    at once). Arguments and result as for `compute_score_batch` (the judge options included); veRL's
    extra keyword arguments (`reward_router_address`, `reward_model_tokenizer`) are accepted and unused.

    The responses awaited at once are checked together, in batches of at most `CONCURRENCY.limit`,
    each batch by `compute_score_batch` in a worker thread, so the event loop stays free and a batch's
    answers share one deadline. Same rules as the synchronous adapters: never raises; an unjudged
    answer scores 0.0 with `unjudged` 1; an answer too slow to check scores 0.0 with reason
    `timeout`, and if a batch has not come back `batch_deadline_s` + 5 s after it started, its
    responses get that too.
    """
    judge = {k: kwargs[k] for k in ("judge_model", "judge_base_url", "judge_concurrency") if k in kwargs}
    options = {"per_answer_s": per_answer_s, "batch_deadline_s": batch_deadline_s, "partial": partial, **judge,
               "verifier_options": verifier_options}
    # responses are batched by their options; a dict of options is keyed by its JSON
    key = tuple(sorted((k, json.dumps(v, sort_keys=True, default=repr)) for k, v in options.items()))
    try:
        future = CONCURRENCY.batcher().submit(key, options, (data_source, solution_str, ground_truth, extra_info))
        return await future
    except asyncio.CancelledError:
        raise  # the loop is shutting down: not ours to swallow
    except Exception as e:  # noqa: BLE001 - never raise into the trainer
        log.exception("evalkit: veRL compute_score_async failed")
        return _judge_keys(_result(Verdict.infra_error(f"compute_score_async failed: {type(e).__name__}"), partial),
                           judge, [extra_info])


def compute_score_batch(data_sources: Sequence[str], solution_strs: Sequence[str], ground_truths: Sequence[Any],
                        extra_infos: Sequence[dict | None] | None = None, *, per_answer_s: float | None = None,
                        batch_deadline_s: float = BATCH_DEADLINE_S, partial: bool = False,
                        judge_model: str | None = None, judge_base_url: str | None = None,
                        judge_concurrency: int = 8, verifier_options: dict[str, Any] | None = None,
                        **kwargs: Any) -> list[dict[str, Any]]:
    """Score a batch, the way veRL's batch reward manager calls it; one dict per response, in order.

    partial: a response scores its verdict's `score` (for code, the fraction of tests passed) rather
        than all-or-nothing.
    per_answer_s / batch_deadline_s: as for `math_reward` (veRL's `reward_kwargs` may set them); without
        `per_answer_s`, a row whose verifier options give `timeout_s` (a code task) is held to that, as
        `evalkit run` holds it, else 1 s.
    judge_model / judge_base_url / judge_concurrency: a judge (see the module).
    verifier_options: the verifier's options for rows whose `extra_info` has no `verifier_options` of
        its own (`evalkit export` writes the task's there, as its spec gives them).
    Never raises: a failure scores the affected responses 0.0 with `unjudged` 1.
    """
    n = len(solution_strs)
    extras = [e if isinstance(e, dict) else {} for e in (list(extra_infos) if extra_infos is not None else [None] * n)]
    extras = (extras + [{}] * n)[:n]
    results: list[Verdict | None] = [None] * n
    named = judge_model  # the caller's own: judge_reward_options reads the environment where it names none
    judge_model = judge_model or os.environ.get("EVALKIT_JUDGE_MODEL")
    routes: dict[str, list[int]] = {}
    golds: list[Any] = []
    try:
        row_options: list[dict[str, Any] | BadOptions | None] = []
        ground_truths = list(ground_truths)
        if len(ground_truths) != n or len(data_sources) != n:  # the caller's slip: each row that has its gold judged
            say_once("evalkit: compute_score_batch got ground truths or data sources not one per response; a response "
                     "without its own ground truth is unjudged, one without its data source is routed by its ground "
                     "truth", logging.WARNING)
        for i in range(n):
            gold = ground_truths[i] if i < len(ground_truths) else None
            verifier = _route(str(data_sources[i]) if i < len(data_sources) else "", gold, extras[i])
            row_options.append(_options(extras[i].get("verifier_options"), verifier_options))
            routes.setdefault((verifier, json.dumps(row_options[-1], sort_keys=True, default=str)), []).append(i)
            golds.append(gold)
        groups = []
        for (verifier, _), idx in routes.items():
            columns = {"finish_reason": [extras[i].get("finish_reason") for i in idx],
                       # a row without think_open: the batch's completions say whether the template opened it
                       "think_open": [flag(extras[i].get("think_open")) for i in idx],
                       "think_format": [extras[i].get("think_format") for i in idx],
                       "problem": [extras[i].get("problem") or extras[i].get("question") for i in idx]}
            options = row_options[idx[0]]
            limits = Limits(answer_limit(per_answer_s, options), batch_deadline_s)
            if isinstance(options, BadOptions):  # as a column of one: its rows unjudged, the reason in their detail
                options = [options] * len(idx)
            elif judge_model or is_cascade(verifier):  # the cascade leaves what it cannot read (code verdicts) to rules
                # a row exported from a task judged so names the cascade itself (math+judge): wrapped once
                verifier, options = f"{verifier.removesuffix('+judge')}+judge", judge_reward_options(
                    named, judge_base_url, judge_concurrency, rules=options)
            groups.append(functools.partial(verdicts, verifier, [solution_strs[i] for i in idx],
                                            [golds[i] for i in idx], columns, limits, options))
        for idx, found in zip(routes.values(), verdicts_side_by_side(groups)):  # one deadline for the batch
            for i, v in zip(idx, found):
                results[i] = v
    except Exception as e:  # noqa: BLE001 - never raise into the trainer
        if is_from_caller(e):
            raise
        log.exception("evalkit: veRL compute_score failed")
        results = [r or Verdict.infra_error(f"compute_score failed: {type(e).__name__}") for r in results]
    judged = bool(judge_model) or any(is_cascade(verifier) for verifier, _ in routes)
    out = []
    for i, v in enumerate(results):
        v = v or Verdict.infra_error("not judged")
        row = _result(v, partial)
        if judged:  # every row of a batch has the same keys: veRL logs them as columns
            row["judge_flipped"] = 1.0 if v.judge is not None and v.judge.flipped else 0.0
        out.append(row)
    return out


def _judge_keys(row: dict[str, Any], judge: dict[str, Any], extras: Sequence[Any] = ()) -> dict[str, Any]:
    # a row the judge never saw still has the judge's key when one is configured (or a row names the cascade as its
    # verifier): veRL logs columns
    named = (e.get("verifier") for e in extras if isinstance(e, dict))
    if judge.get("judge_model") or os.environ.get("EVALKIT_JUDGE_MODEL") or \
            any(isinstance(v, str) and is_cascade(v) for v in named):
        row["judge_flipped"] = 0.0
    return row


def _result(v: Verdict, partial: bool) -> dict[str, Any]:
    """veRL's dict for one verdict: None cannot travel, so unjudged is 0.0 and flagged. partial: the
    verdict's own score (the fraction of tests passed for code; 1/0 for an answer)."""
    score = 0.0 if v.correct is None else (float(v.score) if partial else (1.0 if v.correct else 0.0))
    return {"score": score, "acc": 1.0 if v.correct else 0.0, "pred": v.answer or "",
            "reason": v.reason, "unjudged": 1.0 if v.correct is None else 0.0}


def _options(row: Any, default: dict[str, Any] | None) -> dict[str, Any] | BadOptions | None:
    """A row's verifier options: its own, a mapping or its JSON text as a TRL file's column holds it (a
    parquet struct column gives every row every file's keys, null where its task has none: those are left
    out), else `default`; a BadOptions (its row unjudged, saying why) where the row's cannot be read."""
    own = one_row_options(row)
    return default if own is None and not isinstance(row, dict) else own


def _route(data_source: str, ground_truth: Any, extra_info: dict) -> str:
    named = extra_info.get("verifier")
    if isinstance(named, str) and named:
        return named
    if is_code_tests(ground_truth):
        return "code"
    *named, (default, _) = DATA_SOURCE_ROUTES
    for verifier, pattern in named:
        if pattern.search(data_source) and _gold_fits(verifier, ground_truth):
            return verifier
    return default


def _gold_fits(verifier: str, ground_truth: Any) -> bool:
    """Whether a name's route suits the row's gold: a name is a guess (arc_math), the gold is not.

    A verifier that reads its gold as text and refuses this one (choice, for a gold that names no option
    letter: 42, "1/2") could only leave the row unjudged: it is judged by the default route, and the log says
    so once. A list fits when each member does; a whole number keeps the route (an option's index, MMLU's
    `answer: 2`, is said unjudged rather than scored as a number). A verifier whose gold is a structure (code's
    tests) keeps its route whatever the gold: a code row's gold may be a reference program, which math would
    score wrong, not unjudged.
    """
    if capabilities(verifier_factory(verifier)).gold != "text":
        return True
    golds = ground_truth.tolist() if hasattr(ground_truth, "tolist") else ground_truth
    golds = list(golds) if isinstance(golds, (list, tuple)) else [golds]
    try:
        check = _built(verifier).check_gold
        for gold in golds:
            check(gold)
        return True
    except (ValueError, TypeError):
        pass
    if any(isinstance(g, numbers.Integral) and not isinstance(g, bool) for g in golds):
        return True
    say_once(f"evalkit: a data_source that reads as {verifier} has a ground truth its verifier cannot read "
              f"({str(ground_truth)[:40]!r}); those rows are judged as {DATA_SOURCE_ROUTES[-1][0]} (name the "
              f"verifier in extra_info['verifier'] to choose)", logging.WARNING)
    return False


@functools.lru_cache(maxsize=None)
def _built(verifier: str) -> Any:
    return get_verifier(verifier)

