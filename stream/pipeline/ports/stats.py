"""Counters the adapters export: the data plane's and the label consumer's (Prometheus)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "FLUSH_BUCKETS_S",
    "IngestStats",
    "LabelStats",
    "LatencyHistogram",
]

FLUSH_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


@dataclass(slots=True)
class LatencyHistogram:
    """Cumulative histogram with fixed bucket bounds, in the Prometheus shape."""

    bounds: tuple[float, ...] = FLUSH_BUCKETS_S
    counts: list[int] = field(default_factory=lambda: [0] * (len(FLUSH_BUCKETS_S) + 1))
    total: float = 0.0
    n: int = 0

    def observe(self, seconds: float) -> None:
        """Record one observation."""
        self.counts[int(np.searchsorted(self.bounds, seconds, side="left"))] += 1
        self.total += seconds
        self.n += 1


@dataclass(slots=True)
class IngestStats:
    """Counters of one worker's data plane (exported by the Prometheus adapter)."""

    consumed: int = 0
    accepted: int = 0
    unknown_model: int = 0
    #: The same events by model name (the first ``dataplane.MAX_UNKNOWN_NAMES``; the rest as "…").
    unknown_models: dict[str, int] = field(default_factory=dict)
    rejected: dict[str, int] = field(default_factory=dict)
    late: int = 0
    late_by_model: dict[str, int] = field(default_factory=dict)
    undeclared_overflow: int = 0
    batches: int = 0
    batch_records: int = 0
    flushes: int = 0
    flush_errors: int = 0
    notices: int = 0
    last_flush_ms: int = 0
    flush_latency: LatencyHistogram = field(default_factory=LatencyHistogram)
    positions: dict[int, int] = field(default_factory=dict)
    #: Records fetched before their partition was (re-)claimed: not applied, read again.
    stale_records: int = 0


@dataclass(slots=True)
class LabelStats:
    """Counters of one worker's label consumer (exported to Prometheus)."""

    consumed: int = 0
    unknown_model: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    outcomes: dict[str, int] = field(default_factory=dict)
    flushes: int = 0
    positions: dict[int, int] = field(default_factory=dict)
