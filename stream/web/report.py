"""The self-contained HTML report of one window: the dashboard's plots and numbers, inline.

One file, no external links, scripts or fonts: inline CSS and SVG only, so it can be
attached to an incident ticket or mailed. Built from :meth:`.data.DashboardData.report`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from stream.web import components, pages
from stream.web.joint import joint_section
from stream.web.links import Links
from stream.web.summaries import ALL, WindowInfo
from stream.web.svg import fmt

__all__ = ["report_html"]

_NO_LINKS = Links(None)


def _kv(items: list[tuple[str, str]]) -> str:
    return (
        '<dl class="kv">' + "".join(f"<dt>{escape(k)}</dt><dd>{v}</dd>" for k, v in items) + "</dl>"
    )


def _reference(meta: Mapping[str, Any]) -> str:
    """One line of the reference's provenance: name, version, events, hours covered."""
    if not meta:
        return "–"
    first, last = str(meta.get("first_hour") or ""), str(meta.get("last_hour") or "")
    parts = [
        str(meta.get("name") or "reference"),
        f"version {meta['version']}" if meta.get("version") else "",
        f"{fmt(meta.get('events'))} events",
        f"{first[:13]} → {last[:13]} UTC" if first and last else "",
    ]
    return escape(" · ".join(p for p in parts if p))


def _covers(alert: Mapping[str, Any], start_ms: int, end_ms: int) -> bool:
    first = int(alert["first_seen_ms"])
    last = alert.get("end_ms")
    return first < end_ms and (last is None or int(last) >= start_ms)


def report_html(
    report: Mapping[str, Any], *, generated_ms: int | None = None, panels: Sequence[str] = ()
) -> str:
    """The report page (a complete HTML document); ``panels``: extra sections (HTML)."""
    summary = report["model"]
    model = str(summary["name"])
    win: WindowInfo = report["window"]
    key = win.key
    scale = key.partition(":")[0]
    other = "day" if scale == "hour" else "hour"
    rows = win.rows
    breaches = sorted({str(r["feature"]) for r in rows if r["breach"]})
    ref = report.get("reference") or {}
    when = (
        dt.datetime.fromtimestamp(generated_ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        if generated_ms is not None
        else "–"
    )
    verdict = (
        f'<span class="chip breach critical">drift: {escape(", ".join(breaches))}</span>'
        if breaches
        else '<span class="chip ok">no drift</span>'
        if win.evaluated
        else f'<span class="chip none">not evaluated</span> {escape(win.why_not or "")}'
    )
    facts = _kv(
        [
            ("model", f"<b>{escape(model)}</b>"),
            ("window", f"<b>{escape(key)}</b> (UTC)"),
            ("namespace", escape(str(report["namespace"]))),
            ("events", f"{fmt(win.events)} ({fmt(win.late)} late)"),
            ("verdict", verdict),
            ("reference", _reference(ref)),
            ("generated", escape(when)),
        ]
    )
    tracks = {
        sc: [a for a in alerts if _covers(a, win.start_ms, win.end_ms)]
        for sc, alerts in report["alerts"].items()
    }
    parts = [
        f"<h1>Drift report: {escape(model)} <small>{escape(key)}</small></h1>",
        f'<section class="card">{facts}</section>',
        "<h3>Alerts over this window</h3>",
        components.alerts_block(tracks, model, _NO_LINKS),
        components.heatmap_card(
            report["heatmaps"][scale],
            model,
            _NO_LINKS,
            focus_window=key,
            focus_feature=None,
            title=f"Drift by {scale} around {key}",
        ),
    ]
    if report["heatmaps"][other].windows:
        title = f"The hours of {key}" if other == "hour" else f"Drift by {other}"
        parts.append(
            components.heatmap_card(
                report["heatmaps"][other],
                model,
                _NO_LINKS,
                focus_window=key if other == scale else None,
                focus_feature=None,
                title=title,
            )
        )
    parts.append(components.window_card(win, model, _NO_LINKS, focus_feature=None, baseline=ALL))
    if report.get("joint") is not None:
        parts.append(joint_section(report["joint"], _NO_LINKS))
    parts.extend(panels)
    parts.append("<h2 style='margin:20px 0 10px'>Features</h2>")
    for detail in report["features"]:
        parts.append(components.feature_section(detail, _NO_LINKS, baseline=ALL))
    body = f'<div class="report" data-model="{escape(model)}" data-window="{escape(key)}">'
    body += "".join(parts) + "</div>"
    return pages.shell(
        f"driftstream report — {model} {key}",
        body,
        namespace=str(report["namespace"]),
        links=_NO_LINKS,
        crumbs=[("report", None), (model, None), (key, None)],
        page="report",
        footer=f"driftstream report · generated {escape(when)} · self-contained: no external "
        "resources",
    )
