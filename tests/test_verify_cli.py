"""`evalkit verify`: one pair or a file of pairs; what it says when the input or the verifier is bad."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from evalkit.cli import main
from evalkit.verifiers.base import VERIFIERS


def test_pairs_lines_without_a_verifier_use_the_one_given(tmp_path):
    src = tmp_path / "pairs.jsonl"
    src.write_text(json.dumps({"id": "a", "completion": "I pick (B), not A.", "gold": "B"}) + "\n"
                   + json.dumps({"id": "b", "completion": "\\boxed{2}", "gold": "2", "verifier": "math"}) + "\n")
    r = CliRunner().invoke(main, ["verify", "--pairs", str(src), "--verifier", "choice"])
    assert r.exit_code == 0, r.output
    a, b = [json.loads(line) for line in r.output.splitlines()]
    assert (a["id"], a["correct"], a["answer"]) == ("a", True, "B")  # the choice verifier read the letter
    assert (b["id"], b["correct"]) == ("b", True)


def test_a_list_gold_in_pairs_is_several_accepted_answers_as_in_a_run(tmp_path):
    # ["7", "7.0"] was read as one value, so \boxed{7} was wrong where `evalkit run` and the rewards say correct
    src = tmp_path / "pairs.jsonl"
    src.write_text("".join(json.dumps(row) + "\n" for row in [
        {"id": "a", "completion": "<think>x</think> \\boxed{7}", "gold": ["7", "7.0"]},
        {"id": "b", "answer": "7.0", "gold": ["8", "7"]},
        {"id": "c", "answer": "9", "gold": ["7", "8"]},
        {"id": "d", "completion": "I pick (C).", "gold": ["B", "C"], "verifier": "choice"},
        # a member the verifier cannot read is left out while another remains: wrong, not unjudged
        {"id": "e", "completion": "I pick (A).", "gold": ["B", "7"], "verifier": "choice"}]))
    r = CliRunner().invoke(main, ["verify", "--pairs", str(src)])
    assert r.exit_code == 0, r.output
    got = [json.loads(line) for line in r.output.splitlines()]  # one line per input line, in order
    assert [(v["id"], v["correct"], v["reason"]) for v in got] == [
        ("a", True, "correct"), ("b", True, "correct"), ("c", False, "wrong"), ("d", True, "correct"),
        ("e", False, "wrong")]


def test_pairs_think_open_must_be_a_boolean(tmp_path):
    src = tmp_path / "pairs.jsonl"
    src.write_text(json.dumps({"completion": "x</think>\\boxed{2}", "gold": "2", "think_open": "false"}) + "\n")
    r = CliRunner().invoke(main, ["verify", "--pairs", str(src)])
    assert r.exit_code == 2 and "pairs.jsonl:1: field 'think_open': expected true or false" in r.output


def test_verify_reads_a_code_pred_whole():
    # PRED is final answer text, read whole: `<think>` in a program is the program's, and a bare
    # program (no fence) is the program
    stdio = json.dumps({"style": "stdio", "cases": [{"input": "", "output": "<think>"}]})
    r = CliRunner().invoke(main, ["verify", '```python\nprint("<think>")\n```', stdio, "--verifier", "code", "--json"])
    assert r.exit_code == 0, r.output
    assert (json.loads(r.output)["correct"], json.loads(r.output)["reason"]) == (True, "correct")
    call = json.dumps({"style": "call", "entry_point": "add", "cases": [{"input": [1, 2], "output": 3}]})
    r = CliRunner().invoke(main, ["verify", "def add(a, b): return a + b", call, "--verifier", "code", "--json"])
    assert json.loads(r.output)["correct"] is True, r.output


def test_verify_code_tests_without_cases_are_unjudged():
    from evalkit.verifiers.base import VerifyItem, get_verifier

    for tests in ({"style": "stdio", "cases": []}, {"style": "stdio", "cases": None}):
        # in a run or a reward, that row's verdict is `error`; typed at the command line, bad input
        [v] = get_verifier("code").verify_many([VerifyItem("```python\nprint(1)\n```", json.dumps(tests))])
        assert (v.correct, v.reason) == (None, "error") and "hold no cases" in v.detail, v
        r = CliRunner().invoke(main, ["verify", "```python\nprint(1)\n```", json.dumps(tests), "--verifier", "code",
                                      "--json"])
        assert r.exit_code == 2 and "the stdio tests hold no cases" in r.output, r.output


def test_a_gold_that_is_not_code_tests_is_bad_input_not_an_error_verdict(tmp_path):
    # `evalkit verify 4 4 --verifier code` printed an `error` verdict and exited 0, as if it had checked
    for gold, says in (("4", "code tests must be a JSON object, got int"),
                       ('{"style": "stdio", "cases": [{"input": ""}]}', "'cases' must be a list of"),
                       ('{"style": "stdio"', "code tests: Expecting")):
        r = CliRunner().invoke(main, ["verify", "print(4)", gold, "--verifier", "code"])
        assert r.exit_code == 2 and says in r.output and "Traceback" not in r.output, r.output
    src = tmp_path / "pairs.jsonl"
    tests = json.dumps({"style": "stdio", "cases": [{"input": "", "output": "4"}]})
    src.write_text(json.dumps({"answer": "print(4)", "gold": tests, "verifier": "code"}) + "\n"
                   + json.dumps({"answer": "print(4)", "gold": "4", "verifier": "code"}) + "\n"
                   + json.dumps({"answer": "4", "gold": "4"}) + "\n")
    r = CliRunner().invoke(main, ["verify", "--pairs", str(src), "--out", str(tmp_path / "v.jsonl")])
    assert r.exit_code == 2 and "pairs.jsonl:2: field 'gold': code tests must be a JSON object" in r.output
    assert not (tmp_path / "v.jsonl").exists()
    src.write_text(json.dumps({"answer": "print(4)", "gold": tests, "verifier": "code"}) + "\n")
    r = CliRunner().invoke(main, ["verify", "--pairs", str(src)])
    assert r.exit_code == 0 and json.loads(r.output)["correct"] is True, r.output


def test_verify_help_names_the_code_verifier():
    r = CliRunner().invoke(main, ["verify", "--help"])
    assert "code" in r.output.split("--verifier", 1)[1].split("--json", 1)[0]


def test_a_bad_pairs_file_leaves_out_untouched(tmp_path):
    src, out = tmp_path / "pairs.jsonl", tmp_path / "verdicts.jsonl"
    src.write_text(json.dumps({"answer": "2", "gold": "2"}) + "\n" + '{"answer": "3", "gold": \n')
    out.write_text('{"id": 1, "correct": true}\n')  # last run's verdicts
    r = CliRunner().invoke(main, ["verify", "--pairs", str(src), "--out", str(out)])
    assert r.exit_code == 2 and "pairs.jsonl:2: corrupt JSON line" in r.output
    assert out.read_text() == '{"id": 1, "correct": true}\n'


def test_pairs_out_never_replaces_the_pairs_it_reads(tmp_path):
    src = tmp_path / "pairs.jsonl"
    src.write_text(json.dumps({"answer": "2", "gold": "2"}) + "\n")
    before = src.read_text()
    for out in (src, tmp_path / "." / "pairs.jsonl"):
        r = CliRunner().invoke(main, ["verify", "--pairs", str(src), "--out", str(out)])
        assert r.exit_code == 2 and "is the --pairs file; choose another path" in r.output, r.output
    assert src.read_text() == before  # the golds were replaced by the verdicts, exit 0


def test_a_pairs_line_that_is_not_utf8_is_named_by_its_number(tmp_path):
    src = tmp_path / "pairs.jsonl"
    src.write_bytes(json.dumps({"answer": "2", "gold": "2"}).encode() + b"\n" + b'{"answer": "caf\xe9", "gold": "x"}\n')
    r = CliRunner().invoke(main, ["verify", "--pairs", str(src)])
    assert r.exit_code == 2 and "pairs.jsonl:2: not UTF-8 text (byte 16 of the line" in r.output, r.output


def test_an_option_the_verifier_does_not_take_is_named_with_the_ones_it_takes(tmp_path):
    # it was Python's "MathOptions.__init__() got an unexpected keyword argument 'foo'"
    (tmp_path / "pairs.jsonl").write_text(json.dumps({"answer": "2", "gold": "2"}) + "\n")
    for args, where in ((["2", "2"], "--verifier math: "), (["--pairs", str(tmp_path / "pairs.jsonl")], "--option: ")):
        r = CliRunner().invoke(main, ["verify", *args, "--option", "foo=1"])
        assert r.exit_code == 2, r.output
        assert f"{where}the math verifier takes no option 'foo' (it takes: batch_deadline_s, boxed," in r.output
    from evalkit.errors import InputError
    from evalkit.rewards.server import check_verifier_options

    with pytest.raises(InputError, match="the choice verifier takes no option 'foo' \\(it takes: "):
        check_verifier_options("choice", {"foo": 1})


def test_pairs_that_are_a_device_say_so(tmp_path):
    r = CliRunner().invoke(main, ["verify", "--pairs", "/dev/null"])  # it said "file not found"
    assert r.exit_code == 2 and "/dev/null: not a regular file (a device or a pipe)" in r.output, r.output


def test_pairs_null_gold_and_odd_finish_reason_are_input_errors(tmp_path):
    src = tmp_path / "pairs.jsonl"
    src.write_text(json.dumps({"answer": "2", "gold": "2"}) + "\n" + json.dumps({"answer": "2", "gold": None}) + "\n")
    r = CliRunner().invoke(main, ["verify", "--pairs", str(src)])
    assert r.exit_code == 2 and "pairs.jsonl:2: field 'gold' is null" in r.output
    src.write_text(json.dumps({"completion": "\\boxed{2}", "gold": "2", "finish_reason": 1}) + "\n")
    r = CliRunner().invoke(main, ["verify", "--pairs", str(src)])
    assert r.exit_code == 2 and "pairs.jsonl:1: field 'finish_reason' must be a string" in r.output


def test_negative_pred_and_gold_are_answers_not_options():
    r = CliRunner().invoke(main, ["verify", "-5", "-5", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["correct"] is True
    r = CliRunner().invoke(main, ["verify", "-x^2", "-(x^2)", "--json"])
    assert r.exit_code == 0 and json.loads(r.output)["correct"] is True


def test_out_without_pairs_is_refused_not_ignored(tmp_path):
    r = CliRunner().invoke(main, ["verify", "5", "5", "--out", str(tmp_path / "v.jsonl")])
    assert r.exit_code == 2 and "--out writes the verdicts of --pairs FILE" in r.output
    assert not (tmp_path / "v.jsonl").exists()


def _refuses(**options):
    raise ValueError("threshold must be a number")


@pytest.mark.parametrize("verifier, says", [
    ("judge", "--verifier judge: the judge wraps a rule verifier: name it as e.g. math+judge"),
    ("math+judge", "--verifier math+judge: the judge needs model and base_url"),
    ("refuses", "--verifier refuses: threshold must be a number"),
    ("needs", "--verifier needs: "),  # its factory's TypeError, whatever Python words it as
    ("fortytwo", "--verifier fortytwo: 'int' object is not callable"),
])
def test_a_verifier_that_cannot_be_built_is_one_line_not_a_traceback(monkeypatch, tmp_path, verifier, says):
    # plugins as an entry point would register them: a factory that refuses, one that needs an
    # argument, and an entry point that names something that is not callable
    monkeypatch.setitem(VERIFIERS, "refuses", _refuses)
    monkeypatch.setitem(VERIFIERS, "needs", lambda threshold: None)
    monkeypatch.setitem(VERIFIERS, "fortytwo", 42)
    r = CliRunner().invoke(main, ["verify", "a", "b", "--verifier", verifier])
    assert r.exit_code == 2 and r.output.startswith(f"evalkit: error: {says}"), r.output
    assert r.output.count("\n") == 1 and "Traceback" not in r.output
    src = tmp_path / "pairs.jsonl"
    src.write_text(json.dumps({"answer": "2", "gold": "2"}) + "\n"
                   + json.dumps({"answer": "2", "gold": "2", "verifier": verifier}) + "\n")
    r = CliRunner().invoke(main, ["verify", "--pairs", str(src)])
    line = says.replace(f"--verifier {verifier}: ", f"pairs.jsonl:2: field 'verifier': {verifier}: ")
    assert r.exit_code == 2 and line in r.output and r.output.count("\n") == 1, r.output


def test_a_pairs_verifier_that_is_not_a_name_is_one_line(tmp_path):
    src = tmp_path / "pairs.jsonl"
    src.write_text(json.dumps({"answer": "2", "gold": "2", "verifier": ["math"]}) + "\n")
    r = CliRunner().invoke(main, ["verify", "--pairs", str(src)])
    assert r.exit_code == 2 and "pairs.jsonl:1: field 'verifier' must be a verifier name" in r.output, r.output


def test_pairs_out_never_writes_over_a_run_it_lands_in(tmp_path):
    # `--out RUN/samples.jsonl` replaced a run's 110 samples with one verdict line, exit 0
    run = tmp_path / "run"
    run.mkdir()
    (run / "samples.jsonl").write_text('{"task": "t"}\n')
    (run / "config.json").write_text("{}\n")
    src = tmp_path / "pairs.jsonl"
    src.write_text(json.dumps({"answer": "2", "gold": "2"}) + "\n")
    for name, what in (("samples.jsonl", "the run's samples"), ("index.html", "the run's report")):
        r = CliRunner().invoke(main, ["verify", "--pairs", str(src), "--out", str(run / name)])
        assert r.exit_code == 2 and f"is {what}; choose another path" in r.output, r.output
    assert (run / "samples.jsonl").read_text() == '{"task": "t"}\n' and not (run / "index.html").exists()
    r = CliRunner().invoke(main, ["verify", "--pairs", str(src), "--out", str(run / "verdicts.jsonl")])
    assert r.exit_code == 0, r.output  # a file of its own in the run's folder is fine


def test_a_nan_gold_is_no_gold_not_the_answer_nan(tmp_path):
    # json.dumps writes pandas' missing value as NaN; it was read as the answer "nan", and \boxed{nan} scored correct
    from evalkit.verifiers.math import verify_answer, verify_math

    assert verify_answer("nan", float("nan")).correct is None
    v = verify_math("<think>.</think> \\boxed{nan}", float("nan"))
    assert (v.correct, v.reason) == (None, "error")
    src = tmp_path / "pairs.jsonl"
    for gold in ("NaN", "[NaN]"):
        src.write_text('{"answer": "nan", "gold": %s}\n' % gold)
        r = CliRunner().invoke(main, ["verify", "--pairs", str(src)])
        assert r.exit_code == 2 and f"pairs.jsonl:1: field 'gold' holds no answer ({gold}), a missing value" in r.output, r.output
    import numpy as np

    assert verify_answer("nan", np.float32("nan")).correct is None


def test_an_empty_pairs_file_is_an_error_not_an_empty_verdict_file(tmp_path):
    src, out = tmp_path / "pairs.jsonl", tmp_path / "verdicts.jsonl"
    for text in ("", "\n\n"):
        src.write_text(text)
        r = CliRunner().invoke(main, ["verify", "--pairs", str(src), "--out", str(out)])
        assert r.exit_code == 2 and "pairs.jsonl: no lines to verify" in r.output, r.output
        assert not out.exists()


def test_a_json_line_cut_at_its_end_names_its_own_column(tmp_path):
    # the line was parsed with its newline: an error at its end was "at column 1" (of the next line)
    src = tmp_path / "pairs.jsonl"
    src.write_text('{"id": 1, "gold": "2", "answer": "2"}\n{"id": 2, "gold": "2", "answer": \n')
    r = CliRunner().invoke(main, ["verify", "--pairs", str(src)])
    assert r.exit_code == 2 and "pairs.jsonl:2: corrupt JSON line (Expecting value at column 34)" in r.output, r.output


@pytest.mark.parametrize("args, expected", [
    (["export", "math500", "--format", "trl", "--out", "x.jsonl", "--limit", "-1"],
     "evalkit: error: --limit: expected a whole number of at least 1, got -1"),
    (["judge", "doctor", "--judge", "m", "--judge-base-url", "http://127.0.0.1:9/v1", "--max-tokens", "0"],
     "evalkit: error: --max-tokens: expected a whole number of at least 1, got 0"),
    (["judge", "doctor", "--judge", "m", "--judge-base-url", "http://127.0.0.1:9/v1", "--judge-max-flips", "-1"],
     "evalkit: error: --judge-max-flips: expected a whole number of at least 0, got -1"),
    # click's own checks of a value were its usage block, four lines: one line, as the project's are
    (["export", "math500", "--format", "trl", "--out", "."],
     "evalkit: error: Invalid value for '--out': File '.' is a directory."),
    (["export", "math500", "--format", "csv", "--out", "x.jsonl"],
     "evalkit: error: Invalid value for '--format': 'csv' is not one of 'trl', 'verl'."),
    # JSON lines were written under the .csv name, which a CSV loader then misread
    (["export", "math500", "--format", "trl", "--out", "x.csv"],
     "evalkit: error: x.csv: evalkit writes JSON lines (.jsonl, .jsonl.gz) or parquet (.parquet), not .csv")])
def test_counts_out_of_range_are_refused_naming_the_option(tmp_path, monkeypatch, args, expected):
    # `export --limit -1` said "no problems to export"; `judge doctor --max-tokens 0` asked the judge anyway;
    # the counts the commands check themselves get the project's one line, not click's usage form
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 2 and expected in r.output, r.output
    assert "Usage:" not in r.output
    assert not (tmp_path / "x.jsonl").exists()


def test_a_completion_that_is_not_text_is_named_at_its_line_and_golds_that_are_no_answer_are_refused(tmp_path):
    # an int completion was read for its think markers first: a TypeError traceback, exit 1
    src = tmp_path / "pairs.jsonl"
    src.write_text(json.dumps({"completion": "\\boxed{1}", "gold": "1"}) + "\n"
                   + json.dumps({"completion": 5, "gold": "1"}) + "\n")
    r = CliRunner().invoke(main, ["verify", "--pairs", str(src)])
    assert r.exit_code == 2 and "pairs.jsonl:2: field 'completion' must be a string, got int" in r.output, r.output
    # an answer wrapped in an object is no math gold (it was compared as text: `wrong`, exit 0)
    src.write_text(json.dumps({"answer": "1", "gold": {"answer": "1"}}) + "\n")
    r = CliRunner().invoke(main, ["verify", "--pairs", str(src)])
    assert r.exit_code == 2 and "pairs.jsonl:1: field 'gold': gold {\"answer\": \"1\"} is an answer wrapped" in r.output, r.output
    # assert tests with no test code test nothing (an `error` verdict, exit 0, read as checked)
    r = CliRunner().invoke(main, ["verify", "def f(): return 1", '{"style": "assert", "entry_point": "f"}',
                                  "--verifier", "code"])
    assert r.exit_code == 2 and "the assert tests hold no test code ('code')" in r.output, r.output
    # tests found to test nothing only once run were an `error` verdict, exit 0: refused as the contract says,
    # one pair or a pairs line
    for code, says in (("x = 1", "the test code defines no tests"),
                       ("assert 1 == 1", "the test code ran to its end without calling add"),
                       ("import nosuchmodule\nassert add(1, 2) == 3", "No module named 'nosuchmodule'")):
        tests = {"style": "assert", "entry_point": "add", "code": code}
        r = CliRunner().invoke(main, ["verify", "def add(a, b): return a + b", json.dumps(tests), "--verifier", "code"])
        assert r.exit_code == 2 and says in r.output and "bad code tests" not in r.output, r.output
        src.write_text(json.dumps({"answer": "def add(a, b): return a + b", "gold": tests, "verifier": "code"}) + "\n")
        r = CliRunner().invoke(main, ["verify", "--pairs", str(src), "--out", str(tmp_path / "out.jsonl")])
        assert r.exit_code == 2 and "pairs.jsonl:1: field 'gold': " in r.output and says in r.output, r.output
        assert not (tmp_path / "out.jsonl").exists()
    # a prelude that fails is the tests' own setup failing (it blamed the sandbox, exit 0); a value no call can carry
    # was said to be no call at all
    for tests, says in (({"style": "call", "entry_point": "add", "cases": [{"input": [1, 2], "output": 3}],
                          "prelude": "import nosuchmodule"}, "the tests' prelude failed: ModuleNotFoundError"),
                        ({"style": "assert", "entry_point": "add", "code": "assert add(object(), 2) == 3"},
                         "test 1 of the test code cannot call the program: test passes a value that cannot cross")):
        r = CliRunner().invoke(main, ["verify", "def add(a, b): return a + b", json.dumps(tests), "--verifier", "code"])
        assert r.exit_code == 2 and says in r.output, r.output
    ok = {"style": "assert", "entry_point": "add", "code": "assert add(1, 2) == 3"}
    r = CliRunner().invoke(main, ["verify", "def add(a, b): return a + b", json.dumps(ok), "--verifier", "code"])
    assert r.exit_code == 0 and r.output.startswith("correct"), r.output


def test_json_messages_that_end_in_at_name_their_column_once(tmp_path):
    src = tmp_path / "pairs.jsonl"
    src.write_text('{"completion": "\\\\boxed{1}", "gold": "1}\n')
    r = CliRunner().invoke(main, ["verify", "--pairs", str(src)])
    assert r.exit_code == 2 and "pairs.jsonl:1: corrupt JSON line (Unterminated string starting at column 38)" \
        in r.output, r.output


def test_verifier_options_set_a_four_option_choice_as_a_task_spec_does(tmp_path):
    # without them verify read A-J: `Answer: E` on a four-option question was wrong:E, where a run says no answer
    run = lambda *args: CliRunner().invoke(main, ["verify", *args])
    assert run("Answer: E", "B", "--verifier", "choice").output.startswith("wrong: answer E")
    r = run("Answer: E", "B", "--verifier", "choice", "--option", "letters=ABCD")
    assert r.exit_code == 0 and r.output.startswith("no_answer"), r.output
    src = tmp_path / "pairs.jsonl"
    src.write_text(json.dumps({"id": "a", "answer": "Answer: E", "gold": "B"}) + "\n"
                   + json.dumps({"id": "b", "answer": "4", "gold": "4", "verifier": "math"}) + "\n")
    r = run("--pairs", str(src), "--verifier", "choice", "--option", "letters=ABCD")
    a, b = [json.loads(line) for line in r.output.splitlines()]
    assert (a["reason"], b["correct"]) == ("no_answer", True), r.output  # math's line gets its own defaults
    for bad, says in ((["--option", "letters"], "expected KEY=VALUE"), (["--option", "letters=abcd"], "letters"),
                      (["--option", "colour=red"], "colour")):
        r = run("Answer: B", "B", "--verifier", "choice", *bad)
        assert r.exit_code == 2 and says in r.output, r.output
    # with --pairs, options are the option's fault, never a line's; options no line uses are refused, not ignored
    r = run("--pairs", str(src), "--verifier", "choice", "--option", "colour=red")
    assert r.exit_code == 2 and "--option: the choice verifier takes no option 'colour'" in r.output, r.output
    only_math = tmp_path / "math.jsonl"
    only_math.write_text(json.dumps({"id": "b", "answer": "4", "gold": "4", "verifier": "math"}) + "\n")
    r = run("--pairs", str(only_math), "--verifier", "choice", "--option", "letters=ABCD")
    assert r.exit_code == 2 and "every line of" in r.output and "names another verifier" in r.output, r.output
    # a number in E notation without a point is a number (YAML 1.1 read `1e-3` as text)
    code_gold = json.dumps({"style": "stdio", "cases": [{"input": "", "output": "1.0"}]})
    r = run("print(1.0005)", code_gold, "--verifier", "code", "--option", "rel_tol=1e-3")
    assert r.exit_code == 0 and r.output.startswith("correct"), r.output
