"""HTML pages from the plain dicts of :mod:`.data`: pure string building.

One shell (``static/page.html``) with the stylesheet inlined (``static/dashboard.css``),
sections from :mod:`.components`. The same sections make the dashboard (links between
views) and the self-contained report (:class:`Links` with ``base=None``: no links).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from html import escape
from importlib import resources
from string import Template
from typing import Any

from stream import __version__
from stream.web import svg
from stream.web.components import (
    a_href,
    alerts_block,
    feature_section,
    heatmap_card,
    table,
    verdict,
    window_card,
)
from stream.web.joint import joint_section
from stream.web.links import Links
from stream.web.summaries import FeatureDetail, WindowInfo

__all__ = ["Links", "login_page", "message_page", "model_page", "models_page", "shell"]


@cache
def _static(name: str) -> str:
    return (resources.files("stream.web") / "static" / name).read_text(encoding="utf-8")


def shell(
    title: str,
    body: str,
    *,
    namespace: str,
    links: Links,
    crumbs: Sequence[tuple[str, str | None]] = (),
    page: str = "",
    footer: str = "",
) -> str:
    """A whole page: the shell template with the stylesheet inlined.

    A page of a replay's namespace (``links.namespace``) opens with a banner naming it,
    with the way back to the live dashboard.
    """
    sep = '<span class="sep">›</span>'
    if links.namespace:
        body = (
            f'<p class="replay-ns" data-namespace="{escape(links.namespace)}">Namespace '
            f"<b>{escape(links.namespace)}</b>: what <code>driftstream replay</code> evaluated, "
            f"not live data. {a_href(links.live(), 'Live dashboard')}</p>" + body
        )
    trail = sep.join(a_href(href, escape(text)) for text, href in crumbs)
    return Template(_static("page.html")).substitute(
        title=escape(title),
        css=_static("dashboard.css"),
        home=a_href(links.models(), "driftstream"),
        crumbs=trail,
        namespace=escape(namespace),
        body=body,
        page=escape(page),
        version=escape(__version__),
        footer=footer or f"driftstream {escape(__version__)}",
        account=(
            f' <a class="logout" href="{escape(out)}">Log out</a>'
            if (out := links.logout()) and page != "login"
            else ""
        ),
    )


def _windows(model: str, w: Mapping[str, Any], links: Links) -> str:
    last = w["last"]
    if not last:
        return f"{w['count']}"
    return f"{w['count']} · last {a_href(links.model(model, window=last), escape(last))}"


def models_page(models: Sequence[Mapping[str, Any]], namespace: str, links: Links) -> str:
    """The models list: features, windows, open alerts and the last hours' drift."""
    rows = []
    for m in models:
        name = str(m["name"])
        hour, day = m["windows"]["hour"], m["windows"]["day"]
        alerts = (
            " ".join(
                a_href(
                    links.model(name, window=a["first_seen"], feature=(a["members"] or [None])[0]),
                    f'<span class="chip {escape(a["severity"])}">{escape(a["severity"])} · '
                    f"{escape(', '.join(a['members']))} · {escape(a['scale'])}/"
                    f"{escape(a['baseline'])}</span>",
                )
                for a in m["open_alerts"]
            )
            or '<span class="chip ok">none</span>'
        )

        def wlink(w: str, model: str = name) -> str | None:
            return links.model(model, window=w)

        rows.append(
            [
                f"<b>{a_href(links.model(name), escape(name), 'model-link')}</b>",
                f"{len(m['features'])}",
                _windows(name, hour, links),
                _windows(name, day, links),
                alerts,
                svg.strip_svg(m["recent"], link=wlink),
            ]
        )
    listing = (
        table(
            [
                "model",
                "features",
                "hour windows",
                "day windows",
                "open alerts",
                f"last {max((len(m['recent']) for m in models), default=0)} hours",
            ],
            rows,
            data_table="models",
        )
        if rows
        else '<p class="empty">No model is configured.</p>'
    )
    body = (
        "<h1>Models</h1>"
        '<p class="sub">Drift decisions of every configured model; open a model for its '
        "heatmap, distributions and metrics.</p>"
        f'<section class="card">{listing}</section>'
    )
    return shell(
        "driftstream — models",
        body,
        namespace=namespace,
        links=links,
        crumbs=[("models", None)],
        page="models",
    )


def model_page(page: Mapping[str, Any], links: Links) -> str:
    """A model: both heatmaps, the focused feature in the focused window, the window table."""
    summary = page["model"]
    model = str(summary["name"])
    baseline = str(page["baseline"])
    win: WindowInfo | None = page.get("window")
    detail: FeatureDetail | None = page.get("feature")
    focus_window = win.key if win else None
    focus_feature = detail.feature if detail else None
    scale = str(page["scale"])
    other = "day" if scale == "hour" else "hour"
    tracks = page["alerts"]
    feats = ", ".join(f"{f['name']} ({f['kind'][:3]})" for f in summary["features"])
    focus_bar = (
        '<div class="focus-bar">'
        f'<span class="label">window</span><span class="what" data-focus="window">'
        f"{escape(focus_window or '–')}</span>"
        f'<span class="label">feature</span><span class="what" data-focus="feature">'
        f"{escape(focus_feature or '–')}</span>"
        + (
            f'<span class="label">vs</span><span class="what">{escape(detail.baseline)}</span>'
            if detail and detail.baseline
            else ""
        )
        + (f"<span>{verdict(detail.decisions[0])}</span>" if detail and detail.decisions else "")
        + "</div>"
    )

    def heatmap(sc: str) -> str:
        return heatmap_card(
            page["heatmaps"][sc],
            model,
            links,
            focus_window=focus_window,
            focus_feature=focus_feature,
            baselines=page["baselines"],
        )

    parts = [
        f"<h1>{escape(model)}<small>{escape(feats)}</small></h1>",
        f'<p class="sub">baselines {escape(", ".join(summary["baselines"]))} · '
        f"{summary['windows']['hour']['count']} hour and {summary['windows']['day']['count']} "
        "day windows evaluated</p>",
        alerts_block(tracks, model, links),
        focus_bar,
        heatmap(scale),
    ]
    if detail:
        parts.append(feature_section(detail, links, baseline=baseline))
    joint = page.get("joint")
    if joint is not None and detail is None:  # the joint member in focus: its card first
        parts.append(joint_section(joint, links))
    if win:
        parts.append(window_card(win, model, links, focus_feature=focus_feature, baseline=baseline))
    if joint is not None and detail is not None:
        parts.append(joint_section(joint, links))
    parts.append(heatmap(other))
    body = (
        f'<div data-model="{escape(model)}" data-window="{escape(focus_window or "")}" '
        f'data-feature="{escape(focus_feature or "")}">' + "".join(parts) + "</div>"
    )
    title = f"{model} · {focus_window or ''} · {focus_feature or ''} — driftstream"
    return shell(
        title,
        body,
        namespace=str(page["namespace"]),
        links=links,
        crumbs=[("models", links.models()), (model, links.model(model))],
        page="model",
    )


def message_page(title: str, text: str, *, namespace: str, links: Links) -> str:
    """A plain page with one message (not found, bad request)."""
    body = f'<section class="card"><h1>{escape(title)}</h1><p>{escape(text)}</p></section>'
    return shell(title, body, namespace=namespace, links=links, page="message")


def login_page(next_url: str, *, namespace: str, links: Links, error: str = "") -> str:
    """Asks for the dashboard token; posts it to ``/login``, which opens a session.

    The token goes in the POST body, never in a URL; ``next_url`` (a local path) is
    where the session lands.
    """
    hidden = f'<input type="hidden" name="next" value="{escape(next_url)}">' if next_url else ""
    problem = f'<p class="error" role="alert">{escape(error)}</p>' if error else ""
    body = (
        '<section class="card login"><h1>Token required</h1>'
        '<p class="sub">This dashboard is protected by a token '
        "(<code>web.token</code>). Enter it to open a session in this browser; "
        "<b>Log out</b> ends it.</p>"
        f"{problem}"
        f'<form method="post" action="{escape(links.base or "")}/login">{hidden}'
        '<input type="password" name="token" autofocus '
        'autocomplete="current-password" aria-label="token">'
        "<button type=submit>Open</button></form></section>"
    )
    return shell(
        "driftstream — token required", body, namespace=namespace, links=links, page="login"
    )
