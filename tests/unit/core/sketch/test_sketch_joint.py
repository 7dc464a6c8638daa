"""Joint sketch: exact pairwise co-moments, merge laws and byte identity for any split."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stream.core.sketch import SketchDecodeError, SketchMismatchError, loads
from stream.core.sketch.joint import JointSketch

LAWS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
COLS = ("a", "b", "c")
CELL = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-1e6, max_value=1e6),
    st.sampled_from([0.0, -0.0, 5e-324, 1e308, -1e-300]),
)
ROWS = st.lists(st.tuples(CELL, CELL, CELL), max_size=40)


def _sketch(rows: list[tuple[float, float, float]]) -> JointSketch:
    return JointSketch.zero(COLS).update(np.array(rows, dtype=np.float64).reshape(-1, 3))


def _expected(rows: list[tuple[float, float, float]], i: int, j: int) -> tuple[object, ...]:
    both = [r for r in rows if np.isfinite(r[i]) and np.isfinite(r[j])]
    xs, ys = [Fraction(r[i]) for r in both], [Fraction(r[j]) for r in both]
    return (
        len(both),
        (
            sum(xs, Fraction(0)),
            sum((v * v for v in xs), Fraction(0)),
            sum(ys, Fraction(0)),
            sum((v * v for v in ys), Fraction(0)),
            sum((a * b for a, b in zip(xs, ys, strict=True)), Fraction(0)),
        ),
    )


@LAWS
@given(ROWS)
def test_pairwise_sums_are_exact(rows: list[tuple[float, float, float]]) -> None:
    s = _sketch(rows)
    assert s.rows == len(rows)
    for i in range(3):
        for j in range(3):
            n, sums = _expected(rows, i, j)
            assert s.pair_count(i, j) == n
            assert s.pair_sums(i, j) == sums


@LAWS
@given(ROWS, st.data())
def test_any_split_and_merge_order_gives_identical_bytes(
    rows: list[tuple[float, float, float]], data: st.DataObject
) -> None:
    whole = _sketch(rows)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(rows)), max_size=4)))
    parts = [rows[a:b] for a, b in zip([0, *cuts], [*cuts, len(rows)], strict=True)]
    order = data.draw(st.permutations(range(len(parts))))
    merged = JointSketch.zero(COLS)
    for k in order:
        merged = merged.merge(_sketch(parts[k]))
    assert merged.to_bytes() == whole.to_bytes()
    # identity, commutativity
    assert whole.merge(JointSketch.zero(COLS)).to_bytes() == whole.to_bytes()
    a, b = _sketch(rows[:3]), _sketch(rows[3:])
    assert a.merge(b).to_bytes() == b.merge(a).to_bytes()


@LAWS
@given(ROWS)
def test_bytes_round_trip(rows: list[tuple[float, float, float]]) -> None:
    s = _sketch(rows)
    back = loads(s.to_bytes())
    assert isinstance(back, JointSketch)
    assert back.to_bytes() == s.to_bytes()
    assert [back.pair_sums(0, j) for j in range(3)] == [s.pair_sums(0, j) for j in range(3)]


def test_correlation_matches_numpy_and_is_independent_of_order() -> None:
    rng = np.random.default_rng(7)
    x = rng.multivariate_normal([0, 5], [[1, 0.6], [0.6, 2]], size=5_000)
    s = JointSketch.zero(("x", "y")).update(x)
    assert s.correlation(0, 1) == pytest.approx(np.corrcoef(x.T)[0, 1], abs=1e-12)
    t = JointSketch.zero(("x", "y")).update(x[::-1])
    assert s.to_bytes() == t.to_bytes()


def test_nulls_are_pairwise_and_counted() -> None:
    x = np.array([[1.0, np.nan], [2.0, 3.0], [np.inf, 4.0], [5.0, 6.0]])
    s = JointSketch.zero(("x", "y")).update(x)
    assert (s.pair_count(0, 1), s.missing(0), s.missing(1)) == (2, 1, 1)
    assert s.pair_sums(0, 1)[0] == 7  # Σx over rows where y is present too
    assert s.pair_sums(0, 0)[0] == 8  # Σx over rows where x is present


def test_mismatch_and_bad_input_are_refused() -> None:
    with pytest.raises(SketchMismatchError, match="columns differ"):
        JointSketch.zero(("a",)).merge(JointSketch.zero(("b",)))
    with pytest.raises(ValueError, match="rows × 2"):
        JointSketch.zero(("a", "b")).update(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="distinct"):
        JointSketch.zero(("a", "a"))
    blob = JointSketch.zero(("a", "b"), excluded=("z",)).update(np.ones((2, 2))).to_bytes()
    with pytest.raises(SketchDecodeError):
        loads(blob[:-5] + blob[-4:])
    back = JointSketch.from_bytes(blob)
    assert back.excluded == ("z",)


@pytest.mark.parametrize("scale", [1.0, 1e-300, 1e300])
def test_dense_and_extreme_range_paths_are_exact(scale: float) -> None:
    # One column spanning ~600 decades takes the per-value path; the others stay dense.
    rng = np.random.default_rng(3)
    x = rng.normal(size=(300, 3))
    x[:, 0] *= scale
    x[::7, 1] = [1e-300, 1e300] * (len(x[::7, 1]) // 2) + [1e-300] * (len(x[::7, 1]) % 2)
    s = JointSketch.zero(COLS).update(x)
    rows = [tuple(r) for r in x.tolist()]
    for i in range(3):
        for j in range(3):
            assert s.pair_sums(i, j) == _expected(rows, i, j)[1]


def test_large_batches_with_holes_are_exact_across_row_blocks() -> None:
    # Past one 2^15-row chunk, with holes in most rows (all rows multiplied) and in few
    # (only the rows with a hole), and columns of wide range (many digits per value).
    rng = np.random.default_rng(11)
    x = rng.normal(size=(33_000, 3)) * np.array([1e-3, 1.0, 1e5])
    x[:, 2] *= rng.choice([1e-6, 1.0], size=len(x))
    for share in (0.5, 0.05):
        y = x.copy()
        y[rng.random(y.shape) < share] = np.nan
        s = JointSketch.zero(COLS).update(y)
        rows = [tuple(r) for r in y.tolist()]
        for i, j in ((0, 1), (2, 0), (1, 2)):
            assert s.pair_sums(i, j) == _expected(rows, i, j)[1]
        halves = (
            JointSketch.zero(COLS).update(y[:777]).merge(JointSketch.zero(COLS).update(y[777:]))
        )
        assert halves.to_bytes() == s.to_bytes()
