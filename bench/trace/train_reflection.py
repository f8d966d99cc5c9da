"""Fit the learned reflection detector (evalkit/trace/_learned.py) on the labelled Qwen-14B traces only.

A sentence's label is reflection when most of its characters lie in labelled chunks tagged
`uncertainty_management` or `self_checking`. Stage 1 is an L2 logistic regression over the
standardised features of the sentence and its two neighbours either side; stage 2 one over the stage-1
scores of the same five sentences. The threshold is the one with the best leave-one-trace-out F1 on
the Qwen-14B traces (chunk level, scored as bench/trace/reflection_f1.py scores). The Llama-8B traces
are never read here: they are the held-out test.

    python bench/trace/train_reflection.py [--out evalkit/trace/reflection_model.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from reflection_f1 import REFLECTION_TAGS, align, score

from evalkit.trace._analyze import reflection_features
from evalkit.trace._learned import MODEL_PATH, ReflectionModel, feature_names, learned_markers, with_neighbours

DATA = REPO / "tests/data/traces/r1distill_math_labeled.jsonl"
TUNING_MODEL = "DeepSeek-R1-Distill-Qwen-14B"
L2_STAGE1, L2_STAGE2 = 100.0, 1.0
THRESHOLDS = tuple(round(0.2 + 0.05 * k, 2) for k in range(7))


def sentence_labels(text: str, chunks: list[dict], sents: list) -> np.ndarray:
    positive = [span for span, ch in zip(align(text, chunks), chunks)
                if span is not None and REFLECTION_TAGS & set(ch["function_tags"])]
    y = np.zeros(len(sents))
    for i, (a, b, _) in enumerate(sents):
        inside = sum(max(0, min(b, e) - max(a, s)) for s, e in positive)
        y[i] = 1.0 if inside > (b - a) / 2 else 0.0
    return y


def fit_logistic(X: np.ndarray, y: np.ndarray, l2: float) -> tuple[np.ndarray, float]:
    """L2-penalised logistic regression (bias unpenalised) by Newton's method."""
    Xb = np.concatenate([X, np.ones((len(y), 1))], axis=1)
    lam = np.full(Xb.shape[1], l2)
    lam[-1] = 0.0
    w = np.zeros(Xb.shape[1])
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-np.clip(Xb @ w, -40, 40)))
        grad = Xb.T @ (p - y) + lam * w
        hess = Xb.T @ (Xb * (p * (1 - p))[:, None]) + np.diag(lam + 1e-9)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-10:
            break
    return w[:-1], float(w[-1])


def fit(items: list[dict], threshold: float = 0.5) -> ReflectionModel:
    Z = np.concatenate([with_neighbours(it["X"]) for it in items])
    y = np.concatenate([it["y"] for it in items])
    mean = Z.mean(axis=0)
    scale = Z.std(axis=0)
    scale[scale < 1e-9] = 1.0  # a feature constant in training contributes nothing
    w1, b1 = fit_logistic((Z - mean) / scale, y, L2_STAGE1)
    model = ReflectionModel({
        "features": feature_names(), "threshold": threshold,
        "stage1": {"mean": mean.tolist(), "scale": scale.tolist(), "weights": w1.tolist(), "bias": b1},
        "stage2": {"weights": [0.0] * 5, "bias": 0.0},
    })
    S = np.concatenate([with_neighbours(model.stage1(it["X"])[:, None]) for it in items])
    w2, b2 = fit_logistic(S, y, L2_STAGE2)
    model.data["stage2"] = {"weights": w2.tolist(), "bias": b2}
    return ReflectionModel(model.data)


def chunk_f1(items: list[dict], scores: list[np.ndarray], threshold: float) -> dict:
    pred, gold = [], []
    for it, s in zip(items, scores):
        text, chunks = it["row"]["response"], it["row"]["chunks"]
        markers = learned_markers(text, it["sents"], s, threshold, it["rule_markers"])
        for ch, span in zip(chunks, align(text, chunks)):
            if span is None:
                continue
            gold.append(bool(REFLECTION_TAGS & set(ch["function_tags"])))
            pred.append(any(m.start < span[1] and span[0] < m.end for m in markers))
    return score(pred, gold)


def trace_item(row: dict) -> dict:
    """One labelled trace as the fit sees it: its sentences, feature rows, rule episodes and labels."""
    sents, X, rule_markers = reflection_features(row["response"], think_open=True)
    return {"row": row, "sents": sents, "X": X, "rule_markers": rule_markers,
            "y": sentence_labels(row["response"], row["chunks"], sents)}


def load_items(path: Path) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return [trace_item(row) for row in rows if row["model"].endswith(TUNING_MODEL)]  # the rest is held out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--out", default=str(MODEL_PATH))
    args = ap.parse_args()
    items = load_items(Path(args.data))
    # leave one trace out: each trace scored by a model fitted on the other 19
    held = [fit(items[:k] + items[k + 1:]).scores(items[k]["X"]) for k in range(len(items))]
    cv = {t: chunk_f1(items, held, t) for t in THRESHOLDS}
    best = max(THRESHOLDS, key=lambda t: (cv[t]["f1"], -abs(t - 0.5)))
    model = fit(items, best)
    data = model.data
    data["trained_on"] = {"file": "tests/data/traces/r1distill_math_labeled.jsonl", "model": TUNING_MODEL,
                          "traces": len(items), "sentences": int(sum(len(it["y"]) for it in items)),
                          "l2": [L2_STAGE1, L2_STAGE2]}
    data["leave_one_trace_out"] = {str(t): cv[t] for t in THRESHOLDS}
    _round(data)
    Path(args.out).write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    for t in THRESHOLDS:
        print(f"threshold {t:.2f}: leave-one-trace-out F1 {cv[t]['f1']:.3f} (P {cv[t]['precision']:.3f}, R {cv[t]['recall']:.3f})")
    print(f"chosen threshold {best}; wrote {args.out}")


def _round(data: dict) -> None:
    for stage in ("stage1", "stage2"):
        for key, value in data[stage].items():
            data[stage][key] = [float(f"{v:.8g}") for v in value] if isinstance(value, list) else float(f"{value:.8g}")


if __name__ == "__main__":
    main()
