"""Sentences, and reflection-family markers spanning whole episodes (DESIGN.md "Trace markers")."""

from __future__ import annotations

import re
from dataclasses import dataclass

from evalkit.trace._rules import CompiledRules

# A sentence ends at . ! ? followed by white space (so 48.4 stays whole), at CJK end punctuation,
# or at a line break.
_BOUNDARY = re.compile(r"[.!?]+[\"')\]*]*(?=\s)|[。！？]+|\n+")

# How many sentences after its trigger an episode may run before it is closed anyway.
# A re-check runs over its recomputation to a verdict; a doubt until it is settled; a switch of
# approach and an aha are the announcing sentence (what follows is the new work, not reflection).
EPISODE_SENTENCES = {"verification": 12, "hesitation": 8, "backtracking": 4, "switch": 0, "aha": 0}
# An episode does not cross a blank line after this many sentences of it.
PARAGRAPH_SENTENCES = 1
# While looking for its verdict, an episode runs over other markers' sentences (a re-check that
# doubts on the way is still one re-check); without a verdict they stay markers of their own.
ABSORB = True


@dataclass(frozen=True)
class Marker:
    """One reflection-family episode.

    kind: one of KINDS; rule: the name of the row that opened it; start, end: character offsets into
    the completion, from the trigger sentence to the end of the episode; text: the words that fired.
    """

    kind: str
    rule: str
    start: int
    end: int
    text: str

    def to_dict(self) -> dict:
        return {"kind": self.kind, "rule": self.rule, "start": self.start, "end": self.end, "text": self.text}


def sentences(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int, bool]]:
    """Sentences of `text[start:end]` as (start, end, after_blank_line), offsets into `text`,
    stripped of surrounding white space."""
    end = len(text) if end is None else end
    out: list[tuple[int, int, bool]] = []
    pos = start
    blank = False
    for m in _BOUNDARY.finditer(text, start, end):
        cut = m.end()
        _add(text, pos, cut, blank, out)
        if m.group()[0] == "\n":
            blank = m.group().count("\n") > 1 or not out
        else:
            blank = False
        pos = cut
    _add(text, pos, end, blank, out)
    return out


def _add(text: str, a: int, b: int, blank: bool, out: list) -> None:
    while a < b and text[a].isspace():
        if text[a] == "\n" and a + 1 < b and text[a + 1] == "\n":
            blank = True
        a += 1
    while b > a and text[b - 1].isspace():
        b -= 1
    if b > a:
        out.append((a, b, blank))


def find_markers(text: str, rules: CompiledRules, start: int = 0, end: int | None = None) -> tuple[list[Marker], int]:
    """Markers in `text[start:end]`, in order, never overlapping, and the count of new lines of thought.

    A marker opens at a sentence a `marker` row fires on. It runs over the following sentences to the
    verdict that settles it (a `settle` row, within EPISODE_SENTENCES of its kind, before any `step`
    row, other marker or blank line after PARAGRAPH_SENTENCES); an episode that reaches no verdict is
    its announcing sentence alone. A verdict outside any episode is a one-sentence verification.
    """
    sents = sentences(text, start, end)
    out: list[Marker] = []
    thoughts = 0
    i, n = 0, len(sents)
    while i < n:
        a, b, _ = sents[i]
        s = text[a:b]
        hit = rules.first("marker", s)
        if hit is None:
            hit = rules.first("settle", s)
            if hit is None:
                thoughts += rules.first("thought", s) is not None
                i += 1
                continue
            rule, ms, me = hit
            out.append(Marker("verification", rule.name, a, b, s[ms:me].strip()))
            i += 1
            continue
        rule, ms, me = hit
        thoughts += rule.kind == "switch"
        last = i
        if rules.first("settle", s) is None:
            limit = EPISODE_SENTENCES.get(rule.kind, 0)
            j = i + 1
            while j < n and j - i <= limit:
                ja, jb, blank = sents[j]
                if blank and j - i > PARAGRAPH_SENTENCES:
                    break
                t = text[ja:jb]
                if rules.first("step", t) is not None or (not ABSORB and rules.first("marker", t) is not None):
                    break
                if rules.first("settle", t) is not None:
                    last = j
                    break
                j += 1
        out.append(Marker(rule.kind, rule.name, a, sents[last][1], s[ms:me].strip()))
        i = last + 1
    return out, thoughts
