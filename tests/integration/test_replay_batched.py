"""A replay's Redis shortcuts (issue 12, replay rate): queued evaluation commits and
the in-memory windows give Redis the same state as the plain stores, on a real Redis."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from stream.adapters.redis_eval import RedisEvaluationStore
from stream.adapters.redis_keys import Keys
from stream.adapters.redis_windows import RedisWindowStore
from stream.core.cusum import CusumState
from stream.core.lifecycle import AlertState
from stream.core.window import HOUR, HOUR_MS, WindowKey
from stream.pipeline.ports import EvaluationCommit, StoredWindow

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
