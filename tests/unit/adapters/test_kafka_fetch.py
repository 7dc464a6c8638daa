"""The librdkafka fetcher's pure parts: a consume() result as columns, its settings."""

from __future__ import annotations

import confluent_kafka as ck
import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from stream.adapters.kafka_fetch import QUEUE_KBYTES, columns_and_ends, columns_of, fetch_config


def _msg(p: int, off: int, value: bytes | None = b"v", ts: int = 7) -> ck.Message:
    return ck.Message(
        topic="t", partition=p, offset=off, value=value, timestamp=(ck.TIMESTAMP_CREATE_TIME, ts)
    )


def test_one_partition_is_one_batch_of_columns() -> None:
    msgs = [_msg(3, 10 + i, b"%d" % i, 1000 + i) for i in range(4)]
    batches, errors = columns_of(msgs)
    assert errors == []
    assert list(batches) == [3]
    b = batches[3]
    assert b.values == [b"0", b"1", b"2", b"3"]
    assert b.offsets.tolist() == [10, 11, 12, 13] and b.offsets.dtype == np.int64
    assert b.timestamps_ms.tolist() == [1000, 1001, 1002, 1003]


@given(st.lists(st.integers(0, 3), max_size=60))
def test_interleaved_partitions_keep_every_record_in_order(parts: list[int]) -> None:
    """Runs of one partition, in any order and repeated: each record lands once, in order."""
    nxt: dict[int, int] = {}
    msgs = []
    for p in parts:
        off = nxt.get(p, 100 * p)
        nxt[p] = off + 1
        msgs.append(_msg(p, off, None if off % 5 == 0 else f"{p}:{off}".encode(), ts=off * 2))
    batches, errors = columns_of(msgs)
    assert errors == []
    assert sorted(batches) == sorted(set(parts))
    for p, b in batches.items():
        want = [m for m in msgs if m.partition() == p]
        assert b.partition == p
        assert b.values == [m.value() for m in want]
        assert b.offsets.tolist() == [m.offset() for m in want]
        assert b.timestamps_ms.tolist() == [m.offset() * 2 for m in want]


def test_error_events_are_reported_not_handed_over_as_records() -> None:
    err = ck.Message(
        topic="t",
        partition=1,
        offset=-1,
        error=ck.KafkaError(ck.KafkaError.TOPIC_AUTHORIZATION_FAILED),
    )
    batches, errors = columns_of([_msg(0, 1), err, _msg(0, 2)])
    assert batches[0].offsets.tolist() == [1, 2]
    assert len(errors) == 1 and "authorization" in errors[0].lower()
    assert columns_of([err]) == ({}, errors)
    assert columns_of([]) == ({}, [])


def test_end_of_partition_events_give_the_end_not_an_error() -> None:
    eof = ck.Message(
        topic="t", partition=0, offset=12, error=ck.KafkaError(ck.KafkaError._PARTITION_EOF)
    )
    batches, errors, ends = columns_and_ends([_msg(0, 9), _msg(0, 10), eof])
    assert batches[0].offsets.tolist() == [9, 10] and errors == []
    assert ends == {0: 12}  # past offset 11, a commit marker never handed over
    assert columns_and_ends([eof]) == ({}, [], {0: 12})


def test_fetch_config_follows_the_consumer_settings_and_joins_no_group() -> None:
    cfg = fetch_config(
        {"bootstrap.servers": "a:1", "security.protocol": "plaintext"},
        reset="latest",
        fetch_max_bytes=200_000_000,
        fetch_min_bytes=3,
        fetch_max_wait_ms=250,
        max_partition_fetch_bytes=1_000_000,
    )
    assert cfg["bootstrap.servers"] == "a:1"
    assert cfg["auto.offset.reset"] == "latest"
    assert (cfg["fetch.max.bytes"], cfg["fetch.min.bytes"], cfg["fetch.wait.max.ms"]) == (
        200_000_000,
        3,
        250,
    )
    assert cfg["max.partition.fetch.bytes"] == 1_000_000
    assert cfg["receive.message.max.bytes"] >= 200_000_000 + 512  # librdkafka's rule
    assert cfg["enable.auto.commit"] is False and cfg["queued.max.messages.kbytes"] == QUEUE_KBYTES
    ck.Consumer(cfg).close()  # every property is one librdkafka knows
