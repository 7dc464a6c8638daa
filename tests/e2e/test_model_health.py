"""End to end on real Kafka + Redis: labelled reference → predictions + late labels →
worker → a label-shift alert on the alerts topic (and nothing on the stationary days)."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import jsonschema
import numpy as np
import orjson
import pytest
import redis
from kafka.admin import KafkaAdminClient

from stream.adapters.redis_keys import Keys
from stream.adapters.redis_refs import RedisReferences
from stream.catalog import ModelSpec
from stream.core.alert import alert_schema
from stream.pipeline.reference import ReferenceBuilder, calibration_of
from tests.integration.worker_harness import (
    START_MS,
    end_offsets,
    labelled_deployment,
    read_topic,
    send,
    wait_until,
)

pytestmark = pytest.mark.e2e

HOUR = 3_600_000
DAY = 24 * HOUR
PER_HOUR = 500
DAYS = 5
SHIFT_DAY = 2
A, B = -3.0, 1.7
SHIFTED_A = -2.42  # positive rate 10.95 % -> 15.95 % (+5.0 points; E over z ~ N(0, 1))
HEALTH_TOML = f"""
[models.health-m]
prediction = "numeric"
reference = {{ source = "redis", name = "training" }}
labels = {{ positive = 1, negative = 0, threshold = 0.5, max_label_delay_ms = {6 * HOUR} }}
[models.health-m.features]
x = "numeric"
[models.health-m.alerts]
windows = ["day"]
baselines = ["reference"]
"""
SPEC = ModelSpec.model_validate(
    {
        "name": "health-m",
        "features": {"x": "numeric"},
        "prediction": "numeric",
        "reference": {"source": "redis", "name": "training"},
        "labels": {"max_label_delay_ms": 6 * HOUR},
        "alerts": {"windows": ["day"], "baselines": ["reference"]},
    }
)


def _events(start: int, n_hours: int, per_hour: int, seed: int, shift_from: int | None) -> tuple:
    """Feature events and their labels (label events carry the score; 1-5 h late)."""
    rng = np.random.default_rng(seed)
    feats: list[tuple[bytes, int]] = []
    labels: list[tuple[bytes, int]] = []
    n = n_hours * per_hour
    ts = start + (np.arange(n) * HOUR) // per_hour
    z = rng.normal(0, 1, n)
    s = np.round(1 / (1 + np.exp(-(A + B * z))), 6)
    la = np.where(shift_from is not None and ts >= (shift_from or 0), SHIFTED_A, A)
    y = rng.random(n) < 1 / (1 + np.exp(-(la + B * z)))
    late = rng.integers(HOUR, 5 * HOUR, n)
    for i in range(n):
        t = int(ts[i])
        ev = {"model": "health-m", "id": f"p{seed}-{i}", "ts": t}
        feats.append(
            (orjson.dumps({**ev, "features": {"x": float(z[i])}, "prediction": float(s[i])}), t)
        )
        lab = {**ev, "label": int(y[i]), "prediction": float(s[i])}
        labels.append((orjson.dumps(lab), t + int(late[i])))
    return feats, labels


def _get(port: int, path: str) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as resp:
        return str(resp.read().decode())


def _alerts(bootstrap: str, topic: str) -> list[dict[str, Any]]:
    return [json.loads(m.value) for m in read_topic(bootstrap, topic)]


@pytest.fixture(scope="module")
def run(
    kafka_bootstrap: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[list[dict[str, Any]], redis.Redis, str]]:
    tmp = tmp_path_factory.mktemp("health")
    d, names = labelled_deployment(kafka_bootstrap, redis_url, tmp, HEALTH_TOML)
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    r = redis.Redis.from_url(redis_url)
    replay_ns = f"{d.namespace}-replay"
    statuses.clear()
    try:
        ref_feats, ref_labels = _events(START_MS - 7 * DAY, 7 * 24, 200, 1, None)
        builder = ReferenceBuilder(SPEC, "training")
        # Reference events carry their label (what a training set has).
        for (fv, ft), (lv, _) in zip(ref_feats, ref_labels, strict=True):
            ev = orjson.loads(fv)
            ev["label"] = orjson.loads(lv)["label"]
            builder.add([orjson.dumps(ev)], [ft])
        ref = builder.build()
        assert ref.performance is not None and ref.performance.n == 7 * 24 * 200
        RedisReferences(r, d.namespace).save(ref, calibration_of(ref, SPEC, PER_HOUR))
        feats, labels = _events(START_MS, DAYS * 24, PER_HOUR, 5, START_MS + SHIFT_DAY * DAY)
        labels.sort(key=lambda v: v[1])
        # Labels first (keyed by id → one partition each: the i-th value goes to i mod 3,
        # and every id appears once), so every window's labels are in before it is judged.
        send(kafka_bootstrap, names["labels"], labels, partitions=3)
        worker = d.start_worker()
        ends = end_offsets(kafka_bootstrap, names["labels"], 3)

        def labels_in() -> bool:
            got = {}
            for p in range(3):
                v = r.hget(f"ds:{{{d.namespace}|health-m|{p}}}:lpart", "offset")
                got[p] = int(v) if v else 0
            return got == ends

        wait_until(labels_in, 300, f"labels ingested\n{d.logs()}")
        send(kafka_bootstrap, names["features"], feats, partitions=3)
        key = Keys(d.namespace).health_states("health-m")
        wait_until(
            lambda: (
                r.exists(Keys(d.namespace).health_decisions("health-m", "day", START_MS + 3 * DAY))
                == 1
            ),
            300,
            f"day 3 judged\n{d.logs()}",
        )
        wait_until(lambda: bool(_alerts(kafka_bootstrap, names["alerts"])), 300, "an alert")
        assert r.exists(key)
        # The same range replayed (features, then the labels topic up to the range end +
        # max_label_delay_ms) into its own namespace, while the worker still runs.
        out = tmp / "replay-alerts.jsonl"
        done = d.cli(
            "replay",
            "--from",
            str(START_MS),
            "--to",
            str(START_MS + DAYS * DAY),
            "--namespace",
            replay_ns,
            "--alerts-out",
            str(out),
            "--quiet",
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        replayed = [json.loads(line) for line in out.read_text().splitlines()]
        status = d.cli("status", "--model", "health-m", "--json")
        text = d.cli("status", "--model", "health-m")
        assert text.returncode == 0, text.stderr
        report = tmp / "report.html"
        made = d.cli(
            "report", "--model", "health-m", "--window", "day:2026-01-03", "--out", str(report)
        )
        assert made.returncode == 0, made.stderr
        port = worker.web_port  # type: ignore[attr-defined]
        api = _get(port, "/api/models/health-m/performance")
        page = _get(port, "/models/health-m/performance")
        statuses[:] = [json.loads(status.stdout), text.stdout, report.read_text(), api, page]
        yield _alerts(kafka_bootstrap, names["alerts"]), r, d.namespace, replayed
    finally:
        d.stop_all()
        for ns in (d.namespace, replay_ns):
            for k in r.scan_iter(match=Keys(ns).pattern(), count=1000):
                r.delete(k)
        admin.delete_topics(list(names.values()))
        admin.close()


statuses: list[Any] = []
Run = tuple[list[dict[str, Any]], redis.Redis, str, list[dict[str, Any]]]


def test_label_shift_pages_on_its_day_and_nothing_before(run: Run) -> None:
    alerts, r, ns, _ = run
    for a in alerts:
        jsonschema.validate(a, alert_schema())
    health = [a for a in alerts if a.get("kind") in ("label", "performance")]
    assert all(int(a["window"]["start_ms"]) >= START_MS + SHIFT_DAY * DAY for a in health)
    label = [a for a in health if a["kind"] == "label" and a["status"] == "triggered"]
    assert [a["window"]["start_ms"] for a in label] == [START_MS + SHIFT_DAY * DAY], health
    f = label[0]["features"][0]
    assert f["name"] == "label:positive_share" and f["p_drift"] >= 0.99
    print(f"label shift: {f['p_drift']} {f['magnitude']} [{f['ci_low']}, {f['ci_high']}]")
    # Labels are 1-5 h late: most of the shift day's labels are in when it closes, so it
    # is judged then (coverage point 50 %), a day before its final labels.
    assert "judged at 50 %" in f["reasons"][-1] or "judged at 90 %" in f["reasons"][-1]
    assert f["ci_low"] <= 0.05 <= f["ci_high"], f
    # Estimates were judged too, and stayed quiet: the inputs did not move.
    decided = json.loads(
        r.get(Keys(ns).health_decisions("health-m", "day", START_MS + 3 * DAY)) or b"[]"
    )
    est = [d for d in decided if d["kind"] == "estimated"]
    assert est and not any(d["breach"] for d in est)


def test_replay_judges_the_labels_as_live_did(run: Run) -> None:
    """Replay = live with labels: the same decisions on every window live judged, the same
    health alerts."""
    alerts, r, ns, replayed = run
    keys = Keys(ns)
    again = Keys(f"{ns}-replay")
    compared = 0
    for day in range(DAYS):
        live = r.get(keys.health_decisions("health-m", "day", START_MS + day * DAY))
        if live is None:
            continue  # live has not closed this day (no later event): replay has
        got = r.get(again.health_decisions("health-m", "day", START_MS + day * DAY))
        assert got is not None, f"replay did not judge day {day}"
        assert json.loads(got) == json.loads(live), f"day {day}"
        compared += 1
    assert compared >= 3
    last = START_MS + (compared - 1) * DAY

    def health(xs: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        return sorted(
            (a["kind"], a["status"], a["window"]["start_ms"], a["alert_id"])
            for a in xs
            if a.get("kind") in ("label", "performance") and a["window"]["start_ms"] <= last
        )

    assert health(alerts) and health(replayed) == health(alerts)


def test_status_shows_label_delay_and_coverage(run: Run) -> None:
    """``driftstream status``: label counts, delay percentiles, coverage by day window."""
    report, text = statuses[:2]
    lab = report["models"][0]["labels"]
    assert lab["applied"] == DAYS * 24 * PER_HOUR and lab["duplicate"] == 0
    # Labels are 1-5 h late: the median bucket is at most 4 h, p99 at most 8 h.
    assert lab["delay_hours"]["p50"] in (2.0, 4.0) and lab["delay_hours"]["p99"] <= 8.0
    assert sum(lab["delay_buckets"].values()) == lab["applied"]
    closed = [c for c in lab["coverage"] if c["predictions"]]
    assert closed and all(c["coverage"] == 1.0 for c in closed), lab["coverage"]
    assert "labels   " in text and "delay p50" in text and "coverage labels/predictions" in text
    # Labels were in before the features: no health window waits for the label consumer.
    assert lab["deferred"] == {"windows": [], "waiting_for": None}
    assert "health   no window waiting for the label consumer" in text


def test_the_performance_panel_is_in_the_report_and_the_dashboard(run: Run) -> None:
    """Realized AUC with its interval, the estimate, the reference band, coverage."""
    html, api, page = statuses[2:]
    for doc in (html, page):
        assert 'class="card perf"' in doc and 'class="realized"' in doc
        assert 'class="estimated"' in doc and 'class="ref-band"' in doc
    series = json.loads(api)
    assert series["why"] is None and series["reference"]["auc"] > 0.8
    judged = [p for p in series["points"] if p["labels"]]
    assert len(judged) >= 3
    for p in judged:
        assert p["coverage"] == 1.0 and p["auc_low"] < p["auc"] < p["auc_high"]
        assert abs(p["estimated_auc"] - p["auc"]) < 0.05
