"""analyze_file: any JSONL of completions (evalkit's samples, other harnesses' outputs) in, traces out."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evalkit.errors import InputError
from evalkit.jsonl import read_jsonl_numbered, write_jsonl
from evalkit.trace._analyze import analyze_many
from evalkit.trace._stats import summarize

if TYPE_CHECKING:
    from evalkit.trace._model import ReflectionModel


def _read(path: Path, completion_field: str, gold_field: str | None) -> list[dict[str, Any]]:
    """The lines of a JSON-lines file, each checked to hold the completion (and a usable gold); for a
    run directory, the lines of its samples.jsonl that the run's results count (`scored_samples`)."""
    config = None
    if path.is_dir():
        from evalkit.run.rundir import RunDir

        run = RunDir(path)
        path, config = run.samples_path, run.config()
    rows = []
    for n, row in read_jsonl_numbered(path):
        value = row.get(completion_field)
        if not isinstance(value, str):
            what = "missing" if completion_field not in row else f"a {type(value).__name__}, not text"
            raise InputError(f"{path}:{n}: field '{completion_field}' is {what} (choose it with --completion-field)")
        if gold_field is not None and row.get(gold_field) is not None and not isinstance(row[gold_field], (str, int, float)):
            raise InputError(f"{path}:{n}: field '{gold_field}' must be a string or a number")
        rows.append(row)
    if config is not None:
        from evalkit.run.rundir import scored_samples

        rows = scored_samples(rows, config)
    return rows


def analyze_file(
    path: str | Path,
    out: str | Path | None = None,
    *,
    completion_field: str = "completion",
    gold_field: str | None = "gold",
    verifier: Any = "math",
    think_open: bool = False,
    tokenizer: Any = None,
    rules: Any = None,
    detector: str = "model",
    workers: int | None = 1,
    think_format: Any = "auto",
    reflection_model: ReflectionModel | str | Path | None = None,
) -> dict[str, Any]:
    """Analyze every line of a JSONL file; write each line back with a `trace` field (same order) to
    `out` when given, and return the run-level summary (`summarize`).

    path: the JSON-lines file, or a run directory: the samples of its samples.jsonl that its results
    count (a rerun with a smaller -n or --limit leaves more lines there; given as a file, every line).

    Per line, `finish_reason` and `think_open` are read when present (`think_open` here is the default
    for lines without one), and a `correct` field is taken as the line's verdict (so the final answer
    is not re-verified). Lines without a gold answer are not verified. `detector`, `reflection_model`:
    see `analyze_many`. workers: processes for the marker search; None: the CPUs this process may use
    (up to AUTO_WORKERS) when the file has AUTO_MIN_LINES lines or more, else one.
    think_format: how the completions think (a name, a row, or `auto`: from their markers); the
    summary's `think_format` says what was used and why.
    """
    path = Path(path)
    rows = _read(path, completion_field, gold_field)
    golds = [None if gold_field is None or r.get(gold_field) is None else str(r[gold_field]) for r in rows]
    opens = [bool(r.get("think_open", think_open)) for r in rows]
    finish = [r.get("finish_reason") if isinstance(r.get("finish_reason"), str) else None for r in rows]
    known = [r.get("correct") if isinstance(r.get("correct"), bool) else None for r in rows]
    from evalkit.thinking import decide

    decision = decide(think_format, completions=[r[completion_field] for r in rows], think_open=any(opens))
    if workers is None:
        workers = _auto_workers(len(rows))
    try:
        stats = analyze_many([r[completion_field] for r in rows], golds, verifier if any(golds) else None,
                             think_open=opens, finish_reasons=finish, correct=known, tokenizer=tokenizer,
                             rules=rules, detector=detector, workers=workers, think_format=decision.format,
                             reflection_model=reflection_model)
    except KeyError as e:  # an unknown verifier name
        raise InputError(f"--verifier: {e.args[0] if e.args else e}") from None
    if out is not None:
        write_jsonl(out, ({**row, "trace": s.to_dict()} for row, s in zip(rows, stats)))
    return {**summarize(stats), "think_format": {"name": decision.format.name, "decided_by": decision.reason}}


AUTO_WORKERS = 8
AUTO_MIN_LINES = 256  # below this, starting the processes costs more than they save


def _auto_workers(lines: int) -> int:
    """The marker search's processes for a file of `lines` lines (see `analyze_file`)."""
    if lines < AUTO_MIN_LINES:
        return 1
    try:
        cpus = len(os.sched_getaffinity(0))  # the CPUs this process may run on, not the machine's
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    return max(1, min(AUTO_WORKERS, cpus))
