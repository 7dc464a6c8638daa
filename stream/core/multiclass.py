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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from stream.core.measures.bayes import dirichlet_shift
from stream.core.model_health import (  # the binary decisions' rules, shared
    HealthDecision,
    _acc_se,
    _drop,
    _share_decision,
)

__all__ = [
    "MulticlassPerformance",
    "class_shift",
    "macro_f1_se",
    "merge_all",
    "merge_bytes",
    "multiclass_drop",
]

_VERSION = 1
_HEADER = struct.Struct("<BH")
MAX_CLASSES = 256
"""Classes a model may declare (the state is K² int64: 512 KB at 256)."""


@dataclass(slots=True)
class MulticlassPerformance:
    """Confusion counts of one window: ``counts[t, p]`` = labels of class t predicted p."""

    counts: npt.NDArray[np.int64]

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
        """Versioned binary form: header (version, K), then K² little-endian int64."""
        return _HEADER.pack(_VERSION, self.classes) + self.counts.astype("<i8").tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> MulticlassPerformance:
        """Inverse of :meth:`to_bytes`; ValueError names what is wrong."""
        if len(data) < _HEADER.size:
            msg = f"multiclass state: {len(data)} bytes is shorter than its header"
            raise ValueError(msg)
        version, k = _HEADER.unpack_from(data)
        if version != _VERSION or not 2 <= k <= MAX_CLASSES:
            msg = f"multiclass state: version {version} with {k} classes is not v{_VERSION}"
            raise ValueError(msg)
        body = data[_HEADER.size :]
        if len(body) != 8 * k * k:
            msg = f"multiclass state: {len(body)} count bytes, expected {8 * k * k}"
            raise ValueError(msg)
        counts = np.frombuffer(body, dtype="<i8").astype(np.int64).reshape(k, k)
        if (counts < 0).any():
            msg = "multiclass state: a negative count"
            raise ValueError(msg)
        return cls(counts)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MulticlassPerformance):
            return NotImplemented
        return bool(np.array_equal(self.counts, other.counts))

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


def class_shift(
    ref: MulticlassPerformance,
    win: MulticlassPerformance,
    *,
    floor: float = 0.02,
    confidence: float = 0.99,
    names: Sequence[str] | None = None,
) -> HealthDecision:
    """Class shares of ``win`` against ``ref``: the class that moved most (module docstring)."""
    d = dirichlet_shift(ref.class_counts(), win.class_counts(), threshold=floor, any_moved=False)
    label = list(names) if names is not None else [str(i) for i in range(ref.classes)]
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


def multiclass_drop(
    ref: MulticlassPerformance,
    win: MulticlassPerformance,
    *,
    metric: Literal["accuracy", "macro_f1"] = "accuracy",
    floor: float = 0.03,
    confidence: float = 0.99,
) -> HealthDecision | None:
    """Realized drop of ``metric`` in ``win`` against ``ref``; None without labels."""
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
    return _drop("performance", metric, rv, rse, wv, wse, win.n, floor, confidence)
