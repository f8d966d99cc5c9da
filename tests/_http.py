"""Small scripted OpenAI-compatible endpoints on 127.0.0.1, for tests of what a server returns that
no model here can produce (reasoning efforts, harmony channels)."""

from __future__ import annotations

import json
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator


class JSONHandler(BaseHTTPRequestHandler):
    """A request handler that answers JSON and keeps every request body in `seen` (one list per server)."""

    seen: list = []

    def do_GET(self):  # noqa: N802 - /v1/models
        self._send({"data": [{"id": "m"}]})

    def read_body(self) -> dict:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).seen.append(body)
        return body

    def _send(self, payload: dict, status: int = 200) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):  # quiet
        pass


@contextmanager
def serve(handler: type[JSONHandler]) -> Iterator[tuple[str, list]]:
    """Serve `handler` (a fresh `seen` list of its own) on a free port: yields (base URL, seen)."""
    handler = type(handler.__name__, (handler,), {"seen": []})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1", handler.seen
    finally:
        httpd.shutdown()
        httpd.server_close()
