"""Plugins that misbehave: a verifier that raises, hangs, or returns what is not one Verdict per item
leaves its samples unjudged and the run goes on (the Verdict contract: it never raises); a plugin
that fails as it starts, checks its environment or generates is one line naming it (exit 2), never
a traceback; a plugin that takes a built-in's name is ignored with a warning, not silently. Each
plugin is a real distribution on the path of the `evalkit` process, as `pip install` leaves it."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from _plugin_dist import python_with, write_distribution

PLUGINS = textwrap.dedent('''
    import time
    from evalkit.types import Completion, Verdict

    class Base:
        name = "base"
        def __init__(self, **options):
            pass
        def verify_many(self, items):
            return [Verdict(False, 0.0, (item.completion or "")[-1:], "wrong") for item in items]

    class Raises(Base):
        name = "raises"
        def verify_many(self, items):
            raise RuntimeError("the units service is down")

    class Short(Base):
        name = "short"
        def verify_many(self, items):
            return []

    class Dicts(Base):
        name = "dicts"
        def verify_many(self, items):
            return [{"correct": True} for _ in items]

    class Yes(Base):
        name = "saysyes"
        def verify_many(self, items):
            return [Verdict("yes", 1.0, "x", "correct") for _ in items]

    class Hangs(Base):
        name = "hangs"
        def verify_many(self, items):
            with open("hangs.calls", "a") as f:  # in the test's folder: how often the run waited on it
                f.write("called\\n")
            time.sleep(3600)

    class Flaky(Base):
        name = "flaky"
        def verify_many(self, items):
            import os
            if os.path.exists("down"):
                raise RuntimeError("the units service is down")
            return [Verdict(item.completion[-1:] == item.gold, 1.0, item.completion[-1:], "correct"
                            if item.completion[-1:] == item.gold else "wrong") for item in items]

    class Stalls(Flaky):
        name = "stalls"
        def verify_many(self, items):
            import os
            if os.path.exists("stall"):  # says it has the batch, then never returns
                open("verifying", "w").close()
                time.sleep(3600)
            return super().verify_many(items)

    class FractionAnswer(Base):
        name = "fraction"
        def verify_many(self, items):
            from fractions import Fraction
            return [Verdict(True, 1.0, Fraction(1, 2), "correct") for _ in items]

    class ScoreNan(Base):
        name = "scorenan"
        def verify_many(self, items):
            return [Verdict(True, float("nan"), "1", "correct") for _ in items]

    class Exits(Base):
        name = "exits"
        def verify_many(self, items):
            raise SystemExit(3)

    class CheckExits(Base):
        name = "checkexits"
        def check(self, require_layers=()):
            raise SystemExit("no licence server")

    class Prints(Base):
        name = "prints"
        def verify_many(self, items):
            print("PLUGIN NOISE ON STDOUT")
            return super().verify_many(items)

    class GoldExits(Base):
        name = "goldexits"
        def check_gold(self, gold):
            raise SystemExit(f"{gold!r} is no distance")

    class Interrupts(Base):
        name = "interrupts"
        def verify_many(self, items):
            raise KeyboardInterrupt

    class AlarmDeclared(Base):
        name = "alarmdeclared"
        from evalkit.verifiers.base import Capabilities
        capabilities = Capabilities(limits=frozenset({"batch_deadline_s"}))  # and keeps it with SIGALRM
        def verify_many(self, items):
            import signal
            signal.signal(signal.SIGALRM, lambda *_: None)  # only the main thread may
            signal.alarm(60)
            try:
                return super().verify_many(items)
            finally:
                signal.alarm(0)

    class CloseFailsV(Base):
        name = "closefailsv"
        def close(self):
            raise RuntimeError("the units service did not log out")

    class MovesDir(Base):
        name = "movesdir"
        def verify_many(self, items):
            import os
            os.makedirs("tooldir", exist_ok=True)
            os.chdir("tooldir")  # runs its tool there, and stays
            return super().verify_many(items)

    class EqExits(Base):
        name = "eqexits"
        def equivalent(self, a, b):
            raise SystemExit(1)

    class EqHangs(Base):
        name = "eqhangs"
        def equivalent(self, a, b):
            time.sleep(3600)

    class BadEquivalence(Base):
        name = "badeq"
        def equivalent(self, a, b):
            raise ValueError("cannot compare")

    class CannotStart(Base):
        def __init__(self, **options):
            raise RuntimeError("no licence key")

    class BuggyInit(Base):
        name = "buggyinit"
        def __init__(self):
            self.table = dict.fromkeys(None)  # the plugin's own bug, not an option the spec gave

    NOT_A_FACTORY = "units"

    class CheckFails(Base):
        name = "checkfails"
        def check(self, require_layers=()):
            raise RuntimeError("the units table is missing")

    class Math(Base):
        name = "math"
        def verify_many(self, items):
            return [Verdict(True, 1.0, "plugin", "correct") for _ in items]

    class Echo:
        name = "echo"
        def __init__(self, model):
            self.model = model
        def render(self, messages, think_prefill, chat_template_kwargs):
            return messages[-1]["content"], "", False
        def generate(self, requests):
            for req in requests:
                yield req, Completion(text="<think>x</think> 1", finish_reason="stop", model=self.model)
        def close(self):
            pass

    class WontStart(Echo):
        def __init__(self, model):
            raise RuntimeError("cannot reach the inference service")

    class RenderFails(Echo):
        def render(self, messages, think_prefill, chat_template_kwargs):
            raise RuntimeError("no chat template")

    class GoesAway(Echo):
        def generate(self, requests):
            for i, req in enumerate(requests):
                if i == 1:
                    raise ConnectionError("the service went away")
                yield req, Completion(text="<think>x</think> 1", finish_reason="stop", model=self.model)

    class YieldsText(Echo):
        def generate(self, requests):
            for req in requests:
                yield req, "<think>x</think> 1"

    class Repeats(Echo):
        name = "repeats"
        def generate(self, requests):
            for req in requests:
                yield requests[0], Completion(text="<think>x</think> 1", finish_reason="stop", model=self.model)

    class Strays(Echo):
        name = "strays"
        def generate(self, requests):
            from dataclasses import replace
            yield requests[0], Completion(text="<think>x</think> 1", finish_reason="stop", model=self.model)
            yield replace(requests[1], problem_id="z"), Completion(text="1", finish_reason="stop", model=self.model)

    class Fewer(Echo):
        name = "fewer"
        def generate(self, requests):
            yield requests[0], Completion(text="<think>x</think> 1", finish_reason="stop", model=self.model)

    class OwnModel(Echo):
        name = "ownmodel"
        def __init__(self):  # serves one model of its own: no `model` parameter
            self.model = "fixed"

    class ExitsMid(Echo):
        name = "exitsmid"
        def generate(self, requests):
            yield requests[0], Completion(text="<think>x</think> 1", finish_reason="stop", model=self.model)
            raise SystemExit(5)

    class RenderExits(Echo):
        name = "renderexits"
        def render(self, messages, think_prefill, chat_template_kwargs):
            raise SystemExit("no chat template")

    class CloseExits(Echo):
        name = "closeexits"
        def close(self):
            raise SystemExit(7)

    class CloseFails(Echo):
        name = "closefails"
        def close(self):
            raise RuntimeError("the session did not end")

    class NoneText(Echo):
        name = "nonetext"
        def generate(self, requests):
            for req in requests:
                yield req, Completion(text=None, finish_reason="stop", model=self.model)

    class OddFinish(Echo):
        name = "oddfinish"
        def generate(self, requests):
            for req in requests:
                yield req, Completion(text="<think>x</think> 1", finish_reason=7, model=self.model)

    class NoName:
        def __init__(self, model):
            self.model = model
        def render(self, messages, think_prefill, chat_template_kwargs):
            return messages[-1]["content"], "", False
        def generate(self, requests):
            raise ConnectionError("the inference service refused the API key")
            yield
        def close(self):
            pass

    class OddTokens(Echo):
        name = "oddtokens"
        def generate(self, requests):
            from decimal import Decimal
            for req in requests:
                yield req, Completion(text="<think>x</think> 1", finish_reason="stop", model=self.model,
                                      prompt_tokens=Decimal(5))
''')

ENTRY_POINTS = """[evalkit.verifiers]
raises = faulty:Raises
short = faulty:Short
dicts = faulty:Dicts
saysyes = faulty:Yes
hangs = faulty:Hangs
badeq = faulty:BadEquivalence
eqhangs = faulty:EqHangs
interrupts = faulty:Interrupts
checkexits = faulty:CheckExits
goldexits = faulty:GoldExits
prints = faulty:Prints
alarmdeclared = faulty:AlarmDeclared
closefailsv = faulty:CloseFailsV
movesdir = faulty:MovesDir
eqexits = faulty:EqExits
flaky = faulty:Flaky
stalls = faulty:Stalls
fraction = faulty:FractionAnswer
scorenan = faulty:ScoreNan
exits = faulty:Exits
cannotstart = faulty:CannotStart
checkfails = faulty:CheckFails
buggyinit = faulty:BuggyInit
notafactory = faulty:NOT_A_FACTORY
math = faulty:Math
[evalkit.backends]
echo = faulty:Echo
wontstart = faulty:WontStart
renderfails = faulty:RenderFails
goesaway = faulty:GoesAway
yieldstext = faulty:YieldsText
repeats = faulty:Repeats
strays = faulty:Strays
fewer = faulty:Fewer
closefails = faulty:CloseFails
exitsmid = faulty:ExitsMid
ownmodel = faulty:OwnModel
renderexits = faulty:RenderExits
closeexits = faulty:CloseExits
oddtokens = faulty:OddTokens
nonetext = faulty:NoneText
oddfinish = faulty:OddFinish
noname = faulty:NoName
vllm = faulty:Echo
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    return write_distribution(tmp_path_factory.mktemp("site"), "faulty", PLUGINS, "faulty-plugins", ENTRY_POINTS)


def spec(tmp_path: Path, verifier: str) -> Path:
    golds = ("A", "B") if verifier == "choice" else ("1", "2")  # golds the verifier reads: a run checks them first
    (tmp_path / "d.jsonl").write_text(json.dumps({"id": "a", "q": "one?", "a": golds[0]}) + "\n"
                                      + json.dumps({"id": "b", "q": "two?", "a": golds[1]}) + "\n")
    path = tmp_path / f"{verifier}.yaml"
    path.write_text(f"name: t\ndataset: {{local: d.jsonl}}\nfields: {{id: id, problem: q, answer: a}}\n"
                    f"prompt: '{{{{ q }}}}'\nverifier: {verifier}\n")
    return path


def replay(tmp_path: Path, texts: dict[tuple[str, int], str]) -> Path:
    path = tmp_path / "c.jsonl"
    path.write_text("".join(json.dumps({"problem_id": pid, "sample": i, "completion": t}) + "\n"
                            for (pid, i), t in texts.items()))
    return path


def evalkit(site: Path, args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return python_with(site, ["-m", "evalkit", *args], cwd)


def samples(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("verifier, says", [
    ("raises", "the raises verifier failed: RuntimeError: the units service is down"),
    ("short", "the short verifier returned 0 results for 2 items"),
    ("dicts", "the dicts verifier returned a dict where a Verdict belongs"),
    ("saysyes", "the saysyes verifier returned a Verdict with correct='yes' (expected True, False or None)"),
    ("fraction", "the fraction verifier returned a Verdict with answer=Fraction(1, 2) (expected a string or None)"),
    ("scorenan", "the scorenan verifier returned a Verdict with score=nan (expected a finite number)"),
    ("exits", "the exits verifier failed: SystemExit: 3"),
    # a KeyboardInterrupt of its own was taken for the user's Ctrl-C: exit 130, every rerun stopped the same way
    ("interrupts", "the interrupts verifier failed: RuntimeError: KeyboardInterrupt"),
])
def test_a_verifier_that_breaks_its_contract_leaves_its_samples_unjudged(site, tmp_path, verifier, says):
    completions = replay(tmp_path, {("a", 0): "<think>x</think> 1", ("b", 0): "<think>x</think> 3"})
    r = evalkit(site, ["run", str(spec(tmp_path, verifier)), "--completions", str(completions), "--no-progress",
                       "--out", "run"], tmp_path)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert [(s["correct"], s["reason"], s["detail"]) for s in samples(tmp_path / "run")] == [(None, "error", says)] * 2
    [result] = json.loads((tmp_path / "run" / "results.json").read_text())["results"]
    assert result["n_unjudged"] == 2

    verified = evalkit(site, ["verify", "1", "1", "--verifier", verifier, "--json"], tmp_path)
    # no verdict is no checked answer: exit 1 (it was 0, as for a right or wrong one), the verdict still printed
    assert verified.returncode == 1 and "Traceback" not in verified.stderr, verified.stderr
    assert json.loads(verified.stdout)["correct"] is None


@pytest.mark.parametrize("field, verdict, says", [
    ("score", dict(score="1"), "score='1' (expected a finite number)"),
    ("detail", dict(detail=None), "detail=None (expected a string)"),
    ("ms", dict(ms=float("inf")), "ms=inf (expected a finite number)"),
    ("score", dict(score=10 ** 400), "(expected a finite number)"),  # an OverflowError traceback lost the batch
    # a verdict at odds with itself counted as right: avg@n 100% with every reason `wrong`
    ("correct", dict(reason="wrong"), "and reason='wrong' (reason 'correct' goes with correct True, and only with it)"),
    ("correct", dict(correct=False), "and reason='correct' (reason 'correct' goes with correct True, and only with "
                                     "it)"),
    ("tests", dict(tests=({"passed": True, "reason": "passed"},)), "(expected None or TestResults)"),
    ("judge", dict(judge={"model": "m"}), "judge={'model': 'm'} (expected None or a JudgeRecord of JSON values)"),
])
def test_every_field_of_a_verdict_is_held_to_the_contract(field, verdict, says):
    from evalkit.types import Verdict
    from evalkit.verifiers.base import VerifyItem, verify_checked

    class Odd:
        name = "odd"

        def verify_many(self, items):
            return [Verdict(**{"correct": True, "score": 1.0, "answer": "1", "reason": "correct", **verdict})
                    for _ in items]

    [v] = verify_checked(Odd(), [VerifyItem("1", "1")])
    assert (v.correct, v.reason) == (None, "error")
    assert v.detail.startswith(f"the odd verifier returned a Verdict with {field}=") and v.detail.endswith(says), v


def test_a_verifier_that_bounds_its_own_batch_is_called_where_its_alarm_works(site, tmp_path):
    # one that declares batch_deadline_s keeps it itself, as math-verify does, with SIGALRM: on a thread of
    # evalkit's its signal.signal raised, and every sample was unjudged
    completions = replay(tmp_path, {("a", 0): "<think>x</think> 1", ("b", 0): "<think>x</think> 3"})
    r = evalkit(site, ["run", str(spec(tmp_path, "alarmdeclared")), "--completions", str(completions),
                       "--no-progress", "--out", "run"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert [s["reason"] for s in samples(tmp_path / "run")] == ["wrong", "wrong"]
    verified = evalkit(site, ["verify", "1", "1", "--verifier", "alarmdeclared", "--json"], tmp_path)
    assert json.loads(verified.stdout)["reason"] == "wrong", verified.stderr


@pytest.mark.parametrize("verifier", ["hangs"])
def test_a_verifier_that_hangs_does_not_hang_the_run(site, tmp_path, verifier):
    completions = replay(tmp_path, {("a", 0): "<think>x</think> 1", ("b", 0): "<think>x</think> 3"})
    code = ("import sys, evalkit.verifiers.base as base; base.VERIFY_S = (2.0, 0.0); sys.argv[0] = 'evalkit'; "
            "from evalkit.cli import main; main()")
    r = python_with(site, ["-c", code, "run", str(spec(tmp_path, verifier)), "--completions", str(completions),
                           "--no-progress", "--out", "run"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert {(s["correct"], s["detail"]) for s in samples(tmp_path / "run")} == {
        (None, f"the {verifier} verifier did not return within 2 s")}
    assert (tmp_path / "run" / "results.json").is_file()
    # waited on once: the trace's candidate answers are not checked with its other instance, to hang as long again
    assert (tmp_path / "hangs.calls").read_text().count("called") == 1


@pytest.mark.parametrize("how", ["pred", "pairs"])
def test_evalkit_verify_holds_a_verifier_that_hangs_to_the_runs_deadline(site, tmp_path, how):
    (tmp_path / "pairs.jsonl").write_text(json.dumps({"answer": "x", "gold": "1", "verifier": "hangs"}) + "\n")
    args = ["x", "1", "--verifier", "hangs", "--json"] if how == "pred" else ["--pairs", str(tmp_path / "pairs.jsonl")]
    code = ("import sys, evalkit.verifiers.base as base; base.VERIFY_S = (2.0, 0.0); sys.argv[0] = 'evalkit'; "
            "from evalkit.cli import main; main()")
    r = python_with(site, ["-c", code, "verify", *args], tmp_path)  # the verifier sleeps an hour
    assert r.returncode == (1 if how == "pred" else 0), r.stderr  # --pairs writes every line's verdict
    verdict = json.loads(r.stdout.strip().splitlines()[-1])
    assert (verdict["correct"], verdict["detail"]) == (None, "the hangs verifier did not return within 2 s")


def test_a_rerun_checks_again_what_a_verifier_fault_left_unjudged(site, tmp_path):
    completions = replay(tmp_path, {("a", 0): "<think>x</think> 1", ("b", 0): "<think>x</think> 3",
                                    ("b", 1): "<think>x</think> 2"})
    args = ["run", str(spec(tmp_path, "flaky")), "--completions", str(completions), "--no-progress", "--out", "run"]
    (tmp_path / "down").write_text("")
    first = evalkit(site, args, tmp_path)
    assert first.returncode == 0, first.stderr
    assert [s["correct"] for s in samples(tmp_path / "run")] == [None] * 3
    before = (tmp_path / "run" / "samples.jsonl").read_bytes()

    still = evalkit(site, args, tmp_path)  # the service is still down: nothing changes, and the user is told
    assert "checked again 3 samples whose verifier or judge had failed: 0 are judged now, 3 failed again" in still.stderr
    assert (tmp_path / "run" / "samples.jsonl").read_bytes() == before

    # samples.jsonl kept elsewhere behind a link, beside the temporary file of a rewrite that was killed
    kept = tmp_path / "kept" / "samples.jsonl"
    kept.parent.mkdir()
    (tmp_path / "run" / "samples.jsonl").rename(kept)
    (tmp_path / "run" / "samples.jsonl").symlink_to(kept)
    (tmp_path / "kept" / "samples.jsonl.tmp").write_text('{"half a')
    (tmp_path / "down").unlink()
    again = evalkit(site, args, tmp_path)
    assert again.returncode == 0, again.stderr
    assert "checked again 3 samples whose verifier or judge had failed: 3 are judged now" in again.stderr
    assert (tmp_path / "run" / "samples.jsonl").is_symlink()
    assert sorted(p.name for p in kept.parent.iterdir()) == ["samples.jsonl"]
    after = samples(tmp_path / "run")
    assert [(s["problem_id"], s["sample"], s["correct"], s["reason"]) for s in after] == [
        ("a", 0, True, "correct"), ("b", 0, False, "wrong"), ("b", 1, True, "correct")]
    assert all(s["trace"] is not None and s["trace"]["final_correct"] == s["correct"] for s in after)
    [result] = json.loads((tmp_path / "run" / "results.json").read_text())["results"]
    assert (result["n_unjudged"], result["metrics"]["avg@n"]["value"]) == (0, 0.75)
    quiet = evalkit(site, args, tmp_path)  # nothing left to check: nothing said
    assert "checked again" not in quiet.stderr


def test_a_run_stopped_before_it_verified_what_came_back_keeps_it_for_the_rerun(site, tmp_path):
    # SIGTERM while the verifier holds the batch: the completions are written unjudged, not dropped, and the
    # rerun verifies them without asking for them again
    completions = replay(tmp_path, {("a", 0): "<think>x</think> 1", ("b", 0): "<think>x</think> 3",
                                    ("b", 1): "<think>x</think> 2"})
    args = ["run", str(spec(tmp_path, "stalls")), "--completions", str(completions), "--no-progress", "--out", "run"]
    (tmp_path / "stall").write_text("")
    env = {**os.environ, "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-m", "evalkit", *args], cwd=tmp_path, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / "verifying").exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert (tmp_path / "verifying").exists(), proc.communicate(timeout=5)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 143, err
    assert "evalkit: stopped by SIGTERM; what was finished is saved" in err
    stopped = samples(tmp_path / "run")
    assert sorted((s["problem_id"], s["sample"], s["completion"]) for s in stopped) == [
        ("a", 0, "<think>x</think> 1"), ("b", 0, "<think>x</think> 3"), ("b", 1, "<think>x</think> 2")]
    assert {(s["correct"], s["reason"]) for s in stopped} == {(None, "error")}
    assert all("stopped before this sample was verified" in s["detail"] for s in stopped)

    (tmp_path / "stall").unlink()
    again = evalkit(site, args, tmp_path)
    assert again.returncode == 0, again.stderr
    assert "checked again 3 samples whose verifier or judge had failed: 3 are judged now" in again.stderr
    assert sorted((s["problem_id"], s["sample"], s["correct"]) for s in samples(tmp_path / "run")) == [
        ("a", 0, True), ("b", 0, False), ("b", 1, True)]
    [result] = json.loads((tmp_path / "run" / "results.json").read_text())["results"]
    assert (result["n_unjudged"], result["metrics"]["avg@n"]["value"]) == (0, 0.75)


def test_an_equivalence_that_raises_groups_by_text(site, tmp_path):
    completions = replay(tmp_path, {("a", 0): "<think>x</think> 5", ("a", 1): "<think>x</think> 7",
                                    ("b", 0): "<think>x</think> 5", ("b", 1): "<think>x</think> 5"})
    r = evalkit(site, ["run", str(spec(tmp_path, "badeq")), "--completions", str(completions), "--no-progress",
                       "--out", "run"], tmp_path)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert "the badeq verifier's equivalent() failed (ValueError: cannot compare)" in r.stderr
    [result] = json.loads((tmp_path / "run" / "results.json").read_text())["results"]
    assert result["metrics"]["maj@2"]["value"] == 0.0


def test_an_equivalence_that_exits_is_a_failed_comparison_not_a_wait(site, tmp_path):
    # SystemExit ended the thread that compares: every later comparison waited its whole 30 s, and said nothing
    completions = replay(tmp_path, {("a", 0): "<think>x</think> 5", ("a", 1): "<think>x</think> 7",
                                    ("a", 2): "<think>x</think> 8", ("b", 0): "<think>x</think> 5"})
    code = ("import sys, evalkit.verifiers.base as base; base.EQUIVALENT_S = 60.0; sys.argv[0] = 'evalkit'; "
            "from evalkit.cli import main; main()")
    r = python_with(site, ["-c", code, "run", str(spec(tmp_path, "eqexits")), "--completions", str(completions),
                           "--no-progress", "--out", "run"], tmp_path)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert "the eqexits verifier's equivalent() failed (RuntimeError: SystemExit: 1)" in r.stderr, r.stderr
    assert "did not return" not in r.stderr
    [result] = json.loads((tmp_path / "run" / "results.json").read_text())["results"]
    assert result["metrics"]["maj@3"]["value"] == 0.0


@pytest.mark.parametrize("verifier, says", [
    ("closefailsv", "evalkit: warning: the closefailsv verifier's close() failed (RuntimeError: the units service "
                    "did not log out)"),
    ("movesdir", "evalkit: warning: the movesdir verifier changed the working directory: changed back to "),
])
def test_a_verifier_that_fails_to_close_or_moves_the_directory_still_gets_its_results(site, tmp_path, verifier, says):
    # a close() that raised was a traceback after every sample was verified; a chdir put results.json and the
    # report under the plugin's folder, or nowhere ("run/results.json: No such file or directory", exit 2)
    completions = replay(tmp_path, {("a", 0): "<think>x</think> 1", ("b", 0): "<think>x</think> 3"})
    r = evalkit(site, ["run", str(spec(tmp_path, verifier)), "--completions", str(completions), "--no-progress",
                       "--out", "run"], tmp_path)
    assert r.returncode == 0 and "Traceback" not in r.stderr and says in r.stderr, r.stderr
    assert (tmp_path / "run" / "results.json").is_file() and (tmp_path / "run" / "index.html").is_file()
    assert [s["reason"] for s in samples(tmp_path / "run")] == ["wrong", "wrong"]


def test_an_equivalence_that_hangs_does_not_hang_the_results(site, tmp_path):
    # two models' samples: the verifier that hung for the first is not waited for again for the second
    texts = {("a", 0): "5", ("a", 1): "7", ("a", 2): "7", ("b", 0): "5", ("b", 1): "2"}
    completions = tmp_path / "c.jsonl"
    completions.write_text("".join(json.dumps({"problem_id": pid, "sample": i, "model": model,
                                               "completion": f"<think>x</think> {t}"}) + "\n"
                                   for model in ("m1", "m2") for (pid, i), t in texts.items()))
    code = ("import sys, evalkit.verifiers.base as base; base.EQUIVALENT_S = 1.0; sys.argv[0] = 'evalkit'; "
            "from evalkit.cli import main; main()")
    r = python_with(site, ["-c", code, "run", str(spec(tmp_path, "eqhangs")), "--completions", str(completions),
                           "--no-progress", "--out", "run"], tmp_path)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.count("the eqhangs verifier's equivalent() did not return within 1 s; maj@k groups the answers "
                          "it has not compared by their text") == 1, r.stderr
    results = json.loads((tmp_path / "run" / "results.json").read_text())["results"]
    assert [r["model"] for r in results] == ["m1", "m2"] and all("maj@2" in r["metrics"] for r in results)


REWARDS = """
import json, sys, time
from evalkit.rewards import Limits, verdicts
start = time.monotonic()
found = verdicts(sys.argv[1], ["<think>x</think> 1", "<think>x</think> 2"], ["1", "1"], limits=Limits(1.0, 2.0))
print(json.dumps({"verdicts": [[v.correct, v.reason, v.detail] for v in found], "s": time.monotonic() - start}))
"""


@pytest.mark.parametrize("verifier, says", [
    ("hangs", r"the hangs verifier did not return within [23](\.\d)? s"),
    ("saysyes", re.escape("the saysyes verifier returned a Verdict with correct='yes' (expected True, False or None)")),
    ("raises", "the raises verifier failed: RuntimeError: the units service is down"),
])
def test_a_faulty_verifier_leaves_rewards_unjudged_and_returns(site, tmp_path, verifier, says):
    # the rewards path (TRL, veRL, OpenRLHF, the reward server) holds plugins to the contract too
    r = python_with(site, ["-c", REWARDS, verifier], tmp_path)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    out = json.loads(r.stdout)
    assert [(c, reason) for c, reason, _ in out["verdicts"]] == [(None, "error")] * 2
    assert all(re.fullmatch(says, detail) for _, _, detail in out["verdicts"]), out
    assert out["s"] < 60  # the hanging one is left behind (it sleeps an hour)


@pytest.mark.parametrize("verifier, says", [
    ("cannotstart", "field 'verifier': plugin (faulty:CannotStart) verifier 'cannotstart' could not be built: "
                    "RuntimeError: no licence key"),
    ("checkfails", "the checkfails verifier's environment check failed: RuntimeError: the units table is missing"),
    # a sys.exit in a plugin's hook was the process's exit status, its text alone on stderr
    ("checkexits", "the checkexits verifier's environment check failed: SystemExit: no licence server"),
    # a TypeError of its own, with no options given, was blamed on the spec's (absent) verifier_options
    ("buggyinit", "field 'verifier': the buggyinit verifier could not be built: TypeError: 'NoneType' object is "
                  "not iterable"),
    ("notafactory", "field 'verifier': the notafactory verifier could not be built: TypeError: 'str' object is not "
                    "callable"),
])
def test_a_verifier_that_cannot_start_is_one_line_naming_it(site, tmp_path, verifier, says):
    completions = replay(tmp_path, {("a", 0): "1"})
    r = evalkit(site, ["run", str(spec(tmp_path, verifier)), "--completions", str(completions), "--no-progress",
                       "--out", "run"], tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr and says in r.stderr, r.stderr
    assert not (tmp_path / "run" / "samples.jsonl").exists()


def test_a_plugin_cannot_take_a_built_ins_name_silently(site, tmp_path):
    completions = replay(tmp_path, {("a", 0): "<think>x</think> 1", ("b", 0): "<think>x</think> 3"})
    r = evalkit(site, ["run", str(spec(tmp_path, "math")), "--completions", str(completions), "--no-progress",
                       "--out", "run"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert [s["correct"] for s in samples(tmp_path / "run")] == [True, False]  # the built-in math verifier
    assert ("evalkit.verifiers entry point math = faulty:Math (distribution faulty-plugins) is ignored: the verifier "
            "name 'math' is built in") in r.stderr
    assert "evalkit.backends entry point vllm = faulty:Echo (distribution faulty-plugins) is ignored" in r.stderr


def test_two_plugins_with_one_name_are_not_resolved_silently(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    for module in ("first", "second"):
        write_distribution(site, module, "class V:\n    name = 'units'\n", f"{module}-units",
                           f"[evalkit.verifiers]\nunits = {module}:V\n")
    code = "from evalkit.verifiers.base import verifier_names; print(verifier_names())"
    r = python_with(site, ["-c", code], tmp_path)
    assert r.returncode == 0 and "'units'" in r.stdout, r.stderr
    assert r.stderr.count("entry point units = ") == 1, r.stderr
    assert "is ignored: the verifier name 'units' is taken by" in r.stderr


def test_a_plugin_that_exits_as_it_imports_is_one_line_naming_it(tmp_path):
    # sys.exit(0) at import ended `evalkit run` and `verify` with exit 0, nothing printed and nothing run
    site = tmp_path / "site"
    site.mkdir()
    write_distribution(site, "quitter", "import sys\nsys.exit(0)\n", "quitter-plugins",
                       "[evalkit.verifiers]\nquits = quitter:V\n[evalkit.backends]\nquits = quitter:B\n")
    completions = replay(tmp_path, {("a", 0): "1"})
    says = "plugin (quitter:{}) {} 'quits' could not be loaded: SystemExit: 0"
    for args, what in [(["run", str(spec(tmp_path, "quits")), "--completions", str(completions)], ("V", "verifier")),
                       (["verify", "1", "1", "--verifier", "quits"], ("V", "verifier")),
                       (["run", str(spec(tmp_path, "choice")), "--backend", "quits", "--model", "m"], ("B", "backend"))]:
        r = evalkit(site, [*args, "--no-progress", "--out", "run"] if args[0] == "run" else args, tmp_path)
        assert r.returncode == 2 and "Traceback" not in r.stderr and says.format(*what) in r.stderr, (args, r.stderr)
        assert not (tmp_path / "run" / "samples.jsonl").exists()


def test_a_plugin_that_exits_as_it_is_built_is_one_line_naming_it(tmp_path):
    # sys.exit in a plugin's constructor ended `evalkit run` with that code, nothing said and nothing run
    site = tmp_path / "site"
    site.mkdir()
    write_distribution(site, "builder", "import sys\nclass V:\n    def __init__(self, **o):\n        sys.exit(0)\n"
                       "class B:\n    def __init__(self, **o):\n        sys.exit(0)\n", "builder-plugins",
                       "[evalkit.verifiers]\nquits = builder:V\n[evalkit.backends]\nquits = builder:B\n")
    completions = replay(tmp_path, {("a", 0): "1"})
    for args, says in [(["run", str(spec(tmp_path, "quits")), "--completions", str(completions)],
                        "plugin (builder:V) verifier 'quits' could not be built: SystemExit: 0"),
                       (["verify", "1", "1", "--verifier", "quits"],
                        "plugin (builder:V) verifier 'quits' could not be built: SystemExit: 0"),
                       (["run", str(spec(tmp_path, "choice")), "--backend", "quits", "--model", "m"],
                        "plugin (builder:B) backend 'quits' could not start: SystemExit: 0")]:
        r = evalkit(site, [*args, "--no-progress", "--out", "run"] if args[0] == "run" else args, tmp_path)
        assert r.returncode == 2 and "Traceback" not in r.stderr and says in r.stderr, (args, r.stderr)
        assert not (tmp_path / "run" / "samples.jsonl").exists()


@pytest.mark.parametrize("backend, says, saved", [
    ("wontstart", "plugin (faulty:WontStart) backend 'wontstart' could not start: RuntimeError: cannot reach the "
                  "inference service", 0),
    ("renderfails", "the echo backend could not render the prompt of t problem 'a': RuntimeError: no chat template", 0),
    ("goesaway", "the echo backend failed: ConnectionError: the service went away (1 samples of this invocation "
                 "are saved; rerun to resume)", 1),
    ("yieldstext", "the echo backend's generate yielded (Request, str); expected (Request, Completion) pairs", 0),
    ("repeats", "the repeats backend's generate yielded a completion for t problem 'a' sample 0, which it had "
                "answered already (1 samples of this invocation are saved; rerun to resume)", 1),
    ("strays", "the strays backend's generate yielded a completion for t problem 'z' sample 0, which was not asked "
               "(1 samples of this invocation are saved; rerun to resume)", 1),
    ("fewer", "the fewer backend's generate ended with 1 of 2 requests unanswered (1 samples of this invocation "
              "are saved; rerun to resume)", 1),
    # text None was saved as the model's empty answer, scored no_answer against the model
    ("nonetext", "the nonetext backend's generate yielded, for t problem 'a' sample 0, a Completion with text=None "
                 "(expected a string)", 0),
    ("oddfinish", "a Completion with finish_reason=7 (expected a string or None)", 0),
    # a backend without a `name` hid its own error behind an AttributeError traceback
    ("noname", "the NoName backend failed: ConnectionError: the inference service refused the API key", 0),
    # sys.exit(5) in generate was exit 5 with nothing said; in render, exit 1 with its text alone
    ("exitsmid", "the exitsmid backend failed: SystemExit: 5 (1 samples of this invocation are saved; rerun to "
                 "resume)", 1),
    ("renderexits", "the renderexits backend could not render the prompt of t problem 'a': SystemExit: no chat "
                    "template", 0),
])
def test_a_backend_plugin_that_fails_is_one_line_naming_it(site, tmp_path, backend, says, saved):
    r = evalkit(site, ["run", str(spec(tmp_path, "choice")), "--backend", backend, "--model", "m", "--no-progress",
                       "--out", "run"], tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr and says in r.stderr, r.stderr
    lines = (tmp_path / "run" / "samples.jsonl").read_text().splitlines() if saved else []
    assert len(lines) == saved
    assert not (tmp_path / "run" / "results.json").exists()  # no results read as the whole run's
    if saved:  # the invocation that started has its end in invocations.jsonl too, and why (it had its start alone)
        started, stopped = [json.loads(x) for x in (tmp_path / "run" / "invocations.jsonl").read_text().splitlines()]
        assert "started" in started and "stopped" in stopped and "saved; rerun to resume" in stopped["why"], stopped


@pytest.mark.parametrize("backend, says", [
    ("closefails", "evalkit: warning: the closefails backend's close() failed (RuntimeError: the session did not end)"),
    ("closeexits", "evalkit: warning: the closeexits backend's close() failed (SystemExit: 7)"),  # exit 7, silent
])
def test_a_backend_whose_close_fails_still_gets_its_results_and_report(site, tmp_path, backend, says):
    r = evalkit(site, ["run", str(spec(tmp_path, "choice")), "--backend", backend, "--model", "m",
                       "--no-progress", "--out", "run"], tmp_path)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert says in r.stderr, r.stderr
    assert len(samples(tmp_path / "run")) == 2
    assert (tmp_path / "run" / "results.json").is_file() and (tmp_path / "run" / "index.html").is_file()


def test_a_sample_that_is_not_json_is_written_unjudged_not_lost(site, tmp_path):
    r = evalkit(site, ["run", str(spec(tmp_path, "choice")), "--backend", "oddtokens", "--model", "m",
                       "--no-progress", "--out", "run"], tmp_path)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    written = samples(tmp_path / "run")
    assert [(s["problem_id"], s["completion"], s["prompt_tokens"], s["correct"], s["reason"]) for s in written] == [
        ("a", "<think>x</think> 1", "Decimal('5')", None, "error"), ("b", "<think>x</think> 1", "Decimal('5')", None,
                                                                     "error")]
    assert written[0]["detail"].startswith("the sample could not be written as JSON (TypeError: Object of type "
                                           "Decimal is not JSON serializable)")


def test_registering_in_process_under_a_built_ins_name_is_refused():
    # a plugin module that registers itself as `math` at import would make math_reward score with it
    from evalkit.backends import register_backend
    from evalkit.rewards import math_reward
    from evalkit.verifiers import register_verifier

    class AlwaysRight:
        name = "math"

        def verify_many(self, items):
            raise AssertionError("never called")

    with pytest.raises(ValueError, match="'math' is a built-in verifier; register .*AlwaysRight under another name"):
        register_verifier("math", AlwaysRight)
    with pytest.raises(ValueError, match="'vllm' is a built-in backend"):
        register_backend("vllm", AlwaysRight)
    assert math_reward(["the answer is \\boxed{5}"], answer=["4"]) == [0.0]


def test_a_verifier_past_its_deadline_is_not_called_again_until_it_returns():
    import threading
    import time

    from evalkit.types import Verdict
    from evalkit.verifiers.base import VerifyItem, verify_checked

    release = threading.Event()

    class Slow:
        name = "slow"
        calls = 0

        def verify_many(self, items):
            Slow.calls += 1
            release.wait()
            return [Verdict(True, 1.0, "1", "correct") for _ in items]

    slow, items = Slow(), [VerifyItem("1", "1")]
    assert verify_checked(slow, items, 0.2)[0].detail == "the slow verifier did not return within 0.2 s"
    later = verify_checked(slow, items, 0.2)[0]
    assert (later.correct, later.detail) == (None, "the slow verifier is still running an earlier batch that took "
                                                   "longer than 0.2 s")
    assert Slow.calls == 1
    release.set()
    time.sleep(0.2)
    assert verify_checked(slow, items, 0.2)[0].correct is True and Slow.calls == 2


@pytest.mark.parametrize("fields, says", [
    (dict(text=b"1"), "text=b'1' (expected a string)"),
    (dict(completion_tokens=-5), "completion_tokens=-5 (expected a count or None)"),
    (dict(prompt_tokens=True), "prompt_tokens=True (expected a count or None)"),
    (dict(reasoning_tokens="12"), "reasoning_tokens='12' (expected a count or None)"),
    (dict(), None),
    (dict(text="", finish_reason=None, prompt_tokens=0, completion_tokens=3, reasoning_tokens=None), None),
])
def test_a_completions_fields_are_held_to_the_contract(fields, says):
    from evalkit.backends.base import completion_problem
    from evalkit.types import Completion

    assert completion_problem(Completion(**{"text": "<think>x</think> 1", **fields})) == says


def test_a_gold_check_that_exits_says_why_the_gold_is_refused(site, tmp_path):
    # sys.exit(...) in check_gold ended `evalkit verify` (and `export`) with its status, saying nothing of the gold
    r = evalkit(site, ["verify", "1 km", "two", "--verifier", "goldexits"], tmp_path)
    assert (r.returncode, r.stderr.strip().splitlines()[-1]) == (2, "evalkit: error: GOLD 'two': 'two' is no distance")


def test_verifiers_running_side_by_side_keep_the_directory_one_of_them_moved_to(tmp_path, monkeypatch):
    # the rewards verify from several threads at once: one call's setting back pulled the directory from under a
    # verifier still reading its tool's files there, and the last left the process in the tool's folder
    import threading

    from evalkit.types import Verdict
    from evalkit.verifiers.base import VerifyItem, verify_checked

    tool = tmp_path / "tool"
    tool.mkdir()
    (tool / "tool.cfg").write_text("ok")
    monkeypatch.chdir(tmp_path)

    class Tool:
        name = "tool"

        def verify_many(self, items):
            os.chdir(tool)
            time.sleep(0.3)
            with open("tool.cfg") as f:  # relative: the tool's own folder
                said = f.read()
            return [Verdict(True, 1.0, said, "correct") for _ in items]

    found = {}

    def call(key):
        found[key] = verify_checked(Tool(), [VerifyItem("1", "1")])[0]

    first = threading.Thread(target=call, args=("first",))
    first.start()
    time.sleep(0.1)
    call("second")
    first.join()
    assert [(v.correct, v.answer) for v in (found["first"], found["second"])] == [(True, "ok")] * 2, found
    assert Path.cwd() == tmp_path


def test_what_a_verifier_prints_stays_out_of_verifys_output(site, tmp_path):
    # a plugin's print came before the JSON of `verify --json` and among the lines of `verify --pairs`
    r = evalkit(site, ["verify", "1", "1", "--verifier", "prints", "--json"], tmp_path)
    assert json.loads(r.stdout)["reason"] == "wrong" and "PLUGIN NOISE ON STDOUT" in r.stderr, r.stdout
    (tmp_path / "pairs.jsonl").write_text(json.dumps({"answer": "1", "gold": "1"}) + "\n")
    r = evalkit(site, ["verify", "--pairs", str(tmp_path / "pairs.jsonl"), "--verifier", "prints"], tmp_path)
    assert [json.loads(line)["reason"] for line in r.stdout.splitlines()] == ["wrong"], r.stdout


def test_a_backend_serving_a_model_of_its_own_runs_under_the_runs_model_name(site, tmp_path):
    # its factory takes no `model`: without --model the run was refused ("needs --model"), with it the backend was
    # ("has no option 'model' (its options: )")
    r = evalkit(site, ["run", str(spec(tmp_path, "choice")), "--backend", "ownmodel", "--model", "m1", "--no-progress",
                       "--out", "run"], tmp_path)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert len(samples(tmp_path / "run")) == 2
    r = evalkit(site, ["run", str(spec(tmp_path, "choice")), "--backend", "ownmodel", "--model", "m1", "--tp", "2",
                       "--no-progress", "--out", "run2"], tmp_path)
    assert r.returncode == 2 and "the ownmodel backend has no option 'tp'" in r.stderr, r.stderr
