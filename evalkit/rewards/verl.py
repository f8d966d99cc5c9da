"""veRL adapter: evalkit's verifiers as veRL's custom reward function.

Point veRL at this file (two config lines):

    custom_reward_function.path=<site-packages>/evalkit/rewards/verl.py
    custom_reward_function.name=compute_score

(`python -c "import evalkit.rewards.verl as m; print(m.__file__)"` prints the path)

or, with `reward_model.reward_manager=batch`, `custom_reward_function.name=compute_score_batch`, which
checks the whole batch at once (cheapest first, under one deadline) and is much faster.

Routing: `extra_info["verifier"]` when the row carries it (what `evalkit export --format verl`
writes), else a code-test JSON ground truth means `code`, else the data source's name
(`DATA_SOURCE_ROUTES`), else `math`. veRL cannot carry None, so an unjudged answer scores 0.0 and is
counted in the `unjudged` field, which veRL logs with the other fields of the returned dict.

A judge for what the rules cannot read: `reward_kwargs` `judge_model` and `judge_base_url` (or the
environment's EVALKIT_JUDGE_MODEL / EVALKIT_JUDGE_BASE_URL) make every row a rule-then-judge cascade
(code rows keep their tests' verdict), with at most `judge_concurrency` questions in flight and none
past the batch deadline; the judge reads `extra_info["problem"]` (what `evalkit export` writes) or
`extra_info["question"]`. A judge fault (server down or hung, a reply that does not parse) is
counted in `unjudged`, and a flip in `judge_flipped`.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Sequence

import os

from evalkit.rewards._correctness import _math_gold, judge_reward_options, verdicts
from evalkit.rewards._inputs import is_code_tests
from evalkit.rewards._judge import BATCH_DEADLINE_S, PER_ANSWER_S, Limits
from evalkit.types import Verdict

log = logging.getLogger("evalkit.rewards")

# data_source pattern -> verifier; first match wins.
DATA_SOURCE_ROUTES: list[tuple[str, re.Pattern]] = [
    ("code", re.compile(r"humaneval|mbpp|livecodebench|codecontests|apps|taco|code", re.I)),
    ("choice", re.compile(r"gpqa|mmlu|arc[_-]|choice|multiple", re.I)),
    ("math", re.compile(r".")),
]


def compute_score(data_source: str, solution_str: str, ground_truth: Any, extra_info: dict | None = None,
                  **kwargs: Any) -> dict[str, Any]:
    """Score one response, the way veRL's naive reward manager calls a custom reward function.

    data_source: the row's `data_source` (a task name such as `math500`; routes the verifier).
    solution_str: the decoded response.
    ground_truth: `reward_model.ground_truth`: the gold answer, or code-test JSON for code.
    extra_info: the row's `extra_info`; `verifier`, `think_open`, `think_format` and `finish_reason` are read.
    Returns `{"score", "acc", "pred", "reason", "unjudged"}`: score is the reward (0.0 when
    unjudged), acc 1.0/0.0, pred the extracted answer ("" when none).
    """
    return compute_score_batch([data_source], [solution_str], [ground_truth], [extra_info], **kwargs)[0]


def compute_score_batch(data_sources: Sequence[str], solution_strs: Sequence[str], ground_truths: Sequence[Any],
                        extra_infos: Sequence[dict | None] | None = None, *, per_answer_s: float = PER_ANSWER_S,
                        batch_deadline_s: float = BATCH_DEADLINE_S, partial: bool = False,
                        judge_model: str | None = None, judge_base_url: str | None = None,
                        judge_concurrency: int = 8, **kwargs: Any) -> list[dict[str, Any]]:
    """Score a batch, the way veRL's batch reward manager calls it; one dict per response, in order.

    partial: code answers score the fraction of tests passed rather than all-or-nothing.
    per_answer_s / batch_deadline_s: as for `math_reward` (veRL's `reward_kwargs` may set them).
    judge_model / judge_base_url / judge_concurrency: a judge (see the module).
    Never raises: a failure scores the affected responses 0.0 with `unjudged` 1.
    """
    n = len(solution_strs)
    extras = [e if isinstance(e, dict) else {} for e in (list(extra_infos) if extra_infos is not None else [None] * n)]
    extras = (extras + [{}] * n)[:n]
    results: list[Verdict | None] = [None] * n
    judge_model = judge_model or os.environ.get("EVALKIT_JUDGE_MODEL")
    routes: dict[str, list[int]] = {}
    route_of: list[str] = []
    golds: list[Any] = []
    try:
        for i in range(n):
            verifier = _route(str(data_sources[i]) if i < len(data_sources) else "", ground_truths[i], extras[i])
            routes.setdefault(verifier, []).append(i)
            route_of.append(verifier)
            golds.append(_gold(verifier, ground_truths[i]))
        limits = Limits(per_answer_s, batch_deadline_s)
        for verifier, idx in routes.items():
            columns = {"finish_reason": [extras[i].get("finish_reason") for i in idx],
                       "think_open": [bool(extras[i].get("think_open", False)) for i in idx],
                       "think_format": [extras[i].get("think_format") for i in idx],
                       "problem": [extras[i].get("problem") or extras[i].get("question") for i in idx]}
            options = None
            if judge_model:  # the cascade leaves what it cannot read (code verdicts) to the rules
                verifier, options = f"{verifier}+judge", judge_reward_options(judge_model, judge_base_url,
                                                                              judge_concurrency, batch_deadline_s)
            for i, v in zip(idx, verdicts(verifier, [solution_strs[i] for i in idx], [golds[i] for i in idx],
                                          columns, limits, options)):
                results[i] = v
    except Exception as e:  # noqa: BLE001 - never raise into the trainer
        log.exception("evalkit: veRL compute_score failed")
        results = [r or Verdict.infra_error(f"compute_score failed: {type(e).__name__}") for r in results]
    out = []
    for i, v in enumerate(results):
        v = v or Verdict.infra_error("not judged")
        code = i < len(route_of) and route_of[i] == "code"
        score = 0.0 if v.correct is None else (float(v.score) if code and partial else (1.0 if v.correct else 0.0))
        row = {"score": score, "acc": 1.0 if v.correct else 0.0, "pred": v.answer or "",
               "reason": v.reason, "unjudged": 1.0 if v.correct is None else 0.0}
        if judge_model:  # every row of a batch has the same keys: veRL logs them as columns
            row["judge_flipped"] = 1.0 if v.judge is not None and v.judge.flipped else 0.0
        out.append(row)
    return out


def _route(data_source: str, ground_truth: Any, extra_info: dict) -> str:
    named = extra_info.get("verifier")
    if isinstance(named, str) and named:
        return named
    if is_code_tests(ground_truth):
        return "code"
    for verifier, pattern in DATA_SOURCE_ROUTES:
        if pattern.search(data_source):
            return verifier
    return "math"


def _gold(verifier: str, ground_truth: Any) -> Any:
    if ground_truth is None:
        return None
    if verifier == "code":
        return ground_truth
    if hasattr(ground_truth, "tolist"):  # numpy scalars and arrays from parquet
        ground_truth = ground_truth.tolist()
    if isinstance(ground_truth, list):  # several accepted answers: veRL datasets sometimes list them
        ground_truth = ground_truth[0] if len(ground_truth) == 1 else ",".join(map(str, ground_truth))
    return _math_gold(ground_truth) if verifier == "math" else str(ground_truth)
