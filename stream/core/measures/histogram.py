"""From sketch buckets to distributions: piecewise-linear CDFs and reference-quantile bins.

Plain-array math behind the numeric measures (the sketch-level wrappers live in
:mod:`.numeric`). Inside each relative-error bucket the values are taken as
spread uniformly; the first and last buckets are clipped to the sketch's exact
min and max. The CDF is then piecewise linear with knots at bucket bounds and
exact at every bound. Sketches with the same relative accuracy share integer
bucket keys, so two of them align key by key.

A sketch that hit its bucket cap folds its smallest magnitudes into one bucket
that reaches 0; :func:`harmonise` folds both sketches at the wider boundary and
the CDF treats such a bucket as one point at its outer edge (blind below it,
rather than wrong).

>>> a = PiecewiseCdf.from_histogram([0.0], [1.0], [10], 0.0, 1.0)
>>> b = PiecewiseCdf.from_histogram([0.5], [1.5], [10], 0.5, 1.5)
>>> ks_cdf(a, b), wasserstein_cdf(a, b)
(0.5, 0.5)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, NamedTuple, Protocol, TypeVar, cast

import numpy as np
import numpy.typing as npt

__all__ = [
    "BucketSource",
    "Buckets",
    "PiecewiseCdf",
    "QuantileBins",
    "buckets_cdf",
    "collapsed",
    "harmonise",
    "memo",
    "ks_cdf",
    "ks_cdf_union",
    "quantile_bins",
    "sorted_union",
    "wasserstein_cdf",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class NumericSketchLike(Protocol):
    """What :meth:`Buckets.of_many` reads of a numeric sketch (``NumericSketch`` has it)."""

    @property
    def relative_accuracy(self) -> float:
        """α: sketches of one α share bucket bounds."""

    @property
    def collapsed_low_tail(self) -> bool:
        """Whether low magnitudes were folded into one bucket."""

    def signed_keys(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Non-empty buckets in value order: (signed keys, counts)."""

    def bucket_bounds(
        self, signed_keys: npt.NDArray[np.int64]
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """Lower and upper bound of each signed key's bucket."""

    def bucket_identity(self) -> tuple[object, object, int, float]:
        """The immutable stores and scalars the bucket view depends on."""


class BucketSource(Protocol):
    """The bucket view of a numeric sketch."""

    def histogram(self) -> tuple[npt.ArrayLike, npt.ArrayLike, npt.ArrayLike]:
        """Non-empty buckets in value order: (lower, upper, counts)."""

    def signed_keys(self) -> tuple[npt.ArrayLike, npt.ArrayLike]:
        """The same buckets as integer keys shared by all sketches of one α: (keys, counts)."""


@dataclass(frozen=True)
class PiecewiseCdf:
    """CDF of a sketch's finite values: linear inside buckets, flat between them.

    ``x`` are the knots (nondecreasing; a repeated knot is a jump, e.g. the
    zero bucket), ``f`` the CDF there, ``n`` the number of values.

    >>> c = PiecewiseCdf.from_histogram([1.0, 2.0], [2.0, 3.0], [1, 3], 1.0, 3.0)
    >>> c.at(np.array([1.5, 2.0, 2.5])).tolist(), c.quantile(0.5)
    ([0.125, 0.25, 0.625], 2.3333333333333335)
    """

    x: FloatArray
    f: FloatArray
    n: int

    @classmethod
    def from_histogram(
        cls,
        lower: npt.ArrayLike,
        upper: npt.ArrayLike,
        counts: npt.ArrayLike,
        lo: float | None,
        hi: float | None,
    ) -> PiecewiseCdf:
        """Build from bucket bounds and counts, clipped to the exact [lo, hi] = [min, max].

        ``None`` leaves that end as the bucket says (a folded low-magnitude bucket).
        """
        c = np.asarray(counts, dtype=np.float64)
        keep = c > 0
        c = c[keep]
        n = int(c.sum())
        if n == 0:
            return cls(np.zeros(0), np.zeros(0), 0)
        x = np.column_stack(
            [np.asarray(lower, np.float64)[keep], np.asarray(upper, np.float64)[keep]]
        ).ravel()
        # The exact min and max are better ends than the first and last bucket bounds.
        if lo is not None:
            x[0] = lo
        if hi is not None:
            x[-1] = hi
        x = np.maximum.accumulate(np.clip(x, lo, hi))
        cum = np.cumsum(c)
        f = np.column_stack([cum - c, cum]).ravel() / n
        return cls(x, f, n)

    def at(self, q: FloatArray, *, left: bool = False) -> FloatArray:
        """F(q) (right-continuous), or the left limit F(q−) with ``left``."""
        x, f = self.x, self.f
        i = np.searchsorted(x, q, side="left" if left else "right")
        # np.minimum/np.maximum: the same values as np.clip without its dispatch cost.
        j = np.minimum(np.maximum(i, 1), x.size - 1)
        x0, x1, f0 = x[j - 1], x[j], f[j - 1]
        dx = x1 - x0
        # t = (q − x0)/(x1 − x0) where the segment has width, else 1.
        with np.errstate(over="ignore", invalid="ignore"):  # a subnormal width: t clips to 1
            t = np.divide(q - x0, dx, out=np.ones_like(dx), where=dx > 0)
        np.minimum(np.maximum(t, 0.0, out=t), 1.0, out=t)
        mid: FloatArray = f0 + (f[j] - f0) * t
        mid[i == 0] = 0.0
        mid[i == x.size] = 1.0
        return mid

    def value(self, q: float, *, left: bool = False) -> float:
        """:meth:`at` of one point, in scalar arithmetic (the same number)."""
        x, f = self.x, self.f
        i = int(np.searchsorted(x, q, side="left" if left else "right"))
        if i == 0:
            return 0.0
        if i == x.size:
            return 1.0
        x0, x1, f0 = float(x[i - 1]), float(x[i]), float(f[i - 1])
        dx = x1 - x0
        t = min(max((q - x0) / dx, 0.0), 1.0) if dx > 0 else 1.0
        return f0 + (float(f[i]) - f0) * t

    @cached_property
    def jumps(self) -> bool:
        """Whether the CDF jumps somewhere (a repeated knot with two values)."""
        return bool(np.any((self.x[1:] == self.x[:-1]) & (self.f[1:] != self.f[:-1])))

    def quantile(self, p: float) -> float:
        """Smallest x with F(x) ≥ p (linear inside a bucket); nan when empty."""
        if self.n == 0:
            return math.nan
        i = int(np.searchsorted(self.f, p, side="left"))
        if i <= 0:
            return float(self.x[0])
        if i >= self.x.size:
            return float(self.x[-1])
        f0, f1 = self.f[i - 1], self.f[i]
        t = (p - f0) / (f1 - f0) if f1 > f0 else 1.0
        return float(self.x[i - 1] + t * (self.x[i] - self.x[i - 1]))


def _gaps(a: PiecewiseCdf, b: PiecewiseCdf) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Union knots u, and F_a − F_b there: right values and left limits."""
    u = sorted_union(a.x, b.x)
    return u, a.at(u) - b.at(u), a.at(u, left=True) - b.at(u, left=True)


def ks_cdf(a: PiecewiseCdf, b: PiecewiseCdf) -> float:
    """Largest gap sup |F_a − F_b| of two piecewise-linear CDFs (attained at a knot); in [0, 1].

    When neither CDF jumps (no repeated knot with two values) both are continuous, so
    left limits equal values and each CDF's value at its own knots is its ``f``: two
    cross evaluations instead of four over the union (:func:`ks_cdf_union`, the same
    supremum up to rounding; compared in the tests).
    """
    if a.n == 0 or b.n == 0:
        return math.nan
    if a.jumps or b.jumps:
        return ks_cdf_union(a, b)
    return float(max(np.abs(a.f - b.at(a.x)).max(), np.abs(a.at(b.x) - b.f).max()))


def ks_cdf_union(a: PiecewiseCdf, b: PiecewiseCdf) -> float:
    """:func:`ks_cdf` over the union of knots, right values and left limits (any CDFs)."""
    if a.n == 0 or b.n == 0:
        return math.nan
    _, right, left = _gaps(a, b)
    return float(max(np.abs(right).max(), np.abs(left).max()))


def wasserstein_cdf(a: PiecewiseCdf, b: PiecewiseCdf) -> float:
    """∫ |F_a − F_b| dx, exact for piecewise-linear CDFs; ≥ 0, in value units."""
    if a.n == 0 or b.n == 0:
        return math.nan
    u, right, left = _gaps(a, b)
    d0, d1, h = right[:-1], left[1:], np.diff(u)
    s0, s1 = np.abs(d0), np.abs(d1)
    with np.errstate(invalid="ignore", divide="ignore"):
        # A segment whose gap changes sign: two triangles meeting at the crossing.
        cross = np.where(s0 + s1 > 0, (d0 * d0 + d1 * d1) / (2 * (s0 + s1)), 0.0)
    area = np.where(d0 * d1 >= 0, 0.5 * (s0 + s1), cross) * h
    return float(area.sum())


@dataclass(frozen=True)
class QuantileBins:
    """Reference-quantile bins: right-closed, inner ``edges``; exact bucket-sum counts."""

    edges: FloatArray
    ref: IntArray
    win: IntArray


_MEMO: dict[tuple[str, int, int, int, float], tuple[object, object, Any]] = {}
_MEMO_SIZE = 4096
_T = TypeVar("_T")


def memo(s: object, tag: str, build: Callable[[], _T]) -> _T:
    """``build()``, memoised on the identity of a numeric sketch's stores (else not memoised).

    Stores are immutable values and every update replaces them, so a hit is always
    for the same buckets; the entry keeps the stores alive, so their ids stay unique.
    Arrays handed out from the memo must not be modified (they are shared).
    """
    ident = getattr(s, "bucket_identity", None)
    if ident is None:
        return build()
    pos, neg, zeros, alpha = ident()
    key = (tag, id(pos), id(neg), int(zeros), float(alpha))
    hit = _MEMO.get(key)
    if hit is not None and hit[0] is pos and hit[1] is neg:
        return cast("_T", hit[2])
    value = build()
    if len(_MEMO) >= _MEMO_SIZE:
        del _MEMO[next(iter(_MEMO))]
    _MEMO[key] = (pos, neg, value)
    return value


def memoised(s: object, tag: str) -> bool:
    """Whether :func:`memo` holds ``tag`` for ``s``'s current stores (False: not memoisable)."""
    ident = getattr(s, "bucket_identity", None)
    if ident is None:
        return False
    pos, neg, zeros, alpha = ident()
    hit = _MEMO.get((tag, id(pos), id(neg), int(zeros), float(alpha)))
    return hit is not None and hit[0] is pos and hit[1] is neg


class Buckets(NamedTuple):
    """One sketch's non-empty buckets in value order: integer keys, bounds, counts."""

    keys: IntArray
    lower: FloatArray
    upper: FloatArray
    counts: IntArray

    @classmethod
    def of(cls, s: BucketSource) -> Buckets:
        """Keys from ``signed_keys()``, bounds from ``histogram()`` (same buckets, same order).

        Memoised per sketch state (:func:`memo`): a reference's buckets are built once,
        not once per window compared with it.
        """
        return memo(s, "buckets", lambda: cls._build(s))

    @classmethod
    def of_many(cls, sketches: Sequence[NumericSketchLike]) -> None:
        """Memoise :meth:`of` for every sketch not yet memoised, bounds in one array call.

        Bucket bounds are pure key arithmetic per α (``bucket_bounds``): the keys of all
        the sketches of one α are bounded at once, then split; the same arrays
        :meth:`of` would build one sketch at a time. Collapsed sketches (their folded
        bucket's bound is moved by ``bucket_view``) are left to :meth:`of`.
        """
        todo: dict[float, list[NumericSketchLike]] = {}
        seen: set[int] = set()
        for s in sketches:
            if id(s) in seen or s.collapsed_low_tail or memoised(s, "buckets"):
                continue
            seen.add(id(s))
            todo.setdefault(float(s.relative_accuracy), []).append(s)
        for group in todo.values():
            kc = [s.signed_keys() for s in group]
            keys = np.concatenate([np.asarray(k, np.int64) for k, _ in kc])
            lower, upper = group[0].bucket_bounds(keys)
            at = 0
            for s, (k, c) in zip(group, kc, strict=True):
                n = len(k)
                b = cls(
                    np.array(k, np.int64),
                    np.array(lower[at : at + n], np.float64),
                    np.array(upper[at : at + n], np.float64),
                    np.array(c, np.int64),
                )
                at += n
                for a in b:
                    a.flags.writeable = False  # shared through the memo
                memo(s, "buckets", lambda b=b: b)  # type: ignore[misc]

    @classmethod
    def _build(cls, s: BucketSource) -> Buckets:
        view = getattr(s, "bucket_view", None)
        if view is not None:  # NumericSketch: keys, bounds and counts from one key pass
            keys, lower, upper, counts = view()
        else:
            keys, counts = s.signed_keys()
            lower, upper, _ = s.histogram()
        out = cls(
            np.array(keys, np.int64),
            np.array(lower, np.float64),
            np.array(upper, np.float64),
            np.array(counts, np.int64),
        )
        for a in out:
            a.flags.writeable = False  # shared through the memo
        return out

    def fold(self, key: int, edge: float, below: bool) -> Buckets:
        """Fold every key on the near-zero side of ``key`` (same sign) into ``key``.

        ``below``: positive side (keys in (0, key]), the bucket becomes [0, edge];
        else the negative side (keys in [key, 0)), the bucket becomes [edge, 0].
        """
        k = self.keys
        near = ((k > 0) & (k < key)) if below else ((k < 0) & (k > key))
        at = k == key
        if not (near | at).any():
            return self
        total = int(self.counts[near | at].sum())
        keep = ~(near | at)
        j = int(np.searchsorted(k[keep], key))
        lo, up = (0.0, edge) if below else (edge, 0.0)
        return Buckets(
            np.insert(k[keep], j, key),
            np.insert(self.lower[keep], j, lo),
            np.insert(self.upper[keep], j, up),
            np.insert(self.counts[keep], j, total),
        )


def collapsed(b: Buckets) -> bool:
    """Whether ``b`` has a collapsed low-magnitude bucket (one reaching 0: ``harmonise`` folds)."""
    return bool((((b.keys > 0) & (b.lower == 0)) | ((b.keys < 0) & (b.upper == 0))).any())


def harmonise(ref: Buckets, win: Buckets) -> tuple[Buckets, Buckets]:
    """Give both sketches the same collapsed low-magnitude buckets.

    A sketch that hit its bucket cap folds its smallest magnitudes into one bucket
    reaching 0 (lower 0 for positives, upper 0 for negatives). Each sketch folds at
    its own boundary, so fold both at the wider one before comparing bucket by bucket.
    """
    for below in (True, False):
        found = []
        for b in (ref, win):
            # Vectorised scan; only the (rare) collapsed buckets reach Python.
            hit = (b.keys > 0) & (b.lower == 0) if below else (b.keys < 0) & (b.upper == 0)
            for i in np.flatnonzero(hit).tolist():
                found.append((int(b.keys[i]), float(b.upper[i] if below else b.lower[i])))
        if found:
            # The widest collapse: largest positive key, most negative negative key.
            key, edge = max(found) if below else min(found)
            ref, win = ref.fold(key, edge, below), win.fold(key, edge, below)
    return ref, win


def sorted_union(a: npt.NDArray[Any], b: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """``np.union1d`` of two sorted arrays (a sort and one comparison; no hashing).

    >>> sorted_union(np.array([1, 3, 5]), np.array([2, 3])).tolist()
    [1, 2, 3, 5]
    """
    u = np.concatenate([a, b])
    u.sort()
    if u.size < 2:
        return u
    keep = np.empty(u.size, dtype=bool)
    keep[0] = True
    np.not_equal(u[1:], u[:-1], out=keep[1:])
    return u[keep]


def _align(ref: Buckets, win: Buckets) -> tuple[FloatArray, IntArray, IntArray]:
    """Union of buckets by key: (upper bound, ref counts, win counts)."""
    keys = sorted_union(ref.keys, win.keys)
    upper = np.empty(keys.size)
    r = np.zeros(keys.size, dtype=np.int64)
    w = np.zeros(keys.size, dtype=np.int64)
    ir, iw = np.searchsorted(keys, ref.keys), np.searchsorted(keys, win.keys)
    upper[iw], upper[ir] = win.upper, ref.upper
    r[ir], w[iw] = ref.counts, win.counts
    return upper, r, w


def quantile_bins(ref: Buckets, win: Buckets, bins: int = 10) -> QuantileBins:
    """Up to ``bins`` reference-quantile bins with edges snapped to bucket bounds.

    >>> lo, up = np.array([0.0, 1.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0, 4.0])
    >>> ref = Buckets(np.arange(1, 5), lo, up, np.array([5, 5, 5, 5]))
    >>> b = quantile_bins(ref, Buckets(np.array([3]), lo[2:3], up[2:3], np.array([7])), bins=2)
    >>> b.edges.tolist(), b.ref.tolist(), b.win.tolist()
    ([2.0], [10, 10], [0, 7])
    """
    upper, r, w = _align(ref, win)
    n = int(r.sum())
    if n == 0 or bins < 2:
        return QuantileBins(np.zeros(0), np.array([n]), np.array([int(w.sum())]))
    i = quantile_edges(r, bins)
    cuts = np.concatenate([[0], i + 1, [r.size]])
    cr = np.cumsum(r)
    cw = np.concatenate([[0], np.cumsum(w)])
    crr = np.concatenate([[0], cr])
    rb, wb = np.diff(crr[cuts]), np.diff(cw[cuts])
    # Bins empty on both sides carry no information, only degrees of freedom: drop them,
    # each kept bin (but the last) keeping its right edge.
    kept = np.flatnonzero((rb + wb) > 0)
    return QuantileBins(upper[i][kept[:-1]], rb[kept], wb[kept])


def quantile_edges(r: IntArray, bins: int) -> IntArray:
    """Indices of the buckets closing each reference-quantile bin but the last.

    ``r`` are the reference's counts per aligned bucket (total > 0), ``bins`` ≥ 2.
    Depends on the reference alone, so windows compared with one reference share it.
    """
    n = int(r.sum())
    cr = np.cumsum(r)
    targets = n * np.arange(1, bins) / bins
    i = np.searchsorted(cr, targets, side="left")
    # Snap each edge to whichever neighbouring bucket bound is nearer the target.
    prev = np.maximum(i - 1, 0)
    i = np.where(np.abs(cr[prev] - targets) < np.abs(cr[i] - targets), prev, i)
    i = i[(cr[i] > 0) & (cr[i] < n)]
    if i.size > 1:  # nondecreasing (targets increase, snapping keeps order): drop repeats
        i = i[np.concatenate([[True], i[1:] != i[:-1]])]
    if i.size == 0:
        # One bucket holds the whole reference (a constant): split off below and above it,
        # or a move to another constant would score 0.
        j = int(np.argmax(r > 0))
        i = np.array([x for x in (j - 1, j) if 0 <= x < r.size - 1], dtype=np.int64)
    return np.asarray(i, dtype=np.int64)


def buckets_cdf(b: Buckets, lo: float, hi: float) -> PiecewiseCdf:
    """CDF of harmonised buckets with the sketch's exact min ``lo`` and max ``hi``.

    >>> b = Buckets(np.array([1, 2]), np.array([1.0, 2.0]), np.array([2.0, 3.0]), np.array([1, 3]))
    >>> buckets_cdf(b, 1.5, 2.5).x.tolist()
    [1.5, 2.0, 2.0, 2.5]
    """
    if b.counts.sum() == 0:
        return PiecewiseCdf(np.zeros(0), np.zeros(0), 0)
    # A folded (collapsed) bucket spans many decades down to 0: smearing it uniformly
    # would invent differences. Both sides get it as one point at its outer edge, so
    # the comparison is blind below that edge rather than wrong.
    pos = (b.keys > 0) & (b.lower == 0)
    neg = (b.keys < 0) & (b.upper == 0)
    lower = np.where(pos, b.upper, b.lower)
    upper = np.where(neg, b.lower, b.upper)
    first = None if neg[0] or pos[0] else lo
    last = None if neg[-1] or pos[-1] else hi
    return PiecewiseCdf.from_histogram(lower, upper, b.counts, first, last)
