"""Huge boxed answers under a batch deadline: how long `math_reward` takes on 64 distinct 400 KB boxes with
`batch_deadline_s=2`. Run it with the evalkit to measure on the path (a git worktree of another commit on
PYTHONPATH measures that one side by side):

    python bench/rewards/huge_answers.py
    PYTHONPATH=/path/to/old/worktree python bench/rewards/huge_answers.py
"""

from __future__ import annotations

import random
import time

import evalkit
from evalkit.rewards import math_reward, warm_up

if __name__ == "__main__":
    warm_up()
    time.sleep(1)
    rnd = random.Random(1)
    answers = ["</think>\\boxed{" + "+".join(str(rnd.randint(1, 9)) for _ in range(200_000)) + "}" for _ in range(64)]
    t = time.perf_counter()
    rewards = math_reward(completions=answers, answer=["7"] * 64, batch_deadline_s=2.0)
    print(f"{evalkit.__file__}: 64 answers of 400 KB, batch_deadline_s=2: {time.perf_counter() - t:.2f} s, "
          f"rewards {sorted(set(rewards))}")
