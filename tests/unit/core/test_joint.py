"""The joint member on in-memory sketches: a correlation flip pages, quiet hours do not."""

from __future__ import annotations

import numpy as np
import pytest

from stream.core.calibrate import alpha_per_test
from stream.core.joint import JOINT, JointCalibration, calibrate_joint, decide_joint
from stream.core.sketch.joint import JointSketch
from stream.core.window import HOUR_MS

COLS = tuple(f"x{i:02d}" for i in range(12))
N = 1_500


def _cov(rho: float) -> np.ndarray:
    c = np.eye(12)
    c[0, 1] = c[1, 0] = rho
    c[2, 3] = c[3, 2] = 0.4
    return c


def _hour(rng: np.random.Generator, rho: float, n: int = N) -> JointSketch:
    rows = rng.multivariate_normal(np.arange(12.0), _cov(rho), size=n)
    rows *= np.linspace(1.0, 50.0, 12)
    return JointSketch.zero(COLS).update(rows)


@pytest.fixture(scope="module")
def reference() -> tuple[JointSketch, dict[int, JointSketch]]:
    rng = np.random.default_rng(11)
    hours = {h * HOUR_MS: _hour(rng, 0.6) for h in range(7 * 24)}
    ref = JointSketch.zero(COLS)
    for s in hours.values():
        ref = ref.merge(s)
    return ref, hours


ALPHA = alpha_per_test(1.0, 12 * 4 + 2, "hour")


def test_flip_pages_in_its_first_hour_naming_the_pair(reference) -> None:
    ref, hours = reference
    cal = calibrate_joint(hours, "hour")
    assert cal.n_windows == 7 * 24 and cal.inflation
    d = decide_joint(ref, _hour(np.random.default_rng(5), -0.6), cal, alpha=ALPHA)
    assert d.feature == JOINT and d.breach and d.decisive
    assert d.details["pairs"][0]["pair"] == ["x00", "x01"]
    lo, hi = d.details["pairs"][0]["ci"]
    assert lo < -1.0 < hi or hi < -0.9  # Δρ ≈ −1.2
    assert {"x00", "x01"} & {c["column"] for c in d.details["columns"][:2]}
    assert "x00~x01" in d.reasons[0]


def test_quiet_hours_do_not_breach(reference) -> None:
    ref, hours = reference
    cal = calibrate_joint(hours, "hour")
    rng = np.random.default_rng(99)
    breaches = [decide_joint(ref, _hour(rng, 0.6), cal, alpha=ALPHA).breach for _ in range(48)]
    assert not any(breaches)


def test_small_windows_and_no_calibration_are_said() -> None:
    ref = _hour(np.random.default_rng(1), 0.6, 5000)
    small = decide_joint(ref, _hour(np.random.default_rng(2), 0.6, 50), None, alpha=ALPHA)
    assert not small.breach and "not judged" in small.reasons[0]
    unc = decide_joint(ref, _hour(np.random.default_rng(3), -0.6), None, alpha=ALPHA)
    assert unc.breach and any("uncalibrated" in r for r in unc.reasons)


def test_calibration_round_trips(reference) -> None:
    _, hours = reference
    cal = calibrate_joint(dict(list(hours.items())[:30]), "day")
    assert cal.n_windows == 1 and cal.method.startswith("too few")
    c2 = calibrate_joint(hours, "hour")
    assert JointCalibration.from_dict(c2.to_dict()) == c2


def test_joint_alert_matches_the_schema_and_links_the_window(reference) -> None:
    import jsonschema

    from stream.core.alert import Alert, alert_schema, build_alert
    from stream.core.lifecycle import AlertEvent, dedup_key
    from stream.core.window import HOUR, WindowKey

    ref, hours = reference
    d = decide_joint(
        ref, _hour(np.random.default_rng(5), -0.6), calibrate_joint(hours, "hour"), alpha=ALPHA
    )
    w = WindowKey(HOUR, 200 * HOUR_MS)
    key = dedup_key("m", HOUR, "reference", w.start_ms)
    event = AlertEvent(
        "triggered", "a" * 32, key, "m", HOUR, "reference", w, w.start_ms, "warning", (d,)
    )
    alert = build_alert(event, dashboard_base="https://dash.example")
    body = alert.to_dict()
    jsonschema.validate(body, alert_schema())
    entry = body["features"][0]
    assert entry["kind"] == "joint" and entry["hints"]["pairs"][0]["pair"] == ["x00", "x01"]
    assert "feature=" not in entry["dashboard_url"]
    assert Alert.from_dict(body).features[0].hints == entry["hints"]
