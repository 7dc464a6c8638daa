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
from html import escape
from typing import Any

__all__ = [
    "FONT",
    "NOT_BREACH_CAP",
    "CellLink",
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


def heatmap_svg(
    hm: dict[str, Any],
    *,
    link: CellLink | None = None,
    focus_window: str | None = None,
    focus_feature: str | None = None,
    width: int = 1100,
) -> str:
    """Features × windows, coloured by effect/threshold; alerts drawn on a track above."""
    feats: list[str] = hm["features"]
    wins: list[dict[str, Any]] = hm["windows"]
    scale = str(hm["scale"])
    if not wins:
        return (
            f'<svg class="chart heatmap" xmlns="http://www.w3.org/2000/svg" width="420" '
            f'height="30" viewBox="0 0 420 30" {FONT} font-size="12" '
            f'data-scale="{escape(scale)}" data-rows="{len(feats)}" data-cols="0" '
            f'data-alerts="0"><text x="0" y="19" fill="#64748b">No {escape(scale)} window '
            "evaluated yet.</text></svg>"
        )
    n = max(1, len(wins))
    label_w, cell_h, pad = 120, 22, 48
    cw = max(3.0, min(44.0, (width - label_w - pad) / n))
    plot_w = cw * n
    alerts: list[dict[str, Any]] = hm.get("alerts", [])
    starts = [int(w["start_ms"]) for w in wins]
    index = {s: i for i, s in enumerate(starts)}

    def col(ms: int | None) -> float:
        # x of a window start; off-range starts clip to the edges, None = still open
        if ms is None or not starts:
            return label_w + plot_w
        if ms in index:
            return label_w + index[ms] * cw
        i = sum(1 for s in starts if s < ms)
        return label_w + min(i, n) * cw

    lanes = _lanes(alerts, col)
    n_lanes = max(lanes) + 1 if lanes else 0
    track_h = 16 + 12 * n_lanes
    ev_h = 18
    top = track_h + ev_h + 4
    grid_h = cell_h * len(feats)
    height = top + grid_h + 34
    total_w = label_w + plot_w + pad
    out = [
        f'<svg class="chart heatmap" xmlns="http://www.w3.org/2000/svg" width="{total_w:.0f}" '
        f'height="{height}" viewBox="0 0 {total_w:.0f} {height}" {FONT} font-size="11" '
        f'data-scale="{escape(scale)}" data-rows="{len(feats)}" data-cols="{len(wins)}" '
        f'data-baseline="{escape(str(hm.get("baseline", "")))}" data-alerts="{len(alerts)}" '
        f'role="img" aria-label="drift heatmap by {escape(scale)}">'
    ]
    # alert track
    out.append(f'<text x="{label_w - 6}" y="12" text-anchor="end" fill="#475569">alerts</text>')
    for a, lane in zip(alerts, lanes, strict=True):
        y = 4 + 12 * lane
        x0 = col(a["first_seen_ms"])
        x1 = col(a.get("end_ms")) if a.get("end_ms") is not None else label_w + plot_w
        x1 = max(x1, x0 + cw)
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
            if s not in index:
                continue
            x = label_w + index[s] * cw + cw / 2
            colr = "#7f1d1d" if ev["status"] == "triggered" else "#14532d"
            out.append(
                f'<path class="alert-mark" data-status="{escape(str(ev["status"]))}" '
                f'data-window="{escape(str(ev["window"]))}" d="M{x - 4:.1f},{y - 2} '
                f'L{x + 4:.1f},{y - 2} L{x:.1f},{y + 6} Z" fill="{colr}"><title>'
                f"{escape(str(ev['status']))} at {escape(str(ev['window']))}: "
                f"{escape(', '.join(ev['features']))}</title></path>"
            )
    # traffic bars
    counts = [w.get("events") or 0 for w in wins]
    peak = max(counts) if counts else 0
    ev_top = track_h
    out.append(
        f'<text x="{label_w - 6}" y="{ev_top + 12}" text-anchor="end" fill="#475569">events</text>'
    )
    for i, (w, c) in enumerate(zip(wins, counts, strict=True)):
        if not peak:
            break
        h = (ev_h - 2) * c / peak
        out.append(
            f'<rect class="events" x="{label_w + i * cw + 0.5:.1f}" y="{ev_top + ev_h - h:.1f}" '
            f'width="{max(1.0, cw - 1):.1f}" height="{h:.1f}" fill="#cbd5e1">'
            f"<title>{escape(w['key'])}: {c:,} events</title></rect>"
        )
    marked = {
        (f, ev.get("start_ms"))
        for a in alerts
        for ev in a.get("events", [])
        if ev["status"] == "triggered"
        for f in ev["features"]
    }
    # cells
    for r, feat in enumerate(feats):
        y = top + r * cell_h
        focus_row = feat == focus_feature
        if focus_row:
            out.append(
                f'<rect x="0" y="{y}" width="{label_w - 4}" height="{cell_h}" '
                'fill="#e0e7ff" rx="3"/>'
            )
        name = escape(feat if len(feat) <= 18 else feat[:17] + "…")
        weight = ' font-weight="700"' if focus_row else ""
        target = focus_window or (str(wins[-1]["key"]) if wins else None)
        href = link(feat, target) if link and target else None
        out.append(
            a_link(
                href,
                f'<text class="row-label" x="{label_w - 6}" y="{y + 15}" text-anchor="end" '
                f'fill="#0f172a"{weight}>{name}<title>{escape(feat)}</title></text>',
            )
        )
        for c, w in enumerate(wins):
            cell = hm["cells"][r][c]
            x = label_w + c * cw
            key = str(w["key"])
            if cell is None:
                out.append(
                    f'<rect class="cell empty" x="{x:.1f}" y="{y}" width="{max(1.0, cw - 1):.1f}" '
                    f'height="{cell_h - 2}" fill="{EMPTY}"><title>{escape(feat)} · {escape(key)}: '
                    "not judged against this baseline</title></rect>"
                )
                continue
            ratio = cell["ratio"]
            fill = ratio_color(ratio, cell["breach"])
            tip = (
                f"{feat} · {key} · vs {cell['baseline']}: "
                + (
                    f"{cell['metric']} {fmt(cell['effect'])} / threshold {fmt(cell['threshold'])} "
                    f"= {fmt(ratio)}×"
                    if ratio is not None
                    else "not judged"
                )
                + (" · BREACH" if cell["breach"] else "")
            )
            stroke = ""
            if (feat, w["start_ms"]) in marked:
                stroke = ' stroke="#111827" stroke-width="1.5"'
            shown = "" if ratio is None else f"{ratio:.4g}"
            rect = (
                f'<rect class="cell" x="{x:.1f}" y="{y}" width="{max(1.0, cw - 1):.1f}" '
                f'height="{cell_h - 2}" fill="{fill}"{stroke} data-feature="{escape(feat)}" '
                f'data-window="{escape(key)}" data-ratio="{shown}" '
                f'data-breach="{str(cell["breach"]).lower()}" '
                f'data-baseline="{escape(cell["baseline"])}">'
                f"<title>{escape(tip)}</title></rect>"
            )
            if cell["breach"]:
                rad = max(1.2, min(cw, cell_h) / 6)
                rect += (
                    f'<circle class="breach" cx="{x + (cw - 1) / 2:.1f}" '
                    f'cy="{y + (cell_h - 2) / 2}" '
                    f'r="{rad:.1f}" fill="#111827" fill-opacity="0.7" pointer-events="none"/>'
                )
            out.append(a_link(link(feat, key) if link else None, rect))
    # focus column
    for c, w in enumerate(wins):
        if w["key"] == focus_window:
            x = label_w + c * cw - 1
            out.append(
                f'<rect class="focus" data-window="{escape(str(w["key"]))}" x="{x:.1f}" '
                f'y="{top - 3}" width="{cw + 1:.1f}" height="{grid_h + 4}" fill="none" '
                'stroke="#1d4ed8" stroke-width="2" rx="2" pointer-events="none"/>'
            )
    # gaps: columns are the windows that exist; a jump in time between two is marked
    step_ms = 86_400_000 if scale == "day" else 3_600_000
    for c in range(1, len(starts)):
        missing = (starts[c] - starts[c - 1]) // step_ms - 1
        if missing > 0:
            x = label_w + c * cw - 0.5
            out.append(
                f'<line class="gap" data-missing="{missing}" x1="{x:.1f}" y1="{top - 6}" '
                f'x2="{x:.1f}" y2="{top + grid_h + 4}" stroke="#0f172a" stroke-width="2" '
                f'stroke-dasharray="3 2"><title>{missing} {escape(scale)} window(s) without '
                "data here</title></line>"
            )
    # x axis labels
    step = max(1, math.ceil(72 / cw))
    y_lab = top + grid_h + 14
    for c in range(0, len(wins), step):
        x = label_w + c * cw
        out.append(
            f'<line x1="{x:.1f}" y1="{top + grid_h}" x2="{x:.1f}" y2="{top + grid_h + 4}" '
            f'stroke="#94a3b8"/><text x="{x:.1f}" y="{y_lab}" fill="#475569">'
            f"{escape(window_label(str(wins[c]['key']), scale))}</text>"
        )
    out.append("</svg>")
    return "".join(out)


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
