"""Shaping rewards: format, length and repetition terms to add to a correctness reward.

All of them take TRL's arguments (`completions`, `completion_ids`, dataset columns, `**kwargs`),
never raise, and are deterministic. Options are keyword arguments; bind them with
`functools.partial(overlong_penalty, max_len=4096, cache=512)`.
"""

from __future__ import annotations

import logging
import math
import numbers
import re
from typing import Any, Callable, Sequence

from evalkit.rewards._correctness import ANSWER_COLUMNS, async_twin, own_rows, report, verdicts
from evalkit.rewards._inputs import (as_written, completion_text, find_column, format_names, per_row, think_formats,
                                    think_open_rows, token_length, with_markers)
from evalkit.rewards._judge import BATCH_DEADLINE_S, PER_ANSWER_S, Limits
from evalkit.thinking import NONE, R1, well_formed
from evalkit.verifiers.base import is_from_caller

log = logging.getLogger("evalkit.rewards")


def think_format_reward(completions: Sequence[Any], *, think_open: Any = None, think_format: Any = None,
                        **columns: Any) -> list[float | None]:
    """1.0 when the completion is exactly one thinking block followed by a non-empty answer, in the
    think format's markers (`<think>…</think>` for r1; sky's solution block must open and close).

    think_open: the prompt opened thinking (R1-style chat templates end the prompt with
        `<think>\\n`), so the completion must hold no open marker and exactly one close marker. A bool
        for every row, or a dataset column of that name; when absent, read off TRL's `prompts` where
        they are text (the prompt ends in the open marker), else off the batch (a completion that
        closes the block without opening it shows the template opened it).
    think_format: a format name for every row or a dataset column (`auto`: from each completion's
        markers, r1 when it has none, so a completion that does not think scores 0.0); r1 when
        absent (evalkit.thinking.well_formed says what each format checks).
    Leading whitespace is allowed; a second block, a block that never closes, text before the
    block, or nothing after it scores 0.0. A think format that is not known (`bogus`) is not the
    model's fault: its rows get None (unjudged; TRL leaves them out) and a warning names it once.
    """
    n = _count(completions, None)
    texts = [completion_text(c) for c in per_row(as_written(completions, columns, think_format), n)]
    # `auto` reads a completion without markers as format none; this reward pays for thinking, so
    # there such a completion is held to r1's markers (and scores 0) instead of passing as well formed.
    auto = [isinstance(name, str) and name == "auto" for name in format_names(think_format, len(texts))]
    formats = [R1 if a and f is NONE else f
               for a, f in zip(auto, think_formats(think_format, texts, think_open=think_open,
                                                   prompts=columns.get("prompts")))]
    texts = with_markers(texts, formats)  # markers the trainer decoded away (gpt-oss's channels)
    flags = think_open_rows(think_open, columns.get("prompts"), formats, texts)
    return [None if fmt is None else 1.0 if well_formed(t, fmt, bool(f)) else 0.0
            for t, f, fmt in zip(texts, flags, formats)]


def cosine_length_reward(completions: Sequence[Any], completion_ids: Sequence[Any] | None = None, *,
                         max_len: int = 4096, min_value_wrong: float = -1.0, max_value_wrong: float = -0.5,
                         min_value_correct: float = 0.5, max_value_correct: float = 1.0,
                         exceed_value: float | None = None, answer_column: str | None = None,
                         per_answer_s: float = PER_ANSWER_S, batch_deadline_s: float = BATCH_DEADLINE_S,
                         verifier_options: dict[str, Any] | None = None, log_extra: Callable | None = None,
                         log_metric: Callable | None = None, **columns: Any) -> list[float | None]:
    """Correctness scaled by length on a cosine schedule (Yeo et al. 2025, "Demystifying Long
    Chain-of-Thought Reasoning in LLMs"): short-and-right beats long-and-right, long-and-wrong beats
    short-and-wrong, so the model is paid to be brief when it knows and to keep thinking when not.

    With p = min(length / max_len, 1) and c = cos(p·π), the reward is lo + (hi - lo)(1 + c)/2 where
    (lo, hi) = (min_value_correct, max_value_correct) for a right answer and
    (max_value_wrong, min_value_wrong) for a wrong one.

    completion_ids: token ids per completion (TRL passes them); without them, length counts words.
    max_len: the length in tokens at which the schedule ends; set it to your max completion length.
    exceed_value: when given, the reward of a completion at or past `max_len` (Yeo's exceed penalty).
    Correctness is the math verifier's verdict, with `math_reward`'s answer column and limits; an
    unjudged answer gives None.
    """
    n = _count(completions, None)
    bad = _bad_options("cosine_length_reward", max_len=(max_len, "positive"), min_value_wrong=min_value_wrong,
                       max_value_wrong=max_value_wrong, min_value_correct=min_value_correct,
                       max_value_correct=max_value_correct,
                       **({} if exceed_value is None else {"exceed_value": exceed_value}))
    if bad:
        return [None] * n
    completions = per_row(as_written(completions, {**columns, "completion_ids": completion_ids}), n)
    columns.pop("tokenizer", None)  # read above: no dataset column
    try:
        _, values = find_column(columns, [answer_column] if answer_column else ANSWER_COLUMNS)
        golds = own_rows("math", per_row(values, n), columns.get("verifier"))
        results = verdicts("math", completions, golds, columns, Limits(per_answer_s, batch_deadline_s),
                           verifier_options)
    except Exception as e:  # noqa: BLE001 - never raise into the trainer
        if is_from_caller(e):
            raise
        log.exception("evalkit: cosine_length_reward failed; the batch is unjudged")
        return [None] * n
    ids = per_row(completion_ids, n)
    rewards: list[float | None] = []
    for completion, verdict, tokens in zip(completions, results, ids):
        if verdict.correct is None:
            rewards.append(None)
            continue
        length = token_length(tokens, completion_text(completion))
        if exceed_value is not None and length >= max_len:
            rewards.append(float(exceed_value))
            continue
        progress = min(length / max(max_len, 1), 1.0)
        lo, hi = ((min_value_correct, max_value_correct) if verdict.correct
                  else (max_value_wrong, min_value_wrong))
        rewards.append(float(lo + 0.5 * (hi - lo) * (1.0 + math.cos(progress * math.pi))))
    report("cosine_length_reward", results, log_extra, log_metric)
    return rewards


def overlong_penalty(completions: Sequence[Any] | None = None, completion_ids: Sequence[Any] | None = None, *,
                     max_len: int = 20480, cache: int = 4096, **columns: Any) -> list[float | None]:
    """DAPO's soft overlong punishment (Yu et al. 2025, eq. 13), from the completion's token count.

    0 up to `max_len - cache` tokens, then falling linearly to -1 at `max_len`, and -1 beyond it.
    max_len: the maximum completion length (L_max); cache: the soft zone before it (L_cache).
    completion_ids: token ids per completion (TRL passes them); without them, length counts words.
    """
    n = _count(completions, completion_ids)
    if _bad_options("overlong_penalty", max_len=(max_len, "positive"), cache=(cache, "not negative")):
        return [None] * n
    if cache > max_len:
        _refuse("overlong_penalty", f"option 'cache' ({cache}) is larger than 'max_len' ({max_len})")
        return [None] * n
    texts = per_row(completions, n)
    ids = per_row(completion_ids, n)
    soft_start = max_len - cache
    out = []
    for tokens, text in zip(ids, texts):
        length = token_length(tokens, completion_text(text))
        if length <= soft_start:
            out.append(0.0)
        elif length <= max_len:
            out.append(float((soft_start - length) / cache))
        else:
            out.append(-1.0)
    return out


def repetition_penalty(completions: Sequence[Any] | None = None, completion_ids: Sequence[Any] | None = None, *,
                       ngram_size: int = 3, max_penalty: float = -1.0, **columns: Any) -> list[float | None]:
    """`max_penalty` × the fraction of repeated n-grams (Yeo et al. 2025, appendix C.2).

    0.0 for a completion with no repeated n-gram, approaching `max_penalty` for one that loops.
    Counted over `completion_ids` (TRL passes them), else over whitespace words of the text;
    a completion shorter than `ngram_size` gets 0.0.
    """
    n = _count(completions, completion_ids)
    if _bad_options("repetition_penalty", ngram_size=(ngram_size, "whole"), max_penalty=max_penalty):
        return [None] * n
    texts = per_row(completions, n)
    ids = per_row(completion_ids, n)
    out = []
    for tokens, text in zip(ids, texts):
        units = _ids(tokens)
        if units is None:  # no ids, or ids of a shape that cannot be counted: the text's words
            units = _WORDS.findall(completion_text(text))
        if len(units) < ngram_size or ngram_size < 1:
            out.append(0.0)
            continue
        grams = list(zip(*(units[i:] for i in range(ngram_size))))
        repeated = 1.0 - len(set(grams)) / len(grams)
        out.append(float(repeated * max_penalty) if repeated else 0.0)
    return out


_WORDS = re.compile(r"\S+")
_REFUSED: set[tuple[str, str]] = set()  # (reward, why) already logged


def _refuse(reward: str, why: str) -> None:
    if (reward, why) not in _REFUSED:
        _REFUSED.add((reward, why))
        log.error("evalkit: %s: %s; every row scores None (the trainer reads NaN) until it is fixed", reward, why)


def _bad_options(reward: str, **options: Any) -> bool:
    """Whether an option is not a finite number (`max_len="4096"` raised TypeError in every call, stopping the
    trainer); a (value, "positive") or (value, "whole") pair also needs that. The reason is logged once."""
    for name, value in options.items():
        value, need = value if isinstance(value, tuple) else (value, None)
        # numpy's numbers too (a config read into an array): numbers.Real, not bool
        number = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
        if need == "whole":
            number = number and isinstance(value, numbers.Integral) and value >= 1
        elif need == "positive":
            number = number and value > 0
        elif need == "not negative":
            number = number and value >= 0
        if not number:
            what = {"whole": "a whole number of at least 1", "positive": "a number above 0",
                    "not negative": "a number of at least 0"}.get(need, "a number")
            _refuse(reward, f"option '{name}': expected {what}, got {value!r}")
            return True
    return False


def _ids(tokens: Any) -> list[Any] | None:
    """A completion's ids as plain hashable values, None when there are none or they are not a sequence.

    A tensor's or array's ids become plain ints: a torch tensor's elements hash by identity, so as they
    are every n-gram would look new and a looping completion would go unpunished."""
    if tokens is None or isinstance(tokens, (str, bytes, dict)):
        return None
    try:
        values = tokens.tolist() if hasattr(tokens, "tolist") else list(tokens)
        units = [tuple(v) if isinstance(v, list) else v for v in values]
        hash(tuple(units))
    except TypeError:  # a bare int, or unhashable entries
        return None
    return units


def _count(completions: Sequence[Any] | None, completion_ids: Sequence[Any] | None) -> int:
    """How many values to return: one per completion, whatever `completion_ids` holds (a completion
    without ids is measured in words), so the trainer always gets a full list."""
    source = completions if completions is not None else completion_ids
    if isinstance(source, (str, bytes, dict)):  # one text is not a list of completions: nothing to score
        return 0
    try:
        return len(source) if source is not None else 0
    except TypeError:  # not a list: nothing to score (what the correctness rewards do)
        return 0


think_format_reward_async = async_twin(think_format_reward)
cosine_length_reward_async = async_twin(cosine_length_reward)
overlong_penalty_async = async_twin(overlong_penalty)
repetition_penalty_async = async_twin(repetition_penalty)
