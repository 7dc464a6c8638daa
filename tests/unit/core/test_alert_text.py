"""Alert text speaks direction, units and before → after values; effect and magnitude
agree in sign.

Decisions come from the real ``evaluate_feature`` on seeded drift streams; expected
values are read from the sketches themselves, not from the decision."""

from __future__ import annotations

import math
import re
from dataclasses import replace

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from stream.core.alert import (
    SCHEMA_VERSION,
    VALUES_SCHEMA_VERSION,
    Alert,
    alert_schema,
    build_alert,
)
from stream.core.alert_text import change, signed
from stream.core.before_after import BeforeAfter, human, span
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


NUM = r"(-?[\d,]+(?:\.\d+)?)"


def _num(text: str) -> float:
    return float(text.replace(",", ""))


def _close(shown: str, value: float) -> bool:
    """``shown`` is ``value`` rounded to the digits shown."""
    decimals = len(shown.split(".")[1]) if "." in shown else 0
    return abs(_num(shown) - value) <= 0.5 * 10**-decimals + 1e-12


def test_a_mean_drop_reads_as_before_after_values_and_a_signed_shift_in_sd() -> None:
    g = np.random.default_rng(21)
    win = S.numeric(g, "age", 1500, shift=-0.7)
    d = _eval("age", win)
    assert d.breach and d.effect > 0 > d.magnitude  # the decision's own fields disagree
    ref_mean, win_mean = S.reference("age").mean, win.mean  # type: ignore[union-attr]
    assert d.values is not None and d.values.quantity == "mean"
    assert math.isclose(d.values.baseline, ref_mean) and math.isclose(d.values.window, win_mean)
    got = re.fullmatch(rf"mean {NUM} → {NUM} \((-0\.\d\d) sd\)", change(d))
    assert got, change(d)
    assert _close(got.group(1), ref_mean) and _close(got.group(2), win_mean)
    assert 39 < ref_mean < 41 and 31 < win_mean < 35  # 4 significant digits: "40.10 → 33.08"
    assert len(got.group(1).split(".")[1]) == 2
    alert = _alert([d])
    (feature,) = alert["features"]  # type: ignore[misc]
    assert feature["effect"] < 0 and feature["magnitude"] < 0
    assert feature["ci_low"] < feature["ci_high"] < 0
    assert f"age {change(d)}" in str(alert["summary"])
    assert f"- age (numeric): {change(d)};" in str(alert["description"])


def _share(sketch: object, label: str) -> float:
    counts = dict(sketch.counts())  # type: ignore[attr-defined]
    return counts.get(label, 0) / sum(counts.values())


def test_a_categorical_move_reads_as_a_share_before_after_in_percent() -> None:
    g = np.random.default_rng(13)
    shares = {"mobile": 0.30, "desktop": 0.60, "tablet": 0.10}  # mobile shrinks
    win = S.categorical(g, "device", 1500, shares)
    d = _eval("device", win)
    assert d.breach
    text = change(d)
    got = re.fullmatch(rf"share of '(\w+)' {NUM} % → {NUM} % \(([+-]\d+\.\d) points\)", text)
    assert got, text
    label = got.group(1)
    before, after = _share(S.reference("device"), label), _share(win, label)
    assert _close(got.group(2), 100 * before) and _close(got.group(3), 100 * after)
    assert _close(got.group(4), 100 * (after - before))
    # The same category the decision's share posterior names in its reasons.
    assert any(r.startswith(f"share of {label!r} ") for r in d.reasons)
    assert d.values == BeforeAfter("share", before, after, label)
    effect, magnitude, lo, hi = signed(d)
    assert effect >= 0 and magnitude >= 0 and lo <= magnitude <= hi
    assert f"device {text}" in str(_alert([d])["summary"])


def test_a_feature_turning_null_reads_as_null_share_before_after() -> None:
    g = np.random.default_rng(12)
    win = S.numeric(g, "amount", 1500, null=0.95)
    d = _eval("amount", win)
    text = change(d)
    got = re.fullmatch(rf"null share {NUM} % → {NUM} % \(\+(\d+\.\d) points\)", text)
    assert got, text
    ref = S.reference("amount")
    before = (ref.nulls + ref.nans) / ref.total  # type: ignore[union-attr]
    after = (win.nulls + win.nans) / win.total
    assert _close(got.group(1), 100 * before) and _close(got.group(2), 100 * after)
    assert after > 0.9


def test_an_alert_carries_the_values_in_schema_v3_and_round_trips() -> None:
    g = np.random.default_rng(21)
    d = _eval("age", S.numeric(g, "age", 1500, shift=-0.7))
    doc = _alert([d])
    Draft202012Validator(alert_schema()).validate(doc)
    assert doc["schema_version"] == VALUES_SCHEMA_VERSION == 3
    (feature,) = doc["features"]  # type: ignore[misc]
    assert feature["values"] == {
        "quantity": "mean",
        "baseline": d.values.baseline,  # type: ignore[union-attr]
        "window": d.values.window,  # type: ignore[union-attr]
    }
    alert = Alert.from_dict(doc)
    assert alert.features[0].values == d.values
    assert Alert.from_json(alert.to_json()) == alert
    assert Decision.from_dict(d.to_dict()) == d
    # alerts tail reads the alert's feature entry and says the same words
    assert change(alert.features[0]) == change(d)


def test_decisions_without_values_keep_the_v1_alert_byte_for_byte() -> None:
    """Decisions stored by older versions carry no values: their alert is v1, unchanged."""
    g = np.random.default_rng(21)
    d = replace(_eval("age", S.numeric(g, "age", 1500, shift=-0.7)), values=None)
    doc = _alert([d])
    assert doc["schema_version"] == SCHEMA_VERSION == 1
    assert "values" not in doc["features"][0]  # type: ignore[index]
    assert "values" not in d.to_dict() and Decision.from_dict(d.to_dict()).values is None
    assert re.fullmatch(r"mean -0\.\d\d sd", change(d))
    Draft202012Validator(alert_schema()).validate(doc)


@given(st.floats(-1e14, 1e14), st.floats(-1e14, 1e14))
def test_before_after_numbers_are_rounded_honestly_and_keep_their_order(a: float, b: float) -> None:
    x, y = span(BeforeAfter("mean", a, b)).split(" → ")
    if "e" in x + y:
        return  # scientific notation for tiny values
    assert _close(x, a) and _close(y, b)
    assert x.count(".") == y.count(".") and len(x.partition(".")[2]) == len(y.partition(".")[2])
    if a < b:
        assert _num(x) <= _num(y)
    if abs(a - b) > 1e-3 * max(abs(a), abs(b)):
        assert x != y  # different values never read the same


def test_human_numbers() -> None:
    assert human(55_576.4) == "55,576"
    assert human(1_234_567.8) == "1,234,568"
    assert human(12.3456) == "12.35"
    assert human(0.0123456) == "0.0123"
    assert human(-0.00001) == "-0.0000100"
    assert human(float("nan")) == "n/a"
    assert span(BeforeAfter("share", 0.12, 0.18, "pro")) == "12.0 % → 18.0 %"
    assert span(BeforeAfter("share", 0.001, 0.004, "pro")) == "0.10 % → 0.40 %"
    assert span(BeforeAfter("null_share", 0.5, 0.50001)) == "50.000 % → 50.001 %"
    assert span(BeforeAfter("mean", 55_576.2, 76_379.4)) == "55,576 → 76,379"


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
