"""Stored decisions expire (``evaluate.decision_retention_ms``) live, not in a replay.

Without an expiry every evaluated window left a decision record and an index entry in
Redis for ever (one more per model-hour with the trailing day), and the dashboard's
history read them all.
"""

from __future__ import annotations

import pytest
import redis

from stream import wiring
from stream.adapters.redis_keys import Keys
from stream.adapters.redis_windows import RedisWindowStore
from stream.core.lifecycle import AlertState
from stream.core.window import DAY, DAY_MS, HOUR, HOUR_MS, WindowKey
from stream.pipeline.ports import EvaluationCommit, HealthCommit
from stream.settings import Settings

pytestmark = pytest.mark.integration

RETENTION = 3 * DAY_MS


def _commit(start: int) -> EvaluationCommit:
    key = WindowKey(HOUR, start)
    return EvaluationCommit("m", key, "reference", [], AlertState("m", HOUR, "reference"), [])


def _settings() -> Settings:
    return Settings.model_validate({"evaluate": {"decision_retention_ms": RETENTION}})


def test_live_decisions_expire_and_leave_the_index(
    redis_client: redis.Redis, redis_namespace: str
) -> None:
    r, keys = redis_client, Keys(redis_namespace)
    windows = RedisWindowStore(r, redis_namespace)
    store = wiring.evaluation(_settings(), r, redis_namespace, windows).store
    starts = [h * HOUR_MS for h in range(0, 4 * 24, 6)]  # four days, every 6 h
    for s in starts:
        store.commit(_commit(s))
    newest = starts[-1]
    # The index keeps the windows of the last RETENTION before the newest written.
    kept = [s for s in starts if s >= newest - RETENTION]
    assert len(kept) < len(starts)
    listed = sorted(int(m) for m in r.zrange(keys.evaluations("m", HOUR), 0, -1))
    assert listed == kept
    for s in starts:  # every record expires a day after the index lets it go
        ttl = r.pttl(keys.evaluation("m", HOUR, s))
        assert RETENTION < ttl <= RETENTION + DAY_MS, (s, ttl)
    # The index expires with its newest record (a model that stopped sending).
    assert RETENTION < r.pttl(keys.evaluations("m", HOUR)) <= RETENTION + DAY_MS


def test_a_replay_keeps_its_decisions(redis_client: redis.Redis, redis_namespace: str) -> None:
    r, keys = redis_client, Keys(redis_namespace)
    windows = RedisWindowStore(r, redis_namespace)
    store = wiring.evaluation(
        _settings(), r, redis_namespace, windows, deferred=True, live=False
    ).store
    starts = [h * HOUR_MS for h in range(0, 4 * 24, 6)]
    for s in starts:
        store.commit(_commit(s))
    store.flush()
    listed = sorted(int(m) for m in r.zrange(keys.evaluations("m", HOUR), 0, -1))
    assert listed == starts
    assert {r.pttl(keys.evaluation("m", HOUR, s)) for s in starts} == {-1}  # no expiry


@pytest.mark.parametrize("live", [True, False])
def test_health_decisions_expire_live_only(
    redis_client: redis.Redis, redis_namespace: str, live: bool
) -> None:
    r, keys = redis_client, Keys(redis_namespace)
    windows = RedisWindowStore(r, redis_namespace)
    settings = Settings.model_validate(
        {
            "evaluate": {"decision_retention_ms": RETENTION},
            "models": {
                "m": {
                    "features": {"x": "numeric"},
                    "labels": {"positive": 1, "negative": 0},
                    "alerts": {"baselines": ["previous"]},
                }
            },
        }
    )
    evaluator = wiring.health_evaluator(settings, r, redis_namespace, windows, live=live)
    assert evaluator is not None
    key = WindowKey(DAY, 0)
    assert evaluator.store.commit(HealthCommit("m", key, [], {}, [], {0: 1}))
    ttl = r.pttl(keys.health_decisions("m", DAY, 0))
    if live:  # as the feature decisions: the retention and a day
        assert RETENTION < ttl <= RETENTION + DAY_MS
    else:  # a replay's namespace keeps them
        assert ttl == -1
