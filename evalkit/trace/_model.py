"""The `model` reflection detector: a sentence classifier that reads like the rubric's annotators
(traces/REFLECTION_RUBRIC.md: doubt, check, verdict, other), without an LLM at run time.

Each sentence becomes a set of named sparse features: its opening words and its words and word pairs,
which rows of the rule table fire on it (by role and kind, so Chinese and a user's YAML rows share
what the English rows taught), whether its numbers were already computed before it (a recomputation
restates old numbers), its shape (question, colon, length, equations), and the opening words and rule
hits of the sentences either side. A multinomial logistic model over these gives each sentence its
probability of each label. (A second stage over the neighbours' probabilities was tried: it scored
lower leave-one-trace-out.) The weights ship in `reflection_model.json`;
`bench/trace/train_reflection.py` fits them on the labelled traces (40 gold, 58 agent-labelled) and
reports their held-out F1.
"""

from __future__ import annotations

import bisect
import json
import re
from functools import lru_cache
from itertools import repeat
from pathlib import Path

import numpy as np

MODEL_PATH = Path(__file__).with_name("reflection_model.json")

# The rubric's labels, in the model's column order; `other` is column 0.
LABELS = ("other", "doubt", "check", "verdict")
# Words a sentence opens with that its feature names keep (beyond these, the opener is "<w>").
_OPENER_WORDS = 3
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?|0+(?:\.0+)?|[?:=✓✔✅✗✘❌]|[\u4e00-\u9fff]")
_DIGITS_TO_ZERO = bytes.maketrans(b"123456789", b"000000000")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


_bucket = bisect.bisect_right  # (edges, x): how many edges x reaches
# Bucket edges: sentence length in characters, position in the think text, numbers in a sentence, and
# the share of them already met before.
_LEN_EDGES, _POS_EDGES, _COUNT_EDGES, _OLD_EDGES = (25, 50, 100, 200), (0.1, 0.5, 0.9), (2, 4, 8), (0.01, 0.5, 0.99)
_LEN_NAMES = tuple(f"len:{k}" for k in range(len(_LEN_EDGES) + 1))
_POS_NAMES = tuple(f"pos:{k}" for k in range(len(_POS_EDGES) + 1))


def sentence_features(text: str, sents: list, hits: list[dict], first_candidate: int | None,
                      think_end: int) -> tuple[list[list[str]], list[list[str]]]:
    """(own, ctx): per sentence of `sents` (as `_markers.sentences` gives them), the names of its own
    features, and those of what a neighbour sees of it (its opening words, rule hits, `?`, `:`);
    `feature_names` joins them as the model reads them.

    hits: per sentence, {role: (rule, start, end)} for each role a row fired for (`_markers.rule_hits`).
    first_candidate: where the first candidate answer ends (None: no candidate);
    think_end: where the think text ends.
    """
    n = len(sents)
    low = text.lower()
    if len(low) != len(text):  # a rare case mapping that changes length: offsets must stay valid
        low = "".join(ch if len(ch.lower()) != 1 else ch.lower() for ch in text)
    # A number's words are its shape (0, 00, 0.00). bytes.translate is a plain C loop, and no UTF-8
    # byte of a non-ASCII character is an ASCII digit, so offsets stay where they were.
    low = low.encode("utf-8").translate(_DIGITS_TO_ZERO).decode("utf-8")
    own: list[list[str]] = []
    ctx: list[list[str]] = []  # what a neighbour sees of this sentence
    seen: dict[str, int] = {}
    span = max(think_end, 1)
    for i, (a, b, blank) in enumerate(sents):
        words = _WORD.findall(low, a, b)
        head = words[:_OPENER_WORDS]
        c = ["o:" + " ".join(head[:k]) for k in range(1, len(head) + 1)]
        f = c[:]
        # (map over C-level string methods: this loop runs for every sentence of every trace)
        f.extend(set(map("w:".__add__, words)))
        f.extend(set(map("b:%s %s".__mod__, zip(words, words[1:]))))
        if words:
            f.append("e:" + " ".join(words[-2:]))
        for role, (rule, _, _) in hits[i].items():
            kind = rule.kind
            f.append("r:" + role)
            f.append("r:" + role + ":" + kind)
            c.append("r:" + role + ":" + kind)
        # numbers met more than one sentence before: a recomputation or a verdict restates them
        nums = _NUMBER.findall(text, a, b)
        if nums:
            old = sum(1 for x in nums if seen.get(x, i) < i - 1)
            share = _bucket(_OLD_EDGES, old / len(nums))
            f.append(f"num:{_bucket(_COUNT_EDGES, len(nums))}:{share}")
            f.append(f"{head[0] if head else ''}|old:{share}")
            for x in nums:
                seen.setdefault(x, i)
        else:
            f.append("num:none")
        if b > a and text[b - 1] in "?？":
            f.append("q")
            c.append("q")
        if b > a and text[b - 1] == ":":
            f.append("colon")
            c.append("colon")
        f.append(_LEN_NAMES[_bucket(_LEN_EDGES, b - a)])
        if blank:
            f.append("blank")
        f.append(_POS_NAMES[_bucket(_POS_EDGES, a / span)])
        if first_candidate is not None and a > first_candidate:
            f.append("after_candidate")
        own.append(f)
        ctx.append(c)
    return own, ctx


def feature_names(own: list[list[str]], ctx: list[list[str]]) -> list[list[str]]:
    """Every feature name of each sentence: its own, and its neighbours' as `p:` (the sentence before)
    and `n:` (the one after); what the model is fitted on (the model itself adds the neighbours' weights
    without building these names)."""
    n = len(own)
    out = []
    for i in range(n):
        f = list(own[i])
        f.extend(["p:" + x for x in ctx[i - 1]] if i > 0 else ["p:none"])
        f.extend(["n:" + x for x in ctx[i + 1]] if i + 1 < n else ["n:none"])
        out.append(f)
    return out


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class ReflectionModel:
    """The fitted weights (feature name -> one weight per label, a bias per label) and the threshold
    1 - P(other) must pass for a sentence to be an act."""

    def __init__(self, data: dict):
        if tuple(data.get("labels", ())) != LABELS:
            raise ValueError("reflection model: its labels do not match this evalkit's; retrain it with "
                             "bench/trace/train_reflection.py")
        self.data = data
        self.index = {name: k for k, name in enumerate(data["features"])}
        self.weights = np.asarray(data["weights"], dtype=np.float64).reshape(len(self.index), len(LABELS))
        self.bias = np.asarray(data["bias"], dtype=np.float64)
        self.padded = np.vstack([self.weights, np.zeros((1, len(LABELS)))])
        self.prev = {name[2:]: k for name, k in self.index.items() if name.startswith("p:")}
        self.next = {name[2:]: k for name, k in self.index.items() if name.startswith("n:")}
        self.threshold = float(data["threshold"])

    def _scores(self, lists: list[list[str]], index: dict[str, int]) -> np.ndarray:
        """Per list of names, the sum of their weights (one column per label)."""
        n = len(lists)
        get, unknown = index.get, len(self.index)  # the row after the last is all zeros
        cols: list[int] = []
        lens = []
        for f in lists:
            cols.extend(map(get, f, repeat(unknown, len(f))))
            lens.append(len(f))
        rows = np.repeat(np.arange(n), lens)
        picked = self.padded[np.asarray(cols, dtype=np.intp)]
        z = np.empty((n, len(LABELS)))
        for j in range(len(LABELS)):
            z[:, j] = np.bincount(rows, weights=picked[:, j], minlength=n)
        return z

    def probabilities(self, feats: tuple[list[list[str]], list[list[str]]]) -> np.ndarray:
        """Each sentence's probabilities of LABELS (rows sum to 1). feats: (own, ctx) as
        `sentence_features` gives them; names the model never saw count for nothing."""
        own, ctx = feats
        n = len(own)
        if not n:
            return np.zeros((0, len(LABELS)))
        z = self._scores(own, self.index) + self.bias
        # a neighbour's `p:` / `n:` features, added without building their names
        z[1:] += self._scores(ctx[:-1], self.prev)
        z[:-1] += self._scores(ctx[1:], self.next)
        z[0] += self.padded[self.index.get("p:none", len(self.index))]
        z[-1] += self.padded[self.index.get("n:none", len(self.index))]
        return softmax(z)


@lru_cache(maxsize=4)
def load_model(path: str | None = None) -> ReflectionModel:
    return ReflectionModel(json.loads(Path(path or MODEL_PATH).read_text(encoding="utf-8")))
