"""Golden decisions: the engine's verdicts on a fixed set of windows, frozen.

Eight days of a 7-column model (4 numeric, one of them seasonal, 2 categorical, a
numeric prediction) at 400 events/hour after a calibrated reference week; from
hour 170 five drifts start at once: a 1-sd shift (n0), a 0.15-sd shift (n1), 95 %
nulls for two hours (n2), a share move 55 % → 65 % (c0's ``c0``), a new category at
10 % (c1), and a 0.5-sd ramp over four days (the prediction). Every decision of
the hour windows 164–180 and of the day windows, against every baseline, is
compared with ``fixtures/golden_decisions.json`` (written by the code as of the
commit that added it; regenerate with ``DRIFTSTREAM_GOLDEN=write`` only for a
change that is meant to move decisions, and say so in the commit).

Tolerances (any faster engine must hold them):

- identical: breach, severity, top metric, ranked metrics, the set of metrics;
- effects, thresholds, ratios, magnitudes, intervals, z, slack: relative 1e-6;
- p-values: relative 1e-3 (or both below 1e-12) — closed forms may replace
  numerical routines;
- P(drift): absolute 5e-3 (normal approximations of Beta posteriors at these counts);
- reasons: identical once every number in them is masked.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import Any

import pytest

from stream.core.window import DAY_MS, HOUR_MS
from stream.synth import Drift
from tests.unit.pipeline.evalsim import START, Scenario, run_scenario, wide_spec

FIXTURE = Path(__file__).parent / "fixtures" / "golden_decisions.json"
ONSET = START + 170 * HOUR_MS
HOURS = range(164, 181)


def _scenario() -> Scenario:
    return Scenario(
        "golden",
        drifts=(
            Drift("n0", "shift", 1.0, ONSET),
            Drift("n1", "shift", 0.15, ONSET),
            Drift("n2", "null", 0.95, ONSET, ONSET + 2 * HOUR_MS),
            Drift("c0", "share", 0.65, ONSET, category="c0"),
            Drift("c1", "share", 0.10, ONSET, category="zz"),
            Drift("prediction", "ramp", 0.5, ONSET, ONSET + 4 * DAY_MS),
        ),
        seasonal={"n3": 1.5},
        days=8,
        per_hour=400,
    )


def _current() -> dict[str, Any]:
    # The joint member is off here: this fixture freezes the per-feature engine (with
    # it on, its two tests tighten every feature's α; tests/unit/pipeline/test_joint_detection.py).
    spec = wide_spec("golden", numeric=4, categorical=2, joint={"enabled": False})
    run = run_scenario(spec, _scenario())
    keep = {START + h * HOUR_MS for h in HOURS}
    out: dict[str, Any] = {}
    for (_, key, baseline), ds in sorted(
        run.store.committed.items(), key=lambda kv: (kv[0][1].scale, kv[0][1].start_ms, kv[0][2])
    ):
        if key.scale == "hour" and key.start_ms not in keep or key.scale == "trailing_day":
            continue  # trailing days: tests/unit/pipeline/test_trailing.py
        out[f"{key.scale}/{key.start_ms}/{baseline}"] = ds
    return out


@pytest.fixture(scope="module")
def current() -> dict[str, Any]:
    return _current()


def test_golden_fixture_is_current(current: dict[str, Any]) -> None:
    if os.environ.get("DRIFTSTREAM_GOLDEN") == "write":
        FIXTURE.write_text(json.dumps(current, indent=0, sort_keys=True) + "\n")
    golden = json.loads(FIXTURE.read_text())
    assert sorted(current) == sorted(golden)
    for key, decisions in golden.items():
        now = {d["feature"]: d for d in current[key]}
        assert sorted(now) == sorted(d["feature"] for d in decisions), key
        for g in decisions:
            _same(f"{key}/{g['feature']}", g, now[g["feature"]])


def test_golden_windows_cover_every_decision_kind(current: dict[str, Any]) -> None:
    # The fixture is only worth something if it holds breaches of every kind and quiet ones.
    hour = [d for k, ds in current.items() if k.startswith("hour/") for d in ds]
    breached = {d["feature"] for d in hour if d["breach"]}
    assert {"n0", "n1", "n2", "c0", "c1"} <= breached
    assert any(not d["breach"] for d in hour)
    assert any(k.startswith("hour/") and k.endswith("/seasonal") for k in current)
    assert any(k.startswith("day/") for k in current)
    assert any(d["severity"] == "critical" for d in hour)


def _close(a: Any, b: Any, rel: float, tiny: float = 0.0) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if abs(a) <= tiny and abs(b) <= tiny:
        return True
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-12)


def _mask(reasons: list[str]) -> list[str]:
    return [re.sub(r"[-+]?\d[\d.e+-]*", "#", r) for r in reasons]


def _same(where: str, g: dict[str, Any], c: dict[str, Any]) -> None:
    for k in ("breach", "severity", "effect_metric", "ranked", "kind", "n_window"):
        assert g[k] == c[k], (where, k, g[k], c[k])
    for k in ("effect", "threshold", "ratio", "magnitude", "z", "cusum_k"):
        assert _close(g[k], c[k], 1e-6), (where, k, g[k], c[k])
    for i in (0, 1):
        assert _close(g["ci"][i], c["ci"][i], 1e-6), (where, "ci", g["ci"], c["ci"])
    for k in ("p_value",):
        assert _close(g[k], c[k], 1e-3, 1e-12), (where, k, g[k], c[k])
    if g["p_drift"] is None or c["p_drift"] is None:
        assert g["p_drift"] == c["p_drift"], (where, "p_drift")
    else:
        assert abs(g["p_drift"] - c["p_drift"]) <= 5e-3, (where, "p_drift", g, c)
    assert sorted(g["metrics"]) == sorted(c["metrics"]), where
    for name, (gv, gt, gp) in g["metrics"].items():
        cv, ct, cp = c["metrics"][name]
        assert _close(gv, cv, 1e-6) and _close(gt, ct, 1e-6), (where, name, g, c)
        assert _close(gp, cp, 1e-3, 1e-12), (where, name, gp, cp)
    assert _mask(g["reasons"]) == _mask(c["reasons"]), (where, g["reasons"], c["reasons"])
