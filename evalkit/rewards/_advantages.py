"""GRPO's group-relative advantages, for users who write their own training loop."""

from __future__ import annotations

import math
from typing import Literal, Sequence

EPS = 1e-4  # TRL's: keeps a group whose rewards are all equal at advantage 0


def group_advantages(rewards: Sequence[float | None], group_size: int,
                     scale: Literal["group", "batch", "none"] = "group", eps: float = EPS) -> list[float]:
    """Each reward minus its group's mean, divided by a standard deviation (or not).

    rewards: one per completion, the `group_size` completions of a prompt next to each other (the
        order TRL and vLLM's `n` produce). None (or NaN) marks an unjudged completion: it is left out
        of its group's mean and deviation, and its advantage is 0, so it neither teaches nor skews.
    group_size: completions per prompt (GRPO's G); must divide len(rewards).
    scale: `group` divides by the group's standard deviation (GRPO, DeepSeekMath);
        `batch` by the whole batch's (more robust when many groups are all-equal);
        `none` does not divide (Dr. GRPO, Liu et al. 2025: no per-question difficulty bias).
    eps: added to the deviation before dividing.
    Standard deviations are Bessel-corrected, as in TRL, so the numbers match GRPOTrainer's.
    """
    if group_size < 1 or len(rewards) % group_size:
        raise ValueError(f"group_size {group_size} must divide the {len(rewards)} rewards")
    if scale not in ("group", "batch", "none"):
        raise ValueError(f"scale must be 'group', 'batch' or 'none', got {scale!r}")
    # a tensor or a float32 array holds its NaN as a 0-d value, not a Python float (TRL's unjudged)
    values = [None if r is None or math.isnan(v := float(r)) else v for r in rewards]
    batch_std = _std([v for v in values if v is not None])
    out: list[float] = []
    for start in range(0, len(values), group_size):
        group = values[start:start + group_size]
        judged = [v for v in group if v is not None]
        mean = sum(judged) / len(judged) if judged else 0.0
        std = _std(judged) if scale == "group" else batch_std
        for v in group:
            if v is None:
                out.append(0.0)
            elif scale == "none":
                out.append(v - mean)
            elif math.isnan(std):  # one judged answer: nothing to compare it with
                out.append(0.0)
            else:
                out.append((v - mean) / (std + eps))
    return out


def _std(values: list[float]) -> float:
    if len(values) < 2:
        return math.nan
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
