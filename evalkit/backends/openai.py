"""The `openai` backend: any OpenAI-compatible server (vLLM, SGLang, DeepSeek's API, ...).

Chat endpoint by default (the server applies the chat template); `endpoint="completions"` sends a
prompt rendered with the model's own tokenizer instead, so the think prefill can be forced. Bounded
concurrency per server; retries with backoff on 429 (no sooner than its Retry-After), 5xx, connection
errors and replies the server gave up on (finish_reason `error`, `abort`) or never finished (empty, no
finish_reason); a clear error on other 4xx.
Several base URLs make a fleet (evalkit.backends.fleet): requests are spread across the servers, and
the in-flight requests of a server that dies go to the others. Servers that return the thinking
separately (`reasoning_content` or `reasoning`) get it stitched back in the run's think format's own
markers (`think_format`, r1's `<think>…</think>` unless the run says otherwise), so everything
downstream sees one self-contained completion. A request may take as long as the server needs
(`timeout`, `--request-timeout`, bounds it); a prompt the server refuses as longer than its context
window is that sample's outcome (cut off before its first token), not the run's end; a max_tokens
longer than the window leaves after the prompt is lowered to one token less than it leaves, where the
refusal says how much (`_refused_as_too_long`); a refusal that blames neither is told apart by a
one-token try; one that blames max_tokens without saying what fits stops the run naming --max-tokens
(never recorded as a prompt too long). `interrupt()` cancels the requests in flight.
With `stream=True` (`--stream`) each reply comes as server-sent events, folded into the same
completion a plain reply gives: tokens keep the connection busy through a gateway that cuts idle ones,
and `timeout` bounds the wait from one event to the next (a keep-alive comment is no event) instead
of the whole reply.
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import re
import sys
import threading
import time
from typing import Any, Iterator, Sequence

import httpx

from evalkit.backends.base import BackendCapabilities, prompt_too_long, render_with_tokenizer
from evalkit.backends.fleet import Busy, Fleet, ServerError, TimedOut, Unreachable
from evalkit.errors import InputError
from evalkit.retryafter import RETRY_STATUS, retry_after
from evalkit.thinking import R1, ThinkFormat, stitch
from evalkit.types import Completion, Request

# A URL that names an endpoint, not the server's base (`.../v1/chat/completions`): requests add their own.
_ENDPOINT_PATH = re.compile(r"/(?:chat/completions|completions|responses|models)$", re.IGNORECASE)
# how servers refuse a request that does not fit the context window, the prompt alone or with its
# max_tokens (vLLM, SGLang, OpenAI, llama.cpp; TGI answers 422 "must have less than N tokens")
TOO_LONG = re.compile(r"context length|context_length|maximum model length|context window|context size|"
                      r"max_model_len|must have less than \d+ tokens|must be <= ?\d+", re.IGNORECASE)
TOO_LONG_STATUS = {400, 413, 422}
# the window, where a refusal says it: "maximum context length is 2048 tokens" (vLLM, OpenAI), "of 2048 tokens"
# (SGLang), "must be <= 2048" (TGI), "cannot be greater than max_model_len=2048" (vLLM 0.32)
WINDOW = re.compile(r"context length (?:is|of) (\d+)|must be <= ?(\d+)|max_model_len ?= ?(\d+)", re.IGNORECASE)
# the prompt's tokens, where a refusal says them: "your request has 20 input tokens" (vLLM), "(20 in the messages,
# 4096 in the completion)" (OpenAI, older vLLM), "20 tokens from the input messages" (SGLang), "Given: 20 `inputs`
# tokens" (TGI), "you requested 3000 tokens in the messages" (vLLM before 0.6)
PROMPT_TOKENS = re.compile(r"(\d+) (?:input tokens|(?:tokens )?in the messages|tokens from the input|"
                           r"`?inputs`? tokens)", re.IGNORECASE)
# the prompt and max_tokens together, where a refusal says only their sum: "However, you requested 4116 tokens."
# (OpenAI's older wording), "You requested a total of 4116 tokens." (SGLang, cut short)
TOTAL_TOKENS = re.compile(r"requested (?:a total of )?(\d+) tokens", re.IGNORECASE)
# refusals that blame the prompt alone (vLLM 0.32, SGLang, TGI)
PROMPT_ALONE = re.compile(r"even without any output tokens|reduce the length of the input prompt|"
                          r"the input \(\d+ tokens\) is longer than|`inputs` must have less than", re.IGNORECASE)
# refusals that blame max_tokens, the reply's share
ASKS_OUTPUT = re.compile(r"max_tokens|max_new_tokens|max_completion_tokens|in the completion|for the completion",
                         re.IGNORECASE)
# vLLM 0.32's "max_tokens=4096 cannot be greater than max_model_len=2048", whatever the prompt: it lowers a
# max_tokens within its window itself
OUTPUT_OVER_WINDOW = re.compile(r"cannot be greater than max_model_len", re.IGNORECASE)
# the finish_reason of a reply the server gave up on (vLLM, OpenRouter; DeepSeek's API when it is short of capacity)
GAVE_UP = {"error", "abort", "insufficient_system_resource"}
# OpenRouter's routing shortcuts, which its /models does not list: `deepseek/deepseek-r1:nitro`
ROUTING_VARIANTS = {"nitro", "floor", "online", "exacto"}
MODELS_TRIES, MODELS_WAIT_MAX_S = 4, 30.0  # /models asked at start: a busy server's tries, and the longest wait
CONNECT_TIMEOUT_S = 30.0  # a server that does not take the connection in this long counts as unreachable
CANCEL_WAIT_S = 5.0  # how long interrupted continuations are given to cancel their requests


def _api_key(given: str | None) -> str:
    """The key sent as the Bearer token: `given`, else OPENAI_API_KEY, stripped; `EMPTY` when neither
    holds one (a local vLLM needs none). InputError, without the key, for one a header cannot carry
    (httpx's own error would print it)."""
    where = "api_key" if given else "OPENAI_API_KEY"
    key = (given if given is not None else os.environ.get("OPENAI_API_KEY") or "").strip() or "EMPTY"
    if not all(33 <= ord(c) <= 126 for c in key):
        raise InputError(f"{where} holds characters an HTTP header cannot carry (white space, control or "
                         "non-ASCII characters inside the key); check how it was set")
    return key



def url_problem(url: str) -> str | None:
    """What makes `url` no server's address (a mistyped port, one out of range), else None."""
    try:
        port = httpx.URL(url).port
    except httpx.InvalidURL as e:  # one line, not httpx's traceback
        return str(e)
    if port is not None and not 0 < port < 65536:  # httpx takes 99999, and the connection is then refused
        return f"port {port} is out of range 1-65535"
    return None

_CREDENTIALS = re.compile(r"//.*@")  # the user and password part of a URL (a password may hold / ? #), and more


def base_url_problem(url: str, flag: str) -> str | None:
    """One line saying why `url`, given as `flag`, is no server's API root that requests add their paths to;
    None when it is one."""
    problem = url_problem(url)
    if problem:  # shown without what may be a password before its host (whose pieces httpx's reason may quote)
        if _CREDENTIALS.search(url):  # (an `@` in its path too: httpx's reason may quote a password's pieces)
            problem = "it may hold a user name or password before its host, which it must not, and httpx cannot read it"
        return f"{flag} {_CREDENTIALS.sub('//', url)!r} is not a URL ({problem})"
    parsed = httpx.URL(url)
    if parsed.userinfo:  # written into the run's files and messages, and sent as Basic auth in place of the key
        shown = str(parsed.copy_with(username=None, password=None))
        return (f"{flag} holds a user name or password ({shown} with credentials before its host): the URL is written "
                "into the run's files and messages, and httpx would send it in place of the API key; give the key "
                "as OPENAI_API_KEY and the URL without credentials")
    base = re.split(r"[?#]", url, maxsplit=1)[0].rstrip("/")
    if base != url.rstrip("/"):  # `{url}/chat/completions` put the path inside the query: `...v1?x=1/chat/completions`
        return (f"{flag} {url!r} holds a query or fragment, which every request's path would land inside; give the "
                f"base alone, {flag} {base} (servers that need an api-version take it in their /v1 path)")
    endpoint_path = _ENDPOINT_PATH.search(url.rstrip("/"))
    if endpoint_path:  # every request adds its own: `/v1/chat/completions/chat/completions` is a 404
        return (f"{flag} {url!r} is an endpoint's URL; give the server's base, {flag} "
                f"{url.rstrip('/')[:endpoint_path.start()]}" + (" (the endpoint is --endpoint chat|completions)"
                                                                if flag == "--base-url" else ""))
    return None

class OpenAIBackend:
    name = "openai"
    capabilities = BackendCapabilities(remote=True)

    def __init__(self, model: str, base_url: str | Sequence[str] | None = None, api_key: str | None = None,
                 endpoint: str = "chat", concurrency: int = 32, max_retries: int = 6, timeout: float | None = None,
                 tokenizer: str | None = None, down_timeout: float = 60.0, think_format: ThinkFormat = R1,
                 reasoning_effort: str | None = None, max_model_len: int | None = None, stream: bool = False) -> None:
        """model: the served model name. base_url: one server's URL, or several (a fleet).
        concurrency: requests in flight per server. max_retries: failed tries per request.
        timeout: seconds a request may wait for its reply (`--request-timeout`); None, the default, waits as
        long as the generation takes (a 32k-token thinking at 30 tok/s takes 18 minutes). A request that
        runs past it is tried again; its server is not marked down. down_timeout: seconds with no server
        answering before the run stops (it resumes where it stopped). endpoint: see the module docstring.
        tokenizer: the tokenizer (hub id or path) the completions endpoint renders prompts with
        (`--tokenizer`); default the model's name, else the path the server reports as the model's `root`.
        think_format: the markers separately returned reasoning is stitched back in (the run sets it
        once it has decided the format). reasoning_effort: low, medium or high, sent as the chat request's
        `reasoning_effort` (the completions endpoint renders it into the prompt, as a template kwarg).
        max_model_len: the server's context window, which thinking budgets must leave room for; None
        reads it from the server's /models where it says (vLLM does). stream: ask for each reply as
        server-sent events (`--stream`); `timeout` then bounds the wait for the next token."""
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            # 0 built a client with no connection to wait for: the run waited forever, silent
            raise InputError(f"--concurrency must be at least 1, got {concurrency!r}")
        self.think_format = think_format
        self.reasoning_effort = reasoning_effort
        urls = [base_url] if isinstance(base_url, str) else list(base_url or [])
        if not urls:
            urls = [os.environ.get("OPENAI_BASE_URL", "http://127.0.0.1:8000/v1")]
        urls = list(dict.fromkeys(u.rstrip("/") for u in urls))
        for url in urls:
            problem = base_url_problem(url, "--base-url")
            if problem:
                raise InputError(problem)
        self.base_urls = urls
        self.base_url = urls[0]
        self.model = model
        self.endpoint = endpoint
        self.concurrency = concurrency
        self.max_retries = max_retries
        self.timeout = timeout
        self.stream = bool(stream)
        self._root: str | None = None  # the model's path as the server reports it (vLLM's /models `root`)
        # a prompt's max_tokens, lowered to what the server's window leaves, and whether a refusal said the prompt fits
        self._fitted: dict[str, tuple[int, bool]] = {}
        self.headers = {"Authorization": f"Bearer {_api_key(api_key)}"}
        self.tokenizer = None
        self.max_model_len = max_model_len
        self._stop = threading.Event()  # interrupt(): the run is ending
        self._running: tuple[asyncio.AbstractEventLoop, asyncio.Task] | None = None  # the generate to cancel
        self._lock = threading.Lock()
        self.fleet = Fleet(urls, concurrency=concurrency, max_retries=max_retries, down_timeout=down_timeout)
        # one server busy at the start is asked again; in a fleet the others start, and it joins when it answers
        tries = MODELS_TRIES if len(urls) == 1 else 1
        unreachable = {url: why for url in urls if (why := self._check_server(url, tries))}
        if len(unreachable) == len(urls):
            raise InputError("; ".join(unreachable.values()))
        for server in self.fleet.servers:
            if server.url in unreachable:  # the others start; this one is probed and joins when it answers
                server.healthy, server.last_error = False, unreachable[server.url]
                print(f"evalkit: warning: {unreachable[server.url]}; starting with the other servers",
                      file=sys.stderr)
        if endpoint == "completions":
            self.tokenizer = self._load_tokenizer(tokenizer)
        elif tokenizer is not None:
            raise InputError("--tokenizer is for --endpoint completions (the chat endpoint renders prompts on the "
                             "server)")
        # the chat endpoint's server renders the prompts: the run reads how the model thinks from the replies
        self.capabilities = BackendCapabilities(remote=True, server_renders=self.tokenizer is None)

    def _load_tokenizer(self, given: str | None) -> Any:
        """The tokenizer the completions endpoint renders with: the one named, else the model's name, else
        the model's path the server reports; InputError saying how to name it when none loads."""
        from transformers import AutoTokenizer

        names = [given] if given else list(dict.fromkeys(n for n in (self.model, self._root) if n))
        why = ""
        for name in names:
            try:
                return AutoTokenizer.from_pretrained(name)
            except Exception as e:  # noqa: BLE001 - not found, offline, not a tokenizer: all the same to the user
                why = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        tried = " or ".join(map(repr, names))
        raise InputError(f"--endpoint completions renders prompts with the model's tokenizer, and {tried} could "
                         f"not be loaded as one ({why}); name it with --tokenizer HUB_ID_OR_PATH") from None

    def _check_server(self, url: str, tries: int = 1) -> str | None:
        """None when the server at `url` serves the model; why not when it cannot be reached.
        InputError when it answers but refuses (a wrong model or key is not worth waiting for). A server busy
        (408, 429, 5xx) is asked again, as requests are, no sooner than its Retry-After (`tries` in all)."""
        for attempt in range(tries):
            try:
                r = httpx.get(f"{url}/models", headers=self.headers, timeout=15)
            except httpx.HTTPError as e:
                return f"cannot reach the server at {url} ({type(e).__name__}: {e})"
            if r.status_code not in RETRY_STATUS or attempt == tries - 1:
                break
            wait = retry_after(r.headers)
            wait = min(MODELS_WAIT_MAX_S, wait if wait is not None else 2.0 ** attempt)
            print(f"evalkit: server at {url} answered {r.status_code} on /models "
                  f"({_one_line(self._unkeyed(r.text), 120)}); asking again in {wait:g} s", file=sys.stderr)
            time.sleep(wait)
        if r.status_code == 404:
            return None  # some servers do not list models; the first request will tell
        if 300 <= r.status_code < 400:  # requests would be redirected too, and are not followed
            raise InputError(f"server at {url} redirects /models ({r.status_code}) to "
                             f"{r.headers.get('location') or 'no location'}: give the URL it redirects to")
        if r.status_code in RETRY_STATUS:
            return (f"server at {url} answered {r.status_code} on /models" + (f" {tries} times" if tries > 1 else "")
                    + (f": {_one_line(self._unkeyed(r.text), 200)}" if r.text.strip() else ""))
        if r.status_code >= 500:
            return f"server at {url} answered {r.status_code} on /models"
        if r.status_code >= 400:
            raise InputError(f"server at {url} answered {r.status_code} on /models: {self._unkeyed(r.text)[:200]}")
        try:
            data = r.json().get("data", [])
            served = [m["id"] for m in data]
        except Exception:
            return None
        why = self._not_served(url, served)
        if why:
            raise InputError(why)
        entry = next((m for m in data if m["id"] == self.model), {})
        window = entry.get("max_model_len")
        if self.max_model_len is None and isinstance(window, int):
            self.max_model_len = window  # vLLM says its context window: a budget sweep fits its answers in it
        if isinstance(entry.get("root"), str):
            self._root = entry["root"]  # where a served name's tokenizer can be found
        return None

    def render(self, messages, think_prefill, chat_template_kwargs, think_format=None):
        if self.tokenizer is not None:  # the completions endpoint: the effort it was given is a template option
            if self.reasoning_effort:
                chat_template_kwargs = {"reasoning_effort": self.reasoning_effort, **(chat_template_kwargs or {})}
            return render_with_tokenizer(self.tokenizer, messages, think_prefill, chat_template_kwargs, think_format)
        # the chat endpoint applies the server's template, with the task's options (each request carries
        # them); shown in records as the plain messages
        return "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in messages), "", False

    def interrupt(self) -> None:
        """Stop generating, from another thread: no request is sent any more, those in flight are cancelled,
        and generate() returns (the run is ending: Ctrl-C, SIGTERM)."""
        with self._lock:
            self._stop.set()
            if self._running is not None:
                loop, task = self._running
                loop.call_soon_threadsafe(task.cancel)

    def generate(self, requests: Sequence[Request]) -> Iterator[tuple[Request, Completion]]:
        """Run the requests on an event loop in a helper thread; yield completions as they arrive."""
        out: queue.Queue = queue.Queue()
        done = object()

        async def run() -> None:
            with self._lock:
                if self._stop.is_set():  # interrupted before it started
                    return
                self._running = (asyncio.get_running_loop(), asyncio.current_task())
            try:
                await self._run_all(requests, out)
            finally:
                with self._lock:
                    self._running = None

        def worker() -> None:
            try:
                asyncio.run(run())
            except BaseException as e:  # surfaced in the caller's thread, unless it is the interrupt's
                if not (isinstance(e, asyncio.CancelledError) and self._stop.is_set()):
                    out.put(e)
            out.put(done)

        thread = threading.Thread(target=worker, daemon=True, name="evalkit-openai")
        thread.start()
        try:
            while True:
                item = out.get()
                if item is done:
                    break
                if isinstance(item, BaseException):
                    raise item
                yield item
            thread.join()
        finally:  # an interrupt ends this generate only (one before it started included)
            self._stop.clear()

    def _client(self) -> httpx.AsyncClient:
        n = self.concurrency * len(self.base_urls)
        limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
        return httpx.AsyncClient(timeout=self._timeouts(), limits=limits, headers=self.headers)

    async def _probe(self, client: httpx.AsyncClient, url: str) -> bool | str:
        """Whether a down server may take requests again: it answers, and serves the model (a node that
        comes back with another checkpoint, or joins late, is checked as a server up at the start is);
        why not, where it answers but serves another model."""
        try:
            r = await client.get(f"{url}/models", timeout=5)
        except httpx.HTTPError:
            return False
        if r.status_code >= 500:
            return False
        try:
            served = [m["id"] for m in r.json().get("data", [])] if r.status_code < 400 else []
        except Exception:  # noqa: BLE001 - a server that lists no models: its requests will tell
            served = []
        return self._not_served(url, served) or True

    def _not_served(self, url: str, served: list) -> str | None:
        """Why the server at `url`, listing `served`, does not serve the model; None where it does (or lists none)."""
        base, _, variant = self.model.rpartition(":")
        if served and self.model not in served and not (variant in ROUTING_VARIANTS and base in served):
            listed = ", ".join(map(str, served[:20])) + (f" and {len(served) - 20} more" if len(served) > 20 else "")
            return f"model {self.model!r} is not served at {url} (it serves: {listed})"
        return None

    async def _run_all(self, requests: Sequence[Request], out: queue.Queue) -> None:
        async with self._client() as client:
            async def send(url: str, req: Request) -> Completion:
                return await self._send(client, url, req)

            await self.fleet.run(requests, send, lambda url: self._probe(client, url),
                                 lambda req, comp: out.put((req, comp)))

    async def _send(self, client: httpx.AsyncClient, url: str, req: Request) -> Completion:
        """One try at one server; the fleet retries (elsewhere) on Unreachable and Busy."""
        body: dict[str, Any] = {"model": self.model, "temperature": req.temperature, "top_p": req.top_p,
                                "max_tokens": req.max_tokens, "seed": req.seed, "n": 1}
        if self.endpoint == "completions":
            path, body["prompt"] = "completions", req.prompt
            # the chat template wrote the prompt's special tokens (BOS) already, as the in-process engines
            # encode it; vLLM would add a second BOS by default
            body["skip_special_tokens"], body["add_special_tokens"] = False, False
        else:
            path, body["messages"] = "chat/completions", list(req.messages or ())
            template_kwargs = dict(req.chat_template_kwargs or {})
            effort = template_kwargs.pop("reasoning_effort", None) or self.reasoning_effort
            if effort:  # the request's own field, which OpenAI takes too
                body["reasoning_effort"] = effort
            if template_kwargs:  # vLLM and SGLang hand these to the chat template (enable_thinking, ...)
                body["chat_template_kwargs"] = template_kwargs
        # a max_tokens the server's window cannot hold after this prompt is lowered to what it leaves, as the
        # in-process engines do (the reply then ends as `length`); remembered for the prompt's other samples
        key = json.dumps({k: v for k, v in body.items() if k not in ("seed", "temperature", "top_p", "max_tokens")},
                         sort_keys=True)
        fits = False  # a refusal said this prompt fits the window: refused again, it is max_tokens' fault
        if key in self._fitted and isinstance(req.max_tokens, int):
            most, fits = self._fitted[key]
            body["max_tokens"] = min(req.max_tokens, most)
        refusal: _TooLong | None = None
        for _ in range(3):  # vLLM 0.32 lowers to its window first, then a server may say what the prompt leaves
            try:
                return self._completion(req, await self._post(client, url, path, body))
            except _Fit as e:
                refusal = e
                if isinstance(body["max_tokens"], int) and e.max_tokens >= body["max_tokens"]:
                    if body["max_tokens"] == 1 and not (fits or e.prompt_fits):  # not even one token after it
                        return prompt_too_long(req, None, self.model)  # (SGLang): the prompt fills the window
                    break  # refused what its own refusal says the window holds
                fits = fits or e.prompt_fits
                self._fitted[key] = (e.max_tokens, fits)
                body["max_tokens"] = e.max_tokens
            except _Unsaid as e:  # whose fault: a refusal naming max_tokens says so, else a one-token reply tells
                refusal = e
                if fits or e.blames_output or await self._fits_alone(client, url, path, body):
                    break
                return prompt_too_long(req, None, self.model)
            except _TooLong as e:
                refusal = e
                if fits:
                    break
                return prompt_too_long(req, None, self.model)  # this sample's outcome; the others go on
        # never recorded as a prompt too long when the prompt fits: the run stops, resumable, naming what to change
        lowered = f" (lowered from {req.max_tokens})" if body["max_tokens"] != req.max_tokens else ""
        unsaid = ", without saying what it leaves" if isinstance(refusal, _Unsaid) and not fits else ""
        raise ServerError(f"server at {url} refused max_tokens {body['max_tokens']}{lowered} as more than its context "
                          f"window leaves for the reply{unsaid} ({refusal}); lower the task's max_tokens (--max-tokens)")

    async def _fits_alone(self, client: httpx.AsyncClient, url: str, path: str, body: dict[str, Any]) -> bool:
        """Whether the server takes this prompt with a one-token reply: asked when a refusal for the window
        does not say whether the prompt or max_tokens is at fault (llama.cpp's "the request exceeds the
        available context size"). The prompt fits: max_tokens' fault; refused again: the prompt's."""
        try:
            await self._post(client, url, path, {**body, "max_tokens": 1})
        except _Fit:
            return True  # it says the prompt leaves room
        except _TooLong:
            return False
        return True

    async def _post(self, client: httpx.AsyncClient, url: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST one request (streamed with `stream`) and return the reply's body, a streamed one folded
        into the plain shape. Raises what the fleet reads: Unreachable, Busy, TimedOut, ServerError; and
        _TooLong for a request the server refuses as too long for its context window (_refused_as_too_long)."""
        if self.stream:
            body = {**body, "stream": True, "stream_options": {"include_usage": True}}
        async def exchange() -> tuple[httpx.Response, dict[str, Any] | None]:
            async with client.stream("POST", f"{url}/{path}", json=body) as r:
                if r.status_code < 400 and r.headers.get("content-type", "").startswith("text/event-stream"):
                    return r, await _fold_events(r, self.timeout)
                await r.aread()  # a plain reply (also from a server that does not stream), or an error
                return r, None

        try:
            if self.timeout and not self.stream:  # the whole reply, also one a gateway pads byte by byte
                r, streamed = await asyncio.wait_for(exchange(), self.timeout)
            else:
                r, streamed = await exchange()
        except Busy as e:  # a stream's error event, in the server's words: without the key
            raise Busy(self._unkeyed(str(e)), retry_after=e.retry_after) from None
        except (httpx.ReadTimeout, asyncio.TimeoutError):  # it took the request and is working on it: slow, not down
            waited = "token" if self.stream else "reply"
            raise TimedOut(f"no {waited} within {self.timeout:g} s (--request-timeout)") from None
        except httpx.HTTPError as e:  # also a stream cut off mid-reply: the server went away
            raise Unreachable(f"{type(e).__name__}: {e}") from None
        if streamed is not None:
            return _finished(streamed)
        said = self._unkeyed(r.text)  # the server's own words, which some fill with the key: without it, then cut
        if 300 <= r.status_code < 400:  # a redirect (http:// for an https:// API, a moved path) is not followed
            raise ServerError(f"server at {url} redirects the request ({r.status_code}) to "
                              f"{r.headers.get('location') or 'no location'}: give that as the URL")
        if r.status_code < 400:
            try:  # JSON is UTF-8; a byte that is not is read as U+FFFD, as a streamed reply's is
                data = json.loads(r.content.decode("utf-8-sig", errors="replace"))  # a BOM is no JSON
            except ValueError:
                data = None
            if not (isinstance(data, dict) and isinstance(data.get("choices"), list) and data["choices"]
                    and isinstance(data["choices"][0], dict)):
                # a gateway's error object in a 200, or no JSON: worth another try, then one clear line
                raise Busy(f"{r.status_code} without a completion: {_one_line(said, 200)}")
            return _finished(data)
        if r.status_code in TOO_LONG_STATUS and TOO_LONG.search(said):
            raise _refused_as_too_long(said, body.get("max_tokens"), self.max_model_len)
        if r.status_code not in RETRY_STATUS:
            hint = ""
            if r.status_code == 404 and not url.endswith("/v1"):
                hint = f"; OpenAI-compatible servers answer under /v1 (--base-url {url}/v1?)"
            raise ServerError(f"server at {url} refused the request ({r.status_code}): {_one_line(said, 300)}{hint}")
        raise Busy(f"{r.status_code}: {_one_line(said, 200)}", retry_after=retry_after(r.headers))

    def _unkeyed(self, text: str) -> str:
        """A server's text without the API key, which some echo in their refusals ("Incorrect API key provided:
        sk-..."): what evalkit prints and records in invocations.jsonl never holds it."""
        key = self.headers["Authorization"].removeprefix("Bearer ")
        if len(key) < 8:  # `EMPTY`, a local server's `none`: no secret, and a word of the text would go
            return text
        # in full, or masked as OpenAI (`sk-PMafP****E873`) and DeepSeek (`****d569`) show it: its ends go too
        return re.sub(r"\S{0,12}\*{3,}" + re.escape(key[-4:]), "[api key]", text.replace(key, "[api key]"))

    def _timeouts(self) -> httpx.Timeout:
        """Connecting is bounded (a dead server is found quickly); the reply waits `timeout` (None: as long
        as the generation takes)."""
        return httpx.Timeout(self.timeout, connect=CONNECT_TIMEOUT_S, pool=None)

    def server_stats(self) -> list[dict[str, Any]]:
        """Per server: url, healthy, completed, failed_over (requests it could not be reached for, put back in
        the queue), last_error, refused (tries it refused: 429, 5xx, timed out) and last_refusal."""
        return [dict(vars(s)) for s in self.fleet.servers]

    def _completion(self, req: Request, data: dict[str, Any]) -> Completion:
        choice = data["choices"][0]
        if self.endpoint == "completions":
            text = req.prefill + (choice.get("text") or "")
        else:
            msg = choice.get("message") or {}
            text = stitch_reasoning(msg.get("reasoning_content") or msg.get("reasoning"), msg.get("content"),
                                    self.think_format)
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        details = usage.get("completion_tokens_details") if isinstance(usage.get("completion_tokens_details"), dict) \
            else {}
        return Completion(text=text, finish_reason=choice.get("finish_reason"),
                          prompt_tokens=_count(usage.get("prompt_tokens")),
                          completion_tokens=_count(usage.get("completion_tokens")),
                          reasoning_tokens=_count(details.get("reasoning_tokens")), model=self.model)

    def continue_tokens(self, prefixes):
        """Continue token prefixes (evalkit.budgets.Prefix) on the completions endpoint, whose prompt
        may be token ids. Needs `endpoint="completions"` (the local tokenizer counts and cuts tokens).
        Continuations go through the fleet as replies do: spread over the servers, retried on 429, 5xx
        and timeouts, moved off a server that goes away, and streamed with `stream`."""
        if self.tokenizer is None:
            raise InputError("continuing a prefix needs the completions endpoint: --endpoint completions")
        from evalkit.budgets import continue_with_stops

        def run(token_ids, kwargs_list):
            items = list(enumerate(zip(token_ids, kwargs_list)))
            results: list[Any] = [None] * len(items)

            async def go() -> None:
                async with self._client() as client:
                    async def send(url: str, item) -> tuple:
                        _, (ids, kw) = item
                        body = {"model": self.model, "prompt": list(ids), "n": 1, "skip_special_tokens": False,
                                "return_token_ids": True, **{k: v for k, v in kw.items() if v is not None}}
                        # continue_with_stops fits prefixes to the window it was told, all of what it leaves,
                        # which SGLang refuses: asked again one token short, or, with no token left, ended there
                        for _ in range(2):
                            try:
                                return self._continued(await self._post(client, url, "completions", body))
                            except _Fit as e:
                                refusal = e
                                if e.prompt_fits and 1 <= e.max_tokens < body["max_tokens"]:
                                    body["max_tokens"] = e.max_tokens
                                    continue
                                if not e.prompt_fits and e.max_tokens == 1 == body["max_tokens"]:
                                    return [], "length", None, None
                                break
                            except _TooLong as e:
                                refusal = e
                                break
                        raise ServerError(f"server at {url} refused a prefix of {len(ids)} tokens as too long "
                                          f"(--max-model-len larger than the server's?): {refusal}")

                    def emit(item, out) -> None:
                        results[item[0]] = out

                    await self.fleet.run(items, send, lambda url: self._probe(client, url), emit,
                                         label=lambda item: f"a continued prefix ({len(item[1][0])} tokens)")

            _run_on_a_loop(go())
            return results

        return continue_with_stops(self.tokenizer, prefixes, run, self.max_model_len)

    def _continued(self, data: dict[str, Any]) -> tuple:
        """(token ids, finish_reason, stop_reason, cached tokens) of a continuation's reply."""
        choice = data["choices"][0]
        out_ids = choice.get("token_ids")
        if out_ids is None:  # a server that does not return ids: count the text with our tokenizer
            out_ids = self.tokenizer.encode(choice.get("text") or "", add_special_tokens=False)
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        details = usage.get("prompt_tokens_details")
        cached = _count(details.get("cached_tokens")) if isinstance(details, dict) else None
        return out_ids, choice.get("finish_reason"), choice.get("stop_reason"), cached

    def close(self) -> None:
        pass


async def _fold_events(response: httpx.Response, wait: float | None = None) -> dict[str, Any]:
    """A streamed reply's server-sent events folded into the body a plain reply has: one choice with
    the text (completions) or the message's content and reasoning (chat), its finish_reason, and the
    usage the last event carries. The content stays None until some arrives, as a reasoning parser
    leaves it when thinking never ended. Busy (worth another try) for an error event, an event that
    is not JSON, or a stream that ends before its finish_reason. wait: seconds the next event may take
    (asyncio.TimeoutError past it); comments do not count as events, so a server that keeps the
    connection alive with them while its generation is stuck is still given up."""
    text: list[str] = []
    content: list[str] = []
    reasoning: list[str] = []
    ids: list[int] | None = None  # the completions endpoint's token ids, where asked (return_token_ids)
    finish = stop_reason = usage = None
    async for line in _lines_timed_by_events(response, wait):
        if not line.startswith("data:"):
            continue  # blank separators, comments (": keep-alive"), `event:` lines
        payload = line[5:].strip()
        if payload == "[DONE]":
            break
        try:
            event = json.loads(payload)
        except ValueError:
            raise Busy(f"a streamed event that is not JSON: {payload[:200]}") from None
        if not isinstance(event, dict) or event.get("error"):  # OpenRouter's comes with a choice, too
            raise Busy(f"the stream ended in an error: {payload[:200]}")
        usage = event.get("usage") or usage
        for choice in event.get("choices") or ():
            if not isinstance(choice, dict):
                continue
            delta = choice.get("delta") or {}
            if isinstance(delta, dict) and isinstance(delta.get("content"), list):  # Mistral's parts, streamed
                parts = _content_parts(delta["content"])
                if parts is not None:
                    delta = {**delta, "content": parts[0], "reasoning_content": parts[1] or delta.get("reasoning_content")}
            if not isinstance(choice.get("text") or "", str) or not isinstance(delta, dict) or \
                    not all(isinstance(delta.get(k) or "", str) for k in ("content", "reasoning_content", "reasoning")):
                raise Busy(f"a streamed event whose text is not text: {payload[:200]}")
            text.append(choice.get("text") or "")
            if delta.get("content"):
                content.append(delta["content"])
            if thought := delta.get("reasoning_content") or delta.get("reasoning"):
                reasoning.append(thought)
            if isinstance(choice.get("token_ids"), list):
                ids = (ids or []) + choice["token_ids"]
            finish = choice.get("finish_reason") or finish
            stop_reason = choice.get("stop_reason") if choice.get("stop_reason") is not None else stop_reason
    if finish is None:
        raise Busy("the stream ended before the reply did (no finish_reason)")
    message = {"content": "".join(content) if content else None, "reasoning_content": "".join(reasoning) or None}
    return {"choices": [{"text": "".join(text), "message": message, "finish_reason": finish, "token_ids": ids,
                         "stop_reason": stop_reason}], "usage": usage}


async def _lines_timed_by_events(response: httpx.Response, wait: float | None):
    """The response's lines, with at most `wait` seconds from one `data:` line (or the start) to the next:
    httpx's read timeout restarts at every byte, a comment's too."""
    lines = response.aiter_lines()
    if not wait:
        async for line in lines:
            yield line
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while True:
        try:
            line = await asyncio.wait_for(anext(lines), max(deadline - loop.time(), 0.0))
        except StopAsyncIteration:
            return
        if line.startswith("data:"):
            deadline = loop.time() + wait
        yield line


class _TooLong(Exception):
    """The server refused a prompt as longer than its context window."""


class _Fit(_TooLong):
    """The server refused a request as too long for its context window, and said what max_tokens it
    holds: `max_tokens`. prompt_fits: the refusal said the prompt's tokens, and they leave room (vLLM
    0.32 says only that max_tokens is above its window)."""

    def __init__(self, max_tokens: int, message: str, prompt_fits: bool = True) -> None:
        super().__init__(message)
        self.max_tokens = max_tokens
        self.prompt_fits = prompt_fits


class _Unsaid(_TooLong):
    """The server refused a request as too long for its context window without saying whether the
    prompt or max_tokens is at fault. blames_output: it names max_tokens (or the completion)."""

    def __init__(self, message: str, blames_output: bool) -> None:
        super().__init__(message)
        self.blames_output = blames_output


def _refused_as_too_long(text: str, max_tokens: Any, known_window: int | None = None) -> _TooLong:
    """What a server's refusal for its context window means: _Fit where the prompt fits and the refusal says
    what max_tokens the window holds after it; _TooLong where the prompt alone does not fit; _Unsaid where it
    does not tell. known_window: the window the server reported on /models, for a refusal that does not say it.

    The prompt's tokens are what the refusal says, else the total it says less the max_tokens asked. A reply
    fits one token short of what the window leaves: SGLang refuses a prompt and max_tokens that fill it."""
    message = _one_line(text, 300)
    if PROMPT_ALONE.search(text):
        return _TooLong(message)
    window = next((int(g) for m in WINDOW.finditer(text) for g in m.groups() if g), known_window)
    prompt = next((int(m.group(1)) for m in PROMPT_TOKENS.finditer(text)), None)
    total = next((int(m.group(1)) for m in TOTAL_TOKENS.finditer(text)), None)
    if prompt is None and total is not None and isinstance(max_tokens, int):
        prompt = total - max_tokens
    if window is not None and prompt is not None:
        room = window - prompt - 1
        if room >= 1:
            return _Fit(room, message)
        # a prompt one token short of the window still gets its one token where the server takes it (vLLM); one
        # refused again (SGLang) is the prompt's: that sample's outcome
        return _Fit(1, message, prompt_fits=False) if window - prompt == 1 else _TooLong(message)
    if window is not None and OUTPUT_OVER_WINDOW.search(text) and isinstance(max_tokens, int) and max_tokens > window:
        return _Fit(window, message, prompt_fits=False)  # vLLM 0.32 lowers it further for the prompt itself
    return _Unsaid(message, blames_output=bool(ASKS_OUTPUT.search(text)))


def _finished(data: dict[str, Any]) -> dict[str, Any]:
    """The reply, unless the server gave up on it (finish_reason `error` or `abort`), never finished it (no
    finish_reason and nothing in it, OpenRouter's reply when a provider fails) or sent something else than one
    reply (several choices for one asked, a choice with no message or text, a message or text that is not
    text): Busy, tried again, as the same reply streamed is. A message's content given as a list of parts
    (`_content_parts`: Mistral's, some gateways') is its text, and its thinking parts its reasoning."""
    choices = data["choices"]
    if len(choices) != 1:
        raise Busy(f"a reply of {len(choices)} choices to a request for one")
    choice = choices[0]
    if choice.get("finish_reason") is not None and not isinstance(choice.get("finish_reason"), str):
        raise Busy(f"a reply whose finish_reason is not text: {_one_line(json.dumps(choice['finish_reason']), 200)}")
    if choice.get("finish_reason") in GAVE_UP:
        raise Busy(f"the server gave up on the reply (finish_reason {choice['finish_reason']!r})")
    if "message" not in choice and "text" not in choice:
        raise Busy(f"a reply with neither a message nor a text: {_one_line(json.dumps(choice), 200)}")
    message = choice.get("message")
    if "message" in choice and not isinstance(message, dict):
        raise Busy(f"a reply whose message is not an object: {_one_line(json.dumps(message), 200)}")
    message = message or {}
    if isinstance(message.get("content"), list):
        parts = _content_parts(message["content"])
        if parts is None:
            raise Busy(f"a reply whose content parts are not text: {_one_line(json.dumps(message['content']), 200)}")
        message["content"] = parts[0]
        if parts[1] and not (message.get("reasoning_content") or message.get("reasoning")):
            message["reasoning_content"] = parts[1]
    for field, value in (("text", choice.get("text")), ("content", message.get("content")),
                         ("reasoning_content", message.get("reasoning_content")),
                         ("reasoning", message.get("reasoning"))):
        if value is not None and not isinstance(value, str):
            raise Busy(f"a reply whose {field} is not text: {_one_line(json.dumps(value), 200)}")
    said = choice.get("text") or message.get("content") or message.get("reasoning_content") or message.get("reasoning")
    if choice.get("finish_reason") is None and not said:
        raise Busy("the server sent an empty reply it never finished (no finish_reason)")
    return data


def _content_parts(parts: Any) -> tuple[str, str] | None:
    """(text, thinking) of content given as a list of parts: `{"type": "text", "text": ...}` (or a bare string)
    and Magistral's `{"type": "thinking", "thinking": [{"type": "text", "text": ...}]}` (an empty or missing
    thinking is none); parts of other kinds (a reference, a tool call) are no text of the reply. None when it is
    no such list."""
    if not isinstance(parts, list):
        return None
    text, thinking = [], []
    for part in parts:
        if isinstance(part, str):
            text.append(part)
        elif not isinstance(part, dict):
            return None
        elif part.get("type") == "thinking":
            inner = part.get("thinking")
            inner = [] if inner is None else [inner] if isinstance(inner, str) else inner
            found = _content_parts(inner)
            if found is None:
                return None
            thinking.append(found[0])
        elif part.get("type", "text") == "text" and part.get("text") is not None:
            if not isinstance(part["text"], str):
                return None
            text.append(part["text"])
    return "".join(text), "".join(thinking)


def _count(value: Any) -> int | None:
    """A token count a server reported, or None where it reported none or something that is no count (a gateway's
    `"n/a"`): the usage is informative, and a malformed one must not cost the reply."""
    if isinstance(value, float) and value.is_integer():  # `12.0`, as some gateways write it
        value = int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _one_line(text: str, limit: int) -> str:
    """A server's error body as one line (an HTML error page's lines and tags folded) of at most `limit`."""
    return " ".join(re.sub(r"<[^>]+>", " ", text).split())[:limit]


def _run_on_a_loop(coro) -> None:
    """Run `coro` to its end on an event loop of its own, in a helper thread (the caller may be inside a
    running loop, a notebook's or a trainer's); its error is raised here. Interrupted while it waits
    (Ctrl-C, SIGTERM), it cancels `coro`, so no request is sent any more, and lets the interrupt through."""
    failure: list[BaseException] = []
    running: list[tuple[asyncio.AbstractEventLoop, asyncio.Task]] = []
    lock, cancelled = threading.Lock(), threading.Event()

    async def main() -> None:
        with lock:
            if cancelled.is_set():
                coro.close()
                return
            running.append((asyncio.get_running_loop(), asyncio.current_task()))
        await coro

    def worker() -> None:
        try:
            asyncio.run(main())
        except asyncio.CancelledError:
            pass
        except BaseException as e:  # surfaced in the caller's thread
            failure.append(e)

    thread = threading.Thread(target=worker, daemon=True, name="evalkit-openai-continue")
    thread.start()
    try:
        thread.join()
    except BaseException:
        with lock:
            cancelled.set()
            for loop, task in running:
                loop.call_soon_threadsafe(task.cancel)
        thread.join(CANCEL_WAIT_S)
        raise
    if failure:
        raise failure[0]


def stitch_reasoning(reasoning: str | None, content: str | None, think_format: ThinkFormat = R1) -> str:
    """Put separately returned thinking back in front of the answer, in the format's markers.

    `content` None means the server saw no end of thinking (reasoning parsers return no content
    then): the thinking is left open, so a reply cut off mid-thought still reads as truncated.
    """
    return stitch(reasoning, content, think_format)

