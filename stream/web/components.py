"""Page sections shared by the dashboard and the report (pure string building).

Heatmap cards, a feature's plots and numbers, a window's table, the alerts list.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from stream.core.window import DAY, HOUR, WindowKey
from stream.web import charts, svg
from stream.web.links import Links
from stream.web.summaries import ALL, FeatureDetail, Heatmap, MetricSeries, WindowInfo
from stream.web.svg import fmt, pct

__all__ = [
    "a_href",
    "alerts_block",
    "feature_section",
    "heatmap_card",
    "table",
    "verdict",
    "window_card",
]


def a_href(href: str | None, text: str, cls: str = "") -> str:
    """A link, or a span when there is no URL (the report)."""
    c = f' class="{cls}"' if cls else ""
    return f'<a href="{escape(href)}"{c}>{text}</a>' if href else f"<span{c}>{text}</span>"


def table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], *, num: Sequence[int] = (), **attrs: str
) -> str:
    """An HTML table; a row whose first cell starts with NUL is a row class, not a cell."""
    extra = "".join(f' {k.replace("_", "-")}="{escape(v)}"' for k, v in attrs.items())
    th = "".join(f"<th{' class=num' if i in num else ''}>{h}</th>" for i, h in enumerate(headers))
    body = []
    for row in rows:
        cls = ""
        if row and row[0].startswith("\0"):  # row marker: "\0class" as first cell
            cls, row = row[0][1:], row[1:]
        tds = "".join(f"<td{' class=num' if i in num else ''}>{c}</td>" for i, c in enumerate(row))
        body.append(f'<tr class="{cls}">{tds}</tr>' if cls else f"<tr>{tds}</tr>")
    return f"<table{extra}><thead><tr>{th}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def verdict(row: Mapping[str, Any]) -> str:
    """A chip: breach (with severity), ok, or not judged."""
    if row.get("breach"):
        sev = str(row.get("severity") or "warning")
        return f'<span class="chip breach {escape(sev)}">breach · {escape(sev)}</span>'
    if row.get("ratio") is None:
        return '<span class="chip none">not judged</span>'
    return '<span class="chip ok">ok</span>'


def _ci(row: Mapping[str, Any]) -> str:
    lo, hi = (list(row.get("ci") or []) + [None, None])[:2]
    return f"{fmt(row.get('magnitude'))} [{fmt(lo)}, {fmt(hi)}]"


def _window_key(scale: str, start_ms: int) -> str:
    return str(WindowKey(HOUR if scale == HOUR else DAY, start_ms))


def alerts_block(
    tracks: Mapping[str, Sequence[Mapping[str, Any]]], model: str, links: Links
) -> str:
    """Open alerts first, then the latest resolved ones, each linking to its window."""
    rows = []
    for scale, alerts in tracks.items():
        for a in alerts:
            rows.append((scale, a))
    rows.sort(key=lambda sa: (sa[1]["status"] != "open", -int(sa[1]["first_seen_ms"])))
    if not rows:
        return '<p class="sub">No alerts recorded for this model.</p>'
    out = ['<div class="alerts-list">']
    for scale, a in rows[:8]:
        events = a.get("events") or []
        last = events[-1] if events else None
        win = str(last["window"]) if last else _window_key(scale, int(a["first_seen_ms"]))
        first_feature = a["members"][0] if a["members"] else None
        href = links.model(model, window=win, feature=first_feature) if win else None
        # Only a published `resolved` event closes an alert for pagers: one the lifecycle no
        # longer tracks but never resolved ("closed") is still open there, so not green.
        cls = "resolved" if a["status"] == "resolved" else "open"
        summary = escape(str(last.get("summary") or "")) if last else ""
        out.append(
            f'<div class="alert-row {cls}" data-dedup="{escape(a["dedup_key"])}">'
            f'<span class="chip {cls}">'
            f"{'unresolved' if a['status'] == 'closed' else escape(a['status'])}</span>"
            f'<span class="chip {escape(a["severity"])}">{escape(a["severity"])}</span>'
            f"<b>{escape(', '.join(a['members']) or '—')}</b>"
            f'<span class="label">{escape(scale)} vs {escape(str(a["baseline"]))}</span>'
            + (a_href(href, escape(win)) if win else "")
            + (f'<span class="reasons">{summary}</span>' if summary else "")
            + "</div>"
        )
    out.append("</div>")
    return "".join(out)


def heatmap_card(
    hm: Heatmap,
    model: str,
    links: Links,
    *,
    focus_window: str | None,
    focus_feature: str | None,
    baselines: Sequence[str] = (),
    title: str | None = None,
) -> str:
    """A heatmap in a card, with the baseline selector and the colour legend."""
    scale = str(hm.scale)
    chosen = hm.baseline
    tabs = ""
    if baselines and links.base is not None:
        tabs = (
            '<span class="tabs">'
            + "".join(
                a_href(
                    links.model(model, window=focus_window, feature=focus_feature, baseline=b),
                    escape(b),
                    "on" if b == chosen else "",
                )
                for b in baselines
            )
            + "</span>"
        )

    def link(feature: str, window: str) -> str | None:
        return links.model(model, window=window, feature=feature, baseline=chosen)

    heading = title or f"Drift by {scale}"
    return (
        f'<section class="card" id="heatmap-{escape(scale)}">'
        f'<div class="card-head"><h2>{escape(heading)}</h2>'
        f'<span class="label">effect / threshold of each feature\'s top metric, '
        f"vs {escape(chosen if chosen != ALL else 'every baseline (strongest)')}</span>"
        f'<span class="grow"></span>{tabs}'
        f'<span class="legend-wrap">{svg.legend_svg()}</span></div>'
        + svg.heatmap_svg(
            hm,
            link=link if links.base is not None else None,
            focus_window=focus_window,
            focus_feature=focus_feature,
        )
        + "</section>"
    )


def _stats_table(dist: Mapping[str, Any]) -> str:
    series: list[Mapping[str, Any]] = dist.get("series", [])
    if not series:
        return '<p class="empty">No sketches stored for this feature.</p>'
    names = [escape(str(s["name"])) for s in series]
    if dist.get("kind") == "categorical":
        cats: list[str] = dist.get("categories", [])
        ref = next((s for s in series if s["name"] == "reference"), None)
        win = next((s for s in series if s["name"] == "window"), None)
        rows = []
        for i, c in enumerate(cats):
            cells = [pct(s["shares"][i]) for s in series]
            delta = f"{100 * (win['shares'][i] - ref['shares'][i]):+.1f} pt" if ref and win else "–"
            rows.append([escape(c), *cells, delta])
        for key, label in (
            ("count", "valid values"),
            ("null_share", "nulls"),
            ("distinct", "distinct"),
        ):
            vals = [s["stats"].get(key) for s in series]
            shown = [pct(v) if key == "null_share" else fmt(v) for v in vals]
            rows.append([f"<i>{label}</i>", *shown, ""])
        heads = ["category", *names, "Δ window − reference"]
        return table(heads, rows, num=range(1, len(series) + 2), data_table="distribution")
    keys = [
        ("count", "values"),
        ("null_share", "nulls"),
        ("mean", "mean"),
        ("std", "std"),
        ("min", "min"),
        ("p01", "p1"),
        ("p05", "p5"),
        ("p25", "p25"),
        ("p50", "median"),
        ("p75", "p75"),
        ("p95", "p95"),
        ("p99", "p99"),
        ("max", "max"),
    ]
    rows = []
    for key, label in keys:
        vals = [s["stats"].get(key) for s in series]
        rows.append([label, *[pct(v) if key == "null_share" else fmt(v) for v in vals]])
    if dist.get("edges"):
        rows.append(["outside the plot", *[pct(s["below"] + s["above"]) for s in series]])
    return table(["", *names], rows, num=range(1, len(series) + 1), data_table="distribution")


_JUDGED = (
    "baseline",
    "verdict",
    "top metric",
    "effect",
    "threshold",
    "ratio",
    "p-value",
    "P(drift)",
)
"""Headers of :func:`_judged` cells."""


def _judged(r: Mapping[str, Any]) -> list[str]:
    """One decision's judged cells, from its baseline to its P(drift) (the tables share them)."""
    return [
        escape(str(r["baseline"])),
        verdict(r),
        escape(str(r["metric"])),
        fmt(r["effect"]),
        fmt(r["threshold"]),
        fmt(r["ratio"]),
        fmt(r["p_value"]),
        pct(r["p_drift"]),
    ]


def _marked(mark: str, cells: list[str]) -> list[str]:
    """A table row with its class marker (NUL + ``hl`` or ``breach``) when there is one."""
    return [mark, *cells] if mark else cells


def _decisions_table(rows: Sequence[Mapping[str, Any]], focus_baseline: str | None) -> str:
    if not rows:
        return '<p class="empty">No decision for this feature in this window.</p>'
    body = []
    for r in rows:
        mark = "\0hl" if r["baseline"] == focus_baseline else ("\0breach" if r["breach"] else "")
        body.append(_marked(mark, [*_judged(r), _ci(r), fmt(r["n_window"])]))
    heads = [*_JUDGED, "magnitude [95% CI]", "n"]
    return table(heads, body, num=(3, 4, 5, 6, 7, 9), data_table="decisions")


def _metrics_table(row: Mapping[str, Any] | None) -> str:
    if not row or not row.get("metrics"):
        return ""
    body = []
    for name, (v, t, p) in row["metrics"].items():
        ratio = abs(v) / t if v is not None and t else None
        mark = "\0breach" if ratio is not None and ratio > 1 else ""
        cells = [escape(name), fmt(v), fmt(t), fmt(ratio), fmt(p)]
        body.append(_marked(mark, cells))
    return f"<h3>Every metric vs {escape(str(row['baseline']))}</h3>" + table(
        ["metric", "value", "threshold", "ratio", "p-value"],
        body,
        num=(1, 2, 3, 4),
        data_table="metrics",
    )


def _series_table(series: MetricSeries | None, focus_window: str | None) -> str:
    if not series or not series.points:
        return ""
    body = []
    for p in reversed(series.points):
        mark = "\0hl" if p.window == focus_window else ("\0breach" if p.breach else "")
        cells = [
            escape(p.window),
            fmt(p.value),
            fmt(p.threshold),
            fmt(p.ratio),
            fmt(p.p_value),
            "breach" if p.feature_breach else "",
            fmt(p.n_window),
        ]
        body.append(_marked(mark, cells))
    return (
        f"<details><summary>{escape(series.metric)} in each window "
        f"({len(series.points)})</summary>"
        + table(
            ["window", "value", "threshold", "ratio", "p-value", "feature", "n"],
            body,
            num=(1, 2, 3, 4, 6),
            data_table="series",
        )
        + "</details>"
    )


def feature_section(detail: FeatureDetail, links: Links, *, baseline: str = ALL) -> str:
    """Distribution overlay, metric over time and the numbers of one feature in one window."""
    model, feature = detail.model, detail.feature
    window, scale = detail.window, detail.scale
    chosen = detail.baseline
    metric = detail.metric
    dist = detail.distribution
    series = detail.series
    metric_tabs = ""
    if links.base is not None and detail.metrics:
        metric_tabs = (
            '<span class="tabs">'
            + "".join(
                a_href(
                    links.model(model, window=window, feature=feature, baseline=baseline, metric=m),
                    escape(m),
                    "on" if m == metric else "",
                )
                for m in detail.metrics
            )
            + "</span>"
        )
    names = [str(s["name"]) for s in dist.get("series", [])]
    caption = " vs ".join(escape(n) for n in names) or "nothing stored"
    if window and not dist.get("window_stored"):
        caption += " — the window's sketch has expired (merged_sketch_retention_ms)"

    def wlink(w: str) -> str | None:
        return links.model(model, window=w, feature=feature, baseline=baseline, metric=metric)

    focus_row = next((r for r in detail.decisions if r["baseline"] == chosen), None)
    anchor = f"feature-{escape(feature)}"
    return (
        f'<section class="feature" id="{anchor}" data-feature="{escape(feature)}" '
        f'data-window="{escape(str(window or ""))}" data-baseline="{escape(str(chosen or ""))}">'
        '<div class="grid2">'
        f'<div class="card"><div class="card-head"><h2>{escape(feature)} — distribution</h2>'
        f'<span class="label">{escape(detail.kind)} · {caption}</span></div>'
        + charts.overlay_svg(dict(dist))
        + "</div>"
        f'<div class="card"><div class="card-head"><h2>{escape(str(metric or "metric"))} by '
        f"{escape(scale)}</h2>"
        f'<span class="label">vs {escape(str(chosen or "–"))}; dashed: threshold; red: breach'
        f"</span>{metric_tabs}</div>"
        + charts.series_svg(
            series,
            scale=scale,
            focus_window=str(window) if window else None,
            link=wlink if links.base is not None else None,
        )
        + "</div></div>"
        f'<section class="card"><div class="card-head"><h2>The numbers: {escape(feature)} in '
        f"{escape(str(window or '–'))}</h2></div>"
        + _decisions_table(detail.decisions, chosen)
        + _metrics_table(focus_row)
        + "<h3>Distribution</h3>"
        + _stats_table(dist)
        + _series_table(series, str(window) if window else None)
        + "</section></section>"
    )


def window_card(
    win: WindowInfo, model: str, links: Links, *, focus_feature: str | None, baseline: str
) -> str:
    """Every feature's decision in one window (the table behind a heatmap column)."""
    rows = []
    for r in win.rows:
        if baseline not in (ALL, r["baseline"]):
            continue
        mark = "\0hl" if r["feature"] == focus_feature else ("\0breach" if r["breach"] else "")
        name = a_href(
            links.model(model, window=win.key, feature=r["feature"], baseline=baseline)
            if links.base is not None
            else f"#feature-{r['feature']}",
            escape(str(r["feature"])),
        )
        reasons = f'<span class="reasons">{escape("; ".join(r["reasons"][:2]))}</span>'
        rows.append(_marked(mark, [name, *_judged(r), reasons]))
    heads = ["feature", *_JUDGED, "why"]
    listing = (
        table(heads, rows, num=(4, 5, 6, 7, 8), data_table="window")
        if rows
        else '<p class="empty">This window was not evaluated: '
        f"{escape(win.why_not or 'no decision is stored')}.</p>"
    )
    counts = f"{fmt(win.events)} events, {fmt(win.late)} late"
    return (
        f'<section class="card" id="window"><div class="card-head"><h2>Window {escape(win.key)}'
        f'</h2><span class="label">{counts}</span></div>{listing}</section>'
    )
