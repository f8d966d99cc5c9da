"""Benchmark contamination: does a text share a long run of words with a benchmark problem?

A text is contaminated by a benchmark problem when both contain the same NGRAM consecutive words
(13, the span GPT-3's and most later decontamination reports use). Words are the runs of letters and
digits of the casefolded text (`\\w+`), so punctuation, LaTeX backslashes and spacing do not hide a
copied span: `\\frac{1}{2}` reads as `frac 1 2`. A problem reworded around a 13-word span is caught;
a paraphrase with no such span is not.

    index = NgramIndex.from_tasks(["math500", "aime24"])   # or every built-in task: ["all"]
    index.find(["Let $x$ be ...", ...])                    # one Overlap or None per text

Checking many texts is vectorised: words become ids of the benchmark vocabulary (a word the
benchmarks never use cannot be part of a shared n-gram), every window of NGRAM ids is hashed at once
with numpy, and only the texts whose hashes hit are compared word by word, so a hash collision never
drops a row.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

NGRAM = 13
WORD = re.compile(r"\w+")
_BOUNDARY = "\x00"  # separates texts in the one string the word pattern scans
_SCAN = re.compile(r"\w+|\x00")
_PRIME = np.uint64(1_000_003)


@dataclass(frozen=True)
class Overlap:
    """The first shared n-gram found: which benchmark problem, and the words shared.

    task: the benchmark task's name. problem_id: the benchmark problem's id. ngram: the shared words.
    """

    task: str
    problem_id: str
    ngram: str


def words(text: str) -> list[str]:
    """The words of `text` as decontamination compares them (casefolded `\\w+` runs)."""
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
        self.vocab: dict[str, int] = {}
        self._sources: list[tuple[str, str, list[str]]] = []
        self._where: dict[int, list[tuple[int, int]]] = {}  # hash -> [(source, start)]
        for task, pid, text in sources:
            ws = words(text)
            ids = np.fromiter((self.vocab.setdefault(w, len(self.vocab) + 1) for w in ws), np.int64, len(ws))
            k = len(self._sources)
            self._sources.append((task, pid, ws))
            for start, h in enumerate(_window_hashes(ids, n).tolist()):
                self._where.setdefault(h, []).append((k, start))
        self._hashes = np.fromiter(self._where, np.uint64, len(self._where))
        self._hashes.sort()

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
        if not texts or not len(self._hashes):
            return out
        joined = _BOUNDARY.join(t.replace(_BOUNDARY, " ") for t in texts).casefold()
        tokens = _SCAN.findall(joined)
        vocab = self.vocab
        # unknown words are 0 and text boundaries -1: a window holding either cannot match
        ids = np.fromiter((-1 if w == _BOUNDARY else vocab.get(w, 0) for w in tokens), np.int64, len(tokens))
        hashes = _window_hashes(ids, self.n)
        if not len(hashes):
            return out
        bad = np.concatenate(([0], np.cumsum(ids <= 0)))
        valid = (bad[self.n:] - bad[:-self.n]) == 0
        hit = np.flatnonzero(valid & np.isin(hashes, self._hashes))
        if not len(hit):
            return out
        starts = np.concatenate(([0], np.flatnonzero(ids == -1) + 1))  # token index where each text begins
        rows = np.searchsorted(starts, hit, side="right") - 1
        for pos, row in zip(hit.tolist(), rows.tolist()):
            if out[row] is None:
                out[row] = self._confirm(tokens[pos:pos + self.n], int(hashes[pos]))
        return out

    def _confirm(self, window: list[str], h: int) -> Overlap | None:
        for k, start in self._where.get(h, ()):
            task, pid, ws = self._sources[k]
            if ws[start:start + self.n] == window:
                return Overlap(task, pid, " ".join(window))
        return None  # a hash collision, not a shared n-gram


def _window_hashes(ids: np.ndarray, n: int) -> np.ndarray:
    """A polynomial hash (mod 2**64) of every window of `n` consecutive ids."""
    count = len(ids) - n + 1
    if count <= 0:
        return np.empty(0, np.uint64)
    u = ids.astype(np.uint64)  # -1 wraps to a large value; such windows are masked out by the caller
    h = np.zeros(count, np.uint64)
    with np.errstate(over="ignore"):
        for k in range(n):
            h = h * _PRIME + u[k:k + count]
    return h
