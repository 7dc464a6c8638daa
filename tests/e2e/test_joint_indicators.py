"""Categorical indicators end to end on real Kafka + Redis: a flip pages, a quiet model does not.

Two models on one topic, each with 4 numeric + 2 categorical features and
``joint.indicators = {c0 = ["a", "b"], c1 = ["u"]}``, a 3-day reference at 1,500
events/hour (``c0=a`` tied to ``n0``, ρ ≈ +0.64), then 2 days replayed through the live
ingest, rollup and evaluation code. ``flip`` reverses that association at hour 30 (every
marginal unchanged); ``calm`` keeps it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis
from kafka.admin import KafkaAdminClient

from stream.adapters.kafka_tools import produce
from stream.adapters.redis_keys import Keys
from stream.adapters.redis_refs import RedisReferences
from stream.cli import main
from stream.core.sketch import JointSketch
from stream.core.window import HOUR_MS
from stream.pipeline.reference import ReferenceBuilder, calibration_of
from stream.settings import load_settings
from tests.unit.pipeline.test_joint_indicators import PER_HOUR, START, _events

pytestmark = pytest.mark.e2e

ONSET_HOUR = 30
MODEL = """
[models.{name}]
reference = {{ source = "redis", name = "training" }}
joint = {{ indicators = {{ c0 = ["a", "b"], c1 = ["u"] }} }}
[models.{name}.features]
n0 = "numeric"
n1 = "numeric"
n2 = "numeric"
n3 = "numeric"
c0 = "categorical"
c1 = "categorical"
"""


def _config(tmp: Path, topic: str, namespace: str) -> Path:
    path = tmp / "indicators.toml"
    path.write_text(
        f'[topics]\nfeatures = "{topic}"\ndead_letter = "{topic}-dlq"\n'
        f'sealed = "{topic}-sealed"\nalerts = "{topic}-alerts"\n'
        f'[redis]\nnamespace = "{namespace}"\n'
        "[ingest]\nmax_past_ms = 315360000000\nmax_future_ms = 315360000000\n"
        + MODEL.format(name="flip")
        + MODEL.format(name="calm")
    )
    return path


def _stream(model: str, flip: bool) -> list[tuple[bytes, int]]:
    rng = np.random.default_rng(5 if flip else 6)
    out: list[tuple[bytes, int]] = []
    for h in range(48):
        sign = -1.0 if flip and h >= ONSET_HOUR else 1.0
        for v in _events(rng, h, sign, 1.0, model):
            out.append((v, int(json.loads(v)["ts"])))
    return out


@pytest.fixture(scope="module")
def outcome(
    kafka_bootstrap: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[dict[str, list[dict[str, Any]]], list[JointSketch]]]:
    tmp = tmp_path_factory.mktemp("indicators")
    topic, namespace = f"ind-{uuid.uuid4().hex[:8]}", f"t{uuid.uuid4().hex[:8]}"
    config = _config(tmp, topic, namespace)
    settings = load_settings(
        config, {"DRIFTSTREAM_REDIS_URL": redis_url, "DRIFTSTREAM_KAFKA_BOOTSTRAP": kafka_bootstrap}
    )
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    admin.create_topics(
        {topic: {"num_partitions": 2, "replication_factor": 1}}, wait_for_metadata=True
    )
    r = redis.Redis.from_url(redis_url)
    try:
        refs = RedisReferences(r, namespace)
        for name in ("flip", "calm"):
            spec = settings.models.model(name)
            builder = ReferenceBuilder(spec, "training")
            rng = np.random.default_rng(1)
            for h in range(-72, 0):
                events = _events(rng, h, 1.0, 1.0, name)
                builder.add(events, [START + h * HOUR_MS] * len(events))
            ref = builder.build()
            refs.save(ref, calibration_of(ref, spec, PER_HOUR))
        records = sorted(_stream("flip", True) + _stream("calm", False), key=lambda x: x[1])
        sent = produce({"bootstrap_servers": [kafka_bootstrap]}, topic, records, partitions=2)
        assert sent == 2 * 48 * PER_HOUR
        out = tmp / "alerts.jsonl"
        env = {
            "DRIFTSTREAM_CONFIG": str(config),
            "DRIFTSTREAM_REDIS_URL": redis_url,
            "DRIFTSTREAM_KAFKA_BOOTSTRAP": kafka_bootstrap,
        }
        with pytest.MonkeyPatch.context() as mp:
            for k, v in env.items():
                mp.setenv(k, v)
            args = ["replay", "--quiet", "--namespace", f"{namespace}-r", "--alerts-out", str(out)]
            assert main(args) == 0
        alerts: dict[str, list[dict[str, Any]]] = {"flip": [], "calm": []}
        for line in out.read_bytes().splitlines() if out.exists() else []:
            a = json.loads(line)
            alerts[a["model"]].append(a)
        stored = [
            JointSketch.from_bytes(blob)
            for key in r.scan_iter(match=Keys(f"{namespace}-r").pattern(), count=1000)
            if r.type(key) == b"hash"
            for field, blob in r.hgetall(key).items()
            if field.endswith(b"@joint")
        ]
        yield alerts, stored
    finally:
        for ns in (namespace, f"{namespace}-r"):
            for k in r.scan_iter(match=Keys(ns).pattern(), count=1000):
                r.delete(k)
        admin.delete_topics([topic])
        admin.close()


def test_stored_joint_fields_carry_the_indicator_columns(
    outcome: tuple[dict[str, list[dict[str, Any]]], list[JointSketch]],
) -> None:
    _, stored = outcome
    assert stored, "no @joint field found in Redis"
    assert {s.columns for s in stored} == {("n0", "n1", "n2", "n3", "c0=a", "c0=b", "c1=u")}


def test_a_number_category_flip_pages_in_its_onset_hour_naming_the_pair(
    outcome: tuple[dict[str, list[dict[str, Any]]], list[JointSketch]],
) -> None:
    alerts = outcome[0]["flip"]
    onset = START + ONSET_HOUR * HOUR_MS
    hourly = [a for a in alerts if a["status"] == "triggered" and a["window"]["scale"] == "hour"]
    assert hourly, alerts
    first = min(hourly, key=lambda a: a["window"]["start_ms"])
    assert first["window"]["start_ms"] == onset
    assert all(a["window"]["end_ms"] > onset for a in alerts)
    joint = first["features"][0]
    assert joint["name"] == "joint" and joint["kind"] == "joint"
    assert joint["hints"]["pairs"][0]["pair"] == ["n0", "c0=a"]
    paged = {
        f["name"]
        for a in alerts
        if a["status"] == "triggered"
        for f in a["features"]
        if f["breach"]
    }
    assert paged == {"joint"}  # no marginal moved


def test_a_quiet_model_with_indicators_has_no_alert(
    outcome: tuple[dict[str, list[dict[str, Any]]], list[JointSketch]],
) -> None:
    assert outcome[0]["calm"] == []
