"""The contract for ONE record: the reference definition the batch fast path must match.

:func:`check_record` decodes a value with msgspec's generic JSON decoder and applies every
rule in order; the first failing rule names the rejection. Per-event Python is fine here:
the batch path sends only the records it cannot prove valid.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import msgspec

from stream.catalog import PREDICTION_KEY, Catalog, FeatureSpec, ModelSpec
from stream.contract._time import MAX_EPOCH_MS, parse_iso_ms
from stream.contract._types import (
    BAD_JSON,
    BAD_TS,
    MISSING_FEATURES,
    MISSING_MODEL,
    NOT_OBJECT,
    NOT_UTF8,
    OVERSIZED,
    TS_IN_FUTURE,
    TS_OUT_OF_BOUNDS,
    WRONG_TYPE,
    Limits,
)

__all__ = [
    "TOP_LEVEL_KEYS",
    "Accepted",
    "Rejected",
    "Unknown",
    "canonical_category",
    "check_record",
    "event_ms",
    "utf8_len_over",
]

#: Keys the contract gives a meaning to; other top-level keys are ignored (forward compat).
TOP_LEVEL_KEYS: Final = frozenset({"model", "ts", "id", "features", PREDICTION_KEY})
_CATEGORY_INT_MIN: Final = -(2**63)
_CATEGORY_INT_MAX: Final = 2**64
_DECODE: Final = msgspec.json.Decoder()


@dataclass(frozen=True, slots=True)
class Accepted:
    """A valid event: model, event time, id, column values, undeclared keys.

    ``undeclared`` are feature keys the model does not declare (counted); ``extra_keys``
    are top-level keys the contract ignores.
    """

    model: str
    ts_ms: int
    event_id: str | None
    values: dict[str, float | str | None]
    undeclared: tuple[str, ...]
    extra_keys: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Rejected:
    """A contract violation: reason code and one-line detail."""

    reason: str
    detail: str


@dataclass(frozen=True, slots=True)
class Unknown:
    """An event for a model the catalog does not know (counted, not dead-lettered)."""

    model: str


class _Bad(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason, self.detail = reason, detail


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {
        bool: "boolean",
        int: "integer",
        float: "number",
        str: "string",
        list: "array",
        dict: "object",
    }.get(type(value), type(value).__name__)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def canonical_category(value: Any) -> str | None:
    """Categorical text of a JSON value: str as is, int in decimal, bool as true/false.

    Raises:
        ValueError: For floats, arrays, objects and integers beyond 64 bits.
    """
    if value is None or type(value) is str:
        return value
    if type(value) is bool:
        return "true" if value else "false"
    if type(value) is int:
        if _CATEGORY_INT_MIN <= value < _CATEGORY_INT_MAX:
            return str(value)
        msg = "integer beyond 64 bits"
        raise ValueError(msg)
    msg = f"{_type_name(value)} {_show(value)}"
    raise ValueError(msg)


def utf8_len_over(text: str, limit: int) -> bool:
    """True when ``text`` takes more than ``limit`` bytes in UTF-8 (cheap for short text)."""
    if len(text) * 4 <= limit:
        return False
    return len(text.encode("utf-8", "surrogatepass")) > limit


def event_ms(value: Any, record_ts: int) -> int:
    """Event time of a ``ts`` value (absent/null → the record timestamp).

    Raises:
        _Bad: ``bad_ts`` with the reason.
    """
    if value is None:
        if record_ts < 0:
            raise _Bad(BAD_TS, "no ts and no record timestamp")
        return record_ts
    if type(value) is int:
        if -MAX_EPOCH_MS < value < MAX_EPOCH_MS:
            return value
        raise _Bad(BAD_TS, f"ts {_show(value)}: epoch millis out of range")
    if type(value) is str:
        ms = parse_iso_ms(value)
        if ms is None:
            raise _Bad(BAD_TS, f"ts {_show(value)}: not ISO-8601 with a UTC offset")
        return ms
    raise _Bad(BAD_TS, f"ts must be ISO-8601 text or integer epoch ms, got {_type_name(value)}")


def _numeric(value: Any, where: str) -> float | None:
    if value is None or type(value) is float:
        return value
    if type(value) is int:
        try:
            return float(value)
        except OverflowError:
            raise _Bad(WRONG_TYPE, f"{where}: number beyond float range") from None
    raise _Bad(WRONG_TYPE, f"{where}: numeric, got {_type_name(value)} {_show(value)}")


def _column(spec: FeatureSpec, value: Any, where: str, limits: Limits) -> float | str | None:
    if spec.kind == "numeric":
        return _numeric(value, where)
    try:
        text = canonical_category(value)
    except ValueError as exc:
        raise _Bad(WRONG_TYPE, f"{where}: categorical, got {exc}") from None
    if text is not None and utf8_len_over(text, limits.max_value_bytes):
        raise _Bad(OVERSIZED, f"{where}: value longer than {limits.max_value_bytes} bytes")
    return text


def _decode(raw: bytes | None, limits: Limits) -> dict[str, Any]:
    if raw is None or len(raw) == 0:
        raise _Bad(BAD_JSON, "empty value (tombstone)")
    if len(raw) > limits.max_event_bytes:
        raise _Bad(OVERSIZED, f"{len(raw)} bytes > max_event_bytes {limits.max_event_bytes}")
    try:
        obj = _DECODE.decode(raw)
    except Exception as exc:  # noqa: BLE001 - any decoder failure is a rejection, not a crash
        try:
            bytes(raw).decode("utf-8")
        except UnicodeDecodeError as err:
            raise _Bad(NOT_UTF8, f"invalid UTF-8 at byte {err.start}") from None
        raise _Bad(BAD_JSON, str(exc)[:200]) from None
    if type(obj) is not dict:
        raise _Bad(NOT_OBJECT, f"JSON {_type_name(obj)}, expected an object")
    return obj


def _validate(obj: dict[str, Any], spec: ModelSpec, record_ts: int, limits: Limits) -> Accepted:
    feats = obj.get("features")
    if feats is None:
        raise _Bad(MISSING_FEATURES, "no 'features' object")
    if type(feats) is not dict:
        raise _Bad(WRONG_TYPE, f"features: object, got {_type_name(feats)}")
    values: dict[str, float | str | None] = {}
    for f in spec.features:
        values[f.name] = _column(f, feats.get(f.name), f"features.{f.name}", limits)
    if spec.prediction is not None:
        values[spec.prediction.name] = _column(
            spec.prediction, obj.get(PREDICTION_KEY), PREDICTION_KEY, limits
        )
    raw_id = obj.get("id")
    if raw_id is not None and type(raw_id) is not str and type(raw_id) is not int:
        raise _Bad(WRONG_TYPE, f"id: string or integer, got {_type_name(raw_id)}")
    try:
        event_id = canonical_category(raw_id)
    except ValueError:
        raise _Bad(WRONG_TYPE, "id: integer beyond 64 bits") from None
    if event_id is not None and utf8_len_over(event_id, limits.max_value_bytes):
        raise _Bad(OVERSIZED, f"id: longer than {limits.max_value_bytes} bytes")
    ts = event_ms(obj.get("ts"), record_ts)
    declared = {f.name for f in spec.features}
    undeclared = tuple(k for k in feats if k not in declared)
    extra = tuple(k for k in obj if k not in TOP_LEVEL_KEYS)
    return Accepted(spec.name, ts, event_id, values, undeclared, extra)


def check_record(
    raw: bytes | None,
    record_ts: int,
    catalog: Catalog,
    limits: Limits,
    now_ms: int | None,
    *,
    since_ms: int | None = None,
) -> Accepted | Rejected | Unknown:
    """Apply the contract to one record value; never raises."""
    try:
        obj = _decode(raw, limits)
        model = obj.get("model")
        if model is None or model == "":
            raise _Bad(MISSING_MODEL, "no 'model'")
        if type(model) is not str:
            raise _Bad(WRONG_TYPE, f"model: string, got {_type_name(model)}")
        spec = catalog.get(model)
        if spec is None:
            return Unknown(model)
        acc = _validate(obj, spec, record_ts, limits)
        if now_ms is not None and acc.ts_ms > now_ms + limits.max_ahead_ms:
            delta = acc.ts_ms - now_ms
            raise _Bad(TS_IN_FUTURE, f"ts {delta} ms ahead of the worker's clock")
        if since_ms is not None and acc.ts_ms < since_ms - limits.max_past_ms:
            delta = since_ms - acc.ts_ms
            raise _Bad(TS_OUT_OF_BOUNDS, f"ts {delta} ms before the worker's clock")
        if record_ts >= 0:
            if acc.ts_ms > record_ts + limits.max_future_ms:
                delta = acc.ts_ms - record_ts
                raise _Bad(TS_OUT_OF_BOUNDS, f"ts {delta} ms after the record timestamp")
            if acc.ts_ms < record_ts - limits.max_past_ms:
                delta = record_ts - acc.ts_ms
                raise _Bad(TS_OUT_OF_BOUNDS, f"ts {delta} ms before the record timestamp")
        return acc
    except _Bad as bad:
        return Rejected(bad.reason, bad.detail)
