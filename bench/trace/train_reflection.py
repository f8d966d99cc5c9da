"""Fit the `model` reflection detector (evalkit/trace/_model.py) on the 40 traces labelled under
traces/REFLECTION_RUBRIC.md, and measure it leave one trace out.

Data (bundled, see tests/data/traces/README.md): `r1distill_math_labeled.jsonl` (the 40 traces and
their chunks) and `r1distill_math_reflection.jsonl` (one rubric label per chunk, same order). A
sentence of evalkit's splitter lies inside one chunk (never across two) and takes that chunk's label.

The model: multinomial logistic regression (other, doubt, check, verdict) over the sparse feature
names of `sentence_features`, features seen in at least MIN_COUNT training sentences, L2 penalty
1 / C, fitted with L-BFGS. Leave one trace out: each of the 40 traces is scored by a model fitted on
the other 39 (grouped by trace: no sentence of a trace is ever in its own model's training set), and
a chunk counts detected when an act overlaps it, as the hidden evaluation counts. The threshold on
1 - P(other) is the one with the best pooled leave-one-trace-out F1 (one scalar chosen on those
predictions; the figure at it is therefore a little optimistic, the table shows every threshold).
The shipped model is then fitted on all 40.

    python bench/trace/train_reflection.py [--out evalkit/trace/reflection_model.json]
        [--results bench/trace/results/reflection_loto.json] [--no-loto]

`--no-loto` refits the shipped model only, at the threshold it records (what tests/test_trace.py runs).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from reflection_f1 import align, load_labelled, score_acts

from evalkit.trace._analyze import reflection_features
from evalkit.trace._model import LABELS, MODEL_PATH, ReflectionModel, feature_names, softmax

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
            "pair": pair, "feats": feature_names(*pair), "y": y, "gold": gold}


def fit(items: list[dict], threshold: float = 0.5) -> ReflectionModel:
    """The model fitted on `items` (multinomial logistic, L2 1/C, L-BFGS)."""
    import scipy.sparse as sp
    from scipy.optimize import minimize

    counts = Counter(f for it in items for fs in it["feats"] for f in set(fs))
    vocab = sorted(k for k, v in counts.items() if v >= MIN_COUNT)
    index = {k: i for i, k in enumerate(vocab)}
    rows, cols, r0 = [], [], 0
    for it in items:
        for i, fs in enumerate(it["feats"]):
            for k in {index[f] for f in fs if f in index}:
                rows.append(r0 + i)
                cols.append(k)
        r0 += len(it["feats"])
    X = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(r0, len(vocab)))
    Y = np.eye(len(LABELS))[np.concatenate([it["y"] for it in items])]
    V, L = len(vocab), len(LABELS)

    def loss(w):
        W, b = w[:V * L].reshape(V, L), w[V * L:]
        P = softmax(X @ W + b)
        G = P - Y
        value = -np.sum(Y * np.log(P + 1e-12)) + 0.5 / C * np.sum(W * W)
        return value, np.concatenate([(X.T @ G + W / C).ravel(), G.sum(axis=0)])

    res = minimize(loss, np.zeros(V * L + L), jac=True, method="L-BFGS-B", options={"maxiter": 1000})
    W, b = res.x[:V * L].reshape(V, L), res.x[V * L:]
    return ReflectionModel({"labels": list(LABELS), "features": vocab,
                            "weights": [[float(f"{x:.6g}") for x in row] for row in W],
                            "bias": [float(f"{x:.6g}") for x in b], "threshold": threshold})


def predicted_acts(it: dict, probs: np.ndarray, threshold: float) -> list[tuple[int, int, str]]:
    """(start, end, kind) of the sentences `probs` makes acts at `threshold` (as _acts.model_acts does)."""
    out = []
    for (a, b, _), p in zip(it["sents"], probs):
        if 1.0 - p[0] > threshold:
            out.append((a, b, LABELS[1 + int(np.argmax(p[1:]))]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(MODEL_PATH))
    ap.add_argument("--results", default=str(REPO / "bench/trace/results/reflection_loto.json"))
    ap.add_argument("--no-loto", action="store_true", help="refit the shipped model only, at its recorded threshold")
    args = ap.parse_args()
    items = [trace_item(row) for row in load_labelled()]
    if args.no_loto:
        best = json.loads(MODEL_PATH.read_text(encoding="utf-8"))["threshold"]
        loto = None
    else:
        # leave one trace out: each trace scored by a model fitted on the other 39
        held = []
        for k in range(len(items)):
            model = fit(items[:k] + items[k + 1:])
            held.append(model.probabilities(items[k]["pair"]))
            print(f"trace {k + 1}/{len(items)} scored", file=sys.stderr)
        loto = {}
        for t in THRESHOLDS:
            acts = [predicted_acts(it, p, t) for it, p in zip(items, held)]
            loto[str(t)] = {group: score_acts([it for it in items if key in it["model"]],
                                              [a for it, a in zip(items, acts) if key in it["model"]])
                            for group, key in (("all 40", ""), ("Qwen-14B", "Qwen-14B"), ("Llama-8B", "Llama-8B"))}
        best = max(THRESHOLDS, key=lambda t: (loto[str(t)]["all 40"]["reflection"]["f1"], -abs(t - 0.5)))
    model = fit(items, best)
    data = model.data
    data["trained_on"] = {"files": ["tests/data/traces/r1distill_math_labeled.jsonl",
                                    "tests/data/traces/r1distill_math_reflection.jsonl"],
                          "traces": len(items), "sentences": int(sum(len(it["y"]) for it in items)),
                          "C": C, "min_count": MIN_COUNT}
    Path(args.out).write_text(json.dumps(data, separators=(",", ":")) + "\n", encoding="utf-8")
    if loto is not None:
        Path(args.results).write_text(json.dumps({"threshold": best, "leave_one_trace_out": loto}, indent=1) + "\n",
                                      encoding="utf-8")
        for t in THRESHOLDS:
            s = loto[str(t)]["all 40"]["reflection"]
            print(f"threshold {t:.2f}: leave-one-trace-out F1 {s['f1']:.3f} (P {s['precision']:.3f}, R {s['recall']:.3f})")
    print(f"threshold {best}; wrote {args.out}")


if __name__ == "__main__":
    main()
