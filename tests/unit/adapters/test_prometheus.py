"""The /metrics exposition of the data plane and label consumer counters."""

from __future__ import annotations

from stream.adapters.prometheus import ControlCollector, IngestCollector, render
from stream.adapters.prometheus_labels import HealthWaitCollector, LabelCollector
from stream.pipeline.control import ControlStats
from stream.pipeline.ports import IngestStats, LabelStats


def _lines(text: bytes) -> set[str]:
    return {line for line in text.decode().splitlines() if not line.startswith("#")}


def test_ingest_counters_by_label_and_lag_and_backend_errors() -> None:
    stats = IngestStats(consumed=10, accepted=7, unknown_model=1, late=2)
    stats.rejected = {"bad_json": 2, "ts_missing": 1}
    stats.late_by_model = {"m": 2}
    stats.flush_latency.observe(0.02)
    collector = IngestCollector(
        lambda: stats,
        lag=lambda: {1: 5, 0: 3},
        health=lambda: {"redis": 4},
        late_hours=lambda: {("m", 3_600_000): 2},
        healthy=lambda: True,
    )
    lines = _lines(render(collector))
    assert {
        'driftstream_events_total{outcome="consumed"} 10.0',
        'driftstream_events_total{outcome="accepted"} 7.0',
        'driftstream_events_total{outcome="unknown_model"} 1.0',
        'driftstream_events_total{outcome="late"} 2.0',
        'driftstream_events_rejected_total{reason="bad_json"} 2.0',
        'driftstream_events_rejected_total{reason="ts_missing"} 1.0',
        'driftstream_late_events_total{model="m"} 2.0',
        'driftstream_late_events_by_hour{hour="1970-01-01T01",model="m"} 2.0',
        'driftstream_consumer_lag{partition="0"} 3.0',
        'driftstream_consumer_lag{partition="1"} 5.0',
        'driftstream_backend_errors_total{backend="redis"} 4.0',
        "driftstream_healthy 1.0",
        "driftstream_flush_seconds_count 1.0",
    } <= lines


def test_label_counters_by_outcome_and_reason() -> None:
    stats = LabelStats(consumed=5, unknown_model=1)
    stats.outcomes = {"duplicate": 1, "applied": 3}
    stats.rejected = {"bad_json": 1}
    lines = _lines(render(LabelCollector(lambda: stats)))
    assert lines == {
        'driftstream_labels_total{outcome="consumed"} 5.0',
        'driftstream_labels_total{outcome="unknown_model"} 1.0',
        'driftstream_labels_total{outcome="applied"} 3.0',
        'driftstream_labels_total{outcome="duplicate"} 1.0',
        'driftstream_labels_rejected_total{reason="bad_json"} 1.0',
    }


def test_control_counters_by_event() -> None:
    stats = ControlStats(notices=4, hours_rolled=3, days_rolled=1, eval_errors=3, windows_failed=1)
    lines = _lines(render(ControlCollector(lambda: stats)))
    assert {
        'driftstream_control_total{event="notices"} 4.0',
        'driftstream_control_total{event="hours_rolled"} 3.0',
        'driftstream_control_total{event="days_rolled"} 1.0',
        'driftstream_control_total{event="eval_errors"} 3.0',
        'driftstream_control_total{event="windows_failed"} 1.0',
        'driftstream_control_total{event="windows_expired"} 0.0',
    } <= lines


def test_health_windows_deferred_resumed_and_waiting() -> None:
    collector = HealthWaitCollector(lambda: {"deferred": 3, "resumed": 1}, lambda: {"m": 2, "a": 1})
    assert _lines(render(collector)) == {
        'driftstream_health_windows_total{event="deferred"} 3.0',
        'driftstream_health_windows_total{event="resumed"} 1.0',
        'driftstream_health_waiting_windows{model="a"} 1.0',
        'driftstream_health_waiting_windows{model="m"} 2.0',
    }
