"""Small LaTeX and answer-text helpers shared by task specs, verifiers and the trace analyzer."""

from __future__ import annotations

import math
import re
import struct

_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")
# A box without braces boxes one token, as TeX reads it: `$\boxed 7$`, `\boxed -2.5.`, `$\boxed x$` (MATH's solutions
# write some so). Only a token that ends its math or its line (after a full stop or a comma at most) is the answer:
# `\boxed 1/2`, `\boxed 3\sqrt{2}`, `\boxed 10^{3}`, `\boxed 3,000`, `\boxed x = 5` box their first token in TeX,
# and a writer meant the whole; `\boxed answer` is prose.
_BARE_BOXED = re.compile(r"\\(?:boxed|fbox)(?![A-Za-z])[ \t]*(?![{\s])([-+]?\d+(?:\.\d+)?|[A-Za-z])"
                         r"(?=[.,;!]?[ \t]*(?:\$|\\\)|\\\]|\n|$))")
_BRACES = re.compile(r"\\.|[{}]", re.S)  # an escaped character (skipped) or a brace
_HASHES = re.compile(r"####\s*(.*?)\s*$", re.S)
_SIGNIFICANT = re.compile(r"^[-+]?0*\.?0*|\.")  # what is not a significant digit of a repr's mantissa


# One value's spellings made one (`spelling_key`): fraction commands, bare one-character arguments, sizing and
# spacing commands, white space, thousands separators.
_SPELLINGS = ((re.compile(r"\\[dt]frac"), r"\\frac"), (re.compile(r"\\frac\s*(\w)\s*(\w)"), r"\\frac{\1}{\2}"),
              (re.compile(r"\\sqrt\s*(\w)"), r"\\sqrt{\1}"), (re.compile(r"\\left|\\right|\\[,!;: ]|\s|\{,\}"), ""),
              (re.compile(r"(?<=\d),(?=\d{3}(?!\d))"), ""))


def spelling_key(text: str) -> str:
    """`text` with the spellings one answer is written in made one, for telling restatements apart from other
    answers by their text: `\\dfrac12`, `\\frac 1 2` and `\\frac{1}{2}`; `2 \\sqrt3` and `2\\sqrt{3}`; `\\left(` and `(`;
    `1{,}000`, `1,000` and `1000`. No evaluation: `0.5` and `1/2` stay apart."""
    for pattern, repl in _SPELLINGS:
        text = pattern.sub(repl, text)
    return text


def find_boxed(text: str) -> list[tuple[int, int, str]]:
    """Every `\\boxed{...}` / `\\fbox{...}` in `text` as (start, end, content), braces balanced
    (a backslash escapes the character after it).

    An unbalanced box (truncated text) is skipped: its content is unknown.
    """
    found: list[tuple[int, int, str]] = []
    if not text:
        return found
    boxes = list(_BOXED.finditer(text))
    # One pass over the braces from each box that opens outside the ones already read, so a loop
    # that opens boxes and never closes them costs its length once, not once per box.
    closes: dict[int, int] = {}  # offset of a `{` -> offset after its `}`
    read_to = 0
    for m in boxes:
        brace = m.end() - 1
        if brace < read_to:
            continue  # inside a box read already: its brace was matched there (or never closes)
        stack: list[int] = []
        read_to = len(text)
        for t in _BRACES.finditer(text, brace):
            if t.group() == "{":
                stack.append(t.start())
            elif t.group() == "}":
                closes[stack.pop()] = t.end()
                if not stack:
                    read_to = t.end()
                    break
    for m in boxes:
        end = closes.get(m.end() - 1)
        if end is not None:
            found.append((m.start(), end, text[m.end(): end - 1]))
    return with_bare_boxes(text, found)


def with_bare_boxes(text: str, found: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """`found` (a text's braced boxes, by start) with the boxes without braces that none of them holds: `\\boxed 7`
    boxes the one token after it, as TeX reads it (numbers and single letters only; `\\boxed answer` is prose)."""
    if "\\boxed" not in text and "\\fbox" not in text:
        return found
    bare, i, reach = [], 0, -1  # one sweep: `reach` is where the boxes starting before this one end, at the most
    for m in _BARE_BOXED.finditer(text):
        while i < len(found) and found[i][0] < m.start():
            reach, i = max(reach, found[i][1]), i + 1
        if m.start() >= reach:  # inside a box it is part of that box's content
            bare.append((m.start(), m.end(), m.group(1)))
    return sorted(found + bare) if bare else found


def last_boxed(text: str | None) -> str:
    """The content of the last balanced `\\boxed{}` in `text`, or '' when there is none."""
    boxes = find_boxed(text or "")
    return boxes[-1][2] if boxes else ""


def after_hashes(text: str | None) -> str:
    """GSM8K's gold: the text after the final `####`, thousands separators removed."""
    m = _HASHES.search(text or "")
    value = m.group(1) if m else (text or "").strip()
    return value.replace(",", "").strip()


def float_text(value: float) -> str:
    """A float gold as the number it was written as: a whole number of at most 2^53 as an integer
    (AMC's `27.0` is 27), a larger one as its shortest repr when that is short (`6.02e+23`, not the 24
    digits of the nearest double) and as the integer otherwise (2.0**60); a value a float32 column
    holds, as its shortest float32 decimal (a dataset's `Value("float32")` 0.1 comes back as
    0.10000000149011612)."""
    if not math.isfinite(value):
        return repr(value)
    text = repr(value)
    digits = len(_SIGNIFICANT.sub("", text.split("e")[0]))
    if value.is_integer():  # past 2^53 a short repr was written so (6.02e23); a long one is the integer (2^60)
        return str(int(value)) if abs(value) <= 2 ** 53 or digits > 15 else text
    if digits > 9:
        try:
            single = struct.unpack("f", struct.pack("f", value))[0]
        except OverflowError:
            single = None
        if single == value:  # a float32's value: the fewest digits that read back as it
            for digits in range(1, 10):
                short = f"{value:.{digits}g}"
                if struct.unpack("f", struct.pack("f", float(short)))[0] == value:
                    return short
    return text

