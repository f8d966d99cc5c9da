"""The `openai` backend: any OpenAI-compatible server (vLLM, SGLang, DeepSeek's API, ...).

Chat endpoint by default (the server applies the chat template); `endpoint="completions"` sends a
prompt rendered with the model's own tokenizer instead, so the think prefill can be forced. Bounded
concurrency; retries with backoff on 429, 5xx and connection errors; a clear error on other 4xx.
Servers that return the thinking separately (`reasoning_content` or `reasoning`) get it stitched
back as `<think>…</think>`, so everything downstream sees one self-contained completion.
"""

from __future__ import annotations

import asyncio
import os
import queue
import random
import threading
from typing import Any, Iterator, Sequence

import httpx

from evalkit.backends.base import BACKENDS, THINK_PREFILL, render_with_tokenizer
from evalkit.errors import InputError
from evalkit.thinking import THINK_CLOSE
from evalkit.types import Completion, Request

RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}


class ServerError(RuntimeError):
    """A request the server refused for good (4xx other than 408/409/429)."""


class OpenAIBackend:
    name = "openai"

    def __init__(self, model: str, base_url: str | Sequence[str] | None = None, api_key: str | None = None,
                 endpoint: str = "chat", concurrency: int = 32, max_retries: int = 6, timeout: float = 600.0,
                 tokenizer: str | None = None, **_: Any) -> None:
        urls = [base_url] if isinstance(base_url, str) else list(base_url or [])
        if not urls:
            urls = [os.environ.get("OPENAI_BASE_URL", "http://127.0.0.1:8000/v1")]
        self.base_url = urls[0].rstrip("/")
        self.model = model
        self.endpoint = endpoint
        self.concurrency = concurrency
        self.max_retries = max_retries
        self.timeout = timeout
        self.headers = {"Authorization": f"Bearer {api_key or os.environ.get('OPENAI_API_KEY', 'EMPTY')}"}
        self.tokenizer = None
        self._check_server()
        if endpoint == "completions":
            from transformers import AutoTokenizer

            self.tokenizer = AutoTokenizer.from_pretrained(tokenizer or model)

    def _check_server(self) -> None:
        try:
            r = httpx.get(f"{self.base_url}/models", headers=self.headers, timeout=15)
        except httpx.HTTPError as e:
            raise InputError(f"cannot reach the server at {self.base_url} ({type(e).__name__}: {e})") from None
        if r.status_code == 404:
            return  # some servers do not list models; the first request will tell
        if r.status_code >= 400:
            raise InputError(f"server at {self.base_url} answered {r.status_code} on /models: {r.text[:200]}")
        try:
            served = [m["id"] for m in r.json().get("data", [])]
        except Exception:
            return
        if served and self.model not in served:
            raise InputError(f"model {self.model!r} is not served at {self.base_url} (it serves: {', '.join(served)})")

    def render(self, messages, think_prefill, chat_template_kwargs):
        if self.tokenizer is not None:
            return render_with_tokenizer(self.tokenizer, messages, think_prefill, chat_template_kwargs)
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
        sem = asyncio.Semaphore(self.concurrency)
        limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
        async with httpx.AsyncClient(timeout=self.timeout, limits=limits, headers=self.headers) as client:
            async def one(req: Request) -> None:
                async with sem:
                    out.put((req, await self._request(client, req)))

            tasks = [asyncio.create_task(one(r)) for r in requests]
            try:
                for t in asyncio.as_completed(tasks):
                    await t
            finally:
                for t in tasks:
                    t.cancel()

    async def _request(self, client: httpx.AsyncClient, req: Request) -> Completion:
        body: dict[str, Any] = {"model": self.model, "temperature": req.temperature, "top_p": req.top_p,
                                "max_tokens": req.max_tokens, "seed": req.seed, "n": 1}
        if self.endpoint == "completions":
            url, body["prompt"] = f"{self.base_url}/completions", req.prompt
            body["skip_special_tokens"] = False
        else:
            url, body["messages"] = f"{self.base_url}/chat/completions", list(req.messages or ())
        delay = 1.0
        for attempt in range(self.max_retries + 1):
            try:
                r = await client.post(url, json=body)
            except httpx.HTTPError as e:
                err: Exception = e
            else:
                if r.status_code < 400:
                    return self._completion(req, r.json())
                if r.status_code not in RETRY_STATUS:
                    raise ServerError(f"server at {self.base_url} refused the request ({r.status_code}): {r.text[:300]}")
                err = ServerError(f"{r.status_code}: {r.text[:200]}")
            if attempt == self.max_retries:
                raise ServerError(f"server at {self.base_url} failed after {attempt + 1} tries: {err}")
            await asyncio.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 30.0)
        raise AssertionError("unreachable")

    def _completion(self, req: Request, data: dict[str, Any]) -> Completion:
        choice = data["choices"][0]
        if self.endpoint == "completions":
            text = req.prefill + (choice.get("text") or "")
        else:
            msg = choice.get("message") or {}
            text = stitch_reasoning(msg.get("reasoning_content") or msg.get("reasoning"), msg.get("content"))
        usage = data.get("usage") or {}
        return Completion(text=text, finish_reason=choice.get("finish_reason"),
                          prompt_tokens=usage.get("prompt_tokens"), completion_tokens=usage.get("completion_tokens"),
                          model=self.model)

    def close(self) -> None:
        pass


def stitch_reasoning(reasoning: str | None, content: str | None) -> str:
    """Put separately returned thinking back in front of the answer as a think block.

    `content` None means the server saw no end of thinking (reasoning parsers return no content
    then): the think block is left open, so a reply cut off mid-thought still reads as truncated.
    """
    if not reasoning:
        return content or ""
    if content is None:
        return f"{THINK_PREFILL}{reasoning}"
    if THINK_CLOSE in content:
        return content
    return f"{THINK_PREFILL}{reasoning}{THINK_CLOSE}{content}"


BACKENDS["openai"] = OpenAIBackend
