"""Shared fixtures. The tiny model is built once per session, offline (evalkit.testing)."""

from __future__ import annotations

import compileall
import importlib.util
import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# vLLM's engine core in the process that starts it and its CPU worker in the engine core, not one process
# each: every engine and server of the tests starts in about half the time (each spawned process imports
# torch and vLLM again), and makes the same samples. Users keep vLLM's default.
os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")

REPO = Path(__file__).resolve().parent.parent
# Hundreds of tests run `evalkit` in a subprocess, and each imports the package again. Where
# PYTHONDONTWRITEBYTECODE is set (many containers and CI images set it) none of them writes its bytecode, so
# each compiled evalkit's modules anew (about 0.2 s a process): compile them once, here. A tree this user
# cannot write to is left as it is.
if sys.dont_write_bytecode:
    compileall.compile_dir(REPO / "evalkit", quiet=2)
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A 2-layer Qwen2 with random weights and a BPE tokenizer with <think> tokens (no hub)."""
    pytest.importorskip("transformers")
    from evalkit.testing import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("models") / "tiny-qwen2")


@pytest.fixture(scope="session")
def vllm_engine(tiny_model):
    """One in-process vLLM CPU engine on the tiny model, shared by every test module of the session."""
    pytest.importorskip("vllm")
    from evalkit.backends.vllm import VLLMBackend

    engine = VLLMBackend(model=str(tiny_model), dtype="float32", max_model_len=1024, enforce_eager=True)
    yield engine
    engine.close()


# the session's vLLM servers each fixture uses (tests/_servers.py)
SERVERS_OF = {"plain_vllm_server": ("plain",), "reasoning_vllm_server": ("reasoning",),
              "fleet": ("plain", "reasoning")}


@pytest.fixture(scope="session")
def vllm_servers(tiny_model, tmp_path_factory):
    pytest.importorskip("vllm")
    from _servers import SessionServers

    servers = SessionServers(tiny_model, tmp_path_factory.mktemp("vllm-servers"))
    yield servers
    servers.close()


@pytest.fixture(scope="session", autouse=True)
def _start_the_sessions_servers(request):
    """Start, at the session's first test, the vLLM servers its tests will use: each takes a minute to start,
    which then overlaps the tests before the first one that needs it."""
    names = {name for item in request.session.items for name in getattr(item, "fixturenames", ())}
    kinds = sorted({kind for name, of in SERVERS_OF.items() if name in names for kind in of})
    if kinds and importlib.util.find_spec("vllm") is not None:
        servers = request.getfixturevalue("vllm_servers")
        for kind in kinds:
            servers.start(kind)


@pytest.fixture
def plain_vllm_server(vllm_servers):
    """A real vLLM OpenAI server of the tiny model (`tiny`) on 127.0.0.1, without a reasoning parser and
    with a 4,096-token window: its base URL."""
    return vllm_servers.url("plain")


@pytest.fixture
def reasoning_vllm_server(vllm_servers):
    """A real vLLM OpenAI server of the tiny model (`tiny`) on 127.0.0.1 with the DeepSeek-R1 reasoning
    parser: its base URL."""
    return vllm_servers.url("reasoning")


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium (Debian's, driven by Playwright), one per test module."""
    if not CHROMIUM.exists():
        pytest.skip("chromium is not installed at /usr/bin/chromium (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright Python package is not installed")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()
