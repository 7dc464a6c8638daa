"""A replay's Redis shortcuts (issue 12, replay rate): queued evaluation commits, the
in-memory windows and the partition-hours read ahead give the same state and reads as
the plain stores, on a real Redis."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from stream.adapters.redis_eval import RedisEvaluationStore
from stream.adapters.redis_keys import Keys
from stream.adapters.redis_store import RedisSketchStore
from stream.adapters.redis_windows import READ_AHEAD_HOURS, RedisWindowStore
from stream.core.cusum import CusumState
from stream.core.lifecycle import AlertState
from stream.core.window import HOUR, HOUR_MS, WindowKey
from stream.pipeline.ports import EvaluationCommit, FlushWrite, HourWrite, StoredWindow

pytestmark = pytest.mark.integration


def _dump(r: redis.Redis, ns: str) -> dict[bytes, Any]:
    out: dict[bytes, Any] = {}
    for key in r.scan_iter(match=Keys(ns).pattern(), count=1000):
        kind = r.type(key)
        if kind == b"hash":
            out[key.replace(ns.encode(), b"NS")] = r.hgetall(key)
        elif kind == b"zset":
            out[key.replace(ns.encode(), b"NS")] = r.zrange(key, 0, -1, withscores=True)
        elif kind == b"list":
            out[key.replace(ns.encode(), b"NS")] = r.lrange(key, 0, -1)
    return out


def _commits() -> list[EvaluationCommit]:
    out = []
    for i in range(5):
        key = WindowKey(HOUR, i * HOUR_MS)
        for baseline in ("reference", "previous"):
            state = AlertState(
                "m",
                HOUR,
                baseline,
                last_window_ms=key.start_ms,
                streaks={"x": (i + 1, 0)},
                cusum={"x": CusumState(0.1 * i + 1 / 3, -0.2 * i)},
            )
            alerts = [f'{{"n": {i}, "b": "{baseline}"}}'.encode()] if i % 2 else []
            out.append(EvaluationCommit("m", key, baseline, [], state, alerts))
    return out


def test_queued_commits_write_what_plain_commits_write_and_read_back_first(
    redis_client: redis.Redis, redis_namespace: str
) -> None:
    plain_ns, queued_ns = f"{redis_namespace}a", f"{redis_namespace}b"
    plain = RedisEvaluationStore(redis_client, plain_ns, RedisWindowStore(redis_client, plain_ns))
    queued = RedisEvaluationStore(
        redis_client, queued_ns, RedisWindowStore(redis_client, queued_ns), deferred=True
    )
    for c in _commits():
        plain.commit(c)
        queued.commit(c)
        # Nothing written yet, but the lifecycle reads the queued state back, as Redis
        # would give it.
        got = queued.alert_states("m", HOUR, ("reference", "previous", "seasonal"))
        want = plain.alert_states("m", HOUR, ("reference", "previous", "seasonal"))
        assert got == want
    assert not _dump(redis_client, queued_ns)
    assert queued.flush() == 10
    assert queued.flush() == 0
    assert _dump(redis_client, queued_ns) == _dump(redis_client, plain_ns)
    # Reads that need Redis write the queue first.
    plain.commit(_commits()[7])
    queued.commit(_commits()[7])
    assert queued.outbox("m") == plain.outbox("m")
    assert len(plain.outbox("m")) == 5
    assert not queued.flush()


def test_memo_windows_are_what_redis_gives_and_memo_needs_windows_that_never_expire(
    redis_client: redis.Redis, redis_namespace: str
) -> None:
    memo = RedisWindowStore(redis_client, redis_namespace, memo=2)
    plain = RedisWindowStore(redis_client, redis_namespace)
    windows = [
        StoredWindow(WindowKey(HOUR, h * HOUR_MS), 10 + h, h, {"z": b"\x01" * h, "a": b"\x02"})
        for h in range(4)
    ]
    assert all(memo.create_window("m", w) for w in windows)
    assert not memo.create_window("m", windows[0])  # create-only, as before
    for w in windows:  # two kept in memory, two read from Redis
        got = memo.window("m", w.key)
        assert got == plain.window("m", w.key)
        assert got is not None and list(got.sketches) == list(plain_sketches(plain, w.key))
    assert memo.window("m", WindowKey(HOUR, 99 * HOUR_MS)) is None
    memo.mark_all_evaluated("m", [w.key for w in windows[:3]])
    assert plain.unevaluated("m") == [windows[3].key]
    with pytest.raises(ValueError, match="never expire"):
        RedisWindowStore(redis_client, redis_namespace, retention_ms=1000, memo=4)


def plain_sketches(store: RedisWindowStore, key: WindowKey) -> dict[str, bytes]:
    w = store.window("m", key)
    assert w is not None
    return dict(w.sketches)


def test_memo_reads_partition_hours_ahead_as_redis_holds_them(
    redis_client: redis.Redis, redis_namespace: str
) -> None:
    """A replay's rollup reads partition-hours and late counts a day at a time: the same."""
    sketches = RedisSketchStore(redis_client, redis_namespace)
    hours = range(0, 30 * HOUR_MS, HOUR_MS)  # past one read-ahead (READ_AHEAD_HOURS)
    for p in range(3):
        token, _ = sketches.claim("m", p)
        written = tuple(
            HourWrite(h, 10 * p + i % 4, {"x": f"{p}/{i}".encode()}, sealed=True, undeclared={})
            for i, h in enumerate(hours)
            if (i + p) % 5  # some partition-hours hold nothing
        )
        late = {h: p + i % 3 for i, h in enumerate(hours) if i % 2}
        sketches.flush(
            [FlushWrite("m", p, token, 10, 0, hours[-1] + HOUR_MS, (), True, written, late, ())]
        )
    memo = RedisWindowStore(redis_client, redis_namespace, memo=8)
    plain = RedisWindowStore(redis_client, redis_namespace)
    assert memo.progress("m") == plain.progress("m")
    assert READ_AHEAD_HOURS < len(hours)
    for h in hours:
        got = sorted((n, dict(s)) for n, s in memo.partition_hours("m", h))
        assert got == sorted((n, dict(s)) for n, s in plain.partition_hours("m", h))
        assert memo.late_count("m", h) == plain.late_count("m", h)
    assert any(plain.late_count("m", h) for h in hours)
    # A new pass reads afresh: what was stored since is seen.
    token, _ = sketches.claim("m", 0)
    more = (HourWrite(hours[0], 99, {"x": b"new"}, sealed=True, undeclared={}),)
    sketches.flush([FlushWrite("m", 0, token, 20, 0, None, (), True, more, {hours[0]: 7}, ())])
    memo.progress("m")
    assert (99, {"x": b"new"}) in [(n, dict(s)) for n, s in memo.partition_hours("m", hours[0])]
    assert memo.late_count("m", hours[0]) == plain.late_count("m", hours[0])
