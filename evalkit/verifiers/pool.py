"""A bounded pool of worker processes: run untrusted-input jobs with a hard wall-clock limit.

Every sympy / math-verify call runs here, never in the caller's process. A job that overruns its
limit has its worker killed (SIGKILL) and replaced; the job's result is `timeout`. Nothing relies on
`signal.alarm` in the caller, so the pool works from the main thread, other threads, asyncio code
and inside daemonic multiprocessing or Ray workers (workers are plain `subprocess` children, not
`multiprocessing` children, so a daemonic parent may start them).

Workers are small fresh interpreters (`python -m evalkit.verifiers._worker`), never forks of a big
parent; each imports its `preload` modules once and then serves jobs until its pipe closes.

    pool = get_pool("math", preload=("evalkit.verifiers._mathcheck",))
    results = pool.run([Job("evalkit.verifiers._mathcheck:check", (gold, pred), cost=len(pred))],
                       timeout=5.0, deadline=60.0)

`run` starts the cheapest jobs first; a job still unfinished when the batch deadline passes gets
`timeout` (its worker is killed, so no work leaks past the deadline).
"""

from __future__ import annotations

import atexit
import os
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any, Literal, Sequence

# Seconds a fresh worker may take to import its preload modules before the pool gives up on it.
STARTUP_LIMIT = 60.0
_ENV_WORKERS = "EVALKIT_VERIFY_WORKERS"

Status = Literal["ok", "timeout", "crash", "raised", "infra"]


@dataclass(frozen=True)
class Job:
    """One call to run in a worker.

    func: "package.module:function", imported inside the worker (must be importable there).
    args: positional arguments; must pickle. Return values must pickle too (keep them plain).
    cost: an estimate of the work; the cheapest jobs are started first.
    timeout: this job's own wall-clock limit in seconds (None: the batch's `timeout`).
    key: an affinity key: a free worker prefers a queued job whose key it has served before, so
        what it cached for that key (a parsed gold answer) is reused rather than rebuilt.
    """

    func: str
    args: tuple = ()
    cost: float = 0.0
    timeout: float | None = None
    key: str | None = None


@dataclass(frozen=True)
class JobResult:
    """How one job ended.

    status: `ok` (value holds the return value); `timeout` (killed at its limit, or not finished by
    the batch deadline); `crash` (the worker died on this job, e.g. out of memory); `raised` (the
    function raised; detail names the exception); `infra` (no worker could be started).
    ms: wall-clock milliseconds from dispatch to result (0 for a job never started).
    """

    status: Status
    value: Any = None
    detail: str = ""
    ms: float = 0.0


class _Worker:
    """One worker subprocess and its two pipe ends."""

    def __init__(self, preload: Sequence[str], memory_mb: int | None):
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        env = dict(os.environ)
        # The worker must import this very evalkit, wherever it was imported from.
        root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        argv = [sys.executable, "-m", "evalkit.verifiers._worker", str(to_child_r), str(from_child_w),
                str(memory_mb or 0), *preload]
        quiet = not os.environ.get("EVALKIT_WORKER_STDERR")
        try:
            self.proc = subprocess.Popen(
                argv, pass_fds=(to_child_r, from_child_w), env=env, stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL if quiet else None,
                start_new_session=True,  # a Ctrl-C meant for the caller does not kill workers mid-job
            )
        finally:
            os.close(to_child_r)
            os.close(from_child_w)
        self.send_conn = Connection(to_child_w, readable=False)
        self.recv_conn = Connection(from_child_r, writable=False)
        self.ready = False
        self.started = time.monotonic()
        self.keys: set[str] = set()  # affinity keys this worker has served

    def kill(self) -> None:
        try:
            self.proc.kill()
        except OSError:
            pass
        for conn in (self.send_conn, self.recv_conn):
            try:
                conn.close()
            except OSError:
                pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:  # pragma: no cover - a SIGKILLed process always ends
            pass


class WorkerPool:
    """A lazily started, reusable pool of worker subprocesses with hard per-job limits.

    size: number of workers (default: $EVALKIT_VERIFY_WORKERS, else the CPU count, at most 8).
    preload: modules each worker imports before it reports ready (e.g. math-verify, warmed up).
    memory_mb: address-space limit per worker (RLIMIT_AS); a job that exceeds it ends as `crash`
        or `raised` (MemoryError), never takes the machine down.

    Thread-safe: concurrent `run` calls take turns. Fork-safe through `get_pool`: a forked child
    gets a fresh pool rather than its parent's pipes.
    """

    def __init__(self, size: int | None = None, *, preload: Sequence[str] = (), memory_mb: int | None = 4096):
        if size is None:
            size = int(os.environ.get(_ENV_WORKERS) or min(8, os.cpu_count() or 1))
        self.size = max(1, size)
        self.preload = tuple(preload)
        self.memory_mb = memory_mb
        self._workers: list[_Worker] = []
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self.restarts = 0  # workers replaced after a kill or a crash, for diagnostics

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, n: int | None = None) -> None:
        """Start up to `n` workers (default: all) without waiting for them to become ready."""
        with self._lock:
            self._grow(self.size if n is None else min(n, self.size))

    def _grow(self, n: int) -> None:
        while len(self._workers) < n:
            self._workers.append(_Worker(self.preload, self.memory_mb))

    def _replace(self, w: _Worker) -> _Worker:
        w.kill()
        self.restarts += 1
        fresh = _Worker(self.preload, self.memory_mb)
        self._workers[self._workers.index(w)] = fresh
        return fresh

    def close(self) -> None:
        """Kill every worker. The pool can be used again; it restarts lazily."""
        with self._lock:
            for w in self._workers:
                w.kill()
            self._workers = []

    # -- running -----------------------------------------------------------------------------

    def run(self, jobs: Sequence[Job], *, timeout: float = 5.0, deadline: float | None = None) -> list[JobResult]:
        """Run `jobs`, cheapest first; return one JobResult per job, in input order.

        timeout: the per-job wall-clock limit in seconds (a Job's own `timeout` overrides it); it
            counts from when a ready worker receives the job, so queueing and worker start-up are
            not charged to the job.
        deadline: seconds from now by which the whole batch must end (None: no batch limit). Jobs
            not finished by then get `timeout`, and their workers are killed and replaced.
        Never raises for a job's fault; if no worker can be started at all, jobs get `infra`.
        """
        if not jobs:
            return []
        with self._lock:
            return self._run(list(jobs), timeout, deadline)

    @staticmethod
    def _pick(pending: deque, jobs: list[Job], w: _Worker) -> int:
        """The cheapest queued job, unless one of the next few shares a key this worker has served."""
        if w.keys:
            for n, i in enumerate(pending):
                if n >= 32:
                    break
                if jobs[i].key in w.keys:
                    del pending[n]
                    return i
        i = pending.popleft()
        if jobs[i].key is not None:
            w.keys.add(jobs[i].key)
        return i

    def _run(self, jobs: list[Job], timeout: float, deadline: float | None) -> list[JobResult]:
        t0 = time.monotonic()
        batch_end = t0 + deadline if deadline is not None else float("inf")
        results: list[JobResult | None] = [None] * len(jobs)
        pending = deque(sorted(range(len(jobs)), key=lambda i: jobs[i].cost))
        # worker -> (job index, dispatch time, kill time)
        busy: dict[_Worker, tuple[int, float, float]] = {}
        try:
            self._grow(min(self.size, len(jobs)))
        except OSError as e:
            return [JobResult("infra", detail=f"cannot start a verifier worker: {e}")] * len(jobs)

        while pending or busy:
            now = time.monotonic()
            if now >= batch_end:
                for w, (i, sent, _) in list(busy.items()):
                    results[i] = JobResult("timeout", detail="batch deadline passed", ms=(now - sent) * 1e3)
                    self._replace(w)
                for i in pending:
                    results[i] = JobResult("timeout", detail="batch deadline passed before it started")
                break
            # Dispatch to ready, idle workers.
            for w in list(self._workers):
                if not pending:
                    break
                if w.ready and w not in busy:
                    i = self._pick(pending, jobs, w)
                    job = jobs[i]
                    try:
                        w.send_conn.send((job.func, job.args))
                    except (OSError, ValueError):  # died while idle: replace, retry the job
                        self._replace(w)
                        pending.appendleft(i)
                        continue
                    limit = job.timeout if job.timeout is not None else timeout
                    busy[w] = (i, now, now + limit)
            # Fail fast if workers cannot start at all.
            starting = [w for w in self._workers if not w.ready]
            for w in starting:
                if w.proc.poll() is not None or now - w.started > STARTUP_LIMIT:
                    detail = f"verifier worker failed to start (exit code {w.proc.poll()})"
                    w.kill()
                    self._workers.remove(w)
                    if not self._workers:
                        for i in pending:
                            results[i] = JobResult("infra", detail=detail)
                        pending.clear()
            if not pending and not busy:
                break
            wake = min([end for _, _, end in busy.values()] + [batch_end, now + 1.0])
            conns = {w.recv_conn: w for w in list(busy) + [w for w in self._workers if not w.ready]}
            ready = wait(list(conns), timeout=max(0.0, wake - time.monotonic()))
            now = time.monotonic()
            for conn in ready:
                w = conns[conn]
                try:
                    kind, value = conn.recv()
                except (EOFError, OSError):
                    if w in busy:
                        i, sent, _ = busy.pop(w)
                        try:
                            code = w.proc.wait(timeout=1)
                        except subprocess.TimeoutExpired:
                            code = None
                        results[i] = JobResult("crash", detail=f"worker died (exit code {code})",
                                               ms=(now - sent) * 1e3)
                        self._replace(w)
                    else:  # died while starting; the startup check above reports it
                        w.proc.wait()
                    continue
                if kind == "ready":
                    w.ready = True
                    continue
                i, sent, _ = busy.pop(w)
                ms = (now - sent) * 1e3
                results[i] = JobResult("ok", value=value, ms=ms) if kind == "ok" else \
                    JobResult("raised", detail=str(value), ms=ms)
            # Kill workers past their job's limit.
            for w, (i, sent, end) in list(busy.items()):
                if now >= end:
                    del busy[w]
                    results[i] = JobResult("timeout", detail=f"killed after {end - sent:.1f} s",
                                           ms=(now - sent) * 1e3)
                    self._replace(w)
        return [r if r is not None else JobResult("infra", detail="not run") for r in results]


_POOLS: dict[str, WorkerPool] = {}
_POOLS_LOCK = threading.Lock()


def get_pool(name: str = "default", *, preload: Sequence[str] = (), size: int | None = None,
             memory_mb: int | None = 4096) -> WorkerPool:
    """The process-wide pool called `name`, created on first use (its workers start lazily).

    Pools are per process: after a fork, the child builds its own instead of sharing its parent's
    workers. The arguments only matter on the first call for a name.
    """
    with _POOLS_LOCK:
        pool = _POOLS.get(name)
        if pool is None or pool._pid != os.getpid():
            pool = WorkerPool(size, preload=preload, memory_mb=memory_mb)
            _POOLS[name] = pool
        return pool


@atexit.register
def _close_all() -> None:
    for pool in list(_POOLS.values()):
        if pool._pid == os.getpid():
            for w in pool._workers:
                w.kill()
