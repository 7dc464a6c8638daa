"""The pinned broker (Kafka 4.x, KRaft) works with every client driftstream uses.

Kafka 4 removed old protocol versions (KIP-896), so each client is exercised on
the calls the project relies on: kafka-python for admin and the synchronous
tools, aiokafka for the data plane's group membership and producers,
confluent-kafka (librdkafka) for the worker's features fetcher, faust-streaming
for the control plane. The module also fails if the broker logged a request it rejected for an
unsupported API version while these tests ran.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import TopicPartition as AioTopicPartition
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient

from stream.localstack import LocalStack

pytestmark = pytest.mark.integration

NewTopic = Callable[..., str]

# 2026-01-05T00:00:00Z: records carry historical event timestamps, as replays do.
BASE_MS = 1_767_571_200_000
PER_PARTITION = 10
# Hang guards only (a loaded machine can take long to join a group, start a faust
# worker, fetch): each loop below ends as soon as what it waits for has arrived.
GUARD_S = 120
FAUST_GUARD_S = 300


@pytest.fixture(scope="module", autouse=True)
def no_rejected_api_versions(stack: LocalStack) -> Iterator[None]:
    """After the module: the broker log must not show requests at removed API versions."""
    log = stack.kafka_log
    start = log.stat().st_size if log is not None and log.exists() else 0
    yield
    if log is None:
        return  # attached stack: its log is not ours to read
    with log.open("rb") as handle:
        handle.seek(start)
        new = handle.read().decode("utf-8", "replace")
    rejected = [
        line
        for line in new.splitlines()
        if "unsupported version" in line.lower() or "UnsupportedVersionException" in line
    ]
    assert not rejected, "\n".join(rejected[:5])


def _group() -> str:
    return f"test-group-{uuid.uuid4().hex[:8]}"


def _produce_history(bootstrap: str, topic: str, partitions: int) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all")
    try:
        for partition in range(partitions):
            for i in range(PER_PARTITION):
                producer.send(
                    topic,
                    key=f"k{i}".encode(),
                    value=f"p{partition}-{i}".encode(),
                    partition=partition,
                    timestamp_ms=BASE_MS + i * 1000,
                )
        producer.flush()
    finally:
        producer.close()


# -- kafka-python -------------------------------------------------------------------


def test_kafka_python_admin_create_list_describe(kafka_bootstrap: str, new_topic: NewTopic) -> None:
    topic = new_topic(3, config={"retention.ms": "-1"})
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        assert topic in admin.list_topics()
        (described,) = admin.describe_topics([topic])
    finally:
        admin.close()
    assert described["error_code"] == 0
    partitions = sorted(described["partitions"], key=lambda p: p["partition_index"])
    assert [p["partition_index"] for p in partitions] == [0, 1, 2]
    assert all(p["leader_id"] == 1 for p in partitions)


def test_kafka_python_idempotent_producer_group_commit_and_offset_lookups(
    kafka_bootstrap: str, new_topic: NewTopic
) -> None:
    topic = new_topic(2)
    _produce_history(kafka_bootstrap, topic, partitions=2)
    tps = [TopicPartition(topic, p) for p in range(2)]

    consumer = KafkaConsumer(
        bootstrap_servers=kafka_bootstrap,
        group_id=_group(),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    try:
        consumer.subscribe([topic])
        seen: list[bytes] = []
        deadline = time.monotonic() + GUARD_S  # a broken group join fails, not hangs
        while time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                seen.extend(r.value for r in records)
            if len(seen) >= 2 * PER_PARTITION:
                break
        assert sorted(seen) == sorted(
            f"p{p}-{i}".encode() for p in range(2) for i in range(PER_PARTITION)
        )
        consumer.commit()
        assert {tp.partition: consumer.committed(tp) for tp in tps} == {0: 10, 1: 10}
        assert consumer.end_offsets(tps) == {tps[0]: 10, tps[1]: 10}
        found = consumer.offsets_for_times({tp: BASE_MS + 5_000 for tp in tps})
        assert {tp.partition: (o.offset, o.timestamp) for tp, o in found.items()} == {
            0: (5, BASE_MS + 5_000),
            1: (5, BASE_MS + 5_000),
        }
        beyond = consumer.offsets_for_times({tps[0]: BASE_MS + 60_000})
        assert beyond[tps[0]] is None  # no record at or after that time
    finally:
        consumer.close()


# -- aiokafka -----------------------------------------------------------------------


def test_aiokafka_idempotent_producer_and_getmany_group_commit(
    kafka_bootstrap: str, new_topic: NewTopic
) -> None:
    topic = new_topic(2)
    total = 2 * PER_PARTITION

    async def scenario() -> tuple[list[bytes], dict[int, int | None]]:
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, enable_idempotence=True)
        await producer.start()
        try:
            sends = [
                await producer.send(topic, value=f"a{i}".encode(), partition=i % 2)
                for i in range(total)
            ]
            await asyncio.gather(*sends)
        finally:
            await producer.stop()

        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=kafka_bootstrap,
            group_id=_group(),
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        try:
            got: list[bytes] = []
            deadline = time.monotonic() + GUARD_S  # bounded, as above
            while time.monotonic() < deadline:
                batches = await consumer.getmany(timeout_ms=500, max_records=1000)
                for messages in batches.values():
                    got.extend(m.value for m in messages if m.value is not None)
                if len(got) >= total:
                    break
            await consumer.commit()
            committed = {p: await consumer.committed(AioTopicPartition(topic, p)) for p in range(2)}
        finally:
            await consumer.stop()
        return got, committed

    got, committed = asyncio.run(scenario())
    assert sorted(got) == sorted(f"a{i}".encode() for i in range(total))
    assert committed == {0: PER_PARTITION, 1: PER_PARTITION}


# -- confluent-kafka (librdkafka): the worker's features fetcher ------------------------
def test_confluent_manual_assignment_consume_and_reassign_at_an_offset(
    kafka_bootstrap: str, new_topic: NewTopic
) -> None:
    """The calls FetchingConsumer makes: assign at offsets, consume, re-assign to seek."""
    import confluent_kafka as ck

    from stream.adapters.kafka_fetch import columns_of, fetch_config

    topic = new_topic(2)
    _produce_history(kafka_bootstrap, topic, 2)
    cfg = fetch_config(
        {"bootstrap.servers": kafka_bootstrap},
        reset="earliest",
        fetch_max_bytes=52_428_800,
        fetch_min_bytes=1,
        fetch_max_wait_ms=100,
        max_partition_fetch_bytes=1_048_576,
    )
    consumer = ck.Consumer(cfg)

    def drain(want: int) -> dict[int, list[int]]:
        seen: dict[int, list[int]] = {}
        deadline = time.monotonic() + GUARD_S  # bounded
        while time.monotonic() < deadline:
            batches, errors = columns_of(consumer.consume(1000, 0.5))
            assert errors == []
            for p, b in batches.items():
                seen.setdefault(p, []).extend(b.offsets.tolist())
                assert b.timestamps_ms.tolist() == [BASE_MS + o * 1000 for o in b.offsets]
            if sum(map(len, seen.values())) >= want:
                break
        return seen

    try:
        consumer.incremental_assign(
            [ck.TopicPartition(topic, 0, 3), ck.TopicPartition(topic, 1, 0)]
        )
        assert drain(7 + PER_PARTITION) == {0: list(range(3, 10)), 1: list(range(PER_PARTITION))}
        # A seek is unassign + assign at the offset (works before fetching started, too)
        consumer.incremental_unassign([ck.TopicPartition(topic, 0)])
        consumer.incremental_assign([ck.TopicPartition(topic, 0, 8)])
        assert drain(2) == {0: [8, 9]}
    finally:
        consumer.close()


# -- faust-streaming ----------------------------------------------------------------

_FAUST_APP = textwrap.dedent(
    """
    import os

    import faust

    app = faust.App(
        os.environ["FAUST_APP_ID"],
        broker="kafka://" + os.environ["FAUST_BOOTSTRAP"],
        store="memory://",
        topic_replication_factor=1,
        topic_partitions=1,
        web_enabled=False,
    )
    source = app.topic(os.environ["FAUST_IN"], value_serializer="json")
    sink = app.topic(os.environ["FAUST_OUT"], value_serializer="json")
    # A table makes faust create a changelog topic, the other internal topic kind.
    counts = app.Table("counts", default=int, partitions=1)


    @app.agent(source)
    async def count(stream):
        async for event in stream:
            counts[event["key"]] += 1
            await sink.send(value={"key": event["key"], "count": counts[event["key"]]})


    if __name__ == "__main__":
        app.main()
    """
)


def test_faust_app_creates_internal_topics_and_processes_through_an_agent(
    kafka_bootstrap: str, new_topic: NewTopic, tmp_path: Path
) -> None:
    source, sink = new_topic(1), new_topic(1)
    app_id = f"test-faust-{uuid.uuid4().hex[:8]}"
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    try:
        producer.send(source, key=b"fraud-v3", value=b'{"key": "fraud-v3"}')
        producer.flush()
    finally:
        producer.close()

    (tmp_path / "faust_app.py").write_text(_FAUST_APP)
    env = {
        **os.environ,
        "FAUST_APP_ID": app_id,
        "FAUST_BOOTSTRAP": kafka_bootstrap,
        "FAUST_IN": source,
        "FAUST_OUT": sink,
        "PYTHONWARNINGS": "ignore",  # the worker's own deprecation noise is not under test
    }
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log:
        worker = subprocess.Popen(
            [sys.executable, "faust_app.py", "worker", "--loglevel", "info", "--without-web"],
            cwd=tmp_path,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    consumer = KafkaConsumer(
        sink, bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest", group_id=None
    )
    try:
        out: list[bytes] = []
        deadline = time.monotonic() + FAUST_GUARD_S  # the worker starts, joins, processes
        while time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                out.extend(r.value for r in records)
            if out or worker.poll() is not None:
                break
        assert out == [b'{"key":"fraud-v3","count":1}'], log_path.read_text()[-3000:]
    finally:
        consumer.close()
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
        try:
            code = worker.wait(timeout=60)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
            raise
    text = log_path.read_text()
    assert code == 0, text[-3000:]

    internal = {f"{app_id}-__assignor-__leader", f"{app_id}-counts-changelog"}
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        assert internal <= set(admin.list_topics())
        admin.delete_topics(sorted(internal))  # keep an attached, long-lived broker tidy
    finally:
        admin.close()
    errors = [ln for ln in text.splitlines() if "ERROR" in ln or "Traceback" in ln]
    assert not errors, "\n".join(errors[:10])
