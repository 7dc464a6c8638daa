"""Alerts: deterministic JSON, the published JSON Schema, PagerDuty v2 and Alertmanager v4."""

from __future__ import annotations

import json
import math
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

import stream
from stream.core.alert import (
    Alert,
    alert_schema,
    alertmanager_payload,
    build_alert,
    dashboard_url,
    pagerduty_event,
)
from stream.core.decide import Decision
from stream.core.lifecycle import AlertEvent, AlertState, LifecycleRules, step
from stream.core.window import HOUR_MS, WindowKey

T0 = 1_767_618_000_000  # 2026-01-05T13:00Z
BASE = "https://drift.example.com"
RUNBOOK = "https://runbooks.example.com/drift"

# Official field lists.
# PagerDuty Events API v2 (developer.pagerduty.com, "Send an Alert Event").
PD_TOP = {"routing_key", "event_action", "dedup_key", "payload", "images", "links", "client",
          "client_url"}  # fmt: skip
PD_PAYLOAD = {"summary", "source", "severity", "timestamp", "component", "group", "class",
              "custom_details"}  # fmt: skip
PD_PAYLOAD_REQUIRED = {"summary", "source", "severity"}
PD_SEVERITY = {"critical", "error", "warning", "info"}
# Alertmanager webhook_config payload, version 4 (prometheus.io/docs/alerting/latest/configuration).
AM_TOP = {"version", "groupKey", "truncatedAlerts", "status", "receiver", "groupLabels",
          "commonLabels", "commonAnnotations", "externalURL", "alerts"}  # fmt: skip
AM_ALERT = {"status", "labels", "annotations", "startsAt", "endsAt", "generatorURL", "fingerprint"}
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")


def decision(feature: str, ratio: float, kind: str = "numeric") -> Decision:
    return Decision(
        feature=feature,
        breach=ratio >= 1,
        effect=0.1 * ratio,
        effect_metric="mean_shift" if kind == "numeric" else "linf",
        threshold=0.1,
        p_value=1e-12,
        confidence=1.0,
        p_drift=0.999,
        magnitude=0.1 * ratio,
        ci=(0.1 * ratio - 0.02, math.nan),
        severity="critical" if ratio >= 2 else "warning",
        reasons=("mean_shift 0.25 beyond 0.1 (p=1e-12)",),
        metrics={"mean_shift": (0.1 * ratio, 0.1, 1e-12), "ks": (math.nan, 0.05, math.nan)},
        kind=kind,
        n_window=1500,
        ratio=ratio,
        ranked=("mean_shift",),
    )


def events() -> list[AlertEvent]:
    rules = LifecycleRules(consecutive_breaches=2, resolve_after=1)
    s = AlertState("fraud-v3", "hour", "reference")
    out: list[AlertEvent] = []
    windows = [
        [decision("amount", 2.5), decision("country", 1.2, "categorical")],
        [decision("amount", 2.5), decision("country", 1.2, "categorical")],
        [decision("amount", 0.1), decision("country", 0.1, "categorical")],
    ]
    for i, ds in enumerate(windows):
        s, evs = step(s, WindowKey("hour", T0 + i * HOUR_MS), ds, rules)
        out.extend(evs)
    return out


@pytest.fixture(scope="module")
def alerts() -> list[Alert]:
    return [build_alert(e, dashboard_base=BASE, runbook_url=RUNBOOK) for e in events()]


def test_alert_fields_and_deterministic_json(alerts: list[Alert]) -> None:
    triggered, resolved = alerts
    assert (triggered.status, resolved.status) == ("triggered", "resolved")
    assert triggered.dedup_key == resolved.dedup_key
    assert triggered.window.key == "hour:2026-01-05T14"
    assert triggered.window.start == "2026-01-05T14:00:00.000Z"
    assert triggered.window.end_ms - triggered.window.start_ms == HOUR_MS
    assert triggered.first_seen == "2026-01-05T13:00:00.000Z"
    assert [f.name for f in triggered.features] == ["amount", "country"]
    assert triggered.severity == "critical"
    assert triggered.producer_version == stream.__version__
    assert triggered.runbook_url == RUNBOOK
    assert (
        triggered.dashboard_url
        == f"{BASE}/models/fraud-v3?window=hour:2026-01-05T14&feature=amount"
    )
    assert "fraud-v3" in triggered.summary and "amount, country" in triggered.summary
    assert "mean_shift" in triggered.description
    data = triggered.to_json()
    assert data == build_alert(events()[0], dashboard_base=BASE, runbook_url=RUNBOOK).to_json()
    assert b"NaN" not in data and json.loads(data)["features"][0]["ci_high"] is None
    assert Alert.from_json(data).to_json() == data


def test_alerts_validate_against_the_published_schema(alerts: list[Alert]) -> None:
    schema = alert_schema()
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema)
    for a in alerts:
        validator.validate(json.loads(a.to_json()))
    bad = json.loads(alerts[0].to_json())
    bad["status"] = "firing"
    assert not validator.is_valid(bad)
    del bad["dedup_key"]
    assert len(list(validator.iter_errors(bad))) == 2


@settings(max_examples=40, deadline=None)
@given(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=0, max_value=1) | st.just(math.nan),
    st.text(min_size=1, max_size=30),
)
def test_any_numbers_and_text_stay_valid_json(value: float, p: float, reason: str) -> None:
    d = Decision(
        feature="f",
        breach=True,
        effect=value,
        effect_metric="ks",
        threshold=value,
        p_value=p,
        confidence=1 - p,
        p_drift=p,
        magnitude=value,
        ci=(value, value),
        severity="warning",
        reasons=(reason,),
        metrics={"ks": (value, value, p)},
        ratio=value,
    )
    rules = LifecycleRules(consecutive_breaches=1)
    _, evs = step(AlertState("m", "day", "seasonal"), WindowKey("day", 0), [d], rules)
    a = build_alert(evs[0], dashboard_base=BASE)
    doc = json.loads(a.to_json())
    Draft202012Validator(alert_schema()).validate(doc)
    assert Alert.from_json(a.to_json()).to_json() == a.to_json()


def test_dashboard_url_encodes() -> None:
    w = WindowKey("day", 1_767_571_200_000)
    assert dashboard_url(BASE + "/", "m-1", w) == f"{BASE}/models/m-1?window=day:2026-01-05"
    assert dashboard_url(BASE, "m", w, "a b&c") == (
        f"{BASE}/models/m?window=day:2026-01-05&feature=a%20b%26c"
    )


def test_pagerduty_trigger_and_resolve_shapes(alerts: list[Alert]) -> None:
    trig = pagerduty_event(alerts[0], "R0UTINGKEY")
    assert set(trig) <= PD_TOP and {"routing_key", "event_action", "payload"} <= set(trig)
    assert trig["event_action"] == "trigger" and trig["dedup_key"] == alerts[0].dedup_key
    payload = trig["payload"]
    assert PD_PAYLOAD_REQUIRED <= set(payload) <= PD_PAYLOAD
    assert payload["severity"] in PD_SEVERITY
    assert len(payload["summary"]) <= 1024 and RFC3339.match(payload["timestamp"])
    assert isinstance(payload["custom_details"], dict)
    assert all(set(link) == {"href", "text"} for link in trig["links"])
    assert {link["href"] for link in trig["links"]} == {alerts[0].dashboard_url, RUNBOOK}
    json.dumps(trig, allow_nan=False)
    res = pagerduty_event(alerts[1], "R0UTINGKEY")
    assert res == {
        "routing_key": "R0UTINGKEY",
        "event_action": "resolve",
        "dedup_key": alerts[0].dedup_key,
    }


def test_pagerduty_summary_is_capped() -> None:
    many = [decision(f"feature_{i:03d}_" + "x" * 60, 1.5) for i in range(40)]
    rules = LifecycleRules(consecutive_breaches=1)
    _, evs = step(AlertState("m", "hour", "reference"), WindowKey("hour", T0), many, rules)
    a = build_alert(evs[0], dashboard_base=BASE)
    assert len(a.summary) <= 1024 and "+35 more" in a.summary
    assert len(pagerduty_event(a, "k")["payload"]["summary"]) <= 1024


def test_alertmanager_payload_shape(alerts: list[Alert]) -> None:
    body = alertmanager_payload(alerts, "drift-pager", "http://alertmanager:9093")
    assert set(body) == AM_TOP
    assert body["version"] == "4" and body["truncatedAlerts"] == 0
    assert body["status"] == "firing"
    assert body["groupLabels"] == {
        "alertname": "FeatureDrift",
        "model": "fraud-v3",
        "scale": "hour",
    }
    assert body["groupKey"] == '{}:{alertname="FeatureDrift", model="fraud-v3", scale="hour"}'
    common = body["commonLabels"]
    assert common["model"] == "fraud-v3" and common["dedup_key"] == alerts[0].dedup_key
    assert "summary" not in body["commonAnnotations"]  # triggered and resolved differ
    firing, resolved = body["alerts"]
    for item in body["alerts"]:
        assert set(item) == AM_ALERT
        assert re.fullmatch(r"[0-9a-f]{16}", item["fingerprint"])
        assert RFC3339.match(item["startsAt"]) and RFC3339.match(item["endsAt"])
        assert all(isinstance(v, str) for v in {**item["labels"], **item["annotations"]}.values())
    assert firing["status"] == "firing" and firing["endsAt"] == "0001-01-01T00:00:00Z"
    assert resolved["status"] == "resolved" and resolved["endsAt"] == alerts[1].window.end
    assert firing["annotations"]["runbook_url"] == RUNBOOK
    only_resolved = alertmanager_payload(alerts[1:], "r", "http://am")
    assert only_resolved["status"] == "resolved"
    json.dumps(body, allow_nan=False)
