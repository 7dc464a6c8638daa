"""``driftstream reference build|list|show``: reference profiles in Redis."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import click

from stream.commands.run import model_of, settings_from
from stream.errors import ConfigError, DriftstreamError

__all__ = ["reference"]

BATCH = 20_000


@click.group()
def reference() -> None:
    """Reference profiles a model's windows are compared with."""


@reference.command("build")
@click.option("--model", "model_name", required=True, help="Model the reference belongs to.")
@click.option("--name", default="training", show_default=True, help="Reference name.")
@click.option(
    "--file",
    "path",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="JSONL events (one per line) or a .csv with one column per feature.",
)
@click.option("--topic", help="Build from a time range of this topic instead of a file.")
@click.option("--from", "from_ms", type=int, help="Topic range start (epoch ms).")
@click.option("--to", "to_ms", type=int, help="Topic range end, exclusive (epoch ms).")
@click.option("--version", "version", help="Version label stored with the reference.")
@click.option(
    "--live-events-per-hour",
    type=click.IntRange(1),
    help="Expected live events per hour (calibrates thresholds at that window size).",
)
@click.pass_context
def build(
    ctx: click.Context,
    model_name: str,
    name: str,
    path: Path | None,
    topic: str | None,
    from_ms: int | None,
    to_ms: int | None,
    version: str | None,
    live_events_per_hour: int | None,
) -> None:
    r"""Build a reference from a file or a topic range and store it in Redis.

    \b
    Examples:
      driftstream reference build --model fraud-v3 --file train.jsonl
      driftstream reference build --model fraud-v3 --topic features \
          --from 1767225600000 --to 1767830400000 --name last-good-week
    """
    from stream.adapters.redis_refs import RedisReferences
    from stream.adapters.redis_store import redis_client
    from stream.pipeline.reference import ReferenceBuilder, calibration_of, csv_events

    settings = settings_from(ctx)
    spec = model_of(settings, model_name)
    if (path is None) == (topic is None):
        msg = "give exactly one of --file or --topic"
        raise click.UsageError(msg)
    source = (
        {"file": str(path)}
        if path is not None
        else {"topic": topic, "from_ms": from_ms, "to_ms": to_ms}
    )
    builder = ReferenceBuilder(spec, name, version=version, source=source)
    if path is not None:
        if path.suffix.lower() == ".csv":
            with path.open(newline="") as fh:
                _fold(builder, list(csv_events(fh, spec.name, spec)))
        else:
            with path.open("rb") as fh:
                _fold(builder, [line.rstrip(b"\r\n") for line in fh if line.strip()])
    else:
        asyncio.run(_from_topic(builder, settings, str(topic), from_ms, to_ms))
    ref = builder.build()
    if ref.events == 0:
        msg = f"no event of model {spec.name!r} in the source ({ref.rejected} rejected)"
        raise DriftstreamError(msg)
    calibration = calibration_of(ref, spec, live_events_per_hour)
    RedisReferences(redis_client(settings.redis), settings.redis.namespace).save(ref, calibration)
    click.echo(json.dumps(ref.describe(), sort_keys=True))


def _fold(builder: object, values: list[bytes]) -> None:
    from stream.pipeline.reference import ReferenceBuilder

    assert isinstance(builder, ReferenceBuilder)  # noqa: S101 - narrows the lazy import
    for i in range(0, len(values), BATCH):
        builder.add(values[i : i + BATCH])


async def _from_topic(
    builder: object, settings: object, topic: str, from_ms: int | None, to_ms: int | None
) -> None:
    from stream.adapters.kafka import client_options
    from stream.adapters.kafka_range import plan_range, read_range
    from stream.pipeline.reference import ReferenceBuilder
    from stream.settings import Settings

    assert isinstance(builder, ReferenceBuilder) and isinstance(settings, Settings)  # noqa: S101
    opts = client_options(settings.kafka)
    ranges = await plan_range(opts, topic, from_ms, to_ms)
    for r in ranges:
        for note in r.notes:
            click.echo(f"partition {r.partition}: {note}", err=True)
    async for batch in read_range(opts, topic, ranges):
        for records in batch.values():
            builder.add([v or b"" for v in records.values], records.timestamps_ms.tolist())


@reference.command("list")
@click.option("--model", "model_name", help="Only this model.")
@click.pass_context
def list_(ctx: click.Context, model_name: str | None) -> None:
    """List stored references (one JSON line each)."""
    from stream.adapters.redis_refs import RedisReferences
    from stream.adapters.redis_store import redis_client

    settings = settings_from(ctx)
    refs = RedisReferences(redis_client(settings.redis), settings.redis.namespace)
    names = [model_name] if model_name else list(settings.models.names)
    for m in names:
        for n in refs.names(m):
            click.echo(json.dumps(refs.meta(m, n), sort_keys=True))


@reference.command("show")
@click.option("--model", "model_name", required=True)
@click.option("--name", default="training", show_default=True)
@click.pass_context
def show(ctx: click.Context, model_name: str, name: str) -> None:
    """Show a reference: provenance and per-column summary."""
    from stream.adapters.redis_refs import RedisReferences
    from stream.adapters.redis_store import redis_client
    from stream.core.sketch import NumericSketch

    settings = settings_from(ctx)
    spec = model_of(settings, model_name)
    ref = RedisReferences(redis_client(settings.redis), settings.redis.namespace).load(spec, name)
    if ref is None:
        msg = f"no reference {name!r} for model {spec.name!r} (see `driftstream reference list`)"
        raise ConfigError(msg)
    out = sys.stdout
    out.write(json.dumps(ref.describe(), sort_keys=True) + "\n")
    for col, sketch in ref.sketches.items():
        if isinstance(sketch, NumericSketch):
            q = [sketch.quantile(x) for x in (0.05, 0.5, 0.95)]
            out.write(
                f"{col:24s} numeric      n={sketch.count:<9d} nulls={sketch.nulls:<7d} "
                f"mean={sketch.mean:.4g} p5={q[0]:.4g} p50={q[1]:.4g} p95={q[2]:.4g}\n"
            )
        else:
            top = sorted(sketch.counts().items(), key=lambda kv: -kv[1])[:5]
            shares = ", ".join(f"{k}={v / max(sketch.count, 1):.1%}" for k, v in top)
            out.write(
                f"{col:24s} categorical  n={sketch.count:<9d} nulls={sketch.nulls:<7d} {shares}\n"
            )
