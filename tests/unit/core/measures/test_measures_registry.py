"""The registry table and the confidence helpers behind every measure."""

from __future__ import annotations

import inspect
import math

import numpy as np
import pytest
from scipy import stats

from stream.core.measures import REGISTRY, Measure, compute_all, specs
from stream.core.measures import confidence as K
from stream.core.measures.categorical import CategoricalPair
from stream.core.measures.divergence import psi_counts
from stream.core.sketch import CategoricalSketch
from tests.unit.core.measures.measure_fakes import summarize


def _cat(counts: dict[str, int], nulls: int = 0) -> CategoricalSketch:
    return CategoricalSketch.zero().update([k for k, c in counts.items() for _ in range(c)], nulls)


def test_table_is_complete_and_documented() -> None:
    assert {s.kind for s in REGISTRY.values()} == {"numeric", "categorical"}
    for key, spec in REGISTRY.items():
        assert key == f"{spec.kind}.{spec.name}"
        assert spec.low < spec.high and spec.direction in {"higher", "abs"}
        assert spec.definition and "\n" not in spec.definition
        fn = getattr(spec.fn, "func", spec.fn)
        first = inspect.getdoc(fn).splitlines()[0]  # type: ignore[union-attr]
        # One line with definition and range, e.g. "…; in [0, 1]" or "…; ≥ 0".
        assert any(t in first for t in ("in [", "≥", "any real")), first


def test_compute_all_numeric_values_within_declared_ranges() -> None:
    g = np.random.default_rng(2)
    ref, win = summarize(g.normal(size=5000), 10), summarize(g.normal(0.3, 1.2, 800), 40)
    out = compute_all(ref, win, "numeric")
    assert list(out) == [s.name for s in specs("numeric")]
    for spec in specs("numeric"):
        m = out[spec.name]
        assert isinstance(m, Measure) and m.name == spec.name
        assert spec.low <= m.value <= spec.high, spec.name
        assert 0 <= m.p_value <= 1, spec.name
    assert out["ks"].n_ref == 5000 and out["null_rate_change"].n_win == 840


def test_compute_all_categorical_and_empty_window() -> None:
    ref = _cat({"a": 600, "b": 300, "c": 100}, nulls=5)
    win = _cat({"a": 500, "b": 350, "d": 150})
    out = compute_all(ref, win, "categorical")
    assert list(out) == [s.name for s in specs("categorical")]
    for spec in specs("categorical"):
        assert spec.low <= out[spec.name].value <= spec.high, spec.name
    assert out["unseen"].detail == {"d": 0.15} and out["vanished"].detail == {"c": 0.1}
    empty = compute_all(ref, _cat({}), "categorical")
    assert all(math.isnan(m.value) for m in empty.values())
    empty_num = compute_all(summarize(np.ones(3)), summarize(np.zeros(0)), "numeric")
    assert all(math.isnan(m.value) for m in empty_num.values())


def test_identical_inputs_measure_zero() -> None:
    x = np.random.default_rng(4).lognormal(size=3000)
    for name, m in compute_all(summarize(x), summarize(x), "numeric").items():
        assert m.value == pytest.approx(0.0, abs=1e-12), name
    c = _cat({"a": 5, "b": 7})
    for name, m in compute_all(c, c, "categorical").items():
        if name != "p_share_moved":  # a probability, not a distance
            assert m.value == pytest.approx(0.0, abs=1e-12), name


def test_ks_pvalue_is_scipys_asymptotic() -> None:
    g = np.random.default_rng(0)
    a, b = g.normal(size=700), g.normal(0.1, size=300)
    r = stats.ks_2samp(a, b, method="asymp")
    assert K.ks_pvalue(r.statistic, 700, 300) == pytest.approx(r.pvalue, rel=1e-9)


def test_chi2_null_matches_resampling() -> None:
    # Analytic PSI null mean vs multinomial redraws from the same 10 bins.
    p = np.full(10, 0.1)

    def stat(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.array([psi_counts(x, y) for x, y in zip(a, b, strict=True)])

    null = K.multinomial_null(p, 2000, 500, stat, draws=300, seed=1)
    _, mean = K.chi2_null(0.0, 10, 2000, 500)
    assert null.mean() == pytest.approx(mean, rel=0.15)
    p_at_95 = K.chi2_null(float(np.quantile(null, 0.95)), 10, 2000, 500)[0]
    assert 0.02 < p_at_95 < 0.1


def test_two_proportions_and_wilson() -> None:
    p, lo, hi = K.two_proportions(30_299, 65_551, 3_187, 6_703)
    z = stats.norm.isf(p / 2)
    assert z == pytest.approx(2.07, abs=0.02) and lo < 0.0132 < hi
    assert K.two_proportions(0, 10, 0, 10)[0] == 1.0
    lo, hi = K.wilson(5, 10)
    assert lo == pytest.approx(0.2366, abs=1e-4) and hi == pytest.approx(0.7634, abs=1e-4)


def test_measure_confidence_and_nan() -> None:
    m = Measure("x", 0.2, p_value=0.01)
    assert m.confidence == pytest.approx(0.99) and m.is_defined
    assert not K.nan_measure("x", 0, 0).is_defined
    assert CategoricalPair.from_counts({}, {}).n_ref == 0
