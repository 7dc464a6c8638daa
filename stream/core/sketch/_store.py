"""A bounded run of consecutive bucket counts with a canonical low-end collapse.

The store is an immutable value: ``offset`` is the key of ``counts[0]``; the first and
last counts are non-zero (or the store is empty). At most ``cap`` consecutive keys are
kept: with ``K`` the largest key ever added, a key ``k`` is counted at
``max(k, K - cap + 1)``. Because that map only depends on the final ``K`` and applying it
twice equals applying it once with the larger ``K``, every order of adds and merges of
the same keys yields the same store.

>>> s = Store.EMPTY.add(0, np.array([1, 0, 2]), cap=3, collapsed=False)
>>> s = s.add(4, np.array([5]), cap=3, collapsed=False)  # K = 4: keys < 2 fold into 2
>>> s.offset, s.counts.tolist(), s.collapsed
(2, [3, 0, 5], True)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from stream.core.sketch._mapping import KEY_OFFSET
from stream.core.sketch._wire import Reader, Writer, codec, encode_uint_list, encode_uints
from stream.errors import SketchDecodeError

__all__ = ["Store", "extreme_fits", "signed_keys"]

_SPARSE = 2  # flag bit: counts are written as (gap, count) pairs of non-empty buckets
_LIST_SPAN = 128
"""Stores up to this span are encoded with Python lists (same bytes, no numpy calls)."""


class Store:
    """Dense counts for keys ``offset .. offset + len(counts) - 1``; see the module docstring."""

    __slots__ = ("collapsed", "counts", "offset", "total")
    EMPTY: ClassVar[Store]

    def __init__(self, offset: int, counts: npt.NDArray[np.int64], collapsed: bool) -> None:
        self.offset = offset
        self.counts = counts
        self.collapsed = collapsed
        self.total = int(counts.sum())

    @property
    def empty(self) -> bool:
        """No counts at all."""
        return self.counts.size == 0

    @property
    def hi(self) -> int:
        """Largest key with a count (only meaningful when not empty)."""
        return self.offset + self.counts.size - 1

    def __len__(self) -> int:
        return int(self.counts.size)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Store):
            return NotImplemented
        return (
            self.offset == other.offset
            and self.collapsed == other.collapsed
            and np.array_equal(self.counts, other.counts)
        )

    __hash__ = None  # type: ignore[assignment]

    def nonempty(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Keys and counts of the non-empty buckets, ascending."""
        idx = np.flatnonzero(self.counts)
        return idx.astype(np.int64) + self.offset, self.counts[idx]

    def add(self, lo: int, block: npt.NDArray[np.int64], cap: int, collapsed: bool) -> Store:
        """This store plus ``block`` (counts of keys ``lo, lo+1, ...``), collapsed to ``cap``."""
        if not self.empty and self.offset <= lo and lo + block.size <= self.offset + len(self):
            # Within the kept span (the steady state): top and floor are unchanged, so
            # this is the general case below without its allocations.
            out = self.counts.copy()
            out[lo - self.offset : lo - self.offset + block.size] += block
            return Store(self.offset, out, collapsed or self.collapsed)
        parts = [(lo, block)] if block.size else []
        if not self.empty:
            parts.append((self.offset, self.counts))
        if not parts:
            return self
        return _combine(parts, cap, collapsed or self.collapsed)

    def merge(self, other: Store, cap: int) -> Store:
        """Both stores' counts in one, collapsed to ``cap``."""
        return self.add(other.offset, other.counts, cap, other.collapsed)

    @staticmethod
    def merge_all(stores: Sequence[Store], cap: int) -> Store:
        """``stores[0].merge(stores[1]).merge(...)`` in one pass: the same store.

        The collapse only depends on the largest key (module docstring), so the
        floor is found once and every store is added to one array.
        """
        parts = [(s.offset, s.counts) for s in stores if not s.empty]
        if not parts:
            return stores[0]
        return _combine(parts, cap, any(s.collapsed for s in stores))

    def encode(self, w: Writer) -> None:
        """Span, offset, flags, then the counts dense or sparse, whichever is smaller.

        Dense: zigzag deltas of consecutive counts (neighbouring buckets hold similar
        counts). Sparse: key gaps and counts of the non-empty buckets. Small numbers
        pack two per byte (``Writer.uints``). The choice depends only on the counts, so
        equal stores still give equal bytes.
        """
        n = self.counts.size
        w.uvarint(n)
        if n == 0:
            return
        w.svarint(self.offset)
        c = codec()
        if c is not None:
            dense, sparse, m = c.store_layouts(np.ascontiguousarray(self.counts, dtype=np.int64))
        elif n <= _LIST_SPAN:
            dense, sparse, m = layouts_of_list(self.counts.tolist())
        else:
            dense, sparse, m = layouts_of_array(self.counts)
        is_sparse = len(sparse) + 2 < len(dense)
        w.u8(int(self.collapsed) | _SPARSE * is_sparse)
        if is_sparse:
            w.uvarint(m)
        w.raw(sparse if is_sparse else dense)

    @classmethod
    def decode(cls, r: Reader, cap: int, key_min: int, key_max: int) -> Store:
        """Read and validate a store written by :meth:`encode`."""
        n = r.uvarint()
        if n == 0:
            return cls.EMPTY
        offset, flags = r.svarint(), r.u8()
        if n > cap or flags > (1 | _SPARSE) or offset < key_min or offset + n - 1 > key_max:
            msg = f"invalid bucket store (span {n}, offset {offset}, flags {flags})"
            raise SketchDecodeError(msg)
        if flags & _SPARSE:
            m = r.uvarint()
            if not 2 <= m <= n:
                msg = f"invalid sparse bucket store ({m} buckets in a span of {n})"
                raise SketchDecodeError(msg)
            keys = np.concatenate(([0], np.cumsum(r.uints(m - 1) + 1)))
            nonzero = r.uints(m)
            if int(keys[-1]) != n - 1 or int(nonzero.min()) == 0:
                msg = "sparse bucket store does not fill its span"
                raise SketchDecodeError(msg)
            counts = np.zeros(n, dtype=np.int64)
            counts[keys] = nonzero
        else:
            z = r.uints(n)
            counts = np.cumsum((z >> 1) ^ -(z & 1))
        trimmed = counts[0] > 0 and counts[-1] > 0
        if not trimmed or int(counts.min()) < 0 or int(counts.max()) >= 1 << 53:
            msg = "bucket store is not trimmed or has impossible counts"
            raise SketchDecodeError(msg)
        return cls(offset, counts, bool(flags & 1))


Store.EMPTY = Store(0, np.zeros(0, dtype=np.int64), collapsed=False)


def _combine(parts: list[tuple[int, npt.NDArray[np.int64]]], cap: int, flag: bool) -> Store:
    """The store of every ``(offset, counts)`` part, collapsed to ``cap`` (parts not empty)."""
    top = max(o + c.size - 1 for o, c in parts)
    floor_key = top - cap + 1
    start = max(min(o for o, _ in parts), floor_key)
    out = np.zeros(top - start + 1, dtype=np.int64)
    for o, c in parts:
        if o < floor_key:
            # Keys below the floor: their mass moves to the floor bucket (c[0] > 0).
            cut = min(floor_key - o, c.size)
            out[0] += int(c[:cut].sum())
            c, o = c[cut:], floor_key
            flag = True
        out[o - start : o - start + c.size] += c
    return Store(start, out, flag)


def layouts_of_array(counts: npt.NDArray[np.int64]) -> tuple[bytes, bytes, int]:
    """:meth:`Store.encode`'s two layouts (dense, sparse) and the non-empty bucket count."""
    delta = np.diff(counts, prepend=0)
    dense = encode_uints((delta << 1) ^ (delta >> 63))
    nz = np.flatnonzero(counts)
    sparse = encode_uints(np.diff(nz) - 1) + encode_uints(counts[nz])
    return dense, sparse, int(nz.size)


def layouts_of_list(counts: list[int]) -> tuple[bytes, bytes, int]:
    """:func:`layouts_of_array` of a short store's counts as a list: the same bytes."""
    zigzag, prev = [], 0
    for c in counts:
        d = c - prev
        zigzag.append(d << 1 if d >= 0 else ((-d) << 1) - 1)
        prev = c
    keys = [i for i, c in enumerate(counts) if c]
    gaps = [b - a - 1 for a, b in zip(keys, keys[1:], strict=False)]
    sparse = encode_uint_list(gaps) + encode_uint_list([counts[i] for i in keys])
    return encode_uint_list(zigzag), sparse, len(keys)


def extreme_fits(
    v: float, far: Store, zeros: int, near: Store, key: Callable[[float], int]
) -> bool:
    """Whether the min ``v`` (or ``-max``, with the stores swapped) sits in its bucket.

    The min is the largest-magnitude negative value if there is one, else 0 if there are
    zeros, else the smallest positive value: in the lowest kept bucket, or below it when
    that store collapsed.
    """
    if not far.empty:
        return v < 0 and key(-v) == far.hi
    if zeros:
        return v == 0.0
    k = key(v) if v > 0 else None
    return k is not None and (k < near.offset if near.collapsed else k == near.offset)


def signed_keys(
    neg: Store, zeros: int, pos: Store
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Non-empty buckets of both stores and the zero bucket in value order: (keys, counts)."""
    nk, nc = neg.nonempty()
    pk, pc = pos.nonempty()
    zk = np.zeros(1 if zeros else 0, dtype=np.int64)
    zc = np.full(zk.size, zeros, dtype=np.int64)
    keys = np.concatenate((-(nk[::-1] + KEY_OFFSET), zk, pk + KEY_OFFSET))
    return keys, np.concatenate((nc[::-1], zc, pc))
