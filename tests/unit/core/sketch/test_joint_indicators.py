"""Categorical indicator columns in the joint sketch: exact, split-free, and on the wire."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stream.core.sketch import JointSketch, SketchDecodeError, SketchMismatchError, loads
from stream.core.sketch.joint import indicator_codes, indicator_values

LAYOUT = (("x", "y"), ("z",), (("c", "a"), ("c", "b"), ("d", "é")))
CAT = st.sampled_from(["a", "b", "q", "é", None])
ROW = st.tuples(
    st.one_of(st.floats(-1e6, 1e6), st.just(float("nan"))),
    st.floats(allow_nan=True, allow_infinity=True),
    CAT,
    CAT,
)
ROWS = st.lists(ROW, max_size=40)


def _inputs(rows: list[tuple[float, float, str | None, str | None]]) -> list[np.ndarray]:
    x = np.array([r[0] for r in rows], dtype=np.float64)
    y = np.array([r[1] for r in rows], dtype=np.float64)
    c = np.array([r[2] for r in rows], dtype=object)
    d = np.array([r[3] for r in rows], dtype=object)
    cn, dn = np.array([v is None for v in c], bool), np.array([v is None for v in d], bool)
    return [
        x,
        y,
        indicator_values(c, cn, "a"),
        indicator_values(c, cn, "b"),
        indicator_values(d, dn, "é"),
    ]


def _sketch(rows: list[tuple[float, float, str | None, str | None]]) -> JointSketch:
    return JointSketch.zero(*LAYOUT).update_columns(_inputs(rows), len(rows))


@settings(max_examples=60, deadline=None)
@given(ROWS, st.data())
def test_any_split_and_merge_order_gives_identical_bytes(
    rows: list[tuple[float, float, str | None, str | None]], data: st.DataObject
) -> None:
    whole = _sketch(rows)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(rows)), max_size=4)))
    bounds = [0, *cuts, len(rows)]
    parts = [_sketch(rows[a:b]) for a, b in zip(bounds, bounds[1:], strict=False)]
    order = data.draw(st.permutations(range(len(parts))))
    merged = JointSketch.zero(*LAYOUT)
    for i in order:
        merged = merged.merge(parts[i])
    assert merged.to_bytes() == whole.to_bytes()
    assert loads(whole.to_bytes()).to_bytes() == whole.to_bytes()


@settings(max_examples=60, deadline=None)
@given(ROWS)
def test_indicator_counts_and_nulls_are_exact(
    rows: list[tuple[float, float, str | None, str | None]],
) -> None:
    s = _sketch(rows)
    assert s.columns == ("x", "y", "c=a", "c=b", "d=é")
    a_rows = sum(r[2] == "a" for r in rows)
    assert s.missing(2) == sum(r[2] is None for r in rows)  # a null category is missing
    assert s.pair_count(2, 3) == len(rows) - s.missing(2)
    sums = s.pair_sums(2, 2)
    assert sums[0] == a_rows and sums[1] == a_rows  # Σ1[a] = Σ1[a]² = rows with 'a'
    both = sum(r[2] == "a" and r[3] == "é" for r in rows)
    assert s.pair_sums(2, 4)[4] == both  # Σ1[c=a]·1[d=é]


@settings(max_examples=30, deadline=None)
@given(ROWS)
def test_numeric_part_equals_a_sketch_without_indicators(
    rows: list[tuple[float, float, str | None, str | None]],
) -> None:
    plain = JointSketch.zero(("x", "y"), ("z",)).update_columns(_inputs(rows)[:2], len(rows))
    assert _sketch(rows).without_indicators().to_bytes() == plain.to_bytes()


def test_layouts_must_match_to_merge_and_names_stay_distinct() -> None:
    with pytest.raises(SketchMismatchError, match="columns differ"):
        JointSketch.zero(*LAYOUT).merge(JointSketch.zero(("x", "y"), ("z",)))
    with pytest.raises(ValueError, match="distinct"):
        JointSketch.zero(("c=a", "y"), (), (("c", "a"),))
    with pytest.raises(ValueError, match="pairs of strings"):
        JointSketch.zero(("x",), (), (("c", 1),))  # type: ignore[arg-type]


def test_an_unknown_payload_layout_is_refused() -> None:
    blob = bytearray(JointSketch.zero(*LAYOUT).to_bytes())
    # header b"DSk" + version + type + flags, then the 0 marker and the layout version
    assert blob[6:8] == b"\x00\x02"
    blob[7] = 9
    with pytest.raises(SketchDecodeError, match="joint payload version 9"):
        loads(_refresh_crc(bytes(blob)))


def _refresh_crc(blob: bytes) -> bytes:
    head = blob[:-4]
    return head + zlib.crc32(head).to_bytes(4, "little")


@settings(max_examples=60, deadline=None)
@given(st.lists(CAT, max_size=40), st.sampled_from(["a", "b", "é", "zz"]))
def test_indicator_of_codes_equals_indicator_of_values(
    column: list[str | None], category: str
) -> None:
    cats = list(dict.fromkeys(v for v in column if v is not None)) + ["unused"]
    codes = np.array([-1 if v is None else cats.index(v) for v in column], dtype=np.int32)
    values = np.array(column, dtype=object)
    nulls = np.array([v is None for v in column], dtype=bool)
    a = indicator_values(values, nulls, category)
    b = indicator_codes(codes, np.array(cats, dtype=object), category)
    assert a.tobytes() == b.tobytes()
