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
from stream.core.window import WindowKey
from stream.pipeline.ports import EvaluationCommit, StoredWindow

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
    ) -> None:
        self._r = client
        self.keys = Keys(namespace)
        # A replay compares with the live namespace's references (read only).
        self._ref_keys = Keys(reference_namespace or namespace)
        self._windows = windows
        self._refs: dict[
            str, tuple[float, tuple[dict[str, bytes], ModelCalibration | None] | None]
        ] = {}

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
        """The stored lifecycle states, if any: one HMGET for every baseline."""
        if not baselines:
            return {}
        fields = [f"{scale}/{b}" for b in baselines]
        raws = cast("list[bytes | None]", self._r.hmget(self.keys.alerts(model), fields))
        return {
            b: None if raw is None else AlertState.from_dict(json.loads(raw))
            for b, raw in zip(baselines, raws, strict=True)
        }

    def commit(self, c: EvaluationCommit) -> None:
        """Decisions, lifecycle state and outbox events in one MULTI/EXEC."""
        k, model, window = self.keys, c.model, c.window
        with self._r.pipeline(transaction=True) as tx:
            tx.hset(
                k.evaluation(model, window.scale, window.start_ms),
                c.baseline,
                json.dumps([d.to_dict() for d in c.decisions], sort_keys=True),
            )
            tx.zadd(k.evaluations(model, window.scale), {str(window.start_ms): window.start_ms})
            tx.hset(
                k.alerts(model),
                f"{window.scale}/{c.baseline}",
                json.dumps(c.state.to_dict(), sort_keys=True),
            )
            queue_alerts(tx, k, model, c.alerts)
            tx.execute()

    def outbox(self, model: str) -> list[bytes]:
        """Committed events not yet acknowledged."""
        return list(cast("list[bytes]", self._r.lrange(self.keys.alerts_outbox(model), 0, -1)))

    def ack(self, model: str, count: int) -> None:
        """Drop the first ``count`` outbox events (they reached the alerts topic)."""
        if count:
            self._r.ltrim(self.keys.alerts_outbox(model), count, -1)

    def decisions(self, model: str, window: WindowKey) -> dict[str, list[dict[str, Any]]]:
        """The stored decisions of a window, per baseline."""
        blob = cast(
            "dict[bytes, bytes]",
            self._r.hgetall(self.keys.evaluation(model, window.scale, window.start_ms)),
        )
        return {b.decode(): list(json.loads(v)) for b, v in blob.items()}
