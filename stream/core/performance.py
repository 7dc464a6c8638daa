"""Mergeable performance state of a binary classifier over one window (pure).

A window's state is integer counts only, so merging partitions, hours or days is
exact and order-free (the same labels give the same bytes whatever the
partitioning or batch size):

- ``pos`` / ``neg``: per-class histograms of the prediction score on fixed edges
  ``i / BINS`` (i = 0..BINS); a score ``s`` falls in bin ``min(floor(s * BINS), BINS - 1)``.
  ROC AUC comes from them exactly for the binned scores (pairs in one bin count 1/2),
  and PR AUC (average precision, thresholds at the bin edges).
- ``pos_sum`` / ``neg_sum``: per-class, per-bin sums of the scores in micro-units
  (``round(s * 1e6)``, integers): calibration error (ECE over the bins) is exact for
  scores on a 1e-6 grid.
- ``loss``: the log loss summed in micro-nats (``round(-ln p(y) * 1e6)`` per label,
  p clipped to [1e-15, 1 - 1e-15]): integers, so merges are exact; each label's
  rounding is at most 5e-7 nats.
- ``tp, fp, tn, fn``: the confusion matrix at the model's decision threshold
  (score >= threshold is predicted positive), kept exactly whatever the threshold.

A reference's state may also carry its between-window :class:`Spread` (the
variance of the positive share, AUC and accuracy between its hours and UTC days
beyond sampling, e.g. a daily cycle; :func:`spread_of`), stored as codec v2 (v1
bytes + length-prefixed JSON). Window states never carry one: their bytes are v1,
unchanged. The generic part (:class:`Spread`, :func:`fit_between`,
:func:`spread_between`) is shared with the regression reference
(:mod:`stream.core.regression`).

>>> a = BinaryPerformance.zero()
>>> a.update([0.9, 0.2, 0.7], [True, False, False], threshold=0.5)
>>> (a.n, a.positives, a.tp, a.fp, a.tn, a.fn)
(3, 1, 1, 1, 1, 0)
>>> BinaryPerformance.from_bytes(a.to_bytes()) == a
True
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from stream.core.measures.tails import chi2_sf

__all__ = [
    "BINS",
    "CAL_ALL",
    "CAL_GROUPS",
    "CAL_MEASURES",
    "CAL_MIN_EXPECTED",
    "MEASURES",
    "Q_ALPHA",
    "BinaryPerformance",
    "Spread",
    "auc_of_counts",
    "calibration_map",
    "calibration_measure",
    "fit_between",
    "merge_all",
    "read_spread",
    "score_bins",
    "spread_bytes",
    "spread_between",
    "spread_of",
    "spread_with_cycle",
]

#: Score histogram bins over [0, 1] (fixed: every window's state merges with every other).
BINS = 100
_VERSION = 1
_VERSION_SPREAD = 2
"""v1 plus the reference's between-window spread (only a reference's state carries one)."""
_BLOB = struct.Struct("<I")
MEASURES = ("positive_share", "auc", "accuracy")
"""The measures whose between-window spread a binary reference keeps (decision metric names)."""
CAL_GROUPS = 10
"""Score groups of the calibration test: ``CAL_GROUPS`` groups of BINS // CAL_GROUPS bins."""
CAL_MIN_EXPECTED = 5.0
"""A calibration group counts when its expected positives AND negatives reach this
(Cochran's rule for a χ² cell): sparser groups are pooled with their neighbours in a
window, and left out of the reference's spread fit (k15c: a lone positive in a group
expecting 0.01 gave χ² ≈ 100 on stationary windows)."""
Q_ALPHA = 0.001
"""Cochran's Q gate on τ² (as the features', :data:`stream.core.calibrate.Q_ALPHA`)."""
_MIN_WINDOWS = 3
S = TypeVar("S")
_HEADER = struct.Struct("<BHqqqqq")
_MICRO = 1_000_000
_EPS = 1e-15


def score_bins(scores: npt.NDArray[np.float64]) -> npt.NDArray[np.intp]:
    """The histogram bin of each score in [0, 1]."""
    return np.minimum((scores * BINS).astype(np.intp), BINS - 1)


def auc_of_counts(
    pos: npt.NDArray[np.int64] | npt.NDArray[np.float64],
    neg: npt.NDArray[np.int64] | npt.NDArray[np.float64],
) -> tuple[float | None, float | None]:
    """ROC AUC of per-bin class counts (ties count 1/2) and its Hanley-McNeil error.

    (None, None) without both classes. Counts may be expected (fractional) ones.
    """
    n1, n0 = float(pos.sum()), float(neg.sum())
    if n1 <= 0 or n0 <= 0:
        return None, None
    below = np.concatenate(([0.0], np.cumsum(neg, dtype=np.float64)[:-1]))
    a = (float(np.dot(pos, below)) + 0.5 * float(np.dot(pos, neg))) / (n1 * n0)
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    var = (a * (1 - a) + (n1 - 1) * (q1 - a * a) + (n0 - 1) * (q2 - a * a)) / (n1 * n0)
    return a, float(np.sqrt(max(var, 0.0)))


@dataclass(frozen=True, slots=True)
class Spread:
    """Between-window variance of a reference's measures, per window scale.

    ``fits`` holds ``(scale, measure, tau2, q, df, p)``: Cochran's Q of the
    reference's windows of that scale (hours, or UTC days of at least 12 hours)
    around their pooled value, its χ²(df) p-value, and the DerSimonian–Laird τ²,
    estimated only when p < :data:`Q_ALPHA` (else 0), as the features' calibration
    does (:mod:`stream.core.calibrate`). τ² is in the measure's squared units.
    """

    fits: tuple[tuple[str, str, float, float, int, float], ...] = ()

    def tau2(self, scale: str, measure: str) -> float:
        """τ² of ``measure`` at ``scale`` (0 when not estimated)."""
        for sc, m, tau2, *_ in self.fits:
            if sc == scale and m == measure:
                return tau2
        return 0.0

    def fitted(self, scale: str, measure: str) -> bool:
        """Whether the spread has a fit of ``measure`` at ``scale``.

        A reference built
        before that measure's spread was kept has none: judged as before).
        """
        return any(sc == scale and m == measure for sc, m, *_ in self.fits)

    def describe(self, scale: str, measure: str) -> str:
        """One line: Q, df, p and τ (for a decision's reason)."""
        for sc, m, tau2, q, df, p in self.fits:
            if sc == scale and m == measure:
                gate = f"τ {math.sqrt(tau2):.4g}" if tau2 > 0 else "τ² = 0"
                return f"between {scale}s Q {q:.1f} df {df} p {p:.2g}: {gate}"
        return f"no between-{scale} spread"

    def to_json(self) -> bytes:
        """The fits as JSON (a reference state's v2 section)."""
        return json.dumps([list(f) for f in self.fits]).encode()

    @classmethod
    def from_json(cls, raw: bytes, what: str) -> Spread:
        """Inverse of :meth:`to_json`; ValueError names ``what`` and the fault."""
        try:
            rows = json.loads(raw)
            fits = tuple(
                (str(sc), str(m), float(t), float(q), int(df), float(p))
                for sc, m, t, q, df, p in rows
            )
        except (ValueError, TypeError) as e:
            msg = f"{what}: unreadable spread ({e})"
            raise ValueError(msg) from None
        if any(not (math.isfinite(f[2]) and f[2] >= 0) for f in fits):
            msg = f"{what}: a spread's τ² is negative or not finite"
            raise ValueError(msg)
        return cls(fits)


def spread_bytes(spread: Spread | None) -> bytes:
    """A state's v2 tail: the spread as length-prefixed JSON (nothing without one)."""
    if spread is None:
        return b""
    blob = spread.to_json()
    return _BLOB.pack(len(blob)) + blob


def read_spread(data: bytes, end: int, what: str) -> Spread:
    """The spread of a v2 state whose fixed part ends at ``end``; ValueError names ``what``."""
    if end + _BLOB.size > len(data):
        msg = f"{what}: truncated before its spread"
        raise ValueError(msg)
    (size,) = _BLOB.unpack_from(data, end)
    if end + _BLOB.size + size != len(data):
        msg = f"{what}: spread needs {size} bytes, {len(data) - end - _BLOB.size} left"
        raise ValueError(msg)
    return Spread.from_json(data[end + _BLOB.size :], what)


def fit_between(
    values: Sequence[tuple[float, float]], q_alpha: float = Q_ALPHA
) -> tuple[float, float, int, float]:
    """(τ², Q, df, p) of (value, sampling variance) pairs; τ² only when Q says it is real."""
    pairs = [(v, var) for v, var in values if math.isfinite(v) and var > 0 and math.isfinite(var)]
    k = len(pairs)
    if k < _MIN_WINDOWS:
        return 0.0, 0.0, max(k - 1, 0), 1.0
    v = np.array([a for a, _ in pairs], dtype=np.float64)
    w = 1.0 / np.array([b for _, b in pairs], dtype=np.float64)
    sw = float(w.sum())
    q = float(np.sum(w * (v - float(np.sum(w * v)) / sw) ** 2))
    df = k - 1
    p = chi2_sf(q, df)
    tau2 = max(0.0, (q - df) / (sw - float(np.sum(w * w)) / sw)) if p < q_alpha else 0.0
    return tau2, q, df, p


def spread_between(
    hours: Mapping[int, S],
    merge: Callable[[Iterable[S]], S],
    measures: Callable[[S], Mapping[str, tuple[float, float]]],
    names: Sequence[str],
    *,
    q_alpha: float = Q_ALPHA,
    min_day_hours: int = 12,
    day_ms: int = 86_400_000,
) -> Spread:
    """The :class:`Spread` of a reference kept per hour (keys: hour start, ms), any state type.

    Scales: the hours, and the UTC days of at least ``min_day_hours`` (``merge``d);
    ``measures`` gives each window's (value, sampling variance) per name in ``names``.
    """
    days: dict[int, list[S]] = {}
    for start in sorted(hours):
        days.setdefault(start - start % day_ms, []).append(hours[start])
    windows = {
        "hour": [hours[h] for h in sorted(hours)],
        "day": [merge(hs) for _, hs in sorted(days.items()) if len(hs) >= min_day_hours],
    }
    fits = []
    for scale, states in windows.items():
        per = [measures(s) for s in states]
        for m in names:
            tau2, q, df, p = fit_between([x[m] for x in per], q_alpha)
            fits.append((scale, m, tau2, q, df, p))
    return Spread(tuple(fits))


@dataclass(slots=True)
class BinaryPerformance:
    """Label and score counts of one window (module docstring)."""

    pos: npt.NDArray[np.int64]
    neg: npt.NDArray[np.int64]
    pos_sum: npt.NDArray[np.int64]
    neg_sum: npt.NDArray[np.int64]
    tp: int = 0
    fp: int = 0
    tn: int = 0
    fn: int = 0
    loss: int = 0
    spread: Spread | None = None
    """A reference's between-window spread (:func:`spread_of`); merges drop it."""

    @classmethod
    def zero(cls) -> BinaryPerformance:
        """An empty window."""
        z = np.zeros(BINS, np.int64)
        return cls(z.copy(), z.copy(), z.copy(), z.copy())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BinaryPerformance):
            return NotImplemented
        return (
            self._ints() == other._ints()
            and bool(np.array_equal(self.pos, other.pos))
            and bool(np.array_equal(self.neg, other.neg))
            and bool(np.array_equal(self.pos_sum, other.pos_sum))
            and bool(np.array_equal(self.neg_sum, other.neg_sum))
            and self.spread == other.spread
        )

    def _ints(self) -> tuple[int, int, int, int, int]:
        return (self.tp, self.fp, self.tn, self.fn, self.loss)

    __hash__ = None  # type: ignore[assignment]

    @property
    def n(self) -> int:
        """Labelled predictions in the window."""
        return self.tp + self.fp + self.tn + self.fn

    @property
    def positives(self) -> int:
        """Positive labels in the window."""
        return self.tp + self.fn

    def update(
        self,
        scores: Sequence[float] | npt.NDArray[np.float64],
        positive: Sequence[bool] | npt.NDArray[np.bool_],
        *,
        threshold: float,
    ) -> None:
        """Add labelled predictions (scores in [0, 1]; the caller checks the range)."""
        s = np.asarray(scores, dtype=np.float64)
        y = np.asarray(positive, dtype=np.bool_)
        if s.size == 0:
            return
        bins = score_bins(s)
        micro = np.rint(s * _MICRO)
        self.pos += np.bincount(bins[y], minlength=BINS).astype(np.int64)
        self.neg += np.bincount(bins[~y], minlength=BINS).astype(np.int64)
        self.pos_sum += np.bincount(bins[y], micro[y], minlength=BINS).astype(np.int64)
        self.neg_sum += np.bincount(bins[~y], micro[~y], minlength=BINS).astype(np.int64)
        p = np.clip(np.where(y, s, 1.0 - s), _EPS, 1.0)
        self.loss += int(np.rint(-np.log(p) * _MICRO).astype(np.int64).sum())
        hit = s >= threshold
        self.tp += int(np.count_nonzero(hit & y))
        self.fp += int(np.count_nonzero(hit & ~y))
        self.fn += int(np.count_nonzero(~hit & y))
        self.tn += int(np.count_nonzero(~hit & ~y))

    def merge(self, other: BinaryPerformance) -> BinaryPerformance:
        """The window of both (a new value)."""
        return BinaryPerformance(
            self.pos + other.pos,
            self.neg + other.neg,
            self.pos_sum + other.pos_sum,
            self.neg_sum + other.neg_sum,
            self.tp + other.tp,
            self.fp + other.fp,
            self.tn + other.tn,
            self.fn + other.fn,
            self.loss + other.loss,
        )

    @property
    def positive_share(self) -> float | None:
        """Share of positive labels (None for an empty window)."""
        return self.positives / self.n if self.n else None

    @property
    def accuracy(self) -> float | None:
        """Share of labels the decision threshold got right."""
        return (self.tp + self.tn) / self.n if self.n else None

    def log_loss(self) -> float | None:
        """Mean log loss in nats (module docstring for its rounding)."""
        return self.loss / _MICRO / self.n if self.n else None

    def ece(self) -> float | None:
        """Expected calibration error over the score bins: Σ n_b/N · |mean score_b − share_b|."""
        if not self.n:
            return None
        n_b = self.pos + self.neg
        gap = np.abs((self.pos_sum + self.neg_sum) / _MICRO - self.pos)
        return float(gap[n_b > 0].sum()) / self.n

    def pr_auc(self) -> float | None:
        """Average precision with thresholds at the bin edges (None without positives)."""
        n_pos = int(self.pos.sum())
        if not n_pos:
            return None
        tp = np.cumsum(self.pos[::-1])
        fp = np.cumsum(self.neg[::-1])
        precision = tp / np.maximum(tp + fp, 1)
        return float(np.dot(self.pos[::-1], precision)) / n_pos

    def auc_se(self) -> float | None:
        """Hanley-McNeil standard error of :meth:`auc` (None when the AUC is undefined)."""
        return auc_of_counts(self.pos, self.neg)[1]

    def auc(self) -> float | None:
        """ROC AUC of the binned scores (ties in a bin count 1/2); None without both classes."""
        return auc_of_counts(self.pos, self.neg)[0]

    def to_bytes(self) -> bytes:
        """Versioned binary form (header, then four little-endian int64 arrays of BINS).

        v1 without a spread (every window's state: those bytes are unchanged); v2 adds
        the spread as length-prefixed JSON.
        """
        version = _VERSION if self.spread is None else _VERSION_SPREAD
        head = _HEADER.pack(version, BINS, self.tp, self.fp, self.tn, self.fn, self.loss)
        arrays = (self.pos, self.neg, self.pos_sum, self.neg_sum)
        out = head + b"".join(a.astype("<i8").tobytes() for a in arrays)
        return out + spread_bytes(self.spread)

    @classmethod
    def from_bytes(cls, data: bytes) -> BinaryPerformance:
        """Inverse of :meth:`to_bytes`; ValueError names what is wrong."""
        if len(data) < _HEADER.size:
            msg = f"performance state: {len(data)} bytes is shorter than its header"
            raise ValueError(msg)
        version, bins, tp, fp, tn, fn, loss = _HEADER.unpack_from(data)
        if version not in (_VERSION, _VERSION_SPREAD) or bins != BINS:
            msg = (
                f"performance state: version {version} with {bins} bins is not "
                f"v{_VERSION} or v{_VERSION_SPREAD} with {BINS}"
            )
            raise ValueError(msg)
        end = _HEADER.size + 32 * BINS
        body = data[_HEADER.size : end] if version == _VERSION_SPREAD else data[_HEADER.size :]
        if len(body) != 32 * BINS:
            msg = f"performance state: {len(body)} histogram bytes, expected {32 * BINS}"
            raise ValueError(msg)
        spread = read_spread(data, end, "performance state") if version == _VERSION_SPREAD else None
        h = np.frombuffer(body, dtype="<i8").astype(np.int64).reshape(4, BINS)
        return cls(h[0].copy(), h[1].copy(), h[2].copy(), h[3].copy(), tp, fp, tn, fn, loss, spread)


def merge_all(states: Iterable[BinaryPerformance]) -> BinaryPerformance:
    """The window of all ``states`` (hours into a day, partitions into a model)."""
    total = BinaryPerformance.zero()
    for s in states:
        total = total.merge(s)
    return total


def _measures(s: BinaryPerformance) -> dict[str, tuple[float, float]]:
    """Each measure's (value, sampling variance) in one window (nan where undefined).

    Share and accuracy: binomial variance at the window's own share (0 or 1 gives
    variance 0 and is left out of the fit); AUC: Hanley-McNeil.
    """
    n = s.n
    out = {m: (math.nan, math.nan) for m in MEASURES}
    if n < 2:
        return out
    p, acc = s.positives / n, (s.tp + s.tn) / n
    out["positive_share"] = (p, p * (1 - p) / n)
    out["accuracy"] = (acc, acc * (1 - acc) / n)
    auc, se = auc_of_counts(s.pos, s.neg)
    if auc is not None and se is not None:
        out["auc"] = (auc, se * se)
    return out


def calibration_map(ref: BinaryPerformance, prior_weight: float = 5.0) -> npt.NDArray[np.float64]:
    """P(y | score bin) of a labelled reference (the CBPE map).

    Each bin's positive share, shrunk toward
    the bin's mean score by ``prior_weight`` pseudo-labels (the CBPE map).
    """
    n_b = (ref.pos + ref.neg).astype(np.float64)
    edges = np.arange(BINS + 1, dtype=np.float64) / BINS
    centre = (edges[:-1] + edges[1:]) / 2
    mean_score = np.where(
        n_b > 0, (ref.pos_sum + ref.neg_sum) / _MICRO / np.maximum(n_b, 1), centre
    )
    out: npt.NDArray[np.float64] = (ref.pos + prior_weight * mean_score) / (n_b + prior_weight)
    return out


def calibration_measure(group: int) -> str:
    """The spread's measure name of calibration score group ``group`` (0 = lowest scores)."""
    return f"calibration:{group}"


CAL_ALL = "calibration:all"
"""The spread's measure of the residual share over all scores (calibration in the large):
the least between-window variance a pooled group of a sparse window is given."""
CAL_MEASURES = (*(calibration_measure(g) for g in range(CAL_GROUPS)), CAL_ALL)


def _calibration_measures(
    cal: npt.NDArray[np.float64],
) -> Callable[[BinaryPerformance], dict[str, tuple[float, float]]]:
    """Per score group of one window: (O − E) / n against the map ``cal``.

    With its binomial variance Σ n_b c_b (1 − c_b) / n²; nan where the group is sparse.
    """
    size = BINS // CAL_GROUPS

    def measures(s: BinaryPerformance) -> dict[str, tuple[float, float]]:
        n_b = (s.pos + s.neg).astype(np.float64)
        n = n_b.reshape(CAL_GROUPS, size).sum(axis=1)
        e = (n_b * cal).reshape(CAL_GROUPS, size).sum(axis=1)
        o = s.pos.astype(np.float64).reshape(CAL_GROUPS, size).sum(axis=1)
        v = (n_b * cal * (1 - cal)).reshape(CAL_GROUPS, size).sum(axis=1)
        rows = [(n[g], e[g], o[g], v[g]) for g in range(CAL_GROUPS)]
        rows.append((n.sum(), e.sum(), o.sum(), v.sum()))
        out = {}
        for name, (ng, eg, og, vg) in zip(CAL_MEASURES, rows, strict=True):
            dense = eg >= CAL_MIN_EXPECTED and ng - eg >= CAL_MIN_EXPECTED
            out[name] = ((og - eg) / ng, vg / ng**2) if dense else (math.nan, math.nan)
        return out

    return measures


def spread_of(
    hours: Mapping[int, BinaryPerformance],
    *,
    q_alpha: float = Q_ALPHA,
    min_day_hours: int = 12,
    day_ms: int = 86_400_000,
) -> Spread:
    """The between-window spread of a binary reference kept per hour (keys: hour start, ms).

    Measures: the positive share, AUC and accuracy (k15t), and per calibration score
    group the residual share (O − E) / n against the pooled reference's calibration
    map (k15c: the between-window spread of P(y | score), e.g. a daily cycle in it).
    """
    base = spread_between(
        hours, merge_all, _measures, MEASURES,
        q_alpha=q_alpha, min_day_hours=min_day_hours, day_ms=day_ms,
    )  # fmt: skip
    cal = _calibration_measures(calibration_map(merge_all(hours.values())))
    groups = spread_with_cycle(
        hours, merge_all, cal, CAL_MEASURES,
        q_alpha=q_alpha, min_day_hours=min_day_hours, day_ms=day_ms,
    )  # fmt: skip
    return Spread(base.fits + groups.fits)


def spread_with_cycle(
    hours: Mapping[int, S],
    merge: Callable[[Iterable[S]], S],
    measures: Callable[[S], Mapping[str, tuple[float, float]]],
    names: Sequence[str],
    *,
    q_alpha: float = Q_ALPHA,
    min_day_hours: int = 12,
    day_ms: int = 86_400_000,
) -> Spread:
    """:func:`spread_between`, the hours also fitted as hours of the day (k15c).

    The hour scale is also fitted on the same hour of day pooled over the reference's
    days; an hour's τ² is the larger of the two fits.

    A daily cycle that single hours are too sparse to show (150 labels an hour: every
    calibration group under 5 expected positives) shows in the hour-of-day pools (7×
    the labels for a week); random hour-to-hour variation shows in the hours.
    """
    plain = spread_between(
        hours, merge, measures, names, q_alpha=q_alpha, min_day_hours=min_day_hours, day_ms=day_ms
    )
    hod: dict[int, list[S]] = {}
    for start, state in hours.items():
        hod.setdefault(start % day_ms // 3_600_000, []).append(state)
    pooled = {h * 3_600_000: merge(v) for h, v in hod.items()}
    by_hod = spread_between(
        pooled, merge, measures, names, q_alpha=q_alpha, min_day_hours=min_day_hours, day_ms=day_ms
    )
    cycle = {f[1]: f for f in by_hod.fits if f[0] == "hour"}
    return Spread(
        tuple(cycle[f[1]] if f[0] == "hour" and cycle[f[1]][2] > f[2] else f for f in plain.fits)
    )
