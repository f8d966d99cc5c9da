"""The sandbox's pre-started server: a small process that forks one fresh, isolated child per request.

Started once per worker slot and role (candidate or checker) by evalkit.sandbox, as
`python -I _server.py CONFIG_JSON`. It talks to its parent over a SEQPACKET socket (fd given
in the config): the parent sends `{"spawn": ...}` with the child's file descriptors attached (a memfd
holding the job, stdin, stdout, stderr, channel in, channel out); the server forks, replies
`{"pid": N}`, waits for the child and replies `{"exit": N, "code": C, "signal": S}`.

The server never reads a job: the forked child does, after it has entered the sandbox. So nothing
a job carries (test code, other problems' programs) lingers in the memory later children inherit.
Expected outputs are never sent here at all; the parent keeps them.
"""

from __future__ import annotations

import ast
import json
import os
import signal
import socket
import sys

if __name__ == "__main__":  # run as a script under -I: import the sibling modules without evalkit
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import _layers as layers
    import _plain as plain

    del sys.path[0]
else:
    from evalkit.sandbox import _layers as layers
    from evalkit.sandbox import _plain as plain

# Imported before forking, so runs start fast and find them even where the uid they drop to could
# not read the interpreter's files.
PRELOAD = (
    "collections", "itertools", "functools", "math", "cmath", "heapq", "bisect", "re", "string", "typing",
    "random", "fractions", "decimal", "statistics", "datetime", "copy", "operator", "hashlib", "array",
    "numbers", "enum", "dataclasses", "io", "abc", "textwrap", "unicodedata", "traceback", "ast", "struct",
    "collections.abc", "queue", "threading", "time", "calendar", "pprint", "socket", "ctypes", "subprocess",
    "tempfile", "shutil", "glob", "atexit", "gc", "inspect", "builtins", "contextlib", "weakref",
    "fcntl", "select", "importlib.util", "pyseccomp",
)  # fmt: skip
CHILD_FDS = (0, 1, 2, 3, 4, 5)  # stdin, stdout, stderr, channel in, channel out, job
EXIT_SETUP = 121
MESSAGE_CHARS = 300  # of an exception's text the checker is sent


def _preload() -> None:
    import importlib

    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except Exception:
            pass


# ---------------------------------------------------------------- the forked child


def _child(plan: layers.Plan, limits: layers.RunLimits, fds: list[int], workdir: str) -> None:
    """Runs in the fresh child: take the fds, enter every layer, then run the job. Never returns."""
    code = EXIT_SETUP
    try:
        import fcntl

        high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 64) for fd in fds]  # out of the way of the targets first
        for target, fd in zip(CHILD_FDS, high):
            os.dup2(fd, target, inheritable=True)
        for fd in high + fds:
            if fd not in CHILD_FDS:
                try:
                    os.close(fd)
                except OSError:
                    pass
        try:
            layers.enter(plan, limits, CHILD_FDS, workdir)
        except layers.LayerError as e:
            os.write(4, plain.encode({"setup_error": str(e), "layer": e.layer}))
            os._exit(EXIT_SETUP)
        os.environ.clear()
        os.environ.update(layers.scrubbed_env())
        # a temporary file goes where a run may write: its working directory (the server looked up
        # tempfile's directory before the fork, and that answer, /tmp, is closed to the run)
        os.environ["TMPDIR"] = os.getcwd()
        import tempfile

        tempfile.tempdir = None
        with os.fdopen(5, "rb") as f:
            job = json.loads(f.read())
        code = _run_job(job)
    except BaseException as e:  # the harness itself failed, before or after the untrusted code
        try:
            os.write(4, plain.encode({"setup_error": f"sandbox child: {type(e).__name__}: {e}"}))
        except OSError:
            pass
    finally:
        os._exit(code)


def _fresh_stdio() -> None:
    sys.stdin = _stream(0, "r", "<stdin>")
    sys.stdout = _stream(1, "w", "<stdout>")
    sys.stderr = _stream(2, "w", "<stderr>", line_buffering=True)
    sys.__stdin__, sys.__stdout__, sys.__stderr__ = sys.stdin, sys.stdout, sys.stderr


def _stream(fd: int, mode: str, name: str, line_buffering: bool = False):
    """A text stream on `fd` as Python's own sys.stdin/stdout/stderr are: their `mode` and `name` too (the
    fast-I/O template of competitive programmers reads `file.mode`)."""
    import io

    raw = io.FileIO(fd, mode, closefd=False)
    raw.name = name
    buffered = io.BufferedReader(raw) if mode == "r" else io.BufferedWriter(raw)
    stream = io.TextIOWrapper(buffered, encoding="utf-8", errors="replace", line_buffering=line_buffering)
    stream.mode = mode
    return stream


def _module(name: str) -> dict:
    """A fresh module registered in sys.modules as `name` (its namespace is returned): code that looks
    its module up (dataclasses, typing.get_type_hints, pickle, unittest.main) finds it, as under python."""
    import builtins
    import types

    module = types.ModuleType(name)
    module.__builtins__ = builtins
    sys.modules[name] = module
    return module.__dict__


def _compile(source: str, filename: str):
    # dont_inherit: the run's code gets its own __future__ flags, never this file's `annotations`
    return compile(source, filename, "exec", dont_inherit=True)


def _run_prelude(job: dict, ns: dict) -> str | None:
    """Run the tests' trusted prelude in the program's namespace; why it failed, or None."""
    if not job.get("prelude"):
        return None
    try:
        exec(_compile(job["prelude"], "<prelude>"), ns)
    except BaseException as e:
        return f"the tests' prelude failed: {_error_line(e)}"
    return None


def _run_job(job: dict) -> int:
    """The job's role: `stdio` (a whole program on stdin/stdout), `candidate` (answer calls over the
    channel) or `checker` (run the dataset's test code against a stub that forwards calls)."""
    import atexit

    _fresh_stdio()
    atexit._clear()  # nothing of the server's runs at this run's exit
    sys.argv[:] = [""]  # the server's command line is not the run's
    sys.set_int_max_str_digits(0)  # an honest big result prints; its cost is the run's own time
    role = job["role"]

    if role == "stdio":
        ns = _module("__main__")  # the program's own, in place of the server's
        failed = _run_prelude(job, ns)  # before the program runs: the message is the tests' own
        os.write(4, plain.encode({"setup_error": failed, "prelude": True} if failed else {"ready": True}))
        if failed:
            return 0
        os.close(4)
        os.close(3)
        code = 0
        try:
            exec(_compile(job["program"], "<candidate>"), ns)
        except SystemExit as e:
            code = _exit_code(e)
        except BaseException as e:  # its last 1,000 frames printed, as the interpreter prints them: a RecursionError
            # under a raised limit holds a million, and printing them all (traceback.print_exc; from Python 3.13 the
            # interpreter's own printer too) ran past the time limit
            tb, depth = e.__traceback__, 0
            while tb is not None:
                tb, depth = tb.tb_next, depth + 1
            tb = e.__traceback__
            for _ in range(depth - 1000):
                tb = tb.tb_next
            e.__traceback__ = tb
            sys.__excepthook__(type(e), e, tb)
            code = 1
        return _exit_normally(code)
    out = os.fdopen(4, "wb", buffering=0)
    if role == "candidate":
        ns = _module("__candidate__")
        failed = _run_prelude(job, ns)
        out.write(plain.encode({"setup_error": failed, "prelude": True} if failed else {"ready": True}))
        return 0 if failed else _candidate(job, ns, out)
    out.write(plain.encode({"ready": True}))
    return _checker(job, out)


def _watch_runners(code: str, runs: list) -> None:
    """Have every unittest result and doctest runner the test code makes append itself to `runs`: they report
    failures they do not raise (`unittest.main(exit=False)`, a runner's `run(...)`, `doctest.testmod()`), in
    whatever statement they run (under `if __name__ == "__main__":`, assigned, in a list). Test code that names
    neither module imports neither here."""
    classes = []
    if "unittest" in code:
        import unittest

        classes.append(unittest.TestResult)
    if "doctest" in code:
        import doctest

        classes.append(doctest.DocTestRunner)
    for cls in classes:
        def watched(self, *args, _init=cls.__init__, **kwargs):
            _init(self, *args, **kwargs)
            runs.append(self)
        cls.__init__ = watched


def _reported(runs: list) -> tuple[bool, str]:
    """(passed, reason) of a statement that raised nothing, by the failures its test runs reported."""
    failed = sum(len(r.failures) + len(r.errors) + len(getattr(r, "unexpectedSuccesses", ()))
                 for r in runs if hasattr(r, "errors"))  # unittest
    if failed:
        return False, f"unittest reported {failed} failing test(s)"
    failed = sum(r.failures for r in runs if isinstance(getattr(r, "failures", None), int))  # doctest
    if failed:
        return False, f"doctest reported {failed} failing example(s)"
    return True, "passed"


def _exit_code(e: SystemExit) -> int:
    return int(e.code) if isinstance(e.code, int) else (0 if e.code is None else 1)  # sys.exit(True) is 1


def _exit_normally(code: int) -> int:
    """What the interpreter does at exit: wait for non-daemon threads, run atexit, flush. A program
    that writes its output there (a fast-output template, main in a thread) keeps it; one that never
    finishes runs into its wall-clock limit."""
    import atexit
    import threading

    try:
        threading._shutdown()
    except SystemExit as e:
        code = _exit_code(e)
    except BaseException:
        pass
    try:
        atexit._run_exitfuncs()
    except BaseException:
        pass
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            stream.flush()
        except BaseException:
            pass
    return code


def _error_line(e: BaseException) -> str:
    return f"{type(e).__name__}: {str(e)[:300]}"


def _candidate(job: dict, ns: dict, out) -> int:
    """Load the program into `ns` (its module, the prelude already run there), then answer calls.
    The tests' `setup` never runs here: it is the checker's alone."""
    try:
        exec(_compile(job["program"], "<candidate>"), ns)
        fn = _resolve(ns, job.get("entry_point"))
    except BaseException as e:
        out.write(plain.encode({"load_error": _error_line(e)}))
        return 0
    out.write(plain.encode({"loaded": True}))
    chan = os.fdopen(3, "rb")
    for line in chan:
        req = json.loads(line)
        try:
            args = plain.load_plain(req["a"])
            kwargs = plain.load_plain(req.get("k", {"d": []}))
            msg = {"ok": plain.dump_plain(fn(*args, **kwargs))}
        except plain.PlainError as e:
            msg = {"bad": str(e)[:300]}
        except RecursionError as e:
            msg = {"exc": "RecursionError", "msg": str(e)[:MESSAGE_CHARS]}
        except Exception as e:
            msg = _raised(e)
        except BaseException as e:  # SystemExit, KeyboardInterrupt...: the run is over
            out.write(plain.encode({"fatal": type(e).__name__}))
            return 0
        out.write(plain.encode(msg))
    return 0


def _resolve(ns: dict, entry: str | None):
    """`name`, `Class.method`, or a method of LeetCode's `Solution` class.

    A `Solution` method comes before a name of the same spelling (LiveCodeBench's prelude binds
    `count` from itertools; a program may define a helper of the method's name), as in
    LiveCodeBench's own grader."""
    if not entry:
        raise NameError("no entry point given")
    if "." in entry:
        cls, meth = entry.split(".", 1)
        return getattr(ns[cls](), meth)
    solution = ns.get("Solution")
    if isinstance(solution, type) and hasattr(solution, entry):
        return getattr(solution(), entry)
    if entry in ns and callable(ns[entry]):
        return ns[entry]
    raise NameError(f"entry point {entry!r} is not defined")


class CandidateGone(BaseException):
    """The candidate can no longer answer (it exited, timed out or sent something not plain).

    A BaseException, so test code that catches Exception cannot swallow it."""


class Uncrossable(CandidateGone):
    """The test code passed the program a value no call can carry: `kind` is "object" (a type that is not plain
    data: the tests cannot judge any program) or "deep" (nested too deeply: that test fails)."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


class CandidateStopped(RuntimeError):
    """The candidate raised StopIteration or StopAsyncIteration. Raised as itself in the test code,
    such an exception would end a `map`, `filter`, `all` or `any` early and pass the test; this is a
    failure nothing takes for control flow (as PEP 479 does for generators)."""


def _raised(e: Exception) -> dict:
    """What the checker needs to raise `e` again in the test code: its name (for the reason), its nearest
    built-in class (a `class BadInput(ValueError)` is caught by `except ValueError`) and its arguments
    where they are plain and small (`KeyError(-1).args` is `(-1,)`, not `('-1',)`)."""
    import builtins

    base = next((c.__name__ for c in type(e).__mro__ if getattr(builtins, c.__name__, None) is c), "Exception")
    try:
        text = str(e)[:MESSAGE_CHARS]
    except Exception:  # a __str__ that raises: the name is all there is
        text = ""
    msg = {"exc": type(e).__name__, "base": base, "msg": text}
    try:
        args = plain.dump_plain(list(e.args))
        if len(json.dumps(args)) <= 4000:
            msg["args"] = args
    except Exception:  # arguments that cannot cross: the message stands for them
        pass
    return msg


_CONTROL_FLOW = {"StopIteration", "StopAsyncIteration"}
# Top-level statements that only define things; every other statement is a test.
_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom, ast.Assign,
                ast.AnnAssign, ast.AugAssign, ast.Pass, ast.Global, ast.Nonlocal, ast.Delete)


def _is_test(node: ast.stmt) -> bool:
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):  # a docstring
        return False
    return not isinstance(node, _DEFINITIONS)


def _calls_check(nodes: list[ast.stmt]) -> bool:
    return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "check"
               for node in nodes if _is_test(node) for n in ast.walk(node))


def _checker(job: dict, out) -> int:
    """Run all of the test code, statement by statement, then `check(candidate)` when the code defines
    `check` and does not call it itself. Each top-level statement that is not a definition (an assert,
    a loop, a call) is one test. A definition that fails after the candidate has answered fails the
    next test (the last one when none follows); before that, the tests themselves are broken."""
    import builtins

    chan = os.fdopen(3, "rb")
    state = {"gone": None, "called": False}

    def call(*args, **kwargs):
        if state["gone"]:
            raise CandidateGone(state["gone"])
        try:
            request = {"a": plain.dump_plain(list(args)), "k": plain.dump_plain(dict(kwargs))}
        except plain.PlainError as e:  # this test's own doing: the candidate is still there for the next one
            raise Uncrossable(f"test passes a value that cannot cross to the candidate ({e})",
                              "object" if isinstance(e, plain.NotPlain) else "deep") from None
        state["called"] = True
        out.write(plain.encode({"call": request}))
        line = chan.readline()
        reply = json.loads(line) if line else {"gone": "no reply"}
        if "ok" in reply:
            return plain.load_plain(reply["ok"])
        if "exc" in reply:
            name, msg = str(reply["exc"]), str(reply.get("msg", ""))
            base = str(reply.get("base") or name)  # the nearest built-in class: what the tests can catch
            if name in _CONTROL_FLOW or base in _CONTROL_FLOW:
                raise CandidateStopped(f"the program raised {name}")
            exc = getattr(builtins, base, None)
            if not (isinstance(exc, type) and issubclass(exc, Exception)):
                exc = RuntimeError
            try:
                if name != exc.__name__:  # the program's own class, as a subclass of its built-in one: so named
                    exc = type(name[:60], (exc,), {})
                args = plain.load_plain(reply["args"]) if "args" in reply else None
                err = exc(*args) if isinstance(args, list) else exc(msg)
                if str(err)[:MESSAGE_CHARS] != msg:  # a class of the program's with a __str__ of its own: its text
                    err = type(exc.__name__, (exc,), {"__str__": lambda self, text=msg: text})(*err.args)
            except Exception:  # arguments that do not load, a class whose constructor wants more
                err = RuntimeError(f"{name}: {msg}")
            raise err
        if "bad" in reply:  # every text of a reply is the candidate's: capped before it is kept
            state["gone"] = f"returned a value that is not plain ({str(reply['bad'])[:200]})"
        elif "fatal" in reply:
            state["gone"] = f"raised {str(reply['fatal'])[:60]}"
        else:
            state["gone"] = str(reply.get("gone", "the candidate failed"))[:300]
        raise CandidateGone(state["gone"])

    entry = job.get("entry_point")
    ns = _module("__main__")  # test code runs as a script: its `if __name__ == "__main__":` block runs
    try:
        if job.get("setup"):
            exec(_compile(job["setup"], "<setup>"), ns)
        if entry:
            ns[entry] = call
        tree = ast.parse(job.get("code") or "", "<tests>")
    except BaseException as e:
        out.write(plain.encode({"setup_error": f"test setup failed: {_error_line(e)}"}))
        return 0
    runs: list = []  # the unittest results and doctest runners of the statement running
    _watch_runners(job.get("code") or "", runs)
    steps: list = list(tree.body)
    defines_check = any(isinstance(n, ast.FunctionDef) and n.name == "check" for n in steps)
    if defines_check and not _calls_check(steps):
        steps.append("check")
    n_tests = sum(1 for node in steps if node == "check" or _is_test(node))
    out.write(plain.encode({"tests": n_tests}))
    test_index, pending, pending_kind = 0, None, None
    for node in steps:
        is_test = node == "check" or _is_test(node)
        out.write(plain.encode({"start": min(test_index, max(n_tests - 1, 0))}))
        uncrossed = None  # what kind of value this step could not pass to the program, if any
        try:
            runs.clear()
            if node == "check":
                ns["check"](call if entry else None)
            else:
                exec(compile(ast.Module([node], []), "<tests>", "exec", dont_inherit=True), ns)
            passed, reason = _reported(runs)
        except AssertionError:
            passed, reason = False, "assertion failed"
        except SystemExit as e:  # the test code's own exit (unittest.main()): 0 passes, anything else fails
            status = _exit_code(e)
            passed, reason = status == 0, "passed" if status == 0 else f"the tests exited with status {status}"
        except Uncrossable as e:
            passed, reason, uncrossed = False, str(e), e.kind
        except CandidateGone as e:
            passed, reason = False, str(e)
        except BaseException as e:
            passed, reason = False, _error_line(e)
        if is_test:
            if pending:  # the definition that failed before it is the cause
                passed, reason, uncrossed = False, pending, pending_kind
            pending = pending_kind = None
            out.write(plain.encode({"result": test_index, "passed": passed, "reason": reason,
                                    **({"uncrossable": uncrossed} if uncrossed else {})}))
            test_index += 1
        elif not passed:
            if not state["called"]:
                out.write(plain.encode({"setup_error": f"test code failed at line {node.lineno}: {reason}"}))
                return 0
            pending, pending_kind = f"test code failed at line {node.lineno}: {reason}", uncrossed
    if pending and n_tests:  # a definition after the last test failed: so does the last test
        out.write(plain.encode({"result": n_tests - 1, "passed": False, "reason": pending,
                                **({"uncrossable": pending_kind} if pending_kind else {})}))
    out.write(plain.encode({"done": True}))
    return 0


# ---------------------------------------------------------------- the server loop


def _probe_child(plan: layers.Plan) -> dict:
    """In a probe child that has entered every layer: can a run import from each of the grader's
    import roots (a file read in each, and a module not loaded yet), and can it write there?"""
    import importlib

    writable = []
    for root in plan.roots:
        where = layers.run_path(plan, root)
        names = sorted(os.listdir(where))
        sample = next((n for n in names if os.path.isfile(os.path.join(where, n))), None)
        if sample:
            with open(os.path.join(where, sample), "rb") as f:
                f.read(1)
        try:
            fd = os.open(os.path.join(where, ".evalkit-probe"), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except OSError:
            continue
        os.close(fd)
        os.unlink(os.path.join(where, ".evalkit-probe"))
        writable.append(root)
    importlib.import_module("plistlib")  # not preloaded: a real import from the standard library
    return {"ok": True, "writable": writable}


def _probe(plan: layers.Plan, limits: layers.RunLimits) -> tuple[str | None, list[str]]:
    """Fork trial children until every layer left in the plan can be entered; record the others as
    missing. Returns (why runs cannot work here or None, import roots runs could write to).

    A layer that cannot be entered is left out and reported. A run that enters its layers but cannot
    import from the grader's environment is not fixed by dropping a layer (that would leave it more
    privilege than reported): the sandbox says it cannot run. Neither can it run as root: a server
    whose uid drop fails stops there."""
    for _ in range(len(layers.OPTIONAL_LAYERS) + 1):
        r, w = os.pipe()
        workdir, lock = _mkworkdir(plan)
        pid = os.fork()
        if pid == 0:
            os.close(r)
            try:
                layers.enter(plan, limits, (0, 1, 2, w), workdir)
                result = _probe_child(plan)
            except layers.LayerError as e:
                result = {"layer": e.layer, "error": str(e)}
            except BaseException as e:
                result = {"imports": f"{type(e).__name__}: {e}"}
            os.write(w, json.dumps(result).encode())
            os._exit(0)
        os.close(w)
        with os.fdopen(r, "rb") as f:
            got = f.read()
        os.waitpid(pid, 0)
        _rmworkdir(workdir, lock)
        result = json.loads(got) if got.startswith(b"{") else {"imports": "the probe process died"}
        if result.get("ok"):
            return None, result["writable"]
        if "imports" in result:
            why = str(result["imports"])
            if "MemoryError" in why or "failed to map segment" in why or "Cannot allocate memory" in why:
                return (f"a run cannot start within memory_mb {limits.memory_mb}: the interpreter and its modules "
                        f"need more address space (give 64 or more; {why[:200]})"), []
            return (f"runs cannot import from the grader's Python environment with the layers "
                    f"{', '.join(plan.layers) or 'none'} ({why})"), []
        layer = result["layer"]
        if layer == "uid_drop" or layer not in plan.layers:
            return f"cannot enter the {layer} layer ({result['error']})", []
        plan.layers.remove(layer)
        plan.missing[layer] = f"probe failed: {result['error']}"
    return "the layers did not settle", []


WORKDIR_PREFIX = "evalkit-run-"  # without a mount namespace a run works in /tmp/evalkit-run-*
SWEEP_AFTER_S = 60.0  # an unlocked run directory changed more recently may be a live run of an older evalkit


def _mkworkdir(plan: layers.Plan) -> tuple[str, int]:
    """A run's private directory (none with a mount namespace: its tmpfs is the run's own), and an fd
    holding a lock on it for as long as this server uses or removes it, so a sweep (sweep_workdirs)
    leaves it alone. Returns ("", -1) when no directory is needed."""
    if "mountns" in plan.layers:
        return "", -1
    import fcntl
    import tempfile

    while True:
        path = tempfile.mkdtemp(prefix=WORKDIR_PREFIX)
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            st = os.stat(path, follow_symlinks=False)
            if (st.st_dev, st.st_ino) == (os.fstat(fd).st_dev, os.fstat(fd).st_ino):
                break
        except OSError:  # a sweep took it between mkdtemp and the lock: it removes it; make another
            pass
        os.close(fd)
    if "uid_drop" in plan.layers:  # the run's own uid works in it; else it stays this user's alone (mkdtemp's 0700)
        os.chmod(path, 0o777)
    return path, fd


class Remover:
    """Removes finished runs' directories in a thread of the server, after their exit was reported:
    a program that fills its directory with millions of entries delays nothing but its own removal
    (never its verdict, never the next run). Each directory's lock is released once it is gone."""

    def __init__(self) -> None:
        import queue

        self.queue: queue.SimpleQueue = queue.SimpleQueue()
        self.thread = None

    def put(self, path: str, lock_fd: int) -> None:
        if not path:
            return
        if self.thread is None:
            import threading

            self.thread = threading.Thread(target=self._loop, name="evalkit-remover", daemon=True)
            self.thread.start()
        self.queue.put((path, lock_fd))

    def _loop(self) -> None:
        while (item := self.queue.get()) is not None:
            path, lock_fd = item
            try:
                remove_tree(path)
            finally:
                os.close(lock_fd)

    def close(self) -> None:
        """Finish what is queued (the grader gives a closing server a few seconds, then kills it; a
        directory left half removed is the next server's sweep's)."""
        if self.thread is not None:
            self.queue.put(None)
            self.thread.join()


def sweep_workdirs(remover: Remover) -> None:
    """Queue for removal every run directory of this user whose server is gone (killed mid-removal,
    or by the grader): a live server holds a lock on each of its own."""
    import fcntl
    import tempfile
    import time

    top = tempfile.gettempdir()
    try:
        names = [n for n in os.listdir(top) if n.startswith(WORKDIR_PREFIX)]
    except OSError:
        return
    for name in names:
        try:
            fd = os.open(os.path.join(top, name), os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            st = os.fstat(fd)
            if st.st_uid != os.geteuid() or time.time() - st.st_mtime < SWEEP_AFTER_S:
                raise OSError("another user's, or maybe in use")
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # a live server's, or not ours to remove
            os.close(fd)
            continue
        remover.put(os.path.join(top, name), fd)


def _rmworkdir(path: str, lock_fd: int) -> None:
    if path:
        remove_tree(path)
        os.close(lock_fd)


class _Names:
    """A stack of directory names, packed in one buffer: a directory of a million subdirectories costs
    a few megabytes here, not a list of a million str objects."""

    def __init__(self) -> None:
        self.buf = bytearray()

    def push(self, name: str) -> None:
        self.buf += os.fsencode(name) + b"\0"

    def pop(self) -> str | None:
        if not self.buf:
            return None
        start = self.buf.rfind(b"\0", 0, len(self.buf) - 1) + 1
        name = os.fsdecode(bytes(self.buf[start:-1]))
        del self.buf[start:]
        return name


def _clear(fd: int) -> _Names:
    """Unlink everything in the open directory but its subdirectories; return their names. Each
    directory is listed once, so a removal is linear in the entries, however wide or deep the tree."""
    subdirs = _Names()
    with os.scandir(fd) as it:
        for entry in it:
            if entry.is_dir(follow_symlinks=False):
                subdirs.push(entry.name)
            else:
                try:
                    os.unlink(entry.name, dir_fd=fd)
                except FileNotFoundError:
                    pass
    return subdirs


def remove_tree(path: str) -> None:
    """Remove a directory tree of any depth and width: iterative, by directory fds (a path 3,000 levels
    deep is longer than the kernel takes, and a recursive walk runs out of Python's stack), one fd
    open at a time, never following a symlink, linear in the entries. Runs after every process of
    the run is gone, so nothing changes the tree meanwhile."""
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
    try:
        fd = os.open(path, flags)
    except OSError:
        return
    _writable(fd)  # the directories from `path` down to the one open
    stack: list[tuple[str, _Names]] = []  # (the open directory's name, its parent's subdirectories left)
    try:
        todo = _clear(fd)
        while True:
            sub = todo.pop()
            if sub is not None:
                try:
                    child = os.open(sub, flags, dir_fd=fd)
                except PermissionError:  # a run's own mode 000 directory (the server owns it, or is root)
                    os.chmod(sub, 0o700, dir_fd=fd)
                    child = os.open(sub, flags, dir_fd=fd)
                _writable(child)
                os.close(fd)
                fd = child
                stack.append((sub, todo))
                todo = _clear(fd)
                continue
            if not stack:
                break
            name, todo = stack.pop()
            parent = os.open("..", flags, dir_fd=fd)
            os.close(fd)
            fd = parent
            os.rmdir(name, dir_fd=fd)
        os.close(fd)
        fd = -1
        os.rmdir(path)
    except OSError:
        pass
    finally:
        if fd >= 0:
            os.close(fd)


def _writable(fd: int) -> None:
    try:
        os.fchmod(fd, 0o700)
    except OSError:
        pass


def _children() -> list[int]:
    out = []
    try:
        for tid in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{tid}/children") as f:
                out += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return out


def _reap_strays(plan: layers.Plan) -> None:
    """Kill whatever the run left behind (a setsid orphan) and reap it: we are its subreaper, and its
    cgroup (when there is one) lists it."""
    import time

    for _ in range(100):
        pids = set(layers.cgroup_pids(plan)) | set(_children())
        pids.discard(os.getpid())
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        try:
            while os.waitpid(-1, os.WNOHANG)[0] > 0:
                pass
        except ChildProcessError:
            pass
        if not pids:
            return
        time.sleep(0.002)


def _kill(pid: int) -> None:
    for fn, target in ((os.killpg, pid), (os.kill, pid)):
        try:
            fn(target, signal.SIGKILL)
        except OSError:
            pass


def _wait(sock: socket.socket, pid: int, max_s: float) -> tuple[int, bool]:
    """Wait for the child; kill it when the parent asks, goes away, or `max_s` passes.
    Returns (wait status, parent still there)."""
    import select
    import time

    pidfd = os.pidfd_open(pid)
    end = time.monotonic() + max_s
    alive = True
    try:
        while True:
            left = end - time.monotonic()
            if left <= 0:
                _kill(pid)
                left = 5.0
            ready, _, _ = select.select([pidfd, sock], [], [], left)
            if pidfd in ready:
                break
            if sock in ready:
                msg = sock.recv(65536)
                if not msg:
                    alive = False
                _kill(pid)
    finally:
        os.close(pidfd)
    return os.waitpid(pid, 0)[1], alive


def main(argv: list[str]) -> int:
    # an ignored SIGCHLD survives exec (a trainer may set it): our children would be reaped before we wait
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    cfg = json.loads(argv[1])
    sock = socket.socket(fileno=int(cfg["sock_fd"]))
    _preload()
    import ctypes

    ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: orphans come back to us
    limits = layers.RunLimits(**cfg.get("limits", {}))
    plan = layers.make_plan(list(cfg["layers"]), cfg["slot"], cfg.get("landlock_abi_max"))
    if "cgroup" in plan.layers:
        try:  # the server's own memory counts too: leave room for it above a run's limit
            layers.set_cgroup_limits(plan, (limits.memory_mb + 256) << 20, limits.pids)
            layers.join_cgroups(plan)
        except OSError as e:
            plan.layers.remove("cgroup")
            plan.missing["cgroup"] = f"cannot set limits or join ({e})"
    layers.enter_server_netns(plan)
    layers.reach_roots(plan)
    fatal, writable = _probe(plan, limits)
    import gc

    gc.collect()
    gc.freeze()  # children never scan (and so never copy) the server's own objects
    sock.send(plain.encode({"hello": True, "layers": plan.layers, "missing": plan.missing, "fatal": fatal,
                            "writable_roots": writable, "roots": plan.roots, "is_root": plan.is_root,
                            "landlock_abi": plan.landlock_abi}))
    if fatal:
        layers.remove_cgroups(plan)
        return 0
    remover = Remover()
    sweep_workdirs(remover)
    try:
        while True:
            msg, fds, _, _ = socket.recv_fds(sock, 65536, 8)
            if not msg:
                return 0
            req = json.loads(msg)
            if "spawn" not in req:
                for fd in fds:
                    os.close(fd)
                continue
            run_limits = layers.RunLimits(**{**limits.__dict__, **req.get("limits", {})})
            workdir, lock = _mkworkdir(plan)
            pid = os.fork()
            if pid == 0:
                sock.close()
                _child(plan, run_limits, fds, workdir)
            for fd in fds:
                os.close(fd)
            sock.send(plain.encode({"pid": pid}))
            status, alive = _wait(sock, pid, float(req.get("max_s", 600)))
            _reap_strays(plan)
            remover.put(workdir, lock)  # removed meanwhile: however long that takes, it is never the verdict
            if not alive:
                return 0
            sock.send(plain.encode({"exit": pid, "code": os.waitstatus_to_exitcode(status)}))
    except (ConnectionError, OSError):
        return 0
    finally:
        remover.close()
        layers.remove_cgroups(plan)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
