"""The `learned` reflection detector: a two-stage logistic scorer over sentence features, whose runs of
reflective sentences become the markers (DESIGN.md "Trace markers").

Stage 1 scores each sentence from its own features and those of the two sentences either side: which
rows of the rule table fire (by role, and by kind for markers), whether a rule episode covers it,
cue words, numbers met before, position in the think block. Stage 2 rescores it from the stage-1
scores of itself and its neighbours (a reflection is a passage). The weights ship in
`reflection_model.json`; `bench/trace/train_reflection.py` fits them on the labelled Qwen-14B traces
only (the Llama-8B traces stay held out) and picks the threshold by leave-one-trace-out F1.
"""

from __future__ import annotations

import bisect
import json
import re
from functools import lru_cache
from pathlib import Path

import numpy as np

from evalkit.trace._markers import Marker
from evalkit.trace._rules import KINDS, ROLES

MODEL_PATH = Path(__file__).with_name("reflection_model.json")

# Neighbours whose features stage 1 sees, and whose stage-1 scores stage 2 sees.
OFFSETS = (-2, -1, 1, 2)

# Sentence openers worth a feature of their own.
OPENERS = (
    "wait", "but", "so", "hmm", "let", "therefore", "thus", "yes", "okay", "alternatively", "now", "then",
    "first", "maybe", "actually", "hence", "which", "and", "i", "that", "this", "to", "if", "alright", "oh",
    "no", "hold", "is", "does", "also", "again", "since", "because", "the", "similarly", "perfect",
    "correct", "right", "plugging", "substituting", "multiply", "compute", "calculate", "adding",
    "subtract", "for", "in", "from", "using", "recall", "remember",
)  # fmt: skip

# name -> (pattern on the lowercased sentence, whether the match must start a word).
CUES: tuple[tuple[str, str, bool], ...] = (
    ("eq", r"=", False),
    ("check", r"check|verif|confirm|make sure", False),
    ("agree", r"(?:correct|right|yes|indeed|matches|consistent|same)\b", True),
    ("again", r"again\b|re-?(?:check|calculat|comput|examin|evaluat|do\b|verif|think|consider|count)", True),
    ("earlier", r"(?:earlier|before|previous|previously|above|originally)\b", True),
    ("wrong", r"wrong|mistake|error|incorrect|not right", False),
    ("maybe", r"(?:maybe|perhaps|might|possibly|suppose)\b", True),
    ("first_person", r"(?:i|me|my)\b", True),
    ("we", r"(?:we|us|let's)\b", True),
    ("answer_word", r"(?:answer|result)s?\b", True),
    ("boxed", r"\\boxed", False),
    ("plug", r"plug|substitut", False),
    ("back", r"back\b", True),
    ("think", r"think\b", True),
    ("wait_hmm", r"(?:hmm+|wait)\b", True),
    ("however", r"however\b", True),
    ("seems", r"(?:seems?|looks?|sounds?)\b", True),
    ("sensible", r"makes sense|reasonable|plausible", False),
    ("ok", r"(?:okay|ok|alright|good)\b", True),
)
# (No leading \b in the patterns: Python's re scans much faster without it; a hit that must start a
# word is checked after.)

_OPENER = re.compile(r"[\W_]*([a-z]+)", re.IGNORECASE)
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def feature_names() -> list[str]:
    names = [f"role:{r}" for r in ROLES] + [f"kind:{k}" for k in KINDS]
    names += ["episode", "episode_start", "episode_depth", "episode_doubt"]
    names += [f"opens:{w}" for w in OPENERS] + ["question"] + [f"cue:{n}" for n, _, _ in CUES]
    names += ["numbers_seen", "position", "after_candidate", "log_length", "after_blank"]
    return names


@lru_cache(maxsize=1)
def _cue_patterns() -> tuple[re.Pattern, ...]:
    return tuple(re.compile(p) for _, p, _ in CUES)


def sentence_features(text: str, sents: list, scan, markers: list[Marker], think_end: int,
                      first_candidate: int | None) -> np.ndarray:
    """One row of `feature_names()` per sentence of `sents` (as `_markers.sentences` gives them).

    scan: the rule hits on those sentences (`_markers._Scan`); markers: the rule episodes;
    think_end: where the think text ends; first_candidate: where the first candidate answer ends.
    """
    n = len(sents)
    nroles, nkinds = len(ROLES), len(KINDS)
    col_ep = nroles + nkinds
    col_open = col_ep + 4
    col_q = col_open + len(OPENERS)
    col_cue = col_q + 1
    col_num = col_cue + len(CUES)
    X = np.zeros((n, col_num + 5), dtype=np.float64)
    if not n:
        return X
    kind_at = {k: i for i, k in enumerate(KINDS)}
    for r, role in enumerate(ROLES):
        rows, kinds = [], []
        for i in scan.candidates(role):
            hit = scan.first(role, i)
            if hit is not None:
                rows.append(i)
                kinds.append(kind_at.get(hit[0].kind, 0))
        X[rows, r] = 1.0
        if role == "marker":
            X[rows, [nroles + k for k in kinds]] = 1.0
    starts = [a for a, _, _ in sents]
    for m in markers:
        i0 = max(bisect.bisect_right(starts, m.start) - 1, 0)
        i1 = bisect.bisect_left(starts, m.end) - 1
        X[i0, col_ep + 1] = 1.0
        if m.kind in ("hesitation", "backtracking"):
            X[i0, col_ep + 3] = 1.0
        if i1 >= i0:
            X[i0:i1 + 1, col_ep] = 1.0
            X[i0:i1 + 1, col_ep + 2] = np.maximum(X[i0:i1 + 1, col_ep + 2], np.arange(i1 - i0 + 1) / 5)
    lo, hi = sents[0][0], sents[-1][1]
    ends = [b for _, b, _ in sents]
    low = text.lower()
    if len(low) != len(text):  # a rare case mapping that changes length: offsets must stay valid
        low = "".join(ch if len(ch.lower()) != 1 else ch.lower() for ch in text)
    for c, pattern in enumerate(_cue_patterns()):
        word = CUES[c][2]
        rows = set()
        for m in pattern.finditer(low, lo, hi):
            at = m.start()
            if word and at and low[at - 1].isalnum():
                continue
            k = bisect.bisect_right(starts, at) - 1
            if at < ends[k]:
                rows.add(k)
        X[list(rows), col_cue + c] = 1.0
    opener_at = {w: i for i, w in enumerate(OPENERS)}
    rows, cols = [], []
    for i, a in enumerate(starts):
        w = _OPENER.match(text, a, min(ends[i], a + 40))
        if w is not None:
            at = opener_at.get(w.group(1).lower())
            if at is not None:
                rows.append(i)
                cols.append(col_open + at)
    X[rows, cols] = 1.0
    X[:, col_q] = [1.0 if text[b - 1] in "?？" else 0.0 for b in ends]
    # share of a sentence's numbers first met more than three sentences before it (a recomputation)
    seen: dict[str, int] = {}
    old = np.zeros(n)
    total = np.zeros(n)
    for m in _NUMBER.finditer(text, lo, hi):
        k = bisect.bisect_right(starts, m.start()) - 1
        if m.start() >= ends[k]:
            continue
        x = m.group()
        total[k] += 1
        first = seen.setdefault(x, k)
        if first < k - 3:
            old[k] += 1
    X[:, col_num] = np.divide(old, total, out=np.zeros(n), where=total > 0)
    a_arr, b_arr = np.asarray(starts, dtype=np.float64), np.asarray(ends, dtype=np.float64)
    X[:, col_num + 1] = a_arr / max(think_end, 1)
    if first_candidate is not None:
        X[:, col_num + 2] = a_arr > first_candidate
    X[:, col_num + 3] = np.log1p(b_arr - a_arr) / 6
    X[:, col_num + 4] = [1.0 if blank else 0.0 for _, _, blank in sents]
    return X


def with_neighbours(X: np.ndarray, offsets=OFFSETS) -> np.ndarray:
    """X, then X shifted by each offset (sentence i sees row i + offset; zeros past either end)."""
    n = X.shape[0]
    parts = [X]
    for o in offsets:
        Y = np.zeros_like(X)
        if o < 0 and n > -o:
            Y[-o:] = X[:n + o]
        elif o > 0 and n > o:
            Y[:n - o] = X[o:]
        parts.append(Y)
    return np.concatenate(parts, axis=1)


class ReflectionModel:
    """The fitted weights: stage 1 over standardised features with neighbours, stage 2 over stage-1
    scores with neighbours, and the threshold a sentence's stage-2 score must pass."""

    def __init__(self, data: dict):
        names = feature_names()
        if data.get("features") != names:
            raise ValueError("reflection model: its feature list does not match this evalkit's; retrain it "
                             "with bench/trace/train_reflection.py")
        self.data = data
        self.mean = np.asarray(data["stage1"]["mean"])
        self.scale = np.asarray(data["stage1"]["scale"])
        self.w1 = np.asarray(data["stage1"]["weights"])
        self.b1 = float(data["stage1"]["bias"])
        self.w2 = np.asarray(data["stage2"]["weights"])
        self.b2 = float(data["stage2"]["bias"])
        self.threshold = float(data["threshold"])

    def stage1(self, X: np.ndarray) -> np.ndarray:
        return _sigmoid(((with_neighbours(X) - self.mean) / self.scale) @ self.w1 + self.b1)

    def scores(self, X: np.ndarray) -> np.ndarray:
        """Each sentence's probability of being reflection."""
        if not X.shape[0]:
            return np.zeros(0)
        return _sigmoid(with_neighbours(self.stage1(X)[:, None]) @ self.w2 + self.b2)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -40, 40)))


@lru_cache(maxsize=4)
def load_model(path: str | None = None) -> ReflectionModel:
    return ReflectionModel(json.loads(Path(path or MODEL_PATH).read_text(encoding="utf-8")))


def learned_markers(text: str, sents: list, scores: np.ndarray, threshold: float,
                    rule_markers: list[Marker]) -> list[Marker]:
    """Each run of sentences scoring above `threshold` is one marker. It takes the kind, rule and
    trigger words of the first rule episode overlapping it; a run no rule fired on is a
    `verification` with rule `learned` (a recomputation or a verdict without cue words), its text the
    run's opening words."""
    out: list[Marker] = []
    i, n = 0, len(sents)
    while i < n:
        if scores[i] <= threshold:
            i += 1
            continue
        j = i
        while j + 1 < n and scores[j + 1] > threshold:
            j += 1
        a, b = sents[i][0], sents[j][1]
        rule = next((m for m in rule_markers if m.start < b and a < m.end), None)
        if rule is not None:
            out.append(Marker(rule.kind, rule.rule, a, b, rule.text))
        else:
            out.append(Marker("verification", "learned", a, b, " ".join(text[a:sents[i][1]].split()[:6])))
        i = j + 1
    return out
