"""Read-only view of one model's state in Redis, for ``driftstream status``.

It reads what the other stores write (ingest partition hashes, rollup windows and
pending sets, evaluations, alert lifecycle state) with pipelined calls and never
writes. Everything is one namespace (``live`` state, or a replay's).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import redis

from stream.adapters.reach import redis_down
from stream.adapters.redis_keys import Keys
from stream.adapters.redis_store import redis_client
from stream.core.lifecycle import AlertState
from stream.core.window import DAY, DAY_MS, HOUR, HOUR_MS
from stream.errors import RedisUnavailableError
from stream.pipeline.ingest import UNKNOWN_MODEL_PREFIX
from stream.pipeline.rollup import complete_through

__all__ = [
    "HOUR_LOOKBACK",
    "ModelState",
    "PartitionState",
    "RedisUnavailableError",
    "read_model_state",
    "read_states",
]

#: How far back from the seal point ``status`` looks for the newest rolled-up window.
HOUR_LOOKBACK = 7 * 24
DAY_LOOKBACK = 35


@dataclass(frozen=True, slots=True)
class PartitionState:
    """Ingest state of one (model, partition), as the last atomic flush left it."""

    partition: int
    offset: int | None
    watermark_ms: int | None
    sealed_through_ms: int | None
    idle: bool
    open_hours: tuple[int, ...]
    late: Mapping[int, int] = field(default_factory=dict)
    undeclared_overflow: int = 0
    rejected: Mapping[str, int] = field(default_factory=dict)
    #: Events naming no configured model, by that name (counted, not dead-lettered).
    unknown_models: Mapping[str, int] = field(default_factory=dict)


def _counts(fields: Mapping[bytes, bytes]) -> tuple[dict[str, int], dict[str, int]]:
    """The partition's stored ``rej:`` counts: (rejections by reason, unknown models)."""
    rejected, unknown = {}, {}
    for name, v in sorted(fields.items()):
        if name.startswith(b"rej:"):
            key = name[4:].decode(errors="replace")
            if key.startswith(UNKNOWN_MODEL_PREFIX):
                unknown[key[len(UNKNOWN_MODEL_PREFIX) :]] = int(v)
            else:
                rejected[key] = int(v)
    return rejected, unknown


@dataclass(frozen=True, slots=True)
class ModelState:
    """What Redis holds for one model in one namespace."""

    model: str
    namespace: str
    partitions: tuple[PartitionState, ...]
    complete_through_ms: int | None
    last_hour_ms: int | None
    last_day_ms: int | None
    pending_hours: int
    pending_days: int
    last_evaluated: Mapping[str, int | None]
    alerts: tuple[AlertState, ...]
    unpublished_alerts: int
    references: tuple[str, ...] = field(default=())

    @property
    def open_alerts(self) -> tuple[AlertState, ...]:
        """Lifecycle states with an open alert, oldest first."""
        return tuple(
            sorted(
                (a for a in self.alerts if a.open is not None),
                key=lambda a: (a.open.first_seen_ms if a.open else 0, a.scale, a.baseline),
            )
        )

    @property
    def last_sealed_hour_ms(self) -> int | None:
        """Start of the newest hour every active partition sealed (None: none yet)."""
        t = self.complete_through_ms
        return None if t is None or t < HOUR_MS else (t - HOUR_MS) - (t - HOUR_MS) % HOUR_MS


def _int(value: bytes | None) -> int | None:
    return int(value) if value else None


def _newest(r: redis.Redis, keys: Sequence[tuple[int, str]]) -> int | None:
    """The first (newest) start whose window key exists."""
    if not keys:
        return None
    with r.pipeline(transaction=False) as p:
        for _, key in keys:
            p.exists(key)
        found = p.execute()
    return next((start for (start, _), ok in zip(keys, found, strict=True) if ok), None)


def _overflow(
    client: redis.Redis,
    k: Keys,
    model: str,
    parts: Sequence[int],
    opens: Sequence[tuple[int, ...]],
) -> list[int]:
    """Undeclared keys counted beyond the cap in each partition's open hours."""
    with client.pipeline(transaction=False) as p:
        for part, hours in zip(parts, opens, strict=True):
            for h in hours:
                p.hget(k.partition_hour(model, part, h), "undeclared_overflow")
        got: list[Any] = p.execute()
    out, i = [], 0
    for hours in opens:
        out.append(sum(int(v or 0) for v in got[i : i + len(hours)]))
        i += len(hours)
    return out


def read_model_state(client: redis.Redis, namespace: str, model: str) -> ModelState:
    """Read one model's ingest, rollup, evaluation and alert state (pipelined, read-only)."""
    k = Keys(namespace)
    parts = sorted(int(p) for p in cast("set[bytes]", client.smembers(k.model_partitions(model))))
    with client.pipeline(transaction=False) as p:
        for part in parts:
            p.hgetall(k.partition(model, part))
            p.hgetall(k.partition_late(model, part))
        p.zcard(k.model_pending(model, HOUR))
        p.zcard(k.model_pending(model, DAY))
        p.zrevrange(k.evaluations(model, HOUR), 0, 0)
        p.zrevrange(k.evaluations(model, DAY), 0, 0)
        p.hgetall(k.alerts(model))
        p.llen(k.alerts_outbox(model))
        p.smembers(k.references(model))
        rows: list[Any] = p.execute()
    n = 2 * len(parts)
    fields, lates = rows[:n:2], rows[1:n:2]
    heads = [
        [f.get(b"offset"), f.get(b"watermark"), f.get(b"sealed"), f.get(b"idle"), f.get(b"open")]
        for f in fields
    ]
    opens = [tuple(int(h) for h in (row[4] or b"").split(b",") if h) for row in heads]
    overflow = _overflow(client, k, model, parts, opens)
    states = tuple(
        PartitionState(
            partition=part,
            offset=_int(offset),
            watermark_ms=_int(watermark),
            sealed_through_ms=_int(sealed),
            idle=idle == b"1",
            open_hours=open_hours,
            late={int(h): int(c) for h, c in sorted(late.items())},
            undeclared_overflow=over,
            rejected=rejected,
            unknown_models=unknown,
        )
        for part, (offset, watermark, sealed, idle, _), late, open_hours, over, (
            rejected,
            unknown,
        ) in zip(parts, heads, lates, opens, overflow, map(_counts, fields), strict=True)
    )
    pending_h, pending_d, eval_h, eval_d, alerts, outbox, refs = rows[n:]
    through = complete_through({s.partition: (s.sealed_through_ms, s.idle) for s in states})
    # Windows are only created for hours with data, so look back from the newest seal.
    sealed = [s.sealed_through_ms for s in states if s.sealed_through_ms is not None]
    last_hour = last_day = None
    if sealed:
        top = max(sealed)
        h0 = top - top % HOUR_MS - HOUR_MS
        last_hour = _newest(
            client,
            [
                (h0 - i * HOUR_MS, k.model_window(model, HOUR, h0 - i * HOUR_MS))
                for i in range(HOUR_LOOKBACK)
            ],
        )
        d0 = top - top % DAY_MS - DAY_MS
        last_day = _newest(
            client,
            [
                (d0 - i * DAY_MS, k.model_window(model, DAY, d0 - i * DAY_MS))
                for i in range(DAY_LOOKBACK)
            ],
        )
    return ModelState(
        model=model,
        namespace=namespace,
        partitions=states,
        complete_through_ms=through,
        last_hour_ms=last_hour,
        last_day_ms=last_day,
        pending_hours=int(pending_h),
        pending_days=int(pending_d),
        last_evaluated={
            HOUR: int(eval_h[0]) if eval_h else None,
            DAY: int(eval_d[0]) if eval_d else None,
        },
        alerts=tuple(
            AlertState.from_dict(json.loads(v))
            for _, v in sorted(cast("dict[bytes, bytes]", alerts).items())
        ),
        unpublished_alerts=int(outbox),
        references=tuple(sorted(r.decode() for r in refs)),
    )


def read_states(cfg: Any, namespace: str, models: Sequence[str]) -> list[ModelState]:
    """:func:`read_model_state` of each model with a client from the ``redis`` settings.

    Raises:
        RedisUnavailableError: one line naming the (masked) URL and the error.
    """
    client = redis_client(cfg)
    try:
        return [read_model_state(client, namespace, m) for m in models]
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise RedisUnavailableError(str(redis_down(cfg, exc))) from None  # as every command says it
    except redis.RedisError as exc:
        msg = f"redis: cannot read state at {cfg.url}: {exc}"
        raise RedisUnavailableError(msg) from None
    finally:
        client.close()
