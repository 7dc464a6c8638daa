"""The dashboard's charts in headless Chromium, on the cases a first hour ran into:

- a feature scoring far past its threshold every hour while its verdict is "no drift"
  (a high-cardinality categorical's "unseen" share against the previous hour);
- an alert open for seven days whose trigger is no longer in the state (never resolved);
- 3.5 days without any window in the middle of the range;
- windows spaced unevenly in time (axis labels must not pile up).

The page is the real shell (stylesheet inlined) around the real SVG/HTML builders; the
geometry is measured in the browser; screenshots go to ``test-artifacts/dashboard/``
(``charts-*.png``) to be looked at.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import sync_playwright

from stream.core.window import HOUR_MS, WindowKey
from stream.web import charts, components, pages, svg
from stream.web.links import Links
from stream.web.summaries import ALL, alert_tracks, heatmap, metric_series
from tests.e2e.conftest import CHROMIUM_ARGS, LAUNCH_TIMEOUT_MS
from tests.unit.web.test_summaries import _d

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-artifacts" / "dashboard"
T0 = 1_767_225_600_000  # 2026-01-01T00:00Z
GAP_HOURS = 84  # 3.5 days without a window


def _starts() -> list[int]:
    before = [T0 + h * HOUR_MS for h in range(30)]
    after = [before[-1] + (GAP_HOURS + 1 + h) * HOUR_MS for h in range(30)]
    return before + after


def _evals(starts: list[int]) -> dict[int, dict[str, list[dict[str, Any]]]]:
    out = {}
    for i, s in enumerate(starts):
        drifting = i >= 40
        out[s] = {
            "reference": [
                _d("income", 2.5 if drifting else 0.3, breach=drifting, metric="mean_shift"),
                _d("merchant", 0.4, metric="linf"),
            ],
            # The previous hour's "unseen categories" score: huge, yet no drift verdict.
            "previous": [_d("merchant", 6.0, metric="unseen")],
        }
    return out


def _alert_event(status: str, window_ms: int, first_ms: int) -> dict[str, Any]:
    return {
        "status": status,
        "dedup_key": f"ds-{first_ms}",
        "baseline": "reference",
        "severity": "critical",
        "first_seen_ms": first_ms,
        "window": {
            "scale": "hour",
            "start_ms": window_ms,
            "key": str(WindowKey("hour", window_ms)),
        },
        "features": [{"name": "income"}],
        "summary": "[critical] m: drift in 1 feature (income): income mean +0.70 sd",
        "dashboard_url": "u",
    }


def _page_html() -> str:
    starts = _starts()
    evals = _evals(starts)
    links = Links("")
    week_ago = starts[-1] - 7 * 24 * HOUR_MS
    # Triggered 7 days ago, never resolved; its lifecycle state is gone (reset): "closed".
    history = [_alert_event("triggered", week_ago, week_ago)]
    hm = heatmap(evals, starts, ["income", "merchant"], "hour", ALL)
    hm = dataclasses.replace(hm, alerts=alert_tracks(history, [], "hour", ALL))
    series = metric_series(evals, starts, "hour", "income", "reference", "mean_shift")
    body = (
        '<div class="card" id="alerts">'
        + components.alerts_block({"hour": hm.alerts}, "m", links)
        + '</div><div class="card" id="heatmap">'
        + svg.heatmap_svg(hm, link=lambda f, w: links.model("m", window=w, feature=f))
        + '</div><div class="card" id="series">'
        + charts.series_svg(series, scale="hour")
        + "</div>"
    )
    return pages.shell("charts", body, namespace="e2e", links=links)


def test_charts_in_chromium(chromium: Path) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(chromium), args=list(CHROMIUM_ARGS), timeout=LAUNCH_TIMEOUT_MS
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(LAUNCH_TIMEOUT_MS)  # each step's hang guard
            page.set_content(_page_html())
            page.screenshot(path=str(SHOTS / "charts-page.png"), full_page=True)
            page.locator("#heatmap svg").screenshot(path=str(SHOTS / "charts-heatmap.png"))
            page.locator("#series svg").screenshot(path=str(SHOTS / "charts-series.png"))

            # 1. Colour agrees with the verdict: the merchant row is never warm.
            fills = page.eval_on_selector_all(
                'rect.cell[data-feature="merchant"]',
                "els => els.map(e => [e.getAttribute('fill'), e.dataset.breach])",
            )
            assert len(fills) == 60 and all(b == "false" for _, b in fills)
            assert {f for f, _ in fills} == {svg.ratio_color(svg.NOT_BREACH_CAP, False)}
            income = page.eval_on_selector_all(
                'rect.cell[data-feature="income"][data-breach="true"]',
                "els => els.map(e => e.getAttribute('fill'))",
            )
            assert income and all(f == svg.ratio_color(2.5, True) for f in income)

            # 2. The week-old alert, never resolved, is not drawn as resolved (green).
            span = page.locator("rect.alert-span")
            assert span.get_attribute("data-status") == "closed"
            assert span.get_attribute("fill") != "#16a34a"
            row = page.locator(".alert-row")
            assert "resolved" not in (row.get_attribute("class") or "")
            assert "unresolved" in row.inner_text()

            # 3. The 3.5 days without windows are a gap in both charts.
            gap = page.locator("svg.heatmap line.gap")
            assert gap.count() == 1 and gap.get_attribute("data-missing") == str(GAP_HOURS)
            shaded = page.locator("svg.series rect.gap")
            assert shaded.count() == 1 and shaded.get_attribute("data-missing") == str(GAP_HOURS)
            d = page.locator("svg.series path.value").get_attribute("d") or ""
            assert d.count("M") == 2  # two runs of line, none across the gap
            box = shaded.bounding_box()
            assert box is not None and box["width"] > 50  # wide enough to see

            # 4. Time-axis labels do not overlap (measured as rendered).
            for sel in ("svg.series text.tick", "svg.heatmap > text[y]"):
                boxes = [b for b in (t.bounding_box() for t in page.locator(sel).all()) if b]
                row_y = max(b["y"] for b in boxes)
                axis = sorted((b for b in boxes if abs(b["y"] - row_y) < 2), key=lambda b: b["x"])
                assert len(axis) >= 3, sel
                for a, b in zip(axis, axis[1:], strict=False):
                    assert a["x"] + a["width"] <= b["x"], (sel, a, b)
        finally:
            browser.close()
