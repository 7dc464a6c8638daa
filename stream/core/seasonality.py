"""Daily and weekly cycles of a feature, decided from its reference's hourly windows.

Each hour gives a location value ``y_i`` with a known sampling variance ``v_i``: the
mean of a numeric feature (pooled within-hour variance / count) or the share of a
categorical feature's most common category (p(1−p)/count). Then:

1. Cochran's Q over the hours (weights 1/v_i) says whether hours differ by more than
   sampling noise (τ² real) — DESIGN: calibrate τ only when a test says it is real.
2. A weighted two-way fit ``y ~ hour-of-day + day`` says *how*: the hour-of-day term
   given the day term (F-test against the residual) is a daily cycle; the day term
   given the hour of day is a weekly cycle (days are weekdays once the reference
   spans two weeks, dates before that).

A feature is seasonal when τ² is real AND one of the two terms is significant at
``alpha`` (default 0.001: it switches baselines, so it must not flip by chance).

>>> s = Seasonality("x", daily=True, weekly=False)
>>> s.seasonal, s.baseline("hour"), s.baseline("day")
(True, 'seasonal', 'reference')
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from stream.core.measures.tails import chi2_sf, f_sf
from stream.core.nullspread import Sketch, narrow
from stream.core.records import from_builtins, to_builtins
from stream.core.sketch import CategoricalSketch, NumericSketch
from stream.core.vocabulary import Kind
from stream.core.window import DAY_MS, HOUR_MS

__all__ = ["SEASON_ALPHA", "Seasonality", "detect_seasonality", "location_series"]

SEASON_ALPHA = 1e-3
"""Level of the hour-of-day and day F-tests."""
_MIN_COUNT = 10
_MIN_RESIDUAL_DF = 10
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Seasonality:
    """Whether one feature's reference shows daily or weekly cycles, and the evidence.

    Attributes:
        feature: feature name.
        daily: an hour-of-day pattern (given the day) is significant.
        weekly: a day/weekday pattern (given the hour of day) is significant.
        q: Cochran's Q of the hourly location values.
        q_p: its χ² p-value.
        tau2: DerSimonian–Laird between-hour variance of the location (0 if not real).
        hod_p: p-value of the hour-of-day term (nan when untestable, < 2 days).
        day_p: p-value of the day term (nan when untestable, < 3 days).
        n_windows: hours used.
        method: the location statistic.
    """

    feature: str
    daily: bool = False
    weekly: bool = False
    q: float = math.nan
    q_p: float = math.nan
    tau2: float = 0.0
    hod_p: float = math.nan
    day_p: float = math.nan
    n_windows: int = 0
    method: str = ""

    @property
    def seasonal(self) -> bool:
        """Any cycle: the feature should be compared with the same hour/day last week."""
        return self.daily or self.weekly

    def baseline(self, scale: str) -> Literal["seasonal", "reference"]:
        """Baseline for a window scale: daily cycles only matter within a day."""
        cyclic = self.seasonal if scale == "hour" else self.weekly
        return "seasonal" if cyclic else "reference"

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form: every field, non-finite floats as null (``records``)."""
        return to_builtins(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Seasonality:
        """Inverse of :meth:`to_dict`."""
        return from_builtins(d, cls)


def location_series(
    kind: Kind, hours: Mapping[int, Sketch]
) -> tuple[npt.NDArray[np.int64], FloatArray, FloatArray, str]:
    """Hour starts, location values, their sampling variances and the statistic's name.

    >>> hs = {0: NumericSketch.zero().update(np.arange(20.0)),
    ...       HOUR_MS: NumericSketch.zero().update(np.arange(20.0) + 1)}
    >>> t, y, v, how = location_series("numeric", hs)
    >>> y.tolist(), round(float(v[0]), 2), how
    ([9.5, 10.5], 1.66, 'hourly mean')
    """
    starts = sorted(s for s in hours if _valid(hours[s]) >= _MIN_COUNT)
    t = np.asarray(starts, dtype=np.int64)
    if kind == "numeric":
        sk = [narrow(hours[s], NumericSketch) for s in starts]
        n = np.asarray([s.count for s in sk], dtype=np.float64)
        y = np.asarray([s.mean for s in sk], dtype=np.float64)
        within = np.asarray([s.variance for s in sk], dtype=np.float64)
        pooled = float(np.sum(n * within) / np.sum(n)) if n.size else 0.0
        return t, y, pooled / n if n.size else n, "hourly mean"
    cs = [narrow(hours[s], CategoricalSketch) for s in starts]
    totals: dict[str, int] = {}
    for c in cs:
        for label, k in c.counts().items():
            totals[label] = totals.get(label, 0) + k
    if not totals:
        return t[:0], np.zeros(0), np.zeros(0), "top-category share"
    top = min(totals, key=lambda label: (-totals[label], label))
    valid = np.asarray([c.count for c in cs], dtype=np.float64)
    hits = np.asarray([c.estimate(top) for c in cs], dtype=np.float64)
    p = float(hits.sum() / valid.sum())
    return t, hits / valid, np.full(valid.size, p * (1 - p)) / valid, f"share of {top!r}"


def _valid(s: Sketch) -> int:
    return int(s.count)


def _rss(y: FloatArray, sw: FloatArray, x: FloatArray) -> tuple[float, int]:
    """Weighted residual sum of squares (χ² units) and the rank of the design."""
    coef, _, rank, _ = np.linalg.lstsq(x * sw[:, None], y * sw, rcond=None)
    r = (y - x @ coef) * sw
    return float(r @ r), int(rank)


def _onehot(groups: npt.NDArray[np.int64]) -> FloatArray:
    _, idx = np.unique(groups, return_inverse=True)
    out = np.zeros((groups.size, int(idx.max()) + 1))
    out[np.arange(groups.size), idx] = 1.0
    return out


def _f_test(rss_small: float, rank_small: int, rss_full: float, rank_full: int, df: int) -> float:
    extra = rank_full - rank_small
    if extra <= 0 or df < _MIN_RESIDUAL_DF or rss_full <= 0:
        return math.nan
    f = ((rss_small - rss_full) / extra) / (rss_full / df)
    return f_sf(f, extra, df)


def detect_seasonality(
    feature: str,
    kind: Kind,
    hours: Mapping[int, Sketch],
    *,
    alpha: float = SEASON_ALPHA,
    q_alpha: float = 0.01,
) -> Seasonality:
    """Daily/weekly cycles of one feature from its reference hour sketches (start ms → sketch)."""
    t, y, v, how = location_series(kind, hours)
    k = int(y.size)
    if k < 3 or not np.all(v > 0):
        return Seasonality(feature, n_windows=k, method=f"{how}; too few or constant hours")
    w = 1.0 / v
    sw = np.sqrt(w)
    one = np.ones((k, 1))
    q, _ = _rss(y, sw, one)
    q_p = chi2_sf(q, k - 1)
    tau2 = 0.0
    if q_p < q_alpha:
        tau2 = max(0.0, (q - (k - 1)) / (float(w.sum()) - float((w * w).sum() / w.sum())))
    hod = (t // HOUR_MS) % 24
    day = t // DAY_MS
    if int(day.max() - day.min()) >= 14:
        day = day % 7  # weekday once every weekday repeats
    x_h = np.hstack((one, _onehot(hod)))
    x_d = np.hstack((one, _onehot(day)))
    x_hd = np.hstack((x_h, _onehot(day)))
    rss_h, r_h = _rss(y, sw, x_h)
    rss_d, r_d = _rss(y, sw, x_d)
    rss_hd, r_hd = _rss(y, sw, x_hd)
    df = k - r_hd
    hod_p = _f_test(rss_d, r_d, rss_hd, r_hd, df)
    day_p = _f_test(rss_h, r_h, rss_hd, r_hd, df) if len(np.unique(day)) >= 3 else math.nan
    real = q_p < q_alpha
    return Seasonality(
        feature,
        daily=bool(real and hod_p < alpha),
        weekly=bool(real and day_p < alpha),
        q=q,
        q_p=q_p,
        tau2=tau2,
        hod_p=hod_p,
        day_p=day_p,
        n_windows=k,
        method=how,
    )
