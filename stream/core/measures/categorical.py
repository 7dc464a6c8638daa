"""Categorical drift measures, and the count-vector divergences numeric bins reuse.

Shares are taken over valid values (nulls and type errors are the business of
:func:`null_rate_change`). A non-exact sketch's "other" mass (values it no
longer tracks one by one) enters every comparison as one extra category,
labelled :data:`OTHER`, so shares always sum to one.

The count-vector math (PSI, JS, Hellinger, L∞, χ²) lives in :mod:`.divergence`,
shared with the numeric bins.

>>> pair = CategoricalPair.from_counts({"ios": 60, "web": 40}, {"ios": 45, "web": 55})
>>> round(linf(pair).value, 2), round(js_distance(pair).value, 3)
(0.15, 0.128)
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from stream.core.measures.bayes import DirichletShift, Prior, ShareShift, dirichlet_shift
from stream.core.measures.confidence import (
    Measure,
    before_after,
    chi2_null,
    nan_measure,
    two_proportions,
    wilson,
)
from stream.core.measures.divergence import (
    chi_square_counts,
    js_counts,
    linf_counts,
    psi_counts,
)
from stream.core.measures.tails import poisson_sf
from stream.core.sketch import CategoricalSketch

__all__ = [
    "OTHER",
    "CategoricalPair",
    "CategoricalSummary",
    "CategoryShifts",
    "category_shifts",
    "chi_square",
    "cramers_v",
    "js_distance",
    "linf",
    "null_rate_change",
    "p_share_moved",
    "psi",
    "unseen",
    "vanished",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
OTHER = "<other>"
"""Label of the untracked mass of non-exact sketches (one extra category)."""
VANISH_MIN_SHARE = 0.005
"""A reference category must hold at least this share to count as vanished."""


class CategoricalSummary(Protocol):
    """What the measures read from a categorical sketch."""

    @property
    def total(self) -> int:
        """All observations, including nulls and type errors."""

    @property
    def nulls(self) -> int:
        """Null observations."""

    @property
    def type_errors(self) -> int:
        """Values of the wrong type."""

    @property
    def other(self) -> int:
        """Valid mass not attributed to a tracked category."""

    def counts(self) -> Mapping[str, int]:
        """Counts of the tracked categories."""

    def estimate(self, value: str) -> float:
        """Count estimate of any category (exact when tracked or provably unseen)."""


# ---------------------------------------------------------------- aligned pair


@dataclass(frozen=True)
class CategoricalPair:
    """A reference and a window aligned on the union of their categories.

    ``labels[i]`` names ``ref[i]`` and ``win[i]``; :data:`OTHER`, when present,
    is last. ``*_missing`` counts nulls plus type errors.
    """

    labels: tuple[str, ...]
    ref: IntArray
    win: IntArray
    ref_missing: int = 0
    win_missing: int = 0
    ref_exact: bool = True
    win_exact: bool = True

    @classmethod
    def from_counts(
        cls,
        ref: Mapping[str, int],
        win: Mapping[str, int],
        *,
        ref_other: int = 0,
        win_other: int = 0,
        ref_missing: int = 0,
        win_missing: int = 0,
    ) -> CategoricalPair:
        """Align two count maps (categories sorted by name, then :data:`OTHER`).

        >>> p = CategoricalPair.from_counts({"a": 3}, {"b": 1}, win_other=2)
        >>> p.labels, p.ref.tolist(), p.win.tolist()
        (('a', 'b', '<other>'), [3, 0, 0], [0, 1, 2])
        """
        keys = sorted(k for k in set(ref) | set(win) if ref.get(k, 0) > 0 or win.get(k, 0) > 0)
        r = [ref.get(k, 0) for k in keys]
        w = [win.get(k, 0) for k in keys]
        if ref_other > 0 or win_other > 0:
            keys.append(OTHER)
            r.append(ref_other)
            w.append(win_other)
        return cls(
            tuple(keys),
            np.asarray(r, dtype=np.int64),
            np.asarray(w, dtype=np.int64),
            ref_missing,
            win_missing,
            ref_exact=ref_other == 0,
            win_exact=win_other == 0,
        )

    @classmethod
    def from_values(
        cls, ref: Sequence[str | None], win: Sequence[str | None], *, max_exact: int = 1024
    ) -> CategoricalPair:
        """Sketch two sequences of raw values (None = null) and align them.

        >>> p = CategoricalPair.from_values(["a", "b", None], ["b", "b"])
        >>> p.labels, p.ref.tolist(), p.win.tolist(), p.ref_missing
        (('a', 'b'), [1, 1], [0, 2], 1)
        """
        r = CategoricalSketch.zero(max_exact).update(ref)
        w = CategoricalSketch.zero(max_exact).update(win)
        return cls.of(r, w)

    @classmethod
    def of(cls, ref: CategoricalSummary, win: CategoricalSummary) -> CategoricalPair:
        """Align two categorical sketches.

        Beyond their cap the sketches track a hash sample of categories, not the
        same ones on both sides. Only categories whose count is exact on both
        sides are compared one by one; the rest form :data:`OTHER` on both
        sides, so it covers the same categories and every count is exact.
        """
        rc, wc = dict(ref.counts()), dict(win.counts())
        r_other, w_other = _reconcile(rc, ref.other, wc, win.other, ref)
        w_other, r_other = _reconcile(wc, w_other, rc, r_other, win)
        return cls.from_counts(
            rc,
            wc,
            ref_other=r_other,
            win_other=w_other,
            ref_missing=ref.nulls + ref.type_errors,
            win_missing=win.nulls + win.type_errors,
        )

    @functools.cached_property
    def n_ref(self) -> int:
        """Valid reference observations (summed once: every measure reads it)."""
        return int(self.ref.sum())

    @functools.cached_property
    def n_win(self) -> int:
        """Valid window observations (summed once)."""
        return int(self.win.sum())


def _reconcile(
    mine: dict[str, int],
    other: int,
    theirs: dict[str, int],
    their_other: int,
    sketch: CategoricalSummary,
) -> tuple[int, int]:
    """Settle categories tracked only in ``theirs``; returns both other masses.

    ``sketch`` (the side that does not track them) knows such a category's count
    exactly when its estimate is 0 (Count-Min never under-counts, and a sampled-out
    category below the sample's rank threshold is exactly 0). A positive estimate is
    a Count-Min guess, so the category joins the other mass on both sides instead.
    """
    for label in sorted(theirs.keys() - mine.keys()):
        if other > 0 and sketch.estimate(label) > 0:
            their_other += theirs.pop(label)
    return other, their_other


def _result(
    pair: CategoricalPair,
    name: str,
    value: float,
    *,
    p_value: float = math.nan,
    ci_low: float = math.nan,
    ci_high: float = math.nan,
    null_mean: float = math.nan,
    method: str = "",
    detail: Mapping[str, float] | None = None,
) -> Measure:
    return Measure(
        name,
        value,
        p_value,
        ci_low,
        ci_high,
        pair.n_ref,
        pair.n_win,
        null_mean,
        method,
        dict(detail or {}),
    )


def _undefined(pair: CategoricalPair, name: str) -> Measure | None:
    if pair.n_ref == 0 or pair.n_win == 0:
        return nan_measure(name, pair.n_ref, pair.n_win, "empty side")
    return None


# ---------------------------------------------------------------- measures


def js_distance(pair: CategoricalPair) -> Measure:
    """Jensen–Shannon distance of category shares, base 2; in [0, 1], 1 = disjoint.

    p-value: 8·ln2·JS² / (1/n + 1/m) ~ χ²(k−1) under no drift.

    >>> js_distance(CategoricalPair.from_counts({"a": 5}, {"a": 9})).value
    0.0
    """
    if (u := _undefined(pair, "js")) is not None:
        return u
    v = js_counts(pair.ref, pair.win)
    p, null = chi2_null(8 * math.log(2) * v * v, len(pair.labels), pair.n_ref, pair.n_win)
    return _result(
        pair,
        "js",
        v,
        p_value=p,
        null_mean=math.sqrt(null / (8 * math.log(2))),
        method="chi2 approx",
    )


def psi(pair: CategoricalPair) -> Measure:
    """Population stability index over categories, Σ(w−r)·ln(w/r); ≥ 0, ≥ 0.25 = major.

    p-value: PSI / (1/n + 1/m) ~ χ²(k−1) under no drift; null_mean is its mean.

    >>> round(psi(CategoricalPair.from_counts({"a": 60, "b": 40}, {"a": 40, "b": 60})).value, 3)
    0.162
    """
    if (u := _undefined(pair, "psi")) is not None:
        return u
    v = psi_counts(pair.ref, pair.win)
    p, null = chi2_null(v, len(pair.labels), pair.n_ref, pair.n_win)
    return _result(pair, "psi", v, p_value=p, null_mean=null, method="chi2 approx")


def linf(pair: CategoricalPair) -> Measure:
    """L-infinity distance (TFDV), max over categories of |window − reference share|; in [0, 1].

    p-value: two-proportion z-test of the arg-max category, Bonferroni × k;
    interval: Agresti–Caffo for that category's |change|. ``detail`` names it.

    >>> m = linf(CategoricalPair.from_counts({"a": 6, "b": 3, "c": 1}, {"a": 4, "b": 4, "c": 2}))
    >>> round(m.value, 2), dict(m.detail)
    (0.2, {'a': -0.2})
    """
    if (u := _undefined(pair, "linf")) is not None:
        return u
    v, i = linf_counts(pair.ref, pair.win)
    p, lo, hi = two_proportions(int(pair.ref[i]), pair.n_ref, int(pair.win[i]), pair.n_win)
    lo_abs = 0.0 if lo <= 0 <= hi else min(abs(lo), abs(hi))
    signed = float(pair.win[i] / pair.n_win - pair.ref[i] / pair.n_ref)
    return _result(
        pair,
        "linf",
        v,
        p_value=min(1.0, p * len(pair.labels)),
        ci_low=lo_abs,
        ci_high=max(abs(lo), abs(hi)),
        method="two-proportion z, Bonferroni",
        detail={pair.labels[i]: round(signed, 12)},
    )


def chi_square(pair: CategoricalPair, *, yates: bool = True) -> Measure:
    """Pearson χ² of the reference-vs-window table, Σ(O−E)²/E; ≥ 0, grows with N.

    Pair it with Cramér's V for the effect: χ² alone pages on harmless drift
    in large windows. ``detail`` holds dof and V.

    >>> m = chi_square(CategoricalPair.from_counts({"a": 30, "b": 70}, {"a": 30, "b": 70}))
    >>> m.value, m.p_value
    (0.0, 1.0)
    """
    if (u := _undefined(pair, "chi2")) is not None:
        return u
    c = chi_square_counts(pair.ref, pair.win, yates=yates)
    return _result(
        pair,
        "chi2",
        c.statistic,
        p_value=c.p_value,
        null_mean=float(c.dof),
        method="chi2" + (" yates" if yates and c.dof == 1 else ""),
        detail={"dof": float(c.dof), "cramers_v": c.cramers_v},
    )


def cramers_v(pair: CategoricalPair, *, yates: bool = True) -> Measure:
    """Cramér's V of the reference-vs-window table, √(χ²/N); in [0, 1], 0 = same shares.

    >>> pair = CategoricalPair.from_counts({"a": 90, "b": 10}, {"a": 10, "b": 90})
    >>> round(cramers_v(pair).value, 2)
    0.79
    """
    if (u := _undefined(pair, "cramers_v")) is not None:
        return u
    c = chi_square_counts(pair.ref, pair.win, yates=yates)
    n = pair.n_ref + pair.n_win
    return _result(
        pair,
        "cramers_v",
        c.cramers_v,
        p_value=c.p_value,
        null_mean=math.sqrt(c.dof / n),
        method="chi2",
    )


def unseen(pair: CategoricalPair) -> Measure:
    """Window share of categories absent from the reference; in [0, 1], 0 = none new.

    Null: Good–Turing says unseen categories hold (f1 + 1)/(n + 1) of the
    population (f1 = reference singletons, +1 smoothing), so the unseen count
    is ~ Poisson(m·that). With a non-exact reference a "new" category may hide
    in its other mass: the value is then an upper bound. ``detail`` maps each
    unseen category to its window share.

    >>> m = unseen(CategoricalPair.from_counts({"a": 100}, {"a": 90, "z": 10}))
    >>> m.value, dict(m.detail), m.p_value < 1e-6
    (0.1, {'z': 0.1}, True)
    """
    if (u := _undefined(pair, "unseen")) is not None:
        return u
    mask = (pair.ref == 0) & (pair.win > 0)
    mask &= np.array([label != OTHER for label in pair.labels])
    k = int(pair.win[mask].sum())
    f1 = int(np.count_nonzero(pair.ref == 1))
    rate = (f1 + 1) / (pair.n_ref + 1)
    lo, hi = wilson(k, pair.n_win)
    return _result(
        pair,
        "unseen",
        k / pair.n_win,
        p_value=poisson_sf(k - 1, pair.n_win * rate) if k > 0 else 1.0,
        ci_low=lo,
        ci_high=hi,
        null_mean=rate,
        method="Good-Turing Poisson" + ("" if pair.ref_exact else ", upper bound"),
        detail={pair.labels[i]: float(pair.win[i] / pair.n_win) for i in np.flatnonzero(mask)},
    )


def vanished(pair: CategoricalPair, *, min_share: float = VANISH_MIN_SHARE) -> Measure:
    """Reference share of categories (≥ min_share) absent from the window; in [0, 1].

    p-value: chance that all of them miss m window draws, Π(1 − s_i)^m. With a
    non-exact window a category may hide in its other mass (a lower p-value
    than deserved). ``detail`` maps each vanished category to its reference share.

    >>> m = vanished(CategoricalPair.from_counts({"a": 80, "b": 20}, {"a": 100}))
    >>> m.value, dict(m.detail), m.p_value < 1e-9
    (0.2, {'b': 0.2}, True)
    """
    if (u := _undefined(pair, "vanished")) is not None:
        return u
    share = pair.ref / pair.n_ref
    mask = (share >= min_share) & (pair.win == 0)
    mask &= np.array([label != OTHER for label in pair.labels])
    s = share[mask]
    return _result(
        pair,
        "vanished",
        float(s.sum()),
        p_value=math.exp(pair.n_win * float(np.log1p(-np.minimum(s, 1.0 - 1e-12)).sum())),
        null_mean=0.0,
        method="multinomial absence",
        detail={pair.labels[i]: float(share[i]) for i in np.flatnonzero(mask)},
    )


def null_rate_change(pair: CategoricalPair) -> Measure:
    """Window − reference share of missing values (nulls + type errors); in [−1, 1].

    p-value: pooled two-proportion z-test; interval: Agresti–Caffo.

    >>> p = CategoricalPair.from_counts({"a": 90}, {"a": 50}, ref_missing=10, win_missing=50)
    >>> round(null_rate_change(p).value, 2)
    0.4
    """
    nr, nw = pair.n_ref + pair.ref_missing, pair.n_win + pair.win_missing
    if nr == 0 or nw == 0:
        return nan_measure("null_rate_change", nr, nw, "empty side")
    p, lo, hi = two_proportions(pair.ref_missing, nr, pair.win_missing, nw)
    v = pair.win_missing / nw - pair.ref_missing / nr
    return Measure(
        "null_rate_change", v, p, lo, hi, nr, nw, 0.0, "two-proportion z, Agresti-Caffo",
        before_after(pair.ref_missing / nr, pair.win_missing / nw),
    )  # fmt: skip


@dataclass(frozen=True)
class CategoryShifts:
    """Per-category Bayesian share changes (top movers) and P(any share moved > δ)."""

    shifts: Mapping[str, ShareShift]
    posterior: DirichletShift


def category_shifts(
    pair: CategoricalPair,
    *,
    threshold: float = 0.01,
    top: int = 20,
    prior: Prior = "jeffreys",
    any_moved: bool = True,
) -> CategoryShifts:
    """Dirichlet-posterior share change of the ``top`` categories by observed |Δ share|.

    ``any_moved=False`` skips ``posterior.p_any`` (nan): see :func:`.bayes.dirichlet_shift`.

    >>> ref, win = {"a": 600, "b": 300, "c": 100}, {"a": 450, "b": 440, "c": 110}
    >>> pair = CategoricalPair.from_counts(ref, win)
    >>> cs = category_shifts(pair, top=2)
    >>> list(cs.shifts), round(cs.shifts["a"].p_drift, 3), round(cs.posterior.p_any, 3)
    (['a', 'b'], 1.0, 1.0)
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        move = np.abs(pair.win / max(pair.n_win, 1) - pair.ref / max(pair.n_ref, 1))
    order = [int(i) for i in np.argsort(-move, kind="stable")[:top]]
    d = dirichlet_shift(
        pair.ref.tolist(),
        pair.win.tolist(),
        prior=prior,
        threshold=threshold,
        detail=order,
        any_moved=any_moved,
    )
    return CategoryShifts({pair.labels[i]: s for i, s in zip(order, d.shifts, strict=True)}, d)


def p_share_moved(pair: CategoricalPair, *, threshold: float = 0.01) -> Measure:
    """Posterior P(some category share moved by > threshold); in [0, 1], Dirichlet-Jeffreys.

    The value is itself a probability; ci is its rigorous [max p_i, Σ p_i] band.

    >>> p = CategoricalPair.from_counts({"a": 90_000, "b": 10_000}, {"a": 9_000, "b": 1_000})
    >>> m = p_share_moved(p, threshold=0.005)
    >>> round(m.value, 3), round(m.ci_low, 3)
    (0.112, 0.112)
    """
    if (u := _undefined(pair, "p_share_moved")) is not None:
        return u
    d = dirichlet_shift(pair.ref.tolist(), pair.win.tolist(), threshold=threshold, detail=())
    return _result(
        pair,
        "p_share_moved",
        d.p_any,
        ci_low=d.p_any_low,
        ci_high=d.p_any_high,
        method=f"Dirichlet-Jeffreys posterior, delta={threshold}",
    )
