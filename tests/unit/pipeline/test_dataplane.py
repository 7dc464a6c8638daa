"""The data plane over in-memory ports: event-time bounds, caps, idle seals, the flush order,
revoke and reclaim, stale batches, and batch/flush-boundary independence."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stream.catalog import Catalog, ModelSpec
from stream.contract import Limits
from stream.core.window import HOUR_MS
from stream.pipeline.dataplane import DataPlane
from stream.pipeline.ingest import IngestLimits
from stream.pipeline.memory import ListDeadLetters, ListNotices, ManualClock, MemorySketchStore
from stream.pipeline.ports import (
    DeadLetter,
    FlushWrite,
    PartitionSnapshot,
    RawRecord,
    SealNotice,
    StaleWriterError,
)
from stream.synth import SyntheticStream

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


# -- flush order, revoke / reclaim, batch-boundary independence (over stream.pipeline.memory) --

SPEC2 = ModelSpec.model_validate(
    {"name": "m", "prediction": "numeric", "features": {"x": "numeric", "c": "categorical"}}
)
T0 = 1_767_225_600_000
WIDE = Limits(max_past_ms=10**13, max_future_ms=10**13)


def _stream(n: int, seed: int = 5) -> list[RawRecord]:
    """``n`` records over two partitions, a few hours, shuffled times (late events), one bad."""
    gen = SyntheticStream(SPEC2, start_ms=T0, events_per_hour=150, seed=seed)
    rng = np.random.default_rng(seed)
    out = []
    for i, e in enumerate(gen.events(0, n)):
        e["ts"] = int(e["ts"]) + int(rng.integers(-30, 5)) * 60_000
        value = b"{not json" if i == 11 else orjson.dumps(e)
        out.append(RawRecord(i % 2, i // 2, T0, value))
    return out


class Journal:
    """Every port call of one data plane, in order: dead letters, store, notices, commit."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.store = MemorySketchStore()
        self.letters = ListDeadLetters()
        self.notices = ListNotices()
        self.fail_letters = False

    def claim(self, model: str, partition: int) -> tuple[str, PartitionSnapshot]:
        return self.store.claim(model, partition)

    def flush(self, writes: Sequence[FlushWrite]) -> None:
        self.calls.append("store")
        self.store.flush(writes)

    async def send(self, letters: Sequence[DeadLetter]) -> None:
        if self.fail_letters:
            msg = "dead-letter topic down"
            raise ConnectionError(msg)
        self.calls.append("letters")
        await self.letters.send(letters)

    async def publish(self, notices: Sequence[SealNotice]) -> None:
        # A notice is published only once the outbox holding it is durable in the store.
        for n in notices:
            assert n in self.store.parts[(n.model, n.partition)].outbox
        self.calls.append("notices")
        await self.notices.publish(notices)

    async def commit(self, offsets: Mapping[int, int]) -> bool:
        self.calls.append("commit")
        return True


def _journal_plane(journal: Journal, clock: ManualClock, **kw: Any) -> DataPlane:
    return DataPlane(
        Catalog.of(SPEC2),
        topic="t",
        namespace="ns",
        store=journal,
        dead_letters=journal,
        notices=journal,
        clock=clock,
        limits=WIDE,
        allowed_lateness_ms=LATENESS,
        flush_every_events=10**9,
        flush_interval_ms=10**9,
        idle_partition_timeout_ms=10**9,
        commit=journal.commit,
        ingest_limits=IngestLimits(watermark_min_events=5),
        **kw,
    )


def _started() -> tuple[Journal, DataPlane]:
    """A data plane over a fresh journal, owning partitions 0 and 1."""
    journal = Journal()
    plane = _journal_plane(journal, ManualClock(T0))
    asyncio.run(plane.assign([0, 1], {0: 0, 1: 0}))
    return journal, plane


def _assert_same_state(got: MemorySketchStore, want: MemorySketchStore) -> None:
    """The same stored hours, offsets, seal points, open hours, late and rejected counts."""
    assert got.hour_state() == want.hour_state()
    for key, part in want.parts.items():
        mine = got.parts[key]
        assert (mine.next_offset, mine.watermark_ms, mine.sealed_through_ms) == (
            part.next_offset,
            part.watermark_ms,
            part.sealed_through_ms,
        )
        assert (mine.open_hours, mine.late, mine.rejected) == (
            part.open_hours,
            part.late,
            part.rejected,
        )


def _by_partition(records: Sequence[RawRecord]) -> dict[int, list[RawRecord]]:
    out: dict[int, list[RawRecord]] = {}
    for r in records:
        out.setdefault(r.partition, []).append(r)
    return out


def test_a_flush_sends_dead_letters_then_writes_state_then_publishes_then_commits() -> None:
    journal, plane = _started()
    asyncio.run(plane.process(_by_partition(_stream(900))))
    asyncio.run(plane.flush())
    assert journal.calls == ["letters", "store", "notices", "commit"]
    assert [d.reason for d in journal.letters.got] == ["bad_json"]
    assert journal.notices.got  # hours sealed: the notices went out after the write
    published = {(n.partition, n.hour_ms) for n in journal.notices.got}
    stored = {(n.partition, n.hour_ms) for p in journal.store.parts.values() for n in p.outbox}
    assert published <= stored  # published, and still in the stored outbox until...
    asyncio.run(plane.process(_by_partition(_stream(1000)[900:])))
    asyncio.run(plane.flush())  # ...the next flush stores the shorter outbox
    stored = {(n.partition, n.hour_ms) for p in journal.store.parts.values() for n in p.outbox}
    assert not published & stored


def test_a_failed_dead_letter_send_stores_no_offset_past_the_letters() -> None:
    journal, plane = _started()
    asyncio.run(plane.process(_by_partition(_stream(100))))
    journal.fail_letters = True
    with pytest.raises(ConnectionError):
        asyncio.run(plane.flush())
    assert journal.calls == [] and journal.store.parts[("m", 1)].next_offset is None
    journal.fail_letters = False
    asyncio.run(plane.flush())  # the letters are still pending: sent, then the state
    assert journal.calls[:2] == ["letters", "store"]
    assert [d.offset for d in journal.letters.got] == [5]
    assert journal.store.parts[("m", 1)].next_offset == 50


def test_a_fenced_flush_publishes_and_commits_nothing() -> None:
    journal, plane = _started()
    asyncio.run(plane.process(_by_partition(_stream(900))))
    journal.store.claim("m", 0)  # another worker took partition 0 (this one is a zombie)
    with pytest.raises(StaleWriterError):
        asyncio.run(plane.flush())
    assert "notices" not in journal.calls and "commit" not in journal.calls
    assert plane.stats.flush_errors == 1 and plane.stats.flushes == 0
    assert journal.store.parts[("m", 0)].next_offset is None  # the new owner's state is intact
    assert journal.store.parts[("m", 1)].next_offset == 450  # the partition still ours landed


def test_revoke_flushes_then_forgets_and_the_next_owner_continues() -> None:
    records = _stream(1000)
    journal, clock = Journal(), ManualClock(T0)
    first = _journal_plane(journal, clock)
    asyncio.run(first.assign([0, 1], {0: 0, 1: 0}))
    asyncio.run(first.process(_by_partition(records[:600])))
    asyncio.run(first.revoke([1]))
    assert first.assigned == [0] and 1 not in first.states
    assert journal.store.parts[("m", 1)].next_offset == 300
    second = _journal_plane(journal, clock)
    assert asyncio.run(second.assign([1], {1: 0})) == {1: 300}
    asyncio.run(second.process(_by_partition([r for r in records[600:] if r.partition == 1])))
    asyncio.run(first.process(_by_partition([r for r in records[600:] if r.partition == 0])))
    asyncio.run(first.flush())
    asyncio.run(second.flush())
    _assert_same_state(journal.store, _straight(records))


def test_reclaim_recovers_from_what_the_store_holds_and_loses_nothing() -> None:
    records = _stream(1000)
    journal, plane = _started()
    asyncio.run(plane.process(_by_partition(records[:400])))
    asyncio.run(plane.flush())
    asyncio.run(plane.process(_by_partition(records[400:700])))  # in memory only
    # The store had an outage: drop memory, claim again from the stored state.
    assert asyncio.run(plane.reclaim({0: 0, 1: 0})) == {0: 200, 1: 200}
    assert plane.assigned == [0, 1]
    asyncio.run(plane.process(_by_partition(records[400:]), plane.claims))
    asyncio.run(plane.flush())
    _assert_same_state(journal.store, _straight(records))


def test_batches_fetched_before_a_reclaim_are_dropped_on_every_partition_they_touch() -> None:
    records = _stream(600)
    journal, plane = _started()
    asyncio.run(plane.process(_by_partition(records[:200])))
    asyncio.run(plane.flush())
    fetched_at = plane.claims
    asyncio.run(plane.reclaim({0: 0, 1: 0}))
    rewind = asyncio.run(plane.process(_by_partition(records[200:400]), fetched_at))
    assert rewind == {0: 100, 1: 100} and plane.stats.stale_records == 200
    assert asyncio.run(plane.process(_by_partition(records[200:]), plane.claims)) == {}
    asyncio.run(plane.flush())
    _assert_same_state(journal.store, _straight(records))


def _straight(
    records: Sequence[RawRecord], cuts: Sequence[int] = (), flushes: Sequence[int] = ()
) -> MemorySketchStore:
    """The stored state after feeding ``records`` in batches ending at ``cuts``."""
    journal, clock = Journal(), ManualClock(T0)
    plane = _journal_plane(journal, clock)

    async def run() -> None:
        await plane.assign([0, 1], {0: 0, 1: 0})
        bounds = sorted({c for c in cuts if 0 < c < len(records)} | {len(records)})
        pos = 0
        for i, end in enumerate(bounds):
            await plane.process(_by_partition(records[pos:end]))
            if i in flushes:
                await plane.flush()
            pos = end
        await plane.flush()

    asyncio.run(run())
    return journal.store


STREAM = _stream(1200)
BASE = _straight(STREAM)


@settings(max_examples=20, deadline=None)
@given(
    cuts=st.lists(st.integers(1, len(STREAM) - 1), max_size=10),
    flushes=st.sets(st.integers(0, 10), max_size=6),
)
def test_any_split_into_batches_and_flushes_stores_the_same_state(
    cuts: list[int], flushes: set[int]
) -> None:
    _assert_same_state(_straight(STREAM, cuts, sorted(flushes)), BASE)


def test_forget_drops_a_partition_without_flushing_and_a_reclaim_resumes_from_the_store() -> None:
    # A revocation whose flush failed: the worker forgets the partition (ownership,
    # state and its idle clock) and the next owner resumes from the stored offset.
    clock = ManualClock(HOUR + 30 * 60_000)
    plane, store, _ = _plane(clock)
    values = [(_event(HOUR + i * 1000), HOUR + i * 1000) for i in range(200)]
    _feed(plane, values[:100])
    asyncio.run(plane.flush())  # the store: offset 100
    _feed(plane, values[100:], 100)  # in memory only
    plane.forget([0])
    assert plane.assigned == [] and plane.states == {}
    assert plane._last_record_ms == {}  # noqa: SLF001 - the idle clock goes too
    assert store.parts[("m", 0)].next_offset == 100  # forgetting never writes
    assert plane.late_by_hour() == {}
    clock.ms += 10 * 60_000  # past the idle timeout: nothing left to seal or flush
    asyncio.run(plane.tick())
    assert store.parts[("m", 0)].next_offset == 100
    assert asyncio.run(plane.assign([0], {0: 0})) == {0: 100}


def test_an_offset_commit_that_failed_is_tried_again_at_the_next_flush() -> None:
    """The group's offsets are monitoring only, but a failed commit must not leave the
    group's lag stuck above 0 once the stream is read (no record left to move it)."""
    clock = ManualClock(HOUR)
    calls: list[dict[int, int]] = []

    async def commit(positions: Mapping[int, int]) -> bool:
        calls.append(dict(positions))
        return len(calls) > 1  # the first commit is not acknowledged

    plane = DataPlane(
        Catalog.of(SPEC), topic="t", namespace="ns", store=MemorySketchStore(),
        dead_letters=ListDeadLetters(), notices=ListNotices(), clock=clock, limits=Limits(),
        allowed_lateness_ms=LATENESS, flush_every_events=10**9, flush_interval_ms=10**9,
        idle_partition_timeout_ms=300_000, event_clock=clock, commit=commit,
    )  # fmt: skip
    asyncio.run(plane.assign([0], {0: 0}))
    _feed(plane, [(_event(HOUR + i), HOUR + i) for i in range(100)])
    for _ in range(3):
        asyncio.run(plane.flush())
    assert calls == [{0: 100}, {0: 100}]  # tried again once, then acknowledged


def test_a_partition_with_records_still_to_fetch_is_not_sealed_as_idle() -> None:
    """An empty fetch is not a quiet partition: with records behind (the brokers' lag),
    the idle timeout does not seal; once read to the end, it does."""
    clock = ManualClock(HOUR + 5 * 60_000)
    plane, store, _ = _plane(clock)
    _feed(plane, [(_event(HOUR + i), HOUR + i) for i in range(20)])
    clock.ms = HOUR + HOUR_MS + LATENESS + 300_000  # quiet past the timeout and the hour
    asyncio.run(plane.tick({0: 500}))  # but 500 records wait to be fetched
    _feed(plane, [(_event(HOUR + 30 * 60_000 + i), HOUR + 30 * 60_000) for i in range(500)], 20)
    asyncio.run(plane.flush())
    assert plane.stats.late == 0
    assert store.parts[("m", 0)].hours[HOUR].events == 520
    clock.ms += 300_000
    asyncio.run(plane.tick({0: 0}))
    asyncio.run(plane.flush())
    assert store.parts[("m", 0)].sealed_through_ms == HOUR + HOUR_MS
