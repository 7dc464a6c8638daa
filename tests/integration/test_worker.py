"""Real worker processes on real Kafka + Redis: exactly-once under SIGKILL, scale-out,
a Redis restart, and dead letters for bad input."""

from __future__ import annotations

import json
import random
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis
from kafka.admin import KafkaAdminClient

from stream.adapters.redis_keys import Keys
from stream.localstack import LocalStack
from tests.integration.worker_harness import (
    START_MS,
    Deployment,
    end_offsets,
    read_topic,
    send,
    state,
    stored_offsets,
    synthetic_records,
    wait_until,
)

pytestmark = pytest.mark.integration

PARTITIONS = 6
N_EVENTS = 60_000
BAD = [
    b"{not json",
    b"\xff\xfe\x00garbage",
    orjson.dumps({"model": "fraud-v3", "features": {"amount": "12.5"}}),
    orjson.dumps({"model": "fraud-v3", "ts": "yesterday", "features": {}}),
    orjson.dumps({"model": "fraud-v3", "features": []}),
    orjson.dumps(["not", "an", "object"]),
    orjson.dumps({"features": {"amount": 1.0}}),
]
UNKNOWN = orjson.dumps({"model": "someone-else", "features": {"x": 1}})
SLOW = {  # small batches and frequent flushes: many points where a kill can land
    "DRIFTSTREAM_CONSUMER__BATCH_MAX_RECORDS": "250",
    "DRIFTSTREAM_INGEST__FLUSH_EVERY_EVENTS": "500",
}


@pytest.fixture(scope="module")
def topics(kafka_bootstrap: str) -> Iterator[dict[str, str]]:
    """One features topic with a fixed stream (good, late, bad, foreign), shared by the tests."""
    suffix = uuid.uuid4().hex[:8]
    names = {
        "features": f"feat-{suffix}",
        "dead_letter": f"dlq-{suffix}",
        "sealed": f"sealed-{suffix}",
    }
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    admin.create_topics(
        {
            names["features"]: {"num_partitions": PARTITIONS, "replication_factor": 1},
            names["dead_letter"]: {"num_partitions": 1, "replication_factor": 1},
            names["sealed"]: {"num_partitions": 1, "replication_factor": 1},
        },
        wait_for_metadata=True,
    )
    rng = random.Random(5)
    values: list[Any] = synthetic_records(N_EVENTS)
    for bad in [*BAD, UNKNOWN] * 3:
        values.insert(rng.randrange(len(values)), bad)
    # Stragglers two hours behind: late on every partition by then.
    late = [
        (
            orjson.dumps(
                {"model": "fraud-v3", "ts": START_MS + 3_600_000, "features": {"amount": 1.0}}
            ),
            None,
        )
        for _ in range(60)
    ]
    send(kafka_bootstrap, names["features"], [*values, *late], PARTITIONS)
    try:
        yield names
    finally:
        admin.delete_topics(list(names.values()))
        admin.close()


def _deployment(
    kafka_bootstrap: str, redis_url: str, topics: dict[str, str], workdir: Path, **over: str
) -> Deployment:
    return Deployment(
        bootstrap=kafka_bootstrap,
        redis_url=redis_url,
        namespace=f"t{uuid.uuid4().hex[:10]}",
        workdir=workdir,
        partitions=PARTITIONS,
        overrides=dict(over),
        **topics,
    )


def _finish(d: Deployment, r: redis.Redis, timeout_s: float = 180) -> dict[str, Any]:
    ends = end_offsets(d.bootstrap, d.features, PARTITIONS)
    wait_until(
        lambda: stored_offsets(r, d.namespace, PARTITIONS) == ends,
        timeout_s,
        f"stored offsets to reach {ends}\n{d.logs()}",
    )
    return state(r, d.namespace)


@pytest.fixture(scope="module")
def baseline(
    kafka_bootstrap: str,
    redis_url: str,
    topics: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Deployment, dict[str, Any]]]:
    """One uninterrupted worker over the whole stream: the state every other run must equal."""
    d = _deployment(kafka_bootstrap, redis_url, topics, tmp_path_factory.mktemp("baseline"))
    r = redis.Redis.from_url(redis_url)
    worker = d.start_worker()
    try:
        snapshot = _finish(d, r)
        yield d, snapshot
    finally:
        d.stop_all()
        _clean(r, d.namespace)
        assert worker.returncode is not None


def _clean(r: redis.Redis, namespace: str) -> None:
    keys = list(r.scan_iter(match=Keys(namespace).pattern(), count=1000))
    if keys:
        r.delete(*keys)


def _http(port: int, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:  # noqa: S310
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        with exc:  # the error's response holds the socket
            return exc.code, exc.read()
    except OSError:
        return 0, b""


def test_uninterrupted_worker_counts_every_event_once(
    baseline: tuple[Deployment, dict[str, Any]],
) -> None:
    d, snap = baseline
    hours = {k: v for k, v in snap.items() if ":h:" in k}
    late = {k: v for k, v in snap.items() if k.endswith(":late")}
    events = sum(int(v[b"events"]) for v in hours.values())
    n_late = sum(int(n) for v in late.values() for n in v.values())
    assert n_late == 60
    assert events + n_late == N_EVENTS + 60
    # Every stored hour has one sketch per monitored column, and the joint sketch of
    # the numeric features, written by the same flush.
    joint = b"f:@joint"
    assert all(sum(f.startswith(b"f:") and f != joint for f in v) == 7 for v in hours.values())
    assert all(joint in v for v in hours.values())
    # Hours before the last are sealed on every partition.
    parts = {k: v for k, v in snap.items() if k.endswith(":part")}
    assert len(parts) == PARTITIONS and all(int(v[b"sealed"]) > START_MS for v in parts.values())
    proc = d.procs[0]
    status, body = _http(proc.web_port, "/health")  # type: ignore[attr-defined]
    assert status == 200 and orjson.loads(body)["status"] == "ok"
    status, metrics = _http(proc.web_port, "/metrics")  # type: ignore[attr-defined]
    assert status == 200
    assert b'driftstream_events_total{outcome="unknown_model"} 3.0' in metrics
    assert b'driftstream_events_rejected_total{reason="bad_json"}' in metrics
    # The control plane's counters are exported too; no window's evaluation failed.
    assert b'driftstream_control_total{event="windows_failed"} 0.0' in metrics
    assert b'driftstream_control_total{event="eval_errors"} 0.0' in metrics


def test_unknown_models_are_named_in_status_and_metrics(
    baseline: tuple[Deployment, dict[str, Any]],
) -> None:
    """The 3 events of model 'someone-else': stored by name with the offsets, shown by
    ``driftstream status`` and labelled in /metrics (not only in replay output)."""
    d, snap = baseline
    stored = [
        int(v.get(b"rej:unknown_model:someone-else", 0))
        for k, v in snap.items()
        if k.endswith(":part")
    ]
    assert sum(stored) == 3
    proc = d.procs[0]
    _, metrics = _http(proc.web_port, "/metrics")  # type: ignore[attr-defined]
    assert b'driftstream_unknown_model_events_total{model="someone-else"} 3.0' in metrics

    def status(*args: str) -> str:
        r = d.cli("status", *args)
        assert r.returncode == 0, r.stderr
        return r.stdout

    report = json.loads(status("--json"))
    assert report["unknown_models"] == {"someone-else": 3}
    parts = report["models"][0]["partitions"]
    assert sum(p["unknown_models"].get("someone-else", 0) for p in parts) == 3
    assert all("unknown_model:someone-else" not in p["rejected"] for p in parts)
    lines = [line for line in status().splitlines() if line.startswith("unknown ")]
    assert len(lines) == 1 and "3 event(s) name a model not configured" in lines[0]
    assert "'someone-else' 3" in lines[0]


def test_dead_letters_keep_reason_and_original_bytes(
    baseline: tuple[Deployment, dict[str, Any]], kafka_bootstrap: str
) -> None:
    d, _ = baseline
    letters = read_topic(kafka_bootstrap, d.dead_letter)
    # Dead letters are at least once (docs/architecture.md, "Dead letters before offsets"):
    # a flush retried after a rebalance or a slow ack re-sends the same record's letter.
    # So each bad record has at least one letter, every copy of a record's letter is the
    # same (bytes, reason), and the distinct records are exactly the bad ones.
    by_source: dict[tuple[str, int, int], set[tuple[bytes, str]]] = {}
    for m in letters:
        h = {k: v.decode() for k, v in m.headers}
        source = (h["ds-topic"], int(h["ds-partition"]), int(h["ds-offset"]))
        by_source.setdefault(source, set()).add((m.value, h["ds-reason"]))
    assert all(len(copies) == 1 for copies in by_source.values()), by_source
    firsts = [next(iter(copies)) for copies in by_source.values()]
    assert sorted(value for value, _ in firsts) == sorted(BAD * 3)
    reasons = dict(firsts)
    assert reasons[b"{not json"] == "bad_json"
    assert reasons[b"\xff\xfe\x00garbage"] == "not_utf8"
    assert reasons[BAD[2]] == "wrong_type"
    assert reasons[BAD[3]] == "bad_ts"
    assert reasons[BAD[6]] == "missing_model"
    assert {topic for topic, _, _ in by_source} == {d.features}
    assert all(offset >= 0 for _, _, offset in by_source)
    if len(letters) > len(by_source):
        print(f"\n{len(letters) - len(by_source)} dead letter(s) re-sent (at least once)")


def test_sigkill_at_random_points_leaves_state_identical(
    baseline: tuple[Deployment, dict[str, Any]],
    kafka_bootstrap: str,
    redis_url: str,
    topics: dict[str, str],
    tmp_path: Path,
) -> None:
    _, expected = baseline
    d = _deployment(kafka_bootstrap, redis_url, topics, tmp_path, **SLOW)
    r = redis.Redis.from_url(redis_url)
    rng = random.Random(1234)
    try:
        for _ in range(3):
            before = sum(stored_offsets(r, d.namespace, PARTITIONS).values())
            target = before + rng.randrange(2_000, 12_000)
            w = d.start_worker()
            wait_until(
                lambda t=target: sum(stored_offsets(r, d.namespace, PARTITIONS).values()) >= t,
                300,
                f"progress past {target}\n{d.logs()}",
            )
            d.kill(w)
        assert sum(stored_offsets(r, d.namespace, PARTITIONS).values()) < N_EVENTS
        d.start_worker()
        assert _finish(d, r) == expected
    finally:
        d.stop_all()
        _clean(r, d.namespace)


def test_three_workers_one_killed_and_restarted_equal_one_worker(
    baseline: tuple[Deployment, dict[str, Any]],
    kafka_bootstrap: str,
    redis_url: str,
    topics: dict[str, str],
    tmp_path: Path,
) -> None:
    _, expected = baseline
    d = _deployment(kafka_bootstrap, redis_url, topics, tmp_path, **SLOW)
    r = redis.Redis.from_url(redis_url)
    try:
        workers = [d.start_worker() for _ in range(3)]
        wait_until(
            lambda: sum(stored_offsets(r, d.namespace, PARTITIONS).values()) >= 8_000,
            300,
            f"progress\n{d.logs()}",
        )
        d.kill(workers[1])
        wait_until(
            lambda: sum(stored_offsets(r, d.namespace, PARTITIONS).values()) >= 25_000,
            300,
            f"progress after the kill\n{d.logs()}",
        )
        d.start_worker()
        assert _finish(d, r) == expected
    finally:
        d.stop_all()
        _clean(r, d.namespace)


def test_redis_restart_under_a_running_worker_loses_nothing(
    baseline: tuple[Deployment, dict[str, Any]],
    kafka_bootstrap: str,
    redis_url: str,
    topics: dict[str, str],
    stack: LocalStack,
    tmp_path: Path,
) -> None:
    if not stack.managed:
        pytest.fail("this test restarts redis-server: run it on a stack the tests started")
    _, expected = baseline
    d = _deployment(kafka_bootstrap, redis_url, topics, tmp_path, **SLOW)
    r = redis.Redis.from_url(redis_url)
    try:
        w = d.start_worker()
        wait_until(
            lambda: sum(stored_offsets(r, d.namespace, PARTITIONS).values()) >= 5_000,
            300,
            f"progress\n{d.logs()}",
        )
        stack.stop_redis()
        wait_until(
            lambda: _http(w.web_port, "/health")[0] == 503,  # type: ignore[attr-defined]
            300,
            f"/health to report the outage\n{d.logs()}",
        )
        body = orjson.loads(_http(w.web_port, "/health")[1])  # type: ignore[attr-defined]
        assert "redis" in body["problem"]
        stack.start_redis()
        r = redis.Redis.from_url(redis_url)
        assert _finish(d, r) == expected
        wait_until(
            lambda: _http(w.web_port, "/health")[0] == 200,  # type: ignore[attr-defined]
            300,
            "/health to recover",
        )
        assert w.poll() is None  # the outage never stopped the worker
    finally:
        d.stop_all()
        _clean(r, d.namespace)
