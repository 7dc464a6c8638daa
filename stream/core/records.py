"""Stored state and alerts as JSON-able dicts, written from the classes' own field types.

Core state classes are frozen dataclasses; msgspec reads their field types and writes
every field under its own name (tuples as lists, nested dataclasses as objects, keys
sorted so equal values give equal JSON). Two rules are ours, because JSON has no NaN:
a ``float`` field is written as a float, ``None`` when not finite, and read back with
``None`` as NaN. A class whose wire shape is not its field layout (a field omitted at
its default, a tuple-keyed map, a renamed field) adjusts the dict around these calls;
``tests/fixtures/wire`` pins the bytes.

>>> from dataclasses import dataclass
>>> @dataclass(frozen=True)
... class P:
...     x: float
...     pair: tuple[float, float] = (0.0, 0.0)
>>> to_builtins(P(float("nan"), (1, float("inf"))))
{'pair': [1.0, None], 'x': None}
>>> from_builtins({"x": None, "pair": [1, None]}, P)
P(x=nan, pair=(1.0, nan))
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, TypeVar

import msgspec
import msgspec.inspect as mi

__all__ = ["from_builtins", "to_builtins"]

_T = TypeVar("_T")


_INFO: dict[type, mi.Type] = {}


def _info(cls: type) -> mi.Type:
    t = _INFO.get(cls)
    if t is None:
        t = _INFO[cls] = mi.type_info(cls)
    return t


def _walk(value: Any, t: mi.Type, *, encode: bool) -> Any:
    """``value`` with every float-typed leaf finite-or-None (encode) or None-as-NaN."""
    if isinstance(t, mi.FloatType):
        if encode:
            return float(value) if math.isfinite(value) else None
        return math.nan if value is None else value
    if value is None:
        return None
    if isinstance(t, mi.DataclassType):
        types = {f.encode_name: f.type for f in t.fields}
        return {k: _walk(v, types[k], encode=encode) if k in types else v for k, v in value.items()}
    if isinstance(t, mi.DictType):
        return {k: _walk(v, t.value_type, encode=encode) for k, v in value.items()}
    if isinstance(t, mi.TupleType):
        return [_walk(v, vt, encode=encode) for v, vt in zip(value, t.item_types, strict=False)]
    if isinstance(t, mi.VarTupleType | mi.ListType):
        return [_walk(v, t.item_type, encode=encode) for v in value]
    if isinstance(t, mi.UnionType):
        inner = [u for u in t.types if not isinstance(u, mi.NoneType)]
        return _walk(value, inner[0], encode=encode) if len(inner) == 1 else value
    return value


def to_builtins(obj: object) -> dict[str, Any]:
    """Every field of a dataclass by name, sorted keys, non-finite floats as None."""
    out: dict[str, Any] = _walk(
        msgspec.to_builtins(obj, order="sorted"), _info(type(obj)), encode=True
    )
    return out


def from_builtins(d: Mapping[str, Any], cls: type[_T]) -> _T:
    """Inverse of :func:`to_builtins` (None in a float field is NaN; ints pass as floats)."""
    return msgspec.convert(_walk(d, _info(cls), encode=False), cls, strict=False)
