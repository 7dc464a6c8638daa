"""The dashboard's reads over an offline check's in-memory state, for the same HTML report.

:class:`OfflineData` is :class:`~.data.DashboardData` with its raw reads (the only
methods that touch Redis) answered from a :class:`~stream.pipeline.offline.CheckRun`,
so ``driftstream check --html`` renders exactly what ``driftstream report`` renders.
Sketches are looked up under the same Redis key names the live store uses.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from stream.adapters.redis_eval import reference_name
from stream.adapters.redis_keys import Keys
from stream.catalog import Catalog
from stream.core.vocabulary import Scale
from stream.pipeline.offline import CheckRun
from stream.web.data import DashboardData, Evals

__all__ = ["OfflineData"]


class OfflineData(DashboardData):
    """Read-only view of a check run (no Redis)."""

    def __init__(self, run: CheckRun, label: str, reference_meta: Mapping[str, Any]) -> None:
        # No client: every method that would use it is overridden below.
        self.namespace = label
        self.catalog = Catalog.of(run.spec)
        self.keys = Keys(label)
        self._run = run
        self._meta = dict(reference_meta)
        spec = run.spec
        blobs: dict[str, dict[str, bytes]] = {}
        ref = run.store.ref
        if ref is not None:
            blobs[self.keys.reference(spec.name, reference_name(spec))] = {
                "f:" + f: b for f, b in ref[0].items()
            }
        for w in run.windows:
            key = self.keys.model_window(spec.name, w.key.scale, w.key.start_ms)
            blobs[key] = {"f:" + f: b for f, b in w.sketches.items()}
        self._blobs = blobs
        self._counts = {(w.key.scale, w.key.start_ms): (w.events, w.late) for w in run.windows}

    def evaluated(self, model: str, scale: Scale) -> list[int]:
        """Starts of the evaluated windows of a scale, ascending."""
        return sorted(k.start_ms for k in self._run.store.decisions if k.scale == scale)

    def evals(self, model: str, scale: Scale, starts: Sequence[int]) -> Evals:
        """Decisions of windows: start → baseline → decision dicts."""
        by_start = {k.start_ms: v for k, v in self._run.store.decisions.items() if k.scale == scale}
        return {s: {b: list(ds) for b, ds in sorted(by_start.get(s, {}).items())} for s in starts}

    def counts(self, model: str, scale: Scale, starts: Sequence[int]) -> dict[int, tuple[int, int]]:
        """(events, late) of the windows."""
        return {s: self._counts[(scale, s)] for s in starts if (scale, s) in self._counts}

    def history(self, model: str) -> list[dict[str, Any]]:
        """The would-be alert events of the run, oldest first."""
        return [dict(json.loads(a)) for a in self._run.store.outbox]

    def states(self, model: str) -> list[dict[str, Any]]:
        """Lifecycle states of every (scale, baseline)."""
        return [s.to_dict() for _, s in sorted(self._run.store.states.items())]

    def _blob(self, key: str, field: str) -> bytes | None:
        return self._blobs.get(key, {}).get(field)

    def reference_meta(self, spec: Any) -> dict[str, Any] | None:
        """Provenance of the reference file."""
        return dict(self._meta)
