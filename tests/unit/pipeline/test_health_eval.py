"""Health evaluation over the in-memory stores: windows as the control plane hands them over."""

from __future__ import annotations

from typing import Any

import numpy as np

from stream.catalog import ModelSpec
from stream.core.alert import Alert, build_alert
from stream.core.lifecycle import AlertEvent
from stream.core.performance import BinaryPerformance
from stream.core.sketch import NumericSketch
from stream.core.window import DAY, DAY_MS, WindowKey
from stream.pipeline.health_eval import HealthEvaluator, judged_lag
from stream.pipeline.memory import MemoryHealthStore
from stream.pipeline.ports import LabelHourWrite, LabelWrite, StoredWindow

T0 = 1_767_225_600_000
A, B = -3.0, 1.7
N = 20_000
SPEC = ModelSpec.model_validate(
    {
        "name": "m",
        "features": {"x": "numeric"},
        "prediction": "numeric",
        "labels": {"max_label_delay_ms": 2 * DAY_MS},
        "alerts": {"windows": ["day"]},
    }
)


def _store(ref: BinaryPerformance | None) -> MemoryHealthStore:
    store = MemoryHealthStore()
    if ref is not None:
        store.put_reference_performance("m", ref)
    return store


def _label_day(store: MemoryHealthStore, start: int, labels: BinaryPerformance) -> None:
    """The day's labels as the label plane flushes them (one prediction-hour, one partition)."""
    token, snap = store.label_store.claim("m", 0)
    offset = snap.next_offset or 0
    hour = LabelHourWrite(start, labels.to_bytes(), ())
    write = LabelWrite("m", 0, token, offset + 1, start, (), (hour,), {}, 0)
    store.label_store.flush([write])


def _decided(store: MemoryHealthStore) -> list[dict[str, Any]]:
    return [d for ds in store.decided.values() for d in ds]


def _encode(e: AlertEvent) -> bytes:
    return build_alert(e, dashboard_base="https://d.example.com").to_json()


def _scores(rng: np.random.Generator, sigma: float, la: float, lb: float) -> tuple:
    z = rng.normal(0, sigma, N)
    s = 1 / (1 + np.exp(-(A + B * z)))
    return s, rng.random(N) < 1 / (1 + np.exp(-(la + lb * z)))


def _run(shift: dict[str, float] | None, days: int = 14) -> tuple[MemoryHealthStore, list[Alert]]:
    rng = np.random.default_rng(21)
    s, y = _scores(rng, 1.0, A, B)
    ref = BinaryPerformance.zero()
    ref.update(s, y, threshold=0.5)
    store = _store(ref)
    ev = HealthEvaluator(store, _encode)
    for d in range(days):
        start = T0 + d * DAY_MS
        kw = {"sigma": 1.0, "la": A, "lb": B} | (shift if shift and d >= 10 else {})
        s, y = _scores(rng, kw["sigma"], kw["la"], kw["lb"])
        labels = BinaryPerformance.zero()
        labels.update(s, y, threshold=0.5)
        _label_day(store, start, labels)
        sketch = NumericSketch.zero()
        sketch.update(s)
        window = StoredWindow(WindowKey(DAY, start), N, 0, {"prediction": sketch.to_bytes()})
        store.windows.create_window("m", window)
        verdict = ev.evaluate(SPEC, window)
        assert verdict is not None
    return store, [Alert.from_json(a) for a in store.outbox("m")]


def test_a_stationary_fortnight_pages_nothing() -> None:
    store, alerts = _run(None)
    assert alerts == []
    assert judged_lag(SPEC, DAY) == 2
    judged = [d for d in _decided(store) if d["kind"] != "estimated"]
    assert len(judged) == 12 * 3  # label shift, AUC, accuracy for days 0..11


def test_label_shift_pages_once_its_labels_are_final() -> None:
    _, alerts = _run({"la": A + 0.5})
    label = [a for a in alerts if a.kind == "label"]
    assert [(a.status, a.window.start_ms) for a in label] == [("triggered", T0 + 10 * DAY_MS)]
    # More positives below the threshold: accuracy at the threshold really falls, and
    # says so (on the window that judged day 10's final labels); the AUC does not.
    perf = {f.name for a in alerts if a.kind == "performance" for f in a.features if f.breach}
    assert perf <= {"performance:accuracy"}
    f = label[0].features[0]
    assert f.name == "label:positive_share" and f.p_drift >= 0.99
    assert f.ci_low <= 0.05 + 0.01 and f.ci_high >= 0.05 - 0.01
    assert "coverage 100 %" in f.reasons[0]


def test_covariate_shift_pages_on_the_estimate_when_the_window_closes() -> None:
    _, alerts = _run({"sigma": 0.6})
    first = alerts[0]
    assert (first.kind, first.window.start_ms) == ("performance", T0 + 10 * DAY_MS)
    assert first.features[0].name.startswith("estimated:")


def test_concept_shift_pages_on_realized_performance_not_on_the_estimate() -> None:
    store, alerts = _run({"la": -2.62, "lb": 0.95})
    assert alerts, "the realized AUC drop must page"
    names = {f.name for a in alerts for f in a.features if f.breach}
    assert "performance:auc" in names
    assert not any(n.startswith("estimated:") for n in names)
    estimated = [d for d in _decided(store) if d["kind"] == "estimated"]
    assert estimated and not any(d["breach"] for d in estimated)


def test_no_labelled_reference_is_said_not_silent() -> None:
    store = _store(None)
    verdict = HealthEvaluator(store, _encode).evaluate(
        SPEC, StoredWindow(WindowKey(DAY, T0), 10, 0, {})
    )
    assert verdict is not None and "no labelled reference" in verdict.skipped[0]


def test_a_window_whose_labels_are_not_final_yet_is_judged_on_its_estimate_only() -> None:
    store, _ = _run(None, days=2)
    assert all(d["kind"] == "estimated" for d in _decided(store))
