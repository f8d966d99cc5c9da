"""The cheap, text-only side of the math verifier: gold normalisation, answer extraction, plain numbers.

Runs in the caller's process, so everything here is linear-time string work on any input; no sympy.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any, Callable

from evalkit.latex import after_hashes, float_text, with_bare_boxes

# A box opener, an escaped character, or a brace: one pass over these finds every balanced box.
_BRACES = re.compile(r"\\.|[{}]", re.S)
_BOX_TOKENS = re.compile(r"\\(?:boxed|fbox)\s*\{|\\.|[{}]", re.S)
# `$69$,$84$`: OlympiadBench's multi-part gold, one math span per part.
_DOLLAR_PARTS = re.compile(r"^\$[^$]+\$(?:\s*,\s*\$[^$]+\$)+$")
_DOLLAR_PART = re.compile(r"\$([^$]+)\$")
# One of several `$…$` parts that lists tuples itself (OlympiadBench 2203: `$(0,1,1),(1,0,1)$,$(-1,-1,0)$`): each
# tuple is a part, as in the parts beside it.
_TUPLE_PART = re.compile(r"^(?:\\left\s*)?[(\[].*[)\]]$", re.S)
# Wrappers around a whole gold answer, stripped before parsing: $…$, \(…\), \[…\].
_WRAPPERS = (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]"))
# Plain numbers for the exact fast path: 25, 025, -3.5, 27.0, 1,234 (thousands groups only).
_PLAIN_NUMBER = re.compile(r"^[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?$|^[+-]?\.\d+$")
# Scientific notation: Minerva's `4.5e33`, and `4.5 \times 10^{33}` as models write it.
_SCIENTIFIC = re.compile(r"^([+-]?(?:\d+(?:\.\d*)?|\.\d+))\s*(?:[eE]|\\times\s*10\s*\^|\\cdot\s*10\s*\^)"
                         r"\s*\{?\s*([+-]?\d{1,4})\s*\}?$")
_PERCENT = re.compile(r"\s*\\?%\s*$")
_SPACE_THOUSANDS = re.compile(r"(?<=\d)(?:\s|\\,|\\ )(?=\d{3}(?!\d))")
_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?$")
# Spacing and sizing commands that never change a value; the same text without them is the same answer.
_COSMETIC = re.compile(r"\\(?:left|right|displaystyle)(?![a-zA-Z])|\\[,;:! ]|\s+")
# Space between two digits separates numbers (`2 3` is not 23), except a thousands group (`12\,345`).
_DIGIT_GAP = re.compile(r"(?<=\d)(?:\s|\\[,;:! ])+(?=\d)")
_THOUSANDS_GAP = re.compile(r"(?<=\d)(?:\s|\\[,;:! ])+(?=\d{3}(?!\d))")


def _squeeze(text: str) -> str:
    """`text` without cosmetic spacing and `\\left`/`\\right`, the same LaTeX however it was spaced;
    digits that a space kept apart stay apart."""
    text = _DIGIT_GAP.sub("\u2423", _THOUSANDS_GAP.sub("", text))
    return _COSMETIC.sub("", text)
_FRAC_VARIANTS = re.compile(r"\\[dt]frac(?![a-zA-Z])")
# A set literal `{1,2,3}` / `\{1,2,3\}`: its entries count as parts when the answer boxes them one by one.
_SET_LITERAL = re.compile(r"^\s*\\?\{(.*)\\?\}\s*$", re.S)
# "The final answer is $10,455$" after the last box: the statement is the answer.
# `$...$` holds escaped dollars (`$\\$36$`, currency): an escape is two characters, never the closing sign.
_MATH_SPAN = r"(?:\$((?:\\.|[^$\\]){1,200})\$|\\\((.{1,200}?)\\\))"
_FINAL_STATEMENT = re.compile(r"final answer is\s*(?::\s*)?" + _MATH_SPAN, re.I | re.S)
# With no box at all, "the answer is $X$" and "**Answer:** $X$" state it too, so the answer is read as a box is (a
# false chain `$3 = 4$`, a hedge `$31 \text{ (or 30)}$`, `$x = 1 \lor x = 2$`); math-verify's own extraction read
# them by their last side or first number.
_STATED_ANSWER = re.compile(r"\banswer\s*(?:is|:|=)\s*(?::\s*)?(?:\*\*\s*)?" + _MATH_SPAN, re.I | re.S)
# ... and more of them joined to it by "or": "The final answer is $5$ or $4$" states two answers ("and" may
# join a remark: "$5$, and $n$ is the number of ways").
_MORE_STATED = re.compile(r"\s*,?\s*\bor\s*" + _MATH_SPAN, re.I | re.S)
# ... unless it is denied: "I cannot say the final answer is $4$", "it is not true that the final answer is".
_STATEMENT_DENIED = re.compile(r"(?:(?i:\b(?:not|cannot|never)|n't)\s+(?:say|claim|sure|certain|believe|think|conclude|"
                               r"state|true|the\s+case)|\b(?:false|doubt|if|suppose|assume|assuming|whether|unless))\s+"
                               r"(?:that\s+)?(?:the\s+)?$", re.I)
# Currency signs and negative thin spaces inside an answer: `\$16,\!386.20` is 16386.20.
# Text cut from the end of a box-less final answer handed to math-verify's own extraction.
FALLBACK_CHARS = 20_000


# Boxes nested deeper than this inside other boxes are left to their outer box's content (read there as one
# answer): reporting each of n nested boxes would copy n contents, n^2 characters in all.
MAX_BOX_DEPTH = 4


def find_boxes_at(text: str) -> list[tuple[int, int, str]]:
    """Every balanced `\\boxed{}` / `\\fbox{}` in `text` as (start, end, content), by start.

    One linear pass (a stack of open braces), so megabytes of unbalanced boxes cost no more than
    reading them; nested boxes are reported, outer first, down to MAX_BOX_DEPTH (so the contents
    copied stay within a few times the text's length).
    """
    found: list[tuple[int, int, str]] = []
    stack: list[tuple[bool, int, int]] = []  # (is a box, where the box starts, where its content starts)
    depth = 0  # boxes open on the stack
    for m in _BOX_TOKENS.finditer(text):
        tok = m.group()
        if tok == "}":
            if stack:
                is_box, start, content = stack.pop()
                if is_box:
                    depth -= 1
                    found.append((start, m.end(), text[content: m.start()]))
        elif tok == "{":
            stack.append((False, 0, 0))
        elif tok.endswith("{") and not tok.startswith("\\{"):
            if depth < MAX_BOX_DEPTH:
                depth += 1
                stack.append((True, m.start(), m.end()))
            else:  # too deep to report on its own: its outer box's content holds it
                stack.append((False, 0, 0))
    found.sort()
    return with_bare_boxes(text, found)


def balanced(text: str) -> bool:
    """Every unescaped `{` closed by its own `}` (`\\{` and `\\}` are set braces, not groups)."""
    depth = 0
    for m in _BRACES.finditer(text):
        tok = m.group()
        if tok == "{":
            depth += 1
        elif tok == "}":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


def find_boxes(text: str) -> list[str]:
    """The contents of every balanced box in `text`, in order of their start (see find_boxes_at)."""
    return [content for _, _, content in find_boxes_at(text)]


def split_top_level(text: str) -> list[str]:
    """Split at commas outside (), [], {} — `1,3,5` is three parts, `(1,2),(3,4)` two."""
    parts, depth, start, i = [], 0, 0, 0
    while i < len(text):
        c = text[i]
        if c == "\\":  # an escaped character; only \{ and \} nest
            depth += text.startswith("\\{", i) - text.startswith("\\}", i)
            i += 2
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif c == "," and depth <= 0:
            parts.append(text[start:i])
            start = i + 1
        i += 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def split_parts(text: str) -> list[str]:
    """`split_top_level`, except that where the parts are set apart by a comma and a space, a comma
    between digits with three digits after it is a thousands separator (`1,000, 2,000` is two parts)."""
    parts = split_top_level(text)
    if not _SPACED_COMMA.search(text):
        return parts
    out: list[str] = []
    for part in parts:
        if out and _THOUSANDS_HEAD.match(out[-1]) and _THOUSANDS_TAIL.match(part) and \
                text.find(f"{out[-1]},{part}") >= 0:
            out[-1] = f"{out[-1]},{part}"
        else:
            out.append(part)
    return out


_SPACED_COMMA = re.compile(r",\s")
_THOUSANDS_HEAD = re.compile(r"^[+-]?\d{1,3}(?:,\d{3})*$")
_THOUSANDS_TAIL = re.compile(r"^\d{3}(?:\.\d+)?$")


def _closes_at_end(text: str, opening: int) -> bool:
    """Whether the brace group opened at `text[opening]` is closed by the last character (one linear
    scan: boxes nested hundreds deep unwrap in quadratic time, not cubic)."""
    depth = 0
    for m in _BRACES.finditer(text, opening):
        tok = m.group()
        if tok == "{":
            depth += 1
        elif tok == "}":
            depth -= 1
            if depth == 0:
                return m.end() == len(text)
    return False


def outer_boxes(text: str) -> list[str]:
    """The contents of the boxes of `text` that no other box holds, in order (`\\boxed{\\boxed{5}}` is
    one box, not two)."""
    out, end = [], -1
    for start, stop, content in find_boxes_at(text):
        if start >= end:
            out.append(content)
            end = stop
    return out


def _unwrap(text: str) -> str:
    text = text.strip()
    changed = True
    while changed and text:
        changed = False
        for left, right in _WRAPPERS:
            if len(text) > len(left) + len(right) and text.startswith(left) and text.endswith(right):
                text = text[len(left): -len(right)].strip()
                changed = True
                break
        if text.startswith("\\boxed{") and text.endswith("}") and _closes_at_end(text, len("\\boxed")):
            text = text[len("\\boxed{"): -1].strip()
            changed = True
    return text


_TRIG = re.compile(r"\\(?:sin|cos|tan|cot|sec|csc)(?![a-zA-Z])")
_DEGREES = re.compile(r"(\d+(?:\.\d+)?)\s*\^\s*(?:\{\s*\\circ\s*\}|\\circ)|(\d+(?:\.\d+)?)\s*°")
_UNIT_EXP = r"(?:\^\s*\{\s*-?\d+\s*\}|\^\s*-?\d)?"
_GROUP = r"\{(?:[^{}]|\^\s*\{\s*-?\d+\s*\})*\}"  # a braced group, and a unit's powers in it (`km\,s^{-1}`)
# A unit in text mode: `\text{m}`, `\mathrm{km\,s^{-1}}` (not `\mathrm{e}` nor `\mathrm{i}`, the constants), `\mu\text{m}`.
_TEXT_UNIT = (r"(?:\\(?:text|mbox|textrm|textnormal|textit|textbf)\s*" + _GROUP
              + r"|\\mathrm\s*(?!\{\s*[ei]\s*(?:\}|\^))" + _GROUP
              + r"|\\mu\s*(?=\\(?:text|mbox|textrm|mathrm)\s*\{\s*(?:m|s|g|A|V|W|F|J|L|C|K|Hz|Pa|mol|eV)\s*\}))")
# White space and spacing commands between a number and its units, or between units.
_SPACING = r"(?:\s|\\[,; ])"
# Rewrites of gold and answer text alike, in order, before any comparison: (name, pattern, replacement).
# Each row is clutter that never changes the value: a row that could change one is a bug.
def _sub(pattern: str, repl: str | Callable[[re.Match], str]) -> Callable[[str], str]:
    compiled = re.compile(pattern, re.S)
    return lambda text: compiled.sub(repl, text)


def _trig_degrees(text: str) -> str:
    if ("circ" not in text and "°" not in text) or not _TRIG.search(text):
        return text
    return _DEGREES.sub(lambda m: f"\\frac{{{m.group(1) or m.group(2)}\\pi}}{{180}}", text)


# Words that, after a number, say something of its value, so no units row may drop them: connectives
# and hedges (`5 or six`, `2 is not it`), multipliers and operations (`5 thousand`, `5 over 6`, `2 pi`),
# and, right after the number, a power (`10 squared`; `10 cm squared` is a unit).
_NOT_UNITS = frozenset("""
    or and nor not no but either neither than then if unless except maybe perhaps possibly probably likely
    approximately about around roughly nearly almost under least most is are was were isn't aren't
    be being been also plus minus over divided by to
    hundred hundreds thousand thousands million millions billion billions trillion trillions dozen dozens
    half halves third thirds quarter quarters root roots pi factorial
    correct incorrect wrong right true false estimate estimated est approx approximate approximated
    guess max maximum minimum at below above beneath zero negative positive tens tenths hundredths
    thousandths millionths billionths recurring repeating inverse reciprocal sqrt percent percentage
    fourth fourths fifth fifths sixth sixths seventh sevenths eighth eighths ninth ninths tenth hundredth
    thousandth millionth billionth halved doubled tripled quadrupled negated reciprocated
    lakh lakhs crore crores score gross googol myriad log ln sin cos tan exp
    else instead otherwise alternatively unsure tentatively nope wait actually hmm
    one two three four five six seven eight nine ten eleven twelve twenty fifty
    """.split())
# Unit words of fewer than three letters, or without a vowel: any other such run after a number is a
# product of variables (`2 xy`, `3 ab`), never a unit.
_SHORT_UNITS = frozenset("""
    cm mm km nm um dm kg mg ml dl cl ft in yd yds mi lb lbs oz hr hrs min mins sec secs ms ns us mph kph kmh
    rpm cc hz khz mhz ghz kw mw gw kwh wh db pa kpa mpa hpa atm psi mol mmol ev kev mev gev cal kcal kj mj
    pt qt gal amu yr yrs wk wks mo mos sq deg rad ly au pc kpc mpc
    """.split())
_VOWEL = re.compile(r"[aeiou]")
# What may come before a number and its unit words: a number expression, after an optional `x =`.
_NAME_EQUALS = re.compile(r"^\s*[A-Za-z]\w*\s*=")
# Words that change the value right after the number (`10 squared`, `3 of 4`; `5 cups of flour` is a unit),
# and `times` before more words (`2 times x`; `6 times` counts).
_NOT_FIRST_UNITS = frozenset({"squared", "cubed", "of"})
_UNIT_WORD = re.compile(r"[A-Za-z']+")
_COMMAND = re.compile(r"\\(?:[A-Za-z]+|.)")
_UNIT_POWER = re.compile(r"\^\s*\{\s*-?\d+\s*\}|\^\s*-?\d")


def _units(pattern: str, bare: bool = False) -> Callable[[str], str]:
    """A row that drops trailing units matched by `pattern`, unless what it would drop holds a digit
    (other than a unit's power) or says something of the value (_NOT_UNITS).

    bare: the units are bare letters (not text mode), so they may be variables: each word must look
    like a unit (a short one of _SHORT_UNITS, else three letters or more with a vowel), and what comes
    before the number may hold no letter (`x^2 + 2 xy` is a polynomial, `2 ab` a product)."""
    compiled = re.compile(pattern, re.S)

    def drop(text: str) -> str:
        match = compiled.search(text)
        if match is None:
            return text
        tail = _COMMAND.sub(" ", _UNIT_POWER.sub("", match.group(0)))  # `\text`, `\,` are no words
        words = [w.lower() for w in _UNIT_WORD.findall(tail)]
        if (re.search(r"\d", tail) or any(w in _NOT_UNITS for w in words) or words[:1] and words[0] in _NOT_FIRST_UNITS
                or "times" in words[:-1]):
            return text
        if bare:
            if not all(w in _SHORT_UNITS or len(w) >= 3 and _VOWEL.search(w) for w in words):
                return text
            if re.search(r"[A-Za-z]", _COMMAND.sub(" ", _NAME_EQUALS.sub("", text[:match.start()], 1))):
                return text
        return text[:match.start()]

    return drop


# Unit symbols of one or two letters, SI's own and their common prefixed forms. In text mode each is a unit
# (`\frac{\text{m}}{\text{s}^2}`); bare, a fraction of single letters may be a ratio of variables (`2\,\frac{L}{g}`),
# so a bare fraction of units needs a unit of two letters or more in it (`\frac{kg}{m^3}`, `\frac{km}{h}`), or is
# metres over seconds (`\frac{m}{s^2}`).
_UNIT_SYMBOLS = frozenset("m s g h N J W K A V C L T Pa Hz Wb lm lx Gy Sv kat".split())
_UNIT_FRACTION = re.compile(r"(?<=[\d}.])(" + _SPACING + r"*)\\[dt]?frac\s*\{([^{}]*(?:\{[^{}]*\}[^{}]*)*)\}"
                            r"\s*\{([^{}]*(?:\{[^{}]*\}[^{}]*)*)\}" + _SPACING + r"*$")
_UNIT_TOKEN = re.compile(r"(?:\s|\\[,; ]|\\cdot(?![A-Za-z]))+|\\(?:text|mbox|textrm|textnormal|mathrm)\s*\{([^{}]*)\}"
                         + _UNIT_EXP + r"|([A-Za-z]+)" + _UNIT_EXP)


def _fraction_units(side: str) -> tuple[list[str], bool] | None:
    """(the unit words of one side of a fraction, whether any is bare), or None where the side is not units alone."""
    words, bare, at = [], False, 0
    while at < len(side):
        token = _UNIT_TOKEN.match(side, at)
        if token is None:
            return None
        if token.group(1) is not None:
            if not re.fullmatch(r"[\sA-Za-z~]*", token.group(1)):
                return None
            words += re.findall(r"[A-Za-z]+", token.group(1))
        elif token.group(2):
            words.append(token.group(2))
            bare = True
        at = token.end()
    unit = lambda w: w in _UNIT_SYMBOLS or w.lower() in _SHORT_UNITS or len(w) >= 3 and _VOWEL.search(w) \
        and w.lower() not in _NOT_UNITS
    return (words, bare) if words and all(unit(w) for w in words) else None


def _unit_fraction(text: str) -> str:
    """Drops a fraction of units after a number: `\frac{\text{m}}{\text{s}^2}`, `\,\frac{kg}{m^3}`. A bare one needs
    a spacing command before it (`2 \frac{m}{s}` may be a product) and no letter before the number
    (`x\,\frac{kg}{m}` is an expression)."""
    match = _UNIT_FRACTION.search(text)
    if match is None:
        return text
    sides = [_fraction_units(match.group(2)), _fraction_units(match.group(3))]
    if None in sides:
        return text
    (top, top_bare), (bottom, bottom_bare) = sides
    if top_bare or bottom_bare:
        if "\\" not in match.group(1) or re.search(r"[A-Za-z]", _COMMAND.sub(" ", _NAME_EQUALS.sub("", text[:match.start()], 1))):
            return text
        if all(len(w) == 1 for w in top + bottom) and (top, bottom) != (["m"], ["s"]):
            return text
    return text[:match.start()]


_VULGAR = {"½": (1, 2), "⅓": (1, 3), "⅔": (2, 3), "¼": (1, 4), "¾": (3, 4), "⅕": (1, 5), "⅖": (2, 5), "⅗": (3, 5),
           "⅘": (4, 5), "⅙": (1, 6), "⅚": (5, 6), "⅐": (1, 7), "⅛": (1, 8), "⅜": (3, 8), "⅝": (5, 8), "⅞": (7, 8),
           "⅑": (1, 9), "⅒": (1, 10)}
_VULGAR_CHAR = re.compile("[" + "".join(_VULGAR) + "]")


_CURRENCY = re.compile(r"\\\$|\\!")


# Math in Unicode symbols, not LaTeX (`∞`, `√2`, `x²`, `a₁`, `3⋅4`, `≤`): the LaTeX each stands for.
_SYMBOLS = {"∞": "\\infty ", "⋅": "\\cdot ", "÷": "\\div ", "±": "\\pm ", "∓": "\\mp ",
            "≈": "\\approx ", "≤": "\\leq ", "≥": "\\geq ", "≠": "\\neq ", "⩽": "\\leq ", "⩾": "\\geq "}
_SUPERSCRIPT = dict(zip("⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺", "0123456789-+"))
_ROOT_INDEX = {"√": "", "∛": "[3]", "∜": "[4]"}
# a root sign's radicand: a brace or parenthesis group (one level of nesting), else a number, a name, or a command
# with its arguments (`√\pi`, `√\frac{1}{2}`, `√√16` once the inner root is `\sqrt{16}`)
_ROOT_SIGN = re.compile(r"([√∛∜])\s*(?:\{((?:[^{}]|\{[^{}]*\})*)\}"  # {…}
                        r"|\(((?:[^()]|\([^()]*\))*)\)"  # (…)
                        r"|(\d+(?:\.\d+)?|[A-Za-zα-ωΑ-Ω][A-Za-z0-9]*"  # a number, a name
                        r"|\\[A-Za-z]+(?:\[[^\]]*\])?(?:\{(?:[^{}]|\{[^{}]*\})*\})*))")  # a command and its arguments
_SUPERSCRIPTS = re.compile("[" + "".join(_SUPERSCRIPT) + "]+")
_SUBSCRIPT = dict(zip("₀₁₂₃₄₅₆₇₈₉", "0123456789"))
_SUBSCRIPTS = re.compile("[" + "".join(_SUBSCRIPT) + "]+")
# `·` between digits may be a decimal point (`0·5`, as British texts write it): only elsewhere is it a product
_SYMBOL = re.compile("[" + "".join(_SYMBOLS) + "]|(?<!\\d)·|·(?!\\d)")
_UNICODE_MATH = re.compile("[·" + "".join((*_SYMBOLS, *_SUPERSCRIPT, *_SUBSCRIPT, *_ROOT_INDEX)) + "]")


def _unicode_math(text: str) -> str:
    if not _UNICODE_MATH.search(text):
        return text
    for _ in range(4):  # `√(√2+1)`: a root inside a root's radicand, the outer one first
        rooted = _ROOT_SIGN.sub(lambda m: "\\sqrt%s{%s}" % (_ROOT_INDEX[m.group(1)],
                                                             next(g for g in m.groups()[1:] if g is not None)), text)
        if rooted == text:
            break
        text = rooted
    text = _SUPERSCRIPTS.sub(lambda m: "^{%s}" % "".join(_SUPERSCRIPT[c] for c in m.group(0)), text)
    text = _SUBSCRIPTS.sub(lambda m: "_{%s}" % "".join(_SUBSCRIPT[c] for c in m.group(0)), text)
    return _SYMBOL.sub(lambda m: _SYMBOLS.get(m.group(0), "\\cdot "), text)


def _vulgar_fractions(text: str) -> str:
    if not _VULGAR_CHAR.search(text):
        return text
    return _VULGAR_CHAR.sub(lambda m: "\\frac{%d}{%d}" % _VULGAR[m.group(0)], text)


# `3 1/2`, `-2 3/4`: a whole number, a space and a proper fraction is a mixed number (math-verify reads `3 1/2` as 2).
_MIXED = re.compile(r"(?<![0-9A-Za-z_.,/\\{}^])(\d+)[ \t]+(\d+)\s*/\s*(\d+)(?![\w/^_]|\.\d)")  # `3 1/2.` ends a sentence


def _mixed_numbers(text: str, latex: bool = True) -> str:
    """Mixed numbers as the fraction they are: `\\frac{7}{2}`, or `7/2` in prose (latex False)."""
    def one(m: re.Match) -> str:
        whole, part, of = (int(g) for g in m.groups())
        if not 0 < part < of:  # `3 4/2`, `3 0/2`: no mixed number
            return m.group(0)
        return ("\\frac{%d}{%d}" if latex else "%d/%d") % (whole * of + part, of)

    return _MIXED.sub(one, text) if "/" in text else text


# `0.\overline{3}`, `0.1\bar{6}`, `1.\dot{3}`: a repeating decimal (the digits under the bar repeat forever).
_REPEATING = re.compile(r"(?<![\d.])(\d*)\.(\d*)\\(?:overline|bar|dot)\s*(?:\{\s*(\d+)\s*\}|(\d))")


def _repeating_decimals(text: str) -> str:
    """A repeating decimal as the fraction it is (`0.\\overline{3}` is `\\frac{1}{3}`, `0.1\\bar{6}` is `\\frac{1}{6}`)."""
    if "\\" not in text or not _REPEATING.search(text):
        return text

    def fraction(m: re.Match) -> str:
        whole, fixed, repeat = m.group(1) or "0", m.group(2), m.group(3) or m.group(4)
        value = Fraction(int(whole + fixed + repeat) - int(whole + fixed), 10 ** len(fixed) * (10 ** len(repeat) - 1))
        return str(value.numerator) if value.denominator == 1 else f"\\frac{{{value.numerator}}}{{{value.denominator}}}"

    return _REPEATING.sub(fraction, text)


def _strip_trailing_clutter(text: str) -> str:
    """Drop full stops and stray backslashes at the end (not an ellipsis, not `\\.`), right to left."""
    while True:
        t = text.rstrip()
        if t.endswith("\\\\"):
            t = t[:-2]
        elif t.endswith("\\"):
            t = t[:-1]
        elif t.endswith(".") and not t.endswith("..") and not t.endswith("\\."):
            t = t[:-1]
        if t == text.rstrip():
            return t
        text = t


_BRACKETED_NUMBER = re.compile(r"\s*\(\s*([+-]?\d+(?:\.\d+)?)\s*\)")


def _bracketed_factors(text: str) -> str:
    if "(" not in text:
        return text
    out, at = [], 0
    for m in _BRACKETED_NUMBER.finditer(text):
        if m.start() > 0 and _is_factor_end(text, m.start()):
            out += [text[at:m.start()], f" \\cdot ({m.group(1)})"]
            at = m.end()
    return "".join(out) + text[at:] if out else text


def _is_factor_end(text: str, end: int) -> bool:
    """What ends at `end` is a value a bracket after it multiplies: a number that is no exponent or index (`2`, not
    the `2` of `\\log_2` or `x^2`), `\\pi`, a closing bracket, or the last group of a fraction or a root."""
    before = text[:end]
    if before.endswith(")"):
        return True
    if re.search(r"\\pi$", before):
        return True
    digits = re.search(r"(\d+(?:\.\d+)?)$", before)
    if digits:
        return not before[:digits.start()].rstrip().endswith(("^", "_"))
    head = before
    while head.endswith("}"):  # `\\frac{1}{2}`: its groups, back to the command they belong to
        head = head[:_group_start(head)]
    return head != before and bool(re.search(r"\\(?:[dt]?frac|sqrt(?:\[[^\]]*\])?|binom)\s*$", head))


def _group_start(text: str) -> int:
    """Where the `{` opens that the `}` ending `text` closes (0 when none does)."""
    depth = 0
    for i in range(len(text) - 1, -1, -1):
        depth += {"}": 1, "{": -1}.get(text[i], 0)
        if depth == 0:
            return i
    return 0


_PLUS_MINUS = re.compile(r"\\(pm|mp)(?![A-Za-z])")


def _divides_group(text: str, at: int) -> bool:
    """The ± at `at` is inside a command's group (`\\frac{-3 \\pm \\sqrt{17}}{4}`) or a bracket divided after it
    (`(3 \\pm \\sqrt{5})/2`)."""
    stack: list[tuple[str, int]] = []
    i = 0
    while i < at:
        c = text[i]
        if c == "\\" and i + 1 < len(text) and text[i + 1] in "{}":
            i += 2  # `\\{`, `\\}`: a set's braces
            continue
        if c in "{([":
            stack.append((c, i))
        elif c in "})]" and stack:
            stack.pop()
        i += 1
    if not stack:
        return False
    opener, start = stack[-1]
    if opener == "{":
        return True
    close = {"(": ")", "[": "]"}[opener]
    depth, j = 0, start
    while j < len(text):
        depth += (text[j] == opener) - (text[j] == close)
        if depth == 0:
            return bool(re.match(r"\s*/", text[j + 1:]))
        j += 1
    return False


def _plus_minus(text: str) -> str:
    """`\\frac{-3 \\pm \\sqrt{17}}{4}` as `\\frac{-3 + \\sqrt{17}}{4}, \\frac{-3 - \\sqrt{17}}{4}` (after a name's
    `x =`, dropped): one ± or ∓ inside a command's group (a fraction's, a root's, an exponent's) or a bracket
    divided after it (_divides_group), in an answer that lists nothing (no comma) and states nothing else."""
    if "\\pm" not in text and "\\mp" not in text:
        return text
    found = list(_PLUS_MINUS.finditer(text))
    name = _NAME_EQUALS.match(text)
    body_at = name.end() if name else 0
    if len(found) != 1 or "," in text or "=" in text[body_at:]:
        return text
    m = found[0]
    if not _divides_group(text[body_at:], m.start() - body_at):
        # at the top level: math-verify's own; a bracketed measurement `(5.0 \\pm 0.1) \\times 10^{3}` is one
        # value with its uncertainty, not two answers
        return text
    signs = ("+", "-") if m.group(1) == "pm" else ("-", "+")
    body = text[body_at:]
    at = m.start() - body_at
    return ", ".join(f"{body[:at]}{sign} {body[m.end() - body_at:]}" for sign in signs)


_INEQUALITY_JOINER = re.compile(r"\s*(?:\\text\s*\{\s*(or|and)\s*\}|\b(or|and)\b|\\(land|wedge)(?![A-Za-z]))\s*")
_REL = r"(<|>|\\(?:le|leq|leqslant|lt|ge|geq|geqslant|gt)(?![A-Za-z]))"
_BOUND = r"([^<>=,]+?)"
_ONE_SIDED = re.compile(rf"^\s*([A-Za-z])\s*{_REL}\s*{_BOUND}\s*$")
_ONE_SIDED_AFTER = re.compile(rf"^\s*{_BOUND}\s*{_REL}\s*([A-Za-z])\s*$")
_TWO_SIDED = re.compile(rf"^\s*{_BOUND}\s*{_REL}\s*([A-Za-z])\s*{_REL}\s*{_BOUND}\s*$")
_INFINITY = "\\infty"


def _bound(piece: str) -> tuple[str, tuple[str, str, str, str]] | None:
    """(variable, (open bracket, low, high, close bracket)) of one inequality on a single variable, else None."""
    def rel(r: str) -> tuple[bool, bool]:  # (less than, inclusive): `<`, `\\lt`, `\\le`, `\\leq`, ...
        return r.startswith(("<", "\\l")), r.startswith(("\\le", "\\ge"))

    def closed(inclusive: bool, left: bool) -> str:
        return ("[" if inclusive else "(") if left else ("]" if inclusive else ")")

    m = _TWO_SIDED.match(piece)
    if m:
        low, r1, var, r2, high = m.groups()
        (less1, inc1), (less2, inc2) = rel(r1), rel(r2)
        if less1 != less2:
            return None
        if not less1:
            low, high, inc1, inc2 = high, low, inc2, inc1
        return var, (closed(inc1, True), low, high, closed(inc2, False))
    m = _ONE_SIDED.match(piece)
    if m:
        var, r, value = m.groups()
        less, inc = rel(r)
    else:
        m = _ONE_SIDED_AFTER.match(piece)
        if m is None:
            return None
        value, r, var = m.groups()
        less, inc = rel(r)
        less = not less  # `3 < x` is `x > 3`
    if re.search(rf"(?<![A-Za-z\\]){var}(?![A-Za-z])", value):
        return None
    return var, (("(", f"-{_INFINITY}", value, closed(inc, False)) if less else (closed(inc, True), value, _INFINITY, ")"))


def _joined_inequalities(text: str) -> str:
    """Inequalities on one variable joined by "or" as the union of their intervals, two joined by "and" (a
    lower and an upper bound) as one interval; anything else as it is."""
    if "<" not in text and ">" not in text and "\\l" not in text and "\\g" not in text:
        return text
    pieces = _INEQUALITY_JOINER.split(text)
    if len(pieces) < 5:  # at least two inequalities (split keeps the joiner's three groups)
        return text
    parts, joiners = pieces[::4], [next(g for g in pieces[i:i + 3] if g) for i in range(1, len(pieces), 4)]
    bounds = [_bound(part) for part in parts]
    if any(b is None for b in bounds) or len({b[0] for b in bounds}) != 1:
        return text
    intervals = [b[1] for b in bounds]
    if all(j == "or" for j in joiners):
        return " \\cup ".join(f"{o}{lo}, {hi}{c}" for o, lo, hi, c in intervals)
    if len(intervals) == 2 and joiners[0] != "or":
        lower = [i for i in intervals if i[2] == _INFINITY]
        upper = [i for i in intervals if i[1] == f"-{_INFINITY}"]
        if len(lower) == 1 and len(upper) == 1:
            return f"{lower[0][0]}{lower[0][1]}, {upper[0][2]}{upper[0][3]}"
    return text


REWRITES: tuple[tuple[str, Callable[[str], str]], ...] = tuple(
    (name, _sub(*how) if isinstance(how, tuple) else how) for name, how in (
        # `\color{red}{4}`, `\textcolor{red}{4}`: a colour is no part of the value (what it colours is:
        # `\color{white}{5}4` is 54); `4\phantom{5}`: what a phantom holds is not shown, so it is not there.
        ("color", (r"\\(?:color|textcolor)\s*\{[^{}]*\}", "")),
        # `42~\text{km}`: a tie is a space (not `\~`, an accent).
        ("tie", (r"(?<!\\)~", " ")),
        ("phantom", (r"\\[hv]?phantom\s*\{[^{}]*\}", "")),
        # `∞`, `√2`, `∛(x+1)`, `x²`, `10⁻³`, `3⋅4`, `2·x`, `≤`, `±`: a Unicode symbol is the LaTeX it stands for.
        ("unicode_math", _unicode_math),
        # `\varnothing` is `\emptyset`, the empty set (math-verify reads that one, as it reads `∅` and `\{\}`).
        ("empty_set", (r"\\varnothing(?![A-Za-z])", r"\\emptyset")),
        # `½`, `3¾`: a vulgar fraction character is the fraction.
        ("vulgar_fraction", _vulgar_fractions),
        ("mixed_number", _mixed_numbers),
        ("repeating_decimal", _repeating_decimals),
        # `x = 4 \lor x = 5`: a logical or is the word (math-verify would read the last alternative alone).
        ("logical_or", (r"\\(?:lor|vee)(?![A-Za-z])", r" \\text{ or } ")),
        # `x < -2 \text{ or } x > 3` is `(-\infty, -2) \cup (3, \infty)`; `x > -2 \text{ and } x < 3` is `(-2, 3)`:
        # bounds on one variable joined by words (math-verify read either as a set of two relations).
        ("joined_inequalities", _joined_inequalities),
        # `\left. 5 \right.`: an invisible delimiter (a full stop no sentence ends with).
        ("invisible_delimiters", (r"\\(?:left|right)\s*\.", "")),
        # `\$16,\!386.20`: currency signs and negative thin spaces; `11,\! 111` is a thousands separator. An
        # equation keeps its signs (`\$1.50 = 150` is no false statement: dollars and cents).
        ("currency", (r"(?<=\d),\\!\s*(?=\d{3})", ",")),
        ("currency", lambda text: text if "=" in text else _CURRENCY.sub("", text)),
        # `$125$ miles`: math-mode dollars inside an answer.
        ("math_dollars", (r"^\$([^$]+)\$(?=[^$]*$)", r"\1")),
        # `\textbf{7}`, `\mathit{7}`: a number in a font is the number (a one-digit one read as a symbol).
        ("font_number", (r"\\(?:textbf|mathbf|textit|mathit|boldsymbol|bm|emph|textsf|mathsf)\s*\{\s*([+-]?(?:\d+(?:[.,]\d+)*|\.\d+))\s*\}", r"\1")),
        # siunitx: `\num{42}` is 42, `\num{1.5e3}` 1.5e3; `\SI{42}{\metre}` and `\qty{42}{m}` are 42 and a unit, dropped
        # as the units rows below drop `42 \text{ m}` (`\SI{5}{\percent}` is `5\%`, a percentage).
        ("siunitx", (r"\\(?:SI|qty)\s*\{([^{}]*)\}\s*\{\s*\\percent\s*\}", r"\1\\%")),
        ("siunitx", (r"\\(?:SI|qty)\s*\{([^{}]*)\}\s*\{[^{}]*\}|\\num\s*\{([^{}]*)\}", lambda m: m.group(1) or m.group(2) or "")),
        # `\text{5}`, `\text{5 cm}`: a whole answer in text mode that is a number (and its unit).
        ("text_number", (r"^\\(?:text|textrm|mbox|mathrm)\s*\{\s*([+-]?\.?\d[^{}]*?)\s*\}$", r"\1")),
        # `2.5 percent`, `2.5 \text{ percent}`: the word is the sign (a percentage is its number or that over 100).
        ("percent_word", (r"(?<=\d)\s*(?:\\text\s*\{\s*(?:percent|per\s*cent)\s*\}|(?:percent|per\s*cent)(?![A-Za-z]))", r"\\%")),
        # `90°`, `25 °C`: the degree sign is `^\circ` (a Celsius or Fahrenheit letter after it is its unit).
        ("degree_sign", (r"(?<=\d)\s*°(?:\s*[CF](?![A-Za-z]))?", r"^\\circ")),
        # `15\degree` (gensymb), `15\textdegree C`, `15^\circ C`, `25^{\circ}F`: a degree command is the sign, and a bare
        # Celsius or Fahrenheit letter after the sign is its unit.
        ("degree_sign", (r"(?<=\d)\s*\\(?:degree|textdegree)(?![A-Za-z])", r"^\\circ")),
        ("degree_sign", (r"(?<=\d)(\s*(?:(?:\\[,; ]|~)\s*)*\^\s*(?:\{\s*\\circ\s*\}|\\circ))(?:\s|\\[,;! ]|~)*[CF]\s*$", r"\1")),
        # `4.`, `185\`, `x = 2.`: a sentence's full stop or a stray line break after the answer.
        ("trailing_clutter", _strip_trailing_clutter),
        # `= 5`, `\approx 3.14`, `≈ 3.14`: an answer that opens with an equals or approximation sign is the value
        # after it (as `x = 5` and `x \approx 3.14` are).
        # `\sim p` is a negation (not p), so `\sim` and `\simeq` go only before a number.
        ("leading_relation", (r"^\s*(?:=(?!=)|\\approx(?![A-Za-z])|\\(?:simeq|sim)(?![A-Za-z])(?=\s*[+-]?\.?\d))\s*(?=\S)", "")),
        # `+7`: a leading plus sign on a number.
        ("leading_plus", (r"^\+\s*(?=[\d.])", "")),
        # Minerva's `-3./2`: a decimal point with no digits after it, before a slash.
        ("bare_decimal_point", (r"(?<=\d)\.(?=\s*/)", "")),
        # `12^{\mathrm{th}}`, `3^{rd}`, `2nd`: an ordinal is its number.
        ("ordinal", (r"(?<=\d)(?:\s*\^\s*\{\s*(?:\\(?:text|mathrm)\s*\{\s*)?(?:st|nd|rd|th)\s*\}?\s*\}"
                    r"|(?:st|nd|rd|th)(?![A-Za-z]))", "")),
        # `10 \text{ cm}^2`, `15,000 \text{ kcal m}^{-2}\text{ yr}^{-1}`, `5\,\mathrm{cm}`: text-mode units after a
        # value (`\mathrm{e}` and `\mathrm{i}` are the constants, not units).
        # `0.3\,\mu\text{m}`, `\mathrm{km\,s^{-1}}`: a micro prefix before a unit; a unit's own powers inside it
        # (`\mathrm{e^{2}}` is e squared, `\mu\mathrm{N}` may be a friction coefficient and a normal force).
        # `9.8\,\text{m}/\text{s}^2`, `\mathrm{~m} / \mathrm{s}^{2}`, `\text{m}\cdot\text{s}^{-2}`: text-mode units
        # divided or multiplied (a sign only between two units: `x\,/\,\text{y}` is a quotient).
        ("unit_text", _units(r"(?<=[\w}.)])" + _SPACING + r"*(?:" + _TEXT_UNIT + _UNIT_EXP + r"(?:" + _SPACING
                             + r"*(?:(?:/|\\cdot(?![A-Za-z]))" + _SPACING + r"*)?" + _TEXT_UNIT + _UNIT_EXP + r")*)?"
                             + _SPACING + r"*$")),
        # `\frac{\text{m}}{\text{s}^2}`, `9.8\ \frac{m}{s^2}`, `3\,\frac{kg}{m^3}`: a fraction of units.
        ("unit_fraction", _unit_fraction),
        # `2.5 M_\odot`, `5\,\Omega`, `5000\AA`: a unit written as a symbol, after a number.
        ("unit_symbol", _units(r"(?<=\d)\s*(?:\\[,; ]\s*)?"
                               r"(?:[MLR]_\s*(?:\{\s*\\odot\s*\}|\\odot)|\\(?:AA|Omega)(?![A-Za-z]))" + _UNIT_EXP + r"\s*$")),
        # `20\,\%`, `20 \%`: a space before the percent sign.
        ("spaced_percent", (r"(?<=\d)(?:\s|\\[,;: ])+(?=\\%)", "")),
        # `10 weeks`, `10 cm^2`, `5 m/s`: unit words (two letters or more) after a number; a single
        # letter stays a variable (`\frac{37}{4} m`). Neither units row drops words that change the value
        # or hedge it (`5 thousand`, `10 squared`, `5 or six`, `2 \text{ is not the answer}`; _NOT_UNITS).
        ("unit_words", _units(r"(?<=\d)\s+[A-Za-z]{2,}" + _UNIT_EXP + r"(?:(?:\s*(?:/|\\cdot)\s*|\s+)[A-Za-z]{2,}" + _UNIT_EXP + r")*\s*$",
                              bare=True)),
        # Scientific notation as sympy reads it: `1e-5` is 1 x 10^-5, never e - 5 (Euler's e).
        ("e_notation", (r"^([+-]?(?:\d+(?:\.\d*)?|\.\d+))[eE]([+-]?\d{1,4})$", r"\1\\times 10^{\2}")),
        # `E_1` = `E_{1}`: a one-character subscript is the same subscript braced.
        ("subscript_braces", (r"_\s*([A-Za-z0-9])", r"_{\1}")),
        # `SRMC=LRMC` = `\text{SRMC} = \text{LRMC}`: a run of capitals is one name, not a product.
        ("capital_names", (r"(?<![\\A-Za-z{])([A-Z]{2,})(?![A-Za-z}])", r"\\text{\1}")),
        # `\frac{1}{2}(8)(3)`, `\pi(3)^2`, `2(3)`: a bracketed number after a number, a fraction or root, a bracket or
        # `\pi` is a factor (math-verify read `2(3)` as no product); not an argument (`\log_2(8)`, `\sin^{-1}(1)`).
        ("bracketed_factor", _bracketed_factors),
        # `\sin(90^\circ - x)`: every degree value inside an expression with a trig function is in degrees.
        ("trig_degrees", _trig_degrees),
        # `\frac{-3 \pm \sqrt{17}}{4}`, `(3 \pm \sqrt{5})/2`: one ± in a fraction's numerator is its two values, as
        # math-verify reads one at the top level (`1 \pm \sqrt{2}`).
        ("plus_minus", _plus_minus),
    )
)



# Longer texts are prose (a worked solution, a rambling answer): no row applies to them, and the
# regexes' cost stays bounded on any input.
REWRITE_CHARS = 4_000


def rewrite(text: str) -> str:
    """Gold and answer text after the REWRITES rows (clutter that never changes a value)."""
    if len(text) > REWRITE_CHARS:
        return text.strip()
    for _, row in REWRITES:
        new = row(text)
        if new.strip():  # a row never empties an answer (`\text{odd}` stays)
            text = new
    return text.strip()


# A solution set written out: `p=5,q=2;p=7,q=2`, `x = 1 \\text{ or } x = 2`, `x = 4 \\lor x = 5`,
# `a=1, b=2 \\quad\\text{and}\\quad a=2, b=1`.
_SOLUTION_SEPARATOR = re.compile(r"\s*(?:;|\\\\|(?:\\q?quad\s*|\\[,;: ]\s*)*(?:\\text\s*\{\s*(?:and|or)\s*\}|\b(?:and|or)\b"
                                 r"|\\(?:lor|vee)(?![A-Za-z]))"
                                 r"(?:\s*\\q?quad|\s*\\[,;: ])*|\\q?quad)\s*")
_COMMA_SPACE = re.compile(r",\s*(?:\\q?quad\s*|\\[,;: ]\s*)+")
_SPACING = re.compile(r"^(?:\s|\\q?quad|\\[,;: !])+|(?:\s|\\q?quad|\\[,;: !])+$")
_ASSIGNMENT = re.compile(r"^\s*(\\?[A-Za-z]+(?:_\{[^{}]*\}|_[A-Za-z0-9])?)\s*=\s*([^=]+?)\s*$", re.S)


def solution_set(text: str) -> tuple[tuple[tuple[str, str], ...], ...] | None:
    """A solution set written as assignments, as a tuple of solutions (each its (name, value) pairs,
    sorted by name); None unless the text is two or more `name = value` pairs and nothing else.

    Solutions are separated by `;`, `\\quad`, `and`, `or`, `\\lor`, `\\vee`; within one, pairs by commas.
    """
    if "=" not in text or text.count("=") < 2:
        return None
    solutions = []
    text = _COMMA_SPACE.sub(", ", text)  # `a = 1, \\quad b = 2`: spacing after a comma separates nothing
    for group in _SOLUTION_SEPARATOR.split(text):
        if not group.strip():
            continue
        pairs = []
        for part in split_top_level(group):
            m = _ASSIGNMENT.match(_SPACING.sub("", part))
            if not m:
                return None
            pairs.append((m.group(1), m.group(2)))
        names = [name for name, _ in pairs]
        if len(set(names)) < len(names):  # `x = 1, x = 2`: one solution per pair
            solutions += [(pair,) for pair in pairs]
        else:
            solutions.append(tuple(sorted(pairs)))
    return tuple(solutions) if solutions else None


def normalize_gold(gold: Any, multiple_answer: bool | None = None) -> tuple[str, ...] | None:
    """The gold answer as a tuple of parts (box contents), or None when there is no gold at all.

    Accepts a string, a number (AMC's `27.0` becomes `27`), or a list (OlympiadBench's
    `final_answer`; several entries are several parts). GSM8K's `#### 1,234` keeps what follows
    the hashes; a solution text keeps its last `\\boxed{}`; `$…$` wrappers go. `$69$,$84$` is two
    parts; with `multiple_answer=True` any top-level comma separates parts.
    """
    if hasattr(gold, "tolist") and not isinstance(gold, str):  # numpy arrays and scalars (a float32 NaN too)
        gold = gold.tolist()
    if gold is None or (isinstance(gold, float) and gold != gold):  # NaN: a missing value, never the answer `nan`
        return None
    if isinstance(gold, (list, tuple)):
        parts = [p for g in gold for p in (normalize_gold(g, multiple_answer) or ())]
        return tuple(parts) or None
    if isinstance(gold, bool):
        gold = str(gold)
    if isinstance(gold, float):
        gold = float_text(gold)
    elif not isinstance(gold, str):
        gold = str(gold)
    text = gold.strip()
    if not text:
        return None
    if "####" in text:
        text = after_hashes(text)
    elif "\\boxed" in text or "\\fbox" in text:
        boxes = outer_boxes(text)
        if len(boxes) > 1:  # `\boxed{1} and \boxed{-2}`: a gold with several boxes has several parts
            return tuple(rewrite(_unwrap(b)) for b in boxes)
        if boxes:
            text = boxes[-1]
    if _DOLLAR_PARTS.match(text):
        parts = []
        for part in map(_unwrap, _DOLLAR_PART.findall(text)):
            listed = split_top_level(part)
            parts += listed if len(listed) > 1 and all(_TUPLE_PART.match(t) for t in listed) else [part]
        return tuple(parts)
    text = rewrite(_unwrap(text))
    if multiple_answer and not _THOUSANDS.match(text):
        return tuple(split_parts(text)) or None
    return (text,) if text else None


# Two boxes joined by "or", "and" or a comma state two answers: "$\\boxed{3}$ or $\\boxed{4}$", "$x = \\boxed{3}$ or
# $x = \\boxed{4}$", "The roots are $\\boxed{-2}$ and $\\boxed{5}$" (the last box alone credited an extraneous root).
_BOXES_OR = re.compile(r"\s*(?:\$|\\\))?\s*(?:,?\s*(?:\b(?:or|and)\b|\\text\s*\{\s*(?:or|and)\s*\}|"
                       r"\\(?:lor|vee)(?![A-Za-z]))|,)\s*"
                       r"(?:(?i:maybe|perhaps|possibly|probably)\s+)?(?:\$|\\\()?\s*(?:[A-Za-z](?:_\{?\w+\}?)?\s*=\s*)?$")
_OR = re.compile(r"\bor\b|\\lor|\\vee")
# ... or a later box offered as another answer, in a sentence of its own: "The answer is $\\boxed{43}$.
# Alternatively, $\\boxed{42}$.", "$\\boxed{43}$ (the other case gives $\\boxed{42}$)": a hedge, both answers (the last
# box alone was paid). A correction ("Wait, actually ...") still replaces the box before it.
# Only where the text between opens with the hedge and both boxes are whole numbers that differ (AIME's answers, most
# GRPO rewards'): a restatement in another form (`x > 2`, then `(2, \\infty)` "in interval notation") and a hedge word
# that ends the first box's own sentence ("... gives \\boxed{3}, and the other case is symmetric") join nothing.
_HEDGE_OPENS = re.compile(r"(?:\s|\$|\\\)|[.,;:!]|\*\*)*(?:\(\s*)?(?i:alternatively|or\s+possibly|or\s+maybe|or\s+perhaps|"
                          r"(?:the\s+)?other\s+case\s+(?:gives|is|yields))\b[^.\n]{0,40}$")
_INTEGER = re.compile(r"-?\d+")
_SPACES = re.compile(r"\s+")
_JOINER_SPAN = 200  # more text than this between two boxes joins nothing
# The name a box is the value of: `a = \\boxed{4}`, `$b = \\boxed{9}$`.
_BOX_NAME = re.compile(r"(?<![A-Za-z\\])([A-Za-z](?:_\{?\w+\}?)?)\s*=\s*(?:\$|\\\()?\s*$")
# A box the text rules out: "not \\boxed{3}", "\\boxed{3} is incorrect" (not "if not \\boxed{5}", a hedge, nor a
# question, "\\boxed{5} is wrong?").
_BOX_DENIED_BEFORE = re.compile(r"(?i:(?<!\bif )\b(?:not|isn't|rather than|instead of))\s*(?:\$|\\\()?\s*$")
_BOX_DENIED_AFTER = re.compile(r"\s*(?:(?:\$|\\\))\s*)?(?i:is|was)\s+(?i:not\s+(?:the\s+)?(?:answer|correct|right)|wrong|"
                               r"incorrect|false)(?=[ \t]*(?:[.!,;]|\n|$))")
# A correction after the boxes that restates the answer and ends its sentence: "Wait, actually the answer is 4.",
# "Hmm, actually it's $4$." ("it's 4 times 5", "it's $4$ or $5$", "it's 4?" correct nothing). No two repetitions
# may take the same white space: linear on any text.
# The words that start a correction of an answer just given; the choice verifier reads them too.
CORRECTION_CUE = r"(?i:\b(?:wait|actually|correction|on second thought|scratch that|oops)\b)"
_CORRECTED_STATEMENT = re.compile(
    CORRECTION_CUE + r"[ \t]*(?:[,:;.!—–-][ \t]*)?"
    r"(?i:the[ \t]+(?:correct[ \t]+|final[ \t]+)?answer[ \t]+(?:is|should be|must be)|it'?s|it[ \t]+is)[ \t]*(?::[ \t]*)?"
    r"(?:\$([^$]{1,200})\$|\\\((.{1,200}?)\\\)|(-?[0-9][0-9,]*(?:\.[0-9]+)?))(?=[ \t]*(?:[.!]|\n|$))")


def answer_boxes(text: str) -> tuple[list[str], int]:
    """The contents of the boxes that state the answer, and where the last box ends (0 without one):
    a box the text rules out ("not \\boxed{3}", "\\boxed{3} is wrong") is left out, and boxes joined by
    "or", "and" or a comma are one box of both answers ("3, 4"; one when they hold one value, `\\frac12` or
    `0.5`)."""
    boxes: list[list[str]] = []  # each answer's parts: boxes joined by "or", "and" or "," are one answer
    last_end, joined_to, last_name = 0, None, None
    for start, end, content in find_boxes_at(text):
        if _BOX_DENIED_BEFORE.search(text, max(0, start - 20), start) or _BOX_DENIED_AFTER.match(text, end):
            last_end, joined_to = end, None
            continue
        part = _signed(text, start, content.strip())
        name = _BOX_NAME.search(text, max(0, start - 40), start)
        name = name.group(1)[0] if name else None  # its letter: `x_1` and `x_2` are two values of one x
        between = text[last_end:start]
        # white space squeezed first: runs of it between two boxes made the joiner's regex cubic (seconds per pair)
        joiner: Any = _BOXES_OR.fullmatch(_SPACES.sub(" ", between)) if len(between) <= _JOINER_SPAN else None
        if (joiner is None and boxes and len(boxes[-1]) == 1 and _HEDGE_OPENS.match(between)
                and _INTEGER.fullmatch(boxes[-1][0]) and _INTEGER.fullmatch(part) and boxes[-1][0] != part
                and not (name and last_name and name != last_name)):
            joiner = True  # "\\boxed{43}. Alternatively, \\boxed{42}": another whole number offered beside the first
        elif joiner and not _OR.search(joiner.group(0)) and name and last_name and name != last_name:
            joiner = None  # `$a = \\boxed{4}$ and $b = \\boxed{9}$`: two quantities, not two answers for one (but
            # `$x_1 = \\boxed{-2}$ and $x_2 = \\boxed{5}$` are two roots)
        last_name = name
        if boxes and joined_to == len(boxes) - 1 and joiner:
            # one value written twice (`\\frac12` or `0.5`) is one answer; checked for a pair only, so a long run
            # of joined boxes costs no more than reading them
            if not (len(boxes[-1]) == 1 and _one_stated_value([boxes[-1][0], part])):
                boxes[-1].append(part)
            last_end = end
            continue
        boxes.append([part])
        joined_to, last_end = len(boxes) - 1, end
    return [", ".join(parts) for parts in boxes], last_end


def _signed(text: str, start: int, content: str) -> str:
    """A box's content with the minus written just before it in math ("$-\\boxed{3}$", "x = -\\boxed{3}",
    "\\(-\\boxed{3}\\)"): a sign (a `$`, `(`, `=` or `\\(` before it on its line), not a subtraction nor a
    list's bullet."""
    before = text[max(0, start - 40):start]
    before = before[before.rfind("\n") + 1:].rstrip()
    if not before.endswith(("-", "−")) or not before[:-1].rstrip().endswith(("$", "(", "=", "\\(", "\\[")):
        return content
    return f"-{content}" if _PLAIN_TOKEN.fullmatch(content) else f"-({content})"


_PLAIN_TOKEN = re.compile(r"[0-9.]+|\\?[A-Za-z]+|\\frac\{[^{}]*\}\{[^{}]*\}")


def corrected_statement(text: str, after: int) -> str | None:
    """The answer the last correction after offset `after` states ("Wait, actually the answer is 4."), or None."""
    found = None
    for m in _CORRECTED_STATEMENT.finditer(text, after):
        found = (m.group(1) or m.group(2) or m.group(3) or "").strip() or found
    return found


def final_statement(text: str, after: int, unboxed: bool = False) -> str | None:
    """The X of the last "final answer is $X$" that starts at or after offset `after` (not denied: "I cannot
    say", "if", "suppose"), else None; "$X$ or $Y$" is both, `X, Y`. unboxed: the text has no box, and "the
    answer is $X$" states it too (_STATED_ANSWER), where nothing after it holds math or a digit (a correction
    after it, "Wait, that's wrong ... we get $3$", and a remark, "where $x = 7$", are math-verify's to read; a
    "final answer" is final whatever follows it)."""
    found = None
    for m in (_STATED_ANSWER if unboxed else _FINAL_STATEMENT).finditer(text, after):
        if _STATEMENT_DENIED.search(text, max(after, m.start() - 80), m.start()) \
                or (unboxed and _QUALIFIER_AFTER.match(text, m.end())):
            continue  # denied, or no box and `$5$ thousand` (qualified_number's to refuse)
        stated, end = [(m.group(1) or m.group(2)).strip()], m.end()
        relation = bool(_RELATION.search(stated[0]))
        while (more := _MORE_STATED.match(text, end)) and (relation or not _RELATION.search(more.group(1) or more.group(2))):
            stated.append((more.group(1) or more.group(2)).strip())
            end = more.end()
        if len(stated) == 1 and (listed := _listed_spans(text, end, stated[0])):  # "$69$, $84$": one list
            stated, end = stated + listed[0], listed[1]
        # "$5$ or $4$" is two answers, "$x=-2$ or $x=3$" two solutions; "$2$, or $x = 2$" one (a relation after a
        # value restates it); "$\\frac12$ or $0.5$" one value
        if len(stated) > 1 and _one_stated_value(stated):
            stated = stated[:1]
        found = ", ".join(x for x in stated if x)
        if unboxed and _MATH_OR_DIGIT.search(text, end) \
                and not _FINAL_BEFORE.search(text, max(0, m.start() - 20), m.start()):
            found = None
    return found or None


# ... and more joined to it by a comma or "and", the line ending after the last: a list ("$5$, and $n$ is the number of
# ways" is a remark after one answer)
_LISTED_STATED = re.compile(r"(?:[ \t]*,[ \t]*(?:and[ \t]+)?|[ \t]+and[ \t]+)" + _MATH_SPAN, re.I)
_LINE_ENDS = re.compile(r"[ \t]*[.!]?[ \t]*(?:\*\*)?[ \t]*(?:\n|$)")


def _listed_spans(text: str, end: int, first: str) -> tuple[list[str], int] | None:
    """The spans a comma or "and" lists after the stated `first` at `end`, and where they end, when the line ends
    there and every one is a number's (`$3$, $5$, and $7$`): a relation restates a value (`$12$ and $n = 12$`), a
    percentage restates a fraction (`$\\frac12$, $50\\%$`), and a span without a digit names what a remark is about
    (`$5$, $n$`); then None, and `first` alone is read."""
    spans = []
    while more := _LISTED_STATED.match(text, end):
        spans.append((more.group(1) or more.group(2)).strip())
        end = more.end()
    if not spans or not _LINE_ENDS.match(text, end) \
            or any(_RELATION.search(x) or "%" in x or not any(c.isdigit() for c in x) for x in [first, *spans]):
        return None
    return (spans, end) if not _one_stated_value([first, *spans]) else None


_MATH_OR_DIGIT = re.compile(r"[$\d]|\\[(\[]")
_FINAL_BEFORE = re.compile(r"final\s+$", re.I)  # "the final answer is $X$" holds whatever follows it


_RELATION = re.compile(r"[=<>]|\\(?:le|ge|leq|geq|neq|ne|approx|lt|gt|equiv)(?![A-Za-z])")


def _one_stated_value(stated: list[str]) -> bool:
    values = [simple_value(x) for x in stated]
    if any(v is None for v in values):
        return False
    try:
        return _one_value([(Fraction(v), x) for v, x in zip(values, stated)])
    except (ValueError, ArithmeticError):
        return False


# An unboxed last line that lists several numbers as its answer: `The answer is 4, 5, 6.`, `x = 4 or 5`,
# `Candidates: 4; 5; 6`, `4; 5; 6` (not `Check: 10 and 8`). math-verify would read one of them (the first,
# or the last) as the answer. One value written two ways (`0.5 or 1/2`) is one answer.
_LISTED_VALUE = r"[-+]?(?:\d{1,3}(?:,\d{3})+(?!\d)(?:\.\d+)?|\d+(?:\.\d+)?(?:/\d+)?|\.\d+)"
# (each value may name its unknown again: `x = 2 or x = 3`, `The answer is x = 4 or 5.`)
_LIST_JOIN = r"(?:\s*,\s+|\s*;\s*|\s+(?:or|and)\s+)"
_LIST_SEPARATOR = _LIST_JOIN + r"(?:\\?[A-Za-z]\w*[ \t]*=[ \t]*)?"
# ... in the match, the unknown named again must be the one the list opened with (`a = 2 and b = 3` are two quantities)
_SAME_UNKNOWN_SEPARATOR = _LIST_JOIN + r"(?:(?:(?P=var)|(?P=var0))[ \t]*=[ \t]*)?"
# No two repetitions here may take the same white space (`\s*:?\s*` backtracked cubically: 80 s on a line of 2,000
# spaces after "answer is").
_LISTED = re.compile(r"^(?:(?P<answer>.*?(?:\banswers?\s*(?:is|are|:|=)|答案\s*(?:是|为|:))(?:\s*:)?)|.*?\b(?:candidates?|options?"
                     r"|possibilities|solutions?|values?|roots?)\s*(?:is|are|:|=)(?:\s*:)?|\s*(?P<var0>\\?[A-Za-z]\w*)\s*=)?"
                     rf"\s*(?:either\s+)?(?:(?P<var>\\?[A-Za-z]\w*)[ \t]*=[ \t]*)?(?:\$\s*)?"
                     rf"(?P<list>{_LISTED_VALUE}(?:{_SAME_UNKNOWN_SEPARATOR}{_LISTED_VALUE})+)(?:\s*\$)?"
                     r"(?:\s+[A-Za-z]{2,}){0,2}(?:\s*\.)?\s*$", re.I)  # `3 or 4 hours.`
# Bold around a number is no part of it: `The answer is **5** or **4**.`
_BOLD = re.compile(r"\*\*|__")
# An answer stated before that line: the line is a remark after it ("The answer is 5.\nThe roots are 2 and 3.").
_STATED = re.compile(r"\banswers?\s*(?:is|are|:|=)", re.I)


# Full-width punctuation (Chinese and Japanese answers) as the ASCII it stands for, and ideographs, kana and hangul
# set apart from what follows or precedes them: math-verify reads a number only at a word's edge, and to Python's
# regexes `是42` is one word, so `答案是42。` and `答案：42` held no answer.
_FULL_WIDTH = str.maketrans({"：": ": ", "，": ", ", "。": ". ", "；": "; ", "（": " (", "）": ") ", "！": "! ",
                             "？": "? ", "　": " "})
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af"  # kana, ideographs, hangul
_CJK_EDGE = re.compile(f"(?<=[{_CJK}])(?=[^\\s{_CJK}])|(?<=[^\\s{_CJK}])(?=[{_CJK}])")


# A sign, scale or joiner written in Chinese beside a digit is part of what the number says: set apart, `负5`
# (minus 5) would read 5, `3万` (30,000) 3, `3分之1` (a third) 1, and `42或43` (42 or 43) 42. A last clause with
# numbers that holds one is left as it was (unread: no answer); one earlier (`从1到100的和`) is no matter.
_CJK_NUMBER_WORDS = re.compile(r"(?:负|或者?|和|与|及|、|至|到)\s*\d|\d\s*(?:万|亿|千|百|十|分之|或者?|和|与|及|、|至|到)")
_THOUSANDS_COMMA = re.compile(r"(?<=\d)，(?=\d{3}(?!\d))")


# Set apart, a Chinese answer is read by its last number, so what the clauses say around it counts: the clause that
# states the answer (`答案是42`) ends what is read (a remark after it, `共用了3步`, "it took 3 steps", and a note in
# brackets in it, `（即3种情况之和）`, are no answer); a clause that denies a value (`不是5`, "not 5") is left out; a
# last clause that hedges or asks (`可能`, "maybe"; `吗`, `？`) leaves the answer unread, as a joiner does.
_CLAUSE = re.compile(r"[^。，；！？\n]*[。，；！？\n]?")
_CJK_STATED = re.compile(r"答案|结果")
_CJK_NOTE = re.compile(r"（[^（）]*）")
_LIST_CLAUSE = re.compile(r"^\s*[-+]?\d[\d.,/]*\s*[。，；！？\n]?$")
_CJK_DENIAL = re.compile(r"^\s*(?:(?:而|但)?(?:不是|并非|不为|不等于)|而非)")
_CJK_EITHER = re.compile(r"(?:不是|并非)\s*[-+]?\d[\d.,/]*\s*(?:就是|便是|就|便|即是)")
_CJK_STATED_DENIAL = re.compile(r"(?P<lead>(?:答案|结果)[^。，；！？\n]*?)(?:不是|并非|不为|不等于|而非)\s*[-+]?\d[\d.,/]*")
_CJK_HEDGE = re.compile(r"可能|也许|或许|吗|[？?]\s*$")


def spaced_cjk(answer: str) -> str:
    """An unboxed answer as math-verify can read it: full-width punctuation as ASCII, a space at each edge between
    CJK script and anything else (`答案是42。` is `答案是 42. `), read up to the clause that states the answer and
    without clauses that deny a value. Text without CJK, or whose last clause with a digit holds a Chinese sign,
    scale or joiner beside one (_CJK_NUMBER_WORDS) or hedges or asks (_CJK_HEDGE), is returned as it is."""
    if not any(c >= "\u3000" for c in answer):
        return answer
    text = _THOUSANDS_COMMA.sub(",", answer)  # `1，000`
    # a value the answer is said not to be (`答案不是5而是6`, "the answer is not 5 but 6") is no answer: it goes, and
    # what corrects it is read, in this clause or the next
    if _CJK_EITHER.search(text):  # `不是5就是6`, "if not 5 then 6": either of two, a hedge (unread: no answer)
        return answer
    while True:  # `答案不是5也不是6，而是7`: each denied value goes
        text, denied = _CJK_STATED_DENIAL.subn(lambda m: m.group("lead") + " ", text, count=1)
        if not denied:
            break
    clauses = [c for c in _CLAUSE.findall(text) if c]
    numbered = [i for i, c in enumerate(clauses) if any(ch.isdigit() for ch in c)]
    stated = next((i for i in reversed(numbered) if _CJK_STATED.search(clauses[i])), None)
    if stated is not None:  # clauses of a number alone after it go on its list (`答案是42，43。`)
        listed = stated + 1
        while listed < len(clauses) and _LIST_CLAUSE.match(clauses[listed]):
            listed += 1
        clauses = clauses[:stated] + [_CJK_NOTE.sub("", clauses[stated])] + clauses[stated + 1:listed]
    clauses = [c for c in clauses if not (_CJK_DENIAL.match(c) and any(ch.isdigit() for ch in c))]
    last = next((c for c in reversed(clauses) if any(ch.isdigit() for ch in c)), "")
    if _CJK_NUMBER_WORDS.search(last) or _CJK_HEDGE.search(last):
        return answer
    return _CJK_EDGE.sub(" ", "".join(clauses).translate(_FULL_WIDTH))


# An unboxed last line that states its answer in LaTeX outside math mode: `The answer is 2^{10}.`, `Answer: 5\sqrt{2}`.
# math-verify reads only the number before the markup (2, 5), which matched golds the answer never gave. Words of
# prose outside a command leave the line to math-verify (`2^{10} ways, I think`).
_BARE_STATED = re.compile(r"\banswer\s*(?:is|=|:)\s*(?::\s*)?(?P<x>[^$\n\s][^$\n]{0,79}?)(?:\s*\.)?\s*$", re.I)
# ... or a sentence that states it without the word "answer": `So the total is 5\sqrt{2}.`, `Hence 2^{10} subsets.`
# (after the last "is", "are", "equals", "=" of the line, or an opening "so", "hence", "thus", "therefore")
_CLAIM_HEDGED = re.compile(r"(?i:\b(?:not|never|cannot|if|suppose|assume|assuming|whether|unless|maybe|perhaps|might|"
                           r"could|wrong|false|incorrect)\b|n't\b|\?)")
_BARE_CLAIMED = re.compile(r"^(?:.*(?:\b(?:is|are|equals|be)\b|=)|[ \t]*(?:so|hence|thus|therefore)\b[,:]?)[ \t]*:?[ \t]*"
                           r"(?P<x>[^$\n\s][^$\n]{0,79}?)(?:\s*[.:!])?\s*$", re.I)
# ... not a congruence or an approximation (`Thus 3^{100} \equiv 4 \pmod{7}.`, `2^{-10} \approx 0.001`), whose value is
# after the relation, nor a value with a unit of a letter or two (`10^3 K`, `10^3 m/s`): math-verify's to read
_CLAIM_RELATION = re.compile(r"\\(?:equiv|approx|pmod|bmod|mod|cong|sim|simeq)(?![A-Za-z])")
_CLAIM_UNIT = re.compile(r"\s[A-Za-z]{1,2}(?:/[A-Za-z]{1,2})?$")
_MATH_MODE = re.compile(r"\$|\\[()\[\]]")  # a line that opens math mode anywhere is math-verify's to read
_LATEX_MARK = re.compile(r"[\\^_]")
_MATH_OPENED = re.compile(r"\\[(\[]")
_TEXT_MODE = re.compile(r"\\(?:text|mathrm|mbox)\s*\{[^{}]*\}")
_PROSE_WORD = re.compile(r"(?<![\\A-Za-z])[A-Za-z]{3,}")
# ... or with a noun or two after it, naming what it counts (`28^{2} ways.`, `2^{10} square units`): the LaTeX is the
# answer, where the words hedge, join or deny nothing
_COUNTED = re.compile(r"(?P<x>.*?[^\sA-Za-z])\s+(?P<words>[A-Za-z]{2,}(?:\s+[A-Za-z]{2,})?)", re.S)
_NOT_A_NOUN = frozenset("""or and nor but not no maybe perhaps probably possibly likely think guess believe approx
approximately about roughly around nearly almost than if unless is are was were be plus minus times over divided
squared cubed thousand thousands million millions billion billions trillion percent dozen dozens half less more
hundred hundreds""".split())


def _last_lines(answer: str) -> list[str]:
    """The lines of an unboxed answer's last 2,000 characters that hold anything (its last line is the answer's)."""
    return [line for line in answer[-2_000:].splitlines() if line.strip()]


# An unboxed last line that states a number with a word that changes what it is (`The answer is 5 thousand.`, `5
# squared`, `7 or more`, `5 and a half`, `at least 7`): math-verify reads the number alone, as the boxed and bare-LaTeX
# readings do not. Such a line is left unread (no answer), never scored as the bare number.
# Words after a number that change its value: a scale or a part (`5 thousand`, `5 tenths`), a power, a remainder, a
# bound. (With a noun after the scale, `5 million dollars`, the number may be the answer to "how many million".)
_QUALIFIER = (r"(?:thousands?|millions?|billions?|trillions?|hundreds?|dozens?|tens|halves|thirds|quarters|fourths"
              r"|fifths|sixths|sevenths|eighths|ninths|factorial|over\s+\d+|point\s+(?:zero|one|two|three|four|five|six"
              r"|seven|eight|nine)"
              r"|(?:tenth|hundredth|thousandth|millionth)s?|squared|cubed|remainder\s+\d+|or\s+(?:more|less|fewer|so)"
              r"|and\s+an?\s+(?:half|third|quarter))\b")
_QUALIFIED = re.compile(
    r"\banswers?\s*(?:is|are|:|=)\s*:?\s*(?P<pre>(?:at\s+(?:least|most)|more\s+than|less\s+than|fewer\s+than|up\s+to)\s+)?"
    r"\$?[-+−]?\d(?:[\d,]*\d)?(?:\.\d+)?\$?\s*(?P<post>" + _QUALIFIER + ")?"
    r"(?=\s*[.!]?\s*(?:\*\*)?\s*$)", re.I)  # the line ends there: a value stated after it ("5 squared = 25") is read
# ... after a stated `$5$` too (`The answer is $5$ thousand.`), to its line's end
_QUALIFIER_AFTER = re.compile(r"[ \t]*(?P<q>" + _QUALIFIER + r")(?=[ \t]*[.!]?[ \t]*(?:\*\*)?[ \t]*(?:\n|$))", re.I)


def qualified_number(answer: str) -> str | None:
    """The word that qualifies the number an unboxed answer's last line states (`thousand`, `at least`), else None."""
    lines = _last_lines(answer)
    m = _QUALIFIED.search(_BOLD.sub("", lines[-1])) if lines else None
    if m is None or _STATEMENT_DENIED.search(lines[-1], 0, m.start()):
        return None
    return (m.group("pre") or m.group("post") or "").strip() or None


def bare_latex_answer(answer: str) -> str | None:
    """The LaTeX an unboxed answer's last line states outside math mode (`The answer is 2^{10}.`, `So the total is
    5\\sqrt{2}.`), else None."""
    lines = _last_lines(answer)
    last = _BOLD.sub("", lines[-1]) if lines else ""
    m = _BARE_STATED.search(last)
    if m is not None and _STATEMENT_DENIED.search(last, 0, m.start()):
        return None
    if m is None:  # a claim without the word: not where the line enters math mode, or denies, supposes or asks
        m = None if _MATH_MODE.search(last) or _CLAIM_RELATION.search(last) else _BARE_CLAIMED.match(last)
        if m is None or _CLAIM_HEDGED.search(last, 0, m.start("x")) or _CLAIM_UNIT.search(m.group("x").strip()):
            return None
    stated = m.group("x").strip()
    counted = _COUNTED.fullmatch(stated)
    if counted and not _NOT_A_NOUN.intersection(counted.group("words").lower().split()):
        stated = counted.group("x")
    if not _LATEX_MARK.search(stated) or _MATH_OPENED.search(stated) or not balanced(stated) \
            or _PROSE_WORD.search(_TEXT_MODE.sub("", stated)):
        return None
    return stated


# An unboxed last line that states a tuple or an interval in prose: `The answer is (2, 3).`, `The ordered pair is
# (-1, 4).`, `**Answer:** [2, 5)`, `最终答案：(1, 2)`. math-verify reads its last number alone (`3).`), which met a gold
# of 3; it is the tuple, hedged or not (`it might be (2, 3)`), and no answer where the line denies, supposes or asks it.
_STATED_TUPLE = re.compile(r"(?:\b(?:is|are|equals|be)\b(?:[ \t]+not\b)?|\b(?i:answer)\b[ \t]*[:=]?|=|答案\s*(?:是|为|:))[ \t]*(?P<x>[(\[][^()\[\]\n$]*,[^()\[\]\n$]*[)\]])"
                           r"[ \t]*[.!?]?[ \t]*$")
_TUPLE_DENIED = re.compile(r"(?i:\b(?:not|never|cannot|if|suppose|assume|assuming|whether|unless|wrong|false|"
                           r"incorrect)\b|n't\b)|\?")


def stated_tuple(answer: str) -> tuple[str, bool] | None:
    """(the tuple or interval an unboxed answer's last line states in prose, whether the line denies, supposes or
    asks it), else None: `The answer is (2, 3).` is ("(2, 3)", False)."""
    lines = _last_lines(answer)
    last = _BOLD.sub("", lines[-1]) if lines else ""
    m = _STATED_TUPLE.search(last)
    if m is None or _MATH_MODE.search(last):
        return None
    if not _STATED.search(last) and any(_STATED.search(line) for line in lines[:-1]):
        return None  # "The answer is 5.\nIt is attained at (1, 4).": a remark after the answer (as listed_parts)
    clause = max(last.rfind(c, 0, m.start("x")) for c in ",;.") + 1  # its own clause: "Since a cannot be negative,"
    return m.group("x"), bool(_TUPLE_DENIED.search(last, clause, m.start("x")) or _TUPLE_DENIED.search(last, m.end("x")))


# `\$180` outside math mode (markdown escapes the dollar): currency. math-verify reads a number only after a space
# or an `=`, so `So the answer is \$180.` and `Answer: \$40` held no answer.
_ESCAPED_CURRENCY = re.compile(r"\\\$(?=\s*[\d.])")


def without_currency(answer: str) -> str:
    """An unboxed answer with each escaped dollar sign before a number dropped (`\\$180` is 180)."""
    return _ESCAPED_CURRENCY.sub("", answer) if "\\$" in answer else answer


# "The answer is not 5; it is 7.", "If the answer were 5, ...", "I first thought the answer was 5, but ...": a value
# the text denies, supposes or once believed is no answer. math-verify reads the number after "answer" first, so such
# a 5 was the answer (and 7 wrong). A belief counts as given up only where it says so: "at first", "initially" before
# it, or a "but", "however", "actually" after it in its sentence or opening the next; "as I suspected" confirms it.
_VALUE = r"(?:\$[^$\n]{1,200}\$|[-+]?\d[\d,]*(?:\.\d+)?)"
_DENIED_VALUE = re.compile(r"(\banswer\s+(?:is\s+not|isn[’']t|was\s+not|wasn[’']t|were)\s+)" + _VALUE, re.I)
_BELIEVED_VALUE = re.compile(r"(\b(?:thought|guessed|assumed|believed|expected|suspected)\s+(?:that\s+)?(?:the|my)\s+"
                             r"answer\s+(?:was|would\s+be|might\s+be|could\s+be)\s+)" + _VALUE, re.I)
_GIVEN_UP_BEFORE = re.compile(r"\b(?:at first|first|initially|originally|earlier)\b[^.\n]*$", re.I)
_CONFIRMED_BEFORE = re.compile(r"\bas\s+(?:i\s+|we\s+)?$", re.I)
_GIVEN_UP_AFTER = re.compile(r"[^.\n]{0,80}?(?:\bbut\b|\bhowever\b|\bactually\b|[.;]\s*(?:but|however|actually|wait|no)\b)",
                             re.I)


def _given_up(m: re.Match) -> str:
    """The belief's words without its value where the text gives the belief up, else the match as written."""
    before = m.string[max(0, m.start() - 60):m.start()]
    if _CONFIRMED_BEFORE.search(before) or not (_GIVEN_UP_BEFORE.search(before) or _GIVEN_UP_AFTER.match(m.string,
                                                                                                            m.end())):
        return m.group(0)
    return m.group(1)
# "Let me double-check my answer with 3 cases.": an answer checked, not stated; math-verify read its 3
_CHECKED_ANSWER = re.compile(r"(\b(?:re-?|double-?)?(?:check|verify|confirm|test)(?:ing|ed|s)?\s+(?:my|the|this|our|that)\s+)"
                             r"answer\b", re.I)


def without_denied_values(answer: str) -> str:
    """An unboxed answer without the values its text denies, supposes or once believed (`the answer is not 5`:
    `the answer is not`), and with an answer it checks no longer called one (`check my answer with 3 cases`)."""
    if "answer" not in answer.lower():
        return answer
    return _CHECKED_ANSWER.sub(r"\1work", _BELIEVED_VALUE.sub(_given_up, _DENIED_VALUE.sub(r"\1", answer)))


def fallback_text(answer: str) -> str:
    """The end of a box-less answer as math-verify's own extraction is to read it: its last FALLBACK_CHARS, mixed
    numbers as fractions and Unicode minus signs as ASCII, CJK set apart (spaced_cjk), escaped dollars before numbers
    dropped, values the text denies or supposes dropped."""
    tail = _mixed_numbers(answer[-FALLBACK_CHARS:].translate(_PLAIN_MINUS), latex=False)
    if "π" in tail or "√" in tail:
        tail = _UNICODE_ROOT.sub(r"\\sqrt{\1}", tail).replace("π", "{\\pi}")
    return without_denied_values(without_currency(spaced_cjk(tail)))


# `3π`, `3√2` in prose, as LaTeX (`3\pi`, `3\sqrt{2}`): math-verify's extraction read the number before the sign alone
# (`The area is 3π square units.` met a gold of 3); as LaTeX the line is read whole (bare_latex_answer).
_UNICODE_ROOT = re.compile(r"√\s*(\d+(?:\.\d+)?|[A-Za-z]|\([^()\n]{1,40}\))")


# A minus sign written as Unicode's (or a full-width one) in prose: math-verify's extraction reads no number after it
# (`The answer is −7.` had no answer).
_PLAIN_MINUS = str.maketrans({"\u2212": "-", "\ufe63": "-", "\uff0d": "-"})


def listed_parts(answer: str) -> tuple[str, ...] | None:
    """The numbers an unboxed answer's last line lists as its answer (two or more), else None."""
    lines = _last_lines(answer)
    match = _LISTED.match(_BOLD.sub("", lines[-1])) if lines else None
    if match is None or not match.group("answer") and any(_STATED.search(line) for line in lines[:-1]):
        return None
    parts = tuple(re.split(_LIST_SEPARATOR, match.group("list")))
    try:
        if _one_value([(Fraction(p.lstrip("+").replace(",", "")), p) for p in parts]):
            return None
    except (ValueError, ZeroDivisionError):  # `1/0`: compared as written
        pass
    return parts


def _one_value(values: list[tuple[Fraction, str]]) -> bool:
    """(value, as written) pairs that are one value: equal, or a decimal that is the others' exact value
    rounded or cut at its last digit (`2/3 or 0.67`; not `0.5 or 1`, not `4 or 4.1`)."""
    exact = {v for v, written in values if "." not in written}
    if len(exact) > 1:
        return False
    if not exact:
        return len({v for v, _ in values}) == 1
    value = exact.pop()
    return all(v == value or _decimal_of(value, Decimal(written.replace(",", "")), digits=2)
               for v, written in values)


# `\textbf{(C) }42`, `(C)\ 42`: an AMC-style answer names its option and the option's value. Against a gold that is
# a letter it is the letter; against any other, the value. A second label (`(A) 1 (B) 2`) is several options, left
# as written.
_FONTS = r"\\(?:text|textbf|textrm|mathrm|mathbf)\s*"
_CHOICE_LABEL = re.compile(rf"^\s*(?:{_FONTS}\{{\s*\(\s*([A-E])\s*\)\s*\}}|\(\s*([A-E])\s*\))"
                           r"(?:\s|~|\\[ ,;:!]|\\q?quad(?![A-Za-z]))*(?=\S)")
_LETTER_GOLD = re.compile(rf"^\s*(?:{_FONTS}\{{\s*\(?\s*[A-E]\s*\)?\s*\}}|\(?\s*[A-E]\s*\)?)\s*$")
_ANOTHER_LABEL = re.compile(r"\(\s*[A-E]\s*\)")
# ... nor a label and a list or alternatives (`(C), 7`, `(C) or 7`, `(C)\ 42 \lor 43`): those are several answers
_MORE_THAN_ONE = re.compile(r"[,;]|\b(?:or|and)\b|\\(?:lor|vee)(?![A-Za-z])")


def without_choice_label(part: str, gold: tuple[str, ...]) -> str:
    """An answer part that opens with an option's label (`\\textbf{(C) }42`) as the gold is written: the letter
    against a letter gold, the value after the label against any other."""
    m = _CHOICE_LABEL.match(part)
    if m is None or _ANOTHER_LABEL.search(part, m.end()) or _MORE_THAN_ONE.search(part, m.end()):
        return part
    if any(_LETTER_GOLD.match(g) for g in gold):
        return m.group(1) or m.group(2)
    return rewrite(part[m.end():])


# The parts of one box joined by words or spacing (`\text{ and }`, `\text{ or }`, `\quad`, `;`) rather than commas.
_WORD_JOINER = re.compile(r"\s*(?:\\(?:text|textrm|textnormal|mathrm|mbox)\s*\{\s*(?:and|or|,)\s*\}"
                          r"|\\q?quad(?![A-Za-z])|;)\s*")


def candidate_parts(boxes: list[str], gold: tuple[str, ...]) -> tuple[str, ...]:
    """Pick the answer's parts from its boxes: the last box, or the last k boxes for a k-part gold.

    A multi-part gold is met by one box holding every part (`\\boxed{69, 84}`) or by one box per part
    (`\\boxed{69}` … `\\boxed{84}`). A single gold with top-level commas (`1,3,5`) is met the same
    ways: the last k boxes are joined when the last box alone holds fewer parts.
    """
    last = boxes[-1].strip()
    if len(gold) > 1:
        if len(boxes) >= len(gold) and _THOUSANDS.match(last):  # `\boxed{1,000} and \boxed{2,000}`
            return tuple(b.strip() for b in boxes[-len(gold):])
        inside = split_top_level(last)
        if len(inside) != len(gold) and len(grouped := split_parts(last)) == len(gold):
            inside = grouped  # `\boxed{1,000, 2,000}`
        if len(inside) != len(gold) and len(joined := split_top_level(_WORD_JOINER.sub(",", last))) == len(gold):
            inside = joined  # `f(x)=x+1 \text{ and } f(x)=-1`: math-verify reads numbers so joined, not equations
        if len(inside) >= len(gold) or len(boxes) < len(gold):
            return tuple(inside)
        return tuple(b.strip() for b in boxes[-len(gold):])
    k = 1 if _THOUSANDS.match(gold[0]) else len(split_top_level(_SET_LITERAL.sub(r"\1", gold[0])))
    if k > 1 and len(boxes) >= k and len(split_top_level(last)) == 1:
        return (", ".join(b.strip() for b in boxes[-k:]),)
    return (last,)


def plain_number(text: str) -> Decimal | None:
    """The exact value of a plain decimal number (`025`, `27.0`, `1,234`, `$-3.5$`), else None."""
    # `12.5\%` is 12.5: golds often give a percentage as the bare number.
    t = _PERCENT.sub("", text.strip().strip("$").replace("{,}", ",").replace("\\!", "")).rstrip(".").strip()
    t = _SPACE_THOUSANDS.sub("", t)  # `1 000`; but `32, 349` is a list, not a number
    if len(t) > 100:
        return None
    if not _PLAIN_NUMBER.match(t):
        m = _SCIENTIFIC.match(t)
        if not m:
            return None
        t = f"{m.group(1)}e{m.group(2)}"
    try:
        return Decimal(t.replace(",", ""))
    except InvalidOperation:  # pragma: no cover - the regexes admit only valid decimals
        return None


def decimal_literal(text: str) -> Decimal | None:
    """The value of a number written with a decimal point or in scientific notation (`0.5`,
    `4.03188`, `1e-5`, `2.5 \\times 10^{3}`), keeping the digits it was written with; else None."""
    number = plain_number(text)
    if number is None:
        return None
    written = text.lower()
    return number if any(mark in written for mark in (".", "e", "times", "cdot")) else None


def same_text(a: str, b: str) -> bool:
    """The same LaTeX up to spacing, `\\left`/`\\right` and `\\dfrac`/`\\tfrac`: surely the same answer."""
    if a == b:
        return bool(a.strip())
    norm = lambda s: _squeeze(_FRAC_VARIANTS.sub(r"\\frac", s))
    return bool(norm(a)) and norm(a) == norm(b)


_NUM = r"(\d+(?:\.\d+)?|\.\d+)"
_ARG = r"(?:\{(\d+)\}|(\d))"  # \frac{12}{5} or brace-less \frac65
_FRAC = r"\\frac\s*"
_ROOT = r"(\d*)\\sqrt\s*(?:\{(\d+)\}|(\d))"
# Simple closed forms a sign away from a value, one row each: (name, pattern, value from the groups).
# Rational rows give an exact Fraction; rows with a root or pi give a float, only trusted to refuse.
SIMPLE_FORMS: tuple[tuple[str, re.Pattern[str], Any], ...] = tuple(
    (name, re.compile("^" + pattern + "$"), value) for name, pattern, value in (
        ("number", _NUM, lambda a: Fraction(a)),
        ("degrees", _NUM + r"\^\{?\\circ\}?", lambda a: Fraction(a)),  # math-verify: 90^\circ = 90
        ("fraction", _FRAC + r"\{" + _NUM + r"\}\{" + _NUM + r"\}", lambda a, b: Fraction(a) / Fraction(b)),
        ("short_fraction", _FRAC + _ARG + r"\s*" + _ARG,
         lambda a, b, c, d: Fraction(a or b) / Fraction(c or d)),
        ("root", _ROOT, lambda a, b, c: int(a or 1) * math.sqrt(int(b or c))),
        ("root_fraction", _FRAC + r"\{" + _ROOT + r"\}\{(\d+)\}",
         lambda a, b, c, d: int(a or 1) * math.sqrt(int(b or c)) / int(d)),
        ("pi", r"(\d*)\\pi", lambda a: int(a or 1) * math.pi),
        ("pi_fraction", _FRAC + r"\{(\d*)\\pi\}\{(\d+)\}", lambda a, b: int(a or 1) * math.pi / int(b)),
    )
)
# A word in text mode (`\\text{Evelyn}`, `\\text{east}`): never equal to a number.
_WORD = re.compile(r"^\s*\\(?:text|textbf|mathrm|mbox)\s*\{\s*[A-Za-z][A-Za-z ]*\}\s*$")
# A list, tuple, interval, set or matrix of several entries: never equal to one number.
_MATRIX = re.compile(r"^\\begin\{[pbvBV]?matrix\}.*(?:\\\\|&).*\\end\{[pbvBV]?matrix\}$", re.S)


def is_compound(text: str) -> bool:
    """Several distinct entries at top level (`(15,-29)`, `3, 5, 7`, `[1,2)`), or a matrix."""
    t = text.strip().strip("$")
    if _THOUSANDS.match(t) or "$" in t:  # `$` inside: prose around math spans, not one compound answer
        return False
    if _MATRIX.match(t):
        return True
    inner = t
    m = re.match(r"^(?:\\left\s*)?(?:\(|\[|\\\{)(.*?)(?:\\right\s*)?(?:\)|\]|\\\})$", t, re.S)
    if m:
        inner = m.group(1)
    parts = split_top_level(inner)
    return len(parts) >= 2 and len(set(parts)) >= 2


def simple_value(text: str) -> Fraction | float | None:
    """The value of a simple closed form (`-\\frac{3}{4}`, `2\\sqrt{3}`, `\\frac{\\pi}{6}`), else None."""
    number = plain_number(text)
    if number is not None:
        return Fraction(number)
    t = _squeeze(_FRAC_VARIANTS.sub(r"\\frac", text)).strip("$")
    if len(t) > 60:
        return None
    sign = -1 if t.startswith("-") else 1
    t = t[1:] if t[:1] in ("+", "-") else t  # one sign: `--5` is no simple form
    for _, pattern, value in SIMPLE_FORMS:
        m = pattern.match(t)
        if m:
            try:
                return sign * value(*m.groups())
            except (ZeroDivisionError, ValueError, OverflowError):
                return None
    return None


# A decimal answer equals an exact gold that is not itself a decimal (`\\frac{2}{3}`, `\\pi`) only with
# at least this many significant digits: `0.666667` is 2/3, `0.67` and `0.6667` are not.
DECIMAL_DIGITS = 6
# An answer equals a decimal gold when it rounds to the gold at the gold's last digit and differs
# from it by at most this relative amount (the tolerance of the Qwen / DeepSeek graders): `4.031882`
# is `4.03188`, `2.501` is not `2.5`.
DECIMAL_GOLD_TOL = Fraction(1, 10_000)


def fast_compare(gold: tuple[str, ...], pred: tuple[str, ...]) -> tuple[bool, str] | None:
    """A verdict without sympy where one is certain: (equal?, how it was decided), or None (ask
    the worker).

    The same text (up to spacing) is equal. Simple values (numbers, fractions, roots, pi) follow
    the decimal rules (see _compare_simple); simple values that clearly differ, or one value
    against several entries or a word, are different. The rest goes to the worker.
    """
    if len(gold) == len(pred) and all(same_text(g, p) for g, p in zip(gold, pred)):
        return True, "same text"
    if len(gold) != 1 or len(pred) != 1:
        return None
    return _compare_simple(gold[0], pred[0])


# Values further apart than this (relative) are different answers; see _mathcheck._REL_TOL.
_REL_TOL = 1e-3


def _significant_digits(d: Decimal) -> int:
    return len(d.as_tuple().digits) if d else 1


def _rounds_to(value: Fraction | float, gold: Decimal) -> bool:
    """value, rounded at the last digit gold was written with, is gold (and within DECIMAL_GOLD_TOL)."""
    g, unit = Fraction(gold), Fraction(10) ** gold.as_tuple().exponent
    diff = abs(Fraction(value) - g)
    return diff <= unit / 2 and diff <= DECIMAL_GOLD_TOL * abs(g)


def _decimal_of(value: Fraction | float, answer: Decimal, digits: int = 0) -> bool:
    """answer is value rounded or cut at answer's own last digit, with DECIMAL_DIGITS digits or more
    (or `digits`)."""
    if _significant_digits(answer) < (digits or DECIMAL_DIGITS):
        return False
    a, unit, v = Fraction(answer), Fraction(10) ** answer.as_tuple().exponent, Fraction(value)
    rounded = abs(v - a) <= unit / 2
    cut = (a == 0 or (a > 0) == (v > 0)) and abs(a) <= abs(v) < abs(a) + unit
    return rounded or cut


def _percent_as_decimal(text: str) -> str | None:
    """`50\\%` as `0.50`: a plain number with a percent sign, as the decimal it stands for, else None."""
    if not _PERCENT.search(text):
        return None
    number = plain_number(text)
    return None if number is None else str(number.scaleb(-2))


def _compare_simple(gold: str, pred: str) -> tuple[bool, str] | None:
    """_compare_values, where a percentage equals both its number (`12.5\\%` = `12.5`) and that
    number over 100 (`50\\%` = `0.5` = `\\frac12`, as math-verify reads it)."""
    found = _compare_values(gold, pred)
    if found is None or found[0]:
        return found
    scaled_gold, scaled_pred = _percent_as_decimal(gold), _percent_as_decimal(pred)
    if scaled_gold is None and scaled_pred is None:
        return found
    again = _compare_values(scaled_gold or gold, scaled_pred or pred)
    return (True, "percentage over 100: " + again[1]) if again and again[0] else found


def _compare_values(gold: str, pred: str) -> tuple[bool, str] | None:
    """The decimal rules for simple values, else: equal exact values are equal; clearly different
    values, or one value against several entries or a word, are different; anything else is None
    (ask the worker)."""
    g, p = simple_value(gold), simple_value(pred)
    if g is None and p is None:
        return None
    if g is None or p is None:
        other = gold if g is None else pred
        if is_compound(other):
            return False, "one value against several entries"
        if _WORD.match(other):
            return False, "one value against a word"
        return None
    if isinstance(g, Fraction) and isinstance(p, Fraction) and g == p:
        return True, "exact value: equal"
    gold_decimal, pred_decimal = decimal_literal(gold), decimal_literal(pred)
    if gold_decimal is not None:  # a decimal gold may be rounded: the answer must round to it
        same = _rounds_to(p, gold_decimal)
        return same, "decimal gold: " + ("the answer rounds to it" if same else "the answer does not round to it")
    if isinstance(g, Fraction) and g.denominator == 1 and isinstance(p, Fraction):  # whole-number golds are exact
        return False, "exact value: not equal"
    if pred_decimal is not None:
        same = _decimal_of(g, pred_decimal)
        return same, "decimal answer: " + ("the gold rounded or cut at its last digit" if same else
                                           f"not the gold's value to {DECIMAL_DIGITS} digits")
    if isinstance(g, Fraction) and isinstance(p, Fraction):
        return False, "exact value: not equal"
    if abs(g - p) > _REL_TOL * max(abs(g), abs(p)):
        return False, "closed form: different values"
    return None
