"""driftstream: streaming data-drift detection for machine-learning features."""

import os

# One BLAS thread unless the user sets it: driftstream's matrix products are small and
# per batch (the joint sketch's DᵀD), where OpenBLAS's worker threads spin and cost up
# to 10x the CPU of the product on a busy box (docs/benchmarks.md, "Joint drift").
# OpenBLAS reads it once, when numpy first loads it: hence here, before any import.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

__version__ = "0.1.0"
__all__ = ["__version__"]
