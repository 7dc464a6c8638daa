"""The uniform measure result and the sample-size-aware confidence behind each effect.

An alert needs an effect above a practical threshold AND confidence that the
effect is real at this sample size (docs/architecture.md, "Drift decisions").
Every measure therefore returns a :class:`Measure` carrying its value, a
p-value against "no drift", an interval and the null expectation of the value
at the same sample sizes. The helpers here are the analytic approximations
used for those fields, plus one seeded resampling fallback.

>>> m = Measure("ks", 0.12, p_value=0.001, n_ref=1000, n_win=200)
>>> round(m.confidence, 3), m.is_defined
(0.999, True)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from scipy import special

from stream.core.measures.tails import chi2_sf, kstwo_sf, kstwo_sf_rows, norm_sf, t_ppf, t_sf

__all__ = [
    "LEVEL",
    "Measure",
    "before_after",
    "chi2_null",
    "dkw_halfwidth",
    "ks_pvalue",
    "ks_pvalue_rows",
    "multinomial_null",
    "n_eff",
    "nan_measure",
    "resampled_pvalue",
    "two_proportions",
    "two_proportions_rows",
    "welch",
    "welch_rows",
    "wilson",
    "wilson_rows",
]

FloatArray = npt.NDArray[np.float64]
NAN = math.nan
LEVEL = 0.95
"""Coverage of every interval reported by the measures."""
_Z = float(special.ndtri(0.5 + LEVEL / 2))  # = stats.norm.ppf (scipy.stats not imported)


@dataclass(frozen=True, slots=True)
class Measure:
    """One drift measure between a reference and a window, with its confidence.

    Attributes:
        name: registry name, e.g. ``"ks"``.
        value: the effect size; nan when undefined (an empty side), never raised.
        p_value: probability of an effect at least this large without drift.
        ci_low: lower end of the 95% interval for the population value.
        ci_high: upper end of that interval.
        n_ref: reference observations the measure used.
        n_win: window observations the measure used.
        null_mean: expected value under no drift at these sample sizes (the bias
            a small window adds to a distance even when nothing moved).
        method: how ``p_value`` and the interval were obtained.
        detail: per-category or auxiliary figures, e.g. unseen categories.
    """

    name: str
    value: float
    p_value: float = NAN
    ci_low: float = NAN
    ci_high: float = NAN
    n_ref: int = 0
    n_win: int = 0
    null_mean: float = NAN
    method: str = ""
    detail: Mapping[str, float] = field(default_factory=dict)

    @property
    def confidence(self) -> float:
        """1 − p-value: how sure we are that the effect is not sampling noise."""
        return 1.0 - self.p_value

    @property
    def is_defined(self) -> bool:
        """False when the value is nan (e.g. an empty window)."""
        return not math.isnan(self.value)


def before_after(baseline: float, window: float) -> dict[str, float]:
    """``detail`` of a measure of one quantity (a mean, the null share): its two values.

    Decisions carry them to the alert text (``mean 55,576 → 76,379``).

    >>> before_after(0.02, 0.14)
    {'baseline': 0.02, 'window': 0.14}
    """
    return {"baseline": float(baseline), "window": float(window)}


def nan_measure(name: str, n_ref: int, n_win: int, method: str = "") -> Measure:
    """The result for an undefined comparison (an empty side): nan, never an exception.

    >>> nan_measure("ks", 10, 0).is_defined
    False
    """
    return Measure(name, NAN, n_ref=n_ref, n_win=n_win, method=method or "undefined")


def n_eff(n: float, m: float) -> float:
    """Effective two-sample size n·m/(n+m); 0 when either side is empty.

    >>> n_eff(100, 100)
    50.0
    """
    return n * m / (n + m) if n > 0 and m > 0 else 0.0


def ks_pvalue(d: float, n: int, m: int) -> float:
    """Asymptotic two-sample KS p-value, Kolmogorov distribution at n_eff = n·m/(n+m).

    Same convention as scipy's ``ks_2samp(method="asymp")``: ``kstwo`` at the
    rounded effective size.

    >>> round(ks_pvalue(0.1, 1000, 1000), 4)
    0.0001
    >>> round(ks_pvalue(0.02, 1000, 1000), 2)
    0.99
    """
    ne = n_eff(n, m)
    if ne <= 0 or math.isnan(d):
        return NAN
    return kstwo_sf(d, max(1, round(ne)))


def dkw_halfwidth(n: int, alpha: float) -> float:
    """Dvoretzky–Kiefer–Wolfowitz band: P(sup|F̂n − F| > ε) ≤ 2·exp(−2nε²) = alpha.

    >>> round(dkw_halfwidth(1000, 0.05), 4)
    0.0429
    """
    return math.sqrt(math.log(2.0 / alpha) / (2.0 * n)) if n > 0 else math.inf


def welch(
    mean_r: float, var_r: float, n: int, mean_w: float, var_w: float, m: int
) -> tuple[float, float, float]:
    """Welch test of μw − μr from exact moments: (p-value, ci_low, ci_high).

    Variances are population variances (as the sketches keep them) and are
    turned into unbiased ones here.

    >>> p, lo, hi = welch(0.0, 1.0, 1000, 0.2, 1.0, 1000)
    >>> p < 1e-4, round(lo, 3), round(hi, 3)
    (True, 0.112, 0.288)
    """
    if n < 2 or m < 2:
        return NAN, NAN, NAN
    a = var_r * n / (n - 1) / n
    b = var_w * m / (m - 1) / m
    diff = mean_w - mean_r
    se = math.sqrt(a + b)
    if se == 0.0:
        # Two constant samples: the difference is known exactly.
        return (1.0 if diff == 0 else 0.0), diff, diff
    df = (a + b) ** 2 / (a * a / (n - 1) + b * b / (m - 1))
    t = t_ppf(0.5 + LEVEL / 2, df)
    p = 2.0 * t_sf(abs(diff) / se, df)
    return p, diff - t * se, diff + t * se


def ks_pvalue_rows(
    d: FloatArray, n: npt.ArrayLike, m: npt.ArrayLike, groups: Sequence[int] | None = None
) -> FloatArray:
    """:func:`ks_pvalue` of each row (sizes > 0, d not nan): the Kolmogorov tails as rows.

    ``groups``: as :func:`~.tails.kstwo_sf_rows` (each row's value depends on its group).
    """
    pairs = zip(np.asarray(n).tolist(), np.asarray(m).tolist(), strict=True)
    sizes = [max(1, round(n_eff(a, b))) for a, b in pairs]
    return kstwo_sf_rows(np.asarray(d, dtype=np.float64), np.array(sizes, dtype=np.int64), groups)


def welch_rows(
    mean_r: FloatArray,
    var_r: FloatArray,
    n: npt.ArrayLike,
    mean_w: FloatArray,
    var_w: FloatArray,
    m: npt.ArrayLike,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """:func:`welch` of each row: the same arithmetic on arrays (nan rows where n or m < 2)."""
    nf, mf = np.asarray(n, dtype=np.float64), np.asarray(m, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        a = var_r * nf / (nf - 1) / nf
        b = var_w * mf / (mf - 1) / mf
        diff = mean_w - mean_r
        se = np.sqrt(a + b)
        # Python's ``x ** 2`` is libm's pow, numpy's is x·x: they can differ by an ulp.
        # (x·x past 1e150: Python's pow would raise OverflowError where x·x gives inf.)
        sq = np.array(
            [v**2 if abs(v) < 1e150 else v * v for v in (a + b).tolist()], dtype=np.float64
        ).reshape(a.shape)
        df = sq / (a * a / (nf - 1) + b * b / (mf - 1))
        t = special.stdtrit(df, 0.5 + LEVEL / 2)
        p = 2.0 * special.stdtr(df, -(np.abs(diff) / se))
        lo, hi = diff - t * se, diff + t * se
    const = se == 0.0  # two constant samples: the difference is known exactly
    p = np.where(const, np.where(diff == 0, 1.0, 0.0), p)
    lo, hi = np.where(const, diff, lo), np.where(const, diff, hi)
    few = (nf < 2) | (mf < 2)
    return np.where(few, NAN, p), np.where(few, NAN, lo), np.where(few, NAN, hi)


def two_proportions(k1: int, n1: int, k2: int, n2: int) -> tuple[float, float, float]:
    """Share change k2/n2 − k1/n1: (pooled z-test p-value, Agresti–Caffo 95% interval).

    >>> p, lo, hi = two_proportions(50, 1000, 80, 1000)
    >>> round(p, 4), round(lo, 3), round(hi, 3)
    (0.0065, 0.008, 0.052)
    """
    if n1 <= 0 or n2 <= 0:
        return NAN, NAN, NAN
    diff = k2 / n2 - k1 / n1
    pooled = (k1 + k2) / (n1 + n2)
    se0 = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    p = (1.0 if diff == 0 else 0.0) if se0 == 0 else 2 * norm_sf(abs(diff) / se0)
    # Agresti–Caffo: add one success and one failure per group; good coverage near 0 and 1.
    a1, a2 = (k1 + 1) / (n1 + 2), (k2 + 1) / (n2 + 2)
    se = math.sqrt(a1 * (1 - a1) / (n1 + 2) + a2 * (1 - a2) / (n2 + 2))
    centre = a2 - a1
    return p, max(-1.0, centre - _Z * se), min(1.0, centre + _Z * se)


def wilson(k: int, n: int) -> tuple[float, float]:
    """Wilson 95% score interval for a share k/n.

    >>> tuple(round(x, 3) for x in wilson(0, 100))
    (0.0, 0.037)
    """
    if n <= 0:
        return NAN, NAN
    p = k / n
    z2 = _Z * _Z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = _Z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def two_proportions_rows(
    k1: npt.ArrayLike, n1: npt.ArrayLike, k2: npt.ArrayLike, n2: npt.ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """:func:`two_proportions` of each row (every ``n`` > 0): the same arithmetic on arrays."""
    k1f, n1f, k2f, n2f = (np.asarray(a, dtype=np.float64) for a in (k1, n1, k2, n2))
    diff = k2f / n2f - k1f / n1f
    pooled = (k1f + k2f) / (n1f + n2f)
    se0 = np.sqrt(pooled * (1 - pooled) * (1 / n1f + 1 / n2f))
    with np.errstate(divide="ignore", invalid="ignore"):
        tail = 2 * special.ndtr(-(np.abs(diff) / se0))
    p = np.where(se0 == 0, np.where(diff == 0, 1.0, 0.0), tail)
    a1, a2 = (k1f + 1) / (n1f + 2), (k2f + 1) / (n2f + 2)
    se = np.sqrt(a1 * (1 - a1) / (n1f + 2) + a2 * (1 - a2) / (n2f + 2))
    centre = a2 - a1
    return p, np.maximum(-1.0, centre - _Z * se), np.minimum(1.0, centre + _Z * se)


def wilson_rows(k: npt.ArrayLike, n: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """:func:`wilson` of each row (every ``n`` > 0): the same arithmetic on arrays."""
    kf, nf = np.asarray(k, dtype=np.float64), np.asarray(n, dtype=np.float64)
    p = kf / nf
    z2 = _Z * _Z
    centre = (p + z2 / (2 * nf)) / (1 + z2 / nf)
    half = _Z * np.sqrt(p * (1 - p) / nf + z2 / (4 * nf * nf)) / (1 + z2 / nf)
    return np.maximum(0.0, centre - half), np.minimum(1.0, centre + half)


def chi2_null(scaled: float, k: int, n: int, m: int) -> tuple[float, float]:
    """p-value and null mean for a binned divergence whose scaled form is ~ χ²(k−1).

    For shares p̂ (size n), q̂ (size m) drawn from the same k-bin distribution,
    Σ(q̂−p̂)²/π / (1/n + 1/m) → χ²(k−1). PSI ≈ Σ(q̂−p̂)²/π, the JS divergence
    (nats) and the squared Hellinger distance ≈ Σ(q̂−p̂)²/(8π), so callers pass
    ``scaled`` = PSI, 8·JSD or 8·H², and get back (p-value, E[scaled] under the
    null) = (χ² tail, (k−1)·(1/n + 1/m)).

    >>> p, mean = chi2_null(0.0, 10, 1000, 1000)
    >>> p, round(mean, 4)
    (1.0, 0.018)
    """
    if n <= 0 or m <= 0 or math.isnan(scaled):
        return NAN, NAN
    c = 1.0 / n + 1.0 / m
    if k < 2:
        return 1.0, 0.0
    return chi2_sf(scaled / c, k - 1), (k - 1) * c


def multinomial_null(
    probs: FloatArray,
    n: int,
    m: int,
    statistic: Callable[[FloatArray, FloatArray], FloatArray],
    *,
    draws: int = 200,
    seed: int = 0,
) -> FloatArray:
    """Null distribution of a two-sample statistic by resampling from the reference.

    Draws ``draws`` pairs of count vectors (sizes n and m) from the reference
    bucket probabilities, seeded, and applies the vectorised ``statistic``
    (rows = draws). Used where no analytic null is good enough (Wasserstein).

    >>> stat = lambda a, b: np.abs(a / a.sum(1, keepdims=True) - b / b.sum(1, keepdims=True)).max(1)
    >>> null = multinomial_null(np.array([0.5, 0.5]), 1000, 1000, stat, draws=50)
    >>> null.shape, bool(null.mean() < 0.05)
    ((50,), True)
    """
    rng = np.random.default_rng(seed)
    p = np.asarray(probs, dtype=np.float64)
    p = p / p.sum()
    a = rng.multinomial(n, p, size=draws).astype(np.float64)
    b = rng.multinomial(m, p, size=draws).astype(np.float64)
    return np.asarray(statistic(a, b), dtype=np.float64)


def resampled_pvalue(observed: float, null: FloatArray) -> float:
    """Upper-tail p-value (1 + #{null ≥ observed}) / (1 + draws), never 0.

    >>> resampled_pvalue(1.0, np.array([0.0, 2.0, 3.0]))
    0.75
    """
    if math.isnan(observed):
        return NAN
    return float((1 + np.count_nonzero(null >= observed)) / (1 + null.size))
