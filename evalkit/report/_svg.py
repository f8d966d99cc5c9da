"""A small SVG plot: one plot area with two axes, gridlines, a legend above it, and the marks the
report's charts need (lines with points, bands, horizontal bars, step histograms, text).

It replaces matplotlib, which took about 1.5 s of every `evalkit run` (0.6 s to import, 0.1 to 0.2 s a
chart to lay out) for eight small charts. Drawn by hand, the charts take milliseconds, are a few
kilobytes each, scale with the page, and their text is real text: selectable and searchable.

    plot = Plot(height=220)
    plot.x_axis(0, 1, label="share")            # or log2=True, ticks=[...], categories on y: y_categories
    plot.y_axis(0, 1, label="accuracy")
    plot.line([0.1, 0.5], [0.2, 0.7], label="model")
    svg = plot.svg()

Coordinates are data values; the plot maps them to its own units (WIDTH wide), and the page scales the
whole picture to the width of its box.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field

WIDTH = 440
FONT = 12  # tick labels, legend and notes, in the plot's own units
LABEL_FONT = 13  # axis labels
SMALL_FONT = 10  # annotations on marks ("n=18", "n/a", bar values)
CHAR_WIDTH = 0.6  # an average glyph of a sans-serif font, as a share of its size: enough to leave room
AXIS_COLOR, GRID_COLOR, TEXT_COLOR, MUTED_COLOR = "#444", "#e8e8ec", "#1d1d1f", "#757575"
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
           "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
FONT_FAMILY = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"
MAX_LABEL_SHARE = 0.42  # category labels longer than this share of the width are cut (their title keeps all)


def text_width(text: str, size: float = FONT) -> float:
    return len(text) * size * CHAR_WIDTH


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _num(v: float) -> str:
    """A coordinate, short and stable: two decimals at most, no trailing zeros."""
    s = f"{v:.2f}".rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


def nice_ticks(lo: float, hi: float, most: int = 6, integer: bool = False) -> list[float]:
    """Round values from lo to hi, at most about `most` of them: steps of 1, 2, 2.5 or 5 times a power
    of ten (no 2.5 and nothing under 1 for `integer` axes, such as counts)."""
    if not (math.isfinite(lo) and math.isfinite(hi) and math.isfinite(hi - lo)) or hi <= lo:
        return [lo] if math.isfinite(lo) else []
    raw = (hi - lo) / max(1, most)
    mag = 10 ** math.floor(math.log10(raw))
    steps = (1, 2, 5, 10) if integer else (1, 2, 2.5, 5, 10)
    step = next(m * mag for m in steps if m * mag >= raw * (1 - 1e-9))
    if integer:
        step = max(1.0, round(step))
    first = math.ceil(lo / step - 1e-9)
    count = int(math.floor(hi / step + 1e-9)) - first + 1
    digits = max(0, 3 - math.floor(math.log10(step)))  # rounding relative to the step: 0.30000000000000004 is 0.3
    return [round((first + i) * step, digits) for i in range(max(0, count))]


def tick_text(values: list[float]) -> list[str]:
    """Labels for evenly spaced ticks: as many decimals as the step needs, thousands separated."""
    if len(values) < 2:
        return [f"{v:,.{0 if float(v).is_integer() else 2}f}" for v in values]
    step = abs(values[1] - values[0])
    if not 1e-6 <= step < 1e15:
        return [f"{v:g}" for v in values]
    decimals = 0
    while decimals < 6 and abs(step * 10 ** decimals - round(step * 10 ** decimals)) > 1e-6:
        decimals += 1
    return [f"{v:,.{decimals}f}" for v in values]


@dataclass
class _Axis:
    lo: float = 0.0
    hi: float = 1.0
    log2: bool = False
    label: str = ""
    ticks: list[float] = field(default_factory=list)
    tick_labels: list[str] = field(default_factory=list)
    invert: bool = False

    def share(self, v: float) -> float:
        """Where v falls between lo (0) and hi (1)."""
        if self.log2:
            lo, hi, v = math.log2(self.lo), math.log2(self.hi), math.log2(max(v, 1e-300))
        else:
            lo, hi = self.lo, self.hi
        return 0.5 if hi == lo else (v - lo) / (hi - lo)


@dataclass
class _LegendEntry:
    label: str
    color: str
    kind: str  # "line" (a stroke with a point) or "box" (a filled square)
    opacity: float = 1.0


class Plot:
    """One chart. `height` is the plot area's; the axes' labels and the legend add to it."""

    def __init__(self, height: float = 190, width: float = WIDTH):
        self.width, self.height = width, height
        self.x, self.y = _Axis(), _Axis()
        self._marks: list = []  # (layer, callable(px, py) -> svg text)
        self._legend: list[_LegendEntry] = []
        self._next_color = 0

    # -- axes ---------------------------------------------------------------------------------------

    def x_axis(self, lo: float, hi: float, *, label: str = "", log2: bool = False,
               ticks: list[float] | None = None, tick_labels: list[str] | None = None,
               integer: bool = False, most: int = 6) -> None:
        self.x = self._axis(lo, hi, label, log2, ticks, tick_labels, integer, most, invert=False)

    def y_axis(self, lo: float, hi: float, *, label: str = "", ticks: list[float] | None = None,
               tick_labels: list[str] | None = None, integer: bool = False, most: int = 5) -> None:
        self.y = self._axis(lo, hi, label, False, ticks, tick_labels, integer, most, invert=False)

    def y_categories(self, names: list[str]) -> None:
        """A category per slot, the first at the top: slot i spans y from i to i + 1."""
        self.y = _Axis(0, max(1, len(names)), False, "", [i + 0.5 for i in range(len(names))],
                       [str(n) for n in names], invert=True)

    @staticmethod
    def _axis(lo, hi, label, log2, ticks, tick_labels, integer, most, invert) -> _Axis:
        lo, hi = sorted((lo, hi))
        if log2 and lo <= 0:  # a log axis shows positive values only
            lo, hi = (hi / 4, hi) if hi > 0 else (1.0, 2.0)
        if hi == lo:  # one value: give it room on both sides
            lo, hi = (lo / 2, hi * 2) if log2 else (lo - 1, hi + 1)
        if ticks is None:
            ticks = [t for t in nice_ticks(lo, hi, most, integer) if lo - 1e-9 <= t <= hi + 1e-9]
        if tick_labels is None:
            tick_labels = tick_text(ticks)
        return _Axis(lo, hi, log2, label, list(ticks), list(tick_labels), invert)

    def color(self) -> str:
        """The next colour of the palette (series take them in order)."""
        c = PALETTE[self._next_color % len(PALETTE)]
        self._next_color += 1
        return c

    # -- marks --------------------------------------------------------------------------------------

    def line(self, xs, ys, *, label: str | None = None, color: str | None = None, points: float = 3,
             width: float = 1.6) -> str:
        """A polyline through (xs, ys) with a dot of radius `points` at each (0: none). Returns its colour."""
        color = color or self.color()
        pts = list(zip(xs, ys))

        def draw(px, py):
            path = " ".join(f"{_num(px(x))},{_num(py(y))}" for x, y in pts)
            out = [f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="{width}" '
                   f'stroke-linejoin="round"/>'] if len(pts) > 1 else []
            if points:
                out += [f'<circle cx="{_num(px(x))}" cy="{_num(py(y))}" r="{points}" fill="{color}"/>' for x, y in pts]
            return "\n".join(out)

        self._marks.append((1, draw))
        if label is not None:
            self._legend.append(_LegendEntry(label, color, "line"))
        return color

    def hollow_points(self, xs, ys, *, color: str, radius: float = 5) -> None:
        pts = list(zip(xs, ys))
        self._marks.append((2, lambda px, py: "\n".join(
            f'<circle cx="{_num(px(x))}" cy="{_num(py(y))}" r="{radius}" fill="#fff" stroke="{color}" '
            f'stroke-width="1.4"/>' for x, y in pts)))

    def band(self, xs, lows, highs, *, color: str, opacity: float = 0.15) -> None:
        """The area between two curves over the same xs (a confidence band)."""
        xs, lows, highs = list(xs), list(lows), list(highs)

        def draw(px, py):
            edge = [(x, h) for x, h in zip(xs, highs)] + [(x, lo) for x, lo in reversed(list(zip(xs, lows)))]
            path = " ".join(f"{_num(px(x))},{_num(py(y))}" for x, y in edge)
            return f'<polygon points="{path}" fill="{color}" fill-opacity="{opacity}" stroke="none"/>'

        if len(xs) > 1:
            self._marks.append((0, draw))

    def hbar(self, y: float, value: float, height: float, *, color: str, value_label: str | None = None) -> None:
        """A horizontal bar from x = lo to `value`, spanning y to y + height (category slots)."""

        def draw(px, py):
            x0, x1 = px(self.x.lo), px(value)
            top, bottom = sorted((py(y), py(y + height)))
            out = (f'<rect x="{_num(x0)}" y="{_num(top)}" width="{_num(max(0.0, x1 - x0))}" '
                   f'height="{_num(bottom - top)}" fill="{color}"/>')
            if value_label is not None:
                out += (f'<text x="{_num(x1 + 3)}" y="{_num((top + bottom) / 2)}" font-size="{SMALL_FONT}" '
                        f'dominant-baseline="central">{_esc(value_label)}</text>')
            return out

        self._marks.append((1, draw))

    def step_histogram(self, edges: list[float], counts: list[int], *, color: str, opacity: float = 0.6) -> None:
        """Filled steps over `edges` (one more than `counts`), as matplotlib's "stepfilled"."""

        def draw(px, py):
            pts = [(edges[0], 0.0)]
            for i, c in enumerate(counts):
                pts += [(edges[i], c), (edges[i + 1], c)]
            pts.append((edges[-1], 0.0))
            path = " ".join(f"{_num(px(x))},{_num(py(y))}" for x, y in pts)
            return f'<polygon points="{path}" fill="{color}" fill-opacity="{opacity}" stroke="none"/>'

        self._marks.append((1, draw))

    def text(self, x: float, y: float, text: str, *, dx: float = 0, dy: float = 0, anchor: str = "middle",
             color: str = TEXT_COLOR, italic: bool = False, size: float = SMALL_FONT) -> None:
        """Text at a data point, moved by (dx, dy) in the plot's units (dy < 0 is up)."""
        style = ' font-style="italic"' if italic else ""
        self._marks.append((3, lambda px, py: (
            f'<text x="{_num(px(x) + dx)}" y="{_num(py(y) + dy)}" font-size="{size}" text-anchor="{anchor}" '
            f'dominant-baseline="central" fill="{color}"{style}>{_esc(text)}</text>')))

    def legend(self, label: str, color: str, kind: str = "box", opacity: float = 1.0) -> None:
        self._legend.append(_LegendEntry(label, color, kind, opacity))

    # -- layout and output --------------------------------------------------------------------------

    def _legend_rows(self, room: float) -> list[list[tuple[_LegendEntry, str, float]]]:
        """Legend entries in rows that fit `room`: (entry, shown label, width) each. A label longer than
        a row loses its middle, not its end (where "[characters, not tokens]" says what a line is)."""
        most = max(8, int((room - 22) / (FONT * CHAR_WIDTH)))
        rows: list[list[tuple[_LegendEntry, str, float]]] = []
        used = room
        for entry in self._legend:
            shown = entry.label
            if len(shown) > most:
                keep = most - 1
                shown = shown[:keep - keep // 2] + "…" + shown[len(shown) - keep // 2:]
            w = 22 + text_width(shown) + 14
            if used + w > room and (not rows or rows[-1]):
                rows.append([])
                used = 0
            rows[-1].append((entry, shown, w))
            used += w
        return rows

    def _y_labels(self) -> list[tuple[str, str]]:
        """(shown, whole) per y tick label: category names past MAX_LABEL_SHARE of the width are cut."""
        most = int(self.width * MAX_LABEL_SHARE / (FONT * CHAR_WIDTH))
        return [(t if len(t) <= most else t[:most - 1] + "…", t) for t in self.y.tick_labels]

    def svg(self, aria_label: str = "") -> str:
        y_labels = self._y_labels()
        left = 8 + (LABEL_FONT + 8 if self.y.label else 0) + max([text_width(s) for s, _ in y_labels] or [0]) + 8
        last_x = self.x.tick_labels[-1] if self.x.tick_labels else ""
        right = max(14.0, text_width(last_x) / 2 + 4)
        rows = self._legend_rows(self.width - 16)
        top = 10 + len(rows) * (FONT + 6)
        bottom = 6 + FONT + 6 + (LABEL_FONT + 8 if self.x.label else 0)
        total = top + self.height + bottom
        x0, x1, y0, y1 = left, self.width - right, top, top + self.height

        def px(v: float) -> float:
            return x0 + self.x.share(v) * (x1 - x0)

        def py(v: float) -> float:
            s = self.y.share(v)
            return y0 + s * (y1 - y0) if self.y.invert else y1 - s * (y1 - y0)

        out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {_num(self.width)} {_num(total)}" '
               f'font-family="{FONT_FAMILY}" font-size="{FONT}" fill="{TEXT_COLOR}" role="img"'
               + (f' aria-label="{_esc(aria_label)}"' if aria_label else "") + ">"]
        # gridlines under everything, at every tick of both axes
        grid = [f'M{_num(px(t))} {_num(y0)}V{_num(y1)}' for t in self.x.ticks]
        if not self.y.invert:
            grid += [f'M{_num(x0)} {_num(py(t))}H{_num(x1)}' for t in self.y.ticks]
        if grid:
            out.append(f'<path d="{" ".join(grid)}" stroke="{GRID_COLOR}" stroke-width="1" fill="none"/>')
        for _, draw in sorted(self._marks, key=lambda m: m[0]):
            out.append(draw(px, py))
        # axes: the left and the bottom spine, with ticks outside
        out.append(f'<path d="M{_num(x0)} {_num(y0)}V{_num(y1)}H{_num(x1)}" stroke="{AXIS_COLOR}" fill="none"/>')
        marks = [f'M{_num(px(t))} {_num(y1)}v4' for t in self.x.ticks]
        marks += [f'M{_num(x0)} {_num(py(t))}h-4' for t in self.y.ticks]
        if marks:
            out.append(f'<path d="{" ".join(marks)}" stroke="{AXIS_COLOR}" fill="none"/>')
        for t, label in zip(self.x.ticks, self.x.tick_labels):
            out.append(f'<text x="{_num(px(t))}" y="{_num(y1 + 6 + FONT * 0.8)}" '
                       f'text-anchor="middle">{_esc(label)}</text>')
        for t, (shown, whole) in zip(self.y.ticks, y_labels):
            title = f"<title>{_esc(whole)}</title>" if shown != whole else ""
            out.append(f'<text x="{_num(x0 - 7)}" y="{_num(py(t))}" text-anchor="end" '
                       f'dominant-baseline="central">{title}{_esc(shown)}</text>')
        if self.x.label:
            out.append(f'<text x="{_num((x0 + x1) / 2)}" y="{_num(total - 6)}" text-anchor="middle" '
                       f'font-size="{LABEL_FONT}">{_esc(self.x.label)}</text>')
        if self.y.label:
            cy = (y0 + y1) / 2
            out.append(f'<text transform="translate({_num(8 + LABEL_FONT * 0.8)} {_num(cy)}) rotate(-90)" '
                       f'text-anchor="middle" font-size="{LABEL_FONT}">{_esc(self.y.label)}</text>')
        out += self._legend_svg(rows, 8)
        out.append("</svg>")
        # a line per element: the source reads, and the text of neighbouring labels never runs together
        return "\n".join(out)

    @staticmethod
    def _legend_svg(rows, x0: float) -> list[str]:
        out = []
        for r, row in enumerate(rows):
            cy, x = 10 + r * (FONT + 6) + FONT / 2, x0
            for entry, shown, w in row:
                if entry.kind == "line":
                    out.append(f'<path d="M{_num(x)} {_num(cy)}h16" stroke="{entry.color}" stroke-width="1.6"/>'
                               f'<circle cx="{_num(x + 8)}" cy="{_num(cy)}" r="2.5" fill="{entry.color}"/>')
                else:
                    out.append(f'<rect x="{_num(x + 2)}" y="{_num(cy - 5)}" width="12" height="10" '
                               f'fill="{entry.color}" fill-opacity="{entry.opacity}"/>')
                title = f"<title>{_esc(entry.label)}</title>" if shown != entry.label else ""
                out.append(f'<text x="{_num(x + 22)}" y="{_num(cy)}" dominant-baseline="central">'
                           f'{title}{_esc(shown)}</text>')
                x += w
        return out
