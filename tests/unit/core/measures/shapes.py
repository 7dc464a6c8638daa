"""Numeric sketches of awkward value shapes, for the fast-path vs exact-path measure tests."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from stream.core.sketch import NumericSketch

Values = Callable[[np.random.Generator, int, float], np.ndarray]

SHAPES: dict[str, Values] = {
    "normal": lambda rng, n, shift: rng.normal(5.0 + shift, 2.0, n),
    "around0": lambda rng, n, shift: rng.normal(shift, 1.0, n),
    "skewed": lambda rng, n, shift: rng.lognormal(shift, 1.5, n),
    "few": lambda rng, n, shift: rng.integers(0, 4, n).astype(np.float64) + round(shift),
    "zeros": lambda rng, n, shift: np.where(
        rng.random(n) < 0.3, 0.0, rng.normal(3.0 + shift, 1.0, n)
    ),
    "inf": lambda rng, n, shift: np.where(rng.random(n) < 0.05, np.inf, rng.normal(shift, 1.0, n)),
    "const": lambda rng, n, shift: np.full(n, 3.0 + round(shift)),
    "negative": lambda rng, n, shift: -rng.lognormal(shift, 0.5, n),
    "tiny": lambda rng, n, shift: rng.normal(1e-6 * (1 + shift), 1e-7, n),
}


def shaped_sketch(rng: np.random.Generator, shape: str, n: int, shift: float) -> NumericSketch:
    """``n`` values of ``shape`` moved by ``shift``, plus 0–2 nulls."""
    x = SHAPES[shape](rng, n, shift)
    return NumericSketch.zero().update(x, nulls=int(rng.integers(0, 3)))
