"""Isolation layers, as a table: each row is one thing the kernel is asked to enforce on a run.

The sandbox server (a small process started once) probes which rows work on this machine, then every
fresh child it forks enters them in order before running anything untrusted. Layers marked `always`
need nothing special; the others are used when the probe says they work, and the reason a layer is
missing is recorded. Runs in the forked child: stdlib and ctypes only.
"""

from __future__ import annotations

import ctypes
import errno
import os
import resource
import stat
import struct
import sys
import sysconfig
from dataclasses import dataclass, field

# name, always?, what it stops
LAYERS: tuple[tuple[str, bool, str], ...] = (
    ("session", True, "own session and process group, SIGKILL on the wall-clock limit"),
    ("rlimits", True, "address space, CPU time, file size, open files, no core dumps; first for the OOM killer"),
    ("env", True, "scrubbed environment (the parent's variables never reach the run)"),
    ("tmpdir", True, "private temporary working directory, removed after the run"),
    ("output_cap", True, "stdout/stderr captured up to a size cap"),
    ("netns", False, "network namespace: no interfaces, no loopback of the host"),
    ("mountns", False, "mount and System V IPC namespaces with a size-capped tmpfs over /tmp and /dev/shm; bundled "
                       "task data covered"),
    ("uid_drop", False, "runs as an unprivileged uid of their own (one per server) when the server is root"),
    ("nproc", False, "processes and threads limited per run (its own uid, or its own user namespace)"),
    ("landlock", False, "Landlock: read only the Python install (less evalkit's task data) and system libraries, "
                        "write only the tmpfs"),
    ("seccomp", False, "seccomp: no sockets, fork/exec, memfds or ptrace; signals only to itself (kill, F_SETOWN, "
                       "O_ASYNC); no other process's limits or scheduling; no file's mode, owner, times or xattrs "
                       "changed"),
    ("cgroup", False, "cgroup memory and pids limits; every process of the run killed at its end"),
)
LAYER_NAMES = tuple(name for name, _, _ in LAYERS)
OPTIONAL_LAYERS = tuple(name for name, always, _ in LAYERS if not always)

CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWNET, CLONE_NEWIPC = 0x00020000, 0x10000000, 0x40000000, 0x08000000
CLONE_THREAD = 0x00010000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 8, 32, 4096, 16384, 1 << 18
MS_NOATIME, MS_NODIRATIME, MS_RELATIME, ST_RELATIME = 1024, 2048, 1 << 21, 4096
PR_SET_NO_NEW_PRIVS, PR_SET_DUMPABLE = 38, 4
SYS_landlock_create_ruleset, SYS_landlock_add_rule, SYS_landlock_restrict_self = 444, 445, 446
RUN_UIDS = (1 << 30, (1 << 31) - 2)  # root: each server's runs get a random uid from this range
LANDLOCK_CAP_ENV = "EVALKIT_SANDBOX_LANDLOCK_ABI"  # testing switch: use at most this Landlock ABI
COVERED = ("/tmp", "/dev/shm")  # a run's mount namespace puts its own tmpfs over these
# Under an import root, what no run may read: evalkit's bundled task data (answer keys, expected
# outputs) where evalkit is installed from its wheel. Covered by an empty tmpfs in a mount namespace,
# left out of Landlock's read rules.
HIDDEN = ("evalkit/tasks",)
OOM_SCORE_ADJ = 1000  # a run is the OOM killer's first choice, never the server beside it
CGROUP_ROOT = "/sys/fs/cgroup"

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = (ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p)
_libc.syscall.restype = ctypes.c_long


class LayerError(OSError):
    def __init__(self, layer: str, msg: str):
        super().__init__(f"{layer}: {msg}")
        self.layer = layer


def _check(layer: str, rc: int, what: str) -> int:
    if rc < 0:
        e = ctypes.get_errno()
        raise LayerError(layer, f"{what} failed: {os.strerror(e)}")
    return rc


@dataclass
class Plan:
    """What the server decided at start; children follow it. Built by `make_plan`."""

    layers: list[str]  # optional layers to enter
    missing: dict[str, str] = field(default_factory=dict)  # optional layer -> why it is not used
    is_root: bool = False
    read_paths: list[str] = field(default_factory=list)  # Landlock read allowlist
    hidden: list[str] = field(default_factory=list)  # HIDDEN paths present under the roots (real paths)
    read_rules: list[tuple[str, int]] = field(default_factory=list)  # read_paths less `hidden`: (path, rights)
    roots: list[str] = field(default_factory=list)  # the grader's import roots (runs import from them)
    root_fds: dict[str, int] = field(default_factory=dict)  # root -> fd runs reach it through (reach_roots)
    root_flags: dict[str, int] = field(default_factory=dict)  # root -> its mount's flags (kept on a read-only remount)
    run_uid: int = 0  # uid_drop: the uid this server's runs get
    cgroups: dict[str, str] = field(default_factory=dict)  # controller -> this server's cgroup dir
    landlock_abi: int = 0
    seccomp_bpf: bytes = b""  # the compiled filter (compile_seccomp)
    server_netns: bool = False  # the server itself sits in an empty network namespace its children share


# ---------------------------------------------------------------- planning (in the server)


def _import_roots() -> list[str]:
    """The grader's own import directories: stdlib, lib-dynload, and every site-packages or other
    sys.path directory of its environment (a virtualenv anywhere, /tmp included); not a checkout."""
    paths = sysconfig.get_paths()
    stdlib = {os.path.realpath(paths[k]) for k in ("stdlib", "platstdlib") if paths.get(k)}
    real_paths = [os.path.realpath(p) for p in sys.path if p]
    # a directory under the environment's prefix is not an import root for being there: a checkout in
    # /usr/src/app or $VIRTUAL_ENV/src (an editable install's path) holds the project's own files
    tops = stdlib | {r for r in real_paths if r.endswith(("-packages", "lib-dynload"))}
    roots = [r for r in real_paths if os.path.isdir(r) and any(_under(r, top) for top in tops)]
    return sorted(set(roots))


def _hidden_from_others(path: str) -> bool:
    """Whether some ancestor of `path` cannot be entered by other users (pyenv in /root)."""
    parts = path.strip("/").split("/")
    return any(not os.stat("/" + "/".join(parts[:i])).st_mode & stat.S_IXOTH for i in range(1, len(parts)))


def _covered(path: str) -> bool:
    return any(path == c or path.startswith(c + "/") for c in COVERED)


def reach_roots(plan: Plan) -> None:
    """In the server, before any fork: keep a directory fd on each import root that a run could not
    reach by its path (under a directory its uid cannot enter, or under the tmpfs its mount namespace
    puts over /tmp), and point sys.path and every loaded package's __path__ at /proc/self/fd/N. A
    process may always follow its own fd links, so runs import from the grader's environment, wherever
    it lives, and see nothing else of the directories around it."""
    import fcntl

    for root in plan.roots:
        hidden = "uid_drop" in plan.layers and _hidden_from_others(root)
        if hidden or ("mountns" in plan.layers and _covered(root)):
            fd = os.open(root, os.O_PATH | os.O_DIRECTORY)
            plan.root_fds[root] = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)  # clear of the run's fds 0-5
            os.close(fd)
    if not plan.root_fds:
        return

    def reached(path: str) -> str:
        real = os.path.realpath(path) if path and not path.startswith("/proc/") else path
        for root, fd in plan.root_fds.items():
            if real == root or real.startswith(root + "/"):
                return f"/proc/self/fd/{fd}" + real[len(root):]
        return path

    sys.path[:] = [reached(p) for p in sys.path]
    for module in list(sys.modules.values()):
        path = getattr(module, "__path__", None)
        if isinstance(path, list):
            path[:] = [reached(p) for p in path]
    sys.path_importer_cache.clear()


def run_path(plan: Plan, path: str) -> str:
    """The path a run reaches `path` (a root, or a path under one) by (see reach_roots)."""
    roots = [root for root in plan.root_fds if _under(path, root)]
    if not roots:
        return path
    root = max(roots, key=len)
    return f"/proc/self/fd/{plan.root_fds[root]}" + path[len(root):]


def landlock_abi() -> int:
    rc = _libc.syscall(SYS_landlock_create_ruleset, None, 0, 1)
    return max(int(rc), 0)


def _mount_flags(path: str) -> int:
    """The flags of the mount `path` is on, as mount(2) flags: a remount inside a user namespace must
    keep those the kernel has locked (nosuid, nodev, noexec, atime)."""
    f = os.statvfs(path).f_flag
    flags = f & (MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME)
    return flags | (MS_RELATIME if f & ST_RELATIME else 0)


def _tasks_of_uid(uid: int) -> int:
    """Processes and threads the uid has now (what RLIMIT_NPROC counts without a user namespace)."""
    n = 0
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if os.stat(f"/proc/{pid}").st_uid == uid:
                    n += len(os.listdir(f"/proc/{pid}/task"))
            except OSError:
                pass
    return n


def make_plan(want: list[str], slot: str, landlock_cap: int | None = None) -> Plan:
    """Which optional layers to try, with their parameters. The probe child then confirms them.

    landlock_cap: use at most this Landlock ABI (testing: what an older kernel gives).
    """
    is_root = os.geteuid() == 0
    plan = Plan(layers=[], is_root=is_root)
    plan.roots = _import_roots()
    plan.root_flags = {root: _mount_flags(root) for root in plan.roots}
    plan.read_paths = plan.roots + [p for p in ("/usr/lib", "/usr/lib64", "/lib", "/lib64", "/usr/share/zoneinfo")
                                    if os.path.isdir(p)]
    plan.hidden = sorted({os.path.realpath(os.path.join(root, rel)) for root in plan.roots for rel in HIDDEN
                          if os.path.isdir(os.path.join(root, rel))})
    plan.read_rules = read_rules(plan.read_paths, plan.hidden)
    for name in OPTIONAL_LAYERS:
        if name not in want:
            plan.missing[name] = "switched off by configuration"
            continue
        if name == "uid_drop" and not is_root:
            plan.missing[name] = "not root: runs keep the server's own unprivileged uid"
            continue
        if name == "nproc" and is_root and "uid_drop" not in plan.layers:
            plan.missing[name] = "runs keep root, whom RLIMIT_NPROC does not bind (only a cgroup limits them)"
            continue
        if name == "landlock":
            plan.landlock_abi = kernel_abi = landlock_abi()
            if landlock_cap is not None:
                plan.landlock_abi = min(plan.landlock_abi, landlock_cap)
            if plan.landlock_abi < 1:
                plan.missing[name] = ("kernel has no Landlock (landlock_create_ruleset failed)" if kernel_abi < 1 else
                                      f"capped at ABI {landlock_cap} (kernel: {kernel_abi}) by {LANDLOCK_CAP_ENV} or "
                                      "landlock_abi_max")
                continue
        if name == "seccomp":
            try:
                plan.seccomp_bpf = compile_seccomp(plan.landlock_abi if "landlock" in plan.layers else 0)
            except Exception as e:  # no pyseccomp / libseccomp
                plan.missing[name] = f"cannot compile the filter: pyseccomp/libseccomp unavailable ({type(e).__name__}: {e})"
                continue
        if name == "cgroup":
            try:
                plan.cgroups = _make_cgroups(slot)
            except OSError as e:
                plan.missing[name] = f"cannot create cgroups under {CGROUP_ROOT} ({e.strerror or e})"
                continue
        plan.layers.append(name)
    if "uid_drop" in plan.layers:
        import random

        plan.run_uid = random.SystemRandom().randint(*RUN_UIDS)  # no other process has it: limits are per run
    return plan


def _under(path: str, top: str) -> bool:
    return path == top or path.startswith(top.rstrip("/") + "/")


def read_rules(paths: list[str], hidden: list[str]) -> list[tuple[str, int]]:
    """Landlock read rules for `paths` that leave out every `hidden` path: a path above a hidden one
    may only be listed, and each of its entries gets its own rule, down to the hidden path, which gets
    none. An entry that resolves outside its directory (a symlink) gets no rule: it had none before."""
    rules: list[tuple[str, int]] = []
    seen: set[str] = set()

    def add(path: str) -> None:
        if path in seen or any(_under(path, h) for h in hidden):
            return
        seen.add(path)
        if not any(_under(h, path) for h in hidden):
            rules.append((path, _LL_READ))
            return
        rules.append((path, _LL_READ_DIR))  # list it (imports need that), read beneath only rule by rule
        try:
            names = sorted(os.listdir(path))
        except OSError:
            return
        for name in names:
            real = os.path.realpath(os.path.join(path, name))
            if _under(real, path) and real != path:
                add(real)

    for p in paths:
        add(os.path.realpath(p))
    return rules


def _make_cgroups(slot: str) -> dict[str, str]:
    out = {}
    if os.path.exists(f"{CGROUP_ROOT}/cgroup.controllers"):  # v2
        path = f"{CGROUP_ROOT}/evalkit-{slot}"
        os.makedirs(path, exist_ok=True)
        out["v2"] = path
        return out
    for ctl in ("memory", "pids"):
        base = f"{CGROUP_ROOT}/{ctl}"
        if not os.path.isdir(base):
            raise OSError(errno.ENOENT, f"no {ctl} controller")
        path = f"{base}/evalkit/{slot}"
        os.makedirs(path, exist_ok=True)
        out[ctl] = path
    return out


def set_cgroup_limits(plan: Plan, memory_bytes: int, pids: int) -> None:
    for ctl, path in plan.cgroups.items():
        files = {"memory": {"memory.limit_in_bytes": memory_bytes}, "pids": {"pids.max": pids},
                 "v2": {"memory.max": memory_bytes, "pids.max": pids, "memory.swap.max": 0}}[ctl]
        for name, value in files.items():
            try:
                with open(f"{path}/{name}", "w") as f:
                    f.write(str(value))
            except OSError:
                if name != "memory.swap.max":
                    raise


def enter_server_netns(plan: Plan) -> None:
    """Move the server into a new, empty network namespace once: its children inherit it, so no run
    pays for creating and tearing down its own (the kernel's netns teardown is costly). The server
    needs no network: it talks to its parent over an already connected unix socket. A normal user's
    server takes a user namespace of its own for it; each run still gets a user namespace below it."""
    if "netns" not in plan.layers:
        return
    if plan.is_root:
        plan.server_netns = _libc.unshare(CLONE_NEWNET) == 0
        return
    uid, gid = os.getuid(), os.getgid()
    if _libc.unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0:
        return  # each run tries its own (and the probe reports why not)
    for name, text in (("setgroups", "deny"), ("uid_map", f"0 {uid} 1"), ("gid_map", f"0 {gid} 1")):
        with open(f"/proc/self/{name}", "w") as f:
            f.write(text)
    plan.server_netns = True


def join_cgroups(plan: Plan) -> None:
    """Move the calling process (the server) into its cgroups; every child it forks starts there."""
    for path in plan.cgroups.values():
        with open(f"{path}/cgroup.procs", "w") as f:
            f.write(str(os.getpid()))


def cgroup_pids(plan: Plan) -> list[int]:
    pids: set[int] = set()
    for path in plan.cgroups.values():
        try:
            with open(f"{path}/cgroup.procs") as f:
                pids.update(int(x) for x in f.read().split())
        except OSError:
            pass
    return sorted(pids)


def remove_cgroups(plan: Plan) -> None:
    """Leave our cgroups (back to the hierarchy's root) and remove them, with any stale siblings whose
    server is gone."""
    for ctl, path in plan.cgroups.items():
        root = CGROUP_ROOT if ctl == "v2" else f"{CGROUP_ROOT}/{ctl}"
        try:
            with open(f"{root}/cgroup.procs", "w") as f:
                f.write(str(os.getpid()))
        except OSError:
            pass
        parent = os.path.dirname(path)
        for name in os.listdir(parent) if ctl != "v2" else [os.path.basename(path)]:
            try:
                os.rmdir(os.path.join(parent, name))  # fails (EBUSY) for a live server's cgroup
            except OSError:
                pass


# ---------------------------------------------------------------- entering (in the forked child)


@dataclass
class RunLimits:
    """Per-run limits: address space, CPU seconds, largest file, tmpfs size, open files, and
    processes plus threads (`pids`, per run: see the nproc layer)."""

    memory_mb: int = 1024
    cpu_s: int = 10
    file_mb: int = 16
    tmpfs_mb: int = 64
    nofile: int = 64
    pids: int = 32


def enter(plan: Plan, limits: RunLimits, keep_fds: tuple[int, ...], workdir: str) -> None:
    """Enter every planned layer, in order, in the current (freshly forked) process.

    workdir: the private directory to work in when there is no mount namespace (the server makes and
    removes it). Raises LayerError naming the layer that could not be entered; the caller reports it as an
    infrastructure fault.
    """
    parent = os.getppid()
    os.setsid()
    _oom_first()
    on = set(plan.layers)
    # Without a user namespace of its own, RLIMIT_NPROC counts every task of this uid: counted now, at each run,
    # since a trainer gains threads after the server starts (counted once, an honest run's thread would fail)
    nproc_base = _tasks_of_uid(os.getuid()) if not plan.is_root and "nproc" not in on else 0
    # cgroup: nothing to do here; the server joined its cgroup (join_cgroups) and children are born in it
    mem = limits.memory_mb << 20
    for res, value in ((resource.RLIMIT_AS, mem), (resource.RLIMIT_CPU, limits.cpu_s),
                       (resource.RLIMIT_FSIZE, limits.file_mb << 20), (resource.RLIMIT_CORE, 0),
                       (resource.RLIMIT_NOFILE, limits.nofile)):
        resource.setrlimit(res, (value, value))
    # the IPC namespace goes with the mount namespace: shared memory, queues and semaphores a run makes die
    # with it, where the host's would outlive the run, uncounted by its limits, and reach the next run
    flags = ((CLONE_NEWNET if "netns" in on and not plan.server_netns else 0)
             | (CLONE_NEWNS | CLONE_NEWIPC if "mountns" in on else 0))
    ns_layer = "netns" if flags & CLONE_NEWNET or "mountns" not in on else "mountns"
    if not plan.is_root and "nproc" in on:  # a user namespace of its own: RLIMIT_NPROC then counts this run only
        ns_layer = "nproc" if not flags else ns_layer
        flags |= CLONE_NEWUSER
    with _blame(ns_layer):
        if flags:
            user = 0 if plan.is_root else CLONE_NEWUSER
            uid, gid = os.getuid(), os.getgid()  # read outside: inside the new user namespace they are unmapped
            rc = _libc.unshare(flags | user)
            if rc != 0 and flags & CLONE_NEWIPC and ctypes.get_errno() in (errno.EINVAL, errno.EPERM):
                # no IPC namespaces here (a kernel or container without them): seccomp, where in force, still
                # refuses System V IPC, and the doctor's sysv_ipc row says whether anything holds
                rc = _libc.unshare((flags & ~CLONE_NEWIPC) | user)
            _check(ns_layer, rc, "unshare(user namespace)" if user else "unshare")
            if user:
                for name, text in (("setgroups", "deny"), ("uid_map", f"0 {uid} 1"), ("gid_map", f"0 {gid} 1")):
                    with open(f"/proc/self/{name}", "w") as f:
                        f.write(text)
    if "mountns" in on:
        with _blame("mountns"):
            _mounts(plan, limits)
    else:
        os.chdir(workdir)
    _close_fds_but(set(keep_fds) | set(plan.root_fds.values()))
    if "uid_drop" in on:
        with _blame("uid_drop"):
            os.setgroups([])
            os.setresgid(plan.run_uid, plan.run_uid, plan.run_uid)
            os.setresuid(plan.run_uid, plan.run_uid, plan.run_uid)
            if os.getuid() != plan.run_uid or os.geteuid() != plan.run_uid:
                raise LayerError("uid_drop", "the uid did not change")
    if not plan.is_root:  # per run inside its user namespace (nproc), else on top of what this uid had
        pids = limits.pids if "nproc" in on else nproc_base + limits.pids
        resource.setrlimit(resource.RLIMIT_NPROC, (pids, pids))
    elif "uid_drop" in on:  # the uid is this run's own
        resource.setrlimit(resource.RLIMIT_NPROC, (limits.pids, limits.pids))
    _libc.prctl(1, 9, 0, 0, 0)  # PR_SET_PDEATHSIG, SIGKILL: die with the server (set after any uid change)
    if os.getppid() != parent:
        os._exit(1)
    _libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)  # its /proc files become root's: no other run can read its memory
    _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    if "landlock" in on:
        with _blame("landlock"):
            _landlock(plan)
    if "seccomp" in on:
        with _blame("seccomp"):
            _seccomp(plan.seccomp_bpf)


def _oom_first() -> None:
    """Make this run the OOM killer's first choice (any process may raise its own score): memory the
    run holds outside its address space (shared memory, pipes) must never cost the server its life."""
    try:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write(str(OOM_SCORE_ADJ))
    except OSError:
        pass


def _close_fds_but(keep: set[int]) -> None:
    low = 0
    for fd in sorted(keep) + [65536]:
        if fd > low:
            os.closerange(low, fd)
        low = fd + 1


class _blame:
    """Turn any failure inside the block into a LayerError naming `layer`."""

    def __init__(self, layer: str):
        self.layer = layer

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, exc, tb) -> None:
        if exc is not None and not isinstance(exc, LayerError) and isinstance(exc, Exception):
            raise LayerError(self.layer, f"{type(exc).__name__}: {exc}") from None


def _mounts(plan: Plan, limits: RunLimits) -> None:
    """The run's own /tmp and /dev/shm; the grader's import roots read-only when the run keeps the
    grader's uid (root's runs have their own uid, which cannot write there anyway); an empty tmpfs
    over each HIDDEN path."""
    _check("mountns", _libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None), "make / private")
    if "uid_drop" not in plan.layers:
        for root in plan.roots:
            path = root.encode()
            _check("mountns", _libc.mount(path, path, None, MS_BIND | MS_REC, None), f"bind {root}")
            flags = MS_REMOUNT | MS_BIND | MS_RDONLY | plan.root_flags.get(root, 0)
            _check("mountns", _libc.mount(None, path, None, flags, None), f"make {root} read-only")
    for hidden in plan.hidden:
        _check("mountns", _libc.mount(b"tmpfs", hidden.encode(), b"tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                                      b"size=4k,mode=555"), f"cover {hidden}")
    for root, fd in plan.root_fds.items():  # reach this namespace's mounts (read-only, covered), not the ones below
        new = os.open(root, os.O_PATH | os.O_DIRECTORY)
        os.dup2(new, fd, inheritable=False)
        os.close(new)
    opts = f"size={limits.tmpfs_mb}m,mode=1777,nr_inodes=4096".encode()
    _check("mountns", _libc.mount(b"tmpfs", b"/tmp", b"tmpfs", MS_NOSUID | MS_NODEV, opts), "mount tmpfs on /tmp")
    if os.path.isdir("/dev/shm"):
        _libc.mount(b"tmpfs", b"/dev/shm", b"tmpfs", MS_NOSUID | MS_NODEV, b"size=1m,mode=1777")
    os.mkdir("/tmp/run", 0o777)
    os.chmod("/tmp/run", 0o777)
    os.chdir("/tmp/run")


# Landlock access rights (linux/landlock.h), by ABI version.
_LL_FS = [(1, (1 << 13) - 1), (2, 1 << 13), (3, 1 << 14), (5, 1 << 15)]
_LL_READ = (1 << 0) | (1 << 2) | (1 << 3)  # execute, read file, read dir
_LL_READ_DIR = 1 << 3


def _landlock(plan: Plan) -> None:
    abi = plan.landlock_abi
    handled = 0
    for version, bits in _LL_FS:
        if abi >= version:
            handled |= bits
    handled_net = 0b11 if abi >= 4 else 0  # bind / connect TCP: none allowed
    scoped = 0b11 if abi >= 6 else 0  # abstract unix sockets and signals: only within the run
    if abi >= 6:
        attr = struct.pack("QQQ", handled, handled_net, scoped)
    elif abi >= 4:
        attr = struct.pack("QQ", handled, handled_net)
    else:
        attr = struct.pack("Q", handled)
    buf = ctypes.create_string_buffer(attr, len(attr))
    rs = _check("landlock", _libc.syscall(SYS_landlock_create_ruleset, buf, len(attr), 0), "create ruleset")
    try:
        # with a mount namespace the hidden paths are covered already: one rule per path will do
        reads = [(p, _LL_READ) for p in plan.read_paths] if "mountns" in plan.layers else plan.read_rules
        rules = [(run_path(plan, p), access) for p, access in reads] + [(os.getcwd(), handled), ("/dev/null", handled)]
        rules += [(p, _LL_READ) for p in ("/dev/urandom", "/dev/zero")]
        for path, access in rules:
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                if not stat.S_ISDIR(os.fstat(fd).st_mode):  # files take file rights only
                    access &= (1 << 0) | (1 << 1) | (1 << 2) | (1 << 14 if abi >= 3 else 0) | (1 << 15 if abi >= 5 else 0)
                rule = ctypes.create_string_buffer(struct.pack("=Qi", access & handled, fd), 12)
                _check("landlock", _libc.syscall(SYS_landlock_add_rule, rs, 1, rule, 0), f"add rule {path}")
            finally:
                os.close(fd)
        _check("landlock", _libc.syscall(SYS_landlock_restrict_self, rs, 0), "restrict self")
    finally:
        os.close(rs)


_SECCOMP_DENY = (
    "socket", "socketpair", "connect", "bind", "listen", "accept", "accept4",
    "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_open", "pidfd_getfd", "pidfd_send_signal",
    "memfd_create", "memfd_secret",  # memory outside the run's address space (and its RLIMIT_AS)
    "fork", "vfork", "execve", "execveat", "tkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo",
    "unshare", "setns", "mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree", "fsopen",
    "fspick", "fsconfig", "fsmount", "mount_setattr", "open_tree_attr",  # the new mount API: in its user namespace
    # a normal user's run may remount its own tmpfs past its size cap, or a read-only bind mount writable
    # System V IPC and POSIX message queues: memory no rlimit counts, outliving the run, and a channel between runs
    "shmget", "shmat", "shmdt", "shmctl", "msgget", "msgsnd", "msgrcv", "msgctl", "semget", "semop", "semtimedop",
    "semctl", "ipc", "mq_open", "mq_unlink", "mq_timedsend", "mq_timedreceive", "mq_notify", "mq_getsetattr",
    "keyctl", "add_key", "request_key", "bpf", "perf_event_open", "userfaultfd", "io_uring_setup",
    "init_module", "finit_module", "delete_module", "kexec_load", "reboot", "swapon", "swapoff",
    "acct", "settimeofday", "clock_settime", "iopl", "ioperm", "personality", "open_by_handle_at",
    "name_to_handle_at", "setpriority", "sched_setaffinity", "ioprio_set",
    # a file's mode, owner, times and extended attributes: Landlock does not cover them, and the user's
    # own files (home) stay writable in the mount namespace
    "chmod", "fchmod", "fchmodat", "fchmodat2", "chown", "fchown", "lchown", "fchownat",
    "chown32", "fchown32", "lchown32", "utime", "utimes", "utimensat", "futimesat", "setxattr", "lsetxattr",
    "fsetxattr", "removexattr", "lremovexattr", "fremovexattr", "setxattrat", "removexattrat", "file_setattr",
)  # fmt: skip
# Syscalls whose first argument is a pid: allowed only with pid 0 (the caller)
_OWN_PID_ONLY = ("sched_setscheduler", "sched_setparam", "sched_setattr", "migrate_pages", "move_pages")
# Syscalls newer than some libseccomp releases know, by number (from 424, Linux 5.1, on, every architecture
# but alpha numbers syscalls alike)
_NEW_SYSCALLS = {"open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433,
                 "mount_setattr": 442, "fchmodat2": 452, "setxattrat": 463, "removexattrat": 466, "open_tree_attr": 467,
                 "file_setattr": 469}


F_SETFL, O_ASYNC = 4, 0o20000
O_ACCMODE, O_TRUNC = 3, 0o1000
_FCNTL_SIGNAL_CMDS = (8, 10, 15)  # F_SETOWN, F_SETSIG, F_SETOWN_EX
_IOCTL_SIGNAL_REQS = (0x5452, 0x8901, 0x8902)  # FIOASYNC, FIOSETOWN, SIOCSPGRP
_IOCTL_ATTR_REQS = (0x40086602, 0x40046602, 0x401C5820)  # FS_IOC_SETFLAGS (and 32-bit), FS_IOC_FSSETXATTR
_LOW32 = 0xFFFFFFFF  # the kernel reads fcntl's and ioctl's command as 32 bits; seccomp sees all 64
_PID_PLACEHOLDER = 0x5EC0DE42  # stands for the child's pid in the compiled filter


def compile_seccomp(landlock_abi: int = 0) -> bytes:
    """The seccomp filter as classic BPF, compiled once in the server with a placeholder pid that each
    child patches (building it per child with libseccomp costs ~6 ms).

    landlock_abi: the Landlock ABI runs get; below 3 Landlock cannot refuse truncation, so this filter
    refuses truncate(2) and an open with O_TRUNC but no write access (ftruncate needs a file opened for
    writing, which Landlock checks). On every ABI it refuses an open for ioctls only (O_ACCMODE), for
    which Landlock asks no right at all, and openat2 (whose flags no filter can read).
    """
    import tempfile

    import pyseccomp as sc

    f = sc.SyscallFilter(sc.ALLOW)
    for name in _SECCOMP_DENY:
        try:
            nr = sc.resolve_syscall(sc.Arch.NATIVE, name)
            f.add_rule(sc.ERRNO(errno.EPERM), _NEW_SYSCALLS.get(name, nr) if nr == -1 else nr)
        except Exception:  # a syscall this architecture does not have
            pass
    f.add_rule(sc.ERRNO(errno.ENOSYS), "openat2")  # what a kernel before 5.6 says; glibc and Python never need it
    refused_opens = [(O_ACCMODE, O_ACCMODE)]  # (mask, value) of the flags
    if landlock_abi < 3:
        f.add_rule(sc.ERRNO(errno.EPERM), "truncate")
        refused_opens.append((O_ACCMODE | O_TRUNC, os.O_RDONLY | O_TRUNC))
    for name, arg in (("open", 1), ("openat", 2)):
        for mask, value in refused_opens:
            try:
                f.add_rule(sc.ERRNO(errno.EPERM), name, sc.Arg(arg, sc.MASKED_EQ, mask, value))
            except Exception:  # no `open` on this architecture
                pass
    f.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")  # glibc falls back to clone, whose flags we can inspect
    f.add_rule(sc.ERRNO(errno.EPERM), "clone", sc.Arg(0, sc.MASKED_EQ, CLONE_THREAD, 0))  # threads only
    f.add_rule(sc.ERRNO(errno.EPERM), "kill", sc.Arg(0, sc.NE, _PID_PLACEHOLDER))  # signals only to itself
    f.add_rule(sc.ERRNO(errno.EPERM), "tgkill", sc.Arg(0, sc.NE, _PID_PLACEHOLDER))
    # Calls that reach another process by its pid, which a normal user's run may make on every process of its own
    # uid (the trainer, the sibling runs of a batch): its resource limits (RLIMIT_CPU 0 killed the trainer with
    # SIGXCPU, and zeroed the siblings' rewards), its scheduling (SCHED_IDLE), where its memory lies. Only pid 0,
    # the run itself, is taken (glibc's setrlimit is prlimit64 on pid 0); any other value is refused, high bits too.
    # prlimit64 that sets nothing (its new limit NULL) only reads, and is taken whatever the pid:
    # `resource.prlimit(os.getpid(), RLIMIT_NOFILE)` and psutil's `Process().rlimit()` read their own.
    f.add_rule(sc.ERRNO(errno.EPERM), "prlimit64", sc.Arg(0, sc.NE, 0), sc.Arg(2, sc.NE, 0))
    for name in _OWN_PID_ONLY:
        try:
            f.add_rule(sc.ERRNO(errno.EPERM), name, sc.Arg(0, sc.NE, 0))
        except Exception:  # a syscall this architecture does not have
            pass
    # signal-driven I/O sends a chosen signal to a chosen pid: the owner (F_SETOWN, F_SETOWN_EX,
    # FIOSETOWN, SIOCSPGRP), the signal (F_SETSIG), switched on by O_ASYNC (F_SETFL, FIOASYNC). Landlock
    # scopes signals only from ABI 6, so this path is closed here, on every kernel.
    # The commands are compared on their low 32 bits: a command with high bits set is the same to the kernel.
    for cmd in _FCNTL_SIGNAL_CMDS:
        f.add_rule(sc.ERRNO(errno.EPERM), "fcntl", sc.Arg(1, sc.MASKED_EQ, _LOW32, cmd))
    f.add_rule(sc.ERRNO(errno.EPERM), "fcntl", sc.Arg(1, sc.MASKED_EQ, _LOW32, F_SETFL),
               sc.Arg(2, sc.MASKED_EQ, O_ASYNC, O_ASYNC))
    for req in _IOCTL_SIGNAL_REQS + _IOCTL_ATTR_REQS:  # the latter: a file's flags (append-only, nodump, ...)
        f.add_rule(sc.ERRNO(errno.EPERM), "ioctl", sc.Arg(1, sc.MASKED_EQ, _LOW32, req))
    with tempfile.TemporaryFile() as tmp:
        f.export_bpf(tmp)
        tmp.seek(0)
        prog = tmp.read()
    if len(prog) % 8 or struct.pack("=I", _PID_PLACEHOLDER) not in prog:
        raise OSError("unexpected BPF from libseccomp")
    return prog


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def _seccomp(prog: bytes) -> None:
    pid = os.getpid()
    insns = bytearray(prog)
    for off in range(0, len(insns), 8):  # struct sock_filter {u16 code; u8 jt, jf; u32 k}
        if struct.unpack_from("=I", insns, off + 4)[0] == _PID_PLACEHOLDER:
            struct.pack_into("=I", insns, off + 4, pid)
    buf = ctypes.create_string_buffer(bytes(insns), len(insns))
    fprog = _SockFprog(len(insns) // 8, ctypes.addressof(buf))
    _check("seccomp", _libc.prctl(22, 2, ctypes.byref(fprog), 0, 0), "prctl(PR_SET_SECCOMP)")  # MODE_FILTER


def scrubbed_env() -> dict[str, str]:
    """The whole environment a run sees."""
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/tmp",
            "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
