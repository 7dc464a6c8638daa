"""One deployment's sketch parameters, and the feature sketch of either kind.

The pipeline builds, loads and merges feature sketches through these without
caring whether a feature is numeric or categorical.
"""

from __future__ import annotations

from dataclasses import dataclass

from stream.core.sketch.categorical import CategoricalSketch
from stream.core.sketch.numeric import NumericSketch

__all__ = ["Sketch", "SketchParams", "merge_sketches"]

Sketch = NumericSketch | CategoricalSketch


@dataclass(frozen=True, slots=True)
class SketchParams:
    """Sketch parameters shared by every feature-hour of a deployment."""

    relative_accuracy: float = 0.01
    max_buckets: int = 2048
    max_exact_categories: int = 1024

    def zero(self, kind: str) -> Sketch:
        """An empty sketch for a feature of ``kind``."""
        if kind == "numeric":
            return NumericSketch.zero(self.relative_accuracy, self.max_buckets)
        return CategoricalSketch.zero(self.max_exact_categories)

    def load(self, kind: str, data: bytes) -> Sketch:
        """Deserialize a stored sketch of ``kind``."""
        if kind == "numeric":
            return NumericSketch.from_bytes(data)
        return CategoricalSketch.from_bytes(data)


def merge_sketches(a: Sketch, b: Sketch) -> Sketch:
    """Merge two sketches of the same kind (a new value; neither input changes)."""
    if isinstance(a, NumericSketch) and isinstance(b, NumericSketch):
        return a.merge(b)
    if isinstance(a, CategoricalSketch) and isinstance(b, CategoricalSketch):
        return a.merge(b)
    msg = f"cannot merge {type(a).__name__} with {type(b).__name__}"
    raise TypeError(msg)
