"""The data plane over in-memory ports: clock-bounded event time, caps, idle seals, flushes."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

import orjson

from stream.catalog import Catalog, ModelSpec
from stream.contract import Limits
from stream.core.window import HOUR_MS
from stream.pipeline.dataplane import DataPlane
from stream.pipeline.ingest import IngestLimits
from stream.pipeline.ports import DeadLetter, RawRecord, SealNotice
from tests.unit.pipeline.memstore import MemoryStore

SPEC = ModelSpec.model_validate({"name": "m", "features": {"x": "numeric"}})
HOUR = 1_767_225_600_000 + 10 * HOUR_MS
LATENESS = 120_000


@dataclass
class Clock:
    ms: int

    def now_ms(self) -> int:
        return self.ms

    def since_ms(self) -> int:
        return self.ms


@dataclass
class Letters:
    got: list[DeadLetter] = field(default_factory=list)

    async def send(self, letters: Sequence[DeadLetter]) -> None:
        self.got.extend(letters)


@dataclass
class Notices:
    got: list[SealNotice] = field(default_factory=list)

    async def publish(self, notices: Sequence[SealNotice]) -> None:
        self.got.extend(notices)


def _plane(
    clock: Clock, limits: IngestLimits | None = None
) -> tuple[DataPlane, MemoryStore, Letters]:
    store, letters = MemoryStore(), Letters()
    plane = DataPlane(
        Catalog.of(SPEC),
        topic="t",
        namespace="ns",
        store=store,
        dead_letters=letters,
        notices=Notices(),
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
    clock = Clock(HOUR + 10 * 60_000)
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
    clock = Clock(HOUR + 5 * 60_000)
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
    assert part.sealed == HOUR + HOUR_MS and part.open_hours == () and part.idle


def test_undeclared_keys_are_capped_per_hour_and_the_rest_counted() -> None:
    clock = Clock(HOUR + 60_000)
    plane, store, _ = _plane(clock, IngestLimits(max_undeclared_keys=5))
    values = [(_event(HOUR, **{f"k{i}_{j}": 1 for j in range(40)}), HOUR) for i in range(30)]
    _feed(plane, values)
    asyncio.run(plane.flush())
    hw = store.parts[("m", 0)].hours[HOUR]
    assert len(hw.undeclared) == 5
    assert hw.undeclared_overflow == 30 * 40 - 5 == plane.stats.undeclared_overflow


def test_events_opening_too_many_hours_are_dead_lettered() -> None:
    clock = Clock(HOUR + 60_000)
    plane, store, letters = _plane(clock, IngestLimits(watermark_min_events=10, max_open_hours=3))
    values = [(_event(HOUR - h * HOUR_MS), HOUR) for h in range(6)]
    _feed(plane, values)
    asyncio.run(plane.flush())
    assert [d.reason for d in letters.got] == ["too_many_open_hours"] * 3
    assert [d.offset for d in letters.got] == [3, 4, 5]
    assert len(store.parts[("m", 0)].open_hours) == 3
    assert plane.stats.rejected == {"too_many_open_hours": 3} and plane.stats.accepted == 3


def test_events_older_than_the_clock_allows_are_dead_lettered() -> None:
    clock = Clock(HOUR)
    plane, _, letters = _plane(clock)
    old = HOUR - 8 * 24 * HOUR_MS  # record timestamp as old as the event: only the clock sees it
    _feed(plane, [(_event(old), old), (_event(HOUR), HOUR)])
    asyncio.run(plane.flush())
    assert [(d.reason, d.offset) for d in letters.got] == [("ts_out_of_bounds", 0)]
    assert "before the worker's clock" in letters.got[0].detail


def test_an_empty_flush_is_not_a_flush() -> None:
    clock = Clock(HOUR)
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
    clock = Clock(HOUR + 30 * 60_000)
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
    assert part.offset == 300
    assert sum(h.events for h in part.hours.values()) == 300


def test_forget_drops_a_partition_without_flushing_and_a_reclaim_resumes_from_the_store() -> None:
    # A revocation whose flush failed: the worker forgets the partition (ownership,
    # state and its idle clock) and the next owner resumes from the stored offset.
    clock = Clock(HOUR + 30 * 60_000)
    plane, store, _ = _plane(clock)
    values = [(_event(HOUR + i * 1000), HOUR + i * 1000) for i in range(200)]
    _feed(plane, values[:100])
    asyncio.run(plane.flush())  # the store: offset 100
    _feed(plane, values[100:], 100)  # in memory only
    plane.forget([0])
    assert plane.assigned == [] and plane.states == {}
    assert plane._last_record_ms == {}  # noqa: SLF001 - the idle clock goes too
    assert store.parts[("m", 0)].offset == 100  # forgetting never writes
    assert plane.late_by_hour() == {}
    clock.ms += 10 * 60_000  # past the idle timeout: nothing left to seal or flush
    asyncio.run(plane.tick())
    assert store.parts[("m", 0)].offset == 100
    assert asyncio.run(plane.assign([0], {0: 0})) == {0: 100}
