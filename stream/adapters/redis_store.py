"""Redis implementation of the ``SketchStore`` port: claim, and the atomic fenced flush.

Each (model, partition) flush is ONE Lua call, so sketches, the next offset, the
watermark, late counters and outbox notices change together or not at all
(Redis runs a script atomically and AOF logs it as one unit). All its keys share
the hash tag ``{ns|model|partition}``: one slot, so it also runs on Redis Cluster.
Writes of several partitions are pipelined into one round trip.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any, Generic, Protocol, TypeVar

import orjson
import redis
from redis.cluster import RedisCluster

from stream.adapters.redis_client import redis_client
from stream.adapters.redis_keys import Keys
from stream.pipeline.ports.data import (
    FlushWrite,
    HourWrite,
    PartitionSnapshot,
    SealNotice,
    StaleWriterError,
)

__all__ = ["FencedFlush", "RedisSketchStore", "decode_notice", "encode_notice", "redis_client"]

FEATURE_PREFIX = b"f:"
UNDECLARED_PREFIX = b"u:"
UNDECLARED_OVERFLOW = b"undeclared_overflow"

# KEYS: part, outbox, late, hour keys...   ARGV: see _flush_args for the layout.
# Returns 1, or 0 when the token no longer matches (another worker claimed it).
_FLUSH_LUA = """
local part = KEYS[1]
if redis.call('HGET', part, 'token') ~= ARGV[1] then return 0 end
redis.call('HSET', part, 'offset', ARGV[2], 'watermark', ARGV[3], 'sealed', ARGV[4],
           'open', ARGV[5], 'idle', ARGV[7], 'recent', ARGV[8])
local retention = tonumber(ARGV[6])
local i = 9
local nr = tonumber(ARGV[i]); i = i + 1
for _ = 1, nr do
  redis.call('HSET', part, 'rej:' .. ARGV[i], ARGV[i + 1]); i = i + 2
end
local nh = tonumber(ARGV[i]); i = i + 1
for h = 1, nh do
  local key = KEYS[3 + h]
  local sealed = ARGV[i]; local nf = tonumber(ARGV[i + 2])
  redis.call('HSET', key, 'events', ARGV[i + 1])
  i = i + 3
  for _ = 1, nf do
    redis.call('HSET', key, ARGV[i], ARGV[i + 1]); i = i + 2
  end
  -- Sealed partition-hours are kept only until rollups have surely read them.
  if sealed == '1' and retention > 0 then redis.call('PEXPIRE', key, retention) end
end
local nl = tonumber(ARGV[i]); i = i + 1
for _ = 1, nl do
  redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1]); i = i + 2
end
-- The outbox is rewritten whole: notices published since the last flush are gone.
redis.call('DEL', KEYS[2])
local nn = tonumber(ARGV[i]); i = i + 1
for _ = 1, nn do
  redis.call('RPUSH', KEYS[2], ARGV[i]); i = i + 1
end
return 1
"""


def encode_notice(notice: SealNotice) -> bytes:
    """JSON bytes of a seal notice (the outbox and the sealed topic use the same form)."""
    return orjson.dumps(asdict(notice))


def decode_notice(data: bytes) -> SealNotice:
    """Inverse of :func:`encode_notice`."""
    return SealNotice(**orjson.loads(data))


def _int_or_none(value: bytes | None) -> int | None:
    return int(value) if value else None


class _Fenced(Protocol):
    """A write to one (model, partition), fenced by its claim's token."""

    @property
    def model(self) -> str: ...

    @property
    def partition(self) -> int: ...


W = TypeVar("W", bound=_Fenced)


class FencedFlush(Generic[W]):
    """A flush script run once per (model, partition) write, pipelined in one round trip.

    The script answers 1 when it wrote, anything else when the write's token is
    stale (another worker claimed the partition since): those raise
    ``StaleWriterError`` naming them, after the others were written.
    """

    def __init__(self, client: redis.Redis, lua: str, what: str = "") -> None:
        self._r = client
        self._lua = lua
        self._script = client.register_script(lua)
        self._cluster = isinstance(client, RedisCluster)
        self._what = what

    def run(self, writes: Sequence[W], args: Callable[[W], tuple[list[str], list[Any]]]) -> None:
        """Run the script for each write (``args`` gives its keys and arguments)."""
        if not writes:
            return
        if self._cluster:
            # redis-py's cluster pipeline does not load scripts the way the plain one
            # does (NOSCRIPT): load it on every primary first (a no-op when cached).
            self._r.script_load(self._lua)
        with self._r.pipeline(transaction=False) as p:
            for w in writes:
                keys, argv = args(w)
                self._script(keys=keys, args=argv, client=p)
            results = p.execute()
        stale = [w for w, ok in zip(writes, results, strict=True) if ok != 1]
        if stale:
            names = ", ".join(f"{w.model}/{w.partition}{self._what}" for w in stale)
            msg = f"partitions claimed by another worker: {names}"
            raise StaleWriterError(msg)


class RedisSketchStore:
    """Per-partition ingest state in Redis, fenced by a token per claim."""

    def __init__(
        self, client: redis.Redis, namespace: str, *, sealed_retention_ms: int = 0
    ) -> None:
        self._r = client
        self.keys = Keys(namespace)
        self._retention_ms = sealed_retention_ms
        self._flush = FencedFlush[FlushWrite](client, _FLUSH_LUA)

    def claim(self, model: str, partition: int) -> tuple[str, PartitionSnapshot]:
        """Take ownership with a fresh token, then load the last flushed state."""
        k = self.keys
        token = uuid.uuid4().hex
        part = k.partition(model, partition)
        self._r.sadd(k.model_partitions(model), partition)
        with self._r.pipeline(transaction=True) as tx:
            tx.hset(part, "token", token)
            tx.hgetall(part)
            tx.hgetall(k.partition_late(model, partition))
            tx.lrange(k.partition_outbox(model, partition), 0, -1)
            _, fields, late, outbox = tx.execute()
        # After the token changed nobody else writes these keys: a second read is consistent.
        open_hours = [int(h) for h in (fields.get(b"open") or b"").split(b",") if h]
        hours: dict[int, HourWrite] = {}
        if open_hours:
            with self._r.pipeline(transaction=False) as p:
                for h in open_hours:
                    p.hgetall(k.partition_hour(model, partition, h))
                blobs = p.execute()
            for h, blob in zip(open_hours, blobs, strict=True):
                hours[h] = HourWrite(
                    hour_ms=h,
                    events=int(blob.get(b"events", 0)),
                    sketches={
                        name[2:].decode(): value
                        for name, value in blob.items()
                        if name.startswith(FEATURE_PREFIX)
                    },
                    sealed=False,
                    undeclared={
                        name[2:].decode(): int(value)
                        for name, value in blob.items()
                        if name.startswith(UNDECLARED_PREFIX)
                    },
                    undeclared_overflow=int(blob.get(UNDECLARED_OVERFLOW, 0)),
                )
        snapshot = PartitionSnapshot(
            next_offset=_int_or_none(fields.get(b"offset")),
            watermark_ms=_int_or_none(fields.get(b"watermark")),
            sealed_through_ms=_int_or_none(fields.get(b"sealed")),
            idle=fields.get(b"idle") == b"1",
            hours=hours,
            late={int(h): int(n) for h, n in late.items()},
            pending_notices=tuple(decode_notice(n) for n in outbox),
            recent_ms=tuple(int(t) for t in (fields.get(b"recent") or b"").split(b",") if t),
            rejected={
                name[4:].decode(): int(v) for name, v in fields.items() if name.startswith(b"rej:")
            },
        )
        return token, snapshot

    def ping(self) -> None:
        """One round trip: raises when Redis cannot be reached (health checks)."""
        self._r.ping()

    def flush(self, writes: Sequence[FlushWrite]) -> None:
        """Write every (model, partition) atomically, pipelined into one round trip."""
        self._flush.run(writes, self._flush_args)

    def _flush_args(self, w: FlushWrite) -> tuple[list[str], list[Any]]:
        k = self.keys
        keys = [
            k.partition(w.model, w.partition),
            k.partition_outbox(w.model, w.partition),
            k.partition_late(w.model, w.partition),
        ]
        args: list[Any] = [
            w.token,
            "" if w.next_offset is None else w.next_offset,
            "" if w.watermark_ms is None else w.watermark_ms,
            "" if w.sealed_through_ms is None else w.sealed_through_ms,
            ",".join(str(h) for h in w.open_hours),
            self._retention_ms,
            "1" if w.idle else "0",
            ",".join(str(t) for t in w.recent_ms),
            len(w.rejected),
        ]
        for reason, n in sorted(w.rejected.items()):
            args += [reason, n]
        args.append(len(w.hours))
        for hw in w.hours:
            keys.append(k.partition_hour(w.model, w.partition, hw.hour_ms))
            extra = 1 if hw.undeclared_overflow else 0
            nf = len(hw.sketches) + len(hw.undeclared) + extra
            args += ["1" if hw.sealed else "0", hw.events, nf]
            for name, blob in hw.sketches.items():
                args += [FEATURE_PREFIX + name.encode(), blob]
            for name, n in hw.undeclared.items():
                args += [UNDECLARED_PREFIX + name.encode(), n]
            if extra:
                args += [UNDECLARED_OVERFLOW, hw.undeclared_overflow]
        args.append(len(w.late))
        for h, n in sorted(w.late.items()):
            args += [h, n]
        args.append(len(w.notices))
        args += [encode_notice(n) for n in w.notices]
        return keys, args
