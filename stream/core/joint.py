"""The model-level ``joint`` member: calibration on the reference's own windows and the decision.

Calibration (per window scale), with the reference's hour joint sketches:

1. The windows are the reference hours (or UTC days of at least 12 hours); each is
   compared with the merge of all the others (leave-one-out, as the univariate
   calibration in :mod:`.calibrate` does).
2. **Correlations.** Per pair, ``r_w = (atanh ρ_w − atanh ρ_rest)² / (1/(n_w−3) +
   1/(n_rest−3))`` is 1 on average when Fisher's normal approximation holds; heavy
   tails, and correlations that move with the time of day, make it larger. The pair's
   inflation ``φ`` is the upper 95% bound of its mean ``r`` (``k·mean/χ²_k(0.05)``),
   at least 1.
3. **Reconstruction error.** Axes fitted on the rest, ``u_w`` = window's error − the
   rest's expected error; the per-row variance ``n_w·u_w²`` (upper 95% bound of its
   mean, at least the Gaussian ``2·tr(ARAR)``) covers sampling and between-window
   variation. At a live window larger than the calibration windows the
   between-window part does not shrink, so the spread uses ``min(n, n_cal)``.

Decision (same rules as :mod:`.decide`: effect AND confidence). The member spends two
tests of the model's per-window budget (it is counted in the evaluator's α): the
correlation test is the largest ``|Z|`` over the ``P`` pairs, Bonferroni-corrected
(α/P per pair, two-sided); the reconstruction test is one-sided. A pair breaches when
``|Δρ|`` is past ``max(min_corr_change, Δρ at z_crit)`` and its corrected p < α; the
error breaches when its increase is past ``max(min_error_increase · expected,
z_crit · spread)``. Decisive at the one-window level α₁ as elsewhere.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from stream.core.calibrate import leave_one_out, one_window_alpha, z_critical
from stream.core.decide import CRITICAL_RATIO, Decision, Severity
from stream.core.measures.joint import (
    JointView,
    PairShift,
    PcaAxes,
    baseline_view,
    correlation_shifts,
    matrix_distance,
    pca_axes,
    reconstruction_error,
)
from stream.core.measures.tails import Z95, norm_cdf, norm_sf
from stream.core.nullspread import finite_or_none, none_to_nan
from stream.core.sketch.joint import JointSketch
from stream.core.vocabulary import Scale
from stream.core.window import DAY_MS

__all__ = [
    "JOINT",
    "JOINT_TESTS",
    "JointCalibration",
    "align_indicators",
    "calibrate_joint",
    "decide_joint",
]

JOINT = "joint"
"""Name of the model-level member in decisions and alerts."""
JOINT_TESTS = 2
"""Tests the joint member adds to a model's per-window budget (correlation, PCA error)."""
_MIN_WINDOWS = 3
_MIN_ROWS = 10
_TOP = 3
_NAN = math.nan


@dataclass(frozen=True)
class JointCalibration:
    """The joint member's calibration at one window scale."""

    scale: Scale
    inflation: Mapping[tuple[str, str], float] = field(default_factory=dict)
    pca_row_var: float = 0.0
    window_n: float = _NAN
    n_windows: int = 0
    method: str = "uncalibrated"

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "scale": self.scale,
            "inflation": [[a, b, v] for (a, b), v in sorted(self.inflation.items())],
            "pca_row_var": finite_or_none(self.pca_row_var),
            "window_n": finite_or_none(self.window_n),
            "n_windows": self.n_windows,
            "method": self.method,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> JointCalibration:
        """Inverse of :meth:`to_dict`."""
        return cls(
            d["scale"],
            {(str(a), str(b)): float(v) for a, b, v in d["inflation"]},
            none_to_nan(d["pca_row_var"]),
            none_to_nan(d["window_n"]),
            int(d["n_windows"]),
            str(d["method"]),
        )


def _upper(mean: float, k: int) -> float:
    """Upper 95% bound of a variance ratio estimated as the mean of k squared scores."""
    from scipy import stats  # only here: scipy.stats costs a replay ~0.3 s of start-up

    return mean * k / float(stats.chi2.ppf(0.05, k))


def _days(hours: Mapping[int, JointSketch], min_hours: int = 12) -> dict[int, JointSketch]:
    days: dict[int, list[JointSketch]] = {}
    for start in sorted(hours):
        days.setdefault(start - start % DAY_MS, []).append(hours[start])
    out = {}
    for d, hs in days.items():
        if len(hs) >= min_hours:
            acc = hs[0]
            for h in hs[1:]:
                acc = acc.merge(h)
            out[d] = acc
    return out


def align_indicators(ref: JointSketch, win: JointSketch) -> tuple[JointSketch, str | None]:
    """The window as comparable with ``ref``, and why its indicators are left out, if they are.

    A reference built before ``joint.indicators`` were declared has no indicator
    columns: the window is judged on its numeric columns alone (an exact sub-sketch)
    until the reference is rebuilt. Any other difference is left to
    :meth:`JointSketch.check_compatible`.
    """
    if ref.indicators or not win.indicators or ref.layout != win.without_indicators().layout:
        return win, None
    note = (
        f"the reference has no categories for the {len(win.indicators)} indicator column(s) "
        "(built before joint.indicators were declared): judged on numeric columns only; "
        "rebuild it with `driftstream reference build`"
    )
    return win.without_indicators(), note


def calibrate_joint(hours: Mapping[int, JointSketch], scale: Scale) -> JointCalibration:
    """Learn the pair inflations and the error spread from the reference's own windows.

    Args:
        hours: the reference's hour joint sketches by hour start (ms).
        scale: ``hour`` (the hours) or ``day`` (UTC days of ≥ 12 hours).
    """
    windows = dict(hours) if scale == "hour" else _days(hours)
    starts = [s for s in sorted(windows) if windows[s].rows >= _MIN_ROWS]
    if len(starts) < _MIN_WINDOWS:
        return JointCalibration(scale, n_windows=len(starts), method="too few windows: phi = 1")
    wins = [windows[s] for s in starts]
    rests = leave_one_out(wins)
    ratios: dict[tuple[str, str], list[float]] = {}
    pca_terms: list[float] = []
    gauss = 0.0
    for win, rest in zip(wins, rests, strict=True):
        vw, vr = JointView.of(win), JointView.of(rest)
        for p in correlation_shifts(vr, vw):
            ratios.setdefault((p.a, p.b), []).append(p.z * p.z)
        axes = pca_axes(vr)
        if axes is None:
            continue
        err, _ = reconstruction_error(axes, vw)
        if math.isfinite(err):
            pca_terms.append(win.rows * (err - axes.base_error) ** 2)
            gauss = max(gauss, axes.row_var)
    inflation = {
        pair: max(1.0, _upper(float(np.mean(rs)), len(rs)))
        for pair, rs in ratios.items()
        if len(rs) >= _MIN_WINDOWS
    }
    pca_var = gauss
    if len(pca_terms) >= _MIN_WINDOWS:
        pca_var = max(gauss, _upper(float(np.mean(pca_terms)), len(pca_terms)))
    return JointCalibration(
        scale,
        inflation,
        pca_var,
        float(np.median([w.rows for w in wins])),
        len(wins),
        f"leave-one-out over {len(wins)} {scale} windows",
    )


@dataclass(frozen=True)
class _Test:
    name: str
    value: float
    threshold: float
    p: float
    breach: bool
    decisive: bool
    magnitude: float
    ci: tuple[float, float]
    p_drift: float

    @property
    def ratio(self) -> float:
        return self.value / self.threshold if self.threshold > 0 else _NAN


def _corr_test(
    shifts: list[PairShift], alpha: float, floor: float
) -> tuple[_Test | None, list[dict[str, Any]]]:
    if not shifts:
        return None, []
    n_pairs = len(shifts)
    zc = z_critical(alpha / n_pairs, two_sided=True)
    z1 = z_critical(one_window_alpha(alpha) / n_pairs, two_sided=True)
    best: tuple[float, _Test] | None = None
    hints: list[dict[str, Any]] = []
    for p in shifts:
        p_adj = min(1.0, n_pairs * 2.0 * norm_sf(abs(p.z)))
        thr = max(floor, p.delta_bound(zc))
        effect = abs(p.delta)
        breach = effect >= thr and p_adj < alpha
        decisive = (
            breach and effect >= max(floor, p.delta_bound(z1)) and p_adj < one_window_alpha(alpha)
        )
        lo, hi = p.interval()
        se = p.se()
        # Posterior P(|Δ| > threshold), in Fisher-z units around the observed change.
        z_thr = abs(_atanh(p.rho_base + math.copysign(thr, p.delta)) - _atanh(p.rho_base))
        p_drift = norm_cdf(abs(p.z) - z_thr / se) if se > 0 else _NAN
        t = _Test("corr_change", effect, thr, p_adj, breach, decisive, p.delta, (lo, hi), p_drift)
        key = t.ratio if breach else -1.0 / (1.0 + abs(p.z))
        if best is None or key > best[0]:
            best = (key, t)
        if len(hints) < _TOP:
            hints.append(
                {
                    "pair": [p.a, p.b],
                    "rho_reference": round(p.rho_base, 4),
                    "rho_window": round(p.rho_window, 4),
                    "delta": round(p.delta, 4),
                    "ci": [round(lo, 4), round(hi, 4)],
                    "z": round(p.z, 2),
                }
            )
    return (best[1] if best else None), hints


def decide_joint(
    base: JointSketch,
    window: JointSketch,
    calibration: JointCalibration | None,
    *,
    alpha: float,
    min_corr_change: float = 0.1,
    min_error_increase: float = 0.1,
    min_window_events: int = 100,
    scale: Scale = "hour",
) -> Decision:
    """The joint member's verdict on one window (see the module docstring)."""
    if window.rows < min_window_events:
        why = f"too few rows ({window.rows} < {min_window_events}): joint not judged"
        return _decision([], (why,), window.rows, {})
    cal = calibration or JointCalibration(scale)
    (bv, axes), wv = baseline_view(base), JointView.of(window)
    shifts = correlation_shifts(bv, wv, cal.inflation)
    corr, pair_hints = _corr_test(shifts, alpha, min_corr_change)
    tests = [corr] if corr is not None else []
    details: dict[str, Any] = {
        "pairs": pair_hints,
        "matrix_distance": finite_or_none(round(matrix_distance(shifts), 4)),
        "columns_excluded": list(window.excluded),
    }
    if axes is not None:
        err, share = reconstruction_error(axes, wv)
        if math.isfinite(err):
            n = window.rows
            n_cal = cal.window_n if math.isfinite(cal.window_n) else n
            var = max(axes.row_var / n, cal.pca_row_var / max(1.0, min(n, n_cal)))
            sd = math.sqrt(var)
            effect = err - axes.base_error
            floor = min_error_increase * axes.base_error
            thr = max(floor, z_critical(alpha) * sd)
            p = norm_sf(effect / sd) if sd > 0 else _NAN
            breach = effect >= thr and p < alpha
            decisive = breach and effect >= max(floor, z_critical(one_window_alpha(alpha)) * sd)
            p_drift = norm_cdf((effect - thr) / sd) if sd > 0 else _NAN
            ci = (effect - Z95 * sd, effect + Z95 * sd)
            tests.append(_Test("pca_error", effect, thr, p, breach, decisive, effect, ci, p_drift))
            ref_share = np.diag(axes.residual @ _ref_second(bv, axes) @ axes.residual)
            up = share - ref_share
            order = np.argsort(-up)
            details["reconstruction_error"] = round(err, 4)
            details["expected_error"] = round(axes.base_error, 4)
            details["columns"] = [
                {"column": axes.columns[i], "increase": round(float(up[i]), 4)}
                for i in order[:_TOP].tolist()
                if up[i] > 0
            ]
    reasons = []
    for t in sorted(tests, key=lambda t: -t.ratio if math.isfinite(t.ratio) else 0.0):
        if not t.breach:
            continue
        if t.name == "corr_change" and pair_hints:
            h = pair_hints[0]
            a, b = h["pair"]
            reasons.append(
                f"correlation {a}~{b} moved {h['rho_reference']:+.2f} → {h['rho_window']:+.2f}"
                f" (Δρ 95% [{h['ci'][0]:+.2f}, {h['ci'][1]:+.2f}], threshold {t.threshold:.2f})"
            )
        elif t.name == "pca_error":
            names = ", ".join(c["column"] for c in details.get("columns", []))
            reasons.append(
                f"PCA reconstruction error {details['reconstruction_error']:.3g} vs expected"
                f" {details['expected_error']:.3g} (+{t.value:.3g} beyond {t.threshold:.3g};"
                f" most from {names or 'no single column'})"
            )
    if window.excluded:
        reasons.append(
            f"{len(window.excluded)} numeric columns not in the joint sketch not checked"
            " (joint.max_columns, joint.columns)"
        )
    if calibration is None:
        reasons.append("joint uncalibrated: Fisher/Gaussian spreads and floors only")
    return _decision(tests, tuple(reasons), window.rows, details)


def _atanh(r: float) -> float:
    return math.atanh(max(-0.999999, min(0.999999, r)))


def _ref_second(bv: JointView, axes: PcaAxes) -> npt.NDArray[np.float64]:
    """The baseline's standardised second moment (its correlation matrix, mean 0)."""
    k = len(bv.columns)
    out = np.zeros((k, k))
    u = list(axes.usable)
    out[np.ix_(u, u)] = bv.corr[np.ix_(u, u)]
    return out


def _decision(
    tests: list[_Test],
    reasons: tuple[str, ...],
    rows: int,
    details: dict[str, Any],
) -> Decision:
    breaching = sorted((t for t in tests if t.breach), key=lambda t: (-t.ratio, t.name))
    pool = breaching or sorted(
        tests, key=lambda t: (-(t.ratio if math.isfinite(t.ratio) else -1), t.name)
    )
    top = pool[0] if pool else None
    breach = bool(breaching)
    ratio = top.ratio if top is not None else 0.0
    severity: Severity = "none"
    if breach:
        severity = "critical" if ratio >= CRITICAL_RATIO else "warning"
    return Decision(
        feature=JOINT,
        breach=breach,
        effect=top.value if top else _NAN,
        effect_metric=top.name if top else "",
        threshold=top.threshold if top else _NAN,
        p_value=top.p if top else _NAN,
        confidence=1.0 - top.p if top else _NAN,
        p_drift=top.p_drift if top else _NAN,
        magnitude=top.magnitude if top else _NAN,
        ci=top.ci if top else (_NAN, _NAN),
        severity=severity,
        reasons=reasons,
        metrics={t.name: (t.value, t.threshold, t.p) for t in tests},
        kind="joint",
        n_window=rows,
        ratio=ratio,
        ranked=tuple(t.name for t in breaching),
        decisive=any(t.decisive for t in breaching),
        details=details,
    )
