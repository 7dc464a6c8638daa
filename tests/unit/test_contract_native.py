"""The C columnar parse (stream/contract/_columnar.py, native/fastparse.c) decides speed only.

Every test here compares the parser with the extension against the per-record reference
(and the msgspec-only fast path), record by record and bit for bit, on the same strategies
as tests/unit/test_contract.py, plus the edges the C code decides itself: number rounding,
integer limits, escapes, UTF-8, duplicate keys, whitespace, time shapes.
"""

from __future__ import annotations

import datetime as dt
import json
import struct
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from stream.contract import ContractParser, Limits, ParsedBatch, parse_iso_ms
from stream.contract import _columnar as columnar
from stream.contract._time import parse_iso_ms_many
from tests.unit.test_contract import (
    BATCH,
    CATALOG,
    DROP,
    HOUR,
    LIMITS,
    PROPERTY,
    T,
    check_accounting,
    dumps,
    event,
    iso_text,
    snapshot,
)


def test_the_extension_is_built() -> None:
    # `make install` builds it (setup.py, native/fastparse.c); without it every test below
    # would only compare the Python paths with themselves.
    assert columnar.available(), columnar.UNAVAILABLE


def three_ways(
    values: list[bytes | None],
    ts: list[int] | None = None,
    *,
    limits: Limits = LIMITS,
    now_ms: int | None = None,
    since_ms: int | None = None,
) -> ParsedBatch:
    """Parse with the extension, without it, and per record; all three must agree."""
    n = len(values)
    rts = ts or [T] * n
    offsets = list(range(100, 100 + n))

    def run(native: bool | None, fast: bool) -> ParsedBatch:
        parser = ContractParser(CATALOG, limits, native=native)
        return parser.parse(values, rts, offsets, 3, now_ms=now_ms, since_ms=since_ms, fast=fast)

    with_c, without_c, slow = run(True, True), run(False, True), run(False, False)
    assert snapshot(with_c) == snapshot(slow)
    assert snapshot(without_c) == snapshot(slow)
    check_accounting(with_c, offsets)
    return with_c


def claimed(values: list[bytes | None], limits: Limits = LIMITS) -> list[bool]:
    """Which records the C pass claims (the rest go to the Python paths)."""
    rts = np.full(len(values), T, dtype=np.int64)
    _, unclaimed = columnar.NativeParse(CATALOG, limits).parse(values, rts, None, None)
    out = [True] * len(values)
    for i in unclaimed.tolist():
        out[i] = False
    return out


# ------------------------------------------------------------------ the same properties


@PROPERTY
@given(BATCH, st.sampled_from([None, T, T + 2 * HOUR]), st.sampled_from([None, T, T + 3 * HOUR]))
def test_with_the_extension_equals_record_path(
    batch: list[tuple[bytes | None, int]], now: int | None, since: int | None
) -> None:
    three_ways([v for v, _ in batch], [t for _, t in batch], now_ms=now, since_ms=since)


@PROPERTY
@given(BATCH, st.sampled_from([4, 5, 80, 400, 2_000]))
def test_with_the_extension_whatever_the_value_limit(
    batch: list[tuple[bytes | None, int]], max_value_bytes: int
) -> None:
    limits = Limits(2_000, max_value_bytes, max_future_ms=HOUR, max_past_ms=HOUR)
    three_ways([v for v, _ in batch], [t for _, t in batch], limits=limits)


@PROPERTY
@given(st.data())
def test_damaged_valid_events_agree(data: st.DataObject) -> None:
    # Byte edits of a claimable event hit every branch of the C scanner.
    raw = bytearray(dumps(event(id=data.draw(st.integers(0, 10**20)))))
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(raw) - 1))
        op = data.draw(st.integers(0, 2))
        byte = data.draw(st.sampled_from(b'{}[]",:\\ -.0123456789eEtrufalsn\x00\x1f\x7f\x80\xff'))
        if op == 0:
            raw[i] = byte
        elif op == 1:
            raw.insert(i, byte)
        else:
            del raw[i]
    three_ways([bytes(raw), dumps(event())])


# ------------------------------------------------------------------ claimable events
# The strategies of test_contract.py put undeclared keys in almost every record (the C pass
# leaves those to msgspec): these events use declared keys only, so most are claimed, with
# every kind of value the C pass converts itself and occasional damage.

DECLARED = {
    "fraud-v3": (["amount", "n_items"], ["country", "device"], "numeric"),
    "churn": (["tenure"], [], "categorical"),
}
NUMBER_EDGES = st.sampled_from(
    [
        0,
        -0.0,
        0.0,
        1,
        -1,
        10**18 - 1,
        -(10**18) + 1,
        10**18,
        2**53 + 1,
        1e22,
        1e23,
        5e-324,
        2.2250738585072014e-308,
        1.7976931348623157e308,
        0.1,
        123456789012345.67,
    ]
)
CLAIMABLE_NUMBERS = (
    st.floats(allow_nan=False, allow_infinity=False)
    | st.integers(-(10**6), 10**6)
    | st.integers(-(10**19), 10**19)
    | NUMBER_EDGES
    | st.none()
)
CLAIMABLE_TEXT = (
    st.sampled_from(["DE", "FR", "", "true", "0", "-1", "ü" * 8, "ü" * 17, "x" * 32, "x" * 33])
    | st.integers(-(2**64), 2**64)
    | st.booleans()
    | st.none()
    | st.text(max_size=12)
)


GOOD_TIME = st.integers(T - HOUR, T + HOUR).map(
    lambda ms: (dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(milliseconds=ms)).isoformat()
) | st.sampled_from(
    ["2026-01-05T13:04:05.123Z", "2026-01-05T13:04:05Z", "2026-01-05T14:04:05.123456+01:00"]
)


@st.composite
def claimable(draw: st.DrawFn) -> bytes:
    model = draw(st.sampled_from(["fraud-v3", "churn"]))
    numeric, categorical, prediction = DECLARED[model]
    feats: dict[str, Any] = {}
    for key in numeric + categorical:
        if draw(st.integers(0, 5)):
            feats[key] = draw(CLAIMABLE_NUMBERS if key in numeric else CLAIMABLE_TEXT)
    obj: dict[str, Any] = {"model": model, "features": feats}
    for key, values in (
        (
            "ts",
            GOOD_TIME
            | GOOD_TIME
            | iso_text()
            | st.integers(T - HOUR, T + HOUR)
            | st.integers(-(10**19), 10**19),
        ),
        ("id", st.text(max_size=10) | st.integers(-(2**64), 2**64) | st.none()),
        ("prediction", CLAIMABLE_NUMBERS if prediction == "numeric" else CLAIMABLE_TEXT),
    ):
        if draw(st.integers(0, 4)):
            obj[key] = draw(values)
    items = list(obj.items())
    order = draw(st.permutations(range(len(items))))
    layout = draw(st.sampled_from([{}, {"separators": (",", ":")}, {"indent": 1}]))
    text = json.dumps(dict(items[i] for i in order), ensure_ascii=draw(st.booleans()), **layout)
    raw = text.encode()
    if draw(st.integers(0, 9)) == 0 and raw:  # damage: cut, or one byte changed
        i = draw(st.integers(0, len(raw) - 1))
        raw = (
            raw[:i]
            if draw(st.booleans())
            else raw[:i] + draw(st.binary(min_size=1, max_size=1)) + raw[i + 1 :]
        )
    return raw


CLAIMABLE_BATCH = st.lists(
    st.tuples(claimable(), st.sampled_from([T, T, T + 3 * HOUR, -1])), max_size=25
)


@PROPERTY
@given(
    CLAIMABLE_BATCH,
    st.sampled_from([None, T, T + 2 * HOUR]),
    st.sampled_from([None, T, T + 3 * HOUR]),
    st.sampled_from([4, 32, 2_000]),
)
def test_claimable_events_agree_three_ways(
    batch: list[tuple[bytes, int]], now: int | None, since: int | None, max_value_bytes: int
) -> None:
    limits = Limits(2_000, max_value_bytes, max_future_ms=HOUR, max_past_ms=HOUR)
    values: list[bytes | None] = [v for v, _ in batch]
    three_ways(values, [t for _, t in batch], limits=limits, now_ms=now, since_ms=since)


def test_the_claimable_strategy_is_mostly_claimed() -> None:
    # Guards the property above: were the C pass to claim nothing, it would test nothing.
    seen = [0, 0]

    @PROPERTY
    @given(CLAIMABLE_BATCH)
    def count(batch: list[tuple[bytes, int]]) -> None:
        values: list[bytes | None] = [v for v, _ in batch]
        seen[0] += len(values)
        seen[1] += sum(claimed(values, Limits(2_000, 2_000, HOUR, HOUR)))

    count()
    print(f"claimed {seen[1]} of {seen[0]}")
    assert seen[1] > 0.3 * seen[0], seen


# ------------------------------------------------------------------ what the C pass claims


def test_plain_events_are_claimed_in_any_key_order_and_layout() -> None:
    plain = event()
    values = [
        dumps(plain),
        json.dumps(plain, indent=2).encode(),
        json.dumps(dict(reversed(plain.items())), separators=(",", ":")).encode(),
        dumps(event(features={}, prediction=None, id=None, ts=DROP)),
        dumps({"model": "churn", "features": {"tenure": 3}, "prediction": True}),
    ]
    assert claimed(values) == [True] * len(values)
    b = three_ways(values)
    assert b.counts["accepted"] == len(values)


@pytest.mark.parametrize(
    "raw",
    [
        b' {"model": "fraud-v3", "features": {}}',  # leading whitespace
        b'{"model": "fraud-v3", "features": {}} ',  # trailing whitespace
        b'{"model": "fraud-v3", "features": {"amount": 1, "amount": 2}}',  # duplicate feature
        b'{"model": "fraud-v3", "model": "fraud-v3", "features": {}}',  # duplicate key
        b'{"model": "fraud-v3", "features": {"country": "D\\u00c9"}}',  # escape
        b'{"model": "fraud-v3", "features": {"new_a": 1}}',  # undeclared feature
        b'{"model": "fraud-v3", "features": {}, "meta": 1}',  # extra top-level key
        b'{"model": "churn", "features": {}, "prediction": 0.5}',  # float category
        b'{"model": "fraud-v3", "features": {"country": -0}}',  # "-0" is category "0"
        b'{"model": "fraud-v3", "features": {"amount": 12345678901234567890}}',  # > 18 digits
        b'{"model": "fraud-v3", "features": {"amount": 1e400}}',  # beyond float
        b'{"model": "fraud-v3", "features": {"amount": 1e-400}}',  # underflow
        b'{"model": "fraud-v3", "features": {"amount": 5e-324}}',  # subnormal
        b'{"model": "fraud-v3", "features": {"amount": true}}',  # wrong type
        b'{"model": "fraud-v3", "features": {"amount": [1]}}',  # container
        b'{"model": "fraud-v3", "features": null}',
        b'{"model": "fraud-v3"}',
        b'{"model": "other", "features": {}}',
        b'{"model": "", "features": {}}',
        b'{"model": "fraud-v3", "features": {}, "ts": "2026-01-05 13:04:05Z"}',  # other shape
        b'{"model": "fraud-v3", "features": {}, "ts": 1.5}',
        b'{"model": "fraud-v3", "features": {}, "id": true}',
        b'{"model": "fraud-v3", "features": {"country": "\xff"}}',  # not UTF-8
        b'{"model": "fraud-v3", "features": {"country": "\xed\xa0\x80"}}',  # surrogate
        b"",
        None,
    ],
)
def test_anything_unusual_is_left_to_the_python_paths(raw: bytes | None) -> None:
    assert claimed([raw]) == [False]
    three_ways([raw, dumps(event())])


def test_values_over_the_byte_limits_are_left_to_the_python_paths() -> None:
    long_id = dumps(event(id="x" * 33))  # LIMITS.max_value_bytes = 32
    long_cat = dumps(event(features={"country": "ü" * 17}))  # 34 bytes, 17 characters
    big = dumps(event(features={"amount": 1.0, "country": "DE" + " " * 0}, pad="y" * 2_000))
    assert claimed([long_id, long_cat, big]) == [False, False, False]
    three_ways([long_id, long_cat, big])


def test_event_time_bounds_are_the_contracts() -> None:
    values = [
        dumps(event(ts=T + 2 * HOUR)),  # after the record timestamp + max_future_ms
        dumps(event(ts=T - 2 * HOUR)),  # before the record timestamp - max_past_ms
        dumps(event(ts=DROP)),  # no ts and no record timestamp (-1 below)
        dumps(event()),
    ]
    assert claimed(values) == [True] * 4
    b = three_ways(values, [T, T, -1, T])
    assert [r.reason for r in b.rejections] == ["ts_out_of_bounds", "ts_out_of_bounds", "bad_ts"]
    ahead = [dumps(event(ts=T + 10 * 60_000)), dumps(event(ts=T - 2 * HOUR)), dumps(event())]
    b = three_ways(ahead, [-1, -1, -1], now_ms=T, since_ms=T - 30 * 60_000)
    assert [r.reason for r in b.rejections] == ["ts_in_future", "ts_out_of_bounds"]


# ------------------------------------------------------------------ numbers and times


def one_number(text: str) -> float | None:
    raw = b'{"model": "fraud-v3", "features": {"amount": ' + text.encode() + b"}}"
    b = three_ways([raw])
    if "fraud-v3" not in b.blocks:
        return None
    return float(b.blocks["fraud-v3"].numeric["amount"].values[0])


def bits(x: float) -> bytes:
    return struct.pack("<d", x)


@PROPERTY
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_floats_round_trip_bit_for_bit(x: float) -> None:
    got = one_number(json.dumps(x))
    assert got is not None and bits(got) == bits(x)


@PROPERTY
@given(
    st.integers(0, 10**25),
    st.integers(0, 25),
    st.integers(-330, 330),
    st.booleans(),
)
def test_decimal_literals_are_correctly_rounded(
    digits: int, point: int, exp: int, negative: bool
) -> None:
    text = str(digits)
    point = min(point, len(text) - 1)
    if point:
        text = text[:-point] + "." + text[-point:]
    text = ("-" if negative else "") + text + f"e{exp}"
    got = one_number(text)  # three_ways checked it equals the record path (msgspec)
    if got is not None:
        assert bits(got) == bits(float(text))


@pytest.mark.parametrize(
    "text",
    [
        "0",
        "-0",
        "-0.0",
        "0.0",
        "1",
        "-1",
        "999999999999999999",
        "-999999999999999999",
        "9007199254740993",
        "0.1",
        "1.7976931348623157e308",
        "2.2250738585072014e-308",
        "123456789012345.6",
        "1234567890123456.7",
        "1e22",
        "1e23",
        "4.35",
        "0.000001",
    ],
)
def test_number_edges(text: str) -> None:
    got = one_number(text)
    assert got is not None and bits(got) == bits(
        float(int(text)) if text.lstrip("-").isdigit() else float(text)
    )


@PROPERTY
@given(
    st.datetimes(dt.datetime(1, 1, 1), dt.datetime(9999, 12, 31)),  # noqa: DTZ001
    st.sampled_from(["Z", "+00:00", "-05:30", "+23:59", "+24:00", "-00:60"]),
    st.sampled_from(["", ".1", ".123", ".123456", ".1234567"]),
)
def test_iso_times_claimed_equal_fromisoformat(when: dt.datetime, zone: str, frac: str) -> None:
    text = when.strftime("%Y-%m-%dT%H:%M:%S").rjust(19, "0") + frac + zone
    raw = json.dumps({"model": "fraud-v3", "features": {}, "ts": text}).encode()
    rts = parse_iso_ms(text)
    b = three_ways([raw], [rts if rts is not None else T], limits=Limits(2_000, 32, 2**62, 2**62))
    if claimed([raw], Limits(2_000, 32, 2**62, 2**62))[0]:
        ms, ok = parse_iso_ms_many([text])
        assert ok[0] and b.blocks["fraud-v3"].ts_ms.tolist() == [parse_iso_ms(text)] == ms.tolist()


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("2024-02-29T00:00:00Z", True),
        ("2023-02-29T00:00:00Z", False),
        ("2026-01-05T13:04:60Z", False),
        ("2026-01-05T24:00:00Z", False),
        ("2026-13-05T13:04:05Z", False),
        ("0000-01-05T13:04:05Z", False),
        ("2026-01-05t13:04:05Z", False),
        ("2026-01-05T13:04:05z", False),
    ],
)
def test_time_edges(text: str, ok: bool) -> None:
    raw = json.dumps({"model": "fraud-v3", "features": {}, "ts": text}).encode()
    assert claimed([raw]) == [ok]
    three_ways([raw])


@pytest.mark.parametrize("ident", [0, -0, 7, -(2**63), 2**63, 10**18 - 1, "e-1", ""])
def test_ids_and_integer_categories(ident: Any) -> None:
    raw = dumps(event(id=ident, features={"country": ident, "device": True}))
    three_ways([raw])


def test_a_column_shares_one_str_per_distinct_value() -> None:
    values = [dumps(event(id=f"e-{i}", features={"country": c})) for i, c in enumerate("ABAB")]
    b = three_ways(values)
    col = b.blocks["fraud-v3"].categorical["country"].values
    assert col.tolist() == ["A", "B", "A", "B"] and col[0] is col[2]


def test_a_large_batch_with_every_kind_of_record() -> None:
    rng = np.random.default_rng(7)
    values: list[bytes | None] = []
    for i in range(3_000):
        k = int(rng.integers(0, 10))
        if k == 0:
            values.append(dumps(event(features={"amount": "1"})))
        elif k == 1:
            values.append(dumps({"model": "other", "features": {}}))
        elif k == 2:
            values.append(None)
        else:
            values.append(dumps(event(id=i, features={"amount": float(rng.normal())})))
    b = three_ways(values)
    assert b.counts["accepted"] > 2_000


# ------------------------------------------------------------------ category codes


def check_codes(b: ParsedBatch) -> int:
    """Every coded column agrees with its values; returns how many columns were coded."""
    coded = 0
    for block in b.blocks.values():
        for col in block.categorical.values():
            if col.codes is None:
                assert col.categories is None
                continue
            assert col.categories is not None
            coded += 1
            cats = col.categories.tolist()
            assert len(set(cats)) == len(cats) and all(type(c) is str for c in cats)
            codes = col.codes.tolist()
            assert len(codes) == len(col.values)
            assert col.nulls.tolist() == [c < 0 for c in codes]
            for v, c in zip(col.values.tolist(), codes, strict=True):
                assert v is None if c < 0 else v is cats[c]
    return coded


@PROPERTY
@given(BATCH)
def test_coded_columns_agree_with_their_values(batch: list[tuple[bytes | None, int]]) -> None:
    check_codes(three_ways([v for v, _ in batch], [t for _, t in batch]))


def test_a_clean_batch_is_coded_and_equal_texts_share_a_code() -> None:
    feats: list[dict[str, Any]] = [
        {"country": "5", "device": True},
        {"country": 5, "device": "true"},
        {"country": None, "device": "x"},
        {"device": "x"},
        {"country": "Ünïcode", "device": False},
        {"country": "Ünïcode", "device": "false"},
    ]
    values = [
        json.dumps(event(id=f"e-{i}", features=f), ensure_ascii=False).encode()
        for i, f in enumerate(feats)
    ]
    assert all(claimed(values))
    b = three_ways(values)
    assert check_codes(b) == 2  # every categorical column of the model came coded
    country = b.blocks["fraud-v3"].categorical["country"]
    device = b.blocks["fraud-v3"].categorical["device"]
    assert country.categories is not None and device.categories is not None
    assert country.categories.tolist() == ["5", "Ünïcode"]
    assert country.codes is not None and country.codes.tolist() == [0, 0, -1, -1, 1, 1]
    assert device.categories.tolist() == ["true", "x", "false"]
    assert device.codes is not None and device.codes.tolist() == [0, 0, 1, 1, 2, 2]


def test_a_batch_mixing_the_paths_has_values_only() -> None:
    # one record leaves the C pass (an escape), so the block is assembled from two pieces
    values = [
        dumps(event(id="e-1", features={"country": "DE"})),
        b'{"model":"fraud-v3","id":"e-2","features":{"country":"D\\u0045"}}',
    ]
    assert claimed(values) == [True, False]
    b = three_ways(values)
    col = b.blocks["fraud-v3"].categorical["country"]
    assert col.codes is None and col.values.tolist() == ["DE", "DE"]


@pytest.mark.parametrize(
    ("stop", "claim"),
    [(b"\x01", False), (b"\x1f", False), (b"\\u0041", False), (b'\\"', False),
     (b"\xc3\xa9", True), (b"\xff", False), (b"\x7f", True), (b" ", True)],
)  # fmt: skip
def test_every_string_length_and_stop_position(stop: bytes, claim: bool) -> None:
    # the string scan reads eight bytes at a time: a stop byte (escape, control, non-ASCII)
    # at every offset of strings of every length around the word size, in a key and a value
    values: list[bytes | None] = []
    expect: list[bool] = []
    for length in range(20):
        for at in range(length + 1):
            text = b"a" * at + stop + b"b" * (length - at)
            values.append(b'{"model":"fraud-v3","id":"e","features":{"country":"' + text + b'"}}')
            values.append(b'{"model":"fraud-v3","id":"' + text + b'","features":{}}')
            expect += [claim, claim]
        plain = b"c" * length  # no stop at all
        values.append(b'{"model":"fraud-v3","id":"e","features":{"country":"' + plain + b'"}}')
        expect.append(True)
    assert claimed(values) == expect
    three_ways(values)


def test_every_digit_run_layout_and_position() -> None:
    # the number scan reads up to eight digits at once: integer parts of 1-12 digits,
    # fractions of 0-19 digits after 0-10 leading zeros, each next to every kind of
    # following byte and as close to the record's end as it gets; also as an integer
    # category, whose text is its literal
    values: list[bytes | None] = []
    texts: list[str] = []
    for whole in ["0", "7", "10", "305", "1234", "90817", "123456", "7000001", "12345678",
                  "987654321", "10000000000", "123456789012"]:  # fmt: skip
        for zeros in (0, 1, 7, 10):
            for frac in range(0, 20, 3):
                digits = "0" * zeros + "".join(str((i * 7 + 3) % 10) for i in range(frac))
                text = whole + ("." + digits if digits else "")
                texts.append(text)
                for after in (b"}}", b" }}", b',"device":"x"}}', b"e3}}", b"E-2}}", b"x}}"):
                    feature = b'"amount":' + text.encode() + after
                    values.append(b'{"model":"fraud-v3","id":"e","features":{' + feature)
    for text in texts:
        if "." not in text:
            values.append(b'{"model":"fraud-v3","features":{"country":' + text.encode() + b"}}")
    b = three_ways(values)  # all three paths agree record for record
    assert sum(claimed(values)) > len(values) // 2
    got = b.blocks["fraud-v3"].numeric["amount"].values
    plain = [float(t) for t in texts]  # the records ending right after the number, in order
    idx = [i * 6 for i in range(len(texts))]
    ok = np.flatnonzero(np.isin(b.blocks["fraud-v3"].offsets, np.asarray(idx) + 100))
    assert [bits(float(v)) for v in got[ok]] == [bits(x) for x in plain]
