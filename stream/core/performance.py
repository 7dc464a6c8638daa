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

>>> a = BinaryPerformance.zero()
>>> a.update([0.9, 0.2, 0.7], [True, False, False], threshold=0.5)
>>> (a.n, a.positives, a.tp, a.fp, a.tn, a.fn)
(3, 1, 1, 1, 1, 0)
>>> BinaryPerformance.from_bytes(a.to_bytes()) == a
True
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["BINS", "BinaryPerformance", "auc_of_counts", "merge_all", "score_bins"]

#: Score histogram bins over [0, 1] (fixed: every window's state merges with every other).
BINS = 100
_VERSION = 1
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
        """Versioned binary form (header, then four little-endian int64 arrays of BINS)."""
        head = _HEADER.pack(_VERSION, BINS, self.tp, self.fp, self.tn, self.fn, self.loss)
        arrays = (self.pos, self.neg, self.pos_sum, self.neg_sum)
        return head + b"".join(a.astype("<i8").tobytes() for a in arrays)

    @classmethod
    def from_bytes(cls, data: bytes) -> BinaryPerformance:
        """Inverse of :meth:`to_bytes`; ValueError names what is wrong."""
        if len(data) < _HEADER.size:
            msg = f"performance state: {len(data)} bytes is shorter than its header"
            raise ValueError(msg)
        version, bins, tp, fp, tn, fn, loss = _HEADER.unpack_from(data)
        if version != _VERSION or bins != BINS:
            msg = f"performance state: version {version} with {bins} bins is not v{_VERSION}/{BINS}"
            raise ValueError(msg)
        body = data[_HEADER.size :]
        if len(body) != 32 * BINS:
            msg = f"performance state: {len(body)} histogram bytes, expected {32 * BINS}"
            raise ValueError(msg)
        h = np.frombuffer(body, dtype="<i8").astype(np.int64).reshape(4, BINS)
        return cls(h[0].copy(), h[1].copy(), h[2].copy(), h[3].copy(), tp, fp, tn, fn, loss)


def merge_all(states: Iterable[BinaryPerformance]) -> BinaryPerformance:
    """The window of all ``states`` (hours into a day, partitions into a model)."""
    total = BinaryPerformance.zero()
    for s in states:
        total = total.merge(s)
    return total
