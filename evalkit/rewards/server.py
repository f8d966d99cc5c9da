"""An HTTP reward server speaking OpenRLHF's remote reward protocol (`evalkit serve-rewards`).

    POST /get_reward   {"query": [...], "prompts": [...], "labels": [...]}
                       -> {"rewards": [...], "scores": [...], "extra_logs": {...}, "answers", "reasons", "details"}
    GET  /health       -> {"status": "ok", "verifier": "math", "served": N, "in_flight": K}

A malformed request gets a 4xx with `{"error": "..."}` naming what is wrong, and the server keeps
serving. At most `max_concurrency` requests are judged at once, and those are checked together
(evalkit.rewards._judge: one batch, one deadline, OpenRLHF's one request per sample included);
further ones wait (up to `queue_timeout_s`, then 503). `close()` (or SIGINT / SIGTERM under
`serve`) stops accepting, lets requests in flight finish, and returns.
"""

from __future__ import annotations

import json
import logging
import signal
import socket
import sys
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from evalkit.errors import InputError
from evalkit.rewards._correctness import answer_limit
from evalkit.rewards._judge import BATCH_DEADLINE_S, Limits
from evalkit.rewards.openrlhf import score_queries

log = logging.getLogger("evalkit.rewards.server")

MAX_BODY_BYTES = 256 * 1024 * 1024  # a batch of long R1 completions is tens of MB
# OpenRLHF posts a request per sample, a whole batch at once: all of them are judged together, in one round under
# one deadline (64 at a time made the 512th wait eight rounds, 30 s at a 2 s deadline, past a client's patience).
MAX_CONCURRENCY = 4096
# A request still queued after this gets a 503 before OpenRLHF's own client gives up (180 s) and posts it again.
QUEUE_TIMEOUT_S = 120.0
# A request not all received this long after its connection opened gets a 408 and its thread back: a client
# trickling a byte a minute would hold a thread for as long as it pleased (OpenRLHF's client gives up at 180 s).
REQUEST_DEADLINE_S = 180.0



def _no_label(label: Any) -> bool:
    """A label that holds no gold: null, or blank text."""
    return label is None or (isinstance(label, str) and not label.strip())

def check_verifier_options(verifier: str, options: dict[str, Any] | None) -> dict[str, Any] | None:
    """The options, once the verifier took them (each request would otherwise leave every answer unjudged)."""
    if not options:
        return None
    from evalkit.verifiers import get_verifier

    from evalkit.verifiers.base import option_problem

    try:
        built = get_verifier(verifier, **options)
    except KeyError as e:
        raise InputError(f"verifier {verifier!r} refuses its options {options}: {e.args[0] if e.args else e}") from None
    except (ValueError, TypeError) as e:
        raise InputError(f"verifier {verifier!r} refuses its options {options}: {option_problem(verifier, e)}") from None
    if options.get("require_layers"):  # layers that are missing here stop the server before it serves (exit 2)
        from evalkit.verifiers.base import check_verifier

        check_verifier(built)
    return dict(options)


class RewardServer:
    """The reward server; `start()` serves from a background thread, `serve()` from this one.

    host, port: where to listen (port 0 picks a free one; read it back from `.port`).
    verifier: the verifier for labels that are not code-test JSON (`math`, `choice`, a plugin).
    separator: a configured prompt/response separator (else the prompt, then chat markers).
    max_concurrency: requests judged at once. partial: code answers get partial credit.
    per_answer_s: seconds per answer (for code, per test); None: a code verifier's `timeout_s` option where
    `verifier_options` gives one (as `evalkit run` checks the task), else the rewards' default.
    think_format: how the policy thinks (a name, `auto`, or None for r1); a request's own
    `think_format` field wins. An unknown one is an InputError here, before the port is taken.
    verifier_options: `verifier`'s options (`{"require_box": True}`, `{"letters": "ABCD"}`); options the
    verifier refuses are an InputError here, as an unknown think format is.
    request_deadline_s: seconds a client has to send its whole request (headers and body) before a 408.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 5000, *, verifier: str = "math",
                 separator: str | None = None, max_concurrency: int = MAX_CONCURRENCY,
                 queue_timeout_s: float = QUEUE_TIMEOUT_S,
                 partial: bool = False, per_answer_s: float | None = None,
                 batch_deadline_s: float = BATCH_DEADLINE_S, think_format: Any = None,
                 verifier_options: dict[str, Any] | None = None, request_deadline_s: float = REQUEST_DEADLINE_S):
        self.verifier = verifier
        self.verifier_options = check_verifier_options(verifier, verifier_options)
        self.think_format = _check_think_format(think_format)
        self.separator = separator
        self.partial = partial
        # a code task's `timeout_s` where no limit per answer is given, as `evalkit run` checks it
        self.limits = Limits(answer_limit(per_answer_s, self.verifier_options), batch_deadline_s)
        self.queue_timeout_s = queue_timeout_s
        self._slots = threading.BoundedSemaphore(max(1, max_concurrency))
        self._count_lock = threading.Lock()
        self.served = 0
        self.in_flight = 0
        self._thread: threading.Thread | None = None
        self._httpd = _HTTPServer((host, port), _handler(self), request_deadline_s=request_deadline_s)
        self.host, self.port = self._httpd.server_address[:2]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> "RewardServer":
        """Serve from a background thread; returns at once."""
        # close() waits for the serving loop's next look at its stop flag: a tenth of a second, not the default half
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="evalkit-reward-server", daemon=True)
        self._thread.start()
        return self

    def serve(self) -> None:
        """Serve until SIGINT or SIGTERM, then shut down cleanly (the `serve-rewards` command)."""
        stop = threading.Event()
        previous = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, lambda *_: stop.set())
        self.start()
        try:
            while not stop.wait(0.5):
                pass
        finally:
            self.close()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def close(self) -> None:
        """Stop accepting requests, finish those in flight, release the port. A client still sending its
        request has nothing in flight: its connection is cut, so a stalled or trickling client cannot
        hold up the shutdown."""
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.stop_reading()
        self._httpd.server_close()  # joins the request threads (block_on_close)

    def __enter__(self) -> "RewardServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- one request ------------------------------------------------------------------------

    def handle(self, body: bytes) -> tuple[int, dict[str, Any]]:
        """Judge one request body; (HTTP status, JSON reply)."""
        try:
            data = json.loads(body or b"")
        except (ValueError, UnicodeDecodeError) as e:
            return 400, {"error": f"request body is not JSON: {e}"}
        except RecursionError:
            return 400, {"error": "request body is nested too deeply to read"}
        if not isinstance(data, dict):
            return 400, {"error": f"request body must be a JSON object, got {type(data).__name__}"}
        queries = data.get("query")
        if queries is None:  # the alias counts where `query` is absent or null
            queries = data.get("queries")
        if not isinstance(queries, list) or not all(isinstance(q, str) for q in queries):
            return 400, {"error": "'query' must be a list of strings (prompt + response)"}
        fields = {}
        for name in ("prompts", "labels"):
            value = data.get(name)
            if value is not None and (not isinstance(value, list) or len(value) != len(queries)):
                return 400, {"error": f"'{name}' must be a list as long as 'query' ({len(queries)})"}
            fields[name] = value
        if fields["prompts"] is not None and not all(p is None or isinstance(p, str) for p in fields["prompts"]):
            return 400, {"error": "'prompts' must hold strings"}
        think_format = data.get("think_format")
        try:
            think_format = self.think_format if think_format in (None, self.think_format) else \
                _check_think_format(think_format, files=False)
        except InputError as e:
            return 400, {"error": f"'think_format': {e}"}
        # no label at all (OpenRLHF without --label_key sends "" for each): every row had been scored 0, with a 200
        if queries and (fields["labels"] is None or all(_no_label(label) for label in fields["labels"])):
            return 400, {"error": "'labels' is missing or empty: the gold answers, one per query (OpenRLHF sends "
                                  "them when started with --label_key naming the answer column)"}
        if not self._slots.acquire(timeout=self.queue_timeout_s):
            return 503, {"error": "reward server busy; retry"}
        try:
            with self._count_lock:
                self.in_flight += 1
            reply = score_queries(queries, fields["prompts"], fields["labels"], verifier=self.verifier,
                                  separator=self.separator, partial=self.partial, limits=self.limits,
                                  think_format=think_format, options=self.verifier_options)
        except Exception as e:  # noqa: BLE001 - one bad batch must not take the server down
            log.exception("evalkit: reward request failed")
            return 500, {"error": f"{type(e).__name__}: {e}"}
        finally:
            with self._count_lock:
                self.in_flight -= 1
                self.served += 1
            self._slots.release()
        return 200, reply

    def health(self) -> dict[str, Any]:
        with self._count_lock:
            return {"status": "ok", "verifier": self.verifier, "served": self.served, "in_flight": self.in_flight}


class _HTTPServer(ThreadingHTTPServer):
    # OpenRLHF posts one request per sample, a whole batch at once: the listen queue must hold them
    # all (http.server's default of 5 resets or stalls the rest); the kernel caps it at somaxconn.
    request_queue_size = 4096
    daemon_threads = False  # close() waits for requests in flight
    block_on_close = True

    def __init__(self, *args: Any, request_deadline_s: float = REQUEST_DEADLINE_S, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.request_deadline_s = request_deadline_s
        # connections whose request has not all arrived, each with when it must have
        self._reading: dict[socket.socket, float] = {}
        self._late: set[socket.socket] = set()  # those whose deadline passed: reading them stops, a 408 goes back
        self._reading_lock = threading.Lock()
        self._closing = False

    def reading(self, sock: socket.socket, still: bool | None) -> None:
        """Mark a connection as still sending its request (True), done sending it (False), or done with (None)."""
        with self._reading_lock:
            if still and not self._closing:
                self._reading[sock] = time.monotonic() + self.request_deadline_s
                return
            self._reading.pop(sock, None)
            if sock in self._late and still is None:  # the handler is done with it
                self._late.discard(sock)
        if still:  # arrived as the server closes: nothing of it is in flight
            _cut(sock)

    def late(self, sock: socket.socket) -> bool:
        """Whether `sock`'s request was cut off at its deadline."""
        with self._reading_lock:
            return sock in self._late

    def service_actions(self) -> None:
        # serve_forever calls this between polls (a tenth of a second): stop reading requests past their deadline.
        # Only the reading side is shut, so the handler's read returns and it can still answer 408.
        now = time.monotonic()
        with self._reading_lock:
            late = [sock for sock, deadline in self._reading.items() if deadline <= now]
            for sock in late:
                del self._reading[sock]
                self._late.add(sock)
        for sock in late:
            try:
                sock.shutdown(socket.SHUT_RD)
            except OSError:
                pass

    def stop_reading(self) -> None:
        """Cut every connection still sending its request, and any that comes after."""
        with self._reading_lock:
            self._closing = True
            socks = [*self._reading, *self._late]
        for sock in socks:
            _cut(sock)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # a client that went away (or was cut at shutdown) is no server error worth a traceback
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            log.debug("evalkit: client %s went away", client_address)
            return
        super().handle_error(request, client_address)


def _cut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)  # a read blocked on it returns at once
    except OSError:
        pass


def _check_think_format(value: Any, files: bool = True) -> Any:
    """`value` if it names a think format (a row name, `FILE.yaml[:NAME]`, `auto`) or is None (r1);
    InputError saying which names are known otherwise.

    files: whether a YAML file may be named. A request may not: it would have the server read a path
    of the client's choosing from the server's disk (the server's own `--think-format FILE.yaml` it
    may name, as the server was started with it).
    """
    from evalkit.thinking import FORMATS, ThinkFormat, get_format

    if value is None or isinstance(value, ThinkFormat):
        return value
    if not isinstance(value, str):
        raise InputError(f"expected a think format name (r1, sky, ..., or auto), got {repr(value)[:80]}")
    if not files and value not in (*FORMATS, "auto"):
        raise InputError(f"a request names a built-in think format ({', '.join(FORMATS)}) or auto, "
                         f"not {value[:80]!r}; start the server with --think-format FILE.yaml for a row of your own")
    if value != "auto":
        get_format(value)
    return value


def _handler(server: RewardServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        # One request per connection (what OpenRLHF's clients do): no idle keep-alive connection
        # can hold up a clean shutdown.
        protocol_version = "HTTP/1.0"
        server_version = "evalkit-rewards"
        timeout = 60  # seconds a client may stall while sending its request

        def setup(self) -> None:
            super().setup()
            self.server.reading(self.connection, True)

        def finish(self) -> None:
            self.server.reading(self.connection, None)
            super().finish()

        def _too_late(self) -> bool:
            """Answer 408 if the request was cut off at its deadline (its headers may have been too)."""
            if not self.server.late(self.connection):
                return False
            self.close_connection = True
            self._reply(408, {"error": f"the request did not all arrive within {self.server.request_deadline_s:g} s"})
            return True

        def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
            # a request line or headers cut off at the deadline read as malformed: say what happened instead
            if self.server.late(self.connection):
                self.request_version = "HTTP/1.0"  # a request line cut short reads as HTTP/0.9: no status line
                self._too_late()
                return
            super().send_error(code, message, explain)

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            if self._too_late():
                return
            if self.path.split("?")[0] in ("/health", "/healthz"):
                self._reply(200, server.health())
            else:
                self._reply(404, {"error": f"no such endpoint: GET {self.path} (try POST /get_reward, GET /health)"})

        def do_HEAD(self) -> None:  # noqa: N802 - a load balancer's health check: GET's status and headers, no body
            self.do_GET()

        def do_POST(self) -> None:  # noqa: N802
            if self._too_late():
                return
            if self.path.split("?")[0] != "/get_reward":
                self._drain()
                self._reply(404, {"error": f"no such endpoint: POST {self.path} (try POST /get_reward)"})
                return
            try:
                length = int(self.headers.get("Content-Length") or -1)
            except ValueError:
                length = -1
            if length < 0:
                self._reply(411, {"error": "a Content-Length header is required"})
                return
            if length > MAX_BODY_BYTES:
                self._reply(413, {"error": f"request body over {MAX_BODY_BYTES} bytes"})
                return
            body = self.rfile.read(length)
            self.server.reading(self.connection, False)  # from here the request is in flight: close() waits
            if len(body) < length:  # the client went away, was too slow, or was cut at shutdown, before sending it all
                self._too_late()
                return
            status, reply = server.handle(body)
            self._reply(status, reply)

        def _other(self) -> None:  # PUT, DELETE, ...: http.server would answer 501 with an HTML page
            if self._too_late():
                return
            self._drain()
            self._reply(405, {"error": f"method {self.command} not allowed (try POST /get_reward, GET /health)"},
                        allow="GET, HEAD, POST")

        do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _other  # noqa: N815

        def _drain(self) -> None:
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = 0
            if 0 < length <= MAX_BODY_BYTES:
                self.rfile.read(length)

        def _reply(self, status: int, payload: dict[str, Any], allow: str | None = None) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status, HTTPStatus(status).phrase)
            self.send_header("Content-Type", "application/json")
            if allow:
                self.send_header("Allow", allow)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def log_message(self, fmt: str, *args: Any) -> None:
            log.debug("%s " + fmt, self.address_string(), *args)

    return Handler
