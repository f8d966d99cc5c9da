"""Rewards called from many threads at once, the way trainers call them: OpenRLHF's executor calls
`reward_func` once per sample, each in its own thread; TRL gathers the async twins of all reward
functions of a step. Concurrent calls are checked together: side by side on the verifier's workers,
each distinct answer once."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

from evalkit.rewards import _judge, clear_cache, cosine_length_reward_async, math_reward, math_reward_async
from evalkit.rewards._judge import Limits
from evalkit.rewards.openrlhf import score_queries

PROMPT = "<|im_start|>user\nWhat is it?<|im_end|>\n<|im_start|>assistant\n"
R1 = "<think>\nadding up\n</think>\nSo the answer is $\\boxed{%s}$."
SLOW = "<think>\nhmm\n</think>\n$\\boxed{9^{9^{9^{9^{%d}}}}}$"  # sympy would evaluate this tower forever


def test_per_sample_calls_from_many_threads_share_one_deadline_not_one_limit_each():
    assert math_reward(completions=[R1 % "\\sqrt{4}"], answer=["2"]) == [1.0]  # the workers are up
    samples = ([(SLOW % (i + 2), "1") for i in range(20)]
               + [(R1 % ("\\sqrt{%d}" % (i * i)), str(i)) for i in range(2, 22)])
    limits = Limits(per_answer_s=0.5, batch_deadline_s=2.0)

    async def openrlhf_executor(pool):  # openrlhf.utils.agent: asyncio.to_thread(reward_func, [q], [p], [l]) per sample
        loop = asyncio.get_running_loop()
        return await asyncio.gather(*(loop.run_in_executor(pool, lambda q=q, g=g: score_queries(
            [PROMPT + q + "<|im_end|>"], [PROMPT], [g], limits=limits)) for q, g in samples))

    with ThreadPoolExecutor(len(samples)) as pool:
        t = time.monotonic()
        out = asyncio.run(openrlhf_executor(pool))
        took = time.monotonic() - t
    assert [o["rewards"][0] for o in out] == [0.0] * 20 + [1.0] * 20
    assert [o["reasons"][0] for o in out[:20]] == ["timeout"] * 20
    # 20 answers of 0.5 s each, one after another, would take 10 s
    assert took < 8.0


def test_async_twins_gathered_by_trl_check_each_answer_once(monkeypatch):
    checked = []
    run = _judge._run

    def counting(verifier, options_key, options, items, limits):
        checked.extend(item.completion for item in items)
        return run(verifier, options_key, options, items, limits)

    monkeypatch.setattr(_judge, "_run", counting)
    clear_cache()
    completions = [R1 % ("\\frac{%d}{%d}" % (i, i + 1)) for i in range(1, 41)] + [SLOW % (i + 2) for i in range(4)]
    golds = ["\\frac{%d}{%d}" % (i, i + 1) for i in range(1, 41)] + ["1"] * 4

    async def step():  # GRPOTrainer._calculate_rewards: asyncio.gather over the async reward functions
        return await asyncio.gather(math_reward_async(completions=completions, answer=golds, per_answer_s=0.5),
                                    cosine_length_reward_async(completions=completions, answer=golds, per_answer_s=0.5))

    correctness, cosine = asyncio.run(step())
    assert correctness == [1.0] * 40 + [0.0] * 4
    assert all(c > 0.5 for c in cosine[:40]) and all(c < 0 for c in cosine[40:])
    assert sorted(checked) == sorted(completions)  # each once: the second reward waited for the first's check
