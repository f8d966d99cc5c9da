"""`evalkit export`: a task as a training set, so a model is trained on exactly what it is evaluated on.

TRL (`--format trl`): one row per problem with `prompt` (chat messages: the task's system prompt, if
any, then the rendered user prompt) and the column its reward reads: `answer` for math and choice
tasks (`math_reward`, `choice_reward`), `tests` (code-test JSON) for code tasks (`code_reward`); plus
`problem_id`, `task` and `verifier` (a reward leaves the rows of another built-in reward's verifier: math and
choice rows both hold `answer`), and `verifier_options` (JSON text, which the rewards read per row) where the spec
gives them. Written as JSON lines, or parquet when PATH ends in `.parquet`.

veRL (`--format verl`): veRL's parquet schema: `data_source` (the task name), `prompt` (chat
messages), `ability`, `reward_model` (`{"style": "rule", "ground_truth": ...}`) and `extra_info`
(`index`, `problem_id`, `task`, `verifier`, `think_open`), which `evalkit.rewards.verl` routes on;
`think_open` is true where the spec's prompt opens thinking, else null (the rewards read the trainer's
template off the batch); `verifier_options` where the spec gives them.
"""

from __future__ import annotations

import gzip
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Sequence

from evalkit import jsonl
from evalkit.errors import InputError
from evalkit.outputs import check_outputs, runs_around
from evalkit.taskspec import TaskSpec, load_problems, load_task, prompt_messages
from evalkit.types import Problem, last_user_message
from evalkit.windows import apply_dataset_choices, make_window

FORMATS = ("trl", "verl")


def export_rows(spec: TaskSpec, problems: list[Problem], fmt: str) -> list[dict[str, Any]]:
    """The training rows for `problems` in format `trl` or `verl`; each row's prompt is the one
    `evalkit run` asks (`evalkit.taskspec.prompt_messages`)."""
    return [training_row(spec, problem, prompt_messages(spec, problem), fmt, index)
            for index, problem in enumerate(problems)]


def training_row(spec: TaskSpec, problem: Problem, messages: list[dict[str, str]], fmt: str, index: int,
                 extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """One training row in format `trl` or `verl`.

    messages: the chat messages the problem is asked with. index: the row's position (veRL's
    `extra_info.index`). extra: more fields, top-level columns for TRL, inside `extra_info` for veRL
    (e.g. the pass rate `evalkit curate` measured).
    """
    gold = problem.tests.to_json() if problem.tests is not None else problem.answer
    if fmt == "trl":
        key = "tests" if problem.tests is not None else "answer"
        # true where the spec says its prompt opens thinking (the rewards then read a reply cut mid-thought as
        # truncated, as `evalkit run` does); else the rewards read the trainer's template off the completions
        opened = {"think_open": True} if spec.think_open else {}
        # as JSON text: one file of several tasks holds options of other shapes, which one struct column would refuse
        public = spec.public_options()
        options = {"verifier_options": json.dumps(public, sort_keys=True)} if spec.verifier_options else {}
        # the verifier: in a file of math and choice rows, both rewards read `answer`, and each leaves the other's
        return {"prompt": messages, key: gold, "problem_id": problem.id, "task": spec.name, "verifier": spec.verifier,
                **opened, **options, **(extra or {})}
    return {
        "data_source": spec.name,
        "prompt": messages,
        "ability": spec.verifier,
        "reward_model": {"style": "rule", "ground_truth": gold},
        # the problem as asked (the last user message): a judge reads what the model read, options and all
        "extra_info": {"index": index, "problem_id": problem.id, "task": spec.name,
                       "problem": last_user_message(messages) or problem.problem,
                       # true where the spec says its prompt opens thinking; else left to the rewards, which
                       # read the trainer's template off the batch's completions (False would overrule them)
                       "verifier": spec.verifier, "think_open": True if spec.think_open else None,
                       # the options the task is verified with (gpqa's letters), which evalkit.rewards.verl applies
                       **({"verifier_options": spec.public_options()} if spec.verifier_options else {}),
                       **(extra or {})},
    }


def trainer_notes(specs: Sequence[TaskSpec]) -> list[str]:
    """What a task asks with that its rows cannot carry, since the trainer reads it
    from its own settings and not from a row: its chat template options. (Its verifier options are in
    every row: TRL's `verifier_options` column, veRL's `extra_info.verifier_options`.)"""
    notes = [f"note: task {spec.name} asks with chat template options {json.dumps(spec.chat_template_kwargs)}"
             "; give the trainer the same (TRL: GRPOConfig(chat_template_kwargs=...); veRL: "
             "data.apply_chat_template_kwargs)" for spec in specs if spec.chat_template_kwargs]
    notes += [f"note: task {spec.name}'s verifier options hold an api_key, which the rows leave out; the judge "
              "reads OPENAI_API_KEY where the trainer runs"
              for spec in specs if spec.public_options() != spec.verifier_options]
    return notes


# suffixes that name a format evalkit does not write
OTHER_FORMATS = {".csv", ".tsv", ".arrow", ".feather", ".xlsx", ".xls", ".txt", ".pq", ".pkl", ".pickle"}


def check_out_path(fmt: str, out: str | os.PathLike) -> Path:
    """`out` as a Path, or InputError when `fmt` cannot be written there (veRL reads only parquet)."""
    if fmt not in FORMATS:
        raise InputError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    out = Path(out)
    if fmt == "verl" and out.suffix.lower() != ".parquet":
        raise InputError(f"{out}: veRL reads parquet; give a path ending in .parquet")
    if out.suffix.lower() in OTHER_FORMATS:  # JSON lines under a name that says otherwise: a loader misreads it
        raise InputError(f"{out}: evalkit writes JSON lines (.jsonl, .jsonl.gz) or parquet (.parquet), not "
                         f"{out.suffix}")
    if out.is_dir():
        raise InputError(f"{out}: is a directory; give a file path")
    return out


def write_rows(rows: list[dict[str, Any]], out: Path) -> Path:
    """Write `rows` as parquet (a `.parquet` path) or JSON lines (gzipped for a `.gz` path); the file
    appears whole or not at all."""
    write_files([(rows, out)])
    return out


def write_files(files: Sequence[tuple[list[dict[str, Any]], Path]]) -> None:
    """Write each (rows, path) as `write_rows` does, all of them or none: every file is written beside
    its path under a temporary name first, and renamed into place only once all were written.
    A path that cannot be written (a read-only or missing place, a full disk) is an InputError naming
    it; nothing is left behind then, not even the folders made for it."""
    made: list[Path] = []  # folders made here, deepest last, removed again if the writing fails
    temps: list[Path] = []
    path = None
    try:
        for rows, path in files:
            _make_folder(path.parent, made)
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
            os.close(fd)
            temps.append(Path(tmp))
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it 0600; the user's umask decides, as for any file
            _write(rows, Path(tmp), parquet=path.suffix.lower() == ".parquet", gz=path.suffix.lower() == ".gz")
        for tmp, (_, path) in zip(temps, files):
            os.replace(tmp, path)
        temps, made = [], []
    except OSError as e:
        raise InputError(f"{path}: cannot write it ({e.strerror or e})") from None
    finally:
        for tmp in temps:
            tmp.unlink(missing_ok=True)
        for folder in reversed(made):
            try:
                folder.rmdir()
            except OSError:
                pass


def _umask() -> int:
    """This process's umask: from /proc where Linux shows it, else by setting it and straight back
    (which another thread creating a file at that instant could see)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _make_folder(folder: Path, made: list[Path]) -> None:
    """Make `folder` and its missing parents, appending each one made to `made`, outermost first."""
    for missing in reversed([f for f in [folder, *folder.parents] if not f.exists()]):
        missing.mkdir(exist_ok=True)
        made.append(missing)


def _write(rows: list[dict[str, Any]], path: Path, parquet: bool, gz: bool = False) -> None:
    if parquet:
        _write_parquet(rows, path)
        return
    with (gzip.open(path, "wt", encoding="utf-8") if gz else open(path, "w", encoding="utf-8")) as f:
        for row in rows:
            f.write(jsonl.dumps(row) + "\n")


def export_task(task: str, fmt: str, out: str | os.PathLike, limit: int | None = None,
                source: str = "auto", think_format: str | None = None, gold_lists: bool = False,
                since: str | None = None, until: str | None = None, release: str | None = None) -> Path:
    """Write task `task` (a built-in name or a YAML path) as a training set at `out`; returns the path.

    fmt: `trl` (JSON lines, or parquet for a `.parquet` path) or `verl` (parquet).
    limit: only the first `limit` problems. source: `auto`, `hub` or `local`, as for `evalkit run`.
    think_format: how the policy will think (a format name, a user's `FILE.yaml[:NAME]`, or `auto`),
        written to every row (TRL: a `think_format` column; veRL: `extra_info.think_format`) so the rewards
        read the thinking the same way: a built-in by name, a user's row as the row itself (a trainer
        started elsewhere cannot read the YAML file); None writes nothing (the rewards then assume r1).
    gold_lists: write every gold as a list (a single one as a list of one), as a file with several
        accepted answers on some row does anyway: files to be loaded together need one type of gold.
    since, until, release: the problems dated in this window (ISO days, both ends included) of this dataset
        release, as `evalkit run` takes them (a LiveCodeBench window to train on, beside the one to evaluate on).
    Raises InputError for bad input; the file appears whole or not at all.
    """
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise InputError(f"--limit: expected a whole number of at least 1, got {limit!r}")
    out = check_out_path(fmt, out)
    spec = apply_dataset_choices(load_task(task), make_window(since, until), release)
    check_outputs({"--out": out}, {**runs_around({"--out": out}), **{
        p: f"task {spec.name}'s {what}" for p, what in ((spec.path, "spec"), (spec.dataset.local, "dataset"))
        if p is not None}}, "export")
    from evalkit.run.loop import check_golds, rules_for

    rules = rules_for(spec)  # the rows are scored by it: a name or option that cannot load stops here
    problems = load_problems(spec, limit=limit, source=source).problems
    if not problems:
        raise InputError(f"task {spec.name!r} has no problems to export")
    # as `evalkit run` says it: such rows can never be rewarded (TRL: None; veRL: 0, unjudged)
    check_golds(spec, problems, rules, "their rows are written, but no reward can score them", "nothing written")
    extra = {"think_format": format_column(think_format)} if think_format is not None else None
    return write_rows(uniform_golds([training_row(spec, p, prompt_messages(spec, p), fmt, i, extra)
                                     for i, p in enumerate(problems)], always=gold_lists), out)


def uniform_golds(rows: list[dict[str, Any]], always: bool = False) -> list[dict[str, Any]]:
    """`rows` with one type of gold: where any row's gold is a list (several accepted answers), or where
    `always`, every row's is (a single one as a list of one, which the rewards read the same). Parquet
    cannot hold a column of lists and texts, and `datasets` reads such a JSON-lines column as JSON, so a
    text gold "[1, 2]" became two answers; files loaded together (veRL's `train_files`) must agree too."""
    def gold(row):
        return row["reward_model"]["ground_truth"] if "reward_model" in row else row.get("answer")

    if not always and not any(isinstance(gold(r), (list, tuple)) for r in rows):
        return rows
    out = []
    for row in rows:
        value = gold(row)
        if value is not None and not isinstance(value, (list, tuple)):
            value = [value]
        elif isinstance(value, tuple):
            value = list(value)
        if "reward_model" in row:
            row = {**row, "reward_model": {**row["reward_model"], "ground_truth": value}}
        elif "answer" in row:
            row = {**row, "answer": value}
        out.append(row)
    return out


def format_column(think_format: Any) -> str | dict[str, Any]:
    """What a row's think-format column holds: `auto` or a built-in row's name as they are, a user's row
    (from YAML, or a ThinkFormat or its dict) as the row itself; InputError for an unknown name or an unreadable file."""
    from evalkit.thinking import FORMATS, get_format

    if think_format == "auto":
        return think_format
    row = get_format(think_format)
    return row.name if FORMATS.get(row.name) == row else row.to_dict()


def _write_parquet(rows: list[dict[str, Any]], path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    # every row's columns (pyarrow takes the first row's alone: a code task's `tests` after a math
    # task's `answer` was dropped), each row holding null where it has none
    columns = list(dict.fromkeys(k for row in rows for k in row))
    try:
        table = pa.Table.from_pylist([{k: row.get(k) for k in columns} for row in rows])
    except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
        raise InputError(f"{path}: these rows cannot be one parquet table ({e}); write JSON lines instead") from None
    pq.write_table(table, path)
