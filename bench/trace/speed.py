"""Trace analyzer throughput: N completions of 20,000 characters, without intermediate verification.

Completions are cut from the bundled real R1-distill traces (each a random window of the traces
joined end to end, so every completion is a distinct 20,000-character text). The peer in the same
run: counting the R1 paper's ten reflective words per completion (what most one-off scripts do).
Target (issues 5, 19): 10,000 completions in under 60 s wall on 2 cores, with the default detector.

    python bench/trace/speed.py [--n 10000] [--chars 20000] [--workers 2] [--out bench/trace/results/speed.md]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from evalkit.trace import analyze_many, summarize

_R1 = re.compile(r"\b(?:wait|mistake|however|but|retry|error|verify|wrong|evaluate|check)\b", re.IGNORECASE)


def corpus(n: int, chars: int, seed: int = 0) -> list[str]:
    data = REPO / "tests/data/traces/r1distill_math_labeled.jsonl"
    pool = "\n\n".join(json.loads(line)["response"] for line in open(data, encoding="utf-8"))
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        at = rng.randrange(0, len(pool) - chars)
        out.append(pool[at:at + chars])
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--chars", type=int, default=20_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    texts = corpus(args.n, args.chars)

    t0, c0 = time.perf_counter(), time.process_time()
    keyword_counts = [len(_R1.findall(t)) for t in texts]
    t_keywords, c_keywords = time.perf_counter() - t0, time.process_time() - c0

    t0 = time.perf_counter()
    cpu0 = os.times()
    stats = analyze_many(texts, verifier=None, think_open=True, workers=args.workers)
    summary = summarize(stats)
    cpu1 = os.times()
    t_ours = time.perf_counter() - t0
    parent = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    workers = (cpu1.children_user - cpu0.children_user) + (cpu1.children_system - cpu0.children_system)
    cpu = parent + workers
    # On an idle machine with `workers` cores: the workers' share runs in parallel, the parent's does not
    # (it hands out work, then builds the stats).
    idle_estimate = parent + workers / max(1, args.workers)

    markers = sum(len(s.markers) for s in stats)
    # the rules detector: the same work without the sentence features and the model
    t0 = time.perf_counter()
    lcpu0 = os.times()
    by_rules = analyze_many(texts, verifier=None, think_open=True, workers=args.workers, detector="rules")
    summarize(by_rules)
    lcpu1 = os.times()
    t_rules = time.perf_counter() - t0
    cpu_rules = sum(getattr(lcpu1, k) - getattr(lcpu0, k) for k in ("user", "system", "children_user", "children_system"))
    rows = [
        ("evalkit analyze_many, detector='model' (the default: acts, episodes, candidates, summary)", t_ours, cpu),
        ("evalkit analyze_many, detector='rules'", t_rules, cpu_rules),
        ("peer: R1 ten-word count (one regex per completion, single process)", t_keywords, c_keywords),
    ]
    lines = [
        "# Trace analyzer speed", "",
        f"{args.n} completions × {args.chars} characters cut from the bundled R1-distill traces, no intermediate "
        f"verification, `--workers {args.workers}`, on {os.cpu_count()} visible CPUs (a shared machine). "
        f"Command: `python bench/trace/speed.py --n {args.n} --workers {args.workers} --out bench/trace/results/speed.md`", "",
        "| what | wall s | CPU s | per completion ms (wall) |", "|---|---|---|---|",
    ]
    for name, wall, c in rows:
        lines.append(f"| {name} | {wall:.1f} | {c:.1f} | {1000 * wall / args.n:.2f} |")
    lines += ["", f"CPU: {parent:.1f} s in the parent, {workers:.1f} s in {args.workers} worker processes; "
              f"on {args.workers} idle cores that is about **{idle_estimate:.0f} s** wall "
              f"(load average here when it ran: {os.getloadavg()[0]:.1f}).",
              "", f"Found {markers} acts ({summary['markers_per_1k']} per 1k chars), "
              f"{sum(keyword_counts)} R1-keyword hits. Target: < 60 s wall for 10,000 on 2 cores: "
              f"**{'met' if t_ours < 60 and args.n >= 10_000 else 'met on idle cores (CPU estimate)' if idle_estimate < 60 and args.n >= 10_000 else 'see above'}**"
              f" (rules detector: {'met' if t_rules < 60 and args.n >= 10_000 else 'see above'})."]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
