"""Reading a time range of a topic: per-partition offsets by timestamp, then batches.

Used by replay and by ``reference build --topic``. No consumer group is joined
and no offset is committed: a range read never disturbs live consumers.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from stream.adapters.kafka import columns
from stream.errors import DriftstreamError
from stream.pipeline.ports.data import RecordBatch

__all__ = ["PartitionRange", "plan_range", "read_range", "record_time_span"]

#: How long ``record_time_span`` reads for the first/last record of a partition (a hang
#: guard: a fetch that has not answered yet is waited for, not taken for "no record").
SPAN_READ_TIMEOUT_S = 60.0


@dataclass(frozen=True, slots=True)
class PartitionRange:
    """Offsets ``[start, end)`` of one partition, and what the broker said about them."""

    partition: int
    start: int
    end: int
    notes: tuple[str, ...] = ()

    @property
    def size(self) -> int:
        """Records in the range (before compaction gaps)."""
        return max(0, self.end - self.start)


#: The tail ``record_time_span`` reads (commit markers take offsets, hold no record).
TAIL_OFFSETS = 16
#: Every reader skips records of aborted transactions (as the live worker's fetcher):
#: live and replay read the same records.
COMMITTED = "read_committed"


async def plan_range(
    options: Mapping[str, Any], topic: str, from_ms: int | None, to_ms: int | None
) -> list[PartitionRange]:
    """Offsets for ``[from_ms, to_ms)`` on every partition (None: the retained start / the end)."""
    parts = await partitions_of(options, topic)
    consumer = AIOKafkaConsumer(enable_auto_commit=False, isolation_level=COMMITTED, **options)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        first = await consumer.beginning_offsets(tps)
        last = await consumer.end_offsets(tps)
        starts = await _offsets_at(consumer, tps, from_ms, first, last)
        ends = await _offsets_at(consumer, tps, to_ms, first, last) if to_ms is not None else last
        out = []
        for tp in tps:
            notes = []
            if first[tp] == last[tp]:
                notes.append("empty partition")
            elif from_ms is not None and starts[tp] == first[tp] and first[tp] > 0:
                notes.append(
                    f"records before offset {first[tp]} are no longer retained; "
                    "starting at the earliest retained record"
                )
            out.append(PartitionRange(tp.partition, starts[tp], ends[tp], tuple(notes)))
        return out
    finally:
        await consumer.stop()


async def record_time_span(options: Mapping[str, Any], topic: str) -> tuple[int, int] | None:
    """(Earliest, latest) Kafka record time of the first and last record of each partition.

    None when the topic holds no record. Record times need not be monotonic within a
    partition, so this is what the ends say, not a scan.
    """
    parts = await partitions_of(options, topic)
    consumer = AIOKafkaConsumer(
        enable_auto_commit=False, max_poll_records=1, isolation_level=COMMITTED, **options
    )
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in parts]
        first = await consumer.beginning_offsets(tps)
        last = await consumer.end_offsets(tps)
        stamps: list[int] = []
        for tp in tps:
            if first[tp] >= last[tp]:
                continue
            consumer.assign([tp])
            # The head: its first record. The tail: the records of its last TAIL_OFFSETS
            # offsets (a transactional producer's commit markers take offsets but are
            # never read, so the last offset alone may hold no record).
            tail = max(first[tp], last[tp] - TAIL_OFFSETS)
            for offset, whole in sorted({(first[tp], False), (tail, True)}):
                consumer.seek(tp, offset)
                # An empty fetch is not "no record": right after a seek the broker may
                # not have answered yet (a loaded machine). Read until a record comes or
                # the position passes the end (a compacted-away tail reads nothing).
                deadline = time.monotonic() + SPAN_READ_TIMEOUT_S
                while time.monotonic() < deadline:
                    got = (await consumer.getmany(tp, timeout_ms=1000, max_records=1)).get(tp)
                    if got:  # a compacted-away offset reads the next record
                        stamps.append(got[0].timestamp)
                        if not whole:
                            break
                    if await consumer.position(tp) >= last[tp]:
                        break
        return (min(stamps), max(stamps)) if stamps else None
    finally:
        await consumer.stop()


async def partitions_of(options: Mapping[str, Any], topic: str) -> list[int]:
    """Partition numbers of ``topic``; a one-line error when it does not exist."""
    admin = AIOKafkaAdminClient(**options)
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    parts = sorted(p["partition"] for p in described.get("partitions", []))
    if described.get("error_code") or not parts:
        msg = f"topic {topic!r} does not exist"
        raise DriftstreamError(msg)
    return parts


async def _offsets_at(
    consumer: AIOKafkaConsumer,
    tps: Sequence[TopicPartition],
    ts_ms: int | None,
    first: Mapping[TopicPartition, int],
    last: Mapping[TopicPartition, int],
) -> dict[TopicPartition, int]:
    if ts_ms is None:
        return dict(first)
    found = await consumer.offsets_for_times(dict.fromkeys(tps, ts_ms))
    # No record at or after ts: the range starts (or ends) at the partition's end.
    return {tp: (found[tp].offset if found.get(tp) is not None else last[tp]) for tp in tps}


async def read_range(
    options: Mapping[str, Any],
    topic: str,
    ranges: Sequence[PartitionRange],
    *,
    max_records: int = 20_000,
) -> AsyncIterator[dict[int, RecordBatch]]:
    """Batches of records of ``ranges`` (per partition, offset order) until every end."""
    todo = {r.partition: r for r in ranges if r.size > 0}
    if not todo:
        return
    consumer = AIOKafkaConsumer(
        enable_auto_commit=False,
        isolation_level=COMMITTED,
        max_poll_records=max_records,
        fetch_max_bytes=64 * 1024 * 1024,
        max_partition_fetch_bytes=16 * 1024 * 1024,
        **options,
    )
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, p) for p in todo])
        for p, r in todo.items():
            consumer.seek(TopicPartition(topic, p), r.start)
        while todo:
            data = await consumer.getmany(timeout_ms=500, max_records=max_records)
            batch: dict[int, RecordBatch] = {}
            for tp, msgs in data.items():
                want = todo.get(tp.partition)
                if want is None:
                    continue
                recs = (
                    msgs if msgs[-1].offset < want.end else [m for m in msgs if m.offset < want.end]
                )
                if recs:
                    batch[tp.partition] = columns(tp.partition, recs)
            for p in list(todo):
                tp = TopicPartition(topic, p)
                if await consumer.position(tp) >= todo[p].end:
                    consumer.pause(tp)
                    del todo[p]
            if batch:
                yield batch
    finally:
        await consumer.stop()
