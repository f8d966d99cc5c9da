"""The `code` verifier: extraction from completions, verdicts, and reward hacks on every HumanEval problem."""

from __future__ import annotations

import json
import os

import pytest

from evalkit.codetests import livecodebench_tests
from evalkit.sandbox._pool import OptionError
from evalkit.taskspec import load_problems, load_task
from evalkit.types import TestResult
from evalkit.verifiers import VerifyItem, get_verifier
from evalkit.sandbox._attacks import REWARD_HACKS, hack_program
from evalkit.verifiers.code import extract_code, verify_code

ADD_TESTS = {"style": "assert", "entry_point": "add", "setup": None,
             "code": "assert add(1, 2) == 3\nassert add(0, 0) == 0\nassert add(-1, 1) == 0\n"}


def fenced(code: str, tag: str = "python") -> str:
    return f"```{tag}\n{code}```\n"


@pytest.fixture(scope="module")
def verifier():
    return get_verifier("code", timeout_s=3, workers=2)


def test_extracts_last_python_block_of_the_final_answer():
    text = ("<think>try:\n```python\ndef add(a, b): return 0\n```\n</think>\nFirst:\n```python\nx = 1\n```\n"
            "Final:\n```python\ndef add(a, b):\n    return a + b\n```\nDone.")
    assert extract_code(text) == "def add(a, b):\n    return a + b\n"
    assert extract_code("<think>only thinking ```python\nx=1\n```") is None  # never closed: no answer
    assert extract_code("```\nprint(1)\n```") == "print(1)\n"  # untagged fallback
    assert extract_code("```\nprint(1)\n```", untagged=False) is None
    assert extract_code("<think>\n```python\nx=1\n```\n</think>no code", source="completion") == "x=1\n"


def test_a_fence_indented_in_a_list_item_loses_its_indentation(verifier):
    # as CommonMark reads it: up to the opening fence's indentation is removed from each line
    answer = ("<think>easy</think>\n1. **Final solution**:\n"
              "   ```python\n   def add(a, b):\n       return a + b\n   ```\n")
    assert extract_code(answer) == "def add(a, b):\n    return a + b\n"
    v = verifier.verify_many([VerifyItem(answer, ADD_TESTS)])[0]
    assert (v.correct, v.reason) == (True, "correct"), v


def test_longer_and_tilde_fences_are_read_by_their_tag(verifier):
    # a ````python fence is tagged python: the final answer in it is graded, not the sketch before it
    answer = ("<think>x</think>Sketch:\n```python\ndef add(a, b):\n    return a - b\n```\n"
              "Final answer:\n````python\ndef add(a, b):\n    return a + b\n````\n")
    v = verifier.verify_many([VerifyItem(answer, ADD_TESTS)])[0]
    assert (v.correct, v.reason) == (True, "correct"), v
    # a shorter fence inside a longer one is content, not its end
    assert extract_code('````python\nx = """\n```\n"""\n````\n') == 'x = """\n```\n"""\n'
    assert extract_code("~~~python\nx = 1\n~~~\n") == "x = 1\n"


def test_a_fence_never_closed_runs_to_the_end_unless_a_closed_block_holds_the_code(verifier):
    # a model that stops right after its code was no_answer
    unclosed = "<think>x</think>Here is the code:\n```python\ndef add(a, b):\n    return a + b\n"
    v = verifier.verify_many([VerifyItem(unclosed, ADD_TESTS, finish_reason="stop")])[0]
    assert (v.correct, v.reason) == (True, "correct"), v
    # a fragment left open after the solution does not replace it, and a closing fence indented carelessly
    # still closes its block
    assert extract_code("```python\nprint(1)\n```\n```python\n# TODO") == "print(1)\n"
    assert extract_code("```python\nprint(1)\n    ```\n\nIt prints 1.\n\n```python\nprint(2)\n```") == "print(2)\n"
    assert extract_code("1. Code:\n\t```python\n\tx = 1\n    ```\n2. Done\n") == "x = 1\n"


def test_a_usage_block_after_the_solution_is_not_graded_in_its_place(verifier):
    # the last python block was graded: a usage example after the solution failed with NameError
    answer = ("<think>x</think>```python\ndef add(a, b):\n    return a + b\n```\nExample:\n"
              "```python\nprint(add(1, 2))  # 3\n```\nAnd my checks:\n```python\nassert add(2, 2) == 4\n```\n")
    v = verifier.verify_many([VerifyItem(answer, ADD_TESTS)])[0]
    assert (v.correct, v.reason) == (True, "correct"), v
    # a later block that defines it again is the final one
    answer += "Better:\n```python\ndef add(a, b):\n    return a - b\n```\n"
    assert verifier.verify_many([VerifyItem(answer, ADD_TESTS)])[0].reason == "wrong"
    # stdio tests name no function: the last block is the program
    assert extract_code(answer) == "def add(a, b):\n    return a - b\n"


def test_an_empty_python_block_after_the_solution_is_not_the_answer(verifier):
    answer = "<think>x</think>```python\ndef add(a, b):\n    return a + b\n```\n```python\n```\n"
    v = verifier.verify_many([VerifyItem(answer, ADD_TESTS)])[0]
    assert (v.correct, v.reason) == (True, "correct"), v
    v = verifier.verify_many([VerifyItem("<think>x</think>```python\n\n```\n", ADD_TESTS)])[0]
    assert (v.correct, v.reason) == (False, "no_answer"), v  # only empty blocks: still no answer


def test_leetcode_solution_method_wins_over_a_name_of_the_same_spelling(verifier):
    # LiveCodeBench 2719 (func_name `count`): its prelude's `from itertools import *` binds `count`, and
    # LiveCodeBench's grader calls Solution().count; so does a program's helper of the method's name
    row = {"metadata": {"func_name": "count"}, "public_test_cases": [
        {"input": '"1"\n"12"\n1\n8', "output": "11", "testtype": "functional"},
        {"input": '"1"\n"5"\n1\n5', "output": "5", "testtype": "functional"}]}
    program = ("class Solution:\n    def count(self, num1: str, num2: str, min_sum: int, max_sum: int) -> int:\n"
               "        lo, hi = int(num1), int(num2)\n"
               "        return sum(1 for x in range(lo, hi + 1) if min_sum <= sum(map(int, str(x))) <= max_sum)\n")
    helper = "def count(digits):\n    return len(digits)\n\n\n"
    for code in (program, helper + program):
        v = verifier.verify_many([VerifyItem(fenced(code), livecodebench_tests(row))])[0]
        assert (v.correct, v.reason, v.detail) == (True, "correct", "2/2 tests passed"), v


def test_verdicts_score_the_fraction_of_tests(verifier):
    items = [VerifyItem(fenced("def add(a, b):\n    return a + b\n"), ADD_TESTS),
             VerifyItem(fenced("def add(a, b):\n    return a * b\n"), ADD_TESTS),
             VerifyItem("I think the answer is a + b.", ADD_TESTS),
             VerifyItem("<think>long thinking about ```python\ndef add(a,b): return a+b\n```", ADD_TESTS),
             VerifyItem(fenced("def add(a, b):\n    return a + b\n"), ADD_TESTS, finish_reason="length")]
    right, half, none, open_think, cut = verifier.verify_many(items)
    assert (right.correct, right.score, right.reason) == (True, 1.0, "correct")
    assert right.tests == (TestResult(True, "passed"),) * 3
    assert right.answer == "def add(a, b):\n    return a + b\n"
    assert (half.correct, round(half.score, 3), half.reason) == (False, 0.333, "wrong")
    assert half.detail.startswith("1/3 tests passed")
    assert (none.correct, none.reason) == (False, "no_answer")
    assert (open_think.correct, open_think.reason) == (False, "truncated")
    assert (cut.correct, cut.reason) == (False, "truncated")


def test_the_first_failed_test_is_named_as_the_report_counts_them(verifier):
    # counted from 1, as the report's list of tests is: "test 0" beside a list whose "test 1" passed misled
    stdio = {"style": "stdio", "cases": [{"input": "1", "output": "2"}, {"input": "2", "output": "5"},
                                         {"input": "3", "output": "4"}]}
    add_one = fenced("print(int(input()) + 1)\n")
    product = fenced("def add(a, b):\n    return a * b\n")  # fails ADD_TESTS' first and third asserts
    v_stdio, v_assert = verifier.verify_many([VerifyItem(add_one, stdio), VerifyItem(product, ADD_TESTS)])
    assert [t.passed for t in v_stdio.tests] == [True, False, True]
    assert v_stdio.detail.endswith("test 2: wrong output"), v_stdio.detail
    assert [t.passed for t in v_assert.tests] == [False, True, False]
    assert "test 1: " in v_assert.detail and "test 0" not in v_assert.detail, v_assert.detail


def test_a_value_no_call_can_carry_is_the_tests_fault_wherever_it_comes(verifier):
    # an object of the test code's own after a call that went through failed every later test (the candidate was
    # marked gone): a right program scored 1/3, wrong, where the tests cannot judge any program
    right = fenced("def add(a, b):\n    return a + b\n")
    late_object = {"style": "assert", "entry_point": "add",
                   "code": "assert add(1, 2) == 3\nassert add(object(), 2) == 3\nassert add(2, 2) == 4\n"}
    v = verifier.verify_many([VerifyItem(right, late_object)])[0]
    assert v.correct is None and v.detail.startswith("bad code tests: test 2 of the test code cannot call"), v.detail
    # a value only too deep to cross fails its own test, and the tests after it still judge the program
    deep = "x = []\nfor _ in range(300):\n    x = [x]\n"
    too_deep = {"style": "assert", "entry_point": "add", "setup": deep,
                "code": "assert add(1, 2) == 3\nassert add(x, []) == 0\nassert add(2, 2) == 4\n"}
    v = verifier.verify_many([VerifyItem(right, too_deep)])[0]
    assert [t.passed for t in v.tests] == [True, False, True], v.tests
    assert "test 2: test passes a value that cannot cross to the candidate (value nested too deeply)" in v.detail


def test_timeout_is_not_correct_and_not_unjudged(verifier):
    v = verifier.verify_many([VerifyItem(fenced("def add(a, b):\n    while True:\n        pass\n"), ADD_TESTS)])[0]
    assert (v.correct, v.score, v.reason) == (False, 0.0, "timeout")


def test_the_first_failing_test_says_whether_a_program_is_wrong_or_slow(verifier):
    # wrong on test 1, hanging on test 2: the verdict said timeout beside a detail naming test 1's wrong output
    stdio = {"style": "stdio", "cases": [{"input": "1", "output": "1"}, {"input": "2", "output": "2"}]}
    wrong_then_hangs = "n = int(input())\nif n == 1:\n    print(99)\nelse:\n    while True:\n        pass\n"
    hangs_then_wrong = "n = int(input())\nif n == 2:\n    print(99)\nelse:\n    while True:\n        pass\n"
    first, second = verifier.verify_many([VerifyItem(fenced(wrong_then_hangs), stdio),
                                          VerifyItem(fenced(hangs_then_wrong), stdio)])
    assert (first.reason, first.detail) == ("wrong", "0/2 tests passed; test 1: wrong output"), first
    assert (second.reason, second.detail) == ("timeout", "0/2 tests passed; test 1: timeout"), second


def test_bad_tests_are_unjudged_not_wrong(verifier):
    v = verifier.verify_many([VerifyItem(fenced("x = 1\n"), '{"style": "fuzzy"}')])[0]
    assert v.correct is None and v.reason == "error"


def test_gold_may_be_json_text_and_options_pass_through():
    import json

    v = verify_code(fenced("def add(a, b):\n    return a + b\n", "py"), json.dumps(ADD_TESTS), timeout_s=3)
    assert v.correct is True


@pytest.fixture(scope="module")
def humaneval():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return load_problems(load_task("humaneval"), source="local").problems


@pytest.mark.parametrize("hack", sorted(REWARD_HACKS))
def test_reward_hack_scores_zero_on_every_humaneval_problem(verifier, humaneval, hack):
    items = [VerifyItem(fenced(hack_program(hack, p.tests.entry_point)), p.tests) for p in humaneval]
    verdicts = verifier.verify_many(items)
    scored = [(p.id, v.score, v.reason, v.detail) for p, v in zip(humaneval, verdicts) if v.score != 0 or v.correct is not False]
    assert not scored, scored[:5]


def test_batch_deadline_scores_unrun_programs_as_timeouts():
    v = get_verifier("code", per_answer_s=3, batch_deadline_s=1e-6, workers=1)  # the rewards' spelling of the limits
    [verdict] = v.verify_many([VerifyItem(fenced("def add(a, b):\n    return a + b\n"), ADD_TESTS)])
    assert (verdict.correct, verdict.score, verdict.reason) == (False, 0.0, "timeout")


def test_a_batch_deadline_of_zero_is_refused_by_code_as_by_math():
    # 0 s would time every answer out: a mistake, refused by both verifiers (the rewards then leave all unjudged)
    from evalkit.rewards import code_reward, math_reward

    tests = json.dumps({"style": "call", "entry_point": "f", "cases": [{"input": [], "output": 1}]})
    program = "<think>x</think>\n```python\ndef f():\n    return 1\n```"
    assert code_reward(completions=[program], tests=[tests]) == [1.0]
    assert code_reward(completions=[program], tests=[tests], batch_deadline_s=0) == [None]
    assert math_reward(completions=["<think>x</think> \\boxed{2}"], answer=["2"], batch_deadline_s=0) == [None]
    with pytest.raises(OptionError, match=r"batch_deadline_s: expected a number above 0, got 0"):
        get_verifier("code", batch_deadline_s=0)


def test_layers_report_is_what_a_run_records():
    from evalkit.sandbox import layers_report

    report = layers_report()
    assert {"in_force", "missing", "as_root"} <= set(report)
    assert "session" in report["in_force"]


def test_bad_options_are_one_line_input_errors():
    from evalkit.errors import InputError

    for options, field in (({"timeout_s": "six"}, "timeout_s"), ({"timeout_s": -1}, "timeout_s"),
                           ({"per_answer_s": 0}, "per_answer_s"), ({"workers": 0}, "workers"),
                           ({"memory_mb": "lots"}, "memory_mb"), ({"layers": "netns,selinux"}, "layers"),
                           ({"languages": 3}, "languages"), ({"source": "thinking"}, "source")):
        with pytest.raises(InputError, match=f"^{field}: expected|^{field}: unknown") as e:
            get_verifier("code", **options)
        assert "\n" not in str(e.value)
    v = get_verifier("code", layers="netns, seccomp", require_layers="netns")  # comma strings, as require_layers
    assert v.config.layers == ("netns", "seccomp") and v.config.require_layers == ("netns",)


def test_a_task_with_bad_verifier_options_fails_in_one_line_naming_the_file(tmp_path):
    import json

    import yaml
    from click.testing import CliRunner

    from evalkit.cli import main

    spec = yaml.safe_load(open(os.path.join(os.path.dirname(__file__), "..", "tasks", "livecodebench.yaml")))
    spec["dataset"] = {"local": os.path.join(os.path.dirname(__file__), "..", "tasks", "data", "livecodebench.jsonl")}
    spec["name"], spec["verifier_options"] = "lcb_bad", {"timeout_s": "six"}
    path = tmp_path / "lcb_bad.yaml"
    path.write_text(yaml.safe_dump(spec))
    done = tmp_path / "done.jsonl"
    done.write_text(json.dumps({"problem_id": "2727", "sample": 0, "completion": "```python\nx = 1\n```",
                                "finish_reason": "stop"}) + "\n")
    r = CliRunner().invoke(main, ["run", str(path), "--completions", str(done), "--out", str(tmp_path / "run")])
    assert r.exit_code == 2, r.output
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if text.startswith("verifier_options:"))
    assert f"lcb_bad.yaml:{line}: field 'verifier_options': timeout_s: expected a number above 0, got 'six'" in r.output
    assert "Traceback" not in r.output


def test_final_answer_text_is_read_whole(verifier):
    # evalkit verify's PRED and a pairs line's `answer`: no think block, no token limit, a bare program is the program
    stdio = {"style": "stdio", "cases": [{"input": "", "output": "<think>"}]}
    v = verifier.verify_many([VerifyItem(fenced('print("<think>")\n'), stdio, answer_only=True)])[0]
    assert (v.correct, v.reason) == (True, "correct")
    closing = {"style": "stdio", "cases": [{"input": "", "output": "</think>"}]}
    v = verifier.verify_many([VerifyItem(fenced('print("</think>")\n'), closing, answer_only=True)])[0]
    assert v.correct is True
    v = verifier.verify_many([VerifyItem("def add(a, b):\n    return a + b\n", ADD_TESTS, answer_only=True)])[0]
    assert (v.correct, v.answer) == (True, "def add(a, b):\n    return a + b\n")
    # a completion (answer_only False) is still read after its think block
    v = verifier.verify_many([VerifyItem(fenced('print("<think>")\n'), stdio)])[0]
    assert v.reason == "truncated"


def test_tests_without_cases_are_unjudged_not_wrong(verifier):
    for tests in ({"style": "stdio", "cases": []}, {"style": "stdio", "cases": None},
                  {"style": "call", "entry_point": "f", "cases": []}):
        v = verifier.verify_many([VerifyItem(fenced("print(1)\n"), tests)])[0]
        assert (v.correct, v.reason) == (None, "error") and "hold no cases" in v.detail, v


@pytest.mark.parametrize("entry", [None, "", 5])
def test_call_tests_without_a_function_name_are_unjudged_not_the_programs_fault(verifier, entry):
    # every program scored 0, "the program failed to load: NameError: no entry point given"
    tests = {"style": "call", "entry_point": entry, "cases": [{"input": [1, 2], "output": 3}]}
    v = verifier.verify_many([VerifyItem(fenced("def add(a, b):\n    return a + b\n"), tests)])[0]
    assert (v.correct, v.reason) == (None, "error") and "call tests need an 'entry_point'" in v.detail, v
    with pytest.raises(ValueError, match="call tests need an 'entry_point'"):
        get_verifier("code").check_gold(tests)
    from evalkit.rewards import code_reward

    assert code_reward([fenced("def add(a, b):\n    return a + b\n")], tests=[json.dumps(tests)]) == [None]


def test_a_lone_surrogate_the_program_raises_is_written_not_a_crash(tmp_path):
    # `raise ValueError('\ud800')`: the verdict's reason holds what the program wrote; a lone surrogate
    # crashed the writer of samples.jsonl, and every rerun crashed again on the same sample
    import json
    import subprocess
    import sys

    program = "def remove_Occ(s, ch):\n    raise ValueError('\\ud800')\n"
    completions = tmp_path / "c.jsonl"
    completions.write_text(json.dumps({"problem_id": "11", "sample": 0, "finish_reason": "stop",
                                       "completion": "<think>ok</think>\n" + fenced(program)}) + "\n")
    r = subprocess.run([sys.executable, "-m", "evalkit", "run", "mbpp", "--completions", str(completions), "--limit",
                        "1", "--out", str(tmp_path / "run")], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    (sample,) = [json.loads(line) for line in (tmp_path / "run" / "samples.jsonl").read_text("utf-8").splitlines()]
    assert sample["correct"] is False and "ValueError: \ufffd" in sample["detail"], sample


def test_a_program_cannot_pass_its_failure_off_as_the_tests_fault_or_the_sandboxs(verifier):
    # the tests' fault was read from a failed test's reason text, which the program writes: a program raising
    # "cannot cross to the candidate; not a plain value" came back unjudged, not wrong (left out of avg@n, and no
    # reward at all); a reply it forged with a hex int of "-" alone raised in the grader (a sandbox failure)
    blames_tests = fenced("def add(a, b):\n    raise ValueError('cannot cross to the candidate; not a plain value')\n")
    forges = fenced("import os\ndef add(a, b):\n    os.write(4, b'{\"ok\":{\"i\":\"-\"}}\\n')\n    return 0\n")
    call = {"style": "call", "entry_point": "add", "cases": [{"input": [1, 2], "output": 3}]}
    verdicts = verifier.verify_many([VerifyItem(blames_tests, ADD_TESTS), VerifyItem(forges, ADD_TESTS),
                                     VerifyItem(forges, call)])
    for v in verdicts:
        assert v.correct is False and v.reason == "wrong", v
    assert "cannot cross" in verdicts[0].detail


def test_unittest_and_doctest_runs_that_report_failures_without_raising_fail_their_test(verifier):
    # `unittest.main(exit=False)` and `doctest.testmod()` report failures in the value they return: the statement
    # raised nothing, so it passed, and a program returning 0 scored 1/1
    suite = ("import unittest\n"
             "class T(unittest.TestCase):\n"
             "    def test_add(self):\n"
             "        self.assertEqual(add(1, 2), 3)\n"
             "unittest.main(argv=[''], exit=False)\n")
    doc = ("import doctest\n"
           "def example():\n"
           "    '''\n"
           "    >>> add(1, 2)\n"
           "    3\n"
           "    '''\n"
           "doctest.testmod()\n")
    right, zero = fenced("def add(a, b):\n    return a + b\n"), fenced("def add(a, b):\n    return 0\n")
    # in any statement: under `if __name__ == "__main__":`, assigned, or printing its failures (run_docstring_examples);
    # and a module docstring's examples (the docstring is the module's, as a script's is)
    guarded = suite.replace("unittest.main(argv=[''], exit=False)\n",
                            "if __name__ == '__main__':\n    unittest.main(argv=[''], exit=False)\n")
    assigned = doc.replace("doctest.testmod()", "r = doctest.testmod()\nassert r.attempted == 1")
    printed = doc.replace("doctest.testmod()", "doctest.run_docstring_examples(example, globals())")
    module_doc = '"""\n>>> add(1, 2)\n3\n"""\nimport doctest\ndoctest.testmod()\n'
    codes = (suite, doc, guarded, assigned, printed, module_doc)
    tests = [{"style": "assert", "entry_point": "add", "code": code} for code in codes]
    verdicts = verifier.verify_many([VerifyItem(program, t) for t in tests for program in (right, zero)])
    assert [v.correct for v in verdicts] == [True, False] * len(codes), verdicts
    assert "unittest reported 1 failing test(s)" in verdicts[1].detail
    assert "doctest reported 1 failing example(s)" in verdicts[3].detail


ADD = "def add(a, b):\n    return a + b\n"


@pytest.mark.parametrize("tests, said", [
    ({"style": "assert", "entry_point": 5, "code": "assert add(1, 2) == 3"}, "'entry_point' must name a function"),
    ({"style": "assert", "entry_point": ["add"], "code": "assert add(1, 2) == 3"}, "'entry_point' must name a function"),
    ({"style": "call", "entry_point": "add x", "cases": [{"input": [1, 2], "output": 3}]},
     "'entry_point' must name a function"),
    ({"style": "assert", "entry_point": "add", "code": "assert add(1, 2) == 3\nassert (((("},
     "the 'code' source does not compile: line 2"),
    ({"style": "assert", "entry_point": "add", "code": "assert add(1, 2) == 3", "prelude": "import ((("},
     "the 'prelude' source does not compile: line 1"),
    ({"style": "assert", "entry_point": "add", "code": "assert add(1, 2) == 3", "setup": 7},
     "'setup' must be Python source text, got int"),
    ({"style": "stdio", "cases": [{"input": "", "output": None}]}, "stdio case 1's 'output' must be the text"),
    ({"style": "stdio", "cases": [{"input": "", "output": "3"}, {"input": "", "output": {"a": 1}}]},
     "stdio case 2's 'output' must be the text"),
    ({"style": "stdio", "cases": [{"input": "", "output": float("nan")}]}, "stdio case 1's 'output' must be the text"),
])
def test_tests_no_program_could_pass_are_refused_and_leave_the_rest_of_the_batch_judged(verifier, tests, said):
    # an entry point that is no name crashed the batch (every answer beside it unjudged, `verify_code` raised
    # TypeError); test code that does not compile, or a stdio output that is no text (compared with its JSON),
    # scored every program `error` or `wrong` only after a run had made them all
    from evalkit.rewards import code_reward

    with pytest.raises(ValueError, match=said):
        get_verifier("code").check_gold(tests)
    good = {"style": "call", "entry_point": "add", "cases": [{"input": [1, 2], "output": 3}]}
    program = fenced(ADD if "add" in json.dumps(tests) else "print(3)\n")
    first, bad = verifier.verify_many([VerifyItem(fenced(ADD), good), VerifyItem(program, tests)])
    assert first.correct is True
    assert (bad.correct, bad.reason) == (None, "error"), bad  # compile errors are the sandbox's to find here
    assert bad.detail.startswith("bad code tests: ") and "code tests: code tests" not in bad.detail, bad
    assert code_reward([fenced(ADD)] * 3 + [program], tests=[good] * 3 + [tests]) == [1.0, 1.0, 1.0, None]


def test_a_stdio_output_listed_by_lines_is_those_lines_and_a_number_is_as_it_prints(verifier):
    # APPS, TACO and DeepCoder rows list a stdio case's lines: compared with their JSON, only a program printing
    # `["3", "4"]` passed
    lines = {"style": "stdio", "cases": [{"input": "", "output": ["3", "4"]}]}
    number = {"style": "stdio", "cases": [{"input": "", "output": 7}]}
    both, as_json, seven = verifier.verify_many([VerifyItem(fenced("print(3)\nprint(4)\n"), lines),
                                                 VerifyItem(fenced("print('[\"3\", \"4\"]')\n"), lines),
                                                 VerifyItem(fenced("print(7)\n"), number)])
    assert (both.correct, as_json.correct, seven.correct) == (True, False, True), (both, as_json, seven)


def test_a_rows_timeout_s_is_read_as_a_number_from_numpy_and_refused_as_text():
    # a parquet row's np.int64(6) and a text "6" were both dropped for the rewards' 1 s: a correct program that
    # takes 2 s scored 0 (timeout) without a word; `timeout_s: 0` was reported as the per_answer_s it became
    import numpy as np

    from evalkit.rewards import code_reward
    from evalkit.rewards.verl import compute_score

    tests = {"style": "call", "entry_point": "add", "cases": [{"input": [1, 2], "output": 3}]}
    slow = fenced("import time\n\ndef add(a, b):\n    time.sleep(1.5)\n    return a + b\n")
    scored = compute_score("code", slow, json.dumps(tests), {"verifier_options": {"timeout_s": np.int64(6)}})
    assert (scored["score"], scored["reason"]) == (1.0, "correct"), scored
    assert code_reward([slow], tests=[tests], verifier_options={"timeout_s": "6"}) == [None]
    with pytest.raises(OptionError, match=r"^timeout_s: expected a number above 0, got 0$"):
        get_verifier("code", timeout_s=0, per_answer_s=1)
    assert get_verifier("code", timeout_s=np.int64(4)).config.timeout_s == 4


def test_a_task_whose_test_code_does_not_compile_is_said_before_the_run(tmp_path):
    # found only as each sample's `error` once the run had made them all; now the load's warning of problems with
    # no gold the verifier can read (as a math gold that is no answer) names it, and the line, before generating
    import yaml
    from click.testing import CliRunner

    from evalkit.cli import main

    data = tmp_path / "add.jsonl"
    rows = [{"id": "ok", "q": "Write add.", "tests": {"style": "assert", "entry_point": "add",
                                                     "code": "assert add(1, 2) == 3"}},
            {"id": "broken", "q": "Write add.", "tests": {"style": "assert", "entry_point": "add",
                                                         "code": "assert add(1, 2) == 3\nassert (((("}}]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    spec = tmp_path / "add.yaml"
    spec.write_text(yaml.safe_dump({"name": "add", "dataset": {"local": str(data)}, "verifier": "code",
                                    "fields": {"id": "id", "problem": "q", "tests": "tests"}}))
    done = tmp_path / "done.jsonl"
    done.write_text("".join(json.dumps({"problem_id": pid, "sample": 0, "completion": fenced(ADD),
                                        "finish_reason": "stop"}) + "\n" for pid in ("ok", "broken")))
    r = CliRunner().invoke(main, ["run", str(spec), "--completions", str(done), "--out", str(tmp_path / "run")])
    assert r.exit_code == 0, r.output
    warning = next(line for line in r.output.splitlines() if "no gold answer the verifier can read" in line)
    assert "problem broken: code tests: the 'code' source does not compile: line 2" in warning, warning
    assert r.output.index(warning) < r.output.index("samples new")
    verdicts = {json.loads(line)["problem_id"]: json.loads(line)["reason"]
                for line in (tmp_path / "run" / "samples.jsonl").read_text().splitlines()}
    assert verdicts == {"ok": "correct", "broken": "error"}, verdicts


def test_a_filter_reading_a_column_the_row_lacks_names_the_column(tmp_path):
    # `{{ row | mbpp_tests }}` on a row without test_list said only "on row 0: 'test_list'"
    import yaml
    from click.testing import CliRunner

    from evalkit.cli import main

    data = tmp_path / "mbpp.jsonl"
    data.write_text(json.dumps({"task_id": 1, "text": "Write add.", "code": ADD}) + "\n")
    spec = tmp_path / "mbpp_mine.yaml"
    spec.write_text(yaml.safe_dump({"name": "mbpp_mine", "dataset": {"local": str(data)}, "verifier": "code",
                                    "fields": {"id": "task_id", "problem": "text", "tests": "{{ row | mbpp_tests }}"}}))
    done = tmp_path / "done.jsonl"
    done.write_text(json.dumps({"problem_id": "1", "sample": 0, "completion": fenced(ADD)}) + "\n")
    r = CliRunner().invoke(main, ["run", str(spec), "--completions", str(done), "--out", str(tmp_path / "run")])
    assert r.exit_code == 2, r.output
    assert "on row 0: no key 'test_list' in the row or a value of it (the row's columns: task_id, text, code)" \
        in r.output, r.output


def test_tests_a_converter_writes_with_a_blank_entry_point_or_numpy_outputs_still_run(verifier):
    # stdio rows converted with `fn_name: ""` were refused once the entry point had to name a function; a parquet
    # row's outputs arrive as numpy values
    import numpy as np

    from evalkit.rewards import code_reward

    stdio = {"style": "stdio", "entry_point": "", "cases": [{"input": "", "output": "6"}]}
    assert code_reward([fenced("print(6)\n")], tests=[stdio]) == [1.0]
    get_verifier("code").check_gold(stdio)
    assert get_verifier("code").check_gold({**ADD_TESTS, "entry_point": " "}) is None  # blank: no entry point
    numpy_rows = {"style": "stdio", "cases": [{"input": "", "output": np.int64(6)},
                                              {"input": "", "output": np.array(["6"])}]}
    [v] = verifier.verify_many([VerifyItem(fenced("print(6)\n"), numpy_rows)])
    assert v.correct is True, v


def test_test_code_whose_escapes_python_warns_about_is_not_refused(recwarn):
    # `'\\w'` in test code is a DeprecationWarning (a SyntaxWarning from Python 3.12), not an error: the sandbox
    # runs it; under `-W error` the load refused it
    import warnings

    tests = {"style": "assert", "entry_point": "f", "code": "import re\nassert re.match('\\w', f())\n"}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        get_verifier("code").check_gold(tests)
    assert not [w for w in recwarn if "escape" in str(w.message)]
