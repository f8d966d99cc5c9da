"""The sympy side of the math verifier: runs only inside pool workers (evalkit.verifiers.pool).

Importing this module imports math-verify and warms its LaTeX parser, so a worker that preloads it
answers its first job fast. Nothing here has a timeout: the pool kills a worker that overruns.
Everything returned is plain text or bools; no parsed expression ever leaves the worker (its
`str()` alone can hang).
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

from math_verify import parse, verify
from math_verify.parser import ExprExtractionConfig, LatexExtractionConfig

logging.getLogger("math_verify").setLevel(logging.ERROR)  # its "timeout disabled" warning is by design

# Answer candidates and gold parts arrive as box contents; parsing them boxed reads them whole.
_LATEX = (LatexExtractionConfig(boxed_match_priority=0),)
_TEXT = (LatexExtractionConfig(), ExprExtractionConfig())
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
    """False when g and p are both plain numbers whose values clearly differ (see _REL_TOL)."""
    import sympy

    gn, pn = _number(g), _number(p)
    if gn is None or pn is None:
        return True
    try:
        diff = abs(sympy.N(gn - pn, 30))
        scale = max(abs(sympy.N(gn, 30)), abs(sympy.N(pn, 30)))
        if not (diff.is_number and scale.is_number) or diff.has(sympy.nan, sympy.zoo):
            return True
        return bool(diff <= _REL_TOL * scale)
    except Exception:  # noqa: BLE001 - keep math-verify's verdict when the check itself fails
        return True


def _equal(gold: list, pred: list) -> bool:
    for g in gold:
        for p in pred:
            if _same_value(g, p) and verify(g, p, timeout_seconds=None):  # cheap refusal first
                return True
    return False


def _text_equal(a: str, b: str) -> bool:
    norm = lambda s: "".join(s.split()).strip("$.").lower()  # noqa: E731
    return bool(norm(a)) and norm(a) == norm(b)


def _part_equal(gold: str, pred: str) -> bool:
    g, p = _parse_boxed(gold), _parse_boxed(pred)
    if not g or not p:  # one side is not math at all: compare the text
        return _text_equal(gold, pred)
    return _equal(g, p)


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
        if len(gold) > 1:
            golds = [x for part in gold for x in _parse_boxed(part)[:1]]
        else:
            golds = _parse_boxed(gold[0])
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


_parse_boxed("2\\sqrt{3}")  # warm the LaTeX grammar once per worker
