r"""The sketch wire format's primitives: the frame, varints, floats and count arrays.

Frame (all sketches)::

    b"DSk" | version u8 | sketch type u8 | flags u8 | payload | crc32 u32 (little endian)

``flags`` bit 0 says the payload is zlib-compressed. Only categorical payloads (value
strings) are, and only when it saves at least an eighth: numeric payloads are compact
without it (see ``_store``), so their bytes never depend on the zlib build. The CRC
covers every byte before it, so a flipped bit is reported instead of silently decoding
to a different sketch. Payload integers are LEB128 varints (signed ones zigzag-encoded),
floats are IEEE-754 little-endian, arrays of counts are vectorised varints.

This module knows no sketch class: each sketch module writes and reads its own payload
with :class:`Writer` / :class:`Reader` and gets ``to_bytes`` / ``from_bytes`` from
:class:`Framed`; ``codec`` (``dumps`` / ``loads``) is the one place that lists every
kind. Every failure to read is a :class:`~stream.errors.SketchDecodeError`.
"""

from __future__ import annotations

import operator
import struct
import zlib
from typing import Any, ClassVar, Protocol, Self, TypeVar

import numpy as np
import numpy.typing as npt

from stream.errors import SketchDecodeError

try:  # the C encoders (native/sketchcodec.c); the Python ones below are the reference
    import stream.core.sketch._codec as _codec
except ImportError:  # pragma: no cover - only on machines that built without a C compiler
    _codec = None  # type: ignore[assignment]

__all__ = [
    "FORMAT_VERSION",
    "MAGIC",
    "TYPE_CATEGORICAL",
    "TYPE_JOINT",
    "TYPE_NUMERIC",
    "Framed",
    "Reader",
    "Writer",
    "decode_uvarints",
    "encode_frame",
    "encode_uint_list",
    "encode_uints",
    "encode_uvarints",
    "open_frame",
    "read_payload",
    "use_codec",
]

MAGIC = b"DSk"
FORMAT_VERSION = 1
TYPE_NUMERIC = 1
TYPE_CATEGORICAL = 2
TYPE_JOINT = 3
_FLAG_ZLIB = 1
_HEADER = len(MAGIC) + 3
# Decompressed payloads larger than this are refused: no sketch comes near it, and
# a crafted zlib bomb must not exhaust memory.
_MAX_PAYLOAD = 1 << 26
_F64 = struct.Struct("<d")
_U32 = struct.Struct("<I")


_USE_CODEC = [_codec is not None]


def use_codec(on: bool) -> bool:
    """Switch the C encoders on or off (tests, benchmarks); returns the previous setting.

    Both write the same bytes; switching on without the extension built leaves it off.
    """
    before = _USE_CODEC[0]
    _USE_CODEC[0] = on and _codec is not None
    return before


def codec() -> Any:
    """The C encoders when built and switched on, else None (the Python reference)."""
    return _codec if _USE_CODEC[0] else None


TYPE_NAMES = {
    TYPE_NUMERIC: "NumericSketch",
    TYPE_CATEGORICAL: "CategoricalSketch",
    TYPE_JOINT: "JointSketch",
}


class Writer:
    """Append-only payload builder (varints, floats, byte strings, count arrays)."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = bytearray()

    def getvalue(self) -> bytes:
        """The bytes written so far."""
        return bytes(self._buf)

    def uvarint(self, value: int) -> None:
        """Unsigned LEB128 of a non-negative Python int of any size."""
        if 0 <= value < 0x80:
            self._buf.append(value)
            return
        if _USE_CODEC[0]:
            self._buf += _codec.uvarint(operator.index(value))
            return
        if value < 0:
            msg = f"uvarint needs a non-negative int, got {value}"
            raise ValueError(msg)
        buf = self._buf
        while value >= 0x80:
            buf.append((value & 0x7F) | 0x80)
            value >>= 7
        buf.append(value)

    def svarint(self, value: int) -> None:
        """Zigzag + LEB128 of a signed Python int of any size."""
        self.uvarint(value << 1 if value >= 0 else ((-value) << 1) - 1)

    def u8(self, value: int) -> None:
        """One byte."""
        self._buf.append(value)

    def bigint(self, value: int) -> None:
        """A signed int as odd mantissa and shift (exact sums carry ~1,100 trailing zeros)."""
        if _USE_CODEC[0]:
            self._buf += _codec.bigint(operator.index(value))
            return
        shift = (value & -value).bit_length() - 1 if value else 0
        self.svarint(value >> shift)
        if value:
            self.uvarint(shift)

    def f64(self, value: float) -> None:
        """IEEE-754 binary64, little endian."""
        self._buf += _F64.pack(value)

    def raw(self, data: bytes) -> None:
        """Bytes as they are (the reader must know their length)."""
        self._buf += data

    def uvarints(self, values: npt.NDArray[np.int64]) -> None:
        """Vectorised LEB128 of a non-negative int64 array (length not written)."""
        self._buf += encode_uvarints(values)


class Reader:
    """Bounds-checked cursor over a payload; every failure is a SketchDecodeError."""

    __slots__ = ("_data", "_pos")

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    @property
    def remaining(self) -> int:
        """Bytes not yet consumed."""
        return len(self._data) - self._pos

    def _need(self, n: int) -> int:
        if n < 0 or n > self.remaining:
            msg = "truncated payload"
            raise SketchDecodeError(msg)
        start = self._pos
        self._pos += n
        return start

    def uvarint(self, max_bits: int = 64) -> int:
        """One unsigned LEB128 int of at most ``max_bits`` bits."""
        data, pos, shift, value = self._data, self._pos, 0, 0
        while True:
            if pos >= len(data):
                msg = "truncated varint"
                raise SketchDecodeError(msg)
            b = data[pos]
            pos += 1
            value |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                break
            if shift >= max_bits + 7:
                msg = f"varint longer than {max_bits} bits"
                raise SketchDecodeError(msg)
        if value.bit_length() > max_bits:
            msg = f"varint longer than {max_bits} bits"
            raise SketchDecodeError(msg)
        self._pos = pos
        return value

    def svarint(self, max_bits: int = 64) -> int:
        """One zigzag LEB128 int of at most ``max_bits`` magnitude bits."""
        z = self.uvarint(max_bits + 1)
        return z >> 1 if z & 1 == 0 else -((z + 1) >> 1)

    def u8(self) -> int:
        """One byte."""
        return self._data[self._need(1)]

    def bigint(self, max_bits: int) -> int:
        """A signed int written by :meth:`Writer.bigint`, at most ``max_bits`` bits."""
        mantissa = self.svarint(max_bits)
        if mantissa == 0:
            return 0
        shift = self.uvarint(16)
        if mantissa % 2 == 0 or shift + abs(mantissa).bit_length() > max_bits:
            msg = "invalid exact sum"
            raise SketchDecodeError(msg)
        return mantissa << shift

    def f64(self) -> float:
        """IEEE-754 binary64, little endian."""
        value: float = _F64.unpack_from(self._data, self._need(8))[0]
        return value

    def raw(self, n: int) -> bytes:
        """``n`` bytes as they are."""
        start = self._need(n)
        return self._data[start : start + n]

    def uvarints(self, n: int) -> npt.NDArray[np.int64]:
        """``n`` LEB128 ints, each below 2**63, decoded without a per-value loop."""
        values, used = decode_uvarints(self._data, self._pos, n)
        self._pos += used
        return values

    def uints(self, n: int) -> npt.NDArray[np.int64]:
        """``n`` ints written by :func:`encode_uints` (mode byte, then nibbles or varints)."""
        mode = self.u8()
        if mode == 0:
            return self.uvarints(n)
        if mode != 1:
            msg = f"unknown int array mode {mode}"
            raise SketchDecodeError(msg)
        packed = np.frombuffer(self.raw((n + 1) // 2), dtype=np.uint8)
        nibbles = np.stack((packed >> 4, packed & 0x0F), axis=1).reshape(-1)
        if n % 2 and nibbles[-1]:
            msg = "non-zero padding nibble"
            raise SketchDecodeError(msg)
        return nibbles[:n].astype(np.int64)

    def done(self) -> None:
        """Fail unless every byte was consumed (trailing bytes mean corruption)."""
        if self.remaining:
            msg = f"{self.remaining} unexpected trailing bytes"
            raise SketchDecodeError(msg)


_SMALL = 24
"""Arrays up to this size are (de)coded in plain Python: numpy's per-call cost dominates."""


def _encode_small(values: list[int]) -> bytes:
    out = bytearray()
    for x in values:
        while x >= 0x80:
            out.append((x & 0x7F) | 0x80)
            x >>= 7
        out.append(x)
    return bytes(out)


def _decode_small(data: bytes, pos: int, n: int) -> tuple[npt.NDArray[np.int64], int]:
    # Same rules as the vectorised path: at most 9 bytes (63 bits) per value.
    values = []
    p, end = pos, len(data)
    for _ in range(n):
        x = shift = 0
        while True:
            if p >= end or shift >= 63:
                msg = "truncated varint array, or a varint in it longer than 63 bits"
                raise SketchDecodeError(msg)
            b = data[p]
            p += 1
            x |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                break
        values.append(x)
    return np.array(values, dtype=np.int64), p - pos


def encode_uvarints(values: npt.NDArray[np.int64]) -> bytes:
    """LEB128 bytes of non-negative int64 values, vectorised over 7-bit groups.

    >>> encode_uvarints(np.array([0, 1, 127, 128, 300])).hex()
    '00017f8001ac02'
    """
    v = np.asarray(values, dtype=np.int64)
    if _USE_CODEC[0]:
        return bytes(_codec.uvarints(np.ascontiguousarray(v).reshape(-1)))
    if v.size == 0:
        return b""
    if int(v.min()) < 0:
        msg = "uvarints need non-negative values"
        raise ValueError(msg)
    top = int(v.max())
    if v.size <= _SMALL:
        return _encode_small(v.tolist())
    u = v.astype(np.uint64)
    # Number of 7-bit groups per value: 1 + the count of thresholds 2**7, 2**14, ... it
    # reaches (only the thresholds the largest value reaches are tested).
    groups = np.ones(u.shape, dtype=np.int64)
    for g in range(1, max(1, (top.bit_length() + 6) // 7)):
        groups += u >= np.uint64(1 << (7 * g))
    ends = np.cumsum(groups)
    starts = ends - groups
    out = np.zeros(int(ends[-1]), dtype=np.uint8)
    for g in range(int(groups.max())):
        sel = groups > g
        byte = (u[sel] >> np.uint64(7 * g)) & np.uint64(0x7F)
        more = (groups[sel] > g + 1).astype(np.uint64) << np.uint64(7)
        out[starts[sel] + g] = (byte | more).astype(np.uint8)
    return out.tobytes()


def encode_uints(values: npt.NDArray[np.int64]) -> bytes:
    """Mode byte, then two 4-bit values per byte if every value is below 16, else varints.

    >>> encode_uints(np.array([1, 2, 3])).hex(), encode_uints(np.array([1, 300])).hex()
    ('011230', '0001ac02')
    """
    v = np.asarray(values, dtype=np.int64)
    if _USE_CODEC[0]:
        return bytes(_codec.uints(np.ascontiguousarray(v).reshape(-1)))
    if v.size and int(v.min()) >= 0 and int(v.max()) < 16:
        padded = np.zeros(v.size + v.size % 2, dtype=np.uint8)
        padded[: v.size] = v
        return b"\x01" + ((padded[0::2] << 4) | padded[1::2]).tobytes()
    return b"\x00" + encode_uvarints(v)


def encode_uint_list(values: list[int]) -> bytes:
    """:func:`encode_uints` of a short list of non-negative ints, in plain Python.

    The same bytes as the array path (``tests/unit/core/sketch/test_wire.py``); for the
    few dozen counts of a partition-hour's store, numpy's per-call cost dominates.

    >>> encode_uint_list([1, 2, 3]).hex(), encode_uint_list([1, 300]).hex()
    ('011230', '0001ac02')
    """
    if values and min(values) >= 0 and max(values) < 16:
        it = iter(values if len(values) % 2 == 0 else [*values, 0])
        return b"\x01" + bytes([(a << 4) | b for a, b in zip(it, it, strict=True)])
    if values and min(values) < 0:
        msg = "uvarints need non-negative values"
        raise ValueError(msg)
    return b"\x00" + _encode_small(values)


def decode_uvarints(data: bytes, pos: int, n: int) -> tuple[npt.NDArray[np.int64], int]:
    """Decode ``n`` LEB128 ints from ``data[pos:]``; returns the values and the bytes used.

    >>> decode_uvarints(bytes.fromhex('00017f8001ac02'), 0, 5)
    (array([  0,   1, 127, 128, 300]), 7)
    """
    if n == 0:
        return np.zeros(0, dtype=np.int64), 0
    if n < 0 or n > len(data) - pos:
        msg = "truncated varint array"
        raise SketchDecodeError(msg)
    if n <= _SMALL:
        return _decode_small(data, pos, n)
    window = np.frombuffer(data, dtype=np.uint8, count=min(len(data) - pos, 9 * n), offset=pos)
    ends = np.flatnonzero(window < 0x80)[:n]
    starts = np.concatenate(([0], ends[:-1] + 1))
    lengths = ends - starts + 1
    # At most 9 bytes (63 bits) per value, which also keeps every value below 2^63.
    if ends.size < n or int(lengths.max()) > 9:
        msg = "truncated varint array, or a varint in it longer than 63 bits"
        raise SketchDecodeError(msg)
    values = np.zeros(n, dtype=np.uint64)
    for g in range(int(lengths.max())):
        sel = lengths > g
        group = window[starts[sel] + g].astype(np.uint64) & np.uint64(0x7F)
        values[sel] |= group << np.uint64(7 * g)
    return values.astype(np.int64), int(ends[-1]) + 1


_F = TypeVar("_F", bound="Framed")


class _Payload(Protocol):
    SKETCH_TYPE: ClassVar[int]

    def write_payload(self, w: Writer) -> None: ...


class Framed:
    """Mixin of every sketch kind: ``to_bytes`` / ``from_bytes`` over the shared frame.

    A subclass sets ``SKETCH_TYPE`` and implements ``write_payload(w)`` and the
    classmethod ``read_payload(r, version)``.
    """

    __slots__ = ()
    SKETCH_TYPE: ClassVar[int]

    def write_payload(self, w: Writer) -> None:
        """Codec hook: write this sketch's payload."""
        raise NotImplementedError

    @classmethod
    def read_payload(cls, r: Reader, version: int) -> Self:
        """Codec hook: read and validate a payload written by :meth:`write_payload`."""
        raise NotImplementedError

    def same_kind(self, other: object) -> Self:
        """``other`` as this sketch's class; a TypeError when it is another kind."""
        if not isinstance(other, type(self)):
            msg = f"expected a {type(self).__name__}, got {type(other).__name__}"
            raise TypeError(msg)
        return other

    def to_bytes(self) -> bytes:
        """Versioned binary form (see ``codec``); equal sketches give identical bytes."""
        return encode_frame(self)

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        """Inverse of :meth:`to_bytes`; raises ``SketchDecodeError`` on bad bytes."""
        version, kind, payload = open_frame(data)
        if kind != cls.SKETCH_TYPE:
            if kind not in TYPE_NAMES:
                msg = f"unknown sketch type {kind}"
                raise SketchDecodeError(msg)
            msg = f"bytes hold a {TYPE_NAMES[kind]}, not a {cls.__name__}"
            raise SketchDecodeError(msg)
        return read_payload(cls, version, payload)


def encode_frame(sketch: _Payload) -> bytes:
    """Serialize a sketch into one self-describing, checksummed frame."""
    w = Writer()
    sketch.write_payload(w)
    payload = w.getvalue()
    flags = 0
    if sketch.SKETCH_TYPE == TYPE_CATEGORICAL and len(payload) > 256:
        packed = zlib.compress(payload, 6)
        if len(packed) <= len(payload) - len(payload) // 8:
            payload, flags = packed, _FLAG_ZLIB
    head = MAGIC + bytes((FORMAT_VERSION, sketch.SKETCH_TYPE, flags)) + payload
    return head + _U32.pack(zlib.crc32(head))


def open_frame(data: object) -> tuple[int, int, bytes]:
    if not isinstance(data, bytes | bytearray | memoryview):
        msg = f"expected bytes, got {type(data).__name__}"
        raise SketchDecodeError(msg)
    data = bytes(data)
    if len(data) < _HEADER + 4 or data[: len(MAGIC)] != MAGIC:
        msg = "not a driftstream sketch (bad magic or too short)"
        raise SketchDecodeError(msg)
    body, (crc,) = data[:-4], _U32.unpack(data[-4:])
    if zlib.crc32(body) != crc:
        msg = "checksum mismatch: bytes are corrupt or truncated"
        raise SketchDecodeError(msg)
    version, kind, flags = body[len(MAGIC)], body[len(MAGIC) + 1], body[len(MAGIC) + 2]
    if not 1 <= version <= FORMAT_VERSION:
        msg = f"unsupported sketch format version {version} (this reader knows 1..{FORMAT_VERSION})"
        raise SketchDecodeError(msg)
    if flags & ~_FLAG_ZLIB:
        msg = f"unknown flags {flags:#x}"
        raise SketchDecodeError(msg)
    payload = body[_HEADER:]
    if flags & _FLAG_ZLIB:
        try:
            d = zlib.decompressobj()
            payload = d.decompress(payload, _MAX_PAYLOAD)
        except zlib.error as e:
            msg = f"bad compressed payload: {e}"
            raise SketchDecodeError(msg) from e
        if not d.eof or d.unconsumed_tail or d.unused_data:
            msg = "bad compressed payload: incomplete, oversized or trailing data"
            raise SketchDecodeError(msg)
    return version, kind, payload


def read_payload(cls: type[_F], version: int, payload: bytes) -> _F:
    """The sketch of class ``cls`` in ``payload``; every failure is a SketchDecodeError."""
    r = Reader(payload)
    try:
        sketch = cls.read_payload(r, version)
        r.done()
    except SketchDecodeError:
        raise
    except (ValueError, OverflowError, IndexError, UnicodeDecodeError) as e:
        msg = f"invalid {cls.__name__} payload: {e}"
        raise SketchDecodeError(msg) from e
    return sketch
