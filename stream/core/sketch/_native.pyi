# Stub of the C extension built from native/sketchscan.c (see stream/core/sketch/numeric.py).
from typing import Any

def scan(
    x: Any,
) -> tuple[
    int, int, int, int, int, float, float, float, float, float, float, bytes, bytes, bytes
]: ...
def scan_span(
    x: Any,
    inv_log_gamma: float,
    pos_edges: Any,
    pos_lo: int,
    pos_counts: Any,
    neg_edges: Any,
    neg_lo: int,
    neg_counts: Any,
) -> tuple[
    tuple[int, int, int, int, int, float, float, float, float, float, float, bytes, bytes, bytes],
    bool,
    bool,
]: ...
def buckets(
    x: Any, edges: Any, lo: int, inv_log_gamma: float, negative: bool, out: Any
) -> None: ...
def comoments(x: Any, k: int, aligned: bool = True) -> tuple[list[int], list[int]] | None: ...
