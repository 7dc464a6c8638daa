"""Reference profiles: the events a model was trained on, as sketches.

A reference is built from events (a JSONL/CSV file, or a time range of a topic)
through the same contract parser as live ingest, so a value counts the same way
in both. It keeps the merged sketch of every monitored column AND the sketches
of its time-ordered hours: calibration learns each metric's spread between
windows from them (sampling noise plus real daily/weekly variation).

For a model with a ``labels`` table, events that carry a ``label`` (and the
``prediction`` score) also fold into the reference's performance state: the
reference performance health decisions compare with, and the calibration map
of estimated performance (stream.core.model_health). Events without a label
are counted (``unlabelled``); labels that break the label rules are counted
``label_rejected`` in the reference's summary.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from stream.catalog import LabelSpec, ModelSpec
from stream.contract import ContractParser, Limits, ModelBlock
from stream.contract._record import _Bad, event_ms
from stream.core import multiclass
from stream.core import performance as binary
from stream.core.multiclass import MulticlassPerformance
from stream.core.performance import BinaryPerformance
from stream.core.regression import RegressionPerformance, as_number, merge_all, spread_of
from stream.core.sketch import CategoricalSketch, JointSketch, NumericSketch
from stream.core.sketch.params import Sketch, SketchParams, merge_sketches
from stream.core.window import HOUR_MS, format_iso_ms
from stream.pipeline.ingest import joint_inputs, joint_zero
from stream.pipeline.ports import EventSource

__all__ = [
    "Reference",
    "ReferenceBuilder",
    "calibration_of",
    "csv_columns",
    "csv_events",
    "null_columns",
]

NO_LIMITS = Limits(max_future_ms=2**62, max_past_ms=2**62)
SAMPLES = 3


@dataclass
class Reference:
    """A model's reference profile: merged sketches, hourly sketches and provenance."""

    model: str
    name: str
    sketches: dict[str, Sketch]
    hours: dict[int, dict[str, Sketch]]
    events: int
    rejected: int
    meta: dict[str, Any] = field(default_factory=dict)
    joint: JointSketch | None = None
    """Merged joint sketch of the numeric features (None when the member is off)."""
    joint_hours: dict[int, JointSketch] = field(default_factory=dict)
    performance: BinaryPerformance | None = None
    unlabelled: int = 0
    label_rejected: int = 0
    multiclass: MulticlassPerformance | None = None
    """A multiclass model's reference labels (true × predicted class counts)."""
    regression: RegressionPerformance | None = None
    """A regression model's reference labels (exact error and target moments)."""

    @property
    def span(self) -> tuple[int, int] | None:
        """First and last hour start, or None for an empty reference."""
        if not self.hours:
            return None
        return min(self.hours), max(self.hours)

    def describe(self) -> dict[str, Any]:
        """JSON-able summary (stored with the reference, shown by `reference show`).

        Events without a time (a CSV without ``ts``) all fall in the hour of epoch 0:
        that is no span to show, so first/last hour are None rather than 1970-01-01.
        """
        span = self.span
        if span == (0, 0):
            span = None
        return {
            **self.meta,
            "model": self.model,
            "name": self.name,
            "events": self.events,
            "rejected": self.rejected,
            "hours": len(self.hours),
            "first_hour": format_iso_ms(span[0]) if span else None,
            "last_hour": format_iso_ms(span[1]) if span else None,
        } | self._label_summary()

    def _label_summary(self) -> dict[str, Any]:
        """Label counts and the reference's figures, by the model's label kind."""
        p, m, r = self.performance, self.multiclass, self.regression
        figures: dict[str, Any]
        if r is not None:
            n, figures = r.n, {"mae": r.mae, "rmse": r.rmse, "target_mean": r.target_mean}
            if r.spread is not None:  # τ of each measure between hours/days (0: Q gate shut)
                figures["between_window_sd"] = {
                    f"{sc}/{m}": math.sqrt(tau2) for sc, m, tau2, *_ in r.spread.fits
                }
        elif m is not None:
            n, figures = m.n, {"accuracy": m.accuracy, "macro_f1": m.macro_f1()}
            if m.spread is not None:  # τ of each measure between hours/days (0: Q gate shut)
                figures["between_window_sd"] = {
                    f"{sc}/{x}": math.sqrt(tau2) for sc, x, tau2, *_ in m.spread.fits
                }
        elif p is not None:
            n, figures = p.n, {"positive_share": p.positive_share, "auc": p.auc()}
            if p.spread is not None:  # τ of each measure between hours/days (0: Q gate shut)
                figures["between_window_sd"] = {
                    f"{sc}/{m}": math.sqrt(tau2) for sc, m, tau2, *_ in p.spread.fits
                }
        else:
            return {}
        counts = {"labels": n, "unlabelled": self.unlabelled}
        return counts | {"label_rejected": self.label_rejected} | figures


def calibration_of(ref: Reference, spec: ModelSpec, live_per_hour: int | None) -> dict[str, Any]:
    """Calibrate every feature × scale × baseline from the reference's hours (JSON-able)."""
    from stream.core.calibrate import calibrate_model
    from stream.core.joint import calibrate_joint

    live_n = {"hour": live_per_hour, "day": 24 * live_per_hour} if live_per_hour else None
    out = calibrate_model(spec.name, spec.kinds, ref.hours, live_n=live_n).to_dict()
    if ref.joint_hours:
        out["joint"] = {
            scale: calibrate_joint(ref.joint_hours, scale).to_dict() for scale in ("hour", "day")
        }
    return out


class ReferenceBuilder:
    """Folds batches of raw event values into a :class:`Reference`."""

    def __init__(
        self, spec: ModelSpec, name: str, params: SketchParams | None = None, **meta: Any
    ) -> None:
        from stream.catalog import Catalog

        self.spec = spec
        self.params = params or SketchParams()
        self._parser = ContractParser(Catalog.of(spec), NO_LIMITS)
        self._ref = Reference(spec.name, name, {}, {}, 0, 0, dict(meta))
        if spec.labels is not None and spec.labels.multiclass:
            self._ref.multiclass = MulticlassPerformance.zero(len(spec.labels.classes))
            #: A multiclass reference's labels per event hour: the spread of the class
            #: shares, accuracy and macro F1 between hours and days (k15c).
            self._multi_hours: dict[int, MulticlassPerformance] = {}
        elif spec.labels is not None and spec.labels.regression:
            self._ref.regression = RegressionPerformance()
            #: A regression reference's labels per hour (event time): the spread between
            #: hours and days (a daily cycle) is estimated from them at build.
            self._reg_hours: dict[int, RegressionPerformance] = {}
        elif spec.labels is not None:
            self._ref.performance = BinaryPerformance.zero()
            #: A binary reference's labels per event hour: the spread of the positive
            #: share, AUC and accuracy between hours and days is estimated at build.
            self._bin_hours: dict[int, BinaryPerformance] = {}
        self._offset = 0
        #: Rejections by reason, and the first few as (event index from 0, reason, detail).
        self.rejected_by_reason: dict[str, int] = {}
        self.samples: list[tuple[int, str, str]] = []

    def add(self, values: Sequence[bytes], timestamps_ms: Sequence[int] | None = None) -> None:
        """Parse and fold one batch (record timestamps default to 0: one hour)."""
        n = len(values)
        ts = np.zeros(n, np.int64) if timestamps_ms is None else np.asarray(timestamps_ms, np.int64)
        batch = self._parser.parse(values, ts, np.arange(self._offset, self._offset + n), 0)
        self._offset += n
        self._ref.rejected += len(batch.rejections)
        for r in batch.rejections:
            self.rejected_by_reason[r.reason] = self.rejected_by_reason.get(r.reason, 0) + 1
            if len(self.samples) < SAMPLES:
                self.samples.append((r.offset, r.reason, r.detail))
        block = batch.blocks.get(self.spec.name)
        if block is not None:
            self._fold(block)
        if self._ref.performance is not None and self.spec.labels is not None:
            self._fold_labels(values, self.spec.labels, ts.tolist())
        if self._ref.multiclass is not None and self.spec.labels is not None:
            self._fold_classes(values, self.spec.labels, ts.tolist())
        if self._ref.regression is not None:
            self._fold_targets(values, ts.tolist())

    def _fold_targets(self, values: Sequence[bytes], record_ts: Sequence[int]) -> None:
        """Fold the events' numeric targets (with their numeric predictions) per event hour.

        As the label consumer (:func:`stream.core.regression.as_number`): both JSON
        numbers (not strings or booleans), finite and within ±MAX_ABS; anything else
        is counted in ``label_rejected``.
        """
        by_hour: dict[int, tuple[list[float], list[float]]] = {}
        for label, prediction, at in self._labelled(values, record_ts):
            try:
                y, p = as_number(label), as_number(prediction)
            except ValueError:
                self._ref.label_rejected += 1
                continue
            target, pred = by_hour.setdefault(at - at % HOUR_MS, ([], []))
            target.append(y)
            pred.append(p)
        for hour, (target, pred) in by_hour.items():
            self._reg_hours.setdefault(hour, RegressionPerformance()).update(target, pred)

    def _labelled(
        self, values: Sequence[bytes], record_ts: Sequence[int] | None = None
    ) -> Iterator[tuple[Any, Any, int]]:
        """(label, prediction, event ms) of this model's labelled events; unlabelled counted.

        The event time is its ``ts`` (else the record's); an unreadable ``ts`` (the
        contract parser rejected the event) falls back to the record time.
        """
        for i, raw in enumerate(values):
            try:
                obj = orjson.loads(raw)
            except orjson.JSONDecodeError:
                continue  # the contract parser counted it
            if type(obj) is not dict or obj.get("model") != self.spec.name:
                continue
            if obj.get("label") is None:
                self._ref.unlabelled += 1
                continue
            rec = record_ts[i] if record_ts is not None else 0
            try:
                at = event_ms(obj.get("ts"), rec)
            except _Bad:
                at = rec
            yield obj["label"], obj.get("prediction"), at

    def _fold_classes(
        self, values: Sequence[bytes], rules: LabelSpec, record_ts: Sequence[int]
    ) -> None:
        """Fold the events' class labels (with their predicted classes) per event hour."""
        from stream.contract import canonical_category

        index = rules.class_index()
        rows: list[tuple[int, int, int]] = []  # (event hour, true class, predicted class)
        for label, prediction, at in self._labelled(values, record_ts):
            try:
                t = index.get(canonical_category(label) or "")
                p = index.get(canonical_category(prediction) or "")
            except ValueError:
                t = p = None
            if t is None or p is None:  # a class not declared, or no predicted class
                self._ref.label_rejected += 1
                continue
            rows.append((at - at % HOUR_MS, t, p))
        table = np.array(rows, dtype=np.int64).reshape(-1, 3)
        for hour in np.unique(table[:, 0]).tolist():
            part = table[table[:, 0] == hour]
            state = self._multi_hours.setdefault(
                hour, MulticlassPerformance.zero(len(rules.classes))
            )
            state.update(part[:, 1], part[:, 2])

    def _fold_labels(
        self, values: Sequence[bytes], rules: LabelSpec, record_ts: Sequence[int]
    ) -> None:
        """Fold the events' labels (with their scores) per event hour (merged at build)."""
        from stream.contract import canonical_category

        pos_text = canonical_category(rules.positive)
        neg_text = canonical_category(rules.negative)
        by_hour: dict[int, tuple[list[float], list[bool]]] = {}
        for label, score, at in self._labelled(values, record_ts):
            try:
                text = canonical_category(label)
            except ValueError:
                text = None
            value = float(score) if isinstance(score, int | float) else math.nan
            if text not in (pos_text, neg_text) or not 0.0 <= value <= 1.0:
                self._ref.label_rejected += 1
                continue
            scores, positive = by_hour.setdefault(at - at % HOUR_MS, ([], []))
            scores.append(value)
            positive.append(text == pos_text)
        for hour, (scores, positive) in by_hour.items():
            state = self._bin_hours.setdefault(hour, BinaryPerformance.zero())
            state.update(scores, positive, threshold=rules.threshold)

    def add_synthetic(self, gen: EventSource, total: int, batch: int = 10_000) -> None:
        """Fold the first ``total`` events of a stream (record time = event time).

        ``gen`` is any :class:`~stream.pipeline.ports.EventSource`, e.g. a
        ``stream.synth.SyntheticStream`` the caller built.
        """
        for first in range(0, total, batch):
            n = min(batch, total - first)
            self.add(gen.encoded(first, n), gen.times(first, n).tolist())

    def add_block(self, block: ModelBlock) -> None:
        """Fold events already in columns (``driftstream check`` reads tables, not events)."""
        self._fold(block)

    def _fold(self, block: ModelBlock) -> None:
        kinds = self.spec.kinds
        self._ref.events += len(block)
        for hour, rows in block.by_hour():
            sketches = self._ref.hours.setdefault(
                hour, {f: self.params.zero(k) for f, k in kinds.items()}
            )
            for f, col in block.numeric.items():
                num = sketches[f]
                if isinstance(num, NumericSketch):
                    num.update(col.present(rows), nulls=col.null_count(rows))
            for f, ccol in block.categorical.items():
                cat = sketches[f]
                if isinstance(cat, CategoricalSketch):
                    cat.update(ccol.values[rows].tolist())
            joint = self._ref.joint_hours.get(hour) or joint_zero(self.spec)
            if joint is not None:
                index = np.asarray(rows, dtype=np.intp)
                self._ref.joint_hours[hour] = joint.update_columns(
                    joint_inputs(block, joint, index), int(index.size)
                )

    def build(self) -> Reference:
        """The reference: hours as folded, merged sketches over all hours."""
        ref = self._ref
        kinds = self.spec.kinds
        merged: dict[str, Sketch] = {f: self.params.zero(k) for f, k in kinds.items()}
        for hour in sorted(ref.hours):
            for f, sketch in ref.hours[hour].items():
                merged[f] = merge_sketches(merged[f], sketch)
        ref.sketches = merged
        joint = joint_zero(self.spec)
        if joint is not None:
            for hour in sorted(ref.joint_hours):
                joint = joint.merge(ref.joint_hours[hour])
        ref.joint = joint
        if ref.regression is not None:
            hours = self._reg_hours
            ref.regression = merge_all(hours[h] for h in sorted(hours))
            ref.regression.spread = spread_of(hours)
        if ref.multiclass is not None:
            k, mh = ref.multiclass.classes, self._multi_hours
            ref.multiclass = multiclass.merge_all((mh[h] for h in sorted(mh)), k)
            ref.multiclass.spread = multiclass.spread_of(mh, classes=k)
        if ref.performance is not None:
            bins = self._bin_hours
            ref.performance = binary.merge_all(bins[h] for h in sorted(bins))
            ref.performance.spread = binary.spread_of(bins)
        return ref


def csv_columns(
    header: Sequence[str], spec: ModelSpec, ts_column: str = "ts"
) -> tuple[list[str], list[str]]:
    """(declared columns the header lacks, header columns the model does not declare).

    >>> from stream.catalog import ModelSpec
    >>> spec = ModelSpec.model_validate({"name": "m", "features": {"x": "numeric"},
    ...                                  "prediction": "numeric"})
    >>> csv_columns(["ts", "x", "score"], spec)
    (['prediction'], ['score'])
    """
    have = set(header)
    missing = [c for c in spec.kinds if c not in have]
    unknown = [c for c in header if c not in spec.kinds and c != ts_column]
    return missing, unknown


def csv_header_problems(
    header: Sequence[str], spec: ModelSpec, source: str, *, allow_missing: bool = False
) -> tuple[str | None, str | None]:
    """(a note naming the columns left out or None, an error or None) for a CSV header.

    The error names the declared columns the header lacks, the header itself and the
    way out; ``allow_missing`` turns it into None (the columns are sent as all-null).
    """
    missing, unknown = csv_columns(header, spec)
    note = (
        f"{source}: column(s) not declared by model {spec.name!r}, ignored: {', '.join(unknown)}"
        if unknown
        else None
    )
    if not missing or allow_missing:
        return note, None
    error = (
        f"{source}: declared column(s) missing from the header: {', '.join(missing)} "
        f"(header: {', '.join(header) or 'empty'}); rename the columns, declare "
        "them in the model, or pass --allow-null-columns to store them as all-null"
    )
    return note, error


def null_columns(ref: Reference) -> list[str]:
    """Columns without one non-null value in the reference (nothing to compare with)."""
    return [c for c, s in ref.sketches.items() if s.total - s.nulls == 0]


def csv_events(
    text: Iterable[str], model: str, spec: ModelSpec, ts_column: str = "ts"
) -> Iterator[bytes]:
    """CSV rows → event JSON bytes: declared columns become features, ``ts`` the event time.

    Numeric columns are converted with ``float`` (empty → null); an unparsable
    number stays a string so the contract rejects it with ``wrong_type``.
    """
    kinds = spec.kinds
    pred = spec.prediction.name if spec.prediction else None
    for row in csv.DictReader(text):
        features: dict[str, Any] = {}
        for name, kind in kinds.items():
            if name == pred:
                continue
            features[name] = _cell(row.get(name), kind)
        event: dict[str, Any] = {"model": model, "features": features}
        if row.get(ts_column):
            raw = row[ts_column]
            event["ts"] = int(raw) if raw.isdigit() else raw
        if pred is not None:
            event["prediction"] = _cell(row.get(pred), kinds[pred])
        if spec.labels is not None and row.get("label") not in (None, ""):
            event["label"] = _label_cell(row["label"], spec.labels.regression)
        yield json.dumps(event).encode()


def _label_cell(text: str, numeric: bool = False) -> Any:
    """A CSV label: integers as integers (1 and "1" are one label), other text as is.

    ``numeric`` (a regression model's target): any number as a float, other text as is
    (then refused and counted as ``label_rejected``).
    """
    try:
        return int(text) if not numeric else float(text)
    except ValueError:
        return text


def _cell(value: str | None, kind: str) -> Any:
    if value is None or value == "":
        return None
    if kind == "categorical":
        return value
    try:
        number = float(value)
    except ValueError:
        return value
    # "inf"/"nan" parse as floats but are not JSON numbers: sent as text, the contract
    # rejects them with its reason instead of the whole line failing to parse.
    return number if math.isfinite(number) else value
