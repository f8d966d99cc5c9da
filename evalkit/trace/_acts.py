"""Acts of reflection (sentence-precise markers) and the episodes built from them (docs/trace.md "Trace
markers"; the kinds are traces/REFLECTION_RUBRIC.md's).

Two detectors find the acts; both read the same sentences and rule hits:

- `model` (the default): the sentence classifier of _model.py; a sentence is an act when its
  probability of being reflection (1 - P(other)) passes the model's threshold, of the kind it finds
  likeliest. It defers to the rules where it cannot read: on a sentence mostly in Chinese script
  (it was fitted on English traces) and on a sentence a user's own row fires on (it never saw that row).
- `rules`: the rule table read literally: a `marker` row makes an act of its kind, a `settle` row a
  verdict, a `close` row a verdict right after a check or doubt, an `aha` row alone a doubt.

`aha` is a flag, not a kind: an act is flagged when an `aha` row fires on its sentence ("Oh, I see,
I made a mistake" is a doubt flagged aha; "Aha, that confirms it" a verdict flagged aha). A
realisation that judges no earlier work is no act (the rubric calls it other).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from evalkit.trace._rules import KINDS

# How many sentences after its opening act an episode may still take acts in: a check runs over its
# recomputation to its verdict, a doubt until something settles it.
EPISODE_SENTENCES = {"check": 12, "doubt": 8}
# After its verdict, an episode takes further verdicts at most this many sentences apart: a re-check
# of several items ("Tens place: ... Correct. Hundreds place: ... Correct.") is one episode.
CHAIN = 4
# The opening words an act without a rule hit shows as its `text`.
OPENING_WORDS = 6


@dataclass(frozen=True)
class Act:
    """One act of reflection: a sentence that judges earlier work.

    kind: doubt, check or verdict (KINDS); rule: the row of the rule table that fired on the sentence
    (for the `model` detector, `model` when no row fired); start, end: character offsets of the
    sentence in the completion; text: the words that fired (else the sentence's opening words);
    confidence: the model's probability that the sentence is reflection (1.0 for the `rules`
    detector); aha: an `aha` row fired on the sentence too.
    """

    kind: str
    rule: str
    start: int
    end: int
    text: str
    confidence: float = 1.0
    aha: bool = False

    def to_dict(self) -> dict:
        return {"kind": self.kind, "rule": self.rule, "start": self.start, "end": self.end, "text": self.text,
                "confidence": self.confidence, "aha": self.aha}


# The name docs/trace.md's contract uses for an act in `markers`.
Marker = Act


@dataclass(frozen=True)
class Episode:
    """A span of reflection built from acts: a check from its announcement over the recomputation to
    its verdict, a doubt to what settles it.

    kind: `check` or `doubt`, the act that opened it (a verdict without an announced check opens a
    `check`); start, end: character offsets, from the opening act to the last verdict (or to the last
    act, when nothing settled it); acts: the indices of its acts in `markers`; settled: it reached a verdict.
    """

    kind: str
    start: int
    end: int
    acts: tuple[int, ...]
    settled: bool

    def to_dict(self) -> dict:
        return {"kind": self.kind, "start": self.start, "end": self.end, "acts": list(self.acts),
                "settled": self.settled}


def _opening(text: str, a: int, b: int) -> str:
    return " ".join(text[a:b].split()[:OPENING_WORDS])


def rule_acts(text: str, sents: list, hits: list[dict]) -> tuple[list[Act], list[int], int]:
    """The `rules` detector: (acts, the sentence index of each, new lines of thought).

    sents: the sentences (`_markers.sentences`); hits: per sentence, {role: (rule, start, end)}."""
    acts: list[Act] = []
    at: list[int] = []
    thoughts = 0
    for i, h in enumerate(hits):
        a, b, _ = sents[i]
        marker, aha = h.get("marker"), h.get("aha")
        if marker is not None and marker[0].kind == "switch":
            thoughts += 1
            marker = None
        elif marker is None and "thought" in h:
            thoughts += 1
        found = None
        if marker is not None:
            found = (marker[0].kind, marker)
        elif "query" not in h and "settle" in h:
            found = ("verdict", h["settle"])
        elif "query" not in h and "close" in h and at and i - at[-1] <= CHAIN and acts[-1].kind in KINDS:
            found = ("verdict", h["close"])
        elif aha is not None:
            found = ("doubt", aha)
        if found is None:
            continue
        kind, (rule, ms, me) = found
        acts.append(Act(kind, rule.name, a, b, text[ms:me].strip(), 1.0, aha is not None))
        at.append(i)
    return acts, at, thoughts


def _deferred(text: str, sents: list, hits: list[dict], known: frozenset) -> set[int]:
    """The sentences the model leaves to the rules: mostly CJK script, or a row not in `known` fired on them."""
    out = set()
    for i, h in enumerate(hits):
        if any(hit[0] not in known for hit in h.values()):
            out.add(i)
    if _CJK.search(text) is not None:
        for i, (a, b, _) in enumerate(sents):
            if len(_CJK.findall(text, a, b)) > len(_LATIN.findall(text, a, b)):
                out.add(i)
    return out


_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff]")
_LATIN = re.compile(r"[A-Za-z]")


def model_acts(text: str, sents: list, hits: list[dict], probs: np.ndarray, threshold: float,
               labels: tuple[str, ...], by_rules: tuple[list[Act], list[int]], known: frozenset
               ) -> tuple[list[Act], list[int]]:
    """The `model` detector: (acts, the sentence index of each).

    probs: per sentence, the model's probability of each of `labels` (`other` first); a sentence is an
    act when 1 - P(other) passes `threshold`, of the likeliest other label.
    by_rules: the `rules` detector's (acts, sentence indices), taken on the sentences the model defers
    (mostly CJK script, or a row not in `known` fired on them: `known` holds the rows the model weighs,
    the built-in table and any it was fitted with)."""
    deferred = _deferred(text, sents, hits, known)
    reflective = 1.0 - probs[:, 0] if len(probs) else probs
    found: dict[int, Act] = {i: act for act, i in zip(*by_rules) if i in deferred}
    for i in np.flatnonzero(reflective > threshold):
        i = int(i)
        if i in deferred:
            continue
        a, b, _ = sents[i]
        kind = labels[1 + int(np.argmax(probs[i, 1:]))]
        h = hits[i]
        hit = h.get("marker") or h.get("settle") or h.get("close") or h.get("aha")
        if hit is not None and hit[0].kind != "switch":
            rule, words = hit[0].name, text[hit[1]:hit[2]].strip()
        else:
            rule, words = "model", _opening(text, a, b)
        found[i] = Act(kind, rule, a, b, words, round(float(reflective[i]), 3), "aha" in h)
    at = sorted(found)
    return [found[i] for i in at], at


def episodes(acts: list[Act], at: list[int]) -> list[Episode]:
    """Episodes built from `acts` (in order; `at`: the sentence index of each).

    A check or doubt opens an episode; later acts join it within EPISODE_SENTENCES of its opening,
    until a verdict settles it; verdicts CHAIN sentences apart or closer still join after that. Any
    other act closes it and, when a check or doubt, opens the next. A verdict outside any episode opens
    a settled `check` of its own (a check that was not announced)."""
    out: list[Episode] = []
    cur: dict | None = None

    def close() -> None:
        if cur is not None:
            end = acts[cur["acts"][-1]].end
            out.append(Episode(cur["kind"], acts[cur["acts"][0]].start, end, tuple(cur["acts"]), cur["settled"]))

    for k, act in enumerate(acts):
        i = at[k]
        if cur is not None:
            if cur["settled"]:
                joins = act.kind == "verdict" and i - cur["last"] <= CHAIN
            else:
                joins = i - cur["open"] <= EPISODE_SENTENCES[cur["kind"]]
            if joins:
                cur["acts"].append(k)
                cur["last"] = i
                cur["settled"] = cur["settled"] or act.kind == "verdict"
                continue
            close()
            cur = None
        kind = act.kind if act.kind in EPISODE_SENTENCES else "check"
        cur = {"kind": kind, "open": i, "last": i, "acts": [k], "settled": act.kind == "verdict"}
    close()
    return out
