"""Fit the `model` reflection detector (evalkit/trace/_model.py) on the traces labelled under
traces/REFLECTION_RUBRIC.md, and measure it held out.

Data (bundled, see tests/data/traces/README.md):
- gold: `r1distill_math_labeled.jsonl` (40 R1-Distill Qwen-14B / Llama-8B traces on 10 hard MATH
  problems, and their chunks) and `r1distill_math_reflection.jsonl` (one rubric label per chunk, same
  order), labelled by the project's annotator. A sentence of evalkit's splitter lies inside one chunk
  (never across two) and takes that chunk's label.
- agent: `agent_reflection.jsonl`, 58 traces of the demo (DeepSeek-R1 and R1-Distill Llama-8B /
  Qwen-7B on 20 MATH-500 problems, up to their first 700 sentences) labelled by agent annotators under
  the same rubric; on four of the gold traces they agree with the gold labels at the F1 that
  reflection_f1.py prints.

The model: multinomial logistic regression (other, doubt, check, verdict) over the sparse feature
names of `sentence_features`, features seen in at least MIN_COUNT training sentences, L2 penalty
1 / C, fitted with L-BFGS on gold and agent traces alike.

Measured (a chunk or sentence counts detected when an act overlaps it, as the hidden evaluation counts):
- leave one trace out on the 40 gold traces: each scored by a model fitted on the other 39 and all
  agent traces (grouped by trace: no sentence of a trace is ever in its own model's training set);
- leave one problem out on the gold traces: each problem's four traces scored by a model fitted on
  the other nine problems' gold traces and all agent traces (words of the problem itself never help);
- leave one problem out on the agent traces: each problem's traces (three models) scored by a model
  fitted on the 40 and the agent traces of the other 19 problems; and, beside it, scored by a model
  fitted on the 40 gold traces only: problems and a model (DeepSeek-R1) the fit never saw.
The threshold on 1 - P(other) is the one with the best pooled leave-one-trace-out F1 on the gold
traces (one scalar chosen on those predictions; the figure at it is therefore a little optimistic, the
results list every threshold). The shipped model is then fitted on all 98 traces.

    python bench/trace/train_reflection.py [--out evalkit/trace/reflection_model.json]
        [--results bench/trace/results/reflection_loto.json] [--no-loto]

`--no-loto` refits the shipped model only, at the threshold it records (what tests/test_trace.py runs).
About two minutes on 2 cores otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from multiprocessing import Pool
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # two fitting processes, one core each

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from reflection_f1 import agent_gold, align, load_agent_labelled, load_labelled, score_acts

from evalkit.trace._analyze import reflection_features
from evalkit.trace._fit import fit_weights
from evalkit.trace._model import LABELS, MODEL_PATH, ReflectionModel, feature_names

C = 0.5
MIN_COUNT = 2
THRESHOLDS = (0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6)


def trace_item(row: dict) -> dict:
    """One labelled trace as the fit sees it: its sentences, their features ((own, ctx) as the model
    reads them, and every name as the fit reads them) and labels, and the labelled chunks' spans and
    labels (for scoring)."""
    text = row["response"]
    sents, pair = reflection_features(text, think_open=True)
    spans = align(text, row["chunks"])
    gold = [(span, lab) for span, lab in zip(spans, row["labels"]) if span is not None]
    y = np.zeros(len(sents), dtype=int)
    for i, (a, b, _) in enumerate(sents):
        for (s, e), lab in gold:
            if a < e and s < b:
                y[i] = LABELS.index(lab)
                break
    return {"model": row["model"], "problem_id": row["problem_id"], "text": text, "sents": sents,
            "pair": pair, "feats": feature_names(pair), "y": y, "gold": gold}


def agent_item(row: dict) -> dict:
    """An agent-labelled trace as the fit sees it (as `trace_item`): only the sentences of its
    labelled part are fitted on and scored; their features still read the whole text."""
    sents, pair = reflection_features(row["text"], think_open=row["think_open"])
    gold = agent_gold(row, sents)
    n = len(gold)
    y = np.array([LABELS.index(lab) for _, lab in gold], dtype=int)
    return {"model": row["model"], "problem_id": row["problem_id"], "text": row["text"], "sents": sents[:n],
            "pair": pair, "feats": feature_names(pair)[:n], "y": y, "gold": gold}


def fit(items: list[dict], threshold: float = 0.5) -> ReflectionModel:
    """The model fitted on `items` from scratch (multinomial logistic, L2 1/C, L-BFGS: evalkit's fit_weights)."""
    return fit_weights([f for it in items for f in it["feats"]], np.concatenate([it["y"] for it in items]),
                       c=C, min_count=MIN_COUNT, threshold=threshold)


def predicted_acts(it: dict, probs: np.ndarray, threshold: float) -> list[tuple[int, int, str]]:
    """(start, end, kind) of the sentences `probs` makes acts at `threshold` (as _acts.model_acts does)."""
    out = []
    for (a, b, _), p in zip(it["sents"], probs):
        if 1.0 - p[0] > threshold:
            out.append((a, b, LABELS[1 + int(np.argmax(p[1:]))]))
    return out


_GOLD: list[dict] = []
_AGENT: list[dict] = []


def _held_gold(k: int) -> np.ndarray:
    """Gold trace k scored by a model fitted on the other gold traces and every agent trace."""
    return fit(_GOLD[:k] + _GOLD[k + 1:] + _AGENT).probabilities(_GOLD[k]["pair"])


def _held_problem(job: tuple[str, str]) -> tuple[str, list[tuple[int, np.ndarray]]]:
    """The traces of one problem in one set ("gold" or "agent") scored by a model fitted on every
    other problem's traces of both sets (the two sets share no problem)."""
    which, problem = job
    model = fit([it for it in _GOLD + _AGENT if it["problem_id"] != problem])
    held = _GOLD if which == "gold" else _AGENT
    return which, [(i, model.probabilities(it["pair"])) for i, it in enumerate(held) if it["problem_id"] == problem]


def _by_family(items: list[dict], acts: list[list]) -> dict:
    out = {"all": score_acts(items, acts)}
    for family in sorted({it["model"] for it in items}):
        sel = [i for i, it in enumerate(items) if it["model"] == family]
        out[family] = score_acts([items[i] for i in sel], [acts[i] for i in sel])
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(MODEL_PATH))
    ap.add_argument("--results", default=str(REPO / "bench/trace/results/reflection_loto.json"))
    ap.add_argument("--no-loto", action="store_true", help="refit the shipped model only, at its recorded threshold")
    args = ap.parse_args()
    _GOLD[:] = [trace_item(row) for row in load_labelled()]
    _AGENT[:] = [agent_item(row) for row in load_agent_labelled()]
    items = _GOLD + _AGENT
    if args.no_loto:
        best = json.loads(MODEL_PATH.read_text(encoding="utf-8"))["threshold"]
        results = None
    else:
        jobs = [(which, problem) for which, items_ in (("gold", _GOLD), ("agent", _AGENT))
                for problem in sorted({it["problem_id"] for it in items_})]
        held_problem: list = [None] * len(_GOLD)
        held_agent: list = [None] * len(_AGENT)
        with Pool(2) as pool:
            held = pool.map(_held_gold, range(len(_GOLD)))
            for which, part in pool.map(_held_problem, jobs):
                for i, probs in part:
                    (held_problem if which == "gold" else held_agent)[i] = probs
        loto, gold_lopo, lopo = {}, {}, {}
        groups = (("all 40", ""), ("Qwen-14B", "Qwen-14B"), ("Llama-8B", "Llama-8B"))
        for t in THRESHOLDS:
            for out, probs in ((loto, held), (gold_lopo, held_problem)):
                acts = [predicted_acts(it, p, t) for it, p in zip(_GOLD, probs)]
                out[str(t)] = {group: score_acts([it for it in _GOLD if key in it["model"]],
                                                 [a for it, a in zip(_GOLD, acts) if key in it["model"]])
                               for group, key in groups}
            lopo[str(t)] = _by_family(_AGENT, [predicted_acts(it, p, t) for it, p in zip(_AGENT, held_agent)])
        best = max(THRESHOLDS, key=lambda t: (loto[str(t)]["all 40"]["reflection"]["f1"], -abs(t - 0.5)))
        gold_only = fit(_GOLD)
        unseen = _by_family(_AGENT, [predicted_acts(it, gold_only.probabilities(it["pair"]), best) for it in _AGENT])
        results = {"threshold": best, "leave_one_trace_out": loto, "leave_one_problem_out": gold_lopo,
                   "agent_traces": {"leave_one_problem_out": lopo, "fitted_on_gold_only": unseen}}
    model = fit(items, best)
    data = model.data
    data["trained_on"] = {"files": ["tests/data/traces/r1distill_math_labeled.jsonl",
                                    "tests/data/traces/r1distill_math_reflection.jsonl",
                                    "tests/data/traces/agent_reflection.jsonl"],
                          "traces": len(items), "gold_traces": len(_GOLD), "agent_traces": len(_AGENT),
                          "sentences": int(sum(len(it["y"]) for it in items)), "C": C, "min_count": MIN_COUNT}
    Path(args.out).write_text(json.dumps(data, separators=(",", ":")) + "\n", encoding="utf-8")
    if results is not None:
        Path(args.results).write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
        for t in THRESHOLDS:
            s = results["leave_one_trace_out"][str(t)]["all 40"]["reflection"]
            x = results["agent_traces"]["leave_one_problem_out"][str(t)]["all"]["reflection"]
            print(f"threshold {t:.2f}: gold leave-one-trace-out F1 {s['f1']:.3f} (P {s['precision']:.3f}, "
                  f"R {s['recall']:.3f}); agent traces leave-one-problem-out F1 {x['f1']:.3f}")
        x = results["agent_traces"]["fitted_on_gold_only"]["all"]["reflection"]
        print(f"agent traces scored by a model fitted on the 40 gold traces only: F1 {x['f1']:.3f}")
    print(f"threshold {best}; wrote {args.out}")


if __name__ == "__main__":
    main()
