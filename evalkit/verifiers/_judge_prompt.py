"""What the judge is shown and how its reply is read: the shipped rubric, the delimiters, the reply forms.

The judge sees the problem, the gold answer and only the candidate's final answer (the text after
its thinking), cut to a bounded length and fenced by a tag the candidate cannot close: the tag holds
a digest of everything the prompt shows, so an answer would have to contain its own hash to guess it
(and any look-alike tag in the answer is defused besides). The reply must be one of a few fixed forms
(`REPLY_FORMS`), matched whole; anything else is unparsed, never guessed at.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any, Literal


from evalkit.errors import InputError
from evalkit.jsonl import without_lone_surrogates
from evalkit.thinking import split_think

RUBRIC_FILE = Path(__file__).with_name("judge_rubric.yaml")
MAX_ANSWER_CHARS = 2000  # the final answer the judge sees, at most (its end: where answers are stated)
MAX_PROBLEM_CHARS = 8000  # problems are trusted text, but a judge's context is not unbounded
CUT_MARK = "[... {n} characters cut ...]"

Says = Literal["correct", "incorrect"]


@dataclass(frozen=True)
class Rubric:
    """The judge's instructions.

    version: names this exact text; part of every cache key and every judged sample's record.
    system: the system message. user: the user message, with {tag}, {problem}, {gold}, {answer}.
    """

    version: str
    system: str
    user: str

    @cached_property
    def key(self) -> str:
        """What the cache keys replies by: the version, and for a rubric other than the shipped one of that
        version, a digest of its text too (a user who edits the text and keeps the version gets new replies,
        not the old text's). Worked out once per rubric, not once per question."""
        if self == load_rubric(None):
            return self.version
        digest = hashlib.sha256(json.dumps([self.system, self.user]).encode()).hexdigest()[:12]
        return f"{self.version}+{digest}"


@lru_cache(maxsize=8)
def load_rubric(path: str | None = None) -> Rubric:
    """The rubric in `path` (a YAML file with version, system, user), or the shipped one."""
    from evalkit.yamlfile import read_yaml  # the file and line of malformed YAML, a key given twice, an alias bomb

    where = Path(path) if path else RUBRIC_FILE
    data, _ = read_yaml(where, "the judge rubric")
    if not isinstance(data, dict):
        raise InputError(f"{where}: line 1: expected a mapping with version, system, user")
    for field in ("version", "system", "user"):
        if not isinstance(data.get(field), str) or not data[field].strip():
            raise InputError(f"{where}: field {field!r}: expected a non-empty string")
    for slot in ("{tag}", "{answer}", "{gold}", "{problem}"):
        if slot not in data["user"]:
            raise InputError(f"{where}: field 'user': expected the placeholder {slot}")
    return Rubric(str(data["version"]), data["system"].strip(), data["user"].rstrip() + "\n")


def final_answer(completion: str | None, think_open: bool = False, think_format: Any = None) -> str:
    """What follows the thinking (the whole text when there is none); empty when thinking never closed.

    think_format: the completion's think format (a row of evalkit.thinking or its name; None: r1).
    """
    if think_format is None:
        return split_think(completion or "", think_open).answer.strip()
    return split_think(completion or "", think_open, think_format).answer.strip()


def bounded(text: str, limit: int, keep: Literal["head", "tail"]) -> str:
    """`text` cut to at most about `limit` characters, keeping its head or tail, saying how much went."""
    if len(text) <= limit:
        return text
    mark = CUT_MARK.format(n=len(text) - limit)
    return text[:limit] + "\n" + mark if keep == "head" else mark + "\n" + text[-limit:]


# Characters of other scripts drawn like those of our fences' names (Unicode's confusables), which NFKC keeps apart
HOMOGLYPHS = {"a": "аАαΑ", "c": "сСϲϹ", "e": "еЕεΕ", "o": "оОοΟσ", "p": "рРρΡ", "r": "гᴦ", "s": "ѕЅ",
              "i": "іІιΙ", "l": "ӏІ", "n": "ոη", "b": "ЬВβΒ", "m": "мМΜ", "w": "ԝѡ", "f": "ϝ", "d": "ԁ",
              "-": "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u2043", "<": "\u2039\u2329\u3008\u27e8",
              "/": "\u2215\u2044\u29f8"}


@lru_cache(maxsize=1)
def _tag_like() -> re.Pattern:
    """What reads as the start of one of our fences, `<answer-`, `</problem-`, `<reference-`, to a judge that folds
    look-alikes: each character also as any other that NFKC makes it (the fullwidth `＜`, the small `﹤`, `ａ`, the
    mathematical `𝐚`, upper or lower case), with invisible characters (a zero-width space, a soft hyphen, a tag
    character, a variation selector) or white space between any two; and the Cyrillic and Greek letters, dashes and angle brackets that look the same
    (HOMOGLYPHS), which NFKC leaves apart. The classes are built once, from the Basic Multilingual Plane and the
    mathematical letters."""
    folds: dict[str, set[str]] = {}
    for code in (*range(0x10000), *range(0x1D400, 0x1D800)):
        char = chr(code)
        folded = unicodedata.normalize("NFKC", char).lower()
        if len(folded) == 1 and folded in "<-/abcdefilmnoprsw":
            folds.setdefault(folded, set()).add(char)
    for latin, others in HOMOGLYPHS.items():
        folds.setdefault(latin, set()).update(others)
    # format characters of every plane (the tag characters U+E0020-E007F among them) and Unicode's other default
    # ignorables a renderer shows as nothing: variation selectors, the grapheme joiner, Hangul fillers, Mongolian
    # and Khmer invisibles
    ignorable = [0x034F, 0x115F, 0x1160, 0x17B4, 0x17B5, *range(0x180B, 0x1810), 0x3164, *range(0xFE00, 0xFE10),
                 0xFFA0, *range(0xE0000, 0xE1000)]
    invisible = "".join(sorted({chr(c) for c in range(0x110000) if unicodedata.category(chr(c)) == "Cf"}
                               | {chr(c) for c in ignorable}))
    gap = f"[\\s{re.escape(invisible)}]*"

    def one(char: str) -> str:
        return "[" + "".join(re.escape(c) for c in sorted(folds.get(char, set()) | {char, char.upper()})) + "]"

    words = "|".join(gap.join(one(c) for c in word) for word in ("answer", "problem", "reference"))
    return re.compile(f"{one('<')}(?={gap}(?:{one('/')}{gap})?(?:{words}){gap}{one('-')})")


def _defuse(text: str) -> str:
    # Anything shaped like one of our fences loses its bracket, so even a lucky guess closes nothing; so does one a
    # judge would read as ours once it folds look-alike and invisible characters.
    return _tag_like().sub("‹", text)


def build_messages(rubric: Rubric, problem: str, gold: str, answer: str,
                   max_answer_chars: int = MAX_ANSWER_CHARS,
                   max_problem_chars: int = MAX_PROBLEM_CHARS) -> list[dict[str, str]]:
    """The chat messages asking the judge about one answer.

    problem, gold: the problem statement and the gold answer (trusted).
    answer: the candidate's final answer (untrusted); its tail is kept, at most max_answer_chars.
    A lone surrogate (half an emoji, in replayed text) is sent as U+FFFD: UTF-8 cannot carry it.
    """
    problem, gold, answer = (without_lone_surrogates(t) for t in (problem, gold, answer))
    shown = _defuse(bounded(answer, max_answer_chars, "tail"))
    problem = _defuse(bounded(problem, max_problem_chars, "head"))
    gold = _defuse(gold)
    digest = hashlib.sha256("\x00".join((rubric.version, problem, gold, shown)).encode()).hexdigest()[:16]
    values = {"tag": digest, "problem": problem, "gold": gold, "answer": shown}
    # one pass over the template only: text inserted for one slot is never read as another slot
    user = re.sub(r"\{(tag|problem|gold|answer)\}", lambda m: values[m.group(1)], rubric.user)
    return [{"role": "system", "content": rubric.system}, {"role": "user", "content": user}]


# ------------------------------------------------------------------------------------ reply forms


@dataclass(frozen=True)
class ReplyForm:
    """One accepted shape of a judge's whole reply.

    name: reported with every parsed reply. pattern: must match the whole reply (after the judge's
    own thinking and surrounding whitespace are removed); its first group is the label.
    labels: label (upper-cased) -> what it says.
    """

    name: str
    pattern: re.Pattern
    labels: dict[str, Says]


_CV_LETTERS: dict[str, Says] = {"A": "correct", "B": "incorrect", "C": "incorrect"}  # C: invalid answer
_CV_WORDS = {"CORRECT": "A", "INCORRECT": "B", "INVALID": "C", "INCOMPLETE": "C", "REPETITIVE": "C",
             "REFUSAL": "C"}

REPLY_FORMS: tuple[ReplyForm, ...] = (
    # evalkit's own rubric
    ReplyForm("evalkit", re.compile(r"VERDICT:\s*(CORRECT|INCORRECT)\.?", re.I),
              {"CORRECT": "correct", "INCORRECT": "incorrect"}),
    # CompassVerifier, plain prompt: one letter, A correct, B incorrect, C invalid
    ReplyForm("compassverifier", re.compile(r"\(?([ABC])\)?\.?"), _CV_LETTERS),
    # CompassVerifier's prompt also allows the words themselves
    ReplyForm("compassverifier-word", re.compile(r"(CORRECT|INCORRECT|INVALID)\.?"),
              {"CORRECT": "correct", "INCORRECT": "incorrect", "INVALID": "incorrect"}),
    # xVerify: `Correct` / `Incorrect`, bare or in the brackets its prompt shows
    ReplyForm("xverify", re.compile(r"\[(Correct|Incorrect)\]|(Correct|Incorrect)", re.I),
              {"CORRECT": "correct", "INCORRECT": "incorrect"}),
)

# CompassVerifier's chain-of-thought prompt: free analysis, then one closing line
# `Final Judgment: \boxed{A} - CORRECT` (the word optional, and when present it must agree).
_CV_COT = re.compile(r"Final Judgment:\s*\\boxed\{([ABC])\}(?:\s*-\s*([A-Z]+))?\s*\.?\s*\Z", re.I)


@dataclass(frozen=True)
class Parsed:
    """A parsed reply: what it says, and which form it took (both None when it did not parse)."""

    says: Says | None
    form: str | None


_OPTION_LETTER = re.compile(r"\(?[A-Z]\)?\.?")  # capital: a math gold `e`, `x`, `i` is no option


def parse_reply(reply: str | None, gold: str | None = None) -> Parsed:
    """Read a judge's reply strictly: the whole reply must be one of REPLY_FORMS (or CompassVerifier's
    chain-of-thought form, with exactly one final judgment). A judge that thinks in `<think>` tags has
    its thinking dropped first; one that never closes its thinking, or closes it twice, did not reply.

    gold: the reference answer the judge was shown. Where it is an option letter (a multiple-choice question),
    a bare letter is read as no verdict: `(A)` is as likely the judge answering the question as CompassVerifier's
    "A: correct"."""
    if reply is None:
        return Parsed(None, None)
    split = split_think(reply)
    if split.has_think and not split.closed:
        return Parsed(None, None)
    if reply.count("</think>") > 1:
        return Parsed(None, None)  # thinking closed twice: which of the verdicts is the reply cannot be told
    text = split.answer.strip()
    lettered = gold is not None and _OPTION_LETTER.fullmatch(gold.strip()) is not None
    for form in REPLY_FORMS:
        if lettered and form.name == "compassverifier":
            continue
        m = form.pattern.fullmatch(text)
        if m:
            label = next(g for g in m.groups() if g).upper()
            return Parsed(form.labels[label], form.name)
    if text.lower().count("final judgment") == 1:
        m = _CV_COT.search(text)
        if m:
            letter, word = m.group(1).upper(), (m.group(2) or "").upper()
            if not word or _CV_WORDS.get(word) == letter:
                return Parsed(_CV_LETTERS[letter], "compassverifier-cot")
    return Parsed(None, None)
