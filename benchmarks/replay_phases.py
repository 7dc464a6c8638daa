"""Where a replay's CPU goes, without a profiler: CPU timers around its entry points.

cProfile (``bench_replay_detect.py --cprofile`` + ``replay_split.py``) slows call-heavy
Python 2-3x more than numpy/C code, so its shares overstate the encoders and the GC
shows nowhere. This runs ``driftstream ARGS`` in this process with ``process_time``
timers around a few entry points (a handful of calls each, so the timers cost nothing)
and the cyclic GC's passes, and prints CPU seconds per phase on stderr at exit.
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
import runpy
import sys
import time
from collections.abc import Callable
from typing import Any

T0 = time.process_time()
ACC: dict[str, float] = {}
MARK: dict[str, float] = {}

TARGETS = [
    ("stream.pipeline.dataplane", "parse_batch", "ingest: parse"),
    ("stream.adapters.kafka_range", "columns", "ingest: Kafka records → columns"),
    ("stream.pipeline.ingest", "PartitionIngest.apply", "ingest: sketch update"),
    ("stream.pipeline.ingest", "PartitionIngest.pending_write", "flush: encode"),
    ("stream.adapters.redis_store", "RedisSketchStore.flush", "flush: Redis write"),
    ("stream.core.sketch._wire", "encode_frame", "  (encode, flush + rollup)"),
    ("stream.pipeline.replay", "roll_up_all", "rollup"),
    ("stream.adapters.redis_windows", "RedisWindowStore.partition_hours", "  rollup: read parts"),
    ("stream.adapters.redis_windows", "RedisWindowStore.create_window", "  rollup: write windows"),
    ("stream.pipeline.rollup", "merge_sketches", "  rollup: pairwise merges"),
    ("stream.core.sketch.numeric", "NumericSketch.merge_all", "  rollup: one-pass merges"),
    ("stream.pipeline.evaluate", "Evaluator.evaluate", "evaluate"),
    ("stream.pipeline.evaluate", "batch_measures", "  judging: batch_measures"),
    ("stream.pipeline.evaluate", "evaluate_feature", "  judging: evaluate_feature"),
    ("stream.pipeline.evaluate", "decide_joint", "  judging: decide_joint"),
    ("stream.adapters.redis_eval", "RedisEvaluationStore.flush", "commits (queued, written)"),
]


def _timed(label: str, f: Callable[..., Any]) -> Callable[..., Any]:
    busy = [False]

    @functools.wraps(f)
    def run(*args: Any, **kwargs: Any) -> Any:
        if busy[0]:  # recursion: the outer call counts
            return f(*args, **kwargs)
        busy[0], t = True, time.process_time()
        try:
            return f(*args, **kwargs)
        finally:
            ACC[label] = ACC.get(label, 0.0) + time.process_time() - t
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


def _report() -> None:
    total = time.process_time() - T0
    show = functools.partial(print, file=sys.stderr)
    show(f"{'start-up (until the first replay step)':44} {MARK.get('ingest', T0) - T0:6.2f} s")
    for label, secs in ACC.items():
        show(f"{label:44} {secs:6.2f} s")
    show(f"{'process (CPU-s since start)':44} {total:6.2f} s")


def main() -> None:
    import stream.commands.replay as command

    ingest = command._ingest  # noqa: SLF001 - the timers hook the command's first step

    async def first_step(*args: Any, **kwargs: Any) -> Any:
        MARK.setdefault("ingest", time.process_time())
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
