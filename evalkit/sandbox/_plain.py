"""Plain values: the only things that cross between the candidate's process and the grader.

A plain value is built from exact built-in types only (no subclasses, no objects with their own
`__eq__`): None, bool, int, float, complex, str, bytes, list, tuple, dict, set, frozenset. A numpy
scalar (np.int64, np.float64, np.bool_) is sent as the built-in its `item()` gives; arrays are not.
They travel as JSON; every JSON object is a tag, so decoding builds fresh built-in objects and nothing else. An
int too large for a JSON number travels as hex (`{"i": "-1f"}`): linear both ways, and free of
Python's 4,300-digit limit on decimal conversion.

The grader never decodes a candidate's value into Python objects: a set or dict built from an
attacker's ints (which all hash alike if it wants) costs quadratic time. It parses the reply as JSON
(strings, lists and the small tag objects, with bounded numbers: `parse_reply`), checks its shape
(`check_wire`) and compares it with the expected value in place (`wire_matches`, `stdio_equal`), in
time linear in the reply (n log n for sets and dicts). Only the sandboxed checker decodes values
(`load_plain`). This module is imported by the sandbox server before it forks, so it must stay small
and import nothing heavy.
"""

from __future__ import annotations

import collections
import decimal
import itertools
import json
import math
import re
from typing import Any

MAX_DEPTH = 200
SMALL_INT = 1 << 62  # ints at least this large travel as hex
MAX_NUMBER_CHARS = 40  # a JSON number in a reply longer than this is malformed (ints that long come as hex)
MAX_VALUES = 1 << 20  # a reply holding more values than this is refused unparsed (each costs the grader time and memory)
# Standard-library containers sent as their base type. Captured now, before any candidate code runs,
# and read through the base type's own methods, so only the stored data crosses (never an __eq__).
_AS_DICT = (collections.Counter, collections.OrderedDict, collections.defaultdict)
_AS_LIST = (collections.deque,)
_dict_items, _deque_iter = dict.items, collections.deque.__iter__


class PlainError(ValueError):
    """A value that is not plain (an object, a subclass of a built-in, too deep)."""


class NotPlain(PlainError):
    """A value of a type that is not plain data (an object, a subclass of a built-in), as against one too deep."""


def dump_plain(value: Any, _depth: int = 0) -> Any:
    """`value` as JSON-ready data; raises PlainError for anything but exact built-in types."""
    if _depth > MAX_DEPTH:
        raise PlainError("value nested too deeply")
    t = type(value)
    if value is None or t is bool or t is str:
        return value
    if t is int:
        return value if -SMALL_INT < value < SMALL_INT else {"i": format(value, "x")}
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
    if _numpy_scalar(t):  # np.int64(3) is 3, as `==` in LiveCodeBench's grader has it; its item() must be plain
        item = value.item()
        if type(item) is not t:  # np.longdouble's item() is itself
            return dump_plain(item, _depth + 1)
    raise NotPlain(f"not a plain value: {t.__module__}.{t.__qualname__}")


def _numpy_scalar(t: type) -> bool:
    """Whether `t` is a numpy scalar type (np.int64, np.float64, np.bool_, np.str_), without importing numpy.
    Only the candidate's process dumps its values: a fake numpy class fools nobody, its item() is dumped too."""
    return t.__module__ == "numpy" and any(c.__name__ == "generic" and c.__module__ == "numpy" for c in t.__mro__)


def _hex_int(body: Any) -> int:
    if type(body) is not str or not body or body.strip("-0123456789abcdef") or "-" in body[1:]:
        raise PlainError("malformed hex int")
    try:
        return int(body, 16)
    except ValueError:  # "-" alone: a reply the candidate forged
        raise PlainError("malformed hex int") from None


def load_plain(data: Any, _depth: int = 0) -> Any:
    """The inverse of dump_plain, on JSON-decoded data; raises PlainError on anything unexpected.
    Builds sets and dicts: only the sandboxed checker calls it on a candidate's value."""
    if _depth > MAX_DEPTH:
        raise PlainError("value nested too deeply")
    t = type(data)
    if data is None or t is bool or t is int or t is str or t is float:
        return data
    if t is list:
        return [load_plain(v, _depth + 1) for v in data]
    if t is dict and len(data) == 1:
        (tag, body), = data.items()
        if tag == "i":
            return _hex_int(body)
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


# ---------------------------------------------------------------- the grader's side: parse, check, compare


def _bounded_number(kind):
    def parse(text: str):
        if len(text) > MAX_NUMBER_CHARS:
            raise ValueError("number too long")
        return kind(text)

    return parse


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def values_in(line: bytes) -> int:
    """An upper bound on the JSON values `line` holds, counted in C without parsing it: every value but
    the outermost follows a comma, a colon or an opening bracket (those inside strings count too)."""
    return 1 + sum(line.count(c) for c in (b",", b":", b"[", b"{"))


def parse_reply(line: bytes | str) -> Any:
    """A protocol line from a sandboxed process as JSON data, in time linear in its length: numbers
    are bounded (`MAX_NUMBER_CHARS`), object keys are strings (whose hashes the sender cannot steer).
    Raises ValueError (or RecursionError) on anything else."""
    return json.loads(line, parse_int=_bounded_number(int), parse_float=_bounded_number(float),
                      parse_constant=_no_constant)


_TAGS = {"t", "d", "s", "fs", "i", "f", "b", "c"}


def check_wire(data: Any, _depth: int = 0) -> None:
    """Raise PlainError unless `data` (from parse_reply) is a well-formed plain value; builds nothing."""
    if _depth > MAX_DEPTH:
        raise PlainError("value nested too deeply")
    t = type(data)
    if data is None or t is bool or t is int or t is str or t is float:
        return
    if t is list:
        for v in data:
            check_wire(v, _depth + 1)
        return
    if t is dict and len(data) == 1:
        (tag, body), = data.items()
        if tag == "i":
            _hex_int(body)
            return
        if tag == "f" and body in ("nan", "inf", "-inf"):
            return
        if tag == "b" and type(body) is str and len(body) % 2 == 0 and not body.strip("0123456789abcdef"):
            return
        if tag == "c" and type(body) is list and len(body) == 2 and all(type(x) is str for x in body):
            for x in body:
                _wire_float(x)
            return
        if tag in ("t", "s", "fs") and type(body) is list:
            for v in body:
                check_wire(v, _depth + 1)
            return
        if tag == "d" and type(body) is list:
            for pair in body:
                if type(pair) is not list or len(pair) != 2:
                    raise PlainError("malformed dict entry")
                check_wire(pair[0], _depth + 1)
                check_wire(pair[1], _depth + 1)
            return
    raise PlainError(f"malformed plain value: {preview(data)}")


def _wire_float(text: str) -> float:
    if len(text) > MAX_NUMBER_CHARS:
        raise PlainError("malformed float")
    try:
        return float(text)
    except ValueError:
        raise PlainError("malformed float") from None


def _number(data: Any) -> int | float | None:
    """The number a wire value stands for, or None when it is not a number (bool is not)."""
    t = type(data)
    if t is int or t is float:
        return data
    if t is dict and len(data) == 1:
        if "i" in data:
            return _hex_int(data["i"])
        if "f" in data and data["f"] in ("nan", "inf", "-inf"):
            return float(data["f"])
    return None


def _key(data: Any) -> str:
    """A canonical text for a set element or dict key, to sort by and compare exactly."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


def _entries(data: Any, tag: str) -> list | None:
    if type(data) is dict and len(data) == 1 and tag in data and type(data[tag]) is list:
        return data[tag]
    return None


def _canonical(data: Any) -> Any:
    """Sets and dicts with their entries sorted by canonical text, recursively (n log n); each int in
    the one form dump_plain gives it (a JSON number, or hex from SMALL_INT up)."""
    if type(data) is int:
        return data if -SMALL_INT < data < SMALL_INT else {"i": format(data, "x")}
    if type(data) is list:
        return [_canonical(v) for v in data]
    if type(data) is dict and len(data) == 1:
        (tag, body), = data.items()
        if tag in ("s", "fs"):
            items = [_canonical(v) for v in body]
            return {tag: sorted(items, key=_key)}
        if tag == "d":
            pairs = [[_canonical(k), _canonical(v)] for k, v in body]
            return {tag: sorted(pairs, key=lambda kv: _key(kv[0]))}
        if tag == "t":
            return {tag: [_canonical(v) for v in body]}
        if tag == "i":
            return _canonical(_hex_int(body))
    return data


def wire_matches(got: Any, want: Any, rel_tol: float = 1e-6, abs_tol: float = 1e-6) -> bool:
    """Whether a candidate's value (wire data that passed check_wire) equals the expected value.

    Exact structural equality; tuples count as lists (JSON has no tuples); an int equals only an
    exactly equal number, and tolerance applies only where the expected value is a float; bool never
    equals a number (True is not 1 here). Set elements and dict keys compare exactly. Never raises
    for a well-formed `got`.
    """
    return _match(got, _canonical(dump_plain(want)), rel_tol, abs_tol)


def _as_list(data: Any) -> list | None:
    if type(data) is list:
        return data
    return _entries(data, "t")


def _match(g: Any, w: Any, rel_tol: float, abs_tol: float) -> bool:
    tw = type(w)
    if w is None or tw is bool or tw is str:
        return type(g) is tw and g == w
    wn = _number(w)
    if wn is not None:
        gn = _number(g)
        if gn is None or type(g) is bool:
            return False
        if type(wn) is int:
            return gn == wn  # int == float is exact in Python, and never overflows
        if math.isnan(wn) or (type(gn) is float and math.isnan(gn)):
            return type(gn) is float and math.isnan(gn) and math.isnan(wn)
        try:
            return math.isclose(float(gn), wn, rel_tol=rel_tol, abs_tol=abs_tol)
        except OverflowError:  # an int beyond any float: not close to a finite expected value
            return False
    wl = _as_list(w)
    if wl is not None:
        gl = _as_list(g)
        return gl is not None and len(gl) == len(wl) and all(_match(a, b, rel_tol, abs_tol) for a, b in zip(gl, wl))
    (tag, body), = w.items()
    gb = _entries(g, tag)
    if tag in ("s", "fs", "d"):  # only here is the candidate's side put in canonical order
        if gb is None or len(gb) != len(body):
            return False
        if tag == "d":
            pairs = sorted(((_key(_canonical(k)), v) for k, v in gb), key=lambda kv: kv[0])
            return all(gk == _key(wk) and _match(gv, wv, rel_tol, abs_tol) for (gk, gv), (wk, wv) in zip(pairs, body))
        return sorted(_key(_canonical(x)) for x in gb) == [_key(x) for x in body]
    if tag == "b":
        return type(g) is dict and g.get("b") == body
    if tag == "c":
        gc = _entries(g, "c")
        if gc is None:
            return False
        return all(math.isclose(_wire_float(a), float(b), rel_tol=rel_tol, abs_tol=abs_tol) or a == b
                   for a, b in zip(gc, body))
    return False


def values_equal(got: Any, want: Any, rel_tol: float = 1e-6, abs_tol: float = 1e-6) -> bool:
    """wire_matches on a Python value (the rules above); False for a value that is not plain."""
    try:
        return wire_matches(parse_reply(encode({"v": dump_plain(got)}))["v"], want, rel_tol, abs_tol)
    except (PlainError, ValueError):
        return False


def preview(data: Any, n: int = 80) -> str:
    """At most `n` characters of wire data, read no further than that."""
    out: list[str] = []
    size = 0

    def put(text: str) -> bool:
        nonlocal size
        out.append(text)
        size += len(text)
        return size < n

    def walk(d: Any, depth: int) -> bool:
        if depth > MAX_DEPTH:
            return put("...")
        t = type(d)
        if t is list:
            if not put("["):
                return False
            for i, v in enumerate(d):
                if (i and not put(", ")) or not walk(v, depth + 1):
                    return False
            return put("]")
        if t is dict and len(d) == 1:
            (tag, body), = d.items()
            if tag == "i" and type(body) is str:
                return put(("-0x" + body[1:]) if body.startswith("-") else "0x" + body[:n])
            return put(f"{tag}:") and walk(body, depth + 1)
        return put(repr(d)[:n] if t is str else json.dumps(d)[:n] if t in (int, float, bool) or d is None else "?")

    walk(data, 0)
    text = "".join(out)
    return text if len(text) <= n else text[: n - 3] + "..."


# ---------------------------------------------------------------- stdio comparison (grader side only)


# A number as a checker reads one: ASCII digits, a point, an exponent.
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_INTEGER = re.compile(r"0|-?[1-9][0-9]*")  # as a judge writes one: `007`, `+3`, `-0` match only themselves


def _is_float_token(token: str) -> bool:
    """An expected token that means a float: it has a point or an exponent, and parses."""
    if not any(c in token for c in ".eE"):
        return False
    try:
        return math.isfinite(float(token))
    except ValueError:
        return False


def _token_equal(got: str, want: str, rel_tol: float, abs_tol: float) -> bool:
    if got == want:
        return True
    if len(got) > 1000 or not _DECIMAL.fullmatch(got):
        return False  # words compare exactly; so does what float() alone reads (1_0.0, ١٠.٥, inf)
    if _INTEGER.fullmatch(want):
        # an integer is only an exactly equal number: `3.0000000000` and `0.000000` (a real-valued answer the judge
        # wrote as `3`, `0`) are, `2.9999999` and `3` and `-0`, `+3`, `03` (other spellings) are not
        if not _is_float_token(got) or len(want) > 1000:
            return False
        try:
            return decimal.Decimal(got) == decimal.Decimal(want)
        except ArithmeticError:  # an exponent past Decimal's range (`0e999999999999999999999`)
            return False
    if not _is_float_token(want):
        return False
    try:
        g = float(got)
    except ValueError:
        return False
    return math.isfinite(g) and math.isclose(g, float(want), rel_tol=rel_tol, abs_tol=abs_tol)


def stdio_equal(got: str, want: str, rel_tol: float = 1e-6, abs_tol: float = 1e-6) -> bool:
    """The whole output, line by line and token by token (never a prefix).

    Whitespace inside and around lines and blank lines are ignored; a token matches within
    tolerance only where the expected token is a float (a point or an exponent); an expected integer
    is matched by any exactly equal number (`3.000000`); words are exact.
    The work is bounded by the expected output: an output with more tokens is refused at the first one
    too many, and a flood of blank lines is counted, never split into a string per line.
    """
    w_lines = [tokens for tokens in (line.split() for line in want.strip().splitlines()) if tokens]
    if next(itertools.islice(_TOKEN.finditer(got), sum(map(len, w_lines)), None), None) is not None:
        return False  # more tokens than expected
    got = got.strip()
    if _line_breaks(got) <= 2 * len(w_lines) + 16:  # as many lines as expected, give or take blank ones
        g_lines = [tokens for tokens in (line.split() for line in got.splitlines()) if tokens]
    else:  # a flood of blank lines: only the lines with tokens are made
        g_lines = _token_lines(got)
    # blank lines are ignored wherever they are (an output with one blank line misplaced once failed where
    # one with two more passed)
    return len(g_lines) == len(w_lines) and all(
        len(g) == len(w) and all(_token_equal(a, b, rel_tol, abs_tol) for a, b in zip(g, w))
        for g, w in zip(g_lines, w_lines))


_TOKEN = re.compile(r"\S+")
_LINE_BREAKS = ("\n", "\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029")  # str.splitlines'


def _line_breaks(text: str) -> int:
    """How many line breaks `str.splitlines` sees in `text` (\\r\\n is one), without splitting it."""
    return sum(text.count(c) for c in _LINE_BREAKS) - text.count("\r\n")


def _token_lines(text: str) -> list[list[str]]:
    """The tokens of each line of `text` that holds any, in order (`[line.split() for line in
    text.splitlines()]` without its blank lines), without a string per line. Every line break is white
    space, so the tokens are the same and only the breaks between them are counted."""
    lines: dict[int, list[str]] = {}
    line, end = 0, -1
    for m in _TOKEN.finditer(text):
        if end >= 0:
            line += _line_breaks(text[end:m.start()])
        lines.setdefault(line, []).append(m.group())
        end = m.end()
    return list(lines.values())
