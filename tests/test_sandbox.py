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
from evalkit.sandbox import LAYER_NAMES, OPTIONAL_LAYERS, Sandbox, SandboxConfig, sandbox_layers

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
    assert box.run("def g(x):\n    return helper(x)\n", tests).passed == 1  # the candidate has its own copy


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


@pytest.fixture(scope="module")
def unprivileged_user():
    if not IS_ROOT:
        pytest.skip("needs root to create an unprivileged user")
    if not shutil.which("useradd"):
        pytest.skip("useradd is not installed")
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


def test_attacks_as_an_unprivileged_user(unprivileged_user):
    with Sandbox(SandboxConfig(workers=1, timeout_s=1, become_user=unprivileged_user)) as b:
        info = b.layers()
        assert not info["as_root"]
        assert "not root" in info["missing"]["uid_drop"]  # the report names what this mode lacks
        for name in OPTIONAL_LAYERS:
            assert name in info["in_force"] or info["missing"][name]
        results = run_attacks(b)
        if {"netns", "mountns", "landlock", "seccomp"} <= set(info["in_force"]):
            _assert_all_contained(results)
        else:  # without user namespaces: it runs with the layers it has and says which are missing
            assert any(n in info["missing"] for n in ("netns", "mountns", "landlock", "seccomp"))
            assert all(not r.error for r in results)
