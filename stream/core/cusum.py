"""CUSUM over hourly z-scores: catches slow ramps before a daily window closes.

Two one-sided sums, ``S⁺ = max(0, S⁺ + z − k)`` and ``S⁻ = max(0, S⁻ − z − k)``, alarm
when either passes ``h``. The state is a small value (JSON-able) per feature.

The z-score and slack come from a :class:`~stream.core.decide.Decision` (``z``,
``cusum_k``): the slack is half the practical floor in z units, because against a fixed
reference every hour shares the reference's own sampling error — a persistent offset
that a textbook slack of 0.5 accumulates into false alarms within days. ``h`` comes
from the budget: an in-control ARL of ``720 · n_features · n_streams / budget`` hours
(:func:`cusum_limit`, Siegmund's approximation; the pipeline uses n_streams =
baselines + 1, ``pipeline.evaluate.sequential_arl0``). The lifecycle runs it per
feature on hourly windows (``lifecycle.step(..., cusum_arl0=...)``): an alarm pages.

Seasonal caveat (DESIGN): against the reference, a sustained seasonal state (a night,
a weekend) accumulates like drift. Feed seasonal features' decisions against the
seasonal baseline (same hour last week).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import msgspec
from scipy import optimize

__all__ = [
    "CUSUM_K",
    "CusumState",
    "Scored",
    "cusum_arl0",
    "cusum_limit",
    "cusum_step",
    "cusum_update",
]

CUSUM_K = 0.5
"""Smallest CUSUM slack, in z units (the textbook value for a 1σ shift)."""


class Scored(Protocol):
    """What :func:`cusum_update` reads from a decision."""

    @property
    def z(self) -> float:
        """Signed standardised score of the window."""

    @property
    def cusum_k(self) -> float:
        """Slack for that score."""


@dataclass(frozen=True, slots=True)
class CusumState:
    """Two one-sided CUSUM sums over hourly z-scores, and the last hour folded in.

    >>> s, alarm = cusum_step(CusumState(), 2.0, k=0.5, h=4.0)
    >>> s.hi, s.lo, alarm
    (1.5, 0.0, False)
    """

    hi: float = 0.0
    lo: float = 0.0
    last_ms: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form: ``hi``, ``lo``, ``last_ms`` (msgspec, sorted keys)."""
        out: dict[str, Any] = msgspec.to_builtins(self, order="sorted")
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CusumState:
        """Inverse of :meth:`to_dict` (integral numbers are accepted for the sums)."""
        return msgspec.convert(d, cls, strict=False)


def cusum_step(
    state: CusumState,
    z: float,
    *,
    k: float = 0.5,
    h: float = 8.0,
    window_ms: int | None = None,
) -> tuple[CusumState, bool]:
    """Fold one hourly z-score: ``S⁺ = max(0, S⁺ + z − k)``, ``S⁻ = max(0, S⁻ − z − k)``.

    Alarms when either sum exceeds ``h`` and then restarts from zero. ``k`` = half
    the shift (in z units) to detect fastest; ``h`` from :func:`cusum_limit`. A
    non-finite z (window not judged) leaves the sums unchanged. With ``window_ms``,
    a window at or before the last one folded is ignored (replays are idempotent).

    >>> s = CusumState()
    >>> alarms = []
    >>> for z in [1.5] * 10:  # +1 per hour beyond the slack k = 0.5
    ...     s, a = cusum_step(s, z, h=8.0)
    ...     alarms.append(a)
    >>> alarms.index(True)  # the 9th hour: S = 9 > h
    8
    """
    if window_ms is not None and state.last_ms is not None and window_ms <= state.last_ms:
        return state, False
    last = window_ms if window_ms is not None else state.last_ms
    if not math.isfinite(z):
        return CusumState(state.hi, state.lo, last), False
    hi = max(0.0, state.hi + z - k)
    lo = max(0.0, state.lo - z - k)
    if hi > h or lo > h:
        return CusumState(0.0, 0.0, last), True
    return CusumState(hi, lo, last), False


def cusum_update(
    state: CusumState, decision: Scored, *, h: float, window_ms: int | None = None
) -> tuple[CusumState, bool]:
    """:func:`cusum_step` with a decision's own z-score and slack (what the pipeline calls)."""
    return cusum_step(state, decision.z, k=decision.cusum_k, h=h, window_ms=window_ms)


def cusum_arl0(h: float, k: float = 0.5, *, two_sided: bool = True) -> float:
    """In-control average run length (windows between false alarms), Siegmund's formula.

    One side: ``ARL ≈ (e^{2kb} − 2kb − 1)/(2k²)`` with ``b = h + 1.166``; two sides
    halve it. z-scores are assumed N(0, 1) without drift.

    >>> round(cusum_arl0(5.0, two_sided=False))
    938
    """
    b = h + 1.166
    if 2 * k * b > 700:
        return math.inf  # beyond any budget (and beyond exp's range)
    one = (math.exp(2 * k * b) - 2 * k * b - 1) / (2 * k * k)
    return one / 2 if two_sided else one


@functools.lru_cache(maxsize=1024)
def cusum_limit(arl0: float, k: float = 0.5, *, two_sided: bool = True) -> float:
    """The limit ``h`` giving an in-control ARL of ``arl0`` windows.

    Budget: an ARL of ``720 · n_features · n_streams / false_alarm_budget`` hours
    spends the CUSUM's share of the 30-day budget.

    >>> round(cusum_limit(720 * 10 * 3 / 1.0), 2)
    8.81
    """
    hi = 1.0
    while cusum_arl0(hi, k, two_sided=two_sided) < arl0:
        hi *= 2  # bracket: the ARL grows like e^{2kh}
    return float(optimize.brentq(lambda h: cusum_arl0(h, k, two_sided=two_sided) - arl0, 0.0, hi))
