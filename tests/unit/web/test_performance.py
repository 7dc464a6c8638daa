"""The performance panel over the in-memory health store (as the evaluator left it)."""

from __future__ import annotations

from stream.core.window import DAY, DAY_MS, WindowKey
from stream.web.performance import performance_panel, performance_series
from tests.unit.pipeline.test_health_eval import SPEC, T0, _run


def test_the_series_has_realized_estimated_reference_and_coverage() -> None:
    store, _ = _run(None, days=4)
    keys = [WindowKey(DAY, T0 + d * DAY_MS) for d in range(4)]
    series = performance_series(store, SPEC, keys)
    assert series["why"] is None and 0.8 < series["reference"]["auc"] < 0.9
    pts = series["points"]
    assert [p["window"] for p in pts] == [str(k) for k in keys]
    for p in pts:
        assert p["coverage"] == 1.0  # every label of the day is stored (by arrival day)
        assert p["auc_low"] < p["auc"] < p["auc_high"]
        assert abs(p["estimated_auc"] - p["auc"]) < 0.02
    html = performance_panel(series)
    assert html.count('class="realized"') == 4 and 'class="ref-band"' in html
    assert 'class="estimated"' in html and html.count('class="coverage"') == 4


def test_a_model_without_a_labelled_reference_says_why() -> None:
    store, _ = _run(None, days=1)
    store.references.clear()
    series = performance_series(store, SPEC, [WindowKey(DAY, T0)])
    assert "no labelled reference" in series["why"]
    assert "no labelled reference" in performance_panel(series)
