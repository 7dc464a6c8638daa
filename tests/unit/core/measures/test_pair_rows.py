"""Pairs judged on one bucket grid: the same values as ``fast_values`` pair by pair."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from stream.core.calibrate import _merge, _numeric_obs, _pairs, calibrate_feature
from stream.core.measures import pair_rows
from stream.core.measures.histogram import (
    PiecewiseCdf,
    ks_cdf,
    ks_cdf_union,
    quantile_edges,
    sorted_union,
)
from stream.core.nullspread import fast_values
from stream.core.sketch import NumericSketch
from stream.core.window import HOUR_MS
from tests.unit.core.measures.shapes import shaped_sketch as _window

_SHAPES = ("normal", "around0", "skewed", "few", "zeros", "inf")


def _windows(seed: int, shape: str, k: int, sizes: list[int]) -> dict[int, NumericSketch]:
    rng = np.random.default_rng(seed)
    out = {}
    for i in range(k):
        n = sizes[i % len(sizes)]
        out[i * HOUR_MS] = _window(rng, shape, n, float(rng.normal(0, 0.3)))
    return out


def _same(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.sampled_from(_SHAPES),
    st.integers(3, 30),
    st.lists(st.sampled_from([0, 1, 2, 5, 12, 40, 300]), min_size=1, max_size=6),
    st.sampled_from(["reference", "previous", "seasonal"]),
)
def test_grid_pairs_match_fast_values(
    seed: int, shape: str, k: int, sizes: list[int], baseline: str
) -> None:
    windows = _windows(seed, shape, k, sizes)
    full = _merge([windows[s] for s in sorted(windows)])
    got = _numeric_obs(windows, full, baseline, HOUR_MS)  # type: ignore[arg-type]
    if full.count == 0:  # no bucket at all: the pair-by-pair path
        assert got is None
        return
    assert got is not None  # these layouts never collapse
    obs, n_pairs, _ = got
    pairs, _ = _pairs(windows, baseline, HOUR_MS)  # type: ignore[arg-type]
    assert n_pairs == len(pairs)
    for i, (base, win) in enumerate(pairs):
        for name, m in fast_values(base, win, "numeric").items():
            value, n_win, n_ref = obs[name][i]
            assert (n_win, n_ref) == (m.n_win, m.n_ref), name
            assert _same(value, m.value), (name, i, value, m.value)


def test_calibration_is_the_pair_by_pair_one() -> None:
    windows = _windows(5, "normal", 48, [150, 200, 250])
    fast = calibrate_feature("x", "numeric", windows, live_n=1500, draws=40)  # type: ignore[arg-type]
    import stream.core.calibrate as cal

    keep = cal._numeric_obs
    try:
        cal._numeric_obs = lambda *a, **k: None  # type: ignore[assignment]
        slow = calibrate_feature("x", "numeric", windows, live_n=1500, draws=40)  # type: ignore[arg-type]
    finally:
        cal._numeric_obs = keep
    assert fast.n_windows == slow.n_windows and fast.method == slow.method
    for name, c in fast.metrics.items():
        s = slow.metrics[name]
        for f in ("mu0", "tau2", "q", "q_p", "beta", "sigma2"):
            assert _same(getattr(c, f), getattr(s, f)), (name, f)


def test_collapsed_sketches_fall_back() -> None:
    tiny = NumericSketch.zero(max_buckets=8).update(np.geomspace(1e-3, 1e3, 500))
    assert tiny.collapsed_low_tail
    assert pair_rows.grid_of(tiny) is None


def _cdf(rng: np.random.Generator, shape: str, n: int) -> PiecewiseCdf:
    from stream.core.measures.numeric import NumericPair

    s = _window(rng, shape, n, float(rng.normal()))
    return NumericPair(s, s).ref_cdf


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from(_SHAPES), st.sampled_from(_SHAPES))
def test_ks_two_evaluations_equal_the_union(seed: int, sa: str, sb: str) -> None:
    rng = np.random.default_rng(seed)
    a, b = _cdf(rng, sa, int(rng.integers(1, 400))), _cdf(rng, sb, int(rng.integers(1, 400)))
    assert math.isclose(ks_cdf(a, b), ks_cdf_union(a, b), rel_tol=1e-12, abs_tol=1e-15)


def _at_reference(c: PiecewiseCdf, q: np.ndarray, left: bool) -> np.ndarray:
    """``PiecewiseCdf.at`` as it was (np.where under errstate), the oracle for the fast one."""
    x, f = c.x, c.f
    i = np.searchsorted(x, q, side="left" if left else "right")
    inside = (i > 0) & (i < x.size)
    j = np.clip(i, 1, x.size - 1)
    x0, x1, f0, f1 = x[j - 1], x[j], f[j - 1], f[j]
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        t = np.where(x1 > x0, (q - x0) / (x1 - x0), 1.0)
    mid = f0 + (f1 - f0) * np.clip(t, 0.0, 1.0)
    return np.where(inside, mid, np.where(i == 0, 0.0, 1.0))


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from(_SHAPES), st.booleans())
def test_cdf_at_and_value_are_the_old_at(seed: int, shape: str, left: bool) -> None:
    rng = np.random.default_rng(seed)
    c = _cdf(rng, shape, int(rng.integers(1, 400)))
    q = np.concatenate([c.x, rng.normal(0, 5, 50), [c.x[0] - 1, c.x[-1] + 1]])
    want = _at_reference(c, q, left)
    np.testing.assert_array_equal(c.at(q, left=left), want)
    assert [c.value(float(v), left=left) for v in q] == want.tolist()


@given(
    st.lists(st.integers(-50, 50), max_size=30),
    st.lists(st.integers(-50, 50), max_size=30),
)
def test_sorted_union_is_union1d(a: list[int], b: list[int]) -> None:
    x, y = np.sort(np.array(a, np.int64)), np.sort(np.array(b, np.int64))
    np.testing.assert_array_equal(sorted_union(x, y), np.union1d(x, y))
    fx, fy = x.astype(np.float64) / 7, y.astype(np.float64) / 7
    np.testing.assert_array_equal(sorted_union(fx, fy), np.union1d(fx, fy))


def _edges_reference(r: np.ndarray, bins: int) -> np.ndarray:
    """``quantile_edges`` as it was (``np.unique`` of the snapped cuts)."""
    n = int(r.sum())
    cr = np.cumsum(r)
    targets = n * np.arange(1, bins) / bins
    i = np.searchsorted(cr, targets, side="left")
    prev = np.maximum(i - 1, 0)
    i = np.where(np.abs(cr[prev] - targets) < np.abs(cr[i] - targets), prev, i)
    i = np.unique(i[(cr[i] > 0) & (cr[i] < n)])
    if i.size == 0:
        j = int(np.argmax(r > 0))
        i = np.array([x for x in (j - 1, j) if 0 <= x < r.size - 1], dtype=np.int64)
    return np.asarray(i, dtype=np.int64)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 40), min_size=1, max_size=40), st.integers(2, 12))
def test_quantile_edges_without_unique(counts: list[int], bins: int) -> None:
    r = np.array(counts, dtype=np.int64)
    if r.sum() == 0:
        r[0] = 1
    np.testing.assert_array_equal(quantile_edges(r, bins), _edges_reference(r, bins))


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from(_SHAPES))
def test_bucket_view_is_signed_keys_and_histogram(seed: int, shape: str) -> None:
    s = _window(np.random.default_rng(seed), shape, 300, 0.0)
    keys, lower, upper, counts = s.bucket_view()
    k2, c2 = s.signed_keys()
    lo2, up2, c3 = s.histogram()
    for a, b in ((keys, k2), (counts, c2), (lower, lo2), (upper, up2), (counts, c3)):
        np.testing.assert_array_equal(a, b)
