"""A small scripted OpenAI-compatible judge server for the judge tests: real HTTP on 127.0.0.1.

It decides its reply with a Python function of the answer block it finds between the rubric's
fences (found the way a model must find them: from the tag the rubric names), and records every
request, so a test can say exactly what the judge was shown and how often it was asked. Modes:
`delay` (think this long before replying; the most requests ever in flight are counted), `hang`
(accept, never answer), `die` (drop the connection mid-request), `busy` (answer this many requests
with HTTP `busy_status`, 503, before answering again; -1: all of them; with a `Retry-After` header
where `retry_after` is given), `drip` (send the headers at once, then the body a byte at a time, this
many seconds apart, as a proxy keeping a connection alive does), `drip_headers` (send the status line,
then one header byte this many seconds apart, never ending the headers; GET /models too), `finish_reason` (what the reply says
ended it: `length` for one cut at max_tokens; a reply function may return None for a null content),
and `stop()` (the server is gone: connections are refused). Each request's arrival time
(time.monotonic) is kept in `times`.
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

TAG = re.compile(r"<answer-([0-9a-f]{16})>")


def answer_block(user: str) -> str | None:
    """The text between the real fences: the tag comes from the rubric's own line naming it."""
    m = TAG.search(user)
    if not m:
        return None
    tag = m.group(1)
    opening, closing = f"\n<answer-{tag}>\n", f"\n</answer-{tag}>\n"
    start = user.find(opening)
    end = user.find(closing, start + len(opening))
    if start < 0 or end < 0:
        return None
    return user[start + len(opening):end]


class ScriptedJudge:
    """reply: answer block (None when the fences were not found; the whole user message with `raw`)
    -> the judge's reply text."""

    def __init__(self, reply: Callable[[str | None], str | None], model: str = "judge", hang: bool = False,
                 die: bool = False, delay: float = 0.0, raw: bool = False, busy: int = 0, busy_status: int = 503,
                 retry_after: str | None = None, drip: float = 0.0, finish_reason: str = "stop",
                 context_chars: int | None = None, drip_headers: float = 0.0):
        self.reply = reply
        self.context_chars = context_chars  # a longer user message is refused as vLLM refuses a long prompt
        self.raw = raw  # reply() gets the whole user message, not the answer block
        self.model = model
        self.hang = hang
        self.die = die
        self.delay = delay
        self.drip, self.drip_headers, self.finish_reason = drip, drip_headers, finish_reason
        self.busy, self.busy_status, self.retry_after = busy, busy_status, retry_after
        self.requests: list[dict] = []
        self.listing: dict | None = None  # what GET /models answers, where a test sets it
        self.times: list[float] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._count = threading.Lock()
        self._release = threading.Event()
        judge = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _send(self, code: int, body: dict, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode()
                every = judge.drip_headers  # this request's pace, whatever a test sets for the next ones
                if every:
                    try:
                        self.wfile.write(f"HTTP/1.1 {code} OK\r\n".encode())
                        while not judge._release.wait(every):
                            self.wfile.write(b"X")
                            self.wfile.flush()
                    except OSError:  # the client gave up
                        pass
                    self.close_connection = True
                    return
                self.send_response(code)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if not judge.drip:
                    self.wfile.write(data)
                    return
                for i in range(len(data)):
                    self.wfile.write(data[i:i + 1])
                    self.wfile.flush()
                    if judge._release.wait(judge.drip):
                        return

            def do_GET(self):
                self._send(200, judge.listing or {"object": "list", "data": [{"id": judge.model, "object": "model"}]})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                judge.requests.append(body)
                judge.times.append(time.monotonic())
                if judge.hang:
                    judge._release.wait(60)
                    return
                with judge._count:
                    busy = judge.busy != 0
                    if judge.busy > 0:
                        judge.busy -= 1
                if busy:  # overloaded: an error status instead of a reply
                    told = {"Retry-After": judge.retry_after} if judge.retry_after is not None else None
                    self._send(judge.busy_status, {"object": "error", "message": "Service Unavailable"}, told)
                    return
                if judge.die:  # the server process dies under the request: no reply at all
                    self.connection.shutdown(2)
                    self.close_connection = True
                    return
                if judge.context_chars is not None and len(body["messages"][-1]["content"]) > judge.context_chars:
                    self._send(400, {"object": "error", "type": "BadRequestError", "code": 400,
                                     "message": "This model's maximum context length is 4096 tokens. However, you "
                                                "requested 5000 tokens (4000 in the messages, 1000 in the completion)."})
                    return
                with judge._count:
                    judge.in_flight += 1
                    judge.max_in_flight = max(judge.max_in_flight, judge.in_flight)
                time.sleep(judge.delay)
                with judge._count:
                    judge.in_flight -= 1
                user = body["messages"][-1]["content"]
                text = judge.reply(user if judge.raw else answer_block(user))
                self._send(200, {"id": "x", "object": "chat.completion", "model": judge.model,
                                 "choices": [{"index": 0, "finish_reason": judge.finish_reason,
                                              "message": {"role": "assistant", "content": text}}]})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def asked(self) -> int:
        return len(self.requests)

    def answers_shown(self) -> list[str | None]:
        return [answer_block(r["messages"][-1]["content"]) for r in self.requests]

    def stop(self) -> None:
        self._release.set()
        self.server.shutdown()
        self.server.server_close()
        time.sleep(0.05)

    def __enter__(self) -> "ScriptedJudge":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
