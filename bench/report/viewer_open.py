"""Opening one long, looping sample in the report: the viewer before and after d96559a, side by side.

A model that loops writes the same doubt-and-check sentence thousands of times: tens of thousands of
reflection markers and episodes in one trace. The viewer used to scan every marker for every episode
(episodes x markers); now each span finds its first marker by bisection. For each size the script makes
a replay run of one such sample, writes its report, and makes a second copy of the page with the
viewer script of `--before` (default d96559a^, the commit before the change) put in place of the
current one. Both pages are opened in headless Chromium, alternating, and the time from clicking the
sample to its view being drawn is measured.

    python bench/report/viewer_open.py [--reps 3000,6000,12000,24000] [--repeat 2] [--before REV]

Writes bench/report/results/viewer_open.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import evalkit  # noqa: E402

SENTENCE = "Wait, let me double-check this step. 1+1 = 2. Hmm, is that right? Yes, that matches. "
APP = "evalkit/report/templates/app.js"
CHROMIUM = "/usr/bin/chromium"


def make_run(root: Path, reps: int) -> Path:
    root.mkdir(parents=True)
    (root / "p.jsonl").write_text(json.dumps({"id": "h1", "problem": "1+1?", "answer": "2"}) + "\n")
    completion = "<think>" + SENTENCE * reps + "</think> \\boxed{2}"
    (root / "c.jsonl").write_text(json.dumps({"problem_id": "h1", "sample": 0, "model": "M",
                                              "completion": completion}) + "\n")
    (root / "t.yaml").write_text("name: loop\ndataset: {local: p.jsonl}\n"
                                 "fields: {id: id, problem: problem, answer: answer}\nverifier: math\n")
    return evalkit.evaluate([str(root / "t.yaml")], completions=root / "c.jsonl", out=root / "run",
                            progress=False).run_dir


def open_time(page, path: Path) -> tuple[float, int]:
    page.goto(path.as_uri())
    page.wait_for_selector("body[data-ready='1']")
    t0 = time.perf_counter()
    page.click("#samples-table tbody tr.row")
    page.wait_for_selector("#sample-view h2", timeout=600_000)
    seconds = time.perf_counter() - t0
    return seconds, page.evaluate("document.querySelectorAll('#sample-view mark').length")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", default="3000,6000,12000,24000")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--before", default="d96559a^")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    new_js = (REPO / APP).read_text(encoding="utf-8")
    old_js = subprocess.run(["git", "show", f"{args.before}:{APP}"], cwd=REPO, capture_output=True, text=True,
                            check=True).stdout
    rows = []
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page()
        for reps in map(int, args.reps.split(",")):
            run = make_run(Path(tmp) / str(reps), reps)
            html = (run / "index.html").read_text(encoding="utf-8")
            assert new_js in html, "the page does not inline the current viewer script"
            before = run / "before.html"
            before.write_text(html.replace(new_js, old_js), encoding="utf-8")
            times = {"before": [], "after": []}
            marks = {}
            for _ in range(args.repeat):
                for name, path in (("before", before), ("after", run / "index.html")):
                    seconds, marks[name] = open_time(page, path)
                    times[name].append(seconds)
            assert marks["before"] == marks["after"], marks  # the same view, drawn faster
            rows.append((len(SENTENCE) * reps, marks["after"], statistics.median(times["before"]),
                         statistics.median(times["after"])))
            print(rows[-1], flush=True)
        browser.close()
    lines = ["# Opening one long looping sample in the report", "",
             f"`python bench/report/viewer_open.py --reps {args.reps} --repeat {args.repeat} --before {args.before}`",
             "", f"Machine: {platform.machine()}, {platform.python_version()}, headless Chromium; median of "
             f"{args.repeat} opens each, before and after alternating.", "",
             "| completion characters | marks drawn | before (s) | after (s) |", "|---:|---:|---:|---:|"]
    lines += [f"| {chars:,} | {n:,} | {b:.2f} | {a:.2f} |" for chars, n, b, a in rows]
    out = REPO / "bench/report/results/viewer_open.md"
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
