"""Where a replay's CPU goes, without a profiler: CPU timers around its entry points.

cProfile (``bench_replay_detect.py --cprofile`` + ``replay_split.py``) slows call-heavy
Python 2-3x more than numpy/C code, so its shares overstate the encoders and the GC
shows nowhere. This runs ``driftstream ARGS`` in this process with ``process_time``
timers around a few entry points (a handful of calls each, so the timers cost nothing)
and the cyclic GC's passes, and prints CPU and wall seconds per phase on stderr at exit
(wall minus CPU: waiting on Kafka, Redis or a core).
Nested lines (indented) are part of the line above them; phases are not exclusive.

Run (the environment of a replay: DRIFTSTREAM_CONFIG, _KAFKA_BOOTSTRAP, _REDIS_URL):
    .venv/bin/python benchmarks/replay_phases.py replay --quiet --namespace NS
Another checkout: ``cd /tmp/base && PYTHONPATH=/tmp/base python .../replay_phases.py ...``
(entry points that checkout lacks are listed as not timed).
"""

from __future__ import annotations

import atexit
import functools
import gc
import importlib
import inspect
import runpy
import sys
import time
from collections.abc import Callable
from typing import Any

T0 = time.process_time()
W0 = time.perf_counter()
ACC: dict[str, float] = {}
WALL: dict[str, float] = {}
MARK: dict[str, float] = {}

TARGETS = [
    ("stream.commands.replay", "_finish", "rollup + evaluation (after ingest)"),
    ("stream.pipeline.replay", "ingest_range", "ingest (read, parse, sketch, flush)"),
    ("stream.adapters.kafka_range", "plan_range", "  Kafka: plan the range"),
    ("stream.pipeline.dataplane", "parse_batch", "ingest: parse"),
    ("stream.adapters.kafka_range", "columns_and_ends", "ingest: Kafka records → columns"),
    ("stream.pipeline.ingest", "PartitionIngest.apply", "ingest: sketch update"),
    ("stream.pipeline.ingest", "PartitionIngest.pending_write", "flush: encode"),
    ("stream.adapters.redis_store", "RedisSketchStore.flush", "flush: Redis write"),
    ("stream.core.sketch._wire", "encode_frame", "  (encode, flush + rollup)"),
    ("stream.pipeline.replay", "roll_up_all", "rollup"),
    ("stream.adapters.redis_windows", "RedisWindowStore.partition_hours", "  rollup: read parts"),
    ("stream.adapters.redis_windows", "RedisWindowStore.create_window", "  rollup: write windows"),
    ("stream.pipeline.rollup", "merge_sketches", "  rollup: pairwise merges"),
    ("stream.core.sketch.numeric", "NumericSketch.merge_all", "  rollup: one-pass merges"),
    ("stream.pipeline.evaluate", "Evaluator.measure_ahead", "measure ahead (array passes)"),
    ("stream.pipeline.evaluate", "Evaluator.evaluate", "evaluate"),
    ("stream.pipeline.evaluate", "batch_measures", "  judging: batch_measures"),
    ("stream.pipeline.evaluate", "evaluate_feature", "  judging: evaluate_feature"),
    ("stream.pipeline.evaluate", "decide_joint", "  judging: decide_joint"),
    ("stream.adapters.redis_eval", "RedisEvaluationStore.flush", "commits (queued, written)"),
]


def _timed(label: str, f: Callable[..., Any]) -> Callable[..., Any]:
    busy = [False]
    if inspect.iscoroutinefunction(f):  # the time until the coroutine returns

        @functools.wraps(f)
        async def wait(*args: Any, **kwargs: Any) -> Any:
            t, w = time.process_time(), time.perf_counter()
            try:
                return await f(*args, **kwargs)
            finally:
                ACC[label] = ACC.get(label, 0.0) + time.process_time() - t
                WALL[label] = WALL.get(label, 0.0) + time.perf_counter() - w

        return wait

    @functools.wraps(f)
    def run(*args: Any, **kwargs: Any) -> Any:
        if busy[0]:  # recursion: the outer call counts
            return f(*args, **kwargs)
        busy[0], t, w = True, time.process_time(), time.perf_counter()
        try:
            return f(*args, **kwargs)
        finally:
            ACC[label] = ACC.get(label, 0.0) + time.process_time() - t
            WALL[label] = WALL.get(label, 0.0) + time.perf_counter() - w
            busy[0] = False

    return run


def _wrap(module: str, qualname: str, label: str) -> bool:
    try:
        owner: Any = importlib.import_module(module)
        *outer, name = qualname.split(".")
        for part in outer:
            owner = getattr(owner, part)
        f = getattr(owner, name)
    except (ImportError, AttributeError):
        return False
    raw = getattr(owner, "__dict__", {}).get(name)
    if isinstance(raw, classmethod):  # time the function, keep it a classmethod
        setattr(owner, name, classmethod(_timed(label, raw.__func__)))
    else:
        setattr(owner, name, _timed(label, f))
    return True


def _gc(phase: str, info: dict[str, int]) -> None:
    if phase == "start":
        MARK["gc"] = time.process_time()
    else:
        key = f"cyclic GC, generation {info['generation']}"
        ACC[key] = ACC.get(key, 0.0) + time.process_time() - MARK["gc"]
        WALL[key] = ACC[key]


def _report() -> None:
    total, wall = time.process_time() - T0, time.perf_counter() - W0
    show = functools.partial(print, file=sys.stderr)
    show(f"{'phase':44} {'CPU (s)':>8} {'wall (s)':>9}")
    up, up_wall = MARK.get("ingest", T0) - T0, MARK.get("ingest_wall", W0) - W0
    show(f"{'start-up (until the first replay step)':44} {up:8.2f} {up_wall:9.2f}")
    for label, secs in ACC.items():
        show(f"{label:44} {secs:8.2f} {WALL.get(label, 0.0):9.2f}")
    show(f"{'process (since start)':44} {total:8.2f} {wall:9.2f}")


def main() -> None:
    import stream.commands.replay as command

    ingest = command._ingest  # noqa: SLF001 - the timers hook the command's first step

    async def first_step(*args: Any, **kwargs: Any) -> Any:
        MARK.setdefault("ingest", time.process_time())
        MARK.setdefault("ingest_wall", time.perf_counter())
        return await ingest(*args, **kwargs)

    command._ingest = first_step  # type: ignore[assignment]  # noqa: SLF001
    missing = [label for module, name, label in TARGETS if not _wrap(module, name, label)]
    if missing:
        print(f"not timed (not in this checkout): {', '.join(missing)}", file=sys.stderr)
    gc.callbacks.append(_gc)
    atexit.register(_report)
    sys.argv = ["driftstream", *sys.argv[1:]]
    runpy.run_module("stream.cli", run_name="__main__")


if __name__ == "__main__":
    main()
