"""analyze_file: any JSONL of completions (evalkit's samples, other harnesses' outputs) in, traces out."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

from evalkit.errors import InputError
from evalkit.jsonl import read_jsonl_numbered, write_jsonl
from evalkit.outputs import check_outputs, read_files
from evalkit.taskspec import gold_answer
from evalkit.thinking import opened_vote
from evalkit.trace._analyze import analyze_many
from evalkit.trace._stats import summarize

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from evalkit.run.rundir import RunDir
    from evalkit.thinking import FormatDecision
    from evalkit.trace._model import ReflectionModel


def _read(path: Path, completion_field: str, gold_field: str | None) -> list[dict[str, Any]]:
    """The lines of a JSON-lines file, each checked to hold the completion (and a usable gold, and a
    boolean `think_open` where it has one); for a run directory, the lines of its samples.jsonl that the
    run's results count (`scored_samples`), read as every reader of a run reads them (`RunDir.samples`:
    a last line a killed run cut off is left out); of a thinking-budget sweep, each task and model's headline
    budget's (`budgets.headline_rows`)."""
    config = None
    if path.is_dir():
        from evalkit.run.rundir import RunDir

        run = RunDir(path)
        path, config = run.samples_path, run.config()
        numbered = _run_lines(run)
    else:
        numbered = read_jsonl_numbered(path)
    rows = []
    for n, row in numbered:
        value = row.get(completion_field)
        if _messages(value):  # chat messages (TRL's conversational completions): their assistant text
            from evalkit.rewards._inputs import completion_text

            for m in value if isinstance(value, list) else [value]:
                content = m.get("content")  # none (a tool call's) is empty text; `5` was read as the answer 5
                if not (content is None or isinstance(content, str) or isinstance(content, list)
                        and all(isinstance(part, (str, dict)) for part in content)):
                    raise InputError(f"{path}:{n}: field '{completion_field}': a message's content is "
                                     f"{_json_kind(content)}, not text")

            value = row[completion_field] = completion_text(value)
        if not isinstance(value, str):
            what = "missing" if completion_field not in row else f"{_json_kind(value)}, not text"
            raise InputError(f"{path}:{n}: field '{completion_field}' is {what} (choose it with --completion-field)")
        if gold_field is not None and row.get(gold_field) is not None and not _usable_gold(row[gold_field]):
            raise InputError(f"{path}:{n}: field '{gold_field}' must be a string, a number, or a list of them "
                             "(accepted answers)")
        if "think_open" in row and not isinstance(row["think_open"], bool):
            raise InputError(f"{path}:{n}: field 'think_open' must be true or false, "
                             f"got {json.dumps(row['think_open'])[:40]}")
        if row.get("correct") is not None and not isinstance(row["correct"], bool):  # a quoted "false" was re-verified
            raise InputError(f"{path}:{n}: field 'correct' must be true, false or null (the line's verdict), "
                             f"got {json.dumps(row['correct'])[:40]}")
        rows.append(row)
    if not rows and config is None:
        raise InputError(f"{path}: no lines to analyze")
    if config is not None:
        from evalkit.budgets import headline_rows
        from evalkit.run.rundir import scored_samples

        rows, budgets = headline_rows(scored_samples(rows, config))
        if budgets:
            print(f"evalkit: a thinking-budget sweep: the traces of its headline budget "
                  f"({', '.join(map(str, sorted(budgets)))}, as results.json's figures) are read, not every budget's "
                  "cut copies of them", file=sys.stderr)
    return rows


def _messages(value: Any) -> bool:
    """Whether a completion is given as chat messages: a message (a dict with a `content` or a `role`;
    one without content, a tool call's, is empty text), or a non-empty list of them."""
    def message(m: Any) -> bool:
        return isinstance(m, dict) and ("content" in m or "role" in m)

    return message(value) or (isinstance(value, list) and bool(value) and all(map(message, value)))


def _json_kind(value: Any) -> str:
    """What a JSON value is, in JSON's words (a user wrote JSON, not Python)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({json.dumps(value)})"
    if isinstance(value, (int, float)):
        return f"a number ({value})"
    return "an object" if isinstance(value, dict) else "a list" if isinstance(value, list) else type(value).__name__


def file_format(path: str | Path, think_format: Any, completions: Sequence[str], think_open: bool = False
                ) -> FormatDecision:
    """How the completions read from `path` think: the row `think_format` names; for `auto` (or None),
    the row a run recorded in its config.json when `path` is a run directory or its samples.jsonl (every
    reader of a run reads that one row), else the row whose markers `completions` hold (`thinking.decide`)."""
    from evalkit.thinking import FormatDecision, decide, recorded_format

    config = _run_config(Path(path)) if think_format in (None, "auto") else None
    if config is None:
        try:
            return decide(think_format, completions=completions, think_open=think_open)
        except InputError as e:
            raise InputError(f"{path}: {e}") from None
    how = (config.get("think_format") or {}).get("decided_by") or "a run made before runs recorded one: r1"
    return FormatDecision(recorded_format(config), f"the run's config.json: {how}")


def _run_config(path: Path) -> dict[str, Any] | None:
    """The config.json of the run `path` is (a run directory: {} when it has none) or holds the samples
    of (its samples.jsonl, when that config records a think format); None for any other file."""
    from evalkit.run.rundir import RunDir

    if path.is_dir():
        return RunDir(path).config() or {}
    if path.name != "samples.jsonl":
        return None
    try:  # a samples.jsonl beside another tool's config.json is a plain file of completions
        config = RunDir(path.parent).config()
    except InputError:
        return None
    return config if isinstance((config or {}).get("think_format"), dict) else None


def _usable_gold(gold: Any) -> bool:
    """Text, a number, or a list of them (several accepted answers, as a run records them)."""
    scalar = (str, int, float)
    return (isinstance(gold, scalar) and not isinstance(gold, bool)) or (
        isinstance(gold, list) and all(isinstance(g, scalar) and not isinstance(g, bool) for g in gold))


def _run_lines(run: RunDir) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, sample) for the samples `RunDir.samples` reads: the non-blank lines that end in a newline."""
    if not run.samples_path.is_file():
        raise InputError(f"{run.samples_path}: file not found")
    samples = run.samples()
    with open(run.samples_path, encoding="utf-8") as f:
        numbers = [n for n, line in enumerate(f, 1) if line.endswith("\n") and line.strip()]
    return zip(numbers, samples)


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
    for lines without one; it must be true or false), and a `correct` field is taken as the line's
    verdict (so the final answer is not re-verified): null is unjudged (what a verifier fault records
    in a run), and such a line's answers are not verified at all. Lines without a `correct` field are
    verified; lines without a gold answer are not. Writing `out` over what is read (the file, or a run's
    files) is refused. `detector`, `reflection_model`:
    see `analyze_many`. workers: processes for the marker search; None: the CPUs this process may use
    (up to AUTO_WORKERS) when the file has AUTO_MIN_LINES lines or more, else one.
    think_format: how the completions think (a name, a row, or `auto`: for a run, the row its config.json
    records, else from the completions' markers; `file_format`); the summary's `think_format` says
    what was used and why.
    """
    path = Path(path)
    check_outputs({"--out": out}, read_files(path), "analyze")
    rows = _read(path, completion_field, gold_field)
    # a line whose `correct` is null holds a verdict: not judged (a verifier fault in a run), so it stays
    # unjudged, its answers not checked by another verifier; a line without `correct` is verified here
    golds = [None if gold_field is None or r.get(gold_field) is None or ("correct" in r and r["correct"] is None)
             else gold_answer(r[gold_field]) for r in rows]
    opens = [bool(r.get("think_open", think_open)) for r in rows]
    finish = [r.get("finish_reason") if isinstance(r.get("finish_reason"), str) else None for r in rows]
    known = [r.get("correct") if isinstance(r.get("correct"), bool) else None for r in rows]
    decision = file_format(path, think_format, [r[completion_field] for r in rows], any(opens))
    if not think_open:  # each model's lines vote apart (as a replay reads them): one model's template opening
        # thinking says nothing of another's
        by_model: dict[Any, list[int]] = {}
        for i, r in enumerate(rows):
            by_model.setdefault(r.get("model") if isinstance(r.get("model"), str) else None, []).append(i)
        shown = [model for model, lines in by_model.items()
                 if not any("think_open" in rows[i] for i in lines)
                 and sum(opened_vote(rows[i][completion_field], decision.format, finish[i], own_line=True)
                         for i in lines) > 0]
        for model in shown:
            for i in by_model[model]:
                opens[i] = True
        if shown:
            whose = "" if shown == [None] else " of " + ", ".join(repr(m) if m else "lines without a model"
                                                                   for m in shown)
            log.warning("evalkit: %s: the completions%s close thinking they never open: read as opened by the "
                        "prompt (--think-open), so one that never closes is truncated; give 'think_open' in the "
                        "lines to say otherwise", path, whose)
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
    return {**summarize(stats), "think_format": {"name": decision.format.name, "decided_by": decision.reason},
            # an empty text or list, or NaN, is no gold (gold_answer), as in a task's data
            "lines_with_gold": sum(gold_field is not None and gold_answer(r.get(gold_field)) is not None for r in rows)}


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
