"""Calibration drift with the reference's spread (k15c, k15d): quiet when stationary,
paging when P(y | score) leaves the reference's map in either direction.

The older rule (a two-sided χ² over ten fixed score groups, the effect Σ|O − E| / N)
paged stationary streams: a lone positive in a group expecting 0.01 adds ≈ 100 to
the χ², and at 150 labels Σ|O − E| / N is noise's own size (median 0.026 > the 2-pt
floor). These pin the new rule against it on the same windows.
"""

from __future__ import annotations

import numpy as np
import pytest

from stream.core.model_health import _worse_z, calibration_drift
from stream.core.performance import (
    CAL_ALL,
    CAL_MEASURES,
    BinaryPerformance,
    merge_all,
    spread_of,
)

HOUR = 3_600_000
T0 = 1_767_225_600_000


def k15t(rng: np.random.Generator, n: int) -> BinaryPerformance:
    """The k15t stream without its cycle: 10 % positives, scores that are not
    probabilities (ECE ≈ 0.26), sparse high-score groups."""
    y = rng.random(n) < 0.10
    s = np.clip(rng.normal(np.where(y, 0.7, 0.3), 0.15), 0.0, 1.0)
    out = BinaryPerformance.zero()
    out.update(s, y, threshold=0.5)
    return out


def logistic(rng: np.random.Generator, n: int, lift: float = 0.0) -> BinaryPerformance:
    """A calibrated model (s = P(y | s)); ``lift`` moves the outcome's log odds only."""
    z = rng.normal(0.0, 1.0, n)
    s = 1 / (1 + np.exp(-(-2.2 + 1.7 * z)))
    y = rng.random(n) < 1 / (1 + np.exp(-(-2.2 + lift + 1.7 * z)))
    out = BinaryPerformance.zero()
    out.update(s, y, threshold=0.5)
    return out


NO_SPREAD = [0.0] * len(CAL_MEASURES)
BUDGET = 1 - 1 / 2_250
"""The evaluator's bar for the new rule: 1 false alert in 30 days of hour and day windows
judged at 0.5, 0.9 and final (``health_eval.budget_confidence``); the older rule's is 0.99."""


@pytest.mark.parametrize("stream", [k15t, logistic])
@pytest.mark.parametrize("n", [75, 150, 1500])
def test_stationary_windows_do_not_breach(stream, n: int) -> None:  # type: ignore[no-untyped-def]
    """400 stationary windows against a 25,200-label reference (a week at 150/h)."""
    rng = np.random.default_rng(n)
    ref = stream(rng, 25_200)
    wins = [stream(rng, n) for _ in range(400)]
    new = [calibration_drift(ref, w, tau2=NO_SPREAD, confidence=BUDGET) for w in wins]
    assert sum(d is not None and d.breach for d in new) == 0
    at_99 = [calibration_drift(ref, w, tau2=NO_SPREAD) for w in wins]
    assert sum(d is not None and d.breach for d in at_99) <= 0.01 * len(wins)
    if n <= 150:  # what the older rule did on the same windows
        old = [calibration_drift(ref, w) for w in wins]
        assert sum(d is not None and d.breach for d in old) >= 4


def test_a_worse_calibrated_window_breaches() -> None:
    rng = np.random.default_rng(8)
    ref = logistic(rng, 50_000)
    worse = calibration_drift(ref, logistic(rng, 20_000, lift=0.6), tau2=NO_SPREAD)
    assert worse is not None and worse.breach and worse.adverse == 1
    assert (
        worse.delta > 0.02
        and worse.confidence >= 0.99
        and "off the reference's map" in worse.reason
    )
    # The same move back, from a miscalibrated reference to calibrated, moves P(y | score)
    # as far from the reference's map: the thresholds tuned on it are as wrong (k15d).
    off = logistic(rng, 50_000, lift=0.6)
    back = calibration_drift(off, logistic(rng, 20_000), tau2=NO_SPREAD)
    assert back is not None and back.breach and back.delta > 0.02
    # A window of the reference's own law is clean: an open alert resolves on it.
    same = calibration_drift(off, logistic(rng, 20_000, lift=0.6), tau2=NO_SPREAD)
    assert same is not None and not same.breach and same.delta < 0.02


def _k15t_low(rng: np.random.Generator, n: int, low_rate: float) -> BinaryPerformance:
    """k15t with P(y | s < 0.5) set to ``low_rate`` (the reference's is ≈ 0.01)."""
    y = rng.random(n) < 0.10
    s = np.clip(rng.normal(np.where(y, 0.7, 0.3), 0.15), 0.0, 1.0)
    y = np.where(s < 0.5, rng.random(n) < low_rate, y)
    out = BinaryPerformance.zero()
    out.update(s, y, threshold=0.5)
    return out


@pytest.mark.parametrize("low_rate", [0.10, 0.20, 0.30])
def test_outcomes_among_low_scores_moving_towards_the_score_breach(low_rate: float) -> None:
    """Review of k15c: P(y | s < 0.5) 0.01 → 0.10–0.30 closes or crosses the gap to the
    mean score (≈ 0.3), so |o − s̄| shrinks; the k15c rule read it as better calibrated."""
    rng = np.random.default_rng(1)
    ref = k15t(rng, 25_200)
    d = calibration_drift(ref, _k15t_low(rng, 1_500, low_rate), tau2=NO_SPREAD, confidence=BUDGET)
    assert d is not None and d.breach and d.delta > low_rate / 2


@pytest.mark.parametrize("low_rate", [0.03, 0.05, 0.07])
def test_precision_falling_at_a_fixed_positive_share_breaches(low_rate: float) -> None:
    """Review of k15c: P(y | s ≥ 0.5) 0.52 → 0.41–0.22 with the share held at ≈ 0.10."""
    rng = np.random.default_rng(7)
    ref = k15t(rng, 25_200)
    y0 = rng.random(3_000) < 0.10
    s = np.clip(rng.normal(np.where(y0, 0.7, 0.3), 0.15), 0.0, 1.0)
    low = s < 0.5
    hi_rate = (y0.sum() - low_rate * low.sum()) / (~low).sum()
    y = np.where(low, rng.random(3_000) < low_rate, rng.random(3_000) < hi_rate)
    win = BinaryPerformance.zero()
    win.update(s, y, threshold=0.5)
    assert abs(win.positives / win.n - 0.10) < 0.02  # the share barely moved
    d = calibration_drift(ref, win, tau2=NO_SPREAD, confidence=BUDGET)
    assert d is not None and d.breach and d.delta > 0.04


def test_the_spread_widens_the_test() -> None:
    rng = np.random.default_rng(3)
    ref = logistic(rng, 50_000)
    win = logistic(rng, 5_000, lift=0.35)
    plain = calibration_drift(ref, win, tau2=NO_SPREAD)
    wide = calibration_drift(ref, win, tau2=[0.03**2] * len(CAL_MEASURES))
    assert plain is not None and wide is not None
    assert plain.breach and not wide.breach and "between-window sd" in wide.reason


def test_a_group_calibrated_at_the_reference_is_judged_two_sided() -> None:
    """gap 0: the error |X| grows past c on either side; far from 0: one side only."""
    z_two, bias_two = _worse_z(0.0, 0.05, 0.02)
    z_one, bias_one = _worse_z(1.0, 0.05, 0.02)
    assert z_two < z_one  # two tails: less surprising
    assert bias_two == pytest.approx(0.02 * (2 / np.pi) ** 0.5) and bias_one == pytest.approx(0)
    assert _worse_z(0.0, 0.05, 0.02, skew=1.0)[0] < z_two  # a long upper tail: less sure
    for skew in (-1.5, 0.0, 0.7, 1.5):  # more evidence is never less sure, whatever the skew
        for gap in (0.0, 0.3):
            zs = [_worse_z(gap, c, 0.02, skew)[0] for c in np.linspace(0.0, 0.5, 60)]
            assert all(b >= a for a, b in zip(zs, zs[1:], strict=False)), (skew, gap)


def _hours(rng: np.random.Generator, rate: int, amp: float) -> dict[int, BinaryPerformance]:
    out = {}
    for h in range(7 * 24):
        c = amp * np.sin(2 * np.pi * (h % 24) / 24)
        z = rng.normal(0.0, 1.0, rate)
        s = 1 / (1 + np.exp(-(-2.2 + 1.7 * z)))
        y = rng.random(rate) < 1 / (1 + np.exp(-(-2.2 + c + 1.7 * z)))
        st = BinaryPerformance.zero()
        st.update(s, y, threshold=0.5)
        out[T0 + h * HOUR] = st
    return out


def test_the_reference_keeps_a_calibration_spread_per_group_and_overall() -> None:
    rng = np.random.default_rng(4)
    flat = spread_of(_hours(rng, 1500, 0.0))
    assert all(flat.fitted(sc, m) for sc in ("hour", "day") for m in CAL_MEASURES)
    assert all(flat.tau2(sc, m) == 0.0 for sc in ("hour", "day") for m in CAL_MEASURES)
    cycle = spread_of(_hours(rng, 1500, 0.6))  # outcome log odds ± 0.6 over the day
    assert cycle.tau2("hour", CAL_ALL) > 0, cycle.describe("hour", CAL_ALL)
    assert cycle.tau2("day", CAL_ALL) == 0.0


def test_a_sparse_cycle_shows_in_the_same_hour_of_day() -> None:
    """At 150 labels an hour single hours are too sparse; the hour of day pooled over 7
    days is not (the hour's τ² is the larger fit)."""
    rng = np.random.default_rng(5)
    hours = _hours(rng, 150, 0.8)
    sp = spread_of(hours)
    assert sp.tau2("hour", CAL_ALL) > 0, sp.describe("hour", CAL_ALL)
    assert merge_all(hours.values()).spread is None
