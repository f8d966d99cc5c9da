"""`evalkit fit-detector --cv` as a user runs it: does adapting to my model's labelled traces pay?

For each model of the agent-labelled traces (DeepSeek-R1 `deepseek-reasoner`, R1-Distill-Qwen-7B,
R1-Distill-Llama-8B), the base is what the shipped detector would be had it never seen that model: fitted
from scratch on the 40 gold traces and the other two models' agent traces (all problems). That model's
traces are written as a sheet the way a labeller from elsewhere would write one (its reflective spans and
one `other` span over the labelled part), and the command line is run on it:

    evalkit fit-detector SHEET --base BASE --cv --out ADAPTED

which adapts BASE to the sheet and, leave one trace out, prints the pooled sentence F1 of the held-out
traces under the adapted weights and under BASE. The figure is the command's own (its sentences, its
overlap rule), not `reflection_f1.py`'s chunk scoring. No trace here is one of issue 19's held-out ten.

A second table asks whether a user's sheets should also choose the threshold: the same leave one trace
out (`evalkit.trace._fit.cross_validate`, what `--cv` runs) scored at each of THRESHOLDS instead of the
shipped one.

    python bench/trace/fit_detector_cv.py [--out bench/trace/results/fit_detector_cv.md]

About two and a half minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from reflection_f1 import load_agent_labelled, load_labelled
from train_reflection import agent_item, fit, trace_item

from evalkit.trace import read_labelled
from evalkit.trace._fit import cross_validate
from evalkit.trace._model import MODEL_PATH

THRESHOLDS = (0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6)

_HELD = re.compile(r"leave one trace out \((\d+) traces\): F1 ([\d.]+), the \S+ weights ([\d.]+)")


def sheet_line(row: dict) -> dict:
    """An agent-labelled trace as a sheet line: its reflective spans, and `other` over the rest of
    the labelled part (a detector sentence takes a reflective label first)."""
    spans = [{"start": a, "end": b, "label": lab} for a, b, lab in row["spans"]]
    return {"completion": row["text"], "think_open": row["think_open"],
            "sentences": spans + [{"start": 0, "end": row["labelled_to"], "label": "other"}]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    gold = [trace_item(row) for row in load_labelled()]
    rows = load_agent_labelled()
    items = [agent_item(row) for row in rows]
    threshold = json.loads(MODEL_PATH.read_text(encoding="utf-8"))["threshold"]
    lines, by_threshold = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for family in sorted({row["model"] for row in rows}):
            base = fit(gold + [it for it in items if it["model"] != family], threshold)
            base_path, sheet = Path(tmp) / "base.json", Path(tmp) / "sheet.jsonl"
            base_path.write_text(json.dumps(base.data), encoding="utf-8")
            sheet.write_text("".join(json.dumps(sheet_line(r)) + "\n" for r in rows if r["model"] == family),
                             encoding="utf-8")
            t0 = time.perf_counter()
            r = subprocess.run([sys.executable, "-m", "evalkit", "fit-detector", str(sheet), "--base", str(base_path),
                                "--cv", "--out", str(Path(tmp) / "adapted.json")],
                               capture_output=True, text=True, check=True, cwd=REPO)
            wall = time.perf_counter() - t0
            held = _HELD.search(r.stdout)
            lines.append(f"| {family} | {held[1]} | {held[3]} | {held[2]} | {wall:.0f} |")
            print(lines[-1], flush=True)
            sweep = cross_validate(read_labelled(sheet), base=base_path, thresholds=THRESHOLDS)["by_threshold"]
            for who in ("base", "fitted"):
                f1s = [row[who] for row in sweep]
                best = max(range(len(f1s)), key=f1s.__getitem__)
                by_threshold.append(f"| {family} | {'adapted' if who == 'fitted' else 'base'} | "
                                    + " | ".join(f"{f:.3f}" for f in f1s) + f" | {THRESHOLDS[best]} |")
                print(by_threshold[-1], flush=True)
    table = "\n".join(["| model | traces | base (never saw the model) | adapted | wall s (--cv included) |",
                       "|---|---|---|---|---|", *lines])
    sweep_table = "\n".join(["| model | weights | " + " | ".join(map(str, THRESHOLDS)) + " | best |",
                             "|---|---|" + "---|" * (len(THRESHOLDS) + 1), *by_threshold])
    text = (f"# `evalkit fit-detector --cv` on each model's agent-labelled traces\n\n"
            f"Command: `python bench/trace/fit_detector_cv.py --out bench/trace/results/fit_detector_cv.md`\n\n"
            f"Leave one trace out, sentence F1 as the command prints it (pooled over the held-out traces; the "
            f"base fitted on the 40 gold traces and the other two models' agent traces; threshold {threshold}).\n\n"
            f"{table}\n\n"
            f"## Held-out F1 by threshold\n\n"
            f"The same leave one trace out (`cross_validate`, what `--cv` runs), scored at each threshold instead "
            f"of the shipped {threshold}: would a user's sheets choose a better one? `best` is picked on these "
            f"same predictions, so what it gains over {threshold} is an upper bound.\n\n"
            f"{sweep_table}\n")
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
