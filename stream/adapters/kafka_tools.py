"""Synchronous Kafka tools on kafka-python: topic admin and the load producer."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

__all__ = ["create_topics", "produce", "sync_options"]


def sync_options(kafka: Any) -> dict[str, Any]:
    """kafka-python keyword arguments from the ``kafka`` settings section."""
    opts: dict[str, Any] = {
        "bootstrap_servers": kafka.bootstrap_servers.split(","),
        "client_id": kafka.client_id,
        "security_protocol": kafka.security_protocol,
    }
    if kafka.sasl_mechanism:
        opts["sasl_mechanism"] = kafka.sasl_mechanism
        opts["sasl_plain_username"] = kafka.sasl_username
        if kafka.sasl_password is not None:
            opts["sasl_plain_password"] = kafka.sasl_password.get_secret_value()
    for ours, theirs in (
        ("ssl_cafile", "ssl_cafile"),
        ("ssl_certfile", "ssl_certfile"),
        ("ssl_keyfile", "ssl_keyfile"),
    ):
        if getattr(kafka, ours):
            opts[theirs] = getattr(kafka, ours)
    return opts


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


def produce(
    options: Mapping[str, Any],
    topic: str,
    values: Iterable[bytes | tuple[bytes, int]],
    *,
    rate: float | None = None,
    partitions: int | None = None,
) -> int:
    """Send every value (idempotent producer), at most ``rate`` per second; returns the count.

    A value may come with its record timestamp, ``(bytes, timestamp_ms)``: synthetic
    streams in accelerated event time set it to the event time, so time-based
    replay (offsets for times) finds them where their events are.

    With ``partitions`` the i-th value goes to partition i mod n (even spread,
    reproducible); without, the client's default partitioner decides.
    """
    producer = KafkaProducer(
        enable_idempotence=True,
        acks="all",
        linger_ms=20,
        batch_size=512 * 1024,
        compression_type=None,
        **options,
    )
    sent = 0
    started = time.monotonic()
    try:
        for item in values:
            value, ts = item if isinstance(item, tuple) else (item, None)
            part = sent % partitions if partitions else None
            producer.send(topic, value=value, partition=part, timestamp_ms=ts)
            sent += 1
            if rate and sent % 1000 == 0:
                ahead = sent / rate - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)
        producer.flush()
    finally:
        producer.close()
    return sent
