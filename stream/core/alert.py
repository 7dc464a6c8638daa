"""The alert on the alerts topic, its JSON Schema, and PagerDuty / Alertmanager payloads.

An :class:`Alert` is built from a lifecycle :class:`~stream.core.lifecycle.AlertEvent`
plus deployment links (:func:`build_alert`). ``to_json`` gives deterministic bytes
(sorted keys, no NaN: non-finite numbers become ``null``), so a re-emitted alert is
byte-identical. ``stream/core/schemas/alert.schema.json`` (draft 2020-12) describes
them; :func:`alert_schema` loads it. The payload builders are pure: the forwarder in
``stream.adapters`` only POSTs what they return.

>>> dashboard_url("https://dash.example", "fraud-v3", WindowKey("hour", 1767618000000), "amount")
'https://dash.example/models/fraud-v3?window=hour:2026-01-05T13&feature=amount'
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from stream import __version__
from stream.core.alert_text import change, signed
from stream.core.before_after import BeforeAfter
from stream.core.decide import Decision
from stream.core.lifecycle import AlertEvent
from stream.core.nullspread import none_to_nan
from stream.core.records import to_builtins
from stream.core.window import TRAILING_DAY, WindowKey, format_iso_ms

__all__ = [
    "HEALTH_SCHEMA_VERSION",
    "SCHEMA_VERSION",
    "TRAILING_SCHEMA_VERSION",
    "VALUES_SCHEMA_VERSION",
    "Alert",
    "AlertWindow",
    "FeatureDrift",
    "alert_schema",
    "alertmanager_payload",
    "build_alert",
    "dashboard_url",
    "pagerduty_event",
]

SCHEMA_VERSION = 1
#: Version of model-health alerts (``kind`` label / performance): v1 plus ``kind``.
HEALTH_SCHEMA_VERSION = 2
#: Feature alerts whose features carry before → after ``values``: v1 plus that field.
VALUES_SCHEMA_VERSION = 3
#: Feature alerts about a trailing day (window scale ``trailing_day``, hour-aligned
#: 24 h; links open the hour that closed it): v3 plus that scale and key form.
TRAILING_SCHEMA_VERSION = 4
PRODUCER = "driftstream"
_SUMMARY_MAX = 1024  # PagerDuty's limit on payload.summary
_AM_ZERO_TIME = "0001-01-01T00:00:00Z"  # Alertmanager's "no end" for a firing alert
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~:")


def _quote(text: str) -> str:
    """Percent-encode for a URL path segment or query value (core may not import urllib)."""
    return "".join(
        c if c in _UNRESERVED else "".join(f"%{b:02X}" for b in c.encode()) for c in text
    )


def dashboard_url(
    base: str,
    model: str,
    window: WindowKey,
    feature: str | None = None,
    namespace: str | None = None,
) -> str:
    """The dashboard view of a model in a window, optionally focused on one feature.

    ``namespace``: a replay's (its alerts open the replay's results, not live data).
    A trailing day is not a stored window: its link opens the hour that closed it.
    """
    if window.scale == TRAILING_DAY:
        window = window.closing_hour()
    url = f"{base.rstrip('/')}/models/{_quote(model)}?window={_quote(str(window))}"
    url += f"&feature={_quote(feature)}" if feature else ""
    return url + (f"&namespace={_quote(namespace)}" if namespace else "")


@dataclass(frozen=True)
class AlertWindow:
    """The window an alert event is about, in epoch ms and RFC 3339 UTC."""

    scale: str
    start_ms: int
    end_ms: int
    start: str
    end: str
    key: str

    @classmethod
    def of(cls, w: WindowKey) -> AlertWindow:
        """From a window key.

        >>> AlertWindow.of(WindowKey("day", 1767571200000)).key
        'day:2026-01-05'
        """
        return cls(
            w.scale,
            w.start_ms,
            w.end_ms,
            format_iso_ms(w.start_ms),
            format_iso_ms(w.end_ms),
            str(w),
        )


@dataclass(frozen=True)
class FeatureDrift:
    """One feature of an alert: its top metric, threshold, confidence and every metric."""

    name: str
    kind: str
    breach: bool
    severity: str
    effect_metric: str
    effect: float
    threshold: float
    ratio: float
    p_value: float
    p_drift: float
    magnitude: float
    ci_low: float
    ci_high: float
    reasons: tuple[str, ...]
    metrics: Mapping[str, tuple[float, float, float]]
    dashboard_url: str
    hints: Mapping[str, Any] = field(default_factory=dict)
    """Root-cause hints of the ``joint`` member (pairs, columns); empty for features."""
    values: BeforeAfter | None = None
    """The headline quantity before → after (mean, a category's share, null share)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (``records``): ``metrics`` as objects; ``hints``, ``values`` when set."""
        out = to_builtins(self)
        out["metrics"] = {
            m: {"p_value": p, "threshold": t, "value": v} for m, (v, t, p) in out["metrics"].items()
        }
        if not self.hints:
            del out["hints"]
        del out["values"]
        if self.values is not None:
            out["values"] = self.values.to_dict()
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FeatureDrift:
        """Inverse of :meth:`to_dict`."""
        return cls(
            name=str(d["name"]),
            kind=str(d["kind"]),
            breach=bool(d["breach"]),
            severity=str(d["severity"]),
            effect_metric=str(d["effect_metric"]),
            effect=none_to_nan(d["effect"]),
            threshold=none_to_nan(d["threshold"]),
            ratio=none_to_nan(d["ratio"]),
            p_value=none_to_nan(d["p_value"]),
            p_drift=none_to_nan(d["p_drift"]),
            magnitude=none_to_nan(d["magnitude"]),
            ci_low=none_to_nan(d["ci_low"]),
            ci_high=none_to_nan(d["ci_high"]),
            reasons=tuple(d["reasons"]),
            metrics={
                m: (none_to_nan(x["value"]), none_to_nan(x["threshold"]), none_to_nan(x["p_value"]))
                for m, x in d["metrics"].items()
            },
            dashboard_url=str(d["dashboard_url"]),
            hints=dict(d.get("hints") or {}),
            values=BeforeAfter.from_dict(d["values"]) if d.get("values") else None,
        )


@dataclass(frozen=True)
class Alert:
    """One message on the alerts topic (key = ``dedup_key``); fields as in DESIGN.md."""

    alert_id: str
    dedup_key: str
    status: str
    severity: str
    model: str
    window: AlertWindow
    baseline: str
    first_seen_ms: int
    first_seen: str
    features: tuple[FeatureDrift, ...]
    summary: str
    description: str
    dashboard_url: str
    runbook_url: str | None
    producer: str = PRODUCER
    producer_version: str = __version__
    schema_version: int = SCHEMA_VERSION
    kind: str = "feature"

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (what :meth:`to_json` serialises); ``kind`` only on v2 alerts."""
        out = to_builtins(self)
        out["features"] = [f.to_dict() for f in self.features]
        if self.kind == "feature":
            del out["kind"]
        return out

    def to_json(self) -> bytes:
        """Deterministic UTF-8 JSON bytes: sorted keys, compact, no NaN."""
        text = json.dumps(
            self.to_dict(),
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
            allow_nan=False,
        )
        return text.encode()

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Alert:
        """Inverse of :meth:`to_dict`."""
        w = d["window"]
        return cls(
            alert_id=str(d["alert_id"]),
            dedup_key=str(d["dedup_key"]),
            status=str(d["status"]),
            severity=str(d["severity"]),
            model=str(d["model"]),
            window=AlertWindow(
                str(w["scale"]),
                int(w["start_ms"]),
                int(w["end_ms"]),
                str(w["start"]),
                str(w["end"]),
                str(w["key"]),
            ),
            baseline=str(d["baseline"]),
            first_seen_ms=int(d["first_seen_ms"]),
            first_seen=str(d["first_seen"]),
            features=tuple(FeatureDrift.from_dict(f) for f in d["features"]),
            summary=str(d["summary"]),
            description=str(d["description"]),
            dashboard_url=str(d["dashboard_url"]),
            runbook_url=None if d.get("runbook_url") is None else str(d["runbook_url"]),
            producer=str(d["producer"]),
            producer_version=str(d["producer_version"]),
            schema_version=int(d["schema_version"]),
            kind=str(d.get("kind", "feature")),
        )

    @classmethod
    def from_json(cls, data: bytes | str) -> Alert:
        """Parse :meth:`to_json` output."""
        return cls.from_dict(json.loads(data))


def _feature(
    d: Decision, base: str, model: str, window: WindowKey, namespace: str | None
) -> FeatureDrift:
    effect, magnitude, ci_low, ci_high = signed(d)
    return FeatureDrift(
        name=d.feature,
        kind=d.kind,
        breach=d.breach,
        severity=d.severity,
        effect_metric=d.effect_metric,
        effect=effect,
        threshold=d.threshold,
        ratio=d.ratio,
        p_value=d.p_value,
        p_drift=d.p_drift,
        magnitude=magnitude,
        ci_low=ci_low,
        ci_high=ci_high,
        reasons=d.reasons,
        metrics=d.metrics,
        # The joint member has no feature page: its link opens the window (its decision
        # and reasons are in the window's table).
        dashboard_url=dashboard_url(
            base, model, window, None if d.kind == "joint" else d.feature, namespace
        ),
        hints=d.details,
        values=d.values,
    )


def _g3(x: float) -> str:
    return "n/a" if not math.isfinite(x) else f"{x:.3g}"


def _summary(e: AlertEvent) -> str:
    names = [d.feature for d in e.decisions]
    shown = ", ".join(names[:5]) + (f" +{len(names) - 5} more" if len(names) > 5 else "")
    what = "recovered" if e.status == "resolved" else "drift"
    if e.kind == "feature":
        head = f"[{e.severity}] {e.model}: {what} in {len(names)} feature"
        head += "s" if len(names) != 1 else ""
    else:
        what = "recovered" if e.status == "resolved" else "degraded"
        head = f"[{e.severity}] {e.model}: {e.kind} {what} in {len(names)} measure"
        head += "s" if len(names) != 1 else ""
    text = f"{head} ({shown}) — {e.window} vs {e.baseline}"
    moved = [f"{d.feature} {c}" for d in e.decisions[:3] if (c := change(d))]
    if moved and e.status != "resolved":
        text += ": " + "; ".join(moved)
    return text[: _SUMMARY_MAX - 1] + "…" if len(text) > _SUMMARY_MAX else text


def _description(e: AlertEvent) -> str:
    lines = [
        f"Model {e.model}, {e.scale} window {e.window} compared with the {e.baseline} "
        f"baseline; first breach {format_iso_ms(e.first_seen_ms)}.",
    ]
    for d in e.decisions:
        effect, magnitude, lo, hi = signed(d)
        what = change(d)
        lines.append(
            f"- {d.feature} ({d.kind}): {what + '; ' if what else ''}"
            f"{d.effect_metric} = {_g3(effect)} vs threshold "
            f"{_g3(d.threshold)} (p = {_g3(d.p_value)}, P(drift) = {_g3(d.p_drift)}); "
            f"magnitude {_g3(magnitude)} [{_g3(lo)}, {_g3(hi)}]"
        )
        lines.extend(f"    {r}" for r in d.reasons[:3])
    return "\n".join(lines)


def build_alert(
    event: AlertEvent,
    *,
    dashboard_base: str,
    runbook_url: str | None = None,
    producer_version: str = __version__,
    namespace: str | None = None,
) -> Alert:
    """The alerts-topic message for a lifecycle event.

    Args:
        event: from :func:`stream.core.lifecycle.step`.
        dashboard_base: dashboard base URL, e.g. ``https://drift.example.com``.
        runbook_url: the model's runbook (``AlertRules.runbook_url`` or the default).
        producer_version: version stamped on the alert (``stream.__version__``).
        namespace: a replay's namespace, for its dashboard links (None: live).
    """
    top = event.decisions[0].feature if event.decisions else None
    version = SCHEMA_VERSION
    if event.kind != "feature":
        version = HEALTH_SCHEMA_VERSION
    elif event.window.scale == TRAILING_DAY:
        version = TRAILING_SCHEMA_VERSION
    elif any(d.values is not None for d in event.decisions):
        version = VALUES_SCHEMA_VERSION
    return Alert(
        alert_id=event.alert_id,
        dedup_key=event.dedup_key,
        status=event.status,
        severity=event.severity,
        model=event.model,
        window=AlertWindow.of(event.window),
        baseline=event.baseline,
        first_seen_ms=event.first_seen_ms,
        first_seen=format_iso_ms(event.first_seen_ms),
        features=tuple(
            _feature(d, dashboard_base, event.model, event.window, namespace)
            for d in event.decisions
        ),
        summary=_summary(event),
        description=_description(event),
        dashboard_url=dashboard_url(dashboard_base, event.model, event.window, top, namespace),
        runbook_url=runbook_url,
        producer_version=producer_version,
        # Model-health alerts carry their kind: schema v2; feature alerts with before → after
        # values v3; feature alerts without them stay v1, byte for byte.
        schema_version=version,
        kind=event.kind,
    )


def alert_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of :meth:`Alert.to_dict`, shipped as package data."""
    text = resources.files("stream.core").joinpath("schemas/alert.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


# ---------------------------------------------------------------- forwarder payloads


def pagerduty_event(alert: Alert, routing_key: str, *, source: str | None = None) -> dict[str, Any]:
    """PagerDuty Events API v2 body (POST https://events.pagerduty.com/v2/enqueue).

    ``triggered`` → ``event_action: trigger`` with the full payload; ``resolved`` →
    ``resolve`` with only the routing and dedup keys, which is all PagerDuty reads.
    """
    if alert.status == "resolved":
        return {"routing_key": routing_key, "event_action": "resolve", "dedup_key": alert.dedup_key}
    details = {
        "alert_id": alert.alert_id,
        "window": alert.window.key,
        "baseline": alert.baseline,
        "first_seen": alert.first_seen,
        "features": {f.name: f.to_dict() for f in alert.features},
        "description": alert.description,
        "producer": f"{alert.producer} {alert.producer_version}",
    }
    links = [{"href": alert.dashboard_url, "text": "Drift dashboard"}]
    if alert.runbook_url:
        links.append({"href": alert.runbook_url, "text": "Runbook"})
    return {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": alert.dedup_key,
        "payload": {
            "summary": alert.summary[:_SUMMARY_MAX],
            "source": source or f"{PRODUCER}/{alert.model}",
            "severity": alert.severity,
            "timestamp": alert.window.end,
            "component": alert.features[0].name if alert.features else alert.model,
            "group": alert.model,
            "class": f"feature drift ({alert.window.scale})",
            "custom_details": details,
        },
        "links": links,
        "client": PRODUCER,
        "client_url": alert.dashboard_url,
    }


def _labels(a: Alert) -> dict[str, str]:
    return {
        "alertname": "FeatureDrift",
        "model": a.model,
        "scale": a.window.scale,
        "baseline": a.baseline,
        "severity": a.severity,
        "dedup_key": a.dedup_key,
    }


def _annotations(a: Alert) -> dict[str, str]:
    out = {"summary": a.summary, "description": a.description, "dashboard_url": a.dashboard_url}
    if a.runbook_url:
        out["runbook_url"] = a.runbook_url
    return out


def _common(maps: Sequence[Mapping[str, str]]) -> dict[str, str]:
    if not maps:
        return {}
    first = maps[0]
    return {k: v for k, v in sorted(first.items()) if all(m.get(k) == v for m in maps[1:])}


def alertmanager_payload(
    alerts: Sequence[Alert], receiver: str, external_url: str
) -> dict[str, Any]:
    """Alertmanager webhook (version 4) body for a group of alerts.

    Group labels are the alert name plus the model and scale when all alerts share
    them; ``groupKey`` follows Alertmanager's ``{}:{label="value", ...}`` form. A
    fingerprint is 16 hex digits of a hash of the sorted labels, like Alertmanager's.
    """
    items, labels = [], [_labels(a) for a in alerts]
    for a, lab in zip(alerts, labels, strict=True):
        firing = a.status != "resolved"
        canon = "\x1f".join(f"{k}={v}" for k, v in sorted(lab.items()))
        items.append(
            {
                "status": "firing" if firing else "resolved",
                "labels": lab,
                "annotations": _annotations(a),
                "startsAt": a.first_seen,
                "endsAt": _AM_ZERO_TIME if firing else a.window.end,
                "generatorURL": a.dashboard_url,
                "fingerprint": hashlib.sha256(canon.encode()).hexdigest()[:16],
            }
        )
    common = _common(labels)
    group = {k: common[k] for k in ("alertname", "model", "scale") if k in common}
    key = "{}:{" + ", ".join(f'{k}="{v}"' for k, v in sorted(group.items())) + "}"
    return {
        "version": "4",
        "groupKey": key,
        "truncatedAlerts": 0,
        "status": "firing" if any(i["status"] == "firing" for i in items) else "resolved",
        "receiver": receiver,
        "groupLabels": group,
        "commonLabels": common,
        "commonAnnotations": _common([_annotations(a) for a in alerts]),
        "externalURL": external_url,
        "alerts": items,
    }
