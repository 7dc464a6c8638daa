"""Ingest over the secured stack as a ratio to plaintext, side by side in ONE run.

Two private stacks at once: the plain one (PLAINTEXT Kafka, Redis without auth) and
the secured one (``LocalStack.start(secure=True)``: SASL_SSL SCRAM-SHA-512 Kafka, Redis
over TLS with an ACL user). The same events (bench_ingest's 12-feature model) are loaded
into a 6-partition topic on each; then real ``driftstream worker`` processes ingest them,
alternating plain / secured for ``--rounds`` rounds, each into a fresh namespace and
consumer group. The rate is bench_ingest's (b2) steady state: events stored between the
first and the last flush over that time, from the stored offsets; CPU is the worker's.

Run: ``.venv/bin/python benchmarks/bench_secured.py --events 200000 --rounds 3``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_ingest import PARTITIONS, Bench, Run, synthetic, worker_process  # noqa: E402

from stream.adapters.kafka_tools import create_topics, produce  # noqa: E402
from stream.localstack import LocalStack  # noqa: E402
from stream.settings import load_settings  # noqa: E402
from stream.wiring import kafka_sync  # noqa: E402


@dataclass
class SecuredBench(Bench):
    """A Bench whose deployments carry the secured stack's protocol, users and CA."""

    extra: dict[str, str] = field(default_factory=dict)

    def env(self, namespace: str) -> dict[str, str]:
        return {**super().env(namespace), **self.extra}


def load(b: Bench, env: dict[str, str], records: list[tuple[bytes, int]]) -> None:
    options = kafka_sync(load_settings(None, env=env))
    create_topics(options, {b.topic: PARTITIONS, f"{b.topic}-dlq": 1, f"{b.topic}-sealed": 1})
    produce(options, b.topic, records, partitions=PARTITIONS)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as work:
        root = Path(work)
        plain = LocalStack.start(root / "plain", die_with_parent=True)
        secure = LocalStack.start(root / "secure", die_with_parent=True, secure=True)
        try:
            assert secure.credentials is not None and secure.ca_file is not None
            records = synthetic(args.events, events_per_hour=50_000)
            topic = f"bench-sec-{uuid.uuid4().hex[:6]}"
            b_plain = Bench(plain.bootstrap, plain.redis_url, root, topic, args.events)
            secret_env = secure.env(secrets=True)
            b_secure = SecuredBench(
                secure.client_bootstrap, secure.redis_url, root, topic, args.events,
                extra={k: v for k, v in secret_env.items() if "__" in k},
            )  # fmt: skip
            load(b_plain, b_plain.env("load"), records)
            load(b_secure, b_secure.env("load"), records)
            r_plain = redis.Redis.from_url(plain.redis_url)
            r_secure = redis.Redis(
                port=secure.redis_port, ssl=True, ssl_ca_certs=str(secure.ca_file),
                username="admin", password=secure.credentials.redis_admin_password,
            )  # fmt: skip
            runs: dict[str, list[Run]] = {"plaintext": [], "SASL_SSL + TLS/ACL": []}
            for i in range(args.rounds):
                for name, b, r in (
                    ("plaintext", b_plain, r_plain),
                    ("SASL_SSL + TLS/ACL", b_secure, r_secure),
                ):
                    run, _, _ = worker_process(b, r, timeout_s=600)
                    runs[name].append(run)
                    print(
                        f"round {i + 1} {name:>20}: {run.rate:>9,.0f} ev/s  "
                        f"{run.cpu_us:6.1f} µs CPU/event  ({run.note})",
                        flush=True,
                    )
            rate = {k: statistics.median(r.rate for r in v) for k, v in runs.items()}
            cpu = {k: statistics.median(r.cpu_us for r in v) for k, v in runs.items()}
            base = "plaintext"
            print(f"\n{args.events:,} events, 6 partitions, median of {args.rounds} rounds")
            for k in runs:
                print(
                    f"{k:>20}: {rate[k]:>9,.0f} ev/s ({rate[k] / rate[base]:.2f}x)  "
                    f"{cpu[k]:6.1f} µs CPU/event ({cpu[k] / cpu[base]:.2f}x)"
                )
        finally:
            secure.stop()
            plain.stop()


if __name__ == "__main__":
    main()
