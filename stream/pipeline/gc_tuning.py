"""The cyclic garbage collector tuned for long runs that allocate per record.

A worker and a replay allocate millions of short-lived objects (confluent-kafka
``Message`` objects, parsed rows, decisions), freed by reference counting, beside
~100k+ long-lived ones (modules, faust, the clients, settings, kept sketches). With
CPython's defaults (a young collection every 700 allocations) the short-lived ones are
promoted through the generations and set off full collections that walk every
long-lived object: a measurable share of the CPU (docs/benchmarks.md, issue 19 "Fifth
pass" and "Replay rate, session 6"). :func:`settle` moves what is alive into the
permanent generation, which collections skip; young collections come every
``THRESHOLDS[0]`` allocations. Reference cycles are still collected, later.
"""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable
from typing import ParamSpec, TypeVar

__all__ = ["THRESHOLDS", "lean_gc", "settle", "tune"]

#: The collector's thresholds (CPython's default: 700, 10, 10).
THRESHOLDS = (50_000, 20, 10)

_P = ParamSpec("_P")
_R = TypeVar("_R")


def settle() -> None:
    """What is alive now leaves the cycle detector's walks (refcounting still frees it)."""
    gc.freeze()


def tune() -> None:
    """For the rest of the process (a worker, once started): collect, settle, thresholds."""
    gc.collect()
    settle()
    gc.set_threshold(*THRESHOLDS)


def lean_gc(command: Callable[_P, _R]) -> Callable[_P, _R]:
    """Run ``command`` with :data:`THRESHOLDS`, restored (and unfrozen) afterwards.

    For a command that also runs in-process (tests call the CLI in one process); the
    command calls :func:`settle` at its own quiet points.
    """

    @functools.wraps(command)
    def run(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        before = gc.get_threshold()
        gc.set_threshold(*THRESHOLDS)
        try:
            return command(*args, **kwargs)
        finally:
            gc.set_threshold(*before)
            gc.unfreeze()

    return run
