"""Trailing-day windows: the 24 hours ending at each hour, and their share of the budget.

A trailing day is judged every hour, so 24 windows per calendar day instead of
one — but consecutive trailing days share 23 of their 24 hours, so their
statistics are strongly correlated (ρ = 23/24 for a sum over hours) and a
false alarm is one *excursion* of the statistic above its bound, not 24
separate ones. The lifecycle opens one alert per excursion (an open alert stays
open while it breaches), so the budget is spent per excursion start: a window
breaching whose predecessor did not.

:func:`trailing_alpha` sets the per-test level α_t of a trailing window so that
the expected number of excursion starts per day, 24 · P(Z_t > u, Z_{t−1} ≤ u),
equals the calendar day's per-test level α_day (one window per day): trailing
days spend the same false-alarm budget a calendar day does. With Z_t, Z_{t−1}
standard bivariate normal with correlation ρ,

    P(Z_t > u, Z_{t−1} ≤ u) = ∫_u^∞ φ(x) Φ((u − ρx) / √(1 − ρ²)) dx,

solved for u (one-sided, as the decision's thresholds are) and α_t = 1 − Φ(u).
Bonferroni over 24 windows (α_day / 24) would ignore the overlap and cost
sensitivity; α_day itself would spend the budget ~5× over.

>>> a = trailing_alpha(1e-4)
>>> 1e-4 / 24 < a < 1e-4
True
>>> round(excursion_rate(a) * 24 / 1e-4, 6)
1.0
"""

from __future__ import annotations

import functools
import math

from scipy import integrate, optimize, special

__all__ = [
    "TRAILING_HOURS",
    "TRAILING_MIN_HOURS",
    "TRAILING_RHO",
    "excursion_rate",
    "trailing_alpha",
]

TRAILING_HOURS = 24
"""Hours in a trailing window (one is judged at the end of every hour)."""
TRAILING_MIN_HOURS = 18
"""Hour windows (with events) a trailing window needs to be judged: the first hours
of a stream, or a span with long outages, would compare part of a day's cycle."""
TRAILING_RHO = (TRAILING_HOURS - 1) / TRAILING_HOURS
"""Correlation of consecutive trailing windows' statistics (shared hours / hours)."""


def _phi(x: float) -> float:
    return math.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)


def _cdf(x: float) -> float:
    return float(special.ndtr(x))


def excursion_rate(alpha: float, rho: float = TRAILING_RHO) -> float:
    """P(Z_t > u, Z_{t−1} ≤ u) for u = Φ⁻¹(1 − α): a breach whose predecessor did not.

    >>> round(excursion_rate(0.01, 0.0) / (0.01 * 0.99), 6)  # independent windows
    1.0
    """
    u = float(special.ndtri(1.0 - alpha))
    s = math.sqrt(1.0 - rho * rho)
    val, _ = integrate.quad(
        lambda x: _phi(x) * _cdf((u - rho * x) / s), u, u + 12.0, epsabs=0.0, epsrel=1e-10
    )
    return float(val)


@functools.lru_cache(maxsize=256)
def trailing_alpha(alpha_day: float, rho: float = TRAILING_RHO) -> float:
    """Per-test level of a trailing window: 24 · excursion starts per day = ``alpha_day``."""
    target = alpha_day / TRAILING_HOURS
    lo, hi = target, min(0.5, alpha_day)
    if excursion_rate(hi, rho) <= target:
        return hi
    return float(
        optimize.brentq(lambda a: excursion_rate(a, rho) - target, lo, hi, xtol=1e-14, rtol=1e-10)
    )
