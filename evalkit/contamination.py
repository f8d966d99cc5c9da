"""Benchmark contamination: does a text share a long run of words with a benchmark problem?

A text is contaminated by a benchmark problem when both contain the same NGRAM consecutive words
(13, the span GPT-3's and most later decontamination reports use); a benchmark problem of fewer words
(but at least two) is matched whole (the text contains all its words in order), so a short problem
copied verbatim is caught too. A word is a run of ASCII letters, digits and `_`, or of other characters that are not
Unicode punctuation, symbols or spaces, in the NFKC-normalised, casefolded text (`fold`, WORD), so
punctuation, LaTeX backslashes and spacing do not hide a copied span: `\\frac{1}{2}`, `\\dfrac{1}{2}`, `\\frac12` and `1/2`
read as `1 2`, `\\left(` as `(`, and `let’s` (a curly apostrophe) or words parted by no-break spaces read as the ASCII
spelling does. A problem reworded around a 13-word span is caught; a paraphrase with no such span
is not.

    index = NgramIndex.from_tasks(["math500", "aime24"])   # or every built-in task: ["all"]
    index.find(["Let $x$ be ...", ...])                    # one Overlap or None per text

Checking many texts is vectorised with numpy: the texts of a chunk are scanned as one UTF-8 byte
array, every word is hashed at once from prefix sums, a word the benchmarks never use marks its
windows as impossible, every remaining window of NGRAM words (and of each shorter benchmark
problem's length) is hashed from prefix sums over the words, and a 16 MB table of hash prefixes
rules out almost every window before a search. Only windows whose hash matches are
compared word by word, so a hash collision can neither drop nor wrongly keep a row.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from dataclasses import dataclass
from typing import Iterable, Iterator, Sequence

import numpy as np

NGRAM = 13
# The R1 instruction a bundled copy may hold in its problem text (aime25's has it in its `prompt`): no part of the
# problem, and a training problem that ends with it shared a 13-word span with it
_INSTRUCTION = re.compile(r"\s*Please reason step by step,? and put your final answer within \\boxed\{\}\.?", re.I)
# A word: a run of ASCII letters, digits and `_`, or of any non-ASCII character, in folded text (`fold`
# turns non-ASCII punctuation, symbols and spaces into spaces). Defined on characters so it is also a
# definition on UTF-8 bytes, which `find` scans with numpy.
WORD = re.compile(r"[0-9a-z_\u0080-\U0010ffff]+")
_WORD_BYTE = np.zeros(256, dtype=bool)
_WORD_BYTE[list(b"0123456789abcdefghijklmnopqrstuvwxyz_")] = True
_WORD_BYTE[128:] = True
_BYTE_BASE = np.uint64(0x100000001B3)  # odd, so it has an inverse modulo 2**64
_BYTE_BASE_INV = np.uint64(pow(0x100000001B3, -1, 2**64))
_GRAM_BASE = np.uint64(1_000_003)
_GRAM_BASE_INV = np.uint64(pow(1_000_003, -1, 2**64))
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


class _Separators(dict):
    """str.translate's table for folded text, filled as characters are met: a non-ASCII punctuation
    mark, symbol, space or control character becomes a space (it parts words, as its ASCII
    counterpart does); an invisible format character (zero-width space, soft hyphen) is dropped."""

    def __missing__(self, code: int) -> int | str | None:
        kind = unicodedata.category(chr(code))
        self[code] = code if code < 128 else " " if kind[0] in "PSZ" or kind == "Cc" else \
            None if kind == "Cf" else code
        return self[code]


_SEPARATORS = _Separators()


# LaTeX spellings of one text that copies differ in: a fraction's command (`\\frac{1}{2}`, `\\dfrac{1}{2}`, `\\frac12`,
# `\\frac 12` read as `1/2` does: two words, 1 and 2), sizing commands (`\\left(`, `\\bigl(`: the bracket alone) and
# a subscript of one word in braces or not (`x_{1}` read as `x_1`; not `\\log_{2}64` as `\\log_264`, which could be
# `\\log_{26}4`).
_LATEX = re.compile(r"\\[dt]?frac(?![a-zA-Z])\s*(?:([0-9a-zA-Z])\s*([0-9a-zA-Z]))?"
                    r"|\\(?:left|right|[bB]ig{1,2}[lr]?)(?![a-zA-Z])"
                    r"|_\{\s*([0-9a-zA-Z]+)\s*\}")


def _latex_word(m: re.Match) -> str:
    if m.group(3):  # a braced subscript of one word, `x_{1}`, as its bare spelling `x_1`, a word of its own (the
        # brace parted it from what follows: `x_{1}x_{2}` and `x_{1} x_{2}` read alike)
        return "_" + m.group(3) + " "
    return f" {m.group(1)} {m.group(2)} " if m.group(1) else " "


def fold(text: str) -> str:
    """`text` as decontamination reads it: the LaTeX spellings of `_LATEX` made one, NFKC-normalised,
    casefolded, non-ASCII punctuation, symbols and spaces as spaces, invisible format characters dropped
    (ASCII text is only lowercased)."""
    if "\\" in text or "_{" in text:
        text = _LATEX.sub(_latex_word, text)
    if text.isascii():
        return text.lower()
    return unicodedata.normalize("NFKC", text).casefold().translate(_SEPARATORS)


def words(text: str) -> list[str]:
    """The words of `text` as decontamination compares them (WORD in `fold(text)`)."""
    return WORD.findall(fold(text))


class NgramIndex:
    """Every NGRAM-word window of a set of benchmark problems, and each problem of fewer words whole.

    sources: (task, problem id, text) per benchmark problem (the R1 instruction left out of it, and windows of stock
        phrasing, `_boilerplate`). n: the window length in words.
    """

    def __init__(self, sources: Iterable[tuple[str, str, str]], n: int = NGRAM) -> None:
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        self.n = n
        self.skipped: tuple[str, ...] = ()  # benchmarks `from_tasks` could not load
        self.sampled: tuple[str, ...] = ()  # benchmarks read from a bundled sample (LiveCodeBench offline)
        self._sources = [(task, pid, benchmark_text(text)) for task, pid, text in sources]
        self._words: dict[int, list[str]] = {}  # a source's words, made when a hit needs them
        texts = [text for _, _, text in self._sources]
        # the words the benchmarks use, as a table of hash prefixes: a word missing from it is in none
        self._known = np.zeros(1 << _FILTER_BITS, dtype=bool)
        self._starts = np.zeros(1 << _FILTER_BITS, dtype=bool)  # the first words of the short problems
        grams, where = [np.empty(0, np.uint64)], [np.empty((0, 3), np.int64)]
        for offset, chunk in zip(range(0, len(texts), _CHUNK), _chunks(texts)):
            hashes, text_of, first = _scan(chunk)
            self._known[_prefix(hashes)] = True
            room = _room(text_of)
            # every window of n words, and a problem of fewer words whole (from its first word); one
            # word alone is no span: it would flag every text that uses it
            long = np.flatnonzero(room >= n)
            whole = (room < n) & (room >= min(2, n)) & (np.arange(len(room)) == first[text_of])
            short = np.flatnonzero(whole)
            self._starts[_prefix(hashes[short])] = True
            at = np.concatenate((long, short))
            length = np.concatenate((np.full(len(long), n), room[short]))
            grams.append(_window_hashes(_word_prefix(hashes), at, length))
            where.append(np.stack([text_of[at] + offset, at - first[text_of[at]], length], axis=1))
        gram, spots = np.concatenate(grams), np.concatenate(where)
        keep = ~_boilerplate(self._sources, spots, n)
        gram, spots = gram[keep], spots[keep]
        order = np.argsort(gram, kind="stable")
        self._gram, self._where = gram[order], spots[order]  # where: (source, start, length)
        self._lengths = sorted({int(k) for k in self._where[:, 2]}, reverse=True)
        self._filter = np.zeros(1 << _FILTER_BITS, dtype=bool)
        self._filter[_prefix(self._gram)] = True

    @classmethod
    def from_tasks(cls, tasks: Sequence[str], n: int = NGRAM) -> "NgramIndex":
        """The index of the problems of `tasks`: built-in names, YAML paths, suites, or `all` (every built-in
        benchmark; replay-only tasks such as the demo excluded). A task named outright must load
        (InputError otherwise); under `all`, one that cannot (a hub-only task offline, e.g. gated
        GPQA) is skipped with a warning and listed in `skipped`."""
        from evalkit.errors import InputError
        from evalkit.suites import expand_suites
        from evalkit.taskspec import list_tasks, load_problems, load_task

        wanted = []
        for t in tasks:  # a suite (`aime`) stands for its tasks
            wanted += ([(s, True) for s in list_tasks() if s.completions is None] if t == "all"
                       else [(load_task(x), False) for x in expand_suites([t])])
        seen: set[str] = set()
        sources = []
        skipped, sampled = [], []
        for spec, optional in wanted:
            if spec.name in seen:
                continue
            seen.add(spec.name)
            try:
                loaded = load_problems(spec)
                sources += [(spec.name, p.id, p.problem) for p in loaded.problems]
                if loaded.source == "local" and spec.dataset.config_files:  # published by release: the copy is a sample
                    sampled.append(spec.name)
                    print(f"evalkit: warning: decontamination against {spec.name} reads its bundled sample of "
                          f"{len(loaded.problems)} problems (the hub is unreachable or offline); the full benchmark "
                          "is not checked", file=sys.stderr)
            except InputError as e:
                if not optional:
                    raise
                skipped.append(spec.name)
                print(f"evalkit: warning: decontamination skips {spec.name}: {e}", file=sys.stderr)
        index = cls(sources, n)
        index.skipped = tuple(skipped)
        index.sampled = tuple(sampled)
        return index

    @property
    def tasks(self) -> list[str]:
        return sorted({task for task, _, _ in self._sources})

    def __len__(self) -> int:
        return len(self._sources)

    def find(self, texts: Sequence[str]) -> list[Overlap | None]:
        """For each text, the first benchmark n-gram (or short benchmark problem) it contains, or None."""
        out: list[Overlap | None] = [None] * len(texts)
        if not len(self._gram):
            return out
        for offset, chunk in zip(range(0, len(texts), _CHUNK), _chunks(list(texts))):
            hashes, text_of, first = _scan(chunk)
            room = _room(text_of, ~self._known[_prefix(hashes)])  # a window holds no word the benchmarks lack
            prefix = _word_prefix(hashes)
            starts = np.flatnonzero(self._starts[_prefix(hashes)] & (room > 0))  # where a short problem may begin
            for length in self._lengths:
                at = np.flatnonzero(room >= length) if length == self.n else starts[room[starts] >= length]
                h = _window_hashes(prefix, at, length)
                maybe = self._filter[_prefix(h)]
                h, at = h[maybe], at[maybe]
                pos = np.searchsorted(self._gram, h)
                pos[pos == len(self._gram)] = 0
                hit = self._gram[pos] == h
                for gram_hash, word in zip(h[hit].tolist(), at[hit].tolist()):
                    row = int(text_of[word])
                    if out[offset + row] is None:
                        start = word - int(first[row])
                        out[offset + row] = self._confirm(words(chunk[row])[start:start + length], gram_hash)
        return out

    def _confirm(self, window: list[str], gram_hash: int) -> Overlap | None:
        lo = int(np.searchsorted(self._gram, np.uint64(gram_hash), side="left"))
        hi = int(np.searchsorted(self._gram, np.uint64(gram_hash), side="right"))
        for source, start, length in self._where[lo:hi].tolist():
            if source not in self._words:
                self._words[source] = words(self._sources[source][2])
            if length == len(window) and self._words[source][start:start + length] == window:
                task, pid, _ = self._sources[source]
                return Overlap(task, pid, " ".join(window))
        return None  # a hash collision, not a shared n-gram


# A benchmark's stock phrasing is no one problem's text: AIME's "... can be written as m/n, where m and n are relatively
# prime positive integers. Find m+n." flagged a fifth of every other year's problems, and any new problem that ends so.
# A run of STOCK_WORDS words is stock where this many problems or more hold it, of two benchmarks or more, or a tenth
# of one benchmark's problems (a setup a few parts of one problem share stays its text); a window most of whose words
# lie in such runs is no evidence of a copy.
STOCK_WORDS = 8
STOCK_PROBLEMS = 3
STOCK_SHARE = 0.1


def benchmark_text(text: str) -> str:
    """A benchmark problem's text as it is indexed: without the R1 instruction a bundled copy may hold."""
    return _INSTRUCTION.sub(" ", text)


def stock_runs(sources: Sequence[tuple[str, str, str]],
               split: Sequence[list[str]] | None = None) -> set[tuple[str, ...]]:
    """The runs of STOCK_WORDS words that are stock phrasing among `sources` ((task, problem id, text) each; split:
    their words, where the caller has them)."""
    held: dict[tuple[str, ...], set[int]] = {}
    for i, ws in enumerate(split if split is not None else [words(text) for _, _, text in sources]):
        for j in range(len(ws) - STOCK_WORDS + 1):
            held.setdefault(tuple(ws[j:j + STOCK_WORDS]), set()).add(i)
    size: dict[str, int] = {}
    for task, _, _ in sources:
        size[task] = size.get(task, 0) + 1

    def stock(problems: set[int]) -> bool:
        if len(problems) < STOCK_PROBLEMS:
            return False
        per_task: dict[str, int] = {}
        for i in problems:
            per_task[sources[i][0]] = per_task.get(sources[i][0], 0) + 1
        return len(per_task) >= 2 or any(k >= STOCK_SHARE * size[task] for task, k in per_task.items())

    return {run for run, problems in held.items() if stock(problems)}


def stock_marks(ws: Sequence[str], runs: set[tuple[str, ...]]) -> list[int]:
    """How many of the first k words of `ws` lie in stock `runs`, for k = 0 .. len(ws)."""
    mark = [False] * len(ws)
    for j in range(len(ws) - STOCK_WORDS + 1):
        if tuple(ws[j:j + STOCK_WORDS]) in runs:
            mark[j:j + STOCK_WORDS] = [True] * STOCK_WORDS
    out = [0]
    for m in mark:
        out.append(out[-1] + m)
    return out


def mostly_stock(marks: list[int], start: int, length: int) -> bool:
    """Whether more than half the words of the window at `start` lie in stock runs (`stock_marks`)."""
    return 2 * (marks[start + length] - marks[start]) > length


def _boilerplate(sources: Sequence[tuple[str, str, str]], where: np.ndarray, n: int) -> np.ndarray:
    """Which windows (full n-word ones: a short problem matched whole is its own text) lie mostly in stock runs."""
    split = [words(text) for _, _, text in sources]
    runs = stock_runs(sources, split)
    out = np.zeros(len(where), dtype=bool)
    if not runs:
        return out
    marks = {i: stock_marks(ws, runs) for i, ws in enumerate(split)}
    for row, (source, start, length) in enumerate(where.tolist()):
        out[row] = length == n and mostly_stock(marks[source], start, length)
    return out


def _chunks(texts: list[str]) -> Iterator[list[str]]:
    for i in range(0, len(texts), _CHUNK):
        yield texts[i:i + _CHUNK]


def _scan(texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every word of `texts` at once: (its hash, which text it is in, index of each text's first word).

    The texts are folded (`fold`) and UTF-8 encoded; a word is a run of word bytes (WORD on bytes), and its
    hash a polynomial over its bytes modulo 2**64, computed for all words together from prefix sums."""
    encoded = [fold(t).encode("utf-8", "surrogatepass") for t in texts]
    data = np.frombuffer(b"\x00".join(encoded), dtype=np.uint8)
    empty = np.empty(0, np.uint64), np.empty(0, np.int64), np.zeros(len(texts), np.int64)
    if not len(data):
        return empty
    edges = np.diff(_WORD_BYTE[data].astype(np.int8), prepend=0, append=0)
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    if not len(starts):
        return empty
    with np.errstate(over="ignore"):
        power, inverse = _powers(len(data), _BYTE_BASE, _BYTE_BASE_INV)
        prefix = np.concatenate(([np.uint64(0)], np.cumsum(data.astype(np.uint64) * power[:len(data)])))
        hashes = (prefix[ends] - prefix[starts]) * inverse[:len(data)][starts]
    text_starts = np.cumsum([0] + [len(e) + 1 for e in encoded[:-1]])
    text_of = np.searchsorted(text_starts, starts, side="right") - 1
    first = np.searchsorted(text_of, np.arange(len(texts)), side="left")
    return hashes, text_of, first


def _room(text_of: np.ndarray, unknown: np.ndarray | None = None) -> np.ndarray:
    """For each word, how many words from it on lie in its own text (and, given `unknown`, before the
    next unknown word): the longest window that may start there."""
    index = np.arange(len(text_of))
    end = np.searchsorted(text_of, text_of, side="right")  # past the last word of each word's text
    if unknown is not None:
        stops = np.append(np.flatnonzero(unknown), len(text_of))
        end = np.minimum(end, stops[np.searchsorted(stops, index)])
    return end - index


def _word_prefix(hashes: np.ndarray) -> np.ndarray:
    """Prefix sums of the words' hashes times GRAM_BASE**position, modulo 2**64 (`_window_hashes`)."""
    with np.errstate(over="ignore"):
        power, _ = _powers(len(hashes), _GRAM_BASE, _GRAM_BASE_INV)
        return np.concatenate(([np.uint64(0)], np.cumsum(hashes * power[:len(hashes)])))


def _window_hashes(prefix: np.ndarray, at: np.ndarray, length: np.ndarray | int) -> np.ndarray:
    """The hash of the `length` words from each index in `at` (prefix: `_word_prefix` of the words):
    a polynomial over the words' hashes modulo 2**64, so a window of any length costs the same."""
    with np.errstate(over="ignore"):
        _, inverse = _powers(len(prefix), _GRAM_BASE, _GRAM_BASE_INV)
        return (prefix[at + length] - prefix[at]) * inverse[at]


_POWERS: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def _powers(length: int, base: np.uint64, inverse: np.uint64) -> tuple[np.ndarray, np.ndarray]:
    """base**j and base**-j modulo 2**64 for j < at least `length`, kept for the next chunk."""
    if int(base) not in _POWERS or len(_POWERS[int(base)][0]) < length:
        size = max(length, 1 << 20)
        one = np.ones(1, np.uint64)
        with np.errstate(over="ignore"):
            _POWERS[int(base)] = tuple(np.concatenate((one, np.cumprod(np.full(size - 1, b, np.uint64))))
                                       for b in (base, inverse))
    return _POWERS[int(base)]


def _prefix(hashes: np.ndarray) -> np.ndarray:
    """The low _FILTER_BITS of each hash, as indices into a filter table."""
    return (hashes & np.uint64((1 << _FILTER_BITS) - 1)).astype(np.int64)
