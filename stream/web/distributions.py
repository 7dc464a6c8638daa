"""Sketches → plottable distributions (plain dicts): pure, no I/O.

Numeric sketches are drawn on common equal-width bins spanning the central 99% of
every series (a log-bucket sketch has no fixed bins to share). Each bucket's count is
spread evenly over its value interval (clipped to the sketch's min and max), so the
share of a bin is the difference of that piecewise-linear CDF at the bin's edges;
what falls outside the drawn range is reported as ``below`` / ``above``.
Categorical sketches become shares of the most prominent categories across series,
the rest folded into ``(other)``.

>>> import numpy as np
>>> a = NumericSketch.zero().update(np.linspace(0.0, 10.0, 1001))
>>> d = numeric_distribution([("reference", a)], bins=5)
>>> d["kind"], len(d["edges"]), round(sum(d["series"][0]["shares"]), 2)
('numeric', 6, 0.98)
>>> c = CategoricalSketch.zero().update(["DE", "DE", "FR", None])
>>> categorical_distribution([("window", c)])["series"][0]["shares"]
[0.6666666666666666, 0.3333333333333333]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from stream.core.sketch import CategoricalSketch, NumericSketch

__all__ = [
    "OTHER",
    "QUANTILES",
    "categorical_distribution",
    "distribution",
    "numeric_distribution",
    "numeric_stats",
]

OTHER = "(other)"
QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
_TAIL = 0.005  # drawn range: from the lowest 0.5% quantile to the highest 99.5% one
Sketch = NumericSketch | CategoricalSketch


def _num(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def _linear_cdf(s: NumericSketch, x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Share of finite values ≤ x with every bucket's count spread over its interval."""
    lo, hi, counts = s.histogram()
    if s.count == 0 or counts.size == 0:
        return np.zeros_like(x)
    lo = np.clip(lo, s.min, s.max)
    hi = np.clip(hi, s.min, s.max)
    width = hi - lo
    xs = x[:, None]
    safe = np.where(width > 0, width, 1.0)
    frac = np.where(width > 0, np.clip((xs - lo) / safe, 0.0, 1.0), (xs >= hi).astype(float))
    out: npt.NDArray[np.float64] = (frac * counts).sum(axis=1) / s.count
    return out


def _range(sketches: Sequence[NumericSketch]) -> tuple[float, float] | None:
    live = [s for s in sketches if s.count]
    if not live:
        return None
    lo = min(float(s.quantile(_TAIL)) for s in live)
    hi = max(float(s.quantile(1.0 - _TAIL)) for s in live)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return None
    if hi <= lo:
        pad = max(abs(lo) * 0.05, 0.5)
        lo, hi = lo - pad, hi + pad
    return lo, hi


def numeric_stats(s: NumericSketch) -> dict[str, Any]:
    """Count, null share, moments, extremes and quantiles of one numeric sketch."""
    total = s.total
    out: dict[str, Any] = {
        "count": s.count,
        "nulls": s.nulls + s.nans,
        "null_share": _num((s.nulls + s.nans) / total) if total else None,
        "mean": _num(s.mean) if s.count else None,
        "std": _num(s.std) if s.count > 1 else None,
        "min": _num(s.min) if s.count else None,
        "max": _num(s.max) if s.count else None,
    }
    qs = s.quantile(np.array(QUANTILES)) if s.count else np.full(len(QUANTILES), math.nan)
    for q, v in zip(QUANTILES, qs.tolist(), strict=True):
        out[f"p{round(q * 100):02d}"] = _num(v)
    return out


def numeric_distribution(
    series: Sequence[tuple[str, NumericSketch]], bins: int = 40
) -> dict[str, Any]:
    """Shares of each series on common bins, plus each series' summary numbers."""
    span = _range([s for _, s in series])
    out: dict[str, Any] = {"kind": "numeric", "edges": [], "series": []}
    if span is None:
        out["series"] = [
            {"name": n, "shares": [], "below": 0.0, "above": 0.0, "stats": numeric_stats(s)}
            for n, s in series
        ]
        return out
    edges = np.linspace(span[0], span[1], bins + 1)
    out["edges"] = edges.tolist()
    for name, s in series:
        cdf = _linear_cdf(s, edges)
        shares = np.clip(np.diff(cdf), 0.0, 1.0) if s.count else np.zeros(bins)
        out["series"].append(
            {
                "name": name,
                "shares": shares.tolist(),
                "below": float(cdf[0]) if s.count else 0.0,
                "above": float(1.0 - cdf[-1]) if s.count else 0.0,
                "stats": numeric_stats(s),
            }
        )
    return out


def categorical_distribution(
    series: Sequence[tuple[str, CategoricalSketch]], top: int = 12
) -> dict[str, Any]:
    """Shares of the ``top`` categories (by largest share in any series) and ``(other)``."""
    counts = [(n, s, s.counts()) for n, s in series]
    best: dict[str, float] = {}
    for _, s, c in counts:
        for value, k in c.items():
            share = k / s.count if s.count else 0.0
            best[value] = max(best.get(value, 0.0), share)
    ranked = sorted(best, key=lambda v: (-best[v], v))
    shown = ranked[:top]
    folded = len(ranked) > top or any(s.other for _, s, _ in counts)
    cats = shown + ([OTHER] if folded else [])
    out_series = []
    for name, s, c in counts:
        n = s.count
        shares = [c.get(v, 0) / n if n else 0.0 for v in shown]
        if folded:
            shares.append(max(0.0, 1.0 - sum(shares)) if n else 0.0)
        out_series.append(
            {
                "name": name,
                "shares": shares,
                "stats": {
                    "count": n,
                    "nulls": s.nulls,
                    "null_share": _num(s.nulls / s.total) if s.total else None,
                    "distinct": _num(s.distinct),
                    "exact": s.is_exact,
                },
            }
        )
    return {"kind": "categorical", "categories": cats, "series": out_series}


def distribution(series: Sequence[tuple[str, Sketch]]) -> dict[str, Any]:
    """Numeric or categorical distribution of same-kind sketches (empty when none)."""
    if not series:
        return {"kind": "none", "series": []}
    if all(isinstance(s, NumericSketch) for _, s in series):
        return numeric_distribution([(n, s) for n, s in series if isinstance(s, NumericSketch)])
    cats = [(n, s) for n, s in series if isinstance(s, CategoricalSketch)]
    return categorical_distribution(cats)
