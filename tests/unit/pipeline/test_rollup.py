"""Rollups: complete hours only, merged exactly across partitions, idempotent."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from stream.catalog import ModelSpec
from stream.core.sketch import CategoricalSketch, NumericSketch
from stream.core.window import DAY, DAY_MS, HOUR, HOUR_MS, WindowKey
from stream.pipeline.ports import StoredWindow
from stream.pipeline.rollup import complete_through, roll_up

SPEC = ModelSpec.model_validate({"name": "m", "features": {"x": "numeric", "c": "categorical"}})


class FakeWindows:
    def __init__(self) -> None:
        self.sealed: dict[int, int | None] = {}
        self.idle: set[int] = set()
        self.parts: dict[tuple[int, int], tuple[int, dict[str, bytes]]] = {}
        self.pending: set[int] = set()
        self.days: set[int] = set()
        self.windows: dict[WindowKey, StoredWindow] = {}

    def progress(self, model: str) -> dict[int, tuple[int | None, bool]]:
        return {p: (s, p in self.idle) for p, s in self.sealed.items()}

    def add_pending(self, model: str, hours: Sequence[int]) -> None:
        self.pending |= {h for h in hours if WindowKey(HOUR, h) not in self.windows}

    def pending_hours(self, model: str) -> list[int]:
        return sorted(self.pending)

    def pending_days(self, model: str) -> list[int]:
        return sorted(self.days)

    def partition_hours(self, model: str, hour_ms: int) -> list[tuple[int, Mapping[str, bytes]]]:
        return [v for (p, h), v in sorted(self.parts.items()) if h == hour_ms]

    def late_count(self, model: str, hour_ms: int) -> int:
        return 0

    def window(self, model: str, key: WindowKey) -> StoredWindow | None:
        return self.windows.get(key)

    def create_window(self, model: str, window: StoredWindow) -> bool:
        if window.key in self.windows:
            return False
        self.windows[window.key] = window
        if window.key.scale == HOUR:
            self.pending.discard(window.key.start_ms)
            self.days.add(window.key.start_ms - window.key.start_ms % DAY_MS)
        else:
            self.days.discard(window.key.start_ms)
        return True


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
    store = FakeWindows()
    rng = np.random.default_rng(0)
    values = {(p, h): rng.normal(size=50) for p in range(3) for h in range(3)}
    for (p, h), v in values.items():
        store.parts[(p, h * HOUR_MS)] = (50, _blobs(v, ["a", "b"] * 25))
    store.add_pending("m", [0, HOUR_MS, 2 * HOUR_MS])
    store.sealed = {0: 3 * HOUR_MS, 1: 3 * HOUR_MS, 2: HOUR_MS}
    first = roll_up(SPEC, store)
    assert [w.key.start_ms for w in first.hours] == [0]
    expected = NumericSketch.zero().update(np.concatenate([values[(p, 0)] for p in range(3)]))
    assert first.hours[0].sketches["x"] == expected.to_bytes()
    assert first.hours[0].events == 150
    assert roll_up(SPEC, store).hours == ()  # nothing new, nothing twice
    store.sealed = dict.fromkeys(range(3), DAY_MS + HOUR_MS)
    second = roll_up(SPEC, store)
    assert [w.key.start_ms for w in second.hours] == [HOUR_MS, 2 * HOUR_MS]
    assert [w.key for w in second.days] == [WindowKey(DAY, 0)]
    day = second.days[0]
    assert day.events == 450
    all_values = np.concatenate(list(values.values()))
    assert NumericSketch.from_bytes(day.sketches["x"]) == NumericSketch.zero().update(all_values)
    assert roll_up(SPEC, store) == type(second)((), ())
