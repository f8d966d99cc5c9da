"""The multiple-choice verifier: which option letter did the completion choose?

The answer is read after the last `</think>` (a truncated completion is `truncated`). Letters are
found by a prioritised table of patterns; the strongest pattern present decides, and within it the
last statement wins — "it's B, not A" chooses B, because a negated letter never counts. A statement
that names several letters ("the answer is A or C", `\boxed{(A),(C)}`) chooses all of them (answer `A, C`), so
it is never the gold's one letter. A correction after the choice ("the answer is B... no wait, it's C")
chooses again.
Pure text work: no worker process is needed.
"""

from __future__ import annotations

import itertools
import re
import time
from dataclasses import dataclass
from typing import Any, Sequence

from evalkit.errors import InputError
from evalkit.thinking import is_truncated, split_think
from evalkit.types import Verdict
from evalkit.verifiers._mathtext import CORRECTION_CUE
from evalkit.verifiers.base import Capabilities, VerifyItem, register_verifier

# "the answer is for sure D", "it's definitely (B)": a word of certainty between the statement and the letter.
_HEDGE = (r"(?:\(?(?i:for sure|definitely|clearly|certainly|surely|most likely|likely|probably|obviously|indeed|"
          r"undoubtedly)\)?\s*,?\s*)?")  # "(for sure)" too
# A letter as models write it: `B`, `(B)`, `**B**`, `$B$`, `\\(B\\)`, `[B]`, `\\text{(B)}`, `$\\mathrm{B}$`.
_L = (r"(?:\$|\\\()?\s*[(\[]?\s*(?:\\(?:text|textbf|mathrm|mathbf)\s*\{\s*[(\[]?\s*)?(?:\*\*)?([A-Z])(?:\*\*)?\s*[)\]]?"
      r"(?:\s*\})?[)\]]?(?:\$|\\\))?")
# A letter that ends its line: "(B)", "**B**.", "B)".
_ENDS_LINE = (_HEDGE + r"(?:\*\*)?(?:\$|\\\()?[ \t]*[(\[]?[A-Z][)\]]?[ \t]*(?:\$|\\\))?(?:\*\*)?"
              r"(?:[ \t]*[.!]?[ \t]*(?:\*\*)?[ \t]*(?:\n|$)|,?[ \t]*(?i:since|because)\b|,[ \t]*(?i:as)\b)")
# Not a letter that starts a term, a formula or a name: "the answer is D-glucose", "B = 0.5 T", "E = mc^2", "D/2",
# "B12 deficiency", "答案是D-葡萄糖" (the option's text, which may start with any letter, not its letter).
# An operator with an operand after it: `B = 42`, `B^2`, `D/2`, `B + 42`, `B*C`, `B * 2`; not a `*` that closes or
# opens emphasis (`*Answer: B* because`, `B *(42 J)*`), nor letters listed, `A/B`, `A+C`.
_NO_TERM = (r"(?![A-Za-z])(?!-\w|\d|[ \t]*=|[ \t]*\^[ \t]*[\w\\{(]|[ \t]*(?:(?<=[ \t])\*[ \t]+|(?<![ \t])\*)[\w\\]"
            r"|[ \t]*[/+](?=[ \t]*[\w\\(])(?![ \t]*\(?[A-Z]\b)|[ \t]+times\b)")
# (name, pattern): the first row with a non-negated match decides; its last such match wins.
PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    # `\boxed{B}`, `\boxed{(B)}`, `\boxed{\text{B}}`, and the option restated after it: `\boxed{B. 42}`, `\boxed{B) 42}`.
    # `\boxed{\text{Option B}}`, `\boxed{\textit{B}}`; then an answer tag, `<answer>B</answer>`.
    ("boxed", re.compile(r"\\boxed\s*\{\s*(?:\\(?:text|textbf|textit|mathrm|mathbf|mathit)\s*\{)?\s*(?:(?i:option|choice)\s*)?"
                         r"\(?\s*([A-Z])\s*(?:\)?\s*\}?\s*\}|[.):][^{}]*\})")),
    ("answer_tag", re.compile(r"<answer>\s*(?:\*\*)?\(?([A-Z])\)?(?:\*\*)?\s*</answer>")),
    # "the answer is: B", "Answer - B", "the answer would be $B$".
    # "option C" or "choice C" alone names an option ("Option C is tempting"), not the answer: those words need
    # the statement's verb or colon ("the correct option is C", "Choice: C"); "Final: C" states it too.
    # "**Answer**: B", `{"answer": "B"}`: the colon after the label's markup or quote. "answer" with neither verb nor
    # colon states a letter only that ends its line ("Answer (B)"): "Answer A assumes …", "answer (C) would follow
    # if …" discuss an option after the answer.
    ("answer_is", re.compile(r"(?:(?i:answer)(?:\*{1,2}|_{1,2}|[\"'])?\s*(?:(?i:is|was|would be|should be|must be)\s*:?|:|[-–—=]|\n)"
                             r"|(?i:answer)(?:\*{1,2}|_{1,2})?[ \t]+(?=" + _ENDS_LINE + r")"
                             r"|(?i:choice|option|final)(?:\*{1,2}|_{1,2})?\s*(?:(?i:is|was|would be|should be|must be)\s*:?"
                             r"|:|[-–—=]))\s*" + _HEDGE + r"(?:\*\*)?\s*(?:option\s*|choice\s*)?[\"'“]?" + _L + _NO_TERM)),
    # "答案是 B", "正确答案为：B", "答案：B" (the answer is B), "应该选 C", "故选B" (so choose B), as Chinese prompts
    # have it written; not a question ("答案是A吗？", is the answer A?).
    # "正确选项是 B" (the right option is B), "**最终答案**: B".
    ("answer_is_zh", re.compile(r"(?:(?:正确|最终)?答案(?:\*\*)?\s*(?:应该是|应是|应为|就是|是|为|选)?|(?:应该|应|故|所以|因此|我)选(?:择)?"
                                r"|正确(?:的)?选项\s*(?:应该是|应是|应为|就是|是|为)|选项\s*(?=[A-Z]\s*(?:正确|是正确的|是对的)(?![ \t]*(?:吗|呢|？|\?))))"
                                r"\s*[:：]?\s*(?:\*\*)?" + _L + _NO_TERM + r"(?![ \t]*(?:吗|呢|？|\?))")),
    # "Thus, B is the correct answer."
    # "Thus, B is the correct answer.", "C is correct.", "C is the answer."
    # Not a unit after a number: "(B) 42 J is correct" chooses B.
    ("is_correct", re.compile(r"(?<![A-Za-z])(?<!\d[ \t])(?<!\d)\(?([A-Z])\)?(?:\*\*)?\s+is\s+(?:(?:the\s+)?(?i:correct|right|best)"
                              r"(?:\s+(?i:answer|option|choice))?|the\s+(?i:answer|correct\s+one|right\s+one))(?![A-Za-z])")),
    ("paren", re.compile(r"(?:\\text\s*\{\s*)?\(([A-Z])\)")),
    # "it's B", "I'd go with option C", "Therefore, option B."
    # "Options A and B fail, so C.": after "so", a letter alone ends its sentence (not the pronoun: "so I.").
    # "It must be B."
    ("statement", re.compile(r"(?:(?i:\b(?:is|it's|must be|should be|choose|pick|select|go with))\s+" + _HEDGE
                             + r"|(?i:\b(?:therefore|thus|hence|so)\b),?[ \t]+(?=(?i:the[ \t]+)?(?i:option|choice)"
                             r"|\*{0,2}(?!I\b)[A-Z]\*{0,2}[ \t]*(?:[.!]|\n|$)))"
                             r"(?i:(?:the[ \t]+)?(?:option|choice)[ \t]*)?(?:\*\*)?\(?([A-Z])\)?(?:\*\*)?(?![A-Za-z])"
                             r"(?!-\w|\d|[ \t]*[/*^=+]|[ \t]+times\b)")),  # "it must be A + B": an expression
    ("leading", re.compile(r"^\s*(?:\*\*)?\(?([A-Z])(?:\*\*)?[.:)]\s")),  # "A. Because …"
    ("bare", re.compile(r"^\s*(?:\*\*)?(?i:(?:option|choice)[ \t]+)?\(?([A-Z])\)?(?:\*\*)?\s*[.)]?\s*$")),
)
# A letter right after a negation, or in a list after one ("it can't be A or B"), never counts.
_NEGATING = (r"(?:(?i:\b(?:not|isn't|can't be|cannot be|can not be|rather than|instead of|except|than|neither|none of))"
             r"|不是|并非|而非|而不是)")
_NEGATION = re.compile(_NEGATING + r"\s*(?:option\s*|choice\s*)?(?:\(?[A-Z]\)?\s*(?:,|\bor\b|\bnor\b|\band\b)\s*)*\(?\s*$")
# Before a statement's own words ("it's C", "the answer is C"), only the negation itself: "I would not choose
# B" rules B out, "not A, it's C" rules out A alone.
_NEGATION_WORD = re.compile(_NEGATING + r"\s*$")
_WORDED_ROWS = frozenset({"answer_is", "answer_is_zh", "statement"})
_COLON_STATES = _WORDED_ROWS | {"boxed", "answer_tag"}  # rows after which a colon opens the option's own text
# Statements that can name a list: "the answer is A or C" chooses both letters, so neither alone is the answer.
_LISTING_ROWS = frozenset({"boxed", "answer_tag", "answer_is", "answer_is_zh", "paren", "statement"})
# One more letter in such a list ("A, C", "(A) or (C)", "A/C", "A, B, and D"); words may follow the list
# ("the answer is A or C because ..." chooses both).
# A hedge between ("A or maybe C") still lists the letter; so does a box ("\boxed{A} or \boxed{B}").
_JOINED = (r"[ \t]*(?:,[ \t]*(?:or\b|and\b)?|[—–][ \t]*or\b|\band/or\b|/|&|;|\||\+|∨|∪|\bor\b|\band\b|\bvs\b\.?|\bversus\b"
           r"|\\(?:lor|vee|cup)(?![A-Za-z])|\\text\s*\{\s*(?:or|and)\s*\}|\(\s*or\b)[ \t]*"
           r"(?:(?i:maybe|perhaps|possibly|probably|also|even)[ \t]+)?")
_NEXT_LETTER = (r"(?:\$|\\\()?(?:\\boxed\s*\{\s*(?:\\(?:text|textbf|textit|mathrm|mathbf|mathit)\s*\{\s*)?"
                r"(?:(?i:option|choice)\s*)?|<answer>\s*)?(?:\*\*)?[(\[]?\s*([A-Z])\s*[)\]]?(?:\*\*)?\}?\}?(?:\s*</answer>)?"
                r"(?:\$|\\\))?"
                r"(?![A-Za-z]|['’][A-Za-z])")  # not "B vs A's 10"
_MORE = re.compile(rf"(?:{_JOINED}|[ \t]+){_NEXT_LETTER}")
# One more letter joined in Chinese ("B或C", "B和C", "B、C"): only where the letter ends the statement or the list
# goes on; "\boxed{D}和C类似" (D, like C) and "答案是B，A项错误" (B; A is wrong) name one letter.
_CJK_MORE = re.compile(r"[ \t]*(?:或者|或|还是|和|与|及|、)[ \t]*" + _NEXT_LETTER
                       + r"(?=[ \t]*(?:[。．.，,；;！!？?、或和与及\n$}]|$))")
# After a letter written with its parenthesis ("The answer is (B) A circle", "Answer: D) I, III"), a letter
# joined by mere white space starts the option's text; only a joining word or sign lists one more.
# "(B) (C)." lists both; "(B) (C) contradicts the data" is C's own clause.
_MORE_JOINED = re.compile(rf"(?:{_JOINED}|[ \t]+(?=\(\s*[A-Z]\s*\)[ \t]*(?:[.,;:!?\n*$}})\]]|$)))" + _NEXT_LETTER)
# After a letter in parentheses, only another in parentheses, joined by a word or a comma, lists it:
# "(A) or maybe (C)", "(A), (C)"; "(C) A quick check" restates option C's text, which may start with a capital.
_MORE_PAREN = re.compile(r"\}?[ \t]*(?:,[ \t]*(?:or\b|and\b)?|/|\bor\b|\band\b)[ \t]*"
                         r"(?:(?i:maybe|perhaps|possibly|probably)[ \t]+)?(?:\\text\s*\{\s*)?\(([A-Z])\)\}?")
# A letter that starts a clause of its own ends the list before it: "A, and B is wrong", "A and I am sure".
_OWN_CLAUSE = re.compile(r"[ \t]+(?:is|are|was|were|isn't|aren't|can't|cannot|does|doesn't|do|don't|seems|seem|looks"
                         r"|look|has|have|had|would|could|might|fails|fail)\b")
# So does a list of its own that a plural verb follows: "C; A, B and D are wrong" (in "A or C and D is wrong"
# or "A or C, B does not work", B or D alone is the subject, and C is listed). Ten letters at most: this is read
# at each letter of a list, and an unbounded list would read the rest of it each time (quadratic); no two of
# its white-space runs may take the same space (the backtracking doubled with each letter).
_PLURAL = r"(?:are|were|aren't|weren't|do|don't|have|fail|look|seem)\b"
_OWN_CLAUSE_LIST = re.compile(r"(?:(?:[ \t]*,(?:[ \t]*(?:and|or|nor)\b)?|[ \t]+(?:and|or|nor)\b)[ \t]*"
                              r"\(?(?!I\b)[A-Z]\)?){1,10}[ \t]+" + _PLURAL)
# After a bare comma, "A" and a word in small letters is the article starting an option's text: "the answer is
# (C), A cyclic ether" chooses C; "C, A because ..." and "C or A cyclic" still list A.
_ARTICLE_A = re.compile(r"[ \t]+(?!(?:because|since|as|both|respectively|too|also|then|or|and|nor|in|on|is|are|was|"
                        r"were)\b)(?!(?:(?:most|very)[ \t]+)?(?:only|alone|likely|probably|possibly|perhaps|maybe|"
                        r"either|each|together|definitely|certainly|clearly|surely)\b[ \t]*(?:[.,;:!?)]|$))[a-z]{2,}")
_ALTERNATIVE = re.compile(r"\bor\b|\bvs\b|\bversus\b|[/|∨]|\\(?:lor|vee)|或|还是")  # "B or C": both are chosen
_PRONOUN_I = re.compile(r"[ \t]+[a-z]|'")
# Three or more letters in parentheses, none negated and none in a statement: the options restated
# ("(A) 3 (B) 4 (C) 5 (D) 6"), not one chosen.
_RESTATED = 3
_START_ROWS = frozenset({"leading", "bare"})
# A line that starts with an option's letter and its bracket or point ("B) 42 J", "C. 7 J").
_LISTED_OPTION = re.compile(r"[ \t]*(?:\*\*)?\(?([A-Z])(?:\*\*)?[.)]")
# A letter ruled out by what follows it ("(A) is wrong", "(A) and (D) are wrong") never counts either.
# ... or a distractor ("(D) is a distractor").
_NEGATED_AFTER = re.compile(r"[ \t]*(?:\*\*)?[ \t]*(?:is|are|was|seems|looks)[ \t]+(?:not\b|wrong|incorrect|false|"
                            r"ruled out|eliminated|impossible|(?:a|the)[ \t]+(?:distractor|trap)\b)")
# A verdict after a colon ("Option (D): incorrect.") rules out a letter no statement chose: after "the answer is (C)",
# a box or an answer tag, the words after the colon are the option's own text ("which is false? The answer is (C):
# false").
_NEGATED_AFTER_COLON = re.compile(r"[ \t]*(?:\*\*)?[ \t]*:[ \t]*(?:\*\*)?[ \t]*(?:not[ \t]+(?:correct|right)|incorrect|wrong|"
                                  r"false)(?:\*\*)?(?=[ \t]*(?:[.,;!]|\n|$))")
# Outside a worded statement, so is one of a list a plural verb rules out: "(A) and (D) are wrong" ("the answer
# is C and A and B are incorrect" chooses C; "B and D is wrong" rules out D alone).
_NEGATED_AFTER_LIST = re.compile(r"(?:[ \t]+(?:and|nor)[ \t]+(?:\*\*)?\(?[A-Z]\)?(?![A-Za-z])){1,10}"
                                 r"[ \t]*(?:\*\*)?[ \t]*(?:are|were|seem|look)[ \t]+(?:not\b|wrong|incorrect|false|"
                                 r"ruled out|eliminated|impossible)")


# One more letter inside a box after its first, joined by a comma, a word or a sign: "(B),(C)", "(B) \& (C)".
_IN_BOX = re.compile(r"\)?[ \t]*(?:,|/|\\?&|;|\bor\b|\band\b|\\text\s*\{\s*(?:or|and)\s*\})[ \t]*(?:\\text\s*\{\s*)?"
                     r"\(([A-Z])\)")


@dataclass(frozen=True)
class ChoiceOptions:
    """letters: the option letters that count (others are ignored as words like "I" or "A" in prose
    are too common to read as answers outside a statement)."""

    letters: str = "ABCDEFGHIJ"

    def __post_init__(self) -> None:
        """ValueError for letters no answer could match (`abcd`, `4`): every sample would be unjudged."""
        letters = self.letters
        if not isinstance(letters, str) or not letters or not all("A" <= c <= "Z" for c in letters) \
                or len(set(letters)) < len(letters):
            raise ValueError(f"option 'letters': expected the option letters in capitals, each once (such as ABCD), "
                             f"got {letters!r}")


# A correction after the choice: a cue ("wait", "actually", "correction", "no,"), then the letter, directly or
# after a statement's words, ending its sentence ("Hmm, actually it's C.", "No — B.", "Correction: C"). A letter
# that a sentence goes on from ("No, A ignores friction", "Actually, F = ma", "maybe it's C?") corrects nothing.
# Every repetition is unambiguous (no two may take the same white space): linear on any text.
_CUE = rf"(?:{CORRECTION_CUE}|(?i:\bno\b)(?=[ \t]*[,:;.!—–-]))"  # "No — B": a letter's correction may start with no
_CORRECTED = re.compile(_CUE + r"[ \t]*(?:[,:;.!—–-][ \t]*)?(?:(?i:it'?s|it is|the (?:correct )?answer is|answer:|"
                        r"final(?: answer)?:|make (?:that|it))[ \t]*(?::[ \t]*)?)?(?:\*\*)?\(?([A-Z])\)?(?:\*\*)?"
                        r"(?=[ \t]*(?:[.!]|\n|$))")


# A letter in small letters, read only where no capital is chosen: alone in a box (`\boxed{b}`, `\boxed{(b)}`),
# after the answer's words in parentheses or ending its sentence ("Answer: b", "the answer is (c) 4 m"), or the
# whole text ("b"). Elsewhere a small letter is a word ("the answer is a circle") or a value (`\boxed{e}` beside
# "the answer is (B)" is e, so capitals come first).
# "the correct option is (b)", "Answer: b) 42", "the answer is option b.": a bracket after the letter names the option
# as a parenthesis around it does.
_SMALL = re.compile(r"\\boxed\s*\{\s*(?:\\text\s*\{\s*)?\(?\s*([a-z])\s*\)?\s*\}?\s*\}"
                    r"|(?i:(?:correct[ \t]+)?(?:answer|option|choice))[ \t]*(?:(?:is|would be|should be|must be)[ \t]*:?|:)"
                    r"[ \t]*(?:\*\*)?[ \t]*(?i:(?:option|choice)[ \t]+)?"
                    r"(?:\(([a-z])\)|([a-z])\)(?=[ \t])|([a-z])(?=(?:\*\*)?[ \t]*(?:[.!]|\n|$)))"
                    r"|^\s*\(?([a-z])\)?\s*[.)]?\s*$")


_SPACES = re.compile(r"\s+")
# Full-width capitals and brackets, as Chinese text writes an option (`答案：Ｂ`, `（Ｃ）`), are the ASCII ones.
_FULL_WIDTH = str.maketrans({**{chr(0xFF21 + i): chr(0x41 + i) for i in range(26)}, "（": "(", "）": ")"})


def _one_space(text: str) -> str:
    """`text` with each run of white space cut short: a space; or, where the run breaks the line, a line break
    with the run's leading and trailing space kept (a list reads a letter after " \n" as after " " and "\n",
    as it did in the long run). The rows read many spaces as one; a long run ("Answer is" and 200 spaces) made
    their backtracking take time growing as a power of its length. A no-break space reads as a space, and a
    line ending in CR LF as one ending in LF ("Wait, C\r\n" corrects)."""
    return _SPACES.sub(_short_run, text)


def _short_run(m: re.Match[str]) -> str:
    run = m.group()
    if "\n" not in run:
        return " "
    return (" " if run[0] in " \t" else "") + "\n" + (" " if run[-1] in " \t" else "")


def extract_choice(text: str, letters: str = "ABCDEFGHIJ") -> tuple[str | None, str]:
    """The chosen letter in `text` and the name of the pattern row that found it (None, '' if none).
    A correction after the choice ("The answer is B... no wait, it's C") chooses again (row `corrected`).
    Where no row finds a capital, a small letter stated as the answer is read (row `small`: "Answer: b")."""
    text = _one_space(text).translate(_FULL_WIDTH)
    found, name = _strongest(text, letters)
    if found is None:
        small = _small_letter(text, letters)
        if small is None:
            return None, ""
        found, name = small, "small"
    corrected = _corrected(text, letters, found[1])
    return (corrected, "corrected") if corrected and corrected != found[0] else (found[0], name)


def _small_letter(text: str, letters: str) -> tuple[str, int] | None:
    """(the capital of the last small letter `_SMALL` reads as an option of `letters`, where it ends), a box
    before the rest; or None. `e` and `i` count only in parentheses after the answer's words ("the answer is
    (e)"): alone or boxed they are Euler's number and the imaginary unit."""
    boxed = stated = None
    for m in _SMALL.finditer(text):
        small = next(g for g in m.groups() if g)
        letter = small.upper()
        if letter not in letters or _NEGATION_WORD.search(text[max(0, m.start() - 30): m.start()]) \
                or small in "ei" and not (m.group(2) or m.group(3)):
            continue
        if m.group(1):
            boxed = (letter, m.end())
        else:
            stated = (letter, m.end())
    return boxed or stated


def _corrected(text: str, letters: str, after: int) -> str | None:
    """The letter the last correction after `after` chooses, or None."""
    chosen = None
    for m in _CORRECTED.finditer(text, after):
        letter = m.group(1)
        if letter in letters and not _NEGATION_WORD.search(text[max(0, m.start(1) - 30): m.start(1)]):
            chosen = letter
    return chosen


# The last line as a summary's verdict: the letter alone (`B`, `**B**.`, `(B)`, `**Option B**`) or with its option's
# text after a bracket, a point, a colon or a dash (`B) 42 J`, `**B)** 42 J`, `**B** – 42 J`).
_OPTION_LINE = re.compile(r"[ \t]*(?:[-*+][ \t]+)?(?:\*\*)?(?:(?i:option|choice)[ \t]+)?(?:\$|\\\()?\(?([A-Z])(?:\$|\\\))?(?:\*\*)?"
                          r"(?:[ \t]*[.!]?[ \t]*(?:\*\*)?[ \t]*$|(?:\)|\.|\*\*[ \t]*[–—-]|[ \t]+[–—-])(?:\*\*)?[ \t]+\S.*$"
                          r"|\)(?:\*\*)?[ \t]*[.!]?[ \t]*(?:\*\*)?[ \t]*$)")


# What the text after a last line's letter may not hold: a verdict on it ("C) incorrect", "**D** – wrong"), or
# another option letter (not a unit after a number: "B) 42 J").
_VERDICT_WORD = re.compile(r"(?i:\b(?:not|no|wrong|incorrect|false|impossible|invalid|fails?|ruled|eliminated|too|never)\b)")
_OTHER_LETTER = re.compile(r"(?<![A-Za-z])(?<!\d )(?<!\d)([A-Z])(?![A-Za-z])")


# A verdict the words after an option open with, in lower case: "C) incorrect", "A) fails", "(B) not possible". An
# option's own text is written as options are, capitalised: "B) False, False", "A) No", "C) No change" choose it.
_VERDICT_FIRST = re.compile(r"[ \t]*(?:\*\*)?[ \t]*(?:not|no|wrong|incorrect|false|impossible|invalid|fails?|ruled out|"
                            r"eliminated|never|does not|doesn't|cannot|can't|can not|is not|isn't)\b")


def _clause_after(rest: str) -> str:
    """The words after an option's letter on its line (`rest`), less the bracket, point or markup that closes it,
    led by a space: what the verdict patterns read."""
    return " " + rest.lstrip(")].:*–—-$\\ \t")


def _judged_at_start(text: str, at: int) -> bool:
    """Whether the option that opens the text (its letter ending at `at`) is judged by the words after it rather than
    chosen: "A) fails", "C) incorrect", "(A) and (D) are wrong" (a final answer of that alone was paid as A)."""
    words = _clause_after(text[at:].split("\n", 1)[0])
    return bool(_NEGATED_AFTER.match(words) or _NEGATED_AFTER_LIST.match(words) or _VERDICT_FIRST.match(words))


def _starts_with_options(text: str, letters: str) -> bool:
    """Whether the text opens with the options listed, a line each (three or more, other letters)."""
    first = list(itertools.islice((line for line in text.split("\n") if line.strip()), _RESTATED))
    listed = [_LISTED_OPTION.match(line) for line in first]
    return len(first) == _RESTATED and all(listed) and len({m.group(1) for m in listed if m} & set(letters)) == _RESTATED


def _last_line(text: str, letters: str) -> tuple[str, int] | None:
    """(the letter the last line states, the text's end) where that line is an option alone or with its text and
    the line before it is none (a list of the options, or of verdicts on each, chooses none; after such a list, the
    letter alone, `B`, `**B**`, `$B$`, still chooses), or None."""
    lines = [line for line in text.rstrip().split("\n") if line.strip()]
    if not lines:
        return None
    line = lines[-1]
    m = _OPTION_LINE.fullmatch(line)
    if m is None or m.group(1) not in letters:
        return None
    words = _clause_after(line[m.end(1):])  # a clause on the option ("A) fails", "(A) is wrong")
    alone = not words.strip() and not re.search(r"(?<!\()[A-Z](?:\*\*)?\)", line)  # `B`, `(B)`; not `D)`, a bare item
    if len(lines) > 1 and _OPTION_LINE.fullmatch(lines[-2]) and not alone:
        return None
    if _OWN_CLAUSE.match(words) or _NEGATED_AFTER.match(words) or _VERDICT_WORD.search(words) \
            or any(c in letters for c in _OTHER_LETTER.findall(words)):  # "B) 4 or C) 5", "B. Or maybe C."
        return None
    return m.group(1), len(text)


def _strongest(text: str, letters: str) -> tuple[tuple[str, int] | None, str]:
    """((letter(s), where the choosing statement ends), row name) of the strongest row, or (None, '')."""
    restated = False
    for name, pattern in PATTERNS:
        found, covered = None, 0
        named: set[str] = set()
        for m in pattern.finditer(text):
            if m.start() < covered:  # a letter of the list found before ("\boxed{A} or \boxed{B}")
                continue
            letter = m.group(1)
            if letter not in letters or letter == "I" and _PRONOUN_I.match(text, m.end()):
                continue  # "Answer: I believe it's C": the pronoun, not option I
            negation = _NEGATION_WORD if name in _WORDED_ROWS else _NEGATION
            if (negation.search(text[max(0, m.start() - 30): m.start()]) or _NEGATED_AFTER.match(text, m.end())
                    or name not in _COLON_STATES and _NEGATED_AFTER_COLON.match(text, m.end())
                    or name not in _WORDED_ROWS and _NEGATED_AFTER_LIST.match(text, m.end())
                    or name == "leading" and _judged_at_start(text, m.end(1))):
                continue
            named.add(letter)
            more = _MORE_PAREN if name == "paren" else _MORE_JOINED if text[m.end() - 1] in ")]" else _MORE
            found, covered = _listed(text, m.end(), letter, letters, more) if name in _LISTING_ROWS else (letter, 0)
            ends = max(m.end(), covered)
            if name == "boxed":  # letters listed inside the box: "\boxed{(B),(C)}", "\boxed{\text{(B) and (C)}}"
                inside = _IN_BOX.findall(text, m.end(1), m.end())
                if inside:
                    listed = {*found.split(", "), *(c for c in inside if c in letters)}
                    found = ", ".join(sorted(listed))
        if name == "paren" and len(named) >= _RESTATED:
            restated = True  # and the rows that read the text's start read the same restatement
            continue
        if name == "leading" and _starts_with_options(text, letters):
            restated = True  # "A) 12 J\nB) 42 J\nC) 7 J": the options listed line by line, not A chosen
            continue
        if restated and name in _START_ROWS:
            continue
        if found:
            return (found, ends), name
    last = _last_line(text, letters)
    return (last, "last_line") if last else (None, "")


def _listed(text: str, end: int, letter: str, letters: str, more: re.Pattern[str] = _MORE) -> tuple[str, int]:
    """`letter`, or every option letter of the list it opens at `end` ("A, C"), sorted and joined; and
    where the list ends. A letter that starts a clause of its own ("and B is wrong", "and I am sure")
    ends the list before it. more: what one more letter of the list looks like."""
    chosen = [letter]
    m = more.match(text, end) or _CJK_MORE.match(text, end)
    while m:
        next_letter = m.group(1)
        # A letter after "or" is listed; a clause of its own may start after it ("B or C, A and D are wrong").
        alternative = _ALTERNATIVE.search(text, end, m.start(1)) is not None
        if (_OWN_CLAUSE.match(text, m.end()) or not alternative and _OWN_CLAUSE_LIST.match(text, m.end())
                or next_letter == "I" and _PRONOUN_I.match(text, m.end())
                or next_letter == "A" and re.fullmatch(r"[ \t]*,[ \t]*", text[end:m.start(1)])
                and _ARTICLE_A.match(text, m.end())):
            break
        chosen.append(next_letter)
        end = m.end()
        m = more.match(text, end) or _CJK_MORE.match(text, end)
    return ", ".join(sorted({c for c in chosen if c in letters})) or letter, end


def _gold_letter(gold: Any, letters: str) -> str | None:
    if gold is None:
        return None
    text = str(gold).strip()
    if len(text) == 1 and text.upper() in letters:  # a gold `e` or `i` is option E or I (in an answer, Euler's e, i)
        return text.upper()
    letter, _ = extract_choice(text, letters)
    return letter


def verify_choice(completion: str | None, gold: Any, *, finish_reason: str | None = None,
                  think_open: bool = False, answer_only: bool = False, think_format: Any = None,
                  **options: Any) -> Verdict:
    """Verify one multiple-choice completion; never raises for bad input.

    completion: the model's whole text; gold: the right letter (`B`, `(B)`, `\\boxed{B}`);
    finish_reason / think_open / think_format: as for verify_math. answer_only: `completion` is final answer text
    alone (no think block, never truncated). options: ChoiceOptions fields (`letters`).
    """
    t0 = time.perf_counter()
    opts = ChoiceOptions(**options)
    ms = lambda: (time.perf_counter() - t0) * 1e3
    gold_letter = _gold_letter(gold, opts.letters)
    if gold_letter is None:
        return Verdict.infra_error(f"gold {str(gold)[:40]!r} is not an option letter", ms())
    try:
        text = completion if isinstance(completion, str) else \
            (completion.decode("utf-8", "replace") if isinstance(completion, bytes) else str(completion or ""))
        if not answer_only and is_truncated(text, finish_reason, think_open, think_format):
            return Verdict(False, 0.0, None, "truncated", "generation stopped before the final answer", ms())
        answer = (text if answer_only else split_think(text, think_open, think_format).answer)[-20_000:]
        letter, row = extract_choice(answer, opts.letters)
    except InputError as e:  # the caller's (a think format that is no format's name): unjudged, not the model's 0
        return Verdict.infra_error(f"unreadable item: {e}", ms())
    except Exception as e:
        return Verdict(False, 0.0, None, "no_answer", f"unreadable completion: {type(e).__name__}", ms())
    if letter is None:
        return Verdict(False, 0.0, None, "no_answer", "no option letter in the final answer", ms())
    ok = letter == gold_letter
    found = f"several letters chosen by rule {row!r}" if "," in letter else f"letter found by rule {row!r}"
    return Verdict(ok, 1.0 if ok else 0.0, letter, "correct" if ok else "wrong", found, ms())


def verify_many(items: Sequence[VerifyItem | tuple[Any, Any] | dict], **options: Any) -> list[Verdict]:
    """One Verdict per item, in input order (items as for evalkit.verifiers.math.verify_many)."""
    from evalkit.verifiers.math import _as_item

    out = []
    for raw in items:
        try:
            item = _as_item(raw)
        except Exception as e:
            out.append(Verdict(False, 0.0, None, "no_answer", f"unreadable item: {type(e).__name__}"))
            continue
        out.append(verify_choice(item.completion, item.gold, finish_reason=item.finish_reason,
                                 think_open=item.think_open, answer_only=item.answer_only,
                                 think_format=item.think_format, **options))
    return out


class ChoiceVerifier:
    """The `choice` verifier for task specs (in-process regexes: it takes no limits)."""

    name = "choice"
    capabilities = Capabilities(votes=True, limits=frozenset(), gold="text")

    def __init__(self, **options: Any):
        self.options = ChoiceOptions(**options).__dict__

    def verify_many(self, items: Sequence[VerifyItem]) -> list[Verdict]:
        return verify_many(items, **self.options)

    def check_gold(self, gold: Any) -> None:
        """Raise ValueError when `gold` names none of the option letters (a run's verdict is `error` then)."""
        if _gold_letter(gold, self.options["letters"]) is None:
            raise ValueError(f"gold {str(gold)[:40]!r} is not an option letter ({self.options['letters']})")


register_verifier("choice", ChoiceVerifier)
