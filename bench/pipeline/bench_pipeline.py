"""The pipeline's own cost per sample: everything but generation, on the replay backend.

500 MATH-500 problems × 16 R1-style completions (the math verifier's bench corpus:
bench/math_verify/corpus.py) go through `evalkit run math500 --completions FILE -n 16`: prompt
rendering, verification in the worker pool, the trace analyzer, writing samples.jsonl, metrics
and the report. CPU per sample = user + system time of the evalkit process and all its workers
(getrusage of the children, which includes their reaped workers), divided by the samples.

Side by side, in the same run: the loop a user would otherwise write (as open-r1's accuracy reward
does): for each sample, render the prompt with jinja, math-verify `parse` + `verify` on the
completion, and write a JSON line.

    python bench/pipeline/bench_pipeline.py [--out bench/pipeline/results.md]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO / "bench" / "math_verify"))

PLAIN_LOOP = r'''
import json, sys, jinja2
from math_verify import parse, verify
tmpl = jinja2.Template("{{ problem }}\nPlease reason step by step, and put your final answer within \\boxed{}.")
problems = {json.loads(l)["unique_id"]: json.loads(l) for l in open(sys.argv[1])}
with open(sys.argv[3], "w") as out:
    for line in open(sys.argv[2]):
        r = json.loads(line)
        p = problems[r["problem_id"]]
        prompt = tmpl.render(problem=p["problem"])
        try:
            ok = verify(parse("$" + p["answer"] + "$"), parse(r["completion"]))
        except Exception:
            ok = False
        out.write(json.dumps({"problem_id": r["problem_id"], "sample": r["sample"], "prompt": prompt,
                              "completion": r["completion"], "correct": bool(ok)}) + "\n")
'''


def children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def measure(cmd: list[str], env: dict) -> tuple[float, float]:
    before = children_cpu()
    t = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t, children_cpu() - before


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=HERE / "results.md")
    args = ap.parse_args()
    from corpus import build  # the math verifier bench's corpus

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        corpus = tmp / "corpus.jsonl"
        n = build(corpus)
        replay = tmp / "replay.jsonl"
        with open(corpus) as f, open(replay, "w") as out:
            for line in f:
                r = json.loads(line)
                pid, sample = r["id"].rsplit("#", 1)
                out.write(json.dumps({"problem_id": pid, "sample": int(sample), "completion": r["completion"],
                                      "finish_reason": "stop"}) + "\n")
        rows = []
        for label, extra, name in (("evalkit run (verify + trace + report)", [], "full"),
                                   ("evalkit run --no-trace", ["--no-trace"], "notrace")):
            out_dir = tmp / name
            cmd = [sys.executable, "-m", "evalkit", "run", "math500", "--completions", str(replay), "-n", "16",
                   "--out", str(out_dir), "--no-progress", "--overwrite", *extra]
            wall, cpu = measure(cmd, env)
            inv = [json.loads(x) for x in (out_dir / "invocations.jsonl").read_text().splitlines()]
            phases = {k: round(v, 1) for k, v in inv[-1].items() if k.endswith("_s")}
            rows.append((label, wall, cpu, phases))
        (tmp / "math500.jsonl").write_text((REPO / "tasks" / "data" / "math500.jsonl").read_text())
        wall, cpu = measure([sys.executable, "-c", PLAIN_LOOP, str(tmp / "math500.jsonl"), str(replay),
                             str(tmp / "plain.jsonl")], env)
        rows.append(("plain loop: jinja + math-verify parse/verify + json (open-r1 style)", wall, cpu, {}))

    lines = [
        "# Pipeline cost per sample (replay backend, everything but generation)",
        "",
        f"`python bench/pipeline/bench_pipeline.py` on {platform.node()} ({os.cpu_count()} cores, "
        f"Python {platform.python_version()}), {time.strftime('%Y-%m-%d')}.",
        f"Corpus: {n} completions (500 MATH-500 problems × 16), each `<think>` + 2k–20k characters of real R1 "
        "traces + a boxed answer (gold 60%). CPU = user + system of the process and all its workers.",
        "",
        "| pipeline | wall s | CPU s | CPU ms / sample | phases (wall s) |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for label, wall, cpu, phases in rows:
        lines.append(f"| {label} | {wall:.1f} | {cpu:.1f} | {1000 * cpu / n:.2f} | "
                     f"{', '.join(f'{k[:-2]} {v}' for k, v in phases.items())} |")
    lines += ["", "Target (issue 2): under 10 ms of CPU per sample on 2 cores."]
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
