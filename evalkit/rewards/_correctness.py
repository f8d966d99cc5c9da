"""Correctness rewards: the evaluation verifiers, called the way TRL calls a reward function.

    trainer = GRPOTrainer(..., reward_funcs=[math_reward, think_format_reward])

Each reward takes `completions` (strings or chat messages), the dataset's columns as keyword lists
aligned with them, and `**kwargs`; it returns one float per completion, or None where the answer
could not be judged for a reason that is not the model's (TRL leaves those out). Options are keyword
arguments; bind them with `functools.partial(math_reward, answer_column="gold")`, which TRL still
logs under the function's own name.

Columns a reward reads besides its answer column, when the dataset has them: `finish_reason`
(`length` marks a truncated completion), `think_open` (the prompt opened the think block) and
`think_format` (how the model thinks: `r1` when absent, `sky`, `harmony`, ..., or `auto` to decide
from each completion's markers; also a keyword, `functools.partial(math_reward, think_format="sky")`).
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
from collections.abc import Mapping
from typing import Any, Callable, Sequence

from evalkit.rewards._inputs import (as_written, completion_text, decoded_format, find_column, format_names, is_array,
                                    per_row, think_formats, think_open_rows, with_markers)
from evalkit.rewards._judge import BATCH_DEADLINE_S, PER_ANSWER_S, Limits, judge, say_once
from evalkit.thinking import finish_reason_of
from evalkit.types import Verdict, last_user_message
from evalkit.verifiers.base import (VerifyItem, best_verdict, from_caller, golds_for, is_from_caller, readable_golds,
                                    rules_verifier, verifier_factory)

log = logging.getLogger("evalkit.rewards")

# Where each reward looks for the gold answer, first match wins (`answer_column=` overrides).
ANSWER_COLUMNS = ("answer", "solution")
CHOICE_COLUMNS = ("answer", "label", "solution")
TESTS_COLUMNS = ("tests",)


def math_reward(completions: Sequence[Any], *, answer_column: str | None = None,
                per_answer_s: float = PER_ANSWER_S, batch_deadline_s: float = BATCH_DEADLINE_S,
                verifier_options: dict[str, Any] | None = None, log_extra: Callable | None = None,
                log_metric: Callable | None = None, **columns: Any) -> list[float | None]:
    """1.0 when the final answer equals the gold answer, else 0.0 (the `math` verifier's verdict).

    completions: strings, or chat messages `[{"role": "assistant", "content": ...}]`.
    answer_column: the column holding the gold answer (default: `answer`, else `solution`). A full
        worked solution is fine: its last `\\boxed{}` is the gold.
    per_answer_s / batch_deadline_s: an answer slower to check than its limit, or still unchecked
        at the batch deadline, scores 0 with reason `timeout` (None only where no worker had started by
        then: call `evalkit.rewards.warm_up()` first).
    verifier_options: options of the math verifier (as in a task spec's `verifier_options`). A dataset column of
        that name gives each row its own, a mapping or its JSON text (what `evalkit export` writes), so one
        dataset can mix tasks verified with different options; TRL then passes the column under this keyword,
        so a value bound with `partial` is not seen.
    log_extra / log_metric: given by TRL; the extracted answer and the verdict reason go to the
        completions table as `math_reward/answer` and `math_reward/reason`, and the counts of
        unjudged and timed-out answers to `math_reward/unjudged` and `math_reward/timeout`.
    Returns None only for an unjudged answer (no gold answer in the row, the verifier's workers
    could not run).
    """
    return _reward("math_reward", "math", completions, columns, answer_column, ANSWER_COLUMNS,
                   Limits(per_answer_s, batch_deadline_s), verifier_options, log_extra, log_metric)


def choice_reward(completions: Sequence[Any], *, answer_column: str | None = None,
                  per_answer_s: float = PER_ANSWER_S, batch_deadline_s: float = BATCH_DEADLINE_S,
                  verifier_options: dict[str, Any] | None = None, log_extra: Callable | None = None,
                  log_metric: Callable | None = None, **columns: Any) -> list[float | None]:
    """1.0 when the chosen letter is the gold letter, else 0.0 (the `choice` verifier's verdict).

    answer_column: the column holding the gold letter (default: `answer`, else `label`, `solution`).
    The other arguments are those of `math_reward`; logs go under `choice_reward/...`.
    """
    return _reward("choice_reward", "choice", completions, columns, answer_column, CHOICE_COLUMNS,
                   Limits(per_answer_s, batch_deadline_s), verifier_options, log_extra, log_metric)


def code_reward(completions: Sequence[Any], *, partial: bool = False, tests_column: str | None = None,
                per_answer_s: float | None = None, batch_deadline_s: float = BATCH_DEADLINE_S,
                verifier_options: dict[str, Any] | None = None, log_extra: Callable | None = None,
                log_metric: Callable | None = None, **columns: Any) -> list[float | None]:
    """1.0 when the program passes all its tests in the sandbox, else 0.0 (the `code` verifier).

    partial: give the fraction of tests passed instead (partial credit).
    tests_column: the column holding the tests (default `tests`), each docs/contracts.md's code-test JSON
        (a JSON string or a dict): `{"style": "assert" | "call" | "stdio", "entry_point": ...}`.
    per_answer_s: for code, the sandbox's wall-clock limit per test (a test that runs out fails);
        default the task's `timeout_s` where `verifier_options` gives one (what `evalkit export` says
        its task is verified with, and `evalkit run` uses), else 1 s.
    The other arguments are those of `math_reward`; logs go under `code_reward/...`. A reward hack
    (exiting before the tests, an always-equal object, ...) scores 0: the verdict is made outside
    the program.
    """
    score = (lambda v: float(v.score)) if partial else (lambda v: 1.0 if v.correct else 0.0)
    return _reward("code_reward", "code", completions, columns, tests_column, TESTS_COLUMNS,
                   Limits(answer_limit(per_answer_s, verifier_options), batch_deadline_s), verifier_options,
                   log_extra, log_metric, score=score,
                   limits_for=lambda options: Limits(answer_limit(per_answer_s, options), batch_deadline_s))


def answer_limit(per_answer_s: float | None, verifier_options: Any) -> float:
    """The seconds one answer may take: `per_answer_s` where given, else the task's own `timeout_s`
    where its verifier options give one (a code task's limit per test), else the rewards' default.
    Never a silent 1 s over a task whose options say 6 s, as `evalkit export` writes them."""
    if per_answer_s is not None:
        return per_answer_s
    from evalkit.sandbox._pool import OptionError, check_number

    given = verifier_options.get("timeout_s") if isinstance(verifier_options, dict) else None
    try:  # numpy's numbers too (a parquet row's); one that is no limit leaves the verifier to say why (its own check)
        return float(check_number("timeout_s", given))
    except OptionError:
        return PER_ANSWER_S


def verdicts_side_by_side(groups: Sequence[Callable[[], list[Verdict]]]) -> list[list[Verdict]]:
    """Each group's verdicts (a call of `verdicts` for one verifier and its options: a batch that mixes math and code
    rows), the groups checked side by side, so that the batch's deadline is the batch's, not each group's in turn
    (a slow math group before the code group doubled it, and veRL's async give-up then scored every row 0)."""
    if len(groups) <= 1:
        return [group() for group in groups]
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(max_workers=len(groups), thread_name_prefix="evalkit-reward-group")
    futures = [pool.submit(group) for group in groups]
    try:
        return [future.result() for future in futures]
    except BaseException as e:
        if not any(f.done() and not f.cancelled() and f.exception() is e for f in futures):
            raise from_caller(e)  # the caller's signal handler, while this thread waited: not a group's failure
        raise
    finally:
        pool.shutdown(wait=False)  # the groups are done, or the caller's exception goes to it now


def verdicts(verifier: str, completions: Sequence[Any], golds: Sequence[Any], columns: dict[str, Any] | None = None,
             limits: Limits = Limits(), options: Any = None,
             limits_for: Callable[[dict[str, Any] | None], Limits] | None = None) -> list[Verdict]:
    """The verifier's Verdict for each completion against its gold (None gold: unjudged). Never raises.

    golds: the dataset's values; each becomes the verifier's golds the way it declares
    (Capabilities.gold: a worked solution's last box for math, code-test JSON as is for code). A list
    of accepted answers (`["7", "7.0"]`) is checked answer by answer (less those the verifier cannot read,
    while one it can remains), and the best verdict stands: correct if any accepts, else unjudged if one
    could not be judged, else the first's verdict.
    columns: optional `finish_reason`, `think_open`, `think_format` and `problem` (the problem text, which a judge
    reads), each a list aligned with the completions or one value for all. Without `think_open`, text
    `prompts` (TRL's) that end in the format's open marker say the prompt opened thinking, and for chat
    prompts the batch's completions say it (_inputs.think_open_rows). A think format that is not known
    leaves its rows unjudged (logged once).
    options: the verifier's options, one set for every row; or a column of them, one per row (TRL passes a
    dataset's `verifier_options` column under that keyword), each a mapping or its JSON text (row_options): rows
    are grouped by their options and the groups checked side by side under the one deadline; what the batch says
    (where thinking opened) is read off the whole batch first. limits_for: the limits of a group's options (a code
    task's `timeout_s`), where the caller gave no limit per answer of its own.
    """
    columns = columns or {}
    rows = row_options(options, len(completions))
    if not is_cascade(verifier):  # a rules reward given a `+judge` task's rows: its rules judge them
        rows = None if rows is None else [_rules_only(verifier, r) for r in rows]
        options = _rules_only(verifier, options) if rows is None else options
    if rows is not None:  # a `verifier_options` column: each row is checked with its own
        return _verdicts_by_options(verifier, completions, golds, columns, limits, rows, limits_for)
    try:
        factory = verifier_factory(verifier)
        accepted = [_row_golds(factory, g) for g in golds]
        if any(len(a) > 1 for a in accepted):  # a member the rules cannot read is left out while another remains
            rules = rules_verifier(verifier, **(options or {}))
            accepted = [readable_golds(rules, a) for a in accepted]
    except Exception as e:  # noqa: BLE001 - an unknown or broken verifier: every answer unjudged
        log.error("evalkit: %s", e.args[0] if isinstance(e, KeyError) and e.args else e)
        return [Verdict.infra_error(f"verifier {verifier!r} unavailable") for _ in completions]
    n = len(completions)
    # a finish reason is text (`length`); anything else in the column says nothing, and is read as none
    # (other APIs' words for it, `max_tokens`, `MAX_TOKENS`, read as `evalkit verify` and a replay read them)
    finish = [finish_reason_of(f) if isinstance(f, str) else None for f in per_row(columns.get("finish_reason"), n)]
    problems = per_row(columns.get("problem"), n)
    texts = [completion_text(c) for c in completions]
    format_names = per_row(columns.get("think_format"), n)
    formats = think_formats(format_names, texts, think_open=columns.get("think_open"), prompts=columns.get("prompts"))
    texts = with_markers(texts, formats)  # markers the trainer decoded away (gpt-oss's channels)
    think_open = think_open_rows(columns.get("think_open"), columns.get("prompts"), formats, texts)
    items: list[VerifyItem] = []
    owners: list[int] = []  # the row of each item: a row with several accepted answers has several
    for i, (text, row_golds) in enumerate(zip(texts, accepted)):
        if formats[i] is None:
            continue
        for gold in row_golds:
            items.append(VerifyItem(text, gold, finish[i], bool(think_open[i]),
                                    problem=problems[i] if isinstance(problems[i], str) else None,
                                    think_format=formats[i]))
            owners.append(i)
    per_row_verdicts: list[list[Verdict]] = [[] for _ in range(n)]
    for i, verdict in zip(owners, judge(verifier, items, limits, options)):
        per_row_verdicts[i].append(verdict)
    out = []
    for i, found in enumerate(per_row_verdicts):
        if formats[i] is None:
            out.append(Verdict.infra_error(f"unknown think format {format_names[i]!r}"))
        elif not found:
            out.append(Verdict.infra_error(NO_GOLD))
        else:
            out.append(best_verdict(found))
    return out


class BadOptions(str):
    """A row's `verifier_options` that cannot be read: why (its rows are unjudged)."""


def row_options(value: Any, n: int) -> list[dict[str, Any] | BadOptions | None] | None:
    """Each row's verifier options where `value` is a column of them (a list, or an array, aligned with the
    completions: TRL passes a dataset's `verifier_options` column under the keyword's name); None where `value` is
    one set of options for every row (any mapping, OmegaConf's DictConfig as veRL's `reward_kwargs` hold it
    included, or None).

    A row's value is a mapping or its JSON text (what `evalkit export` writes). A parquet or `datasets` struct column
    gives every row every row's keys, null where its task has none: those are left out. None, NaN, an empty text or
    mapping: no options. Anything else is a BadOptions naming it, and its row is unjudged.
    """
    if (value is None or isinstance(value, (Mapping, str, bytes)) or hasattr(value, "keys")
            or not (isinstance(value, (list, tuple)) or is_array(value))):
        return None
    if hasattr(value, "to_pylist"):  # a pyarrow array: its items as Python values, not pyarrow scalars
        value = value.to_pylist()
    return [one_row_options(v) for v in per_row(value, n)]


def one_row_options(value: Any) -> dict[str, Any] | BadOptions | None:
    """One row's verifier options (a mapping, its JSON text, a pyarrow scalar) as `row_options` reads each."""
    if isinstance(value, BadOptions):  # read already (math_judge_reward's rows come back through verdicts)
        return value
    if hasattr(value, "as_py"):  # one pyarrow scalar
        value = value.as_py()
    if isinstance(value, str):
        if not value.strip():
            return None
        try:
            value = json.loads(value)
        except ValueError as e:
            return BadOptions(f"verifier_options is not JSON ({e}): {value[:80]!r}")
    if value is None or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, Mapping):
        return {str(k): v for k, v in value.items() if v is not None} or None
    return BadOptions(f"verifier_options must be a mapping or its JSON text, got {type(value).__name__} "
                      f"{str(value)[:80]!r}")


def is_cascade(verifier: str) -> bool:
    """Whether `verifier` names a rule-then-judge cascade (`math+judge`), whose options hold its judge."""
    return verifier.rpartition("+")[2] == "judge"


def _rules_only(verifier: str, options: Any) -> Any:
    """The options of a verifier that is no cascade, less a `judge` mapping (the cascade's option: a `math+judge`
    task's, as `evalkit export` and `evalkit curate` write it into each row): the rules reward scores the row by its
    rules, said once; the judge is math_judge_reward's to ask (or veRL's cascade)."""
    if isinstance(options, BadOptions) or not (isinstance(options, Mapping) or hasattr(options, "keys")) \
            or "judge" not in options:
        return options
    say_once(f"evalkit: rows whose verifier_options name a judge are scored by the {verifier} rules alone here; "
             "the judge is asked by math_judge_reward (TRL, math rows) and by veRL's adapter for rows whose "
             "verifier is `+judge`, or given judge_model", logging.WARNING)
    return {k: v for k, v in options.items() if k != "judge"} or None


def _verdicts_by_options(verifier: str, completions: Sequence[Any], golds: Sequence[Any], columns: dict[str, Any],
                         limits: Limits, rows: list[dict[str, Any] | BadOptions | None],
                         limits_for: Callable[[dict[str, Any] | None], Limits] | None) -> list[Verdict]:
    """`verdicts` for rows that each carry their own options: one group per set of options, side by side."""
    n = len(completions)
    texts = [completion_text(c) for c in completions]
    try:  # where thinking opened is read off the whole batch, not off each group (think_open_rows)
        formats = think_formats(columns.get("think_format"), texts, think_open=columns.get("think_open"),
                                prompts=columns.get("prompts"))
        opened: list[Any] = think_open_rows(columns.get("think_open"), columns.get("prompts"), formats, texts)
    except Exception:  # noqa: BLE001 - each group reads its own, as before
        opened = per_row(columns.get("think_open"), n)
    sliced = {key: per_row(columns.get(key), n) for key in ("finish_reason", "think_format", "problem", "prompts")}
    sliced["think_open"] = opened
    groups: dict[str, list[int]] = {}
    for i, options in enumerate(rows):
        key = ("!" + options) if isinstance(options, BadOptions) else json.dumps(options, sort_keys=True, default=str)
        groups.setdefault(key, []).append(i)
    out: list[Verdict | None] = [None] * n
    calls, owners = [], []
    for idx in groups.values():
        options = rows[idx[0]]
        if isinstance(options, BadOptions):
            say_once(f"evalkit: {options}; its rows are unjudged")
            for i in idx:
                out[i] = Verdict.infra_error(str(options))
            continue
        columns_here = {key: [values[i] for i in idx] for key, values in sliced.items()}
        calls.append(functools.partial(verdicts, verifier, [completions[i] for i in idx], [golds[i] for i in idx],
                                       columns_here, limits_for(options) if limits_for else limits, options))
        owners.append(idx)
    for idx, found in zip(owners, verdicts_side_by_side(calls)):
        for i, v in zip(idx, found):
            out[i] = v
    return [v or Verdict.infra_error("not judged") for v in out]


def _row_golds(factory: Any, gold: Any) -> tuple[Any, ...]:
    """The row's golds (golds_for); () where its value cannot be read: that row is unjudged, not the batch."""
    try:
        return golds_for(factory, gold)
    except Exception as e:  # noqa: BLE001 - a value no reader expected (an object whose str() raises)
        log.warning("evalkit: a gold answer could not be read (%s: %s); its row is unjudged",
                    type(e).__name__, str(e)[:200])
        return ()


def math_judge_reward(completions: Sequence[Any], *, judge_model: str | None = None,
                      judge_base_url: str | None = None, answer_column: str | None = None,
                      problem_column: str | None = None, concurrency: int = 8,
                      per_answer_s: float = PER_ANSWER_S, batch_deadline_s: float = BATCH_DEADLINE_S,
                      judge_options: dict[str, Any] | None = None, verifier_options: dict[str, Any] | None = None,
                      log_extra: Callable | None = None, log_metric: Callable | None = None,
                      **columns: Any) -> list[float | None]:
    """`math_reward`, with a judge model asked where the rules say wrong or no_answer.

    judge_model / judge_base_url: the judge and its OpenAI-compatible URL (default: the environment's
        EVALKIT_JUDGE_MODEL and EVALKIT_JUDGE_BASE_URL; bind them with functools.partial).
    problem_column: the problem text the judge reads (default `problem`, else `question`, else the
        last user message of TRL's `prompts`).
    concurrency: judge requests in flight at once, over all calls of this reward together.
    batch_deadline_s: the whole batch (rules and judge) returns by then.
    judge_options: more of the judge's options (evalkit.verifiers.judge.JudgeOptions).
    verifier_options: the math verifier's options, as for `math_reward`: the rules read the answer the
        same way with the judge as without it.
    A judge fault — the server is down or hangs past the deadline — is an infrastructure fault: None
    (TRL leaves the completion out where every reward function gave None), never a silent 0 or 1; the
    count goes to `math_judge_reward/unjudged`, and the flips the judge made to `math_judge_reward/flipped`. A reply that does not parse leaves the rule's 0: the
    answer's own text may have derailed the judge, and a policy must not escape its penalty that way.
    """
    rows = row_options(verifier_options, len(completions))
    options: Any = (judge_reward_options(judge_model, judge_base_url, concurrency, judge_options, verifier_options)
                    if rows is None else
                    [row if isinstance(row, BadOptions) else
                     judge_reward_options(judge_model, judge_base_url, concurrency, judge_options, row) for row in rows])
    columns = {**columns, "problem": problem_texts(columns, problem_column, len(completions))}
    return _reward("math_judge_reward", "math+judge", completions, columns, answer_column, ANSWER_COLUMNS,
                   Limits(per_answer_s, batch_deadline_s), options, log_extra, log_metric)


def judge_reward_options(model: str | None, base_url: str | None, concurrency: int,
                         more: dict[str, Any] | None = None, rules: dict[str, Any] | None = None) -> dict[str, Any]:
    """The `math+judge` verifier options a reward uses: no reply is a fault (unjudged), an unparsed
    reply leaves the rule's verdict, and no verdict goes to the user's cache (the judge's questions end at the
    batch deadline, which the reward gives the cascade as its `batch_deadline_s`, held to a week).

    rules: the rule verifier's own options. A `judge` mapping among them (a task's, as `evalkit export` writes it
    into each row) names the judge where `model` and `base_url` name none, before the environment
    (EVALKIT_JUDGE_MODEL, EVALKIT_JUDGE_BASE_URL); it cannot loosen the reward's handling of faults. more: the
    caller's own judge options, which can."""
    rules = dict(rules or {})
    row = dict(rules.pop("judge", None) or {})
    given = {k: v for k, v in (("model", model), ("base_url", base_url)) if v}
    env = {k: v for k, v in (("model", os.environ.get("EVALKIT_JUDGE_MODEL")),
                             ("base_url", os.environ.get("EVALKIT_JUDGE_BASE_URL"))) if v}
    # a judge's model and URL come from the first place that names either, the caller's (then the environment, then
    # the row filling what it leaves out), else the row's (then the environment: a row naming only its model, its
    # server given with --judge-base-url when the run was made, is asked at the environment's URL); a row's whole
    # pair is never split by the environment's model (a server asked for a model it may not serve)
    named = {k: row.get(k) for k in ("model", "base_url") if row.get(k)}
    where: dict[str, Any] = {}
    for source in ((given, env, named) if given else (named, env)):
        where.update({k: v for k, v in source.items() if k not in where})
    judge = {"model": None, "base_url": None, **row, **where, "concurrency": concurrency,
             "on_unparsed": "rule", "on_fault": "error", "user_cache": False, **(more or {})}
    return {**rules, "judge": judge}


PROBLEM_COLUMNS = ("problem", "question")


def problem_texts(columns: dict[str, Any], column: str | None, n: int) -> list[str | None]:
    """The problem text of each row: its column, else the last user message of TRL's `prompts`."""
    found, values = find_column(columns, [column] if column else PROBLEM_COLUMNS)
    if found is not None:
        return [v if isinstance(v, str) else None for v in per_row(values, n)]
    out: list[str | None] = []
    for prompt in per_row(columns.get("prompts"), n):
        if isinstance(prompt, str):
            out.append(prompt)
        elif isinstance(prompt, (list, tuple)):
            out.append(last_user_message(prompt))
        else:
            out.append(None)
    return out


# ---------------------------------------------------------------- shared body


def _reward(name: str, verifier: str, completions: Sequence[Any], columns: dict[str, Any],
            column: str | None, default_columns: Sequence[str], limits: Limits,
            options: Any, log_extra: Callable | None, log_metric: Callable | None,
            score: Callable[[Verdict], float] = lambda v: 1.0 if v.correct else 0.0,
            limits_for: Callable[[dict[str, Any] | None], Limits] | None = None) -> list[float | None]:
    if isinstance(completions, (str, bytes, dict)):  # one text is not a list of completions (as _shaping._count)
        return []
    try:
        n = len(completions)
    except TypeError:
        return []
    decoded_again = columns.get("tokenizer") is not None
    try:
        completions = as_written(completions, columns)  # markers TRL decoded away, where the tokenizer was given
        found, values = find_column(columns, [column] if column else default_columns)
        if found is None:
            wanted = column or " or ".join(default_columns)
            log.error("evalkit: %s found no %s column among %s; every answer is unjudged", name, wanted,
                      sorted(k for k in columns if k not in ("trainer_state", "completion_ids", "prompts")))
        if found is not None and is_array(values) and len(values) != n:  # a caller's slip, said as veRL's batch does
            rows = f"{len(values)} row{'' if len(values) == 1 else 's'}"
            say_once(f"evalkit: {name}: the {found} column holds {rows} for {n} completions, not one per completion: "
                     + ("the completions without one are unjudged" if len(values) < n
                        else "its last rows are left out"),
                     logging.WARNING)
        golds = own_rows(verifier, per_row(values, n), columns.get("verifier"))
        results = verdicts(verifier, completions, golds, columns, limits, options, limits_for)
        rewards = [None if v.correct is None else score(v) for v in results]
        if (not decoded_again and columns.get("completion_ids") is not None and n >= 4
                and all(v.reason == "truncated" for v in results)):
            say_once(f"evalkit: {name}: every completion of a batch reads as cut off before its thinking closed: a policy "
                     "that never closes it within max_completion_length, or think markers that are special tokens, "
                     "which TRL decodes away (skip_special_tokens=True); give the reward the tokenizer, "
                     f"functools.partial({name}, tokenizer=tokenizer), to read them", logging.WARNING)
        elif not decoded_again and columns.get("completion_ids") is not None and n >= 4:
            _warn_unmarked(name, completions, columns)
    except Exception as e:  # noqa: BLE001 - a reward must never raise into the trainer
        if is_from_caller(e):
            raise
        log.exception("evalkit: %s failed; the batch is unjudged", name)
        results = [Verdict.infra_error(f"{name} failed")] * n
        rewards = [None] * n
    report(name, results, log_extra, log_metric)
    return rewards


def _warn_unmarked(name: str, completions: Sequence[Any], columns: dict[str, Any]) -> None:
    """Say once where no completion of a TRL batch holds a marker of its (named, thinking) format: a policy that does
    not think, or markers that are special tokens TRL decoded away from a model that writes its own open marker.
    The thinking then reads as the answer, paid for a box it mused about (with the prompt opening it, every reply
    reads as cut off instead, said above)."""
    names = format_names(columns.get("think_format"), len(completions))
    # auto reads a reply without markers as one that does not think
    if any(isinstance(v, str) and v == "auto" for v in names):
        return
    texts = [completion_text(c) for c in completions]
    formats = think_formats(names, texts)
    if not all(f is not None and f.thinks for f in formats) or not any(t.strip() for t in texts):
        return
    if any(f.open in t or f.close in t or (f.answer_open and f.answer_open in t) or decoded_format(t)
           for t, f in zip(texts, formats)):  # a marker, or markers as TRL decodes them (with_markers)
        return
    fmt = formats[0]
    say_once(f"evalkit: {name}: no completion of a batch holds a think marker ({fmt.open} … {fmt.close}): a policy "
             "that does not think (think_format='none' says so), or think markers that are special tokens, which TRL "
             "decodes away (skip_special_tokens=True), and the thinking is read as the answer; give the reward the "
             f"tokenizer, functools.partial({name}, tokenizer=tokenizer), to read them", logging.WARNING)


NO_GOLD = "no gold answer for this row"  # another reward's row in a mixed dataset (a code row to math_reward)


def own_rows(verifier: str, golds: list[Any], named: Any) -> list[Any]:
    """`golds`, less those of rows whose `verifier` column (what `evalkit export` writes) names another built-in
    reward's verifier: a choice row's `answer` is no gold of `math_reward`'s, which would pay a boxed letter as well
    as `choice_reward` does. Those rows have no gold here (None; logged as `no_gold`). A row naming a plugin, or
    none, keeps its gold."""
    if named is None:
        return golds
    ours = verifier.rpartition("+")[0] or verifier
    names = per_row(named, len(golds))
    return [None if isinstance(name, str) and (name.rpartition("+")[0] or name) in REWARD_FOR_VERIFIER
            and (name.rpartition("+")[0] or name) != ours else gold for gold, name in zip(golds, names)]


def report(name: str, results: Sequence[Verdict], log_extra: Callable | None, log_metric: Callable | None) -> None:
    """Hand the verdicts to TRL's completions table and metrics, when TRL gave the callbacks."""
    try:
        if log_extra is not None:
            log_extra(f"{name}/answer", [v.answer for v in results])
            log_extra(f"{name}/reason", [v.reason for v in results])
        if log_metric is not None:
            # rows without a gold (another reward's, in a mixed math and code dataset) are counted apart, so that
            # `unjudged` stays the count of faults (workers, a judge, a verifier) a user watches for
            no_gold = sum(v.correct is None and v.detail == NO_GOLD for v in results)
            log_metric(f"{name}/unjudged", float(sum(v.correct is None for v in results) - no_gold))
            log_metric(f"{name}/no_gold", float(no_gold))
            log_metric(f"{name}/timeout", float(sum(v.reason == "timeout" for v in results)))
            if any(v.judge is not None for v in results):
                log_metric(f"{name}/flipped", float(sum(bool(v.judge and v.judge.flipped) for v in results)))
    except Exception:  # noqa: BLE001 - logging must not break a training step
        log.exception("evalkit: %s could not log its verdicts", name)


def async_twin(fn: Callable[..., list[float | None]]) -> Callable:
    """An `async` version of a reward for TRL's async path; it runs the reward in a thread, so the
    event loop keeps serving while answers are checked, and logs under the same name."""

    @functools.wraps(fn)
    async def twin(*args: Any, **kwargs: Any) -> list[float | None]:
        return await asyncio.to_thread(fn, *args, **kwargs)

    twin.__qualname__ = fn.__name__ + "_async"  # what pickle looks up: the module attribute
    return twin


math_reward_async = async_twin(math_reward)
choice_reward_async = async_twin(choice_reward)
code_reward_async = async_twin(code_reward)
math_judge_reward_async = async_twin(math_judge_reward)

# the reward function of evalkit.rewards that judges with each built-in verifier (what each passes to
# `_reward` above), for messages that tell a trainer which reward to give a task's options
REWARD_FOR_VERIFIER = {"math": math_reward.__name__, "choice": choice_reward.__name__, "code": code_reward.__name__}
