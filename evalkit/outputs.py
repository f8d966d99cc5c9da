"""Where a command may write: never over a file it reads, nor over a run directory's own data."""

from __future__ import annotations

import errno
import os
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Any, BinaryIO, Iterator, Mapping

from evalkit.errors import InputError

# The files of a run directory that hold what the run made (docs/contracts.md, "The run directory").
RUN_FILES: tuple[tuple[str, str], ...] = (
    ("samples.jsonl", "the run's samples"),
    ("config.json", "the run's config"),
    ("results.json", "the run's results"),
    ("invocations.jsonl", "the run's log"),
    ("anytime.jsonl", "the run's anytime probes"),
    ("anytime.json", "the run's anytime curves"),
    ("anytime.generated.jsonl", "the run's generated anytime probes"),
    ("anytime.partial.jsonl", "the run's unfinished anytime probes"),
    (".lock", "the run's lock (replaced, it would let a second run write the directory at once)"),
)


def run_files(run_dir: str | os.PathLike, config: dict[str, Any] | None = None, *,
              report: bool = False) -> dict[Path, str]:
    """The files of run directory `run_dir` a command must not write over, each with what it is: its
    data (RUN_FILES), the replay file it scored, the reflection model it was traced with, its tasks'
    spec and data files (config.json's `tasks`), and with `report` its index.html. config: its
    config.json (read here when None; unreadable counts as none)."""
    run_dir = Path(run_dir)
    if config is None:
        from evalkit.run.rundir import RunDir

        try:
            config = RunDir(run_dir).config() or {}
        except InputError:
            config = {}
    files = {run_dir / name: what for name, what in RUN_FILES}
    if report:
        files[run_dir / "index.html"] = "the run's report"
    for path in replay_files(run_dir, config):
        files[path] = "the run's replay file"
    recorded = config.get("reflection_model")
    if isinstance(recorded, dict) and isinstance(recorded.get("file"), str):
        files[Path(recorded["file"])] = "the run's reflection model"
    tasks = config.get("tasks")
    for task in tasks if isinstance(tasks, list) else []:  # the spec and data a rerun reads again
        if not isinstance(task, dict):
            continue
        name = task.get("name", "?")
        dataset = task.get("dataset")
        local = dataset.get("local") if isinstance(dataset, dict) else None
        for path, what in ((task.get("path"), "spec"), (local, "dataset")):
            if isinstance(path, str) and path:
                files[Path(path)] = f"task {name}'s {what}"
    return files


def runs_around(outputs: Mapping[str, str | os.PathLike | None], report: bool = True) -> dict[Path, str]:
    """The files of each run directory an output would land in (as `run_files`): an --out inside a run
    a command does not read is still no place to write over that run's data."""
    from evalkit.run.rundir import RunDir

    files: dict[Path, str] = {}
    for path in outputs.values():
        if path is not None and RunDir(Path(path).parent).is_run():
            files.update(run_files(Path(path).parent, report=report))
    return files


def replay_files(run_dir: str | os.PathLike, config: dict[str, Any]) -> list[Path]:
    """Where the replay file a run scored is: the absolute path its config records (in `completions`;
    runs made before recorded it in the identity); for a run made before either, the path as it was
    typed, which is relative to where the run was started (here, or above a default `reports/NAME`
    directory): both are taken, since either may be it."""
    identity = config.get("identity")
    recorded = identity.get("completions") if isinstance(identity, dict) else None
    if isinstance(recorded, str) and Path(recorded).is_absolute():
        return [Path(recorded)]
    typed = config.get("completions")
    if not isinstance(typed, str):
        return []
    if Path(typed).is_absolute():
        return [Path(typed)]
    return [Path(typed), Path(run_dir).resolve().parent.parent / typed]


def read_files(path: str | os.PathLike) -> dict[Path, str]:
    """What reading `path` reads, for a command given a JSON-lines file or a run directory: the run's
    files (a directory, or a run's samples.jsonl), else the file itself."""
    path = Path(path)
    if path.is_dir():
        return run_files(path)
    files = {path: "the input file"}
    if path.name == "samples.jsonl" and (path.parent / "config.json").is_file():
        files.update(run_files(path.parent))
    return files


def check_outputs(outputs: Mapping[str, str | os.PathLike | None], inputs: Mapping[Path, str], command: str) -> None:
    """Refuse to write over what a command reads: InputError when an output (option -> path; None: not
    written) is one of `inputs` (path -> what it is). Paths compare resolved (links followed: a run's
    samples.jsonl may be one), and an existing file also as the same file (a hard link). An output that is a
    symbolic link, or exists and is not a regular file (a FIFO, a device, a directory), is refused too."""
    known: dict[Any, str] = {}
    for path, what in inputs.items():
        for key in _same_file_keys(Path(path)):
            known.setdefault(key, what)
    for option, path in outputs.items():
        if path is None:
            continue
        for key in _same_file_keys(Path(path)):
            if key in known:
                raise InputError(f"{option} {path}: is {known[key]}; choose another path ({command} never writes "
                                 "over what it reads or a run's files)")
        if Path(path).is_symlink():
            # renamed over, the link was replaced by a file (its target untouched); followed, a link planted in a
            # shared run directory would have a command write over a file of the link's choosing
            raise InputError(f"{option} {path}: is a symbolic link (to {os.readlink(path)}); give the file's own path")
        if Path(path).exists() and not Path(path).is_file():
            # a file is written beside it and renamed over it: a FIFO or a device (as root, /dev/full) was replaced
            raise InputError(f"{option} {path}: is not a regular file (a directory, FIFO or device); "
                             "give the path of a file to write")


def _same_file_keys(path: Path) -> list[Any]:
    """The resolved path, and (device, inode) for a file that exists."""
    try:
        keys: list[Any] = [path.resolve()]
    except (OSError, RuntimeError):  # a link loop: compare the path as given
        keys = [path.absolute()]
    try:
        st = path.stat()
        keys.append((st.st_dev, st.st_ino))
    except OSError:
        pass
    return keys


# what a refused write says: a full disk, a quota, a file too large, a read-only or forbidden place
_WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM})


@contextmanager
def write_whole(path: str | os.PathLike, kept: str, mode: str = "w", **options: Any) -> Iterator[IO]:
    """A temporary file beside `path` to write its new content into, on disk and renamed over `path` when the
    block ends: a reader finds the old file or the new one, whole.

    path: the file to write. kept: what the user still has when the write fails, said after the system's
    reason ("the samples are kept: rerun the same command to resume"). mode, options: as for `open`.
    A write that fails (a full disk, a quota, a read-only or forbidden place) leaves `path` as it was and no
    temporary file beside it (it would keep the disk full), and is an OSError naming `path`, its errno kept:
    the CLI prints it as one line, exit 2. An OSError about another file (one the block reads) passes as it is.
    """
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        f = open(tmp, mode, **options)  # noqa: SIM115 - closed below, quietly when the block failed
        try:
            yield f
            f.flush()
            os.fsync(f.fileno())
        except BaseException:
            with suppress(OSError):  # closing flushes again what the disk refused: that is not the error to say
                f.close()
            raise
        f.close()
        os.replace(tmp, path)
    except BaseException as e:
        with suppress(OSError):
            tmp.unlink(missing_ok=True)
        # a write's error names no file; one of another errno without a name came from the block's own reading
        if isinstance(e, OSError) and e.errno is not None and (
                e.filename in (str(tmp), str(path)) or (e.filename is None and e.errno in _WRITE_ERRNOS)):
            raise named_error(e, path, kept) from None
        raise


def append_whole(f: BinaryIO, data: bytes) -> None:
    """Append `data` to `f` (opened unbuffered, for appends) and fsync it. A write the disk refuses part way
    cuts the file back to where it was, so it holds no partial line and the space it took is free again;
    the OSError is raised."""
    end = os.fstat(f.fileno()).st_size
    try:
        view = memoryview(data)
        while view:
            view = view[f.write(view):]
        os.fsync(f.fileno())
    except OSError:
        with suppress(OSError):
            os.ftruncate(f.fileno(), end)
        raise


def named_error(e: OSError, path: str | os.PathLike, kept: str) -> OSError:
    """`e` as the OSError of `path`, with `kept` after its reason: what the CLI prints as one line."""
    return OSError(e.errno, f"{e.strerror or e} ({kept})", str(path))
