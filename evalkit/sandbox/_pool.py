"""Run untrusted Python against tests, in fresh isolated processes, with the verdict made outside.

    from evalkit.sandbox import Sandbox, SandboxConfig
    with Sandbox(SandboxConfig(workers=2)) as box:
        result = box.run(program, CodeTests.from_any(tests))   # RunResult: one flag per test
        box.layers()                                            # which isolation layers are in force

How a run goes (docs/sandbox.md "A code run"): a small pre-started server per worker forks one fresh child
per program (never a fork of this, possibly huge, process). The child enters every isolation layer
(`_layers.LAYERS`) before it reads its job. The candidate's child only answers calls: it gets
arguments and sends back plain values (exact built-in types) over a pipe this process reads. For
`assert` tests, the dataset's test code runs in a second sandboxed child (the checker), from a second
server, where the entry point is a stub forwarding each call through this process to the candidate.
`call` tests and `stdio` outputs are compared here. Expected outputs never enter a sandbox.
"""

from __future__ import annotations

import atexit
import fcntl
import json
import os
import re
import secrets
import select
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from evalkit.codetests import parse_python
from evalkit.errors import InputError
from evalkit.jsonl import without_lone_surrogates
from evalkit.types import CodeTests
from evalkit.sandbox import _layers
from evalkit.sandbox import _plain as plain

LAYER_NAMES = _layers.LAYER_NAMES
ALWAYS_LAYERS = tuple(name for name, always, _ in _layers.LAYERS if always)
OPTIONAL_LAYERS = _layers.OPTIONAL_LAYERS
LAYER_DESCRIPTIONS = {name: what for name, _, what in _layers.LAYERS}
_SERVER = Path(__file__).with_name("_server.py")
_MAX_MESSAGE = 16 << 20  # a reply larger than this fails its test (it is read and parsed in linear time)
_CHECKER_SCALE = 16  # the trusted checker's messages: up to 256 MB and 16 Mi values (a test's own big input)
_TOO_LARGE = f"reply too large (over {_MAX_MESSAGE >> 20} MB or {plain.MAX_VALUES:,} values)"
_SETUP_S = 20.0  # a child that has not entered its layers by then is an infrastructure fault
_REASON_CHARS = 300  # a test's reason and a run's detail: all a program's text may add to a verdict


class OptionError(InputError, ValueError):
    """A bad sandbox or code-verifier option: one line naming the option. A ValueError as well, so a
    task loader that builds verifiers from a spec's `verifier_options` names the file and field."""


def check_number(name: str, value: Any, minimum: float = 0.0, strict: bool = True, whole: bool = False) -> Any:
    """`value` when it is a finite number above `minimum` (or at it, unless strict), else OptionError. A number of
    numpy's (a parquet column's `np.int64(6)`) is one, returned as Python's int or float."""
    import math
    import numbers

    kinds = numbers.Integral if whole else numbers.Real
    if isinstance(value, bool) or not isinstance(value, kinds) or not math.isfinite(value) \
            or value < minimum or (strict and value == minimum):
        what = "a whole number" if whole else "a number"
        bound = f"above {minimum:g}" if strict else f"at least {minimum:g}"
        raise OptionError(f"{name}: expected {what} {bound}, got {value!r}")
    return value if type(value) in (int, float) else int(value) if isinstance(value, numbers.Integral) else float(value)


def layer_names(name: str, value: Any) -> tuple[str, ...]:
    """Layer names as a tuple, from a list or a comma-separated string; OptionError for unknown ones."""
    if isinstance(value, str):
        value = [x.strip() for x in value.split(",") if x.strip()]
    if not isinstance(value, (list, tuple, set, frozenset)) or not all(isinstance(x, str) for x in value):
        raise OptionError(f"{name}: expected layer names (a list, or a comma-separated string), got {value!r}")
    unknown = sorted(set(value) - set(LAYER_NAMES))
    if unknown:
        raise OptionError(f"{name}: unknown sandbox layer(s) {', '.join(unknown)} (known: {', '.join(LAYER_NAMES)})")
    return tuple(value)


def _env_landlock_cap() -> int | None:
    """EVALKIT_SANDBOX_LANDLOCK_ABI (the testing switch capping the Landlock ABI), None when unset; OptionError
    when it is not a whole number at least 0."""
    text = os.environ.get(_layers.LANDLOCK_CAP_ENV, "").strip()
    if not text:
        return None
    if not re.fullmatch(r"[0-9]+", text):
        raise OptionError(f"{_layers.LANDLOCK_CAP_ENV}: expected a whole number at least 0 (the highest Landlock "
                          f"ABI to use), got {text[:40]!r}")
    return int(text)


@dataclass(frozen=True)
class SandboxConfig:
    """How runs are isolated and limited. A bad value raises OptionError (an InputError) here.

    workers: runs in parallel (each worker is one pre-started server per role); at least 1.
    layers: optional layers to use when the machine has them (default: all of OPTIONAL_LAYERS); a list,
        or a comma-separated string.
    require_layers: layers that must be in force; a missing one raises InputError at start.
    timeout_s: wall-clock limit per test (the candidate's start-up counts toward its first test).
    memory_mb: address-space limit per process (and the cgroup memory limit of a worker).
    file_mb: largest file a run may write; also the cap on captured stdout / stderr.
    tmpfs_mb: size of the private tmpfs a run works in (mount namespace layer).
    rel_tol / abs_tol: tolerance where the expected value is a float (a `call` value, or a `stdio`
        token with a point or an exponent); integers and everything else compare exactly.
    landlock_abi_max: use at most this Landlock ABI (default: the environment variable
        EVALKIT_SANDBOX_LANDLOCK_ABI, else all the kernel has); a testing switch for older kernels.
    """

    workers: int = 2
    layers: tuple[str, ...] = OPTIONAL_LAYERS
    require_layers: tuple[str, ...] = ()
    timeout_s: float = 6.0
    memory_mb: int = 1024
    file_mb: int = 16
    tmpfs_mb: int = 64
    rel_tol: float = 1e-6
    abs_tol: float = 1e-6
    landlock_abi_max: int | None = None

    def __post_init__(self) -> None:
        check_number("workers", self.workers, 1, strict=False, whole=True)
        check_number("timeout_s", self.timeout_s)
        for name in ("memory_mb", "file_mb", "tmpfs_mb"):
            check_number(name, getattr(self, name), 1, strict=False, whole=True)
        for name in ("rel_tol", "abs_tol"):
            check_number(name, getattr(self, name), strict=False)
        if self.landlock_abi_max is not None:
            check_number("landlock_abi_max", self.landlock_abi_max, strict=False, whole=True)
        else:
            _env_landlock_cap()  # each server reads it as it starts; a bad value is one line here, exit 2
        object.__setattr__(self, "layers", layer_names("layers", self.layers))  # hashable, one spelling
        object.__setattr__(self, "require_layers", layer_names("require_layers", self.require_layers))

    def limits(self, n_tests: int = 1) -> dict[str, int]:
        """Per-process limits; CPU time is a backstop behind the wall-clock limit of each test."""
        return {"memory_mb": self.memory_mb, "cpu_s": int(self.timeout_s * max(1, n_tests)) + 2,
                "file_mb": self.file_mb, "tmpfs_mb": self.tmpfs_mb}


@dataclass(frozen=True)
class RunResult:
    """One candidate program checked against all its tests.

    tests: one {"passed": bool, "reason": str} per test, in order.
    error: an infrastructure fault (the sandbox could not run it); then `tests` is empty.
    tests_fault: the fault is the tests' own (they hold no test, never call the program, fail to set up),
        not the sandbox's: `evalkit verify` refuses such tests as bad input.
    detail: a line on what happened (the candidate's error, the first failure).
    ms: wall-clock milliseconds for the whole run.
    """

    tests: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    tests_fault: bool = False
    detail: str = ""
    ms: float = 0.0

    @property
    def passed(self) -> int:
        return sum(1 for t in self.tests if t["passed"])

    @property
    def timed_out(self) -> bool:
        """Whether any test ran out of time (the verdict's reason reads the first failing test)."""
        return any(t["reason"] == "timeout" for t in self.tests)


class InfraError(RuntimeError):
    """The sandbox itself failed (a server died, a child could not enter its layers)."""


class TestsFault(InfraError):
    """The tests themselves cannot judge a program (no test in them, none calling it, a failing setup)."""


# ---------------------------------------------------------------- talking to one pre-started server


class _Reader:
    """Buffered JSON lines from a pipe, each read bounded by a deadline; linear in what arrives (each
    byte is appended and searched for a newline once, and parsed once by plain.parse_reply). A line
    over `_MAX_MESSAGE` bytes or `plain.MAX_VALUES` values is never parsed: parsing costs the grader
    time (under the GIL every worker waits, and no deadline can cut it short) and memory per value."""

    def __init__(self, fd: int, scale: int = 1):
        """scale: the limits times this (the trusted checker's calls carry the test code's inputs)."""
        self.fd, self.buf, self.eof, self.scanned = fd, bytearray(), False, 0
        self.max_bytes, self.max_values = _MAX_MESSAGE * scale, plain.MAX_VALUES * scale

    def message(self, deadline: float) -> dict | str:
        """The next JSON object, or "timeout" / "eof" / "garbage" / "too large"."""
        while (end := self.buf.find(b"\n", self.scanned)) < 0:
            self.scanned = len(self.buf)
            if self.eof:
                return "eof"
            left = deadline - time.monotonic()
            if left <= 0:
                return "timeout"
            ready, _, _ = select.select([self.fd], [], [], left)
            if not ready:
                return "timeout"
            chunk = os.read(self.fd, 1 << 20)
            if not chunk:
                self.eof = True
            self.buf += chunk
            if len(self.buf) > self.max_bytes:
                return "too large"
        line = bytes(self.buf[:end])
        del self.buf[: end + 1]
        self.scanned = 0
        if plain.values_in(line) > self.max_values:
            return "too large"
        try:
            msg = plain.parse_reply(line)
        except (ValueError, RecursionError):
            return "garbage"
        return msg if isinstance(msg, dict) else "garbage"


def _write_all(fd: int, data: bytes, deadline: float) -> bool:
    view = memoryview(data)
    while view:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        _, ready, _ = select.select([], [fd], [], left)
        if not ready:
            return False
        try:
            n = os.write(fd, view[: 1 << 16])
        except (BrokenPipeError, BlockingIOError):
            return False
        view = view[n:]
    return True


def _memfd(name: str, data: bytes = b"") -> int:
    fd = os.memfd_create(name, os.MFD_CLOEXEC)
    if data:
        os.write(fd, data)
        os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _read_memfd(fd: int, cap: int) -> bytes:
    os.lseek(fd, 0, os.SEEK_SET)
    out = bytearray()
    while len(out) < cap:
        chunk = os.read(fd, min(1 << 20, cap - len(out)))
        if not chunk:
            break
        out += chunk
    return bytes(out)


class _Child:
    """A forked child of a server, and this process's ends of its pipes."""

    def __init__(self, server: "_Server", pid: int, chan_w: int, chan_r: int, out_fd: int, err_fd: int,
                 scale: int = 1):
        self.server, self.pid = server, pid
        self.chan_w, self.reader = chan_w, _Reader(chan_r, scale)
        self.out_fd, self.err_fd = out_fd, err_fd
        self.exit_code: int | None = None
        self.closed = False

    def send(self, message: dict, deadline: float) -> bool:
        return _write_all(self.chan_w, plain.encode(message), deadline)

    def finish(self, kill: bool = True, wait_s: float = 30.0) -> int:
        """Kill (unless it already exited), wait for the server's exit report, close our ends."""
        if self.closed:
            return self.exit_code if self.exit_code is not None else -9
        self.closed = True
        try:
            if self.exit_code is None:
                if kill:
                    self.server.send({"kill": True})
                self.exit_code = self.server.wait_exit(self.pid, wait_s)
        finally:
            for fd in (self.chan_w, self.reader.fd, self.out_fd, self.err_fd):
                try:
                    os.close(fd)
                except OSError:
                    pass
        return self.exit_code

    def stderr_tail(self, n: int = 400) -> str:
        if self.closed:
            return ""
        # the end of the stream (a program that wrote megabytes of debug output before it failed: its error
        # is last), read from there whatever came before
        os.lseek(self.err_fd, max(0, self.stderr_size() - 4 * n), os.SEEK_SET)
        return os.read(self.err_fd, 4 * n)[-n:].decode("utf-8", "replace").strip()

    def stderr_size(self) -> int:
        return 0 if self.closed else os.fstat(self.err_fd).st_size


class _Server:
    """One pre-started sandbox server process (see _server.py)."""

    def __init__(self, config: SandboxConfig, slot: str):
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        if theirs.fileno() <= 2:  # a caller with stdin/out/err closed: the child's own would land on it
            above = socket.socket(fileno=fcntl.fcntl(theirs.fileno(), fcntl.F_DUPFD_CLOEXEC, 3))
            theirs.close()
            theirs = above
        cap = config.landlock_abi_max if config.landlock_abi_max is not None else _env_landlock_cap()
        cfg = {"sock_fd": theirs.fileno(), "slot": slot, "layers": list(config.layers),
               "limits": config.limits(), "landlock_abi_max": cap}
        self.proc = subprocess.Popen(
            [sys.executable, "-I", str(_SERVER), json.dumps(cfg)], pass_fds=[theirs.fileno()],
            env=_layers.scrubbed_env(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True, cwd="/",
        )
        theirs.close()
        self.sock = ours
        hello = self.recv(60.0)
        if not hello or not hello.get("hello"):
            self.close()
            raise InfraError("the sandbox server did not start")
        if hello.get("fatal"):
            self.close()
            raise InfraError(f"the sandbox cannot run here: {hello['fatal']}")
        self.layers: list[str] = list(hello["layers"])
        self.missing: dict[str, str] = dict(hello["missing"])
        self.writable_roots: list[str] = list(hello.get("writable_roots", []))
        self.landlock_abi: int = int(hello.get("landlock_abi", 0))

    def send(self, message: dict, fds: Sequence[int] = ()) -> None:
        try:
            socket.send_fds(self.sock, [plain.encode(message)], list(fds))
        except OSError as e:
            raise InfraError(f"the sandbox server is gone ({e.strerror or e})") from None

    def recv(self, timeout: float) -> dict | None:
        ready, _, _ = select.select([self.sock], [], [], timeout)
        if not ready:
            return None
        try:
            data = self.sock.recv(65536)
        except OSError:
            return None
        return json.loads(data) if data else None

    def wait_exit(self, pid: int, timeout: float) -> int:
        msg = self.recv(timeout)
        if not msg or msg.get("exit") != pid:
            raise InfraError("the sandbox server stopped answering")
        return int(msg["code"])

    def spawn(self, job: dict, stdin: bytes, limits: dict, max_s: float) -> _Child:
        """Fork a fresh child running `job` (role candidate / checker / stdio). The checker's messages may
        be _CHECKER_SCALE times a reply's limits: its calls carry what the test code passes."""
        job_fd = _memfd("job", json.dumps(job).encode())
        in_fd = _memfd("stdin", stdin)
        out_fd, err_fd = _memfd("stdout"), _memfd("stderr")
        p2c_r, p2c_w = os.pipe()
        c2p_r, c2p_w = os.pipe()
        try:
            self.send({"spawn": True, "limits": limits, "max_s": max_s},
                      [in_fd, out_fd, err_fd, p2c_r, c2p_w, job_fd])
        except InfraError:
            for fd in (job_fd, in_fd, out_fd, err_fd, p2c_r, p2c_w, c2p_r, c2p_w):
                os.close(fd)
            raise
        for fd in (job_fd, in_fd, p2c_r, c2p_w):
            os.close(fd)
        msg = self.recv(30.0)
        if not msg or "pid" not in msg:
            for fd in (out_fd, err_fd, p2c_w, c2p_r):
                os.close(fd)
            raise InfraError("the sandbox server did not fork")
        os.set_blocking(p2c_w, False)
        return _Child(self, int(msg["pid"]), p2c_w, c2p_r, out_fd, err_fd,
                      _CHECKER_SCALE if job.get("role") == "checker" else 1)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# ---------------------------------------------------------------- one worker slot: the three styles


class _Slot:
    def __init__(self, config: SandboxConfig, index: int, admit: Callable[[_Server], None]):
        """admit: checks each server this slot starts (raises InfraError for one with fewer layers)."""
        self.config, self.index, self.admit = config, index, admit
        # set when the call whose run this slot holds is stopped (Sandbox.run_many interrupted): no server starts
        self.halted = threading.Event()
        self.lock = threading.Lock()
        self._servers: dict[str, _Server] = {}
        self.batch_deadline: float | None = None

    def server(self, role: str) -> _Server:
        if self.halted.is_set():
            raise InfraError("the run was stopped before this program's tests were all run")
        srv = self._servers.pop(role, None)
        if srv is None or not srv.alive():
            if srv is not None:
                srv.close()
            srv = _Server(self.config, f"{secrets.token_hex(6)}-{role}")  # no pid of ours: runs can read it
            try:
                self.admit(srv)
            except InfraError:
                srv.close()
                raise
        self._servers[role] = srv
        return srv

    def drop(self, role: str) -> None:
        srv = self._servers.pop(role, None)
        if srv is not None:
            srv.proc.kill()
            srv.close()

    def close(self) -> None:
        for role in list(self._servers):
            srv = self._servers.pop(role)
            srv.close()

    def kill(self, halted: threading.Event) -> None:
        """Kill this slot's servers and their runs, from another thread, while the slot still runs for the call
        whose stop is `halted` (one released meanwhile may already run another caller's program: left alone). The
        run in flight ends at once with an InfraError; its servers are replaced on the next run."""
        with self.lock:
            if self.halted is not halted:
                return
            for srv in list(self._servers.values()):
                try:
                    srv.proc.kill()
                except OSError:
                    pass

    # -- each style returns the per-test list, or raises InfraError

    def _until(self, seconds: float) -> float:
        """A test's deadline: `seconds` from now, or the batch deadline when that comes first."""
        end = time.monotonic() + seconds
        return end if self.batch_deadline is None else min(end, self.batch_deadline)

    def run(self, program: str, tests: CodeTests, deadline: float | None = None,
            halted: threading.Event | None = None) -> RunResult:
        """halted: the calling run_many's stop (a fresh one where None): no server starts once it is set."""
        self.batch_deadline = deadline
        self.halted = halted or threading.Event()
        start = time.monotonic()
        if tests.style != "assert" and not tests.cases:  # a data fault, never a silent 0 (as for assert)
            return RunResult(error=f"the {tests.style} tests hold no cases", tests_fault=True)
        try:
            if tests.style == "stdio":
                out, detail = self._stdio(program, tests)
            elif tests.style == "call":
                out, detail = self._call(program, tests)
            else:
                out, detail = self._assert(program, tests)
        except Exception as e:  # InfraError, or a bug of ours: the sample is unjudged, never a silent 0
            for role in ("candidate", "checker"):  # a server in an unknown state is replaced
                self.drop(role)
            why = str(e) if isinstance(e, InfraError) else f"sandbox failure: {type(e).__name__}: {e}"
            return RunResult(error=why[:_REASON_CHARS], tests_fault=isinstance(e, TestsFault),
                             ms=(time.monotonic() - start) * 1000)
        out = [{**t, "reason": _text(t["reason"], _REASON_CHARS)} for t in out]
        return RunResult(tests=out, detail=_text(detail, _REASON_CHARS), ms=(time.monotonic() - start) * 1000)

    def _ready(self, child: _Child, what: str) -> None:
        msg = child.reader.message(time.monotonic() + _SETUP_S)
        if not isinstance(msg, dict) or not msg.get("ready"):
            err = msg.get("setup_error") if isinstance(msg, dict) else msg
            child.finish()
            # sent before the program ran: the tests' own fault, unless memory ran out (the job's program text,
            # already read, counts toward the child's limit: a huge program may be to blame)
            if isinstance(msg, dict) and msg.get("prelude") is True and "MemoryError" not in str(err):
                raise TestsFault(str(err))
            raise InfraError(f"the {what} process could not start in the sandbox: {err}")

    def _candidate(self, program: str, tests: CodeTests, max_s: float) -> _Child:
        # the tests' setup is the checker's alone; the prelude is what the program may see
        job = {"role": "candidate", "program": program, "prelude": tests.prelude, "entry_point": tests.entry_point}
        n_tests = len(tests.cases) if tests.cases else _assert_tests(tests.code)
        child = self.server("candidate").spawn(job, b"", self.config.limits(n_tests), max_s)
        self._ready(child, "candidate")
        return child

    def _load(self, child: _Child, deadline: float) -> str | None:
        """None when the candidate's program loaded, else why it did not."""
        msg = child.reader.message(deadline)
        if isinstance(msg, dict) and msg.get("loaded"):
            return None
        if isinstance(msg, dict) and "load_error" in msg:
            return f"the program failed to load: {_text(msg['load_error'], 200)}"
        return {"timeout": "timeout", "eof": "the program exited while loading"}.get(str(msg), "bad message")

    def _call(self, program: str, tests: CodeTests) -> tuple[list[dict], str]:
        cases = tests.cases or ()
        t = self.config.timeout_s
        child = self._candidate(program, tests, t * (len(cases) + 1) + 5)
        out: list[dict] = []
        detail = ""
        try:
            deadline = self._until(t)  # the program's start-up counts toward its first test, as in `assert`
            gone = self._load(child, deadline)
            for k, case in enumerate(cases):
                if gone:
                    out.append({"passed": False, "reason": "timeout" if gone == "timeout" else gone})
                    continue
                args = case.input if isinstance(case.input, list) else [case.input]
                if k:
                    deadline = self._until(t)
                try:
                    request = {"a": plain.dump_plain(args), "k": {"d": []}}
                except plain.PlainError as e:
                    raise TestsFault(f"a test input is not plain JSON data ({e})") from None
                if not child.send(request, deadline):  # past the deadline, it was cut, not deaf
                    gone = "timeout" if time.monotonic() >= deadline else "the program stopped reading its calls"
                    out.append({"passed": False, "reason": gone})
                    continue
                reply = child.reader.message(deadline)
                passed, reason, gone = self._judge_reply(reply, case.output)
                out.append({"passed": passed, "reason": reason})
                if not passed and not detail:
                    detail = reason
        finally:
            child.finish()
        if not detail and gone:
            detail = gone
        return out, detail or ("all tests passed" if out and all(x["passed"] for x in out) else "")

    def _judge_reply(self, reply: dict | str, want: Any) -> tuple[bool, str, str | None]:
        """(passed, reason, why the candidate can no longer answer or None)."""
        if reply == "timeout":
            return False, "timeout", "timeout"
        if not isinstance(reply, dict):
            why = {"eof": "the program exited before answering", "too large": _TOO_LARGE}.get(reply, "malformed reply")
            return False, why, why
        if "ok" in reply:  # read in place, never built into objects here (see _plain)
            try:
                plain.check_wire(reply["ok"])
            except (ValueError, RecursionError) as e:  # PlainError, or a ValueError from a reply the candidate forged
                return False, f"not a plain value ({str(e)[:100]})", "malformed reply"
            if want is _FORWARD:
                return True, "", None
            try:
                ok = plain.wire_matches(reply["ok"], want, self.config.rel_tol, self.config.abs_tol)
            except Exception as e:  # the comparison failed: the candidate's fault, unless the test's own value is
                try:
                    plain.dump_plain(want)
                except plain.PlainError as bad:
                    raise TestsFault(f"a test's expected output is not plain JSON data ({bad})") from None
                return False, f"wrong value (comparison failed: {type(e).__name__})", None
            return ok, "passed" if ok else f"wrong value: {plain.preview(reply['ok'])}", None
        if "exc" in reply:
            return False, f"raised {_text(reply['exc'], 60)}: {_text(reply.get('msg', ''), 200)}", None
        if "bad" in reply:
            return False, f"returned a value that is not plain ({_text(reply['bad'], 200)})", None
        if "fatal" in reply:
            why = f"raised {_text(reply['fatal'], 60)}"
            return False, why, why
        return False, "malformed reply", "malformed reply"

    def _forward(self, cand: _Child, call: Any, deadline: float) -> tuple[dict | None, str | None]:
        """Send one of the checker's calls to the candidate: (its checked reply, None), or
        (None, why the candidate can no longer answer)."""
        if not cand.send(call, deadline):  # past the deadline, it was cut, not deaf
            return None, "timeout" if time.monotonic() >= deadline else "the program stopped reading its calls"
        reply = cand.reader.message(deadline)
        _, _, gone = self._judge_reply(reply, _FORWARD)  # checks that a value is plain; the checker judges it
        return (reply, None) if gone is None else (None, gone)

    def _assert(self, program: str, tests: CodeTests) -> tuple[list[dict], str]:
        t = self.config.timeout_s
        n_tests = _assert_tests(tests.code)
        # each statement has t (a `check` the code only defines runs as one more), the checker's start-up its own
        max_s = t * (n_tests + 2) + _SETUP_S
        job = {"role": "checker", "setup": tests.setup, "code": tests.code, "entry_point": tests.entry_point}
        chk = self.server("checker").spawn(job, b"", self.config.limits(n_tests), max_s)
        # the program starts with the first test, after the checker's own start-up: its start-up counts toward
        # that test (as in `call`), never hidden behind the checker's
        cand: _Child | None = None
        results: dict[int, dict] = {}
        n_tests, current, detail = None, None, ""
        gone: str | None = None
        loaded = called = done = False
        forced: dict[int, str] = {}
        uncrossable: dict[int, tuple[str, str]] = {}  # test -> (what could not cross: object or deep, its reason)
        # the checker's setup and its reading of the test code come before any test, and before the program starts:
        # the tests' own time (as the checker's start-up is), not the first test's
        own_s = max(t, _SETUP_S)
        try:
            self._ready(chk, "checker")
            deadline = self._until(own_s)
            while True:
                msg = chk.reader.message(deadline)
                if msg == "timeout":
                    cut = self.batch_deadline is not None and time.monotonic() >= self.batch_deadline
                    if n_tests is None and not cut:
                        raise TestsFault(f"the tests themselves failed: their setup ran past {own_s:g} s, before "
                                         "their first test")
                    forced[current if current is not None else 0] = "timeout"
                    break
                if not isinstance(msg, dict) or "setup_error" in msg:
                    if not called:  # the program has had no say yet: the tests or the sandbox failed
                        if isinstance(msg, dict):
                            raise TestsFault(f"the tests themselves failed: {msg['setup_error']}")
                        raise InfraError(f"the tests themselves failed: the checker stopped ({msg})")
                    break  # after the program answered, a checker that dies is the program's doing

                if "tests" in msg:
                    n_tests = int(msg["tests"])
                    deadline = self._until(t)
                elif "start" in msg:
                    current = int(msg["start"])
                    if cand is None:
                        cand = self._candidate(program, tests, max_s)
                    deadline = self._until(t)
                elif "result" in msg:
                    reason = _text(str(msg["reason"]), _REASON_CHARS)
                    results[int(msg["result"])] = {"passed": bool(msg["passed"]), "reason": reason}
                    if msg.get("uncrossable"):  # the checker's own flag: a reason's text is the program's to write
                        uncrossable[int(msg["result"])] = (str(msg["uncrossable"]), reason)
                elif "done" in msg:
                    done = True
                    break
                elif "call" in msg:
                    called = True
                    if cand is None:
                        cand = self._candidate(program, tests, max_s)
                    if gone is None and not loaded:
                        gone = self._load(cand, deadline)
                        loaded = gone is None
                    answer, gone = (None, gone) if gone else self._forward(cand, msg["call"], deadline)
                    if gone is not None:
                        cand.finish()
                        if current is not None:  # the test in progress fails whatever the checker makes of it
                            forced.setdefault(current, gone)
                        answer = {"gone": gone}
                        deadline = self._until(t)  # the checker still needs to finish
                    if not chk.send(answer, deadline):
                        break
        finally:
            chk.finish()
            if cand is not None:
                cand.finish()
        if n_tests is None:
            n_tests = max([*results.keys(), *forced.keys(), -1]) + 1 or 1
        out = []
        for i in range(n_tests):
            r = results.get(i, {"passed": False, "reason": "not run"})
            if i in forced:  # a candidate that timed out or died is failed whatever the checker made of it
                r = {"passed": False, "reason": forced[i]}
            out.append(r)
            if not r["passed"] and not detail:
                detail = f"test {i + 1}: {r['reason']}"  # counted from 1, as the report lists them
        if n_tests == 0:
            raise TestsFault("the test code defines no tests (no top-level assert, no check function)")
        objects = sorted(i for i, (kind, _) in uncrossable.items() if kind == "object")
        if objects:  # the test code passes an object of its own, which no program can be called with
            raise TestsFault(f"test {objects[0] + 1} of the test code cannot call the program: "
                             f"{uncrossable[objects[0]][1]}")
        if done and not called:  # nothing the program did decided these tests: they test nothing
            if uncrossable:  # they tried, with a value no call can carry: say that
                raise TestsFault(f"the test code's first call of the program failed: "
                                 f"{uncrossable[min(uncrossable)][1]}")
            failed = [r["reason"] for r in out if not r["passed"]]
            why = f"; its first failing test: {failed[0]}" if failed else ""  # MBPP 367's tests name an undefined `root`
            raise TestsFault(f"the test code ran to its end without calling {tests.entry_point or 'the program'} "
                             f"(its tests test nothing{why})")
        return out, detail or "all tests passed"

    def _stdio(self, program: str, tests: CodeTests) -> tuple[list[dict], str]:
        t = self.config.timeout_s
        cap = self.config.file_mb << 20
        out, detail = [], ""
        for case in tests.cases or ():
            if self.batch_deadline is not None and time.monotonic() >= self.batch_deadline:
                out.append({"passed": False, "reason": "timeout"})  # cut at the batch deadline: not run
                detail = detail or f"test {len(out)}: timeout"
                continue
            stdin = case.input if isinstance(case.input, str) else json.dumps(case.input)
            child = self.server("candidate").spawn({"role": "stdio", "program": program, "prelude": tests.prelude},
                                                   stdin.encode(), self.config.limits(), t + 5)
            try:
                self._ready(child, "candidate")
                msg = child.server.recv(max(0.0, self._until(t) - time.monotonic()))
                if msg is None:
                    child.finish(kill=True)
                    passed, reason = False, "timeout"
                else:
                    if msg.get("exit") != child.pid:
                        raise InfraError("the sandbox server stopped answering")
                    child.exit_code = int(msg["code"])
                    got = _read_memfd(child.out_fd, cap + 1)
                    # SIGXFSZ: past the file size cap; Python ignores the signal, and its write fails (EFBIG) with
                    # the output at the cap exactly: the program's exit is the limit's doing either way
                    if child.exit_code == -25 or (len(got) >= cap and child.exit_code != 0):
                        passed, reason = False, "output limit exceeded"
                    elif child.exit_code != 0 and child.stderr_size() >= cap:  # a write to stderr failed there
                        passed, reason = False, f"output limit exceeded (stderr, {self.config.file_mb} MB)"
                    elif child.exit_code != 0:
                        tail = child.stderr_tail().splitlines()
                        passed, reason = False, f"exit code {child.exit_code}" + (f": {tail[-1]}" if tail else "")
                    else:
                        want = case.output if isinstance(case.output, str) else json.dumps(case.output)
                        try:
                            passed = plain.stdio_equal(got.decode("utf-8", "replace"), want,
                                                       self.config.rel_tol, self.config.abs_tol)
                            reason = "passed" if passed else "wrong output"
                        except Exception as e:  # the candidate's output broke the comparison: its fault
                            passed, reason = False, f"wrong output (comparison failed: {type(e).__name__})"
            finally:
                child.finish()
            out.append({"passed": passed, "reason": reason})
            if not passed and not detail:
                detail = f"test {len(out)}: {reason}"
        return out, detail or "all tests passed"


_FORWARD = object()  # _judge_reply's `want` for a reply the checker judges: check its shape only


def _text(value: Any, n: int) -> str:
    """At most n characters of a field of a reply (anything the candidate wrote), as text UTF-8 can hold:
    a lone surrogate (`raise ValueError('\\ud800')`) is read as U+FFFD, so the verdict can be written."""
    return without_lone_surrogates(value[:n]) if isinstance(value, str) else "?"


# ---------------------------------------------------------------- the public face


class Sandbox:
    """A pool of worker slots; thread-safe. Start is lazy; `close()` (or the context manager) stops it."""

    def __init__(self, config: SandboxConfig | None = None):
        self.config = config or SandboxConfig()  # its names and numbers are checked there
        self._slots = [_Slot(self.config, i, self._admit) for i in range(max(1, self.config.workers))]
        self._free: list[_Slot] = list(self._slots)
        self._cv = threading.Condition()
        self._layers: dict[str, Any] | None = None
        self._first: dict[str, Any] | None = None  # the first server's layers: what every later one must have
        self._first_lock = threading.Lock()

    def _admit(self, srv: _Server) -> None:
        """The first server (of either role) sets the layers this sandbox reports; a later one, a
        checker's or a replacement after a server died, with fewer (a layer failed at its probe) is
        refused: its runs are unjudged, never run with less isolation than reported."""
        with self._first_lock:
            if self._first is None:
                self._first = {"layers": list(srv.layers), "missing": dict(srv.missing),
                               "writable_roots": list(srv.writable_roots), "landlock_abi": srv.landlock_abi}
                return
            first = self._first
        lost = [n for n in first["layers"] if n not in srv.layers]
        if lost:
            why = "; ".join(f"{n}: {srv.missing.get(n, 'not available')}" for n in lost)
            raise InfraError(f"a new sandbox server lacks layer(s) this sandbox reported in force ({why})")
        if srv.landlock_abi < first["landlock_abi"]:
            raise InfraError(f"a new sandbox server has Landlock ABI {srv.landlock_abi}, below the ABI "
                             f"{first['landlock_abi']} this sandbox reported")
        opened = [r for r in srv.writable_roots if r not in first["writable_roots"]]
        if opened:
            raise InfraError(f"a new sandbox server's runs could write to the grader's environment at "
                             f"{', '.join(opened)}")

    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        for slot in self._slots:
            slot.close()

    def layers(self) -> dict[str, Any]:
        """{"in_force": [layer names], "missing": {layer: why}, "as_root": bool, "landlock_abi": the ABI
        used, "writable_roots": the grader's import roots a run could write to (none where contained)}.

        What the first server had; every server, the checker's and any replacement included, has at
        least these layers or is refused (its runs are unjudged). Starts a server to find out, if none
        has started, and raises InputError if a required layer is missing.
        """
        if self._layers is None:
            if self._first is None:
                slot = self._acquire()
                try:
                    slot.server("candidate")
                except InfraError as e:
                    if self._first is None:
                        raise InputError(f"the code sandbox cannot start: {e}") from None
                finally:
                    self._release(slot)
            first = self._first
            in_force = [n for n in LAYER_NAMES if n in ALWAYS_LAYERS or n in first["layers"]]
            self._layers = {"in_force": in_force, "missing": dict(first["missing"]), "as_root": os.geteuid() == 0,
                            "writable_roots": list(first["writable_roots"]), "landlock_abi": first["landlock_abi"]}
        missing = [n for n in self.config.require_layers if n not in self._layers["in_force"]]
        if missing:
            why = "; ".join(f"{n}: {self._layers['missing'].get(n, 'not available')}" for n in missing)
            raise InputError(f"required sandbox layer(s) missing: {why}")
        return self._layers

    def _acquire(self) -> _Slot:
        with self._cv:
            while not self._free:
                self._cv.wait()
            return self._free.pop()

    def _release(self, slot: _Slot) -> None:
        with self._cv:
            self._free.append(slot)
            self._cv.notify()

    def run(self, program: str, tests: CodeTests | dict | str, deadline: float | None = None) -> RunResult:
        """Check one candidate program against all its tests. Never raises for the program's faults;
        an infrastructure fault comes back as RunResult.error.

        deadline: a time.monotonic() value; a test still running then fails with reason `timeout`.
        """
        return self._run(program, tests, deadline)

    def _run(self, program: str, tests: CodeTests | dict | str, deadline: float | None = None,
             halted: threading.Event | None = None, held: set | None = None) -> RunResult:
        """`run`, for run_many: halted is its stop; held, the slots its runs hold now (what an interrupt kills)."""
        tests = CodeTests.from_any(tests)
        if self.config.require_layers:
            self.layers()
        slot = self._acquire()
        if held is not None:
            held.add(slot)
        try:
            return slot.run(program, tests, deadline, halted)
        finally:
            if held is not None:
                held.discard(slot)
            with slot.lock:  # after a kill for this call, if one is under way; never during the next caller's run
                slot.halted = threading.Event()  # the next caller's run starts unstopped
            self._release(slot)

    def run_many(self, jobs: Iterable[tuple[str, CodeTests | dict | str]], deadline: float | None = None
                 ) -> list[RunResult | None]:
        """Many runs, `workers` at a time, results in input order.

        deadline: a time.monotonic() value; a run not started by then is not run (None in its place), and
            a test still running then fails with reason `timeout`.
        """
        jobs = list(jobs)
        halted = threading.Event()  # this call's stop; other callers sharing the sandbox keep their runs
        held: set[_Slot] = set()

        def one(job):
            if halted.is_set() or deadline is not None and time.monotonic() >= deadline:
                return None
            return self._run(*job, deadline=deadline, halted=halted, held=held)

        if len(jobs) <= 1 or len(self._slots) == 1:
            return [one(job) for job in jobs]
        pool = ThreadPoolExecutor(len(self._slots))
        try:
            return list(pool.map(one, jobs))
        except (KeyboardInterrupt, SystemExit):
            # Ctrl-C or SIGTERM: this call's runs in flight are killed, not waited for (each could take its every
            # test's timeout_s, minutes for LiveCodeBench, before the caller writes what it has)
            halted.set()
            for slot in list(held):
                slot.kill(halted)
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


_DEFAULT: dict[SandboxConfig, Sandbox] = {}
_DEFAULT_LOCK = threading.Lock()


def get_sandbox(config: SandboxConfig | None = None) -> Sandbox:
    """A shared Sandbox per configuration, stopped at exit."""
    config = config or SandboxConfig()
    with _DEFAULT_LOCK:
        box = _DEFAULT.get(config)
        if box is None:
            box = _DEFAULT[config] = Sandbox(config)
        return box


@atexit.register
def _close_all() -> None:
    for box in list(_DEFAULT.values()):
        box.close()
    _DEFAULT.clear()


def sandbox_layers(require: Sequence[str] = (), config: SandboxConfig | None = None) -> dict[str, Any]:
    """The layers in force on this machine for `config` (what `evalkit run` records in config.json).

    require: layer names that must be in force; a missing one raises InputError naming why.
    """
    config = config or SandboxConfig()
    box = get_sandbox(config)
    layers = box.layers()
    missing = [n for n in require if n not in layers["in_force"]]
    if missing:
        unknown = [n for n in missing if n not in LAYER_NAMES]
        if unknown:
            raise InputError(f"unknown sandbox layer(s): {', '.join(unknown)} (known: {', '.join(LAYER_NAMES)})")
        why = "; ".join(f"{n}: {layers['missing'].get(n, 'not available')}" for n in missing)
        raise InputError(f"required sandbox layer(s) missing: {why}")
    return layers


def layers_report(config: SandboxConfig | None = None) -> dict[str, Any]:
    """What a run records in config.json: Sandbox.layers() (in force, missing and why, as root, ...)."""
    return dict(get_sandbox(config).layers())


def parse_layers(text: str | None) -> tuple[str, ...]:
    """`--require-layers a,b` into a tuple, checking the names."""
    names = tuple(x.strip() for x in (text or "").split(",") if x.strip())
    unknown = [n for n in names if n not in LAYER_NAMES]
    if unknown:
        raise InputError(f"--require-layers: unknown layer(s) {', '.join(unknown)} (known: {', '.join(LAYER_NAMES)})")
    return names


def sandbox_doctor(require_layers: str | Sequence[str] = "", run_attack_suite: bool = True, timeout_s: float = 2.0,
                   echo=print, config: SandboxConfig | None = None) -> bool:
    """What `evalkit sandbox doctor` prints: the layers table, then the attack table.

    Returns False when an attack was not contained (or a run failed); raises InputError when a
    required layer is missing.
    """
    from evalkit.sandbox._attacks import run_attacks

    required = parse_layers(require_layers) if isinstance(require_layers, str) else tuple(require_layers)
    config = config or SandboxConfig(workers=1, timeout_s=timeout_s)
    with Sandbox(config) as box:
        info = box.layers()
        who = "root" if info["as_root"] else f"uid {os.geteuid()}"
        echo(f"sandbox layers (running as {who}):")
        for name in LAYER_NAMES:
            state = "in force" if name in info["in_force"] else "missing"
            why = LAYER_DESCRIPTIONS[name] if state == "in force" else info["missing"].get(name, "")
            if name == "landlock" and state == "in force":
                why += f" (ABI {info['landlock_abi']}{'' if info['landlock_abi'] >= 6 else '; signals scoped by seccomp only'})"
            echo(f"  {name:<11} {state:<9} {why}")
        for root in info["writable_roots"]:
            echo(f"  warning: runs can write to the grader's environment at {root}")
        missing = [n for n in required if n not in info["in_force"]]
        if missing:
            raise InputError("required sandbox layer(s) missing: "
                             + "; ".join(f"{n}: {info['missing'].get(n, 'not available')}" for n in missing))
        if not run_attack_suite:
            return True
        echo("attacks:")
        results = run_attacks(box, on_result=lambda r: echo(f"  {r.name:<20} {r.status:<14} {r.ms:>6.0f} ms  {r.detail[:80]}"))
    bad = [r for r in results if not r.contained]
    echo(f"{len(results) - len(bad)}/{len(results)} attacks contained")
    if bad:
        echo(f"NOT CONTAINED: {', '.join(r.name for r in bad)}")
    return not bad


@lru_cache(maxsize=256)
def _assert_tests(code: str | None) -> int:
    """How many tests assert-style test code may run, for the limits of its processes: each top-level
    statement may be one (the checker runs them one by one, each within timeout_s), and so may each
    `assert` (a `check` function's); the larger count, at least 1. A helper with one `assert` called
    for ten cases is ten tests."""
    code = code or ""
    try:
        statements = len(parse_python(code).body)
    # the checker reports bad code; SystemError: CPython's AST race with a parse outside evalkit (gh-106905)
    except (SyntaxError, ValueError, RecursionError, MemoryError, SystemError):
        statements = 0
    return max(1, statements, code.count("assert"))
