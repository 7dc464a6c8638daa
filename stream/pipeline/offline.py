"""Offline check: tables folded into sketches, then the live rollup and evaluator, in memory.

``driftstream check`` runs the live decision path without Kafka or Redis:

1. **Fold.** Reference and current tables are read in chunks; each chunk becomes a
   model block (:mod:`.tabular`, the contract's cell rules) and is folded into hour
   sketches by :class:`~.reference.ReferenceBuilder` — the same sketches and exact
   merges as live ingest. Rows without a time column all fall in one window.
2. **Calibrate.** The reference's hours are calibrated by ``calibrate_model`` as
   ``reference build`` does (the whole-set window at the size of the current set).
3. **Roll up.** The current hours go through the live :func:`~.rollup.roll_up` over an
   in-memory :class:`~.memory.MemoryWindowStore` (the table stored as one partition,
   sealed through its last hour and idle: a file is complete, so no event is late),
   giving the same hour and day windows as a replay of the same events.
4. **Evaluate.** The live :class:`~.evaluate.Evaluator` over an in-memory
   :class:`~.memory.MemoryEvaluationStore` judges every window in time order (hours,
   then days), against every configured baseline, with the live lifecycle (would-be
   alerts).

In ``all`` mode the whole current set is one window judged against the reference only,
at the day scale's α and calibration (sized to the current set); a seasonal feature
is judged against the reference too, since no earlier window exists.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np

from stream.catalog import ModelSpec
from stream.contract import ModelBlock
from stream.core.calibrate import ModelCalibration, calibrate_model
from stream.core.joint import calibrate_joint
from stream.core.lifecycle import AlertEvent, AlertState
from stream.core.sketch.params import SketchParams, merge_sketches
from stream.core.vocabulary import Baseline, Scale
from stream.core.window import DAY, DAY_MS, HOUR, HOUR_MS, WindowKey, floor_to, hour_starts
from stream.pipeline.evaluate import Evaluator, WindowVerdict
from stream.pipeline.ingest import joint_zero
from stream.pipeline.memory import MemoryEvaluationStore, MemorySketchStore, MemoryWindowStore
from stream.pipeline.ports import JOINT_KEY, FlushWrite, HourWrite, StoredWindow
from stream.pipeline.reference import Reference, ReferenceBuilder
from stream.pipeline.rollup import roll_up
from stream.pipeline.tabular import Chunk, Rejects, chunk_block

__all__ = [
    "CheckRun",
    "CheckStore",
    "Folded",
    "Mode",
    "calibrate",
    "evaluate",
    "fold",
]

Mode = Literal["all", "hour", "day", "both"]


@dataclass
class Folded:
    """One table folded: the sketches by hour, events per hour, rows and rejects."""

    ref: Reference
    hour_events: dict[int, int] = field(default_factory=dict)
    rows: int = 0
    rejects: Rejects = field(default_factory=Rejects)

    @property
    def accepted(self) -> int:
        """Rows folded into sketches."""
        return self.ref.events


def fold(
    spec: ModelSpec,
    chunks: Iterable[Chunk],
    *,
    ts_column: str | None,
    name: str,
    max_value_bytes: int = 1_024,
    params: SketchParams | None = None,
) -> Folded:
    """Step 1 for one table: every chunk through the cell rules into hour sketches."""
    builder = ReferenceBuilder(spec, name, params)
    hour_events: dict[int, int] = {}
    rows = 0
    all_rejects = Rejects()
    for chunk in chunks:
        rows += chunk.n
        block, rejects = chunk_block(
            chunk, spec.name, spec.kinds, ts_column=ts_column, max_value_bytes=max_value_bytes
        )
        all_rejects.merge(rejects)
        if block is not None:
            builder.add_block(block)
            _count_hours(hour_events, block)
    return Folded(builder.build(), hour_events, rows, all_rejects)


def _count_hours(counts: dict[int, int], block: ModelBlock) -> None:
    hours, n = np.unique(hour_starts(block.ts_ms), return_counts=True)
    for h, k in zip(hours.tolist(), n.tolist(), strict=True):
        counts[h] = counts.get(h, 0) + k


def calibrate(
    spec: ModelSpec, ref: Reference, mode: Mode, *, live_n: Mapping[str, int] | None = None
) -> ModelCalibration:
    """Step 2: the reference's calibration, as ``reference build`` stores it.

    Only the scales (and, for ``all``, the baseline) the mode judges are calibrated:
    each (feature, scale, baseline) has its own seed, so the subset is the same numbers.
    """
    scales: tuple[Scale, ...] = tuple(spec.alerts.windows)
    if mode in ("all", "day"):
        scales = ("day",)
    elif mode == "hour":
        scales = ("hour",)
    baselines: tuple[Baseline, ...] = ("reference",) if mode == "all" else ("reference", "seasonal")
    cal = calibrate_model(
        spec.name, spec.kinds, ref.hours, scales=scales, baselines=baselines, live_n=live_n
    )
    if not ref.joint_hours:
        return cal
    return replace(cal, joint={s: calibrate_joint(ref.joint_hours, s).to_dict() for s in scales})


def _sealed_table(
    model: str, hours: Mapping[int, Mapping[str, bytes]], events: Mapping[int, int]
) -> MemoryWindowStore:
    """The table as one partition that sealed everything it holds and is idle (complete)."""
    store = MemorySketchStore()
    token, _ = store.claim(model, 0)
    last = max(hours, default=None)
    written = tuple(
        HourWrite(h, events.get(h, 0), blobs, sealed=True, undeclared={})
        for h, blobs in sorted(hours.items())
    )
    store.flush(
        [
            FlushWrite(
                model,
                0,
                token,
                next_offset=None,
                watermark_ms=None,
                sealed_through_ms=None if last is None else last + HOUR_MS,
                open_hours=(),
                idle=True,
                hours=written,
                late={},
                notices=(),
            )
        ]
    )
    windows = MemoryWindowStore(store)
    windows.add_pending(model, [h for h in sorted(hours) if events.get(h, 0)])
    return windows


@dataclass(frozen=True)
class CheckStore:
    """What a check's evaluation stored, for one model: decisions, states, alerts."""

    ref: tuple[Mapping[str, bytes], ModelCalibration | None] | None
    decisions: Mapping[WindowKey, Mapping[str, list[dict[str, Any]]]]
    states: Mapping[tuple[str, str, str], AlertState]
    outbox: tuple[bytes, ...]

    @classmethod
    def of(cls, spec: ModelSpec, store: MemoryEvaluationStore) -> CheckStore:
        """The model's part of ``store``."""
        decisions: dict[WindowKey, dict[str, list[dict[str, Any]]]] = {}
        for (model, key, baseline), ds in store.committed.items():
            if model == spec.name:
                decisions.setdefault(key, {})[baseline] = ds
        return cls(
            store.reference(spec), decisions, dict(store.states), tuple(store.outbox(spec.name))
        )


@dataclass(frozen=True)
class CheckRun:
    """What a check evaluated: windows in order, their verdicts, the in-memory stores."""

    windows: tuple[StoredWindow, ...]
    verdicts: tuple[WindowVerdict, ...]
    store: CheckStore
    spec: ModelSpec
    events: tuple[AlertEvent, ...]


def _all_spec(spec: ModelSpec) -> ModelSpec:
    """The whole set as one day-scale window, against the reference only."""
    feats = tuple(f.model_copy(update={"seasonal": False}) for f in spec.features)
    pred = spec.prediction.model_copy(update={"seasonal": False}) if spec.prediction else None
    alerts = spec.alerts.model_copy(update={"windows": (DAY,), "baselines": ("reference",)})
    return spec.model_copy(update={"features": feats, "prediction": pred, "alerts": alerts})


def evaluate(
    spec: ModelSpec,
    reference: Reference,
    calibration: ModelCalibration | None,
    current: Folded,
    mode: Mode,
    encode: Callable[[AlertEvent], bytes],
    params: SketchParams | None = None,
) -> CheckRun:
    """Steps 3–4: roll the current hours up and judge them (``all``: one window)."""
    p = params or SketchParams()
    ref_blobs = {f: s.to_bytes() for f, s in reference.sketches.items()}
    if reference.joint is not None:
        ref_blobs[JOINT_KEY] = reference.joint.to_bytes()
    hours = {h: {f: s.to_bytes() for f, s in row.items()} for h, row in current.ref.hours.items()}
    for h, joint in current.ref.joint_hours.items():
        hours.setdefault(h, {})[JOINT_KEY] = joint.to_bytes()
    if mode == "all":
        eval_spec = _all_spec(spec)
        first = min(current.ref.hours, default=0)
        merged = {f: p.zero(k) for f, k in spec.kinds.items()}
        for h in sorted(current.ref.hours):
            for f, s in current.ref.hours[h].items():
                merged[f] = merge_sketches(merged[f], s)
        blobs = {f: s.to_bytes() for f, s in merged.items()}
        all_joint = joint_zero(spec) if current.ref.joint_hours else None
        if all_joint is not None:
            for h in sorted(current.ref.joint_hours):
                all_joint = all_joint.merge(current.ref.joint_hours[h])
            blobs[JOINT_KEY] = all_joint.to_bytes()
        whole = StoredWindow(WindowKey(DAY, floor_to(first, DAY_MS)), current.accepted, 0, blobs)
        store = MemoryEvaluationStore()
        store.windows.create_window(spec.name, whole)
        windows: tuple[StoredWindow, ...] = (whole,)
    else:
        scales = {"hour": (HOUR,), "day": (DAY,), "both": spec.alerts.windows}[mode]
        eval_spec = spec.model_copy(
            update={"alerts": spec.alerts.model_copy(update={"windows": tuple(scales)})}
        )
        mem = _sealed_table(spec.name, hours, current.hour_events)
        rolled = roll_up(spec, mem, p)
        store = MemoryEvaluationStore(mem)
        windows = tuple(w for w in (*rolled.hours, *rolled.days) if w.key.scale in scales)
    store.put_reference(spec.name, ref_blobs, calibration)
    evaluator = Evaluator(store, encode=encode, params=p)
    verdicts = tuple(evaluator.evaluate(eval_spec, w) for w in windows)
    events = tuple(e for v in verdicts for e in v.events)
    return CheckRun(windows, verdicts, CheckStore.of(spec, store), eval_spec, events)
