"""Dataset rows to docs/contracts.md's code-test JSON: the converters code task specs use as jinja filters.

    fields: {tests: "{{ row | humaneval_tests }}"}

They belong to the task side (a task spec turns rows into problems); the code verifier only reads
the JSON they produce, so loading a task never imports a verifier.
"""

from __future__ import annotations

import ast
import base64
import io
import json
import pickle
import threading
import warnings
import zlib
from typing import Any, Sequence

from evalkit.types import CodeTests

# What LiveCodeBench's own grader (lcb_runner/evaluation/testing_util.py, `import_string`) runs before
# every program, call-based and stdin alike: LeetCode-style answers use Counter, heappush, inf, gcd,
# lru_cache, accumulate... without importing them, and recurse deeper than Python's default 1,000.
LIVECODEBENCH_PRELUDE = (
    "from string import *\nfrom re import *\nfrom datetime import *\nfrom collections import *\n"
    "from heapq import *\nfrom bisect import *\nfrom copy import *\nfrom math import *\nfrom random import *\n"
    "from statistics import *\nfrom itertools import *\nfrom functools import *\nfrom operator import *\n"
    "from io import *\nfrom sys import *\nfrom json import *\nfrom builtins import *\nfrom typing import *\n"
    "import string\nimport re\nimport datetime\nimport collections\nimport heapq\nimport bisect\nimport copy\n"
    "import math\nimport random\nimport statistics\nimport itertools\nimport functools\nimport operator\n"
    "import io\nimport sys\nimport json\nsys.setrecursionlimit(50000)\n"
)


def humaneval_tests(row: dict[str, Any]) -> str:
    """HumanEval (openai_humaneval columns): `check(candidate)`. The prompt (its imports and helpers such
    as `encode_cyclic`) is the checker's setup, and the program's prelude, as the prompt precedes the
    completion in HumanEval's own harness."""
    return CodeTests("assert", entry_point=row["entry_point"], setup=row["prompt"], code=row["test"],
                     prelude=row["prompt"]).to_json()


# CPython 3.11's ast keeps one recursion count per interpreter: two threads parsing at once can fail with
# "SystemError: AST constructor recursion depth mismatch" (gh-106905). evalkit parses in threads (the code
# verifier's workers), so every parse it makes takes this lock.
AST_LOCK = threading.Lock()


def parse_python(source: str) -> ast.Module:
    """`ast.parse(source)`, one thread at a time (see AST_LOCK), quiet about invalid escapes."""
    with AST_LOCK, warnings.catch_warnings():  # old datasets hold invalid escapes ('\w'); not our business here
        warnings.simplefilter("ignore")
        return ast.parse(source)



def _called_names(tests: Sequence[str]) -> list[str]:
    names: list[str] = []
    for t in tests:
        for node in ast.walk(parse_python(t)):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id not in names:
                names.append(node.func.id)
    return names


def mbpp_tests(row: dict[str, Any]) -> str:
    """MBPP (hub columns task_id, text, code, test_list, test_setup_code): each assert is a test; the
    entry point is the function of the reference code that the asserts call."""
    tests = list(row["test_list"])
    defined = []
    for node in parse_python(row.get("code") or "").body:
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
    newline-separated JSON arguments), stdin tests become `stdio` tests. Both carry LIVECODEBENCH_PRELUDE,
    as LiveCodeBench's grader runs it before every program."""
    cases = _lcb_cases(row.get("public_test_cases")) + _lcb_cases(row.get("private_test_cases"))
    meta = row.get("metadata") or "{}"
    meta = json.loads(meta) if isinstance(meta, str) else meta
    func = meta.get("func_name")
    if func:
        out = [{"input": [json.loads(line) for line in c["input"].split("\n") if line.strip()],
                "output": json.loads(c["output"])} for c in cases]
        return json.dumps({"style": "call", "entry_point": func, "setup": None, "code": None, "cases": out,
                           "prelude": LIVECODEBENCH_PRELUDE})
    out = [{"input": c["input"], "output": c["output"]} for c in cases]
    return json.dumps({"style": "stdio", "entry_point": None, "setup": None, "code": None, "cases": out,
                       "prelude": LIVECODEBENCH_PRELUDE})


# name -> converter, as task specs call them (`{{ row | mbpp_tests }}`)
CONVERTERS = {"humaneval_tests": humaneval_tests, "mbpp_tests": mbpp_tests,
              "livecodebench_tests": livecodebench_tests}
