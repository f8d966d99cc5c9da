"""Asking a judge model on any OpenAI-compatible server, bounded in concurrency and in time.

A fault (the server refuses, errs, hangs past the limit, or the batch deadline passes first) is a
`Reply` with `error` set, never an exception: the caller decides what an unanswered question means.
What a busy server answers (408, 429, 5xx) and a dropped or refused connection are asked again after a
backoff (`backoff(retries)`: 0.5, 1 and 2 s for the default three retries), or after as long as the
server's Retry-After asks where that is longer (up to `MAX_RETRY_AFTER_S`), as long as the deadline
leaves room; a question that took the whole per-request limit is not asked again (it would take as long
the next time). Every read, write and connect of a request waits at most until the request's own end
(`_Sockets`), so a server that trickles its reply, headers included, is cut there; a reply body longer than
`MAX_REPLY_BYTES` is not read past it. `close()` ends every request in flight and every retry's wait at once.
"""

from __future__ import annotations

import json
import os
import random
import re
import socket
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, Sequence

import httpcore
import httpx

from evalkit.retryafter import MAX_RETRY_AFTER_S, RETRY_STATUS, retry_after

RETRIES = 3  # the default number of times a question a busy or unreachable server refused is asked again
# How much of a reply body is read: room for a reasoning judge's hundred thousand tokens of thinking, where every
# reply form is one short line (a server ignoring max_tokens sent 20 MB a question, all recorded and cached).
MAX_REPLY_BYTES = 1 << 20


def backoff(retries: int) -> tuple[float, ...]:
    """The wait before each retry, before jitter: 0.5 s, then twice the last each time."""
    return tuple(0.5 * 2 ** i for i in range(retries))


@dataclass(frozen=True)
class Reply:
    """The judge's answer to one question: its text, or the error that kept it from answering."""

    text: str | None
    error: str | None = None
    ms: float = 0.0
    # why a reply is not whole (cut at max_tokens, no text): still the judge's reply, which the answer's
    # text may have led it to (it counts as what it says, unparsed as a rule), but never cached
    cut: str | None = None
    # the server refused the question as longer than the judge's context: an error, which the cascade asks
    # again with less of the answer (JudgeCascade._ask_shorter)
    too_long: bool = False


class JudgeClient:
    """One judge model behind one OpenAI-compatible URL; thread-safe.

    base_url: the server's API root, e.g. http://127.0.0.1:8000/v1.
    model: the served model name. api_key: sent as a bearer token (default $OPENAI_API_KEY or EMPTY).
    timeout_s: the longest one request may take, from sending it to its reply's last byte. max_tokens: the
    longest reply (a reasoning judge needs room to think). concurrency: requests in flight at once, over
    every caller of this client together.
    retries: how many times a question the server refused as busy (408, 429, 5xx) or could not take (a
    connection refused or dropped) is asked again; 0 asks each question once.
    """

    def __init__(self, base_url: str, model: str, api_key: str | None = None, timeout_s: float = 60.0,
                 max_tokens: int = 1024, concurrency: int = 8, retries: int = RETRIES):
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.timeout_s = timeout_s
        self.max_tokens = max_tokens
        self.concurrency = max(1, int(concurrency))
        self.backoff = backoff(max(0, int(retries)))
        self._headers = {"Authorization": f"Bearer {api_key or os.environ.get('OPENAI_API_KEY', 'EMPTY')}"}
        self._closed = threading.Event()
        self._sockets = _Sockets(self._closed)
        self._http = self._sockets.client(httpx.Limits(max_connections=self.concurrency))
        self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="evalkit-judge")

    def check(self, timeout_s: float = 10.0) -> str | None:
        """None when the server answers and serves the model; else one line saying what is wrong.
        timeout_s: the longest GET /models may take, from sending it to the reply's last byte."""
        from evalkit.backends.openai import base_url_problem

        problem = base_url_problem(self.base_url, "--judge-base-url")
        if problem:
            return problem
        try:
            with self._sockets.until(time.monotonic() + timeout_s):
                r = self._http.get(f"{self.base_url}/models", headers=self._headers, timeout=timeout_s)
        except (httpx.ReadTimeout, httpx.WriteTimeout):
            return f"judge server {self.base_url}: GET /models did not answer within {timeout_s:g} s"
        except httpx.HTTPError as e:
            return f"judge server {self.base_url} unreachable ({type(e).__name__}: {e})"
        if r.status_code != 200:
            return f"judge server {self.base_url}: GET /models answered HTTP {r.status_code}"
        try:
            listed = r.json().get("data")
        except (ValueError, AttributeError):
            return None  # a server that lists nothing readable may still serve the model
        served = [m["id"] for m in listed if isinstance(m, dict) and isinstance(m.get("id"), str)] \
            if isinstance(listed, list) else []
        if served and self.model not in served:
            return f"judge server {self.base_url} does not serve {self.model!r} (it serves {', '.join(map(str, served[:5]))})"
        return None

    def ask_many(self, conversations: Sequence[list[dict[str, str]]], deadline: float | None = None) -> list[Reply]:
        """One Reply per conversation, in order.

        deadline: a time.monotonic() instant; a question not answered by then gets an error Reply
        (requests in flight are cut at it too, so this returns by the deadline plus a moment).
        """
        futures: list[Future] = [self._pool.submit(self._ask, c, deadline) for c in conversations]
        wait_futures(futures, timeout=None if deadline is None else max(0.0, deadline - time.monotonic()) + 1.0)
        out = []
        for f in futures:
            if f.done():
                fault = f.exception()  # the client's own bug: a fault of this question, never an exception
                out.append(f.result() if fault is None else Reply(None, f"the judge client failed: "
                                                                       f"{type(fault).__name__}: {fault}"))
            else:
                f.cancel()
                out.append(Reply(None, "the batch deadline passed before the judge answered"))
        return out

    def _ask(self, messages: list[dict[str, str]], deadline: float | None) -> Reply:
        t0 = time.monotonic()
        body = {"model": self.model, "messages": messages, "temperature": 0.0, "max_tokens": self.max_tokens,
                "seed": 0}
        reply, tries, told = Reply(None, "the batch deadline passed before the judge was asked"), 0, None
        for wait in (0.0, *self.backoff):
            if tries:
                wait *= 0.5 + random.random()
                if told:
                    wait = max(wait, min(told, MAX_RETRY_AFTER_S))
                if deadline is not None and time.monotonic() + wait >= deadline:
                    break  # no time left for another try: the last fault stands
                self._closed.wait(wait)
            if self._closed.is_set():  # the run is stopping: nobody waits for this reply
                return Reply(None, "the judge client was closed before the judge answered",
                             (time.monotonic() - t0) * 1e3)
            limit = self.timeout_s if deadline is None else min(self.timeout_s, deadline - time.monotonic())
            if limit <= 0:
                break
            reply, again, told = self._try(body, limit, t0)
            tries += 1
            if not again:
                return reply
        if tries > 1:
            reply = Reply(None, f"{reply.error} (asked {tries} times)", reply.ms)
        return reply

    def _try(self, body: dict, limit: float, t0: float) -> tuple[Reply, bool, float | None]:
        """One request: (the Reply, whether a fault is worth another try, the seconds the server asked that
        try to wait or None). The request takes at most `limit` seconds in all, from sending it to its reply's
        last byte, a server that sends its headers or body a byte at a time included."""
        end = time.monotonic() + limit
        try:
            with self._sockets.until(end), self._http.stream(
                    "POST", f"{self.base_url}/chat/completions", json=body, headers=self._headers,
                    timeout=httpx.Timeout(limit)) as r:
                status, headers, (data, whole) = r.status_code, r.headers, _read_at_most(r, MAX_REPLY_BYTES)
        except httpx.TimeoutException as e:
            ms = (time.monotonic() - t0) * 1e3
            if isinstance(e, httpx.ConnectTimeout):
                return Reply(None, f"judge server unreachable ({type(e).__name__}: {e})", ms), True, None
            return Reply(None, f"the judge did not answer within {limit:.1f} s", ms), False, None
        except httpx.HTTPError as e:  # refused, reset, dropped mid-reply
            ms = (time.monotonic() - t0) * 1e3
            return Reply(None, f"judge server unreachable ({type(e).__name__}: {e})", ms), True, None
        ms = (time.monotonic() - t0) * 1e3
        text = data.decode("utf-8", "replace")
        if status in (400, 413, 422) and _TOO_LONG.search(text):
            # the question cannot fit the judge's context: the cascade asks again with less of the answer
            return Reply(None, f"judge server answered HTTP {status}: {text[:200]}", ms,
                         too_long=True), False, None
        if status != 200:
            again = status in RETRY_STATUS
            return (Reply(None, f"judge server answered HTTP {status}: {text[:200]}", ms), again,
                    retry_after(headers) if again else None)
        if not whole:  # a server that ignored max_tokens: no reply form is this long, and none is kept
            return Reply(None, None, ms, f"reply cut at {MAX_REPLY_BYTES} bytes, unread"), False, None
        try:
            choice = json.loads(text)["choices"][0]
            content, finish = choice["message"].get("content"), choice.get("finish_reason")
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            return Reply(None, f"judge server sent no chat completion: {text[:200]}", ms), False, None
        if isinstance(content, list):  # content parts (OpenAI's newer shape): their text, joined
            content = "".join(part["text"] for part in content
                              if isinstance(part, dict) and isinstance(part.get("text"), str))
        text = content if isinstance(content, str) else None
        if finish == "length":  # a reasoning judge still thinking at max_tokens: a rerun with more may answer
            return Reply(text, None, ms, f"cut at max_tokens ({self.max_tokens}); raise max_tokens"), False, None
        if finish in ("abort", "error"):  # the server says the generation failed: what it holds is no verdict
            return Reply(None, f"the judge's generation failed (finish_reason {finish!r})", ms), False, None
        if text is None or not text.strip():  # "" is no reply either: never cached
            return Reply(text, None, ms, f"no reply text (finish_reason {finish!r})"), False, None
        return Reply(text, None, ms), False, None

    def close(self) -> None:
        """End every request in flight and every retry's wait now, and ask nothing more: a run stopped by Ctrl-C
        or SIGTERM exits at once, not when its questions would have timed out (the interpreter joins the
        client's threads at exit)."""
        self._closed.set()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._sockets.shut()
        self._http.close()


# how OpenAI-compatible servers refuse a prompt longer than the model's context (vLLM, SGLang, OpenAI, llama.cpp)
_TOO_LONG = re.compile(r"context[ _]length|context window|maximum context|prompt is too long|input is too long"
                       r"|too many (?:input )?tokens", re.IGNORECASE)


def _read_at_most(response: httpx.Response, most: int) -> tuple[bytes, bool]:
    """The response body's first `most` bytes at most, and whether that is all of it (reading stops there)."""
    pieces, size = [], 0
    for piece in response.iter_bytes():
        pieces.append(piece)
        size += len(piece)
        if size > most:
            return b"".join(pieces)[:most], False
    return b"".join(pieces), True


class _Sockets(httpcore.NetworkBackend):
    """The client's connections. Each read, write and connect waits at most until its request's end (set for
    the thread by `until`): httpx's timeouts start again at every byte, so a server sending its headers a byte
    at a time kept a request, and its thread, for ever. `shut` ends them all, mid-read included."""

    def __init__(self, closed: threading.Event):
        self._closed = closed
        self._tcp = httpcore.SyncBackend()
        self._open: set[_Stream] = set()
        self._lock = threading.Lock()
        self._end = threading.local()

    def client(self, limits: httpx.Limits) -> httpx.Client:
        """An httpx client whose connections, proxied ones included, are these."""
        http = httpx.Client(limits=limits)
        # httpx takes no network backend of its own; the httpcore pool behind each of its transports does
        # (private names: where another httpx has none, requests keep httpx's own timeouts, reset at every byte)
        for transport in (getattr(http, "_transport", None), *getattr(http, "_mounts", {}).values()):
            pool = getattr(transport, "_pool", None)
            if isinstance(pool, httpcore.ConnectionPool):
                pool._network_backend = self
        return http

    @contextmanager
    def until(self, end: float) -> Iterator[None]:
        """This thread's requests end by the monotonic instant `end`."""
        before, self._end.at = getattr(self._end, "at", None), end
        try:
            yield
        finally:
            self._end.at = before

    def wait(self, timeout: float | None, late: type[httpcore.TimeoutException]) -> float | None:
        """How long one read, write or connect may block now: its own timeout, held to the request's end."""
        if self._closed.is_set():
            raise httpcore.NetworkError("the judge client was closed")
        end = getattr(self._end, "at", None)
        if end is None:
            return timeout
        left = end - time.monotonic()
        if left <= 0:
            raise late("the request's time is up")
        return left if timeout is None else min(timeout, left)

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options=None) -> httpcore.NetworkStream:
        stream = _Stream(self._tcp.connect_tcp(host, port, self.wait(timeout, httpcore.ConnectTimeout),
                                               local_address, socket_options), self)
        with self._lock:
            self._open.add(stream)
        return stream

    def forget(self, stream: _Stream) -> None:
        with self._lock:
            self._open.discard(stream)

    def shut(self) -> None:
        with self._lock:
            streams = list(self._open)
        for stream in streams:
            sock = stream.get_extra_info("socket")
            if sock is not None:
                _shut(sock)


class _Stream(httpcore.NetworkStream):
    """One connection of `_Sockets`, each wait held to its request's end."""

    def __init__(self, inner: httpcore.NetworkStream, sockets: _Sockets):
        self._inner, self._sockets = inner, sockets

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, self._sockets.wait(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, self._sockets.wait(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._sockets.forget(self)
        self._inner.close()

    def start_tls(self, ssl_context, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        self._inner = self._inner.start_tls(ssl_context, server_hostname,
                                            self._sockets.wait(timeout, httpcore.ConnectTimeout))
        return self

    def get_extra_info(self, info: str):
        return self._inner.get_extra_info(info)


def _shut(sock: socket.socket) -> None:
    """Shut a socket another thread may be blocked reading: its read returns at once (a close would not)."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
