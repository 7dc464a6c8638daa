"""Calibration: null spread from the reference, the Q-gated τ², seasonality, the budget's z."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats

from stream.core.calibrate import (
    Calibration,
    FeatureCalibration,
    ModelCalibration,
    alpha_per_test,
    calibrate_feature,
    calibrate_model,
    day_windows,
    leave_one_out,
    model_alpha,
    z_critical,
)
from stream.core.nullspread import Resampler, decision_measures
from stream.core.seasonality import Seasonality, detect_seasonality
from stream.core.sketch import CategoricalSketch, NumericSketch
from stream.core.window import DAY_MS, HOUR_MS
from tests.unit.core import drift_streams as S


def _hours(days: int, rate: int, seed: int, mean_of_hour=lambda t: 0.0) -> dict[int, NumericSketch]:  # noqa: E731
    g = np.random.default_rng(seed)
    out = {}
    for i in range(days * 24):
        t = S.T0 + i * HOUR_MS
        out[t] = NumericSketch.zero().update(g.normal(mean_of_hour(t), 1.0, int(g.poisson(rate))))
    return out


# ---------------------------------------------------------------- the variance model


def test_threshold_formula_per_law() -> None:
    signed = Calibration(
        "mean_shift", "signed", mu0=0.01, beta=0.0, sigma2=1.0, tau2=0.0004, n_ref=10_000
    )
    n_eff = 1_500 * 10_000 / 11_500
    assert signed.threshold(1_500, 4.0) == pytest.approx(0.01 + 4 * math.sqrt(0.0004 + 1 / n_eff))
    assert signed.score(-0.2, 1_500) < 0  # signed metrics keep their sign
    dist = Calibration("ks", "distance", mu0=0.0, beta=0.87, sigma2=0.068, n_ref=10_000)
    assert dist.centre(1_500) == pytest.approx(0.87 / math.sqrt(n_eff))
    # Against a window baseline (same hour last week) the effective size shrinks.
    assert dist.threshold(1_500, 4.0, n_base=74) > 3 * dist.threshold(1_500, 4.0)
    share = Calibration("out_of_range", "share", mu0=0.0, beta=2.0, sigma2=2.0, n_ref=12_000)
    r = 2 / 12_001
    assert share.threshold(1_500, 4.0) == pytest.approx(
        r + 4 * math.sqrt(r * (1 - r) / 1_500 + r * (1 - r) / 12_002)
    )
    # A 74-event baseline's own range is random: its threshold is far wider.
    assert share.threshold(1_500, 4.0, n_base=74) > 0.08


def test_calibration_round_trips_through_json() -> None:
    c = Calibration(
        "js", "distance", 0.001, 1.2, 0.08, 0.0, math.nan, 0, math.nan, 2, 500, 120, "x"
    )
    assert Calibration.from_dict(json.loads(json.dumps(c.to_dict(), allow_nan=False))) == c
    mc = S.calibration()
    text = json.dumps(mc.to_dict(), allow_nan=False, sort_keys=True)
    back = ModelCalibration.from_dict(json.loads(text))
    assert back == mc
    assert json.dumps(back.to_dict(), sort_keys=True) == text
    with pytest.raises(ValueError, match="version"):
        ModelCalibration.from_dict({**mc.to_dict(), "version": 99})


# ---------------------------------------------------------------- the Q gate


def test_stationary_reference_gets_no_tau() -> None:
    mc = S.calibration()
    taus = {
        (f, key, m): c.tau2
        for f, per in mc.calibrations.items()
        for key, fc in per.items()
        for m, c in fc.metrics.items()
    }
    assert len(taus) == 2 * (6 * 5 + 4 * 4)  # scales × decision metrics
    assert [k for k, t in taus.items() if t > 0] == []


def test_without_the_gate_chance_tau_appears() -> None:
    # DESIGN: a chance τ from small reference windows holds thresholds up for nothing.
    hours = {t: row["age"] for t, row in S.reference_hours().items()}
    gated = calibrate_feature("age", "numeric", hours, live_n=1_500, draws=60)
    ungated = calibrate_feature("age", "numeric", hours, live_n=1_500, draws=60, q_alpha=1.0)
    assert all(c.tau2 == 0 for c in gated.metrics.values())
    chance = [m for m, c in ungated.metrics.items() if c.tau2 > 0]
    assert chance  # Q > df happens half the time by chance alone
    worse = [
        ungated.metrics[m].threshold(1_500, 4.3) / gated.metrics[m].threshold(1_500, 4.3)
        for m in chance
    ]
    assert max(worse) > 1.0


def test_real_between_hour_variation_is_measured() -> None:
    # Daily cycle of 1.5σ: in reference-sd units τ = √(1.125)/√(2.125) ≈ 0.73.
    cal = S.seasonal_calibration("reference")
    assert isinstance(cal, FeatureCalibration)
    ms = cal.metrics["mean_shift"]
    assert ms.q_p < 1e-20 and "tau2 real" in ms.method
    assert math.sqrt(ms.tau2) == pytest.approx(0.73, rel=0.2)
    lagged = S.seasonal_calibration("seasonal")
    assert isinstance(lagged, FeatureCalibration)
    assert lagged.lag_ms == DAY_MS  # a one-week reference: the daily proxy lag
    assert all(c.tau2 == 0 for c in lagged.metrics.values())


def test_synthetic_law_of_ks_matches_kolmogorov() -> None:
    # E[√n·KS] → √(π/2)·ln 2 = 0.87 and Var → 0.068 for continuous data; the bucketed
    # CDF makes it a little smaller.
    cal = S.calibration().get("age", "hour", "reference")
    assert cal is not None
    ks = cal.metrics["ks"]
    assert 0.75 < ks.beta < 0.92 and 0.045 < ks.sigma2 < 0.095
    assert cal.metrics["mean_shift"].sigma2 == 1.0  # analytic


def test_small_reference_still_calibrates_from_redraws() -> None:
    hours = _hours(1, 80, seed=3)
    two = {t: hours[t] for t in sorted(hours)[:2]}
    fc = calibrate_feature("x", "numeric", two, live_n=1_500, draws=40)
    assert fc.n_windows == 0 and "redraws only" in fc.method
    for c in fc.metrics.values():
        assert c.tau2 == 0 and math.isfinite(c.threshold(1_500, 4.0))
    assert fc.metrics["ks"].beta > 0.5
    with pytest.raises(ValueError, match="no reference windows"):
        calibrate_feature("x", "numeric", {})
    # A reference without timestamps is one huge "hour": both scales still calibrate.
    one = {0: {"x": NumericSketch.zero().update(np.random.default_rng(1).normal(0, 1, 100_000))}}
    mc = calibrate_model("m", {"x": "numeric"}, one, baselines=("reference",), draws=20)
    day = mc.get("x", "day", "reference")
    assert day is not None and day.n_windows == 0 and day.metrics["ks"].beta > 0.5


def test_previous_baseline_and_day_scale() -> None:
    hours = _hours(4, 60, seed=4)
    prev = calibrate_feature("x", "numeric", hours, baseline="previous", draws=40)
    assert prev.lag_ms == HOUR_MS and prev.n_windows == 4 * 24 - 1
    days = day_windows(hours)
    assert sorted(days) == [S.T0 + d * DAY_MS for d in range(4)]
    assert days[S.T0].total == sum(hours[S.T0 + h * HOUR_MS].total for h in range(24))
    partial = {t: s for t, s in hours.items() if (t - S.T0) % DAY_MS < 6 * HOUR_MS}
    assert day_windows(partial) == {}
    fc = calibrate_feature("x", "numeric", days, scale="day", draws=40, live_n=30_000)
    assert fc.scale == "day" and fc.n_windows == 4 and fc.live_n == 30_000


def test_calibration_is_deterministic_and_order_free() -> None:
    hours = _hours(2, 50, seed=5)
    a = calibrate_feature("x", "numeric", hours, draws=30, seed=1).to_dict()
    b = calibrate_feature("x", "numeric", dict(reversed(list(hours.items()))), draws=30, seed=1)
    assert a == b.to_dict()
    assert a != calibrate_feature("x", "numeric", hours, draws=30, seed=2).to_dict()


def test_leave_one_out_equals_naive_merges() -> None:
    g = np.random.default_rng(6)
    ws = [CategoricalSketch.zero().update(list(g.choice(["a", "b", "c"], 20))) for _ in range(5)]
    for i, rest in enumerate(leave_one_out(ws)):
        others = [w for j, w in enumerate(ws) if j != i]
        assert rest == S.merge(others)  # type: ignore[arg-type]


def test_resampler_draws_from_the_reference() -> None:
    ref = NumericSketch.zero().update(np.r_[np.arange(100.0), np.inf], nulls=20)
    rs = Resampler(ref, "numeric")
    assert rs.total == 121 and rs.missing_share == pytest.approx(20 / 121)
    w = rs.draw(1_000, np.random.default_rng(0))
    assert w.total == 1_000 and 100 < w.nulls < 240 and w.pos_inf > 0
    assert rs.base.signed_keys()[1].tolist() == ref.signed_keys()[1].tolist()
    cat = Resampler(CategoricalSketch.zero().update(["a", "b", "b", "c"]), "categorical")
    assert cat.singletons() == 2


def test_decision_measures_extra_overrides() -> None:
    ref = CategoricalSketch.zero().update(["a"] * 50 + ["b"] * 50)
    win = CategoricalSketch.zero().update(["a"] * 70 + ["b"] * 30)
    ms = decision_measures(ref, win, "categorical", extra=["psi", "js"])
    assert sorted(ms) == ["js", "linf", "null_rate_change", "psi", "unseen"]
    with pytest.raises(TypeError):
        decision_measures(ref, win, "numeric")


# ---------------------------------------------------------------- seasonality


def test_seasonality_daily_weekly_and_none() -> None:
    daily = detect_seasonality(
        "s", "numeric", {t: row["seasonal"] for t, row in S.reference_hours().items()}
    )
    assert daily.daily and not daily.weekly and daily.hod_p < 1e-20
    assert daily.baseline("hour") == "seasonal" and daily.baseline("day") == "reference"
    # Weekends 0.5σ higher, over two weeks.
    weekend = _hours(14, 74, seed=7, mean_of_hour=lambda t: 0.5 * (((t // DAY_MS) + 3) % 7 >= 5))
    weekly = detect_seasonality("w", "numeric", weekend)
    assert weekly.weekly and not weekly.daily
    assert weekly.baseline("day") == "seasonal"
    for f, kind in S.KINDS.items():
        hours = {t: row[f] for t, row in S.reference_hours().items()}
        s = detect_seasonality(f, kind, hours)
        assert not s.seasonal, (f, s)
    assert Seasonality.from_dict(json.loads(json.dumps(daily.to_dict(), allow_nan=False))) == daily


def test_categorical_seasonality_uses_the_top_share() -> None:
    g = np.random.default_rng(8)
    hours = {}
    for i in range(7 * 24):
        p = 0.5 + 0.2 * math.sin(2 * math.pi * (i % 24) / 24)
        hours[S.T0 + i * HOUR_MS] = S.categorical(g, "flag", 80, {"y": p, "n": 1 - p})
    s = detect_seasonality("flag", "categorical", hours)
    assert s.daily and "share of" in s.method


def test_baseline_choice_and_overrides() -> None:
    mc = ModelCalibration("m", {}, {"s": Seasonality("s", daily=True)})
    assert mc.baseline_for("s", "hour") == "seasonal"
    assert mc.baseline_for("s", "day") == "reference"
    assert mc.baseline_for("s", "hour", seasonal=False) == "reference"
    assert mc.baseline_for("other", "day", seasonal=True) == "seasonal"
    assert mc.baseline_for("other", "hour") == "reference"


def test_calibrate_model_covers_features_scales_and_baselines() -> None:
    hours = {t: {"x": s} for t, s in _hours(3, 60, seed=9).items()}
    mc = calibrate_model("m", {"x": "numeric", "missing": "numeric"}, hours, draws=30)
    assert set(mc.calibrations) == {"x"}
    assert set(mc.calibrations["x"]) == {
        "hour/reference",
        "hour/seasonal",
        "day/reference",
        "day/seasonal",
    }
    assert mc.get("x", "day", "seasonal") is not None and mc.get("x", "hour", "previous") is None


# ---------------------------------------------------------------- budget → z


def test_false_alarm_budget_arithmetic() -> None:
    # B = 1 per model per 30 days, 3 streams, 10 features × 4.5 metrics, 720 hours.
    a = alpha_per_test(1.0, 45, "hour", n_streams=3)
    assert a == pytest.approx(1 / (3 * 45 * 720))
    assert z_critical(a) == pytest.approx(stats.norm.isf(a))
    assert z_critical(a, two_sided=True) == pytest.approx(stats.norm.isf(a / 2))
    # The test streams: 6 numeric × 5 metrics + 4 categorical × 4 = 46 tests per window.
    assert model_alpha(1.0, S.KINDS, "hour") == pytest.approx(1 / (3 * 46 * 720))
    assert model_alpha(1.0, S.KINDS, "day") == pytest.approx(1 / (3 * 46 * 30))
    assert alpha_per_test(1e9, 1, "day") == 0.5  # capped
    # Expected false breaches per 30 days if every test were independent: the budget.
    assert a * 45 * 720 * 3 == pytest.approx(1.0)
