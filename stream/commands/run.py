"""Commands that run the data plane: ``worker``, ``produce``, ``topics create``."""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import click

from stream.catalog import ModelSpec
from stream.commands.rejections import duration
from stream.commands.timeargs import utc
from stream.errors import ConfigError
from stream.settings import Settings, load_settings

__all__ = ["model_of", "produce", "reachable", "settings_from", "topics", "worker"]


def settings_from(ctx: click.Context) -> Settings:
    """The settings of this invocation (``--config`` / DRIFTSTREAM_CONFIG plus env)."""
    obj = ctx.find_root().obj
    if "settings" not in obj:
        obj["settings"] = load_settings(obj.get("config"))
    settings: Settings = obj["settings"]
    return settings


def reachable(settings: Settings, *, kafka: bool = False, redis: bool = False) -> None:
    """Fail now, in one line naming the backend and its address, when one is down."""
    from stream.adapters.reach import check_kafka, check_redis

    if kafka:
        check_kafka(settings.kafka)
    if redis:
        check_redis(settings.redis)


@click.command()
@click.option("--namespace", help="Redis namespace (default: redis.namespace).")
@click.pass_context
def worker(ctx: click.Context, namespace: str | None) -> None:
    r"""Run one worker process: batch ingest of the features topic into Redis sketches.

    Start N of them beside Kafka (one consumer group); partitions spread over them.

    \b
    Example:
      driftstream --config deploy/config/driftstream.example.toml worker
    """
    from faust.worker import Worker

    from stream.runtime import build_app

    settings = settings_from(ctx)
    if namespace:
        settings = settings.model_copy(
            update={"redis": settings.redis.model_copy(update={"namespace": namespace})}
        )
    if not settings.models.names:
        msg = "models: no model is configured; nothing to monitor"
        raise ConfigError(msg)
    # A broker that cannot be reached at start is one line and an exit (the orchestrator
    # restarts the worker); Redis down at start, or either backend later, keeps the worker
    # up with /health 503 naming it, retrying, and stoppable by SIGTERM (issue 11).
    reachable(settings, kafka=True)
    app, _ = build_app(settings)
    debug = bool(ctx.find_root().obj.get("debug"))
    try:
        Worker(app, loglevel="DEBUG" if debug else "INFO", quiet=True).execute_from_commandline()
    except SystemExit as done:
        # faust has stopped every service and closed its loop. A Kafka client thread
        # stuck on an unreachable broker (LeaveGroup) must not keep the process alive
        # past its shutdown: our state is flushed, or re-read by the next owner.
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(done.code if isinstance(done.code, int) else 0)


@click.command()
@click.option("--model", "model_name", help="Model to generate events for (default: the first).")
@click.option(
    "--file",
    "path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="JSONL file to send, one event per line ('-' for stdin); or a .csv with one "
    "column per feature of --model (and ts, prediction), as `reference build` reads.",
)
@click.option("--synthetic", is_flag=True, help="Generate seeded synthetic events.")
@click.option(
    "--count", type=int, default=100_000, show_default=True, help="Synthetic events to send."
)
@click.option(
    "--events-per-hour",
    type=int,
    default=10_000,
    show_default=True,
    help="Synthetic event-time density.",
)
@click.option(
    "--start",
    "start_ms",
    type=int,
    default=1_767_225_600_000,
    show_default=True,
    help="Synthetic first event time (epoch ms).",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--rate", type=float, help="At most this many events per second (default: as fast as possible)."
)
@click.option("--topic", help="Topic (default: topics.features).")
@click.option("--partitions", type=int, help="Spread round-robin over this many partitions.")
@click.option(
    "--record-time",
    type=click.Choice(["event", "send"]),
    default="event",
    show_default=True,
    help="--file: Kafka record timestamp from each event's ts (replay --from/--to find "
    "history where its events are), or the send time.",
)
@click.option(
    "--allow-null-columns",
    is_flag=True,
    help="--file a.csv: send declared columns missing from its header as null.",
)
@click.pass_context
def produce(
    ctx: click.Context,
    model_name: str | None,
    path: Path | None,
    synthetic: bool,
    count: int,
    events_per_hour: int,
    start_ms: int,
    seed: int,
    rate: float | None,
    topic: str | None,
    partitions: int | None,
    record_time: str,
    allow_null_columns: bool,
) -> None:
    r"""Write feature events to Kafka from a JSONL or CSV file or a synthetic generator.

    With --file each record's Kafka timestamp is its event's ts (events without a
    usable ts get the send time), so `replay --from/--to` finds history by event time.

    \b
    Examples:
      driftstream produce --synthetic --count 1000000 --rate 50000
      driftstream produce --file history.jsonl
      driftstream produce --file history.csv --model churn-v1
    """
    from stream import wiring  # Kafka, Redis and scipy: kept out of --help
    from stream.adapters.kafka_tools import produce as send
    from stream.adapters.kafka_tools import retention_ms
    from stream.synth import SyntheticStream

    settings = settings_from(ctx)
    if synthetic == (path is not None):
        msg = "give exactly one of --synthetic or --file"
        raise click.UsageError(msg)
    reachable(settings, kafka=True)
    name = topic or settings.topics.features
    stamps = EventTimes()
    if path is not None and record_time == "event":
        retention = retention_ms(wiring.kafka_sync(settings), name)
        if retention is not None and retention >= 0:
            stamps.expires_before_ms = time.time_ns() // 1_000_000 - retention
            stamps.retention_ms = retention
    if path is not None:
        is_csv = path.suffix.lower() == ".csv"
        if allow_null_columns and not is_csv:
            note = f"produce: --allow-null-columns applies to a .csv file; ignored for {path}"
            click.echo(note, err=True)
        lines = (
            _csv_events(path, model_of(settings, model_name), allow_null_columns)
            if is_csv
            else _lines(path)
        )
        values: Iterable[bytes | tuple[bytes, int | None]] = (
            stamps.stamp(lines) if record_time == "event" else lines
        )
    else:
        spec = model_of(settings, model_name)
        gen = SyntheticStream(spec, start_ms=start_ms, events_per_hour=events_per_hour, seed=seed)
        values = gen.records(count)
    n = send(
        wiring.kafka_sync(settings),
        name,
        values,
        rate=rate,
        partitions=partitions,
    )
    click.echo(f"sent {n} events to {name}")
    if path is not None:
        click.echo(stamps.describe(record_time), err=True)
    if stamps.expired:
        click.echo(
            f"produce: warning: {stamps.expired:,} event(s) have a ts older than topic "
            f"{name!r}'s retention.ms ({duration(stamps.retention_ms)}): the broker deletes "
            "them within minutes (log.retention.check.interval.ms). Replay them right away, "
            "raise the topic's retention.ms, or send with --record-time send",
            err=True,
        )


class EventTimes:
    """Record timestamps from each event's ``ts`` (epoch ms or ISO-8601), counted."""

    def __init__(self) -> None:
        import msgspec

        class _Ts(msgspec.Struct):
            ts: int | str | None = None

        self._decode = msgspec.json.Decoder(_Ts).decode
        self._error = msgspec.DecodeError
        self.stamped = 0
        self.unstamped = 0
        #: Record times before this are past the topic's retention (counted in ``expired``).
        self.expires_before_ms: int | None = None
        self.retention_ms = 0
        self.expired = 0
        self.oldest: int | None = None
        self.newest: int | None = None

    def of(self, line: bytes) -> int | None:
        """Event time of one JSONL line in epoch ms; None when it has no usable ts."""
        from stream.contract import parse_iso_ms

        try:
            ts = self._decode(line).ts
        except self._error:
            return None
        if isinstance(ts, int):
            return ts if 0 <= ts < 2**62 else None
        if isinstance(ts, str):
            ms = parse_iso_ms(ts)
            return ms if ms is not None and ms >= 0 else None
        return None

    def stamp(self, lines: Iterable[bytes]) -> Iterator[tuple[bytes, int | None]]:
        """Each line with its event time (None: the producer uses the send time)."""
        for line in lines:
            ms = self.of(line)
            if ms is None:
                self.unstamped += 1
            else:
                self.stamped += 1
                if self.expires_before_ms is not None and ms < self.expires_before_ms:
                    self.expired += 1
                self.oldest = ms if self.oldest is None else min(self.oldest, ms)
                self.newest = ms if self.newest is None else max(self.newest, ms)
            yield line, ms

    def describe(self, record_time: str) -> str:
        """One line: where the record timestamps came from."""
        if record_time == "send":
            return (
                "record time: the send time (--record-time send); replay --from/--to select by it"
            )
        line = f"record time: each event's ts for {self.stamped} event(s)"
        if self.oldest is not None and self.newest is not None:
            line += f" ({utc(self.oldest)} .. {utc(self.newest)})"
        if self.unstamped:
            line += f"; {self.unstamped} without a usable ts got the send time"
        return line


def _lines(path: Path) -> Iterator[bytes]:
    """Non-empty lines of a JSONL file ('-': stdin), closed when exhausted."""
    if str(path) == "-":
        yield from (line.rstrip(b"\r\n") for line in sys.stdin.buffer if line.strip())
        return
    with path.open("rb") as fh:
        yield from (line.rstrip(b"\r\n") for line in fh if line.strip())


def _csv_events(path: Path, spec: ModelSpec, allow_missing: bool) -> Iterator[bytes]:
    """A CSV's rows as contract events of ``spec`` (its header checked first, as a reference's)."""
    from stream.commands.csvfile import checked_header
    from stream.pipeline.reference import csv_events

    header = checked_header(path, spec, allow_missing=allow_missing, command="produce")
    if "ts" not in header:
        click.echo(
            f"produce: {path}: no 'ts' column: every event gets the send time as its event time",
            err=True,
        )

    def rows() -> Iterator[bytes]:
        with path.open(newline="") as fh:
            yield from csv_events(fh, spec.name, spec)

    return rows()


def model_of(settings: Settings, name: str | None) -> ModelSpec:
    """The named model (default: the first configured); a ConfigError names the choices."""
    if name is None:
        if not settings.models.names:
            msg = "models: no model is configured (needed for --synthetic and a .csv --file)"
            raise ConfigError(msg)
        return settings.models.model(settings.models.names[0])
    spec = settings.models.get(name)
    if spec is None:
        msg = f"--model: unknown model {name!r} (configured: {', '.join(settings.models.names)})"
        raise ConfigError(msg)
    return spec


@click.group()
def topics() -> None:
    """Kafka topics driftstream reads and writes."""


@topics.command("create")
@click.option(
    "--partitions", type=int, help="Partitions of the features topic (default: topics.partitions)."
)
@click.pass_context
def topics_create(ctx: click.Context, partitions: int | None) -> None:
    """Create the features, labels, alerts, dead-letter and sealed topics (idempotent)."""
    from stream import wiring  # Kafka, Redis and scipy: kept out of --help
    from stream.adapters.kafka_tools import create_topics

    s = settings_from(ctx)
    reachable(s, kafka=True)
    t = s.topics
    n = partitions or t.partitions
    result = create_topics(
        wiring.kafka_sync(s),
        {t.features: n, t.labels: n, t.alerts: 1, t.dead_letter: 1, t.sealed: 1},
        replication_factor=t.replication_factor,
    )
    for name, state in result.items():
        click.echo(f"{name}: {state}")
