"""Stored decisions and alert events → heatmap, series, alert tracks, window rows."""

from __future__ import annotations

import json
from typing import Any

from stream.core.window import HOUR_MS, WindowKey
from stream.web.summaries import (
    ALL,
    alert_tracks,
    heatmap,
    metric_series,
    pick_baseline,
    pick_metric,
    pick_range,
    plain,
    window_rows,
)

T0 = 1_767_225_600_000


def _d(
    feature: str, ratio: float | None, *, breach: bool = False, metric: str = "ks"
) -> dict[str, Any]:
    threshold = 0.1
    effect = None if ratio is None else ratio * threshold
    return {
        "feature": feature,
        "kind": "numeric",
        "breach": breach,
        "ratio": ratio,
        "severity": "critical" if breach else "none",
        "effect_metric": metric,
        "effect": effect,
        "threshold": threshold,
        "p_value": 0.001 if breach else 0.5,
        "p_drift": 0.99 if breach else 0.01,
        "magnitude": effect,
        "ci": [None, None],
        "n_window": 1000,
        "reasons": ["r1", "r2"] if breach else [],
        "ranked": [metric] if breach else [],
        "metrics": {metric: [effect, threshold, 0.001], "js": [0.01, 0.05, 0.9]},
    }


EVALS = {
    T0: {"reference": [_d("amount", 0.5), _d("country", 0.2)], "previous": [_d("amount", 0.7)]},
    T0 + HOUR_MS: {
        "reference": [_d("amount", 3.0, breach=True), _d("country", None)],
        "previous": [_d("amount", 1.2)],
    },
}
STARTS = [T0, T0 + HOUR_MS]


def test_heatmap_all_takes_the_strongest_baseline() -> None:
    hm = heatmap(EVALS, STARTS, ["amount", "country", "device"], "hour", ALL, events={T0: 10})
    assert [w.key for w in hm.windows] == ["hour:2026-01-01T00", "hour:2026-01-01T01"]
    assert hm.windows[0].events == 10 and hm.windows[1].events is None
    amount = hm.cells[0]
    assert amount[0] is not None and amount[1] is not None
    assert (amount[0].baseline, amount[0].ratio) == ("previous", 0.7)
    assert (amount[1].baseline, amount[1].breach) == ("reference", True)
    country = hm.cells[1][1]
    assert country is not None and country.ratio is None and not country.judged
    assert hm.cells[2] == [None, None]  # never judged: no cell


def test_heatmap_for_one_baseline() -> None:
    hm = heatmap(EVALS, STARTS, ["amount", "country"], "hour", "previous")
    assert [c.ratio if c else None for c in hm.cells[0]] == [0.7, 1.2]
    assert hm.cells[1] == [None, None]


def test_pick_range_keeps_the_focus_in_view() -> None:
    starts = list(range(100))
    assert pick_range(starts, None, 10) == list(range(90, 100))
    around = pick_range(starts, 50, 8)
    assert len(around) == 8 and 50 in around and around.index(50) == 5
    assert pick_range(starts, 1, 8) == list(range(8))
    assert pick_range(starts, 10_000, 8) == list(range(92, 100))
    assert pick_range([3, 1, 2], None, 8) == [1, 2, 3]


def test_feature_series_baseline_and_metric() -> None:
    assert pick_baseline(EVALS, T0 + HOUR_MS, "amount", ALL) == "reference"
    assert pick_baseline(EVALS, T0, "amount", ALL) == "previous"
    assert pick_baseline(EVALS, None, "amount", "previous") == "previous"
    assert pick_baseline(EVALS, T0, "nope", ALL) is None
    assert pick_metric(EVALS, T0 + HOUR_MS, "amount", "reference") == "ks"
    s = metric_series(EVALS, STARTS, "hour", "amount", "reference", "ks")
    assert [p.value for p in s.points] == [0.05, 0.30000000000000004]
    assert [p.breach for p in s.points] == [False, True]
    assert s.points[1].ratio == 3.0000000000000004
    js = metric_series(EVALS, STARTS, "hour", "amount", "reference", "js")
    assert [p.breach for p in js.points] == [False, False]  # js did not breach


def _alert(
    status: str, window_ms: int, first_ms: int, baseline: str = "reference"
) -> dict[str, Any]:
    return {
        "status": status,
        "dedup_key": f"ds-{first_ms}-{baseline}",
        "baseline": baseline,
        "severity": "critical",
        "first_seen_ms": first_ms,
        "window": {
            "scale": "hour",
            "start_ms": window_ms,
            "key": str(WindowKey("hour", window_ms)),
        },
        "features": [{"name": "amount"}],
        "summary": "s",
        "dashboard_url": "u",
    }


def test_alert_tracks_from_history_and_state() -> None:
    h1, h2, h5 = T0 + HOUR_MS, T0 + 2 * HOUR_MS, T0 + 5 * HOUR_MS
    history = [
        _alert("triggered", h2, h1),
        _alert("resolved", h5, h1),
        _alert("triggered", T0 + 9 * HOUR_MS, T0 + 8 * HOUR_MS),
    ]
    t8 = T0 + 8 * HOUR_MS
    opened = {
        "dedup_key": f"ds-{t8}-reference",
        "first_seen_ms": t8,
        "members": ["amount", "country"],
        "severity": "critical",
    }
    states = [
        {"scale": "hour", "baseline": "reference", "open": opened},
        {"scale": "day", "baseline": "reference", "open": None},
    ]
    tracks = alert_tracks(history, states, "hour", ALL)
    assert [(t["status"], t["first_seen_ms"], t["end_ms"]) for t in tracks] == [
        ("resolved", h1, h5),
        ("open", T0 + 8 * HOUR_MS, None),
    ]
    assert tracks[1]["members"] == ["amount", "country"]
    assert [e["status"] for e in tracks[0]["events"]] == ["triggered", "resolved"]
    assert alert_tracks(history, states, "hour", "previous") == []
    assert alert_tracks(history, states, "day", ALL) == []
    # An open alert whose events were trimmed from the history still shows.
    only_state = alert_tracks([], states, "hour", ALL)
    assert [t["status"] for t in only_state] == ["open"]


def test_window_rows_strongest_first_with_metrics() -> None:
    rows = window_rows(EVALS[T0 + HOUR_MS])
    assert [(r["feature"], r["baseline"]) for r in rows] == [
        ("amount", "reference"),
        ("amount", "previous"),
        ("country", "reference"),
    ]
    assert rows[0]["metrics"]["ks"] == [0.30000000000000004, 0.1, 0.001]
    assert rows[0]["reasons"] == ["r1", "r2"]


def test_view_models_serve_the_api_json_of_before() -> None:
    """The dataclasses turn into the dicts the API always served: keys, order, values."""
    hm = heatmap(EVALS, STARTS, ["amount"], "hour", ALL, events={T0: 10})
    doc = plain(hm)
    assert list(doc) == [
        "scale", "baseline", "features", "windows", "cells", "model", "focus", "alerts",
    ]  # fmt: skip
    assert doc["windows"][0] == {"key": "hour:2026-01-01T00", "start_ms": T0, "events": 10}
    assert list(doc["cells"][0][0]) == [
        "ratio", "breach", "severity", "baseline", "metric", "effect", "threshold", "p_value",
        "judged",
    ]  # fmt: skip
    s = plain(metric_series(EVALS, STARTS, "hour", "amount", "reference", "ks"))
    assert list(s) == ["feature", "baseline", "metric", "points"]
    assert list(s["points"][0]) == [
        "window", "start_ms", "value", "threshold", "p_value", "ratio", "breach",
        "feature_breach", "n_window",
    ]  # fmt: skip
    assert json.loads(json.dumps(doc)) == doc
