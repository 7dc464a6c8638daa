"""Vectorised redraw distances: the same numbers as one sketch per draw."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stream.core.measures.divergence import js_counts
from stream.core.measures.histogram import Buckets, buckets_cdf, ks_cdf, quantile_bins
from stream.core.measures.numeric import NumericPair
from stream.core.measures.redraws import js_redraws, ks_redraws, redraw_shape_ok
from stream.core.nullspread import Resampler, fast_values
from stream.core.sketch import CategoricalSketch, NumericSketch


def _reference(rng: np.random.Generator, shape: str, n: int) -> NumericSketch:
    x = {
        "normal": rng.normal(5.0, 2.0, n),
        "around0": rng.normal(0.0, 1.0, n),
        "skewed": rng.lognormal(0.0, 1.5, n),
        "few": rng.integers(0, 4, n).astype(np.float64),
        "zeros": np.where(rng.random(n) < 0.3, 0.0, rng.normal(3.0, 1.0, n)),
    }[shape]
    return NumericSketch.zero().update(x, nulls=int(n * 0.02))


def _one_by_one(rs: Resampler, n: int, draws: int, seed: int) -> dict[str, list[float]]:
    """The loop the vectorised path replaces: one sketch per draw through fast_values."""
    rng = np.random.default_rng(seed)
    out: dict[str, list[float]] = {"ks": [], "js": []}
    for _ in range(draws):
        ms = fast_values(rs.base, rs.draw(n, rng), "numeric", ["ks", "js"])
        for m in out:
            if ms[m].is_defined and ms[m].n_win > 0:
                out[m].append(ms[m].value * math.sqrt(ms[m].n_win))
    return out


@pytest.mark.parametrize("shape", ["normal", "around0", "skewed", "few", "zeros"])
@pytest.mark.parametrize("n", [1, 3, 40, 1500])
def test_scaled_distances_match_one_sketch_per_draw(shape: str, n: int) -> None:
    rs = Resampler(_reference(np.random.default_rng(7), shape, 3000), "numeric")
    fast = rs.scaled_distances(["ks", "js"], n, 60, np.random.default_rng(11))
    assert fast is not None
    slow = _one_by_one(rs, n, 60, 11)
    for m in ("ks", "js"):
        assert len(fast[m]) == len(slow[m])
        np.testing.assert_allclose(fast[m], slow[m], rtol=1e-12, atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(0, 30), min_size=1, max_size=12),
    st.integers(0, 2**32 - 1),
    st.integers(2, 10),
)
def test_ks_and_js_per_row_match_the_scalar_measures(
    base_counts: list[int], seed: int, bins: int
) -> None:
    rng = np.random.default_rng(seed)
    # Disjoint positive buckets, some adjacent, some with gaps; maybe the zero bucket (a
    # single point) and mirrored negative buckets below it.
    m = len(base_counts)
    widths = rng.uniform(0.1, 2.0, m)
    gaps = np.where(rng.random(m) < 0.5, 0.0, rng.uniform(0.0, 1.0, m))
    bounds = 0.5 + np.cumsum(np.column_stack([gaps, widths]).ravel())
    lower, upper = bounds[0::2], bounds[1::2]
    keys = np.arange(1, m + 1)
    if rng.random() < 0.5:
        lower, upper, keys = np.r_[0.0, lower], np.r_[0.0, upper], np.r_[0, keys]
        if rng.random() < 0.5:
            lower, upper, keys = (
                np.r_[-upper[:0:-1], lower],
                np.r_[-lower[:0:-1], upper],
                np.r_[-keys[:0:-1], keys],
            )
    k = keys.size
    counts = rng.integers(1, 30, k)  # a base bucket is never empty
    values = np.where(lower == upper, lower, lower + rng.uniform(0.1, 0.9, k) * (upper - lower))
    base = Buckets(keys, lower, upper, counts)
    assert redraw_shape_ok(base, values)
    base_cdf = buckets_cdf(base, float(values[0]), float(values[-1]))
    draws = rng.multinomial(int(rng.integers(1, 50)), counts / counts.sum(), size=8)
    ks = ks_redraws(base, values, base_cdf, draws)
    js = js_redraws(base, draws, bins)
    for row, got_ks, got_js in zip(draws, ks, js, strict=True):
        nz = row > 0
        win = Buckets(base.keys[nz], lower[nz], upper[nz], row[nz])
        cdf = buckets_cdf(win, float(values[nz][0]), float(values[nz][-1]))
        assert got_ks == pytest.approx(ks_cdf(base_cdf, cdf), abs=1e-12)
        qb = quantile_bins(base, win, bins)
        assert got_js == pytest.approx(js_counts(qb.ref, qb.win), abs=1e-12)


def test_pair_cdf_is_the_base_cdf_the_vectorised_path_uses() -> None:
    rs = Resampler(_reference(np.random.default_rng(3), "normal", 2000), "numeric")
    base = rs.base
    assert isinstance(base, NumericSketch)
    same = NumericPair(base, base)
    b = Buckets.of(base)
    cdf = buckets_cdf(b, float(base.min), float(base.max))
    np.testing.assert_array_equal(same.ref_cdf.x, cdf.x)


def test_shape_check_refuses_overlapping_or_outside_representatives() -> None:
    b = Buckets(np.array([1, 2]), np.array([0.5, 0.8]), np.array([1.0, 2.0]), np.array([1, 1]))
    assert not redraw_shape_ok(b, np.array([0.7, 1.0]))  # buckets overlap
    b = Buckets(np.array([1, 2]), np.array([0.5, 1.0]), np.array([1.0, 2.0]), np.array([1, 1]))
    assert not redraw_shape_ok(b, np.array([1.0, 1.5]))  # on a bound, not inside
    assert redraw_shape_ok(b, np.array([0.7, 1.5]))
    collapsed = Buckets(np.array([1]), np.array([0.0]), np.array([1.0]), np.array([1]))
    assert not redraw_shape_ok(collapsed, np.array([0.5]))  # folded down to 0


@pytest.mark.parametrize("n", [1, 5, 300])
@pytest.mark.parametrize("categories", [1, 3, 40])
def test_categorical_scaled_distances_match_one_sketch_per_draw(n: int, categories: int) -> None:
    rng = np.random.default_rng(categories)
    labels = [f"k{i:02d}" for i in range(categories)]
    values: list[str | None] = list(rng.choice(labels, 4000, p=rng.dirichlet(np.ones(categories))))
    ref = CategoricalSketch.zero().update(values + [None] * 90)
    rs = Resampler(ref, "categorical")
    fast = rs.scaled_distances(["js", "linf"], n, 50, np.random.default_rng(5))
    assert fast is not None
    slow_rng = np.random.default_rng(5)
    slow: dict[str, list[float]] = {"js": [], "linf": []}
    for _ in range(50):
        ms = fast_values(rs.base, rs.draw(n, slow_rng), "categorical", ["js", "linf"])
        for m in slow:
            if ms[m].is_defined and ms[m].n_win > 0:
                slow[m].append(ms[m].value * math.sqrt(ms[m].n_win))
    for m in ("js", "linf"):
        assert len(fast[m]) == len(slow[m])
        np.testing.assert_allclose(fast[m], slow[m], rtol=1e-12, atol=1e-12)


def test_categorical_beyond_the_exact_cap_keeps_the_per_draw_path() -> None:
    ref = CategoricalSketch.zero(max_exact=8).update([f"v{i}" for i in range(50)] * 3)
    rs = Resampler(ref, "categorical")
    assert rs.scaled_distances(["js", "linf"], 20, 5, np.random.default_rng(0)) is None
