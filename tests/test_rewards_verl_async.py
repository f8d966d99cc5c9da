"""`compute_score_async`, the way veRL's reward loop calls it: every response of a batch awaited at
once, with a hung answer and a worker that crashes mid-check."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest

from evalkit.rewards import verl
from evalkit.rewards.verl import compute_score, compute_score_async

R1 = "<think>\nadding up\n</think>\nSo the answer is $\\boxed{%s}$."
HANG = "</think>$\\boxed{9^{9^{9^{9}}}}$"  # sympy would evaluate this tower forever


@pytest.fixture
def bound(monkeypatch):
    """A fresh bound of 4, so the test sees it reached and never passed."""
    fresh = verl.Concurrency(4)
    monkeypatch.setattr(verl, "CONCURRENCY", fresh)
    return fresh


async def gather_all(items, **kwargs):
    return await asyncio.gather(*(compute_score_async("math500", s, g, None, reward_router_address=None,
                                                      reward_model_tokenizer=None, **kwargs) for s, g in items))


def test_many_at_once_are_bounded_and_equal_the_synchronous_scores(bound):
    items = [(R1 % (i % 7), str(i % 5)) for i in range(120)]
    out = asyncio.run(gather_all(items))
    assert out == [compute_score("math500", s, g) for s, g in items]
    assert [o["score"] for o in out] == [1.0 if i % 7 == i % 5 else 0.0 for i in range(120)]
    assert bound.peak == 4 and bound.in_flight == 0


def test_a_hung_answer_times_out_alone_and_the_event_loop_stays_free(bound):
    items = [(HANG, "1")] + [(R1 % 3, "3")] * 10

    async def main():
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                await asyncio.sleep(0.05)
                ticks += 1

        clock = asyncio.create_task(ticker())
        t = time.monotonic()
        out = await gather_all(items, per_answer_s=1.0)
        clock.cancel()
        return out, ticks, time.monotonic() - t

    out, ticks, took = asyncio.run(main())
    assert out[0]["score"] == 0.0 and out[0]["reason"] == "timeout" and out[0]["unjudged"] == 0.0
    assert all(o["score"] == 1.0 and o["reason"] == "correct" for o in out[1:])
    assert took >= 1.0 and ticks >= 3  # the loop kept running while the hung answer was checked


def test_a_crashing_worker_scores_zero_and_the_next_batch_is_judged(bound):
    from evalkit.verifiers.pool import _POOLS

    assert compute_score("math500", R1 % "\\sqrt{4}", "2")["score"] == 1.0  # the math workers are up

    async def main():
        hung = asyncio.ensure_future(compute_score_async("math500", HANG, "1", per_answer_s=60.0,
                                                         batch_deadline_s=90.0))
        others = await gather_all([(R1 % "2", "2"), (R1 % "7", "8"), (R1 % "\\pi", "\\pi")])
        await asyncio.sleep(1.5)  # the hung check is running in a worker now
        pids = [w.proc.pid for w in _POOLS["math"]._workers if w.proc.pid]
        assert pids
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        return await hung, others

    t = time.monotonic()
    crashed, others = asyncio.run(main())
    assert time.monotonic() - t < 30  # not the 60 s the check was allowed
    # the model's text took the worker down (as far as anyone can tell): 0, never unjudged
    assert crashed["score"] == 0.0 and crashed["reason"] == "timeout" and crashed["unjudged"] == 0.0
    assert [o["score"] for o in others] == [1.0, 0.0, 1.0]
    after = asyncio.run(gather_all([(R1 % "\\frac{1}{2}", "0.5"), (R1 % "2", "3")]))
    assert [o["score"] for o in after] == [1.0, 0.0]


def test_junk_never_raises(bound):
    out = asyncio.run(gather_all([(None, "1"), ("\\boxed{" * 500, "1"), (R1 % "1", None)]))
    assert [o["score"] for o in out] == [0.0, 0.0, 0.0]
    assert out[2]["unjudged"] == 1.0  # no gold: nothing to judge against, not the model's fault


def test_slow_answers_cost_one_batch_deadline_not_one_each(monkeypatch):
    """veRL's reward loop awaits a whole batch at once: answers too slow to check must share one
    deadline (checked side by side, cheapest first), not queue one by one until the quick answers
    behind them are given up on as `timeout`."""
    monkeypatch.setattr(verl, "CONCURRENCY", verl.Concurrency(64))
    slow = [("</think>$\\boxed{9^{9^{9^{9^{%d}}}}}$" % i, "1") for i in range(20)]
    quick = [(R1 % ("\\sqrt{%d}" % (i * i)), str(i)) for i in range(2, 32)]
    items = [x for pair in zip(slow, quick[:20]) for x in pair] + quick[20:]
    t = time.monotonic()
    out = asyncio.run(gather_all(items, per_answer_s=0.5, batch_deadline_s=2.0))
    took = time.monotonic() - t
    judged = {s: o for (s, _), o in zip(items, out)}
    assert [judged[s]["reason"] for s, _ in quick] == ["correct"] * len(quick)
    assert [judged[s]["score"] for s, _ in slow] == [0.0] * len(slow)
    assert took < 2.0 + verl._GRACE_S  # one deadline for them all, not 20 x 0.5 s in a row


def test_reward_kwargs_verifier_options_reach_the_async_check(bound):
    # veRL's reward_kwargs `verifier_options` serve rows without their own; compute_score applied them and
    # compute_score_async dropped them, so the reward loop scored the same response otherwise
    boxed_in_thinking = "<think>so it is \\boxed{7}</think>I am done."
    options = {"think_fallback": True}
    assert compute_score("math500", boxed_in_thinking, "7", {}, verifier_options=options)["score"] == 1.0
    row = asyncio.run(compute_score_async("math500", boxed_in_thinking, "7", {}, verifier_options=options))
    assert (row["score"], row["reason"]) == (1.0, "correct")
    # without them the answer is not read from the thinking: the options, not the batch, decide
    rows = asyncio.run(gather_all([(boxed_in_thinking, "7")]))
    assert rows[0]["score"] == 0.0


def test_a_batch_of_math_and_code_rows_shares_one_deadline():
    # each verifier's rows were checked in turn, each group with the whole deadline: slow math answers before the
    # code rows made the batch take twice the deadline, and veRL's async give-up then scored every row 0
    tests = '{"style": "call", "entry_point": "f", "cases": [{"input": [2], "output": 4}]}'
    honest = "```python\ndef f(x):\n    return x * x\n```"
    loop = "```python\ndef f(x):\n    while True:\n        pass\n```"
    slow = ["</think>$\\boxed{9^{9^{9^{9^{%d}}}}}$" % i for i in range(12)]
    rows = ([("mbpp", honest, tests)] + [("mbpp", loop, tests)] * 6 + [("math500", R1 % 3, "3")]
            + [("math500", s, "1") for s in slow])
    t = time.monotonic()
    out = verl.compute_score_batch(*map(list, zip(*rows)), per_answer_s=1.0, batch_deadline_s=3.0)
    took = time.monotonic() - t
    assert [o["reason"] for o in out[:8]] == ["correct"] + ["timeout"] * 6 + ["correct"]
    assert all(o["score"] == 0.0 for o in out[8:])
    # side by side the batch ends with the math rows' deadline (3 s); in turn, the code rows' second came after it
    assert took < 3.0 + 0.75, took


def test_a_deadline_of_the_wrong_type_is_one_line_not_a_traceback_each_batch(bound, caplog):
    # `batch_deadline_s="30"` from a YAML config: the async side added it to its grace period, a TypeError
    # traceback for every batch (8 a step)
    async def main():
        return await asyncio.gather(*[compute_score_async("math", f"\\boxed{{{i}}}", str(i), {"verifier": "math"},
                                                          batch_deadline_s="30") for i in range(20)])

    rows = asyncio.run(main())
    assert {(r["reason"], r["unjudged"]) for r in rows} == {("error", 1.0)}
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records if r.exc_info]
    assert "limits are not usable (option 'batch_deadline_s'" in caplog.text
