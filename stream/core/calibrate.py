"""Thresholds learned from the reference itself, and the critical z of a false-alarm budget.

A window's metric ``v`` (window of n observations vs a baseline of m) is modelled as

    v = centre(n_eff) + e,   Var(e) = τ² + σ²/n_eff,   n_eff = n·m/(n+m)

(laws and centres in :mod:`.nullspread`). Calibration, per feature × decision metric ×
window scale × baseline:

1. σ² (and a distance's bias β) is the *sampling* spread: analytic for shares and
   mean shifts, else from seeded multinomial redraws of the reference at the live
   window's size and at the reference windows' size.
2. The time-ordered reference windows give values ``v_i`` at sizes ``n_i``: window i vs
   the merge of all the others (leave-one-out: no self-comparison bias) for the
   ``reference`` baseline, window i vs window i − lag for ``previous``/``seasonal``.
3. Cochran's Q = Σ w_i (u_i − ū)², ``u_i = v_i − centre_i``, ``w_i = n_eff_i/σ²``, tests
   whether the windows differ by more than sampling noise: Q ~ χ²(k−1), or
   Q/(k−1) ~ F(k−1, B−1) when σ² came from B redraws. Only when p < ``q_alpha``
   (default 0.001) is τ² estimated (DerSimonian–Laird, (Q − df)/(Σw − Σw²/Σw));
   otherwise τ² = 0. A chance τ from small reference windows would hold every
   threshold up for nothing and delay real detections by hours.
4. μ0 is the random-effects mean of ``u_i`` (≥ 0 for distances and shares).

``threshold(n, z) = centre(n_eff) + z·sqrt(τ² + σ²/n_eff)``. With fewer than three
reference windows, steps 2–4 are skipped (τ² = 0, method ``"synthetic"``).

Critical z from the budget (:func:`alpha_per_test`, Bonferroni). With ``B`` expected
false alerts per model per 30 days, ``S`` detector streams sharing it (hour, day,
CUSUM), ``T`` tests per window (Σ over features of their decision metrics) and ``W``
windows per 30 days (720 hourly, 30 daily): ``α = B / (S·T·W)``; z = Φ⁻¹(1 − α) for
one-sided metrics, Φ⁻¹(1 − α/2) for signed ones. Example: B = 1, S = 3, 10 features
× 4.5 metrics: hourly α = 1/(3·45·720) = 1.0e-5, z = 4.26; daily α = 2.5e-4, z = 3.48.

Evidence-weighted persistence splits that per-window budget in two rules
(:mod:`.lifecycle`): a window whose evidence alone clears the stricter level
α₁ = ``ONE_WINDOW_SHARE`` · α pages at once (this rule spends at most half the
budget), and a breach at α that is only marginal pages when the next window breaches
too. The second rule spends α · P(breach at t+1 | breach at t); consecutive windows'
scores are nearly independent against a large reference (correlation n/(n+m)) and
negatively correlated against the previous window, so that conditional probability
is below 1 % at these z (bivariate normal tail), far inside the other half.

>>> round(z_critical(alpha_per_test(1.0, 45, "hour", n_streams=3)), 2)
4.26
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, Self, TypeVar

import numpy as np

from stream.core.measures import pair_rows
from stream.core.measures.tails import chi2_sf, f_sf, norm_isf
from stream.core.nullspread import (
    RULES,
    Calibration,
    Law,
    Resampler,
    Sketch,
    fast_values,
    narrow,
)
from stream.core.records import from_builtins, to_builtins
from stream.core.seasonality import Seasonality, detect_seasonality
from stream.core.sketch import NumericSketch
from stream.core.vocabulary import Baseline, Kind, Scale
from stream.core.window import DAY_MS, HOUR_MS

__all__ = [
    "DRAWS",
    "ONE_WINDOW_SHARE",
    "Q_ALPHA",
    "Calibration",
    "FeatureCalibration",
    "ModelCalibration",
    "Seasonality",
    "alpha_per_test",
    "calibrate_feature",
    "calibrate_model",
    "leave_one_out",
    "day_windows",
    "detect_seasonality",
    "model_alpha",
    "one_window_alpha",
    "z_critical",
]

DRAWS = 120
"""Multinomial redraws per size: σ²'s relative SE ≈ √(2/119) = 13%, which the F-test absorbs."""
Q_ALPHA = 0.001
"""Level of the heterogeneity gate on τ²: ~200 Q-tests per model (features × metrics ×
scales × baselines) leave ~0.2 chance gates, while real cycles reach p < 1e-20."""
ONE_WINDOW_SHARE = 0.5
"""Share of the per-window α a single window must clear to page without confirmation."""
WINDOWS_PER_30_DAYS: Mapping[str, int] = {"hour": 720, "day": 30}
_WIDTH = {"hour": HOUR_MS, "day": DAY_MS}
_MIN_WINDOWS = 3
_MIN_EVENTS = 10  # reference windows smaller than this say nothing about spread
_SPARSE = 5.0  # expected minority count per window below which χ² heterogeneity fails
# β and σ² are per-√n constants: beyond this size redraws cost time and add nothing
# (a reference loaded from a file without timestamps is one huge "hour").
_MAX_DRAW = 20_000
_VERSION = 1


@dataclass(frozen=True)
class FeatureCalibration:
    """Every decision metric's calibration for one feature, window scale and baseline."""

    feature: str
    kind: Kind
    scale: Scale
    baseline: Baseline
    metrics: Mapping[str, Calibration]
    lag_ms: int = 0
    window_n: float = math.nan
    live_n: float = math.nan
    n_windows: int = 0
    method: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form: every field, non-finite numbers as null (``records``)."""
        return to_builtins(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FeatureCalibration:
        """Inverse of :meth:`to_dict`."""
        return from_builtins(d, cls)


@dataclass(frozen=True)
class ModelCalibration:
    """All calibrations of a model (feature → "scale/baseline" → calibration) and seasonality.

    ``joint``: the joint member's calibrations by scale, as JSON (read them with
    ``stream.core.joint.JointCalibration.from_dict``); empty when the member is off.
    """

    model: str
    calibrations: Mapping[str, Mapping[str, FeatureCalibration]]
    seasonality: Mapping[str, Seasonality] = field(default_factory=dict)
    joint: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def get(self, feature: str, scale: Scale, baseline: Baseline) -> FeatureCalibration | None:
        """The calibration of one feature at one scale and baseline, if calibrated."""
        return self.calibrations.get(feature, {}).get(f"{scale}/{baseline}")

    def baseline_for(self, feature: str, scale: Scale, seasonal: bool | str = "auto") -> Baseline:
        """``seasonal`` when the feature has cycles that show at this scale, else ``reference``.

        ``seasonal`` is the FeatureSpec setting: True/False override detection.
        """
        if seasonal is True:
            return "seasonal"
        if seasonal is False or feature not in self.seasonality:
            return "reference"
        return self.seasonality[feature].baseline(scale)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form, stable key order (stored with the reference).

        Every field plus ``version``; ``joint`` only when the member is on.
        """
        out = {"version": _VERSION, **to_builtins(self)}
        if not self.joint:
            del out["joint"]
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ModelCalibration:
        """Inverse of :meth:`to_dict`; refuses unknown versions."""
        if d.get("version") != _VERSION:
            msg = f"unsupported calibration version {d.get('version')!r}"
            raise ValueError(msg)
        return from_builtins({k: v for k, v in d.items() if k != "version"}, cls)


# ---------------------------------------------------------------- budget → z


def alpha_per_test(
    false_alarm_budget: float, n_tests_per_window: int, scale: Scale, *, n_streams: int = 3
) -> float:
    """Per-test level α = budget / (streams · tests per window · windows per 30 days).

    >>> alpha_per_test(1.0, 10, "day", n_streams=1)
    0.0033333333333333335
    """
    windows = WINDOWS_PER_30_DAYS[scale]
    denom = max(1, n_streams) * max(1, n_tests_per_window) * windows
    return min(0.5, false_alarm_budget / denom)


def model_alpha(
    false_alarm_budget: float,
    kinds: Mapping[str, Kind],
    scale: Scale,
    *,
    n_streams: int = 3,
    extra_tests: int = 0,
) -> float:
    """:func:`alpha_per_test` with the tests per window counted from the features' kinds.

    ``extra_tests``: model-level tests beside the features' (the joint member's two).

    >>> round(model_alpha(1.0, {"a": "numeric", "b": "categorical"}, "hour"), 9)
    5.144e-05
    """
    tests = sum(len(RULES[k]) for k in kinds.values()) + extra_tests
    return alpha_per_test(false_alarm_budget, tests, scale, n_streams=n_streams)


def one_window_alpha(alpha: float) -> float:
    """The level a window's evidence alone must reach to page at once: α · ONE_WINDOW_SHARE.

    >>> one_window_alpha(1e-5)
    5e-06
    """
    return alpha * ONE_WINDOW_SHARE


def z_critical(alpha: float, *, two_sided: bool = False) -> float:
    """Standard normal quantile exceeded with probability α (α/2 per side if two-sided).

    >>> round(z_critical(0.05, two_sided=True), 2)
    1.96
    """
    return norm_isf(alpha / 2 if two_sided else alpha)


# ---------------------------------------------------------------- calibration


def _seed(seed: int, *parts: str) -> int:
    # Stable across processes and Python versions (never the salted built-in hash()).
    digest = hashlib.blake2b("\x1f".join((str(seed), *parts)).encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big")


def _merge(sketches: Sequence[Sketch]) -> Sketch:
    out = sketches[0]
    for s in sketches[1:]:
        out = out.merge(s)  # type: ignore[arg-type]
    return out


def day_windows(hours: Mapping[int, Sketch], *, min_hours: int = 12) -> dict[int, Sketch]:
    """Hour sketches merged into UTC days; days with fewer than ``min_hours`` hours dropped."""
    days: dict[int, list[Sketch]] = {}
    for start in sorted(hours):
        days.setdefault(start - start % DAY_MS, []).append(hours[start])
    return {d: _merge(hs) for d, hs in days.items() if len(hs) >= min_hours}


class _Mergeable(Protocol):
    def merge(self, other: Self, /) -> Self: ...


_M = TypeVar("_M", bound=_Mergeable)


def leave_one_out(windows: Sequence[_M]) -> list[_M]:
    """Merge of all windows but i, for every i (prefix/suffix merges: O(k), not O(k²)).

    >>> from stream.core.sketch import NumericSketch
    >>> ws = [NumericSketch.zero().update(np.array([float(i)])) for i in range(3)]
    >>> [w.count for w in leave_one_out(ws)]
    [2, 2, 2]
    """
    k = len(windows)
    prefix: list[_M | None] = [None] * (k + 1)
    suffix: list[_M | None] = [None] * (k + 1)
    for i in range(k):
        p = prefix[i]
        prefix[i + 1] = windows[i] if p is None else p.merge(windows[i])
    for i in range(k - 1, -1, -1):
        s = suffix[i + 1]
        suffix[i] = windows[i] if s is None else windows[i].merge(s)
    out = []
    for i in range(k):
        a, b = prefix[i], suffix[i + 1]
        rest = a.merge(b) if a is not None and b is not None else (a or b)
        if rest is None:
            msg = "leave_one_out needs at least two windows"
            raise ValueError(msg)
        out.append(rest)
    return out


def _plan(
    windows: Mapping[int, Sketch], baseline: Baseline, width: int
) -> tuple[list[int], list[int] | None, int]:
    """Window starts compared, their baselines' starts (None: leave-one-out), and the lag."""
    starts = [s for s in sorted(windows) if windows[s].total >= _MIN_EVENTS]
    if baseline == "reference":
        return (starts, None, 0) if len(starts) >= _MIN_WINDOWS else ([], None, 0)
    # Same hour/day last week; a reference shorter than two weeks can only show the
    # daily cycle, so the hourly seasonal calibration falls back to lag one day.
    lags = [width] if baseline == "previous" else [7 * DAY_MS]
    if baseline == "seasonal" and width == HOUR_MS:
        lags.append(DAY_MS)
    have = set(starts)
    for lag in lags:
        wins = [s for s in starts if s - lag in have]
        if len(wins) >= _MIN_WINDOWS * 8 or lag == lags[-1]:
            return wins, [s - lag for s in wins], lag
    return [], [], lags[-1]  # pragma: no cover - loop always returns


def _pairs(
    windows: Mapping[int, Sketch], baseline: Baseline, width: int
) -> tuple[list[tuple[Sketch, Sketch]], int]:
    """(baseline sketch, window sketch) pairs of the reference and the lag used."""
    starts, bases, lag = _plan(windows, baseline, width)
    if not starts:
        return [], lag
    if bases is None:
        rests: list[Sketch] = leave_one_out([windows[s] for s in starts])
        return [(r, windows[s]) for r, s in zip(rests, starts, strict=True)], 0
    return [(windows[b], windows[s]) for b, s in zip(bases, starts, strict=True)], lag


def _numeric_obs(
    windows: Mapping[int, Sketch], full: Sketch, baseline: Baseline, width: int
) -> tuple[dict[str, list[tuple[float, int, int]]], int, int] | None:
    """The numeric pairs' observations in array operations (``measures.pair_rows``).

    ``None`` when the sketches do not fit one bucket grid (a collapsed low tail):
    the caller then compares pair by pair.
    """
    grid = pair_rows.grid_of(narrow(full, NumericSketch))
    if grid is None:
        return None
    starts, bases, lag = _plan(windows, baseline, width)
    if not starts:
        return {r.name: [] for r in RULES["numeric"]}, 0, lag
    order = sorted(set(starts) | set(bases or ()))
    rows = pair_rows.rows_of(grid, [narrow(windows[s], NumericSketch) for s in order])
    if rows is None:
        return None
    at = {s: i for i, s in enumerate(order)}
    win = rows.take(np.array([at[s] for s in starts], dtype=np.int64))
    base = (
        win.leave_one_out()
        if bases is None
        else rows.take(np.array([at[s] for s in bases], dtype=np.int64))
    )
    return pair_rows.pair_values(grid, base, win), len(starts), lag


@dataclass
class _Law:
    beta: float
    sigma2: float
    draws: int


def _synthetic_laws(
    rs: Resampler, kind: Kind, n: int, draws: int, rng: np.random.Generator
) -> dict[str, _Law]:
    """β and σ² of the distance metrics from redrawn windows of size n (one-sample: n_eff = n)."""
    names = [r.name for r in RULES[kind] if r.law == "distance"]
    fast = rs.scaled_distances(names, n, draws, rng)
    vals: dict[str, list[float]] = fast if fast is not None else {m: [] for m in names}
    for _ in range(draws if fast is None else 0):
        ms = fast_values(rs.base, rs.draw(n, rng), kind, names)
        for m in names:
            x = ms[m]
            if x.is_defined and x.n_win > 0:
                vals[m].append(x.value * math.sqrt(x.n_win))
    out = {}
    for m, xs in vals.items():
        a = np.asarray(xs, dtype=np.float64)
        ok = a.size >= 3
        out[m] = _Law(
            float(a.mean()) if ok else 0.0, float(a.var(ddof=1)) if ok else 0.0, int(a.size)
        )
    return out


def _fit(
    name: str,
    law: Law,
    obs: Sequence[tuple[float, int, int]],
    q_law: _Law,
    live_law: _Law,
    n_ref: int,
    q_alpha: float,
) -> Calibration:
    """Cochran's Q, gated DerSimonian–Laird τ² and the random-effects centre of one metric.

    ``obs`` are (value, window size, baseline size) of the reference windows; ``q_law``
    is the sampling law at the reference windows' size, ``live_law`` at the live size.
    """
    base = Calibration(
        name, law, 0.0, live_law.beta, live_law.sigma2, n_ref=n_ref, draws=live_law.draws
    )
    arr = np.asarray(obs, dtype=np.float64).reshape(-1, 3)
    v, n, m = arr[:, 0], arr[:, 1], arr[:, 2]
    ok = np.isfinite(v) & (n > 0) & (m > 0)
    v, n, m = v[ok], n[ok], m[ok]
    k = int(v.size)
    method = "synthetic" if law == "distance" else "analytic"
    if k < _MIN_WINDOWS:
        return replace(base, n_windows=k, method=f"{method}; too few windows, tau2 = 0")
    n_eff = n * m / (n + m)
    if law == "share":
        rate = np.minimum(1.0, q_law.beta / (m + 1.0))
        u, var = v - rate, rate * (1 - rate) * (1 / n + 1 / (m + 2.0))
        expected = float(np.mean(n * rate))
    elif law == "signed":
        u, var = v, q_law.sigma2 / n_eff
        # σ² = p(1−p) for a share: the rarer side's expected count per window.
        p = 0.5 * (1.0 - math.sqrt(max(0.0, 1.0 - 4.0 * q_law.sigma2)))
        expected = math.inf if name == "mean_shift" else float(np.mean(n_eff)) * p
    else:
        u, var = v - q_law.beta / np.sqrt(n_eff), q_law.sigma2 / n_eff
        expected = math.inf
    if expected < _SPARSE or not np.all(var > 0):
        return replace(base, n_windows=k, method=f"{method}; sparse, tau2 = 0")
    w = 1.0 / var
    sw = float(np.sum(w))
    q = float(np.sum(w * (u - float(np.sum(w * u)) / sw) ** 2))
    df = k - 1
    if law == "distance":
        # σ² itself was estimated from B redraws: Q/df ~ F(df, B−1), not χ²(df)/df.
        p_q = f_sf(q / df, df, max(1, q_law.draws - 1))
    else:
        p_q = chi2_sf(q, df)
    tau2 = 0.0
    if p_q < q_alpha:
        tau2 = max(0.0, (q - df) / (sw - float(np.sum(w * w)) / sw))
    w_re = 1.0 / (var + tau2)
    mu0 = float(np.sum(w_re * u) / np.sum(w_re))
    if law != "signed":
        mu0 = max(0.0, mu0)  # a distance or share below its sampling centre is noise
    gate = "tau2 real" if tau2 > 0 else "tau2 = 0"
    return replace(
        base, mu0=mu0, tau2=tau2, q=q, q_df=df, q_p=p_q, n_windows=k, method=f"{method}; {gate}"
    )


def _laws(
    rs: Resampler, kind: Kind, sizes: Sequence[int], draws: int, rng: np.random.Generator
) -> list[dict[str, _Law]]:
    """Sampling laws of every decision metric at each size (distances redrawn, rest analytic)."""
    cache: dict[int, dict[str, _Law]] = {}
    p = rs.missing_share
    out = []
    for size in (min(max(1, n), _MAX_DRAW) for n in sizes):
        if size not in cache:
            laws = _synthetic_laws(rs, kind, size, draws, rng)
            for r in RULES[kind]:
                if r.law == "signed":
                    laws[r.name] = _Law(0.0, 1.0 if r.name == "mean_shift" else p * (1 - p), 0)
                elif r.law == "share":
                    beta = 2.0 if r.name == "out_of_range" else rs.singletons() + 1.0
                    laws[r.name] = _Law(beta, beta, 0)
            cache[size] = laws
        out.append(cache[size])
    return out


def calibrate_feature(
    feature: str,
    kind: Kind,
    windows: Mapping[int, Sketch],
    *,
    scale: Scale = "hour",
    baseline: Baseline = "reference",
    live_n: int | None = None,
    draws: int = DRAWS,
    seed: int = 0,
    q_alpha: float = Q_ALPHA,
) -> FeatureCalibration:
    """Calibrate one feature's decision metrics from its time-ordered reference windows.

    Args:
        feature: feature name (also salts the seed).
        kind: ``numeric`` or ``categorical``.
        windows: reference sketches of this scale by window start (ms); for days,
            see :func:`day_windows`.
        scale: window scale the calibration is for.
        baseline: ``reference`` (leave-one-out), ``previous`` (lag one window) or
            ``seasonal`` (lag one week; one day for hours when the reference is short).
        live_n: expected live window size (events); default the reference windows'
            median. β and σ² of distances are redrawn at this size.
        draws: multinomial redraws per size.
        seed: base seed; the stream used is derived from it, the feature, scale and
            baseline, so results do not depend on calibration order.
        q_alpha: level of the Cochran's Q gate on τ².

    Returns:
        A :class:`FeatureCalibration` with one :class:`Calibration` per decision metric.
    """
    if not windows:
        msg = f"feature {feature!r}: no reference windows to calibrate from"
        raise ValueError(msg)
    rng = np.random.default_rng(_seed(seed, feature, scale, baseline))
    full = _merge([windows[s] for s in sorted(windows)])
    rs = Resampler(full, kind)
    sizes = [w.total for w in windows.values() if w.total >= _MIN_EVENTS]
    window_n = int(np.median(sizes)) if sizes else max(_MIN_EVENTS, rs.total)
    target = int(live_n) if live_n else window_n
    q_laws, live_laws = _laws(rs, kind, [window_n, target], draws, rng)
    fast = _numeric_obs(windows, full, baseline, _WIDTH[scale]) if kind == "numeric" else None
    if fast is not None:
        obs, n_pairs, lag = fast
    else:
        pairs, lag = _pairs(windows, baseline, _WIDTH[scale])
        n_pairs = len(pairs)
        obs = {r.name: [] for r in RULES[kind]}
        for base_sketch, win in pairs:
            for name, meas in fast_values(base_sketch, win, kind).items():
                if name in obs:
                    obs[name].append((meas.value, meas.n_win, meas.n_ref))
    n_ref = fast_values(full, full, kind)
    metrics = {
        r.name: _fit(
            r.name,
            r.law,
            obs[r.name],
            q_laws[r.name],
            live_laws[r.name],
            n_ref[r.name].n_ref,
            q_alpha,
        )
        for r in RULES[kind]
    }
    how = "leave-one-out" if baseline == "reference" else f"lag {lag // HOUR_MS}h"
    return FeatureCalibration(
        feature,
        kind,
        scale,
        baseline,
        metrics,
        lag_ms=lag,
        window_n=float(window_n),
        live_n=float(target),
        n_windows=n_pairs,
        method=f"{how} over {n_pairs} windows + {draws} redraws"
        if n_pairs
        else f"{draws} redraws only",
    )


def calibrate_model(
    model: str,
    kinds: Mapping[str, Kind],
    hours: Mapping[int, Mapping[str, Sketch]],
    *,
    scales: Sequence[Scale] = ("hour", "day"),
    baselines: Sequence[Baseline] = ("reference", "seasonal"),
    live_n: Mapping[str, int] | None = None,
    draws: int = DRAWS,
    seed: int = 0,
) -> ModelCalibration:
    """Calibrate every feature × scale × baseline and detect seasonality, from reference hours.

    Args:
        model: model name.
        kinds: feature name → kind.
        hours: the reference's hour sketches, hour start (ms) → feature → sketch
            (the layout of ``pipeline.reference.Reference.hours``).
        scales: window scales to calibrate (days are merged from the hours).
        baselines: baselines to calibrate.
        live_n: expected live window size per scale (e.g. ``{"hour": 1500}``).
        draws: multinomial redraws per size.
        seed: base seed.
    """
    cals: dict[str, dict[str, FeatureCalibration]] = {}
    seasonality: dict[str, Seasonality] = {}
    for feature, kind in sorted(kinds.items()):
        fh = {t: row[feature] for t, row in hours.items() if feature in row}
        if not fh:
            continue
        seasonality[feature] = detect_seasonality(feature, kind, fh)
        per: dict[str, FeatureCalibration] = {}
        for scale in scales:
            windows = fh if scale == "hour" else day_windows(fh)
            if not windows:
                # No full day (a short or timestamp-less reference): redraws of the
                # whole reference still give the day scale its sampling spread.
                first = min(fh)
                windows = {first - first % DAY_MS: _merge([fh[t] for t in sorted(fh)])}
            for b in baselines:
                per[f"{scale}/{b}"] = calibrate_feature(
                    feature,
                    kind,
                    windows,
                    scale=scale,
                    baseline=b,
                    live_n=(live_n or {}).get(scale),
                    draws=draws,
                    seed=seed,
                )
        cals[feature] = per
    return ModelCalibration(model, cals, seasonality)
