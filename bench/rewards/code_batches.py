"""Code rewards under a batch deadline: which programs of a batch get checked, in order or cheapest first.

A GRPO step checks a batch of programs against one deadline. Checked in the batch's order, slow programs
early in it (an endless loop, a sleep) use up the time, and right programs after them are never run: they
score 0 (`timeout`). `Sandbox.run_many` checks cheapest first (docs/sandbox.md). This runs the same batches
both ways, side by side in one process on the same sandbox: `in order` is every run with its full limits,
`workers` at a time, in the batch's order (what run_many did before); `cheapest first` is run_many.

    python bench/rewards/code_batches.py [--deadline 10] [--out bench/rewards/results/code_batches.md]
"""

from __future__ import annotations

import argparse
import platform
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from evalkit.sandbox import Sandbox, SandboxConfig


def call_tests(k: int) -> dict:
    return {"style": "call", "entry_point": "f", "cases": [{"input": [i], "output": i + 1} for i in range(k)]}


def stdio_tests(k: int) -> dict:
    return {"style": "stdio", "cases": [{"input": f"{i}\n", "output": f"{i + 1}\n"} for i in range(k)]}


def call_program(busy: float = 0.0, loop: bool = False) -> str:
    if loop:
        return "def f(x):\n    while True:\n        pass\n"
    wait = f"    t = time.perf_counter()\n    while time.perf_counter() - t < {busy}:\n        pass\n" if busy else ""
    return f"import time\ndef f(x):\n{wait}    return x + 1\n"


def stdio_program(loop: bool = False) -> str:
    return "while True:\n    pass\n" if loop else "print(int(input()) + 1)\n"


# name -> [(kind of program, how many, program, tests)], in the batch's order
MIXES = {
    "8 loops, then 24 quick": [("loop", 8, call_program(loop=True), call_tests(3)),
                               ("quick", 24, call_program(), call_tests(3))],
    "20 loops, then 20 quick": [("loop", 20, call_program(loop=True), call_tests(3)),
                                ("quick", 20, call_program(), call_tests(3))],
    "16 quick, 12 slow (4 tests of 0.35 s), 4 loops, 16 quick": [
        ("quick", 16, call_program(), call_tests(4)), ("slow", 12, call_program(0.35), call_tests(4)),
        ("loop", 4, call_program(loop=True), call_tests(4)), ("quick after", 16, call_program(), call_tests(4))],
    "8 stdio loops (5 cases), then 12 quick": [("loop", 8, stdio_program(loop=True), stdio_tests(5)),
                                               ("quick", 12, stdio_program(), stdio_tests(5))],
    "40 right, one test of 0.3 s": [("slow", 40, call_program(0.3), call_tests(1))],
    "20 right, one test of 0.6 s": [("slow", 20, call_program(0.6), call_tests(1))],
    "48 right, 5 tests of 0.1 s": [("slow", 48, call_program(0.1), call_tests(5))],
}


def batch(mix: list) -> tuple[list[str], list[tuple[str, dict]]]:
    kinds, jobs = [], []
    for i, (kind, n, program, tests) in enumerate(mix):
        for k in range(n):
            kinds.append(kind)
            jobs.append((f"# {i}.{k}\n{program}", tests))  # each program its own text, as a policy's are
    return kinds, jobs


def in_order(box: Sandbox, jobs: list, deadline: float) -> list:
    def one(job):
        return None if time.monotonic() >= deadline else box.run(*job, deadline=deadline)

    with ThreadPoolExecutor(box.config.workers) as pool:
        return list(pool.map(one, jobs))


def passed_by_kind(kinds: list[str], results: list) -> dict[str, tuple[int, int]]:
    out: dict[str, tuple[int, int]] = {}
    for kind, r in zip(kinds, results):
        ok = r is not None and not r.error and r.tests and r.passed == len(r.tests)
        right, total = out.get(kind, (0, 0))
        out[kind] = (right + int(bool(ok)), total + 1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--deadline", type=float, default=10.0, help="the batch deadline, seconds (the rewards' default)")
    ap.add_argument("--timeout", type=float, default=1.0, help="seconds per test (the rewards' per_answer_s)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default="bench/rewards/results/code_batches.md")
    args = ap.parse_args()
    rows = []
    with Sandbox(SandboxConfig(workers=args.workers, timeout_s=args.timeout)) as box:
        box.run(call_program(), call_tests(1))  # servers started before the clock runs
        for name, mix in MIXES.items():
            kinds, jobs = batch(mix)
            cells = []
            for how in ("in order", "cheapest first"):
                start = time.monotonic()
                deadline = start + args.deadline
                results = in_order(box, jobs, deadline) if how == "in order" else box.run_many(jobs, deadline)
                wall = time.monotonic() - start
                counts = passed_by_kind(kinds, results)
                right = [f"{kind} {r}/{t}" for kind, (r, t) in counts.items() if kind != "loop"]
                cells.append(f"{', '.join(right)} ({wall:.1f} s)")
                print(f"{name} | {how}: {cells[-1]}", flush=True)
            rows.append((name, *cells))
    lines = [
        "# Code rewards under a batch deadline: in order against cheapest first",
        "",
        f"Command: `python bench/rewards/code_batches.py --deadline {args.deadline:g} --timeout {args.timeout:g} "
        f"--workers {args.workers}`  ",
        f"Machine: {platform.machine()}, Python {platform.python_version()}; one sandbox, {args.workers} workers, "
        f"{args.timeout:g} s per test, a {args.deadline:g} s deadline per batch, both schedulers on the same batches "
        "one after the other.",
        "",
        "Right programs that passed (of those in the batch), by kind; the loops fail either way. `in order`: every "
        "run with its full limits, in the batch's order (what `Sandbox.run_many` did before); `cheapest first`: "
        "`run_many`.",
        "",
        "| batch | in order | cheapest first |",
        "|---|---|---|",
        *[f"| {name} | {a} | {b} |" for name, a, b in rows],
        "",
    ]
    Path(args.out).write_text("\n".join(lines))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
