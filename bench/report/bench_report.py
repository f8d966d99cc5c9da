"""Report at scale: 20,000 samples x 8,000 characters (DESIGN.md, "Report size").

Builds the run at bench time from the shared traces (20,000 distinct 8,000-character windows cut at
random offsets from their completions), renders it with evalkit.report.write_report, and measures:

- size: index.html against `gzip -9` of the same samples.jsonl (target: at most 1.25x);
- time to first render in headless Chromium, from navigation to the summary table being visible
  (target: under 3 s), plus first contentful paint, the page being interactive, and opening a sample;
- the peer in the same run: a naive page (the same report with every completion inline as plain
  HTML, as most HTML eval viewers do), for size and time to the summary.

    python bench/report/bench_report.py [--traces ../shared/data/traces] [--samples 20000] [--repeat 3]

Writes bench/report/results/report.md and report.json.
"""

from __future__ import annotations

import argparse
import html
import json
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from evalkit.report import write_report

WINDOW = 8000
PER_PROBLEM = 8
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

# Recorded in the page from its first frame: paint timings and the frame the summary table shows in.
PROBE = """
window.__ek = {};
new PerformanceObserver((list) => { for (const e of list.getEntries()) window.__ek[e.name] = e.startTime; })
  .observe({ type: "paint", buffered: true });
(function tick() {
  const row = document.querySelector("#summary-table tbody tr");
  if (row && row.getBoundingClientRect().height > 0) window.__ek.summary = performance.now();
  else requestAnimationFrame(tick);
})();
"""


def source_texts(traces: Path) -> tuple[str, list[dict]]:
    """All completions of the shared trace files joined, and their problems (for prompts and golds)."""
    texts, problems = [], []
    for f in sorted(traces.glob("*.jsonl")):
        for line in f.read_text(encoding="utf-8").splitlines():
            r = json.loads(line)
            text = r.get("full_response") or r.get("response") or ""
            texts.append(text)
            problems.append({"problem": r.get("problem") or "", "gold": str(r.get("ground_truth") or r.get("gt_answer"))})
    return "\n\n".join(texts), problems


def make_run(run_dir: Path, traces: Path, n: int, seed: int = 0) -> None:
    text, problems = source_texts(traces)
    rng = random.Random(seed)
    offsets = rng.sample(range(len(text) - WINDOW), n)  # distinct windows
    reasons = ["correct"] * 6 + ["wrong"] * 2 + ["no_answer", "truncated"]
    samples = []
    for i, off in enumerate(offsets):
        pid, k = i // PER_PROBLEM, i % PER_PROBLEM
        prob = problems[pid % len(problems)]
        reason = rng.choice(reasons)
        correct = reason == "correct"
        answer = prob["gold"] if correct else (None if reason in ("no_answer", "truncated") else str(rng.randint(1, 99)))
        samples.append({
            "task": "math500", "problem_id": f"bench/{pid:05d}", "sample": k, "seed": rng.getrandbits(31),
            "model": "bench-model", "prompt": prob["problem"] + "\nPut your final answer within \\boxed{}.",
            "completion": text[off:off + WINDOW], "finish_reason": "length" if reason == "truncated" else "stop",
            "prompt_tokens": 60 + pid % 50, "completion_tokens": 1800 + rng.randint(0, 800),
            "gold": prob["gold"], "correct": correct, "score": float(correct), "answer": answer,
            "reason": reason, "detail": "", "ms": round(rng.uniform(1, 30), 2), "tests": None, "trace": None})
    run_dir.mkdir(parents=True, exist_ok=True)
    with (run_dir / "samples.jsonl").open("w", encoding="utf-8") as f:
        for s in samples:  # as evalkit.run writes them
            f.write(json.dumps(s, ensure_ascii=False) + "\n")
    try:
        from evalkit.metrics import summarize
        results = [{"task": "math500", "model": "bench-model", **summarize(samples)}]
    except ImportError as e:  # the metrics module is not the thing measured here
        print(f"(metrics.summarize unavailable: {e}; results.json left to the report's fallback)")
        results = []
    (run_dir / "results.json").write_text(json.dumps({"results": results}, default=str), encoding="utf-8")
    (run_dir / "config.json").write_text(json.dumps({
        "tasks": [{"name": "math500", "verifier": "math"}], "model": "bench-model", "backend": "replay",
        "sampling": {"n": PER_PROBLEM, "temperature": 0.6, "max_tokens": 32768}}), encoding="utf-8")


def naive_page(run_dir: Path, out: Path) -> None:
    """The peer: the same summary table, then every sample's prompt and completion inline."""
    with out.open("w", encoding="utf-8") as f:
        f.write('<!doctype html><meta charset="utf-8"><title>naive</title><table id="summary-table"><tbody>'
                "<tr><td>math500</td><td>bench-model</td></tr></tbody></table>\n")
        for line in (run_dir / "samples.jsonl").open(encoding="utf-8"):
            s = json.loads(line)
            f.write(f"<details><summary>{html.escape(s['problem_id'])} #{s['sample']} {s['reason']}</summary>"
                    f"<pre>{html.escape(s['prompt'])}</pre><pre>{html.escape(s['completion'])}</pre></details>\n")


def gzip9(path: Path) -> int:
    out = subprocess.run(["gzip", "-9", "-c", str(path)], check=True, capture_output=True).stdout
    return len(out)


def time_page(browser, page_path: Path, interactive: bool) -> dict:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.add_init_script(PROBE)
    page = context.new_page()
    t0 = time.perf_counter()
    page.goto(page_path.resolve().as_uri(), wait_until="commit", timeout=120_000)
    page.wait_for_selector("#summary-table tbody tr", state="visible", timeout=120_000)
    wall_summary = time.perf_counter() - t0
    out = {"wall_to_summary_s": wall_summary}
    if interactive:
        page.wait_for_selector("body[data-ready='1']", timeout=120_000)
        out["wall_to_interactive_s"] = time.perf_counter() - t0
    page.wait_for_load_state("load", timeout=300_000)
    out["wall_to_load_s"] = time.perf_counter() - t0
    probe = page.evaluate("window.__ek")
    out["summary_frame_ms"] = probe.get("summary")
    out["first_contentful_paint_ms"] = probe.get("first-contentful-paint")
    if interactive:
        page.check("#f-wrong")
        t1 = time.perf_counter()
        page.locator("#samples-table tbody tr").nth(5).click()
        page.locator("#sample-view h3").first.wait_for(timeout=60_000)  # any sample (not every one has a think block)
        out["open_sample_s"] = time.perf_counter() - t1
        t1 = time.perf_counter()
        page.fill("#f-text", "let me check")
        page.press("#f-text", "Enter")
        page.wait_for_function("document.querySelector('#sample-count').textContent.includes('completions searched')",
                               timeout=300_000)
        out["full_text_search_s"] = time.perf_counter() - t1
    context.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--traces", type=Path, default=REPO.parent / "shared" / "data" / "traces")
    ap.add_argument("--samples", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--keep", type=Path, default=None, help="keep the run directory here")
    ap.add_argument("--no-naive", action="store_true", help="skip the naive peer page")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ek-report-bench-"))
    run_dir = args.keep or work / "run"
    try:
        t = time.perf_counter()
        make_run(run_dir, args.traces, args.samples)
        t_make = time.perf_counter() - t
        t = time.perf_counter()
        page = write_report(run_dir)
        t_render = time.perf_counter() - t
        jsonl = run_dir / "samples.jsonl"
        sizes = {"samples_jsonl": jsonl.stat().st_size, "samples_jsonl_gzip9": gzip9(jsonl),
                 "index_html": page.stat().st_size}
        sizes["ratio_html_to_gzip9"] = sizes["index_html"] / sizes["samples_jsonl_gzip9"]
        naive = None
        if not args.no_naive:
            naive = work / "naive.html"
            naive_page(run_dir, naive)
            sizes["naive_html"] = naive.stat().st_size
        from playwright.sync_api import sync_playwright
        timings, naive_timings = [], []
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for _ in range(args.repeat):
                timings.append(time_page(browser, page, interactive=True))
            if naive is not None:
                naive_timings.append(time_page(browser, naive, interactive=False))
            browser.close()
        med = {k: statistics.median(t[k] for t in timings if t.get(k) is not None)
               for k in timings[0] if any(t.get(k) is not None for t in timings)}
        result = {"samples": args.samples, "window_chars": WINDOW, "sizes": sizes,
                  "write_report_s": t_render, "make_run_s": t_make, "timings_median": med,
                  "timings": timings, "naive_timings": naive_timings,
                  "machine": f"{platform.machine()}, {platform.python_version()}, "
                             f"{subprocess.run([CHROMIUM, '--version'], capture_output=True, text=True, check=False).stdout.strip()}"}
        if args.samples == 20_000:  # the committed figures are the full-size run only
            write_results(result)
        print(json.dumps(result, indent=1))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def write_results(r: dict) -> None:
    out = REPO / "bench" / "report" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(r, indent=1) + "\n", encoding="utf-8")
    s, m = r["sizes"], r["timings_median"]
    mb = lambda b: f"{b / 1e6:.1f} MB"
    lines = [
        "# Report at scale",
        "",
        (f"{r['samples']:,} samples x {r['window_chars']:,} characters (distinct windows of the shared traces),"
         " `python bench/report/bench_report.py`."),
        f"Machine: {r['machine']} (2 shared cores). Median of {len(r['timings'])} page loads.",
        "",
        "| | value | target |",
        "|---|---|---|",
        f"| samples.jsonl | {mb(s['samples_jsonl'])} | |",
        f"| gzip -9 of samples.jsonl | {mb(s['samples_jsonl_gzip9'])} | |",
        f"| index.html | {mb(s['index_html'])} (**{s['ratio_html_to_gzip9']:.3f}x** gzip -9) | <= 1.25x |",
        f"| navigation -> summary table visible (frame time in page) | **{m['summary_frame_ms'] / 1000:.2f} s** | < 3 s |",
        f"| first contentful paint | {m['first_contentful_paint_ms'] / 1000:.2f} s | |",
        f"| navigation -> summary visible (measured from Python) | {m['wall_to_summary_s']:.2f} s | |",
        f"| navigation -> tables interactive (index inflated) | {m['wall_to_interactive_s']:.2f} s | |",
        f"| navigation -> load event (whole file parsed) | {m['wall_to_load_s']:.2f} s | |",
        f"| open one sample (inflate its chunk, render) | {m['open_sample_s']:.2f} s | |",
        f"| full-text search over all completions | {m['full_text_search_s']:.2f} s | |",
        f"| write_report (Python) | {r['write_report_s']:.1f} s | |",
    ]
    if r.get("naive_timings"):
        n = r["naive_timings"][0]
        lines += ["", "Peer, same run and machine: a naive page with every completion inline as HTML.", "",
                  "| | naive page | evalkit report |", "|---|---|---|",
                  f"| size | {mb(s['naive_html'])} | {mb(s['index_html'])} |",
                  f"| navigation -> summary visible (frame) | {n['summary_frame_ms'] / 1000:.2f} s | {m['summary_frame_ms'] / 1000:.2f} s |",
                  f"| navigation -> load event | {n['wall_to_load_s']:.2f} s | {m['wall_to_load_s']:.2f} s |"]
    lines += ["", "How it is measured: a fresh browser context per load, file:// URL. *Frame time in page* is",
              "`performance.now()` (milliseconds since navigation start) in the first animation frame in which",
              "the summary table's first row has a layout box; *first contentful paint* is the browser's own",
              "paint timing (the summary is the first content, so this is when it is on screen); *measured from",
              "Python* adds Playwright's round trips. The per-sample text is raw deflate (level 6, chunks of",
              "~512 KB of JSON) in a 7-bit text encoding (8/7 of the bytes, where base64 would be 4/3).",
              "The windows overlap in their source text, but neither deflate's nor gzip's 32 KB window can",
              "reach from one random window to another, so the overlap flatters neither side."]
    (out / "report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
