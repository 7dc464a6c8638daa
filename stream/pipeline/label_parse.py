"""Label events' parsing (pure): one batch of raw records into per-model columns.

The contract (fields, rejection reasons, what each label kind needs) is the
:mod:`stream.pipeline.labels` docstring; this module applies it to a batch.
Records that break it become :class:`~stream.contract.Rejection` values with
their reason, counted under the labelled model they named (``rejected_models``);
labels of models without a ``labels`` table are counted, not kept.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from stream.catalog import Catalog, LabelSpec
from stream.contract import Limits, Rejection, canonical_category
from stream.contract._record import _Bad, _decode, _show, event_ms
from stream.contract._types import MISSING_MODEL, OVERSIZED, WRONG_TYPE
from stream.core.regression import as_number

__all__ = [
    "BAD_LABEL",
    "BAD_PREDICTION",
    "MISSING_ID",
    "MISSING_PREDICTION",
    "TS_OUT_OF_BOUNDS",
    "UNKNOWN_CLASS",
    "LabelBlock",
    "ParsedLabels",
    "id_hash",
    "parse_labels",
]

MISSING_ID = "missing_id"
BAD_LABEL = "bad_label"
MISSING_PREDICTION = "missing_prediction"
BAD_PREDICTION = "bad_prediction"
TS_OUT_OF_BOUNDS = "ts_out_of_bounds"
UNKNOWN_CLASS = "unknown_class"


def id_hash(text: str) -> int:
    """A signed 64-bit hash of an id (what the duplicate sets store; collisions ~2^-64)."""
    return int.from_bytes(
        hashlib.blake2b(text.encode(), digest_size=8).digest(), "little", signed=True
    )


@dataclass(frozen=True, slots=True, eq=False)
class LabelBlock:
    """Accepted labels of one model in one batch, as columns in offset order."""

    offsets: npt.NDArray[np.int64]
    record_ms: npt.NDArray[np.int64]
    ts_ms: npt.NDArray[np.int64]
    ids: npt.NDArray[np.int64]
    scores: npt.NDArray[np.float64]
    positive: npt.NDArray[np.bool_]
    true_class: npt.NDArray[np.int64] | None = None
    """Multiclass: the label's class index (None for binary models)."""
    predicted_class: npt.NDArray[np.int64] | None = None
    """Multiclass: the predicted class index (None for binary models)."""
    target: npt.NDArray[np.float64] | None = None
    """Regression: the observed target (``scores`` holds the prediction); else None."""

    def take(self, keep: npt.NDArray[np.bool_]) -> LabelBlock:
        """The rows where ``keep`` is true."""
        return LabelBlock(
            self.offsets[keep],
            self.record_ms[keep],
            self.ts_ms[keep],
            self.ids[keep],
            self.scores[keep],
            self.positive[keep],
            None if self.true_class is None else self.true_class[keep],
            None if self.predicted_class is None else self.predicted_class[keep],
            None if self.target is None else self.target[keep],
        )


@dataclass(slots=True)
class ParsedLabels:
    """One batch: accepted labels per model, rejections, labels of other models."""

    n_records: int
    blocks: dict[str, LabelBlock]
    rejections: list[Rejection]
    unknown_models: dict[str, int]
    rejected_models: list[str | None]
    """Per rejection, the labelled model its record named (None: none could be read)."""


class _Named(Exception):
    """A record naming a labelled model broke the contract (counted under that model)."""

    def __init__(self, model: str, bad: _Bad) -> None:
        super().__init__(bad.detail)
        self.model, self.bad = model, bad


def _canon(value: Any) -> str:
    text = canonical_category(value)
    return "" if text is None else text


_Row = tuple[str, int, int, float, bool, int, int, float]


def _number(value: Any, what: str, reason: str) -> float:
    """A regression label's or prediction's value (the rule: :func:`as_number`)."""
    try:
        return as_number(value)
    except ValueError as exc:
        if value is None:
            detail = f"no {what}: a regression {what} is a number"
        elif type(value) not in (int, float):
            detail = f"{what} {_show(value)}: {exc} (the regression {what})"
        else:
            detail = f"{what} {_show(value)}: {exc}"
        raise _Bad(reason, detail) from None


def _class_of(value: Any, index: Mapping[str, int], what: str, reason: str) -> int:
    try:
        text = canonical_category(value)
    except ValueError as exc:
        raise _Bad(reason, f"{what}: {exc}") from None
    got = index.get(_canon(text))
    if got is None:
        raise _Bad(reason, f"{what} {_show(value)} is not one of the declared classes")
    return got


def _one(raw: bytes | None, record_ts: int, catalog: Catalog, limits: Limits) -> _Row | str:
    obj = _decode(raw, limits)
    model = obj.get("model")
    if model is None or model == "":
        raise _Bad(MISSING_MODEL, "no model")
    if type(model) is not str:
        raise _Bad(WRONG_TYPE, f"model: string, got {_show(model)}")
    spec = catalog.get(model)
    if spec is None or spec.labels is None:
        return model
    try:
        return _labelled(obj, model, spec.labels, record_ts, limits)
    except _Bad as bad:
        raise _Named(model, bad) from None


def _labelled(
    obj: dict[str, Any], model: str, lab: LabelSpec, record_ts: int, limits: Limits
) -> _Row:
    rid = obj.get("id")
    if rid is None or rid == "":
        raise _Bad(MISSING_ID, "a label needs the id of its prediction")
    if type(rid) is int:
        rid = str(rid)
    if type(rid) is not str:
        raise _Bad(WRONG_TYPE, f"id: string or integer, got {_show(rid)}")
    if len(rid) > limits.max_value_bytes:
        raise _Bad(OVERSIZED, f"id longer than {limits.max_value_bytes} bytes")
    ts = event_ms(obj.get("ts"), record_ts)
    if lab.multiclass:
        index = lab.class_index()
        true = _class_of(obj.get("label"), index, "label", UNKNOWN_CLASS)
        if obj.get("prediction") is None:
            raise _Bad(MISSING_PREDICTION, "no prediction: labels must carry the predicted class")
        pred = _class_of(obj.get("prediction"), index, "prediction", BAD_PREDICTION)
        if record_ts >= 0 and ts > record_ts + limits.max_future_ms:
            raise _Bad(TS_OUT_OF_BOUNDS, "prediction time later than the label's record time")
        return model, ts, id_hash(rid), 0.0, False, true, pred, 0.0
    if lab.regression:
        target = _number(obj.get("label"), "label", BAD_LABEL)
        if obj.get("prediction") is None:
            raise _Bad(
                MISSING_PREDICTION, "no prediction: labels must carry the model's prediction"
            )
        value = _number(obj.get("prediction"), "prediction", BAD_PREDICTION)
        if record_ts >= 0 and ts > record_ts + limits.max_future_ms:
            raise _Bad(TS_OUT_OF_BOUNDS, "prediction time later than the label's record time")
        return model, ts, id_hash(rid), value, False, -1, -1, target
    try:
        text = canonical_category(obj.get("label"))
    except ValueError as exc:
        raise _Bad(BAD_LABEL, f"label: {exc}") from None
    if text == _canon(lab.positive):
        positive = True
    elif text == _canon(lab.negative):
        positive = False
    else:
        raise _Bad(
            BAD_LABEL,
            f"label {_show(obj.get('label'))} is neither positive {lab.positive!r} "
            f"nor negative {lab.negative!r}",
        )
    score = obj.get("prediction")
    if score is None:
        raise _Bad(MISSING_PREDICTION, "no prediction: labels must carry the model's score")
    if type(score) not in (int, float) or not 0.0 <= score <= 1.0:
        raise _Bad(BAD_PREDICTION, f"prediction {_show(score)}: a number in [0, 1]")
    if record_ts >= 0 and ts > record_ts + limits.max_future_ms:
        raise _Bad(TS_OUT_OF_BOUNDS, "prediction time later than the label's record time")
    return model, ts, id_hash(rid), float(score), positive, -1, -1, 0.0


def parse_labels(
    values: Sequence[bytes | None],
    timestamps_ms: npt.NDArray[np.int64],
    offsets: npt.NDArray[np.int64],
    *,
    partition: int,
    catalog: Catalog,
    limits: Limits,
) -> ParsedLabels:
    """Parse one batch of one partition (pure; module docstring for the rules)."""
    rows: dict[str, list[tuple[int, int, int, int, float, bool, int, int, float]]] = {}
    rejections: list[Rejection] = []
    named: list[str | None] = []
    unknown: dict[str, int] = {}
    for raw, rts, off in zip(values, timestamps_ms.tolist(), offsets.tolist(), strict=True):
        try:
            got = _one(raw, rts, catalog, limits)
        except _Named as e:
            rejections.append(Rejection(e.bad.reason, e.bad.detail, raw, partition, off, rts))
            named.append(e.model)
            continue
        except _Bad as bad:
            rejections.append(Rejection(bad.reason, bad.detail, raw, partition, off, rts))
            named.append(None)
            continue
        if isinstance(got, str):
            unknown[got] = unknown.get(got, 0) + 1
            continue
        model, ts, h, score, pos, true, pred, target = got
        rows.setdefault(model, []).append((off, rts, ts, h, score, pos, true, pred, target))
    blocks = {}
    for model, rs in rows.items():
        cols = list(zip(*rs, strict=True))
        blocks[model] = LabelBlock(
            offsets=np.asarray(cols[0], np.int64),
            record_ms=np.asarray(cols[1], np.int64),
            ts_ms=np.asarray(cols[2], np.int64),
            ids=np.asarray(cols[3], np.int64),
            scores=np.asarray(cols[4], np.float64),
            positive=np.asarray(cols[5], np.bool_),
            true_class=np.asarray(cols[6], np.int64) if cols[6][0] >= 0 else None,
            predicted_class=np.asarray(cols[7], np.int64) if cols[7][0] >= 0 else None,
            target=np.asarray(cols[8], np.float64) if _is_regression(catalog, model) else None,
        )
    return ParsedLabels(len(values), blocks, rejections, unknown, named)


def _is_regression(catalog: Catalog, model: str) -> bool:
    spec = catalog.get(model)
    return spec is not None and spec.labels is not None and spec.labels.regression
