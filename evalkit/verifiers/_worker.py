"""The worker process behind evalkit.verifiers.pool: `python -m evalkit.verifiers._worker R W MB MOD...`.

Reads `(func, args)` from fd R, writes `("ok", value)` or `("raised", text)` to fd W. Exits when
its parent closes the pipe. It has no time limit of its own: the parent kills it from outside.

A preloaded module may define `idle_step() -> bool`: called while no job waits (one short step at
a time, until it returns False), e.g. to warm a parser's caches without delaying the first job.

`python -m evalkit.verifiers._worker --zygote S MB MOD...` imports the modules once and then forks
one worker per request on the socket S (a pipe pair passed with SCM_RIGHTS), so a pool pays for
sympy's import once rather than once per worker. It reports each child's exit code on S.
"""

from __future__ import annotations

import gc
import importlib
import os
import select
import signal
import socket
import sys
import threading
import time
from multiprocessing.connection import Connection

_IDLE_AFTER = 0.25  # seconds without a job before an idle step runs


def _exit_with_parent(pool_pid: int | None = None) -> None:
    """End this worker if its parent (or, for a forked worker, the pool's process `pool_pid`) dies
    without closing the pipe first (killed, os._exit)."""
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(0)

    def watch_pool(pidfd: int) -> None:
        select.select([pidfd], [], [])  # readable once that process has ended
        os._exit(0)

    if pool_pid is not None:
        try:
            pidfd = os.pidfd_open(pool_pid)
        except OSError:  # already gone
            os._exit(0)
        threading.Thread(target=watch_pool, args=(pidfd,), daemon=True).start()
    else:
        threading.Thread(target=watch, daemon=True).start()


def _limit_memory(mb: int) -> None:
    if mb <= 0:
        return
    try:
        import resource

        limit = mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, ValueError, OSError):  # not on this platform; the outer kill still holds
        pass


def _preload(modules: list[str]) -> list:
    """Import `modules`; their `idle_step` functions."""
    idle = []
    for module in modules:
        step = getattr(importlib.import_module(module), "idle_step", None)
        if step is not None:
            idle.append(step)
    return idle


def _serve(recv: Connection, send: Connection, idle: list) -> None:
    """Answer jobs until the parent closes the pipe."""
    send.send(("ready", os.getpid()))
    funcs: dict[str, object] = {}
    while True:
        try:
            # Warm up only once truly idle: in a batch the next job arrives within milliseconds.
            while idle and not recv.poll(_IDLE_AFTER):
                try:
                    if not idle[0]():
                        idle.pop(0)
                except Exception:
                    idle.pop(0)
            func, args = recv.recv()
        except (EOFError, OSError):
            return
        try:
            fn = funcs.get(func)
            if fn is None:
                module, _, name = func.partition(":")
                fn = funcs[func] = getattr(importlib.import_module(module), name)
            reply = ("ok", fn(*args))
        except BaseException as e:
            try:
                reply = ("raised", f"{type(e).__name__}: {e}"[:1000])
            except BaseException:
                reply = ("raised", type(e).__name__)
        send.send(reply)


def main(argv: list[str]) -> None:
    if argv[0] == "--zygote":
        return _zygote(argv[1:])
    recv = Connection(int(argv[0]), writable=False)
    send = Connection(int(argv[1]), readable=False)
    _limit_memory(int(argv[2]))
    _exit_with_parent()
    _serve(recv, send, _preload(argv[3:]))


def _zygote(argv: list[str]) -> None:
    """Import once, then fork a worker per request; report `exit PID CODE` for each child that ends."""
    sock = socket.socket(fileno=int(argv[0]))
    _limit_memory(int(argv[1]))
    idle = _preload(argv[2:])
    gc.freeze()  # what the imports built stays shared with the forks: no collection touches (copies) it
    parent = os.getppid()

    def reap(*_: object) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            try:
                sock.send(f"exit {pid} {os.waitstatus_to_exitcode(status)}".encode())
            except OSError:
                pass

    # No threads here: a fork copies only the calling thread. The 1 s timeout notices an orphaned zygote.
    signal.signal(signal.SIGCHLD, reap)
    sock.settimeout(1.0)
    while True:
        try:
            msg, fds, _, _ = socket.recv_fds(sock, 64, 2)
        except TimeoutError:  # socket.timeout
            if os.getppid() != parent:
                return
            continue
        except OSError:
            return
        if not msg or len(fds) != 2:
            return
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                sock.close()
                _exit_with_parent(parent)  # the pool's process: a worker outlives its zygote
                _serve(Connection(fds[0], writable=False), Connection(fds[1], readable=False), idle)
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        for fd in fds:
            os.close(fd)


if __name__ == "__main__":
    main(sys.argv[1:])
