"""End to end on real Kafka + Redis: reference → drifting stream → worker → alerts topic."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import jsonschema
import pytest
import redis
from kafka.admin import KafkaAdminClient

from stream.adapters.redis_keys import Keys
from stream.adapters.redis_refs import RedisReferences
from stream.cli import main
from stream.core.alert import alert_schema
from stream.pipeline.reference import ReferenceBuilder, calibration_of
from stream.synth import Drift, SyntheticStream
from tests.integration.worker_harness import (
    START_MS,
    Deployment,
    read_topic,
    send,
    spec,
    wait_until,
)

pytestmark = pytest.mark.e2e

HOUR = 3_600_000
PER_HOUR = 2_000


def _alerts(bootstrap: str, topic: str) -> list[dict[str, object]]:
    return [json.loads(m.value) for m in read_topic(bootstrap, topic)]


@dataclass
class Run:
    deployment: Deployment
    names: dict[str, str]
    onset: int
    alerts: list[dict[str, object]]


@pytest.fixture(scope="module")
def drift_run(
    kafka_bootstrap: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Run]:
    """A live run: calibrated reference, 18 h of events with a 1-sd shift at hour 12."""
    tmp_path = tmp_path_factory.mktemp("drift")
    s = spec()
    suffix = uuid.uuid4().hex[:8]
    names = {n: f"{n}-{suffix}" for n in ("features", "dead_letter", "sealed", "alerts")}
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    admin.create_topics(
        {
            v: {"num_partitions": 3 if k == "features" else 1, "replication_factor": 1}
            for k, v in names.items()
        },
        wait_for_metadata=True,
    )
    d = Deployment(
        bootstrap=kafka_bootstrap,
        redis_url=redis_url,
        features=names["features"],
        dead_letter=names["dead_letter"],
        sealed=names["sealed"],
        namespace=f"t{uuid.uuid4().hex[:10]}",
        workdir=tmp_path,
        partitions=3,
        overrides={"DRIFTSTREAM_TOPICS__ALERTS": names["alerts"]},
    )
    r = redis.Redis.from_url(redis_url)
    try:
        # A week of drift-free reference, calibrated for live windows of PER_HOUR events.
        ref_gen = SyntheticStream(s, start_ms=START_MS - 7 * 24 * HOUR, events_per_hour=200, seed=1)
        builder = ReferenceBuilder(s, "training")
        total_ref = 7 * 24 * 200
        builder.add_synthetic(ref_gen, total_ref)
        ref = builder.build()
        RedisReferences(r, d.namespace).save(ref, calibration_of(ref, s, PER_HOUR))

        onset = START_MS + 12 * HOUR
        gen = SyntheticStream(
            s, start_ms=START_MS, events_per_hour=PER_HOUR, seed=5,
            drifts=[Drift("amount", "shift", 1.0, onset)],
        )  # fmt: skip
        send(kafka_bootstrap, names["features"], gen.records(18 * PER_HOUR), partitions=3)
        d.start_worker()
        key = Keys(d.namespace).evaluations("fraud-v3", "hour")
        wait_until(lambda: r.zcard(key) >= 16, 300, f"16 evaluated hours\n{d.logs()}")
        wait_until(lambda: bool(_alerts(kafka_bootstrap, names["alerts"])), 300, "an alert")
        yield Run(d, names, onset, _alerts(kafka_bootstrap, names["alerts"]))
    finally:
        d.stop_all()
        for k in r.scan_iter(match=Keys(d.namespace).pattern(), count=1000):
            r.delete(k)
        admin.delete_topics(list(names.values()))
        admin.close()


def test_a_mean_shift_pages_once_and_nothing_before(drift_run: Run) -> None:
    alerts = drift_run.alerts
    schema = alert_schema()
    for a in alerts:
        jsonschema.validate(a, schema)
    triggered = [a for a in alerts if a["status"] == "triggered"]
    assert triggered, alerts
    first = triggered[0]
    # Nothing before the onset (a window pages when it ends: a trailing day that pages
    # starts up to 24 h before); the page names the drifted feature first.
    assert all(int(a["window"]["end_ms"]) > drift_run.onset for a in alerts)  # type: ignore[index]
    hourly = [a for a in alerts if a["window"]["scale"] == "hour"]  # type: ignore[index]
    assert all(int(a["window"]["start_ms"]) >= drift_run.onset for a in hourly)  # type: ignore[index]
    assert first["features"][0]["name"] == "amount"  # type: ignore[index]
    streams = {(a["window"]["scale"], a["baseline"]) for a in triggered}  # type: ignore[index]
    assert {b for _, b in streams} <= {"reference", "previous"}
    # One alert per (model, scale, baseline): one dedup key per scale and baseline.
    assert len({a["dedup_key"] for a in triggered}) == len(streams)


def _replay_alerts(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *args: str
) -> list[bytes]:
    out = tmp_path / f"alerts-{uuid.uuid4().hex[:6]}.jsonl"
    ns = f"rp{uuid.uuid4().hex[:8]}"
    for k, v in run.deployment.env().items():
        if k.startswith("DRIFTSTREAM_"):
            monkeypatch.setenv(k, v)
    code = main(["replay", "--quiet", "--namespace", ns, "--alerts-out", str(out), *args])
    assert code == 0
    assert main(["namespace", "clean", ns, "--yes"]) == 0
    return out.read_bytes().splitlines() if out.exists() else []


def _live_links(alert: bytes) -> bytes:
    """A replay's alert JSON with its links' ``&namespace=…`` taken out (as live links)."""
    return re.sub(rb"&namespace=[A-Za-z0-9._-]+", b"", alert)


def test_replay_gives_the_live_alerts_whatever_the_workers_and_batches(
    drift_run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    one = _replay_alerts(drift_run, tmp_path, monkeypatch)
    three = _replay_alerts(
        drift_run, tmp_path, monkeypatch, "--workers", "3", "--batch-size", "700"
    )
    # A replay's dashboard links open its own namespace (issue 17); all else is the same.
    assert one and all(re.search(rb"&namespace=rp[0-9a-f]{8}\"", a) for a in one)
    one, three = [_live_links(a) for a in one], [_live_links(a) for a in three]
    assert one == three  # byte-identical alerts: same ids, same statistics
    live = [json.dumps(a, sort_keys=True) for a in drift_run.alerts]
    replayed = {json.dumps(json.loads(a), sort_keys=True) for a in one}
    # Live has not sealed its last hour; every alert it sent, the replay sent identically.
    assert set(live) <= replayed
