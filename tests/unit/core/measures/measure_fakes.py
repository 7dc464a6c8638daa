"""Numeric summaries for the measure tests: the real sketch, and an independent stand-in.

The stand-in bins raw values with the DDSketch layout on its own (bucket k holds
magnitudes in (γ^(k−1), γ^k], negatives mirror, zero is its own bucket), so the
measure math is also checked against a second, trivially simple implementation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from stream.core.sketch import NumericSketch

FloatArray = npt.NDArray[np.float64]
OFFSET = 1 << 32


@dataclass
class RawSummary:
    values: FloatArray
    nulls: int = 0
    relative_accuracy: float = 0.01
    finite: FloatArray = field(init=False)

    def __post_init__(self) -> None:
        v = np.asarray(self.values, dtype=np.float64)
        self.finite = np.sort(v[np.isfinite(v)])

    @property
    def total(self) -> int:
        return int(self.values.size + self.nulls)

    @property
    def count(self) -> int:
        return int(self.finite.size)

    @property
    def nans(self) -> int:
        return int(np.isnan(self.values).sum())

    @property
    def pos_inf(self) -> int:
        return int(np.isposinf(self.values).sum())

    @property
    def neg_inf(self) -> int:
        return int(np.isneginf(self.values).sum())

    @property
    def min(self) -> float:
        return float(self.finite[0]) if self.count else float("nan")

    @property
    def max(self) -> float:
        return float(self.finite[-1]) if self.count else float("nan")

    @property
    def mean(self) -> float:
        return float(self.finite.mean()) if self.count else float("nan")

    @property
    def variance(self) -> float:
        return float(self.finite.var()) if self.count else float("nan")

    def _buckets(
        self,
    ) -> tuple[npt.NDArray[np.int64], FloatArray, FloatArray, npt.NDArray[np.int64]]:
        """(signed keys, lower, upper, counts); key ±(k + OFFSET), 0 for zeros."""
        a = self.relative_accuracy
        g = (1 + a) / (1 - a)
        x = self.finite
        nz = x[x != 0]
        k = np.ceil(np.log(np.abs(nz)) / np.log(g)).astype(np.int64)
        signed = np.sign(nz).astype(np.int64) * (k + OFFSET)
        if np.any(x == 0):
            signed = np.concatenate([signed, np.zeros(int(np.sum(x == 0)), dtype=np.int64)])
        keys, counts = np.unique(signed, return_counts=True)
        m = (np.abs(keys) - OFFSET).astype(np.float64)
        lo = np.where(keys > 0, g ** (m - 1), np.where(keys < 0, -(g**m), 0.0))
        up = np.where(keys > 0, g**m, np.where(keys < 0, -(g ** (m - 1)), 0.0))
        return keys, lo, up, counts.astype(np.int64)

    def signed_keys(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        keys, _, _, counts = self._buckets()
        return keys, counts

    def histogram(self) -> tuple[FloatArray, FloatArray, npt.NDArray[np.int64]]:
        _, lo, up, counts = self._buckets()
        return lo, up, counts


def summarize(
    values: npt.ArrayLike, nulls: int = 0, relative_accuracy: float = 0.01
) -> NumericSketch:
    """The production path: a real sketch of the raw values."""
    arr = np.asarray(values, dtype=np.float64)
    return NumericSketch.zero(relative_accuracy).update(arr, nulls=nulls)
