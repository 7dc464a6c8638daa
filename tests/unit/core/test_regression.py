"""Regression health state and decisions (pure)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stream.core.regression import (
    RegressionPerformance,
    error_increase,
    merge_all,
    merge_bytes,
    target_shift,
)

finite = st.floats(min_value=-1e12, max_value=1e12, allow_nan=False, allow_subnormal=True)
pairs = st.lists(st.tuples(finite, finite), max_size=40)


def _state(ps: list[tuple[float, float]]) -> RegressionPerformance:
    s = RegressionPerformance()
    s.update([y for y, _ in ps], [p for _, p in ps])
    return s


@given(st.lists(pairs, min_size=1, max_size=6), st.randoms(use_true_random=False))
@settings(max_examples=80, deadline=None)
def test_merges_are_exact_associative_commutative_and_bytes_follow(
    chunks: list[list[tuple[float, float]]], rnd: object
) -> None:
    whole = _state([p for c in chunks for p in c])
    parts = [_state(c) for c in chunks]
    assert merge_all(parts) == whole
    assert merge_all(reversed(parts)) == whole
    shuffled = list(parts)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    # (a + b) + c == a + (b + c), in bytes too
    left = merge_all(shuffled)
    right = RegressionPerformance()
    for s in reversed(shuffled):
        right = s.merge(right)
    assert left.to_bytes() == right.to_bytes() == whole.to_bytes()
    assert RegressionPerformance.from_bytes(whole.to_bytes()) == whole
    assert merge_bytes(p.to_bytes() for p in parts) == whole


@given(pairs, st.integers(1, 7))
@settings(max_examples=60, deadline=None)
def test_the_same_bytes_whatever_the_batching(ps: list[tuple[float, float]], size: int) -> None:
    one = _state(ps)
    batched = RegressionPerformance()
    for lo in range(0, len(ps), size):
        batched.update([y for y, _ in ps[lo : lo + size]], [p for _, p in ps[lo : lo + size]])
    assert batched.to_bytes() == one.to_bytes()


def test_figures_match_the_float_formulas() -> None:
    rng = np.random.default_rng(3)
    y = rng.normal(100, 15, 5000)
    p = y + rng.normal(1.0, 4.0, 5000)
    s = RegressionPerformance()
    s.update(y, p)
    e = p - y
    assert s.mae == pytest.approx(np.abs(e).mean(), rel=1e-12)
    assert s.rmse == pytest.approx(math.sqrt((e**2).mean()), rel=1e-12)
    assert s.bias == pytest.approx(e.mean(), rel=1e-12)
    assert s.target_mean == pytest.approx(y.mean(), rel=1e-12)
    assert s.target_sd == pytest.approx(y.std(ddof=1), rel=1e-9)
    assert s.prediction_mean == pytest.approx(p.mean(), rel=1e-12)
    assert s.mae_se() == pytest.approx(np.abs(e).std(ddof=1) / math.sqrt(5000), rel=1e-9)


def test_bad_input_is_refused_with_a_reason() -> None:
    s = RegressionPerformance()
    with pytest.raises(ValueError, match="target nan is not a finite number"):
        s.update([math.nan], [1.0])
    with pytest.raises(ValueError, match="prediction inf"):
        s.update([1.0], [math.inf])
    with pytest.raises(ValueError, match="prediction 1e\\+60"):
        s.update([1.0], [1e60])
    with pytest.raises(ValueError, match="2 targets but 1 predictions"):
        s.update([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="trailing bytes"):
        RegressionPerformance.from_bytes(s.to_bytes() + b"\0")
    with pytest.raises(ValueError, match="version"):
        RegressionPerformance.from_bytes(b"\x07" + s.to_bytes()[1:])
    with pytest.raises(ValueError, match="needs"):
        RegressionPerformance.from_bytes(_state([(1.0, 2.0)]).to_bytes()[:-1])
    assert s.n == 0 and s.mae is None and s.rmse is None and s.target_sd is None
    assert error_increase(s, s) is None and target_shift(s, s) is None


def _sample(rng: np.random.Generator, n: int, mu: float, noise: float) -> RegressionPerformance:
    y = rng.normal(mu, 10.0, n)
    s = RegressionPerformance()
    s.update(y, y + rng.normal(0.0, noise, n))
    return s


def test_decisions_see_what_moved_and_only_that() -> None:
    rng = np.random.default_rng(11)
    ref = _sample(rng, 20_000, 50.0, 2.0)
    same = _sample(rng, 1_500, 50.0, 2.0)
    worse = _sample(rng, 1_500, 50.0, 2.6)  # +30 % error
    moved = _sample(rng, 1_500, 53.0, 2.0)  # +0.3 sd target
    for m in ("mae", "rmse"):
        quiet = error_increase(ref, same, metric=m)  # type: ignore[arg-type]
        assert quiet is not None and not quiet.breach and quiet.kind == "performance"
        loud = error_increase(ref, worse, metric=m)  # type: ignore[arg-type]
        assert loud is not None and loud.breach and loud.confidence >= 0.99, loud.reason
        assert loud.ci_low < loud.delta < loud.ci_high and loud.metric == m
        assert f"{m.upper()} " in loud.reason and "%" in loud.reason
        # The target moving alone does not move the error.
        still = error_increase(ref, moved, metric=m)  # type: ignore[arg-type]
        assert still is not None and not still.breach
    t = target_shift(ref, moved)
    assert t is not None and t.breach and t.kind == "label" and t.metric == "mean_shift"
    assert t.ci_low < 3.0 < t.ci_high, t.reason
    for quiet_one in (same, worse):
        q = target_shift(ref, quiet_one)
        assert q is not None and not q.breach


def test_standard_errors_match_the_spread_of_simulated_windows() -> None:
    """The SEs the decisions use are the real sampling spread (within 15 %)."""
    rng = np.random.default_rng(7)
    got: dict[str, list[float]] = {"mae": [], "rmse": [], "mean": []}
    se: dict[str, list[float]] = {"mae": [], "rmse": [], "mean": []}
    for _ in range(400):
        y = rng.gamma(2.0, 5.0, 600)
        s = RegressionPerformance()
        s.update(y, y + rng.standard_t(5, 600))  # heavy-ish tailed errors
        got["mae"].append(s.mae or 0.0)
        got["rmse"].append(s.rmse or 0.0)
        got["mean"].append(s.target_mean or 0.0)
        se["mae"].append(s.mae_se())
        se["rmse"].append(s.rmse_se())
        se["mean"].append((s.target_sd or 0.0) / math.sqrt(s.n))
    for k in got:
        spread = float(np.std(got[k], ddof=1))
        assert float(np.median(se[k])) == pytest.approx(spread, rel=0.15), k


def test_floors_are_in_the_effect_units_the_lifecycle_compares() -> None:
    rng = np.random.default_rng(5)
    ref = _sample(rng, 20_000, 50.0, 2.0)
    win = _sample(rng, 1_500, 53.0, 2.6)
    mae = error_increase(ref, win, metric="mae", floor=0.1)
    shift = target_shift(ref, win, floor=0.1)
    assert mae is not None and shift is not None
    assert mae.floor == pytest.approx(0.1 * (ref.mae or 0))
    assert shift.floor == pytest.approx(0.1 * (ref.target_sd or 0))


def test_extreme_values_within_the_bound_give_finite_figures() -> None:
    s = RegressionPerformance()
    s.update([1e50, -1e50, 5e-324, 0.0], [-1e50, 1e50, -5e-324, -0.0])
    assert s.n == 4 and s.mae == pytest.approx(1e50)
    assert s.rmse == pytest.approx(2e50 / math.sqrt(2))
    assert math.isfinite(s.mae_se()) and math.isfinite(s.rmse_se())
    assert RegressionPerformance.from_bytes(s.to_bytes()) == s
    d = error_increase(s, s)
    assert d is not None and not d.breach


def test_a_wide_window_with_a_centred_mean_is_not_a_target_shift() -> None:
    """Two symmetric outliers widen the SE; P(move > floor) stays one-sided (k15s item 1).

    Two-sided P(|D| > floor) tends to 1 as the SE grows whatever the mean did: 455 of
    these 2,000 windows breached before the fix.
    """
    rng = np.random.default_rng(3)
    ref = RegressionPerformance()
    y = rng.normal(0.0, 1.0, 20_000)
    ref.update(y, y)
    breaches = 0
    for _ in range(2_000):
        w = np.concatenate([rng.normal(0.0, 1.0, 150), [1_000.0, -1_000.0]])
        s = RegressionPerformance()
        s.update(w, w)
        d = target_shift(ref, s)
        assert d is not None
        breaches += d.breach
    assert breaches == 0
    # A real move through the same noise still pages once the window is big enough.
    big = RegressionPerformance()
    w = np.concatenate([rng.normal(2.0, 1.0, 20_000), [1_000.0, -1_000.0]])
    big.update(w, w)
    d = target_shift(ref, big)
    assert d is not None and d.breach, d.reason


def test_huge_updates_fold_before_the_float_sums_lose_exactness(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """k15s item 3: the per-exponent float sums are folded every FOLD_EVERY values."""
    from stream.core.sketch import _moments

    fold_every = 2 * _moments.CHUNK
    monkeypatch.setattr(_moments, "FOLD_EVERY", fold_every)
    seen: list[int] = []
    real = _moments.MomentAccumulator.add_sorted

    def spy(self: _moments.MomentAccumulator, f: np.ndarray, n_neg: int, n_zero: int) -> None:
        seen.append(self.pending + f.size)
        real(self, f, n_neg, n_zero)

    monkeypatch.setattr(_moments.MomentAccumulator, "add_sorted", spy)
    rng = np.random.default_rng(1)
    y = rng.normal(0.0, 1.0, 5 * _moments.CHUNK + 7)
    p = y + rng.normal(0.0, 1.0, y.size)
    whole = RegressionPerformance()
    whole.update(y, p)
    assert max(seen) <= fold_every
    parts = merge_all(_state(list(zip(y[i : i + 1000], p[i : i + 1000], strict=True)))
                      for i in range(0, y.size, 1000))  # fmt: skip
    assert whole == parts


def test_negative_sums_of_squares_are_refused() -> None:
    s = _state([(1.0, 2.0), (3.0, 1.0)])
    for f in ("e2", "q1", "q2", "y2", "a1"):
        bad = RegressionPerformance(**{**{k: getattr(s, k) for k in s.__slots__}, f: -1})
        with pytest.raises(ValueError, match="negative"):
            RegressionPerformance.from_bytes(bad.to_bytes())


def test_a_perfect_reference_does_not_make_every_error_a_page() -> None:
    """R = 0: the floor is floor × the reference target's sd (k15s item 3)."""
    rng = np.random.default_rng(8)
    y = rng.normal(50.0, 10.0, 5_000)
    ref = RegressionPerformance()
    ref.update(y, y)  # zero error
    tiny = RegressionPerformance()
    w = rng.normal(50.0, 10.0, 2_000)
    tiny.update(w, w + rng.normal(0.0, 0.01, w.size))  # 0.01 error, sd 10 target
    big = RegressionPerformance()
    big.update(w, w + rng.normal(0.0, 5.0, w.size))  # errors of half an sd
    for m in ("mae", "rmse"):
        q = error_increase(ref, tiny, metric=m)  # type: ignore[arg-type]
        assert q is not None and not q.breach, q.reason
        assert q.floor == pytest.approx(0.1 * (ref.target_sd or 0))
        assert "reference target sd" in q.reason
        b = error_increase(ref, big, metric=m)  # type: ignore[arg-type]
        assert b is not None and b.breach, b.reason


def test_a_reference_spread_travels_in_v2_bytes_and_window_bytes_stay_v1() -> None:
    from stream.core.regression import Spread, spread_of

    rng = np.random.default_rng(6)
    hours = {}
    for h in range(48):
        s = RegressionPerformance()
        y = rng.normal(10.0 + np.sin(h / 24 * 2 * np.pi), 0.3, 200)
        s.update(y, y + rng.normal(0.0, 0.3, 200))
        hours[h * 3_600_000] = s
    plain = merge_all(hours.values())
    v1 = plain.to_bytes()
    assert v1[0] == 1  # no spread: the v1 bytes every window's state has
    ref = merge_all(hours.values())
    ref.spread = spread_of(hours)
    assert isinstance(ref.spread, Spread) and ref.spread.tau2("hour", "mean_shift") > 0.3
    data = ref.to_bytes()
    assert data[0] == 2 and data.startswith(b"\x02" + v1[1:])
    back = RegressionPerformance.from_bytes(data)
    assert back == ref and back.spread == ref.spread
    assert ref.merge(plain).spread is None  # a merge is of windows: no spread
    for bad in (data[:-1], data + b"x", data.replace(b"mean_shift", b"mean_shif\xff")):
        with pytest.raises(ValueError, match="regression state"):
            RegressionPerformance.from_bytes(bad)


def test_one_number_rule_for_targets_and_predictions() -> None:
    from stream.core.regression import as_number

    for ok in (0, -3, 2.5, 1e50, -1e50, 5e-324):
        assert as_number(ok) == float(ok)
    for bad, why in (
        (True, "a number"), ("1.5", "a number"), (None, "a number"), ([1], "a number"),
        (math.nan, "within"), (math.inf, "within"), (1e51, "within"), (10**400, "within"),
    ):  # fmt: skip
        with pytest.raises(ValueError, match=why):
            as_number(bad)
