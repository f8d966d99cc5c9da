"""The Backend protocol, prompt rendering and per-sample seeds, shared by every backend."""

from __future__ import annotations

import hashlib
import inspect
import numbers
import reprlib
from dataclasses import dataclass
from importlib.metadata import EntryPoint
from typing import Any, Callable, Iterable, Iterator, Protocol, Sequence

from evalkit.errors import InputError, ServerError
from evalkit.plugins import find_entry_point, load_entry_point, plugin_entry_points, refuse_builtin_name
from evalkit.thinking import R1, ThinkFormat, get_format
from evalkit.types import Completion, Request

THINK_PREFILL = R1.prefill  # kept for readers that predate think formats


def sample_seed(run_seed: int, task: str, problem_id: str, sample: int) -> int:
    """A sample's own seed: the same whether generated alone, resumed, or on another replica."""
    digest = hashlib.sha256(f"{run_seed}\x1f{task}\x1f{problem_id}\x1f{sample}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


class Backend(Protocol):
    """Turns Requests into Completions.

    name: the backend's name (vllm, openai, transformers, replay, or a plugin's).
    model: the model id recorded in every sample.
    capabilities: optional BackendCapabilities (default: an engine that generates in-process).
    interrupt(): optional; called from another thread when the run stops early, it makes `generate`
    end soon, without yielding the sample it cut short (the run then waits for it).
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
    thinking (R1-distill templates), the completion starts inside it: think_open, no prefill. When it
    ends the prompt with thinking closed (Qwen3's `enable_thinking: false` writes an empty block), the
    reply is all answer: no prefill. The prefill is used only when the tokenizer or the template knows
    the format's open marker (a model that never thinks is not forced to).
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
    if fmt.close and prompt.rstrip().endswith(fmt.close):  # the template closed thinking: do not reopen it
        return prompt, "", False
    template = getattr(tokenizer, "chat_template", None) or ""
    if think_prefill and fmt.prefill and (fmt.open in tokenizer.get_vocab() or fmt.open in str(template)):
        return prompt + fmt.prefill, fmt.prefill, False
    return prompt, "", False


class LocalModel:
    """What the in-process backends (`transformers`, `vllm`) share: the model's tokenizer renders the prompt,
    and interrupt() ends the generate() in progress. A subclass sets `tokenizer` and `_stop` (a
    threading.Event) and writes `_generate`, which checks `_stop`."""

    tokenizer: Any
    _stop: Any

    def render(self, messages, think_prefill, chat_template_kwargs, think_format=None):
        return render_with_tokenizer(self.tokenizer, messages, think_prefill, chat_template_kwargs, think_format)

    def interrupt(self) -> None:
        """Stop generating, from another thread: the samples not yet finished are not yielded, and generate()
        returns (the run is ending: Ctrl-C, SIGTERM)."""
        self._stop.set()

    def generate(self, requests: Sequence[Request]) -> Iterator[tuple[Request, Completion]]:
        try:
            yield from self._generate(requests)
        finally:  # an interrupt ends this generate only (one before it started included)
            self._stop.clear()

    def _generate(self, requests: Sequence[Request]) -> Iterator[tuple[Request, Completion]]:
        raise NotImplementedError


def batched(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def prompt_too_long(req: Request, prompt_tokens: int | None, model: str) -> Completion:
    """The outcome of a request whose prompt leaves no room in the context window: cut off before its
    first token (`length`, 0 completion tokens, so `truncated`), so one long problem never stops a run."""
    return Completion(text=req.prefill, finish_reason="length", prompt_tokens=prompt_tokens, completion_tokens=0,
                      model=model)


def did_not_fit(completion: Completion) -> bool:
    """Whether `completion` is `prompt_too_long`'s: cut off at the token limit before its first token."""
    return completion.finish_reason == "length" and completion.completion_tokens == 0


def backend_name(backend: Any) -> str:
    """What messages call a backend: its `name`, or its class's name for a plugin that gives none."""
    name = getattr(backend, "name", None)
    return name if isinstance(name, str) and name else type(backend).__name__


_TOKEN_FIELDS = ("prompt_tokens", "completion_tokens", "reasoning_tokens", "forced_waits")


def completion_problem(completion: Completion) -> str | None:
    """What in a backend's Completion breaks its contract (text a string; finish_reason a string or
    None; token counts counts or None), in words; None when nothing does. A Completion with text
    None would be scored as the model's empty answer, which is the backend's fault, not the model's."""
    if not isinstance(completion.text, str):
        return f"text={reprlib.repr(completion.text)} (expected a string)"
    if completion.finish_reason is not None and not isinstance(completion.finish_reason, str):
        return f"finish_reason={reprlib.repr(completion.finish_reason)} (expected a string or None)"
    for name in _TOKEN_FIELDS:
        value = getattr(completion, name, None)
        if value is None:
            continue
        if isinstance(value, (bool, complex)) or not isinstance(value, numbers.Number) or value < 0:
            return f"{name}={reprlib.repr(value)} (expected a count or None)"
    return None


@dataclass(frozen=True)
class BackendCapabilities:
    """What a backend tells the rest of evalkit about itself (a class attribute `capabilities`).

    replays: it scores completions made elsewhere: it is given the replay `records` instead of a
        model, and the think prefill is not its concern (the completions are what they are).
    remote: it sends requests to servers (`base_url`); more throughput comes from more servers, not
        from Ray replicas of it (`--dp` refuses it).
    server_renders: the server applies the chat template (an OpenAI-compatible chat endpoint), so whether a
        prompt opened thinking, and how the model thinks, is known only from the replies: the run reads them
        once they are in (`run.pipeline.read_replies`). An instance may declare it (its endpoint decides).
    """

    replays: bool = False
    remote: bool = False
    server_renders: bool = False


def backend_capabilities(backend: Any) -> BackendCapabilities:
    """What `backend` (an instance or its factory) declares; the defaults if nothing."""
    found = getattr(backend, "capabilities", None)
    return found if isinstance(found, BackendCapabilities) else BackendCapabilities()


ENTRY_POINT_GROUP = "evalkit.backends"
# name -> factory(**options) -> Backend. Built-ins are imported on first use (vLLM is slow to import);
# plugins come from the `evalkit.backends` entry points; `register_backend` adds one in-process.
BACKENDS: dict[str, Callable[..., Backend]] = {}
BUILTIN_BACKENDS = {
    "vllm": "evalkit.backends.vllm:VLLMBackend",
    "openai": "evalkit.backends.openai:OpenAIBackend",
    "transformers": "evalkit.backends.transformers:TransformersBackend",
    "replay": "evalkit.backends.replay:ReplayBackend",
}
# which backend a run uses when none is named: the first row whose condition holds
DEFAULT_BACKENDS = (("completions", "replay"), ("base_url", "openai"), ("", "vllm"))
DEPLOYMENT_OPTIONS = ("dp", "ray_address", "replica_options", "start_timeout", "stop_timeout")  # Ray replicas


def register_backend(name: str, factory: Callable[..., Backend]) -> None:
    """Make `factory(**options)` the backend called `name`; ValueError for a built-in's name."""
    refuse_builtin_name("backend", name, factory, BUILTIN_BACKENDS)
    BACKENDS[name] = factory


def _entry_points() -> dict[str, EntryPoint]:
    return plugin_entry_points(ENTRY_POINT_GROUP, BUILTIN_BACKENDS)


def backend_names() -> list[str]:
    """Every backend name known here: built-ins, registered ones and installed plugins."""
    return sorted(set(BACKENDS) | set(_entry_points()))


def default_backend(completions: bool = False, base_url: bool = False) -> str:
    """The backend a run uses when none is named (DEFAULT_BACKENDS)."""
    given = {"completions": completions, "base_url": base_url, "": True}
    return next(name for condition, name in DEFAULT_BACKENDS if given[condition])


def backend_factory(name: str) -> Callable[..., Backend]:
    """The factory registered as `name`; KeyError naming the known ones, or what failed to import."""
    if name not in BACKENDS:
        ep = find_entry_point(ENTRY_POINT_GROUP, BUILTIN_BACKENDS, name)
        if ep is None:
            raise KeyError(f"unknown backend {name!r} (known: {', '.join(backend_names())})")
        kind = "built-in" if name in BUILTIN_BACKENDS else f"plugin ({ep.value})"
        try:
            factory = load_entry_point(ep)
        except ModuleNotFoundError as e:
            if name in BUILTIN_BACKENDS and e.name and not e.name.startswith("evalkit"):
                raise  # the backend's own dependency is missing: the backend says how to install it
            raise KeyError(f"{kind} backend {name!r} could not be loaded: {type(e).__name__}: {e}") from None
        except (Exception, SystemExit) as e:  # noqa: BLE001 - a misspelt entry point, a plugin failing/exiting at import
            raise KeyError(f"{kind} backend {name!r} could not be loaded: {type(e).__name__}: {e}") from None
        BACKENDS.setdefault(name, factory)
    return BACKENDS[name]


def _takes(factory: Callable[..., Any], option: str) -> bool:
    """Whether `factory` takes `option` (or any keyword); True where its signature cannot be read."""
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return True
    return option in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def check_backend_options(name: str, factory: Callable[..., Backend], options: dict[str, Any]) -> None:
    """InputError naming an option the backend does not take (e.g. `endpoint` for vllm)."""
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return  # it takes anything: its own business
    unknown = sorted(set(options) - set(params))
    if unknown:
        takes = ", ".join(n for n, p in params.items() if p.kind is not inspect.Parameter.VAR_POSITIONAL)
        raise InputError(f"the {name} backend has no option {', '.join(map(repr, unknown))} (its options: {takes})")


def get_backend(name: str, **options: Any) -> Backend:
    """The backend `name` built with `options` (model, dtype, tp, base_url, ...; None means unset).

    Deployment is apart from the backend: with `dp` > 1 or a `ray_address`, any backend that is not
    remote runs as that many Ray actor replicas (evalkit.backends.replicas); otherwise in this process.
    Raises KeyError for an unknown backend and InputError for an option it does not take.
    """
    options = {k: v for k, v in options.items() if v is not None}
    factory = backend_factory(name)
    if int(options.get("dp") or 1) > 1 or options.get("ray_address"):
        from evalkit.backends.replicas import ReplicaBackend

        check_backend_options(name, factory, {k: v for k, v in options.items() if k not in DEPLOYMENT_OPTIONS})
        return ReplicaBackend(name, **options)
    for k in DEPLOYMENT_OPTIONS:
        options.pop(k, None)
    if "model" in options and not _takes(factory, "model"):
        options.pop("model")  # a backend serving one model of its own: --model names the run's, it is not an option
    check_backend_options(name, factory, options)
    if name in BUILTIN_BACKENDS:  # a built-in's own errors say what to do (install vllm, a bad dtype, ...)
        return factory(**options)
    try:
        return factory(**options)
    except (InputError, ServerError):
        raise
    except (Exception, SystemExit) as e:  # noqa: BLE001 - a plugin failing (or exiting) as it starts: named
        ep = find_entry_point(ENTRY_POINT_GROUP, BUILTIN_BACKENDS, name)
        raise InputError(f"{f'plugin ({ep.value})' if ep else 'registered'} backend {name!r} could not start: "
                         f"{type(e).__name__}: {e}") from None
