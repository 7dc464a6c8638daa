"""Numeric decision values of many (baseline, window) pairs at once, on one bucket grid.

Calibration compares hundreds of pairs of one feature's reference windows: each hour
against the merge of all the others (leave-one-out), each hour against the one a day
or a week before. All these sketches share one key space, and every one of their keys
is a key of the full reference, so a pair is two rows of counts over the full
reference's buckets (the *grid*). A leave-one-out rest is the sum of the windows'
rows minus one row, its exact min/max a prefix/suffix extreme, its exact moments the
integer sums minus the window's (:mod:`stream.core.sketch._moments`).

Over the grid each side's CDF (``histogram.buckets_cdf``: linear inside a bucket, the
outer buckets clipped to the exact min/max) is, at any point q in grid bucket j,
``(cum_before_j + c_j · t)/n`` with ``t`` the position of q in
``[max(lower_j, min), min(upper_j, max)]``. The largest gap of two such CDFs sits on a
knot of one of them, and every knot is a grid bound or one of the four ends, so
evaluating both sides there (right values and left limits) gives
:func:`histogram.ks_cdf` exactly, up to float rounding. JS uses the baseline row's
quantile bins (:func:`histogram.quantile_edges` on the grid: buckets empty on both
sides move no count between bins). Values match :func:`nullspread.fast_values` pair by
pair (``tests/unit/core/measures/test_pair_rows.py``, hypothesis over layouts).

The grid does not apply to sketches with a collapsed low tail or with an exact end
outside its outer bucket: :func:`grid_of` and :func:`rows_of` return ``None`` and the
caller compares pair by pair.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from stream.core.measures.divergence import js_rows
from stream.core.measures.histogram import Buckets, collapsed, quantile_edges
from stream.core.sketch import NumericSketch, _moments

__all__ = ["Grid", "Rows", "grid_of", "pair_values", "rows_of"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
_NAMES = ("ks", "js", "mean_shift", "null_rate_change", "out_of_range")


@dataclass(frozen=True)
class Grid:
    """The buckets of a full reference: keys in value order and their bounds."""

    keys: IntArray
    lower: FloatArray
    upper: FloatArray
    knots: FloatArray  # every distinct bound, sorted


@dataclass(frozen=True)
class Rows:
    """Sketches as rows over a grid: counts, exact ends, scalar counts, exact moments."""

    counts: IntArray  # (rows, buckets)
    lo: FloatArray  # exact min (nan when empty)
    hi: FloatArray
    count: IntArray  # finite values
    total: IntArray
    missing: IntArray  # nulls + NaN
    pos_inf: IntArray
    neg_inf: IntArray
    s1: list[int]  # exact Σx, Σx² (units of _moments)
    s2: list[int]

    def take(self, idx: IntArray) -> Rows:
        """The rows at ``idx``."""
        ii = idx.tolist()
        return Rows(
            self.counts[idx],
            self.lo[idx],
            self.hi[idx],
            self.count[idx],
            self.total[idx],
            self.missing[idx],
            self.pos_inf[idx],
            self.neg_inf[idx],
            [self.s1[i] for i in ii],
            [self.s2[i] for i in ii],
        )

    def leave_one_out(self) -> Rows:
        """Row i = the sum of all rows but i (the merge of every other sketch)."""
        k = self.lo.size
        inf = np.full(1, np.inf)
        pre_lo = np.concatenate([inf, np.fmin.accumulate(self.lo)])[:k]
        suf_lo = np.concatenate([np.fmin.accumulate(self.lo[::-1])[::-1], inf])[1:]
        pre_hi = np.concatenate([-inf, np.fmax.accumulate(self.hi)])[:k]
        suf_hi = np.concatenate([np.fmax.accumulate(self.hi[::-1])[::-1], -inf])[1:]
        lo, hi = np.fmin(pre_lo, suf_lo), np.fmax(pre_hi, suf_hi)
        count = self.count.sum() - self.count
        lo = np.where((count > 0) & np.isfinite(lo), lo, np.nan)
        hi = np.where((count > 0) & np.isfinite(hi), hi, np.nan)
        t1, t2 = sum(self.s1), sum(self.s2)

        def rest(a: IntArray) -> IntArray:
            return np.asarray(a.sum(axis=0) - a, dtype=np.int64)

        return Rows(
            rest(self.counts),
            lo,
            hi,
            rest(self.count),
            rest(self.total),
            rest(self.missing),
            rest(self.pos_inf),
            rest(self.neg_inf),
            [t1 - x for x in self.s1],
            [t2 - x for x in self.s2],
        )


def grid_of(full: NumericSketch) -> Grid | None:
    """The grid of a full reference; ``None`` when its buckets do not make one."""
    b = Buckets.of(full)
    if b.keys.size == 0 or collapsed(b):
        return None
    if not (np.all(b.lower <= b.upper) and np.all(b.upper[:-1] <= b.lower[1:])):
        return None
    knots = np.unique(np.concatenate([b.lower, b.upper]))
    return Grid(b.keys, b.lower, b.upper, knots)


def rows_of(grid: Grid, sketches: Sequence[NumericSketch]) -> Rows | None:
    """``sketches`` as rows over ``grid``; ``None`` when one does not fit it."""
    k = grid.keys.size
    counts = np.zeros((len(sketches), k), dtype=np.int64)
    for i, s in enumerate(sketches):
        keys, c = s.signed_keys()
        if keys.size == 0:
            continue
        if s.collapsed_low_tail:
            return None
        at = np.searchsorted(grid.keys, keys)
        if at[-1] >= k or not np.array_equal(grid.keys[at], keys):
            return None
        # The exact ends must lie in their outer buckets (they always do, barring rounding).
        lo, hi, a, b = float(s.min), float(s.max), int(at[0]), int(at[-1])
        if not (grid.lower[a] <= lo <= grid.upper[a] and grid.lower[b] <= hi <= grid.upper[b]):
            return None
        counts[i, at] = c
    sums = [s.moment_sums for s in sketches]
    return Rows(
        counts,
        np.array([s.min if s.count else math.nan for s in sketches], dtype=np.float64),
        np.array([s.max if s.count else math.nan for s in sketches], dtype=np.float64),
        np.array([s.count for s in sketches], dtype=np.int64),
        np.array([s.total for s in sketches], dtype=np.int64),
        np.array([s.nulls + s.nans for s in sketches], dtype=np.int64),
        np.array([s.pos_inf for s in sketches], dtype=np.int64),
        np.array([s.neg_inf for s in sketches], dtype=np.int64),
        [x[1] for x in sums],
        [x[2] for x in sums],
    )


def cdf_rows(grid: Grid, rows: Rows, q: FloatArray, *, left: bool = False) -> FloatArray:
    """Each row's CDF (``buckets_cdf`` of its sketch) at ``q`` (shape (Q,) or (rows, Q)).

    Right-continuous values, or left limits with ``left``; rows with no finite value
    give nan.
    """
    p = rows.lo.size
    qq = np.broadcast_to(q, (p, q.shape[-1]))
    j = np.searchsorted(grid.lower, qq.ravel(), side="left" if left else "right") - 1
    j = np.maximum(j, 0).reshape(qq.shape)
    c = rows.counts.astype(np.float64)
    before = np.cumsum(c, axis=1) - c
    r = np.arange(p)[:, None]
    lo = np.maximum(grid.lower[j], rows.lo[:, None])
    up = np.minimum(grid.upper[j], rows.hi[:, None])
    with np.errstate(invalid="ignore", divide="ignore"):
        t = (qq - lo) / (up - lo)
    if left:
        t = np.where(qq > up, 1.0, np.where(qq <= lo, 0.0, t))
    else:
        t = np.where(qq >= up, 1.0, np.where(qq < lo, 0.0, t))
    n = rows.count.astype(np.float64)[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray((before[r, j] + c[r, j] * t) / n, dtype=np.float64)


def _ks(grid: Grid, a: Rows, b: Rows) -> FloatArray:
    ends = np.column_stack([a.lo, a.hi, b.lo, b.hi])
    ends = np.where(np.isnan(ends), grid.knots[0], ends)  # empty rows are nan anyway
    gap = np.zeros(a.lo.size)
    for q in (grid.knots, ends):
        for left in (False, True):
            d = np.abs(cdf_rows(grid, a, q, left=left) - cdf_rows(grid, b, q, left=left))
            gap = np.maximum(gap, d.max(axis=1))
    return np.where((a.count > 0) & (b.count > 0), gap, np.nan)


def _js(base: Rows, win: Rows, bins: int) -> FloatArray:
    r, w = base.counts, win.counts
    p, k = r.shape
    cr = np.cumsum(r, axis=1)
    cw = np.cumsum(w, axis=1)
    n = cr[:, -1] if k else np.zeros(p, np.int64)
    out = np.full(p, np.nan)
    ok = (base.count > 0) & (win.count > 0) & (n > 0)
    if bins < 2 or k == 0:
        return np.where(ok, 0.0, np.nan)
    # quantile_edges, every row at once: searchsorted(cr, target, "left") = #(cr < target).
    targets = n[:, None] * np.arange(1, bins)[None, :] / bins
    i = (cr[:, None, :] < targets[:, :, None]).sum(axis=2)
    i = np.minimum(i, k - 1)
    prev = np.maximum(i - 1, 0)
    ci, cp = np.take_along_axis(cr, i, 1), np.take_along_axis(cr, prev, 1)
    i = np.where(np.abs(cp - targets) < np.abs(ci - targets), prev, i)
    ci = np.take_along_axis(cr, i, 1)
    valid = (ci > 0) & (ci < n[:, None])
    # Invalid cuts become -1: a cut before every bucket, an empty bin on both sides.
    cuts = np.sort(np.where(valid, i, -1), axis=1)
    zero = np.zeros((p, 1), np.int64)
    cr0, cw0 = np.hstack([zero, cr]), np.hstack([zero, cw])
    at = np.hstack([zero, cuts + 1, np.full((p, 1), k)])
    rb = np.diff(np.take_along_axis(cr0, at, 1), axis=1).astype(np.float64)
    wb = np.diff(np.take_along_axis(cw0, at, 1), axis=1).astype(np.float64)
    # A constant reference (no valid cut) splits differently: the exact path, per row.
    for row in np.flatnonzero(ok & ~valid.any(axis=1)).tolist():
        e = quantile_edges(r[row], bins)
        pad = np.full(bins - 1 - e.size, -1, np.int64)
        a = np.concatenate([[0], np.concatenate([pad, e]) + 1, [k]])
        rb[row] = np.diff(cr0[row][a])
        wb[row] = np.diff(cw0[row][a])
    out[ok] = js_rows(rb, wb)[ok]
    return out


def pair_values(
    grid: Grid, base: Rows, win: Rows, *, bins: int = 10
) -> dict[str, list[tuple[float, int, int]]]:
    """(value, window size, baseline size) of each numeric decision metric, pair by pair.

    The same values and sizes as ``nullspread.fast_values(base_i, win_i, "numeric")``.
    """
    ks = _ks(grid, base, win)
    js = _js(base, win, bins)
    lo = np.where(np.isnan(base.lo), 0.0, base.lo)
    hi = np.where(np.isnan(base.hi), 0.0, base.hi)
    below = cdf_rows(grid, win, lo[:, None], left=True)[:, 0]
    above = cdf_rows(grid, win, hi[:, None])[:, 0]
    out: dict[str, list[tuple[float, int, int]]] = {n: [] for n in _NAMES}
    for i in range(base.lo.size):
        nr, nw = int(base.count[i]), int(win.count[i])
        empty = nr == 0 or nw == 0
        out["ks"].append((math.nan if empty else float(ks[i]), nw, nr))
        out["js"].append((math.nan if empty else float(js[i]), nw, nr))
        if empty:
            ms = math.nan
        else:
            sd = math.sqrt(max(_moments.variance(nr, base.s1[i], base.s2[i]), 0.0))
            d = _moments.mean(nw, win.s1[i]) - _moments.mean(nr, base.s1[i])
            ms = d / sd if sd > 0 else (0.0 if d == 0 else math.copysign(math.inf, d))
        out["mean_shift"].append((ms, nw, nr))
        tr, tw = int(base.total[i]), int(win.total[i])
        nrc = win.missing[i] / tw - base.missing[i] / tr if tr and tw else math.nan
        out["null_rate_change"].append((float(nrc), tw, tr))
        m = nw + int(win.pos_inf[i] + win.neg_inf[i])
        if nr == 0 or m == 0:
            out["out_of_range"].append((math.nan, m, nr))
            continue
        k = int(win.pos_inf[i] if base.pos_inf[i] == 0 else 0) + int(
            win.neg_inf[i] if base.neg_inf[i] == 0 else 0
        )
        outside = float(below[i] + 1.0 - above[i]) * nw if nw > 0 else 0.0
        out["out_of_range"].append(((outside + k) / m, m, nr))
    return out
