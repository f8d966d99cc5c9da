"""Real vLLM OpenAI servers of the tiny model on 127.0.0.1, for the backend and fleet tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import httpx
import pytest


def start_server(model: Path, log: Path, core: int | None = None, extra: tuple[str, ...] = ()) -> tuple[subprocess.Popen, str]:
    """Start `vllm.entrypoints.openai.api_server` serving the model as `tiny`; returns (process, base URL)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # the worker in the engine's process (`uni`): one process fewer to start, half the start-up time
    cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model),
           "--served-model-name", "tiny", "--host", "127.0.0.1", "--port", str(port), "--dtype", "float32",
           "--max-model-len", "1024", "--enforce-eager", "--distributed-executor-backend", "uni", *extra]
    env = dict(os.environ)
    if core is not None and (os.cpu_count() or 1) > 1:  # vLLM pins every CPU server to core 0 unless told
        env["VLLM_CPU_OMP_THREADS_BIND"] = str(core % os.cpu_count())
    with open(log, "w") as f:
        proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, start_new_session=True, env=env)
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


@contextmanager
def served(model: Path, log: Path, extra: tuple[str, ...] = ()) -> Iterator[str]:
    """One server (`start_server`) for the length of the block, up when it starts: its base URL."""
    proc, url = start_server(model, log, extra=extra)
    try:
        wait_up(proc, url, log, time.time() + 300)
        yield url
    finally:
        stop(proc)
