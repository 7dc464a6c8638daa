"""The dashboard's read port over an offline check's in-memory state, for the same report.

:class:`OfflineReader` answers :class:`~.ports.DashboardReader` from a
:class:`~stream.pipeline.offline.CheckRun`, so ``driftstream check --html`` renders
exactly what ``driftstream report`` renders from Redis (:class:`OfflineData`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from stream.catalog import Catalog, ModelSpec
from stream.core.vocabulary import Scale
from stream.core.window import WindowKey
from stream.pipeline.offline import CheckRun
from stream.web.data import DashboardData
from stream.web.ports import Evals

__all__ = ["OfflineData", "OfflineReader"]


class OfflineReader:
    """Read-only raw state of a check run (no Redis)."""

    def __init__(self, run: CheckRun, label: str, reference_meta: Mapping[str, Any]) -> None:
        self._ns = label
        self._run = run
        self._meta = dict(reference_meta)
        ref = run.store.ref
        self._reference: dict[str, bytes] = dict(ref[0]) if ref is not None else {}
        self._windows = {(w.key.scale, w.key.start_ms): w for w in run.windows}

    @property
    def namespace(self) -> str:
        """The run's label (shown where a namespace would be)."""
        return self._ns

    def evaluated(self, model: str, scale: Scale) -> list[int]:
        """Starts of the evaluated windows of a scale, ascending."""
        return sorted(k.start_ms for k in self._run.store.decisions if k.scale == scale)

    def evals(self, model: str, scale: Scale, starts: Sequence[int]) -> Evals:
        """Decisions of windows: start → baseline → decision dicts."""
        by_start = {k.start_ms: v for k, v in self._run.store.decisions.items() if k.scale == scale}
        return {s: {b: list(ds) for b, ds in sorted(by_start.get(s, {}).items())} for s in starts}

    def counts(self, model: str, scale: Scale, starts: Sequence[int]) -> dict[int, tuple[int, int]]:
        """(events, late) of the windows."""
        found = ((s, self._windows.get((scale, s))) for s in starts)
        return {s: (w.events, w.late) for s, w in found if w is not None}

    def history(self, model: str) -> list[dict[str, Any]]:
        """The would-be alert events of the run, oldest first."""
        return [dict(json.loads(a)) for a in self._run.store.outbox]

    def states(self, model: str) -> list[dict[str, Any]]:
        """Lifecycle states of every (scale, baseline)."""
        return [s.to_dict() for _, s in sorted(self._run.store.states.items())]

    def reference_sketch(self, spec: ModelSpec, feature: str) -> bytes | None:
        """The reference file's sketch of a feature."""
        return self._reference.get(feature)

    def window_sketch(self, model: str, window: WindowKey, feature: str) -> bytes | None:
        """A window's sketch of a feature."""
        w = self._windows.get((window.scale, window.start_ms))
        return None if w is None else w.sketches.get(feature)

    def reference_meta(self, spec: ModelSpec) -> dict[str, Any] | None:
        """Provenance of the reference file."""
        return dict(self._meta)

    def pending(self, model: str, window: WindowKey) -> tuple[str, str] | None:
        """A window of the run without decisions was too small to judge (or empty)."""
        w = self._windows.get((window.scale, window.start_ms))
        if w is None:
            return "skipped", "no rows in this window"
        return "skipped", f"{w.events:,} rows, fewer than --min-rows"


class OfflineData(DashboardData):
    """:class:`DashboardData` of a check run: what ``check --html`` reports."""

    def __init__(self, run: CheckRun, label: str, reference_meta: Mapping[str, Any]) -> None:
        super().__init__(OfflineReader(run, label, reference_meta), Catalog.of(run.spec))
