"""The math verifier: the issue's equal / not-equal cases, real traces, bad inputs, limits, callers."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from evalkit.cli import main
from evalkit.verifiers import VerifyItem, get_verifier
from evalkit.verifiers.math import verify_answer, verify_many, verify_math

DATA = Path(__file__).parent / "data" / "math"


def boxed(answer: str) -> str:
    return f"<think>\nLet me work it out... maybe \\boxed{{0}}?\n</think>\nThe final answer is $\\boxed{{{answer}}}$."


# (answer the model boxed, gold, equal?) — the issue's list, verbatim.
CASES = [
    ("\\sqrt{12}", "2\\sqrt{3}", True),
    ("4\\frac{2}{3}", "\\frac{14}{3}", True),
    ("\\{3,2,1\\}", "\\{1,2,3\\}", True),
    ("-2021, 2021", "\\pm 2021", True),
    ("2021", "\\pm 2021", False),
    ("2x+2y=2", "x+y=1", True),
    ("3x+4y+14=0", "3x-y+13=0", False),
    ("(1,5]", "[1,5)", False),
    ("(-1,3)", "(3,-1)", False),
    ("2^{100}+1", "2^{100}", False),
    ("1267650600228229401496703205377", "1267650600228229401496703205376", False),
    ("\\frac{1}{2^{98}}", "\\frac{1}{2^{99}}", False),
    ("1000", "10", False),
    ("3.14", "\\pi", False),
    ("\\frac{\\sqrt3}{2}", "\\sin 60^\\circ", True),
    ("(2,\\infty)", "x>2", True),
    ("90^\\circ", "90", True),
    ("\\dfrac{14}{3}", "\\frac{14}{3}", True),
    # gold normalisation
    ("025", "25", True),
    ("25", "025", True),
    ("27", 27.0, True),
    ("1234", "Janet pays 1,234 dollars.\n#### 1,234", True),
    ("1,234", "1234", True),
    ("1235", "#### 1,234", False),
]


def test_issue_cases_in_one_batch():
    verdicts = verify_many([(boxed(a), g) for a, g, _ in CASES])
    wrong = [(a, g, v) for (a, g, want), v in zip(CASES, verdicts) if v.correct is not want]
    assert not wrong
    for (a, _, want), v in zip(CASES, verdicts):
        assert v.reason == ("correct" if want else "wrong")
        assert v.score == (1.0 if want else 0.0)
        assert v.answer == a  # the think block's \boxed{0} never counts


@pytest.mark.parametrize("answer,gold,want", CASES[:4] + CASES[11:12] + CASES[14:15])
def test_single_calls(answer, gold, want):
    assert verify_math(boxed(answer), gold).correct is want


# (completion, gold, equal?): reading rules and fixes beyond the issue's list.
READING = [
    # "The final answer is $X$" after the last box is the answer (boxes earlier were steps).
    ("</think>so \\boxed{200} and then \\boxed{255}. Final Answer: The final answer is $10,455$.", "10455", True),
    # A gold with several boxes has several parts.
    ("</think>$\\boxed{-2,1}$.", "\\(\\boxed{1}\\) and \\(\\boxed{-2}\\).", True),
    ("</think>$\\boxed{1}$", "\\boxed{1} and \\boxed{-2}", False),
    # A set gold met by one box per element.
    ("</think>\\boxed{1} and \\boxed{2} and \\boxed{3}", "$${1,2,3}$$", True),
    # Thousands separators, currency; but a comma and a space make a list.
    ("</think>$\\boxed{11,\\! 111,\\! 111,\\! 100}$", "11111111100", True),
    ("</think>$\\boxed{\\$16,\\!386.20}$", "16386.20", True),
    ("</think>$\\boxed{32, 349}$", "32349", False),
    ("</think>$\\boxed{1 000}$", "1000", True),
    # Text answers and symbols matched by name.
    ("</think>$\\boxed{odd}$", "\\text{odd}", True),
    ("</think>$\\boxed{\\text{Evelyn}}$", "\\text{Evelyn}", True),
    # Quick refusals must keep identities and assignments equal.
    ("</think>$\\boxed{\\sin^2 x+\\cos^2 x}$", "1", True),
    ("</think>$\\boxed{2(x+1)}$", "2x+2", True),
    ("</think>$\\boxed{x=5}$", "5", True),
    ("</think>$\\boxed{y=-2x}$", "8", False),
    ("</think>$\\boxed{\\frac{11+9a}{20}}$", "4", False),
    ("</think>$\\boxed{(15,-29)}$", "12", False),
    ("</think>$\\boxed{\\frac65}$", "\\frac{6}{5}", True),
    ("</think>$\\boxed{1 + \\frac{1}{\\mathrm{e}}}$", "1 - \\frac{1}{\\mathrm{e}}", False),
]


def test_reading_rules_and_fixes():
    verdicts = verify_many([(c, g) for c, g, _ in READING])
    assert [(g, v.correct) for (_, g, _), v in zip(READING, verdicts)] == [(g, want) for _, g, want in READING]


def test_last_box_wins_where_math_verify_merges_them():
    v = verify_math("</think>First \\boxed{3} … correcting: \\boxed{5}", "5")
    assert (v.correct, v.answer) == (True, "5")
    assert verify_math("\\boxed{3} … correcting: \\boxed{5}", "3").correct is False


def test_all_boxes_option_reads_like_math_verify():
    # math-verify merges the boxes it finds into {3, 5}; "all" hands it the whole final answer.
    v = verify_math("\\boxed{3} and \\boxed{5}", "5", boxed="all")
    assert (v.correct, v.answer) == (False, "3,5")


@pytest.mark.parametrize("completion", [
    "</think>So $\\boxed{69}$ and $\\boxed{84}$.",
    "</think>$\\boxed{69, 84}$",
    "</think>$\\boxed{84,69}$",
])
def test_multi_part_gold_needs_every_part(completion):
    assert verify_math(completion, "$69$,$84$").correct is True
    assert verify_math(completion, ["$69$,$84$"]).correct is True


def test_a_dollar_part_that_lists_tuples_is_one_part_per_tuple():
    # OlympiadBench 2203's final_answer puts five triples in its first `$…$` and one in its second: read as two parts
    # beside the third, no answer (the gold itself included) could match its eight triples
    gold = ["$(0,1,1),(0,-1,-1),(1,0,1),(-1,0,-1),(1,1,0)$,$(-1,-1,0),\\left(\\frac{1}{\\sqrt{3}}, "
            "\\frac{1}{\\sqrt{3}}, \\frac{1}{\\sqrt{3}}\\right)$,$\\left(-\\frac{1}{\\sqrt{3}},"
            "-\\frac{1}{\\sqrt{3}},-\\frac{1}{\\sqrt{3}}\\right)$"]
    right = ("(0,1,1),(0,-1,-1),(1,0,1),(-1,0,-1),(1,1,0),(-1,-1,0),\\left(\\frac{1}{\\sqrt{3}}, "
             "\\frac{1}{\\sqrt{3}}, \\frac{1}{\\sqrt{3}}\\right),\\left(-\\frac{1}{\\sqrt{3}},"
             "-\\frac{1}{\\sqrt{3}},-\\frac{1}{\\sqrt{3}}\\right)")
    assert verify_math(f"</think>$\\boxed{{{right}}}$", gold).correct is True
    six = "(0,1,1),(0,-1,-1),(1,0,1),(-1,0,-1),(1,1,0),(-1,-1,0)"  # the two irrational triples left out
    assert verify_math(f"</think>$\\boxed{{{six}}}$", gold).correct is False
    # a pair of tuples in `$…$` parts stays a part each; a number with a comma is not split
    assert verify_math("</think>$\\boxed{(1, 2), (2, 1)}$", "$(1, 2)$,$(2, 1)$").correct is True
    assert verify_math("</think>$\\boxed{1,000, 2}$", "$1,000$,$2$").correct is True


def test_multi_part_gold_with_one_part_missing_is_wrong():
    v = verify_math("</think>$\\boxed{84}$", "$69$,$84$")
    assert (v.correct, v.reason) == (False, "wrong")
    assert verify_math("\\boxed{1}, \\boxed{3}, \\boxed{5}", "1,3,5").correct is True


def test_answer_only_in_think_block_does_not_count_unless_asked():
    text = "<think>It is \\boxed{7}.</think>I am done."
    assert verify_math(text, "7").correct is False
    assert verify_math(text, "7", think_fallback=True).correct is True


def test_unboxed_final_answer_is_extracted():
    v = verify_math("<think>hmm</think>The final answer is $\\frac{1}{2}$.", "0.5")
    assert v.correct is True and v.reason == "correct"


@pytest.mark.parametrize("chain, gold, correct", [
    # neighbours that were each a rounding of the next let a chain walk through them and be every number it passed:
    # a GRPO policy could hedge across a range for the price of one box
    ("42 = 42.5 = 43", "42", False), ("42 = 42.5 = 43", "43", False),
    ("100 = 99.5 = 99", "99", False), ("0.45 = 0.5 = 0.46", "0.46", False),
    ("42.55 = 42.5 = 42", "42", False),  # 42 is no rounding of the most exact side, 42.55
    ("\\frac{85}{2} = 42 = \\frac{208}{5}", "41.6", False),  # exact sides too are the one value
    ("\\frac{1}{3} = 0.3 = \\frac{3}{10}", "\\frac{3}{10}", False),
    # one value written several ways is still each of them
    ("42.4 = 42", "42", True), ("\\frac13 = 0.33 = 0.3", "0.3", True), ("\\frac{250}{3} = 83.33 = 83.3", "83.3", True),
    ("\\frac{10}{2} = 5.0 = 5", "5", True), ("30^\\circ = \\frac{\\pi}{6}", "30", True), ("x = 42.5 = 43", "43", True),
])
def test_a_chain_of_roundings_is_one_value_not_every_number_it_passes(chain, gold, correct):
    v = verify_math(f"<think>t</think>The answer is $\\boxed{{{chain}}}$.", gold)
    assert v.correct is correct, v


@pytest.mark.parametrize("final, gold, reason", [
    # a number right after CJK text or full-width punctuation was no answer: to math-verify `是42` is one word
    ("答案：42", "42", "correct"),
    ("最终答案是42。", "42", "correct"),
    ("所以答案为-3.5。", "-3.5", "correct"),
    ("答案是42吗？不，答案是41。", "42", "wrong"),  # the last value stated is the answer, as in English
    ("答案：42（米）", "42", "correct"),
    ("答案：四十二", "42", "no_answer"),  # number words are not read, in any language
    ("答案是42个。", "42", "correct"),  # a counter word after it is no part of the number
    # a Chinese sign, scale or joiner is part of what the number says: set apart, each read as a wrong "correct"
    ("答案是负5。", "5", "no_answer"), ("答案是3万。", "3", "no_answer"), ("答案是3分之1。", "1", "no_answer"),
    ("答案是42或43。", "43", "no_answer"), ("答案是42和43。", "43", "no_answer"), ("答案是42、43。", "42", "no_answer"),
    ("答案是1，000。", "1000", "correct"),  # a full-width thousands comma
    # only the clause the answer is read from counts: "from 1 to 100", "to two places" earlier were no answer
    ("从1到100的和是5050。答案是5050。", "5050", "correct"), ("精确到0.01，答案是3.14。", "3.14", "correct"),
    ("x=1和y=2时，答案是42。", "42", "correct"),
    ("答案是42，43。", "43", "wrong"), ("答案是42；43。", "42, 43", "correct"),  # a list, as "The answer is 42, 43."
    # set apart, a Chinese answer was read by its last number: a denied value, a hedge, a question, a remark after the
    # answer and a note in brackets were each read as the answer
    ("答案是7，不是5。", "5", "wrong"), ("答案是7，不是5。", "7", "correct"), ("答案是12，而不是13。", "13", "wrong"),
    ("答案可能是7，也可能是5。", "5", "no_answer"), ("答案是5吗？", "5", "no_answer"),
    ("答案是5。共用了3步。", "3", "wrong"), ("答案是5。共用了3步。", "5", "correct"),
    ("答案：5（即3种情况之和）", "3", "wrong"), ("答案：5（即3种情况之和）", "5", "correct"),
    # a clause naming the answer to deny a value was read as stating it: "the answer is not 5, but 6" scored 5
    ("答案不是5，而是6。", "5", "wrong"), ("答案不是5，而是6。", "6", "correct"),
    ("最终答案不是5，应该是6。", "6", "correct"), ("答案：不是5，而是6", "5", "wrong"), ("答案不是5，是6。", "6", "correct"),
    # ... and in one clause, the correction kept (the review found my first version dropping the whole clause: no
    # answer), while a denial of no value (`不是整数`, "not a whole number") denies nothing
    ("答案不是5而是6", "6", "correct"), ("答案不是5, 而是6", "6", "correct"), ("答案不等于5而等于6", "6", "correct"),
    ("综上，答案不是1/2而是3/4", "3/4", "correct"), ("结果不是整数所以答案是2.5", "2.5", "correct"),
    ("结果不等于0时答案是3", "3", "correct"), ("答案不是唯一的，是5", "5", "correct"),
    # each value of a chain of denials goes; "if not 5 then 6" is either of two, a hedge (the third review)
    ("答案不是5也不是6，而是7", "7", "correct"), ("答案不是5就是6", "6", "no_answer"), ("结果不是5便是6", "6", "no_answer"),
    # `而非` ("rather than") denies too: "the answer is 6, not 5" read 5
    ("答案是6而非5。", "5", "wrong"), ("答案是6而非5。", "6", "correct"), ("答案为6，而非5", "6", "correct"),
])
def test_an_unboxed_answer_stated_in_chinese_is_read(final, gold, reason):
    v = verify_math(f"<think>hmm</think>{final}", gold)
    assert v.reason == reason, v


@pytest.mark.parametrize("final, gold, reason", [
    # a plain mixed number: math-verify reads `3 1/2` as 2 and `2 3/4` as 5/4
    ("The answer is $\\boxed{3 1/2}$.", "\\frac72", "correct"), ("The answer is $\\boxed{3 1/2}$.", "2", "wrong"),
    ("The answer is $\\boxed{1 2/3}$.", "1", "wrong"), ("The answer is 2 3/4 cups.", "\\frac{11}{4}", "correct"),
    ("The answer is 2 3/4 cups.", "5/4", "wrong"), ("So $\\boxed{-2 3/4}$.", "-11/4", "correct"),
    ("The answer is $\\boxed{3 4/2}$.", "5", "wrong"),  # no proper fraction: no mixed number (read as math-verify does)
    # a Unicode minus in prose was lost: no answer, and `− 7` read 7
    ("The answer is −7.", "-7", "correct"), ("**Answer:** −1/2", "-1/2", "correct"),
    ("The answer is 3 1/2.", "7/2", "correct"), ("答案是3 1/2。", "7/2", "correct"),  # at a sentence's end, after CJK
])
def test_mixed_numbers_and_unicode_minus_signs_are_read_as_written(final, gold, reason):
    v = verify_math(f"<think>hmm</think>{final}", gold)
    assert v.reason == reason, v


@pytest.mark.parametrize("final, gold, reason", [
    # an unboxed number a word qualifies was read as the bare number, as math-verify reads it: each of these was
    # "correct" against the bare number (the boxed and bare-LaTeX readings already refused them)
    ("The answer is 5 and a half.", "5", "no_answer"), ("The answer is 5 thousand.", "5", "no_answer"),
    ("The answer is 5 squared.", "5", "no_answer"), ("The answer is 7 or more.", "7", "no_answer"),
    ("The answer is at least 7.", "7", "no_answer"), ("The answer is 3 remainder 2.", "3", "no_answer"),
    ("**Answer:** 12 dozen", "12", "no_answer"),
    # a part or a stated `$5$` a word qualifies: each read as the bare 5 before (a scale with a noun after it may
    # answer "how many million dollars": read)
    ("The answer is 5 tenths.", "5", "no_answer"), ("The answer is 5 thousandths.", "5", "no_answer"),
    ("The answer is 5 million dollars.", "5", "correct"), ("The answer is $5$ thousand.", "5", "no_answer"),
    ("The answer is $5$ squared.\n", "5", "no_answer"), ("The answer is $5$ ways.", "5", "correct"),
    # a noun naming what it counts, or a remark after it, is no qualifier
    ("The answer is 12 apples.", "12", "correct"), ("The answer is 5 and it is final.", "5", "correct"),
    ("Answer: 7 ways", "7", "correct"),
    # a comma ends the number, and a value stated after the qualifier is read (the third review)
    ("The answer is 5, thousands of times smaller.", "5", "correct"), ("The answer is 5 squared = 25.", "25", "correct"),
    ("The answer is at least 7, so the minimum is 7.", "7", "correct"), ("The answer is 3, remainder 2", "3", "correct"),
])
def test_an_unboxed_number_a_word_qualifies_is_not_read_as_the_bare_number(final, gold, reason):
    v = verify_math(f"<think>hmm</think>{final}", gold)
    assert v.reason == reason, v


@pytest.mark.parametrize("answer, gold, correct", [
    # two boxes joined by "or" are two answers: the last one alone was scored
    ("$\\boxed{3}$ or $\\boxed{4}$", "4", False),
    ("\\boxed{3}\\text{ or }\\boxed{4}", "4", False),
    ("$x = \\boxed{3}$ or $x = \\boxed{4}$", "3, 4", True),  # two roots, as a two-part gold asks
    ("$\\boxed{\\frac12}$ or $\\boxed{0.5}$", "0.5", True),  # one value written twice
    # and so are boxes joined by "and" or a comma: the last one (or last k) alone credited an extraneous root
    ("The roots are $\\boxed{-2}$ and $\\boxed{5}$.", "5", False),
    ("The answers are $\\boxed{-2}$, $\\boxed{3}$, $\\boxed{5}$.", "3, 5", False),
    ("The answers are $\\boxed{-2}$, $\\boxed{3}$, $\\boxed{5}$.", "\\{3,5\\}", False),
    ("The roots are $\\boxed{3}$ and $\\boxed{5}$.", "3, 5", True),
    ("$x = \\boxed{3}$, $x = \\boxed{5}$", "3, 5", True),
    ("$\\boxed{5}$ and $\\boxed{5.0}$", "5", True),  # one value written twice
    ("So $a = \\boxed{2}$ and $b = \\boxed{3}$, hence $a + b = \\boxed{5}$.", "5", True),  # a last box of its own
    ("(a) $\\boxed{2}$, (b) $\\boxed{3}$", "3", True),  # parts of a question, each named: the last is its own
    ("I computed $a = \\boxed{4}$, and $b = \\boxed{9}$", "9", True),  # two quantities, each named: not one answer
    ("$x = \\boxed{3}$, $x = \\boxed{5}$", "5", False),  # one name, two values: two answers
    ("So $x_1 = \\boxed{-2}$ and $x_2 = \\boxed{5}$.", "5", False),  # two roots of one x
    # a box the text rules out is no answer: it was scored correct
    ("The answer is not \\boxed{3}.", "3", False),
    ("\\boxed{3} is incorrect.", "3", False),
    ("\\boxed{4}. Not \\boxed{3}.", "3", False),
    ("\\boxed{4}. Not \\boxed{3}.", "4", True),
    ("\\boxed{3} is not divisible by 2.", "3", True),  # a remark, not a denial
    # a correction after the box states the answer
    ("\\boxed{3}\n\nWait, actually the answer is 4.", "4", True),
    ("\\boxed{3}\n\nWait, actually the answer is 4.", "3", False),
    ("\\boxed{3}\n\nHmm, actually it's $4$.", "4", True),
    ("The answer is $\\boxed{3}$. Actually, let me double-check: yes, it's 3.", "3", True),
    # a correction must restate the answer and end its sentence: a hedge, a question, a remark correct nothing
    ("$\\boxed{3}$\n\nWait, actually the answer is 4 or 5.", "4", False),
    ("$\\boxed{3}$\n\nWait, actually it's $4$ or $5$.", "4", False),
    ("$\\boxed{3}$\n\nHmm, actually it's 4? Not sure.", "4", False),
    ("\\boxed{20}\n\nActually, it's 4 times 5, which I verified.", "20", True),
    ("So $\\boxed{42}$.\n\nActually, it's $x$ that we solved for, not $y$.", "42", True),
    ("\\boxed{4}\n\n\\boxed{5} is wrong?", "4", False),  # a question rules nothing out
    ("Thus $\\boxed{5}$ is not the answer I first guessed, but it checks out.", "5", True),
    # a minus written before the box in math is its sign: $-\boxed{3}$ was 3
    ("$-\\boxed{3}$", "-3", True),
    ("$-\\boxed{3}$", "3", False),
    ("$x = -\\boxed{\\frac{1}{2}}$", "-\\frac{1}{2}", True),
    ("The roots:\n- \\boxed{3}", "3", True),  # a list's bullet
    ("We get $x = 9$\n- \\boxed{3}", "3", True),  # a bullet after a line of math
    ("$5 - \\boxed{3}$", "3", True),  # a subtraction: the box is the answer
    # a repeating decimal is the fraction it is (it was "different values")
    ("\\boxed{0.\\overline{3}}", "\\frac13", True),
    ("\\boxed{0.1\\bar{6}}", "\\frac{1}{6}", True),
    ("\\boxed{0.\\overline{12}}", "\\frac{4}{33}", True),
    ("\\boxed{0.\\overline{3}}", "0.33", False),
])
def test_boxes_hedged_ruled_out_corrected_signed_or_repeating_are_read_as_the_text_says(answer, gold, correct):
    v = verify_math("<think>compute</think> " + answer, gold)
    assert v.correct is correct, v


def test_truncation_follows_the_finish_reason_then_the_think_block():
    assert verify_math("<think>so \\boxed{7}", "7").reason == "truncated"
    assert verify_math("so \\boxed{7}", "7", think_open=True).reason == "truncated"
    v = verify_math("</think>\\boxed{7}", "7", finish_reason="length")
    assert (v.correct, v.score, v.reason) == (False, 0.0, "truncated")
    assert verify_math("<think>so \\boxed{7}", "7", finish_reason="stop").reason == "no_answer"
    assert verify_math("\\boxed{7}", "7").correct is True  # no think tags: all answer
    # other APIs' words for the limit, as `verify --pairs`, a replay and the rewards read them (the Python API scored
    # a reply cut at max_tokens correct)
    for cut in ("max_tokens", "MAX_TOKENS", "max_output_tokens"):
        assert verify_math("<think>x</think>So $\\boxed{5}$ and then", "5", finish_reason=cut).reason == "truncated"
        (v,) = verify_many([{"completion": "<think>x</think>So $\\boxed{5}$ and then", "gold": "5", "finish_reason": cut}])
        assert v.reason == "truncated"


def test_real_traces_are_judged_by_hand_checked_verdicts_not_their_labels():
    rows = [json.loads(line) for line in (DATA / "traces.jsonl").read_text().splitlines()]
    items = [VerifyItem(r["completion"], r["gold"], think_open=r["think_open"]) for r in rows]
    verdicts = get_verifier("math").verify_many(items)
    got = [(r["item_id"], r["source"], v.reason) for r, v in zip(rows, verdicts)]
    assert got == [(r["item_id"], r["source"], r["expected"]) for r in rows]
    # At least one source label is wrong, and the verifier does not follow it.
    assert any(r["label_is_correct"] != (r["expected"] == "correct") for r in rows)


BAD = [
    None,
    "",
    b"\xff\xfe\x00\x01garbage",
    "\x00\x01\x02" * 1000,
    "x" * 1_000_000,
    "\\boxed{" * 100_000,
    "}" * 10_000 + "\\boxed{1",
    "\\boxed{}",
    "\\boxed{\\frac{1}{}}",
    "$$$$ \\left( \\right] ^^^ _ \\\\",
    12345,
]


@pytest.mark.parametrize("completion", BAD, ids=[f"bad{i}" for i in range(len(BAD))])
def test_bad_input_gets_a_verdict(completion):
    v = verify_math(completion, "1")
    assert v.correct is False and v.score == 0.0
    assert v.reason in ("no_answer", "wrong")


@pytest.mark.parametrize("gold", [None, "", [], "   "])
def test_missing_gold_is_unjudged_not_wrong(gold):
    v = verify_math("\\boxed{1}", gold)
    assert (v.correct, v.reason) == (None, "error")


def test_garbage_gold_gets_a_verdict():
    v = verify_math("\\boxed{1}", "\\frac{{{")
    assert (v.correct, v.reason, v.answer) == (False, "wrong", "1")


def test_hung_check_is_killed_in_time_and_scores_zero():
    t = time.monotonic()
    v = verify_math("</think>$\\boxed{9^{9^{9^{9}}}}$", "3", timeout=1.0)
    elapsed = time.monotonic() - t
    assert (v.correct, v.score, v.reason) == (False, 0.0, "timeout")
    assert v.answer == "9^{9^{9^{9}}}"
    assert elapsed < 4.0
    # The pool recovers: the next check works.
    assert verify_math("\\boxed{\\sqrt{4}}", "2").correct is True


def test_runaway_white_space_after_the_answer_is_read_in_time():
    # GRPO's degenerate replies: white space after "answer is" made the answer's regexes backtrack in the caller's
    # own process, before any worker's limit (58 s for a batch with one such reply; 80 s for a 2,000-character line)
    degenerate = ["The answer is" + "\n" * 60_000, "The answer is" + " " * 60_000 + "x", "answer is" + " " * 1_990 + "x",
                  "The final answer is" + " \n" * 30_000, "The answer:" + " \n" * 15_000 + "42"]
    t = time.monotonic()
    verdicts = verify_many([(f"<think>w</think>{c}", "42") for c in degenerate] + [("\\boxed{42}", "42")], deadline=5.0)
    assert time.monotonic() - t < 10.0
    assert [v.correct for v in verdicts] == [False, False, False, False, True, True]


def test_batch_deadline_times_out_what_is_left_and_keeps_order():
    items = [("\\boxed{9^{9^{9^{9}}}}", "1"), ("\\boxed{\\sqrt{9}}", "3"), ("\\boxed{7}", "7")]
    verify_many([("\\boxed{\\sqrt{4}}", "2")] * 2)  # warm workers: the deadline is about the hung check
    t = time.monotonic()
    verdicts = verify_many(items, timeout=30.0, deadline=3.0)
    assert time.monotonic() - t < 8.0
    assert [v.reason for v in verdicts] == ["timeout", "correct", "correct"]


def test_duplicate_answers_are_checked_once():
    items = [(boxed("\\frac{7}{2}"), "3.5")] * 50 + [(boxed("\\frac{5}{2}"), "3.5")] * 50
    verdicts = verify_many(items)
    assert [v.correct for v in verdicts] == [True] * 50 + [False] * 50


def test_from_another_thread():
    out = []
    t = threading.Thread(target=lambda: out.append(verify_math(boxed("\\sqrt{12}"), "2\\sqrt{3}")))
    t.start()
    t.join(30)
    assert out and out[0].correct is True


def test_from_several_threads_at_once():
    golds = ["2\\sqrt{3}", "\\frac{14}{3}", "x+y=1", "\\{1,2,3\\}"]
    answers = ["\\sqrt{12}", "4\\frac{2}{3}", "2x+2y=2", "\\{3,2,1\\}"]
    out: dict[int, list] = {}

    def work(k: int) -> None:
        out[k] = verify_many([(boxed(a), g) for a, g in zip(answers, golds)] + [(boxed("7"), golds[k])])

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert {k: [v.correct for v in vs] for k, vs in out.items()} == {k: [True] * 4 + [False] for k in range(4)}


def test_from_asyncio():
    async def run():
        direct = verify_math(boxed("4\\frac{2}{3}"), "\\frac{14}{3}")
        threaded = await asyncio.to_thread(verify_math, boxed("\\frac{1}{3}"), "\\frac{2}{6}")
        return direct, threaded

    direct, threaded = asyncio.run(run())
    assert direct.correct is True and threaded.correct is True


def _in_child(q):
    q.put(verify_math(boxed("\\sqrt{12}"), "2\\sqrt{3}").correct)


def test_inside_a_daemonic_multiprocessing_worker_after_fork():
    verify_math(boxed("\\sqrt{8}"), "2\\sqrt{2}")  # the parent's pool is warm before the fork
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=_in_child, args=(q,), daemon=True)
    p.start()
    assert q.get(timeout=60) is True
    p.join(10)


def test_registered_for_task_specs():
    v = get_verifier("math", timeout=2.0)
    assert v.name == "math"
    assert [x.correct for x in v.verify_many([VerifyItem(boxed("3"), "3"), VerifyItem(boxed("4"), "3")])] == [True, False]
    with pytest.raises(TypeError):
        get_verifier("math", no_such_option=1)


def test_cli_one_pair():
    r = CliRunner().invoke(main, ["verify", "\\boxed{\\dfrac{14}{3}}", "4\\frac{2}{3}"])
    assert r.exit_code == 0 and r.output.startswith("correct")
    r = CliRunner().invoke(main, ["verify", "it's B, not A", "B", "--verifier", "choice", "--json"])
    assert r.exit_code == 0 and json.loads(r.output)["answer"] == "B"


def test_cli_pairs_file_keeps_order_and_ids(tmp_path):
    src = tmp_path / "pairs.jsonl"
    lines = [
        {"id": "a", "completion": boxed("\\frac{1}{2}"), "gold": "0.5"},
        {"answer": "(C)", "gold": "C", "verifier": "choice"},
        {"id": 7, "completion": "<think>\\boxed{2}", "gold": "2"},
        {"id": "d", "completion": boxed("2"), "gold": "2", "finish_reason": "length"},
    ]
    src.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    out = tmp_path / "out.jsonl"
    r = CliRunner().invoke(main, ["verify", "--pairs", str(src), "--out", str(out)])
    assert r.exit_code == 0, r.output
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert [(x["id"], x["reason"]) for x in rows] == [("a", "correct"), (2, "correct"), (7, "truncated"), ("d", "truncated")]
    assert set(rows[0]) >= {"id", "correct", "score", "answer", "reason", "detail", "ms"}


@pytest.mark.parametrize("content,needle", [
    ('{"completion": "1", "gold": "1"}\n{oops\n', "pairs.jsonl:2: corrupt JSON line"),
    ('{"gold": "1"}\n', "pairs.jsonl:1: missing field 'completion'"),
    ('{"completion": "1"}\n', "pairs.jsonl:1: missing field 'gold'"),
    ('[1, 2]\n', "pairs.jsonl:1: expected a JSON object"),
    ('{"completion": "1", "gold": "1", "verifier": "nope"}\n', "pairs.jsonl:1: field 'verifier'"),
])
def test_cli_bad_pairs_file_is_one_line_exit_2(tmp_path, content, needle):
    src = tmp_path / "pairs.jsonl"
    src.write_text(content)
    r = CliRunner().invoke(main, ["verify", "--pairs", str(src)])
    assert r.exit_code == 2
    assert needle in r.output and "Traceback" not in r.output


# ---- what counts as equal: one block per rule, each with its own near misses ----
# (answer, gold, equal?) read with verify_answer: the answer is final answer text, read whole.
RULES = {
    "bare answer read whole": [
        ("x^2 + 2*x + 1", "(x+1)^2", True),
        ("(2x - 1)(2x + 1)(2x + 3)", "8x^3+12x^2-2x-3", True),
        ("\\tfrac83", "\\frac{8}{3}", True),
        ("\\sqrt2", "\\sqrt{2}", True),
        ("\\left(x-2\\right)\\left(x+2\\right)", "x^2-4", True),
        ("\\$10", "10", True),
        ("x^2 + 2*x + 1", "1", False),  # the old fragment reading said 1
        ("(2x - 1)(2x + 1)(2x + 3)", "3", False),
        ("\\sqrt3", "\\sqrt{2}", False),
    ],
    "long decimal against an exact gold": [
        ("0.0833333333333333", "\\frac{1}{12}", True),
        ("0.6666667", "\\frac{2}{3}", True),
        ("0.666666", "\\frac{2}{3}", True),  # cut at its last digit
        ("3.141593", "\\pi", True),
        ("1.414214", "\\sqrt{2}", True),
        ("0.33", "\\frac13", False),  # too few digits to be nothing else
        ("0.6667", "\\frac{2}{3}", False),
        ("0.666665", "\\frac{2}{3}", False),  # neither rounded nor cut
        ("3.14", "\\pi", False),
        ("0.0833334", "\\frac{1}{12}", False),
    ],
    "rounded decimal gold": [
        ("4.031882", "4.03188", True),
        ("\\frac{1}{3}", "0.333333", True),
        ("2.99\\times 10^{8}", "2.99e8", True),
        ("1.49025 \\times 10^{4}", "1.4903e4", True),
        ("4.0319", "4.03188", False),  # rounds to 4.03190
        ("4.03178", "4.03188", False),
        ("\\frac{1}{3}", "0.33", False),  # 1% off: values that clearly differ never match
        ("2.501", "2.5", False),
        ("1.4904e4", "1.4903e4", False),
    ],
    "whole-number golds stay exact": [
        ("1000", "1000", True),
        ("6630.0", "6630", True),
        ("1400", "1000", False),
        ("120", "12", False),
        ("12", "120", False),
        ("6630.65", "6630", False),  # Minerva's rounded 6630: evalkit reads whole numbers as exact
        ("5.001", "5", False),
    ],
    "science notation": [
        ("-1.5", "-3./2", True),
        ("-\\frac{3}{2}", "-3./2", True),
        ("0.00001", "1e-5", True),
        ("10^{-5}", "1e-5", True),
        ("0.0001", "1e-5", False),
        ("1.5", "-3./2", False),
        ("2e-5", "2 \\times 10^{-5}", True),
        ("2e-5", "2e-6", False),
    ],
    "clutter around gold and answer": [
        ("4", "4.", True),
        ("185", "185\\", True),
        ("+7", "7", True),
        ("10 weeks", "10", True),
        ("10 cm^2", "10", True),
        ("12^{\\mathrm{th}}\\text{ grade}", "12", True),
        ("10\\%", "10", True),
        ("5", "The answer is \\boxed{5}.", True),
        ("15,000 \\text{ kcal m}^{-2}\\text{ yr}^{-1}", "15000", True),
        ("-7", "7", False),
        ("4", "4.5", False),
        ("11 weeks", "10", False),
        ("10 x", "10", False),  # one letter is a variable, not a unit
        ("12^{\\mathrm{th}}\\text{ grade}", "11", False),
        ("15,001 \\text{ kcal}", "15000", False),
    ],
    "imaginary unit": [
        ("i(2-i)", "1+2i", True),
        ("(1+i)^2", "2i", True),
        ("\\frac{1}{i}", "-i", True),
        ("2i", "2", False),
        ("(1-i)^2", "2i", False),
        ("i(2+i)", "1+2i", False),
    ],
    "degrees inside trig functions": [
        ("\\cos x", "\\sin(90^\\circ - x)", True),
        ("\\frac{\\sqrt3}{2}", "\\sin 60^\\circ", True),
        ("\\sin x", "\\sin(90^\\circ - x)", False),
        ("\\cos x", "\\sin(90 - x)", False),  # no degree sign: radians
        ("90", "90^\\circ", True),  # outside a trig function a degree is its number
    ],
    "solution sets written two ways": [
        ("p=5,q=2;p=7,q=2", "p = 5, q = 2 \\quad\\text{and}\\quad p = 7, q = 2", True),
        ("q=2,p=7;p=5,q=2", "p = 5, q = 2 \\quad\\text{and}\\quad p = 7, q = 2", True),
        ("x = 1 \\text{ or } x = 2", "x=2, x=1", True),
        ("p=5,q=2", "p = 5, q = 2 \\quad\\text{and}\\quad p = 7, q = 2", False),
        ("p=5,q=3;p=7,q=2", "p = 5, q = 2 \\quad\\text{and}\\quad p = 7, q = 2", False),
        ("a=5,q=2;a=7,q=2", "p = 5, q = 2 \\quad\\text{and}\\quad p = 7, q = 2", False),
    ],
    "notation": [
        ("E_{1}", "E_1", True),
        ("\\frac{37}{4} m", "\\frac{37m}{4}", True),
        ("SRMC=LRMC", "\\text{SRMC} = \\text{LRMC}", True),
        ("b = m", "m", True),
        ("\\frac{e^{at}-e^{-at}}{2a}", "\\frac{\\sinh(at)}{a}", True),
        ("\\frac{e^{at}+e^{-at}}{2}", "\\cosh(at)", True),
        ("E_{2}", "E_1", False),
        ("\\frac{37}{4}", "\\frac{37m}{4}", False),
        ("SRMC=LRAC", "\\text{SRMC} = \\text{LRMC}", False),
        ("b = n", "m", False),
        ("\\frac{e^{at}+e^{-at}}{2a}", "\\frac{\\sinh(at)}{a}", False),
    ],
    "intervals keep their ends": [
        ("[2,\\infty)", "[2,\\infty)", True),
        ("(2,\\infty)", "[2,\\infty)", False),
        ("[2,\\infty)", "(2,\\infty)", False),
    ],
    "a percentage is its number, or that number over 100": [
        ("50\\%", "0.5", True),
        ("50\\%", "\\frac{1}{2}", True),
        ("0.05", "5\\%", True),
        ("33.3333\\%", "\\frac13", True),
        ("5\\%", "0.5", False),
        ("50", "0.5", False),  # no percent sign: a number is itself
        ("33\\%", "\\frac13", False),
    ],
    "degree signs, numbers in text mode, \\mathrm units": [
        ("90°", "90", True),
        ("90^{\\circ}", "90°", True),
        ("25 °C", "25", True),
        ("\\text{5}", "5", True),
        ("\\text{5 cm}", "5", True),
        ("5\\,\\mathrm{cm}", "5", True),
        ("12\\,\\mathrm{m}\\,\\mathrm{s}^{-1}", "12", True),
        ("91°", "90", False),
        ("\\text{5}", "6", False),
        ("3+2\\mathrm{i}", "3", False),  # \mathrm{i} is the imaginary unit, not a unit
        ("\\text{5 or 6}", "5", False),
    ],
    "words after a number that change or hedge it are no unit": [
        ("36 square units", "36", True),
        ("10 cm squared", "10", True),
        ("5 or six", "5", False),
        ("\\text{5 or six}", "5", False),
        ("5 \\text{ (or 6)}", "5", False),
        ("2\\text{ is not the answer}", "2", False),
        ("5 thousand", "5", False),
        ("10 squared", "10", False),
        ("2 pi", "2", False),
        ("6 \\text{ (approx)}", "6", False),  # each of these read as 6 plus a unit
        ("6 \\text{ incorrect}", "6", False),
        ("6 \\text{ max}", "6", False),
        ("6 \\text{ hundredths}", "6", False),
        ("6 \\text{ below zero}", "6", False),
        ("2.5 percent", "0.025", True),
        ("2.5 \\text{ percent}", "2.5", True),
    ],
    "letters after a number may be variables, not units": [
        ("x^2 + 2 xy", "x^2+2xy", True),  # read as x^2 + 2
        ("2 ab", "2ab", True),
        ("k^2 + 3 km", "k^2+3km", True),
        ("x = 5 meters", "5", True),
        ("3 hrs", "3", True),
        ("x^2 + 2 xy", "x^2+2", False),
        ("6 xy", "6", False),
    ],
    "a number in a font, an invisible delimiter": [
        ("\\textbf{7}", "7", True),  # a one-digit one was read as a symbol and refused
        ("\\mathit{7}", "7", True),
        ("\\left. 5 \\right.", "5", True),
        ("\\textbf{8}", "7", False),
    ],
    "values that clearly differ differ inside tuples, intervals, equations and matrices too": [
        ("(1, 0.5)", "(1, \\frac12)", True),
        ("y = 0.5", "y=\\frac{1}{2}", True),
        ("2, 1", "1, 2", True),  # a list of answers is a set: its order never mattered
        ("(1, \\frac{1}{2^{98}})", "(1, \\frac{1}{2^{99}})", False),  # math-verify rounds both to 0
        ("y=\\frac{1}{2^{98}}", "y=\\frac{1}{2^{99}}", False),
        ("[0, \\frac{1}{2^{98}}]", "[0, \\frac{1}{2^{99}}]", False),
        ("\\begin{pmatrix} 1 \\\\ 2^{-40} \\end{pmatrix}", "\\begin{pmatrix} 1 \\\\ 2^{-41} \\end{pmatrix}", False),
    ],
    "Unicode symbols are the LaTeX they stand for": [
        ("∞", "\\infty", True),
        ("(−∞, 2]", "(-\\infty, 2]", True),
        ("√2", "\\sqrt{2}", True),
        ("2√3", "\\sqrt{12}", True),
        ("√(√2+1)", "\\sqrt{\\sqrt{2}+1}", True),
        ("√√16", "2", True),
        ("∛8", "2", True),
        ("x²+1", "x^2+1", True),
        ("10⁻³", "0.001", True),
        ("a₁₂ + 1", "a_{12}+1", True),
        ("3⋅4", "12", True),
        ("2·x", "2x", True),
        ("0", "0·5", False),  # between digits `·` may be a decimal point (0·5 is 0.5 in British texts): not a product
        ("√π", "\\sqrt{\\pi}", True),
        ("x ≥ 3", "x \\geq 3", True),
        ("√2", "\\sqrt{3}", False),
        ("x³", "x^2", False),
        ("∞", "-\\infty", False),
        ("√x+1", "\\sqrt{x+1}", False),  # a root sign takes the name after it, not the sum
        ("\\varnothing", "\\emptyset", True),
        ("\\varnothing", "\\{0\\}", False),
        ("\\approx 3.14", "3.14", True),  # an answer opening with a relation is the value after it
        ("≈ 3.14", "3.14", True),
        ("= 5", "5", True),
        ("\\approx 3.14", "3.15", False),
        ("p", "\\sim p", False),  # `\sim p` is not p: a leading \sim goes only before a number
        ("\\sim p", "p", False),
        ("\\sim 5", "5", True),
    ],
    "signs and spaces between digits": [
        ("12\\,345", "12345", True),
        ("- 5", "-5", True),
        ("--5", "-5", False),
        ("+-5", "5", False),
        ("2 3", "23", False),
        ("1\\,2", "12", False),
    ],
}


@pytest.mark.parametrize("rule", list(RULES))
def test_what_counts_as_equal(rule):
    from evalkit.verifiers.math import verify_answer

    got = [(a, g, verify_answer(a, g).correct) for a, g, _ in RULES[rule]]
    assert got == [(a, g, want) for a, g, want in RULES[rule]]


def test_rules_hold_inside_a_completion_too():
    items = [(boxed(a), g) for rows in RULES.values() for a, g, _ in rows]
    want = [w for rows in RULES.values() for _, _, w in rows]
    assert [v.correct for v in verify_many(items)] == want


def test_float_golds_are_the_numbers_they_were_written_as():
    import numpy as np

    # a float32 column's 0.1 is 0.10000000149011612; 6.02e23 became the 24 digits of the nearest double
    assert [verify_math(f"\\boxed{{{a}}}", g).correct for a, g in (
        ("0.1", float(np.float32(0.1))), ("3.14", float(np.float32(3.14))), ("6.02 \\times 10^{23}", 6.02e23),
        ("10^{23}", 1e23), ("1152921504606846976", 2.0 ** 60), ("27", 27.0), ("0.2", float(np.float32(0.1))),
        ("6.03 \\times 10^{23}", 6.02e23))] == [True] * 6 + [False] * 2
    from evalkit.rewards import math_reward

    assert math_reward(["\\boxed{0.1}", "\\boxed{0.2}"], answer=[np.float32(0.1)] * 2) == [1.0, 0.0]


def test_nested_boxes_and_thousands_in_parts():
    from evalkit.verifiers.math import verify_answer

    # 300 nested boxes took 20 s in the caller's own process (no timeout reaches it); 800, minutes
    deep = "\\boxed{" * 800 + "5" + "}" * 800
    assert verify_answer(deep, "5", timeout=5).correct is True and verify_math("x", deep, timeout=5).reason != "error"
    assert verify_math("\\boxed{1,000} and \\boxed{2,000}", "$1000$,$2000$").correct is True  # read as 2, 000
    assert verify_math("\\boxed{1000, 2000}", "1,000, 2,000", multiple_answer=True).correct is True
    assert verify_math("\\boxed{1,000} and \\boxed{3,000}", "$1000$,$2000$").correct is False


def test_an_answer_of_several_boxes_is_several_parts_as_a_gold_is():
    # read as its last box: "\boxed{5}, \boxed{6}" was right against the gold 6, though the same text
    # as a gold is two parts (and 6 against that gold is wrong)
    from evalkit.verifiers.math import verify_answer

    two = "\\boxed{5}, \\boxed{6}"
    assert (verify_answer(two, "6").correct, verify_answer(two, "6").answer) == (False, "5, 6")
    assert verify_answer(two, "5,6").correct is True
    assert verify_answer(two, two).correct is True and verify_answer("6", two).correct is False
    # a model's whole output still answers with its last box
    assert verify_math("<think>5 or 6?</think> First \\boxed{5}, then \\boxed{6}", "6").correct is True


def test_bare_answer_is_not_a_completion():
    from evalkit.verifiers.math import verify_answer

    # Read as a completion, the text's last number is taken; read as an answer, all of it.
    assert verify_answer("x^2 + 2x + 1", "(x+1)^2").correct is True
    assert verify_math("x^2 + 2x + 1", "(x+1)^2").correct is not True
    # Dicts choose by key; a bare answer has no think block and is never truncated.
    got = verify_many([{"answer": "\\tfrac83", "gold": "\\frac83"},
                       {"completion": "<think>\\boxed{\\tfrac83}", "gold": "\\frac83"}])
    assert [v.reason for v in got] == ["correct", "truncated"]
    assert verify_answer(27.0, "27").correct is True
    assert verify_answer("", "27").reason == "no_answer"


def test_cli_bare_pred_is_an_answer_and_completion_flag_reads_a_model_output():
    r = CliRunner().invoke(main, ["verify", "x^2 + 2*x + 1", "(x+1)^2", "--json"])
    assert r.exit_code == 0 and json.loads(r.output)["correct"] is True
    r = CliRunner().invoke(main, ["verify", "<think>\\boxed{5}</think> I give up.", "5", "--completion", "--json"])
    assert r.exit_code == 0 and json.loads(r.output)["reason"] == "no_answer"


def test_cli_pairs_answer_field_is_read_whole(tmp_path):
    src = tmp_path / "pairs.jsonl"
    src.write_text(json.dumps({"id": 1, "answer": "(2x - 1)(2x + 1)(2x + 3)", "gold": "(2x+3)(2x+1)(2x-1)"}) + "\n"
                   + json.dumps({"id": 2, "completion": "<think>\\boxed{3}</think>", "gold": "3"}) + "\n")
    r = CliRunner().invoke(main, ["verify", "--pairs", str(src)])
    assert r.exit_code == 0, r.output
    assert [json.loads(x)["reason"] for x in r.output.splitlines()] == ["correct", "no_answer"]
    src.write_text(json.dumps({"answer": "1", "completion": "1", "gold": "1"}) + "\n")
    r = CliRunner().invoke(main, ["verify", "--pairs", str(src)])
    assert r.exit_code == 2 and "pairs.jsonl:1: fields 'completion' and 'answer'" in r.output


@pytest.mark.parametrize("answer", BAD + [". " * 100_000 + "x", "5 " + "ab  " * 50_000 + "7", "\\" * 100_000],
                         ids=[f"bad{i}" for i in range(len(BAD) + 3)])
def test_bad_bare_answer_gets_a_verdict(answer):
    from evalkit.verifiers.math import verify_answer

    v = verify_answer(answer, "1")
    assert v.correct is False and v.score == 0.0
    assert v.reason in ("no_answer", "wrong", "timeout")


@pytest.mark.parametrize("answer, gold, equal", [
    ("\\{i^2, 2\\}", "\\{-1, 2\\}", True),
    ("(i(2-i), 3)", "(1+2i, 3)", True),
    ("\\pm(1+i)^2", "\\pm 2i", True),
    ("\\{(1+i)^2,-2i\\}", "\\{2i,-2i\\}", True),
    ("(2i, 3)", "(1+2i, 3)", False),
    ("\\{i^2, 3\\}", "\\{-1, 2\\}", False),
])
def test_sets_and_pairs_holding_the_imaginary_unit_are_compared(answer, gold, equal):
    # the imaginary-unit rewrite expanded a set or a pair whole: the worker raised, and a right answer
    # scored `timeout` ("'FiniteSet' object has no attribute 'expand'", "Non-real intervals")
    v = verify_math(boxed(answer), gold)
    assert (v.correct, v.reason) == (equal, "correct" if equal else "wrong"), v


def test_thinking_opened_again_after_its_close_holds_no_answer():
    # the answer was read from after the last `</think>`, though thinking opened again there and never
    # closed: `<think>x</think><think>\boxed{4}` scored correct (the README: never-closed thinking is truncated)
    reopened = "<think>\nwork\n</think>\n<think>\nso \\boxed{4}"
    assert verify_math(reopened, "4").reason == "truncated"
    assert verify_math(reopened, "4", finish_reason="stop").reason == "no_answer"
    # what came before it was the answer shown
    shown = "<think>\nwork\n</think>\nThe answer is \\boxed{4}.\n<think>\nhmm"
    assert verify_math(shown, "4", finish_reason="stop").correct is True
    assert verify_math(shown, "4").reason == "truncated"
    choice = get_verifier("choice").verify_many([VerifyItem("<think>x</think><think>\\boxed{C}", "C", "stop")])
    assert choice[0].correct is False
    from evalkit.verifiers.code import extract_code

    assert extract_code("<think>x</think><think>\n```python\nprint(1)\n```") is None
    # a marker inside a program is the program's
    assert extract_code('<think>x</think>\n```python\nprint("<think>")\n```') == 'print("<think>")\n'
    # and one inside a sentence is the sentence's
    mention = "<think>x</think>Models write `<think>` before reasoning, so the count is \\boxed{5}."
    assert verify_math(mention, "5", finish_reason="stop").correct is True


@pytest.mark.parametrize("answer, gold, equal", [
    ("5 = 4", "4", False),  # a false statement was read by its right side
    ("2+2 = 5", "5", False),
    ("\\sqrt{3} = 4", "4", False),
    ("\\frac{10}{2} = 5", "5", True),  # a true one still is its value
    ("a+b = 5", "5", True),
    ("30^\\circ = \\frac{\\pi}{6}", "\\frac{\\pi}{6}", True),  # degrees, a rounding, a congruence: not false
    ("\\frac{1}{3} = 0.33", "0.33", True),
    ("17 \\equiv 2", "2", True),
    ("5.0 = 4", "4", False),  # a decimal is a rounding only when near
    ("0.5 = 1", "1", False),
    ("10^\\circ = 5", "5", False),  # in degrees or not, 10 is not 5
    ("x=4 \\lor x=5", "5", False),  # two answers for one: math-verify read the last alternative
    ("x=4 \\vee x=5", "4", False),
    ("x=4 \\lor x=5", "\\{4,5\\}", True),
    ("3 \\text{ fourths}", "3", False),  # words that change or hedge the value are no units
    ("3 \\text{ else five}", "3", False),
    ("3 halved", "3", False),
    ("3 tenth", "3", False),
    ("12 \\text{ inches}", "12", True),
    ("20 \\text{ more}", "20", True),  # "how many more": the answer's unit
    ("3 \\text{ fewer}", "3", True),
    ("10 cm squared", "10", True),
    ("\\color{red}{4}", "4", True),  # a colour or a phantom is no part of the value
    ("\\textcolor{red}{4}", "4", True),
    ("4\\phantom{5}", "4", True),
    ("5\\phantom{4}", "4", False),
    ("\\color{white}{5}4", "4", False),
    ("½", "\\frac12", True),
    ("3¾", "\\frac{15}{4}", True),
])
def test_statements_alternatives_words_and_styling_in_an_answer(answer, gold, equal):
    from evalkit.verifiers.math import verify_answer

    assert verify_answer(answer, gold).correct is equal
    assert verify_math(boxed(answer), gold).correct is equal


@pytest.mark.parametrize("final, gold, equal", [
    ("The answer is 4, 5, 6.", "4", False),  # read as 4 (math-verify's first element)
    ("5 or 4", "4", False),  # read as 4 (the last)
    ("x = 4, 5, 6", "6", False),
    ("Candidates: 4; 5; 6", "6", False),
    ("The answer is 4, 5, 6.", "4, 5, 6", True),
    ("The answers are 2 and 3.", "2, 3", True),
    ("The answer is 1,234.", "1234", True),
    ("The answer is 4, since 2 + 2 = 4.", "4", True),
    ("We get 3 apples and 4 pears.\nThe answer is 7.", "7", True),
    ("The answer is 18.\nCheck: 10 and 8", "18", True),  # a line of numbers that is no answer
    ("The answer is 0.5 or 1/2.", "\\frac12", True),  # one value written two ways
    ("Answer: 5 or 5.0", "5", True),
    ("The answer is 5.\nThe roots are 2 and 3.", "5", True),  # a remark after the stated answer
    ("Answer: 7\nThe possible values are 3 and 4", "7", True),
    ("The answer is either 42 or 43.", "42", False),  # read as 42 (the first), while "42 or 43" was both
    ("Either 42 or 43", "43", False),
    ("The answer is either 0.5 or 1/2.", "\\frac12", True),
])
def test_an_unboxed_answer_that_lists_numbers_is_all_of_them(final, gold, equal):
    v = verify_math(f"<think>\nwork\n</think>\n{final}", gold, finish_reason="stop")
    assert v.correct is equal, v


def test_a_denied_final_answer_statement_does_not_replace_the_box():
    # "The final answer is $X$" after the last box wins; a negated one won too
    assert verify_math("<think>x</think> \\boxed{5} I cannot say the final answer is $4$", "4").correct is False
    assert verify_math("<think>x</think> \\boxed{5} I cannot say the final answer is $4$", "5").correct is True
    assert verify_math("<think>x</think> \\boxed{5} So the final answer is $4$.", "4").correct is True
    assert verify_math("<think>x</think> I don't think it's 5, the final answer is $4$.", "4").correct is True
    assert verify_math("<think>x</think> \\boxed{5} It is not true that the final answer is $4$", "4").correct is False
    # a negation that is not about the statement: a self-correction
    assert verify_math("<think>x</think> \\boxed{3} is not correct so the final answer is $4$.", "4").correct is True


@pytest.mark.parametrize("answer, gold, equal", [
    ("12_{7}", "12_5", False),  # math-verify dropped the subscripts: another base was the same numeral
    ("5_{4}", "5", False),  # 5 is no digit of base 4
    ("13_{7}", "10_{10}", False),  # two bases, one value: the question asked for one of them (QA: `123_{10}`
    ("123_{10}", "443_5", False),  # against `443_5` restates "convert 123 to base 5", and was paid)
    ("12", "12_5", True),  # the answer without its base is read by its digits
    ("1011_{2}", "1011_2", True),
    ("C_{3}", "\\mathrm{C}_3", True),  # a name with an index, no numeral
])
def test_numerals_in_a_base(answer, gold, equal):
    from evalkit.verifiers.math import verify_answer

    assert verify_answer(answer, gold).correct is equal


@pytest.mark.parametrize("answer, gold, equal", [
    # right answers the false-statement rule failed
    ("11_{10} = 1011_2", "1011_2", True),  # a base conversion: math-verify read 11 = 1011
    ("1011_2 = 11_{10}", "11", True),
    ("\\frac{250}{3} = 83", "83", True),  # rounded at its last digit, with no decimal written
    ("\\sqrt{2}\\cdot 100 = 141", "141", True),
    ("\\frac{\\pi}{6} = 30", "30", True),  # degrees without the sign
    ("\\$1.50 = 150", "150", True),  # dollars and cents: currency keeps an equation out of the rule
    ("\\frac13 = 0.33", "\\frac13", True),  # a true statement is any of its sides
    ("\\sqrt2 = 1.414", "\\sqrt2", True),
    ("\\frac{\\pi}{3} = 60^\\circ", "\\frac{\\pi}{3}", True),
    # wrong answers it let through
    ("1000.0 = 960", "960", False),  # within 5%, but no rounding of 1000
    ("\\frac13 = 0.34", "0.34", False),
    ("5 = 4 = 4", "4", False),  # a chain is false where two neighbours differ
    ("x = 5 = 4", "4", False),
    ("2+2 = 5 = 4", "4", False),
    ("0.5 = 1", "1", False),  # one significant digit is no rounding
    ("A_{12}", "A_{11}", False),  # a letter with an index is a name, not the numeral 10 in two bases
    ("B_{13}", "B_{12}", False),
    # units
    ("5 \\text{ perfect scores}", "5", True),
    ("12 \\text{ pieces of candy}", "12", True),  # "of" inside a unit
    ("6 \\text{ times}", "6", True),  # "times" as the unit of a count
    ("3 \\text{ of them}", "3", False),
    ("2 \\text{ times } x", "2", False),
    ("3 \\text{ dozen}", "3", False),
])
def test_equations_bases_and_units_read_as_a_careful_grader_reads_them(answer, gold, equal):
    from evalkit.verifiers.math import verify_answer

    v = verify_answer(answer, gold)
    assert v.correct is equal, v
    assert verify_math(boxed(answer), gold).correct is equal


@pytest.mark.parametrize("final, gold, equal", [
    ("The answer is 2/3 or 0.67.", "\\frac23", True),  # one value, exact and rounded
    ("The answer is 1/3 or 0.333.", "\\frac13", True),
    ("The answer is 0.5 or 1.", "1", False),  # no rounding of each other: two answers
    ("The answer is 4 or 4.1.", "4", False),
    ("The answer is **5** or **4**.", "4", False),  # bold was read as no list (math-verify read 4)
    ("The answer is 3 or 4 hours.", "3", False),  # nor a list with its unit
    ("The answer is 1,000 or 2,000.", "1000", False),  # nor one with thousands separators
    ("The answer is 12 hours.", "12", True),
    ("The final answer is $5$ or $4$.", "5", False),  # the statement's first $…$ alone was read
    ("\\boxed{5} The final answer is $4$ or $5$", "4", False),
    ("The final answer is $x = 2$ or $x = -3$.", "2, -3", True),
    ("\\boxed{5} Suppose the final answer is $4$; then no.", "5", True),  # a supposition is no statement
    ("\\boxed{5} If the final answer is $4$, the sum is odd.", "5", True),
])
def test_an_unboxed_or_stated_answer_with_two_values_is_both(final, gold, equal):
    v = verify_math(f"<think>\nwork\n</think>\n{final}", gold, finish_reason="stop")
    assert v.correct is equal, v


@pytest.mark.parametrize("answer, gold, equal", [
    ("\\frac{5}{6} = 0.8", "0.8", True),  # a decimal rounded to one digit is still a rounding
    ("\\frac{1}{12} = 0.08", "0.08", True),
    ("\\frac{2}{3} = 0.6", "0.6", False),  # cut at one digit is not
    ("12 = 12.9", "12", False),  # a whole number is rounded, never cut
    ("1.5 = 90", "90", False),  # degrees hold exactly, not rounded
    ("180 = \\pi", "180", True),
])
def test_roundings_in_an_equation_as_a_grader_reads_them(answer, gold, equal):
    from evalkit.verifiers.math import verify_answer

    assert verify_answer(answer, gold).correct is equal


@pytest.mark.parametrize("final, gold, equal", [
    ("The final answer is $12$, and $x = 12$ satisfies the equation.", "12", True),  # a remark, not a second answer
    ("Therefore, the final answer is $6$, and $6 > 5$ as required.", "6", True),
    ("The final answer is $\\frac{1}{2}$ or $0.5$.", "\\frac12", True),  # one value
    ("The final answer is $5$ or $4$, I think.", "5", False),  # alternatives are two answers, whatever follows
    ("The final answer is $x=-2$ or $x=3$ since both satisfy it.", "-2, 3", True),
    ("The final answer is $5$, and $n$ is the number of ways.", "5", True),  # "and" joins a remark
    ("The final answer is $k = 4$; $k$ is the smallest such integer.", "4", True),
    ("The final answer is $(1,2)$ and $(3,4)$ are not solutions.", "(1,2)", True),
    ("The final answer is $2$, or $x=2$.", "2", True),  # a relation after a value restates it
])
def test_math_after_a_stated_final_answer(final, gold, equal):
    assert verify_math(f"<think>\nwork\n</think>\n{final}", gold, finish_reason="stop").correct is equal


@pytest.mark.parametrize("final, gold, equal", [
    # LaTeX stated outside math mode: math-verify alone read the number before the markup, so each of these
    # matched the gold on the right, which the answer never gave
    ("The answer is 2^{10}.", "2", False),
    ("The answer is 10^{-3}.", "10", False),
    ("Therefore the answer is 5\\sqrt{2}.", "5", False),
    ("The answer is 7\\frac{1}{2}.", "\\frac{1}{2}", False),
    ("So the answer is 2\\pi", "2", False),
    # and what it does give is read whole
    ("The answer is 2^{10}.", "1024", True),
    ("Answer: \\frac{1}{2}", "0.5", True),
    ("**Answer:** 5\\sqrt{2}", "\\sqrt{50}", True),
    ("The answer is 2^{10} or 2^{11}.", "2048", False),  # two answers are still two
    ("I cannot say the answer is 2^{10}.", "1024", False),  # a denied statement states nothing
    # a noun or two after it names what it counts; read as 28 and 2 before
    ("The answer is 28^{2} ways.", "784", True), ("The answer is 28^{2} ways.", "28", False),
    ("The answer is 2^{10} handshakes.", "2", False), ("Answer: 5\\sqrt{2} square units", "\\sqrt{50}", True),
    ("The answer is 2^{10} or so.", "1024", False),  # a hedge still leaves the line to math-verify
    ("The answer is 2^{10} ways or 2^{11} ways.", "2048", False),
    # words that change the value are no noun: the LaTeX alone is not the answer
    ("The answer is 2^{10} minus one.", "1024", False), ("The answer is 2^{10} plus one.", "1024", False),
    ("The answer is 3^{2} squared.", "9", False), ("The answer is 10^{3} thousand.", "1000", False),
    ("The answer is 10^{2} percent.", "100", False),
])
def test_an_unboxed_answer_in_latex_outside_math_mode_is_read_whole(final, gold, equal):
    v = verify_math(f"<think>\nwork\n</think>\n{final}", gold, finish_reason="stop")
    assert v.correct is equal, v


@pytest.mark.parametrize("box, gold, equal", [
    # AMC-style: the option's label and its value
    ("\\textbf{(C) }42", "42", True),
    ("\\text{(C)}~42", "42", True),
    ("(C)\\ 42", "42", True),
    ("\\textbf{(C) }42", "\\text{(C)}", True),  # against a letter gold, the letter
    ("\\textbf{(C) }42", "\\text{(B)}", False),
    ("\\textbf{(C) }41", "42", False),
    ("(A) 1 (B) 2 (C) 42", "42", False),  # several options are no answer
    # siunitx
    ("\\num{42}", "42", True),
    ("\\num{1.5e3}", "1500", True),
    ("\\SI{42}{\\metre}", "42", True),
    ("\\qty{5}{\\percent}", "0.05", True),
    ("\\num{41}", "42", False),
])
def test_option_labels_and_siunitx_in_a_box(box, gold, equal):
    v = verify_math(f"<think>\nwork\n</think>\nThe answer is $\\boxed{{{box}}}$.", gold, finish_reason="stop")
    assert v.correct is equal, v


@pytest.mark.parametrize("final, gold, equal", [
    # "the answer is $X$" with no box is read as a box is: math-verify's own extraction read a false chain by its
    # last side, a hedge in text by its first number and `\lor` by its last alternative
    ("The answer is $3 = 4$.", "4", False),
    ("The answer is $6 = 6.5 = 7$.", "7", False),
    ("The answer is $31 \\text{ (or 30)}$.", "31", False),
    ("The answer is $6 \\text{ below zero}$.", "6", False),
    ("**Answer:** $x = 109 \\lor x = 110$", "110", False),
    ("The answer is $5$ or $4$.", "5", False),
    # and the rules that read a box read it right
    ("The answer is $\\phantom{5}4$.", "4", True),
    ("So, the answer is $x = \\text{even}$.", "\\text{even}", True),
    ("**Answer:** $\\frac{1}{2}$", "0.5", True),
    ("The answer is $x = 1$ or $x = -2$.", "1, -2", True),
    # math after it is math-verify's to read: a correction, a remark
    ("The answer is $\\pi$. Wait, that's wrong. Recomputing, we get $3$.", "3", True),
    ("The answer is $x$, where $x = 7$.", "7", True),
    ("If the answer is $4$, $x$ is odd; it is even, so the answer is $5$.", "5", True),
    # an escaped dollar inside the math is currency, not its end
    ("The answer is $\\$36$.", "36", True),
    ("The final answer is $\\$18.90$.", "18.90", True),
])
def test_an_unboxed_answer_stated_in_math_mode_is_read_as_a_box(final, gold, equal):
    v = verify_math(f"<think>\nwork\n</think>\n{final}", gold, finish_reason="stop")
    assert v.correct is equal, v


@pytest.mark.parametrize("box, gold", [
    ("\\text{(C)}, 7", "\\text{(C)}"), ("(C) or 7", "\\text{(C)}"), ("(C)\\ 42 \\lor 43", "42"), ("(C) 42, 43", "42"),
])
def test_an_option_label_before_several_answers_is_no_one_answer(box, gold):
    assert verify_math(f"\\boxed{{{box}}}", gold).correct is False


@pytest.mark.parametrize("final, gold, equal", [
    # math-verify reads the number after "answer" first: a denied or supposed value was the answer, the stated one wrong
    ("The answer is not 5; it is 7.", "5", False), ("The answer is not 5; it is 7.", "7", True),
    ("The answer isn't $5$, it's $7$.", "5", False), ("The answer isn't $5$, it's $7$.", "7", True),
    ("If the answer were 5, x would be odd, so it must be 7.", "5", False),
    ("The answer is not 5.", "5", False),
    ("The answer is 5, not 7.", "5", True),
    # a value once believed, and an answer checked rather than stated
    ("I first thought the answer was 5, but the total is 7.", "5", False),
    ("I first thought the answer was 5, but the total is 7.", "7", True),
    ("At first I assumed that the answer would be $12$; recounting gives 14.", "12", False),
    ("The answer is 898. Let me double-check my answer with 3 cases.", "898", True),
    ("The answer is 898. Let me double-check my answer with 3 cases.", "3", False),
    ("I think the answer is 5.", "5", True),
    # a belief confirmed, or not given up, is still the answer
    ("As I suspected the answer was 5.", "5", True), ("Exactly as I guessed the answer was 42.", "42", True),
    ("So, just as we thought the answer would be 6.", "6", True), ("I thought the answer was 5, and it is.", "5", True),
])
def test_a_value_an_unboxed_answer_denies_is_no_answer(final, gold, equal):
    v = verify_math(f"<think>\nwork\n</think>\n{final}", gold, finish_reason="stop")
    assert v.correct is equal, v


@pytest.mark.parametrize("final, gold, equal", [
    ("So the answer is \\$180.", "180", True),  # markdown escapes the dollar: no answer before
    ("**Answer:** \\$40.00", "40", True),
    ("She makes \\$1,250 every week.", "1250", True),
    ("So the answer is \\$180.", "18", False),
])
def test_an_escaped_dollar_outside_math_is_currency(final, gold, equal):
    v = verify_math(f"<think>\nwork\n</think>\n{final}", gold, finish_reason="stop")
    assert v.correct is equal, v


@pytest.mark.parametrize("answer, gold, correct", [
    # Minerva's units as physics answers write them: a tie (`~`), a micro prefix, a unit's powers inside
    # `\mathrm{}`, solar masses, ohms and angstroms, a space before `\%`: each was `wrong` against the bare number
    ("42~\\text{km}", "42", True), ("1.5~\\mathrm{eV}", "1.5", True), ("42~", "42", True),
    ("12\\sqrt{3}~\\text{cm}^2", "12\\sqrt{3}", True), ("15~^{\\circ}\\mathrm{C}", "15", True),
    ("0.3\\,\\mu\\text{m}", "0.3", True), ("3\\times10^{5}\\,\\mathrm{km\\,s^{-1}}", "3\\times10^5", True),
    ("2.5 M_\\odot", "2.5", True), ("10\\,L_{\\odot}", "10", True), ("5\\,\\Omega", "5", True),
    ("5000\\AA", "5000", True), ("20\\,\\%", "20", True), ("20~\\%", "20", True),
    # what stays: a value with a unit is still its value, a symbol that is no unit after a number is a factor
    ("2.5 M_\\odot", "3.5", False), ("x\\Omega", "x", False), ("0.3\\mu", "0.3", False),
    ("5~\\text{or}~6", "5", False),
    # no unit: e squared, a root, a word with braces in it, a friction coefficient and a normal force
    ("3\\mathrm{e^{2}}", "3", False), ("5\\mathrm{\\sqrt{x}}", "5", False), ("5\\text{ mi{ll}ion}", "5", False),
    ("2\\mu\\mathrm{N}", "2", False),
    # units divided or multiplied, and degrees written with a bare letter or a command: each was `wrong`
    ("9.8\\,\\text{m}/\\text{s}^2", "9.8", True), ("9.8 \\mathrm{~m} / \\mathrm{s}^{2}", "9.8", True),
    ("9.8 \\, \\text{m}\\cdot\\text{s}^{-2}", "9.8", True), ("9.8\\ \\dfrac{\\text{m}}{\\text{s}^2}", "9.8", True),
    ("9.8\\,\\frac{\\text{kg}\\,\\text{m}^2}{\\text{s}^2}", "9.8", True), ("9.8\\ \\frac{m}{s^2}", "9.8", True),
    ("1000\\,\\frac{kg}{m^3}", "1000", True), ("60\\;\\frac{km}{h}", "60", True),
    ("15^\\circ C", "15", True), ("15\\ ^{\\circ}F", "15", True), ("15\\degree", "15", True),
    ("15\\textdegree C", "15", True),
    # what stays: a fraction of variables, or one with a space alone, or a number or a word in it, is a factor
    ("9.8\\,\\frac{x}{y}", "9.8", False), ("9.8 \\frac{m}{s}", "9.8", False), ("x\\,\\frac{m}{s}", "x", False),
    ("9.8\\,\\frac{1}{\\text{s}}", "9.8", False), ("9.8\\,\\frac{\\text{or}}{\\text{s}}", "9.8", False),
    ("9.8\\,\\text{m}/\\text{s}^2", "9.7", False), ("15^\\circ C", "16", False),
    # a fraction of single bare letters is a ratio of variables, not units (metres over seconds aside), and a sign
    # between a value and a unit, or a unit that is a number word or a letter in text mode, keeps the value
    ("\\frac{1}{2}\\,\\frac{T}{L}", "\\frac{1}{2}\\,\\frac{L}{T}", False), ("T = 2\\,\\frac{L}{g}", "2", False),
    ("\\sqrt{2}\\,\\frac{g}{h}", "\\sqrt{2}", False), ("4\\,\\frac{m}{s}", "4\\,\\frac{s}{m}", False),
    ("x\\,/\\,\\text{y}", "x", False), ("6 \\text{ apples}/\\text{ two}", "6", False),
    ("5\\frac{\\text{a}}{\\text{b}}", "5", False), ("5\\,\\cdot\\,\\text{e}", "5", False),
])
def test_units_written_as_physics_answers_write_them_are_dropped(answer, gold, correct):
    assert verify_answer(answer, gold).correct is correct
    assert verify_math(f"<think>hmm</think> So $\\boxed{{{answer}}}$.", gold).correct is correct


@pytest.mark.parametrize("answer, gold, correct", [
    # an exact value and its decimal joined by \approx, as R1 writes them: only the first side was read (against
    # a decimal gold, wrong), and a false one, `7 \approx 8`, was its first side (correct)
    ("e^2 \\approx 7.39", "7.39", True), ("e^2 \\approx 7.39", "e^2", True), ("\\ln 2 \\approx 0.693", "0.693", True),
    ("\\frac{100}{3} \\approx 33.33", "33.33", True), ("x \\approx 3.14", "3.14", True),
    ("7 \\approx 8", "7", False), ("\\sqrt{2} \\approx 1.5", "\\sqrt2", False), ("12 \\approx 100", "12", False),
    # a rough rounding is no answer: the exact side is, and a plain side written to two digits or more
    ("\\frac{6}{11} \\approx 0.5", "\\frac12", False), ("\\frac{3}{11} \\approx 0.3", "0.3", False),
    ("0.54 \\approx 0.5", "\\frac{1}{2}", False), ("\\pi \\approx 3", "\\pi", True), ("2^{10} \\approx 1000", "1024", True),
    ("x=15 \\approx 20", "15", True),
    # one value written several ways, as an equation is: no walk through roundings, no two exact values
    ("42 \\approx 42.5 \\approx 43", "43", False), ("51 \\approx 100 \\approx 149", "149", False),
    ("\\frac{5}{2} \\approx 3 \\approx \\pi", "\\pi", False), ("42 = 42.5 = 43 \\approx 43", "43", False),
    ("1 \\approx 1", "1", True), ("\\frac13 = 0.333 \\approx 0.33", "\\frac13", True),
    # one \pm inside a fraction is both values, as one at the top level is
    ("\\frac{-3 \\pm \\sqrt{17}}{4}", "\\frac{-3+\\sqrt{17}}{4}, \\frac{-3-\\sqrt{17}}{4}", True),
    ("\\frac{-3+\\sqrt{17}}{4}, \\frac{-3-\\sqrt{17}}{4}", "\\frac{-3 \\pm \\sqrt{17}}{4}", True),
    ("\\frac{-1 \\pm \\sqrt{5}}{2}", "\\frac{-1\\pm\\sqrt5}{2}", True), ("\\frac{2\\pm\\sqrt2}{2}", "1\\pm\\frac{\\sqrt2}{2}", True),
    ("x = \\frac{-1 \\pm i\\sqrt{3}}{2}", "\\frac{-1+i\\sqrt{3}}{2}, \\frac{-1-i\\sqrt{3}}{2}", True),
    ("\\frac{1\\pm\\sqrt5}{2}", "\\frac{1+\\sqrt5}{2}", False),  # both roots for one
    ("\\frac{3\\pm\\sqrt{5}}{2}", "\\frac{1\\pm\\sqrt5}{2}", False),
    # a bracketed number after a number, a group or \pi is a factor
    ("\\frac{1}{2}(8)(3)", "12", True), ("\\pi(3)^2", "9\\pi", True), ("\\frac{4}{3}\\pi (3)^3", "36\\pi", True),
    ("2(3)", "6", True), ("2(3)", "5", False), ("f(3)", "f(3)", True),
    # an argument is no factor: a log's base, a power of a function
    ("\\log_{2}(8)", "3", True), ("\\log_3 2", "\\log_{3}(2)", True), ("\\sin^{-1}(1)", "\\frac{\\pi}{2}", True),
    ("\\sin^2(3)+\\cos^2(3)", "1", True),
    # a measurement with its uncertainty is one value, not two answers
    ("4.9, 5.1", "(5.0 \\pm 0.1)", False), ("(5.0 \\pm 0.1)", "5.0 \\pm 0.1", True),
    ("(3 \\pm \\sqrt{5})/2", "\\frac{3+\\sqrt5}{2}, \\frac{3-\\sqrt5}{2}", True),  # a bracket divided: a numerator
    # bounds on one variable joined by words are intervals: math-verify read "or" and "and" alike, as a set of two
    # relations, against an interval union never equal
    ("x < -2 \\text{ or } x > 3", "(-\\infty,-2)\\cup(3,\\infty)", True),
    ("(-\\infty,-2)\\cup(3,\\infty)", "x<-2 \\text{ or } x>3", True),
    ("x<-2 \\lor x>3", "(-\\infty,-2)\\cup(3,\\infty)", True), ("x>-2 \\text{ and } x<3", "(-2,3)", True),
    ("x \\leq 1 \\text{ or } x \\geq 4", "(-\\infty,1]\\cup[4,\\infty)", True),
    ("x < -2 \\text{ or } x > 3", "(-\\infty,-2]\\cup(3,\\infty)", False),
    ("x>-2 \\text{ and } x<3", "(-\\infty,-2)\\cup(3,\\infty)", False),
])
def test_approximations_plus_minus_in_fractions_and_bracketed_factors_are_read_as_written(answer, gold, correct):
    assert verify_answer(answer, gold).correct is correct
    assert verify_math(f"<think>hmm</think> So $\\boxed{{{answer}}}$.", gold).correct is correct


def test_units_with_runs_of_spaces_are_read_in_linear_time():
    # two spaces between units split two ways each: 18 units that end in no unit took 65 s in the calling process,
    # outside any verifier timeout (the rewrites run before it)
    import subprocess
    import sys

    code = ("from evalkit.verifiers._mathtext import rewrite\n"
            "for t in ['5\\\\,\\\\frac{' + '\\\\text{m}  ' * 22 + 'x}{\\\\text{s}}',"
            " '5\\\\,' + '\\\\text{kg} ' * 30 + '\\\\text{m}^{2}\\\\,x']:\n    rewrite(t)\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30)


@pytest.mark.parametrize("final, plain, boxed_only", [
    ("The answer is 3.", "correct", "no_answer"),
    ("answerC\n 3", "correct", "no_answer"),  # math-verify's last number: what a random policy was paid for
    ("So $\\boxed{3}$.", "correct", "correct"),
    # a box taken back in words: the unboxed 4 is no answer (reading the box would pay 3, which the model retracted)
    ("\\boxed{3}. Wait, actually the answer is 4.", "wrong", "no_answer"),
    ("\\boxed{4}, so the answer is \\boxed{3}.", "correct", "correct"),
    ("$\\boxed{3}$. The final answer is $3$.", "correct", "correct"),
    # restated in another spelling it stands (each was no_answer: the restatement was compared as text)
    ("$\\boxed{3}$. The final answer is $3.0$.", "correct", "correct"),
    ("$\\boxed{3}$. The final answer is $x = 3$.", "correct", "correct"),
    ("$\\boxed{3}$. Wait, actually it is $4$.", "wrong", "no_answer"),
    ("$\\boxed{3}$. The final answer is $x = 4$.", "wrong", "no_answer"),
])
def test_require_box_pays_only_a_boxed_final_answer(final, plain, boxed_only):
    completion = f"<think>\\boxed{{3}}</think> {final}"
    assert verify_math(completion, "3").reason == plain
    assert verify_math(completion, "3", require_box=True).reason == boxed_only
    with pytest.raises(ValueError, match="option 'require_box': expected true or false"):
        verify_math(completion, "3", require_box="yes")


@pytest.mark.parametrize("box, said, gold", [
    ("\\dfrac{1}{2}", "\\frac{1}{2}", "\\frac12"),
    ("2\\sqrt{3}", "2 \\sqrt{3}", "2\\sqrt3"),
    ("1000", "1{,}000", "1000"),
    ("1000", "1,000", "1000"),
])
def test_require_box_takes_the_box_restated_in_another_spelling(box, said, gold):
    completion = f"$\\boxed{{{box}}}$. So the final answer is ${said}$."
    assert verify_math(completion, gold, require_box=True).correct is True
    assert verify_math(completion.replace(said, "7"), gold, require_box=True).reason == "no_answer"


def test_require_box_with_think_fallback_takes_a_box_in_the_thinking():
    assert verify_math("<think>so \\boxed{3}</think> 3", "3", require_box=True).reason == "no_answer"
    assert verify_math("<think>so \\boxed{3}</think> 3", "3", require_box=True, think_fallback=True).correct is True


@pytest.mark.parametrize("box, gold, correct", [
    # a multi-part gold met by one box whose parts words or spacing join: math-verify reads numbers so joined
    # (`1 \text{ and } 2`), but equations so joined were one part, wrong against every OlympiadBench function answer
    ("f(x)=x+1 \\text{ and } f(x)=-1", "$f(x)=x+1$, $f(x)=-1$", True),
    ("f(x)=x+1 \\text{ or } f(x)=-1", "$f(x)=x+1$, $f(x)=-1$", True),
    ("f(x)=x+1 \\quad f(x)=-1", "$f(x)=x+1$, $f(x)=-1$", True),
    ("f(x)=x+1; f(x)=-1", "$f(x)=x+1$, $f(x)=-1$", True),
    ("f(x)=x+1 \\text{ and } f(x)=-2", "$f(x)=x+1$, $f(x)=-1$", False),  # every part must be right
    ("f(x)=x+1", "$f(x)=x+1$, $f(x)=-1$", False),
    ("1 \\text{ and } 2", "1", False),  # a single gold: two answers joined are not it
])
def test_a_box_whose_parts_words_join_meets_a_multi_part_gold(box, gold, correct):
    v = verify_math(f"<think>hmm</think>So $\\boxed{{{box}}}$.", gold)
    assert v.correct is correct, v


@pytest.mark.parametrize("completion, gold, correct", [
    # a final statement restating the box was appended as another box: a set or a tuple was read twice
    # (`\{3,5\}, \{3,5\}`), and a list stated span by span was read by its first span, beside the box (`69, 84, 69`)
    ("So \\boxed{\\{3,5\\}}.\n\nThe final answer is $\\{3,5\\}$.", "3,5", True),
    ("So \\boxed{(1,2)}.\n\nThe final answer is $(1,2)$.", "1, 2", True),
    ("So \\boxed{69, 84}.\n\nThe final answer is $69$ and $84$.", "$69$,$84$", True),
    ("So \\boxed{3, 5, 7}.\n\nThe final answer is $3$, $5$, and $7$.", "3, 5, 7", True),
    ("The answer is $3$, $5$, and $7$.", "3, 5, 7", True),  # no box: the spans listed are the answer
    ("The answer is $3$ and $5$.", "3", False),  # two answers are not one
    ("The answer is $5$, and $n$ is the number of ways.", "5", True),  # a remark after it is no list
    ("So \\boxed{3}.\n\nThe final answer is $4$.", "4", True),  # a statement that differs still replaces the box
    ("So \\boxed{69, 84}.\n\nThe final answer is $69$.", "69", True),
    # a relation, a percentage or a name after the first span restates it or starts a remark: no list (the review)
    ("So \\boxed{12}.\n\nThe final answer is $12$ and $n = 12$.", "12", True),
    ("So, the answer is $\\frac{1}{2}$, and $p = \\frac{1}{2}$.", "1/2", True),
    ("So \\boxed{\\frac{1}{2}}.\n\nThe final answer is $\\frac12$, $50\\%$.", "1/2", True),
    ("So \\boxed{5}.\n\nThe final answer is $5$, $n$.", "5", True),
])
def test_a_final_statement_that_restates_the_box_or_lists_spans_is_read_once(completion, gold, correct):
    v = verify_math(f"<think>hmm</think>{completion}", gold)
    assert v.correct is correct, v


@pytest.mark.parametrize("final, gold, correct", [
    # TeX boxes one token after a brace-less \boxed: MATH's solutions and some models write `\boxed 7`, read as no box
    ("The final answer is $\\boxed 7$.", "7", True), ("So the sum is \\boxed 7.", "7", True),
    ("$x = \\boxed -2.5$", "-2.5", True), ("The answer is $\\boxed x$.", "x", True),
    ("First \\boxed{3}, then correcting: \\boxed 5.", "5", True), ("\\boxed 5", "7", False),
    # a word after it is prose: no box (the unboxed statement is read)
    ("I put the \\boxed answer below: the answer is 4.", "4", True),
    # TeX boxes the first token of these, and their writer meant the whole: not read as that token
    ("$\\boxed 1/2$", "1", False), ("$\\boxed 3\\sqrt{2}$", "3", False), ("$\\boxed 2\\pi$", "2", False),
    ("$\\boxed 10^{3}$", "10", False), ("$\\boxed 3,000$", "3", False), ("$\\boxed x = 5$", "x", False),
    ("\\boxed 1\\frac{1}{2}", "1", False), ("$\\boxed 1.5\\times 10^{3}$", "1.5", False),
    ("Hence $\\boxed 10^{3}$.", "1000", True), ("So $\\boxed x = 5$.", "5", True),
])
def test_a_box_without_braces_boxes_its_one_token(final, gold, correct):
    v = verify_math("<think>x</think>" + final, gold)
    assert v.correct is correct, v


def test_a_gold_solution_whose_box_has_no_braces_gives_its_answer():
    from evalkit.latex import last_boxed

    assert last_boxed("So the sum is $\\boxed 7$.") == "7" and last_boxed("\\boxed{1} then \\boxed 2") == "2"
    assert last_boxed("\\boxed{x \\boxed 3}") == "x \\boxed 3" and last_boxed("the \\boxed answer") == ""
    assert last_boxed("The answer is $\\boxed 1/2$.") == "" and last_boxed("$\\boxed 3\\sqrt{2}$.") == ""
    assert verify_math("\\boxed{3}", "\\boxed 3").correct is True


@pytest.mark.parametrize("final, gold, correct", [
    # a last line that states its LaTeX outside math mode without the word "answer": math-verify read the number
    # before the markup, so `5\sqrt{2}` met a gold of 5 and missed its own
    ("So the total is 5\\sqrt{2}.", "5\\sqrt{2}", True), ("So the total is 5\\sqrt{2}.", "5", False),
    ("So the area is 2^{10}.", "1024", True), ("So the area is 2^{10}.", "2", False),
    ("Hence 2^{10} subsets.", "1024", True), ("The area is 5\\sqrt{2} square units.", "5\\sqrt{2}", True),
    # in math mode, or supposed, it is math-verify's to read as before
    ("Sum: \\( 2 + 1 = \\frac{9}{3} \\).", "3", True), ("If the area is 2^{10}, then", "1024", False),
    ("It is wrong to say the total is 5\\sqrt{2}.", "5\\sqrt{2}", False),
    # a congruence or an approximation is read after its relation, and a unit of a letter or two is no noun
    ("Thus 3^{100} \\equiv 4 \\pmod{7}.", "4", True), ("So N \\equiv 3 \\pmod{4}", "3", True),
    ("The probability is 2^{-10} \\approx 0.001.", "0.001", True), ("Thus the mass is 10^3 g.", "1000", True),
    ("The final temperature is 10^3 K.", "1000", True),
    # a colon after the claim, and a mark that ends it, are no part of the value
    ("The final result is: \\frac{1}{2}", "1/2", True), ("The result is 5\\sqrt{2}!", "5\\sqrt{2}", True),
])
def test_an_unboxed_last_line_that_claims_latex_outside_math_mode_is_read_whole(final, gold, correct):
    assert verify_math("<think>x</think>" + final, gold).correct is correct


@pytest.mark.parametrize("completion, gold, correct", [
    # a tuple or an interval stated in prose was read as its last number (math-verify's `3).`): paid against 3
    ("The answer is (2, 3).", "3", False), ("The answer is (2, 3).", "(2,3)", True),
    ("The ordered pair is (-1, 4).", "4", False), ("**Answer:** (2, 3)", "(2,3)", True),
    ("最终答案：(1, 2)", "2", False), ("The answer is [2, 5).", "5", False), ("The answer is [2, 5).", "[2,5)", True),
    ("The answer might be (2, 3).", "(2,3)", True),  # a hedge still states it
    ("The answer is not (2, 3).", "3", False), ("The answer is not (2, 3).", "(2,3)", False),
    ("Is the answer (2, 3)?", "(2,3)", False),
    # several solutions, each naming its unknown, were read as the last (or the first) of them
    ("The answer is x = 2 or x = 3.", "3", False), ("**Final answer:** x = 2 or x = 3", "3", False),
    ("The answer is x = 4 or 5.", "4", False), ("The answer is x = 2 or x = 3.", "2, 3", True),
    ("The answer is x = 3.", "3", True),
    # a second box offered beside the first in a sentence of its own is a hedge: both answers, not the last
    ("The answer is $\\boxed{43}$. Alternatively, $\\boxed{42}$.", "42", False),
    ("$\\boxed{43}$ (the other case gives $\\boxed{42}$)", "42", False),
    ("So $\\boxed{43}$. Wait, actually $\\boxed{42}$.", "42", True),  # a correction replaces it
    ("$\\boxed{42}$. Alternatively, one can check it another way: $\\boxed{42}$.", "42", True),  # one value twice
    # review: a restatement in another form, a hedge word that ends the first box's own sentence, and two unknowns
    # join nothing; nor did the tuple or the list rules read a remark after a stated answer, or two unknowns as a list
    ("$\\boxed{x > 2}$. Alternatively, in interval notation, $\\boxed{(2, \\infty)}$.", "(2,\\infty)", True),
    ("$\\boxed{x=5}$. Alternatively, just $\\boxed{5}$.", "5", True),
    ("Case $n$ even gives $\\boxed{3}$, and the other case is symmetric.\n\n**Final Answer**\n\\[\\boxed{6}\\]", "6", True),
    ("We find $a=\\boxed{3}$, otherwise $b$ would be negative.\n\n**Final Answer**\n$\\boxed{9}$", "9", True),
    ("So $m = \\boxed{4}$ (m must be positive). Either way, $m^2 = \\boxed{16}$.", "16", True),
    ("Hence $a = \\boxed{2}$, and another solution for $b$ gives $b = \\boxed{5}$.", "5", True),
    ("Therefore, the answer is 5.\nThis is attained at (x, y) = (1, 4).", "5", True),
    ("The answer is 7.\nCheck: (3, 4).", "7", True), ("The answer is 2: (1, 3)", "2", True),
    ("Since a cannot be negative, the ordered pair is (2, 3).", "(2,3)", True),
    ("The values are a = 2 and b = 3.", "3", True), ("The answer is n = 4 and S = 10.", "10", True),
])
def test_prose_tuples_named_solutions_and_hedged_boxes_are_read_as_stated(completion, gold, correct):
    assert verify_math(f"<think>x</think>{completion}", gold).correct is correct


@pytest.mark.parametrize("completion, gold, correct", [
    # `3π` and `3√2` in prose were read as their 3 (paid against a gold of 3, refused against 3\\pi)
    ("The area is 3π square units.", "3", False), ("The area is 3π square units.", "3\\pi", True),
    ("The answer is 3√2.", "3\\sqrt2", True), ("The answer is 3√2.", "3", False),
    # a word after the number that changes it leaves the line unread (it was read as the bare 3)
    ("The answer is 3 over 4.", "3", False), ("The answer is 3 factorial.", "3", False),
    ("The answer is 3 point five.", "3", False), ("The answer is 3 halves.", "3", False),
    ("The answer is 3.", "3", True),
])
def test_unicode_signs_and_qualifying_words_after_a_prose_number(completion, gold, correct):
    assert verify_math(f"<think>x</think>{completion}", gold).correct is correct


def test_an_item_whose_think_format_is_no_formats_name_is_unjudged_not_the_models_zero():
    # verify_math(..., think_format="auto") (auto is decided per batch, not a format of one item) scored no_answer 0:
    # a setup fault paid as the model's; the rewards leave such rows unjudged
    v = verify_math("<think>x</think>\\boxed{42}", "42", think_format="auto")
    assert v.correct is None and v.reason == "error" and "unknown think format 'auto'" in v.detail


@pytest.mark.parametrize("answer, gold, correct", [
    # math-verify's set comparison read the set {1, 2} as the pair or interval (1, 2) (not {2, 1}), the roots
    # `x=1 or x=2` as the interval (1, 2), and the inequality 1<x<2 as the roots 1, 2: a wrong answer paid
    ("x=1 \\text{ or } x=2", "(1,2)", False), ("\\{1,2\\}", "(1,2)", False), ("\\{2,1\\}", "(1,2)", False),
    ("1<x<2", "1,2", False), ("(1,2)", "x=1 \\text{ or } x=2", False), ("[1,2]", "\\{1,2\\}", False),
    # sets against sets, ranges against ranges, as before
    ("\\{1,2\\}", "1,2", True), ("1<x<2", "(1,2)", True), ("x=1 \\text{ or } x=2", "\\{1,2\\}", True),
    ("x<1 \\text{ or } x>2", "(-\\infty,1)\\cup(2,\\infty)", True), ("(1,2)", "(1,2)", True),
])
def test_a_set_of_values_is_never_a_range(answer, gold, correct):
    assert verify_answer(answer, gold).correct is correct


def test_two_boxes_far_apart_in_white_space_are_read_at_once():
    # the joiner's regex between two boxes was cubic in the white space there: 800 spaces took 4 s, 1,600 took 27 s in
    # the trainer's own process, before any per-answer limit
    import time

    t0 = time.perf_counter()
    assert verify_math("<think>x</think>\\boxed{1}" + " " * 5000 + "x\\boxed{2}", "2").correct is True
    # ... and the white space after a box, before a denial could follow it ("\\boxed{3} is wrong"): quadratic
    assert verify_math("<think>x</think>\\boxed{1}" + " " * 50_000 + "x\\boxed{2}", "2").correct is True
    assert time.perf_counter() - t0 < 2.0
