"""In-memory implementations of the pipeline's ports, with the Redis adapters' semantics.

One module of fakes used by everything that runs the pipeline without servers: the
offline ``check`` (:mod:`.offline`), the detection harness and the fast unit tests.
They are *honest*: the same semantics as the Redis adapters, rule by rule, and
``tests/integration/test_memory_contract.py`` runs one contract against both so the
two cannot drift apart:

- :class:`MemorySketchStore` (``SketchStore``, as ``adapters/redis_store``): a claim
  issues a new fencing token and returns what the last flush stored; a flush with a
  stale (or never issued) token is refused with ``StaleWriterError`` while the other
  writes of the same call land; hour fields merge by name (a sketch or undeclared key
  not in a write is kept), late and rejected counts are set per key, the outbox is
  replaced whole.
- :class:`MemoryWindowStore` (``WindowStore``, as ``adapters/redis_windows``): reads
  the partition state of a :class:`MemorySketchStore`; windows are create-only, and
  creating one updates the pending hours and days, and the windows to evaluate,
  exactly as the Lua script does.
- :class:`MemoryEvaluationStore` (``EvaluationStore``, as ``adapters/redis_eval``):
  decisions and lifecycle states go through JSON on commit as they do in Redis, alert
  events into a per-model outbox that :meth:`~MemoryEvaluationStore.ack` trims.
- :class:`MemoryLabelStore` (``LabelStore``, as ``adapters/redis_labels``): fenced like
  the sketch store; counters set per name, an hour's state replaced, applied label
  ids kept per hour for the duplicate look-up.
- :class:`MemoryHealthStore` (``HealthStore``, as ``adapters/redis_health``): labels
  merged from a :class:`MemoryLabelStore` when read, predictions from the window
  store, decisions and states through JSON, alerts into an outbox it can share with
  the :class:`MemoryEvaluationStore` (Redis: the model's one alert outbox).
- :class:`ManualClock`, :class:`ListNotices`, :class:`ListDeadLetters`: a settable
  clock and sinks that keep what they were given.

What they leave out, on purpose: key expiry (``sealed_retention_ms``, window
retention, the label ids' ``seen_ttl_ms``), the reference cache's minute, the
dashboard's alert history, and the reference *name* a model is compared with (the
Redis adapter picks the stored reference by ``reference_name(spec)``; here each
model has the one reference put).

Why here and not in ``stream/adapters``: the offline check is pipeline code and the
pipeline may not import adapters (import-linter); these classes import no client
library, so they sit beside the ports they implement (as ``replay.ReplayNotices``).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from stream.catalog import ModelSpec
from stream.core.calibrate import ModelCalibration
from stream.core.lifecycle import AlertState
from stream.core.multiclass import MulticlassPerformance, merge_bytes
from stream.core.performance import BinaryPerformance, merge_all
from stream.core.regression import RegressionPerformance
from stream.core.regression import merge_bytes as merge_regression
from stream.core.window import DAY_MS, HOUR, HOUR_MS, WindowKey
from stream.pipeline.ports import (
    DeadLetter,
    EvaluationCommit,
    FlushWrite,
    HealthCommit,
    HourWrite,
    LabelSnapshot,
    LabelWrite,
    PartitionSnapshot,
    SealNotice,
    StaleWriterError,
    StoredWindow,
)

__all__ = [
    "ListDeadLetters",
    "ListNotices",
    "ManualClock",
    "MemoryEvaluationStore",
    "MemoryHealthStore",
    "MemoryHour",
    "MemoryLabelPartition",
    "MemoryLabelStore",
    "MemoryPartition",
    "MemorySketchStore",
    "MemoryWindowStore",
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


class MemoryWindowStore:
    """The rollup's ``WindowStore`` in memory, over a :class:`MemorySketchStore`'s partitions."""

    def __init__(self, sketches: MemorySketchStore | None = None) -> None:
        self.sketches = sketches if sketches is not None else MemorySketchStore()
        self.windows: dict[tuple[str, WindowKey], StoredWindow] = {}
        self.pending: dict[str, set[int]] = {}
        self.days: dict[str, set[int]] = {}
        self.to_evaluate: dict[str, set[WindowKey]] = {}
        self.failed: dict[str, dict[WindowKey, str]] = {}
        self.attempts: dict[tuple[str, WindowKey], int] = {}

    def progress(self, model: str) -> dict[int, tuple[int | None, bool]]:
        """(seal point, idle?) of every partition claimed for ``model``."""
        parts = self.sketches.parts
        return {
            p: (parts[(model, p)].sealed_through_ms, parts[(model, p)].idle)
            for p in self.sketches.partitions(model)
        }

    def add_pending(self, model: str, hours: Sequence[int]) -> None:
        """Mark hours as waiting for rollup, unless their window exists."""
        todo = {h for h in hours if (model, WindowKey(HOUR, h)) not in self.windows}
        if todo:
            self.pending.setdefault(model, set()).update(todo)

    def pending_hours(self, model: str) -> list[int]:
        """Hours waiting for rollup, ascending."""
        return sorted(self.pending.get(model, ()))

    def pending_days(self, model: str) -> list[int]:
        """Days with hour windows and no day window yet, ascending."""
        return sorted(self.days.get(model, ()))

    def partition_hours(self, model: str, hour_ms: int) -> list[tuple[int, Mapping[str, bytes]]]:
        """(events, sketches) of every partition that stored ``hour_ms``."""
        out: list[tuple[int, Mapping[str, bytes]]] = []
        for p in self.sketches.partitions(model):
            hour = self.sketches.parts[(model, p)].hours.get(hour_ms)
            if hour is not None:
                out.append((hour.events, dict(hour.sketches)))
        return out

    def late_count(self, model: str, hour_ms: int) -> int:
        """Late events of ``hour_ms`` across partitions."""
        parts = self.sketches.parts
        return sum(parts[(model, p)].late.get(hour_ms, 0) for p in self.sketches.partitions(model))

    def data_hours(self, model: str, start_ms: int, end_ms: int) -> list[int]:
        """Hours in [start_ms, end_ms) in which some partition stored events (ascending)."""
        parts = [self.sketches.parts[(model, p)] for p in self.sketches.partitions(model)]
        return [
            h
            for h in range(start_ms - start_ms % HOUR_MS, end_ms, HOUR_MS)
            if any(part.hours[h].events > 0 for part in parts if h in part.hours)
        ]

    def window(self, model: str, key: WindowKey) -> StoredWindow | None:
        """A stored model window, if any."""
        return self.windows.get((model, key))

    def create_window(self, model: str, window: StoredWindow) -> bool:
        """Create-only; an hour leaves the pending hours and marks its day pending."""
        k = window.key
        if (model, k) in self.windows:
            return False
        self.windows[(model, k)] = StoredWindow(
            k, window.events, window.late, dict(sorted(window.sketches.items()))
        )
        if k.scale == HOUR:
            self.pending.get(model, set()).discard(k.start_ms)
            self.days.setdefault(model, set()).add(k.start_ms - k.start_ms % DAY_MS)
        else:
            self.days.get(model, set()).discard(k.start_ms)
        self.to_evaluate.setdefault(model, set()).add(k)
        return True

    def unevaluated(self, model: str) -> list[WindowKey]:
        """Windows created and not yet marked handed on: hours, then days, ascending."""
        return sorted(self.to_evaluate.get(model, ()), key=lambda k: (k.scale != HOUR, k.start_ms))

    def start_attempt(self, model: str, key: WindowKey) -> int:
        """Attempts at ``key`` not finished, this one included."""
        n = self.attempts.get((model, key), 0) + 1
        self.attempts[(model, key)] = n
        return n

    def mark_evaluated(self, model: str, key: WindowKey) -> None:
        """``key`` was handed on (evaluated): it leaves :meth:`unevaluated`."""
        self.to_evaluate.get(model, set()).discard(key)
        self.attempts.pop((model, key), None)

    def mark_failed(self, model: str, key: WindowKey, reason: str) -> None:
        """Recorded as failed with ``reason``; it leaves :meth:`unevaluated`."""
        self.failed.setdefault(model, {})[key] = reason
        self.to_evaluate.get(model, set()).discard(key)
        self.attempts.pop((model, key), None)

    def failed_windows(self, model: str) -> dict[WindowKey, str]:
        """Windows given up on → the last error."""
        return dict(self.failed.get(model, {}))


@dataclass
class MemoryLabelPartition:
    """One (model, partition)'s label state (the Redis ``…:lpart``, ``…:lh:*``, ``…:ls:*``)."""

    token: str | None = None
    next_offset: int | None = None
    newest_record_ms: int | None = None
    open_hours: tuple[tuple[int, int], ...] = ()
    counters: dict[str, int] = field(default_factory=dict)
    hours: dict[tuple[int, int], bytes] = field(default_factory=dict)
    seen: dict[int, set[int]] = field(default_factory=dict)
    idle_ms: int | None = None


class MemoryLabelStore:
    """The ``LabelStore`` port in memory: fenced flushes, duplicate look-ups by label id."""

    def __init__(self) -> None:
        self.parts: dict[tuple[str, int], MemoryLabelPartition] = {}
        self._tokens = itertools.count(1)

    def claim(self, model: str, partition: int) -> tuple[str, LabelSnapshot]:
        """A new token, then the last flushed state (open hours that hold a state)."""
        part = self.parts.setdefault((model, partition), MemoryLabelPartition())
        part.token = f"t{next(self._tokens)}"
        return part.token, LabelSnapshot(
            next_offset=part.next_offset,
            newest_record_ms=part.newest_record_ms,
            hours={h: part.hours[h] for h in part.open_hours if h in part.hours},
            counters=dict(part.counters),
        )

    def seen(
        self, model: str, partition: int, ids: Mapping[int, npt.NDArray[np.int64]]
    ) -> dict[int, npt.NDArray[np.int64]]:
        """Hour → those of ``ids`` already stored for it (hours with none left out)."""
        part = self.parts.get((model, partition), MemoryLabelPartition())
        out = {}
        for h in sorted(ids):
            have = part.seen.get(h, set())
            mask = np.fromiter((int(i) in have for i in ids[h]), np.bool_, len(ids[h]))
            if mask.any():
                out[h] = ids[h][mask]
        return out

    def window(
        self, model: str, start_ms: int, end_ms: int, arrived_before_ms: int | None = None
    ) -> BinaryPerformance:
        """Labels of predictions in [start_ms, end_ms) (arrived before the bound, if given)."""
        return merge_all(
            BinaryPerformance.from_bytes(b)
            for b in self._cells(model, start_ms, end_ms, arrived_before_ms)
        )

    def multiclass_window(
        self,
        model: str,
        start_ms: int,
        end_ms: int,
        classes: int,
        arrived_before_ms: int | None = None,
    ) -> MulticlassPerformance:
        """As :meth:`window`, for a multiclass model of ``classes`` classes."""
        return merge_bytes(self._cells(model, start_ms, end_ms, arrived_before_ms), classes)

    def regression_window(
        self, model: str, start_ms: int, end_ms: int, arrived_before_ms: int | None = None
    ) -> RegressionPerformance:
        """As :meth:`window`, for a regression model."""
        return merge_regression(self._cells(model, start_ms, end_ms, arrived_before_ms))

    def _cells(
        self, model: str, start_ms: int, end_ms: int, arrived_before_ms: int | None
    ) -> list[bytes]:
        lo = start_ms - start_ms % HOUR_MS
        return [
            blob
            for (m, _), part in sorted(self.parts.items())
            if m == model
            for (h, d), blob in sorted(part.hours.items())
            if lo <= h < end_ms and (arrived_before_ms is None or d < arrived_before_ms)
        ]

    def flush(self, writes: Sequence[LabelWrite]) -> None:
        """Apply each write whose token is current; raise for the others after the rest."""
        stale = [w for w in writes if not self._apply(w)]
        if stale:
            names = ", ".join(f"{w.model}/{w.partition} (labels)" for w in stale)
            msg = f"partitions claimed by another worker: {names}"
            raise StaleWriterError(msg)

    def mark_idle(self, model: str, partition: int, token: str, now_ms: int) -> bool:
        """Record the partition idle at its end at ``now_ms`` (if ``token`` still owns it)."""
        part = self.parts.get((model, partition))
        if part is None or part.token != token:
            return False
        part.idle_ms = now_ms
        return True

    def _apply(self, w: LabelWrite) -> bool:
        part = self.parts.get((w.model, w.partition))
        if part is None or part.token != w.token:
            return False
        part.next_offset = w.next_offset
        part.newest_record_ms = w.newest_record_ms
        part.open_hours = tuple(w.open_hours)
        part.counters.update(w.counters)
        for hw in w.hours:
            part.hours[(hw.hour_ms, hw.arrived_day_ms)] = hw.state
            part.seen.setdefault(hw.hour_ms, set()).update(hw.new_ids)
        return True


def _json(value: Any) -> Any:
    """What a value reads back as after Redis stored it as JSON (``sort_keys`` aside)."""
    return json.loads(json.dumps(value))


@dataclass
class MemoryEvaluationStore:
    """The ``EvaluationStore`` port in memory: decisions, lifecycle states, alert outbox.

    ``committed`` holds the decisions by (model, window, baseline), as the Redis store's
    hashes do; :meth:`decisions` reads one window's as the Redis store does.
    """

    windows: MemoryWindowStore = field(default_factory=MemoryWindowStore)
    references: dict[str, tuple[dict[str, bytes], ModelCalibration | None]] = field(
        default_factory=dict
    )
    states: dict[tuple[str, str, str], AlertState] = field(default_factory=dict)
    committed: dict[tuple[str, WindowKey, str], list[dict[str, Any]]] = field(default_factory=dict)
    outboxes: dict[str, list[bytes]] = field(default_factory=dict)

    def put_reference(
        self,
        model: str,
        sketches: Mapping[str, bytes],
        calibration: ModelCalibration | None = None,
    ) -> None:
        """Store ``model``'s reference (the calibration as its JSON, as Redis keeps it)."""
        cal = (
            None
            if calibration is None
            else ModelCalibration.from_dict(_json(calibration.to_dict()))
        )
        self.references[model] = (dict(sketches), cal)

    def window(self, model: str, key: WindowKey) -> StoredWindow | None:
        """A rolled-up model window, if any."""
        return self.windows.window(model, key)

    def reference(
        self, spec: ModelSpec
    ) -> tuple[Mapping[str, bytes], ModelCalibration | None] | None:
        """The model's reference sketches and calibration, if put."""
        return self.references.get(spec.name)

    def alert_states(
        self, model: str, scale: str, baselines: Sequence[str]
    ) -> dict[str, AlertState | None]:
        """The stored lifecycle states, if any."""
        return {b: self.states.get((model, scale, b)) for b in baselines}

    def commit(self, c: EvaluationCommit) -> None:
        """Decisions, lifecycle state and outbox events together (each as Redis reads it)."""
        self.committed[(c.model, c.window, c.baseline)] = _json([d.to_dict() for d in c.decisions])
        self.states[(c.model, c.window.scale, c.baseline)] = AlertState.from_dict(
            _json(c.state.to_dict())
        )
        self.outboxes.setdefault(c.model, []).extend(c.alerts)

    def outbox(self, model: str) -> list[bytes]:
        """Committed events not yet acknowledged."""
        return list(self.outboxes.get(model, ()))

    def ack(self, model: str, count: int) -> None:
        """Drop the first ``count`` outbox events (they reached the alerts topic)."""
        if count:
            del self.outboxes.get(model, [])[:count]

    def decisions(self, model: str, window: WindowKey) -> dict[str, list[dict[str, Any]]]:
        """The stored decisions of a window, per baseline."""
        return {b: ds for (m, k, b), ds in self.committed.items() if m == model and k == window}


@dataclass
class MemoryHealthStore:
    """The ``HealthStore`` port in memory, over the window and label stores.

    ``decided`` holds each window's decisions by (model, window) as their JSON reads
    back; ``outboxes`` may be a :class:`MemoryEvaluationStore`'s, shared as in Redis.
    """

    windows: MemoryWindowStore = field(default_factory=MemoryWindowStore)
    label_store: MemoryLabelStore = field(default_factory=MemoryLabelStore)
    outboxes: dict[str, list[bytes]] = field(default_factory=dict)
    references: dict[str, bytes] = field(default_factory=dict)
    states: dict[tuple[str, str, str], AlertState] = field(default_factory=dict)
    decided: dict[tuple[str, WindowKey], list[dict[str, Any]]] = field(default_factory=dict)
    stages: dict[tuple[str, str], dict[int, int]] = field(default_factory=dict)
    queued: dict[tuple[str, str], set[WindowKey]] = field(default_factory=dict)
    references_multiclass: dict[str, bytes] = field(default_factory=dict)
    references_regression: dict[str, bytes] = field(default_factory=dict)

    def put_reference_performance(self, model: str, performance: BinaryPerformance) -> None:
        """Store the labelled reference's performance state (as its bytes, like Redis)."""
        self.references[model] = performance.to_bytes()

    def reference_performance(self, spec: ModelSpec) -> BinaryPerformance | None:
        """The labelled reference's performance state, if put."""
        raw = self.references.get(spec.name)
        return None if raw is None else BinaryPerformance.from_bytes(raw)

    def labels(
        self, model: str, key: WindowKey, arrived_before_ms: int | None = None
    ) -> BinaryPerformance:
        """Labels of the window's predictions, merged over partitions and hours."""
        return self.label_store.window(model, key.start_ms, key.end_ms, arrived_before_ms)

    def put_reference_multiclass(self, model: str, performance: MulticlassPerformance) -> None:
        """Store the labelled reference's multiclass state (as its bytes, like Redis)."""
        self.references_multiclass[model] = performance.to_bytes()

    def reference_multiclass(self, spec: ModelSpec) -> MulticlassPerformance | None:
        """The labelled reference's multiclass state, if put."""
        raw = self.references_multiclass.get(spec.name)
        return None if raw is None else MulticlassPerformance.from_bytes(raw)

    def multiclass_labels(
        self, model: str, key: WindowKey, classes: int, arrived_before_ms: int | None = None
    ) -> MulticlassPerformance:
        """Labels of a multiclass model's window, merged over partitions and hours."""
        return self.label_store.multiclass_window(
            model, key.start_ms, key.end_ms, classes, arrived_before_ms
        )

    def put_reference_regression(self, model: str, performance: RegressionPerformance) -> None:
        """Store the labelled reference's regression state (as its bytes, like Redis)."""
        self.references_regression[model] = performance.to_bytes()

    def reference_regression(self, spec: ModelSpec) -> RegressionPerformance | None:
        """The labelled reference's regression state, if put."""
        raw = self.references_regression.get(spec.name)
        return None if raw is None else RegressionPerformance.from_bytes(raw)

    def regression_labels(
        self, model: str, key: WindowKey, arrived_before_ms: int | None = None
    ) -> RegressionPerformance:
        """Labels of a regression model's window, merged over partitions and hours."""
        return self.label_store.regression_window(
            model, key.start_ms, key.end_ms, arrived_before_ms
        )

    def judged(self, model: str, scale: str) -> dict[int, int]:
        """Window start → the coverage stage it was last judged at."""
        return dict(self.stages.get((model, scale), {}))

    def labels_through(self, model: str) -> int | None:
        """The oldest newest-record time over the model's label partitions."""
        seen = [
            p.newest_record_ms
            for (m, _), p in self.label_store.parts.items()
            if m == model and p.newest_record_ms is not None
        ]
        return min(seen) if seen else None

    def label_progress(self, model: str) -> dict[int, tuple[int | None, int | None]]:
        """Claimed label partition → (newest flushed record time, idle-at-end time)."""
        return {
            p: (part.newest_record_ms, part.idle_ms)
            for (m, p), part in sorted(self.label_store.parts.items())
            if m == model and part.token is not None
        }

    def defer(self, model: str, key: WindowKey) -> None:
        """Queue the window (a set: idempotent)."""
        self.queued.setdefault((model, key.scale), set()).add(key)

    def deferred(self, model: str, scale: str) -> list[WindowKey]:
        """The queued windows, oldest first."""
        return sorted(self.queued.get((model, scale), ()), key=lambda k: k.start_ms)

    def window(self, model: str, key: WindowKey) -> StoredWindow | None:
        """A rolled-up model window, if any."""
        return self.windows.window(model, key)

    def decisions(self, model: str, key: WindowKey) -> list[dict[str, Any]]:
        """The model-health decisions committed for the window (as their JSON reads back)."""
        return list(self.decided.get((model, key), []))

    def predictions(self, model: str, key: WindowKey) -> int | None:
        """Events of the rolled-up window, if any."""
        w = self.windows.window(model, key)
        return None if w is None else w.events

    def health_states(self, model: str, scale: str) -> dict[str, AlertState]:
        """The stored lifecycle states of (model, scale) by kind."""
        return {k: s for (m, sc, k), s in sorted(self.states.items()) if (m, sc) == (model, scale)}

    def commit(self, c: HealthCommit) -> bool:
        """Decisions, states and outbox events together (each as Redis reads it)."""
        queue = self.queued.get((c.model, c.window.scale), set())
        if c.deferred and c.window not in queue:
            return False
        queue.discard(c.window)
        self.decided[(c.model, c.window)] = _json([dataclasses.asdict(d) for d in c.decisions])
        for kind, state in c.states.items():
            self.states[(c.model, c.window.scale, kind)] = AlertState.from_dict(
                _json(state.to_dict())
            )
        self.outboxes.setdefault(c.model, []).extend(c.alerts)
        self.stages[(c.model, c.window.scale)] = dict(c.judged)
        return True

    def outbox(self, model: str) -> list[bytes]:
        """Committed events not yet acknowledged."""
        return list(self.outboxes.get(model, ()))


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
