"""Redis implementation of the ``LabelStore`` port (stream.pipeline.labels).

Keys share the partition's hash tag ``{ns|model|p}`` (one Cluster slot):

- ``…:lpart`` HASH: token, next offset, newest record time, open hours, counters (``c:…``);
- ``…:lh:<hour>`` HASH: ``a:<day>`` → BinaryPerformance bytes (MulticlassPerformance
  bytes for a multiclass model, RegressionPerformance bytes for a regression one) of
  the prediction-hour's labels that arrived on that UTC day (``perf``: written before
  arrival days, read as arrived on day 0);
- ``…:ls:<hour>`` SET: 64-bit id hashes of the labels applied to that hour (duplicates),
  expiring ``seen_ttl_ms`` after its last write.

One flush of a (model, partition) is ONE Lua call, fenced by the claim token.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import redis

from stream.adapters.redis_keys import Keys
from stream.adapters.redis_store import FencedFlush
from stream.core import multiclass, regression
from stream.core.performance import BinaryPerformance, merge_all
from stream.core.window import HOUR_MS
from stream.pipeline.ports.labels import LabelSnapshot, LabelWrite

_LEGACY = b"perf"


def _arrived(name: bytes) -> int:
    """The arrival day of an hour-hash field (``a:<day>``; ``perf`` → 0)."""
    return 0 if name == _LEGACY else int(name[2:])


def _cells(text: bytes) -> list[tuple[int, int]]:
    out = []
    for tok in text.split(b","):
        if tok:
            h, _, d = tok.partition(b"/")
            out.append((int(h), int(d or 0)))
    return out


__all__ = ["RedisLabelStore"]

# KEYS: lpart, then (hour state, hour seen-set) per hour.  ARGV: token, offset, newest,
# open, ttl, n counters, (name, value)..., n cells, per cell: field, state, n ids, ids...
_IDLE_LUA = """
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'idle', ARGV[2])
return 1
"""

_FLUSH_LUA = """
local part = KEYS[1]
if redis.call('HGET', part, 'token') ~= ARGV[1] then return 0 end
redis.call('HSET', part, 'offset', ARGV[2], 'newest', ARGV[3], 'open', ARGV[4])
local ttl = tonumber(ARGV[5])
local i = 6
local nc = tonumber(ARGV[i]); i = i + 1
for _ = 1, nc do
  redis.call('HSET', part, 'c:' .. ARGV[i], ARGV[i + 1]); i = i + 2
end
local nh = tonumber(ARGV[i]); i = i + 1
for h = 1, nh do
  redis.call('HSET', KEYS[2 * h], ARGV[i], ARGV[i + 1])
  local nids = tonumber(ARGV[i + 2]); i = i + 3
  local set = KEYS[2 * h + 1]
  for j = 0, nids - 1, 5000 do
    local last = math.min(j + 5000, nids) - 1
    redis.call('SADD', set, unpack(ARGV, i + j, i + last))
  end
  i = i + nids
  if nids > 0 and ttl > 0 then redis.call('PEXPIRE', set, ttl) end
end
return 1
"""


def _int_or_none(value: bytes | None) -> int | None:
    return int(value) if value else None


class RedisLabelStore:
    """Label state per (model, partition) in Redis, fenced by a token per claim."""

    def __init__(self, client: redis.Redis, namespace: str) -> None:
        self._r = client
        self.keys = Keys(namespace)
        self._flush = FencedFlush[LabelWrite](client, _FLUSH_LUA, " (labels)")
        self._idle = client.register_script(_IDLE_LUA)

    def _base(self, model: str, partition: int) -> str:
        return self.keys.partition(model, partition)[: -len(":part")]

    def part_key(self, model: str, partition: int) -> str:
        """The partition's label hash (offset, counters)."""
        return f"{self._base(model, partition)}:lpart"

    def hour_key(self, model: str, partition: int, hour_ms: int) -> str:
        """One prediction-hour's performance state."""
        return f"{self._base(model, partition)}:lh:{hour_ms}"

    def seen_key(self, model: str, partition: int, hour_ms: int) -> str:
        """One prediction-hour's applied label ids."""
        return f"{self._base(model, partition)}:ls:{hour_ms}"

    def claim(self, model: str, partition: int) -> tuple[str, LabelSnapshot]:
        """Take ownership with a fresh token, then load the last flushed state."""
        token = uuid.uuid4().hex
        part = self.part_key(model, partition)
        self._r.sadd(self.keys.model_partitions(model), partition)
        with self._r.pipeline(transaction=True) as tx:
            tx.hset(part, "token", token)
            tx.hgetall(part)
            _, fields = tx.execute()
        open_cells = _cells(fields.get(b"open") or b"")
        hours: dict[tuple[int, int], bytes] = {}
        if open_cells:
            with self._r.pipeline(transaction=False) as p:
                for h, d in open_cells:
                    p.hmget(self.hour_key(model, partition, h), f"a:{d}", _LEGACY)
                blobs = p.execute()
            for cell, (new, old) in zip(open_cells, blobs, strict=True):
                blob = new or (old if cell[1] == 0 else None)
                if blob:
                    hours[cell] = blob
        return token, LabelSnapshot(
            next_offset=_int_or_none(fields.get(b"offset")),
            newest_record_ms=_int_or_none(fields.get(b"newest")),
            hours=hours,
            counters={k[2:].decode(): int(v) for k, v in fields.items() if k.startswith(b"c:")},
        )

    def seen(
        self, model: str, partition: int, ids: Mapping[int, npt.NDArray[np.int64]]
    ) -> dict[int, npt.NDArray[np.int64]]:
        """Hour → the ``ids`` already stored for it (one pipelined round trip)."""
        if not ids:
            return {}
        hours = sorted(ids)
        with self._r.pipeline(transaction=False) as p:
            for h in hours:
                p.smismember(self.seen_key(model, partition, h), ids[h].tolist())
            answers = p.execute()
        return {
            h: ids[h][np.asarray(a, dtype=np.bool_)]
            for h, a in zip(hours, answers, strict=True)
            if any(a)
        }

    def window(
        self, model: str, start_ms: int, end_ms: int, arrived_before_ms: int | None = None
    ) -> BinaryPerformance:
        """Labels of predictions in [start_ms, end_ms), merged over partitions and hours.

        ``arrived_before_ms`` (a UTC day boundary, or None for all): only the labels
        whose record arrived before it. Merged when read (exact: integer counts), not
        stored: late labels keep changing an hour's state, and a day is 24 ×
        partitions small reads (3.2 KB per arrival day) in one round trip.
        """
        return merge_all(
            BinaryPerformance.from_bytes(b)
            for b in self._cells(model, start_ms, end_ms, arrived_before_ms)
        )

    def multiclass_window(
        self,
        model: str,
        start_ms: int,
        end_ms: int,
        classes: int,
        arrived_before_ms: int | None = None,
    ) -> multiclass.MulticlassPerformance:
        """As :meth:`window`, for a multiclass model of ``classes`` classes."""
        blobs = self._cells(model, start_ms, end_ms, arrived_before_ms)
        return multiclass.merge_bytes(blobs, classes)

    def regression_window(
        self, model: str, start_ms: int, end_ms: int, arrived_before_ms: int | None = None
    ) -> regression.RegressionPerformance:
        """As :meth:`window`, for a regression model (exact error and target moments)."""
        return regression.merge_bytes(self._cells(model, start_ms, end_ms, arrived_before_ms))

    def _cells(
        self, model: str, start_ms: int, end_ms: int, arrived_before_ms: int | None
    ) -> list[bytes]:
        """The stored cell states of the window's hours (arrived before the bound)."""
        parts = sorted(int(p) for p in self._r.smembers(self.keys.model_partitions(model)))
        hours = range(start_ms - start_ms % HOUR_MS, end_ms, HOUR_MS)
        with self._r.pipeline(transaction=False) as p:
            for part in parts:
                for h in hours:
                    p.hgetall(self.hour_key(model, part, h))
            blobs = p.execute()
        return [
            b
            for fields in blobs
            for name, b in sorted(fields.items())
            if arrived_before_ms is None or _arrived(name) < arrived_before_ms
        ]

    def mark_idle(self, model: str, partition: int, token: str, now_ms: int) -> bool:
        """Record the partition idle at its end at ``now_ms`` (field ``idle``), if owned."""
        return bool(self._idle(keys=[self.part_key(model, partition)], args=[token, now_ms]))

    def progress(self, model: str) -> dict[int, tuple[int | None, int | None]]:
        """Claimed label partition → (newest flushed record time, idle-at-end time)."""
        parts = sorted(int(p) for p in self._r.smembers(self.keys.model_partitions(model)))
        with self._r.pipeline(transaction=False) as p:
            for part in parts:
                p.hmget(self.part_key(model, part), "token", "newest", "idle")
            rows = p.execute()
        return {
            part: (_int_or_none(newest), _int_or_none(idle))
            for part, (token, newest, idle) in zip(parts, rows, strict=True)
            if token is not None
        }

    def through(self, model: str) -> int | None:
        """The oldest newest-record time over the model's label partitions (None: none yet)."""
        parts = sorted(int(p) for p in self._r.smembers(self.keys.model_partitions(model)))
        with self._r.pipeline(transaction=False) as p:
            for part in parts:
                p.hget(self.part_key(model, part), "newest")
            got = [_int_or_none(v) for v in p.execute()]
        seen = [t for t in got if t is not None]
        return min(seen) if seen else None

    def counters(self, model: str) -> tuple[dict[str, int], int | None]:
        """The model's label counters summed over partitions, and the newest record time."""
        parts = sorted(int(p) for p in self._r.smembers(self.keys.model_partitions(model)))
        with self._r.pipeline(transaction=False) as p:
            for part in parts:
                p.hgetall(self.part_key(model, part))
            rows = p.execute()
        total: dict[str, int] = {}
        newest: int | None = None
        for fields in rows:
            for k, v in fields.items():
                if k.startswith(b"c:"):
                    name = k[2:].decode()
                    total[name] = total.get(name, 0) + int(v)
            t = _int_or_none(fields.get(b"newest"))
            if t is not None and (newest is None or t > newest):
                newest = t
        return dict(sorted(total.items())), newest

    def flush(self, writes: Sequence[LabelWrite]) -> None:
        """Write every (model, partition) atomically, pipelined into one round trip."""
        self._flush.run(writes, self._args)

    def _args(self, w: LabelWrite) -> tuple[list[str], list[Any]]:
        keys = [self.part_key(w.model, w.partition)]
        args: list[Any] = [
            w.token,
            "" if w.next_offset is None else w.next_offset,
            "" if w.newest_record_ms is None else w.newest_record_ms,
            ",".join(f"{h}/{d}" for h, d in w.open_hours),
            w.seen_ttl_ms,
            len(w.counters),
        ]
        for name, n in sorted(w.counters.items()):
            args += [name, n]
        args.append(len(w.hours))
        for hw in w.hours:
            keys += [
                self.hour_key(w.model, w.partition, hw.hour_ms),
                self.seen_key(w.model, w.partition, hw.hour_ms),
            ]
            args += [f"a:{hw.arrived_day_ms}", hw.state, len(hw.new_ids), *hw.new_ids]
        return keys, args
