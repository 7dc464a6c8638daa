r"""``dumps`` / ``loads``: any sketch to its versioned, checksummed frame and back.

The frame and payload primitives are in ``_wire`` (which knows no sketch class); this
module is the one table of sketch kinds by type byte, so it imports every sketch
module and none of them imports it.

A reader of version N reads every version ≤ N (fixtures of version-1 bytes are
committed under ``tests/unit/core/sketch/fixtures/v1`` and ``tests/fixtures/wire``).
Anything else — wrong magic, unknown version or type, bad checksum, truncation,
inconsistent content — raises :class:`~stream.errors.SketchDecodeError` and nothing else.

>>> import numpy as np
>>> from stream.core.sketch import NumericSketch
>>> s = NumericSketch.zero().update(np.array([1.0, 2.0, 3.0]))
>>> blob = dumps(s)
>>> blob[:4], loads(blob) == s
(b'DSk\x01', True)
>>> loads(blob[:-1])
Traceback (most recent call last):
...
stream.errors.SketchDecodeError: checksum mismatch: bytes are corrupt or truncated
"""

from __future__ import annotations

from stream.core.sketch._wire import (
    FORMAT_VERSION,
    TYPE_CATEGORICAL,
    TYPE_JOINT,
    TYPE_NUMERIC,
    encode_frame,
    open_frame,
    read_payload,
)
from stream.core.sketch.categorical import CategoricalSketch
from stream.core.sketch.joint import JointSketch
from stream.core.sketch.numeric import NumericSketch
from stream.errors import SketchDecodeError

__all__ = ["FORMAT_VERSION", "AnySketch", "dumps", "loads"]

AnySketch = NumericSketch | CategoricalSketch | JointSketch
_KINDS: dict[int, type[NumericSketch] | type[CategoricalSketch] | type[JointSketch]] = {
    TYPE_NUMERIC: NumericSketch,
    TYPE_CATEGORICAL: CategoricalSketch,
    TYPE_JOINT: JointSketch,
}


def dumps(sketch: AnySketch) -> bytes:
    """Serialize a sketch into one self-describing, checksummed frame."""
    return encode_frame(sketch)


def loads(data: bytes) -> AnySketch:
    """Deserialize any sketch written by :func:`dumps` of this or an older version.

    Raises:
        SketchDecodeError: for anything that is not a valid frame and payload.
    """
    version, kind, payload = open_frame(data)
    cls = _KINDS.get(kind)
    if cls is None:
        msg = f"unknown sketch type {kind}"
        raise SketchDecodeError(msg)
    sketch: AnySketch = read_payload(cls, version, payload)
    return sketch
