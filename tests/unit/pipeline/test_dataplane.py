"""The data plane over in-memory ports: clock-bounded event time, caps, idle seals, flushes."""

from __future__ import annotations

import asyncio

import orjson

from stream.catalog import Catalog, ModelSpec
from stream.contract import Limits
from stream.core.window import HOUR_MS
from stream.pipeline.dataplane import DataPlane
from stream.pipeline.ingest import IngestLimits
from stream.pipeline.memory import ListDeadLetters, ListNotices, ManualClock, MemorySketchStore
from stream.pipeline.ports import RawRecord

SPEC = ModelSpec.model_validate({"name": "m", "features": {"x": "numeric"}})
HOUR = 1_767_225_600_000 + 10 * HOUR_MS
LATENESS = 120_000


def _plane(
    clock: ManualClock, limits: IngestLimits | None = None
) -> tuple[DataPlane, MemorySketchStore, ListDeadLetters]:
    store, letters = MemorySketchStore(), ListDeadLetters()
    plane = DataPlane(
        Catalog.of(SPEC),
        topic="t",
        namespace="ns",
        store=store,
        dead_letters=letters,
        notices=ListNotices(),
        clock=clock,
        limits=Limits(),
        allowed_lateness_ms=LATENESS,
        flush_every_events=10**9,
        flush_interval_ms=10**9,
        idle_partition_timeout_ms=300_000,
        event_clock=clock,
        ingest_limits=limits or IngestLimits(watermark_min_events=10, max_open_hours=48),
    )
    asyncio.run(plane.assign([0], {0: 0}))
    return plane, store, letters


def _event(ts: int, **features: object) -> bytes:
    return orjson.dumps({"model": "m", "ts": ts, "features": {"x": 1.0, **features}})


def _feed(plane: DataPlane, values: list[tuple[bytes, int]], start: int = 0) -> None:
    records = [RawRecord(0, start + i, rts, v) for i, (v, rts) in enumerate(values)]
    asyncio.run(plane.process({0: records}))


def test_a_future_dated_record_is_dead_lettered_and_loses_no_on_time_event() -> None:
    clock = ManualClock(HOUR + 10 * 60_000)
    plane, store, letters = _plane(clock)
    ahead = HOUR + HOUR_MS + 10 * 60_000  # record timestamp and ts an hour ahead
    values = [(_event(ahead), ahead)] + [
        (_event(HOUR + i * 1000), HOUR + i * 1000) for i in range(500)
    ]
    _feed(plane, values)
    asyncio.run(plane.flush())
    assert [d.reason for d in letters.got] == ["ts_in_future"]
    assert letters.got[0].offset == 0 and letters.got[0].raw == values[0][0]
    assert plane.stats.rejected == {"ts_in_future": 1} and plane.stats.late == 0
    part = store.parts[("m", 0)]
    assert part.hours[HOUR].events == 500


def test_idle_partition_keeps_the_current_hour_open_through_a_lull() -> None:
    clock = ManualClock(HOUR + 5 * 60_000)
    plane, store, _ = _plane(clock)
    _feed(plane, [(_event(HOUR + i), HOUR + i) for i in range(20)])
    clock.ms = HOUR + 11 * 60_000  # a 6-minute lull: idle, but the hour is not over
    asyncio.run(plane.tick())
    _feed(plane, [(_event(HOUR + 12 * 60_000 + i), HOUR + 12 * 60_000) for i in range(500)], 20)
    asyncio.run(plane.flush())
    assert plane.stats.late == 0
    assert store.parts[("m", 0)].hours[HOUR].events == 520
    # after the hour ended + allowed lateness, a quiet partition seals it
    clock.ms = HOUR + HOUR_MS + LATENESS + 300_000
    asyncio.run(plane.tick())
    asyncio.run(plane.flush())
    part = store.parts[("m", 0)]
    assert part.sealed_through_ms == HOUR + HOUR_MS and part.open_hours == () and part.idle


def test_undeclared_keys_are_capped_per_hour_and_the_rest_counted() -> None:
    clock = ManualClock(HOUR + 60_000)
    plane, store, _ = _plane(clock, IngestLimits(max_undeclared_keys=5))
    values = [(_event(HOUR, **{f"k{i}_{j}": 1 for j in range(40)}), HOUR) for i in range(30)]
    _feed(plane, values)
    asyncio.run(plane.flush())
    hw = store.parts[("m", 0)].hours[HOUR]
    assert len(hw.undeclared) == 5
    assert hw.undeclared_overflow == 30 * 40 - 5 == plane.stats.undeclared_overflow


def test_events_opening_too_many_hours_are_dead_lettered() -> None:
    clock = ManualClock(HOUR + 60_000)
    plane, store, letters = _plane(clock, IngestLimits(watermark_min_events=10, max_open_hours=3))
    values = [(_event(HOUR - h * HOUR_MS), HOUR) for h in range(6)]
    _feed(plane, values)
    asyncio.run(plane.flush())
    assert [d.reason for d in letters.got] == ["too_many_open_hours"] * 3
    assert [d.offset for d in letters.got] == [3, 4, 5]
    assert len(store.parts[("m", 0)].open_hours) == 3
    assert plane.stats.rejected == {"too_many_open_hours": 3} and plane.stats.accepted == 3


def test_events_older_than_the_clock_allows_are_dead_lettered() -> None:
    clock = ManualClock(HOUR)
    plane, _, letters = _plane(clock)
    old = HOUR - 8 * 24 * HOUR_MS  # record timestamp as old as the event: only the clock sees it
    _feed(plane, [(_event(old), old), (_event(HOUR), HOUR)])
    asyncio.run(plane.flush())
    assert [(d.reason, d.offset) for d in letters.got] == [("ts_out_of_bounds", 0)]
    assert "before the worker's clock" in letters.got[0].detail


def test_an_empty_flush_is_not_a_flush() -> None:
    clock = ManualClock(HOUR)
    plane, _, _ = _plane(clock)
    asyncio.run(plane.flush())
    assert plane.stats.flushes == 0 and plane.stats.last_flush_ms == 0
    _feed(plane, [(_event(HOUR), HOUR)])
    asyncio.run(plane.flush())
    assert plane.stats.flushes == 1 and plane.stats.last_flush_ms == HOUR


def test_a_batch_fetched_before_a_reclaim_is_dropped_and_read_again_from_the_store() -> None:
    # The chaos test's loss: a fetch returns offsets 200..299 while a rebalance
    # revokes the partition (its flush fails: Redis is restarting, or a zombie holds
    # the token) and claims it again from the store, which holds offset 100. Folding
    # the old fetch into the restored state would skip offsets 100..199 for good.
    clock = ManualClock(HOUR + 30 * 60_000)
    plane, store, _ = _plane(clock)
    values = [(_event(HOUR + i * 1000), HOUR + i * 1000) for i in range(300)]
    _feed(plane, values[:100])
    asyncio.run(plane.flush())  # the store: offset 100
    _feed(plane, values[100:200], 100)  # in memory only
    fetched_at = plane.claims
    stale = [RawRecord(0, 200 + i, rts, v) for i, (v, rts) in enumerate(values[200:])]
    # the revocation's flush failed: state dropped, then the partition is claimed again
    plane.states.clear()
    plane.owned.clear()
    assert asyncio.run(plane.assign([0], {0: 0})) == {0: 100}
    rewind = asyncio.run(plane.process({0: stale}, fetched_at))
    assert rewind == {0: 100} and plane.stats.stale_records == 100
    # the consumer seeks back to 100 and reads on from there
    again = [RawRecord(0, 100 + i, rts, v) for i, (v, rts) in enumerate(values[100:])]
    assert asyncio.run(plane.process({0: again}, plane.claims)) == {}
    asyncio.run(plane.flush())
    part = store.parts[("m", 0)]
    assert part.next_offset == 300
    assert sum(h.events for h in part.hours.values()) == 300
