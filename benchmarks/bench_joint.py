"""Joint sketch cost: ingest with the joint member on vs off, side by side in ONE run.

Model: 12 numeric features (n0~n1 correlated), 2 categorical ones and a numeric
prediction. Events are encoded once; each round parses them (the contract parser)
and folds them into a ``PartitionIngest`` with flushes serialized every batch, once
with ``joint.enabled = true`` and once with ``false``, interleaved, median of the
rounds. In-process and CPU-bound: the Kafka fetch and the Redis round trip of the
live worker (the same for both) are not in it, so the live ratio is closer to 1.

Then the bytes of one model-hour's joint sketch (what the flush writes to Redis
beside the feature sketches) at 12 columns and at the default cap of 64, with and
without nulls.

Run: ``.venv/bin/python benchmarks/bench_joint.py [--events 60000] [--rounds 5]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from stream.catalog import Catalog, ModelSpec
from stream.contract import parse_batch
from stream.core.sketch.joint import JointSketch
from stream.pipeline.ingest import PartitionIngest
from stream.pipeline.ports import JOINT_KEY
from stream.synth import Drift, SyntheticStream

START_MS = 1_767_225_600_000


def spec(joint: bool, numeric: int = 12) -> ModelSpec:
    feats = {f"n{i}": "numeric" for i in range(numeric)} | {
        "c0": "categorical",
        "c1": "categorical",
    }
    return ModelSpec.model_validate(
        {"name": "m", "features": feats, "prediction": "numeric", "joint": {"enabled": joint}}
    )


def run(s: ModelSpec, batches: list[tuple[list[bytes], list[int]]]) -> tuple[float, int]:
    """CPU seconds (this process, all threads) to parse + fold + serialize every batch.

    CPU, not wall time: on the shared 2-core box wall time swings with other load.
    Also returns the bytes of the largest joint field a flush wrote.
    """
    catalog = Catalog.of(s)
    ing = PartitionIngest(s, 0, "t", "bench", allowed_lateness_ms=0)
    offset, joint_bytes = 0, 0
    t0 = time.process_time()
    for values, ts in batches:
        offs = list(range(offset, offset + len(values)))
        batch = parse_batch(values, ts, offs, 0, catalog)
        ing.apply(batch.blocks.get("m"), offs[-1])
        w = ing.pending_write()
        if w is not None:
            joint_bytes = max(
                (len(h.sketches[JOINT_KEY]) for h in w.hours if JOINT_KEY in h.sketches),
                default=joint_bytes,
            )
            ing.flushed()
        offset += len(values)
    return time.process_time() - t0, joint_bytes


def hour_bytes(numeric: int, rows: int, null_share: float) -> int:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(rows, numeric)) * 10 + 100
    x[rng.random(x.shape) < null_share] = np.nan
    cols = tuple(f"n{i}" for i in range(numeric))
    return len(JointSketch.zero(cols).update(x).to_bytes())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=60_000)
    ap.add_argument("--batch", type=int, default=5_000)
    ap.add_argument("--per-hour", type=int, default=20_000)
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args()
    on, off = spec(True), spec(False)
    gen = SyntheticStream(
        on, start_ms=START_MS, events_per_hour=a.per_hour, seed=5,
        drifts=[Drift("n1", "correlate", 0.6, 0, partner="n0")],
    )  # fmt: skip
    batches = []
    for first in range(0, a.events, a.batch):
        n = min(a.batch, a.events - first)
        batches.append((gen.encoded(first, n), gen.times(first, n).tolist()))
    times: dict[str, list[float]] = {"on": [], "off": []}
    joint_bytes = 0
    run(on, batches[:2])  # warm-up: imports, caches
    for _ in range(a.rounds):
        for name, s in (("off", off), ("on", on)):
            sec, jb = run(s, batches)
            times[name].append(sec)
            joint_bytes = max(joint_bytes, jb)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"{a.events} events, batches of {a.batch}, {a.rounds} interleaved rounds (median)")
    for k in ("off", "on"):
        us = 1e6 * med[k] / a.events
        print(f"  joint {k:3}: {a.events / med[k]:>9,.0f} events/CPU-s  ({us:.2f} CPU µs/event)")
    print(f"  ratio on/off events per CPU-second: {med['off'] / med['on']:.3f}")
    print(f"  largest joint field written by a flush: {joint_bytes} bytes")
    print("joint sketch bytes per model-hour (1,500 rows):")
    for k in (12, 64):
        for share in (0.0, 0.05):
            print(f"  {k:3} columns, {share:4.0%} nulls: {hour_bytes(k, 1_500, share):>8,} bytes")


if __name__ == "__main__":
    main()
