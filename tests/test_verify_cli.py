"""`evalkit verify --pairs` honours `--verifier` for lines that name none."""

from __future__ import annotations

import json

from click.testing import CliRunner

from evalkit.cli import main


def test_pairs_lines_without_a_verifier_use_the_one_given(tmp_path):
    src = tmp_path / "pairs.jsonl"
    src.write_text(json.dumps({"id": "a", "completion": "I pick (B), not A.", "gold": "B"}) + "\n"
                   + json.dumps({"id": "b", "completion": "\\boxed{2}", "gold": "2", "verifier": "math"}) + "\n")
    r = CliRunner().invoke(main, ["verify", "--pairs", str(src), "--verifier", "choice"])
    assert r.exit_code == 0, r.output
    a, b = [json.loads(line) for line in r.output.splitlines()]
    assert (a["id"], a["correct"], a["answer"]) == ("a", True, "B")  # the choice verifier read the letter
    assert (b["id"], b["correct"]) == ("b", True)


def test_pairs_think_open_must_be_a_boolean(tmp_path):
    src = tmp_path / "pairs.jsonl"
    src.write_text(json.dumps({"completion": "x</think>\\boxed{2}", "gold": "2", "think_open": "false"}) + "\n")
    r = CliRunner().invoke(main, ["verify", "--pairs", str(src)])
    assert r.exit_code == 2 and "pairs.jsonl:1: field 'think_open': expected true or false" in r.output
