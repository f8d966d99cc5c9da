"""What `evalkit run` checks before it generates anything, and task-spec options it must honour."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ADD_TESTS = {"style": "call", "entry_point": "add", "setup": None, "code": None,
             "cases": [{"input": [1, 2], "output": 3}, {"input": [2, 2], "output": 4}]}
ADD = "<think>\nsum\n</think>\n```python\ndef add(a, b):\n    return a + b\n```"


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "evalkit", *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=300)


def _code_task(tmp_path: Path, options: dict) -> tuple[Path, Path]:
    (tmp_path / "add.jsonl").write_text(json.dumps({"id": "add", "prompt": "Write add(a, b).",
                                                    "tests": ADD_TESTS}) + "\n")
    spec = tmp_path / "addtask.yaml"
    spec.write_text("name: addtask\ndataset: {local: add.jsonl}\nfields: {id: id, problem: prompt, tests: tests}\n"
                    "prompt: '{{ prompt }}'\nverifier: code\n"
                    f"verifier_options: {json.dumps(options)}\n")
    replay = tmp_path / "replayed.jsonl"
    replay.write_text(json.dumps({"problem_id": "add", "sample": 0, "completion": ADD}) + "\n")
    return spec, replay


def test_a_missing_required_layer_stops_the_run_before_anything_is_generated(tmp_path):
    # a sandbox that lacks seccomp: the verifier is told to use the network namespace only
    spec, replay = _code_task(tmp_path, {"layers": ["netns"], "workers": 1})
    r = cli("run", str(spec), "--completions", str(replay), "--require-layers", "seccomp", "--no-progress",
            "--out", "run", cwd=tmp_path)
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr.count("\n") == 1 and "seccomp" in r.stderr and r.stderr.startswith("evalkit: error:"), r.stderr
    assert not (tmp_path / "run" / "samples.jsonl").exists()  # nothing written unjudged
    # a rerun stops the same way (it does not keep unjudged samples as done)
    again = cli("run", str(spec), "--completions", str(replay), "--require-layers", "seccomp", "--no-progress",
                "--out", "run", cwd=tmp_path)
    assert again.returncode == 2 and not (tmp_path / "run" / "samples.jsonl").exists()


def test_layers_in_force_are_recorded_and_the_run_judges(tmp_path):
    spec, replay = _code_task(tmp_path, {"workers": 1})
    r = cli("run", str(spec), "--completions", str(replay), "--require-layers", "rlimits", "--no-progress",
            "--out", "run", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    [sample] = [json.loads(line) for line in (tmp_path / "run" / "samples.jsonl").read_text().splitlines()]
    assert sample["correct"] is True and sample["score"] == 1.0
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert "rlimits" in config["sandbox_layers"]["in_force"]
    results = json.loads((tmp_path / "run" / "results.json").read_text())["results"]
    assert not any(k.startswith("maj@") for k in results[0]["metrics"])  # programs do not vote


def _math_task(tmp_path: Path, extra: str) -> Path:
    (tmp_path / "p.jsonl").write_text("".join(json.dumps({"qid": f"q{i}", "question": f"{i}+1?", "solution": str(i + 1)})
                                              + "\n" for i in range(3)))
    spec = tmp_path / "mine.yaml"
    spec.write_text("name: mine\ndataset: {local: p.jsonl}\nfields: {id: qid, problem: question, answer: solution}\n"
                    + extra)
    return spec


def test_metrics_listed_in_the_spec_are_the_metrics_reported(tmp_path):
    spec = _math_task(tmp_path, "metrics: [avg@n]\n")
    replay = tmp_path / "c.jsonl"
    replay.write_text("".join(json.dumps({"problem_id": f"q{i}", "sample": s, "completion": f"\\boxed{{{i + 1}}}"})
                              + "\n" for i in range(3) for s in range(2)))
    r = cli("run", str(spec), "--completions", str(replay), "--no-progress", "--out", "run", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    [result] = json.loads((tmp_path / "run" / "results.json").read_text())["results"]
    assert list(result["metrics"]) == ["avg@n"] and result["maj_at_k_curve"] == []
    assert "100.0" in r.stdout  # the table shows avg@n; pass@k and maj@k read "-"


@pytest.mark.parametrize("extra, says", [
    ("metrics: [avg@n, best@k]\n", "mine.yaml:4: field 'metrics': unknown metric 'best@k'"),
    ("metrics: []\n", "mine.yaml:4: field 'metrics': expected a list of at least one metric"),
    ("think_open: \"false\"\n", "mine.yaml:4: field 'think_open': expected true or false"),
    ("verifier_options: [timeout, 5]\n", "mine.yaml:4: field 'verifier_options': expected a mapping"),
    ("verifier_options: {no_such_option: 1}\n", "field 'verifier_options'"),
    ("verifier: maths\n", "mine.yaml:4: field 'verifier': unknown verifier 'maths' (known: "),
    # the option's name, and the ones the verifier takes, rather than a dataclass's TypeError
    ("verifier_options: {timeout_s: many}\n", "mine.yaml:4: field 'verifier_options': the math verifier takes no "
                                             "option 'timeout_s' (it takes: batch_deadline_s, boxed,"),
    # an option's value too: a quoted "false" is true to Python, a typo would read as the default
    ("verifier_options: {think_fallback: 'false'}\n",
     "mine.yaml:4: field 'verifier_options': option 'think_fallback': expected true or false (unquoted), got 'false'"),
    ("verifier_options: {boxed: first}\n", "mine.yaml:4: field 'verifier_options': option 'boxed': expected last or all"),
    ("verifier_options: {multiple_answer: 'false'}\n", "mine.yaml:4: field 'verifier_options': option 'multiple_answer'"),
    ("verifier: choice\nverifier_options: {letters: abcd}\n",
     "mine.yaml:5: field 'verifier_options': option 'letters': expected the option letters in capitals"),
    ("verifier: choice\nverifier_options: {letters: 4}\n", "mine.yaml:5: field 'verifier_options': option 'letters'"),
    ("verifier: choice\nverifier_options: {nosuch: 1}\n",
     "mine.yaml:5: field 'verifier_options': the choice verifier takes no option 'nosuch' (it takes: letters)"),
])
def test_bad_task_options_stop_with_one_line(tmp_path, extra, says):
    spec = _math_task(tmp_path, extra)
    replay = tmp_path / "c.jsonl"
    replay.write_text(json.dumps({"problem_id": "q0", "sample": 0, "completion": "\\boxed{1}"}) + "\n")
    r = cli("run", str(spec), "--completions", str(replay), "--no-progress", "--out", "run", cwd=tmp_path)
    assert r.returncode == 2 and says in r.stderr and r.stderr.count("\n") == 1, r.stderr
    assert not (tmp_path / "run").exists()


def test_an_empty_dataset_stops_the_run_naming_the_spec_and_the_file(tmp_path):
    spec = _math_task(tmp_path, "")
    (tmp_path / "p.jsonl").write_text("")
    replay = tmp_path / "c.jsonl"
    replay.write_text(json.dumps({"problem_id": "q0", "sample": 0, "completion": "\\boxed{1}"}) + "\n")
    r = cli("run", str(spec), "--completions", str(replay), "--no-progress", "--out", "run", cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "mine.yaml:2: field 'dataset': no problems in " in r.stderr and "p.jsonl" in r.stderr
    assert not (tmp_path / "run").exists()


def test_a_task_whose_verifier_reads_none_of_its_golds_stops_before_generating(tmp_path):
    # a choice task over numeric answers: every sample was generated, then left unjudged, and the run exited 0
    spec = _math_task(tmp_path, "verifier: choice\n")
    replay = tmp_path / "c.jsonl"
    replay.write_text(json.dumps({"problem_id": "q0", "sample": 0, "completion": "\\boxed{A}"}) + "\n")
    r = cli("run", str(spec), "--completions", str(replay), "--no-progress", "--out", "run", cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert ("mine.yaml:3: task mine, verifier choice: no problem has a gold answer the verifier can read "
            "(problem q0: gold '1' is not an option letter (ABCDEFGHIJ)); nothing generated") in r.stderr, r.stderr
    assert not (tmp_path / "run" / "samples.jsonl").exists()
    # one problem of three: a warning naming it, and the run goes on
    (tmp_path / "p.jsonl").write_text("".join(json.dumps({"qid": f"q{i}", "question": "?", "solution": g}) + "\n"
                                              for i, g in enumerate(("A", "7", "C", ["B", "7"]))))
    replay.write_text("".join(json.dumps({"problem_id": pid, "sample": 0, "completion": "\\boxed{A}"}) + "\n"
                              for pid in ("q0", "q3")))
    r = cli("run", str(spec), "--completions", str(replay), "--no-progress", "--out", "run2", cwd=tmp_path)
    assert r.returncode == 0 and "1 of 4 problems have no gold answer the verifier can read (first: problem q1: gold '7'" in r.stderr, r.stderr
    # an accepted answer the verifier cannot read ("7" beside "B") is left out: (A) is wrong, not unjudged
    got = {s["problem_id"]: s["reason"] for s in map(json.loads, (tmp_path / "run2" / "samples.jsonl").open())}
    assert got == {"q0": "correct", "q3": "wrong"}, got


def test_sigterm_while_programs_are_tested_kills_them_and_writes_the_samples_at_once(tmp_path):
    # four programs that sleep through each of 15 tests of 3 s: SIGTERM waited for the ones running to end all
    # their tests (45 s here; minutes for LiveCodeBench), past a scheduler's grace period, before writing anything
    import signal
    import time

    tests = {"style": "stdio", "cases": [{"input": "", "output": "1"}] * 15}
    (tmp_path / "slow.jsonl").write_text("".join(json.dumps({"id": f"p{i}", "prompt": "Print 1.", "tests": tests})
                                                 + "\n" for i in range(4)))
    (tmp_path / "slow.yaml").write_text(
        "name: slow\ndataset: {local: slow.jsonl}\nfields: {id: id, problem: prompt, tests: tests}\n"
        "prompt: '{{ prompt }}'\nverifier: code\nverifier_options: {timeout_s: 3, workers: 2}\n")
    sleeper = "<think>\nhm\n</think>\n```python\nimport time\ntime.sleep(100)\n```"
    (tmp_path / "replay.jsonl").write_text("".join(json.dumps({"problem_id": f"p{i}", "sample": 0,
                                                               "completion": sleeper}) + "\n" for i in range(4)))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "evalkit", "run", str(tmp_path / "slow.yaml"), "--completions",
                             str(tmp_path / "replay.jsonl"), "--no-progress", "--no-trace", "--out",
                             str(tmp_path / "run")], cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(10)  # started, and the programs' first tests running
        assert proc.poll() is None, proc.stderr.read()
        proc.send_signal(signal.SIGTERM)
        start = time.monotonic()
        err = proc.communicate(timeout=120)[1]
        took = time.monotonic() - start
    finally:
        proc.kill()
    assert proc.returncode == 143, err
    assert took < 15, took
    samples = [json.loads(line) for line in (tmp_path / "run" / "samples.jsonl").read_text().splitlines()]
    assert len(samples) == 4 and all(s["correct"] is None for s in samples)


def test_verify_and_serve_rewards_stop_on_a_missing_required_layer(tmp_path):
    # `verify --option require_layers=...` printed the verdict line `error: ... required sandbox layer(s) missing`
    # and exited 1, as if an answer had been checked and failed; serve-rewards started and left every answer
    # unjudged. A missing layer is the command's error (exit 2), as `run --require-layers` makes it.
    tests, program = json.dumps(ADD_TESTS), "def add(a, b):\n    return a + b"
    r = cli("verify", program, tests, "--verifier", "code", "--option", "layers=[netns]",
            "--option", "require_layers=seccomp", cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.startswith("evalkit: error:") and "seccomp" in r.stderr, r.stdout + r.stderr
    assert r.stdout == ""
    r = cli("serve-rewards", "--verifier", "code", "--port", "0", "--option", "layers=[netns]",
            "--option", "require_layers=seccomp", cwd=tmp_path)
    assert r.returncode == 2 and "seccomp" in r.stderr, r.stdout + r.stderr
    r = cli("verify", program, tests, "--verifier", "code", "--option", "require_layers=rlimits", cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.startswith("correct"), r.stdout + r.stderr
