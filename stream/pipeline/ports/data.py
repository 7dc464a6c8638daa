"""Data-plane ports: records in, dead letters and seal notices out, the sketch store, clocks.

What ingest (:mod:`stream.pipeline.dataplane`, :mod:`stream.pipeline.ingest`) and the
replay need: the records a consumer hands over, the values one atomic, fenced flush
writes and a claim reads back, and the sinks and clocks around them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

from stream.contract import Rejection
from stream.core.sketch import JointSketch
from stream.core.sketch.params import Sketch
from stream.errors import StaleWriterError

__all__ = [
    "JOINT_KEY",
    "Clock",
    "DeadLetter",
    "DeadLetterSink",
    "EventClock",
    "EventSource",
    "FlushWrite",
    "HourWrite",
    "NoticeSink",
    "PartitionSnapshot",
    "RawRecord",
    "RecordBatch",
    "SealNotice",
    "SketchStore",
    "StaleWriterError",
]

#: Stored field of a model-hour's joint sketch beside its feature sketches (not a valid
#: feature name, so it never collides with one).
JOINT_KEY = "@joint"


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
