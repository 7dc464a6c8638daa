"""The C encoders (native/sketchcodec.c) write the bytes of the Python reference."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stream.core.sketch import CategoricalSketch, JointSketch, NumericSketch
from stream.core.sketch._store import layouts_of_array
from stream.core.sketch._wire import Writer, codec, encode_uints, encode_uvarints, use_codec

C = codec()


def test_the_codec_is_built() -> None:
    # `make install` builds it (setup.py, native/sketchcodec.c); without it the tests below
    # fail rather than skip, as the other extensions' (a silent fallback would hide it).
    assert C is not None, "stream.core.sketch._codec is not built"


def _reference(write: str, value: int) -> bytes:
    before = use_codec(False)
    try:
        w = Writer()
        getattr(w, write)(value)
        return w.getvalue()
    finally:
        use_codec(before)


exact_sums = st.one_of(
    st.integers(-(2**70), 2**70),
    st.builds(lambda m, s: m << s, st.integers(-(2**200), 2**200), st.integers(0, 2300)),
    st.builds(lambda s, neg: -(1 << s) if neg else 1 << s, st.integers(0, 2300), st.booleans()),
)


@settings(max_examples=500, deadline=None)
@given(exact_sums)
def test_bigint_and_uvarint_bytes_match_the_python_writer(value: int) -> None:
    assert C.bigint(value) == _reference("bigint", value)
    if value >= 0:
        assert C.uvarint(value) == _reference("uvarint", value)


counts = st.lists(
    st.one_of(st.just(0), st.integers(1, 15), st.integers(16, 2**53 - 1)), max_size=400
)


@settings(max_examples=300, deadline=None)
@given(counts)
def test_arrays_and_stores_match_the_numpy_path(values: list[int]) -> None:
    arr = np.array(values, dtype=np.int64)
    before = use_codec(False)
    try:
        uints, uvarints = encode_uints(arr), encode_uvarints(arr)
        store = np.array([1, *values, 1], dtype=np.int64)
        layouts = layouts_of_array(store)
    finally:
        use_codec(before)
    assert C.uints(arr) == uints
    assert C.uvarints(arr) == uvarints
    assert C.store_layouts(store) == layouts


def test_negative_values_and_wrong_arrays_are_refused() -> None:
    for f in (C.uints, C.uvarints):
        with pytest.raises(ValueError, match="non-negative"):
            f(np.array([3, -1], dtype=np.int64))
        with pytest.raises(TypeError, match="int64"):
            f(np.array([1.0]))
    with pytest.raises(ValueError, match="non-negative"):
        C.uvarint(-5)
    with pytest.raises(TypeError):
        C.bigint(1.5)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(allow_nan=True, allow_infinity=True, width=64), max_size=300),
    st.lists(st.sampled_from(["a", "b", "é", "x" * 40]) | st.text(max_size=8), max_size=80),
)
def test_sketches_encode_to_the_same_bytes_with_and_without_c(
    values: list[float], cats: list[str]
) -> None:
    num = NumericSketch.zero().update(np.array(values, dtype=np.float64), nulls=2)
    cat = CategoricalSketch.zero(max_exact=16).update(cats)
    joint = JointSketch.zero(("x", "y")).update(
        np.array([values, values[::-1]], dtype=np.float64).T.reshape(-1, 2)
    )
    with_c = [s.to_bytes() for s in (num, cat, joint)]
    before = use_codec(False)
    try:
        assert [s.to_bytes() for s in (num, cat, joint)] == with_c
    finally:
        use_codec(before)
