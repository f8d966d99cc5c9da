"""Sentences of a trace and the rows of the rule table that fire on each."""

from __future__ import annotations

import bisect
import re
from functools import lru_cache

from evalkit.trace._rules import CompiledRules

# A sentence ends at . ! ? followed by white space (so 48.4 stays whole), at CJK end punctuation,
# at a line break (\r\n as \n), or at a think tag (group `tag`). A run of marks is tried from its first one only:
# from each, a trace cut off in 20,000 question marks took 8.5 s.
_BOUNDARY = re.compile(r"(?<![.!?])[.!?]+[\"')\]*]*(?=\s)|[。！？]+|\n[\r\n]*|(?P<tag></?think>)")
_R1_TAGS = ("<think>", "</think>")


@lru_cache(maxsize=16)
def _boundaries(tags: tuple[str, ...]) -> re.Pattern:
    """The sentence boundaries when a think format's own markers (`tags`: `[THINK]`, `<seed:think>`, ...)
    are think tags too, as `<think>` and `</think>` always are."""
    extra = sorted({t for t in tags if t and t not in _R1_TAGS}, key=lambda t: (-len(t), t))
    if not extra:
        return _BOUNDARY
    # the format's markers first: one may start with what would end a sentence
    return re.compile("(?P<tag>" + "|".join(map(re.escape, extra)) + r"|</?think>)|" + _BOUNDARY.pattern.rpartition("|")[0])


def format_tags(think_format) -> tuple[str, ...]:
    """The markers of a think format (a row, a name, or None for r1) that cut sentences."""
    from evalkit.thinking import get_format

    fmt = get_format(think_format)
    return tuple(t for t in (fmt.open, fmt.close, fmt.answer_open, fmt.answer_close) if t)


def sentences(text: str, start: int = 0, end: int | None = None, tags: tuple[str, ...] = ()) -> list[tuple[int, int, bool]]:
    """Sentences of `text[start:end]` as (start, end, after_blank_line), offsets into `text`,
    stripped of surrounding white space. tags: the think format's markers (`format_tags`), which end a
    sentence and belong to none, as `<think>` and `</think>` do in every format."""
    end = len(text) if end is None else end
    out: list[tuple[int, int, bool]] = []
    pos = start
    blank = False
    for m in _boundaries(tags).finditer(text, start, end):
        cut = m.end()
        if m.lastgroup == "tag":  # a think tag is no part of any sentence
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
        if text[a] == "\n" and text.startswith(("\n", "\r\n"), a + 1, b):  # a blank line, LF or CRLF
            blank = True
        a += 1
    while b > a and text[b - 1].isspace():
        b -= 1
    if b > a:
        out.append((a, b, blank))


def cue_sentences(low: str, sents: list[tuple[int, int, bool]], rules: CompiledRules) -> dict[str, list[int]]:
    """Per cue of `rules` found in `low` (the text in lower case), the sentences it starts in, in order,
    each once (a cue may run on past its sentence's end)."""
    where: dict[str, list[int]] = {}
    if not sents:
        return where
    starts = [a for a, _, _ in sents]
    lo, hi = sents[0][0], sents[-1][1]
    if rules.cue_finder is not None:
        for end, cue in rules.cue_finder.iter(low, lo, hi):
            k = bisect.bisect_right(starts, end - len(cue) + 1) - 1
            found = where.setdefault(cue, [])
            if not found or found[-1] != k:
                found.append(k)
        return where
    for cue in rules.all_cues:
        found, at = [], low.find(cue, lo, hi)
        while at >= 0:
            k = bisect.bisect_right(starts, at) - 1
            found.append(k)
            # one hit per sentence is enough: go on from the next sentence
            at = low.find(cue, max(at + 1, sents[k + 1][0] if k + 1 < len(sents) else hi), hi)
        if found:
            where[cue] = found
    return where


class _Scan:
    """Rule hits on the sentences of one text, each looked up once; `any` rows are tried only on
    sentences holding one of their cues."""

    def __init__(self, text: str, sents: list[tuple[int, int, bool]], rules: CompiledRules):
        self.text, self.sents, self.rules = text, sents, rules
        self.memo: dict[tuple[str, int], tuple | None] = {}
        self.cued: dict[str, dict[int, set[int]] | None] = {}
        low = text.lower()
        if len(low) != len(text):  # `İ` lowers to two characters: each character lowered alone, where it stays one
            low = "".join(c if len(lc := c.lower()) != 1 else lc for c in text)
        where = None if low is None else cue_sentences(low, sents, rules)  # cue -> the sentences holding it
        for role, by_cue in rules.cues.items():
            if where is None:
                self.cued[role] = None
                continue
            hit: dict[int, set[int]] = {}
            for cue, rows in by_cue.items():
                for k in where.get(cue, ()):
                    hit.setdefault(k, set()).update(rows)
            self.cued[role] = hit
        # roles with only cued `any` rows: a sentence without their cues is skipped at once
        self.quiet = {role for role in rules.cues
                      if rules.start[role] is None and not rules.alone[role] and not rules.uncued[role]}

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
        if self.rules.alone[role]:
            out.update(i for i, (a, b, _) in enumerate(self.sents) if self.rules.first_start(role, self.text, a, b))
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


def scan_sentences(text: str, rules: CompiledRules, start: int = 0, end: int | None = None,
                   tags: tuple[str, ...] = ()) -> _Scan:
    """The sentences of `text[start:end]` (cut at the think tags `tags` too) with their rule hits,
    looked up lazily and once each."""
    return _Scan(text, sentences(text, start, end, tags), rules)


def rule_hits(scan: _Scan) -> list[dict[str, tuple]]:
    """Per sentence of `scan`, {role: (rule, match start, match end)} for each role a row fired for
    (the first row of that role in table order)."""
    hits: list[dict[str, tuple]] = [{} for _ in scan.sents]
    first = scan.first
    for role in scan.rules.cues:
        # only the sentences a row of the role may fire on (its start patterns match, or a cue is there)
        for i in scan.candidates(role):
            hit = first(role, i)
            if hit is not None:
                hits[i][role] = hit
    return hits
