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
import hashlib
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain, repeat
from pathlib import Path

import numpy as np

from evalkit.errors import InputError
from evalkit.trace._rules import BUILTIN, RULES, Rule, rule_from_dict

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


@dataclass(frozen=True)
class SentenceFeatures:
    """What the model reads of each sentence of one trace (as `_markers.sentences` gives them).

    words: its words (lower case, digits as 0): each word and each pair of neighbouring words is a
    feature (`w:` and `b:` in `feature_names`; the model scores them without building the names);
    ctx: the names of its features a neighbour sees too (its opening words, rule hits, `?`, `:`);
    own: the names of its other features."""

    words: list[list[str]]
    own: list[list[str]]
    ctx: list[list[str]]


_CRLF = re.compile(r"\r(?=\n)")


def sentence_features(text: str, sents: list, hits: list[dict], first_candidate: int | None,
                      think_end: int) -> SentenceFeatures:
    """The features of each sentence of `sents` (`feature_names` spells them out as the fit reads them).

    hits: per sentence, {role: (rule, start, end)} for each role a row fired for (`_markers.rule_hits`).
    first_candidate: where the first candidate answer ends (None: no candidate);
    think_end: where the think text ends.
    """
    low = text.lower()
    if len(low) != len(text):  # a rare case mapping that changes length: offsets must stay valid
        low = "".join(ch if len(ch.lower()) != 1 else ch.lower() for ch in text)
    # A number's words are its shape (0, 00, 0.00). bytes.translate is a plain C loop, and no UTF-8
    # byte of a non-ASCII character is an ASCII digit, so offsets stay where they were (a lone surrogate,
    # half an emoji a caller passed in, goes through as it came).
    low = low.encode("utf-8", "surrogatepass").translate(_DIGITS_TO_ZERO).decode("utf-8", "surrogatepass")
    all_words: list[list[str]] = []
    own: list[list[str]] = []
    ctx: list[list[str]] = []
    seen: dict[str, int] = {}
    # where each CRLF's \r is: positions and lengths count as though the text had LF line ends
    crs = [m.start() for m in _CRLF.finditer(text, 0, think_end)] if "\r" in text else []
    span = max(think_end - len(crs), 1)
    # (plain statements, no comprehensions: this loop runs for every sentence of every trace)
    for i, (a, b, blank) in enumerate(sents):
        words = _WORD.findall(low, a, b)
        all_words.append(words)
        c: list[str] = []
        if words:
            opener = "o:" + words[0]
            c.append(opener)
            for w in words[1:_OPENER_WORDS]:
                opener = opener + " " + w
                c.append(opener)
            f = ["e:" + " ".join(words[-2:])]
        else:
            f = []
        for role, (rule, _, _) in hits[i].items():
            f.append("r:" + role)
            c.append("r:" + role + ":" + rule.kind)
        # numbers met more than one sentence before: a recomputation or a verdict restates them
        nums = _NUMBER.findall(text, a, b)
        if nums:
            old = 0
            for x in nums:
                if seen.setdefault(x, i) < i - 1:
                    old += 1
            share = _bucket(_OLD_EDGES, old / len(nums))
            f.append(f"num:{_bucket(_COUNT_EDGES, len(nums))}:{share}")
            f.append(f"{words[0] if words else ''}|old:{share}")
        else:
            f.append("num:none")
        if b > a and text[b - 1] in "?？":
            c.append("q")
        if b > a and text[b - 1] == ":":
            c.append("colon")
        before = bisect.bisect_left(crs, a) if crs else 0
        inside = bisect.bisect_left(crs, b) - before if crs else 0
        f.append(_LEN_NAMES[_bucket(_LEN_EDGES, b - a - inside)])
        if blank:
            f.append("blank")
        f.append(_POS_NAMES[_bucket(_POS_EDGES, (a - before) / span)])
        if first_candidate is not None and a > first_candidate:
            f.append("after_candidate")
        own.append(f)
        ctx.append(c)
    return SentenceFeatures(all_words, own, ctx)


def feature_names(feats: SentenceFeatures) -> list[list[str]]:
    """Every feature name of each sentence, as the model is fitted on them: what a neighbour sees of
    it and its own, its words (`w:`) and pairs of neighbouring words (`b:`), each once, and its
    neighbours' as `p:` (the sentence before) and `n:` (the one after)."""
    own, ctx = feats.own, feats.ctx
    n = len(own)
    out = []
    for i, words in enumerate(feats.words):
        f = ctx[i] + own[i]
        f.extend(set("w:" + w for w in words))
        f.extend(set(f"b:{x} {y}" for x, y in zip(words, words[1:])))
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
        if not isinstance(data, dict):
            raise ValueError(f"reflection model: expected a JSON object with labels, features, weights, got "
                             f"{type(data).__name__}")
        # the sha256 of the file it was read from (`load_model`); None for weights made in memory
        self.sha256: str | None = None
        if tuple(data.get("labels", ())) != LABELS:
            raise ValueError("reflection model: its labels do not match this evalkit's; retrain it with "
                             "bench/trace/train_reflection.py (the shipped weights) or evalkit fit-detector (yours)")
        self.data = data
        self.index = {name: k for k, name in enumerate(data["features"])}
        self.weights = np.asarray(data["weights"], dtype=np.float64).reshape(len(self.index), len(LABELS))
        self.bias = np.asarray(data["bias"], dtype=np.float64)
        if self.bias.shape != (len(LABELS),):  # numpy broadcast it against every sentence, a traceback
            raise ValueError(f"field 'bias': expected {len(LABELS)} numbers, one per label, got shape {self.bias.shape}")
        self.threshold = float(data["threshold"])
        if not 0.0 <= self.threshold <= 1.0:  # 5: no sentence is ever an act; -1: every sentence is one
            raise ValueError(f"field 'threshold': expected a probability from 0 to 1, got {self.threshold!r}")
        # a user's rule rows the model was fitted with: analysis reads them as features, not as acts. Checked as a
        # YAML row is: a file someone edited or shared may hold a row that hangs the analysis ((a+)+$)
        self.rules = tuple(rule_from_dict(row, f"field 'rules', row {k}")
                           for k, row in enumerate(data.get("rules") or (), 1))
        # False: it was fitted with its rows alone (`load_rules(..., extend=False)`), not before the built-in table
        self.builtin_rules = data.get("builtin_rules", True)
        if not isinstance(self.builtin_rules, bool):
            raise ValueError("field 'builtin_rules' must be true or false")
        self.known_rows = BUILTIN.union(self.rules)  # rows it weighs; a sentence others fire on is left to them
        L = len(LABELS)
        # Names are looked up once each: a name's row holds its weights as the sentence's own feature,
        # as the sentence before's (`p:`) and as the one after's (`n:`); the last row, zeros, is a name
        # the model never saw.
        names = sorted({name[2:] if name.startswith(("p:", "n:")) else name for name in self.index
                        if not name.startswith(("w:", "b:"))})
        self.names = {name: k for k, name in enumerate(names)}
        self.rows = np.zeros((len(names) + 1, 3 * L))
        for k, name in enumerate(names):
            for j, prefix in enumerate(("", "p:", "n:")):
                at = self.index.get(prefix + name)
                if at is not None:
                    self.rows[k, j * L:(j + 1) * L] = self.weights[at]
        # Words and word pairs are looked up as numbers: a word's id in `vocab`, a pair's key
        # id * len(vocab) + id, sorted in `pair_keys`.
        pairs = {name[2:]: k for name, k in self.index.items() if name.startswith("b:")}
        singles = {name[2:]: k for name, k in self.index.items() if name.startswith("w:")}
        vocab = sorted(set(singles).union(*(p.split(" ") for p in pairs)))
        self.vocab = {w: i for i, w in enumerate(vocab)}
        # per word id (and -1, a word the model never saw, last): its `w:` feature, -1 for none
        self.word_feature = np.array([singles.get(w, -1) for w in vocab] + [-1], dtype=np.int64)
        keys = np.array([self.vocab[x] * len(vocab) + self.vocab[y] for x, y in (p.split(" ") for p in pairs)],
                        dtype=np.int64)
        order = np.argsort(keys)
        self.pair_keys = keys[order]
        self.pair_feature = np.fromiter(pairs.values(), dtype=np.int64, count=len(pairs))[order]

    def _name_rows(self, lists: list[list[str]]) -> np.ndarray:
        """Per list of names, the sums of their rows (own, `p:` and `n:` weights side by side)."""
        ids = np.array(list(map(self.names.get, chain.from_iterable(lists), repeat(len(self.names)))), dtype=np.intp)
        return _sums(np.repeat(np.arange(len(lists)), list(map(len, lists))), self.rows[ids], len(lists))

    def _word_scores(self, words: list[list[str]]) -> np.ndarray:
        """Per sentence, the sum of the weights of its words and pairs of neighbouring words, each
        counted once (as `feature_names` lists them)."""
        n = len(words)
        flat = list(chain.from_iterable(words))
        ids = np.array(list(map(self.vocab.get, flat, repeat(-1, len(flat)))), dtype=np.int64)
        at = np.repeat(np.arange(n, dtype=np.int64), list(map(len, words)))
        feats = self.word_feature[ids]
        known = feats >= 0
        sent, feat = at[known], feats[known]
        if len(self.pair_keys) and len(ids) > 1:
            left, right = ids[:-1], ids[1:]
            ok = (left >= 0) & (right >= 0) & (at[:-1] == at[1:])
            # sorted (pair, sentence) codes: the search below runs in order (three times faster)
            code = np.sort((left[ok] * len(self.vocab) + right[ok]) * n + at[:-1][ok])
            keys = code // n
            where = np.minimum(np.searchsorted(self.pair_keys, keys), len(self.pair_keys) - 1)
            found = self.pair_keys[where] == keys
            sent = np.concatenate([sent, code[found] % n])
            feat = np.concatenate([feat, self.pair_feature[where[found]]])
        # a feature counts once per sentence
        code = np.sort(sent * len(self.index) + feat)
        if len(code) > 1:
            code = code[np.concatenate(([True], code[1:] != code[:-1]))]
        return _sums(code // len(self.index), self.weights[code % len(self.index)], n)

    def probabilities(self, feats: SentenceFeatures) -> np.ndarray:
        """Each sentence's probabilities of LABELS (rows sum to 1), from its features as
        `sentence_features` gives them; names the model never saw count for nothing."""
        n = len(feats.own)
        if not n:
            return np.zeros((0, len(LABELS)))
        L = len(LABELS)
        seen = self._name_rows(feats.ctx)  # each sentence's own weights, and what its neighbours read of it
        z = self._name_rows(feats.own)[:, :L] + seen[:, :L] + self._word_scores(feats.words) + self.bias
        z[1:] += seen[:-1, L:2 * L]
        z[:-1] += seen[1:, 2 * L:]
        none = self.rows[self.names.get("none", len(self.names))]
        z[0] += none[L:2 * L]
        z[-1] += none[2 * L:]
        return softmax(z)


def _sums(rows: np.ndarray, picked: np.ndarray, n: int) -> np.ndarray:
    """Per row index 0..n-1, the sum of the `picked` weight rows given it."""
    z = np.empty((n, picked.shape[1]))
    for j in range(picked.shape[1]):
        z[:, j] = np.bincount(rows, weights=picked[:, j], minlength=n)
    return z


def load_model(path: str | os.PathLike | None = None) -> ReflectionModel:
    """The shipped model, or the model file at `path` as it is now (InputError naming the file when it
    is not one). The parsed weights are kept per content (sha256, which the model keeps as `sha256`),
    and the file is read again whenever its inode, size or times differ from the last read, so a file
    rewritten by a new fit is never read stale while an unchanged one costs a stat per call."""
    if path is None:
        return _shipped()
    where = f"{path}: not a reflection model evalkit can read"
    try:
        st = os.stat(path)
        key = (os.path.abspath(path), st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        model = _PARSED.get(_READ.get(key, ""))
        if model is not None:
            return model
        raw = Path(path).read_bytes()
    except OSError as e:
        raise InputError(f"{where} ({type(e).__name__}: {e})") from None
    digest = hashlib.sha256(raw).hexdigest()
    model = _PARSED.get(digest)
    if model is None:
        try:
            model = ReflectionModel(json.loads(raw))
        except (ValueError, KeyError, TypeError, AttributeError) as e:  # not JSON, not a model's fields
            raise InputError(f"{where} ({type(e).__name__}: {e})") from None
        except InputError as e:  # a rule row it carries is malformed
            raise InputError(f"{where} ({e})") from None
        model.sha256 = digest
        _keep(_PARSED, digest, model)
    _keep(_READ, key, digest)
    return model


def _keep(cache: dict, key, value) -> None:
    if len(cache) >= 8:  # a few files at once (a run's, a base, a new fit) at most: drop the oldest
        del cache[next(iter(cache))]
    cache[key] = value


def model_of(model: ReflectionModel | str | os.PathLike | None) -> ReflectionModel:
    """`model` itself, or the model file at it as `load_model` reads it (None or `shipped`: the shipped
    weights)."""
    if isinstance(model, ReflectionModel):
        return model
    return load_model(None if model is None or str(model) == "shipped" else str(model))


_PARSED: dict[str, ReflectionModel] = {}  # sha256 of a model file -> its parsed weights, oldest first
_READ: dict[tuple, str] = {}  # (path, inode, size, mtime, ctime) of a file read -> the sha256 of what it held


@lru_cache(maxsize=1)
def _shipped() -> ReflectionModel:
    raw = MODEL_PATH.read_bytes()
    model = ReflectionModel(json.loads(raw))
    model.sha256 = hashlib.sha256(raw).hexdigest()
    return model


def table_of(model: ReflectionModel | None, rules: Sequence[Rule] | None = None) -> tuple[Rule, ...] | None:
    """The rule table a model reads traces with: `rules` when given, else the table it was fitted with:
    the rows it carries, before the built-in table unless it was fitted without it (None: the built-in
    table alone)."""
    if rules is not None:
        return tuple(rules)
    if model is None or (not model.rules and model.builtin_rules):
        return None
    return model.rules + (RULES if model.builtin_rules else ())
