"""Ports: what the pipeline needs from the outside world, as Protocols and values.

This module is the only seam between ``stream.pipeline`` and ``stream.adapters``:
every store, sink and source the pipeline talks to is a Protocol here, with the
values that cross it (writes, snapshots, stored windows, counters the adapters
export). Adapters implement them against Kafka, Redis and HTTP; tests and the
offline check implement them in memory. The pipeline never imports a client
library, and neither does this module (import-linter contracts hold it so:
docs/architecture.md, "Ports and layers").

Sections: ingest (records, dead letters, seal notices, the sketch store), rollups
(windows), evaluation, labels and model health, the alert forwarder, counters.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

from stream.catalog import ModelSpec
from stream.contract import Rejection
from stream.core.alert import Alert
from stream.core.calibrate import ModelCalibration
from stream.core.decide import Decision
from stream.core.lifecycle import AlertState
from stream.core.model_health import HealthDecision
from stream.core.multiclass import MulticlassPerformance
from stream.core.performance import BinaryPerformance
from stream.core.regression import RegressionPerformance
from stream.core.sketch import JointSketch
from stream.core.sketch.params import Sketch
from stream.core.window import WindowKey
from stream.errors import DeliveryLogUnavailableError, StaleWriterError

__all__ = [
    "JOINT_KEY",
    "AlertRecord",
    "AlertSource",
    "Clock",
    "DeadLetter",
    "DeadLetterSink",
    "Delivery",
    "DeliveryLog",
    "DeliveryLogUnavailableError",
    "EvaluationCommit",
    "EvaluationStore",
    "EventClock",
    "EventSource",
    "FlushWrite",
    "HealthCommit",
    "HealthStore",
    "HourWrite",
    "IngestStats",
    "LabelHourWrite",
    "LabelSnapshot",
    "LabelStats",
    "LabelStore",
    "LabelWrite",
    "LatencyHistogram",
    "NoticeSink",
    "ParsedAlert",
    "PartitionSnapshot",
    "PostResult",
    "Poster",
    "RawRecord",
    "RecordBatch",
    "RejectSink",
    "SealNotice",
    "SketchStore",
    "StaleWriterError",
    "StoredWindow",
    "WindowStore",
]

#: Stored field of a model-hour's joint sketch beside its feature sketches (not a valid
#: feature name, so it never collides with one).
JOINT_KEY = "@joint"


# ---------------------------------------------------------------- ingest


@dataclass(frozen=True, slots=True)
class RawRecord:
    """One Kafka record as the ingest sees it: where it came from and its bytes."""

    partition: int
    offset: int
    timestamp_ms: int
    value: bytes | None


@dataclass(frozen=True, slots=True, eq=False)
class RecordBatch:
    """Consecutive records of one partition as columns (what ``getmany`` hands over).

    Columns instead of one object per record: building a Python object per
    message cost ~19% of the ingest CPU (benchmarks/bench_ingest.py).
    """

    partition: int
    values: list[bytes | None]
    timestamps_ms: npt.NDArray[np.int64]
    offsets: npt.NDArray[np.int64]

    def __len__(self) -> int:
        return len(self.values)

    @property
    def last_offset(self) -> int:
        """Offset of the last record."""
        return int(self.offsets[-1])

    @classmethod
    def of(cls, partition: int, records: Sequence[RawRecord]) -> RecordBatch:
        """Columns of a list of records (tests and tools)."""
        n = len(records)
        return cls(
            partition,
            [r.value for r in records],
            np.fromiter((r.timestamp_ms for r in records), np.int64, n),
            np.fromiter((r.offset for r in records), np.int64, n),
        )


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A record that broke the event contract, with the reason and its original bytes."""

    reason: str
    detail: str
    raw: bytes
    topic: str
    partition: int
    offset: int
    timestamp_ms: int

    @classmethod
    def of(cls, rejection: Rejection, topic: str) -> DeadLetter:
        """The dead letter of a record the contract rejected on ``topic``."""
        r = rejection
        raw = r.raw if r.raw is not None else b""
        return cls(r.reason, r.detail, raw, topic, r.partition, r.offset, r.ts_ms)


@dataclass(frozen=True, slots=True)
class SealNotice:
    """A partition's watermark passed the end of ``hour_ms``: that hour is final there."""

    namespace: str
    model: str
    partition: int
    hour_ms: int
    events: int
    late: int
    sealed_through_ms: int


@dataclass(frozen=True, slots=True)
class HourWrite:
    """The state of one open (or just sealed) partition-hour to store.

    Sketches and the event count are whole; ``undeclared`` holds only the keys
    whose counts changed (the store adds them to the ones it holds).
    """

    hour_ms: int
    events: int
    sketches: Mapping[str, bytes]
    sealed: bool
    undeclared: Mapping[str, int]
    undeclared_overflow: int = 0
    final: Mapping[str, Sketch | JointSketch] | None = field(
        default=None, compare=False, repr=False
    )
    """A sealed hour's sketches themselves (never changed again; ``sketches`` are their
    bytes): a replay's rollup in the same process merges them without decoding. Not stored."""


@dataclass(frozen=True, slots=True)
class FlushWrite:
    """Everything one atomic flush of a (model, partition) writes."""

    model: str
    partition: int
    token: str
    next_offset: int | None
    watermark_ms: int | None
    sealed_through_ms: int | None
    open_hours: tuple[int, ...]
    idle: bool
    hours: tuple[HourWrite, ...]
    late: Mapping[int, int]
    notices: tuple[SealNotice, ...]
    recent_ms: tuple[int, ...] = ()
    rejected: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PartitionSnapshot:
    """What a (model, partition) left in the store at its last flush."""

    next_offset: int | None
    watermark_ms: int | None
    sealed_through_ms: int | None
    idle: bool
    hours: Mapping[int, HourWrite]
    late: Mapping[int, int]
    pending_notices: tuple[SealNotice, ...]
    recent_ms: tuple[int, ...] = ()
    rejected: Mapping[str, int] = field(default_factory=dict)


class SketchStore(Protocol):
    """Durable per-partition ingest state with an atomic, fenced flush."""

    def claim(self, model: str, partition: int) -> tuple[str, PartitionSnapshot]:
        """Take ownership (new fencing token) and load what the last owner stored."""
        ...

    def flush(self, writes: Sequence[FlushWrite]) -> None:
        """Write each (model, partition) atomically; raise StaleWriterError if fenced out."""
        ...


class NoticeSink(Protocol):
    """Where "hour sealed" notices go (an internal Kafka topic)."""

    async def publish(self, notices: Sequence[SealNotice]) -> None:
        """Publish and wait until the notices are durable."""
        ...


class DeadLetterSink(Protocol):
    """Where contract violations go, with reason and original bytes."""

    async def send(self, letters: Sequence[DeadLetter]) -> None:
        """Send and wait until the letters are durable."""
        ...


class Clock(Protocol):
    """Wall-clock milliseconds; used only for flush pacing and idle detection."""

    def now_ms(self) -> int:
        """Current UTC time in integer milliseconds."""
        ...


class EventClock(Protocol):
    """The clock event times are bounded by: the wall clock live, the range in a replay.

    Event times later than ``now_ms`` (+ a tolerance) are ``ts_in_future``; earlier
    than ``since_ms`` (- ``max_past_ms``) are ``ts_out_of_bounds``.
    """

    def now_ms(self) -> int:
        """The clock's latest reading (live: now; a replay: its range end)."""
        ...

    def since_ms(self) -> int | None:
        """The clock's earliest reading (live: now; a replay: its range start, if any)."""
        ...


class EventSource(Protocol):
    """Events by position, e.g. a synthetic stream (what a reference can fold)."""

    def encoded(self, first: int, n: int) -> list[bytes]:
        """Events ``first`` … ``first + n - 1`` as encoded records."""
        ...

    def times(self, first: int, n: int) -> npt.NDArray[np.int64]:
        """Their event times (UTC ms)."""
        ...


# ---------------------------------------------------------------- rollups


@dataclass(frozen=True, slots=True)
class StoredWindow:
    """A model's merged window: event and late counts, one sketch per column (bytes)."""

    key: WindowKey
    events: int
    late: int
    sketches: Mapping[str, bytes]


class WindowStore(Protocol):
    """What rollups read and write."""

    def progress(self, model: str) -> dict[int, tuple[int | None, bool]]:
        """(seal point or None, idle?) of every partition with ingest state for ``model``."""
        ...

    def add_pending(self, model: str, hours: Sequence[int]) -> None:
        """Hours that some partition sealed with data (seal notices; a complete day's hours)."""
        ...

    def pending_hours(self, model: str) -> list[int]:
        """Hours some partition sealed with data, not rolled up yet (ascending)."""
        ...

    def partition_hours(self, model: str, hour_ms: int) -> list[tuple[int, Mapping[str, bytes]]]:
        """(events, sketches) of every partition that has data in ``hour_ms``."""
        ...

    def late_count(self, model: str, hour_ms: int) -> int:
        """Late events counted for ``hour_ms`` across partitions so far."""
        ...

    def data_hours(self, model: str, start_ms: int, end_ms: int) -> list[int]:
        """Hours in [start_ms, end_ms) in which some partition stored events (ascending).

        What the store holds, whether or not the hours' seal notices came in yet.
        """
        ...

    def pending_days(self, model: str) -> list[int]:
        """Days with at least one hour window and no day window yet (ascending)."""
        ...

    def window(self, model: str, key: WindowKey) -> StoredWindow | None:
        """A stored model window, if any."""
        ...

    def create_window(self, model: str, window: StoredWindow) -> bool:
        """Write ``window`` unless it exists; True when this call created it.

        Creating an hour window also removes the hour from the pending hours and
        adds its day to the pending days; creating a day removes the pending day.
        Either joins the windows not handed on yet (:meth:`unevaluated`).
        """
        ...

    def unevaluated(self, model: str) -> list[WindowKey]:
        """Windows created and not yet marked handed on: hours, then days, ascending."""
        ...

    def start_attempt(self, model: str, key: WindowKey) -> int:
        """Count an evaluation of ``key`` starting: attempts not finished, this one included.

        Stored, so a restart does not reset it: an attempt that raised, or whose process
        died during it, stays counted until :meth:`mark_evaluated` or :meth:`mark_failed`.
        """
        ...

    def mark_evaluated(self, model: str, key: WindowKey) -> None:
        """``key`` was handed on (evaluated): it leaves :meth:`unevaluated`."""
        ...

    def mark_failed(self, model: str, key: WindowKey, reason: str) -> None:
        """``key`` kept failing evaluation: recorded with ``reason``; leaves :meth:`unevaluated`."""
        ...

    def failed_windows(self, model: str) -> dict[WindowKey, str]:
        """Windows given up on (:meth:`mark_failed`) → the last error."""
        ...


# ---------------------------------------------------------------- evaluation


@dataclass(frozen=True, slots=True)
class EvaluationCommit:
    """One (model, window, baseline) evaluation: decisions, new state, encoded alerts."""

    model: str
    window: WindowKey
    baseline: str
    decisions: Sequence[Decision]
    state: AlertState
    alerts: Sequence[bytes]


class EvaluationStore(Protocol):
    """What evaluation reads and writes (Redis in production)."""

    def window(self, model: str, key: WindowKey) -> StoredWindow | None:
        """A rolled-up model window, if any."""
        ...

    def reference(
        self, spec: ModelSpec
    ) -> tuple[Mapping[str, bytes], ModelCalibration | None] | None:
        """The model's reference sketches (bytes) and its calibration, if stored."""
        ...

    def alert_states(
        self, model: str, scale: str, baselines: Sequence[str]
    ) -> Mapping[str, AlertState | None]:
        """The lifecycle state of (model, scale, baseline) for each baseline (one read)."""
        ...

    def commit(self, c: EvaluationCommit) -> None:
        """Decisions, state and ``alerts`` (into the outbox), atomically."""
        ...


# ---------------------------------------------------------------- labels, model health


@dataclass(frozen=True, slots=True)
class LabelHourWrite:
    """One label cell's performance state and the ids first seen since the last flush.

    A cell is (prediction hour, UTC day the labels arrived in): the arrival day lets a
    window be judged on the labels that had arrived by a given time, the same in every
    run (re-judging by label coverage). ``new_ids`` are the hour's (once per hour).
    """

    hour_ms: int
    state: bytes
    new_ids: tuple[int, ...]
    arrived_day_ms: int = 0


@dataclass(frozen=True, slots=True)
class LabelWrite:
    """Everything one atomic, fenced label flush of a (model, partition) writes."""

    model: str
    partition: int
    token: str
    next_offset: int | None
    newest_record_ms: int | None
    open_hours: tuple[tuple[int, int], ...]
    hours: tuple[LabelHourWrite, ...]
    counters: Mapping[str, int]
    seen_ttl_ms: int


@dataclass(frozen=True, slots=True)
class LabelSnapshot:
    """What a (model, partition)'s label state left in the store at its last flush."""

    next_offset: int | None = None
    newest_record_ms: int | None = None
    hours: Mapping[tuple[int, int], bytes] = field(default_factory=dict)
    counters: Mapping[str, int] = field(default_factory=dict)


class LabelStore(Protocol):
    """Durable label state per (model, partition): claim, duplicate look-ups, fenced flush."""

    def claim(self, model: str, partition: int) -> tuple[str, LabelSnapshot]:
        """Take ownership (new token) and load what the last owner flushed."""
        ...

    def seen(
        self, model: str, partition: int, ids: Mapping[int, npt.NDArray[np.int64]]
    ) -> dict[int, npt.NDArray[np.int64]]:
        """Hour → those of ``ids`` the store already holds (flushed labels)."""
        ...

    def flush(self, writes: Sequence[LabelWrite]) -> None:
        """Write each atomically; raise StaleWriterError when fenced out."""
        ...

    def mark_idle(self, model: str, partition: int, token: str, now_ms: int) -> bool:
        """Record the partition found at its end, all flushed, at ``now_ms``.

        Fenced: False, nothing written, when ``token`` is no longer the owner's.
        """
        ...


@dataclass(frozen=True, slots=True)
class HealthCommit:
    """One window's health evaluation: decisions, the new states, encoded alerts."""

    model: str
    window: WindowKey
    decisions: Sequence[HealthDecision]
    states: Mapping[str, AlertState]
    alerts: Sequence[bytes]
    judged: Mapping[int, int] = field(default_factory=dict)
    """Window start → the coverage stage it was last judged at (the scale's full map)."""
    deferred: bool = False
    """The window was deferred (waiting for labels): commit only if it still is, and
    take it off the deferred queue in the same transaction (another worker may have)."""


class HealthStore(Protocol):
    """What health evaluation reads and writes (Redis in production)."""

    def reference_performance(self, spec: ModelSpec) -> BinaryPerformance | None:
        """The labelled reference's performance state, if stored."""
        ...

    def labels(
        self, model: str, key: WindowKey, arrived_before_ms: int | None = None
    ) -> BinaryPerformance:
        """The labels of predictions in the window (arrived before the bound), merged."""
        ...

    def reference_multiclass(self, spec: ModelSpec) -> MulticlassPerformance | None:
        """The labelled reference's multiclass state (a multiclass model), if stored."""
        ...

    def multiclass_labels(
        self, model: str, key: WindowKey, classes: int, arrived_before_ms: int | None = None
    ) -> MulticlassPerformance:
        """As :meth:`labels`, for a multiclass model of ``classes`` classes."""
        ...

    def reference_regression(self, spec: ModelSpec) -> RegressionPerformance | None:
        """The labelled reference's regression state (a regression model), if stored."""
        ...

    def regression_labels(
        self, model: str, key: WindowKey, arrived_before_ms: int | None = None
    ) -> RegressionPerformance:
        """As :meth:`labels`, for a regression model."""
        ...

    def judged(self, model: str, scale: str) -> dict[int, int]:
        """Window start → the label-coverage stage it was last judged at."""
        ...

    def labels_through(self, model: str) -> int | None:
        """Labels are ingested up to this record time on every partition that has any."""
        ...

    def label_progress(self, model: str) -> dict[int, tuple[int | None, int | None]]:
        """Label partition → (newest flushed record time, last time found idle at its end).

        Only partitions the label consumer claimed at least once.
        """
        ...

    def defer(self, model: str, key: WindowKey) -> None:
        """Queue the window's health evaluation until its labels are ingested (idempotent)."""
        ...

    def deferred(self, model: str, scale: str) -> list[WindowKey]:
        """The queued windows of (model, scale), oldest first."""
        ...

    def window(self, model: str, key: WindowKey) -> StoredWindow | None:
        """A rolled-up model window, if any."""
        ...

    def predictions(self, model: str, key: WindowKey) -> int | None:
        """Predictions (events) in the window, if it was rolled up."""
        ...

    def health_states(self, model: str, scale: str) -> dict[str, AlertState]:
        """The stored ``label`` / ``performance`` lifecycle states of (model, scale)."""
        ...

    def commit(self, c: HealthCommit) -> bool:
        """Decisions, states and outbox events, atomically.

        False, nothing written, when ``c.deferred`` and the window was no longer queued
        (another worker judged it).
        """
        ...


# ---------------------------------------------------------------- the alert forwarder


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


# ---------------------------------------------------------------- counters adapters export

FLUSH_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


@dataclass(slots=True)
class LatencyHistogram:
    """Cumulative histogram with fixed bucket bounds, in the Prometheus shape."""

    bounds: tuple[float, ...] = FLUSH_BUCKETS_S
    counts: list[int] = field(default_factory=lambda: [0] * (len(FLUSH_BUCKETS_S) + 1))
    total: float = 0.0
    n: int = 0

    def observe(self, seconds: float) -> None:
        """Record one observation."""
        self.counts[int(np.searchsorted(self.bounds, seconds, side="left"))] += 1
        self.total += seconds
        self.n += 1


@dataclass(slots=True)
class IngestStats:
    """Counters of one worker's data plane (exported by the Prometheus adapter)."""

    consumed: int = 0
    accepted: int = 0
    unknown_model: int = 0
    #: The same events by model name (the first ``dataplane.MAX_UNKNOWN_NAMES``; the rest as "…").
    unknown_models: dict[str, int] = field(default_factory=dict)
    rejected: dict[str, int] = field(default_factory=dict)
    late: int = 0
    late_by_model: dict[str, int] = field(default_factory=dict)
    undeclared_overflow: int = 0
    batches: int = 0
    batch_records: int = 0
    flushes: int = 0
    flush_errors: int = 0
    notices: int = 0
    last_flush_ms: int = 0
    flush_latency: LatencyHistogram = field(default_factory=LatencyHistogram)
    positions: dict[int, int] = field(default_factory=dict)
    #: Records fetched before their partition was (re-)claimed: not applied, read again.
    stale_records: int = 0


@dataclass(slots=True)
class LabelStats:
    """Counters of one worker's label consumer (exported to Prometheus)."""

    consumed: int = 0
    unknown_model: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    outcomes: dict[str, int] = field(default_factory=dict)
    flushes: int = 0
    positions: dict[int, int] = field(default_factory=dict)
