"""Drift measures between a reference summary and a window summary.

Every measure returns a :class:`Measure` (effect, p-value, interval, null
expectation); :data:`REGISTRY` lists them all, :func:`compute_all` runs those
of one feature kind. Bayesian share tests live in :mod:`.bayes`.
"""

from stream.core.measures.bayes import DirichletShift, ShareShift, dirichlet_shift, share_shift
from stream.core.measures.categorical import CategoricalPair, CategoricalSummary
from stream.core.measures.confidence import Measure
from stream.core.measures.numeric import NumericPair, NumericSummary
from stream.core.measures.registry import REGISTRY, MeasureSpec, compute_all, specs

__all__ = [
    "REGISTRY",
    "CategoricalPair",
    "CategoricalSummary",
    "DirichletShift",
    "Measure",
    "MeasureSpec",
    "NumericPair",
    "NumericSummary",
    "ShareShift",
    "compute_all",
    "dirichlet_shift",
    "share_shift",
    "specs",
]
