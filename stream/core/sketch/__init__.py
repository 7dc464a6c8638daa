"""Mergeable per-window feature summaries with exact merges and versioned bytes."""
