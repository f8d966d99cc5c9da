"""Metrics: pass@k against the closed form, maj@k against brute force, CIs that resample problems."""

from __future__ import annotations

import itertools
from collections import Counter
from fractions import Fraction
from math import comb

import pytest

from evalkit.metrics import bootstrap_ci, group_answers, maj_at_k, pass_at_k, summarize


@pytest.mark.parametrize("n, c, k", [(1, 0, 1), (1, 1, 1), (5, 2, 1), (5, 2, 3), (10, 3, 4), (16, 0, 8),
                                     (16, 16, 16), (64, 5, 32), (200, 7, 100)])
def test_pass_at_k_matches_the_closed_form(n, c, k):
    expected = 1 - Fraction(comb(n - c, k), comb(n, k))
    assert pass_at_k(n, c, k) == pytest.approx(float(expected), abs=1e-12)


def test_pass_at_k_rejects_k_above_n():
    with pytest.raises(ValueError):
        pass_at_k(3, 1, 4)


def _maj_brute(classes, correct_class, k):
    total = Fraction(0)
    subsets = list(itertools.combinations(range(len(classes)), k))
    for subset in subsets:
        votes = Counter(classes[i] for i in subset if classes[i] is not None)
        if not votes:
            continue
        top = max(votes.values())
        winners = [c for c, v in votes.items() if v == top]
        if correct_class in winners:
            total += Fraction(1, len(winners))
    return float(total / len(subsets))


@pytest.mark.parametrize("classes, correct, k", [
    ([0, 0, 1, 1, 2], 0, 3),
    ([0, 1, 1, 2, 2, None, 0, 0], 0, 4),
    ([0, 1, 2, 3], 0, 2),           # every pair is a tie: half credit when the right answer is in it
    ([1, 1, 1, 0, None, None], 0, 3),
    ([0, 0, 1, 1, 2, 2, 3, None, 0, 1], 0, 5),
    ([0, 1], 0, 2),
])
def test_maj_at_k_is_the_exact_expectation_over_subsets(classes, correct, k):
    assert maj_at_k(classes, correct, k) == pytest.approx(_maj_brute(classes, correct, k), abs=1e-12)


def test_maj_at_n_tie_splits_the_credit():
    assert maj_at_k([0, 1], 0, 2) == 0.5
    assert maj_at_k([0, 0, 1], 0, 3) == 1.0
    assert maj_at_k([1, 1, 0], 0, 3) == 0.0


def _record(pid, sample, answer, correct, reason=None):
    return {"problem_id": pid, "sample": sample, "answer": answer, "correct": correct,
            "reason": reason or ("correct" if correct else "wrong"), "completion_tokens": 10}


def test_maj_groups_equivalent_but_different_strings_with_the_verifier():
    from evalkit.verifiers import get_verifier

    # gold is 3; three samples say one half in three spellings, two say 3 (correct)
    samples = [_record("p", 0, "\\frac{1}{2}", False), _record("p", 1, "0.5", False), _record("p", 2, "1/2", False),
               _record("p", 3, "3", True), _record("p", 4, "3.0", True)]
    by_text = summarize(samples)
    by_verifier = summarize(samples, equivalent=get_verifier("math").equivalent)
    assert by_text["metrics"]["maj@5"]["value"] == 1.0  # as strings, three singletons lose to the pair
    assert by_verifier["metrics"]["maj@5"]["value"] == 0.0  # as math, one half wins 3 to 2


def test_unjudged_samples_leave_their_problems_n_and_are_counted():
    samples = [_record("a", 0, "1", True), _record("a", 1, None, None, "error"), _record("b", 0, "2", False),
               _record("b", 1, "5", True)]
    result = summarize(samples)
    assert result["n_unjudged"] == 1
    assert result["metrics"]["avg@n"]["value"] == pytest.approx((1 / 1 + 1 / 2) / 2)


def test_bootstrap_ci_brackets_the_mean_and_narrows_with_more_problems():
    few = [1, 0, 1, 1, 0, 1, 0, 1]
    lo, hi = bootstrap_ci(few)
    assert lo < sum(few) / len(few) < hi
    lo2, hi2 = bootstrap_ci(few * 50)
    assert hi2 - lo2 < hi - lo


def test_group_answers_puts_every_correct_sample_in_one_class():
    classes, correct_class = group_answers(["4", "2+2", "5", None, " 5 "], [True, True, False, False, False])
    assert classes[0] == classes[1] == correct_class
    assert classes[2] == classes[4] != correct_class and classes[3] is None


def test_breakdowns_by_meta_field():
    samples = [_record("a", 0, "1", True), _record("b", 0, "1", False), _record("c", 0, "1", True)]
    result = summarize(samples, {"a": {"level": 1}, "b": {"level": 2}, "c": {"level": 2}})
    assert result["breakdowns"]["level"]["1"]["avg@n"] == 1.0
    assert result["breakdowns"]["level"]["2"]["avg@n"] == 0.5


def test_maj_at_k_is_the_same_in_two_processes_at_aime_scale():
    # n = 64 with many distinct wrong answers: past the exact budget, maj@k samples subsets with a
    # per-problem seed, which must not come from Python's per-process salted hash()
    import json
    import os
    import subprocess
    import sys

    script = ("import json\nfrom evalkit.metrics import summarize\n"
              "samples = [{'problem_id': f'aime/{p}', 'sample': s, 'answer': str(s % 33) if s % 2 else '7',"
              " 'correct': s % 2 == 0, 'reason': 'x'} for p in range(3) for s in range(64)]\n"
              "m = summarize(samples)['metrics']\n"
              "print(json.dumps({k: v['value'] for k, v in m.items() if k.startswith('maj@')}))\n")
    outs = []
    for salt in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": salt}
        r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
        assert r.returncode == 0, r.stderr
        outs.append(json.loads(r.stdout))
    assert outs[0] == outs[1] and set(outs[0]) >= {"maj@4", "maj@64"}
