"""Alert-forwarder ports: the alerts topic, the HTTP receiver, the delivery log, rejects.

What :mod:`stream.pipeline.forward` needs to move alerts from the alerts topic to a
receiver (PagerDuty, Alertmanager) at least once, and deliver each at most once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from stream.core.alert import Alert
from stream.errors import DeliveryLogUnavailableError

__all__ = [
    "AlertRecord",
    "AlertSource",
    "Delivery",
    "DeliveryLog",
    "DeliveryLogUnavailableError",
    "ParsedAlert",
    "PostResult",
    "Poster",
    "RejectSink",
]


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """One message of the alerts topic: where it is and its bytes."""

    partition: int
    offset: int
    value: bytes | None


@dataclass(frozen=True, slots=True)
class ParsedAlert:
    """A record that parsed as an alert; ``index`` is its position in the polled batch."""

    index: int
    record: AlertRecord
    alert: Alert


@dataclass(frozen=True, slots=True)
class Delivery:
    """One request body and the alerts it carries (consecutive in the batch)."""

    body: bytes
    alerts: tuple[ParsedAlert, ...]


@dataclass(frozen=True, slots=True)
class PostResult:
    """What a POST came back with; ``status`` is None when no HTTP response arrived.

    >>> PostResult(202).ok, PostResult(None, "connection refused").ok, PostResult(500).ok
    (True, False, False)
    """

    status: int | None
    detail: str = ""
    retry_after_s: float | None = None

    @property
    def ok(self) -> bool:
        """A 2xx response."""
        return self.status is not None and 200 <= self.status < 300


class AlertSource(Protocol):
    """The alerts topic as a consumer group member with manual commits."""

    def poll(self, timeout_ms: int, max_records: int) -> Sequence[AlertRecord]:
        """Up to ``max_records`` records, in order within each partition."""
        ...

    def commit(self, offsets: Mapping[int, int]) -> None:
        """Commit partition → next offset to read."""
        ...


class Poster(Protocol):
    """An HTTP endpoint taking JSON bodies."""

    def post(self, body: bytes) -> PostResult:
        """POST one body; never raises for HTTP or connection errors."""
        ...


class DeliveryLog(Protocol):
    """Alert ids already delivered by this forwarder (each remembered for a TTL)."""

    def delivered(self, alert_ids: Sequence[str]) -> set[str]:
        """The subset of ``alert_ids`` already delivered."""
        ...

    def remember(self, alert_ids: Sequence[str]) -> None:
        """Record ``alert_ids`` as delivered."""
        ...


class RejectSink(Protocol):
    """Where alerts a receiver refused as invalid go (a dead-letter topic)."""

    def reject(self, records: Sequence[AlertRecord], reason: str, detail: str) -> None:
        """Store the records durably with the reason; raise if that fails."""
        ...
