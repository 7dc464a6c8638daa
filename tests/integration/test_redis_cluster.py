"""driftstream on a 3-master Redis Cluster: same calls, same bytes as on one Redis.

Every multi-key Lua script and MULTI/EXEC of driftstream touches keys of one hash tag
(``{ns|model|partition}`` or ``{ns|model}``), so redis-py's cluster client runs them
unchanged; a call that spanned two slots would fail here with CROSSSLOT. The same
events go through a worker on the cluster and a worker on the session's single Redis;
ingest state, rolled-up windows, evaluations and the dashboard's JSON must be
identical, and a replay on the cluster must give the live windows byte for byte.
"""

from __future__ import annotations

import http.client
import json
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from kafka.admin import KafkaAdminClient, NewTopic
from redis.cluster import RedisCluster as ClusterClient

from stream.adapters.redis_keys import Keys
from stream.adapters.redis_refs import RedisReferences
from stream.localstack import RedisCluster
from stream.pipeline.reference import ReferenceBuilder, calibration_of
from stream.synth import Drift, SyntheticStream
from tests.integration.worker_harness import (
    DRIFTSTREAM,
    START_MS,
    Deployment,
    end_offsets,
    send,
    spec,
    state,
    stored_offsets,
    wait_until,
)

pytestmark = pytest.mark.integration

HOUR = 3_600_000
PER_HOUR = 2_000
HOURS = 10
PARTITIONS = 3
TOKEN = "cluster-token"  # noqa: S105 - a test token
EVALUATED = HOURS - 1  # every hour but the last, still open (lateness 10 min)


def _model_keys(r: Any, ns: str) -> dict[str, Any]:
    """Rolled-up windows and evaluations of the model: namespace-free names → contents.

    Contents, not DUMP bytes: a hash's DUMP depends on field order. A window's ``late``
    count is as of its rollup (timing), so it is left out as in test_replay.
    """
    out: dict[str, Any] = {}
    for kind in ("w", "ev"):
        for key in r.scan_iter(match=f"ds:{{{ns}|fraud-v3}}:{kind}:*", count=1000):
            name = key.decode().replace(ns, "NS")
            kind_of = r.type(key)
            if kind_of == b"hash":
                fields = r.hgetall(key)
                fields.pop(b"late", None)
                out[name] = fields
            elif kind_of == b"zset":
                out[name] = r.zrange(key, 0, -1, withscores=True)
            elif kind_of == b"list":
                out[name] = r.lrange(key, 0, -1)
            else:
                out[name] = r.get(key)
    return out


def _judged_by_every_baseline(client: Any, keys: Keys) -> bool:
    """The evaluated hours, each with the decisions of every baseline it has.

    Each baseline of a window is its own commit (reference, then previous), and the
    first one already lists the window as evaluated: waiting on that count alone, a
    snapshot can catch the last hour without its ``previous`` decisions. The first
    hour has no previous window.
    """
    starts = [int(s) for s in client.zrange(keys.evaluations("fraud-v3", "hour"), 0, -1)]
    if len(starts) < EVALUATED:
        return False
    for start in starts:
        want = {b"reference"} if start == START_MS else {b"reference", b"previous"}
        if set(client.hkeys(keys.evaluation("fraud-v3", "hour", start))) != want:
            return False
    return True


def _api(port: int, path: str) -> Any:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path, headers={"Authorization": f"Bearer {TOKEN}"})
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    assert resp.status == 200, (path, resp.status, body[:300])
    return json.loads(body)


def _run(
    d: Deployment, client: Any, features: str
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Start a worker, wait for every offset and the evaluations; (state, windows, api)."""
    ends = end_offsets(d.bootstrap, features, PARTITIONS)
    assert sum(ends.values()) == HOURS * PER_HOUR
    proc = d.start_worker()
    keys = Keys(d.namespace)
    wait_until(
        lambda: stored_offsets(client, d.namespace, PARTITIONS) == ends,
        300,
        f"every offset stored\n{d.logs()}",
    )
    wait_until(
        lambda: _judged_by_every_baseline(client, keys),
        300,
        f"{EVALUATED} hours judged against every baseline\n{d.logs()}",
    )
    wait_until(
        lambda: not client.llen(keys.alerts_outbox("fraud-v3")),
        300,
        f"alerts published\n{d.logs()}",
    )
    port = proc.web_port  # type: ignore[attr-defined]
    api = {
        path: _api(port, path)
        for path in (
            "/api/models/fraud-v3/windows?scale=hour",
            "/api/models/fraud-v3/heatmap?scale=hour&baseline=reference",
            "/api/models/fraud-v3/features/amount?window=hour:2026-01-01T05&baseline=reference",
        )
    }
    d.stop_all()
    return state(client, d.namespace), _model_keys(client, d.namespace), api


@pytest.fixture(scope="module")
def runs(
    redis_cluster: RedisCluster,
    kafka_bootstrap: str,
    redis_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, Any]]:
    suffix = uuid.uuid4().hex[:8]
    kinds = ("features", "alerts", "dead_letter-c", "sealed-c", "dead_letter-s", "sealed-s")
    names = {k: f"cl-{k.replace('_', '-')}-{suffix}" for k in kinds}
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    admin.create_topics(
        [
            NewTopic(n, num_partitions=PARTITIONS if k == "features" else 1, replication_factor=1)
            for k, n in names.items()
        ]
    )
    s = spec()
    gen = SyntheticStream(
        s, start_ms=START_MS, events_per_hour=PER_HOUR, seed=5,
        drifts=[Drift("amount", "shift", 1.0, START_MS + 4 * HOUR)],
    )  # fmt: skip
    send(kafka_bootstrap, names["features"], gen.records(HOURS * PER_HOUR), PARTITIONS)
    ref_gen = SyntheticStream(s, start_ms=START_MS - 2 * 24 * HOUR, events_per_hour=200, seed=1)
    builder = ReferenceBuilder(s, "training")
    builder.add_synthetic(ref_gen, 2 * 24 * 200)
    ref = builder.build()
    calibration = calibration_of(ref, s, PER_HOUR)

    cluster = ClusterClient.from_url(redis_cluster.url)
    single = redis.Redis.from_url(redis_url)
    ns = f"c{suffix}"
    common = {
        "DRIFTSTREAM_TOPICS__ALERTS": names["alerts"],
        "DRIFTSTREAM_WEB__TOKEN": TOKEN,
    }
    deployments = {}
    for kind, url, extra in (
        ("cluster", redis_cluster.url, {"DRIFTSTREAM_REDIS__CLUSTER": "true"}),
        ("single", redis_url, {}),
    ):
        deployments[kind] = Deployment(
            bootstrap=kafka_bootstrap,
            redis_url=url,
            features=names["features"],
            dead_letter=names[f"dead_letter-{kind[0]}"],
            sealed=names[f"sealed-{kind[0]}"],
            namespace=ns,
            workdir=tmp_path_factory.mktemp(f"cluster-{kind}"),
            partitions=PARTITIONS,
            overrides={**common, **extra},
        )
    try:
        RedisReferences(cluster, ns).save(ref, calibration)  # type: ignore[arg-type]
        RedisReferences(single, ns).save(ref, calibration)
        on_cluster = _run(deployments["cluster"], cluster, names["features"])
        on_single = _run(deployments["single"], single, names["features"])
        yield {
            "cluster": on_cluster,
            "single": on_single,
            "client": cluster,
            "d": deployments["cluster"],
            "ns": ns,
            "url": redis_cluster.url,
        }
    finally:
        for d in deployments.values():
            d.stop_all()
        for r in (cluster, single):
            for key in r.scan_iter(match=Keys(ns).pattern(), count=1000):
                r.delete(key)
        cluster.close()
        single.close()
        admin.delete_topics(list(names.values()))
        admin.close()


def test_state_on_the_cluster_is_byte_identical_to_one_redis(runs: dict[str, Any]) -> None:
    c_state, c_windows, c_api = runs["cluster"]
    s_state, s_windows, s_api = runs["single"]
    assert c_state and c_state == s_state  # per-partition sketches, offsets, watermarks
    assert len([k for k in c_windows if ":w:hour:" in k]) >= EVALUATED
    assert c_windows == s_windows  # rolled-up windows and evaluations (rollups, evaluate)
    assert c_api == s_api  # the dashboard reads the same numbers (both runs settled)


def test_state_is_spread_over_the_masters_and_no_call_crossed_slots(
    runs: dict[str, Any],
) -> None:
    client: ClusterClient = runs["client"]
    ns = runs["ns"]
    nodes = set()
    for key in client.scan_iter(match=Keys(ns).pattern(), count=1000):
        nodes.add(client.get_node_from_key(key).name)
    assert len(nodes) >= 2  # partitions' tags hash to different masters
    logs = runs["d"].logs()
    assert "CROSSSLOT" not in logs and "CrossSlot" not in logs
    alerts = client.llen(Keys(ns).alert_history("fraud-v3"))
    assert alerts >= 1  # evaluation's MULTI/EXEC (decisions + lifecycle + outbox + history)


def test_replay_on_the_cluster_equals_the_live_windows(runs: dict[str, Any]) -> None:
    d: Deployment = runs["d"]
    replay_ns = f"r{uuid.uuid4().hex[:8]}"
    env = d.env()
    done = subprocess.run(
        [DRIFTSTREAM, "replay", "--from", str(START_MS), "--to", str(START_MS + HOURS * HOUR),
         "--namespace", replay_ns, "--workers", "2", "--quiet"],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    client: ClusterClient = runs["client"]
    live = {k: v for k, v in _model_keys(client, runs["ns"]).items() if ":w:hour:" in k}
    replayed = {k: v for k, v in _model_keys(client, replay_ns).items() if ":w:hour:" in k}
    assert live and {k: replayed.get(k) for k in live} == live
    for key in client.scan_iter(match=Keys(replay_ns).pattern(), count=1000):
        client.delete(key)
