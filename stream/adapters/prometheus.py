"""Prometheus exposition of the data plane's counters (read at scrape time)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from stream.pipeline.dataplane import IngestStats

__all__ = ["IngestCollector", "render"]


class IngestCollector(Collector):
    """Turns :class:`IngestStats` (plain ints) into metric families at scrape time."""

    def __init__(
        self,
        stats: Callable[[], IngestStats],
        lag: Callable[[], dict[int, int]],
        health: Callable[[], dict[str, int]],
    ) -> None:
        self._stats = stats
        self._lag = lag
        self._health = health

    def collect(self) -> Iterator[Metric]:
        """Yield every driftstream metric family."""
        s = self._stats()
        events = CounterMetricFamily(
            "driftstream_events", "Feature events by outcome.", labels=["outcome"]
        )
        events.add_metric(["consumed"], s.consumed)
        events.add_metric(["accepted"], s.accepted)
        events.add_metric(["unknown_model"], s.unknown_model)
        events.add_metric(["late"], s.late)
        yield events
        rejected = CounterMetricFamily(
            "driftstream_events_rejected",
            "Events sent to the dead-letter topic.",
            labels=["reason"],
        )
        for reason, n in sorted(s.rejected.items()):
            rejected.add_metric([reason], n)
        yield rejected
        yield CounterMetricFamily("driftstream_batches", "Batches consumed.", value=s.batches)
        yield CounterMetricFamily(
            "driftstream_batch_records", "Records in consumed batches.", value=s.batch_records
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
        lag = GaugeMetricFamily(
            "driftstream_consumer_lag", "Records behind the partition end.", labels=["partition"]
        )
        for p, n in sorted(self._lag().items()):
            lag.add_metric([str(p)], n)
        yield lag
        errors = CounterMetricFamily(
            "driftstream_backend_errors", "Redis/Kafka errors seen.", labels=["backend"]
        )
        for backend, n in sorted(self._health().items()):
            errors.add_metric([backend], n)
        yield errors


def render(collector: IngestCollector) -> bytes:
    """The text exposition format of one collector."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return generate_latest(registry)
