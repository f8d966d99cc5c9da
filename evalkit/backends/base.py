"""The Backend protocol, prompt rendering and per-sample seeds, shared by every backend."""

from __future__ import annotations

import hashlib
from typing import Any, Callable, Iterable, Iterator, Protocol, Sequence

from evalkit.thinking import THINK_OPEN
from evalkit.types import Completion, Request

THINK_PREFILL = THINK_OPEN + "\n"


def sample_seed(run_seed: int, task: str, problem_id: str, sample: int) -> int:
    """A sample's own seed: the same whether generated alone, resumed, or on another replica."""
    digest = hashlib.sha256(f"{run_seed}\x1f{task}\x1f{problem_id}\x1f{sample}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


class Backend(Protocol):
    """Turns Requests into Completions.

    name: the backend's name (vllm, openai, transformers, replay).
    model: the model id recorded in every sample.
    """

    name: str
    model: str

    def render(self, messages: list[dict[str, str]], think_prefill: bool,
               chat_template_kwargs: dict[str, Any]) -> tuple[str, str, bool]:
        """(prompt text, prefill, think_open) for chat `messages`; see `render_with_tokenizer`."""
        ...

    def generate(self, requests: Sequence[Request]) -> Iterator[tuple[Request, Completion]]:
        """Yield each request's completion as soon as it is ready (any order)."""
        ...

    def close(self) -> None: ...


def render_with_tokenizer(tokenizer: Any, messages: list[dict[str, str]], think_prefill: bool,
                          chat_template_kwargs: dict[str, Any]) -> tuple[str, str, bool]:
    """Apply the model's chat template; force the reply to start with `<think>\\n` when asked.

    Returns (prompt, prefill, think_open). When the template itself ends the prompt inside an open
    think block (R1-distill templates), the completion starts inside it: think_open, no prefill.
    The prefill is used only when the tokenizer knows `<think>` (a model that never thinks is not
    forced to).
    """
    if getattr(tokenizer, "chat_template", None):
        prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True,
                                               **chat_template_kwargs)
    else:
        prompt = "\n\n".join(m["content"] for m in messages) + "\n"
    if prompt.rstrip().endswith(THINK_OPEN):
        return prompt, "", True
    if think_prefill and THINK_OPEN in tokenizer.get_vocab():
        return prompt + THINK_PREFILL, THINK_PREFILL, False
    return prompt, "", False


def batched(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


# name -> factory(**options) -> Backend; filled by each backend module and by plugins.
BACKENDS: dict[str, Callable[..., Backend]] = {}


def get_backend(name: str, **options: Any) -> Backend:
    """The backend `name` built with `options` (model, dtype, tp, dp, base_url, ...).

    An engine backend with `dp` > 1 or a `ray_address` runs as that many Ray actor replicas
    (evalkit.backends.replicas); with dp 1 and no address it runs in this process.
    """
    import importlib

    if name not in BACKENDS:
        try:
            importlib.import_module(f"evalkit.backends.{name}")
        except ModuleNotFoundError as e:
            if e.name and e.name.startswith("evalkit"):
                raise KeyError(f"unknown backend {name!r} (known: vllm, openai, transformers, replay)") from None
            raise
    if name not in BACKENDS:
        raise KeyError(f"unknown backend {name!r} (known: vllm, openai, transformers, replay)")
    if int(options.get("dp") or 1) > 1 or options.get("ray_address"):
        from evalkit.backends.replicas import ReplicaBackend

        return ReplicaBackend(name, **options)
    options.pop("ray_address", None)
    return BACKENDS[name](**options)
