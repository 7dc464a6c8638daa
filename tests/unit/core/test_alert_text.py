"""Alert text speaks direction and units; effect and magnitude agree in sign.

Decisions come from the real ``evaluate_feature`` on seeded drift streams."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from stream.core.alert import build_alert
from stream.core.alert_text import change, signed
from stream.core.decide import Decision
from stream.core.lifecycle import AlertState, LifecycleRules, step
from stream.core.window import WindowKey
from tests.unit.core import drift_streams as S
from tests.unit.core.test_decide import _eval

T0 = 1_767_618_000_000


def _alert(decisions: list[Decision]) -> dict[str, object]:
    rules = LifecycleRules(consecutive_breaches=1)
    _, events = step(AlertState("m", "hour", "reference"), WindowKey("hour", T0), decisions, rules)
    (event,) = events
    return build_alert(event, dashboard_base="http://x").to_dict()


def test_a_mean_drop_reads_as_a_signed_shift_in_sd() -> None:
    g = np.random.default_rng(21)
    d = _eval("age", S.numeric(g, "age", 1500, shift=-0.7))
    assert d.breach and d.effect > 0 > d.magnitude  # the decision's own fields disagree
    assert change(d).startswith("mean -0.")
    assert change(d).endswith(" sd")
    alert = _alert([d])
    (feature,) = alert["features"]  # type: ignore[misc]
    assert feature["effect"] < 0 and feature["magnitude"] < 0
    assert feature["ci_low"] < feature["ci_high"] < 0
    assert f"age {change(d)}" in str(alert["summary"])
    assert f"- age (numeric): {change(d)};" in str(alert["description"])


def test_a_categorical_move_reads_as_a_share_in_points() -> None:
    g = np.random.default_rng(13)
    shares = {"mobile": 0.30, "desktop": 0.60, "tablet": 0.10}  # mobile shrinks
    d = _eval("device", S.categorical(g, "device", 1500, shares))
    assert d.breach
    text = change(d)
    assert text.startswith("share of '") and text.endswith(" points")
    effect, magnitude, lo, hi = signed(d)
    assert effect >= 0 and magnitude >= 0 and lo <= magnitude <= hi
    assert f"device {text}" in str(_alert([d])["summary"])


def test_a_feature_turning_null_reads_as_null_share() -> None:
    g = np.random.default_rng(12)
    d = _eval("amount", S.numeric(g, "amount", 1500, null=0.95))
    assert "null" in change(d)


@given(
    st.sampled_from(["mean_shift", "q50_shift", "null_rate_change", "linf", "js", "psi"]),
    st.floats(-5, 5),
    st.floats(0, 5),
    st.floats(0.01, 1),
)
def test_effect_and_magnitude_never_disagree_in_sign(
    metric: str, magnitude: float, effect: float, width: float
) -> None:
    d = Decision(
        "f", True, effect, metric, 0.1, 1e-9, 1.0, 1.0, magnitude,
        (magnitude - width, magnitude + width), "warning", (), {}, "numeric", 100, 2.0,
    )  # fmt: skip
    e, m, lo, hi = signed(d)
    assert not (e > 0 > m or m > 0 > e)
    assert lo <= m <= hi
    assert math.isclose(abs(e), effect) and math.isclose(abs(m), abs(magnitude))
