"""A daily cycle in a regression stream: the reference's between-window spread (k15s item 4).

The stream is stationary from day to day but its hours differ: the target mean follows
a daily cycle (amplitude 0.1, within-hour sd 0.3) and the error size ±30 %. Judged
against one pooled reference state, the cycle's peaks page; with the reference's τ²
per measure and scale (Cochran's Q gated, as the features') a fortnight is quiet,
and a real move through the same cycle still pages.
"""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from stream.catalog import ModelSpec
from stream.core.alert import Alert, build_alert
from stream.core.lifecycle import AlertEvent
from stream.core.regression import RegressionPerformance, merge_all, spread_of
from stream.core.window import DAY_MS, HOUR_MS
from stream.pipeline.health_eval import HealthEvaluator
from stream.pipeline.memory import MemoryHealthStore
from stream.pipeline.ports import LabelHourWrite
from stream.pipeline.reference import ReferenceBuilder
from tests.unit.pipeline.labelsim import judge_fortnight

T0 = 1_767_225_600_000
DAYS, RATE = 14, 150
SPEC = ModelSpec.model_validate(
    {
        "name": "m",
        "features": {"x": "numeric"},
        "prediction": "numeric",
        "labels": {"kind": "regression", "max_label_delay_ms": 2 * DAY_MS},
    }
)


def _draw(
    rng: np.random.Generator, n: int, start: int, shift: float = 0.0, scale: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    phase = 2 * np.pi * (start % DAY_MS) / DAY_MS
    y = rng.normal(10.0 + 0.1 * np.sin(phase) + shift, 0.3, n)
    return y, y + scale * (1.0 + 0.3 * np.cos(phase)) * rng.normal(0.0, 0.3, n)


def _hours(rng: np.random.Generator) -> dict[int, RegressionPerformance]:
    out = {}
    for h in range(7 * 24):
        start = T0 - 7 * DAY_MS + h * HOUR_MS
        s = RegressionPerformance()
        s.update(*_draw(rng, RATE, start))
        out[start] = s
    return out


def _encode(e: AlertEvent) -> bytes:
    return build_alert(e, dashboard_base="https://d.example.com").to_json()


def _run(*, pooled: bool = False, shift: float = 0.0, scale: float = 1.0) -> list[Alert]:
    """A fortnight of hour and day windows (labels 1–48 h late); the change from day 10."""
    rng = np.random.default_rng(5)
    hours = _hours(rng)
    ref = merge_all(hours.values())
    ref.spread = None if pooled else spread_of(hours)
    store = MemoryHealthStore()
    store.put_reference_regression("m", ref)
    ev = HealthEvaluator(store, _encode, wait_for_labels=False)
    writes = []
    for h in range(DAYS * 24):
        start = T0 + h * HOUR_MS
        after = start >= T0 + 10 * DAY_MS
        y, p = _draw(rng, RATE, start, shift if after else 0.0, scale if after else 1.0)
        arrive = start + rng.integers(HOUR_MS, 49 * HOUR_MS, RATE)
        day = arrive - arrive % DAY_MS
        for d in np.unique(day).tolist():
            st = RegressionPerformance()
            st.update(y[day == d], p[day == d])
            writes.append(LabelHourWrite(start, st.to_bytes(), (), d))
    return judge_fortnight(store, ev, SPEC, writes, t0=T0, days=DAYS, rate=RATE)


def test_a_stationary_seasonal_fortnight_pages_nothing() -> None:
    assert _run() == []


def test_without_the_spread_the_same_fortnight_pages_the_cycle() -> None:
    """What the pooled reference did (the judging before the spread)."""
    assert {a.kind for a in _run(pooled=True)} == {"label", "performance"}


@pytest.mark.parametrize(
    ("shift", "scale", "kind"), [(0.3, 1.0, "label"), (0.0, 1.5, "performance")]
)
def test_a_real_change_through_the_cycle_still_pages(shift: float, scale: float, kind: str) -> None:
    assert kind in {a.kind for a in _run(shift=shift, scale=scale)}


def test_the_spread_is_gated_and_scaled() -> None:
    """τ² only where Cochran's Q says the windows differ; the day scale has no cycle."""
    rng = np.random.default_rng(9)
    sp = spread_of(_hours(rng))
    for m in ("mean_shift", "mae", "rmse"):
        assert sp.tau2("hour", m) > 0, sp.describe("hour", m)
        assert sp.tau2("day", m) == 0.0, sp.describe("day", m)
    assert sp.tau2("hour", "mean_shift") == pytest.approx(0.1**2 / 2, rel=0.3)
    flat = {}
    for h in range(7 * 24):
        s = RegressionPerformance()
        y = rng.normal(10.0, 0.3, RATE)
        s.update(y, y + rng.normal(0.0, 0.3, RATE))
        flat[T0 + h * HOUR_MS] = s
    assert all(tau2 == 0.0 for _, _, tau2, *_ in spread_of(flat).fits)


def test_the_reference_builder_keeps_its_labels_per_event_hour() -> None:
    """The builder's regression state carries the spread of its hours, through its bytes."""
    rng = np.random.default_rng(2)
    values = []
    for h in range(3 * 24):
        start = T0 + h * HOUR_MS
        y, p = _draw(rng, RATE, start, scale=3.0)
        values += [
            orjson.dumps(
                {"model": "m", "ts": start + 1, "features": {"x": 1.0}, "prediction": b, "label": a}
            )
            for a, b in zip(y.tolist(), p.tolist(), strict=True)
        ]
    b = ReferenceBuilder(SPEC, "training")
    b.add(values, [0] * len(values))  # record time 0: the event's ts decides the hour
    ref = b.build().regression
    assert ref is not None and ref.n == 3 * 24 * RATE and ref.spread is not None
    assert ref.spread.tau2("hour", "mean_shift") > 0, ref.spread.describe("hour", "mean_shift")
    shown = b.build().describe()["between_window_sd"]  # what `reference build` prints
    assert shown["hour/mean_shift"] > 0 and shown["day/mean_shift"] == 0.0
    back = RegressionPerformance.from_bytes(ref.to_bytes())
    assert back == ref and back.spread == ref.spread
