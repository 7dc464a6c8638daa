"""Kafka edges of the data plane: the aiokafka batch consumer and the producers.

The features topic is read with ``getmany`` in batches (never event by event),
in a consumer group whose rebalances call the data plane's ``assign``/``revoke``.
Offsets in Redis are the truth: on assignment the consumer seeks to what the
store says; commits to the group are for lag monitoring only.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict
from operator import attrgetter
from typing import Any

import numpy as np
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaTimeoutError

from stream.pipeline.ports.data import DeadLetter, RecordBatch, SealNotice

__all__ = [
    "BatchConsumer",
    "KafkaDeadLetterSink",
    "KafkaNoticeSink",
]

log = logging.getLogger(__name__)

AssignFn = Callable[[Sequence[int], Mapping[int, int]], Awaitable[Mapping[int, int]]]
RevokeFn = Callable[[Sequence[int]], Awaitable[None]]


def columns(partition: int, msgs: Sequence[Any]) -> RecordBatch:
    """Aiokafka messages of one partition → a :class:`RecordBatch` (no object per record)."""
    n = len(msgs)
    first, last = msgs[0].offset, msgs[-1].offset
    offsets = (
        np.arange(first, last + 1, dtype=np.int64)
        if last - first == n - 1  # no compaction or transaction-marker gaps
        else np.fromiter(map(attrgetter("offset"), msgs), np.int64, n)
    )
    return RecordBatch(
        partition,
        list(map(attrgetter("value"), msgs)),
        np.fromiter(map(attrgetter("timestamp"), msgs), np.int64, n),
        offsets,
    )


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, owner: BatchConsumer) -> None:
        self._owner = owner

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        await self._owner.revoked(revoked)

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        await self._owner.assigned(assigned)


class BatchConsumer:
    """A group member on one topic that hands whole batches to the data plane."""

    def __init__(
        self,
        topic: str,
        *,
        group_id: str,
        options: Mapping[str, Any],
        on_assign: AssignFn,
        on_revoke: RevokeFn,
        reset: str = "earliest",
        max_records: int = 20_000,
        fetch_max_bytes: int = 52_428_800,
        fetch_max_wait_ms: int = 500,
        fetch_min_bytes: int = 1,
        max_partition_fetch_bytes: int = 13_107_200,
    ) -> None:
        self.topic = topic
        self._on_assign = on_assign
        self._on_revoke = on_revoke
        self._reset = reset
        self._max_records = max_records
        # aiokafka clients bind to the running loop: build them in start().
        self._config: dict[str, Any] = {
            "group_id": group_id,
            "enable_auto_commit": False,
            "auto_offset_reset": reset,
            "fetch_max_bytes": fetch_max_bytes,
            "fetch_max_wait_ms": fetch_max_wait_ms,
            "fetch_min_bytes": fetch_min_bytes,
            "max_partition_fetch_bytes": max_partition_fetch_bytes,
            "max_poll_records": max_records,
            # A member killed mid-rebalance is waited for this long (default: the
            # 5-minute max poll interval); a dead worker must not stall the group.
            "rebalance_timeout_ms": 30_000,
            "session_timeout_ms": 10_000,
            "heartbeat_interval_ms": 3_000,
            # Records of aborted transactions are never read (as librdkafka's fetcher
            # and a replay's range read): live and replay see the same records.
            "isolation_level": "read_committed",
            **options,
        }
        self._consumer: AIOKafkaConsumer = None

    async def start(self) -> None:
        """Connect and join the group."""
        self._consumer = AIOKafkaConsumer(**self._config)
        await self._consumer.start()
        self._consumer.subscribe([self.topic], listener=_Listener(self))

    async def stop(self) -> None:
        """Leave the group (revocation flushes first)."""
        if self._consumer is not None:
            await self._consumer.stop()

    async def assigned(self, assigned: list[TopicPartition]) -> None:
        """Rebalance gave us partitions: claim them in the store and seek."""
        parts = sorted(tp.partition for tp in assigned if tp.topic == self.topic)
        # Called with nothing too: an empty assignment is a finished claim (health).
        seeks = await self._on_assign(parts, await self.start_offsets(parts))
        self.seek(seeks)
        log.info("assigned partitions %s, seeking to %s", parts, dict(seeks))

    async def start_offsets(self, partitions: Sequence[int]) -> dict[int, int]:
        """Where a model with no stored offset starts, per the reset policy."""
        tps = [TopicPartition(self.topic, p) for p in partitions]
        if not tps:
            return {}
        edge = (
            await self._consumer.beginning_offsets(tps)
            if self._reset == "earliest"
            else await self._consumer.end_offsets(tps)
        )
        return {tp.partition: int(off) for tp, off in edge.items()}

    def seek(self, positions: Mapping[int, int]) -> None:
        """Move the fetch positions (the next getmany starts there)."""
        for p, off in positions.items():
            self._consumer.seek(TopicPartition(self.topic, p), off)

    async def revoked(self, revoked: list[TopicPartition]) -> None:
        """Rebalance takes partitions away: flush them first."""
        parts = sorted(tp.partition for tp in revoked if tp.topic == self.topic)
        if parts:
            await self._on_revoke(parts)
            log.info("revoked partitions %s", parts)

    async def getmany(self, timeout_ms: int = 200) -> dict[int, RecordBatch]:
        """One batch per partition, as columns."""
        data = await self._consumer.getmany(timeout_ms=timeout_ms, max_records=self._max_records)
        return {tp.partition: columns(tp.partition, msgs) for tp, msgs in data.items() if msgs}

    async def commit(self, positions: Mapping[int, int]) -> None:
        """Commit consumed positions of the partitions still owned (monitoring only)."""
        owned = {tp.partition for tp in self._consumer.assignment()}
        offsets = {TopicPartition(self.topic, p): o for p, o in positions.items() if p in owned}
        if offsets:
            try:
                await asyncio.wait_for(self._consumer.commit(offsets), timeout=ACK_TIMEOUT_S)
            except TimeoutError:
                msg = f"offset commit not answered within {ACK_TIMEOUT_S:.0f}s"
                raise KafkaTimeoutError(msg) from None

    async def lag(self) -> dict[int, int]:
        """Records behind the end of each owned partition; asks the brokers even with none.

        Raises ``KafkaError`` when no broker answers (aiokafka's fetch loop retries
        silently, so this is how the worker notices a broker outage).
        """
        tps = list(self._consumer.assignment())
        if not tps:
            await self._consumer.topics()
            return {}
        ends = await self._consumer.end_offsets(tps)
        return {tp.partition: max(0, ends[tp] - await self._consumer.position(tp)) for tp in tps}


#: How long a flush waits for the group to answer an offset commit (monitoring only:
#: a KafkaTimeoutError is counted and reported, nothing is lost).
ACK_TIMEOUT_S = 5.0


class _Producer:
    """An idempotent aiokafka producer of one topic, started on first use."""

    def __init__(self, topic: str, options: Mapping[str, Any]) -> None:
        self.topic = topic
        self._options = dict(options)
        self._producer: AIOKafkaProducer = None
        self._started = False

    async def start(self) -> None:
        if not self._started:
            self._producer = AIOKafkaProducer(
                enable_idempotence=True, acks="all", linger_ms=5, **self._options
            )
            await self._producer.start()
            self._started = True

    async def stop(self) -> None:
        if self._started:
            await self._producer.stop()
            self._started = False

    async def _send_all(self, items: Sequence[tuple[bytes | None, bytes, Any]]) -> None:
        # No timeout here: a cancelled wait would re-send records the producer still
        # delivers (duplicates). The worker's health watch reports a silent broker.
        futures = [
            await self._producer.send(self.topic, value=value, key=key, headers=headers)
            for key, value, headers in items
        ]
        await asyncio.gather(*futures)


class KafkaDeadLetterSink(_Producer):
    """Dead letters: the original bytes as the value, the reason in headers."""

    async def send(self, letters: Sequence[DeadLetter]) -> None:
        """Send and wait for every acknowledgement."""
        await self._send_all(
            [
                (
                    f"{d.topic}:{d.partition}:{d.offset}".encode(),
                    d.raw,
                    [
                        ("ds-reason", d.reason.encode()),
                        ("ds-detail", d.detail.encode()),
                        ("ds-topic", d.topic.encode()),
                        ("ds-partition", str(d.partition).encode()),
                        ("ds-offset", str(d.offset).encode()),
                        ("ds-timestamp-ms", str(d.timestamp_ms).encode()),
                    ],
                )
                for d in letters
            ]
        )


class KafkaNoticeSink(_Producer):
    """Seal notices on the internal topic, keyed by model (one evaluator per model)."""

    async def publish(self, notices: Sequence[SealNotice]) -> None:
        """Publish and wait for every acknowledgement."""
        await self._send_all([(n.model.encode(), orjson.dumps(asdict(n)), None) for n in notices])
