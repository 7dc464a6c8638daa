"""A hostile producer against a real worker: Redis memory, hash size and flush latency.

The producer of issue 11: 250 events with 4,000 distinct undeclared feature keys
each, and 300 records whose event and record timestamps are an hour apart
(oldest first). Each worker binary given runs the same stream on its own topic
and namespace, one after the other in one run (side by side):

    .venv/bin/python benchmarks/bench_hostile.py \
        --worker before=/work/main/.venv/bin/driftstream --worker after=.venv/bin/driftstream

Prints per worker: Redis ``used_memory`` growth, the biggest partition-hour hash
(fields), worker RSS, flushes and their latency (from ``/metrics``), and how the
550 events were accounted for. Uses a private Kafka + Redis unless
``DRIFTSTREAM_KAFKA_BOOTSTRAP`` / ``DRIFTSTREAM_REDIS_URL`` are set.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import orjson
import redis
from kafka.admin import KafkaAdminClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stream.adapters.redis_keys import Keys  # noqa: E402
from tests.integration.worker_harness import (  # noqa: E402
    Deployment,
    end_offsets,
    send,
    stored_offsets,
    wait_until,
)

HOUR_MS = 3_600_000
KEYS_PER_EVENT = 4000
WIDE_EVENTS = 250
HOPPING = 300


def _event(ts: int, **features: object) -> bytes:
    base = {"amount": 10.0, "n_items": 1, "score_a": 0.5, "score_b": 0.5, "country": "DE"}
    return orjson.dumps({"model": "fraud-v3", "ts": ts, "features": {**base, **features}})


def _stream(now: int) -> list[tuple[bytes, int]]:
    hopping = [(_event(now - h * HOUR_MS), now - h * HOUR_MS) for h in range(HOPPING - 1, -1, -1)]
    wide = [
        (_event(now, **{f"k{i}_{j}": 1 for j in range(KEYS_PER_EVENT)}), now)
        for i in range(WIDE_EVENTS)
    ]
    return [*hopping, *wide]


def _metric(text: str, name: str) -> float:
    m = re.search(rf"^{re.escape(name)} ([0-9.e+-]+)$", text, re.MULTILINE)
    return float(m.group(1)) if m else float("nan")


class StallProbe:
    """Pings Redis every 0.1 s from another client: the longest wait is how long the
    worker's flushes blocked Redis for everyone."""

    def __init__(self, redis_url: str) -> None:
        self._r = redis.Redis.from_url(redis_url, socket_timeout=120)
        self.worst_s = 0.0
        self.busy = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            t = time.perf_counter()
            while True:  # BUSY (a script past lua-time-limit) counts as blocked too
                try:
                    self._r.ping()
                    break
                except (redis.ResponseError, redis.TimeoutError):
                    self.busy += 1
                    time.sleep(0.05)
            self.worst_s = max(self.worst_s, time.perf_counter() - t)
            time.sleep(0.1)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join(timeout=150)
        return self.worst_s


def _offsets(r: redis.Redis, ns: str) -> dict[int, int]:
    try:
        return stored_offsets(r, ns, 1)
    except (redis.TimeoutError, redis.ResponseError):
        return {}


def run_one(label: str, binary: str, bootstrap: str, redis_url: str, workdir: Path) -> None:
    suffix = uuid.uuid4().hex[:8]
    names = {"features": f"hb-{suffix}", "dead_letter": f"hbd-{suffix}", "sealed": f"hbs-{suffix}"}
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics(
        {n: {"num_partitions": 1, "replication_factor": 1} for n in names.values()},
        wait_for_metadata=True,
    )
    d = Deployment(
        bootstrap=bootstrap,
        redis_url=redis_url,
        namespace=f"hb{suffix}",
        workdir=workdir,
        partitions=1,
        overrides={
            "DRIFTSTREAM_INGEST__MAX_PAST_MS": str(7 * 24 * HOUR_MS),
            "DRIFTSTREAM_INGEST__MAX_FUTURE_MS": str(HOUR_MS),
            "DRIFTSTREAM_INGEST__FLUSH_INTERVAL_MS": "5000",
        },
        **names,
    )
    r = redis.Redis.from_url(redis_url, socket_timeout=120)
    send(bootstrap, d.features, _stream(time.time_ns() // 1_000_000), 1)
    mem0 = int(r.info("memory")["used_memory"])
    env = d.env()
    port = int(env["DRIFTSTREAM_WEB__PORT"])
    with (workdir / f"{label}.log").open("wb") as log:
        proc = subprocess.Popen([binary, "worker"], env=env, stdout=log, stderr=subprocess.STDOUT)
    probe = StallProbe(redis_url)
    try:
        t0 = time.monotonic()
        ends = end_offsets(bootstrap, d.features, 1)
        wait_until(lambda: _offsets(r, d.namespace) == ends, 900, f"{label} to finish")
        took = time.monotonic() - t0
        time.sleep(6)  # one more flush interval: the steady state
        stall = probe.stop()
        rss_kb = int(Path(f"/proc/{proc.pid}/status").read_text().split("VmRSS:")[1].split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:  # noqa: S310
            metrics = resp.read().decode()
        keys = list(r.scan_iter(match=Keys(d.namespace).pattern(), count=1000))
        hour_keys = [k for k in keys if b":h:" in k]
        biggest = max((int(r.hlen(k)) for k in hour_keys), default=0)
        grown = int(r.info("memory")["used_memory"]) - mem0
        n = _metric(metrics, "driftstream_flush_seconds_count")
        total = _metric(metrics, "driftstream_flush_seconds_sum")
        rejected = dict(
            re.findall(r'driftstream_events_rejected_total\{reason="(\w+)"\} ([0-9.]+)', metrics)
        )
        late = _metric(metrics, 'driftstream_events_total{outcome="late"}')
        print(
            f"{label:7} redis +{grown / 1e6:6.1f} MB | biggest hash {biggest:>9,} fields | "
            f"{len(hour_keys):>4} partition-hour keys | RSS {rss_kb / 1024:6.0f} MB | "
            f"{n:.0f} flushes, mean {1000 * total / max(n, 1):8.1f} ms | Redis blocked up to "
            f"{stall:5.2f} s | ingest {took:5.1f} s | "
            f"late {late:.0f}, rejected {rejected}",
            flush=True,
        )
    finally:
        probe.stop()
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        keys = list(r.scan_iter(match=Keys(d.namespace).pattern(), count=1000))
        if keys:
            r.delete(*keys)
        admin.delete_topics(list(names.values()))
        admin.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--worker",
        action="append",
        default=[],
        help="label=path/to/driftstream (repeat; default: this checkout's)",
    )
    args = ap.parse_args()
    workers = [w.split("=", 1) for w in args.worker] or [
        ["this", str(Path(sys.executable).parent / "driftstream")]
    ]
    bootstrap = os.environ.get("DRIFTSTREAM_KAFKA_BOOTSTRAP")
    redis_url = os.environ.get("DRIFTSTREAM_REDIS_URL")
    stack = None
    if not (bootstrap and redis_url):
        from stream.localstack import LocalStack

        stack = LocalStack.start(
            Path(tempfile.mkdtemp(prefix="bench-hostile-")), die_with_parent=True
        )
        bootstrap, redis_url = stack.bootstrap, stack.redis_url
    try:
        workdir = Path(tempfile.mkdtemp(prefix="bench-hostile-run-"))
        for label, binary in workers:
            run_one(label, binary, bootstrap, redis_url, workdir)
    finally:
        if stack is not None:
            stack.stop()


if __name__ == "__main__":
    main()
