"""The worker's features consumer: aiokafka keeps the group, librdkafka fetches.

Group membership, rebalances, offset commits (lag monitoring) and the lag/health
probe stay with aiokafka (:class:`~stream.adapters.kafka.BatchConsumer`): the same
claim-on-assign and flush-on-revoke as before, on our event loop. The records are
fetched by confluent-kafka (librdkafka) with a *manual* assignment that follows the
group's: it costs ~20 % less CPU per event through the whole ingest path
(docs/benchmarks.md, issue 19 "Third pass"). aiokafka's own fetching is paused for
every partition it owns, and its ``getmany`` is still called (with nothing to
return) so the group keeps seeing a live member.

Exactly-once is unchanged: every position comes from the store (a claim, a re-claim,
or the seek-back after a stale batch) and is applied by re-assigning the partition
in librdkafka at that offset, which drops whatever it had prefetched from the old
position. A ``consume`` under way while a rebalance re-claims a partition returns
records from the old position: the data plane drops them (``fetched_at``) and the
caller seeks back, exactly as with aiokafka.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from itertools import repeat
from operator import is_not, itemgetter
from typing import Any

import confluent_kafka as ck
import numpy as np
from aiokafka import TopicPartition
from aiokafka.errors import KafkaConnectionError

from stream.adapters.kafka import BatchConsumer
from stream.pipeline.ports.data import RecordBatch

__all__ = ["FetchingConsumer", "columns_of", "fetch_config"]

log = logging.getLogger(__name__)

#: How long one ``consume`` call waits for records (seconds): bounds how late a
#: stop request or a rebalance is noticed by the loop.
CONSUME_TIMEOUT_S = 0.2
#: librdkafka's local prefetch queue (KiB, for all partitions together).
QUEUE_KBYTES = 131_072


def fetch_config(
    rdkafka: Mapping[str, Any],
    *,
    reset: str,
    fetch_max_bytes: int,
    fetch_min_bytes: int,
    fetch_max_wait_ms: int,
    max_partition_fetch_bytes: int,
) -> dict[str, Any]:
    """The fetcher's librdkafka properties: the ``consumer`` settings' sizes, no group."""
    return {
        **rdkafka,
        # A group id is required by the client, but this consumer never subscribes or
        # commits: it joins no group (aiokafka is the member).
        "group.id": "driftstream-fetch",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": reset,
        "isolation.level": "read_committed",  # librdkafka's default, said (as every reader)
        # An event when a partition's end is reached, at that end: past a transaction's
        # commit marker, which takes an offset but is never handed over (lag 0, not 1).
        "enable.partition.eof": True,
        "fetch.max.bytes": fetch_max_bytes,
        "fetch.min.bytes": fetch_min_bytes,
        "fetch.wait.max.ms": fetch_max_wait_ms,
        "max.partition.fetch.bytes": max_partition_fetch_bytes,
        "receive.message.max.bytes": max(100_000_000, fetch_max_bytes + 512),
        "queued.max.messages.kbytes": QUEUE_KBYTES,
        # librdkafka 2.x pauses a partition's fetches for 1 s (its default) once its
        # local queue passes a threshold: at ingest rates that halved throughput.
        "fetch.queue.backoff.ms": 10,
    }


def columns_of(msgs: Sequence[Any]) -> tuple[dict[int, RecordBatch], list[str]]:
    """A ``consume`` result → one :class:`RecordBatch` per partition, and its errors."""
    batches, errors, _ = columns_and_ends(msgs)
    return batches, errors


def columns_and_ends(
    msgs: Sequence[Any],
) -> tuple[dict[int, RecordBatch], list[str], dict[int, int]]:
    """:func:`columns_of`, and where partitions reached their end (end-of-partition events).

    Built with C-level ``map`` over the ``Message`` methods (no Python code per
    message); a ``consume`` result holds runs of one partition, split at the edges.
    """
    n = len(msgs)
    errors: list[str] = []
    ends: dict[int, int] = {}
    found = list(map(ck.Message.error, msgs))
    # (KafkaError == None raises: compare identities, in C.)
    if any(map(is_not, found, repeat(None))):  # rare: end-of-partition events, failures
        for m, e in zip(msgs, found, strict=True):
            if e is None:
                continue
            if e.code() == ck.KafkaError._PARTITION_EOF:  # noqa: SLF001 - librdkafka's code
                ends[m.partition()] = m.offset()
            else:
                errors.append(str(e))
        msgs = [m for m in msgs if m.error() is None]
        n = len(msgs)
    if not n:
        return {}, errors, ends
    parts = np.fromiter(map(ck.Message.partition, msgs), np.int64, n)
    offsets = np.fromiter(map(ck.Message.offset, msgs), np.int64, n)
    stamps = np.fromiter(map(itemgetter(1), map(ck.Message.timestamp, msgs)), np.int64, n)
    values: list[bytes | None] = list(map(ck.Message.value, msgs))
    edges = [0, *(np.flatnonzero(parts[1:] != parts[:-1]) + 1).tolist(), n]
    runs: dict[int, list[tuple[int, int]]] = {}
    for a, z in zip(edges[:-1], edges[1:], strict=True):
        runs.setdefault(int(parts[a]), []).append((a, z))
    out: dict[int, RecordBatch] = {}
    for p, spans in runs.items():
        if len(spans) == 1:
            ((a, z),) = spans
            out[p] = RecordBatch(p, values[a:z], stamps[a:z], offsets[a:z])
        else:
            out[p] = RecordBatch(
                p,
                [v for a, z in spans for v in values[a:z]],
                np.concatenate([stamps[a:z] for a, z in spans]),
                np.concatenate([offsets[a:z] for a, z in spans]),
            )
    return out, errors, ends


class FetchingConsumer(BatchConsumer):
    """A :class:`BatchConsumer` whose records come from librdkafka, not aiokafka."""

    def __init__(self, topic: str, *, rdkafka: Mapping[str, Any], **kwargs: Any) -> None:
        """``rdkafka``: librdkafka properties (servers, credentials); the rest as the base."""
        super().__init__(topic, **kwargs)
        cfg = self._config
        self._rd_config = fetch_config(
            rdkafka,
            reset=self._reset,
            fetch_max_bytes=cfg["fetch_max_bytes"],
            fetch_min_bytes=cfg["fetch_min_bytes"],
            fetch_max_wait_ms=cfg["fetch_max_wait_ms"],
            max_partition_fetch_bytes=cfg["max_partition_fetch_bytes"],
        )
        self._fetcher: ck.Consumer | None = None
        self._fetching: set[int] = set()  # partitions assigned in librdkafka
        self._next: dict[int, int] = {}  # next offset to hand over, per partition
        self._inflight: asyncio.Future[list[ck.Message]] | None = None
        self._last_error = ""

    async def start(self) -> None:
        """Join the group (aiokafka) and create the fetcher (connects lazily)."""
        if self._fetcher is None:
            self._fetcher = ck.Consumer({**self._rd_config, "error_cb": self._on_error}, logger=log)
        await super().start()

    def _on_error(self, err: ck.KafkaError) -> None:
        # librdkafka retries by itself; the health probe (aiokafka) reports an outage.
        text = str(err)
        if text != self._last_error:
            self._last_error = text
            log.warning("kafka fetcher: %s", text)

    async def stop(self) -> None:
        """Leave the group (revocation flushes first), then close the fetcher."""
        try:
            await super().stop()
        finally:  # also when leaving the group failed or timed out (broker down)
            if self._inflight is not None and not self._inflight.done():
                await asyncio.wait([self._inflight])  # never close under a running consume
            if self._fetcher is not None:
                fetcher, self._fetcher = self._fetcher, None
                self._fetching.clear()
                await asyncio.to_thread(fetcher.close)

    async def assigned(self, assigned: list[TopicPartition]) -> None:
        """Pause aiokafka's fetching of the new partitions, then claim and seek."""
        ours = [tp for tp in assigned if tp.topic == self.topic]
        if ours:
            self._consumer.pause(*ours)
        await super().assigned(assigned)

    async def revoked(self, revoked: list[TopicPartition]) -> None:
        """Flush the revoked partitions, then stop fetching them."""
        try:
            await super().revoked(revoked)
        finally:  # no longer ours, whether or not the flush went through
            gone = sorted(
                {tp.partition for tp in revoked if tp.topic == self.topic} & self._fetching
            )
            if gone and self._fetcher is not None:
                self._fetcher.incremental_unassign([ck.TopicPartition(self.topic, p) for p in gone])
                self._fetching.difference_update(gone)
            for p in gone:
                self._next.pop(p, None)

    def seek(self, positions: Mapping[int, int]) -> None:
        """Fetch these partitions from these offsets; prefetched records are dropped.

        Re-assigning (rather than ``seek``) works whether or not librdkafka has started
        fetching the partition yet, and purges its queue of the old position's records.
        """
        if not positions or self._fetcher is None:
            return
        again = sorted(set(positions) & self._fetching)
        if again:
            self._fetcher.incremental_unassign([ck.TopicPartition(self.topic, p) for p in again])
        self._fetcher.incremental_assign(
            [ck.TopicPartition(self.topic, p, int(off)) for p, off in sorted(positions.items())]
        )
        self._fetching.update(positions)
        self._next.update({p: int(off) for p, off in positions.items()})

    async def getmany(self, timeout_ms: int = 200) -> dict[int, RecordBatch]:
        """One batch per partition, as columns, from librdkafka."""
        # The group's liveness check counts aiokafka fetch calls: one that returns at
        # once (every partition is paused). Anything it still hands over was fetched
        # before the pause took effect; the same offsets come from librdkafka.
        await self._consumer.getmany(timeout_ms=0)
        if self._fetcher is None or not self._fetching:
            await asyncio.sleep(timeout_ms / 1000)
            return {}
        loop = asyncio.get_running_loop()
        wait_s = min(timeout_ms / 1000, CONSUME_TIMEOUT_S)
        self._inflight = loop.run_in_executor(
            None, self._fetcher.consume, self._max_records, wait_s
        )
        msgs = await asyncio.shield(self._inflight)
        batches, errors, ends = columns_and_ends(msgs)
        if errors:
            # Partition-level failures (authorization, unknown topic): the loop reports
            # Kafka unhealthy and retries; what was fetched alongside is still handed over.
            log.error("kafka fetch errors: %s", "; ".join(sorted(set(errors))))
            if not batches:
                msg = f"kafka fetch failed: {errors[0]}"
                raise KafkaConnectionError(msg)
        for p, b in batches.items():
            self._next[p] = b.last_offset + 1
        for p, end in ends.items():  # at the end: past any commit marker (lag 0)
            if p in self._fetching and end > self._next.get(p, end):
                self._next[p] = end
        return batches

    async def lag(self) -> dict[int, int]:
        """Records behind the end of each owned partition (ends asked of the brokers)."""
        tps = list(self._consumer.assignment())
        if not tps:
            await self._consumer.topics()
            return {}
        ends = await self._consumer.end_offsets(tps)
        return {
            tp.partition: max(0, ends[tp] - self._next.get(tp.partition, ends[tp])) for tp in tps
        }
