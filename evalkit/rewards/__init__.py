"""GRPO reward functions: the evaluation verifiers, handed to RL trainers unchanged.

    from evalkit.rewards import math_reward, think_format_reward
    trainer = GRPOTrainer(model=..., reward_funcs=[math_reward, think_format_reward], ...)

Every reward takes TRL's arguments (`completions` as strings or chat messages, the dataset's columns
as keyword lists, `**kwargs`), returns one `float | None` per completion (None: could not be judged,
not the model's fault), never raises, and has an `_async` twin for TRL's async path. Adapters:
`evalkit.rewards.verl` (veRL's `compute_score`), `evalkit.rewards.openrlhf` (`reward_func`) and
`evalkit.rewards.server` (OpenRLHF's HTTP reward protocol).
"""

from evalkit.rewards._advantages import group_advantages
from evalkit.rewards._correctness import (
    choice_reward,
    choice_reward_async,
    code_reward,
    code_reward_async,
    math_judge_reward,
    math_judge_reward_async,
    math_reward,
    math_reward_async,
    verdicts,
)
from evalkit.rewards._judge import Limits, clear_cache, warm_up
from evalkit.rewards._shaping import (
    cosine_length_reward,
    cosine_length_reward_async,
    overlong_penalty,
    overlong_penalty_async,
    repetition_penalty,
    repetition_penalty_async,
    think_format_reward,
    think_format_reward_async,
)

__all__ = [
    "math_reward", "choice_reward", "code_reward", "math_judge_reward", "math_judge_reward_async",
    "think_format_reward", "cosine_length_reward", "overlong_penalty", "repetition_penalty",
    "math_reward_async", "choice_reward_async", "code_reward_async",
    "think_format_reward_async", "cosine_length_reward_async", "overlong_penalty_async",
    "repetition_penalty_async",
    "group_advantages", "verdicts", "Limits", "clear_cache", "warm_up",
]  # fmt: skip
