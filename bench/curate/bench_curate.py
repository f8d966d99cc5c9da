"""Bench: `evalkit curate` on 100,000 rows against every built-in benchmark, and its decontamination
against a plain Python n-gram set loop, side by side on the same rows.

The rows: 100,000 synthetic problems of 30-90 words drawn from the benchmarks' own vocabulary (the
worst case for evalkit's vocabulary filter: almost every word is one the benchmarks use). 1% carry a
13-word span of a benchmark problem inside other words (must be dropped); another 1% carry a 12-word
span (must not be). A replay run of them is built once (4 samples per problem, pass rates 0 to 1),
then timed:

- decontamination alone, both ways: building the index of all built-in benchmarks' 13-grams, and
  checking the 100,000 problem texts. The plain loop: a set of word 13-gram tuples, less those mostly of stock
  phrasing (evalkit's `stock_runs`: the same definition, so the two search the same windows; and the word tuple
  of each benchmark problem shorter than 13 words, matched whole), and for each text
  `any(tuple(words[i:i+k]) in grams ...)` over those lengths k, words split by the same definition
  (evalkit's `words`). Both must flag the same rows;
- the whole `evalkit curate RUN --pass-rate 0.25:0.75 --dedup --decontaminate all --format trl`
  (reading the run, pass rates, dedup, decontamination, rendering, writing), in process.

    python bench/curate/bench_curate.py [--rows 100000] [--repeat 3] [--out bench/curate/results]

Generated data only; never used by tests.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))

from evalkit.contamination import (NGRAM, NgramIndex, benchmark_text, mostly_stock, stock_marks,  # noqa: E402
                                   stock_runs, words)
from evalkit.taskspec import list_tasks, load_problems  # noqa: E402



def benchmark_sources() -> list[tuple[str, str, str]]:
    out = []
    for spec in list_tasks():
        if spec.completions is None:
            try:
                # as the index reads them (without the R1 instruction a bundled copy holds)
                out += [(spec.name, p.id, benchmark_text(p.problem)) for p in load_problems(spec).problems]
            except Exception:  # a hub-only task offline (gated GPQA): not part of `all` here either
                pass
    return out


def make_rows(sources, n: int, seed: int = 0) -> tuple[list[str], set[int], set[int]]:
    """`n` texts; the indices that carry a 13-word benchmark span, and those with only 12 words of one."""
    rng = random.Random(seed)
    vocab = [w for _, _, text in sources for w in words(text)]
    runs = stock_runs(sources)
    long_ones = [(ws, stock_marks(ws, runs)) for ws in (words(text) for _, _, text in sources) if len(ws) >= NGRAM + 2]
    texts, planted, near = [], set(), set()
    for i in range(n):
        body = [rng.choice(vocab) for _ in range(rng.randint(30, 90))]
        kind = i % 100
        if kind in (7, 57):
            src, marks = rng.choice(long_ones)
            span = NGRAM if kind == 7 else NGRAM - 1
            at = rng.randrange(0, len(src) - span + 1)
            # else the row would share span + 1 words, or a span of stock phrasing, which is no evidence of a copy
            while at and src[at - 1] == "consider" or at + span < len(src) and src[at + span] == "thereafter" \
                    or mostly_stock(marks, at, span):
                at = rng.randrange(0, len(src) - span + 1)
            # the span's neighbours in the benchmark are replaced, so the row shares exactly `span` words
            body = ["Consider"] + src[at:at + span] + ["thereafter"] + body[:20]
            (planted if kind == 7 else near).add(i)
        texts.append(f"Problem {i}: " + " ".join(body).capitalize() + "?")
    return texts, planted, near


def plain_index(sources) -> set[tuple[str, ...]]:
    grams = set()
    runs = stock_runs(sources)  # windows mostly of stock phrasing are left out, as evalkit leaves them out
    for _, _, text in sources:
        ws = words(text)
        marks = stock_marks(ws, runs)
        grams.update(tuple(ws[i:i + NGRAM]) for i in range(len(ws) - NGRAM + 1) if not mostly_stock(marks, i, NGRAM))
        if 2 <= len(ws) < NGRAM:  # a short problem is matched whole
            grams.add(tuple(ws))
    return grams


def plain_find(grams, texts) -> list[bool]:
    lengths = sorted({len(g) for g in grams}, reverse=True)
    out = []
    for text in texts:
        ws = words(text)
        out.append(any(tuple(ws[i:i + k]) in grams for k in lengths for i in range(len(ws) - k + 1)))
    return out


def build_run(root: Path, texts: list[str], seed: int = 0) -> Path:
    """A replay run of `texts` (4 samples each, right 0-4 times): the input `evalkit curate` reads."""
    import evalkit

    run = root / "run"
    if (run / "results.json").is_file():
        return run
    rng = random.Random(seed)
    with open(root / "problems.jsonl", "w") as f:
        for i, t in enumerate(texts):
            f.write(json.dumps({"id": f"r{i}", "problem": t, "answer": str(i % 10)}) + "\n")
    (root / "synthetic.yaml").write_text("name: synthetic\ndataset: {local: problems.jsonl}\n"
                                         "fields: {id: id, problem: problem, answer: answer}\nverifier: math\n")
    with open(root / "completions.jsonl", "w") as f:
        for i in range(len(texts)):
            right = rng.randint(0, 4)
            for s in range(4):
                given = i % 10 if s < right else 10 + i % 10
                f.write(json.dumps({"problem_id": f"r{i}", "sample": s,
                                    "completion": f"<think>ok</think> $\\boxed{{{given}}}$"}) + "\n")
    evalkit.evaluate([str(root / "synthetic.yaml")], completions=str(root / "completions.jsonl"), out=run,
                     progress=False, trace=False)
    return run


def timed(fn, repeat: int):
    times, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return min(times), statistics.median(times), result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--work", default=None, help="where to keep the generated run (default: a temp dir)")
    ap.add_argument("--out", default=str(HERE / "results"))
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

    sources = benchmark_sources()
    texts, planted, near = make_rows(sources, args.rows)
    work = Path(args.work or tempfile.mkdtemp(prefix="bench-curate-"))
    work.mkdir(parents=True, exist_ok=True)

    ev_build = timed(lambda: NgramIndex(sources), args.repeat)  # both builds start from the loaded problems
    index = ev_build[2]
    ev_find = timed(lambda: index.find(texts), args.repeat)
    pl_build = timed(lambda: plain_index(sources), args.repeat)
    pl_find = timed(lambda: plain_find(pl_build[2], texts), args.repeat)
    ev_flags = [hit is not None for hit in ev_find[2]]
    assert ev_flags == pl_find[2], "evalkit and the plain loop disagree"
    flagged = {i for i, f in enumerate(ev_flags) if f}
    assert planted <= flagged and not (near & flagged), "a planted span was missed or a 12-word one caught"

    from evalkit.curate import curate

    run = build_run(work, texts)
    out = work / "train.jsonl"
    whole = timed(lambda: curate(run, "0.25:0.75", "trl", out, dedup=True, decontaminate=["all"]), args.repeat)
    counts = whole[2].counts()

    n_grams = sum(len(g) == NGRAM for g in pl_build[2])
    n_short = len(pl_build[2]) - n_grams
    rows = [
        ("build the index of all built-in benchmarks", ev_build, pl_build),
        (f"check {args.rows:,} rows", ev_find, pl_find),
    ]
    lines = [
        f"# `evalkit curate` and its decontamination, {args.rows:,} rows",
        "",
        f"Command: `python bench/curate/bench_curate.py --rows {args.rows} --repeat {args.repeat}` "
        f"({platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; a machine shared "
        "with other jobs). Times are the best of the repeats (median in brackets), in seconds.",
        "",
        f"Benchmarks: {', '.join(index.tasks)} ({len(index):,} problems, {n_grams:,} distinct {NGRAM}-grams, {n_short:,} problems of fewer words "
        "matched whole).",
        f"Rows flagged: {len(flagged):,} by both, the same rows ({len(planted):,} planted 13-word spans, all "
        f"caught; {len(near):,} planted 12-word spans, none caught; {len(flagged - planted):,} others).",
        "",
        "| step | evalkit `NgramIndex` | plain Python n-gram set loop | speed-up |",
        "|---|---|---|---|",
    ]
    for name, ev, pl in rows:
        lines.append(f"| {name} | {ev[0]:.2f} ({ev[1]:.2f}) | {pl[0]:.2f} ({pl[1]:.2f}) | {pl[0] / ev[0]:.1f}x |")
    total_ev, total_pl = ev_build[0] + ev_find[0], pl_build[0] + pl_find[0]
    lines.append(f"| both | {total_ev:.2f} | {total_pl:.2f} | {total_pl / total_ev:.1f}x |")
    lines += [
        "",
        f"The whole `evalkit curate RUN --pass-rate 0.25:0.75 --dedup --decontaminate all --format trl` on the "
        f"run of these {args.rows:,} problems (4 samples each): {whole[0]:.2f} s ({whole[1]:.2f}), in process "
        "(the index build above included).",
        "",
        "| outcome | rows |",
        "|---|---|",
        *[f"| {k} | {v:,} |" for k, v in counts.items()],
        "",
        "Both builds start from the same loaded benchmark problems; the whole `curate` time also loads them",
        "(`NgramIndex.from_tasks`) and reads and writes the run's files.",
    ]
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "curate.md").write_text("\n".join(lines) + "\n")
    (Path(args.out) / "curate.json").write_text(json.dumps({
        "rows": args.rows, "repeat": args.repeat, "benchmarks": index.tasks, "ngrams": n_grams,
        "evalkit": {"build_s": ev_build[:2], "find_s": ev_find[:2]},
        "plain": {"build_s": pl_build[:2], "find_s": pl_find[:2]},
        "flagged": len(flagged), "planted": len(planted), "near_misses": len(near),
        "curate_s": whole[:2], "curate_counts": counts,
    }, indent=1))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
