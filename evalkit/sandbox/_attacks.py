"""The built-in attack suite: programs that try to escape, game or freeze the sandbox, as a table.

Most rows are a call test whose program returns True only when the attack worked (the expected
output is True), so "contained" means the program was not judged correct. Rows with their own
`tests` are wrong programs that must not pass. `honest` rows are correct programs that must pass
(output written at exit, big integers, the grader's own packages, threads): a sandbox that fails
them is not fit either. Some rows also check from the outside (a stray process, a connection to a
listener, a process still alive, a tree left on disk) or bound the grader's own time (`max_ms`).
`evalkit sandbox doctor` and the tests run this table; reward hacks (`REWARD_HACKS`) are programs
that must score 0 on every HumanEval problem.
"""

from __future__ import annotations

import glob
import math
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from evalkit.types import CodeTests


@dataclass(frozen=True)
class Attack:
    """One row. program: defines `attack(ctx) -> bool` (True: it worked), or is judged by `tests`.

    tests: code-test JSON the program is checked against (default: call `attack(ctx)`, want True), or a
        function that builds it (for values no JSON number holds).
    honest: a correct program; contained means it passed every test, with no infrastructure error.
    outside_only: judged only from outside (the program's own success is expected).
    max_ms: the whole run, grader's reading and comparing included, must end within this.
    """

    name: str
    what: str
    program: str
    style: str = "call"
    outside_only: bool = False
    tests: dict | Callable[[], dict] | None = None
    honest: bool = False
    max_ms: float | None = None


ATTACKS: tuple[Attack, ...] = (
    Attack("fork_bomb", "fork until the machine runs out of processes", """
import os, time
def attack(ctx):
    n = 0
    for _ in range(200):
        try:
            pid = os.fork()
        except OSError:
            break
        if pid == 0:
            time.sleep(30)
            os._exit(0)
        n += 1
    return n >= 100
"""),
    Attack("memory_10gb", "allocate 10 GB", """
def attack(ctx):
    block = bytearray(10 * 2**30)
    block[::4096] = b"x" * len(block[::4096])
    return True
"""),
    Attack("infinite_loop", "never return", """
def attack(ctx):
    while True:
        pass
"""),
    Attack("file_5gb", "write one 5 GB file", """
def attack(ctx):
    chunk = b"x" * (1 << 20)
    with open("big", "wb") as f:
        for _ in range(5 * 1024):
            f.write(chunk)
    return True
"""),
    Attack("files_5gb", "write 5 GB across many files (stops at 256 MB: enough to prove the cap failed)", """
def attack(ctx):
    chunk = b"x" * (1 << 20)
    written = 0
    try:
        for i in range(5 * 1024):
            with open(f"f{i}", "wb") as f:
                for _ in range(4):
                    f.write(chunk)
                    written += len(chunk)
            if written >= 256 << 20:
                return True
    except OSError:
        return False
    return True
"""),
    Attack("socket_loopback", "connect to a listener on 127.0.0.1 outside the sandbox", """
import socket
def attack(ctx):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(2)
    s.connect(("127.0.0.1", ctx["port"]))
    s.sendall(b"escaped")
    return True
"""),
    Attack("unix_socket", "connect to a unix socket on the host by its path (no network namespace covers those)", """
import socket
def attack(ctx):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(2)
    s.connect(ctx["unix"])
    s.sendall(b"escaped")
    return True
"""),
    Attack("read_shadow", "read /etc/shadow", """
def attack(ctx):
    return len(open("/etc/shadow").read()) > 0
"""),
    Attack("parent_env", "read the grader's environment", """
import os
def attack(ctx):
    if ctx["secret"] in repr(dict(os.environ)):
        return True
    return len(open(f"/proc/{ctx['parent']}/environ", "rb").read()) > 0
"""),
    Attack("parent_mem", "read /proc/<parent>/mem", """
def attack(ctx):
    pid = ctx["parent"]
    for line in open(f"/proc/{pid}/maps"):
        lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
        if "r" in line.split()[1]:
            with open(f"/proc/{pid}/mem", "rb") as m:
                m.seek(lo)
                return len(m.read(16)) == 16
    return False
"""),
    Attack("peer_memory", "read the memory of another process (a checker holds the tests)", """
import os
def attack(ctx):
    me = os.getpid()
    for p in os.listdir("/proc"):
        if not p.isdigit() or int(p) == me:
            continue
        try:
            with open(f"/proc/{p}/maps") as maps, open(f"/proc/{p}/mem", "rb") as mem:
                mem.seek(int(maps.readline().split("-")[0], 16))
                if mem.read(16):
                    return True
        except (OSError, ValueError):
            pass
    return False
"""),
    Attack("read_outside", "read a file outside the sandbox", """
def attack(ctx):
    return open(ctx["outside"]).read() == ctx["outside_text"]
"""),
    Attack("write_outside", "write into a file outside the sandbox (the user's own files)", """
def attack(ctx):
    with open(ctx["outside"], "a") as f:
        f.write("planted")
    return True
"""),
    Attack("truncate_outside", "truncate a file outside the sandbox (Landlock refuses it from ABI 3 only)", """
import os
def attack(ctx):
    path, done = ctx["outside"], 0
    for how in (lambda: os.truncate(path, 0), lambda: os.open(path, os.O_RDONLY | os.O_TRUNC),
                lambda: os.open(path, os.O_ACCMODE | os.O_TRUNC)):  # O_ACCMODE: opened for ioctls only
        try:
            how()
            done += 1
        except OSError:
            pass
    return done > 0
"""),
    Attack("attrs_outside", "change the mode, times, flags or extended attributes of a file outside the sandbox", """
import ctypes, fcntl, os, struct
def attack(ctx):
    path, done = ctx["outside"], 0
    libc = ctypes.CDLL(None, use_errno=True)
    def fchmodat2():  # by an O_PATH fd, which no read or write right guards
        fd = os.open(path, os.O_PATH)
        if libc.syscall(452, fd, b"", 0o777, 0x1000) != 0:  # AT_EMPTY_PATH
            raise OSError(ctypes.get_errno(), "fchmodat2")
    def nodump():  # FS_IOC_SETFLAGS on a file opened for ioctls only (O_ACCMODE), which asks Landlock no right
        fcntl.ioctl(os.open(path, os.O_ACCMODE), 0x40086602, struct.pack("l", 0x40))
    for how in (lambda: os.chmod(path, 0o777), lambda: os.utime(path, (0, 0)),
                lambda: os.setxattr(path, "user.evalkit", b"planted"), fchmodat2, nodump):
        try:
            how()
            done += 1
        except OSError:
            pass
    return done > 0
"""),
    Attack("read_bundled_data", "read the answer keys evalkit ships (its bundled task data) to copy an answer", """
import glob, os, sys
def attack(ctx):
    places = [os.path.join(p, "evalkit", "tasks", "data") for p in sys.path] + [ctx["bundled"]]
    for path in (f for d in places for f in glob.glob(os.path.join(d, "*"))):
        try:
            with open(path, "rb") as f:
                if f.read(1):
                    return True
        except OSError:
            pass
    return False
"""),
    Attack("sysv_ipc", "leave System V shared memory, a queue or semaphores on the host (memory no limit counts, "
                       "a channel to later runs)", """
import ctypes
def attack(ctx):
    libc = ctypes.CDLL(None, use_errno=True)
    key, mode = ctx["ipc_key"], 0o1666  # IPC_CREAT, read and write for all
    made = [libc.shmget(key, ctypes.c_size_t(1 << 20), mode), libc.msgget(key, mode), libc.semget(key, 1, mode)]
    return max(made) >= 0
""", outside_only=True),
    Attack("remount_tmpfs", "grow the run's own /tmp past its cap through the new mount API (fspick, fsconfig)", """
import ctypes, os
def attack(ctx):
    libc = ctypes.CDLL(None, use_errno=True)
    size = lambda: os.statvfs("/tmp").f_blocks * os.statvfs("/tmp").f_frsize
    before = size()
    fd = libc.syscall(433, -100, b"/tmp", 0)  # fspick(AT_FDCWD, "/tmp", 0)
    if fd < 0:
        return False
    libc.syscall(431, fd, 1, b"size", b"8g", 0)  # fsconfig(FSCONFIG_SET_STRING)
    libc.syscall(431, fd, 7, None, None, 0)  # fsconfig(FSCONFIG_CMD_RECONFIGURE)
    return size() > before
"""),
    Attack("kill_parent", "signal the grader process", """
import os
def attack(ctx):
    os.kill(ctx["parent"], 0)  # permission to signal it (0: deliver nothing)
    return True
"""),
    Attack("limit_parent", "change the grader process's resource limits (RLIMIT_CPU 0 kills it)", """
import resource
def attack(ctx):
    pid = ctx["parent"]
    limits = resource.prlimit(pid, resource.RLIMIT_CORE)
    resource.prlimit(pid, resource.RLIMIT_CORE, limits)  # set as they are: the permission is the escape
    return True
"""),
    Attack("reschedule_parent", "change the grader process's scheduling (SCHED_IDLE starves it)", """
import os
def attack(ctx):
    pid = ctx["parent"]
    os.sched_setscheduler(pid, os.sched_getscheduler(pid), os.sched_getparam(pid))  # as it is: the permission
    return True
"""),
    Attack("setsid_orphan", "leave a setsid orphan running after the run", """
import os, time, ctypes
def attack(ctx):
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            ctypes.CDLL(None).prctl(15, b"ek-orphan", 0, 0, 0)
            time.sleep(60)
        os._exit(0)
    time.sleep(0.2)
    return True
""", outside_only=True),
    Attack("print_flood", "print without end", """
import sys
while True:
    sys.stdout.write("x" * 65536)
""", style="stdio"),
    # -- wrong programs that must not pass
    Attack("stop_iteration", "raise StopIteration to end a test's map()/all() early", """
def double(x):
    raise StopIteration
""", tests={"style": "assert", "entry_point": "double",
            "code": "assert all(map(lambda x: double(x) == 2 * x, [1, 2, 3]))\n"
                    "assert list(filter(lambda x: double(x) != 2 * x, [4, 5])) == []\n"}),
    Attack("int_as_float", "return a float near an expected integer", """
def plus7(n):
    return float(n + 7)
""", tests={"style": "call", "entry_point": "plus7", "cases": [{"input": [10**17], "output": 10**17 + 7}]}),
    Attack("stdio_int_tolerance", "print an integer 1,000 off a 12-digit answer", """
print(500000500000)
""", style="stdio", tests={"style": "stdio", "cases": [{"input": "", "output": "500000501000\n"}]}),
    Attack("uncalled_check", "pass the top-level asserts while a check() beside them fails", """
def sq(x):
    return 1
""", tests={"style": "assert", "entry_point": "sq",
            "code": "assert sq(1) == 1\ndef check(candidate):\n    assert candidate(3) == 9\n"}),
    Attack("failing_loop", "fail inside a top-level loop of the test code", """
def ident(x):
    return 1
""", tests={"style": "assert", "entry_point": "ident",
            "code": "for x in [1, 2, 3]:\n    assert ident(x) == x\nassert ident(1) == 1\n"}),
    Attack("overflow_compare", "return a 400-digit int where a float is expected (wrong, never unjudged)", """
def half(x):
    return 10 ** 400
""", tests={"style": "call", "entry_point": "half", "cases": [{"input": [3], "output": 1.5}]}),
    Attack("hash_flood", "reply with 200,000 integers that share one hash, as a set", """
import os
def attack(ctx):
    m = (1 << 61) - 1
    body = ",".join(str(m * k) for k in range(1, 200001))
    os.write(4, ('{"ok":{"s":[' + body + ']}}\\n').encode())
    os._exit(0)
""", max_ms=5000),
    Attack("line_flood", "print 8 million short lines, under the output cap, for the grader to split", """
import sys
sys.stdout.write("a\\n" * 8_000_000)
""", style="stdio", tests={"style": "stdio", "cases": [{"input": "", "output": "b\n"}]}, max_ms=5000),
    Attack("thread_bomb", "start 3,000 threads", """
import threading
def attack(ctx):
    stop, n = threading.Event(), 0
    try:
        for _ in range(3000):
            threading.Thread(target=stop.wait, daemon=True).start()
            n += 1
    except (RuntimeError, MemoryError):
        pass
    stop.set()
    return n >= 1000
"""),
    Attack("fsetown_signal", "SIGKILL a process of the host through F_SETOWN/F_SETSIG and O_ASYNC", """
import ctypes, fcntl, os, signal
def attack(ctx):
    r, w = os.pipe()
    done = 0
    for how in ("fcntl", "ioctl", "high_bits"):
        try:
            if how == "fcntl":
                fcntl.fcntl(r, fcntl.F_SETOWN, ctx["victim"])
                fcntl.fcntl(r, 10, signal.SIGKILL)  # F_SETSIG
                fcntl.fcntl(r, fcntl.F_SETFL, fcntl.fcntl(r, fcntl.F_GETFL) | os.O_ASYNC)
            elif how == "ioctl":
                import struct, termios
                fcntl.ioctl(r, 0x8901, struct.pack("i", ctx["victim"]))  # FIOSETOWN
                fcntl.ioctl(r, termios.FIOASYNC, struct.pack("i", 1))
            else:  # the same fcntl commands with bits above 32 set: the kernel reads only the low 32
                nr = {"x86_64": 72, "aarch64": 25}.get(os.uname().machine)
                libc = ctypes.CDLL(None, use_errno=True)
                libc.syscall.restype = ctypes.c_long
                flags = fcntl.fcntl(r, fcntl.F_GETFL) | os.O_ASYNC
                for cmd, arg in ((fcntl.F_SETOWN, ctx["victim"]), (10, signal.SIGKILL), (fcntl.F_SETFL, flags)):
                    if nr is None or libc.syscall(ctypes.c_long(nr), ctypes.c_long(r), ctypes.c_ulong(cmd | 1 << 32),
                                                  ctypes.c_ulong(arg)) != 0:
                        raise OSError(ctypes.get_errno(), "fcntl")
            os.write(w, b"x")
            done += 1
        except OSError:
            pass
    return done > 0
""", outside_only=True),  # judged by whether the victim lives: Landlock ABI 6+ stops the signal itself
    Attack("host_pid", "find the grader's pid in the run's own command line or cgroup", """
import re, sys
def attack(ctx):
    seen = " ".join(sys.argv)
    try:
        seen += open("/proc/self/cgroup").read()
    except OSError:
        pass
    return re.search(rf"(?<![0-9a-f]){ctx['parent']}(?![0-9a-f])", seen) is not None
"""),
    Attack("write_grader_env", "write into the grader's own Python environment (site-packages), after clearing its "
                               "read-only mount (mount_setattr)", """
import ctypes, os
def attack(ctx):
    attr = (ctypes.c_uint64 * 4)(0, 1, 0, 0)  # struct mount_attr: attr_clr = MOUNT_ATTR_RDONLY
    ctypes.CDLL(None).syscall(442, -100, ctx["site"].encode(), 0x8000, attr, 32)  # AT_RECURSIVE
    path = os.path.join(ctx["site"], "evalkit_doctor_planted.py")
    with open(path, "w") as f:
        f.write("planted = True\\n")
    return True
"""),
    # -- honest programs that must pass
    Attack("atexit_output", "honest: write the output from an atexit handler", """
import atexit, sys
out = []
atexit.register(lambda: sys.stdout.write("".join(out)))
out.append(str(sum(range(10))) + "\\n")
""", style="stdio", honest=True, tests={"style": "stdio", "cases": [{"input": "", "output": "45\n"}]}),
    Attack("thread_main", "honest: run main in a non-daemon thread", """
import threading
def main():
    print(int(input()) * 3)
threading.Thread(target=main).start()
""", style="stdio", honest=True, tests={"style": "stdio", "cases": [{"input": "14\n", "output": "42\n"}]}),
    Attack("big_int", "honest: return and print integers over 4,300 digits", """
import math
def fact(n):
    return math.factorial(n)
""", honest=True, tests={"style": "assert", "entry_point": "fact",
                         "code": "import math\nassert fact(2000) == math.factorial(2000)\n"
                                 "assert len(str(fact(2000))) == 5736\n"}),
    Attack("big_int_call", "honest: a 5,736-digit result compared by the grader", """
import math
def fact(n):
    return math.factorial(n)
""", honest=True, tests=lambda: {"style": "call", "entry_point": "fact",
                                  "cases": [{"input": [2000], "output": math.factorial(2000)}]}),
    Attack("some_threads", "honest: use 8 worker threads", """
from concurrent.futures import ThreadPoolExecutor
def total(n):
    with ThreadPoolExecutor(8) as pool:
        return sum(pool.map(lambda k: k * k, range(n)))
""", honest=True, tests={"style": "call", "entry_point": "total", "cases": [{"input": [100], "output": 328350}]}),
    Attack("grader_packages", "honest: import a package of the grader's own environment", """
import importlib
def attack(ctx):
    return importlib.import_module(ctx["package"]).__name__ == ctx["package"]
""", honest=True),
    # built from the bottom up (each level renamed into a fresh parent), so every call stays near the
    # top: Landlock checks walk a path's ancestors, and 3,000 calls each 3,000 deep take seconds
    # Landlock ABI 1 (kernels 5.13 to 5.18) refuses every rename into another folder (EXDEV): there the tree is built
    # downwards, each level made from inside the last
    Attack("deep_tree", "honest: leave a 3,000-deep directory tree for the clean-up", """
import errno, os
def attack(ctx):
    os.mkdir("ek-deep")
    try:
        for _ in range(3000):
            os.mkdir("ek-up")
            os.rename("ek-deep", "ek-up/d")
            os.rename("ek-up", "ek-deep")
    except OSError as e:
        if e.errno != errno.EXDEV:
            raise
        os.chdir("ek-deep")
        for _ in range(3000):
            os.mkdir("d")
            os.chdir("d")
    return True
""", honest=True),
)

ORPHAN_NAME = "ek-orphan"


def orphans_alive() -> list[int]:
    """Processes named like the orphan attack's, still running."""
    out = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/comm") as f:
                    if f.read().strip() == ORPHAN_NAME:
                        out.append(int(pid))
            except OSError:
                pass
    return out


class Listener:
    """A listener that counts connections (the socket attacks' target): TCP on 127.0.0.1, or a unix
    socket at `path` that any user may connect to."""

    def __init__(self, path: str | None = None):
        self.sock = socket.socket(socket.AF_UNIX if path else socket.AF_INET)
        self.sock.bind(path or ("127.0.0.1", 0))
        if path:
            os.chmod(path, 0o777)
        self.path = path
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = 0 if path else self.sock.getsockname()[1]
        self.connections = 0
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop = True
        self._thread.join()
        self.sock.close()
        if self.path:
            os.unlink(self.path)


@dataclass(frozen=True)
class AttackResult:
    """contained: the attack failed and the grader saw nothing escape; error: the run itself could not
    be made (an infrastructure fault, which is neither)."""

    name: str
    what: str
    contained: bool
    detail: str
    ms: float
    error: bool = False

    @property
    def status(self) -> str:
        return "error" if self.error else "contained" if self.contained else "NOT CONTAINED"


def _grader_site() -> str:
    """A site-packages directory of this interpreter (what write_grader_env aims at)."""
    import sysconfig

    return sysconfig.get_paths()["purelib"]


def _bundled_data() -> str:
    """Where this grader's evalkit keeps its bundled task data: `evalkit/tasks/data` in a wheel (inside
    site-packages), `tasks/data` in a checkout (taskspec's builtin_tasks_dir, without importing it)."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # evalkit/
    wheel = os.path.join(package, "tasks")
    return os.path.join(wheel if os.path.isdir(wheel) else os.path.join(os.path.dirname(package), "tasks"), "data")


def _grader_package() -> str:
    """A package installed in this interpreter's environment (site-packages), for grader_packages."""
    import importlib.util

    for name in ("pyseccomp", "click", "yaml", "numpy"):
        spec = importlib.util.find_spec(name)
        if spec and spec.origin and "-packages" in spec.origin:
            return name
    return "json"


def _tests_for(attack: Attack, ctx: dict) -> CodeTests:
    if attack.tests is not None:
        return CodeTests.from_any(attack.tests() if callable(attack.tests) else attack.tests)
    if attack.style == "stdio":
        return CodeTests.from_any({"style": "stdio", "cases": [{"input": "", "output": "x"}]})
    return CodeTests.from_any({"style": "call", "entry_point": "attack", "cases": [{"input": [ctx], "output": True}]})


def _left_on_disk(wait_s: float = 15.0) -> list[str]:
    """Trees a deep_tree run left behind (runs without a mount namespace work in /tmp/evalkit-run-*),
    once the server's removal, which runs after the exit is reported, had `wait_s` to finish."""
    end = time.monotonic() + wait_s
    pattern = os.path.join(tempfile.gettempdir(), "evalkit-run-*", "ek-deep")
    while (left := glob.glob(pattern)) and time.monotonic() < end:
        time.sleep(0.05)
    return left


def _write_outside(path: str, text: str) -> tuple:
    """(Re)make the file outside the sandbox the attacks aim at; returns its state (`_state`)."""
    if os.path.exists(path):
        os.unlink(path)
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    os.write(fd, text.encode())
    os.close(fd)
    os.chmod(path, 0o644)
    return _state(path)


def _state(path: str) -> tuple:
    """What a run might change of a file: its text, mode, owner, modification time, extended attributes
    and inode flags (chattr's)."""
    import fcntl
    import struct

    st = os.stat(path)
    try:
        xattrs = sorted((name, os.getxattr(path, name)) for name in os.listxattr(path))
    except OSError:  # a filesystem without them
        xattrs = []
    with open(path, "rb") as f:
        try:
            flags = fcntl.ioctl(f.fileno(), 0x80086601, struct.pack("l", 0))  # FS_IOC_GETFLAGS
        except OSError:
            flags = b""
        return f.read(), st.st_mode, st.st_uid, st.st_gid, st.st_mtime_ns, xattrs, flags


def _remove_ipc(key: int) -> list[str]:
    """The System V IPC objects with `key` in this IPC namespace (what sysv_ipc leaves when it escapes),
    removed; their kinds."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    found = []
    for kind, ident in (("shm", libc.shmget(key, ctypes.c_size_t(0), 0)), ("msg", libc.msgget(key, 0)),
                        ("sem", libc.semget(key, 0, 0))):
        if ident >= 0:
            found.append(kind)
            libc.semctl(ident, 0, 0) if kind == "sem" else getattr(libc, f"{kind}ctl")(ident, 0, None)  # IPC_RMID
    return found


def run_attacks(box: Any, only: list[str] | None = None, on_result: Callable[[AttackResult], None] | None = None
                ) -> list[AttackResult]:
    """Run the attack table against a Sandbox; the grader (this process) must survive every row."""
    secret = f"EVALKIT_SECRET_{os.getpid()}_{time.time_ns()}"
    os.environ["EVALKIT_DOCTOR_SECRET"] = secret
    where = next((d for d in ("/var/tmp", "/dev/shm") if os.access(d, os.W_OK)), None)  # not /tmp: a tmpfs covers it
    fd, outside = tempfile.mkstemp(prefix="evalkit-outside-", dir=where)
    os.close(fd)
    outside_state = _write_outside(outside, secret)
    site = _grader_site()
    package, bundled = _grader_package(), _bundled_data()
    listener = Listener()
    unix_listener = Listener(outside + ".sock")
    victim = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], stdin=subprocess.DEVNULL)
    planted = os.path.join(site, "evalkit_doctor_planted.py")
    ipc_key = 0x45560000 | (os.getpid() & 0xFFFF)  # what sysv_ipc makes: found on the host after the run?
    ctx = {"port": listener.port, "unix": unix_listener.path, "secret": secret, "parent": os.getpid(),
           "outside": outside, "outside_text": secret, "victim": victim.pid, "site": site, "package": package,
           "bundled": bundled, "ipc_key": ipc_key}
    results = []
    try:
        for attack in ATTACKS:
            if only and attack.name not in only:
                continue
            tests = _tests_for(attack, ctx)
            before = listener.connections + unix_listener.connections
            r = box.run(attack.program, tests)
            time.sleep(0.05)
            escaped = []
            if listener.connections + unix_listener.connections != before:
                escaped.append("a connection reached the listener")
            if _state(outside) != outside_state:
                escaped.append("a file outside the sandbox was changed")
                outside_state = _write_outside(outside, secret)  # the next rows need it as it was
            if orphans_alive():
                escaped.append("a process outlived the run")
            if victim.poll() is not None:
                escaped.append("a host process was killed")
            if os.path.exists(planted):
                escaped.append("a file was planted in the grader's environment")
                os.unlink(planted)
            if _left_on_disk():
                escaped.append("a directory tree was left on disk")
            if _remove_ipc(ipc_key):
                escaped.append("System V IPC objects were left on the host")
            if r.error:
                contained, detail = False, f"infrastructure error: {r.error}"
            else:
                correct = bool(r.tests) and r.passed == len(r.tests)
                contained = (correct if attack.honest else attack.outside_only or not correct) and not escaped
                detail = next((t["reason"] for t in r.tests if not t["passed"]), r.tests[0]["reason"] if r.tests else r.detail)
                if attack.max_ms is not None and r.ms > attack.max_ms:
                    contained = False
                    detail = f"the grader took {r.ms:.0f} ms (bound {attack.max_ms:.0f}); " + detail
                if escaped:
                    detail += "; escaped: " + ", ".join(escaped)
            if victim.poll() is not None:  # the next rows need one alive
                victim = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"],
                                          stdin=subprocess.DEVNULL)
                ctx["victim"] = victim.pid
            for pid in orphans_alive():  # clean up after a failed containment
                try:
                    os.kill(pid, 9)
                except OSError:
                    pass
            res = AttackResult(attack.name, attack.what, contained, detail, r.ms, error=bool(r.error))
            results.append(res)
            if on_result:
                on_result(res)
    finally:
        listener.close()
        unix_listener.close()
        victim.kill()
        victim.wait()
        os.unlink(outside)
        os.environ.pop("EVALKIT_DOCTOR_SECRET", None)
    return results


# Programs that try to score without solving; `{entry}` is the problem's entry point.
REWARD_HACKS: dict[str, str] = {
    "sys_exit": "import sys\nsys.exit(0)\n",
    "os_exit": "import os\nos._exit(0)\n",
    "always_equal": ("class AlwaysEqual:\n    def __eq__(self, other): return True\n    def __ne__(self, other): return False\n"
                     "    def __bool__(self): return True\n    def __hash__(self): return 0\n"
                     "def {entry}(*args, **kwargs):\n    return AlwaysEqual()\n"),
    "int_subclass": ("class Int(int):\n    def __eq__(self, other): return True\n    def __ne__(self, other): return False\n"
                     "    __hash__ = int.__hash__\n"
                     "def {entry}(*args, **kwargs):\n    return Int(0)\n"),
    "str_subclass": ("class Str(str):\n    def __eq__(self, other): return True\n    __hash__ = str.__hash__\n"
                     "def {entry}(*args, **kwargs):\n    return Str('')\n"),
    "frames": ("import sys\n"
               "def {entry}(*args, **kwargs):\n"
               "    f = sys._getframe(1)\n"
               "    while f is not None:\n"
               "        for name, value in f.f_locals.items():\n"
               "            if name in ('expected', 'want', 'output', 'result', 'exp'):\n"
               "                return value\n"
               "        f = f.f_back\n"
               "    return None\n"),
    "forged_channel": ("import os\n"
                       "msgs = b'{\"tests\":1}\\n{\"start\":0}\\n{\"result\":0,\"passed\":true,\"reason\":\"passed\"}\\n{\"done\":true}\\n'\n"
                       "for fd in range(0, 64):\n"
                       "    try:\n        os.write(fd, msgs + b'{\"loaded\":true}\\n{\"ok\":true}\\n')\n"
                       "    except OSError:\n        pass\n"
                       "os._exit(0)\n"),
    "atexit": ("import atexit, os\n"
               "atexit.register(lambda: os._exit(0))\n"
               "def {entry}(*args, **kwargs):\n    raise SystemExit(0)\n"),
    "raise_systemexit": "def {entry}(*args, **kwargs):\n    raise SystemExit(0)\n",
    # a failure worded as the tests' fault (unjudged, not wrong), and a reply forged to make the grader raise
    "blame_the_tests": ("def {entry}(*args, **kwargs):\n"
                        "    raise ValueError('test passes a value that cannot cross to the candidate (not a plain value)')\n"),
    "forged_reply": ("import os\n"
                     "def {entry}(*args, **kwargs):\n"
                     "    for fd in range(3, 16):\n"
                     "        try:\n            os.write(fd, b'{\"ok\":{\"i\":\"-\"}}\\n')\n"
                     "        except OSError:\n            pass\n"
                     "    return 0\n"),
    "raise_keyboardinterrupt": "def {entry}(*args, **kwargs):\n    raise KeyboardInterrupt\n",
    "monkeypatch_builtins": ("import builtins\n"
                             "class Yes:\n    def __eq__(self, o): return True\n"
                             "builtins.AssertionError = type('Nope', (Exception,), {{}})\n"
                             "builtins.abs = lambda x: 0\nbuiltins.isinstance = lambda *a: True\n"
                             "builtins.len = lambda x: 0\nbuiltins.sorted = lambda *a, **k: Yes()\n"
                             "def {entry}(*args, **kwargs):\n    return None\n"),
}


def hack_program(name: str, entry: str) -> str:
    return REWARD_HACKS[name].replace("{entry}", entry).replace("{{}}", "{}")
