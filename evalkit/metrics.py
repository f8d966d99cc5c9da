"""Metrics over samples: avg@n, unbiased pass@k, maj@k, G-Pass@k, and bootstrap CIs over problems.

- avg@n: the mean over problems of the fraction of a problem's samples that are correct (R1's pass@1).
- pass@k: Chen et al. (2021)'s unbiased estimator 1 - C(n-c, k) / C(n, k), averaged over problems.
- maj@k: majority vote over k samples, answers grouped by verified equivalence; for k < n the exact
  expectation over all k-subsets of the n samples; a tie splits the credit equally among the tied
  answers. A sample with no answer takes a slot but casts no vote.
- G-Pass@k_τ (Liu et al. 2024, "Are Your LLMs Capable of Stable Reasoning?"): the chance that at
  least ⌈τ·k⌉ (and at least one) of k samples drawn without replacement from the n are correct, the
  hypergeometric tail  Σ_{j=⌈τk⌉}^{c} C(c, j)·C(n−c, k−j) / C(n, k), averaged over problems; reported
  for τ ∈ {0.25, 0.5, 0.75, 1.0}. mG-Pass@k = (2/k)·Σ_{i=⌈k/2⌉+1}^{k} G-Pass@k_{i/k}, the area under
  G-Pass@k_τ for τ in (0.5, 1].
- CIs: 95% percentile bootstrap that resamples problems (a problem's samples stay together).

A sample whose `correct` is None (unjudged: an infrastructure fault) is left out of its problem's n.
"""

from __future__ import annotations

import math
import random
import re
import zlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from fractions import Fraction
from math import comb
from typing import Any, Callable, Iterable, Sequence

import numpy as np

BOOTSTRAP_SAMPLES = 1000
G_PASS_TAUS = (0.25, 0.5, 0.75, 1.0)
# The metric families a task spec's `metrics:` may name; each reports one value per k.
METRIC_FAMILIES = ("avg@n", "pass@k", "maj@k", "g-pass@k", "mg-pass@k")
_EXACT_MAJ_BUDGET = 2_000_000  # DP steps; past it maj@k is estimated from sampled subsets


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k for one problem with n samples of which c are correct (needs n >= k)."""
    if k <= 0 or n < k:
        raise ValueError(f"pass@k needs 0 < k <= n, got n={n}, k={k}")
    if n - c < k:
        return 1.0
    if k == 1:  # c/n to the last bit, as avg@n counts it (the product below is off by a rounding error)
        return c / n
    # 1 - prod_{i=n-c+1}^{n} (1 - k/i): stable for large n
    return 1.0 - float(np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def g_pass_at_k(n: int, c: int, k: int, tau: float) -> float:
    """G-Pass@k_τ for one problem with n samples of which c are correct (needs 0 < k <= n).

    The probability that at least max(⌈τ·k⌉, 1) of k samples drawn without replacement are correct;
    τ = 1.0 asks for all k, and τ → 0 is pass@k.
    """
    if k <= 0 or n < k:
        raise ValueError(f"G-Pass@k needs 0 < k <= n, got n={n}, k={k}")
    if not 0.0 <= tau <= 1.0:
        raise ValueError(f"G-Pass@k needs 0 <= tau <= 1, got {tau}")
    # k*tau is rounded first so that 0.75 * 4 = 3.0000000000000004 still needs 3, not 4
    return _at_least(n, c, k, max(math.ceil(round(k * tau, 9)), 1))


def mg_pass_at_k(n: int, c: int, k: int) -> float:
    """mG-Pass@k for one problem: (2/k) · Σ_{i=⌈k/2⌉+1}^{k} P(at least i of k samples correct)."""
    if k <= 0 or n < k:
        raise ValueError(f"mG-Pass@k needs 0 < k <= n, got n={n}, k={k}")
    return 2.0 * sum(_at_least(n, c, k, i) for i in range(math.ceil(k / 2) + 1, k + 1)) / k


def _at_least(n: int, c: int, k: int, m: int) -> float:
    """P(X >= m) for X hypergeometric: k draws without replacement from n holding c successes."""
    if m > min(c, k):
        return 0.0
    # exact integers, so no rounding even when C(n, k) is huge
    hits = sum(comb(c, j) * comb(n - c, k - j) for j in range(m, min(c, k) + 1))
    return hits / comb(n, k)


def maj_at_k(classes: Sequence[int | None], correct_class: int | None, k: int, seed: int = 0) -> float:
    """Expected majority-vote accuracy over all k-subsets of a problem's samples.

    classes: the equivalence class of each sample's answer (None: no answer, casts no vote).
    correct_class: the class equal to the gold answer (None if no sample was right).
    """
    n = len(classes)
    if k <= 0 or n < k:
        raise ValueError(f"maj@k needs 0 < k <= n, got n={n}, k={k}")
    if correct_class is None:
        return 0.0
    sizes = Counter(c for c in classes if c is not None)
    s_c = sizes.pop(correct_class, 0)
    if s_c == 0:
        return 0.0
    wrong = list(sizes.values())
    abstain = n - s_c - sum(wrong)
    if _maj_dp_steps(s_c, wrong, k) > _EXACT_MAJ_BUDGET:
        return _maj_sampled(classes, correct_class, k, seed)
    by_ties: dict[int, int] = defaultdict(int)  # exact integer weights: their float could overflow (n ~ 1,000)
    for j in range(1, min(s_c, k) + 1):
        # ways[(used, ties)]: ways to pick `used` samples from the wrong classes so far, each class
        # getting at most j votes, `ties` of them getting exactly j
        ways: dict[tuple[int, int], int] = {(0, 0): 1}
        for size in wrong:
            nxt: dict[tuple[int, int], int] = defaultdict(int)
            for (used, ties), w in ways.items():
                for v in range(0, min(size, j, k - j - used) + 1):
                    nxt[(used + v, ties + (v == j))] += w * comb(size, v)
            ways = nxt
        pick_c = comb(s_c, j)
        for (used, ties), w in ways.items():
            rest = k - j - used
            if rest <= abstain:
                by_ties[ties] += pick_c * w * comb(abstain, rest)
    return float(sum(Fraction(ways, 1 + ties) for ties, ways in by_ties.items()) / comb(n, k))


def _maj_dp_steps(s_c: int, wrong: list[int], k: int) -> int:
    """An upper bound on the exact computation's inner steps: per vote count j of the correct class, per
    wrong class, its states (votes used, ties) times the votes the class can take."""
    biggest = max(wrong, default=0)
    return sum(len(wrong) * (k - j + 1) * (min(len(wrong), (k - j) // j) + 1) * (min(j, biggest) + 1)
               for j in range(1, min(s_c, k) + 1))


def _maj_sampled(classes: Sequence[int | None], correct_class: int, k: int, seed: int, draws: int = 4000) -> float:
    rng = random.Random(seed)
    idx = list(range(len(classes)))
    acc = 0.0
    for _ in range(draws):
        votes = Counter(classes[i] for i in rng.sample(idx, k) if classes[i] is not None)
        if not votes:
            continue
        top = max(votes.values())
        winners = [c for c, v in votes.items() if v == top]
        acc += (correct_class in winners) / len(winners)
    return acc / draws


def group_answers(answers: Sequence[str | None], correct: Sequence[bool],
                  equivalent: Callable[[str, str], bool] | None = None) -> tuple[list[int | None], int | None]:
    """Equivalence classes of a problem's answers: (class per sample, the correct class).

    Every correct answer equals the gold, so correct samples share one class. Wrong answers are
    grouped by normalised text; two texts vote together when `equivalent` (the verifier) says so, and
    so does everything linked to them through such pairs. A verifier's check need not be symmetric
    (math-verify reads the gold's precision: `\\pi` matches `3.1416`, not the other way) or transitive
    (`50\\%` matches both `0.5` and `50`): each pair is asked in one order, that of the texts, and
    classes are the connected groups, so they never depend on the order of the samples.
    """
    classes: list[int | None] = [None] * len(answers)
    correct_class = 0 if any(correct) else None
    seen: dict[str, None] = {}  # distinct wrong answers, in order of first appearance
    for ans, ok in zip(answers, correct):
        key = None if ok or ans is None else " ".join(str(ans).split())
        if key:
            seen.setdefault(key)
    texts = list(seen)
    group = list(range(len(texts)))  # union-find over the texts

    def root(i: int) -> int:
        while group[i] != i:
            group[i] = group[group[i]]
            i = group[i]
        return i

    if equivalent is not None:
        for i, a in enumerate(texts):
            for j in range(i):
                if root(i) != root(j) and equivalent(*sorted((a, texts[j]))):
                    group[root(j)] = root(i)
    numbers: dict[int, int] = {}  # root -> class number, 1, 2, ... in order of first appearance
    class_of = {text: numbers.setdefault(root(i), len(numbers) + 1) for i, text in enumerate(texts)}
    for i, (ans, ok) in enumerate(zip(answers, correct)):
        if ok:
            classes[i] = 0
        elif ans is not None and str(ans).strip():
            classes[i] = class_of[" ".join(str(ans).split())]
    return classes, correct_class


@dataclass(frozen=True)
class ProblemScores:
    """One problem's judged samples, ready for every metric."""

    problem_id: str
    n: int
    c: int
    classes: tuple[int | None, ...]
    correct_class: int | None
    meta: dict[str, Any] = field(default_factory=dict)


def ks_for(n: int) -> list[int]:
    """The k values reported for n samples: powers of two up to n, and n."""
    ks = [1]
    while ks[-1] * 2 <= n:
        ks.append(ks[-1] * 2)
    if ks[-1] != n and n > 0:
        ks.append(n)
    return ks


def bootstrap_ci(values: Sequence[float], samples: int = BOOTSTRAP_SAMPLES, seed: int = 0,
                 alpha: float = 0.05) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean of per-problem values (problems resampled). The values are sorted first:
    the interval depends on them, not on the order the problems' samples were written in (which follows how fast
    replies came back: the same samples at another concurrency gave another interval)."""
    arr = np.sort(np.asarray(values, dtype=float))
    if len(arr) == 0:
        return (math.nan, math.nan)
    if len(arr) == 1:
        return (float(arr[0]), float(arr[0]))
    rng = np.random.default_rng(seed)
    means = arr[rng.integers(0, len(arr), size=(samples, len(arr)))].mean(axis=1)
    return (float(np.quantile(means, alpha / 2)), float(np.quantile(means, 1 - alpha / 2)))


def paired_bootstrap_ci(a: Sequence[float], b: Sequence[float], samples: int = BOOTSTRAP_SAMPLES,
                        seed: int = 0) -> tuple[float, float, float]:
    """Mean of b - a over shared problems, with a 95% CI from resampling those problems together."""
    diff = np.asarray(b, dtype=float) - np.asarray(a, dtype=float)
    lo, hi = bootstrap_ci(diff, samples, seed)
    return (float(diff.mean()) if len(diff) else math.nan, lo, hi)


def paired_sign_flip_p(a: Sequence[float], b: Sequence[float], samples: int = 10_000, seed: int = 0) -> float:
    """Two-sided p-value of the paired sign-flip test that a and b score the shared problems alike. Were they alike,
    each problem's difference b - a would be as likely negated; the p-value is the share of sign patterns whose
    |sum| reaches the observed one: all 2^m patterns of the m nonzero differences where that is at most `samples`,
    else `samples` random ones (counting the observed, so never 0). The paired bootstrap alone called identical
    runs different 6-7% of the time on 30 problems (bench/metrics/results/paired_difference.md); this test holds
    its 5%."""
    diff = np.sort(np.asarray(b, dtype=float) - np.asarray(a, dtype=float))
    diff = diff[diff != 0]
    if not len(diff):
        return 1.0
    observed = abs(float(diff.sum())) - 1e-9  # float sums of the same values in another order
    if 2 ** len(diff) <= samples:
        patterns = np.arange(2 ** len(diff))[:, None] >> np.arange(len(diff)) & 1
        return float(np.mean(np.abs((1 - 2 * patterns) @ diff) >= observed))
    rng = np.random.default_rng(seed)
    reached = 0
    for start in range(0, samples, 1000):  # a thousand patterns at a time: problems × samples floats at most
        signs = rng.choice((-1.0, 1.0), size=(min(1000, samples - start), len(diff)))
        reached += int(np.sum(np.abs(signs @ diff) >= observed))
    return (1 + reached) / (1 + samples)


# A figure's interval resamples its problems with two more that stand for the problems not seen: one scoring 0, one
# scoring 1 (Laplace's rule of succession, for a mean of values in [0, 1]). The plain percentile bootstrap covered
# a 5% truth on 30 problems 79-92% of the time and gave [0, 0] for 0 of 30 solved, which still allows about 11%
# (bench/metrics/results/interval_coverage.md). On hundreds of problems the two change nothing that shows.
_UNSEEN = (0.0, 1.0)


def interval(values: Sequence[float], seed: int = 0) -> tuple[float | None, float | None]:
    """The 95% CI of a figure (a mean of per-problem values in [0, 1]) over these problems: the bootstrap over
    them and the two _UNSEEN problems, widened to hold the figure itself. (None, None) under two problems, where
    resampling cannot vary."""
    if len(values) < 2:
        return (None, None)
    lo, hi = bootstrap_ci([*values, *_UNSEEN], seed=seed)
    mean = float(np.mean(values))
    return (min(lo, mean), max(hi, mean))


def _stat(values: list[float], seed: int) -> dict[str, float | None]:
    lo, hi = interval(values, seed=seed)
    return {"value": float(np.mean(values)) if values else math.nan, "ci_low": lo, "ci_high": hi,
            "n_problems": len(values)}


def problem_seed(problem_id: str) -> int:
    """A problem's seed for sampled maj@k subsets: the same in every process (Python's own `hash`
    of a string is salted per process, which made maj@k differ between two runs of `report`)."""
    return zlib.crc32(str(problem_id).encode("utf-8")) & 0xFFFF


def g_pass_name(k: int, tau: float) -> str:
    """The results key of G-Pass@k_τ, as the paper writes it: `G-Pass@16_0.5`."""
    return f"G-Pass@{k}_{float(tau)}"


def score_problems(problems: Iterable[ProblemScores], seed: int = 0,
                   metrics: Sequence[str] = ("avg@n", "pass@k", "maj@k")) -> dict[str, Any]:
    """The chosen metric families (with CIs) over problems, plus the pass@k and maj@k curves.

    metrics: families from METRIC_FAMILIES (a task spec's `metrics:`); each is reported at every k of
    `ks_for(n)`, except G-Pass@k and mG-Pass@k, which skip k = 1 (there they equal avg@n).
    """
    chosen = {m.lower() for m in metrics}
    problems = [p for p in problems if p.n > 0]
    out: dict[str, Any] = {"metrics": {}, "pass_at_k_curve": [], "maj_at_k_curve": []}
    if not problems:
        return out
    if "avg@n" in chosen:
        out["metrics"]["avg@n"] = _stat([p.c / p.n for p in problems], seed)
    n_max = max(p.n for p in problems)
    for k in ks_for(n_max):
        eligible = [p for p in problems if p.n >= k]
        if not eligible:
            continue
        if "pass@k" in chosen:
            pk = _stat([pass_at_k(p.n, p.c, k) for p in eligible], seed)
            out["metrics"][f"pass@{k}"] = pk
            out["pass_at_k_curve"].append([k, pk["value"]])
        if "maj@k" in chosen:
            mk = _stat([maj_at_k(p.classes, p.correct_class, k, seed=problem_seed(p.problem_id))
                        for p in eligible], seed)
            out["metrics"][f"maj@{k}"] = mk
            out["maj_at_k_curve"].append([k, mk["value"]])
        if k == 1:
            continue
        if "g-pass@k" in chosen:
            for tau in G_PASS_TAUS:
                out["metrics"][g_pass_name(k, tau)] = _stat([g_pass_at_k(p.n, p.c, k, tau) for p in eligible], seed)
        if "mg-pass@k" in chosen:
            out["metrics"][f"mG-Pass@{k}"] = _stat([mg_pass_at_k(p.n, p.c, k) for p in eligible], seed)
    return out


def summarize(samples: Sequence[dict[str, Any]], meta_by_problem: dict[str, dict[str, Any]] | None = None,
              equivalent: Callable[[str, str], bool] | None = None, seed: int = 0,
              metrics: Sequence[str] = ("avg@n", "pass@k", "maj@k")) -> dict[str, Any]:
    """Results for one (task, model) from its sample records (samples.jsonl lines).

    meta_by_problem: each problem's meta (level, subject, ...) for the breakdowns.
    equivalent: merges wrong answers for maj@k (the verifier's equivalence); text equality if None.
    metrics: the metric families to report (see `score_problems`).
    """
    meta_by_problem = meta_by_problem or {}
    by_problem: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for s in samples:
        by_problem[str(s["problem_id"])].append(s)
    scores: list[ProblemScores] = []
    for pid, ss in by_problem.items():
        ss = sorted(ss, key=lambda s: s["sample"])
        judged = [s for s in ss if s.get("correct") is not None]
        classes, correct_class = group_answers([s.get("answer") for s in judged],
                                               [bool(s["correct"]) for s in judged], equivalent)
        scores.append(ProblemScores(pid, len(judged), sum(bool(s["correct"]) for s in judged), tuple(classes),
                                    correct_class, meta_by_problem.get(pid, {})))
    tokens = [s["completion_tokens"] for s in samples if s.get("completion_tokens") is not None]
    result: dict[str, Any] = {
        "n_problems": len(by_problem),
        "n_samples": len(samples),
        "samples_per_problem": max((len(v) for v in by_problem.values()), default=0),
        "n_unjudged": sum(s.get("correct") is None for s in samples),
        "n_truncated": sum(s.get("reason") == "truncated" for s in samples),
        "n_timeout": sum(s.get("reason") == "timeout" for s in samples),
        "n_no_answer": sum(s.get("reason") == "no_answer" for s in samples),
        "mean_completion_tokens": float(np.mean(tokens)) if tokens else None,
        "n_with_tokens": len(tokens),  # the samples that mean is over (a replay may lack some counts)
        **score_problems(scores, seed, metrics),
    }
    result["breakdowns"] = _breakdowns(scores)
    return result


def _breakdowns(scores: list[ProblemScores], max_values: int = 40) -> dict[str, dict[str, Any]]:
    """avg@n per value of each meta field (level, subject, ...) with few enough distinct values; one value
    too (a model run on one level has a bar beside the others' in a report of several)."""
    keys = sorted({k for p in scores for k in p.meta})
    out: dict[str, dict[str, Any]] = {}
    for key in keys:
        groups: dict[str, list[float]] = defaultdict(list)
        for p in scores:
            # no value (null, or a CSV's empty cell) is no group: a bar with a blank label says nothing
            if p.n and key in p.meta and p.meta[key] is not None and str(p.meta[key]).strip():
                groups[str(p.meta[key])].append(p.c / p.n)
        if 0 < len(groups) <= max_values:
            out[key] = {v: {"avg@n": float(np.mean(vals)), "n_problems": len(vals),
                            **dict(zip(("ci_low", "ci_high"), interval(vals)))}
                        for v, vals in sorted(groups.items(), key=lambda kv: _natural(kv[0]))}
    return out


def _natural(value: str) -> tuple:
    """Numbers first, by value; then text. Only ASCII digits are numbers ('²' is a digit to str.isdigit)."""
    return (0, float(value), "") if re.fullmatch(r"[0-9]+(\.[0-9]*)?", value) else (1, 0.0, value)
