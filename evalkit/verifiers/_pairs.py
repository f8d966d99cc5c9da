"""`evalkit verify --pairs FILE.jsonl`: verify a file of (completion, gold) lines, in input order.

Each line is a JSON object with `completion` (or `answer`), `gold`, and optional `verifier`
(`math` by default), `finish_reason`, `think_open`, `think_format` and `id`. Each output line is the input's `id`
plus the Verdict's fields.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

from evalkit.errors import InputError
from evalkit.jsonl import read_jsonl_numbered
from evalkit.thinking import ThinkFormat, decide, get_format
from evalkit.types import Verdict
from evalkit.verifiers.base import VerifyItem, get_verifier


def read_pairs(path: str | Path, think_format: Any = "auto") -> list[dict[str, Any]]:
    """Every line of a pairs file, checked; InputError names the file, line and field at fault.

    think_format: how the completions think (a name, a row, or `auto`: from the markers in the
    file's completions); a line's own `think_format` field wins.
    """
    raw = list(read_jsonl_numbered(path))
    decided = decide(think_format, completions=[r.get("completion") or "" for _, r in raw if "completion" in r]
                     or None).format
    rows = []
    for n, row in raw:
        if "completion" not in row and "answer" not in row:
            raise InputError(f"{path}:{n}: missing field 'completion' (or 'answer')")
        if "gold" not in row:
            raise InputError(f"{path}:{n}: missing field 'gold'")
        text = row.get("completion", row.get("answer"))
        if text is not None and not isinstance(text, str):
            raise InputError(f"{path}:{n}: field 'completion' must be a string, got {type(text).__name__}")
        verifier = row.get("verifier", "math")
        if not isinstance(verifier, str):
            raise InputError(f"{path}:{n}: field 'verifier' must be a verifier name (math, choice)")
        rows.append({"line": n, "id": row.get("id", n), "verifier": verifier, "item": VerifyItem(
            text, row["gold"], row.get("finish_reason"), bool(row.get("think_open", False)),
            think_format=_line_format(path, n, row, decided))})
    return rows


def _line_format(path: str | Path, n: int, row: dict[str, Any], default: ThinkFormat) -> ThinkFormat:
    if row.get("think_format") in (None, "auto"):
        return default
    try:
        return get_format(row["think_format"])
    except InputError as e:
        raise InputError(f"{path}:{n}: field 'think_format': {e}") from None


def verify_pairs(path: str | Path, think_format: Any = "auto", **options: Any) -> Iterator[dict[str, Any]]:
    """Verify every line of `path`; yields `{"id": …, **verdict}` per line, in input order.

    think_format: as for read_pairs. options: verifier options, applied to every line's verifier.
    """
    _warm_up_if_math(path)
    rows = read_pairs(path, think_format)
    verdicts: list[Verdict | None] = [None] * len(rows)
    by_verifier: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        by_verifier.setdefault(row["verifier"], []).append(i)
    for name, idx in by_verifier.items():
        try:
            verifier = get_verifier(name, **options)
        except KeyError as e:
            raise InputError(f"{path}:{rows[idx[0]]['line']}: field 'verifier': {e.args[0]}") from None
        for i, v in zip(idx, verifier.verify_many([rows[i]["item"] for i in idx])):
            verdicts[i] = v
    for row, v in zip(rows, verdicts):
        yield {"id": row["id"], **v.to_dict()}  # type: ignore[union-attr]


def _warm_up_if_math(path: str | Path) -> None:
    """Start the math workers while the file is read, when its first line asks for math."""
    try:
        with open(path, encoding="utf-8") as f:
            first = next((line for line in f if line.strip()), "")
        if json.loads(first).get("verifier", "math") == "math":
            from evalkit.verifiers.math import warm_up

            warm_up()
    except (OSError, ValueError, AttributeError):
        pass  # read_pairs reports what is wrong with the file
