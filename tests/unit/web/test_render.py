"""Rendering: SVG charts carry their numbers, pages link right, the report links nowhere."""

from __future__ import annotations

import dataclasses
import re
from html.parser import HTMLParser
from typing import Any

import numpy as np

from stream.core.alert import dashboard_url
from stream.core.sketch import CategoricalSketch, NumericSketch
from stream.core.window import HOUR_MS, WindowKey
from stream.web import charts, pages, svg
from stream.web.distributions import distribution
from stream.web.links import Links
from stream.web.report import report_html
from stream.web.summaries import (
    ALL,
    FeatureDetail,
    Heatmap,
    WindowInfo,
    alert_tracks,
    heatmap,
    metric_series,
    window_rows,
)
from tests.unit.web.test_summaries import EVALS, STARTS, T0, _alert


class _Tags(HTMLParser):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))

    def find(self, tag: str, cls: str) -> list[dict[str, str]]:
        return [a for t, a in self.tags if t == tag and cls in a.get("class", "").split()]


def _hm(**kw: Any) -> Heatmap:
    hm = heatmap(
        EVALS, STARTS, ["amount", "<b>x</b>"], "hour", ALL, events={T0: 5, T0 + HOUR_MS: 9}
    )
    alerts = alert_tracks([_alert("triggered", T0 + HOUR_MS, T0 + HOUR_MS)], [], "hour", ALL)
    return dataclasses.replace(hm, alerts=alerts, **kw)


def test_heatmap_cells_links_and_alerts() -> None:
    out = svg.heatmap_svg(
        _hm(),
        link=lambda f, w: Links("").model("m", window=w, feature=f),
        focus_window="hour:2026-01-01T01",
        focus_feature="amount",
    )
    doc = _Tags(out)
    (root,) = doc.find("svg", "heatmap")
    assert (root["data-rows"], root["data-cols"], root["data-alerts"]) == ("2", "2", "1")
    cells = [c for c in doc.find("rect", "cell") if "empty" not in c["class"]]
    assert [c["data-ratio"] for c in cells] == ["0.7", "3"]
    assert cells[1]["data-breach"] == "true" and cells[1]["stroke"] == "#111827"  # alerted
    assert len(doc.find("rect", "empty")) == 2
    assert doc.find("rect", "focus")[0]["data-window"] == "hour:2026-01-01T01"
    assert doc.find("rect", "alert-span")[0]["data-status"] == "closed"
    hrefs = [a["href"] for t, a in doc.tags if t == "a"]
    assert "/models/m?window=hour:2026-01-01T01&feature=amount" in hrefs
    assert "<b>x</b>" not in out and "&lt;b&gt;x&lt;/b&gt;" in out  # names are escaped


def test_empty_heatmap_says_so() -> None:
    out = svg.heatmap_svg(heatmap({}, [], ["a"], "day", ALL))
    assert 'data-cols="0"' in out and "No day window evaluated yet." in out


def test_ratio_colours_warm_up_through_the_threshold() -> None:
    def rgb(r: float, breach: bool) -> list[int]:
        c = svg.ratio_color(r, breach)
        return [int(c[i : i + 2], 16) for i in (1, 3, 5)]

    cool = [rgb(r, False) for r in (0.0, 0.3, svg.NOT_BREACH_CAP)]
    light = [sum(rgb(r, True)) for r in (1.0, 2.0, 4.0)]
    assert all(c[2] >= c[0] for c in cool)  # no red cast below the threshold
    assert rgb(1.0, True)[0] > rgb(1.0, True)[2] and light == sorted(light, reverse=True)
    assert rgb(4.0, True) == rgb(9.0, True)
    assert svg.ratio_color(None, True) == svg.ratio_color(4.0, True)


def test_cell_colour_agrees_with_the_verdict() -> None:
    """A score far past its threshold without a breach verdict (an unconfident score, or a
    metric the verdict does not rank) is not drawn as drift; a breach always is."""
    threshold = svg.ratio_color(1.0, True)
    for r in (1.0, 2.5, 6.0, 40.0):
        assert svg.ratio_color(r, False) == svg.ratio_color(svg.NOT_BREACH_CAP, False)
        assert svg.ratio_color(r, False) != threshold
    for r in (0.0, 0.3, 0.99):
        assert svg.ratio_color(r, True) == threshold


def test_overlay_numeric_and_categorical() -> None:
    rng = np.random.default_rng(3)
    ref = NumericSketch.zero().update(rng.normal(0, 1, 5000))
    win = NumericSketch.zero().update(rng.normal(1, 1, 500))
    base = NumericSketch.zero().update(rng.normal(0.2, 1, 500))
    num = charts.overlay_svg(
        distribution([("reference", ref), ("previous (hour:x)", base), ("window", win)])
    )
    paths = _Tags(num).find("path", "dist")
    assert [p["data-series"] for p in paths] == ["reference", "previous (hour:x)", "window"]
    assert all(float(p["data-mass"]) > 0.95 for p in paths)
    assert 'stroke-dasharray="5 3"' in num  # the baseline window is dashed
    cat = charts.overlay_svg(
        distribution(
            [
                ("reference", CategoricalSketch.zero().update(["a", "a", "b"])),
                ("window", CategoricalSketch.zero().update(["b", "c"])),
            ]
        )
    )
    bars = _Tags(cat).find("rect", "bar")
    assert {(b["data-series"], b["data-category"], b["data-share"]) for b in bars} >= {
        ("reference", "a", "0.666667"),
        ("window", "c", "0.500000"),
    }
    assert "no stored sketches" in charts.overlay_svg({"kind": "none", "series": []})


def test_series_threshold_breaches_and_focus() -> None:
    s = metric_series(EVALS, STARTS, "hour", "amount", "reference", "ks")
    out = charts.series_svg(s, scale="hour", focus_window="hour:2026-01-01T01", link=lambda w: w)
    doc = _Tags(out)
    pts = doc.find("circle", "pt")
    assert [p["data-breach"] for p in pts] == ["false", "true"]
    assert pts[1]["data-threshold"] == "0.1"
    assert doc.find("path", "threshold") and doc.find("line", "focus")
    signed = dataclasses.replace(
        s,
        points=[dataclasses.replace(p, value=-(p.value or 0.0)) for p in s.points],
    )
    assert len(_Tags(charts.series_svg(signed, scale="hour")).find("path", "threshold")) == 2
    assert "no measured windows" in charts.series_svg(None, scale="hour")


def test_links_match_the_alert_dashboard_urls() -> None:
    base = "https://dash.example/ds"
    w = WindowKey("hour", T0)
    for model, feature in (("fraud-v3", "amount"), ("a b/c", "é&x")):
        assert Links(base).model(model, window=str(w), feature=feature) == dashboard_url(
            base, model, w, feature
        )
    assert Links(base).model("m", baseline=ALL) == f"{base}/models/m"
    assert Links(None).models() is None
    # A replay's alerts link into its namespace, and its pages' links stay there.
    ns = "replay-1a2b3c4d5e"
    for feature in ("amount", None):
        assert Links(base, namespace=ns).model("m", window=str(w), feature=feature) == (
            dashboard_url(base, "m", w, feature, namespace=ns)
        )
    assert Links(base, namespace=ns).models() == f"{base}/models?namespace={ns}"
    assert Links(base, namespace=ns).live() == f"{base}/models"


def _page(links: Links) -> dict[str, Any]:
    rows = window_rows(EVALS[T0 + HOUR_MS])
    hist = [_alert("triggered", T0 + HOUR_MS, T0 + HOUR_MS)]
    rng = np.random.default_rng(5)
    dist = distribution(
        [
            ("reference", NumericSketch.zero().update(rng.normal(0, 1, 500))),
            ("window", NumericSketch.zero().update(rng.normal(1, 1, 500))),
        ]
    )
    dist["window_stored"] = True
    feature = FeatureDetail(
        model="m",
        feature="amount",
        kind="numeric",
        scale="hour",
        window="hour:2026-01-01T01",
        baseline="reference",
        metric="ks",
        metrics=["js", "ks"],
        decisions=[r for r in rows if r["feature"] == "amount"],
        distribution=dist,
        series=metric_series(EVALS, STARTS, "hour", "amount", "reference", "ks"),
    )
    hm = _hm()
    return {
        "model": {
            "name": "m",
            "features": [{"name": "amount", "kind": "numeric"}],
            "baselines": ["reference", "previous"],
            "windows": {"hour": {"count": 2}, "day": {"count": 0}},
        },
        "namespace": "live",
        "reference": {"events": 100, "version": "v1"},
        "scale": "hour",
        "baseline": ALL,
        "baselines": [ALL, "reference", "previous"],
        "alerts": {"hour": alert_tracks(hist, [], "hour", ALL), "day": []},
        "window": WindowInfo(
            key="hour:2026-01-01T01",
            start_ms=T0 + HOUR_MS,
            end_ms=T0 + 2 * HOUR_MS,
            events=9,
            late=0,
            stored=True,
            evaluated=True,
            rows=rows,
        ),
        "heatmaps": {"hour": hm, "day": heatmap({}, [], ["amount"], "day", ALL)},
        "feature": feature,
        "features": [feature],
    }


def test_model_page_focuses_window_and_feature() -> None:
    html = pages.model_page(_page(Links("")), Links(""))
    doc = _Tags(html)
    (root,) = [a for t, a in doc.tags if t == "div" and "data-model" in a]
    assert (root["data-window"], root["data-feature"]) == ("hour:2026-01-01T01", "amount")
    assert doc.find("svg", "heatmap") and doc.find("svg", "overlay") and doc.find("svg", "series")
    tables = {a["data-table"] for t, a in doc.tags if t == "table"}
    assert tables == {"decisions", "metrics", "distribution", "series", "window"}
    hrefs = {a["href"] for t, a in doc.tags if t == "a"}
    assert "/models/m?window=hour:2026-01-01T01&feature=amount&metric=js" in hrefs
    assert "/models/m?window=hour:2026-01-01T01&feature=amount&baseline=previous" in hrefs
    assert "<script" not in html and "http://" not in html.replace('xmlns="http://www.w3', "")


def test_report_is_self_contained() -> None:
    html = report_html(_page(Links(None)), generated_ms=T0)
    doc = _Tags(html)
    assert not [t for t, _ in doc.tags if t in ("script", "link", "img")]
    hrefs = [a["href"] for t, a in doc.tags if t == "a"]
    assert hrefs and all(h.startswith("#feature-") for h in hrefs)
    assert re.search(r"generated\s+2026-01-01 00:00 UTC", html)
    assert 'data-page="report"' in html


def test_models_login_and_message_pages() -> None:
    alert = {
        "scale": "hour",
        "baseline": "reference",
        "first_seen": "hour:2026-01-01T01",
        "members": ["a"],
        "severity": "critical",
    }
    models = [
        {
            "name": "m",
            "features": [{"name": "a", "kind": "numeric"}],
            "windows": {
                "hour": {"count": 3, "last": "hour:2026-01-01T02"},
                "day": {"count": 0, "last": None},
            },
            "open_alerts": [alert],
            "recent": [{"window": "hour:2026-01-01T02", "max_ratio": 2.0, "breaches": ["a"]}],
        }
    ]
    html = pages.models_page(models, "live", Links(""))
    hrefs = {a["href"] for t, a in _Tags(html).tags if t == "a"}
    assert {"/models/m", "/models/m?window=hour:2026-01-01T01&feature=a"} <= hrefs
    login = pages.login_page('/models/m?window=hour:x&a="b"', namespace="n", links=Links("/p"))
    assert 'name="next" value="/models/m?window=hour:x&amp;a=&quot;b&quot;"' in login
    assert 'method="post" action="/p/login"' in login
    assert "nope &lt;" in pages.message_page("t", "nope <", namespace="n", links=Links(""))
