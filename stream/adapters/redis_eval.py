"""Redis implementation of the ``EvaluationStore`` port: decisions, alert state, outbox."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import Any, cast

import redis

from stream.adapters.redis_keys import Keys
from stream.adapters.redis_refs import CALIBRATION
from stream.adapters.redis_windows import RedisWindowStore
from stream.catalog import ModelSpec, RedisReference
from stream.core.calibrate import ModelCalibration
from stream.core.lifecycle import AlertState
from stream.core.window import DAY_MS, WindowKey
from stream.pipeline.ports.windows import EvaluationCommit, StoredWindow

__all__ = ["ALERT_HISTORY", "RedisEvaluationStore", "queue_alerts", "reference_name"]

REFERENCE_TTL_S = 60.0
ALERT_HISTORY = 500
"""Alert events kept per model for the dashboard (the alerts topic is the record)."""


def queue_alerts(
    tx: redis.client.Pipeline, keys: Keys, model: str, alerts: Sequence[bytes]
) -> None:
    """In ``tx``: the encoded alerts into the model's outbox and its capped history.

    The history is the dashboard's alert marks: the same events, in the same
    transaction as the decisions that raised them.
    """
    for a in alerts:
        tx.rpush(keys.alerts_outbox(model), a)
    if alerts:
        tx.rpush(keys.alert_history(model), *alerts)
        tx.ltrim(keys.alert_history(model), -ALERT_HISTORY, -1)


def reference_name(spec: ModelSpec) -> str:
    """The stored reference a model is compared with (``training`` unless named)."""
    ref = spec.reference
    return ref.name if isinstance(ref, RedisReference) else "training"


class RedisEvaluationStore:
    """Model-level evaluation state under ``{namespace|model}`` (one slot per model)."""

    def __init__(
        self,
        client: redis.Redis,
        namespace: str,
        windows: RedisWindowStore,
        *,
        reference_namespace: str | None = None,
        deferred: bool = False,
        retention_ms: int = 0,
    ) -> None:
        self._r = client
        self._retention_ms = retention_ms
        """Decisions expire this long after they are written (0: kept; a replay's)."""
        self.keys = Keys(namespace)
        # A replay compares with the live namespace's references (read only).
        self._ref_keys = Keys(reference_namespace or namespace)
        self._windows = windows
        self._refs: dict[
            str, tuple[float, tuple[dict[str, bytes], ModelCalibration | None] | None]
        ] = {}
        self._deferred = deferred
        self._queued: list[EvaluationCommit] = []
        self._states: dict[tuple[str, str], AlertState] = {}
        """Lifecycle states of the queued commits (newer than Redis's), by (model, field)."""

    def window(self, model: str, key: WindowKey) -> StoredWindow | None:
        """A rolled-up model window, if any."""
        return self._windows.window(model, key)

    def reference(
        self, spec: ModelSpec
    ) -> tuple[Mapping[str, bytes], ModelCalibration | None] | None:
        """The reference's merged sketches and calibration (cached for a minute)."""
        now = time.monotonic()
        cached = self._refs.get(spec.name)
        if cached is not None and now - cached[0] < REFERENCE_TTL_S:
            return cached[1]
        blob = cast(
            "dict[bytes, bytes]",
            self._r.hgetall(self._ref_keys.reference(spec.name, reference_name(spec))),
        )
        value: tuple[dict[str, bytes], ModelCalibration | None] | None = None
        if blob:
            sketches = {k[2:].decode(): v for k, v in blob.items() if k.startswith(b"f:")}
            raw = blob.get(CALIBRATION)
            cal = ModelCalibration.from_dict(json.loads(raw)) if raw else None
            value = (sketches, cal)
        self._refs[spec.name] = (now, value)
        return value

    def alert_states(
        self, model: str, scale: str, baselines: Sequence[str]
    ) -> dict[str, AlertState | None]:
        """The stored lifecycle states, if any: one HMGET for every baseline.

        With commits queued (``deferred``), their states are the newest: read from them.
        """
        if not baselines:
            return {}
        fields = [f"{scale}/{b}" for b in baselines]
        out: dict[str, AlertState | None] = {}
        if self._states:
            for b, f in zip(baselines, fields, strict=True):
                queued = self._states.get((model, f))
                if queued is not None:
                    out[b] = queued
            if len(out) == len(fields):
                return out
        raws = cast("list[bytes | None]", self._r.hmget(self.keys.alerts(model), fields))
        for b, raw in zip(baselines, raws, strict=True):
            if b not in out:
                out[b] = None if raw is None else AlertState.from_dict(json.loads(raw))
        return out

    def commit(self, c: EvaluationCommit) -> None:
        """Decisions, lifecycle state and outbox events in one MULTI/EXEC.

        ``deferred`` (a replay): queued, and written by :meth:`flush` in one MULTI/EXEC
        with the model's commits queued before it — all of them or none, in order.
        """
        if self._deferred:
            self._queued.append(c)
            # Read back as Redis would give it (the JSON round trip), not the live object.
            state = AlertState.from_dict(json.loads(json.dumps(c.state.to_dict())))
            self._states[(c.model, f"{c.window.scale}/{c.baseline}")] = state
            return
        with self._r.pipeline(transaction=True) as tx:
            self._write(tx, c)
            tx.execute()

    def flush(self) -> int:
        """Write the queued commits, each model's in one MULTI/EXEC; how many there were.

        A replay evaluates one model at a time, so a flush is one round trip.
        """
        if not self._queued:
            return 0
        by_model: dict[str, list[EvaluationCommit]] = {}
        for c in self._queued:  # a model's keys share one slot (Redis Cluster)
            by_model.setdefault(c.model, []).append(c)
        for commits in by_model.values():
            with self._r.pipeline(transaction=True) as tx:
                for c in commits:
                    self._write(tx, c)
                tx.execute()
        n = len(self._queued)
        self._queued.clear()
        self._states.clear()
        return n

    def _write(self, tx: redis.client.Pipeline, c: EvaluationCommit) -> None:
        k, model, window = self.keys, c.model, c.window
        tx.hset(
            k.evaluation(model, window.scale, window.start_ms),
            c.baseline,
            json.dumps([d.to_dict() for d in c.decisions], sort_keys=True),
        )
        tx.zadd(k.evaluations(model, window.scale), {str(window.start_ms): window.start_ms})
        if self._retention_ms:
            # The record outlives its index entry by a day (a window is evaluated within
            # hours of its start), so the index never lists an expired record; the index
            # itself expires with its newest record (a model that stopped sending).
            tx.pexpire(
                k.evaluation(model, window.scale, window.start_ms), self._retention_ms + DAY_MS
            )
            tx.pexpire(k.evaluations(model, window.scale), self._retention_ms + DAY_MS)
            tx.zremrangebyscore(
                k.evaluations(model, window.scale),
                "-inf",
                f"({window.start_ms - self._retention_ms}",
            )
        tx.hset(
            k.alerts(model),
            f"{window.scale}/{c.baseline}",
            json.dumps(c.state.to_dict(), sort_keys=True),
        )
        queue_alerts(tx, k, model, c.alerts)

    def outbox(self, model: str) -> list[bytes]:
        """Committed events not yet acknowledged (queued commits are written first)."""
        self.flush()
        return list(cast("list[bytes]", self._r.lrange(self.keys.alerts_outbox(model), 0, -1)))

    def ack(self, model: str, count: int) -> None:
        """Drop the first ``count`` outbox events (they reached the alerts topic)."""
        if count:
            self._r.ltrim(self.keys.alerts_outbox(model), count, -1)

    def decisions(self, model: str, window: WindowKey) -> dict[str, list[dict[str, Any]]]:
        """The stored decisions of a window, per baseline (queued commits written first)."""
        self.flush()
        blob = cast(
            "dict[bytes, bytes]",
            self._r.hgetall(self.keys.evaluation(model, window.scale, window.start_ms)),
        )
        return {b.decode(): list(json.loads(v)) for b, v in blob.items()}
