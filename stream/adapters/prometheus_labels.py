"""Prometheus exposition of the label consumer's counters (read at scrape time)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from stream.adapters.prometheus import labelled
from stream.pipeline.ports.stats import LabelStats

__all__ = ["HealthWaitCollector", "LabelCollector"]


class LabelCollector(Collector):
    """``driftstream_labels_total{outcome}`` and ``driftstream_labels_rejected_total{reason}``."""

    def __init__(self, stats: Callable[[], LabelStats]) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        """Yield the label metric families."""
        s = self._stats()
        yield labelled(
            CounterMetricFamily,
            "driftstream_labels",
            "Label events by outcome (applied, duplicate, label_too_late, consumed, "
            "unknown_model).",
            "outcome",
            [("consumed", s.consumed), ("unknown_model", s.unknown_model)]
            + sorted(s.outcomes.items()),
        )
        yield labelled(
            CounterMetricFamily,
            "driftstream_labels_rejected",
            "Label events sent to the dead-letter topic.",
            "reason",
            sorted(s.rejected.items()),
        )


class HealthWaitCollector(Collector):
    """Model-health windows that waited for labels (``stream.pipeline.health_eval``).

    ``driftstream_health_windows_total{event}``: windows deferred (said waiting) and
    resumed (judged after waiting); ``driftstream_health_waiting_windows{model}``: windows
    waiting now, as this worker saw them (``driftstream status`` reads the shared queue).
    """

    def __init__(
        self, counts: Callable[[], dict[str, int]], waiting: Callable[[], dict[str, int]]
    ) -> None:
        self._counts = counts
        self._waiting = waiting

    def collect(self) -> Iterator[Metric]:
        """Yield the deferred-window metric families."""
        yield labelled(
            CounterMetricFamily,
            "driftstream_health_windows",
            "Model-health windows deferred until their labels were ingested, and resumed.",
            "event",
            sorted(self._counts().items()),
        )
        yield labelled(
            GaugeMetricFamily,
            "driftstream_health_waiting_windows",
            "Model-health windows waiting for labels now (this worker's view).",
            "model",
            sorted(self._waiting().items()),
        )
