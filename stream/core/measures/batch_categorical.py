"""Categorical decision measures of all the (baseline, window) pairs of a model-window at once.

The per-pair measures (:mod:`.categorical`: ``js_distance``, ``linf``, ``unseen``,
``null_rate_change``) each run a handful of small numpy calls on one aligned
:class:`~.categorical.CategoricalPair`; a model-hour has ~20–30 such pairs. Here the
pairs' aligned count vectors are laid out *flat* (pair ``p``'s categories are one
contiguous segment) and each step is one numpy call over all of them:

- shares ``r/n_r`` and ``w/n_w`` per category (the pair's totals repeated over its
  segment), the JS terms and the |share change| of every category in one pass; the
  per-pair sums are ``np.add.reduceat`` over the segments;
- L∞'s arg-max category per segment (the first on a tie, as ``np.argmax``) is the
  segment minimum of the indices that reach the segment's maximum;
- the p-values and intervals are the same formulas on arrays: χ² tail
  (``special.chdtrc``), the two-proportion z-test with Agresti–Caffo interval
  (:func:`~.confidence.two_proportions_rows`), Wilson (:func:`~.confidence.wilson_rows`),
  the Poisson tail (``special.pdtrc``) — the scalar routines call the same ufuncs.

Alignment (``CategoricalPair.of``: dicts of labels, the other-mass reconciliation) stays
per pair; the caller passes the aligned pairs (and reuses them for the share posterior).
A pair with an empty side is measured by the per-pair functions (nan measures). Values
agree with the per-pair path to float rounding (a sum over ≥ 8 categories may add in
another order): ``tests/unit/core/measures/test_batch_categorical.py``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import special

from stream.core.measures import categorical as cat
from stream.core.measures.batch import segment_starts
from stream.core.measures.confidence import Measure, before_after
from stream.core.measures.confidence import two_proportions_rows as _proportions
from stream.core.measures.confidence import wilson_rows as _wilson

__all__ = ["CATEGORICAL_BATCH", "categorical_batch"]

CATEGORICAL_BATCH = ("js", "linf", "null_rate_change", "unseen")
"""What :func:`categorical_batch` computes for each pair."""
_JS_SCALE = 8 * math.log(2)
_PER_PAIR = {
    "js": cat.js_distance,
    "linf": cat.linf,
    "null_rate_change": cat.null_rate_change,
    "unseen": cat.unseen,
}


def categorical_batch(pairs: Sequence[cat.CategoricalPair]) -> list[dict[str, Measure]]:
    """The :data:`CATEGORICAL_BATCH` measures of each aligned pair.

    The same measures as ``decision_measures(ref, win, "categorical")`` on the pair's
    sketches (values to float rounding; sizes, methods and details identical).
    """
    out: list[dict[str, Measure]] = []
    full: list[int] = []
    for i, pair in enumerate(pairs):
        if pair.n_ref > 0 and pair.n_win > 0:
            full.append(i)
            out.append({})
        else:  # an empty side: nan measures (and the null rate), as the per-pair path
            out.append({n: fn(pair) for n, fn in _PER_PAIR.items()})
    if full:
        for i, ms in zip(full, _measure([pairs[i] for i in full]), strict=True):
            out[i] = ms
    nulls = _null_rates(pairs)
    for ms, m in zip(out, nulls, strict=True):
        ms["null_rate_change"] = m
    return [{n: ms[n] for n in CATEGORICAL_BATCH} for ms in out]


def _measure(pairs: Sequence[cat.CategoricalPair]) -> list[dict[str, Measure]]:
    """JS, L∞ and unseen of pairs with both sides non-empty."""
    size = np.array([len(p.labels) for p in pairs], dtype=np.int64)
    start = segment_starts(size)
    r = np.concatenate([p.ref for p in pairs]).astype(np.int64)
    w = np.concatenate([p.win for p in pairs]).astype(np.int64)
    labels = [label for p in pairs for label in p.labels]
    nr = np.add.reduceat(r, start)
    nw = np.add.reduceat(w, start)
    rf, wf = r.astype(np.float64), w.astype(np.float64)
    ps = rf / np.repeat(nr.astype(np.float64), size)
    qs = wf / np.repeat(nw.astype(np.float64), size)
    # JS (js_counts): 0·log 0 = 0.
    m = 0.5 * (ps + qs)
    with np.errstate(divide="ignore", invalid="ignore"):
        kp = np.where(ps > 0, ps * np.log2(ps / m), 0.0)
        kq = np.where(qs > 0, qs * np.log2(qs / m), 0.0)
    jsd = 0.5 * (np.add.reduceat(kp, start) + np.add.reduceat(kq, start))
    js = np.sqrt(np.minimum(1.0, np.maximum(0.0, jsd)))
    c = 1.0 / nr + 1.0 / nw
    x = _JS_SCALE * js * js / c
    with np.errstate(invalid="ignore"):
        js_p = np.where(size < 2, 1.0, np.where(x <= 0, 1.0, special.chdtrc(size - 1, x)))
    js_null = np.where(size < 2, 0.0, (size - 1) * c)
    js_null_mean = np.sqrt(js_null / _JS_SCALE)
    # L∞ (linf_counts): the first category reaching the segment's largest |Δ share|.
    d = np.abs(qs - ps)
    top = np.maximum.reduceat(d, start)
    idx = np.arange(d.size, dtype=np.int64)
    arg = np.minimum.reduceat(np.where(d == np.repeat(top, size), idx, d.size), start)
    li_p, li_lo, li_hi = _proportions(r[arg], nr, w[arg], nw)
    li_p = np.minimum(1.0, li_p * size)
    li_abs = np.where((li_lo <= 0) & (0 <= li_hi), 0.0, np.minimum(np.abs(li_lo), np.abs(li_hi)))
    li_high = np.maximum(np.abs(li_lo), np.abs(li_hi))
    signed = w[arg] / nw - r[arg] / nr
    # Unseen: window mass of categories the reference lacks (never the other mass).
    new = (r == 0) & (w > 0) & np.array([label != cat.OTHER for label in labels])
    k = np.add.reduceat(np.where(new, w, 0), start)
    f1 = np.add.reduceat((r == 1).astype(np.int64), start)
    rate = (f1 + 1) / (nr + 1)
    un_lo, un_hi = _wilson(k, nw)
    un_p = np.where(k > 0, special.pdtrc(np.maximum(k - 1, 0), nw * rate), 1.0)
    new_at = np.flatnonzero(new)
    new_pid = np.repeat(np.arange(size.size), size)[new_at]
    out = []
    for j, pair in enumerate(pairs):
        n_r, n_w = int(nr[j]), int(nw[j])
        a = int(arg[j] - start[j])
        mine = new_at[new_pid == j] if new_at.size else new_at
        out.append(
            {
                "js": Measure(
                    "js", float(js[j]), float(js_p[j]), n_ref=n_r, n_win=n_w,
                    null_mean=float(js_null_mean[j]), method="chi2 approx",
                ),
                "linf": Measure(
                    "linf", float(d[arg[j]]), float(li_p[j]), float(li_abs[j]),
                    float(li_high[j]), n_r, n_w, method="two-proportion z, Bonferroni",
                    detail={pair.labels[a]: round(float(signed[j]), 12)},
                ),
                "unseen": Measure(
                    "unseen", int(k[j]) / n_w, float(un_p[j]), float(un_lo[j]),
                    float(un_hi[j]), n_r, n_w, float(rate[j]),
                    "Good-Turing Poisson" + ("" if pair.ref_exact else ", upper bound"),
                    {labels[i]: float(w[i] / n_w) for i in mine.tolist()},
                ),
            }
        )  # fmt: skip
    return out


def _null_rates(pairs: Sequence[cat.CategoricalPair]) -> list[Measure]:
    """``categorical.null_rate_change`` of every pair (nan measures for an empty side)."""
    miss_r = np.array([p.ref_missing for p in pairs], dtype=np.int64)
    miss_w = np.array([p.win_missing for p in pairs], dtype=np.int64)
    nr = np.array([p.n_ref for p in pairs], dtype=np.int64) + miss_r
    nw = np.array([p.n_win for p in pairs], dtype=np.int64) + miss_w
    ok = (nr > 0) & (nw > 0)
    one = np.maximum(nr, 1), np.maximum(nw, 1)
    p, lo, hi = _proportions(miss_r, one[0], miss_w, one[1])
    out = []
    for j, pair in enumerate(pairs):
        if not ok[j]:
            out.append(cat.null_rate_change(pair))
            continue
        n_r, n_w, k_r, k_w = int(nr[j]), int(nw[j]), int(miss_r[j]), int(miss_w[j])
        out.append(
            Measure(
                "null_rate_change", k_w / n_w - k_r / n_r, float(p[j]), float(lo[j]),
                float(hi[j]), n_r, n_w, 0.0, "two-proportion z, Agresti-Caffo",
                before_after(k_r / n_r, k_w / n_w),
            )
        )  # fmt: skip
    return out
