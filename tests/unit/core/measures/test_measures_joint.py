"""The baseline's joint view and axes, derived once per sketch state."""

from __future__ import annotations

import numpy as np

from stream.core.measures.joint import JointView, baseline_view, pca_axes
from stream.core.sketch.joint import JointSketch


def _same(a: JointView, b: JointView) -> bool:
    return a.rows == b.rows and all(
        np.array_equal(x, y, equal_nan=True)
        for x, y in ((a.n, b.n), (a.mean, b.mean), (a.cov, b.cov), (a.corr, b.corr))
    )


def test_baseline_view_is_the_views_of_the_current_rows() -> None:
    rng = np.random.default_rng(1)
    s = JointSketch.zero(("a", "b", "c")).update(rng.normal(size=(500, 3)))
    view, axes = baseline_view(s)
    assert _same(view, JointView.of(s))
    first = pca_axes(JointView.of(s))
    assert axes is not None and first is not None
    assert np.array_equal(axes.residual, first.residual) and axes.kept == first.kept
    assert baseline_view(s)[0] is view  # the same state: derived once
    # Rows added in place: derived again, from the new rows.
    s.update(rng.normal(size=(300, 3)) @ np.array([[1, 0.9, 0], [0, 1, 0], [0, 0, 1]]))
    again, axes2 = baseline_view(s)
    assert again is not view and again.rows == 800
    assert _same(again, JointView.of(s))
    assert axes2 is not None
    assert np.allclose(axes2.residual, pca_axes(JointView.of(s)).residual)  # type: ignore[union-attr]
    # An equal sketch that is another object is derived on its own.
    other = s.copy()
    assert baseline_view(other)[0] is not again
    assert _same(baseline_view(other)[0], again)
