"""A bounded pool of worker processes: run untrusted-input jobs with a hard wall-clock limit.

Every sympy / math-verify call runs here, never in the caller's process. A job that overruns its
limit has its worker killed (SIGKILL) and replaced; the job's result is `timeout`. Nothing relies on
`signal.alarm` in the caller, so the pool works from the main thread, other threads, asyncio code
and inside daemonic multiprocessing or Ray workers (workers are started with `subprocess` and
`os.fork`, never as `multiprocessing` children, so a daemonic parent may start them).

Workers are never forks of a big parent. A pool starts one small fresh interpreter, its zygote
(`python -m evalkit.verifiers._worker --zygote`), which imports the `preload` modules once and forks
each worker from there, so sympy's import is paid once per pool, not once per worker (where the
platform lacks fork or pidfds, each worker is its own fresh interpreter). A worker serves jobs until
its pipe closes; it is killed through a pidfd, so a recycled pid is never signalled.

    pool = get_pool("math", preload=("evalkit.verifiers._mathcheck",))
    results = pool.run([Job("evalkit.verifiers._mathcheck:check", (gold, pred), cost=len(pred))],
                       timeout=5.0, deadline=60.0)

`run` starts the cheapest jobs first when it has a batch deadline (the costliest first when it has
none); a job still unfinished when the batch deadline passes gets `timeout` (its worker is killed,
so no work leaks past the deadline).
"""

from __future__ import annotations

import atexit
import os
import signal
import socket
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
# How many of the next queued jobs a free worker looks at for ones sharing its affinity keys,
# and how many keys a worker remembers (a little more than its parse cache holds; see _mathcheck).
_AFFINITY_WINDOW = 32
_AFFINITY_KEYS = 8192

Status = Literal["ok", "timeout", "crash", "raised", "infra"]


@dataclass(frozen=True)
class Job:
    """One call to run in a worker.

    func: "package.module:function", imported inside the worker (must be importable there).
    args: positional arguments; must pickle. Return values must pickle too (keep them plain).
    cost: an estimate of the work; the cheapest jobs are started first against a batch deadline,
        the costliest first without one.
    timeout: this job's own wall-clock limit in seconds (None: the batch's `timeout`).
    key: an affinity key, or several (the texts the job parses): a free worker prefers a queued job
        whose keys it has served before and other workers have not, so what it cached for them
        (parsed answers) is reused rather than rebuilt in every worker.
    """

    func: str
    args: tuple = ()
    cost: float = 0.0
    timeout: float | None = None
    key: str | tuple[str, ...] | None = None

    def affinity_keys(self) -> tuple[str, ...]:
        return () if self.key is None else (self.key,) if isinstance(self.key, str) else self.key


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


def _worker_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "evalkit.verifiers._worker", *args]


def _worker_env() -> dict[str, str]:
    """The environment a worker starts in: the caller's, importing this very evalkit, wherever it was imported from."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def _popen(argv: list[str], pass_fds: tuple[int, ...]) -> subprocess.Popen:
    quiet = not os.environ.get("EVALKIT_WORKER_STDERR")
    return subprocess.Popen(
        argv, pass_fds=pass_fds, env=_worker_env(), stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL if quiet else None,
        start_new_session=True,  # a Ctrl-C meant for the caller does not kill workers mid-job
    )


def _startup_error(preload: Sequence[str], within: float = STARTUP_LIMIT) -> str | None:
    """The last line a fresh interpreter writes importing what a worker imports (`ModuleNotFoundError: No module
    named 'math_verify'`), '' where it imports them; asked once the pool's workers could not start, for at most
    `within` seconds (what is left of the batch's deadline: a failed batch is not held past it), None past them."""
    try:
        done = subprocess.run([sys.executable, "-c", "import " + ", ".join(("evalkit.verifiers._worker", *preload))],
                              env=_worker_env(), stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=within)
    except subprocess.TimeoutExpired:
        return None
    except OSError as e:
        return f"{type(e).__name__}: {e}"
    lines = done.stderr.strip().splitlines()
    return lines[-1][:300] if done.returncode and lines else ""


_CAN_FORK_WORKERS = all(hasattr(m, n) for m, n in (
    (os, "fork"), (os, "pidfd_open"), (signal, "pidfd_send_signal"), (socket, "send_fds")))


class _Zygote:
    """A fresh interpreter with the preload modules imported, forking one worker per `spawn`."""

    def __init__(self, preload: Sequence[str], memory_mb: int | None):
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.proc = _popen(_worker_argv("--zygote", str(theirs.fileno()), str(memory_mb or 0), *preload),
                               pass_fds=(theirs.fileno(),))
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        self.sock = ours
        self.exits: dict[int, int] = {}  # exit codes the zygote reported, by pid

    def spawn(self, to_child_r: int, from_child_w: int) -> None:
        """Ask for a worker on these pipe ends (it says `ready` on them once forked)."""
        socket.send_fds(self.sock, [b"fork"], [to_child_r, from_child_w])

    def exit_code(self, pid: int, timeout: float = 0.0) -> int | None:
        """The exit code of forked worker `pid`, once the zygote has reported it (None: not yet)."""
        end = time.monotonic() + timeout
        while pid not in self.exits:
            if self.sock.fileno() < 0:  # closed: the zygote was dropped
                return None
            if not wait([self.sock], max(0.0, end - time.monotonic())):
                return None
            try:
                msg = self.sock.recv(64)
            except OSError:
                return None
            if not msg:  # the zygote is gone; so are its reports
                return None
            _, child, code = msg.decode().split()
            self.exits[int(child)] = int(code)
        return self.exits.pop(pid)

    def kill(self) -> None:
        try:
            self.proc.kill()
        except OSError:
            pass
        self.sock.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:  # pragma: no cover - a SIGKILLed process always ends
            pass


class _Forked:
    """The `Popen`-like handle of a worker forked by a zygote: killed by pidfd, exit code reported by
    the zygote (its parent). The pid is known once the worker says `ready`."""

    def __init__(self, zygote: _Zygote):
        self.zygote = zygote
        self.pid: int | None = None
        self.pidfd: int | None = None
        self.returncode: int | None = None

    def attach(self, pid: int) -> None:
        self.pid = pid
        try:
            self.pidfd = os.pidfd_open(pid)
        except OSError:  # already gone; the zygote reports its exit code
            pass

    def poll(self) -> int | None:
        if self.returncode is None:
            if self.pid is not None:
                self.returncode = self.zygote.exit_code(self.pid)
            elif self.zygote.proc.poll() is not None:  # it never forked this worker
                self.returncode = self.zygote.proc.returncode
        return self.returncode

    def kill(self) -> None:
        if self.pidfd is not None and self.returncode is None:
            try:
                signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
            except OSError:
                pass

    def wait(self, timeout: float | None = None) -> int | None:
        if self.returncode is None:
            if self.pid is None:
                # It never said ready: never forked (the zygote failed, so its exit code says why)
                # or dropped while starting. Only the first is worth a short wait.
                try:
                    self.returncode = self.zygote.proc.wait(timeout=1.0 if timeout is None else 0)
                except subprocess.TimeoutExpired:
                    self.returncode = -1
            else:
                code = self.zygote.exit_code(self.pid, 5.0 if timeout is None else timeout)
                if code is None:
                    if self.zygote.proc.poll() is None:
                        raise subprocess.TimeoutExpired("evalkit.verifiers._worker", timeout or 5.0)
                    code = -1  # orphaned: its exit code went with the zygote
                self.returncode = code
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None
        return self.returncode


class _Worker:
    """One worker process (a fresh interpreter, or forked by a zygote) and its two pipe ends."""

    def __init__(self, preload: Sequence[str], memory_mb: int | None, zygote: _Zygote | None = None):
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        try:
            self.proc: subprocess.Popen | _Forked
            if zygote is not None:
                zygote.spawn(to_child_r, from_child_w)
                self.proc = _Forked(zygote)
            else:
                argv = _worker_argv(str(to_child_r), str(from_child_w), str(memory_mb or 0), *preload)
                self.proc = _popen(argv, pass_fds=(to_child_r, from_child_w))
        except BaseException:
            os.close(to_child_w)
            os.close(from_child_r)
            raise
        finally:
            os.close(to_child_r)
            os.close(from_child_w)
        self.send_conn = Connection(to_child_w, readable=False)
        self.recv_conn = Connection(from_child_r, writable=False)
        self.ready = False
        self.started = time.monotonic()
        self.keys: set[str] = set()  # affinity keys this worker has served

    def on_ready(self, pid: Any) -> None:
        self.ready = True
        if isinstance(self.proc, _Forked) and isinstance(pid, int):
            self.proc.attach(pid)

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
        self._zygote: _Zygote | None = None
        self._zygote_failed = False  # it died: start fresh interpreters from now on
        self._startup_why: str | None = None  # why no worker could start, once asked (_startup_error)
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
            self._workers.append(self._new_worker())

    def _new_worker(self) -> _Worker:
        if self._zygote is not None and self._zygote.proc.poll() is not None:
            self._zygote.kill()
            self._zygote, self._zygote_failed = None, True
        if self._zygote is None and _CAN_FORK_WORKERS and not self._zygote_failed:
            self._zygote = _Zygote(self.preload, self.memory_mb)
        if self._zygote is not None:
            try:
                return _Worker(self.preload, self.memory_mb, self._zygote)
            except OSError:  # the zygote is gone: a fresh interpreter instead
                self._zygote.kill()
                self._zygote, self._zygote_failed = None, True
        return _Worker(self.preload, self.memory_mb)

    def _replace(self, w: _Worker) -> _Worker:
        w.kill()
        self.restarts += 1
        fresh = self._new_worker()
        self._workers[self._workers.index(w)] = fresh
        return fresh

    def close(self) -> None:
        """Kill every worker. The pool can be used again; it restarts lazily."""
        with self._lock:
            for w in self._workers:
                w.kill()
            self._workers = []
            if self._zygote is not None:
                self._zygote.kill()
                self._zygote = None

    # -- running -----------------------------------------------------------------------------

    def run(self, jobs: Sequence[Job], *, timeout: float = 5.0, deadline: float | None = None) -> list[JobResult]:
        """Run `jobs` (cheapest first against a deadline, costliest first without); return one
        JobResult per job, in input order.

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

    def _read_ready(self) -> None:
        """Mark ready the workers whose `ready` came while no call was reading (started by `start`, or
        replacing a worker killed at the end of the last batch): the start-up check must not take a
        worker that said ready minutes ago for one that never did."""
        for w in self._workers:
            try:
                while not w.ready and w.recv_conn.poll(0):
                    kind, value = w.recv_conn.recv()
                    if kind == "ready":
                        w.on_ready(value)
            except (EOFError, OSError):  # died while starting: the start-up check reports it
                continue

    def _pick(self, pending: deque, jobs: list[Job], w: _Worker) -> int:
        """The next queued job, unless one of the few after it has more keys this worker has served
        than keys another worker has served (each key counts +1 here, -1 elsewhere)."""
        best, best_n, best_score = -1, 0, 0
        others = [o.keys for o in self._workers if o is not w and o.keys]
        if w.keys or others:
            for n, i in enumerate(pending):
                if n >= _AFFINITY_WINDOW:
                    break
                score = sum(1 if k in w.keys else -1 if any(k in o for o in others) else 0
                            for k in jobs[i].affinity_keys())
                if best < 0 or score > best_score:
                    best, best_n, best_score = i, n, score
        if best < 0 or best_n == 0:
            i = pending.popleft()
        else:
            del pending[best_n]
            i = best
        if len(w.keys) > _AFFINITY_KEYS:  # a long-lived pool must not hold every answer it ever saw
            w.keys.clear()
        w.keys.update(jobs[i].affinity_keys())
        return i

    def _run(self, jobs: list[Job], timeout: float, deadline: float | None) -> list[JobResult]:
        t0 = time.monotonic()
        batch_end = t0 + deadline if deadline is not None else float("inf")
        results: list[JobResult | None] = [None] * len(jobs)
        # Against a deadline, cheapest first: the most jobs finish before it. Without one, costliest
        # first: the short jobs fill in at the end, so no worker idles while another ends a long one.
        pending = deque(sorted(range(len(jobs)), key=lambda i: jobs[i].cost, reverse=deadline is None))
        # worker -> (job index, dispatch time, kill time)
        busy: dict[_Worker, tuple[int, float, float]] = {}
        served = False  # a worker was ready at the start, or took a job, in this batch
        try:
            self._grow(min(self.size, len(jobs)))
        except OSError as e:
            return [JobResult("infra", detail=f"cannot start a verifier worker: {e}")] * len(jobs)
        self._read_ready()
        served = any(w.ready for w in self._workers)  # a warm pool: a deadline already past is a timeout

        while pending or busy:
            now = time.monotonic()
            if now >= batch_end:
                for w, (i, sent, _) in list(busy.items()):
                    results[i] = JobResult("timeout", detail="batch deadline passed", ms=(now - sent) * 1e3)
                    self._replace(w)
                # no worker was ready to take a job before the deadline: the pool was still starting (an
                # infrastructure fault), which no answer caused; else the batch was more than the deadline held
                late = JobResult("timeout", detail="batch deadline passed before it started") if served else \
                    JobResult("infra", detail=f"batch deadline ({deadline:g} s) passed while the verifier's workers "
                                              "were still starting (warm_up() starts them ahead)")
                for i in pending:
                    results[i] = late
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
                    served = True
            # Fail fast if workers cannot start at all.
            starting = [w for w in self._workers if not w.ready]
            for w in starting:
                if w.proc.poll() is not None or now - w.started > STARTUP_LIMIT:
                    detail = f"verifier worker failed to start (exit code {w.proc.poll()})"
                    w.kill()
                    self._workers.remove(w)
                    if not self._workers:  # the worker's stderr is quiet: what it would have said, asked once
                        why = self._startup_why
                        if why is None and batch_end - now >= 1.0:  # else no time left to ask
                            within = min(STARTUP_LIMIT, batch_end - now)
                            why = self._startup_why = _startup_error(self.preload, within)
                            if why is None:  # not known yet: asked again by a later batch
                                why = f"importing its modules took more than {within:.1f} s"
                        detail += f": {why}" if why else ""
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
                    w.on_ready(value)
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
            if pool._zygote is not None:
                pool._zygote.kill()
