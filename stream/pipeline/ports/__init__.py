"""Ports: what the pipeline needs from the outside world, as Protocols and values.

This package is the only seam between ``stream.pipeline`` and ``stream.adapters``:
every store, sink and source the pipeline talks to is a Protocol here, with the
values that cross it (writes, snapshots, stored windows, counters the adapters
export). Adapters implement them against Kafka, Redis and HTTP; tests and the
offline check implement them in memory. The pipeline never imports a client
library, and neither does this package (import-linter contracts hold it so:
docs/architecture.md, "Ports and layers").

One module per plane: :mod:`.data` (records, dead letters, seal notices, the sketch
store, clocks), :mod:`.windows` (rollups' windows, evaluation), :mod:`.labels`
(labels, model health), :mod:`.alerts` (the alert forwarder), :mod:`.stats`
(counters adapters export). The pipeline imports them from here; an adapter imports
the module of the ports it implements (a contract checks it knows no other plane).
"""

from __future__ import annotations

from stream.pipeline.ports.alerts import (
    AlertRecord,
    AlertSource,
    Delivery,
    DeliveryLog,
    DeliveryLogUnavailableError,
    ParsedAlert,
    Poster,
    PostResult,
    RejectSink,
)
from stream.pipeline.ports.data import (
    JOINT_KEY,
    Clock,
    DeadLetter,
    DeadLetterSink,
    EventClock,
    EventSource,
    FlushWrite,
    HourWrite,
    NoticeSink,
    PartitionSnapshot,
    RawRecord,
    RecordBatch,
    SealNotice,
    SketchStore,
    StaleWriterError,
)
from stream.pipeline.ports.labels import (
    HealthCommit,
    HealthStore,
    LabelHourWrite,
    LabelSnapshot,
    LabelStore,
    LabelWrite,
)
from stream.pipeline.ports.stats import IngestStats, LabelStats, LatencyHistogram
from stream.pipeline.ports.windows import (
    EvaluationCommit,
    EvaluationStore,
    StoredWindow,
    WindowStore,
)

__all__ = [
    "JOINT_KEY",
    "AlertRecord",
    "AlertSource",
    "Clock",
    "DeadLetter",
    "DeadLetterSink",
    "Delivery",
    "DeliveryLog",
    "DeliveryLogUnavailableError",
    "EvaluationCommit",
    "EvaluationStore",
    "EventClock",
    "EventSource",
    "FlushWrite",
    "HealthCommit",
    "HealthStore",
    "HourWrite",
    "IngestStats",
    "LabelHourWrite",
    "LabelSnapshot",
    "LabelStats",
    "LabelStore",
    "LabelWrite",
    "LatencyHistogram",
    "NoticeSink",
    "ParsedAlert",
    "PartitionSnapshot",
    "PostResult",
    "Poster",
    "RawRecord",
    "RecordBatch",
    "RejectSink",
    "SealNotice",
    "SketchStore",
    "StaleWriterError",
    "StoredWindow",
    "WindowStore",
]
