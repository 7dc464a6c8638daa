"""Redis implementation of the rollup ``WindowStore`` port (model-level windows)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any, cast

import redis

from stream.adapters.redis_keys import Keys
from stream.adapters.redis_store import FEATURE_PREFIX
from stream.core.window import DAY, DAY_MS, HOUR, HOUR_MS, WindowKey
from stream.pipeline.ports.windows import StoredWindow

__all__ = ["RedisWindowStore"]

# KEYS: window, pending hours, pending days, windows to evaluate.  ARGV: scale, start,
# day start, retention ms, events, late, then field/value pairs. Create-only: returns 0
# if the window exists.
#: How long a model's unfinished-attempt counts outlive their last write (30 days).
ATTEMPTS_TTL_MS = 30 * DAY_MS

_CREATE_LUA = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'events', ARGV[5], 'late', ARGV[6])
for i = 7, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
local retention = tonumber(ARGV[4])
if retention > 0 then redis.call('PEXPIRE', KEYS[1], retention) end
if ARGV[1] == 'hour' then
  redis.call('ZREM', KEYS[2], ARGV[2])
  redis.call('ZADD', KEYS[3], ARGV[3], ARGV[3])
else
  redis.call('ZREM', KEYS[3], ARGV[2])
end
redis.call('ZADD', KEYS[4], ARGV[2], ARGV[1] .. ':' .. ARGV[2])
return 1
"""


def _members(result: Any) -> list[bytes]:
    """ZRANGE members (the client's stubs type them loosely)."""
    return list(result)


READ_AHEAD_HOURS = 24
"""Partition-hours a replay's rollup reads in one round trip."""
_Part = tuple[int, Mapping[str, bytes]]


def _parts_of(blobs: Sequence[Mapping[bytes, bytes]]) -> list[_Part]:
    """(events, sketches) of each partition-hour hash that holds data."""
    out: list[_Part] = []
    for blob in blobs:
        if not blob:
            continue
        sketches = {
            k[len(FEATURE_PREFIX) :].decode(): v
            for k, v in blob.items()
            if k.startswith(FEATURE_PREFIX)
        }
        out.append((int(blob.get(b"events", 0)), sketches))
    return out


class RedisWindowStore:
    """Model windows under ``{namespace|model}``; reads partition state written by ingest."""

    def __init__(
        self, client: redis.Redis, namespace: str, *, retention_ms: int = 0, memo: int = 0
    ) -> None:
        self._r = client
        self.keys = Keys(namespace)
        self._retention_ms = retention_ms
        self._create = client.register_script(_CREATE_LUA)
        if memo and retention_ms:
            msg = "window memo needs windows that never expire (retention_ms 0: a replay)"
            raise ValueError(msg)
        self._memo_size = memo
        self._parts: dict[str, list[int]] = {}
        self._memo: OrderedDict[tuple[str, WindowKey], StoredWindow] = OrderedDict()
        """Windows read or created here (``memo`` most recent): a replay's, which never
        expire and are create-only, so a stored window is always what Redis holds."""
        self._ahead: dict[tuple[str, int], tuple[list[_Part], int]] = {}
        """With ``memo``: partition-hours and late counts read ahead, until taken or the
        next :meth:`progress` (a replay rolls up after its ingest: they no longer change)."""

    def _read_partitions(self, model: str) -> list[int]:
        parts = sorted(int(p) for p in self._r.smembers(self.keys.model_partitions(model)))
        self._parts[model] = parts
        return parts

    def _partitions(self, model: str) -> list[int]:
        """The model's partitions (with ``memo``, as :meth:`progress` last read them).

        A replay's ingest is over when it rolls up: its partitions are read once a pass.
        """
        kept = self._parts.get(model) if self._memo_size else None
        return kept if kept is not None else self._read_partitions(model)

    def progress(self, model: str) -> dict[int, tuple[int | None, bool]]:
        """(seal point, idle?) of every partition with ingest state for ``model``."""
        self._ahead.clear()  # a new pass reads partition-hours afresh
        parts = self._read_partitions(model)
        with self._r.pipeline(transaction=False) as p:
            for part in parts:
                p.hmget(self.keys.partition(model, part), "sealed", "idle")
            rows = p.execute()
        return {
            part: (int(sealed) if sealed else None, idle == b"1")
            for part, (sealed, idle) in zip(parts, rows, strict=True)
        }

    def add_pending(self, model: str, hours: Sequence[int]) -> None:
        """Mark hours as waiting for rollup (unless already rolled up)."""
        if not hours:
            return
        key = self.keys.model_pending(model, "hour")
        with self._r.pipeline(transaction=False) as p:
            for h in hours:
                p.exists(self.keys.model_window(model, HOUR, h))
            done = p.execute()
        todo = {str(h): h for h, d in zip(hours, done, strict=True) if not d}
        if todo:
            self._r.zadd(key, todo)

    def pending_hours(self, model: str) -> list[int]:
        """Hours waiting for rollup, ascending."""
        return [
            int(h) for h in _members(self._r.zrange(self.keys.model_pending(model, "hour"), 0, -1))
        ]

    def pending_days(self, model: str) -> list[int]:
        """Days with hour windows and no day window yet, ascending."""
        return [
            int(d) for d in _members(self._r.zrange(self.keys.model_pending(model, "day"), 0, -1))
        ]

    def partition_hours(self, model: str, hour_ms: int) -> list[_Part]:
        """(events, sketches) of every partition with data in ``hour_ms``.

        With ``memo`` (a replay, after its ingest), the next ``READ_AHEAD_HOURS`` hours'
        partition-hours and late counts are read in the same round trip.
        """
        if self._memo_size:
            if (model, hour_ms) not in self._ahead:
                self._read_ahead(model, hour_ms)
            return self._ahead[(model, hour_ms)][0]
        parts = self._partitions(model)
        with self._r.pipeline(transaction=False) as p:
            for part in parts:
                p.hgetall(self.keys.partition_hour(model, part, hour_ms))
            blobs = p.execute()
        return _parts_of(blobs)

    def _read_ahead(self, model: str, hour_ms: int) -> None:
        parts = self._partitions(model)
        hours = range(hour_ms, hour_ms + READ_AHEAD_HOURS * HOUR_MS, HOUR_MS)
        with self._r.pipeline(transaction=False) as p:
            for h in hours:
                for part in parts:
                    p.hgetall(self.keys.partition_hour(model, part, h))
                for part in parts:
                    p.hget(self.keys.partition_late(model, part), str(h))
            rows = p.execute()
        n = len(parts)
        for i, h in enumerate(hours):
            row = rows[2 * n * i : 2 * n * (i + 1)]
            self._ahead[(model, h)] = (_parts_of(row[:n]), sum(int(v) for v in row[n:] if v))

    def late_count(self, model: str, hour_ms: int) -> int:
        """Late events of ``hour_ms`` across partitions."""
        ahead = self._ahead.pop((model, hour_ms), None)
        if ahead is not None:  # read with its partition-hours (taken with them)
            return ahead[1]
        parts = self._partitions(model)
        with self._r.pipeline(transaction=False) as p:
            for part in parts:
                p.hget(self.keys.partition_late(model, part), str(hour_ms))
            values = p.execute()
        return sum(int(v) for v in values if v)

    def data_hours(self, model: str, start_ms: int, end_ms: int) -> list[int]:
        """Hours in [start_ms, end_ms) in which some partition stored events (ascending)."""
        parts = self._partitions(model)
        hours = range(start_ms - start_ms % HOUR_MS, end_ms, HOUR_MS)
        with self._r.pipeline(transaction=False) as p:
            for h in hours:
                for part in parts:
                    p.hget(self.keys.partition_hour(model, part, h), "events")
            values = p.execute()
        n = len(parts)
        return [
            h
            for i, h in enumerate(hours)
            if any(int(v or 0) > 0 for v in values[i * n : (i + 1) * n])
        ]

    def window(self, model: str, key: WindowKey) -> StoredWindow | None:
        """A stored model window, if any."""
        if self._memo_size:
            hit = self._memo.get((model, key))
            if hit is not None:
                self._memo.move_to_end((model, key))
                return hit
        blob = cast(
            "dict[bytes, bytes]",
            self._r.hgetall(self.keys.model_window(model, key.scale, key.start_ms)),
        )
        if not blob:
            return None
        window = StoredWindow(
            key=key,
            events=int(blob.get(b"events", 0)),
            late=int(blob.get(b"late", 0)),
            sketches={
                k[len(FEATURE_PREFIX) :].decode(): v
                for k, v in blob.items()
                if k.startswith(FEATURE_PREFIX)
            },
        )
        self._keep(model, window)
        return window

    def _keep(self, model: str, window: StoredWindow) -> None:
        if self._memo_size:
            self._memo[(model, window.key)] = window
            if len(self._memo) > self._memo_size:
                self._memo.popitem(last=False)

    def create_window(self, model: str, window: StoredWindow) -> bool:
        """Create-only write of a window, and its pending bookkeeping, in one Lua call."""
        k = window.key
        args: list[bytes | str | int] = [
            k.scale,
            k.start_ms,
            k.start_ms - k.start_ms % DAY_MS,
            self._retention_ms,
            window.events,
            window.late,
        ]
        for name, blob in sorted(window.sketches.items()):
            args += [FEATURE_PREFIX + name.encode(), blob]
        keys = [
            self.keys.model_window(model, k.scale, k.start_ms),
            self.keys.model_pending(model, "hour"),
            self.keys.model_pending(model, "day"),
            self.keys.model_pending(model, "eval"),
        ]
        created = bool(self._create(keys=keys, args=args))
        if created:  # kept as a read gives it back (fields in the order they were written)
            sketches = dict(sorted(window.sketches.items()))
            self._keep(model, StoredWindow(k, window.events, window.late, sketches))
        return created

    def unevaluated(self, model: str) -> list[WindowKey]:
        """Windows created and not yet marked handed on: hours, then days, ascending."""
        members = _members(self._r.zrange(self.keys.model_pending(model, "eval"), 0, -1))
        keys = []
        for member in members:
            scale, start = member.decode().split(":")
            keys.append(WindowKey(HOUR if scale == HOUR else DAY, int(start)))
        return sorted(keys, key=lambda k: (k.scale != HOUR, k.start_ms))

    def start_attempt(self, model: str, key: WindowKey) -> int:
        """Attempts at ``key`` not finished, this one included (HASH ``…:pending:eval-attempts``).

        The hash lives as long as windows wait: each count is removed when its window is
        evaluated or marked failed, and the hash expires ``ATTEMPTS_TTL_MS`` after its last
        write (a model that stopped sending leaves nothing behind).
        """
        name = self.keys.model_pending(model, "eval-attempts")
        pipe = self._r.pipeline(transaction=True)
        pipe.hincrby(name, f"{key.scale}:{key.start_ms}", 1)
        pipe.pexpire(name, ATTEMPTS_TTL_MS)
        n, _ = pipe.execute()
        return int(n)

    def mark_evaluated(self, model: str, key: WindowKey) -> None:
        """``key`` was handed on (evaluated): it leaves :meth:`unevaluated`."""
        self.mark_all_evaluated(model, [key])

    def mark_all_evaluated(self, model: str, keys: Sequence[WindowKey]) -> None:
        """:meth:`mark_evaluated` of many windows in one round trip."""
        if keys:
            members = [f"{k.scale}:{k.start_ms}" for k in keys]
            pipe = self._r.pipeline(transaction=True)
            pipe.zrem(self.keys.model_pending(model, "eval"), *members)
            pipe.hdel(self.keys.model_pending(model, "eval-attempts"), *members)
            pipe.execute()

    def mark_failed(self, model: str, key: WindowKey, reason: str) -> None:
        """Recorded (HASH ``…:pending:eval-failed``, member → reason); leaves the eval list."""
        member = f"{key.scale}:{key.start_ms}"
        pipe = self._r.pipeline(transaction=True)
        pipe.hset(self.keys.model_pending(model, "eval-failed"), member, reason[:500])
        pipe.zrem(self.keys.model_pending(model, "eval"), member)
        pipe.hdel(self.keys.model_pending(model, "eval-attempts"), member)
        pipe.execute()

    def failed_windows(self, model: str) -> dict[WindowKey, str]:
        """Windows given up on → the last error."""
        raw: Any = self._r.hgetall(self.keys.model_pending(model, "eval-failed"))
        out = {}
        for member, reason in raw.items():
            scale, start = member.decode().split(":")
            out[WindowKey(HOUR if scale == HOUR else DAY, int(start))] = reason.decode()
        return out
