"""Features whose spread is below the sketch's resolution: judged on exact moments only."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from stream.core.decide import evaluate_feature
from stream.core.nullspread import _median
from stream.core.sketch import NumericSketch
from tests.unit.core.sketch.sketch_strategies import numeric_of, numeric_values

ALPHA = 1e-5


def _sketch(rng: np.random.Generator, mean: float, n: int) -> NumericSketch:
    return NumericSketch.zero().update(rng.normal(mean, 1.0, n))


def test_low_cv_stationary_windows_do_not_breach() -> None:
    rng = np.random.default_rng(7)
    ref = _sketch(rng, 370.0, 30_000)
    breaches = 0
    for _ in range(40):
        d = evaluate_feature("x", "numeric", ref, _sketch(rng, 370.0, 3_000), None, alpha=ALPHA)
        breaches += d.breach
        assert not {"ks", "js", "out_of_range"} & set(d.metrics)
    assert breaches == 0


def test_low_cv_mean_shift_is_still_caught_by_exact_moments() -> None:
    rng = np.random.default_rng(8)
    ref = _sketch(rng, 370.0, 30_000)
    d = evaluate_feature("x", "numeric", ref, _sketch(rng, 370.5, 3_000), None, alpha=ALPHA)
    assert d.breach and d.effect_metric == "mean_shift"


def test_well_resolved_features_keep_their_shape_metrics() -> None:
    rng = np.random.default_rng(9)
    ref = _sketch(rng, 5.0, 30_000)
    d = evaluate_feature("x", "numeric", ref, _sketch(rng, 5.0, 3_000), None, alpha=ALPHA)
    assert {"ks", "js", "out_of_range"} <= set(d.metrics)


@settings(max_examples=300, deadline=None)
@given(numeric_values, st.sampled_from([0.01, 0.05]), st.sampled_from([2048, 8]))
def test_median_from_buckets_is_the_sketch_quantile(
    values: list[float], alpha: float, max_buckets: int
) -> None:
    # resolution_limited reads the median from the memoised buckets: the same number.
    s = numeric_of(values, relative_accuracy=alpha, max_buckets=max_buckets)
    if s.count >= 2:
        assert _median(s) == float(s.quantile(0.5))
