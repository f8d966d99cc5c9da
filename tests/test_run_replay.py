"""`evalkit run` end to end on the replay backend: the demo, users' completion files, resume, bad input."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import evalkit
from evalkit.errors import InputError
from evalkit.types import SAMPLE_KEYS


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "evalkit", *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=300)


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_demo_runs_offline_and_reports_each_model(tmp_path):
    r = cli("run", "demo", "--no-progress", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    run_dir = tmp_path / "reports" / "demo--completions"
    for model in ("deepseek-reasoner", "DeepSeek-R1-Distill-Llama-8B", "DeepSeek-R1-Distill-Qwen-7B",
                  "DeepSeek-R1-Distill-Qwen-14B"):
        assert model in r.stdout
    samples = lines(run_dir / "samples.jsonl")
    assert len(samples) == 110 and all(list(s) == list(SAMPLE_KEYS) for s in samples)
    assert {s["reason"] for s in samples} >= {"correct", "wrong", "truncated"}
    results = json.loads((run_dir / "results.json").read_text())["results"]
    assert len(results) == 4 and all("avg@n" in r["metrics"] for r in results)
    assert (run_dir / "index.html").stat().st_size > 1000
    config = json.loads((run_dir / "config.json").read_text())
    assert config["backend"] == "replay" and config["tasks"][0]["dataset_source"] == "local"

    again = cli("run", "demo", "--no-progress", cwd=tmp_path)
    assert again.returncode == 0 and "0 samples new, 110 reused" in again.stdout
    assert len(lines(run_dir / "samples.jsonl")) == 110

    frame = evalkit.load_run(run_dir)
    assert len(frame) == 110 and set(frame["model"]) == {s["model"] for s in samples}
    assert len(evalkit.load_run(run_dir / "samples.jsonl")) == 110
    # another file of the folder, or one that is not there, was read as the run's 110 samples
    (run_dir / "traced.jsonl").write_text(json.dumps(samples[0]) + "\n")
    for other, says in (("traced.jsonl", "expected a run directory or its samples.jsonl"),
                        ("gone.jsonl", "no such run directory or file")):
        with pytest.raises(InputError, match=re.escape(f"{run_dir / other}: {says}")):
            evalkit.load_run(run_dir / other)


def test_load_run_keeps_token_counts_whole_where_some_samples_lack_them(tmp_path):
    # a run whose recorded completions gave token counts for some samples only: load_run's column was
    # float64 (7.0, NaN), so `df.completion_tokens` printed and exported as fractions
    (tmp_path / "p.jsonl").write_text(json.dumps({"id": "m", "problem": "2+3?", "answer": "5"}) + "\n")
    (tmp_path / "t.yaml").write_text("name: t\ndataset: {local: p.jsonl}\nfields: {id: id}\n")
    rows = [{"problem_id": "m", "sample": 0, "completion": "\\boxed{5}", "completion_tokens": 7},
            {"problem_id": "m", "sample": 1, "completion": "\\boxed{4}"}]
    run = evalkit.evaluate([str(tmp_path / "t.yaml")], completions=_replay_file(tmp_path / "c.jsonl", rows),
                           out=tmp_path / "run", progress=False)
    frame = evalkit.load_run(run.run_dir)
    tokens = frame.set_index("sample")["completion_tokens"]
    assert str(tokens.dtype) == "Int64" and tokens[0] == 7 and tokens.isna()[1]
    assert frame["completion_tokens"].to_string(index=False).split() == ["7", "<NA>"]
    assert tokens.sum() == 7 and frame["sample"].dtype == "int64"


def _replay_file(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_users_completions_are_scored_per_the_design(tmp_path):
    rows = [
        {"problem_id": "test/precalculus/807.json", "sample": 0,
         "completion": "<think>\nr = 3, theta = pi/2\n</think>\nThe answer is $\\boxed{\\left(3, \\frac{\\pi}{2}\\right)}$."},
        {"problem_id": "test/precalculus/807.json", "sample": 1,
         "completion": "<think>\nhmm, maybe (3, 0)\n</think>\n\\boxed{(3, 0)}"},
        {"problem_id": "test/intermediate_algebra/1994.json", "sample": 0,
         "completion": "<think>\nlet me think about this for a very long", "finish_reason": "length"},
        {"problem_id": "test/intermediate_algebra/1994.json", "sample": 1,
         "completion": "<think>\nthe answer is surely \\boxed{p - q}\n</think>\nI could not finish."},
    ]
    f = _replay_file(tmp_path / "theirs.jsonl", rows)
    result = evalkit.evaluate(["math500"], completions=f, limit=2, n=2, out=tmp_path / "run", progress=False)
    got = {(s["problem_id"], s["sample"]): s for s in lines(result.samples_path)}
    assert got[("test/precalculus/807.json", 0)]["reason"] == "correct"
    assert got[("test/precalculus/807.json", 1)]["reason"] == "wrong"
    assert got[("test/intermediate_algebra/1994.json", 0)]["reason"] == "truncated"
    # an answer only inside the think block does not count
    assert got[("test/intermediate_algebra/1994.json", 1)]["correct"] is False
    assert result.results[0]["metrics"]["avg@n"]["value"] == pytest.approx(0.25)
    assert result.results[0]["n_truncated"] == 1


def test_replay_ids_that_match_no_problem_are_a_clear_error(tmp_path):
    f = _replay_file(tmp_path / "c.jsonl", [{"problem_id": "nope", "sample": 0, "completion": "x"}])
    r = cli("run", "aime24", "--completions", str(f), "--out", str(tmp_path / "run"))
    assert r.returncode == 2 and "no replayed record matches a problem of aime24" in r.stderr
    assert not (tmp_path / "run").exists()


def test_n_and_limit_grow_and_changed_settings_are_refused(tmp_path):
    rows = [{"problem_id": str(i), "sample": s, "completion": f"\\boxed{{{i}}}"} for i in range(60, 66) for s in range(4)]
    f = _replay_file(tmp_path / "c.jsonl", rows)
    out = tmp_path / "run"
    first = cli("run", "aime24", "--completions", str(f), "-n", "2", "--limit", "3", "--out", str(out), "--no-progress")
    assert first.returncode == 0, first.stderr and "6 samples new, 0 reused" in first.stdout
    grown = cli("run", "aime24", "--completions", str(f), "-n", "4", "--limit", "6", "--out", str(out), "--no-progress")
    assert grown.returncode == 0 and "18 samples new, 6 reused" in grown.stdout
    keys = [(s["problem_id"], s["sample"]) for s in lines(out / "samples.jsonl")]
    assert len(keys) == len(set(keys)) == 24
    changed = cli("run", "aime24", "--completions", str(f), "--temperature", "0.1", "--out", str(out))
    assert changed.returncode == 2 and "temperature: 0.6 -> 0.1" in changed.stderr and "--overwrite" in changed.stderr
    over = cli("run", "aime24", "--completions", str(f), "--temperature", "0.1", "-n", "1", "--out", str(out),
               "--overwrite", "--no-progress")
    assert over.returncode == 0 and len(lines(out / "samples.jsonl")) == 6  # one sample each of the 6 replayed problems


def test_a_long_prompt_changed_in_one_word_is_refused_showing_where_it_changed(tmp_path):
    # both sides were cut at the same 120 characters: "'{% set options = …' -> '{% set options = …'"
    (tmp_path / "d.jsonl").write_text(json.dumps({"question": "2+2?", "answer": "4"}) + "\n")
    boiler = "You are given a question. Read every word of it with care before you answer. " * 3
    spec = tmp_path / "t.yaml"
    spec.write_text(f"name: t\ndataset: {{local: d.jsonl}}\nfields: {{problem: question}}\n"
                    f"prompt: '{boiler}Think step by step. {{{{ problem }}}}'\n")
    f = _replay_file(tmp_path / "c.jsonl", [{"problem_id": "0", "sample": 0, "completion": "\\boxed{4}"}])
    out = tmp_path / "run"
    assert cli("run", str(spec), "--completions", str(f), "--out", str(out), "--no-progress").returncode == 0
    spec.write_text(spec.read_text().replace("step by step", "step-by-step"))
    r = cli("run", str(spec), "--completions", str(f), "--out", str(out))
    assert r.returncode == 2, r.stderr
    at = len(boiler) + len("Think step") + 1
    assert f"prompt: differs from character {at}: " in r.stderr, r.stderr
    assert "Think step by step." in r.stderr and "Think step-by-step." in r.stderr, r.stderr


def test_the_answer_checks_the_gold_of_every_sample_against_the_design(tmp_path):
    # AIME's zero-padded gold and AMC's float gold both accept the plain integer
    aime = _replay_file(tmp_path / "a.jsonl", [{"problem_id": "60", "sample": 0, "completion": "\\boxed{204}"}])
    r = evalkit.evaluate(["aime24"], completions=aime, limit=1, n=1, out=tmp_path / "a", progress=False)
    assert r.results[0]["metrics"]["avg@n"]["value"] == 1.0
    amc = _replay_file(tmp_path / "b.jsonl", [{"problem_id": "0", "sample": 0, "completion": "\\boxed{27}"}])
    r = evalkit.evaluate(["amc23"], completions=amc, limit=1, n=1, out=tmp_path / "b", progress=False)
    assert r.results[0]["metrics"]["avg@n"]["value"] == 1.0


BAD = [
    (["run", "math5000", "--completions", "{c}"], "unknown task 'math5000'"),
    (["run", "{bad_yaml}", "--completions", "{c}"], "bad.yaml:3: malformed YAML"),
    (["run", "{missing_col}", "--completions", "{c}"], "column 'problem'"),
    (["run", "math500", "--completions", "{corrupt}"], "corrupt.jsonl:2: corrupt JSON line"),
    (["run", "math500", "--completions", "{nofield}"], "nofield.jsonl:1: field 'completion' is missing"),
    (["run", "aime24", "--backend", "openai", "--model", "m", "--base-url", "http://127.0.0.1:9/v1"],
     "cannot reach the server at http://127.0.0.1:9/v1"),
    (["run", "aime24", "--backend", "transformers", "--model", "no-such-org/no-such-model"],
     "model 'no-such-org/no-such-model' does not exist locally"),
    (["run", "aime24", "--backend", "vllm", "--model", "{tmp}/not-a-model"], "not-a-model"),
    (["run", "{broken_spec}", "--completions", "{c}"], "broken.json: cannot read as json (Expecting ',' delimiter: line 1 column 12)"),
    (["run", "{type_error}", "--completions", "{c}"], "type.yaml:3: field 'prompt' on problem '0': TypeError"),
    # named the backend's internal options (records, model)
    (["run", "math500", "--completions", "{c}", "--max-model-len", "100", "--request-timeout", "5"],
     "--max-model-len, --request-timeout: no options of a replay, which generates nothing"),
]


@pytest.mark.parametrize("args, message", BAD, ids=[b[1][:30] for b in BAD])
def test_bad_input_is_one_line_exit_2_and_no_run_directory(tmp_path, args, message):
    (tmp_path / "c.jsonl").write_text(json.dumps({"problem_id": "0", "sample": 0, "completion": "x"}) + "\n")
    (tmp_path / "corrupt.jsonl").write_text('{"problem_id": "0", "sample": 0, "completion": "x"}\n{"problem_id": \n')
    (tmp_path / "nofield.jsonl").write_text(json.dumps({"problem_id": "0", "sample": 0, "text": "x"}) + "\n")
    (tmp_path / "bad.yaml").write_text("name: bad\ndataset:\n  local: [unclosed\n")
    (tmp_path / "d.jsonl").write_text(json.dumps({"question": "q", "answer": "1"}) + "\n")
    (tmp_path / "missing.yaml").write_text("name: missing\ndataset: {local: d.jsonl}\n")
    (tmp_path / "not-a-model").write_text("just a file")
    (tmp_path / "broken.json").write_text('{"a": [1, 2')
    (tmp_path / "broken.yaml").write_text("name: broken\ndataset: {local: broken.json}\n")
    (tmp_path / "type.yaml").write_text("name: t\ndataset: {local: d.jsonl}\nprompt: '{{ answer + 1 }}'\n"
                                        "fields: {problem: question}\n")
    subs = {"c": tmp_path / "c.jsonl", "corrupt": tmp_path / "corrupt.jsonl", "nofield": tmp_path / "nofield.jsonl",
            "bad_yaml": tmp_path / "bad.yaml", "missing_col": tmp_path / "missing.yaml", "tmp": tmp_path,
            "broken_spec": tmp_path / "broken.yaml", "type_error": tmp_path / "type.yaml"}
    argv = [a.format(**subs) for a in args] + ["--out", str(tmp_path / "run")]
    r = cli(*argv)
    assert r.returncode == 2, (r.stdout, r.stderr)
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("evalkit: error:") and message in err[0], r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "run").exists()


def test_tasks_lists_the_builtin_benchmarks():
    r = cli("tasks")
    assert r.returncode == 0
    for name in ("math500", "aime24", "aime25", "amc23", "gsm8k", "minerva_math", "olympiadbench", "demo"):
        assert name in r.stdout


def test_a_prompt_naming_a_missing_column_is_a_clear_error(tmp_path):
    (tmp_path / "d.jsonl").write_text(json.dumps({"problem": "1+1?", "answer": "2"}) + "\n")
    (tmp_path / "t.yaml").write_text("name: t\ndataset: {local: d.jsonl}\nprompt: '{{ question }}'\n")
    f = _replay_file(tmp_path / "c.jsonl", [{"problem_id": "0", "sample": 0, "completion": "\\boxed{2}"}])
    r = cli("run", str(tmp_path / "t.yaml"), "--completions", str(f), "--out", str(tmp_path / "run"))
    assert r.returncode == 2 and "field 'prompt'" in r.stderr and "'question' is undefined" in r.stderr
    assert "available columns: problem, answer" in r.stderr and not (tmp_path / "run").exists()


def test_overwrite_keeps_the_old_run_when_the_new_one_cannot_start(tmp_path):
    f = _replay_file(tmp_path / "c.jsonl", [{"problem_id": "60", "sample": 0, "completion": "\\boxed{204}"}])
    out = tmp_path / "run"
    assert cli("run", "aime24", "--completions", str(f), "--out", str(out), "--no-progress").returncode == 0
    bad = cli("run", "aime24", "--backend", "transformers", "--model", "no-such/model", "--out", str(out), "--overwrite")
    assert bad.returncode == 2 and (out / "samples.jsonl").read_text().count("\n") == 1


def test_overwrite_removes_only_a_run_directory(tmp_path):
    f = _replay_file(tmp_path / "c.jsonl", [{"problem_id": "60", "sample": 0, "completion": "\\boxed{204}"}])
    precious = tmp_path / "precious"
    (precious / "sub").mkdir(parents=True)
    (precious / "thesis.tex").write_text("years of work")
    r = cli("run", "aime24", "--completions", str(f), "--out", str(precious), "--overwrite", "--no-progress")
    assert r.returncode == 2 and "not an evalkit run" in r.stderr and "removes only run directories" in r.stderr
    assert (precious / "thesis.tex").read_text() == "years of work" and (precious / "sub").is_dir()
    out = tmp_path / "run"
    assert cli("run", "aime24", "--completions", str(f), "--out", str(out), "--no-progress").returncode == 0
    again = cli("run", "aime24", "--completions", str(f), "--out", str(out), "--overwrite", "--no-progress")
    assert again.returncode == 0, again.stderr
    assert (out / "samples.jsonl").read_text().count("\n") == 1


def test_a_second_run_on_a_directory_another_run_is_writing_is_refused(tmp_path):
    # the same job submitted twice: both appended every sample, results counted each twice (16 samples
    # a problem of 8), and a resume kept the duplicates
    from evalkit.run.rundir import RunDir

    f = _replay_file(tmp_path / "c.jsonl", [{"problem_id": "60", "sample": s, "completion": "\\boxed{204}"}
                                            for s in range(2)])
    out = tmp_path / "run"
    with RunDir(out).locked():  # a run of this process holds it
        busy = cli("run", "aime24", "--completions", str(f), "--out", str(out), "--no-progress")
        assert busy.returncode == 2 and "Traceback" not in busy.stderr
        assert f"another evalkit run (pid {os.getpid()}) is writing this run directory" in busy.stderr
        assert not (out / "samples.jsonl").exists()
    # a killed run's lock is the kernel's to drop: the directory (holding only the lock file) is free
    done = cli("run", "aime24", "--completions", str(f), "--out", str(out), "--no-progress")
    assert done.returncode == 0, done.stderr
    assert [json.loads(line)["sample"] for line in (out / "samples.jsonl").read_text().splitlines()] == [0, 1]
    again = cli("run", "aime24", "--completions", str(f), "--out", str(out), "--no-progress", "--overwrite")
    assert again.returncode == 0 and len((out / "samples.jsonl").read_text().splitlines()) == 2
    # a run that cannot start leaves no directory it made
    bad = cli("run", "aime24", "--backend", "transformers", "--model", "no-such/model", "--out", str(tmp_path / "new"))
    assert bad.returncode == 2 and not (tmp_path / "new").exists()


def test_a_line_a_killed_run_cut_off_is_made_again_and_the_rerun_says_so(tmp_path):
    f = _replay_file(tmp_path / "c.jsonl", [{"problem_id": "60", "sample": s, "completion": "\\boxed{204}"}
                                            for s in range(3)])
    out = tmp_path / "run"
    assert cli("run", "aime24", "--completions", str(f), "--out", str(out), "--no-progress").returncode == 0
    whole = (out / "samples.jsonl").read_bytes()
    (out / "samples.jsonl").write_bytes(whole[:-40])  # kill -9 as the last line was written
    again = cli("run", "aime24", "--completions", str(f), "--out", str(out), "--no-progress")
    assert again.returncode == 0, again.stderr
    assert "its last line was cut off" in again.stderr and "that sample is made again" in again.stderr
    assert "1 samples new, 2 reused" in again.stdout
    assert sorted(json.loads(line)["sample"] for line in (out / "samples.jsonl").read_text().splitlines()) == [0, 1, 2]


def test_chat_template_options_are_part_of_what_identifies_a_run(tmp_path):
    f = _replay_file(tmp_path / "c.jsonl", [{"problem_id": "60", "sample": 0, "completion": "\\boxed{204}"}])
    out = tmp_path / "run"
    first = cli("run", "aime24", "--completions", str(f), "--out", str(out), "--no-progress",
                "--chat-template-kwargs", '{"enable_thinking": true}')
    assert first.returncode == 0, first.stderr
    other = cli("run", "aime24", "--completions", str(f), "--out", str(out), "--chat-template-kwargs",
                '{"enable_thinking": false}')
    assert other.returncode == 2 and "chat_template_kwargs" in other.stderr


def test_analyze_reads_a_run_directory(tmp_path):
    r = cli("run", "demo", "--no-progress", "--no-trace", "--out", "run", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    analyzed = cli("analyze", "run", "--verifier", "none", "--think-open", cwd=tmp_path)
    assert analyzed.returncode == 0, analyzed.stderr
    assert "110 completions" in analyzed.stdout


def _toy_task(tmp_path: Path, answer_field: str = "answer", verifier: str = "math") -> Path:
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in [
        {"id": "a", "problem": "1+1?", "answer": "2", "level": "easy"},
        {"id": "b", "problem": "2+2?", "answer": "4", "level": "hard"},
        {"id": "c", "problem": "3+3?", "answer": "6", "level": "easy"}]))
    spec = tmp_path / "toy.yaml"
    spec.write_text(f"name: toy\ndataset: {{local: rows.jsonl}}\nfields: {{id: id, answer: {answer_field}, "
                    f"meta: {{level: level}}}}\nverifier: {verifier}\n")
    return spec


TOY_ROWS = [{"problem_id": pid, "sample": s, "completion": f"\\boxed{{{ans}}}"}
            for pid, answers in (("a", (2, 3)), ("b", (4, 4)), ("c", (6, 1))) for s, ans in enumerate(answers)]


def test_a_rerun_that_changes_what_judges_a_sample_is_refused(tmp_path):
    f = _replay_file(tmp_path / "c.jsonl", TOY_ROWS)
    out = str(tmp_path / "run")
    spec = _toy_task(tmp_path, answer_field="level")  # the wrong gold column: every sample is wrong
    assert cli("run", str(spec), "--completions", str(f), "--out", out, "--no-progress").returncode == 0
    spec = _toy_task(tmp_path)  # the user fixes the gold: the stored verdicts are stale
    r = cli("run", str(spec), "--completions", str(f), "--out", out)
    assert r.returncode == 2 and "tasks.toy.fields.answer: 'level' -> 'answer'" in r.stderr
    spec = _toy_task(tmp_path, answer_field="level", verifier="choice")
    r = cli("run", str(spec), "--completions", str(f), "--out", out)
    assert r.returncode == 2 and "tasks.toy.verifier: 'math' -> 'choice'" in r.stderr
    spec = _toy_task(tmp_path)
    r = cli("run", str(spec), "--completions", str(f), "--out", out, "--overwrite", "--no-progress")
    assert r.returncode == 0 and json.loads((tmp_path / "run" / "results.json").read_text())[
        "results"][0]["metrics"]["avg@n"]["value"] == pytest.approx(2 / 3)


def test_a_replay_says_what_it_leaves_out(tmp_path):
    spec = _toy_task(tmp_path)
    f = _replay_file(tmp_path / "c.jsonl", TOY_ROWS[:2] + [{"problem_id": "zzz", "sample": 0, "completion": "x"}])
    r = cli("run", str(spec), "--completions", str(f), "--out", str(tmp_path / "run"), "--no-progress")
    assert r.returncode == 0, r.stderr
    assert "1 replayed record(s) match no problem of the run and are not scored (problem ids such as zzz)" in r.stderr
    assert "toy: 2 of 3 problems have no replayed record; the metrics cover the other 1" in r.stderr
    # a record naming its task shadows one without: one sample, the named record's
    f = _replay_file(tmp_path / "d.jsonl", [{"problem_id": "a", "sample": 0, "completion": "\\boxed{2}", "task": "toy"},
                                            {"problem_id": "a", "sample": 0, "completion": "\\boxed{3}"}])
    r = cli("run", str(spec), "--completions", str(f), "--out", str(tmp_path / "run2"), "--no-progress")
    assert r.returncode == 0 and "shadowed by a record for the same problem and sample that names its task" in r.stderr
    assert [s["completion"] for s in lines(tmp_path / "run2" / "samples.jsonl")] == ["\\boxed{2}"]
    f = _replay_file(tmp_path / "e.jsonl", [{"problem_id": "a", "sample": 0, "completion": "x", "task": ["toy"]}])
    r = cli("run", str(spec), "--completions", str(f), "--out", str(tmp_path / "run3"))
    assert r.returncode == 2 and "e.jsonl:1: field 'task': expected a task name" in r.stderr


def test_a_replay_file_names_its_model_by_its_whole_name_and_an_older_run_resumes_as_it_was(tmp_path):
    # the name before the first dot: Qwen2.5-7B.jsonl was the model Qwen2 (reports/toy--Qwen2), and
    # model.v1 / model.v2 one model in one run directory
    spec = _toy_task(tmp_path)
    for name in ("Qwen2.5-7B.jsonl", "model.v1.jsonl", "model.v2.jsonl"):
        _replay_file(tmp_path / name, TOY_ROWS)
        r = cli("run", str(spec), "--completions", name, "--no-progress", cwd=tmp_path)
        assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (tmp_path / "reports").iterdir()) == ["toy--Qwen2.5-7B", "toy--model.v1",
                                                                        "toy--model.v2"]
    assert {s["model"] for s in lines(tmp_path / "reports" / "toy--Qwen2.5-7B" / "samples.jsonl")} == {"Qwen2.5-7B"}
    # a run that recorded the name before the first dot (as runs made before did) resumes as that model
    r = cli("run", str(spec), "--completions", "model.v1.jsonl", "--model", "model", "--out", "old", "--no-progress",
            cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    r = cli("run", str(spec), "--completions", "model.v1.jsonl", "--out", "old", "--no-progress", cwd=tmp_path)
    assert r.returncode == 0 and "0 samples new, 6 reused" in r.stdout, r.stdout + r.stderr


def test_an_engine_option_on_a_resumed_replay_is_refused_as_on_a_new_one(tmp_path):
    # taken without a word when the run had nothing left to make
    spec = _toy_task(tmp_path)
    f = _replay_file(tmp_path / "c.jsonl", TOY_ROWS)
    assert cli("run", str(spec), "--completions", str(f), "--out", str(tmp_path / "run"), "--no-progress").returncode == 0
    r = cli("run", str(spec), "--completions", str(f), "--out", str(tmp_path / "run"), "--no-progress", "--tp", "2")
    assert r.returncode == 2 and "--tp: no option of a replay, which generates nothing" in r.stderr, r.stderr


def test_a_smaller_rerun_scores_what_it_asks_for_and_keeps_the_rest(tmp_path):
    spec = _toy_task(tmp_path)
    f = _replay_file(tmp_path / "c.jsonl", TOY_ROWS)
    out = tmp_path / "run"
    assert cli("run", str(spec), "--completions", str(f), "--out", str(out), "--no-progress").returncode == 0
    r = cli("run", str(spec), "--completions", str(f), "--out", str(out), "--limit", "1", "-n", "1", "--no-progress")
    assert r.returncode == 0 and "0 samples new, 1 reused" in r.stdout
    entry = json.loads((out / "results.json").read_text())["results"][0]
    task = json.loads((out / "config.json").read_text())["tasks"][0]
    assert (entry["n_problems"], entry["samples_per_problem"]) == (task["n_problems"], task["n"]) == (1, 1)
    assert entry["metrics"]["avg@n"]["value"] == 1.0  # problem a, sample 0: \boxed{2}
    assert len(lines(out / "samples.jsonl")) == 6  # nothing computed is lost
    from evalkit.report._run import load

    assert {(s["problem_id"], s["sample"]) for s in load(out).samples} == {("a", 0)}


def test_analyze_and_label_sheet_read_the_samples_a_smaller_rerun_scores(tmp_path):
    # A rerun with a smaller -n / --limit keeps every line in samples.jsonl; the run's results count only
    # those it asked for, and so does reading the run directory (given as a file, every line is read).
    spec = _toy_task(tmp_path)
    f = _replay_file(tmp_path / "c.jsonl", TOY_ROWS)
    assert cli("run", str(spec), "--completions", str(f), "--out", "run", "--no-progress", cwd=tmp_path).returncode == 0
    r = cli("run", str(spec), "--completions", str(f), "--out", "run", "--limit", "2", "-n", "1", "--no-progress",
            cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    entry = json.loads((tmp_path / "run" / "results.json").read_text())["results"][0]
    assert entry["n_samples"] == 2 and entry["metrics"]["avg@n"]["value"] == 1.0  # a and b, sample 0
    analyzed = cli("analyze", "run", "--json", "--out", "traced.jsonl", cwd=tmp_path)
    assert analyzed.returncode == 0, analyzed.stderr
    summary = json.loads(analyzed.stdout)
    assert (summary["n"], summary["accuracy"]) == (2, 1.0)
    assert [(s["problem_id"], s["sample"]) for s in lines(tmp_path / "traced.jsonl")] == [("a", 0), ("b", 0)]
    every_line = cli("analyze", "run/samples.jsonl", "--json", cwd=tmp_path)
    assert json.loads(every_line.stdout)["n"] == 6
    sheet = cli("label-sheet", "run", "--out", "sheet.jsonl", cwd=tmp_path)
    assert sheet.returncode == 0 and "wrote sheet.jsonl: 2 traces" in sheet.stdout, sheet.stderr


def test_a_completion_with_half_an_emoji_is_scored(tmp_path):
    # JSON allows a lone surrogate escape (a JS harness cut an emoji in half); the sample keeps U+FFFD.
    spec = _toy_task(tmp_path)
    (tmp_path / "c.jsonl").write_text('{"problem_id": "a", "sample": 0, "completion": "<think>cut \\ud83d</think>'
                                      ' \\\\boxed{2}"}\n')
    r = cli("run", str(spec), "--completions", "c.jsonl", "--out", "run", "--no-progress", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    [sample] = lines(tmp_path / "run" / "samples.jsonl")
    assert sample["completion"] == "<think>cut \ufffd</think> \\boxed{2}" and sample["correct"] is True
    assert sample["trace"]["has_think"] is True


@pytest.mark.parametrize("option, value, message", [
    ("--temperature", "-1", "--temperature: expected a finite number >= 0, got -1.0"),
    ("--temperature", "inf", "--temperature: expected a finite number >= 0, got inf"),
    ("--top-p", "1.5", "--top-p: expected a number in (0, 1], got 1.5"),
    ("--max-tokens", "0", "--max-tokens: expected at least 1 token, got 0"),
    ("-n", "0", "-n: expected at least 1 sample per problem, got 0"),
    # each was accepted: -1 recorded every sample as a prompt too long, and a rerun without it kept them
    ("--max-model-len", "-1", "--max-model-len must be a whole number of at least 1, got -1"),
    ("--dp", "0", "--dp must be a whole number of at least 1, got 0"),
    ("--require-layers", "seccomp,bogus", "--require-layers: unknown layer(s) bogus (known: session, rlimits, env, "
     "tmpdir, output_cap, netns, mountns, uid_drop, nproc, landlock, seccomp, cgroup)"),
])
def test_sampling_options_out_of_range_are_refused_before_anything_starts(tmp_path, option, value, message):
    f = _replay_file(tmp_path / "c.jsonl", TOY_ROWS)
    r = cli("run", str(_toy_task(tmp_path)), "--completions", str(f), option, value, "--out", str(tmp_path / "run"))
    assert r.returncode == 2 and r.stderr.strip() == f"evalkit: error: {message}"
    assert not (tmp_path / "run").exists()


def test_a_run_too_large_to_plan_is_refused_before_anything_starts(tmp_path):
    # every sample's key is planned in memory first: -n 10**12 ran out of memory (a MemoryError traceback)
    r = cli("run", str(_toy_task(tmp_path)), "--backend", "transformers", "--model", str(tmp_path / "no-model"),
            "-n", "1000000000000", "--out", str(tmp_path / "run"))
    assert r.returncode == 2 and r.stderr.strip() == (
        "evalkit: error: this run would make 3,000,000,000,000 samples (problems x -n x budgets), more than one "
        "run holds (10,000,000); lower -n or --limit")
    assert not (tmp_path / "run").exists()


def test_a_resumed_run_keeps_the_anytime_curves(tmp_path):
    run = evalkit.evaluate(["demo"], out=tmp_path / "run", progress=False).run_dir
    r = cli("anytime", str(run), "--no-generate", "--budgets", "128,4096", "--tokenizer", "recorded")
    assert r.returncode == 0, r.stderr
    curves = {(e["task"], e["model"]): e["anytime"] for e in json.loads((run / "results.json").read_text())["results"]}
    assert curves and all(c["budgets"] for c in curves.values())
    assert f"report: {run / 'index.html'}" in r.stdout and "anytime probes" in (run / "index.html").read_text()
    r = cli("run", "demo", "--out", str(run), "--no-progress")
    assert r.returncode == 0 and "0 samples new" in r.stdout
    kept = {(e["task"], e["model"]): e.get("anytime") for e in json.loads((run / "results.json").read_text())["results"]}
    assert kept == curves
    # a smaller --limit scores fewer samples than the curves probed: they are left out, and come back with them
    r = cli("run", "demo", "--out", str(run), "--no-progress", "--limit", "1")
    assert r.returncode == 0 and "probed other samples of demo" in r.stderr, r.stderr
    assert not any("anytime" in e for e in json.loads((run / "results.json").read_text())["results"])
    r = cli("run", "demo", "--out", str(run), "--no-progress")
    kept = {(e["task"], e["model"]): e.get("anytime") for e in json.loads((run / "results.json").read_text())["results"]}
    assert r.returncode == 0 and kept == curves


def test_records_without_task_are_scored_only_against_the_one_task_that_has_their_ids(tmp_path):
    # aime25's answers under aime25's ids "0".."2"; aime26 has ids "1".."30" too
    rows = [{"problem_id": str(i), "sample": 0, "completion": f"\\boxed{{{a}}}"} for i, a in enumerate((70, 588, 16))]
    f = _replay_file(tmp_path / "aime25_model.jsonl", rows)
    r = cli("run", "aime", "--completions", str(f), "--out", str(tmp_path / "run"), "--no-progress")
    assert r.returncode == 2 and "Traceback" not in r.stderr and r.stderr.count("\n") == 1, r.stderr
    assert "without a 'task' field match problems of several tasks of the run (aime25, aime26" in r.stderr
    assert "add a 'task' field" in r.stderr and not (tmp_path / "run").exists()
    tagged = _replay_file(tmp_path / "tagged.jsonl", [{**row, "task": "aime25"} for row in rows])
    r = cli("run", "aime", "--completions", str(tagged), "--out", str(tmp_path / "run"), "--no-progress")
    assert r.returncode == 0, r.stderr
    [result] = json.loads((tmp_path / "run" / "results.json").read_text())["results"]
    assert result["task"] == "aime25" and result["metrics"]["avg@n"]["value"] == 1.0
    # one task of the run: its records need no `task`
    r = cli("run", "aime25", "--completions", str(f), "--out", str(tmp_path / "one"), "--no-progress")
    assert r.returncode == 0 and {s["task"] for s in lines(tmp_path / "one" / "samples.jsonl")} == {"aime25"}
    # two years in one file without `task`: the duplicate says what tells them apart
    both = _replay_file(tmp_path / "both.jsonl", rows + [{"problem_id": "1", "sample": 0, "completion": "\\boxed{277}"}])
    r = cli("run", "aime", "--completions", str(both), "--out", str(tmp_path / "run2"))
    assert r.returncode == 2 and "both.jsonl:4: duplicate record for model 'both', problem '1', sample 0" in r.stderr
    assert "if the file holds records of several tasks, each needs a 'task' field" in r.stderr


def _gold_task(tmp_path: Path, answers: list, answer_field: str = "answer") -> Path:
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps({"id": pid, "problem": "?", "answer": a}) + "\n"
                                                 for pid, a in zip("abc", answers)))
    spec = tmp_path / "golds.yaml"
    spec.write_text(f"name: golds\ndataset: {{local: rows.jsonl}}\nfields: {{id: id, answer: '{answer_field}'}}\n")
    return spec


def _verdicts(tmp_path: Path, spec: Path, completions: dict[str, list[str]]) -> dict[tuple[str, int], tuple]:
    f = _replay_file(tmp_path / "c.jsonl", [{"problem_id": pid, "sample": s, "completion": text}
                                            for pid, texts in completions.items() for s, text in enumerate(texts)])
    r = cli("run", str(spec), "--completions", str(f), "--out", str(tmp_path / "run"), "--no-progress")
    assert r.returncode == 0, r.stderr
    return {(s["problem_id"], s["sample"]): (s["gold"], s["correct"]) for s in lines(tmp_path / "run" / "samples.jsonl")}


def test_a_jinja_field_over_a_null_answer_leaves_the_sample_unjudged(tmp_path):
    spec = _gold_task(tmp_path, ["2", None, "6"], answer_field="{{ answer }}")
    got = _verdicts(tmp_path, spec, {"a": ["\\boxed{2}"], "b": ["\\boxed{None}"]})
    assert got == {("a", 0): ("2", True), ("b", 0): (None, None)}  # never the gold 'None'


def test_a_list_answer_accepts_any_of_its_answers_as_the_rewards_do(tmp_path):
    from evalkit.rewards import math_reward

    spec = _gold_task(tmp_path, [["5", "five"], [], {"x": 1}])
    got = _verdicts(tmp_path, spec, {"a": ["\\boxed{5}", "\\boxed{five}", "\\boxed{6}"], "b": ["\\boxed{[]}"]})
    assert got == {("a", 0): (["5", "five"], True), ("a", 1): (["5", "five"], True),
                   ("a", 2): (["5", "five"], False), ("b", 0): (None, None)}  # an empty list is no gold
    assert math_reward(completions=["\\boxed{five}", "\\boxed{6}"], answer=[["5", "five"]] * 2) == [1.0, 0.0]
    # analyze reads the run's list golds alike: a candidate is right if any accepted answer takes it
    analyzed = cli("analyze", str(tmp_path / "run"))
    assert analyzed.returncode == 0, analyzed.stderr
    assert "4 completions: 2 correct, 1 wrong, 1 unjudged" in analyzed.stdout, analyzed.stdout


@pytest.mark.parametrize("line", ['{"foo": 1}', '{"task": "toy", "model": "c", "problem_id": "a", "sample": "x"}'])
def test_a_samples_line_that_is_not_a_sample_stops_the_resume_with_its_line(tmp_path, line):
    spec = _toy_task(tmp_path)
    f = _replay_file(tmp_path / "c.jsonl", TOY_ROWS)
    out = tmp_path / "run"
    assert cli("run", str(spec), "--completions", str(f), "--out", str(out), "--no-progress").returncode == 0
    samples = out / "samples.jsonl"
    samples.write_text(samples.read_text() + line + "\n")
    before = samples.read_text()
    r = cli("run", str(spec), "--completions", str(f), "--out", str(out), "--no-progress")
    assert r.returncode == 2 and "Traceback" not in r.stderr and r.stderr.count("\n") == 1, r.stderr
    assert f"samples.jsonl: line 7: not a sample line (field '{'task' if 'foo' in line else 'sample'}'" in r.stderr
    assert samples.read_text() == before  # nothing computed is lost


def test_a_run_edited_by_hand_is_refused_with_its_file_and_field_by_every_command(tmp_path):
    import shutil

    spec = _toy_task(tmp_path)
    f = _replay_file(tmp_path / "c.jsonl", TOY_ROWS)
    made = tmp_path / "made"
    assert cli("run", str(spec), "--completions", str(f), "--out", str(made), "--no-progress").returncode == 0

    def samples_edit(change):
        def edit(path):
            path.write_text("".join(json.dumps(change(r)) + "\n" for r in lines(path)))
        return edit

    def json_edit(change):
        def edit(path):
            data = json.loads(path.read_text())
            change(data)
            path.write_text(json.dumps(data))
        return edit

    cases = [  # (file, edit, command, what it says); each used to give a traceback, or wrong numbers
        # a quoted "false": the resume reused it and counted it as correct (exit 0)
        ("samples.jsonl", samples_edit(lambda r: dict(r, correct="false") if r["correct"] is False else r),
         ["run", str(spec), "--completions", str(f), "--no-progress", "--out"],
         "field 'correct': expected true, false or null, got \"false\"; fix or remove that line"),
        ("samples.jsonl", samples_edit(lambda r: dict(r, model=None)), ["anytime", "--no-generate"],
         "samples.jsonl: line 1: not a sample line (field 'model': expected a model name, got null)"),
        ("config.json", json_edit(lambda d: d.update(think_format="r1")), ["report"],
         "config.json: field 'think_format': expected an object or null, got \"r1\""),
        ("results.json", json_edit(lambda d: d["results"][0].update(n_problems="3")), ["report"],
         "results.json: field 'results': entry 1: field 'n_problems': expected a whole number or null, got \"3\""),
    ]
    for i, (name, edit, command, says) in enumerate(cases):
        run = tmp_path / f"edited{i}"
        shutil.copytree(made, run)
        edit(run / name)
        before = (run / "samples.jsonl").read_text()
        r = cli(*command, str(run))
        assert r.returncode == 2 and "Traceback" not in r.stderr and r.stderr.count("\n") == 1, (name, r.stderr)
        assert says in r.stderr, (name, r.stderr)
        assert (run / "samples.jsonl").read_text() == before  # nothing computed is lost


def test_a_run_resumed_again_and_again_says_once_how_its_think_format_was_decided(tmp_path):
    spec = _toy_task(tmp_path)
    f = _replay_file(tmp_path / "c.jsonl", TOY_ROWS)
    said = []
    for _ in range(3):
        assert cli("run", str(spec), "--completions", str(f), "--out", str(tmp_path / "run"),
                   "--no-progress").returncode == 0
        said.append(json.loads((tmp_path / "run" / "config.json").read_text())["think_format"]["decided_by"])
    # each resume put another "resumed: " in front
    assert not said[0].startswith("resumed") and said[1] == said[2] == f"resumed: {said[0]}"


def test_a_replay_file_rewritten_under_its_name_is_refused_not_scored_with_old_verdicts(tmp_path):
    spec = _toy_task(tmp_path)
    f = _replay_file(tmp_path / "c.jsonl", TOY_ROWS[:4])
    out = tmp_path / "run"
    assert cli("run", str(spec), "--completions", str(f), "--out", str(out), "--no-progress").returncode == 0
    # the file grows (more problems, as for a larger run): what was scored stays, the rest is added
    _replay_file(f, TOY_ROWS)
    grown = cli("run", str(spec), "--completions", str(f), "--out", str(out), "--no-progress")
    assert grown.returncode == 0 and "2 samples new, 4 reused" in grown.stdout, grown.stdout + grown.stderr
    # every answer made wrong under the same name: the resume used to report the old 4/6 correct
    _replay_file(f, [{**r, "completion": "\\boxed{0}"} for r in TOY_ROWS])
    before = (out / "samples.jsonl").read_bytes()
    r = cli("run", str(spec), "--completions", str(f), "--out", str(out), "--no-progress")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "c.jsonl: 6 completions differ from what this run scored (the first: task toy, problem 'a', sample 0)" \
        in r.stderr
    assert (out / "samples.jsonl").read_bytes() == before
    over = cli("run", str(spec), "--completions", str(f), "--out", str(out), "--no-progress", "--overwrite")
    assert over.returncode == 0 and not any(json.loads(line)["correct"] for line in
                                            (out / "samples.jsonl").read_text().splitlines())


def test_a_samples_line_that_is_not_utf8_stops_every_reader_with_its_line(tmp_path):
    # one Latin-1 byte in a line: run, report, analyze and curate each ended in a UnicodeDecodeError
    spec = _toy_task(tmp_path)
    f = _replay_file(tmp_path / "c.jsonl", TOY_ROWS)
    out = tmp_path / "run"
    assert cli("run", str(spec), "--completions", str(f), "--out", str(out), "--no-progress").returncode == 0
    samples = out / "samples.jsonl"
    data = samples.read_bytes().splitlines(keepends=True)
    data[2] = data[2].replace(b'"sample"', b'"sample\xe9"', 1)
    samples.write_bytes(b"".join(data))
    before = samples.read_bytes()
    for args in (("run", str(spec), "--completions", str(f), "--out", str(out), "--no-progress"),
                 ("report", str(out)), ("analyze", str(out)),
                 ("curate", str(out), "--pass-rate", "0:1", "--format", "trl", "--out", str(tmp_path / "t.jsonl"))):
        r = cli(*args)
        assert r.returncode == 2 and "Traceback" not in r.stderr, (args, r.stderr)
        assert "samples.jsonl: line 3: not UTF-8 text" in r.stderr, (args, r.stderr)
    assert samples.read_bytes() == before


def test_a_replay_file_whose_name_is_not_utf8_is_run_resumed_and_reported(tmp_path):
    # its name (a lone surrogate in Python) named the model and went into config.json: a UnicodeEncodeError
    # traceback after config.json.tmp was made, and no run
    spec = _toy_task(tmp_path)
    f = _replay_file(Path(os.fsdecode(bytes(tmp_path) + b"/caf\xe9.jsonl")), TOY_ROWS)
    out = tmp_path / "run"
    r = cli("run", str(spec), "--completions", str(f), "--out", str(out), "--no-progress")
    assert r.returncode == 0 and "Traceback" not in r.stderr and "warning" not in r.stderr, r.stderr
    assert "caf\\xe9" in r.stdout  # the model, named by the file's bytes
    config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    assert os.fsdecode(bytes(tmp_path) + b"/caf\xe9.jsonl") in json.dumps(config, ensure_ascii=False)
    assert len(lines(out / "samples.jsonl")) == len(TOY_ROWS) and (out / "index.html").stat().st_size > 1000
    again = cli("run", str(spec), "--completions", str(f), "--out", str(out), "--no-progress")
    assert again.returncode == 0 and f"0 samples new, {len(TOY_ROWS)} reused" in again.stdout, again.stderr


def test_a_hand_edited_config_and_an_overlong_path_are_one_line_errors(tmp_path):
    spec = _toy_task(tmp_path)
    f = _replay_file(tmp_path / "c.jsonl", TOY_ROWS)
    out = tmp_path / "run"
    assert cli("run", str(spec), "--completions", str(f), "--out", str(out), "--no-progress").returncode == 0
    config = json.loads((out / "config.json").read_text())
    (out / "config.json").write_text(json.dumps({**config, "tasks": 5}))
    for args in (("report", str(out)), ("analyze", str(out))):  # each was a TypeError traceback
        r = cli(*args)
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
        assert "config.json: field 'tasks': expected a list of the run's task specs, got 5" in r.stderr
    long = cli("export", str(spec), "--format", "trl", "--out", str(tmp_path / ("x" * 300 + ".jsonl")))
    assert long.returncode == 2 and "Traceback" not in long.stderr and "File name too long" in long.stderr


def test_a_specs_own_missing_completions_file_is_named_with_its_line(tmp_path):
    spec = _toy_task(tmp_path)
    spec.write_text(spec.read_text() + "completions: missing.jsonl\n")
    r = cli("run", str(spec), "--out", str(tmp_path / "run"))
    assert r.returncode == 2 and "toy.yaml:5: field 'completions': file not found: " in r.stderr, r.stderr
    assert "missing.jsonl" in r.stderr and not (tmp_path / "run").exists()


def _table(stdout: str) -> list[dict[str, str]]:
    """The rows of the results table `evalkit run` prints, by column name."""
    text = stdout.splitlines()
    at = next(i for i, line in enumerate(text) if line.startswith("task "))
    header = text[at].split()
    rows = []
    for line in text[at + 2:]:
        cells = line.split("  ")
        if not line.strip() or line.startswith("*"):
            break
        rows.append(dict(zip(header, [c.strip() for c in cells if c.strip()])))
    return rows


def test_the_table_shows_maj_at_k_when_the_task_leaves_out_pass_at_k(tmp_path):
    spec = _toy_task(tmp_path)
    spec.write_text(spec.read_text() + "metrics: [avg@n, maj@k]\n")
    f = _replay_file(tmp_path / "c.jsonl", TOY_ROWS)
    r = cli("run", str(spec), "--completions", str(f), "--out", str(tmp_path / "run"), "--no-progress", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    [row] = _table(r.stdout)
    # a: 2 or 3 (a tie: half), b: 4 and 4, c: 6 or 1 (a tie)
    assert row["pass@k"] == "-" and row["maj@k"].startswith("@2 66.7 ["), r.stdout


def test_the_table_and_the_report_mark_figures_over_fewer_problems_alike(tmp_path):
    spec = _gold_task(tmp_path, ["2", None, "6"])  # b has no gold: none of its samples is judged
    f = _replay_file(tmp_path / "c.jsonl", [{"problem_id": pid, "sample": s, "completion": f"\\boxed{{{ans}}}"}
                                            for pid, answers in (("a", (2, 3)), ("b", (4, 4)), ("c", (6, 6)))
                                            for s, ans in enumerate(answers)])
    r = cli("run", str(spec), "--completions", str(f), "--out", str(tmp_path / "run"), "--no-progress", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    [row] = _table(r.stdout)
    assert [row[c][-1] for c in ("avg@n", "pass@k", "maj@k")] == ["*", "*", "*"], r.stdout
    note = next(line for line in r.stdout.splitlines() if line.startswith("* "))
    assert note == ("* Over fewer problems than the task has: a problem with no judged sample (no gold answer or "
                    "tests, or an infrastructure fault) is left out of every figure."), r.stdout
    html = (tmp_path / "run" / "index.html").read_text()
    assert html.count("over 2 of 3 problems*") == 5  # avg@n, pass@1, maj@1, pass@2, maj@2
    assert f'<p class="note" id="subset-note">{note}</p>' in html


def test_a_replay_run_moved_with_its_file_resumes_and_a_changed_file_is_still_refused(tmp_path):
    # the run was tied to the replay file's absolute path: a moved folder (or the demo of another install)
    # was "a run with other settings"
    import shutil

    first = tmp_path / "first"
    first.mkdir()
    spec = _toy_task(first)
    f = _replay_file(first / "c.jsonl", TOY_ROWS)
    assert cli("run", str(spec), "--completions", str(f), "--out", "run", "--no-progress", cwd=first).returncode == 0
    moved = tmp_path / "moved"
    shutil.move(first, moved)
    r = cli("run", "toy.yaml", "--completions", "c.jsonl", "--out", "run", "--no-progress", cwd=moved)
    assert r.returncode == 0 and "0 samples new, 6 reused" in r.stdout, r.stderr
    # a run that recorded the file's path, as runs made before did, resumes the same way
    config = json.loads((moved / "run" / "config.json").read_text())
    config["identity"]["completions"] = str(first / "c.jsonl")
    (moved / "run" / "config.json").write_text(json.dumps(config))
    r = cli("run", "toy.yaml", "--completions", "c.jsonl", "--out", "run", "--no-progress", cwd=moved)
    assert r.returncode == 0 and "0 samples new, 6 reused" in r.stdout, r.stderr
    # what guards a resume is the file's content: a completion it scored that reads otherwise now
    _replay_file(moved / "c.jsonl", [dict(row, completion="\\boxed{9}") if row["problem_id"] == "a" else row
                                     for row in TOY_ROWS])
    r = cli("run", "toy.yaml", "--completions", "c.jsonl", "--out", "run", cwd=moved)
    assert r.returncode == 2 and "completions differ from what this run scored" in r.stderr, r.stderr


def test_another_replay_file_of_the_same_name_is_not_pooled_into_the_run(tmp_path):
    # both default to reports/toy--c: tied to the name alone, B's samples were added to A's run
    spec = _toy_task(tmp_path)
    for folder, rows in (("A", TOY_ROWS[:4]), ("B", TOY_ROWS[4:])):
        (tmp_path / folder).mkdir()
        _replay_file(tmp_path / folder / "c.jsonl", rows)
    assert cli("run", str(spec), "--completions", "A/c.jsonl", "--no-progress", cwd=tmp_path).returncode == 0
    r = cli("run", str(spec), "--completions", "B/c.jsonl", "--no-progress", cwd=tmp_path)
    assert r.returncode == 2 and "this run was made from " in r.stderr and "4 of the completions it scored are " \
        "not in this file" in r.stderr and "another file of the same name?" in r.stderr, r.stderr
    assert len(lines(tmp_path / "reports" / "toy--c" / "samples.jsonl")) == 4


def test_each_task_of_a_replay_records_the_samples_the_file_holds_for_it(tmp_path):
    # the file's largest sample index, over every task, was each task's n: config.json and the report's
    # settings said n=4 for a task whose records hold 2 samples a problem (its results said 2)
    spec = _toy_task(tmp_path)
    other = tmp_path / "toy4.yaml"
    other.write_text(spec.read_text().replace("name: toy", "name: toy4"))
    rows = [{**row, "task": "toy"} for row in TOY_ROWS]
    rows += [{"task": "toy4", "problem_id": pid, "sample": s, "completion": "\\boxed{4}"} for pid in "abc" for s in range(4)]
    f = _replay_file(tmp_path / "c.jsonl", rows)
    out = tmp_path / "run"
    r = cli("run", str(spec), str(other), "--completions", str(f), "--out", str(out), "--no-progress")
    assert r.returncode == 0, r.stderr
    config = json.loads((out / "config.json").read_text())
    assert {t["name"]: t["n"] for t in config["tasks"]} == {"toy": 2, "toy4": 4}
    assert {k: v["n"] for k, v in config["sampling"].items()} == {"toy": 2, "toy4": 4}
    results = json.loads((out / "results.json").read_text())["results"]
    assert {e["task"]: e["samples_per_problem"] for e in results} == {"toy": 2, "toy4": 4}
    page = (out / "index.html").read_text()
    assert "toy: n=2" in page and "toy: n=4" not in page


def test_a_replay_says_when_n_asks_for_more_samples_than_it_holds_and_which_problems_hold_fewer(tmp_path):
    # -n 5 over a file of two samples a problem was silent, and config.json said n=5 where the results said 2
    spec = _toy_task(tmp_path)
    f = _replay_file(tmp_path / "c.jsonl", TOY_ROWS)
    r = cli("run", str(spec), "--completions", str(f), "--out", str(tmp_path / "run"), "-n", "5", "--no-progress")
    assert r.returncode == 0, r.stderr
    assert "toy: -n 5 asks for more samples than the file holds (at most 2 of a problem); the run scores those" \
        in r.stderr
    assert json.loads((tmp_path / "run" / "config.json").read_text())["tasks"][0]["n"] == 2
    # problems that hold fewer samples than the others are named
    g = _replay_file(tmp_path / "d.jsonl", [row for row in TOY_ROWS if (row["problem_id"], row["sample"]) != ("b", 1)])
    r = cli("run", str(spec), "--completions", str(g), "--out", str(tmp_path / "run2"), "--no-progress")
    assert r.returncode == 0, r.stderr
    assert "toy: 1 of 3 problems hold fewer than 2 replayed samples (b: 1); each is scored on the samples it has" \
        in r.stderr


@pytest.mark.parametrize("option, value, says", [
    ("n", "4", "-n must be a whole number, got '4'"),  # a TypeError deep in planning
    ("n", True, "-n must be a whole number, got True"),  # ran n=1
    ("limit", 2.5, "--limit must be a whole number, got 2.5"),  # ran 3 problems
    ("seed", "x", "--seed must be a whole number, got 'x'"),  # derived every sample's seed from "x"
    ("temperature", "hot", "--temperature must be a number, got 'hot'"),
    ("chat_template_kwargs", [1, 2], "chat_template_kwargs must be a dict, got list"),
])
def test_evaluate_refuses_arguments_of_the_wrong_type_by_their_option(tmp_path, option, value, says):
    with pytest.raises(InputError, match=re.escape(says)):
        evalkit.evaluate(["demo"], out=tmp_path / "run", progress=False, **{option: value})
    assert not (tmp_path / "run").exists()


def test_evaluate_reads_one_task_name_and_comma_separated_layers_as_the_command_line_does(tmp_path):
    # "demo" was iterated letter by letter ("unknown task 'd'"); "seccomp" as layers s, e, c, c, o, m, p
    import numpy as np

    run = evalkit.evaluate("demo", out=tmp_path / "run", progress=False, limit=1, n=1, require_layers="seccomp",
                           seed=np.int32(3))
    assert {s["task"] for s in lines(run.samples_path)} == {"demo"}
    # numpy's numbers are recorded as plain ones: the command line's --seed 3 resumes the run ('3' -> 3 refused it)
    again = cli("run", "demo", "--limit", "1", "-n", "1", "--seed", "3", "--out", str(tmp_path / "run"), "--no-progress")
    assert again.returncode == 0 and "0 samples new" in again.stdout, again.stderr


def test_most_completions_cut_off_still_show_a_template_that_opened_thinking(tmp_path):
    # four close thinking they never opened, six are cut off mid-thought (no finish reason): requiring most
    # completions to close scored the six thoughts as answers
    spec = _toy_task(tmp_path)
    rows = [{"problem_id": pid, "sample": s, "completion": f"{pid} is easy.\n</think>\n\\boxed{{2}}" if s == 0 and pid != "c"
             else "Let me count up: that gives \\boxed{2}"} for pid in "abc" for s in range(3)]
    r = cli("run", str(spec), "--completions", str(_replay_file(tmp_path / "c.jsonl", rows)), "--out",
            str(tmp_path / "run"), "--no-progress", "-n", "3")
    assert r.returncode == 0 and "read as opened by the prompt" in r.stderr, r.stderr
    assert [s["reason"] for s in lines(tmp_path / "run" / "samples.jsonl")].count("truncated") == 7


def test_a_distills_replay_without_think_open_reads_a_cut_thought_as_truncated(tmp_path):
    # the completions close thinking they never open (the template opened it), and one never closes: its
    # guess mid-thought scored correct, and the run showed no truncation
    spec = _toy_task(tmp_path)
    rows = [{"problem_id": "a", "sample": 0, "completion": "1+1 is 2.\n</think>\n\\boxed{2}"},
            {"problem_id": "b", "sample": 0, "completion": "2+2 is 4.\n</think>\n\\boxed{4}"},
            {"problem_id": "c", "sample": 0, "completion": "3+3, maybe \\boxed{6}? Let me keep checking",
             "completion_tokens": 32768}]
    f = _replay_file(tmp_path / "distill.jsonl", rows)
    r = cli("run", str(spec), "--completions", str(f), "--out", str(tmp_path / "run"), "--no-progress")
    assert r.returncode == 0, r.stderr
    assert "close thinking they never open: read as opened by the prompt (think_open)" in r.stderr
    got = {s["problem_id"]: s for s in lines(tmp_path / "run" / "samples.jsonl")}
    assert (got["c"]["reason"], got["c"]["think_open"], got["a"]["correct"]) == ("truncated", True, True)
    a = cli("analyze", str(f), "--gold-field", "none")
    assert a.returncode == 0 and "read as opened by the prompt" in a.stderr, a.stderr
    # a file that says think_open is read as it says
    stated = _replay_file(tmp_path / "stated.jsonl", [{**row, "think_open": False} for row in rows])
    r = cli("run", str(spec), "--completions", str(stated), "--out", str(tmp_path / "run2"), "--no-progress")
    assert r.returncode == 0 and "never open" not in r.stderr
    assert {s["problem_id"]: s["correct"] for s in lines(tmp_path / "run2" / "samples.jsonl")}["c"] is True


@pytest.mark.parametrize("content, message", [
    ('{"completion": "\\\\boxed{4}", "gold": "4", "correct": "false"}\n',
     "x.jsonl:1: field 'correct' must be true, false or null (the line's verdict), got \"false\""),
    ("", "x.jsonl: no lines to analyze"),  # printed "0 completions" and "markers per 1k chars: None", exit 0
])
def test_analyze_refuses_a_quoted_verdict_and_an_empty_file(tmp_path, content, message):
    (tmp_path / "x.jsonl").write_text(content)
    r = cli("analyze", "x.jsonl", cwd=tmp_path)
    assert (r.returncode, r.stderr.strip()) == (2, "evalkit: error: " + message)


def test_a_mean_token_count_over_some_samples_says_how_many(tmp_path):
    # two samples without a count and one of 5 tokens: the summary showed "Mean tokens 5" unmarked
    spec = _toy_task(tmp_path)
    rows = [{**row, "completion_tokens": 5} if row["problem_id"] == "a" and row["sample"] == 0 else row
            for row in TOY_ROWS]
    f = _replay_file(tmp_path / "some.jsonl", rows)
    r = cli("run", str(spec), "--completions", str(f), "--out", str(tmp_path / "run"), "--no-progress")
    assert r.returncode == 0, r.stderr
    entry = json.loads((tmp_path / "run" / "results.json").read_text())["results"][0]
    assert (entry["mean_completion_tokens"], entry["n_with_tokens"], entry["n_samples"]) == (5.0, 1, 6)
    assert "of 1 sample</span>" in (tmp_path / "run" / "index.html").read_text()
    every = _replay_file(tmp_path / "all.jsonl", [{**row, "completion_tokens": 5} for row in TOY_ROWS])
    cli("run", str(spec), "--completions", str(every), "--out", str(tmp_path / "run2"), "--no-progress")
    assert "of 6 samples" not in (tmp_path / "run2" / "index.html").read_text()


def test_one_completion_that_mentions_the_close_marker_does_not_mark_a_file_as_thinking(tmp_path):
    # a model that does not think: one program splits at '</think>'; all its records became think_open and
    # every answer `no_answer`
    spec = _toy_task(tmp_path)
    rows = [{**row, "finish_reason": "stop"} for row in TOY_ROWS]
    rows[0] = {**rows[0], "completion": "```python\nprint(s.split('</think>')[-1])\n```\n\\boxed{2}"}
    rows[2] = {**rows[2], "completion": "Models end their scratch work with a </think> tag; I answer: \\boxed{4}",
               "finish_reason": None}  # and a sentence that mentions it, with no finish reason
    f = _replay_file(tmp_path / "plain.jsonl", rows)
    r = cli("run", str(spec), "--completions", str(f), "--out", str(tmp_path / "run"), "--no-progress")
    assert r.returncode == 0 and "never open" not in r.stderr, r.stderr
    assert [s["correct"] for s in lines(tmp_path / "run" / "samples.jsonl")].count(True) == 4  # as without the program


def test_a_sample_written_twice_stops_the_resume(tmp_path):
    # a second line for one sample (two runs' files merged) was counted twice: n_samples 7 of 6
    spec = _toy_task(tmp_path)
    f = _replay_file(tmp_path / "c.jsonl", TOY_ROWS)
    run = tmp_path / "run"
    assert cli("run", str(spec), "--completions", str(f), "--out", str(run), "--no-progress").returncode == 0
    good = (run / "samples.jsonl").read_text()
    bad = good + good.splitlines()[0] + "\n"
    (run / "samples.jsonl").write_text(bad)
    r = cli("run", str(spec), "--completions", str(f), "--out", str(run), "--no-progress")
    says = "line 7: a second line for the sample of line 1 (task 'toy', problem 'a', sample 0); remove one"
    assert (r.returncode, r.stderr.strip()) == (2, f"evalkit: error: {run / 'samples.jsonl'}: {says}"), r.stderr
    assert (run / "samples.jsonl").read_text() == bad  # nothing rewritten
    assert cli("report", str(run)).returncode == 2  # nor reported with the sample counted twice


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to mount a small file system that fills up")
def test_a_full_disk_is_one_line_naming_the_samples_file_and_the_rest_is_kept(tmp_path):
    # a traceback ending in "OSError: [Errno 28] No space left on device", exit 1
    spec = _toy_task(tmp_path)
    rows = [{**row, "completion": row["completion"] + " " + "x" * 30_000} for row in TOY_ROWS]
    f = _replay_file(tmp_path / "long.jsonl", rows)
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=96k", "tmpfs", str(disk)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        r = cli("run", str(spec), "--completions", str(f), "--out", str(disk / "run"), "--no-progress")
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
        assert (f"evalkit: error: {disk / 'run' / 'samples.jsonl'}: No space left on device (the samples written "
                "before are kept: rerun the same command to resume)") in r.stderr
        from evalkit.run.rundir import read_samples

        assert len(read_samples(disk / "run" / "samples.jsonl")) < 6  # whole lines only
    finally:
        subprocess.run(["umount", "-l", str(disk)])



@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to mount a small file system that fills up")
def test_a_disk_that_fills_anywhere_in_a_run_is_one_line_leaves_no_temp_file_and_the_rerun_resumes(tmp_path):
    # where the disk filled decided: invocations.jsonl's start line, a batch of samples (closing the file wrote the
    # refused bytes again) or results.json was a traceback ending in "OSError: [Errno 28] No space left on device",
    # exit 1, with results.json.tmp left behind; index.html.tmp (hundreds of KB) kept the disk full after a run
    (tmp_path / "data.jsonl").write_text("".join(json.dumps({"qid": f"q{i}", "question": f"What is {i}+{i}?",
                                                             "answer": str(2 * i)}) + "\n" for i in range(5)))
    spec = tmp_path / "t.yaml"
    spec.write_text("name: mytask\ndataset: {local: data.jsonl}\nfields: {id: qid, problem: question, answer: answer}\n"
                    "verifier: math\n")
    f = _replay_file(tmp_path / "comp.jsonl", [
        {"problem_id": f"q{i}", "sample": s, "completion": f"<think>hmm</think> \\boxed{{{2 * i}}}",
         "finish_reason": "stop"} for i in range(5) for s in range(2)])
    assert cli("run", str(spec), "--completions", str(f), "--out", str(tmp_path / "roomy"), "--no-progress",
               cwd=tmp_path).returncode == 0
    expected = json.loads((tmp_path / "roomy" / "results.json").read_text())
    disk = tmp_path / "disk"
    disk.mkdir()
    mount = ["mount", "-t", "tmpfs", "-o", "size=200k", "tmpfs", str(disk)]
    if subprocess.run(mount, capture_output=True, check=False).returncode:
        pytest.skip("cannot mount a tmpfs here")
    run = disk / "run"
    named = set()
    try:
        for free_k in range(4, 48, 4):
            subprocess.run(["rm", "-rf", str(run)], check=False)
            (disk / "filler").write_bytes(bytes((200 - free_k) * 1024))
            r = cli("run", str(spec), "--completions", str(f), "--out", str(run), "--no-progress", cwd=tmp_path)
            left = sorted(p.name for p in run.iterdir() if p.name.endswith(".tmp")) if run.is_dir() else []
            assert left == [], (free_k, left)
            assert "Traceback" not in r.stderr and r.returncode in (0, 2), (free_k, r.stderr)
            if r.returncode == 0:  # only the report failed: a warning; the run is whole
                assert (f"could not write the report (OSError: [Errno 28] No space left on device (the run's files "
                        f"are unchanged and index.html is as it was): '{run / 'index.html'}')") in r.stderr, r.stderr
                named.add("index.html")
                continue
            said = re.fullmatch(rf"evalkit: error: {re.escape(str(run))}/([a-z.]+): No space left on device "
                                r"\(([^()]+ kept[^()]*: rerun the same command to resume)\)\n", r.stderr)
            assert said, (free_k, r.stderr)
            named.add(said[1])
            on_disk = (run / "samples.jsonl").read_bytes() if (run / "samples.jsonl").exists() else b""
            assert on_disk.endswith(b"\n") or not on_disk  # whole lines only: the batch the disk refused is cut
            (disk / "filler").unlink()
            again = cli("run", str(spec), "--completions", str(f), "--out", str(run), "--no-progress", cwd=tmp_path)
            kept = on_disk.count(b"\n")
            assert again.returncode == 0 and f"{10 - kept} samples new, {kept} reused" in again.stdout, again.stderr
            assert json.loads((run / "results.json").read_text()) == expected
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)
    assert named >= {"invocations.jsonl", "samples.jsonl", "results.json", "index.html"}, named


def test_model_names_the_replayed_records_that_do_not_name_theirs(tmp_path):
    # --model was written in config.json only: samples, results and the table said the file's name ("c"),
    # so `evalkit curate --model my-model` found no such model
    spec = _toy_task(tmp_path)
    f = _replay_file(tmp_path / "c.jsonl", TOY_ROWS)
    out = tmp_path / "run"
    r = cli("run", str(spec), "--completions", str(f), "--model", "my-model", "--out", str(out), "--no-progress")
    assert r.returncode == 0, r.stderr
    assert [row["model"] for row in _table(r.stdout)] == ["my-model"]
    assert {s["model"] for s in lines(out / "samples.jsonl")} == {"my-model"}
    curated = cli("curate", str(out), "--pass-rate", "0:1", "--format", "trl", "--out", str(tmp_path / "t.jsonl"),
                  "--model", "my-model")
    assert curated.returncode == 0 and len(lines(tmp_path / "t.jsonl")) == 3, curated.stderr
    # a record's own `model` still names it
    f = _replay_file(tmp_path / "d.jsonl", [{**TOY_ROWS[0], "model": "theirs"}, TOY_ROWS[1]])
    r = cli("run", str(spec), "--completions", str(f), "--model", "my-model", "--out", str(tmp_path / "run2"),
            "--no-progress")
    assert r.returncode == 0, r.stderr
    assert sorted(row["model"] for row in _table(r.stdout)) == ["my-model", "theirs"]


@pytest.mark.parametrize("field, value, says", [
    # null was read as "" and scored as the model's empty answer (no_answer)
    ("completion", None, "c.jsonl:2: field 'completion' is null: a failed request recorded as null is not an answer "
                         "to score; drop the line or generate that completion again"),
    # these failed later, in generation, without file:line, saying "rerun to resume" (a rerun failed the same way)
    ("finish_reason", 5, "c.jsonl:2: field 'finish_reason': expected a string (\"stop\", \"length\") or null, got 5"),
    ("completion_tokens", -5, "c.jsonl:2: field 'completion_tokens': expected a whole number >= 0 or null, got -5"),
    ("prompt_tokens", -1, "c.jsonl:2: field 'prompt_tokens': expected a whole number >= 0 or null, got -1"),
    # null was the id "None": a record that matched no problem, counted in a warning without its line
    ("problem_id", None, "c.jsonl:2: field 'problem_id': expected a problem id (text or a number), got null"),
    # a list was the model "['m']", in samples and results alike
    ("model", ["m"], "c.jsonl:2: field 'model': expected a model name, got [\"m\"]"),
])
def test_a_replay_record_that_is_no_completion_is_refused_at_its_line(tmp_path, field, value, says):
    spec = _toy_task(tmp_path)
    f = _replay_file(tmp_path / "c.jsonl", [TOY_ROWS[0], {**TOY_ROWS[1], field: value}])
    r = cli("run", str(spec), "--completions", str(f), "--out", str(tmp_path / "run"), "--no-progress")
    assert r.returncode == 2 and says in r.stderr and r.stderr.count("\n") == 1, r.stderr
    assert "resume" not in r.stderr and not (tmp_path / "run").exists()


def test_analyze_reads_each_models_lines_as_opened_by_its_prompt_or_not(tmp_path):
    # one line of model A closing thinking it never opened made every line of the file read as opened by the
    # prompt: model B's three finished answers were truncated and wrong (a run of the same file: 100%)
    rows = [{"completion": "Compute.\n</think>\n\n\\boxed{4}", "gold": "4", "model": "A"},
            *[{"completion": "The sum is \\boxed{4}.", "gold": "4", "model": "B"}] * 3]
    f = tmp_path / "mixed.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in rows))
    a = cli("analyze", str(f))
    assert a.returncode == 0 and "4 completions: 4 correct, 0 wrong" in a.stdout, a.stdout + a.stderr
    assert "the completions of 'A' close thinking they never open" in a.stderr, a.stderr


def test_tasks_that_read_a_replay_file_by_different_fields_are_refused(tmp_path):
    # the first task's replay_fields read the file for every task: each task's score depended on the order given
    spec = _toy_task(tmp_path)
    text = spec.read_text()
    (tmp_path / "a.yaml").write_text(text.replace("name: toy", "name: ta") + "replay_fields: {completion: text}\n")
    (tmp_path / "b.yaml").write_text(text.replace("name: toy", "name: tb") + "replay_fields: {completion: output}\n")
    rows = [{"problem_id": r["problem_id"], "sample": r["sample"], "text": r["completion"], "output": "\\boxed{0}"}
            for r in TOY_ROWS]
    f = _replay_file(tmp_path / "both.jsonl", rows)
    for order in (("a.yaml", "b.yaml"), ("b.yaml", "a.yaml")):
        r = cli("run", *[str(tmp_path / o) for o in order], "--completions", str(f), "--out", str(tmp_path / "run"),
                "--no-progress")
        assert r.returncode == 2 and "by different replay_fields" in r.stderr and "ta: " in r.stderr, r.stderr
        assert "tb: " in r.stderr and r.stderr.count("\n") == 1 and not (tmp_path / "run").exists(), r.stderr
    # one task alone reads by its own fields
    r = cli("run", str(tmp_path / "a.yaml"), "--completions", str(f), "--out", str(tmp_path / "run"), "--no-progress")
    assert r.returncode == 0 and [row["avg@n"].split()[0] for row in _table(r.stdout)] == ["66.7"], r.stdout + r.stderr


def test_a_rerun_with_another_task_names_it_without_dumping_its_spec(tmp_path):
    # the refusal dumped the whole spec of a task added or renamed: several hundred characters in one line
    spec = _toy_task(tmp_path)
    other = tmp_path / "other.yaml"
    other.write_text(spec.read_text().replace("name: toy", "name: other"))
    f = _replay_file(tmp_path / "c.jsonl", TOY_ROWS)
    assert cli("run", str(spec), "--completions", str(f), "--out", str(tmp_path / "run")).returncode == 0
    r = cli("run", str(spec), str(other), "--completions", str(f), "--out", str(tmp_path / "run"))
    assert r.returncode == 2 and "(tasks.other: not in the run there)" in r.stderr and len(r.stderr) < 200 + len(str(tmp_path)), r.stderr
    r = cli("run", str(other), "--completions", str(f), "--out", str(tmp_path / "run"))
    assert r.returncode == 2 and "tasks.other: not in the run there; tasks.toy: not in this run" in r.stderr, r.stderr


def test_a_cascade_whose_outer_verifier_wraps_nothing_says_so_in_one_line(tmp_path):
    # `math+math` ended in "TypeError: MathOptions.__init__() got an unexpected keyword argument 'inner'"
    spec = _toy_task(tmp_path, verifier="math+math")
    f = _replay_file(tmp_path / "c.jsonl", TOY_ROWS)
    r = cli("run", str(spec), "--completions", str(f), "--out", str(tmp_path / "run"), "--no-progress")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "toy.yaml:4: field 'verifier'" in r.stderr, r.stderr
    assert "'math' wraps no other verifier (it takes no `inner`); after a '+' goes one that does" in r.stderr
    assert not (tmp_path / "run").exists()


def test_a_stop_that_lands_as_lines_are_written_counts_them(tmp_path):
    # SIGTERM between the fsync and the count left lines on disk that the invocation's record said it had not
    # saved (`saved: 0` beside 5 new lines, in the non-root suite under load): the signal now waits for the count
    import signal

    from evalkit.run.rundir import RunDir, SampleWriter

    class Stopping:  # a sink whose write is where the signal lands
        def __init__(self, f):
            self.f, self.name = f, f.name

        def write(self, data):
            written = self.f.write(data)
            os.kill(os.getpid(), signal.SIGTERM)
            return written

        def fileno(self):
            return self.f.fileno()

    def stop(signum, frame):
        raise KeyboardInterrupt("stopped")

    run = RunDir(tmp_path)
    old = signal.signal(signal.SIGTERM, stop)
    try:
        with open(tmp_path / "samples.jsonl", "ab", buffering=0) as f, pytest.raises(KeyboardInterrupt):
            SampleWriter(Stopping(f), run).write([{"task": "t", "problem_id": "p", "sample": i} for i in range(5)])
    finally:
        signal.signal(signal.SIGTERM, old)
    assert run.appended == 5 and (tmp_path / "samples.jsonl").read_text().count("\n") == 5


def test_a_file_numbering_its_samples_from_one_says_so_rather_than_losing_each_last_sample_in_silence(tmp_path):
    # samples 1..2 under -n 2: sample 2 of each problem was left out in silence and avg@n came from one sample
    # (warned, not refused: a file whose every sample 0 failed and was dropped is numbered from 0 too)
    spec = _toy_task(tmp_path)
    f = _replay_file(tmp_path / "c.jsonl", [{**r, "sample": r["sample"] + 1} for r in TOY_ROWS])
    r = cli("run", str(spec), "--completions", str(f), "-n", "2", "--out", str(tmp_path / "one"), "--no-progress")
    assert r.returncode == 0 and "3 samples new" in r.stdout, r.stderr
    assert ("c.jsonl: no record has sample 0 (the samples start at 1); a problem's first sample is 0: if the file "
            "numbers them from 1, renumber them (sample - 1)" in r.stderr)
    # numbered from 0, the same completions are all scored
    f = _replay_file(tmp_path / "c.jsonl", TOY_ROWS)
    r = cli("run", str(spec), "--completions", str(f), "-n", "2", "--out", str(tmp_path / "run"), "--no-progress")
    assert r.returncode == 0 and "6 samples new" in r.stdout and "no record has sample 0" not in r.stderr


def test_a_budget_sweeps_samples_replayed_say_why_they_are_duplicates(tmp_path):
    # a thinking-budget sweep's samples.jsonl holds a record per budget: replayed, it was refused as "duplicate
    # record ... sample 0", without a word of the budgets that made the two records
    from evalkit.backends.replay import load_replay

    path = tmp_path / "sweep.jsonl"
    path.write_text("".join(json.dumps({"task": "t", "problem_id": "p", "sample": 0, "budget": budget,
                                        "completion": "<think>x</think>\\boxed{1}"}) + "\n" for budget in (16, 48)))
    with pytest.raises(InputError, match=r"sweep\.jsonl:2: duplicate record .* sample 0 \(its budget 48: a "
                                         r"thinking-budget sweep's samples\.jsonl holds a record per budget"):
        load_replay(path)


def test_a_duplicate_of_one_budget_is_a_plain_duplicate(tmp_path):
    from evalkit.backends.replay import load_replay

    path = tmp_path / "dup.jsonl"
    record = {"task": "t", "problem_id": "p", "sample": 0, "budget": 512, "completion": "<think>x</think>\\boxed{1}"}
    path.write_text((json.dumps(record) + "\n") * 2)
    with pytest.raises(InputError, match=r"dup\.jsonl:2: duplicate record for task 't'.*sample 0$"):
        load_replay(path)
