"""Merge laws, proved by hypothesis: the state is a function of the multiset of values.

Identity with ``zero()``, commutativity, associativity, and — the property replay
relies on — any split of the same values into batches or partitions, merged in any
order, gives identical bytes and bit-identical statistics.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stream.core.sketch import CategoricalSketch, NumericSketch, SketchMismatchError
from tests.unit.core.sketch.sketch_strategies import (
    categorical_of,
    category_lists,
    fold,
    numeric_of,
    numeric_values,
    splits,
)

LAWS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CAPS = st.sampled_from([1, 3, 2048])  # tiny caps force collapse on almost every example


def _stats(s: NumericSketch) -> tuple[object, ...]:
    qs = s.quantile(np.linspace(0, 1, 11))
    return (s.mean, s.variance, s.std, s.min, s.max, tuple(qs.tolist()), s.total)


def _same_floats(a: tuple[object, ...], b: tuple[object, ...]) -> bool:
    # Bit-identical, with nan equal to nan.
    return repr(a) == repr(b)


@LAWS
@given(values=numeric_values, cap=CAPS)
def test_numeric_identity(values: list[float], cap: int) -> None:
    s = numeric_of(values, max_buckets=cap)
    z = NumericSketch.zero(max_buckets=cap)
    assert s.merge(z) == s == z.merge(s)
    assert s.merge(z).to_bytes() == s.to_bytes()


@LAWS
@given(a=numeric_values, b=numeric_values, cap=CAPS)
def test_numeric_commutative(a: list[float], b: list[float], cap: int) -> None:
    sa, sb = numeric_of(a, 1, max_buckets=cap), numeric_of(b, max_buckets=cap)
    assert sa.merge(sb).to_bytes() == sb.merge(sa).to_bytes()


@LAWS
@given(a=numeric_values, b=numeric_values, c=numeric_values, cap=CAPS)
def test_numeric_associative(a: list[float], b: list[float], c: list[float], cap: int) -> None:
    sa, sb, sc = (numeric_of(v, max_buckets=cap) for v in (a, b, c))
    left, right = sa.merge(sb).merge(sc), sa.merge(sb.merge(sc))
    assert left == right
    assert left.to_bytes() == right.to_bytes()


@LAWS
@given(parts=st.lists(numeric_values, min_size=1, max_size=8), cap=CAPS)
def test_numeric_merge_all_is_the_chain_of_merges(parts: list[list[float]], cap: int) -> None:
    # The rollup merges a window's parts in one pass: the same sketch, the same bytes.
    sketches = [numeric_of(v, i % 3, max_buckets=cap) for i, v in enumerate(parts)]
    chain = sketches[0]
    for s in sketches[1:]:
        chain = chain.merge(s)
    once = NumericSketch.merge_all(sketches)
    assert once == chain
    assert once.to_bytes() == chain.to_bytes()
    assert _same_floats(_stats(once), _stats(chain))


def test_numeric_merge_all_checks_its_input() -> None:
    with pytest.raises(ValueError, match="at least one"):
        NumericSketch.merge_all([])
    with pytest.raises(SketchMismatchError):
        NumericSketch.merge_all([NumericSketch.zero(max_buckets=3), NumericSketch.zero()])


@LAWS
@given(data=st.data(), values=numeric_values, cap=CAPS)
def test_numeric_any_split_gives_identical_bytes(
    data: st.DataObject, values: list[float], cap: int
) -> None:
    whole = numeric_of(values, max_buckets=cap)
    batches = splits(data, values)
    # (1) one sketch updated batch by batch, (2) one sketch per batch merged in a
    # shuffled order, (3) the values shuffled: all must equal the one-batch sketch.
    updated = NumericSketch.zero(max_buckets=cap)
    for b in batches:
        updated.update(np.asarray(b, dtype=np.float64))
    parts = [numeric_of(b, max_buckets=cap) for b in batches]
    order = data.draw(st.permutations(range(len(parts))))
    merged = fold(
        [parts[i] for i in order], NumericSketch.merge, NumericSketch.zero(max_buckets=cap)
    )
    shuffled = numeric_of(data.draw(st.permutations(values)), max_buckets=cap)
    for other in (updated, merged, shuffled):
        assert other.to_bytes() == whole.to_bytes()
        assert _same_floats(_stats(other), _stats(whole))


def test_numeric_chunking_inside_one_update_is_invisible() -> None:
    # A batch larger than the internal sort chunk equals the same values in small batches.
    rng = np.random.default_rng(7)
    x = np.concatenate([rng.standard_cauchy(100_000), [np.nan, 0.0, -0.0, np.inf, 1e-310]])
    small = NumericSketch.zero()
    for part in np.array_split(x, 97):
        small.update(part)
    assert NumericSketch.zero().update(x).to_bytes() == small.to_bytes()


@LAWS
@given(values=category_lists, k=st.sampled_from([1, 2, 5, 1024]))
def test_categorical_identity(values: list[str | None], k: int) -> None:
    s = categorical_of(values, k)
    z = CategoricalSketch.zero(k)
    assert s.merge(z) == s == z.merge(s)
    assert s.merge(z).to_bytes() == s.to_bytes()


@LAWS
@given(a=category_lists, b=category_lists, k=st.sampled_from([1, 3, 8, 1024]))
def test_categorical_commutative(a: list[str | None], b: list[str | None], k: int) -> None:
    sa, sb = categorical_of(a, k), categorical_of(b, k)
    assert sa.merge(sb).to_bytes() == sb.merge(sa).to_bytes()


@LAWS
@given(a=category_lists, b=category_lists, c=category_lists, k=st.sampled_from([1, 3, 8, 1024]))
def test_categorical_associative(
    a: list[str | None], b: list[str | None], c: list[str | None], k: int
) -> None:
    sa, sb, sc = (categorical_of(v, k) for v in (a, b, c))
    left, right = sa.merge(sb).merge(sc), sa.merge(sb.merge(sc))
    assert left == right
    assert left.to_bytes() == right.to_bytes()


@LAWS
@given(data=st.data(), values=category_lists, k=st.sampled_from([1, 2, 4, 16, 1024]))
def test_categorical_any_split_gives_identical_bytes(
    data: st.DataObject, values: list[str | None], k: int
) -> None:
    whole = categorical_of(values, k)
    batches = splits(data, values)
    updated = CategoricalSketch.zero(k)
    for b in batches:
        updated.update(b)
    parts = [categorical_of(b, k) for b in batches]
    order = data.draw(st.permutations(range(len(parts))))
    merged = fold([parts[i] for i in order], CategoricalSketch.merge, CategoricalSketch.zero(k))
    for other in (updated, merged):
        assert other.to_bytes() == whole.to_bytes()
        assert other.counts() == whole.counts()
        assert (other.distinct, other.other, other.is_exact) == (
            whole.distinct,
            whole.other,
            whole.is_exact,
        )


def test_categorical_split_law_far_beyond_the_cap() -> None:
    # Thousands of distinct values, Zipf-like weights, many batch sizes: identical bytes.
    rng = np.random.default_rng(11)
    ids = rng.zipf(1.3, size=30_000) % 5_000
    values = [f"v{i}" for i in ids.tolist()]
    whole = CategoricalSketch.zero(64).update(values)
    assert not whole.is_exact
    for size in (1, 7, 1000, 4096):
        if size == 1:
            chunks = [values[i : i + 997] for i in range(0, len(values), 997)]
        else:
            chunks = [values[i : i + size] for i in range(0, len(values), size)]
        updated = CategoricalSketch.zero(64)
        for c in chunks:
            updated.update(c)
        merged = fold(
            [CategoricalSketch.zero(64).update(c) for c in reversed(chunks)],
            CategoricalSketch.merge,
            CategoricalSketch.zero(64),
        )
        assert updated.to_bytes() == whole.to_bytes() == merged.to_bytes()


def test_parameters_must_match() -> None:
    with pytest.raises(SketchMismatchError):
        NumericSketch.zero(0.01).merge(NumericSketch.zero(0.02))
    with pytest.raises(SketchMismatchError):
        NumericSketch.zero(max_buckets=100).merge(NumericSketch.zero())
    with pytest.raises(SketchMismatchError):
        CategoricalSketch.zero(10).merge(CategoricalSketch.zero(11))
    with pytest.raises(TypeError):
        NumericSketch.zero().merge(CategoricalSketch.zero())  # type: ignore[arg-type]


def test_empty_and_single_values() -> None:
    z = NumericSketch.zero()
    assert z.merge(z) == z and math.isnan(z.mean) and z.total == 0
    one = numeric_of([2.5])
    assert one.merge(z).to_bytes() == one.to_bytes()
    assert (one.min, one.max, one.mean, one.variance, one.quantile(0.5)) == (
        2.5,
        2.5,
        2.5,
        0.0,
        2.5,
    )
    c = categorical_of(["x"])
    assert c.merge(CategoricalSketch.zero()).to_bytes() == c.to_bytes()
