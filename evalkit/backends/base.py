"""The Backend protocol, prompt rendering and per-sample seeds, shared by every backend."""

from __future__ import annotations

import hashlib
from typing import Any, Callable, Iterable, Iterator, Protocol, Sequence

from evalkit.thinking import R1, ThinkFormat, get_format
from evalkit.types import Completion, Request

THINK_PREFILL = R1.prefill  # kept for readers that predate think formats


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
               chat_template_kwargs: dict[str, Any], think_format: ThinkFormat | None = None) -> tuple[str, str, bool]:
        """(prompt text, prefill, think_open) for chat `messages`; see `render_with_tokenizer`."""
        ...

    def generate(self, requests: Sequence[Request]) -> Iterator[tuple[Request, Completion]]:
        """Yield each request's completion as soon as it is ready (any order)."""
        ...

    def close(self) -> None: ...


def render_with_tokenizer(tokenizer: Any, messages: list[dict[str, str]], think_prefill: bool,
                          chat_template_kwargs: dict[str, Any],
                          think_format: ThinkFormat | str | None = None) -> tuple[str, str, bool]:
    """Apply the model's chat template; force the reply to open thinking (the think format's prefill,
    `<think>\\n` for r1) when asked.

    Returns (prompt, prefill, think_open). When the template itself ends the prompt inside open
    thinking (R1-distill templates), the completion starts inside it: think_open, no prefill.
    The prefill is used only when the tokenizer or the template knows the format's open marker (a
    model that never thinks is not forced to).
    """
    fmt = get_format(think_format)
    if getattr(tokenizer, "chat_template", None):
        prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True,
                                               **chat_template_kwargs)
    else:
        prompt = "\n\n".join(m["content"] for m in messages) + "\n"
    if not fmt.thinks:
        return prompt, "", False
    if prompt.rstrip().endswith(fmt.open):
        return prompt, "", True
    template = getattr(tokenizer, "chat_template", None) or ""
    if think_prefill and fmt.prefill and (fmt.open in tokenizer.get_vocab() or fmt.open in str(template)):
        return prompt + fmt.prefill, fmt.prefill, False
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
