"""Categorical feature sketch: exact counts up to a cap, then a summary that merges exactly.

Design. Every state is a function of the multiset of observed values, so any batching,
partitioning and merge order give identical bytes (replay = live):

* Up to ``max_exact`` distinct values: exact counts of every value (``is_exact``).
* Beyond: the **bottom-k sample** — the ``k = max_exact`` values with the smallest
  64-bit rank (the first half of a 16-byte blake2b digest of the UTF-8 value, lone
  surrogates passed through; ties broken by the value; the second half places the
  value in the table). The k-th
  smallest rank only falls as values arrive, so a value kept at the end was below it
  from its first occurrence on: it was never evicted and **its count is exact**. The
  bottom-k of a union is the bottom-k of the two bottom-k's, so merging is exact too.
  A value whose rank is below the k-th but is not kept was provably never seen: its
  count is exactly 0.
* **Count-Min table** (4 rows × ``w`` columns, ``w`` = max(64, max_exact/4) rounded
  down to a power of two; built from the exact counts when the cap is first exceeded)
  over all valid values. It is linear — merge is addition — so it is
  exact and order-free as well. It answers :meth:`estimate` for any value that is asked
  about by name (e.g. a reference's categories) and was not kept.
* ``other = count − Σ counts of kept values``: the mass not attributed to a kept value.

Why not heavy hitters with exact counts: no bounded summary can give them. If a part
of the stream holds value ``v`` once among many others, a merge with a later part where
``v`` dominates must know that single count, for every ``v`` — that is all the counts.
Misra–Gries/SpaceSaving bound the error instead but their state depends on merge order.
Here a heavy value that is not in the sample is always part of ``other`` and is
estimated by the table when asked for by name — deterministically, with these bounds.

Error bounds (beyond the cap):

* kept values: exact; values ranked below the k-th but not kept: exactly 0.
* ``estimate(v)`` otherwise: never below the true count, never above ``other``, and
  above it by at most ``e/w · other`` with probability ``≥ 1 − e^-4`` (≈ 98 %) over the
  hash, where ``w`` is the width (256 for the default cap, so ≈ 1.1 % of ``other``): the
  kept values' exact counts are subtracted from the table first, so only untracked
  mass collides.
* ``distinct``: KMV estimate ``(k−1)/U_k`` (``U_k`` the k-th smallest rank scaled to
  [0, 1)), unbiased with relative standard error ≈ ``1/sqrt(k−2)`` (3.1 % at k = 1024).
* the kept values are a uniform random sample of the distinct values: a share
  computed over them estimates the share of values "like them", not of heavy ones.

>>> s = CategoricalSketch.zero().update(["DE", "FR", "DE", None], type_errors=1)
>>> s.total, s.count, s.nulls, s.type_errors, s.is_exact, s.counts(), s.other
(5, 3, 1, 1, True, {'DE': 2, 'FR': 1}, 0)
>>> s.estimate("DE"), s.estimate("US"), s.distinct
(2.0, 0.0, 2.0)
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from stream.core.sketch._wire import TYPE_CATEGORICAL, Framed, Reader, Writer
from stream.errors import SketchDecodeError, SketchMismatchError

__all__ = ["CategoricalSketch"]

_MAX_K = 1 << 16
_DEPTH = 4  # Count-Min rows; each takes 16 bits of the 64-bit table hash
_RANK_SPACE = float(1 << 64)


def _digests(values: Sequence[str]) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]]:
    """(rank, table hash) of each value: two independent 64-bit halves of one blake2b digest."""
    blob = b"".join(
        [
            hashlib.blake2b(v.encode("utf-8", "surrogatepass"), digest_size=16).digest()
            for v in values
        ]
    )
    pairs = np.frombuffer(blob, dtype=">u8").reshape(-1, 2).astype(np.uint64)
    return pairs[:, 0], pairs[:, 1]


def _width_for(max_exact: int) -> int:
    # A power of two, so 16-bit hash slices map onto columns exactly uniformly.
    return max(64, 1 << max(0, (max_exact // 4).bit_length() - 1))


def _columns(table_hashes: npt.NDArray[np.uint64], width: int) -> npt.NDArray[np.intp]:
    """Column of each value in each row: shape (depth, n)."""
    shift = np.uint64(16 - (width.bit_length() - 1))
    rows = [(table_hashes >> np.uint64(16 * r)) & np.uint64(0xFFFF) for r in range(_DEPTH)]
    return (np.stack(rows) >> shift).astype(np.intp)


def _table_of(
    table_hashes: npt.NDArray[np.uint64], counts: npt.NDArray[np.int64], width: int
) -> npt.NDArray[np.int64]:
    w = counts.astype(np.float64)  # float sums of integer counts are exact below 2^53
    cols = _columns(table_hashes, width)
    return np.stack([np.bincount(c, weights=w, minlength=width) for c in cols]).astype(np.int64)


def _bottom_k(values: list[str], ranks: npt.NDArray[np.uint64], k: int) -> list[int]:
    """Indices of the ``k`` values with the smallest ``(rank, value)``."""
    if len(values) <= k:
        return list(range(len(values)))
    threshold = ranks[np.argpartition(ranks, k - 1)[k - 1]]
    sure = np.flatnonzero(ranks < threshold).tolist()
    tied = sorted(np.flatnonzero(ranks == threshold).tolist(), key=values.__getitem__)
    return sure + tied[: k - len(sure)]


class CategoricalSketch(Framed):
    """One categorical feature in one window, mergeable (see the module docstring).

    :meth:`zero` makes an empty one; ``update`` mutates it in place and ``merge`` returns
    a new sketch.
    """

    SKETCH_TYPE: ClassVar[int] = TYPE_CATEGORICAL
    __slots__ = (
        "_cache",
        "_count",
        "_counts",
        "_k",
        "_nulls",
        "_ranks",
        "_table",
        "_type_errors",
        "_width",
    )
    __hash__ = None  # type: ignore[assignment]  # mutable

    def __init__(self, max_exact: int) -> None:
        if not (isinstance(max_exact, int) and 1 <= max_exact <= _MAX_K):
            msg = f"max_exact must be an int in [1, {_MAX_K}], got {max_exact!r}"
            raise ValueError(msg)
        self._k = max_exact
        self._width = _width_for(max_exact)
        self._count = self._nulls = self._type_errors = 0
        self._counts: dict[str, int] = {}
        self._ranks: dict[str, int] = {}  # rank of each kept value, beyond the cap only
        self._table: npt.NDArray[np.int64] | None = None  # None while exact
        self._cache: dict[str, object] = {}  # derived values, dropped on every change

    @classmethod
    def zero(cls, max_exact: int = 1024) -> CategoricalSketch:
        """The empty sketch: the identity of :meth:`merge`.

        >>> CategoricalSketch.zero().total, CategoricalSketch.zero().is_exact
        (0, True)
        """
        return cls(max_exact)

    # -- counts ------------------------------------------------------------------------

    @property
    def max_exact(self) -> int:
        """Distinct values counted exactly; also the sample size beyond that."""
        return self._k

    @property
    def table_shape(self) -> tuple[int, int]:
        """(rows, columns) of the Count-Min table used beyond the cap."""
        return _DEPTH, self._width

    @property
    def total(self) -> int:
        """Every observation: valid values, nulls and type errors."""
        return self._count + self._nulls + self._type_errors

    @property
    def count(self) -> int:
        """Valid (non-null, string) values."""
        return self._count

    @property
    def nulls(self) -> int:
        """Missing values (``None`` in a batch plus those reported by the caller)."""
        return self._nulls

    @property
    def type_errors(self) -> int:
        """Values that were not strings (in a batch or reported by the caller)."""
        return self._type_errors

    @property
    def is_exact(self) -> bool:
        """Whether every distinct value so far is counted (at most ``max_exact`` of them)."""
        return self._table is None

    @property
    def distinct(self) -> float:
        """Number of distinct valid values: exact when ``is_exact``, else the KMV estimate."""
        if self._table is None:
            return float(len(self._counts))
        return (self._k - 1) / ((self._kth()[0] + 1) / _RANK_SPACE)

    def counts(self) -> dict[str, int]:
        """Exact counts of the kept values (all values when exact), largest first.

        >>> CategoricalSketch.zero().update(["b", "a", "b"]).counts()
        {'b': 2, 'a': 1}
        """
        return dict(sorted(self._counts.items(), key=lambda kv: (-kv[1], kv[0])))

    @property
    def other(self) -> int:
        """Valid values not attributed to a kept value (0 when exact)."""
        return self._count - self._kept_total()

    def estimate(self, value: str) -> float:
        """Point estimate of ``value``'s count: exact when kept or provably unseen.

        Otherwise the Count-Min estimate over the untracked mass (see the error bounds
        in the module docstring): an upper bound, capped at :attr:`other`.
        """
        kept = self._counts.get(value)
        if kept is not None:
            return float(kept)
        if self._table is None:
            return 0.0
        ranks, table_hashes = _digests([value])
        if (int(ranks[0]), value) < self._kth():
            return 0.0  # it would be in the sample had it ever been seen
        cols = _columns(table_hashes, self._width)[:, 0].tolist()
        residual = self._residual()
        best = min(int(residual[row, col]) for row, col in enumerate(cols))
        return float(min(best, self.other))

    # -- update and merge ----------------------------------------------------------------

    def update(
        self,
        values: Sequence[str | None] | npt.NDArray[Any],
        nulls: int = 0,
        type_errors: int = 0,
    ) -> CategoricalSketch:
        """Add a batch: ``None`` counts as null, a non-string as a type error.

        Counting is one ``collections.Counter`` pass (C); Python work is per distinct
        value of the batch (hashing only beyond the cap), not per value. Mutates and
        returns ``self``.
        """
        if nulls < 0 or type_errors < 0:
            msg = f"nulls and type_errors must be >= 0, got {nulls}, {type_errors}"
            raise ValueError(msg)
        seq = values.tolist() if isinstance(values, np.ndarray) else values
        return self.update_counts(Counter(seq), nulls, type_errors)

    def update_codes(
        self, codes: npt.NDArray[np.integer[Any]], categories: Sequence[str] | npt.NDArray[Any]
    ) -> CategoricalSketch:
        """:meth:`update` of a coded batch: ``categories[codes[i]]``, null where the code is -1.

        ``categories`` must be distinct (a parse's per-batch dictionary; unused ones are
        fine). Counting is one ``bincount`` instead of a hash per value; the state is the
        same as ``update`` of the values. Mutates and returns ``self``.
        """
        cats = categories.tolist() if isinstance(categories, np.ndarray) else list(categories)
        # One bincount, checked after: a code below -1 makes it raise, one past the
        # categories makes the tally longer (no min/max passes over the codes).
        try:
            tally = np.bincount(codes + 1, minlength=len(cats) + 1)
        except ValueError:
            tally = None
        if tally is None or tally.size > len(cats) + 1:
            lo, hi = (int(codes.min()), int(codes.max())) if codes.size else (0, 0)
            msg = f"codes must be in [-1, {len(cats)}), got {lo}..{hi}"
            raise ValueError(msg)
        nulls, *per_cat = tally.tolist()
        used = [(v, c) for v, c in zip(cats, per_cat, strict=True) if c]
        if self._table is None and all(type(v) is str for v, _ in used):
            # The exact regime with plain str categories (a parse's dictionary): what
            # update_counts does for them, without its per-call Counter copies.
            self._nulls += nulls
            if used:
                self._cache.clear()
                kept, total = self._counts, 0
                for v, c in used:
                    kept[v] = kept.get(v, 0) + c
                    total += c
                self._count += total
                if len(kept) > self._k:
                    self._overflow()
            return self
        counts: Counter[Any] = Counter()
        for v, c in used:
            counts[v] += c  # distinct: one entry each (+= keeps a repeat correct)
        return self.update_counts(counts, nulls)

    def update_counts(
        self, counts: Mapping[Any, int], nulls: int = 0, type_errors: int = 0
    ) -> CategoricalSketch:
        """:meth:`update` with the batch already counted (value → positive count).

        The same state as ``update`` of the values repeated that many times, in the
        mapping's order (calibration's redraws come as counts). Mutates and returns
        ``self``.
        """
        if nulls < 0 or type_errors < 0 or any(c <= 0 for c in counts.values()):
            msg = f"nulls, type_errors and counts must be >= 0 (> 0), got {nulls}, {type_errors}"
            raise ValueError(msg)
        batch: Counter[object] = Counter()
        batch.update(counts)
        nulls += batch.pop(None, 0)
        for v in [v for v in batch if type(v) is not str]:
            c = batch.pop(v)
            if isinstance(v, str):
                batch[str(v)] += c  # str subclasses (np.str_) count as their plain value
            else:
                type_errors += c
        self._nulls += nulls
        self._type_errors += type_errors
        if not batch:
            return self
        self._cache.clear()
        self._count += sum(batch.values())
        valid: dict[str, int] = batch  # type: ignore[assignment]  # only str keys remain
        if self._table is None:
            counts = self._counts
            for v, c in valid.items():
                counts[v] = counts.get(v, 0) + c
            if len(counts) > self._k:
                self._overflow()
            return self
        values_ = list(valid)
        batch_counts = np.fromiter(valid.values(), dtype=np.int64, count=len(values_))
        ranks, table_hashes = _digests(values_)
        self._table += _table_of(table_hashes, batch_counts, self._width)
        # Only values ranked at or below the current k-th can be (or become) kept.
        kth_rank, kth_value = self._kth()
        counts, kept_ranks = dict(self._counts), dict(self._ranks)
        for i in np.flatnonzero(ranks <= np.uint64(kth_rank)).tolist():
            v, r = values_[i], int(ranks[i])
            if r == kth_rank and v > kth_value:
                continue
            counts[v] = counts.get(v, 0) + int(batch_counts[i])
            kept_ranks[v] = r
        self._keep_bottom_k(counts, kept_ranks)
        return self

    def _overflow(self) -> None:
        """Leave the exact regime: table from the exact counts, then keep the bottom-k."""
        values = list(self._counts)
        counts = np.fromiter(self._counts.values(), dtype=np.int64, count=len(values))
        ranks, table_hashes = _digests(values)
        self._table = _table_of(table_hashes, counts, self._width)
        self._keep_bottom_k(self._counts, dict(zip(values, ranks.tolist(), strict=True)))

    def _keep_bottom_k(self, counts: dict[str, int], ranks: dict[str, int]) -> None:
        if len(counts) > self._k:
            values = list(counts)
            rank_arr = np.fromiter((ranks[v] for v in values), dtype=np.uint64, count=len(values))
            keep = [values[i] for i in _bottom_k(values, rank_arr, self._k)]
            counts = {v: counts[v] for v in keep}
            ranks = {v: ranks[v] for v in keep}
        self._counts, self._ranks = counts, ranks
        self._cache.clear()

    def check_compatible(self, other: object) -> None:
        """Raise unless ``other`` is a CategoricalSketch with the same ``max_exact``.

        Raises:
            SketchMismatchError: if ``max_exact`` differs.
        """
        other = self.same_kind(other)
        if self._k != other.max_exact:
            msg = f"sketch parameters differ: max_exact {self._k} vs {other.max_exact}"
            raise SketchMismatchError(msg)

    def merge(self, other: CategoricalSketch) -> CategoricalSketch:
        """A new sketch of both inputs' values; exact, commutative and associative.

        Raises:
            SketchMismatchError: if ``max_exact`` differs.
        """
        self.check_compatible(other)
        out = CategoricalSketch(self._k)
        out._count = self._count + other._count
        out._nulls = self._nulls + other._nulls
        out._type_errors = self._type_errors + other._type_errors
        counts = dict(self._counts)
        for v, c in other._counts.items():
            counts[v] = counts.get(v, 0) + c
        if self._table is None and other._table is None:
            out._counts = counts
            if len(counts) > self._k:
                out._overflow()
            return out
        # The bottom-k of a union is the bottom-k of the parts' bottom-k's; a value of a
        # part that is not kept there ranks above that part's k-th, hence above the
        # union's k-th, so every value kept here has its full count in the pool.
        mine, theirs = self._table_and_ranks(), other._table_and_ranks()
        out._table = mine[0] + theirs[0]
        out._keep_bottom_k(counts, mine[1] | theirs[1])
        return out

    def _table_and_ranks(self) -> tuple[npt.NDArray[np.int64], dict[str, int]]:
        if self._table is not None:
            return self._table, self._ranks
        values, ranks, _ = self._kept_digests()
        return self._kept_table(), dict(zip(values, ranks.tolist(), strict=True))

    def copy(self) -> CategoricalSketch:
        """An independent copy."""
        out = CategoricalSketch(self._k)
        out._count, out._nulls, out._type_errors = self._count, self._nulls, self._type_errors
        out._counts = dict(self._counts)
        out._ranks = dict(self._ranks)
        out._table = None if self._table is None else self._table.copy()
        return out

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CategoricalSketch):
            return NotImplemented
        same_table = (self._table is None and other._table is None) or (
            self._table is not None
            and other._table is not None
            and np.array_equal(self._table, other._table)
        )
        return (
            same_table
            and (self._k, self._count, self._nulls, self._type_errors)
            == (other._k, other._count, other._nulls, other._type_errors)
            and self._counts == other._counts
        )

    def __repr__(self) -> str:
        return (
            f"CategoricalSketch(max_exact={self._k}, total={self.total}, count={self._count}, "
            f"exact={self.is_exact}, kept={len(self._counts)}, other={self.other})"
        )

    # -- derived, cached -------------------------------------------------------------------

    def _canonical(self) -> list[str]:
        """Kept values in canonical order: by value when exact, else by (rank, value)."""
        if self._table is None:
            return sorted(self._counts)
        return sorted(self._counts, key=lambda v: (self._ranks[v], v))

    def _kth(self) -> tuple[int, str]:
        """The largest kept ``(rank, value)``: the sample threshold beyond the cap."""
        got = self._cache.get("kth")
        if got is None:
            got = self._cache["kth"] = max((r, v) for v, r in self._ranks.items())
        return got  # type: ignore[return-value]

    def _kept_total(self) -> int:
        got = self._cache.get("kept")
        if got is None:
            got = self._cache["kept"] = sum(self._counts.values())
        return got  # type: ignore[return-value]

    def _kept_digests(
        self,
    ) -> tuple[list[str], npt.NDArray[np.uint64], npt.NDArray[np.uint64]]:
        """Kept values with their rank and table hashes (hashing is the costly part)."""
        got = self._cache.get("digests")
        if got is None:
            values = list(self._counts)
            got = self._cache["digests"] = (values, *_digests(values))
        return got  # type: ignore[return-value]

    def _kept_table(self) -> npt.NDArray[np.int64]:
        """The Count-Min table of the kept values' exact counts alone."""
        got = self._cache.get("kept_table")
        if got is None:
            values, _, table_hashes = self._kept_digests()
            counts = np.fromiter((self._counts[v] for v in values), np.int64, len(values))
            got = self._cache["kept_table"] = _table_of(table_hashes, counts, self._width)
        return got  # type: ignore[return-value]

    def _residual(self) -> npt.NDArray[np.int64]:
        """The table minus the kept values' exact counts: only untracked mass is left."""
        table, _ = self._table_and_ranks()
        return table - self._kept_table()

    # -- bytes -------------------------------------------------------------------------------

    def write_payload(self, w: Writer) -> None:
        """Codec hook: the version-1 payload (parameters, counts, kept values, table)."""
        w.uvarint(self._k)
        w.uvarint(self._width)
        for c in (self._count, self._nulls, self._type_errors):
            w.uvarint(c)
        w.u8(int(self._table is None))
        values = self._canonical()
        blobs = [v.encode("utf-8", "surrogatepass") for v in values]
        w.uvarint(len(values))
        w.uvarints(np.fromiter((len(b) for b in blobs), dtype=np.int64, count=len(blobs)))
        w.raw(b"".join(blobs))
        counts = (self._counts[v] for v in values)
        w.uvarints(np.fromiter(counts, dtype=np.int64, count=len(values)))
        if self._table is not None:
            w.uvarints(self._table.reshape(-1))

    @classmethod
    def read_payload(cls, r: Reader, version: int) -> CategoricalSketch:
        """Codec hook: read and validate a payload written by :meth:`write_payload`."""
        del version  # v1 is the only layout so far
        k = r.uvarint()
        if not 1 <= k <= _MAX_K or r.uvarint() != _width_for(k):
            msg = "invalid categorical sketch parameters"
            raise SketchDecodeError(msg)
        s = cls(k)
        s._count, s._nulls, s._type_errors = r.uvarint(), r.uvarint(), r.uvarint()
        exact, n = r.u8(), r.uvarint()
        if exact > 1 or n > k or (exact == 0 and n != k):
            msg = "invalid categorical sample size"
            raise SketchDecodeError(msg)
        lengths = r.uvarints(n)
        blob = r.raw(int(lengths.sum()))
        counts = r.uvarints(n)
        ends = np.cumsum(lengths).tolist()
        values = [
            blob[a:b].decode("utf-8", "surrogatepass")
            for a, b in zip([0, *ends], ends, strict=False)
        ]
        s._counts = dict(zip(values, counts.tolist(), strict=True))
        if not exact:
            s._table = r.uvarints(_DEPTH * s._width).reshape(_DEPTH, s._width)
            ranks, table_hashes = _digests(values)
            s._ranks = dict(zip(values, ranks.tolist(), strict=True))
            s._cache["digests"] = (values, ranks, table_hashes)
        s._validate(values, counts)
        return s

    def _validate(self, values: list[str], counts: npt.NDArray[np.int64]) -> None:
        ok = len(self._counts) == len(values) and values == self._canonical()
        ok = ok and (not values or int(counts.min()) >= 1)
        kept = self._kept_total()
        if self._table is None:
            ok = ok and kept == self._count
        else:
            ok = ok and kept <= self._count
            ok = ok and bool(np.all(self._table.sum(axis=1) == self._count))
            ok = ok and bool(np.all(self._residual() >= 0))
        if not ok:
            msg = "inconsistent categorical sketch (order, counts or table disagree)"
            raise SketchDecodeError(msg)
