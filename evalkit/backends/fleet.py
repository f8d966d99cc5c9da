"""A fleet of servers: spread requests across them, watch their health, fail over.

Every server gets `concurrency` workers that pull from one shared queue, so a fast server takes
more of the work and a dead one takes none. A request whose server went away (connection refused
or reset, timed out) goes back to the front of the queue for the others, and that server is
probed until it answers again. A request a server refused (429, 5xx) or timed out is tried again on
another server while one is up. A request leaves the queue only when a server has answered it, so
nothing is lost and nothing is reported twice, whatever dies when.

The fleet knows nothing of the OpenAI protocol: the backend gives it `send(url, request)`, which
returns a Completion or raises `Unreachable` (try another server), `Busy` or `TimedOut` (back off, try
again; the server is not down) or anything else (fatal: the run stops with that error).
"""

from __future__ import annotations

import asyncio
import random
import sys
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Sequence

from evalkit.errors import InputError, ServerError  # noqa: F401 - ServerError: where the backends raise it from
from evalkit.retryafter import MAX_RETRY_AFTER_S
from evalkit.types import Request

AVOID_WAIT_S = 0.2  # how long a server's worker waits after handing back a retry meant for another server


class Unreachable(Exception):
    """The server did not answer (connection refused or reset, timeout): try another one."""


class Busy(Exception):
    """The server answered with a status worth retrying (429, 5xx): back off, then try again; no sooner
    than `retry_after` seconds where the server said so (its Retry-After header)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TimedOut(Exception):
    """The server took the request but did not answer within the request timeout: it is slow, not
    down (it is not marked unreachable); the try counts, and the request is tried again."""


@dataclass
class ServerState:
    """One server of the fleet, with what happened there (kept across `run` calls).

    healthy: whether requests go to it now. completed: requests it answered. failed_over: requests
    that failed there because it was unreachable and went back to the queue. last_error: why it was
    last marked down. refused: tries it refused to be tried again (429, 5xx, timed out), the last one's
    reason in last_refusal.
    """

    url: str
    healthy: bool = True
    completed: int = 0
    failed_over: int = 0
    last_error: str = ""
    refused: int = 0
    last_refusal: str = ""


Send = Callable[[str, Any], Awaitable[Any]]
# a down server's health probe: True when it may take requests again; False, or why not (kept as its last_error)
Probe = Callable[[str], Awaitable["bool | str"]]


DRAIN_NOTE_S = 5.0  # a stopping run waiting this long for its requests in flight says so
DRAIN_MAX_S = 600.0  # and waits this long at most, then stops without the replies still missing


def request_label(req: Request) -> str:
    return f"request {req.task}/{req.problem_id}#{req.sample}"


class Fleet:
    """Dispatch requests over servers.

    concurrency: requests in flight per server. max_retries: failed tries per request before the
    run stops. down_timeout: seconds with no healthy server before the run stops.
    probe_interval: first wait between health probes of a down server (doubles up to 10 s).
    """

    def __init__(self, urls: Sequence[str], concurrency: int = 32, max_retries: int = 6,
                 down_timeout: float = 60.0, probe_interval: float = 1.0) -> None:
        self.servers = [ServerState(u) for u in urls]
        self.concurrency = max(1, concurrency)
        self.max_retries = max_retries
        self.down_timeout = down_timeout
        self.probe_interval = probe_interval

    async def run(self, requests: Sequence[Any], send: Send, probe: Probe, emit: Callable[[Any, Any], Any],
                  label: Callable[[Any], str] = request_label) -> None:
        """Send every request to some server; `emit(request, answer)` each answer once. A request is a
        Request and its answer a Completion, or whatever `send` takes and returns (`label` names one
        in the error that stops the run)."""
        if not requests:
            return
        queue: asyncio.PriorityQueue = asyncio.PriorityQueue()
        for i, req in enumerate(requests):
            queue.put_nowait((1, i, req))  # retries (priority 0) go before fresh requests
        attempts = [0] * len(requests)
        refused_at: list[str | None] = [None] * len(requests)  # the server whose Busy or TimedOut a retry avoids
        left = len(requests)
        done = asyncio.Event()
        failure: list[BaseException] = []
        up = {s.url: asyncio.Event() for s in self.servers}
        answered = {s.url: s.healthy for s in self.servers}  # whether it was ever up: "answers again", or joins
        background: list[asyncio.Task] = []
        in_flight = 0  # requests sent and not yet answered or refused
        backing_off = {s.url: 0.0 for s in self.servers}  # until when (monotonic) a server's refusal is waited out
        asked_to_wait = {s.url: 0.0 for s in self.servers}  # until when a server's Retry-After holds all its workers

        def elsewhere(server: ServerState) -> bool:
            """Whether another server is up and not waiting out a refusal of its own."""
            now = time.monotonic()
            return any(up[s.url].is_set() and backing_off[s.url] <= now for s in self.servers if s is not server)

        def fail(error: BaseException, drain: bool = True) -> None:
            """Stop the run with `error`. With `drain`, no request is sent any more, but the ones in
            flight are awaited and emitted first: replies a server is generating are saved, not thrown
            away, so a rerun resumes past them (one request a server refuses does not cost the others)."""
            if not failure:
                failure.append(error)
                if drain and in_flight:
                    background.append(asyncio.create_task(say_why_it_waits(error)))
            if not drain or in_flight == 0:
                done.set()

        async def say_why_it_waits(error: BaseException) -> None:
            """A stop that waits long for the replies in flight says why (a quick one says nothing more),
            and waits DRAIN_MAX_S at most: a request that never gets its reply must not hold the run."""
            await asyncio.sleep(DRAIN_NOTE_S)
            if not done.is_set():
                n = f"{in_flight} requests" if in_flight > 1 else "request"
                print(f"evalkit: {error}; waiting up to {DRAIN_MAX_S / 60:.0f} min for the {n} in flight, to save "
                      "the replies (Ctrl-C stops now; what is saved stays)", file=sys.stderr)
            await asyncio.sleep(max(0.0, DRAIN_MAX_S - DRAIN_NOTE_S))
            done.set()

        def mark_down(server: ServerState, why: str) -> None:
            server.last_error = why
            if not up[server.url].is_set():
                return  # already down; its probe is running
            print(f"evalkit: server {server.url} is unreachable ({why}); its requests go to the others",
                  file=sys.stderr)
            server.healthy = False
            up[server.url].clear()
            background.append(asyncio.create_task(probe_until_up(server)))

        async def probe_until_up(server: ServerState) -> None:
            delay = self.probe_interval
            said = ""
            while True:
                await asyncio.sleep(delay)
                answer = await probe(server.url)
                if answer is True:
                    again = "answers again" if answered[server.url] else "answers now and joins the run"
                    print(f"evalkit: server {server.url} {again}", file=sys.stderr)
                    server.healthy, answered[server.url] = True, True
                    up[server.url].set()
                    return
                if isinstance(answer, str) and answer:  # it answers, but must not take requests (another model)
                    server.last_error = answer
                    if answer != said:
                        print(f"evalkit: warning: {answer}; it is kept out of the run", file=sys.stderr)
                        said = answer
                delay = min(delay * 2, 10.0)

        def retry(i: int, req: Any, server: ServerState, error: Exception) -> bool:
            attempts[i] += 1
            if attempts[i] > self.max_retries:
                fail(ServerError(f"{label(req)} failed {attempts[i]} times; "
                                 f"last at {server.url}: {error}"))
                return False
            return True

        async def worker(server: ServerState) -> None:
            nonlocal left, in_flight
            while True:
                await up[server.url].wait()
                prio, i, req = await queue.get()
                if failure:  # the run is stopping: nothing new is sent
                    return
                if not up[server.url].is_set():  # went down while this worker waited for work
                    queue.put_nowait((prio, i, req))
                    continue
                if refused_at[i] == server.url and any(up[s.url].is_set() for s in self.servers if s is not server):
                    # a retry goes to another server while one answers: a server that refuses everything
                    # (a gateway in front of a dead node) must not use up a request's tries on its own
                    queue.put_nowait((prio, i, req))
                    await asyncio.sleep(AVOID_WAIT_S)
                    continue
                held = asked_to_wait[server.url] - time.monotonic()
                if held > 0:  # the server asked (a 429's Retry-After) to be sent nothing before then: by any worker
                    queue.put_nowait((prio, i, req))  # another server's worker may take it now
                    await asyncio.sleep(held)
                    continue
                in_flight += 1
                try:
                    completion = await send(server.url, req)
                    error = None
                except Exception as e:  # noqa: BLE001 - sorted below: tried again, or the run's end
                    completion, error = None, e
                finally:
                    in_flight -= 1
                if failure:  # stopping: a reply still counts, a refusal no longer matters
                    if error is None:
                        server.completed += 1
                        emit(req, completion)
                    if not in_flight:
                        done.set()  # the last request in flight of a stopping run
                    return
                if isinstance(error, Unreachable):
                    server.failed_over += 1
                    mark_down(server, str(error) or type(error).__name__)
                    if retry(i, req, server, error):
                        queue.put_nowait((0, i, req))
                    continue
                if isinstance(error, (Busy, TimedOut)):
                    refused_at[i] = server.url
                    server.refused += 1
                    server.last_refusal = str(error) or type(error).__name__
                    if retry(i, req, server, error):
                        wait = min(2.0 ** (attempts[i] - 1), 30.0) * (0.5 + random.random())
                        told = getattr(error, "retry_after", None)
                        wait = max(wait, min(told, MAX_RETRY_AFTER_S)) if told else wait
                        # this worker backs off its server; the request waits too only where no other server
                        # would take it now (a Retry-After is the server's, not the request's)
                        backing_off[server.url] = max(backing_off[server.url], time.monotonic() + wait)
                        if told:
                            asked_to_wait[server.url] = max(asked_to_wait[server.url], time.monotonic() + wait)
                        if elsewhere(server):
                            queue.put_nowait((0, i, req))
                            await asyncio.sleep(wait)
                        else:
                            await asyncio.sleep(wait)
                            queue.put_nowait((0, i, req))
                    continue
                if error is not None:  # refused for good: the run stops, naming the request
                    fail(type(error)(f"{label(req)}: {error}") if type(error) in (ServerError, InputError) else error)
                    return
                server.completed += 1
                emit(req, completion)
                left -= 1
                if left == 0:
                    done.set()

        async def watch() -> None:
            since = None
            while not done.is_set():
                if any(e.is_set() for e in up.values()):
                    since = None
                elif since is None:
                    since = time.monotonic()
                elif time.monotonic() - since > self.down_timeout:
                    fail(ServerError(f"no server answered for {self.down_timeout:.0f} s ("
                                     + "; ".join(f"{s.url}: {s.last_error}" for s in self.servers) + ")"),
                         drain=False)
                await asyncio.sleep(0.2)

        for server in self.servers:
            if server.healthy:
                up[server.url].set()
            else:
                background.append(asyncio.create_task(probe_until_up(server)))
        workers = [asyncio.create_task(worker(s)) for s in self.servers for _ in range(self.concurrency)]
        watcher = asyncio.create_task(watch())
        try:
            await done.wait()
        finally:
            for task in [*workers, *background, watcher]:
                task.cancel()
            await asyncio.gather(*workers, *background, watcher, return_exceptions=True)
        if failure:
            raise failure[0]
