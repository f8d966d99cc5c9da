"""A verifier from outside the package, registered through the `evalkit.verifiers` entry point, works
everywhere a built-in does: run (with its environment check), maj@k (with its equivalence), rewards,
export, report and verify. The plugin is a real installed distribution: a package and its
dist-info on the path of the processes that use it, as `pip install` leaves them."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from _plugin_dist import python_with, write_distribution

PLUGIN = textwrap.dedent('''
    """Distances with units: '1 km' and '1000 m' are the same answer."""
    import re
    from evalkit.types import Verdict
    from evalkit.verifiers.base import Capabilities

    METRES = {"km": 1000.0, "m": 1.0, "cm": 0.01}
    PATTERN = re.compile(r"([0-9.]+)\\s*(km|cm|m)\\b")

    def metres(text):
        found = PATTERN.findall(text or "")
        return float(found[-1][0]) * METRES[found[-1][1]] if found else None

    class UnitsVerifier:
        name = "units"
        capabilities = Capabilities(votes=True, limits=frozenset({"per_answer_s"}), gold="text")

        def __init__(self, per_answer_s=None, tolerance=1e-9):
            self.per_answer_s, self.tolerance = per_answer_s, tolerance

        def verify_many(self, items):
            out = []
            for item in items:
                found = PATTERN.findall(item.completion or "")
                if not found:
                    out.append(Verdict(False, 0.0, None, "no_answer", "no distance"))
                    continue
                answer = " ".join(found[-1])
                same = abs(metres(answer) - metres(str(item.gold))) <= self.tolerance
                out.append(Verdict(same, float(same), answer, "correct" if same else "wrong",
                                   f"limit {self.per_answer_s}"))
            return out

        def equivalent(self, a, b):
            return metres(a) is not None and metres(a) == metres(b)

        def check(self, require_layers=()):
            return {"units": sorted(METRES)}
''')


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory) -> Path:
    return write_distribution(tmp_path_factory.mktemp("site"), "evalkit_units", PLUGIN, "evalkit-units",
                              "[evalkit.verifiers]\nunits = evalkit_units:UnitsVerifier\n")


def run(args: list[str], site: Path, cwd: Path) -> subprocess.CompletedProcess:
    return python_with(site, args, cwd)


@pytest.fixture()
def units_task(tmp_path) -> Path:
    (tmp_path / "trips.jsonl").write_text(json.dumps({"id": "walk", "q": "How far?", "a": "3 km"}) + "\n")
    spec = tmp_path / "trips.yaml"
    spec.write_text("name: trips\ndataset: {local: trips.jsonl}\nfields: {id: id, problem: q, answer: a}\n"
                    "prompt: '{{ q }} ({{ id }})'\nverifier: units\nverifier_options: {tolerance: 0.5}\n")
    return spec


def test_a_plugin_verifier_runs_votes_and_reports_like_a_built_in(plugin_path, units_task, tmp_path):
    replay = tmp_path / "done.jsonl"
    # gold 3 km: one right, and two wrong answers that are the same distance spelled two ways
    texts = ["<think>hmm</think> 1 km", "<think>hmm</think> 1000 m", "<think>hmm</think> 3000 m"]
    replay.write_text("".join(json.dumps({"problem_id": "walk", "sample": i, "completion": t}) + "\n"
                              for i, t in enumerate(texts)))
    r = run(["-m", "evalkit", "run", str(units_task), "--completions", str(replay), "--no-progress", "--out", "run"],
            plugin_path, tmp_path)
    assert r.returncode == 0, r.stderr
    samples = [json.loads(line) for line in (tmp_path / "run" / "samples.jsonl").read_text().splitlines()]
    assert [s["correct"] for s in samples] == [False, False, True]
    assert samples[0]["prompt"] == "How far? (walk)"
    [result] = json.loads((tmp_path / "run" / "results.json").read_text())["results"]
    # by text the three answers tie (1/3); the plugin's equivalence makes the wrong pair win
    assert result["metrics"]["maj@3"]["value"] == 0.0 and result["verifier"] == "units"
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["verifier_environment"] == {"trips": {"units": ["cm", "km", "m"]}}
    assert (tmp_path / "run" / "index.html").stat().st_size > 1000

    again = run(["-m", "evalkit", "report", "run", "--out", "again.html"], plugin_path, tmp_path)
    assert again.returncode == 0 and (tmp_path / "again.html").is_file(), again.stderr

    verify = run(["-m", "evalkit", "verify", "it is 1000 m", "1 km", "--verifier", "units", "--json"],
                 plugin_path, tmp_path)
    assert verify.returncode == 0 and json.loads(verify.stdout)["correct"] is True, verify.stderr


def test_a_plugin_verifier_exports_and_rewards(plugin_path, units_task, tmp_path):
    r = run(["-m", "evalkit", "export", str(units_task), "--format", "verl", "--out", "train.parquet"],
            plugin_path, tmp_path)
    assert r.returncode == 0, r.stderr
    script = textwrap.dedent('''
        import json, pandas
        from evalkit.rewards import verdicts
        from evalkit.rewards.verl import compute_score
        row = pandas.read_parquet("train.parquet").iloc[0]
        assert row["prompt"][0]["content"] == "How far? (walk)", row["prompt"]
        extra = dict(row["extra_info"])
        scores = [compute_score(row["data_source"], text, row["reward_model"]["ground_truth"], extra)["score"]
                  for text in ("3000 m", "2 km")]
        [v] = verdicts("units", ["3 km"], ["3000 m"])
        print(json.dumps({"scores": scores, "detail": v.detail}))
    ''')
    rewards = run(["-c", script], plugin_path, tmp_path)
    assert rewards.returncode == 0, rewards.stderr
    out = json.loads(rewards.stdout)
    assert out["scores"] == [1.0, 0.0]
    assert out["detail"] == "limit 1.0"  # the rewards' per-answer limit, in the one spelling it accepts


def test_a_verifier_that_cannot_be_imported_is_reported_as_such(tmp_path):
    # a built-in whose module fails to import (here: blocked), as a missing dependency would
    code = ("import sys; sys.modules['evalkit.verifiers.choice'] = None; sys.argv[0] = 'evalkit'; "
            "from evalkit.cli import main; main()")
    r = subprocess.run([sys.executable, "-c", code, "verify", "B", "B", "--verifier", "choice"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "built-in verifier 'choice' could not be loaded: ModuleNotFoundError" in r.stderr
    assert "unknown" not in r.stderr

    unknown = subprocess.run([sys.executable, "-m", "evalkit", "verify", "B", "B", "--verifier", "nosuch"],
                             capture_output=True, text=True, timeout=120)
    assert unknown.returncode == 2 and "unknown verifier 'nosuch' (known: choice, code, judge, math" in unknown.stderr
