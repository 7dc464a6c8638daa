"""All numeric pairs of a window at once: the same measures as ``decision_measures``."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from stream.core.measures.batch import BATCH_MEASURES, numeric_batch
from stream.core.measures.confidence import Measure
from stream.core.measures.histogram import Buckets
from stream.core.nullspread import decision_measures
from stream.core.sketch import NumericSketch
from tests.unit.core.measures.shapes import shaped_sketch as _sketch

_SHAPES = ("normal", "around0", "skewed", "few", "zeros", "inf", "const", "negative", "tiny")


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
    assert got.detail == want.detail


@settings(max_examples=40, deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.lists(
        st.tuples(
            st.sampled_from(_SHAPES),
            st.sampled_from(_SHAPES),
            st.sampled_from([0, 1, 2, 5, 40, 300, 1500]),
            st.sampled_from([0, 1, 3, 40, 300]),
        ),
        min_size=1,
        max_size=12,
    ),
)
def test_batch_matches_pair_by_pair(seed: int, layout: list[tuple[str, str, int, int]]) -> None:
    rng = np.random.default_rng(seed)
    pairs = [
        (_sketch(rng, a, n, 0.0), _sketch(rng, b, m, float(rng.normal(0, 1))))
        for a, b, n, m in layout
    ]
    got = numeric_batch(pairs)
    assert len(got) == len(pairs)
    for (ref, win), ms in zip(pairs, got, strict=True):
        if ms is None:
            # Only what the batch does not cover falls back: an empty side, or a reference
            # in one bucket (a constant: its quantile bins split another way).
            assert ref.count == 0 or win.count == 0 or Buckets.of(ref).keys.size == 1
            continue
        want = decision_measures(ref, win, "numeric")
        assert sorted(ms) == sorted(want) == sorted(BATCH_MEASURES)
        for name in BATCH_MEASURES:
            _assert_same(ms[name], want[name])


def test_batch_covers_the_usual_columns() -> None:
    rng = np.random.default_rng(1)
    pairs = [
        (_sketch(rng, s, 1500, 0.0), _sketch(rng, s, 400, 0.5))
        for s in ("normal", "skewed", "zeros", "inf", "negative", "few")
    ]
    assert all(ms is not None for ms in numeric_batch(pairs))


def test_collapsed_tail_and_empty_side_fall_back() -> None:
    rng = np.random.default_rng(2)
    wide = NumericSketch.zero(max_buckets=16).update(rng.lognormal(0, 4, 3000))
    ok = NumericSketch.zero(max_buckets=16).update(rng.normal(5, 0.05, 500))
    empty = NumericSketch.zero(max_buckets=16).update(np.zeros(0), nulls=5)
    got = numeric_batch([(wide, ok), (ok, empty), (ok, ok)])
    assert wide.collapsed_low_tail
    assert got[0] is None and got[1] is None
    assert not ok.collapsed_low_tail and got[2] is not None


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1), st.lists(st.sampled_from(_SHAPES), min_size=1, max_size=8))
def test_buckets_of_many_equal_one_by_one(seed: int, shapes: list[str]) -> None:
    rng = np.random.default_rng(seed)
    sketches = [_sketch(rng, s, int(rng.integers(0, 400)), float(rng.normal())) for s in shapes]
    want = [Buckets._build(s) for s in sketches]
    Buckets.of_many(sketches)
    for s, w in zip(sketches, want, strict=True):
        got = Buckets.of(s)
        for a, b in zip(got, w, strict=True):
            assert a.dtype == b.dtype and np.array_equal(a, b)


def test_batch_computes_the_numeric_decision_set() -> None:
    # A metric added to the numeric rules must be added to the batch too (until then
    # decide.batch_measures sends every pair down the per-pair path).
    from stream.core.decide import _BATCHABLE
    from stream.core.nullspread import RULES

    assert frozenset(BATCH_MEASURES) == frozenset(r.name for r in RULES["numeric"])
    assert _BATCHABLE
