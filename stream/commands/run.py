"""Commands that run the data plane: ``worker``, ``produce``, ``topics create``."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

import click

from stream.catalog import ModelSpec
from stream.errors import ConfigError
from stream.settings import Settings, load_settings

__all__ = ["model_of", "produce", "settings_from", "topics", "worker"]


def settings_from(ctx: click.Context) -> Settings:
    """The settings of this invocation (``--config`` / DRIFTSTREAM_CONFIG plus env)."""
    obj = ctx.find_root().obj
    if "settings" not in obj:
        obj["settings"] = load_settings(obj.get("config"))
    settings: Settings = obj["settings"]
    return settings


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
    app, _ = build_app(settings)
    debug = bool(ctx.find_root().obj.get("debug"))
    try:
        Worker(app, loglevel="DEBUG" if debug else "INFO", quiet=True).execute_from_commandline()
    except SystemExit as done:
        # faust has stopped every service and closed its loop. A Kafka client thread
        # stuck on an unreachable broker (LeaveGroup) must not keep the process alive
        # past its shutdown: our state is flushed, or re-read by the next owner.
        import logging
        import os
        import sys

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
    help="JSONL file to send, one event per line ('-' for stdin).",
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
) -> None:
    r"""Write feature events to Kafka from a JSONL file or a synthetic generator.

    \b
    Examples:
      driftstream produce --synthetic --count 1000000 --rate 50000
      driftstream produce --file events.jsonl
    """
    from stream.adapters.kafka_tools import produce as send
    from stream.adapters.kafka_tools import sync_options
    from stream.synth import SyntheticStream

    settings = settings_from(ctx)
    if synthetic == (path is not None):
        msg = "give exactly one of --synthetic or --file"
        raise click.UsageError(msg)
    if path is not None:
        values: Iterable[bytes | tuple[bytes, int]] = _lines(path)
    else:
        spec = model_of(settings, model_name)
        gen = SyntheticStream(spec, start_ms=start_ms, events_per_hour=events_per_hour, seed=seed)
        values = gen.records(count)
    n = send(
        sync_options(settings.kafka),
        topic or settings.topics.features,
        values,
        rate=rate,
        partitions=partitions,
    )
    click.echo(f"sent {n} events to {topic or settings.topics.features}")


def _lines(path: Path) -> Iterator[bytes]:
    """Non-empty lines of a JSONL file ('-': stdin), closed when exhausted."""
    if str(path) == "-":
        yield from (line.rstrip(b"\r\n") for line in sys.stdin.buffer if line.strip())
        return
    with path.open("rb") as fh:
        yield from (line.rstrip(b"\r\n") for line in fh if line.strip())


def model_of(settings: Settings, name: str | None) -> ModelSpec:
    """The named model (default: the first configured); a ConfigError names the choices."""
    if name is None:
        if not settings.models.names:
            msg = "models: no model is configured (needed for --synthetic)"
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
    from stream.adapters.kafka_tools import create_topics, sync_options

    s = settings_from(ctx)
    t = s.topics
    n = partitions or t.partitions
    result = create_topics(
        sync_options(s.kafka),
        {t.features: n, t.labels: n, t.alerts: 1, t.dead_letter: 1, t.sealed: 1},
        replication_factor=t.replication_factor,
    )
    for name, state in result.items():
        click.echo(f"{name}: {state}")
