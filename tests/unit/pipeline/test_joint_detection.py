"""The joint member on in-memory streams through the production Evaluator and lifecycle.

12 numeric features (n0 and n1 correlated +0.6 in the reference and the stream) and
2 categorical ones at 1,500 events/hour after a calibrated reference week. A flip of
that correlation to −0.6 (marginals unchanged) pages in its onset hour, naming the
pair; quiet and seasonal streams never page; a univariate shift pages once, with the
joint member (if it breaches) grouped in the same alert.
"""

from __future__ import annotations

from typing import Any

import pytest

from stream.core.joint import JOINT
from stream.core.window import DAY_MS, HOUR_MS
from stream.synth import Drift
from tests.unit.pipeline.evalsim import START, Run, Scenario, reference_for, run_scenario, wide_spec

PER_HOUR = 1_500
ONSET = START + 1 * DAY_MS + 13 * HOUR_MS
SPEC = wide_spec("joint", numeric=12, categorical=2)
BASE = Drift("n1", "correlate", 0.6, 0, partner="n0")
SEASONAL = {f"n{i}": 1.0 for i in range(0, 12, 2)} | {"c0": 1.0}


def _reference(seasonal: dict[str, float] | None = None) -> tuple[Any, Any]:
    scenario = Scenario("ref", per_hour=PER_HOUR, seasonal=seasonal or {})
    sketches, cal, _ = reference_for(SPEC, scenario, drifts=(BASE,))
    return sketches, cal


@pytest.fixture(scope="module")
def reference() -> tuple[Any, Any]:
    return _reference()


def _run(ref: tuple[Any, Any], *drifts: Drift, days: int = 2, **kw: Any) -> Run:
    scenario = Scenario("s", (BASE, *drifts), days=days, per_hour=PER_HOUR, **kw)
    return run_scenario(SPEC, scenario, ref)


def _joint_judged(run: Run) -> int:
    return sum(
        1
        for (_, key, _b), ds in run.store.committed.items()
        for d in ds
        if d["feature"] == JOINT and d["metrics"]
    )


def _joint_breaches(run: Run) -> list[tuple[Any, str]]:
    return [
        (key, baseline)
        for (_, key, baseline), ds in run.store.committed.items()
        for d in ds
        if d["feature"] == JOINT and d["breach"]
    ]


def test_correlation_flip_pages_in_its_onset_hour_naming_the_pair(reference: Any) -> None:
    run = _run(reference, Drift("n1", "correlate", -0.6, ONSET, partner="n0"))
    first = min(run.triggered(), key=lambda e: e.window.end_ms)
    assert first.window.end_ms == ONSET + HOUR_MS
    top = first.decisions[0]
    assert top.feature == JOINT and top.kind == "joint"
    assert top.details["pairs"][0]["pair"] == ["n0", "n1"]
    assert top.details["pairs"][0]["rho_reference"] == pytest.approx(0.6, abs=0.05)
    assert top.details["pairs"][0]["rho_window"] == pytest.approx(-0.6, abs=0.1)
    assert "n0~n1" in top.reasons[0]
    # No feature drifted: the joint member is the only one that pages.
    members = {d.feature for e in run.triggered() for d in e.decisions if d.breach}
    assert members == {JOINT}
    # The day window of the onset day pages too.
    assert any(e.window.scale == "day" for e in run.triggered())


def test_quiet_stream_has_no_joint_alert(reference: Any) -> None:
    run = _run(reference, days=14)
    assert _joint_judged(run) == 14 * 24 + 14  # every hour and day window was judged
    assert _joint_breaches(run) == []
    assert run.triggered() == []


def test_seasonal_stream_has_no_joint_alert() -> None:
    run = _run(_reference(SEASONAL), days=14, seasonal=SEASONAL)
    assert _joint_judged(run) == 14 * 24 + 14
    assert _joint_breaches(run) == []


def test_univariate_shift_pages_once_grouped(reference: Any) -> None:
    run = _run(reference, Drift("n3", "shift", 1.0, ONSET))
    for scale in ("hour", "day"):
        opened = {
            e.dedup_key
            for e in run.triggered()
            if e.window.scale == scale and e.baseline == "reference"
        }
        assert len(opened) == 1, (scale, opened)
    for e in run.triggered():
        names = [d.feature for d in e.decisions]
        if JOINT in names:
            assert "n3" in names  # grouped with the feature that moved, never alone
