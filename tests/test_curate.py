"""`evalkit curate`: training data from a replay run with known pass rates, decontamination, bad input."""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

import evalkit
from evalkit.contamination import NGRAM, NgramIndex, words
from evalkit.curate import curate, summary_table
from evalkit.errors import InputError

# A MATH-500 problem (test/intermediate_algebra/1994.json), reworded around a long span of it.
REWORDED = ("A friend sent me this one. Define\n\\[p = \\sum_{k = 1}^\\infty \\frac{1}{k^2} \\quad \\text{and} "
            "\\quad q = \\sum_{k = 1}^\\infty \\frac{1}{k^3}.\\] How would you express the double sum of "
            "1/(j+k)^3 with them?")

# problem id -> (text, answer, how many of its 4 samples are right)
PROBLEMS = {
    "p0": ("What is $3+4$?", "7", 0),
    "p1": ("What is $5 \\cdot 6$?", "30", 1),
    "p2": ("What is $12 - 5$?", "7", 2),
    "p3": ("What is $9 / 3$?", "3", 4),
    "p4": ("What is $2^5$?", "32", 3),
    "p5": ("what is   $12 - 5$?", "7", 2),  # p2 again, other case and spacing
    "p6": (REWORDED, "p - q", 2),
}


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "evalkit", *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=300)


@pytest.fixture(scope="module")
def replay_run(tmp_path_factory) -> Path:
    """A replay run of a user's task whose problems were solved 0..4 times out of 4."""
    root = tmp_path_factory.mktemp("curate")
    (root / "problems.jsonl").write_text("".join(
        json.dumps({"qid": pid, "question": text, "gold": answer}) + "\n" for pid, (text, answer, _) in PROBLEMS.items()))
    (root / "toy.yaml").write_text(
        "name: toy\ndataset: {local: problems.jsonl}\nfields: {id: qid, problem: question, answer: gold}\n"
        "system: You are a careful solver.\n"
        "prompt: \"{{ question }}\\nPut the answer in \\\\boxed{}.\"\nverifier: math\n")
    rows = []
    for pid, (_, answer, right) in PROBLEMS.items():
        for s in range(4):
            given = answer if s < right else "999"
            rows.append({"problem_id": pid, "sample": s, "model": "m",
                         "completion": f"<think>\nworking\n</think>\nSo $\\boxed{{{given}}}$."})
    (root / "theirs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    run = evalkit.evaluate([str(root / "toy.yaml")], completions=str(root / "theirs.jsonl"), out=root / "run",
                           progress=False, trace=False)
    assert run.generated == 28
    return root / "run"


def read_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_curate_keeps_exactly_the_problems_in_range(replay_run, tmp_path):
    r = cli("curate", str(replay_run), "--pass-rate", "0.25:0.75", "--format", "trl", "--out", "train.jsonl",
            "--dedup", "--decontaminate", "math500", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    rows = read_lines(tmp_path / "train.jsonl")
    assert [(row["problem_id"], row["pass_rate"], row["n_samples"]) for row in rows] == [
        ("p1", 0.25, 4), ("p2", 0.5, 4), ("p4", 0.75, 4)]
    # the row is asked with the messages the run asked it with, byte for byte
    samples = {s["problem_id"]: s["prompt"] for s in read_lines(replay_run / "samples.jsonl")}
    for row in rows:
        assert "\n\n".join(m["content"] for m in row["prompt"]) == samples[row["problem_id"]]
        assert row["prompt"][0] == {"role": "system", "content": "You are a careful solver."}
    assert rows[0]["answer"] == "30" and rows[0]["task"] == "toy"

    dropped = {d["problem_id"]: d for d in read_lines(tmp_path / "train.dropped.jsonl")}
    assert {pid: d["reason"] for pid, d in dropped.items()} == {
        "p0": "pass_rate_low", "p3": "pass_rate_high", "p6": "contaminated", "p5": "duplicate"}
    assert "math500 test/intermediate_algebra/1994.json" in dropped["p6"]["detail"]
    assert "normalised duplicate of toy p2" in dropped["p5"]["detail"]
    table = dict(line.split()[:2] for line in r.stdout.split("\n\n")[0].splitlines()[2:])
    assert "decontaminated against 1 benchmarks (13-word n-grams): math500" in r.stdout
    assert table == {"kept": "3", "no_gold": "0", "unjudged": "0", "too_few_samples": "0", "pass_rate_low": "1",
                     "pass_rate_high": "1", "contaminated": "1", "duplicate": "1", "total": "7"}


def test_dedup_keeps_multiple_choice_questions_that_share_a_stem(tmp_path):
    # the stem is the task's `problem`; the options are in its prompt: q2 was dropped as "exact duplicate of mcq q1"
    stem = "Which of the following is a prime number?"
    qs = [("q1", ["4", "6", "7", "9"], "C"), ("q2", ["11", "12", "14", "15"], "A"), ("q3", ["4", "6", "7", "9"], "C")]
    (tmp_path / "c.jsonl").write_text("".join(json.dumps({"qid": q, "stem": stem, "opts": o, "gold": g}) + "\n"
                                              for q, o, g in qs))
    (tmp_path / "mcq.yaml").write_text(
        "name: mcq\ndataset: {local: c.jsonl}\nfields: {id: qid, problem: stem, answer: gold}\n"
        "prompt: |-\n  {{ stem }}\n\n  A) {{ opts[0] }}\n  B) {{ opts[1] }}\n  C) {{ opts[2] }}\n  D) {{ opts[3] }}\n"
        "verifier: choice\nverifier_options: {letters: ABCD}\n")
    (tmp_path / "theirs.jsonl").write_text("".join(
        json.dumps({"problem_id": q, "sample": s, "model": "m", "completion": "Answer: " + (g if s == 0 else "B")}) + "\n"
        for q, _, g in qs for s in range(2)))
    evalkit.evaluate([str(tmp_path / "mcq.yaml")], completions=str(tmp_path / "theirs.jsonl"), out=tmp_path / "run",
                     progress=False, trace=False)
    r = cli("curate", "run", "--pass-rate", "0:1", "--dedup", "--format", "trl", "--out", "train.jsonl", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert [row["problem_id"] for row in read_lines(tmp_path / "train.jsonl")] == ["q1", "q2"]
    # the same stem with the same options is the same question
    assert [(d["problem_id"], d["detail"]) for d in read_lines(tmp_path / "train.dropped.jsonl")] == [
        ("q3", "exact duplicate of mcq q1")]


def test_dedup_drops_a_problem_the_prompt_trims_into_anothers_prompt(tmp_path):
    # `{{ question | trim }}` (gpqa_diamond's filter): "...?" and "...?\n" were both kept, with byte-identical prompts
    qs = [("d1", "How many edges does a cube have?"), ("d2", "How many edges does a cube have?\n"),
          ("d3", "How many faces does a cube have?")]
    (tmp_path / "d.jsonl").write_text("".join(json.dumps({"qid": q, "question": t, "ans": "12"}) + "\n" for q, t in qs))
    (tmp_path / "t.yaml").write_text("name: dd\ndataset: {local: d.jsonl}\nfields: {id: qid, problem: question, "
                                     "answer: ans}\nprompt: 'Solve: {{ question | trim }}'\nverifier: math\n")
    (tmp_path / "c.jsonl").write_text("".join(
        json.dumps({"problem_id": q, "sample": s, "completion": f"\\boxed{{{12 + s}}}"}) + "\n" for q, _ in qs
        for s in range(2)))
    evalkit.evaluate([str(tmp_path / "t.yaml")], completions=str(tmp_path / "c.jsonl"), out=tmp_path / "run",
                     progress=False, trace=False)
    r = cli("curate", "run", "--pass-rate", "0:1", "--dedup", "--format", "trl", "--out", "train.jsonl", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert [row["problem_id"] for row in read_lines(tmp_path / "train.jsonl")] == ["d1", "d3"]
    assert [(d["problem_id"], d["detail"]) for d in read_lines(tmp_path / "train.dropped.jsonl")] == [
        ("d2", "normalised duplicate of dd d1")]


def test_a_run_whose_spec_was_moved_says_where_it_was_run_from(tmp_path):
    # "unknown task 'pool': not a built-in task ... and not a YAML file", naming neither the path nor that it is gone
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "p.jsonl").write_text(json.dumps({"id": "a", "problem": "2+2?", "answer": "4"}) + "\n")
    (tmp_path / "specs" / "pool.yaml").write_text("name: pool\ndataset: {local: p.jsonl}\nfields: {id: id}\n")
    (tmp_path / "c.jsonl").write_text(json.dumps({"problem_id": "a", "sample": 0, "completion": "\\boxed{4}"}) + "\n")
    evalkit.evaluate([str(tmp_path / "specs" / "pool.yaml")], completions=str(tmp_path / "c.jsonl"),
                     out=tmp_path / "run", progress=False, trace=False)
    (tmp_path / "specs").rename(tmp_path / "moved")
    r = cli("curate", "run", "--pass-rate", "0:1", "--format", "trl", "--out", "train.jsonl", cwd=tmp_path)
    assert r.returncode == 2 and f"task 'pool' was run from {tmp_path / 'specs' / 'pool.yaml'}, which is gone" in r.stderr, \
        r.stderr


def test_an_out_that_is_a_link_or_a_fifo_is_refused_and_left_as_it_was(replay_run, tmp_path):
    # the file was written beside the path and renamed over it: the link became a file (its target untouched),
    # a FIFO a file; as root, `--out /dev/full` replaced the device node. Followed, a link planted in a shared
    # directory would have curate write over a file of the link's choosing: refused
    (tmp_path / "data").mkdir()
    target = tmp_path / "data" / "train.jsonl"
    target.write_text("old\n")
    (tmp_path / "train.jsonl").symlink_to(target)
    r = cli("curate", str(replay_run), "--pass-rate", "0:1", "--format", "trl", "--out", "train.jsonl", cwd=tmp_path)
    assert r.returncode == 2 and f"--out train.jsonl: is a symbolic link (to {target})" in r.stderr, r.stderr
    assert (tmp_path / "train.jsonl").is_symlink() and target.read_text() == "old\n"
    r = cli("curate", str(replay_run), "--pass-rate", "0:1", "--format", "trl", "--out", str(target), cwd=tmp_path)
    assert r.returncode == 0 and len(read_lines(target)) == 7, r.stderr
    os.mkfifo(tmp_path / "fifo.jsonl")
    r = cli("curate", str(replay_run), "--pass-rate", "0:1", "--format", "trl", "--out", "fifo.jsonl", cwd=tmp_path)
    assert r.returncode == 2 and "--out fifo.jsonl: is not a regular file" in r.stderr, r.stderr
    assert stat.S_ISFIFO((tmp_path / "fifo.jsonl").stat().st_mode)
    assert not (tmp_path / "fifo.dropped.jsonl").exists()


def test_curating_a_run_that_was_stopped_says_so(replay_run, tmp_path):
    # a run stopped by SIGTERM was curated with exit 0 and no word that most of its problems were never sampled
    r = cli("curate", str(replay_run), "--pass-rate", "0:1", "--format", "trl", "--out", "a.jsonl", cwd=tmp_path)
    assert r.returncode == 0 and "did not finish" not in r.stderr and "last `evalkit run`" not in r.stderr
    stopped = tmp_path / "stopped"
    shutil.copytree(replay_run, stopped)
    with open(stopped / "invocations.jsonl", "a") as f:
        f.write(json.dumps({"started": 1.0, "pending": 400, "reused": 0}) + "\n")
        f.write(json.dumps({"stopped": 2.0, "why": "SIGTERM", "saved": 12, "ran_s": 1.0}) + "\n")
    r = cli("curate", str(stopped), "--pass-rate", "0:1", "--format", "trl", "--out", "b.jsonl", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "note: the run's last `evalkit run` was stopped (SIGTERM)" in r.stderr, r.stderr
    with open(stopped / "invocations.jsonl", "a") as f:  # killed: a start and no end
        f.write(json.dumps({"started": 3.0, "pending": 388, "reused": 12}) + "\n")
    r = cli("curate", str(stopped), "--pass-rate", "0:1", "--format", "trl", "--out", "c.jsonl", cwd=tmp_path)
    assert "was killed or is still running" in r.stderr, r.stderr
    with pytest.raises(InputError, match="ngram must be a whole number of at least 1, got 0"):
        curate(replay_run, "0:1", "trl", tmp_path / "d.jsonl", ngram=0, decontaminate=["math500"])


def test_curating_a_replay_that_holds_no_samples_of_some_problems_says_so(replay_run, tmp_path):
    # a finished replay run whose file held no sample of p2 (another model's file, cut short): p2 was in neither
    # file, counted nowhere, and nothing was said; a run of the first problems alone (--limit) says nothing
    root = replay_run.parent
    kept = [line for line in (root / "theirs.jsonl").read_text().splitlines() if json.loads(line)["problem_id"] != "p2"]
    (tmp_path / "holey.jsonl").write_text("".join(line + "\n" for line in kept))
    holey = evalkit.evaluate([str(root / "toy.yaml")], completions=str(tmp_path / "holey.jsonl"), out=tmp_path / "r",
                             progress=False, trace=False).run_dir
    r = cli("curate", str(holey), "--pass-rate", "0:1", "--format", "trl", "--out", "a.jsonl", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "note: 1 problem of toy has no sample of this model (p2): it is in neither file" in r.stderr, r.stderr
    limited = evalkit.evaluate([str(root / "toy.yaml")], completions=str(root / "theirs.jsonl"), out=tmp_path / "l",
                               limit=3, progress=False, trace=False).run_dir
    r = cli("curate", str(limited), "--pass-rate", "0:1", "--format", "trl", "--out", "b.jsonl", cwd=tmp_path)
    assert r.returncode == 0 and "no sample of this model" not in r.stderr, r.stderr


def test_curate_verl_parquet_rows_score_through_compute_score(replay_run, tmp_path):
    import pandas as pd

    from evalkit.rewards.verl import compute_score

    out = tmp_path / "train.parquet"
    r = cli("curate", str(replay_run), "--pass-rate", "0:1", "--min-samples", "5", "--format", "verl",
            "--out", str(out), cwd=tmp_path)
    # 4 samples each: all too few. An empty parquet is no training set (veRL's loader refuses it):
    # refused, saying why, with nothing written
    assert r.returncode == 2 and "no problem is left to train on (7 too_few_samples); nothing written" in r.stderr
    assert "To keep some: lower --min-samples" in r.stderr and "--pass-rate" not in r.stderr  # only what would help
    assert not out.exists() and not (tmp_path / "train.dropped.jsonl").exists()
    # all contaminated: the advice names the first match, not --pass-rate (already 0:1)
    bench = tmp_path / "bench.jsonl"
    bench.write_text("".join(json.dumps({"qid": pid, "question": text, "gold": answer}) + "\n"
                             for pid, (text, answer, _) in PROBLEMS.items()))
    (tmp_path / "bench.yaml").write_text("name: bench\ndataset: {local: bench.jsonl}\n"
                                         "fields: {id: qid, problem: question, answer: gold}\nverifier: math\n")
    r = cli("curate", str(replay_run), "--pass-rate", "0:1", "--format", "verl", "--out", str(out),
            "--decontaminate", str(tmp_path / "bench.yaml"), cwd=tmp_path)
    assert r.returncode == 2 and "(7 contaminated)" in r.stderr and "To keep some: check --decontaminate (problem " in r.stderr
    assert "--pass-rate" not in r.stderr, r.stderr

    r = cli("curate", str(replay_run), "--pass-rate", "0:1", "--format", "verl", "--out", str(out), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    frame = pd.read_parquet(out)
    assert len(frame) == 7
    row = frame.iloc[1]
    assert row["extra_info"]["problem_id"] == "p1" and row["extra_info"]["pass_rate"] == 0.25
    right = compute_score(row["data_source"], "<think>x</think> \\boxed{30}", row["reward_model"]["ground_truth"],
                          row["extra_info"])
    assert right["score"] == 1.0


def test_curate_writes_where_the_runs_prompts_opened_thinking(tmp_path):
    # An R1-distill template opens thinking in the prompt; veRL's naive manager scores one response at
    # a time, with no batch to read the template off, so the row must say what the run recorded
    from evalkit.rewards import math_reward
    from evalkit.rewards.verl import compute_score

    (tmp_path / "p.jsonl").write_text(json.dumps({"qid": "a", "question": "What is 3+4?", "gold": "7"}) + "\n")
    (tmp_path / "t.yaml").write_text("name: t\ndataset: {local: p.jsonl}\nfields: {id: qid, problem: question, "
                                     "answer: gold}\nverifier: math\n")
    lines = [{"problem_id": "a", "sample": s, "model": "m", "think_open": True,
              "completion": f"3+4 is 7.\n</think>\n\\boxed{{{7 if s else 8}}}"} for s in range(2)]
    (tmp_path / "r.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    evalkit.evaluate([str(tmp_path / "t.yaml")], completions=str(tmp_path / "r.jsonl"), out=tmp_path / "run",
                     progress=False, trace=False)
    cut = "3+4 is \\boxed{7}? Wait, let me"
    for fmt, out in (("verl", "v.parquet"), ("trl", "t.jsonl")):
        r = cli("curate", str(tmp_path / "run"), "--pass-rate", "0:1", "--format", fmt, "--out", out, cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        if fmt == "verl":
            import pandas as pd

            extra = pd.read_parquet(tmp_path / out).iloc[0]["extra_info"]
            assert extra["think_open"] is True or extra["think_open"] == True  # noqa: E712 - numpy's bool
            assert compute_score("t", cut, "7", extra)["reason"] == "truncated"
        else:
            [row] = read_lines(tmp_path / out)
            assert row["think_open"] is True
            assert math_reward(completions=[cut], answer=[row["answer"]], think_open=[row["think_open"]]) == [0.0]


def test_a_problem_without_a_gold_is_dropped_as_such_not_as_a_fault_a_rerun_mends(tmp_path):
    # a problem whose gold is "" was dropped as `unjudged` ("infrastructure faults only"), and with nothing left
    # the advice was to rerun the unjudged samples, which can never judge a missing gold
    (tmp_path / "p.jsonl").write_text("".join(json.dumps({"qid": q, "question": f"What is {q}?", "gold": g}) + "\n"
                                              for q, g in (("a", "7"), ("b", ""))))
    (tmp_path / "t.yaml").write_text("name: t\ndataset: {local: p.jsonl}\nfields: {id: qid, problem: question, "
                                     "answer: gold}\nverifier: math\n")
    lines = [{"problem_id": q, "sample": s, "model": "m", "completion": f"<think>x</think>\\boxed{{{7 if s else 8}}}"}
             for q in ("a", "b") for s in range(2)]
    (tmp_path / "r.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    evalkit.evaluate([str(tmp_path / "t.yaml")], completions=str(tmp_path / "r.jsonl"), out=tmp_path / "run",
                     progress=False, trace=False)
    r = cli("curate", "run", "--pass-rate", "0:1", "--format", "trl", "--out", "t.jsonl", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    [dropped] = read_lines(tmp_path / "t.dropped.jsonl")
    assert (dropped["problem_id"], dropped["reason"], dropped["detail"]) == ("b", "no_gold", "no gold answer")
    assert re.search(r"no_gold\s+1\s+no gold answer its verifier can read", r.stdout), r.stdout
    r = cli("curate", "run", "--pass-rate", "0:1", "--format", "trl", "--out", "t2.jsonl", "--min-samples", "3",
            cwd=tmp_path)
    assert r.returncode == 2 and "(1 no_gold, 1 too_few_samples)" in r.stderr, r.stderr
    assert "rerun" not in r.stderr and "give the problems without one a gold answer" in r.stderr


def test_curate_bad_input_is_one_line_and_writes_nothing(replay_run, tmp_path):
    empty = tmp_path / "empty_run"
    empty.mkdir()
    cases = [
        ((str(empty), "--pass-rate", "0.1:0.9"), "no samples.jsonl"),
        ((str(replay_run), "--pass-rate", "0.9:0.1"), "LOW must not exceed HIGH"),
        ((str(replay_run), "--pass-rate", "half"), "expected LOW:HIGH"),
        ((str(replay_run), "--pass-rate", "0:1.5"), "must lie in [0, 1]"),
        ((str(replay_run), "--pass-rate", "0:1", "--decontaminate", "nosuchbench"), "unknown task 'nosuchbench'"),
        # `--decontaminate "$BENCH"` with BENCH unset wrote every row, contaminated ones too
        ((str(replay_run), "--pass-rate", "0:1", "--decontaminate", ""), "--decontaminate '': names no benchmark"),
        ((str(replay_run), "--pass-rate", "0:1", "--decontaminate", " , "), "names no benchmark"),
        ((str(replay_run), "--pass-rate", "0:1", "--model", "other"), "--model 'other'"),
    ]
    for args, message in cases:
        r = cli("curate", *args, "--format", "trl", "--out", "t.jsonl", cwd=tmp_path)
        assert r.returncode == 2, (args, r.stderr)
        assert r.stderr.startswith("evalkit: error: ") and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert message in r.stderr
    assert not (tmp_path / "t.jsonl").exists() and not (tmp_path / "t.dropped.jsonl").exists()
    same = cli("curate", str(replay_run), "--pass-rate", "0:1", "--format", "trl", "--out", "t.jsonl",
               "--dropped", "t.jsonl", cwd=tmp_path)
    assert same.returncode == 2 and "is the training file --out" in same.stderr
    assert not (tmp_path / "t.jsonl").exists()


def test_curate_side_file_is_named_after_the_whole_stem(replay_run, tmp_path):
    for out in ("train.v1.jsonl", "train.v2.jsonl", "x.dropped.jsonl"):
        r = cli("curate", str(replay_run), "--pass-rate", "0.25:0.75", "--format", "trl", "--out", out, cwd=tmp_path)
        assert r.returncode == 0, r.stderr
    assert (tmp_path / "train.v1.dropped.jsonl").is_file() and (tmp_path / "train.v2.dropped.jsonl").is_file()
    kept, dropped = read_lines(tmp_path / "x.dropped.jsonl"), read_lines(tmp_path / "x.dropped.dropped.jsonl")
    assert kept == read_lines(tmp_path / "train.v1.jsonl") and all("reason" in d for d in dropped)


def copy_run(run: Path, to: Path, edit) -> Path:
    """A copy of `run` whose samples.jsonl lines are `edit(list of records)`."""
    shutil.copytree(run, to)
    records = edit(read_lines(run / "samples.jsonl"))
    (to / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return to


def test_curate_measures_one_thinking_budget_never_a_mix(replay_run, tmp_path):
    # a `--think-budget 512,4096` run: the samples above at 4096, the same all wrong at 512
    def budgets(records):
        full = [dict(r, budget=4096) for r in records]
        return full + [dict(r, budget=512, correct=False, score=0.0, reason="wrong") for r in records]

    run = copy_run(replay_run, tmp_path / "run", budgets)
    r = cli("curate", str(run), "--pass-rate", "0.25:0.75", "--format", "trl", "--out", "train.jsonl", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    rows = read_lines(tmp_path / "train.jsonl")
    assert [(row["problem_id"], row["pass_rate"], row["n_samples"]) for row in rows] == [
        ("p1", 0.25, 4), ("p2", 0.5, 4), ("p4", 0.75, 4), ("p5", 0.5, 4), ("p6", 0.5, 4)]
    dropped = {d["problem_id"]: d["reason"] for d in read_lines(tmp_path / "train.dropped.jsonl")}
    assert dropped == {"p0": "pass_rate_low", "p3": "pass_rate_high"}
    assert "pass rates at thinking budget 4096 (the largest of the run's 512, 4096)" in r.stdout

    small = cli("curate", str(run), "--pass-rate", "0:0", "--budget", "512", "--format", "trl", "--out", "b.jsonl",
                cwd=tmp_path)
    assert small.returncode == 0, small.stderr
    assert {(row["pass_rate"], row["n_samples"]) for row in read_lines(tmp_path / "b.jsonl")} == {(0.0, 4)}
    bad = cli("curate", str(run), "--pass-rate", "0:1", "--budget", "100", "--format", "trl", "--out", "c.jsonl",
              cwd=tmp_path)
    assert bad.returncode == 2 and "has thinking budgets 512, 4096" in bad.stderr
    assert not (tmp_path / "c.jsonl").exists()
    plain = cli("curate", str(replay_run), "--pass-rate", "0:1", "--budget", "512", "--format", "trl", "--out",
                "c.jsonl", cwd=tmp_path)
    assert plain.returncode == 2 and "has no thinking budgets" in plain.stderr


def test_curate_measures_each_task_at_its_own_headline_budget_as_results_json_does(replay_run, tmp_path):
    # task toy2's 4096 samples are partial: results.json's toy2 headline is 512, toy's stays 4096; curate took 512
    # for both, and wrote toy's pass rates of its (all wrong) 512 samples
    root = replay_run.parent
    (tmp_path / "toy2.yaml").write_text((root / "toy.yaml").read_text().replace("name: toy", "name: toy2")
                                        .replace("local: problems.jsonl", f"local: {root / 'problems.jsonl'}"))
    rows = read_lines(root / "theirs.jsonl")
    (tmp_path / "both.jsonl").write_text("".join(json.dumps(dict(r, task=t)) + "\n" for t in ("toy", "toy2") for r in rows))
    two = evalkit.evaluate([str(root / "toy.yaml"), str(tmp_path / "toy2.yaml")], completions=str(tmp_path / "both.jsonl"),
                           out=tmp_path / "two", progress=False, trace=False).run_dir

    def budgets(records):
        full = [dict(r, budget=4096) for r in records if not (r["task"] == "toy2" and r["sample"] == 3)]
        return full + [dict(r, budget=512, correct=False, score=0.0, reason="wrong") for r in records]

    run = copy_run(two, tmp_path / "run", budgets)
    from evalkit.run.results import compute_results

    headlines = {e.task: e.to_dict()["think_budgets"]["largest"] for e in compute_results(run)}
    assert headlines == {"toy": 4096, "toy2": 512}
    r = cli("curate", str(run), "--pass-rate", "0:1", "--format", "trl", "--out", "train.jsonl", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "pass rates at each task's headline budget (the largest made on every sample of the task): toy 4096, " \
           "toy2 512" in r.stdout
    rates = {(row["task"], row["problem_id"]): row["pass_rate"] for row in read_lines(tmp_path / "train.jsonl")}
    assert {pid: rates[("toy", pid)] for pid in PROBLEMS} == {pid: right / 4 for pid, (_, _, right) in PROBLEMS.items()}
    assert {rates[("toy2", pid)] for pid in PROBLEMS} == {0.0}


@pytest.mark.parametrize("edit, says", [
    (lambda r: {k: v for k, v in r.items() if k != "task"}, "samples.jsonl: line 4: not a sample line (field 'task' is missing)"),
    (lambda r: {k: v for k, v in r.items() if k != "problem_id"}, "samples.jsonl: line 4: not a sample line (field 'problem_id' is missing)"),
    (lambda r: dict(r, correct="true"), "samples.jsonl: line 4: field 'correct': expected true, false or null"),
    (lambda r: dict(r, budget="512"), "samples.jsonl: line 4: not a sample line (field 'budget': expected an integer or null"),
])
def test_curate_names_the_line_and_field_of_a_bad_sample(replay_run, tmp_path, edit, says):
    run = copy_run(replay_run, tmp_path / "run", lambda rs: rs[:3] + [edit(rs[3])] + rs[4:])
    r = cli("curate", str(run), "--pass-rate", "0:1", "--format", "trl", "--out", "t.jsonl", cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith("evalkit: error: ") and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert says in r.stderr
    assert not (tmp_path / "t.jsonl").exists()


def test_curate_to_a_place_that_cannot_be_written_writes_nothing(replay_run, tmp_path):
    (tmp_path / "blocker").write_text("a file, not a folder")
    for out, dropped in (("new/t.parquet", "blocker/x.jsonl"), ("blocker/t.parquet", "x.jsonl")):
        r = cli("curate", str(replay_run), "--pass-rate", "0.25:0.75", "--format", "verl", "--out", out,
                "--dropped", dropped, cwd=tmp_path)
        assert r.returncode == 2, r.stderr
        assert r.stderr.startswith("evalkit: error: blocker/") and "cannot write it" in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert sorted(p.name for p in tmp_path.iterdir()) == ["blocker"]  # neither file, nor the folder new/


def test_summary_names_the_ngram_length_used(replay_run, tmp_path):
    result = curate(replay_run, "0:1", "trl", tmp_path / "t.jsonl", decontaminate=["math500"], ngram=5)
    assert "decontaminated against 1 benchmarks (5-word n-grams): math500" in summary_table(result)


def test_decontamination_catches_a_long_span_not_a_short_one():
    source = "the quick brown fox jumps over the lazy dog while seven tired cats watch from a sunny window sill"
    index = NgramIndex([("bench", "b1", source)])
    span = " ".join(source.split()[2:2 + NGRAM])
    short = " ".join(source.split()[2:2 + NGRAM - 1])
    found = index.find([f"Once, {span.upper()}!", f"Once, {short} and more", "", "unrelated words " * 20])
    assert found[0] is not None and (found[0].task, found[0].problem_id) == ("bench", "b1")
    assert found[0].ngram == span
    assert found[1:] == [None, None, None]


def test_stock_phrasing_several_benchmarks_share_is_no_contamination_and_their_own_text_is():
    # AIME's "... where m and n are relatively prime positive integers. Find m+n." flagged a fifth of each other year's
    # problems, and any new problem ending so; the R1 instruction in a bundled copy's problem text flagged any problem
    # that ended with it
    stock = "can be written as m/n where m and n are relatively prime positive integers. Find m+n."
    bench = [("aime24", "1", f"A fair coin is tossed ten times and the chance of no two heads in a row {stock}"),
             ("aime24", "2", f"Triangle ABC has sides 13, 14 and 15 and the radius of its incircle {stock}"),
             ("aime25", "3", f"Alice picks a random divisor of 2025 and the chance that it is odd {stock}"),
             ("aime25", "4", "Find the number of ordered pairs of integers with product 2025 and sum divisible by 7.\n"
                             "Please reason step by step, and put your final answer within \\boxed{}.")]
    index = NgramIndex(bench)
    fresh = [f"Two dice are rolled and the chance that their sum is prime {stock}",
             "Find the remainder when 3^100 is divided by 1000.\nPlease reason step by step, and put your final "
             "answer within \\boxed{}."]
    assert index.find(fresh) == [None, None]
    copied = index.find([bench[1][2], "Find the number of ordered pairs of integers with product 2025 and sum "
                                      "divisible by 7."])
    assert [(hit.task, hit.problem_id) if hit else None for hit in copied] == [("aime24", "2"), ("aime25", "4")]


def test_ngram_index_agrees_with_a_plain_set_loop():
    rng = random.Random(0)
    vocab = [f"w{i}" for i in range(40)]
    bench = [" ".join(rng.choice(vocab) for _ in range(30)) for _ in range(20)]
    texts = []
    for i in range(300):
        t = [rng.choice(vocab) for _ in range(rng.randint(0, 40))]
        if i % 7 == 0:  # plant a benchmark span somewhere
            b = words(rng.choice(bench))
            at = rng.randint(0, len(b) - NGRAM)
            t[len(t) // 2:len(t) // 2] = b[at:at + NGRAM]
        texts.append(" ".join(t))
    grams = {tuple(ws[i:i + NGRAM]) for ws in map(words, bench) for i in range(len(ws) - NGRAM + 1)}
    plain = [any(tuple(ws[i:i + NGRAM]) in grams for i in range(len(ws) - NGRAM + 1)) for ws in map(words, texts)]
    index = NgramIndex([("b", str(i), t) for i, t in enumerate(bench)])
    assert [hit is not None for hit in index.find(texts)] == plain
    assert sum(plain) >= 300 // 7


def test_curate_index_of_all_builtin_benchmarks():
    index = NgramIndex.from_tasks(["all"])
    assert {"math500", "aime24", "gsm8k", "humaneval", "mbpp"} <= set(index.tasks)
    assert "demo" not in index.tasks
    [hit] = index.find([re.sub(r"\s+", " ", REWORDED)])
    assert hit is not None and hit.task == "math500"


def test_curate_measures_what_the_report_counts_after_a_smaller_rerun(replay_run, tmp_path):
    # the run again with -n 2 --limit 3: samples.jsonl keeps all 4 samples of all 7 problems, but
    # results.json (and the report) count the first 2 samples of the first 3 problems; so must curate
    run = tmp_path / "run"
    shutil.copytree(replay_run, run)
    config = json.loads((run / "config.json").read_text())
    evalkit.evaluate([config["tasks"][0]["path"]], completions=config["completions"], out=run, n=2, limit=3,
                     progress=False, trace=False)
    assert len(read_lines(run / "samples.jsonl")) == 28
    r = cli("curate", str(run), "--pass-rate", "0:1", "--format", "trl", "--out", "train.jsonl", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    rows = read_lines(tmp_path / "train.jsonl")
    assert [(row["problem_id"], row["pass_rate"], row["n_samples"]) for row in rows] == [
        ("p0", 0.0, 2), ("p1", 0.5, 2), ("p2", 1.0, 2)]
    [result] = json.loads((run / "results.json").read_text())["results"]
    assert result["metrics"]["avg@n"]["value"] == pytest.approx(sum(row["pass_rate"] for row in rows) / 3)


def test_decontamination_catches_a_short_benchmark_problem_copied_whole():
    # 51 MATH-500 problems have fewer than 13 words: no 13-gram can ever match them
    short = "How many positive whole-number divisors does 196 have?"
    index = NgramIndex([("bench", "b1", short)])
    found = index.find([short, "Problem 3. how many positive whole number divisors does 196 have? Explain.",
                        "How many positive whole-number divisors does 169 have?", "How many divisors"])
    assert [(hit.problem_id, hit.ngram) if hit else None for hit in found] == [
        ("b1", "how many positive whole number divisors does 196 have")] * 2 + [None, None]
    # one word is no span: a benchmark "problem" of one word flags nothing
    assert NgramIndex([("bench", "b2", "Solve.")]).find(["Solve for x.", "solve"]) == [None, None]


def test_decontamination_reads_unicode_spacing_and_punctuation_as_ascii():
    source = "Let’s say the quick brown fox jumps over the lazy dog — while seven tired cats watch a window."
    index = NgramIndex([("bench", "b1", source)])
    copies = [
        "Let's say the quick brown fox jumps over the lazy dog -- while seven tired cats",  # ASCII retyped
        "\u00a0".join("let\u2019s say the quick brown fox jumps over the lazy dog while".split()),  # no-break spaces
        "the quick brown fox jumps over the lazy dog。while seven tired cats watch",  # ideographic full stop
        "the qu\u200bick brown fox jumps over the lazy dog while seven tired cats",  # zero-width space
        "ＴＨＥ quick brown fox jumps over the lazy dog while seven tired cats",  # fullwidth letters
    ]
    assert all(hit is not None and hit.problem_id == "b1" for hit in index.find(copies)), index.find(copies)
    assert words("x\u00a0≤\u00a0y—z’s café") == words("x <= y-z's cafe\u0301") == ["x", "y", "z", "s", "café"]


def test_decontamination_reads_latex_spellings_of_one_problem_as_one():
    # a copy whose only change was `\\frac12` for `\\frac{1}{2}`, `\\dfrac` or no `\\left`/`\\right` was kept: the
    # command read as a word of its own (`frac12` against `frac 1 2`); MATH-500 has dozens of problems so spelled
    source = "Solve $\\left(\\frac{1}{2}\\right)^x = \\frac{3}{4}$ for real x."  # short: matched whole
    index = NgramIndex([("bench", "b1", source)])
    copies = [source.replace("\\frac{1}{2}", "\\frac12"), source.replace("\\frac", "\\dfrac"),
              source.replace("\\left", "").replace("\\right", ""), source.replace("\\frac{1}{2}", "1/2"),
              source.replace("\\frac{3}{4}", "\\tfrac 34"), source.replace("\\frac{1}{2}", "\u00bd")]
    assert [hit and hit.problem_id for hit in index.find(copies)] == ["b1"] * len(copies)
    assert words("\\frac{1}{2} \\dfrac12 1/2 \\fraction \\leftarrow") == ["1", "2", "1", "2", "1", "2",
                                                                              "fraction", "leftarrow"]
    # the words around a fraction still tell problems apart
    assert index.find(["Solve $\\left(\\frac{1}{2}\\right)^x = \\frac{3}{5}$ for real x."]) == [None]


def test_decontamination_reads_a_subscript_with_or_without_braces_as_one():
    # `x_1` is one word and `x_{1}` was three (`x_`, `1` and what follows): a copy that only braced or unbraced its
    # subscripts was kept (8 of 95 such OlympiadBench problems, MATH-500's determinant of x_1, x_2, ...)
    source = "Find the determinant whose rows are $x_1, x_2, x_3$ and $\\log_{2} 64$."  # short: matched whole
    index = NgramIndex([("bench", "b1", source)])
    copies = [source.replace("x_1", "x_{1}").replace("x_2", "x_{2}").replace("x_3", "x_{ 3 }"),
              source.replace("\\log_{2} 64", "\\log_{2}64")]
    assert [hit and hit.problem_id for hit in index.find(copies)] == ["b1"] * len(copies)
    assert words("x_{1} + x_1 = a_{n+1}") == ["x_1", "x_1", "a_", "n", "1"]  # a sum in braces is left as written
    assert words("x_{1}x_{2}") == words("x_{1} x_{2}") == ["x_1", "x_2"]  # spacing after the brace is no word


def test_ngram_index_agrees_with_a_plain_loop_on_short_problems_and_unicode():
    rng = random.Random(1)
    vocab = [f"w{i}" for i in range(30)] + ["ß", "café", "x²"]
    gaps = [" ", "\u00a0", " — ", ", ", "\u3000", "’"]

    def text(ws):
        return "".join(w + rng.choice(gaps) for w in ws)

    bench = [[rng.choice(vocab) for _ in range(rng.randint(1, 30))] for _ in range(40)]
    texts = []
    for i in range(400):
        t = [rng.choice(vocab) for _ in range(rng.randint(0, 40))]
        if i % 5 == 0:
            b = rng.choice(bench)
            at = rng.randint(0, max(0, len(b) - NGRAM))
            t[len(t) // 2:len(t) // 2] = b[at:at + NGRAM]
        texts.append(text(t))
    bench_words = [words(text(b)) for b in bench]
    grams = {tuple(ws[i:i + NGRAM]) for ws in bench_words for i in range(len(ws) - NGRAM + 1)}
    whole = {tuple(ws) for ws in bench_words if 2 <= len(ws) < NGRAM}
    every = grams | whole
    plain = [any(tuple(ws[i:i + k]) in every for k in {len(g) for g in every} for i in range(len(ws) - k + 1))
             for ws in map(words, texts)]
    index = NgramIndex([("b", str(i), text(b)) for i, b in enumerate(bench)])
    assert [hit is not None for hit in index.find(texts)] == plain
    assert 0 < sum(plain) < len(texts)


def test_curate_never_writes_over_the_run_or_its_task_data(replay_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(replay_run, run)
    data = Path(json.loads((run / "config.json").read_text())["tasks"][0]["path"]).parent / "problems.jsonl"
    before = {p: p.read_bytes() for p in (run / "samples.jsonl", run / "config.json", data)}
    for option, path, says in (("--out", run / "samples.jsonl", "is the run's samples"),
                                ("--dropped", run / "config.json", "is the run's config"),
                                # its lock, replaced, let a second run write the directory beside the first
                                ("--out", run / ".lock", "is the run's lock"),
                                ("--out", data, "is task toy's dataset")):
        args = ["--out", "t.jsonl", "--dropped", "d.jsonl"]
        args[args.index(option) + 1] = str(path)
        r = cli("curate", str(run), "--pass-rate", "0.25:0.75", "--format", "trl", *args, cwd=tmp_path)
        assert r.returncode == 2 and says in r.stderr, r.stderr
        assert r.stderr.startswith("evalkit: error: ") and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert {p: p.read_bytes() for p in before} == before
    assert not (tmp_path / "t.jsonl").exists() and not (tmp_path / "d.jsonl").exists()


def test_curate_never_writes_over_the_benchmarks_it_decontaminates_against(replay_run, tmp_path):
    # `--dropped BENCH_DATA --decontaminate BENCH.yaml` emptied the benchmark's data, exit 0
    spec = Path(json.loads((replay_run / "config.json").read_text())["tasks"][0]["path"])
    bench = tmp_path / "bench"
    shutil.copytree(spec.parent, bench)
    before = {p: p.read_bytes() for p in bench.iterdir() if p.is_file()}
    for option, path, says in (("--dropped", bench / "problems.jsonl", "is benchmark toy's dataset (--decontaminate)"),
                                ("--out", bench / spec.name, "is benchmark toy's spec (--decontaminate)")):
        args = ["--out", "t.jsonl", "--dropped", "d.jsonl"]
        args[args.index(option) + 1] = str(path)
        r = cli("curate", str(replay_run), "--pass-rate", "0:1", "--format", "trl", *args,
                "--decontaminate", str(bench / spec.name), cwd=tmp_path)
        assert r.returncode == 2 and says in r.stderr, r.stderr
    assert {p: p.read_bytes() for p in bench.iterdir() if p.is_file()} == before
    assert not (tmp_path / "t.jsonl").exists()


def test_export_curate_and_report_never_write_over_another_runs_files(replay_run, tmp_path):
    # each protected only what it read: `--out OTHER_RUN/samples.jsonl` replaced another run's samples, exit 0
    other = tmp_path / "other"
    shutil.copytree(replay_run, other)
    spec = json.loads((other / "config.json").read_text())["tasks"][0]["path"]
    before = {p: p.read_bytes() for p in other.iterdir() if p.is_file()}
    for args, says in ((["export", spec, "--format", "trl", "--out", str(other / "samples.jsonl")], "the run's samples"),
                       (["curate", str(replay_run), "--pass-rate", "0:1", "--format", "trl", "--out", "t.jsonl",
                         "--dropped", str(other / "results.json")], "the run's results"),
                       (["report", str(replay_run), "--out", str(other / "config.json")], "the run's config"),
                       (["report", str(replay_run), "--out", str(other / "index.html")], "the run's report"),
                       (["report", str(replay_run), str(replay_run), "--out", str(other / "samples.jsonl")],
                        "the run's samples")):
        r = cli(*args, cwd=tmp_path)
        assert r.returncode == 2 and f"is {says}; choose another path" in r.stderr, (args, r.stderr)
    assert {p: p.read_bytes() for p in other.iterdir() if p.is_file()} == before
    r = cli("report", str(replay_run), "--out", str(other / "theirs.html"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr  # a file of its own beside another run's is fine


def test_report_and_analyze_never_write_over_the_task_spec_or_data_a_rerun_reads(replay_run, tmp_path):
    # `report RUN --out problems.jsonl` put the HTML page where the task's data was, exit 0
    task = json.loads((replay_run / "config.json").read_text())["tasks"][0]
    spec, data = Path(task["path"]), Path(task["dataset"]["local"])
    before = {p: p.read_bytes() for p in (spec, data)}
    for args, says in ((["report", str(replay_run), "--out", str(data)], "task toy's dataset"),
                       (["report", str(replay_run), str(replay_run), "--out", str(data)], "task toy's dataset"),
                       (["analyze", str(replay_run), "--out", str(spec)], "task toy's spec")):
        r = cli(*args, cwd=tmp_path)
        assert r.returncode == 2 and f"is {says}; choose another path" in r.stderr, (args, r.stderr)
    assert {p: p.read_bytes() for p in (spec, data)} == before


@pytest.mark.parametrize("field, value, says", [
    ("tasks", "toy", "config.json: field 'tasks': expected a list of the run's task specs"),
    ("tasks", ["toy"], "config.json: field 'tasks': expected a list of the run's task specs"),
    ("identity", ["x"], "config.json: field 'identity': expected an object"),
])
def test_curate_names_the_field_of_a_bad_config(replay_run, tmp_path, field, value, says):
    run = copy_run(replay_run, tmp_path / "run", lambda rs: rs)
    config = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps(dict(config, **{field: value})))
    r = cli("curate", str(run), "--pass-rate", "0:1", "--format", "trl", "--out", "t.jsonl", cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.startswith("evalkit: error: ") and says in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not (tmp_path / "t.jsonl").exists()


def test_a_corrupt_problem_ids_list_is_named_not_read_as_a_substring(replay_run, tmp_path):
    # config.json's problem_ids (a --limit run's problems) hand-edited into one string: "p1p2" holds "p1"
    run = copy_run(replay_run, tmp_path / "run", lambda rs: rs)
    config = json.loads((run / "config.json").read_text())
    config["tasks"][0]["problem_ids"] = "p1p2"
    (run / "config.json").write_text(json.dumps(config))
    for args in (("curate", str(run), "--pass-rate", "0:1", "--format", "trl", "--out", "t.jsonl"),
                 ("report", str(run))):
        r = cli(*args, cwd=tmp_path)
        assert r.returncode == 2 and "field 'problem_ids': expected a list of strings" in r.stderr, r.stderr
    assert not (tmp_path / "t.jsonl").exists()


def test_curate_rows_carry_the_runs_think_format_for_the_rewards(tmp_path):
    # a run of a Sky-T1-style model: its rows must tell the rewards how that policy thinks
    (tmp_path / "problems.jsonl").write_text(json.dumps({"qid": "p0", "question": "What is $2+3$?", "gold": "5"}) + "\n")
    (tmp_path / "toy.yaml").write_text("name: toy\ndataset: {local: problems.jsonl}\n"
                                       "fields: {id: qid, problem: question, answer: gold}\nverifier: math\n")
    sky = ("<|begin_of_thought|>\nthe answer is \\boxed{{7}}\n<|end_of_thought|>\n\n"
           "<|begin_of_solution|>\n\\boxed{{{}}}\n<|end_of_solution|>")
    (tmp_path / "theirs.jsonl").write_text("".join(json.dumps(
        {"problem_id": "p0", "sample": s, "model": "m", "completion": sky.format(5 if s else 9)}) + "\n" for s in range(2)))
    evalkit.evaluate([str(tmp_path / "toy.yaml")], completions=str(tmp_path / "theirs.jsonl"), out=tmp_path / "run",
                     progress=False, trace=False, think_format="sky")
    r = cli("curate", "run", "--pass-rate", "0:1", "--format", "trl", "--out", "train.jsonl", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    columns = {k: [v] for k, v in read_lines(tmp_path / "train.jsonl")[0].items() if k != "prompt"}
    assert columns["think_format"] == ["sky"] and columns["pass_rate"] == [0.5]
    from evalkit.rewards import math_reward

    # the answer is the solution block's, not the 7 inside the thoughts
    assert math_reward(completions=[sky.format(5)], **columns) == [1.0]
    assert math_reward(completions=[sky.format(7)], **columns) == [0.0]
    # the policy to be trained may think otherwise: --think-format says so, as for `evalkit export`
    r = cli("curate", "run", "--pass-rate", "0:1", "--format", "trl", "--out", "r1.jsonl", "--think-format", "r1",
            cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert read_lines(tmp_path / "r1.jsonl")[0]["think_format"] == "r1"
    bad = cli("curate", "run", "--pass-rate", "0:1", "--format", "trl", "--out", "x.jsonl", "--think-format", "nope",
              cwd=tmp_path)
    assert bad.returncode == 2 and "nope" in bad.stderr and not (tmp_path / "x.jsonl").exists()


def test_curate_never_writes_over_a_replay_file_typed_relative_from_elsewhere(replay_run, tmp_path):
    # the run was made with `--completions theirs.jsonl` in its folder; curate runs from the folder above
    root = tmp_path / "work"
    root.mkdir()
    for name in ("problems.jsonl", "toy.yaml", "theirs.jsonl"):
        shutil.copy(replay_run.parent / name, root / name)
    r = cli("run", "toy.yaml", "--completions", "theirs.jsonl", "--out", "run", "--no-trace", cwd=root)
    assert r.returncode == 0, r.stderr
    before = (root / "theirs.jsonl").read_bytes()
    for cwd, out in ((root, "theirs.jsonl"), (tmp_path, "work/theirs.jsonl")):
        run = os.path.relpath(root / "run", cwd)
        r = cli("curate", run, "--pass-rate", "0:1", "--format", "trl", "--out", out, cwd=cwd)
        assert r.returncode == 2 and "is the run's replay file" in r.stderr, r.stderr
        assert r.stderr.startswith("evalkit: error: ") and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert (root / "theirs.jsonl").read_bytes() == before


def test_curate_writes_files_with_the_modes_the_umask_gives(replay_run, tmp_path):
    import stat

    old = os.umask(0o022)
    try:
        r = cli("curate", str(replay_run), "--pass-rate", "0.25:0.75", "--format", "trl", "--out", "train.jsonl",
                cwd=tmp_path)
    finally:
        os.umask(old)
    assert r.returncode == 0, r.stderr
    # as the run's own files are under that umask, not 0600
    modes = {stat.S_IMODE((tmp_path / name).stat().st_mode) for name in ("train.jsonl", "train.dropped.jsonl")}
    assert modes == {0o644}


def test_verl_code_rows_beside_list_golds_still_score(tmp_path):
    # a run of a code task and a math task with a list gold: curate made every gold a list (parquet holds
    # one type per column), so a code row's tests became ['{...}'] and every code answer scored 0, unjudged
    import pandas as pd

    from evalkit.rewards.verl import compute_score

    (tmp_path / "m.jsonl").write_text(json.dumps({"id": "a", "q": "Half of 14?", "a": ["7", "7.0"]}) + "\n")
    (tmp_path / "m.yaml").write_text("name: m\ndataset: {local: m.jsonl}\nfields: {id: id, problem: q, answer: a}\n")
    solution = ("<think>\nok\n</think>\n```python\ndef has_close_elements(numbers, threshold):\n"
                "    return any(abs(a - b) < threshold for i, a in enumerate(numbers) for b in numbers[i + 1:])\n```")
    rows = [{"task": "humaneval", "problem_id": "HumanEval/0", "sample": s, "completion": solution if s else "no"}
            for s in range(2)]
    rows += [{"task": "m", "problem_id": "a", "sample": s, "completion": "\\boxed{7}" if s else "\\boxed{6}"}
             for s in range(2)]
    (tmp_path / "c.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    r = cli("run", "humaneval", str(tmp_path / "m.yaml"), "--limit", "1", "--completions", "c.jsonl",
            "--no-progress", "--out", "run", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    r = cli("curate", "run", "--pass-rate", "0:1", "--format", "verl", "--out", "v.parquet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    by_source = {row["extra_info"]["task"] if "task" in row["extra_info"] else row["data_source"]: row
                 for row in pd.read_parquet(tmp_path / "v.parquet").to_dict("records")}
    code = next(row for row in by_source.values() if "style" in str(row["reward_model"]["ground_truth"]))
    got = compute_score(code["data_source"], solution, code["reward_model"]["ground_truth"], code["extra_info"])
    assert (got["score"], got["unjudged"]) == (1.0, 0.0), got
    maths = next(row for row in by_source.values() if row is not code)
    assert compute_score(maths["data_source"], "\\boxed{7.0}", maths["reward_model"]["ground_truth"],
                         maths["extra_info"])["score"] == 1.0


def test_decontamination_against_a_bundled_sample_says_so(replay_run, tmp_path):
    # offline, LiveCodeBench is its bundled 3-problem sample: the summary said "decontaminated against
    # livecodebench" as if the whole benchmark had been checked
    r = cli("curate", str(replay_run), "--pass-rate", "0:1", "--format", "trl", "--out", "t.jsonl",
            "--decontaminate", "livecodebench,math500", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "checked against a bundled sample only, not the whole benchmark (the hub was not reached): livecodebench" \
        in r.stdout and "math500" not in r.stdout.split("bundled sample only")[1], r.stdout
    assert "decontamination against livecodebench reads its bundled sample of 3 problems" in r.stderr


def test_curate_names_chat_template_options_given_on_the_command_line(tmp_path):
    # options from `evalkit run --chat-template-kwargs` are in the run's record, not in the task's YAML: curate named
    # only the YAML's, and rows measured with enable_thinking false went out with no note
    root = tmp_path
    (root / "problems.jsonl").write_text("".join(json.dumps({"qid": pid, "question": text, "gold": answer}) + "\n"
                                                 for pid, (text, answer, _) in PROBLEMS.items()))
    (root / "toy.yaml").write_text("name: toy\ndataset: {local: problems.jsonl}\n"
                                   "fields: {id: qid, problem: question, answer: gold}\nverifier: math\n")
    (root / "theirs.jsonl").write_text("".join(
        json.dumps({"problem_id": pid, "sample": s, "completion": f"\\boxed{{{answer if s < right else 999}}}"}) + "\n"
        for pid, (_, answer, right) in PROBLEMS.items() for s in range(4)))
    run = evalkit.evaluate([str(root / "toy.yaml")], completions=str(root / "theirs.jsonl"), out=root / "run",
                           progress=False, trace=False, chat_template_kwargs={"enable_thinking": False})
    r = cli("curate", str(run.run_dir), "--pass-rate", "0:1", "--format", "trl", "--out", str(root / "t.jsonl"),
            cwd=root)
    assert r.returncode == 0, r.stderr
    assert 'note: task toy asks with chat template options {"enable_thinking": false}' in r.stdout + r.stderr
