"""An in-memory SketchStore with the Redis store's semantics, for pure pipeline tests."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from stream.pipeline.ports import (
    FlushWrite,
    HourWrite,
    PartitionSnapshot,
    SealNotice,
    StaleWriterError,
)


@dataclass
class _Part:
    token: str = ""
    offset: int | None = None
    watermark: int | None = None
    sealed: int | None = None
    open_hours: tuple[int, ...] = ()
    idle: bool = False
    hours: dict[int, HourWrite] = field(default_factory=dict)
    late: dict[int, int] = field(default_factory=dict)
    outbox: tuple[SealNotice, ...] = ()
    recent: tuple[int, ...] = ()
    rejected: dict[str, int] = field(default_factory=dict)


class MemoryStore:
    def __init__(self) -> None:
        self.parts: dict[tuple[str, int], _Part] = {}
        self._tokens = itertools.count()

    def claim(self, model: str, partition: int) -> tuple[str, PartitionSnapshot]:
        part = self.parts.setdefault((model, partition), _Part())
        part.token = f"t{next(self._tokens)}"
        snap = PartitionSnapshot(
            next_offset=part.offset,
            watermark_ms=part.watermark,
            sealed_through_ms=part.sealed,
            idle=part.idle,
            hours={h: part.hours[h] for h in part.open_hours},
            late=dict(part.late),
            pending_notices=part.outbox,
            recent_ms=part.recent,
            rejected=dict(part.rejected),
        )
        return part.token, snap

    def flush(self, writes: Sequence[FlushWrite]) -> None:
        stale = []
        for w in writes:
            part = self.parts[(w.model, w.partition)]
            if part.token != w.token:
                stale.append(w)
                continue
            part.offset, part.watermark, part.sealed = (
                w.next_offset,
                w.watermark_ms,
                w.sealed_through_ms,
            )
            part.open_hours = w.open_hours
            part.idle = w.idle
            part.recent = w.recent_ms
            part.rejected.update(w.rejected)
            for hw in w.hours:
                old = part.hours.get(hw.hour_ms)
                undeclared = {**(old.undeclared if old else {}), **hw.undeclared}
                part.hours[hw.hour_ms] = replace(hw, undeclared=undeclared)
            part.late.update(w.late)
            part.outbox = w.notices
        if stale:
            raise StaleWriterError(str([(w.model, w.partition) for w in stale]))

    def hour_state(self) -> dict[tuple[str, int, int], tuple[int, dict[str, bytes]]]:
        """Every stored partition-hour: (model, partition, hour) → (events, sketches)."""
        return {
            (m, p, h): (hw.events, dict(hw.sketches))
            for (m, p), part in self.parts.items()
            for h, hw in part.hours.items()
        }
