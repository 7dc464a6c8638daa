"""Forwarders: the alerts topic → PagerDuty / Alertmanager / any webhook, at least once.

The loop is pure orchestration over four small ports (:class:`AlertSource`,
:class:`Poster`, :class:`DeliveryLog`, optionally :class:`RejectSink`); Kafka,
Redis and HTTP live in :mod:`stream.adapters.forward`. One batch:

1. Poll a batch of (partition, offset, bytes) records from the alerts topic.
2. Parse each one; a malformed message (not an alert) is logged in one line,
   counted and skipped: it can never be forwarded.
3. Drop alert ids the delivery log has seen (a worker re-published its outbox),
   and repeats of an id within the batch.
4. Render the rest into request bodies, in topic order (one per alert, or for
   Alertmanager consecutive alerts of one model and scale in one body).
5. POST each body until a 2xx: a non-2xx or a connection error is retried with
   capped, jittered exponential backoff and never dropped. The one exception is
   opt-in: with a reject sink, a payload the receiver refused as invalid
   (400/413/422) ``reject_attempts`` times goes there instead of blocking forever.
6. After each 2xx, remember the body's alert ids (with a TTL) in the delivery log.
7. Commit, per partition, the offset after the last record whose own delivery
   and every earlier record's are done: offsets never pass an undelivered alert.

A crash between 5 and 6 re-sends one body (at least once); between 6 and 7 the
re-read alerts are recognised in 3 and not sent again. Stopping mid-retry commits
what is done so far and leaves the rest for the next run.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Protocol, TypeVar

from stream.core.alert import Alert, alertmanager_payload, pagerduty_event
from stream.errors import DeliveryLogUnavailableError

__all__ = [
    "PERMANENT_STATUSES",
    "AlertRecord",
    "AlertSource",
    "Backoff",
    "Delivery",
    "DeliveryLog",
    "DeliveryLogUnavailableError",
    "ForwardStats",
    "Forwarder",
    "ParsedAlert",
    "PostResult",
    "Poster",
    "RejectSink",
    "Renderer",
    "alertmanager_renderer",
    "pagerduty_renderer",
    "parse_alert",
    "webhook_renderer",
]

log = logging.getLogger("driftstream.forward")
T = TypeVar("T")

# Receiver said the payload itself is invalid: retrying the same bytes cannot succeed.
# 401/403/404/3xx are deployment mistakes an operator fixes, so those are retried.
PERMANENT_STATUSES = frozenset({400, 413, 422})
_STATUSES = ("triggered", "resolved")


# ---------------------------------------------------------------- values and ports


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


Renderer = Callable[[Sequence[ParsedAlert]], list[Delivery]]


# ---------------------------------------------------------------- pure pieces


@dataclass(frozen=True, slots=True)
class Backoff:
    """Capped exponential backoff with "equal jitter": half fixed, half random.

    >>> b = Backoff(initial_s=1.0, max_s=8.0)
    >>> [b.ceiling(n) for n in range(6)]
    [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    >>> 4.0 <= b.delay(3, random.Random(0)) <= 8.0
    True
    """

    initial_s: float = 0.5
    max_s: float = 60.0
    factor: float = 2.0

    def ceiling(self, attempt: int) -> float:
        """The un-jittered delay after failed attempt ``attempt`` (0-based)."""
        return float(min(self.max_s, self.initial_s * self.factor ** min(attempt, 64)))

    def delay(self, attempt: int, rng: random.Random) -> float:
        """A delay in [ceiling / 2, ceiling]: spreads retries of many forwarders apart."""
        top = self.ceiling(attempt)
        return top / 2 + rng.uniform(0, top / 2)


def parse_alert(value: bytes | None) -> Alert | str:
    """The alert in a message, or why it is not one.

    >>> parse_alert(b"{")
    'not JSON: Expecting property name enclosed in double quotes'
    >>> parse_alert(b'{"status": "triggered"}')
    "not an alert: missing field 'window'"
    """
    if value is None:
        return "empty message (tombstone)"
    try:
        data = json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return f"not JSON: {str(exc).split(':', 1)[0]}"
    if not isinstance(data, dict):
        return f"not an alert: a JSON {type(data).__name__}"
    try:
        alert = Alert.from_dict(data)
    except KeyError as exc:
        return f"not an alert: missing field {exc}"
    except (TypeError, ValueError, AttributeError) as exc:
        return f"not an alert: {type(exc).__name__}: {exc}"
    if alert.status not in _STATUSES:
        return f"not an alert: status {alert.status!r}"
    if not alert.alert_id or not alert.dedup_key:
        return "not an alert: empty alert_id or dedup_key"
    return alert


def _json(payload: object) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def pagerduty_renderer(routing_key: str, *, source: str | None = None) -> Renderer:
    """One Events API v2 event per alert (PagerDuty takes one event per request)."""

    def render(alerts: Sequence[ParsedAlert]) -> list[Delivery]:
        return [
            Delivery(_json(pagerduty_event(p.alert, routing_key, source=source)), (p,))
            for p in alerts
        ]

    return render


def alertmanager_renderer(receiver: str, external_url: str, *, max_alerts: int = 64) -> Renderer:
    """Webhook v4 bodies, each with consecutive alerts of one model and scale.

    A body never holds two events of one dedup key (a trigger and its resolve stay
    in order, in separate bodies), nor more than ``max_alerts`` alerts.
    """

    def render(alerts: Sequence[ParsedAlert]) -> list[Delivery]:
        chunks: list[list[ParsedAlert]] = []
        for p in alerts:
            cur = chunks[-1] if chunks else None
            if (
                cur is None
                or len(cur) >= max_alerts
                or (cur[0].alert.model, cur[0].alert.window.scale)
                != (p.alert.model, p.alert.window.scale)
                or any(q.alert.dedup_key == p.alert.dedup_key for q in cur)
            ):
                chunks.append([p])
            else:
                cur.append(p)
        return [
            Delivery(
                _json(alertmanager_payload([p.alert for p in c], receiver, external_url)),
                tuple(c),
            )
            for c in chunks
        ]

    return render


def webhook_renderer() -> Renderer:
    """The alert's own JSON, byte for byte as it is on the topic, one per request."""

    def render(alerts: Sequence[ParsedAlert]) -> list[Delivery]:
        return [Delivery(p.record.value or b"", (p,)) for p in alerts]

    return render


# ---------------------------------------------------------------- the loop


@dataclass(slots=True)
class ForwardStats:
    """Counters of one forwarder process."""

    polled: int = 0
    delivered: int = 0
    posts: int = 0
    failed_posts: int = 0
    duplicates: int = 0
    malformed: int = 0
    rejected: int = 0
    commits: int = 0

    def line(self) -> str:
        """One human line, e.g. for the exit message."""
        return ", ".join(f"{f.name} {getattr(self, f.name)}" for f in fields(self))


def _commit_offsets(records: Sequence[AlertRecord], done: int) -> dict[int, int]:
    out: dict[int, int] = {}
    for r in records[:done]:
        out[r.partition] = max(out.get(r.partition, 0), r.offset + 1)
    return out


@dataclass
class Forwarder:
    """Moves alerts from a source to a poster; see the module docstring for the protocol.

    ``sleep`` should return early when asked to stop (e.g. ``threading.Event.wait``)
    and ``stopping`` says so; together they end a retry loop promptly.
    """

    source: AlertSource
    poster: Poster
    delivery_log: DeliveryLog
    render: Renderer
    backoff: Backoff = field(default_factory=Backoff)
    rejects: RejectSink | None = None
    reject_attempts: int = 3
    sleep: Callable[[float], object] = time.sleep
    stopping: Callable[[], bool] = lambda: False
    rng: random.Random = field(default_factory=lambda: random.Random(0))  # noqa: S311
    poll_timeout_ms: int = 1_000
    max_records: int = 500
    secrets: tuple[str, ...] = ()
    stats: ForwardStats = field(default_factory=ForwardStats)

    def run(self, until: Callable[[ForwardStats], bool] | None = None) -> ForwardStats:
        """Forward batches until ``stopping()`` (or ``until(stats)``) holds."""
        while not self.stopping() and not (until is not None and until(self.stats)):
            self.step()
        return self.stats

    def step(self) -> int:
        """Poll once, deliver the batch, commit what is done; returns records polled."""
        records = list(self.source.poll(self.poll_timeout_ms, self.max_records))
        if not records:
            return 0
        self.stats.polled += len(records)
        before = replace(self.stats)
        done = self._deliver(records)
        offsets = _commit_offsets(records, done)
        if offsets:
            self.source.commit(offsets)
            self.stats.commits += 1
        s = self.stats
        log.info(
            "%d record(s): %d alert(s) delivered, %d duplicate(s), %d malformed, %d rejected; "
            "committed %s",
            len(records),
            s.delivered - before.delivered,
            s.duplicates - before.duplicates,
            s.malformed - before.malformed,
            s.rejected - before.rejected,
            ", ".join(f"{p}@{o}" for p, o in sorted(offsets.items())) or "nothing",
        )
        return len(records)

    def _deliver(self, records: Sequence[AlertRecord]) -> int:
        """Deliver in order; returns how many leading records are done (all, unless stopped)."""
        parsed: list[ParsedAlert] = []
        for i, r in enumerate(records):
            got = parse_alert(r.value)
            if isinstance(got, str):
                self.stats.malformed += 1
                log.warning("skipped malformed alert at %d@%d: %s", r.partition, r.offset, got)
            else:
                parsed.append(ParsedAlert(i, r, got))
        got_known = self._store(
            lambda: self.delivery_log.delivered([p.alert.alert_id for p in parsed])
        )
        if got_known is None:
            return 0
        known = set(got_known[0])
        fresh: list[ParsedAlert] = []
        for p in parsed:
            if p.alert.alert_id in known:
                self.stats.duplicates += 1
                continue
            known.add(p.alert.alert_id)
            fresh.append(p)
        for d in self.render(fresh):
            if not self._post(d):
                return d.alerts[0].index
        return len(records)

    def _post(self, d: Delivery) -> bool:
        """POST until a 2xx (or an opt-in rejection); False if asked to stop first."""
        ids = [p.alert.alert_id for p in d.alerts]
        what = (
            f"{len(ids)} alert(s) from {d.alerts[0].record.partition}@{d.alerts[0].record.offset}"
        )
        attempt = 0
        while True:
            res = self.poster.post(d.body)
            self.stats.posts += 1
            if res.ok:
                self.stats.delivered += len(ids)
                return self._store(lambda: self.delivery_log.remember(ids)) is not None
            self.stats.failed_posts += 1
            status = "no response" if res.status is None else f"HTTP {res.status}"
            detail = self._redact(res.detail)
            if res.status in PERMANENT_STATUSES and self.rejects is not None:
                if attempt + 1 >= self.reject_attempts:
                    self.rejects.reject([p.record for p in d.alerts], status, detail)
                    self.stats.rejected += len(ids)
                    log.error(
                        "dead-lettered %s: receiver refused it (%s: %s)", what, status, detail
                    )
                    return True
            delay = self.backoff.delay(attempt, self.rng)
            if res.retry_after_s is not None:
                delay = max(delay, min(res.retry_after_s, self.backoff.max_s))
            # A 4xx other than 408/429 will not pass by waiting: say so loudly, every time.
            loud = (
                res.status is not None and 400 <= res.status < 500 and res.status not in (408, 429)
            )
            log.log(
                logging.ERROR if loud else logging.WARNING,
                "%s for %s (attempt %d): %s; retrying in %.3gs%s",
                status,
                what,
                attempt + 1,
                detail or "-",
                delay,
                " - the receiver rejects this request; fix the URL, key or payload" if loud else "",
            )
            if self._pause(delay):
                return False
            attempt += 1

    def _store(self, call: Callable[[], T]) -> tuple[T] | None:
        """Run a delivery-log call, retrying while its store is down; None if stopped."""
        attempt = 0
        while True:
            try:
                return (call(),)
            except DeliveryLogUnavailableError as exc:
                delay = self.backoff.delay(attempt, self.rng)
                log.warning("delivery log unavailable (%s); retrying in %.3gs", exc, delay)
                if self._pause(delay):
                    return None
                attempt += 1

    def _pause(self, seconds: float) -> bool:
        """Sleep; True when the forwarder should stop instead of retrying."""
        if self.stopping():
            return True
        self.sleep(seconds)
        return self.stopping()

    def _redact(self, text: str) -> str:
        """Hide secrets (an echoing receiver may return them), even one cut off at the end."""
        for s in self.secrets:
            if s:
                text = text.replace(s, "***")
                cut = next((n for n in range(len(s) - 1, 3, -1) if text.endswith(s[:n])), 0)
                text = text[: len(text) - cut] + ("***" if cut else "")
        return text[:300]
