# Stub of the C extension built from native/sketchscan.c (see stream/core/sketch/numeric.py).
from typing import Any

def scan(
    x: Any,
) -> tuple[
    int, int, int, int, int, float, float, float, float, float, float, bytes, bytes, bytes
]: ...
def buckets(
    x: Any, edges: Any, lo: int, inv_log_gamma: float, negative: bool, out: Any
) -> None: ...
def comoments(x: Any, k: int) -> tuple[list[int], list[int]] | None: ...
