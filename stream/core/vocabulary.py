"""The words every layer shares: feature kinds, window scales and baselines.

Each is defined here once; core, contract, catalog, pipeline, adapters and web import
them from this module (the settings' pydantic models use them as field types, so a
config value outside them is refused with the allowed words listed).

>>> KINDS, SCALES, BASELINES
(('numeric', 'categorical'), ('hour', 'day'), ('reference', 'previous', 'seasonal'))
"""

from __future__ import annotations

from typing import Literal, TypeAlias, get_args

__all__ = ["BASELINES", "KINDS", "SCALES", "Baseline", "Kind", "Scale"]

Kind: TypeAlias = Literal["numeric", "categorical"]
"""Kind of a feature: which sketch summarises it and which measures compare it."""
Scale: TypeAlias = Literal["hour", "day"]
"""Window scale: tumbling UTC hours and days."""
Baseline: TypeAlias = Literal["reference", "previous", "seasonal"]
"""What a window is compared with: the reference, the previous window, or the same
hour/day one cycle back."""

KINDS: tuple[Kind, ...] = get_args(Kind)
SCALES: tuple[Scale, ...] = get_args(Scale)
BASELINES: tuple[Baseline, ...] = get_args(Baseline)
