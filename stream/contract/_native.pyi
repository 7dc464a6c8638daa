# Stub of the C extension built from native/fastparse.c (see stream/contract/_columnar.py).
from typing import Any

def parse(
    values: list[Any], spec: tuple[Any, ...], max_event_bytes: int, max_value_bytes: int
) -> tuple[bytearray, tuple[Any, ...]]: ...
