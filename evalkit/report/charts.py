"""The report's charts, drawn as inline SVG by `_svg.Plot` (no matplotlib, no display needed).

Each function takes plain data (results entries, sample records) and returns a `Chart`, or None
when the run has nothing to show for it (e.g. no trace analysis yet), so the page can say so.
Labels come from the data (task meta, model names) and stay text: "$" is a dollar sign there.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import dataclass

from evalkit.report._svg import MUTED_COLOR, PALETTE, Plot, nice_ticks

CORRECT_COLOR, WRONG_COLOR = "#2e7d32", "#c62828"
ACCURACY_TICKS = [i / 5 for i in range(6)]


@dataclass(frozen=True)
class Chart:
    """id: stable anchor name; title: the heading; svg: inline <svg> markup; note: a caption."""

    id: str
    title: str
    svg: str
    note: str = ""


def number(v) -> float | None:
    """v as a finite float, else None (text, booleans, NaN): results.json may be old or edited by hand,
    and the report draws what it can of it."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    try:
        v = float(v)
    except OverflowError:  # a JSON integer of 400 digits
        return None
    return v if math.isfinite(v) else None


def _dict(v) -> dict:
    return v if isinstance(v, dict) else {}


def _log2_room(lo: float, hi: float) -> tuple[float, float]:
    """lo and hi moved apart by 6% of their span on a log2 axis, so end points are not on the frame."""
    span = math.log2(hi / lo) if hi > lo else 2.0
    return lo * 2 ** (-0.06 * span), hi * 2 ** (0.06 * span)


def _room(lo: float, hi: float) -> tuple[float, float]:
    span = (hi - lo) or 1.0
    return lo - 0.06 * span, hi + 0.06 * span


def _histogram(values: list[float], edges: list[float]) -> list[int]:
    counts = [0] * (len(edges) - 1)
    lo, hi = edges[0], edges[-1]
    for v in filter(math.isfinite, values):
        i = int((v - lo) / (hi - lo) * len(counts)) if hi > lo else 0
        counts[min(len(counts) - 1, max(0, i))] += 1
    return counts


def _label(entry: dict, many_models: bool, many_tasks: bool) -> str:
    parts = []
    if many_tasks:
        parts.append(str(entry.get("task")))
    if many_models:
        parts.append(str(entry.get("model")))
    return " · ".join(parts) or str(entry.get("task"))


def _series_labels(entries: list[dict]) -> list[str]:
    many_models = len({e.get("model") for e in entries}) > 1
    many_tasks = len({e.get("task") for e in entries}) > 1
    return [_label(e, many_models, many_tasks) for e in entries]


def _covered(entry: dict, metric: str) -> tuple[int, int] | None:
    """(problems, of problems) when `metric` covers fewer problems than its entry: pass@k and maj@k
    leave out the problems with fewer than k judged samples. None when it covers them all."""
    m = (entry.get("metrics") or {}).get(metric)
    n, total = (m.get("n_problems") if isinstance(m, dict) else None), entry.get("n_problems")
    ok = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (n, total))
    return (int(n), int(total)) if ok and n < total else None


def pass_at_k(entries: list[dict], labels: list[str] | None = None) -> Chart | None:
    """pass@k against k, one line per (task, model) entry, from `pass_at_k_curve`. A point over fewer
    problems than the entry has (k judged samples needed) is drawn hollow and named in the note."""
    curves = [(lab, e, _curve(e.get("pass_at_k_curve")))
              for lab, e in zip(labels or _series_labels(entries), entries)]
    curves = [(lab, e, c) for lab, e, c in curves if c]
    if not curves:
        return None
    ks = sorted({k for _, _, c in curves for k, _ in c})
    plot = Plot()
    plot.x_axis(*_log2_room(ks[0], ks[-1]), log2=True, ticks=ks, tick_labels=[f"{k:g}" for k in ks],
                label="k (samples)")
    plot.y_axis(0, 1.02, ticks=ACCURACY_TICKS, label="pass@k")
    partial = []
    for label, entry, curve in curves:
        color = plot.line([k for k, _ in curve], [v for _, v in curve],
                          label=label if len(curves) > 1 else None)
        hollow = [(k, v, _covered(entry, f"pass@{k:g}")) for k, v in curve]
        hollow = [(k, v, c) for k, v, c in hollow if c]
        if hollow:
            plot.hollow_points([h[0] for h in hollow], [h[1] for h in hollow], color=color)
            bits = ", ".join(f"k={k:g}: {c[0]} of {c[1]} problems" for k, _, c in hollow)
            partial.append(bits if len(curves) == 1 else f"{label}: {bits}")
    note = ("Hollow points are over fewer problems, those with at least k judged samples ("
            + "; ".join(partial) + ").") if partial else ""
    return Chart("chart-pass-at-k", "pass@k against k", plot.svg("pass@k against k"), note)


def _curve(curve) -> list[tuple[float, float]]:
    """The (k, value) points of a results curve that are numbers, k > 0."""
    pts = []
    for pair in curve if isinstance(curve, list) else []:
        k, v = (number(pair[0]), number(pair[1])) if isinstance(pair, (list, tuple)) and len(pair) == 2 else (None, None)
        if k is not None and k > 0 and v is not None:
            pts.append((k, v))
    return pts


def _tokens(x: float) -> str:
    """A token count as a tick label: 256, 512, 1k, 2k, … (k = 1024, as budgets are powers of two)."""
    return f"{x / 1024:g}k" if x >= 1024 else f"{x:g}"


def budget_curves(entry: dict) -> list[tuple[str, dict]]:
    """(source, block) for each thinking-budget block a results entry holds: the sweep's
    (`think_budgets`) and the anytime probes' (`anytime`)."""
    out = []
    for key, name in (("think_budgets", "budgets"), ("anytime", "anytime")):
        block = entry.get(key)
        rows = block.get("budgets") if isinstance(block, dict) else None
        rows = [row for row in rows if isinstance(row, dict)] if isinstance(rows, list) else []
        if rows:  # the rows that are rows: a block written by hand or by an older evalkit may hold others
            out.append((name, {**block, "budgets": rows}))
    return out


def accuracy_vs_thinking(entries: list[dict], labels: list[str] | None = None) -> Chart | None:
    """avg@n against mean thinking tokens (log scale), one line per entry and source, with its 95% CI band."""
    series = []
    for label, e in zip(labels or _series_labels(entries), entries):
        blocks = budget_curves(e)
        for name, block in blocks:
            pts = []
            for row in block["budgets"]:
                m = _dict(_dict(row.get("metrics")).get("avg@n"))
                x = number(row.get("mean_thinking_tokens"))
                x = number(row.get("budget")) if x is None else x
                value = number(m.get("value"))
                if value is not None and x is not None and x > 0:
                    lo, hi = number(m.get("ci_low")), number(m.get("ci_high"))  # None under two problems: no band
                    pts.append((x, value, value if lo is None else lo, value if hi is None else hi))
            if pts:
                legend = label if len(blocks) == 1 else f"{label} ({name})"
                if str(block.get("unit") or "").startswith("characters"):  # no token counts: not the same axis
                    legend += " [characters, not tokens]"
                series.append((legend, sorted(pts)))
    if not series:
        return None
    xs_all = [p[0] for _, pts in series for p in pts]
    lo, hi = min(xs_all), max(xs_all)
    plot = Plot()
    if hi < 4 * lo:
        # within a factor of four, powers of two alone may leave the axis without a label (300 to 450
        # tokens): round numbers instead
        ticks = [t for t in nice_ticks(*_log2_room(lo, hi), most=5, integer=True) if t > 0]
        tick_labels = [f"{t:,.0f}" for t in ticks]
    else:
        ticks = [2.0 ** p for p in range(math.ceil(math.log2(lo)), math.floor(math.log2(hi)) + 1)]
        ticks = ticks[::(len(ticks) + 7) // 8]  # at most eight
        tick_labels = [_tokens(t) for t in ticks]
    plot.x_axis(*_log2_room(lo, hi), log2=True, ticks=ticks, tick_labels=tick_labels,
                label="mean thinking tokens (log scale)")
    plot.y_axis(0, 1.02, ticks=ACCURACY_TICKS, label="avg@n")
    for label, pts in series:
        color = plot.color()
        xs = [p[0] for p in pts]
        plot.band(xs, [p[2] for p in pts], [p[3] for p in pts], color=color)
        plot.line(xs, [p[1] for p in pts], label=label, color=color)
    return Chart("chart-thinking", "Accuracy against thinking tokens", plot.svg("Accuracy against thinking tokens"),
                 "One point per thinking budget, at the mean thinking tokens the samples used; bands are 95% "
                 "bootstrap CIs over problems.")


def accuracy_by(entries: list[dict]) -> list[Chart]:
    """Bar charts of avg@n per breakdown key (level, subject, ...), from results `breakdowns`: a series
    per entry that has the key, named in a legend when there are several entries, and the caption
    names the entries without it."""
    keys: list[str] = []
    for e in entries:
        for k in _dict(e.get("breakdowns")):
            if k not in keys:
                keys.append(k)
    charts = []
    labels = _series_labels(entries)
    for key in keys:
        rows = []
        for label, e in zip(labels, entries):
            for group, stats in _dict(_dict(e.get("breakdowns")).get(key)).items():
                value = _metric_value(_dict(stats).get("avg@n"))
                if value is not None:
                    rows.append((label, str(group), value))
        groups = sorted({r[1] for r in rows}, key=_natural)
        series = list(dict.fromkeys(r[0] for r in rows))
        if len(groups) < 2 and len(series) < 2:
            continue  # one bar: nothing to compare
        plot = Plot(height=max(40.0, 22 * len(groups) * max(1, len(series)) ** 0.5))
        plot.y_categories(groups)
        plot.x_axis(0, 1, ticks=ACCURACY_TICKS, label="avg@n (pass@1)")
        height = 0.8 / len(series)
        missing = 0
        for j, name in enumerate(series):
            color = PALETTE[j % len(PALETTE)]
            vals = {r[1]: r[2] for r in rows if r[0] == name}
            for i, g in enumerate(groups):
                y = i + 0.1 + j * height
                if g in vals:
                    plot.hbar(y, min(1.0, max(0.0, vals[g])), height, color=color)
                else:  # a group this series has no problems in: no bar (a 0% bar would read as all wrong)
                    missing += 1
                    plot.text(0.01, y + height / 2, "n/a", anchor="start", italic=True, color=MUTED_COLOR)
            if len(entries) > 1:  # one series of several would read as the whole run's
                plot.legend(name, color)
        notes = ["n/a: no problems of that group in that series."] if missing else []
        without = [label for label in dict.fromkeys(labels) if label not in series]
        if without:
            notes.append(f"No {key} breakdown for {', '.join(without)}.")
        title = f"Accuracy by {key}"
        charts.append(Chart(f"chart-by-{_slug(key)}", title, plot.svg(title), " ".join(notes)))
    return charts


def _metric_value(m) -> float | None:
    return number(m.get("value") if isinstance(m, dict) else m)


def length_by_verdict(samples: list[dict]) -> Chart | None:
    """Histogram of completion length for correct and wrong samples: in tokens when every judged
    sample has its count, else in characters (so none is left out), saying how many lack tokens."""
    judged = [s for s in samples if s.get("correct") is not None]
    if not judged:
        return None
    no_tokens = sum(number(s.get("completion_tokens")) is None for s in judged)
    use_tokens = no_tokens == 0
    right, wrong = [], []
    for s in judged:
        n = number(s["completion_tokens"]) if use_tokens else len(str(s.get("completion") or ""))
        (right if s["correct"] else wrong).append(max(0.0, n))
    top = max(right + wrong) or 1.0
    edges = [top * i / 30 for i in range(31)]
    counts = [(_histogram(right, edges), CORRECT_COLOR, f"correct ({len(right)})"),
              (_histogram(wrong, edges), WRONG_COLOR, f"wrong ({len(wrong)})")]
    plot = Plot()
    plot.x_axis(0, top, integer=True, label="completion tokens" if use_tokens else "completion characters")
    plot.y_axis(0, max(max(c) for c, _, _ in counts) * 1.05 or 1, integer=True, label="samples")
    for hist, color, label in counts:
        plot.step_histogram(edges, hist, color=color, opacity=0.6)
        plot.legend(label, color, opacity=0.6)
    note = "" if use_tokens or no_tokens == len(judged) else (
        f"In characters: {no_tokens} of the {len(judged)} judged samples have no token count.")
    title = "Completion length, correct vs wrong"
    return Chart("chart-length", title, plot.svg(title), note)


def _trace(s: dict) -> dict:
    t = s.get("trace")
    return t if isinstance(t, dict) else {}


def markers_vs_accuracy(samples: list[dict]) -> Chart | None:
    """Accuracy of samples binned by acts of reflection (markers) per 1k tokens (quintiles), with counts."""
    pts = [(number(_trace(s).get("markers_per_1k")), bool(s["correct"])) for s in samples
           if s.get("correct") is not None]
    pts = [(rate, ok) for rate, ok in pts if rate is not None]
    if len(pts) < 2:
        return None
    units = {_trace(s).get("unit") or _trace(s).get("length_unit") for s in samples if _trace(s)}
    unit = "characters" if units and all(str(u).startswith("char") for u in units) else "tokens"
    bins = _rate_bins(pts, 6)
    xs = [sum(p[0] for p in b) / len(b) for b in bins]
    acc = [sum(p[1] for p in b) / len(b) for b in bins]
    plot = Plot()
    plot.x_axis(*_room(min(xs), max(xs)), label=f"reflection markers per 1k {unit} (bin mean)")
    plot.y_axis(0, 1.1, ticks=ACCURACY_TICKS, label="accuracy")
    plot.line(xs, acc, color="#1565c0", points=3.5)
    for x, a, b in zip(xs, acc, bins):
        plot.text(x, a, f"n={len(b)}", dy=-11)
    title = f"Reflection markers per 1k {unit} vs accuracy"
    return Chart("chart-markers", title, plot.svg(title),
                 "Samples split into bins of about equal count by marker rate; samples with the same rate "
                 "share a bin.")


def _rate_bins(pts: list[tuple[float, bool]], n_bins: int) -> list[list[tuple[float, bool]]]:
    """`pts` (rate, correct) sorted by rate into at most n_bins bins of about equal count; a run of
    equal rates (often the many samples with no marker) is never cut, so one rate is one point."""
    pts = sorted(pts, key=lambda p: p[0])
    runs: list[list] = []
    for p in pts:
        if runs and runs[-1][0][0] == p[0]:
            runs[-1].append(p)
        else:
            runs.append([p])
    bins: list[list] = []
    left, target = len(pts), 0.0
    for run in runs:
        if not bins or len(bins[-1]) >= target:  # this bin is full: the next gets a fair share of the rest
            bins.append([])
            target = left / max(1, n_bins - len(bins) + 1)
        bins[-1].extend(run)
        left -= len(run)
    return bins


def overthinking(samples: list[dict]) -> Chart | None:
    """Histogram of the overthinking share: the part of the completion after the first correct answer."""
    vals = [number(_trace(s).get("overthinking_share")) for s in samples]
    vals = [v for v in vals if v is not None]
    if not vals:
        return None
    edges = [i / 20 for i in range(21)]
    hist = _histogram(vals, edges)
    plot = Plot()
    plot.x_axis(0, 1, ticks=ACCURACY_TICKS, label="share of the completion after the first correct answer")
    plot.y_axis(0, max(hist) * 1.05, integer=True, label="samples")
    plot.step_histogram(edges, hist, color="#6a1b9a", opacity=0.8)
    mean = sum(vals) / len(vals)
    return Chart("chart-overthinking", "Overthinking share", plot.svg("Overthinking share"),
                 f"{len(vals)} samples with a correct intermediate answer; mean share {mean:.2f}.")


def self_corrections(samples: list[dict]) -> Chart | None:
    """Totals of answer changes within traces: wrong→right, right→wrong, wrong→wrong, over judged samples (an
    unjudged one, with no gold or an infrastructure fault, has no right or wrong answers to change between)."""
    totals: dict[str, int] = defaultdict(int)
    seen = False
    for s in samples:
        if s.get("correct") is None:
            continue
        sc = _trace(s).get("self_corrections")
        if isinstance(sc, dict):
            seen = True
            for k in ("wrong_to_right", "right_to_wrong", "wrong_to_wrong"):
                if number(sc.get(k)) is not None:
                    totals[k] += max(0, int(sc[k]))
    if not seen:
        return None
    rows = [("wrong → right", "wrong_to_right", CORRECT_COLOR), ("right → wrong", "right_to_wrong", WRONG_COLOR),
            ("wrong → wrong", "wrong_to_wrong", "#9e9e9e")]
    top = max(totals.values(), default=0)
    plot = Plot(height=110)
    plot.y_categories([name for name, _, _ in rows])
    plot.x_axis(0, top * 1.12 or 1, integer=True, label="answer changes inside traces")
    for i, (_, key, color) in enumerate(rows):
        plot.hbar(i + 0.15, totals[key], 0.7, color=color, value_label=str(totals[key]))
    return Chart("chart-self-corrections", "Self-correction outcomes", plot.svg("Self-correction outcomes"))


def run_charts(entries: list[dict], samples: list[dict]) -> tuple[list[Chart], list[str]]:
    """All charts of one run, and the titles of those left out for lack of data."""
    makers = [
        ("pass@k against k", lambda: pass_at_k(entries)),
        ("Accuracy by level / subject", lambda: accuracy_by(entries)),
        ("Completion length, correct vs wrong", lambda: length_by_verdict(samples)),
        ("Reflection markers per 1k tokens (or characters) vs accuracy", lambda: markers_vs_accuracy(samples)),
        ("Overthinking share", lambda: overthinking(samples)),
        ("Self-correction outcomes", lambda: self_corrections(samples)),
    ]
    thinking = accuracy_vs_thinking(entries)  # only runs with budgets or anytime probes have it
    charts, missing = [thinking] if thinking else [], []
    for title, make in makers:
        got = make()
        got = got if isinstance(got, list) else [got] if got else []
        charts.extend(got)
        if not got:
            missing.append(title)
    return charts, missing


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-") or "x"


def _natural(text: str):
    """Text, then numbers by value, alternately; only ASCII digits are numbers (`²` is a digit to
    str.isdigit, and not to int)."""
    return [int(p) if i % 2 else p for i, p in enumerate(re.split(r"([0-9]+)", text))]
