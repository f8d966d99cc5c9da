"""Bench: how often the compare page calls a difference between two runs real, evalkit's rule against what a user
would otherwise apply, side by side on the same simulated pairs of runs.

Each scenario draws `problems` problems with solve rates from a Beta(a, b), then two runs of `n` samples per
problem: under "alike" both runs have the same rates (a difference called real is a false positive; nominal 5%),
under "+d" run b's rates are raised by d (a difference called real is power). Three rules:

- evalkit: the paired bootstrap's 95% CI excludes 0 and the paired sign-flip test gives p < 0.05
  (`evalkit.metrics.paired_sign_flip_p`, as the compare page calls it);
- paired bootstrap alone: the CI excludes 0 (evalkit before; `paired_bootstrap_ci`);
- paired z-test: |mean difference| > 1.96 standard errors of the differences (the error bar of a paired
  difference a user computes from lighteval's or lm-eval's per-sample scores).

    python bench/metrics/paired_difference.py [--repeats 1000] [--out bench/metrics/results]

Simulated data only; never used by tests.
"""

from __future__ import annotations

import math

import numpy as np
from _simulated import main

from evalkit.metrics import paired_bootstrap_ci, paired_sign_flip_p

# (problems, samples per problem, a, b, raise of run b's rates): AIME-sized sets, smaller and larger ones
SCENARIOS = [
    (30, 1, 1, 1, 0.0), (30, 4, 1, 1, 0.0), (30, 16, 0.5, 0.5, 0.0), (30, 4, 0.3, 3, 0.0), (10, 4, 1, 1, 0.0),
    (100, 4, 1, 1, 0.0), (500, 1, 1, 1, 0.0),
    (30, 4, 1, 1, 0.15), (30, 16, 0.5, 0.5, 0.1), (100, 4, 1, 1, 0.05), (500, 1, 1, 1, 0.05),
]


def _bootstrap(a: np.ndarray, b: np.ndarray, seed: int) -> bool:
    _, lo, hi = paired_bootstrap_ci(a, b, seed=seed)
    return lo > 0 or hi < 0


def _z_test(a: np.ndarray, b: np.ndarray, seed: int) -> bool:
    diff = b - a
    stderr = float(diff.std(ddof=1)) / math.sqrt(len(diff))
    return abs(float(diff.mean())) > 1.96 * stderr


METHODS = {
    "evalkit": lambda a, b, seed: _bootstrap(a, b, seed) and paired_sign_flip_p(a, b, seed=seed) < 0.05,
    "paired bootstrap alone": _bootstrap,
    "paired z-test": _z_test,
}


def run(repeats: int) -> list[dict]:
    rng = np.random.default_rng(2026)
    rows = []
    for problems, n, alpha, beta, shift in SCENARIOS:
        called = dict.fromkeys(METHODS, 0)
        for r in range(repeats):
            rates = rng.beta(alpha, beta, size=problems)
            a = rng.binomial(n, rates) / n
            b = rng.binomial(n, np.clip(rates + shift, 0, 1)) / n
            for name, method in METHODS.items():
                called[name] += bool(method(a, b, r))
        rows.append({"problems": problems, "n": n, "beta": [alpha, beta], "shift": shift,
                     **{name: called[name] / repeats for name in METHODS}})
    return rows


def table(rows: list[dict], repeats: int) -> list[str]:
    lines = ["# Is the difference real? Share of simulated run pairs called different", "",
             f"`python bench/metrics/paired_difference.py --repeats {repeats}`; solve rates drawn from Beta(a, b); "
             "under \"alike\" the share is the false-positive rate (nominal 0.05), under \"+d\" (run b's rates raised "
             "by d) it is the power.", "",
             "| problems | n | Beta(a, b) | runs | " + " | ".join(METHODS) + " |",
             "|---|---|---|---|" + "---|" * len(METHODS)]
    for row in rows:
        runs = "alike" if row["shift"] == 0 else f"+{row['shift']:g}"
        lines.append(f"| {row['problems']} | {row['n']} | ({row['beta'][0]}, {row['beta'][1]}) | {runs} | "
                     + " | ".join(f"{row[m]:.3f}" for m in METHODS) + " |")
    return lines


if __name__ == "__main__":
    main(__doc__, "paired_difference", run, table)
