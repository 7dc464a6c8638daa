"""The joint card in headless Chromium: a joint alert's page as a person opens it.

The page is the real model page (shell, stylesheet, :mod:`stream.web.joint`) built by
``DashboardData`` over the in-memory namespace of ``tests/unit/web/test_joint.py`` (a
flip of n0~n1 in the last hour); the geometry is measured in the browser; screenshots
go to ``test-artifacts/dashboard/joint-*.png``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import sync_playwright

from stream.catalog import Catalog
from stream.core.window import WindowKey
from stream.web import pages
from stream.web.data import DashboardData
from stream.web.joint import corr_heatmap_svg
from stream.web.links import Links
from tests.e2e.conftest import CHROMIUM_ARGS, LAUNCH_TIMEOUT_MS
from tests.unit.web.test_joint import FLIP, SPEC, Reader

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-artifacts" / "dashboard"


def test_joint_alert_page_in_chromium(chromium: Path) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    data = DashboardData(Reader(), Catalog.of(SPEC))
    page_data = data.model_page("m", window=WindowKey("hour", FLIP), feature="joint")
    html = pages.model_page(page_data, Links(""))
    cols = [f"feature_{i:02d}" for i in range(64)]
    big = corr_heatmap_svg(cols, np.eye(64), kind="delta")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(chromium), args=list(CHROMIUM_ARGS), timeout=LAUNCH_TIMEOUT_MS
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(LAUNCH_TIMEOUT_MS)  # each step's hang guard
            page.set_content(html)
            card = page.locator("#joint")
            card.screenshot(path=str(SHOTS / "joint-card.png"))
            page.screenshot(path=str(SHOTS / "joint-page.png"), full_page=True)

            # 1. The three heatmaps sit side by side inside the card on a laptop screen.
            maps = page.locator("#joint svg.joint-heatmap")
            assert maps.count() == 3
            boxes = [maps.nth(i).bounding_box() for i in range(3)]
            assert all(boxes)
            outer = card.bounding_box()
            assert outer is not None
            tops = {round(b["y"]) for b in boxes if b}
            assert len(tops) == 1, boxes  # one row
            for b in boxes:
                assert b is not None and b["x"] + b["width"] <= outer["x"] + outer["width"]

            # 2. Row labels end left of the first cell; column labels do not overlap.
            ref = maps.nth(0)
            first = ref.locator('rect[data-pair="n0~n0"]').bounding_box()
            assert first is not None
            for label in ref.locator('text[text-anchor="end"]').all():
                box = label.bounding_box()
                assert box is not None and box["x"] + box["width"] <= first["x"] + 1
            tops_lbl = [
                t.bounding_box() for t in ref.locator("text[transform]").all() if t.bounding_box()
            ]
            assert len(tops_lbl) == 6
            xs = sorted((b["x"], b["x"] + b["width"]) for b in tops_lbl if b)
            assert all(a[0] < b[0] for a, b in zip(xs, xs[1:], strict=False))
            assert all(b is not None and b["y"] + b["height"] <= first["y"] + 1 for b in tops_lbl)

            # 3. The flipped pair is outlined and coloured blue (negative) in Δρ.
            cell = page.locator('#joint svg[data-kind="delta"] rect[data-pair="n0~n1"]')
            assert cell.get_attribute("data-marked") == "1"
            fill = cell.get_attribute("fill") or ""
            r, b_ = int(fill[1:3], 16), int(fill[5:7], 16)
            assert b_ > r + 100

            # 4. The top pair leads the pairs table as rendered text.
            first_row = page.locator('#joint table[data-table="joint-pairs"] tbody tr').first
            assert first_row.inner_text().startswith("n0 ~ n1")

            # 5. At the 64-column cap the heatmap stays a readable size (no labels, ≥ 4 px).
            page.set_content(pages.shell("big", big, namespace="e2e", links=Links("")))
            svg = page.locator("svg.joint-heatmap")
            box = svg.bounding_box()
            assert box is not None and box["width"] <= 320 and box["height"] <= 320
            cell_box = svg.locator('rect[data-pair="feature_00~feature_00"]').bounding_box()
            assert cell_box is not None and cell_box["width"] >= 3.5
            svg.screenshot(path=str(SHOTS / "joint-heatmap-64.png"))
        finally:
            browser.close()
