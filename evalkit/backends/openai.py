"""The `openai` backend: any OpenAI-compatible server (vLLM, SGLang, DeepSeek's API, ...).

Chat endpoint by default (the server applies the chat template); `endpoint="completions"` sends a
prompt rendered with the model's own tokenizer instead, so the think prefill can be forced. Bounded
concurrency per server; retries with backoff on 429, 5xx and connection errors; a clear error on
other 4xx. Several base URLs make a fleet (evalkit.backends.fleet): requests are spread across the
servers, and the in-flight requests of a server that dies go to the others.
Servers that return the thinking separately (`reasoning_content` or `reasoning`) get it stitched
back in the run's think format's own markers (`think_format`, r1's `<think>…</think>` unless the run
says otherwise), so everything downstream sees one self-contained completion.
"""

from __future__ import annotations

import asyncio
import os
import queue
import sys
import threading
from typing import Any, Iterator, Sequence

import httpx

from evalkit.backends.base import BackendCapabilities, render_with_tokenizer
from evalkit.backends.fleet import Busy, Fleet, ServerError, Unreachable
from evalkit.errors import InputError
from evalkit.thinking import R1, ThinkFormat, stitch
from evalkit.types import Completion, Request

RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}


class OpenAIBackend:
    name = "openai"
    capabilities = BackendCapabilities(remote=True)

    def __init__(self, model: str, base_url: str | Sequence[str] | None = None, api_key: str | None = None,
                 endpoint: str = "chat", concurrency: int = 32, max_retries: int = 6, timeout: float = 600.0,
                 tokenizer: str | None = None, down_timeout: float = 60.0, think_format: ThinkFormat = R1,
                 reasoning_effort: str | None = None, max_model_len: int | None = None) -> None:
        """model: the served model name. base_url: one server's URL, or several (a fleet).
        concurrency: requests in flight per server. max_retries: failed tries per request.
        timeout: seconds per request. down_timeout: seconds with no server answering before the run
        stops (it resumes where it stopped). endpoint, tokenizer: see the module docstring.
        think_format: the markers separately returned reasoning is stitched back in (the run sets it
        once it has decided the format). reasoning_effort: low, medium or high, sent as the chat request's
        `reasoning_effort` (the completions endpoint renders it into the prompt, as a template kwarg).
        max_model_len: the server's context window, which thinking budgets must leave room for; None
        reads it from the server's /models where it says (vLLM does)."""
        self.think_format = think_format
        self.reasoning_effort = reasoning_effort
        urls = [base_url] if isinstance(base_url, str) else list(base_url or [])
        if not urls:
            urls = [os.environ.get("OPENAI_BASE_URL", "http://127.0.0.1:8000/v1")]
        urls = list(dict.fromkeys(u.rstrip("/") for u in urls))
        self.base_urls = urls
        self.base_url = urls[0]
        self.model = model
        self.endpoint = endpoint
        self.concurrency = concurrency
        self.max_retries = max_retries
        self.timeout = timeout
        self.headers = {"Authorization": f"Bearer {api_key or os.environ.get('OPENAI_API_KEY', 'EMPTY')}"}
        self.tokenizer = None
        self.max_model_len = max_model_len
        self.fleet = Fleet(urls, concurrency=concurrency, max_retries=max_retries, down_timeout=down_timeout)
        unreachable = {url: why for url in urls if (why := self._check_server(url))}
        if len(unreachable) == len(urls):
            raise InputError("; ".join(unreachable.values()))
        for server in self.fleet.servers:
            if server.url in unreachable:  # the others start; this one is probed and joins when it answers
                server.healthy, server.last_error = False, unreachable[server.url]
                print(f"evalkit: warning: {unreachable[server.url]}; starting with the other servers",
                      file=sys.stderr)
        if endpoint == "completions":
            from transformers import AutoTokenizer

            self.tokenizer = AutoTokenizer.from_pretrained(tokenizer or model)

    def _check_server(self, url: str) -> str | None:
        """None when the server at `url` serves the model; why not when it cannot be reached.
        InputError when it answers but refuses (a wrong model or key is not worth waiting for)."""
        try:
            r = httpx.get(f"{url}/models", headers=self.headers, timeout=15)
        except httpx.HTTPError as e:
            return f"cannot reach the server at {url} ({type(e).__name__}: {e})"
        if r.status_code == 404:
            return None  # some servers do not list models; the first request will tell
        if r.status_code >= 500:
            return f"server at {url} answered {r.status_code} on /models"
        if r.status_code >= 400:
            raise InputError(f"server at {url} answered {r.status_code} on /models: {r.text[:200]}")
        try:
            data = r.json().get("data", [])
            served = [m["id"] for m in data]
        except Exception:
            return None
        if served and self.model not in served:
            raise InputError(f"model {self.model!r} is not served at {url} (it serves: {', '.join(served)})")
        window = next((m.get("max_model_len") for m in data if m["id"] == self.model), None)
        if self.max_model_len is None and isinstance(window, int):
            self.max_model_len = window  # vLLM says its context window: a budget sweep fits its answers in it
        return None

    def render(self, messages, think_prefill, chat_template_kwargs, think_format=None):
        if self.tokenizer is not None:
            return render_with_tokenizer(self.tokenizer, messages, think_prefill, chat_template_kwargs, think_format)
        # the chat endpoint applies the server's template; shown in records as the plain messages
        return "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in messages), "", False

    def generate(self, requests: Sequence[Request]) -> Iterator[tuple[Request, Completion]]:
        """Run the requests on an event loop in a helper thread; yield completions as they arrive."""
        out: queue.Queue = queue.Queue()
        done = object()

        def worker() -> None:
            try:
                asyncio.run(self._run_all(requests, out))
            except BaseException as e:  # surfaced in the caller's thread
                out.put(e)
            out.put(done)

        thread = threading.Thread(target=worker, daemon=True, name="evalkit-openai")
        thread.start()
        while True:
            item = out.get()
            if item is done:
                break
            if isinstance(item, BaseException):
                raise item
            yield item
        thread.join()

    async def _run_all(self, requests: Sequence[Request], out: queue.Queue) -> None:
        n = self.concurrency * len(self.base_urls)
        limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
        async with httpx.AsyncClient(timeout=self.timeout, limits=limits, headers=self.headers) as client:
            async def send(url: str, req: Request) -> Completion:
                return await self._send(client, url, req)

            async def probe(url: str) -> bool:
                try:
                    r = await client.get(f"{url}/models", timeout=5)
                except httpx.HTTPError:
                    return False
                return r.status_code < 500

            await self.fleet.run(requests, send, probe, lambda req, comp: out.put((req, comp)))

    async def _send(self, client: httpx.AsyncClient, url: str, req: Request) -> Completion:
        """One try at one server; the fleet retries (elsewhere) on Unreachable and Busy."""
        body: dict[str, Any] = {"model": self.model, "temperature": req.temperature, "top_p": req.top_p,
                                "max_tokens": req.max_tokens, "seed": req.seed, "n": 1}
        if self.endpoint == "completions":
            path, body["prompt"] = "completions", req.prompt
            body["skip_special_tokens"] = False
        else:
            path, body["messages"] = "chat/completions", list(req.messages or ())
            if self.reasoning_effort:
                body["reasoning_effort"] = self.reasoning_effort
        try:
            r = await client.post(f"{url}/{path}", json=body)
        except httpx.HTTPError as e:
            raise Unreachable(f"{type(e).__name__}: {e}") from None
        if r.status_code < 400:
            return self._completion(req, r.json())
        if r.status_code not in RETRY_STATUS:
            raise ServerError(f"server at {url} refused the request ({r.status_code}): {r.text[:300]}")
        raise Busy(f"{r.status_code}: {r.text[:200]}")

    def server_stats(self) -> list[dict[str, Any]]:
        """Per server: url, healthy, completed, failed_over (requests that went elsewhere), last_error."""
        return [dict(vars(s)) for s in self.fleet.servers]

    def _completion(self, req: Request, data: dict[str, Any]) -> Completion:
        choice = data["choices"][0]
        if self.endpoint == "completions":
            text = req.prefill + (choice.get("text") or "")
        else:
            msg = choice.get("message") or {}
            text = stitch_reasoning(msg.get("reasoning_content") or msg.get("reasoning"), msg.get("content"),
                                    self.think_format)
        usage = data.get("usage") or {}
        return Completion(text=text, finish_reason=choice.get("finish_reason"),
                          prompt_tokens=usage.get("prompt_tokens"), completion_tokens=usage.get("completion_tokens"),
                          reasoning_tokens=(usage.get("completion_tokens_details") or {}).get("reasoning_tokens"),
                          model=self.model)

    def continue_tokens(self, prefixes):
        """Continue token prefixes (evalkit.budgets.Prefix) on the completions endpoint, whose prompt
        may be token ids. Needs `endpoint="completions"` (the local tokenizer counts and cuts tokens)."""
        if self.tokenizer is None:
            raise InputError("continuing a prefix needs the completions endpoint: --endpoint completions")
        from concurrent.futures import ThreadPoolExecutor

        from evalkit.budgets import continue_with_stops

        def one(client, ids, kw):
            body = {"model": self.model, "prompt": list(ids), "n": 1, "skip_special_tokens": False,
                    "return_token_ids": True, **{k: v for k, v in kw.items() if v is not None}}
            r = client.post(f"{self.base_url}/completions", json=body)
            if r.status_code >= 400:
                raise ServerError(f"server at {self.base_url} refused a prefix ({r.status_code}): {r.text[:300]}")
            choice = r.json()["choices"][0]
            out_ids = choice.get("token_ids")
            if out_ids is None:  # a server that does not return ids: count the text with our tokenizer
                out_ids = self.tokenizer.encode(choice.get("text") or "", add_special_tokens=False)
            cached = ((r.json().get("usage") or {}).get("prompt_tokens_details") or {}).get("cached_tokens")
            return out_ids, choice.get("finish_reason"), choice.get("stop_reason"), cached

        def run(token_ids, kwargs_list):
            with httpx.Client(timeout=self.timeout, headers=self.headers) as client, \
                    ThreadPoolExecutor(self.concurrency) as pool:
                return list(pool.map(lambda a: one(client, *a), zip(token_ids, kwargs_list)))

        return continue_with_stops(self.tokenizer, prefixes, run, self.max_model_len)

    def close(self) -> None:
        pass


def stitch_reasoning(reasoning: str | None, content: str | None, think_format: ThinkFormat = R1) -> str:
    """Put separately returned thinking back in front of the answer, in the format's markers.

    `content` None means the server saw no end of thinking (reasoning parsers return no content
    then): the thinking is left open, so a reply cut off mid-thought still reads as truncated.
    """
    return stitch(reasoning, content, think_format)

