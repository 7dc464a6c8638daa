"""Run real ``driftstream worker`` processes against the session's Kafka and Redis."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from kafka import KafkaConsumer, TopicPartition
from kafka.admin import KafkaAdminClient
from kafka.consumer.fetcher import ConsumerRecord

from stream.adapters.kafka_tools import produce
from stream.adapters.redis_keys import Keys
from stream.catalog import Catalog, ModelSpec
from stream.settings import Settings
from stream.synth import Drift, SyntheticStream

DRIFTSTREAM = str(Path(sys.executable).parent / "driftstream")
START_MS = 1_767_225_600_000  # 2026-01-01T00:00Z

MODEL_TOML = """
[models.fraud-v3]
prediction = "numeric"
reference = { source = "redis", name = "training" }
[models.fraud-v3.features]
amount = "numeric"
n_items = "numeric"
score_a = "numeric"
score_b = "numeric"
country = "categorical"
device = "categorical"
[models.fraud-v3.alerts]
baselines = ["reference", "previous"]
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll until ``check`` holds; fail with ``what`` after ``timeout_s`` (hang guard only)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    msg = f"timed out after {timeout_s:.0f}s waiting for {what}"
    raise AssertionError(msg)


@dataclass
class Deployment:
    """One driftstream deployment: a config, its topics and namespace, and its workers."""

    bootstrap: str
    redis_url: str
    features: str
    dead_letter: str
    sealed: str
    namespace: str
    workdir: Path
    partitions: int = 6
    extra_toml: str = ""
    overrides: dict[str, str] = field(default_factory=dict)
    group: str = field(default_factory=lambda: f"g{uuid.uuid4().hex[:8]}")
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def config(self) -> Path:
        path = self.workdir / f"{self.namespace}.toml"
        if not path.exists():
            path.write_text(
                f"""
[topics]
features = "{self.features}"
dead_letter = "{self.dead_letter}"
sealed = "{self.sealed}"
[consumer]
group_id = "{self.group}"
batch_max_records = 2000
[redis]
namespace = "{self.namespace}"
[ingest]
flush_every_events = 3000
flush_interval_ms = 300
allowed_lateness_ms = 600000
idle_partition_timeout_ms = 86400000
max_past_ms = 315360000000
max_future_ms = 315360000000
{self.extra_toml}
{MODEL_TOML}"""
            )
        return path

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            DRIFTSTREAM_CONFIG=str(self.config),
            DRIFTSTREAM_KAFKA_BOOTSTRAP=self.bootstrap,
            DRIFTSTREAM_REDIS_URL=self.redis_url,
            DRIFTSTREAM_WEB__PORT=str(free_port()),
        )
        env.update(self.overrides)
        return env

    def cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """``driftstream <args>`` against this deployment, output captured as text."""
        return subprocess.run(
            [DRIFTSTREAM, *args],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def start_worker(self) -> subprocess.Popen[bytes]:
        env = self.env()
        with (self.workdir / f"worker-{len(self.procs)}.log").open("wb") as log:
            proc = subprocess.Popen(
                [DRIFTSTREAM, "worker"], env=env, stdout=log, stderr=subprocess.STDOUT
            )
        proc.web_port = int(env["DRIFTSTREAM_WEB__PORT"])  # type: ignore[attr-defined]
        self.procs.append(proc)
        return proc

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)

    def stop_all(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
            for p in sorted(self.workdir.glob("worker-*.log"))
        )


def spec() -> ModelSpec:
    return ModelSpec.model_validate(
        {
            "name": "fraud-v3",
            "prediction": "numeric",
            "features": {
                "amount": "numeric",
                "n_items": "numeric",
                "score_a": "numeric",
                "score_b": "numeric",
                "country": "categorical",
                "device": "categorical",
            },
        }
    )


def synthetic_records(
    n: int, seed: int = 11, events_per_hour: int = 20_000
) -> list[tuple[bytes, int]]:
    gen = SyntheticStream(
        spec(),
        start_ms=START_MS,
        events_per_hour=events_per_hour,
        seed=seed,
        drifts=[Drift("n_items", "null", 0.3, START_MS + 3 * 3_600_000)],
    )
    return list(gen.records(n))


def labelled_deployment(
    bootstrap: str, redis_url: str, workdir: Path, extra_toml: str
) -> tuple[Deployment, dict[str, str]]:
    """A deployment of models with labels on fresh topics (features and labels: 3 partitions).

    Returns it and its topic names by role (features, labels, dead_letter, sealed, alerts).
    """
    suffix = uuid.uuid4().hex[:8]
    names = {n: f"{n}-{suffix}" for n in ("features", "labels", "dead_letter", "sealed", "alerts")}
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics(
            {
                v: {
                    "num_partitions": 3 if k in ("features", "labels") else 1,
                    "replication_factor": 1,
                }
                for k, v in names.items()
            },
            wait_for_metadata=True,
        )
    finally:
        admin.close()
    d = Deployment(
        bootstrap=bootstrap,
        redis_url=redis_url,
        features=names["features"],
        dead_letter=names["dead_letter"],
        sealed=names["sealed"],
        namespace=f"t{uuid.uuid4().hex[:10]}",
        workdir=workdir,
        partitions=3,
        extra_toml=extra_toml,
        overrides={
            "DRIFTSTREAM_TOPICS__ALERTS": names["alerts"],
            "DRIFTSTREAM_TOPICS__LABELS": names["labels"],
        },
    )
    return d, names


def label_consumer_settings(
    bootstrap: str,
    labels_topic: str,
    dead_letter: str,
    namespace: str,
    *specs: ModelSpec,
    redis_url: str | None = None,
) -> Settings:
    """Settings of an in-process label consumer (its own group) for ``specs``."""
    redis_table: dict[str, str] = {"namespace": namespace}
    if redis_url is not None:
        redis_table["url"] = redis_url
    return Settings.model_validate(
        {
            "kafka": {"bootstrap_servers": bootstrap},
            "topics": {"labels": labels_topic, "dead_letter": dead_letter},
            "consumer": {"group_id": f"g-{uuid.uuid4().hex[:8]}"},
            "redis": redis_table,
            "models": Catalog.of(*specs),
        }
    )


def send(bootstrap: str, topic: str, values: Iterable[Any], partitions: int) -> int:
    return produce({"bootstrap_servers": [bootstrap]}, topic, values, partitions=partitions)


def end_offsets(bootstrap: str, topic: str, partitions: int) -> dict[int, int]:
    consumer = KafkaConsumer(bootstrap_servers=[bootstrap])
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        return {tp.partition: int(o) for tp, o in consumer.end_offsets(tps).items()}
    finally:
        consumer.close()


def read_topic(
    bootstrap: str, topic: str, timeout_s: float = 180, **options: Any
) -> list[ConsumerRecord]:
    """Every record of ``topic`` up to its end offsets at the call, partition by partition.

    It reads to those offsets, not until the topic has been quiet for a while, so a slow
    fetch on a loaded machine cannot cut the list short; ``timeout_s`` is a hang guard
    only. ``options`` go to the consumer (security settings).
    """
    consumer = KafkaConsumer(
        **{"bootstrap_servers": [bootstrap], "enable_auto_commit": False, **options}
    )
    try:
        wait_until(
            lambda: bool(consumer.partitions_for_topic(topic)), timeout_s, f"{topic}'s partitions"
        )
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        out: list[ConsumerRecord] = []

        def at_end() -> bool:
            for tp, batch in consumer.poll(timeout_ms=200).items():
                out.extend(m for m in batch if m.offset < ends[tp])
            return all(consumer.position(tp) >= ends[tp] for tp in tps)

        wait_until(at_end, timeout_s, f"{topic} read to its end offsets {ends}")
        return out
    finally:
        consumer.close()


def stored_offsets(r: redis.Redis, namespace: str, partitions: int) -> dict[int, int]:
    out = {}
    for p in range(partitions):
        v = r.hget(Keys(namespace).partition("fraud-v3", p), "offset")
        out[p] = int(v) if v else 0
    return out


def state(r: redis.Redis, namespace: str) -> dict[str, Any]:
    """Everything ingest stores per partition, with the namespace and fencing tokens out.

    Model-level keys (rollups) are left out: when they are written depends on timing.
    """
    out: dict[str, Any] = {}
    for key in r.scan_iter(match=f"ds:{{{namespace}|*|*}}:*", count=1000):
        name = key.decode().replace(namespace, "NS")
        if name.endswith(":outbox"):
            continue  # what is still unpublished depends on when a worker stopped
        kind = r.type(key)
        if kind == b"hash":
            fields = r.hgetall(key)
            fields.pop(b"token", None)
            out[name] = fields
        elif kind == b"set":
            out[name] = r.smembers(key)
        else:
            out[name] = r.dump(key)
    return out
