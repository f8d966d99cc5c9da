"""A backend from outside the package, registered through the `evalkit.backends` entry point, runs
like a built-in (`evalkit run --backend NAME`, listed in --backend's choices), and an option a backend
does not take is an error naming it. The plugin is a real distribution on the path of the process."""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

import pytest
from _plugin_dist import python_with, write_distribution

PLUGIN = textwrap.dedent('''
    """A backend that always answers 2 (a stand-in for a user's inference service)."""
    from evalkit.types import Completion


    class AlwaysTwo:
        name = "always2"

        def __init__(self, model, temperature_floor=0.0):
            self.model = model

        def render(self, messages, think_prefill, chat_template_kwargs):
            return "\\\\n\\\\n".join(m["content"] for m in messages), "", False

        def generate(self, requests):
            for req in requests:
                yield req, Completion(text=f"<think>seed {req.seed}</think> \\\\boxed{{2}}", finish_reason="stop",
                                      model=self.model)

        def close(self):
            pass
''')


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    return write_distribution(tmp_path_factory.mktemp("site"), "always_two", PLUGIN, "always-two",
                              "[evalkit.backends]\nalways2 = always_two:AlwaysTwo\n")


def cli(args: list[str], site: Path, cwd: Path) -> subprocess.CompletedProcess:
    return python_with(site, ["-m", "evalkit", *args], cwd)


@pytest.fixture()
def task(tmp_path) -> Path:
    (tmp_path / "p.jsonl").write_text(json.dumps({"qid": "a", "q": "1+1?", "a": "2"}) + "\n"
                                      + json.dumps({"qid": "b", "q": "1+2?", "a": "3"}) + "\n")
    spec = tmp_path / "sums.yaml"
    spec.write_text("name: sums\ndataset: {local: p.jsonl}\nfields: {id: qid, problem: q, answer: a}\n")
    return spec


def test_a_plugin_backend_runs_like_a_built_in(site, task, tmp_path):
    listed = cli(["run", "--help"], site, tmp_path)
    assert "always2" in listed.stdout
    r = cli(["run", str(task), "--backend", "always2", "--model", "two", "-n", "2", "--no-progress"], site, tmp_path)
    assert r.returncode == 0, r.stderr
    run_dir = tmp_path / "reports" / "sums--two"
    samples = [json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines()]
    assert [(s["problem_id"], s["correct"]) for s in samples] == [("a", True), ("a", True), ("b", False), ("b", False)]
    assert samples[0]["completion"] != samples[1]["completion"]  # each sample its own seed
    [result] = json.loads((run_dir / "results.json").read_text())["results"]
    assert result["metrics"]["avg@n"]["value"] == 0.5
    assert json.loads((run_dir / "config.json").read_text())["backend"] == "always2"


@pytest.mark.parametrize("args, says", [
    (["--backend", "always2", "--model", "two", "--endpoint", "completions"], "the always2 backend has no option 'endpoint'"),
    (["--backend", "always2", "--model", "two", "--max-model-len", "4096"], "no option 'max_model_len'"),
    (["--backend", "replay", "--completions", "c.jsonl", "--tp", "2"], "--tp: no option of a replay"),
])
def test_an_option_the_backend_does_not_take_is_an_error_naming_it(site, task, tmp_path, args, says):
    (tmp_path / "c.jsonl").write_text(json.dumps({"problem_id": "a", "sample": 0, "completion": "2"}) + "\n")
    r = cli(["run", str(task), *args, "--no-progress", "--out", "run"], site, tmp_path)
    assert r.returncode == 2 and says in r.stderr and r.stderr.count("\n") == 1, r.stderr
    assert not (tmp_path / "run" / "samples.jsonl").exists()


def test_a_backend_plugin_that_cannot_be_loaded_is_a_one_line_error(task, tmp_path):
    # A misspelt attribute in the entry point, and a plugin module that fails as it imports: both are
    # said in one line naming the plugin (exit 2), as for verifier plugins, and no run starts.
    (tmp_path / "bad-site").mkdir()
    site = write_distribution(tmp_path / "bad-site", "typo_plugin", "def make_backend(model):\n    ...\n", "typo-plugin",
                              "[evalkit.backends]\ntypo = typo_plugin:make_backnd\nboom = boom_plugin:make_backend\n")
    (site / "boom_plugin.py").write_text("raise RuntimeError('no licence key in the environment')\n")
    for name, says in [("typo", "plugin (typo_plugin:make_backnd) backend 'typo' could not be loaded: AttributeError"),
                       ("boom", "plugin (boom_plugin:make_backend) backend 'boom' could not be loaded: RuntimeError: "
                                "no licence key in the environment")]:
        r = cli(["run", str(task), "--backend", name, "--model", "m", "--out", "run", "--no-progress"], site, tmp_path)
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr
        assert says in r.stderr
        assert not (tmp_path / "run").exists()
