"""Drift scenarios end to end on real Kafka + Redis (issue "Evaluate and alert", item 7).

One topic carries six models, one per scenario, interleaved; each model has its
own calibrated reference. The whole range is replayed once through the live
ingest, rollup and evaluation code (replay = live is proven in test_alerts.py),
and every scenario is judged from the alerts it produced:

(a) no drift, 10 features, 7 days, > 500k events → zero alerts;
(b) a 1-sd mean shift → paged in its onset hour;
(c) a 0.2-sd shift → paged, nothing before the onset;
(d) a feature 95 % null for two hours → paged in its onset hour, then resolved;
(e) a strong weekly/daily seasonal pattern, seasonal baseline → quiet;
(f) a category's share 48 % → 60 % → paged in its onset hour, P(drift) ≥ 0.99, ≈ +12 points;
(g) a new category at 10 % → paged in its onset hour;
(h) a feature that vanishes → paged in its onset hour;
(i) the correlation of two of 12 numeric features flips +0.6 → −0.6 (marginals
    unchanged) → the joint member pages in its onset hour, naming that pair; no other
    model's joint member pages on its own.
(j) at 150 events/hour a category's share moves ~8 points: no hour window can show it,
    the trailing 24 h window (judged every hour) pages hours after the onset, before the
    calendar day closes; its alert is schema v4 and links the hour that closed it.

Every model runs the DEFAULT alert rules (``consecutive_breaches = 2``): a clear
drift pages in its first window because its evidence alone clears the one-window
bound (evidence-weighted persistence, stream/core/lifecycle.py).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import redis
from kafka.admin import KafkaAdminClient

from stream.adapters.kafka_tools import produce
from stream.adapters.redis_keys import Keys
from stream.adapters.redis_refs import RedisReferences
from stream.catalog import ModelSpec
from stream.cli import main
from stream.core.alert import alert_schema
from stream.pipeline.reference import ReferenceBuilder, calibration_of
from stream.settings import load_settings
from stream.synth import Drift, SyntheticStream

pytestmark = pytest.mark.e2e

HOUR = 3_600_000
DAY = 24 * HOUR
START = 1_767_225_600_000  # Thursday 2026-01-01T00:00Z

MODELS = """
[models.quiet]
reference = { source = "redis", name = "training" }
[models.quiet.features]
q0 = "numeric"
q1 = "numeric"
q2 = "numeric"
q3 = "numeric"
q4 = "numeric"
q5 = "numeric"
q6 = "numeric"
q7 = "categorical"
q8 = "categorical"
q9 = "categorical"
[models.shift1]
reference = { source = "redis", name = "training" }
[models.shift1.features]
s0 = "numeric"
s1 = "numeric"
s2 = "categorical"
[models.shift02]
reference = { source = "redis", name = "training" }
[models.shift02.features]
m0 = "numeric"
m1 = "numeric"
m2 = "categorical"
[models.nulls]
reference = { source = "redis", name = "training" }
alerts = { resolve_after = 2 }
[models.nulls.features]
n0 = "numeric"
n1 = "numeric"
n2 = "categorical"
[models.seasonal]
reference = { source = "redis", name = "training" }
alerts = { baselines = ["reference", "previous", "seasonal"] }
[models.seasonal.features]
w0 = { kind = "numeric", seasonal = true }
w1 = "numeric"
[models.share]
reference = { source = "redis", name = "training" }
[models.share.features]
c0 = "numeric"
c3 = "categorical"
c1 = "numeric"
c2 = "numeric"
[models.newcat]
reference = { source = "redis", name = "training" }
[models.newcat.features]
k0 = "numeric"
k1 = "categorical"
[models.vanish]
reference = { source = "redis", name = "training" }
[models.vanish.features]
v0 = "numeric"
v1 = "numeric"
v2 = "categorical"
[models.corr]
reference = { source = "redis", name = "training" }
[models.corr.features]
j0 = "numeric"
j1 = "numeric"
j2 = "numeric"
j3 = "numeric"
j4 = "numeric"
j5 = "numeric"
j6 = "numeric"
j7 = "numeric"
j8 = "numeric"
j9 = "numeric"
j10 = "numeric"
j11 = "numeric"
j12 = "categorical"
[models.trailing]
reference = { source = "redis", name = "training" }
[models.trailing.features]
t0 = "numeric"
t1 = "numeric"
t2 = "categorical"
"""
# The correlation the corr model has in its reference and before the flip.
CORR_BASE = Drift("j1", "correlate", 0.6, 0, partner="j0")

# model → (days, events/hour, drifts, seasonal amplitudes)
SCENARIOS: dict[str, tuple[int, int, list[Drift], dict[str, float]]] = {
    "quiet": (7, 3_000, [], {}),
    "shift1": (2, 1_000, [Drift("s0", "shift", 1.0, START + 30 * HOUR)], {}),
    "shift02": (4, 1_500, [Drift("m0", "shift", 0.2, START + 2 * DAY)], {}),
    "nulls": (2, 1_000, [Drift("n0", "null", 0.95, START + 30 * HOUR, START + 32 * HOUR)], {}),
    "seasonal": (14, 400, [], {"w0": 1.5}),
    "share": (2, 1_000, [Drift("c3", "share", 0.60, START + 24 * HOUR, category="c0")], {}),
    "newcat": (2, 1_000, [Drift("k1", "share", 0.10, START + 30 * HOUR, category="zz")], {}),
    "vanish": (2, 1_000, [Drift("v1", "null", 1.0, START + 30 * HOUR)], {}),
    "corr": (
        2,
        1_500,
        [CORR_BASE, Drift("j1", "correlate", -0.6, START + 30 * HOUR, partner="j0")],
        {},
    ),
    "trailing": (3, 150, [Drift("t2", "share", 0.56, START + 30 * HOUR, category="c0")], {}),
}
REF_PER_HOUR = 150


def _config(tmp: Path, topic: str, namespace: str) -> Path:
    path = tmp / "scenarios.toml"
    path.write_text(
        f"""
[topics]
features = "{topic}"
dead_letter = "{topic}-dlq"
sealed = "{topic}-sealed"
alerts = "{topic}-alerts"
[redis]
namespace = "{namespace}"
[ingest]
max_past_ms = 315360000000
max_future_ms = 315360000000
{MODELS}"""
    )
    return path


def _records(
    spec: ModelSpec, days: int, per_hour: int, drifts: list[Drift], season: dict[str, float]
) -> Iterator[tuple[bytes, int]]:
    gen = SyntheticStream(
        spec, start_ms=START, events_per_hour=per_hour, seed=11, drifts=drifts, seasonal=season
    )
    return gen.records(days * 24 * per_hour)


def _interleave(streams: list[Iterator[tuple[bytes, int]]]) -> Iterator[tuple[bytes, int]]:
    # Merge by event time: the topic looks like one live stream of six models.
    import heapq

    keyed = [((ts, i, v) for v, ts in s) for i, s in enumerate(streams)]
    for ts, _, v in heapq.merge(*keyed):
        yield v, ts


@pytest.fixture(scope="module")
def outcome(
    kafka_bootstrap: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, list[dict[str, Any]]]]:
    """Produce every scenario, replay it all once; alerts per model."""
    tmp = tmp_path_factory.mktemp("scenarios")
    topic = f"scen-{uuid.uuid4().hex[:8]}"
    namespace = f"t{uuid.uuid4().hex[:8]}"
    config = _config(tmp, topic, namespace)
    settings = load_settings(
        config, {"DRIFTSTREAM_REDIS_URL": redis_url, "DRIFTSTREAM_KAFKA_BOOTSTRAP": kafka_bootstrap}
    )
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    admin.create_topics(
        {topic: {"num_partitions": 4, "replication_factor": 1}}, wait_for_metadata=True
    )
    r = redis.Redis.from_url(redis_url)
    refs = RedisReferences(r, namespace)
    streams = []
    try:
        for name, (days, per_hour, drifts, season) in SCENARIOS.items():
            spec = settings.models.model(name)
            ref_gen = SyntheticStream(
                spec,
                start_ms=START - 7 * DAY,
                events_per_hour=REF_PER_HOUR,
                seed=3,
                seasonal=season,
                drifts=[CORR_BASE] if name == "corr" else [],
            )
            builder = ReferenceBuilder(spec, "training")
            total = 7 * 24 * REF_PER_HOUR
            builder.add_synthetic(ref_gen, total)
            ref = builder.build()
            refs.save(ref, calibration_of(ref, spec, per_hour))
            streams.append(_records(spec, days, per_hour, drifts, season))
        sent = produce(
            {"bootstrap_servers": [kafka_bootstrap]}, topic, _interleave(streams), partitions=4
        )
        assert sent == sum(d * 24 * p for d, p, _, _ in SCENARIOS.values())
        out = tmp / "alerts.jsonl"
        env = {
            "DRIFTSTREAM_CONFIG": str(config),
            "DRIFTSTREAM_REDIS_URL": redis_url,
            "DRIFTSTREAM_KAFKA_BOOTSTRAP": kafka_bootstrap,
        }
        with pytest.MonkeyPatch.context() as mp:
            for k, v in env.items():
                mp.setenv(k, v)
            assert (
                main(
                    [
                        "replay",
                        "--quiet",
                        "--namespace",
                        f"{namespace}-r",
                        "--alerts-out",
                        str(out),
                        "--workers",
                        "2",
                    ]
                )
                == 0
            )
        alerts: dict[str, list[dict[str, Any]]] = {name: [] for name in SCENARIOS}
        schema = alert_schema()
        for line in out.read_bytes().splitlines() if out.exists() else []:
            a = json.loads(line)
            jsonschema.validate(a, schema)  # every emitted alert matches the published schema
            alerts[a["model"]].append(a)
        yield alerts
    finally:
        for ns in (namespace, f"{namespace}-r"):
            for k in r.scan_iter(match=Keys(ns).pattern(), count=1000):
                r.delete(k)
        admin.delete_topics([topic])
        admin.close()


def _end(alert: dict[str, Any]) -> int:
    return int(alert["window"]["end_ms"])


def _triggered(alerts: list[dict[str, Any]], scale: str | None = None) -> list[dict[str, Any]]:
    return [
        a
        for a in alerts
        if a["status"] == "triggered" and (scale is None or a["window"]["scale"] == scale)
    ]


def test_a_no_drift_over_a_week_of_half_a_million_events_is_quiet(
    outcome: dict[str, list[dict[str, Any]]],
) -> None:
    assert SCENARIOS["quiet"][0] * 24 * SCENARIOS["quiet"][1] >= 500_000
    assert outcome["quiet"] == []


def _first_page_start(alerts: list[dict[str, Any]]) -> int:
    return min(int(a["window"]["start_ms"]) for a in _triggered(alerts, "hour"))


def test_b_one_sd_shift_alerts_in_the_first_breaching_hour(
    outcome: dict[str, list[dict[str, Any]]],
) -> None:
    hourly = _triggered(outcome["shift1"], "hour")
    assert hourly, outcome["shift1"]
    onset = START + 30 * HOUR
    assert min(a["window"]["start_ms"] for a in hourly) == onset
    # No window that ends before the onset pages (a day window holding it may).
    assert all(_end(a) > onset for a in outcome["shift1"])
    assert hourly[0]["features"][0]["name"] == "s0"


def test_c_small_shift_is_caught_by_the_daily_window_not_before(
    outcome: dict[str, list[dict[str, Any]]],
) -> None:
    onset = START + 2 * DAY
    daily = _triggered(outcome["shift02"], "day")
    assert daily, outcome["shift02"]
    assert all(_end(a) > onset for a in outcome["shift02"])
    assert daily[0]["features"][0]["name"] == "m0"


def test_d_a_feature_turning_null_alerts_hourly_and_resolves(
    outcome: dict[str, list[dict[str, Any]]],
) -> None:
    hourly = [
        a
        for a in outcome["nulls"]
        if a["window"]["scale"] == "hour" and a["baseline"] == "reference"
    ]
    triggered = [a for a in hourly if a["status"] == "triggered"]
    resolved = [a for a in hourly if a["status"] == "resolved"]
    assert triggered and triggered[0]["window"]["start_ms"] == START + 30 * HOUR
    assert triggered[0]["features"][0]["name"] == "n0"
    assert resolved and resolved[-1]["dedup_key"] == triggered[0]["dedup_key"]
    # Resolved after the feature recovered (hours 30–31 null; two clean hours after).
    assert resolved[-1]["window"]["start_ms"] > START + 31 * HOUR
    assert all(_end(a) > START + 30 * HOUR for a in outcome["nulls"])


def test_e_strong_seasonality_with_a_seasonal_baseline_is_quiet(
    outcome: dict[str, list[dict[str, Any]]],
) -> None:
    assert outcome["seasonal"] == []


def test_f_a_category_share_move_is_alerted_with_its_magnitude(
    outcome: dict[str, list[dict[str, Any]]],
) -> None:
    triggered = _triggered(outcome["share"])
    assert triggered, outcome["share"]
    assert _first_page_start(outcome["share"]) == START + 24 * HOUR  # the onset hour
    assert all(_end(a) > START + 24 * HOUR for a in outcome["share"])
    feature = next(f for f in triggered[0]["features"] if f["name"] == "c3")
    assert feature["p_drift"] >= 0.99
    assert 0.08 <= abs(feature["magnitude"]) <= 0.16


def test_g_a_new_category_pages_in_its_onset_hour(
    outcome: dict[str, list[dict[str, Any]]],
) -> None:
    alerts = outcome["newcat"]
    assert _first_page_start(alerts) == START + 30 * HOUR, alerts
    assert all(_end(a) > START + 30 * HOUR for a in alerts)
    first = min(_triggered(alerts, "hour"), key=lambda a: a["window"]["start_ms"])
    assert first["features"][0]["name"] == "k1"


def test_h_a_vanished_feature_pages_in_its_onset_hour(
    outcome: dict[str, list[dict[str, Any]]],
) -> None:
    alerts = outcome["vanish"]
    assert _first_page_start(alerts) == START + 30 * HOUR, alerts
    assert all(_end(a) > START + 30 * HOUR for a in alerts)
    first = min(_triggered(alerts, "hour"), key=lambda a: a["window"]["start_ms"])
    assert first["features"][0]["name"] == "v1"


def test_i_a_correlation_flip_pages_in_its_onset_hour_naming_the_pair(
    outcome: dict[str, list[dict[str, Any]]],
) -> None:
    alerts = outcome["corr"]
    onset = START + 30 * HOUR
    assert _first_page_start(alerts) == onset, alerts
    assert all(_end(a) > onset for a in alerts)
    first = min(_triggered(alerts, "hour"), key=lambda a: a["window"]["start_ms"])
    joint = first["features"][0]
    assert joint["name"] == "joint" and joint["kind"] == "joint"
    assert joint["hints"]["pairs"][0]["pair"] == ["j0", "j1"]
    assert joint["hints"]["pairs"][0]["rho_window"] < -0.4
    # Marginals did not move: no feature pages.
    paged = {f["name"] for a in _triggered(alerts) for f in a["features"] if f["breach"]}
    assert paged == {"joint"}
    assert _triggered(alerts, "day"), "the onset day's window pages too"
    # Elsewhere the joint member never pages on its own (grouped behind the feature).
    for model, other in outcome.items():
        if model == "corr":
            continue
        for a in _triggered(other):
            names = [f["name"] for f in a["features"] if f["breach"]]
            assert names != ["joint"], (model, a["summary"])


def test_j_a_day_scale_share_move_pages_on_the_trailing_day_before_the_day_closes(
    outcome: dict[str, list[dict[str, Any]]],
) -> None:
    alerts = outcome["trailing"]
    onset = START + 30 * HOUR
    trailing = _triggered(alerts, "trailing_day")
    assert trailing, alerts
    assert all(_end(a) > onset for a in alerts)
    first = min(trailing, key=_end)
    assert first["schema_version"] == 4 and first["baseline"] == "reference"
    assert first["window"]["end_ms"] - first["window"]["start_ms"] == DAY
    assert first["features"][0]["name"] == "t2"
    # Hours after the onset, and before the calendar day holding it closes (18 h).
    assert onset < _end(first) <= onset + 12 * HOUR
    assert all(_end(a) > _end(first) for a in alerts if a["window"]["scale"] != "trailing_day")
    # Its links open the hour that closed it (a trailing day is not a stored window).
    closing = first["window"]["end_ms"] - HOUR
    key = "hour:" + dt.datetime.fromtimestamp(closing / 1000, tz=dt.UTC).strftime("%Y-%m-%dT%H")
    assert f"window={key}" in first["dashboard_url"]
