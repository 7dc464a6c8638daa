"""``read_range`` over a fake confluent-kafka consumer: closing, progress guards, bounds.

The consumer is faked (real ``confluent_kafka.Message`` values) to pin what the
broker cannot be made to do on demand: a task cancelled while a fetch runs in its
thread, a log truncated below the planned end, a fatal client error.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from typing import Any

import confluent_kafka as ck
import pytest

import stream.adapters.kafka_range as kr
from stream.adapters.kafka_range import MAX_RECORDS, PartitionRange, read_range
from stream.errors import DriftstreamError

TOPIC = "t"


class FakeConsumer:
    """Hands out ``script`` one ``consume`` call at a time (then nothing), slowly."""

    script: list[list[ck.Message] | ck.KafkaError] = []
    delay_s = 0.0
    made: list[FakeConsumer] = []

    def __init__(self, conf: dict[str, Any]) -> None:
        self.conf = conf
        self.calls = list(type(self).script)
        self.in_consume = threading.Event()
        self.closed = threading.Event()
        self.events: list[str] = []
        type(self).made.append(self)

    def incremental_assign(self, tps: list[ck.TopicPartition]) -> None:
        self.events.append("assign " + ",".join(f"{t.partition}@{t.offset}" for t in tps))

    def incremental_unassign(self, tps: list[ck.TopicPartition]) -> None:
        self.events.append("unassign " + ",".join(str(t.partition) for t in tps))

    def consume(self, n: int, timeout: float) -> list[ck.Message]:
        self.in_consume.set()
        try:
            threading.Event().wait(type(self).delay_s)
            step = self.calls.pop(0) if self.calls else []
            if isinstance(step, ck.KafkaError):
                self.conf["error_cb"](step)
                return []
            return step
        finally:
            self.in_consume.clear()

    def close(self) -> None:
        self.events.append("close during consume" if self.in_consume.is_set() else "close")
        self.closed.set()


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[FakeConsumer]]:
    monkeypatch.setattr(kr.ck, "Consumer", FakeConsumer)
    FakeConsumer.script, FakeConsumer.delay_s, FakeConsumer.made = [], 0.0, []
    yield FakeConsumer


def _rec(p: int, offset: int) -> ck.Message:
    return ck.Message(topic=TOPIC, partition=p, offset=offset, value=b"v", timestamp=(1, offset))


def _eof(p: int, offset: int) -> ck.Message:
    err = ck.KafkaError(ck.KafkaError._PARTITION_EOF)  # noqa: SLF001 - librdkafka's code
    return ck.Message(topic=TOPIC, partition=p, offset=offset, error=err)


async def _offsets(ranges: list[PartitionRange], **kw: Any) -> dict[int, list[int]]:
    got: dict[int, list[int]] = {}
    async for batch in read_range({}, TOPIC, ranges, **kw):
        for p, b in batch.items():
            got.setdefault(p, []).extend(b.offsets.tolist())
    return got


def test_a_cancelled_read_closes_the_consumer_only_after_the_running_fetch(
    fake: type[FakeConsumer],
) -> None:
    fake.delay_s = 0.3

    async def main() -> None:
        async def use() -> None:
            async for _ in read_range({}, TOPIC, [PartitionRange(0, 0, 10)]):
                pass

        task = asyncio.create_task(use())
        while not fake.made or not fake.made[0].in_consume.is_set():
            await asyncio.sleep(0.01)
        task.cancel()  # while consume() runs in its thread
        with pytest.raises(asyncio.CancelledError):
            await task
        assert fake.made[0].events[-1:] == ["close"]  # closed by the time the task ends

    asyncio.run(main())
    assert [e for e in fake.made[0].events if e.startswith("close")] == ["close"]


def test_a_read_cancelled_again_while_closing_still_closes_after_the_fetch(
    fake: type[FakeConsumer],
) -> None:
    fake.delay_s = 0.3

    async def main() -> None:
        async def use() -> None:
            async for _ in read_range({}, TOPIC, [PartitionRange(0, 0, 10)]):
                pass

        task = asyncio.create_task(use())
        while not fake.made or not fake.made[0].in_consume.is_set():
            await asyncio.sleep(0.01)
        task.cancel()
        await asyncio.sleep(0.05)  # the task now waits for the close
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert fake.made[0].closed.wait(5)  # in the reader's thread, after the fetch
    assert [e for e in fake.made[0].events if e.startswith("close")] == ["close"]


def test_a_failing_loop_body_closes_the_consumer_when_the_generator_is_closed(
    fake: type[FakeConsumer],
) -> None:
    fake.script = [[_rec(0, 0)]]
    fake.delay_s = 0.1

    async def main() -> None:
        reader = read_range({}, TOPIC, [PartitionRange(0, 0, 10)])
        async for _ in reader:
            break  # the next fetch is running now
        await reader.aclose()
        assert fake.made[0].events[-1] == "close"

    asyncio.run(main())


def test_a_log_ending_below_the_planned_end_ends_the_partition_with_a_warning(
    fake: type[FakeConsumer], caplog: pytest.LogCaptureFixture
) -> None:
    # Partition 0 was truncated to offset 3 (planned end 10); partition 1 reads normally.
    fake.script = [[_rec(0, 0), _rec(0, 1), _rec(0, 2), _eof(0, 3), _rec(1, 0)], [_rec(1, 1)]]
    ranges = [PartitionRange(0, 0, 10), PartitionRange(1, 0, 2)]
    with caplog.at_level(logging.WARNING, logger=kr.__name__):
        got = asyncio.run(asyncio.wait_for(_offsets(ranges), 10))
    assert got == {0: [0, 1, 2], 1: [0, 1]}
    (line,) = [r.getMessage() for r in caplog.records]
    assert "'t' partition 0" in line and "offset 3" in line and "planned end 10" in line
    assert "7 offsets not read" in line
    assert "unassign 0" in fake.made[0].events


def test_an_end_of_partition_at_the_planned_end_is_silent(
    fake: type[FakeConsumer], caplog: pytest.LogCaptureFixture
) -> None:
    fake.script = [[_rec(0, 0), _eof(0, 2)]]  # a commit marker at offset 1
    with caplog.at_level(logging.WARNING, logger=kr.__name__):
        got = asyncio.run(asyncio.wait_for(_offsets([PartitionRange(0, 0, 2)]), 10))
    assert got == {0: [0]}
    assert caplog.records == []


@pytest.mark.parametrize(
    "err",
    [
        ck.KafkaError(ck.KafkaError._AUTHENTICATION, "SASL authentication error: bad"),  # noqa: SLF001
        ck.KafkaError(ck.KafkaError.SASL_AUTHENTICATION_FAILED, "sasl failed"),
        ck.KafkaError(ck.KafkaError._FATAL, "fenced", fatal=True),  # noqa: SLF001
    ],
)
def test_a_fatal_client_error_stops_the_read_with_one_line(
    fake: type[FakeConsumer], err: ck.KafkaError
) -> None:
    fake.script = [[], err]
    with pytest.raises(DriftstreamError) as raised:
        asyncio.run(asyncio.wait_for(_offsets([PartitionRange(0, 0, 10)]), 10))
    assert str(raised.value).startswith("reading 't' failed: ") and "\n" not in str(raised.value)
    assert err.str() in str(raised.value)
    assert fake.made[0].events[-1] == "close"


def test_a_transient_client_error_is_retried(
    fake: type[FakeConsumer], caplog: pytest.LogCaptureFixture
) -> None:
    down = ck.KafkaError(ck.KafkaError._TRANSPORT, "broker down")  # noqa: SLF001
    fake.script = [down, [_rec(0, 0), _rec(0, 1)]]
    with caplog.at_level(logging.WARNING, logger=kr.__name__):
        got = asyncio.run(asyncio.wait_for(_offsets([PartitionRange(0, 0, 2)]), 10))
    assert got == {0: [0, 1]}
    assert ["retrying" in r.getMessage() for r in caplog.records] == [True]


@pytest.mark.parametrize("n", [0, MAX_RECORDS + 1])
def test_a_batch_size_out_of_librdkafkas_bounds_is_refused_in_one_line(
    fake: type[FakeConsumer], n: int
) -> None:
    with pytest.raises(DriftstreamError, match="a batch is 1 to 1,000,000 records"):
        asyncio.run(_offsets([PartitionRange(0, 0, 10)], max_records=n))
    assert fake.made == []


def test_the_largest_batch_size_librdkafka_takes_is_read(fake: type[FakeConsumer]) -> None:
    fake.script = [[_rec(0, 0)]]
    got = asyncio.run(_offsets([PartitionRange(0, 0, 1)], max_records=MAX_RECORDS))
    assert got == {0: [0]}
