"""All categorical pairs of a window at once: the same measures as ``decision_measures``."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st

from stream.core.measures.batch_categorical import CATEGORICAL_BATCH, categorical_batch
from stream.core.measures.categorical import CategoricalPair
from stream.core.measures.confidence import (
    Measure,
    two_proportions,
    two_proportions_rows,
    welch,
    welch_rows,
    wilson,
    wilson_rows,
)
from stream.core.nullspread import decision_measures
from stream.core.sketch import CategoricalSketch


def _same(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def _assert_same(got: Measure, want: Measure) -> None:
    assert (got.name, got.n_ref, got.n_win, got.method) == (
        want.name,
        want.n_ref,
        want.n_win,
        want.method,
    )
    for f in ("value", "p_value", "ci_low", "ci_high", "null_mean"):
        assert _same(getattr(got, f), getattr(want, f)), (got.name, f, got, want)
    assert got.detail.keys() == want.detail.keys(), (got, want)
    for k, v in want.detail.items():
        assert _same(got.detail[k], v), (got.name, k, got, want)


def _sketch(
    rng: np.random.Generator, cats: int, n: int, nulls: int, cap: int, shift: int
) -> CategoricalSketch:
    """``n`` values over ``cats`` categories (Zipf-ish shares), ``shift`` renames some."""
    if cats == 0 or n == 0:
        values: list[str | None] = []
    else:
        w = 1.0 / np.arange(1, cats + 1) ** rng.uniform(0.3, 1.5)
        idx = rng.choice(cats, size=n, p=w / w.sum())
        values = [f"v{int(i) + shift}" for i in idx]
    values += [None] * nulls
    return CategoricalSketch.zero(cap).update(values)


_LAYOUT = st.tuples(
    st.sampled_from([0, 1, 2, 3, 7, 9, 40]),  # categories
    st.sampled_from([0, 1, 5, 40, 300, 1500]),  # reference size
    st.sampled_from([0, 1, 3, 40, 300]),  # window size
    st.sampled_from([0, 0, 2, 50]),  # window nulls
    st.sampled_from([0, 0, 1, 3]),  # window's new names
    st.sampled_from([1024, 1024, 8]),  # cap: 8 forces the other mass
)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.lists(_LAYOUT, min_size=1, max_size=12))
def test_batch_matches_pair_by_pair(
    seed: int, layout: list[tuple[int, int, int, int, int, int]]
) -> None:
    rng = np.random.default_rng(seed)
    sides = [
        (
            _sketch(rng, k, n, int(rng.integers(0, 3)), cap, 0),
            _sketch(rng, k, m, nulls, cap, shift),
        )
        for k, n, m, nulls, shift, cap in layout
    ]
    pairs = [CategoricalPair.of(r, w) for r, w in sides]
    got = categorical_batch(pairs)
    assert len(got) == len(pairs)
    for (ref, win), ms in zip(sides, got, strict=True):
        want = decision_measures(ref, win, "categorical")
        assert list(ms) == list(CATEGORICAL_BATCH)
        assert sorted(want) == sorted(CATEGORICAL_BATCH)
        for name in CATEGORICAL_BATCH:
            _assert_same(ms[name], want[name])


def test_linf_takes_the_first_of_tied_categories_and_other_is_never_new() -> None:
    tied = CategoricalPair.from_counts({"a": 5, "b": 5}, {"a": 0, "b": 10})
    other = CategoricalPair.from_counts({"a": 10}, {"a": 5}, win_other=5)
    got = categorical_batch([tied, other])
    assert dict(got[0]["linf"].detail) == {"a": -0.5}
    assert got[1]["unseen"].value == 0.0  # the other mass is not a new category
    assert got[1]["unseen"].detail == {}


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 10**6)), min_size=4, max_size=4))
def test_row_intervals_equal_the_scalar_ones(ks: list[tuple[int, int]]) -> None:
    (k1, e1), (k2, e2), (k3, e3), _ = ks
    n1, n2, n3 = k1 + e1 + 1, k2 + e2 + 1, k3 + e3 + 1
    rows = two_proportions_rows(np.array([k1, k3]), np.array([n1, n3]), np.array([k2, k1]),
                                np.array([n2, n1]))  # fmt: skip
    for j, want in enumerate((two_proportions(k1, n1, k2, n2), two_proportions(k3, n3, k1, n1))):
        assert tuple(float(a[j]) for a in rows) == want
    lo, hi = wilson_rows(np.array([k1, 0, n3]), np.array([n1, n2, n3]))
    for j, (k, n) in enumerate(((k1, n1), (0, n2), (n3, n3))):
        assert (float(lo[j]), float(hi[j])) == wilson(k, n)


_MOMENT = st.floats(-1e6, 1e6, allow_nan=False)
_VAR = st.one_of(st.just(0.0), st.floats(1e-12, 1e8))


@example([(0.0, 28374871.782593507, 79418, 0.0, 0.0, 2)])  # x**2 is pow, not x·x
@settings(max_examples=500, deadline=None)
@given(
    st.lists(
        st.tuples(_MOMENT, _VAR, st.integers(0, 10**6), _MOMENT, _VAR, st.integers(0, 10**4)),
        min_size=1,
        max_size=6,
    )
)
def test_welch_rows_equal_the_scalar_welch(
    rows: list[tuple[float, float, int, float, float, int]],
) -> None:
    cols = list(zip(*rows, strict=True))
    got = welch_rows(*(np.array(c, dtype=np.float64) for c in cols))
    for j, row in enumerate(rows):
        want = welch(*row)
        for a, b in zip((float(g[j]) for g in got), want, strict=True):
            assert a == b or (math.isnan(a) and math.isnan(b)), (row, a, b)
