"""Detection scenarios in memory: synthetic hours → the real Evaluator, no Kafka or Redis.

The live path turns events into hour sketches (ingest), merges them into model
windows (rollup) and evaluates each window (``Evaluator``). Sketches are exact
functions of the values, so building each hour's sketch straight from the
synthetic columns gives the same bytes ingest would store; everything after
that — reference calibration, evaluation, lifecycle — is the production code,
over the in-memory ``EvaluationStore`` of ``stream.pipeline.memory``. The e2e
scenarios (tests/e2e) prove the same on real Kafka + Redis; this harness makes
the 14-day detection table fast enough for unit tests and benchmarks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from stream.catalog import ModelSpec
from stream.core.calibrate import ModelCalibration, calibrate_model
from stream.core.joint import calibrate_joint
from stream.core.lifecycle import AlertEvent
from stream.core.sketch.joint import indicator_values
from stream.core.sketch.params import Sketch, SketchParams
from stream.core.window import DAY, DAY_MS, HOUR, HOUR_MS, WindowKey
from stream.pipeline.evaluate import Evaluator
from stream.pipeline.ingest import joint_zero
from stream.pipeline.memory import MemoryEvaluationStore
from stream.pipeline.ports import JOINT_KEY, StoredWindow
from stream.synth import Drift, SyntheticStream

START = 1_767_225_600_000  # Thursday 2026-01-01T00:00Z
PARAMS = SketchParams()


def merge_sketches(a: Any, b: Any) -> Any:
    """Merge two sketches of one kind (the joint sketch included)."""
    return a.merge(b)


def wide_spec(
    name: str = "m",
    numeric: int = 8,
    categorical: int = 4,
    alerts: Mapping[str, Any] | None = None,
    joint: Mapping[str, Any] | None = None,
) -> ModelSpec:
    """``numeric`` + ``categorical`` features and a numeric prediction (13 columns by default)."""
    feats: dict[str, Any] = {f"n{i}": "numeric" for i in range(numeric)}
    feats |= {f"c{i}": "categorical" for i in range(categorical)}
    return ModelSpec.model_validate(
        {
            "name": name,
            "features": feats,
            "prediction": "numeric",
            "reference": {"source": "redis", "name": "training"},
            "alerts": dict(alerts or {}),
            "joint": dict(joint or {}),
        }
    )


def hour_sketches(
    spec: ModelSpec, gen: SyntheticStream, hours: int
) -> dict[int, tuple[int, dict[str, Sketch]]]:
    """hour start → (events, sketch per column) of the first ``hours`` hours of ``gen``."""
    out: dict[int, tuple[int, dict[str, Sketch]]] = {}
    per = gen.events_per_hour
    kinds = spec.kinds
    for h in range(hours):
        ts, cols = gen.columns(h * per, per)
        start = int(ts[0]) - int(ts[0]) % HOUR_MS
        sk: dict[str, Sketch] = {}
        for f, kind in kinds.items():
            vals = cols[f]
            if kind == "numeric":
                arr = np.asarray([np.nan if v is None else v for v in vals], dtype=np.float64)
                nulls = int(np.isnan(arr).sum())
                sk[f] = PARAMS.zero(kind).update(arr[~np.isnan(arr)], nulls=nulls)  # type: ignore[call-arg]
            else:
                sk[f] = PARAMS.zero(kind).update(vals)  # type: ignore[arg-type]
        joint = joint_zero(spec)
        if joint is not None:  # the joint sketch rides beside the features, as stored
            rows = np.array(
                [[np.nan if v is None else v for v in cols[c]] for c in joint.numeric],
                dtype=np.float64,
            ).T
            for f, c in joint.indicators:  # joint.indicators: 0/1 columns after the numbers
                vals = np.asarray(cols[f], dtype=object)
                rows = np.column_stack([rows, indicator_values(vals, vals == None, c)])  # noqa: E711
            sk[JOINT_KEY] = joint.update(rows)  # type: ignore[assignment]
        out[start] = (per, sk)
    return out


@dataclass(frozen=True)
class Scenario:
    """One stream: drifts and seasonal amplitudes over ``days`` at ``per_hour`` events/hour."""

    name: str
    drifts: tuple[Drift, ...] = ()
    seasonal: Mapping[str, float] = field(default_factory=dict)
    days: int = 14
    per_hour: int = 1_500
    onset_ms: int | None = None


@dataclass
class Run:
    """Everything a scenario produced."""

    spec: ModelSpec
    store: MemoryEvaluationStore
    events: list[AlertEvent]
    eval_seconds: list[float]
    notes: list[str] = field(default_factory=list)
    """What the evaluator said it could not judge (``Evaluator.notes``)."""

    def triggered(self) -> list[AlertEvent]:
        return [e for e in self.events if e.status == "triggered"]

    def first_page_ms(self) -> int | None:
        """End of the window that first paged (when a person is told), or None."""
        ends = [e.window.end_ms for e in self.triggered()]
        return min(ends) if ends else None


def reference_for(
    spec: ModelSpec,
    scenario: Scenario,
    *,
    ref_days: int = 7,
    ref_per_hour: int | None = None,
    drifts: Sequence[Drift] = (),
) -> tuple[dict[str, bytes], ModelCalibration, dict[int, dict[str, Sketch]]]:
    """The reference week before the stream (same seasonality, ``drifts`` only), calibrated."""
    per = ref_per_hour or scenario.per_hour
    gen = SyntheticStream(
        spec, start_ms=START - ref_days * DAY_MS, events_per_hour=per, seed=3,
        seasonal=dict(scenario.seasonal), drifts=list(drifts),
    )  # fmt: skip
    hours = {h: sk for h, (_, sk) in hour_sketches(spec, gen, ref_days * 24).items()}
    merged: dict[str, Sketch] = {}
    for h in sorted(hours):
        for f, s in hours[h].items():
            merged[f] = s if f not in merged else merge_sketches(merged[f], s)
    cal = calibrate_model(
        spec.name,
        spec.kinds,
        hours,
        live_n={"hour": scenario.per_hour, "day": 24 * scenario.per_hour},
    )
    joint_hours = {h: row[JOINT_KEY] for h, row in hours.items() if JOINT_KEY in row}
    if joint_hours:
        joint = {s: calibrate_joint(joint_hours, s).to_dict() for s in ("hour", "day")}  # type: ignore[arg-type]
        cal = replace(cal, joint=joint)
    return {f: s.to_bytes() for f, s in merged.items()}, cal, hours


def run_scenario(
    spec: ModelSpec,
    scenario: Scenario,
    reference: tuple[dict[str, bytes], ModelCalibration] | None = None,
    *,
    timer: Any = None,
    batch: bool = True,
) -> Run:
    """Evaluate every hour (and every complete day) of ``scenario`` as the live path would."""
    import time

    clock = timer or time.perf_counter
    if reference is None:
        sketches, cal, _ = reference_for(spec, scenario)
    else:
        sketches, cal = reference
    store = MemoryEvaluationStore()
    store.put_reference(spec.name, sketches, cal)
    evaluator = Evaluator(store, encode=lambda e: e.alert_id.encode(), batch=batch)
    gen = SyntheticStream(
        spec, start_ms=START, events_per_hour=scenario.per_hour, seed=11,
        drifts=list(scenario.drifts), seasonal=dict(scenario.seasonal),
    )  # fmt: skip
    hours = hour_sketches(spec, gen, scenario.days * 24)
    events: list[AlertEvent] = []
    times: list[float] = []
    day_parts: list[dict[str, Sketch]] = []
    day_events = 0
    for h in sorted(hours):
        n, sk = hours[h]
        w = StoredWindow(WindowKey(HOUR, h), n, 0, {f: s.to_bytes() for f, s in sk.items()})
        store.windows.create_window(spec.name, w)
        t = clock()
        events.extend(evaluator.evaluate(spec, w).events)
        times.append(clock() - t)
        day_parts.append(sk)
        day_events += n
        if (h + HOUR_MS) % DAY_MS == 0:
            merged: dict[str, Sketch] = {}
            for part in day_parts:
                for f, s in part.items():
                    merged[f] = s if f not in merged else merge_sketches(merged[f], s)
            d = StoredWindow(
                WindowKey(DAY, h + HOUR_MS - DAY_MS), day_events, 0,
                {f: s.to_bytes() for f, s in merged.items()},
            )  # fmt: skip
            store.windows.create_window(spec.name, d)
            events.extend(evaluator.evaluate(spec, d).events)
            day_parts, day_events = [], 0
    return Run(spec, store, events, times, list(evaluator.notes))
