"""Multiclass classification health (pure): a mergeable confusion state and its decisions.

:class:`MulticlassPerformance` counts (true class, predicted class) pairs of one
window over a fixed, declared class list: a K × K matrix of integers, so merges
(hours → days, partitions, arrival-day cells) are exact and order-free, and the
codec is versioned. From it: class shares, accuracy, per-class and macro F1.

Decisions, each an effect beyond a floor AND a confidence (as the binary ones,
:mod:`stream.core.model_health`):

- :func:`class_shift`: label shift over the class shares, with the Dirichlet
  share test categorical features use (:func:`stream.core.measures.bayes.
  dirichlet_shift`); the class that moved most is reported (its figures, and its
  name first in the reason: the metric is always ``class_share``, so an alert's
  lifecycle does not restart when another class moves most); breach when its
  P(shift) ≥ ``confidence`` and its move exceeds ``floor``.
- :func:`multiclass_drop`: realized accuracy (binomial standard error) or macro
  F1 (delta method over the multinomial cell shares: Var ≈ ∇f' (diag p − p p') ∇f
  / n, the gradient by central differences) against the reference; breach when
  P(drop > floor) ≥ ``confidence`` under the normal approximation.

Wired through the label plane (a class label and a predicted class per event),
the stores and the health evaluator (docs/architecture.md, "Multiclass").

>>> ref = MulticlassPerformance.zero(3)
>>> ref.update([0, 1, 2, 2], [0, 1, 2, 1])
>>> ref.accuracy, [round(f, 3) for f in ref.f1()]
(0.75, [1.0, 0.667, 0.667])
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from stream.core.measures.bayes import ShareShift, dirichlet_shift
from stream.core.model_health import (  # the binary decisions' rules, shared
    HealthDecision,
    _acc_se,
    _drop,
    _phi,
    _share_decision,
)
from stream.core.performance import Spread, read_spread, spread_bytes, spread_with_cycle

__all__ = [
    "MulticlassPerformance",
    "class_shift",
    "macro_f1_se",
    "merge_all",
    "merge_bytes",
    "multiclass_drop",
    "share_measure",
    "spread_of",
]

_VERSION = 1
_VERSION_SPREAD = 2
"""v1 plus the reference's between-window spread (only a reference's state carries one)."""
_HEADER = struct.Struct("<BH")
MAX_CLASSES = 256
"""Classes a model may declare (the state is K² int64: 512 KB at 256)."""


@dataclass(slots=True)
class MulticlassPerformance:
    """Confusion counts of one window: ``counts[t, p]`` = labels of class t predicted p."""

    counts: npt.NDArray[np.int64]
    spread: Spread | None = None
    """A reference's between-window spread (:func:`spread_of`, k15c); merges drop it."""

    @classmethod
    def zero(cls, classes: int) -> MulticlassPerformance:
        """An empty window over ``classes`` classes (2 … MAX_CLASSES)."""
        if not 2 <= classes <= MAX_CLASSES:
            msg = f"multiclass state: {classes} classes, expected 2 to {MAX_CLASSES}"
            raise ValueError(msg)
        return cls(np.zeros((classes, classes), np.int64))

    @property
    def classes(self) -> int:
        """K, the number of declared classes."""
        return int(self.counts.shape[0])

    @property
    def n(self) -> int:
        """Labelled predictions in the window."""
        return int(self.counts.sum())

    def class_counts(self) -> list[int]:
        """Labels per true class."""
        return [int(v) for v in self.counts.sum(axis=1)]

    @property
    def accuracy(self) -> float | None:
        """Share of correct predictions (None without labels)."""
        n = self.n
        return None if n == 0 else int(np.trace(self.counts)) / n

    def f1(self) -> list[float]:
        """Per-class F1 = 2·TP / (2·TP + FP + FN); 0 for a class never seen nor predicted."""
        return [float(v) for v in _f1(self.counts.astype(np.float64))]

    def macro_f1(self) -> float | None:
        """Unweighted mean of the per-class F1 (None without labels)."""
        return None if self.n == 0 else float(np.mean(_f1(self.counts.astype(np.float64))))

    def update(
        self,
        true: Sequence[int] | npt.NDArray[np.int64],
        predicted: Sequence[int] | npt.NDArray[np.int64],
    ) -> None:
        """Add labelled predictions (class indices; ValueError names an out-of-range one)."""
        t = np.asarray(true, dtype=np.int64)
        p = np.asarray(predicted, dtype=np.int64)
        if t.shape != p.shape:
            msg = f"multiclass update: {t.size} labels but {p.size} predictions"
            raise ValueError(msg)
        k = self.classes
        for name, v in (("label", t), ("prediction", p)):
            bad = (v < 0) | (v >= k)
            if bad.any():
                msg = f"multiclass update: {name} class {int(v[bad][0])} outside 0..{k - 1}"
                raise ValueError(msg)
        self.counts += np.bincount(t * k + p, minlength=k * k).reshape(k, k).astype(np.int64)

    def merge(self, other: MulticlassPerformance) -> MulticlassPerformance:
        """Exact merge (sum of counts); the class lists must agree."""
        if other.classes != self.classes:
            msg = f"multiclass merge: {self.classes} classes vs {other.classes}"
            raise ValueError(msg)
        return MulticlassPerformance(self.counts + other.counts)

    def to_bytes(self) -> bytes:
        """Versioned binary form: header (version, K), then K² little-endian int64.

        v1 without a spread (every window's state: those bytes are unchanged); v2 (a
        reference's, k15c) adds the spread as length-prefixed JSON.
        """
        head = _HEADER.pack(_VERSION if self.spread is None else _VERSION_SPREAD, self.classes)
        return head + self.counts.astype("<i8").tobytes() + spread_bytes(self.spread)

    @classmethod
    def from_bytes(cls, data: bytes) -> MulticlassPerformance:
        """Inverse of :meth:`to_bytes`; ValueError names what is wrong."""
        if len(data) < _HEADER.size:
            msg = f"multiclass state: {len(data)} bytes is shorter than its header"
            raise ValueError(msg)
        version, k = _HEADER.unpack_from(data)
        if version not in (_VERSION, _VERSION_SPREAD) or not 2 <= k <= MAX_CLASSES:
            msg = (
                f"multiclass state: version {version} with {k} classes is not "
                f"v{_VERSION} or v{_VERSION_SPREAD}"
            )
            raise ValueError(msg)
        end = _HEADER.size + 8 * k * k
        body = data[_HEADER.size : end] if version == _VERSION_SPREAD else data[_HEADER.size :]
        spread = read_spread(data, end, "multiclass state") if version == _VERSION_SPREAD else None
        if len(body) != 8 * k * k:
            msg = f"multiclass state: {len(body)} count bytes, expected {8 * k * k}"
            raise ValueError(msg)
        counts = np.frombuffer(body, dtype="<i8").astype(np.int64).reshape(k, k)
        if (counts < 0).any():
            msg = "multiclass state: a negative count"
            raise ValueError(msg)
        return cls(counts, spread)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MulticlassPerformance):
            return NotImplemented
        return bool(np.array_equal(self.counts, other.counts)) and self.spread == other.spread

    __hash__ = None  # type: ignore[assignment]


def merge_all(states: Iterable[MulticlassPerformance], classes: int) -> MulticlassPerformance:
    """The exact merge of ``states`` (an empty state of ``classes`` when there are none)."""
    out = MulticlassPerformance.zero(classes)
    for s in states:
        out = out.merge(s)
    return out


def merge_bytes(blobs: Iterable[bytes], classes: int) -> MulticlassPerformance:
    """The exact merge of stored states (:meth:`MulticlassPerformance.to_bytes` forms)."""
    return merge_all((MulticlassPerformance.from_bytes(b) for b in blobs), classes)


def _f1(c: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    tp = np.diag(c)
    denom = c.sum(axis=0) + c.sum(axis=1)  # 2·TP + FP + FN
    out: npt.NDArray[np.float64] = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
    return out


def macro_f1_se(state: MulticlassPerformance) -> float:
    """Delta-method standard error of the window's macro F1 (module docstring)."""
    n = state.n
    if n == 0:
        return math.inf
    p = state.counts.astype(np.float64).ravel() / n
    k = state.classes
    h = 1e-6

    def f(q: npt.NDArray[np.float64]) -> float:
        return float(np.mean(_f1(q.reshape(k, k))))

    grad = np.empty_like(p)
    for i in range(p.size):
        up, down = p.copy(), p.copy()
        up[i] += h
        down[i] = max(down[i] - h, 0.0)
        grad[i] = (f(up) - f(down)) / (up[i] - down[i])
    var = float(grad @ (p * grad) - (grad @ p) ** 2) / n
    return math.sqrt(max(var, 0.0))


def share_measure(i: int) -> str:
    """The spread's measure name of class ``i``'s share."""
    return f"class_share:{i}"


def spread_of(
    hours: Mapping[int, MulticlassPerformance],
    *,
    classes: int,
    min_day_hours: int = 12,
    day_ms: int = 86_400_000,
) -> Spread:
    """The between-window spread of a multiclass reference kept per hour (k15c).

    Per class its share (binomial variance at the window's share), and accuracy and
    macro F1 (binomial; delta method): Cochran's Q-gated DerSimonian–Laird τ² between
    hours (and the same hour of day pooled over the days: the larger) and UTC days
    (:func:`stream.core.performance.spread_with_cycle`).
    """
    names = (*(share_measure(i) for i in range(classes)), *_DROPS)

    def measures(s: MulticlassPerformance) -> dict[str, tuple[float, float]]:
        n = s.n
        out = {m: (math.nan, math.nan) for m in names}
        if n < 2:
            return out
        for i, c in enumerate(s.class_counts()):
            p = c / n
            out[share_measure(i)] = (p, p * (1 - p) / n)
        acc, f1 = s.accuracy, s.macro_f1()
        if acc is not None:
            out["accuracy"] = (acc, acc * (1 - acc) / n)
        if f1 is not None:
            out["macro_f1"] = (f1, macro_f1_se(s) ** 2)
        return out

    return spread_with_cycle(
        hours,
        lambda states: merge_all(states, classes),
        measures,
        names,
        min_day_hours=min_day_hours,
        day_ms=day_ms,
    )


_DROPS = ("accuracy", "macro_f1")


def class_shift(
    ref: MulticlassPerformance,
    win: MulticlassPerformance,
    *,
    floor: float = 0.02,
    confidence: float = 0.99,
    names: Sequence[str] | None = None,
    tau2: Sequence[float] | None = None,
) -> HealthDecision:
    """Class shares of ``win`` against ``ref``: the class that moved most (module docstring).

    ``tau2`` (one per class): the reference's between-window variance of each class's
    share at the window's scale (k15c); the rule is then one-sided beyond the floor per
    class, Bonferroni over the K classes (:func:`_shares_beyond`). None: a reference
    built before the spread was kept, judged by the older rule.
    """
    d = dirichlet_shift(ref.class_counts(), win.class_counts(), threshold=floor, any_moved=False)
    label = list(names) if names is not None else [str(i) for i in range(ref.classes)]
    if tau2 is not None:
        return _shares_beyond(ref, win, d.shifts, label, floor, confidence, tau2)
    moved = [
        (i, s) for i, s in enumerate(d.shifts) if s.p_drift >= confidence and abs(s.delta) > floor
    ]
    breach = win.n > 0 and bool(moved)
    i, s = (
        max(moved, key=lambda v: abs(v[1].delta))
        if moved
        else max(enumerate(d.shifts), key=lambda v: (v[1].p_drift, abs(v[1].delta)))
    )
    why = (
        f"class {label[i]} share {100 * s.delta:+.1f} pts (P={s.p_drift:.3f}) "
        f"{'beyond' if breach else 'within'} floor {100 * floor:.1f} pts at {confidence}"
        f"{f'; {len(moved)} class(es) moved' if moved else ''}"
    )
    return _share_decision("class_share", s, breach, win.n, why, floor)


def _shares_beyond(
    ref: MulticlassPerformance,
    win: MulticlassPerformance,
    shifts: Sequence[ShareShift],
    label: Sequence[str],
    floor: float,
    confidence: float,
    tau2: Sequence[float],
) -> HealthDecision:
    """The class shares against a reference with its spread (k15c).

    Each class: P(move > floor in the observed direction) = Φ((|δ| − floor)/sd), sd² =
    τ² + the Dirichlet marginal variances of both sides (the window's at least the
    binomial one at the reference share), as the binary label shift (k15t). A class
    breaches when its P reaches 1 − (1 − ``confidence``)/K (Bonferroni over the K
    classes: k15c measured the older per-class two-sided 0.99 paging a stationary
    3-class stream 13–31 times a fortnight). Reported: the class with the largest P.
    """
    k = ref.classes
    bar = 1.0 - (1.0 - confidence) / k
    rows = []
    for i, s in enumerate(shifts):
        ref_var = _dirichlet_var(ref.class_counts()[i], ref.n, k)
        null = s.ref_share * (1 - s.ref_share) / win.n if win.n else 0.0
        sd = math.sqrt(
            ref_var + max(_dirichlet_var(win.class_counts()[i], win.n, k), null) + tau2[i]
        )
        p = _phi((abs(s.delta) - floor) / sd)
        rows.append((p, abs(s.delta), i, s, sd))
    moved = [r for r in rows if r[0] >= bar and r[1] > floor and win.n > 0]
    p, _, i, s, sd = max(rows, key=lambda r: (r[0], r[1]))
    breach = bool(moved)
    between = (
        f"; between-window sd {math.sqrt(tau2[i]):.4f} of the reference" if tau2[i] > 0 else ""
    )
    why = (
        f"class {label[i]} share {100 * s.delta:+.1f} pts (P(move > floor)={p:.4f}{between}) "
        f"{'beyond' if breach else 'within'} floor {100 * floor:.1f} pts at {bar:.5f} "
        f"({confidence:.5f} over {k} classes){f'; {len(moved)} class(es) moved' if moved else ''}"
    )
    d = s.delta
    return HealthDecision(
        "label", "class_share", s.ref_share, s.win_share, d, d - 1.96 * sd, d + 1.96 * sd, p,
        breach, win.n, why, floor,
    )  # fmt: skip


def _dirichlet_var(c: int, n: int, k: int) -> float:
    """Variance of class share's Jeffreys Dirichlet marginal Beta(c + ½, n − c + (K − 1)/2)."""
    a, b = c + 0.5, n - c + (k - 1) * 0.5
    return a * b / ((a + b) ** 2 * (a + b + 1))


def multiclass_drop(
    ref: MulticlassPerformance,
    win: MulticlassPerformance,
    *,
    metric: Literal["accuracy", "macro_f1"] = "accuracy",
    floor: float = 0.03,
    confidence: float = 0.99,
    tau2: float = 0.0,
) -> HealthDecision | None:
    """Realized drop of ``metric`` in ``win`` against ``ref``; None without labels.

    ``tau2``: the reference's between-window variance of ``metric`` at the window's scale.
    """
    if metric == "accuracy":
        rv, wv = ref.accuracy, win.accuracy
        if rv is None or wv is None:
            return None
        rse, wse = _acc_se(rv, ref.n), _acc_se(wv, win.n)
    else:
        rf, wf = ref.macro_f1(), win.macro_f1()
        if rf is None or wf is None:
            return None
        rv, wv, rse, wse = rf, wf, macro_f1_se(ref), macro_f1_se(win)
    return _drop("performance", metric, rv, rse, wv, wse, win.n, floor, confidence, tau2)
