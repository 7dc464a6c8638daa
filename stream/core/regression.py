"""Regression model health (pure): an exact, mergeable error-moment state and its decisions.

:class:`RegressionPerformance` keeps, for one window's labelled predictions (the
observed target y and the model's prediction ŷ, error e = ŷ − y in float64):
n, Σe, Σe², Σ|e|, Σq and Σq² of the float64 squares q = fl(e·e) (the spread of
the squared error, for the MSE's standard error), Σy, Σy² and Σŷ. Every sum is
an exact integer multiple of 2^-1126 (Σx) or 2^-2252 (Σx²), computed as the
numeric sketch's moments are (:mod:`stream.core.sketch._moments`), so merges are
integer additions: any batching, partitioning, merge order or crash/replay of
the same labels ends in the same state and the same bytes. The codec is
versioned. MAE, RMSE, bias and the target's mean and sd come from the sums,
each rounded once.

Decisions, each an effect beyond a floor AND a confidence (as the binary and
multiclass ones, :mod:`stream.core.model_health`):

- :func:`error_increase`: MAE or RMSE of the window against the reference's,
  as a relative increase. Breach when P(W > (1 + floor)·R) ≥ ``confidence``
  under the normal approximation, with W's and R's standard errors (MAE: sd of
  |e| / √n; RMSE: the MSE's SE from the spread of e², over 2·RMSE). The
  interval is on W − R (absolute units) and so is the decision's ``floor``
  (floor × R); the reason gives the relative change. A reference with zero error
  (R = 0) has no relative scale: the floor is then floor × the reference target's
  sd (else its |mean|, else 1 unit), so a perfect reference does not make every
  error a page.
- :func:`target_shift`: label shift for a numeric target, the target's mean
  against the reference's. Effect floor in reference standard deviations (as a
  numeric feature's mean shift); breach when P(move > floor·sd_r in the observed
  direction) = Φ((|μw − μr| − floor·sd_r)/se) ≥ ``confidence`` (Welch standard
  error, normal approximation). The decision's ``floor`` is floor·sd_r, in the
  target's units.

No estimate before labels: the events carry a point prediction, not a
predictive distribution, so there is no calibration map to estimate the error
from (said once per window by the health evaluator).

>>> ref = RegressionPerformance()
>>> ref.update([1.0, 2.0, 4.0], [1.5, 2.0, 3.0])
>>> ref.mae, round(ref.rmse or 0, 4), ref.target_mean
(0.5, 0.6455, 2.3333333333333335)
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Literal

import numpy as np
import numpy.typing as npt

from stream.core.measures.tails import norm_cdf
from stream.core.model_health import HealthDecision
from stream.core.performance import Q_ALPHA, Spread, spread_between
from stream.core.sketch import _moments
from stream.core.sketch._moments import (
    CHUNK,
    SQ_SHIFT,
    mean,
    variance,
    workspace,
)

__all__ = [
    "MAX_ABS",
    "MEASURES",
    "RegressionPerformance",
    "Spread",
    "as_number",
    "error_increase",
    "merge_all",
    "merge_bytes",
    "spread_of",
    "target_shift",
]

_VERSION = 1
_VERSION_SPREAD = 2
"""v1 plus the reference's between-window spread (only a reference's state carries one)."""
_HEADER = struct.Struct("<BQ")
_LEN = struct.Struct("<H")
_BLOB = struct.Struct("<I")
MEASURES = ("mean_shift", "mae", "rmse")
"""The measures whose between-window spread a reference keeps (decision metric names)."""
MAX_ABS = 1e50
"""Largest |target| or |prediction| accepted (so e² and its square stay finite)."""

_SUMS = ("e1", "e2", "a1", "q1", "q2", "y1", "y2", "p1")


def as_number(value: object) -> float:
    """A regression target's or prediction's value, by the one rule labels and references share.

    A JSON number (int or float; not a bool, a string or null), finite and within
    ±:data:`MAX_ABS`. ValueError says which part failed (the caller names the value).
    """
    if value is None or type(value) not in (int, float):
        msg = "a number"
        raise ValueError(msg)
    try:
        x = float(value)  # type: ignore[arg-type]
    except OverflowError:  # an int beyond float64
        x = math.inf
    if not abs(x) <= MAX_ABS:
        msg = f"a finite number within ±{MAX_ABS:g}"
        raise ValueError(msg)
    return x


def _sums(x: npt.NDArray[np.float64]) -> tuple[int, int]:
    """Exact (Σx · 2^SUM_SHIFT, Σx² · 2^SQ_SHIFT) of finite float64 values.

    The float partial sums are exact only below ``FOLD_EVERY`` values, so they are
    folded into the integers that often, as the numeric sketch's update does.
    """
    ws = workspace()
    ws.discard()
    s = np.sort(x)
    s1 = s2 = 0
    try:
        for i in range(0, s.size, CHUNK):
            part = s[i : i + CHUNK]
            n_neg = int(np.searchsorted(part, 0.0, side="left"))
            n_zero = int(np.searchsorted(part, 0.0, side="right")) - n_neg
            if ws.pending + part.size > _moments.FOLD_EVERY:
                d1, d2 = ws.fold()
                s1, s2 = s1 + d1, s2 + d2
            ws.add_sorted(part, n_neg, n_zero)
    except BaseException:
        ws.discard()
        raise
    d1, d2 = ws.fold()
    return s1 + d1, s2 + d2


def _measures(s: RegressionPerformance) -> dict[str, tuple[float, float]]:
    """Each measure's (value, sampling variance) in one window (nan below 2 labels)."""
    if s.n < 2:
        return {m: (math.nan, math.nan) for m in MEASURES}
    return {
        "mean_shift": (s.target_mean or 0.0, (s.target_sd or 0.0) ** 2 / s.n),
        "mae": (s.mae or 0.0, s.mae_se() ** 2),
        "rmse": (s.rmse or 0.0, s.rmse_se() ** 2),
    }


def spread_of(
    hours: Mapping[int, RegressionPerformance],
    *,
    q_alpha: float = Q_ALPHA,
    min_day_hours: int = 12,
    day_ms: int = 86_400_000,
) -> Spread:
    """The between-window spread of a reference kept per hour (keys: hour start, ms)."""
    return spread_between(
        hours, merge_all, _measures, MEASURES,
        q_alpha=q_alpha, min_day_hours=min_day_hours, day_ms=day_ms,
    )  # fmt: skip


@dataclass(slots=True)
class RegressionPerformance:
    """Exact error and target moments of one window (module docstring for the units)."""

    n: int = 0
    e1: int = 0
    """Σe (e = prediction − target) · 2^SUM_SHIFT."""
    e2: int = 0
    """Σe² · 2^SQ_SHIFT."""
    a1: int = 0
    """Σ|e| · 2^SUM_SHIFT."""
    q1: int = 0
    """Σq · 2^SUM_SHIFT, q = fl(e·e) the float64 squared error."""
    q2: int = 0
    """Σq² · 2^SQ_SHIFT (the squared error's spread)."""
    y1: int = 0
    """Σy (the observed target) · 2^SUM_SHIFT."""
    y2: int = 0
    """Σy² · 2^SQ_SHIFT."""
    p1: int = 0
    """Σŷ (the prediction) · 2^SUM_SHIFT."""
    spread: Spread | None = None
    """A reference's between-window spread (:func:`spread_of`); merges drop it."""

    def update(
        self,
        target: Sequence[float] | npt.NDArray[np.float64],
        prediction: Sequence[float] | npt.NDArray[np.float64],
    ) -> None:
        """Add labelled predictions; ValueError names a non-finite or too large value."""
        y = np.asarray(target, dtype=np.float64)
        p = np.asarray(prediction, dtype=np.float64)
        if y.shape != p.shape or y.ndim != 1:
            msg = f"regression update: {y.size} targets but {p.size} predictions"
            raise ValueError(msg)
        for name, v in (("target", y), ("prediction", p)):
            bad = ~(np.abs(v) <= MAX_ABS)  # also catches nan
            if bad.any():
                msg = (
                    f"regression update: {name} {float(v[bad][0])!r} is not a finite "
                    f"number within ±{MAX_ABS:g}"
                )
                raise ValueError(msg)
        if not y.size:
            return
        e = p - y
        q = e * e
        e1, e2 = _sums(e)
        a1, _ = _sums(np.abs(e))
        q1, q2 = _sums(q)
        y1, y2 = _sums(y)
        p1, _ = _sums(p)
        self.n += int(y.size)
        self.e1 += e1
        self.e2 += e2
        self.a1 += a1
        self.q1 += q1
        self.q2 += q2
        self.y1 += y1
        self.y2 += y2
        self.p1 += p1

    def merge(self, other: RegressionPerformance) -> RegressionPerformance:
        """Exact merge (integer sums)."""
        return RegressionPerformance(
            self.n + other.n, *(getattr(self, f) + getattr(other, f) for f in _SUMS)
        )

    # -- figures (None without labels) ---------------------------------------------
    @property
    def mae(self) -> float | None:
        """Mean absolute error."""
        return None if self.n == 0 else mean(self.n, self.a1)

    @property
    def mse(self) -> float | None:
        """Mean squared error (exact Σe², rounded once)."""
        if self.n == 0:
            return None
        try:
            return self.e2 / (self.n << SQ_SHIFT)
        except OverflowError:  # pragma: no cover - |values| ≤ MAX_ABS keeps it finite
            return math.inf

    @property
    def rmse(self) -> float | None:
        """Root mean squared error."""
        mse = self.mse
        return None if mse is None else math.sqrt(mse)

    @property
    def bias(self) -> float | None:
        """Mean error (prediction − target): positive when the model over-predicts."""
        return None if self.n == 0 else mean(self.n, self.e1)

    @property
    def target_mean(self) -> float | None:
        """Mean of the observed target."""
        return None if self.n == 0 else mean(self.n, self.y1)

    @property
    def target_sd(self) -> float | None:
        """Sample standard deviation of the observed target (None below 2 labels)."""
        if self.n < 2:
            return None
        return math.sqrt(max(variance(self.n, self.y1, self.y2), 0.0) * self.n / (self.n - 1))

    @property
    def prediction_mean(self) -> float | None:
        """Mean prediction."""
        return None if self.n == 0 else mean(self.n, self.p1)

    def mae_se(self) -> float:
        """Standard error of the MAE: sd of |e| / √n (inf below 2 labels)."""
        if self.n < 2:
            return math.inf
        var = max(variance(self.n, self.a1, self.e2), 0.0) * self.n / (self.n - 1)
        return math.sqrt(var / self.n)

    def rmse_se(self) -> float:
        """Standard error of the RMSE (delta method: SE(MSE) / (2·RMSE); inf below 2)."""
        rmse = self.rmse
        if self.n < 2 or rmse is None:
            return math.inf
        var_q = max(variance(self.n, self.q1, self.q2), 0.0) * self.n / (self.n - 1)
        se_mse = math.sqrt(var_q / self.n)
        return se_mse / (2 * rmse) if rmse > 0 else se_mse

    # -- codec ---------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        """Versioned form: (version, n), then each sum as a length-prefixed signed integer.

        v1 without a spread (every window's state: those bytes are unchanged); v2 adds
        the spread as length-prefixed JSON.
        """
        version = _VERSION if self.spread is None else _VERSION_SPREAD
        out = [_HEADER.pack(version, self.n)]
        for f in _SUMS:
            v: int = getattr(self, f)
            raw = v.to_bytes((v.bit_length() + 8) // 8, "little", signed=True)
            out.append(_LEN.pack(len(raw)) + raw)
        if self.spread is not None:
            blob = self.spread.to_json()
            out.append(_BLOB.pack(len(blob)) + blob)
        return b"".join(out)

    @classmethod
    def from_bytes(cls, data: bytes) -> RegressionPerformance:
        """Inverse of :meth:`to_bytes`; ValueError names what is wrong."""
        if len(data) < _HEADER.size:
            msg = f"regression state: {len(data)} bytes is shorter than its header"
            raise ValueError(msg)
        version, n = _HEADER.unpack_from(data)
        if version not in (_VERSION, _VERSION_SPREAD):
            msg = f"regression state: version {version} is not v{_VERSION} or v{_VERSION_SPREAD}"
            raise ValueError(msg)
        at = _HEADER.size
        sums: list[int] = []
        for f in _SUMS:
            if at + _LEN.size > len(data):
                msg = f"regression state: truncated before {f}"
                raise ValueError(msg)
            (size,) = _LEN.unpack_from(data, at)
            at += _LEN.size
            if at + size > len(data):
                msg = f"regression state: {f} needs {size} bytes, {len(data) - at} left"
                raise ValueError(msg)
            sums.append(int.from_bytes(data[at : at + size], "little", signed=True))
            at += size
        spread = None
        if version == _VERSION_SPREAD:
            spread = _spread_from(data, at)
            at = len(data)
        if at != len(data):
            msg = f"regression state: {len(data) - at} trailing bytes"
            raise ValueError(msg)
        state = cls(n, **dict(zip(_SUMS, sums, strict=True)), spread=spread)
        squares = (state.e2, state.a1, state.q1, state.q2, state.y2)
        if state.n == 0 and any(sums) or min(squares) < 0:
            msg = "regression state: sums inconsistent with its count (or a negative Σ of squares)"
            raise ValueError(msg)
        return state

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RegressionPerformance):
            return NotImplemented
        return all(getattr(self, f.name) == getattr(other, f.name) for f in fields(self))

    __hash__ = None  # type: ignore[assignment]


def _spread_from(data: bytes, at: int) -> Spread:
    """The v2 spread section at ``at`` (the rest of ``data``); ValueError names the fault."""
    if at + _BLOB.size > len(data):
        msg = "regression state: truncated before its spread"
        raise ValueError(msg)
    (size,) = _BLOB.unpack_from(data, at)
    at += _BLOB.size
    if at + size != len(data):
        msg = f"regression state: spread needs {size} bytes, {len(data) - at} left"
        raise ValueError(msg)
    return Spread.from_json(data[at:], "regression state")


def merge_all(states: Iterable[RegressionPerformance]) -> RegressionPerformance:
    """The exact merge of ``states`` (an empty state when there are none)."""
    out = RegressionPerformance()
    for s in states:
        out = out.merge(s)
    return out


def merge_bytes(blobs: Iterable[bytes]) -> RegressionPerformance:
    """The exact merge of stored states (:meth:`RegressionPerformance.to_bytes` forms)."""
    return merge_all(RegressionPerformance.from_bytes(b) for b in blobs)


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def _between(tau2: float) -> str:
    return f" (between-window sd {math.sqrt(tau2):.4g} of the reference)" if tau2 > 0 else ""


def error_increase(
    ref: RegressionPerformance,
    win: RegressionPerformance,
    *,
    metric: Literal["mae", "rmse"] = "mae",
    floor: float = 0.1,
    confidence: float = 0.99,
    tau2: float = 0.0,
) -> HealthDecision | None:
    """Relative increase of ``metric`` in ``win`` over ``ref``; None below 2 labels a side.

    ``tau2``: the reference's between-window variance of ``metric`` at the window's
    scale (:class:`Spread`), added to the window's sampling variance.
    """
    if ref.n < 2 or win.n < 2:
        return None
    if metric == "mae":
        r, w, rse, wse = ref.mae, win.mae, ref.mae_se(), win.mae_se()
    else:
        r, w, rse, wse = ref.rmse, win.rmse, ref.rmse_se(), win.rmse_se()
    assert r is not None and w is not None  # noqa: S101 - n ≥ 2
    unit, unit_name = _error_unit(ref, r)
    bar = r + floor * unit
    sd = math.sqrt(wse**2 + ((1 + floor) * rse) ** 2 + tau2)
    p = norm_cdf((w - bar) / sd) if sd > 0 else float(w > bar)
    breach = w > bar and p >= confidence
    delta = w - r
    half = 1.96 * math.sqrt(wse**2 + rse**2 + tau2)
    rel = (
        f"{100 * delta / r:+.1f} % (95 % interval {100 * (delta - half) / r:+.1f} … "
        f"{100 * (delta + half) / r:+.1f} %)"
        if r > 0
        else f"{delta:+.4g} from a zero reference error"
    )
    limit = f"{100 * floor:.0f} %" if r > 0 else f"{_fmt(floor * unit)} ({floor} × {unit_name})"
    why = (
        f"{metric.upper()} {_fmt(w)} vs reference {_fmt(r)}: {rel}, "
        f"P(increase > {limit}) = {p:.3f} "
        f"{'beyond' if breach else 'within'} floor at {confidence}{_between(tau2)}"
    )
    # The floor in the effect's units (W − R), as the lifecycle compares |delta| with it.
    return HealthDecision(
        "performance", metric, r, w, delta, delta - half, delta + half, p, breach, win.n, why,
        floor * unit, 1,
    )  # fmt: skip


def _error_unit(ref: RegressionPerformance, r: float) -> tuple[float, str]:
    """What the error floor is a share of (and its name, for the reason).

    The reference error; when that is 0 (a perfect reference), the reference target's
    sd, then its |mean|, then 1 (its units): a zero reference error must not make
    every window's error a page.
    """
    if r > 0:
        return r, "reference error"
    sd, mu = ref.target_sd or 0.0, abs(ref.target_mean or 0.0)
    if sd > 0:
        return sd, "reference target sd"
    if mu > 0:
        return mu, "|reference target mean|"
    return 1.0, "1 target unit"


def target_shift(
    ref: RegressionPerformance,
    win: RegressionPerformance,
    *,
    floor: float = 0.1,
    confidence: float = 0.99,
    tau2: float = 0.0,
) -> HealthDecision | None:
    """The target's mean in ``win`` against ``ref`` (floor in reference sds); None below 2.

    ``tau2``: the reference's between-window variance of the target mean at the
    window's scale (a daily cycle), added to the Welch variance.
    """
    r_sd, w_sd = ref.target_sd, win.target_sd
    r, w = ref.target_mean, win.target_mean
    if r_sd is None or w_sd is None or r is None or w is None:
        return None
    d = w - r
    se = math.sqrt(w_sd**2 / win.n + r_sd**2 / ref.n + tau2)
    thr = floor * r_sd
    # One-sided in the observed direction, as error_increase and the binary drops:
    # P(|D| > thr) would tend to 1 as se grows whatever d is.
    p = norm_cdf((abs(d) - thr) / se) if se > 0 else float(abs(d) > thr)
    breach = abs(d) > thr and p >= confidence
    lo, hi = d - 1.96 * se, d + 1.96 * se
    in_sd = f"{d / r_sd:+.3f} sd" if r_sd > 0 else "vs a constant reference target"
    why = (
        f"target mean {_fmt(w)} vs reference {_fmt(r)}: {d:+.4g} ({in_sd}; 95 % interval "
        f"{lo:+.4g} … {hi:+.4g}), P(move > {floor} sd = {_fmt(thr)}) = {p:.3f} "
        f"{'beyond' if breach else 'within'} floor at {confidence}{_between(tau2)}"
    )
    return HealthDecision("label", "mean_shift", r, w, d, lo, hi, p, breach, win.n, why, thr)
