"""Model-health decisions on simulated, calibrated classifiers (deterministic seeds).

The model: z ~ N(0, σ), score = sigmoid(a + b·z), label ~ Bernoulli(sigmoid(a' + b'·z)).
Reference and stationary days: a' = a, b' = b (calibrated; ~10 % positives, AUC ~0.85).
"""

from __future__ import annotations

import numpy as np
import pytest

from stream.core.model_health import (
    calibration_drift,
    estimate,
    estimated_drop,
    label_shift,
    performance_drop,
    score_counts,
    sketch_score_counts,
)
from stream.core.performance import BinaryPerformance
from stream.core.sketch import NumericSketch

A, B = -3.0, 1.7
DAY = 20_000


def _day(
    rng: np.random.Generator,
    n: int,
    *,
    sigma: float = 1.0,
    label_a: float = A,
    label_b: float = B,
) -> tuple[np.ndarray, np.ndarray]:
    z = rng.normal(0.0, sigma, n)
    s = 1 / (1 + np.exp(-(A + B * z)))
    y = rng.random(n) < 1 / (1 + np.exp(-(label_a + label_b * z)))
    return s, y


def _perf(s: np.ndarray, y: np.ndarray) -> BinaryPerformance:
    p = BinaryPerformance.zero()
    p.update(s, y, threshold=0.5)
    return p


@pytest.fixture(scope="module")
def reference() -> BinaryPerformance:
    return _perf(*_day(np.random.default_rng(1), 200_000))


def test_stationary_fourteen_days_page_nothing_and_estimates_track_realized(
    reference: BinaryPerformance,
) -> None:
    rng = np.random.default_rng(2)
    ref_auc = reference.auc()
    assert ref_auc is not None and 0.83 < ref_auc < 0.87
    worst_auc = worst_acc = 0.0
    for _ in range(14):
        s, y = _day(rng, DAY)
        win = _perf(s, y)
        assert not label_shift(reference, win).breach
        for metric in ("auc", "accuracy"):
            d = performance_drop(reference, win, metric=metric)
            assert d is not None and not d.breach, d.reason
        est = estimate(reference, score_counts(s), threshold=0.5)
        e = estimated_drop(reference, est)
        assert e is not None and not e.breach, e.reason
        assert est.auc is not None
        worst_auc = max(worst_auc, abs(est.auc - (win.auc() or 0)))
        worst_acc = max(worst_acc, abs(est.accuracy - (win.accuracy or 0)))
    assert worst_auc <= 0.02 and worst_acc <= 0.02, (worst_auc, worst_acc)


def test_label_shift_ten_to_fifteen_percent_pages_with_its_magnitude(
    reference: BinaryPerformance,
) -> None:
    s, y = _day(np.random.default_rng(3), DAY, label_a=A + 0.5)
    win = _perf(s, y)
    assert 0.14 < (win.positive_share or 0) < 0.16
    d = label_shift(reference, win)
    assert d.breach and d.confidence >= 0.99
    assert d.ci_low <= 0.05 <= d.ci_high or abs(d.delta - 0.05) < 0.01, d


def test_concept_shift_pages_on_labels_while_the_estimate_stays_quiet(
    reference: BinaryPerformance,
) -> None:
    # Same scores; the outcome depends less on z: AUC ~0.75, positives ~10 %.
    s, y = _day(np.random.default_rng(4), DAY, label_a=-2.62, label_b=0.95)
    win = _perf(s, y)
    auc = win.auc()
    assert auc is not None and 0.72 < auc < 0.78
    assert 0.09 < (win.positive_share or 0) < 0.115
    realized = performance_drop(reference, win)
    assert realized is not None and realized.breach, realized
    est = estimate(reference, score_counts(s), threshold=0.5)
    estimated = estimated_drop(reference, est)
    # The documented blind spot: the scores did not move, so neither does the estimate.
    assert estimated is not None and not estimated.breach, estimated.reason
    assert est.auc is not None and abs(est.auc - (reference.auc() or 0)) < 0.02


def test_covariate_shift_pages_on_the_estimate_before_labels(
    reference: BinaryPerformance,
) -> None:
    # Inputs concentrate (σ 1 → 0.6): scores move toward the middle, the model is
    # still calibrated, expected AUC falls. Judged from the scores alone.
    s, y = _day(np.random.default_rng(5), DAY, sigma=0.6)
    est = estimate(reference, score_counts(s), threshold=0.5)
    d = estimated_drop(reference, est)
    assert d is not None and d.breach, d.reason
    realized = _perf(s, y).auc()
    assert est.auc is not None and realized is not None
    assert abs(est.auc - realized) < 0.02


def test_the_prediction_sketch_gives_the_same_estimate(reference: BinaryPerformance) -> None:
    s, _ = _day(np.random.default_rng(6), DAY)
    sketch = NumericSketch.zero()
    sketch.update(s)
    exact = estimate(reference, score_counts(s), threshold=0.5)
    approx = estimate(reference, sketch_score_counts(sketch), threshold=0.5)
    assert approx.n == pytest.approx(exact.n)
    assert approx.auc == pytest.approx(exact.auc, abs=0.005)
    assert approx.accuracy == pytest.approx(exact.accuracy, abs=0.005)


def test_undefined_windows_give_no_decision(reference: BinaryPerformance) -> None:
    one_class = _perf(np.array([0.2, 0.3]), np.array([False, False]))
    assert performance_drop(reference, one_class) is None
    empty = BinaryPerformance.zero()
    assert performance_drop(reference, empty, metric="accuracy") is None
    assert not label_shift(reference, empty).breach


def _calib_state(
    rng: np.random.Generator, n: int, shift: float, squash: float = 1.0
) -> BinaryPerformance:
    z = rng.normal(0, 1, n)
    s = 1 / (1 + np.exp(-(-3.0 + 1.7 * z)))
    y = rng.random(n) < 1 / (1 + np.exp(-squash * (-3.0 + shift + 1.7 * z)))
    p = BinaryPerformance.zero()
    p.update(s, y, threshold=0.5)
    return p


def test_calibration_drift_is_quiet_when_p_y_given_score_holds_even_if_miscalibrated() -> None:
    rng = np.random.default_rng(7)
    for squash in (1.0, 0.6):  # 0.6: the model is miscalibrated from the start
        ref = _calib_state(rng, 50_000, 0.0, squash)
        for _ in range(5):
            d = calibration_drift(ref, _calib_state(rng, 20_000, 0.0, squash))
            assert d is not None and not d.breach, d.reason


def test_calibration_drift_breaches_when_outcomes_move_at_the_same_scores() -> None:
    rng = np.random.default_rng(8)
    ref = _calib_state(rng, 50_000, 0.0)
    d = calibration_drift(ref, _calib_state(rng, 20_000, 0.6))
    assert d is not None and d.breach and d.metric == "calibration"
    assert d.value > 0.02 and d.confidence >= 0.99 and "ECE" in d.reason


def _shares(k: int, n: int) -> BinaryPerformance:
    """A window of ``k`` positives in ``n`` labels (scores 0.8 / 0.2)."""
    y = np.arange(n) < k
    return _perf(np.where(y, 0.8, 0.2), y)


def test_label_shift_with_a_spread_is_one_sided_beyond_the_floor() -> None:
    """A reference with a spread: Φ((|δ| − floor)/sd), τ² widening sd (k15t)."""
    ref = _shares(2_520, 25_200)  # 10 % over a week at 150/h
    sparse = _shares(3, 150)  # 2 % in a sparse hour: P ≈ 0.2 % at 10 %, a 3.5 sd tail
    old = label_shift(ref, sparse)  # the two-sided rule: its own narrow posterior
    new = label_shift(ref, sparse, tau2=0.0)
    assert old.breach and not new.breach, (old.reason, new.reason)
    big = _shares(40, 150)  # 26.7 %: a move no cycle of this size explains
    assert label_shift(ref, big, tau2=0.0).breach
    assert label_shift(ref, big, tau2=0.0).adverse == 0
    peak = _shares(2_025, 15_000)  # a peak at 13.5 % over 15,000 labels
    assert label_shift(ref, peak, tau2=0.0).breach
    widened = label_shift(ref, peak, tau2=0.02**2 / 2)
    assert not widened.breach and "between-window sd" in widened.reason
    assert widened.ci_high - widened.ci_low > 3.92 * 0.02 / 2**0.5  # at least ± 1.96 τ


def test_a_drop_adds_the_reference_tau2() -> None:
    rng = np.random.default_rng(8)
    ref = _perf(*_day(rng, 20_000))
    win = _perf(*_day(rng, 5_000, sigma=0.8))
    plain = performance_drop(ref, win, metric="accuracy", floor=0.0)
    wide = performance_drop(ref, win, metric="accuracy", floor=0.0, tau2=0.01**2)
    assert plain is not None and wide is not None
    assert wide.ci_high - wide.ci_low > plain.ci_high - plain.ci_low
    assert abs(wide.confidence - 0.5) < abs(plain.confidence - 0.5)  # less sure either way
