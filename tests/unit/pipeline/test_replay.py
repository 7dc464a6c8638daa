"""Replay planning and ingest of a range over the in-memory ports (no Kafka, no Redis)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from stream.catalog import Catalog, ModelSpec
from stream.contract import Limits
from stream.core.sketch import CategoricalSketch
from stream.core.window import DAY, HOUR, HOUR_MS, WindowKey
from stream.pipeline.memory import ManualClock, MemorySketchStore, MemoryWindowStore
from stream.pipeline.ports import RawRecord, RecordBatch, SealNotice, StoredWindow
from stream.pipeline.replay import (
    KeepSealed,
    RangeClock,
    ReplayNotices,
    ReplaySummary,
    SealedParts,
    ingest_range,
    part_of,
    roll_up_all,
)
from stream.synth import SyntheticStream

SPEC = ModelSpec.model_validate(
    {"name": "m", "prediction": "numeric", "features": {"x": "numeric", "c": "categorical"}}
)
CATALOG = Catalog.of(SPEC)
T0 = 1_767_225_600_000  # 2026-01-01T00:00Z
HOURS = 26
PARTITIONS = 3
END = T0 + HOURS * HOUR_MS


def _topic() -> dict[int, list[RawRecord]]:
    """The topic's records per partition; the last two events lie past the range end."""
    gen = SyntheticStream(SPEC, start_ms=T0, events_per_hour=30, seed=4)
    events = gen.events(0, HOURS * 30)
    events[-2:] = [{**e, "ts": END + 600_000} for e in events[-2:]]  # past max_ahead_ms
    out: dict[int, list[RawRecord]] = {p: [] for p in range(PARTITIONS)}
    for i, e in enumerate(events):
        p = i % PARTITIONS
        out[p].append(RawRecord(p, len(out[p]), int(e["ts"]), orjson.dumps(e)))
    return out


TOPIC = _topic()


class Crash(Exception):
    """The replay process dies."""


def _batches(
    parts: Mapping[int, list[RawRecord]], size: int, crash_after: int | None = None
) -> object:
    """``batches(seeks)`` as the Kafka range reader gives them, from each partition's seek."""

    async def read(seeks: Mapping[int, int]) -> AsyncIterator[Mapping[int, RecordBatch]]:
        pos = {p: seeks[p] for p in parts if p in seeks}
        given = 0
        while any(pos[p] < len(parts[p]) for p in pos):
            if crash_after is not None and given == crash_after:
                raise Crash
            batch = {}
            for p in pos:
                chunk = parts[p][pos[p] : pos[p] + size]
                if chunk:
                    batch[p] = RecordBatch.of(p, chunk)
                    pos[p] += len(chunk)
            given += 1
            yield batch

    return read


def _ingest(
    store: MemorySketchStore | KeepSealed,
    windows: MemoryWindowStore,
    partitions: list[int],
    size: int = 50,
    crash_after: int | None = None,
) -> ReplaySummary:
    return asyncio.run(
        ingest_range(
            CATALOG,
            topic="t",
            namespace="replay",
            store=store,
            windows=windows,
            batches=_batches({p: TOPIC[p] for p in partitions}, size, crash_after),  # type: ignore[arg-type]
            starts=dict.fromkeys(partitions, 0),
            total=sum(len(TOPIC[p]) for p in partitions),
            clock=ManualClock(T0),
            limits=Limits(),
            allowed_lateness_ms=0,
            flush_every_events=40,
            event_clock=RangeClock(T0, END),
        )
    )


def _windows(windows: MemoryWindowStore) -> dict[tuple[str, WindowKey], StoredWindow]:
    roll_up_all(CATALOG, windows)
    return dict(windows.windows)


def _replay(processes: int = 1, size: int = 50) -> dict[tuple[str, WindowKey], StoredWindow]:
    store = MemorySketchStore()
    windows = MemoryWindowStore(store)
    for index in range(processes):
        _ingest(store, windows, part_of(range(PARTITIONS), index, processes), size)
    return _windows(windows)


ONE = _replay()


def test_a_replay_rolls_up_every_hour_of_the_range_and_its_complete_day() -> None:
    hours = sorted(k.start_ms for (_, k) in ONE if k.scale == HOUR)
    assert hours == [T0 + h * HOUR_MS for h in range(HOURS)]
    assert [k for (_, k) in ONE if k.scale == DAY] == [WindowKey(DAY, T0)]
    assert sum(w.events for (_, k), w in ONE.items() if k.scale == HOUR) == HOURS * 30 - 2


def test_events_past_the_range_end_are_rejected_by_the_range_clock() -> None:
    store = MemorySketchStore()
    summary = _ingest(store, MemoryWindowStore(store), list(range(PARTITIONS)))
    assert summary.records == HOURS * 30
    assert summary.rejected == {"ts_in_future": 2}
    assert summary.accepted == HOURS * 30 - 2 and summary.partitions == (0, 1, 2)


@pytest.mark.parametrize(("processes", "size"), [(2, 50), (3, 7), (1, 1_000)])
def test_processes_and_batch_sizes_give_the_same_windows(processes: int, size: int) -> None:
    assert _replay(processes, size) == ONE


def test_an_interrupted_replay_resumes_from_its_stored_offsets() -> None:
    store = MemorySketchStore()
    windows = MemoryWindowStore(store)
    with pytest.raises(Crash):
        _ingest(store, windows, [0, 1, 2], size=10, crash_after=12)
    done = {p: store.parts[("m", p)].next_offset for p in range(PARTITIONS)}
    assert all(n is not None and 0 < n < len(TOPIC[p]) for p, n in done.items())
    again = _ingest(store, windows, [0, 1, 2], size=10)
    # the second run reads only what the first did not store
    assert again.records == sum(len(TOPIC[p]) - (done[p] or 0) for p in range(PARTITIONS))
    assert _windows(windows) == ONE


def test_sealed_hours_with_events_are_marked_pending_and_empty_ones_are_not() -> None:
    windows = MemoryWindowStore()
    notices = ReplayNotices(windows)
    asyncio.run(
        notices.publish(
            [
                SealNotice("replay", "m", 0, T0, 5, 0, T0 + HOUR_MS),
                SealNotice("replay", "m", 1, T0 + HOUR_MS, 0, 0, T0 + 2 * HOUR_MS),
                SealNotice("replay", "n", 0, T0, 1, 0, T0 + HOUR_MS),
            ]
        )
    )
    assert windows.pending_hours("m") == [T0] and windows.pending_hours("n") == [T0]


def test_the_range_clock_bounds_event_time_by_the_range() -> None:
    clock = RangeClock(T0, END)
    assert (clock.now_ms(), clock.since_ms()) == (END, T0)
    assert RangeClock(None, END).since_ms() is None


@given(
    partitions=st.lists(st.integers(0, 200), unique=True, max_size=40),
    count=st.integers(1, 8),
)
def test_every_partition_is_replayed_by_exactly_one_process(
    partitions: list[int], count: int
) -> None:
    shares = [part_of(partitions, i, count) for i in range(count)]
    assert sorted(p for share in shares for p in share) == sorted(partitions)
    assert all(share == part_of(partitions, i, count) for i, share in enumerate(shares))


def test_one_process_hands_the_sealed_sketches_to_the_rollup_and_gets_the_same_windows() -> None:
    """A one-process replay's rollup merges the sketches its ingest sealed (not their bytes
    read back): every partition-hour is taken from ingest, none decoded, same windows."""
    store = MemorySketchStore()
    windows = MemoryWindowStore(store)
    sealed = SealedParts()
    _ingest(KeepSealed(store, sealed), windows, list(range(PARTITIONS)))
    # What ingest sealed is its bytes decoded (state, not only bytes: the rollup merges it).
    for blob, kept in sealed._kept.items():
        assert kept == type(kept).from_bytes(blob)
        if isinstance(kept, CategoricalSketch):  # derived values too, in the same order
            decoded = CategoricalSketch.from_bytes(blob)
            assert list(kept.counts().items()) == list(decoded.counts().items())
            assert (kept.distinct, kept.other) == (decoded.distinct, decoded.other)
    roll_up_all(CATALOG, windows, sealed=sealed)
    assert dict(windows.windows) == ONE
    # x, c and the prediction of every partition-hour (each partition has every hour).
    assert sealed.taken == HOURS * PARTITIONS * 3
    assert sealed.decoded == 0
    # Nothing kept past the rollup; a part not kept (a limit of 0) is decoded as before.
    assert not sealed._kept
    none_kept = SealedParts(limit=0)
    store = MemorySketchStore()
    windows = MemoryWindowStore(store)
    _ingest(KeepSealed(store, none_kept), windows, list(range(PARTITIONS)))
    roll_up_all(CATALOG, windows, sealed=none_kept)
    assert dict(windows.windows) == ONE
    assert (none_kept.taken, none_kept.decoded) == (0, HOURS * PARTITIONS * 3)
