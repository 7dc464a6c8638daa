"""Divergences between two count vectors over the same cells (categories or bins).

Shares are counts over their total; an all-zero side gives nan, never an
exception. Logs are natural except the Jensen–Shannon distance, which uses base
2 so that it lies in [0, 1]. PSI smooths empty cells by adding :data:`PSI_EPS`
to every share and renormalising, so an empty cell costs about
share·ln(share/1e-4) instead of infinity.

>>> round(psi_counts([60, 40], [40, 60]), 3), js_counts([1, 0], [0, 1])
(0.162, 1.0)
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from stream.core.measures.tails import chi2_sf

__all__ = [
    "PSI_EPS",
    "ChiSquare",
    "chi_square_counts",
    "hellinger_counts",
    "js_counts",
    "js_rows",
    "linf_counts",
    "psi_counts",
]

FloatArray = npt.NDArray[np.float64]
PSI_EPS = 1e-4
"""Added to every share before PSI (then renormalised) so empty cells stay finite."""


def _shares(c: npt.ArrayLike) -> FloatArray:
    a = np.asarray(c, dtype=np.float64)
    return np.asarray(a / a.sum(), dtype=np.float64)


def _empty(r: npt.ArrayLike, w: npt.ArrayLike) -> bool:
    return bool(np.sum(r) <= 0 or np.sum(w) <= 0)


def psi_counts(r: npt.ArrayLike, w: npt.ArrayLike, eps: float = PSI_EPS) -> float:
    """Population stability index, Σ(w−r)·ln(w/r) over shares; 0 = identical, ≥ 0.25 = major.

    >>> psi_counts([50, 50], [50, 50]), round(psi_counts([60, 40], [40, 60]), 4)
    (0.0, 0.1621)
    """
    if _empty(r, w):
        return math.nan
    p, q = _shares(r), _shares(w)
    p, q = (p + eps) / (1 + eps * p.size), (q + eps) / (1 + eps * q.size)
    return float(np.sum((q - p) * np.log(q / p)))


def js_counts(r: npt.ArrayLike, w: npt.ArrayLike) -> float:
    """Jensen–Shannon distance, √(½KL(p‖m) + ½KL(q‖m)) in bits; in [0, 1], 1 = disjoint.

    >>> js_counts([1, 0], [0, 1]), js_counts([3, 1], [6, 2])
    (1.0, 0.0)
    """
    if _empty(r, w):
        return math.nan
    p, q = _shares(r), _shares(w)
    m = 0.5 * (p + q)
    with np.errstate(divide="ignore", invalid="ignore"):
        # 0·log 0 = 0: cells empty on one side contribute only through the other.
        kp = np.where(p > 0, p * np.log2(p / m), 0.0)
        kq = np.where(q > 0, q * np.log2(q / m), 0.0)
    jsd = 0.5 * float(kp.sum() + kq.sum())
    return math.sqrt(min(1.0, max(0.0, jsd)))


def js_rows(r: FloatArray, w: FloatArray) -> FloatArray:
    """:func:`js_counts` of each row of two (pairs, cells) count arrays (nan for an empty row).

    Cells empty on both sides add exactly 0, so rows padded with such cells keep their
    values (up to summation order).
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        ps = r / r.sum(axis=1, keepdims=True)
        qs = w / w.sum(axis=1, keepdims=True)
        m = 0.5 * (ps + qs)
        kp = np.where(ps > 0, ps * np.log2(ps / m), 0.0)
        kq = np.where(qs > 0, qs * np.log2(qs / m), 0.0)
    jsd = 0.5 * (kp.sum(axis=1) + kq.sum(axis=1))
    return np.asarray(np.sqrt(np.minimum(1.0, np.maximum(0.0, jsd))), dtype=np.float64)


def hellinger_counts(r: npt.ArrayLike, w: npt.ArrayLike) -> float:
    """Hellinger distance, √(1 − Σ√(p·q)); in [0, 1], 1 = disjoint supports.

    >>> hellinger_counts([1, 0], [0, 1]), hellinger_counts([2, 2], [1, 1])
    (1.0, 0.0)
    """
    if _empty(r, w):
        return math.nan
    # ½Σ(√p − √q)² equals 1 − Σ√(pq) but does not cancel catastrophically near 0.
    d = np.sqrt(_shares(r)) - np.sqrt(_shares(w))
    return min(1.0, math.sqrt(0.5 * float(np.sum(d * d))))


def linf_counts(r: npt.ArrayLike, w: npt.ArrayLike) -> tuple[float, int]:
    """L-infinity distance (TFDV), max |q_i − p_i| over shares, and its argmax; in [0, 1].

    >>> v, i = linf_counts([60, 30, 10], [45, 40, 15])
    >>> round(v, 3), i
    (0.15, 0)
    """
    if _empty(r, w):
        return math.nan, -1
    d = np.abs(_shares(w) - _shares(r))
    i = int(np.argmax(d))
    return float(d[i]), i


class ChiSquare(NamedTuple):
    """Pearson chi-square of the 2×K table (reference row, window row)."""

    statistic: float
    p_value: float
    dof: int
    cramers_v: float


def chi_square_counts(r: npt.ArrayLike, w: npt.ArrayLike, *, yates: bool = True) -> ChiSquare:
    """Pearson χ² = Σ(O−E)²/E of the 2×K table with Cramér's V = √(χ²/N); V in [0, 1].

    Categories empty on both sides are dropped. With ``yates`` the 2×2 case
    (dof 1) shrinks each |O−E| by ½ (not below 0), as scipy's
    ``chi2_contingency(correction=True)`` does.

    >>> c = chi_square_counts([30_299, 35_252], [3_187, 3_516])
    >>> round(c.statistic, 2), round(c.p_value, 4), c.dof
    (4.23, 0.0396, 1)
    """
    table = np.vstack([np.asarray(r, np.float64), np.asarray(w, np.float64)])
    table = table[:, table.sum(axis=0) > 0]
    n = float(table.sum())
    if _empty(table[0], table[1]):
        return ChiSquare(math.nan, math.nan, max(0, table.shape[1] - 1), math.nan)
    dof = table.shape[1] - 1
    if dof == 0:
        return ChiSquare(0.0, 1.0, 0, 0.0)
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / n
    dev = np.abs(table - expected)
    if yates and dof == 1:
        dev = dev - np.minimum(0.5, dev)
    stat = float(np.sum(dev * dev / expected))
    # For a 2-row table min(rows, cols) − 1 = 1, so V = √(χ²/N).
    return ChiSquare(stat, chi2_sf(stat, dof), dof, math.sqrt(stat / n))
