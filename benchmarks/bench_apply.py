"""Parse and sketch updates of the worker's batches, this tree vs another checkout (issue 19).

The two in-process stages after the fetch, measured without Kafka, Redis or a worker
process (whose CPU per event swings by ±15 % on a shared box): ``parse_batch`` and
``PartitionIngest.apply`` over ``bench_ingest.py``'s events (12 features, ~331 bytes),
cut into one partition's share of a ``consume`` (``--block`` rows, default 1,667 =
10,000 / 6 partitions). The GC is tuned as the worker's (``gc.freeze()``, young
threshold 50,000). Each round runs one child process per checkout, alternating, so
both see the same noise; a child reports its best and median of ``--repeat`` passes.
``apply`` is split into its numeric, categorical and joint sketch updates (timers
around each sketch call; the rest of ``apply`` is watermarks, hour split, glue).

Run: ``.venv/bin/python benchmarks/bench_apply.py --baseline DIR`` where ``DIR`` holds
another checkout's ``stream/`` with its extensions built (e.g. ``git archive`` of main
plus ``setup.py build_ext --inplace``); without ``--baseline`` only this tree.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

CHILD = r"""
import gc, json, sys, time
base, n, block, repeat = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
if base:
    sys.path.insert(0, base)
sys.path.insert(1, {here!r})
import numpy as np
import bench_ingest as bi
from stream.catalog import Catalog
from stream.contract import parse_batch
from stream.core.sketch import CategoricalSketch, JointSketch, NumericSketch
from stream.pipeline.ingest import PartitionIngest

gc.freeze()
gc.set_threshold(50_000)
recs = bi.synthetic(n, 100_000)
spec = bi.spec()
cat = Catalog.of(spec)
blocks = []
for a in range(0, n, block):
    chunk = recs[a : a + block]
    blocks.append(
        (
            [v for v, _ in chunk],
            np.array([t for _, t in chunk], np.int64),
            np.arange(a, a + len(chunk), dtype=np.int64),
        )
    )
spent = dict.fromkeys(("numeric", "categorical", "joint"), 0)


def timed(cls, name, key):
    f = getattr(cls, name)

    def w(*a, **k):
        t0 = time.process_time_ns()
        try:
            return f(*a, **k)
        finally:
            spent[key] += time.process_time_ns() - t0

    setattr(cls, name, w)


timed(NumericSketch, "update", "numeric")
timed(CategoricalSketch, "update_codes", "categorical")
timed(JointSketch, "update_columns", "joint")
out = {k: [] for k in ("parse", "apply", "numeric", "categorical", "joint")}
for _ in range(repeat):
    c0 = time.process_time()
    parsed = [parse_batch(v, t, o, 0, cat) for v, t, o in blocks]
    c1 = time.process_time()
    for k in spent:
        spent[k] = 0
    state = PartitionIngest(
        spec=spec, partition=0, token="t", namespace="n", allowed_lateness_ms=86_400_000
    )
    for (_, _, o), b in zip(blocks, parsed):
        state.apply(b.blocks.get(spec.name), int(o[-1]))
    c2 = time.process_time()
    assert sum(len(b.rejections) for b in parsed) == 0
    out["parse"].append((c1 - c0) / n * 1e6)
    out["apply"].append((c2 - c1) / n * 1e6)
    for k, v in spent.items():
        out[k].append(v / n / 1e3)
print(json.dumps(out))
"""


def child(base: str, n: int, block: int, repeat: int) -> dict[str, list[float]]:
    code = CHILD.replace("{here!r}", repr(str(HERE)))
    got = subprocess.run(
        [sys.executable, "-c", code, base, str(n), str(block), str(repeat)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )
    result: dict[str, list[float]] = json.loads(got.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=60_000, help="events per pass")
    ap.add_argument("--block", type=int, default=1_667, help="rows per parse/apply call")
    ap.add_argument("--repeat", type=int, default=5, help="passes per child process")
    ap.add_argument("--rounds", type=int, default=3, help="child processes per checkout")
    ap.add_argument("--baseline", default="", help="a directory holding another stream/")
    args = ap.parse_args()
    sides = {"this tree": ""} | ({"baseline": args.baseline} if args.baseline else {})
    got: dict[str, dict[str, list[float]]] = {s: {} for s in sides}
    for r in range(args.rounds):
        for side, base in sides.items():
            print(f"  round {r + 1}/{args.rounds}: {side} ...", flush=True)
            for k, v in child(base, args.events, args.block, args.repeat).items():
                got[side].setdefault(k, []).extend(v)
    print(
        f"\nCPU us/event over {args.events:,} events in blocks of {args.block:,} rows, "
        f"{args.rounds} x {args.repeat} passes per side: best / median"
    )
    stages = ("parse", "apply", "numeric", "categorical", "joint")
    print(f"{'':12}" + "".join(f"{s:>18}" for s in stages))
    for side, res in got.items():
        cells = [f"{min(res[s]):.3f} / {statistics.median(res[s]):.3f}" for s in stages]
        print(f"{side:12}" + "".join(f"{c:>18}" for c in cells))
    if args.baseline:
        new, old = got["this tree"], got["baseline"]
        ratios = [statistics.median(new[s]) / statistics.median(old[s]) for s in stages]
        print(f"{'ratio':12}" + "".join(f"{x:>18.2f}" for x in ratios))


if __name__ == "__main__":
    main()
