"""Reading a time range of a topic: per-partition offsets by timestamp, then batches.

Used by replay and by ``reference build --topic``. No consumer group is joined
and no offset is committed: a range read never disturbs live consumers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import confluent_kafka as ck
import numpy as np
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from stream.adapters.kafka_fetch import columns_and_ends, fetch_config
from stream.errors import DriftstreamError
from stream.pipeline.ports.data import RecordBatch

__all__ = ["PartitionRange", "plan_range", "read_range", "record_time_span"]

log = logging.getLogger(__name__)

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
            # The ends never pass the last stable offset (read_committed: what a reader
            # of the partition can reach now).
            end = min(ends[tp], last[tp])
            out.append(PartitionRange(tp.partition, starts[tp], end, tuple(notes)))
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


#: How long one fetch waits for ``max_records`` before handing over what it has (s).
CONSUME_TIMEOUT_S = 0.5
#: The most records one fetch may ask for (librdkafka's bound on ``consume``).
MAX_RECORDS = 1_000_000
#: Client errors that retrying cannot mend: the read stops with one line.
_AUTH_FAILED = frozenset(
    {ck.KafkaError._AUTHENTICATION, ck.KafkaError.SASL_AUTHENTICATION_FAILED}  # noqa: SLF001
)


async def read_range(
    rdkafka: Mapping[str, Any],
    topic: str,
    ranges: Sequence[PartitionRange],
    *,
    max_records: int = 20_000,
) -> AsyncGenerator[dict[int, RecordBatch], None]:
    """Batches of records of ``ranges`` (per partition, offset order) until every end.

    ``rdkafka``: librdkafka properties (``kafka_auth.librdkafka_options``). The records
    are fetched by confluent-kafka (the live features fetcher's client and batch →
    columns conversion) with a manual assignment at each range's start: no group is
    joined, nothing is committed. read_committed, as every reader and as the plan's
    ends (last stable offsets). The next fetch runs in a thread of its own while the
    caller works on the current batch (librdkafka decompresses and parses in its own
    threads too); the consumer is closed in that thread, after any running fetch, also
    when the reading task is cancelled. Callers close the generator
    (``contextlib.aclosing``) so that a failing loop body closes the consumer at once.

    A partition is done at its first record at or past its end, at a record at
    ``end - 1``, or at an end-of-partition event: at or past its end, a range whose
    committed tail holds no record (commit markers, aborted records, compacted-away
    offsets) ends where the broker says the partition ends; below its end (the log was
    truncated since planning, e.g. an unclean leader election), the partition ends
    there with a warning. A fatal client error (authentication) stops the read.
    """
    if not 1 <= max_records <= MAX_RECORDS:
        msg = f"reading {topic!r}: a batch is 1 to {MAX_RECORDS:,} records, not {max_records:,}"
        raise DriftstreamError(msg)
    todo = {r.partition: r for r in ranges if r.size > 0}
    if not todo:
        return
    said: set[str] = set()
    fatal: list[str] = []

    def on_error(err: ck.KafkaError) -> None:  # client-level (a broker down): retried
        if err.fatal() or err.code() in _AUTH_FAILED:
            fatal.append(str(err))  # raised by the reading loop
        elif str(err) not in said:
            said.add(str(err))
            log.warning("reading %r: %s (retrying)", topic, err)

    consumer = ck.Consumer(
        {
            **fetch_config(
                rdkafka,
                reset="earliest",  # a start deleted by retention since planning
                fetch_max_bytes=64 * 1024 * 1024,
                fetch_min_bytes=1,
                fetch_max_wait_ms=500,
                max_partition_fetch_bytes=16 * 1024 * 1024,
            ),
            "error_cb": on_error,
        }
    )
    # One thread: the fetches run there one after the other, and so does close(),
    # which therefore never runs under a fetch.
    pool = ThreadPoolExecutor(1, thread_name_prefix="read_range")
    loop = asyncio.get_running_loop()
    ahead: asyncio.Future[list[Any]] | None = None
    try:
        consumer.incremental_assign([ck.TopicPartition(topic, p, r.start) for p, r in todo.items()])
        ahead = loop.run_in_executor(pool, consumer.consume, max_records, CONSUME_TIMEOUT_S)
        while ahead is not None:  # set while a partition still has records to come
            # Shielded: a cancelled task leaves the fetch running (as it does anyway)
            # and known to be running, so the close below waits for it.
            msgs = await asyncio.shield(ahead)
            ahead = None
            if fatal:
                msg = f"reading {topic!r} failed: {fatal[0]}"
                raise DriftstreamError(msg)
            got, errors, eofs = columns_and_ends(msgs)
            if errors and not got:  # partition-level (unknown topic, not authorized)
                msg = f"reading {topic!r} failed: {errors[0]}"
                raise DriftstreamError(msg)
            if errors:  # alongside records: librdkafka retries the failed fetch
                log.warning("reading %r: %s", topic, "; ".join(sorted(set(errors))))
            done = set()
            for p, at in eofs.items():
                want = todo.get(p)
                if want is None:
                    continue
                if at < want.end:  # the log holds less than the plan: said, never silent
                    log.warning(
                        "reading %r partition %d: the log ends at offset %d, before the "
                        "planned end %d (truncated since planning?); %d offsets not read",
                        topic,
                        p,
                        at,
                        want.end,
                        want.end - at,
                    )
                done.add(p)
            batch: dict[int, RecordBatch] = {}
            for p, b in got.items():
                want = todo.get(p)
                if want is None:  # records fetched after its end (already unassigned)
                    continue
                if b.last_offset >= want.end - 1:
                    done.add(p)
                    if b.last_offset >= want.end:
                        keep = int(np.searchsorted(b.offsets, want.end))
                        b = RecordBatch(
                            p, b.values[:keep], b.timestamps_ms[:keep], b.offsets[:keep]
                        )
                if len(b.values):
                    batch[p] = b
            finished = sorted(done & set(todo))
            if finished:
                consumer.incremental_unassign([ck.TopicPartition(topic, p) for p in finished])
                for p in finished:
                    del todo[p]
            if todo:  # the next fetch runs while the caller works on this batch
                ahead = loop.run_in_executor(pool, consumer.consume, max_records, CONSUME_TIMEOUT_S)
            if batch:
                yield batch
    finally:
        # Queued behind a running fetch (bounded by CONSUME_TIMEOUT_S): runs to the end
        # in its thread even when this task is cancelled (again) while waiting for it.
        closed = loop.run_in_executor(pool, consumer.close)
        pool.shutdown(wait=False)
        try:
            await asyncio.shield(closed)
        finally:
            if ahead is not None and ahead.done() and not ahead.cancelled():
                ahead.exception()  # a fetch no one awaits any more: not "never retrieved"
