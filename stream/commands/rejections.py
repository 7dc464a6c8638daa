"""Rejection counts said plainly: one line, reasons by count, what to change.

Used where events are read in bulk (``replay``, ``reference build``): a run that
rejected most of its input says so instead of leaving a count in the JSON.

>>> from stream.settings import IngestSettings
>>> print(rejection_line({"ts_out_of_bounds": 770, "wrong_type": 3}, 1000, IngestSettings()))
... # doctest: +NORMALIZE_WHITESPACE
773 of 1,000 record(s) (77%) rejected: ts_out_of_bounds 770 (event ts more than
ingest.max_past_ms=7d before or ingest.max_future_ms=1h after the record's Kafka timestamp:
produce history with `driftstream produce --file` (record time = event ts) or raise the
limits), wrong_type 3 (a value's JSON type does not match the model's feature kind: numeric
takes numbers, categorical strings/integers/booleans)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["KNOBS", "duration", "rejection_line"]

#: What each rejection reason means and the setting (or fix) that changes it.
KNOBS: Mapping[str, str] = {
    "ts_out_of_bounds": (
        "event ts more than ingest.max_past_ms={past} before or ingest.max_future_ms={future} "
        "after the record's Kafka timestamp: produce history with `driftstream produce --file` "
        "(record time = event ts) or raise the limits"
    ),
    "bad_ts": "ts must be ISO-8601 with a UTC offset (2026-01-05T13:04:05Z) or integer epoch ms",
    "oversized": (
        "record over ingest.max_event_bytes={event_bytes} or an id/category over "
        "ingest.max_value_bytes={value_bytes}"
    ),
    "wrong_type": (
        "a value's JSON type does not match the model's feature kind: numeric takes numbers, "
        "categorical strings/integers/booleans"
    ),
    "missing_model": 'each event needs "model": "<a configured model>"',
    "missing_features": 'each event needs "features": {...}',
    "bad_json": "each record must be one JSON object (tombstones and non-JSON are rejected)",
    "not_utf8": "each record must be UTF-8 JSON",
    "not_object": "each record must be a JSON object",
}


def duration(ms: int) -> str:
    """``7d``, ``1h``, ``90s``, ``250ms``: the largest unit that divides ``ms``."""
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms >= size and ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def rejection_line(rejected: Mapping[str, int], records: int, ingest: Any) -> str:
    """``N of M record(s) (P%) rejected: reason count (meaning: knob), ...`` (largest first)."""
    total = sum(rejected.values())
    share = 100.0 * total / records if records else 100.0
    values = {
        "past": duration(ingest.max_past_ms),
        "future": duration(ingest.max_future_ms),
        "event_bytes": ingest.max_event_bytes,
        "value_bytes": ingest.max_value_bytes,
    }
    parts = []
    for reason, n in sorted(rejected.items(), key=lambda kv: (-kv[1], kv[0])):
        why = KNOBS.get(reason)
        parts.append(f"{reason} {n:,}" + (f" ({why.format(**values)})" if why else ""))
    return f"{total:,} of {records:,} record(s) ({share:.0f}%) rejected: " + ", ".join(parts)
