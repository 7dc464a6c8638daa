"""Mergeable performance state of a binary classifier over one window (pure).

A window's state is integer counts only, so merging partitions, hours or days is
exact and order-free (the same labels give the same bytes whatever the
partitioning or batch size):

- ``pos`` / ``neg``: per-class histograms of the prediction score on fixed edges
  ``i / BINS`` (i = 0..BINS); a score ``s`` falls in bin ``min(floor(s * BINS), BINS - 1)``.
  ROC AUC comes from them exactly for the binned scores (pairs in one bin count 1/2).
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
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["BINS", "BinaryPerformance", "score_bins"]

#: Score histogram bins over [0, 1] (fixed: every window's state merges with every other).
BINS = 100
_VERSION = 1
_HEADER = struct.Struct("<BHqqqq")


def score_bins(scores: npt.NDArray[np.float64]) -> npt.NDArray[np.intp]:
    """The histogram bin of each score in [0, 1]."""
    return np.minimum((scores * BINS).astype(np.intp), BINS - 1)


@dataclass(slots=True)
class BinaryPerformance:
    """Label and score counts of one window (module docstring)."""

    pos: npt.NDArray[np.int64]
    neg: npt.NDArray[np.int64]
    tp: int = 0
    fp: int = 0
    tn: int = 0
    fn: int = 0

    @classmethod
    def zero(cls) -> BinaryPerformance:
        """An empty window."""
        return cls(np.zeros(BINS, np.int64), np.zeros(BINS, np.int64))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BinaryPerformance):
            return NotImplemented
        return (
            (self.tp, self.fp, self.tn, self.fn) == (other.tp, other.fp, other.tn, other.fn)
            and bool(np.array_equal(self.pos, other.pos))
            and bool(np.array_equal(self.neg, other.neg))
        )

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
        self.pos += np.bincount(bins[y], minlength=BINS).astype(np.int64)
        self.neg += np.bincount(bins[~y], minlength=BINS).astype(np.int64)
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
            self.tp + other.tp,
            self.fp + other.fp,
            self.tn + other.tn,
            self.fn + other.fn,
        )

    def auc(self) -> float | None:
        """ROC AUC of the binned scores (ties in a bin count 1/2); None without both classes."""
        n_pos, n_neg = int(self.pos.sum()), int(self.neg.sum())
        if not n_pos or not n_neg:
            return None
        below = np.concatenate(([0], np.cumsum(self.neg)[:-1]))
        wins = float(np.dot(self.pos, below)) + 0.5 * float(np.dot(self.pos, self.neg))
        return wins / (n_pos * n_neg)

    def to_bytes(self) -> bytes:
        """Versioned binary form (header, then the two histograms as little-endian int64)."""
        head = _HEADER.pack(_VERSION, BINS, self.tp, self.fp, self.tn, self.fn)
        return head + self.pos.astype("<i8").tobytes() + self.neg.astype("<i8").tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> BinaryPerformance:
        """Inverse of :meth:`to_bytes`; ValueError names what is wrong."""
        if len(data) < _HEADER.size:
            msg = f"performance state: {len(data)} bytes is shorter than its header"
            raise ValueError(msg)
        version, bins, tp, fp, tn, fn = _HEADER.unpack_from(data)
        if version != _VERSION or bins != BINS:
            msg = f"performance state: version {version} with {bins} bins is not v{_VERSION}/{BINS}"
            raise ValueError(msg)
        body = data[_HEADER.size :]
        if len(body) != 16 * BINS:
            msg = f"performance state: {len(body)} histogram bytes, expected {16 * BINS}"
            raise ValueError(msg)
        hist = np.frombuffer(body, dtype="<i8").astype(np.int64)
        return cls(hist[:BINS].copy(), hist[BINS:].copy(), tp, fp, tn, fn)
