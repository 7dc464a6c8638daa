"""End to end on real Kafka + Redis: reference → drifting stream → worker → alerts topic."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import jsonschema
import pytest
import redis
from kafka import KafkaConsumer
from kafka.admin import KafkaAdminClient

from stream.adapters.redis_refs import RedisReferences
from stream.core.alert import alert_schema
from stream.pipeline.reference import ReferenceBuilder, calibration_of
from stream.synth import Drift, SyntheticStream
from tests.integration.worker_harness import START_MS, Deployment, send, spec, wait_until

pytestmark = pytest.mark.e2e

HOUR = 3_600_000
PER_HOUR = 2_000


def _alerts(bootstrap: str, topic: str) -> list[dict[str, object]]:
    consumer = KafkaConsumer(
        topic, bootstrap_servers=[bootstrap], auto_offset_reset="earliest", consumer_timeout_ms=3000
    )
    try:
        return [json.loads(m.value) for m in consumer]
    finally:
        consumer.close()


def test_a_mean_shift_pages_once_and_nothing_before(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
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
        for first in range(0, total_ref, 10_000):
            n = min(10_000, total_ref - first)
            builder.add(ref_gen.encoded(first, n), ref_gen.times(first, n).tolist())
        ref = builder.build()
        RedisReferences(r, d.namespace).save(ref, calibration_of(ref, s, PER_HOUR))

        onset = START_MS + 12 * HOUR
        gen = SyntheticStream(
            s, start_ms=START_MS, events_per_hour=PER_HOUR, seed=5,
            drifts=[Drift("amount", "shift", 1.0, onset)],
        )  # fmt: skip
        send(kafka_bootstrap, names["features"], gen.records(18 * PER_HOUR), partitions=3)
        d.start_worker()
        key = f"ds:{{{d.namespace}|fraud-v3}}:eval:hour"
        wait_until(lambda: r.zcard(key) >= 16, 180, f"16 evaluated hours\n{d.logs()}")
        wait_until(lambda: bool(_alerts(kafka_bootstrap, names["alerts"])), 60, "an alert")
        alerts = _alerts(kafka_bootstrap, names["alerts"])
        schema = alert_schema()
        for a in alerts:
            jsonschema.validate(a, schema)
        triggered = [a for a in alerts if a["status"] == "triggered"]
        assert triggered, alerts
        first = triggered[0]
        # Nothing before the onset; the page names the drifted feature first.
        assert all(int(a["window"]["start_ms"]) >= onset for a in alerts)  # type: ignore[index]
        assert first["features"][0]["name"] == "amount"  # type: ignore[index]
        assert {a["dedup_key"] for a in triggered} == {first["dedup_key"]}
        assert first["baseline"] in ("reference", "previous")
    finally:
        d.stop_all()
        for k in r.scan_iter(match=f"ds:{{{d.namespace}|*", count=1000):
            r.delete(k)
        admin.delete_topics(list(names.values()))
        admin.close()
