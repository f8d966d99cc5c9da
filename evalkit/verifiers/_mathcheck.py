"""The sympy side of the math verifier: runs only inside pool workers (evalkit.verifiers.pool).

Importing this module imports math-verify and warms its LaTeX parser, so a worker that preloads it
answers its first job fast. Nothing here has a timeout: the pool kills a worker that overruns.
Everything returned is plain text or bools; no parsed expression ever leaves the worker (its
`str()` alone can hang).
"""

from __future__ import annotations

import logging
import re
from decimal import Decimal
from functools import lru_cache
from typing import Any

from math_verify import parse, verify
from math_verify.parser import ExprExtractionConfig, LatexExtractionConfig, NormalizationConfig

from evalkit.verifiers._mathtext import solution_set

logging.getLogger("math_verify").setLevel(logging.ERROR)  # its "timeout disabled" warning is by design

# Answer candidates and gold parts arrive as box contents; parsing them boxed reads them whole.
# math-verify's own unit removal is off: its list holds single letters (`m`, `t`, `s`), which turns
# `\\frac{37}{4} m` into 37/4 and `b = m` into `b =`; evalkit's REWRITES drop units instead.
_NORMALIZE = NormalizationConfig(basic_latex=True, units=False, malformed_operators=True, nits=True, boxed="all",
                                 equations=False)
_LATEX = (LatexExtractionConfig(boxed_match_priority=0, normalization_config=_NORMALIZE),)
# With no box, math-verify's own extraction reads the answer, and its own settings read the gold too.
_TEXT = (LatexExtractionConfig(), ExprExtractionConfig())
_TEXT_GOLD = (LatexExtractionConfig(boxed_match_priority=0),)
# math-verify rounds numbers to 6 decimals before comparing, so 1/2^98 "equals" 1/2^99. Values that
# differ by more than this relative amount are never equal, whatever the rounding said.
_REL_TOL = 1e-3


@lru_cache(maxsize=4096)
def _parse_boxed(text: str) -> list:
    return parse("$\\boxed{" + text + "}$", extraction_config=_LATEX, parsing_timeout=None)


def _number(x: Any):
    import sympy

    if isinstance(x, sympy.Expr) and x.is_number and not x.free_symbols:
        return x
    return None


def _same_value(g: Any, p: Any) -> bool:
    """False when g and p are plain numbers whose values clearly differ (see _REL_TOL), assignments of
    such values to one symbol, or tuples, intervals or matrices of one size with such a pair in one place."""
    gn, pn = _number(g), _number(p)
    if gn is not None and pn is not None:
        return _close(gn, pn)
    if _assigned(g) is not None and _assigned(g) == _assigned(p):  # `y = 1/2^98` against `y = 1/2^99`
        return _same_value(g.rhs, p.rhs)
    gp, pp = _parts(g), _parts(p)
    if gp is None or pp is None or len(gp) != len(pp):
        return True
    return all(_same_value(a, b) for a, b in zip(gp, pp))


def _assigned(x: Any) -> Any:
    """The symbol an assignment (`y = ...`) gives a value, else None (equations in general are compared
    as wholes: `2x+2y=2` is `x+y=1`)."""
    import sympy

    return x.lhs if isinstance(x, sympy.Eq) and isinstance(x.lhs, sympy.Symbol) else None


def _close(gn: Any, pn: Any) -> bool:
    import sympy

    try:
        diff = abs(sympy.N(gn - pn, 30))
        scale = max(abs(sympy.N(gn, 30)), abs(sympy.N(pn, 30)))
        if not (diff.is_number and scale.is_number) or diff.has(sympy.nan, sympy.zoo):
            return True
        return bool(diff <= _REL_TOL * scale)
    except Exception:
        return True


def _parts(x: Any) -> list | None:
    """The entries of a tuple, an interval's ends, a matrix's entries; else None."""
    import sympy

    if isinstance(x, (sympy.Tuple, tuple, list)):
        return list(x)
    if isinstance(x, sympy.Interval):
        return [x.start, x.end]
    if isinstance(x, sympy.MatrixBase):
        return list(x)
    return None


# Points at which two expressions in free variables are compared before any simplification: an
# identity holds at every point, so a clear difference at one of them settles "not equal" quickly.
_PROBES = ((7, 3), (11, 13))


def _differs_at_a_point(g: Any, p: Any) -> bool:
    """True when g and p are expressions (not equations, sets or matrices) with free variables whose
    values clearly differ at a probe point; False when unsure."""
    import sympy

    # `y = -2x` against 8: math-verify reads an assignment by its right-hand side; so does the probe.
    if isinstance(p, sympy.Eq) and isinstance(p.lhs, sympy.Symbol) and isinstance(g, sympy.Expr):
        p = p.rhs
    elif isinstance(g, sympy.Eq) and isinstance(g.lhs, sympy.Symbol) and isinstance(p, sympy.Expr):
        g = g.rhs
    if not (isinstance(g, sympy.Expr) and isinstance(p, sympy.Expr)):
        return False
    # Only a plain number against an expression in ordinary variables: math-verify also matches
    # symbols by name (`\\text{e}` = e, `\\text{odd}` = odd), which no probe can see.
    if not ((g.is_Number and p.free_symbols) or (p.is_Number and g.free_symbols)):
        return False
    symbols = sorted(g.free_symbols | p.free_symbols, key=lambda s: s.name)
    if len(symbols) > 6 or any(len(s.name) > 1 or s.name in "eiE" for s in symbols):
        return False
    try:
        for a, b in _PROBES:
            point = {s: sympy.Rational(a + 2 * k, b + k) for k, s in enumerate(symbols)}
            gv, pv = sympy.N(g.subs(point), 20), sympy.N(p.subs(point), 20)
            if not (gv.is_number and pv.is_number) or gv.has(sympy.nan, sympy.zoo, sympy.oo, -sympy.oo) \
                    or pv.has(sympy.nan, sympy.zoo, sympy.oo, -sympy.oo):
                return False
            if abs(gv - pv) <= _REL_TOL * max(abs(gv), abs(pv), 1):
                return False
        return True
    except Exception:
        return False


# Rewrites of both parsed sides before math-verify compares them: (name, applies?, rewrite). Each
# runs only where its test holds, in the worker, under the pool's time limit.
def _has_unit_i(x: Any) -> bool:
    import sympy

    return isinstance(x, sympy.Basic) and any(s.name == "i" for s in x.free_symbols)


def _to_unit_i(x: Any) -> Any:
    import sympy

    # By name: the parser may give the symbol assumptions, so Symbol("i") need not match it.
    if not isinstance(x, sympy.Basic):
        return x
    unit = {s: sympy.I for s in x.free_symbols if s.name == "i"}
    if isinstance(x, sympy.Interval):  # `(i(2-i), 3)` read as an interval: a pair, as its ends can be complex
        x = sympy.Tuple(x.start, x.end)
    if isinstance(x, (sympy.Tuple, sympy.FiniteSet)):  # `\\{i^2, 2\\}`, `(1+2i, 3)`: element by element
        return x.func(*(_to_unit_i(a) for a in x.args))
    return sympy.expand(x.xreplace(unit)) if isinstance(x, sympy.Expr) else x.xreplace(unit)


def _has_hyperbolic(x: Any) -> bool:
    import sympy

    return isinstance(x, sympy.Basic) and x.has(sympy.sinh, sympy.cosh, sympy.tanh, sympy.coth)


def _to_exp(x: Any) -> Any:
    import sympy

    return x.rewrite(sympy.exp) if isinstance(x, sympy.Basic) else x


def _assigned_value(x: Any) -> Any:
    """`b = m` read as m: an equation whose left side is a lone symbol is its right side."""
    import sympy

    return x.rhs if isinstance(x, sympy.Eq) and isinstance(x.lhs, sympy.Symbol) else x


SIDE_REWRITES = (
    # `i(2-i)` = `1+2i`: where either side has the symbol i, it is the imaginary unit.
    ("imaginary_unit", lambda g, p: _has_unit_i(g) or _has_unit_i(p), _to_unit_i),
    # `\\frac{\\sinh(at)}{a}` = `\\frac{e^{at}-e^{-at}}{2a}`: hyperbolic functions in exponential form.
    ("hyperbolic", lambda g, p: _has_hyperbolic(g) != _has_hyperbolic(p), _to_exp),
    # `b = m` = `m`: an assignment to a lone symbol against a gold that is no equation (and back).
    ("assignment", lambda g, p: _is_eq(g) != _is_eq(p), _assigned_value),
)


def _is_eq(x: Any) -> bool:
    import sympy

    return isinstance(x, sympy.Eq)


def _pair_equal(g: Any, p: Any) -> bool:
    # Cheap refusals first; math-verify's simplification only for what they cannot settle.
    if _same_value(g, p) and not _differs_at_a_point(g, p) and verify(g, p, timeout_seconds=None, allow_set_relation_comp=True):
        return True
    changed = False
    for _, applies, rewrite in SIDE_REWRITES:
        if applies(g, p):
            try:
                g, p, changed = rewrite(g), rewrite(p), True
            except Exception:  # noqa: BLE001 - a form the rewrite cannot take (a set of sets): compared unrewritten
                continue
    return changed and _same_value(g, p) and not _differs_at_a_point(g, p) and bool(verify(g, p, timeout_seconds=None, allow_set_relation_comp=True))


def _equal(gold: list, pred: list) -> bool:
    return any(_pair_equal(g, p) for g in gold for p in pred)


def _text_equal(a: str, b: str) -> bool:
    norm = lambda s: "".join(s.split()).strip("$.").lower()
    return bool(norm(a)) and norm(a) == norm(b)


# A chain of equations between numbers, `5 = 4`, `2+2 = 5 = 4`, `\\frac{250}{3} = 83`, `x = 5 = 4` (a name first
# is an assignment's): split at each `=` that is no part of `<=`, `>=`, `!=`, `:=` or `==`, and at each `\\approx`
# (`e^2 \\approx 7.39` is either side, as `\\frac13 = 0.33` is; `7 \\approx 8` is as false as `7 = 8`).
_EQUALS = re.compile(r"((?<![<>!:=\\])=(?!=)|\\approx(?![A-Za-z]))")
# A name (`x`, `a_1`, `\\alpha`): not a value written with a command (`\\frac13`, `\\sqrt2`, `\\pi`).
_NAME_SIDE = re.compile(r"^\s*(?:[A-Za-z]\w*|\\(?!(?:[dt]?frac|sqrt|binom|pi)(?![A-Za-z]))[A-Za-z]+)(?:_\{[^{}]*\}|_\w)?\s*$")
_WRITTEN_NUMBER = re.compile(r"^\s*[+-]?\d+(?:\.\d+)?\s*$")
# The fewest significant digits a side may be rounded to (`\\frac13 = 0.33`, `\\frac{250}{3} = 83`; `0.5 = 1`
# is no rounding).
_ROUNDED_DIGITS = 2


def _side_value(side: str) -> Any:
    """The value of one side of an equation, when it is a number (a numeral with its base, `1011_2`, too)."""
    import sympy

    based = _based(side)
    if based is not None:
        try:
            return sympy.Integer(int(based[0], based[1]))
        except ValueError:
            return None
    parsed = _parse_boxed(side)
    return _number(parsed[0]) if parsed else None


def _statement(pred: str) -> tuple[list[tuple[str, Any]], list[bool]] | None:
    """The sides (text, value) of an answer that is a chain of equations between numbers, and for each link
    whether it is an approximation (`\\approx`), else None.

    What the parse would leave out makes it no plain statement: a modulus (`17 \\equiv 2`), currency,
    percent, words (_NOT_PLAIN_STATEMENT)."""
    if ("=" not in pred and "\\approx" not in pred) or any(mark in pred for mark in _NOT_PLAIN_STATEMENT):
        return None
    split = _EQUALS.split(pred)
    sides, links = split[::2], [link != "=" for link in split[1::2]]
    if len(sides) > 2 and _NAME_SIDE.match(sides[0]):
        sides, links = sides[1:], links[1:]  # `x = 5 = 4`: the name's value is the chain after it
    if len(sides) < 2 or not all(side.strip() for side in sides):
        return None
    values = [_side_value(side) for side in sides]
    return None if any(v is None for v in values) else (list(zip(sides, values)), links)


def _approximate_answer(sides: list[tuple[str, Any]], links: list[bool], gold: str) -> list[Any] | None:
    """What a chain with an approximation says (None: it is false). It is one value written several ways: its
    exact sides are equal, and each plain number is that value (else the most precise plain number) as written
    for `=`, or rounded at its own last significant digit (`2^{10} \\approx 1000`, `\\pi \\approx 3`; not
    `7 \\approx 8`, nor a walk `51 \\approx 100 \\approx 149`); two plain numbers written to the same digit are the
    same number. Its answer is its exact sides, and against a gold that is a plain number also its most precise
    plain number when written to two significant digits or more (`e^2 \\approx 7.39` is 7.39; `\\frac{6}{11}
    \\approx 0.5` is neither 0.5 nor `\\frac12`: a rough rounding is no answer); a chain of plain numbers alone is
    its most precise one."""
    for (a, b), approx in zip(zip(sides, sides[1:]), links):
        holds = not _false_statement([a, b]) or approx and (_approximates(a[1], b[0]) or _approximates(b[1], a[0]))
        if not holds:
            return None
    exact = [side for side in sides if not _WRITTEN_NUMBER.match(side[0])]
    plain = sorted((side for side in sides if _WRITTEN_NUMBER.match(side[0])),
                   key=lambda side: (-_significant(side[0])[0], _significant(side[0])[1]))
    if any(_false_statement([exact[0], other]) for other in exact[1:]):
        return None  # `e \\approx 3 \\approx \\pi`: two exact values
    by_unit: dict[Decimal, Decimal] = {}
    for text, _ in plain:
        unit, number = _significant(text)[1], Decimal(text.strip())
        if by_unit.setdefault(unit, number) != number:
            return None  # `42 \\approx 42.5 \\approx 43`: 42 and 43 written to one digit
    reference = exact[0] if exact else (plain[0] if plain else None)
    for side in plain:
        if side is not reference and _false_statement([reference, side]) and not _approximates(reference[1], side[0]):
            return None
    if not exact:
        return [plain[0][1]] if plain else None
    answer = [value for _, value in exact]
    if _WRITTEN_NUMBER.match(gold) and plain and _significant(plain[0][0])[0] >= 2:
        answer.append(plain[0][1])
    return answer


def _significant(text: str) -> tuple[int, Decimal]:
    """(significant digits, the unit of the last one) of a plain number: `7.39` (3, 0.01), `1000` (1, 1000),
    `0.050` (2, 0.001)."""
    written = Decimal(text.strip())
    _, digits, exponent = written.as_tuple()
    if "." not in text:  # a whole number's trailing zeros are no digits it states
        zeros, stripped = 0, list(digits)
        while len(stripped) > 1 and stripped[-1] == 0:
            stripped.pop()
            zeros += 1
        digits, exponent = tuple(stripped), exponent + zeros
    lead = next((i for i, d in enumerate(digits) if d), len(digits))
    return len(digits) - lead, Decimal(10) ** exponent


def _approximates(value: Any, text: str) -> bool:
    """`text` is a plain number that is `value` rounded at its own last significant digit."""
    import sympy

    if not _WRITTEN_NUMBER.match(text):
        return False
    count, unit = _significant(text)
    if count == 0:
        return False
    try:
        v = sympy.N(value, 30)
        return bool(v.is_real) and abs(v - sympy.Rational(text.strip())) <= sympy.Rational(str(unit)) / 2
    except Exception:  # noqa: BLE001 - unsure: no approximation
        return False


def _false_statement(sides: list[tuple[str, Any]]) -> bool:
    """`5 = 4`, `2+2 = 5`, `5.0 = 4`, `5 = 4 = 4`: a chain with two neighbouring sides that clearly differ
    (math-verify would read it as its last side; `\\frac{10}{2} = 5` is true and stays). A side written as
    a plain number may be the other rounded or cut at its last digit (_rounded: `\\frac13 = 0.33`,
    `\\frac{250}{3} = 83`); either side may be in degrees, exactly (`30^\\circ = \\frac{\\pi}{6}`,
    `\\frac{\\pi}{6} = 30`)."""
    import sympy

    def holds(a: tuple[str, Any], b: tuple[str, Any]) -> bool:
        (a_text, left), (b_text, right) = a, b
        if _rounded(left, b_text) or _rounded(right, a_text):
            return True
        return any(_close(x, y) for x, y in ((left, right), (left * sympy.pi / 180, right), (left, right * sympy.pi / 180)))

    if not all(holds(a, b) for a, b in zip(sides, sides[1:])):
        return True
    # One value written several ways: each side is the most exact side (or, a plain number, it rounded or cut at
    # its own last digit), and two written to the same digit are the same number. Neighbours alone let a chain walk through
    # roundings, `42 = 42.5 = 43`, and be every integer it passed.
    written = [(text, Decimal(text.strip())) for text, _ in sides if _WRITTEN_NUMBER.match(text)]
    by_digit: dict[int, set[Decimal]] = {}
    for _, number in written:
        by_digit.setdefault(number.as_tuple().exponent, set()).add(number)
    if any(len(numbers) > 1 for numbers in by_digit.values()):
        return True
    exact = [side for side in sides if not _WRITTEN_NUMBER.match(side[0])]
    anchor = exact[0] if exact else min(sides, key=lambda side: Decimal(side[0].strip()).as_tuple().exponent)
    return not all(side is anchor or holds(anchor, side) for side in sides)  # `\frac{85}{2} = 42 = \frac{208}{5}`


def _rounded(value: Any, text: str) -> bool:
    """`text` is a plain number that is value rounded at its last written digit (a decimal: `\\frac56 = 0.8`;
    a whole number with _ROUNDED_DIGITS significant digits or more: `\\frac{250}{3} = 83`, not `0.5 = 1`),
    or cut there (a decimal with _ROUNDED_DIGITS digits or more: `\\frac23 = 0.66`)."""
    import sympy

    if not _WRITTEN_NUMBER.match(text):
        return False
    written = Decimal(text.strip())
    digits = written.as_tuple().digits
    significant = len(digits) - next((i for i, d in enumerate(digits) if d), 0)
    decimal = "." in text
    if written == 0 or not decimal and significant < _ROUNDED_DIGITS:
        return False
    try:
        v, d = sympy.N(value, 30), sympy.Rational(str(written))
        unit = sympy.Rational(10) ** written.as_tuple().exponent
        if not v.is_real:
            return False
        rounded = abs(v - d) <= unit / 2
        cut = decimal and significant >= _ROUNDED_DIGITS and (v > 0) == (d > 0) and abs(d) <= abs(v) < abs(d) + unit
        return bool(rounded or cut)
    except Exception:  # noqa: BLE001 - unsure: no rounding
        return False


# What an equation's text may hold that its parse leaves out, so that sides that differ are no false
# statement: a modulus (`17 \\equiv 2`), currency, percent, words.
_NOT_PLAIN_STATEMENT = ("mod", "equiv", "\\$", "%", "text")


# A numeral with its base, `12_5`, `12_{5}`, `1011_{2}`: math-verify drops the subscript.
_BASED = re.compile(r"^\s*([0-9A-Z]+)_\{?\s*(\d{1,2})\s*\}?\s*$")


def _based(text: str) -> tuple[str, int] | None:
    """(digits, base) of a numeral written with its base; a lone letter with an index (`A_{12}`) is a name."""
    m = _BASED.match(text)
    if m is None or not 2 <= int(m.group(2)) <= 36 or len(m.group(1)) == 1 and m.group(1).isalpha():
        return None
    return m.group(1), int(m.group(2))


def _base_verdict(gold: str, pred: str) -> bool | None:
    """Equal or not where the answer writes a base: a digit its base has not (`5_{4}`) is no numeral, and a numeral
    in another base than the gold's is not the answer, whatever its value (`13_{7}` against `10_{10}`: a question
    asks for a base, and `123_{10}` for `443_5` restates "convert 123 to base 5"). None: the rest of the comparison
    decides (an answer without its base is read by its digits)."""
    p, g = _based(pred), _based(gold)
    if p is None:
        return None
    try:
        int(p[0], p[1])
    except ValueError:  # `5_{4}` is no numeral
        return False
    if g is None or g[1] == p[1]:
        return None
    return False


# A finite set of values written as one (`\\{1,2\\}`, `x=1 \\text{ or } x=2`) and a range (an interval or an ordered
# pair in brackets, `(1,2)`; an inequality, `1<x<2`; a union) are never one answer: math-verify's set comparison
# read `\\{1,2\\}` as the pair `(1,2)` (but not `\\{2,1\\}`), and `1<x<2` as the roots `1, 2`.
_SET_LITERAL = re.compile(r"^\s*\\\{.*\\\}\s*$", re.S)
_OR_LIST = re.compile(r"(?:\\text\s*\{\s*or\s*\}|\bor\b|\\lor|\\vee)")
_BRACKETED = re.compile(r"^\s*(?:\\left\s*)?[(\[].*[)\]]\s*$", re.S)
_INEQUALITY = re.compile(r"<|>|\\[lg]eq?(?![a-z])|\\cup(?![a-z])")


def _set_against_range(gold: str, pred: str) -> bool:
    """Whether one side is a set of values written as one and the other a range (see _SET_LITERAL's note)."""
    def is_set(t: str) -> bool:
        return bool(_SET_LITERAL.match(t)) or (bool(_OR_LIST.search(t)) and "=" in t and not _INEQUALITY.search(t))

    def is_range(t: str) -> bool:
        return bool(_BRACKETED.match(t) and "," in t) or bool(_INEQUALITY.search(t))

    def is_list(t: str) -> bool:  # `1, 2`: the roots, never an inequality (though `(1, 2)` may be its pair)
        return "," in t and not _BRACKETED.match(t) and not _INEQUALITY.search(t) and "=" not in t

    def is_inequality(t: str) -> bool:
        return bool(_INEQUALITY.search(t)) and not _BRACKETED.match(t)

    return (is_set(gold) and is_range(pred)) or (is_set(pred) and is_range(gold)) \
        or (is_list(gold) and is_inequality(pred)) or (is_list(pred) and is_inequality(gold))


def _part_equal(gold: str, pred: str) -> bool:
    by_base = _base_verdict(gold, pred)
    if by_base is not None:
        return by_base
    if _set_against_range(gold, pred):
        return False
    g_sets, p_sets = solution_set(gold), solution_set(pred)
    if g_sets is not None and p_sets is not None:
        return _same_solutions(g_sets, p_sets)
    g, p = _parse_boxed(gold), _parse_boxed(pred)
    if p_sets is not None and len(p_sets) > 1 and any(_number(x) is not None for x in g):
        return False  # `x = 4 \\lor x = 5` (math-verify reads 5) against one number: two answers for one
    statement = _statement(pred)
    if statement is not None:
        sides, links = statement
        if any(links):  # `e^2 \\approx 7.39`: what an approximation says (math-verify read its first side)
            p = _approximate_answer(sides, links, gold) or []
        else:  # a false statement is no answer; a true one (or a rounding) is any of its sides' value
            p = [] if _false_statement(sides) else p + [value for _, value in sides]
    if not g or not p:  # one side is not math at all: compare the text
        return _text_equal(gold, pred)
    return _equal(g, p)


def _same_solutions(gold: tuple, pred: tuple) -> bool:
    """Two solution sets (each a tuple of solutions, each a sorted tuple of (name, value text)):
    the same names, and every gold solution met by its own answer solution, in any order."""
    if len(gold) != len(pred):
        return False
    unused = list(pred)
    for solution in gold:
        names = [name for name, _ in solution]
        hit = next((p for p in unused if [name for name, _ in p] == names and
                    all(_part_equal(gv, pv) for (_, gv), (_, pv) in zip(solution, p))), None)
        if hit is None:
            return False
        unused.remove(hit)
    return True


def check(gold: tuple[str, ...], pred: tuple[str, ...] | None, text: str | None) -> dict:
    """Compare an extracted answer with the gold.

    gold: the gold answer's parts (one, or several for a multi-part answer), as box contents.
    pred: the candidate's parts (same meaning), or None to extract the answer from `text` with
        math-verify's own extraction (used when the final answer has no `\\boxed{}`).
    Returns {"equal": bool, "answer": str | None}; answer None means nothing could be extracted.
    """
    if pred is None:
        found = parse(text or "", extraction_config=_TEXT, parsing_timeout=None)
        if not found:
            return {"equal": False, "answer": None}
        answer = next((x for x in reversed(found) if isinstance(x, str)), None)
        golds = parse("$\\boxed{" + ", ".join(gold) + "}$", extraction_config=_TEXT_GOLD,
                      parsing_timeout=None)  # several parts read as one list
        if not golds:
            return {"equal": answer is not None and _text_equal(gold[0], answer), "answer": answer}
        return {"equal": _equal(golds, found), "answer": answer}
    if len(pred) != len(gold):
        return {"equal": False, "answer": ", ".join(pred)}
    # Every gold part needs its own matching candidate part, in any order.
    unused = list(pred)
    for g in gold:
        hit = next((p for p in unused if _part_equal(g, p)), None)
        if hit is None:
            return {"equal": False, "answer": ", ".join(pred)}
        unused.remove(hit)
    return {"equal": True, "answer": ", ".join(pred)}


# Typical answer shapes. Parsing one warms the LaTeX grammar's caches for all answers like it, so
# the worker parses them one at a time whenever it is idle (see _worker's idle_step).
WARM_UP = [
    "2\\sqrt{3}", "\\frac{14}{3}", "-\\dfrac{3}{4}", "\\left( 3, \\frac{\\pi}{2} \\right)", "(-\\infty, 0]",
    "[1,5)", "\\{1,2,3\\}", "x+y=1", "y = 2x + 3", "x^3+3x-6", "6 - 5i", "\\pm 2021", "3 \\pm 2\\sqrt{2}",
    "\\begin{pmatrix} 1/5 \\\\ -18/5 \\end{pmatrix}", "\\begin{pmatrix} -1 & 0 \\\\ 0 & -1 \\end{pmatrix}",
    "\\text{Evelyn}", "15\\mbox{ cm}^2", "90^\\circ", "\\sin 60^\\circ", "4343_6", "1.25", "\\frac{11+9a}{20}",
    "(a+5)(b+2)", "x \\in [-2,7]", "\\frac{\\sqrt{3}}{2}", "2^{100}", "\\frac{1}{2^{98}}", "5.4 \\text{ cents}",
    "\\{1\\pm\\sqrt{5},-2\\}", "137 \\frac{1}{2}", "12\\pi", "\\log_2 3", "\\binom{10}{3}", "10\\%", "x>2",
    "(1,-16,-4,43)", "\\sqrt[3]{2}", "a^2+b^2", "\\infty", "e^{i\\pi}",
    "x^6 - 2x^5 + x^4 - x^3 + 3x^2 - x + 7", "\\frac{7}{3} - 4i", "\\left[ \\frac{\\pi}{4}, \\frac{3\\pi}{2} \\right)",
    "\\begin{pmatrix} 2 \\\\ -3 \\\\ 5 \\end{pmatrix}", "k^2 + 3k", "101_{7}", "\\cos x", "p + q", "x = -\\frac{1}{2}",
    "\\dfrac{a+2b}{3c}", "12\\text{ inches}",
]
_warm_next = iter(WARM_UP)


def idle_step() -> bool:
    """Parse the next warm-up answer; False when all are done."""
    text = next(_warm_next, None)
    if text is None:
        _parse_boxed.cache_clear()  # keep the grammar's warmth, not these exact answers
        return False
    _parse_boxed(text)
    return True


_parse_boxed("2\\sqrt{3}")  # the grammar itself loads before the worker says it is ready
