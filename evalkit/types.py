"""The contracts between evalkit's parts (docs/contracts.md), as frozen dataclasses.

Dicts appear only at the edges (JSON lines, YAML, HTTP); inside, data crosses module boundaries as
these types. Every type here converts to and from plain JSON with `to_dict` / `from_dict`.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Literal

# Why a verdict came out the way it did. `error` is the only reason with `correct=None`.
REASONS = ("correct", "wrong", "no_answer", "truncated", "timeout", "error")
Reason = Literal["correct", "wrong", "no_answer", "truncated", "timeout", "error"]


@dataclass(frozen=True)
class JudgeRecord:
    """What a judge model said about one answer the rules did not accept (docs/contracts.md "Sample record").

    model: the judge model. rubric: the rubric's version. reply: its raw reply (None when it gave none).
    says: `correct` / `incorrect` as parsed, None when the reply did not parse or never came.
    form: the reply form that parsed (evalkit, compassverifier, xverify, ...).
    flipped: the judge turned the rule's verdict into correct. error: why there was no reply.
    cached: the reply came from the cache (the judge was not asked again).
    """

    model: str
    rubric: str
    reply: str | None
    says: str | None = None
    form: str | None = None
    flipped: bool = False
    error: str | None = None
    cached: bool = False

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "JudgeRecord":
        return cls(**{f.name: d.get(f.name, f.default) for f in dataclasses.fields(cls)})


@dataclass(frozen=True)
class TestResult:
    """One code test's outcome. passed: it passed. reason: `passed`, `timeout`, or what went wrong
    (`wrong value: ...`, `raised ZeroDivisionError: ...`)."""

    __test__ = False  # not a pytest test class, despite its name

    passed: bool
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "reason": self.reason}

    @classmethod
    def from_any(cls, value: "TestResult | dict[str, Any]") -> "TestResult":
        """A TestResult, or its dict (the JSON form, and what the sandbox reports)."""
        return value if isinstance(value, TestResult) else cls(bool(value["passed"]), str(value["reason"]))


@dataclass(frozen=True)
class Verdict:
    """What every verifier returns; verifiers never raise.

    correct: True / False, or None only for an infrastructure fault the model's text did not cause.
    score: 1/0 for math; the fraction of tests passed for code.
    answer: what was extracted from the completion (None when nothing was).
    reason: one of REASONS.
    detail: a human-readable line on how the verdict was reached.
    ms: wall-clock milliseconds spent verifying.
    tests: for code, one TestResult per test (`{"passed": bool, "reason": str}` in JSON); None otherwise.
    judge: what a judge model said, when one was consulted (a rule-then-judge cascade); else None.
    """

    correct: bool | None
    score: float
    answer: str | None
    reason: Reason
    detail: str = ""
    ms: float = 0.0
    tests: tuple[TestResult, ...] | None = None
    judge: JudgeRecord | None = None

    def to_dict(self) -> dict[str, Any]:
        # not dataclasses.asdict: its deep copy is a tenth of `evalkit verify --pairs`'s time
        out = {"correct": self.correct, "score": self.score, "answer": self.answer, "reason": self.reason,
               "detail": self.detail, "ms": self.ms,
               "tests": None if self.tests is None else [t.to_dict() for t in self.tests]}
        if self.judge is not None:  # only when a judge was consulted
            out["judge"] = self.judge.to_dict()
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Verdict":
        values = {f.name: d.get(f.name, f.default) for f in dataclasses.fields(cls)}
        if isinstance(values["judge"], dict):
            values["judge"] = JudgeRecord.from_dict(values["judge"])
        if values["tests"] is not None:
            values["tests"] = tuple(TestResult.from_any(t) for t in values["tests"])
        return cls(**values)

    @classmethod
    def infra_error(cls, detail: str, ms: float = 0.0) -> "Verdict":
        """An infrastructure fault: the model is not to blame, so the sample is unjudged."""
        return cls(correct=None, score=0.0, answer=None, reason="error", detail=detail, ms=ms)


@dataclass(frozen=True)
class TestCase:
    input: Any
    output: Any


@dataclass(frozen=True)
class CodeTests:
    """Tests for one code problem (docs/contracts.md "Code tests").

    style: `assert` (test code run against `entry_point`), `call` (call `entry_point` with each
    case's positional-argument list and compare with `output`), or `stdio` (feed `input` on stdin,
    compare stdout with `output`).
    setup: trusted helper code the tests need; runs only on the checker's side.
    prelude: trusted code run in the program's own namespace before the program (the imports a
        benchmark's harness gives every program, a prompt's helpers); never holds expected values.
    """

    style: Literal["assert", "call", "stdio"]
    entry_point: str | None = None
    setup: str | None = None
    code: str | None = None
    cases: tuple[TestCase, ...] | None = None
    prelude: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {
            "style": self.style,
            "entry_point": self.entry_point,
            "setup": self.setup,
            "code": self.code,
            "cases": None if self.cases is None else [{"input": c.input, "output": c.output} for c in self.cases],
        }
        if self.prelude is not None:  # absent rather than null: tests without one read as before
            out["prelude"] = self.prelude
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_any(cls, value: "CodeTests | dict | str") -> "CodeTests":
        """Accept a CodeTests, its dict, or its JSON text (the form dataset columns carry), or a list of one
        of those (a veRL file whose other rows list several accepted answers lists these tests too: a
        parquet column holds one type; `evalkit curate` of a run with code and such math tasks)."""
        if isinstance(value, CodeTests):
            return value
        if hasattr(value, "tolist") and not isinstance(value, str):  # numpy's array from parquet
            value = value.tolist()
        if isinstance(value, (list, tuple)) and len(value) == 1:
            value = value[0]
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except RecursionError:  # a ValueError, as every other text that is no test JSON
                raise ValueError("its JSON is nested too deeply to read") from None
        if not isinstance(value, dict):
            raise ValueError(f"code tests must be a JSON object, got {type(value).__name__}")
        style = value.get("style")
        if style not in ("assert", "call", "stdio"):
            raise ValueError(f"code tests: 'style' must be assert, call or stdio, got {style!r}")
        cases = value.get("cases")
        if cases is not None and not (isinstance(cases, (list, tuple)) and all(
                isinstance(c, dict) and "input" in c and "output" in c for c in cases)):
            raise ValueError("code tests: 'cases' must be a list of {\"input\": ..., \"output\": ...} objects")
        entry = value.get("entry_point")
        if style == "call" and not (isinstance(entry, str) and entry.strip()):  # else every program failed to load
            raise ValueError(f"code tests: call tests need an 'entry_point' (the function to call), got {entry!r}")
        return cls(
            style=style,
            entry_point=entry,
            setup=value.get("setup"),
            code=value.get("code"),
            cases=None if cases is None else tuple(TestCase(c["input"], c["output"]) for c in cases),
            prelude=value.get("prelude"),
        )

    def __post_init__(self) -> None:
        """ValueError for tests no program could pass, however built (from_any, or a task's filter): an entry point
        that names no function, source that is not text; a stdio case's expected output made text (_stdout_text)."""
        if isinstance(self.entry_point, str) and not self.entry_point.strip():  # a converter's `fn_name: ""`
            object.__setattr__(self, "entry_point", None)
        if self.style != "stdio" and self.entry_point is not None and not _dotted_name(self.entry_point):
            raise ValueError(f"code tests: 'entry_point' must name a function (`add`, `Solution.twoSum`), "
                             f"got {self.entry_point!r}")
        for key, source in (("setup", self.setup), ("code", self.code), ("prelude", self.prelude)):
            if source is not None and not isinstance(source, str):
                raise ValueError(f"code tests: {key!r} must be Python source text, got {type(source).__name__}")
        if self.style == "stdio" and self.cases is not None:
            object.__setattr__(self, "cases", tuple(TestCase(c.input, _stdout_text(c.output, i))
                                                    for i, c in enumerate(self.cases)))


def _dotted_name(value: Any) -> bool:
    """Whether `value` is a Python name, or names joined by dots (a method: `Solution.twoSum`)."""
    return isinstance(value, str) and all(part.isidentifier() for part in value.strip().split("."))


def _stdout_text(output: Any, i: int) -> str:
    """A stdio case's expected output as text: text as it is, a list of lines joined (APPS', TACO's and DeepCoder's
    rows list them), a number as it prints. Anything else is no output a program could print: ValueError."""
    if hasattr(output, "tolist") and not isinstance(output, str):  # numpy's, from a parquet column
        output = output.tolist()
    if isinstance(output, str):
        return output
    if isinstance(output, (list, tuple)) and all(isinstance(line, str) for line in output):
        return "\n".join(output)
    if isinstance(output, (int, float)) and not isinstance(output, bool) and abs(output) < float("inf"):
        return str(output)  # NaN and the infinities are no printed number
    raise ValueError(f"code tests: stdio case {i + 1}'s 'output' must be the text the program prints (or a list of its "
                     f"lines), got {type(output).__name__} {json.dumps(output, default=repr)[:60]}")


@dataclass(frozen=True)
class Problem:
    """One benchmark problem, resolved from a dataset row through a task's field map.

    id: the problem id (a string: the dataset's id column, else the row index).
    problem: the problem statement.
    answer: the gold answer (None for code tasks and where the dataset has none), or a tuple of
        accepted answers, any of which is right (a dataset's list: taskspec.gold_answer).
    tests: the code tests (None for math tasks).
    meta: breakdown fields such as level and subject.
    row: the original dataset row, for prompt templates.
    """

    id: str
    problem: str
    answer: str | tuple[str, ...] | None = None
    tests: CodeTests | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    row: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class Request:
    """One sample to generate: a rendered prompt and the sample's own seed.

    prompt: the prompt text after the chat template (and think prefill) were applied.
    messages: the chat messages, for backends that apply the template themselves (OpenAI chat).
    prefill: text the reply is forced to start with (e.g. "<think>\\n"); already in `prompt`.
    """

    task: str
    problem_id: str
    sample: int
    seed: int
    prompt: str
    messages: tuple[dict[str, str], ...] | None
    prefill: str
    temperature: float
    top_p: float
    max_tokens: int
    model: str | None = None  # set for replayed records, which may hold several models
    budget: int | None = None  # thinking tokens allowed (evalkit.budgets); None: an ordinary sample
    # the task's chat template options, for a backend whose server applies the template (OpenAI chat);
    # already applied to `prompt` by backends that render it themselves
    chat_template_kwargs: dict[str, Any] | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Completion:
    """What a backend returns for one Request. `text` includes the prefill, so it is self-contained."""

    text: str
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    model: str | None = None
    think_open: bool = False
    reasoning_tokens: int | None = None  # tokens of thinking, where known
    forced_waits: int | None = None  # waits forced into the thinking (evalkit.budgets)


# The keys of one samples.jsonl line, in order (docs/contracts.md "Sample record").
SAMPLE_KEYS = (
    "task", "problem_id", "sample", "seed", "model", "prompt", "completion", "think_open", "finish_reason",
    "prompt_tokens", "completion_tokens", "reasoning_tokens", "gold", "budget", "forced_waits",
    "correct", "score", "answer", "reason", "detail", "ms", "tests", "judge",
    "trace",
)  # fmt: skip


@dataclass(frozen=True)
class GenerationSettings:
    """How a task's samples are generated (a task spec's `generation`, with the run's overrides).

    n: samples per problem. temperature, top_p: sampling. max_tokens: new tokens per sample (the
    context window may cap it). seed: the run seed; each sample derives its own from it.
    """

    n: int = 1
    temperature: float = 0.6
    top_p: float = 0.95
    max_tokens: int = 32768
    seed: int = 0

    def given(self, **values: Any) -> "GenerationSettings":
        """These settings with the `values` that are not None put in (command-line overrides)."""
        return dataclasses.replace(self, **{k: v for k, v in values.items() if v is not None})

    def to_dict(self) -> dict[str, Any]:
        return {"n": self.n, "temperature": self.temperature, "top_p": self.top_p, "max_tokens": self.max_tokens,
                "seed": self.seed}


def last_user_message(messages: Any) -> str | None:
    """The last user message's text in chat `messages` (the problem as the model was asked it, options
    and all), or None when there is none."""
    users = [m.get("content") for m in messages or () if isinstance(m, dict) and m.get("role") == "user"]
    return users[-1] if users and isinstance(users[-1], str) else None
