"""The collector tuned for a worker / a replay: settled objects, rare young collections."""

from __future__ import annotations

import gc

from stream.pipeline.gc_tuning import THRESHOLDS, lean_gc, settle, tune


def _cycles_still_collected() -> None:
    cycle: list[object] = []
    cycle.append(cycle)
    del cycle
    assert gc.collect() >= 1


def test_the_worker_freezes_start_up_objects_and_collects_young_ones_less_often() -> None:
    before = gc.get_threshold()
    try:
        tune()
        assert gc.get_threshold() == THRESHOLDS
        assert gc.get_freeze_count() > 10_000  # the modules, classes, ... imported so far
        _cycles_still_collected()
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_a_lean_command_restores_the_collector() -> None:
    before = gc.get_threshold()
    seen: list[tuple[int, ...]] = []

    @lean_gc
    def command(x: int) -> int:
        seen.append(gc.get_threshold())
        settle()
        assert gc.get_freeze_count() > 0
        _cycles_still_collected()
        return x + 1

    assert command(1) == 2
    assert seen == [THRESHOLDS]
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
