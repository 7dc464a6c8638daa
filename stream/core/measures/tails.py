"""Distribution tails as direct ``scipy.special`` calls: the decision engine's hot path.

``scipy.stats`` distribution methods validate and broadcast their arguments on every
call (~50–100 µs each); a window's decision makes dozens of such calls per feature.
These wrappers call the same special functions the distributions are built on
(Cephes / Boost), so they agree with ``scipy.stats`` to the last few bits
(``tests/unit/core/measures/test_tails.py`` checks it over wide ranges), at ~1 µs.

``kstwo_sf`` is the one non-trivial case: scipy's ``kstwo`` (the two-sided
one-sample Kolmogorov–Smirnov distribution at n) is called below the
``rv_continuous`` layer, with a memo on (d rounded to 1e-12, n); above n = 140 its
branches are taken directly and its Durbin-matrix branch (p > 0.9, the costliest)
is replaced by the Pelz–Good expansion scipy uses elsewhere (:func:`kstwo_exact`
keeps the exact routine; the two are compared in the tests).
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from collections.abc import Sequence
from typing import TypeVar

import numpy as np
import numpy.typing as npt
from scipy import special

__all__ = [
    "Z95",
    "betabinom_sf",
    "binom_sf",
    "chi2_sf",
    "f_sf",
    "kstwo_exact",
    "kstwo_sf",
    "kstwo_sf_rows",
    "norm_cdf",
    "norm_isf",
    "norm_sf",
    "pelz_good_cdf",
    "pelz_good_cdf_rows",
    "poisson_sf",
    "smirnov_sf",
    "t_ppf",
    "t_sf",
]


Z95 = 1.959963984540054
"""The standard normal's 97.5% quantile: half-width of a 95% interval in σ."""


def norm_sf(x: float) -> float:
    """P(Z > x) for a standard normal Z (= ``stats.norm.sf``).

    >>> norm_sf(0.0), round(norm_sf(1.959963984540054), 6)
    (0.5, 0.025)
    """
    return float(special.ndtr(-x))


def norm_cdf(x: float) -> float:
    """P(Z ≤ x) (= ``stats.norm.cdf``)."""
    return float(special.ndtr(x))


@functools.lru_cache(maxsize=4096)
def norm_isf(q: float) -> float:
    """The x with P(Z > x) = q (= ``stats.norm.isf``); memoised: α values repeat.

    >>> round(norm_isf(0.025), 6)
    1.959964
    """
    if not 0.0 <= q <= 1.0:
        return math.nan
    return float(-special.ndtri(q))


def t_sf(x: float, df: float) -> float:
    """P(T > x) for Student's t with ``df`` degrees of freedom (= ``stats.t.sf``)."""
    return float(special.stdtr(df, -x))


def t_ppf(q: float, df: float) -> float:
    """The x with P(T ≤ x) = q (= ``stats.t.ppf``)."""
    return float(special.stdtrit(df, q))


def chi2_sf(x: float, df: float) -> float:
    """P(X > x) for X ~ χ²(df) (= ``stats.chi2.sf``)."""
    if x <= 0:
        return 1.0
    return float(special.chdtrc(df, x))


def f_sf(x: float, d1: float, d2: float) -> float:
    """P(X > x) for X ~ F(d1, d2) (= ``stats.f.sf``)."""
    if x <= 0:
        return 1.0
    return float(special.fdtrc(d1, d2, x))


def binom_sf(k: int, n: int, p: float) -> float:
    """P(X > k) for X ~ Binomial(n, p) (= ``stats.binom.sf``)."""
    if k < 0:
        return 1.0
    if k >= n:
        return 0.0
    return float(special.bdtrc(k, n, p))


def poisson_sf(k: int, mu: float) -> float:
    """P(X > k) for X ~ Poisson(mu) (= ``stats.poisson.sf``)."""
    if k < 0:
        return 1.0
    return float(special.pdtrc(k, mu))


def betabinom_sf(k: int, n: int, a: float, b: float) -> float:
    """P(X > k) for X ~ BetaBinomial(n, a, b) (= ``stats.betabinom.sf``, same arithmetic).

    scipy's generic discrete ``sf``: 1 − the sum of the pmf over 0 … k, the pmf from
    log-beta functions, clipped to [0, 1]; here without the ``rv_discrete`` layer
    (~70 µs a call there).
    """
    if k < 0:
        return 1.0
    if k >= n:
        return 0.0
    m = np.arange(0, int(k) + 1)
    logpmf = -np.log(n + 1) - special.betaln(n - m + 1, m + 1)
    logpmf = logpmf + special.betaln(m + a, n - m + b) - special.betaln(a, b)
    return float(np.clip(1.0 - np.sum(np.exp(logpmf), axis=0), 0.0, 1.0))


_SMALL_N = 140  # scipy's own switch: up to here its exact routines, all kept


@functools.lru_cache(maxsize=65536)
def _kstwo(d: float, n: int) -> float:
    t = n * d
    x2 = t * d
    if n <= _SMALL_N or t <= 1.0 or t >= n - 1 or d >= 0.5:
        return kstwo_exact(d, n)
    # scipy's branches for n > 140, called directly, but Pelz-Good wherever scipy would
    # run the Durbin matrix (n·d^1.5 ≤ 1.4: p > 0.9 there, ~0.5 ms a call); the two
    # agree to 4e-6 relative over that region (test_tails.py), the golden tolerance is 1e-3.
    if x2 >= 370.0:
        return 0.0
    if x2 >= 2.2:
        return min(1.0, max(0.0, 2.0 * smirnov_sf(d, n)))
    cdf = pelz_good_cdf(n, d)
    return min(1.0, max(0.0, 1.0 - cdf))


def smirnov_sf(d: float, n: int) -> float:
    """P(D⁺_n ≥ d), the one-sided KS tail (= ``special.smirnov(n, d)``), as one array sum.

    The Birnbaum–Tingey sum d·Σ_{j ≤ n(1−d)} C(n,j) (1−d−j/n)^{n−j} (d+j/n)^{j−1}, its
    terms in logs and summed relative to the largest (no underflow). Cephes runs the
    same sum term by term (~0.7 µs a term: ~12 ms at n = 17 000, a trailing day's
    effective size); here ~0.8 ms. Agreement with ``special.smirnov``: ~1e-10 relative
    (the log-gamma sums), checked in ``test_tails.py``.

    >>> math.isclose(smirnov_sf(0.05, 1000), float(special.smirnov(1000, 0.05)), rel_tol=1e-9)
    True
    """
    if d <= 0.0:
        return 1.0
    if d >= 1.0:
        return 0.0
    j = np.arange(math.floor(n * (1.0 - d)) + 1, dtype=np.float64)
    # 1 − d − j/n is 0 at the last j (or a rounding below it): a zero term.
    with np.errstate(divide="ignore"):
        logs = (
            special.gammaln(n + 1.0)
            - special.gammaln(j + 1.0)
            - special.gammaln(n - j + 1.0)
            + (n - j) * np.log(np.maximum(1.0 - d - j / n, 0.0))
            + (j - 1.0) * np.log(d + j / n)
        )
    top = float(logs.max())
    return d * math.exp(top) * float(np.exp(logs - top).sum())


_PI2, _PI4, _PI6 = math.pi**2, math.pi**4, math.pi**6
_SQRT2PI, _SQRT3 = math.sqrt(2 * math.pi), math.sqrt(3.0)


_Num = TypeVar("_Num", float, npt.NDArray[np.float64])


def _pelz_coefficients(z: _Num) -> tuple[_Num, float, _Num, _Num, _Num, _Num, _Num, _Num, _Num]:
    """Pelz–Good's k-independent coefficients at ``z`` (scipy's expressions, in its order)."""
    z2, z4, z6 = z**2, z**4, z**6
    k1a, k1b = -z2, _PI2 / 4
    k2a, k2b = 6 * z6 + 2 * z4, (2 * z4 - 5 * z2) * _PI2 / 4
    k2c = _PI4 * (1 - 2 * z2) / 16
    k3d = _PI6 * (5 - 30 * z2) / 64
    k3c = _PI4 * (-60 * z2 + 212 * z4) / 16
    k3b = _PI2 * (135 * z4 - 96 * z6) / 4
    k3a = -30 * z6 - 90 * z**8
    return k1a, k1b, k2a, k2b, k2c, k3a, k3b, k3c, k3d


def pelz_good_cdf(n: int, x: float) -> float:
    """P(D_n ≤ x) by the Pelz–Good expansion (= scipy's ``_kolmogn_PelzGood``), in floats.

    scipy's routine step by step (same terms, same order, same Horner scheme over
    odd k) on Python floats instead of numpy scalars and 4-element arrays (~45 µs a
    call there, ~8 µs here); agreement ~1e-15 relative (``test_tails.py``).
    """
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    z = math.sqrt(n) * x
    z2, z3, z4, z6 = z**2, z**3, z**4, z**6
    qlog = -_PI2 / 8 / z2
    if qlog < -708:
        return 0.0
    q = math.exp(qlog)
    k1a, k1b, k2a, k2b, k2c, k3a, k3b, k3c, k3d = _pelz_coefficients(z)
    c0 = c1 = c2 = c3 = 0.0
    maxk = math.ceil(16 * z / math.pi)
    for k in range(maxk, 0, -1):
        m = 2 * k - 1
        m2, m4, m6 = float(m**2), float(m**4), float(m**6)
        qp = q ** (8 * k)
        c0 = c0 * qp + 1.0
        c1 = c1 * qp + (k1a + k1b * m2)
        c2 = c2 * qp + (k2a + k2b * m2 + k2c * m4)
        c3 = c3 * qp + (k3a + k3b * m2 + k3c * m4 + k3d * m6)
    c0, c1, c2, c3 = (c * q * _SQRT2PI for c in (c0, c1, c2, c3))
    c0, c1, c2, c3 = c0 / z, c1 / (6 * z4), c2 / (72 * z**7), c3 / (6480 * z**10)
    q = math.exp(-_PI2 / 2 / z2)
    sqrt3z = _SQRT3 * z
    terms = []
    for k in range(maxk, 0, -1):
        k2 = k * k
        qk = q**k2
        kpi = math.pi * k
        terms.append((k2 * qk, (sqrt3z + kpi) * (sqrt3z - kpi) * k2 * qk))
    s2 = math.fsum(t[0] for t in terms)
    s3 = math.fsum(t[1] for t in terms)
    c2 += s2 * (_PI2 * _SQRT2PI / (-36 * z3))
    c3 += s3 * (_PI2 * _SQRT2PI / (216 * z6))
    rn = math.sqrt(n * 1.0)
    return c0 + c1 / rn + c2 / n + c3 / (rn * n)


def kstwo_exact(d: float, n: int) -> float:
    """P(D_n > d) by scipy's own ``kstwo`` routine (Durbin matrix where it chooses it)."""
    # The routine behind stats.kstwo (same numbers); scipy.stats is imported only here:
    # it costs a replay ~0.3 s of start-up and its other routines are not used.
    from scipy.stats import _ksstats

    return float(_ksstats._kolmogn(n, d, cdf=False))  # noqa: SLF001 - stats.kstwo's own routine


def kstwo_sf(d: float, n: int) -> float:
    """P(D_n > d) for the two-sided one-sample KS statistic at n (= ``stats.kstwo.sf``)."""
    if d <= 0:
        return 1.0
    if d >= 1:
        return 0.0
    return _kstwo(round(d, 12), int(n))


_PELZ_ROWS_FROM = 32
"""Pelz–Good rows from which one array pass beats the scalar routine (~7 µs a row against
~0.2 ms fixed for the array pass; measured at 3–92 rows)."""


def kstwo_sf_rows(
    d: npt.NDArray[np.float64], n: npt.NDArray[np.int64], groups: Sequence[int] | None = None
) -> npt.NDArray[np.float64]:
    """:func:`kstwo_sf` of each row; the rows on the Pelz–Good branch in one array pass.

    Each row takes :func:`_kstwo`'s branch for its own ``(round(d, 12), n)``; the exact
    and Smirnov rows are the scalar routine (memoised), the Pelz–Good rows (the p > 0.9
    region: every column that did not move) :func:`pelz_good_cdf_rows`.

    ``groups``: each row's group (default: one group). The array pass (which agrees with
    the scalar routine to a few ulps) takes the Pelz–Good rows of a group that has at
    least ``_PELZ_ROWS_FROM`` of them, the scalar routine the others: a row's value
    depends on its own group only, so groups measured together (a replay's windows)
    get the same values as each measured alone (a live window).
    """
    out = np.empty(d.size, dtype=np.float64)
    pg: list[int] = []
    for i, (x, m) in enumerate(zip(d.tolist(), n.tolist(), strict=True)):
        r = round(x, 12)
        t = m * r
        x2 = t * r
        if 0 < x < 1 and m > _SMALL_N and 1.0 < t < m - 1 and r < 0.5 and x2 < 2.2:
            pg.append(i)
        else:
            out[i] = kstwo_sf(x, m)
    if groups is None:
        many = pg if len(pg) >= _PELZ_ROWS_FROM else []
    else:
        per = Counter(groups[i] for i in pg)
        many = [i for i in pg if per[groups[i]] >= _PELZ_ROWS_FROM]
    if len(many) < len(pg):  # a group with a few rows: the scalar routine is cheaper
        chosen = set(many)
        for i in pg:
            if i not in chosen:
                out[i] = kstwo_sf(float(d[i]), int(n[i]))
    if many:
        rows = np.asarray(many, dtype=np.int64)
        x = np.array([round(v, 12) for v in d[rows].tolist()], dtype=np.float64)
        out[rows] = np.minimum(1.0, np.maximum(0.0, 1.0 - pelz_good_cdf_rows(n[rows], x)))
    return out


def pelz_good_cdf_rows(
    n: npt.NDArray[np.int64], x: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """:func:`pelz_good_cdf` of each row (every 0 < x < 1): the same terms in the same order.

    A row's series stops at its own ``maxk``: the Horner sums run from the largest
    ``maxk`` down and leave a row at 0 until its own ``k`` is reached. Agreement with the
    scalar routine: a few ulps (numpy's ``exp``, a plain sum for ``math.fsum``).
    """
    nf = n.astype(np.float64)
    z = np.sqrt(nf) * x
    z2, z3, z4, z6 = z**2, z**3, z**4, z**6
    qlog = -_PI2 / 8 / z2
    q = np.exp(qlog)
    k1a, k1b, k2a, k2b, k2c, k3a, k3b, k3c, k3d = _pelz_coefficients(z)
    c0, c1, c2, c3 = (np.zeros_like(z) for _ in range(4))
    maxk = np.ceil(16 * z / math.pi).astype(np.int64)
    top = int(maxk.max())
    for k in range(top, 0, -1):
        on = k <= maxk
        m = 2 * k - 1
        m2, m4, m6 = float(m**2), float(m**4), float(m**6)
        qp = q ** (8 * k)
        c0 = np.where(on, c0 * qp + 1.0, c0)
        c1 = np.where(on, c1 * qp + (k1a + k1b * m2), c1)
        c2 = np.where(on, c2 * qp + (k2a + k2b * m2 + k2c * m4), c2)
        c3 = np.where(on, c3 * qp + (k3a + k3b * m2 + k3c * m4 + k3d * m6), c3)
    c0, c1, c2, c3 = (c * q * _SQRT2PI for c in (c0, c1, c2, c3))
    c0, c1, c2, c3 = c0 / z, c1 / (6 * z4), c2 / (72 * z**7), c3 / (6480 * z**10)
    q = np.exp(-_PI2 / 2 / z2)
    sqrt3z = _SQRT3 * z
    s2, s3 = np.zeros_like(z), np.zeros_like(z)
    for k in range(top, 0, -1):
        on = k <= maxk
        k2 = k * k
        qk = q**k2
        kpi = math.pi * k
        s2 = np.where(on, s2 + k2 * qk, s2)
        s3 = np.where(on, s3 + (sqrt3z + kpi) * (sqrt3z - kpi) * k2 * qk, s3)
    c2 = c2 + s2 * (_PI2 * _SQRT2PI / (-36 * z3))
    c3 = c3 + s3 * (_PI2 * _SQRT2PI / (216 * z6))
    rn = np.sqrt(nf * 1.0)
    cdf = c0 + c1 / rn + c2 / nf + c3 / (rn * nf)
    return np.asarray(np.where(qlog < -708, 0.0, cdf), dtype=np.float64)
