"""The one table of drift measures: what each means, its range, and how to read it.

The decision layer iterates :data:`REGISTRY` (or :func:`specs`) instead of
knowing measures by name; :func:`compute_all` runs every measure of a kind on
one reference/window pair, sharing the aligned CDFs and bins between them.

A row with a ``law`` is a *decision* metric: it is calibrated and can page by
default, against its ``floor`` (the smallest effect worth an alert, replaced by a
FeatureSpec threshold override). ``stream.core.nullspread.RULES`` is the view of
those rows, in table order; the others are reported and usable as overrides.

>>> [s.name for s in specs("categorical")][:3]
['js', 'linf', 'psi']
>>> REGISTRY["numeric.ks"].definition
'sup |F_w − F_r| over finite values'
>>> [s.name for s in specs("categorical") if s.law]
['js', 'linf', 'null_rate_change', 'unseen']
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, Generic, Literal, TypeVar, cast, overload

from stream.core.measures import categorical as cat
from stream.core.measures import numeric as num
from stream.core.measures.confidence import Measure
from stream.core.vocabulary import Kind

__all__ = ["REGISTRY", "Direction", "Law", "MeasureSpec", "compute_all", "specs"]

Direction = Literal["higher", "abs"]
"""``higher``: larger values mean more drift; ``abs``: signed, |value| is the drift."""
Law = Literal["signed", "distance", "share"]
"""How a decision metric's no-drift centre and spread scale with sample size
(:mod:`stream.core.nullspread`)."""
P = TypeVar("P")
INF = math.inf


@dataclass(frozen=True)
class MeasureSpec(Generic[P]):
    """One registry row.

    Attributes:
        name: short name, the key in :func:`compute_all`'s result.
        kind: feature kind it applies to.
        fn: computes the measure from an aligned pair.
        low: smallest possible value.
        high: largest possible value.
        direction: how to read the value as drift.
        definition: one line, for dashboards and alert descriptions.
        law: null law of a decision metric; None for a reported-only measure.
        floor: a decision metric's default practical floor (nan when not deciding).
    """

    name: str
    kind: Kind
    fn: Callable[[P], Measure]
    low: float
    high: float
    direction: Direction
    definition: str
    law: Law | None = None
    floor: float = math.nan

    @property
    def key(self) -> str:
        """Registry key, ``kind.name``."""
        return f"{self.kind}.{self.name}"


def _n(
    name: str,
    fn: Callable[[num.NumericPair], Measure],
    low: float,
    high: float,
    direction: Direction,
    definition: str,
    decides: tuple[Law, float] | None = None,
) -> MeasureSpec[num.NumericPair]:
    law, floor = decides or (None, math.nan)
    return MeasureSpec(name, "numeric", fn, low, high, direction, definition, law, floor)


def _c(
    name: str,
    fn: Callable[[cat.CategoricalPair], Measure],
    low: float,
    high: float,
    direction: Direction,
    definition: str,
    decides: tuple[Law, float] | None = None,
) -> MeasureSpec[cat.CategoricalPair]:
    law, floor = decides or (None, math.nan)
    return MeasureSpec(name, "categorical", fn, low, high, direction, definition, law, floor)


# Decision floors: KS/JS 0.05 ≈ a 0.12σ location shift; 0.1σ mean shift (half of Cohen's
# "small"); 2 points of nulls; 1% of the window outside the reference range. L∞ 0.03:
# three points of share in the most-moved category, so the seed's 1.3-point change on
# 65k rows is below it; 1% of the window in new categories. PSI does not decide on
# purpose: its null mean and spread shrink as 1/n, not 1/√n, so it does not fit the
# variance model; it remains usable as an override (e.g. ``psi = 0.2``), decided on its
# own p-value. The order of decision rows is the calibration order (seeded redraws).
_DISTANCE: Law = "distance"
_SIGNED: Law = "signed"
_SHARE: Law = "share"
_NUMERIC: tuple[MeasureSpec[num.NumericPair], ...] = (
    _n(
        "ks",
        num.ks_distance,
        0,
        1,
        "higher",
        "sup |F_w − F_r| over finite values",
        (_DISTANCE, 0.05),
    ),
    _n("wasserstein", num.wasserstein, 0, INF, "higher", "∫|F_w − F_r| dx, value units"),
    _n(
        "wasserstein_norm",
        num.wasserstein_norm,
        0,
        INF,
        "higher",
        "Wasserstein-1 over reference IQR/1.349 (std if IQR = 0)",
    ),
    _n("psi", num.psi, 0, INF, "higher", "Σ(w−r)·ln(w/r) on reference-decile bins"),
    _n(
        "js",
        num.js_distance,
        0,
        1,
        "higher",
        "Jensen–Shannon distance, base 2, decile bins",
        (_DISTANCE, 0.05),
    ),
    _n("hellinger", num.hellinger, 0, 1, "higher", "√(1 − Σ√(r·w)) on decile bins"),
    _n("mean_shift", num.mean_shift, -INF, INF, "abs", "(μw − μr)/σr", (_SIGNED, 0.1)),
    *(
        _n(
            f"q{round(q * 100):02d}_shift",
            partial(num.quantile_shift, q=q),
            -INF,
            INF,
            "abs",
            f"(Qw({q}) − Qr({q})) over reference IQR/1.349",
        )
        for q in num.QUANTILES
    ),
    _n(
        "null_rate_change",
        num.null_rate_change,
        -1,
        1,
        "abs",
        "window − reference share of null + NaN",
        (_SIGNED, 0.02),
    ),
    _n(
        "out_of_range",
        num.out_of_range,
        0,
        1,
        "higher",
        "window share outside reference [min, max], ±inf included",
        (_SHARE, 0.01),
    ),
)

_CATEGORICAL: tuple[MeasureSpec[cat.CategoricalPair], ...] = (
    _c(
        "js",
        cat.js_distance,
        0,
        1,
        "higher",
        "Jensen–Shannon distance of shares, base 2",
        (_DISTANCE, 0.05),
    ),
    _c(
        "linf",
        cat.linf,
        0,
        1,
        "higher",
        "max over categories of |share change| (TFDV)",
        (_DISTANCE, 0.03),
    ),
    _c("psi", cat.psi, 0, INF, "higher", "Σ(w−r)·ln(w/r) over category shares"),
    _c("chi2", cat.chi_square, 0, INF, "higher", "Pearson χ² of the 2×K table (Yates if 2×2)"),
    _c("cramers_v", cat.cramers_v, 0, 1, "higher", "√(χ²/N), the effect size of χ²"),
    _c(
        "null_rate_change",
        cat.null_rate_change,
        -1,
        1,
        "abs",
        "window − reference share of null + type errors",
        (_SIGNED, 0.02),
    ),
    _c(
        "unseen",
        cat.unseen,
        0,
        1,
        "higher",
        "window share of categories new vs reference",
        (_SHARE, 0.01),
    ),
    _c("vanished", cat.vanished, 0, 1, "higher", "reference share of categories gone"),
    _c(
        "p_share_moved",
        cat.p_share_moved,
        0,
        1,
        "higher",
        "posterior P(some share moved > 1 point)",
    ),
)

_ALL: tuple[MeasureSpec[Any], ...] = (*_NUMERIC, *_CATEGORICAL)
REGISTRY: Mapping[str, MeasureSpec[Any]] = {s.key: s for s in _ALL}
"""All measures, keyed ``kind.name`` (e.g. ``numeric.ks``)."""


@overload
def specs(kind: Literal["numeric"]) -> tuple[MeasureSpec[num.NumericPair], ...]: ...
@overload
def specs(kind: Literal["categorical"]) -> tuple[MeasureSpec[cat.CategoricalPair], ...]: ...
def specs(kind: Kind) -> tuple[MeasureSpec[Any], ...]:
    """The registry rows for one feature kind, in report order."""
    return _NUMERIC if kind == "numeric" else _CATEGORICAL


@overload
def compute_all(
    ref: num.NumericSummary, win: num.NumericSummary, kind: Literal["numeric"], *, bins: int = 10
) -> dict[str, Measure]: ...
@overload
def compute_all(
    ref: cat.CategoricalSummary,
    win: cat.CategoricalSummary,
    kind: Literal["categorical"],
    *,
    bins: int = 10,
) -> dict[str, Measure]: ...
def compute_all(ref: object, win: object, kind: Kind, *, bins: int = 10) -> dict[str, Measure]:
    """Every measure of ``kind`` between two sketches, keyed by short name; nan, never raises.

    Empty sides give nan values; only mismatched sketches (different bucket
    layouts) raise, since that is a programming error, not data.
    """
    if kind == "numeric":
        npair = num.NumericPair(
            cast(num.NumericSummary, ref), cast(num.NumericSummary, win), bins=bins
        )
        return {s.name: s.fn(npair) for s in _NUMERIC}
    cpair = cat.CategoricalPair.of(
        cast(cat.CategoricalSummary, ref), cast(cat.CategoricalSummary, win)
    )
    return {s.name: s.fn(cpair) for s in _CATEGORICAL}
