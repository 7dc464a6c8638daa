"""The dashboard's read port over Redis: raw reads of one namespace, nothing written.

Implements :class:`stream.web.ports.DashboardReader` (:class:`RedisDashboard`),
:class:`~stream.web.ports.DashboardSource` (:class:`RedisNamespaces`: the live namespace
and every replay namespace, recognised by the range ``replay`` stores) and
:class:`~stream.web.ports.SessionStore` (:class:`RedisSessions`) structurally: ``web``
owns the protocols, this module only satisfies them. Synchronous reads; the views run
them in a thread.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any, cast

import redis

from stream.adapters.redis_eval import reference_name
from stream.adapters.redis_health import RedisHealthStore
from stream.adapters.redis_keys import Keys
from stream.adapters.redis_labels import RedisLabelStore
from stream.adapters.redis_windows import RedisWindowStore
from stream.catalog import ModelSpec
from stream.core.window import DAY, DAY_MS, HOUR_MS, Scale, WindowKey

__all__ = ["RedisDashboard", "RedisNamespaces", "RedisSessions"]

Evals = dict[int, dict[str, list[dict[str, Any]]]]


class RedisDashboard:
    """Read-only raw state of one namespace.

    A replay namespace holds no reference: its evaluator compared with the live
    namespace's. References are read from the namespace itself, else from
    ``reference_namespace`` (the live one).
    """

    def __init__(
        self, client: redis.Redis, namespace: str, *, reference_namespace: str | None = None
    ) -> None:
        self._r = client
        self._ns = namespace
        self.keys = Keys(namespace)
        refs = (namespace, reference_namespace or namespace)
        self._ref_keys = [Keys(ns) for ns in dict.fromkeys(refs)]

    @property
    def namespace(self) -> str:
        """The namespace read."""
        return self._ns

    def performance_reader(self) -> RedisHealthStore:
        """Labels, health decisions and reference performance (the performance panel)."""
        ref = self._ref_keys[-1].namespace
        windows = RedisWindowStore(self._r, self._ns)
        return RedisHealthStore(self._r, self._ns, windows, RedisLabelStore(self._r, self._ns), ref)

    def evaluated(self, model: str, scale: Scale) -> list[int]:
        """Starts of the evaluated windows of a scale, ascending."""
        members = cast("list[bytes]", self._r.zrange(self.keys.evaluations(model, scale), 0, -1))
        return sorted(int(m) for m in members)

    def evals(self, model: str, scale: Scale, starts: Sequence[int]) -> Evals:
        """Stored decisions of windows: start → baseline → decision dicts."""
        with self._r.pipeline(transaction=False) as p:
            for s in starts:
                p.hgetall(self.keys.evaluation(model, scale, s))
            blobs = cast("list[dict[bytes, bytes]]", p.execute())
        return {
            s: {b.decode(): list(json.loads(v)) for b, v in sorted(blob.items())}
            for s, blob in zip(starts, blobs, strict=True)
        }

    def counts(self, model: str, scale: Scale, starts: Sequence[int]) -> dict[int, tuple[int, int]]:
        """(events, late) of rolled-up windows that are still stored.

        ``late`` is the larger of the window's count at rollup and the partitions'
        late counters now: events that came after the rollup are counted there.
        """
        parts = sorted(
            int(x) for x in cast("set[bytes]", self._r.smembers(self.keys.model_partitions(model)))
        )
        width = DAY_MS if scale == DAY else HOUR_MS
        with self._r.pipeline(transaction=False) as p:
            for s in starts:
                p.hmget(self.keys.model_window(model, scale, s), "events", "late")
                hours = [str(h) for h in range(s, s + width, HOUR_MS)]
                for part in parts:
                    p.hmget(self.keys.partition_late(model, part), hours)
            rows = cast("list[list[bytes | None]]", p.execute())
        out = {}
        step = 1 + len(parts)
        for i, s in enumerate(starts):
            (ev, late), lates = rows[i * step], rows[i * step + 1 : (i + 1) * step]
            if ev is None:
                continue
            now = sum(int(n) for row in lates for n in row if n)
            out[s] = (int(ev), max(int(late or 0), now))
        return out

    def history(self, model: str) -> list[dict[str, Any]]:
        """The model's recent alert events (alerts-topic JSON), oldest first."""
        raw = cast("list[bytes]", self._r.lrange(self.keys.alert_history(model), 0, -1))
        return [dict(json.loads(x)) for x in raw]

    def states(self, model: str) -> list[dict[str, Any]]:
        """Alert lifecycle states of every (scale, baseline)."""
        raw = cast("dict[bytes, bytes]", self._r.hgetall(self.keys.alerts(model)))
        return [dict(json.loads(v)) for _, v in sorted(raw.items())]

    def _reference(self, spec: ModelSpec, field: str) -> bytes | None:
        for keys in self._ref_keys:
            key = keys.reference(spec.name, reference_name(spec))
            if self._r.exists(key):
                return cast("bytes | None", self._r.hget(key, field))
        return None

    def reference_sketch(self, spec: ModelSpec, feature: str) -> bytes | None:
        """The encoded reference sketch of a feature, if stored."""
        return self._reference(spec, "f:" + feature)

    def window_sketch(self, model: str, window: WindowKey, feature: str) -> bytes | None:
        """The encoded sketch of a feature in a rolled-up window, if still stored."""
        key = self.keys.model_window(model, window.scale, window.start_ms)
        return cast("bytes | None", self._r.hget(key, "f:" + feature))

    def reference_meta(self, spec: ModelSpec) -> dict[str, Any] | None:
        """Provenance of the model's reference (events, span, version...)."""
        raw = self._reference(spec, "meta")
        return None if raw is None else dict(json.loads(raw))

    def pending(self, model: str, window: WindowKey) -> tuple[str, str] | None:
        """Failed (with its error) or waiting (with its unfinished attempts), else None."""
        member = f"{window.stored_scale}:{window.start_ms}"
        pipe = self._r.pipeline(transaction=False)
        pipe.hget(self.keys.model_pending(model, "eval-failed"), member)
        pipe.zscore(self.keys.model_pending(model, "eval"), member)
        pipe.hget(self.keys.model_pending(model, "eval-attempts"), member)
        failed, waiting, attempts = pipe.execute()
        if failed is not None:
            return "failed", bytes(failed).decode()
        if waiting is not None:
            return "waiting", str(int(attempts or 0))
        return None


class RedisNamespaces:
    """The namespaces a worker's dashboard may show: its own, and every replay's."""

    def __init__(self, client: redis.Redis, live: str) -> None:
        self._r = client
        self._live = live

    @property
    def live(self) -> str:
        """The deployment's own namespace."""
        return self._live

    def open(self, namespace: str) -> RedisDashboard | None:
        """A reader on the live namespace or on a replay's (one whose range is stored)."""
        if namespace != self._live and not self._r.exists(Keys(namespace).replay_range()):
            return None
        return RedisDashboard(self._r, namespace, reference_namespace=self._live)


class RedisSessions:
    """Revoked dashboard sessions, as keys with a TTL in the live namespace."""

    def __init__(self, client: redis.Redis, namespace: str) -> None:
        self._r = client
        self.keys = Keys(namespace)

    def revoke(self, nonce: str, expires_ms: int) -> None:
        """Keep ``nonce`` revoked until it would have expired anyway."""
        ttl = max(expires_ms - time.time_ns() // 1_000_000, 1)
        self._r.set(self.keys.session_revoked(nonce), b"1", px=ttl)

    def is_revoked(self, nonce: str) -> bool:
        """``nonce`` was logged out."""
        return bool(self._r.exists(self.keys.session_revoked(nonce)))
