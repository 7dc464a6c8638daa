"""Label ingest: events/s of the label plane and the Redis bytes of its duplicate sets.

In-process, against a private ``redis-server`` (random port, no persistence): the
``LabelPlane`` (parse → duplicate look-ups → apply → fenced Lua flush) over
batches built beforehand (no Kafka: the Kafka fetch costs the same as for
features, see bench_ingest). Labels: one partition, unique ids, predictions
spread over ``--hours`` hours, 1 % duplicates.

Redis bytes are ``MEMORY USAGE`` summed over the label keys, per million labels:
the per-hour id sets (what the join-free duplicate check costs; they expire
``max_label_delay_ms`` + 1 day after their last write) and the per-hour state.

``--features N``: the feature data plane (parse + sketches + Redis flushes, same
private Redis) over N pre-built events of bench_ingest's model, declared with and
without a ``labels`` table, in alternating rounds (A B A B ...), side by side.

``--classes K``: a multiclass model of K classes instead (class label and
predicted class per event, a K × K confusion state per cell).

``--regression``: a regression model instead (a numeric target and prediction per
event, exact error and target moments per cell).

Run: ``.venv/bin/python benchmarks/bench_labels.py [--labels 200000] [--hours 24]``
     ``[--classes K | --regression]``
     ``.venv/bin/python benchmarks/bench_labels.py --features 100000 [--rounds 3]``
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence

import numpy as np
import orjson
import redis

from stream.adapters.redis_keys import Keys
from stream.adapters.redis_labels import RedisLabelStore
from stream.adapters.redis_store import RedisSketchStore
from stream.catalog import Catalog, LabelSpec, ModelSpec
from stream.contract import Limits
from stream.pipeline.dataplane import DataPlane
from stream.pipeline.labelplane import LabelPlane
from stream.pipeline.ports import DeadLetter, RecordBatch, SealNotice

T0 = 1_767_225_600_000
HOUR = 3_600_000


class _Clock:
    def now_ms(self) -> int:
        return int(time.time() * 1000)


class _Letters:
    async def send(self, letters: Sequence[DeadLetter]) -> None:
        pass


class _Notices:
    async def publish(self, notices: Sequence[SealNotice]) -> None:
        pass


def _feature_batches(n: int, size: int) -> list[RecordBatch]:
    from benchmarks.bench_ingest import synthetic

    recs = synthetic(n, 20_000)
    return [
        RecordBatch(
            0,
            [v for v, _ in recs[lo : lo + size]],
            np.asarray([t for _, t in recs[lo : lo + size]], np.int64),
            np.arange(lo, lo + len(recs[lo : lo + size]), dtype=np.int64),
        )
        for lo in range(0, len(recs), size)
    ]


async def _features(r: redis.Redis, batches: list[RecordBatch], spec: ModelSpec, ns: str) -> int:
    plane = DataPlane(
        Catalog.of(spec),
        topic="features",
        namespace=ns,
        store=RedisSketchStore(r, ns),
        dead_letters=_Letters(),
        notices=_Notices(),
        clock=_Clock(),
        limits=Limits(max_future_ms=10**12, max_past_ms=10**13),
        allowed_lateness_ms=600_000,
        flush_every_events=50_000,
        flush_interval_ms=10**9,
        idle_partition_timeout_ms=10**12,
    )
    await plane.assign([0], {0: 0})
    for b in batches:
        await plane.process({0: b})
    await plane.flush()
    return plane.stats.accepted


def _feature_rates(r: redis.Redis, n: int, size: int, rounds: int) -> None:
    from benchmarks.bench_ingest import spec as ingest_spec

    plain = ingest_spec()
    labelled = plain.model_copy(update={"labels": LabelSpec()})
    batches = _feature_batches(n, size)
    asyncio.run(_features(r, batches, plain, "warm-up"))  # imports, JIT-less caches, Redis
    got: dict[str, list[float]] = {"without labels": [], "with labels": []}
    for i in range(rounds):
        for name, spec in (("without labels", plain), ("with labels", labelled)):
            t0 = time.perf_counter()
            accepted = asyncio.run(_features(r, batches, spec, f"f{i}-{name.replace(' ', '-')}"))
            got[name].append(n / (time.perf_counter() - t0))
            if accepted != n:
                print(f"  {name}: {accepted:,} of {n:,} events accepted")
    for name, rates in got.items():
        each = ", ".join(f"{x:,.0f}" for x in rates)
        print(f"features {name}: median {np.median(rates):,.0f} events/s ({each})")
    ratio = np.median(got["with labels"]) / np.median(got["without labels"])
    print(f"with / without labels: {ratio:.3f}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _batches(
    n: int, hours: int, size: int, classes: int = 0, regression: bool = False
) -> list[RecordBatch]:
    rng = random.Random(1)
    values: list[bytes] = []
    rec: list[int] = []
    for i in range(n):
        ts = T0 + (i * hours * HOUR) // n
        y = rng.random() < 0.1
        ev: dict[str, object] = {"model": "m", "id": f"pred-{i:012d}", "ts": ts, "label": int(y)}
        ev["prediction"] = round(rng.random(), 4)
        if classes:
            ev["label"], ev["prediction"] = f"c{rng.randrange(classes)}", f"c{i % classes}"
        if regression:
            target = rng.gauss(100.0, 15.0)
            ev["label"], ev["prediction"] = round(target, 3), round(target + rng.gauss(0, 3), 3)
        values.append(orjson.dumps(ev))
        rec.append(ts + 6 * HOUR)
        if i % 100 == 0:
            values.append(orjson.dumps(ev))
            rec.append(ts + 6 * HOUR)
    out = []
    for lo in range(0, len(values), size):
        vs = values[lo : lo + size]
        out.append(
            RecordBatch(
                0,
                vs,
                np.asarray(rec[lo : lo + size], np.int64),
                np.arange(lo, lo + len(vs), dtype=np.int64),
            )
        )
    return out


async def _run(
    r: redis.Redis, batches: list[RecordBatch], ns: str, classes: int = 0, regression: bool = False
) -> LabelPlane:
    labels: dict[str, object] = {"max_label_delay_ms": 48 * HOUR}
    if classes:
        labels["classes"] = [f"c{k}" for k in range(classes)]
    if regression:
        labels["kind"] = "regression"
    spec = ModelSpec.model_validate({"name": "m", "features": {"x": "numeric"}, "labels": labels})
    plane = LabelPlane(
        Catalog.of(spec),
        topic="labels",
        store=RedisLabelStore(r, ns),
        dead_letters=_Letters(),
        clock=_Clock(),
        limits=Limits(max_future_ms=HOUR, max_past_ms=10**12),
        flush_every_events=20_000,
        flush_interval_ms=1_000,
    )
    await plane.assign([0], {0: 0})
    for b in batches:
        await plane.process({0: b})
    await plane.flush()
    return plane


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--labels", type=int, default=200_000)
    ap.add_argument("--hours", type=int, default=24)
    ap.add_argument("--batch", type=int, default=5_000)
    ap.add_argument(
        "--intset-entries",
        type=int,
        default=0,
        help="CONFIG SET set-max-intset-entries first (0: Redis' default, 512)",
    )
    ap.add_argument("--features", type=int, default=0, help="feature ingest A/B instead")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--classes", type=int, default=0, help="multiclass, K classes (0: binary)")
    ap.add_argument("--regression", action="store_true", help="a regression model")
    args = ap.parse_args()
    port = _free_port()
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.Popen(
            ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no", "--dir", tmp],
            stdout=subprocess.DEVNULL,
        )
        try:
            r = redis.Redis(port=port)
            for _ in range(100):
                try:
                    r.ping()
                    break
                except redis.ConnectionError:
                    time.sleep(0.05)
            if args.features:
                _feature_rates(r, args.features, args.batch, args.rounds)
                return
            if args.intset_entries:
                r.config_set("set-max-intset-entries", args.intset_entries)
            batches = _batches(args.labels, args.hours, args.batch, args.classes, args.regression)
            n = sum(len(b) for b in batches)
            cpu0 = resource.getrusage(resource.RUSAGE_SELF)
            t0 = time.perf_counter()
            plane = asyncio.run(_run(r, batches, "bench", args.classes, args.regression))
            wall = time.perf_counter() - t0
            cpu1 = resource.getrusage(resource.RUSAGE_SELF)
            cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
            sets = state = 0
            members = 0
            for key in r.scan_iter(match=Keys("bench").pattern(), count=1000):
                use = int(r.memory_usage(key, samples=0) or 0)
                if b":ls:" in key:
                    sets += use
                    members += int(r.scard(key))
                elif b":lh:" in key:
                    state += use
            per_m = 1_000_000 / max(members, 1)
            print(f"label records {n:,} ({plane.stats.outcomes})")
            print(
                f"label plane: {n / wall:,.0f} records/s wall, {cpu / n * 1e6:.1f} CPU µs/record "
                "(this process; Redis apart)"
            )
            print(
                f"duplicate id sets: {sets:,} B for {members:,} ids = "
                f"{sets * per_m / 1e6:.1f} MB per million labels "
                f"({sets / max(members, 1):.1f} B/id, {args.hours} hourly sets)"
            )
            print(
                f"hour state: {state:,} B over {args.hours} hours "
                f"({state / args.hours:,.0f} B per partition-hour)"
            )
        finally:
            proc.terminate()
            proc.wait()


if __name__ == "__main__":
    main()
