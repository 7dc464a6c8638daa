"""The wire format is pinned: committed bytes of every sketch kind, stored state and alert.

``tests/fixtures/wire/`` holds what the code wrote when the fixtures were made, from the
deterministic inputs below (no RNG, no clock, no version string):

* ``*.sketch`` — the codec frame of each sketch kind (``stream.core.sketch.dumps``);
* ``state_*.json`` — stored state as the Redis adapters write it,
  ``json.dumps(obj.to_dict(), sort_keys=True)``;
* ``alert_*.json`` — alerts-topic messages (``Alert.to_json()``): a v1 feature alert, a
  joint member with hints, a v2 model-health alert (``kind``) and a resolve.

The test rebuilds every object, asserts today's code writes the same bytes, and that
decoding the committed bytes and writing again gives them back (round trip). A change
of these bytes is a wire-format change: bump the version that guards it, keep a reader
for the old bytes, and only then rewrite the fixtures::

    .venv/bin/python -m tests.unit.core.test_wire_fixtures --write
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pytest

from stream.core.alert import Alert, AlertWindow, FeatureDrift
from stream.core.calibrate import FeatureCalibration, ModelCalibration
from stream.core.cusum import CusumState
from stream.core.decide import Decision
from stream.core.joint import JointCalibration
from stream.core.lifecycle import AlertState, OpenAlert
from stream.core.nullspread import Calibration
from stream.core.seasonality import Seasonality
from stream.core.sketch import CategoricalSketch, JointSketch, NumericSketch, dumps, loads
from stream.core.sketch.joint import indicator_values
from stream.core.window import WindowKey

FIXTURES = Path(__file__).parents[2] / "fixtures" / "wire"
_NAN, _INF = math.nan, math.inf
_HOUR = 1_767_618_000_000  # 2026-01-05T13:00Z


class _Stored(Protocol):
    def to_dict(self) -> dict[str, Any]: ...


# ------------------------------------------------------------------ sketches


def _numeric() -> NumericSketch:
    ordinary = [(i * 7919 % 10007) / 64.0 - 50.0 for i in range(5_000)]
    special = [_NAN] * 2 + [_INF, -_INF] + [0.0] * 3 + [-0.0]
    return NumericSketch.zero().update(np.array(ordinary + special + [1e300, 5e-324]), nulls=7)


def _numeric_collapsed() -> NumericSketch:
    values = [(i % 1000 + 1) * 10.0 ** (i % 13 - 6) for i in range(13_000)]
    return NumericSketch.zero(0.02, max_buckets=64).update(np.array(values))


def _categorical_exact() -> CategoricalSketch:
    values = ["DE"] * 50 + ["FR"] * 20 + ["US", "ü", "", "日本"] + [None] * 3
    return CategoricalSketch.zero().update(values, nulls=2, type_errors=4)


def _categorical_sampled() -> CategoricalSketch:
    # Past the exact cap: bottom-k sample, Count-Min table, zlib-compressed payload.
    values = [f"v{i * 31 % 700}" for i in range(6_000)] + ["DE"] * 2_000
    return CategoricalSketch.zero(32).update(values)


def _joint() -> JointSketch:
    rows = np.array(
        [
            [(i % 17) / 4.0, (i * 7 % 23) / 8.0 - 1.0, float(i % 5), (i % 3) * 0.5]
            for i in range(400)
        ]
    )
    rows[::37, 1] = _NAN
    return JointSketch.zero(("a", "b", "c", "d"), excluded=("e",)).update(rows)


def _joint_indicators() -> JointSketch:
    x = np.array([[(i % 17) / 4.0, (i * 7 % 23) / 8.0 - 1.0] for i in range(400)])
    cats = np.array([("DE", "FR", "ü", None)[i % 4] for i in range(400)], dtype=object)
    nulls = np.array([c is None for c in cats])
    return JointSketch.zero(("a", "b"), ("e",), (("région", "DE"), ("région", "ü"))).update(
        np.column_stack(
            [x, indicator_values(cats, nulls, "DE"), indicator_values(cats, nulls, "ü")]
        )
    )


SKETCHES: dict[str, Callable[[], NumericSketch | CategoricalSketch | JointSketch]] = {
    "numeric_empty": NumericSketch.zero,
    "numeric": _numeric,
    "numeric_collapsed": _numeric_collapsed,
    "categorical_empty": CategoricalSketch.zero,
    "categorical_exact": _categorical_exact,
    "categorical_sampled": _categorical_sampled,
    "joint": _joint,
    "joint_indicators": _joint_indicators,
}

LEGACY: dict[str, Callable[[], JointSketch]] = {"joint_v1": _joint}
"""Old layouts kept readable: ``<name>.sketch`` loads to the sketch built today (which
writes it in the current layout). ``joint_v1``: the joint payload before indicators."""

# ------------------------------------------------------------------ stored state


def _calibration(metric: str, law: str, i: int) -> Calibration:
    return Calibration(
        metric,
        law,  # type: ignore[arg-type]
        mu0=0.001 * i,
        beta=0.25 + i,
        sigma2=1.5 / (i + 1),
        tau2=0.0 if i % 2 else 1e-6,
        q=_NAN if i == 0 else 12.5,
        q_df=i * 3,
        q_p=_NAN if i == 0 else 0.125,
        n_windows=24 * i,
        n_ref=10_000 + i,
        draws=120 if i else 0,
        method="redraw" if i else "analytic",
    )


def _feature_calibration(feature: str, kind: str, scale: str, baseline: str) -> FeatureCalibration:
    metrics = {"js": ("distance", 1), "mean_shift": ("signed", 0), "null_rate": ("share", 2)}
    return FeatureCalibration(
        feature,
        kind,  # type: ignore[arg-type]
        scale,  # type: ignore[arg-type]
        baseline,  # type: ignore[arg-type]
        {m: _calibration(m, law, i) for m, (law, i) in metrics.items()},
        lag_ms=3_600_000 if baseline == "previous" else 0,
        window_n=_NAN if scale == "day" else 1500.0,
        live_n=_NAN,
        n_windows=7,
        method="reference",
    )


def _seasonality(feature: str, daily: bool) -> Seasonality:
    return Seasonality(
        feature,
        daily=daily,
        weekly=not daily,
        q=41.0,
        q_p=1e-21 if daily else _NAN,
        tau2=0.03125,
        hod_p=0.5,
        day_p=_INF,
        n_windows=168,
        method="median",
    )


def _joint_calibration(scale: str) -> JointCalibration:
    return JointCalibration(
        scale,  # type: ignore[arg-type]
        {("a", "b"): 1.25, ("a", "c"): 0.75, ("b", "c"): 2.0},
        pca_row_var=_NAN if scale == "day" else 0.5,
        window_n=200.0,
        n_windows=9,
        method="leave-one-out",
    )


def _model_calibration() -> ModelCalibration:
    cals = {
        f: {
            f"{s}/{b}": _feature_calibration(f, k, s, b)
            for s in ("hour", "day")
            for b in ("reference", "previous")
        }
        for f, k in (("amount", "numeric"), ("région", "categorical"))
    }
    return ModelCalibration(
        "fraud-v3",
        cals,
        {"amount": _seasonality("amount", True), "région": _seasonality("région", False)},
        {s: _joint_calibration(s).to_dict() for s in ("day", "hour")},
    )


def _decision(feature: str, breach: bool, details: Mapping[str, Any] | None = None) -> Decision:
    return Decision(
        feature=feature,
        breach=breach,
        effect=0.21,
        effect_metric="js",
        threshold=0.05,
        p_value=1e-9 if breach else 0.4,
        confidence=1 - 1e-9 if breach else 0.6,
        p_drift=0.999 if breach else 0.1,
        magnitude=0.18,
        ci=(0.12, _INF),
        severity="critical" if breach else "none",
        reasons=("share of 'DE' 30% → 52%", "new value 'XX'") if breach else (),
        metrics={
            "js": (0.21, 0.05, 1e-9),
            "psi": (_NAN, 0.2, _NAN),
            "mean_shift": (-0.5, 0.1, 0.01),
        },
        kind="categorical",
        n_window=1_523,
        ratio=4.2,
        ranked=("js", "mean_shift") if breach else (),
        z=-_INF if breach else _NAN,
        cusum_k=0.5,
        decisive=breach,
        details=details or {},
    )


def _alert_state(kind: str, open_: bool) -> AlertState:
    return AlertState(
        model="fraud-v3",
        scale="hour",
        baseline="reference",
        last_window_ms=_HOUR if open_ else None,
        streaks={"région": (2, _HOUR - 3_600_000), "amount": (0, 0)} if open_ else {},
        open=OpenAlert(
            "ds-" + "0" * 32, _HOUR - 3_600_000, ("région",), ("amount", "région"), "critical", 1
        )
        if open_
        else None,
        cooldown_until_ms=_HOUR + 7_200_000 if open_ else None,
        cusum={"amount": CusumState(1.5, 0.0, _HOUR), "région": CusumState()} if open_ else {},
        kind=kind,
    )


_HINTS = {
    "pairs": [{"a": "amount", "b": "age", "before": 0.1, "after": 0.8}],
    "columns": ["amount"],
}

STATES: dict[str, Callable[[], _Stored]] = {
    "state_cusum": lambda: CusumState(2.25, 0.5, _HOUR),
    "state_cusum_fresh": CusumState,
    "state_calibration": lambda: _calibration("wasserstein", "distance", 3),
    "state_feature_calibration": lambda: _feature_calibration(
        "amount", "numeric", "hour", "previous"
    ),
    "state_seasonality": lambda: _seasonality("amount", True),
    "state_joint_calibration": lambda: _joint_calibration("hour"),
    "state_model_calibration": _model_calibration,
    "state_model_calibration_no_joint": lambda: ModelCalibration("m", {}, {}),
    "state_decision_breach": lambda: _decision("région", True),
    "state_decision_clean": lambda: _decision("amount", False),
    "state_decision_joint": lambda: _decision("joint", True, _HINTS),
    "state_alert_state_open": lambda: _alert_state("feature", True),
    "state_alert_state_fresh": lambda: _alert_state("feature", False),
    "state_alert_state_label": lambda: _alert_state("label", True),
}

# ------------------------------------------------------------------ alerts


def _drift(name: str, kind: str, hints: Mapping[str, Any] | None = None) -> FeatureDrift:
    return FeatureDrift(
        name=name,
        kind=kind,
        breach=True,
        severity="critical",
        effect_metric="js",
        effect=0.21,
        threshold=0.05,
        ratio=4.2,
        p_value=1e-9,
        p_drift=0.999,
        magnitude=-0.18,
        ci_low=_NAN,
        ci_high=-0.1,
        reasons=("share of 'DE' 30% → 52%",),
        metrics={"psi": (_INF, 0.2, _NAN), "js": (0.21, 0.05, 1e-9)},
        dashboard_url=f"https://dash.example/models/fraud-v3?window=hour:2026-01-05T13&feature={name}",
        hints=hints or {},
    )


def _alert(
    status: str, kind: str, features: tuple[FeatureDrift, ...], runbook: str | None
) -> Alert:
    w = WindowKey("hour", _HOUR)
    return Alert(
        alert_id="a" * 32,
        dedup_key="ds-" + "b" * 32,
        status=status,
        severity="critical" if status == "triggered" else "warning",
        model="fraud-v3",
        window=AlertWindow.of(w),
        baseline="reference",
        first_seen_ms=_HOUR - 3_600_000,
        first_seen="2026-01-05T12:00:00.000Z",
        features=features,
        summary="[critical] fraud-v3: drift in 1 feature (région) — hour:2026-01-05T13",
        description="Model fraud-v3 …\nrégion: share of 'DE' 30% → 52%",
        dashboard_url="https://dash.example/models/fraud-v3?window=hour:2026-01-05T13",
        runbook_url=runbook,
        producer_version="0.0.0+fixture",
        schema_version=1 if kind == "feature" else 2,
        kind=kind,
    )


ALERTS: dict[str, Callable[[], Alert]] = {
    "alert_v1_triggered": lambda: _alert(
        "triggered", "feature", (_drift("région", "categorical"),), "https://runbooks/x"
    ),
    "alert_v1_joint": lambda: _alert(
        "triggered",
        "feature",
        (_drift("amount", "numeric"), _drift("joint", "joint", _HINTS)),
        None,
    ),
    "alert_v1_resolved": lambda: _alert("resolved", "feature", (), None),
    "alert_v2_label": lambda: _alert(
        "triggered", "label", (_drift("label:positive_share", "label"),), None
    ),
}

# ------------------------------------------------------------------ encoders


def _state_bytes(obj: _Stored) -> bytes:
    return json.dumps(obj.to_dict(), sort_keys=True).encode()


_DECODERS: dict[str, Callable[[Mapping[str, Any]], _Stored]] = {
    "state_cusum": CusumState.from_dict,
    "state_calibration": Calibration.from_dict,
    "state_feature_calibration": FeatureCalibration.from_dict,
    "state_seasonality": Seasonality.from_dict,
    "state_joint_calibration": JointCalibration.from_dict,
    "state_model_calibration": ModelCalibration.from_dict,
    "state_decision": Decision.from_dict,
    "state_alert_state": AlertState.from_dict,
}


def _decoder(name: str) -> Callable[[Mapping[str, Any]], _Stored]:
    return next(
        d for prefix, d in sorted(_DECODERS.items(), reverse=True) if name.startswith(prefix)
    )


def written() -> dict[str, bytes]:
    """Every fixture file's name → the bytes today's code writes for it."""
    out = {f"{n}.sketch": dumps(b()) for n, b in SKETCHES.items()}
    out |= {f"{n}.json": _state_bytes(b()) for n, b in STATES.items()}
    out |= {f"{n}.json": b().to_json() for n, b in ALERTS.items()}
    return out


@pytest.mark.parametrize("name", sorted(written()))
def test_today_writes_the_committed_bytes(name: str) -> None:
    committed = (FIXTURES / name).read_bytes()
    assert written()[name] == committed, f"{name}: wire format changed (see module docstring)"


@pytest.mark.parametrize("name", sorted(SKETCHES))
def test_committed_sketch_round_trips(name: str) -> None:
    blob = (FIXTURES / f"{name}.sketch").read_bytes()
    sketch = loads(blob)
    assert sketch == SKETCHES[name]()
    assert dumps(sketch) == blob
    assert type(sketch).from_bytes(blob).to_bytes() == blob


@pytest.mark.parametrize("name", sorted(STATES))
def test_committed_state_round_trips(name: str) -> None:
    blob = (FIXTURES / f"{name}.json").read_bytes()
    obj = _decoder(name)(json.loads(blob))
    assert _state_bytes(obj) == blob
    assert type(obj) is type(STATES[name]())


@pytest.mark.parametrize("name", sorted(ALERTS))
def test_committed_alert_round_trips(name: str) -> None:
    blob = (FIXTURES / f"{name}.json").read_bytes()
    alert = Alert.from_json(blob)
    assert alert.to_json() == blob
    assert ("kind" in json.loads(blob)) == (alert.kind != "feature")


@pytest.mark.parametrize("name", sorted(LEGACY))
def test_legacy_sketch_still_loads(name: str) -> None:
    blob = (FIXTURES / f"{name}.sketch").read_bytes()
    sketch = loads(blob)
    assert sketch == LEGACY[name]()
    assert dumps(sketch) != blob  # today's layout differs: the old one is only read


def test_fixture_directory_holds_exactly_the_pinned_files() -> None:
    pinned = [*written(), *(f"{n}.sketch" for n in LEGACY)]
    assert sorted(p.name for p in FIXTURES.iterdir()) == sorted(pinned)


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    FIXTURES.mkdir(parents=True, exist_ok=True)
    for fname, data in written().items():
        (FIXTURES / fname).write_bytes(data)
    print(f"wrote {len(written())} fixtures to {FIXTURES}")
