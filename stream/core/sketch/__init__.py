"""Mergeable per-window feature summaries with exact merges and versioned bytes.

* :class:`NumericSketch` — relative-error log buckets, exact special counts and moments.
* :class:`CategoricalSketch` — exact counts up to a cap, then a bottom-k hash sample with
  exact counts, a distinct-count estimate and a Count-Min table for point estimates.
* :class:`JointSketch` — exact pairwise co-moments of a model's numeric columns.
* :func:`dumps` / :func:`loads` — one versioned, checksummed binary frame for all.

Both sketches are values whose state depends only on the multiset of observations:
the same events in any batches, partitions and merge order give identical bytes.
"""

from stream.core.sketch.categorical import CategoricalSketch
from stream.core.sketch.codec import FORMAT_VERSION, dumps, loads
from stream.core.sketch.joint import JointSketch
from stream.core.sketch.numeric import KEY_OFFSET, NumericSketch
from stream.errors import SketchDecodeError, SketchMismatchError

__all__ = [
    "FORMAT_VERSION",
    "KEY_OFFSET",
    "CategoricalSketch",
    "JointSketch",
    "NumericSketch",
    "SketchDecodeError",
    "SketchMismatchError",
    "dumps",
    "loads",
]
