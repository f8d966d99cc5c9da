"""The cheap, text-only side of the math verifier: gold normalisation, answer extraction, plain numbers.

Runs in the caller's process, so everything here is linear-time string work on any input; no sympy.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

from evalkit.latex import after_hashes

# A box opener, an escaped character, or a brace: one pass over these finds every balanced box.
_BOX_TOKENS = re.compile(r"\\(?:boxed|fbox)\s*\{|\\.|[{}]", re.S)
# `$69$,$84$`: OlympiadBench's multi-part gold, one math span per part.
_DOLLAR_PARTS = re.compile(r"^\$[^$]+\$(?:\s*,\s*\$[^$]+\$)+$")
_DOLLAR_PART = re.compile(r"\$([^$]+)\$")
# Wrappers around a whole gold answer, stripped before parsing: $…$, \(…\), \[…\].
_WRAPPERS = (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]"))
# `\sin 60^\circ`: math-verify reads degrees inside a trig function as radians; rewrite them.
_TRIG_DEGREES = re.compile(
    r"\\(sin|cos|tan|cot|sec|csc)\s*(?:\\left\s*)?\(?\s*\{?\s*(\d+(?:\.\d+)?)\s*\}?\s*"
    r"\^\s*(?:\{\s*\\circ\s*\}|\\circ)\s*(?:\\right\s*)?\)?"
)
# Plain numbers for the exact fast path: 25, 025, -3.5, 27.0, 1,234 (thousands groups only).
_PLAIN_NUMBER = re.compile(r"^[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?$")
_SPACE_THOUSANDS = re.compile(r"(?<=\d)(?:\s|\\,|\\ )(?=\d{3}(?!\d))")
_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?$")
# Spacing and sizing commands that never change a value; the same text without them is the same answer.
_COSMETIC = re.compile(r"\\(?:left|right|displaystyle)(?![a-zA-Z])|\\[,;:! ]|\s+")
_FRAC_VARIANTS = re.compile(r"\\[dt]frac(?![a-zA-Z])")
# A set literal `{1,2,3}` / `\{1,2,3\}`: its entries count as parts when the answer boxes them one by one.
_SET_LITERAL = re.compile(r"^\s*\\?\{(.*)\\?\}\s*$", re.S)
# "The final answer is $10,455$" after the last box: the statement is the answer.
_FINAL_STATEMENT = re.compile(r"final answer is\s*:?\s*(?:\$([^$]{1,200})\$|\\\((.{1,200}?)\\\))", re.I | re.S)
# Currency signs and negative thin spaces inside an answer: `\$16,\!386.20` is 16386.20.
_GROUPED = re.compile(r"(?<=\d),\\!\s*(?=\d{3})")  # `11,\! 111`: a thousands separator
_NOISE = re.compile(r"\\\$|\\!")
# Text cut from the end of a box-less final answer handed to math-verify's own extraction.
FALLBACK_CHARS = 20_000


def find_boxes_at(text: str) -> list[tuple[int, int, str]]:
    """Every balanced `\\boxed{}` / `\\fbox{}` in `text` as (start, end, content), by start.

    One linear pass (a stack of open braces), so megabytes of unbalanced boxes cost no more than
    reading them; nested boxes are all reported, outer first.
    """
    found: list[tuple[int, int, str]] = []
    stack: list[tuple[bool, int, int]] = []  # (is a box, where the box starts, where its content starts)
    for m in _BOX_TOKENS.finditer(text):
        tok = m.group()
        if tok == "}":
            if stack:
                is_box, start, content = stack.pop()
                if is_box:
                    found.append((start, m.end(), text[content: m.start()]))
        elif tok == "{":
            stack.append((False, 0, 0))
        elif tok.endswith("{") and not tok.startswith("\\{"):
            stack.append((True, m.start(), m.end()))
    found.sort()
    return found


def find_boxes(text: str) -> list[str]:
    """The contents of every balanced box in `text`, in order of their start (see find_boxes_at)."""
    return [content for _, _, content in find_boxes_at(text)]


def split_top_level(text: str) -> list[str]:
    """Split at commas outside (), [], {} — `1,3,5` is three parts, `(1,2),(3,4)` two."""
    parts, depth, start, i = [], 0, 0, 0
    while i < len(text):
        c = text[i]
        if c == "\\":  # an escaped character; only \{ and \} nest
            depth += text.startswith("\\{", i) - text.startswith("\\}", i)
            i += 2
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif c == "," and depth <= 0:
            parts.append(text[start:i])
            start = i + 1
        i += 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def _unwrap(text: str) -> str:
    text = text.strip()
    changed = True
    while changed and text:
        changed = False
        for left, right in _WRAPPERS:
            if len(text) > len(left) + len(right) and text.startswith(left) and text.endswith(right):
                text = text[len(left): -len(right)].strip()
                changed = True
                break
        if text.startswith("\\boxed{") and text.endswith("}") and find_boxes(text) and \
                find_boxes(text)[0] == text[len("\\boxed{"): -1]:
            text = text[len("\\boxed{"): -1].strip()
            changed = True
    return text


def rewrite(text: str) -> str:
    """Rewrites applied to both gold and answer before parsing (degrees inside trig functions)."""
    if "\\$" in text or "\\!" in text:
        text = _NOISE.sub("", _GROUPED.sub(",", text))
    if "circ" in text:
        text = _TRIG_DEGREES.sub(lambda m: f"\\{m.group(1)}(\\frac{{{m.group(2)}\\pi}}{{180}})", text)
    return text


def normalize_gold(gold: Any, multiple_answer: bool | None = None) -> tuple[str, ...] | None:
    """The gold answer as a tuple of parts (box contents), or None when there is no gold at all.

    Accepts a string, a number (AMC's `27.0` becomes `27`), or a list (OlympiadBench's
    `final_answer`; several entries are several parts). GSM8K's `#### 1,234` keeps what follows
    the hashes; a solution text keeps its last `\\boxed{}`; `$…$` wrappers go. `$69$,$84$` is two
    parts; with `multiple_answer=True` any top-level comma separates parts.
    """
    if gold is None:
        return None
    if isinstance(gold, (list, tuple)):
        parts = [p for g in gold for p in (normalize_gold(g, multiple_answer) or ())]
        return tuple(parts) or None
    if isinstance(gold, bool):
        gold = str(gold)
    if isinstance(gold, float):
        gold = str(int(gold)) if gold.is_integer() else repr(gold)
    elif not isinstance(gold, str):
        gold = str(gold)
    text = gold.strip()
    if not text:
        return None
    if "####" in text:
        text = after_hashes(text)
    elif "\\boxed" in text or "\\fbox" in text:
        boxes = find_boxes(text)
        if len(boxes) > 1:  # `\boxed{1} and \boxed{-2}`: a gold with several boxes has several parts
            return tuple(rewrite(_unwrap(b)) for b in boxes)
        if boxes:
            text = boxes[-1]
    if _DOLLAR_PARTS.match(text):
        return tuple(_unwrap(p) for p in _DOLLAR_PART.findall(text))
    text = rewrite(_unwrap(text))
    if multiple_answer and not _THOUSANDS.match(text):
        return tuple(split_top_level(text)) or None
    return (text,) if text else None


def final_statement(text: str, after: int) -> str | None:
    """The X of the last "final answer is $X$" that starts at or after offset `after`, else None."""
    found = None
    for m in _FINAL_STATEMENT.finditer(text, after):
        found = m.group(1) or m.group(2)
    return found.strip() if found and found.strip() else None


def candidate_parts(boxes: list[str], gold: tuple[str, ...]) -> tuple[str, ...]:
    """Pick the answer's parts from its boxes: the last box, or the last k boxes for a k-part gold.

    A multi-part gold is met by one box holding every part (`\\boxed{69, 84}`) or by one box per part
    (`\\boxed{69}` … `\\boxed{84}`). A single gold with top-level commas (`1,3,5`) is met the same
    ways: the last k boxes are joined when the last box alone holds fewer parts.
    """
    last = boxes[-1].strip()
    if len(gold) > 1:
        inside = split_top_level(last)
        if len(inside) >= len(gold) or len(boxes) < len(gold):
            return tuple(inside)
        return tuple(b.strip() for b in boxes[-len(gold):])
    k = 1 if _THOUSANDS.match(gold[0]) else len(split_top_level(_SET_LITERAL.sub(r"\1", gold[0])))
    if k > 1 and len(boxes) >= k and len(split_top_level(last)) == 1:
        return (", ".join(b.strip() for b in boxes[-k:]),)
    return (last,)


def plain_number(text: str) -> Decimal | None:
    """The exact value of a plain decimal number (`025`, `27.0`, `1,234`, `$-3.5$`), else None."""
    t = text.strip().strip("$").replace("{,}", ",").replace("\\!", "").rstrip(".").strip()
    t = _SPACE_THOUSANDS.sub("", t)  # `1 000`; but `32, 349` is a list, not a number
    if len(t) > 100 or not _PLAIN_NUMBER.match(t):
        return None
    try:
        return Decimal(t.replace(",", ""))
    except InvalidOperation:  # pragma: no cover - the regex admits only valid decimals
        return None


def same_text(a: str, b: str) -> bool:
    """The same LaTeX up to spacing, `\\left`/`\\right` and `\\dfrac`/`\\tfrac`: surely the same answer."""
    if a == b:
        return bool(a.strip())
    norm = lambda s: _COSMETIC.sub("", _FRAC_VARIANTS.sub(r"\\frac", s))
    return bool(norm(a)) and norm(a) == norm(b)


_NUM = r"(\d+(?:\.\d+)?|\.\d+)"
_ARG = r"(?:\{(\d+)\}|(\d))"  # \frac{12}{5} or brace-less \frac65
_FRAC = r"\\frac\s*"
_ROOT = r"(\d*)\\sqrt\s*(?:\{(\d+)\}|(\d))"
# Simple closed forms a sign away from a value, one row each: (name, pattern, value from the groups).
# Rational rows give an exact Fraction; rows with a root or pi give a float, only trusted to refuse.
SIMPLE_FORMS: tuple[tuple[str, re.Pattern[str], Any], ...] = tuple(
    (name, re.compile("^" + pattern + "$"), value) for name, pattern, value in (
        ("number", _NUM, lambda a: Fraction(a)),
        ("degrees", _NUM + r"\^\{?\\circ\}?", lambda a: Fraction(a)),  # math-verify: 90^\circ = 90
        ("fraction", _FRAC + r"\{" + _NUM + r"\}\{" + _NUM + r"\}", lambda a, b: Fraction(a) / Fraction(b)),
        ("short_fraction", _FRAC + _ARG + r"\s*" + _ARG,
         lambda a, b, c, d: Fraction(a or b) / Fraction(c or d)),
        ("root", _ROOT, lambda a, b, c: int(a or 1) * math.sqrt(int(b or c))),
        ("root_fraction", _FRAC + r"\{" + _ROOT + r"\}\{(\d+)\}",
         lambda a, b, c, d: int(a or 1) * math.sqrt(int(b or c)) / int(d)),
        ("pi", r"(\d*)\\pi", lambda a: int(a or 1) * math.pi),
        ("pi_fraction", _FRAC + r"\{(\d*)\\pi\}\{(\d+)\}", lambda a, b: int(a or 1) * math.pi / int(b)),
    )
)
# A word in text mode (`\\text{Evelyn}`, `\\text{east}`): never equal to a number.
_WORD = re.compile(r"^\s*\\(?:text|textbf|mathrm|mbox)\s*\{\s*[A-Za-z][A-Za-z ]*\}\s*$")
# A list, tuple, interval, set or matrix of several entries: never equal to one number.
_MATRIX = re.compile(r"^\\begin\{[pbvBV]?matrix\}.*(?:\\\\|&).*\\end\{[pbvBV]?matrix\}$", re.S)


def is_compound(text: str) -> bool:
    """Several distinct entries at top level (`(15,-29)`, `3, 5, 7`, `[1,2)`), or a matrix."""
    t = text.strip().strip("$")
    if _THOUSANDS.match(t):
        return False
    if _MATRIX.match(t):
        return True
    inner = t
    m = re.match(r"^(?:\\left\s*)?(?:\(|\[|\\\{)(.*?)(?:\\right\s*)?(?:\)|\]|\\\})$", t, re.S)
    if m:
        inner = m.group(1)
    parts = split_top_level(inner)
    return len(parts) >= 2 and len(set(parts)) >= 2


def simple_value(text: str) -> Fraction | float | None:
    """The value of a simple closed form (`-\\frac{3}{4}`, `2\\sqrt{3}`, `\\frac{\\pi}{6}`), else None."""
    number = plain_number(text)
    if number is not None:
        return Fraction(number)
    t = _COSMETIC.sub("", _FRAC_VARIANTS.sub(r"\\frac", text)).strip("$")
    if len(t) > 60:
        return None
    sign = -1 if t.startswith("-") else 1
    t = t.lstrip("+-")
    for _, pattern, value in SIMPLE_FORMS:
        m = pattern.match(t)
        if m:
            try:
                return sign * value(*m.groups())
            except (ZeroDivisionError, ValueError, OverflowError):
                return None
    return None


def fast_compare(gold: tuple[str, ...], pred: tuple[str, ...]) -> tuple[bool, str] | None:
    """A verdict without sympy where one is certain: (equal?, how it was decided), or None (ask
    the worker).

    The same text (up to spacing) is equal. Equal plain numbers or exact fractions are equal;
    different integers are different; simple closed forms whose values clearly differ are
    different. Close decimals go to the worker, so math-verify's rounding rules decide them.
    """
    if len(gold) == len(pred) and all(same_text(g, p) for g, p in zip(gold, pred)):
        return True, "same text"
    if len(gold) != 1 or len(pred) != 1:
        return None
    g, p = plain_number(gold[0]), plain_number(pred[0])
    if g is None or p is None:
        return _compare_simple(gold[0], pred[0])
    if g == p:
        return True, "exact number: equal"
    if g == g.to_integral_value() and p == p.to_integral_value():
        return False, "exact number: not equal"
    if abs(g - p) > Decimal(_REL_TOL) * max(abs(g), abs(p)):
        return False, "exact number: different values"
    return None

# Values further apart than this (relative) are different answers; see _mathcheck._REL_TOL.
_REL_TOL = 1e-3


def _compare_simple(gold: str, pred: str) -> tuple[bool, str] | None:
    """Equal exact rationals are equal; clearly different values, or one value against several
    entries, are different; anything else is None (ask the worker)."""
    g, p = simple_value(gold), simple_value(pred)
    if g is None and p is None:
        return None
    if g is None or p is None:
        other = gold if g is None else pred
        if is_compound(other):
            return False, "one value against several entries"
        if _WORD.match(other):
            return False, "one value against a word"
        return None
    if isinstance(g, Fraction) and isinstance(p, Fraction):
        return g == p, "exact value: " + ("equal" if g == p else "not equal")
    if abs(g - p) > _REL_TOL * max(abs(g), abs(p)):
        return False, "closed form: different values"
    return None
