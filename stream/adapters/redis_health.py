"""Redis implementation of the ``HealthStore`` port (stream.pipeline.ports).

Model-health state lives under the model's hash tag ``{ns|model}``: lifecycle
states in ``…:health`` (``<scale>/<kind>``; ``<scale>/judged``: window start → the
label-coverage stage it was last judged at), a window's decisions in
``…:hd:<scale>:<start>``; windows waiting for the label consumer in the ZSET
``…:health:deferred`` (``<scale>:<start>``, left in the commit's MULTI/EXEC);
alert events go to the model's alert outbox and history, the same lists the
feature alerts use, in the same MULTI/EXEC.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from typing import Any, TypeVar, cast

import redis

from stream.adapters.redis_eval import queue_alerts, reference_name
from stream.adapters.redis_keys import Keys
from stream.adapters.redis_labels import RedisLabelStore
from stream.adapters.redis_refs import MULTICLASS, PERFORMANCE, REGRESSION
from stream.adapters.redis_windows import RedisWindowStore
from stream.catalog import ModelSpec
from stream.core.lifecycle import AlertState
from stream.core.multiclass import MulticlassPerformance
from stream.core.performance import BinaryPerformance
from stream.core.regression import RegressionPerformance
from stream.core.window import DAY_MS, WindowKey, WindowScale
from stream.pipeline.ports.labels import HealthCommit
from stream.pipeline.ports.windows import StoredWindow

_P = TypeVar("_P")

__all__ = ["RedisHealthStore"]

REFERENCE_TTL_S = 60.0
JUDGED = "judged"


class RedisHealthStore:
    """Labels, reference performance and health lifecycle state in Redis."""

    def __init__(
        self,
        client: redis.Redis,
        namespace: str,
        windows: RedisWindowStore,
        labels: RedisLabelStore,
        reference_namespace: str | None = None,
        *,
        retention_ms: int = 0,
    ) -> None:
        self._r = client
        self._retention_ms = retention_ms
        """Health decisions expire this long after they are written (0: kept; a replay's)."""
        self.keys = Keys(namespace)
        self._ref_keys = Keys(reference_namespace or namespace)  # a replay reads live's
        self._windows = windows
        self._labels = labels
        self._refs: dict[str, tuple[float, BinaryPerformance | None]] = {}
        self._mrefs: dict[str, tuple[float, MulticlassPerformance | None]] = {}
        self._rrefs: dict[str, tuple[float, RegressionPerformance | None]] = {}

    def reference_performance(self, spec: ModelSpec) -> BinaryPerformance | None:
        """The stored reference's performance state (cached for a minute)."""
        return self._reference(self._refs, spec, PERFORMANCE, BinaryPerformance.from_bytes)

    def reference_multiclass(self, spec: ModelSpec) -> MulticlassPerformance | None:
        """The stored reference's multiclass state (cached for a minute)."""
        return self._reference(self._mrefs, spec, MULTICLASS, MulticlassPerformance.from_bytes)

    def reference_regression(self, spec: ModelSpec) -> RegressionPerformance | None:
        """The stored reference's regression state (cached for a minute)."""
        return self._reference(self._rrefs, spec, REGRESSION, RegressionPerformance.from_bytes)

    def regression_labels(
        self, model: str, key: WindowKey, arrived_before_ms: int | None = None
    ) -> RegressionPerformance:
        """Labels of a regression model's window, merged over partitions and hours."""
        return self._labels.regression_window(model, key.start_ms, key.end_ms, arrived_before_ms)

    def _reference(
        self,
        cache: dict[str, tuple[float, _P | None]],
        spec: ModelSpec,
        field: bytes,
        decode: Callable[[bytes], _P],
    ) -> _P | None:
        now = time.monotonic()
        hit = cache.get(spec.name)
        if hit is not None and now - hit[0] < REFERENCE_TTL_S:
            return hit[1]
        key = self._ref_keys.reference(spec.name, reference_name(spec))
        raw = cast("bytes | None", self._r.hget(key, field))
        value = None if raw is None else decode(raw)
        cache[spec.name] = (now, value)
        return value

    def multiclass_labels(
        self, model: str, key: WindowKey, classes: int, arrived_before_ms: int | None = None
    ) -> MulticlassPerformance:
        """Labels of a multiclass model's window, merged over partitions and hours."""
        return self._labels.multiclass_window(
            model, key.start_ms, key.end_ms, classes, arrived_before_ms
        )

    def labels(
        self, model: str, key: WindowKey, arrived_before_ms: int | None = None
    ) -> BinaryPerformance:
        """Labels of the window's predictions, merged over partitions and hours."""
        return self._labels.window(model, key.start_ms, key.end_ms, arrived_before_ms)

    def labels_through(self, model: str) -> int | None:
        """Labels are ingested up to this record time on every partition that has any."""
        return self._labels.through(model)

    def label_progress(self, model: str) -> dict[int, tuple[int | None, int | None]]:
        """Claimed label partition → (newest flushed record time, idle-at-end time)."""
        return self._labels.progress(model)

    def _queue(self, model: str) -> str:
        return f"{self.keys.health_states(model)}:deferred"

    def defer(self, model: str, key: WindowKey) -> None:
        """Queue the window (ZSET ``…:health:deferred``, ``<scale>:<start>`` by start)."""
        self._r.zadd(self._queue(model), {f"{key.scale}:{key.start_ms}": key.start_ms})

    def deferred(self, model: str, scale: str) -> list[WindowKey]:
        """The queued windows of (model, scale), oldest first."""
        out = []
        for raw in cast("list[bytes]", self._r.zrange(self._queue(model), 0, -1)):
            s, _, start = raw.decode().partition(":")
            if s == scale:
                out.append(WindowKey(cast("WindowScale", s), int(start)))
        return out

    def window(self, model: str, key: WindowKey) -> StoredWindow | None:
        """A rolled-up model window, if any."""
        return self._windows.window(model, key)

    def judged(self, model: str, scale: str) -> dict[int, int]:
        """Window start → the coverage stage it was last judged at (``<scale>/judged``)."""
        key = self.keys.health_states(model)
        raw = cast("bytes | None", self._r.hget(key, f"{scale}/{JUDGED}"))
        return {} if raw is None else {int(k): int(v) for k, v in json.loads(raw).items()}

    def predictions(self, model: str, key: WindowKey) -> int | None:
        """Events of the rolled-up window, if any."""
        w = self._windows.window(model, key)
        return None if w is None else w.events

    def decisions(self, model: str, key: WindowKey) -> list[dict[str, Any]]:
        """The model-health decisions committed for the window (JSON dicts)."""
        raw = cast(
            "bytes | None",
            self._r.get(self.keys.health_decisions(model, key.scale, key.start_ms)),
        )
        return [] if raw is None else list(json.loads(raw))

    def health_states(self, model: str, scale: str) -> dict[str, AlertState]:
        """The stored lifecycle states of (model, scale) by kind."""
        blob = cast("dict[bytes, bytes]", self._r.hgetall(self.keys.health_states(model)))
        out = {}
        for name, raw in blob.items():
            s, _, kind = name.decode().partition("/")
            if s == scale and kind != JUDGED:
                out[kind] = AlertState.from_dict(json.loads(raw))
        return out

    def commit(self, c: HealthCommit) -> bool:
        """Decisions, states and outbox events in one MULTI/EXEC.

        A deferred window is committed only if still queued (WATCHed), and leaves the
        queue in the same transaction: two workers resuming it judge it once.
        """
        k, model, window = self.keys, c.model, c.window
        queue, member = self._queue(model), f"{window.scale}:{window.start_ms}"
        with self._r.pipeline(transaction=True) as tx:
            if c.deferred:
                tx.watch(queue)  # type: ignore[no-untyped-call]
                if tx.zscore(queue, member) is None:
                    tx.unwatch()
                    return False
                tx.multi()
            tx.zrem(queue, member)
            tx.set(
                k.health_decisions(model, window.scale, window.start_ms),
                json.dumps([dataclasses.asdict(d) for d in c.decisions], sort_keys=True),
                px=self._retention_ms + DAY_MS if self._retention_ms else None,
            )
            for kind, state in sorted(c.states.items()):
                tx.hset(
                    k.health_states(model),
                    f"{window.scale}/{kind}",
                    json.dumps(state.to_dict(), sort_keys=True),
                )
            tx.hset(
                k.health_states(model),
                f"{window.scale}/{JUDGED}",
                json.dumps({str(s): n for s, n in sorted(c.judged.items())}),
            )
            queue_alerts(tx, k, model, c.alerts)
            try:
                tx.execute()
            except redis.WatchError:
                return False
        return True
