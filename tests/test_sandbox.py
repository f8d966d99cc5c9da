"""The code sandbox: layers, limits, the three test styles, and the attack suite (as root and as an
unprivileged user the test creates)."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess

import pytest
from click.testing import CliRunner

from evalkit.cli import main
from evalkit.errors import InputError
from evalkit.types import CodeTests
from evalkit.sandbox import _plain as plain
from evalkit.sandbox._attacks import ATTACKS, orphans_alive, run_attacks
from evalkit.sandbox import LAYER_NAMES, OPTIONAL_LAYERS, Sandbox, SandboxConfig, sandbox_doctor, sandbox_layers

IS_ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not IS_ROOT, reason="needs root (uid drop, cgroups and the unprivileged-user mode)")


@pytest.fixture(scope="module")
def box():
    with Sandbox(SandboxConfig(workers=2, timeout_s=2)) as b:
        yield b


def call_tests(entry, cases):
    return CodeTests.from_any({"style": "call", "entry_point": entry,
                               "cases": [{"input": i, "output": o} for i, o in cases]})


def stdio_tests(cases):
    return CodeTests.from_any({"style": "stdio", "cases": [{"input": i, "output": o} for i, o in cases]})


# ---------------------------------------------------------------- plain values and comparisons


def test_plain_values_round_trip_and_refuse_objects():
    value = {"a": [1, 2.5, (3, "x")], 2: {1, 2}, "b": b"\x00", "c": frozenset({1}), "d": None, "e": True,
             "f": float("inf"), "g": 1 + 2j}
    assert plain.load_plain(json.loads(json.dumps(plain.dump_plain(value)))) == value

    class Int(int):
        pass

    class Eq:
        def __eq__(self, other):
            return True

    for bad in (Int(3), Eq(), [1, Eq()], {"k": Int(1)}):
        with pytest.raises(plain.PlainError):
            plain.dump_plain(bad)


def test_stdio_comparison_is_whole_output_token_by_token():
    assert plain.stdio_equal("YES\nNO \n\n", "YES\nNO")
    assert plain.stdio_equal("1  2\n3.0000001\n", "1 2\n3.0")
    assert not plain.stdio_equal("1 2\n3.0000001\n", "1 2\n3")  # an integer token compares exactly
    assert not plain.stdio_equal("500000500000\n", "500000501000\n")
    assert plain.stdio_equal("2.5e-7\n", "2.50000001e-7\n")
    assert not plain.stdio_equal("YES\n", "YES\nNO\n")  # a prefix is not the output
    assert not plain.stdio_equal("YES NO\n", "YES\n")
    assert not plain.stdio_equal("3.1\n", "3\n")
    # blank lines are ignored wherever they are; a flood of them is counted, not split
    assert not plain.stdio_equal("1\n\n2\n", "1\n2\n\n3\n") and plain.stdio_equal("1\n\n2\n", "1\n\n2")
    # one blank line misplaced failed (the line counts agreed) where two more passed
    assert plain.stdio_equal("a\nb\n\nc\n", "a\n\nb\nc") and plain.stdio_equal("a\nb\n\n\nc\n", "a\n\nb\nc")
    assert not plain.stdio_equal("a b\n\nc\n", "a\n\nb\nc")  # the lines that hold tokens still count
    assert plain.stdio_equal("1" + " \n" * 100_000 + "2\r\n\u2028", "1\n2\n")
    assert not plain.stdio_equal("1 \n" * 100_000, "1\n1\n")  # more tokens than expected


def test_stdio_integer_expected_is_any_exactly_equal_number():
    # a real-valued answer the judge wrote as `3` or `0`: an honest `3.0000000000` or `0.000000` failed
    assert plain.stdio_equal("3.0000000000\n", "3\n") and plain.stdio_equal("0.000000 -0.0\n", "0 0\n")
    assert plain.stdio_equal("1.5 2.000\n", "1.5 2\n") and plain.stdio_equal("5.0\n", "5\n")  # as LiveCodeBench
    # exactly equal only: no tolerance, no other spellings of the integer, no overflowing exponent
    assert not plain.stdio_equal("2.9999999\n", "3\n") and not plain.stdio_equal("3.0000001\n", "3\n")
    for spelling in ("-0", "+3", "03", "0e999999999999999999999", "3.0x"):
        assert not plain.stdio_equal(spelling, "3" if "3" in spelling else "0"), spelling
    assert not plain.stdio_equal("12345678901234567000.0\n", "12345678901234567890\n")
    # an expected integer written another way matches itself only (the review found `7.000` matching `007`, `7` not)
    for odd in ("007", "+3", "-0", "05"):
        assert plain.stdio_equal(odd, odd) and not plain.stdio_equal(odd.lstrip("+-0") + ".0", odd), odd


def test_call_comparison_tolerates_floats_not_types():
    assert plain.values_equal([1.0000000001, (2, 3)], [1.0, [2, 3]])
    assert not plain.values_equal(1, True)
    assert not plain.values_equal("1", 1)
    assert not plain.values_equal([1, 2], [1, 2, 3])


# ---------------------------------------------------------------- runs


def test_call_style_runs_functions_and_leetcode_solutions(box):
    tests = call_tests("add", [([1, 2], 3), ([2.5, 0.5], 3.0), ([[1], [2]], [1, 2])])
    assert box.run("def add(a, b):\n    return a + b\n", tests).passed == 3
    r = box.run("def add(a, b):\n    return a - b\n", tests)
    assert [t["passed"] for t in r.tests] == [False, False, False]
    assert r.tests[0]["reason"].startswith("wrong value")
    sol = "class Solution:\n    def add(self, a, b):\n        return a + b\n"
    assert box.run(sol, tests).passed == 3


def test_call_style_takes_numpy_scalars_as_their_values_not_arrays(box):
    # np.int64(3) == 3 in LiveCodeBench's grader; a numpy scalar was "not a plain value", so a right answer failed
    pytest.importorskip("numpy")
    tests = call_tests("f", [([2], 3), ([1], 1.5), ([0], True)])
    prog = ("import numpy as np\n"
            "def f(x):\n"
            "    return [np.bool_(True), np.float64(1.5), np.int64(3)][x]\n")
    assert [t["passed"] for t in box.run(prog, tests).tests] == [True, True, True]
    r = box.run(prog.replace("np.int64(3)", "np.int64(4)").replace("np.bool_(True)", "np.int8(1)"), tests)
    assert [t["passed"] for t in r.tests] == [False, True, False]  # its value is compared, and 1 is not True
    r = box.run("import numpy as np\ndef f(x):\n    return np.array([3])\n", call_tests("f", [([2], [3])]))
    assert r.tests[0]["reason"] == "returned a value that is not plain (not a plain value: numpy.ndarray)"


def test_call_style_reports_exceptions_and_load_errors(box):
    tests = call_tests("f", [([0], 1)])
    r = box.run("def f(x):\n    return 1 // x\n", tests)
    assert r.tests == [{"passed": False, "reason": "raised ZeroDivisionError: integer division or modulo by zero"}]
    r = box.run("def f(x) return 1\n", tests)
    assert "failed to load: SyntaxError" in r.tests[0]["reason"]


def test_stdio_style_compares_whole_output(box):
    tests = stdio_tests([("3\n", "6\n"), ("4\n", "8")])
    assert box.run("print(int(input()) * 2)", tests).passed == 2
    assert box.run("print(int(input()) * 2, 'extra')", tests).passed == 0
    r = box.run("raise ValueError('boom')", tests)
    assert r.tests[0]["reason"] == "exit code 1: ValueError: boom"


def test_a_stdio_program_that_recurses_past_a_raised_limit_fails_with_its_error_not_a_timeout():
    # sys.setrecursionlimit(10**6) (LiveCodeBench programs raise it) and no base case: the server printed the
    # RecursionError with traceback.print_exc, which walked every one of its frames past the time limit (timeout)
    prog = "import sys\nsys.setrecursionlimit(10**6)\ndef r(n):\n    return r(n + 1)\nr(0)\n"
    with Sandbox(SandboxConfig(workers=1, timeout_s=6)) as box:
        r = box.run(prog, stdio_tests([("", "1\n")]))
    assert r.tests[0]["reason"].startswith("exit code 1: RecursionError"), r


FAST_IO = """import os, sys
from io import BytesIO, IOBase


class FastIO(IOBase):
    def __init__(self, file):
        self._fd = file.fileno()
        self.buffer = BytesIO()
        self.writable = "x" in file.mode or "r" not in file.mode
        self.write = self.buffer.write if self.writable else None

    def readline(self):
        self.buffer = BytesIO(self.buffer.read() + os.read(self._fd, 1 << 16))
        return self.buffer.readline()

    def flush(self):
        if self.writable:
            os.write(self._fd, self.buffer.getvalue())
            self.buffer.truncate(0), self.buffer.seek(0)


class IOWrapper(IOBase):
    def __init__(self, file):
        self.buffer = FastIO(file)
        self.flush = self.buffer.flush
        self.write = lambda s: self.buffer.write(s.encode("ascii"))
        self.readline = lambda: self.buffer.readline().decode("ascii")


assert (sys.stdin.name, sys.stdout.name) == ("<stdin>", "<stdout>")
sys.stdin, sys.stdout = IOWrapper(sys.stdin), IOWrapper(sys.stdout)
input = lambda: sys.stdin.readline().rstrip("\\r\\n")
print(int(input()) * 2)
"""


def test_the_fast_io_template_of_competitive_programmers_runs(box):
    # it reads `file.mode` of sys.stdin and sys.stdout: the sandbox's streams had none, and every test failed
    # with "AttributeError: '_io.TextIOWrapper' object has no attribute 'mode'"
    r = box.run(FAST_IO, stdio_tests([("3\n", "6\n"), ("4\n", "8")]))
    assert r.passed == 2, r.tests


def test_an_exception_reaches_assert_tests_as_its_built_in_class_with_its_arguments(box):
    # a subclass of ValueError arrived as RuntimeError, and KeyError(-1).args as ('-1',)
    code = ("try:\n    f(-1)\nexcept ValueError as e:\n    assert str(e) == 'negative'\nelse:\n    assert False\n"
            "try:\n    f(0)\nexcept KeyError as e:\n    assert e.args == (0,)\nelse:\n    assert False\n"
            "assert f(1) == 1\n")
    tests = CodeTests.from_any({"style": "assert", "entry_point": "f", "code": code})
    program = ("class BadInput(ValueError):\n    pass\n\n\ndef f(x):\n    if x < 0:\n"
               "        raise BadInput('negative')\n    if x == 0:\n        raise KeyError(x)\n    return x\n")
    r = box.run(program, tests)
    assert [t["passed"] for t in r.tests] == [True, True, True], r.tests
    r = box.run(program.replace("(ValueError)", "(Exception)"), tests)  # not a ValueError: still not caught
    assert [t["passed"] for t in r.tests] == [False, True, True] and "BadInput" in r.tests[0]["reason"], r.tests
    # a class with a __str__ of its own keeps its text (rebuilt from its arguments alone, it lost it)
    own_text = ("class InvalidAge(ValueError):\n    def __init__(self, age):\n        self.age = age\n"
                "        super().__init__()\n\n    def __str__(self):\n        return f'invalid age: {self.age}'\n\n\n"
                "def f(x):\n    raise InvalidAge(x)\n")
    tests = CodeTests.from_any({"style": "assert", "entry_point": "f",
                                "code": "try:\n    f(-1)\nexcept ValueError as e:\n    assert str(e) == 'invalid age: -1'\n"})
    assert box.run(own_text, tests).passed == 1


def test_a_failure_after_much_debug_output_names_its_own_error(box):
    # 2 MB of stderr before the error: the reason quoted a debug line from the first megabyte
    noisy = "import sys\nfor i in range(30000):\n    print('debug', i, 'x' * 60, file=sys.stderr)\n"
    r = box.run(noisy + "raise ValueError('the real cause')\n", stdio_tests([("1\n", "2\n")]))
    assert r.tests[0]["reason"] == "exit code 1: ValueError: the real cause", r.tests
    # past the file cap (16 MB) on stderr: the reason said "exit code 121" (the sandbox's own setup code)
    flood = noisy.replace("30000", "300000") + "print(2)\n"
    r = box.run(flood, stdio_tests([("1\n", "2\n")]))
    assert r.tests[0]["reason"].startswith("output limit exceeded (stderr"), r.tests
    # and on stdout: Python ignores SIGXFSZ, so its write failed (EFBIG) and the reason was "exit code 1: OSError"
    r = box.run("import sys\nwhile True:\n    sys.stdout.write('x' * 65536)\n", stdio_tests([("1\n", "2\n")]))
    assert r.tests[0]["reason"] == "output limit exceeded", r.tests


def test_timeout_is_a_failed_test_and_the_run_ends(box):
    r = box.run("def f():\n    while True:\n        pass\n", call_tests("f", [([], 1), ([], 2)]))
    assert [t["reason"] for t in r.tests] == ["timeout", "timeout"]
    assert r.ms < 6000


def test_each_run_is_a_fresh_process(box):
    tests = call_tests("f", [([], 1)])
    prog = "import builtins\nbuiltins.counter = getattr(builtins, 'counter', 0) + 1\ndef f():\n    return builtins.counter\n"
    assert [box.run(prog, tests).passed for _ in range(3)] == [1, 1, 1]


def test_assert_style_counts_each_top_level_assert(box):
    tests = CodeTests.from_any({"style": "assert", "entry_point": "sq", "setup": None,
                                "code": "assert sq(2) == 4\nassert sq(3) == 9\nassert sq(-1) == 2\n"})
    r = box.run("def sq(x):\n    return x * x\n", tests)
    assert [t["passed"] for t in r.tests] == [True, True, False]


def test_setup_helpers_are_the_checkers_own(box):
    # the candidate redefines the helper the tests use; the checker keeps the trusted one
    tests = CodeTests.from_any({"style": "assert", "entry_point": "g", "setup": "def helper(x):\n    return x + 1\n",
                                "code": "def check(candidate):\n    assert candidate(1) == helper(1)\n"})
    cheat = "def helper(x):\n    return 0\ndef g(x):\n    return 0\n"
    assert box.run(cheat, tests).passed == 0
    assert box.run("def g(x):\n    return helper(x)\n", tests).passed == 0  # setup is the checker's alone
    with_prelude = CodeTests.from_any({**tests.to_dict(), "prelude": "def helper(x):\n    return x + 1\n"})
    assert box.run("def g(x):\n    return helper(x)\n", with_prelude).passed == 1  # the prelude is the program's


def test_setup_never_reaches_the_program(box):
    # docs/contracts.md: setup runs only on the checker's side; a table of answers there stays there
    tests = CodeTests.from_any({"style": "assert", "entry_point": "next_prime",
                                "setup": "_REFERENCE = {10: 11, 14: 17, 100: 101}\n",
                                "code": "for n, want in _REFERENCE.items():\n    assert next_prime(n) == want\n"})
    r = box.run("def next_prime(n):\n    return globals()['_REFERENCE'][n]\n", tests)
    assert r.error is None and r.passed == 0 and "KeyError" in r.tests[0]["reason"]
    honest = ("def next_prime(n):\n    n += 1\n    while any(n % d == 0 for d in range(2, n)):\n        n += 1\n"
              "    return n\n")
    assert box.run(honest, tests).passed == 1
    call = call_tests("f", [([], "setup text")])
    call = CodeTests.from_any({**call.to_dict(), "setup": "SECRET = 'setup text'\n"})
    r = box.run("def f():\n    return SECRET\n", call)
    assert r.passed == 0 and "NameError" in r.tests[0]["reason"]


def test_broken_test_code_is_an_infrastructure_error(box):
    tests = CodeTests.from_any({"style": "assert", "entry_point": "f", "setup": "import no_such_module_xyz",
                                "code": "assert f() == 1"})
    r = box.run("def f():\n    return 1\n", tests)
    assert r.error and "test setup failed" in r.error and r.tests == []


def test_test_code_failing_after_the_program_answered_is_the_programs_fault(box):
    # no top-level assert; a top-level call fails because of the program: wrong, never unjudged
    tests = CodeTests.from_any({"style": "assert", "entry_point": "f", "setup": None,
                                "code": "r = f()\ndef check(candidate):\n    assert r == 1\n"})
    r = box.run("def f():\n    raise ValueError('no')\n", tests)
    assert r.error is None and r.tests == [{"passed": False, "reason": "test code failed at line 1: ValueError: no"}]
    assert box.run("def f():\n    return 1\n", tests).passed == 1


def test_a_server_dying_mid_run_is_an_error_then_it_is_replaced():
    import threading
    import time

    with Sandbox(SandboxConfig(workers=1, timeout_s=5)) as b:
        tests = call_tests("f", [([], 1)])
        assert b.run("def f():\n    return 1\n", tests).passed == 1
        srv = b._slots[0]._servers["candidate"]
        result = {}
        t = threading.Thread(target=lambda: result.setdefault("r", b.run("import time\ndef f():\n    time.sleep(3)\n", tests)))
        t.start()
        time.sleep(0.5)
        srv.proc.kill()
        t.join()
        assert result["r"].error is not None and result["r"].tests == []  # unjudged, not a silent 0
        assert b.run("def f():\n    return 1\n", tests).passed == 1


# ---------------------------------------------------------------- what the second red team found, class by class


def test_stop_iteration_from_the_program_fails_the_test(box):
    code = ("assert all(map(lambda x: dbl(x) == 2 * x, [1, 2]))\n"
            "assert not list(filter(lambda x: dbl(x) != 2 * x, [3]))\n"
            "assert next(iter(lambda: dbl(1), 0)) == 2\n")
    tests = CodeTests.from_any({"style": "assert", "entry_point": "dbl", "code": code})
    r = box.run("def dbl(x):\n    raise StopIteration\n", tests)
    assert [t["passed"] for t in r.tests] == [False, False, False] and r.error is None
    assert "raised StopIteration" in r.tests[0]["reason"]
    assert box.run("def dbl(x):\n    return 2 * x\n", tests).passed == 3


def test_integers_compare_exactly_tolerance_only_for_floats(box):
    n = 10 ** 17
    tests = call_tests("f", [([n], n + 7)])
    assert box.run("def f(n):\n    return float(n + 7)\n", tests).passed == 0
    assert box.run("def f(n):\n    return n + 7\n", tests).passed == 1
    assert box.run("def f(n):\n    return 3.0\n", call_tests("f", [([0], 3)])).passed == 1  # exactly equal
    assert box.run("def f(n):\n    return 0.1 + 0.2\n", call_tests("f", [([0], 0.3)])).passed == 1
    stdio = stdio_tests([("", "500000501000\n")])
    assert box.run("print(500000500000)", stdio).passed == 0
    assert box.run("print(2.5000000001)", stdio_tests([("", "2.5\n")])).passed == 1
    assert box.run("print(3.0000000001)", stdio_tests([("", "3\n")])).passed == 0
    # what float() alone reads as a number is no checker's number: digit separators, other scripts' digits
    for printed in ("'1_0.0'", "'\u0661\u0660.\u0665'"):
        assert box.run(f"print({printed})", stdio_tests([("", "10.5\n" if "u06" in printed else "10.0\n")])).passed == 0
    assert box.run("print('1e1')", stdio_tests([("", "10.0\n")])).passed == 1


def test_all_of_the_test_code_runs_and_check_is_called(box):
    cases = {  # test code -> passed flags for a program whose sq returns 1
        "assert sq(1) == 1\ndef check(candidate):\n    assert candidate(3) == 9\n": [True, False],
        "for x in [1, 2]:\n    assert sq(x) == x * x\nassert sq(1) == 1\n": [False, True],
        "assert sq(1) == 1\nif sq(2) != 4:\n    raise AssertionError('sq(2)')\n": [True, False],
        "def check(candidate):\n    assert candidate(2) == 4\ncheck(sq)\n": [False],  # called once, by the code
    }
    for code, flags in cases.items():
        tests = CodeTests.from_any({"style": "assert", "entry_point": "sq", "code": code})
        r = box.run("def sq(x):\n    return 1\n", tests)
        assert [t["passed"] for t in r.tests] == flags, (code, r)
        assert box.run("def sq(x):\n    return x * x\n", tests).passed == len(flags), code


def test_a_comparison_that_fails_is_the_programs_fault(box):
    r = box.run("def f(x):\n    return 10 ** 400\n", call_tests("f", [([1], 1.5)]))
    assert r.error is None and r.tests[0]["passed"] is False and r.tests[0]["reason"].startswith("wrong value")
    r = box.run("import os\ndef f(x):\n    os.write(4, b'{\"ok\": 1' + b'0' * 5000 + b'}\\n')\n    os._exit(0)\n",
                call_tests("f", [([1], 1)]))
    assert r.error is None and r.tests[0]["passed"] is False  # a number no reply may hold: malformed, not unjudged


def test_wire_values_are_compared_in_place():
    m = (1 << 61) - 1  # every multiple hashes alike: a set of them costs quadratic time to build
    got = plain.parse_reply(b'{"s":[' + b",".join(str(m * k).encode() for k in range(1, 3001)) + b"]}")
    assert plain.wire_matches(got, {m * k for k in range(1, 3001)})
    assert not plain.wire_matches(got, [m * k for k in range(1, 3001)])
    assert plain.wire_matches(plain.dump_plain(2 ** 20000), 2 ** 20000)  # hex: no 4,300-digit limit
    with pytest.raises(ValueError):
        plain.parse_reply(b'{"ok": ' + b"9" * 41 + b"}")
    with pytest.raises(plain.PlainError):
        plain.check_wire({"s": [1, {"x": 2}]})


def test_the_batch_deadline_holds_for_a_run_in_progress():
    import time

    with Sandbox(SandboxConfig(workers=1, timeout_s=5)) as b:
        b.run("def f():\n    return 1\n", call_tests("f", [([], 1)]))  # server started
        start = time.monotonic()
        r = b.run("import time\ndef f():\n    time.sleep(30)\n", call_tests("f", [([], 1), ([], 1)]),
                  deadline=start + 1.0)
        assert [t["reason"] for t in r.tests] == ["timeout", "timeout"]
        assert time.monotonic() - start < 4.0  # not 2 x 5 s


def test_a_stdio_case_not_started_by_the_batch_deadline_is_not_run():
    import time

    with Sandbox(SandboxConfig(workers=1, timeout_s=5)) as b:
        b.run("print(1)", stdio_tests([("", "1")]))  # server started
        start = time.monotonic()
        # every remaining case was still forked, set up and waited for once the deadline had passed
        r = b.run("print(int(input()) * 2)", stdio_tests([(f"{i}\n", f"{2 * i}\n") for i in range(2000)]),
                  deadline=start + 1.0)
        took = time.monotonic() - start
    assert len(r.tests) == 2000 and r.tests[-1]["reason"] == "timeout" and r.passed < 2000
    assert took < 15  # 2,000 processes are not started once the deadline has passed


def test_a_memory_limit_too_small_for_the_interpreter_is_named():
    # memory_mb=20: the sandbox said runs "cannot import from the grader's Python environment with the layers ...",
    # blaming the layers for what the limit did
    with Sandbox(SandboxConfig(workers=1, memory_mb=5)) as box:
        r = box.run("print(1)", stdio_tests([("", "1\n")]))
    if r.error is None:  # a limit below what is mapped already binds only new mappings: a server whose interpreter
        # maps nothing more to start a run (the system Python of a virtualenv) runs within it
        pytest.skip("this interpreter starts a run without mapping more memory: no limit to name")
    assert "cannot start within memory_mb 5" in r.error and "give 64 or more" in r.error, r


def test_the_tests_own_setup_is_not_the_first_tests_time():
    # a setup that takes longer than a test may (the dataset's fixtures): the time limit of the first test ran from
    # before it, so a right program timed out (0) and the count of tests shrank to one
    tests = CodeTests.from_any({"style": "assert", "entry_point": "f", "code": "assert f(1) == 1\nassert f(2) == 2",
                                "setup": "import time\ntime.sleep(1.5)"})
    with Sandbox(SandboxConfig(workers=1, timeout_s=1)) as box:
        right = box.run("def f(x):\n    return x", tests)
        slow = box.run("import time\ntime.sleep(3)\ndef f(x):\n    return x", tests)
    assert [t["passed"] for t in right.tests] == [True, True], right
    assert [t["reason"] for t in slow.tests] == ["timeout", "timeout"], slow  # the program's own start-up still counts


def test_one_assert_in_a_helper_does_not_cap_the_cpu_time_of_every_test():
    # the CPU limit counted the word "assert": a helper with one, called for seven cases, had timeout_s + 2 s
    # of CPU for all seven, and the program was killed at the fifth though each test took a third of its time
    program = ("import time\ndef spin(x):\n    t0 = time.process_time()\n"
               "    while time.process_time() - t0 < 1.0:\n        pass\n    return 2 * x\n")
    code = "def t(x, y):\n    assert spin(x) == y\n" + "".join(f"t({i}, {2 * i})\n" for i in range(7))
    with Sandbox(SandboxConfig(workers=1, timeout_s=3)) as b:
        r = b.run(program, CodeTests.from_any({"style": "assert", "entry_point": "spin", "code": code}))
    assert [t["reason"] for t in r.tests] == ["passed"] * 7, r.tests


def test_programs_may_use_temporary_files_and_assert_code_may_pass_large_inputs(box):
    # tempfile's directory, looked up in the server before the fork, was /tmp: closed to the run
    prog = ("import os, tempfile\nwith tempfile.TemporaryFile('w+') as f:\n    f.write('42'); f.seek(0); a = f.read()\n"
            "d = tempfile.mkdtemp()\nopen(os.path.join(d, 'x'), 'w').write(a)\nprint(open(os.path.join(d, 'x')).read())")
    assert box.run(prog, stdio_tests([("", "42")])).tests == [{"passed": True, "reason": "passed"}]
    # the test code's own input of 1.1 million values was refused as a "reply too large" (not run)
    tests = CodeTests.from_any({"style": "assert", "entry_point": "count", "code":
                                "assert count([1]) == 1\nassert count([1] * 1_100_000) == 1_100_000\n"})
    with Sandbox(SandboxConfig(workers=1, timeout_s=20)) as b:  # about 1.5 s here to carry it across
        r = b.run("def count(xs):\n    return sum(xs)\n", tests)
    assert [t["reason"] for t in r.tests] == ["passed", "passed"], r.tests


_HUGE_REPLY = """
import os
def f():
    os.write(4, b'{"ok":[' + b'ITEM,' * COUNT + b'ITEM]}\\n')
    os._exit(0)
"""

_HUGE_BATCH = """
import json, sys, time
from evalkit.sandbox import Sandbox, SandboxConfig
tests = {"style": "call", "entry_point": "f", "cases": [{"input": [], "output": 1}]}
with Sandbox(SandboxConfig(workers=2, timeout_s=2)) as b:
    b.run_many([("def f():\\n    return 1\\n", tests)] * 2)  # servers started
    start = time.monotonic()
    results = b.run_many([(sys.argv[1], tests)] * 4, deadline=start + 3)
    took = time.monotonic() - start
# this process's own peak (VmHWM): ru_maxrss keeps the peak of the process that started it (Linux carries
# it over exec), which in a test session holding a model is a gigabyte before this script does anything
peak_kb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"took": took, "rss_mb": peak_kb >> 10, "tests": [r and r.tests for r in results]}))
"""


@pytest.mark.parametrize("item,count", [("0", 7999990), ("[]", 5000000)], ids=["8M-zeros", "5M-lists"])
def test_huge_replies_cost_the_grader_neither_its_deadline_nor_its_memory(item, count):
    # parsing a reply holds the GIL, and no deadline cuts it short: one of millions of values is refused
    # unparsed (parsed, each such reply took seconds and up to ~460 MB of the grader's memory)
    import sys

    program = _HUGE_REPLY.replace("ITEM", item).replace("COUNT", str(count))
    proc = subprocess.run([sys.executable, "-c", _HUGE_BATCH, program], capture_output=True, text=True,
                          timeout=300, cwd="/tmp")
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["took"] < 3 + 3, out["took"]  # by the deadline, give or take a loaded machine
    assert out["rss_mb"] < 250, out["rss_mb"]
    too_large = [{"passed": False, "reason": "reply too large (over 16 MB or 1,048,576 values)"}]
    assert out["tests"] == [too_large] * 4, out["tests"]  # every run judged (None: never started)


def test_output_written_at_exit_is_kept(box):
    atexit_prog = "import atexit, sys\natexit.register(lambda: sys.stdout.write('45\\n'))\n"
    thread_prog = "import threading, time\ndef main():\n    time.sleep(0.2)\n    print(45)\nthreading.Thread(target=main).start()\n"
    for prog in (atexit_prog, thread_prog, atexit_prog + "raise SystemExit(0)\n"):
        r = box.run(prog, stdio_tests([("", "45\n")]))
        assert r.passed == 1, (prog, r)


def test_big_integers_cross_both_ways(box):
    import math
    import sys

    r = box.run("import math\ndef f(n):\n    return math.factorial(n)\n", call_tests("f", [([2000], math.factorial(2000))]))
    assert r.passed == 1, r
    old = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)
    try:
        want = str(math.factorial(2000)) + "\n"
    finally:
        sys.set_int_max_str_digits(old)
    assert box.run("import math\nprint(math.factorial(int(input())))", stdio_tests([("2000\n", want)])).passed == 1


def test_one_runs_threads_do_not_starve_another():
    import threading

    hog = ("import threading, time\ndef f():\n    n = 0\n    try:\n        for _ in range(1000):\n"
           "            threading.Thread(target=time.sleep, args=(3,), daemon=True).start()\n            n += 1\n"
           "    except RuntimeError:\n        pass\n    time.sleep(2)\n    return n\n")
    honest = ("import time\nfrom concurrent.futures import ThreadPoolExecutor\ndef f():\n    time.sleep(0.5)\n"
              "    with ThreadPoolExecutor(8) as pool:\n        return sum(pool.map(lambda k: k, range(8)))\n")
    with Sandbox(SandboxConfig(workers=2, timeout_s=6)) as b:
        info = b.layers()
        if "nproc" not in info["in_force"] and "cgroup" not in info["in_force"]:
            pytest.skip(f"no per-run process limit here: {info['missing'].get('nproc')}")
        out = {}
        t = threading.Thread(target=lambda: out.setdefault("hog", b.run(hog, call_tests("f", [([], -1)]))))
        t.start()
        r = b.run(honest, call_tests("f", [([], 28)]))
        t.join()
    assert r.passed == 1, r
    assert out["hog"].tests[0]["reason"].startswith("wrong value")  # it was stopped well short of 1000


def test_a_deep_tree_is_cleaned_up_without_a_mount_namespace(tmp_path):
    from evalkit.sandbox._server import remove_tree

    deep = tmp_path / "t"
    os.mkdir(deep)
    fd = os.open(deep, os.O_RDONLY)
    for i in range(3000):
        os.mkdir("d", dir_fd=fd)
        if i % 500 == 0:
            os.close(os.open("f", os.O_CREAT | os.O_WRONLY, dir_fd=fd))
        nxt = os.open("d", os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = nxt
    os.close(fd)
    remove_tree(str(deep))
    assert not deep.exists()
    with Sandbox(SandboxConfig(workers=1, timeout_s=5, layers=tuple(x for x in OPTIONAL_LAYERS if x != "mountns"))) as b:
        results = run_attacks(b, only=["deep_tree"])
    assert results[0].contained, results[0].detail


# ---------------------------------------------------------------- layers


def test_every_layer_is_in_force_or_says_why_not(box):
    info = box.layers()
    for name in LAYER_NAMES:
        assert name in info["in_force"] or info["missing"].get(name), name


def test_switched_off_layer_cannot_be_required():
    with pytest.raises(InputError, match="required sandbox layer.*seccomp: switched off by configuration"):
        sandbox_layers(require=("seccomp",), config=SandboxConfig(workers=1, layers=("netns",)))


def test_unknown_layer_name_is_an_input_error():
    with pytest.raises(InputError, match="unknown sandbox layer"):
        Sandbox(SandboxConfig(layers=("selinux",)))


def test_doctor_cli_prints_layers_and_refuses_missing_required_layer():
    r = CliRunner().invoke(main, ["sandbox", "doctor", "--no-attacks"])
    assert r.exit_code == 0, r.output
    assert "sandbox layers" in r.output and "session" in r.output and "in force" in r.output
    r = CliRunner().invoke(main, ["sandbox", "doctor", "--no-attacks", "--require-layers", "nosuch"])
    assert r.exit_code == 2 and "unknown layer" in r.output


# ---------------------------------------------------------------- the attack suite


def _assert_all_contained(results):
    assert [r.name for r in results] == [a.name for a in ATTACKS]
    bad = [(r.name, r.status, r.detail) for r in results if not r.contained]
    assert not bad
    assert not orphans_alive()


@needs_root
def test_attacks_are_contained_as_root():
    with Sandbox(SandboxConfig(workers=1, timeout_s=1)) as b:
        info = b.layers()
        assert set(OPTIONAL_LAYERS) <= set(info["in_force"]), info["missing"]
        _assert_all_contained(run_attacks(b))


@needs_root
def test_rlimits_alone_do_not_contain_root():
    # what the issue measured on the peers: rlimits and a private directory are not a sandbox for root
    with Sandbox(SandboxConfig(workers=1, timeout_s=1, layers=())) as b:
        results = {r.name: r for r in run_attacks(b, only=["read_shadow", "parent_mem"])}
    assert results["read_shadow"].status == "NOT CONTAINED"
    assert results["parent_mem"].status == "NOT CONTAINED"
    assert not orphans_alive()


def test_attacks_are_contained_in_this_process_configuration():
    # whoever runs the suite (root in CI, a normal user at home): every layer this user can have holds
    if IS_ROOT:
        pytest.skip("as root, the configurations below cover this")
    with Sandbox(SandboxConfig(workers=1, timeout_s=2)) as b:
        info = b.layers()
        lacking = {"netns", "mountns", "nproc", "landlock", "seccomp"} - set(info["in_force"])
        if lacking:
            pytest.skip(f"this user lacks layers {sorted(lacking)}: {info['missing']}")
        _assert_all_contained(run_attacks(b))


# limit_parent, reschedule_parent: a normal user's run set the trainer's RLIMIT_CPU to 0 (SIGXCPU killed it) and its
# siblings' (their rewards 0), and its scheduling to SCHED_IDLE
_SECCOMP_ROWS = ["kill_parent", "limit_parent", "reschedule_parent", "fsetown_signal", "unix_socket", "write_outside",
                 "truncate_outside", "attrs_outside"]


def test_seccomp_refuses_what_landlock_leaves_open():
    # Landlock never covers a file's mode, times, flags or xattrs, nor truncation before ABI 3, nor signals
    # before ABI 6, and the user's own files (home) stay writable in the mount namespace: seccomp refuses
    # them. The runs here own the file outside, as a normal user's runs own the user's files (no uid drop),
    # on Landlock ABI 2 (kernels 5.19 to 6.1): the file keeps its text, mode, times, flags and xattrs.
    layers = tuple(x for x in OPTIONAL_LAYERS if x != "uid_drop")
    with Sandbox(SandboxConfig(workers=1, timeout_s=3, layers=layers, landlock_abi_max=2)) as b:
        info = b.layers()
        lacking = {"landlock", "seccomp"} - set(info["in_force"])
        if lacking:
            pytest.skip(f"this machine lacks layers {sorted(lacking)}: {info['missing']}")
        results = run_attacks(b, only=_SECCOMP_ROWS)
    assert [r.name for r in results] == [a.name for a in ATTACKS if a.name in _SECCOMP_ROWS]
    assert [(r.name, r.status, r.detail) for r in results if not r.contained] == []
    # the run's own limits stay its own to read and set, by pid 0 or its own pid (psutil's Process().rlimit())
    prog = ("import os, resource\nsoft, hard = resource.prlimit(os.getpid(), resource.RLIMIT_NOFILE)\n"
            "resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))\nprint(resource.prlimit(0, resource.RLIMIT_NOFILE)"
            " == (soft, hard))")
    with Sandbox(SandboxConfig(workers=1, timeout_s=3, layers=layers, landlock_abi_max=2)) as b:
        assert b.run(prog, stdio_tests([("", "True")])).tests == [{"passed": True, "reason": "passed"}]


# ---------------------------------------------------------------- the configurations users have
#
# The grader runs from a virtualenv under /tmp made from a Python every user can read, holding a copy
# of evalkit and pyseccomp, once as root and once as an unprivileged user; some configurations switch
# a layer off or cap Landlock at ABI 4 (kernels before 6.12 lack ABI 6; Ubuntu 24.04's 6.8 has ABI 4).

_SUITE = """
import json, sys
from evalkit.sandbox import OPTIONAL_LAYERS, Sandbox, SandboxConfig
from evalkit.sandbox._attacks import run_attacks
off = [x for x in sys.argv[1].split(",") if x]
with Sandbox(SandboxConfig(workers=1, timeout_s=2, layers=tuple(x for x in OPTIONAL_LAYERS if x not in off))) as b:
    info = b.layers()
    results = run_attacks(b)
print(json.dumps({"layers": info, "results": {r.name: [r.status, r.detail] for r in results}}))
"""


def _readable_python() -> str | None:
    """A Python 3.10+ whose install every user can read (the venv's base)."""
    import sys

    for exe in (sys.executable, shutil.which("python3"), "/usr/bin/python3"):
        if not exe or not os.path.exists(exe):
            continue
        out = subprocess.run([exe, "-c", "import sys; print(sys.version_info >= (3, 10), sys.base_prefix)"],
                             capture_output=True, text=True).stdout.split()
        if out and out[0] == "True" and _others_can_enter(os.path.realpath(exe)) and _others_can_enter(out[1] + "/lib"):
            return exe
    return None


def _others_can_enter(path: str) -> bool:
    parts = path.strip("/").split("/")
    return all(os.stat("/" + "/".join(parts[:i])).st_mode & 0o1 for i in range(1, len(parts)))


@pytest.fixture(scope="module")
def grader_venv():
    """A virtualenv under /tmp that every user can read: evalkit and pyseccomp copied in, in the wheel's
    layout (the task specs and their bundled data as evalkit/tasks, as `pip install evalkit` puts them)."""
    import importlib.util
    import tempfile

    if not IS_ROOT:
        pytest.skip("needs root to run the grader as another user")
    base = _readable_python()
    if base is None:
        pytest.skip("no Python install that every user can read (install python3 from the distribution)")
    top = tempfile.mkdtemp(prefix="evalkit-venv-", dir="/tmp")
    os.chmod(top, 0o755)
    venv = os.path.join(top, "venv")
    subprocess.run([base, "-m", "venv", "--without-pip", venv], check=True)
    site = subprocess.run([os.path.join(venv, "bin", "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    shutil.copytree(os.path.join(repo, "evalkit"), os.path.join(site, "evalkit"),
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(os.path.join(repo, "tasks"), os.path.join(site, "evalkit", "tasks"),
                    ignore=shutil.ignore_patterns("__pycache__"))
    seccomp = importlib.util.find_spec("pyseccomp")
    if seccomp is None:
        pytest.skip("pyseccomp is not installed (pip install pyseccomp)")
    shutil.copy(seccomp.origin, site)
    subprocess.run(["chmod", "-R", "a+rX", top], check=True)
    yield os.path.join(venv, "bin", "python")
    shutil.rmtree(top, ignore_errors=True)


@pytest.fixture(scope="module")
def unprivileged_user():
    if not IS_ROOT:
        pytest.skip("needs root to create an unprivileged user")
    if not shutil.which("useradd"):
        pytest.skip("useradd is not installed (apt-get install passwd)")
    name = "evalkit-sbx-test"
    created = False
    try:
        pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name], check=True)
        created = True
    entry = pwd.getpwnam(name)
    yield entry.pw_uid, entry.pw_gid
    if created:
        subprocess.run(["userdel", name], check=False)


def _run_suite(python: str, user: tuple[int, int] | None, off: str = "", landlock_abi: int | None = None) -> dict:
    env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8"}
    if landlock_abi is not None:
        env["EVALKIT_SANDBOX_LANDLOCK_ABI"] = str(landlock_abi)
    kw = {"user": user[0], "group": user[1], "extra_groups": []} if user else {}
    proc = subprocess.run([python, "-c", _SUITE, off], capture_output=True, text=True, env=env, cwd="/tmp",
                          timeout=600, **kw)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _not_contained(report: dict) -> dict:
    return {name: detail for name, (status, detail) in report["results"].items() if status != "contained"}


# (who, layers switched off, Landlock cap, attacks a user is told are not contained there and why)
CONFIGURATIONS = [
    ("root", "", None, {}),
    ("root", "mountns", None, {"files_5gb": "without the mount namespace's tmpfs nothing caps the disk a run fills"}),
    ("root", "", 4, {}),
    ("root", "landlock", None, {"read_outside": "a file every user may read (the run's own uid writes only where "
                                                "every user may: /var/tmp)"}),
    ("user", "", None, {}),
    ("user", "mountns", None, {"files_5gb": "as above"}),
    ("user", "", 4, {}),
    ("user", "", 2, {}),  # Landlock cannot refuse truncation before ABI 3: seccomp does
    ("user", "", 1, {}),  # ABI 1 refuses every rename into another folder: deep_tree builds downwards there
    ("user", "landlock", None, {"read_outside": "the run has the user's own rights on the user's files",
                                "write_outside": "as above"}),
]


@pytest.mark.parametrize("who,off,abi,expected", CONFIGURATIONS,
                         ids=[f"{w}-{o or 'all'}{'-abi' + str(a) if a else ''}" for w, o, a, _ in CONFIGURATIONS])
def test_configurations_users_have(grader_venv, unprivileged_user, who, off, abi, expected):
    report = _run_suite(grader_venv, unprivileged_user if who == "user" else None, off, abi)
    info = report["layers"]
    assert info["as_root"] == (who == "root")
    want = {"netns", "mountns", "nproc", "landlock", "seccomp"} - set(off.split(","))
    want |= {"uid_drop", "cgroup"} if who == "root" else set()
    assert want <= set(info["in_force"]), info["missing"]
    if abi:
        assert info["landlock_abi"] == abi
    assert not info["writable_roots"]
    assert set(_not_contained(report)) == set(expected), _not_contained(report)
    assert not orphans_alive()


@pytest.mark.parametrize("abi", [None, 4, 2])
def test_without_seccomp_the_doctor_says_what_is_open(grader_venv, unprivileged_user, abi):
    # pyseccomp missing (the user skipped libseccomp2): the layer is reported missing with what to
    # install, and what only seccomp holds is reported open: unix sockets of the host by their path (no
    # network namespace covers those, and Landlock does not), the mode, times and xattrs of the user's
    # own files, the limits and scheduling of the user's processes (Landlock scopes neither); signals where
    # Landlock cannot scope them (ABI < 6), truncation where it cannot refuse it (ABI < 3)
    site = subprocess.run([grader_venv, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    hidden = os.path.join(site, "pyseccomp.py")
    os.rename(hidden, hidden + ".off")
    try:
        report = _run_suite(grader_venv, unprivileged_user, "", abi)
    finally:
        os.rename(hidden + ".off", hidden)
    assert "seccomp" not in report["layers"]["in_force"]
    assert "pyseccomp" in report["layers"]["missing"]["seccomp"]
    used = report["layers"]["landlock_abi"]
    expected = {"unix_socket", "attrs_outside", "limit_parent", "reschedule_parent"}
    expected |= {"kill_parent", "fsetown_signal"} if used < 6 else set()
    expected |= {"truncate_outside"} if used < 3 else set()
    assert set(_not_contained(report)) == expected, _not_contained(report)


@needs_root
def test_a_layer_that_fails_never_leaves_more_privilege():
    # without the mount namespace, the grader's Python under /root cannot be read by the run's uid: runs
    # still import (through the server's fds), and keep both the uid drop and Landlock
    with Sandbox(SandboxConfig(workers=1, timeout_s=2, layers=tuple(x for x in OPTIONAL_LAYERS if x != "mountns"))) as b:
        info = b.layers()
        assert {"uid_drop", "landlock", "seccomp"} <= set(info["in_force"])
        tests = call_tests("f", [([], True)])
        r = b.run("import os, plistlib, email.mime.text\ndef f():\n    return os.getuid() != 0\n", tests)
        assert r.passed == 1, r
        r = b.run("def f():\n    return len(open('/etc/shadow').read()) > 0\n", tests)
        assert r.passed == 0 and "Permission denied" in r.tests[0]["reason"]


def test_doctor_says_not_contained_when_an_attack_gets_through():
    lines = []
    assert not sandbox_doctor(config=SandboxConfig(workers=1, timeout_s=1, layers=()), echo=lines.append)
    assert lines[-1].startswith("NOT CONTAINED: ")
    assert "read_outside" in lines[-1] or "read_shadow" in lines[-1]


def test_runs_that_cannot_import_are_unjudged_never_run_with_fewer_layers(grader_venv):
    # the grader's site-packages readable by root alone: no layer is dropped to make imports work; the
    # sandbox says it cannot run here, and a run is an infrastructure fault (correct None), not a 0
    site = subprocess.run([grader_venv, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    script = ("import json\nfrom evalkit.sandbox import Sandbox, SandboxConfig\nfrom evalkit.errors import InputError\n"
              "with Sandbox(SandboxConfig(workers=1)) as b:\n"
              "    r = b.run('def f():\\n    return 1\\n', {'style': 'call', 'entry_point': 'f', "
              "'cases': [{'input': [], 'output': 1}]})\n"
              "    try:\n        b.layers()\n        why = None\n    except InputError as e:\n        why = str(e)\n"
              "print(json.dumps({'error': r.error, 'tests': r.tests, 'why': why}))\n")
    os.chmod(site, 0o700)
    try:
        proc = subprocess.run([grader_venv, "-c", script], capture_output=True, text=True, cwd="/tmp", timeout=120,
                              env={"PATH": "/usr/bin:/bin", "HOME": "/tmp"})
    finally:
        os.chmod(site, 0o755)
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["tests"] == [] and "cannot import from the grader's Python environment" in out["error"]
    assert "the code sandbox cannot start" in out["why"]


# ---------------------------------------------------------------- the answer key, clean-up, memory, layers


_READ_KEY = """
import glob, os, sys
def f():
    read = 0
    for base in sys.path:
        for path in glob.glob(os.path.join(base, "evalkit", "tasks", "data", "*")):
            try:
                with open(path, "rb") as fh:
                    read += len(fh.read(1))
            except OSError:
                pass
    import evalkit.types  # the same root still imports
    return [read, evalkit.types.__name__]
"""

_KEY_SCRIPT = """
import json, sys
from evalkit.sandbox import OPTIONAL_LAYERS, Sandbox, SandboxConfig
off = [x for x in sys.argv[1].split(",") if x]
with Sandbox(SandboxConfig(workers=1, timeout_s=10, layers=tuple(x for x in OPTIONAL_LAYERS if x not in off))) as b:
    info = b.layers()
    r = b.run(sys.argv[2], {"style": "call", "entry_point": "f", "cases": [{"input": [], "output": [0, "evalkit.types"]}]})
print(json.dumps({"in_force": info["in_force"], "error": r.error, "tests": r.tests}))
"""


@pytest.mark.parametrize("who,off", [("root", ""), ("root", "mountns"), ("user", ""), ("user", "mountns")])
def test_bundled_answer_keys_are_unreadable_from_an_installed_wheel(grader_venv, unprivileged_user, who, off):
    # installed from the wheel, evalkit/tasks/data (reference solutions, expected outputs) sits in
    # site-packages, an import root runs read: covered by the mount namespace, else left out by Landlock
    kw = {"user": unprivileged_user[0], "group": unprivileged_user[1], "extra_groups": []} if who == "user" else {}
    proc = subprocess.run([grader_venv, "-c", _KEY_SCRIPT, off, _READ_KEY], capture_output=True, text=True, cwd="/tmp",
                          timeout=300, env={"PATH": "/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8"}, **kw)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "landlock" in out["in_force"], out
    assert out["error"] is None and out["tests"] == [{"passed": True, "reason": "passed"}], out


_FILL_DIR = """
import os, time
def f():
    n, end = 0, time.monotonic() + 2.0
    while time.monotonic() < end:
        for _ in range(200):
            os.mkdir(f"d{n}")
            n += 1
    return os.getcwd()
"""


def test_the_verdict_never_waits_for_the_clean_up():
    # without a mount namespace a run works in /tmp/evalkit-run-*: a program that fills it with
    # directories gets its verdict as soon as it is done; the directory is removed afterwards
    import time

    with Sandbox(SandboxConfig(workers=1, timeout_s=6, layers=tuple(x for x in OPTIONAL_LAYERS if x != "mountns"))) as b:
        r = b.run(_FILL_DIR, call_tests("f", [([], "")]))
        assert r.error is None, r.error
        assert r.tests[0]["reason"].startswith("wrong value: '/")
        where = r.tests[0]["reason"].split("'")[1]
        assert os.path.isdir(where)  # the verdict came first: the clean-up is still going on
        assert b.run("def f():\n    return ''\n", call_tests("f", [([], "")])).passed == 1  # the slot is free
        end = time.monotonic() + 300
        while os.path.exists(where) and time.monotonic() < end:
            time.sleep(0.2)
        assert not os.path.exists(where)


def test_removing_a_wide_tree_lists_each_directory_once(tmp_path, monkeypatch):
    from evalkit.sandbox._server import remove_tree

    top = tmp_path / "wide"
    top.mkdir()
    for i in range(300):
        (top / f"d{i}").mkdir()
        (top / f"f{i}").write_text("x")
    (top / "d0" / "inner").mkdir()
    listed = []
    real = os.scandir

    def counting(fd):
        listed.append(fd)
        return real(fd)

    monkeypatch.setattr(os, "scandir", counting)
    remove_tree(str(top))
    assert not top.exists()
    assert len(listed) == 302  # the top, its 300 subdirectories and one below: never the top again


def test_a_stale_run_directory_is_swept_when_a_server_starts():
    # a server killed mid clean-up (the grader's close, a dropped slot) leaves its run directory; the
    # next server removes it, and never one a live server holds
    import tempfile
    import time

    stale = tempfile.mkdtemp(prefix="evalkit-run-", dir="/tmp")
    for i in range(50):
        os.mkdir(os.path.join(stale, f"d{i}"))
    old = time.time() - 3600
    os.utime(stale, (old, old))
    with Sandbox(SandboxConfig(workers=1, timeout_s=2)) as b:
        assert b.run("def f():\n    return 1\n", call_tests("f", [([], 1)])).passed == 1
        end = time.monotonic() + 60
        while os.path.exists(stale) and time.monotonic() < end:
            time.sleep(0.1)
    assert not os.path.exists(stale)


def test_a_run_is_the_oom_killers_first_choice():
    # memory a run holds outside its address space must never get the server killed in its place
    prog = "def f():\n    return open('/proc/self/oom_score_adj').read().strip()\n"
    with Sandbox(SandboxConfig(workers=1, timeout_s=5, layers=tuple(x for x in OPTIONAL_LAYERS if x != "landlock"))) as b:
        r = b.run(prog, call_tests("f", [([], "1000")]))
    assert r.passed == 1, r


_MEMFDS = """
import os
def f(n, mb):
    fds = []
    try:
        for _ in range(n):
            fd = os.memfd_create("m")
            fds.append(fd)
            for _ in range(mb):
                os.write(fd, b"x" * (1 << 20))
    except OSError:
        pass
    return len(fds)
"""


def test_memfds_are_refused_where_seccomp_holds(box):
    # a memfd's pages count against no rlimit of the run (only against a cgroup it shares with the server)
    if "seccomp" not in box.layers()["in_force"]:
        pytest.skip(f"no seccomp here: {box.layers()['missing'].get('seccomp')}")
    r = box.run(_MEMFDS, call_tests("f", [([4, 1], 0)]))
    assert r.passed == 1, r


@needs_root
def test_memfds_past_the_cgroup_limit_cost_the_run_not_the_server():
    # without seccomp's refusal, the cgroup's OOM killer must pick the run: judged, never unjudged
    layers = tuple(x for x in OPTIONAL_LAYERS if x != "seccomp")
    with Sandbox(SandboxConfig(workers=1, timeout_s=20, memory_mb=512, file_mb=16, layers=layers)) as b:
        if "cgroup" not in b.layers()["in_force"]:
            pytest.skip(f"no cgroup here: {b.layers()['missing'].get('cgroup')}")
        r = b.run(_MEMFDS, call_tests("f", [([64, 16], 0)]))
        assert r.error is None and r.tests[0]["passed"] is False, r
        assert b.run("def f(n, mb):\n    return 0\n", call_tests("f", [([1, 1], 0)])).passed == 1


def test_the_landlock_testing_switch_is_read_strictly_and_named_where_it_caps(tmp_path):
    # `=abc` was a traceback from `sandbox doctor`, `=0` reported "kernel has no Landlock" on a kernel that has it
    import subprocess
    import sys

    def doctor(value):
        return subprocess.run([sys.executable, "-m", "evalkit", "sandbox", "doctor", "--no-attacks"],
                              capture_output=True, text=True, timeout=120, cwd=tmp_path,
                              env={**os.environ, "EVALKIT_SANDBOX_LANDLOCK_ABI": value})

    for bad in ("abc", "-1", "1.5"):
        r = doctor(bad)
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
        assert "EVALKIT_SANDBOX_LANDLOCK_ABI: expected a whole number at least 0" in r.stderr, r.stderr
    from evalkit.sandbox._layers import landlock_abi

    if landlock_abi() < 1:
        pytest.skip("no Landlock on this kernel: nothing to cap")
    r = doctor("0")
    assert "capped at ABI 0" in r.stdout and "kernel has no Landlock" not in r.stdout, r.stdout


_INTERRUPTED_BESIDE_ANOTHER = """
import os, signal, threading, time
from evalkit.sandbox import Sandbox, SandboxConfig
from evalkit.types import CodeTests
box = Sandbox(SandboxConfig(workers=3, timeout_s=3))
tests = CodeTests.from_any({"style": "stdio", "cases": [{"input": "", "output": "1"}] * 3})
box.run("print(1)", tests)
other = {}
def caller():  # another thread sharing the sandbox, as concurrent reward calls do
    time.sleep(0.5)
    other["r"] = box.run("import time\\ntime.sleep(0.5)\\nprint(1)\\n", tests)
b = threading.Thread(target=caller)
b.start()
threading.Timer(1.0, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
start = time.monotonic()
try:
    box.run_many([("import time\\ntime.sleep(100)\\n", tests)] * 2)
except KeyboardInterrupt:
    print("interrupted after", round(time.monotonic() - start, 1))
b.join()
print("other", other["r"].passed, other["r"].error)
print("after", box.run_many([("print(1)", tests)] * 3)[2].passed)
box.close()
"""


_RELEASED_BEFORE_THE_KILL = """
import os, signal, threading, time
from evalkit.sandbox import Sandbox, SandboxConfig, _pool
from evalkit.types import CodeTests
box = Sandbox(SandboxConfig(workers=2, timeout_s=5))
tests = CodeTests.from_any({"style": "stdio", "cases": [{"input": "", "output": "1"}] * 2})
box.run("print(1)", tests)
kill = _pool._Slot.kill
def slow_kill(self, *stop):
    time.sleep(1.0)
    kill(self, *stop)
_pool._Slot.kill = slow_kill
other = {}
def caller():  # waits for a slot, and gets the one the interrupted call's short job frees
    time.sleep(0.3)
    other["r"] = box.run("import time\\ntime.sleep(1.5)\\nprint(1)\\n", tests)
b = threading.Thread(target=caller)
b.start()
threading.Timer(0.6, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
try:
    box.run_many([("import time\\ntime.sleep(0.4)\\nprint(1)\\n", tests), ("import time\\ntime.sleep(100)\\n", tests)])
except KeyboardInterrupt:
    pass
b.join()
print("other", other["r"].passed, other["r"].error)
box.close()
"""


def test_an_interrupted_run_many_kills_its_own_runs_not_another_callers():
    # Ctrl-C in one caller killed every slot's runs and halted the whole sandbox: another thread's correct program
    # (a concurrent reward call) lost its run, 'the sandbox server is gone'
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-c", _INTERRUPTED_BESIDE_ANOTHER], capture_output=True, text=True, timeout=120)
    lines = r.stdout.splitlines()
    assert lines and lines[0].startswith("interrupted after") and float(lines[0].split()[-1]) < 5, r.stdout + r.stderr
    assert "other 3 None" in lines and "after 3" in lines, r.stdout + r.stderr
    # a slot the interrupted call released after it listed its slots, and another caller took, is left alone (the
    # kill is slowed here to open the window, microseconds wide otherwise)
    r = subprocess.run([sys.executable, "-c", _RELEASED_BEFORE_THE_KILL], capture_output=True, text=True, timeout=120)
    assert "other 2 None" in r.stdout.splitlines(), r.stdout + r.stderr


def test_a_replacement_server_with_fewer_layers_is_refused(monkeypatch):
    # a server started later (a replacement, the checker's) whose probe lost a layer runs nothing:
    # its runs are unjudged, never run with less isolation than the sandbox reported
    probe = ("def f():\n    try:\n        open('/etc/hostname').read()\n        return 'read'\n"
             "    except OSError:\n        return 'blocked'\n")
    tests = call_tests("f", [([], "blocked")])
    with Sandbox(SandboxConfig(workers=1, timeout_s=5)) as b:
        if "landlock" not in b.layers()["in_force"]:
            pytest.skip(f"no Landlock here: {b.layers()['missing'].get('landlock')}")
        assert b.run(probe, tests).passed == 1
        monkeypatch.setenv("EVALKIT_SANDBOX_LANDLOCK_ABI", "0")  # the next server's probe finds no Landlock
        dying = b._slots[0]._servers["candidate"].proc
        dying.kill()
        dying.wait()
        r = b.run(probe, tests)
        assert r.tests == [] and "lacks layer(s)" in r.error and "landlock" in r.error, r
        assert "landlock" in b.layers()["in_force"]  # what was reported still holds for every run made
        monkeypatch.delenv("EVALKIT_SANDBOX_LANDLOCK_ABI")
        assert b.run(probe, tests).passed == 1  # a server with every layer is taken again


# ---------------------------------------------------------------- programs run as under python


def test_programs_with_dataclasses_and_annotations_run_as_under_python(box):
    prog = ("from dataclasses import dataclass\n@dataclass\nclass Item:\n    w: int\n    v: int\n"
            "def best(items):\n    return max(Item(w, v).v for w, v in items)\n"
            "def hint(x: int) -> int:\n    return str(hint.__annotations__['x'])\n")
    assert box.run(prog, call_tests("best", [([[[1, 2], [3, 4]]], 4)])).passed == 1
    assert box.run(prog, call_tests("hint", [([1], "<class 'int'>")])).passed == 1  # not the string 'int'
    tests = CodeTests.from_any({"style": "assert", "entry_point": "best", "code": "assert best([[1, 2], [3, 4]]) == 4\n"})
    assert box.run(prog, tests).passed == 1
    stdio = prog + "print(best([[1, 2], [3, 4]]), hint(1))\n"
    assert box.run(stdio, stdio_tests([("", "4 <class 'int'>\n")])).passed == 1
    typed = "import typing\ndef f(x: 'int') -> int:\n    return str(typing.get_type_hints(f)['x'])\n"
    assert box.run(typed, call_tests("f", [([1], "<class 'int'>")])).passed == 1


def test_tests_under_a_main_guard_run(box):
    guarded = CodeTests.from_any({"style": "assert", "entry_point": "square",
                                  "code": "def check(candidate):\n    assert candidate(3) == 9\n\n"
                                          "if __name__ == '__main__':\n    check(square)\n"})
    unit = CodeTests.from_any({"style": "assert", "entry_point": "square",
                               "code": "import unittest\nclass T(unittest.TestCase):\n    def test_sq(self):\n"
                                       "        self.assertEqual(square(3), 9)\n\n"
                                       "if __name__ == '__main__':\n    unittest.main()\n"})
    for tests in (guarded, unit):
        wrong = box.run("def square(x):\n    return 0\n", tests)
        assert wrong.error is None and wrong.passed == 0 and len(wrong.tests) == 1, wrong
        assert box.run("def square(x):\n    return x * x\n", tests).passed == 1
    # test code that never calls the program tests nothing: unjudged, never a pass
    idle = CodeTests.from_any({"style": "assert", "entry_point": "square",
                               "code": "if __name__ == 'tests':\n    assert square(3) == 9\n"})
    r = box.run("def square(x):\n    return 0\n", idle)
    assert r.tests == [] and "without calling square" in r.error
    # test code that fails before it calls the program (MBPP 367 names an undefined `root`) says how
    broken = CodeTests.from_any({"style": "assert", "entry_point": "square", "code": "assert square(root) == 9\n"})
    r = box.run("def square(x):\n    return x * x\n", broken)
    assert r.tests == [] and "first failing test: NameError: name 'root' is not defined" in r.error, r.error


def test_a_programs_text_is_capped_in_its_verdict(box):
    # the program owns its reply channel: what it writes there reaches a verdict at most a few hundred characters
    bad = "import os\ndef f(x):\n    os.write(4, b'{\"bad\": \"' + b'A' * (4 << 20) + b'\"}\\n')\n    return x\n"
    tests = CodeTests.from_any({"style": "assert", "entry_point": "f", "code": "assert f(1) == 1\nassert f(2) == 2\n"})
    r = box.run(bad, tests)
    lengths = [len(t["reason"]) for t in r.tests]
    assert r.error is None and r.passed == 0 and max(lengths) <= 300, lengths
    load = "import os\nos.write(4, b'{\"load_error\": \"' + b'B' * (4 << 20) + b'\"}\\n')\nos._exit(0)\n"
    r = box.run(load, call_tests("f", [([i], i) for i in range(5)]))
    assert r.passed == 0 and all(len(t["reason"]) <= 300 for t in r.tests) and len(r.detail) <= 300
    assert r.tests[0]["reason"].startswith("the program failed to load: BBB")


def test_start_up_counts_toward_the_first_test_in_every_style():
    # SandboxConfig: the candidate's start-up counts toward its first test, for `call` as for `assert`
    prog = "import time\ntime.sleep(1.5)\ndef f(x):\n    time.sleep(1.0)\n    return x\n"
    with Sandbox(SandboxConfig(workers=1, timeout_s=2)) as b:
        as_call = b.run(prog, call_tests("f", [([1], 1)]))
        as_assert = b.run(prog, CodeTests.from_any({"style": "assert", "entry_point": "f", "code": "assert f(1) == 1\n"}))
        # a checker slow to start (its tests' setup) gives the program no head start
        slow_checker = b.run(prog, CodeTests.from_any({"style": "assert", "entry_point": "f",
                                                       "code": "assert f(1) == 1\n",
                                                       "setup": "import time\ntime.sleep(1.5)\n"}))
    assert as_call.tests == as_assert.tests == [{"passed": False, "reason": "timeout"}], (as_call, as_assert)
    assert slow_checker.tests == [{"passed": False, "reason": "timeout"}], slow_checker


def test_tests_without_cases_are_unjudged(box):
    for style in ("call", "stdio"):
        r = box.run("def f():\n    return 1\n", {"style": style, "entry_point": "f", "cases": []})
        assert r.tests == [] and r.error and "hold no cases" in r.error, r


def test_a_failing_prelude_is_the_tests_fault_unless_memory_ran_out(box):
    # the prelude runs before the program, so its failure is the tests' own (evalkit verify refuses such tests);
    # memory running out is not: the program's text, already read by then, counts toward the child's limit
    tests = {"style": "stdio", "cases": [{"input": "", "output": "1"}], "prelude": "import nosuchmodule"}
    r = box.run("print(1)\n", tests)
    assert r.tests == [] and r.tests_fault and "the tests' prelude failed: ModuleNotFoundError" in r.error, r
    with Sandbox(SandboxConfig(workers=1, memory_mb=128)) as small:
        r = small.run("print(1)\n", {**tests, "prelude": "x = bytearray(512 * 2 ** 20)"})
    assert r.tests == [] and not r.tests_fault and "MemoryError" in r.error, r


def test_sandbox_options_are_checked_in_one_line():
    for bad, field in (({"timeout_s": "six"}, "timeout_s"), ({"timeout_s": -1}, "timeout_s"), ({"workers": 0}, "workers"),
                       ({"memory_mb": 1.5}, "memory_mb"), ({"layers": ("netns", "selinux")}, "layers")):
        with pytest.raises(InputError, match=f"^{field}: "):
            SandboxConfig(**bad)
    assert SandboxConfig(layers="netns, seccomp").layers == ("netns", "seccomp")  # a comma string, as require_layers


# A user whose kernel or container allows no user namespaces (netns, mountns and nproc missing): run as the
# unprivileged user, in a user namespace of its own that allows no more of them, so only this process tree is
# affected. A program's thread must not fail because the grader (a trainer) started threads after the sandbox,
# and the run's directory, which no mount namespace hides, must be the user's alone.
_WITHOUT_USER_NAMESPACES = r'''
import ctypes, json, os, sys, threading
libc = ctypes.CDLL(None, use_errno=True)
uid, gid = os.getuid(), os.getgid()
if libc.unshare(0x10000000) != 0:  # CLONE_NEWUSER
    print(json.dumps({"skip": "no user namespace to switch them off in"})); sys.exit(0)
for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
    with open(f"/proc/self/{name}", "w") as f:
        f.write(text)
with open("/proc/sys/user/max_user_namespaces", "w") as f:
    f.write("0")
from evalkit.sandbox import Sandbox, SandboxConfig
THREAD = "import threading\ndef main(): print(42)\nt = threading.Thread(target=main); t.start(); t.join()"
MODE = "import os\nprint(oct(os.stat('.').st_mode & 0o777))"
out = {}
with Sandbox(SandboxConfig(workers=1, timeout_s=5)) as box:
    out["in_force"] = box.layers()["in_force"]
    stdio = lambda want: {"style": "stdio", "cases": [{"input": "", "output": want}]}
    out["before"] = box.run(THREAD, stdio("42")).tests
    release = threading.Event()
    idle = [threading.Thread(target=release.wait) for _ in range(60)]
    for t in idle:
        t.start()
    out["grader_grew"] = box.run(THREAD, stdio("42")).tests
    release.set()
    for t in idle:
        t.join()
    out["mode"] = box.run(MODE, stdio("0o700")).tests
print(json.dumps(out))
'''


def test_without_user_namespaces_honest_threads_and_the_run_directory_hold(grader_venv, unprivileged_user):
    env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8"}
    proc = subprocess.run([grader_venv, "-c", _WITHOUT_USER_NAMESPACES], capture_output=True, text=True, env=env,
                          cwd="/tmp", timeout=300, user=unprivileged_user[0], group=unprivileged_user[1],
                          extra_groups=[])
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    if "skip" in out:
        pytest.skip(out["skip"])
    assert not {"netns", "mountns", "nproc"} & set(out["in_force"]), out["in_force"]
    for key in ("before", "grader_grew", "mode"):
        assert [t["passed"] for t in out[key]] == [True], (key, out[key])


def test_a_checkout_under_the_environments_prefix_is_not_readable_to_runs(tmp_path, monkeypatch):
    # an editable install's path entry ($VIRTUAL_ENV/src/app, /usr/src/app) holds the project's own files,
    # earlier runs' reports among them: only the environment's library directories are the runs' to read
    import sysconfig

    from evalkit.sandbox import _layers

    sysconfig.get_paths()  # read the interpreter's build settings before sys.path is replaced below
    site = tmp_path / "lib" / "python3" / "site-packages"
    checkout = tmp_path / "src" / "app"
    for d in (site, site / "pkg.egg", checkout):
        d.mkdir(parents=True)
    monkeypatch.setattr("sys.prefix", str(tmp_path))
    monkeypatch.setattr("sys.path", [str(site), str(site / "pkg.egg"), str(checkout)])
    roots = _layers._import_roots()
    assert str(site) in roots and str(site / "pkg.egg") in roots
    assert str(checkout) not in roots


def test_an_expected_output_that_is_not_plain_data_is_the_tests_fault_not_the_programs():
    from evalkit.rewards import code_reward

    program = "```python\ndef f(x):\n    return x\n```"
    bad = {"style": "call", "entry_point": "f", "cases": [{"input": [1], "output": object()}]}
    good = {"style": "call", "entry_point": "f", "cases": [{"input": [1], "output": 1}]}
    assert code_reward([program, program], tests=[bad, good]) == [None, 1.0]
