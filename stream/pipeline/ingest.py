"""Ingest state of one (model, partition): open hour-sketches, offset, watermark.

The data plane applies each parsed batch to the ``PartitionIngest`` of every
(model, partition) it touches, then flushes them together. The contract, in
order (the why lives in docs/architecture.md, "Exactly-once state"):

1. **Claim.** On assignment the worker claims the partition in the store: a new
   fencing token, then it loads the snapshot the last owner flushed (next
   offset, watermark, open hours, late counters, unpublished notices) and the
   consumer seeks to the smallest next offset over the partition's models.
2. **Apply.** Records below this model's next offset were already counted and
   are skipped. The watermark is the running maximum of the least of the last
   ``watermark_min_events`` event times (``watermark_marks``): it passes a time
   only once that many consecutive events are past it, so one future-dated
   record cannot seal hours. Each remaining event is late iff its hour was
   sealed before it arrived (``time_split``: offset order only, so batch
   boundaries do not matter); late events only bump a per-hour counter. An event
   that would open more than ``max_open_hours`` unsealed hours is handed back
   for the dead-letter topic (``too_many_open_hours``). The rest update the
   sketches of their event-hour, one vectorised update per (hour, feature).
   Undeclared keys are tracked per hour up to ``max_undeclared_keys``; the rest
   are one overflow count.
3. **Seal.** When the watermark − allowed lateness passes an hour's end, the
   hour is final for this partition: it leaves memory with its last write, and a
   seal notice goes into the same flush (an outbox). A partition with no records
   of the model for the idle timeout seals only hours whose end + allowed
   lateness the worker's clock has passed (``go_idle``).
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
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import numpy.typing as npt

from stream.catalog import ModelSpec
from stream.contract import ModelBlock
from stream.core.sketch import CategoricalSketch, JointSketch, NumericSketch
from stream.core.sketch.joint import indicator_codes, indicator_values
from stream.core.sketch.params import Sketch, SketchParams
from stream.core.window import (
    HOUR_MS,
    NO_TIME,
    floor_to,
    hour_starts,
    time_split,
    watermark_marks,
)
from stream.pipeline.ports import JOINT_KEY, FlushWrite, HourWrite, PartitionSnapshot, SealNotice

__all__ = [
    "MAX_UNKNOWN_NAMES",
    "TOO_MANY_OPEN_HOURS",
    "UNKNOWN_MODEL_PREFIX",
    "UNKNOWN_OTHER",
    "IngestLimits",
    "OpenHour",
    "PartitionIngest",
    "joint_inputs",
    "joint_zero",
    "seek_offset",
]

#: Dead-letter reason of events that would open more unsealed hours than allowed.
TOO_MANY_OPEN_HOURS = "too_many_open_hours"

#: Events naming no configured model are counted by name with the rejections of the
#: partition (``rejected`` key ``unknown_model:<name>``; not dead-lettered): at most
#: MAX_UNKNOWN_NAMES names per partition, the rest under UNKNOWN_OTHER.
UNKNOWN_MODEL_PREFIX = "unknown_model:"
MAX_UNKNOWN_NAMES = 100
UNKNOWN_OTHER = "…"


def joint_zero(spec: ModelSpec) -> JointSketch | None:
    """An empty joint sketch over the model's joint columns; None when the member is off."""
    columns, excluded = spec.joint_columns
    return JointSketch.zero(columns, excluded, spec.joint_indicators) if columns else None


def joint_inputs(
    block: ModelBlock, sketch: JointSketch, rows: npt.NDArray[np.intp] | None
) -> list[npt.NDArray[np.float64] | None]:
    """The joint sketch's columns for ``rows`` of the block: numbers, then 0/1 indicators.

    ``rows`` None: every row, the block's arrays as they are (no copies). None for a
    column the block does not carry (every row missing).
    """
    numeric, categorical = block.numeric, block.categorical
    out: list[npt.NDArray[np.float64] | None] = [
        (numeric[c].values if rows is None else numeric[c].values[rows]) if c in numeric else None
        for c in sketch.numeric
    ]
    picked: dict[str, tuple[npt.NDArray[np.object_], npt.NDArray[np.bool_]]] = {}
    for feature, category in sketch.indicators:
        col = categorical.get(feature)
        if col is None:
            out.append(None)
            continue
        if col.codes is not None and col.categories is not None:
            codes = col.codes if rows is None else col.codes[rows]
            out.append(indicator_codes(codes, col.categories, category))
            continue
        if feature not in picked:
            picked[feature] = (
                (col.values, col.nulls) if rows is None else (col.values[rows], col.nulls[rows])
            )
        out.append(indicator_values(*picked[feature], category))
    return out


@dataclass(frozen=True, slots=True)
class IngestLimits:
    """Bounds on what one (model, partition) keeps, whatever a producer sends.

    Attributes:
        watermark_min_events: Consecutive events needed past a time to move the watermark.
        max_open_hours: Most unsealed hours at once (0: no cap).
        max_undeclared_keys: Undeclared keys tracked per hour; the rest are one count.
    """

    watermark_min_events: int = 1
    max_open_hours: int = 0
    max_undeclared_keys: int = 1_000_000

    @classmethod
    def from_settings(cls, ingest: Any) -> IngestLimits:
        """From an ``IngestSettings`` (the same names there)."""
        return cls(**{f.name: getattr(ingest, f.name) for f in fields(cls)})


@dataclass(slots=True)
class OpenHour:
    """Sketches of one hour that is not sealed yet on this partition."""

    events: int
    sketches: dict[str, Sketch]
    undeclared: dict[str, int] = field(default_factory=dict)
    joint: JointSketch | None = None
    undeclared_overflow: int = 0
    undeclared_dirty: set[str] = field(default_factory=set)

    def count_undeclared(self, counts: Mapping[str, int], cap: int) -> int:
        """Add undeclared-key counts, tracking at most ``cap`` keys; return the overflow."""
        over = 0
        for name, n in counts.items():
            if name in self.undeclared or len(self.undeclared) < cap:
                self.undeclared[name] = self.undeclared.get(name, 0) + n
                self.undeclared_dirty.add(name)
            else:
                over += n
        self.undeclared_overflow += over
        return over


@dataclass(slots=True)
class PartitionIngest:
    """Ingest state of one (model, partition), rebuilt from a snapshot on claim."""

    spec: ModelSpec
    partition: int
    token: str
    namespace: str
    allowed_lateness_ms: int
    params: SketchParams = field(default_factory=SketchParams)
    limits: IngestLimits = field(default_factory=IngestLimits)
    next_offset: int | None = None
    watermark_ms: int | None = None
    recent_ms: tuple[int, ...] = ()
    sealed_through_ms: int | None = None
    idle: bool = False
    hours: dict[int, OpenHour] = field(default_factory=dict)
    late: dict[int, int] = field(default_factory=dict)
    rejected: dict[str, int] = field(default_factory=dict)
    outbox: list[SealNotice] = field(default_factory=list)
    _dirty: set[int] = field(default_factory=set)
    _sealed_now: dict[int, OpenHour] = field(default_factory=dict)
    _late_dirty: bool = False
    _offset_dirty: bool = False
    _rejected_dirty: bool = False
    undeclared_overflow: int = 0

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
        limits: IngestLimits | None = None,
    ) -> PartitionIngest:
        """Rebuild the in-memory state from what the last flush stored (step 1)."""
        p = params or SketchParams()
        kinds = spec.kinds
        hours = {
            h: OpenHour(
                events=stored.events,
                sketches={f: p.load(kinds[f], b) for f, b in stored.sketches.items() if f in kinds},
                undeclared=dict(stored.undeclared),
                undeclared_overflow=stored.undeclared_overflow,
                joint=_restore_joint(spec, stored.sketches.get(JOINT_KEY)),
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
            limits=limits or IngestLimits(),
            next_offset=snapshot.next_offset,
            watermark_ms=snapshot.watermark_ms,
            recent_ms=tuple(snapshot.recent_ms),
            sealed_through_ms=snapshot.sealed_through_ms,
            idle=snapshot.idle,
            hours=hours,
            late=dict(snapshot.late),
            rejected=dict(snapshot.rejected),
            outbox=list(snapshot.pending_notices),
        )

    # -- step 2: apply ------------------------------------------------------------
    def count_rejected(self, offsets: Sequence[int], reasons: Sequence[str]) -> None:
        """Count dead-lettered records by reason, once: call before :meth:`apply`.

        Records below the next offset were counted before a crash; the counts are
        stored with the offsets, so they are exact (the dead letters themselves are
        at least once).
        """
        for off, reason in zip(offsets, reasons, strict=True):
            if self.next_offset is None or off >= self.next_offset:
                self.rejected[reason] = self.rejected.get(reason, 0) + 1
                self._rejected_dirty = True

    def count_unknown_models(self, last_offset: int, counts: Mapping[str, int]) -> None:
        """Count events naming no configured model, by name, once: call before :meth:`apply`.

        Stored beside the rejections (field ``unknown_model:<name>``, exact like them:
        a batch wholly below the next offset was counted before). At most
        :data:`MAX_UNKNOWN_NAMES` names per partition; the rest count as ``…``.
        """
        if not counts or (self.next_offset is not None and last_offset < self.next_offset):
            return
        names = sum(1 for k in self.rejected if k.startswith(UNKNOWN_MODEL_PREFIX))
        for name, n in sorted(counts.items()):
            key = UNKNOWN_MODEL_PREFIX + name
            if key not in self.rejected and names >= MAX_UNKNOWN_NAMES:
                key = UNKNOWN_MODEL_PREFIX + UNKNOWN_OTHER
            names += key not in self.rejected
            self.rejected[key] = self.rejected.get(key, 0) + n
            self._rejected_dirty = True

    def apply(
        self,
        cols: ModelBlock | None,
        last_offset: int,
        undeclared: Mapping[str, int] | None = None,
    ) -> npt.NDArray[np.int64]:
        """Fold one batch into the open hours; ``last_offset`` is the batch's last offset.

        ``undeclared`` (feature → events carrying it) is recorded on the newest open
        hour, so a schema change shows up once per hour rather than per event.
        Returns the offsets of events refused for opening too many hours (for the
        dead-letter topic, reason :data:`TOO_MANY_OPEN_HOURS`).
        """
        refused = np.zeros(0, dtype=np.int64)
        if self.next_offset is not None and last_offset < self.next_offset:
            return refused  # the whole batch was counted before a crash or rebalance
        if cols is not None and cols.offsets.size:
            keep: npt.NDArray[np.bool_] | None = None
            if self.next_offset is not None and int(cols.offsets[0]) < self.next_offset:
                keep = cols.offsets >= self.next_offset
            refused = self._fold(cols, keep)
            if refused.size:
                self.rejected[TOO_MANY_OPEN_HOURS] = (
                    self.rejected.get(TOO_MANY_OPEN_HOURS, 0) + refused.size
                )
                self._rejected_dirty = True
        if undeclared and self.hours:
            newest = max(self.hours)
            self.undeclared_overflow += self.hours[newest].count_undeclared(
                undeclared, self.limits.max_undeclared_keys
            )
            self._dirty.add(newest)
        self.next_offset = last_offset + 1
        self._offset_dirty = True
        return refused

    def _fold(self, cols: ModelBlock, keep: npt.NDArray[np.bool_] | None) -> npt.NDArray[np.int64]:
        ts = cols.ts_ms if keep is None else cols.ts_ms[keep]
        offsets = cols.offsets if keep is None else cols.offsets[keep]
        if ts.size == 0:
            return np.zeros(0, dtype=np.int64)
        if self.idle:
            self.idle = False
            self._offset_dirty = True
        marks, self.recent_ms = watermark_marks(
            ts, self.recent_ms, self.limits.watermark_min_events
        )
        split = time_split(
            ts, marks, self.watermark_ms, self.sealed_through_ms, self.allowed_lateness_ms
        )
        self.watermark_ms = split.watermark_ms
        late = split.late
        hours = hour_starts(ts)
        if late.any():
            late_hours, late_counts = np.unique(hours[late], return_counts=True)
            for h, n in zip(late_hours.tolist(), late_counts.tolist(), strict=True):
                self.late[h] = self.late.get(h, 0) + n
            self._late_dirty = True
        on_time = ~late
        over = self._over_open_hours(hours, on_time, split.sealed_prior)
        if over is not None:
            on_time &= ~over
        index = np.flatnonzero(on_time) if keep is None else np.flatnonzero(keep)[on_time]
        if index.size:
            self._update_hours(cols, index, hours[on_time])
        self._advance_seal(split.sealed_ms)
        return offsets[over] if over is not None else np.zeros(0, dtype=np.int64)

    def _over_open_hours(
        self,
        hours: npt.NDArray[np.int64],
        on_time: npt.NDArray[np.bool_],
        sealed_prior: npt.NDArray[np.int64],
    ) -> npt.NDArray[np.bool_] | None:
        """Events (offset order) that would open more than ``max_open_hours`` hours.

        Decided event by event against the hours open just before it (its seal
        point closes hours), so batch boundaries change nothing; the loop runs only
        when the cap can be reached in this batch.
        """
        cap = self.limits.max_open_hours
        if not cap:
            return None
        known = np.isin(hours, np.fromiter(self.hours, np.int64, len(self.hours)))
        fresh = on_time & ~known
        if not fresh.any():
            return None
        if len(self.hours) + np.unique(hours[fresh]).size <= cap:
            return None
        over = np.zeros(hours.size, dtype=np.bool_)
        opened = set(self.hours)
        for i in np.flatnonzero(fresh).tolist():
            h = int(hours[i])
            if h in opened:
                continue
            seal = int(sealed_prior[i])
            still = [o for o in opened if o + HOUR_MS > seal] if seal > NO_TIME else opened
            if len(still) >= cap:
                over[i] = True
            else:
                opened.add(h)
        return over if over.any() else None

    def _update_hours(
        self, cols: ModelBlock, index: npt.NDArray[np.intp], hours: npt.NDArray[np.int64]
    ) -> None:
        kinds = self.spec.kinds
        uniq = np.unique(hours)
        rows = cols.offsets.size
        for h in uniq.tolist():
            sel = index if uniq.size == 1 else index[hours == h]
            # Every row of the block (the usual batch): its columns as they are, no copies.
            whole = sel.size == rows
            hour = self.hours.get(h)
            if hour is None:
                hour = OpenHour(
                    events=0,
                    sketches={f: self.params.zero(k) for f, k in kinds.items()},
                    joint=joint_zero(self.spec),
                )
                self.hours[h] = hour
            hour.events += int(sel.size)
            for f, col in cols.numeric.items():
                values, nulls = (
                    (col.values, col.nulls) if whole else (col.values[sel], col.nulls[sel])
                )
                n_null = int(np.count_nonzero(nulls))
                sketch = hour.sketches[f]
                if not isinstance(sketch, NumericSketch):  # pragma: no cover - kinds are fixed
                    raise TypeError(f)
                sketch.update(values[~nulls] if n_null else values, nulls=n_null)
            for f, ccol in cols.categorical.items():
                csketch = hour.sketches[f]
                if not isinstance(csketch, CategoricalSketch):  # pragma: no cover
                    raise TypeError(f)
                if ccol.codes is not None and ccol.categories is not None:
                    # the parse's per-batch codes: a bincount, no hash per value
                    csketch.update_codes(ccol.codes if whole else ccol.codes[sel], ccol.categories)
                else:  # None marks a null; the sketch counts it as such.
                    csketch.update((ccol.values if whole else ccol.values[sel]).tolist())
            if hour.joint is not None:
                hour.joint.update_columns(
                    joint_inputs(cols, hour.joint, None if whole else sel), int(sel.size)
                )
            self._dirty.add(h)

    # -- step 3: seal -------------------------------------------------------------
    def _advance_seal(self, sealed: int | None, *, forced: bool = False) -> None:
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
        if not done and (forced or not first):
            # A progress notice: evaluation may be waiting for this partition only.
            self.outbox.append(self._notice(sealed - HOUR_MS, 0))
        self._offset_dirty = True

    def force_seal(self, through_ms: int) -> None:
        """Seal every hour ending by ``through_ms`` (an idle partition must not stall others)."""
        self._advance_seal(through_ms - through_ms % HOUR_MS, forced=True)

    def go_idle(self, now_ms: int | None = None) -> None:
        """No records of this model for the idle timeout: seal what has surely ended.

        Live (``now_ms`` = the worker's wall clock) only hours whose end + allowed
        lateness the clock has passed are sealed: events may still come for the
        current hour. The partition is idle (holds no rollup back beyond its seal
        point) only once nothing is left open. ``now_ms=None`` (end of a replay
        range: nothing more will come) seals everything.
        """
        if now_ms is None:
            if self.watermark_ms is not None and self.hours:
                newest = max(max(self.hours), floor_to(self.watermark_ms, HOUR_MS))
                self.force_seal(newest + HOUR_MS)
        else:
            through = floor_to(now_ms - self.allowed_lateness_ms, HOUR_MS)
            if self.sealed_through_ms is None or through > self.sealed_through_ms:
                self.force_seal(through)
        if not self.idle and not self.hours:
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
        return bool(
            self._dirty
            or self._sealed_now
            or self._late_dirty
            or self._offset_dirty
            or self._rejected_dirty
        )

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
            watermark_ms=self.watermark_ms,
            recent_ms=self.recent_ms,
            sealed_through_ms=self.sealed_through_ms,
            open_hours=tuple(sorted(self.hours)),
            idle=self.idle,
            hours=tuple(writes),
            late=dict(self.late) if self._late_dirty else {},
            rejected=dict(self.rejected) if self._rejected_dirty else {},
            notices=tuple(self.outbox),
        )

    def flushed(self) -> None:
        """The store holds everything :meth:`pending_write` returned: mark it clean."""
        for h in self._dirty:
            self.hours[h].undeclared_dirty.clear()
        self._dirty.clear()
        self._sealed_now.clear()
        self._late_dirty = False
        self._offset_dirty = False
        self._rejected_dirty = False

    def published(self, count: int) -> None:
        """The first ``count`` outbox notices reached Kafka (step 5).

        The next flush rewrites the stored outbox without them; until then a
        crash only re-publishes them, which rollups tolerate.
        """
        if count:
            del self.outbox[:count]
            self._offset_dirty = True


def _restore_joint(spec: ModelSpec, blob: bytes | None) -> JointSketch | None:
    """The stored joint sketch, or a zero one when the stored columns are not today's."""
    zero = joint_zero(spec)
    if blob is None or zero is None:
        return zero
    stored = JointSketch.from_bytes(blob)
    # The joint columns changed in the config since that flush: the hour's joint
    # sketch restarts, so its rows fall short of the hour's events (the evaluator says so).
    same = stored.layout == zero.layout
    return stored if same else zero


def _hour_write(hour_ms: int, hour: OpenHour, *, sealed: bool) -> HourWrite:
    sketches = {f: s.to_bytes() for f, s in sorted(hour.sketches.items())}
    if hour.joint is not None:
        sketches[JOINT_KEY] = hour.joint.to_bytes()
    return HourWrite(
        hour_ms=hour_ms,
        events=hour.events,
        sketches=sketches,
        sealed=sealed,
        # Only the keys that changed: the store adds them to what it holds.
        undeclared={k: hour.undeclared[k] for k in sorted(hour.undeclared_dirty)},
        undeclared_overflow=hour.undeclared_overflow,
        final={**hour.sketches, **({JOINT_KEY: hour.joint} if hour.joint is not None else {})}
        if sealed
        else None,
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
