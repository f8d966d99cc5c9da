"""Small LaTeX text helpers shared by task specs, verifiers and the trace analyzer."""

from __future__ import annotations

import re

_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")
_BRACES = re.compile(r"\\.|[{}]", re.S)  # an escaped character (skipped) or a brace
_HASHES = re.compile(r"####\s*(.*?)\s*$", re.S)


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
    return found


def last_boxed(text: str | None) -> str:
    """The content of the last balanced `\\boxed{}` in `text`, or '' when there is none."""
    boxes = find_boxed(text or "")
    return boxes[-1][2] if boxes else ""


def after_hashes(text: str | None) -> str:
    """GSM8K's gold: the text after the final `####`, thousands separators removed."""
    m = _HASHES.search(text or "")
    value = m.group(1) if m else (text or "").strip()
    return value.replace(",", "").strip()
