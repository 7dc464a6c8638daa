"""Numeric drift measures between a reference sketch and a window sketch.

Distribution measures use finite values only; nulls and NaNs enter through
:func:`null_rate_change`, ±inf through :func:`out_of_range`.

How a sketch becomes a distribution (piecewise-linear CDF, exact at bucket
bounds; reference-quantile bins) is in :mod:`.histogram`. Consequences:

- KS is the largest CDF gap over the union of knots (exact at bucket bounds;
  the true sup can only differ inside a bucket by that bucket's mass change).
- Wasserstein-1 integrates |F_r − F_w| exactly for the piecewise-linear CDFs.
  Moving a value anywhere inside its bucket moves it by at most 2α/(1−α)·|x|,
  so |W1(sketch) − W1(raw)| ≤ 2α/(1−α)·(E_r|X| + E_w|X|); observed errors
  are far below that bound.
- PSI, Jensen–Shannon and Hellinger use ``bins`` (default 10) reference-
  quantile bins whose edges are snapped to bucket bounds, so bin counts are
  exact sums of bucket counts; each edge goes to the bucket bound whose
  reference CDF is nearest the target quantile. Bins are right-closed:
  (−∞, e1], (e1, e2], …, (e_last, ∞).

Scale for normalised shifts (Wasserstein, quantiles): the reference IQR/1.349
(the standard deviation for a normal, robust to heavy tails), falling back to
the reference standard deviation when the IQR is 0 (integer or spiky data).
"""

from __future__ import annotations

import math
from functools import cached_property
from typing import Protocol

import numpy as np
import numpy.typing as npt
from scipy import special

from stream.core.measures.confidence import (
    LEVEL,
    Measure,
    before_after,
    chi2_null,
    dkw_halfwidth,
    ks_pvalue,
    multinomial_null,
    n_eff,
    nan_measure,
    resampled_pvalue,
    two_proportions,
    welch,
    wilson,
)
from stream.core.measures.divergence import hellinger_counts, js_counts, psi_counts
from stream.core.measures.histogram import (
    Buckets,
    BucketSource,
    PiecewiseCdf,
    QuantileBins,
    buckets_cdf,
    harmonise,
    ks_cdf,
    memo,
    quantile_bins,
    wasserstein_cdf,
)
from stream.core.measures.tails import binom_sf, norm_sf
from stream.core.sketch import NumericSketch

__all__ = [
    "QUANTILES",
    "NumericPair",
    "NumericSummary",
    "hellinger",
    "js_distance",
    "ks_distance",
    "mean_shift",
    "null_rate_change",
    "out_of_range",
    "psi",
    "quantile_shift",
    "wasserstein",
    "wasserstein_norm",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
"""Quantiles whose shifts the registry reports."""
_KOLMOGOROV_MEAN = math.sqrt(math.pi / 2) * math.log(2)  # E[sup|B(t)|] for a Brownian bridge
_IQR_TO_SD = 1.3489795003921634  # IQR of the standard normal
_Z = float(special.ndtri(0.5 + LEVEL / 2))  # = stats.norm.ppf (scipy.stats not imported)
_NULL_DRAWS = 200


class NumericSummary(BucketSource, Protocol):
    """What the measures read from a numeric sketch (``NumericSketch`` satisfies it)."""

    @property
    def total(self) -> int:
        """All observations, including nulls, NaN and ±inf."""

    @property
    def count(self) -> int:
        """Finite values."""

    @property
    def nulls(self) -> int:
        """Null observations."""

    @property
    def nans(self) -> int:
        """NaN values."""

    @property
    def pos_inf(self) -> int:
        """+inf values."""

    @property
    def neg_inf(self) -> int:
        """−inf values."""

    @property
    def min(self) -> float:
        """Smallest finite value."""

    @property
    def max(self) -> float:
        """Largest finite value."""

    @property
    def mean(self) -> float:
        """Mean of the finite values."""

    @property
    def variance(self) -> float:
        """Population variance of the finite values."""

    @property
    def relative_accuracy(self) -> float:
        """α of the bucket mapping; only sketches with equal α are comparable."""


class NumericPair:
    """A reference and a window sketch, with their CDFs and bins computed once.

    Args:
        ref: the reference summary.
        win: the window summary.
        bins: number of reference-quantile bins for PSI / JS / Hellinger.
        seed: seed of the resampled null (Wasserstein p-values).
    """

    def __init__(
        self, ref: NumericSummary, win: NumericSummary, *, bins: int = 10, seed: int = 0
    ) -> None:
        if ref.relative_accuracy != win.relative_accuracy:
            msg = (
                f"sketches of different relative accuracy ({ref.relative_accuracy} vs "
                f"{win.relative_accuracy}) have different buckets: compare equal ones"
            )
            raise ValueError(msg)
        self.ref = ref
        self.win = win
        self.n_bins = bins
        self.seed = seed

    @classmethod
    def from_values(
        cls,
        ref: npt.ArrayLike,
        win: npt.ArrayLike,
        *,
        relative_accuracy: float = 0.01,
        bins: int = 10,
    ) -> NumericPair:
        """Sketch two arrays of raw values and pair them (tests, notebooks, examples).

        >>> pair = NumericPair.from_values([1.0, 2.0, np.nan], [2.0, 3.0])
        >>> pair.n_ref, pair.n_win, pair.ref.nans
        (2, 2, 1)
        """
        r = NumericSketch.zero(relative_accuracy).update(np.asarray(ref, np.float64))
        w = NumericSketch.zero(relative_accuracy).update(np.asarray(win, np.float64))
        return cls(r, w, bins=bins)

    @cached_property
    def buckets(self) -> tuple[Buckets, Buckets]:
        """Both sketches' buckets, with collapsed low tails folded alike."""
        return harmonise(Buckets.of(self.ref), Buckets.of(self.win))

    @cached_property
    def ref_cdf(self) -> PiecewiseCdf:
        """Reference CDF of finite values (built once per reference state when unfolded)."""
        b = self.buckets[0]
        if b is Buckets.of(self.ref):  # harmonise left it as is: the same for every window
            return memo(self.ref, "cdf", lambda: _cdf(self.ref, b))
        return _cdf(self.ref, b)

    @cached_property
    def win_cdf(self) -> PiecewiseCdf:
        """Window CDF of finite values, memoised like :attr:`ref_cdf`.

        This hour's window is the next hour's ``previous`` baseline.
        """
        b = self.buckets[1]
        if b is Buckets.of(self.win):
            return memo(self.win, "cdf", lambda: _cdf(self.win, b))
        return _cdf(self.win, b)

    @cached_property
    def bins(self) -> QuantileBins:
        """Reference-quantile bins with exact counts from both sketches."""
        return quantile_bins(*self.buckets, self.n_bins)

    @cached_property
    def scale(self) -> float:
        """Reference spread: IQR/1.349, or the std when the IQR is 0."""
        iqr = self.ref_cdf.quantile(0.75) - self.ref_cdf.quantile(0.25)
        return iqr / _IQR_TO_SD if iqr > 0 else math.sqrt(max(self.ref.variance, 0.0))

    @cached_property
    def wasserstein_null(self) -> FloatArray:
        """W1 between multinomial redraws of the reference buckets at sizes (n, m)."""
        _, lo, up, c = self.buckets[0]
        keep = c > 0
        mid = np.clip(0.5 * (lo[keep] + up[keep]), self.ref.min, self.ref.max)
        step = np.diff(mid)

        def w1(a: FloatArray, b: FloatArray) -> FloatArray:
            fa = np.cumsum(a, axis=1) / a.sum(axis=1, keepdims=True)
            fb = np.cumsum(b, axis=1) / b.sum(axis=1, keepdims=True)
            return np.asarray(np.abs(fa - fb)[:, :-1] @ step, dtype=np.float64)

        p = c[keep].astype(np.float64)
        return multinomial_null(p, self.n_ref, self.n_win, w1, draws=_NULL_DRAWS, seed=self.seed)

    @property
    def n_ref(self) -> int:
        """Finite reference values."""
        return int(self.ref.count)

    @property
    def n_win(self) -> int:
        """Finite window values."""
        return int(self.win.count)

    @property
    def empty(self) -> bool:
        """Either side has no finite value: distribution measures are nan."""
        return self.n_ref == 0 or self.n_win == 0


def _cdf(s: NumericSummary, b: Buckets) -> PiecewiseCdf:
    if s.count == 0:
        return PiecewiseCdf(np.zeros(0), np.zeros(0), 0)
    return buckets_cdf(b, float(s.min), float(s.max))


def _ratio(num: float, den: float) -> float:
    """num/den where a zero spread makes any change infinite and no change 0."""
    if math.isnan(num) or math.isnan(den):
        return math.nan
    if den > 0:
        return num / den
    return 0.0 if num == 0 else math.copysign(math.inf, num)


def _m(pair: NumericPair, name: str, value: float, **kw: float | str) -> Measure:
    p = float(kw.get("p_value", math.nan))
    lo, hi = float(kw.get("ci_low", math.nan)), float(kw.get("ci_high", math.nan))
    null, method = float(kw.get("null_mean", math.nan)), str(kw.get("method", ""))
    return Measure(name, value, p, lo, hi, pair.n_ref, pair.n_win, null, method)


def ks_distance(pair: NumericPair) -> Measure:
    """Kolmogorov–Smirnov distance, sup |F_w − F_r|; in [0, 1], 0 = same distribution.

    p-value: Kolmogorov distribution at n_eff = n·m/(n+m); interval: two DKW
    bands (2.5% each), simultaneous 95%; null_mean ≈ 0.87/√n_eff.

    >>> rng = np.random.default_rng(0)
    >>> pair = NumericPair.from_values(rng.normal(0, 1, 20_000), rng.normal(0.3, 1, 2_000))
    >>> m = ks_distance(pair)
    >>> round(m.value, 3), m.p_value < 1e-6, round(m.ci_low, 2), round(m.ci_high, 2)
    (0.119, True, 0.08, 0.16)
    """
    if pair.empty:
        return nan_measure("ks", pair.n_ref, pair.n_win, "empty side")
    return ks_measure(ks_cdf(pair.ref_cdf, pair.win_cdf), pair.n_ref, pair.n_win)


def ks_measure(d: float, n_ref: int, n_win: int) -> Measure:
    """The KS :class:`Measure` of a distance ``d`` between ``n_ref`` and ``n_win`` values (> 0)."""
    e = dkw_halfwidth(n_ref, 0.025) + dkw_halfwidth(n_win, 0.025)
    null = _KOLMOGOROV_MEAN / math.sqrt(n_eff(n_ref, n_win))
    p = ks_pvalue(d, n_ref, n_win)
    lo, hi = max(0.0, d - e), min(1.0, d + e)
    return Measure("ks", d, p, lo, hi, n_ref, n_win, null, "kstwo asymptotic; DKW interval")


def wasserstein(pair: NumericPair) -> Measure:
    """Wasserstein-1 (earth mover's) distance, ∫|F_w − F_r| dx; ≥ 0, in value units.

    p-value: 200 seeded multinomial redraws of the reference buckets at (n, m),
    so it cannot go below 1/201; null_mean is the redraws' mean.

    >>> rng = np.random.default_rng(0)
    >>> pair = NumericPair.from_values(rng.normal(0, 1, 20_000), rng.normal(0.3, 1, 2_000))
    >>> m = wasserstein(pair)
    >>> round(m.value, 3), m.p_value < 0.01, round(m.null_mean, 3)
    (0.286, True, 0.031)
    """
    if pair.empty:
        return nan_measure("wasserstein", pair.n_ref, pair.n_win, "empty side")
    v = wasserstein_cdf(pair.ref_cdf, pair.win_cdf)
    null = pair.wasserstein_null
    return _m(
        pair,
        "wasserstein",
        v,
        p_value=resampled_pvalue(v, null),
        null_mean=float(null.mean()),
        method="multinomial resampling of the reference",
    )


def wasserstein_norm(pair: NumericPair) -> Measure:
    """Wasserstein-1 over the reference scale (IQR/1.349, else std); ≥ 0, 0.1 ≈ 0.1σ shift.

    >>> rng = np.random.default_rng(0)
    >>> pair = NumericPair.from_values(rng.normal(0, 1, 20_000), rng.normal(0.3, 1, 2_000))
    >>> round(wasserstein_norm(pair).value, 3)
    0.285
    """
    if pair.empty:
        return nan_measure("wasserstein_norm", pair.n_ref, pair.n_win, "empty side")
    raw = wasserstein(pair)
    return _m(
        pair,
        "wasserstein_norm",
        _ratio(raw.value, pair.scale),
        p_value=raw.p_value,
        null_mean=_ratio(raw.null_mean, pair.scale),
        method=raw.method,
    )


def _binned(pair: NumericPair, name: str) -> Measure:
    if pair.empty:
        return nan_measure(name, pair.n_ref, pair.n_win, "empty side")
    b = pair.bins
    if name == "psi":
        v = psi_counts(b.ref, b.win)
        scaled, to_value = v, 1.0
    elif name == "js":
        v = js_counts(b.ref, b.win)
        scaled, to_value = 8 * math.log(2) * v * v, 8 * math.log(2)
    else:
        v = hellinger_counts(b.ref, b.win)
        scaled, to_value = 8 * v * v, 8.0
    return binned_measure(name, v, scaled, to_value, b.ref.size, pair.n_ref, pair.n_win)


def binned_measure(
    name: str, v: float, scaled: float, to_value: float, k: int, n_ref: int, n_win: int
) -> Measure:
    """The :class:`Measure` of a binned divergence ``v`` (χ² form ``scaled``) over ``k`` bins."""
    p, null = chi2_null(scaled, k, n_ref, n_win)
    # PSI is linear in the χ² scale; the two distances are square roots of it.
    null_v = null if name == "psi" else math.sqrt(null / to_value)
    return Measure(name, v, p, math.nan, math.nan, n_ref, n_win, null_v, f"chi2 approx, {k} bins")


def psi(pair: NumericPair) -> Measure:
    """Population stability index on reference-quantile bins, Σ(w−r)·ln(w/r); ≥ 0, ≥ 0.25 major.

    Empty bins: every share gets +1e-4 (then renormalised). p-value:
    PSI/(1/n + 1/m) ~ χ²(k−1); null_mean = (k−1)(1/n + 1/m).

    >>> rng = np.random.default_rng(0)
    >>> pair = NumericPair.from_values(rng.normal(0, 1, 20_000), rng.normal(0.3, 1, 2_000))
    >>> m = psi(pair)
    >>> round(m.value, 3), round(m.null_mean, 4), m.method
    (0.086, 0.005, 'chi2 approx, 10 bins')
    """
    return _binned(pair, "psi")


def js_distance(pair: NumericPair) -> Measure:
    """Jensen–Shannon distance on reference-quantile bins, base 2; in [0, 1], 1 = disjoint.

    p-value: 8·ln2·JS²/(1/n + 1/m) ~ χ²(k−1).

    >>> rng = np.random.default_rng(0)
    >>> pair = NumericPair.from_values(rng.normal(0, 1, 20_000), rng.normal(0.3, 1, 2_000))
    >>> round(js_distance(pair).value, 3)
    0.124
    """
    return _binned(pair, "js")


def hellinger(pair: NumericPair) -> Measure:
    """Hellinger distance on reference-quantile bins, √(1 − Σ√(r·w)); in [0, 1].

    p-value: 8·H²/(1/n + 1/m) ~ χ²(k−1).

    >>> rng = np.random.default_rng(0)
    >>> pair = NumericPair.from_values(rng.normal(0, 1, 20_000), rng.normal(0.3, 1, 2_000))
    >>> round(hellinger(pair).value, 3)
    0.104
    """
    return _binned(pair, "hellinger")


def mean_shift(pair: NumericPair) -> Measure:
    """Standardised mean shift, (μw − μr)/σr; any real, |·| ≥ 0.2 small, ≥ 0.8 large (Cohen).

    From the sketches' exact moments. p-value and interval: Welch t, divided
    by σr. A constant reference (σr = 0) gives ±inf for any change.

    >>> rng = np.random.default_rng(0)
    >>> pair = NumericPair.from_values(rng.normal(0, 1, 20_000), rng.normal(0.3, 1, 2_000))
    >>> m = mean_shift(pair)
    >>> round(m.value, 3), round(m.ci_low, 2), round(m.ci_high, 2)
    (0.286, 0.24, 0.33)
    """
    if pair.empty:
        return nan_measure("mean_shift", pair.n_ref, pair.n_win, "empty side")
    r, w = pair.ref, pair.win
    sd = math.sqrt(max(r.variance, 0.0))
    p, lo, hi = welch(r.mean, r.variance, pair.n_ref, w.mean, w.variance, pair.n_win)
    return Measure(
        "mean_shift",
        _ratio(w.mean - r.mean, sd),
        p,
        _ratio(lo, sd),
        _ratio(hi, sd),
        pair.n_ref,
        pair.n_win,
        0.0,
        "welch",
        before_after(r.mean, w.mean),  # the two means, for alert text
    )


def quantile_shift(pair: NumericPair, q: float) -> Measure:
    """Shift of the q-quantile over the reference scale, (Qw(q) − Qr(q))/scale; any real.

    Confidence: each quantile's 95% order-statistic interval, Q(q ± z·√(q(1−q)/n)),
    gives its standard error; the two combine in quadrature (normal test).

    >>> rng = np.random.default_rng(0)
    >>> pair = NumericPair.from_values(rng.normal(0, 1, 20_000), rng.normal(0.3, 1, 2_000))
    >>> m = quantile_shift(pair, 0.5)
    >>> m.name, round(m.value, 2), round(m.ci_low, 2), round(m.ci_high, 2)
    ('q50_shift', 0.29, 0.22, 0.35)
    """
    name = f"q{round(q * 100):02d}_shift"
    if pair.empty:
        return nan_measure(name, pair.n_ref, pair.n_win, "empty side")
    ses = []
    for cdf in (pair.ref_cdf, pair.win_cdf):
        h = _Z * math.sqrt(q * (1 - q) / cdf.n)
        ses.append((cdf.quantile(min(1.0, q + h)) - cdf.quantile(max(0.0, q - h))) / (2 * _Z))
    diff = pair.win_cdf.quantile(q) - pair.ref_cdf.quantile(q)
    se = math.hypot(*ses)
    if se > 0:
        p = 2 * norm_sf(abs(diff) / se)
    else:
        p = 1.0 if diff == 0 else 0.0
    s = pair.scale
    return _m(
        pair,
        name,
        _ratio(diff, s),
        p_value=p,
        ci_low=_ratio(diff - _Z * se, s),
        ci_high=_ratio(diff + _Z * se, s),
        null_mean=0.0,
        method="order-statistic intervals",
    )


def null_rate_change(pair: NumericPair) -> Measure:
    """Window − reference share of missing values (null + NaN, over all); in [−1, 1].

    ±inf are values, not missing: :func:`out_of_range` counts them. p-value:
    pooled two-proportion z; interval: Agresti–Caffo.

    >>> pair = NumericPair.from_values([1.0, 2.0, 3.0, np.nan], [1.0, np.nan, np.nan, np.inf])
    >>> null_rate_change(pair).value
    0.25
    """
    r, w = pair.ref, pair.win
    nr, nw = int(r.total), int(w.total)
    if nr == 0 or nw == 0:
        return nan_measure("null_rate_change", nr, nw, "empty side")
    kr, kw = int(r.nulls + r.nans), int(w.nulls + w.nans)
    p, lo, hi = two_proportions(kr, nr, kw, nw)
    return Measure(
        "null_rate_change", kw / nw - kr / nr, p, lo, hi, nr, nw, 0.0, "two-proportion",
        before_after(kr / nr, kw / nw),
    )  # fmt: skip


def out_of_range(pair: NumericPair) -> Measure:
    """Share of window values outside the reference [min, max] (±inf included); in [0, 1].

    A window ±inf counts unless the reference had the same infinity. Null:
    an exchangeable new value falls outside n reference values with
    probability 2/(n+1), so the count is ~ Binomial(m, 2/(n+1)).

    >>> pair = NumericPair.from_values(np.arange(100.0), [1.0, 50.0, 250.0, np.inf])
    >>> m = out_of_range(pair)
    >>> m.value, m.p_value < 0.01
    (0.5, True)
    """
    r, w = pair.ref, pair.win
    m = int(w.count + w.pos_inf + w.neg_inf)
    if pair.n_ref == 0 or m == 0:
        return nan_measure("out_of_range", pair.n_ref, m, "empty side")
    k = (w.pos_inf if r.pos_inf == 0 else 0) + (w.neg_inf if r.neg_inf == 0 else 0)
    outside = 0.0
    if pair.n_win > 0:
        cdf = pair.win_cdf
        outside = (cdf.value(float(r.min), left=True) + 1.0 - cdf.value(float(r.max))) * pair.n_win
    return out_of_range_measure(outside, int(k), m, pair.n_ref)


def out_of_range_measure(outside: float, k: int, m: int, n_ref: int) -> Measure:
    """Out-of-range of ``m`` window values (> 0): ``outside`` finite ones beyond the range.

    ``outside``: the window's finite mass outside the reference [min, max], in values;
    ``k``: its infinities the reference does not have.
    """
    k_out = int(round(outside)) + int(k)
    rate = 2.0 / (n_ref + 1)
    ci = wilson(k_out, m)
    p = binom_sf(k_out - 1, m, rate) if k_out > 0 else 1.0
    return Measure(
        "out_of_range", (outside + k) / m, p, ci[0], ci[1], n_ref, m, rate, "binomial 2/(n+1)"
    )
