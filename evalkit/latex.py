"""Small LaTeX text helpers shared by task specs, verifiers and the trace analyzer."""

from __future__ import annotations

import re

_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")
_HASHES = re.compile(r"####\s*(.*?)\s*$", re.S)


def find_boxed(text: str) -> list[tuple[int, int, str]]:
    """Every `\\boxed{...}` / `\\fbox{...}` in `text` as (start, end, content), braces balanced.

    An unbalanced box (truncated text) is skipped: its content is unknown.
    """
    found: list[tuple[int, int, str]] = []
    if not text:
        return found
    for m in _BOXED.finditer(text):
        depth, i = 1, m.end()
        while i < len(text) and depth:
            c = text[i]
            if c == "\\":
                i += 2
                continue
            depth += (c == "{") - (c == "}")
            i += 1
        if depth == 0:
            found.append((m.start(), i, text[m.end(): i - 1]))
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
