"""What a new user meets first: an output path the file system refuses, and the README's examples run as written."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


def evalkit(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "evalkit", *args], capture_output=True, text=True, cwd=cwd, env=ENV,
                          timeout=300)


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    """A folder with a regular file `afile`, so `afile/x` is a path nobody, root included, can write."""
    work = tmp_path_factory.mktemp("first-use")
    (work / "afile").write_text("")
    demo = [json.loads(line) for line in open(REPO / "tasks" / "data" / "demo" / "completions.jsonl")][:2]
    (work / "traces.jsonl").write_text("".join(json.dumps(r) + "\n" for r in demo))
    (work / "pairs.jsonl").write_text(json.dumps({"id": 1, "gold": "2", "answer": "2"}) + "\n")
    ran = evalkit("run", "demo", "--limit", "1", "--no-progress", "--out", "run", cwd=work)
    assert ran.returncode == 0, ran.stderr
    labelled = evalkit("label-sheet", "traces.jsonl", "--out", "sheet.jsonl", cwd=work)
    assert labelled.returncode == 0, labelled.stderr
    return work


@pytest.mark.parametrize("args,named", [
    (["run", "demo", "--limit", "1", "--no-progress", "--out", "afile/run"], "afile/run"),
    (["verify", "--pairs", "pairs.jsonl", "--out", "afile/verdicts.jsonl"], "afile/verdicts.jsonl"),
    (["analyze", "traces.jsonl", "--verifier", "none", "--out", "afile/traced.jsonl"], "afile"),
    (["label-sheet", "traces.jsonl", "--out", "afile/sheet.jsonl"], "afile"),
    (["fit-detector", "sheet.jsonl", "--out", "afile/detector.json"], "afile"),
    (["report", "run", "--out", "afile/index.html"], "afile"),
], ids=["run", "verify", "analyze", "label-sheet", "fit-detector", "report"])
def test_an_output_path_that_cannot_be_written_is_one_line_and_exit_2(work, args, named):
    r = evalkit(*args, cwd=work)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    [line] = r.stderr.strip().splitlines()
    assert line.startswith(f"evalkit: error: {named}: "), line


def _readme_block(marker: str) -> str:
    """The README's fenced python block that holds `marker`."""
    [block] = [b for b in re.findall(r"^```python\n(.*?)^```$", (REPO / "README.md").read_text(encoding="utf-8"), re.S | re.M)
               if marker in b]
    return block


def test_the_readme_code_verifier_example_gives_what_its_comment_says(tmp_path):
    block = _readme_block('get_verifier("code"')
    assert "# True, 1.0, (TestResult(passed=True" in block
    script = block + "\nimport json\nprint(json.dumps([v.correct, v.score, [(t.passed, t.reason) for t in v.tests]]))\n"
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, env=ENV,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1]) == [True, 1.0, [[True, "passed"]]]


def test_the_readme_own_task_errors_are_what_it_shows(tmp_path):
    text = (REPO / "README.md").read_text(encoding="utf-8")
    [spec] = [b for b in re.findall(r"^```yaml\n(.*?)^```$", text, re.S | re.M) if b.startswith("# my_task.yaml")]
    shown = re.findall(r"^    (evalkit: error: \S*my_task\.yaml.*)$", text, re.M)
    assert len(shown) == 2
    rows = [{"qid": "a", "question": "What is 1+1?", "solution": "It is \\boxed{2}.", "difficulty": 1}]
    for name, (old, new) in {"n": ("{n: 8,", "{n: many,"), "column": ("problem: question", "problem: problem")}.items():
        folder = tmp_path / name
        folder.mkdir()
        assert spec.count(old) == 1
        (folder / "my_task.yaml").write_text(spec.replace(old, new))
        (folder / "my_problems.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    r = evalkit("run", "my_task.yaml", "--model", "M", cwd=tmp_path / "n")
    assert r.returncode == 2 and r.stderr.strip() == shown[0]
    r = evalkit("run", "my_task.yaml", "--model", "M", cwd=tmp_path / "column")
    # the second names the spec by its full path, wherever it is
    assert r.returncode == 2 and r.stderr.strip().endswith(shown[1].split("/home/me/", 1)[1]), r.stderr
    assert not (tmp_path / "n" / "reports").exists() and not (tmp_path / "column" / "reports").exists()


def test_evalkit_tasks_shows_whole_descriptions_in_aligned_columns(tmp_path):
    import yaml

    r = evalkit("tasks", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    lines = {line.split()[0]: line for line in r.stdout.splitlines()}
    starts = set()
    for path in sorted((REPO / "tasks").glob("*.yaml")):
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
        # every description as its YAML file writes it (the license note of the MathArena ones included)
        assert lines[spec["name"]].endswith("  " + spec["description"]), lines[spec["name"]]
        starts.add(len(lines[spec["name"]]) - len(spec["description"]))
    assert len(starts) == 1, "the description column starts at one place on every task's line"
    assert lines["aime26"].endswith("Data CC BY-NC-SA 4.0 (MathArena).")
    assert lines["gsm8k"].endswith("gold is the number after ####.")
