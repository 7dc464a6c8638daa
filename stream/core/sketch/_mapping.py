"""The DDSketch logarithmic bucket mapping, with bucket edges that are the same everywhere.

Bucket ``k`` holds the magnitudes in ``(γ^(k-1), γ^k]`` with ``γ = (1+α)/(1-α)``, i.e.
``k = ceil(log_γ |x|)``. Its representative value ``2·γ^k/(γ+1)`` is within a relative
``α`` of every magnitude in the bucket.

Why edges come from a table and not from ``np.log``: ``log`` is not correctly rounded
and differs by an ulp between libm builds and numpy's SIMD kernels, so a value on an
edge could land in different buckets on two workers and break the "same events, same
bytes" promise. The edges are ``γ^k`` computed in 60-digit decimal arithmetic (libmpdec:
identical on every platform) and rounded once to float64; a value's bucket is decided
only by exact float comparisons with them (``np.searchsorted``).

>>> m = mapping_for(0.01)
>>> m.key(1.0), m.key(1.02), m.key(1.021), m.key(1e-3)
(0, 1, 2, -345)
>>> round(float(m.representative(np.array([0]))[0]), 12)
0.99
"""

from __future__ import annotations

import functools
import math
from decimal import Context, Decimal

import numpy as np
import numpy.typing as npt

__all__ = ["KEY_OFFSET", "LogMapping", "mapping_for"]

#: Signed bucket keys (see ``NumericSketch.signed_keys``) are ``±(k + KEY_OFFSET)``, 0 for zero.
KEY_OFFSET = 1 << 32

_BLOCK = 1024  # edges are built per block of keys, on first use
_CTX = Context(prec=60, Emin=-999_999, Emax=999_999)
_TINY = 5e-324
_HUGE = 1.7976931348623157e308


class LogMapping:
    """Keys and edges of the logarithmic buckets for one relative accuracy ``α``."""

    __slots__ = ("_blocks", "_gamma_dec", "_inv_log_gamma", "_key_range", "gamma")

    def __init__(self, relative_accuracy: float) -> None:
        self.gamma = (1.0 + relative_accuracy) / (1.0 - relative_accuracy)
        self._inv_log_gamma = 1.0 / math.log(self.gamma)
        self._gamma_dec = Decimal(self.gamma)  # exact value of the float γ
        self._blocks: dict[int, npt.NDArray[np.float64]] = {}
        self._key_range: tuple[int, int] | None = None

    @property
    def inv_log_gamma(self) -> float:
        """``1 / ln γ``: ``ln|x| · inv_log_gamma`` guesses a key within one bucket."""
        return self._inv_log_gamma

    @property
    def key_range(self) -> tuple[int, int]:
        """Keys of the smallest subnormal and the largest float (computed on first use)."""
        if self._key_range is None:
            self._key_range = (self.key(_TINY), self.key(_HUGE))
        return self._key_range

    def _block(self, j: int) -> npt.NDArray[np.float64]:
        block = self._blocks.get(j)
        if block is None:
            g = self._gamma_dec
            p = _CTX.power(g, j * _BLOCK)
            out = np.empty(_BLOCK, dtype=np.float64)
            for i in range(_BLOCK):
                out[i] = float(p)  # correctly rounded (0.0 / inf beyond the float range)
                p = _CTX.multiply(p, g)
            block = self._blocks[j] = out
        return block

    def edges(self, lo: int, hi: int) -> npt.NDArray[np.float64]:
        """Upper edges ``γ^k`` for ``k = lo..hi`` (inclusive), as float64."""
        if hi < lo:
            return np.zeros(0, dtype=np.float64)
        parts = []
        for j in range(lo // _BLOCK, hi // _BLOCK + 1):
            a = max(lo - j * _BLOCK, 0)
            b = min(hi - j * _BLOCK, _BLOCK - 1)
            parts.append(self._block(j)[a : b + 1])
        return parts[0].copy() if len(parts) == 1 else np.concatenate(parts)

    def edge(self, k: int) -> float:
        """Upper edge ``γ^k`` of bucket ``k``."""
        return float(self._block(k // _BLOCK)[k % _BLOCK])

    def key(self, magnitude: float) -> int:
        """Bucket of one positive magnitude: the smallest ``k`` with ``magnitude ≤ γ^k``."""
        k = math.ceil(math.log(magnitude) * self._inv_log_gamma)
        # The log is a guess within one bucket; exact comparisons decide (repeat for the
        # subnormal range, where consecutive edges can round to the same float).
        while magnitude > self.edge(k):
            k += 1
        while magnitude <= self.edge(k - 1):
            k -= 1
        return k

    def edges_of(self, keys: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        """Upper edges ``γ^k`` for an array of keys (any order)."""
        keys = np.asarray(keys, dtype=np.int64)
        out = np.empty(keys.shape, dtype=np.float64)
        if keys.size == 0:
            return out
        blocks = keys // _BLOCK
        lo, hi = int(blocks.min()), int(blocks.max())
        if lo == hi:  # the usual case: every key in one block
            return self._block(lo)[keys - lo * _BLOCK]
        for j in np.unique(blocks).tolist():
            sel = blocks == j
            out[sel] = self._block(int(j))[keys[sel] - j * _BLOCK]
        return out

    def representative(self, keys: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        """Positive representative ``2·γ^k/(γ+1)`` of each bucket (finite for every valid key)."""
        keys = np.asarray(keys, dtype=np.int64)
        upper = self.edges_of(keys)
        lower = self.edges_of(keys - 1)
        g = self.gamma
        # γ^k overflows for the top bucket; γ^(k-1)·2γ/(γ+1) is the same value, finite.
        return np.where(
            np.isfinite(upper), upper * (2.0 / (g + 1.0)), lower * (2.0 * g / (g + 1.0))
        )

    def signed_bounds(
        self, signed: npt.NDArray[np.int64]
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """(lower, upper) of each signed key's bucket, clipped to the finite float range."""
        k = np.where(signed == 0, 0, np.abs(signed) - KEY_OFFSET)
        upper, lower = self.edges_of(k), self.edges_of(k - 1)
        lo = np.where(signed > 0, lower, np.where(signed < 0, -upper, 0.0))
        hi = np.where(signed > 0, upper, np.where(signed < 0, -lower, 0.0))
        # np.minimum/np.maximum: np.clip's values without its dispatch cost.
        return (
            np.minimum(np.maximum(lo, -_HUGE), _HUGE),
            np.minimum(np.maximum(hi, -_HUGE), _HUGE),
        )

    def signed_values(self, signed: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        """Representative value of each signed key's bucket (0 for the zero bucket)."""
        rep = self.representative(np.where(signed == 0, 0, np.abs(signed) - KEY_OFFSET))
        return np.where(signed == 0, 0.0, np.sign(signed) * rep)


@functools.lru_cache(maxsize=32)
def mapping_for(relative_accuracy: float) -> LogMapping:
    """Shared mapping per accuracy: edge blocks are built once per process, on demand."""
    return LogMapping(relative_accuracy)
