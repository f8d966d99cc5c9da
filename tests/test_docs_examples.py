"""docs/extending.md's examples, run as written: a verifier, a backend and a benchmark added from
outside the package (the two plugins installed as a distribution with entry points, the benchmark as
a YAML file in a user's folder)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "extending.md"


def blocks() -> list[tuple[str, str]]:
    """(language, text) of every fenced block of the page, in order."""
    return re.findall(r"```(\w+)\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)


def test_the_extending_page_examples_work_from_outside(tmp_path):
    site, work = tmp_path / "site", tmp_path / "work"
    site.mkdir()
    work.mkdir()
    entry_points: dict[str, dict[str, str]] = {}
    for lang, text in blocks():
        first = text.splitlines()[0]
        if lang == "python":
            (site / first.removeprefix("# ").strip()).write_text(text)
        elif lang == "toml":
            for group, names in tomllib.loads(text)["project"]["entry-points"].items():
                entry_points.setdefault(group, {}).update(names)
        elif lang == "yaml":
            (work / first.removeprefix("# ").strip()).write_text(text)
        elif lang == "json":
            (work / "trips.jsonl").write_text(text)
        elif lang == "bash":
            command = text.split()
    info = site / "docs_examples-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: docs-examples\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("".join(
        f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in names.items()) for group, names in entry_points.items()))
    assert set(entry_points) == {"evalkit.verifiers", "evalkit.backends"}

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    assert command[:2] == ["evalkit", "run"]
    r = subprocess.run([sys.executable, "-m", "evalkit", *command[1:], "--no-progress"], capture_output=True,
                       text=True, env=env, cwd=work, timeout=300)
    assert r.returncode == 0, r.stderr
    run_dir = work / "reports" / "trips--echo-1"
    samples = [json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines()]
    # the echo backend repeats the prompt; the units verifier reads its last distance, 1 km, against 3 km
    assert len(samples) == 4 and {(s["answer"], s["reason"]) for s in samples} == {("1000.0 m", "wrong")}
    [result] = json.loads((run_dir / "results.json").read_text())["results"]
    assert result["verifier"] == "units" and result["metrics"]["maj@4"]["value"] == 0.0
    exported = subprocess.run([sys.executable, "-m", "evalkit", "export", "trips.yaml", "--format", "trl", "--out",
                               "train.jsonl"], capture_output=True, text=True, env=env, cwd=work, timeout=120)
    assert exported.returncode == 0, exported.stderr
    [row] = [json.loads(line) for line in (work / "train.jsonl").read_text().splitlines()]
    assert row["prompt"][-1]["content"] in samples[0]["prompt"]


def test_the_extending_pages_verifier_reads_the_answer_not_the_thinking(tmp_path, monkeypatch):
    # a user copies the page's verifier into a reward: a reply cut off mid-thought that mused about the
    # right distance must not score, nor one whose thinking had it and whose answer does not
    [code] = [text for lang, text in blocks() if lang == "python" and text.startswith("# units_verifier.py")]
    (tmp_path / "units_verifier.py").write_text(code)
    monkeypatch.syspath_prepend(str(tmp_path))
    from units_verifier import UnitsVerifier

    from evalkit.verifiers.base import VerifyItem

    verdicts = UnitsVerifier().verify_many([
        VerifyItem("<think>Is it 3 km? Let me keep going", "3 km", finish_reason="length"),
        VerifyItem("<think>3 km?</think> I am not sure: 5 km", "3 km", finish_reason="stop"),
        VerifyItem("<think>5 km?</think> 3000 m", "3 km", finish_reason="stop"),
    ])
    assert [(v.correct, v.reason) for v in verdicts] == [(False, "truncated"), (False, "wrong"), (True, "correct")]
