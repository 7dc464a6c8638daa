"""Prometheus exposition of the data plane's counters (read at scrape time)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from stream.core.window import format_iso_ms
from stream.pipeline.control import ControlStats
from stream.pipeline.ports.stats import IngestStats

__all__ = ["ControlCollector", "IngestCollector", "labelled", "render"]


def labelled(
    family: type[CounterMetricFamily | GaugeMetricFamily],
    name: str,
    doc: str,
    label: str,
    samples: Iterable[tuple[str, float]],
) -> Metric:
    """A metric family with one label: one sample per ``(label value, number)``."""
    metric = family(name, doc, labels=[label])
    for value, n in samples:
        metric.add_metric([value], n)
    return metric


class IngestCollector(Collector):
    """Turns :class:`IngestStats` (plain ints) into metric families at scrape time."""

    def __init__(
        self,
        stats: Callable[[], IngestStats],
        lag: Callable[[], dict[int, int]],
        health: Callable[[], dict[str, int]],
        late_hours: Callable[[], dict[tuple[str, int], int]] | None = None,
        healthy: Callable[[], bool] | None = None,
    ) -> None:
        self._stats = stats
        self._lag = lag
        self._health = health
        self._late_hours = late_hours
        self._healthy = healthy

    def collect(self) -> Iterator[Metric]:
        """Yield every driftstream metric family."""
        s = self._stats()
        outcomes = {
            "consumed": s.consumed,
            "accepted": s.accepted,
            "unknown_model": s.unknown_model,
            "late": s.late,
        }
        yield labelled(
            CounterMetricFamily,
            "driftstream_events",
            "Feature events by outcome.",
            "outcome",
            outcomes.items(),
        )
        yield labelled(
            CounterMetricFamily,
            "driftstream_unknown_model_events",
            "Events naming a model not configured here, by that name (counted, not "
            "dead-lettered; at most 100 names, the rest as '…').",
            "model",
            sorted(s.unknown_models.items()),
        )
        yield labelled(
            CounterMetricFamily,
            "driftstream_events_rejected",
            "Events sent to the dead-letter topic.",
            "reason",
            sorted(s.rejected.items()),
        )
        yield labelled(
            CounterMetricFamily,
            "driftstream_late_events",
            "Events for hours already sealed: counted, not in any sketch.",
            "model",
            sorted(s.late_by_model.items()),
        )
        if self._late_hours is not None:
            by_hour = GaugeMetricFamily(
                "driftstream_late_events_by_hour",
                "Late events per model and event hour on this worker's partitions (48 h).",
                labels=["model", "hour"],
            )
            for (model, hour), n in self._late_hours().items():
                by_hour.add_metric([model, format_iso_ms(hour)[:13]], n)
            yield by_hour
        yield CounterMetricFamily(
            "driftstream_undeclared_overflow",
            "Undeclared feature keys beyond ingest.max_undeclared_keys per model-hour: "
            "counted, not tracked by name.",
            value=s.undeclared_overflow,
        )
        if self._healthy is not None:
            yield GaugeMetricFamily(
                "driftstream_healthy", "1 when /health is 200.", value=int(self._healthy())
            )
        yield CounterMetricFamily("driftstream_batches", "Batches consumed.", value=s.batches)
        yield CounterMetricFamily(
            "driftstream_batch_records", "Records in consumed batches.", value=s.batch_records
        )
        yield CounterMetricFamily(
            "driftstream_stale_records",
            "Records fetched before their partition was re-claimed: dropped, read again.",
            value=s.stale_records,
        )
        yield CounterMetricFamily("driftstream_flushes", "Successful flushes.", value=s.flushes)
        yield CounterMetricFamily(
            "driftstream_flush_errors", "Flushes that failed.", value=s.flush_errors
        )
        yield CounterMetricFamily(
            "driftstream_seal_notices", "Hour-sealed notices published.", value=s.notices
        )
        h = s.flush_latency
        cumulative, buckets = 0, []
        for bound, n in zip([*map(str, h.bounds), "+Inf"], h.counts, strict=True):
            cumulative += n
            buckets.append((bound, cumulative))
        hist = HistogramMetricFamily(
            "driftstream_flush_seconds", "Flush latency (dead letters + Redis + notices)."
        )
        hist.add_metric([], buckets, sum_value=h.total)
        yield hist
        yield labelled(
            GaugeMetricFamily,
            "driftstream_consumer_lag",
            "Records behind the partition end.",
            "partition",
            [(str(p), n) for p, n in sorted(self._lag().items())],
        )
        yield labelled(
            CounterMetricFamily,
            "driftstream_backend_errors",
            "Redis/Kafka errors seen.",
            "backend",
            sorted(self._health().items()),
        )


class ControlCollector(Collector):
    """``driftstream_control_total{event}``: the control plane's counters.

    Seal notices, rollups, and windows resumed after a crash, expired, whose evaluation
    raised (each attempt) or were given up on after ``evaluate.max_attempts``.
    """

    def __init__(self, stats: Callable[[], ControlStats]) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        """Yield the control-plane metric family."""
        s = self._stats()
        yield labelled(
            CounterMetricFamily,
            "driftstream_control",
            "Control-plane events: seal notices (own and foreign), hours and days rolled up, "
            "windows resumed, expired, evaluation errors and windows given up on.",
            "event",
            [
                ("notices", s.notices),
                ("foreign_notices", s.foreign_notices),
                ("hours_rolled", s.hours_rolled),
                ("days_rolled", s.days_rolled),
                ("windows_resumed", s.windows_resumed),
                ("windows_expired", s.windows_expired),
                ("eval_errors", s.eval_errors),
                ("windows_failed", s.windows_failed),
            ],
        )


def render(collector: Collector, *more: Collector) -> bytes:
    """The text exposition format of the collectors."""
    registry = CollectorRegistry(auto_describe=False)
    for c in (collector, *more):
        registry.register(c)
    return generate_latest(registry)
