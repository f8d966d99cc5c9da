"""The report's charts: matplotlib figures rendered to inline SVG (no pyplot, no display needed).

Each function takes plain data (results entries, sample records) and returns a `Chart`, or None
when the run has nothing to show for it (e.g. no trace analysis yet), so the page can say so.
"""

from __future__ import annotations

import io
import re
from collections import defaultdict
from dataclasses import dataclass

import matplotlib
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

STYLE = {
    "svg.fonttype": "none",  # text stays text: smaller, selectable, searchable
    "svg.hashsalt": "evalkit",  # stable ids, so re-rendering a run gives the same file
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "figure.dpi": 100,
    # labels come from the data (task meta, model names): "$" is a dollar sign there, never mathtext
    # (a meta value such as "$\lvert x \rvert$" would otherwise make the whole report fail)
    "text.parse_math": False,
}
CORRECT_COLOR, WRONG_COLOR = "#2e7d32", "#c62828"


@dataclass(frozen=True)
class Chart:
    """id: stable anchor name; title: the heading; svg: inline <svg> markup; note: a caption."""

    id: str
    title: str
    svg: str
    note: str = ""


def _figure(width: float = 5.0, height: float = 3.0) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasSVG(fig)
    return fig


def _svg(fig: Figure) -> str:
    buf = io.StringIO()
    with matplotlib.rc_context(STYLE):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    text = buf.getvalue()
    text = text[text.index("<svg"):]
    # Scale with the page instead of a fixed size in points.
    text = re.sub(r'<svg([^>]*?) width="[^"]+" height="[^"]+"', r'<svg\1 class="chart"', text, count=1)
    return text


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
    curves = [(lab, e, e.get("pass_at_k_curve")) for lab, e in zip(labels or _series_labels(entries), entries)]
    curves = [(lab, e, c) for lab, e, c in curves if c]
    if not curves:
        return None
    partial = []
    with matplotlib.rc_context(STYLE):
        fig = _figure()
        ax = fig.add_subplot()
        for label, entry, curve in curves:
            ks = [float(k) for k, _ in curve]
            vs = [float(v) for _, v in curve]
            line, = ax.plot(ks, vs, marker="o", markersize=3, label=label)
            hollow = [(k, v, _covered(entry, f"pass@{k:g}")) for k, v in zip(ks, vs)]
            hollow = [(k, v, c) for k, v, c in hollow if c]
            if hollow:
                ax.plot([h[0] for h in hollow], [h[1] for h in hollow], linestyle="none", marker="o", markersize=7,
                        markerfacecolor="white", markeredgecolor=line.get_color(), zorder=3)
                bits = ", ".join(f"k={k:g}: {c[0]} of {c[1]} problems" for k, _, c in hollow)
                partial.append(bits if len(curves) == 1 else f"{label}: {bits}")
        ax.set_xscale("log", base=2)
        ks = sorted({float(k) for _, _, c in curves for k, _ in c})
        ax.set_xticks(ks, [f"{k:g}" for k in ks])
        ax.minorticks_off()
        ax.set_xlabel("k (samples)")
        ax.set_ylabel("pass@k")
        ax.set_ylim(0, 1.02)
        if len(curves) > 1:
            ax.legend(fontsize=7)
    note = ("Hollow points are over fewer problems, those with at least k judged samples ("
            + "; ".join(partial) + ").") if partial else ""
    return Chart("chart-pass-at-k", "pass@k against k", _svg(fig), note)


def _tokens(x: float) -> str:
    """A token count as a tick label: 256, 512, 1k, 2k, … (k = 1024, as budgets are powers of two)."""
    return f"{x / 1024:g}k" if x >= 1024 else f"{x:g}"


def budget_curves(entry: dict) -> list[tuple[str, dict]]:
    """(source, block) for each thinking-budget block a results entry holds: the sweep's
    (`think_budgets`) and the anytime probes' (`anytime`)."""
    out = []
    for key, name in (("think_budgets", "budgets"), ("anytime", "anytime")):
        block = entry.get(key)
        if isinstance(block, dict) and block.get("budgets"):
            out.append((name, block))
    return out


def accuracy_vs_thinking(entries: list[dict], labels: list[str] | None = None) -> Chart | None:
    """avg@n against mean thinking tokens (log scale), one line per entry and source, with its 95% CI band."""
    series = []
    for label, e in zip(labels or _series_labels(entries), entries):
        blocks = budget_curves(e)
        for name, block in blocks:
            pts = []
            for row in block["budgets"]:
                m = (row.get("metrics") or {}).get("avg@n") or {}
                x = row.get("mean_thinking_tokens") or row.get("budget")
                if isinstance(m.get("value"), (int, float)) and x:
                    lo, hi = m.get("ci_low"), m.get("ci_high")  # None under two problems: no band there
                    pts.append((float(x), m["value"], m["value"] if lo is None else lo, m["value"] if hi is None else hi,
                                row.get("budget")))
            if pts:
                legend = label if len(blocks) == 1 else f"{label} ({name})"
                if str(block.get("unit") or "").startswith("characters"):  # no token counts: not the same axis
                    legend += " [characters, not tokens]"
                series.append((legend, sorted(pts)))
    if not series:
        return None
    with matplotlib.rc_context(STYLE):
        fig = _figure()
        ax = fig.add_subplot()
        for label, pts in series:
            xs = [p[0] for p in pts]
            line, = ax.plot(xs, [p[1] for p in pts], marker="o", markersize=3, label=label)
            ax.fill_between(xs, [p[2] for p in pts], [p[3] for p in pts], color=line.get_color(), alpha=0.15,
                            linewidth=0)
        ax.set_xscale("log", base=2)
        # within a factor of four, powers of two alone may leave the axis without a label (300 to 450
        # tokens): round numbers instead
        xs_all = [p[0] for _, pts in series for p in pts]
        narrow = max(xs_all) < 4 * min(xs_all)
        if narrow:
            ax.xaxis.set_major_locator(MaxNLocator(nbins=6, integer=True))
        # plain tick text: the log axis's own labels are mathtext source, which STYLE leaves unparsed
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:,.0f}" if narrow else _tokens(x)))
        ax.minorticks_off()
        ax.set_xlabel("mean thinking tokens (log scale)")
        ax.set_ylabel("avg@n")
        ax.set_ylim(0, 1.02)
        ax.legend(fontsize=7)
    return Chart("chart-thinking", "Accuracy against thinking tokens", _svg(fig),
                 "One point per thinking budget, at the mean thinking tokens the samples used; bands are 95% "
                 "bootstrap CIs over problems.")


def accuracy_by(entries: list[dict]) -> list[Chart]:
    """Bar charts of avg@n per breakdown key (level, subject, ...), from results `breakdowns`: a series
    per entry that has the key, named in a legend when there are several entries, and the caption
    names the entries without it."""
    keys: list[str] = []
    for e in entries:
        for k in (e.get("breakdowns") or {}):
            if k not in keys:
                keys.append(k)
    charts = []
    labels = _series_labels(entries)
    for key in keys:
        rows = []
        for label, e in zip(labels, entries):
            groups = (e.get("breakdowns") or {}).get(key) or {}
            for group, stats in groups.items():
                value = _metric_value((stats or {}).get("avg@n"))
                if value is not None:
                    rows.append((label, str(group), value, (stats or {}).get("n_problems")))
        groups = sorted({r[1] for r in rows}, key=_natural)
        series = list(dict.fromkeys(r[0] for r in rows))
        if len(groups) < 2 and len(series) < 2:
            continue  # one bar: nothing to compare
        missing = 0
        with matplotlib.rc_context(STYLE):
            fig = _figure(5.0, 0.9 + 0.22 * len(groups) * max(1, len(series)) ** 0.5)
            ax = fig.add_subplot()
            height = 0.8 / len(series)
            for j, name in enumerate(series):
                vals = {r[1]: r[2] for r in rows if r[0] == name}
                have = [(i + j * height, vals[g]) for i, g in enumerate(groups) if g in vals]
                ax.barh([y for y, _ in have], [v for _, v in have], height=height, label=name)
                # a group this series has no problems in: no bar (a 0% bar would read as all wrong)
                for i, g in enumerate(groups):
                    if g not in vals:
                        missing += 1
                        ax.text(0.01, i + j * height, "n/a", va="center", ha="left", fontsize=7, color="#757575",
                                fontstyle="italic")
            ax.set_yticks([i + 0.4 - height / 2 for i in range(len(groups))], groups)
            ax.invert_yaxis()
            ax.set_xlim(0, 1)
            ax.set_xlabel("avg@n (pass@1)")
            if len(entries) > 1:  # one series of several would read as the whole run's
                ax.legend(fontsize=7)
        notes = ["n/a: no problems of that group in that series."] if missing else []
        without = [label for label in dict.fromkeys(labels) if label not in series]
        if without:
            notes.append(f"No {key} breakdown for {', '.join(without)}.")
        note = " ".join(notes)
        charts.append(Chart(f"chart-by-{_slug(key)}", f"Accuracy by {key}", _svg(fig), note))
    return charts


def _metric_value(m) -> float | None:
    if isinstance(m, dict):
        m = m.get("value")
    return float(m) if isinstance(m, (int, float)) else None


def length_by_verdict(samples: list[dict]) -> Chart | None:
    """Histogram of completion length for correct and wrong samples: in tokens when every judged
    sample has its count, else in characters (so none is left out), saying how many lack tokens."""
    judged = [s for s in samples if s.get("correct") is not None]
    if not judged:
        return None
    no_tokens = sum(not isinstance(s.get("completion_tokens"), (int, float)) for s in judged)
    use_tokens = no_tokens == 0
    right, wrong = [], []
    for s in judged:
        n = s["completion_tokens"] if use_tokens else len(s.get("completion") or "")
        (right if s["correct"] else wrong).append(n)
    with matplotlib.rc_context(STYLE):
        fig = _figure()
        ax = fig.add_subplot()
        top = max(right + wrong) or 1
        bins = [top * i / 30 for i in range(31)]
        ax.hist([right, wrong], bins=bins, label=[f"correct ({len(right)})", f"wrong ({len(wrong)})"],
                color=[CORRECT_COLOR, WRONG_COLOR], alpha=0.75, histtype="stepfilled", stacked=False)
        ax.set_xlabel("completion tokens" if use_tokens else "completion characters")
        ax.set_ylabel("samples")
        ax.legend(fontsize=7)
    note = "" if use_tokens or no_tokens == len(judged) else (
        f"In characters: {no_tokens} of the {len(judged)} judged samples have no token count.")
    return Chart("chart-length", "Completion length, correct vs wrong", _svg(fig), note)


def _trace(s: dict) -> dict:
    t = s.get("trace")
    return t if isinstance(t, dict) else {}


def markers_vs_accuracy(samples: list[dict]) -> Chart | None:
    """Accuracy of samples binned by acts of reflection (markers) per 1k tokens (quintiles), with counts."""
    pts = [(float(_trace(s)["markers_per_1k"]), bool(s["correct"])) for s in samples
           if s.get("correct") is not None and isinstance(_trace(s).get("markers_per_1k"), (int, float))]
    if len(pts) < 2:
        return None
    units = {_trace(s).get("unit") or _trace(s).get("length_unit") for s in samples if _trace(s)}
    unit = "characters" if units and all(str(u).startswith("char") for u in units) else "tokens"
    bins = _rate_bins(pts, 6)
    xs = [sum(p[0] for p in b) / len(b) for b in bins]
    acc = [sum(p[1] for p in b) / len(b) for b in bins]
    with matplotlib.rc_context(STYLE):
        fig = _figure()
        ax = fig.add_subplot()
        ax.plot(xs, acc, marker="o", color="#1565c0")
        for x, a, b in zip(xs, acc, bins):
            ax.annotate(f"n={len(b)}", (x, a), textcoords="offset points", xytext=(0, 6),
                        ha="center", fontsize=7)
        ax.set_ylim(0, 1.08)
        ax.set_xlabel(f"reflection markers per 1k {unit} (bin mean)")
        ax.set_ylabel("accuracy")
    return Chart("chart-markers", f"Reflection markers per 1k {unit} vs accuracy", _svg(fig),
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
    vals = [float(_trace(s)["overthinking_share"]) for s in samples
            if isinstance(_trace(s).get("overthinking_share"), (int, float))]
    if not vals:
        return None
    with matplotlib.rc_context(STYLE):
        fig = _figure()
        ax = fig.add_subplot()
        ax.hist(vals, bins=[i / 20 for i in range(21)], color="#6a1b9a", alpha=0.8)
        ax.set_xlim(0, 1)
        ax.set_xlabel("share of the completion after the first correct answer")
        ax.set_ylabel("samples")
    mean = sum(vals) / len(vals)
    return Chart("chart-overthinking", "Overthinking share", _svg(fig),
                 f"{len(vals)} samples with a correct intermediate answer; mean share {mean:.2f}.")


def self_corrections(samples: list[dict]) -> Chart | None:
    """Totals of answer changes within traces: wrong→right, right→wrong, wrong→wrong."""
    totals: dict[str, int] = defaultdict(int)
    seen = False
    for s in samples:
        sc = _trace(s).get("self_corrections")
        if isinstance(sc, dict):
            seen = True
            for k in ("wrong_to_right", "right_to_wrong", "wrong_to_wrong"):
                if isinstance(sc.get(k), (int, float)):
                    totals[k] += int(sc[k])
    if not seen:
        return None
    names = ["wrong_to_right", "right_to_wrong", "wrong_to_wrong"]
    with matplotlib.rc_context(STYLE):
        fig = _figure(5.0, 2.4)
        ax = fig.add_subplot()
        bars = ax.barh(["wrong → right", "right → wrong", "wrong → wrong"], [totals[k] for k in names],
                       color=[CORRECT_COLOR, WRONG_COLOR, "#9e9e9e"])
        ax.bar_label(bars, fontsize=7, padding=2)
        ax.invert_yaxis()
        ax.set_xlabel("answer changes inside traces")
    return Chart("chart-self-corrections", "Self-correction outcomes", _svg(fig))


def run_charts(entries: list[dict], samples: list[dict]) -> tuple[list[Chart], list[str]]:
    """All charts of one run, and the titles of those left out for lack of data."""
    makers = [
        ("pass@k against k", lambda: pass_at_k(entries)),
        ("Accuracy by level / subject", lambda: accuracy_by(entries)),
        ("Completion length, correct vs wrong", lambda: length_by_verdict(samples)),
        ("Reflection markers per 1k tokens vs accuracy", lambda: markers_vs_accuracy(samples)),
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
