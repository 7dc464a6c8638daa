"""Window ports: the rollups' window store and the evaluation store over its windows.

What :mod:`stream.pipeline.rollup` and :mod:`stream.pipeline.control` read and write
(partition-hours in, merged model windows out) and what :mod:`stream.pipeline.evaluate`
reads and commits (windows, references, lifecycle states, decisions and alerts).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from stream.catalog import ModelSpec
from stream.core.calibrate import ModelCalibration
from stream.core.decide import Decision
from stream.core.lifecycle import AlertState
from stream.core.window import WindowKey

__all__ = [
    "EvaluationCommit",
    "EvaluationStore",
    "StoredWindow",
    "WindowStore",
]


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
