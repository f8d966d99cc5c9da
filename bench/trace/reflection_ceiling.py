"""How far sentence-level detection can go on the labelled traces: a diagnostic for issue 5's target
(F1 >= 0.75 on the Llama-8B traces without an LLM judge).

Two measurements, both reading the held-out Llama-8B labels, so neither feeds the shipped model
(bench/trace/train_reflection.py fits that on the Qwen-14B traces alone):

1. Label consistency: short sentences without digits that occur three or more times across the 40
   traces (same words after lowercasing), and how often their labels agree with the majority label
   of the same text. A detector that sees the text can do no better than the majority on these.
2. Supervised fits on the Llama-8B labels themselves, with the shipped detector's features, model and
   markers, each trace scored by a model fitted without it (leave one trace out):
   on the other 19 Llama-8B traces, and on those plus the 20 Qwen-14B traces. The F1 is given at the
   shipped threshold and at the threshold best for the Llama-8B traces (an optimistic figure).

    python bench/trace/reflection_ceiling.py [--out bench/trace/results/reflection_ceiling.md]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from reflection_f1 import REFLECTION_TAGS
from train_reflection import DATA, THRESHOLDS, chunk_f1, fit, trace_item

from evalkit.trace._learned import load_model


def consistency(rows: list[dict]) -> tuple[int, int, list[tuple[int, int, str]]]:
    by_text: dict[str, list[bool]] = defaultdict(list)
    for row in rows:
        for ch in row["chunks"]:
            key = re.sub(r"[^a-z?]+", " ", ch["text"].lower()).strip()
            if key and not re.search(r"\d", ch["text"]) and len(key) < 40:
                by_text[key].append(bool(REFLECTION_TAGS & set(ch["function_tags"])))
    total = agree = 0
    mixed = []
    for key, labels in by_text.items():
        if len(labels) < 3:
            continue
        pos = sum(labels)
        total += len(labels)
        agree += max(pos, len(labels) - pos)
        if 0 < pos < len(labels):
            mixed.append((len(labels), pos, key))
    return total, agree, sorted(mixed, reverse=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines()]
    total, agree, mixed = consistency(rows)
    qwen = [trace_item(r) for r in rows if "Qwen-14B" in r["model"]]
    llama = [trace_item(r) for r in rows if "Llama-8B" in r["model"]]
    shipped = load_model().threshold
    fits = {
        "shipped model (fitted on the 20 Qwen-14B traces)": [load_model().scores(it["X"]) for it in llama],
        "fitted on the other 19 Llama-8B traces": [fit(llama[:k] + llama[k + 1:]).scores(llama[k]["X"])
                                                   for k in range(len(llama))],
        "fitted on the 20 Qwen-14B + the other 19 Llama-8B traces": [
            fit(qwen + llama[:k] + llama[k + 1:]).scores(llama[k]["X"]) for k in range(len(llama))],
    }
    lines = ["# How far sentence-level reflection detection goes on the labelled traces", "",
             "Command: `python bench/trace/reflection_ceiling.py --out bench/trace/results/reflection_ceiling.md`. "
             "A diagnostic: it reads the held-out Llama-8B labels, which the shipped model never sees.", "",
             "## 1. Label consistency", "",
             f"Short digit-free sentences occurring 3+ times across the 40 traces: {total} labelled chunks; "
             f"**{agree / total:.1%}** agree with the majority label of the same text. Mixed examples "
             "(occurrences, of which labelled reflection, text):", ""]
    lines += [f"- {n} × `{text}`: {pos} reflection, {n - pos} not" for n, pos, text in mixed[:12]]
    lines += ["", "## 2. Fits scored on the Llama-8B traces", "",
              "Rows 2 and 3 leave one trace out: each Llama-8B trace is scored by a model fitted without it.", "",
              f"| model | F1 at the shipped threshold ({shipped}) | best F1 over thresholds {THRESHOLDS[0]}–{THRESHOLDS[-1]} |",
              "|---|---|---|"]
    for name, scores in fits.items():
        at = chunk_f1(llama, scores, shipped)["f1"]
        best = max(chunk_f1(llama, scores, t)["f1"] for t in THRESHOLDS)
        lines.append(f"| {name} | {at:.3f} | {best:.3f} |")
    lines += ["", "Even fitted to the Llama-8B labels themselves, the features this detector sees stay well below "
              "the issue's 0.75; the labels of identical sentences disagree as shown above."]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
