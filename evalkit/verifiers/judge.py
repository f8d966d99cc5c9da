"""The rule-then-judge cascade: a judge model consulted only where the rules fail.

    verifier: math+judge            # a task spec; or `evalkit run ... --judge MODEL --judge-base-url URL`
    verifier_options:
      judge: {model: CompassVerifier-3B, base_url: http://127.0.0.1:8000/v1}

The wrapped verifier rules first. The judge (any OpenAI-compatible server) is asked only when the
rule says `wrong` or `no_answer` (`CONSULTED_ON`) — never for `truncated` or `timeout`, never about a
rule's `correct`, which it cannot overturn. It sees the problem, the gold and only the final answer
(after the thinking, its tail bounded, fenced by a tag it cannot close; see _judge_prompt) under the
shipped, versioned rubric, and must reply in one of a few fixed forms (evalkit's, CompassVerifier's,
xVerify's). Every verdict it was asked about carries a `JudgeRecord`: model, rubric version, raw reply,
whether it flipped the rule. Replies are cached by (model, rubric, problem, gold, answer) in the run
directory and the user cache, so nothing is asked twice.

The judge may turn a rule's `wrong` into `correct`, never into "not counted": a reply that does not
parse leaves the rule's verdict standing (counted as unparsed), and so, for evaluation, does a judge
that gives no reply (down, busy past its retries, too slow: counted as a fault, with `judge.error`).
Rewards may ask for a fault to be unjudged instead (`on_fault: error`, correct None): the model's
text did not cause it.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Literal, Sequence

from evalkit.errors import InputError
from evalkit.types import JudgeRecord, Verdict
from evalkit.verifiers._judge_cache import RUN_FILE, ReplyCache, cache_key, user_cache_dir
from evalkit.verifiers._judge_client import RETRIES, JudgeClient, Reply
from evalkit.verifiers._judge_prompt import (
    MAX_ANSWER_CHARS,
    bounded,
    build_messages,
    final_answer,
    load_rubric,
    parse_reply,
)
from evalkit.verifiers.base import (LONGEST_S, VERIFY_S, Capabilities, Verifier, VerifyItem, capabilities,
                                    register_verifier, verify_checked, verify_in_chunks, verify_wait)

# The limits a cascade takes from its caller (Capabilities.limits): it bounds its own batch, rules and judge.
JUDGE_LIMITS = frozenset({"batch_deadline_s", "per_answer_s"})
# The rule reasons the judge may be asked about. Not `truncated` (the model never finished) nor
# `timeout` (its answer was too costly to check); `correct` is final.
CONSULTED_ON = ("wrong", "no_answer")


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _whole(least: int) -> Callable[[Any], bool]:
    return lambda value: isinstance(value, int) and not isinstance(value, bool) and value >= least


def _seconds(value: Any) -> bool:  # at most a week: 1e12 passed, and every question then overflowed its clock
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value <= LONGEST_S


def _or_none(ok: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda value: value is None or ok(value)


# What each option must be, checked as the judge is built: a bad value is refused by name there, not
# found at every question (a timeout of "abc" faults them all) or silently read as another
# (`user_cache: 'false'` is a true string).
OPTION_RULES: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "model": ("the judge model's served name", _text),
    "base_url": ("its OpenAI-compatible URL", _text),
    "api_key": ("a string or null", _or_none(lambda v: isinstance(v, str))),
    "rubric": ("a rubric YAML path or null", _or_none(lambda v: _text(v) or isinstance(v, os.PathLike))),
    "max_answer_chars": ("a whole number of at least 1", _whole(1)),
    "max_tokens": ("a whole number of at least 1", _whole(1)),
    "timeout_s": ("seconds (a number above 0, at most a week)", _seconds),
    "concurrency": ("a whole number of at least 1", _whole(1)),
    "retries": ("a whole number of at least 0", _whole(0)),
    "deadline_s": ("seconds (a number above 0, at most a week) or null", _or_none(_seconds)),
    "on_unparsed": ("rule or error", lambda v: isinstance(v, str) and v in ("rule", "error")),
    "on_fault": ("rule or error", lambda v: isinstance(v, str) and v in ("rule", "error")),
    "user_cache": ("true or false", lambda v: isinstance(v, bool)),
    "max_flips": ("a whole number of at least 0 or null", _or_none(_whole(0))),
}
# `evalkit run`'s flags for the options it sets: a bad value may have come from either place
OPTION_FLAGS = {"model": "--judge", "base_url": "--judge-base-url", "max_flips": "--judge-max-flips",
                "retries": "--judge-retries"}


@dataclass(frozen=True)
class JudgeOptions:
    """How the judge is reached and what it is shown (task specs set these under `judge:`).

    model: the judge model's served name. base_url: its OpenAI-compatible API root (…/v1).
    api_key: bearer token (default $OPENAI_API_KEY). rubric: a rubric YAML path (default: shipped).
    max_answer_chars: how much of the final answer's tail the judge sees.
    max_tokens: the longest reply. timeout_s: the longest one request may take.
    concurrency: questions in flight at once. retries: how many times a question a busy or unreachable
        server refused is asked again (after 0.5, 1, 2 s..., jittered).
    deadline_s: seconds a whole `verify_many` may take (rules and judge together); questions unanswered
        then are faults. None: no deadline.
    on_unparsed: `rule` — an unparsed reply leaves the rule's verdict standing (the default: a wrong
        answer that derails the judge keeps its 0); `error` — it makes the verdict an infrastructure fault.
    on_fault: `rule` — no reply (server down, busy past the retries, too slow) leaves the rule's verdict
        standing, with `judge.error` (evaluation: a dead judge never takes wrong answers out of n);
        `error` — it makes the verdict an infrastructure fault (rewards: unjudged, which TRL masks).
    user_cache: also keep replies in the user cache directory (see _judge_cache.user_cache_dir).
    max_flips: when set, `attach` runs the doctor's attack suite first and refuses a judge that more
        than this many attacks flipped.
    """

    model: str
    base_url: str
    api_key: str | None = None
    rubric: str | None = None
    max_answer_chars: int = MAX_ANSWER_CHARS
    max_tokens: int = 1024
    timeout_s: float = 60.0
    concurrency: int = 8
    retries: int = RETRIES
    deadline_s: float | None = None
    on_unparsed: Literal["rule", "error"] = "rule"
    on_fault: Literal["rule", "error"] = "rule"
    user_cache: bool = True
    max_flips: int | None = None

    def __post_init__(self) -> None:
        for name, (expected, ok) in OPTION_RULES.items():
            value = getattr(self, name)
            if not ok(value):
                flag = f" ({OPTION_FLAGS[name]})" if name in OPTION_FLAGS else ""
                raise ValueError(f"judge option {name}{flag}: expected {expected}, got {value!r}")


class JudgeCascade:
    """A Verifier that wraps another: the inner verifier's verdict, with a judge where it failed.

    inner: the rule verifier (math, choice, or any plugin whose gold is text).
    options: JudgeOptions.
    """

    def __init__(self, inner: Verifier, options: JudgeOptions, per_answer_s: float | None = None):
        for name in ("on_unparsed", "on_fault"):
            if getattr(options, name) not in ("rule", "error"):
                raise ValueError(f"judge option {name}: expected rule or error, got {getattr(options, name)!r}")
        self.inner = inner
        self.options = options
        # how long past the deadline a chunk of rules that bound no batch themselves may run (a reward's per_answer_s)
        self.per_answer_s = VERIFY_S[1] if per_answer_s is None else per_answer_s
        self.name = f"{getattr(inner, 'name', 'rules')}+judge"
        self.rubric = load_rubric(options.rubric)
        self.client = JudgeClient(options.base_url, options.model, options.api_key, options.timeout_s,
                                  options.max_tokens, options.concurrency, options.retries)
        own = cache_key(options.model, self.rubric.key, "", "", "")[:16]  # one file per judge and rubric
        self._user_file = user_cache_dir() / "judge" / f"{own}.jsonl" if options.user_cache else None
        self.cache = ReplyCache([p for p in (self._user_file,) if p])
        self._run_dir: Path | None = None
        self._doctor: Any = None  # the attack suite's result, written to the run directory once it exists

    # What the cascade declares is what its rules declare: its answers vote (and are compared) as
    # theirs do, and the trace analyzer checks candidate answers with the rules alone (`rules`), so
    # a trace's intermediate answers never cost a question to the judge. It bounds its own batch
    # (`batch_deadline_s`): a caller's deadline over rules and judge together cut rule-correct answers
    # with the judge's questions (choice+judge under a judge that asked to retry after 100 s).
    @property
    def capabilities(self) -> Capabilities:
        inner = capabilities(self.inner)
        return replace(inner, limits=inner.limits | JUDGE_LIMITS)

    @property
    def rules(self) -> Verifier:
        return self.inner

    def equivalent(self, a: str, b: str) -> bool:
        same = getattr(self.inner, "equivalent", None)
        return same(a, b) if same is not None else " ".join(a.split()) == " ".join(b.split())

    def check_gold(self, gold: Any) -> None:
        check = getattr(self.inner, "check_gold", None)
        if check is not None:
            check(gold)

    def warm_up(self) -> None:
        start = getattr(self.inner, "warm_up", None)
        if start is not None:
            start()

    # The run calls this once it knows its directory, before generating anything.
    def attach(self, run_dir: str | Path) -> None:
        """Keep replies in `run_dir` as well; check the judge answers (and, with max_flips, that it
        withstands the attack suite). Raises InputError when the judge is unfit, so a run refuses it
        before it starts."""
        self._run_dir = Path(run_dir)
        self.cache = ReplyCache([self._run_dir / RUN_FILE] + ([self._user_file] if self._user_file else []))
        problem = self.client.check()
        if problem:
            raise InputError(f"the judge {self.options.model}: {problem}")  # named by --judge or a task spec
        if self.options.max_flips is not None:
            from evalkit.verifiers._judge_attacks import run_attacks

            result = run_attacks(self.client, self.rubric, self.options.max_answer_chars)
            why = result.problems()  # a judge that answers nothing, or rejects right answers, is no judge
            if result.flips > self.options.max_flips:
                why.insert(0, f"{result.flips} of {result.attacks} attacks flipped the judge "
                              f"({', '.join(result.flipped_names())}); --judge-max-flips allows {self.options.max_flips}")
            if why:
                raise InputError(f"the judge {self.options.model}: {'; '.join(why)} (see `evalkit judge doctor`)")
            self._doctor = result

    def verify_many(self, items: Sequence[VerifyItem]) -> list[Verdict]:
        t0 = time.monotonic()
        if self._doctor is not None and self._run_dir is not None and self._run_dir.is_dir():
            # the suite the judge passed, kept with the verdicts it then made
            (self._run_dir / "judge_doctor.json").write_text(json.dumps(self._doctor.to_dict(), indent=1))
            self._doctor = None
        deadline = None if self.options.deadline_s is None else t0 + self.options.deadline_s
        # rules that bound no batch themselves (choice, a plugin) are waited for as a run waits for them, or under a
        # deadline in chunks, as a reward checks them: those not started by then score 0 (`timeout`), never hung
        wait = verify_wait(self.inner, len(items))
        if wait is not None and deadline is not None:
            rule = verify_in_chunks(self.inner, items, deadline, self.per_answer_s)
        else:
            rule = verify_checked(self.inner, items, wait)
        asked = [i for i, (item, v) in enumerate(zip(items, rule)) if _judgeable(item, v)]
        if not asked:
            return rule
        finals = {i: final_answer(items[i].completion, items[i].think_open, items[i].think_format) for i in asked}
        asked = [i for i in asked if finals[i]]  # nothing after the thinking: nothing to judge
        rulings = self.judge_answers([(items[i].problem or "", str(items[i].gold), finals[i]) for i in asked], deadline)
        for i, (reply, cached) in zip(asked, rulings):
            rule[i] = self._combine(rule[i], reply, cached, finals[i], str(items[i].gold))
        return rule

    def judge_answers(self, questions: Sequence[tuple[str, str, str]],
                      deadline: float | None = None) -> list[tuple[Reply, bool]]:
        """The judge's Reply to each (problem, gold, final answer), from the cache where it can be,
        and whether it came from the cache. Identical questions are asked once."""
        keys = [self._key(*q) for q in questions]
        out: dict[str, tuple[Reply, bool]] = {}
        todo: dict[str, tuple[str, str, str]] = {}
        for key, q in zip(keys, questions):
            if key in out or key in todo:
                continue
            hit = self.cache.get(key)
            if hit is not None:
                out[key] = (Reply(hit), True)
            else:
                todo[key] = q
        if todo:
            conversations = [build_messages(self.rubric, p, g, a, self.options.max_answer_chars) for p, g, a in todo.values()]
            for key, reply in zip(todo, self.client.ask_many(conversations, deadline)):
                out[key] = (reply, False)
                # a reply in no known form is not kept: a server with a broken chat template, once fixed, is
                # asked again by the next run (the cache held its prose for good, for every run after it)
                if (reply.error is None and reply.text is not None and reply.cut is None
                        and parse_reply(reply.text, todo[key][1]).says is not None):
                    self.cache.put(key, reply.text, model=self.options.model, rubric=self.rubric.version)
            self._ask_shorter(todo, out, deadline)
        return [out[k] for k in keys]

    def _ask_shorter(self, todo: dict[str, tuple[str, str, str]], out: dict[str, tuple[Reply, bool]],
                     deadline: float | None) -> None:
        """Ask again, with the answer's tail cut to a quarter, the questions the server refused as too long
        for the judge's context. The answer is capped in characters, not tokens, so its length may be what
        did not fit: the judge's reply to the shorter one stands (never cached). Refused again, an answer
        that was cut is still the answer's doing (unparsed: the rule's verdict stands); one that was not is
        the judge's setup (its context, its max_tokens): no reply."""
        again = [k for k in todo if out[k][0].too_long]
        if not again:
            return
        shorter = max(1, self.options.max_answer_chars // 4)
        conversations = [build_messages(self.rubric, *todo[k][:2], todo[k][2], shorter) for k in again]
        for key, reply in zip(again, self.client.ask_many(conversations, deadline)):
            first = out[key][0]
            tail = f"the answer's last {shorter} characters"
            if reply.too_long and len(todo[key][2]) > shorter:
                reply = Reply(None, None, reply.ms, f"too long for the judge's context even with {tail}")
            elif reply.error is not None:
                reply = replace(reply, error=f"{first.error}; asked again with {tail}: {reply.error}")
            else:
                note = f"judged on {tail}, to fit the judge's context"
                reply = replace(reply, cut="; ".join(filter(None, (reply.cut, note))))
            out[key] = (replace(reply, ms=first.ms + reply.ms), False)

    def _key(self, problem: str, gold: str, answer: str) -> str:
        # the answer as the judge is shown it: a longer answer with the same tail asks nothing new
        shown = bounded(answer, self.options.max_answer_chars, "tail")
        return cache_key(self.options.model, self.rubric.key, problem, gold, shown)

    def _combine(self, rule: Verdict, reply: Reply, cached: bool, final: str, gold: str) -> Verdict:
        record = JudgeRecord(model=self.options.model, rubric=self.rubric.version, reply=reply.text,
                             error=reply.error, cached=cached)
        ms = rule.ms + reply.ms
        if reply.error is not None:
            if self.options.on_fault == "error":
                return replace(Verdict.infra_error(f"judge {self.options.model} gave no reply: {reply.error}", ms=ms),
                               answer=rule.answer, judge=record)
            return replace(rule, ms=ms, judge=record,
                           detail=f"{rule.detail}; judge gave no reply ({reply.error}), the rule's verdict stands")
        parsed = parse_reply(reply.text, gold)
        record = replace(record, says=parsed.says, form=parsed.form)
        why = f" ({reply.cut})" if reply.cut else ""  # a reply cut at max_tokens, or to the answer's tail
        if parsed.says is None:
            if self.options.on_unparsed == "error":
                return replace(Verdict.infra_error(f"judge {self.options.model}: reply did not parse", ms=ms),
                               answer=rule.answer, judge=record)
            return replace(rule, ms=ms, judge=record,
                           detail=f"{rule.detail}; judge reply did not parse{why}, the rule's verdict stands")
        if parsed.says == "incorrect":
            return replace(rule, ms=ms, judge=record, detail=f"{rule.detail}; judge agrees ({parsed.form}){why}")
        answer = rule.answer if rule.answer is not None else final[-200:]
        return Verdict(correct=True, score=1.0, answer=answer, reason="correct",
                       detail=f"judge {self.options.model} ({parsed.form}) ruled correct{why}; rules said "
                              f"{rule.reason}: {rule.detail}",
                       ms=ms, judge=replace(record, flipped=True))

    def close(self) -> None:
        self.client.close()


def _judgeable(item: VerifyItem, verdict: Verdict) -> bool:
    # Only a text gold can be compared by a reader; code tests and faults are left as they are.
    return (verdict.reason in CONSULTED_ON and verdict.tests is None
            and isinstance(item.gold, (str, int, float)) and not isinstance(item.gold, bool))


def make_judge(inner: Verifier | None = None, batch_deadline_s: float | None = None, per_answer_s: float | None = None,
               **options: Any) -> JudgeCascade:
    """Factory for the registry: `judge` wraps `inner` (given by `math+judge` and the like). batch_deadline_s: a
    caller's deadline (a reward's, a task's) for the whole batch, rules and judge; the earlier of it and `deadline_s`
    (held to a week, as no limit). per_answer_s: how long a chunk of rules that bound no batch themselves may run
    past it."""
    if inner is None:
        raise ValueError("the judge wraps a rule verifier: name it as e.g. math+judge")
    for name, value in (("batch_deadline_s", batch_deadline_s), ("per_answer_s", per_answer_s)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0):
            raise ValueError(f"{name}: expected seconds (a number above 0), got {value!r}")
    if batch_deadline_s is not None:
        batch_deadline_s = min(batch_deadline_s, LONGEST_S)
        given = options.get("deadline_s")  # a bad one is refused by JudgeOptions, by name
        options["deadline_s"] = batch_deadline_s if given is None else min(given, batch_deadline_s) \
            if _seconds(given) else given
    missing = [k for k in ("model", "base_url") if not options.get(k)]
    if missing:
        raise ValueError(f"the judge needs {' and '.join(missing)} (evalkit run's --judge MODEL --judge-base-url URL, "
                         "a task spec's verifier_options: {judge: {model: ..., base_url: ...}}, or in Python "
                         "judge={'model': ..., 'base_url': ...})")
    known = set(JudgeOptions.__dataclass_fields__)
    unknown = sorted(set(options) - known)
    if unknown:
        raise ValueError(f"unknown judge option(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    return JudgeCascade(inner, JudgeOptions(**options), None if per_answer_s is None else min(per_answer_s, LONGEST_S))


def judge_doctor(model: str, base_url: str, api_key: str | None = None, rubric: str | None = None,
                 max_answer_chars: int = MAX_ANSWER_CHARS, max_tokens: int = 1024, retries: int | None = None,
                 echo=print):
    """What `evalkit judge doctor` prints: the attack suite against the judge, one row per attack.

    max_tokens: the longest reply (a reasoning judge needs room to think). retries: how many times a
    question the server refused as busy or could not take is asked again (None: RETRIES, as a run's).
    Returns the DoctorResult (its `flips` counts the attacks that flipped the judge; its `problems()`
    say what else makes it unfit: no reply, a reply that does not parse, a right answer rejected);
    raises InputError when the server cannot be reached or does not serve `model`.
    """
    from evalkit.verifiers._judge_attacks import print_table, run_attacks

    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise InputError(f"--max-tokens: expected a whole number of at least 1, got {max_tokens!r}")
    if retries is None:
        retries = RETRIES
    elif not _whole(0)(retries):
        raise InputError(f"--judge-retries: expected a whole number of at least 0, got {retries!r}")
    client = JudgeClient(base_url, model, api_key, max_tokens=max_tokens, retries=retries)
    try:
        problem = client.check()
        if problem:
            raise InputError(problem)
        loaded = load_rubric(rubric)
        echo(f"judge {model} at {base_url}, rubric {loaded.version}:")
        result = run_attacks(client, loaded, max_answer_chars)
    finally:
        client.close()
    print_table(result, echo)
    return result


make_judge.capabilities = Capabilities(limits=JUDGE_LIMITS)  # type: ignore[attr-defined]
register_verifier("judge", make_judge)
