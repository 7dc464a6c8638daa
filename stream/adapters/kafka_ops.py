"""Operator reads of Kafka (kafka-python): a consumer group's lag, and tailing a topic.

Neither joins a consumer group: lag reads committed offsets from the group
coordinator and end offsets from the leaders; a tail assigns partitions by hand
and never commits, so running either beside live workers changes nothing.
"""

from __future__ import annotations

import gc
import time
import warnings
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from stream.adapters.reach import kafka_down, unreachable
from stream.errors import KafkaUnavailableError

__all__ = ["GroupLag", "KafkaUnavailableError", "TailRecord", "group_lag", "tail"]

# An operator command should fail in seconds, not in kafka-python's default 30 s.
REQUEST_TIMEOUT_MS = 10_000
BOOTSTRAP_TIMEOUT_MS = 5_000
POLL_MS = 500


@dataclass(frozen=True, slots=True)
class GroupLag:
    """Per partition of a topic: log start and end, and the group's committed offset."""

    topic: str
    group: str
    start: Mapping[int, int]
    end: Mapping[int, int]
    committed: Mapping[int, int | None]

    def lag(self, partition: int) -> int:
        """Records not yet confirmed: from the commit (without one: the log start) to the end."""
        done = self.committed.get(partition)
        base = self.start.get(partition, 0) if done is None else done
        return max(0, self.end[partition] - base)

    @property
    def total(self) -> int:
        """Sum of :meth:`lag` over the partitions."""
        return sum(self.lag(p) for p in self.end)


@dataclass(frozen=True, slots=True)
class TailRecord:
    """One record read by :func:`tail`."""

    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()


def _consumer(options: Mapping[str, Any], group: str | None = None) -> KafkaConsumer:
    servers = list(options.get("bootstrap_servers") or [])
    down = unreachable(servers)
    if down is not None:
        # Checked before kafka-python tries: it would take its bootstrap timeout to fail.
        raise KafkaUnavailableError(str(kafka_down(down)))
    extra: dict[str, Any] = {"request_timeout_ms": REQUEST_TIMEOUT_MS}
    if "bootstrap_timeout_ms" in KafkaConsumer.DEFAULT_CONFIG:  # not in every kafka-python 3.0.x
        extra["bootstrap_timeout_ms"] = BOOTSTRAP_TIMEOUT_MS
    try:
        return KafkaConsumer(group_id=group, enable_auto_commit=False, **extra, **options)
    except KafkaError as exc:
        problem = str(exc)
    # Outside the except block: the failed client is unreachable now, collect it.
    _collect_leaked_sockets()
    msg = f"kafka: cannot reach {','.join(servers)}: {problem}"
    raise KafkaUnavailableError(msg)


def _collect_leaked_sockets() -> None:
    # kafka-python leaves the sockets of a failed bootstrap unclosed in reference cycles;
    # collect them now, quietly, instead of a ResourceWarning at some later moment.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


def _partitions(consumer: KafkaConsumer, topic: str) -> list[TopicPartition]:
    parts = consumer.partitions_for_topic(topic)
    if not parts:
        msg = f"kafka: topic {topic!r} does not exist (see `driftstream topics create`)"
        raise KafkaUnavailableError(msg)
    return [TopicPartition(topic, p) for p in sorted(parts)]


def group_lag(options: Mapping[str, Any], topic: str, group: str) -> GroupLag:
    """End and committed offsets of every partition of ``topic`` for ``group``.

    Args:
        options: kafka-python keyword arguments (``kafka_tools.sync_options``).
        topic: the topic (the features topic).
        group: the consumer group whose commits are read (never joined).

    Raises:
        KafkaUnavailableError: Kafka does not answer, or the topic does not exist.
    """
    consumer = _consumer(options, group)
    try:
        tps = _partitions(consumer, topic)
        start = {tp.partition: int(o) for tp, o in consumer.beginning_offsets(tps).items()}
        end = {tp.partition: int(o) for tp, o in consumer.end_offsets(tps).items()}
        committed: dict[int, int | None] = {}
        for tp in tps:
            c = consumer.committed(tp)
            committed[tp.partition] = None if c is None or c < 0 else int(c)
        return GroupLag(topic, group, start, end, committed)
    except KafkaError as exc:
        msg = f"kafka: reading offsets of {topic!r} failed: {exc}"
        raise KafkaUnavailableError(msg) from None
    finally:
        consumer.close()


def tail(
    options: Mapping[str, Any],
    topic: str,
    *,
    from_beginning: bool = False,
    idle_timeout_s: float | None = None,
    on_ready: Callable[[], None] | None = None,
    to_end: bool = False,
) -> Generator[TailRecord, None, None]:
    """Records of every partition of ``topic``, in arrival order per poll, until idle.

    Args:
        options: kafka-python keyword arguments.
        topic: topic to read.
        from_beginning: start at the earliest retained record, else at the current end
            (positions are fixed before the first record is yielded).
        idle_timeout_s: stop after this long without a record (None: follow forever).
        on_ready: called once the start positions are fixed (before the first poll).
        to_end: stop once every partition is read up to its end offset taken when the
            start positions are fixed (a snapshot: a slow fetch cannot cut it short;
            ``idle_timeout_s`` then only bounds a broker that stops answering, and
            raises :class:`KafkaUnavailableError` rather than end short).

    Raises:
        KafkaUnavailableError: Kafka does not answer, or the topic does not exist.
    """
    consumer = _consumer(options)
    try:
        tps = _partitions(consumer, topic)
        consumer.assign(tps)
        if from_beginning:
            consumer.seek_to_beginning(*tps)
        else:
            consumer.seek_to_end(*tps)
        for tp in tps:
            consumer.position(tp)  # resolve now: "from the end" means from this moment
        ends = consumer.end_offsets(tps) if to_end else {}
        if on_ready is not None:
            on_ready()
        last = time.monotonic()
        while True:
            if to_end and all(consumer.position(tp) >= ends[tp] for tp in tps):
                return
            wait_ms = POLL_MS
            if idle_timeout_s is not None:
                left = idle_timeout_s - (time.monotonic() - last)
                if left <= 0:
                    if to_end:  # a partial count must not pass for the whole topic
                        at = {tp.partition: consumer.position(tp) for tp in tps}
                        end = {tp.partition: ends[tp] for tp in tps}
                        msg = (
                            f"kafka: reading {topic!r} stopped after {idle_timeout_s:g}s without "
                            f"a record at offsets {at}, before its end {end} (see --timeout)"
                        )
                        raise KafkaUnavailableError(msg)
                    return
                wait_ms = max(1, min(POLL_MS, int(left * 1000)))
            batches = consumer.poll(timeout_ms=wait_ms)
            records = [r for rs in batches.values() for r in rs]
            if not records:
                continue
            last = time.monotonic()
            records.sort(key=lambda r: (r.timestamp, r.partition, r.offset))
            for r in records:
                headers = tuple((k, v or b"") for k, v in r.headers or ())
                yield TailRecord(r.partition, r.offset, int(r.timestamp), r.key, r.value, headers)
    except KafkaError as exc:
        msg = f"kafka: reading {topic!r} failed: {exc}"
        raise KafkaUnavailableError(msg) from None
    finally:
        consumer.close()
