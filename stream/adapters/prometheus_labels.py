"""Prometheus exposition of the label consumer's counters (read at scrape time)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from stream.adapters.prometheus import labelled
from stream.pipeline.ports import LabelStats

__all__ = ["LabelCollector"]


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
