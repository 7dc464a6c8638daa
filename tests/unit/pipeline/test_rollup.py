"""Rollups: complete hours only, merged exactly across partitions, idempotent."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from stream.catalog import ModelSpec
from stream.core.sketch import CategoricalSketch, NumericSketch
from stream.core.window import DAY, DAY_MS, HOUR_MS, WindowKey
from stream.pipeline.memory import MemorySketchStore, MemoryWindowStore
from stream.pipeline.ports import FlushWrite, HourWrite
from stream.pipeline.rollup import complete_through, roll_up

SPEC = ModelSpec.model_validate({"name": "m", "features": {"x": "numeric", "c": "categorical"}})


def store_partition(
    partition: int,
    sealed: int | None,
    hours: Mapping[int, tuple[int, dict[str, bytes]]] | None = None,
    sketches: MemorySketchStore | None = None,
) -> MemorySketchStore:
    """Store ``partition``'s seal point and sealed hours as its ingest would flush them."""
    store = sketches if sketches is not None else MemorySketchStore()
    token, _ = store.claim("m", partition)
    written = tuple(
        HourWrite(h, n, blobs, sealed=True, undeclared={})
        for h, (n, blobs) in (hours or {}).items()
    )
    store.flush([FlushWrite("m", partition, token, None, None, sealed, (), False, written, {}, ())])
    return store


def _blobs(values: np.ndarray, cats: list[str]) -> dict[str, bytes]:
    return {
        "x": NumericSketch.zero().update(values).to_bytes(),
        "c": CategoricalSketch.zero().update(cats).to_bytes(),
    }


def test_complete_through_waits_for_every_partition() -> None:
    assert complete_through({}) is None
    assert complete_through({0: (5 * HOUR_MS, False), 1: (None, False)}) is None
    assert complete_through({0: (5 * HOUR_MS, False), 1: (2 * HOUR_MS, False)}) == 2 * HOUR_MS
    # An idle partition that never saw the model holds nothing back.
    assert complete_through({0: (5 * HOUR_MS, False), 1: (None, True)}) == 5 * HOUR_MS


def test_hours_roll_up_only_when_complete_and_only_once() -> None:
    sketches = MemorySketchStore()
    rng = np.random.default_rng(0)
    values = {(p, h): rng.normal(size=50) for p in range(3) for h in range(3)}
    for p in range(3):
        hours = {h * HOUR_MS: (50, _blobs(values[(p, h)], ["a", "b"] * 25)) for h in range(3)}
        store_partition(p, 3 * HOUR_MS if p < 2 else HOUR_MS, hours, sketches)
    store = MemoryWindowStore(sketches)
    store.add_pending("m", [0, HOUR_MS, 2 * HOUR_MS])
    first = roll_up(SPEC, store)
    assert [w.key.start_ms for w in first.hours] == [0]
    expected = NumericSketch.zero().update(np.concatenate([values[(p, 0)] for p in range(3)]))
    assert first.hours[0].sketches["x"] == expected.to_bytes()
    assert first.hours[0].events == 150
    assert roll_up(SPEC, store).hours == ()  # nothing new, nothing twice
    for p in range(3):
        store_partition(p, DAY_MS + HOUR_MS, sketches=sketches)
    second = roll_up(SPEC, store)
    assert [w.key.start_ms for w in second.hours] == [HOUR_MS, 2 * HOUR_MS]
    assert [w.key for w in second.days] == [WindowKey(DAY, 0)]
    day = second.days[0]
    assert day.events == 450
    all_values = np.concatenate(list(values.values()))
    assert NumericSketch.from_bytes(day.sketches["x"]) == NumericSketch.zero().update(all_values)
    assert roll_up(SPEC, store) == type(second)((), ())
