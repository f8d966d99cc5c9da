"""Benchmark contamination: does a text share a long run of words with a benchmark problem?

A text is contaminated by a benchmark problem when both contain the same NGRAM consecutive words
(13, the span GPT-3's and most later decontamination reports use). A word is a run of ASCII letters,
digits and `_`, or of non-ASCII characters, in the casefolded text (WORD), so punctuation, LaTeX
backslashes and spacing do not hide a copied span: `\\frac{1}{2}` reads as `frac 1 2`. A problem
reworded around a 13-word span is caught; a paraphrase with no such span is not.

    index = NgramIndex.from_tasks(["math500", "aime24"])   # or every built-in task: ["all"]
    index.find(["Let $x$ be ...", ...])                    # one Overlap or None per text

Checking many texts is vectorised with numpy: the texts of a chunk are scanned as one UTF-8 byte
array, every word is hashed at once from prefix sums, a word the benchmarks never use marks its
windows as impossible, every remaining window of NGRAM words is hashed, and a 16 MB table of hash
prefixes rules out almost every window before a search. Only windows whose hash matches are
compared word by word, so a hash collision can neither drop nor wrongly keep a row.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from typing import Iterable, Iterator, Sequence

import numpy as np

NGRAM = 13
# A word: a run of ASCII letters, digits and `_`, or of any non-ASCII character, in casefolded text.
# Defined on characters so it is also a definition on UTF-8 bytes, which `find` scans with numpy.
WORD = re.compile(r"[0-9a-z_\u0080-\U0010ffff]+")
_WORD_BYTE = np.zeros(256, dtype=bool)
_WORD_BYTE[list(b"0123456789abcdefghijklmnopqrstuvwxyz_")] = True
_WORD_BYTE[128:] = True
_BYTE_BASE = np.uint64(0x100000001B3)  # odd, so it has an inverse modulo 2**64
_BYTE_BASE_INV = np.uint64(pow(0x100000001B3, -1, 2**64))
_GRAM_BASE = np.uint64(1_000_003)
_CHUNK = 10_000  # texts per numpy pass: bounds the memory of `find`
_FILTER_BITS = 24  # a 16 MB table of hash prefixes answers most lookups without a search


@dataclass(frozen=True)
class Overlap:
    """The first shared n-gram found: which benchmark problem, and the words shared.

    task: the benchmark task's name. problem_id: the benchmark problem's id. ngram: the shared words.
    """

    task: str
    problem_id: str
    ngram: str


def words(text: str) -> list[str]:
    """The words of `text` as decontamination compares them (see WORD; casefolded)."""
    return WORD.findall(text.casefold())


class NgramIndex:
    """Every NGRAM-word window of a set of benchmark problems.

    sources: (task, problem id, text) per benchmark problem. n: the window length in words.
    """

    def __init__(self, sources: Iterable[tuple[str, str, str]], n: int = NGRAM) -> None:
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        self.n = n
        self.skipped: tuple[str, ...] = ()  # benchmarks `from_tasks` could not load
        self._sources = list(sources)
        self._words: dict[int, list[str]] = {}  # a source's words, made when a hit needs them
        texts = [text for _, _, text in self._sources]
        scans = [_scan(chunk) for chunk in _chunks(texts)]
        # the words the benchmarks use, as a table of hash prefixes: a word missing from it is in none
        self._known = np.zeros(1 << _FILTER_BITS, dtype=bool)
        grams, where = [], []
        for offset, (hashes, text_of, first) in zip(range(0, len(texts), _CHUNK), scans):
            self._known[_prefix(hashes)] = True
            h, at = self._grams(hashes, text_of)
            grams.append(h)
            where.append(np.stack([text_of[at] + offset, at - first[text_of[at]]], axis=1))
        gram = np.concatenate(grams) if grams else np.empty(0, np.uint64)
        order = np.argsort(gram, kind="stable")
        self._gram, self._where = gram[order], (np.concatenate(where)[order] if where else np.empty((0, 2), np.int64))
        self._filter = np.zeros(1 << _FILTER_BITS, dtype=bool)
        self._filter[_prefix(self._gram)] = True

    @classmethod
    def from_tasks(cls, tasks: Sequence[str], n: int = NGRAM) -> "NgramIndex":
        """The index of the problems of `tasks`: built-in names, YAML paths, or `all` (every built-in
        benchmark; replay-only tasks such as the demo excluded). A task named outright must load
        (InputError otherwise); under `all`, one that cannot (a hub-only task offline, e.g. gated
        GPQA) is skipped with a warning and listed in `skipped`."""
        from evalkit.errors import InputError
        from evalkit.taskspec import list_tasks, load_problems, load_task

        wanted = []
        for t in tasks:
            wanted += [(s, True) for s in list_tasks() if s.completions is None] if t == "all" else [(load_task(t), False)]
        seen: set[str] = set()
        sources = []
        skipped = []
        for spec, optional in wanted:
            if spec.name in seen:
                continue
            seen.add(spec.name)
            try:
                sources += [(spec.name, p.id, p.problem) for p in load_problems(spec).problems]
            except InputError as e:
                if not optional:
                    raise
                skipped.append(spec.name)
                print(f"evalkit: warning: decontamination skips {spec.name}: {e}", file=sys.stderr)
        index = cls(sources, n)
        index.skipped = tuple(skipped)
        return index

    @property
    def tasks(self) -> list[str]:
        return sorted({task for task, _, _ in self._sources})

    def __len__(self) -> int:
        return len(self._sources)

    def find(self, texts: Sequence[str]) -> list[Overlap | None]:
        """For each text, the first benchmark n-gram it contains, or None."""
        out: list[Overlap | None] = [None] * len(texts)
        if not len(self._gram):
            return out
        for offset, chunk in zip(range(0, len(texts), _CHUNK), _chunks(list(texts))):
            hashes, text_of, first = _scan(chunk)
            h, at = self._grams(hashes, text_of, ~self._known[_prefix(hashes)])
            maybe = self._filter[_prefix(h)]
            h, at = h[maybe], at[maybe]
            pos = np.searchsorted(self._gram, h)
            pos[pos == len(self._gram)] = 0
            hit = self._gram[pos] == h
            for gram_hash, word in zip(h[hit].tolist(), at[hit].tolist()):
                row = int(text_of[word])
                if out[offset + row] is None:
                    window = words(chunk[row])[word - int(first[row]):word - int(first[row]) + self.n]
                    out[offset + row] = self._confirm(window, gram_hash)
        return out

    def _grams(self, values: np.ndarray, text_of: np.ndarray, unknown: np.ndarray | None = None):
        """(hash, first word index) of every window of n words inside one text (and, when `unknown`
        is given, holding no unknown word)."""
        count = len(values) - self.n + 1
        if count <= 0:
            return np.empty(0, np.uint64), np.empty(0, np.int64)
        ok = text_of[self.n - 1:] == text_of[:count]
        if unknown is not None:
            bad = np.concatenate(([0], np.cumsum(unknown)))
            ok &= (bad[self.n:] - bad[:count]) == 0
        at = np.flatnonzero(ok)
        h = np.zeros(count, np.uint64)
        with np.errstate(over="ignore"):
            for k in range(self.n):  # every window at once, over contiguous slices
                h = h * _GRAM_BASE + values[k:k + count]
        return h[at], at

    def _confirm(self, window: list[str], gram_hash: int) -> Overlap | None:
        lo = int(np.searchsorted(self._gram, np.uint64(gram_hash), side="left"))
        hi = int(np.searchsorted(self._gram, np.uint64(gram_hash), side="right"))
        for source, start in self._where[lo:hi].tolist():
            if source not in self._words:
                self._words[source] = words(self._sources[source][2])
            if self._words[source][start:start + self.n] == window:
                task, pid, _ = self._sources[source]
                return Overlap(task, pid, " ".join(window))
        return None  # a hash collision, not a shared n-gram


def _chunks(texts: list[str]) -> Iterator[list[str]]:
    for i in range(0, len(texts), _CHUNK):
        yield texts[i:i + _CHUNK]


def _scan(texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every word of `texts` at once: (its hash, which text it is in, index of each text's first word).

    The texts are casefolded and UTF-8 encoded; a word is a run of word bytes (WORD on bytes), and its
    hash a polynomial over its bytes modulo 2**64, computed for all words together from prefix sums."""
    encoded = [t.casefold().encode("utf-8", "surrogatepass") for t in texts]
    data = np.frombuffer(b"\x00".join(encoded), dtype=np.uint8)
    empty = np.empty(0, np.uint64), np.empty(0, np.int64), np.zeros(len(texts), np.int64)
    if not len(data):
        return empty
    edges = np.diff(_WORD_BYTE[data].astype(np.int8), prepend=0, append=0)
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    if not len(starts):
        return empty
    with np.errstate(over="ignore"):
        power, inverse = _powers(len(data))
        prefix = np.concatenate(([np.uint64(0)], np.cumsum(data.astype(np.uint64) * power[:len(data)])))
        hashes = (prefix[ends] - prefix[starts]) * inverse[:len(data)][starts]
    text_starts = np.cumsum([0] + [len(e) + 1 for e in encoded[:-1]])
    text_of = np.searchsorted(text_starts, starts, side="right") - 1
    first = np.searchsorted(text_of, np.arange(len(texts)), side="left")
    return hashes, text_of, first


_POWERS: list[np.ndarray] = []


def _powers(length: int) -> tuple[np.ndarray, np.ndarray]:
    """BASE**j and BASE**-j modulo 2**64 for j < at least `length`, kept for the next chunk."""
    if not _POWERS or len(_POWERS[0]) < length:
        size = max(length, 1 << 20)
        one = np.ones(1, np.uint64)
        with np.errstate(over="ignore"):
            _POWERS[:] = [np.concatenate((one, np.cumprod(np.full(size - 1, b, np.uint64))))
                          for b in (_BYTE_BASE, _BYTE_BASE_INV)]
    return _POWERS[0], _POWERS[1]


def _prefix(hashes: np.ndarray) -> np.ndarray:
    """The low _FILTER_BITS of each hash, as indices into a filter table."""
    return (hashes & np.uint64((1 << _FILTER_BITS) - 1)).astype(np.int64)
