"""The batch fast path: msgspec typed decoders per model, then columns with numpy.

One tagged-union decoder (tag = the event's ``model``) holds a Struct per catalog model,
whose fields are exactly the model's contract: ``features`` (a Struct with one typed field
per declared feature), ``ts``, ``id``, ``prediction``. Unknown fields are forbidden, so
every byte of a record the decoder accepts was type-checked; keys learned as extras
(undeclared features, extra top-level keys) are captured raw and validated separately.
A record the decoder or a column check refuses goes to :func:`check_record` instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any, Final, Union

import msgspec
import numpy as np
import numpy.typing as npt

from stream.catalog import PREDICTION_KEY, FeatureSpec, ModelSpec
from stream.contract._record import canonical_category, utf8_len_over
from stream.contract._time import MAX_EPOCH_MS, parse_iso_ms_many
from stream.contract._types import Limits

__all__ = ["Columns", "ModelCodec", "build_codec", "build_decoder", "extract"]

_RAW_DEFAULT: Final = msgspec.Raw()
_DECODE: Final = msgspec.json.Decoder()
_NUMERIC: Final[Any] = float | None
_CATEGORICAL: Final[Any] = str | int | bool | None
_ID_OR_TS: Final[Any] = str | int | None
_FEATURES: Final = attrgetter("features")
_ID: Final = attrgetter("id")
_TS: Final = attrgetter("ts")


@dataclass(slots=True)
class ModelCodec:
    """A model's typed event Struct and how to read columns out of it."""

    spec: ModelSpec
    event_type: type[msgspec.Struct]
    columns: list[tuple[FeatureSpec, str, bool]]  # (spec, attribute, on the event itself?)
    feature_extras: dict[str, str] = field(default_factory=dict)  # key → attribute
    raw_top: list[str] = field(default_factory=list)  # raw top-level attributes to validate


def _struct(
    name: str, fields: list[tuple[str, Any, Any]], rename: dict[str, str], **kw: Any
) -> type[msgspec.Struct]:
    # gc=False: events hold only str/int/float/None/Raw and a gc=False Struct, so they
    # cannot form reference cycles; untracked, a 10k batch no longer triggers GC passes
    # over its own fresh objects (decode ~0.95 -> ~0.62 us/event, benchmarks/bench_parse.py).
    kw.setdefault("gc", False)
    return msgspec.defstruct(
        name, fields, rename=rename, forbid_unknown_fields=True, kw_only=True, **kw
    )


def build_codec(
    spec: ModelSpec, index: int, feature_extras: list[str], top_extras: list[str]
) -> ModelCodec:
    """Typed Struct for ``spec``; ``*_extras`` are learned undeclared keys kept raw."""
    fields: list[tuple[str, Any, Any]] = []
    rename: dict[str, str] = {}
    columns: list[tuple[FeatureSpec, str, bool]] = []
    for j, f in enumerate(spec.features):
        attr = f"f{j}"
        fields.append((attr, _NUMERIC if f.kind == "numeric" else _CATEGORICAL, None))
        rename[attr] = f.name
        columns.append((f, attr, False))
    extras = {}
    for j, key in enumerate(feature_extras):
        attr = f"x{j}"
        fields.append((attr, msgspec.Raw, _RAW_DEFAULT))
        rename[attr] = key
        extras[key] = attr
    features = _struct(f"Features{index}", fields, rename)
    top: list[tuple[str, Any, Any]] = [
        ("features", features, msgspec.NODEFAULT),
        ("ts", _ID_OR_TS, None),
        ("id", _ID_OR_TS, None),
    ]
    top_rename = {"features": "features", "ts": "ts", "id": "id"}
    raw_top: list[str] = []
    pred = spec.prediction
    if pred is not None:
        top.append(("p", _NUMERIC if pred.kind == "numeric" else _CATEGORICAL, None))
        columns.append((pred, "p", True))
    else:
        top.append(("p", msgspec.Raw, _RAW_DEFAULT))
        raw_top.append("p")
    top_rename["p"] = PREDICTION_KEY
    for j, key in enumerate(top_extras):
        top.append((f"t{j}", msgspec.Raw, _RAW_DEFAULT))
        top_rename[f"t{j}"] = key
        raw_top.append(f"t{j}")
    event = _struct(f"Event{index}", top, top_rename, tag_field="model", tag=spec.name)
    return ModelCodec(spec, event, columns, extras, raw_top)


_NO_MODEL = msgspec.defstruct("NoModel", [], tag_field="model", tag="\x00no-model", kw_only=True)


def build_decoder(codecs: list[ModelCodec]) -> msgspec.json.Decoder[Any] | None:
    """One decoder for all models (tagged union on ``model``); None without models."""
    if not codecs:
        return None
    types = tuple(c.event_type for c in codecs)
    # A lone tagged Struct decodes without its tag; only a union demands the "model" key.
    # A never-matching sentinel makes a union of one real model.
    if len(types) == 1:
        types = (*types, _NO_MODEL)
    return msgspec.json.Decoder(Union[types])  # noqa: UP007


@dataclass(slots=True)
class Columns:
    """Columns of the events of one model that passed the fast path (``bad`` marks the rest)."""

    ts_ms: npt.NDArray[np.int64]
    ids: npt.NDArray[np.object_]
    numeric: dict[str, npt.NDArray[np.float64]]
    categorical: dict[str, npt.NDArray[np.object_]]
    undeclared: dict[str, npt.NDArray[np.bool_]]
    bad: npt.NDArray[np.bool_]
    #: Per categorical column, when the parse coded it: (int32 codes, -1 = null; the
    #: distinct values) with ``categorical[k] == categories[codes]`` (C pass only).
    codes: dict[str, tuple[npt.NDArray[np.int32], npt.NDArray[np.object_]]] = field(
        default_factory=dict
    )


def _floats(source: list[Any], attr: str, n: int) -> npt.NDArray[np.float64]:
    """Float64 column of a ``float | None`` attribute, NaN for None."""
    try:  # no nulls: straight from the iterator, no intermediate list
        return np.fromiter(map(attrgetter(attr), source), dtype=np.float64, count=n)
    except TypeError:
        return np.array(list(map(attrgetter(attr), source)), dtype=np.float64)  # None → NaN


def _categories(
    values: list[Any], bad: npt.NDArray[np.bool_], limit: int | None
) -> npt.NDArray[np.object_]:
    """Object column of canonical category text; ``limit`` None: no text can exceed it."""
    kinds = set(map(type, values))
    if kinds - {str, type(None)}:
        for k, v in enumerate(values):
            if type(v) is not str and v is not None:
                try:
                    values[k] = canonical_category(v)
                except ValueError:
                    values[k], bad[k] = None, True
    if limit is None:
        return np.array(values, dtype=object)
    longest = max(map(len, filter(None, values)), default=0)
    if longest * 4 > limit:
        for k, v in enumerate(values):
            if v is not None and utf8_len_over(v, limit):
                bad[k] = True
    return np.array(values, dtype=object)


def extract(
    codec: ModelCodec,
    events: list[Any],
    record_ts: npt.NDArray[np.int64],
    limits: Limits,
    now_ms: int | None,
    *,
    since_ms: int | None = None,
    longest_raw: int | None = None,
) -> Columns:
    """Columns from decoded events; ``bad`` flags events the record path must re-check.

    ``longest_raw`` is the byte length of the longest raw value of the batch, when known:
    a decoded JSON string never takes more UTF-8 bytes than its encoded text, so when no
    value is longer than ``max_value_bytes`` no id or category can be ``oversized``.
    """
    n = len(events)
    text_limit: int | None = limits.max_value_bytes
    if longest_raw is not None and longest_raw <= limits.max_value_bytes:
        text_limit = None
    bad = np.zeros(n, dtype=np.bool_)
    feats = list(map(_FEATURES, events))
    numeric: dict[str, npt.NDArray[np.float64]] = {}
    categorical: dict[str, npt.NDArray[np.object_]] = {}
    for spec, attr, on_event in codec.columns:
        source = events if on_event else feats
        if spec.kind == "numeric":
            numeric[spec.name] = _floats(source, attr, n)
        else:
            values = list(map(attrgetter(attr), source))
            categorical[spec.name] = _categories(values, bad, text_limit)
    ids = _categories(list(map(_ID, events)), bad, text_limit)
    ts = _event_times(list(map(_TS, events)), record_ts, bad)
    has_ref = record_ts >= 0
    bad |= has_ref & (
        (ts > record_ts + limits.max_future_ms) | (ts < record_ts - limits.max_past_ms)
    )
    if now_ms is not None:
        bad |= ts > now_ms + limits.max_ahead_ms
    if since_ms is not None:
        bad |= ts < since_ms - limits.max_past_ms
    undeclared = {
        key: _raw_present(list(map(attrgetter(attr), feats)), bad)
        for key, attr in codec.feature_extras.items()
    }
    for attr in codec.raw_top:
        _raw_present(list(map(attrgetter(attr), events)), bad)
    return Columns(ts, ids, numeric, categorical, undeclared, bad)


def _event_times(
    values: list[Any], record_ts: npt.NDArray[np.int64], bad: npt.NDArray[np.bool_]
) -> npt.NDArray[np.int64]:
    """Event time per event (absent → record timestamp); marks unusable ones bad."""
    ts = record_ts.copy()
    ts_bad = record_ts < 0  # an absent ts needs a record timestamp
    kinds = set(map(type, values))
    if kinds == {str}:  # the common case: every event carries ISO text
        ms, ok = parse_iso_ms_many(values)
        bad |= ~ok
        return ms
    texts = [k for k, v in enumerate(values) if type(v) is str]
    if texts:
        ms, ok = parse_iso_ms_many([values[k] for k in texts])
        pos = np.asarray(texts, dtype=np.intp)
        ts[pos], ts_bad[pos] = ms, ~ok
    ints = [k for k, v in enumerate(values) if type(v) is int] if int in kinds else []
    if ints:
        pos = np.asarray(ints, dtype=np.intp)
        try:
            given = np.array([values[k] for k in ints], dtype=np.int64)
        except OverflowError:  # beyond int64: clamp, the range check below flags it
            given = np.array(
                [max(min(values[k], MAX_EPOCH_MS), -MAX_EPOCH_MS) for k in ints], dtype=np.int64
            )
        ts[pos] = given
        ts_bad[pos] = (given <= -MAX_EPOCH_MS) | (given >= MAX_EPOCH_MS)
    bad |= ts_bad
    return ts


def _raw_present(raws: list[msgspec.Raw], bad: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """Which events carry the raw field; events whose raw JSON is invalid are marked bad."""
    present = np.fromiter(map(len, raws), dtype=np.int64, count=len(raws)) > 0
    for k in np.flatnonzero(present).tolist():
        try:
            _DECODE.decode(raws[k])
        except Exception:  # noqa: BLE001 - the record path names the problem
            bad[k] = True
    return present
