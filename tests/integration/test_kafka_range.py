"""The range read (replay, ``reference build --topic``) on the suite's real broker.

Exactly the committed records of ``[start, end)`` per partition, in offset order:
when records follow the end, when the range ends on a commit marker (no record at
``end - 1``), when the committed tail is an aborted transaction, and when an open
transaction follows the planned end (read_committed: the plan ends at the last
stable offset and the read finishes there instead of waiting for it).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Sequence

import confluent_kafka as ck
import pytest

from stream.adapters.kafka_range import PartitionRange, plan_range, read_range
from stream.adapters.kafka_tools import produce

pytestmark = pytest.mark.integration

NewTopic = Callable[..., str]
BASE_MS = 1_767_571_200_000
Read = dict[int, list[tuple[int, bytes | None, int]]]


async def _read(bootstrap: str, topic: str, ranges: Sequence[PartitionRange], n: int) -> Read:
    got: Read = {}
    async for batch in read_range({"bootstrap.servers": bootstrap}, topic, ranges, max_records=n):
        for p, b in batch.items():
            assert b.partition == p
            got.setdefault(p, []).extend(
                zip(b.offsets.tolist(), b.values, b.timestamps_ms.tolist(), strict=True)
            )
    return got


def _read_all(bootstrap: str, topic: str, n: int = 10) -> tuple[list[PartitionRange], Read]:
    async def go() -> tuple[list[PartitionRange], Read]:
        ranges = await plan_range({"bootstrap_servers": bootstrap}, topic, None, None)
        # A hang guard only: the read ends by itself at every partition's end.
        return ranges, await asyncio.wait_for(_read(bootstrap, topic, ranges, n), 120)

    return asyncio.run(go())


def _producer(bootstrap: str) -> ck.Producer:
    p = ck.Producer(
        {"bootstrap.servers": bootstrap, "transactional.id": f"test-range-{uuid.uuid4().hex[:8]}"}
    )
    p.init_transactions(30)
    return p


def _transaction(producer: ck.Producer, topic: str, values: Sequence[bytes], *, end: str) -> None:
    """``values`` in one transaction on partition 0; ``end``: commit, abort or open."""
    producer.begin_transaction()
    for i, v in enumerate(values):
        producer.produce(topic, v, partition=0, timestamp=BASE_MS + i)
    producer.flush(30)  # in the log before the transaction ends (or stays open)
    if end == "commit":
        producer.commit_transaction(30)
    elif end == "abort":
        producer.abort_transaction(30)


def test_read_range_hands_over_exactly_the_offsets_of_each_range(
    kafka_bootstrap: str, new_topic: NewTopic
) -> None:
    topic = new_topic(2)
    values = [(f"v{i}".encode(), BASE_MS + i * 1000) for i in range(400)]
    produce({"bootstrap_servers": kafka_bootstrap}, topic, values, partitions=2)
    ranges, whole = _read_all(kafka_bootstrap, topic, n=1000)
    assert sum(r.size for r in ranges) == 400
    # A slice in the middle of each partition: records follow every end.
    middle = [PartitionRange(r.partition, r.start + 10, r.end - 7) for r in ranges]
    got = asyncio.run(_read(kafka_bootstrap, topic, middle, 16))
    assert sorted(got) == [r.partition for r in middle if r.size]
    for r in middle:
        assert [o for o, _, _ in got[r.partition]] == list(range(r.start, r.end))
        # The same records (values, record times) as the whole partition's read.
        assert got[r.partition] == [x for x in whole[r.partition] if r.start <= x[0] < r.end]
    assert sorted(v for recs in whole.values() for _, v, _ in recs) == sorted(v for v, _ in values)
    # Empty ranges read nothing, and end at once.
    assert asyncio.run(_read(kafka_bootstrap, topic, [PartitionRange(0, 5, 5)], 10)) == {}


def test_read_range_ends_on_a_commit_marker_tail(kafka_bootstrap: str, new_topic: NewTopic) -> None:
    topic = new_topic(1)
    _transaction(
        _producer(kafka_bootstrap), topic, [f"t{i}".encode() for i in range(25)], end="commit"
    )
    (r,), got = _read_all(kafka_bootstrap, topic)
    assert r.size == 26  # 25 records and the commit marker: no record at end - 1
    assert [v for _, v, _ in got[0]] == [f"t{i}".encode() for i in range(25)]
    assert [o for o, _, _ in got[0]] == list(range(25))


def test_read_range_ends_on_an_aborted_tail(kafka_bootstrap: str, new_topic: NewTopic) -> None:
    topic = new_topic(1)
    producer = _producer(kafka_bootstrap)
    kept = [f"c{i}".encode() for i in range(12)]
    _transaction(producer, topic, kept, end="commit")
    _transaction(producer, topic, [f"a{i}".encode() for i in range(30)], end="abort")
    (r,), got = _read_all(kafka_bootstrap, topic, n=5)
    assert r.size == 12 + 1 + 30 + 1  # the aborted records and both markers take offsets
    assert [v for _, v, _ in got[0]] == kept


def test_read_range_stops_at_the_last_stable_offset_before_an_open_transaction(
    kafka_bootstrap: str, new_topic: NewTopic
) -> None:
    topic = new_topic(1)
    kept = [f"c{i}".encode() for i in range(8)]
    _transaction(_producer(kafka_bootstrap), topic, kept, end="commit")
    open_tx = _producer(kafka_bootstrap)
    _transaction(open_tx, topic, [f"o{i}".encode() for i in range(5)], end="open")
    try:
        (r,), got = _read_all(kafka_bootstrap, topic)
        assert (r.start, r.end) == (0, 9)  # 8 records and a commit marker; the rest is open
        assert [v for _, v, _ in got[0]] == kept
    finally:
        open_tx.abort_transaction(30)


def test_read_range_ends_a_partition_whose_log_ends_below_the_plan_with_a_warning(
    kafka_bootstrap: str, new_topic: NewTopic, caplog: pytest.LogCaptureFixture
) -> None:
    # A plan past the log's end: what a log truncated since planning (an unclean leader
    # election) looks like to the reader. It ends there, and says so.
    topic = new_topic(2)
    values = [(f"v{i}".encode(), BASE_MS + i * 1000) for i in range(40)]
    produce({"bootstrap_servers": kafka_bootstrap}, topic, values, partitions=2)
    ranges, _ = _read_all(kafka_bootstrap, topic)
    past = [PartitionRange(0, ranges[0].start, ranges[0].end + 5), ranges[1]]
    with caplog.at_level(logging.WARNING, logger="stream.adapters.kafka_range"):
        got = asyncio.run(asyncio.wait_for(_read(kafka_bootstrap, topic, past, 10), 120))
    assert {p: len(recs) for p, recs in got.items()} == {r.partition: r.size for r in ranges}
    (line,) = [r.getMessage() for r in caplog.records if "planned end" in r.getMessage()]
    assert f"partition 0: the log ends at offset {ranges[0].end}" in line
    assert f"planned end {ranges[0].end + 5}" in line
