"""Edges of the forwarders: the alerts-topic consumer, the HTTP poster, the Redis delivery log.

Implements the ports of :mod:`stream.pipeline.forward`. The consumer is a kafka-python
group member with manual commits (alert volumes are tiny; a synchronous client keeps
the retry loop simple). HTTP is stdlib ``urllib.request``: one POST at a time needs no
extra dependency.
"""

from __future__ import annotations

import http.client
import logging
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any

import redis
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import CommitFailedError
from kafka.structs import OffsetAndMetadata

from stream import __version__
from stream.adapters.redis_keys import Keys
from stream.errors import ConfigError
from stream.pipeline.ports.alerts import AlertRecord, DeliveryLogUnavailableError, PostResult

__all__ = [
    "HttpPoster",
    "KafkaAlertSource",
    "KafkaRejectSink",
    "RedisDeliveryLog",
    "safe_url",
]

log = logging.getLogger("driftstream.forward")

_EXCERPT = 512


def safe_url(url: str) -> str:
    """A URL fit for logs: scheme, host and port only (paths and queries may hold tokens).

    >>> safe_url("https://user:pw@hooks.example.com:8443/services/T0/B1/secret?x=1")
    'https://hooks.example.com:8443/…'
    """
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}/…"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Redirects are reported, not followed: urllib would turn the POST into a bodiless GET."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _retry_after(value: str | None) -> float | None:
    # Seconds only; an HTTP-date would need the wall clock and the capped backoff covers it.
    if value is None or not value.strip().isdigit():
        return None
    return float(value.strip())


def _excerpt(data: bytes) -> str:
    return data[:_EXCERPT].decode("utf-8", "replace").replace("\n", " ").strip()


class HttpPoster:
    """POSTs JSON bodies to one URL; every outcome, including no response, is a PostResult."""

    def __init__(self, url: str, *, timeout_s: float = 10.0) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            msg = f"--url: expected an http(s) URL with a host, got {safe_url(url)!r}"
            raise ConfigError(msg)
        self.url = url
        self.timeout_s = timeout_s
        self._opener = urllib.request.build_opener(_NoRedirect())
        self._headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": f"driftstream/{__version__}",
        }

    def post(self, body: bytes) -> PostResult:
        """POST ``body``; HTTP errors give their status, transport errors status None."""
        req = urllib.request.Request(self.url, data=body, headers=self._headers, method="POST")  # noqa: S310 - scheme checked in __init__
        try:
            with self._opener.open(req, timeout=self.timeout_s) as resp:
                return PostResult(int(resp.status), _excerpt(resp.read(_EXCERPT)))
        except urllib.error.HTTPError as exc:
            try:
                text = _excerpt(exc.read(_EXCERPT))
            except (OSError, http.client.HTTPException):
                text = ""
            finally:
                exc.close()
            return PostResult(exc.code, text, _retry_after(exc.headers.get("Retry-After")))
        except (OSError, http.client.HTTPException) as exc:
            # Refused, reset, timed out, TLS failure, a response cut short: nothing delivered.
            reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            return PostResult(None, f"{type(exc).__name__}: {reason}")


class KafkaAlertSource:
    """The alerts topic, read by a consumer group with manual commits only."""

    def __init__(
        self,
        topic: str,
        *,
        group_id: str,
        options: Mapping[str, Any],
        reset: str = "earliest",
    ) -> None:
        self.topic = topic
        self.group_id = group_id
        self._consumer = KafkaConsumer(
            topic,
            group_id=group_id,
            enable_auto_commit=False,
            auto_offset_reset=reset,
            **options,
        )

    def poll(self, timeout_ms: int, max_records: int) -> Sequence[AlertRecord]:
        """Up to ``max_records`` records, partition by partition, in offset order."""
        batches = self._consumer.poll(timeout_ms=timeout_ms, max_records=max_records)
        return [
            AlertRecord(tp.partition, m.offset, m.value)
            for tp in sorted(batches, key=lambda t: t.partition)
            for m in batches[tp]
        ]

    def commit(self, offsets: Mapping[int, int]) -> None:
        """Commit partition → next offset; a commit lost to a rebalance is only logged."""
        try:
            self._consumer.commit(
                {
                    TopicPartition(self.topic, p): OffsetAndMetadata(o, "", -1)
                    for p, o in offsets.items()
                }
            )
        except CommitFailedError as exc:
            # The new owner re-reads from the last commit; the delivery log skips what was sent.
            log.warning("commit lost to a rebalance of group %s: %s", self.group_id, exc)

    def close(self) -> None:
        """Leave the group without committing anything more."""
        self._consumer.close(autocommit=False)


class RedisDeliveryLog:
    """Delivered alert ids of one forwarder group, one key each with a TTL (``Keys.forwarded``).

    The keys share the group's hash tag, so the ``MGET`` works on Redis Cluster too.
    """

    def __init__(self, client: redis.Redis, keys: Keys, group: str, ttl_s: int) -> None:
        self._r = client
        self._keys = keys
        self._group = group
        self.ttl_s = ttl_s

    def delivered(self, alert_ids: Sequence[str]) -> set[str]:
        """The ids already delivered."""
        if not alert_ids:
            return set()
        names = [self._keys.forwarded(self._group, i) for i in alert_ids]
        try:
            values = self._r.mget(names)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise DeliveryLogUnavailableError(str(exc)) from exc
        return {i for i, v in zip(alert_ids, values, strict=True) if v is not None}

    def remember(self, alert_ids: Sequence[str]) -> None:
        """Mark ids delivered (value: delivery time in ms, for whoever debugs it)."""
        now = str(int(time.time() * 1000))
        pipe = self._r.pipeline(transaction=False)
        for i in alert_ids:
            pipe.set(self._keys.forwarded(self._group, i), now, ex=self.ttl_s)
        try:
            pipe.execute()
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise DeliveryLogUnavailableError(str(exc)) from exc


class KafkaRejectSink:
    """Alerts a receiver refused as invalid: original bytes, reason in ``ds-*`` headers.

    Same layout as the ingest dead letters (``KafkaDeadLetterSink``), so one tool reads both.
    """

    def __init__(self, topic: str, source_topic: str, options: Mapping[str, Any]) -> None:
        self.topic = topic
        self.source_topic = source_topic
        self._producer = KafkaProducer(enable_idempotence=True, acks="all", **options)

    def reject(self, records: Sequence[AlertRecord], reason: str, detail: str) -> None:
        """Send and wait for every acknowledgement (raises if the topic is unavailable)."""
        futures = [
            self._producer.send(
                self.topic,
                key=f"{self.source_topic}:{r.partition}:{r.offset}".encode(),
                value=r.value,
                headers=[
                    ("ds-reason", b"forward-rejected"),
                    ("ds-detail", f"{reason}: {detail}".encode()),
                    ("ds-topic", self.source_topic.encode()),
                    ("ds-partition", str(r.partition).encode()),
                    ("ds-offset", str(r.offset).encode()),
                ],
            )
            for r in records
        ]
        self._producer.flush()
        for f in futures:
            f.get(timeout=30)

    def close(self) -> None:
        """Flush and close the producer."""
        self._producer.close()
