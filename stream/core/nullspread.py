"""The decision metrics and their null spread: which measures decide, and how noisy they are.

A metric's value between a window and its baseline is modelled as

    v = centre(n) + noise,   Var(noise) = τ² + σ²/n_eff,   n_eff = n·m/(n+m)

for a window of ``n`` observations against a baseline of ``m``. Three laws give the
centre (the value expected with no drift):

* ``signed`` (mean shift, null-rate change): centre μ0 ≈ 0, two-sided; σ² is analytic
  (1 for a standardised mean shift, p(1−p) for a share).
* ``distance`` (KS, Jensen–Shannon, L∞): a distance is positive even with no drift,
  centre μ0 + β/√n_eff; β and σ² come from seeded multinomial redraws of the
  reference (:class:`Resampler`), so ties, buckets and bins are accounted for.
* ``share`` (out-of-range, unseen categories): analytic rate r = β/(m+1) (β = 2 for
  out-of-range, Good–Turing f1+1 for new categories). The baseline's own share is
  Beta(β, m+1−β) (for out-of-range exactly: two spacings of m uniforms), so the
  window's count is beta-binomial: Var = r(1−r)/n + r(1−r)/(m+2).

τ² is real between-window variation (daily/weekly cycles); :mod:`.calibrate` estimates it.
:class:`Calibration` holds one metric's fitted law (μ0, β, σ², τ²) and turns it into a
threshold at any window and baseline size.

>>> [r.name for r in RULES["categorical"]]
['js', 'linf', 'null_rate_change', 'unseen']
>>> rule("numeric", "mean_shift").law, rule("numeric", "mean_shift").floor
('signed', 0.1)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias, TypeVar

import numpy as np
import numpy.typing as npt

from stream.core.measures import categorical as cat
from stream.core.measures import numeric as num
from stream.core.measures.confidence import Measure
from stream.core.measures.divergence import js_counts
from stream.core.measures.histogram import Buckets, buckets_cdf, ks_cdf, memo, quantile_bins
from stream.core.measures.redraws import (
    js_redraws,
    js_rows,
    ks_redraws,
    linf_rows,
    redraw_shape_ok,
)
from stream.core.measures.registry import REGISTRY, Law, specs
from stream.core.records import from_builtins, to_builtins
from stream.core.sketch import CategoricalSketch, NumericSketch
from stream.core.vocabulary import KINDS, Kind

__all__ = [
    "RULES",
    "Calibration",
    "Law",
    "MetricRule",
    "Resampler",
    "Sketch",
    "SHAPE_METRICS",
    "decision_measures",
    "resolution_limited",
    "fast_values",
    "finite_or_none",
    "narrow",
    "none_to_nan",
    "rule",
]

Sketch: TypeAlias = NumericSketch | CategoricalSketch
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class MetricRule:
    """A decision metric: its registry name, null law and default practical floor.

    Attributes:
        name: registry short name (``numeric.ks`` → ``ks``).
        law: how its no-drift centre and spread scale with sample size.
        floor: smallest effect worth an alert by default; a FeatureSpec threshold
            override replaces it.
    """

    name: str
    law: Law
    floor: float


RULES: Mapping[Kind, tuple[MetricRule, ...]] = {
    kind: tuple(MetricRule(s.name, s.law, s.floor) for s in specs(kind) if s.law is not None)
    for kind in KINDS
}
"""Decision metrics per kind: the registry rows that have a null law, in table order
(the one measure table is :data:`stream.core.measures.registry.REGISTRY`)."""


def finite_or_none(x: float) -> float | None:
    """x, or None when not finite (JSON has no NaN)."""
    return float(x) if math.isfinite(x) else None


def none_to_nan(x: Any) -> float:
    """Inverse of :func:`finite_or_none` (None → nan)."""
    return math.nan if x is None else float(x)


@dataclass(frozen=True, slots=True)
class Calibration:
    """The null spread of one metric for one feature, scale and baseline.

    Attributes:
        metric: registry short name.
        law: ``signed``, ``distance`` or ``share`` (see :mod:`.nullspread`).
        mu0: between-window centre excess (0 without real variation).
        beta: sampling bias: distance centre β/√n_eff; share rate β/(m+1).
        sigma2: per-observation sampling variance (Var = σ²/n_eff).
        tau2: real between-window variance; 0 unless Cochran's Q says it is real.
        q: Cochran's Q over the reference windows (nan when not computed).
        q_df: its degrees of freedom.
        q_p: its p-value.
        n_windows: reference windows (or window pairs) used.
        n_ref: default baseline size m (the reference's) for :meth:`threshold`.
        draws: multinomial redraws behind β and σ² (0 when analytic).
        method: how it was obtained, for dashboards.
    """

    metric: str
    law: Law
    mu0: float
    beta: float
    sigma2: float
    tau2: float = 0.0
    q: float = math.nan
    q_df: int = 0
    q_p: float = math.nan
    n_windows: int = 0
    n_ref: int = 0
    draws: int = 0
    method: str = ""

    def _sizes(self, n: float, n_base: float | None) -> tuple[float, float]:
        m = float(self.n_ref if n_base is None else n_base)
        if n <= 0 or m <= 0:
            return math.nan, m
        return n * m / (n + m), m

    def centre(self, n: float, n_base: float | None = None) -> float:
        """Expected value with no drift for a window of n against a baseline of n_base."""
        n_eff, m = self._sizes(n, n_base)
        if self.law == "signed":
            return self.mu0
        if self.law == "share":
            return self.mu0 + self.beta / (m + 1.0)
        return self.mu0 + self.beta / math.sqrt(n_eff)

    def spread(self, n: float, n_base: float | None = None) -> float:
        """Standard deviation with no drift, sqrt(τ² + σ²/n_eff)."""
        n_eff, m = self._sizes(n, n_base)
        if self.law == "share":
            if not n > 0:
                return math.nan
            # The baseline's own share is random too, Beta(β, m+1−β): a window compared
            # with a small baseline (last week's hour) sees far more spread than n alone.
            r = min(1.0, self.beta / (m + 1.0))
            return math.sqrt(self.tau2 + r * (1 - r) / n + r * (1 - r) / (m + 2.0))
        return math.sqrt(self.tau2 + self.sigma2 / n_eff)

    def threshold(self, n: float, z: float, n_base: float | None = None) -> float:
        """Value exceeded by chance with probability ≈ Φ(−z): centre + z·spread.

        Signed metrics are compared by magnitude: the bound is on |v|.

        >>> c = Calibration("mean_shift", "signed", mu0=0.0, beta=0.0, sigma2=1.0, n_ref=10_000)
        >>> round(c.threshold(1_500, 4.0), 4)
        0.1108
        """
        centre = abs(self.centre(n, n_base)) if self.law == "signed" else self.centre(n, n_base)
        return centre + z * self.spread(n, n_base)

    def score(self, value: float, n: float, n_base: float | None = None) -> float:
        """Standardised value (v − centre)/spread; signed metrics keep their sign."""
        s = self.spread(n, n_base)
        if not (s > 0) or math.isnan(value):
            return math.nan if math.isnan(value) else math.copysign(math.inf, value)
        return (value - self.centre(n, n_base)) / s

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form: every field, non-finite numbers as null (``records``)."""
        return to_builtins(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Calibration:
        """Inverse of :meth:`to_dict`; an unknown ``law`` is a ValueError."""
        return from_builtins(d, cls)


_BY_NAME = {(k, r.name): r for k, rs in RULES.items() for r in rs}


def rule(kind: Kind, name: str) -> MetricRule:
    """The decision rule of metric ``name`` (KeyError for a non-decision metric)."""
    return _BY_NAME[(kind, name)]


SHAPE_METRICS: tuple[str, ...] = ("ks", "js", "out_of_range")
"""Numeric metrics read from the bucket shape (not from the exact moments)."""


def resolution_limited(s: NumericSketch) -> bool:
    """Whether a log bucket at the median is wider than the standard deviation.

    A feature whose spread is far below its magnitude (CV < ~2α) falls into a few
    buckets; its KS, JS and out-of-range values are then artefacts of where the
    bucket edges and the exact min/max fall, and page on a stationary stream. Its
    exact moments still are exact: such features are judged on mean shift and
    null rate only.

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> resolution_limited(NumericSketch.zero().update(rng.normal(370, 1, 2000)))
    True
    >>> resolution_limited(NumericSketch.zero().update(rng.normal(10, 1, 2000)))
    False
    """
    if s.count < 2:
        return False

    def limited() -> bool:
        sd = s.std
        a = s.relative_accuracy
        width = abs(_median(s)) * 2 * a / (1 - a)
        return bool(sd > 0 and width > sd)

    return memo(s, "resolution_limited", limited)


def _median(s: NumericSketch) -> float:
    """``s.quantile(0.5)`` read from the sketch's memoised buckets (no key pass of its own)."""
    n = s.count
    rank = math.floor(0.5 * (n - 1))
    if rank <= 0:
        return float(s.min)
    if rank >= n - 1:
        return float(s.max)
    b = Buckets.of(s)
    idx = int(np.searchsorted(np.cumsum(b.counts), rank, side="right"))
    value = float(s.bucket_value(b.keys[idx : idx + 1])[0])
    return min(max(value, float(s.min)), float(s.max))


def decision_measures(
    ref: Sketch, win: Sketch, kind: Kind, *, extra: Sequence[str] = ()
) -> dict[str, Measure]:
    """The decision metrics (plus ``extra`` registry names) between two sketches.

    Cheaper than ``compute_all``: no Wasserstein resampling, no quantile shifts.

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> ref = NumericSketch.zero().update(rng.normal(0, 1, 5000))
    >>> win = NumericSketch.zero().update(rng.normal(1, 1, 500))
    >>> ms = decision_measures(ref, win, "numeric", extra=["psi"])
    >>> sorted(ms), round(ms["mean_shift"].value, 1)
    (['js', 'ks', 'mean_shift', 'null_rate_change', 'out_of_range', 'psi'], 1.0)
    """
    names = [r.name for r in RULES[kind]] + [e for e in extra if (kind, e) not in _BY_NAME]
    if kind == "numeric":
        npair = num.NumericPair(narrow(ref, NumericSketch), narrow(win, NumericSketch))
        return {n: REGISTRY[f"numeric.{n}"].fn(npair) for n in names}
    cpair = cat.CategoricalPair.of(narrow(ref, CategoricalSketch), narrow(win, CategoricalSketch))
    return {n: REGISTRY[f"categorical.{n}"].fn(cpair) for n in names}


def fast_values(
    ref: Sketch, win: Sketch, kind: Kind, names: Sequence[str] | None = None
) -> dict[str, Measure]:
    """Decision metric values for calibration: same values and sizes, no p-values.

    The p-values (Kolmogorov, t, binomial) cost more than the values themselves, and
    calibration compares thousands of windows; it needs values and sample sizes only.
    """
    wanted = [r.name for r in RULES[kind]] if names is None else list(names)
    if kind == "categorical":
        cpair = cat.CategoricalPair.of(
            narrow(ref, CategoricalSketch), narrow(win, CategoricalSketch)
        )
        return {n: REGISTRY[f"categorical.{n}"].fn(cpair) for n in wanted}
    pair = num.NumericPair(narrow(ref, NumericSketch), narrow(win, NumericSketch))
    r, w = pair.ref, pair.win
    out: dict[str, Measure] = {}
    for n in wanted:
        if n in ("ks", "js", "mean_shift"):
            if pair.empty:
                v = math.nan
            elif n == "ks":
                v = ks_cdf(pair.ref_cdf, pair.win_cdf)
            elif n == "js":
                v = js_counts(pair.bins.ref, pair.bins.win)
            else:
                sd = math.sqrt(max(r.variance, 0.0))
                d = w.mean - r.mean
                v = d / sd if sd > 0 else (0.0 if d == 0 else math.copysign(math.inf, d))
            out[n] = Measure(n, v, n_ref=pair.n_ref, n_win=pair.n_win)
        elif n == "null_rate_change":
            nr, nw = r.total, w.total
            v = (w.nulls + w.nans) / nw - (r.nulls + r.nans) / nr if nr and nw else math.nan
            out[n] = Measure(n, v, n_ref=nr, n_win=nw)
        else:
            out[n] = REGISTRY[f"numeric.{n}"].fn(pair)
    return out


_S = TypeVar("_S", NumericSketch, CategoricalSketch)


def narrow(s: Sketch, cls: type[_S]) -> _S:
    """``s`` as a ``cls``; a TypeError names both when a feature's sketch is the wrong kind."""
    if not isinstance(s, cls):
        msg = f"expected a {cls.__name__}, got {type(s).__name__}"
        raise TypeError(msg)
    return s


class Resampler:
    """Seeded multinomial windows drawn from a reference sketch ("no drift" by construction).

    Numeric values are redrawn at their bucket representatives, so the comparison
    baseline is the reference rebuilt the same way (:attr:`base`): both sides share
    one discretisation and a mean shift of redrawn data is not biased by it.
    Categorical "other" mass becomes one category; nulls, NaN and type errors one
    missing cell.

    >>> import numpy as np
    >>> ref = CategoricalSketch.zero().update(["a"] * 60 + ["b"] * 40)
    >>> rs = Resampler(ref, "categorical")
    >>> w = rs.draw(50, np.random.default_rng(0))
    >>> w.total, sorted(w.counts())
    (50, ['a', 'b'])
    """

    def __init__(self, ref: Sketch, kind: Kind) -> None:
        self.kind = kind
        self._ref = ref
        if kind == "numeric":
            r = narrow(ref, NumericSketch)
            keys, counts = r.signed_keys()
            values = np.asarray(r.bucket_value(np.asarray(keys)), dtype=np.float64)
            self._values = np.concatenate((values, [math.inf, -math.inf]))
            cells = [np.asarray(counts, np.int64), [r.pos_inf, r.neg_inf], [r.nulls + r.nans]]
        else:
            c = narrow(ref, CategoricalSketch)
            kept = c.counts()
            labels = list(kept) + ([cat.OTHER] if c.other else [])
            self._labels = np.asarray(labels, dtype=object)
            cells = [list(kept.values()), [c.other] if c.other else [], [c.nulls + c.type_errors]]
        self._counts = np.concatenate([np.asarray(x, dtype=np.int64) for x in cells])
        total = int(self._counts.sum())
        self._p = self._counts / total if total else self._counts.astype(np.float64)
        self.base = self._build(self._counts)
        """The reference rebuilt from its cells: the baseline redrawn windows compare with."""

    @property
    def total(self) -> int:
        """Observations in the reference (nulls included)."""
        return int(self._counts.sum())

    @property
    def missing_share(self) -> float:
        """Share of missing observations (nulls, NaN, type errors) in the reference."""
        return float(self._p[-1]) if self.total else 0.0

    def _build(self, counts: npt.NDArray[np.int64]) -> Sketch:
        missing = int(counts[-1])
        if self.kind == "numeric":
            r = narrow(self._ref, NumericSketch)
            s = NumericSketch.zero(r.relative_accuracy, r.max_buckets)
            return s.update(np.repeat(self._values, counts[:-1]), nulls=missing)
        c = CategoricalSketch.zero(narrow(self._ref, CategoricalSketch).max_exact)
        drawn = {
            label: n
            for label, n in zip(self._labels.tolist(), counts[:-1].tolist(), strict=True)
            if n
        }
        return c.update_counts(drawn, nulls=missing)

    def draw(self, n: int, rng: np.random.Generator) -> Sketch:
        """One window of ``n`` observations drawn with replacement from the reference."""
        if self.total == 0:
            return self._build(self._counts)
        return self._build(rng.multinomial(n, self._p).astype(np.int64))

    def scaled_distances(
        self, names: Sequence[str], n: int, draws: int, rng: np.random.Generator
    ) -> dict[str, list[float]] | None:
        """``value·√n_win`` of the numeric distances over ``draws`` redrawn windows of size n.

        The same numbers as ``fast_values(base, draw(n, rng))`` draw by draw (same rng
        use, same buckets, CDFs and bins), without building a sketch per draw: a
        redrawn window holds the base's bucket representatives, so its buckets are a
        subset of the base's and its min/max the representatives of its outer buckets.
        All draws are judged at once (``measures/redraws.py``); categories likewise
        (JS, L∞) while every reference category is exact. None when no shortcut holds
        (collapsed buckets, categories beyond the exact cap, an empty reference).
        """
        if self.kind == "categorical" and self.total and not set(names) - {"js", "linf"}:
            return self._categorical_distances(names, n, draws, rng)
        if self.kind != "numeric" or self.total == 0 or set(names) - {"ks", "js"}:
            return None
        base = narrow(self.base, NumericSketch)
        bb = Buckets.of(base)
        k = bb.keys.size
        collapsed = ((bb.keys > 0) & (bb.lower == 0)) | ((bb.keys < 0) & (bb.upper == 0))
        if k != self._counts.size - 3 or collapsed.any() or base.count == 0:
            return None
        keys, _ = narrow(self._ref, NumericSketch).signed_keys()
        if not np.array_equal(np.asarray(keys, np.int64), bb.keys):
            return None
        same = num.NumericPair(base, base)
        base_cdf, n_bins = same.ref_cdf, same.n_bins
        values = self._values[:k]
        if redraw_shape_ok(bb, values):
            # All draws at once (one multinomial call draws the same stream as a loop).
            c = rng.multinomial(n, self._p, size=draws).astype(np.int64)[:, :k]
            c = c[c.sum(axis=1) > 0]
            root = np.sqrt(c.sum(axis=1).astype(np.float64))
            if c.shape[0] == 0:
                return {m: [] for m in names}
            found = {
                "ks": lambda: ks_redraws(bb, values, base_cdf, c),
                "js": lambda: js_redraws(bb, c, n_bins),
            }
            return {m: (found[m]() * root).tolist() for m in names}
        out: dict[str, list[float]] = {m: [] for m in names}
        for _ in range(draws):
            c = rng.multinomial(n, self._p).astype(np.int64)[:k]
            nz = c > 0
            n_win = int(c.sum())
            if n_win == 0:
                continue
            win = Buckets(bb.keys[nz], bb.lower[nz], bb.upper[nz], c[nz])
            v = values[nz]
            root = math.sqrt(n_win)
            if "ks" in out:
                cdf = buckets_cdf(win, float(v[0]), float(v[-1]))
                out["ks"].append(ks_cdf(base_cdf, cdf) * root)
            if "js" in out:
                bins = quantile_bins(bb, win, n_bins)
                out["js"].append(js_counts(bins.ref, bins.win) * root)
        return out

    def _categorical_distances(
        self, names: Sequence[str], n: int, draws: int, rng: np.random.Generator
    ) -> dict[str, list[float]] | None:
        """:meth:`scaled_distances` of categories: every draw's categories are the base's.

        Only for a reference with every category exact (no "other" mass), where
        ``CategoricalPair.of`` aligns the two sides on the base's labels in name order.
        """
        c = narrow(self._ref, CategoricalSketch)
        valid = self._counts[:-1]
        if c.other or not c.is_exact or not valid.sum() or len(self._labels) > c.max_exact:
            return None
        order = np.asarray(sorted(range(valid.size), key=lambda i: str(self._labels[i])))
        p = valid[order].astype(np.float64)
        q = rng.multinomial(n, self._p, size=draws)[:, :-1][:, order].astype(np.float64)
        n_win = q.sum(axis=1)
        q = q[n_win > 0]
        root = np.sqrt(n_win[n_win > 0])
        if q.shape[0] == 0:
            return {m: [] for m in names}
        found = {"js": lambda: js_rows(p, q), "linf": lambda: linf_rows(p, q)}
        return {m: (found[m]() * root).tolist() for m in names}

    def singletons(self) -> int:
        """Categories seen exactly once in the reference (Good–Turing's f1)."""
        if self.kind == "numeric":
            return 0
        return int(np.count_nonzero(self._counts[:-1] == 1))
