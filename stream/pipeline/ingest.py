"""Ingest state of one (model, partition): open hour-sketches, offset, watermark.

The data plane applies each parsed batch to the ``PartitionIngest`` of every
(model, partition) it touches, then flushes them together. The contract, in
order (the why lives in docs/architecture.md, "Exactly-once state"):

1. **Claim.** On assignment the worker claims the partition in the store: a new
   fencing token, then it loads the snapshot the last owner flushed (next
   offset, watermark, open hours, late counters, unpublished notices) and the
   consumer seeks to the smallest next offset over the partition's models.
2. **Apply.** Records below this model's next offset were already counted and
   are skipped. Each remaining event is late iff its hour was sealed before it
   arrived (``lateness_split``: offset order only, so batch boundaries do not
   matter); late events only bump a per-hour counter, the rest update the
   sketches of their event-hour, one vectorised update per (hour, feature).
3. **Seal.** When the watermark (max event time − allowed lateness) passes an
   hour's end, the hour is final for this partition: it leaves memory with its
   last write, and a seal notice goes into the same flush (an outbox).
4. **Flush.** One atomic store call per (model, partition) writes the dirty
   hours, the next offset, watermark, seal point, late counters and outbox
   notices, fenced by the token: a worker that lost the partition cannot
   overwrite its new owner's state.
5. **Publish.** Only after the flush the notices are published to Kafka; the
   next flush stores the outbox without them. A crash in between re-publishes
   them after the next claim (duplicates are harmless: rollups are idempotent).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from stream.catalog import ModelSpec
from stream.contract import ModelBlock
from stream.core.sketch import CategoricalSketch, NumericSketch
from stream.core.window import HOUR_MS, floor_to, hour_starts, lateness_split
from stream.pipeline.ports import FlushWrite, HourWrite, PartitionSnapshot, SealNotice

__all__ = ["OpenHour", "PartitionIngest", "Sketch", "SketchParams", "merge_sketches", "seek_offset"]

Sketch = NumericSketch | CategoricalSketch


@dataclass(frozen=True, slots=True)
class SketchParams:
    """Sketch parameters shared by every feature-hour of a deployment."""

    relative_accuracy: float = 0.01
    max_buckets: int = 2048
    max_exact_categories: int = 1024

    def zero(self, kind: str) -> Sketch:
        """An empty sketch for a feature of ``kind``."""
        if kind == "numeric":
            return NumericSketch.zero(self.relative_accuracy, self.max_buckets)
        return CategoricalSketch.zero(self.max_exact_categories)

    def load(self, kind: str, data: bytes) -> Sketch:
        """Deserialize a stored sketch of ``kind``."""
        if kind == "numeric":
            return NumericSketch.from_bytes(data)
        return CategoricalSketch.from_bytes(data)


@dataclass(slots=True)
class OpenHour:
    """Sketches of one hour that is not sealed yet on this partition."""

    events: int
    sketches: dict[str, Sketch]
    undeclared: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class PartitionIngest:
    """Ingest state of one (model, partition), rebuilt from a snapshot on claim."""

    spec: ModelSpec
    partition: int
    token: str
    namespace: str
    allowed_lateness_ms: int
    params: SketchParams = field(default_factory=SketchParams)
    next_offset: int | None = None
    max_event_ms: int | None = None
    sealed_through_ms: int | None = None
    idle: bool = False
    hours: dict[int, OpenHour] = field(default_factory=dict)
    late: dict[int, int] = field(default_factory=dict)
    outbox: list[SealNotice] = field(default_factory=list)
    _dirty: set[int] = field(default_factory=set)
    _sealed_now: dict[int, OpenHour] = field(default_factory=dict)
    _late_dirty: bool = False
    _offset_dirty: bool = False

    @classmethod
    def restore(
        cls,
        spec: ModelSpec,
        partition: int,
        token: str,
        snapshot: PartitionSnapshot,
        *,
        namespace: str,
        allowed_lateness_ms: int,
        params: SketchParams | None = None,
    ) -> PartitionIngest:
        """Rebuild the in-memory state from what the last flush stored (step 1)."""
        p = params or SketchParams()
        kinds = spec.kinds
        hours = {
            h: OpenHour(
                events=stored.events,
                sketches={f: p.load(kinds[f], b) for f, b in stored.sketches.items() if f in kinds},
                undeclared=dict(stored.undeclared),
            )
            for h, stored in snapshot.hours.items()
        }
        return cls(
            spec=spec,
            partition=partition,
            token=token,
            namespace=namespace,
            allowed_lateness_ms=allowed_lateness_ms,
            params=p,
            next_offset=snapshot.next_offset,
            max_event_ms=snapshot.watermark_ms,
            sealed_through_ms=snapshot.sealed_through_ms,
            idle=snapshot.idle,
            hours=hours,
            late=dict(snapshot.late),
            outbox=list(snapshot.pending_notices),
        )

    # -- step 2: apply ------------------------------------------------------------
    def apply(
        self,
        cols: ModelBlock | None,
        last_offset: int,
        undeclared: Mapping[str, int] | None = None,
    ) -> None:
        """Fold one batch into the open hours; ``last_offset`` is the batch's last offset.

        ``undeclared`` (feature → events carrying it) is recorded on the newest open
        hour, so a schema change shows up once per hour rather than per event.
        """
        if self.next_offset is not None and last_offset < self.next_offset:
            return  # the whole batch was counted before a crash or rebalance
        if cols is not None and cols.offsets.size:
            keep: npt.NDArray[np.bool_] | None = None
            if self.next_offset is not None and int(cols.offsets[0]) < self.next_offset:
                keep = cols.offsets >= self.next_offset
            self._fold(cols, keep)
        if undeclared and self.hours:
            newest = self.hours[max(self.hours)]
            for name, n in undeclared.items():
                newest.undeclared[name] = newest.undeclared.get(name, 0) + n
            self._dirty.add(max(self.hours))
        self.next_offset = last_offset + 1
        self._offset_dirty = True

    def _fold(self, cols: ModelBlock, keep: npt.NDArray[np.bool_] | None) -> None:
        ts = cols.ts_ms if keep is None else cols.ts_ms[keep]
        if ts.size == 0:
            return
        if self.idle:
            self.idle = False
            self._offset_dirty = True
        late, self.max_event_ms, sealed = lateness_split(
            ts, self.max_event_ms, self.sealed_through_ms, self.allowed_lateness_ms
        )
        hours = hour_starts(ts)
        if late.any():
            late_hours, late_counts = np.unique(hours[late], return_counts=True)
            for h, n in zip(late_hours.tolist(), late_counts.tolist(), strict=True):
                self.late[h] = self.late.get(h, 0) + n
            self._late_dirty = True
        on_time = ~late
        index = np.flatnonzero(on_time) if keep is None else np.flatnonzero(keep)[on_time]
        if index.size:
            self._update_hours(cols, index, hours[on_time])
        self._advance_seal(sealed)

    def _update_hours(
        self, cols: ModelBlock, index: npt.NDArray[np.intp], hours: npt.NDArray[np.int64]
    ) -> None:
        kinds = self.spec.kinds
        uniq = np.unique(hours)
        for h in uniq.tolist():
            sel = index if uniq.size == 1 else index[hours == h]
            hour = self.hours.get(h)
            if hour is None:
                hour = OpenHour(
                    events=0, sketches={f: self.params.zero(k) for f, k in kinds.items()}
                )
                self.hours[h] = hour
            hour.events += int(sel.size)
            for f, col in cols.numeric.items():
                values, nulls = col.values[sel], col.nulls[sel]
                n_null = int(np.count_nonzero(nulls))
                sketch = hour.sketches[f]
                if not isinstance(sketch, NumericSketch):  # pragma: no cover - kinds are fixed
                    raise TypeError(f)
                sketch.update(values[~nulls] if n_null else values, nulls=n_null)
            for f, ccol in cols.categorical.items():
                csketch = hour.sketches[f]
                if not isinstance(csketch, CategoricalSketch):  # pragma: no cover
                    raise TypeError(f)
                # None marks a null; the sketch counts it as such.
                csketch.update(ccol.values[sel].tolist())
            self._dirty.add(h)

    # -- step 3: seal -------------------------------------------------------------
    def _advance_seal(self, sealed: int | None) -> None:
        if sealed is None or (
            self.sealed_through_ms is not None and sealed <= self.sealed_through_ms
        ):
            return
        first = self.sealed_through_ms is None
        self.sealed_through_ms = sealed
        done = sorted(h for h in self.hours if h + HOUR_MS <= sealed)
        for h in done:
            hour = self.hours.pop(h)
            self._sealed_now[h] = hour
            self._dirty.discard(h)
            self.outbox.append(self._notice(h, hour.events))
        if not done and not first:
            # A progress notice: evaluation may be waiting for this partition only.
            self.outbox.append(self._notice(sealed - HOUR_MS, 0))
        self._offset_dirty = True

    def force_seal(self, through_ms: int) -> None:
        """Seal every hour ending by ``through_ms`` (an idle partition must not stall others)."""
        self._advance_seal(through_ms - through_ms % HOUR_MS)

    def go_idle(self) -> None:
        """Seal what is open and stop holding back rollups; new events clear the flag.

        Called when a partition had no records for the idle timeout, and at the end
        of a replay range.
        """
        if self.max_event_ms is not None and self.hours:
            self.force_seal(floor_to(self.max_event_ms, HOUR_MS) + HOUR_MS)
        if not self.idle:
            self.idle = True
            self._offset_dirty = True

    def _notice(self, hour_ms: int, events: int) -> SealNotice:
        return SealNotice(
            namespace=self.namespace,
            model=self.spec.name,
            partition=self.partition,
            hour_ms=hour_ms,
            events=events,
            late=self.late.get(hour_ms, 0),
            sealed_through_ms=self.sealed_through_ms if self.sealed_through_ms is not None else 0,
        )

    # -- step 4: flush ------------------------------------------------------------
    @property
    def dirty(self) -> bool:
        """Whether anything changed since the last ``take_write``."""
        return bool(self._dirty or self._sealed_now or self._late_dirty or self._offset_dirty)

    def pending_write(self) -> FlushWrite | None:
        """Serialize what changed into one immutable write (state stays dirty).

        Call :meth:`flushed` once the store accepted it; if the store failed, the
        next flush serializes the same changes again.
        """
        if not self.dirty:
            return None
        writes = [_hour_write(h, self.hours[h], sealed=False) for h in sorted(self._dirty)] + [
            _hour_write(h, hour, sealed=True) for h, hour in sorted(self._sealed_now.items())
        ]
        return FlushWrite(
            model=self.spec.name,
            partition=self.partition,
            token=self.token,
            next_offset=self.next_offset,
            watermark_ms=self.max_event_ms,
            sealed_through_ms=self.sealed_through_ms,
            open_hours=tuple(sorted(self.hours)),
            idle=self.idle,
            hours=tuple(writes),
            late=dict(self.late) if self._late_dirty else {},
            notices=tuple(self.outbox),
        )

    def flushed(self) -> None:
        """The store holds everything :meth:`pending_write` returned: mark it clean."""
        self._dirty.clear()
        self._sealed_now.clear()
        self._late_dirty = False
        self._offset_dirty = False

    def published(self, count: int) -> None:
        """The first ``count`` outbox notices reached Kafka (step 5).

        The next flush rewrites the stored outbox without them; until then a
        crash only re-publishes them, which rollups tolerate.
        """
        if count:
            del self.outbox[:count]
            self._offset_dirty = True


def merge_sketches(a: Sketch, b: Sketch) -> Sketch:
    """Merge two sketches of the same kind (a new value; neither input changes)."""
    if isinstance(a, NumericSketch) and isinstance(b, NumericSketch):
        return a.merge(b)
    if isinstance(a, CategoricalSketch) and isinstance(b, CategoricalSketch):
        return a.merge(b)
    msg = f"cannot merge {type(a).__name__} with {type(b).__name__}"
    raise TypeError(msg)


def _hour_write(hour_ms: int, hour: OpenHour, *, sealed: bool) -> HourWrite:
    return HourWrite(
        hour_ms=hour_ms,
        events=hour.events,
        sketches={f: s.to_bytes() for f, s in sorted(hour.sketches.items())},
        sealed=sealed,
        undeclared=dict(hour.undeclared),
    )


def seek_offset(states: Sequence[PartitionIngest], start_offset: int) -> int:
    """Where the consumer seeks: the least next offset over the partition's models.

    A model with nothing stored yet starts at ``start_offset`` (the configured
    reset policy, resolved by the adapter to an offset).
    """
    known = [s.next_offset for s in states if s.next_offset is not None]
    if len(known) < len(states):
        known.append(start_offset)
    return min(known)
