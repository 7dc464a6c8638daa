"""Model-health decisions (pure): label shift, realized and estimated performance drops.

Each needs an effect beyond a floor AND a confidence.

- :func:`label_shift`: the positive-label share of a window against the reference's,
  with the Bayesian share test categorical features use
  (:func:`stream.core.measures.bayes.share_shift`). A reference built with its
  between-window spread (``tau2`` given, :func:`stream.core.performance.spread_of`):
  breach when P(move > ``floor`` in the observed direction) = Φ((|δ| − floor)/sd) ≥
  ``confidence``, sd² = τ² + the reference's Jeffreys posterior variance + the
  window's (at least the binomial variance at the reference share) (one-sided beyond
  the floor, as the drops and the regression target shift). An older reference
  without one (``tau2=None``): as before, P(shift) ≥ ``confidence`` (two-sided, so
  about 2 % of stationary windows at 0.99) and the posterior mean move beyond ``floor``.
- :func:`performance_drop`: realized ROC AUC (or accuracy) of the labelled part of a
  window against the reference's; the drop's standard error combines both sides
  (Hanley-McNeil for AUC, binomial for accuracy) plus the reference's
  between-window τ² of the metric at the window's scale (0 without one); breach when
  P(drop > floor) ≥ ``confidence`` under the normal approximation.
- :func:`calibration_drift`: P(y | score) of a window against the reference's
  calibration map, per score group (χ² test; effect: mean absolute gap).
- :func:`estimate` / :func:`estimated_drop`: performance before labels,
  confidence-based performance estimation (CBPE, as NannyML describes it). The
  reference's own labelled state is the calibration map: bin b's calibrated
  probability is its positive share (shrunk toward the bin's mean score by
  ``prior_weight`` pseudo-labels, so sparse bins stay sane). A window's score
  histogram then has expected positives m_b·c_b and negatives m_b·(1 − c_b) per
  bin, from which the expected confusion matrix at the threshold, accuracy and
  ROC AUC follow exactly as from labels.

Where estimation is valid: it assumes P(y | score) is the reference's. It sees
covariate shift that moves scores (e.g. toward 0.5, lowering expected AUC) and
prior shift that shows in the scores; it CANNOT see concept shift (same scores,
different outcomes): only realized performance, once labels arrive, does.
The threshold is taken at the bin edge at or below it (exact for thresholds on
a 1/BINS grid, e.g. 0.5).

>>> from stream.core.performance import BinaryPerformance
>>> ref = BinaryPerformance.zero()
>>> ref.update([0.9, 0.8, 0.2, 0.1], [True, True, False, False], threshold=0.5)
>>> est = estimate(ref, score_counts([0.9, 0.1]), threshold=0.5)
>>> round(est.auc or 0, 3), round(est.positive_share, 3)
(0.917, 0.5)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Literal

import numpy as np
import numpy.typing as npt

from stream.core.measures.bayes import ShareShift, share_shift
from stream.core.measures.tails import chi2_sf
from stream.core.performance import (
    BINS,
    CAL_GROUPS,
    CAL_MIN_EXPECTED,
    BinaryPerformance,
    auc_of_counts,
    calibration_map,
    score_bins,
)
from stream.core.sketch import NumericSketch

__all__ = [
    "Estimate",
    "HealthDecision",
    "HealthKind",
    "calibration_drift",
    "estimate",
    "estimated_drop",
    "label_shift",
    "performance_drop",
    "score_counts",
    "sketch_score_counts",
]

HealthKind = Literal["label", "performance", "estimated"]
_EDGES = np.arange(BINS + 1, dtype=np.float64) / BINS


@dataclass(frozen=True, slots=True)
class HealthDecision:
    """One judged model-health measure of one window.

    Attributes:
        kind: 'label' (label shift), 'performance' (realized), 'estimated' (CBPE).
        metric: 'positive_share', 'auc' or 'accuracy'.
        reference: The reference's value.
        value: The window's value (realized or estimated).
        delta: value − reference (posterior mean for label shift).
        ci_low: Lower end of the 95% interval of ``delta``.
        ci_high: Upper end of the 95% interval of ``delta``.
        confidence: P(shift) for label shift; P(drop > floor) for drops.
        breach: Effect beyond ``floor`` with at least the required confidence.
        n: Labels (or predictions, for estimates) in the window.
        reason: One line saying why.
        floor: The practical floor the effect was held to.
        adverse: Which direction of ``delta`` is bad: +1 an increase (error), −1 a
            decrease (accuracy, AUC), 0 either (shares, means). The lifecycle's effect
            is one-sided for ±1, so an improvement is a clean window. Stored decision
            JSON gains this key; older JSON without it reads as 0 (two-sided).
    """

    kind: HealthKind
    metric: str
    reference: float
    value: float
    delta: float
    ci_low: float
    ci_high: float
    confidence: float
    breach: bool
    n: int
    reason: str
    floor: float = 0.0
    adverse: int = 0


@dataclass(frozen=True, slots=True)
class Estimate:
    """Expected performance of a window from its scores alone (CBPE)."""

    n: float
    positive_share: float
    accuracy: float
    auc: float | None
    auc_se: float | None
    tp: float
    fp: float
    tn: float
    fn: float


def _phi(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def label_shift(
    ref: BinaryPerformance,
    win: BinaryPerformance,
    *,
    tau2: float | None = None,
    floor: float = 0.02,
    confidence: float = 0.99,
) -> HealthDecision:
    """Positive-label share of ``win`` against ``ref`` (module docstring).

    ``tau2``: the reference's between-window variance of the share at the window's
    scale (a daily cycle; 0 when Cochran's Q found none); None for a reference built
    before the spread was kept, judged by the older two-sided rule.
    """
    s = share_shift(ref.positives, ref.n, win.positives, win.n, threshold=floor)
    if tau2 is not None:
        return _share_beyond(s, ref, win, floor, confidence, tau2)
    breach = win.n > 0 and s.p_drift >= confidence and abs(s.delta) > floor
    why = (
        f"positive share {100 * s.delta:+.1f} pts (P={s.p_drift:.3f}) "
        f"{'beyond' if breach else 'within'} floor {100 * floor:.1f} pts at {confidence}"
    )
    return _share_decision("positive_share", s, breach, win.n, why, floor)


def _beta_var(k: int, n: int) -> float:
    """Variance of the Jeffreys posterior Beta(k + ½, n − k + ½) of a share."""
    a, b = k + 0.5, n - k + 0.5
    return a * b / ((a + b) ** 2 * (a + b + 1))


def _share_beyond(
    s: ShareShift,
    ref: BinaryPerformance,
    win: BinaryPerformance,
    floor: float,
    confidence: float,
    tau2: float,
) -> HealthDecision:
    """P(|move| > floor in the observed direction) with the reference's τ² (module docstring)."""
    # The window's variance is at least the binomial one at the reference's share (the
    # null's): a window with few positives has a narrow posterior of its own, which
    # would make a low hour of a sparse stream look certain (k15t: 1 false page a
    # fortnight at 150 labels/h and a 10 % share).
    null = s.ref_share * (1 - s.ref_share) / win.n if win.n else 0.0
    win_var = max(_beta_var(win.positives, win.n), null)
    sd = math.sqrt(_beta_var(ref.positives, ref.n) + win_var + tau2)
    d = s.delta
    p = _phi((abs(d) - floor) / sd)
    breach = win.n > 0 and abs(d) > floor and p >= confidence
    between = f"; between-window sd {math.sqrt(tau2):.4f} of the reference" if tau2 > 0 else ""
    why = (
        f"positive share {100 * d:+.1f} pts (P(move > floor)={p:.3f}{between}) "
        f"{'beyond' if breach else 'within'} floor {100 * floor:.1f} pts at {confidence}"
    )
    return HealthDecision(
        "label", "positive_share", s.ref_share, s.win_share, d, d - 1.96 * sd, d + 1.96 * sd, p,
        breach, win.n, why, floor,
    )  # fmt: skip


def _share_decision(
    metric: str, s: ShareShift, breach: bool, n: int, why: str, floor: float
) -> HealthDecision:
    """A label-shift decision from a share test (binary and multiclass)."""
    return HealthDecision(
        "label", metric, s.ref_share, s.win_share, s.delta, s.ci_low, s.ci_high, s.p_drift,
        breach, n, why, floor,
    )  # fmt: skip


def _drop(
    kind: HealthKind,
    metric: str,
    ref_v: float,
    ref_se: float,
    v: float,
    se: float,
    n: int,
    floor: float,
    confidence: float,
    tau2: float = 0.0,
) -> HealthDecision:
    drop = ref_v - v
    sd = math.sqrt(ref_se**2 + se**2 + tau2)
    p = _phi((drop - floor) / sd) if sd > 0 else float(drop > floor)
    breach = drop > floor and p >= confidence
    why = (
        f"{'estimated ' if kind == 'estimated' else ''}{metric} {v:.4f} vs reference "
        f"{ref_v:.4f}: drop {drop:+.4f} ± {1.96 * sd:.4f}, P(drop > {floor}) = {p:.3f}"
        + (f" (between-window sd {math.sqrt(tau2):.4f} of the reference)" if tau2 > 0 else "")
    )
    delta = v - ref_v
    lo, hi = delta - 1.96 * sd, delta + 1.96 * sd
    return HealthDecision(kind, metric, ref_v, v, delta, lo, hi, p, breach, n, why, floor, -1)


def _acc_se(acc: float, n: float) -> float:
    return math.sqrt(max(acc * (1 - acc), 1e-12) / n) if n else math.inf


def performance_drop(
    ref: BinaryPerformance,
    win: BinaryPerformance,
    *,
    metric: Literal["auc", "accuracy"] = "auc",
    floor: float = 0.03,
    confidence: float = 0.99,
    tau2: float = 0.0,
) -> HealthDecision | None:
    """Realized drop of ``metric`` in ``win`` against ``ref``; None when undefined (one class).

    ``tau2``: the reference's between-window variance of ``metric`` at the window's scale.
    """
    if metric == "auc":
        ra, wa, rse, wse = ref.auc(), win.auc(), ref.auc_se(), win.auc_se()
        if ra is None or wa is None or rse is None or wse is None:
            return None
        return _drop("performance", "auc", ra, rse, wa, wse, win.n, floor, confidence, tau2)
    racc, wacc = ref.accuracy, win.accuracy
    if racc is None or wacc is None:
        return None
    return _drop(
        "performance",
        "accuracy",
        racc,
        _acc_se(racc, ref.n),
        wacc,
        _acc_se(wacc, win.n),
        win.n,
        floor,
        confidence,
        tau2,
    )


def score_counts(scores: Sequence[float] | npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Histogram of scores in [0, 1] on the performance state's bins."""
    s = np.asarray(scores, dtype=np.float64)
    return np.bincount(score_bins(s), minlength=BINS).astype(np.float64)


def sketch_score_counts(sketch: NumericSketch) -> npt.NDArray[np.float64]:
    """The same histogram from a window's prediction sketch (CDF at the bin edges).

    The sketch's values are known to its relative accuracy, so counts near an edge
    may land one bin off; scores outside [0, 1] are clipped into the end bins.
    """
    n = float(sketch.count)
    if n == 0:
        return np.zeros(BINS, np.float64)
    cdf = np.asarray(sketch.cdf(_EDGES), dtype=np.float64)
    cdf[0], cdf[-1] = 0.0, 1.0
    return np.maximum(np.diff(cdf), 0.0) * n


#: Score groups of the calibration test: 10 groups of BINS // 10 adjacent bins.
CALIBRATION_GROUPS = CAL_GROUPS


def calibration_drift(
    ref: BinaryPerformance,
    win: BinaryPerformance,
    *,
    floor: float = 0.02,
    confidence: float = 0.99,
    prior_weight: float = 5.0,
    tau2: Sequence[float] | None = None,
) -> HealthDecision | None:
    """Calibration drift: did P(y | score) move away from the reference's?

    ``tau2`` (one per score group, then the overall one:
    :data:`~stream.core.performance.CAL_MEASURES`): the reference's between-window
    variance of each group's residual share at the window's scale (k15c,
    :func:`stream.core.performance.spread_of`); the rule is then
    :func:`_calibration_worse` (P(y | score) off the reference's map in either
    direction, beyond the floor, net of noise). None: a reference built before that
    spread was kept, judged by the older rule below.

    Older rule: expected positives per score group under the reference's calibration
    map (the CBPE map, :func:`~stream.core.performance.calibration_map`) against the
    observed ones. Effect: the mean absolute gap Σ_g |O_g − E_g| / N. Confidence: 1 −
    the p-value of the Hosmer-Lemeshow-style χ² = Σ_g (O_g − E_g)² / (E_g (1 − E_g /
    n_g)), df = the groups with predictions. Breach when the gap exceeds ``floor`` at
    that confidence. (It paged stationary streams 1–8 times a fortnight without any
    cycle: sparse groups break the χ² — one positive where 0.01 is expected adds ≈
    100 — and Σ|O − E| / N is noise's own size at 150 labels, median 0.026 > the
    floor, so the floor never bound.) ECE of both sides goes in the reason. None
    without labels.
    """
    if not win.n or not ref.n:
        return None
    cal = calibration_map(ref, prior_weight)
    if tau2 is not None:
        return _calibration_worse(ref, win, cal, floor, confidence, prior_weight, tau2)
    n_b = (win.pos + win.neg).astype(np.float64)
    size = BINS // CALIBRATION_GROUPS
    n_g = n_b.reshape(CALIBRATION_GROUPS, size).sum(axis=1)
    e_g = (n_b * cal).reshape(CALIBRATION_GROUPS, size).sum(axis=1)
    o_g = win.pos.astype(np.float64).reshape(CALIBRATION_GROUPS, size).sum(axis=1)
    used = n_g > 0
    var = e_g * (1 - e_g / np.maximum(n_g, 1))
    ok = used & (var > 1e-9)
    chi2 = float((((o_g - e_g) ** 2)[ok] / var[ok]).sum())
    df = int(np.count_nonzero(used))
    p_value = chi2_sf(chi2, df) if df else 1.0
    gap = float(np.abs(o_g - e_g)[used].sum()) / win.n
    se = math.sqrt(float(var[used].sum())) / win.n
    conf = 1.0 - p_value
    breach = gap > floor and conf >= confidence
    r_ece, w_ece = ref.ece() or 0.0, win.ece() or 0.0
    why = (
        f"calibration gap vs reference {gap:.4f} (χ² {chi2:.1f}, df {df}, p {p_value:.2g}) "
        f"{'beyond' if breach else 'within'} floor {floor}; ECE {w_ece:.4f} "
        f"(reference {r_ece:.4f})"
    )
    return HealthDecision(
        "performance",
        "calibration",
        0.0,
        gap,
        gap,
        gap - 1.96 * se,
        gap + 1.96 * se,
        conf,
        breach,
        win.n,
        why,
        floor,
    )


def _groups(n_b: npt.NDArray[np.float64], e_b: npt.NDArray[np.float64]) -> list[tuple[int, int]]:
    """Adjacent score groups pooled until each expects ≥ CAL_MIN_EXPECTED of both classes.

    ``(first, last + 1)`` ranges of the fixed groups (a sparse tail joins the
    group before it; all of them form one when even that is too sparse).
    """
    size = BINS // CAL_GROUPS
    n_g = n_b.reshape(CAL_GROUPS, size).sum(axis=1)
    e_g = e_b.reshape(CAL_GROUPS, size).sum(axis=1)
    out: list[tuple[int, int]] = []
    first, n, e = 0, 0.0, 0.0
    for g in range(CAL_GROUPS):
        n, e = n + n_g[g], e + e_g[g]
        if e >= CAL_MIN_EXPECTED and n - e >= CAL_MIN_EXPECTED:
            out.append((first, g + 1))
            first, n, e = g + 1, 0.0, 0.0
    if first < CAL_GROUPS:
        out[-1:] = [(out[-1][0] if out else 0, CAL_GROUPS)]
    return out


def _chibar_sf(x: float, k: int) -> float:
    """P(Σ max(Z_i, 0)² > x) for k independent standard normals.

    The chi-bar-squared mixture Σ_j C(k, j) 2^-k χ²_j: the one-sided counterpart of χ²_k.
    """
    if x <= 0:
        return 1.0
    return float(sum(math.comb(k, j) * chi2_sf(x, j) for j in range(1, k + 1))) * 0.5**k


_NORMAL = NormalDist()


def _cornish_fisher(u: float, skew: float) -> float:
    """The normal quantile of a standardized value ``u`` of a law with ``skew``.

    u − (γ/6)(u² − 1), held monotone: past its turning point 1 / (2|γ/6|) the
    correction stays at its value there (the raw polynomial turns back, which would
    make a huge move look ordinary).
    """
    g = skew / 6
    if g == 0:
        return u
    turn = 1 / (2 * abs(g))
    held = min(u, turn) if g > 0 else max(u, -turn)
    return u - g * (held * held - 1)


def _worse_z(gap: float, c: float, sd: float, skew: float = 0.0) -> tuple[float, float]:
    """(z, bias) of a group's calibration error growing by more than ``c`` + floor.

    The group's error under the null is |gap + X| with X the residual share, mean 0,
    sd ``sd`` (``gap``: the reference's |e − s̄| for the group): it grows past ``c``
    when X > c or X < −2·gap − c, so a group the reference had calibrated (gap ≈ 0)
    is judged two-sided and a miscalibrated one one-sided. Each tail is normal with
    the Cornish-Fisher skew correction (``skew``: X's skewness; a group expecting
    a handful of positives has a long upper tail — k15c: Poisson(5)'s P(3 sd) is 4×
    the normal's). z: that tail as a one-sided normal quantile (for the
    chi-bar-squared sum). bias: E|gap + X| − gap, what noise alone adds to the error.
    :func:`_calibration_worse` calls it with gap 0 (k15d): |X| past ``c`` either way.
    """
    if sd <= 0:
        return (math.inf if c > 0 else -math.inf), 0.0
    if gap + c <= 0:
        p = 1.0
    else:
        up, down = c / sd, (2 * gap + c) / sd
        tails = _NORMAL.cdf(_cornish_fisher(up, skew)) + _NORMAL.cdf(_cornish_fisher(down, -skew))
        p = min(1.0, 2.0 - tails)
    z = -_NORMAL.inv_cdf(min(max(p, 1e-300), 1.0 - 1e-16))
    r = gap / sd
    mean_abs = sd * math.sqrt(2 / math.pi) * math.exp(-r * r / 2) + gap * (1 - 2 * _NORMAL.cdf(-r))
    return z, mean_abs - gap


def _calibration_worse(
    ref: BinaryPerformance,
    win: BinaryPerformance,
    cal: npt.NDArray[np.float64],
    floor: float,
    confidence: float,
    prior_weight: float,
    tau2: Sequence[float],
) -> HealthDecision:
    """Calibration drift against a reference with its spread (k15c, k15d): beyond the floor.

    Groups: the fixed score groups, adjacent ones pooled until each expects at least
    :data:`~stream.core.performance.CAL_MIN_EXPECTED` positives and negatives. Per
    group G (shares of its n labels): o observed positives, e expected under the
    reference's map. The move that matters is P(y | score) leaving the reference's
    map, in either direction: a_G = |o − e| (k15d: k15c scored |o − s̄| − |e − s̄|, the
    calibration error against the mean score s̄ growing, which read a large move of
    P(y | score) towards or across s̄ — a miscalibrated reference, or precision
    falling at a fixed positive share — as "better calibrated" and never paged).
    Its variance: the window's binomial Σ n_b c_b (1 − c_b), the map's own
    estimation error Σ n_b² c_b (1 − c_b) / (N_b + w), and the reference's
    between-window τ² of the group's residual share (n-weighted over the pooled
    groups, at least the overall residual's: a sparse group has no fit of its own),
    over n². Evidence per group: the tail P(|X| > a_G − floor | no move), X the
    residual share, two-sided and skew-corrected (:func:`_worse_z` with gap 0), as a
    one-sided z_G; the statistic Σ max(z_G, 0)², whose null law is the
    chi-bar-squared mixture (:func:`_chibar_sf`). The effect: Σ n_G (a_G − E|X|) / N,
    how far the window's P(y | score) is from the reference's, net of what noise
    alone adds. Breach when the confidence reaches ``confidence`` AND that effect
    exceeds ``floor``; a window back within the floor is clean (``adverse`` +1).
    """
    n_b = (win.pos + win.neg).astype(np.float64)
    e_b = n_b * cal
    binom_b = e_b * (1 - cal)
    third_b = binom_b * (1 - 2 * cal)  # the Poisson-binomial's third central moment
    var_b = binom_b + n_b**2 * cal * (1 - cal) / ((ref.pos + ref.neg) + prior_weight)
    s_b = (win.pos_sum + win.neg_sum).astype(np.float64) / 1e6
    size = BINS // CAL_GROUPS
    tau = np.asarray(tau2, dtype=np.float64)
    chibar, worse, w_err, r_err, ranges = 0.0, 0.0, 0.0, 0.0, _groups(n_b, e_b)
    for first, last in ranges:
        part = slice(first * size, last * size)
        n = float(n_b[part].sum())
        if n == 0:
            continue
        o, e, s = (
            float(win.pos[part].sum()) / n,
            float(e_b[part].sum()) / n,
            float(s_b[part].sum()) / n,
        )
        n_g = n_b[part].reshape(-1, size).sum(axis=1)
        between = max(float(np.dot(n_g, tau[first:last])) / n, float(tau[CAL_GROUPS]))
        var = float(var_b[part].sum()) / n**2 + between
        sd = math.sqrt(var)
        skew = float(third_b[part].sum()) / n**3 / var**1.5 if var > 0 else 0.0
        a = abs(o - e)
        z, bias = _worse_z(0.0, a - floor - 0.5 / n, sd, skew)  # 0.5: continuity
        chibar += max(z, 0.0) ** 2
        worse += n * (a - bias)
        w_err, r_err = w_err + n * abs(o - s), r_err + n * abs(e - s)
    k = len(ranges)
    p_value = _chibar_sf(chibar, k)
    conf = 1.0 - p_value
    delta, value, reference = worse / win.n, w_err / win.n, r_err / win.n
    breach = delta > floor and conf >= confidence
    # A scale for the interval: the binomial + map sd of the overall signed residual.
    se = math.sqrt(float(var_b.sum())) / win.n
    spread = math.sqrt(max(tau)) if len(tau) and max(tau) > 0 else 0.0
    between_sd = f"; between-window sd up to {spread:.4f} of the reference" if spread else ""
    why = (
        f"P(y | score) off the reference's map by {delta:+.4f} net of noise (χ̄² {chibar:.1f} "
        f"over {k} group(s), p {p_value:.2g}"
        f"{between_sd}) {'beyond' if breach else 'within'} floor {floor}; calibration "
        f"error {value:.4f} vs {reference:.4f} the reference's for these scores; "
        f"ECE {win.ece() or 0.0:.4f} (reference {ref.ece() or 0.0:.4f})"
    )
    return HealthDecision(
        "performance", "calibration", reference, value, delta, delta - 1.96 * se,
        delta + 1.96 * se, conf, breach, win.n, why, floor, 1,
    )  # fmt: skip


def estimate(
    ref: BinaryPerformance,
    counts: npt.NDArray[np.float64],
    *,
    threshold: float,
    prior_weight: float = 5.0,
) -> Estimate:
    """Expected performance of a window with score histogram ``counts`` (CBPE)."""
    c = calibration_map(ref, prior_weight)
    e1, e0 = counts * c, counts * (1 - c)
    cut = min(BINS, int(math.floor(threshold * BINS + 1e-9)))
    tp, fn = float(e1[cut:].sum()), float(e1[:cut].sum())
    fp, tn = float(e0[cut:].sum()), float(e0[:cut].sum())
    n = float(counts.sum())
    auc, se = auc_of_counts(e1, e0)
    return Estimate(
        n=n,
        positive_share=(tp + fn) / n if n else math.nan,
        accuracy=(tp + tn) / n if n else math.nan,
        auc=auc,
        auc_se=se,
        tp=tp,
        fp=fp,
        tn=tn,
        fn=fn,
    )


def estimated_drop(
    ref: BinaryPerformance,
    est: Estimate,
    *,
    metric: Literal["auc", "accuracy"] = "auc",
    floor: float = 0.03,
    confidence: float = 0.99,
) -> HealthDecision | None:
    """Estimated drop of ``metric`` (before labels) against the reference's realized one."""
    n = int(round(est.n))
    if metric == "auc":
        ra, rse = ref.auc(), ref.auc_se()
        if ra is None or rse is None or est.auc is None or est.auc_se is None:
            return None
        return _drop("estimated", "auc", ra, rse, est.auc, est.auc_se, n, floor, confidence)
    racc = ref.accuracy
    if racc is None or not n:
        return None
    return _drop(
        "estimated",
        "accuracy",
        racc,
        _acc_se(racc, ref.n),
        est.accuracy,
        _acc_se(est.accuracy, est.n),
        n,
        floor,
        confidence,
    )
