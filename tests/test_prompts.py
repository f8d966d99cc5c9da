"""One renderer of prompts: what `evalkit export` writes for training is, byte for byte, what
`evalkit run` asks the model, for every built-in task and for templates that use the problem id."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator, Sequence

import pytest
import yaml

import evalkit
from evalkit.rewards.export import export_task
from evalkit.taskspec import builtin_tasks_dir, list_tasks
from evalkit.types import Completion, Request

BUILTIN = [spec.name for spec in list_tasks()]
# hub-only tasks (no bundled copy) run on a synthetic file in the hub's columns
STAND_INS = {"gpqa_diamond": Path(__file__).parent / "data" / "gpqa" / "synthetic.csv"}


def _runnable(task: str, tmp_path: Path) -> str:
    """The task as `evalkit run` can load it offline: itself, or its spec on a stand-in file."""
    spec = next(s for s in list_tasks() if s.name == task)
    if spec.dataset.local is not None:
        return task
    assert task in STAND_INS, f"{task} is hub-only: give it a stand-in file in the hub's columns"
    data = yaml.safe_load((builtin_tasks_dir() / f"{task}.yaml").read_text())
    data["dataset"] = {"local": str(STAND_INS[task])}
    path = tmp_path / f"{task}.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


class RecordingBackend:
    """A backend that answers nothing useful and keeps, as the prompt, the exact chat messages the
    run rendered (so samples.jsonl shows them byte for byte)."""

    name = "recording"
    model = "recorder"

    def render(self, messages: list[dict[str, str]], think_prefill: bool,
               chat_template_kwargs: dict[str, Any]) -> tuple[str, str, bool]:
        return json.dumps(messages, ensure_ascii=False), "", False

    def generate(self, requests: Sequence[Request]) -> Iterator[tuple[Request, Completion]]:
        for req in requests:
            yield req, Completion(text="\\boxed{0}", finish_reason="stop")

    def close(self) -> None:
        pass


@pytest.mark.parametrize("task", BUILTIN)
def test_export_prompt_is_the_run_prompt_for_every_builtin_task(task, tmp_path):
    task = _runnable(task, tmp_path)
    run = evalkit.evaluate([task], engine=RecordingBackend(), limit=3, n=1, out=tmp_path / "run",
                           progress=False, trace=False, data_source="local")
    asked = {}
    for line in (run.run_dir / "samples.jsonl").read_text(encoding="utf-8").splitlines():
        sample = json.loads(line)
        asked[sample["problem_id"]] = json.loads(sample["prompt"])
    out = export_task(task, "trl", tmp_path / "train.jsonl", limit=3, source="local")
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == len(asked) == 3
    for row in rows:
        assert json.dumps(row["prompt"], ensure_ascii=False) == json.dumps(asked[row["problem_id"]],
                                                                            ensure_ascii=False)


def test_export_renders_templates_that_use_the_problem_id(tmp_path):
    (tmp_path / "p.jsonl").write_text(json.dumps({"qid": "q7", "question": "1+1?", "solution": "2"}) + "\n")
    spec = tmp_path / "ids.yaml"
    spec.write_text("name: ids\ndataset: {local: p.jsonl}\nfields: {id: qid, problem: question, answer: solution}\n"
                    "prompt: 'Problem {{ id }}: {{ problem }}'\nsystem: 'You solve problem {{ id }}.'\n")
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    r = subprocess.run([sys.executable, "-m", "evalkit", "export", str(spec), "--format", "trl", "--out", "t.jsonl"],
                       capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    [row] = [json.loads(line) for line in (tmp_path / "t.jsonl").read_text().splitlines()]
    assert row["prompt"] == [{"role": "system", "content": "You solve problem q7."},
                             {"role": "user", "content": "Problem q7: 1+1?"}]
    run = evalkit.evaluate([str(spec)], engine=RecordingBackend(), out=tmp_path / "run", progress=False, trace=False)
    [sample] = [json.loads(line) for line in (run.run_dir / "samples.jsonl").read_text().splitlines()]
    assert json.loads(sample["prompt"]) == row["prompt"]
