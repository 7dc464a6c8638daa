"""Codec: round trips, compactness, and a fuzzer that only ever sees SketchDecodeError."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stream.core.sketch import (
    CategoricalSketch,
    NumericSketch,
    SketchDecodeError,
    dumps,
    loads,
)
from stream.core.sketch._store import Store, layouts_of_array, layouts_of_list
from stream.core.sketch._wire import (
    FORMAT_VERSION,
    MAGIC,
    Reader,
    Writer,
    decode_uvarints,
    encode_uint_list,
    encode_uints,
    encode_uvarints,
)
from tests.unit.core.sketch.sketch_strategies import category_lists, numeric_values

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _reframe(body: bytes) -> bytes:
    """A frame with a valid checksum around arbitrary header + payload bytes."""
    return body + struct.pack("<I", zlib.crc32(body))


def _samples() -> list[NumericSketch | CategoricalSketch]:
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.normal(size=3000), [np.nan, np.inf, -np.inf, 0.0, 1e-310]])
    many = [f"v{i}" for i in rng.integers(0, 300, size=2000).tolist()]
    return [
        NumericSketch.zero(),
        NumericSketch.zero().update(x, nulls=5),
        NumericSketch.zero(max_buckets=40).update(x),
        NumericSketch.zero(0.05).update(rng.lognormal(size=500)),
        CategoricalSketch.zero(),
        CategoricalSketch.zero().update(["a", None, "b", "\ud800", "ü"], type_errors=2),
        CategoricalSketch.zero(16).update(many),
    ]


@pytest.mark.parametrize("sketch", _samples(), ids=repr)
def test_round_trip(sketch: NumericSketch | CategoricalSketch) -> None:
    blob = dumps(sketch)
    assert blob[:3] == MAGIC and blob[3] == FORMAT_VERSION
    back = loads(blob)
    assert back == sketch and type(back) is type(sketch)
    assert dumps(back) == blob
    assert type(sketch).from_bytes(sketch.to_bytes()) == sketch


@settings(max_examples=80, deadline=None)
@given(numeric_values, st.integers(0, 3), st.sampled_from([1, 4, 2048]))
def test_numeric_round_trip_of_anything(values: list[float], nulls: int, cap: int) -> None:
    s = NumericSketch.zero(max_buckets=cap).update(np.asarray(values, dtype=np.float64), nulls)
    assert NumericSketch.from_bytes(s.to_bytes()) == s


@settings(max_examples=80, deadline=None)
@given(category_lists, st.sampled_from([1, 3, 1024]))
def test_categorical_round_trip_of_anything(values: list[str | None], k: int) -> None:
    s = CategoricalSketch.zero(k).update(values)
    back = CategoricalSketch.from_bytes(s.to_bytes())
    assert back == s and back.counts() == s.counts() and back.other == s.other


def test_from_bytes_checks_the_type() -> None:
    with pytest.raises(SketchDecodeError, match="not a NumericSketch"):
        NumericSketch.from_bytes(CategoricalSketch.zero().to_bytes())
    with pytest.raises(SketchDecodeError, match="not a CategoricalSketch"):
        CategoricalSketch.from_bytes(NumericSketch.zero().to_bytes())


@pytest.mark.parametrize(
    ("blob", "match"),
    [
        (b"", "bad magic"),
        (b"XYZ\x01\x01\x00" + b"\x00" * 8, "bad magic"),
        (_reframe(MAGIC + bytes((99, 1, 0))), "unsupported sketch format version 99"),
        (_reframe(MAGIC + bytes((0, 1, 0))), "unsupported sketch format version 0"),
        (_reframe(MAGIC + bytes((1, 7, 0))), "unknown sketch type 7"),
        (_reframe(MAGIC + bytes((1, 1, 2))), "unknown flags"),
        (_reframe(MAGIC + bytes((1, 1, 1)) + b"not zlib"), "bad compressed payload"),
        (_reframe(MAGIC + bytes((1, 1, 0))), "truncated"),
    ],
)
def test_clear_errors(blob: bytes, match: str) -> None:
    with pytest.raises(SketchDecodeError, match=match):
        loads(blob)


def test_not_bytes_and_trailing_bytes() -> None:
    with pytest.raises(SketchDecodeError, match="expected bytes"):
        loads("DSk")  # type: ignore[arg-type]
    good = NumericSketch.zero().update(np.array([1.0])).to_bytes()
    with pytest.raises(SketchDecodeError, match="trailing"):
        loads(_reframe(good[:-4] + b"\x00"))
    assert loads(bytearray(good)) == loads(memoryview(good))  # type: ignore[arg-type]


def test_zip_bomb_is_refused() -> None:
    bomb = zlib.compress(b"\x00" * (1 << 27), 9)
    with pytest.raises(SketchDecodeError, match="bad compressed payload"):
        loads(_reframe(MAGIC + bytes((1, 1, 1)) + bomb))


def test_varints() -> None:
    values = np.array([0, 1, 127, 128, 16383, 16384, 2**35, 2**62, 2**63 - 1], dtype=np.int64)
    blob = encode_uvarints(values)
    back, used = decode_uvarints(blob, 0, values.size)
    assert np.array_equal(back, values) and used == len(blob)
    w = Writer()
    for v in (0, 1, -1, 2**200, -(2**200)):
        w.svarint(v)
    w.uvarint(2**70)
    r = Reader(w.getvalue())
    assert [r.svarint(300) for _ in range(5)] == [0, 1, -1, 2**200, -(2**200)]
    assert r.uvarint(71) == 2**70
    r.done()
    big = Writer()
    big.svarint(2**200)
    with pytest.raises(SketchDecodeError, match="longer than"):
        Reader(big.getvalue()).svarint(10)
    with pytest.raises(SketchDecodeError, match="truncated"):
        Reader(big.getvalue()[:-1]).svarint(300)
    with pytest.raises(ValueError, match="non-negative"):
        Writer().uvarint(-1)
    with pytest.raises(ValueError, match="non-negative"):
        encode_uvarints(np.array([-1]))
    for bad in (b"\xff" * 9 + b"\x01", b"\x00\x80", b""):
        with pytest.raises(SketchDecodeError, match="truncated"):
            decode_uvarints(bad, 0, 2)


def test_big_counts_survive() -> None:
    s = CategoricalSketch.zero().update(["a"])
    s.update([], nulls=2**40)
    assert loads(s.to_bytes()) == s


def test_compact_sizes() -> None:
    rng = np.random.default_rng(5)
    n = NumericSketch.zero().update(rng.normal(100, 15, size=100_000))
    assert len(n.to_bytes()) < 2_500
    c = CategoricalSketch.zero().update([f"c{i}" for i in rng.integers(0, 50, 100_000).tolist()])
    assert len(c.to_bytes()) < 400


@FUZZ
@given(st.binary(max_size=300))
def test_fuzz_random_bytes(blob: bytes) -> None:
    _loads_or_decode_error(blob)
    _loads_or_decode_error(MAGIC + blob)
    # A valid checksum lets the bytes reach the payload parsers.
    for kind in (1, 2):
        _loads_or_decode_error(_reframe(MAGIC + bytes((1, kind, 0)) + blob))


@FUZZ
@given(st.data())
def test_fuzz_truncated_and_bit_flipped(data: st.DataObject) -> None:
    sample = data.draw(st.sampled_from(_SAMPLES))
    blob = dumps(sample)
    cut = data.draw(st.integers(0, len(blob) - 1))
    _loads_or_decode_error(blob[:cut])
    flipped = bytearray(blob)
    pos = data.draw(st.integers(0, len(blob) - 1))
    flipped[pos] ^= 1 << data.draw(st.integers(0, 7))
    with pytest.raises(SketchDecodeError):
        loads(bytes(flipped))  # the checksum catches every single-bit flip
    # Corrupt payloads with a re-computed checksum reach the validators.
    body = bytearray(blob[:-4])
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(6, max(6, len(body) - 1)))
        if i < len(body):
            body[i] = data.draw(st.integers(0, 255))
    _loads_or_decode_error(_reframe(bytes(body)))
    _loads_or_decode_error(_reframe(bytes(body[: data.draw(st.integers(0, len(body)))])))


_SAMPLES = [s for s in _samples() if s.total]


def _loads_or_decode_error(blob: bytes) -> None:
    try:
        s = loads(blob)
    except SketchDecodeError:
        return
    # Whatever decodes must be a usable, canonical sketch.
    assert loads(dumps(s)) == s
    if isinstance(s, NumericSketch):
        _ = (s.mean, s.std, s.quantile(0.5), s.cdf(0.0), s.histogram())
    else:
        _ = (s.counts(), s.other, s.distinct, s.estimate("x"))


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.one_of(st.just(0), st.integers(1, 20), st.integers(1, 2**40)), max_size=50),
    st.integers(-100, 100),
    st.booleans(),
)
def test_store_encodings_round_trip(counts: list[int], offset: int, collapsed: bool) -> None:
    arr = np.array([1, *counts, 1], dtype=np.int64)  # stores are trimmed: ends non-zero
    store = Store(offset, arr, collapsed)
    w = Writer()
    store.encode(w)
    r = Reader(w.getvalue())
    assert Store.decode(r, cap=100, key_min=-1000, key_max=1000) == store
    r.done()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.just(0), st.integers(1, 20), st.integers(1, 2**53 - 1)), max_size=300))
def test_short_stores_encode_in_python_to_the_array_paths_bytes(counts: list[int]) -> None:
    # Stores up to _LIST_SPAN are encoded from a list: the wire bytes must not change.
    arr = np.array([1, *counts, 1], dtype=np.int64)
    assert layouts_of_list(arr.tolist()) == layouts_of_array(arr)
    assert encode_uint_list(counts) == encode_uints(np.array(counts, dtype=np.int64))
    with pytest.raises(ValueError, match="non-negative"):
        encode_uint_list([*counts, -1, 16])


def test_uints_modes() -> None:
    for values in ([], [0], [15, 0, 3], [16], [2**62, 1]):
        arr = np.array(values, dtype=np.int64)
        r = Reader(encode_uints(arr))
        assert r.uints(arr.size).tolist() == values
        r.done()
    with pytest.raises(SketchDecodeError, match="padding"):
        Reader(b"\x01\x11").uints(1)
    with pytest.raises(SketchDecodeError, match="mode"):
        Reader(b"\x07").uints(1)


@settings(max_examples=300, deadline=None)
@given(
    st.floats(-1e300, 1e300),
    st.floats(0, 1e300),
    st.integers(1, 10**12),
    st.integers(-(2**1200), 2**1200),
    st.integers(0, 2**2400),
    st.booleans(),
)
def test_sums_check_agrees_with_exact_fractions(
    lo: float, width: float, n: int, s1: int, s2: int, near: bool
) -> None:
    """Decoding's integer test of the sums equals the same test in Fractions."""
    from fractions import Fraction

    from stream.core.sketch import _moments
    from stream.core.sketch.numeric import sums_consistent

    hi = lo + width
    if near:  # sums right at the bounds, where an approximate test would slip
        s1 = round(n * Fraction(lo) * (1 << _moments.SUM_SHIFT))
        s2 = round(Fraction(s1 * s1, n) * (1 << (_moments.SQ_SHIFT - 2 * _moments.SUM_SHIFT)))
    sum1 = Fraction(s1, 1 << _moments.SUM_SHIFT)
    sum2 = Fraction(s2, 1 << _moments.SQ_SHIFT)
    expected = n * Fraction(lo) <= sum1 <= n * Fraction(hi) and n * sum2 >= sum1 * sum1
    assert sums_consistent(n, lo, hi, s1, s2) == expected
