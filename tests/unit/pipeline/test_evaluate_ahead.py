"""Windows measured ahead together (a replay) are judged exactly as one at a time (live).

``Evaluator.measure_ahead`` measures every baseline's and trailing day's pairs of many
windows in one array pass; each window is then judged in order from those measures.
Every committed decision (hours, days, trailing days, every baseline), every lifecycle
state and every alert must be identical to evaluating the windows one by one — not
close: identical, as the stored JSON.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

import stream.pipeline.evaluate as evaluate_module
from stream.catalog import ModelSpec
from stream.core.measures.tails import _PELZ_ROWS_FROM, kstwo_sf, kstwo_sf_rows
from stream.core.window import DAY, DAY_MS, HOUR, HOUR_MS, WindowKey
from stream.pipeline.evaluate import Evaluator
from stream.pipeline.memory import MemoryEvaluationStore
from stream.pipeline.ports import StoredWindow
from stream.synth import Drift, SyntheticStream
from tests.unit.pipeline.evalsim import START, Scenario, hour_sketches, reference_for, wide_spec


def _windows(spec: ModelSpec, scenario: Scenario) -> list[StoredWindow]:
    """Every hour, then every day of ``scenario``: a replay's windows after its rollup."""
    gen = SyntheticStream(
        spec, start_ms=START, events_per_hour=scenario.per_hour, seed=11,
        drifts=list(scenario.drifts), seasonal=dict(scenario.seasonal),
    )  # fmt: skip
    hours = hour_sketches(spec, gen, scenario.days * 24)
    out = [
        StoredWindow(WindowKey(HOUR, h), n, 0, {f: s.to_bytes() for f, s in sk.items()})
        for h, (n, sk) in sorted(hours.items())
    ]
    for d in range(scenario.days):
        day = START + d * DAY_MS
        merged: dict[str, Any] = {}
        for h in range(day, day + DAY_MS, HOUR_MS):
            for f, s in hours[h][1].items():
                merged[f] = s if f not in merged else merged[f].merge(s)
        events = sum(hours[h][0] for h in range(day, day + DAY_MS, HOUR_MS))
        out.append(
            StoredWindow(
                WindowKey(DAY, day), events, 0, {f: s.to_bytes() for f, s in merged.items()}
            )
        )
    return out


def _run(
    spec: ModelSpec, scenario: Scenario, ahead: int, *, swap_reference: bool = False
) -> tuple[MemoryEvaluationStore, list[str], int]:
    sketches, cal, _ = reference_for(spec, scenario)
    store = MemoryEvaluationStore()
    store.put_reference(spec.name, sketches, cal)
    windows = _windows(spec, scenario)
    for w in windows:
        store.windows.create_window(spec.name, w)
    evaluator = Evaluator(store, encode=lambda e: e.alert_id.encode())
    alerts: list[str] = []
    measured = 0
    for i, w in enumerate(windows):
        if ahead and i % ahead == 0:
            measured += evaluator.measure_ahead(spec, windows[i : i + ahead])
            if swap_reference:  # another reference object: what was measured no longer fits
                store.put_reference(spec.name, sketches, cal)
        alerts += [e.alert_id for e in evaluator.evaluate(spec, w).events]
    return store, alerts, measured


def _stored(store: MemoryEvaluationStore) -> str:
    committed = {str(k): v for k, v in store.committed.items()}
    states = {str(k): v.to_dict() for k, v in store.states.items()}
    return json.dumps([committed, states], sort_keys=True)


SCENARIO = Scenario(
    "ahead",
    drifts=(
        Drift("n0", "shift", 1.0, START + 30 * HOUR_MS),
        Drift("n1", "null", 0.95, START + 31 * HOUR_MS, START + 33 * HOUR_MS),
        Drift("c0", "share", 0.6, START + 30 * HOUR_MS, category="c0"),
        Drift("c1", "share", 0.1, START + 26 * HOUR_MS, category="brand-new"),
        Drift("prediction", "ramp", 0.5, START + 20 * HOUR_MS, START + 2 * DAY_MS),
    ),
    seasonal={"n3": 1.5},
    days=2,
    per_hour=400,
)


@pytest.mark.parametrize("ahead", [5, 16])
def test_measured_ahead_judges_exactly_as_one_window_at_a_time(
    ahead: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = wide_spec("ahead", numeric=5, categorical=3)
    one, one_alerts, _ = _run(spec, SCENARIO, 0)
    calls: list[int] = []
    batch = evaluate_module.batch_measures

    def counted(jobs: Any, **kw: Any) -> Any:
        calls.append(len(jobs))
        return batch(jobs, **kw)

    monkeypatch.setattr(evaluate_module, "batch_measures", counted)
    many, many_alerts, measured = _run(spec, SCENARIO, ahead)
    assert _stored(many) == _stored(one)
    assert many_alerts == one_alerts and many_alerts  # the drifts page
    scales = {k.scale for _, k, _ in many.committed}
    assert {"hour", "day", "trailing_day"} <= scales
    # Every pair was measured ahead: one array pass per chunk, none per window.
    windows = 2 * 24 + 2
    assert len(calls) == -(-windows // ahead) and sum(calls) == measured > 0


def test_what_no_longer_fits_is_measured_again() -> None:
    spec = wide_spec("ahead", numeric=3, categorical=2)
    one, one_alerts, _ = _run(spec, SCENARIO, 0)
    swapped, alerts, measured = _run(spec, SCENARIO, 8, swap_reference=True)
    assert measured > 0
    assert _stored(swapped) == _stored(one) and alerts == one_alerts


def test_nothing_is_measured_ahead_on_the_per_pair_path() -> None:
    spec = wide_spec("ahead", numeric=2, categorical=1)
    store = MemoryEvaluationStore()
    sketches, cal, _ = reference_for(spec, SCENARIO)
    store.put_reference(spec.name, sketches, cal)
    windows = _windows(spec, SCENARIO)[:3]
    for w in windows:
        store.windows.create_window(spec.name, w)
    evaluator = Evaluator(store, encode=lambda e: e.alert_id.encode(), batch=False)
    assert evaluator.measure_ahead(spec, windows) == 0


def test_kolmogorov_rows_depend_on_their_own_group_only() -> None:
    """The array pass or the scalar routine is chosen per group, not per call."""
    rng = np.random.default_rng(5)
    d = rng.uniform(0.005, 0.05, 400)  # the Pelz–Good region at n = 1491
    n = np.full(d.size, 1491, dtype=np.int64)
    scalar = np.array([kstwo_sf(float(x), 1491) for x in d])
    # The two routines agree to a few ulps: rows where they differ tell them apart.
    differ = np.flatnonzero(kstwo_sf_rows(d, n) != scalar)
    assert 0 < differ.size < _PELZ_ROWS_FROM
    few = differ  # a group on the scalar routine
    many = np.flatnonzero(kstwo_sf_rows(d, n) == scalar)[: _PELZ_ROWS_FROM + 4]
    rows = np.concatenate([many, few])
    groups = [0] * many.size + [1] * few.size
    together = kstwo_sf_rows(d[rows], n[rows], groups)
    alone = np.concatenate([kstwo_sf_rows(d[many], n[many]), kstwo_sf_rows(d[few], n[few])])
    assert together.tolist() == alone.tolist()
    assert together[many.size :].tolist() == scalar[few].tolist()
    # As one group, every row takes the array pass: the few rows come out otherwise.
    assert kstwo_sf_rows(d[rows], n[rows]).tolist() != alone.tolist()
