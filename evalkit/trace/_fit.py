"""Fitting the `model` reflection detector: from scratch on labelled traces (what
`bench/trace/train_reflection.py` does for the shipped weights), or adapted to one model's traces
starting from the shipped weights.

A labelled file is JSON lines, one trace a line (what `label_sheet` writes, corrected by a person):

    {"completion": "<think>...</think>...", "think_open": false, "think_format": "r1",
     "sentences": [{"start": 7, "end": 29, "text": "Wait, is that right?", "label": "doubt"}, ...]}

`think_format` is a built-in format's name, or a user's row itself (its fields, as config.json records
it). `label` is doubt, check, verdict or other (traces/REFLECTION_RUBRIC.md); `start`/`end` are character
offsets into `completion`, and `text`, when given, must be `completion[start:end]` (a guard against
offsets that no longer point where they did). A sentence of the detector takes the label of the listed
sentence it overlaps (a reflective one first); sentences that overlap none are not fitted on, so a
sheet can be labelled in part.
"""

from __future__ import annotations

import bisect
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from evalkit.errors import InputError
from evalkit.jsonl import read_jsonl_numbered
from evalkit.trace._model import (LABELS, ReflectionModel, SentenceFeatures, feature_names, load_model, model_of,
                                  softmax, table_of)
from evalkit.trace._rules import BUILTIN, RULES, Rule, rule_to_dict

# The penalty 1 / C on the weights: around zero for a fit from scratch (the shipped fit's), around the
# base model's weights for an adaptation. C = 1 was best leave one problem out when the agent traces of
# one model (DeepSeek-R1, R1-Distill Qwen-7B or Llama-8B) adapted a model that never saw that model
# (bench/trace/results/adapt_reflection.md).
SCRATCH_C = 0.5
ADAPT_C = 1.0
MIN_COUNT = 2  # a new feature must occur in this many labelled sentences


@dataclass(frozen=True)
class LabelledTrace:
    """One trace with labels: the completion, how it thinks, and labelled sentences
    (start, end, label) in character offsets; `source` names it in errors ("file:line")."""

    completion: str
    spans: tuple[tuple[int, int, str], ...]
    think_open: bool = False
    think_format: str | dict[str, Any] | None = None
    source: str = ""


def read_labelled(path: str | Path) -> list[LabelledTrace]:
    """The traces of a labelled JSONL file (format in this module's docstring); InputError names the
    file, line and field of anything malformed."""
    out = []
    for n, row in read_jsonl_numbered(path):
        where = f"{path}:{n}"
        text = row.get("completion")
        if not isinstance(text, str):
            raise InputError(f"{where}: field 'completion' must be the trace's text")
        sentences = row.get("sentences")
        if not isinstance(sentences, list):
            raise InputError(f"{where}: field 'sentences' must be a list of {{start, end, label}}")
        spans = []
        for k, s in enumerate(sentences):
            field = f"{where}: sentences[{k}]"
            if not isinstance(s, dict):
                raise InputError(f"{field}: expected an object {{start, end, label}}")
            a, b, label = s.get("start"), s.get("end"), s.get("label")
            if not (type(a) is int and type(b) is int and 0 <= a < b <= len(text)):
                raise InputError(f"{field}: start and end must be offsets into completion with "
                                 f"0 <= start < end <= {len(text)}, got {a!r}, {b!r}")
            if label not in LABELS:
                raise InputError(f"{field}.label: expected one of {', '.join(LABELS[1:])}, other; got {label!r}")
            if "text" in s and s["text"] != text[a:b]:
                raise InputError(f"{field}.text: is not completion[{a}:{b}] ({text[a:b][:60]!r}); "
                                 "the completion or the offsets changed since the sheet was written")
            spans.append((a, b, label))
        think_open = row.get("think_open", False)
        if not isinstance(think_open, bool):
            raise InputError(f"{where}: field 'think_open' must be true or false")
        think_format = row.get("think_format")
        if think_format is not None and not isinstance(think_format, (str, dict)):
            raise InputError(f"{where}: field 'think_format' must be a think format's name or its row")
        out.append(LabelledTrace(text, tuple(spans), think_open, think_format, where))
    return out


def sentence_labels(sents: Sequence[tuple[int, int, bool]], spans: Iterable[tuple[int, int, str]]) -> list[int | None]:
    """Per detector sentence, the index in LABELS of the labelled span it overlaps (a reflective one
    before `other`), or None when it overlaps none."""
    find = _overlapping(sents)
    hits: list[list[int]] = [[] for _ in sents]
    for s, e, lab in spans:  # in the spans' order, as before: the first reflective label a sentence meets wins
        k = LABELS.index(lab)
        for i in find(s, e):
            hits[i].append(k)
    return [next((k for k in hit if k), 0) if hit else None for hit in hits]


def _overlapping(sents: Sequence[tuple[int, int, bool]]) -> Callable[[int, int], Iterable[int]]:
    """A function giving the indices of the sentences that overlap [start, end). The detector's sentences come in
    order, apart, so those are one run found by bisection (testing every sentence against every span took 16 of
    19 s on a 20,000-sentence sheet); sentences out of order are tested one by one."""
    starts, ends = [a for a, _, _ in sents], [b for _, b, _ in sents]
    if all(ends[i] <= starts[i + 1] for i in range(len(sents) - 1)):
        return lambda start, end: range(bisect.bisect_right(ends, start), bisect.bisect_left(starts, end))
    return lambda start, end: [i for i, (a, b) in enumerate(zip(starts, ends)) if a < end and start < b]


def _labelled(trace: LabelledTrace, rules: tuple[Rule, ...] | None = None
              ) -> tuple[SentenceFeatures, list[int], np.ndarray]:
    """The detector's view of one trace: its sentences' features (with the rule table `rules`, None the
    built-in one), which sentences are labelled, and their labels (indices into LABELS)."""
    from evalkit.thinking import get_format
    from evalkit.trace._analyze import reflection_features

    try:
        fmt = get_format(trace.think_format)
    except InputError as e:
        raise InputError(f"{trace.source}: field 'think_format': {e}") from None
    sents, feats = reflection_features(trace.completion, trace.think_open, rules, think_format=fmt)
    labels = sentence_labels(sents, trace.spans)
    keep = [i for i, y in enumerate(labels) if y is not None]
    return feats, keep, np.array([labels[i] for i in keep], dtype=int)


def fit_weights(feats: Sequence[list[str]], y: np.ndarray, *, base: ReflectionModel | None = None,
                c: float | None = None, min_count: int = MIN_COUNT, threshold: float | None = None) -> ReflectionModel:
    """A multinomial logistic model over the sentences' feature names `feats` and labels `y` (indices
    into LABELS), fitted with L-BFGS. Without `base`: L2 penalty 1/c around zero, features seen in at
    least `min_count` sentences. With `base`: its features, weights and biases are the start and the
    penalty's centre, so a few labelled traces move only what they show (new features join as above;
    a free bias would let a sheet of one trace, or one labelled in part, shift a whole kind: a sheet
    of 19 `other` sentences and one verdict once left a model that found no doubt or check anywhere);
    `threshold` defaults to the base's."""
    import scipy.sparse as sp
    from scipy.optimize import minimize

    c = c if c is not None else (SCRATCH_C if base is None else ADAPT_C)
    counts = Counter(f for fs in feats for f in set(fs))
    vocab = {k for k, v in counts.items() if v >= min_count}
    if base is not None:
        vocab.update(base.index)
    vocab = sorted(vocab)
    index = {k: i for i, k in enumerate(vocab)}
    rows, cols = [], []
    for i, fs in enumerate(feats):
        for k in {index[f] for f in fs if f in index}:
            rows.append(i)
            cols.append(k)
    X = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(feats), len(vocab)))
    Y = np.eye(len(LABELS))[y]
    V, L = len(vocab), len(LABELS)
    W0, b0 = np.zeros((V, L)), np.zeros(L)
    if base is not None:
        known = [(i, base.index[k]) for k, i in index.items() if k in base.index]
        W0[[i for i, _ in known]] = base.weights[[j for _, j in known]]
        b0 = base.bias.copy()

    held = 0.0 if base is None else 1.0  # from scratch the biases are free

    def loss(w):
        W, b = w[:V * L].reshape(V, L), w[V * L:]
        P = softmax(X @ W + b)
        G = P - Y
        D, E = W - W0, held * (b - b0)
        value = -np.sum(Y * np.log(P + 1e-12)) + 0.5 / c * (np.sum(D * D) + np.sum(E * E))
        return value, np.concatenate([(X.T @ G + D / c).ravel(), G.sum(axis=0) + E / c])

    res = minimize(loss, np.concatenate([W0.ravel(), b0]), jac=True, method="L-BFGS-B", options={"maxiter": 1000})
    W, b = res.x[:V * L].reshape(V, L), res.x[V * L:]
    if threshold is None:
        threshold = base.threshold if base is not None else 0.5
    return ReflectionModel({"labels": list(LABELS), "features": vocab,
                            "weights": [[float(f"{x:.6g}") for x in row] for row in W],
                            "bias": [float(f"{x:.6g}") for x in b], "threshold": threshold})


def fit_detector(traces: Sequence[LabelledTrace], *, base: ReflectionModel | str | Path | None = "shipped",
                 c: float | None = None, rules: Sequence[Rule] | None = None) -> ReflectionModel:
    """The `model` detector fitted on labelled traces: adapted from `base` ("shipped": the weights
    evalkit ships; a path: a model file; None: from scratch, which needs far more traces), with its
    threshold (the shipped one from scratch). `c`: the penalty's inverse (default ADAPT_C adapting, SCRATCH_C from scratch).
    rules: the rule table to read the traces with (`load_rules` of a user's YAML; None: the base's
    table). The model carries the rows not built in (every row, when the table does not end with the
    built-in one), and analysis with it reads traces with the same table, the rows as its features, not
    as acts of their own. InputError when no sentence is labelled."""
    base = _base(base)
    table = table_of(base, rules)
    views = [_labelled(t, table) for t in traces]
    _some_reflection(views)
    return _fit(views, base, c, table)


def _some_reflection(views: Sequence[tuple[SentenceFeatures, list[int], np.ndarray]]) -> None:
    """InputError where sentences are labelled and none of them doubt, check or verdict: such a fit (a
    `--blank` sheet not yet labelled, say) finds almost no reflection anywhere, and nothing would say so; and
    where none of them is other (a sheet that labels only the reflective sentences): such a fit marks reflection
    nearly everywhere, and its held-out F1 on such sheets, 1.0, would not show it."""
    y = [v[2] for v in views if len(v[2])]
    if not y:
        return
    n = sum(len(labels) for labels in y)
    if not any(int(np.max(labels)) > 0 for labels in y):
        raise InputError(f"fit-detector: every one of the {n} labelled sentences is {LABELS[0]}, none "
                         f"{', '.join(LABELS[1:-1])} or {LABELS[-1]}: a detector fitted on them would find almost no "
                         "reflection (a --blank sheet starts all other: label its reflective sentences first)")
    if not any(int(np.min(labels)) == 0 for labels in y):
        raise InputError(f"fit-detector: none of the {n} labelled sentences is {LABELS[0]}: a detector fitted on "
                         "them would mark reflection nearly everywhere (label some sentences that judge nothing "
                         f"{LABELS[0]} too; a sheet labelled in part keeps the labels it has)")


LEAVE_ONE_OUT_UP_TO = 20  # traces; above, the traces are held out in FOLDS groups (one fit per group)
FOLDS = 10


def cross_validate(traces: Sequence[LabelledTrace], *, base: ReflectionModel | str | Path | None = "shipped",
                   c: float | None = None, rules: Sequence[Rule] | None = None,
                   thresholds: Sequence[float] = (), progress: Any = None) -> dict[str, Any]:
    """Held-out F1 on the user's own labelled traces: each trace scored by the detector `fit_detector`
    fits on the traces not held out with it (same `base`, `c`, `rules`), and by `base` itself, pooled
    over the traces: {"traces": n, "distinct": completions, "folds": k, "fitted": {f1, precision, recall,
    sentences}, "base": {...} (None from scratch)}. Up to LEAVE_ONE_OUT_UP_TO traces, one trace is held out at
    a time; more are held out in FOLDS groups of whole traces (every FOLDS-th trace together), so a hundred
    traces take ten fits, not a hundred. Traces with the same completion count as one: held out together. The figure that says whether the fit reads traces it never saw
    better than the base (the in-sample `agreement` always says so). thresholds: also score both at
    each of these instead of their own (`by_threshold`: [{threshold, fitted, base}], F1s).
    progress: called with (fits done, fits) after each fit. InputError below two labelled traces."""
    base = _base(base)
    table = table_of(base, rules)
    labelled = [(t, _labelled(t, table)) for t in traces]
    labelled = [(t, v) for t, v in labelled if len(v[2])]
    _some_reflection([v for _, v in labelled])
    # copies of one completion (a sheet given twice, a sample repeated) are held out together: one left in
    # the fit would score its twin as if unseen
    group_of: dict[str, int] = {}
    groups = [group_of.setdefault(t.completion, len(group_of)) for t, _ in labelled]
    views = [v for _, v in labelled]
    if len(group_of) < 2:
        raise InputError("fit-detector --cv: needs two traces with labelled sentences at least (two different "
                         "completions), one to hold out")
    k = len(group_of) if len(group_of) <= LEAVE_ONE_OUT_UP_TO else FOLDS
    counts = np.zeros((2, 1 + len(thresholds), 3), dtype=int)  # fitted, base; own threshold, then each
    for fold in range(k):
        held = [v for v, g in zip(views, groups) if g % k == fold]
        fitted = _fit([v for v, g in zip(views, groups) if g % k != fold], base, c, table)
        for feats, keep, y in held:
            counts[0] += _confusion(fitted, feats, keep, y, [fitted.threshold, *thresholds])
            if base is not None:
                counts[1] += _confusion(base, feats, keep, y, [base.threshold, *thresholds])
        if progress is not None:
            progress(fold + 1, k)
    sentences = sum(len(v[2]) for v in views)
    out = {"traces": len(views), "distinct": len(group_of), "folds": k, "fitted": _scores(counts[0, 0], sentences),
           "base": _scores(counts[1, 0], sentences) if base is not None else None}
    if thresholds:
        out["by_threshold"] = [{"threshold": t, "fitted": _scores(counts[0, j], sentences)["f1"],
                                "base": _scores(counts[1, j], sentences)["f1"] if base is not None else None}
                               for j, t in enumerate(thresholds, 1)]
    return out


def _base(base: ReflectionModel | str | Path | None) -> ReflectionModel | None:
    return None if base is None else model_of(base)


def _fit(views: Sequence[tuple[SentenceFeatures, list[int], np.ndarray]], base: ReflectionModel | None,
         c: float | None, table: tuple[Rule, ...] | None) -> ReflectionModel:
    """The model fitted on the labelled views (`_labelled`) of some traces; see `fit_detector`."""
    c = c if c is not None else (SCRATCH_C if base is None else ADAPT_C)
    feats: list[list[str]] = []
    for sentence_feats, keep, _ in views:
        names = feature_names(sentence_feats)
        feats.extend(names[i] for i in keep)
    y = np.concatenate([v[2] for v in views]) if views else np.zeros(0, dtype=int)
    if not len(y):
        raise InputError("fit-detector: no labelled sentence (each line needs 'sentences' that overlap the thinking)")
    # from scratch too, the shipped threshold: a handful of traces cannot choose a better one
    data = fit_weights(feats, y, base=base, c=c, threshold=(base or load_model()).threshold).data
    counts = np.bincount(y, minlength=len(LABELS))
    data["trained_on"] = {"traces": sum(1 for v in views if len(v[2])), "sentences": int(len(y)), "C": c,
                          "labels": dict(zip(LABELS, map(int, counts))),
                          "adapted_from": None if base is None else base.data.get("trained_on", {})}
    own, builtin = _carried(table)
    if own:
        data["rules"] = [rule_to_dict(r) for r in own]
    if not builtin:
        data["builtin_rules"] = False
    return ReflectionModel(data)


def _carried(table: Sequence[Rule] | None) -> tuple[tuple[Rule, ...], bool]:
    """What a model fitted with the rule table `table` carries so that analysis reads traces with the
    same table (`table_of`): the rows before the built-in table, and True, when the table ends with
    it (as `load_rules` extends it); else every row, and False (the built-in table is not appended)."""
    if table is None:
        return (), True
    table, n = tuple(table), len(RULES)
    if len(table) >= n and table[len(table) - n:] == RULES:
        return tuple(r for r in table[:len(table) - n] if r not in BUILTIN), True
    return table, False


def save_model(model: ReflectionModel, path: str | Path) -> None:
    """Write `model` where `analyze(..., reflection_model=path)` and `--reflection-model` read it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    from evalkit.outputs import write_whole

    with write_whole(path, f"{path.name} is as it was", encoding="utf-8") as f:  # whole or not at all
        f.write(json.dumps(model.data, separators=(",", ":")) + "\n")


def label_sheet(rows: Sequence[dict[str, Any]], *, completion_field: str = "completion", think_open: bool = False,
                think_format: Any = "auto", blank: bool = False,
                reflection_model: ReflectionModel | str | Path | None = None,
                rules: Sequence[Rule] | None = None) -> list[dict]:
    """Lines of a labelling sheet for `rows` (dicts holding the completion): every sentence of each
    thinking with the detector's label (`blank`: all `other`), for a person to correct and
    `fit_detector` to read. A row's own `think_open` wins over `think_open`. reflection_model, rules:
    the detector that guesses (a model file; a rule table, as for `analyze_many`)."""
    from evalkit.thinking import FORMATS, ThinkFormat, decide
    from evalkit.trace._analyze import analyze_many, reflection_features

    texts = [r[completion_field] for r in rows]
    opens = [bool(r.get("think_open", think_open)) for r in rows]
    # a format the caller decided already (the command line's, which warned once if the texts are unlike it)
    fmt = think_format if isinstance(think_format, ThinkFormat) else \
        decide(think_format, completions=texts, think_open=any(opens)).format
    named = fmt.name if FORMATS.get(fmt.name) == fmt else fmt.to_dict()  # a user's row is written whole
    model = model_of(reflection_model)
    stats = analyze_many(texts, verifier=None, think_open=opens, think_format=fmt, reflection_model=model, rules=rules)
    table = table_of(model, rules)
    out = []
    for text, is_open, st in zip(texts, opens, stats):
        sents, _ = reflection_features(text, is_open, table, think_format=fmt)
        kinds = ["other"] * len(sents)
        if not blank:  # an act is one sentence (or a rule's span over several): each sentence it covers
            find = _overlapping(sents)
            for m in st.markers:
                for i in find(m.start, m.end):
                    kinds[i] = m.kind
        out.append({"completion": text, "think_open": is_open, "think_format": named,
                    "sentences": [{"start": a, "end": b, "text": text[a:b], "label": k}
                                  for (a, b, _), k in zip(sents, kinds)]})
    return out


def agreement(traces: Sequence[LabelledTrace], *models: ReflectionModel,
              rules: Sequence[Rule] | None = None) -> list[dict[str, float | int]]:
    """How each of `models` agrees with the traces' labels, sentence by sentence (reflection or not, at
    its threshold): {f1, precision, recall, sentences} per model, the traces read once with the rule
    table `rules` (None: the first model's, `table_of`). On the traces a model was fitted on this is
    in-sample."""
    table = table_of(models[0] if models else None, rules)
    counts = np.zeros((len(models), 3), dtype=int)  # per model: tp, fp, fn
    n = 0
    for trace in traces:
        feats, keep, y = _labelled(trace, table)
        n += len(y)
        for k, model in enumerate(models):
            counts[k] += _confusion(model, feats, keep, y)
    return [_scores(row, n) for row in counts]


def _confusion(model: ReflectionModel, feats: SentenceFeatures, keep: list[int], y: np.ndarray,
               thresholds: Sequence[float] | None = None) -> np.ndarray:
    """(true positives, false positives, false negatives) of `model` on one trace's labelled sentences,
    reflection or not at its threshold; one row per threshold of `thresholds` when given."""
    gold = y > 0
    reflective = 1.0 - model.probabilities(feats)[keep, 0]
    said = reflective[None, :] > np.asarray([model.threshold] if thresholds is None else thresholds)[:, None]
    counts = np.stack([np.sum(said & gold, axis=1), np.sum(said & ~gold, axis=1), np.sum(~said & gold, axis=1)], axis=1)
    return counts[0] if thresholds is None else counts


def _scores(counts: np.ndarray, sentences: int) -> dict[str, float | int]:
    tp, fp, fn = (int(x) for x in counts)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"f1": f1, "precision": precision, "recall": recall, "sentences": sentences}
