"""Replay throughput: ≥ 2M events (12 features) from the local broker, 1 and 2 processes.

Run: .venv/bin/python benchmarks/bench_replay.py [--events 2000000]
(a private stack in a temp dir, or DRIFTSTREAM_KAFKA_BOOTSTRAP + DRIFTSTREAM_REDIS_URL).
Loading the topic is not timed; each replay is timed from start to exit (planning,
reading, parsing, sketching, flushing, rollup and evaluation of every window).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import redis

from stream.adapters.kafka_tools import create_topics, produce
from stream.adapters.redis_keys import Keys
from stream.catalog import ModelSpec
from stream.synth import SyntheticStream

START = 1_767_225_600_000
FEATURES = {f"n{i}": "numeric" for i in range(8)} | {f"c{i}": "categorical" for i in range(4)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=2_000_000)
    args = ap.parse_args()
    bootstrap, redis_url = (
        os.environ.get("DRIFTSTREAM_KAFKA_BOOTSTRAP"),
        os.environ.get("DRIFTSTREAM_REDIS_URL"),
    )
    stack = None
    if not (bootstrap and redis_url):
        from stream.localstack import LocalStack

        stack = LocalStack.start(Path(tempfile.mkdtemp(prefix="bench-replay-")))
        bootstrap, redis_url = stack.bootstrap, stack.redis_url
    try:
        run(bootstrap, redis_url, args.events)
    finally:
        if stack is not None:
            stack.stop()


def run(bootstrap: str, redis_url: str, events: int) -> None:
    topic = f"bench-replay-{uuid.uuid4().hex[:6]}"
    work = Path(tempfile.mkdtemp(prefix="bench-replay-cfg-"))
    config = work / "c.toml"
    model = "\n".join(f'{k} = "{v}"' for k, v in FEATURES.items())
    config.write_text(
        f"""[topics]
features = "{topic}"
[ingest]
max_past_ms = 315360000000
max_future_ms = 315360000000
[models.wide]
[models.wide.features]
{model}
[models.wide.alerts]
baselines = ["previous"]
"""
    )
    spec = ModelSpec.model_validate({"name": "wide", "features": FEATURES})
    create_topics({"bootstrap_servers": [bootstrap]}, {topic: 6})
    gen = SyntheticStream(spec, start_ms=START, events_per_hour=20_000, seed=3)
    t = time.perf_counter()
    produce({"bootstrap_servers": [bootstrap]}, topic, gen.records(events), partitions=6)
    size = len(gen.encoded(0, 1)[0])
    print(f"loaded {events:,} events ({size} B each) in {time.perf_counter() - t:.1f} s")
    env = {
        **os.environ,
        "DRIFTSTREAM_CONFIG": str(config),
        "DRIFTSTREAM_KAFKA_BOOTSTRAP": bootstrap,
        "DRIFTSTREAM_REDIS_URL": redis_url,
    }
    r = redis.Redis.from_url(redis_url)
    for workers in (1, 2):
        ns = f"bench-{uuid.uuid4().hex[:6]}"
        t = time.perf_counter()
        cmd = [sys.executable, "-m", "stream.cli", "replay", "--quiet", "--namespace", ns]
        cmd += ["--workers", str(workers)]
        subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
        dt = time.perf_counter() - t
        rate = events / dt
        print(f"replay, {workers} process(es): {dt:.1f} s  {rate:,.0f} events/s", end="")
        print(f"  ({rate / workers:,.0f} per process)")
        for k in r.scan_iter(match=Keys(ns).pattern(), count=1000):
            r.delete(k)


if __name__ == "__main__":
    main()
