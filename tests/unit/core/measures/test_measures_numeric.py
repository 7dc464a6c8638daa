"""Numeric measures from sketches against the same measures on raw data (seeded)."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from stream.core.measures import numeric as N
from stream.core.measures.divergence import hellinger_counts, js_counts, psi_counts
from stream.core.sketch import NumericSketch
from tests.unit.core.measures.measure_fakes import RawSummary, summarize

ALPHA = 0.01
N_REF, N_WIN = 20_000, 5_000
Gen = Callable[[np.random.Generator, int, float], np.ndarray]

# shape -> generator(rng, size, shift); shift 0 is "no drift".
SHAPES: dict[str, Gen] = {
    "normal": lambda g, n, s: g.normal(s, 1.0, n),
    "lognormal": lambda g, n, s: g.lognormal(s, 1.0, n),
    "bimodal": lambda g, n, s: np.where(
        g.random(n) < 0.5 - s, g.normal(-2, 0.5, n), g.normal(2, 0.5, n)
    ),
    "integer_counts": lambda g, n, s: g.poisson(3.0 + 3 * s, n).astype(np.float64),
    "bounded01": lambda g, n, s: g.beta(2.0 + 3 * s, 5.0, n),
    "heavy_tailed": lambda g, n, s: g.standard_t(1.5, n) * (1 + s),
    "constant": lambda g, n, s: np.full(n, 5.0 + s),
    "mostly_null": lambda g, n, s: g.normal(s, 1.0, n // 20),
}


def _samples(shape: str, shift: float, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    g = np.random.default_rng(seed)
    gen = SHAPES[shape]
    return gen(g, N_REF, 0.0), gen(g, N_WIN, shift)


def _pair(
    a: np.ndarray, b: np.ndarray, nulls: tuple[int, int] = (0, 0), *, standin: bool = False
) -> N.NumericPair:
    if standin:
        return N.NumericPair(RawSummary(a, nulls[0], ALPHA), RawSummary(b, nulls[1], ALPHA))
    return N.NumericPair(summarize(a, nulls[0], ALPHA), summarize(b, nulls[1], ALPHA))


def _raw_bins(pair: N.NumericPair, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    e = pair.bins.edges
    # Right-closed bins (−∞, e1], (e1, e2], …: side="left" counts the edges below v.
    k = e.size + 1
    return (
        np.bincount(np.searchsorted(e, a, side="left"), minlength=k),
        np.bincount(np.searchsorted(e, b, side="left"), minlength=k),
    )


@pytest.mark.parametrize("standin", [False, True], ids=["sketch", "stand-in"])
@pytest.mark.parametrize("shift", [0.0, 0.1], ids=["same", "shifted"])
@pytest.mark.parametrize("shape", list(SHAPES))
def test_accuracy_against_raw(shape: str, shift: float, standin: bool) -> None:
    a, b = _samples(shape, shift)
    pair = _pair(a, b, standin=standin)
    ks = N.ks_distance(pair)
    assert abs(ks.value - stats.ks_2samp(a, b).statistic) <= 0.005
    rc, wc = _raw_bins(pair, a, b)
    assert rc.tolist() == pair.bins.ref.tolist()  # snapped edges: counts exact
    assert abs(N.psi(pair).value - psi_counts(rc, wc)) <= 0.01
    assert abs(N.js_distance(pair).value - js_counts(rc, wc)) <= 0.01
    assert abs(N.hellinger(pair).value - hellinger_counts(rc, wc)) <= 0.01
    # Stated bound: each value moves by ≤ 2α/(1−α)·|x| inside its bucket.
    bound = 2 * ALPHA / (1 - ALPHA) * (np.abs(a).mean() + np.abs(b).mean())
    w = N.wasserstein(pair).value
    assert abs(w - stats.wasserstein_distance(a, b)) <= bound
    if shape == "constant" and shift == 0:
        assert [ks.value, w, N.psi(pair).value, N.mean_shift(pair).value] == [0, 0, 0, 0]


def test_psi_close_to_exact_decile_bins() -> None:
    # Snapping edges to buckets barely changes PSI against edges at exact deciles.
    a, b = _samples("lognormal", 0.1)
    edges = np.quantile(a, np.arange(1, 10) / 10)
    rc = np.bincount(np.searchsorted(edges, a), minlength=10)
    wc = np.bincount(np.searchsorted(edges, b), minlength=10)
    assert abs(N.psi(_pair(a, b)).value - psi_counts(rc, wc)) < 0.005


def test_reference_bins_hold_about_a_tenth_each() -> None:
    a, b = _samples("normal", 0.0)
    shares = _pair(a, b).bins.ref / N_REF
    assert shares.size == 10 and np.all(np.abs(shares - 0.1) < 0.01)


def test_confidence_matches_scipy() -> None:
    a, b = _samples("normal", 0.05)
    pair = _pair(a, b)
    ks = N.ks_distance(pair)
    ref = stats.ks_2samp(a, b, method="asymp")
    assert ks.p_value == pytest.approx(ref.pvalue, rel=0.2, abs=1e-6)
    assert ks.ci_low <= ref.statistic <= ks.ci_high
    ms = N.mean_shift(pair)
    welch = stats.ttest_ind(b, a, equal_var=False)
    assert ms.p_value == pytest.approx(welch.pvalue, rel=1e-6)
    assert ms.ci_low < ms.value < ms.ci_high
    assert ms.value == pytest.approx((b.mean() - a.mean()) / a.std(), rel=1e-9)


def test_no_drift_is_not_confident_and_drift_is() -> None:
    same, moved = _pair(*_samples("normal", 0.0)), _pair(*_samples("normal", 0.2))
    for f in (N.ks_distance, N.psi, N.js_distance, N.hellinger, N.wasserstein, N.mean_shift):
        assert f(same).p_value > 0.01, f.__name__
        assert f(moved).p_value < 0.01, f.__name__
        assert f(moved).value > f(same).value or f is N.mean_shift
    q = N.quantile_shift(moved, 0.5)
    assert 0.1 < q.value < 0.3 and q.p_value < 0.01 and q.ci_low < q.value < q.ci_high


def test_null_mean_is_the_bias_at_this_sample_size() -> None:
    # Average PSI over no-drift windows ≈ (k−1)(1/n + 1/m).
    g = np.random.default_rng(3)
    a = g.normal(size=N_REF)
    vals = [N.psi(_pair(a, g.normal(size=500))) for _ in range(30)]
    expected = vals[0].null_mean
    assert expected == pytest.approx(9 * (1 / N_REF + 1 / 500))
    assert np.mean([v.value for v in vals]) == pytest.approx(expected, rel=0.35)


def test_rates_nulls_and_infinities() -> None:
    g = np.random.default_rng(5)
    a = g.normal(size=1000)
    b = np.concatenate([g.normal(size=900), [np.nan] * 50, [np.inf] * 10, [8.0] * 40])
    pair = _pair(a, b, nulls=(0, 100))
    nr = N.null_rate_change(pair)
    assert nr.value == pytest.approx(150 / 1100) and nr.p_value < 1e-6
    oor = N.out_of_range(pair)
    # 40 values at 8.0 and 10 +inf out of 950 non-missing; normal(0,1) never reaches 8.
    assert oor.value == pytest.approx(50 / 950, abs=1e-3) and oor.p_value < 1e-6
    assert N.out_of_range(_pair(a, g.normal(size=1000))).p_value > 0.01


def test_mostly_null_window_uses_finite_values_and_reports_nulls() -> None:
    a, b = _samples("mostly_null", 0.0)
    pair = _pair(a, b, nulls=(19 * a.size, 19 * b.size))
    assert N.null_rate_change(pair).value == pytest.approx(0.0, abs=1e-12)
    assert N.ks_distance(pair).n_win == b.size


@pytest.mark.parametrize("empty_side", ["win", "ref", "all_null"])
def test_empty_sides_give_nan_never_raise(empty_side: str) -> None:
    a = np.random.default_rng(0).normal(size=100)
    e = np.zeros(0)
    pair = {
        "win": _pair(a, e),
        "ref": _pair(e, a),
        "all_null": _pair(a, np.full(10, np.nan), nulls=(0, 5)),
    }[empty_side]
    fns = [N.ks_distance, N.wasserstein, N.wasserstein_norm, N.psi, N.js_distance, N.hellinger]
    fns += [N.mean_shift, lambda p: N.quantile_shift(p, 0.5)]
    for f in fns:
        assert math.isnan(f(pair).value)
    if empty_side == "all_null":
        assert N.null_rate_change(pair).value == pytest.approx(1.0)
    if empty_side == "win":
        assert math.isnan(N.null_rate_change(pair).value)
        assert math.isnan(N.out_of_range(pair).value)


def test_constant_reference_makes_any_change_infinite() -> None:
    pair = _pair(np.full(100, 2.0), np.full(50, 3.0))
    # One reference bucket: bins split below / at / above it, so binned measures see the move.
    assert pair.bins.ref.tolist() == [100, 0] and pair.bins.win.tolist() == [0, 50]
    assert N.js_distance(pair).value == 1.0 and N.psi(pair).value > 10
    assert N.mean_shift(pair).value == math.inf
    assert N.wasserstein(pair).value == pytest.approx(1.0)
    assert N.ks_distance(pair).value == 1.0
    assert N.out_of_range(pair).value == 1.0


def test_sketches_of_different_accuracy_are_refused() -> None:
    a = np.random.default_rng(0).lognormal(size=500)
    with pytest.raises(ValueError, match="relative accuracy"):
        N.NumericPair(RawSummary(a, relative_accuracy=0.01), RawSummary(a, relative_accuracy=0.02))


def test_collapsed_sketches_compare_blind_below_the_fold_not_wrong() -> None:
    # Values over ~14 decades with a 64-bucket cap: both sketches fold their low tails.
    g = np.random.default_rng(9)
    a = g.lognormal(0, 4, 20_000) * np.sign(g.normal(size=20_000))
    b = g.lognormal(0, 3, 5_000) * np.sign(g.normal(size=5_000))
    ref = NumericSketch.zero(ALPHA, max_buckets=64).update(a)
    win = NumericSketch.zero(ALPHA, max_buckets=64).update(b)
    assert ref.collapsed_low_tail and win.collapsed_low_tail
    pair = N.NumericPair(ref, win)
    assert N.ks_distance(pair).value <= stats.ks_2samp(a, b).statistic + 0.005
    assert N.psi(pair).value >= 0 and 0 <= N.js_distance(pair).value <= 1
    same = N.NumericPair(ref, ref)
    assert N.ks_distance(same).value == 0 and N.wasserstein(same).value == 0


finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
arrays = st.lists(finite, min_size=1, max_size=60).map(lambda v: np.array(v))


@settings(max_examples=60, deadline=None)
@given(arrays, arrays)
def test_invariants(a: np.ndarray, b: np.ndarray) -> None:
    pair, back, same = _pair(a, b), _pair(b, a), _pair(a, a)
    ks, w = N.ks_distance(pair).value, N.wasserstein(pair).value
    # Symmetric: KS and Wasserstein. Binned ones use the reference's bins, so not.
    assert ks == pytest.approx(N.ks_distance(back).value, abs=1e-12)
    assert w == pytest.approx(N.wasserstein(back).value, rel=1e-9, abs=1e-9)
    assert 0 <= ks <= 1 and w >= 0
    assert N.psi(pair).value >= 0
    assert 0 <= N.js_distance(pair).value <= 1 and 0 <= N.hellinger(pair).value <= 1
    assert 0 <= N.out_of_range(pair).value <= 1
    for f in (N.ks_distance, N.wasserstein, N.psi, N.js_distance, N.hellinger, N.out_of_range):
        assert f(same).value == pytest.approx(0.0, abs=1e-12), f.__name__
