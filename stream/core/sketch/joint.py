r"""Joint sketch: exact pairwise co-moments of a model's numeric columns in one window.

For columns ``x_1..x_k`` and every pair ``(i, j)`` (``i = j`` included) it keeps, over
the rows where *both* are present and finite (nulls, NaN and ±inf are handled pairwise):

* ``n_ij`` — how many such rows; ``rows`` — every row seen;
* ``Σx_i``, ``Σx_i²`` over those rows and ``Σx_i·x_j`` — as exact Python integers in the
  units of :mod:`stream.core.sketch._moments` (``2^-1126`` for sums, ``2^-2252`` for
  products), so merges are plain integer additions: the same rows in any batches,
  partitions and merge order give equal sketches and identical bytes.

How a batch is summed exactly without a loop per value: every finite float64 is
``±M·2^(e+1073)`` units of ``2^-1126`` with ``M < 2^53`` (``frexp``). Column ``i``,
shifted down by its own offset ``off_i`` (the lowest mantissa bit of its smallest
magnitude), is an integer of a few signed 19-bit digits ``|d| < 2^19`` (value
``d·2^(19t + off_i)`` for digit ``t``; see :func:`_digit_matrix`). Put every column's
digits side by side in a matrix ``D`` (missing values are all-zero digits) and ``DᵀD``
holds ``Σ d·d'`` per digit pair: each term is below ``2^38`` and a chunk has at most
``2^15`` rows, so every float64 partial sum is an exact integer whatever the BLAS
summation order. The digit pairs of one column pair are added per ``t + t'`` in int64
and folded into the Python integer once (a shift by ``19(t+t') + off_i + off_j``).
The sums over "i present, j missing" rows (to get the pairwise ``Σx_i`` and
``Σx_i²``) are products with the missing-indicator matrix over the rows with a hole;
they are skipped when a batch has no missing value. Columns of extreme range (more
than 48 digits) take a per-value path on a global 18-bit grid instead.

Categorical indicators: after the numeric columns come optional columns
``feature=category``, 1.0 where the row's value is that category, 0.0 where it is
another and missing where it is null (:func:`indicator_values`). The categories are
part of the sketch's layout, fixed before any row (declared in the model's config), so
they are summed like any column and merges stay exact and byte-identical. Payload
layout 2 (a leading 0, then :data:`PAYLOAD_VERSION`) stores them; layout 1 (numeric
only, no marker) still loads.

Stored: the per-column totals, the products (upper triangle) and the pairwise
corrections only where they are non-zero, so a model without nulls costs
``k(k+1)/2`` products plus ``k`` sums (see docs/benchmarks.md for bytes per model-hour).

>>> x = np.array([[1.0, 2.0], [2.0, 4.5], [3.0, np.nan]])
>>> j = JointSketch.zero(("a", "b")).update(x)
>>> j.rows, j.pair_count(0, 1), j.pair_count(0, 0)
(3, 2, 3)
>>> [float(v) for v in j.pair_sums(0, 1)]  # Σa, Σa², Σb, Σb², Σab over rows with both
[3.0, 5.0, 6.5, 24.25, 11.0]
>>> a = JointSketch.zero(("a", "b")).update(x[:1])
>>> a.merge(JointSketch.zero(("a", "b")).update(x[1:])).to_bytes() == j.to_bytes()
True
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from fractions import Fraction
from typing import Any, ClassVar, NamedTuple, cast

import numpy as np
import numpy.typing as npt

from stream.core.sketch._moments import SQ_SHIFT, SUM_SHIFT
from stream.core.sketch._wire import TYPE_JOINT, Framed, Reader, Writer, encode_uints
from stream.errors import SketchDecodeError, SketchMismatchError

try:  # the exact co-moments of a complete batch in C (native/sketchscan.c)
    import stream.core.sketch._native as _native
except ImportError:  # pragma: no cover - only on machines that built without a C compiler
    _native = None  # type: ignore[assignment]

__all__ = [
    "MAX_JOINT_COLUMNS",
    "PAYLOAD_VERSION",
    "JointSketch",
    "indicator_name",
    "indicator_codes",
    "indicator_values",
]

MAX_JOINT_COLUMNS = 256
"""Hard bound on columns in one joint sketch (the per-model setting caps lower)."""
PAYLOAD_VERSION = 2
"""Joint payload layout written today: 2 adds indicator columns; 1 (numeric only) still loads."""
_DIGIT = 19  # dense path: bits per digit
_SPARSE_DIGIT = 18  # per-value path: bits per digit, on the global grid
_E_OFF = 1073  # frexp exponent e ≥ -1073: e + 1073 ≥ 0 units of 2^-1126 below the mantissa
_MAX_WIDTH = 48  # digits per column on the dense path: |scaled| < 2^(19·48) < float64 max
_CHUNK = 1 << 15  # rows per matmul: Σ of 2^15 products below 2^38 stays below 2^53
_MAX_BITS = 4400
_MAX_NAME = 512
_LOCAL = threading.local()
_USE_NATIVE = [_native is not None]


def use_native(on: bool) -> bool:
    """Switch the C path for complete batches on or off (tests, benchmarks).

    Returns the previous setting; switching on without the extension built leaves it off.
    """
    before = _USE_NATIVE[0]
    _USE_NATIVE[0] = on and _native is not None
    return before


def indicator_name(feature: str, category: str) -> str:
    """The column name of a category indicator, as hints show it: ``feature=category``."""
    return f"{feature}={category}"


def indicator_values(
    values: npt.NDArray[np.object_], nulls: npt.NDArray[np.bool_], category: str
) -> npt.NDArray[np.float64]:
    """1.0 where a categorical value is ``category``, 0.0 where it is another, NaN where null.

    A null row is missing for the indicator (pairwise, like a null number), not a zero.
    """
    out: npt.NDArray[np.float64] = np.equal(values, category).astype(np.float64)
    out[nulls] = np.nan
    return out


def indicator_codes(
    codes: npt.NDArray[np.int32], categories: npt.NDArray[np.object_], category: str
) -> npt.NDArray[np.float64]:
    """:func:`indicator_values` of a coded column (-1 = null; ``categories`` distinct)."""
    at = np.flatnonzero(np.equal(categories, category))
    out: npt.NDArray[np.float64] = (
        np.equal(codes, int(at[0])) if at.size else np.zeros(codes.size, dtype=np.bool_)
    ).astype(np.float64)
    out[codes < 0] = np.nan
    return out


class _Workspace:
    """This thread's reusable work arrays: fresh large temporaries cost page faults per call."""

    def __init__(self) -> None:
        self._bufs: dict[tuple[str, str], npt.NDArray[Any]] = {}

    def get(self, name: str, shape: tuple[int, ...], dtype: type = np.float64) -> npt.NDArray[Any]:
        """A C-contiguous array of ``shape`` (contents undefined), reusing the last one's memory."""
        size = int(np.prod(shape))
        key = (name, np.dtype(dtype).str)
        buf = self._bufs.get(key)
        if buf is None or buf.size < size:
            buf = self._bufs[key] = np.empty(max(size, 1), dtype=dtype)
        return buf[:size].reshape(shape)


def _workspace() -> _Workspace:
    ws: _Workspace | None = getattr(_LOCAL, "ws", None)
    if ws is None:
        ws = _LOCAL.ws = _Workspace()
    return ws


class _Digits(NamedTuple):
    """Signed digits of a batch, input columns' digits side by side in ``d`` (rows × W).

    Column ``c`` of ``d`` holds digits of input column ``group[c]`` worth
    ``2^(bits·place[c] + off[group[c]])`` units of ``2^-1126`` each. ``width > 0``: the
    dense layout, digit-major (``c = t·k + i``, ``place[c] = t``) with ``width`` digits
    for every column.
    """

    d: npt.NDArray[np.float64]
    group: npt.NDArray[np.int64]
    place: npt.NDArray[np.int64]
    off: npt.NDArray[np.int64]
    bits: int
    width: int


def _digit_matrix(xz: npt.NDArray[np.float64], ws: _Workspace) -> _Digits:
    """Signed ``_DIGIT``-bit digits of every value, each column on its own bit offset.

    Non-finite values must already be zero (they get zero digits). ``d`` lives in ``ws``:
    it is valid until the next call.

    ``x · 2^1126 = ±M · 2^g`` with ``M < 2^53`` and ``g = e + 1073 ≥ 0`` (``frexp``).
    Column ``i`` is scaled by ``2^-off_i`` with ``off_i`` the smallest ``g`` of its
    non-zero values, so every value becomes an integer below ``2^L_i`` in magnitude
    (``L_i`` = the column's exponent span + 53 bits, 54 when its magnitudes are within
    a factor 2) whose signed digits are cut off by exact ``trunc``/subtract steps
    (dense, no scatter): three 19-bit digits cover a column whose magnitudes span up
    to 16x. A column needing more than ``_MAX_WIDTH`` digits (≈ 10^270 between its
    smallest and largest magnitude, so scaled values would overflow) sends the batch
    to the per-value path instead.
    """
    rows, k = xz.shape
    a = ws.get("abs", (rows, k))
    np.abs(xz, out=a)
    amax = a.max(axis=0)
    np.copyto(a, np.inf, where=a == 0.0)
    amin = a.min(axis=0)
    live = amax > 0.0
    e_lo = np.frexp(np.where(live, amin, 1.0))[1].astype(np.int64)
    e_hi = np.frexp(np.where(live, amax, 1.0))[1].astype(np.int64)
    off = np.where(live, e_lo + _E_OFF, 0)
    span = np.where(live, e_hi - e_lo + 53, 1)
    wmax = int(((span + _DIGIT - 1) // _DIGIT).max())
    if wmax > _MAX_WIDTH:
        return _digit_matrix_sparse(xz)
    v = ws.get("v", (rows, k))
    np.ldexp(xz, (SUM_SHIFT - off)[None, :].astype(np.int32), out=v)
    out = ws.get("digits", (rows, wmax, k))  # d's columns digit-major: c = t·k + i
    tmp = ws.get("tmp", (rows, k))
    for t in range(wmax - 1, 0, -1):
        unit = 2.0 ** (_DIGIT * t)
        np.multiply(v, 1.0 / unit, out=tmp)
        np.trunc(tmp, out=tmp)  # signed digits: toward zero keeps v's sign
        out[:, t, :] = tmp
        np.multiply(tmp, unit, out=tmp)
        np.subtract(v, tmp, out=v)  # exact: an integer below 2^(19t) in magnitude
    out[:, 0, :] = v
    group = np.tile(np.arange(k), wmax)
    index = np.repeat(np.arange(wmax), k)
    return _Digits(out.reshape(rows, wmax * k), group, index, off, _DIGIT, wmax)


def _digit_matrix_sparse(xz: npt.NDArray[np.float64]) -> _Digits:
    """:func:`_digit_matrix` for columns of extreme range: 4 digits per value, scattered.

    Digits of ``_SPARSE_DIGIT`` bits on the global grid (offsets 0, ``place`` = slot).
    """
    rows, k = xz.shape
    m, e = np.frexp(xz)
    nz = m != 0.0
    # g = e + 1073 ≥ 0: x · 2^1126 = ±M · 2^g with M = |m|·2^53 an integer below 2^53.
    # Float arithmetic on small integers and powers of two is exact, and faster here
    # than int64 modulo and per-element uint64 shifts.
    g = e.astype(np.float64) + _E_OFF
    base_f = np.floor(g * (1.0 / _SPARSE_DIGIT))
    r = g - _SPARSE_DIGIT * base_f  # 0..17 (exact: g < 2^12)
    y = np.ldexp(np.abs(m), (53.0 + r).astype(np.int32))  # M·2^r < 2^71, exact
    digits = np.empty((rows, k, 4))
    for t in (3, 2, 1):
        unit = 2.0 ** (_SPARSE_DIGIT * t)
        d = np.floor(y * (1.0 / unit))
        digits[:, :, t] = d
        y -= d * unit  # exact: the remainder below 2^(18t) keeps M's low bits
    digits[:, :, 0] = y
    digits *= np.where(m < 0.0, -1.0, 1.0)[:, :, None]
    base = base_f.astype(np.int64)
    lo = np.where(nz, base, np.iinfo(np.int64).max).min(axis=0)
    lo = np.where(nz.any(axis=0), lo, 0)
    hi = np.where(nz, base, -1).max(axis=0)
    width = np.maximum(hi - lo, 0) + 4
    offs = np.concatenate(([0], np.cumsum(width)))
    pos = offs[:-1][None, :] + np.where(nz, base - lo[None, :], 0)
    cols = pos[:, :, None] + np.arange(4)[None, None, :]
    out = np.zeros((rows, int(offs[-1])))
    # Within a row each input column writes 4 distinct slots of its own block: no clashes.
    out[np.arange(rows)[:, None, None], cols] = digits
    group = np.repeat(np.arange(k), width)
    slot = np.arange(int(offs[-1])) - np.repeat(offs[:-1], width) + np.repeat(lo, width)
    return _Digits(out, group, slot, np.zeros(k, dtype=np.int64), _SPARSE_DIGIT, 0)


def _fold_grid(
    m: npt.NDArray[np.float64],
    ga: npt.NDArray[np.int64],
    sa: npt.NDArray[np.int64],
    gb: npt.NDArray[np.int64],
    sb: npt.NDArray[np.int64],
    shape: tuple[int, int],
    bits: int,
    offa: npt.NDArray[np.int64],
    offb: npt.NDArray[np.int64],
) -> dict[tuple[int, int], int]:
    """Σ m[a, b] · 2^(bits(sa[a] + sb[b]) + offa[ga[a]] + offb[gb[b]]) per (ga[a], gb[b]).

    As exact ints (non-zero ones). ``m`` holds exact integers below 2^53; per bin at
    most ~120 of them are added in int64 (below 2^60), then each bin is shifted into a
    Python int once.
    """
    ints = m.astype(np.int64)
    s = sa[:, None] + sb[None, :]
    smin = int(s.min())
    acc = np.zeros((*shape, int(s.max()) - smin + 1), dtype=np.int64)
    np.add.at(acc, (ga[:, None], gb[None, :], s - smin), ints)
    out: dict[tuple[int, int], int] = {}
    i_idx, j_idx, s_idx = np.nonzero(acc)
    vals = acc[i_idx, j_idx, s_idx].tolist()
    oa, ob = offa.tolist(), offb.tolist()
    for i, j, sh, v in zip(i_idx.tolist(), j_idx.tolist(), s_idx.tolist(), vals, strict=True):
        key = (i, j)
        out[key] = out.get(key, 0) + (v << (bits * (sh + smin) + oa[i] + ob[j]))
    return out


def _horner(acc: npt.NDArray[np.int64], bits: int, shift: npt.NDArray[np.int64]) -> list[int]:
    """``Σ_s acc[s, p] · 2^(bits·s + shift[p])`` per p, as Python ints (object arithmetic)."""
    total: npt.NDArray[Any] = acc[-1].astype(object)
    for s in range(acc.shape[0] - 2, -1, -1):
        total = (total << bits) + acc[s].astype(object)
    out: list[int] = (total << shift.astype(object)).tolist()
    return out


def _dense_sums(dg: _Digits, rows: int) -> tuple[list[int], list[int]]:
    """Per-column ``Σx`` and upper-triangle ``Σx_i·x_j`` of a dense digit matrix, exact.

    One ``DᵀD`` (every partial sum an exact integer below 2^53, whatever BLAS does);
    the digit pairs of one column pair are summed per digit-index sum ``t + t'`` in
    int64 (at most ``_MAX_WIDTH`` terms below 2^53 each), then folded once per pair.
    """
    w, k, b = dg.width, dg.off.size, dg.bits
    sd = (np.ones(rows) @ dg.d).astype(np.int64).reshape(w, k)
    m4 = (dg.d.T @ dg.d).astype(np.int64).reshape(w, k, w, k)
    acc = np.zeros((2 * w - 1, k, k), dtype=np.int64)
    for t in range(w):
        acc[t : t + w] += m4[t].transpose(1, 0, 2)
    iu = np.triu_indices(k)
    sums = _horner(sd, b, dg.off)
    prods = _horner(acc[:, iu[0], iu[1]], b, dg.off[iu[0]] + dg.off[iu[1]])
    return sums, prods


def _dense_missing(
    dg: _Digits, q: npt.NDArray[np.float64], ws: _Workspace
) -> tuple[list[int], list[int]]:
    """``Σx_i`` and ``Σx_i²`` over the rows where hole ``h`` is missing, flat ``i·H + h``.

    ``q`` is rows × H (1 where the hole's column is missing). Sums: one ``Dᵀq``. Squares:
    per column and digit-index sum ``s``, ``y_s = Σ_{t+u=s} d_t·d_u`` (at most ``w``
    terms below 2^38, so below 2^44 with ``w ≤ 48``: exact), then ``Y_sᵀq`` over row
    blocks of ``2^15 // w`` rows so every partial sum stays below 2^53. Only rows with
    a hole count, so they alone are multiplied when they are at most 3/4 of the batch.
    """
    w, k, b = dg.width, dg.off.size, dg.bits
    some = q.any(axis=1)
    d, qq = (dg.d, q) if some.mean() > 0.75 else (dg.d[some], q[some])  # rows with a hole
    rows, h = qq.shape
    m1 = (d.T @ qq).astype(np.int64).reshape(w, k * h)
    r1 = _horner(m1, b, np.repeat(dg.off, h))
    dt = ws.get("by_digit", (w, rows, k))
    np.copyto(dt, d.reshape(rows, w, k).transpose(1, 0, 2))
    y = ws.get("squares", (2 * w - 1, rows, k))
    y.fill(0.0)
    tmp = ws.get("tmp", (rows, k))
    for t in range(w):
        np.multiply(dt[t], dt[t], out=tmp)
        y[2 * t] += tmp
        for u in range(t + 1, w):
            np.multiply(dt[t], dt[u], out=tmp)
            y[t + u] += tmp
            y[t + u] += tmp
    step = max(1, _CHUNK // w)
    m2 = np.zeros((2 * w - 1, k, h), dtype=np.int64)
    for sl in range(2 * w - 1):
        for start in range(0, rows, step):
            part = y[sl, start : start + step].T @ qq[start : start + step]
            m2[sl] += part.astype(np.int64)
    r2 = _horner(m2.reshape(2 * w - 1, k * h), b, np.repeat(2 * dg.off, h))
    return r1, r2


class JointSketch(Framed):
    """Exact pairwise co-moments of ``columns`` in one window (see the module docstring).

    Create with :meth:`zero`; ``update`` mutates in place, ``merge`` returns a new sketch.

    Args:
        columns: the columns in the sketch, in a fixed order.
        excluded: columns of the model left out (over the cap), named so reports can say so.
    """

    SKETCH_TYPE: ClassVar[int] = TYPE_JOINT
    __slots__ = (
        "_columns",
        "_excluded",
        "_indicators",
        "_n",
        "_numeric",
        "_prod",
        "_r1",
        "_r2",
        "_rows",
        "_s1",
    )
    __hash__ = None  # type: ignore[assignment]  # mutable

    def __init__(
        self,
        columns: tuple[str, ...],
        excluded: tuple[str, ...] = (),
        indicators: tuple[tuple[str, str], ...] = (),
    ) -> None:
        num, exc, ind = tuple(columns), tuple(excluded), tuple(map(tuple, indicators))
        if not all(len(p) == 2 and all(isinstance(v, str) for v in p) for p in ind):
            msg = "joint indicators must be (feature, category) pairs of strings"
            raise ValueError(msg)
        cols = num + tuple(indicator_name(f, c) for f, c in ind)
        if not 1 <= len(cols) <= MAX_JOINT_COLUMNS:
            msg = f"a joint sketch needs 1..{MAX_JOINT_COLUMNS} columns, got {len(cols)}"
            raise ValueError(msg)
        names = cols + exc
        if len(set(names)) != len(names) or not all(isinstance(c, str) for c in names):
            msg = "joint sketch columns must be distinct strings (columns, indicators, excluded)"
            raise ValueError(msg)
        k = len(cols)
        self._numeric, self._indicators = num, cast("tuple[tuple[str, str], ...]", ind)
        self._columns, self._excluded = cols, exc
        self._rows = 0
        self._n = np.zeros((k, k), dtype=np.int64)
        self._s1 = [0] * k
        self._prod = [0] * (k * (k + 1) // 2)  # upper triangle, row-major, diagonal = Σx²
        self._r1: dict[tuple[int, int], int] = {}  # Σx_i over rows with i present, j missing
        self._r2: dict[tuple[int, int], int] = {}  # Σx_i² over the same rows

    @classmethod
    def zero(
        cls,
        columns: tuple[str, ...],
        excluded: tuple[str, ...] = (),
        indicators: tuple[tuple[str, str], ...] = (),
    ) -> JointSketch:
        """The empty sketch over ``columns``, then ``indicators``: the merge identity."""
        return cls(columns, excluded, indicators)

    # -- read ---------------------------------------------------------------------------

    @property
    def columns(self) -> tuple[str, ...]:
        """Columns in the sketch, in order: the numeric ones, then ``feature=category``."""
        return self._columns

    @property
    def numeric(self) -> tuple[str, ...]:
        """The numeric columns (the first ones)."""
        return self._numeric

    @property
    def indicators(self) -> tuple[tuple[str, str], ...]:
        """``(feature, category)`` of each indicator column (the last ones), in order."""
        return self._indicators

    @property
    def layout(self) -> tuple[tuple[str, ...], tuple[str, ...], tuple[tuple[str, str], ...]]:
        """(numeric columns, excluded, indicators): equal layouts merge."""
        return self._numeric, self._excluded, self._indicators

    @property
    def excluded(self) -> tuple[str, ...]:
        """Columns of the model not in the sketch (over the column cap)."""
        return self._excluded

    @property
    def rows(self) -> int:
        """Rows seen (whatever their missing values)."""
        return self._rows

    def _tri(self, i: int, j: int) -> int:
        if i > j:
            i, j = j, i
        k = len(self._columns)
        return i * k - i * (i - 1) // 2 + (j - i)

    def pair_count(self, i: int, j: int) -> int:
        """Rows where columns ``i`` and ``j`` are both present and finite."""
        return int(self._n[i, j])

    def missing(self, i: int) -> int:
        """Rows where column ``i`` is null, NaN or infinite."""
        return self._rows - int(self._n[i, i])

    def exact_pair_sums(self, i: int, j: int) -> tuple[int, int, int, int, int]:
        """``(Σx_i, Σx_i², Σx_j, Σx_j², Σx_i·x_j)`` over rows with both, as scaled ints.

        Sums are in units of ``2^-1126``, squares and products of ``2^-2252``.
        """
        sx = self._s1[i] - self._r1.get((i, j), 0)
        sy = self._s1[j] - self._r1.get((j, i), 0)
        sxx = self._prod[self._tri(i, i)] - self._r2.get((i, j), 0)
        syy = self._prod[self._tri(j, j)] - self._r2.get((j, i), 0)
        return sx, sxx, sy, syy, self._prod[self._tri(i, j)]

    def pair_sums(self, i: int, j: int) -> tuple[Fraction, ...]:
        """:meth:`exact_pair_sums` as exact fractions."""
        sx, sxx, sy, syy, sxy = self.exact_pair_sums(i, j)
        one, two = 1 << SUM_SHIFT, 1 << SQ_SHIFT
        return (
            Fraction(sx, one),
            Fraction(sxx, two),
            Fraction(sy, one),
            Fraction(syy, two),
            Fraction(sxy, two),
        )

    def pair_moments(self, i: int, j: int) -> tuple[int, float, float, float, float, float]:
        """``(n, mean_i, mean_j, var_i, var_j, cov)`` over rows with both (population)."""
        n = self.pair_count(i, j)
        if n == 0:
            return 0, math.nan, math.nan, math.nan, math.nan, math.nan
        sx, sxx, sy, syy, sxy = self.exact_pair_sums(i, j)
        den1, den2 = n << SUM_SHIFT, (n * n) << SQ_SHIFT
        try:
            return (
                n,
                sx / den1,
                sy / den1,
                (n * sxx - sx * sx) / den2,
                (n * syy - sy * sy) / den2,
                (n * sxy - sx * sy) / den2,
            )
        except OverflowError:
            return n, sx / den1, sy / den1, math.inf, math.inf, math.nan

    def correlation(self, i: int, j: int) -> float:
        """Pearson correlation over rows with both present; nan if n < 2 or a variance is 0."""
        n = self.pair_count(i, j)
        if n < 2:
            return math.nan
        sx, sxx, sy, syy, sxy = self.exact_pair_sums(i, j)
        vx, vy, c = n * sxx - sx * sx, n * syy - sy * sy, n * sxy - sx * sy
        if vx <= 0 or vy <= 0:
            return math.nan
        # ρ = c / sqrt(vx·vy): an integer square root with ≥ 120 bits kept, rounded once.
        prod = vx * vy
        k = max(0, (2 * c.bit_length() + 240 - prod.bit_length()) // 2)
        root = math.isqrt(prod << (2 * k))
        return max(-1.0, min(1.0, (c << k) / root if root else math.nan))

    def mean_cov(
        self,
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.int64]]:
        """Per-column means, the pairwise-complete covariance matrix and pair counts."""
        k = len(self._columns)
        mean = np.full(k, np.nan)
        cov = np.full((k, k), np.nan)
        for i in range(k):
            for j in range(i, k):
                n, mi, mj, vi, vj, c = self.pair_moments(i, j)
                if i == j:
                    mean[i] = mi
                    cov[i, i] = vi
                else:
                    cov[i, j] = cov[j, i] = c
        return mean, cov, self._n.copy()

    # -- update and merge ------------------------------------------------------------------

    def update(self, values: npt.ArrayLike) -> JointSketch:
        """Add rows (``rows × len(columns)``; NaN, ±inf and None are missing). Returns self.

        ``self`` is left unchanged if the update fails.
        """
        x = np.asarray(values, dtype=np.float64)
        k = len(self._columns)
        if x.ndim != 2 or x.shape[1] != k:
            msg = f"joint update needs a rows × {k} array, got shape {x.shape}"
            raise ValueError(msg)
        return self.update_columns([x[:, j] for j in range(k)], x.shape[0])

    def update_columns(
        self, columns: Sequence[npt.NDArray[np.float64] | None], rows: int
    ) -> JointSketch:
        """:meth:`update` from one array of ``rows`` values per column (None: all missing).

        Saves the caller a rows × columns copy (ingest hands its parsed columns over).
        """
        if len(columns) != len(self._columns):
            msg = f"joint update needs {len(self._columns)} columns, got {len(columns)}"
            raise ValueError(msg)
        if any(c is not None and c.shape != (rows,) for c in columns):
            msg = f"joint update columns must each hold {rows} values"
            raise ValueError(msg)
        ws = _workspace()
        work = JointSketch(self._numeric, self._excluded, self._indicators)
        self._copy_into(work)
        for start in range(0, rows, _CHUNK):
            stop = min(rows, start + _CHUNK)
            x = ws.get("x", (stop - start, len(columns)))
            for j, col in enumerate(columns):
                x[:, j] = np.nan if col is None else col[start:stop]
            work._absorb(x, ws)
        work._copy_into(self)
        return self

    def _absorb(self, x: npt.NDArray[np.float64], ws: _Workspace) -> None:
        """Fold rows of ``x`` (a workspace array, overwritten: missing values become 0)."""
        k, rows = len(self._columns), x.shape[0]
        if rows == 0:
            return
        present = np.isfinite(x)
        self._rows += rows
        complete = bool(present.all())
        if complete:
            self._n += rows
            if _USE_NATIVE[0]:
                assert _native is not None  # noqa: S101 - _USE_NATIVE says so
                # The same exact integers as the digit path below, summed per value
                # pair in 128-bit bins (None: exponent spans too wide, use numpy).
                got = _native.comoments(x, k)
                if got is not None:
                    sums, prods = got
                    self._s1 = [a + v for a, v in zip(self._s1, sums, strict=True)]
                    self._prod = [a + v for a, v in zip(self._prod, prods, strict=True)]
                    return
        else:
            p = ws.get("present", (rows, k))
            np.copyto(p, present)
            self._n += (p.T @ p).astype(np.int64)
            np.copyto(x, 0.0, where=~present)
        dg = _digit_matrix(x, ws)
        dmat, grp, idx, b = dg.d, dg.group, dg.place, dg.bits
        if dg.width:
            sums, prods = _dense_sums(dg, rows)
            self._s1 = [a + v for a, v in zip(self._s1, sums, strict=True)]
            self._prod = [a + v for a, v in zip(self._prod, prods, strict=True)]
        else:
            zero, none = np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.int64)
            for (i, _), v in _fold_grid(
                dmat.sum(axis=0, keepdims=True).T, grp, idx, zero, zero, (k, 1), b, dg.off, none
            ).items():
                self._s1[i] += v
            for (i, j), v in _fold_grid(
                dmat.T @ dmat, grp, idx, grp, idx, (k, k), b, dg.off, dg.off
            ).items():
                if i <= j:
                    self._prod[self._tri(i, j)] += v
        if complete:
            return
        missing = ~present
        holes = np.flatnonzero(missing.any(axis=0))
        q = missing[:, holes].astype(np.float64)
        if dg.width:
            r1s, r2s = _dense_missing(dg, q, ws)
            for pos, (v1, v2) in enumerate(zip(r1s, r2s, strict=True)):
                i, j = divmod(pos, holes.size)
                col = int(holes[j])
                if col != i:
                    if v1:
                        _add(self._r1, (i, col), v1)
                    if v2:
                        _add(self._r2, (i, col), v2)
            return
        hidx = np.arange(holes.size)
        hs = np.zeros(holes.size, dtype=np.int64)
        # Σ x_i (and x_i²) over rows where column holes[h] is missing and i is present.
        r1 = _fold_grid(dmat.T @ q, grp, idx, hidx, hs, (k, holes.size), b, dg.off, hs)
        for (i, h), v in r1.items():
            if holes[h] != i:
                _add(self._r1, (i, int(holes[h])), v)
        for i in range(k):
            cols = np.flatnonzero(grp == i)
            di = dmat[:, cols]
            w = cols.size
            sq = (di[:, :, None] * di[:, None, :]).reshape(rows, w * w)
            sl = (idx[cols][:, None] + idx[cols][None, :]).reshape(-1)
            r2 = _fold_grid(
                sq.T @ q,
                np.zeros(w * w, dtype=np.int64),
                sl,
                hidx,
                hs,
                (1, holes.size),
                b,
                2 * dg.off[i : i + 1],
                hs,
            )
            for (_, h), v in r2.items():
                if holes[h] != i:
                    _add(self._r2, (i, int(holes[h])), v)

    def check_compatible(self, other: object) -> None:
        """Raise unless ``other`` is a JointSketch over the same columns.

        Raises:
            SketchMismatchError: if the columns or the excluded columns differ.
        """
        other = self.same_kind(other)
        if self.layout != other.layout:
            msg = (
                f"joint sketch columns differ: {list(self._columns)} vs {list(other.columns)}"
                f" (excluded {list(self._excluded)} vs {list(other.excluded)})"
            )
            raise SketchMismatchError(msg)

    def merge(self, other: JointSketch) -> JointSketch:
        """A new sketch of both inputs' rows; exact, commutative and associative.

        Raises:
            SketchMismatchError: if the columns differ.
        """
        self.check_compatible(other)
        out = JointSketch(self._numeric, self._excluded, self._indicators)
        self._copy_into(out)
        out._rows += other._rows
        out._n += other._n
        out._s1 = [a + b for a, b in zip(out._s1, other._s1, strict=True)]
        out._prod = [a + b for a, b in zip(out._prod, other._prod, strict=True)]
        for key, v in other._r1.items():
            _add(out._r1, key, v)
        for key, v in other._r2.items():
            _add(out._r2, key, v)
        return out

    def without_indicators(self) -> JointSketch:
        """The same rows' co-moments of the numeric columns alone (exact: a sub-sketch).

        What a window is compared on when its reference has no indicator columns.
        """
        k = len(self._numeric)
        out = JointSketch(self._numeric, self._excluded)
        out._rows = self._rows
        out._n = self._n[:k, :k].copy()
        out._s1 = self._s1[:k]
        out._prod = [self._prod[self._tri(i, j)] for i in range(k) for j in range(i, k)]
        out._r1 = {(i, j): v for (i, j), v in self._r1.items() if i < k and j < k}
        out._r2 = {(i, j): v for (i, j), v in self._r2.items() if i < k and j < k}
        return out

    def copy(self) -> JointSketch:
        """An independent copy."""
        out = JointSketch(self._numeric, self._excluded, self._indicators)
        self._copy_into(out)
        return out

    def _copy_into(self, out: JointSketch) -> None:
        out._rows = self._rows
        out._n = self._n.copy()
        out._s1 = list(self._s1)
        out._prod = list(self._prod)
        out._r1 = dict(self._r1)
        out._r2 = dict(self._r2)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, JointSketch):
            return NotImplemented
        return self.to_bytes() == other.to_bytes()

    def __repr__(self) -> str:
        return f"JointSketch(columns={len(self._columns)}, rows={self._rows})"

    # -- bytes ----------------------------------------------------------------------------

    def write_payload(self, w: Writer) -> None:
        """Codec hook: names, rows, rows-minus-pair-counts, sums, products, corrections."""
        k = len(self._columns)
        w.uvarint(0)  # layout marker: a v1 payload starts with its column count (≥ 1)
        w.uvarint(PAYLOAD_VERSION)
        w.uvarint(len(self._numeric))
        w.uvarint(len(self._indicators))
        w.uvarint(len(self._excluded))
        names = self._numeric + self._excluded + tuple(v for p in self._indicators for v in p)
        for name in names:
            raw = name.encode("utf-8", "surrogatepass")
            w.uvarint(len(raw))
            w.raw(raw)
        w.uvarint(self._rows)
        iu = np.triu_indices(k)
        w.raw(encode_uints(self._rows - self._n[iu]))
        for v in self._s1:
            w.bigint(v)
        for v in self._prod:
            w.bigint(v)
        for table in (self._r1, self._r2):
            live = sorted((key, v) for key, v in table.items() if v)
            w.uvarint(len(live))
            for (i, j), v in live:
                w.uvarint(i * k + j)
                w.bigint(v)

    @classmethod
    def read_payload(cls, r: Reader, version: int) -> JointSketch:
        """Codec hook: read and validate a payload written by :meth:`write_payload`."""
        del version  # the frame's; the joint layout has its own (PAYLOAD_VERSION)
        k_num, n_ind = r.uvarint(16), 0
        if k_num == 0:  # v2 and later: marker, layout version, numeric and indicator counts
            layout = r.uvarint(8)
            if layout != PAYLOAD_VERSION:
                msg = f"unsupported joint payload version {layout} (this reader knows 1..2)"
                raise SketchDecodeError(msg)
            k_num, n_ind = r.uvarint(16), r.uvarint(16)
        n_exc = r.uvarint(16)
        k = k_num + n_ind
        if not 1 <= k <= MAX_JOINT_COLUMNS or n_exc > 1 << 14:
            msg = f"invalid joint sketch column count {k} (+{n_exc} excluded)"
            raise SketchDecodeError(msg)
        names = []
        for _ in range(k_num + n_exc + 2 * n_ind):
            size = r.uvarint(16)
            if size > _MAX_NAME:
                msg = f"column name longer than {_MAX_NAME} bytes"
                raise SketchDecodeError(msg)
            names.append(r.raw(size).decode("utf-8", "surrogatepass"))
        pairs = names[k_num + n_exc :]
        ind = tuple(zip(pairs[::2], pairs[1::2], strict=True))
        try:
            s = cls(tuple(names[:k_num]), tuple(names[k_num : k_num + n_exc]), ind)
        except ValueError as e:
            raise SketchDecodeError(str(e)) from None
        s._rows = r.uvarint()
        iu = np.triu_indices(k)
        gaps = r.uints(len(iu[0]))
        if int(gaps.max()) > s._rows:
            msg = "pair count above the row count"
            raise SketchDecodeError(msg)
        s._n[iu] = s._rows - gaps
        s._n[(iu[1], iu[0])] = s._rows - gaps
        s._s1 = [r.bigint(_MAX_BITS) for _ in range(k)]
        s._prod = [r.bigint(2 * _MAX_BITS) for _ in range(len(s._prod))]
        for table in (s._r1, s._r2):
            count = r.uvarint(32)
            if count > k * k:
                msg = "too many pairwise corrections"
                raise SketchDecodeError(msg)
            last = -1
            for _ in range(count):
                pos = r.uvarint(32)
                i, j = divmod(pos, k)
                if pos <= last or i >= k or i == j:
                    msg = "pairwise corrections out of order or out of range"
                    raise SketchDecodeError(msg)
                last = pos
                v = r.bigint(2 * _MAX_BITS)
                if v == 0:
                    msg = "zero pairwise correction stored"
                    raise SketchDecodeError(msg)
                table[(i, j)] = v
        s._validate()
        return s

    def _validate(self) -> None:
        n = self._n
        ok = bool((np.diag(n)[:, None] >= n).all() and (n >= 0).all())
        for i in range(len(self._columns)):
            if n[i, i] == 0 and (self._s1[i] or self._prod[self._tri(i, i)]):
                ok = False
        if not ok:
            msg = "inconsistent joint sketch (pair counts and sums disagree)"
            raise SketchDecodeError(msg)


def _add(table: dict[tuple[int, int], int], key: tuple[int, int], v: int) -> None:
    total = table.get(key, 0) + v
    if total:
        table[key] = total
    else:
        table.pop(key, None)
