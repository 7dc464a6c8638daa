"""A label plane over in-memory ports, for the label ingest tests."""

from __future__ import annotations

from stream.catalog import Catalog
from stream.contract import Limits
from stream.pipeline.labelplane import LabelPlane
from stream.pipeline.memory import ListDeadLetters, ManualClock, MemoryLabelStore

HOUR = 3_600_000


def label_plane(
    catalog: Catalog, store: MemoryLabelStore, letters: ListDeadLetters, every: int = 50
) -> LabelPlane:
    """Flushes every ``every`` events (never on the interval); labels ≤ 1 h ahead."""
    return LabelPlane(
        catalog,
        topic="labels",
        store=store,
        dead_letters=letters,
        clock=ManualClock(0),
        limits=Limits(max_future_ms=HOUR),
        flush_every_events=every,
        flush_interval_ms=10**12,
    )
