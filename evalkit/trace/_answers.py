"""Candidate answers stated inside a trace: a table of named patterns, found in text order."""

from __future__ import annotations

import re
from dataclasses import dataclass

from evalkit.latex import find_boxed

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
# "So answer: 9." (no space before the colon; `answer_is` wants one). Not in the reading the reflection model was
# fitted with (steps="all").
_ANSWER_COLON = re.compile(r"answer:\s*(?:\*\*)?" + _VALUE + _VALUE_END, re.IGNORECASE)
# A concluding step: "So, 188 - 98 = 90.", "Therefore, the number of ways is 588." The pattern starts with a
# literal "=" or a short verb (fast to scan for); the sentence's opening words are checked after. No two runs of white
# space touch: four that did made `x = 5` and 500 spaces before a word take 34 s.
_LOOK_END = r"(?=(?:\s*\$)?(?:\s*\))?(?:\s*(?:\\\]|\\\)))?\s*(?:(?:[.!]\s*)?$|\.\s{END}))"
_EQ_END = re.compile(r"=\s*" + _VALUE + _LOOK_END.format(END=""), re.MULTILINE)  # `=` only, any sentence end
_STEP_END = re.compile(r"(?P<op>=|\b(?:is|are|equals|gives|get))\s*" + _VALUE + _LOOK_END.format(END=r"|,\s"),
                       re.MULTILINE)
_CONCLUDES = re.compile(r"[\s*]*(?:so|therefore|thus|hence|total|in total)\b", re.IGNORECASE)
_NAMES_ANSWER = re.compile(r"[\s*]*(?:the answer|final answer|answer)", re.IGNORECASE)
_SENTENCE_START = re.compile(r".*(?:\n|[.!?]\s)", re.DOTALL)


def _conclusions(window: str, pattern: re.Pattern, back: int, answer_too: bool):
    for m in pattern.finditer(window):
        lo = max(0, m.start() - back)
        head = _SENTENCE_START.match(window, lo, m.start())
        begin = head.end() if head else lo
        if (head or lo == 0) and (_CONCLUDES.match(window, begin, m.start())
                                  or (answer_too and _NAMES_ANSWER.match(window, begin, m.start()))):
            yield m


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


def find_candidates(text: str, start: int = 0, end: int | None = None, merge: bool = True,
                    steps: str = "answers") -> list[Candidate]:
    """Candidate answers in `text[start:end]`, in order of where they end. merge: a restatement of
    the previous candidate (same normalized text) is dropped, so the list shows changes of mind.

    Stated answers (a box, "the answer is", "答案是") always count. A concluding step ("So, 756 - 168 = 588.",
    "Therefore, the number of bits is 19.") counts where its value is one the window states as an answer somewhere,
    before or after (`steps="answers"`): there it is where the model reached or restated that answer; any other is
    almost always a step's result ("So, c = -755/288."), not a change of mind (bench/trace/results/candidates.md:
    on R1-family traces labelled by hand, 18-29% of the concluding equations read before were answers). `steps="all"`
    is the earlier reading, every "So … = N", which the reflection model's features were fitted on.
    """
    end = len(text) if end is None else end
    window = text[start:end]
    found: list[Candidate] = []
    for a, b, content in find_boxed(window):
        if content.strip():
            found.append(Candidate(content.strip(), "boxed", start + a, start + b))
    for name, pattern in ANSWER_PATTERNS + ((("answer_is", _ANSWER_COLON),) if steps != "all" else ()):
        for m in pattern.finditer(window):
            found.append(Candidate(m.group("v").strip(), name, start + m.start("v"), start + m.end("v")))
    if steps == "all":
        for m in _conclusions(window, _EQ_END, 160, False):
            found.append(Candidate(m.group("v").strip(), "conclusion_eq", start + m.start("v"), start + m.end("v")))
    elif found:
        stated = {normalize(c.answer) for c in found}
        for m in _conclusions(window, _STEP_END, 200, True):
            value = m.group("v").strip()
            if normalize(value) in stated:
                rule = "conclusion_eq" if m.group("op") == "=" else "conclusion_is"
                found.append(Candidate(value, rule, start + m.start("v"), start + m.end("v")))
    found.sort(key=lambda c: (c.end, c.start))
    out: list[Candidate] = []
    for c in found:
        if out and (c.start < out[-1].end or (merge and normalize(out[-1].answer) == normalize(c.answer))):
            continue
        out.append(c)
    return out
