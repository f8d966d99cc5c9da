"""The math verifier: does a completion's final answer equal the gold answer?

Built on math-verify and sympy, with what reasoning models need around them:

- the answer is read after the last `</think>`; a truncated completion is `truncated`, and an
  answer only inside the think block does not count (unless `think_fallback=True`);
- the last `\\boxed{}` is the answer (`boxed="all"` gives math-verify's own reading instead), so
  "\\boxed{3} … correcting: \\boxed{5}" answers 5;
- gold answers are normalised (`#### 1,234`, `025`, `27.0`, `$69$,$84$`, bare `2\\sqrt{3}`);
- plain numbers are compared exactly in-process; everything else runs in a worker process
  (evalkit.verifiers.pool) with a hard wall-clock limit: a stuck check is killed and the verdict is
  `timeout` (not correct, score 0, never None);
- `verify_many` parses each gold once per worker and checks each distinct (answer, gold) once.

    >>> verify_math("<think>…</think> The answer is $\\boxed{\\dfrac{14}{3}}$", "4\\frac{2}{3}").correct
    True
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import Any, Literal, Sequence

from evalkit.errors import InputError
from evalkit.latex import spelling_key
from evalkit.thinking import THINK_CLOSE, THINK_OPEN, finish_reason_of, is_truncated, last_close, split_think
from evalkit.types import Verdict
from evalkit.verifiers import _mathtext as text
from evalkit.verifiers.base import LIMIT_OPTIONS, Capabilities, VerifyItem, register_verifier
from evalkit.verifiers.pool import Job, JobResult, get_pool

_CHECK = "evalkit.verifiers._mathcheck:check"
_POOL = "math"
_PRELOAD = ("evalkit.verifiers._mathcheck",)


@dataclass(frozen=True)
class MathOptions:
    """How the math verifier reads answers (task specs set these as `verifier_options`).

    timeout: wall-clock seconds one check may take in its worker before it is killed (`timeout`).
    deadline: seconds a whole `verify_many` batch may take; unchecked answers then get `timeout`.
    boxed: `last` — the last `\\boxed{}` of the final answer is the answer; `all` — hand the whole
        final answer to math-verify, which merges every box it finds (its own behaviour).
    think_fallback: when the final answer holds nothing, look for a box inside the think block.
    multiple_answer: the gold has several parts separated by top-level commas, every one needed
        (None: only a list gold or `$a$,$b$` is multi-part).
    require_box: a final answer without a `\\boxed{}` is `no_answer`, whatever it says ("The answer is 5", a
        last number): the format DeepSeek-R1's rewards and veRL's strict box check ask of a policy, so GRPO
        pays no answer a policy did not box; so is one whose last box a later statement takes back ("\\boxed{3}.
        Wait, actually the answer is 4"). An answer given alone (`answer_only`) is read whole, as a gold is.
    """

    timeout: float = 5.0
    deadline: float | None = None
    boxed: Literal["last", "all"] = "last"
    think_fallback: bool = False
    multiple_answer: bool | None = None
    require_box: bool = False

    def __post_init__(self) -> None:
        """ValueError naming the option whose value is not one it takes (a quoted "false" is a
        non-empty string, true to Python; `boxed: first` would read as `last`)."""
        _refuse_bad_seconds("timeout", self.timeout, may_be_none=False)
        _refuse_bad_seconds("deadline", self.deadline, may_be_none=True)
        if self.boxed not in ("last", "all"):
            raise ValueError(f"option 'boxed': expected last or all, got {self.boxed!r}")
        if not isinstance(self.think_fallback, bool):
            raise ValueError(f"option 'think_fallback': expected true or false (unquoted), got {self.think_fallback!r}")
        if not isinstance(self.require_box, bool):
            raise ValueError(f"option 'require_box': expected true or false (unquoted), got {self.require_box!r}")
        if self.multiple_answer is not None and not isinstance(self.multiple_answer, bool):
            raise ValueError(f"option 'multiple_answer': expected true, false or null (unquoted), "
                             f"got {self.multiple_answer!r}")


def _refuse_bad_seconds(option: str, value: Any, may_be_none: bool) -> None:
    """ValueError naming `option` (as the user spelt it) unless `value` is a number of seconds > 0."""
    if not (value is None and may_be_none) and (isinstance(value, bool) or not isinstance(value, (int, float))
                                                or not 0 < value < float("inf")):
        raise ValueError(f"option {option!r}: expected a number of seconds > 0, got {value!r}")


def _verdict(correct: bool | None, reason: str, answer: str | None, detail: str, ms: float) -> Verdict:
    return Verdict(correct=correct, score=1.0 if correct else 0.0, answer=answer, reason=reason,  # type: ignore[arg-type]
                   detail=detail, ms=ms)


def _as_item(x: Any) -> VerifyItem:
    if isinstance(x, VerifyItem):
        return x
    if isinstance(x, dict):  # `answer` is final answer text, read whole; `completion` a model's output
        if "completion" in x:
            return VerifyItem(x["completion"], x.get("gold"), x.get("finish_reason"), bool(x.get("think_open", False)),
                              think_format=x.get("think_format"))
        return VerifyItem(x.get("answer"), x.get("gold"), answer_only=True,
                          think_format=x.get("think_format"))
    completion, gold = x  # a (completion, gold) pair
    return VerifyItem(completion, gold)


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value if isinstance(value, str) else str(value)


def _final_answer(completion: str, item: VerifyItem) -> tuple[bool, str]:
    """(truncated?, final answer), as is_truncated and split_think decide them, without copying the
    think block when it is closed (the common case: the answer follows the last `</think>`)."""
    if item.think_format is None:
        close = last_close(completion)
        # a closed think block not opened again after: truncated only if the finish reason says so
        if close >= 0 and completion.find(THINK_OPEN, close) < 0:
            return finish_reason_of(item.finish_reason) == "length", completion[close + len(THINK_CLOSE):]
    return (is_truncated(completion, item.finish_reason, item.think_open, item.think_format),
            split_think(completion, item.think_open, item.think_format).answer)


_NOTHING_BOXED = object()  # the final answer has neither a box nor a "final answer is $X$"
_UNREAD = object()
# An answer longer than this and than twice its gold is wrong unread: no gold is that long, and reading
# megabytes of a box (splitting at commas, rewriting LaTeX) would take seconds of the caller's own time.
MAX_ANSWER_CHARS = 10_000


def _too_long(answer: str, gold: tuple[str, ...]) -> Verdict | None:
    most = max(MAX_ANSWER_CHARS, 2 * sum(map(len, gold)))
    if len(answer) <= most:
        return None
    return _verdict(False, "wrong", None, f"the answer is {len(answer):,} characters long; past {most:,} it is "
                    "not read (no gold answer is that long)", 0.0)


def _read_answer(answer: str, gold: tuple[str, ...], opts: MathOptions) -> Any:
    """What a final answer says, from its text alone: a Verdict, the (gold, answer parts, fallback
    text) to check, None (`boxed="all"` and empty), or _NOTHING_BOXED."""
    if opts.boxed == "all":
        return (gold, None, answer[-text.FALLBACK_CHARS:]) if answer.strip() else None
    boxes, end = text.answer_boxes(answer)
    # "The final answer is $X$" after the last box (or with no box at all) is the answer; so is a correction
    # after the last box ("Wait, actually the answer is 4").
    statement = (text.final_statement(answer, end, unboxed=not end)
                 or (text.corrected_statement(answer, end) if boxes else None))
    if statement and opts.require_box and boxes and not _restates(text.rewrite(statement), text.rewrite(boxes[-1])):
        # the box was taken back in words ("Wait, actually it is 4"); restated ("The final answer is $3$") it stands
        return _verdict(False, "no_answer", None, "the final answer after the last \\boxed{} is not boxed (require_box)",
                        0.0)
    if statement and not (boxes and _restates(text.rewrite(statement), text.rewrite(boxes[-1]))):
        boxes.append(statement)  # a restatement is not appended: a set or a list read twice was two answers
    if not boxes and end:  # every box ruled out ("the answer is not \\boxed{3}")
        return _verdict(False, "no_answer", None, "every \\boxed{} of the answer is ruled out by its text", 0.0)
    return _from_boxes(boxes, gold) if boxes else _NOTHING_BOXED


_NAMED = re.compile(r"^[A-Za-z]=(?!=)")  # `x=4` names the value 4


def _restates(said: str, box: str) -> bool:
    """Whether an unboxed final statement says what the box says, in another spelling (`$2 \\sqrt{3}$` for
    `\\boxed{2\\sqrt{3}}`, `\\frac{1}{2}` for `\\dfrac{1}{2}`, `1{,}000` for `1000`, `x = 4` or `4.0` for `4`), read from
    the text alone (no sympy here: this runs in the caller's process). A statement it cannot tell apart from a
    box taken back in words ("Wait, actually it is 4") is not a restatement."""
    said, box = (_NAMED.sub("", spelling_key(t)) for t in (said, box))
    if said == box:
        return True
    try:
        return float(said) == float(box)
    except ValueError:
        return False


def _from_boxes(boxes: list[str], gold: tuple[str, ...]) -> Verdict | tuple:
    long = _too_long(boxes[-1], gold)
    if long:
        return long
    parts = text.candidate_parts(boxes, gold)
    long = _too_long(", ".join(parts), gold)
    if long:  # the last k boxes, joined
        return long
    pred = tuple(text.without_choice_label(text.rewrite(p), gold) for p in parts)
    if not any(pred):
        return _verdict(False, "no_answer", None, "the last \\boxed{} is empty", 0.0)
    return (gold, pred, None)


def _prepare(item: VerifyItem, opts: MathOptions, golds: dict, answers: dict) -> Verdict | tuple | None:
    """A finished Verdict, or the (gold parts, answer parts | None, fallback text) to check.

    golds and answers memoise normalised golds (or the verdict on a gold that is no answer) and read answers across a
    batch (samples repeat them).
    """
    key = (repr(item.gold), opts.multiple_answer)
    if key not in golds:
        why = not_an_answer(item.gold)
        golds[key] = Verdict.infra_error(why) if why else text.normalize_gold(item.gold, opts.multiple_answer)
    gold = golds[key]
    if gold is None:
        return Verdict.infra_error("no gold answer to compare with")
    if isinstance(gold, Verdict):  # a gold that is no answer
        return gold
    if item.answer_only:
        return _read_whole(item.completion, gold)
    completion = _as_text(item.completion)
    if "\x00" in completion:  # a search is far cheaper than a replace that copies the whole text
        completion = completion.replace("\x00", "")
    truncated, answer = _final_answer(completion, item)
    if truncated:
        return _verdict(False, "truncated", None, "generation stopped before the final answer", 0.0)
    if opts.require_box and not text.find_boxes_at(answer) and not (
            opts.think_fallback and text.find_boxes_at(split_think(completion, item.think_open, item.think_format).think)):
        return _verdict(False, "no_answer", None, "no \\boxed{} in the final answer (require_box)", 0.0)
    read = answers.get((gold, answer), _UNREAD)
    if read is _UNREAD:
        read = answers[(gold, answer)] = _read_answer(answer, gold, opts)
    if read is not _NOTHING_BOXED:
        return read
    think = split_think(completion, item.think_open, item.think_format).think
    boxes = text.find_boxes(think) if opts.think_fallback else []
    if boxes:
        return _from_boxes(boxes, gold)
    if not answer.strip():
        where = "inside the think block only" if think.strip() else "empty completion"
        return _verdict(False, "no_answer", None, f"no final answer ({where})", 0.0)
    tail = text.fallback_text(answer)
    stated = text.stated_tuple(tail)
    if stated and stated[1]:  # `The answer is not (2, 3).`: math-verify alone read its 3
        return _verdict(False, "no_answer", None, f"the stated tuple {stated[0]!r} is denied, supposed or asked", 0.0)
    if stated:  # `The answer is (2, 3).`: read whole, as a box is (math-verify alone reads 3)
        return _from_boxes([stated[0]], gold)
    listed = text.listed_parts(tail)  # `答案是42，43。` lists as `The answer is 42, 43.` does
    if listed:  # several numbers are several parts, as in a bare answer: one of them alone is not the answer
        return (gold, listed if len(listed) == len(gold) else (", ".join(listed),), None)
    bare = text.bare_latex_answer(tail)
    if bare:  # `The answer is 2^{10}.`: read whole, as a box is (math-verify alone reads 2)
        return _from_boxes([bare], gold)
    qualified = text.qualified_number(tail)
    if qualified:  # `The answer is 5 thousand.`: math-verify alone reads 5
        return _verdict(False, "no_answer", None, f"the stated number is qualified ({qualified!r}): not read as it", 0.0)
    return (gold, None, tail)


# The keys of a row's answer wrapped once too often (`{"answer": "1"}`, veRL's `{"ground_truth": ...}`).
_WRAPPING_KEYS = frozenset({"answer", "answers", "ground_truth", "gold", "label", "labels", "solution", "target",
                            "final_answer", "style"})


def not_an_answer(gold: Any) -> str | None:
    """Why `gold` is no math answer, or None: an answer wrapped in an object (`{"answer": "1"}`, a veRL row's
    ground truth wrapped once too often), as such or as its JSON text, alone or in a list. Read as text it was
    compared with every answer and judged each one wrong: a reward of 0 for every sample, and nothing in the
    logs. Other braces are answers: `{}` (the empty set), `{1, 2}`, `{"x": 1}` (a system's solution)."""
    for value in gold if isinstance(gold, (list, tuple)) else (gold,):
        if isinstance(value, str) and value.lstrip().startswith("{"):
            try:
                value = json.loads(value)
            except (ValueError, RecursionError):
                continue  # `{1, 2}`, a set in LaTeX
        if isinstance(value, dict) and _WRAPPING_KEYS.intersection(str(k).lower() for k in value):
            return (f"gold {json.dumps(value, default=str)[:60]} is an answer wrapped in an object, not an answer "
                    "(text, a number or a list)")
    return None


def _read_whole(answer: Any, gold: tuple[str, ...]) -> Verdict | tuple:
    """A bare answer, read as a gold is read (`$…$`, a `\\boxed{}` around it, the clutter rows)."""
    if isinstance(answer, str) and (long := _too_long(answer, gold)):
        return long
    if isinstance(answer, str) and not text.balanced(answer):  # malformed: no part of it is the answer
        return _verdict(False, "no_answer", None, "the answer's braces do not balance", 0.0)
    parts = text.normalize_gold(answer.replace("\x00", "") if isinstance(answer, str) else answer)
    if not parts:
        return _verdict(False, "no_answer", None, "empty answer", 0.0)
    if len(parts) > 1:  # several boxes are several parts, as in a gold: the last one alone is not the answer
        pred = parts if len(parts) == len(gold) else (", ".join(parts),)
        return (gold, tuple(text.rewrite(p) for p in pred), None)
    return _from_boxes(list(parts), gold)


def _from_job(res: JobResult, pred: tuple[str, ...] | None, timeout: float) -> Verdict:
    shown = ", ".join(pred) if pred else None
    if res.status == "ok" and not (isinstance(res.value, dict) and {"equal", "answer"} <= set(res.value)):
        return Verdict.infra_error(f"math worker answered {type(res.value).__name__}", res.ms)
    if res.status == "ok":
        value = res.value
        if value["answer"] is None:
            return _verdict(False, "no_answer", None, "no answer found in the final answer", res.ms)
        if value["equal"]:
            return _verdict(True, "correct", value["answer"], "math-verify: equal", res.ms)
        return _verdict(False, "wrong", value["answer"], "math-verify: not equal", res.ms)
    if res.status in ("timeout", "crash", "raised"):
        # The model's text made the check hang, crash or blow up: its fault, never unjudged.
        return _verdict(False, "timeout", shown, f"check did not finish: {res.detail}", res.ms)
    return Verdict.infra_error(f"math verifier unavailable: {res.detail}", res.ms)


def verify_many(items: Sequence[VerifyItem | tuple[Any, Any] | dict], **options: Any) -> list[Verdict]:
    """Verify many (completion, gold) items; one Verdict per item, in input order. Never raises
    for bad input (an unknown option is a TypeError, a bad option value a ValueError).

    items: VerifyItem objects, `(completion, gold)` pairs, or dicts with `gold` and either
        `completion` (a model's output; optional `finish_reason`, `think_open`) or `answer` (final
        answer text, read whole).
    options: MathOptions fields (`timeout`, `deadline`, `boxed`, `think_fallback`, `require_box`,
        `multiple_answer`).

    Identical (gold, answer) checks run once; plain numbers are settled in-process; the rest run
    in the shared worker pool (cheapest first when there is a deadline).
    """
    opts = MathOptions(**options)
    t0 = time.perf_counter()
    verdicts: list[Verdict | None] = [None] * len(items)
    todo: dict[tuple, list[int]] = {}  # (gold, pred, fallback text) -> items waiting on it
    golds: dict = {}
    answers: dict = {}
    fast_seen: dict = {}  # (gold, answer parts) -> fast_compare's result
    # Under a deadline the answers are read shortest first: read in batch order, a collapsing policy's long loops
    # early in a GRPO batch took the deadline, and every short answer after them was `timeout` unread.
    order = range(len(items)) if opts.deadline is None else sorted(range(len(items)), key=lambda i: _size(items[i]))
    for i in order:
        raw = items[i]
        t = time.perf_counter()
        if opts.deadline is not None and t - t0 > opts.deadline:  # reading the answers took it all
            verdicts[i] = _verdict(False, "timeout", None, "not read: the batch deadline passed first", 0.0)
            continue
        try:
            prepared = _prepare(_as_item(raw), opts, golds, answers)
        except InputError as e:  # the caller's item (a think format that is no format's name): unjudged, as the
            # rewards leave it, never the model's 0
            prepared = Verdict.infra_error(f"unreadable item: {e}")
        except Exception as e:
            prepared = _verdict(False, "no_answer", None, f"unreadable item: {type(e).__name__}", 0.0)
        if prepared is None:
            prepared = _verdict(False, "no_answer", None, "empty final answer", 0.0)
        if isinstance(prepared, Verdict):
            verdicts[i] = _with_ms(prepared, t)
            continue
        gold, pred, fallback = prepared
        if pred is not None:
            fast = fast_seen.get((gold, pred), _UNREAD)
            if fast is _UNREAD:
                fast = fast_seen[(gold, pred)] = text.fast_compare(gold, pred)
            if fast is not None:
                same, how = fast
                verdicts[i] = _with_ms(_verdict(same, "correct" if same else "wrong", ", ".join(pred), how, 0.0), t)
                continue
        todo.setdefault((gold, pred, fallback), []).append(i)
    if todo:
        keys = list(todo)
        jobs = [Job(_CHECK, key, cost=sum(map(len, key[0])) + (sum(map(len, key[1])) if key[1] else len(key[2])),
                    key=key[0] + (key[1] or ())) for key in keys]
        deadline = None if opts.deadline is None else max(0.0, opts.deadline - (time.perf_counter() - t0))
        pool = get_pool(_POOL, preload=_PRELOAD)
        results = pool.run(jobs, timeout=opts.timeout, deadline=deadline)
        for key, res in zip(keys, results):
            verdict = _from_job(res, key[1], opts.timeout)
            for i in todo[key]:
                verdicts[i] = verdict
    return verdicts  # type: ignore[return-value]


def _size(raw: Any) -> int:
    """An item's text length (what reading its answer costs), 0 where it has none."""
    value = (raw.completion if isinstance(raw, VerifyItem) else raw[0] if isinstance(raw, tuple) and raw
             else (raw.get("completion") or raw.get("answer")) if isinstance(raw, dict) else None)
    return len(value) if isinstance(value, str) else 0


def _with_ms(v: Verdict, t: float) -> Verdict:
    return Verdict(v.correct, v.score, v.answer, v.reason, v.detail, (time.perf_counter() - t) * 1e3, v.tests)


def verify_math(completion: str | None, gold: Any, *, finish_reason: str | None = None,
                think_open: bool = False, timeout: float = 5.0, think_format: Any = None,
                **options: Any) -> Verdict:
    """Verify one completion against its gold answer; never raises for bad input.

    completion: the model's whole text, think block included (None counts as empty).
    gold: the gold answer: LaTeX text, a number, `#### N`, or a list of parts.
    finish_reason: the backend's finish reason (`length` means truncated); None when unknown.
    think_open: the prompt opened the think block, so the completion starts inside it.
    timeout: wall-clock seconds the check may take before its worker is killed (`timeout`).
    think_format: how the completion thinks (evalkit.thinking row or name; None is r1).
    options: the other MathOptions fields (`boxed`, `think_fallback`, `multiple_answer`, `require_box`).
    """
    item = VerifyItem(completion, gold, finish_reason, think_open, think_format=think_format)
    return verify_many([item], timeout=timeout, **options)[0]


def verify_answer(answer: Any, gold: Any, *, timeout: float = 5.0, **options: Any) -> Verdict:
    """Verify a final answer alone (not a model's whole output) against the gold; never raises.

    answer: the answer text (`x^2 + 2x + 1`, `\\tfrac83`, `$10`), or a number; read whole, as a gold
        is read: no think block, no extraction of a fragment.
    gold, timeout, options: as for verify_math.
    """
    return verify_many([VerifyItem(answer, gold, answer_only=True)], timeout=timeout, **options)[0]


def warm_up() -> None:
    """Start the math worker pool now rather than on the first check (e.g. before timing)."""
    get_pool(_POOL, preload=_PRELOAD).start()


class MathVerifier:
    """The `math` verifier for task specs: `get_verifier("math", **options).verify_many(items)`.

    options: MathOptions fields; `per_answer_s` / `batch_deadline_s` (evalkit's one spelling of the
    limits) are taken as `timeout` / `deadline`.
    """

    name = "math"
    capabilities = Capabilities(votes=True, limits=frozenset(LIMIT_OPTIONS), gold="last_boxed")

    def __init__(self, per_answer_s: float | None = None, batch_deadline_s: float | None = None, **options: Any):
        _refuse_bad_seconds("per_answer_s", per_answer_s, may_be_none=True)  # its error names it as written
        _refuse_bad_seconds("batch_deadline_s", batch_deadline_s, may_be_none=True)
        if per_answer_s is not None:
            options["timeout"] = per_answer_s
        if batch_deadline_s is not None:
            options["deadline"] = batch_deadline_s
        self.options = MathOptions(**options).__dict__
        self._same: dict[tuple[str, str], bool] = {}

    def verify_many(self, items: Sequence[VerifyItem]) -> list[Verdict]:
        return verify_many(items, **self.options)

    def equivalent(self, a: str, b: str) -> bool:
        """Whether answers `a` and `b` are the same value, so they vote together in maj@k
        (`\\frac12`, `0.5` and `1/2`): `a` read whole as an answer, checked against `b` as gold."""
        if (a, b) not in self._same:
            verdict = self.verify_many([VerifyItem(completion=a, gold=b, answer_only=True)])[0]
            self._same[(a, b)] = verdict.correct is True
        return self._same[(a, b)]

    @staticmethod
    def check_gold(gold: Any) -> None:
        """Raise ValueError when `gold` holds no answer at all (empty or white space: every answer would be
        judged against nothing)."""
        if gold is None or not str(gold).strip():
            raise ValueError("the gold answer is empty")
        why = not_an_answer(gold)
        if why:
            raise ValueError(why)

    def check(self, require_layers: Sequence[str] = ()) -> dict[str, Any]:
        """Start the worker pool now, so it is ready when the first answers come (no sandbox here)."""
        warm_up()
        return {}

    @staticmethod
    def warm_up() -> None:
        warm_up()


register_verifier("math", MathVerifier)
