"""The batched decision path (``Evaluator.batch``) decides exactly as the per-pair path.

Every committed decision of a drifting scenario — hours, calendar days and the
trailing day, every baseline — is compared between an evaluator that measures all
numeric columns of a window in one array pass and one that measures pair by pair:
every non-float field identical (breach, severity, decisive, ranked metrics, reasons
once numbers are masked), every float within 1e-9 relative (summation order only).
"""

from __future__ import annotations

import math
import re
from typing import Any

from stream.core.window import DAY_MS, HOUR_MS
from stream.synth import Drift
from tests.unit.pipeline.evalsim import START, Scenario, run_scenario, wide_spec

_NUM = re.compile(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?")


def _close(a: Any, b: Any, path: str) -> None:
    if isinstance(a, dict):
        assert isinstance(b, dict) and sorted(a) == sorted(b), path
        for k in a:
            _close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list | tuple):
        assert isinstance(b, list | tuple) and len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _close(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and not isinstance(a, bool):
        assert isinstance(b, float | int), path
        if math.isnan(a):
            assert math.isnan(b), path
        else:
            assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12), (path, a, b)
    elif isinstance(a, str):
        assert _NUM.sub("#", a) == _NUM.sub("#", b), (path, a, b)
    else:
        assert a == b, (path, a, b)


def test_batched_and_per_pair_decisions_agree() -> None:
    onset = START + 30 * HOUR_MS
    scenario = Scenario(
        "batch",
        drifts=(
            Drift("n0", "shift", 1.0, onset),
            Drift("n1", "shift", 0.15, onset),
            Drift("n2", "null", 0.95, onset, onset + 2 * HOUR_MS),
            Drift("c0", "share", 0.65, onset, category="c0"),
            Drift("c1", "share", 0.1, onset, onset + 3 * HOUR_MS, category="brand-new"),
            Drift("c1", "null", 0.95, onset + 5 * HOUR_MS, onset + 7 * HOUR_MS),
            Drift("c2", "null", 1.0, onset + 2 * HOUR_MS, onset + 4 * HOUR_MS),
            Drift("prediction", "ramp", 0.5, onset, onset + 2 * DAY_MS),
        ),
        seasonal={"n3": 1.5},
        days=2,
        per_hour=400,
    )
    spec = wide_spec("batch", numeric=5, categorical=3, joint={"enabled": False})
    fast = run_scenario(spec, scenario, batch=True)
    exact = run_scenario(spec, scenario, batch=False)
    assert sorted(fast.store.committed, key=str) == sorted(exact.store.committed, key=str)
    scales = {key.scale for _, key, _ in fast.store.committed}
    assert {"hour", "day", "trailing_day"} <= scales
    breaches = 0
    for k, ds in fast.store.committed.items():
        _close(ds, exact.store.committed[k], str(k))
        breaches += sum(bool(d["breach"]) for d in ds)
    assert breaches > 0  # the drifts are judged, not only quiet windows
    # The categorical breaks are among them: a new category, mostly null, vanished.
    judged = {d["feature"]: d for ds in fast.store.committed.values() for d in ds if d["breach"]}
    assert {"c0", "c1", "c2"} <= judged.keys()
    reasons = " ".join(r for ds in fast.store.committed.values() for d in ds for r in d["reasons"])
    assert "new categories hold" in reasons and "mostly null" in reasons
    assert "the feature vanished" in reasons
    assert [e.alert_id for e in fast.events] == [e.alert_id for e in exact.events]
