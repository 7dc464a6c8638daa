"""What a replay namespace replays: its topic, time range and per-partition end offsets.

Written by ``replay`` when it plans its range; read by ``status --namespace`` so a
replay's progress is measured against the range it replays, not the live group's lag.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast

import redis

from stream.adapters.redis_keys import Keys

__all__ = ["ReplayRange", "load_replay_range", "save_replay_range"]


@dataclass(frozen=True, slots=True)
class ReplayRange:
    """A replay's source: ``topic`` records ``[from_ms, to_ms)``: offsets starts → ends."""

    topic: str
    from_ms: int | None
    to_ms: int | None
    starts: Mapping[int, int]
    ends: Mapping[int, int]


def save_replay_range(
    client: redis.Redis,
    namespace: str,
    topic: str,
    from_ms: int | None,
    to_ms: int | None,
    offsets: Mapping[int, tuple[int, int]],
) -> None:
    """Record (or extend, one part at a time) the range of a replay namespace."""
    fields: dict[str, str] = {
        "topic": topic,
        "from_ms": "" if from_ms is None else str(from_ms),
        "to_ms": "" if to_ms is None else str(to_ms),
    }
    for p, (start, end) in offsets.items():
        fields[f"start:{p}"], fields[f"end:{p}"] = str(start), str(end)
    client.hset(Keys(namespace).replay_range(), mapping=fields)  # type: ignore[arg-type]


def load_replay_range(client: redis.Redis, namespace: str) -> ReplayRange | None:
    """The recorded range, or None when ``namespace`` is not a replay's."""
    got = cast("dict[bytes, bytes]", client.hgetall(Keys(namespace).replay_range()))
    raw = {k.decode(): v.decode() for k, v in got.items()}
    if not raw.get("topic"):
        return None
    ends = {int(k[4:]): int(v) for k, v in raw.items() if k.startswith("end:")}
    starts = {int(k[6:]): int(v) for k, v in raw.items() if k.startswith("start:")}
    return ReplayRange(
        topic=raw["topic"],
        from_ms=int(raw["from_ms"]) if raw.get("from_ms") else None,
        to_ms=int(raw["to_ms"]) if raw.get("to_ms") else None,
        starts=dict(sorted(starts.items())),
        ends=dict(sorted(ends.items())),
    )
