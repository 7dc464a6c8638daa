"""The special-function tails agree with scipy.stats (which they replace on the hot path)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special, stats
from scipy.stats import _ksstats

from stream.core.measures import tails as T

x = st.floats(-40, 40, allow_nan=False)
df = st.floats(0.5, 5_000, allow_nan=False)
prob = st.floats(1e-300, 1.0, exclude_max=True, allow_nan=False)


def _same(a: float, b: float, rel: float = 1e-12) -> bool:
    # Below 1e-200 two tails agree whatever their relative error (binom.sf(161, 178, 0.0117)
    # is 2.9e-291 with 2e-9 relative error in either library); no budget is that small.
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-200)


@settings(max_examples=300, deadline=None)
@given(x, df, st.floats(0.0, 1e4, allow_nan=False))
def test_continuous_tails(z: float, d: float, pos: float) -> None:
    assert _same(T.norm_sf(z), float(stats.norm.sf(z)))
    assert _same(T.norm_cdf(z), float(stats.norm.cdf(z)))
    assert _same(T.t_sf(z, d), float(stats.t.sf(z, d)), 1e-10)
    assert _same(T.chi2_sf(pos, d), float(stats.chi2.sf(pos, d)), 1e-10)
    assert _same(T.f_sf(pos, d, d + 3), float(stats.f.sf(pos, d, d + 3)), 1e-10)


@settings(max_examples=300, deadline=None)
@given(prob, df)
def test_quantiles(q: float, d: float) -> None:
    assert _same(T.norm_isf(q), float(stats.norm.isf(q)))
    p = min(max(q, 1e-12), 1 - 1e-12)
    assert _same(T.t_ppf(p, d), float(stats.t.ppf(p, d)), 1e-9)


@settings(max_examples=300, deadline=None)
@given(st.integers(-3, 500), st.integers(1, 500), st.floats(1e-6, 1 - 1e-6), st.floats(1e-3, 300))
def test_discrete_tails(k: int, n: int, p: float, mu: float) -> None:
    assert _same(T.binom_sf(k, n, p), float(stats.binom.sf(k, n, p)), 1e-10)
    assert _same(T.poisson_sf(k, mu), float(stats.poisson.sf(k, mu)), 1e-10)


@settings(max_examples=200, deadline=None)
@given(st.floats(0.0, 1.0), st.integers(1, 50_000))
def test_kstwo_is_scipys_kstwo(d: float, n: int) -> None:
    # d is rounded to 12 digits for the memo; above n = 140 Pelz-Good replaces the Durbin
    # matrix where p > 0.9 (4e-6 relative at most, next test): well within the golden 1e-3.
    assert math.isclose(T.kstwo_sf(d, n), float(stats.kstwo.sf(d, n)), rel_tol=1e-5, abs_tol=1e-12)
    assert math.isclose(T.kstwo_exact(d, n), float(stats.kstwo.sf(d, n)), rel_tol=1e-9)


@settings(max_examples=200, deadline=None)
@given(st.integers(141, 10_000), st.floats(0.0, 1.0))
def test_kstwo_fast_branch_agrees_with_the_durbin_matrix(n: int, u: float) -> None:
    # The region scipy gives to the Durbin matrix: 1/n < d, n·d^1.5 ≤ 1.4, n·d² < 2.2
    # (n ≤ 10,000: beyond, the matrix power itself overflows with a warning).
    lo, hi = 1.0 / n, min((1.4 / n) ** (2 / 3), math.sqrt(2.2 / n))
    d = lo + u * (hi - lo)
    assert math.isclose(T.kstwo_sf(d, n), T.kstwo_exact(d, n), rel_tol=5e-6)


@settings(max_examples=200, deadline=None)
@given(st.integers(141, 60_000), st.floats(0.0, 1.0))
def test_smirnov_sum_is_scipys_smirnov(n: int, u: float) -> None:
    # The branch kstwo takes for n > 140 where n·d² ≥ 2.2 (up to 370, where it is 0),
    # and the region around it; tails below 1e-200 agree whatever their relative error.
    d = math.sqrt((1.0 + u * 400.0) / n)
    fast, exact = T.smirnov_sf(d, n), float(special.smirnov(n, d))
    assert math.isclose(fast, exact, rel_tol=1e-9) or max(fast, exact) < 1e-200


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 5_000), st.floats(0.0, 1.0), st.floats(1e-4, 0.9999), st.integers(1, 50_000))
def test_betabinom_is_scipys_betabinom(n: int, u: float, rate: float, mb: int) -> None:
    # The share law's tail (decide._share_pvalue): k ≥ 0 counts of n, a = rate·(mb+1).
    k = int(u * (n + 1)) - 1
    a, b = rate * (mb + 1.0), mb + 1.0 - rate * (mb + 1.0)
    fast, slow = T.betabinom_sf(k, n, a, b), float(stats.betabinom.sf(k, n, a, b))
    assert math.isclose(fast, slow, rel_tol=1e-12, abs_tol=1e-15)


@settings(max_examples=300, deadline=None)
@given(st.integers(141, 100_000), st.floats(0.0, 1.0))
def test_pelz_good_in_floats_is_scipys(n: int, u: float) -> None:
    # The region kstwo_sf gives Pelz-Good above n = 140: 1/n < d, n·d² < 2.2.
    lo, hi = 1.0 / n, math.sqrt(2.2 / n)
    d = lo + u * (hi - lo)
    slow = float(_ksstats._kolmogn_PelzGood(n, d, cdf=True))
    fast = T.pelz_good_cdf(n, d)
    assert math.isclose(1.0 - fast, 1.0 - slow, rel_tol=1e-12, abs_tol=1e-15)


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize(("n", "k"), [(148, 12), (152, 11), (156, 17)])
def test_smirnov_sum_at_d_on_the_grid(n: int, k: int) -> None:
    # d = k/n: 1 − d − j/n rounds just below 0 at the last term (a log of a negative).
    d = k / n
    assert math.isclose(T.smirnov_sf(d, n), float(special.smirnov(n, d)), rel_tol=1e-9)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from([1, 50, 140, 141, 500, 3_000, 40_000]), st.floats(-0.1, 1.1)),
        min_size=1,
        max_size=120,
    )
)
def test_kstwo_rows_equal_the_scalar_tail(rows: list[tuple[int, float]]) -> None:
    # Every branch: exact (small n, t ≤ 1, d ≥ 0.5), 0, Smirnov, and Pelz–Good as rows.
    rng = np.random.default_rng(len(rows))
    ns = [n for n, _ in rows]
    # Most rows in the Pelz–Good region of their n (1/n < d < √(2.2/n)): past 32 of them,
    # one array pass (below, the scalar routine).
    ds = [
        (1.0 / n + u * (math.sqrt(2.2 / n) - 1.0 / n)) if rng.random() < 0.8 and n > 140 else u
        for n, u in rows
    ]
    got = T.kstwo_sf_rows(np.array(ds, dtype=np.float64), np.array(ns, dtype=np.int64))
    for g, d, n in zip(got.tolist(), ds, ns, strict=True):
        assert math.isclose(g, T.kstwo_sf(d, n), rel_tol=1e-9, abs_tol=1e-15), (d, n)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(141, 100_000), st.floats(0.0, 1.0)), min_size=1, max_size=50))
def test_pelz_good_rows_equal_the_scalar_expansion(rows: list[tuple[int, float]]) -> None:
    ns = [n for n, _ in rows]
    ds = [1.0 / n + u * (math.sqrt(2.2 / n) - 1.0 / n) for n, u in rows]
    got = T.pelz_good_cdf_rows(np.array(ns, dtype=np.int64), np.array(ds, dtype=np.float64))
    for g, d, n in zip(got.tolist(), ds, ns, strict=True):
        want = T.pelz_good_cdf(n, d)
        assert math.isclose(1.0 - g, 1.0 - want, rel_tol=1e-9, abs_tol=1e-15), (d, n)
