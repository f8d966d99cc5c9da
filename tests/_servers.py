"""Real vLLM OpenAI servers of the tiny model on 127.0.0.1, for the backend and fleet tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest


def start_server(model: Path, log: Path, extra: tuple[str, ...] = ()) -> tuple[subprocess.Popen, str]:
    """Start `vllm.entrypoints.openai.api_server` serving the model as `tiny`; returns (process, base URL)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # the worker in the engine core's process (`uni`: vLLM's CPU platform keeps it only with
    # VLLM_ENABLE_V1_MULTIPROCESSING=0, which conftest.py sets): one process fewer to start
    cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model),
           "--served-model-name", "tiny", "--host", "127.0.0.1", "--port", str(port), "--dtype", "float32",
           "--max-model-len", "1024", "--enforce-eager", "--distributed-executor-backend", "uni", *extra]
    with open(log, "w") as f:
        proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, start_new_session=True)
    return proc, f"http://127.0.0.1:{port}/v1"


def wait_up(proc: subprocess.Popen, url: str, log: Path, deadline: float) -> None:
    """Wait until the server lists its models; fail the test with its log if it dies or never answers."""
    while time.time() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"vLLM server exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    stop(proc)
    pytest.fail(f"vLLM server did not start: {log.read_text()[-2000:]}")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


class SessionServers:
    """The session's vLLM servers of the tiny model, one per kind, started in the background as soon as the
    session knows it needs them (`start`), so their start-up overlaps the tests before them. A test that
    kills one (`take`) leaves the kind to be started again by the next test that asks for it."""

    KINDS = {
        # no reasoning parser, a 4,096-token window (a judge's prompt holds the problem and the answer)
        "plain": ("--max-model-len", "4096"),
        # the DeepSeek-R1 reasoning parser, for the chat endpoint's reasoning_content
        "reasoning": ("--reasoning-parser", "deepseek_r1"),
    }

    def __init__(self, model: Path, logs: Path) -> None:
        self.model, self.logs = model, logs
        self.running: dict[str, tuple[subprocess.Popen, str, Path]] = {}
        self.starts = 0

    def start(self, kind: str) -> None:
        """Start the kind's server unless one is running; returns at once."""
        if kind not in self.running or self.running[kind][0].poll() is not None:
            self.starts += 1
            log = self.logs / f"{kind}-{self.starts}.log"
            self.running[kind] = (*start_server(self.model, log, extra=self.KINDS[kind]), log)

    def url(self, kind: str) -> str:
        """The base URL of the kind's server, once it answers."""
        return self.take(kind)[1]

    def take(self, kind: str) -> tuple[subprocess.Popen, str]:
        """The kind's server process and base URL, once it answers, for a test that may kill it: the next
        `url(kind)` then starts another."""
        self.start(kind)
        proc, url, log = self.running[kind]
        wait_up(proc, url, log, time.time() + 300)
        return proc, url

    def close(self) -> None:
        for proc, _, _ in self.running.values():
            stop(proc)
        self.running.clear()
