"""Label events: the contract, and the exactly-once state of one (model, partition).

A label event (``topics.labels``)::

    {"model": "fraud-v3", "id": "e-123", "ts": "2026-01-05T13:04:05.123Z",
     "label": 1, "prediction": 0.83}

``ts`` is the *prediction's* event time: the label lands in that prediction's
hour (performance is judged by prediction time). The join is carried by the
event: ``prediction`` is the score the model gave (in [0, 1]). Labels without it
are dead-lettered ``missing_prediction``: no id → prediction index is built (the
trade-off is in docs/architecture.md, "Labels").

Rules, in order (the first failure is the reason): the feature contract's
``oversized`` / ``bad_json`` / ``not_utf8`` / ``not_object`` / ``missing_model`` /
``wrong_type``; a model without a ``labels`` table is counted ``unknown_model``
(not dead-lettered); ``missing_id``; ``bad_ts``; ``bad_label`` (neither the
positive nor the negative value; regression: not a finite number);
``missing_prediction``; ``bad_prediction`` (not a number in [0, 1]; regression:
not a finite number); ``ts_out_of_bounds`` (the prediction is later than the
label's record time + ``max_future_ms``).

Valid labels that are not applied are counted, never silently dropped:

- ``label_too_late``: the record time is later than ``ts`` + the model's
  ``max_label_delay_ms``, or the label's hour has already left memory (its hour
  end + delay is behind the newest record time seen on the partition);
- ``duplicate``: a second label of the same (model, id, hour): the first in
  offset order wins. Labels of one id must share a partition (key label records
  by id) and carry the same ``ts``.

Multiclass models (``labels.classes`` declared) carry the predicted class instead
of a score: ``{"model", "id", "ts", "label": "cat", "prediction": "dog"}``, both
compared as category text with the declared classes. A label outside them is
dead-lettered ``unknown_class``, a prediction outside them ``bad_prediction``
(the detail names the value); a label without its predicted class is
``missing_prediction`` (the predicted class is not looked up elsewhere: the event
must carry it). Their state is a :class:`~stream.core.multiclass.
MulticlassPerformance` per cell, written and fenced exactly as the binary one.

Regression models (``labels.kind = "regression"``) carry the observed target and
the model's numeric prediction: ``{"model", "id", "ts", "label": 412.5,
"prediction": 398.0}``. Both must be JSON numbers (not strings or booleans),
finite and within ±1e50: a label that is not is dead-lettered ``bad_label``, a
prediction ``bad_prediction``, a missing prediction ``missing_prediction`` (the
detail names the value). Their state is a :class:`~stream.core.regression.
RegressionPerformance` per cell (exact error and target moments), written and
fenced exactly as the binary one.

Exactly once (like features): the state holds the next offset; records below it
were applied before a crash and are skipped. Duplicates are found against the
ids already stored (a Redis set per hour, written by the same atomic flush as
the counts and the offset) plus the ids applied since the last flush, so a
replay from the stored offset decides every duplicate as the uninterrupted run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from stream.catalog import LabelSpec, ModelSpec
from stream.core.multiclass import MulticlassPerformance
from stream.core.performance import BinaryPerformance
from stream.core.regression import RegressionPerformance
from stream.core.window import DAY_MS, HOUR_MS, floor_to
from stream.pipeline.label_parse import (
    UNKNOWN_CLASS,
    LabelBlock,
    ParsedLabels,
    id_hash,
    parse_labels,
)
from stream.pipeline.ports import LabelHourWrite, LabelSnapshot, LabelWrite

__all__ = [
    "DELAY_PREFIX",
    "LabelState",
    "UNKNOWN_CLASS",
    "decode_state",
    "zero_state",
    "DUPLICATE",
    "LABEL_TOO_LATE",
    "Cell",
    "delay_percentiles",
    "LabelBlock",
    "ParsedLabels",
    "PartitionLabels",
    "id_hash",
    "parse_labels",
]

DUPLICATE = "duplicate"
LABEL_TOO_LATE = "label_too_late"

LabelState = BinaryPerformance | MulticlassPerformance | RegressionPerformance
"""A cell's label state: binary (scores), multiclass (confusion counts) or regression
(error and target moments)."""


#: Upper bounds (hours) of the label-delay buckets counted per partition (``delay:<h>``).
DELAY_EDGES_H = (1, 2, 4, 8, 12, 24, 36, 48, 72, 168, 336, 720)
DELAY_EDGES_MS = np.asarray([h * HOUR_MS for h in DELAY_EDGES_H], np.int64)
DELAY_PREFIX = "delay:"


def delay_counter(index: int) -> str:
    """The counter of delay bucket ``index`` (``delay:inf`` past the last edge)."""
    return DELAY_PREFIX + (str(DELAY_EDGES_H[index]) if index < len(DELAY_EDGES_H) else "inf")


def delay_percentiles(
    counters: Mapping[str, int], qs: Sequence[float] = (0.5, 0.9, 0.99)
) -> dict[float, float | None]:
    """Upper bounds (hours; inf past the last edge) of the delay buckets at quantiles ``qs``.

    >>> delay_percentiles({"delay:1": 50, "delay:24": 45, "delay:48": 5})
    {0.5: 1.0, 0.9: 24.0, 0.99: 48.0}
    """
    order = [*DELAY_EDGES_H, float("inf")]
    counts = [counters.get(delay_counter(i), 0) for i in range(len(order))]
    total = sum(counts)
    out: dict[float, float | None] = {}
    for q in qs:
        if not total:
            out[q] = None
            continue
        run = 0
        for edge, n in zip(order, counts, strict=True):
            run += n
            if run >= q * total:
                out[q] = float(edge)
                break
    return out


Cell = tuple[int, int]
"""(prediction hour, UTC day the labels arrived in): the unit of label state."""


# -- state of one (model, partition) ----------------------------------------------
@dataclass(slots=True)
class PartitionLabels:
    """Label state of one (model, partition), rebuilt from a snapshot on claim."""

    spec: ModelSpec
    partition: int
    token: str
    next_offset: int | None = None
    newest_record_ms: int | None = None
    hours: dict[Cell, LabelState] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)
    pending: dict[int, set[int]] = field(default_factory=dict)
    _dirty: set[Cell] = field(default_factory=set)
    _closed: dict[Cell, LabelState] = field(default_factory=dict)
    _meta_dirty: bool = False

    @property
    def rules(self) -> LabelSpec:
        """The model's label table (only models with one have label state)."""
        if self.spec.labels is None:  # pragma: no cover - the plane checks it
            raise ValueError(self.spec.name)
        return self.spec.labels

    @classmethod
    def restore(
        cls, spec: ModelSpec, partition: int, token: str, snap: LabelSnapshot
    ) -> PartitionLabels:
        """The state as the last flush left it."""
        return cls(
            spec=spec,
            partition=partition,
            token=token,
            next_offset=snap.next_offset,
            newest_record_ms=snap.newest_record_ms,
            hours={h: decode_state(spec.labels, b) for h, b in snap.hours.items()},
            counters=dict(snap.counters),
        )

    def _closed_before(self) -> int | None:
        """Hours starting before this have left memory (end + delay behind the newest record)."""
        if self.newest_record_ms is None:
            return None
        return floor_to(self.newest_record_ms - self.rules.max_label_delay_ms, HOUR_MS) - HOUR_MS

    def _count(self, reason: str, n: int) -> None:
        if n:
            self.counters[reason] = self.counters.get(reason, 0) + n
            self._meta_dirty = True

    def count_rejected(self, offsets: Sequence[int], reasons: Sequence[str]) -> None:
        """Count dead-lettered records once (records below the next offset were counted)."""
        for off, reason in zip(offsets, reasons, strict=True):
            if self.next_offset is None or off >= self.next_offset:
                self._count(f"rejected:{reason}", 1)

    def fresh(self, block: LabelBlock | None) -> LabelBlock | None:
        """The labels of ``block`` not applied before (offset ≥ the next offset)."""
        if block is None or self.next_offset is None or int(block.offsets[0]) >= self.next_offset:
            return block
        keep = block.offsets >= self.next_offset
        if not keep.any():
            return None
        return block.take(keep)

    def lookups(self, block: LabelBlock | None) -> dict[int, npt.NDArray[np.int64]]:
        """Hour → ids whose "seen before?" the store must answer (not pending in memory)."""
        if block is None:
            return {}
        hours = block.ts_ms - block.ts_ms % HOUR_MS
        out: dict[int, npt.NDArray[np.int64]] = {}
        for h in np.unique(hours).tolist():
            ids = np.unique(block.ids[hours == h])
            mine = self.pending.get(h)
            if mine:
                ids = ids[~np.isin(ids, np.fromiter(mine, np.int64, len(mine)))]
            if ids.size:
                out[h] = ids
        return out

    def apply(
        self,
        block: LabelBlock | None,
        last_offset: int,
        stored: Mapping[int, npt.NDArray[np.int64]],
    ) -> None:
        """Fold fresh labels (from :meth:`fresh`); ``stored``: hour → ids already in the store."""
        if self.next_offset is not None and last_offset < self.next_offset:
            return
        if block is not None and block.offsets.size:
            self._fold(block, stored)
        self.next_offset = last_offset + 1
        self._meta_dirty = True

    def _fold(self, b: LabelBlock, stored: Mapping[int, npt.NDArray[np.int64]]) -> None:
        rules = self.rules
        n = b.offsets.size
        hours = b.ts_ms - b.ts_ms % HOUR_MS
        ok = np.ones(n, np.bool_)
        # Too late: judged on the record's own time, so it is the same in every run.
        late = b.record_ms - b.ts_ms > rules.max_label_delay_ms
        # Newest record time so far, per row (offset order): a row's hour must still be open.
        prior = np.maximum.accumulate(b.record_ms)
        if self.newest_record_ms is not None:
            prior = np.maximum(prior, self.newest_record_ms)
        closed_before = (prior - rules.max_label_delay_ms) // HOUR_MS * HOUR_MS - HOUR_MS
        late |= hours < closed_before
        self._count(LABEL_TOO_LATE, int(np.count_nonzero(late)))
        ok &= ~late
        # Duplicates: first in offset order wins, against the store, memory and the batch.
        dup = np.zeros(n, np.bool_)
        for h in np.unique(hours[ok]).tolist():
            rows = np.flatnonzero(ok & (hours == h))
            ids = b.ids[rows]
            _, first = np.unique(ids, return_index=True)
            again = np.ones(rows.size, np.bool_)
            again[first] = False
            mine = self.pending.get(h)
            if mine:
                again |= np.isin(ids, np.fromiter(mine, np.int64, len(mine)))
            old = stored.get(h)
            if old is not None and old.size:
                again |= np.isin(ids, old)
            dup[rows[again]] = True
        self._count(DUPLICATE, int(np.count_nonzero(dup)))
        ok &= ~dup
        # A label's cell: its prediction hour and the UTC day its record arrived in.
        days = b.record_ms - b.record_ms % DAY_MS
        for h in np.unique(hours[ok]).tolist():
            in_hour = ok & (hours == h)
            for d in np.unique(days[in_hour]).tolist():
                sel = in_hour & (days == d)
                cell = (h, d)
                perf = self.hours.get(cell)
                if perf is None:
                    perf = self.hours[cell] = zero_state(rules)
                if isinstance(perf, MulticlassPerformance):
                    assert b.true_class is not None and b.predicted_class is not None  # noqa: S101
                    perf.update(b.true_class[sel], b.predicted_class[sel])
                elif isinstance(perf, RegressionPerformance):
                    assert b.target is not None  # noqa: S101 - parsed for a regression model
                    perf.update(b.target[sel], b.scores[sel])
                else:
                    perf.update(b.scores[sel], b.positive[sel], threshold=rules.threshold)
                self._dirty.add(cell)
            self.pending.setdefault(h, set()).update(b.ids[in_hour].tolist())
        self._count("applied", int(np.count_nonzero(ok)))
        # Label delay (record time − prediction time) of the applied labels, by bucket.
        lag = b.record_ms[ok] - b.ts_ms[ok]
        edges = np.searchsorted(DELAY_EDGES_MS, lag, side="left")
        for i, n in zip(*np.unique(edges, return_counts=True), strict=True):
            self._count(delay_counter(int(i)), int(n))
        newest = int(b.record_ms.max())
        if self.newest_record_ms is None or newest > self.newest_record_ms:
            self.newest_record_ms = newest
        self._close_hours()

    def _close_hours(self) -> None:
        """Hours no label can reach any more leave memory with their last write."""
        before = self._closed_before()
        if before is None:
            return
        for cell in [c for c in self.hours if c[0] < before]:
            self._closed[cell] = self.hours.pop(cell)

    @property
    def dirty(self) -> bool:
        """Whether anything changed since the last flush."""
        return bool(self._dirty or self._closed or self._meta_dirty)

    def pending_write(self, seen_ttl_ms: int) -> LabelWrite | None:
        """Serialize what changed (the state stays dirty until :meth:`flushed`)."""
        if not self.dirty:
            return None
        both = {**self._closed, **{c: self.hours[c] for c in self._dirty if c in self.hours}}
        writes = []
        ids_of = dict(self.pending)
        for (h, d), p in sorted(both.items()):
            # The hour's new ids go with its first written cell (one seen-set per hour).
            ids = tuple(sorted(ids_of.pop(h, ())))
            writes.append(LabelHourWrite(h, p.to_bytes(), ids, d))
        return LabelWrite(
            model=self.spec.name,
            partition=self.partition,
            token=self.token,
            next_offset=self.next_offset,
            newest_record_ms=self.newest_record_ms,
            open_hours=tuple(sorted(self.hours)),
            hours=tuple(writes),
            counters=dict(self.counters),
            seen_ttl_ms=seen_ttl_ms,
        )

    def flushed(self) -> None:
        """The store holds what :meth:`pending_write` returned."""
        self._dirty.clear()
        self._closed.clear()
        self.pending.clear()
        self._meta_dirty = False


def zero_state(rules: LabelSpec | None) -> LabelState:
    """An empty cell state for the model's label kind."""
    if rules is not None and rules.multiclass:
        return MulticlassPerformance.zero(len(rules.classes))
    if rules is not None and rules.regression:
        return RegressionPerformance()
    return BinaryPerformance.zero()


def decode_state(rules: LabelSpec | None, data: bytes) -> LabelState:
    """A stored cell state, decoded by the model's label kind (ValueError if it is not)."""
    if rules is not None and rules.multiclass:
        state = MulticlassPerformance.from_bytes(data)
        if state.classes != len(rules.classes):
            msg = (
                f"multiclass label state has {state.classes} classes but the model declares "
                f"{len(rules.classes)}: changing labels.classes needs a new label namespace"
            )
            raise ValueError(msg)
        return state
    if rules is not None and rules.regression:
        return RegressionPerformance.from_bytes(data)
    return BinaryPerformance.from_bytes(data)
