"""In-memory window ports: the rollups' window store and the evaluation store."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from stream.catalog import ModelSpec
from stream.core.calibrate import ModelCalibration
from stream.core.lifecycle import AlertState
from stream.core.window import DAY_MS, HOUR, HOUR_MS, WindowKey
from stream.pipeline.memory.data import MemorySketchStore
from stream.pipeline.ports.windows import EvaluationCommit, StoredWindow

__all__ = ["MemoryEvaluationStore", "MemoryWindowStore"]


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
