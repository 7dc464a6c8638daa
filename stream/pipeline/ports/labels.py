"""Label ports: the label store (fenced, per partition) and the model-health store.

What the label consumer (:mod:`stream.pipeline.labels`, :mod:`stream.pipeline.labelplane`)
flushes and claims back, and what :mod:`stream.pipeline.health_eval` reads and commits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

from stream.catalog import ModelSpec
from stream.core.lifecycle import AlertState
from stream.core.model_health import HealthDecision
from stream.core.multiclass import MulticlassPerformance
from stream.core.performance import BinaryPerformance
from stream.core.regression import RegressionPerformance
from stream.core.window import WindowKey
from stream.pipeline.ports.windows import StoredWindow

__all__ = [
    "HealthCommit",
    "HealthStore",
    "LabelHourWrite",
    "LabelSnapshot",
    "LabelStore",
    "LabelWrite",
]


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
