"""Real worker processes on real Kafka + Redis: label ingest is exactly once under SIGKILL."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis
from kafka.admin import KafkaAdminClient

from stream.adapters.redis_keys import Keys
from stream.adapters.redis_labels import RedisLabelStore
from stream.core.performance import merge_all
from tests.integration.worker_harness import (
    START_MS,
    Deployment,
    end_offsets,
    read_topic,
    send,
    wait_until,
)

pytestmark = pytest.mark.integration

PARTITIONS = 4
N_LABELS = 24_000
HOUR = 3_600_000
DELAY = 48 * HOUR
LABELS_TOML = f"""
[models.fraud-v3.labels]
positive = 1
negative = 0
threshold = 0.5
max_label_delay_ms = {DELAY}
"""
SLOW = {
    "DRIFTSTREAM_CONSUMER__BATCH_MAX_RECORDS": "250",
    "DRIFTSTREAM_INGEST__FLUSH_EVERY_EVENTS": "500",
}
BAD = [
    b"{not json",
    orjson.dumps({"model": "fraud-v3", "id": "x", "ts": START_MS, "label": 1}),
    orjson.dumps({"model": "fraud-v3", "id": "y", "ts": START_MS, "label": 7, "prediction": 0.1}),
]


def _labels(seed: int = 9) -> list[tuple[bytes, int]]:
    """Labels 1-47 h after their predictions; duplicates and too-late ones on the id's partition.

    ``send(..., partitions=n)`` puts the i-th value on partition i mod n: each
    partition's list is built apart and interleaved, so one id stays on one partition.
    """
    rng = random.Random(seed)
    parts: list[list[tuple[bytes, int]]] = [[] for _ in range(PARTITIONS)]
    for i in range(N_LABELS):
        ts = START_MS + i * 15_000
        y = rng.random() < 0.1
        score = round(min(1.0, max(0.0, rng.gauss(0.65 if y else 0.3, 0.2))), 4)
        rec = ts + rng.randrange(HOUR, 47 * HOUR)
        ev = {"model": "fraud-v3", "id": f"p{i}", "ts": ts, "label": int(y), "prediction": score}
        mine = parts[i % PARTITIONS]
        mine.append((orjson.dumps(ev), rec))
        if i % 41 == 0:
            mine.append((orjson.dumps({**ev, "label": int(not y)}), rec + 5))
        if i % 97 == 0:
            mine.append((orjson.dumps({**ev, "id": f"late{i}"}), ts + DELAY + 1))
    for p in parts:
        p.sort(key=lambda v: v[1])
    rng.shuffle(BAD_AT := [rng.randrange(N_LABELS // PARTITIONS) for _ in BAD])
    for where, bad in zip(BAD_AT, BAD, strict=True):
        parts[0].insert(where, (bad, START_MS + HOUR))
    # Equal lengths for a clean interleave: pad with more labels of fresh ids.
    longest = max(map(len, parts))
    for k, p in enumerate(parts):
        while len(p) < longest:
            ts = p[-1][1] - HOUR
            ev = {"model": "fraud-v3", "id": f"pad{k}-{len(p)}", "ts": ts, "label": 0}
            p.append((orjson.dumps({**ev, "prediction": 0.2}), p[-1][1]))
    return [v for row in zip(*parts, strict=True) for v in row]


@pytest.fixture(scope="module")
def topics(kafka_bootstrap: str) -> Iterator[dict[str, str]]:
    suffix = uuid.uuid4().hex[:8]
    names = {
        "features": f"feat-{suffix}",
        "labels": f"labels-{suffix}",
        "dead_letter": f"dlq-{suffix}",
        "sealed": f"sealed-{suffix}",
    }
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    admin.create_topics(
        {
            names["features"]: {"num_partitions": 1, "replication_factor": 1},
            names["labels"]: {"num_partitions": PARTITIONS, "replication_factor": 1},
            names["dead_letter"]: {"num_partitions": 1, "replication_factor": 1},
            names["sealed"]: {"num_partitions": 1, "replication_factor": 1},
        },
        wait_for_metadata=True,
    )
    send(kafka_bootstrap, names["labels"], _labels(), PARTITIONS)
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
        features=topics["features"],
        dead_letter=topics["dead_letter"],
        sealed=topics["sealed"],
        namespace=f"t{uuid.uuid4().hex[:10]}",
        workdir=workdir,
        partitions=PARTITIONS,
        extra_toml=LABELS_TOML,
        overrides={"DRIFTSTREAM_TOPICS__LABELS": topics["labels"], **over},
    )


def _offsets(r: redis.Redis, ns: str) -> dict[int, int]:
    out = {}
    for p in range(PARTITIONS):
        v = r.hget(f"ds:{{{ns}|fraud-v3|{p}}}:lpart", "offset")
        out[p] = int(v) if v else 0
    return out


def _state(r: redis.Redis, ns: str) -> dict[str, Any]:
    """Every label key of the namespace, tokens and idle marks out (sets by members)."""
    out: dict[str, Any] = {}
    for key in r.scan_iter(match=f"ds:{{{ns}|*|*}}:l*", count=1000):
        name = key.decode().replace(ns, "NS")
        if r.type(key) == b"set":
            out[name] = r.smembers(key)
        else:
            fields = r.hgetall(key)
            fields.pop(b"token", None)
            # ``idle``: when the owner last found the partition at its end (wall clock,
            # a liveness mark for health evaluation), not label state.
            fields.pop(b"idle", None)
            out[name] = fields
    return out


def _finish(d: Deployment, r: redis.Redis, labels_topic: str) -> dict[str, Any]:
    ends = end_offsets(d.bootstrap, labels_topic, PARTITIONS)
    wait_until(lambda: _offsets(r, d.namespace) == ends, 300, f"label offsets {ends}\n{d.logs()}")
    return _state(r, d.namespace)


def _clean(r: redis.Redis, ns: str) -> None:
    keys = list(r.scan_iter(match=Keys(ns).pattern(), count=1000))
    if keys:
        r.delete(*keys)


@pytest.fixture(scope="module")
def baseline(
    kafka_bootstrap: str,
    redis_url: str,
    topics: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, Any]]:
    d = _deployment(kafka_bootstrap, redis_url, topics, tmp_path_factory.mktemp("labels"))
    r = redis.Redis.from_url(redis_url)
    d.start_worker()
    try:
        yield _finish(d, r, topics["labels"])
    finally:
        d.stop_all()
        _clean(r, d.namespace)


def test_every_label_is_applied_or_counted_once(
    baseline: dict[str, Any], kafka_bootstrap: str, topics: dict[str, str]
) -> None:
    parts = {k: v for k, v in baseline.items() if k.endswith(":lpart")}
    counters: dict[str, int] = {}
    for fields in parts.values():
        for k, v in fields.items():
            if k.startswith(b"c:"):
                counters[k[2:].decode()] = counters.get(k[2:].decode(), 0) + int(v)
    pad = sum(end for end in end_offsets(kafka_bootstrap, topics["labels"], PARTITIONS).values())
    assert counters["duplicate"] == len(range(0, N_LABELS, 41))
    assert counters["label_too_late"] == len(range(0, N_LABELS, 97))
    rejected = {k: v for k, v in counters.items() if k.startswith("rejected:")}
    assert rejected == {
        "rejected:bad_json": 1,
        "rejected:missing_prediction": 1,
        "rejected:bad_label": 1,
    }
    n_dup, n_late = counters["duplicate"], counters["label_too_late"]
    assert counters["applied"] + n_dup + n_late + 3 == pad
    seen = sum(len(v) for k, v in baseline.items() if ":ls:" in k)
    assert seen == counters["applied"]
    # dead letters are at least once: one per source record (a re-send repeats its offset)
    by_source: dict[tuple[bytes, bytes, bytes], set[bytes]] = {}
    for m in read_topic(kafka_bootstrap, topics["dead_letter"]):
        h = dict(m.headers)
        by_source.setdefault((h["ds-topic"], h["ds-partition"], h["ds-offset"]), set()).add(m.value)
    assert all(len(v) == 1 for v in by_source.values()), by_source
    assert sorted(next(iter(v)) for v in by_source.values()) == sorted(BAD)


def test_day_windows_merge_every_partition_hour(
    kafka_bootstrap: str, redis_url: str, topics: dict[str, str], tmp_path: Path
) -> None:
    d = _deployment(kafka_bootstrap, redis_url, topics, tmp_path)
    r = redis.Redis.from_url(redis_url)
    d.start_worker()
    try:
        snap = _finish(d, r, topics["labels"])
        store = RedisLabelStore(r, d.namespace)
        days = [
            store.window("fraud-v3", START_MS + k * 86_400_000, START_MS + (k + 1) * 86_400_000)
            for k in range(-3, 8)
        ]
        applied = sum(int(f[b"c:applied"]) for k, f in snap.items() if k.endswith(":lpart"))
        assert sum(p.n for p in days) == applied
        auc = merge_all(days).auc()
        assert auc is not None and 0.75 < auc < 0.95
    finally:
        d.stop_all()
        _clean(r, d.namespace)


def test_sigkill_during_label_ingestion_leaves_state_identical(
    baseline: dict[str, Any],
    kafka_bootstrap: str,
    redis_url: str,
    topics: dict[str, str],
    tmp_path: Path,
) -> None:
    d = _deployment(kafka_bootstrap, redis_url, topics, tmp_path, **SLOW)
    r = redis.Redis.from_url(redis_url)
    rng = random.Random(4321)
    try:
        for _ in range(3):
            before = sum(_offsets(r, d.namespace).values())
            target = before + rng.randrange(1_500, 6_000)
            w = d.start_worker()
            wait_until(
                lambda t=target: sum(_offsets(r, d.namespace).values()) >= t,
                300,
                f"label progress past {target}\n{d.logs()}",
            )
            d.kill(w)
        assert sum(_offsets(r, d.namespace).values()) < N_LABELS
        d.start_worker()
        assert _finish(d, r, topics["labels"]) == baseline
    finally:
        d.stop_all()
        _clean(r, d.namespace)
