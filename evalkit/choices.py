"""Multiple-choice options shuffled per problem with a recorded seed (GPQA and any spec like it).

Datasets such as GPQA store the right answer and the wrong ones in separate columns, always in the
same order; asked that way, a model could learn "the first option is right". A task spec shuffles
them with these jinja filters, keyed by the task's seed and the problem's own id, so the order, and
with it the gold letter, is the same on every run, process and machine:

    problem: "{{ row | shuffled_options(['Correct Answer', 'Incorrect Answer 1', ...], key='Record ID', seed=0) }}"
    answer:  "{{ row | shuffled_gold(['Correct Answer', 'Incorrect Answer 1', ...], key='Record ID', seed=0) }}"

The first column named is the right answer.
"""

from __future__ import annotations

import numbers
import random
from typing import Any, Sequence

LETTERS = "ABCDEFGHIJ"


def option_order(n_options: int, key: Any, seed: int) -> list[int]:
    """The shuffled order of n_options columns for the problem `key` under `seed`.

    random.Random seeded with a string hashes it with SHA-512, so the order does not depend on
    PYTHONHASHSEED, the process or the platform.
    """
    order = list(range(n_options))
    random.Random(f"evalkit-choices:{seed}:{key}").shuffle(order)
    return order


def shuffled_options(row: dict[str, Any], columns: Sequence[str], key: str, seed: int = 0) -> list[str]:
    """The option texts of `row` in shuffled order (columns[0] is the right answer)."""
    _check(row, columns, key)
    return [str(row[columns[i]]).strip() for i in option_order(len(columns), row[key], seed)]


def shuffled_gold(row: dict[str, Any], columns: Sequence[str], key: str, seed: int = 0) -> str:
    """The letter at which the right answer (columns[0]) lands after the shuffle."""
    _check(row, columns, key)
    return LETTERS[option_order(len(columns), row[key], seed).index(0)]


def _check(row: dict[str, Any], columns: Sequence[str], key: str) -> None:
    if not 2 <= len(columns) <= len(LETTERS):
        raise ValueError(f"expected 2 to {len(LETTERS)} option columns, got {len(columns)}")
    missing = [c for c in (*columns, key) if c not in row]
    if missing:
        raise ValueError(f"no column {missing[0]!r} (available: {', '.join(row)})")
    empty = [c for c in columns if row[c] is None or (isinstance(row[c], numbers.Real) and row[c] != row[c])
             or not str(row[c]).strip()]  # NaN: a float's, or numpy's float32
    if empty:  # printed, it would be an option "None" or "nan" (or none at all) a model may choose
        raise ValueError(f"option column {empty[0]!r} holds no text ({row[empty[0]]!r})")
