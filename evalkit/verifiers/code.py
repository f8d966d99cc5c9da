"""The `code` verifier: extract the program from a completion and run it against its tests in the sandbox.

    verifier = get_verifier("code", timeout_s=6)
    verdicts = verifier.verify_many([VerifyItem(completion, tests_json)])

The program is the last fenced python block of the final answer (after `</think>`) that holds code (for
tests that call a function, the last one that defines it, where one does; fences as CommonMark reads
them: 3 or more backticks or tildes, a list item's indentation removed); an
item that is final answer text alone (`answer_only`: `evalkit verify`'s PRED, a pairs line's `answer`) is
read whole: its last python block, else the whole text. `score` is the fraction of tests passed and
`correct` means all passed. Everything that runs the program is in
evalkit.sandbox. The converters from HumanEval, MBPP and LiveCodeBench rows to code-test
JSON are on the task side, in evalkit.codetests (re-exported here for old imports).
"""

from __future__ import annotations

import re
import time
import warnings
from typing import Any, Sequence

from evalkit.codetests import humaneval_tests, livecodebench_tests, mbpp_tests  # noqa: F401 - old imports
from evalkit.errors import InputError
from evalkit.thinking import is_truncated, split_think
from evalkit.types import CodeTests, TestResult, Verdict
from evalkit.sandbox import SandboxConfig, get_sandbox, sandbox_layers
from evalkit.sandbox._pool import OptionError, check_number
from evalkit.verifiers.base import LIMIT_OPTIONS, Capabilities, VerifyItem, register_verifier

# Fenced blocks, in preference order: a block tagged with one of these languages, then an untagged one.
# How an unjudged verdict's detail starts when the tests, not the program or the sandbox, are at fault (they cannot
# be read, hold no test, never call the program): `evalkit verify` refuses such tests as bad input, exit 2.
BAD_TESTS = "bad code tests: "


def bad_tests(verdict: Verdict) -> str | None:
    """Why the tests themselves could not judge, where an unjudged verdict says so; else None."""
    return verdict.detail[len(BAD_TESTS):] if verdict.correct is None and verdict.detail.startswith(BAD_TESTS) else None
PYTHON_TAGS = ("python", "python3", "py")
# CommonMark's fences: 3 or more backticks or tildes, closed by a line that starts with at least as many of the
# same character (so a ```python line inside a ````python block is content); a fence never closed runs to the end
# of the text. Unlike CommonMark, text after a closing fence is allowed ("```</answer>" ends a block), and so is any
# indentation before it (models indent a closing fence carelessly; a docstring's own indented ``` ends the block).
_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>(?P<char>[`~])(?P=char){2,})(?!(?P=char))[ \t]*"
                    r"(?P<tag>[\w+#.-]*)[^\n]*(?:\n|\Z)(?P<body>.*?)(?:(?P<close>^[ \t]*(?P=fence))|\Z)",
                    re.MULTILINE | re.DOTALL)


def _fenced_blocks(text: str) -> list[tuple[str, str]]:
    """(tag, content) of each fenced block; as in CommonMark, up to the opening fence's indentation (a
    fence inside a list item) is removed from each content line. A block never closed counts only where
    no closed block holds code (a fragment after the solution, "```python\n# TODO", does not replace it)."""
    blocks, unclosed = [], []
    for m in _FENCE.finditer(text):
        body = m.group("body")
        if m.group("indent"):
            body = re.sub(rf"^[ \t]{{0,{len(m.group('indent'))}}}", "", body, flags=re.MULTILINE)
        (blocks if m.group("close") is not None else unclosed).append((m.group("tag").lower(), body))
    return blocks if any(body.strip() for _, body in blocks) else blocks + unclosed


def _last_with_code(bodies: list[str], defines: str | None = None) -> str:
    """The last block that holds code (an empty block after the solution does not replace it); with
    `defines`, the last one that defines that name, where one does (a usage example or the model's own
    asserts after the solution do not replace it)."""
    with_code = [body for body in bodies if body.strip()] or bodies
    if defines:
        own = re.compile(rf"^[ \t]*(?:(?:async[ \t]+)?def|class)[ \t]+{re.escape(defines)}\b|^{re.escape(defines)}[ \t]*=",
                         re.MULTILINE)
        defining = [body for body in with_code if own.search(body)]
        if defining:
            return defining[-1]
    return with_code[-1]


def extract_code(completion: str | None, think_open: bool = False, source: str = "answer",
                 languages: Sequence[str] = PYTHON_TAGS, untagged: bool = True, think_format: Any = None,
                 defines: str | None = None) -> str | None:
    """The last fenced code block of the completion's final answer, or None.

    source: `answer` (after the last `</think>`, docs/contracts.md's final answer) or `completion` (all text).
    languages: fence tags that count as python; the last such block that holds code wins (an empty
    block after the solution does not replace it).
    untagged: when no tagged block exists, take the last block without a tag (the same way).
    think_format: how the completion thinks (evalkit.thinking row or name; None is r1).
    defines: the function the tests call (their entry point): the last block that defines it wins over
    blocks after it that do not (an example of its use, the model's own asserts).
    """
    text = completion or ""
    if source == "answer":
        text = split_think(text, think_open, think_format).answer
    blocks = _fenced_blocks(text)
    tagged = [body for tag, body in blocks if tag in languages]
    if tagged:
        return _last_with_code(tagged, defines)
    plain_blocks = [body for tag, body in blocks if not tag]
    if untagged and plain_blocks:
        return _last_with_code(plain_blocks, defines)
    return None


class CodeVerifier:
    """Runs extracted programs in the sandbox. Options (a task spec's `verifier_options`):

    source: `answer` (default) or `completion`: where to look for the code block.
    languages: fence tags taken as python. untagged: fall back to an untagged block.
    workers, timeout_s, memory_mb, file_mb, tmpfs_mb, rel_tol, abs_tol: see SandboxConfig.
    layers: optional sandbox layers to use; require_layers: layers that must be in force
    (each a list or a comma-separated string).
    A bad option raises OptionError (an InputError; a ValueError, so a task spec's loader names its file).
    deadline_s: a batch deadline; a program not yet run when it passes scores 0 with reason
    `timeout`. `per_answer_s` / `batch_deadline_s` (evalkit's one spelling of the limits, what the
    rewards pass) are taken as timeout_s (per test) / deadline_s.
    """

    name = "code"
    # a program is not a value: programs do not vote in maj@k; the gold is the code-test JSON itself
    capabilities = Capabilities(votes=False, limits=frozenset(LIMIT_OPTIONS), gold="as_is")

    def __init__(self, source: str = "answer", languages: Sequence[str] = PYTHON_TAGS, untagged: bool = True,
                 workers: int = 2, timeout_s: float = 6.0, memory_mb: int = 1024, file_mb: int = 16,
                 tmpfs_mb: int = 64, rel_tol: float = 1e-6, abs_tol: float = 1e-6,
                 layers: Sequence[str] | None = None, require_layers: Sequence[str] | str = (),
                 deadline_s: float | None = None, per_answer_s: float | None = None,
                 batch_deadline_s: float | None = None):
        check_number("timeout_s", timeout_s)  # checked though per_answer_s replaces it: a bad option is said
        if per_answer_s is not None:
            timeout_s = check_number("per_answer_s", per_answer_s)
        deadline_s = batch_deadline_s if batch_deadline_s is not None else deadline_s
        if deadline_s is not None:
            check_number("batch_deadline_s" if batch_deadline_s is not None else "deadline_s", deadline_s)
        self.deadline_s = deadline_s
        if source not in ("answer", "completion"):
            raise OptionError(f"source: expected 'answer' or 'completion', got {source!r}")
        if isinstance(languages, str):
            languages = [x.strip() for x in languages.split(",") if x.strip()]
        if not isinstance(languages, (list, tuple)) or not all(isinstance(x, str) for x in languages):
            raise OptionError(f"languages: expected fence tags (a list, or a comma-separated string), "
                              f"got {languages!r}")
        if not isinstance(untagged, bool):
            raise OptionError(f"untagged: expected true or false, got {untagged!r}")
        self.source, self.languages, self.untagged = source, tuple(x.lower() for x in languages), untagged
        kwargs: dict[str, Any] = dict(workers=workers, timeout_s=timeout_s, memory_mb=memory_mb, file_mb=file_mb,
                                      tmpfs_mb=tmpfs_mb, rel_tol=rel_tol, abs_tol=abs_tol,
                                      require_layers=require_layers)
        if layers is not None:
            kwargs["layers"] = layers
        self.config = SandboxConfig(**kwargs)  # checks the numbers and the layer names

    def layers(self) -> dict[str, Any]:
        """The sandbox layers in force (raises InputError when a required one is missing)."""
        return get_sandbox(self.config).layers()

    def check(self, require_layers: Sequence[str] = ()) -> dict[str, Any]:
        """Start the sandbox and check its layers before anything is generated.

        require_layers: layers that must be in force besides the verifier's own `require_layers`.
        Returns {"sandbox_layers": {"in_force": [...], "missing": {layer: why}, ...}}; raises
        InputError (one line, naming the layer and why it is missing) when a required one is not.
        """
        wanted = tuple(dict.fromkeys(tuple(self.config.require_layers) + tuple(require_layers)))
        return {"sandbox_layers": dict(sandbox_layers(require=wanted, config=self.config))}

    @staticmethod
    def check_gold(gold: Any) -> None:
        """Raise ValueError saying why `gold` is not code tests (a run's verdict is `error` then)."""
        try:
            tests = CodeTests.from_any(gold)
        except (ValueError, KeyError, TypeError) as e:
            why = str(e)
            raise ValueError(why if why.startswith("code tests") else f"code tests: {why}") from None
        if tests.style != "assert" and not tests.cases:  # what the sandbox refuses to run
            raise ValueError(f"code tests: the {tests.style} tests hold no cases")
        if tests.style == "assert" and not (isinstance(tests.code, str) and tests.code.strip()):
            raise ValueError("code tests: the assert tests hold no test code ('code')")
        for key, source in (("code", tests.code), ("setup", tests.setup), ("prelude", tests.prelude)):
            if source:  # else every program's verdict is `error`, found only once the run has made them all
                try:
                    with warnings.catch_warnings():  # `'\w'` in test code: a warning, and the sandbox runs it
                        warnings.simplefilter("ignore")
                        compile(source, f"<{key}>", "exec", dont_inherit=True)
                except SyntaxError as e:
                    raise ValueError(f"code tests: the {key!r} source does not compile: line {e.lineno}: {e.msg}") from None
                except (ValueError, RecursionError, MemoryError) as e:  # a NUL byte; nesting too deep to parse
                    raise ValueError(f"code tests: the {key!r} source does not compile: {type(e).__name__}") from None

    def _program(self, item: VerifyItem, defines: str | None) -> str | None:
        """The program an item's answer holds (its last python block, the one that defines `defines` first), or
        None. A final answer given alone (answer_only) is read whole: no think block, no token limit."""
        if item.answer_only:
            text = item.completion or ""
            code = extract_code(text, source="completion", languages=self.languages, untagged=self.untagged,
                                defines=defines)
            return text if code is None else code
        return extract_code(item.completion, item.think_open, self.source, self.languages, self.untagged,
                            item.think_format, defines)

    def verify_many(self, items: Sequence[VerifyItem]) -> list[Verdict]:
        verdicts: list[Verdict | None] = [None] * len(items)
        jobs: list[tuple[int, str, CodeTests, str]] = []
        for i, item in enumerate(items):
            start = time.monotonic()
            try:
                tests = CodeTests.from_any(item.gold)
            except (ValueError, KeyError, TypeError) as e:
                why = str(e)
                verdicts[i] = Verdict.infra_error(BAD_TESTS + (why[len("code tests: "):] if why.startswith("code tests: ")
                                                               else why))
                continue
            defines = tests.entry_point if tests.style in ("assert", "call") else None
            try:
                code = self._program(item, defines)
            except Exception as e:  # noqa: BLE001 - one row's failure is its own verdict, not the batch's
                verdicts[i] = Verdict.infra_error(f"reading the program failed: {type(e).__name__}: {e}"[:300])
                continue
            if not item.answer_only and is_truncated(item.completion or "", item.finish_reason, item.think_open,
                                                     item.think_format):
                verdicts[i] = Verdict(False, 0.0, code, "truncated", "generation stopped at the token limit",
                                      (time.monotonic() - start) * 1000)
            elif code is None or not code.strip():
                verdicts[i] = Verdict(False, 0.0, None, "no_answer", "no fenced python code block in the answer",
                                      (time.monotonic() - start) * 1000)
            else:
                jobs.append((i, code, tests, code))
        if jobs:
            try:
                box = get_sandbox(self.config)
                if self.config.require_layers:
                    box.layers()
                end = None if self.deadline_s is None else time.monotonic() + float(self.deadline_s)
                if end is not None:  # cheapest first, by the one measure known before running: the shortest program
                    jobs.sort(key=lambda job: len(job[1]))
                results = box.run_many([(program, tests) for _, program, tests, _ in jobs], deadline=end)
            except InputError:  # a required layer is missing: a configuration error, said once
                raise
            except Exception as e:  # the sandbox cannot run at all: every run is unjudged
                results = None
                for i, _, _, _ in jobs:
                    verdicts[i] = Verdict.infra_error(f"sandbox unavailable: {e}")
            if results is not None:
                for (i, _, _, code), result in zip(jobs, results):
                    verdicts[i] = _verdict(code, result)
        return [v for v in verdicts if v is not None]


def _verdict(code: str, result) -> Verdict:
    if result is None:
        return Verdict(False, 0.0, code, "timeout", "not run: the batch deadline passed first")
    if result.error:
        return Verdict.infra_error(f"{BAD_TESTS}{result.error}" if result.tests_fault else result.error, result.ms)
    total = len(result.tests)
    if not total:  # tests that hold no test judge nothing (the sandbox says so first; this is a backstop)
        return Verdict.infra_error(f"{BAD_TESTS}the tests hold no test", result.ms)
    passed = result.passed
    correct = passed == total
    # the first failing test decides, as the detail names it: a program already wrong on test 1 that then hangs on
    # test 2 is wrong, not slow (filtering on timeout finds the slow-but-right ones)
    first = next((t for t in result.tests if not t["passed"]), None)
    reason = "correct" if correct else "timeout" if first is not None and first["reason"] == "timeout" else "wrong"
    return Verdict(correct, passed / total, code, reason,
                   f"{passed}/{total} tests passed" + ("" if correct else f"; {result.detail}"), result.ms,
                   tuple(TestResult.from_any(t) for t in result.tests))


def verify_code(completion: str, tests: CodeTests | dict | str, **options: Any) -> Verdict:
    """One completion against its tests (see CodeVerifier for the options)."""
    return CodeVerifier(**options).verify_many([VerifyItem(completion, tests)])[0]


register_verifier("code", CodeVerifier)
