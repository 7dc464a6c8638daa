"""Result types of the event contract: columns per model, rejections, counters."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Generic, TypeVar

import numpy as np
import numpy.typing as npt

from stream.core.window import hour_starts

_D = TypeVar("_D", np.float64, np.object_)

__all__ = [
    "BAD_JSON",
    "BAD_TS",
    "MISSING_FEATURES",
    "MISSING_MODEL",
    "NOT_OBJECT",
    "NOT_UTF8",
    "OVERSIZED",
    "REASONS",
    "TS_IN_FUTURE",
    "TS_OUT_OF_BOUNDS",
    "WRONG_TYPE",
    "UNKNOWN_MODEL",
    "CategoricalColumn",
    "Limits",
    "ModelBlock",
    "NumericColumn",
    "ParsedBatch",
    "Rejection",
]

OVERSIZED: Final = "oversized"  # value > max_event_bytes, or id/category > max_value_bytes
NOT_UTF8: Final = "not_utf8"  # value is not UTF-8
BAD_JSON: Final = "bad_json"  # not JSON (incl. empty/tombstone values, numbers beyond float)
NOT_OBJECT: Final = "not_object"  # JSON, but not an object
MISSING_MODEL: Final = "missing_model"  # no "model", or null / ""
MISSING_FEATURES: Final = "missing_features"  # no "features", or null
WRONG_TYPE: Final = "wrong_type"  # model/features/feature/prediction/id of the wrong JSON type
BAD_TS: Final = "bad_ts"  # ts neither ISO-8601 with offset nor integer epoch ms; or no time
TS_OUT_OF_BOUNDS: Final = "ts_out_of_bounds"  # ts too far from the record timestamp
TS_IN_FUTURE: Final = "ts_in_future"  # ts ahead of the worker's clock (wall, or replay end)
#: Rejection reason codes, in the order the checks run (the first failing check wins).
REASONS: Final = (
    OVERSIZED,
    NOT_UTF8,
    BAD_JSON,
    NOT_OBJECT,
    MISSING_MODEL,
    MISSING_FEATURES,
    WRONG_TYPE,
    BAD_TS,
    TS_OUT_OF_BOUNDS,
    TS_IN_FUTURE,
)
#: Counted per model name, NOT dead-lettered: other teams' models share topics.
UNKNOWN_MODEL: Final = "unknown_model"

Int64s = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Limits:
    """Contract bounds (from ``[ingest]`` settings).

    Attributes:
        max_event_bytes: Larger record values are rejected ``oversized``.
        max_value_bytes: Longer (UTF-8) ids / categorical values are rejected ``oversized``.
        max_future_ms: Event times later than reference + this are ``ts_out_of_bounds``.
        max_past_ms: Event times earlier than reference - this are ``ts_out_of_bounds``.
        max_ahead_ms: Event times later than the worker's clock (``now_ms``) + this are
            ``ts_in_future``: the producer sets the record timestamp, so it alone cannot
            bound event time.
    """

    max_event_bytes: int = 65_536
    max_value_bytes: int = 1_024
    max_future_ms: int = 3_600_000
    max_past_ms: int = 7 * 86_400_000
    max_ahead_ms: int = 300_000

    @classmethod
    def from_settings(cls, ingest: Any) -> Limits:
        """Limits from an ``IngestSettings`` (or anything with the same attributes)."""
        return cls(
            max_event_bytes=ingest.max_event_bytes,
            max_value_bytes=ingest.max_value_bytes,
            max_future_ms=ingest.max_future_ms,
            max_past_ms=ingest.max_past_ms,
            max_ahead_ms=ingest.max_ahead_of_clock_ms,
        )


@dataclass(frozen=True, slots=True)
class Rejection:
    """A record that violates the contract; goes to the dead-letter topic as is.

    Attributes:
        reason: One of :data:`REASONS`.
        detail: One human line (names the field; never the whole payload).
        raw: The record value exactly as consumed (None for a tombstone).
        partition: Kafka partition.
        offset: Kafka offset.
        ts_ms: Kafka record timestamp (ms; -1 when the record had none).
    """

    reason: str
    detail: str
    raw: bytes | None
    partition: int
    offset: int
    ts_ms: int


class _Column(Generic[_D]):
    """A feature's column: ``values`` and a ``nulls`` mask of the same length."""

    __slots__ = ()
    values: npt.NDArray[_D]
    nulls: npt.NDArray[np.bool_]

    def present(self, rows: npt.NDArray[Any] | None = None) -> npt.NDArray[_D]:
        """Non-null values (of ``rows``, a mask or index array, when given)."""
        vals, nulls = (
            (self.values, self.nulls) if rows is None else (self.values[rows], self.nulls[rows])
        )
        out: npt.NDArray[_D] = vals[~nulls]
        return out

    def null_count(self, rows: npt.NDArray[Any] | None = None) -> int:
        """Number of nulls (among ``rows`` when given)."""
        return int(np.count_nonzero(self.nulls if rows is None else self.nulls[rows]))


@dataclass(frozen=True, slots=True, eq=False)
class NumericColumn(_Column[np.float64]):
    """One numeric feature: ``values`` (float64, NaN where null) and ``nulls`` (bool).

    JSON cannot carry NaN, so NaN in ``values`` appears exactly where ``nulls`` is True
    (feature absent or JSON null). ``values`` may hold ±inf only if a producer sends
    numbers that round to it, which the JSON decoder refuses, so in practice never.
    """

    values: npt.NDArray[np.float64]
    nulls: npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True, eq=False)
class CategoricalColumn(_Column[np.object_]):
    """One categorical feature: ``values`` (object array of ``str``, None where null).

    ``codes``/``categories``, when the parse had them (the C pass of a batch): the same
    column as an int32 code per row (-1 where null) into ``categories``, the batch's
    distinct values (object array of ``str``, each once), so that
    ``values[i] is categories[codes[i]]``. Counting is then a ``bincount``, not a hash
    per value. None: only ``values`` (every consumer can rely on them).
    """

    values: npt.NDArray[np.object_]
    nulls: npt.NDArray[np.bool_]
    codes: npt.NDArray[np.int32] | None = None
    categories: npt.NDArray[np.object_] | None = None


@dataclass(frozen=True, slots=True, eq=False)
class ModelBlock:
    """The accepted events of one model in a batch, as columns (input order).

    Attributes:
        model: Model name.
        rows: Position of each event in the input batch (int64).
        offsets: Kafka offset of each event (int64).
        ts_ms: Event time of each event, epoch ms UTC (int64).
        ids: Event ids (object array of ``str``, None when absent).
        numeric: Column name → :class:`NumericColumn` (prediction included when numeric).
        categorical: Column name → :class:`CategoricalColumn`.
    """

    model: str
    rows: Int64s
    offsets: Int64s
    ts_ms: Int64s
    ids: npt.NDArray[np.object_]
    numeric: Mapping[str, NumericColumn]
    categorical: Mapping[str, CategoricalColumn]

    def __len__(self) -> int:
        return int(self.rows.shape[0])

    def by_hour(self) -> Iterator[tuple[int, npt.NDArray[np.intp]]]:
        """(hour start ms, positions of the events in that hour), hours ascending."""
        starts = hour_starts(self.ts_ms)
        hours, inverse = np.unique(starts, return_inverse=True)
        order = np.argsort(inverse, kind="stable")
        bounds = np.searchsorted(inverse[order], np.arange(len(hours) + 1))
        for k, hour in enumerate(hours.tolist()):
            yield int(hour), order[bounds[k] : bounds[k + 1]]


@dataclass(frozen=True, slots=True, eq=False)
class ParsedBatch:
    """Everything one call of ``parse_batch`` learned about a batch of one partition.

    Invariant: ``n_records == accepted + counts["unknown_model"] + len(rejections)``.

    Attributes:
        partition: Kafka partition of the batch.
        n_records: Records in.
        blocks: Model name → :class:`ModelBlock` (models with at least one accepted event).
        rejections: Records for the dead-letter topic, input order.
        unknown_models: Model name → events of models not in the catalog (not dead-lettered).
        undeclared: (model, feature key) → accepted events carrying that undeclared feature.
        counts: "accepted", "unknown_model" and each reason code → count (all keys present).
        next_offset: Highest offset + 1 (None for an empty batch): what to commit.
    """

    partition: int
    n_records: int
    blocks: Mapping[str, ModelBlock]
    rejections: tuple[Rejection, ...]
    unknown_models: Mapping[str, int]
    undeclared: Mapping[tuple[str, str], int]
    counts: Mapping[str, int] = field(default_factory=dict)
    next_offset: int | None = None

    @property
    def accepted(self) -> int:
        """Events accepted into model blocks."""
        return self.counts.get("accepted", 0)
