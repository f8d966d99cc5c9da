"""Sentence-level reflection detection on labelled R1-distill traces: evalkit's markers against the
R1 paper's ten reflective words and oat-zero's keyword list, in one run.

A labelled sentence is a reflection when tagged `uncertainty_management` or `self_checking`.
A keyword baseline detects a sentence when one of its words is in it (R1: whole words; oat-zero:
substrings of the lowercased text, as its script counts them). evalkit detects a sentence when any
marker overlaps it (DESIGN.md "Trace markers"), with each of its two detectors: `rules` (the rule
episodes) and `learned` (the default: the episodes rescored per sentence by the model that
bench/trace/train_reflection.py fits). Rules and model were tuned on the Qwen-14B traces only (on
those the learned figure is in-sample; the model file records its leave-one-trace-out figure); the
Llama-8B traces are held out.

    python bench/trace/reflection_f1.py [--data tests/data/traces/r1distill_math_labeled.jsonl]
        [--out bench/trace/results/reflection_f1.md] [--only qwen]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from evalkit.trace import analyze

REFLECTION_TAGS = {"uncertainty_management", "self_checking"}
# DeepSeek-R1 (Nature 2025, Extended Data Fig. 1): the experts' ten reflective terms.
R1_WORDS = ("wait", "mistake", "however", "but", "retry", "error", "verify", "wrong", "evaluate", "check")
# sail-sg/oat-zero analysis/eval_self_reflect.py (latest list).
OAT_ZERO = ("recheck", "rethink", "reevaluate", "re-evaluate", "reevaluation", "re-examine", "reexamine",
            "try again", "check again", "think again", "go over the steps")
METHODS = ("r1_ten_words", "oat_zero", "evalkit (rules)", "evalkit (learned)")
_R1 = re.compile(r"\b(?:" + "|".join(R1_WORDS) + r")\b", re.IGNORECASE)


def align(response: str, chunks: list[dict]) -> list[tuple[int, int] | None]:
    """Character spans of the labelled chunks in `response` (the chunks' white space was collapsed)."""
    keep = [i for i, ch in enumerate(response) if not ch.isspace()]
    squeezed = "".join(response[i] for i in keep)
    spans, pos = [], 0
    for ch in chunks:
        key = "".join(ch["text"].split())
        at = squeezed.find(key, pos) if key else -1
        if at < 0:
            spans.append(None)
            continue
        spans.append((keep[at], keep[at + len(key) - 1] + 1))
        pos = at + len(key)
    return spans


def score(pred: list[bool], gold: list[bool]) -> dict:
    tp = sum(p and g for p, g in zip(pred, gold))
    fp = sum(p and not g for p, g in zip(pred, gold))
    fn = sum(g and not p for p, g in zip(pred, gold))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"f1": round(f1, 3), "precision": round(precision, 3), "recall": round(recall, 3), "sentences": len(gold)}


def evaluate(rows: list[dict]) -> dict[str, dict[str, list]]:
    """{method: {"pred": [...], "gold": [...]}} over every aligned labelled sentence of `rows`."""
    out = {m: {"pred": [], "gold": []} for m in METHODS}
    for row in rows:
        text = row["response"]
        found = {d: analyze(text, think_open=True, verifier=None, detector=d).markers for d in ("rules", "learned")}
        for ch, span in zip(row["chunks"], align(text, row["chunks"])):
            if span is None:
                continue
            gold = bool(REFLECTION_TAGS & set(ch["function_tags"]))
            lowered = ch["text"].lower()
            preds = {
                "r1_ten_words": bool(_R1.search(ch["text"])),
                "oat_zero": any(w in lowered for w in OAT_ZERO),
                "evalkit (rules)": any(m.start < span[1] and span[0] < m.end for m in found["rules"]),
                "evalkit (learned)": any(m.start < span[1] and span[0] < m.end for m in found["learned"]),
            }
            for m, p in preds.items():
                out[m]["pred"].append(p)
                out[m]["gold"].append(gold)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(REPO / "tests/data/traces/r1distill_math_labeled.jsonl"))
    ap.add_argument("--out", default=None)
    ap.add_argument("--only", choices=["qwen", "llama"], default=None, help="score one model only (tuning: qwen)")
    args = ap.parse_args()
    rows = [json.loads(line) for line in open(args.data, encoding="utf-8")]
    subsets = {"Qwen-14B (tuning)": "Qwen-14B", "Llama-8B (held out)": "Llama-8B", "all 40": ""}
    if args.only:
        subsets = {k: v for k, v in subsets.items() if v and v.lower().startswith(args.only)}
    results = {}
    for label, key in subsets.items():
        res = evaluate([r for r in rows if key in r["model"]])
        results[label] = {m: score(v["pred"], v["gold"]) for m, v in res.items()}
    lines = ["# Reflection detection on labelled R1-distill traces", "",
             "Sentence-level F1 (reflection = `uncertainty_management` or `self_checking`). "
             "Command: `python bench/trace/reflection_f1.py --out bench/trace/results/reflection_f1.md`", "",
             "| traces | method | F1 | precision | recall | sentences |", "|---|---|---|---|---|---|"]
    for label, per in results.items():
        for m, s in per.items():
            lines.append(f"| {label} | {m} | {s['f1']:.3f} | {s['precision']:.3f} | {s['recall']:.3f} | {s['sentences']} |")
    held = results.get("Llama-8B (held out)", {}).get("evalkit (learned)")
    model = json.loads((REPO / "evalkit/trace/reflection_model.json").read_text(encoding="utf-8"))
    cv = model["leave_one_trace_out"][str(model["threshold"])]
    lines += ["", f"The learned detector's threshold ({model['threshold']}) was chosen by leave-one-trace-out F1 on "
              f"the Qwen-14B traces: {cv['f1']:.3f} (P {cv['precision']:.3f}, R {cv['recall']:.3f}); its Qwen-14B row "
              "above is in-sample."]
    if held:
        lines += ["", f"Target (issue 5): F1 >= 0.75 on the held-out Llama-8B traces: "
                  f"**{'met' if held['f1'] >= 0.75 else 'not met'}** ({held['f1']:.3f}).",
                  "Keyword baselines match whole words for the R1 list (substring matching gives 0.550 on all 40 "
                  "and 0.501 on Llama-8B) and substrings for oat-zero, as its script counts them."]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text, encoding="utf-8")
        Path(args.out).with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
