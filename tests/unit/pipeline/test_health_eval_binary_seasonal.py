"""A daily cycle in a binary stream's positive share: the reference's between-window spread.

The stream is stationary from day to day but its hours differ: the positive share
follows a daily cycle 0.10 ± 0.02 (and the scores' separation ± 15 % with it, so
AUC and accuracy cycle too). Judged against one pooled reference state, the cycle's
peaks page (k15s measured 68–84 breaching hour windows of 336 at 1,500 labels/h);
with the reference's τ² per measure and scale (Cochran's Q gated, as the
regression reference's) a fortnight pages no label shift (and, at 1,500 labels/h,
no AUC/accuracy drop), and a real move through the same cycle (+ 5 pts: 10 % →
15 %) still pages. Calibration drift (k15c): with the reference's calibration spread
it pages neither this stream nor the same without its cycle; a reference built before
k15c keeps the older rule and says so.
"""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from stream.catalog import ModelSpec
from stream.core.alert import Alert, build_alert
from stream.core.lifecycle import AlertEvent
from stream.core.performance import BinaryPerformance, Spread, merge_all, spread_of
from stream.core.window import DAY_MS, HOUR, HOUR_MS
from stream.pipeline.health_eval import HealthEvaluator
from stream.pipeline.memory import MemoryHealthStore
from stream.pipeline.ports import LabelHourWrite
from stream.pipeline.reference import ReferenceBuilder
from tests.unit.pipeline.labelsim import judge_fortnight

T0 = 1_767_225_600_000
DAYS = 14
SPEC = ModelSpec.model_validate(
    {
        "name": "m",
        "features": {"x": "numeric"},
        "labels": {"max_label_delay_ms": 2 * DAY_MS},
    }
)


def draw(
    rng: np.random.Generator, n: int, start: int, shift: float = 0.0, amp: float = 0.02
) -> tuple[np.ndarray, np.ndarray]:
    """(scores, positive) of ``n`` labels in the hour starting at ``start``."""
    phase = 2 * np.pi * (start % DAY_MS) / DAY_MS
    y = rng.random(n) < 0.10 + amp * np.sin(phase) + shift
    gap = 0.2 * (1.0 + 7.5 * amp * np.cos(phase))
    s = np.clip(rng.normal(np.where(y, 0.5 + gap, 0.5 - gap), 0.15), 0.0, 1.0)
    return s, y


def reference_hours(
    rng: np.random.Generator, rate: int, amp: float = 0.02
) -> dict[int, BinaryPerformance]:
    out = {}
    for h in range(7 * 24):
        start = T0 - 7 * DAY_MS + h * HOUR_MS
        st = BinaryPerformance.zero()
        s, y = draw(rng, rate, start, amp=amp)
        st.update(s, y, threshold=0.5)
        out[start] = st
    return out


def _encode(e: AlertEvent) -> bytes:
    return build_alert(e, dashboard_base="https://d.example.com").to_json()


K15T = {"positive_share", "auc", "accuracy"}
"""The measures a reference built by k15t has a spread of (no calibration)."""


def run(
    rate: int,
    *,
    seed: int = 5,
    pooled: bool = False,
    shift: float = 0.0,
    amp: float = 0.02,
    k15t: bool = False,
) -> list[Alert]:
    """A fortnight of hour and day windows (labels 1–48 h late); the shift from day 10.

    ``k15t``: the reference as k15t stored it (a spread without the calibration fits).
    """
    rng = np.random.default_rng(seed)
    hours = reference_hours(rng, rate, amp)
    ref = merge_all(hours.values())
    ref.spread = None if pooled else spread_of(hours)
    if k15t and ref.spread is not None:
        ref.spread = Spread(tuple(f for f in ref.spread.fits if f[1] in K15T))
    store = MemoryHealthStore()
    store.put_reference_performance("m", ref)
    ev = HealthEvaluator(store, _encode, wait_for_labels=False)
    writes = []
    for h in range(DAYS * 24):
        start = T0 + h * HOUR_MS
        s, y = draw(rng, rate, start, shift if start >= T0 + 10 * DAY_MS else 0.0, amp)
        arrive = start + rng.integers(HOUR_MS, 49 * HOUR_MS, rate)
        day = arrive - arrive % DAY_MS
        for d in np.unique(day).tolist():
            st = BinaryPerformance.zero()
            st.update(s[day == d], y[day == d], threshold=0.5)
            writes.append(LabelHourWrite(start, st.to_bytes(), (), d))
    return judge_fortnight(store, ev, SPEC, writes, t0=T0, days=DAYS, rate=rate)


def paged(alerts: list[Alert]) -> set[str]:
    """The paged measures (``label:positive_share``, ``performance:auc`` …)."""
    return {f.name for a in alerts for f in a.features}


#: Calibration drift is covered since k15c (docs/benchmarks.md, "Model-health false
#: pages, session 7 (k15c)").
JUDGED = {
    "label:positive_share",
    "performance:auc",
    "performance:accuracy",
    "performance:calibration",
}


@pytest.mark.parametrize("rate", [150, 1500])
def test_a_stationary_seasonal_fortnight_pages_no_label_shift(rate: int) -> None:
    assert "label:positive_share" not in paged(run(rate))


def test_a_stationary_seasonal_fortnight_pages_no_label_or_performance_drop() -> None:
    assert paged(run(1500)) & JUDGED == set()


def test_without_the_spread_the_same_fortnight_pages_the_cycle() -> None:
    """What the pooled reference did (the judging before the spread)."""
    assert "label:positive_share" in paged(run(1500, pooled=True))
    assert "label:positive_share" in paged(run(150, pooled=True))


@pytest.mark.parametrize("rate", [150, 1500])
def test_a_real_label_shift_through_the_cycle_still_pages(rate: int) -> None:
    """+ 5 pts from day 10 (the cycle's mean 10 % → 15 %) pages."""
    assert "label:positive_share" in paged(run(rate, shift=0.05))


def test_the_spread_is_gated_and_scaled() -> None:
    """τ² only where Cochran's Q says the hours differ; the day scale has no cycle."""
    rng = np.random.default_rng(9)
    sp = spread_of(reference_hours(rng, 1500))
    assert sp.tau2("hour", "positive_share") > 0, sp.describe("hour", "positive_share")
    assert sp.tau2("day", "positive_share") == 0.0, sp.describe("day", "positive_share")
    assert sp.tau2("hour", "positive_share") == pytest.approx(0.02**2 / 2, rel=0.35)
    flat = {}
    for h in range(7 * 24):
        st = BinaryPerformance.zero()
        y = rng.random(1500) < 0.1
        st.update(np.where(y, 0.8, 0.2), y, threshold=0.5)
        flat[T0 + h * HOUR_MS] = st
    assert all(tau2 == 0.0 for _, _, tau2, *_ in spread_of(flat).fits)


def test_window_bytes_are_unchanged_and_a_reference_carries_its_spread() -> None:
    """v1 bytes for every window's state; v2 (v1 + the spread) only for a reference's."""
    rng = np.random.default_rng(3)
    hours = reference_hours(rng, 150)
    ref = merge_all(hours.values())
    v1 = ref.to_bytes()
    assert v1[0] == 1 and BinaryPerformance.from_bytes(v1).spread is None
    ref.spread = spread_of(hours)
    v2 = ref.to_bytes()
    assert v2[0] == 2 and v2[1:].startswith(v1[1:])
    back = BinaryPerformance.from_bytes(v2)
    assert back == ref and back.spread == ref.spread
    assert back.merge(back).spread is None  # a merge is a window: no spread
    with pytest.raises(ValueError, match="spread"):
        BinaryPerformance.from_bytes(v2[:-3])


def test_an_old_reference_is_judged_as_before_and_says_so() -> None:
    """A v1 reference (no spread): the two-sided share test, named in the reason."""
    rng = np.random.default_rng(4)
    hours = reference_hours(rng, 150)
    store = MemoryHealthStore()
    store.put_reference_performance("m", merge_all(hours.values()))
    ev = HealthEvaluator(store, _encode, wait_for_labels=False)
    ref = store.reference_performance(SPEC)
    assert ref is not None and ref.spread is None
    win = BinaryPerformance.zero()
    win.update(*draw(rng, 150, T0), threshold=0.5)
    (shift,) = [d for d in ev._judge_labels(SPEC, ref, win, HOUR) if d.kind == "label"]
    assert "no between-window spread" in shift.reason and "P=" in shift.reason


def test_the_reference_builder_keeps_its_labels_per_event_hour() -> None:
    """The builder's binary state carries the spread of its hours, through its bytes."""
    rng = np.random.default_rng(2)
    values = []
    for h in range(3 * 24):
        start = T0 + h * HOUR_MS
        s, y = draw(rng, 1500, start, shift=0.1 * float(h % 24 >= 12))
        values += [
            orjson.dumps(
                {
                    "model": "m",
                    "ts": start + 1,
                    "features": {"x": 1.0},
                    "prediction": a,
                    "label": int(b),
                }
            )
            for a, b in zip(s.tolist(), y.tolist(), strict=True)
        ]
    b = ReferenceBuilder(SPEC, "training")
    b.add(values, [0] * len(values))  # record time 0: the event's ts decides the hour
    ref = b.build().performance
    assert ref is not None and ref.n == 3 * 24 * 1500 and ref.spread is not None
    assert ref.spread.tau2("hour", "positive_share") > 0
    shown = b.build().describe()["between_window_sd"]  # what `reference build` prints
    assert shown["hour/positive_share"] > 0 and shown["day/positive_share"] == 0.0
    back = BinaryPerformance.from_bytes(ref.to_bytes())
    assert back == ref and back.spread == ref.spread


@pytest.mark.parametrize(("rate", "amp"), [(150, 0.02), (150, 0.0), (1500, 0.02), (1500, 0.0)])
def test_a_stationary_fortnight_pages_no_calibration_drift(rate: int, amp: float) -> None:
    """k15c: the older rule paged 1–15 of these fortnights' windows (with and without the
    cycle); with the calibration spread, beyond the floor, none."""
    assert "performance:calibration" not in paged(run(rate, amp=amp))
    assert "performance:calibration" in paged(run(rate, amp=amp, k15t=True))  # the older rule


def test_a_reference_built_before_k15c_keeps_the_older_calibration_rule_and_says_so() -> None:
    rng = np.random.default_rng(6)
    hours = reference_hours(rng, 1500)
    ref = merge_all(hours.values())
    ref.spread = Spread(tuple(f for f in spread_of(hours).fits if f[1] in K15T))
    store = MemoryHealthStore()
    store.put_reference_performance("m", ref)
    ev = HealthEvaluator(store, _encode, wait_for_labels=False)
    stored = store.reference_performance(SPEC)
    assert stored is not None and stored.spread is not None
    win = BinaryPerformance.zero()
    win.update(*draw(rng, 1500, T0), threshold=0.5)
    (cal,) = [d for d in ev._judge_labels(SPEC, stored, win, HOUR) if d.metric == "calibration"]
    assert "no calibration spread" in cal.reason and "driftstream reference build" in cal.reason
    assert "χ² " in cal.reason and cal.adverse == 0  # the older rule's two-sided χ²
    ref.spread = spread_of(hours)
    store.put_reference_performance("m", ref)
    stored = store.reference_performance(SPEC)
    assert stored is not None
    (cal,) = [d for d in ev._judge_labels(SPEC, stored, win, HOUR) if d.metric == "calibration"]
    assert "no calibration spread" not in cal.reason and cal.adverse == 1
