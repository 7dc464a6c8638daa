"""Chaos on one live stream with a planted drift (issue 11, "Done when").

Two deployments read the same features topic: an undisturbed one (one worker)
and a disturbed one, whose workers suffer, while the stream is produced in
three parts: a SIGKILL, a burst of poison and future-dated records, a 30 s
broker stop (SIGSTOP of the broker JVM), a Redis restart and a SIGSTOPped
zombie worker that wakes up after the group moved on. Both must end with
byte-identical partition state and window sketches, and the same alerts (same
ids and dedup keys), each published once.
"""

from __future__ import annotations

import json
import os
import signal
import time
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
from stream.adapters.redis_refs import RedisReferences
from stream.localstack import LocalStack
from stream.pipeline.reference import ReferenceBuilder, calibration_of
from stream.synth import Drift, SyntheticStream
from tests.integration.worker_harness import (
    START_MS,
    Deployment,
    end_offsets,
    read_topic,
    send,
    spec,
    state,
    stored_offsets,
    wait_until,
)

pytestmark = pytest.mark.e2e

HOUR = 3_600_000
PER_HOUR = 2_000
HOURS = 18
PARTITIONS = 3
POISON = [
    b"{not json",
    b"\xff\xfe\x00garbage",
    orjson.dumps({"model": "fraud-v3", "features": {"amount": "12.5"}}),
    orjson.dumps({"model": "fraud-v3", "ts": "yesterday", "features": {}}),
    orjson.dumps(["not", "an", "object"]),
]
SLOW = {  # small batches, frequent flushes: faults land mid-stream
    "DRIFTSTREAM_CONSUMER__BATCH_MAX_RECORDS": "300",
    "DRIFTSTREAM_INGEST__FLUSH_EVERY_EVENTS": "600",
}


def _alerts(bootstrap: str, topic: str) -> list[bytes]:
    return [m.value for m in read_topic(bootstrap, topic)]


def _health(port: int) -> tuple[int, str]:
    """(status, body) of a worker's /health; (0, why) while it does not answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10) as resp:  # noqa: S310
            return resp.status, resp.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        with exc:  # the error's response holds the socket
            return exc.code, exc.read().decode(errors="replace")
    except OSError as exc:
        return 0, str(exc)


def _healthy(workers: dict[str, Any], logs: str) -> None:
    """Every named worker answers 200 on /health: none was left idle (never claimed)."""
    last: dict[str, tuple[int, str]] = {}

    def all_ok() -> bool:
        last.update({name: _health(w.web_port) for name, w in workers.items()})
        return all(code == 200 for code, _ in last.values())

    try:
        wait_until(all_ok, 300, f"/health 200 from {', '.join(workers)}")
    except AssertionError as exc:
        msg = f"{exc}; last answers {last}\n{logs}"
        raise AssertionError(msg) from None


def _windows(r: redis.Redis, ns: str) -> dict[str, dict[bytes, bytes]]:
    out = {}
    for key in r.scan_iter(match=f"ds:{{{ns}|fraud-v3}}:w:*", count=1000):
        out[key.decode().replace(ns, "NS")] = r.hgetall(key)
    return out


def _future_burst(n: int) -> list[tuple[bytes, int]]:
    now = time.time_ns() // 1_000_000
    ahead = now + HOUR - 60_000  # the broker accepts record timestamps up to +1 h
    event = {"model": "fraud-v3", "ts": ahead, "features": {"amount": 1e6, "n_items": 1}}
    return [(orjson.dumps(event), ahead)] * n


@pytest.fixture(scope="module")
def stream(kafka_bootstrap: str, redis_url: str) -> Iterator[dict[str, Any]]:
    suffix = uuid.uuid4().hex[:8]
    names = {"features": f"chaos-{suffix}"}
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    admin.create_topics(
        {names["features"]: {"num_partitions": PARTITIONS, "replication_factor": 1}},
        wait_for_metadata=True,
    )
    onset = START_MS + 12 * HOUR
    gen = SyntheticStream(
        spec(), start_ms=START_MS, events_per_hour=PER_HOUR, seed=5,
        drifts=[Drift("amount", "shift", 1.0, onset)],
    )  # fmt: skip
    records = list(gen.records(HOURS * PER_HOUR))
    s = spec()
    ref_gen = SyntheticStream(s, start_ms=START_MS - 7 * 24 * HOUR, events_per_hour=200, seed=1)
    builder = ReferenceBuilder(s, "training")
    builder.add_synthetic(ref_gen, 7 * 24 * 200)
    ref = builder.build()
    try:
        yield {
            "names": names,
            "records": records,
            "reference": (ref, calibration_of(ref, s, PER_HOUR)),
            "admin": admin,
        }
    finally:
        admin.delete_topics(list(names.values()))
        admin.close()


def _deployment(
    kafka_bootstrap: str, redis_url: str, stream: dict[str, Any], workdir: Path, **over: str
) -> Deployment:
    suffix = uuid.uuid4().hex[:8]
    own = {n: f"{n}-{suffix}" for n in ("dead_letter", "sealed", "alerts")}
    stream["admin"].create_topics(
        {v: {"num_partitions": 1, "replication_factor": 1} for v in own.values()},
        wait_for_metadata=True,
    )
    d = Deployment(
        bootstrap=kafka_bootstrap,
        redis_url=redis_url,
        features=stream["names"]["features"],
        dead_letter=own["dead_letter"],
        sealed=own["sealed"],
        namespace=f"c{suffix}",
        workdir=workdir,
        partitions=PARTITIONS,
        overrides={"DRIFTSTREAM_TOPICS__ALERTS": own["alerts"], **over},
    )
    d.alerts = own["alerts"]  # type: ignore[attr-defined]
    ref, cal = stream["reference"]
    RedisReferences(redis.Redis.from_url(redis_url), d.namespace).save(ref, cal)
    return d


def _progress(r: redis.Redis, d: Deployment) -> int:
    return sum(stored_offsets(r, d.namespace, PARTITIONS).values())


def _settled(r: redis.Redis, d: Deployment, timeout_s: float = 600) -> None:
    ends = end_offsets(d.bootstrap, d.features, PARTITIONS)
    wait_until(
        lambda: stored_offsets(r, d.namespace, PARTITIONS) == ends,
        timeout_s,
        f"offsets {ends}\n{d.logs()}",
    )


def test_chaos_ends_byte_identical_with_the_same_alert_once(
    kafka_bootstrap: str,
    redis_url: str,
    stream: dict[str, Any],
    stack: LocalStack,
    tmp_path: Path,
) -> None:
    if not stack.managed or stack.kafka_pid is None:
        pytest.fail("this test stops the broker and Redis: run it on a stack the tests started")
    records = stream["records"]
    third = len(records) // 3
    features = stream["names"]["features"]
    (tmp_path / "chaos").mkdir()
    (tmp_path / "calm").mkdir()
    chaos = _deployment(kafka_bootstrap, redis_url, stream, tmp_path / "chaos", **SLOW)
    calm = _deployment(kafka_bootstrap, redis_url, stream, tmp_path / "calm")
    r = redis.Redis.from_url(redis_url)
    faults: list[str] = []
    try:
        send(kafka_bootstrap, features, records[:third], PARTITIONS)
        w1, w2 = chaos.start_worker(), chaos.start_worker()
        wait_until(lambda: _progress(r, chaos) >= 3_000, 300, f"progress\n{chaos.logs()}")
        chaos.kill(w1)
        faults.append("SIGKILL w1")
        w3 = chaos.start_worker()
        # poison and a future-dated burst in the middle of the stream
        burst: list[Any] = [*POISON * 4, *_future_burst(30)]
        send(kafka_bootstrap, features, [*burst, *records[third : 2 * third]], PARTITIONS)
        wait_until(lambda: _progress(r, chaos) >= third + 3_000, 300, f"phase 2\n{chaos.logs()}")
        os.kill(stack.kafka_pid, signal.SIGSTOP)
        try:
            time.sleep(30)
        finally:
            os.kill(stack.kafka_pid, signal.SIGCONT)
        faults.append("broker stopped 30 s")
        stack.restart_redis()
        r = redis.Redis.from_url(redis_url)
        faults.append("redis restarted")
        send(kafka_bootstrap, features, records[2 * third :], PARTITIONS)
        w2.send_signal(signal.SIGSTOP)  # a zombie: the group moves on without it
        time.sleep(20)
        w2.send_signal(signal.SIGCONT)
        faults.append("w2 SIGSTOPped 20 s")
        _settled(r, chaos)
        assert w2.poll() is None and w3.poll() is None, chaos.logs()

        # the undisturbed run over the same topic
        w_calm = calm.start_worker()
        _settled(r, calm)
        expected = state(r, calm.namespace)
        assert state(r, chaos.namespace) == expected
        wait_until(
            lambda: (
                _windows(r, chaos.namespace) == _windows(r, calm.namespace)
                and bool(_windows(r, calm.namespace))
            ),
            300,
            f"the same windows\n{chaos.logs()}",
        )
        # Both runs publish the same alerts, each when its own evaluation gets there:
        # wait for the same set (the undisturbed run can be the one still behind).
        ids: dict[str, set[str]] = {}

        def same_alerts() -> bool:
            for name, d in (("chaos", chaos), ("calm", calm)):
                ids[name] = {json.loads(a)["alert_id"] for a in _alerts(kafka_bootstrap, d.alerts)}  # type: ignore[attr-defined]
            return bool(ids["calm"]) and ids["chaos"] == ids["calm"]

        try:
            wait_until(same_alerts, 300, "the same alert ids from both runs")
        except AssertionError as exc:
            only = {n: sorted(ids[n] - ids[m]) for n, m in (("chaos", "calm"), ("calm", "chaos"))}
            msg = f"{exc}: only in one run {only}\n{chaos.logs()}"
            raise AssertionError(msg) from None
        got = [json.loads(a) for a in _alerts(kafka_bootstrap, chaos.alerts)]  # type: ignore[attr-defined]
        want = [json.loads(a) for a in _alerts(kafka_bootstrap, calm.alerts)]  # type: ignore[attr-defined]
        triggered = [a for a in want if a["status"] == "triggered"]
        assert triggered
        assert sorted(a["alert_id"] for a in got) == sorted(
            a["alert_id"] for a in want
        )  # each once
        assert {a["dedup_key"] for a in got} == {a["dedup_key"] for a in want}
        # the future-dated burst and the poison are dead letters, never in a sketch
        # at least once: a crash can re-send a letter; each record's letter is keyed by it
        letters = {
            m.key: dict(m.headers)["ds-reason"].decode()
            for m in read_topic(kafka_bootstrap, chaos.dead_letter)
        }
        reasons = list(letters.values())
        assert reasons.count("ts_in_future") == 30, reasons
        assert len(reasons) == 30 + len(POISON) * 4, reasons
        # every live worker ends healthy: none left idle by a failed group bootstrap
        assert w2.poll() is None and w3.poll() is None and w_calm.poll() is None, chaos.logs()
        _healthy({"chaos w2": w2, "chaos w3": w3, "calm": w_calm}, chaos.logs() + calm.logs())
    finally:
        print(f"\nfaults: {', '.join(faults)}")
        chaos.stop_all()
        calm.stop_all()
        for ns in (chaos.namespace, calm.namespace):
            for k in r.scan_iter(match=Keys(ns).pattern(), count=1000):
                r.delete(k)
