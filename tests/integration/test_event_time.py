"""Event time and health on real Kafka + Redis with a real worker (issue 11).

Each test reproduces an operator's report against ``driftstream worker``: a
future-dated record, a lull inside an hour, Redis unreachable, a stopped broker
and a hostile producer. Every produced event must end in its hour's sketch or
in a visible counter / dead letter with its reason.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
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
from stream.localstack import LocalStack
from tests.integration.worker_harness import (
    Deployment,
    end_offsets,
    free_port,
    read_topic,
    send,
    stored_offsets,
    wait_until,
)

pytestmark = pytest.mark.integration

HOUR_MS = 3_600_000
LATENESS_MS = 600_000  # the harness's allowed lateness


def _create_topics(admin: KafkaAdminClient) -> dict[str, str]:
    """Fresh one-partition features, dead-letter and sealed topics, by role."""
    suffix = uuid.uuid4().hex[:8]
    names = {"features": f"et-{suffix}", "dead_letter": f"etd-{suffix}", "sealed": f"ets-{suffix}"}
    admin.create_topics(
        {n: {"num_partitions": 1, "replication_factor": 1} for n in names.values()},
        wait_for_metadata=True,
    )
    return names


@pytest.fixture
def topics(kafka_bootstrap: str) -> Iterator[dict[str, str]]:
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    names = _create_topics(admin)
    try:
        yield names
    finally:
        admin.delete_topics(list(names.values()))
        admin.close()


@pytest.fixture
def deploy(
    kafka_bootstrap: str, redis_url: str, topics: dict[str, str], tmp_path: Path
) -> Iterator[Deployment]:
    d = Deployment(
        bootstrap=kafka_bootstrap,
        redis_url=redis_url,
        namespace=f"et{uuid.uuid4().hex[:10]}",
        workdir=tmp_path,
        partitions=1,
        **topics,
    )
    try:
        yield d
    finally:
        d.stop_all()
        r = redis.Redis.from_url(redis_url)
        keys = list(r.scan_iter(match=Keys(d.namespace).pattern(), count=1000))
        if keys:
            r.delete(*keys)


def _now() -> int:
    return time.time_ns() // 1_000_000


def _event(ts: int, **features: Any) -> bytes:
    base = {"amount": 10.0, "n_items": 1, "score_a": 0.5, "score_b": 0.5, "country": "DE"}
    return orjson.dumps({"model": "fraud-v3", "ts": ts, "features": {**base, **features}})


def _http(port: int, path: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:  # noqa: S310
            return resp.status, orjson.loads(resp.read()) if path == "/health" else {}
    except urllib.error.HTTPError as exc:
        with exc:  # the error's response holds the socket
            return exc.code, orjson.loads(exc.read()) if path == "/health" else {}
    except OSError:
        return 0, {}


def _metrics(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:  # noqa: S310
        return str(resp.read().decode())


def _dead_letters(bootstrap: str, topic: str) -> list[dict[str, Any]]:
    """Every dead letter in ``topic`` (read to its end offsets), value and headers."""
    return [
        {"value": m.value, **{k: v.decode() for k, v in m.headers}}
        for m in read_topic(bootstrap, topic)
    ]


def _exit_code(w: subprocess.Popen[bytes], d: Deployment, timeout_s: float = 180) -> int:
    """The worker's exit code after a SIGTERM; ``timeout_s`` is a hang guard only."""
    try:
        return w.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the worker did not exit within {timeout_s:.0f}s of SIGTERM\n{d.logs()}")


def _finish(d: Deployment, r: redis.Redis) -> None:
    ends = end_offsets(d.bootstrap, d.features, 1)
    wait_until(
        lambda: stored_offsets(r, d.namespace, 1) == ends, 300, f"offsets {ends}\n{d.logs()}"
    )


def _hours(r: redis.Redis, ns: str) -> dict[int, int]:
    out = {}
    for key in r.scan_iter(match=f"ds:{{{ns}|fraud-v3|0}}:h:*", count=1000):
        out[int(key.decode().rsplit(":", 1)[1])] = int(r.hget(key, "events") or 0)
    return out


def _late(r: redis.Redis, ns: str) -> int:
    return sum(int(v) for v in r.hgetall(Keys(ns).partition_late("fraud-v3", 0)).values())


def test_a_future_dated_record_does_not_make_on_time_events_late(
    deploy: Deployment, redis_url: str
) -> None:
    # allowed lateness 1 min: a record 59 min ahead is past this hour's end + lateness,
    # so a watermark it moved would seal the hour and make the 500 events late
    deploy.overrides["DRIFTSTREAM_INGEST__ALLOWED_LATENESS_MS"] = "60000"
    if _now() % HOUR_MS < 150_000:
        time.sleep(150 - (_now() % HOUR_MS) / 1000)
    now = _now()
    ts = now - 60_000
    ahead = now + HOUR_MS - 60_000  # within the broker's +1 h record-timestamp limit
    assert ahead - 60_000 >= ts - ts % HOUR_MS + HOUR_MS
    values = [(_event(ahead), ahead)] + [(_event(ts + i), ts + i) for i in range(500)]
    send(deploy.bootstrap, deploy.features, values, 1)
    r = redis.Redis.from_url(redis_url)
    w = deploy.start_worker()
    _finish(deploy, r)
    assert _late(r, deploy.namespace) == 0
    assert _hours(r, deploy.namespace) == {ts - ts % HOUR_MS: 500}
    # at least once: a re-sent letter is the same record's (same offset, bytes and reason)
    letters = _dead_letters(deploy.bootstrap, deploy.dead_letter)
    assert {(x["ds-offset"], x["ds-reason"], x["value"]) for x in letters} == {
        ("0", "ts_in_future", values[0][0])
    }, letters
    # counted exactly once with the offsets, for `driftstream status`
    assert r.hget(Keys(deploy.namespace).partition("fraud-v3", 0), "rej:ts_in_future") == b"1"
    # the process counter is at least once (a re-claim re-reads); the stored one is exact
    counted = re.search(
        r'driftstream_events_rejected_total\{reason="ts_in_future"\} ([0-9.]+)',
        _metrics(w.web_port),  # type: ignore[attr-defined]
    )
    assert counted and float(counted.group(1)) >= 1


def _lull(d: Deployment, r: redis.Redis) -> bool:
    """20 events, a lull past the idle timeout, 500 more, in one hour; False if it turned."""
    if _now() % HOUR_MS < 60_000:  # the first events (30 s old) must be in this hour
        time.sleep(60 - (_now() % HOUR_MS) / 1000)
    d.overrides["DRIFTSTREAM_INGEST__IDLE_PARTITION_TIMEOUT_MS"] = "2000"
    ts = _now() - 30_000
    send(d.bootstrap, d.features, [(_event(ts + i), ts) for i in range(20)], 1)
    w = d.start_worker()
    _finish(d, r)
    time.sleep(4)  # twice the idle timeout: the partition is idle (at least that long)
    ts2 = _now()
    if ts2 - ts2 % HOUR_MS != ts - ts % HOUR_MS:
        return False
    send(d.bootstrap, d.features, [(_event(ts2 + i), ts2) for i in range(500)], 1)
    _finish(d, r)
    wait_until(lambda: sum(_hours(r, d.namespace).values()) == 520, 300, "520 events stored")
    assert _late(r, d.namespace) == 0
    part = r.hgetall(Keys(d.namespace).partition("fraud-v3", 0))
    assert int(part[b"sealed"] or 0) <= ts - ts % HOUR_MS  # the current hour is open
    assert 'driftstream_events_total{outcome="late"} 0.0' in _metrics(w.web_port)  # type: ignore[attr-defined]
    return True


def test_a_lull_inside_the_hour_does_not_seal_it(
    deploy: Deployment, redis_url: str, kafka_bootstrap: str, tmp_path: Path
) -> None:
    # The lull must lie inside one wall-clock hour (the idle watermark follows the
    # clock). When the hour turns mid-way, run it again on fresh topics and namespace:
    # it can turn at most once in a run much shorter than an hour.
    r = redis.Redis.from_url(redis_url)
    if _lull(deploy, r):
        return
    deploy.stop_all()
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    names = _create_topics(admin)
    (tmp_path / "again").mkdir()
    again = Deployment(
        bootstrap=kafka_bootstrap,
        redis_url=redis_url,
        namespace=f"et{uuid.uuid4().hex[:10]}",
        workdir=tmp_path / "again",
        partitions=1,
        **names,
    )
    try:
        assert _lull(again, r), "the wall-clock hour turned twice during one lull test"
    finally:
        again.stop_all()
        keys = list(r.scan_iter(match=Keys(again.namespace).pattern(), count=1000))
        if keys:
            r.delete(*keys)
        admin.delete_topics(list(names.values()))
        admin.close()


@pytest.mark.parametrize("broken", ["unreachable", "wrong_password"])
def test_unusable_redis_is_503_within_10s_and_sigterm_stops_the_worker(
    deploy: Deployment, redis_url: str, broken: str
) -> None:
    if broken == "unreachable":
        deploy.redis_url = f"redis://127.0.0.1:{free_port()}/0"
    else:
        deploy.redis_url = redis_url.replace("redis://", "redis://:wrong-password@")
        if redis.Redis.from_url(redis_url).config_get("requirepass").get("requirepass"):
            pytest.fail("the test Redis has a password: this case needs one without")
        deploy.overrides["DRIFTSTREAM_REDIS__USERNAME"] = "nobody"
    send(deploy.bootstrap, deploy.features, [(_event(_now()), _now())] * 300, 1)
    w = deploy.start_worker()
    # The 10 s is `ingest.health_timeout_ms`, checked over explicit times in
    # tests/unit/pipeline/test_health.py. Here: watched for 20 s from its first answer
    # on, /health says 503 (never 200) and comes to name Redis. Waits are hang guards.
    started = time.monotonic()
    answered: list[tuple[int, dict[str, Any]]] = []
    first_answer: list[float] = []

    def watched_until_it_names_redis() -> bool:
        code, body = _http(w.web_port, "/health")  # type: ignore[attr-defined]
        if not code:
            return False
        answered.append((code, body))
        first_answer[:] = first_answer or [time.monotonic()]
        return time.monotonic() - first_answer[0] >= 20 and "redis" in body.get("problem", "")

    try:
        wait_until(watched_until_it_names_redis, 300, "/health to answer for 20 s and name redis")
    except AssertionError as exc:
        msg = f"{exc}; last answers {answered[-3:]}\n{deploy.logs()}"
        raise AssertionError(msg) from None
    print(f"\nredis {broken}: first /health answer after {first_answer[0] - started:.1f}s")
    assert all(code == 503 for code, _ in answered), answered
    assert "redis" in answered[-1][1]["problem"], answered[-1]
    # SIGTERM stops it cleanly although it never reached Redis
    w.send_signal(signal.SIGTERM)
    assert _exit_code(w, deploy) == 0, deploy.logs()
    # outage logs are rate-limited: not one line per retry
    log = (deploy.workdir / "worker-0.log").read_text(errors="replace")
    assert log.count("ERROR") < 20, log[-3000:]


def _worker_before_a_broker_stop(
    deploy: Deployment, redis_url: str, stack: LocalStack
) -> tuple[redis.Redis, Any]:
    """A worker that consumed 100 events, on a stack whose broker the test may pause."""
    if not stack.managed or stack.kafka_pid is None:
        pytest.fail("this test pauses the broker: run it on a stack the tests started")
    r = redis.Redis.from_url(redis_url)
    send(deploy.bootstrap, deploy.features, [(_event(_now()), _now())] * 100, 1)
    w = deploy.start_worker()
    _finish(deploy, r)
    return r, w


def test_a_stopped_broker_is_503_naming_kafka_within_10s(
    deploy: Deployment, redis_url: str, stack: LocalStack
) -> None:
    r, w = _worker_before_a_broker_stop(deploy, redis_url, stack)
    wait_until(lambda: _http(w.web_port, "/health")[0] == 200, 300, "healthy")  # type: ignore[attr-defined]
    os.kill(stack.kafka_pid, signal.SIGSTOP)
    try:
        # The 10 s is `ingest.health_timeout_ms` (tests/unit/pipeline/test_health.py);
        # here the wait is a hang guard and the time is printed, not asserted.
        t0 = time.monotonic()
        wait_until(
            lambda: _http(w.web_port, "/health")[0] == 503,  # type: ignore[attr-defined]
            300,
            "/health to answer 503 with the broker stopped",
        )
        took = time.monotonic() - t0
        code, body = _http(w.web_port, "/health")  # type: ignore[attr-defined]
        assert code == 503 and "kafka" in body["problem"], body
        print(f"\nbroker stopped: 503 after {took:.1f}s (upper bound)")

        def outage_counted() -> bool:
            errors = re.search(
                r'driftstream_backend_errors_total\{backend="kafka"\} ([0-9.]+)',
                _metrics(w.web_port),  # type: ignore[attr-defined]
            )
            return bool(errors and float(errors.group(1)) > 0)

        wait_until(outage_counted, 300, "the kafka outage in driftstream_backend_errors_total")
    finally:
        os.kill(stack.kafka_pid, signal.SIGCONT)
    wait_until(lambda: _http(w.web_port, "/health")[0] == 200, 300, "recovery")  # type: ignore[attr-defined]
    assert w.poll() is None
    log = (deploy.workdir / "worker-0.log").read_text(errors="replace")
    assert log.count("ERROR") < 40, log[-3000:]


def test_a_hostile_producer_is_bounded_and_every_event_accounted_for(
    deploy: Deployment, redis_url: str
) -> None:
    # the product's defaults for the bounds (the harness widens them for old data)
    deploy.overrides["DRIFTSTREAM_INGEST__MAX_PAST_MS"] = str(7 * 24 * HOUR_MS)
    deploy.overrides["DRIFTSTREAM_INGEST__MAX_FUTURE_MS"] = str(HOUR_MS)
    r = redis.Redis.from_url(redis_url)
    now = _now()
    # 300 records an hour apart (oldest first, record timestamps set to match: the
    # producer's choice), then 250 events with 4,000 undeclared keys each
    hopping = [(_event(now - h * HOUR_MS), now - h * HOUR_MS) for h in range(299, -1, -1)]
    wide = [(_event(now, **{f"k{i}_{j}": 1 for j in range(4000)}), now) for i in range(250)]
    send(deploy.bootstrap, deploy.features, [*hopping, *wide], 1)
    mem_before = int(r.info("memory")["used_memory"])
    w = deploy.start_worker()
    t0 = time.monotonic()
    _finish(deploy, r)
    took = time.monotonic() - t0
    ns = deploy.namespace
    hour_keys = list(r.scan_iter(match=f"ds:{{{ns}|fraud-v3|0}}:h:*", count=1000))
    biggest = max(int(r.hlen(k)) for k in hour_keys)
    grown = int(r.info("memory")["used_memory"]) - mem_before
    # at least once: count each source record's letter once (a re-send repeats its offset)
    letters = list(
        {x["ds-offset"]: x for x in _dead_letters(deploy.bootstrap, deploy.dead_letter)}.values()
    )
    reasons: dict[str, int] = {}
    for d in letters:
        reasons[d["ds-reason"]] = reasons.get(d["ds-reason"], 0) + 1
    stored = sum(_hours(r, ns).values())
    late = _late(r, ns)
    # every event: in a sketch, counted late, or dead-lettered with its reason
    assert stored + late + len(letters) == 550, (stored, late, reasons)
    # events older than the clock allows (7 days) never open an hour
    assert reasons.get("ts_out_of_bounds", 0) == 300 - 7 * 24  # 168 h ago is past it too
    assert r.hget(Keys(ns).partition("fraud-v3", 0), "rej:ts_out_of_bounds") == b"132"
    assert len(hour_keys) <= 7 * 24 + 2
    part = r.hgetall(Keys(ns).partition("fraud-v3", 0))
    assert len([h for h in part[b"open"].split(b",") if h]) <= 48
    # sketches + the joint sketch + events + 100 tracked undeclared keys + the overflow count
    assert biggest <= 7 + 1 + 1 + 100 + 1
    overflow = sum(int(r.hget(k, "undeclared_overflow") or 0) for k in hour_keys)
    assert overflow == 250 * 4000 - 100
    metrics = _metrics(w.web_port)  # type: ignore[attr-defined]
    assert f"driftstream_undeclared_overflow_total {float(overflow)}" in metrics
    print(
        f"\nhostile producer: redis +{grown / 1e6:.1f} MB, biggest hash {biggest} fields, "
        f"{len(hour_keys)} partition-hours, dead letters {reasons}, ingest {took:.1f}s"
    )


def test_sigterm_stops_the_worker_while_the_broker_is_stopped(
    deploy: Deployment, redis_url: str, stack: LocalStack
) -> None:
    r, w = _worker_before_a_broker_stop(deploy, redis_url, stack)
    os.kill(stack.kafka_pid, signal.SIGSTOP)
    try:
        time.sleep(3)
        t0 = time.monotonic()
        w.send_signal(signal.SIGTERM)
        code = _exit_code(w, deploy)
        took = time.monotonic() - t0
    finally:
        os.kill(stack.kafka_pid, signal.SIGCONT)
    print(f"\nSIGTERM with the broker stopped: exit {code} after {took:.1f}s")
    assert code == 0, deploy.logs()
    # nothing was lost: everything consumed had been flushed before
    assert stored_offsets(r, deploy.namespace, 1) == end_offsets(
        deploy.bootstrap, deploy.features, 1
    )
