"""The joint card: heatmaps, top pairs and the error series on the real page builders."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from stream.catalog import Catalog, ModelSpec
from stream.core.joint import decide_joint
from stream.core.sketch import JointSketch
from stream.core.window import HOUR_MS, Scale, WindowKey
from stream.pipeline.ports import JOINT_KEY
from stream.web import pages
from stream.web.data import DashboardData
from stream.web.joint import corr_heatmap_svg, diverging_color
from stream.web.links import Links
from stream.web.ports import Evals
from stream.web.report import report_html

T0 = 1_767_225_600_000
COLS = tuple(f"n{i}" for i in range(6))
SPEC = ModelSpec.model_validate(
    {"name": "m", "features": {c: "numeric" for c in COLS} | {"c0": "categorical"}}
)
HOURS = [T0 + h * HOUR_MS for h in range(4)]
FLIP = HOURS[-1]


def _rows(rho: float, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, len(COLS)))
    x[:, 1] = rho * x[:, 0] + np.sqrt(1 - rho * rho) * x[:, 1]
    return x * 3.0 + 10.0


def _sketch(rho: float, n: int, seed: int) -> JointSketch:
    return JointSketch.zero(COLS).update(_rows(rho, n, seed))


class Reader:
    """A namespace whose reference has n0~n1 at +0.6; the last hour flips it to −0.6."""

    def __init__(self, *, reference: bool = True, windows: bool = True) -> None:
        self.ref = _sketch(0.6, 6_000, 1)
        self.wins = {
            s: _sketch(-0.6 if s == FLIP else 0.6, 1_500, 2 + i) for i, s in enumerate(HOURS)
        }
        self.has_ref, self.has_windows = reference, windows
        self.decisions = {
            s: decide_joint(self.ref, w, None, alpha=1e-3).to_dict() for s, w in self.wins.items()
        }

    @property
    def namespace(self) -> str:
        return "ds"

    def evaluated(self, model: str, scale: Scale) -> list[int]:
        return list(HOURS) if scale == "hour" else []

    def evals(self, model: str, scale: Scale, starts: Sequence[int]) -> Evals:
        out: Evals = {}
        for s in starts:
            if scale != "hour" or s not in self.decisions:
                continue
            feature = {"feature": "n2", "breach": False, "ratio": 0.2, "metrics": {}}
            out[s] = {"reference": [dict(self.decisions[s]), feature]}
        return out

    def counts(self, model: str, scale: Scale, starts: Sequence[int]) -> dict[int, tuple[int, int]]:
        return {s: (1_500, 0) for s in starts if s in self.wins}

    def history(self, model: str) -> list[dict[str, Any]]:
        return []

    def states(self, model: str) -> list[dict[str, Any]]:
        return []

    def reference_sketch(self, spec: ModelSpec, feature: str) -> bytes | None:
        if feature == JOINT_KEY:
            return self.ref.to_bytes() if self.has_ref else None
        return None

    def window_sketch(self, model: str, window: WindowKey, feature: str) -> bytes | None:
        if feature == JOINT_KEY and self.has_windows and window.start_ms in self.wins:
            return self.wins[window.start_ms].to_bytes()
        return None

    def reference_meta(self, spec: ModelSpec) -> dict[str, Any] | None:
        return None

    def pending(self, model: str, window: WindowKey) -> tuple[str, str] | None:
        return None


def _rect(html: str, kind: str, pair: str) -> str:
    svg = html.split(f'data-kind="{kind}"', 1)[1].split("</svg>", 1)[0]
    return svg.split(f'data-pair="{pair}"', 1)[1].split(">", 1)[0]


def _value(rect: str) -> float:
    return float(rect.split('data-value="', 1)[1].split('"', 1)[0])


def test_a_joint_alert_page_shows_heatmaps_top_pairs_and_the_error_series() -> None:
    data = DashboardData(Reader(), Catalog.of(SPEC))
    window = WindowKey("hour", FLIP)
    # The alert's link: ?window=…&feature=joint (it was a 404 before: no feature 'joint').
    page = data.model_page("m", window=window, feature="joint")
    assert page["feature"] is None and page["joint"] is not None
    html = pages.model_page(page, Links(""))
    card = html.split('id="joint"', 1)[1]
    assert "joint drift" in card.split("</div>", 1)[0]
    assert 0.5 < _value(_rect(card, "reference", "n0~n1")) < 0.7
    assert -0.7 < _value(_rect(card, "window", "n0~n1")) < -0.5
    delta = _rect(card, "delta", "n0~n1")
    assert _value(delta) < -1.0 and 'data-marked="1"' in delta
    assert abs(_value(_rect(card, "delta", "n2~n3"))) < 0.2
    assert card.split('data-kind="delta"', 1)[1].split("</svg>")[0].count('data-marked="1"') == 2
    # The top pair named first, with its interval; the columns behind the PCA error.
    first = card.split('data-table="joint-pairs"', 1)[1].split("<tbody>", 1)[1]
    assert first.startswith('<tr data-pair="n0~n1">')
    assert 'data-table="joint-columns"' in card
    assert "correlation n0~n1 moved" in card
    # The reconstruction-error series: every hour measured, only the flip breaching.
    series = card.split('data-metric="pca_error"', 1)[1].split("</svg>", 1)[0]
    assert 'data-points="4"' in card
    breaches = [
        (chunk.split('"', 1)[0], 'data-breach="true"' in chunk.split(">", 1)[0])
        for chunk in series.split('data-window="')[1:]
    ]
    assert [w for w, b in breaches if b] == [str(WindowKey("hour", FLIP))]
    assert len(breaches) == 4
    assert "feature=joint" in series  # each point opens that window's joint page
    assert 'data-note="joint"' not in card  # everything was there to show


def test_the_model_page_of_a_quiet_hour_keeps_the_feature_and_adds_the_card() -> None:
    data = DashboardData(Reader(), Catalog.of(SPEC))
    page = data.model_page("m", window=WindowKey("hour", HOURS[0]), feature="n2")
    assert page["feature"] is not None and page["feature"].feature == "n2"
    html = pages.model_page(page, Links(""))
    card = html.split('id="joint"', 1)[1]
    assert "no joint drift" in card
    assert 'data-marked="1"' not in card  # nothing moved past its threshold: nothing outlined
    assert html.index('id="window"') < html.index('id="joint"')
    assert abs(_value(_rect(card, "delta", "n0~n1"))) < 0.2


def test_missing_sketches_are_said_not_drawn_empty() -> None:
    data = DashboardData(Reader(reference=False, windows=False), Catalog.of(SPEC))
    page = data.model_page("m", window=WindowKey("hour", FLIP), feature="joint")
    html = pages.model_page(page, Links(""))
    card = html.split('id="joint"', 1)[1]
    assert "reference joint sketch not stored: rebuild the reference" in card
    assert f"joint sketch of {WindowKey('hour', FLIP)} not stored" in card
    assert card.count("not available") == 3


def test_a_model_without_a_joint_member_has_no_card() -> None:
    spec = SPEC.model_copy(update={"joint": SPEC.joint.model_copy(update={"enabled": False})})
    data = DashboardData(Reader(), Catalog.of(spec))
    page = data.model_page("m", window=WindowKey("hour", FLIP))
    assert page["joint"] is None
    assert 'id="joint"' not in pages.model_page(page, Links(""))


def test_the_report_carries_the_card_without_links() -> None:
    data = DashboardData(Reader(), Catalog.of(SPEC))
    html = report_html(data.report("m", WindowKey("hour", FLIP)), generated_ms=T0)
    card = html.split('id="joint"', 1)[1]
    assert _value(_rect(card, "delta", "n0~n1")) < -1.0
    assert "href=" not in card.split("</section>", 1)[0]


@pytest.mark.parametrize("k", [2, 12, 64])
def test_heatmap_has_one_cell_per_pair_at_any_size(k: int) -> None:
    cols = [f"c{i}" for i in range(k)]
    m = np.eye(k)
    m[0, 1] = m[1, 0] = np.nan
    svg = corr_heatmap_svg(cols, m, kind="window", marked=[("c0", "c1")])
    assert svg.count("<rect ") == k * k
    rect = svg.split('data-pair="c0~c1"', 1)[1].split(">", 1)[0]
    assert 'data-value=""' in rect and 'data-marked="1"' in rect  # nan: no number, grey
    assert svg.count('data-marked="1"') == 2
    assert "<script" not in svg


def test_diverging_colours_are_symmetric_and_saturate() -> None:
    assert diverging_color(2.5) == diverging_color(1.0) != diverging_color(-1.0)
    assert diverging_color(0.5) not in (diverging_color(0.0), diverging_color(1.0))
