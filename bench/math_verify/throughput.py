"""Throughput of the math verifier against a plain math-verify loop, in one run on one machine.

Corpus: 500 MATH-500 problems x 16 R1-style completions (corpus.py), built from the shared data at
bench time. Peer: a plain loop of math-verify `parse` + `verify` over whole completions, configured
as open-r1's accuracy reward configures it. evalkit: `evalkit verify --pairs` in a fresh process,
process start included. Also measures p50/p99 per completion over sequential single `verify_math`
calls with a warm pool, and the time from process start to the first verdict.

    python bench/math_verify/throughput.py [--limit N] [--out bench/math_verify/results]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from corpus import build

# The peer: open-r1's accuracy reward (parse the whole completion, boxed first, then verify).
PLAIN_LOOP = r"""
import json, sys, logging
logging.disable(logging.WARNING)
from math_verify import LatexExtractionConfig, parse, verify
from math_verify.parser import NormalizationConfig
cfg = [LatexExtractionConfig(normalization_config=NormalizationConfig(nits=False, malformed_operators=False,
       basic_latex=True, equations=True, boxed="all", units=True), boxed_match_priority=0,
       try_extract_without_anchor=False)]
with open(sys.argv[1]) as f, open(sys.argv[2], "w") as out:
    for line in f:
        r = json.loads(line)
        gold = parse("$" + r["gold"] + "$", extraction_mode="first_match")
        answer = parse(r["completion"], extraction_config=cfg, extraction_mode="first_match")
        out.write(json.dumps({"id": r["id"], "correct": bool(verify(gold, answer))}) + "\n")
"""


def timed(cmd: list[str]) -> dict:
    """Run `cmd`; wall seconds and CPU seconds of it and all its descendants."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(cmd, check=True)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": round(wall, 3), "cpu_s": round(cpu, 3)}


def evalkit_cmd() -> list[str]:
    return [sys.executable, "-c", "import sys; from evalkit.cli import main; sys.exit(main())"]


def per_completion_latency(corpus: Path, n: int) -> dict:
    from evalkit.verifiers.math import verify_math, warm_up

    rows = [json.loads(line) for line in corpus.open()]
    random.Random(1).shuffle(rows)
    warm_up()
    verify_math("\\boxed{\\sqrt{12}}", "2\\sqrt{3}")
    time.sleep(3)  # a warm pool: workers started and done with their idle warm-up
    times = []
    for r in rows[:n]:
        t = time.perf_counter()
        verify_math(r["completion"], r["gold"])
        times.append((time.perf_counter() - t) * 1e3)
    times.sort()
    return {"n": n, "p50_ms": round(statistics.median(times), 2),
            "p99_ms": round(times[int(0.99 * (len(times) - 1))], 2), "max_ms": round(times[-1], 2)}


def first_verdict(tmp: Path) -> dict:
    """Process start to first verdict, for an answer that needs sympy (a worker must start)."""
    one = tmp / "one.jsonl"
    one.write_text(json.dumps({"completion": "</think>$\\boxed{\\sqrt{12}}$", "gold": "2\\sqrt{3}"}) + "\n")
    runs = []
    for _ in range(3):
        t = time.perf_counter()
        out = subprocess.run(evalkit_cmd() + ["verify", "--pairs", str(one)], check=True,
                             capture_output=True, text=True).stdout
        runs.append(time.perf_counter() - t)
        assert json.loads(out)["correct"] is True
    return {"runs_s": [round(x, 3) for x in runs], "median_s": round(statistics.median(runs), 3)}


def why_differ(row: dict, plain: bool, ours: dict) -> str:
    """The documented reason for a verdict that differs from the plain loop's, or UNEXPLAINED."""
    if row["boxed"] == row["gold"] and ours["correct"] and not plain:
        return ("fix: the boxed answer is the gold's very text; open-r1's configuration turns off "
                "math-verify's malformed-operator repair, so brace-less LaTeX (\\frac9{19}, 11\\sqrt2) "
                "in the completion does not parse and the plain loop calls it wrong")
    return "UNEXPLAINED"


def compare(corpus: Path, plain: Path, ours: Path) -> dict:
    rows = {json.loads(line)["id"]: json.loads(line) for line in corpus.open()}
    p = {json.loads(line)["id"]: json.loads(line)["correct"] for line in plain.open()}
    o = {json.loads(line)["id"]: json.loads(line) for line in ours.open()}
    differ = [(i, p[i], o[i]) for i in rows if p[i] != o[i]["correct"]]
    kinds = Counter()
    examples = {}
    for i, pc, ov in differ:
        r = rows[i]
        key = (f"plain={pc} evalkit={ov['correct']}", r["boxed"], r["gold"])
        kinds[key] += 1
        examples.setdefault(key, {"id": i, "evalkit_detail": ov["detail"], "why": why_differ(r, pc, ov)})
    return {
        "items": len(rows),
        "agree": len(rows) - len(differ),
        "disagree": len(differ),
        "disagreements": [
            {"verdicts": k[0], "boxed": k[1], "gold": k[2], "count": n, **examples[k]}
            for k, n in kinds.most_common()
        ],
        "evalkit_correct": sum(v["correct"] is True for v in o.values()),
        "plain_correct": sum(p.values()),
        "evalkit_reasons": dict(Counter(v["reason"] for v in o.values())),
        "evalkit_decided_by": dict(Counter(v["detail"].split(":")[0] for v in o.values()).most_common()),
    }


def markdown(r: dict) -> str:
    e, p, v = r["evalkit"], r["plain_math_verify"], r["verdicts"]
    lines = [
        "# Math verifier throughput: evalkit vs a plain math-verify loop", "",
        f"{r['completions']} R1-style completions (500 MATH-500 problems x 16; corpus.py), one run, one machine "
        f"({r['machine']['cpus']} CPUs; {r['machine']['note']}; 1-minute load average "
        f"{r['machine']['load_average_1m_at_start']} at start, {r['machine']['load_average_1m_at_end']} at end). "
        "Command: `python bench/math_verify/throughput.py`.", "",
        "| | wall s | completions/s | CPU s (all processes) | CPU ms / sample |", "|---|---|---|---|---|",
        f"| evalkit verify --pairs (process start included) | {e['wall_s']} | {e['per_s']} | {e['cpu_s']} | {e['cpu_ms_per_sample']} |",
        f"| plain math-verify parse+verify loop (open-r1 config) | {p['wall_s']} | {p['per_s']} | {p['cpu_s']} | {p['cpu_ms_per_sample']} |",
        "", f"Speed-up: **{r['speedup_wall']}x** wall clock, **{r['speedup_cpu']}x** CPU.", "",
        f"Warm pool, sequential single `verify_math` calls (n={r['latency_warm']['n']}): "
        f"p50 {r['latency_warm']['p50_ms']} ms, **p99 {r['latency_warm']['p99_ms']} ms**, max {r['latency_warm']['max_ms']} ms.", "",
        f"Process start to first verdict (`evalkit verify --pairs` on one line needing sympy): "
        f"median **{r['first_verdict']['median_s']} s** (runs {r['first_verdict']['runs_s']}).", "",
        f"Verdicts: {v['agree']} agree, {v['disagree']} differ (evalkit {v['evalkit_correct']} correct, "
        f"plain loop {v['plain_correct']}). Decided by: {v['evalkit_decided_by']}.", "",
        "| verdicts | boxed | gold | count | why |", "|---|---|---|---|---|",
    ]
    for d in v["disagreements"]:
        lines.append(f"| {d['verdicts']} | `{d['boxed']}` | `{d['gold']}` | {d['count']} | {d['why']} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=0, help="use only the first N completions")
    ap.add_argument("--latency-n", type=int, default=1000)
    ap.add_argument("--out", type=Path, default=HERE / "results")
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    load_at_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        corpus = tmp / "corpus.jsonl"
        build(corpus)
        if a.limit:
            lines = corpus.read_text().splitlines()[: a.limit]
            corpus.write_text("\n".join(lines) + "\n")
        n = sum(1 for _ in corpus.open())
        ours_out, plain_out = tmp / "evalkit.jsonl", tmp / "plain.jsonl"
        plain_script = tmp / "plain.py"
        plain_script.write_text(PLAIN_LOOP)
        ours = timed(evalkit_cmd() + ["verify", "--pairs", str(corpus), "--out", str(ours_out)])
        plain = timed([sys.executable, str(plain_script), str(corpus), str(plain_out)])
        result = {
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                        "load_average_1m_at_start": round(load_at_start, 2),
                        "load_average_1m_at_end": round(os.getloadavg()[0], 2),
                        "note": "shared 2-core machine; other jobs may run at the same time"},
            "completions": n,
            "evalkit": {**ours, "per_s": round(n / ours["wall_s"], 1),
                        "cpu_ms_per_sample": round(1e3 * ours["cpu_s"] / n, 3)},
            "plain_math_verify": {**plain, "per_s": round(n / plain["wall_s"], 1),
                                  "cpu_ms_per_sample": round(1e3 * plain["cpu_s"] / n, 3)},
            "speedup_wall": round(plain["wall_s"] / ours["wall_s"], 2),
            "speedup_cpu": round(plain["cpu_s"] / ours["cpu_s"], 2),
            "latency_warm": per_completion_latency(corpus, min(a.latency_n, n)),
            "first_verdict": first_verdict(tmp),
            "verdicts": compare(corpus, plain_out, ours_out),
        }
    (a.out / "throughput.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    (a.out / "throughput.md").write_text(markdown(result))
    print(json.dumps({k: v for k, v in result.items() if k != "verdicts"}, indent=2))
    v = result["verdicts"]
    print(f"verdicts: {v['agree']} agree, {v['disagree']} disagree")
    for x in v["disagreements"][:20]:
        print(" ", x)


if __name__ == "__main__":
    main()
