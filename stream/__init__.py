"""driftstream: streaming data-drift detection for machine-learning features."""

__version__ = "0.1.0"
__all__ = ["__version__"]
