"""KS and JS of many redrawn windows against one base, in array operations.

Calibration redraws ~100 windows from a reference's buckets (``nullspread.Resampler``):
every redrawn window holds the base's bucket representatives, so its buckets are a
subset of the base's. Both distances then have closed forms over the base's buckets,
one row per draw, with the same values as :func:`histogram.ks_cdf` and
:func:`divergence.js_counts` on each draw's own sketch (tested draw by draw in
``tests/unit/core/measures/test_redraws.py``). Categorical draws (JS, L∞ of
shares) are the same sums over the base's categories.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from stream.core.measures.histogram import Buckets, PiecewiseCdf, quantile_edges

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def redraw_shape_ok(base: Buckets, values: FloatArray) -> bool:
    """Whether :func:`ks_redraws` applies.

    Ordered, disjoint, uncollapsed buckets, each representative strictly inside its
    bucket (or the bucket a single point).
    """
    lo, up = base.lower, base.upper
    if lo.size == 0 or values.size != lo.size:
        return False
    inside = ((lo < values) & (values < up)) | ((lo == values) & (values == up))
    collapsed = ((base.keys > 0) & (lo == 0)) | ((base.keys < 0) & (up == 0))
    return bool(inside.all() and not collapsed.any() and np.all(up[:-1] <= lo[1:]))


def ks_redraws(
    base: Buckets, values: FloatArray, base_cdf: PiecewiseCdf, counts: IntArray
) -> FloatArray:
    """Sup |F_base − F_draw| per draw; ``counts`` is (draws, buckets), every row non-empty.

    A draw's CDF (``buckets_cdf`` with its exact min/max, the representatives of its
    outer buckets) equals, at every bucket bound of the base, its cumulative count
    there; between its outer representatives and the outer bounds it is 0 or 1. The
    supremum of a difference of piecewise-linear CDFs is attained at a knot of either,
    so the bounds, the base's own ends and each draw's two ends are all the points needed.
    Requires :func:`redraw_shape_ok`.
    """
    c = counts.astype(np.float64)
    d, k = c.shape
    n = c.sum(axis=1)
    cum = np.cumsum(c, axis=1)
    # Draw CDFs at the raw knots (lower, upper of each bucket), as from_histogram builds them.
    grid = np.stack([cum - c, cum], axis=2).reshape(d, 2 * k) / n[:, None]
    knots = np.column_stack([base.lower, base.upper]).ravel()
    u, first_at = np.unique(knots, return_index=True)
    last_at = np.searchsorted(knots, u, side="right") - 1
    gap = np.maximum(
        np.abs(base_cdf.at(u)[None, :] - grid[:, last_at]).max(axis=1),
        np.abs(base_cdf.at(u, left=True)[None, :] - grid[:, first_at]).max(axis=1),
    )
    rows = np.arange(d)
    nz = c > 0
    first = np.argmax(nz, axis=1)
    last = k - 1 - np.argmax(nz[:, ::-1], axis=1)
    point = base.lower == base.upper
    single = first == last
    # The draw's ends: right value at its min, left limit at its max (0 below, 1 above).
    at_min = np.where(single, 1.0, np.where(point[first], cum[rows, first] / n, 0.0))
    below_max = np.where(
        single, 0.0, np.where(point[last], (cum[rows, last] - c[rows, last]) / n, 1.0)
    )
    vf, vl = values[first], values[last]
    ends = (
        (vf, at_min, np.zeros(d)),
        (vl, np.ones(d), below_max),
        # The base's own ends (its min/max): the draw's ends when it reaches them.
        (np.full(d, values[0]), np.where(first == 0, at_min, 0.0), np.zeros(d)),
        (np.full(d, values[-1]), np.ones(d), np.where(last == k - 1, below_max, 1.0)),
    )
    for x, right, left in ends:
        gap = np.maximum(gap, np.abs(base_cdf.at(x) - right))
        gap = np.maximum(gap, np.abs(base_cdf.at(x, left=True) - left))
    return np.asarray(gap, dtype=np.float64)


def js_redraws(base: Buckets, counts: IntArray, bins: int) -> FloatArray:
    """Jensen–Shannon distance (bits) on the base's quantile bins, per draw."""
    r = base.counts
    edges = quantile_edges(r, bins) if bins >= 2 else np.zeros(0, np.int64)
    cuts = np.concatenate([[0], edges + 1])
    p = np.add.reduceat(r.astype(np.float64), cuts)
    q = np.add.reduceat(counts.astype(np.float64), cuts, axis=1)
    return js_rows(p, q)


def js_rows(p_counts: FloatArray, q_counts: FloatArray) -> FloatArray:
    """:func:`divergence.js_counts` of one count vector against each row of ``q_counts``."""
    p = p_counts / p_counts.sum()
    q = q_counts / q_counts.sum(axis=1)[:, None]
    m = 0.5 * (p[None, :] + q)
    with np.errstate(divide="ignore", invalid="ignore"):
        kp = np.where(p > 0, p * np.log2(p / m), 0.0)
        kq = np.where(q > 0, q * np.log2(q / m), 0.0)
    jsd = 0.5 * (kp.sum(axis=1) + kq.sum(axis=1))
    return np.asarray(np.sqrt(np.clip(jsd, 0.0, 1.0)), dtype=np.float64)


def linf_rows(p_counts: FloatArray, q_counts: FloatArray) -> FloatArray:
    """:func:`divergence.linf_counts` values of one count vector against each row."""
    p = p_counts / p_counts.sum()
    q = q_counts / q_counts.sum(axis=1)[:, None]
    return np.asarray(np.abs(q - p[None, :]).max(axis=1), dtype=np.float64)
