"""Server-side SVG: the drift heatmap, its legend, the models-page strip, shared helpers.

Pure string building: no JavaScript, no external assets, so the same markup serves the
dashboard and the self-contained HTML report. Every chart carries ``data-*`` attributes
with the numbers it draws (tests and curious users read them), and ``<title>`` tooltips.

>>> fmt(0.000123), fmt(12.3456), fmt(12345.6), fmt(None)
('0.000123', '12.3', '12,346', '–')
>>> ratio_color(None, False), ratio_color(0.0, False), ratio_color(5.0, True)
('#eceff3', '#f1f5f9', '#7f1d1d')
>>> ratio_color(5.0, False) == ratio_color(0.6, False)  # no breach: never warm
True
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from stream.web.summaries import Cell, Heatmap, HeatWindow

__all__ = [
    "FONT",
    "NOT_BREACH_CAP",
    "CellLink",
    "HeatmapLayout",
    "WindowLink",
    "a_link",
    "fmt",
    "heatmap_svg",
    "legend_svg",
    "nice_ticks",
    "pct",
    "ratio_color",
    "strip_svg",
    "window_label",
]

CellLink = Callable[[str, str], str | None]
"""(feature, window key) → URL of that cell's view, or None (no link)."""
WindowLink = Callable[[str], str | None]

FONT = 'font-family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif"'
_STOPS = (
    (0.0, (0xF1, 0xF5, 0xF9)),
    (0.6, (0xD3, 0xE0, 0xEC)),
    (0.85, (0xFD, 0xE6, 0xBE)),
    (1.0, (0xFD, 0xB8, 0x63)),
    (2.0, (0xE6, 0x55, 0x0D)),
    (4.0, (0x7F, 0x1D, 0x1D)),
)
EMPTY = "#eceff3"


def fmt(x: float | None, digits: int = 3) -> str:
    """Short human number: 3 significant digits, thousands separators, ``–`` for none."""
    if x is None or not math.isfinite(x):
        return "–"
    if x != 0 and abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.{digits}g}"


def pct(x: float | None) -> str:
    """A share as a percentage (1 decimal)."""
    return "–" if x is None or not math.isfinite(x) else f"{100 * x:.1f}%"


#: The warmest colour of a cell whose verdict is "no drift": the last cool stop (warm
#: colours, from 0.85 of the threshold up, are kept for breaches).
NOT_BREACH_CAP = 0.6


def ratio_color(ratio: float | None, breach: bool) -> str:
    """Cell colour of an effect/threshold ratio: cool below 1, warm at 1, dark red by 4.

    The colour agrees with the verdict: a cell that is not a breach is never warm (a
    big score that is not confident, or of a metric the verdict does not rank, is no
    drift; the tooltip still gives its ratio), and a breach is never cooler than the
    threshold colour (a pipeline break or a confident small effect is drift).
    """
    if ratio is None:
        if not breach:
            return EMPTY
        ratio = _STOPS[-1][0]
    r = max(0.0, ratio)
    r = max(r, 1.0) if breach else min(r, NOT_BREACH_CAP)
    for (x0, c0), (x1, c1) in zip(_STOPS, _STOPS[1:], strict=False):
        if r <= x1:
            t = (r - x0) / (x1 - x0)
            rgb = [round(a + (b - a) * t) for a, b in zip(c0, c1, strict=True)]
            return "#" + "".join(f"{v:02x}" for v in rgb)
    return "#" + "".join(f"{v:02x}" for v in _STOPS[-1][1])


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About ``n`` round tick values covering [lo, hi].

    >>> nice_ticks(0.0, 1.0)
    [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    """
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo]
    raw = (hi - lo) / max(1, n)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    out = []
    k = 0
    while first + k * step <= hi + step * 1e-9:
        out.append(round(first + k * step, 12))
        k += 1
    return out


def a_link(href: str | None, inner: str) -> str:
    """``inner`` wrapped in a link when there is one (the report has none)."""
    return inner if href is None else f'<a href="{escape(href)}">{inner}</a>'


def window_label(key: str, scale: str) -> str:
    """Short axis label of a window key."""
    # 'hour:2026-01-05T13' → '01-05 13h'; 'day:2026-01-05' → '01-05'
    stamp = key.partition(":")[2]
    if scale == "hour":
        return f"{stamp[5:10]} {stamp[11:13]}h"
    return stamp[5:10]


def _lanes(alerts: Sequence[dict[str, Any]], col: Callable[[int | None], float]) -> list[int]:
    lanes: list[float] = []
    out = []
    for a in alerts:
        x0 = col(a["first_seen_ms"])
        for i, end in enumerate(lanes):
            if x0 > end:
                lanes[i] = col(a.get("end_ms"))
                out.append(i)
                break
        else:
            lanes.append(col(a.get("end_ms")))
            out.append(len(lanes) - 1)
    return out


@dataclass(frozen=True)
class HeatmapLayout:
    """Where a heatmap's parts go (px): computed once, read by every drawing step.

    Top to bottom: the alert track (one lane per overlapping alert), the traffic bars,
    the grid (a row per feature, a column per window), the time axis.
    """

    starts: list[int]
    cw: float  # column width
    lanes: list[int]  # the lane of each alert
    label_w: int = 120
    cell_h: int = 22
    pad: int = 48
    ev_h: int = 18

    @classmethod
    def of(cls, hm: Heatmap, width: int) -> HeatmapLayout:
        """The layout of ``hm`` in about ``width`` px."""
        starts = [w.start_ms for w in hm.windows]
        n = max(1, len(starts))
        cw = max(3.0, min(44.0, (width - cls.label_w - cls.pad) / n))
        draft = cls(starts, cw, [])
        return cls(starts, cw, _lanes(hm.alerts, draft.col))

    @property
    def plot_w(self) -> float:
        """Width of the grid."""
        return self.cw * max(1, len(self.starts))

    @property
    def track_h(self) -> int:
        """Height of the alert track."""
        return 16 + 12 * (max(self.lanes) + 1 if self.lanes else 0)

    @property
    def top(self) -> int:
        """The y of the grid's first row."""
        return self.track_h + self.ev_h + 4

    def grid_h(self, rows: int) -> int:
        """Height of the grid of ``rows`` features."""
        return self.cell_h * rows

    def x(self, c: int) -> float:
        """The x of column ``c``."""
        return self.label_w + c * self.cw

    def col(self, ms: int | None) -> float:
        """The x of a window start; off-range starts clip to the edges, None = still open."""
        if ms is None or not self.starts:
            return self.label_w + self.plot_w
        if ms in self.starts:
            return self.x(self.starts.index(ms))
        i = sum(1 for s in self.starts if s < ms)
        return self.label_w + min(i, len(self.starts)) * self.cw


def heatmap_svg(
    hm: Heatmap,
    *,
    link: CellLink | None = None,
    focus_window: str | None = None,
    focus_feature: str | None = None,
    width: int = 1100,
) -> str:
    """Features × windows, coloured by effect/threshold; alerts drawn on a track above."""
    feats, wins, scale = hm.features, hm.windows, str(hm.scale)
    if not wins:
        return (
            f'<svg class="chart heatmap" xmlns="http://www.w3.org/2000/svg" width="420" '
            f'height="30" viewBox="0 0 420 30" {FONT} font-size="12" '
            f'data-scale="{escape(scale)}" data-rows="{len(feats)}" data-cols="0" '
            f'data-alerts="0"><text x="0" y="19" fill="#64748b">No {escape(scale)} window '
            "evaluated yet.</text></svg>"
        )
    lay = HeatmapLayout.of(hm, width)
    alerts = hm.alerts
    height = lay.top + lay.grid_h(len(feats)) + 34
    total_w = lay.label_w + lay.plot_w + lay.pad
    out = [
        f'<svg class="chart heatmap" xmlns="http://www.w3.org/2000/svg" width="{total_w:.0f}" '
        f'height="{height}" viewBox="0 0 {total_w:.0f} {height}" {FONT} font-size="11" '
        f'data-scale="{escape(scale)}" data-rows="{len(feats)}" data-cols="{len(wins)}" '
        f'data-baseline="{escape(hm.baseline)}" data-alerts="{len(alerts)}" '
        f'role="img" aria-label="drift heatmap by {escape(scale)}">'
    ]
    out += _alert_track(lay, alerts)
    out += _traffic(lay, wins)
    out += _cells(lay, hm, link, focus_window, focus_feature)
    out += _focus_column(lay, wins, focus_window, len(feats))
    out += _gaps(lay, scale, len(feats))
    out += _time_axis(lay, wins, scale, len(feats))
    out.append("</svg>")
    return "".join(out)


def _alert_track(lay: HeatmapLayout, alerts: Sequence[dict[str, Any]]) -> list[str]:
    """Each alert as a span from first seen to resolved, its events as marks."""
    lw = lay.label_w
    out = [f'<text x="{lw - 6}" y="12" text-anchor="end" fill="#475569">alerts</text>']
    for a, lane in zip(alerts, lay.lanes, strict=True):
        y = 4 + 12 * lane
        x0 = lay.col(a["first_seen_ms"])
        x1 = lay.col(a.get("end_ms")) if a.get("end_ms") is not None else lw + lay.plot_w
        x1 = max(x1, x0 + lay.cw)
        # Green only once resolved: "closed" (no resolve published) is still open for pagers.
        fill = {"resolved": "#16a34a", "closed": "#f97316"}.get(a["status"], "#dc2626")
        tip = (
            f"{a['status']} {a['severity']} alert ({a['baseline']}): "
            f"{', '.join(a['members'])}; dedup {a['dedup_key']}"
        )
        out.append(
            f'<rect class="alert-span" data-status="{escape(a["status"])}" '
            f'data-dedup="{escape(a["dedup_key"])}" x="{x0:.1f}" y="{y}" width="{x1 - x0:.1f}" '
            f'height="8" rx="3" fill="{fill}" fill-opacity="0.75">'
            f"<title>{escape(tip)}</title></rect>"
        )
        for ev in a.get("events", []):
            s = ev.get("start_ms")
            if s not in lay.starts:
                continue
            x = lay.x(lay.starts.index(s)) + lay.cw / 2
            colr = "#7f1d1d" if ev["status"] == "triggered" else "#14532d"
            out.append(
                f'<path class="alert-mark" data-status="{escape(str(ev["status"]))}" '
                f'data-window="{escape(str(ev["window"]))}" d="M{x - 4:.1f},{y - 2} '
                f'L{x + 4:.1f},{y - 2} L{x:.1f},{y + 6} Z" fill="{colr}"><title>'
                f"{escape(str(ev['status']))} at {escape(str(ev['window']))}: "
                f"{escape(', '.join(ev['features']))}</title></path>"
            )
    return out


def _traffic(lay: HeatmapLayout, wins: Sequence[HeatWindow]) -> list[str]:
    """Events per window as small bars above the grid."""
    counts = [w.events or 0 for w in wins]
    peak = max(counts) if counts else 0
    ev_top, ev_h = lay.track_h, lay.ev_h
    out = [
        f'<text x="{lay.label_w - 6}" y="{ev_top + 12}" text-anchor="end" fill="#475569">'
        "events</text>"
    ]
    for i, (w, c) in enumerate(zip(wins, counts, strict=True)):
        if not peak:
            break
        h = (ev_h - 2) * c / peak
        out.append(
            f'<rect class="events" x="{lay.x(i) + 0.5:.1f}" y="{ev_top + ev_h - h:.1f}" '
            f'width="{max(1.0, lay.cw - 1):.1f}" height="{h:.1f}" fill="#cbd5e1">'
            f"<title>{escape(w.key)}: {c:,} events</title></rect>"
        )
    return out


def _cells(
    lay: HeatmapLayout,
    hm: Heatmap,
    link: CellLink | None,
    focus_window: str | None,
    focus_feature: str | None,
) -> list[str]:
    """A row label and a coloured cell per (feature, window); triggering cells outlined."""
    wins = hm.windows
    marked = {
        (f, ev.get("start_ms"))
        for a in hm.alerts
        for ev in a.get("events", [])
        if ev["status"] == "triggered"
        for f in ev["features"]
    }
    out: list[str] = []
    label_w, cell_h, cw = lay.label_w, lay.cell_h, lay.cw
    for r, feat in enumerate(hm.features):
        y = lay.top + r * cell_h
        focus_row = feat == focus_feature
        if focus_row:
            out.append(
                f'<rect x="0" y="{y}" width="{label_w - 4}" height="{cell_h}" '
                'fill="#e0e7ff" rx="3"/>'
            )
        name = escape(feat if len(feat) <= 18 else feat[:17] + "…")
        weight = ' font-weight="700"' if focus_row else ""
        target = focus_window or (wins[-1].key if wins else None)
        href = link(feat, target) if link and target else None
        out.append(
            a_link(
                href,
                f'<text class="row-label" x="{label_w - 6}" y="{y + 15}" text-anchor="end" '
                f'fill="#0f172a"{weight}>{name}<title>{escape(feat)}</title></text>',
            )
        )
        for c, w in enumerate(wins):
            cell = hm.cells[r][c]
            x = lay.x(c)
            key = w.key
            if cell is None:
                out.append(
                    f'<rect class="cell empty" x="{x:.1f}" y="{y}" width="{max(1.0, cw - 1):.1f}" '
                    f'height="{cell_h - 2}" fill="{EMPTY}"><title>{escape(feat)} · {escape(key)}: '
                    "not judged against this baseline</title></rect>"
                )
                continue
            rect = _cell(lay, feat, key, x, y, cell, (feat, w.start_ms) in marked)
            out.append(a_link(link(feat, key) if link else None, rect))
    return out


def _cell(lay: HeatmapLayout, feat: str, key: str, x: float, y: int, cell: Cell, mark: bool) -> str:
    """One judged cell: its colour, tooltip, numbers and, for a breach, a dot."""
    cw, cell_h = lay.cw, lay.cell_h
    ratio = cell.ratio
    fill = ratio_color(ratio, cell.breach)
    tip = (
        f"{feat} · {key} · vs {cell.baseline}: "
        + (
            f"{cell.metric} {fmt(cell.effect)} / threshold {fmt(cell.threshold)} = {fmt(ratio)}×"
            if ratio is not None
            else "not judged"
        )
        + (" · BREACH" if cell.breach else "")
    )
    stroke = ' stroke="#111827" stroke-width="1.5"' if mark else ""
    shown = "" if ratio is None else f"{ratio:.4g}"
    rect = (
        f'<rect class="cell" x="{x:.1f}" y="{y}" width="{max(1.0, cw - 1):.1f}" '
        f'height="{cell_h - 2}" fill="{fill}"{stroke} data-feature="{escape(feat)}" '
        f'data-window="{escape(key)}" data-ratio="{shown}" '
        f'data-breach="{str(cell.breach).lower()}" '
        f'data-baseline="{escape(cell.baseline)}">'
        f"<title>{escape(tip)}</title></rect>"
    )
    if cell.breach:
        rad = max(1.2, min(cw, cell_h) / 6)
        rect += (
            f'<circle class="breach" cx="{x + (cw - 1) / 2:.1f}" '
            f'cy="{y + (cell_h - 2) / 2}" '
            f'r="{rad:.1f}" fill="#111827" fill-opacity="0.7" pointer-events="none"/>'
        )
    return rect


def _focus_column(
    lay: HeatmapLayout, wins: Sequence[HeatWindow], focus_window: str | None, rows: int
) -> list[str]:
    """An outline around the focused window's column."""
    out = []
    for c, w in enumerate(wins):
        if w.key == focus_window:
            x = lay.x(c) - 1
            out.append(
                f'<rect class="focus" data-window="{escape(w.key)}" x="{x:.1f}" '
                f'y="{lay.top - 3}" width="{lay.cw + 1:.1f}" height="{lay.grid_h(rows) + 4}" '
                'fill="none" stroke="#1d4ed8" stroke-width="2" rx="2" pointer-events="none"/>'
            )
    return out


def _gaps(lay: HeatmapLayout, scale: str, rows: int) -> list[str]:
    """Columns are the windows that exist; a jump in time between two is marked."""
    step_ms = 86_400_000 if scale == "day" else 3_600_000
    out = []
    starts, top, grid_h = lay.starts, lay.top, lay.grid_h(rows)
    for c in range(1, len(starts)):
        missing = (starts[c] - starts[c - 1]) // step_ms - 1
        if missing > 0:
            x = lay.x(c) - 0.5
            out.append(
                f'<line class="gap" data-missing="{missing}" x1="{x:.1f}" y1="{top - 6}" '
                f'x2="{x:.1f}" y2="{top + grid_h + 4}" stroke="#0f172a" stroke-width="2" '
                f'stroke-dasharray="3 2"><title>{missing} {escape(scale)} window(s) without '
                "data here</title></line>"
            )
    return out


def _time_axis(lay: HeatmapLayout, wins: Sequence[HeatWindow], scale: str, rows: int) -> list[str]:
    """Window labels under the grid, spaced so they never overlap."""
    step = max(1, math.ceil(72 / lay.cw))
    bottom = lay.top + lay.grid_h(rows)
    out = []
    for c in range(0, len(wins), step):
        x = lay.x(c)
        out.append(
            f'<line x1="{x:.1f}" y1="{bottom}" x2="{x:.1f}" y2="{bottom + 4}" '
            f'stroke="#94a3b8"/><text x="{x:.1f}" y="{bottom + 14}" fill="#475569">'
            f"{escape(window_label(wins[c].key, scale))}</text>"
        )
    return out


def legend_svg() -> str:
    """The heatmap colour scale: effect/threshold from 0 to 4+."""
    w, h = 260, 34
    parts = [
        f'<svg class="legend" xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
        f'viewBox="0 0 {w} {h}" {FONT} font-size="10">'
    ]
    steps = 52
    for i in range(steps):
        r = 4.0 * i / (steps - 1)
        parts.append(
            f'<rect x="{10 + i * 4}" y="2" width="4.2" height="12" fill="{ratio_color(r, False)}"/>'
        )
    for r, label in ((0.0, "0"), (1.0, "1 = threshold"), (2.0, "2"), (4.0, "4+")):
        x = 10 + r / 4.0 * (steps - 1) * 4
        parts.append(
            f'<line x1="{x:.0f}" y1="14" x2="{x:.0f}" y2="18" stroke="#475569"/>'
            f'<text x="{x:.0f}" y="29" text-anchor="middle" fill="#475569">{label}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def strip_svg(recent: Sequence[dict[str, Any]], *, link: WindowLink | None = None) -> str:
    """A small row of the latest hours' strongest drift score (the models page)."""
    cw, h = 6, 16
    w = max(1, len(recent)) * cw
    out = [
        f'<svg class="strip" xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
        f'viewBox="0 0 {w} {h}" data-cols="{len(recent)}">'
    ]
    for i, c in enumerate(recent):
        fill = ratio_color(c["max_ratio"], bool(c["breaches"]))
        tip = f"{c['window']}: max ratio {fmt(c['max_ratio'])}" + (
            f"; breach: {', '.join(c['breaches'])}" if c["breaches"] else ""
        )
        rect = (
            f'<rect x="{i * cw}" y="0" width="{cw - 1}" height="{h}" fill="{fill}">'
            f"<title>{escape(tip)}</title></rect>"
        )
        out.append(a_link(link(str(c["window"])) if link else None, rect))
    out.append("</svg>")
    return "".join(out)
