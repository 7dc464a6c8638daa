"""Drift measures between a reference summary and a window summary."""
