"""Server-side SVG charts of one feature: distribution overlay and metric over time.

Same conventions as :mod:`.svg`: pure strings, ``data-*`` attributes with the numbers
drawn, ``<title>`` tooltips, no scripts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from stream.core.window import DAY_MS, HOUR_MS
from stream.web.summaries import MetricSeries, SeriesPoint
from stream.web.svg import FONT, WindowLink, a_link, fmt, nice_ticks, pct, window_label

__all__ = [
    "BASELINE_STYLE",
    "SERIES_STYLE",
    "SeriesLayout",
    "overlay_svg",
    "series_svg",
    "time_labels",
]

SERIES_STYLE = {
    "reference": ("#64748b", "#94a3b8", 0.35, ""),
    "window": ("#c2410c", "#f97316", 0.30, ""),
}
BASELINE_STYLE = ("#1d4ed8", "none", 0.0, 'stroke-dasharray="5 3"')


def _style(name: str) -> tuple[str, str, float, str]:
    return SERIES_STYLE.get(name, BASELINE_STYLE)


def _legend(names: Sequence[str], x: float, y: float) -> str:
    out = []
    for i, name in enumerate(names):
        stroke, fill, op, dash = _style(name)
        yy = y + i * 14
        out.append(
            f'<rect x="{x}" y="{yy - 8}" width="12" height="9" fill="{fill}" '
            f'fill-opacity="{max(op, 0.0) if fill != "none" else 0}" stroke="{stroke}" {dash}/>'
            f'<text x="{x + 16}" y="{yy}" fill="#334155">{escape(name)}</text>'
        )
    return "".join(out)


def overlay_svg(dist: dict[str, Any], *, width: int = 540, height: int = 280) -> str:
    """Reference vs window (and baseline window): a histogram or category bars."""
    kind = dist.get("kind")
    series: list[dict[str, Any]] = dist.get("series", [])
    names = [str(s["name"]) for s in series]
    head = (
        f'<svg class="chart overlay" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{{h}}" viewBox="0 0 {width} {{h}}" {FONT} font-size="11" '
        f'data-kind="{escape(str(kind))}" data-series="{escape(",".join(names))}" '
        f'role="img" aria-label="distribution overlay">'
    )
    if kind == "categorical":
        return _bars(dist, head, width)
    edges: list[float] = dist.get("edges", [])
    if kind != "numeric" or not edges or not series:
        h = 60
        return (
            head.format(h=h)
            + '<text x="10" y="30" fill="#64748b">no stored sketches for this window</text></svg>'
        )
    ml, mr, mt, mb = 48, 12, 12, 30
    pw, ph = width - ml - mr, height - mt - mb
    lo, hi = edges[0], edges[-1]
    ymax = max((max(s["shares"]) if s["shares"] else 0.0) for s in series) * 1.12 or 1.0

    def sx(v: float) -> float:
        return ml + (v - lo) / (hi - lo) * pw

    def sy(v: float) -> float:
        return mt + ph - v / ymax * ph

    out = [head.format(h=height)]
    for t in nice_ticks(0.0, ymax, 4):
        out.append(
            f'<line x1="{ml}" x2="{ml + pw}" y1="{sy(t):.1f}" y2="{sy(t):.1f}" stroke="#e2e8f0"/>'
            f'<text x="{ml - 4}" y="{sy(t) + 3:.1f}" text-anchor="end" fill="#64748b">'
            f"{pct(t)}</text>"
        )
    for t in nice_ticks(lo, hi, 5):
        out.append(
            f'<line x1="{sx(t):.1f}" x2="{sx(t):.1f}" y1="{mt + ph}" y2="{mt + ph + 4}" '
            f'stroke="#94a3b8"/><text x="{sx(t):.1f}" y="{mt + ph + 16}" text-anchor="middle" '
            f'fill="#475569">{fmt(t)}</text>'
        )
    for s in series:
        shares: list[float] = s["shares"]
        if not shares:
            continue
        stroke, fill, op, dash = _style(str(s["name"]))
        pts = [f"M{sx(edges[0]):.1f},{sy(0):.1f}"]
        for i, v in enumerate(shares):
            pts.append(f"L{sx(edges[i]):.1f},{sy(v):.1f} L{sx(edges[i + 1]):.1f},{sy(v):.1f}")
        pts.append(f"L{sx(edges[-1]):.1f},{sy(0):.1f}")
        out.append(
            f'<path class="dist" data-series="{escape(str(s["name"]))}" '
            f'data-bins="{len(shares)}" data-mass="{sum(shares):.4f}" d="{" ".join(pts)}" '
            f'fill="{fill}" fill-opacity="{op}" stroke="{stroke}" stroke-width="1.5" {dash}>'
            f"<title>{escape(str(s['name']))}</title></path>"
        )
    out.append(
        f'<line x1="{ml}" x2="{ml + pw}" y1="{mt + ph}" y2="{mt + ph}" stroke="#64748b"/>'
        + _legend(names, ml + pw - 150, mt + 10)
        + "</svg>"
    )
    return "".join(out)


def _bars(dist: dict[str, Any], head: str, width: int) -> str:
    cats: list[str] = dist.get("categories", [])
    series: list[dict[str, Any]] = dist.get("series", [])
    k = max(1, len(series))
    bar_h, gap, ml, mr, mt = 9, 8, 96, 56, 8
    group = bar_h * k + gap
    legend_h = 14 * len(series) + 6
    height = mt + legend_h + group * max(1, len(cats)) + 8
    pw = width - ml - mr
    peak = max((max(s["shares"]) if s["shares"] else 0.0) for s in series) if series else 0.0
    peak = peak or 1.0
    out = [head.format(h=height), _legend([str(s["name"]) for s in series], ml, mt + 10)]
    top = mt + legend_h
    for i, cat in enumerate(cats):
        y0 = top + i * group
        label = cat if len(cat) <= 14 else cat[:13] + "…"
        out.append(
            f'<text x="{ml - 6}" y="{y0 + group / 2:.1f}" text-anchor="end" fill="#0f172a">'
            f"{escape(label)}<title>{escape(cat)}</title></text>"
        )
        for j, s in enumerate(series):
            share = s["shares"][i] if i < len(s["shares"]) else 0.0
            stroke, fill, op, dash = _style(str(s["name"]))
            w = share / peak * pw
            y = y0 + j * bar_h
            out.append(
                f'<rect class="bar" data-series="{escape(str(s["name"]))}" '
                f'data-category="{escape(cat)}" data-share="{share:.6f}" x="{ml}" y="{y}" '
                f'width="{w:.1f}" height="{bar_h - 1}" fill="{fill if fill != "none" else "#fff"}" '
                f'fill-opacity="{max(op, 0.55) if fill != "none" else 1}" stroke="{stroke}" {dash}>'
                f"<title>{escape(str(s['name']))} · {escape(cat)}: {pct(share)}</title></rect>"
                f'<text x="{ml + w + 4:.1f}" y="{y + bar_h - 1.5}" font-size="9" fill="#475569">'
                f"{pct(share)}</text>"
            )
    out.append("</svg>")
    return "".join(out)


#: Axis labels closer than this (px, centre to centre) would overlap: fewer are shown.
LABEL_SPACING_PX = 70.0


def time_labels(
    pts: Sequence[SeriesPoint], sx: Callable[[int], float], left: float, right: float
) -> list[tuple[SeriesPoint, float, str]]:
    """Up to 5 points to label on a time axis, at least LABEL_SPACING_PX apart.

    Candidates are evenly spaced in time (not in index: windows need not be evenly
    spaced), snapped to the nearest point; a label too close to one already kept is
    dropped. Returns (point, x, text-anchor).
    """
    if not pts:
        return []
    n = max(1, min(5, int((right - left) // LABEL_SPACING_PX) + 1, len(pts)))
    t0, t1 = pts[0].start_ms, pts[-1].start_ms
    chosen: list[tuple[SeriesPoint, float]] = []
    for i in range(n):
        target = t0 + (t1 - t0) * i / max(1, n - 1)
        p = min(pts, key=lambda q: abs(q.start_ms - target))
        x = sx(p.start_ms)
        if all(abs(x - kept) >= LABEL_SPACING_PX for _, kept in chosen):
            chosen.append((p, x))
    out = []
    for p, x in chosen:
        anchor = "middle"
        if x - left < LABEL_SPACING_PX / 2:
            anchor = "start"
        elif right - x < LABEL_SPACING_PX / 2:
            anchor = "end"
        out.append((p, x, anchor))
    return out


@dataclass(frozen=True)
class SeriesLayout:
    """Scales of a metric-over-time chart: time → x, value → y (px), with its margins."""

    t0: int
    t1: int
    ymin: float
    ymax: float
    width: int
    height: int
    ml: int = 52
    mr: int = 14
    mt: int = 12
    mb: int = 30

    @classmethod
    def of(cls, pts: Sequence[SeriesPoint], width: int, height: int) -> SeriesLayout:
        """Room for every value and threshold (mirrored when a value is negative), and 0."""
        vals = [p.value for p in pts if p.value is not None]
        ths = [p.threshold for p in pts if p.threshold is not None]
        signed = any(v < 0 for v in vals)
        ymax = max([*vals, *ths, 0.0]) * 1.1 or 1.0
        ymin = min([*vals, *([-t for t in ths] if signed else []), 0.0]) * 1.1
        return cls(pts[0].start_ms, pts[-1].start_ms, ymin, ymax, width, height)

    @property
    def pw(self) -> int:
        """Plot width."""
        return self.width - self.ml - self.mr

    @property
    def ph(self) -> int:
        """Plot height."""
        return self.height - self.mt - self.mb

    def sx(self, ms: int) -> float:
        """The x of a window start."""
        span = (self.t1 - self.t0) or 1
        return (
            self.ml + (ms - self.t0) / span * self.pw
            if self.t1 > self.t0
            else self.ml + self.pw / 2
        )

    def sy(self, v: float) -> float:
        """The y of a value."""
        return float(self.mt + self.ph - (v - self.ymin) / (self.ymax - self.ymin) * self.ph)


def series_svg(
    series: MetricSeries | None,
    *,
    scale: str,
    focus_window: str | None = None,
    link: WindowLink | None = None,
    width: int = 540,
    height: int = 280,
) -> str:
    """A metric over windows with its threshold (dashed); breaching windows in red."""
    pts = [] if series is None else series.points
    metric = "" if series is None else series.metric
    measured = sum(1 for p in pts if p.value is not None)
    head = (
        f'<svg class="chart series" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" {FONT} font-size="11" '
        f'data-metric="{escape(metric)}" data-points="{measured}" '
        f'role="img" aria-label="metric over time">'
    )
    if not measured:
        return head + '<text x="10" y="30" fill="#64748b">no measured windows</text></svg>'
    lay = SeriesLayout.of(pts, width, height)
    step_ms = DAY_MS if scale == "day" else HOUR_MS
    signed = any(p.value is not None and p.value < 0 for p in pts)
    out = [head]
    out += _value_grid(lay)
    out += _series_gaps(lay, pts, scale, step_ms)
    out += _series_ticks(lay, pts, scale)
    out += _thresholds(lay, pts, signed)
    if lay.ymin < 0:
        out.append(
            f'<line x1="{lay.ml}" x2="{lay.ml + lay.pw}" y1="{lay.sy(0):.1f}" '
            f'y2="{lay.sy(0):.1f}" stroke="#94a3b8"/>'
        )
    out.append(_value_line(lay, pts, step_ms))
    out += _points(lay, pts, metric, focus_window, link)
    ml, mt, pw, ph = lay.ml, lay.mt, lay.pw, lay.ph
    out.append(
        f'<line x1="{ml}" x2="{ml}" y1="{mt}" y2="{mt + ph}" stroke="#64748b"/>'
        f'<line x1="{ml}" x2="{ml + pw}" y1="{mt + ph}" y2="{mt + ph}" stroke="#64748b"/></svg>'
    )
    return "".join(out)


def _value_grid(lay: SeriesLayout) -> list[str]:
    """Horizontal grid lines with their values."""
    ml, pw = lay.ml, lay.pw
    return [
        f'<line x1="{ml}" x2="{ml + pw}" y1="{lay.sy(t):.1f}" y2="{lay.sy(t):.1f}" '
        f'stroke="#e2e8f0"/><text x="{ml - 4}" y="{lay.sy(t) + 3:.1f}" text-anchor="end" '
        f'fill="#64748b">{fmt(t)}</text>'
        for t in nice_ticks(lay.ymin, lay.ymax, 4)
    ]


def _series_gaps(
    lay: SeriesLayout, pts: Sequence[SeriesPoint], scale: str, step_ms: int
) -> list[str]:
    """No window between two measured ones: a gap, shaded, never a line across it."""
    out = []
    for a, b in zip(pts, pts[1:], strict=False):
        if b.start_ms - a.start_ms > step_ms:
            x0, x1 = lay.sx(a.start_ms), lay.sx(b.start_ms)
            missing = (b.start_ms - a.start_ms) // step_ms - 1
            out.append(
                f'<rect class="gap" x="{x0 + 2:.1f}" y="{lay.mt}" '
                f'width="{max(1.0, x1 - x0 - 4):.1f}" height="{lay.ph}" fill="#f1f5f9" '
                f'data-missing="{missing}"><title>{missing} {escape(scale)} window(s) without '
                "data</title></rect>"
            )
    return out


def _series_ticks(lay: SeriesLayout, pts: Sequence[SeriesPoint], scale: str) -> list[str]:
    """Time labels that never overlap."""
    return [
        f'<text class="tick" x="{x:.1f}" y="{lay.mt + lay.ph + 16}" text-anchor="{anchor}" '
        f'fill="#475569">{escape(window_label(p.window, scale))}</text>'
        for p, x, anchor in time_labels(pts, lay.sx, lay.ml, lay.ml + lay.pw)
    ]


def _thresholds(lay: SeriesLayout, pts: Sequence[SeriesPoint], signed: bool) -> list[str]:
    """The threshold, dashed (and its mirror when the metric is signed)."""
    out = []
    for sign in (1, -1) if signed else (1,):
        seg = [
            f"{'M' if i == 0 else 'L'}{lay.sx(p.start_ms):.1f},{lay.sy(sign * t):.1f}"
            for i, (p, t) in enumerate((q, q.threshold) for q in pts if q.threshold is not None)
        ]
        if seg:
            out.append(
                f'<path class="threshold" d="{" ".join(seg)}" fill="none" stroke="#dc2626" '
                f'stroke-width="1.5" stroke-dasharray="6 4"><title>threshold</title></path>'
            )
    return out


def _value_line(lay: SeriesLayout, pts: Sequence[SeriesPoint], step_ms: int) -> str:
    """The values joined, broken at gaps and at windows without a value."""
    line = []
    prev: int | None = None
    for p in pts:
        if p.value is None:
            prev = None  # a window without a value breaks the line too
            continue
        jump = prev is None or p.start_ms - prev > step_ms
        line.append(f"{'M' if jump else 'L'}{lay.sx(p.start_ms):.1f},{lay.sy(p.value):.1f}")
        prev = p.start_ms
    return (
        f'<path class="value" d="{" ".join(line)}" fill="none" stroke="#2563eb" '
        'stroke-width="1.6"/>'
    )


def _points(
    lay: SeriesLayout,
    pts: Sequence[SeriesPoint],
    metric: str,
    focus_window: str | None,
    link: WindowLink | None,
) -> list[str]:
    """A dot per measured window (red for a breach), the focused one marked, each a link."""
    out = []
    for p in pts:
        if p.value is None:
            continue
        x, y = lay.sx(p.start_ms), lay.sy(p.value)
        focus = p.window == focus_window
        if focus:
            out.append(
                f'<line class="focus" x1="{x:.1f}" x2="{x:.1f}" y1="{lay.mt}" '
                f'y2="{lay.mt + lay.ph}" stroke="#1d4ed8" stroke-width="1" stroke-dasharray="2 2"/>'
            )
        fill = "#dc2626" if p.breach else "#2563eb"
        r = 4.5 if focus else (3.0 if len(pts) <= 80 else 2.0)
        dot = (
            f'<circle class="pt" data-window="{escape(p.window)}" '
            f'data-value="{p.value:.6g}" data-threshold="'
            f'{"" if p.threshold is None else format(p.threshold, ".6g")}" '
            f'data-breach="{str(p.breach).lower()}" cx="{x:.1f}" cy="{y:.1f}" r="{r}" '
            f'fill="{fill}" stroke="{"#0f172a" if focus else "#fff"}" stroke-width="1">'
            f"<title>{escape(p.window)}: {escape(metric)} {fmt(p.value)} "
            f"(threshold {fmt(p.threshold)}, p={fmt(p.p_value)})</title></circle>"
        )
        out.append(a_link(link(p.window) if link else None, dot))
    return out
