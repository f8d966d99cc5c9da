"""`evalkit verify --pairs FILE.jsonl`: verify a file of (completion, gold) lines, in input order.

Each line is a JSON object with `gold` and one of `completion` (a model's whole output: the answer
is read after its think block) or `answer` (final answer text alone, read whole, as a gold is
read), and optional `verifier` (default: the `--verifier` given, else `math`), `finish_reason`,
`think_open`, `think_format` (a think format's name; default: the file's, see read_pairs) and `id`.
Each output line is the input's `id` plus the Verdict's fields. A list `gold` is several accepted
answers, as a run reads it: the line's verdict is the best against any of them (`best_verdict`).
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterator

from evalkit.errors import InputError
from evalkit.jsonl import read_jsonl_numbered
from evalkit.taskspec import gold_answer
from evalkit.thinking import ThinkFormat, decide, finish_reason_of, get_format, shows_opened
from evalkit.types import Verdict
from evalkit.verifiers.base import (VerifyItem, best_verdict, get_verifier, gold_problem, golds_for, option_problem,
                                    readable_golds, verifier_factory, verify_checked, verify_wait)

log = logging.getLogger(__name__)


def read_pairs(path: str | Path, verifier: str = "math", think_format: Any = "auto") -> list[dict[str, Any]]:
    """Every line of a pairs file, checked; InputError names the file, line and field at fault.

    verifier: the verifier of lines that do not name their own.
    think_format: how the completions think (a name, a row, or `auto`: from the markers in the
    file's completions); a line's own `think_format` field wins.
    """
    default = verifier
    raw = list(read_jsonl_numbered(path))
    if not raw:  # an empty --out and exit 0 read as "all verified"
        raise InputError(f"{path}: no lines to verify (expected one JSON object per line with 'gold' and "
                         "'completion' or 'answer')")
    # the think format, from the lines that do not name their own (a completion that is not text is refused
    # at its line below)
    texts = [r["completion"] for _, r in raw
             if isinstance(r.get("completion"), str) and r.get("think_format") in (None, "auto")]
    try:
        decided = decide(think_format, completions=texts or None).format
    except InputError as e:
        raise InputError(f"{path}: {e}") from None
    rows = []
    for n, row in raw:
        if "completion" not in row and "answer" not in row:
            raise InputError(f"{path}:{n}: missing field 'completion' (or 'answer')")
        if "completion" in row and "answer" in row:
            raise InputError(f"{path}:{n}: fields 'completion' and 'answer': give one (a model's output, "
                             "or final answer text)")
        if "gold" not in row:
            raise InputError(f"{path}:{n}: missing field 'gold'")
        if row["gold"] is None:  # nothing to compare with: the file's fault, not an unjudged verdict
            raise InputError(f"{path}:{n}: field 'gold' is null (expected the gold answer)")
        if gold_answer(row["gold"]) is None:  # NaN (what json.dumps writes for pandas' NA), "", [], [NaN]
            raise InputError(f"{path}:{n}: field 'gold' holds no answer ({json.dumps(row['gold'])[:40]}), "
                             "a missing value (expected the gold answer)")
        if row.get("finish_reason") is not None and not isinstance(row["finish_reason"], str):
            raise InputError(f"{path}:{n}: field 'finish_reason' must be a string (\"stop\", \"length\") or null, "
                             f"got {type(row['finish_reason']).__name__}")
        field = "completion" if "completion" in row else "answer"
        text = row[field]
        if text is not None and not isinstance(text, str):
            raise InputError(f"{path}:{n}: field '{field}' must be a string, got {type(text).__name__}")
        verifier = row.get("verifier", default)
        if not isinstance(verifier, str):
            raise InputError(f"{path}:{n}: field 'verifier' must be a verifier name (math, choice)")
        think_open = row.get("think_open") or False
        if not isinstance(think_open, bool):
            raise InputError(f"{path}:{n}: field 'think_open': expected true or false, got {think_open!r}")
        rows.append({"line": n, "id": row.get("id", n), "verifier": verifier, "item": VerifyItem(
            text, row["gold"], finish_reason_of(row.get("finish_reason")), think_open, answer_only=field == "answer",
            think_format=_line_format(path, n, row, decided))})
    return _think_open_shown(path, rows, decided, stated=any("think_open" in r for _, r in raw))


def _think_open_shown(path: str | Path, rows: list[dict[str, Any]], fmt: ThinkFormat,
                      stated: bool) -> list[dict[str, Any]]:
    """The rows read as opened by the prompt (think_open) where no line says and the completions show it
    (`shows_opened`), as `run --completions` and `analyze` read the same file: a completion that never closes
    its thinking is then unfinished thinking, not an answer."""
    items = [r["item"] for r in rows if not r["item"].answer_only]
    if stated or not shows_opened([(i.completion, i.finish_reason) for i in items], fmt):
        return rows
    log.warning("evalkit: %s: the completions close thinking they never open: read as opened by the prompt "
                "(think_open), so one that never closes is unfinished; give 'think_open' in the file to say "
                "otherwise", path)
    return [{**r, "item": r["item"] if r["item"].answer_only else replace(r["item"], think_open=True)} for r in rows]


def _line_format(path: str | Path, n: int, row: dict[str, Any], default: ThinkFormat) -> ThinkFormat:
    if row.get("think_format") in (None, "auto"):
        return default
    try:
        return get_format(row["think_format"])
    except InputError as e:
        raise InputError(f"{path}:{n}: field 'think_format': {e}") from None


def _builds(name: str) -> bool:
    """Whether verifier `name` builds with its defaults."""
    try:
        get_verifier(name)
    except Exception:  # noqa: BLE001 - any failure means no
        return False
    return True


def verify_pairs(path: str | Path, verifier: str = "math", think_format: Any = "auto",
                 **options: Any) -> Iterator[dict[str, Any]]:
    """Verify every line of `path`; yields `{"id": …, **verdict}` per line, in input order.

    verifier: the verifier of lines without a `verifier` field (`--verifier`).
    think_format: as for read_pairs.
    options: verifier options (`--option`), for the lines whose verifier is `verifier`; a line that names another
    verifier gets its defaults.
    """
    from evalkit.verifiers.code import bad_tests

    _warm_up_first(path, verifier)
    rows = read_pairs(path, verifier, think_format)
    verdicts: list[Verdict | None] = [None] * len(rows)
    by_verifier: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        by_verifier.setdefault(row["verifier"], []).append(i)
    if options and verifier not in by_verifier:  # options no line would be checked with: a typo, not nothing
        raise InputError(f"--option {', '.join(options)}: for the lines verified by {verifier} (--verifier), and every "
                         f"line of {path} names another verifier")
    for name, idx in by_verifier.items():
        where = f"{path}:{rows[idx[0]]['line']}: field 'verifier'"  # the first line that names it
        try:
            built = get_verifier(name, **(options if name == verifier else {}))
        except KeyError as e:  # unknown, or a plugin that cannot be loaded
            raise InputError(f"{where}: {e.args[0]}") from None
        except (ValueError, TypeError) as e:  # one that refuses to be built (`judge` alone, `math+judge` unconfigured)
            if options and name == verifier and _builds(name):  # the options' fault: it builds without them
                raise InputError(f"--option: {option_problem(name, e)}") from None
            raise InputError(f"{where}: {name}: {str(e) or type(e).__name__}") from None
        items, owners = [], []  # a line with several accepted golds has one item per gold
        for i in idx:
            for gold in _accepted_golds(built, rows[i]["item"].gold):
                why = gold_problem(built, gold)  # one the verifier cannot read is the file's fault, as null is
                if why:
                    raise InputError(f"{path}:{rows[i]['line']}: field 'gold': {why}")
                items.append(replace(rows[i]["item"], gold=gold))
                owners.append(i)
        found: dict[int, list[Verdict]] = {}
        for i, v in zip(owners, verify_checked(built, items, verify_wait(built, len(items)))):
            found.setdefault(i, []).append(v)
        for i in idx:
            verdicts[i] = best_verdict(found[i])
            if bad_tests(verdicts[i]):  # tests found to test nothing only once run
                raise InputError(f"{path}:{rows[i]['line']}: field 'gold': {bad_tests(verdicts[i])}")
    for row, v in zip(rows, verdicts):
        yield {"id": row["id"], **v.to_dict()}  # type: ignore[union-attr]


def _accepted_golds(verifier: Any, gold: Any) -> tuple[Any, ...]:
    """The golds a line's `gold` is checked against: a list is several accepted answers, each read alone,
    as a run and the rewards read it (golds_for); any other value is one gold, as given."""
    if isinstance(gold, list):
        return readable_golds(verifier, golds_for(verifier, gold)) or (gold,)
    return (gold,)


def _warm_up_first(path: str | Path, default: str) -> None:
    """Start the first line's verifier's workers (when it has any) while the file is read."""
    try:
        with open(path, encoding="utf-8") as f:
            first = next((line for line in f if line.strip()), "")
        start = getattr(verifier_factory(json.loads(first).get("verifier", default)), "warm_up", None)
        if start is not None:
            start()
    except (OSError, ValueError, TypeError, AttributeError, KeyError, RecursionError):  # TypeError: not a name
        pass  # read_pairs and verify_pairs report what is wrong with the file
