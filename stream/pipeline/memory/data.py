"""In-memory data-plane ports: the sketch store, a settable clock, sinks that keep what they got."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

from stream.pipeline.ports.data import (
    DeadLetter,
    FlushWrite,
    HourWrite,
    PartitionSnapshot,
    SealNotice,
    StaleWriterError,
)

__all__ = [
    "ListDeadLetters",
    "ListNotices",
    "ManualClock",
    "MemoryHour",
    "MemoryPartition",
    "MemorySketchStore",
]


@dataclass
class MemoryHour:
    """One stored partition-hour (the Redis hash ``…:h:<hour>``)."""

    events: int = 0
    sketches: dict[str, bytes] = field(default_factory=dict)
    undeclared: dict[str, int] = field(default_factory=dict)
    undeclared_overflow: int = 0


@dataclass
class MemoryPartition:
    """One (model, partition)'s ingest state (the Redis hash ``…:part`` and its satellites)."""

    token: str | None = None
    next_offset: int | None = None
    watermark_ms: int | None = None
    sealed_through_ms: int | None = None
    open_hours: tuple[int, ...] = ()
    idle: bool = False
    recent_ms: tuple[int, ...] = ()
    rejected: dict[str, int] = field(default_factory=dict)
    late: dict[int, int] = field(default_factory=dict)
    outbox: tuple[SealNotice, ...] = ()
    hours: dict[int, MemoryHour] = field(default_factory=dict)


class MemorySketchStore:
    """The ``SketchStore`` port in memory: claims fence writers, flushes are per partition."""

    def __init__(self) -> None:
        self.parts: dict[tuple[str, int], MemoryPartition] = {}
        self._tokens = itertools.count(1)

    def claim(self, model: str, partition: int) -> tuple[str, PartitionSnapshot]:
        """A new token (earlier holders are fenced out), then what the last flush stored."""
        part = self.parts.setdefault((model, partition), MemoryPartition())
        part.token = f"t{next(self._tokens)}"
        hours = {}
        for h in part.open_hours:
            stored = part.hours.get(h, MemoryHour())
            hours[h] = HourWrite(
                hour_ms=h,
                events=stored.events,
                sketches=dict(stored.sketches),
                sealed=False,
                undeclared=dict(stored.undeclared),
                undeclared_overflow=stored.undeclared_overflow,
            )
        snapshot = PartitionSnapshot(
            next_offset=part.next_offset,
            watermark_ms=part.watermark_ms,
            sealed_through_ms=part.sealed_through_ms,
            idle=part.idle,
            hours=hours,
            late=dict(part.late),
            pending_notices=part.outbox,
            recent_ms=part.recent_ms,
            rejected=dict(part.rejected),
        )
        return part.token, snapshot

    def flush(self, writes: Sequence[FlushWrite]) -> None:
        """Apply each write whose token is current; raise for the others after the rest."""
        stale = [w for w in writes if not self._apply(w)]
        if stale:
            names = ", ".join(f"{w.model}/{w.partition}" for w in stale)
            msg = f"partitions claimed by another worker: {names}"
            raise StaleWriterError(msg)

    def _apply(self, w: FlushWrite) -> bool:
        part = self.parts.get((w.model, w.partition))
        if part is None or part.token != w.token:
            return False
        part.next_offset = w.next_offset
        part.watermark_ms = w.watermark_ms
        part.sealed_through_ms = w.sealed_through_ms
        part.open_hours = tuple(w.open_hours)
        part.idle = w.idle
        part.recent_ms = tuple(w.recent_ms)
        part.rejected.update(w.rejected)
        for hw in w.hours:
            stored = part.hours.setdefault(hw.hour_ms, MemoryHour())
            stored.events = hw.events
            stored.sketches.update(hw.sketches)
            stored.undeclared.update(hw.undeclared)
            if hw.undeclared_overflow:
                stored.undeclared_overflow = hw.undeclared_overflow
        part.late.update(w.late)
        part.outbox = tuple(w.notices)
        return True

    def partitions(self, model: str) -> list[int]:
        """Partitions claimed for ``model`` at least once, ascending."""
        return sorted(p for m, p in self.parts if m == model)

    def hour_state(self) -> dict[tuple[str, int, int], tuple[int, dict[str, bytes]]]:
        """Every stored partition-hour: (model, partition, hour) → (events, sketches)."""
        return {
            (m, p, h): (hour.events, dict(hour.sketches))
            for (m, p), part in sorted(self.parts.items())
            for h, hour in sorted(part.hours.items())
        }


@dataclass
class ManualClock:
    """A ``Clock`` and ``EventClock`` that reads what the test set (``since_ms`` = now)."""

    ms: int

    def now_ms(self) -> int:
        """The time set."""
        return self.ms

    def since_ms(self) -> int | None:
        """The time set (a live clock's earliest reading is now)."""
        return self.ms


@dataclass
class ListNotices:
    """A ``NoticeSink`` that keeps every notice published, in order."""

    got: list[SealNotice] = field(default_factory=list)

    async def publish(self, notices: Sequence[SealNotice]) -> None:
        """Keep the notices."""
        self.got.extend(notices)


@dataclass
class ListDeadLetters:
    """A ``DeadLetterSink`` that keeps every letter sent, in order."""

    got: list[DeadLetter] = field(default_factory=list)

    async def send(self, letters: Sequence[DeadLetter]) -> None:
        """Keep the letters."""
        self.got.extend(letters)
