"""Records of aborted transactions are read by no driftstream reader (real Kafka).

A producer using transactions leaves aborted records (and commit markers) in the log.
The live worker's features fetcher (librdkafka), the label consumer (aiokafka, in a
group) and a replay's range read (librdkafka, no group) must all skip the aborted ones,
or a replay would count events live never saw.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Sequence

import pytest

from stream.adapters.kafka import BatchConsumer
from stream.adapters.kafka_fetch import columns_of, fetch_config
from stream.adapters.kafka_range import plan_range, read_range, record_time_span

pytestmark = pytest.mark.integration

NewTopic = Callable[..., str]

BASE_MS = 1_767_571_200_000
GUARD_S = 120  # hang guard only: each loop ends once what it waits for has arrived
COMMITTED = [f"c{i}".encode() for i in range(10)]


def _produce(bootstrap: str, topic: str) -> None:
    """c0..c4 committed, a0..a4 aborted, c5..c9 committed (one partition)."""
    import confluent_kafka as ck

    producer = ck.Producer(
        {"bootstrap.servers": bootstrap, "transactional.id": f"test-{uuid.uuid4().hex[:8]}"}
    )
    producer.init_transactions(30)
    for values, commit in (
        (COMMITTED[:5], True),
        ([f"a{i}".encode() for i in range(5)], False),
        (COMMITTED[5:], True),
    ):
        producer.begin_transaction()
        for v in values:
            i = int(v[1:]) + (0 if commit else 100)
            producer.produce(topic, v, partition=0, timestamp=BASE_MS + i * 1000)
        if commit:
            producer.commit_transaction(30)
        else:
            producer.flush(30)  # the aborted records are in the log, then aborted
            producer.abort_transaction(30)


def test_range_read_and_span_skip_aborted_records(
    kafka_bootstrap: str, new_topic: NewTopic
) -> None:
    topic = new_topic(1)
    _produce(kafka_bootstrap, topic)
    opts = {"bootstrap_servers": kafka_bootstrap}

    async def read() -> tuple[list[bytes], tuple[int, int] | None]:
        ranges = await plan_range(opts, topic, None, None)
        got: list[bytes] = []
        async for batch in read_range({"bootstrap.servers": kafka_bootstrap}, topic, ranges):
            for b in batch.values():
                got.extend(v for v in b.values if v is not None)
        return got, await record_time_span(opts, topic)

    got, span = asyncio.run(read())
    assert got == COMMITTED
    # The log ends with a commit marker (never read): the span still finds c9.
    assert span == (BASE_MS, BASE_MS + 9 * 1000)


def test_group_consumer_skips_aborted_records(kafka_bootstrap: str, new_topic: NewTopic) -> None:
    """The label consumer's reader (aiokafka in a group)."""
    topic = new_topic(1)
    _produce(kafka_bootstrap, topic)

    async def on_assign(parts: Sequence[int], starts: dict[int, int]) -> dict[int, int]:
        return dict(starts)

    async def on_revoke(parts: Sequence[int]) -> None:
        return None

    async def read() -> list[bytes]:
        consumer = BatchConsumer(
            topic,
            group_id=f"test-{uuid.uuid4().hex[:8]}",
            options={"bootstrap_servers": kafka_bootstrap},
            on_assign=on_assign,
            on_revoke=on_revoke,
        )
        await consumer.start()
        got: list[bytes] = []
        try:
            deadline = time.monotonic() + GUARD_S
            while len(got) < len(COMMITTED) and time.monotonic() < deadline:
                for b in (await consumer.getmany(500)).values():
                    got.extend(v for v in b.values if v is not None)
            # Nothing more arrives (the aborted records would come after c4).
            for b in (await consumer.getmany(1000)).values():
                got.extend(v for v in b.values if v is not None)
        finally:
            await consumer.stop()
        return got

    assert asyncio.run(read()) == COMMITTED


def test_features_fetcher_skips_aborted_records(kafka_bootstrap: str, new_topic: NewTopic) -> None:
    """The worker's features fetcher (librdkafka), configured as the worker configures it."""
    import confluent_kafka as ck

    topic = new_topic(1)
    _produce(kafka_bootstrap, topic)
    cfg = fetch_config(
        {"bootstrap.servers": kafka_bootstrap},
        reset="earliest",
        fetch_max_bytes=52_428_800,
        fetch_min_bytes=1,
        fetch_max_wait_ms=100,
        max_partition_fetch_bytes=1_048_576,
    )
    consumer = ck.Consumer(cfg)
    got: list[bytes] = []
    try:
        consumer.incremental_assign([ck.TopicPartition(topic, 0, 0)])
        deadline = time.monotonic() + GUARD_S
        while len(got) < len(COMMITTED) and time.monotonic() < deadline:
            batches, errors = columns_of(consumer.consume(1000, 0.5))
            assert errors == []
            for b in batches.values():
                got.extend(v for v in b.values if v is not None)
        batches, _ = columns_of(consumer.consume(1000, 1.0))
        for b in batches.values():
            got.extend(v for v in b.values if v is not None)
    finally:
        consumer.close()
    assert got == COMMITTED


def test_the_features_consumer_reads_committed_and_ends_with_no_lag(
    kafka_bootstrap: str, new_topic: NewTopic
) -> None:
    """The worker's consumer (aiokafka in the group, librdkafka fetching): the commit
    marker after the last record takes an offset, yet the partition ends at lag 0 (a
    lag of 1 would keep it from idle sealing and make /health say "stalled")."""
    from stream.adapters.kafka_fetch import FetchingConsumer

    topic = new_topic(1)
    _produce(kafka_bootstrap, topic)

    async def on_assign(parts: Sequence[int], starts: dict[int, int]) -> dict[int, int]:
        return dict(starts)

    async def on_revoke(parts: Sequence[int]) -> None:
        return None

    async def read() -> tuple[list[bytes], dict[int, int]]:
        consumer = FetchingConsumer(
            topic,
            rdkafka={"bootstrap.servers": kafka_bootstrap},
            group_id=f"test-{uuid.uuid4().hex[:8]}",
            options={"bootstrap_servers": kafka_bootstrap},
            on_assign=on_assign,
            on_revoke=on_revoke,
        )
        await consumer.start()
        got: list[bytes] = []
        lag: dict[int, int] = {}
        try:
            deadline = time.monotonic() + GUARD_S
            while time.monotonic() < deadline:
                for b in (await consumer.getmany(500)).values():
                    got.extend(v for v in b.values if v is not None)
                if len(got) >= len(COMMITTED):
                    lag = await consumer.lag()
                    if lag == {0: 0}:
                        break
        finally:
            await consumer.stop()
        return got, lag

    got, lag = asyncio.run(read())
    assert got == COMMITTED
    assert lag == {0: 0}
