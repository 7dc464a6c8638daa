"""The dashboard's Redis read port on the suite's real Redis: namespaces, references, sessions."""

from __future__ import annotations

import json

import pytest
import redis

from stream.adapters.redis_dashboard import RedisDashboard, RedisNamespaces, RedisSessions
from stream.adapters.redis_eval import reference_name
from stream.adapters.redis_keys import Keys
from stream.adapters.redis_replay import save_replay_range
from stream.catalog import ModelSpec
from stream.core.window import WindowKey

pytestmark = pytest.mark.integration

SPEC = ModelSpec.model_validate({"name": "m", "features": {"x": "numeric"}})
H = 1_767_225_600_000


def test_only_the_live_namespace_and_replays_open(
    redis_client: redis.Redis, redis_namespace: str
) -> None:
    live, replay = redis_namespace, f"replay-{redis_namespace}"
    source = RedisNamespaces(redis_client, live)
    assert source.live == live
    opened = source.open(live)
    assert opened is not None and opened.namespace == live  # no look-up needed
    assert source.open(replay) is None  # nothing written yet: not a namespace
    save_replay_range(redis_client, replay, "features", None, None, {0: (0, 10)})
    reader = source.open(replay)
    assert reader is not None and reader.namespace == replay


def test_a_replay_reads_its_windows_and_the_live_reference(
    redis_client: redis.Redis, redis_namespace: str
) -> None:
    live, replay = redis_namespace, f"replay-{redis_namespace}"
    ref = Keys(live).reference("m", reference_name(SPEC))
    redis_client.hset(ref, mapping={"f:x": b"live-sketch", "meta": json.dumps({"events": 5})})
    w = WindowKey("hour", H)
    redis_client.hset(Keys(replay).model_window("m", "hour", H), mapping={"f:x": b"replayed"})
    redis_client.zadd(Keys(replay).evaluations("m", "hour"), {str(H): H})
    reader = RedisDashboard(redis_client, replay, reference_namespace=live)
    assert reader.evaluated("m", "hour") == [H]
    assert reader.window_sketch("m", w, "x") == b"replayed"
    assert reader.reference_sketch(SPEC, "x") == b"live-sketch"  # a replay has none of its own
    assert reader.reference_meta(SPEC) == {"events": 5}
    assert RedisDashboard(redis_client, live).window_sketch("m", w, "x") is None
    # A namespace with its own reference (a report of a copied state) reads that one.
    redis_client.hset(Keys(replay).reference("m", reference_name(SPEC)), "f:x", b"own")
    assert reader.reference_sketch(SPEC, "x") == b"own"


def test_revoked_sessions_expire(redis_client: redis.Redis, redis_namespace: str) -> None:
    sessions = RedisSessions(redis_client, redis_namespace)
    assert not sessions.is_revoked("n1")
    sessions.revoke("n1", expires_ms=0)  # already expired: kept 1 ms, then gone
    sessions.revoke("n2", expires_ms=2**42)
    assert sessions.is_revoked("n2")
    assert redis_client.pttl(Keys(redis_namespace).session_revoked("n2")) > 0
