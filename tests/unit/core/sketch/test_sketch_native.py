"""The C sketch updates (native/sketchscan.c) give the numpy path's bytes, value for value.

The numpy updates are the definition; the extension only decides speed. Every case
runs both paths on the same batches and compares the serialized sketches.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stream.core.sketch import JointSketch, NumericSketch
from stream.core.sketch import joint as joint_module
from stream.core.sketch import numeric as numeric_module
from tests.unit.core.sketch.sketch_strategies import SPECIAL, any_float


def test_the_extension_is_built() -> None:
    # `make install` builds it (setup.py, native/sketchscan.c); without it every test below
    # would only compare the numpy path with itself (as tests/unit/test_contract_native.py).
    assert numeric_module.native_available(), "stream.core.sketch._native is not built"


_extreme = st.sampled_from([5e-324, -5e-324, 2.2e-308, 1e-300, 1.7976931348623157e308, -1e308])
_values = st.one_of(any_float, _extreme, st.sampled_from([*SPECIAL, 0.5, -3.25, 7.0]))


@contextmanager
def native(on: bool) -> Iterator[None]:
    before = (numeric_module.use_native(on), joint_module.use_native(on))
    try:
        yield
    finally:
        numeric_module.use_native(before[0])
        joint_module.use_native(before[1])


def numeric_bytes(batches: Sequence[Sequence[float]], on: bool, **kw: int | float) -> bytes:
    with native(on):
        s = NumericSketch.zero(**kw)  # type: ignore[arg-type]
        for i, b in enumerate(batches):
            s.update(np.asarray(b, dtype=np.float64), nulls=i % 3)
        return s.to_bytes()


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.lists(_values, max_size=80), min_size=1, max_size=4),
    st.sampled_from([(0.01, 2048), (0.05, 16), (0.01, 3), (0.2, 1)]),
)
def test_numeric_update_same_bytes(batches: list[list[float]], params: tuple[float, int]) -> None:
    alpha, cap = params
    kw = {"relative_accuracy": alpha, "max_buckets": cap}
    assert numeric_bytes(batches, True, **kw) == numeric_bytes(batches, False, **kw)


@pytest.mark.parametrize("seed", range(4))
def test_numeric_update_same_bytes_large_batches(seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = np.concatenate(
        [rng.lognormal(0, 8, 40_000), -rng.lognormal(3, 1, 30_000), np.zeros(50), [np.nan]]
    )
    rng.shuffle(x)
    batches = [x[:1], x[1:50_000], x[50_000:]]
    assert numeric_bytes(batches, True) == numeric_bytes(batches, False)
    assert numeric_bytes(batches, True, max_buckets=64) == numeric_bytes(
        batches, False, max_buckets=64
    )


def test_in_span_updates_are_counted_in_the_scan() -> None:
    # A batch whose keys all lie in the kept spans is bucketed in the scan's own pass
    # (scan_span, both signs); a value outside a span sends that sign to the second pass.
    s = NumericSketch.zero().update(np.array([1.0, 100.0, -1.0, -100.0]))
    m = s._mapping  # noqa: SLF001 - what the update itself hands the C pass
    pe, plo, pc = numeric_module._span(m, s._pos)  # noqa: SLF001
    ne, nlo, nc = numeric_module._span(m, s._neg)  # noqa: SLF001
    assert pc is not None and nc is not None
    inside = np.array([2.0, 50.0, -3.0, 7.5, 0.0, np.nan])
    _, pos_ok, neg_ok = numeric_module._native.scan_span(  # noqa: SLF001
        inside, m.inv_log_gamma, pe, plo, pc, ne, nlo, nc
    )
    assert (pos_ok, neg_ok) == (True, True)
    assert int(pc.sum()) == 3 + 2 and int(nc.sum()) == 1 + 2
    pc, nc = s._pos.counts.copy(), s._neg.counts.copy()  # noqa: SLF001
    _, pos_ok, neg_ok = numeric_module._native.scan_span(  # noqa: SLF001
        np.array([2.0, 150.0, -3.0]), m.inv_log_gamma, pe, plo, pc, ne, nlo, nc
    )
    assert (pos_ok, neg_ok) == (False, True)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.lists(
            st.one_of(
                st.floats(min_value=-50.0, max_value=50.0, allow_subnormal=False),
                st.floats(min_value=0.5, max_value=2.0),
                _values,
            ),
            max_size=60,
        ),
        min_size=2,
        max_size=8,
    ),
    st.sampled_from([(0.01, 2048), (0.05, 16), (0.01, 3), (0.2, 1), (0.02, 40)]),
)
def test_numeric_span_updates_same_bytes(
    batches: list[list[float]], params: tuple[float, int]
) -> None:
    # Many batches on one sketch: later ones mostly fall inside the kept spans (the
    # in-scan bucketing), some reach past an end or below a collapsed floor.
    alpha, cap = params
    kw = {"relative_accuracy": alpha, "max_buckets": cap}
    assert numeric_bytes(batches, True, **kw) == numeric_bytes(batches, False, **kw)


@pytest.mark.parametrize("seed", range(3))
def test_numeric_steady_state_same_bytes(seed: int) -> None:
    # The ingest shape: 1,667-value batches of one distribution, hour after hour.
    rng = np.random.default_rng(seed)
    batches = [rng.normal(40.0, 12.0, 1_667) for _ in range(12)]
    batches[5][:3] = [1e9, -1e-9, 0.0]
    assert numeric_bytes(batches, True) == numeric_bytes(batches, False)
    assert numeric_bytes(batches, True, max_buckets=20) == numeric_bytes(
        batches, False, max_buckets=20
    )


_finite = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(min_value=-1e3, max_value=1e3),
    st.sampled_from([0.0, -0.0, 1.0, 5e-324, -1e308, 0.1]),
)


def joint_bytes(rows: np.ndarray, on: bool) -> bytes:
    cols = tuple(f"c{i}" for i in range(rows.shape[1]))
    with native(on):
        s = JointSketch.zero(cols)
        s.update(rows)
        s.update(rows[: rows.shape[0] // 2])
        return s.to_bytes()


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 6).flatmap(
        lambda k: st.lists(st.lists(_finite, min_size=k, max_size=k), min_size=1, max_size=40)
    )
)
def test_joint_complete_batches_same_bytes(rows: list[list[float]]) -> None:
    x = np.asarray(rows, dtype=np.float64)
    assert joint_bytes(x, True) == joint_bytes(x, False)


@pytest.mark.parametrize("scale", [0, 3, 200])
def test_joint_large_batches_same_bytes(scale: int) -> None:
    rng = np.random.default_rng(scale)
    x = rng.normal(0, 1, (40_000, 9)) * 10.0 ** rng.integers(-scale, scale + 1, (40_000, 9))
    x[rng.random(x.shape) < 0.1] = 0.0
    assert joint_bytes(x, True) == joint_bytes(x, False)


def test_joint_batch_with_missing_values_takes_the_numpy_path() -> None:
    x = np.array([[1.0, 2.0], [np.nan, 3.0], [4.0, np.inf]])
    assert joint_bytes(x, True) == joint_bytes(x, False)


def _comoments(x: np.ndarray, aligned: bool) -> object:
    return joint_module._native.comoments(  # noqa: SLF001 - the C function itself
        np.ascontiguousarray(x, dtype=np.float64), x.shape[1], aligned
    )


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 6).flatmap(
        lambda k: st.lists(
            st.lists(
                st.one_of(
                    st.floats(min_value=1.0, max_value=60.0),  # spans within ALIGN_SPAN binades
                    st.floats(min_value=-60.0, max_value=-1.0),
                    st.sampled_from([0.0, -0.0, 1.0, 63.99999999999999, -32.5, 5e-324]),
                    _finite,
                ),
                min_size=k,
                max_size=k,
            ),
            min_size=1,
            max_size=40,
        )
    )
)
def test_comoments_aligned_equals_bins(rows: list[list[float]]) -> None:
    # Columns within ALIGN_SPAN exponents take one 192-bit accumulator per pair; the bins
    # (the path of wider columns) must give the very same integers, signs included.
    x = np.asarray(rows, dtype=np.float64)
    assert _comoments(x, True) == _comoments(x, False)


def test_comoments_aligned_at_the_bounds() -> None:
    # the largest products (M·2^10 squared), many rows of them of one sign and mixed
    top = np.nextafter(2.0**6, 0.0)  # the largest value 5 exponents above 1.0 (ALIGN_SPAN)
    rows = np.array([[top, 1.0, -top], [1.0, top, top]] * 5_000)
    for x in (rows, -rows, rows * np.array([1.0, -1.0, 1.0])):
        got = _comoments(x, True)
        assert got == _comoments(x, False)
        sums, prods = got  # type: ignore[misc]
        exact = [sum(int(v * 2.0**60) for v in x[:, c].tolist()) << 1066 for c in range(3)]
        assert sums == exact
    with native(True):
        a = JointSketch.zero(("a", "b", "c")).update(rows).to_bytes()
    with native(False):
        assert JointSketch.zero(("a", "b", "c")).update(rows).to_bytes() == a
