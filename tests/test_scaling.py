"""Scaling out, for real, on the tiny offline model: two Ray actor replicas on a local Ray cluster, and
a fleet of two vLLM OpenAI servers on 127.0.0.1 with one killed mid-run. What a user relies on is
checked: the same samples whatever the replica count (per-sample seeds), every sample exactly once
in samples.jsonl when a replica or a server dies, and no replica left running after the run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import evalkit

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]  # a lost sample would otherwise hang

RUN = dict(n=4, limit=4, max_tokens=16, progress=False)  # 16 samples


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def completions(path: Path) -> dict:
    samples = lines(path)
    keys = [(s["task"], s["problem_id"], s["sample"]) for s in samples]
    assert len(keys) == len(set(keys)), "a sample was written twice"
    return {(s["task"], s["problem_id"], s["sample"]): s["completion"] for s in samples}


class KillAfter:
    """An engine that kills something (a replica, a server) once `after` samples came back."""

    def __init__(self, engine, after: int, kill) -> None:
        self.engine, self.after, self.kill = engine, after, kill
        self.name, self.model = engine.name, engine.model

    def render(self, *args):
        return self.engine.render(*args)

    def generate(self, requests):
        for i, item in enumerate(self.engine.generate(requests)):
            if i == self.after:
                self.kill()
            yield item

    def close(self) -> None:
        self.engine.close()


# ------------------------------------------------------------------------------- Ray replicas


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def reference(tiny_model, tmp_path_factory):
    """The samples of one in-process engine (no Ray)."""
    run = evalkit.evaluate(["aime24"], backend="transformers", model=str(tiny_model), dtype="float32",
                           out=tmp_path_factory.mktemp("ref") / "run", **RUN)
    return completions(run.samples_path)


@pytest.fixture(scope="module")
def replicas(ray_cluster, tiny_model):
    from evalkit.backends.base import get_backend

    engine = get_backend("transformers", model=str(tiny_model), dtype="float32", dp=2)
    yield engine
    engine.close()


def test_two_replicas_make_the_same_samples_as_one_engine(replicas, reference, tmp_path):
    run = evalkit.evaluate(["aime24"], engine=replicas, out=tmp_path / "dp2", **RUN)
    assert completions(run.samples_path) == reference and len(reference) == 16
    stats = replicas.replica_stats()
    assert [s["alive"] for s in stats] == [True, True]
    assert all(s["completed"] > 0 for s in stats), stats  # both did work
    assert stats[0]["pid"] != stats[1]["pid"]
    config = json.loads((run.run_dir / "config.json").read_text())
    assert config["backend"] == "transformers"  # so a run resumes whatever the replica count


def test_replicas_decide_the_think_format_as_one_engine_does(replicas, tiny_model, tmp_path):
    # `auto` reads the model's tokenizer; with replicas it is fetched from one, not left out (which fell back to r1)
    from transformers import AutoTokenizer

    from evalkit.thinking import detect_from_tokenizer

    run = evalkit.evaluate(["aime24"], engine=replicas, out=tmp_path / "auto", n=1, limit=1, max_tokens=4,
                           progress=False)
    decided = json.loads((run.run_dir / "config.json").read_text())["think_format"]
    assert decided["decided_by"] == detect_from_tokenizer(AutoTokenizer.from_pretrained(tiny_model)).reason


def test_a_replica_killed_mid_run_loses_nothing_and_repeats_nothing(replicas, reference, tmp_path, capfd):
    victim = replicas.replica_stats()[1]["pid"]
    engine = KillAfter(replicas, 1, lambda: os.kill(victim, signal.SIGKILL))
    run = evalkit.evaluate(["aime24"], engine=engine, out=tmp_path / "killed", **RUN)
    assert run.generated == 16
    assert completions(run.samples_path) == reference  # the survivor redid the lost ones, identically
    stats = replicas.replica_stats()
    assert [s["alive"] for s in stats] == [True, False]
    assert "replica 1 (" in capfd.readouterr().err


def test_closing_ends_every_replica(ray_cluster, replicas):
    actors = list(replicas.actors)
    replicas.close()
    for actor in actors:
        with pytest.raises(ray_cluster.exceptions.RayActorError):
            ray_cluster.get(actor.ready.remote(), timeout=30)


def test_replicas_that_cannot_start_are_a_clear_error(ray_cluster, tiny_model, tmp_path):
    from evalkit.backends.base import get_backend
    from evalkit.errors import InputError

    with pytest.raises(InputError, match=r"3 replicas need 3 CPUs \(1 each\); the Ray cluster has 2"):
        get_backend("transformers", model=str(tiny_model), dp=3)
    # the engine's own error, raised where the replica started, not Ray's wrapper around it
    with pytest.raises(InputError, match=f"{tmp_path / 'nope'}: not a model folder"):
        (tmp_path / "nope").mkdir()
        get_backend("transformers", model=str(tmp_path / "nope"), dp=2, replica_options={"num_cpus": 0})
    with pytest.raises(InputError, match="give one --base-url per server"):
        get_backend("openai", model="tiny", dp=2)


def _tagged(tag: str) -> list[int]:
    """The pids of processes whose environment holds EVALKIT_TEST_TAG=tag (a run's Ray processes inherit it)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and f"EVALKIT_TEST_TAG={tag}".encode() in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def test_sigterm_stops_a_replicated_run_and_every_ray_process(tiny_model, tmp_path):
    # ray.init replaced evalkit's SIGTERM handler: the driver aborted (exit 134, Ray's stack dump), evalkit
    # never stopped its replicas, and Ray's processes outlived the run
    pytest.importorskip("ray")
    import time

    tag = f"dp-sigterm-{os.getpid()}"
    args = [sys.executable, "-m", "evalkit", "run", "gsm8k", "--backend", "transformers", "--model", str(tiny_model),
            "--dtype", "float32", "--dp", "2", "-n", "4", "--limit", "20", "--max-tokens", "300", "--no-progress",
            "--out", str(tmp_path / "run")]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "EVALKIT_TEST_TAG": tag,
           "EVALKIT_RAY_LOGS": "0"}
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    samples = tmp_path / "run" / "samples.jsonl"
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None and not (samples.is_file() and samples.read_text().count("\n") >= 2):
        time.sleep(0.1)
    assert proc.poll() is None, "the run finished before it could be stopped"
    proc.send_signal(signal.SIGTERM)
    err = proc.communicate(timeout=180)[1]
    assert proc.returncode == 143 and "SIGTERM received" not in err, err
    assert "evalkit: stopped by SIGTERM; what was finished is saved" in err
    deadline = time.time() + 60
    while _tagged(tag) and time.time() < deadline:
        time.sleep(0.5)
    left = _tagged(tag)
    for pid in left:  # leave nothing behind for the next test, whatever this one says
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    assert not left, f"{len(left)} of the run's processes outlived it"
    from evalkit.run.rundir import read_samples

    assert len(read_samples(samples)) >= 2  # whole lines (a line cut by the stop is dropped on resume)


def test_ray_address_with_no_cluster_is_one_clear_line(tiny_model, tmp_path):
    pytest.importorskip("ray")
    r = subprocess.run([sys.executable, "-m", "evalkit", "run", "aime24", "--backend", "transformers", "--model",
                        str(tiny_model), "--ray-address", "127.0.0.1:1", "--out", str(tmp_path / "x")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "no Ray cluster at 127.0.0.1:1" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "x").exists()


# -------------------------------------------------------------------------------- server fleet


@pytest.fixture
def fleet(vllm_servers):
    """Two real vLLM OpenAI servers of the tiny model on 127.0.0.1: the session's two (conftest.py), which
    this module's test kills; a later test that asks for one gets another."""
    return [vllm_servers.take("plain"), vllm_servers.take("reasoning")]


def test_fleet_with_a_server_killed_mid_run_loses_nothing_and_repeats_nothing(fleet, tiny_model, tmp_path, capfd):
    from evalkit.backends.base import get_backend

    (survivor, url0), (victim, url1) = fleet
    options = dict(endpoint="completions", tokenizer=str(tiny_model), concurrency=3)
    engine = get_backend("openai", model="tiny", base_url=[url0, url1], **options)
    killed = KillAfter(engine, 2, lambda: os.killpg(victim.pid, signal.SIGKILL))
    run = evalkit.evaluate(["aime24"], engine=killed, out=tmp_path / "fleet", **RUN)
    assert run.generated == 16 and victim.wait(10) is not None
    got = completions(run.samples_path)
    assert len(got) == 16

    stats = {s["url"]: s for s in engine.server_stats()}
    assert stats[url1]["healthy"] is False and stats[url1]["failed_over"] >= 1  # it had requests in flight
    assert stats[url0]["completed"] + stats[url1]["completed"] == 16
    assert f"server {url1} is unreachable" in capfd.readouterr().err

    # the requests that moved made the same samples the survivor makes on its own (per-sample seeds)
    alone = evalkit.evaluate(["aime24"], backend="openai", model="tiny", base_url=url0, backend_options=options,
                             out=tmp_path / "alone", **RUN)
    assert completions(alone.samples_path) == got

    # a server down at the start is skipped (and probed); the others do the work
    late = evalkit.evaluate(["aime24"], backend="openai", model="tiny", base_url=[url1, url0], backend_options=options,
                            out=tmp_path / "late", n=1, limit=2, max_tokens=8, progress=False)
    err = capfd.readouterr().err
    assert late.generated == 2 and f"cannot reach the server at {url1}" in err
    assert f"evalkit: servers: {url1} answered 0" in err and f"; {url0} answered 2" in err, err

    # a fleet with no server up is one clear line, not a traceback or a hang
    r = subprocess.run([sys.executable, "-m", "evalkit", "run", "aime24", "--backend", "openai", "--model", "tiny",
                        "--base-url", url1, "--base-url", "http://127.0.0.1:1/v1", "--out", str(tmp_path / "none")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "cannot reach the server at" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "none").exists()

    # the last server dies mid-run: the run stops after down_timeout with what it made saved, no hang
    from evalkit.errors import InputError

    last = get_backend("openai", model="tiny", base_url=[url0], down_timeout=2, **options)
    engine = KillAfter(last, 1, lambda: os.killpg(survivor.pid, signal.SIGKILL))
    with pytest.raises(InputError, match=r"no server answered for 2 s .* samples of this invocation are saved"):
        evalkit.evaluate(["aime24"], engine=engine, out=tmp_path / "stopped", **RUN)
    saved = completions(tmp_path / "stopped" / "samples.jsonl")
    assert 1 <= len(saved) < 16 and all(got[k] == v for k, v in saved.items())
