"""What labelling a few traces of one model gains: the detector adapted to them (`evalkit fit-detector`,
evalkit.trace.fit_detector) beside a refit from scratch with them (what bench/trace/train_reflection.py
does with every labelled trace), leave one problem out on the agent-labelled traces.

For each model of the agent traces (DeepSeek-R1 `deepseek-reasoner`, R1-Distill-Qwen-7B, R1-Distill-Llama-8B)
and each of the 20 problems, that model's trace of the problem is scored by
- base: a model fitted from scratch on the 40 gold traces and the agent traces of the two other
  models on the other problems: the shipped detector as it would be had it never seen this model;
- refit with N: the same fit with N traces of this model (other problems) added;
- adapted with N: base adapted to those N traces alone (its weights and biases the start and the centre
  of the penalty, 1/C), as `fit-detector` adapts the shipped weights.
N = 5, 10 and all (19; 17 for Llama-8B, which has 18 traces); the N traces are a seeded random draw
per problem. Every row uses the shipped threshold. No trace here is one of issue 19's held-out ten.

    python bench/trace/adapt_reflection.py [--out bench/trace/results/adapt_reflection.md] [--c 0.5,1,2]

About ten minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
from multiprocessing import Pool
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # two fitting processes, one core each

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from reflection_f1 import load_agent_labelled, load_labelled, score_acts
from train_reflection import agent_item, fit, predicted_acts, trace_item

from evalkit.trace._fit import ADAPT_C, fit_weights
from evalkit.trace._model import MODEL_PATH

SIZES = (5, 10, None)  # None: every trace of the model on the other problems
_GOLD: list[dict] = []
_AGENT: list[dict] = []
_CS: tuple[float, ...] = (ADAPT_C,)


def _adapt(base, items: list[dict], c: float):
    return fit_weights([f for it in items for f in it["feats"]], np.concatenate([it["y"] for it in items]),
                       base=base, c=c)


def _job(job: tuple[str, str]) -> tuple[str, str, int, dict]:
    """The one trace of `family` on `problem`, scored by every row's model (probabilities per row)."""
    family, problem = job
    held = next(i for i, it in enumerate(_AGENT) if it["model"] == family and it["problem_id"] == problem)
    others = [it for it in _AGENT if it["problem_id"] != problem and it["model"] != family]
    own = [it for it in _AGENT if it["problem_id"] != problem and it["model"] == family]
    rng = random.Random(f"{family}/{problem}")
    pair = _AGENT[held]["pair"]
    base = fit(_GOLD + others)
    out = {"base": base.probabilities(pair)}
    for n in SIZES:
        some = own if n is None or n >= len(own) else rng.sample(own, n)
        label = "all" if n is None else str(n)
        out[f"refit with {label}"] = fit(_GOLD + others + some).probabilities(pair)
        for c in _CS:
            out[f"adapted with {label} (C={c:g})"] = _adapt(base, some, c).probabilities(pair)
    return family, problem, held, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(REPO / "bench/trace/results/adapt_reflection.md"))
    ap.add_argument("--c", default=f"{ADAPT_C:g}", help="the adaptation's C values, comma-separated")
    args = ap.parse_args()
    global _CS
    _CS = tuple(float(x) for x in args.c.split(","))
    _GOLD[:] = [trace_item(row) for row in load_labelled()]
    _AGENT[:] = [agent_item(row) for row in load_agent_labelled()]
    threshold = json.loads(MODEL_PATH.read_text(encoding="utf-8"))["threshold"]
    families = sorted({it["model"] for it in _AGENT})
    jobs = [(it["model"], it["problem_id"]) for it in _AGENT]
    with Pool(2) as pool:
        results = pool.map(_job, jobs)
    rows = list(results[0][3])
    table = {}
    for family in families:
        mine = [(held, out) for fam, _, held, out in results if fam == family]
        items = [_AGENT[held] for held, _ in mine]
        for row in rows:
            acts = [predicted_acts(it, out[row], threshold) for it, (_, out) in zip(items, mine)]
            table[row, family] = score_acts(items, acts)["reflection"]
    lines = [
        "# Adapting the reflection detector to one model's labelled traces",
        "",
        "Command: `python bench/trace/adapt_reflection.py --out bench/trace/results/adapt_reflection.md"
        f" --c {args.c}`",
        "",
        "Data: the 58 agent-labelled demo traces (tests/data/traces/agent_reflection.jsonl) and the 40 gold traces. "
        "Each model's trace of a problem is scored by: **base**, fitted from scratch on the gold traces and the other "
        "two models' agent traces of the other problems (the shipped detector as it would be had it never seen this "
        "model); **refit with N**, the same fit with N of this model's traces on other problems added (what "
        "`bench/trace/train_reflection.py` does); **adapted with N**, base adapted to those N traces alone, as "
        "`evalkit fit-detector` adapts the shipped weights (the base weights and biases are the start and the centre of the "
        "penalty 1/C). N traces are a seeded random draw per problem; `all` is 19 (17 for Llama-8B). Threshold "
        f"{threshold} (the shipped one) throughout. Sentence-level F1 (precision / recall), a sentence detected "
        "when an act overlaps it. None of these traces is one of issue 19's held-out ten.",
        "",
        "| detector | " + " | ".join(f.split("/")[-1] for f in families) + " |",
        "|---|" + "---|" * len(families),
    ]
    for row in rows:
        cells = [f"{table[row, f]['f1']:.3f} ({table[row, f]['precision']:.2f} / {table[row, f]['recall']:.2f})"
                 for f in families]
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    Path(args.out).write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
