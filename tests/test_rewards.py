"""evalkit.rewards: the reward functions, the veRL and OpenRLHF adapters, and `evalkit export`,
called the way the trainers call them."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import math
import os
import pickle
import subprocess
import sys
import threading
import time

import httpx
import pytest
from click.testing import CliRunner

from evalkit.cli import main
from evalkit.rewards import (
    choice_reward,
    clear_cache,
    code_reward,
    cosine_length_reward,
    group_advantages,
    math_reward,
    math_reward_async,
    overlong_penalty,
    repetition_penalty,
    think_format_reward,
    think_format_reward_async,
)
from evalkit.rewards import openrlhf, verl
from evalkit.rewards.export import export_task

R1 = "<think>\nLet me compute. 14/3 is 4 and 2/3. Wait, check: 3*4+2 = 14. Yes.\n</think>\nThe answer is $\\boxed{%s}$."
HANG = "</think>$\\boxed{9^{9^{9^{9}}}}$"  # sympy would evaluate this tower forever


def chat(text: str) -> list[dict[str, str]]:
    return [{"role": "assistant", "content": text}]


class Logs:
    """Stands in for TRL's log_extra / log_metric callbacks."""

    def __init__(self):
        self.extra: dict[str, list] = {}
        self.metrics: dict[str, float] = {}

    def log_extra(self, column, values):
        self.extra.setdefault(column, []).extend(values)

    def log_metric(self, name, value):
        self.metrics[name] = value


# ---------------------------------------------------------------- math_reward


def test_math_reward_scores_string_and_chat_completions_like_trl_passes_them():
    completions = [R1 % "\\dfrac{14}{3}", R1 % "5", "<think>\nstill thinking about 14/3", "no answer at all"]
    gold = ["4\\frac{2}{3}"] * 4
    assert math_reward(completions=completions, answer=gold) == [1.0, 0.0, 0.0, 0.0]
    assert math_reward(completions=[chat(c) for c in completions], answer=gold) == [1.0, 0.0, 0.0, 0.0]


def test_math_reward_logs_answer_reason_and_counts_to_trl():
    logs = Logs()
    out = math_reward(prompts=["p"] * 3, completions=[R1 % "3", R1 % "4", "<think>\n..."], answer=["3", "3", "3"],
                      completion_ids=[[1], [2], [3]], trainer_state=object(),
                      log_extra=logs.log_extra, log_metric=logs.log_metric)
    assert out == [1.0, 0.0, 0.0]
    assert logs.extra == {"math_reward/answer": ["3", "4", None],
                          "math_reward/reason": ["correct", "wrong", "truncated"]}
    assert logs.metrics == {"math_reward/unjudged": 0.0, "math_reward/timeout": 0.0, "math_reward/no_gold": 0.0}


def test_math_reward_reads_the_solution_column_and_takes_its_last_box():
    solution = ["We get $x=2$, so the sum is $\\boxed{7}$."]
    assert math_reward(completions=[R1 % "7"], solution=solution) == [1.0]
    assert math_reward(completions=[R1 % "2"], solution=solution) == [0.0]


def test_answer_column_is_configurable_and_trl_still_sees_the_name():
    reward = functools.partial(math_reward, answer_column="gold")
    assert reward(completions=[R1 % "12"], gold=[12], answer=["no"]) == [1.0]
    from trl.trainer.utils import get_callable_name

    assert get_callable_name(reward) == "math_reward"


def test_unjudged_rows_are_none_and_model_faults_are_zero():
    logs = Logs()
    out = math_reward(completions=[R1 % "1", R1 % "1"], answer=[None, "1"], log_metric=logs.log_metric)
    assert out == [None, 1.0]
    # a row without a gold (another reward's, in a mixed math and code dataset) is None, and counted apart from
    # faults: `unjudged` stays the count a user watches for workers or a judge failing
    assert (logs.metrics["math_reward/unjudged"], logs.metrics["math_reward/no_gold"]) == (0.0, 1.0)
    # no answer column at all: nothing can be judged, and nothing raises
    assert math_reward(completions=[R1 % "1"], question=["q"]) == [None]


@pytest.mark.parametrize("junk", [None, b"\xff\xfe", 12, {"content": None}, [{"role": "user"}], "\\boxed{" * 500,
                                  "x" * 1_000_000], ids=["none", "bytes", "int", "dict", "user-msg", "braces", "1MB"])
def test_math_reward_never_raises_on_junk(junk):
    assert math_reward(completions=[junk], answer=["1"]) == [0.0]


def test_a_hung_answer_costs_its_own_limit_and_never_starves_the_others():
    clear_cache()
    assert math_reward(completions=[R1 % "\\sqrt{4}"], answer=["2"]) == [1.0]  # workers up
    completions = [HANG, R1 % "2", R1 % "3", R1 % "5"]
    t = time.monotonic()
    logs = Logs()
    out = math_reward(completions=completions, answer=["2", "2", "3", "4"], per_answer_s=1.0,
                      log_extra=logs.log_extra, log_metric=logs.log_metric)
    assert time.monotonic() - t < 5.0
    assert out == [0.0, 1.0, 1.0, 0.0]  # too slow to check is the model's fault: 0, never None
    assert logs.extra["math_reward/reason"][0] == "timeout"
    assert logs.metrics["math_reward/timeout"] == 1.0


def test_the_callers_own_alarm_handler_raises_to_the_caller_not_into_the_verdicts():
    # a watchdog built on SIGALRM: its TimeoutError was caught as the verifier's failure ("math verifier failed:
    # TimeoutError: caller's alarm") and the batch came back unjudged; the caller's `except TimeoutError` never ran
    import signal

    clear_cache()
    assert math_reward(completions=["\\boxed{1}"], answer=["1"]) == [1.0]  # workers up

    def watchdog(signum, frame):
        raise TimeoutError("the caller's watchdog")

    before = signal.signal(signal.SIGALRM, watchdog)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.3)
        slow = ["\\boxed{\\sum_{i=1}^{10^{%d}} i}" % (500 + k) for k in range(4)]
        with pytest.raises(TimeoutError, match="the caller's watchdog"):
            math_reward(completions=slow, answer=["4"] * 4, batch_deadline_s=5.0)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, before)
    assert math_reward(completions=["\\boxed{2}"], answer=["2"]) == [1.0]  # once the abandoned batch is done
    # a batch of math and code rows is checked by two groups side by side: the watchdog fired while this thread
    # waited on them, and was taken for a group's failure (every row unjudged, "veRL compute_score failed")
    from evalkit.rewards.verl import compute_score_batch

    code = json.dumps({"style": "stdio", "cases": [{"input": "", "output": "1"}]})
    signal.signal(signal.SIGALRM, watchdog)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.3)
        with pytest.raises(TimeoutError, match="the caller's watchdog"):
            compute_score_batch(["math"] * 4 + ["code"], slow + ["```python\nprint(1)\n```"], ["4"] * 4 + [code],
                                [{}] * 5)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, before)


def test_answers_unchecked_at_the_batch_deadline_score_zero_timeout():
    clear_cache()
    assert math_reward(completions=[R1 % "\\sqrt{4}"], answer=["2"]) == [1.0]  # workers up: the deadline is the checks'
    logs = Logs()
    t = time.monotonic()
    out = math_reward(completions=[HANG] * 3 + [R1 % "\\sqrt{9}"], answer=["1", "2", "3", "3"],
                      per_answer_s=30.0, batch_deadline_s=3.0, log_extra=logs.log_extra)
    assert time.monotonic() - t < 8.0
    assert out == [0.0, 0.0, 0.0, 1.0]  # the cheap answer went first
    assert logs.extra["math_reward/reason"] == ["timeout", "timeout", "timeout", "correct"]


def test_short_answers_are_read_before_long_loops_under_the_batch_deadline():
    # a collapsing policy's looping completions early in the batch took the deadline while their answers were read
    # in batch order: the short correct answers after them were `timeout` unread, the rare signal GRPO needs
    clear_cache()
    loops = ["\\boxed{%d}, " % k + "\\boxed{1}, " * 9000 for k in range(200)]
    right = ["<think>ok</think>The answer is \\boxed{4}. (%d)" % k for k in range(8)]
    logs = Logs()
    out = math_reward(completions=loops + right, answer=["4"] * 208, batch_deadline_s=1.0, log_extra=logs.log_extra)
    assert out[-8:] == [1.0] * 8, logs.extra["math_reward/reason"][-8:]


def test_reading_answers_keeps_to_bounded_memory_and_to_the_batch_deadline():
    import random
    import tracemalloc

    from evalkit.verifiers._mathtext import find_boxes_at
    from evalkit.verifiers.math import verify_many

    # n nested boxes: each one's content was copied, n^2 characters in the trainer's own process (800 KB of
    # them took 24 GB and the OOM killer took the trainer)
    nested = "\\boxed{" * 20_000 + "7" + "}" * 20_000
    tracemalloc.start()
    find_boxes_at(nested)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 20 * len(nested)
    clear_cache()
    logs = Logs()
    rnd = random.Random(1)
    huge = ["</think>\\boxed{" + "+".join(str(rnd.randint(1, 9)) for _ in range(200_000)) + "}" for _ in range(8)]
    out = math_reward(completions=["</think>" + nested, "</think>" + "\\boxed{" * 6 + "7" + "}" * 6] + huge,
                      answer=["7"] * 10, batch_deadline_s=2.0, log_extra=logs.log_extra)
    # megabytes of a box are wrong unread (they were read in the caller's process, past the deadline, then timed out)
    assert out == [0.0, 1.0] + [0.0] * 8
    assert logs.extra["math_reward/reason"] == ["wrong", "correct"] + ["wrong"] * 8
    # answers still unread when the deadline passes are not read at all
    long = [(f"</think>\\boxed{{{'+'.join(str(rnd.randint(1, 9)) for _ in range(4_000))}}}", "7") for _ in range(300)]
    verdicts = verify_many(long, deadline=0.05)
    late = [v for v in verdicts if v.detail == "not read: the batch deadline passed first"]
    assert late and all(v.reason == "timeout" and v.score == 0.0 for v in late)
    assert verdicts[0].detail != late[0].detail


def test_a_gold_python_cannot_print_does_not_unjudge_the_batch():
    big = 10 ** 5000  # str() refuses an int of more than 4,300 digits: the cache key raised, and every row was None

    class Unprintable:
        def __str__(self):
            raise RuntimeError("no text")

    assert math_reward(completions=[R1 % "7", R1 % "1", R1 % "7"], answer=[7, big, Unprintable()]) == [1.0, 0.0, None]
    tests = {"style": "call", "entry_point": "f", "cases": [{"input": [1], "output": big}]}
    program = "```python\ndef f(x):\n    return 10 ** 5000 if x == 1 else 0\n```"
    assert code_reward(completions=[program, "```python\ndef f(x):\n    return 1\n```"], tests=[tests, tests]) == [1.0, 0.0]
    assert [r["reason"] for r in verl.compute_score_batch(["m", "m"], [R1 % "7", R1 % "1"], [7, big])] == [
        "correct", "wrong"]


def test_deterministic_for_the_same_input():
    completions = [R1 % a for a in ("\\frac{1}{2}", "0.5", "1/3", "\\pi")] * 4
    gold = ["\\frac12"] * 16
    first = math_reward(completions=completions, answer=gold)
    clear_cache()
    assert math_reward(completions=completions, answer=gold) == first == [1.0, 1.0, 0.0, 0.0] * 4


def test_works_from_threads_and_asyncio_and_pickles_for_trl_async_workers():
    results = []
    threads = [threading.Thread(target=lambda: results.append(math_reward(completions=[R1 % "6"], answer=["6"])))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results == [[1.0]] * 4

    async def both():
        return await asyncio.gather(math_reward_async(completions=[R1 % "6"], answer=["6"]),
                                    think_format_reward_async(completions=[R1 % "6"]))

    assert asyncio.run(both()) == [[1.0], [1.0]]
    from trl.trainer.utils import get_callable_name, is_async_callable

    assert is_async_callable(math_reward_async) and not is_async_callable(math_reward)
    assert get_callable_name(math_reward_async) == "math_reward"
    assert pickle.loads(pickle.dumps(math_reward_async)) is math_reward_async
    assert pickle.loads(pickle.dumps(functools.partial(overlong_penalty, max_len=8))).func is overlong_penalty


def test_warm_up_starts_the_workers_without_waiting():
    from evalkit.rewards import warm_up

    t = time.monotonic()
    warm_up()
    warm_up("a-plugin-verifier")  # nothing of evalkit's to start: no error
    assert time.monotonic() - t < 1.0
    assert math_reward(completions=[R1 % "\\sqrt{16}"], answer=["4"]) == [1.0]


def test_think_open_column_reads_a_completion_that_starts_inside_the_block():
    # R1-distill templates end the prompt with "<think>\n": the completion has only the closing tag
    completion = "reasoning... </think> so $\\boxed{4}$"
    assert math_reward(completions=[completion], answer=["4"], think_open=[True]) == [1.0]
    assert math_reward(completions=["reasoning, never closed \\boxed{4}"], answer=["4"], think_open=[True]) == [0.0]
    assert think_format_reward(completions=[completion], think_open=True) == [1.0]


def test_think_open_as_a_dataset_holds_it_missing_or_as_text():
    import numpy as np

    from evalkit.rewards.verl import compute_score

    # pandas writes a missing value as NaN, CSV and YAML text as "false": each was read as True (bool of it), so
    # every correct answer on such rows was paid 0.0 as `truncated` (no close of a block the prompt never opened)
    boxed = "\\boxed{4}"
    for missing in (float("nan"), np.float32("nan"), None, ""):
        assert math_reward(completions=[boxed], answer=["4"], think_open=[missing]) == [1.0], missing
        assert compute_score("math", boxed, "4", {"think_open": missing})["score"] == 1.0, missing
    for no in ("false", "False", "0", "no", 0, np.bool_(False)):
        assert math_reward(completions=[boxed], answer=["4"], think_open=[no]) == [1.0], no
    opened = "reasoning, never closed \\boxed{4}"
    for yes in ("true", "1", 1, np.bool_(True), True):
        assert math_reward(completions=[opened], answer=["4"], think_open=[yes]) == [0.0], yes
        assert compute_score("math", opened, "4", {"think_open": yes})["score"] == 0.0, yes


def test_finish_reason_length_marks_truncation():
    out = math_reward(completions=["\\boxed{4}", "\\boxed{4}"], answer=["4", "4"], finish_reason=["length", "stop"])
    assert out == [0.0, 1.0]


# ---------------------------------------------------------------- choice and code


def test_choice_reward():
    completions = ["<think>A or B? Not A.</think> The answer is (B).", "<think>..</think> Answer: C", "I don't know"]
    assert choice_reward(completions=completions, answer=["B", "B", "B"]) == [1.0, 0.0, 0.0]


def _code_verifier_or_skip():
    from evalkit.verifiers import get_verifier

    try:
        get_verifier("code")
    except KeyError:
        pytest.skip("the code verifier (issue 4) is not registered in this tree")


def test_code_reward_takes_the_tasks_timeout_from_its_verifier_options():
    # `export` says give the reward the task's options ({"timeout_s": 6} for MBPP, HumanEval, LiveCodeBench);
    # the reward's own 1 s per test then won, and a program evaluation passes scored 0 in training
    _code_verifier_or_skip()
    tests = json.dumps({"style": "call", "entry_point": "slow", "setup": None, "code": None,
                        "cases": [{"input": [2], "output": 2}]})
    # 3.5 s of CPU: past what 1 s per test allows (1 s a test, plus 2 s), within what 6 s allows
    slow = ("<think>wait</think>\n```python\nimport time\ndef slow(x):\n    start = time.process_time()\n"
            "    while time.process_time() - start < 3.5:\n        pass\n    return x\n```")
    assert code_reward(completions=[slow], tests=[tests], verifier_options={"timeout_s": 6}) == [1.0]
    again = slow.replace("wait", "wait again")  # another text: the rewards keep verdicts by text
    assert code_reward(completions=[again], tests=[tests], verifier_options={"timeout_s": 6}, per_answer_s=1.0) == [0.0]


def test_verl_rows_take_the_tasks_timeout_from_their_verifier_options():
    # `export --format verl` writes {"timeout_s": 6} into a code row's extra_info; the veRL adapter held
    # every test to its own 1 s anyway, so a program `evalkit run` passes scored 0 in veRL training
    from evalkit.rewards.verl import compute_score, compute_score_batch

    _code_verifier_or_skip()
    tests = json.dumps({"style": "call", "entry_point": "slow", "setup": None, "code": None,
                        "cases": [{"input": [3], "output": 3}]})
    # 2 s a test: past the rewards' 1 s, well within the task's 6 s
    slow = "<think>ok</think>\n```python\nimport time\ndef slow(x):\n    time.sleep(2)\n    return x\n```"
    row = compute_score("humaneval", slow, tests, {"verifier": "code", "verifier_options": {"timeout_s": 6}})
    assert (row["score"], row["reason"]) == (1.0, "correct")
    # reward_kwargs' per_answer_s still wins over the row's limit
    again = slow.replace("ok", "ok again")
    [row] = compute_score_batch(["humaneval"], [again], [tests], [{"verifier_options": {"timeout_s": 6}}],
                                per_answer_s=1.0)
    assert row["score"] == 0.0 and row["reason"] in ("wrong", "timeout")


def test_code_reward_all_or_nothing_and_partial_credit():
    _code_verifier_or_skip()
    tests = json.dumps({"style": "call", "entry_point": "add", "setup": None, "code": None,
                        "cases": [{"input": [1, 2], "output": 3}, {"input": [2, 2], "output": 4},
                                  {"input": [0, 5], "output": 5}]})
    right = "<think>easy</think>\n```python\ndef add(a, b):\n    return a + b\n```"
    half = "<think>hmm</think>\n```python\ndef add(a, b):\n    return 3 if a < 2 else a * b\n```"
    hack = "<think>cheat</think>\n```python\nimport sys\nsys.exit(0)\n```"
    completions = [right, half, hack]
    assert code_reward(completions=completions, tests=[tests] * 3) == [1.0, 0.0, 0.0]
    scores = code_reward(completions=completions, tests=[tests] * 3, partial=True)
    assert scores[0] == 1.0 and scores[1] == pytest.approx(2 / 3) and scores[2] == 0.0


def test_code_batch_deadline_scores_unchecked_programs_zero_timeout():
    _code_verifier_or_skip()
    tests = json.dumps({"style": "call", "entry_point": "add", "cases": [{"input": [1, 2], "output": 3}]})
    right = "```python\ndef add(a, b):\n    return a + b\n```"
    loop = "<think>spin</think>\n```python\ndef add(a, b):\n    while True:\n        pass\n```"
    logs = Logs()
    t = time.monotonic()
    out = code_reward(completions=[loop] * 11 + [right], tests=[tests] * 12, per_answer_s=1.0, batch_deadline_s=1.0,
                      log_extra=logs.log_extra)
    assert time.monotonic() - t < 10.0
    assert out[-1] == 1.0  # the shortest went first
    assert out[:11] == [0.0] * 11
    assert logs.extra["code_reward/reason"][:11] == ["timeout"] * 11


def test_code_under_a_deadline_is_checked_shortest_program_first_not_in_the_batch_s_order():
    # programs ran in the batch's order: twelve endless loops (longer programs) ahead of four right ones used up
    # the deadline, and the right ones scored 0 (`timeout`) for their place in the batch
    _code_verifier_or_skip()
    tests = json.dumps({"style": "call", "entry_point": "add", "cases": [{"input": [1, 2], "output": 3},
                                                                         {"input": [2, 2], "output": 4}]})
    loops = [f"```python\n# attempt {i}: {'padding ' * 10}\ndef add(a, b):\n    while True:\n        pass\n```"
             for i in range(12)]
    right = [f"```python\ndef add(a, b):  # {i}\n    return a + b\n```" for i in range(4)]
    logs = Logs()
    out = code_reward(completions=loops + right, tests=[tests] * 16, per_answer_s=1.0, batch_deadline_s=4.0,
                      log_extra=logs.log_extra)
    assert out[12:] == [1.0] * 4, logs.extra["code_reward/reason"]
    assert out[:12] == [0.0] * 12 and set(logs.extra["code_reward/reason"][:12]) == {"timeout"}


def test_a_code_label_nested_too_deeply_leaves_its_row_unjudged_not_the_batch():
    # json's RecursionError escaped the routing of a batch: every row of the veRL batch scored 0
    _code_verifier_or_skip()
    good = json.dumps({"style": "call", "entry_point": "add", "cases": [{"input": [1, 2], "output": 3}]})
    deep = '{"style": "call", "entry_point": "add", "cases": [{"input": ' + "[" * 50000 + "]" * 50000 + ', "output": 3}]}'
    right = "<think>x</think>\n```python\ndef add(a, b):\n    return a + b\n```"
    out = verl.compute_score_batch(["lcb"] * 3, [right] * 3, [good, deep, good], [None] * 3)
    assert [(o["score"], o["unjudged"]) for o in out] == [(1.0, 0.0), (0.0, 1.0), (1.0, 0.0)]
    assert code_reward([right] * 2, tests=[deep, good]) == [None, 1.0]


def test_a_list_of_accepted_answers_accepts_any_of_them():
    np = pytest.importorskip("numpy")
    # veRL datasets sometimes list several accepted answers; each one is accepted, never the list joined
    assert verl.compute_score("math500", R1 % "7", ["7", "7.0"])["reason"] == "correct"
    assert verl.compute_score("math500", R1 % "0.5", np.array(["\\frac{1}{2}", "0.5"]))["reason"] == "correct"
    assert verl.compute_score("math500", R1 % "3", ["x=3", "3"])["reason"] == "correct"
    assert verl.compute_score("math500", R1 % "4", ["x=3", "3"])["reason"] == "wrong"
    golds = [["7", "7.0"], ["7", "7.0"], [], [None, "2"]]
    assert math_reward([R1 % "7.0", R1 % "8", R1 % "7", R1 % "2"], answer=golds) == [1.0, 0.0, None, 1.0]
    out = openrlhf.score_queries(["Q: 7?\n" + R1 % "7"], ["Q: 7?\n"], [["7", "seven"]])
    assert out["rewards"] == [1.0] and out["reasons"] == ["correct"]


def test_a_nan_gold_is_no_gold_not_an_answer_to_game():
    np = pytest.importorskip("numpy")
    # a missing value in a numeric answer column is NaN: unjudged, never the answer "nan"
    nan = float("nan")
    assert math_reward([R1 % "nan", R1 % "7"], answer=[nan, nan]) == [None, None]
    assert math_reward([R1 % "nan"], answer=[np.float32("nan")]) == [None]
    out = verl.compute_score("math500", R1 % "nan", nan)
    assert (out["score"], out["unjudged"]) == (0.0, 1.0)
    assert math_reward([R1 % "7"], answer=[7.0]) == [1.0]


def test_a_gold_that_is_an_object_is_unjudged_not_every_answer_wrong():
    # a veRL ground truth wrapped once too often ({"answer": "1"}) was compared as text and every answer scored
    # a confident 0.0 with unjudged 0: a run of zero rewards and nothing in the logs
    for gold in ({"answer": "1"}, '{"answer": "1"}', [{"answer": "1"}]):
        out = verl.compute_score("math500", R1 % "1", gold)
        assert (out["score"], out["reason"], out["unjudged"]) == (0.0, "error", 1.0), gold
    assert math_reward([R1 % "1"], answer=[{"answer": "1"}]) == [None]
    reply = openrlhf.score_queries(["Q\n" + R1 % "1"], ["Q\n"], [{"answer": "1"}])
    assert reply["rewards"] == [0.0] and reply["reasons"] == ["error"]
    # other braces are answers: a set in LaTeX, the empty set, a system's solution written as JSON
    assert verl.compute_score("math500", R1 % "\\{1, 2\\}", "\\{1, 2\\}")["reason"] == "correct"
    assert verl.compute_score("math500", R1 % "\\emptyset", "{}")["reason"] == "correct"
    assert verl.compute_score("math500", R1 % '{"x": 1}', '{"x": 1}')["reason"] == "correct"


# ---------------------------------------------------------------- shaping


def test_think_format_reward_wants_exactly_one_block_before_an_answer():
    cases = {
        "<think>\nwork\n</think>\nThe answer is 4.": 1.0,
        "  <think>work</think>4": 1.0,
        "<think>work</think>": 0.0,  # no answer after the block
        "<think>a</think>b<think>c</think>d": 0.0,  # two blocks
        "<think>never closed": 0.0,
        "preamble <think>work</think>4": 0.0,
        "no tags, all answer": 0.0,
        "<think><think>nested</think></think>4": 0.0,
        # an answer that shows nothing is none: a zero-width space, a word joiner, a special token's text
        "<think>work</think>\u200b": 0.0,
        "<think>work</think>\u2060\ufeff \n": 0.0,
        "<think>work</think><|im_end|>": 0.0,
        "<think>work</think></s>": 0.0,
        "<think>work</think><｜end▁of▁sentence｜>": 0.0, "<think>work</think><end_of_turn>": 0.0,
        "<think>work</think>\u3164\u2800\ufe0f": 0.0,  # a Hangul filler, a blank Braille cell, a variation selector
        "<think>work</think>\u200b4<|im_end|>": 1.0,
        "<think>work</think>答案是 4": 1.0,
    }
    assert think_format_reward(completions=list(cases)) == list(cases.values())
    assert think_format_reward(completions=[chat(c) for c in cases]) == list(cases.values())


def test_think_format_reward_under_auto_pays_only_for_thinking(tmp_path):
    # `evalkit export` writes think_format: auto into every row; a reply that skips thinking must not pass
    export = CliRunner().invoke(main, ["export", "math500", "--format", "trl", "--limit", "2",
                                       "--out", str(tmp_path / "m.jsonl")])
    assert export.exit_code == 0, export.output
    rows = [json.loads(line) for line in (tmp_path / "m.jsonl").read_text().splitlines()]
    columns = {k: [r[k] for r in rows] for k in rows[0] if k != "prompt"}
    assert columns["think_format"] == ["auto", "auto"]
    assert think_format_reward(completions=["The answer is \\boxed{1}", R1 % "1"], **columns) == [0.0, 1.0]
    sky = "<|begin_of_thought|>work<|end_of_thought|><|begin_of_solution|>1<|end_of_solution|>"
    assert think_format_reward(completions=[sky, "no markers"], think_format="auto") == [1.0, 0.0]


def test_under_auto_an_answer_inside_thinking_the_prompt_opened_scores_0():
    # thinking cut off before it closed holds no marker at all when the prompt opened it: under `auto` it
    # is unfinished thinking (as under r1), not a reply that skipped thinking and answered
    cut = "Let me think... maybe \\boxed{5}? Wait, let me re-check"
    assert math_reward([cut], answer=["5"], think_open=[True], think_format="auto") == [0.0]
    assert math_reward([cut], answer=["5"], prompts=["What is 2+3? <think>\n"], think_format="auto") == [0.0]
    assert math_reward([cut], answer=["5"], prompts=["Q <|begin_of_thought|>"], think_format="auto") == [0.0]
    assert choice_reward(["The answer is B. Hmm, wait"], answer=["B"], think_open=[True], think_format="auto") == [0.0]
    assert verl.compute_score("math", cut, "5", extra_info={"think_format": "auto", "think_open": True})["score"] == 0.0
    # chat prompts: the batch's other completions close thinking they never opened, so the template opened it
    chat = [[{"role": "user", "content": "What is 2+3?"}]] * 3
    closed = ["So 5.</think>The answer is \\boxed{5}", "5 it is</think>\\boxed{5}"]
    assert math_reward([cut, *closed], answer=["5"] * 3, prompts=chat, think_format="auto") == [0.0, 1.0, 1.0]
    # where nothing opened thinking, a reply without markers is the answer, as before
    assert math_reward([cut], answer=["5"], think_open=[False], think_format="auto") == [1.0]
    assert math_reward([cut], answer=["5"], prompts=["What is 2+3?"], think_format="auto") == [1.0]
    assert math_reward([cut, "\\boxed{5}"], answer=["5"] * 2, prompts=chat[:2], think_format="auto") == [1.0, 1.0]


def test_an_unknown_think_format_leaves_rows_unjudged_and_says_so_once(caplog):
    # a misconfigured format is not the model's fault: None (TRL masks it), never an exception
    name = "bogus-think-format"
    with caplog.at_level("WARNING", logger="evalkit.rewards"):
        assert think_format_reward(["<think>x</think>y", "y"], think_format=name) == [None, None]
        assert think_format_reward(["<think>x</think>y", "<think>x</think>y"], think_format=["r1", name]) == [1.0, None]
        assert math_reward([R1 % "7", R1 % "7"], answer=["7", "7"], think_format=["r1", name]) == [1.0, None]
    warnings = [r for r in caplog.records if name in r.getMessage()]
    assert len(warnings) == 1 and "unknown think format" in warnings[0].getMessage()
    assert openrlhf.score_queries(["Q\n" + R1 % "7"], ["Q\n"], ["7"], think_format=name)["reasons"] == ["error"]


def test_a_bad_verifier_option_leaves_rows_unjudged_and_says_so_once_in_one_line(caplog):
    # it logged a whole traceback at every training step
    with caplog.at_level("WARNING", logger="evalkit.rewards"):
        for _ in range(3):
            assert math_reward([R1 % "7"], answer=["7"], verifier_options={"boxed": "first"}) == [None]
    said = [r for r in caplog.records if "boxed" in r.getMessage()]
    assert len(said) == 1 and said[0].exc_info is None
    assert "option 'boxed': expected last or all, got 'first'" in said[0].getMessage()


def test_a_verdict_reached_under_a_longer_limit_is_not_reused_under_a_shorter_one():
    # the rewards keep verdicts by text: a program that passed in 1.5 s kept its 1.0 under a 0.5 s limit
    _code_verifier_or_skip()
    tests = json.dumps({"style": "call", "entry_point": "add", "cases": [{"input": [1, 2], "output": 3}]})
    slow = "<think>x</think>\n```python\nimport time\ndef add(a, b):\n    time.sleep(1.5)\n    return a + b\n```"
    assert code_reward([slow], tests=[tests], per_answer_s=5.0) == [1.0]
    assert code_reward([slow], tests=[tests], per_answer_s=0.5) == [0.0]
    assert code_reward([slow], tests=[tests], per_answer_s=5.0) == [1.0]


@pytest.mark.parametrize("limits", [{"per_answer_s": 0}, {"per_answer_s": float("nan")}, {"per_answer_s": "2"},
                                    {"batch_deadline_s": -5}, {"batch_deadline_s": None}])
def test_limits_that_are_no_number_of_seconds_leave_rows_unjudged_even_where_a_verdict_is_kept(caplog, limits):
    # a verdict kept from an earlier call was returned under them; None logged a traceback
    assert math_reward([R1 % "7"], answer=["7"]) == [1.0]
    with caplog.at_level("WARNING", logger="evalkit.rewards"):
        for _ in range(2):
            assert math_reward([R1 % "7"], answer=["7"], **limits) == [None]
    said = [r for r in caplog.records if "limits are not usable" in r.getMessage()]
    assert len(said) == 1 and said[0].exc_info is None, [r.getMessage() for r in caplog.records]
    name = next(iter(limits))
    assert f"option '{name}': expected a number of seconds above 0, got {limits[name]!r}" in said[0].getMessage()


def test_cosine_length_reward_orders_short_right_long_right_long_wrong_short_wrong():
    completions = [R1 % "4", R1 % "4", R1 % "5", R1 % "5", "<think>\ncut off"]
    ids = [[0] * 100, [0] * 900, [0] * 900, [0] * 100, [0] * 1000]
    r = cosine_length_reward(completions=completions, answer=["4"] * 5, completion_ids=ids, max_len=1000)
    short_right, long_right, long_wrong, short_wrong, cut = r
    assert short_right > long_right > 0 > long_wrong > short_wrong
    assert short_right == pytest.approx(0.5 + 0.25 * (1 + math.cos(0.1 * math.pi)))
    assert cut == pytest.approx(-0.5)  # truncated is wrong, at the long end
    capped = cosine_length_reward(completions=completions, answer=["4"] * 5, completion_ids=ids, max_len=1000,
                                  exceed_value=-2.0)
    assert capped[4] == -2.0 and capped[:4] == r[:4]
    assert cosine_length_reward(completions=[R1 % "4"], answer=[None], completion_ids=[[0]]) == [None]


def test_cosine_matches_trl_get_cosine_scaled_reward_on_the_same_verdicts():
    from trl.rewards import get_cosine_scaled_reward

    completions = [chat("\\boxed{\\frac{1}{3}}"), chat("\\boxed{\\frac{1}{2}}")]
    ids = [[1] * 50, [1] * 80]
    theirs = get_cosine_scaled_reward(max_len=100)(completions, ["\\frac{1}{3}"] * 2, ids)
    ours = cosine_length_reward(completions=completions, solution=["\\frac{1}{3}"] * 2, completion_ids=ids,
                                max_len=100)
    assert ours == pytest.approx(theirs)


def test_overlong_penalty_is_dapo_soft_punishment():
    ids = [[0] * n for n in (10, 80, 90, 100, 101)]
    assert overlong_penalty(completion_ids=ids, max_len=100, cache=20) == [0.0, 0.0, -0.5, -1.0, -1.0]
    assert overlong_penalty(completions=["a b c"], max_len=2, cache=1) == [-1.0]  # words without ids


@pytest.mark.parametrize("reward, option, value", [
    (overlong_penalty, "max_len", "4096"), (overlong_penalty, "cache", "512"), (overlong_penalty, "max_len", None),
    (overlong_penalty, "cache", 200),  # a soft zone longer than the length it ends at
    (cosine_length_reward, "max_len", "4096"), (cosine_length_reward, "min_value_correct", "0.5"),
    (repetition_penalty, "ngram_size", "3"), (repetition_penalty, "ngram_size", 2.5),
])
def test_a_shaping_reward_with_a_bad_option_logs_it_and_scores_none_without_raising(reward, option, value, caplog):
    # each raised TypeError in every call (a string compared with an int): the trainer stopped at its first step
    bound = functools.partial(reward, **{option: value}, **({"max_len": 100} if option == "cache" else {}))
    with caplog.at_level(logging.ERROR, logger="evalkit.rewards"):
        assert bound(completions=["\\boxed{4}", "a b"], answer=["4", "4"], completion_ids=[[1, 2], [3]]) == [None, None]
    assert f"option '{option}'" in caplog.text


def test_shaping_options_of_numpy_numbers_and_a_hard_cutoff_are_taken():
    import numpy as np

    ids = [[0] * n for n in (10, 101)]
    assert overlong_penalty(completion_ids=ids, max_len=100, cache=0) == [0.0, -1.0]  # no soft zone: a hard cutoff
    assert overlong_penalty(completion_ids=ids, max_len=np.int64(100), cache=np.int64(20)) == [0.0, -1.0]
    assert repetition_penalty(completion_ids=[[5, 5, 5, 5, 5]], ngram_size=np.int64(2)) == [-0.75]
    # the values are Python floats, as TRL and a JSON log take them, whatever the options' numpy type
    outputs = (overlong_penalty(completion_ids=[[0] * 90], max_len=np.int32(100), cache=np.int32(20)),
               repetition_penalty(completion_ids=[[5] * 5], max_penalty=np.float32(-1.0)),
               cosine_length_reward(["\\boxed{4}", "\\boxed{5}"], answer=["4", "4"], max_len=np.int64(100),
                                    min_value_correct=np.float32(0.5), max_value_wrong=np.float32(-0.5)))
    for values in outputs:
        assert values and all(type(v) is float for v in values), values


def test_length_penalties_give_one_value_per_completion_whatever_the_ids():
    # TRL checks that a reward returns one value per completion; missing ids fall back to words
    assert overlong_penalty(["a"] * 3, completion_ids=[[1]], max_len=2, cache=1) == [0.0, 0.0, 0.0]
    assert overlong_penalty(["a b c"] * 2, completion_ids=[[1]], max_len=2, cache=1) == [0.0, -1.0]
    assert repetition_penalty(["a a a a"] * 3, completion_ids=[[1, 2, 3]], ngram_size=1) == [0.0, -0.75, -0.75]
    # ids of a shape that cannot be counted (a bare int, unhashable entries) are no ids: the words count
    assert repetition_penalty(["a a a a"] * 2, completion_ids=[5, [{"id": 1}] * 4], ngram_size=1) == [-0.75, -0.75]


def test_repetition_penalty_counts_repeated_ngrams():
    assert repetition_penalty(completion_ids=[[1, 2, 3, 4], [5, 5, 5, 5, 5], [1]], ngram_size=2) == [0.0, -0.75, 0.0]
    looping = "the answer is 4 " * 20
    assert repetition_penalty(completions=[looping, "a fresh sentence with no repeats"])[1] == 0.0
    assert repetition_penalty(completions=[looping])[0] < -0.8


# ---------------------------------------------------------------- group_advantages


@pytest.mark.parametrize("scale", ["group", "batch", "none"])
def test_group_advantages_match_trl_grpo(scale):
    torch = pytest.importorskip("torch")
    from trl.trainer.utils import nanstd

    rewards = [1.0, 0.0, 0.0, 1.0, 0.5, 0.5, 0.5, 0.5, 1.0, 0.0, 0.0, 0.0]
    r = torch.tensor(rewards)
    mean = r.view(-1, 4).mean(dim=1).repeat_interleave(4)
    std = nanstd(r.view(-1, 4), dim=1).repeat_interleave(4) if scale == "group" else nanstd(r).expand_as(r)
    expected = r - mean if scale == "none" else (r - mean) / (std + 1e-4)
    assert group_advantages(rewards, 4, scale=scale) == pytest.approx(expected.tolist(), abs=1e-6)


def test_group_advantages_leave_unjudged_out():
    adv = group_advantages([1.0, None, 0.0, float("nan"), 1.0, 1.0], 3, scale="none")
    assert adv == [0.5, 0.0, -0.5, 0.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="must divide"):
        group_advantages([1.0, 0.0, 1.0], 2)
    # TRL keeps rewards as a float32 tensor, NaN where unjudged: the same numbers as from a list
    torch = pytest.importorskip("torch")
    rewards = [float("nan"), 1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0]
    for scale in ("group", "batch", "none"):
        want = group_advantages(rewards, 4, scale=scale)
        assert want[0] == 0.0 and all(math.isfinite(a) for a in want) and any(want[1:4])
        assert group_advantages(torch.tensor(rewards), 4, scale=scale) == pytest.approx(want, abs=1e-6)


# ---------------------------------------------------------------- veRL


def test_verl_compute_score_as_the_naive_reward_manager_calls_it():
    out = verl.compute_score(data_source="math500", solution_str=R1 % "\\dfrac{14}{3}", ground_truth="4\\frac{2}{3}",
                             extra_info={"index": 0, "num_turns": None})
    assert out == {"score": 1.0, "acc": 1.0, "pred": "\\dfrac{14}{3}", "reason": "correct", "unjudged": 0.0}
    wrong = verl.compute_score("openai/gsm8k", R1 % "12", "#### 13", None)
    assert (wrong["score"], wrong["reason"]) == (0.0, "wrong")


def test_verl_batch_form_as_the_batch_reward_manager_calls_it():
    np = pytest.importorskip("numpy")
    # veRL hands non-tensor batch fields as numpy object arrays
    data_sources = np.array(["math500", "math500", "gpqa", "aime24"], dtype=object)
    extra_infos = np.array([{"verifier": "math"}, {}, None, {"think_open": True}], dtype=object)
    scores = verl.compute_score_batch(
        data_sources=data_sources,
        solution_strs=[R1 % "3", HANG, "<think>A?</think> The answer is (C)", "so... </think> \\boxed{25}"],
        ground_truths=["3", "7", "C", np.int64(25)], extra_infos=extra_infos, per_answer_s=1.0)
    assert [s["score"] for s in scores] == [1.0, 0.0, 1.0, 1.0]
    assert [s["reason"] for s in scores] == ["correct", "timeout", "correct", "correct"]
    # veRL stacks every key into reward_extra_info: each dict must carry the same keys
    assert all(set(s) == {"score", "acc", "pred", "reason", "unjudged"} for s in scores)


def test_an_accepted_answer_the_verifier_cannot_read_is_left_out_while_another_remains():
    # ["B", "7"] for a choice task: "7" is no letter, and every wrong answer was unjudged (None, masked)
    from evalkit.rewards import choice_reward

    answers = ["<think>x</think>I pick (A).", "<think>x</think>I pick (B).", "<think>x</think>I pick (A)."]
    assert choice_reward(completions=answers, answer=[["B", "7"], ["B", "7"], ["7", "8"]]) == [0.0, 1.0, None]


def test_verl_routes_a_hub_datasets_id_by_its_words():
    # veRL's data_source is often the hub id: ARC's is allenai/ai2_arc (the answer is a letter)
    for source in ("allenai/ai2_arc", "arc_challenge", "ARC-Easy", "Idavidrein/gpqa"):
        assert verl.compute_score(source, "<think>x</think> The answer is (B).", "B")["reason"] == "correct", source
    # a name that only holds the letters is math: 'arc' inside another word is not ARC
    assert verl.compute_score("research_math", R1 % "7", "7")["reason"] == "correct"
    # nor 'code' inside unicode (every row went to the code verifier, unjudged), nor 'apps' in perhaps
    for source in ("unicode_math", "perhaps_olympiad", "gsm8k_encoded", "decoded_math",
                   "PrimeIntellect/verifiable-math-problems"):
        assert verl.compute_score(source, R1 % "7", "7")["reason"] == "correct", source
    # code datasets whose names join `code` to a word still go to the code verifier (unjudged: no tests here)
    for source in ("bigcode/bigcodebench", "agentica-org/DeepCoder-Preview-Dataset", "KodCode/KodCode-V1",
                   "nvidia/OpenCodeReasoning", "codeparrot/apps", "BAAI/TACO", "deepmind/code_contests", "lcbv5"):
        assert verl.compute_score(source, R1 % "7", "7")["reason"] == "error", source


def test_verl_judges_a_choice_named_row_with_a_non_letter_gold_as_math(caplog):
    # 'arc' as a word makes arc_math read as ARC; its gold 42 names no option, which choice could only leave unjudged
    with caplog.at_level(logging.WARNING, logger="evalkit.rewards"):
        assert verl.compute_score("arc_math", R1 % "42", "42")["reason"] == "correct"
        assert verl.compute_score("gpqa_numeric", R1 % "41", "42")["reason"] == "wrong"
    assert "judged as math" in caplog.text and caplog.text.count("judged as math") == 1
    # a letter gold keeps the choice verifier: (B) is a letter there, not the math expression B; so does a list
    # of accepted letters, and an option's index stays choice's, said unjudged rather than scored as a number
    assert verl.compute_score("arc_math", "<think>x</think> The answer is (B).", "B")["reason"] == "correct"
    assert verl.compute_score("mmlu", "<think>x</think> The answer is (B).", ["B"])["score"] == 1.0
    assert verl.compute_score("mmlu", "<think>x</think> \\boxed{C}", 2)["unjudged"] == 1.0


def load_by_path(path, name):
    """What veRL's get_custom_reward_fn and OpenRLHF's remote_rm_url=*.py do with the file."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_verl_loads_the_file_from_custom_reward_function_path():
    module = load_by_path(verl.__file__, "custom_module")
    compute = functools.partial(module.compute_score)  # veRL wraps it with the config's reward_kwargs
    assert compute(data_source="aime24", solution_str=R1 % "025", ground_truth="25", extra_info={})["score"] == 1.0


def test_verl_unjudged_scores_zero_and_is_counted():
    out = verl.compute_score_batch(["math500"], [R1 % "1"], [None], [None])
    assert out[0]["score"] == 0.0 and out[0]["unjudged"] == 1.0


# ---------------------------------------------------------------- OpenRLHF


def test_openrlhf_reward_func_as_the_remote_reward_model_calls_it(tiny_model):
    torch = pytest.importorskip("torch")
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model)
    prompt = tok.apply_chat_template([{"role": "user", "content": "What is 2+2?"}], tokenize=False,
                                     add_generation_prompt=True)
    responses = ["<think>\n2+2=4\n</think>\n$\\boxed{4}$", "<think>\nhmm\n</think>\n$\\boxed{5}$",
                 "<think>\n$\\boxed{4}$ is in the prompt only"]
    # OpenRLHF decodes prompt + response token ids with special tokens kept, padding included
    queries = [tok.decode(tok(prompt + r + "<|im_end|>", add_special_tokens=False)["input_ids"],
                          skip_special_tokens=False) for r in responses]
    queries[1] = "<|endoftext|>" * 3 + queries[1]  # left padding
    out = openrlhf.reward_func(queries, [prompt] * 3, ["4", "4", "4"])
    assert isinstance(out["rewards"], torch.Tensor)
    assert out["rewards"].tolist() == [1.0, 0.0, 0.0]
    assert out["scores"].tolist() == [1.0, 0.0, 0.0]
    assert out["extra_logs"]["unjudged"].tolist() == [0.0, 0.0, 0.0]

    async def one_at_a_time():  # newer OpenRLHF: one sample per call, each in a thread
        return await asyncio.gather(*(asyncio.to_thread(openrlhf.reward_func, [q], [prompt], ["4"]) for q in queries))

    assert [r["rewards"].item() for r in asyncio.run(one_at_a_time())] == [1.0, 0.0, 0.0]


def test_openrlhf_loads_the_file_given_as_remote_rm_url(monkeypatch):
    monkeypatch.setenv("EVALKIT_REWARD_VERIFIER", "choice")
    module = load_by_path(openrlhf.__file__, "reward_func")
    out = module.reward_func(["Q? <|im_start|>assistant\nThe answer is (B)<|im_end|>"], ["Q? "], ["B"])
    assert out["rewards"].tolist() == [1.0]


def test_openrlhf_file_form_reads_its_think_format_from_the_environment(monkeypatch):
    # a Sky-T1 reply cut off mid-thought: read as r1 it has no thinking, so its guess scored 1.0
    prompt = "<|im_start|>user\nWhat is 3+4?<|im_end|>\n<|im_start|>assistant\n"
    cut = prompt + "<|begin_of_thought|>3+4 is \\boxed{7}? let me verify by"
    done = prompt + "<|begin_of_thought|>3+4=7<|end_of_thought|><|begin_of_solution|>\\boxed{7}<|end_of_solution|>"
    module = load_by_path(openrlhf.__file__, "reward_func")
    monkeypatch.setenv("EVALKIT_REWARD_THINK_FORMAT", "sky")
    assert module.reward_func([cut, done], [prompt] * 2, ["7", "7"])["rewards"].tolist() == [0.0, 1.0]
    monkeypatch.delenv("EVALKIT_REWARD_THINK_FORMAT")
    assert module.reward_func([cut], [prompt], ["7"], think_format="sky")["rewards"].tolist() == [0.0]


def test_openrlhf_split_response_by_prompt_marker_or_separator():
    r1_prompt = "<｜begin▁of▁sentence｜><｜User｜>2+2?<｜Assistant｜><think>\n"
    query = r1_prompt + "so 4 </think> \\boxed{4}<｜end▁of▁sentence｜>"
    assert openrlhf.split_response(query, r1_prompt) == ("so 4 </think> \\boxed{4}", True)
    # the prompt re-tokenised differently: fall back to the template's assistant marker
    assert openrlhf.split_response(query, "something else") == ("<think>\nso 4 </think> \\boxed{4}", False)
    assert openrlhf.split_response("Q: 2+2? ### A: \\boxed{4}", None, separator="### A:") == (" \\boxed{4}", False)
    # a separator or an assistant marker the policy writes inside its thinking does not move the cut
    chatml = "<|im_start|>user\nWhat is 3+4?<|im_end|>\n<|im_start|>assistant\n"
    for cut, prompt, separator in ((chatml + "<think>x ###ANSWER \\boxed{7}", chatml, "###ANSWER"),
                                   ("Q ###ANSWER <think>x ###ANSWER \\boxed{7}", None, "###ANSWER"),
                                   (chatml + "<think>x <|im_start|>assistant\n\\boxed{7}", None, None)):
        response, _ = openrlhf.split_response(cut, prompt, separator=separator)
        assert response.lstrip().startswith("<think>x ")
        assert openrlhf.score_queries([cut], [prompt], ["7"], separator=separator)["rewards"] == [0.0]
    out = openrlhf.score_queries([query, query], [r1_prompt, r1_prompt], ["4", None])
    assert out["rewards"] == [1.0, 0.0] and out["extra_logs"]["unjudged"] == [0.0, 1.0]


def test_openrlhf_without_prompts_reads_a_gpt_oss_or_plain_text_turn_not_the_prompts_markers():
    # with no `prompts` and no known marker the whole query was the response, and a think marker in the prompt (a
    # harmony turn's `<|end|>`, R1-Zero's instruction naming `<think> </think>`) closed thinking cut off after it:
    # the box inside was paid
    harmony = ("<|start|>system<|message|>You are ChatGPT.<|end|><|start|>user<|message|>What is 3+4?<|end|>"
               "<|start|>assistant")
    cut = "<|channel|>analysis<|message|>Thinking: maybe \\boxed{7}"
    done = cut + "<|end|><|start|>assistant<|channel|>final<|message|>\\boxed{7}<|return|>"
    assert openrlhf.split_response(harmony + done, None, think_format="harmony") == (done, False)
    out = openrlhf.score_queries([harmony + cut, harmony + done], None, ["7", "7"], think_format="harmony")
    assert out["rewards"] == [0.0, 1.0] and out["reasons"] == ["truncated", "correct"]
    r1_zero = ("A conversation between User and Assistant. The reasoning process is enclosed within <think> </think> "
               "tags. User: What is 3+4? Assistant: <think>")
    out = openrlhf.score_queries([r1_zero + "\nLet me guess \\boxed{7} and", r1_zero + "so 7 </think> \\boxed{7}"],
                                 None, ["7", "7"])
    assert out["rewards"] == [0.0, 1.0] and out["reasons"][0] == "truncated"
    # an `Assistant:` the policy imagines in its own reply never moves the cut (the review)
    imagined = ("Question: What is 3+4?\nAnswer: <think>Let me imagine the chat.\nAssistant: maybe \\boxed{7}, "
                "but let me check")
    assert openrlhf.score_queries([imagined], None, ["7"])["reasons"] == ["truncated"]


@pytest.mark.timeout(30)  # a guard, not a measure: the old cut took 51 s here, this one about 1.5 s
def test_openrlhf_trailing_pads_are_cut_in_one_pass_over_them():
    # OpenRLHF <= 0.6 decodes padded sequences with their special tokens, and a degenerate policy may
    # emit ends until max length: 300,000 of them (3.9 MB) must not stall the reward's request thread
    chatml = "<|im_start|>user\nWhat is 3+4?<|im_end|>\n<|im_start|>assistant\n"
    reply = "<think>x</think> \\boxed{7}  "
    assert openrlhf.split_response(chatml + reply + "<|im_end|>\n" + "<|endoftext|>" * 300_000) == (reply, False)
    # white space between the ends goes with them; before the first end, and without one, it stays
    assert openrlhf.split_response(chatml + reply + "<|im_end|>\n <pad> </s>\n") == (reply, False)
    assert openrlhf.split_response(chatml + reply) == (reply, False)


# ---------------------------------------------------------------- export


@pytest.fixture
def toy_task(tmp_path):
    rows = [{"uid": "a", "question": "What is $1+1$?", "solution": "So it is $\\boxed{2}$."},
            {"uid": "b", "question": "What is $\\frac{1}{2}+\\frac{1}{3}$?", "solution": "$\\boxed{\\frac{5}{6}}$"}]
    (tmp_path / "toy.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    spec = tmp_path / "toy.yaml"
    spec.write_text(
        "name: toy\n"
        "dataset: {local: toy.jsonl}\n"
        "fields: {id: uid, problem: question, answer: '{{ solution | last_boxed }}'}\n"
        "system: You are a careful mathematician.\n"
        "prompt: \"Problem ({{ uid }}): {{ problem }}\\nPut the answer in \\\\boxed{}.\"\n"
        "verifier: math\n")
    return spec


def test_export_trl_rows_train_with_math_reward(toy_task, tmp_path):
    out = export_task(str(toy_task), "trl", tmp_path / "train.jsonl")
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    user = "Problem (a): What is $1+1$?\nPut the answer in \\boxed{}."
    assert rows[0] == {"prompt": [{"role": "system", "content": "You are a careful mathematician."},
                                  {"role": "user", "content": user}],
                       "answer": "2", "problem_id": "a", "task": "toy", "verifier": "math"}
    from datasets import load_dataset

    ds = load_dataset("json", data_files=str(out), split="train")
    columns = {k: ds[k] for k in ds.column_names if k != "prompt"}
    assert math_reward(completions=[R1 % "2", R1 % "\\frac56"], **columns) == [1.0, 1.0]


def test_export_verl_parquet_schema_routes_through_compute_score(toy_task, tmp_path):
    import pyarrow.parquet as pq

    out = export_task(str(toy_task), "verl", tmp_path / "train.parquet")
    rows = pq.read_table(out).to_pylist()
    assert set(rows[1]) == {"data_source", "prompt", "ability", "reward_model", "extra_info"}
    assert rows[1]["data_source"] == "toy" and rows[1]["prompt"][-1]["role"] == "user"
    assert rows[1]["reward_model"] == {"style": "rule", "ground_truth": "\\frac{5}{6}"}
    assert rows[1]["extra_info"]["verifier"] == "math" and rows[1]["extra_info"]["problem_id"] == "b"
    score = verl.compute_score(rows[1]["data_source"], R1 % "\\frac{5}{6}", rows[1]["reward_model"]["ground_truth"],
                               rows[1]["extra_info"])
    assert score["score"] == 1.0


def test_verl_rows_read_with_pandas_keep_their_think_format_and_a_capital_suffix_is_still_parquet(toy_task, tmp_path):
    # pandas reads a parquet list as a numpy array: a row's own think format ("signals") left every row unjudged;
    # `--out t.PARQUET` wrote JSON lines under the name
    import pandas as pd

    (tmp_path / "fmt.yaml").write_text("- {name: mine, open: '<reasoning>', close: '</reasoning>', "
                                       "signals: ['<reasoning>']}\n")
    out = export_task(str(toy_task), "verl", tmp_path / "train.PARQUET", think_format=str(tmp_path / "fmt.yaml"))
    assert out.read_bytes()[:4] == b"PAR1"
    row = pd.read_parquet(out).iloc[1].to_dict()
    assert type(row["extra_info"]["think_format"]["signals"]).__name__ == "ndarray"
    good, bad = ("<reasoning>x</reasoning>\n\\boxed{\\frac{5}{6}}", "<reasoning>x</reasoning>\n\\boxed{1}")
    scores = [verl.compute_score(row["data_source"], text, row["reward_model"]["ground_truth"], row["extra_info"])
              for text in (good, bad)]
    assert [(s["score"], s["reason"]) for s in scores] == [(1.0, "correct"), (0.0, "wrong")]


def test_export_leaves_think_open_to_the_trainers_template_so_a_cut_reply_is_truncated(toy_task, tmp_path):
    # An R1-distill template ends the prompt in <think>: veRL's responses start inside thinking and
    # veRL passes no finish_reason. Seven closed replies show the template opened it; the one cut off
    # mid-thought with a guess in it is truncated, as TRL's math_reward reads the same batch.
    import pyarrow.parquet as pq

    row = pq.read_table(export_task(str(toy_task), "verl", tmp_path / "train.parquet")).to_pylist()[0]
    assert row["extra_info"]["think_open"] is None  # the toy spec does not open thinking itself
    closed = "Let me add. 1+1=2.\n</think>\n\nSo \\boxed{2}."
    cut = "Let me add. Maybe \\boxed{2}? Wait, let me"
    solutions = [closed] * 7 + [cut]
    for extra in (row["extra_info"], {}):
        scores = verl.compute_score_batch([row["data_source"]] * 8, solutions, ["2"] * 8, [extra] * 8)
        assert [s["reason"] for s in scores] == ["correct"] * 7 + ["truncated"], extra
    assert math_reward(completions=solutions, answer=["2"] * 8) == [1.0] * 7 + [0.0]
    # a row that says its prompt did not open thinking is taken at its word, as before
    said = verl.compute_score_batch(["toy"] * 8, solutions, ["2"] * 8, [{"think_open": False}] * 8)
    assert said[-1]["reason"] == "correct"


def test_a_spec_that_opens_thinking_exports_it_to_trl_rows_as_to_verl(toy_task, tmp_path):
    # think_open: true in the spec: a reply cut mid-thought with a guess in it is truncated for TRL's rewards
    # too, as for veRL's and in `evalkit run` (the TRL row dropped the flag, and the guess scored 1)
    import pyarrow.parquet as pq

    toy_task.write_text(toy_task.read_text() + "think_open: true\n")
    trl_row = [json.loads(line) for line in export_task(str(toy_task), "trl", tmp_path / "t.jsonl").read_text().splitlines()][0]
    verl_row = pq.read_table(export_task(str(toy_task), "verl", tmp_path / "t.parquet")).to_pylist()[0]
    assert trl_row["think_open"] is True and verl_row["extra_info"]["think_open"] is True
    cut = "Let me add. Maybe \\boxed{2}? Wait, let me"
    columns = {k: [v] * 4 for k, v in trl_row.items() if k != "prompt"}
    assert math_reward(completions=[cut] * 4, **columns) == [0.0] * 4


def test_export_of_golds_some_lists_some_not_writes_one_column_type(tmp_path):
    import gzip

    import pyarrow.parquet as pq
    from datasets import load_dataset

    rows = [{"id": "p1", "q": "Write the pair (1, 2) as a list.", "a": "[1, 2]"},
            {"id": "p2", "q": "Name a square root of 4.", "a": ["2", "-2"]}]
    (tmp_path / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "t.yaml").write_text("name: mixed\ndataset: {local: data.jsonl}\nfields: {problem: q, answer: a}\n")
    # parquet cannot hold texts and lists in one column: this was a pyarrow traceback, exit 1
    golds = [r["reward_model"]["ground_truth"] for r in
             pq.read_table(export_task(str(tmp_path / "t.yaml"), "verl", tmp_path / "v.parquet")).to_pylist()]
    assert golds == [["[1, 2]"], ["2", "-2"]]
    # datasets read a JSON-lines column of texts and lists as JSON: the text "[1, 2]" became two answers
    for out in ("t.jsonl", "t.jsonl.gz"):
        path = export_task(str(tmp_path / "t.yaml"), "trl", tmp_path / out)
        if out.endswith(".gz"):  # compressed, as the name says (it was plain text under a .gz name)
            assert json.loads(gzip.decompress(path.read_bytes()).splitlines()[0])["answer"] == ["[1, 2]"]
        columns = load_dataset("json", data_files=str(path), split="train").to_dict()
        assert math_reward(completions=[R1 % "1", R1 % "-2"], answer=columns["answer"]) == [0.0, 1.0]


def test_files_exported_with_gold_lists_load_together_beside_one_with_several_accepted_answers(tmp_path, capsys):
    from datasets import concatenate_datasets, load_dataset

    (tmp_path / "one.jsonl").write_text('{"q": "2+2?", "a": "4"}\n{"q": "3+3?", "a": null}\n')
    (tmp_path / "many.jsonl").write_text('{"q": "Root of 4?", "a": ["2", "-2"]}\n')
    for name in ("one", "many"):
        (tmp_path / f"{name}.yaml").write_text(f"name: {name}\ndataset: {{local: {name}.jsonl}}\n"
                                               "fields: {problem: q, answer: a}\n")
    # the row without a gold is written, and the user is told that no reward can score it
    export_task(str(tmp_path / "one.yaml"), "verl", tmp_path / "plain.parquet")
    assert "1 of 2 problems have no gold answer the verifier can read (first: problem 1: no gold answer); " \
           "their rows are written, but no reward can score them" in capsys.readouterr().err
    export_task(str(tmp_path / "many.yaml"), "verl", tmp_path / "many.parquet")
    parts = lambda *names: [load_dataset("parquet", data_files=str(tmp_path / n), split="train") for n in names]  # noqa: E731
    # veRL's RLHFDataset loads each file, then concatenates: a text column beside a list column does not align
    with pytest.raises(ValueError):
        concatenate_datasets(parts("plain.parquet", "many.parquet"))
    export_task(str(tmp_path / "one.yaml"), "verl", tmp_path / "lists.parquet", gold_lists=True)
    both = concatenate_datasets(parts("lists.parquet", "many.parquet"))
    golds = [row["reward_model"]["ground_truth"] for row in both]
    assert golds == [["4"], None, ["2", "-2"]]
    assert [s["score"] for s in verl.compute_score_batch(["one", "one", "many"], [R1 % "4", R1 % "6", R1 % "-2"],
                                                          golds)] == [1.0, 0.0, 1.0]
    # the same flag from the command line, for TRL's JSON lines loaded in one call
    out = CliRunner().invoke(main, ["export", str(tmp_path / "one.yaml"), "--format", "trl", "--gold-lists",
                                    "--out", str(tmp_path / "one.jsonl.out.jsonl")])
    assert out.exit_code == 0, out.output
    export_task(str(tmp_path / "many.yaml"), "trl", tmp_path / "many.out.jsonl")
    rows = load_dataset("json", data_files=[str(tmp_path / "one.jsonl.out.jsonl"), str(tmp_path / "many.out.jsonl")],
                        split="train")
    assert rows["answer"] == [["4"], None, ["2", "-2"]]
    # a task none of whose problems has a gold writes nothing: exit 2
    (tmp_path / "one.jsonl").write_text('{"q": "3+3?", "a": null}\n')
    out = CliRunner().invoke(main, ["export", str(tmp_path / "one.yaml"), "--format", "trl",
                                    "--out", str(tmp_path / "none.jsonl")])
    assert out.exit_code == 2 and "no problem has a gold answer the verifier can read" in out.output
    assert not (tmp_path / "none.jsonl").exists()


def test_a_parquet_of_math_and_code_rows_keeps_both_gold_columns(tmp_path):
    # a multi-task run curated as TRL parquet: pyarrow took its columns from the first row alone, so
    # the code rows' `tests` (or the math rows' `answer`) vanished and their rewards were None
    import pyarrow.parquet as pq

    from evalkit.rewards.export import write_rows

    tests = json.dumps({"kind": "assert", "tests": ["assert add(1, 2) == 3"]})
    rows = [{"prompt": [{"role": "user", "content": "1+1?"}], "answer": "2", "task": "sums"},
            {"prompt": [{"role": "user", "content": "Write add."}], "tests": tests, "task": "code"}]
    for order in (rows, rows[::-1]):
        back = pq.read_table(write_rows(order, tmp_path / "mixed.parquet")).to_pylist()
        by_task = {r["task"]: r for r in back}
        assert (by_task["sums"]["answer"], by_task["code"]["tests"]) == ("2", tests)
        assert by_task["sums"]["tests"] is None and by_task["code"]["answer"] is None


def test_export_names_what_the_trainer_must_be_given_itself(toy_task, tmp_path):
    # GRPOTrainer applies one set of chat template options to every prompt: a row cannot carry them
    spec = tmp_path / "q3.yaml"
    spec.write_text(toy_task.read_text().replace("dataset: {local: toy.jsonl}", f"dataset: {{local: {toy_task.parent}/toy.jsonl}}")
                    + "chat_template_kwargs: {enable_thinking: false}\nverifier_options: {think_fallback: true}\n")
    r = CliRunner().invoke(main, ["export", str(spec), "--format", "trl", "--out", str(tmp_path / "t.jsonl")])
    assert r.exit_code == 0, r.output
    assert 'chat template options {"enable_thinking": false}; give the trainer the same' in r.stderr
    # the verifier options travel in the rows (test_a_trl_row_carries_its_tasks_verifier_options): no note for them
    assert "think_fallback" not in r.stderr
    r = CliRunner().invoke(main, ["export", "mbpp", "--format", "trl", "--out", str(tmp_path / "m.jsonl")])
    assert r.exit_code == 0 and "note:" not in r.stderr, r.stderr
    r = CliRunner().invoke(main, ["export", str(toy_task), "--format", "trl", "--out", str(tmp_path / "u.jsonl")])
    assert r.exit_code == 0 and "note:" not in r.stderr


def test_a_trl_row_carries_its_tasks_verifier_options(toy_task, tmp_path):
    # one TRL file of two tasks, one verified with think_fallback (a box left inside the thinking counts): each row is
    # rewarded as its task is evaluated. TRL rows carried no options, so a file mixing tasks could not be scored so.
    from datasets import load_dataset

    from evalkit.rewards.export import export_task

    spec = tmp_path / "fallback.yaml"
    spec.write_text(toy_task.read_text().replace("{local: toy.jsonl}", f"{{local: {toy_task.parent}/toy.jsonl}}")
                    .replace("name: toy", "name: toy_fallback") + "verifier_options: {think_fallback: true}\n")
    texts = [export_task(str(path), "trl", tmp_path / f"{i}.jsonl", limit=1).read_text()
             for i, path in enumerate((toy_task, spec))]
    (tmp_path / "mixed.jsonl").write_text("".join(texts))
    rows = load_dataset("json", data_files=str(tmp_path / "mixed.jsonl"), split="train").to_list()
    assert [r["task"] for r in rows] == ["toy", "toy_fallback"]
    assert rows[0]["verifier_options"] is None and json.loads(rows[1]["verifier_options"]) == {"think_fallback": True}
    # the columns as GRPOTrainer passes them to a reward function: every one but the prompt, as keyword lists
    columns = {key: [row[key] for row in rows] for key in rows[0] if key != "prompt"}
    boxed_in_thought = "<think>1+1 is \\boxed{2}.</think> I am done."
    reasons = []
    assert math_reward([boxed_in_thought] * 2, log_extra=lambda key, values: reasons.append((key, values)),
                       **columns) == [0.0, 1.0]
    assert dict(reasons)["math_reward/reason"] == ["no_answer", "correct"]


def test_math_and_choice_rows_in_one_trl_file_are_each_paid_once(toy_task, tmp_path):
    # both rewards read `answer`: a choice row's boxed letter was paid by math_reward and choice_reward (2.0), and
    # every math row was counted as a fault of choice_reward's
    from datasets import load_dataset

    from evalkit.rewards.export import export_task

    (tmp_path / "c.jsonl").write_text(json.dumps({"qid": "q1", "stem": "Which is prime?", "gold": "C"}) + "\n")
    (tmp_path / "mcq.yaml").write_text(
        "name: mcq\ndataset: {local: c.jsonl}\nfields: {id: qid, problem: stem, answer: gold}\n"
        "prompt: '{{ stem }} A) 4 B) 6 C) 7 D) 9'\nverifier: choice\nverifier_options: {letters: ABCD}\n")
    texts = [export_task(str(path), "trl", tmp_path / f"{i}.jsonl", limit=1).read_text()
             for i, path in enumerate((toy_task, tmp_path / "mcq.yaml"))]
    (tmp_path / "mixed.jsonl").write_text("".join(texts))
    rows = load_dataset("json", data_files=str(tmp_path / "mixed.jsonl"), split="train").to_list()
    assert [(r["task"], r["verifier"]) for r in rows] == [("toy", "math"), ("mcq", "choice")]
    columns = {key: [row[key] for row in rows] for key in rows[0] if key != "prompt"}
    completions = ["<think>x</think> So it is \\boxed{2}.", "<think>x</think> The answer is \\boxed{C}."]
    metrics: dict[str, float] = {}
    paid = [math_reward(completions, log_metric=metrics.__setitem__, **columns),
            choice_reward(completions, log_metric=metrics.__setitem__, **columns)]
    assert paid == [[1.0, None], [None, 1.0]]
    assert [metrics[f"{name}/{key}"] for name in ("math_reward", "choice_reward") for key in ("unjudged", "no_gold")] \
        == [0.0, 1.0, 0.0, 1.0]
    # a dataset of the user's own, without the column, is read as before
    assert math_reward(completions, answer=["2", "C"]) == [1.0, 1.0]


def test_a_verifier_options_column_gives_each_row_its_own(caplog):
    # a column (a list, a numpy array) of mappings or their JSON text; a row it cannot read is unjudged, alone
    import numpy as np

    unboxed = "<think>x</think> x = 3, so 3"
    strict = json.dumps({"require_box": True})
    for column in ([strict, None], np.array([strict, ""], dtype=object), [{"require_box": True}, float("nan")],
                   [{"require_box": True, "letters": None}, {"require_box": None}]):  # a struct column's nulls
        assert math_reward([unboxed] * 2, answer=["3", "3"], verifier_options=column) == [0.0, 1.0], column
    with caplog.at_level("ERROR", logger="evalkit.rewards"):
        assert math_reward([unboxed] * 3, answer=["3"] * 3, verifier_options=["{require_box", 5, strict]) == \
            [None, None, 0.0]
    assert "verifier_options is not JSON" in caplog.text and "must be a mapping or its JSON text, got int" in caplog.text
    # one set of options in a mapping other than a dict (veRL's reward_kwargs hold an OmegaConf DictConfig) is one
    # set, not a column: its keys were read as rows, the right answer left unjudged and the unboxed ones paid
    from types import MappingProxyType

    import pyarrow as pa

    boxed = "<think>x</think> \\boxed{3}"
    assert math_reward([boxed, unboxed, unboxed], answer=["3"] * 3,
                       verifier_options=MappingProxyType({"require_box": True})) == [1.0, 0.0, 0.0]
    assert verl.compute_score("math", unboxed, "3", {}, verifier_options=MappingProxyType({"require_box": True}))[
        "reason"] == "no_answer"
    # a pyarrow column: its items are pyarrow scalars (every row was refused as "StringScalar")
    assert math_reward([unboxed] * 2, answer=["3", "3"], verifier_options=pa.array([strict, None])) == [0.0, 1.0]
    # the choice verifier's letters, and the math verifier's options in the length-scaled reward
    assert choice_reward(["Answer: E", "Answer: E"], answer=["E", "E"],
                         verifier_options=[json.dumps({"letters": "ABCD"}), None]) == [None, 1.0]
    scaled = cosine_length_reward([unboxed] * 2, answer=["3", "3"], max_len=100, verifier_options=[strict, None])
    assert scaled[0] < 0 < scaled[1]


def test_a_verl_row_carries_its_tasks_verifier_options(toy_task, tmp_path):
    # evaluated with think_fallback (a box left inside the thinking counts), the row is rewarded so too;
    # it was rewarded with the verifier's defaults (no_answer)
    import pyarrow.parquet as pq

    spec = tmp_path / "fallback.yaml"
    spec.write_text(toy_task.read_text().replace("{local: toy.jsonl}", f"{{local: {toy_task.parent}/toy.jsonl}}")
                    + "verifier_options: {think_fallback: true}\n")
    plain, given = (pq.read_table(export_task(str(path), "verl", tmp_path / f"{i}.parquet")).to_pylist()[0]
                    for i, path in enumerate((toy_task, spec)))
    assert given["extra_info"]["verifier_options"] == {"think_fallback": True}
    boxed_in_thought = "<think>1+1 is \\boxed{2}.</think> I am done."
    scores = verl.compute_score_batch(["toy"] * 2, [boxed_in_thought] * 2, ["2"] * 2,
                                      [plain["extra_info"], given["extra_info"]])
    assert [s["reason"] for s in scores] == ["no_answer", "correct"]
    # the trainer's reward_kwargs set them for rows without their own
    assert verl.compute_score("toy", boxed_in_thought, "2", plain["extra_info"],
                              verifier_options={"think_fallback": True})["reason"] == "correct"


def test_export_never_writes_over_its_own_spec_or_data(toy_task):
    before = {p: p.read_bytes() for p in (toy_task, toy_task.parent / "toy.jsonl")}
    for target in before:
        r = CliRunner().invoke(main, ["export", str(toy_task), "--format", "trl", "--out", str(target)])
        assert r.exit_code == 2 and f"is task toy's {'spec' if target == toy_task else 'dataset'}" in r.output
    assert {p: p.read_bytes() for p in before} == before


def test_export_writes_a_users_think_format_row_that_trains_from_anywhere(toy_task, tmp_path, monkeypatch):
    (tmp_path / "myfmt.yaml").write_text("- name: mine\n  open: '<reason>'\n  close: '</reason>'\n")
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(main, ["export", str(toy_task), "--format", "trl", "--out", "train.jsonl",
                                  "--think-format", "myfmt.yaml"])
    assert r.exit_code == 0, r.output
    rows = [json.loads(line) for line in (tmp_path / "train.jsonl").read_text().splitlines()]
    assert rows[0]["think_format"]["name"] == "mine" and rows[0]["think_format"]["open"] == "<reason>"
    monkeypatch.chdir(tmp_path.parent)  # the trainer runs elsewhere, where no myfmt.yaml is
    from datasets import load_dataset

    ds = load_dataset("json", data_files=str(tmp_path / "train.jsonl"), split="train")
    columns = {k: ds[k] for k in ds.column_names if k != "prompt"}
    assert math_reward(completions=["<reason>1+1</reason> \\boxed{2}", "<reason>so \\boxed{5/6}"],
                       **columns) == [1.0, 0.0]  # the second never closed its thinking: cut off
    verl_out = export_task(str(toy_task), "verl", tmp_path / "v.parquet", think_format=str(tmp_path / "myfmt.yaml"))
    import pyarrow.parquet as pq

    row = pq.read_table(verl_out).to_pylist()[0]
    assert verl.compute_score(row["data_source"], "<reason>1+1</reason> \\boxed{2}",
                              row["reward_model"]["ground_truth"], row["extra_info"])["score"] == 1.0
    assert row["extra_info"]["problem"] == row["prompt"][-1]["content"]  # a judge reads the problem as asked
    assert export_task(str(toy_task), "trl", tmp_path / "r1.jsonl", think_format="r1").read_text().count(
        '"think_format": "r1"') == 2  # a built-in row by its name


def test_export_cli_and_its_errors(toy_task, tmp_path):
    runner = CliRunner()
    ok = runner.invoke(main, ["export", str(toy_task), "--format", "trl", "--out", str(tmp_path / "t.parquet")])
    assert ok.exit_code == 0, ok.output
    assert "wrote" in ok.output and (tmp_path / "t.parquet").is_file()
    bad = runner.invoke(main, ["export", str(toy_task), "--format", "verl", "--out", str(tmp_path / "v.jsonl")])
    assert bad.exit_code == 2 and "parquet" in bad.output and "Traceback" not in bad.output
    assert not (tmp_path / "v.jsonl").exists()
    missing = runner.invoke(main, ["export", str(tmp_path / "nope.yaml"), "--format", "trl", "--out",
                                   str(tmp_path / "x.jsonl")])
    assert missing.exit_code == 2 and "nope.yaml" in missing.output


def test_export_to_a_place_that_cannot_be_written_is_one_line_exit_2(toy_task, tmp_path):
    (tmp_path / "blocker").write_text("a file, not a folder")
    before = sorted(tmp_path.rglob("*"))
    r = CliRunner().invoke(main, ["export", str(toy_task), "--format", "trl", "--out",
                                  str(tmp_path / "blocker" / "t.jsonl")])
    assert r.exit_code == 2, r.output
    assert "blocker/t.jsonl: cannot write it" in r.output and "Traceback" not in r.output
    assert sorted(tmp_path.rglob("*")) == before


def test_repetition_penalty_reads_tensor_ids_like_lists():
    """A hand-written loop passes its completion ids as tensors: a loop is punished all the same."""
    torch = pytest.importorskip("torch")
    looping = [5, 6, 7] * 10
    expected = repetition_penalty(completions=["x"], completion_ids=[looping])
    assert expected[0] < -0.8
    assert repetition_penalty(completions=["x"], completion_ids=[torch.tensor(looping)]) == expected
    assert repetition_penalty(completions=["x"], completion_ids=torch.tensor([looping])) == expected


def test_no_reward_raises_on_missing_completions_or_one_junk_query():
    assert think_format_reward(completions=None) == []
    assert cosine_length_reward(completions=None, answer=["1"]) == []
    assert overlong_penalty(completions=None) == [] and repetition_penalty(completions=None) == []
    assert openrlhf.reward_func(None, None, None)["rewards"].tolist() == []
    prompt = "<|im_start|>user\nWhat?<|im_end|>\n<|im_start|>assistant\n"
    out = openrlhf.score_queries([prompt + R1 % "3", None, 5], [prompt, 7, None], ["3", "3", "3"])
    assert out["rewards"] == [1.0, 0.0, 0.0]  # one junk query scores 0; the others are still judged


def test_a_text_prompt_that_opened_thinking_is_read_like_the_think_open_column():
    # a standard (text) dataset with an R1-distill template applied: the prompt ends with <think>; a
    # completion cut off mid-thought has no answer, whatever it boxed while thinking
    prompt = "<|im_start|>user\nWhat is 2+3?<|im_end|>\n<|im_start|>assistant\n<think>\n"
    completions = ["Maybe \\boxed{5}, let me check that again", "2+3=5</think>\nThe answer is \\boxed{5}."]
    assert math_reward(completions, prompts=[prompt] * 2, answer=["5", "5"]) == [0.0, 1.0]
    assert think_format_reward(completions, prompts=[prompt] * 2) == [0.0, 1.0]
    # the column, when given, decides
    assert math_reward(completions, prompts=[prompt] * 2, answer=["5", "5"], think_open=[False] * 2) == [1.0, 1.0]


def test_chat_prompts_read_the_template_off_the_batch():
    # chat-message prompts are templated inside the trainer, one template for the whole batch: a
    # completion that closes thinking without opening it shows an R1-distill template opened it
    chat = [[{"role": "user", "content": "What is 2+3?"}]] * 3
    opened = ["Maybe \\boxed{5}, let me check that again", "2+3=5</think>\nThe answer is \\boxed{5}.",
              "2+3=5</think>\n\\boxed{5}"]
    assert math_reward(opened, prompts=chat, answer=["5"] * 3) == [0.0, 1.0, 1.0]
    assert think_format_reward(opened, prompts=chat) == [0.0, 1.0, 1.0]
    # a model that opens its own block (Qwen3's template): the same truncated text is all answer
    own = ["Maybe \\boxed{5}, let me check", "<think>\n2+3=5</think>\n\\boxed{5}", "<think>\nhm</think>\n\\boxed{5}"]
    assert math_reward(own, prompts=chat, answer=["5"] * 3) == [1.0, 1.0, 1.0]
    assert think_format_reward(own, prompts=chat) == [0.0, 1.0, 1.0]
    # a batch that shows neither reads as not opened; the column still decides over the batch
    assert math_reward(opened[:1], prompts=chat[:1], answer=["5"]) == [1.0]
    assert math_reward(opened, prompts=chat, answer=["5"] * 3, think_open=False) == [1.0, 1.0, 1.0]
    # text prompts are read one by one, beside chat prompts in the same batch
    text = "<|im_start|>user\nWhat is 2+3?<|im_end|>\n<|im_start|>assistant\n"
    assert math_reward(opened, prompts=[text, chat[0], chat[0]], answer=["5"] * 3) == [1.0, 1.0, 1.0]


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_export_writes_files_with_the_modes_the_umask_gives(toy_task, tmp_path, umask, mode):
    import os
    import stat

    old = os.umask(umask)
    try:
        for name in ("train.jsonl", "train.parquet"):
            res = CliRunner().invoke(main, ["export", str(toy_task), "--format", "trl", "--out", str(tmp_path / name)])
            assert res.exit_code == 0, res.output
            assert stat.S_IMODE((tmp_path / name).stat().st_mode) == mode, name
    finally:
        os.umask(old)


def test_a_row_of_odd_shape_never_costs_the_other_rows_their_verdicts():
    # a finish_reason that is not text (a list column read from parquet) says nothing: the row is judged
    good = "<think>x</think> The answer is \\boxed{7}"
    assert math_reward([good, good], answer=["7", "7"], finish_reason=[["length"], None]) == [1.0, 1.0]
    out = verl.compute_score_batch(["math"] * 3, [good] * 3, ["7"] * 3, [None, {"finish_reason": ["x"]}, None])
    assert [(o["score"], o["unjudged"]) for o in out] == [(1.0, 0.0)] * 3


def test_one_text_instead_of_a_list_of_completions_is_nothing_to_score():
    # not one value per character: every reward reads a bare string alike, as no completions
    text = "<think>x</think> The answer is \\boxed{7}"
    assert math_reward(text, answer="7") == [] and cosine_length_reward(text, answer="7") == []
    assert think_format_reward(text) == [] and overlong_penalty(text) == [] and repetition_penalty(text) == []



_TRAINER = """
import os, signal, sys
{setup}
from evalkit.rewards import code_reward
tests = [{{"style": "call", "entry_point": "f", "cases": [{{"input": [1], "output": 1}}]}}]
os.write(report, repr(code_reward(["```python\\ndef f(x): return x\\n```"], tests=tests)).encode())
"""


@pytest.mark.parametrize("setup", [
    # a trainer that ignores SIGCHLD: the sandbox server inherited it and its children were reaped unseen
    "signal.signal(signal.SIGCHLD, signal.SIG_IGN)\nreport = 1",
    # a detached trainer with stdin, stdout and stderr closed: the server's socket landed on fd 0 or 1,
    # where its own stdout then went
    "report = os.dup(1)\nos.closerange(0, 3)",
], ids=["sigchld-ignored", "std-fds-closed"])
def test_code_rewards_are_judged_whatever_the_trainers_process_state(setup):
    # both made every code reward None (unjudged: masked, so code training silently stopped); math was fine
    _code_verifier_or_skip()
    out = subprocess.run([sys.executable, "-c", _TRAINER.format(setup=setup)], capture_output=True, text=True,
                         timeout=300)
    assert out.stdout == "[1.0]", out.stderr[-2000:]


def test_a_plugin_verifier_that_exits_as_it_is_built_leaves_the_batch_unjudged_not_the_trainer_ended():
    # sys.exit in a plugin verifier's constructor ended the training process, silently, with its code
    from evalkit.rewards._correctness import verdicts
    from evalkit.verifiers.base import VERIFIERS, register_verifier

    class Quits:
        def __init__(self, **options):
            sys.exit(3)

    register_verifier("quits_as_built", Quits)
    try:
        [v] = verdicts("quits_as_built", ["\\boxed{1}"], ["1"])
    finally:
        VERIFIERS.pop("quits_as_built", None)
    assert (v.correct, v.reason, v.detail) == (None, "error", "quits_as_built verifier failed: SystemExit: 3")


@pytest.mark.parametrize("limit", [float("inf"), 1e12])
def test_a_limit_of_infinity_means_no_limit_not_every_reward_none(limit):
    # `batch_deadline_s=float("inf")` was refused inside every batch (every reward None, logged), and
    # 1e12 overflowed the clock the same way
    completions = ["\\boxed{2}", "\\boxed{3}"]
    assert math_reward(completions, answer=["2", "2"], batch_deadline_s=limit) == [1.0, 0.0]
    assert math_reward(completions, answer=["2", "2"], per_answer_s=limit, batch_deadline_s=limit) == [1.0, 0.0]
    assert choice_reward(["\\boxed{B}", "\\boxed{C}"], answer=["B", "B"], per_answer_s=limit,
                         batch_deadline_s=limit) == [1.0, 0.0]


def test_math_reward_with_require_box_pays_no_unboxed_last_number():
    # the random policy's `…answerC\n 3` was paid 1.0 for gold 3 (math-verify's last-number reading)
    from functools import partial

    strict = partial(math_reward, verifier_options={"require_box": True})
    completions = ["<think>x</think> answerC\n 3", "<think>x</think> $\\boxed{3}$"]
    assert math_reward(completions, answer=["3", "3"]) == [1.0, 1.0]
    assert strict(completions, answer=["3", "3"]) == [0.0, 1.0]


def test_the_openrlhf_rewards_take_a_code_tasks_timeout_from_its_options(monkeypatch):
    # serve-rewards --verifier code --option timeout_s=6 (and the in-process reward_func) held every test to 1 s:
    # a program `evalkit run`, veRL and TRL pass scored 0 with reason timeout
    from evalkit.rewards.openrlhf import reward_func
    from evalkit.rewards.server import RewardServer

    _code_verifier_or_skip()
    tests = json.dumps({"style": "call", "entry_point": "slow", "cases": [{"input": [3], "output": 3}]})
    prompt = "<|im_start|>user\nslow?<|im_end|>\n<|im_start|>assistant\n"
    slow = "<think>ok</think>\n```python\nimport time\ndef slow(x):\n    time.sleep(2)\n    return x\n```"
    with RewardServer("127.0.0.1", 0, verifier="code", verifier_options={"timeout_s": 6}) as server:
        body = httpx.post(f"{server.url}/get_reward", json={"query": [prompt + slow], "prompts": [prompt],
                                                              "labels": [tests]}, timeout=60).json()
    assert (body["rewards"], body["reasons"]) == ([1.0], ["correct"])
    monkeypatch.setenv("EVALKIT_REWARD_VERIFIER", "code")
    monkeypatch.setenv("EVALKIT_REWARD_OPTIONS", '{"timeout_s": 6}')
    again = slow.replace("ok", "ok again")  # another text: the rewards keep verdicts by text
    assert reward_func([prompt + again], [prompt], [tests])["rewards"].tolist() == [1.0]


@pytest.mark.parametrize("fmt, opened", [("r1", "<think>\n"), ("sky", "<|begin_of_thought|>\n"),
                                         ("magistral", "[THINK]"), ("seed", "<seed:think>")])
def test_openrlhf_auto_reads_a_prompt_that_opened_thinking_in_any_format(fmt, opened):
    # under `auto` only r1's <think> at the prompt's end counted: a sky, magistral or seed guess cut off mid-thought
    # was paid 1.0, where the format named gave 0.0 (truncated)
    from evalkit.rewards.openrlhf import score_queries, split_response

    prompt = "<|im_start|>user\nWhat is 3+4?<|im_end|>\n<|im_start|>assistant\n" + opened
    cut = "Let me guess, maybe \\boxed{7}"
    for think_format in (fmt, "auto", [fmt]):  # a list: one format per query
        out = score_queries([prompt + cut], [prompt], ["7"], think_format=think_format)
        assert (out["rewards"], out["reasons"]) == ([0.0], ["truncated"]), (think_format, out)
        if not isinstance(think_format, list):
            assert split_response(prompt + cut, prompt, think_format=think_format) == (cut, True)
    # a list of formats stays aligned with its rows where they go to different verifiers (a code row first)
    tests = json.dumps({"style": "call", "entry_point": "f", "cases": [{"input": [1], "output": 1}]})
    code = "<think>ok</think>\n```python\ndef f(x):\n    return x\n```"
    plain = "<|im_start|>user\nf?<|im_end|>\n<|im_start|>assistant\n"
    out = score_queries([plain + code, prompt + cut], [plain, prompt], [tests, "7"], think_format=["r1", fmt])
    assert out["reasons"] == ["correct", "truncated"], out
    # and one that closed its thinking is paid
    from evalkit.thinking import FORMATS

    done = f"3+4=7{FORMATS[fmt].close}\nThe answer is \\boxed{{7}}"
    assert score_queries([prompt + done], [prompt], ["7"], think_format="auto")["rewards"] == [1.0]


@pytest.mark.parametrize("finish", ["max_tokens", "MAX_TOKENS", "max_output_tokens", "LENGTH"])
def test_the_rewards_read_other_apis_words_for_a_cut_off_reply(finish):
    # verify --pairs and a replay read these as length (truncated); the rewards paid the cut-off reply 1.0
    from evalkit.rewards.verl import compute_score

    sol = "<think>x</think>\\boxed{7}"
    assert compute_score("math", sol, "7", {"finish_reason": finish})["reason"] == "truncated"
    assert math_reward([sol], answer=["7"], finish_reason=[finish]) == [0.0]


def test_verl_reads_a_rows_verifier_options_given_as_json_text():
    # a TRL file's column holds the options as JSON text; moved into veRL's extra_info they were ignored in silence
    from evalkit.rewards.verl import compute_score

    sol = "<think>x</think>The answer is 7"
    for options in ({"require_box": True}, '{"require_box": true}'):
        row = compute_score("mine", sol, "7", {"verifier": "math", "verifier_options": options})
        assert (row["score"], row["reason"]) == (0.0, "no_answer"), options
    row = compute_score("mine", sol, "7", {"verifier": "math", "verifier_options": "require_box"})
    assert (row["reason"], row["unjudged"]) == ("error", 1.0)  # not JSON: unjudged, and the log says why
    assert compute_score("mine", sol, "7", {"verifier": "math", "verifier_options": ""})["score"] == 1.0


@pytest.mark.parametrize("value", ["", "abc"])
def test_a_verl_concurrency_variable_that_is_empty_or_no_number_does_not_fail_the_import(value):
    # veRL could not load the reward function: a ValueError traceback at import
    env = {**os.environ, "EVALKIT_VERL_CONCURRENCY": value}
    r = subprocess.run([sys.executable, "-c", "import evalkit.rewards.verl as v; print(v.CONCURRENCY.limit)"],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "64", r.stderr
    assert ("is not a whole number: 64 is used" in r.stderr) == (value == "abc")


def test_a_verl_batch_with_fewer_ground_truths_judges_the_rows_that_have_one(caplog):
    # an IndexError marked every row unjudged (a traceback in the log), the rows that could be judged too
    import logging

    from evalkit.rewards.verl import compute_score_batch

    with caplog.at_level(logging.WARNING):
        out = compute_score_batch(["math500"] * 3, ["<think>x</think>\\boxed{4}", "<think>x</think>\\boxed{5}",
                                                    "<think>x</think>\\boxed{6}"], ["4", "7"])
    assert [(r["score"], r["unjudged"]) for r in out] == [(1.0, 0.0), (0.0, 0.0), (0.0, 1.0)], out
    assert "not one per response" in caplog.text and "Traceback" not in caplog.text


def test_the_rules_rewards_score_the_rows_of_a_task_judged_with_a_judge(toy_task, tmp_path, caplog):
    # a `math+judge` (or `choice+judge`) task exported or curated for TRL carries its judge in each row's
    # verifier_options: math_reward and choice_reward built their rules with a `judge` option they do not take, and
    # left every row unjudged (None), the gold answer too. The rules score them; the judge is the judge reward's.
    from datasets import load_dataset

    judged = {"judge": {"model": "fj", "base_url": "http://127.0.0.1:9/v1"}}
    (tmp_path / "mj.yaml").write_text(
        toy_task.read_text().replace("{local: toy.jsonl}", f"{{local: {toy_task.parent}/toy.jsonl}}")
        .replace("name: toy", "name: toy_judged").replace("verifier: math", "verifier: math+judge")
        + f"verifier_options: {json.dumps(judged)}\n")
    (tmp_path / "c.jsonl").write_text(json.dumps({"qid": "q1", "stem": "Which is prime?", "gold": "C"}) + "\n")
    (tmp_path / "mcq.yaml").write_text(
        "name: mcq\ndataset: {local: c.jsonl}\nfields: {id: qid, problem: stem, answer: gold}\n"
        "prompt: '{{ stem }} A) 4 B) 6 C) 7 D) 9'\nverifier: choice+judge\n"
        f"verifier_options: {json.dumps({'letters': 'ABCD', **judged})}\n")
    for spec, reward, right, wrong in ((tmp_path / "mj.yaml", math_reward, None, "\\boxed{12345}"),
                                       (tmp_path / "mcq.yaml", choice_reward, "The answer is C.", "The answer is A.")):
        out = export_task(str(spec), "trl", tmp_path / f"{spec.stem}.jsonl", limit=2)
        rows = load_dataset("json", data_files=str(out), split="train").to_list()
        assert rows[0]["verifier"].endswith("+judge") and "judge" in json.loads(rows[0]["verifier_options"])
        columns = {key: [row[key] for row in rows] for key in rows[0] if key != "prompt"}
        golds = [right or f"\\boxed{{{row['answer']}}}" for row in rows]
        with caplog.at_level("INFO", logger="evalkit.rewards"):
            assert reward([f"<think>x</think> {g}" for g in golds], **columns) == [1.0] * len(rows)
            assert reward([f"<think>x</think> {wrong}"] * len(rows), **columns) == [0.0] * len(rows)
    assert "unexpected keyword" not in caplog.text and "scored by the math rules alone" in caplog.text


def test_a_missing_think_format_in_a_pandas_or_pyarrow_column_is_the_default(caplog):
    # a pandas or pyarrow column gives NaN, pandas' NA or a null scalar where a list gives None: those rows were
    # unjudged ("unknown think format 'nan'"); an array in a row made think_format_reward raise into the trainer
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    boxed = ["<think>a</think>\\boxed{2}"] * 2
    for column in (pa.array(["r1", None]), pd.Series(["r1", None]), pd.Series(["r1", np.nan]), ["r1", " "],
                   pd.array(["r1", None], dtype="string")):
        assert math_reward(boxed, answer=["2", "2"], think_format=column) == [1.0, 1.0], column
        assert think_format_reward(boxed, think_format=column) == [1.0, 1.0], column
    assert verl.compute_score("math", boxed[0], "2", {"think_format": float("nan")})["score"] == 1.0
    # `auto` in a pyarrow column holds a reply that does not think to r1's markers, as a list does (review: it was
    # paid 1.0 once its scalars were read)
    unthinking = ["The answer is \\boxed{2}"] * 2
    for column in (["auto", "auto"], pa.array(["auto", "auto"]), pa.chunked_array([["auto"], ["auto"]])):
        assert think_format_reward(unthinking, think_format=column) == [0.0, 0.0], column
    with caplog.at_level("WARNING", logger="evalkit.rewards"):
        assert think_format_reward(boxed, think_format=[np.array([1, 2]), "r1"]) == [None, 1.0]
        assert math_reward(boxed, answer=["2", "2"], think_format=[np.array([1, 2]), "r1"]) == [None, 1.0]
    assert "unknown think format" in caplog.text


def test_fewer_golds_than_completions_is_said(caplog):
    # a hand-written loop that passes one gold for three completions: two were unjudged without a word
    with caplog.at_level("WARNING", logger="evalkit.rewards"):
        assert math_reward(["\\boxed{2}"] * 3, answer=["2"]) == [1.0, None, None]
    assert "the answer column holds 1 row for 3 completions" in caplog.text
