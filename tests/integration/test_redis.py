"""The local Redis does what the atomic flush needs: MULTI/EXEC, Lua by SHA, AOF, restarts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from stream.adapters.redis_keys import Keys
from stream.localstack import LocalStack
from stream.localstack._proc import free_ports

pytestmark = pytest.mark.integration

# Same shape as the flush: write a sketch field and the next offset together, but
# only if the stored offset is the one the writer read (a fencing check).
FLUSH_LUA = """
local current = redis.call('HGET', KEYS[1], 'next_offset')
if current and tonumber(current) ~= tonumber(ARGV[1]) then
  return redis.error_reply('FENCED ' .. current)
end
redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])
redis.call('HSET', KEYS[1], 'next_offset', ARGV[2])
return tonumber(ARGV[2])
"""


def test_multi_exec_pipeline_round_trip(redis_client: redis.Redis, redis_namespace: str) -> None:
    part, hour = (
        Keys(redis_namespace).partition("m", 0),
        Keys(redis_namespace).partition_hour("m", 0, 0),
    )
    with redis_client.pipeline(transaction=True) as pipe:
        pipe.hset(hour, mapping={"amount": b"\x01\x02\xff", "events": 3})
        pipe.hset(part, "next_offset", 42)
        pipe.hincrby(hour, "events", 2)
        assert pipe.execute() == [2, 1, 5]
    assert redis_client.hgetall(hour) == {b"amount": b"\x01\x02\xff", b"events": b"5"}
    assert redis_client.hget(part, "next_offset") == b"42"


def test_lua_script_by_sha_round_trip(redis_client: redis.Redis, redis_namespace: str) -> None:
    part, hour = (
        Keys(redis_namespace).partition("m", 1),
        Keys(redis_namespace).partition_hour("m", 1, 0),
    )
    sha = redis_client.script_load(FLUSH_LUA)
    assert redis_client.script_exists(sha) == [True]
    assert redis_client.evalsha(sha, 2, part, hour, 0, 10, "amount", b"\x00sk") == 10
    assert redis_client.evalsha(sha, 2, part, hour, 10, 25, "amount", b"\x00sk2") == 25
    with pytest.raises(redis.ResponseError, match="FENCED 25"):
        redis_client.evalsha(sha, 2, part, hour, 10, 30, "amount", b"stale")
    assert redis_client.hget(hour, "amount") == b"\x00sk2"


def test_append_only_file_is_on(redis_client: redis.Redis) -> None:
    assert redis_client.config_get("appendonly") == {"appendonly": "yes"}
    assert redis_client.config_get("save") == {"save": ""}


@pytest.fixture
def restartable(stack: LocalStack, tmp_path: Path) -> Iterator[LocalStack]:
    """The session stack, or (when attached to someone else's) a private Redis-only stack."""
    if stack.managed:
        yield stack
        return
    (port,) = free_ports(1)
    own = LocalStack(
        bootstrap=stack.bootstrap,
        redis_url=f"redis://127.0.0.1:{port}/0",
        stack_dir=tmp_path / "redis-only",
        redis_port=port,
    )
    own.start_redis()
    try:
        yield own
    finally:
        own.stop_redis()


def test_restart_redis_keeps_data_and_port(restartable: LocalStack, redis_namespace: str) -> None:
    stack = restartable
    key = f"{redis_namespace}:survives"
    before = redis.Redis.from_url(stack.redis_url)
    try:
        before.set(key, b"v1")
    finally:
        before.close()
    old_pid = stack.redis_pid

    stack.restart_redis()  # SIGTERM: Redis fsyncs the AOF, then reloads it on start
    assert stack.redis_pid not in (None, old_pid)
    stack.restart_redis(kill=True)  # a crash: the server must come back regardless

    after = redis.Redis.from_url(stack.redis_url)
    try:
        assert after.get(key) == b"v1"
        after.delete(key)
    finally:
        after.close()
    report = stack.status()
    assert report.redis_alive and report.redis_answers
    recorded = LocalStack.load(stack.stack_dir)  # stack.json follows the new pid
    assert recorded is not None
    assert (recorded.redis_pid, recorded.redis_port) == (stack.redis_pid, stack.redis_port)


def test_dashboard_late_counts_include_events_after_the_rollup(
    redis_client: redis.Redis, redis_namespace: str
) -> None:
    from stream.adapters.redis_dashboard import RedisDashboard
    from stream.adapters.redis_windows import RedisWindowStore
    from stream.core.window import HOUR_MS, WindowKey
    from stream.pipeline.ports import StoredWindow

    h = 1_767_225_600_000
    keys = Keys(redis_namespace)
    windows = RedisWindowStore(redis_client, redis_namespace)
    windows.add_pending("m", [h])
    assert windows.create_window("m", StoredWindow(WindowKey("hour", h), 10, 2, {}))
    assert windows.create_window("m", StoredWindow(WindowKey("day", h), 10, 2, {}))
    redis_client.sadd(keys.model_partitions("m"), 0, 1)
    # after the rollup: partition 0 counted 3 late events for h, partition 1 counted 4
    redis_client.hset(keys.partition_late("m", 0), str(h), 3)
    redis_client.hset(keys.partition_late("m", 1), mapping={str(h): 4, str(h + HOUR_MS): 1})
    data = RedisDashboard(redis_client, redis_namespace)
    assert data.counts("m", "hour", [h, h + HOUR_MS]) == {h: (10, 7)}
    assert data.counts("m", "day", [h]) == {h: (10, 8)}
