"""The run directory: the one reader and writer of a run's files.

    reports/<tasks>--<model>/
      config.json        what the run is (its identity, resolved specs, sampling, backend, versions)
      samples.jsonl      one line per problem x sample, appended and flushed as each is verified
      results.json       metrics per task and model
      invocations.jsonl  one line per start and finish of `evalkit run` on this directory
      index.html         the report
      .lock              held (flock) by the one `evalkit run` writing the directory

`evalkit run`, `evalkit report`, `evalkit.load_run`, `evalkit curate` and the TRL callback all read
through `RunDir`, so every reader agrees on what a half-written line or a corrupt one means.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Iterator

from evalkit import jsonl
from evalkit.errors import InputError
from evalkit.jsonl import cut_partial_line
from evalkit.outputs import append_whole, named_error, write_whole
from evalkit.types import SAMPLE_KEYS

Key = tuple[str, str, str, int, "int | None"]  # (task, model, problem_id, sample, budget): the resume key
LOCK = ".lock"
# what a directory may hold and still be empty to a new run: the lock, and the temporary config a run
# killed between making the directory and writing its config leaves
LEFTOVERS = frozenset({LOCK, "config.json.tmp"})
# what a write that failed (a full disk) leaves the user, said after the system's reason
SAMPLES_KEPT = "the samples written before are kept: rerun the same command to resume"


def sample_key(record: dict[str, Any]) -> Key:
    """A sample line's resume key (budget None for an ordinary sample)."""
    return (record["task"], record["model"], str(record["problem_id"]), int(record["sample"]), record.get("budget"))


@dataclass(frozen=True)
class RunConfig:
    """config.json: what a run is.

    identity: what a rerun must match (planning.identity). model, backend: who generated.
    completions: the replay file, for a replay run. tasks: each resolved task spec with its dataset
    source, revision, problem count and generation settings. sampling: each task's generation
    settings. engine: tp, dp, dtype, max_model_len. require_layers: the sandbox layers required.
    sandbox_layers: the layers in force (where a task runs code). verifier_environment: what each
    task's verifier check() reported. versions: package versions. host: the machine's name.
    """

    identity: dict[str, Any]
    model: str
    backend: str
    completions: str | None
    tasks: tuple[dict[str, Any], ...]
    sampling: dict[str, Any]
    engine: dict[str, Any]
    require_layers: tuple[str, ...]
    sandbox_layers: dict[str, Any] | None
    verifier_environment: dict[str, dict[str, Any]]
    versions: dict[str, str]
    host: str

    def to_dict(self) -> dict[str, Any]:
        return {"identity": self.identity, "model": self.model, "backend": self.backend,
                "completions": self.completions, "tasks": list(self.tasks),
                "sampling": {k: v.to_dict() if hasattr(v, "to_dict") else v for k, v in self.sampling.items()},
                "engine": self.engine, "require_layers": list(self.require_layers),
                "sandbox_layers": self.sandbox_layers, "verifier_environment": self.verifier_environment,
                "versions": self.versions, "host": self.host}


class RunDir:
    """One run directory. path: the directory (it need not exist yet)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.appended = 0  # sample lines this process appended to samples.jsonl (an invocation's `saved`)

    samples_path = property(lambda self: self.path / "samples.jsonl")
    config_path = property(lambda self: self.path / "config.json")
    results_path = property(lambda self: self.path / "results.json")
    invocations_path = property(lambda self: self.path / "invocations.jsonl")

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    # ------------------------------------------------------------------------------ reading

    def last_end(self) -> tuple[str, Any] | None:
        """How the last `evalkit run` on the directory ended, by invocations.jsonl: ("finished", None), ("stopped",
        its `why`: "SIGTERM", "interrupted" for Ctrl-C, or the error), ("running", None) where its start has no end (still
        going, or killed); None where there is no readable record of one. A line a kill cut off is skipped."""
        try:
            lines = self.invocations_path.read_text("utf-8", errors="replace").splitlines()
        except OSError:
            return None
        last: tuple[str, Any] | None = None
        for line in lines:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if not isinstance(record, dict):
                continue
            if "started" in record:
                last = ("running", None)
            elif last is not None and last[0] == "running" and "finished" in record:
                last = ("finished", None)
            elif last is not None and last[0] == "running" and "stopped" in record:
                last = ("stopped", record.get("why"))
        return last

    def samples(self) -> list[dict[str, Any]]:
        """The complete sample lines, in file order. A last line without its newline (a run killed
        mid-write, or still writing) is left out; a corrupt line elsewhere is an InputError naming
        the file and line."""
        return read_samples(self.samples_path)

    def config(self) -> dict[str, Any] | None:
        """config.json, or None when the directory has none (InputError when it is unreadable, or when a
        field every reader relies on has another type: a hand edit)."""
        data = self._read_json(self.config_path)
        if data is not None:
            _check_fields(self.config_path, data, CONFIG_FIELDS)
            tasks = data.get("tasks")
            if tasks is not None and not (isinstance(tasks, list) and all(isinstance(t, dict) for t in tasks)):
                raise InputError(f"{self.config_path}: {TASKS_EXPECTED}, got {json.dumps(tasks)[:60]}")
        return data

    def results(self) -> list[dict[str, Any]] | None:
        """The `results` list of results.json, or None when there is none (InputError for an entry whose
        fields have another type than a run writes: a hand edit)."""
        data = self._read_json(self.results_path)
        results = None if data is None else data.get("results")
        if not isinstance(results, list):
            return None
        for i, entry in enumerate(results):
            if not isinstance(entry, dict):
                raise InputError(f"{self.results_path}: field 'results': entry {i + 1}: expected an object (one "
                                 f"task and model), got {json.dumps(entry)[:60]}")
            _check_fields(self.results_path, entry, RESULT_FIELDS, f"field 'results': entry {i + 1}: ")
            for name, metric in (entry.get("metrics") or {}).items():
                if not isinstance(metric, dict):
                    raise InputError(f"{self.results_path}: field 'results': entry {i + 1}: field 'metrics': "
                                     f"{name!r}: expected an object (value, ci...), got {json.dumps(metric)[:60]}")
        return results

    def is_run(self) -> bool:
        return self.samples_path.is_file() or self.results_path.is_file()

    @staticmethod
    def _read_json(path: Path) -> dict[str, Any] | None:
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as e:
            raise InputError(f"{path}: unreadable ({e})") from None
        except json.JSONDecodeError as e:
            raise InputError(f"{path}: line {e.lineno}: not valid JSON ({jsonl.json_error(e)})") from None
        if not isinstance(data, dict):
            raise InputError(f"{path}: expected a JSON object at the top level")
        return data

    # ------------------------------------------------------------------------------ writing

    def holds_anything(self) -> bool:
        """Whether the directory holds more than a new run may find there (LEFTOVERS)."""
        return self.path.is_dir() and any(p.name not in LEFTOVERS for p in self.path.iterdir())

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the directory's lock while a run reads and writes it: a second `evalkit run` on it at
        once (the same job submitted twice) is an InputError naming the holder, not samples written
        twice. The directory is made here; one made here that holds nothing when the block fails is
        removed again. The lock is the kernel's (flock): a killed run holds it no longer."""
        import fcntl

        made = not self.path.exists()
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path / LOCK, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as e:
            raise InputError(f"{self.path}: cannot make or lock the run directory ({e.strerror or e})") from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "?"
                raise InputError(f"{self.path}: another evalkit run (pid {holder}) is writing this run directory; "
                                 "wait for it to finish, or give another --out") from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
            try:
                yield
            except BaseException:
                if made and not self.holds_anything():
                    shutil.rmtree(self.path, ignore_errors=True)
                raise
        finally:
            os.close(fd)

    def start(self, overwrite: bool = False) -> None:
        """Make the directory; with `overwrite`, remove what an earlier run left first (not the lock,
        which this run holds). A temporary samples file a rerun killed mid-rewrite left (the whole file
        is still beside it) is removed."""
        if overwrite and self.path.is_dir():
            for child in self.path.iterdir():
                if child.name == LOCK:
                    continue
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                else:
                    child.unlink()
        self.path.mkdir(parents=True, exist_ok=True)
        self._rewrite_paths()[1].unlink(missing_ok=True)

    def write_config(self, config: RunConfig | dict[str, Any]) -> None:
        _write_json(self.config_path, config.to_dict() if isinstance(config, RunConfig) else config)

    def write_results(self, results: list[dict[str, Any]]) -> None:
        _write_json(self.results_path, {"results": results})

    def log_invocation(self, **fields: Any) -> None:
        """Append one line to invocations.jsonl (when a run started or finished, and what it did). A failed
        append (a full disk) leaves the file as it was and is an OSError naming it (`append_whole`)."""
        kept = "its earlier lines and the run's samples are kept: rerun the same command to resume"
        try:
            with open(self.invocations_path, "ab", buffering=0) as f:
                append_whole(f, (json.dumps(fields) + "\n").encode("utf-8"))
        except OSError as e:
            raise named_error(e, self.invocations_path, kept) from None

    @contextmanager
    def appender(self) -> Iterator["SampleWriter"]:
        """A writer that appends sample lines; a partial last line a killed run left is cut first,
        so appends start on a fresh line."""
        path = self.samples_path
        cut = cut_partial_line(path)
        if cut:  # a run killed as it wrote: the sample of that line is made again, and the user is told
            print(f"evalkit: {path}: its last line was cut off ({cut} bytes, a run killed as it wrote): removed; "
                  "that sample is made again", file=sys.stderr)
        # unbuffered: a write the disk refused is not tried again when the file is closed
        with open(path, "ab", buffering=0) as sink:
            yield SampleWriter(sink, self)

    def replace_samples(self, fresh: dict[Key, dict[str, Any]]) -> None:
        """Rewrite samples.jsonl with the lines whose resume key is in `fresh` replaced by its record
        (keys in SAMPLE_KEYS order), every other line byte for byte as it was. Atomic: a new file,
        on disk, then renamed over the old, so a kill at any moment leaves one whole file. A symlinked
        samples.jsonl stays a link: its target is the file rewritten. A failed rewrite leaves the old
        file and no temporary beside it; one a killed rewrite left is removed by `start`."""
        path = self._rewrite_paths()[0]
        kept = "samples.jsonl is as it was: rerun the same command to check those samples again"
        with open(path, encoding="utf-8") as src, write_whole(path, kept, encoding="utf-8") as out:
            for line in src:
                if not line.endswith("\n"):  # a killed run's partial last line: the appender cuts it too
                    break
                record = json.loads(line) if line.strip() else None
                key = sample_key(record) if isinstance(record, dict) else None
                if key in fresh:
                    line = jsonl.dumps({k: fresh[key].get(k) for k in SAMPLE_KEYS}) + "\n"
                out.write(line)

    def _rewrite_paths(self) -> tuple[Path, Path]:
        """(the file samples.jsonl is, through a link; the temporary file a rewrite writes beside it)."""
        path = self.samples_path.resolve()
        return path, path.with_name(path.name + ".tmp")

    def frame(self):
        """The samples as a pandas DataFrame, one row per problem x sample, columns SAMPLE_KEYS."""
        import pandas as pd

        if not self.samples_path.is_file():
            raise InputError(f"{self.path}: no samples.jsonl (not an evalkit run directory)")
        frame = pd.DataFrame(self.samples(), columns=list(SAMPLE_KEYS))
        for column in COUNT_KEYS:  # a count some lines lack stays a count (Int64 with <NA>), not float64 with NaN
            col = frame[column]
            if col.isna().any() and (col.isna().all() or (col.dtype.kind == "f" and (col.dropna() % 1 == 0).all())):
                frame[column] = col.astype("Int64")
        return frame


COUNT_KEYS = ("sample", "seed", "prompt_tokens", "completion_tokens", "reasoning_tokens", "budget", "forced_waits")


class SampleWriter:
    """Appends sample records to samples.jsonl; each `write` is on disk (fsync) when it returns.
    sink: the file, opened unbuffered for binary appends (`open(path, "ab", buffering=0)`)."""

    def __init__(self, sink: BinaryIO, run: "RunDir | None" = None) -> None:
        self._sink = sink
        self._run = run  # counts what is appended (RunDir.appended)

    def write(self, records: list[dict[str, Any]]) -> int:
        """Append `records` (sample dicts; keys in SAMPLE_KEYS order, others dropped); returns how many.
        Ctrl-C and SIGTERM wait until the lines are on disk and counted: one that came between the two left lines
        on disk that the invocation's record said it had not saved (`saved: 0` beside 5 new lines)."""
        with _signals_held():
            text = "".join(jsonl.dumps({k: r.get(k) for k in SAMPLE_KEYS}) + "\n" for r in records)
            try:
                append_whole(self._sink, text.encode("utf-8"))
            except OSError as e:  # a full disk: name the file (what was written before stays whole)
                raise named_error(e, getattr(self._sink, "name", "samples.jsonl"), SAMPLES_KEPT) from None
            if self._run is not None:
                self._run.appended += len(records)
        return len(records)


_HELD = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def _signals_held() -> Iterator[None]:
    """SIGINT and SIGTERM held while the block runs, then delivered to their handlers (in the main thread, where
    Python runs them; elsewhere, or where a handler was not set from Python, the block runs as it is)."""
    old = {s: signal.getsignal(s) for s in _HELD} if threading.current_thread() is threading.main_thread() else {}
    if not old or any(h is None for h in old.values()):
        yield
        return
    pending: list[int] = []
    for s in _HELD:
        signal.signal(s, lambda signum, frame: pending.append(signum))
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
        for s in pending[:1]:  # the first one stops the run; its handler decides how
            signal.raise_signal(s)


def read_samples(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The complete lines of a samples.jsonl (see `RunDir.samples`); [] when there is no file."""
    path = Path(path)
    out: list[dict[str, Any]] = []
    if not path.is_file():
        return out
    lines: dict[Key, int] = {}  # each sample's line: a second line for one sample would count it twice
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            if not raw.endswith(b"\n"):
                break
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise InputError(f"{path}: line {lineno}: not UTF-8 text (byte {e.start + 1} of the line: "
                                 f"{e.reason}); fix or remove that line") from None
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                why = jsonl.json_error(e)
                raise InputError(f"{path}: line {lineno}: not valid JSON ({why}); fix or remove that line") from None
            except (ValueError, RecursionError) as e:  # an integer of more than 4,300 digits; nesting Python cannot read
                why = "nested too deeply" if isinstance(e, RecursionError) else str(e)[:200]
                raise InputError(f"{path}: line {lineno}: unreadable JSON ({why}); fix or remove that line") from None
            if not isinstance(record, dict):
                raise InputError(f"{path}: line {lineno}: expected a JSON object")
            problem = _not_a_sample(record)
            if problem:
                raise InputError(f"{path}: line {lineno}: not a sample line ({problem}); fix or remove that line")
            problem = _bad_verdict(record)
            if problem:
                raise InputError(f"{path}: line {lineno}: {problem}; fix or remove that line")
            first = lines.setdefault(sample_key(record), lineno)
            if first != lineno:
                raise InputError(f"{path}: line {lineno}: a second line for the sample of line {first} (task "
                                 f"{record['task']!r}, problem {record['problem_id']!r}, sample {record['sample']}); "
                                 "remove one")
            out.append(record)
    return out


_TEXT, _OBJECT, _COUNT = ("a string", (str,)), ("an object", (dict,)), ("a whole number", (int,))
# config.json's and results.json's fields that readers rely on, with their types (null is allowed)
CONFIG_FIELDS = {"model": _TEXT, "backend": _TEXT, "completions": _TEXT, "identity": _OBJECT,
                 "think_format": _OBJECT, "think_budgets": _OBJECT}
TASKS_EXPECTED = "field 'tasks': expected a list of the run's task specs"
RESULT_FIELDS = {"task": _TEXT, "model": _TEXT, "verifier": _TEXT, "metrics": _OBJECT,
                 **{k: _COUNT for k in ("n_problems", "n_samples", "samples_per_problem", "n_unjudged",
                                        "n_truncated", "n_timeout", "n_no_answer")}}


def _check_fields(path: Path, data: dict[str, Any], expected: dict[str, tuple[str, tuple[type, ...]]],
                  where: str = "") -> None:
    """InputError naming the first of `expected`'s fields whose value in `data` has another type."""
    for name, (what, types) in expected.items():
        value = data.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, types)):
            raise InputError(f"{path}: {where}field '{name}': expected {what} or null, got {json.dumps(value)[:60]} "
                             "(edited by hand?)")


def _not_a_sample(record: dict[str, Any]) -> str | None:
    """What keeps a JSON object from being a sample line (its resume key, `sample_key`), or None."""
    for key in ("task", "model", "problem_id", "sample"):
        if key not in record:
            return f"field '{key}' is missing"
    if not isinstance(record["task"], str) or not record["task"]:
        return f"field 'task': expected a task name, got {json.dumps(record['task'])[:40]}"
    if not isinstance(record["model"], str):
        return f"field 'model': expected a model name, got {json.dumps(record['model'])[:40]}"
    if not isinstance(record["problem_id"], (str, int)) or isinstance(record["problem_id"], bool):
        return f"field 'problem_id': expected a string, got {json.dumps(record['problem_id'])[:40]}"
    for key in ("sample", "budget"):
        value = record.get(key)
        if (value is not None or key == "sample") and (isinstance(value, bool) or not isinstance(value, int)):
            return f"field '{key}': expected an integer{' or null' if key == 'budget' else ''}, got {json.dumps(value)[:40]}"
    return None


def _bad_verdict(record: dict[str, Any]) -> str | None:
    """What is wrong with a sample line's verdict, which a resume reuses and every metric counts (a quoted
    "false" would count as correct), or None."""
    if record.get("correct") is not None and not isinstance(record["correct"], bool):
        return f"field 'correct': expected true, false or null, got {json.dumps(record['correct'])[:40]}"
    score = record.get("score")
    if score is not None and (isinstance(score, bool) or not isinstance(score, (int, float))):
        return f"field 'score': expected a number or null, got {json.dumps(score)[:40]}"
    if record.get("completion") is not None and not isinstance(record["completion"], str):
        return f"field 'completion': expected a string, got {json.dumps(record['completion'])[:40]}"
    return None


def scored_samples(samples: list[dict[str, Any]], config: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The samples the run's last invocation scored, the ones its results.json counts: a rerun with a
    smaller -n or --limit leaves more lines in samples.jsonl than that (config.json records each task's
    `n`, and `problem_ids` under --limit). config: the run's config.json (None or {}: all samples)."""
    tasks = (config or {}).get("tasks") or []
    if not isinstance(tasks, list):
        raise InputError(f"config.json: {TASKS_EXPECTED}, got {json.dumps(tasks)[:60]}")
    plan = {t.get("name"): t for t in tasks if isinstance(t, dict)}
    if not plan:
        return samples
    ids: dict[str, set[str] | None] = {}  # a set, so a large limited run is read in linear time
    for name, task in plan.items():
        given = task.get("problem_ids")
        if given is not None and not (isinstance(given, list) and all(isinstance(i, str) for i in given)):
            raise InputError(f"config.json: task {name!r}: field 'problem_ids': expected a list of strings "
                             f"(the problems a --limit run scored), got {json.dumps(given)[:60]}")
        ids[name] = None if given is None else set(given)

    def scored(rec: dict[str, Any]) -> bool:
        task = plan.get(rec.get("task"))
        if task is None:
            return True
        wanted = ids[rec["task"]]
        n = task.get("n")
        return (wanted is None or str(rec.get("problem_id")) in wanted) and (
            not isinstance(n, int) or not isinstance(rec.get("sample"), int) or rec["sample"] < n)
    return [rec for rec in samples if scored(rec)]


def _write_json(path: Path, data: Any) -> None:
    """Write JSON whole or not at all (`write_whole`)."""
    kept = f"the samples are kept and {path.name} is as it was: rerun the same command to resume"
    with write_whole(path, kept, encoding="utf-8") as f:
        f.write(jsonl.dumps(data, indent=1, default=str))
