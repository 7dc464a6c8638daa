"""One feature in one window: drift or not, how much, how sure — and pipeline breaks.

A metric breaches only when BOTH hold (DESIGN "Drift decisions"):

(a) **effect**: its value exceeds the practical threshold, ``max(floor, calibrated)``
    — the floor is the metric's default practical minimum (:data:`.nullspread.RULES`)
    or the user's override (``FeatureSpec.thresholds``); the calibrated threshold is
    ``centre + z·sqrt(τ² + σ²/n_eff)`` (:mod:`.calibrate`), so an effect inside the
    reference's own between-window variation is not drift;
(b) **confidence**: its p-value is below the corrected α, or its 95% interval lies
    beyond the threshold (a value that is surely past it needs no test).

**Decisive evidence** (evidence-weighted persistence, :mod:`.lifecycle`): a breach
whose metric also clears the *one-window* bound — threshold at z(α₁) and p < α₁, with
α₁ = ``ONE_WINDOW_SHARE`` · α (:func:`.calibrate.one_window_alpha`) — is ``decisive``
and may page at once; a marginal breach (between the two bounds) still needs
confirmation by the next window. Pipeline breaks are decisive at α₁ too; a vanished
feature always is.

(a) alone pages on small windows' noise; (b) alone pages on harmless drift in big
windows (the 1.3-point share change on 65k rows). A feature breaches when any metric
does; the breaching metrics are ranked by effect/threshold.

Pipeline breaks need no calibration: a feature that turns mostly null (null-rate
change ≥ 0.5 and significant), that has no valid value left, or a new category
holding ≥ 5% of the window (significant) — all critical.

The Bayesian part is analytic: for categorical features the Beta posterior of the
most-moved category's share (magnitude = posterior mean change, 95% credible
interval, p_drift = P(|change| > threshold)); for numeric features a normal
posterior of the effect around its observed value with the calibrated spread
(p_drift = P(effect > threshold)).

:func:`cusum_update` (:mod:`.cusum`, re-exported here) accumulates each decision's
``z`` with slack ``cusum_k`` to catch slow ramps before a day closes (see there for the
slack, the limit and the seasonal-baseline caveat).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

from stream.core.before_after import BeforeAfter
from stream.core.calibrate import (
    Calibration,
    FeatureCalibration,
    one_window_alpha,
    z_critical,
)
from stream.core.cusum import (
    CUSUM_K,
    CusumState,
    cusum_arl0,
    cusum_limit,
    cusum_step,
    cusum_update,
)
from stream.core.measures.batch import BATCH_MEASURES, numeric_batch
from stream.core.measures.batch_categorical import CATEGORICAL_BATCH, categorical_batch
from stream.core.measures.categorical import CategoricalPair, category_shifts
from stream.core.measures.confidence import Measure
from stream.core.measures.tails import Z95, betabinom_sf, norm_cdf, norm_sf
from stream.core.nullspread import (
    RULES,
    SHAPE_METRICS,
    Sketch,
    decision_measures,
    narrow,
    none_to_nan,
    resolution_limited,
)
from stream.core.sketch import CategoricalSketch, NumericSketch
from stream.core.vocabulary import Kind, Scale

__all__ = [
    "CRITICAL_RATIO",
    "CusumState",
    "Decision",
    "Severity",
    "batch_measures",
    "cusum_arl0",
    "cusum_limit",
    "cusum_step",
    "cusum_update",
    "decide",
    "evaluate_feature",
]

Severity: TypeAlias = Literal["none", "warning", "critical"]
CRITICAL_RATIO = 2.0
"""Effect at least this many times its threshold: critical rather than warning."""
NULL_BREAK = 0.5
"""Null-rate change (window − reference share) that makes a feature "mostly null"."""
NEW_CATEGORY_BREAK = 0.05
"""Window share of new categories that is a pipeline break rather than drift."""
_NAN = math.nan

_RULE = {(k, r.name): r for k, rs in RULES.items() for r in rs}
"""(kind, metric) → its decision rule (looked up once per metric and window)."""


@dataclass(frozen=True)
class Decision:
    """The verdict on one feature in one window.

    Attributes:
        feature: feature name.
        breach: the feature drifted in this window (effect AND confidence, or a break).
        effect: value of the top metric (|value| for signed metrics).
        effect_metric: name of the top metric (highest effect/threshold).
        threshold: practical threshold of the top metric.
        p_value: p-value of the top metric.
        confidence: 1 − p_value.
        p_drift: posterior probability that the effect exceeds the threshold.
        magnitude: posterior mean of the change (share points for categories, the
            debiased metric value for numeric features, σ units for a mean shift).
        ci: 95% credible interval of ``magnitude``.
        severity: ``none``, ``warning`` or ``critical``.
        reasons: human-readable lines, most important first.
        metrics: every evaluated metric → (value, threshold, p-value).
        kind: feature kind.
        n_window: observations in the window.
        ratio: effect/threshold of the top metric (hysteresis uses it).
        ranked: breaching metrics, strongest first.
        z: signed standardised score for CUSUM (mean shift, or JS for categories).
        cusum_k: CUSUM slack for ``z``: half the practical floor in z units (≥ 0.5).
        decisive: a breach whose evidence alone clears the one-window bound (α₁).
        details: member-specific evidence (the ``joint`` member's pairs and columns).
        values: the headline quantity before → after (mean, the top mover's share, or
            the null share; :func:`before_after`); None when not known.
    """

    feature: str
    breach: bool
    effect: float
    effect_metric: str
    threshold: float
    p_value: float
    confidence: float
    p_drift: float
    magnitude: float
    ci: tuple[float, float]
    severity: Severity
    reasons: tuple[str, ...]
    metrics: Mapping[str, tuple[float, float, float]] = field(default_factory=dict)
    kind: str = "numeric"
    n_window: int = 0
    ratio: float = 0.0
    ranked: tuple[str, ...] = ()
    z: float = _NAN
    cusum_k: float = 0.5
    decisive: bool = False
    details: Mapping[str, Any] = field(default_factory=dict)
    values: BeforeAfter | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (non-finite numbers become null; ``details``/``values`` when set)."""
        # finite_or_none of every number, in one comprehension (a replay writes ~13k).
        effect, threshold, p_value, confidence, p_drift, magnitude, lo, hi, ratio, z, k = [
            float(x) if math.isfinite(x) else None
            for x in (
                self.effect, self.threshold, self.p_value, self.confidence, self.p_drift,
                self.magnitude, self.ci[0], self.ci[1], self.ratio, self.z, self.cusum_k,
            )
        ]  # fmt: skip
        out = {
            "feature": self.feature,
            "kind": self.kind,
            "breach": self.breach,
            "effect": effect,
            "effect_metric": self.effect_metric,
            "threshold": threshold,
            "p_value": p_value,
            "confidence": confidence,
            "p_drift": p_drift,
            "magnitude": magnitude,
            "ci": [lo, hi],
            "severity": self.severity,
            "reasons": list(self.reasons),
            "metrics": {
                name: [float(x) if math.isfinite(x) else None for x in v]
                for name, v in sorted(self.metrics.items())
            },
            "n_window": self.n_window,
            "ratio": ratio,
            "ranked": list(self.ranked),
            "z": z,
            "cusum_k": k,
            "decisive": self.decisive,
        }
        if self.details:
            out["details"] = dict(self.details)
        if self.values is not None:
            out["values"] = self.values.to_dict()
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Decision:
        """Inverse of :meth:`to_dict`."""
        m = {
            k: (none_to_nan(v[0]), none_to_nan(v[1]), none_to_nan(v[2]))
            for k, v in d["metrics"].items()
        }
        return cls(
            feature=str(d["feature"]),
            breach=bool(d["breach"]),
            effect=none_to_nan(d["effect"]),
            effect_metric=str(d["effect_metric"]),
            threshold=none_to_nan(d["threshold"]),
            p_value=none_to_nan(d["p_value"]),
            confidence=none_to_nan(d["confidence"]),
            p_drift=none_to_nan(d["p_drift"]),
            magnitude=none_to_nan(d["magnitude"]),
            ci=(none_to_nan(d["ci"][0]), none_to_nan(d["ci"][1])),
            severity=d["severity"],
            reasons=tuple(d["reasons"]),
            metrics=m,
            kind=str(d["kind"]),
            n_window=int(d["n_window"]),
            ratio=none_to_nan(d["ratio"]),
            ranked=tuple(d["ranked"]),
            z=none_to_nan(d["z"]),
            cusum_k=none_to_nan(d["cusum_k"]),
            decisive=bool(d.get("decisive", False)),  # decisions stored before it existed
            details=dict(d.get("details") or {}),
            values=BeforeAfter.from_dict(d["values"]) if d.get("values") else None,
        )


@dataclass(slots=True)
class _Check:  # not frozen: built ~400 times an hour, never changed after
    name: str
    value: float
    effect: float
    threshold: float
    p: float
    exceeds: bool
    significant: bool
    cal: Calibration | None
    measure: Measure
    floor: float = _NAN
    decisive: bool = False
    centre: float = _NAN
    """``cal.centre(n_win, n_ref)``, computed once (nan without a calibration)."""
    spread: float = _NAN
    """``cal.spread(n_win, n_ref)``, computed once (nan without a calibration)."""

    @property
    def breach(self) -> bool:
        return self.exceeds and self.significant

    @property
    def ratio(self) -> float:
        if not (self.threshold > 0):
            return math.inf if self.effect > 0 else 0.0
        return self.effect / self.threshold

    def score(self) -> float:
        """``cal.score(value, n_win, n_ref)`` from the stored centre and spread."""
        v, s = self.value, self.spread
        if not (s > 0) or math.isnan(v):
            return _NAN if math.isnan(v) else math.copysign(math.inf, v)
        return (v - self.centre) / s


def _finite_max(a: float, b: float) -> float:
    """``max`` of the finite ones of ``a`` and ``b`` (the first on a tie), nan if neither is."""
    if not math.isfinite(a):
        return b if math.isfinite(b) else _NAN
    return b if math.isfinite(b) and b > a else a


@dataclass(frozen=True)
class _Levels:
    """A decision's levels and their normal quantiles, looked up once per :func:`decide`."""

    alpha: float
    alpha1: float
    z: tuple[float, float]
    """z(α) one-sided, two-sided."""
    z1: tuple[float, float]
    """z(α₁) one-sided, two-sided."""


@functools.lru_cache(maxsize=256)
def _levels(alpha: float) -> _Levels:
    """The :class:`_Levels` of ``alpha`` (memoised: a model's α values repeat)."""
    a1 = one_window_alpha(alpha)
    z = (z_critical(alpha), z_critical(alpha, two_sided=True))
    z1 = (z_critical(a1), z_critical(a1, two_sided=True))
    return _Levels(alpha, a1, z, z1)


def _check(
    name: str,
    m: Measure,
    kind: Kind,
    cal: FeatureCalibration | None,
    levels: _Levels,
    overrides: Mapping[str, float],
) -> _Check | None:
    r = _RULE.get((kind, name))
    if r is None and name not in overrides:
        return None  # neither a decision metric nor overridden: reported elsewhere
    signed = r.law == "signed" if r is not None else False
    c = cal.metrics.get(name) if cal is not None else None
    floor = overrides.get(name, r.floor if r is not None else _NAN)
    alpha, alpha1 = levels.alpha, levels.alpha1
    thr_cal = t1 = centre = spread = _NAN
    if c is not None and m.n_win > 0 and m.n_ref > 0:
        # Calibration.threshold(n, z, n_base) at both levels, its centre and spread once.
        centre, spread = c.centre(m.n_win, m.n_ref), c.spread(m.n_win, m.n_ref)
        at = abs(centre) if c.law == "signed" else centre
        thr_cal = at + levels.z[signed] * spread
        t1 = at + levels.z1[signed] * spread
    thr = _finite_max(floor, thr_cal)
    thr1 = _finite_max(floor, t1) if c is not None and m.n_win > 0 and m.n_ref > 0 else thr
    v = m.value
    effect = abs(v) if signed else v
    if math.isnan(v) or math.isnan(thr):
        return _Check(
            name, v, effect, thr, m.p_value, False, False, c, m, floor,
            centre=centre, spread=spread,
        )  # fmt: skip
    p = _share_pvalue(m) if r is not None and r.law == "share" else m.p_value
    if math.isnan(p) and c is not None:
        p = norm_sf(abs(c.score(v, m.n_win, m.n_ref)))  # no test: calibrated z
    lo, hi = m.ci_low, m.ci_high
    surely = (min(abs(lo), abs(hi)) > thr and lo * hi > 0) if signed else lo > thr
    surely1 = (min(abs(lo), abs(hi)) > thr1 and lo * hi > 0) if signed else lo > thr1
    if r is not None and r.law == "share":
        surely = surely1 = False  # a share's interval ignores the baseline's own randomness
    significant = bool(p < alpha or surely)
    decisive = bool(effect >= thr and significant and effect >= thr1 and (p < alpha1 or surely1))
    return _Check(
        name, v, effect, thr, p, effect >= thr, significant, c, m, floor, decisive,
        centre=centre, spread=spread,
    )  # fmt: skip


def _share_pvalue(m: Measure) -> float:
    """Beta-binomial tail of a share-law count (out-of-range, unseen categories).

    The measures' binomial/Poisson p-values treat the baseline's rate as known; it
    is itself random, Beta(a, m+1−a) with a = rate·(m+1) (exact for out-of-range:
    two spacings of m uniforms). Against last week's 74-event hour the difference
    is a factor of 1,000 in the tail; against a large reference it vanishes.
    """
    n, mb, rate = m.n_win, m.n_ref, m.null_mean
    if not (n > 0 and mb > 0 and 0 < rate < 1) or math.isnan(m.value):
        return m.p_value
    k = round(m.value * n)
    if k <= 0:
        return 1.0
    a = rate * (mb + 1.0)
    return betabinom_sf(k - 1, n, a, mb + 1.0 - a)


def _fmt(x: float) -> str:
    return "nan" if math.isnan(x) else f"{x:.3g}"


def _posterior(
    top: _Check, kind: Kind, pair: CategoricalPair | None, share_threshold: float
) -> tuple[float, float, tuple[float, float], str, str | None]:
    """(p_drift, magnitude, 95% interval, note, category) for the top metric; analytic.

    ``category``: the category whose share the note describes (None for the rest).
    """
    shares = kind == "categorical" and top.name != "null_rate_change"
    if shares and pair is not None and pair.n_ref > 0 and pair.n_win > 0:
        # Beta posteriors of the most-moved category; "drift" = moved past the L∞ threshold.
        cs = category_shifts(pair, threshold=share_threshold, top=2, any_moved=False)
        movers = list(cs.shifts.items())
        # Two categories trade the same mass: report the one that grew.
        if len(movers) == 2 and abs(abs(movers[0][1].delta) - abs(movers[1][1].delta)) < 1e-9:
            movers.sort(key=lambda kv: -kv[1].delta)
        label, s = movers[0]
        note = (
            f"share of {label!r} {100 * s.delta:+.1f} points "
            f"(95% CrI {100 * s.ci_low:+.1f} to {100 * s.ci_high:+.1f}); "
            f"P(|change| > {100 * share_threshold:.1f} points) = {s.p_practical:.3f}"
        )
        return s.p_practical, s.delta, (s.ci_low, s.ci_high), note, label
    m = top.measure
    sd = _NAN
    centre = 0.0
    if top.cal is not None and m.n_win > 0 and m.n_ref > 0:
        sd = top.spread
        centre = top.centre if top.cal.law != "signed" else 0.0
    if top.name in ("mean_shift", "null_rate_change") and math.isfinite(m.ci_low):
        sd = (m.ci_high - m.ci_low) / (2 * Z95)
        p = _normal_posterior(top.effect, top.threshold, sd)
        return p, top.value, (m.ci_low, m.ci_high), "", None
    if math.isnan(sd) and math.isfinite(m.ci_low) and math.isfinite(m.ci_high):
        sd = (m.ci_high - m.ci_low) / (2 * Z95)
    mag = top.value - centre
    if not math.isfinite(sd):
        return (1.0 - top.p if math.isfinite(top.p) else _NAN), mag, (_NAN, _NAN), "", None
    p = _normal_posterior(top.effect, top.threshold, sd)
    return p, mag, (mag - Z95 * sd, mag + Z95 * sd), "", None


def _normal_posterior(effect: float, threshold: float, sd: float) -> float:
    """P(true effect > threshold) for a N(effect, sd²) posterior (flat prior)."""
    if not (sd > 0):
        return 1.0 if effect > threshold else 0.0
    return norm_cdf((effect - threshold) / sd)


def _breaks(
    kind: Kind, measures: Mapping[str, Measure], alpha: float, min_events: int
) -> list[str]:
    """Pipeline breaks: reasons (empty when none)."""
    out = []
    dist = measures.get("ks" if kind == "numeric" else "js")
    nulls = measures.get("null_rate_change")
    if dist is not None and nulls is not None and dist.n_win == 0 and nulls.n_win >= min_events:
        out.append(f"no valid values in {nulls.n_win} observations: the feature vanished")
    elif nulls is not None and nulls.value >= NULL_BREAK and nulls.p_value < alpha:
        out.append(f"mostly null: null share up {100 * nulls.value:.0f} points")
    new = measures.get("unseen")
    if new is not None and new.value >= NEW_CATEGORY_BREAK and new.p_value < alpha:
        top = sorted(new.detail.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
        names = ", ".join(f"{k!r} {100 * v:.0f}%" for k, v in top)
        out.append(f"new categories hold {100 * new.value:.0f}% of the window ({names})")
    return out


def decide(
    feature: str,
    kind: Kind,
    measures: Mapping[str, Measure],
    calibration: FeatureCalibration | None,
    n_window: int,
    *,
    alpha: float,
    thresholds: Mapping[str, float] | None = None,
    min_window_events: int = 100,
    scale: Scale = "hour",
    pair: CategoricalPair | None = None,
    model_events: int | None = None,
) -> Decision:
    """Decide one feature-window from its measures (see the module docstring).

    Args:
        feature: feature name.
        kind: ``numeric`` or ``categorical``.
        measures: name → :class:`Measure` (``decision_measures`` or ``compute_all``).
        calibration: the feature's calibration for this scale and baseline, or None
            (then floors and overrides only).
        n_window: observations of the feature in the window (nulls included).
        alpha: corrected per-test level (``calibrate.model_alpha``).
        thresholds: ``FeatureSpec.thresholds`` overrides: practical minimum effects.
        min_window_events: windows with fewer observations are not judged.
        scale: window scale (for reasons only; the calibration carries its own).
        pair: the aligned categorical pair, for the Beta share posteriors.
        model_events: events of the model in the window; with ``n_window == 0`` and
            at least ``min_window_events`` of them the feature has vanished.
    """
    overrides = dict(thresholds or {})
    if n_window < min_window_events:
        if n_window == 0 and (model_events or 0) >= min_window_events:
            why = f"vanished: 0 observations in {model_events} events of the {scale}"
            return _verdict(
                feature, kind, n_window, [], (why,), True, 1.0, _NAN, (_NAN, _NAN), decisive=True
            )
        why = f"too few observations ({n_window} < {min_window_events}): not judged"
        return _verdict(feature, kind, n_window, [], (why,), False, _NAN, _NAN, (_NAN, _NAN))
    levels = _levels(alpha)
    checks = [
        c
        for name, m in sorted(measures.items())
        if (c := _check(name, m, kind, calibration, levels, overrides)) is not None
    ]
    breaks = _breaks(kind, measures, alpha, min_window_events)
    decisive = any(c.decisive for c in checks) or bool(
        breaks and _breaks(kind, measures, levels.alpha1, min_window_events)
    )
    ranked = sorted((c for c in checks if c.breach), key=lambda c: (-c.ratio, c.name))
    pool = ranked or sorted(
        (c for c in checks if math.isfinite(c.effect)), key=lambda c: (-c.ratio, c.name)
    )
    reasons = list(breaks)
    reasons += [
        f"{c.name} {_fmt(c.value)} beyond {_fmt(c.threshold)} (p={_fmt(c.p)})" for c in ranked
    ]
    breach = bool(ranked or breaks)
    linf = next((c.threshold for c in checks if c.name == "linf"), math.nan)
    share_threshold = linf if math.isfinite(linf) else RULES["categorical"][1].floor
    p_drift, mag, ci, note, category = _NAN, _NAN, (_NAN, _NAN), "", None
    if pool:
        p_drift, mag, ci, note, category = _posterior(pool[0], kind, pair, share_threshold)
    if note and breach:
        reasons.append(note)
    values = before_after(kind, pool[0].name if pool else "", measures, pair, category)
    if calibration is None:
        reasons.append("uncalibrated: default floors and overrides only")
    if breaks and math.isnan(p_drift):
        p_drift = 1.0  # a break needs no posterior: the counts are exact
    z, k = _cusum_input(kind, checks)
    return _verdict(
        feature, kind, n_window, pool, tuple(reasons), breach, p_drift, mag, ci,
        critical=bool(breaks), ranked=tuple(c.name for c in ranked), checks=checks, z=z, cusum_k=k,
        decisive=decisive, values=values,
    )  # fmt: skip


def before_after(
    kind: Kind,
    metric: str,
    measures: Mapping[str, Measure],
    pair: CategoricalPair | None,
    category: str | None,
) -> BeforeAfter | None:
    """The headline quantity of a decision whose top metric is ``metric``, before → after.

    The null share for ``null_rate_change``; for a categorical feature the share of
    ``category`` (the one its share posterior describes) among valid values; otherwise
    the mean. Means and null shares are the measures' own (``Measure.detail``).
    """
    if metric == "null_rate_change" or kind == "numeric":
        m = measures.get("null_rate_change" if metric == "null_rate_change" else "mean_shift")
        if m is None or "baseline" not in m.detail or "window" not in m.detail:
            return None
        q: Literal["mean", "null_share"] = "null_share" if m.name == "null_rate_change" else "mean"
        return BeforeAfter.of(q, m.detail["baseline"], m.detail["window"])
    if pair is None or category not in pair.labels or not (pair.n_ref and pair.n_win):
        return None
    i = pair.labels.index(category)
    return BeforeAfter.of(
        "share", int(pair.ref[i]) / pair.n_ref, int(pair.win[i]) / pair.n_win, category
    )


def _cusum_input(kind: Kind, checks: list[_Check]) -> tuple[float, float]:
    """The CUSUM's z-score and slack for this window.

    The slack is half the practical floor in z units, not the textbook 0.5: against
    a fixed reference every window shares the reference's own sampling error (a
    persistent offset of ~√(n/(n+m)) in z), which a 0.5 slack accumulates into false
    alarms over days; half the floor is the classic "detect a shift of the floor".
    """
    name = "mean_shift" if kind == "numeric" else "js"
    for c in checks:
        if c.name == name and c.cal is not None and math.isfinite(c.value):
            n, m = c.measure.n_win, c.measure.n_ref
            if not (n > 0 and m > 0):  # no stored spread: the calibration's own
                spread = c.cal.spread(n, m)
                score = c.cal.score(c.value, n, m)
            else:
                spread, score = c.spread, c.score()
            k = max(CUSUM_K, 0.5 * c.floor / spread) if spread > 0 and c.floor > 0 else CUSUM_K
            return score, k
    return _NAN, CUSUM_K


def _verdict(
    feature: str,
    kind: Kind,
    n_window: int,
    pool: list[_Check],
    reasons: tuple[str, ...],
    breach: bool,
    p_drift: float,
    magnitude: float,
    ci: tuple[float, float],
    *,
    critical: bool = False,
    ranked: tuple[str, ...] = (),
    checks: list[_Check] | None = None,
    z: float = _NAN,
    cusum_k: float = 0.5,
    decisive: bool = False,
    values: BeforeAfter | None = None,
) -> Decision:
    top = pool[0] if pool else None
    ratio = top.ratio if top is not None else (math.inf if breach else 0.0)
    severity: Severity = "none"
    if breach:
        severity = "critical" if critical or ratio >= CRITICAL_RATIO else "warning"
    p = top.p if top is not None else _NAN
    return Decision(
        feature=feature,
        breach=breach,
        effect=top.effect if top is not None else _NAN,
        effect_metric=top.name if top is not None else "",
        threshold=top.threshold if top is not None else _NAN,
        p_value=p,
        confidence=1.0 - p,
        p_drift=p_drift,
        magnitude=magnitude,
        ci=ci,
        severity=severity,
        reasons=reasons,
        metrics={c.name: (c.value, c.threshold, c.p) for c in checks or []},
        kind=kind,
        n_window=n_window,
        ratio=ratio,
        ranked=ranked,
        z=z,
        cusum_k=cusum_k,
        decisive=bool(breach and decisive),
        values=values,
    )


def evaluate_feature(
    feature: str,
    kind: Kind,
    baseline: Sketch,
    window: Sketch,
    calibration: FeatureCalibration | None,
    *,
    alpha: float,
    thresholds: Mapping[str, float] | None = None,
    min_window_events: int = 100,
    scale: Scale = "hour",
    model_events: int | None = None,
    measures: Mapping[str, Measure] | None = None,
    pair: CategoricalPair | None = None,
) -> Decision:
    """Measures between two sketches, then :func:`decide` (what the pipeline calls).

    Override metrics outside the decision set (e.g. ``psi``) are computed too.
    ``measures``: this pair's ``decision_measures``, already computed (the batched
    path, :func:`batch_measures`); else computed here. ``pair``: a categorical
    pair's alignment, ``CategoricalPair.of(baseline, window)``, already built.
    """
    if measures is None:
        extra = sorted(thresholds or {})
        measures = decision_measures(baseline, window, kind, extra=extra)
    if isinstance(baseline, NumericSketch) and resolution_limited(baseline):
        # Bucket-shape metrics are artefacts below the sketch's resolution.
        measures = {n: m for n, m in measures.items() if n not in SHAPE_METRICS}
    if kind != "categorical":
        pair = None
    elif pair is None:
        pair = CategoricalPair.of(baseline, window)  # type: ignore[arg-type]
    return decide(
        feature,
        kind,
        measures,
        calibration,
        int(window.total),
        alpha=alpha,
        thresholds=thresholds,
        min_window_events=min_window_events,
        scale=scale,
        pair=pair,
        model_events=model_events,
    )


def batch_measures(
    jobs: Sequence[tuple[Kind, Sketch, Sketch, Mapping[str, float]]],
    *,
    pairs: Sequence[CategoricalPair | None] | None = None,
    groups: Sequence[int] | None = None,
) -> list[dict[str, Measure] | None]:
    """``decision_measures`` of many (kind, baseline, window, thresholds) pairs at once.

    ``groups``: each job's group (e.g. one per window and baseline, default one for all):
    every job is measured exactly as in a call with its group's jobs alone.

    Numeric pairs whose decision set is :data:`~stream.core.measures.batch.BATCH_MEASURES`
    (no override metric outside it) are measured in one array pass
    (:func:`~stream.core.measures.batch.numeric_batch`), categorical ones likewise
    (:func:`~stream.core.measures.batch_categorical.categorical_batch`, on ``pairs[i]``
    when given: the job's aligned pair, which :func:`evaluate_feature` reuses); every
    other entry is ``None`` (the caller's :func:`evaluate_feature` measures it pair by pair).
    """
    out: list[dict[str, Measure] | None] = [None] * len(jobs)
    if _BATCHABLE:
        idx = [
            i
            for i, (kind, base, win, thr) in enumerate(jobs)
            if kind == "numeric"
            and isinstance(base, NumericSketch)
            and isinstance(win, NumericSketch)
            and _NUMERIC_NAMES.issuperset(thr)
        ]
        nums = [(narrow(jobs[i][1], NumericSketch), narrow(jobs[i][2], NumericSketch)) for i in idx]
        grouped = None if groups is None else [groups[i] for i in idx]
        measured = numeric_batch(nums, groups=grouped) if nums else []
        for i, ms in zip(idx, measured, strict=True):
            out[i] = ms
    if _CAT_BATCHABLE:
        cidx, cpairs = [], []
        for i, (kind, base, win, thr) in enumerate(jobs):
            if not (
                kind == "categorical"
                and isinstance(base, CategoricalSketch)
                and isinstance(win, CategoricalSketch)
                and _CATEGORICAL_NAMES.issuperset(thr)
            ):
                continue
            given = pairs[i] if pairs is not None else None
            cidx.append(i)
            cpairs.append(given if given is not None else CategoricalPair.of(base, win))
        for i, cms in zip(cidx, categorical_batch(cpairs) if cpairs else [], strict=True):
            out[i] = cms
    return out


_NUMERIC_NAMES = frozenset(r.name for r in RULES["numeric"])
_BATCHABLE = _NUMERIC_NAMES == frozenset(BATCH_MEASURES)  # a registry change: pair by pair
_CATEGORICAL_NAMES = frozenset(r.name for r in RULES["categorical"])
_CAT_BATCHABLE = _CATEGORICAL_NAMES == frozenset(CATEGORICAL_BATCH)
