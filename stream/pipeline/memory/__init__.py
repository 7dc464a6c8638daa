"""In-memory implementations of the pipeline's ports, with the Redis adapters' semantics.

The fakes used by everything that runs the pipeline without servers: the
offline ``check`` (:mod:`.offline`), the detection harness and the fast unit tests.
They are *honest*: the same semantics as the Redis adapters, rule by rule, and
``tests/integration/test_memory_contract.py`` runs one contract against both so the
two cannot drift apart:

- :class:`MemorySketchStore` (``SketchStore``, as ``adapters/redis_store``): a claim
  issues a new fencing token and returns what the last flush stored; a flush with a
  stale (or never issued) token is refused with ``StaleWriterError`` while the other
  writes of the same call land; hour fields merge by name (a sketch or undeclared key
  not in a write is kept), late and rejected counts are set per key, the outbox is
  replaced whole.
- :class:`MemoryWindowStore` (``WindowStore``, as ``adapters/redis_windows``): reads
  the partition state of a :class:`MemorySketchStore`; windows are create-only, and
  creating one updates the pending hours and days, and the windows to evaluate,
  exactly as the Lua script does.
- :class:`MemoryEvaluationStore` (``EvaluationStore``, as ``adapters/redis_eval``):
  decisions and lifecycle states go through JSON on commit as they do in Redis, alert
  events into a per-model outbox that :meth:`~MemoryEvaluationStore.ack` trims.
- :class:`MemoryLabelStore` (``LabelStore``, as ``adapters/redis_labels``): fenced like
  the sketch store; counters set per name, an hour's state replaced, applied label
  ids kept per hour for the duplicate look-up.
- :class:`MemoryHealthStore` (``HealthStore``, as ``adapters/redis_health``): labels
  merged from a :class:`MemoryLabelStore` when read, predictions from the window
  store, decisions and states through JSON, alerts into an outbox it can share with
  the :class:`MemoryEvaluationStore` (Redis: the model's one alert outbox).
- :class:`ManualClock`, :class:`ListNotices`, :class:`ListDeadLetters`: a settable
  clock and sinks that keep what they were given.

What they leave out, on purpose: key expiry (``sealed_retention_ms``, window
retention, the label ids' ``seen_ttl_ms``), the reference cache's minute, the
dashboard's alert history, and the reference *name* a model is compared with (the
Redis adapter picks the stored reference by ``reference_name(spec)``; here each
model has the one reference put).

Why here and not in ``stream/adapters``: the offline check is pipeline code and the
pipeline may not import adapters (import-linter); these classes import no client
library, so they sit beside the ports they implement (as ``replay.ReplayNotices``).
One module per plane of :mod:`stream.pipeline.ports`: :mod:`.data` (sketch store,
clock, sinks), :mod:`.windows` (window and evaluation stores), :mod:`.labels` (label
and health stores).
"""

from __future__ import annotations

from stream.pipeline.memory.data import (
    ListDeadLetters,
    ListNotices,
    ManualClock,
    MemoryHour,
    MemoryPartition,
    MemorySketchStore,
)
from stream.pipeline.memory.labels import MemoryHealthStore, MemoryLabelPartition, MemoryLabelStore
from stream.pipeline.memory.windows import MemoryEvaluationStore, MemoryWindowStore

__all__ = [
    "ListDeadLetters",
    "ListNotices",
    "ManualClock",
    "MemoryEvaluationStore",
    "MemoryHealthStore",
    "MemoryHour",
    "MemoryLabelPartition",
    "MemoryLabelStore",
    "MemoryPartition",
    "MemorySketchStore",
    "MemoryWindowStore",
]
