"""NumericSketch: exact counts, exact moments, bucket mapping, collapse, queries."""

from __future__ import annotations

import math
from decimal import Context, Decimal
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stream.core.sketch import KEY_OFFSET, NumericSketch
from stream.core.sketch._mapping import mapping_for
from tests.unit.core.sketch.sketch_strategies import any_float, numeric_of


def test_empty_sketch() -> None:
    s = NumericSketch.zero()
    assert (s.total, s.count, s.nulls, s.nans, s.zeros) == (0, 0, 0, 0, 0)
    for v in (s.min, s.max, s.mean, s.variance, s.std, s.quantile(0.5), s.cdf(1.0)):
        assert math.isnan(v)
    keys, counts = s.signed_keys()
    assert keys.size == counts.size == 0
    assert all(a.size == 0 for a in s.histogram())
    assert np.isnan(s.quantile(np.array([0.1, 0.9]))).all()


def test_special_values_are_counted_exactly() -> None:
    x = [np.nan, np.nan, np.inf, -np.inf, -np.inf, 0.0, -0.0, 3.0, -2.0]
    s = numeric_of(x, nulls=4)
    assert (s.nans, s.pos_inf, s.neg_inf, s.zeros, s.nulls) == (2, 1, 2, 2, 4)
    assert (s.count, s.total) == (4, 13)
    assert (s.min, s.max) == (-2.0, 3.0)
    assert s.mean == 0.25


def test_negative_zero_extremes_are_normalised() -> None:
    a, b = numeric_of([-0.0, 0.0]), numeric_of([0.0, -0.0])
    assert a.to_bytes() == b.to_bytes()
    assert math.copysign(1.0, a.min) == 1.0 and math.copysign(1.0, a.max) == 1.0


def test_update_accepts_lists_and_validates_nulls() -> None:
    s = NumericSketch.zero().update([1, 2, 3])
    assert s.count == 3 and s.mean == 2.0
    assert s.update([], nulls=2) is s and s.nulls == 2
    with pytest.raises(ValueError, match="nulls"):
        s.update([1.0], nulls=-1)


@pytest.mark.parametrize(
    ("alpha", "cap"), [(0.0, 10), (0.6, 10), (0.01, 0), (0.01, 1.5), (math.nan, 10)]
)
def test_parameters_are_validated(alpha: float, cap: int) -> None:
    with pytest.raises(ValueError, match="must be"):
        NumericSketch.zero(alpha, cap)


def _exact(values: list[float]) -> tuple[Fraction, Fraction]:
    f = [Fraction(v) for v in values if math.isfinite(v)]
    return sum(f, Fraction(0)), sum((v * v for v in f), Fraction(0))


@settings(max_examples=150, deadline=None)
@given(st.lists(any_float, max_size=40))
def test_moments_are_exact_and_rounded_once(values: list[float]) -> None:
    s = numeric_of(values)
    sum1, sum2 = _exact(values)
    assert s.exact_sums == (sum1, sum2)
    n = s.count
    if n == 0:
        assert math.isnan(s.mean)
        return
    assert s.mean == float(sum1 / n)  # Fraction -> float is correctly rounded
    var = (n * sum2 - sum1 * sum1) / (n * n)
    try:
        expected_var = float(var)
    except OverflowError:
        expected_var = math.inf
    assert s.variance == expected_var
    ctx = Context(prec=50, Emin=-999_999, Emax=999_999)
    root = ctx.sqrt(ctx.divide(Decimal(var.numerator), Decimal(var.denominator)))
    assert s.std == pytest.approx(float(root), rel=1e-15)


def test_moments_of_huge_tiny_and_subnormal_values() -> None:
    s = numeric_of([1e300, -1e300, 3e300, 5e-324, -3e-310, 2.2e-308])
    sum1, _ = _exact([1e300, -1e300, 3e300, 5e-324, -3e-310, 2.2e-308])
    assert s.exact_sums[0] == sum1
    assert s.mean == float(sum1 / 6)
    assert s.variance == math.inf  # 1e600 does not fit a float ...
    assert s.std == pytest.approx(math.sqrt(11 / 6 - 1 / 4) * 1e300, rel=1e-14)  # ... its root does
    tiny = numeric_of([5e-324, 5e-324, 1e-323])
    assert tiny.mean == float(Fraction(5e-324) * 4 / 3)
    assert tiny.variance == 0.0  # the true variance underflows


def test_no_cancellation_in_variance() -> None:
    # Naive Σx²/n − mean² loses every digit here; the exact sums do not.
    x = 1e9 + np.array([1.0, 2.0, 3.0, 4.0])
    s = numeric_of(list(x))
    assert s.variance == 1.25 and s.std == math.sqrt(1.25)


def _key_by_decimal(x: float, gamma: float) -> int:
    # Reference mapping with 80-digit arithmetic: the smallest k with x ≤ γ^k (rounded).
    ctx = Context(prec=80, Emin=-999_999, Emax=999_999)
    k = math.ceil(math.log(x) / math.log(gamma))
    g = Decimal(gamma)
    while Decimal(x) > Decimal(float(ctx.power(g, k))):
        k += 1
    while Decimal(x) <= Decimal(float(ctx.power(g, k - 1))):
        k -= 1
    return k


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        st.floats(min_value=5e-324, max_value=1.7e308),
        st.sampled_from([1.0, 5e-324, 1e-320, 2.2250738585072014e-308, 1.7976931348623157e308]),
    ),
    st.sampled_from([0.01, 0.001, 0.05]),
)
def test_bucket_of_a_value_is_decided_by_exact_edges(x: float, alpha: float) -> None:
    m = mapping_for(alpha)
    k = m.key(x)
    assert m.edge(k - 1) < x <= m.edge(k)
    if x > 1e-300:
        assert k == _key_by_decimal(x, m.gamma)


def test_values_on_bucket_edges() -> None:
    m = mapping_for(0.01)
    edges = m.edges(-50, 50)
    s = numeric_of(list(edges))
    keys, counts = s.signed_keys()
    assert (keys - KEY_OFFSET).tolist() == list(range(-50, 51)) and set(counts.tolist()) == {1}
    nudged = numeric_of(list(np.nextafter(edges, np.inf)))
    assert (nudged.signed_keys()[0] - KEY_OFFSET).tolist() == list(range(-49, 52))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(min_value=-1e200, max_value=1e200), min_size=1, max_size=40))
def test_buckets_hold_their_values(values: list[float]) -> None:
    s = numeric_of(values)
    keys, counts = s.signed_keys()
    lower, upper = s.bucket_bounds(keys)
    rep = s.bucket_value(keys)
    assert np.all(np.diff(keys) > 0) and counts.sum() == s.count
    assert np.all(np.diff(rep) > 0)
    m = mapping_for(0.01)
    for v in values:
        key = 0 if v == 0 else int(np.sign(v)) * (m.key(abs(v)) + KEY_OFFSET)
        i = int(np.searchsorted(keys, key))
        if i == keys.size or keys[i] != key:
            # Collapsed: counted in the floor bucket of its sign, which lies above it.
            floor = keys[keys > 0][0] if v > 0 else keys[keys < 0][-1]
            assert s.collapsed_low_tail and abs(floor) > abs(key)
            continue
        # Positive buckets are (lower, upper], negative ones [lower, upper).
        assert lower[i] <= v <= upper[i]
        assert abs(rep[i] - v) <= 0.01 * abs(v) * (1 + 1e-12)


def test_histogram_and_signed_keys_agree() -> None:
    x = np.array([-5.0, -5.0, -0.1, 0.0, 0.0, 0.2, 7.0, 7.0, 7.0])
    s = numeric_of(list(x))
    lo, hi, c = s.histogram()
    keys, counts = s.signed_keys()
    assert np.array_equal(c, counts) and keys.tolist()[2] == 0
    assert np.all(lo <= hi) and np.all(hi[:-1] <= lo[1:])
    assert c.tolist() == [2, 1, 2, 1, 3]
    for v in x:
        i = int(np.flatnonzero((lo <= v) & (v <= hi))[0])
        assert c[i] > 0


def test_collapse_keeps_the_top_buckets_and_flags_the_tail() -> None:
    x = np.array([1e-9, 2e-9, 1e-3, 0.5, 1.0, 2.0, 4.0])
    s = numeric_of(list(x), max_buckets=100)  # γ^100 ≈ 7.4: only [~0.54, 4] keep resolution
    assert s.collapsed_low_tail
    keys, counts = s.signed_keys()
    assert keys[-1] - keys[0] == 99
    assert counts[0] == 4  # 1e-9, 2e-9, 1e-3 and 0.5 share the floor bucket
    lo, _, _ = s.histogram()
    assert lo[0] == 0.0
    # Exact statistics are untouched by collapse; uncollapsed quantiles keep the bound.
    assert s.mean == float(sum(Fraction(v) for v in x) / 7) and s.min == 1e-9
    assert s.quantile(0.0) == 1e-9
    assert abs(s.quantile(5 / 6) - 2.0) <= 0.02 and abs(s.quantile(4 / 6) - 1.0) <= 0.01
    assert not numeric_of(list(x)).collapsed_low_tail


def test_negative_store_collapses_low_magnitudes() -> None:
    s = numeric_of([-1e-12, -1e-3, -1.0, -10.0], max_buckets=50)
    lo, hi, c = s.histogram()
    # γ^50 ≈ 2.7: every magnitude below 10/2.7 shares the floor bucket with 1.0.
    assert s.collapsed_low_tail and hi[-1] == 0.0 and c.tolist() == [1, 3]


def test_collapse_is_canonical_across_orders() -> None:
    # Collapse driven first by one partition, then by another: same result.
    a, b = [1e-6, 1e-3, 1.0], [50.0, 1e4]
    s1 = numeric_of(a, max_buckets=300).merge(numeric_of(b, max_buckets=300))
    s2 = numeric_of(b, max_buckets=300).update(np.array(a))
    s3 = numeric_of(a + b, max_buckets=300)
    assert s1.to_bytes() == s2.to_bytes() == s3.to_bytes()


def test_quantile_levels_are_validated_and_vectorised() -> None:
    s = numeric_of(list(range(1, 11)))
    assert s.quantile(0.0) == 1.0 and s.quantile(1.0) == 10.0
    q = s.quantile(np.array([0.0, 0.5, 1.0]))
    assert isinstance(q, np.ndarray) and q.shape == (3,)
    for bad in (-0.1, 1.1, math.nan):
        with pytest.raises(ValueError, match="quantile levels"):
            s.quantile(bad)


def test_cdf_edges_and_nan() -> None:
    s = numeric_of([1.0, 2.0, 3.0, 4.0])
    assert s.cdf(0.9) == 0.0 and s.cdf(4.0) == 1.0 and s.cdf(100.0) == 1.0
    assert math.isnan(s.cdf(math.nan))
    assert s.cdf(np.array([1.0, 2.0, 3.0])).tolist() == [0.25, 0.5, 0.75]


def test_copy_is_independent_and_equality_is_exact() -> None:
    s = numeric_of([1.0, 2.0])
    c = s.copy()
    assert c == s and c is not s
    c.update([3.0])
    assert c != s and s.count == 2
    assert s != numeric_of([1.0, 2.0000000000000004])
    assert s != "not a sketch"
    assert "NumericSketch(" in repr(s)


def test_constant_and_single_sign_data() -> None:
    s = numeric_of([3.0] * 1000)
    assert (s.variance, s.std, s.quantile(0.3)) == (0.0, 0.0, 3.0)
    neg = numeric_of([-3.0, -1.0])
    assert neg.quantile(0.0) == -3.0 and neg.quantile(1.0) == -1.0
