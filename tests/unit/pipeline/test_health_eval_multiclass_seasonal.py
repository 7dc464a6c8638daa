"""Multiclass class shares through the health evaluator: stationary fortnights (k15c).

Shares 0.5 / 0.3 / 0.2 (with a cycle: ± 0.05 moved between the first two over the
day), accuracy 0.85, hour and day windows, labels 1–48 h late. A reference built
before k15c (no spread) paged these fortnights' class shares 12–31 times; with its
spread (one-sided beyond the floor, Bonferroni over the classes at the false-alarm
budget) none, and a real move still pages. (Seed 11 of this stream has one hour whose
class-b share is 4.3 binomial sd above 0.3 — 67 of 136 labels at 50 % coverage — and
pages it: a tail the budget bar allows, ≈ 3 % of fortnights by the normal
approximation: 2 sides × 3 classes × 336 hours × P(Z > 4.15).)
"""

from __future__ import annotations

import numpy as np
import pytest

from stream.catalog import ModelSpec
from stream.core.alert import Alert, build_alert
from stream.core.lifecycle import AlertEvent
from stream.core.multiclass import MulticlassPerformance, merge_all, spread_of
from stream.core.window import DAY_MS, HOUR, HOUR_MS
from stream.pipeline.health_eval import HealthEvaluator
from stream.pipeline.memory import MemoryHealthStore
from stream.pipeline.ports import LabelHourWrite
from tests.unit.pipeline.labelsim import judge_fortnight

T0 = 1_767_225_600_000
DAYS = 14
SPEC = ModelSpec.model_validate(
    {
        "name": "m",
        "features": {"x": "numeric"},
        "labels": {"classes": ["a", "b", "c"], "max_label_delay_ms": 2 * DAY_MS},
    }
)


def draw(
    rng: np.random.Generator, n: int, start: int, amp: float, move: float = 0.0
) -> MulticlassPerformance:
    a = amp * np.sin(2 * np.pi * (start % DAY_MS) / DAY_MS)
    true = rng.choice(3, size=n, p=[0.5 + a - move, 0.3 - a, 0.2 + move])
    wrong = (true + rng.integers(1, 3, size=n)) % 3
    out = MulticlassPerformance.zero(3)
    out.update(true, np.where(rng.random(n) < 0.85, true, wrong))
    return out


def _encode(e: AlertEvent) -> bytes:
    return build_alert(e, dashboard_base="https://d.example.com").to_json()


def run(
    rate: int, amp: float, *, spread: bool = True, move: float = 0.0, seed: int = 0
) -> list[Alert]:
    rng = np.random.default_rng(seed)
    hours = {}
    for h in range(7 * 24):
        start = T0 - 7 * DAY_MS + h * HOUR_MS
        hours[start] = draw(rng, rate, start, amp)
    ref = merge_all(hours.values(), 3)
    ref.spread = spread_of(hours, classes=3) if spread else None
    store = MemoryHealthStore()
    store.put_reference_multiclass("m", ref)
    ev = HealthEvaluator(store, _encode, wait_for_labels=False)
    writes = []
    for h in range(DAYS * 24):
        start = T0 + h * HOUR_MS
        # Labels 1–48 h late: one cell per arrival day, drawn per label.
        arrive = start + rng.integers(HOUR_MS, 49 * HOUR_MS, rate)
        day = arrive - arrive % DAY_MS
        for d in np.unique(day).tolist():
            m = int((day == d).sum())
            st = draw(rng, m, start, amp, move if start >= T0 + 10 * DAY_MS else 0.0)
            writes.append(LabelHourWrite(start, st.to_bytes(), (), d))
    return judge_fortnight(store, ev, SPEC, writes, t0=T0, days=DAYS, rate=rate)


def paged(alerts: list[Alert]) -> set[str]:
    return {f.name for a in alerts for f in a.features}


@pytest.mark.parametrize(("rate", "amp"), [(150, 0.05), (150, 0.0), (1500, 0.05), (1500, 0.0)])
def test_a_stationary_fortnight_pages_no_class_share(rate: int, amp: float) -> None:
    assert paged(run(rate, amp)) == set()
    assert "label:class_share" in paged(run(rate, amp, spread=False))  # the older rule


def test_a_real_move_still_pages() -> None:
    """0.5 / 0.3 / 0.2 → 0.4 / 0.3 / 0.3 from day 10, through the cycle."""
    assert "label:class_share" in paged(run(150, 0.05, move=0.1))


def test_a_reference_built_before_k15c_is_judged_as_before_and_says_so() -> None:
    rng = np.random.default_rng(4)
    store = MemoryHealthStore()
    store.put_reference_multiclass("m", draw(rng, 25_200, T0, 0.0))
    ev = HealthEvaluator(store, _encode, wait_for_labels=False)
    ref = store.reference_multiclass(SPEC)
    assert ref is not None and ref.spread is None
    decisions = ev._judge_labels(SPEC, ref, draw(rng, 150, T0, 0.0), HOUR)
    (shift,) = [d for d in decisions if d.kind == "label"]
    assert "no between-window spread" in shift.reason
    assert "driftstream reference build" in shift.reason
    assert "P=" in shift.reason  # the older rule's two-sided P(shift)
