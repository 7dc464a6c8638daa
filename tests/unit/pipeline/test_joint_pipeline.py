"""The joint sketch through ingest and rollup: flushed beside the features, merged exactly."""

from __future__ import annotations

import re

import numpy as np
import pytest

from stream.catalog import Catalog, ModelSpec
from stream.contract import parse_batch
from stream.core.sketch import JointSketch
from stream.core.window import HOUR_MS
from stream.pipeline.ingest import PartitionIngest
from stream.pipeline.memory import MemorySketchStore, MemoryWindowStore
from stream.pipeline.ports import JOINT_KEY
from stream.pipeline.rollup import roll_up
from stream.synth import Drift, SyntheticStream
from tests.unit.pipeline.test_rollup import store_partition

START = 1_767_225_600_000
FEATS = {"a": "numeric", "b": "numeric", "c": "categorical", "d": "numeric"}


def _spec(**joint: object) -> ModelSpec:
    return ModelSpec.model_validate({"name": "m", "features": FEATS, "joint": joint})


def _ingest(spec: ModelSpec, gen: SyntheticStream, n: int, parts: int) -> dict[int, dict]:
    """Events dealt round-robin to ``parts`` partitions; each partition's flushed hours."""
    values, ts = gen.encoded(0, n), gen.times(0, n).tolist()
    catalog = Catalog.of(spec)
    out: dict[int, dict] = {}
    for p in range(parts):
        ing = PartitionIngest(spec, p, "t", "ns", allowed_lateness_ms=0)
        mine = list(range(p, n, parts))
        for lo in range(0, len(mine), 97):  # odd batch size: batches straddle hours
            idx = mine[lo : lo + 97]
            batch = parse_batch([values[i] for i in idx], [ts[i] for i in idx], idx, p, catalog)
            ing.apply(batch.blocks.get("m"), idx[-1])
        ing.go_idle(None)
        w = ing.pending_write()
        assert w is not None
        out[p] = {hw.hour_ms: (hw.events, dict(hw.sketches)) for hw in w.hours}
    return out


def test_rollup_of_any_partitioning_equals_one_sketch_of_the_hour() -> None:
    spec = _spec()
    gen = SyntheticStream(
        spec, start_ms=START, events_per_hour=900, seed=2,
        drifts=[Drift("b", "correlate", 0.7, 0, partner="a"), Drift("d", "null", 0.2, 0)],
    )  # fmt: skip
    n = 2_000
    ts, cols = gen.columns(0, n)
    hour = START + HOUR_MS
    rows = (ts >= hour) & (ts < hour + HOUR_MS)
    x = np.array([[np.nan if v is None else v for v in cols[c]] for c in "abd"]).T[rows]
    direct = JointSketch.zero(("a", "b", "d")).update(x)
    windows = []
    for parts in (1, 3):
        sketches = MemorySketchStore()
        fw = MemoryWindowStore(sketches)
        for p, hours in _ingest(spec, gen, n, parts).items():
            store_partition(p, START + 10 * HOUR_MS, hours, sketches)
            fw.add_pending("m", list(hours))
        result = roll_up(spec, fw)
        windows.append({w.key.start_ms: w for w in result.hours})
    blobs = [w[hour].sketches[JOINT_KEY] for w in windows]
    assert blobs[0] == blobs[1] == direct.to_bytes()
    assert JointSketch.from_bytes(blobs[0]).missing(2) > 0  # d's nulls counted


def test_joint_off_or_one_numeric_feature_writes_nothing() -> None:
    gen = SyntheticStream(_spec(), start_ms=START, events_per_hour=900, seed=2)
    for spec in (
        _spec(enabled=False),
        ModelSpec.model_validate({"name": "m", "features": {"a": "numeric"}}),
    ):
        for hours in _ingest(spec, gen, 300, 1).values():
            assert all(JOINT_KEY not in sk for _, sk in hours.values())


def test_columns_over_the_cap_are_named() -> None:
    spec = _spec(max_columns=2)
    assert spec.joint_columns == (("a", "b"), ("d",))
    gen = SyntheticStream(spec, start_ms=START, events_per_hour=900, seed=2)
    (hours,) = _ingest(spec, gen, 300, 1).values()
    _, sk = next(iter(hours.values()))
    j = JointSketch.from_bytes(sk[JOINT_KEY])
    assert (j.columns, j.excluded) == (("a", "b"), ("d",))


def test_a_declared_group_is_the_sketch_in_its_order() -> None:
    spec = _spec(columns=["d", "a"])
    assert spec.joint_columns == (("d", "a"), ("b",))
    gen = SyntheticStream(spec, start_ms=START, events_per_hour=900, seed=2)
    (hours,) = _ingest(spec, gen, 300, 1).values()
    _, sk = next(iter(hours.values()))
    j = JointSketch.from_bytes(sk[JOINT_KEY])
    assert (j.columns, j.excluded) == (("d", "a"), ("b",))
    assert j.pair_count(0, 1) > 0


@pytest.mark.parametrize(
    ("joint", "says"),
    [
        ({"columns": ["a", "c"]}, "not numeric features: ['c']"),
        ({"columns": ["a"]}, "two or more distinct numeric features"),
        ({"columns": ["a", "b", "d"], "max_columns": 2}, "3 columns over joint.max_columns = 2"),
    ],
)
def test_a_bad_declared_group_is_refused_in_one_line(joint: dict, says: str) -> None:
    with pytest.raises(ValueError, match=re.escape(says)):
        _spec(**joint)
