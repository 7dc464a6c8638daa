"""Errors shared by the sketch modules."""

from __future__ import annotations

__all__ = ["SketchMismatchError"]


class SketchMismatchError(ValueError):
    """Two sketches with different parameters cannot be merged or compared bucket by bucket."""
