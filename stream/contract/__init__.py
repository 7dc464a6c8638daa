"""The event contract: raw Kafka record values → columns per model, or rejections.

Pure (no I/O, no wall clock). One call parses one batch of one partition::

    batch = parse_batch(values, timestamps_ms, offsets, partition, settings.models,
                        Limits.from_settings(settings.ingest))
    for name, block in batch.blocks.items():          # accepted events, as columns
        for hour_ms, rows in block.by_hour():
            col = block.numeric["amount"]
            sketch.update(col.present(rows), nulls=col.null_count(rows))
    dead_letter(batch.rejections)                     # reason code + original bytes

Event (DESIGN "Event contract")::

    {"model": "fraud-v3", "ts": "2026-01-05T13:04:05.123Z", "id": "e-123",
     "features": {"amount": 12.5, "country": "DE"}, "prediction": 0.83}

Rules, checked in this order (the first failure is the rejection reason):

1. ``oversized``: value longer than ``max_event_bytes``. ``bad_json`` for tombstones.
2. ``not_utf8`` / ``bad_json`` / ``not_object``: a UTF-8 JSON object, numbers within
   float range.
3. ``missing_model`` (absent, null, ""), ``wrong_type`` (not a string). A model the
   catalog does not know is counted in ``unknown_models`` and NOT dead-lettered: shared
   topics carry other teams' models.
4. ``missing_features`` (absent or null), ``wrong_type`` (not an object).
5. Declared features in order, then ``prediction`` when the model declares one: a
   declared key that is absent or null is a null (its null rate is monitored). Numeric
   takes JSON numbers only: booleans and numeric strings such as "12.5" are
   ``wrong_type`` (a producer that starts sending strings has a bug worth seeing).
   Categorical takes strings, integers (as decimal text, so 7 and "7" are one category)
   and booleans ("true"/"false"); floats, arrays and objects are ``wrong_type``; text
   longer than ``max_value_bytes`` is ``oversized``.
6. ``id``: string or integer (optional); longer than ``max_value_bytes`` is ``oversized``.
7. ``ts``: ISO-8601 with ``Z`` or an offset (fractional seconds truncated to ms), or
   integer epoch ms; absent/null means the record timestamp. Otherwise ``bad_ts``.
8. ``ts_in_future``: later than ``now_ms`` + ``max_ahead_ms`` (the worker's clock: wall
   clock live, the range end in a replay; skipped when ``now_ms`` is None).
   ``ts_out_of_bounds``: earlier than ``since_ms`` - ``max_past_ms`` (the clock's
   earliest reading: ``now_ms`` live, the range start in a replay), or later than
   record timestamp + ``max_future_ms`` or earlier than record timestamp -
   ``max_past_ms`` (record bounds skipped when the record has no timestamp).

Undeclared feature keys are counted per (model, key); other top-level keys are ignored.
"""

from stream.contract._parser import ContractParser, parse_batch
from stream.contract._record import canonical_category
from stream.contract._time import parse_iso_ms
from stream.contract._types import (
    REASONS,
    UNKNOWN_MODEL,
    CategoricalColumn,
    Limits,
    ModelBlock,
    NumericColumn,
    ParsedBatch,
    Rejection,
)

__all__ = [
    "REASONS",
    "UNKNOWN_MODEL",
    "CategoricalColumn",
    "ContractParser",
    "Limits",
    "ModelBlock",
    "NumericColumn",
    "ParsedBatch",
    "Rejection",
    "canonical_category",
    "parse_iso_ms",
    "parse_batch",
]
