"""Evaluation cost and alert latency with a 50-feature model, on the real local stack.

Measured in one run:
  * reference calibration time (a week of hours, 50 columns);
  * rollup + evaluation + atomic commit per model-hour (6 partitions);
  * alert latency: from the moment an hour is sealed by all partitions (the
    control plane receives the last seal notice) to the alert acknowledged on
    the alerts topic — rollup, evaluation, commit and publish — p50 / p99 over
    the hours of a drifting stream.

Run: .venv/bin/python benchmarks/bench_evaluate.py [--hours 30]
(starts a private stack in a temp dir, or attaches to DRIFTSTREAM_KAFKA_BOOTSTRAP
and DRIFTSTREAM_REDIS_URL when both are set).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import redis

from stream.adapters.alerts import AlertPublisher
from stream.adapters.kafka_tools import create_topics
from stream.adapters.redis_eval import RedisEvaluationStore
from stream.adapters.redis_keys import Keys
from stream.adapters.redis_refs import RedisReferences
from stream.adapters.redis_store import RedisSketchStore
from stream.adapters.redis_windows import RedisWindowStore
from stream.catalog import Catalog, ModelSpec
from stream.contract import Limits
from stream.core.window import HOUR_MS
from stream.pipeline.control import ControlPlane
from stream.pipeline.dataplane import DataPlane
from stream.pipeline.evaluate import Evaluator, alert_encoder
from stream.pipeline.ports import DeadLetter, RawRecord, SealNotice
from stream.pipeline.reference import ReferenceBuilder, calibration_of
from stream.settings import load_settings
from stream.synth import Drift, SyntheticStream

START = 1_767_225_600_000
PARTS = 6


class Collect:
    def __init__(self) -> None:
        self.notices: list[SealNotice] = []

    async def publish(self, notices: list[SealNotice]) -> None:
        self.notices.extend(notices)

    async def send(self, letters: list[DeadLetter]) -> None:
        return None


class Clock:
    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000


def spec() -> ModelSpec:
    feats = {f"n{i}": "numeric" for i in range(40)} | {f"c{i}": "categorical" for i in range(10)}
    return ModelSpec.model_validate(
        {
            "name": "wide",
            "features": feats,
            "reference": {"source": "redis", "name": "training"},
            "alerts": {"baselines": ["reference", "previous"]},
        }
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hours", type=int, default=30)
    ap.add_argument("--per-hour", type=int, default=3000)
    args = ap.parse_args()
    bootstrap, redis_url = (
        os.environ.get("DRIFTSTREAM_KAFKA_BOOTSTRAP"),
        os.environ.get("DRIFTSTREAM_REDIS_URL"),
    )
    stack = None
    if not (bootstrap and redis_url):
        from stream.localstack import LocalStack

        stack = LocalStack.start(Path(tempfile.mkdtemp(prefix="bench-eval-")))
        bootstrap, redis_url = stack.bootstrap, stack.redis_url
    try:
        run(bootstrap, redis_url, args.hours, args.per_hour)
    finally:
        if stack is not None:
            stack.stop()


def run(bootstrap: str, redis_url: str, hours: int, per_hour: int) -> None:
    ns = f"bench{uuid.uuid4().hex[:6]}"
    alerts_topic = f"bench-alerts-{uuid.uuid4().hex[:6]}"
    s = spec()
    settings = load_settings(
        None, {"DRIFTSTREAM_KAFKA_BOOTSTRAP": bootstrap, "DRIFTSTREAM_REDIS_URL": redis_url}
    ).model_copy(update={"models": Catalog.of(s)})
    r = redis.Redis.from_url(redis_url)
    create_topics({"bootstrap_servers": [bootstrap]}, {alerts_topic: 1})

    t0 = time.perf_counter()
    ref_gen = SyntheticStream(s, start_ms=START - 7 * 24 * HOUR_MS, events_per_hour=200, seed=1)
    builder = ReferenceBuilder(s, "training")
    total = 7 * 24 * 200
    builder.add_synthetic(ref_gen, total)
    ref = builder.build()
    t_build = time.perf_counter() - t0
    t0 = time.perf_counter()
    cal = calibration_of(ref, s, per_hour)
    t_cal = time.perf_counter() - t0
    RedisReferences(r, ns).save(ref, cal)

    # Ingest the live stream in-process (real Redis store), holding back seal notices.
    sink = Collect()
    store = RedisSketchStore(r, ns)
    plane = DataPlane(
        settings.models, topic="bench", namespace=ns, store=store, dead_letters=sink,
        notices=sink, clock=Clock(), limits=Limits(max_future_ms=2**62, max_past_ms=2**62),
        allowed_lateness_ms=0, flush_every_events=50_000, flush_interval_ms=2**62,
        idle_partition_timeout_ms=2**62,
    )  # fmt: skip
    gen = SyntheticStream(
        s, start_ms=START, events_per_hour=per_hour, seed=5,
        drifts=[Drift("n0", "shift", 1.0, START + (hours // 2) * HOUR_MS)],
    )  # fmt: skip
    asyncio.run(_ingest(plane, gen, hours * per_hour))

    windows = RedisWindowStore(r, ns)
    evals = RedisEvaluationStore(r, ns, windows)
    evaluator = Evaluator(evals, encode=alert_encoder(settings))
    publisher = AlertPublisher(evals, alerts_topic, {"bootstrap_servers": [bootstrap]})
    eval_times: list[float] = []

    def on_window(model: str, w: object) -> None:
        t = time.perf_counter()
        evaluator.evaluate(s, w)  # type: ignore[arg-type]
        eval_times.append(time.perf_counter() - t)

    control = ControlPlane(
        settings.models, ns, windows, on_window=on_window, after_model=publisher.publish
    )
    by_hour: dict[int, list[SealNotice]] = {}
    for n in sink.notices:
        by_hour.setdefault(n.hour_ms, []).append(n)
    latencies = []
    for h in sorted(by_hour):
        t = time.perf_counter()
        control.on_notices(by_hour[h])
        latencies.append(time.perf_counter() - t)
    publisher.close()
    lat = np.array(latencies) * 1000
    ev = np.array(eval_times) * 1000
    p50, p99 = np.percentile(ev, 50), np.percentile(ev, 99)
    l50, l99 = statistics.median(lat), np.percentile(lat, 99)
    print(f"model: 50 columns (40 numeric, 10 categorical), {PARTS} partitions, {per_hour}/hour")
    print(f"reference build (a week, 33.6k events): {t_build:.2f} s; calibration: {t_cal:.2f} s")
    print(f"evaluate + commit per model-hour (2 baselines x 50 features): p50 {p50:.0f} ms, ")
    print(f"  p99 {p99:.0f} ms over {len(ev)} windows")
    print("sealed -> alert acknowledged on the topic (rollup + evaluate + commit + publish):")
    print(f"  p50 {l50:.0f} ms, p99 {l99:.0f} ms over {len(lat)} hours")
    print(f"alerts published: {publisher.sent}")
    for k in r.scan_iter(match=Keys(ns).pattern(), count=1000):
        r.delete(k)


async def _ingest(plane: DataPlane, gen: SyntheticStream, total: int) -> None:
    await plane.assign(list(range(PARTS)), dict.fromkeys(range(PARTS), 0))
    offsets = [0] * PARTS
    i = 0
    for batch in gen.batches(total, 12_000):
        recs: dict[int, list[RawRecord]] = {p: [] for p in range(PARTS)}
        for v in batch:
            p = i % PARTS
            recs[p].append(RawRecord(p, offsets[p], 0, v))
            offsets[p] += 1
            i += 1
        await plane.process(recs)
    for states in plane.states.values():
        for st in states.values():
            st.go_idle()
    await plane.flush()


if __name__ == "__main__":
    main()
