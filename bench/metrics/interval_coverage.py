"""Bench: how often a figure's 95% interval holds the truth, evalkit's against the intervals a user would
otherwise read, side by side on the same simulated runs.

Each scenario draws a benchmark: `problems` problems whose solve rates come from a Beta(a, b) (the truth is its
mean, a / (a + b): the figure over the whole population of such problems), then `n` samples per problem, and
scores avg@n. Three intervals of it:

- evalkit: `evalkit.metrics.interval` (the problems resampled with a pseudo-problem scoring 0 and one scoring 1);
- percentile bootstrap: the problems resampled alone (evalkit before; `bootstrap_ci`);
- mean ± 1.96 standard errors over the problems (lighteval's and lm-eval's `stderr`).

Coverage is the share of repeats whose interval holds the truth (nominal 0.95); width the mean width.

    python bench/metrics/interval_coverage.py [--repeats 1000] [--out bench/metrics/results]

Simulated data only; never used by tests.
"""

from __future__ import annotations

import math

import numpy as np
from _simulated import main

from evalkit.metrics import bootstrap_ci, interval

# (problems, samples per problem, a, b): AIME-sized sets at low, middle and high accuracy, smaller and larger sets.
SCENARIOS = [
    (30, 1, 0.05, 0.95), (30, 16, 0.1, 5), (30, 64, 0.25, 4.75), (30, 8, 0.5, 9.5), (15, 8, 0.3, 3),
    (30, 4, 1, 1), (30, 16, 20, 20), (10, 4, 1, 1), (30, 1, 4.75, 0.25), (100, 8, 0.3, 0.7), (500, 4, 0.5, 0.5),
]


def _stderr(values: np.ndarray) -> tuple[float, float]:
    half = 1.96 * float(values.std(ddof=1)) / math.sqrt(len(values))
    return (float(values.mean()) - half, float(values.mean()) + half)


METHODS = {
    "evalkit": lambda v, seed: interval(list(v), seed=seed),
    "percentile bootstrap": lambda v, seed: bootstrap_ci(v, seed=seed),
    "mean ± 1.96 stderr": lambda v, seed: _stderr(v),
}


def run(repeats: int) -> list[dict]:
    rng = np.random.default_rng(2026)
    rows = []
    for problems, n, a, b in SCENARIOS:
        truth = a / (a + b)
        hits = dict.fromkeys(METHODS, 0)
        widths = dict.fromkeys(METHODS, 0.0)
        zero = dict.fromkeys(METHODS, 0)
        for r in range(repeats):
            values = rng.binomial(n, rng.beta(a, b, size=problems)) / n
            for name, method in METHODS.items():
                lo, hi = method(values, r)
                hits[name] += lo <= truth <= hi
                widths[name] += hi - lo
                zero[name] += hi == lo
        rows.append({"problems": problems, "n": n, "beta": [a, b], "truth": round(truth, 4),
                     **{name: {"coverage": hits[name] / repeats, "width": round(widths[name] / repeats, 4),
                               "zero_width": zero[name] / repeats} for name in METHODS}})
    return rows


def table(rows: list[dict], repeats: int) -> list[str]:
    lines = ["# 95% intervals of avg@n: coverage of the truth (nominal 0.95) and mean width", "",
             f"`python bench/metrics/interval_coverage.py --repeats {repeats}`; solve rates drawn from "
             "Beta(a, b), the truth is its mean.", "",
             "| problems | n | Beta(a, b) | truth | " + " | ".join(METHODS) + " |",
             "|---|---|---|---|" + "---|" * len(METHODS)]
    for row in rows:
        cells = [f"{row[m]['coverage']:.3f} (width {row[m]['width']:.3f}"
                 + (f", zero-width {row[m]['zero_width']:.1%})" if row[m]["zero_width"] else ")") for m in METHODS]
        lines.append(f"| {row['problems']} | {row['n']} | ({row['beta'][0]}, {row['beta'][1]}) | {row['truth']:.3f} | "
                     + " | ".join(cells) + " |")
    return lines


if __name__ == "__main__":
    main(__doc__, "interval_coverage", run, table)
