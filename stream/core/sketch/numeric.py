"""Numeric feature sketch: relative-error log buckets, exact special counts, exact moments.

The state is a function of the multiset of observed values only, so updating with the
same values in any batches, merging partitions in any order or tree shape, and replaying
at any speed all give equal sketches and identical bytes.

What is kept:

* nulls, NaNs, +inf, -inf and zeros: exact counts; min and max: exact.
* Finite non-zero values in logarithmic buckets (the DDSketch mapping, see
  ``_mapping``): bucket ``k`` of a store holds magnitudes in ``(γ^(k-1), γ^k]``,
  ``γ = (1+α)/(1-α)``. Positive and negative values have separate stores.
* ``Σx`` and ``Σx²`` as exact integers (see ``_moments``): mean, variance and std are
  computed exactly and rounded once.

Error bounds. A quantile is the representative ``±2γ^k/(γ+1)`` of the bucket holding the
order statistic of rank ``floor(q·(count-1))``, clamped to [min, max]: its relative error
is at most ``α`` for every rank that falls in an uncollapsed bucket. ``cdf`` is exact at
bucket edges and otherwise off by at most the share of the one bucket holding ``x``.

Collapse. Each store keeps at most ``max_buckets`` consecutive keys: with ``K`` the
largest key ever seen in the store and ``F = K - max_buckets + 1`` its floor, a key
``k`` is counted at ``max(k, F)``. That map depends only on the final ``K`` and applying it
twice equals applying it once with the larger ``K``, so collapsing early or late gives
the same result and merges stay exact. Affected are only magnitudes ``≤ γ^(F-1)`` (for
α = 0.01 and 2048 buckets: over 6·10^17 times smaller than the largest magnitude of the
same sign); they are counted in the floor bucket ``(γ^(F-1), γ^F]``. A quantile whose
rank falls on such a value is the floor bucket's representative clamped to [min, max]:
its absolute error is below ``γ^F``, its relative error is unbounded. Every other
quantile keeps the ``α`` bound; counts, min, max and moments are never affected.
``collapsed_low_tail`` says whether it happened; ``histogram`` extends the floor bucket
down to 0.

>>> s = NumericSketch.zero().update(np.array([1.0, 2.0, 3.0, 4.0, np.nan]), nulls=2)
>>> s.total, s.count, s.nans, s.nulls, s.mean, s.variance, s.min, s.max
(7, 4, 1, 2, 2.5, 1.25, 1.0, 4.0)
>>> round(float(s.quantile(0.5)), 4), float(s.cdf(2.5))
(1.9937, 0.5)
>>> a = NumericSketch.zero().update(np.array([1.0, 2.0]))
>>> b = NumericSketch.zero().update(np.array([3.0, 4.0, np.nan]))
>>> c = NumericSketch.zero().update(np.array([4.0, np.nan, 3.0, 2.0, 1.0]))
>>> a.merge(b).to_bytes() == c.to_bytes()
True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction
from typing import ClassVar, overload

import numpy as np
import numpy.typing as npt

from stream.core.sketch import _moments
from stream.core.sketch._mapping import KEY_OFFSET, LogMapping, mapping_for
from stream.core.sketch._store import Store, extreme_fits, signed_keys
from stream.core.sketch._wire import TYPE_NUMERIC, Framed, Reader, Writer
from stream.errors import SketchDecodeError, SketchMismatchError

try:  # the one-pass C update (native/sketchscan.c); the numpy path below is the reference
    import stream.core.sketch._native as _native
except ImportError:  # pragma: no cover - only on machines that built without a C compiler
    _native = None  # type: ignore[assignment]

__all__ = ["KEY_OFFSET", "NumericSketch", "native_available"]

_CHUNK = _moments.CHUNK
_MIN_ALPHA, _MAX_ALPHA = 1e-5, 0.5
_MAX_CAP = 1 << 20
_FloatOrArray = float | npt.NDArray[np.float64]
_Ints = npt.NDArray[np.int64]
_Floats = npt.NDArray[np.float64]
_USE_NATIVE = [_native is not None]


def native_available() -> bool:
    """Whether updates run through the C extension (else the numpy path, same bytes)."""
    return _USE_NATIVE[0]


def use_native(on: bool) -> bool:
    """Switch the C update on or off (tests, benchmarks); returns the previous setting.

    Switching on without the extension built leaves it off.
    """
    before = _USE_NATIVE[0]
    _USE_NATIVE[0] = on and _native is not None
    return before


#: Edges of kept bucket spans, by (γ, first key, length): a store's span changes
#: rarely (new keys at its ends), so its edges are built once. Bounded: cleared when full.
_SPAN_EDGES: dict[tuple[float, int, int], npt.NDArray[np.float64]] = {}
_SPAN_EDGES_MAX = 4096


def _span(
    m: LogMapping, store: Store
) -> tuple[npt.NDArray[np.float64] | None, int, npt.NDArray[np.int64] | None]:
    """(edges, first edge's key, counts copy) of a store's span for ``scan_span``.

    Edges ``γ^k`` for ``k = offset - 1 .. offset + len - 1``: a magnitude is inside the
    span iff above the first and at most the last. (None, 0, None) for an empty store.
    """
    if store.empty:
        return None, 0, None
    key = (m.gamma, store.offset, store.counts.size)
    edges = _SPAN_EDGES.get(key)
    if edges is None:
        if len(_SPAN_EDGES) >= _SPAN_EDGES_MAX:
            _SPAN_EDGES.clear()
        edges = _SPAN_EDGES[key] = m.edges(store.offset - 1, store.offset + store.counts.size - 1)
    return edges, store.offset - 1, np.array(store.counts, dtype=np.int64)


class NumericSketch(Framed):
    """Mergeable summary of one numeric feature in one window (see the module docstring).

    Create with :meth:`zero`; ``update`` mutates in place, ``merge`` returns a new sketch.
    """

    SKETCH_TYPE: ClassVar[int] = TYPE_NUMERIC
    __slots__ = (
        "_alpha",
        "_cap",
        "_count",
        "_mapping",
        "_max",
        "_min",
        "_nans",
        "_neg",
        "_neg_inf",
        "_nulls",
        "_pos",
        "_pos_inf",
        "_s1",
        "_s2",
        "_zeros",
    )
    __hash__ = None  # type: ignore[assignment]  # mutable

    def __init__(self, relative_accuracy: float, max_buckets: int) -> None:
        if not (_MIN_ALPHA <= relative_accuracy <= _MAX_ALPHA):
            msg = f"relative_accuracy must be in [{_MIN_ALPHA}, {_MAX_ALPHA}]: {relative_accuracy}"
            raise ValueError(msg)
        if not (isinstance(max_buckets, int) and 1 <= max_buckets <= _MAX_CAP):
            msg = f"max_buckets must be an int in [1, {_MAX_CAP}], got {max_buckets!r}"
            raise ValueError(msg)
        self._alpha = float(relative_accuracy)
        self._cap = max_buckets
        self._mapping: LogMapping = mapping_for(self._alpha)
        self._nulls = self._nans = self._pos_inf = self._neg_inf = self._zeros = 0
        self._count = 0
        self._min = self._max = math.nan
        self._s1 = self._s2 = 0
        self._pos = self._neg = Store.EMPTY

    @classmethod
    def zero(cls, relative_accuracy: float = 0.01, max_buckets: int = 2048) -> NumericSketch:
        """The empty sketch: the identity of :meth:`merge`.

        >>> NumericSketch.zero().count, NumericSketch.zero().relative_accuracy
        (0, 0.01)
        """
        return cls(relative_accuracy, max_buckets)

    # -- parameters and exact counts ---------------------------------------------------

    @property
    def relative_accuracy(self) -> float:
        """Relative accuracy ``α`` of quantiles."""
        return self._alpha

    @property
    def max_buckets(self) -> int:
        """Cap on consecutive buckets per sign store."""
        return self._cap

    @property
    def gamma(self) -> float:
        """Bucket growth factor ``γ = (1+α)/(1-α)``."""
        return self._mapping.gamma

    @property
    def total(self) -> int:
        """Every observation: finite values, zeros, NaN, ±inf and nulls."""
        return self._count + self._nulls + self._nans + self._pos_inf + self._neg_inf

    @property
    def count(self) -> int:
        """Finite values, zeros included."""
        return self._count

    @property
    def nulls(self) -> int:
        """Missing values (reported by the caller)."""
        return self._nulls

    @property
    def nans(self) -> int:
        """NaN values."""
        return self._nans

    @property
    def pos_inf(self) -> int:
        """+inf values."""
        return self._pos_inf

    @property
    def neg_inf(self) -> int:
        """-inf values."""
        return self._neg_inf

    @property
    def zeros(self) -> int:
        """Values equal to zero (+0.0 and -0.0)."""
        return self._zeros

    @property
    def min(self) -> float:
        """Smallest finite value (nan when count == 0)."""
        return self._min

    @property
    def max(self) -> float:
        """Largest finite value (nan when count == 0)."""
        return self._max

    @property
    def mean(self) -> float:
        """Mean of the finite values, exact and rounded once (nan when count == 0)."""
        return _moments.mean(self._count, self._s1)

    @property
    def variance(self) -> float:
        """Population variance of the finite values, exact and rounded once (inf on overflow)."""
        return _moments.variance(self._count, self._s1, self._s2)

    @property
    def std(self) -> float:
        """Population standard deviation of the finite values."""
        return _moments.std(self._count, self._s1, self._s2)

    @property
    def moment_sums(self) -> tuple[int, int, int]:
        """``(count, s1, s2)``: the exact integer sums behind :attr:`mean` and :attr:`variance`.

        Sums of disjoint sketches add (and subtract) exactly; see ``_moments``.
        """
        return self._count, self._s1, self._s2

    @property
    def exact_sums(self) -> tuple[Fraction, Fraction]:
        """``(Σx, Σx²)`` of the finite values as exact fractions.

        >>> NumericSketch.zero().update(np.array([0.5, 1.5])).exact_sums
        (Fraction(2, 1), Fraction(5, 2))
        """
        s1 = Fraction(self._s1, 1 << _moments.SUM_SHIFT)
        return s1, Fraction(self._s2, 1 << _moments.SQ_SHIFT)

    @property
    def collapsed_low_tail(self) -> bool:
        """Whether some magnitudes were folded into the lowest kept bucket of a store."""
        return self._pos.collapsed or self._neg.collapsed

    # -- update and merge --------------------------------------------------------------

    def update(self, values: npt.ArrayLike, nulls: int = 0) -> NumericSketch:
        """Add a batch of values (may hold nan, ±inf, zeros) and ``nulls`` missing ones.

        Missing values are the caller's to count (``None`` in an object array converts
        to NaN). Vectorised: values are sorted in chunks, buckets are counted by binary
        search of the bucket edges, sums by per-exponent reductions. Mutates and returns
        ``self``, which is left unchanged if the update fails.
        """
        if nulls < 0:
            msg = f"nulls must be >= 0, got {nulls}"
            raise ValueError(msg)
        x = np.asarray(values, dtype=np.float64).reshape(-1)
        if _USE_NATIVE[0]:
            return self._update_native(np.ascontiguousarray(x), int(nulls))
        # Work on a copy and commit at the end, so a failure leaves ``self`` unchanged.
        work = NumericSketch(self._alpha, self._cap)
        self._copy_into(work)
        work._nulls += int(nulls)
        acc = _moments.workspace()
        try:
            for start in range(0, x.size, _CHUNK):
                work._absorb_sorted(np.sort(x[start : start + _CHUNK]), acc)
                if acc.pending >= _moments.FOLD_EVERY:
                    work._fold(acc)
            work._fold(acc)
        except BaseException:
            acc.discard()
            raise
        work._copy_into(self)
        return self

    def _update_native(self, x: npt.NDArray[np.float64], nulls: int) -> NumericSketch:
        """:meth:`update` in one C pass (``native/sketchscan.c``): the same state.

        Counts, extremes and the exact sums come from one scan, which also counts each
        sign's values into a copy of that sign's kept bucket span (the steady state:
        every key inside the span, so no collapse and no new keys: the store's in-span
        add). A sign with a value outside its span (or an empty store) gets a second
        pass against the edges :meth:`_bucketize` searches. The store's collapse depends
        only on its largest key, so one block per sign per call equals the chunked path.
        Nothing is assigned until every pass succeeded.
        """
        assert _native is not None  # noqa: S101 - checked by the caller
        neg, pos = self._neg, self._pos
        m = self._mapping
        pe, plo, pc = _span(m, pos)
        ne, nlo, nc = _span(m, neg)
        ((n_inf, nans, p_inf, zeros, count, lo, hi, neg_small, neg_big, pos_small, pos_big,
          s1p, s1n, s2), pos_ok, neg_ok) = _native.scan_span(
            x, m.inv_log_gamma, pe, plo, pc, ne, nlo, nc)  # fmt: skip
        if neg_small == neg_small:  # not nan: there are negative finite values
            if neg_ok:
                neg = Store(neg.offset, nc, neg.collapsed)  # type: ignore[arg-type]
            else:
                neg = self._bucketize_native(x, neg_small, neg_big, neg, negative=True)
        if pos_small == pos_small:
            if pos_ok:
                pos = Store(pos.offset, pc, pos.collapsed)  # type: ignore[arg-type]
            else:
                pos = self._bucketize_native(x, pos_small, pos_big, pos, negative=False)
        self._nulls += nulls
        self._neg_inf += n_inf
        self._nans += nans
        self._pos_inf += p_inf
        self._zeros += zeros
        if count:
            self._min = lo if self._count == 0 else min(self._min, lo)
            self._max = hi if self._count == 0 else max(self._max, hi)
            self._count += count
        self._s1 += int.from_bytes(s1p, "little") - int.from_bytes(s1n, "little")
        self._s2 += int.from_bytes(s2, "little")
        self._neg, self._pos = neg, pos
        return self

    def _bucketize_native(
        self, x: npt.NDArray[np.float64], small: float, big: float, store: Store, negative: bool
    ) -> Store:
        """:meth:`_bucketize` of one sign's values of ``x`` (any order), counted in C."""
        assert _native is not None  # noqa: S101 - checked by the caller
        m = self._mapping
        k_lo, k_hi = m.key(small), m.key(big)
        top = k_hi if store.empty else max(store.hi, k_hi)
        floor_key = top - self._cap + 1
        lo = max(k_lo, floor_key)
        edges = m.edges(lo, k_hi - 1)
        block = np.zeros(edges.size + 1, dtype=np.int64)
        _native.buckets(x, edges, lo, m.inv_log_gamma, negative, block)
        return store.add(lo, block, self._cap, collapsed=k_lo < floor_key)

    def _fold(self, acc: _moments.MomentAccumulator) -> None:
        d1, d2 = acc.fold()
        self._s1 += d1
        self._s2 += d2

    def _absorb_sorted(self, xs: npt.NDArray[np.float64], acc: _moments.MomentAccumulator) -> None:
        # np.sort orders -inf < negatives < zeros < positives < +inf < nan, so every
        # special count is a binary search and each sign is one contiguous run.
        z0, p_inf, nan0 = np.searchsorted(xs, (0.0, math.inf, math.nan), side="left").tolist()
        n_inf, z1 = np.searchsorted(xs, (-math.inf, 0.0), side="right").tolist()
        self._neg_inf += n_inf
        self._nans += xs.size - nan0
        self._pos_inf += nan0 - p_inf
        self._zeros += z1 - z0
        if p_inf > n_inf:
            # +0.0 turns a -0.0 extreme into 0.0, so min/max do not depend on input order.
            lo, hi = float(xs[n_inf]) + 0.0, float(xs[p_inf - 1]) + 0.0
            self._min = lo if self._count == 0 else min(self._min, lo)
            self._max = hi if self._count == 0 else max(self._max, hi)
            self._count += p_inf - n_inf
        if z0 > n_inf:
            self._neg = self._bucketize(xs[n_inf:z0], self._neg, negative=True)
        if p_inf > z1:
            self._pos = self._bucketize(xs[z1:p_inf], self._pos, negative=False)
        acc.add_sorted(xs[n_inf:p_inf], z0 - n_inf, z1 - z0)

    def _bucketize(self, a: npt.NDArray[np.float64], store: Store, negative: bool) -> Store:
        """Count sorted values of one sign per bucket by searching the edges, not the values."""
        m, n = self._mapping, a.size
        small, big = (-float(a[-1]), -float(a[0])) if negative else (float(a[0]), float(a[-1]))
        k_lo, k_hi = m.key(small), m.key(big)
        top = k_hi if store.empty else max(store.hi, k_hi)
        floor_key = top - self._cap + 1
        lo = max(k_lo, floor_key)  # above k_hi when the whole batch falls below the floor
        cum = np.empty(max(k_hi - lo, 0) + 2, dtype=np.int64)  # values with magnitude ≤ edge
        cum[0], cum[-1] = 0, n
        edges = m.edges(lo, k_hi - 1)
        if negative:
            cum[1:-1] = n - np.searchsorted(a, -edges, side="left")
        else:
            cum[1:-1] = np.searchsorted(a, edges, side="right")
        block = cum[1:] - cum[:-1]
        return store.add(lo, block, self._cap, collapsed=k_lo < floor_key)

    def check_compatible(self, other: object) -> None:
        """Raise unless ``other`` is a NumericSketch with the same parameters.

        Raises:
            SketchMismatchError: if the relative accuracy or bucket cap differ.
        """
        other = self.same_kind(other)
        theirs = (other.relative_accuracy, other.max_buckets)
        if (self._alpha, self._cap) != theirs:
            msg = (
                "sketch parameters differ: (relative_accuracy, max_buckets) "
                f"{(self._alpha, self._cap)} vs {theirs}"
            )
            raise SketchMismatchError(msg)

    def merge(self, other: NumericSketch) -> NumericSketch:
        """A new sketch of both inputs' values; exact, commutative and associative.

        Raises:
            SketchMismatchError: if the relative accuracy or bucket cap differ.
        """
        self.check_compatible(other)
        out = NumericSketch(self._alpha, self._cap)
        self._copy_into(out)
        out._add_counts(other)
        out._pos = out._pos.merge(other._pos, self._cap)
        out._neg = out._neg.merge(other._neg, self._cap)
        return out

    @classmethod
    def merge_all(cls, sketches: Sequence[NumericSketch]) -> NumericSketch:
        """``sketches[0].merge(sketches[1]).merge(...)`` in one pass: the same sketch.

        A rollup merges a window's parts at once (the stores' floors are found once).
        One sketch is returned as it is (values are not changed in place).

        Raises:
            SketchMismatchError: if the relative accuracy or bucket cap differ.
            ValueError: if ``sketches`` is empty.
        """
        if not sketches:
            msg = "merge_all needs at least one sketch"
            raise ValueError(msg)
        first: NumericSketch = sketches[0]
        if len(sketches) == 1:
            return first
        out: NumericSketch = first.copy()
        for other in sketches[1:]:
            out._add_counts(other)
        out._merge_stores(sketches)
        return out

    def _add_counts(self, other: NumericSketch) -> None:
        """Everything of ``other`` but the stores, added into this (fresh) sketch."""
        self.check_compatible(other)
        self._nulls += other._nulls
        self._nans += other._nans
        self._pos_inf += other._pos_inf
        self._neg_inf += other._neg_inf
        self._zeros += other._zeros
        if other._count:
            self._min = other._min if self._count == 0 else min(self._min, other._min)
            self._max = other._max if self._count == 0 else max(self._max, other._max)
            self._count += other._count
        self._s1 += other._s1
        self._s2 += other._s2

    def _merge_stores(self, sketches: Sequence[NumericSketch]) -> None:
        """This sketch's stores become those of ``sketches`` merged (one pass each)."""
        pos: list[Store] = []
        neg: list[Store] = []
        for i in range(len(sketches)):
            one: NumericSketch = sketches[i]
            pos.append(one._pos)
            neg.append(one._neg)
        self._pos = Store.merge_all(pos, self._cap)
        self._neg = Store.merge_all(neg, self._cap)

    def bucket_identity(self) -> tuple[object, object, int, float]:
        """What the bucket view depends on: the two (immutable) stores, zeros and α.

        An update replaces the stores, so derived views may be memoised on these
        objects' identity (``measures.histogram.memo``).
        """
        return (self._pos, self._neg, self._zeros, self._alpha)

    def copy(self) -> NumericSketch:
        """An independent copy (stores are immutable values, so this is cheap)."""
        out = NumericSketch(self._alpha, self._cap)
        self._copy_into(out)
        return out

    def _copy_into(self, out: NumericSketch) -> None:
        for name in NumericSketch.__slots__:
            setattr(out, name, getattr(self, name))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, NumericSketch):
            return NotImplemented
        same_stores = self._pos == other._pos and self._neg == other._neg
        return same_stores and self._state() == other._state()

    def _state(self) -> tuple[object, ...]:
        # min/max are nan when empty; compare them only when there is something.
        extremes = (self._min, self._max) if self._count else ()
        return (
            self._alpha,
            self._cap,
            self._nulls,
            self._nans,
            self._pos_inf,
            self._neg_inf,
            self._zeros,
            self._count,
            self._s1,
            self._s2,
            extremes,
        )

    def __repr__(self) -> str:
        return (
            f"NumericSketch(alpha={self._alpha}, total={self.total}, count={self._count}, "
            f"mean={self.mean:.6g}, min={self._min:.6g}, max={self._max:.6g}, "
            f"buckets={len(self._pos) + len(self._neg)})"
        )

    # -- buckets -------------------------------------------------------------------------

    def signed_keys(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Non-empty buckets in value order as ``(signed keys, counts)``.

        A signed key is ``k + KEY_OFFSET`` for the positive bucket ``k``, ``-(k +
        KEY_OFFSET)`` for the negative one and ``0`` for zeros; sketches with the same
        ``α`` share the key space, so ``np.union1d`` aligns two of them exactly.

        >>> s = NumericSketch.zero().update(np.array([-1.0, 0.0, 1.0, 1.0]))
        >>> keys, counts = s.signed_keys()
        >>> (keys - np.sign(keys) * KEY_OFFSET).tolist(), counts.tolist()
        ([0, 0, 0], [1, 1, 2])
        """
        return signed_keys(self._neg, self._zeros, self._pos)

    def bucket_bounds(
        self, signed_keys: npt.NDArray[np.int64]
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """Lower and upper edge of each signed key's bucket (±inf clipped to ±float max).

        Positive buckets are ``(γ^(k-1), γ^k]``, negative ones ``[-γ^k, -γ^(k-1))``, the
        zero bucket ``[0, 0]``. Pure key arithmetic: see :meth:`histogram` for collapse.
        """
        return self._mapping.signed_bounds(np.asarray(signed_keys, dtype=np.int64))

    def bucket_value(self, signed_keys: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        """Representative value ``±2γ^k/(γ+1)`` of each signed key's bucket (0 for zeros)."""
        return self._mapping.signed_values(np.asarray(signed_keys, dtype=np.int64))

    def histogram(
        self,
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.int64]]:
        """``(lower, upper, counts)`` of the non-empty buckets in value order.

        A collapsed bucket reaches down to 0 (its lower magnitude edge is unknown).

        >>> lo, hi, c = NumericSketch.zero().update(np.array([-1.0, 0.0, 2.0])).histogram()
        >>> np.round(lo, 3).tolist(), np.round(hi, 3).tolist(), c.tolist()
        ([-1.0, 0.0, 1.974], [-0.98, 0.0, 2.014], [1, 1, 1])
        """
        _, lower, upper, counts = self.bucket_view()
        return lower, upper, counts

    def bucket_view(self) -> tuple[_Ints, _Floats, _Floats, _Ints]:
        """``(signed keys, lower, upper, counts)``: :meth:`signed_keys` and :meth:`histogram`."""
        keys, counts = self.signed_keys()
        lower, upper = self.bucket_bounds(keys)
        if self._pos.collapsed:
            lower[np.searchsorted(keys, self._pos.offset + KEY_OFFSET)] = 0.0
        if self._neg.collapsed:
            upper[np.searchsorted(keys, -(self._neg.offset + KEY_OFFSET))] = 0.0
        return keys, lower, upper, counts

    # -- quantiles and cdf -----------------------------------------------------------------

    @overload
    def quantile(self, q: float) -> float: ...
    @overload
    def quantile(self, q: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]: ...
    def quantile(self, q: float | npt.NDArray[np.float64]) -> _FloatOrArray:
        """Value at rank ``floor(q·(count-1))`` among the finite values (nan when empty).

        Within relative ``α`` of the exact lower quantile (``np.quantile(method="lower")``)
        unless that rank lies in a collapsed bucket; q = 0 and q = 1 give min and max.

        >>> s = NumericSketch.zero().update(np.arange(1.0, 101.0))
        >>> s.quantile(0.0), round(float(s.quantile(0.9)), 2), s.quantile(1.0)
        (1.0, 89.13, 100.0)
        """
        qa = np.asarray(q, dtype=np.float64)
        if np.any(~((qa >= 0.0) & (qa <= 1.0))):
            msg = f"quantile levels must be in [0, 1], got {q}"
            raise ValueError(msg)
        n = self._count
        if n == 0:
            out = np.full(qa.shape, math.nan)
        else:
            keys, counts = self.signed_keys()
            rank = np.floor(qa * (n - 1))
            idx = np.searchsorted(np.cumsum(counts), rank, side="right")
            out = np.clip(self.bucket_value(keys[idx]), self._min, self._max)
            out = np.where(rank <= 0, self._min, np.where(rank >= n - 1, self._max, out))
        return float(out) if out.ndim == 0 else out

    @overload
    def cdf(self, x: float) -> float: ...
    @overload
    def cdf(self, x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]: ...
    def cdf(self, x: float | npt.NDArray[np.float64]) -> _FloatOrArray:
        """Share of finite values ≤ ``x``, counting each bucket at its representative value.

        Exact below min (0) and from max on (1); otherwise within the share of the bucket
        holding ``x``.

        >>> s = NumericSketch.zero().update(np.array([1.0, 2.0, 3.0, 4.0]))
        >>> s.cdf(0.5), s.cdf(2.0), s.cdf(np.array([3.0, 9.0])).tolist()
        (0.0, 0.5, [0.75, 1.0])
        """
        xa = np.asarray(x, dtype=np.float64)
        n = self._count
        if n == 0:
            out = np.full(xa.shape, math.nan)
        else:
            keys, counts = self.signed_keys()
            cum = np.concatenate(([0], np.cumsum(counts)))
            below = cum[np.searchsorted(self.bucket_value(keys), xa, side="right")] / n
            out = np.where(xa < self._min, 0.0, np.where(xa >= self._max, 1.0, below))
            out = np.where(np.isnan(xa), math.nan, out)
        return float(out) if out.ndim == 0 else out

    # -- bytes -------------------------------------------------------------------------------

    def write_payload(self, w: Writer) -> None:
        """Codec hook: the version-1 payload (parameters, counts, stores, extremes, sums)."""
        w.f64(self._alpha)
        w.uvarint(self._cap)
        for c in (self._nulls, self._nans, self._pos_inf, self._neg_inf, self._zeros):
            w.uvarint(c)
        self._neg.encode(w)
        self._pos.encode(w)
        if self._count:
            w.f64(self._min)
            w.f64(self._max)
            w.bigint(self._s1)
            w.bigint(self._s2)

    @classmethod
    def read_payload(cls, r: Reader, version: int) -> NumericSketch:
        """Codec hook: read and validate a payload written by :meth:`write_payload`."""
        del version  # v1 is the only layout so far
        alpha, cap = r.f64(), r.uvarint()
        if not (_MIN_ALPHA <= alpha <= _MAX_ALPHA) or not 1 <= cap <= _MAX_CAP:
            msg = f"invalid parameters alpha={alpha} max_buckets={cap}"
            raise SketchDecodeError(msg)
        s = cls(alpha, cap)
        s._nulls, s._nans, s._pos_inf, s._neg_inf, s._zeros = (r.uvarint() for _ in range(5))
        key_min, key_max = s._mapping.key_range
        s._neg = Store.decode(r, cap, key_min, key_max)
        s._pos = Store.decode(r, cap, key_min, key_max)
        s._count = s._zeros + s._neg.total + s._pos.total
        if s._count:
            s._min, s._max = r.f64(), r.f64()
            s._s1 = r.bigint(4400)
            s._s2 = r.bigint(4400)
            s._validate()
        return s

    def _validate(self) -> None:
        lo, hi, n = self._min, self._max, self._count
        ok = math.isfinite(lo) and math.isfinite(hi) and lo <= hi
        # -0.0 is normalised away on update, so stored bytes never hold it.
        ok = ok and all(v != 0.0 or math.copysign(1.0, v) > 0 for v in (lo, hi))
        ok = ok and extreme_fits(lo, self._neg, self._zeros, self._pos, self._mapping.key)
        ok = ok and extreme_fits(0.0 - hi, self._pos, self._zeros, self._neg, self._mapping.key)
        if not ok or not sums_consistent(n, lo, hi, self._s1, self._s2):
            msg = "inconsistent numeric sketch (extremes, buckets and sums disagree)"
            raise SketchDecodeError(msg)


def sums_consistent(n: int, lo: float, hi: float, s1: int, s2: int) -> bool:
    """n·lo ≤ Σx ≤ n·hi and n·Σx² ≥ (Σx)² for fixed-point sums ``s1``, ``s2``.

    In integers (the sums are fixed point, the floats dyadic): the same test as with
    Fractions, without their gcds (decoding runs it for every sketch read).
    """
    one = 1 << _moments.SUM_SHIFT
    (a, b), (c, d) = lo.as_integer_ratio(), hi.as_integer_ratio()
    in_range = n * a * one <= s1 * b and s1 * d <= n * c * one
    return in_range and n * s2 * one * one >= s1 * s1 * (1 << _moments.SQ_SHIFT)
