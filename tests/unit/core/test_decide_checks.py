"""``decide``'s checks read each calibration once: the same thresholds and scores as before."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from stream.core.calibrate import FeatureCalibration, one_window_alpha, z_critical
from stream.core.decide import _check, _levels
from stream.core.measures.confidence import Measure
from stream.core.nullspread import RULES, Calibration

_LAW = {r.name: r.law for r in RULES["numeric"]}


def _finite_max(a: float, b: float) -> float:
    if not math.isfinite(a):
        return b if math.isfinite(b) else math.nan
    return b if math.isfinite(b) and b > a else a


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(sorted(_LAW)),
    st.floats(-0.05, 0.05),
    st.floats(0.0, 3.0),
    st.floats(0.0, 5.0),
    st.floats(0.0, 0.01),
    st.integers(0, 50_000),
    st.integers(0, 5_000),
    st.floats(-1.0, 1.0),
    st.sampled_from([1e-3, 1e-5, 2.7e-7]),
    st.sampled_from([None, 0.0, 0.3]),
)
def test_thresholds_and_scores_are_the_calibrations_own(
    name: str, mu0: float, beta: float, sigma2: float, tau2: float, n_ref: int, n_win: int,
    value: float, alpha: float, override: float | None,
) -> None:  # fmt: skip
    law = _LAW[name]
    c = Calibration(name, law, mu0, beta, sigma2, tau2, n_ref=n_ref)
    cal = FeatureCalibration("x", "numeric", "hour", "reference", {name: c})
    m = Measure(name, value, 0.5, value - 0.1, value + 0.1, n_ref, n_win, 0.0)
    overrides = {} if override is None else {name: override}
    got = _check(name, m, "numeric", cal, _levels(alpha), overrides)
    assert got is not None
    floor = (
        override
        if override is not None
        else next(r.floor for r in RULES["numeric"] if r.name == name)
    )
    signed = law == "signed"
    if n_win > 0 and n_ref > 0:
        want = c.threshold(n_win, z_critical(alpha, two_sided=signed), n_base=n_ref)
        assert got.threshold == _finite_max(floor, want)
        want1 = c.threshold(n_win, z_critical(one_window_alpha(alpha), two_sided=signed), n_ref)
        thr, thr1 = _finite_max(floor, want), _finite_max(floor, want1)
        if law != "share" and not math.isnan(thr):  # p = 0.5: only the interval is decisive
            lo, hi = m.ci_low, m.ci_high
            effect = abs(value) if signed else value
            if signed:
                surely = min(abs(lo), abs(hi)) > thr and lo * hi > 0
                surely1 = min(abs(lo), abs(hi)) > thr1 and lo * hi > 0
            else:
                surely, surely1 = lo > thr, lo > thr1
            assert got.decisive == (effect >= thr and surely and effect >= thr1 and surely1)
        s, g = c.score(value, n_win, n_ref), got.score()
        assert s == g or (math.isnan(s) and math.isnan(g))
        assert got.spread == c.spread(n_win, n_ref) or math.isnan(got.spread)
    else:
        assert got.threshold == _finite_max(floor, math.nan)
