"""``driftstream reference build|list|show``: reference profiles in Redis."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable
from contextlib import aclosing
from pathlib import Path
from typing import TYPE_CHECKING

import click

from stream.commands.options import number
from stream.commands.rejections import rejection_line
from stream.commands.run import model_of, reachable, settings_from
from stream.commands.timeargs import TIME_HELP, time_range
from stream.errors import ConfigError, DriftstreamError

if TYPE_CHECKING:
    from stream.catalog import ModelSpec
    from stream.pipeline.reference import ReferenceBuilder
    from stream.settings import Settings

__all__ = ["reference"]

BATCH = 20_000


@click.group()
def reference() -> None:
    """Reference profiles a model's windows are compared with."""


@reference.command("build")
@click.option("--model", "model_name", required=True, help="Model the reference belongs to.")
@click.option(
    "--name",
    help="Reference name (default: the model's reference.name when stored in Redis, "
    "else 'training').",
)
@click.option(
    "--file",
    "path",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="JSONL events (one per line) or a .csv with one column per feature.",
)
@click.option("--topic", help="Build from a time range of this topic instead of a file.")
@click.option("--from", "from_text", help=f"Topic range start: {TIME_HELP}.")
@click.option("--to", "to_text", help="Topic range end, exclusive (same forms).")
@click.option(
    "--version", "version", help="Version label stored with it (default: reference.version)."
)
@number(
    "--live-events-per-hour",
    click.IntRange(1),
    "Expected live events per hour (calibrates thresholds at that window size).",
)
@click.option(
    "--allow-null-columns",
    is_flag=True,
    help="Store it even when a declared column is missing from the CSV or null in every event.",
)
@click.option("--quiet", is_flag=True, help="No progress on stderr.")
@click.pass_context
def build(
    ctx: click.Context,
    model_name: str,
    name: str | None,
    path: Path | None,
    topic: str | None,
    from_text: str | None,
    to_text: str | None,
    version: str | None,
    live_events_per_hour: int | None,
    allow_null_columns: bool,
    quiet: bool,
) -> None:
    r"""Build a reference from a file or a topic range and store it in Redis.

    A CSV needs a header naming every declared feature (and the prediction, when
    the model declares one); a `ts` column is optional. Rows a column cannot be read
    from are rejected and counted by reason, with a sample shown.

    \b
    Examples:
      driftstream reference build --model fraud-v3 --file train.csv
      driftstream reference build --model fraud-v3 --topic features \
          --from 2026-01-01 --to 2026-01-08 --name last-good-week
    """
    from stream import wiring  # Kafka, Redis and scipy: kept out of --help
    from stream.catalog import RedisReference
    from stream.pipeline.reference import ReferenceBuilder, calibration_of, null_columns

    settings = settings_from(ctx)
    spec = model_of(settings, model_name)
    if (path is None) == (topic is None):
        msg = "give exactly one of --file or --topic"
        raise click.UsageError(msg)
    from_ms, to_ms = time_range(from_text, to_text)
    if path is not None and (from_ms is not None or to_ms is not None):
        msg = "--from/--to select a topic range; they do not apply to --file"
        raise click.UsageError(msg)
    reachable(settings, kafka=topic is not None, redis=True)
    declared = spec.reference
    if name is None:
        name = declared.name if isinstance(declared, RedisReference) else "training"
    if version is None and declared is not None:
        version = declared.version
    source = (
        {"file": str(path)}
        if path is not None
        else {"topic": topic, "from_ms": from_ms, "to_ms": to_ms}
    )
    builder = ReferenceBuilder(spec, name, version=version, source=source)
    show = _Progress(quiet)
    where: Callable[[int], str] = lambda i: f"event {i + 1}"  # noqa: E731
    if path is not None:
        if path.suffix.lower() == ".csv":
            where = _fold_csv(builder, path, spec, allow_null_columns, show)
        else:
            where = _fold_jsonl(builder, path, show)
    else:
        asyncio.run(_from_topic(builder, settings, str(topic), from_ms, to_ms, show))
    show.done()
    ref = builder.build()
    if builder.rejected_by_reason:
        ref.meta["rejected_by_reason"] = dict(sorted(builder.rejected_by_reason.items()))
        total = ref.events + ref.rejected
        line = rejection_line(builder.rejected_by_reason, total, settings.ingest)
        click.echo(f"reference build: {line}", err=True)
        for index, reason, detail in builder.samples:
            click.echo(f"  e.g. {where(index)}: {reason}: {detail}", err=True)
    if ref.events == 0:
        msg = f"no event of model {spec.name!r} in the source ({ref.rejected} rejected)"
        raise DriftstreamError(msg)
    empty = null_columns(ref)
    if empty and not allow_null_columns:
        msg = (
            f"reference build: column(s) {', '.join(empty)} are null in all {ref.events:,} "
            "event(s): nothing to compare live data with; fix the source, or pass "
            "--allow-null-columns"
        )
        raise DriftstreamError(msg)
    if not quiet:
        click.echo("calibrating thresholds from the reference's hours...", err=True)
    calibration = calibration_of(ref, spec, live_events_per_hour)
    wiring.references(settings).save(ref, calibration)
    click.echo(json.dumps(ref.describe(), sort_keys=True))


class _Progress:
    """A progress line (events read) on stderr at most once a second, then a newline."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.shown = False
        self.last = time.monotonic()  # the first line after a second: quick builds stay quiet

    def __call__(self, done: int, total: int | None = None) -> None:
        now = time.monotonic()
        if self.quiet or now - self.last < 1.0:
            return
        self.last, self.shown = now, True
        of = f"/{total:,}" if total else ""
        click.echo(f"\r{done:,}{of} events read", err=True, nl=False)

    def done(self) -> None:
        if self.shown:
            click.echo("", err=True)


def _fold_csv(
    builder: ReferenceBuilder,
    path: Path,
    spec: ModelSpec,
    allow_null_columns: bool,
    show: _Progress,
) -> Callable[[int], str]:
    """Fold a CSV after checking its header; returns event index → ``line N``."""
    from stream.commands.csvfile import checked_header
    from stream.pipeline.reference import csv_events

    checked_header(path, spec, allow_missing=allow_null_columns, command="reference build")
    with path.open(newline="") as fh:
        _fold(builder, list(csv_events(fh, spec.name, spec)), show)
    return lambda i: f"line {i + 2}"


def _fold_jsonl(builder: ReferenceBuilder, path: Path, show: _Progress) -> Callable[[int], str]:
    """Fold non-empty lines; returns event index → ``line N`` of the file."""
    lines: list[int] = []
    values: list[bytes] = []
    with path.open("rb") as fh:
        for number, line in enumerate(fh, 1):
            if line.strip():
                lines.append(number)
                values.append(line.rstrip(b"\r\n"))
    _fold(builder, values, show)
    return lambda i: f"line {lines[i]}" if i < len(lines) else f"event {i + 1}"


def _fold(builder: ReferenceBuilder, values: list[bytes], show: _Progress) -> None:
    for i in range(0, len(values), BATCH):
        builder.add(values[i : i + BATCH])
        show(min(i + BATCH, len(values)), len(values))


async def _from_topic(
    builder: ReferenceBuilder,
    settings: Settings,
    topic: str,
    from_ms: int | None,
    to_ms: int | None,
    show: _Progress,
) -> None:
    from stream import wiring  # Kafka, Redis and scipy: kept out of --help
    from stream.adapters.kafka_range import plan_range, read_range

    opts = wiring.kafka_aio(settings)
    rd = wiring.kafka_rd(settings)
    ranges = await plan_range(opts, topic, from_ms, to_ms)
    for r in ranges:
        for note in r.notes:
            click.echo(f"partition {r.partition}: {note}", err=True)
    total, done = sum(r.size for r in ranges), 0
    async with aclosing(read_range(rd, topic, ranges)) as read:  # closed also on a failure
        async for batch in read:
            for records in batch.values():
                builder.add([v or b"" for v in records.values], records.timestamps_ms.tolist())
                done += len(records.values)
            show(done, total)


@reference.command("list")
@click.option("--model", "model_name", help="Only this model.")
@click.pass_context
def list_(ctx: click.Context, model_name: str | None) -> None:
    """List stored references (one JSON line each)."""
    from stream import wiring  # Kafka, Redis and scipy: kept out of --help

    settings = settings_from(ctx)
    reachable(settings, redis=True)
    refs = wiring.references(settings)
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
    from stream import wiring  # Kafka, Redis and scipy: kept out of --help
    from stream.core.sketch import NumericSketch

    settings = settings_from(ctx)
    spec = model_of(settings, model_name)
    reachable(settings, redis=True)
    ref = wiring.references(settings).load(spec, name)
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
