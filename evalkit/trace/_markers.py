"""Sentences, and reflection-family markers spanning whole episodes (DESIGN.md "Trace markers")."""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

from evalkit.trace._rules import CompiledRules

# A sentence ends at . ! ? followed by white space (so 48.4 stays whole), at CJK end punctuation,
# at a line break, or at a think tag.
_BOUNDARY = re.compile(r"[.!?]+[\"')\]*]*(?=\s)|[。！？]+|\n+|</?think>")

# How many sentences after its trigger an episode may run before it is closed anyway.
# A re-check runs over its recomputation to a verdict; a doubt until it is settled; a switch of
# approach and an aha are the announcing sentence (what follows is the new work, not reflection).
EPISODE_SENTENCES = {"verification": 12, "hesitation": 8, "backtracking": 4, "switch": 0, "aha": 0}
# An episode does not cross a blank line after this many sentences of it. (Running re-checks on over
# blank lines to a distant verdict was tried: on the tuning traces it marks more plain work than
# re-checks.)
PARAGRAPH_SENTENCES = 1
# After its verdict, an episode runs on to a further verdict at most this many sentences later:
# a re-check of several items ("Tens place: ... Correct. Hundreds place: ... Correct.") is one episode.
CHAIN = 4
# While looking for its verdict, an episode runs over other markers' sentences (a re-check that
# doubts on the way is still one re-check); without a verdict they stay markers of their own.
ABSORB = True
# Kinds whose episode also runs over hedged sentences (role `doubt`) until something settles it.
DOUBTS = ("hesitation", "backtracking")


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
        if m.group()[0] == "<":  # a think tag is no part of any sentence
            _add(text, pos, m.start(), blank, out)
            pos, blank = cut, True
            continue
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


class _Scan:
    """Rule hits on the sentences of one text, each looked up once; `any` rows are tried only on
    sentences holding one of their cues."""

    def __init__(self, text: str, sents: list[tuple[int, int, bool]], rules: CompiledRules):
        self.text, self.sents, self.rules = text, sents, rules
        self.memo: dict[tuple[str, int], tuple | None] = {}
        self.cued: dict[str, dict[int, set[int]] | None] = {}
        low = text.lower()
        if len(low) != len(text):  # a rare case-mapping that changes length: no pre-filter
            low = None
        starts = [a for a, _, _ in sents]
        lo, hi = (sents[0][0], sents[-1][1]) if sents else (0, 0)
        where: dict[str, list[int]] = {}  # cue -> the sentences holding it (found once for all roles)
        for role, by_cue in rules.cues.items():
            if low is None:
                self.cued[role] = None
                continue
            hit: dict[int, set[int]] = {}
            for cue, rows in by_cue.items():
                if cue not in where:
                    found, at = [], low.find(cue, lo, hi)
                    while at >= 0:
                        k = bisect.bisect_right(starts, at) - 1
                        found.append(k)
                        # one hit per sentence is enough: go on from the next sentence
                        nxt = sents[k + 1][0] if k + 1 < len(sents) else hi
                        at = low.find(cue, max(at + 1, nxt), hi)
                    where[cue] = found
                for k in where[cue]:
                    hit.setdefault(k, set()).update(rows)
            self.cued[role] = hit
        # roles with only cued `any` rows: a sentence without their cues is skipped at once
        self.quiet = {role for role in rules.cues if rules.start[role] is None and not rules.uncued[role]}

    def candidates(self, role: str) -> list[int]:
        """The sentences a row of `role` may fire on: those its `start` alternation matches at once
        and those holding a cue of one of its `any` rows (every sentence when some row has no cues)."""
        if self.cued[role] is None or self.rules.uncued[role]:
            return list(range(len(self.sents)))
        out = set(self.cued[role])
        pattern = self.rules.start[role]
        if pattern is not None:
            text = self.text
            out.update(i for i, (a, b, _) in enumerate(self.sents) if pattern.match(text, a, b))
        return sorted(out)

    def closes(self, i: int) -> bool:
        """Sentence `i` is a verdict that closes an open episode (a `settle` or `close` row)."""
        return (self.first("settle", i) is not None or self.first("close", i) is not None) and self.first("query", i) is None

    def first(self, role: str, i: int):
        cued = self.cued[role]
        if cued is not None and i not in cued and role in self.quiet:
            return None  # no row of this role can fire on this sentence
        key = (role, i)
        if key not in self.memo:
            a, b, _ = self.sents[i]
            cued = self.cued[role]
            if cued is None:
                rows = None
            else:
                rows = cued.get(i, set())
                if self.rules.uncued[role]:
                    rows = rows | set(self.rules.uncued[role])
            self.memo[key] = self.rules.first(role, self.text, a, b, rows)
        return self.memo[key]


def scan_sentences(text: str, rules: CompiledRules, start: int = 0, end: int | None = None) -> _Scan:
    """The sentences of `text[start:end]` with their rule hits, looked up lazily and once each."""
    return _Scan(text, sentences(text, start, end), rules)


def find_markers(text: str, rules: CompiledRules, start: int = 0, end: int | None = None,
                 scan: _Scan | None = None) -> tuple[list[Marker], int]:
    """Markers in `text[start:end]`, in order, never overlapping, and the count of new lines of thought.

    A marker opens at a sentence a `marker` row fires on. It runs over the following sentences to the
    verdict that settles it (a `settle` or `close` row on a sentence no `query` row fires on, within
    EPISODE_SENTENCES of its kind, before any `step` or `thought` row or blank line after
    PARAGRAPH_SENTENCES), then on over further verdicts each within CHAIN sentences of the last; a
    doubt also runs over hedged sentences (`doubt` rows) right after it. An episode that reaches no
    verdict is its announcing sentence alone (plus its hedges). A `settle` verdict outside any
    episode opens a verification of its own (a `close` one does not).
    scan: the sentences already scanned (`scan_sentences`); `start` and `end` are then not used.
    """
    scan = scan if scan is not None else scan_sentences(text, rules, start, end)
    sents = scan.sents
    out: list[Marker] = []
    thoughts = 0
    i, n = 0, len(sents)
    while i < n:
        a = sents[i][0]
        hit = scan.first("marker", i)
        if hit is None:
            hit = scan.first("settle", i) if scan.first("query", i) is None else None
            if hit is None:
                thoughts += scan.first("thought", i) is not None
                i += 1
                continue
            rule, ms, me = hit
            last = _chain(scan, i, n)
            out.append(Marker("verification", rule.name, a, sents[last][1], text[ms:me].strip()))
            i = last + 1
            continue
        rule, ms, me = hit
        thoughts += rule.kind == "switch"
        last = i
        settled = scan.closes(i)
        if not settled:
            limit = EPISODE_SENTENCES.get(rule.kind, 0)
            j = i + 1
            while j < n and j - i <= limit:
                if sents[j][2] and j - i > PARAGRAPH_SENTENCES:
                    break
                # new work, or a new line of thought ("Alternatively, ..."), ends the episode before it
                if scan.first("step", j) is not None or scan.first("thought", j) is not None or (not ABSORB and scan.first("marker", j) is not None):
                    break
                if scan.closes(j):
                    last, settled = j, True
                    break
                if rule.kind in DOUBTS and last == j - 1 and scan.first("doubt", j) is not None:
                    last = j  # the doubt is still open
                j += 1
        if settled:
            last = _chain(scan, last, n)
        out.append(Marker(rule.kind, rule.name, a, sents[last][1], text[ms:me].strip()))
        i = last + 1
    return out, thoughts


def _chain(scan: _Scan, last: int, n: int) -> int:
    """The last of the verdicts that follow the verdict at sentence `last` within CHAIN sentences each
    (a re-check of several items: "Correct. Tens place: ... Correct."), before any step or new marker."""
    j = last + 1
    while j < n and j - last <= CHAIN:
        if scan.first("step", j) is not None or scan.first("marker", j) is not None:
            break
        if scan.closes(j):
            last = j
        j += 1
    return last
