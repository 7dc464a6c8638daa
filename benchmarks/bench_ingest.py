"""Ingest throughput side by side, in ONE run against the real local Kafka broker and Redis.

Events: the 12-feature model (8 numeric, 4 categorical, plus a numeric prediction),
~330-byte JSON with ISO-8601 times, round-robin over a 6-partition topic. Each row
shows events/s (wall) and CPU µs/event of the measuring process (all its threads):
on a shared 2-core box the CPU column is the stable one. Ratios are to (a1), measured
in the same run; in-process rows run in interleaved rounds (median shown).

  load      produce() loading the topic; then loaders side by side: kafka-python send per
            record (the old produce), produce() (aiokafka batches), confluent-kafka
  (a1)      aiokafka getmany, the data plane's client and fetch settings, no processing
  (a2)      (a1) + RawRecord per message, as BatchConsumer.getmany hands them over
  (d1)      confluent-kafka consume(10k), the worker's fetcher settings, no processing
  (d0)      (d1)'s loop alone in a fresh process (only confluent_kafka imported, default GC)
  (d1g)     (d1) with the GC tuned as the worker's (``stream.pipeline.gc_tuning.tune``)
  (d2)      (d1) + per-partition columns, as the worker's fetcher hands them over
  (b0)      DataPlane.process on batches fetched beforehand: parse + sketches + Redis flushes
  (b1)      the worker's IngestService in-process (aiokafka group + librdkafka fetch,
            claim, DataPlane, flushes)
  (b1a)     (b1) fetching with aiokafka getmany instead (the worker before issue 19's switch)
  (b1-)     (b1) with the pure-Python parse (the C extension switched off)
  (b2)      a real ``driftstream worker`` subprocess, steady state read from Redis offsets
  (b2a)     (b2) fetching with aiokafka getmany instead
  (b2-)     (b2) with the pure-Python parse (the C extension switched off)
  (b1s)     (b1) with the sketch updates' numpy path (their C extension switched off)
  (b2s)     (b2) with the sketch updates' numpy path
  (b2g)     (b2) without its GC tuning (CPython's default thresholds, nothing frozen)
  (b2k)     (b2) with ``consumer.batch_max_records`` = ``--batch-records N``
  (b2m)     (b2) running another checkout's ``stream/`` package (``--baseline DIR``,
            e.g. main's), alternating with (b2) per round: new vs old in one run
  (c)       faust's per-event path: an agent json-decoding each event (subprocess)
  then      flush latency, Redis bytes per feature-hour, CPU per ingest stage, a profile

Run: ``.venv/bin/python benchmarks/bench_ingest.py`` (starts a private local stack and
stops it; ``--attach`` uses DRIFTSTREAM_KAFKA_BOOTSTRAP / DRIFTSTREAM_REDIS_URL instead).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import confluent_kafka as ck
import numpy as np
import orjson
import redis
from aiokafka import AIOKafkaConsumer, TopicPartition

from stream.adapters.kafka_fetch import CONSUME_TIMEOUT_S, columns_of, fetch_config
from stream.adapters.kafka_tools import create_topics, produce
from stream.catalog import ModelSpec
from stream.localstack import LocalStack
from stream.pipeline import dataplane
from stream.pipeline.ports import RawRecord
from stream.runtime import IngestService
from stream.settings import Settings, load_settings
from stream.synth import SyntheticStream

NUMERIC = ["amount", "n_items", "age_days", "score_a", "score_b", "vel_1h", "vel_24h", "dist_km"]
CATEGORICAL = ["country", "device", "channel", "merchant_cat"]
# Six hours ago, on the hour: the worker bounds event time by its wall clock (events older
# than max_past_ms or ahead of now are dead-lettered), so a fixed date would be rejected.
START_MS = (time.time_ns() // 1_000_000 - 6 * 3_600_000) // 3_600_000 * 3_600_000
PARTITIONS = 6
FETCH_MAX_BYTES = 52_428_800  # the settings' default consumer.fetch_max_bytes
MAX_RECORDS = 10_000  # the settings' default consumer.batch_max_records
DRIFTSTREAM = str(Path(sys.executable).parent / "driftstream")
A1 = "(a1) aiokafka getmany, raw"
B0 = "(b0) DataPlane only (pre-fetched)"
B1 = "(b1) ingest in-process (IngestService)"
B2 = "(b2) driftstream worker process"
B2M = "(b2m) (b2), the --baseline checkout"

MODEL_TOML = (
    '[models.fraud-v3]\nprediction = "numeric"\n[models.fraud-v3.features]\n'
    + "".join(f'{n} = "numeric"\n' for n in NUMERIC)
    + "".join(f'{c} = "categorical"\n' for c in CATEGORICAL)
)


def spec() -> ModelSpec:
    features = {n: "numeric" for n in NUMERIC} | {c: "categorical" for c in CATEGORICAL}
    return ModelSpec.model_validate(
        {"name": "fraud-v3", "prediction": "numeric", "features": features}
    )


def iso(ms: int) -> str:
    return (
        dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat(timespec="milliseconds")[:23] + "Z"
    )


def synthetic(n: int, events_per_hour: int, seed: int = 5) -> list[tuple[bytes, int]]:
    """n events as (JSON, record timestamp = event time): ISO times, 6-decimal floats."""
    gen = SyntheticStream(spec(), start_ms=START_MS, events_per_hour=events_per_hour, seed=seed)
    out: list[tuple[bytes, int]] = []
    for first in range(0, n, 20_000):
        for ev in gen.events(first, min(20_000, n - first)):
            ts = ev["ts"]
            ev["ts"] = iso(ts)
            ev["features"] = {
                k: round(v, 6) if isinstance(v, float) else v for k, v in ev["features"].items()
            }
            if isinstance(ev.get("prediction"), float):
                ev["prediction"] = round(ev["prediction"], 6)
            out.append((orjson.dumps(ev), ts))
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Bench:
    """The loaded topic and how to configure a driftstream deployment reading it."""

    bootstrap: str
    redis_url: str
    workdir: Path
    topic: str
    n: int

    def config(self, namespace: str, extra: str = "") -> Path:
        path = self.workdir / f"{namespace}.toml"
        path.write_text(
            f'[topics]\nfeatures = "{self.topic}"\ndead_letter = "{self.topic}-dlq"\n'
            f'sealed = "{self.topic}-sealed"\n'
            f'[consumer]\ngroup_id = "g-{namespace}"\n'
            f'[redis]\nnamespace = "{namespace}"\n'
            f"[ingest]\nallowed_lateness_ms = 600000\n{extra}\n{MODEL_TOML}"
        )
        return path

    def env(self, namespace: str) -> dict[str, str]:
        return {
            "DRIFTSTREAM_CONFIG": str(self.config(namespace)),
            "DRIFTSTREAM_KAFKA_BOOTSTRAP": self.bootstrap,
            "DRIFTSTREAM_REDIS_URL": self.redis_url,
        }

    def settings(self, namespace: str) -> Settings:
        return load_settings(None, env=self.env(namespace))

    @property
    def tps(self) -> list[TopicPartition]:
        return [TopicPartition(self.topic, p) for p in range(PARTITIONS)]


def now() -> tuple[float, float]:
    """(wall, CPU of this process, all threads) in seconds."""
    return time.perf_counter(), time.process_time()


@dataclass
class Run:
    """One measurement: events over wall seconds and CPU seconds, plus what else it saw."""

    events: int
    seconds: float
    cpu: float = float("nan")
    flushes: list[float] = field(default_factory=list)
    note: str = ""

    @classmethod
    def since(cls, start: tuple[float, float], events: int, **kw: Any) -> Run:
        wall, cpu = now()
        return cls(events, wall - start[0], cpu - start[1], **kw)

    @property
    def rate(self) -> float:
        return self.events / self.seconds

    @property
    def cpu_us(self) -> float:
        """CPU microseconds per event (this process; the broker's CPU is not in it)."""
        return self.cpu / self.events * 1e6


# -- load candidates ------------------------------------------------------------------------------
def load_candidates(bootstrap: str, records: list[tuple[bytes, int]]) -> dict[str, Run]:
    """Loaders side by side, each into a fresh 6-partition topic, idempotent, acks=all."""
    from kafka import KafkaProducer

    opts = {"bootstrap_servers": [bootstrap]}

    def topic() -> str:
        name = f"bench-load-{uuid.uuid4().hex[:6]}"
        create_topics(opts, {name: PARTITIONS})
        return name

    out: dict[str, Run] = {}
    few = records[:50_000]  # the per-record kafka-python path is ~30x slower
    t, p = (
        topic(),
        KafkaProducer(
            bootstrap_servers=[bootstrap],
            enable_idempotence=True,
            acks="all",
            linger_ms=20,
            batch_size=512 * 1024,
        ),
    )
    t0 = now()
    for i, (v, ts) in enumerate(few):
        p.send(t, value=v, partition=i % PARTITIONS, timestamp_ms=ts)
    p.flush()
    out["load: kafka-python send/record (old)"] = Run.since(t0, len(few))
    p.close()
    t, t0 = topic(), now()
    produce(opts, t, records, partitions=PARTITIONS)
    out["load: produce() aiokafka batches"] = Run.since(t0, len(records))
    if ck is not None:
        t = topic()
        cp = ck.Producer(
            {
                "bootstrap.servers": bootstrap,
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": 50,
                "batch.num.messages": 100_000,
                "queue.buffering.max.messages": 1_000_000,
            }
        )
        t0 = now()
        for i, (v, ts) in enumerate(records):
            while True:
                try:
                    cp.produce(t, v, partition=i % PARTITIONS, timestamp=ts)
                    break
                except BufferError:
                    cp.poll(0.05)
        cp.flush()
        out["load: confluent-kafka produce/record"] = Run.since(t0, len(records))
    return out


# -- (a) raw consumption, (d) confluent-kafka -------------------------------------------------
async def raw_aiokafka(b: Bench, *, records: bool) -> Run:
    c = AIOKafkaConsumer(
        bootstrap_servers=b.bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_bytes=FETCH_MAX_BYTES,
        max_partition_fetch_bytes=FETCH_MAX_BYTES // 4,
        max_poll_records=MAX_RECORDS,
    )
    await c.start()
    try:
        c.assign(b.tps)
        await c.seek_to_beginning(*b.tps)
        seen, t0 = 0, now()
        while seen < b.n:
            data = await c.getmany(timeout_ms=200, max_records=MAX_RECORDS)
            for msgs in data.values():
                if records:
                    batch = [
                        RawRecord(m.partition, m.offset, int(m.timestamp), m.value) for m in msgs
                    ]
                    seen += len(batch)
                else:
                    seen += len(msgs)
        return Run.since(t0, seen)
    finally:
        await c.stop()


def confluent_consumer(b: Bench) -> Any:
    """A librdkafka consumer with the worker's fetcher settings, all partitions assigned."""
    st = b.settings("d").consumer
    cfg = fetch_config(
        {"bootstrap.servers": b.bootstrap},
        reset="earliest",
        fetch_max_bytes=st.fetch_max_bytes,
        fetch_min_bytes=st.fetch_min_bytes,
        fetch_max_wait_ms=st.fetch_max_wait_ms,
        max_partition_fetch_bytes=st.max_partition_fetch_bytes,
    )
    c = ck.Consumer(cfg)
    c.assign([ck.TopicPartition(b.topic, p, ck.OFFSET_BEGINNING) for p in range(PARTITIONS)])
    return c


def raw_confluent(b: Bench, *, columns: bool) -> Run:
    c = confluent_consumer(b)
    try:
        seen, t0 = 0, now()
        while seen < b.n:
            msgs = c.consume(num_messages=MAX_RECORDS, timeout=CONSUME_TIMEOUT_S)
            if columns:
                seen += sum(map(len, columns_of(msgs)[0].values()))
            else:
                seen += len(msgs)
        return Run.since(t0, seen)
    finally:
        c.close()


# -- (b) the data plane -------------------------------------------------------------------------
def timed_flushes(plane: dataplane.DataPlane) -> list[float]:
    """Instrument a plane's flush: exact latencies (the /metrics histogram only has buckets)."""
    durations: list[float] = []
    inner = plane._flush_locked  # noqa: SLF001 - timing the real flush

    async def flush_locked() -> None:
        t = time.perf_counter()
        await inner()
        durations.append(time.perf_counter() - t)

    plane._flush_locked = flush_locked  # type: ignore[method-assign]  # noqa: SLF001
    return durations


async def dataplane_only(b: Bench) -> Run:
    """(b0): fetch everything first, then time DataPlane.process + flushes alone."""
    c = AIOKafkaConsumer(
        bootstrap_servers=b.bootstrap,
        enable_auto_commit=False,
        fetch_max_bytes=FETCH_MAX_BYTES,
        max_partition_fetch_bytes=FETCH_MAX_BYTES // 4,
    )
    await c.start()
    batches: list[dict[int, list[RawRecord]]] = []
    try:
        c.assign(b.tps)
        await c.seek_to_beginning(*b.tps)
        seen = 0
        while seen < b.n:
            data = await c.getmany(timeout_ms=200, max_records=MAX_RECORDS)
            batch = {
                tp.partition: [
                    RawRecord(m.partition, m.offset, int(m.timestamp), m.value) for m in ms
                ]
                for tp, ms in data.items()
            }
            seen += sum(map(len, batch.values()))
            batches.append(batch)
    finally:
        await c.stop()
    svc = IngestService(b.settings(f"b0-{uuid.uuid4().hex[:6]}"))
    plane = svc.plane
    plane._commit = None  # noqa: SLF001 - no group here: nothing to commit for lag monitoring
    await svc.dead_letters.start()
    await svc.notices.start()
    try:
        await plane.assign(list(range(PARTITIONS)), dict.fromkeys(range(PARTITIONS), 0))
        flushes = timed_flushes(plane)
        t0 = now()
        for batch in batches:
            await plane.process(batch)
        await plane.flush()
        return Run.since(t0, seen, flushes=flushes)
    finally:
        await svc.notices.stop()
        await svc.dead_letters.stop()
        svc.redis.close()


async def inprocess(
    b: Bench, on_start: Callable[[], Any] | None = None, on_end: Callable[[], Any] | None = None
) -> Run:
    """(b1): the worker's ingest loop without faust, timed from assignment to the last flush."""
    svc = IngestService(b.settings(f"b1-{uuid.uuid4().hex[:6]}"))
    plane = svc.plane
    flushes = timed_flushes(plane)
    marks: dict[str, tuple[float, float]] = {}
    assign, process = plane.assign, plane.process

    async def assigned(parts: Sequence[int], start: Any) -> dict[int, int]:
        seeks = await assign(parts, start)
        if "t0" not in marks:
            marks["t0"] = now()
            if on_start is not None:
                on_start()
        return seeks

    async def processed(batches: Any, fetched_at: int | None = None) -> Any:
        rewind = await process(batches, fetched_at)
        if "t1" not in marks and sum(plane.stats.positions.values()) >= b.n:
            await plane.flush()  # the state of the last event is in Redis
            marks["t1"] = now()
            if on_end is not None:
                on_end()
            svc.stop()
        return rewind

    plane.assign = assigned  # type: ignore[method-assign]
    plane.process = processed  # type: ignore[method-assign]
    try:
        await svc.run()
    finally:
        svc.redis.close()
    (w0, c0), (w1, c1) = marks["t0"], marks["t1"]
    return Run(plane.stats.consumed, w1 - w0, c1 - c0, flushes=flushes)


# What (b1s)/(b2s) run: the sketch updates' numpy path (the C one, issue 19 session 5, off).
NUMPY_SKETCHES = (
    "import stream.core.sketch.numeric as n, stream.core.sketch.joint as j; "
    "n.use_native(False); j.use_native(False)"
)


async def inprocess_numpy_sketches(b: Bench) -> Run:
    """(b1s): the same service with the sketch updates on their numpy path."""
    from stream.core.sketch import joint, numeric

    before = numeric.use_native(False), joint.use_native(False)
    try:
        return await inprocess(b)
    finally:
        numeric.use_native(before[0])
        joint.use_native(before[1])


async def inprocess_aiokafka(b: Bench) -> Run:
    """(b1a): the same service with the aiokafka batch consumer fetching (before the switch)."""
    with aiokafka_fetch():
        return await inprocess(b)


# What (b1a)/(b2a) run: the worker's features consumer as it was before issue 19's switch
# (aiokafka group member AND fetcher); same settings, same DataPlane.
AIOKAFKA_FETCH = (
    "import stream.wiring as w; "
    "w.features_consumer = lambda s, **kw: "
    "w.consumer(s, s.topics.features, group=s.consumer.group_id, **kw)"
)


@contextmanager
def aiokafka_fetch() -> Iterator[None]:
    from stream import wiring

    saved = wiring.features_consumer

    def aio(s: Settings, **kw: Any) -> Any:
        return wiring.consumer(s, s.topics.features, group=s.consumer.group_id, **kw)

    wiring.features_consumer = aio  # type: ignore[assignment]
    try:
        yield
    finally:
        wiring.features_consumer = saved


# What (b1-)/(b2-) run: the contract parser without the C extension (as on a machine
# without a C compiler). parse_batch caches parsers per catalog: drop them both ways.
NO_NATIVE = (
    "import stream.contract._columnar as c, stream.contract._parser as p; "
    "c._native = None; c.UNAVAILABLE = 'switched off by the benchmark'; p._PARSERS.clear()"
)


@contextmanager
def pure_python_parse() -> Iterator[None]:
    from stream.contract import _columnar, _parser

    saved = _columnar._native  # noqa: SLF001
    _columnar._native = None  # type: ignore[assignment]  # noqa: SLF001
    _columnar.UNAVAILABLE = "switched off by the benchmark"
    _parser._PARSERS.clear()  # noqa: SLF001
    try:
        yield
    finally:
        _columnar._native = saved  # noqa: SLF001
        _parser._PARSERS.clear()  # noqa: SLF001


async def inprocess_pure(b: Bench) -> Run:
    with pure_python_parse():
        return await inprocess(b)


# (d0): the raw consumer as a user would write it, alone in a fresh process: only
# confluent_kafka imported, CPython's default GC, so no large heap for the collector to walk.
RAW_PROCESS = """
import json, sys, time
import confluent_kafka as ck
cfg, topic, parts, n, max_records, timeout = json.loads(sys.argv[1])
c = ck.Consumer(cfg)
c.assign([ck.TopicPartition(topic, p, ck.OFFSET_BEGINNING) for p in range(parts)])
seen, w0, c0 = 0, time.perf_counter(), time.process_time()
while seen < n:
    seen += len(c.consume(num_messages=max_records, timeout=timeout))
print(json.dumps([seen, time.perf_counter() - w0, time.process_time() - c0]))
c.close()
"""


def raw_confluent_process(b: Bench) -> Run:
    """(d0): (d1)'s loop in a fresh minimal process (its own CPU, all threads)."""
    st = b.settings("d").consumer
    cfg = fetch_config(
        {"bootstrap.servers": b.bootstrap},
        reset="earliest",
        fetch_max_bytes=st.fetch_max_bytes,
        fetch_min_bytes=st.fetch_min_bytes,
        fetch_max_wait_ms=st.fetch_max_wait_ms,
        max_partition_fetch_bytes=st.max_partition_fetch_bytes,
    )
    arg = json.dumps([cfg, b.topic, PARTITIONS, b.n, MAX_RECORDS, CONSUME_TIMEOUT_S])
    out = subprocess.run(
        [sys.executable, "-c", RAW_PROCESS, arg], capture_output=True, check=True, timeout=300
    )
    seen, wall, cpu = json.loads(out.stdout.decode().strip().splitlines()[-1])
    return Run(seen, wall, cpu)


# What (b2g) runs: the worker without its GC tuning (stream.pipeline.gc_tuning.tune, issue 19
# session 6): CPython's default thresholds, nothing frozen.
DEFAULT_GC = "import stream.pipeline.gc_tuning as g; g.tune = lambda: None"


@contextmanager
def worker_gc() -> Iterator[None]:
    """This process's GC tuned as the worker's (``stream.pipeline.gc_tuning.tune``), then undone."""
    import gc

    from stream.pipeline.gc_tuning import tune

    before = gc.get_threshold()
    tune()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def raw_confluent_tuned_gc(b: Bench) -> Run:
    """(d1g): (d1) with this process's GC tuned as the worker's."""
    with worker_gc():
        return raw_confluent(b, columns=False)


# -- (b2) the real worker process ---------------------------------------------------------------
def worker_process(
    b: Bench, r: redis.Redis, timeout_s: float, *, prelude: str | None = None
) -> tuple[Run, str, str]:
    """Start ``driftstream worker``; the steady rate comes from the stored offsets over time.

    Offsets change at flushes. Rate = events stored between the first and the last
    flush before completion, over that time: excludes start-up (group join, claim)
    and the final interval-paced flush that a partial count waits for.
    """
    ns = f"b2-{uuid.uuid4().hex[:6]}"
    env = {**os.environ, **b.env(ns), "DRIFTSTREAM_WEB__PORT": str(port := free_port())}
    keys = [f"ds:{{{ns}|fraud-v3|{p}}}:part" for p in range(PARTITIONS)]
    log = (b.workdir / f"{ns}.log").open("wb")
    # cwd: faust writes an <app>-data directory there
    cmd = (
        [DRIFTSTREAM, "worker"]
        if prelude is None
        else [sys.executable, "-c", f"{prelude}; from stream.cli import main; main()", "worker"]
    )
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=b.workdir)
    changes: list[tuple[float, int, float]] = []
    metrics = ""
    try:
        deadline = time.monotonic() + timeout_s
        stored = 0
        while stored < b.n:
            if time.monotonic() > deadline or proc.poll() is not None:
                msg = f"worker did not finish (exit {proc.poll()}); log: {log.name}"
                raise RuntimeError(msg)
            with r.pipeline(transaction=False) as p:
                for k in keys:
                    p.hget(k, "offset")
                stored = sum(int(v) for v in p.execute() if v)
            if stored and (not changes or changes[-1][1] != stored):
                changes.append((time.perf_counter(), stored, proc_cpu(proc.pid)))
            time.sleep(0.02)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/metrics")
        metrics = conn.getresponse().read().decode()
        conn.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
    (t_a, s_a, c_a), (t_y, s_y, c_y) = changes[0], changes[-2 if len(changes) > 2 else -1]
    note = f"{len(changes)} flushes seen; all stored {changes[-1][0] - t_a:.2f}s after the first"
    return Run(s_y - s_a, t_y - t_a, c_y - c_a, note=note), metrics, ns


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system, all threads) of a process, from /proc (Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def histogram_quantiles(metrics: str, name: str, qs: Sequence[float]) -> list[str]:
    """Quantiles of a Prometheus histogram as 'le' bucket bounds (upper bounds)."""
    buckets = []
    for line in metrics.splitlines():
        if line.startswith(f"{name}_bucket"):
            le = line.split('le="')[1].split('"')[0]
            buckets.append((float("inf") if le == "+Inf" else float(le), float(line.split()[-1])))
    total = buckets[-1][1] if buckets else 0
    out = []
    for q in qs:
        bound = next((le for le, c in buckets if total and c >= q * total), float("nan"))
        out.append(f"<= {bound * 1000:g} ms")
    return out


def redis_bytes(r: redis.Redis, ns: str) -> dict[str, float]:
    """MEMORY USAGE of the partition-hour hashes, per feature-hour; sketch sizes by kind."""
    keys = list(r.scan_iter(match=f"ds:{{{ns}|fraud-v3|*}}:h:*", count=1000))
    usage = sum(int(r.memory_usage(k, samples=0) or 0) for k in keys)
    blob: dict[str, list[int]] = {"numeric": [], "categorical": []}
    kinds = spec().kinds
    for k in keys:
        for f, v in r.hgetall(k).items():
            name = f.decode()
            if name.startswith("f:") and name[2:] in kinds:  # not f:@joint (issue 16)
                blob[kinds[name[2:]]].append(len(v))
    features = len(kinds)
    return {
        "hour_keys": len(keys),
        "feature_hours": len(keys) * features,
        "bytes_per_feature_hour": usage / max(1, len(keys) * features),
        "numeric_sketch_bytes": statistics.mean(blob["numeric"] or [0]),
        "categorical_sketch_bytes": statistics.mean(blob["categorical"] or [0]),
    }


# -- (c) faust's per-event path -----------------------------------------------------------------
FAUST_APP = """
import json, os, time
import faust

n = int(os.environ["BENCH_N"])
app = faust.App(
    os.environ["BENCH_APP"], broker="kafka://" + os.environ["BENCH_BOOTSTRAP"],
    store="memory://", web_enabled=False, autodiscover=False,
    datadir=os.environ["BENCH_DATADIR"], consumer_auto_offset_reset="earliest",
    topic_replication_factor=1,
)
features = app.topic(os.environ["BENCH_TOPIC"], value_serializer="raw")
state = {"seen": 0, "first": None, "cpu0": 0.0}

@app.agent(features)
async def count(stream):
    async for value in stream:
        json.loads(value)
        if state["first"] is None:
            state["first"] = time.perf_counter()
            state["cpu0"] = time.process_time()
        state["seen"] += 1
        if state["seen"] == n:
            last, cpu = time.perf_counter(), time.process_time()
            with open(os.environ["BENCH_OUT"], "w") as f:
                json.dump({"first": state["first"], "last": last,
                           "cpu": cpu - state["cpu0"]}, f)

if __name__ == "__main__":
    app.main()
"""


def faust_agent(b: Bench, n: int, timeout_s: float) -> Run:
    """(c): events from the first seen to the n-th, so faust's start-up is not counted."""
    script, out = b.workdir / "faust_app.py", b.workdir / f"faust-{uuid.uuid4().hex[:6]}.json"
    script.write_text(FAUST_APP)
    env = {
        **os.environ,
        "BENCH_N": str(n),
        "BENCH_APP": f"bench-faust-{uuid.uuid4().hex[:6]}",
        "BENCH_BOOTSTRAP": b.bootstrap,
        "BENCH_TOPIC": b.topic,
        "BENCH_DATADIR": str(b.workdir / "faust-data"),
        "BENCH_OUT": str(out),
    }
    with (b.workdir / "faust.log").open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, str(script), "worker", "-l", "warn"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=b.workdir,
        )
    try:
        deadline = time.monotonic() + timeout_s
        while not out.exists():
            if time.monotonic() > deadline or proc.poll() is not None:
                msg = f"faust agent did not see {n} events; log: {b.workdir / 'faust.log'}"
                raise RuntimeError(msg)
            time.sleep(0.2)
        time.sleep(0.1)  # the file is written in one call; let it close
        got = json.loads(out.read_text())
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return Run(n - 1, got["last"] - got["first"], got["cpu"])


# -- profile --------------------------------------------------------------------------------------
CATEGORIES = (
    ("aiokafka: group member (fetching paused)", ("aiokafka",)),
    ("fetcher: consume + columns", ("stream/adapters/kafka_fetch.py", "confluent_kafka")),
    ("DataPlane glue (_apply lists, counters)", ("stream/pipeline/dataplane.py",)),
    ("contract: msgspec parse + columns", ("stream/contract",)),
    ("sketch updates (ingest + core/sketch)", ("stream/pipeline/ingest.py", "stream/core")),
    ("redis client + flush args", ("redis", "stream/adapters/redis_store.py")),
    ("numpy (python side)", ("numpy",)),
    ("event loop / waiting on I/O", ("asyncio", "selectors")),
)


def profile_inprocess(b: Bench) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
    """Self time of the main thread from assignment to the last flush, by function and area."""
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.0005, async_mode="disabled")
    asyncio.run(inprocess(b, on_start=profiler.start, on_end=profiler.stop))
    root = profiler.last_session.root_frame() if profiler.last_session else None
    by_fn: dict[str, float] = {}
    by_cat: dict[str, float] = {}

    def walk(frame: Any, parent: str, parent_cat: str) -> None:
        path = (frame.file_path or "").replace("\\", "/")
        name = f"{frame.class_name}.{frame.function}" if frame.class_name else frame.function
        if frame.is_synthetic or not path:  # "[self]": the parent's own time
            label, cat = parent, parent_cat
        elif path.startswith("<"):  # builtins, generated __init__: charged to the caller
            label = f"{name} {path} in {parent.split(' (')[0]}"
            cat = "event loop / waiting on I/O" if name == "epoll.poll" else parent_cat
        else:
            where = path.split("site-packages/")[-1].split("/stream/", 1)[-1]
            label = f"{name} ({where}:{frame.line_no})"
            cat = next((c for c, marks in CATEGORIES if any(m in path for m in marks)), "other")
        own = frame.time - sum(c.time for c in frame.children)
        by_fn[label] = by_fn.get(label, 0.0) + own
        by_cat[cat] = by_cat.get(cat, 0.0) + own
        for child in frame.children:
            walk(child, label, cat)

    if root is None:
        return [], []
    walk(root, "?", "other")
    total = root.time
    top = sorted(by_fn.items(), key=lambda kv: -kv[1])[:15]
    cats = sorted(by_cat.items(), key=lambda kv: -kv[1])
    return [(k, v / total) for k, v in top], [(k, v / total) for k, v in cats]


# -- CPU per stage (unbiased by the profiler's per-call overhead) ---------------------------------
# librdkafka fetches and decodes on its own threads: their CPU counts in whichever stage
# runs meanwhile (process time, all threads); most of it lands here, while getmany waits.
FETCH_STAGE = "fetch: librdkafka consume + columns (FetchingConsumer.getmany)"


def stage_breakdown(b: Bench) -> tuple[Run, dict[str, float]]:
    """CPU µs/event of each ingest stage in (b1): wrappers read process_time around them."""
    from stream.adapters.kafka_fetch import FetchingConsumer
    from stream.pipeline.ingest import PartitionIngest

    spent: dict[str, float] = {}

    def timed_async(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        async def wrapper(*a: Any, **kw: Any) -> Any:
            t = time.process_time()
            try:
                return await fn(*a, **kw)
            finally:
                spent[name] = spent.get(name, 0.0) + time.process_time() - t

        return wrapper

    def timed_sync(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*a: Any, **kw: Any) -> Any:
            t = time.process_time()
            try:
                return fn(*a, **kw)
            finally:
                spent[name] = spent.get(name, 0.0) + time.process_time() - t

        return wrapper

    targets: list[tuple[Any, str, str, bool]] = [
        (FetchingConsumer, "getmany", FETCH_STAGE, True),
        (dataplane, "parse_batch", "parse_batch (C columns, msgspec rest, checks)", False),
        (PartitionIngest, "apply", "PartitionIngest.apply (sketch updates)", False),
        (dataplane.DataPlane, "_flush_locked", "flush (serialize + Redis Lua + commit)", True),
    ]
    saved = [(obj, attr, getattr(obj, attr)) for obj, attr, _, _ in targets]
    for obj, attr, name, is_async in targets:
        fn = getattr(obj, attr)
        setattr(obj, attr, timed_async(name, fn) if is_async else timed_sync(name, fn))
    try:
        run = asyncio.run(inprocess(b))
    finally:
        for obj, attr, fn in saved:
            setattr(obj, attr, fn)
    # The timers run from the first getmany; the run is timed from assignment: close enough
    # at 1M events (one batch).
    per = {k: v / run.events * 1e6 for k, v in spent.items()}
    out = {FETCH_STAGE: per.pop(FETCH_STAGE, 0.0)}
    out |= per
    out["everything else (_apply glue, loop, group)"] = run.cpu_us - sum(out.values())
    return run, out


# -- main ---------------------------------------------------------------------------------------
def pct(xs: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs) * 1000, q)) if xs else float("nan")


def rounds(
    measures: Sequence[tuple[str, Callable[[], Any]]], repeat: int
) -> dict[str, tuple[Run, list[float]]]:
    """Every measure once per round, rounds repeated: load changes hit all of them alike."""
    runs: dict[str, list[Run]] = {name: [] for name, _ in measures}
    for k in range(repeat):
        for name, fn in measures:
            print(f"  round {k + 1}/{repeat}: {name} ...", flush=True)
            got = fn()
            runs[name].append(asyncio.run(got) if asyncio.iscoroutine(got) else got)
            print(f"    {runs[name][-1].rate:,.0f}/s, {runs[name][-1].cpu_us:.2f} CPU us/event")
    out = {}
    for name, rs in runs.items():
        ordered = sorted(rs, key=lambda r: r.rate)
        out[name] = (ordered[len(ordered) // 2], [r.rate for r in rs])
    return out


@contextmanager
def stack(args: argparse.Namespace) -> Iterator[tuple[str, str]]:
    if args.attach:
        yield os.environ["DRIFTSTREAM_KAFKA_BOOTSTRAP"], os.environ["DRIFTSTREAM_REDIS_URL"]
        return
    with tempfile.TemporaryDirectory(prefix="bench-ingest-stack-") as d:
        s = LocalStack.start(Path(d), die_with_parent=True)
        try:
            yield s.bootstrap, s.redis_url
        finally:
            s.stop()


def print_rows(rows: dict[str, tuple[Run, list[float]]], n: int, size: float, repeat: int) -> None:
    """The side-by-side table: rates and CPU per event, ratios to (a1) of the same run."""
    base = rows[A1][0]
    print(
        f"\ningest benchmark: {n:,} events x {size:.0f} B, {PARTITIONS} partitions, "
        f"{os.cpu_count()} cores; median of {repeat} for in-process rows"
    )
    print(f"{'measure':44s} {'events/s':>9s} {'vs a1':>6s} {'CPU us/ev':>9s} {'vs a1':>6s}  runs")
    for name, (run, rates) in rows.items():
        runs = " ".join(f"{x / 1000:.0f}k" for x in rates)
        print(
            f"{name:44s} {run.rate:9,.0f} {run.rate / base.rate:6.2f} {run.cpu_us:9.2f} "
            f"{run.cpu_us / base.cpu_us:6.2f}  {runs} {run.note}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000, help="events loaded and ingested")
    ap.add_argument("--events-per-hour", type=int, default=500_000, help="event-time density")
    ap.add_argument("--faust-events", type=int, default=200_000, help="events faust must see")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each in-process measure")
    ap.add_argument("--worker-repeat", type=int, default=1, help="runs of each worker row")
    ap.add_argument("--attach", action="store_true", help="use the DRIFTSTREAM_* stack in env")
    ap.add_argument("--no-profile", action="store_true", help="skip the pyinstrument run")
    ap.add_argument("--no-loaders", action="store_true", help="skip the load candidates")
    ap.add_argument(
        "--baseline",
        default="",
        help="a directory holding another stream/ package (e.g. main's): adds row (b2m)",
    )
    ap.add_argument(
        "--rows",
        default="",
        help="only these rows, alternating per round, e.g. a1,d1,b1,b1a,b2,b2a "
        "(then no faust/stage/profile runs)",
    )
    ap.add_argument(
        "--batch-records",
        type=int,
        default=0,
        help="adds row (b2k): (b2) with consumer.batch_max_records set to this",
    )
    ap.add_argument(
        "--stages", action="store_true", help="with --rows: also the CPU per stage of (b1)"
    )
    args = ap.parse_args()

    print(f"generating {args.events:,} events ...", flush=True)
    records = synthetic(args.events, args.events_per_hour)
    size = statistics.mean(len(v) for v, _ in records[:10_000])
    with stack(args) as (bootstrap, redis_url), tempfile.TemporaryDirectory() as work:
        r = redis.Redis.from_url(redis_url)
        topic = f"bench-ingest-{uuid.uuid4().hex[:6]}"
        opts = {"bootstrap_servers": [bootstrap]}
        create_topics(opts, {topic: PARTITIONS, f"{topic}-dlq": 1, f"{topic}-sealed": 1})
        b = Bench(bootstrap, redis_url, Path(work), topic, args.events)
        t = now()
        produce(opts, topic, records, partitions=PARTITIONS)
        load = Run.since(t, args.events)
        print(f"loaded {b.n:,} events of {size:.0f} B on {PARTITIONS} partitions", flush=True)
        rows: dict[str, tuple[Run, list[float]]] = {
            "load: produce() the bench topic": (load, [load.rate])
        }
        if not args.no_loaders:
            print("  load candidates ...", flush=True)
            loads = load_candidates(bootstrap, records[:200_000])
            rows |= {name: (run, [run.rate]) for name, run in loads.items()}
        del records

        measures: list[tuple[str, Callable[[], Any]]] = [
            (A1, lambda: raw_aiokafka(b, records=False)),
            ("(a2) aiokafka getmany + RawRecord", lambda: raw_aiokafka(b, records=True)),
        ]
        measures += [
            ("(d1) confluent consume, raw", lambda: raw_confluent(b, columns=False)),
            ("(d0) (d1) alone in a fresh process", lambda: raw_confluent_process(b)),
            ("(d1g) (d1), GC tuned as the worker's", lambda: raw_confluent_tuned_gc(b)),
            ("(d2) confluent consume + columns", lambda: raw_confluent(b, columns=True)),
            (B0, lambda: dataplane_only(b)),
            (B1, lambda: inprocess(b)),
            ("(b1a) (b1), aiokafka fetching", lambda: inprocess_aiokafka(b)),
            ("(b1-) (b1), pure-Python parse", lambda: inprocess_pure(b)),
            ("(b1s) (b1), numpy sketch updates", lambda: inprocess_numpy_sketches(b)),
        ]
        wanted = {f"({x.strip()})" for x in args.rows.split(",")} | {A1.split()[0]}
        if args.rows:
            measures = [m for m in measures if m[0].split()[0] in wanted]
        rows |= rounds(measures, args.repeat)
        workers = [
            (B2, None),
            ("(b2a) (b2), aiokafka fetching", AIOKAFKA_FETCH),
            ("(b2-) (b2), pure-Python parse", NO_NATIVE),
            ("(b2s) (b2), numpy sketch updates", NUMPY_SKETCHES),
            ("(b2g) (b2), CPython's default GC", DEFAULT_GC),
        ]
        if args.baseline:
            # sys.path[0]: that checkout's stream/ wins over this one's editable install.
            base = str(Path(args.baseline).resolve())
            workers.insert(1, (B2M, f"import sys; sys.path.insert(0, {base!r})"))
        if args.batch_records:
            env = "DRIFTSTREAM_CONSUMER__BATCH_MAX_RECORDS"
            workers.insert(
                1,
                (
                    f"(b2k) (b2), batch_max_records {args.batch_records}",
                    f"import os; os.environ[{env!r}] = {str(args.batch_records)!r}",
                ),
            )
        if args.rows:
            keep = wanted | {"(b2m)", "(b2k)"}
            workers = [w for w in workers if w[0].split()[0] in keep]
        got: dict[str, list[Run]] = {name: [] for name, _ in workers}
        metrics, worker_ns = "", ""
        for k in range(args.worker_repeat):
            for name, prelude in workers:
                print(f"  round {k + 1}/{args.worker_repeat}: {name} ...", flush=True)
                run, text, ns = worker_process(b, r, timeout_s=60 + b.n / 5_000, prelude=prelude)
                print(f"    {run.rate:,.0f}/s, {run.cpu_us:.2f} CPU us/event", flush=True)
                got[name].append(run)
                if name == B2:
                    metrics, worker_ns = text, ns
        for name, runs in got.items():
            ordered = sorted(runs, key=lambda x: x.rate)
            rows[name] = (ordered[len(ordered) // 2], [x.rate for x in runs])
        if args.rows:
            staged_rows = None
            if args.stages:
                with worker_gc():  # as in the worker process
                    staged_rows = stage_breakdown(b)
            r.close()
            print_rows(rows, b.n, size, args.repeat)
            for name, runs in got.items():
                cpu = ", ".join(f"{x.cpu_us:.2f}" for x in runs)
                print(f"  {name}: CPU us/event per round {cpu}")
            if staged_rows is not None:
                staged, stages = staged_rows
                print(f"\nCPU per stage of (b1), one run ({staged.cpu_us:.2f} in all):")
                for name, us in stages.items():
                    print(f"  {us:6.2f} us/event  {us / staged.cpu_us:6.1%}  {name}")
            return
        print("  (c) faust agent ...", flush=True)
        faust = faust_agent(
            b, min(args.faust_events, b.n), timeout_s=60 + args.faust_events / 2_000
        )
        rows["(c) faust agent, per event"] = (faust, [faust.rate])
        memory = redis_bytes(r, worker_ns)
        print("  CPU per stage of (b1) ...", flush=True)
        with worker_gc():  # as in the worker process
            staged, stages = stage_breakdown(b)
        profile = None
        if not args.no_profile:
            print("  pyinstrument profile of (b1) ...", flush=True)
            profile = profile_inprocess(b)
        r.close()

    base = rows[A1][0]
    print_rows(rows, b.n, size, args.repeat)
    print("\nflush latency (ms)              n     p50     p99     max")
    for name in (B0, B1):
        fl = rows[name][0].flushes
        print(
            f"  {name[:28]:28s} {len(fl):4d} {pct(fl, 50):7.1f} {pct(fl, 99):7.1f} "
            f"{max(fl) * 1000:7.1f}"
        )
    p50, p99 = histogram_quantiles(metrics, "driftstream_flush_seconds", (0.5, 0.99))
    sums = {
        ln.split()[0]: float(ln.split()[-1])
        for ln in metrics.splitlines()
        if ln.startswith(("driftstream_flush_seconds_sum", "driftstream_flush_seconds_count"))
    }
    mean = sums.get("driftstream_flush_seconds_sum", 0.0) / max(
        1.0, sums.get("driftstream_flush_seconds_count", 0.0)
    )
    print(f"  (b2) worker /metrics buckets: p50 {p50}, p99 {p99}, mean {mean * 1000:.1f} ms")

    print(
        "\nredis (worker run): "
        f"{memory['hour_keys']:.0f} partition-hour hashes, "
        f"{memory['bytes_per_feature_hour']:,.0f} B per partition-feature-hour (MEMORY USAGE); "
        f"sketch blobs: numeric {memory['numeric_sketch_bytes']:,.0f} B, "
        f"categorical {memory['categorical_sketch_bytes']:,.0f} B"
    )

    print(f"\nCPU per stage of (b1), one instrumented run ({staged.cpu_us:.2f} us/event in all):")
    for name, us in stages.items():
        print(f"  {us:6.2f} us/event  {us / staged.cpu_us:6.1%}  {name}")

    if profile is not None:
        top, cats = profile
        print("\nprofile of (b1), pyinstrument, main thread self time:")
        for name, share in cats:
            print(f"  {share:6.1%}  {name}")
        print("  top functions:")
        for name, share in top:
            print(f"  {share:6.1%}  {name}")

    ingest = rows[B1][0].rate
    print(
        "\ntargets: "
        f"ingest/raw {ingest / base.rate:.0%} (>= 50%), "
        f"ingest {ingest:,.0f}/s (>= 100k, goal 250k), "
        f"flush p99 {pct(rows[B1][0].flushes, 99):.1f} ms "
        "(< 50 ms)"
    )


if __name__ == "__main__":
    main()
