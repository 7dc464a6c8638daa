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

With ``--worker N``: the same comparison with a real ``driftstream worker`` subprocess
(bench_ingest's (b2): Kafka fetch, parse, sketches, fenced Redis flushes) on a private
local Kafka + Redis, N events of a 12-numeric-feature model loaded once, the worker run
with the joint member on and off alternately ``--worker-rounds`` times (every run shown).

Run: ``.venv/bin/python benchmarks/bench_joint.py [--events 60000] [--rounds 5]
[--worker 300000 --worker-rounds 3 [--nulls 0.05]] [--no-inprocess] [--cap-table]``.
"""

from __future__ import annotations

import os

# As driftstream does when imported (stream/__init__.py), but numpy is imported first
# here: without it OpenBLAS's spinning threads cost ~5x the joint update's CPU.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import json
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


def indicators(per_feature: int) -> dict[str, list[str]]:
    """``per_feature`` categories of c0 and c1 (synth's most frequent first) as indicators."""
    return {c: [f"c{j}" for j in range(per_feature)] for c in ("c0", "c1")} if per_feature else {}


def spec(
    joint: bool, numeric: int = 12, name: str = "m", cap: int = 0, per_feature: int = 0
) -> ModelSpec:
    feats = {f"n{i}": "numeric" for i in range(numeric)} | {
        "c0": "categorical",
        "c1": "categorical",
    }
    rules: dict[str, object] = {"enabled": joint} | ({"max_columns": cap} if cap else {})
    if per_feature:
        rules["indicators"] = indicators(per_feature)
    return ModelSpec.model_validate(
        {"name": name, "features": feats, "prediction": "numeric", "joint": rules}
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


def worker_side_by_side(n: int, rounds: int, nulls: float = 0.0, per_feature: int = 0) -> None:
    """(b2) with the joint member on vs off: alternate real worker runs on one loaded topic."""
    import tempfile
    import uuid
    from pathlib import Path

    import bench_ingest as bi
    import redis

    from stream.adapters.kafka_tools import create_topics, produce
    from stream.localstack import LocalStack

    numeric = [f"n{i}" for i in range(12)]

    class JointBench(bi.Bench):
        joint = True
        per_feature = 0

        def config(self, namespace: str, extra: str = "") -> Path:
            path = self.workdir / f"{namespace}.toml"
            model = (
                '[models.fraud-v3]\nprediction = "numeric"\n'
                f"[models.fraud-v3.joint]\nenabled = {str(self.joint).lower()}\n"
                + "".join(
                    f"indicators.{c} = {json.dumps(v)}\n"
                    for c, v in indicators(self.per_feature).items()
                )
                + "[models.fraud-v3.features]\n"
                + "".join(f'{c} = "numeric"\n' for c in numeric)
                + 'c0 = "categorical"\nc1 = "categorical"\n'
            )
            path.write_text(
                f'[topics]\nfeatures = "{self.topic}"\ndead_letter = "{self.topic}-dlq"\n'
                f'sealed = "{self.topic}-sealed"\n'
                f'[consumer]\ngroup_id = "g-{namespace}"\n[redis]\nnamespace = "{namespace}"\n'
                f"[ingest]\nallowed_lateness_ms = 600000\n{extra}\n{model}"
            )
            return path

    gen = SyntheticStream(
        spec(True, name="fraud-v3"), start_ms=bi.START_MS,
        events_per_hour=200_000, seed=5,
        drifts=[Drift("n1", "correlate", 0.6, 0, partner="n0")]
        + [Drift(c, "null", nulls, 0) for c in numeric if nulls > 0],
    )  # fmt: skip
    print(
        f"generating {n:,} events (12 numeric + 2 categorical + prediction,"
        f" {nulls:.0%} nulls per numeric column) ...",
        flush=True,
    )
    records: list[tuple[bytes, int]] = []
    for first in range(0, n, 20_000):
        m = min(20_000, n - first)
        records += zip(gen.encoded(first, m), gen.times(first, m).tolist(), strict=True)
    with tempfile.TemporaryDirectory(prefix="bench-joint-") as d:
        stack = LocalStack.start(Path(d), die_with_parent=True)
        try:
            r = redis.Redis.from_url(stack.redis_url)
            topic = f"bench-joint-{uuid.uuid4().hex[:6]}"
            opts = {"bootstrap_servers": [stack.bootstrap]}
            create_topics(opts, {topic: bi.PARTITIONS, f"{topic}-dlq": 1, f"{topic}-sealed": 1})
            produce(opts, topic, records, partitions=bi.PARTITIONS)
            del records
            b = JointBench(stack.bootstrap, stack.redis_url, Path(d), topic, n)
            names = ("off", "on", "ind") if per_feature else ("off", "on")
            runs: dict[str, list[bi.Run]] = {name: [] for name in names}
            joint_bytes: list[int] = []
            for k in range(rounds):
                for name in names if k % 2 == 0 else names[::-1]:
                    b.joint = name != "off"
                    b.per_feature = per_feature if name == "ind" else 0
                    run, _, ns = bi.worker_process(b, r, timeout_s=60 + n / 5_000)
                    runs[name].append(run)
                    print(
                        f"  round {k + 1}/{rounds} joint {name:3}: {run.rate:>9,.0f} events/s"
                        f" wall, {run.cpu_us:.2f} CPU µs/event ({run.note})",
                        flush=True,
                    )
                    if b.joint:
                        for key in r.scan_iter(match=f"ds:{{{ns}|fraud-v3|*}}:h:*", count=1000):
                            blob = r.hget(key, "f:@joint")
                            if blob:
                                joint_bytes.append(len(blob))
        finally:
            stack.stop()
    print(f"worker (b2), {n:,} events, {rounds} alternating rounds:")
    if per_feature:
        print(f"  ind = joint on + {2 * per_feature} indicator columns (c0, c1)")
        ind = statistics.median(x.cpu_us for x in runs["ind"])
        off = statistics.median(x.cpu_us for x in runs["off"])
        on = statistics.median(x.cpu_us for x in runs["on"])
        print(
            f"  ratio of medians, events per CPU-second: ind/off {off / ind:.3f},"
            f" ind/on {on / ind:.3f}"
        )
    for name in names:
        cpu = [x.cpu_us for x in runs[name]]
        wall = [x.rate for x in runs[name]]
        print(
            f"  joint {name:3}: CPU µs/event {', '.join(f'{c:.2f}' for c in cpu)}"
            f" (median {statistics.median(cpu):.2f});"
            f" events/s {', '.join(f'{w:,.0f}' for w in wall)}"
        )
    pairs = [f"{a.cpu_us / b_.cpu_us:.3f}" for a, b_ in zip(runs["off"], runs["on"], strict=True)]
    print(f"  ratio on/off events per CPU-second, per round: {', '.join(pairs)}")
    med_off = statistics.median(x.cpu_us for x in runs["off"])
    med_on = statistics.median(x.cpu_us for x in runs["on"])
    print(f"  ratio of medians: {med_off / med_on:.3f}")
    wall_ratio = statistics.median(x.rate for x in runs["on"]) / statistics.median(
        x.rate for x in runs["off"]
    )
    print(f"  ratio of median wall events/s: {wall_ratio:.3f}")
    if joint_bytes:
        print(
            "  joint field per partition-hour in Redis: median"
            f" {statistics.median(joint_bytes):,.0f}"
            f" B ({len(joint_bytes)} fields)"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=60_000)
    ap.add_argument("--numeric", type=int, default=12, help="in-process: numeric features")
    ap.add_argument("--cap", type=int, default=0, help="in-process: joint.max_columns")
    ap.add_argument("--batch", type=int, default=5_000)
    ap.add_argument("--per-hour", type=int, default=20_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--worker", type=int, default=0, help="events for the worker comparison")
    ap.add_argument("--worker-rounds", type=int, default=3)
    ap.add_argument("--nulls", type=float, default=0.0, help="worker: null share per column")
    ap.add_argument("--no-inprocess", action="store_true", help="only the worker comparison")
    ap.add_argument("--cap-table", action="store_true", help="only the cost by column count")
    ap.add_argument(
        "--indicators", type=int, default=4, help="categories of c0 and c1 as indicators (0: skip)"
    )
    a = ap.parse_args()
    if a.worker:
        worker_side_by_side(a.worker, a.worker_rounds, a.nulls, a.indicators)
    if a.cap_table:
        cap_table()
        return
    if a.no_inprocess:
        return
    on, off = spec(True, a.numeric, cap=a.cap), spec(False, a.numeric)
    ind = spec(True, a.numeric, cap=a.cap, per_feature=a.indicators)
    gen = SyntheticStream(
        on, start_ms=START_MS, events_per_hour=a.per_hour, seed=5,
        drifts=[Drift("n1", "correlate", 0.6, 0, partner="n0")],
    )  # fmt: skip
    batches = []
    for first in range(0, a.events, a.batch):
        n = min(a.batch, a.events - first)
        batches.append((gen.encoded(first, n), gen.times(first, n).tolist()))
    variants = [("off", off), ("on", on)] + ([("ind", ind)] if a.indicators else [])
    times: dict[str, list[float]] = {name: [] for name, _ in variants}
    joint_bytes: dict[str, int] = {name: 0 for name, _ in variants}
    run(ind, batches[:2])  # warm-up: imports, caches
    for _ in range(a.rounds):
        for name, s in variants:
            sec, jb = run(s, batches)
            times[name].append(sec)
            joint_bytes[name] = max(joint_bytes[name], jb)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(
        f"{a.events} events of {a.numeric} numeric features, batches of {a.batch},"
        f" {a.rounds} interleaved rounds (median)"
    )
    if a.indicators:
        print(f"  ind = joint on + {2 * a.indicators} indicator columns (c0, c1)")
    for k in times:
        us = 1e6 * med[k] / a.events
        print(f"  joint {k:3}: {a.events / med[k]:>9,.0f} events/CPU-s  ({us:.2f} CPU µs/event)")
    print(f"  ratio on/off events per CPU-second: {med['off'] / med['on']:.3f}")
    if a.indicators:
        print(
            f"  ratio ind/off: {med['off'] / med['ind']:.3f}, ind/on: {med['on'] / med['ind']:.3f}"
        )
    for k in ("on", "ind"):
        if joint_bytes.get(k):
            print(f"  largest joint field written by a flush ({k}): {joint_bytes[k]:,} bytes")
    cap_table()


def cap_table() -> None:
    """Cost by column count: update CPU per row, bytes per model-hour, judging one window."""
    from stream.core.joint import decide_joint

    print("by joint column count (update: 5,000-row batches; bytes: 1,500 rows = one model-hour;")
    print("judge: decide_joint of one window against the reference, CPU ms):")
    print("  cols | update µs/row, 0% / 5% nulls | bytes/model-hour, 0% / 5% nulls | judge ms")
    rng = np.random.default_rng(2)
    for k in (12, 32, 64):
        cols = tuple(f"n{i}" for i in range(k))
        per_row = []
        for share in (0.0, 0.05):
            x = rng.normal(size=(5_000, k)) * 10 + 100
            x[:, : k // 2] = rng.normal(size=(5_000, k // 2))
            x[rng.random(x.shape) < share] = np.nan
            columns = [x[:, j].copy() for j in range(k)]
            sk = JointSketch.zero(cols)
            sk.update_columns(columns, 5_000)
            t0, reps = time.process_time(), 6
            for _ in range(reps):
                sk.update_columns(columns, 5_000)
            per_row.append(1e6 * (time.process_time() - t0) / reps / 5_000)
        ref = JointSketch.zero(cols).update(rng.normal(size=(20_000, k)))
        win = JointSketch.zero(cols).update(rng.normal(size=(1_500, k)))
        t0 = time.process_time()
        decide_joint(ref, win, None, alpha=1e-3)
        judge = 1e3 * (time.process_time() - t0)
        b0, b5 = hour_bytes(k, 1_500, 0.0), hour_bytes(k, 1_500, 0.05)
        print(
            f"  {k:4} | {per_row[0]:6.2f} / {per_row[1]:6.2f}"
            f"              | {b0:>8,} / {b5:>8,}"
            f"                | {judge:6.1f}"
        )


if __name__ == "__main__":
    main()
