"""Tables → the contract's columns: kind inference, cell rules, and chunking invariants."""

from __future__ import annotations

import csv
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stream.adapters.tables import open_table
from stream.catalog import ModelSpec
from stream.pipeline.offline import fold
from stream.pipeline.reference import ReferenceBuilder
from stream.pipeline.tabular import Chunk, chunk_block, infer_kinds

SPEC = ModelSpec.model_validate(
    {
        "name": "m",
        "features": {"x": "numeric", "c": "categorical"},
        "prediction": "numeric",
    }
)
T0 = 1_767_225_600_000


def _bytes(hours: dict[int, dict[str, Any]]) -> dict[int, dict[str, bytes]]:
    return {h: {f: s.to_bytes() for f, s in row.items()} for h, row in hours.items()}


def _csv(path: Path, header: list[str], rows: list[list[Any]]) -> Path:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def test_inference_rule_csv_jsonl_and_overrides() -> None:
    c = Chunk(
        1,
        4,
        {
            "amount": ["1.5", "", "1e3", "-2"],
            "zip": ["10115", "80331", "", "20095"],
            "country": ["DE", "FR", "", "7"],
            "empty": ["", "", "", ""],
            "ts": ["2026-01-01T00:00Z"] * 4,
        },
        "csv",
    )
    inf = infer_kinds(c, exclude=["ts"], categorical=["zip"])
    assert inf.kinds == {"amount": "numeric", "zip": "categorical", "country": "categorical"}
    assert "empty" in inf.skipped and "--numeric empty" in inf.skipped["empty"]
    j = Chunk(1, 3, {"n": [1, 2.5, None], "b": [True, False, None], "s": ["a", 1, None]}, "jsonl")
    assert infer_kinds(j).kinds == {"n": "numeric", "b": "categorical", "s": "categorical"}


def test_csv_cells_follow_the_contract(tmp_path: Path) -> None:
    path = _csv(
        tmp_path / "t.csv",
        ["x", "c", "prediction", "ts"],
        [
            ["1.5", "DE", "0.1", str(T0)],
            ["", "", "", "2026-01-01T00:30:00Z"],  # nulls, ISO time
            ["abc", "FR", "0.2", str(T0)],  # not a number: wrong_type, named
            ["nan", "FR", "inf", str(T0)],  # non-finite numbers are kept for the sketch
            ["2", "x" * 2000, "0.3", str(T0)],  # oversized category
            ["3", "DE", "0.4", "yesterday"],  # bad time
            ["4", "DE"],  # short row
        ],
    )
    table = open_table(path)
    (chunk,) = list(table.chunks())
    block, rejects = chunk_block(chunk, "m", SPEC.kinds, ts_column="ts")
    assert block is not None and len(block) == 3
    assert rejects.counts == {"wrong_type": 1, "oversized": 1, "bad_ts": 1, "bad_row": 1}
    assert "row 3: column 'x': not a number ('abc')" in rejects.examples["wrong_type"]
    assert rejects.examples["bad_row"] == ["row 7: 2 fields, the header has 4"]
    x = block.numeric["x"]
    assert x.nulls.tolist() == [False, True, False]
    assert np.isnan(x.values[2]) and not x.nulls[2]  # NaN kept as a value (the sketch counts it)
    assert block.categorical["c"].values.tolist() == ["DE", None, "FR"]
    assert block.ts_ms.tolist() == [T0, T0 + 1_800_000, T0]


def _event_strategy() -> st.SearchStrategy[dict[str, Any]]:
    value = st.one_of(
        st.none(),
        st.floats(-1e6, 1e6, allow_nan=False),
        st.integers(-1000, 1000),
        st.booleans(),
        st.sampled_from(["DE", "FR", "12.5", ""]),
    )
    ts = st.one_of(
        st.integers(T0, T0 + 5 * 3_600_000),
        st.sampled_from(["2026-01-01T03:04:05.123Z", "2026-01-01T01:00:00+01:00", "nope", ""]),
        st.just(1.5),
    )
    return st.fixed_dictionaries(
        {"x": value, "c": value, "prediction": value, "ts": ts, "extra": value}
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(_event_strategy(), min_size=1, max_size=60), size=st.integers(1, 25))
def test_event_jsonl_folds_exactly_as_the_contract_parser(
    rows: list[dict[str, Any]], size: int
) -> None:
    """The same events as JSONL through the table path and through ContractParser."""
    events = [
        {
            "model": "m",
            "ts": r["ts"],
            "features": {"x": r["x"], "c": r["c"], "extra": r["extra"]},
            "prediction": r["prediction"],
        }
        for r in rows
    ]
    raw = [json.dumps(e).encode() for e in events]
    parsed = ReferenceBuilder(SPEC, "p")
    parsed.add(raw, [T0] * len(raw))  # record time only matters for an absent ts
    via_contract = parsed.build()
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "e.jsonl"
        path.write_bytes(b"\n".join(raw) + b"\n")
        # "" is no ts in a table (there is no record timestamp): the contract's bad_ts.
        folded = fold(SPEC, open_table(path).chunks(size, "m"), ts_column="ts", name="t")
    assert folded.accepted == via_contract.events
    assert folded.rejects.total == via_contract.rejected
    assert _bytes(folded.ref.hours) == _bytes(via_contract.hours)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cells=st.lists(
        st.tuples(
            st.one_of(st.floats(-1e9, 1e9).map(repr), st.sampled_from(["", "x", "1", "inf"])),
            st.sampled_from(["", "DE", "FR", "7"]),
            st.integers(0, 4 * 3_600_000).map(lambda t: str(T0 + t)),
        ),
        min_size=1,
        max_size=80,
    ),
    a=st.integers(1, 30),
    b=st.integers(1, 30),
)
def test_chunk_size_does_not_change_the_sketches(
    cells: list[tuple[str, str, str]], a: int, b: int
) -> None:
    spec = ModelSpec.model_validate({"name": "m", "features": {"x": "numeric", "c": "categorical"}})
    with tempfile.TemporaryDirectory() as d:
        path = _csv(Path(d) / "t.csv", ["x", "c", "ts"], [list(c) for c in cells])
        one = fold(spec, open_table(path).chunks(a), ts_column="ts", name="a")
        two = fold(spec, open_table(path).chunks(b), ts_column="ts", name="b")
    assert one.hour_events == two.hour_events
    assert one.rejects.counts == two.rejects.counts
    assert _bytes(one.ref.hours) == _bytes(two.ref.hours)
    assert one.accepted + one.rejects.total == len(cells)  # every row is counted once
