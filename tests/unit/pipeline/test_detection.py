"""Default rules on in-memory streams: clear drift pages in its onset hour, quiet stays quiet.

The 14-day, 13-column table lives in benchmarks/bench_detect.py (docs/benchmarks.md)
and the real-stack version in tests/e2e/test_scenarios.py; this is the fast guard
over the same production code (calibration, Evaluator, lifecycle with
``consecutive_breaches = 2``): 3 days at 600 events/hour after a reference week.
"""

from __future__ import annotations

import pytest

from stream.core.window import DAY_MS, HOUR_MS
from stream.synth import Drift
from tests.unit.pipeline.evalsim import START, Scenario, reference_for, run_scenario, wide_spec

ONSET = START + 2 * DAY_MS + 13 * HOUR_MS
SPEC = wide_spec("detect", numeric=4, categorical=2)


@pytest.fixture(scope="module")
def reference() -> tuple[object, object]:
    sketches, cal, _ = reference_for(SPEC, Scenario("ref", per_hour=600), ref_per_hour=300)
    return sketches, cal


def _run(reference: tuple[object, object], *drifts: Drift) -> tuple[list[int], int]:
    run = run_scenario(SPEC, Scenario("s", drifts, days=3, per_hour=600), reference)  # type: ignore[arg-type]
    ends = sorted(e.window.end_ms for e in run.triggered())
    return ends, sum(1 for e in ends if e <= ONSET)


def test_quiet_stream_never_pages(reference: tuple[object, object]) -> None:
    ends, _ = _run(reference)
    assert ends == []


@pytest.mark.parametrize(
    "drift",
    [
        Drift("n1", "shift", 1.0, ONSET),
        Drift("c0", "share", 0.52, ONSET, category="c0"),
        Drift("n2", "null", 0.95, ONSET, ONSET + 2 * HOUR_MS),
        Drift("c1", "share", 0.10, ONSET, category="zz"),
        Drift("n3", "null", 1.0, ONSET),
    ],
    ids=["shift-1sd", "share+10pts", "nulls-95", "new-category-10", "vanished"],
)
def test_clear_drift_pages_in_its_onset_hour_with_default_rules(
    reference: tuple[object, object], drift: Drift
) -> None:
    ends, false = _run(reference, drift)
    assert false == 0, ends
    assert ends and ends[0] == ONSET + HOUR_MS, ends  # the onset hour's window, not the next


def test_without_decisive_paging_the_same_drift_waits_for_its_second_hour(
    reference: tuple[object, object],
) -> None:
    # The sequential rule is off too: a jump of z ≈ 24 alarms the CUSUM in one window.
    off = {"page_on_decisive": False, "sequential": False}
    spec = wide_spec("detect", numeric=4, categorical=2, alerts=off)
    scenario = Scenario("s", (Drift("n1", "shift", 1.0, ONSET),), days=3, per_hour=600)
    run = run_scenario(spec, scenario, reference)  # type: ignore[arg-type]
    hourly = sorted(e.window.end_ms for e in run.triggered() if e.window.scale == "hour")
    assert hourly[0] == ONSET + 2 * HOUR_MS
