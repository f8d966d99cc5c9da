"""The worker process behind evalkit.verifiers.pool: `python -m evalkit.verifiers._worker R W MB MOD...`.

Reads `(func, args)` from fd R, writes `("ok", value)` or `("raised", text)` to fd W. Exits when
its parent closes the pipe. It has no time limit of its own: the parent kills it from outside.
"""

from __future__ import annotations

import importlib
import sys
from multiprocessing.connection import Connection


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
    for module in argv[3:]:
        importlib.import_module(module)
    send.send(("ready", None))
    funcs: dict[str, object] = {}
    while True:
        try:
            func, args = recv.recv()
        except (EOFError, OSError):
            return
        try:
            fn = funcs.get(func)
            if fn is None:
                module, _, name = func.partition(":")
                fn = funcs[func] = getattr(importlib.import_module(module), name)
            reply = ("ok", fn(*args))
        except BaseException as e:  # noqa: BLE001 - every failure goes back as a result
            try:
                reply = ("raised", f"{type(e).__name__}: {e}"[:1000])
            except BaseException:  # noqa: BLE001 - an exception whose str() fails
                reply = ("raised", type(e).__name__)
        send.send(reply)


if __name__ == "__main__":
    main(sys.argv[1:])
