"""Regression model health through ``driftstream replay`` on real Kafka + Redis.

A regression model (numeric prediction, numeric observed target): a labelled
7-day reference, then 6 days of predictions on the features topic and their
labels 1–48 h late on the labels topic (record time = arrival), the error sd
growing 30 % from day 3. ``driftstream replay`` over the range replays both
topics through the live planes and evaluators: the error increase pages
``performance`` (MAE and RMSE) when day 3 first reaches 50 % label coverage (day
4's close), the target never pages ``label`` and the inputs never page
features.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import orjson
import pytest
import redis
from kafka.admin import KafkaAdminClient

from stream.adapters.redis_keys import Keys
from stream.adapters.redis_labels import RedisLabelStore
from stream.adapters.redis_refs import RedisReferences
from stream.catalog import ModelSpec
from stream.pipeline.reference import ReferenceBuilder, calibration_of
from tests.integration.worker_harness import START_MS, labelled_deployment, send

pytestmark = pytest.mark.e2e

HOUR = 3_600_000
DAY = 24 * HOUR
PER_HOUR = 200
DELAY = 48 * HOUR
NOISE = 3.0
TOML = f"""
[models.rg]
prediction = "numeric"
reference = {{ source = "redis", name = "training" }}
labels = {{ kind = "regression", max_label_delay_ms = {DELAY} }}
[models.rg.features]
x = "numeric"
[models.rg.alerts]
windows = ["day"]
baselines = ["reference"]
"""
SPEC = ModelSpec.model_validate(
    {
        "name": "rg",
        "features": {"x": "numeric"},
        "prediction": "numeric",
        "reference": {"source": "redis", "name": "training"},
        "labels": {"kind": "regression", "max_label_delay_ms": DELAY},
        "alerts": {"windows": ["day"], "baselines": ["reference"]},
    }
)


def _stream(
    start: int, hours: int, per_hour: int, seed: int, worse_from: int | None
) -> tuple[list[tuple[bytes, int]], list[tuple[bytes, int]]]:
    """Feature events (x, prediction) and their labels (target), 1–48 h late."""
    rng = np.random.default_rng(seed)
    n = hours * per_hour
    ts = start + (np.arange(n) * HOUR) // per_hour
    x = rng.normal(0.0, 1.0, n)
    y = 100.0 + 20.0 * x + rng.normal(0.0, 5.0, n)
    noise = np.full(n, NOISE)
    if worse_from is not None:
        noise[ts >= start + worse_from * DAY] = 1.3 * NOISE
    pred = np.round(y + rng.normal(0.0, 1.0, n) * noise, 4)
    late = HOUR + (rng.random(n) * (DELAY - HOUR)).astype(np.int64)
    feats, labels = [], []
    for i in range(n):
        t = int(ts[i])
        ev = {"model": "rg", "id": f"p{seed}-{i}", "ts": t}
        feats.append(
            (orjson.dumps({**ev, "features": {"x": float(x[i])}, "prediction": float(pred[i])}), t)
        )
        lab = {**ev, "label": round(float(y[i]), 4), "prediction": float(pred[i])}
        labels.append((orjson.dumps(lab), t + int(late[i])))
    return feats, labels


def test_an_error_increase_pages_performance_through_replay(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    r = redis.Redis.from_url(redis_url)
    d, names = labelled_deployment(kafka_bootstrap, redis_url, tmp_path, TOML)
    replay_ns = f"{d.namespace}-replay"
    try:
        ref_feats, ref_labels = _stream(START_MS - 7 * DAY, 7 * 24, 100, 1, None)
        builder = ReferenceBuilder(SPEC, "training")
        for (fv, ft), (lv, _) in zip(ref_feats, ref_labels, strict=True):
            ev = orjson.loads(fv)
            ev["label"] = orjson.loads(lv)["label"]
            builder.add([orjson.dumps(ev)], [ft])
        ref = builder.build()
        assert ref.regression is not None and ref.regression.n == 7 * 24 * 100
        RedisReferences(r, d.namespace).save(ref, calibration_of(ref, SPEC, PER_HOUR))
        days = 6
        feats, labels = _stream(START_MS, days * 24, PER_HOUR, 12, worse_from=3)
        send(kafka_bootstrap, names["features"], feats, partitions=3)
        send(kafka_bootstrap, names["labels"], sorted(labels, key=lambda v: v[1]), partitions=3)
        out = tmp_path / "alerts.jsonl"
        done = d.cli(
            "replay",
            "--from",
            str(START_MS),
            "--to",
            str(START_MS + days * DAY),
            "--namespace",
            replay_ns,
            "--alerts-out",
            str(out),
            "--quiet",
            timeout=600,
        )
        assert done.returncode == 0, done.stderr
        alerts = [json.loads(line) for line in out.read_text().splitlines()]
        kinds = {a.get("kind", "feature") for a in alerts}
        assert kinds == {"performance"}, alerts
        (trig,) = [a for a in alerts if a["status"] == "triggered"]
        # Day 3's labels (1–48 h late) reach 50 % coverage when day 4 closes.
        assert trig["window"]["start_ms"] == START_MS + 4 * DAY
        breached = {f["name"] for f in trig["features"] if f["breach"]}
        assert breached == {"performance:mae", "performance:rmse"}
        rmse = next(f for f in trig["features"] if f["name"] == "performance:rmse")
        assert rmse["ci_low"] <= 0.3 * NOISE <= rmse["ci_high"], rmse["reasons"]
        print(f"regression replay: {rmse['reasons'][-1]}")
        # Every day window was judged on labels and said there is no estimate.
        decided = []
        for day in range(days):
            raw = r.get(Keys(replay_ns).health_decisions("rg", "day", START_MS + day * DAY))
            decided += json.loads(raw) if raw else []
        assert {x["metric"] for x in decided} == {"mean_shift", "mae", "rmse"}
        assert not any(x["breach"] for x in decided if x["metric"] == "mean_shift")
        state = RedisLabelStore(r, replay_ns).regression_window("rg", START_MS, START_MS + DAY)
        assert state.n == 24 * PER_HOUR and abs((state.rmse or 0) - NOISE) < 0.2
    finally:
        for ns in (d.namespace, replay_ns):
            for k in r.scan_iter(match=Keys(ns).pattern(), count=1000):
                r.delete(k)
        admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        admin.delete_topics(list(names.values()))
        admin.close()
