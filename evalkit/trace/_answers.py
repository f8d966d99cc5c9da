"""Candidate answers stated inside a trace: a table of named patterns, found in text order."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Literal

from evalkit.latex import find_boxed, spelling_key

# A short answer value: a number (with thousands separators, decimals, a slash fraction), a TeX
# fraction or root, or a short $...$ expression.
_VALUE = (
    r"(?P<v>-?\\d?frac\{[^{}]{1,20}\}\{[^{}]{1,20}\}|-?\d(?:[\d,]*\d)?(?:\.\d+)?(?:\s*/\s*\d+)?(?:\\%|%)?"
    r"|\$[^$\n]{1,40}\$|\\\([^\n]{1,40}?\\\)|-?\\sqrt\{[^{}]{1,20}\})"
)

# The value stated is the whole value: not the `3` of "3\sqrt{2}", "3^{2}", "3x", "3 + 4 = 7", "3 - \sqrt{2}",
# "2 * \pi", "2**10" or "3 \cdot 4"; "**3**", "12 - let me check", "7 -> done" and a numbered list on the next
# line end their value.
_VALUE_END = (r"(?![\\^_{(\[A-Za-z\d]|[.,]\d)"
              r"(?!\s*(?:[\\^_{+×·=<>/]|\*(?!\*)|\*\*(?=\d|\\|\()|[-−–]\s*(?:\d|\\|\(|[A-Za-z](?![A-Za-z])))|[ \t]*\d)")
# name -> pattern; the value is group `v`.
ANSWER_PATTERNS: tuple[tuple[str, re.Pattern], ...] = (
    ("answer_is", re.compile(r"answer\s+(?:is|should be|would be|must be|will be|=|:)\s*(?::\s*)?(?:\*\*)?" + _VALUE
                             + _VALUE_END, re.IGNORECASE)),
    ("final_zh", re.compile(r"(?:答案|结果)(?:是|为|应该是)\s*" + _VALUE + _VALUE_END)),
)
# Rows added after the reflection model was fitted: read by steps="answers", not by the model's steps="all".
LATER_PATTERNS: tuple[tuple[str, re.Pattern], ...] = (
    ("answer_is", re.compile(r"answer:\s*(?:\*\*)?" + _VALUE + _VALUE_END, re.IGNORECASE)),  # "So answer: 9."
)
# A concluding step: "So, 188 - 98 = 90.", "Therefore, the number of ways is 588." Each pattern starts with a
# literal "=" or a short verb (fast to scan for); the sentence's opening words are checked after. No two runs of white
# space touch: four that did made `x = 5` and 500 spaces before a word take 34 s.
_LOOK_END = r"(?=(?:\s*\$)?(?:\s*\))?(?:\s*(?:\\\]|\\\)))?\s*(?:(?:[.!]\s*)?$|\.\s{END}))"
_EQ_END = re.compile(r"=\s*" + _VALUE + _LOOK_END.format(END=""), re.MULTILINE)  # the model's reading (steps="all")
# steps="answers": "= N" and "is N" apart, so that "is \(6 \times 20 = 120\)" is also read as "= 120"; the verb
# without a leading \b, which made the scan twice as slow (a letter before it is checked after: not "this 5")
STEP_PATTERNS: tuple[tuple[str, re.Pattern], ...] = (
    ("conclusion_eq", re.compile(r"=\s*" + _VALUE + _LOOK_END.format(END=r"|,\s"), re.MULTILINE)),
    ("conclusion_is", re.compile(r"(?:is|are|equals|gives|get)\b\s*" + _VALUE + _LOOK_END.format(END=r"|,\s"),
                                 re.MULTILINE)),
)
_CONCLUDES = re.compile(r"[\s*]*(?:so|therefore|thus|hence|total|in total)\b", re.IGNORECASE)
_NAMES_ANSWER = re.compile(r"[\s*]*(?:the answer|final answer|answer)", re.IGNORECASE)
_SENTENCE_START = re.compile(r".*(?:\n|[.!?]\s)", re.DOTALL)


def _conclusions(window: str, pattern: re.Pattern, back: int, answer_too: bool):
    for m in pattern.finditer(window):
        if _concludes(window, m, back, answer_too):
            yield m


def _concludes(window: str, m: re.Match, back: int, answer_too: bool) -> bool:
    """Whether the match ends a concluding sentence: one that opens with "So", "Therefore", ... (or, with
    `answer_too`, "The answer") at most `back` characters before it."""
    if window[m.start()] != "=" and m.start() and window[m.start() - 1].isalpha():  # a verb inside a word: "this 5"
        return False
    lo = max(0, m.start() - back)
    head = _SENTENCE_START.match(window, lo, m.start())
    begin = head.end() if head else lo
    return bool((head or lo == 0) and (_CONCLUDES.match(window, begin, m.start())
                                       or (answer_too and _NAMES_ANSWER.match(window, begin, m.start()))))


@dataclass(frozen=True)
class Candidate:
    """A candidate answer: its text, the pattern that found it, and where it ends in the completion."""

    answer: str
    rule: str
    start: int
    end: int


def normalize(answer: str) -> str:
    """A light canonical form, only to merge restatements of one answer (the verifier judges)."""
    a, before = answer.strip(), None
    for _ in range(8):  # `$\\boxed{15}$.`, `\\(\\boxed{15}\\)` restate 15 (a few wrappings: each unwrap reads it whole)
        if a == before:
            break
        before = a
        a = a.rstrip(".").strip().strip("$").strip()
        if a.startswith("\\(") and a.endswith("\\)"):
            a = a[2:-2].strip()
        boxes = find_boxed(a)  # one box around the whole answer, not `\\boxed{1}+\\boxed{2}`
        if boxes and boxes[0][0] == 0 and boxes[0][1] == len(a):
            a = boxes[0][2].strip()
    a = a.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac").replace(" ", "").rstrip(".")
    if re.fullmatch(r"-?\d{1,3}(,\d{3})+(\.\d+)?", a):
        a = a.replace(",", "")
    return a


# One value spelled another way, beyond latex.spelling_key: `1/2` and `\frac{1}{2}`, `6.07\%` and `6.07`,
# `90^\circ` and `90`. Only to tell whether a concluding step states a value the trace states as its answer (the
# verifier judges each candidate).
_AS_VALUE = ((re.compile(r"\\frac\{([^{}]+)\}\{([^{}]+)\}"), r"\1/\2"), (re.compile(r"\\?%|\^\{?\\circ\}?"), ""))


def value_key(answer: str) -> str:
    # a trace states few values, many times; a long box (a loop, a proof) is read once, not kept
    return _short_value_key(answer) if len(answer) <= 200 else _value_key(answer)


@functools.lru_cache(maxsize=4096)
def _short_value_key(answer: str) -> str:
    return _value_key(answer)


def _value_key(answer: str) -> str:
    key = spelling_key(normalize(answer))
    for pattern, repl in _AS_VALUE:
        key = pattern.sub(repl, key)
    return key


Steps = Literal["answers", "all"]


def find_candidates(text: str, start: int = 0, end: int | None = None, merge: bool = True,
                    steps: Steps = "answers") -> list[Candidate]:
    """Candidate answers in `text[start:end]`, in order of where they end. merge: a restatement of
    the previous candidate (the same value: `1/2` restates `\\frac{1}{2}`) is dropped, so the list shows changes of mind.

    Stated answers (a box, "the answer is", "答案是") always count. A concluding step ("So, 756 - 168 = 588.",
    "Therefore, the number of bits is 19.") counts where its value is one the window states as an answer
    (`steps="answers"`): there it is where the model reached or restated that answer; any other is almost always
    a step's result ("So, c = -755/288."), not a change of mind (bench/trace/results/candidates.md: on R1-family
    traces labelled by LLM agents under tests/data/traces/CANDIDATE_RUBRIC.md, 18-29% of the concluding
    equations read before were answers). The answers are those of the window, before or after the step: pass the
    text up to a point as `end` to read only what was stated by then. `steps="all"` is the earlier reading, every
    "So … = N", which the reflection model's features were fitted on.
    """
    if steps not in ("answers", "all"):
        raise ValueError(f"steps: expected 'answers' or 'all', got {steps!r}")
    end = len(text) if end is None else end
    window = text[start:end]
    found = _stated(window, start, ANSWER_PATTERNS + (LATER_PATTERNS if steps == "answers" else ()))
    found += _eq_steps(window, start) if steps == "all" else _answer_steps(window, start, found)
    return _ordered(found, merge)


def readings(text: str) -> tuple[list[Candidate], int | None]:
    """(find_candidates(text), where the first candidate of `steps="all"` ends, None without one), reading the
    stated answers once: the analyzer needs both, the trajectory and the reflection model's feature."""
    older = _stated(text, 0, ANSWER_PATTERNS)
    later = _stated(text, 0, LATER_PATTERNS, boxes=False)
    first = _ordered(older + _eq_steps(text, 0), merge=False)[:1]
    stated = older + later
    return _ordered(stated + _answer_steps(text, 0, stated), merge=True), first[0].end if first else None


def answer_section(text: str, start: int) -> list[Candidate]:
    """The candidates of a completion's answer, the text from `start` (after its thinking), in order, none merged:
    its stated answers and every concluding "So … = N" or "So … is N": after the thinking, a concluding step is the
    answer."""
    window = text[start:]
    steps = [Candidate(m.group("v").strip(), name, start + m.start("v"), start + m.end("v"))
             for name, pattern in STEP_PATTERNS for m in _conclusions(window, pattern, 200, True)]
    # STEP_PATTERNS' "= N" reads every step `_eq_steps` does (a wider sentence end, a longer look back)
    return _ordered(_stated(window, start, ANSWER_PATTERNS + LATER_PATTERNS) + steps, merge=False)


def _stated(window: str, start: int, patterns: tuple[tuple[str, re.Pattern], ...],
            boxes: bool = True) -> list[Candidate]:
    """The answers `patterns` find in `window`, and its boxes."""
    found: list[Candidate] = []
    if boxes:
        for a, b, content in find_boxed(window):
            if content.strip():
                found.append(Candidate(content.strip(), "boxed", start + a, start + b))
    for name, pattern in patterns:
        for m in pattern.finditer(window):
            found.append(Candidate(m.group("v").strip(), name, start + m.start("v"), start + m.end("v")))
    return found


def _eq_steps(window: str, start: int) -> list[Candidate]:
    return [Candidate(m.group("v").strip(), "conclusion_eq", start + m.start("v"), start + m.end("v"))
            for m in _conclusions(window, _EQ_END, 160, False)]


def _answer_steps(window: str, start: int, stated: list[Candidate]) -> list[Candidate]:
    """The concluding steps whose value is one of the `stated` answers (`steps="answers"`)."""
    if not stated:
        return []
    keys = {value_key(c.answer) for c in stated}
    out = []
    for name, pattern in STEP_PATTERNS:
        for m in pattern.finditer(window):
            value = m.group("v").strip()
            if value_key(value) in keys and _concludes(window, m, 200, True):  # the cheap test first
                out.append(Candidate(value, name, start + m.start("v"), start + m.end("v")))
    return out


def _ordered(found: list[Candidate], merge: bool) -> list[Candidate]:
    """In order of where they end; one overlapping an earlier one is dropped, and with `merge` a restatement."""
    found = sorted(found, key=lambda c: (c.end, c.start))
    out: list[Candidate] = []
    for c in found:
        if out and (c.start < out[-1].end or (merge and value_key(out[-1].answer) == value_key(c.answer))):
            continue
        out.append(c)
    return out
