"""Model-health detection table on real Kafka + Redis (issue 15 "Done when").

Each scenario produces day streams of predictions (features topic) and their labels,
delayed 1–48 h (labels topic, stamped with their arrival time), then runs
``driftstream replay`` over the range: the same planes, rollup and evaluators as a
live worker (replay = live is tested in ``test_model_health.py``), at replay speed.
Seeds are fixed; the figures are in docs/benchmarks.md ("Model health detection").
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
import redis
from kafka.admin import KafkaAdminClient

from stream.adapters.redis_keys import Keys
from stream.adapters.redis_labels import RedisLabelStore
from stream.adapters.redis_refs import RedisReferences
from stream.catalog import ModelSpec
from stream.core.window import DAY as DAY_SCALE
from stream.core.window import WindowKey
from stream.pipeline.reference import ReferenceBuilder, calibration_of
from tests.integration.worker_harness import START_MS, Deployment, labelled_deployment, send

pytestmark = pytest.mark.e2e

HOUR = 3_600_000
DAY = 24 * HOUR
PER_HOUR = 600
A, B = -3.0, 1.7
DELAY = 48 * HOUR
TOML = f"""
[models.mh]
prediction = "numeric"
reference = {{ source = "redis", name = "training" }}
labels = {{ positive = 1, negative = 0, threshold = 0.5, max_label_delay_ms = {DELAY} }}
[models.mh.features]
x = "numeric"
[models.mh.alerts]
windows = ["day"]
baselines = ["reference"]
"""
SPEC = ModelSpec.model_validate(
    {
        "name": "mh",
        "features": {"x": "numeric"},
        "prediction": "numeric",
        "reference": {"source": "redis", "name": "training"},
        "labels": {"max_label_delay_ms": DELAY},
        "alerts": {"windows": ["day"], "baselines": ["reference"]},
    }
)


@dataclass(frozen=True)
class Shift:
    """From ``day`` on: inputs ~ N(0, sigma), P(y | z) = sigmoid(la + lb z)."""

    day: int
    sigma: float = 1.0
    la: float = A
    lb: float = B
    min_delay: int = HOUR


def _stream(
    start: int, hours: int, per_hour: int, seed: int, shift: Shift | None
) -> tuple[list[tuple[bytes, int]], list[tuple[bytes, int]]]:
    """Feature events and their labels (record time = arrival: 1–48 h after the prediction)."""
    rng = np.random.default_rng(seed)
    n = hours * per_hour
    ts = start + (np.arange(n) * HOUR) // per_hour
    after = np.zeros(n, np.bool_) if shift is None else ts >= start + shift.day * DAY
    sigma = np.where(after, shift.sigma if shift else 1.0, 1.0)
    z = rng.normal(0, 1, n) * sigma
    s = np.round(1 / (1 + np.exp(-(A + B * z))), 6)
    la = np.where(after, shift.la if shift else A, A)
    lb = np.where(after, shift.lb if shift else B, B)
    y = rng.random(n) < 1 / (1 + np.exp(-(la + lb * z)))
    lo = np.where(after, shift.min_delay if shift else HOUR, HOUR)
    late = lo + (rng.random(n) * (DELAY - lo)).astype(np.int64)
    feats, labels = [], []
    for i in range(n):
        t = int(ts[i])
        ev = {"model": "mh", "id": f"p{seed}-{i}", "ts": t}
        feats.append(
            (orjson.dumps({**ev, "features": {"x": float(z[i])}, "prediction": float(s[i])}), t)
        )
        lab = {**ev, "label": int(y[i]), "prediction": float(s[i])}
        labels.append((orjson.dumps(lab), t + int(late[i])))
    return feats, labels  # labels in prediction order (the caller sends them by arrival)


@dataclass
class Replayed:
    """One scenario's replay: its namespace, decisions per day window, alerts."""

    r: redis.Redis
    ns: str
    days: int
    alerts: list[dict[str, Any]]

    def decisions(self, day: int) -> list[dict[str, Any]]:
        raw = self.r.get(Keys(self.ns).health_decisions("mh", "day", START_MS + day * DAY))
        return list(json.loads(raw)) if raw else []

    def feature_alerts(self) -> list[dict[str, Any]]:
        return [a for a in self.alerts if a.get("kind", "feature") == "feature"]

    def health_alerts(self, kind: str) -> list[dict[str, Any]]:
        return [a for a in self.alerts if a.get("kind") == kind]


@pytest.fixture(scope="module")
def scenario(
    kafka_bootstrap: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Any]:
    r = redis.Redis.from_url(redis_url)
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    made: list[tuple[Deployment, list[str], str]] = []

    def run(days: int, seed: int, shift: Shift | None) -> Replayed:
        tmp: Path = tmp_path_factory.mktemp("mh")
        d, names = labelled_deployment(kafka_bootstrap, redis_url, tmp, TOML)
        replay_ns = f"{d.namespace}-replay"
        made.append((d, list(names.values()), replay_ns))
        ref_feats, ref_labels = _stream(START_MS - 7 * DAY, 7 * 24, 300, 1, None)
        builder = ReferenceBuilder(SPEC, "training")
        for (fv, ft), (lv, _) in zip(ref_feats, ref_labels, strict=True):
            ev = orjson.loads(fv)
            ev["label"] = orjson.loads(lv)["label"]
            builder.add([orjson.dumps(ev)], [ft])
        ref = builder.build()
        RedisReferences(r, d.namespace).save(ref, calibration_of(ref, SPEC, PER_HOUR))
        feats, labels = _stream(START_MS, days * 24, PER_HOUR, seed, shift)
        send(kafka_bootstrap, names["features"], feats, partitions=3)
        send(kafka_bootstrap, names["labels"], sorted(labels, key=_arrival), partitions=3)
        out = tmp / "alerts.jsonl"
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
        return Replayed(r, replay_ns, days, alerts)

    try:
        yield run
    finally:
        for d, topics, replay_ns in made:
            for ns in (d.namespace, replay_ns):
                for k in r.scan_iter(match=Keys(ns).pattern(), count=1000):
                    r.delete(k)
            admin.delete_topics(topics)
        admin.close()


def _arrival(v: tuple[bytes, int]) -> int:
    return v[1]


def test_a_stationary_fortnight_pages_nothing_and_the_estimate_tracks_realized(
    scenario: Any,
) -> None:
    got: Replayed = scenario(14, 11, None)
    assert got.health_alerts("label") == [] and got.health_alerts("performance") == []
    labels = RedisLabelStore(got.r, got.ns)
    gaps = []
    for day in range(14):
        est = {d["metric"]: d["value"] for d in got.decisions(day) if d["kind"] == "estimated"}
        real = labels.window("mh", START_MS + day * DAY, START_MS + (day + 1) * DAY)
        assert real.n > 0.9 * 24 * PER_HOUR, f"day {day}: {real.n} labels"
        for metric, value in (("auc", real.auc()), ("accuracy", real.accuracy)):
            assert value is not None and metric in est, f"day {day} {metric}"
            gaps.append((day, metric, round(est[metric] - value, 4)))
    worst = max(gaps, key=lambda g: abs(g[2]))
    print(f"stationary: worst estimated - realized {worst}")  # the detection table's figure
    assert abs(worst[2]) <= 0.02, gaps
    # Every day window was judged on labels (label shift, AUC, accuracy, calibration):
    # days 0..12 at 50 % coverage or more, days 0..11 on final labels (the last two
    # lack their later labels in the range).
    reasons = [d["reason"] for day in range(14) for d in got.decisions(day)]
    assert sum("judged at final" in x for x in reasons) == 12 * 4  # + calibration


def test_concept_shift_pages_on_realized_labels_while_inputs_and_the_estimate_stay_quiet(
    scenario: Any,
) -> None:
    got: Replayed = scenario(7, 12, Shift(day=3, la=-2.62, lb=0.95))
    perf = got.health_alerts("performance")
    breached = {f["name"] for a in perf for f in a["features"] if f["breach"]}
    assert "performance:auc" in breached, perf
    assert not any(n.startswith("estimated:") for n in breached)
    first = min(a["window"]["start_ms"] for a in perf if a["status"] == "triggered")
    # Day 3's labels reach 50 % coverage when day 4 closes: it pages then, not before.
    assert first == START_MS + 4 * DAY
    assert got.feature_alerts() == []
    realized = [
        (d["reason"][:14], round(d["value"], 3), d["breach"])
        for day in range(7)
        for d in got.decisions(day)
        if d["kind"] == "performance" and d["metric"] == "auc"
    ]
    print(f"concept shift: realized AUC judgements {realized}")
    est = [d for day in range(7) for d in got.decisions(day) if d["kind"] == "estimated"]
    shown = [round(d["value"], 3) for d in est if d["metric"] == "auc"]
    print(f"concept shift: estimated AUC {shown}")
    assert est and not any(d["breach"] for d in est)


def test_covariate_shift_pages_on_the_estimate_before_any_label_of_its_hours(
    scenario: Any,
) -> None:
    # Inputs concentrate from day 3 (expected AUC falls); the shifted hours' labels come
    # 25–48 h late, so none has arrived when day 3 closes.
    got: Replayed = scenario(6, 13, Shift(day=3, sigma=0.6, min_delay=25 * HOUR))
    perf = [a for a in got.health_alerts("performance") if a["status"] == "triggered"]
    assert perf
    first = perf[0]
    print(f"covariate shift: first alert {first['window']}: {first['features'][0]['reasons']}")
    assert first["window"]["start_ms"] == START_MS + 3 * DAY
    assert {f["name"] for f in first["features"] if f["breach"]} <= {
        "estimated:auc",
        "estimated:accuracy",
    }
    # Day 3's labels were not judged at day 3's close: none had arrived.
    judged = [d for d in got.decisions(3) if d["kind"] != "estimated"]
    assert not any(str(WindowKey(DAY_SCALE, START_MS + 3 * DAY)) in d["reason"] for d in judged)
