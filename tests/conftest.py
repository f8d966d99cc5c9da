"""Shared fixtures. The tiny model is built once per session, offline (evalkit.testing)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parent.parent
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


@pytest.fixture(scope="session")
def plain_vllm_server(tiny_model, tmp_path_factory):
    """A real vLLM OpenAI server of the tiny model (`tiny`) on 127.0.0.1, without a reasoning parser and
    with a 4,096-token window (a judge's prompt holds the problem and the answer): its base URL. One
    per session, for every test module that only needs a plain server."""
    pytest.importorskip("vllm")
    from _servers import served

    with served(tiny_model, tmp_path_factory.mktemp("plain-server") / "vllm.log", ("--max-model-len", "4096")) as url:
        yield url


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
