"""Synchronous Kafka tools: topic admin (kafka-python) and the load producer (aiokafka batches)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.helpers import create_ssl_context
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

__all__ = ["async_options", "create_topics", "produce", "retention_ms"]

# Batches of 512 KiB (~1,500 events of 330 B) stay well under the broker's default
# message.max.bytes (1 MiB); 1 MiB ones loaded no faster, 256 KiB ones slower.
BATCH_BYTES = 512 * 1024
LINGER_MS = 50
CHECK_EVERY = 1000
STICKY_RECORDS = 1000
MAX_PENDING_ACKS = 256


def create_topics(
    options: Mapping[str, Any], topics: Mapping[str, int], replication_factor: int = 1
) -> dict[str, str]:
    """Create each topic with its partition count; returns topic → 'created' | 'exists'."""
    admin = KafkaAdminClient(**options)
    out: dict[str, str] = {}
    try:
        for name, partitions in topics.items():
            try:
                admin.create_topics(
                    [
                        NewTopic(
                            name, num_partitions=partitions, replication_factor=replication_factor
                        )
                    ]
                )
                out[name] = "created"
            except TopicAlreadyExistsError:
                out[name] = "exists"
    finally:
        admin.close()
    return out


def retention_ms(options: Mapping[str, Any], topic: str) -> int | None:
    """The topic's effective ``retention.ms`` (-1: unlimited); None when it cannot be read."""
    admin = KafkaAdminClient(**options)
    try:
        resource = ConfigResource(ConfigResourceType.TOPIC, topic, {"retention.ms": None})
        got = admin.describe_configs([resource], config_filter="all")
        value = got["topic"][topic]["retention.ms"]["value"]
        return int(value)
    except (KafkaError, KeyError, TypeError, ValueError):
        return None
    finally:
        admin.close()


def produce(
    options: Mapping[str, Any],
    topic: str,
    values: Iterable[bytes | tuple[bytes, int | None]],
    *,
    rate: float | None = None,
    partitions: int | None = None,
) -> int:
    """Send every value (idempotent producer), at most ``rate`` per second; returns the count.

    A value may come with its record timestamp, ``(bytes, timestamp_ms)``: synthetic
    streams in accelerated event time set it to the event time, so time-based
    replay (offsets for times) finds them where their events are.

    With ``partitions`` the i-th value goes to partition i mod n (even spread,
    reproducible); without, whole batches go round-robin over the topic's
    partitions (as Kafka's sticky partitioner does with keyless records).

    ``options`` are kafka-python keyword arguments (:func:`stream.wiring.kafka_python`). Records are
    framed into whole batches (aiokafka ``create_batch``/``send_batch``): per record,
    only a C-level append runs, which makes loading ~20x faster than ``send`` per
    record (docs/benchmarks.md, "Ingest"). Safe to call with an event loop running.
    """
    job = _produce_async(dict(options), topic, values, rate=rate, partitions=partitions)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(job)
    # Called from async code: a loop of our own, in a thread, so the caller's stays free.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, job).result()


def async_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """Keyword arguments for aiokafka from kafka-python ones (TLS files become an SSL context)."""
    opts = dict(options)
    files = {k: opts.pop(k, None) for k in ("ssl_cafile", "ssl_certfile", "ssl_keyfile")}
    if any(files.values()):
        opts["ssl_context"] = create_ssl_context(
            cafile=files["ssl_cafile"],
            certfile=files["ssl_certfile"],
            keyfile=files["ssl_keyfile"],
        )
    return opts


async def _produce_async(
    options: Mapping[str, Any],
    topic: str,
    values: Iterable[bytes | tuple[bytes, int | None]],
    *,
    rate: float | None,
    partitions: int | None,
) -> int:
    producer = AIOKafkaProducer(
        enable_idempotence=True,
        acks="all",
        linger_ms=0,  # batches are framed here (and lingered here): ready when handed over
        max_batch_size=BATCH_BYTES,
        max_request_size=BATCH_BYTES + 64 * 1024,
        **async_options(options),
    )
    await producer.start()
    try:
        return await _Loader(producer, topic, partitions).run(values, rate)
    finally:
        await producer.stop()


class _Loader:
    """Open batches per partition; a full (or lingering) batch is handed to the producer."""

    def __init__(self, producer: Any, topic: str, partitions: int | None) -> None:
        self.producer = producer
        self.topic = topic
        self.partitions = partitions
        self.batches: dict[int, Any] = {}
        self.acks: list[asyncio.Future[Any]] = []
        self.targets: list[int] = []

    async def run(
        self, values: Iterable[bytes | tuple[bytes, int | None]], rate: float | None
    ) -> int:
        if self.partitions is None:
            self.targets = sorted(await self.producer.partitions_for(self.topic))
        sent = 0
        started = last_send = time.monotonic()
        for item in values:
            value, ts = item if isinstance(item, tuple) else (item, None)
            part = sent % self.partitions if self.partitions else self._sticky(sent)
            batch = self.batches.get(part)
            if batch is None:
                batch = self.batches[part] = self.producer.create_batch()
            if batch.append(key=None, value=value, timestamp=ts) is None:
                # Full: ship it; a fresh batch always takes one record, however large.
                await self._ship(part)
                batch = self.batches[part] = self.producer.create_batch()
                batch.append(key=None, value=value, timestamp=ts)
            sent += 1
            now = time.monotonic()
            if now - last_send >= LINGER_MS / 1000:
                # Slow or rate-limited input: do not hold records back in open batches.
                await self._ship_all()
                last_send = now
            if rate and sent % CHECK_EVERY == 0:
                ahead = sent / rate - (now - started)
                if ahead > 0:
                    await self._ship_all()
                    await asyncio.sleep(ahead)
                    last_send = time.monotonic()
        await self._ship_all()
        await asyncio.gather(*self.acks)
        return sent

    def _sticky(self, sent: int) -> int:
        return self.targets[(sent // STICKY_RECORDS) % len(self.targets)]

    async def _ship(self, part: int) -> None:
        batch = self.batches.pop(part)
        batch.close()  # closed = ready to send now (an open one would linger in the producer)
        if batch.record_count():
            self.acks.append(await self.producer.send_batch(batch, self.topic, partition=part))
            await asyncio.sleep(0)  # let the sender task write it while we frame the next
        if len(self.acks) >= MAX_PENDING_ACKS:
            # Surface delivery errors early and keep the list short.
            done = [f for f in self.acks if f.done()]
            for f in done:
                f.result()
            self.acks = [f for f in self.acks if not f.done()]

    async def _ship_all(self) -> None:
        for part in list(self.batches):
            await self._ship(part)
