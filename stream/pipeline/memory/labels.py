"""In-memory label ports: the label store and the model-health store over it."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from stream.catalog import ModelSpec
from stream.core.lifecycle import AlertState
from stream.core.multiclass import MulticlassPerformance, merge_bytes
from stream.core.performance import BinaryPerformance, merge_all
from stream.core.regression import RegressionPerformance
from stream.core.regression import merge_bytes as merge_regression
from stream.core.window import HOUR_MS, WindowKey
from stream.pipeline.memory.windows import MemoryWindowStore, _json
from stream.pipeline.ports.data import StaleWriterError
from stream.pipeline.ports.labels import HealthCommit, LabelSnapshot, LabelWrite
from stream.pipeline.ports.windows import StoredWindow

__all__ = ["MemoryHealthStore", "MemoryLabelPartition", "MemoryLabelStore"]


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
