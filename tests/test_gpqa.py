"""GPQA-Diamond: hub only, options shuffled per question with a recorded seed, scored by the choice
verifier. The tests read a synthetic file in the hub's columns (tests/data/gpqa), never GPQA's text."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from evalkit.errors import InputError
from evalkit.taskspec import builtin_tasks_dir, load_problems, load_task

SYNTHETIC = Path(__file__).parent / "data" / "gpqa" / "synthetic.csv"


def _spec():
    spec = load_task("gpqa_diamond")
    return replace(spec, dataset=replace(spec.dataset, local=SYNTHETIC))


def _problems():
    return load_problems(_spec(), source="local").problems


def test_gpqa_diamond_is_hub_only_and_says_so_offline(monkeypatch):
    spec = load_task("gpqa_diamond")
    assert (spec.dataset.hub, spec.dataset.config, spec.dataset.local) == ("Idavidrein/gpqa", "gpqa_diamond", None)
    assert spec.verifier == "choice"
    assert not list(builtin_tasks_dir().rglob("*gpqa*.jsonl"))  # no bundled copy anywhere
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(InputError, match="the hub is offline and the local hub cache does not hold it \\(unset HF_HUB_OFFLINE"):
        load_problems(spec)


def test_the_gold_letter_points_at_the_right_option_in_the_prompt():
    from evalkit.taskspec import render

    spec = _spec()
    problems = _problems()
    assert len(problems) == 8 and all(p.answer in "ABCD" for p in problems)
    assert len({p.answer for p in problems}) > 1  # shuffled: the right answer is not always A
    for p in problems:
        prompt = render(spec.prompt, p.row, problem=p.problem, id=p.id)
        lines = {line[0]: line[3:] for line in prompt.splitlines() if line[:3] in ("A) ", "B) ", "C) ", "D) ")}
        assert sorted(lines) == list("ABCD")
        assert lines[p.answer] == p.row["Correct Answer"]
        wrong = {p.row[f"Incorrect Answer {i}"] for i in (1, 2, 3)}
        assert {v for k, v in lines.items() if k != p.answer} == wrong
        assert prompt.rstrip().endswith(lines["D"]) and "Answer: LETTER" in prompt


def test_the_shuffle_is_the_same_in_another_process_and_changes_with_the_seed():
    here = [(p.id, p.answer) for p in _problems()]
    code = ("import json, sys; sys.path.insert(0, '.'); from tests.test_gpqa import _problems; "
            "print(json.dumps([(p.id, p.answer) for p in _problems()]))")
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           cwd=Path(__file__).parent.parent, env={**os.environ, "PYTHONHASHSEED": "12345"})
    assert [tuple(x) for x in json.loads(other.stdout)] == here
    from evalkit.choices import shuffled_gold

    cols = ["Correct Answer", "Incorrect Answer 1", "Incorrect Answer 2", "Incorrect Answer 3"]
    rows = [p.row for p in _problems()]
    assert [shuffled_gold(r, cols, key="Record ID", seed=1) for r in rows] != [a for _, a in here]


def test_a_replayed_run_scores_letters_and_records_the_seed(tmp_path):
    # the built-in spec as is, only its dataset pointed at the synthetic file (as a user with the CSV would)
    spec = yaml.safe_load((builtin_tasks_dir() / "gpqa_diamond.yaml").read_text())
    spec["dataset"] = {"local": str(SYNTHETIC)}
    (tmp_path / "gpqa_local.yaml").write_text(yaml.safe_dump(spec))
    rows = []
    for p in _problems():
        wrong = next(x for x in "ABCD" if x != p.answer)
        rows.append({"problem_id": p.id, "sample": 0, "completion": f"<think>\nhmm\n</think>\nReasoning.\nAnswer: {p.answer}"})
        rows.append({"problem_id": p.id, "sample": 1, "completion": f"<think>\nhmm\n</think>\nAnswer: {wrong}"})
    (tmp_path / "c.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    r = subprocess.run([sys.executable, "-m", "evalkit", "run", str(tmp_path / "gpqa_local.yaml"), "--completions",
                        str(tmp_path / "c.jsonl"), "--out", str(tmp_path / "run"), "--no-progress", "--no-trace"],
                       capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=300)
    assert r.returncode == 0, r.stderr
    result = json.loads((tmp_path / "run" / "results.json").read_text())["results"][0]
    assert result["verifier"] == "choice" and result["metrics"]["avg@n"]["value"] == pytest.approx(0.5)
    samples = [json.loads(x) for x in (tmp_path / "run" / "samples.jsonl").read_text().splitlines()]
    assert {s["gold"] for s in samples} == {p.answer for p in _problems()}
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert "seed=0" in config["tasks"][0]["fields"]["answer"]


@pytest.mark.parametrize("empty", [None, float("nan"), "  "])
def test_an_option_that_holds_no_text_is_refused_naming_the_row_not_printed_as_none(tmp_path, empty):
    # a null or NaN option printed "D) None" / "C) nan" in the prompt, an option the model could choose
    import csv

    rows = list(csv.DictReader(SYNTHETIC.open(newline="", encoding="utf-8")))
    rows[2]["Incorrect Answer 3"] = empty
    path = tmp_path / "gpqa.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")  # NaN as JSON's NaN
    spec = _spec()
    with pytest.raises(InputError, match=r"on row 2.*option column 'Incorrect Answer 3' holds no text"):
        load_problems(replace(spec, dataset=replace(spec.dataset, local=path)), source="local")
