"""The worker process behind evalkit.verifiers.pool: `python -m evalkit.verifiers._worker R W MB MOD...`.

Reads `(func, args)` from fd R, writes `("ok", value)` or `("raised", text)` to fd W. Exits when
its parent closes the pipe. It has no time limit of its own: the parent kills it from outside.
A preloaded module may define `idle_step() -> bool`: called while no job waits (one short step at
a time, until it returns False), e.g. to warm a parser's caches without delaying the first job.
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
import time
from multiprocessing.connection import Connection


_IDLE_AFTER = 0.25  # seconds without a job before an idle step runs


def _exit_with_parent() -> None:
    """End this worker if its parent dies without closing the pipe first (killed, os._exit)."""
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(0)

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


def main(argv: list[str]) -> None:
    recv = Connection(int(argv[0]), writable=False)
    send = Connection(int(argv[1]), readable=False)
    _limit_memory(int(argv[2]))
    _exit_with_parent()
    idle = []
    for module in argv[3:]:
        step = getattr(importlib.import_module(module), "idle_step", None)
        if step is not None:
            idle.append(step)
    send.send(("ready", None))
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


if __name__ == "__main__":
    main(sys.argv[1:])
