"""Plain values: the only things that cross between the candidate's process and the grader.

A plain value is built from exact built-in types only (no subclasses, no objects with their own
`__eq__`): None, bool, int, float, complex, str, bytes, list, tuple, dict, set, frozenset. They travel
as JSON; every JSON object is a tag, so decoding builds fresh built-in objects and nothing else.

Also the output comparisons the grader makes (`values_equal` for call tests, `stdio_equal` for
stdin/stdout tests). This module is imported by the sandbox server before it forks, so it must stay
small and import nothing heavy.
"""

from __future__ import annotations

import collections
import json
import math
from typing import Any

MAX_DEPTH = 200
# Standard-library containers sent as their base type. Captured now, before any candidate code runs,
# and read through the base type's own methods, so only the stored data crosses (never an __eq__).
_AS_DICT = (collections.Counter, collections.OrderedDict, collections.defaultdict)
_AS_LIST = (collections.deque,)
_dict_items, _deque_iter = dict.items, collections.deque.__iter__


class PlainError(ValueError):
    """A value that is not plain (an object, a subclass of a built-in, too deep)."""


def dump_plain(value: Any, _depth: int = 0) -> Any:
    """`value` as JSON-ready data; raises PlainError for anything but exact built-in types."""
    if _depth > MAX_DEPTH:
        raise PlainError("value nested too deeply")
    t = type(value)
    if value is None or t is bool or t is int or t is str:
        return value
    if t is float:
        return {"f": repr(value)} if (value != value or value in (math.inf, -math.inf)) else value
    if t is list:
        return [dump_plain(v, _depth + 1) for v in value]
    if t is tuple:
        return {"t": [dump_plain(v, _depth + 1) for v in value]}
    if t is dict or t in _AS_DICT:
        return {"d": [[dump_plain(k, _depth + 1), dump_plain(v, _depth + 1)] for k, v in _dict_items(value)]}
    if t in _AS_LIST:
        return [dump_plain(v, _depth + 1) for v in _deque_iter(value)]
    if t is set:
        return {"s": [dump_plain(v, _depth + 1) for v in value]}
    if t is frozenset:
        return {"fs": [dump_plain(v, _depth + 1) for v in value]}
    if t is bytes:
        return {"b": value.hex()}
    if t is complex:
        return {"c": [repr(value.real), repr(value.imag)]}
    raise PlainError(f"not a plain value: {t.__module__}.{t.__qualname__}")


def load_plain(data: Any, _depth: int = 0) -> Any:
    """The inverse of dump_plain, on JSON-decoded data; raises PlainError on anything unexpected."""
    if _depth > MAX_DEPTH:
        raise PlainError("value nested too deeply")
    t = type(data)
    if data is None or t is bool or t is int or t is str or t is float:
        return data
    if t is list:
        return [load_plain(v, _depth + 1) for v in data]
    if t is dict and len(data) == 1:
        (tag, body), = data.items()
        if tag == "f" and type(body) is str and body in ("nan", "inf", "-inf"):
            return float(body)
        if tag == "b" and type(body) is str:
            return bytes.fromhex(body)
        if tag == "c" and type(body) is list and len(body) == 2 and all(type(x) is str for x in body):
            return complex(float(body[0]), float(body[1]))
        if type(body) is list:
            items = [load_plain(v, _depth + 1) for v in body] if tag != "d" else None
            if tag == "t":
                return tuple(items)
            if tag == "s":
                return set(items)
            if tag == "fs":
                return frozenset(items)
            if tag == "d":
                out = {}
                for pair in body:
                    if type(pair) is not list or len(pair) != 2:
                        raise PlainError("malformed dict entry")
                    out[load_plain(pair[0], _depth + 1)] = load_plain(pair[1], _depth + 1)
                return out
    raise PlainError(f"malformed plain value: {str(data)[:80]}")


def encode(message: dict) -> bytes:
    """One protocol message as a JSON line."""
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


# ---------------------------------------------------------------- comparisons (grader side only)


def values_equal(got: Any, want: Any, rel_tol: float = 1e-6, abs_tol: float = 1e-6) -> bool:
    """Exact structural equality, floats within tolerance; tuples count as lists (JSON has no tuples).

    bool never equals a number (True is not 1 here), since a judge that prints values tells them apart.
    """
    if isinstance(got, tuple):
        got = list(got)
    if isinstance(want, tuple):
        want = list(want)
    tg, tw = type(got), type(want)
    if tg is bool or tw is bool:
        return tg is tw and got == want
    if tg in (int, float) and tw in (int, float):
        if tg is int and tw is int:
            return got == want
        if math.isnan(got) or math.isnan(want):
            return math.isnan(got) and math.isnan(want)
        return math.isclose(got, want, rel_tol=rel_tol, abs_tol=abs_tol)
    if tg is list and tw is list:
        return len(got) == len(want) and all(values_equal(g, w, rel_tol, abs_tol) for g, w in zip(got, want))
    if tg is dict and tw is dict:
        return got.keys() == want.keys() and all(values_equal(got[k], want[k], rel_tol, abs_tol) for k in want)
    if tg is tw:
        return got == want
    return False


def _token_equal(got: str, want: str, rel_tol: float, abs_tol: float) -> bool:
    if got == want:
        return True
    try:
        g, w = float(got), float(want)
    except ValueError:
        return False
    if math.isnan(g) or math.isnan(w):
        return False
    return math.isclose(g, w, rel_tol=rel_tol, abs_tol=abs_tol)


def stdio_equal(got: str, want: str, rel_tol: float = 1e-6, abs_tol: float = 1e-6) -> bool:
    """The whole output, line by line and token by token (never a prefix).

    Whitespace inside and around lines and trailing blank lines are ignored; numeric tokens match
    within tolerance.
    """
    g_lines = [line.split() for line in got.strip().splitlines()]
    w_lines = [line.split() for line in want.strip().splitlines()]
    g_lines = [t for t in g_lines if t] if len(g_lines) != len(w_lines) else g_lines
    w_lines = [t for t in w_lines if t] if len(g_lines) != len(w_lines) else w_lines
    if len(g_lines) != len(w_lines):
        return False
    for g, w in zip(g_lines, w_lines):
        if len(g) != len(w) or not all(_token_equal(a, b, rel_tol, abs_tol) for a, b in zip(g, w)):
            return False
    return True
