"""``driftstream demo``: the main job end to end on the local stack.

1. The local Kafka + Redis stack (started, or reused when it runs).
2. A demo config in the stack directory; topics created.
3. A reference built from a week of synthetic, drift-free events.
4. Two days of events in accelerated event time, with a scheduled drift: the
   mean of ``amount`` moves by one standard deviation for hours 30–35.
5. A real worker process ingests them; the demo shows the hourly windows as
   they roll up, with the drifted feature's mean per hour, then the alerts the
   worker published: triggered after the onset, resolved after the recovery.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from stream.adapters.redis_keys import Keys
from stream.core.window import HOUR_MS, format_iso_ms
from stream.localstack import LocalStack
from stream.settings import load_settings

if TYPE_CHECKING:
    import redis

__all__ = ["demo"]

START_MS = 1_767_225_600_000  # 2026-01-01T00:00Z
DEMO_MODEL = """
[models.fraud-v3]
prediction = "numeric"
reference = { source = "redis", name = "training" }
[models.fraud-v3.features]
amount = "numeric"
n_items = "numeric"
latency_ms = "numeric"
country = "categorical"
device = "categorical"
[models.fraud-v3.alerts]
baselines = ["reference"]
"""


def _config(stack_dir: Path, web_port: int) -> Path:
    # Fresh topics and group per run: a rerun on a reused stack starts clean.
    run = time.strftime("%Y%m%d%H%M%S", time.gmtime())
    path = stack_dir / "demo.toml"
    path.write_text(
        f"""# Written by `driftstream demo`.
[topics]
features = "demo-{run}.features"
dead_letter = "demo-{run}.dead-letter"
sealed = "demo-{run}.sealed"
alerts = "demo-{run}.alerts"
partitions = 3
[consumer]
group_id = "demo-{run}"
[redis]
namespace = "demo"
[ingest]
flush_interval_ms = 500
max_past_ms = 315360000000
max_future_ms = 315360000000
[web]
port = {web_port}
{DEMO_MODEL}"""
    )
    return path


@click.command()
@click.option(
    "--hours",
    type=click.IntRange(2, 24 * 14),
    default=48,
    show_default=True,
    help="Event-time hours to stream.",
)
@click.option("--events-per-hour", type=click.IntRange(100), default=3_000, show_default=True)
@click.option("--web-port", type=int, default=8088, show_default=True)
@click.option("--keep", is_flag=True, help="Leave the worker running at the end.")
def demo(hours: int, events_per_hour: int, web_port: int, keep: bool) -> None:
    """Watch drift get caught, end to end, on a local Kafka + Redis (about a minute).

    Needs nothing but this package: it starts (or reuses) the local stack, writes
    a demo config and creates the topics, builds a reference from a week of
    synthetic drift-free events, then streams --hours hours of events in
    accelerated event time with one planted drift (the mean of `amount` moves by
    one standard deviation for hours 30-35). A real worker ingests them; the
    demo prints each hourly window as it rolls up and the alerts the worker
    published (triggered after the onset, resolved after the recovery), and
    the dashboard URL. Your own data: see README.md, "From your own data".
    """
    from stream import wiring  # Kafka, Redis and scipy: kept out of --help
    from stream.adapters.kafka_tools import create_topics, produce
    from stream.pipeline.reference import ReferenceBuilder, calibration_of
    from stream.synth import Drift, SyntheticStream

    say = _say
    say("1/5 local stack (Kafka KRaft + Redis)")
    stack = LocalStack.start()
    env = {**os.environ, **stack.env()}
    config = _config(stack.stack_dir or Path("."), web_port)
    env["DRIFTSTREAM_CONFIG"] = str(config)
    settings = load_settings(config, env)
    spec = settings.models.model("fraud-v3")
    say(f"    kafka {stack.bootstrap}, redis {stack.redis_url}, config {config}")

    say("2/5 topics")
    t = settings.topics
    create_topics(
        wiring.kafka_sync(settings),
        {t.features: t.partitions, t.dead_letter: 1, t.sealed: 1, t.alerts: 1},
    )
    r = wiring.connect_redis(settings)
    for key in r.scan_iter(match=Keys(settings.redis.namespace).pattern(), count=1000):
        r.delete(key)  # a fresh demo each time

    say("3/5 reference: a week of drift-free events")
    ref_start = START_MS - 7 * 24 * HOUR_MS
    ref_gen = SyntheticStream(spec, start_ms=ref_start, events_per_hour=300, seed=1)
    builder = ReferenceBuilder(spec, "training", version="demo", source={"synthetic": "seed 1"})
    builder.add_synthetic(ref_gen, 7 * 24 * 300)
    ref = builder.build()
    say("    calibrating thresholds from the reference's hours")
    wiring.references(settings, r).save(ref, calibration_of(ref, spec, events_per_hour))

    drift_at = START_MS + 30 * HOUR_MS
    drift_end = drift_at + 6 * HOUR_MS
    say(
        f"4/5 streaming {hours} h of events; amount shifts +1 sd from {format_iso_ms(drift_at)} "
        f"to {format_iso_ms(drift_end)}"
    )
    gen = SyntheticStream(
        spec,
        start_ms=START_MS,
        events_per_hour=events_per_hour,
        seed=7,
        drifts=[Drift("amount", "shift", 1.0, drift_at, drift_end)],
    )
    total = hours * events_per_hour
    sent = produce(
        wiring.kafka_sync(settings), t.features, gen.records(total), partitions=t.partitions
    )
    say(f"    sent {sent:,} events")

    say(f"5/5 worker (metrics on http://127.0.0.1:{web_port}/metrics)")
    log = (stack.stack_dir or Path(".")) / "demo-worker.log"
    with log.open("wb") as fh:
        worker = subprocess.Popen(
            [sys.executable, "-m", "stream.cli", "worker"],
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
        )
    try:
        _watch(
            r, Keys(settings.redis.namespace).model_windows(spec.name, "hour"), hours, worker, log
        )
        _alerts(wiring.kafka_sync(settings), t.alerts)
    finally:
        if not keep:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=60)
    say("done. `driftstream stack down` stops Kafka and Redis.")


def _alerts(options: dict[str, object], topic: str) -> None:
    """Print the alerts the worker published (the pager's view)."""
    from kafka import KafkaConsumer  # kept out of --help

    consumer = KafkaConsumer(
        topic, auto_offset_reset="earliest", consumer_timeout_ms=15_000, **options
    )
    try:
        n = 0
        for message in consumer:
            alert = json.loads(message.value)
            n += 1
            click.echo(f"  ALERT {alert['status']:9s} {alert['severity']:8s} {alert['summary']}")
    finally:
        consumer.close()
    _say(f"    {n} alert message(s) on {topic}")


def _say(text: str) -> None:
    click.echo(text, err=True)


def _watch(
    r: redis.Redis, hour_windows: str, hours: int, worker: subprocess.Popen[bytes], log: Path
) -> None:
    """Print each rolled-up hour (keys matching the glob ``hour_windows``) as it appears."""
    from stream.core.sketch import NumericSketch  # numpy: kept out of --help

    shown: set[int] = set()
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            msg = f"the worker exited with {worker.returncode}; see {log}"
            raise click.ClickException(msg)
        for key in sorted(r.scan_iter(match=hour_windows)):
            start = int(key.decode().rsplit(":", 1)[1])
            if start in shown:
                continue
            shown.add(start)
            blob = r.hget(key, b"f:amount")
            events = r.hget(key, b"events")
            if blob is None or events is None:
                continue
            amount = NumericSketch.from_bytes(bytes(blob))  # type: ignore[arg-type]
            hour = format_iso_ms(start)[:13]
            n = int(events)
            click.echo(f"  hour {hour}  events {n:>6}  amount mean {amount.mean:8.3f}")
        if len(shown) >= hours - 1:
            return
        time.sleep(1.0)
    msg = f"timed out waiting for rollups; see {log}"
    raise click.ClickException(msg)
