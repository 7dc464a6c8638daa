"""Numeric decision measures of all the (baseline, window) pairs of a model-window at once.

The per-pair path (:func:`nullspread.decision_measures`) builds each pair's CDFs, knot
union, quantile bins and divergence with a dozen small numpy calls: ~0.5 ms a pair, and a
model-hour of 50 columns × 3 baselines plus the trailing day has ~100 pairs. Here every
pair of a call is laid out *flat*: pair ``p``'s buckets, knots and bins are one
contiguous segment of a few long arrays, and each step is one numpy call over all of
them.

- *Segmented search.* A value's rank among all the call's floats
  (``np.unique(..., return_inverse=True)``) keeps its order inside a pair, so
  ``pair · R + rank`` is one sorted int64 array over every pair; ``searchsorted`` on it
  is each pair's own search (minus its segment start).
- *CDFs.* Each side's :class:`~histogram.PiecewiseCdf` (``buckets_cdf``: the knots of its
  buckets with the exact min/max as ends) is built as a segment, and
  :meth:`PiecewiseCdf.at` is evaluated with the same arithmetic: as in
  :func:`histogram.ks_cdf`, each side's CDF at the other's knots (two cross
  evaluations), or for a pair where a CDF jumps (the zero bucket) both over the union
  of knots, right values and left limits (:func:`histogram.ks_cdf_union`); and the
  window's CDF at the reference's ends for out-of-range.
- *Bucket bounds.* The bounds of every sketch not yet seen are one ``bucket_bounds``
  call over all their keys (:meth:`histogram.Buckets.of_many`, memoised as
  :meth:`~histogram.Buckets.of`); integer unions are a sort, not ``np.unique`` (which
  hashes integers in numpy 2: ~10x slower at these sizes).
- *Quantile bins.* ``histogram.quantile_bins`` over the union of the pair's bucket keys:
  a pair's cumulative counts are the global running sum minus its segment start, so a
  pair's quantile targets are found by one global ``searchsorted``; ``bins − 1`` cuts per
  pair (a repeated or out-of-range cut is an empty bin on both sides: no count, no degree
  of freedom), then the JS distance row by row as ``divergence.js_counts`` does it.

Mean shift and the null rate are the per-pair functions (exact sums, no buckets).
Pairs this does not cover get ``None`` and go through the per-pair path: an empty side,
different accuracies, a collapsed low tail (``histogram.harmonise`` folds), knots out of
order after clipping, a constant reference (its bins split differently). Agreement with
the per-pair path: ``tests/unit/core/measures/test_batch.py`` (hypothesis over layouts).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from scipy import special

from stream.core.measures.confidence import (
    Measure,
    before_after,
    ks_pvalue_rows,
    two_proportions_rows,
    welch_rows,
)
from stream.core.measures.divergence import js_rows
from stream.core.measures.histogram import Buckets, collapsed, memo, sorted_union
from stream.core.measures.numeric import _KOLMOGOROV_MEAN, out_of_range_measure
from stream.core.sketch import NumericSketch

__all__ = ["BATCH_MEASURES", "numeric_batch"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

BATCH_MEASURES = ("js", "ks", "mean_shift", "null_rate_change", "out_of_range")
"""What :func:`numeric_batch` computes for each pair it covers."""
_JS_SCALE = 8 * math.log(2)
_DKW_LOG = math.log(2.0 / 0.025)  # dkw_halfwidth(n, 0.025) = √(this / 2n)


def _folded(s: NumericSketch) -> bool:
    """Whether ``harmonise`` would fold ``s``'s buckets (memoised per sketch state)."""
    return memo(s, "collapsed", lambda: collapsed(Buckets.of(s)))


def segment_starts(sizes: IntArray) -> IntArray:
    """Start of each flat segment of the given sizes (0, then the running sum)."""
    return np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)


def numeric_batch(
    pairs: Sequence[tuple[NumericSketch, NumericSketch]],
    *,
    bins: int = 10,
    groups: Sequence[int] | None = None,
) -> list[dict[str, Measure] | None]:
    """The :data:`BATCH_MEASURES` of each (reference, window) pair; ``None`` where not covered.

    The same measures as ``decision_measures(ref, win, "numeric")`` (values to float
    rounding; sizes, methods and the p-value routines identical).

    ``groups``: each pair's group (default: one group). A pair's measures depend on its
    own group only (the Kolmogorov tail's routine is chosen per group,
    :func:`~.tails.kstwo_sf_rows`): the pairs of many windows measured in one call, a
    group per window and baseline, are measured exactly as each window's call alone.
    """
    out: list[dict[str, Measure] | None] = [None] * len(pairs)
    Buckets.of_many([s for pair in pairs for s in pair])  # bounds of new sketches in one call
    take: list[int] = []
    sides: list[tuple[Buckets, Buckets]] = []
    for i, (r, w) in enumerate(pairs):
        if r.count == 0 or w.count == 0 or r.relative_accuracy != w.relative_accuracy:
            continue
        if _folded(r) or _folded(w):
            continue
        rb, wb = Buckets.of(r), Buckets.of(w)
        take.append(i)
        sides.append((rb, wb))
    if not take or bins < 2:
        return out
    ok, ks, below, above = _ks_flat([pairs[i] for i in take], sides)
    ok_js, js, k = _js_flat(sides, bins)
    keep = [j for j, i in enumerate(take) if ok[j] and ok_js[j]]
    if not keep:
        return out
    done = [take[j] for j in keep]
    grouped = None if groups is None else [groups[i] for i in done]
    tails = _tails(
        [pairs[i] for i in done], ks[keep], below[keep], above[keep], js[keep], k[keep], grouped
    )
    for i, ms in zip(done, tails, strict=True):
        out[i] = ms
    return out


def _tails(
    pairs: Sequence[tuple[NumericSketch, NumericSketch]],
    ks: FloatArray,
    below: FloatArray,
    above: FloatArray,
    js: FloatArray,
    k: IntArray,
    groups: Sequence[int] | None = None,
) -> list[dict[str, Measure]]:
    """The measures of covered pairs from the batch's values: p-values and intervals as rows.

    The arithmetic of ``ks_measure``, ``binned_measure``, ``mean_shift`` and
    ``null_rate_change`` on arrays (``welch_rows``, ``two_proportions_rows``, the χ² tail);
    the Kolmogorov tail (branches by size) and the out-of-range binomial stay per pair.
    """
    moments = np.array(
        [(r.mean, r.variance, w.mean, w.variance) for r, w in pairs], dtype=np.float64
    ).reshape(-1, 4)
    sizes = np.array(
        [
            (r.count, w.count, r.total, w.total, r.nulls + r.nans, w.nulls + w.nans)
            for r, w in pairs
        ],
        dtype=np.int64,
    ).reshape(-1, 6)
    nr, nw = sizes[:, 0], sizes[:, 1]
    nrf, nwf = nr.astype(np.float64), nw.astype(np.float64)
    # ks_measure: two DKW bands, the Kolmogorov mean over √n_eff.
    e = np.sqrt(_DKW_LOG / (2.0 * nrf)) + np.sqrt(_DKW_LOG / (2.0 * nwf))
    ks_null = _KOLMOGOROV_MEAN / np.sqrt(nrf * nwf / (nrf + nwf))
    ks_lo, ks_hi = np.maximum(0.0, ks - e), np.minimum(1.0, ks + e)
    ks_p = ks_pvalue_rows(ks, nr, nw, groups)
    # binned_measure("js", v, 8·ln2·v², 8·ln2, k, n, m): χ²(k−1) tail and null mean.
    c = 1.0 / nr + 1.0 / nw
    x = _JS_SCALE * js * js / c
    with np.errstate(invalid="ignore"):
        js_p = np.where(k < 2, 1.0, np.where(x <= 0, 1.0, special.chdtrc(k - 1, x)))
    js_null = np.sqrt(np.where(k < 2, 0.0, (k - 1) * c) / _JS_SCALE)
    # mean_shift: Welch on the exact moments, over the reference's σ.
    mr, vr, mw, vw = moments.T
    sd = np.sqrt(np.maximum(vr, 0.0))
    wp, wlo, whi = welch_rows(mr, vr, nr, mw, vw, nw)
    shift, s_lo, s_hi = _ratio_rows(mw - mr, sd), _ratio_rows(wlo, sd), _ratio_rows(whi, sd)
    # null_rate_change over all observations (both totals > 0: each side has a value).
    tr, tw, kr, kw = sizes[:, 2], sizes[:, 3], sizes[:, 4], sizes[:, 5]
    np_, n_lo, n_hi = two_proportions_rows(kr, tr, kw, tw)
    out = []
    # Rows as Python numbers once (the same values as float(a[j]), without a numpy
    # scalar per field).
    rows = zip(
        pairs, sizes.tolist(), ks.tolist(), below.tolist(), above.tolist(), mr.tolist(),
        mw.tolist(), js.tolist(), js_p.tolist(), js_null.tolist(), k.tolist(), ks_p.tolist(),
        ks_lo.tolist(), ks_hi.tolist(), ks_null.tolist(), shift.tolist(), wp.tolist(),
        s_lo.tolist(), s_hi.tolist(), np_.tolist(), n_lo.tolist(), n_hi.tolist(), strict=True,
    )  # fmt: skip
    for (
        (r, w), (n_r, n_w, t_r, t_w, k_r, k_w), d, lo_f, hi_f, m_r, m_w, js_v, js_pv, js_n,
        bins_kept, ks_pv, ks_l, ks_h, ks_n, sh, w_p, sh_lo, sh_hi, nr_p, nr_lo, nr_hi,
    ) in rows:  # fmt: skip
        m = int(w.count + w.pos_inf + w.neg_inf)
        inf = (w.pos_inf if r.pos_inf == 0 else 0) + (w.neg_inf if r.neg_inf == 0 else 0)
        outside = (lo_f + 1.0 - hi_f) * n_w
        out.append(
            {
                "js": Measure(
                    "js", js_v, js_pv, math.nan, math.nan, n_r, n_w, js_n,
                    f"chi2 approx, {bins_kept} bins",
                ),
                "ks": Measure(
                    "ks", d, ks_pv, ks_l, ks_h, n_r, n_w, ks_n, "kstwo asymptotic; DKW interval",
                ),
                "mean_shift": Measure(
                    "mean_shift", sh, w_p, sh_lo, sh_hi, n_r, n_w, 0.0, "welch",
                    before_after(m_r, m_w),
                ),
                "null_rate_change": Measure(
                    "null_rate_change", k_w / t_w - k_r / t_r, nr_p, nr_lo, nr_hi, t_r, t_w,
                    0.0, "two-proportion", before_after(k_r / t_r, k_w / t_w),
                ),
                "out_of_range": out_of_range_measure(outside, int(inf), m, n_r),
            }
        )  # fmt: skip
    return out


def _ratio_rows(num: FloatArray, den: FloatArray) -> FloatArray:
    """``numeric._ratio`` of each row: a zero spread makes any change infinite, none 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        q = num / den
    zero = np.where(num == 0, 0.0, np.copysign(np.inf, num))
    out = np.where(den > 0, q, zero)
    return np.asarray(np.where(np.isnan(num) | np.isnan(den), np.nan, out), dtype=np.float64)


def _ks_flat(
    pairs: Sequence[tuple[NumericSketch, NumericSketch]], sides: Sequence[tuple[Buckets, Buckets]]
) -> tuple[BoolArray, FloatArray, FloatArray, FloatArray]:
    """KS of every pair, and the window's CDF at the reference's min (left) and max.

    Returns (covered, ks, F_w(min_r−), F_w(max_r)) per pair.
    """
    p = len(pairs)
    ends = np.array([[r.min, r.max, w.min, w.max] for r, w in pairs], dtype=np.float64)
    ref = _cdf_flat([s[0] for s in sides], ends[:, 0], ends[:, 1])
    win = _cdf_flat([s[1] for s in sides], ends[:, 2], ends[:, 3])
    ok = ref[4] & win[4]
    # Ranks of every float of the call: order within a pair, one sorted key over pairs.
    values = np.concatenate([ref[0], win[0], ends[:, 0], ends[:, 1]])
    uniq, rank = np.unique(values, return_inverse=True)
    big = np.int64(uniq.size + 1)
    na, nb = ref[0].size, win[0].size
    ra, rb = rank[:na], rank[na : na + nb]
    rlo, rhi = rank[na + nb : na + nb + p], rank[na + nb + p :]
    pid_a = np.repeat(np.arange(p, dtype=np.int64), ref[3])
    pid_b = np.repeat(np.arange(p, dtype=np.int64), win[3])
    key_a, key_b = pid_a * big + ra, pid_b * big + rb
    # ks_cdf: neither CDF jumps → two cross evaluations (each side's own knots carry its
    # values); a pair with a jump → ks_cdf_union (both sides over the union of knots).
    gap_a = np.abs(ref[1] - _at(win, key_b, pid_a, key_a, ref[0], False))
    gap_b = np.abs(_at(ref, key_a, pid_b, key_b, win[0], False) - win[1])
    ks = np.maximum(np.maximum.reduceat(gap_a, ref[2]), np.maximum.reduceat(gap_b, win[2]))
    jumps = _jumps(ref) | _jumps(win)
    if jumps.any():
        ks[jumps] = _ks_union(ref, win, key_a, key_b, uniq, big, p)[jumps]
    pids = np.arange(p, dtype=np.int64)
    below = _at(win, key_b, pids, pids * big + rlo, ends[:, 0], True)
    above = _at(win, key_b, pids, pids * big + rhi, ends[:, 1], False)
    return ok, ks, below, above


def _jumps(cdf: tuple[FloatArray, FloatArray, IntArray, IntArray, BoolArray]) -> BoolArray:
    """``PiecewiseCdf.jumps`` of each segment: a repeated knot with two values."""
    x, f, start, size, _ = cdf
    rep = (x[1:] == x[:-1]) & (f[1:] != f[:-1])
    rep[start[1:] - 1] = False  # segment boundaries
    out = np.zeros(start.size, dtype=bool)
    if rep.any():
        out[np.repeat(np.arange(start.size), size)[1:][rep]] = True
    return out


def _ks_union(
    ref: tuple[FloatArray, FloatArray, IntArray, IntArray, BoolArray],
    win: tuple[FloatArray, FloatArray, IntArray, IntArray, BoolArray],
    key_a: IntArray,
    key_b: IntArray,
    uniq: FloatArray,
    big: np.int64,
    p: int,
) -> FloatArray:
    """``ks_cdf_union`` of every pair: right values and left limits over the union of knots."""
    # The union of both sides' knots, pair by pair (sorted by pair, then value).
    union = sorted_union(key_a, key_b)
    pid_u = union // big
    q = uniq[union % big]
    gap = np.zeros(union.size)
    for left in (False, True):
        fa = _at(ref, key_a, pid_u, union, q, left)
        fb = _at(win, key_b, pid_u, union, q, left)
        np.maximum(gap, np.abs(fa - fb), out=gap)
    return np.asarray(np.maximum.reduceat(gap, np.searchsorted(pid_u, np.arange(p))))


def _cdf_flat(
    bs: Sequence[Buckets], lo: FloatArray, hi: FloatArray
) -> tuple[FloatArray, FloatArray, IntArray, IntArray, BoolArray]:
    """``buckets_cdf`` of each unfolded ``Buckets`` with exact ends, as flat segments.

    Returns (x, f, segment starts, segment sizes, knots in order). A segment whose
    clipped knots are not nondecreasing (``from_histogram``'s running maximum would
    move them) is flagged and left to the per-pair path.
    """
    counts = [b.counts for b in bs]
    keep = [c > 0 for c in counts]
    c = np.concatenate([cc[k] for cc, k in zip(counts, keep, strict=True)]).astype(np.float64)
    lower = np.concatenate([b.lower[k] for b, k in zip(bs, keep, strict=True)])
    upper = np.concatenate([b.upper[k] for b, k in zip(bs, keep, strict=True)])
    nb = np.array([int(k.sum()) for k in keep], dtype=np.int64)
    p = nb.size
    x = np.column_stack([lower, upper]).ravel()
    start = 2 * segment_starts(nb)
    size = 2 * nb
    x[start] = lo
    x[start + size - 1] = hi
    x = np.minimum(np.maximum(x, np.repeat(lo, size)), np.repeat(hi, size))
    step = np.diff(x) < 0
    step[(start[1:] - 1)] = False  # segment boundaries
    bad = np.zeros(p, dtype=bool)
    if step.any():
        bad[np.repeat(np.arange(p), size)[1:][step]] = True
    cum = np.cumsum(c)
    before = np.repeat(np.concatenate([[0.0], cum])[segment_starts(nb)], nb)
    local = cum - before  # each pair's own running count (integers: exact)
    n = np.repeat(local[segment_starts(nb) + nb - 1], nb)
    f = np.column_stack([local - c, local]).ravel() / np.repeat(n, 2)
    return x, f, start, size, ~bad


def _at(
    cdf: tuple[FloatArray, FloatArray, IntArray, IntArray, BoolArray],
    keys: IntArray,
    pid: IntArray,
    qkey: IntArray,
    q: FloatArray,
    left: bool,
) -> FloatArray:
    """:meth:`PiecewiseCdf.at` of each query's own pair (same arithmetic, flat)."""
    x, f, start, size, _ = cdf
    s0, sz = start[pid], size[pid]
    i = np.searchsorted(keys, qkey, side="left" if left else "right") - s0
    j = s0 + np.minimum(np.maximum(i, 1), sz - 1)
    x0, x1, f0 = x[j - 1], x[j], f[j - 1]
    dx = x1 - x0
    with np.errstate(over="ignore", invalid="ignore"):
        t = np.divide(q - x0, dx, out=np.ones_like(dx), where=dx > 0)
    np.minimum(np.maximum(t, 0.0, out=t), 1.0, out=t)
    mid: FloatArray = f0 + (f[j] - f0) * t
    mid[i == 0] = 0.0
    mid[i == sz] = 1.0
    return mid


def _js_flat(
    sides: Sequence[tuple[Buckets, Buckets]], bins: int
) -> tuple[BoolArray, FloatArray, IntArray]:
    """``js_counts`` on ``quantile_bins`` of every pair: (covered, js, bins kept)."""
    p = len(sides)
    rk = [s[0].keys for s in sides]
    wk = [s[1].keys for s in sides]
    lo_key = min(min(int(a[0]) for a in rk), min(int(a[0]) for a in wk))
    hi_key = max(max(int(a[-1]) for a in rk), max(int(a[-1]) for a in wk))
    span = np.int64(hi_key - lo_key + 1)
    nr = np.array([a.size for a in rk], dtype=np.int64)
    nw = np.array([a.size for a in wk], dtype=np.int64)
    kr = np.repeat(np.arange(p, dtype=np.int64), nr) * span + (np.concatenate(rk) - lo_key)
    kw = np.repeat(np.arange(p, dtype=np.int64), nw) * span + (np.concatenate(wk) - lo_key)
    union = sorted_union(kr, kw)
    r = np.zeros(union.size, dtype=np.int64)
    w = np.zeros(union.size, dtype=np.int64)
    r[np.searchsorted(union, kr)] = np.concatenate([s[0].counts for s in sides])
    w[np.searchsorted(union, kw)] = np.concatenate([s[1].counts for s in sides])
    pid = union // span
    start = np.searchsorted(pid, np.arange(p))
    size = np.diff(np.concatenate([start, [union.size]]))
    gr, gw = np.cumsum(r), np.cumsum(w)
    base_r = np.concatenate([[0], gr])[start]
    base_w = np.concatenate([[0], gw])[start]
    n = np.concatenate([[0], gr])[start + size] - base_r
    # quantile_edges: searchsorted(cr, targets, "left") on each pair's running counts.
    targets = n[:, None] * np.arange(1, bins)[None, :] / bins
    i = np.searchsorted(gr, targets + base_r[:, None], side="left") - start[:, None]
    cr_at = np.concatenate([[0], gr])  # cr_at[g + 1] = gr[g]

    def cr(idx: IntArray) -> IntArray:
        return np.asarray(cr_at[start[:, None] + idx + 1] - base_r[:, None], dtype=np.int64)

    prev = np.maximum(i - 1, 0)
    i = np.where(np.abs(cr(prev) - targets) < np.abs(cr(i) - targets), prev, i)
    ci = cr(i)
    valid = (ci > 0) & (ci < n[:, None])
    covered = valid.any(axis=1)  # none valid: a constant reference, split another way
    cuts = np.sort(np.where(valid, i, -1), axis=1)  # -1: an empty first bin on both sides
    at = np.hstack([np.zeros((p, 1), np.int64), cuts + 1, size[:, None]])
    gw0 = np.concatenate([[0], gw])
    rb = np.diff(cr_at[start[:, None] + at] - base_r[:, None], axis=1).astype(np.float64)
    wb = np.diff(gw0[start[:, None] + at] - base_w[:, None], axis=1).astype(np.float64)
    kept = ((rb + wb) > 0).sum(axis=1)
    return covered, js_rows(rb, wb), kept.astype(np.int64)
