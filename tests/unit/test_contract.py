"""The event contract: reason codes, columns, policies; fast path == record path; fuzzing."""

from __future__ import annotations

import datetime as dt
import doctest
import json
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import stream.contract
import stream.contract._time
from stream.catalog import Catalog
from stream.contract import (
    REASONS,
    UNKNOWN_MODEL,
    ContractParser,
    Limits,
    ParsedBatch,
    parse_batch,
    parse_iso_ms,
)
from stream.contract._time import parse_iso_ms_many
from stream.settings import IngestSettings

T = 1_767_618_245_123  # 2026-01-05T13:04:05.123Z
HOUR = 3_600_000
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
CATALOG = Catalog.model_validate(
    {
        "fraud-v3": {
            "prediction": "numeric",
            "features": {
                "amount": "numeric",
                "n_items": "numeric",
                "country": "categorical",
                "device": "categorical",
            },
        },
        "churn": {"prediction": "categorical", "features": {"tenure": "numeric"}},
    }
)
LIMITS = Limits(max_event_bytes=2_000, max_value_bytes=32, max_future_ms=HOUR, max_past_ms=HOUR)
PROPERTY = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=150,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def dumps(obj: Any) -> bytes:
    return json.dumps(obj).encode()


def event(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "model": "fraud-v3",
        "ts": "2026-01-05T13:04:05.123Z",
        "id": "e-1",
        "features": {"amount": 12.5, "n_items": 3, "country": "DE", "device": "mobile"},
        "prediction": 0.83,
    }
    base.update(over)
    return {k: v for k, v in base.items() if v is not DROP}


DROP = object()


def parse(
    values: list[bytes | None],
    *,
    fast: bool = True,
    ts: list[int] | None = None,
    now_ms: int | None = None,
    since_ms: int | None = None,
    limits: Limits = LIMITS,
) -> ParsedBatch:
    n = len(values)
    return ContractParser(CATALOG, limits).parse(
        values,
        ts or [T] * n,
        list(range(100, 100 + n)),
        4,
        now_ms=now_ms,
        since_ms=since_ms,
        fast=fast,
    )


def one(raw: bytes | None, **kw: Any) -> ParsedBatch:
    """Parse a single record on both paths and check they agree."""
    fast, slow = parse([raw], **kw), parse([raw], fast=False, **kw)
    assert snapshot(fast) == snapshot(slow)
    return fast


def reason(raw: bytes | None, **kw: Any) -> tuple[str, str]:
    b = one(raw, **kw)
    assert len(b.rejections) == 1, snapshot(b)
    r = b.rejections[0]
    return r.reason, r.detail


def snapshot(b: ParsedBatch) -> Any:
    """Everything observable in a batch, with floats compared bit for bit."""
    blocks = {}
    for name, blk in b.blocks.items():
        assert blk.ts_ms.dtype == np.int64 and blk.offsets.dtype == np.int64
        blocks[name] = (
            blk.rows.tolist(),
            blk.offsets.tolist(),
            blk.ts_ms.tolist(),
            blk.ids.tolist(),
            {
                k: (c.values.dtype.str, c.values.tobytes(), c.nulls.tolist())
                for k, c in blk.numeric.items()
            },
            {k: (c.values.tolist(), c.nulls.tolist()) for k, c in blk.categorical.items()},
        )
    rejections = [(r.reason, r.detail, r.raw, r.partition, r.offset, r.ts_ms) for r in b.rejections]
    return (
        b.partition,
        b.n_records,
        b.next_offset,
        dict(b.counts),
        dict(b.unknown_models),
        dict(b.undeclared),
        rejections,
        blocks,
    )


def check_accounting(b: ParsedBatch, offsets: list[int]) -> None:
    """Every record ends up exactly once: accepted, rejected or counted as unknown model."""
    accepted = [o for blk in b.blocks.values() for o in blk.offsets.tolist()]
    rejected = [r.offset for r in b.rejections]
    assert len(set(accepted)) == len(accepted)
    assert not set(accepted) & set(rejected)
    assert len(set(rejected)) == len(rejected)
    unknown = sum(b.unknown_models.values())
    assert len(accepted) + len(rejected) + unknown == len(offsets) == b.n_records
    assert b.counts["accepted"] == len(accepted) and b.counts[UNKNOWN_MODEL] == unknown
    assert sum(b.counts[r] for r in REASONS) == len(rejected)
    assert set(accepted) | set(rejected) <= set(offsets)


def test_doctests() -> None:
    assert doctest.testmod(stream.contract._time).failed == 0
    assert doctest.testmod(stream.contract).failed == 0


# ---------------------------------------------------------------- accepted events


def test_accepted_events_become_columns() -> None:
    values = [
        dumps(event()),
        dumps(event(id=7, ts=T + 5, features={"amount": None, "country": 49}, prediction=None)),
        dumps(event(model="churn", features={"tenure": 3}, prediction=True, id=DROP)),
    ]
    b = parse(values)
    assert snapshot(b) == snapshot(parse(values, fast=False))
    check_accounting(b, [100, 101, 102])
    fraud = b.blocks["fraud-v3"]
    assert len(fraud) == 2
    assert fraud.rows.tolist() == [0, 1] and fraud.offsets.tolist() == [100, 101]
    assert fraud.ts_ms.tolist() == [T, T + 5]
    assert fraud.ids.tolist() == ["e-1", "7"]
    amount = fraud.numeric["amount"]
    assert amount.values.dtype == np.float64
    assert amount.nulls.tolist() == [False, True]
    assert amount.present().tolist() == [12.5] and amount.null_count() == 1
    assert fraud.numeric["n_items"].present().tolist() == [3.0]  # absent → null
    assert fraud.numeric["prediction"].present().tolist() == [0.83]
    assert fraud.categorical["country"].values.tolist() == ["DE", "49"]
    assert fraud.categorical["device"].values.tolist() == ["mobile", None]
    assert fraud.categorical["device"].nulls.tolist() == [False, True]
    churn = b.blocks["churn"]
    assert churn.categorical["prediction"].values.tolist() == ["true"]
    assert churn.ids.tolist() == [None]
    assert set(churn.numeric) == {"tenure"}
    assert b.next_offset == 103 and b.partition == 4 and b.rejections == ()


def test_by_hour_groups_rows() -> None:
    times = [T, T + HOUR, T + 1, T - HOUR]
    b = parse([dumps(event(ts=t)) for t in times], now_ms=T + HOUR)
    hours = [(h, rows.tolist()) for h, rows in b.blocks["fraud-v3"].by_hour()]
    start = T - T % HOUR
    assert hours == [(start - HOUR, [3]), (start, [0, 2]), (start + HOUR, [1])]
    amount = b.blocks["fraud-v3"].numeric["amount"]
    rows = dict(b.blocks["fraud-v3"].by_hour())[start]
    assert amount.present(rows).tolist() == [12.5, 12.5] and amount.null_count(rows) == 0


def test_empty_batch() -> None:
    b = parse([])
    assert b.n_records == 0 and b.next_offset is None and b.blocks == {}
    assert b.counts["accepted"] == 0


def test_unknown_models_are_counted_not_dead_lettered() -> None:
    values = [dumps(event(model="someone-else")) for _ in range(3)]
    values.append(dumps(event(model="x" * 500)))
    b = one(values[0])
    assert b.unknown_models == {"someone-else": 1} and b.rejections == ()
    b = parse(values)
    assert b.unknown_models == {"someone-else": 3, "<other>": 1}
    assert b.counts[UNKNOWN_MODEL] == 4 and b.rejections == ()


def test_undeclared_features_are_counted_per_model_and_key() -> None:
    extra = {"amount": 1, "new_feat": 2, "other": None}
    values = [dumps(event(features=extra)) for _ in range(3)]
    values.append(
        dumps(event(model="churn", features={"tenure": 1, "new_feat": "x"}, prediction="y"))
    )
    parser = ContractParser(CATALOG, LIMITS)
    first = parser.parse(values, [T] * 4, [1, 2, 3, 4], 0)
    again = parser.parse(values, [T] * 4, [1, 2, 3, 4], 0)  # learned keys: fast path
    slow = parser.parse(values, [T] * 4, [1, 2, 3, 4], 0, fast=False)
    assert snapshot(first) == snapshot(again) == snapshot(slow)
    assert first.undeclared == {
        ("churn", "new_feat"): 1,
        ("fraud-v3", "new_feat"): 3,
        ("fraud-v3", "other"): 3,
    }


def test_extra_top_level_keys_are_ignored() -> None:
    b = one(dumps(event(schema_version=3, meta={"a": [1, 2]})))
    assert b.counts["accepted"] == 1 and b.undeclared == {}


def test_empty_features_object_is_all_nulls() -> None:
    b = one(dumps(event(features={})))
    cols = b.blocks["fraud-v3"]
    assert [cols.numeric[f].null_count() for f in ("amount", "n_items", "prediction")] == [1, 1, 0]
    assert [cols.categorical[f].null_count() for f in ("country", "device")] == [1, 1]


@pytest.mark.parametrize(
    ("ts", "expected"),
    [
        ("2026-01-05T13:04:05.123Z", T),
        ("2026-01-05T13:04:05Z", T - 123),
        ("2026-01-05T13:04:05.123456Z", T),
        ("2026-01-05T13:04:05.1239Z", T),  # truncated to the millisecond
        ("2026-01-05T14:04:05.123+01:00", T),
        ("2026-01-05T12:34:05.123-00:30", T),
        ("2026-01-05 13:04:05.123+00:00", T),  # what Python's isoformat(" ") gives
        (T - 7, T - 7),
        (None, T),
        (DROP, T),
    ],
)
def test_event_time_forms(ts: Any, expected: int) -> None:
    b = one(dumps(event(ts=ts)))
    assert b.blocks["fraud-v3"].ts_ms.tolist() == [expected]


def test_bounds_use_the_record_timestamp_and_the_worker_clock() -> None:
    raw = dumps(event(ts=T))
    ahead = LIMITS.max_ahead_ms
    # the worker's clock bounds the future only: a record read much later is fine
    assert one(raw, now_ms=T - ahead).counts["accepted"] == 1
    assert one(raw, now_ms=T + 30 * 86_400_000).counts["accepted"] == 1
    assert reason(raw, now_ms=T - ahead - 1)[0] == "ts_in_future"
    # the producer-set record timestamp bounds both ways
    assert reason(raw, ts=[T - HOUR - 1])[0] == "ts_out_of_bounds"
    assert reason(raw, ts=[T + 7 * 86_400_000 + 1])[0] == "ts_out_of_bounds"
    # a record timestamp as far ahead as the event: only the clock catches it
    future = dumps(event(ts=T + HOUR))
    assert one(future, ts=[T + HOUR]).counts["accepted"] == 1
    assert reason(future, ts=[T + HOUR], now_ms=T)[0] == "ts_in_future"
    # no record timestamp and no now_ms: no bounds to apply
    assert one(raw, ts=[-1]).counts["accepted"] == 1
    # the clock's earliest reading bounds the past whatever the record timestamp says
    old = dumps(event(ts=T - 2 * HOUR))
    assert one(old, ts=[T - 2 * HOUR]).counts["accepted"] == 1
    assert reason(old, ts=[T - 2 * HOUR], since_ms=T)[0] == "ts_out_of_bounds"
    assert one(old, ts=[T - 2 * HOUR], since_ms=T - HOUR).counts["accepted"] == 1


def test_limits_from_settings() -> None:
    ingest = IngestSettings(max_future_ms=5, max_past_ms=6, max_event_bytes=700, max_value_bytes=8)
    assert Limits.from_settings(ingest) == Limits(700, 8, 5, 6, 300_000)


def test_parse_batch_reuses_a_parser() -> None:
    raw = [dumps(event())]
    a = parse_batch(raw, [T], [0], 1, CATALOG, LIMITS)
    b = parse_batch(raw, np.array([T]), np.array([0]), 1, CATALOG, LIMITS, now_ms=T)
    assert snapshot(a) == snapshot(b)


# ---------------------------------------------------------------- rejections


@pytest.mark.parametrize(
    ("raw", "expected", "fragment"),
    [
        (b"x" * 2_001, "oversized", "2001 bytes > max_event_bytes 2000"),
        (dumps(event(id="i" * 33)), "oversized", "id: longer than 32 bytes"),
        (
            dumps(event(features={"country": "é" * 17})),  # 34 UTF-8 bytes
            "oversized",
            "features.country",
        ),
        (b'{"model": "fraud-v3", "x": "\xff"}', "not_utf8", "invalid UTF-8"),
        (b"\xfe\xff", "not_utf8", "invalid UTF-8 at byte 0"),
        (b"{", "bad_json", "truncated"),
        (b"", "bad_json", "empty value"),
        (None, "bad_json", "tombstone"),
        (b'{"model": "fraud-v3", "features": {}} trailing', "bad_json", "trailing"),
        (b'{"model": "fraud-v3", "features": {"amount": 1e999}}', "bad_json", "out of range"),
        (b'{"model": "fraud-v3", "meta": 1e999, "features": {}}', "bad_json", "out of range"),
        (b'{"model": "fraud-v3", "features": {}, "x": "\\ud800"}', "bad_json", ""),
        (b"NaN", "bad_json", ""),
        (b"[1, 2]", "not_object", "JSON array"),
        (b'"fraud-v3"', "not_object", "JSON string"),
        (dumps(event(model=DROP)), "missing_model", "no 'model'"),
        (dumps(event(model=None)), "missing_model", "no 'model'"),
        (dumps(event(model="")), "missing_model", "no 'model'"),
        (dumps(event(model=3)), "wrong_type", "model: string, got integer"),
        (dumps(event(features=DROP)), "missing_features", "no 'features'"),
        (dumps(event(features=None)), "missing_features", "no 'features'"),
        (dumps(event(features=[1])), "wrong_type", "features: object, got array"),
        (dumps(event(features={"amount": "12.5"})), "wrong_type", "features.amount"),
        (dumps(event(features={"amount": True})), "wrong_type", "got boolean True"),
        (dumps(event(features={"amount": [1]})), "wrong_type", "got array"),
        (dumps(event(features={"amount": 10**400})), "wrong_type", "beyond float range"),
        (dumps(event(features={"device": 1.5})), "wrong_type", "features.device"),
        (dumps(event(features={"device": {"a": 1}})), "wrong_type", "got object"),
        (dumps(event(prediction="0.8")), "wrong_type", "prediction: numeric"),
        (dumps(event(id=True)), "wrong_type", "id: string or integer"),
        (dumps(event(id=1.5)), "wrong_type", "id: string or integer"),
        (dumps(event(ts="yesterday")), "bad_ts", "not ISO-8601"),
        (dumps(event(ts="2026-01-05T13:04:05")), "bad_ts", "not ISO-8601 with a UTC"),
        (dumps(event(ts="2026-02-30T13:04:05Z")), "bad_ts", "not ISO-8601"),
        (dumps(event(ts=1.7e12)), "bad_ts", "got number"),
        (dumps(event(ts=True)), "bad_ts", "got boolean"),
        (dumps(event(ts=2**63 - 1)), "bad_ts", "out of range"),
        (dumps(event(ts=T + HOUR + 1)), "ts_out_of_bounds", "after the record timestamp"),
        (dumps(event(ts=T - HOUR - 1)), "ts_out_of_bounds", "before the record timestamp"),
        (dumps(event(ts=1_767_618_245)), "ts_out_of_bounds", "before"),  # seconds
    ],
)
def test_reason_codes(raw: bytes | None, expected: str, fragment: str) -> None:
    got, detail = reason(raw)
    assert got == expected, detail
    assert fragment in detail


def test_no_timestamp_at_all_is_bad_ts() -> None:
    assert reason(dumps(event(ts=DROP)), ts=[-1]) == (
        "bad_ts",
        "no ts and no record timestamp",
    )


def test_every_reason_code_is_covered() -> None:
    # keeps test_reason_codes honest when a code is added
    seen = {"oversized", "not_utf8", "bad_json", "not_object", "missing_model"}
    seen |= {"missing_features", "wrong_type", "bad_ts", "ts_out_of_bounds", "ts_in_future"}
    assert seen == set(REASONS)


def test_rejection_keeps_original_bytes_and_position() -> None:
    raw = b'{"model": "fraud-v3",  "features": {"amount": "1"}}  '
    b = parse([dumps(event()), raw], ts=[T, T - 9])
    (r,) = b.rejections
    assert r.raw == raw and r.raw is not None
    assert (r.partition, r.offset, r.ts_ms) == (4, 101, T - 9)


def test_first_failing_rule_wins() -> None:
    # wrong numeric type comes before a bad ts and an oversized id
    raw = dumps(event(features={"amount": "x"}, ts="bad", id="i" * 99))
    assert reason(raw)[0] == "wrong_type"
    raw = dumps(event(ts="bad", id="i" * 99))
    assert reason(raw)[0] == "oversized"


def test_categorical_canonical_forms() -> None:
    feats = {"country": 2**63, "device": False}
    b = one(dumps(event(features=feats)))
    assert b.blocks["fraud-v3"].categorical["country"].values.tolist() == [str(2**63)]
    assert b.blocks["fraud-v3"].categorical["device"].values.tolist() == ["false"]
    big = json.dumps(event(features={"country": 2**64})).encode()
    assert reason(big) == (
        "wrong_type",
        "features.country: categorical, got integer beyond 64 bits",
    )


# ---------------------------------------------------------------- timestamps


def iso_text() -> st.SearchStrategy[str]:
    two = st.integers(0, 99).map(lambda v: f"{v:02d}")
    frac = st.sampled_from(["", ".1", ".12", ".123", ".123456", ".1234567", ".12a"])
    suffix = st.sampled_from(["Z", "z", "", "+00:00", "-00:00", "+23:59", "+24:00", "-05:30"])
    suffix |= st.builds(lambda s, h, m: f"{s}{h}:{m}", st.sampled_from("+-"), two, two)
    year = st.integers(0, 9999).map(lambda v: f"{v:04d}")
    sep = st.sampled_from(["T", "T", " ", "t"])
    parts = st.tuples(year, two, two, sep, two, two, two, frac, suffix)
    text = parts.map(lambda p: f"{p[0]}-{p[1]}-{p[2]}{p[3]}{p[4]}:{p[5]}:{p[6]}{p[7]}{p[8]}")
    return text | st.text(max_size=32) | text.map(lambda s: s.replace("5", "٥"))


@PROPERTY
@given(st.lists(iso_text(), max_size=20))
def test_vectorised_iso_parse_equals_fromisoformat(texts: list[str]) -> None:
    ms, ok = parse_iso_ms_many(texts)
    expected = [parse_iso_ms(t) for t in texts]
    assert ok.tolist() == [e is not None for e in expected]
    assert [int(m) if o else None for m, o in zip(ms, ok, strict=True)] == expected


@pytest.mark.parametrize(
    "text",
    [
        "2024-02-29T00:00:00Z",
        "2023-02-29T00:00:00Z",
        "1900-02-29T00:00:00Z",
        "2000-02-29T23:59:59.999Z",
        "0001-01-01T00:00:00+01:00",
        "0001-01-01T00:00:00-23:59",
        "9999-12-31T23:59:59.999999-23:59",
        "1969-12-31T23:59:59.999Z",
        "2026-01-05T13:04:60Z",
        "2026-01-05T24:00:00Z",
        "2026-01-05T13:04:05.123+05:60",
    ],
)
def test_iso_edge_cases_agree(text: str) -> None:
    ms, ok = parse_iso_ms_many([text] * 3)
    expected = parse_iso_ms(text)
    assert ok.tolist() == [expected is not None] * 3
    if expected is not None:
        assert ms.tolist() == [expected] * 3


# ---------------------------------------------------------------- fast path == record path

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
)
JSONISH = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=5,
)
NUMBERS = st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(2**66), 2**66)
CATEGORIES = st.sampled_from(["DE", "FR", "", "ü" * 9, "x" * 40]) | st.integers(-(2**65), 2**65)
TIMES = st.one_of(
    st.just(DROP),
    st.none(),
    st.integers(T - 2 * HOUR, T + 2 * HOUR),
    st.integers(-(2**64), 2**64),
    st.integers(T - 2 * HOUR, T + 2 * HOUR).map(
        lambda ms: (EPOCH + dt.timedelta(milliseconds=ms)).isoformat()
    ),
    st.sampled_from(["2026-01-05T13:04:05.123Z", "2026-01-05T13:04:05Z", "2026-01-05T13:04:05"]),
    iso_text(),
    JSONISH,
)
FEATURE_KEYS = ["amount", "n_items", "country", "device", "tenure", "new_a", "new_b"]
NUMERIC_KEYS = {"amount", "n_items", "tenure"}


GOOD_TIMES = st.one_of(
    st.just(DROP),
    st.integers(T - HOUR, T + HOUR),
    st.integers(T - HOUR, T + HOUR).map(
        lambda ms: (EPOCH + dt.timedelta(milliseconds=ms)).isoformat()
    ),
    st.just("2026-01-05T13:04:05.123Z"),
)


@st.composite
def records(draw: st.DrawFn) -> bytes | None:
    """Mostly-valid events (half) and chaotic ones: every contract branch gets exercised."""
    kind = draw(st.integers(0, 19))
    if kind == 0:
        return draw(st.none() | st.binary(max_size=40))
    clean = kind >= 10  # rare surprises only
    odd = st.integers(0, 30 if clean else 5).map(lambda v: v == 0)
    obj: dict[str, Any] = {}
    models = ["fraud-v3", "churn"] if clean else ["fraud-v3", "churn", "other", DROP, None, "", 3]
    model = draw(st.sampled_from(models))
    if model is not DROP:
        obj["model"] = model
    feats: dict[str, Any] = {}
    for key in FEATURE_KEYS:
        if draw(st.integers(0, 3)) == 0:
            continue
        typical = NUMBERS if key in NUMERIC_KEYS else CATEGORIES
        feats[key] = draw(JSONISH if draw(odd) else typical)
    shape = draw(st.integers(0, 12)) if not clean else 5
    obj["features"] = feats if shape > 1 else (None if shape == 1 else draw(JSONISH))
    if shape == 12:
        del obj["features"]
    prediction = NUMBERS if model == "fraud-v3" else CATEGORIES
    for key, good, bad in (
        ("ts", GOOD_TIMES, TIMES),
        ("id", st.text(max_size=30) | st.integers(-(2**63), 2**63), JSONISH),
        ("prediction", prediction, NUMBERS | CATEGORIES | JSONISH),
        ("meta", st.just(DROP), JSONISH),
    ):
        value = draw(st.just(DROP) | (bad if draw(odd) else good))
        if value is not DROP:
            obj[key] = value
    items = list(obj.items())
    order = draw(st.permutations(range(len(items))))
    text = json.dumps(dict(items[i] for i in order), ensure_ascii=draw(st.booleans()))
    raw = text.encode("utf-8")
    damage = draw(st.integers(0, 60 if clean else 15))
    if damage == 0 and raw:
        cut = draw(st.integers(0, len(raw) - 1))
        raw = raw[:cut]
    elif damage == 1:
        raw = raw.replace(b'"', b'"\xff', 1)
    elif damage == 2:
        raw = raw.replace(b"}", b', "z": 1e999}', 1)
    elif damage == 3:
        raw = b"[" + raw + b"]"
    return raw


BATCH = st.lists(st.tuples(records(), st.sampled_from([T, T, T + 3 * HOUR, -1])), max_size=25)


@PROPERTY
@given(BATCH, st.sampled_from([None, T, T + 2 * HOUR]), st.sampled_from([None, T, T + 3 * HOUR]))
def test_fast_path_equals_record_path(
    batch: list[tuple[bytes | None, int]], now: int | None, since: int | None
) -> None:
    values = [v for v, _ in batch]
    ts = [t for _, t in batch]
    offsets = list(range(len(values)))
    fast_parser = ContractParser(CATALOG, LIMITS)
    fast = fast_parser.parse(values, ts, offsets, 0, now_ms=now, since_ms=since)
    slow = ContractParser(CATALOG, LIMITS).parse(
        values, ts, offsets, 0, now_ms=now, since_ms=since, fast=False
    )
    assert snapshot(fast) == snapshot(slow)
    check_accounting(fast, offsets)
    # a parser that has learned undeclared keys must still agree
    again = fast_parser.parse(values, ts, offsets, 0, now_ms=now, since_ms=since)
    assert snapshot(again) == snapshot(slow)


@PROPERTY
@given(st.lists(st.one_of(st.none(), st.binary(max_size=64)), max_size=20))
def test_arbitrary_bytes_never_raise(values: list[bytes | None]) -> None:
    offsets = list(range(len(values)))
    for fast in (True, False):
        b = ContractParser(CATALOG, LIMITS).parse(values, [T] * len(values), offsets, 0, fast=fast)
        check_accounting(b, offsets)
        assert b.counts["accepted"] == 0


@PROPERTY
@given(st.lists(JSONISH, max_size=15))
def test_arbitrary_json_values_never_raise(items: list[Any]) -> None:
    values: list[bytes | None] = [json.dumps(v).encode() for v in items]
    offsets = list(range(len(values)))
    b = ContractParser(CATALOG, LIMITS).parse(values, [T] * len(values), offsets, 0)
    check_accounting(b, offsets)


@pytest.mark.parametrize("fast", [True, False])
def test_single_model_catalog_still_requires_the_model_key(fast: bool) -> None:
    # Regression: a lone tagged msgspec Struct decodes without its tag, so the fast
    # path once accepted events with no "model" when the catalog had one model.
    one = Catalog.model_validate({"solo": {"features": {"x": "numeric"}}})
    parser = ContractParser(one, Limits())
    values = [b'{"features": {"x": 1.0}}', b'{"model": "solo", "features": {"x": 1.0}}']
    batch = parser.parse(values, np.array([5, 5]), np.array([0, 1]), 0, fast=fast)
    assert [r.reason for r in batch.rejections] == ["missing_model"]
    assert len(batch.blocks["solo"]) == 1


@PROPERTY
@given(BATCH, st.sampled_from([80, 400, 2_000]))
def test_fast_path_equals_record_path_whatever_the_value_limit(
    batch: list[tuple[bytes | None, int]], max_value_bytes: int
) -> None:
    # With no raw value longer than max_value_bytes the fast path skips the oversize
    # scan (a decoded string never takes more UTF-8 bytes than its JSON text): the
    # record path must still agree, on either side of that line.
    limits = Limits(
        max_event_bytes=2_000,
        max_value_bytes=max_value_bytes,
        max_future_ms=HOUR,
        max_past_ms=HOUR,
    )
    values = [v for v, _ in batch]
    ts = [t for _, t in batch]
    offsets = list(range(len(values)))
    fast = ContractParser(CATALOG, limits).parse(values, ts, offsets, 0)
    slow = ContractParser(CATALOG, limits).parse(values, ts, offsets, 0, fast=False)
    assert snapshot(fast) == snapshot(slow)


def test_decoded_events_are_not_tracked_by_the_cyclic_gc() -> None:
    # gc=False Structs: a 10k batch must not hand the GC 20k fresh objects to scan.
    import gc

    from stream.contract._codec import build_codec, build_decoder

    codec = build_codec(CATALOG.model("fraud-v3"), 0, ["extra"], ["meta"])
    decoder = build_decoder([codec])
    assert decoder is not None
    ev = decoder.decode(dumps(event(features={"amount": 1.0, "extra": [1]}, meta={"a": 1})))
    assert not gc.is_tracked(ev)
    assert not gc.is_tracked(ev.features)
