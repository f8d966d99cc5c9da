"""The `code` verifier: extract the program from a completion and run it against its tests in the sandbox.

    verifier = get_verifier("code", timeout_s=6)
    verdicts = verifier.verify_many([VerifyItem(completion, tests_json)])

The program is the last fenced python block of the final answer (after `</think>`); `score` is the
fraction of tests passed and `correct` means all passed. Everything that runs the program is in
evalkit.sandbox. This module also holds the jinja filters that turn HumanEval, MBPP and
LiveCodeBench rows into DESIGN.md's code-test JSON (`{{ row | humaneval_tests }}`).
"""

from __future__ import annotations

import ast
import base64
import io
import json
import pickle
import re
import time
import warnings
import zlib
from typing import Any, Sequence

from evalkit.errors import InputError
from evalkit.taskspec import FILTERS
from evalkit.thinking import is_truncated, split_think
from evalkit.types import CodeTests, Verdict
from evalkit.verifiers.base import VerifyItem, register_verifier
from evalkit.sandbox import SandboxConfig, get_sandbox, parse_layers

# Fenced blocks, in preference order: a block tagged with one of these languages, then an untagged one.
PYTHON_TAGS = ("python", "python3", "py")
_FENCE = re.compile(r"^[ \t]*```[ \t]*([\w+#.-]*)[^\n]*\n(.*?)^[ \t]*```", re.MULTILINE | re.DOTALL)


def extract_code(completion: str | None, think_open: bool = False, source: str = "answer",
                 languages: Sequence[str] = PYTHON_TAGS, untagged: bool = True, think_format: Any = None) -> str | None:
    """The last fenced code block of the completion's final answer, or None.

    source: `answer` (after the last `</think>`, DESIGN.md's final answer) or `completion` (all text).
    languages: fence tags that count as python; the last such block wins.
    untagged: when no tagged block exists, take the last block without a tag.
    think_format: how the completion thinks (evalkit.thinking row or name; None is r1).
    """
    text = completion or ""
    if source == "answer":
        text = split_think(text, think_open, think_format).answer
    blocks = [(m.group(1).lower(), m.group(2)) for m in _FENCE.finditer(text)]
    tagged = [body for tag, body in blocks if tag in languages]
    if tagged:
        return tagged[-1]
    plain_blocks = [body for tag, body in blocks if not tag]
    if untagged and plain_blocks:
        return plain_blocks[-1]
    return None


class CodeVerifier:
    """Runs extracted programs in the sandbox. Options (a task spec's `verifier_options`):

    source: `answer` (default) or `completion`: where to look for the code block.
    languages: fence tags taken as python. untagged: fall back to an untagged block.
    workers, timeout_s, memory_mb, file_mb, tmpfs_mb, rel_tol, abs_tol: see SandboxConfig.
    layers: optional sandbox layers to use; require_layers: layers that must be in force
    (a list or a comma-separated string).
    deadline_s: a batch deadline; a program not yet run when it passes scores 0 with reason
    `timeout`. `timeout` / `deadline` are accepted as other spellings of timeout_s / deadline_s.
    """

    name = "code"

    def __init__(self, source: str = "answer", languages: Sequence[str] = PYTHON_TAGS, untagged: bool = True,
                 workers: int = 2, timeout_s: float = 6.0, memory_mb: int = 1024, file_mb: int = 16,
                 tmpfs_mb: int = 64, rel_tol: float = 1e-6, abs_tol: float = 1e-6,
                 layers: Sequence[str] | None = None, require_layers: Sequence[str] | str = (),
                 deadline_s: float | None = None, timeout: float | None = None, deadline: float | None = None):
        timeout_s = float(timeout) if timeout is not None else timeout_s
        self.deadline_s = deadline if deadline is not None else deadline_s
        if source not in ("answer", "completion"):
            raise ValueError(f"code verifier: source must be 'answer' or 'completion', got {source!r}")
        self.source, self.languages, self.untagged = source, tuple(languages), untagged
        required = parse_layers(require_layers) if isinstance(require_layers, str) else tuple(require_layers)
        kwargs: dict[str, Any] = dict(workers=workers, timeout_s=timeout_s, memory_mb=memory_mb, file_mb=file_mb,
                                      tmpfs_mb=tmpfs_mb, rel_tol=rel_tol, abs_tol=abs_tol, require_layers=required)
        if layers is not None:
            kwargs["layers"] = tuple(layers)
        self.config = SandboxConfig(**kwargs)

    def layers(self) -> dict[str, Any]:
        """The sandbox layers in force (raises InputError when a required one is missing)."""
        return get_sandbox(self.config).layers()

    def verify_many(self, items: Sequence[VerifyItem]) -> list[Verdict]:
        verdicts: list[Verdict | None] = [None] * len(items)
        jobs: list[tuple[int, str, CodeTests, str]] = []
        for i, item in enumerate(items):
            start = time.monotonic()
            try:
                tests = CodeTests.from_any(item.gold)
            except (ValueError, KeyError, TypeError) as e:
                verdicts[i] = Verdict.infra_error(f"bad code tests: {e}")
                continue
            code = extract_code(item.completion, item.think_open, self.source, self.languages, self.untagged,
                                item.think_format)
            if is_truncated(item.completion or "", item.finish_reason, item.think_open, item.think_format):
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
        return Verdict.infra_error(result.error, result.ms)
    total = len(result.tests)
    passed = result.passed
    correct = total > 0 and passed == total
    reason = "correct" if correct else "timeout" if result.timed_out else "wrong"
    return Verdict(correct, passed / total if total else 0.0, code, reason,
                   f"{passed}/{total} tests passed" + ("" if correct else f"; {result.detail}"), result.ms,
                   list(result.tests))


def verify_code(completion: str, tests: CodeTests | dict | str, **options: Any) -> Verdict:
    """One completion against its tests (see CodeVerifier for the options)."""
    return CodeVerifier(**options).verify_many([VerifyItem(completion, tests)])[0]


register_verifier("code", CodeVerifier)


# ---------------------------------------------------------------- dataset rows -> code tests (jinja filters)


def humaneval_tests(row: dict[str, Any]) -> str:
    """HumanEval (openai_humaneval columns): `check(candidate)` with the prompt's helpers as setup."""
    return CodeTests("assert", entry_point=row["entry_point"], setup=row["prompt"], code=row["test"]).to_json()


def _parse(source: str) -> ast.Module:
    with warnings.catch_warnings():  # old datasets hold invalid escapes ('\w'); not our business here
        warnings.simplefilter("ignore")
        return ast.parse(source)


def _called_names(tests: Sequence[str]) -> list[str]:
    names: list[str] = []
    for t in tests:
        for node in ast.walk(_parse(t)):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id not in names:
                names.append(node.func.id)
    return names


def mbpp_tests(row: dict[str, Any]) -> str:
    """MBPP (hub columns task_id, text, code, test_list, test_setup_code): each assert is a test; the
    entry point is the function of the reference code that the asserts call."""
    tests = list(row["test_list"])
    defined = []
    for node in _parse(row.get("code") or "").body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            defined.append(node.name)
    called = _called_names(tests)
    entry = next((n for n in called if n in defined), called[0] if called else None)
    return CodeTests("assert", entry_point=entry, setup=row.get("test_setup_code") or None,
                     code="\n".join(tests)).to_json()


class _NoGlobals(pickle.Unpickler):
    def find_class(self, module: str, name: str):  # plain data only: no code can be named
        raise pickle.UnpicklingError(f"refusing {module}.{name}")


def _lcb_cases(text: str | list | None) -> list[dict]:
    if not text:
        return []
    if isinstance(text, list):
        return text
    text = text.strip()
    if not text.startswith("["):  # the hub's private tests: base64(zlib(pickle(json text)))
        text = _NoGlobals(io.BytesIO(zlib.decompress(base64.b64decode(text)))).load()
    return json.loads(text)


def livecodebench_tests(row: dict[str, Any]) -> str:
    """LiveCodeBench (code_generation_lite columns): functional tests become `call` tests (each input is
    newline-separated JSON arguments), stdin tests become `stdio` tests."""
    cases = _lcb_cases(row.get("public_test_cases")) + _lcb_cases(row.get("private_test_cases"))
    meta = row.get("metadata") or "{}"
    meta = json.loads(meta) if isinstance(meta, str) else meta
    func = meta.get("func_name")
    if func:
        out = [{"input": [json.loads(line) for line in c["input"].split("\n") if line.strip()],
                "output": json.loads(c["output"])} for c in cases]
        return json.dumps({"style": "call", "entry_point": func, "setup": None, "code": None, "cases": out})
    out = [{"input": c["input"], "output": c["output"]} for c in cases]
    return json.dumps({"style": "stdio", "entry_point": None, "setup": None, "code": None, "cases": out})


FILTERS.update({"humaneval_tests": humaneval_tests, "mbpp_tests": mbpp_tests,
                "livecodebench_tests": livecodebench_tests})
