"""OpenRLHF adapter: evalkit's verifiers as OpenRLHF's `reward_func` and remote reward protocol.

In-process (OpenRLHF loads a Python file given as the reward URL):

    --remote_rm_url <site-packages>/evalkit/rewards/openrlhf.py --label_key answer

Over HTTP, `evalkit serve-rewards --port 5000` and `--remote_rm_url http://HOST:5000/get_reward`.

OpenRLHF sends `queries` (prompt + response, decoded with the chat template's special tokens),
`prompts` (the templated prompts) and `labels` (the `--label_key` column: the gold answer, or
code-test JSON). The response is what follows the prompt in the query; where the prompt cannot be
found there, what follows the first occurrence of a configured separator, else of a known chat
template's assistant marker (the first, so a marker the policy writes cannot move the cut).
OpenRLHF cannot carry None: an unjudged answer scores 0.0 and is counted in
`extra_logs["unjudged"]`.

Environment (for the file form, which takes no options): EVALKIT_REWARD_VERIFIER (default `math`;
a label holding code-test JSON always goes to `code`), EVALKIT_REWARD_OPTIONS (the verifier's options as a
JSON object, as a task spec's `verifier_options`: `{"require_box": true}`, `{"letters": "ABCD"}`),
EVALKIT_REWARD_SEPARATOR, EVALKIT_REWARD_THINK_FORMAT (a think format's name or `auto`; default r1). A
`think_format` keyword given to `reward_func` wins over the variable.
"""

from __future__ import annotations

import functools
import os
import re
from typing import Any, Sequence

from evalkit.rewards._correctness import answer_limit, verdicts, verdicts_side_by_side
from evalkit.rewards._inputs import format_opened_by, is_code_tests, known_format
from evalkit.rewards._judge import Limits
from evalkit.thinking import FORMATS, get_format
from evalkit.verifiers.base import is_from_caller

# Text that opens the assistant's turn, per chat-template family; the last one in a query wins.
ASSISTANT_MARKERS = (
    ("chatml", "<|im_start|>assistant\n"),
    ("deepseek", "<｜Assistant｜>"),
    ("llama3", "<|start_header_id|>assistant<|end_header_id|>\n\n"),
    ("gemma", "<start_of_turn>model\n"),
    ("phi", "<|assistant|>"),
    ("mistral", "[/INST]"),
    ("harmony", "<|start|>assistant"),  # gpt-oss; its answer's own `<|start|>assistant` comes after the first
)
# ... and where none is found, the turn of a plain-text prompt that opens thinking (R1-Zero's "... User: {question}
# Assistant: <think>"): with the open marker after it, not an `Assistant:` a policy imagines in its own reply.
PLAIN_ASSISTANT = re.compile(r"Assistant:(?=\s*(?:" + "|".join(re.escape(f.open) for f in FORMATS.values() if f.open)
                             + "))")
# Tokens that may trail a decoded response (end of turn, end of text, padding).
END_MARKERS = ("<|im_end|>", "<｜end▁of▁sentence｜>", "<|eot_id|>", "<|endoftext|>", "<end_of_turn>",
               "<|end|>", "</s>", "<pad>", "<|end_of_text|>")


def split_response(query: str, prompt: str | None = None, separator: str | None = None,
                   think_format: Any = None) -> tuple[str, bool]:
    """The response inside `query`, and whether the prompt opened thinking (in `think_format`'s
    markers; r1 when None).

    The response follows `prompt` when it is given and found (anywhere, so left padding does not
    matter); else the first occurrence of `separator`; else the first assistant marker of a known
    chat template (gpt-oss's `<|start|>assistant` too); else the first `Assistant:` followed by a think format's
    open marker (a plain-text prompt that opens thinking, as R1-Zero's); else it is the whole query. Text the
    policy writes never moves the cut: a separator or marker inside the response is part of it (so a multi-turn
    prompt, with assistant
    turns of its own, should be passed as `prompt`). Trailing end-of-turn and padding tokens are
    removed.
    """
    before, response = _cut(query, prompt, separator)
    if think_format == "auto":  # the prompt opened thinking in whichever format's marker it ends with
        think_open = format_opened_by(before) is not None
    else:
        fmt = get_format(think_format)
        think_open = fmt.thinks and before.rstrip().endswith(fmt.open)
    return response, think_open


def _cut(query: str, prompt: str | None = None, separator: str | None = None) -> tuple[str, str]:
    """(what precedes the response, the response) in `query`, as `split_response` finds them."""
    query = query if isinstance(query, str) else ""  # junk in one query must not fail the batch
    prompt = prompt if isinstance(prompt, str) else None
    start = -1
    if prompt and prompt in query:
        start = query.index(prompt) + len(prompt)
    elif separator and separator in query:
        start = query.index(separator) + len(separator)
    else:
        found = [(at, at + len(marker)) for _, marker in ASSISTANT_MARKERS if (at := query.find(marker)) >= 0]
        plain = PLAIN_ASSISTANT.search(query)
        # else the whole query: markers in its prompt (an instruction naming `<think> </think>`) closed the thinking
        start = min(found)[1] if found else plain.end() if plain else 0
    before, response = query[:start], query[start:]
    end = len(response)  # trailing markers are counted off an index: cutting the text each time took
    while True:          # quadratic time on a run of pads (OpenRLHF <= 0.6 decodes them)
        stop = end
        while stop and response[stop - 1].isspace():
            stop -= 1
        marker = next((m for m in END_MARKERS if response.endswith(m, 0, stop)), None)
        if marker is None:
            break
        end = stop - len(marker)
    return before, response[:end]


def score_queries(queries: Sequence[str], prompts: Sequence[str] | None = None, labels: Sequence[Any] | None = None,
                  *, verifier: str = "math", separator: str | None = None, partial: bool = False,
                  limits: Limits = Limits(), think_format: Any = None,
                  options: dict[str, Any] | None = None) -> dict[str, Any]:
    """Judge OpenRLHF's request; a JSON-ready dict in its remote reward protocol.

    Returns `{"rewards", "scores", "extra_logs": {"unjudged", "timeout"}, "answers", "reasons", "details"}`,
    every value a list aligned with `queries` (`details`: each verdict's line on how it was reached); an
    unjudged answer has reward 0.0 and unjudged 1.
    verifier: for labels that are not code-test JSON (those always go to `code`).
    partial: an answer scores its verdict's `score` (for code, the fraction of tests passed).
    think_format: how the policy thinks (a name, `auto` per response, or None for r1); an unknown
        one leaves every answer unjudged (reward 0.0, `unjudged` 1) with a warning naming it.
    options: `verifier`'s options, as a task spec's `verifier_options` (`{"require_box": true}`,
        `{"letters": "ABCD"}`); not for the code-test labels.
    """
    n = len(queries)
    prompts = list(prompts) if prompts is not None else [None] * n
    labels = list(labels) if labels is not None else [None] * n
    split_format = _cut_format(think_format)
    # under `auto` each row's opening is read off its prompt, in the format whose open marker ends it, and with a
    # list of formats (one per query), in its own (None here: `verdicts` reads each row's prompt)
    per_row = split_format == "auto" or isinstance(think_format, (list, tuple))
    fmt = None if per_row else get_format(split_format)
    responses, think_open, befores, routes = [], [], [], {}
    for i in range(n):
        before, response = _cut(queries[i], prompts[i] if i < len(prompts) else None, separator)
        opened = None if fmt is None else fmt.thinks and before.rstrip().endswith(fmt.open)
        befores.append(before)
        responses.append(response)
        think_open.append(opened)
        label = labels[i] if i < len(labels) else None
        routes.setdefault("code" if is_code_tests(label) else verifier, []).append(i)
    results: list[Any] = [None] * n
    groups = [functools.partial(verdicts, name, [responses[i] for i in idx],
                                [labels[i] if i < len(labels) else None for i in idx],
                                {"think_open": [think_open[i] for i in idx],
                                 "think_format": [think_format[i] if i < len(think_format) else None for i in idx]
                                 if isinstance(think_format, (list, tuple)) else think_format,
                                 "prompts": [befores[i] for i in idx]}, limits,
                                options if name == verifier else None)
              for name, idx in routes.items()]
    for idx, judged in zip(routes.values(), verdicts_side_by_side(groups)):  # one deadline for the batch
        for i, v in zip(idx, judged):
            results[i] = v
    rewards = [0.0 if v.correct is None else (float(v.score) if partial else float(bool(v.correct)))
               for v in results]
    return {
        "rewards": rewards,
        "scores": list(rewards),
        "extra_logs": {"unjudged": [float(v.correct is None) for v in results],
                       "timeout": [float(v.reason == "timeout") for v in results]},
        "answers": [v.answer for v in results],
        "reasons": [v.reason for v in results],
        "details": [v.detail for v in results],  # why: an unjudged row's fault (a label that is no test) too
    }


def _cut_format(think_format: Any) -> Any:
    """The format `split_response` reads for every query: the one given; r1 for a list (one per
    query) or an unknown name, whose answers `verdicts` then leaves unjudged (saying so once)."""
    if think_format is None or isinstance(think_format, str) and think_format == "auto":
        return think_format
    return None if isinstance(think_format, (list, tuple)) else known_format(think_format)


def reward_func(queries: Sequence[str], prompts: Sequence[str], labels: Sequence[Any], **kwargs: Any) -> dict[str, Any]:
    """OpenRLHF's custom reward function: `{"rewards", "scores", "extra_logs"}` as torch tensors.

    queries: prompt + response texts; prompts: the prompts; labels: gold answers or code-test JSON.
    think_format (keyword, else $EVALKIT_REWARD_THINK_FORMAT): how the policy thinks (default r1).
    Never raises: a failure scores the batch 0.0 with every answer counted as unjudged.
    """
    try:
        think_format = kwargs.get("think_format") or os.environ.get("EVALKIT_REWARD_THINK_FORMAT") or None
        options = env_options()
        out = score_queries(queries, prompts, labels, verifier=os.environ.get("EVALKIT_REWARD_VERIFIER", "math"),
                            separator=os.environ.get("EVALKIT_REWARD_SEPARATOR") or None, think_format=think_format,
                            options=options, limits=Limits(answer_limit(None, options)))  # a code task's timeout_s
    except Exception as e:  # noqa: BLE001 - never raise into the trainer
        if is_from_caller(e):
            raise
        import logging

        logging.getLogger("evalkit.rewards").exception("evalkit: OpenRLHF reward_func failed")
        n = len(queries) if hasattr(queries, "__len__") else 0
        out = {"rewards": [0.0] * n, "scores": [0.0] * n, "extra_logs": {"unjudged": [1.0] * n, "timeout": [0.0] * n}}
    return _as_tensors(out)


def env_options() -> dict[str, Any] | None:
    """EVALKIT_REWARD_OPTIONS as verifier options; ValueError (the batch is then unjudged, logged) when it is
    not a JSON object."""
    import json

    text = os.environ.get("EVALKIT_REWARD_OPTIONS", "").strip()
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError as e:
        raise ValueError(f"EVALKIT_REWARD_OPTIONS is not JSON ({e}): give an object, such as "
                         '{"require_box": true}') from None
    if not isinstance(value, dict):
        raise ValueError(f"EVALKIT_REWARD_OPTIONS: expected a JSON object, got {text[:60]!r}")
    return value


def _as_tensors(out: dict[str, Any]) -> dict[str, Any]:
    try:
        import torch
    except ImportError:  # OpenRLHF always has torch; plain lists keep this usable without it
        return {"rewards": out["rewards"], "scores": out["scores"], "extra_logs": out["extra_logs"]}
    tensor = lambda values: torch.tensor(values, dtype=torch.float32)  # noqa: E731
    return {"rewards": tensor(out["rewards"]), "scores": tensor(out["scores"]),
            "extra_logs": {k: tensor(v) for k, v in out["extra_logs"].items()}}
