"""Strategies and helpers shared by the sketch tests."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

import numpy as np
from hypothesis import strategies as st

from stream.core.sketch import CategoricalSketch, NumericSketch

T = TypeVar("T")

SPECIAL = [0.0, -0.0, np.nan, np.inf, -np.inf, 5e-324, -5e-324, 2.2e-308, 1e300, -1e300, 1.0]

# Floats of every kind: ordinary, huge, tiny, subnormal, zero, nan, ±inf.
any_float = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-1e6, max_value=1e6),
    st.sampled_from(SPECIAL),
)
float_lists = st.lists(any_float, max_size=60)
# A few distinct values repeated, so buckets, exponent runs and zeros collide often.
clustered_floats = st.lists(
    st.sampled_from([*SPECIAL, 0.5, 0.75, -3.25, 1e-5, 123456.0, 7.0]), max_size=60
)
numeric_values = st.one_of(float_lists, clustered_floats)

small_alphabet = st.sampled_from(["a", "b", "c", "DE", "FR", "", "ü", "\ud800", "x" * 40])
category_lists = st.lists(
    st.one_of(small_alphabet, st.text(max_size=4), st.none()),
    max_size=60,
)


def splits(data: st.DataObject, values: Sequence[T]) -> list[list[T]]:
    """Draw an arbitrary split of ``values`` into consecutive, possibly empty batches."""
    cuts = sorted(data.draw(st.lists(st.integers(0, len(values)), max_size=6)))
    bounds = [0, *cuts, len(values)]
    return [list(values[a:b]) for a, b in zip(bounds, bounds[1:], strict=False)]


def numeric_of(values: Sequence[float], nulls: int = 0, **kw: int | float) -> NumericSketch:
    """One sketch of ``values`` in one batch."""
    return NumericSketch.zero(**kw).update(np.asarray(values, dtype=np.float64), nulls=nulls)  # type: ignore[arg-type]


def categorical_of(values: Sequence[str | None], max_exact: int = 1024) -> CategoricalSketch:
    """One sketch of ``values`` in one batch."""
    return CategoricalSketch.zero(max_exact).update(values)


def fold(sketches: Sequence[T], merge: Callable[[T, T], T], zero: T) -> T:
    """Left fold with ``merge`` starting from ``zero``."""
    acc = zero
    for s in sketches:
        acc = merge(acc, s)
    return acc
