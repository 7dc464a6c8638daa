"""``driftstream replay`` and ``driftstream namespace clean``."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Mapping, Sequence

import click

from stream.commands.run import model_of, settings_from
from stream.errors import DriftstreamError
from stream.settings import Settings

__all__ = ["namespace", "replay"]


def parse_time(value: str | None, option: str) -> int | None:
    """Epoch ms from ``1767225600000`` or ISO-8601 with an offset (``2026-01-01T00:00Z``)."""
    from stream.contract import iso_ms

    if value is None:
        return None
    if value.lstrip("-").isdigit():
        return int(value)
    ms = iso_ms(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    if ms is None:
        msg = f"{option}: expected epoch ms or ISO-8601 with a UTC offset, got {value!r}"
        raise click.BadParameter(msg)
    return ms


@click.command()
@click.option("--topic", help="Topic to replay (default: topics.features).")
@click.option("--from", "from_text", help="Range start: epoch ms or ISO-8601 (default: earliest).")
@click.option("--to", "to_text", help="Range end, exclusive (default: the current end).")
@click.option("--model", "model_name", help="Replay only this model.")
@click.option("--namespace", "ns", help="Redis namespace (default: derived from topic and range).")
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Processes to split partitions over.",
)
@click.option("--batch-size", type=click.IntRange(1), default=20_000, show_default=True)
@click.option(
    "--alerts-out", type=click.Path(dir_okay=False), help="Write alerts (JSON lines) here."
)
@click.option(
    "--alerts-topic", help="Publish alerts to this topic (never the live alerts topic by default)."
)
@click.option("--part", hidden=True, help="i/N: this process replays partitions p with p % N == i.")
@click.option("--quiet", is_flag=True, help="No progress on stderr.")
@click.pass_context
def replay(
    ctx: click.Context,
    topic: str | None,
    from_text: str | None,
    to_text: str | None,
    model_name: str | None,
    ns: str | None,
    workers: int,
    batch_size: int,
    alerts_out: str | None,
    alerts_topic: str | None,
    part: str | None,
    quiet: bool,
) -> None:
    r"""Replay a time range of a topic through the live code, isolated from live state.

    State goes to its own Redis namespace; no consumer group is joined and no
    live offset is committed. It stops by itself at the end of the range.

    \b
    Example:
      driftstream replay --from 2026-01-01T00:00Z --to 2026-01-08T00:00Z \
          --alerts-out alerts.jsonl
    """
    settings = settings_from(ctx)
    if model_name:
        from stream.catalog import Catalog

        spec = model_of(settings, model_name)
        settings = settings.model_copy(update={"models": Catalog.of(spec)})
    topic = topic or settings.topics.features
    from_ms = parse_time(from_text, "--from")
    to_ms = parse_time(to_text, "--to")
    if alerts_topic and alerts_topic == settings.topics.alerts:
        msg = f"--alerts-topic: {alerts_topic!r} is the live alerts topic; replays never page"
        raise click.BadParameter(msg)
    namespace = ns or default_namespace(topic, from_ms, to_ms)
    if namespace == settings.redis.namespace:
        msg = f"--namespace: {namespace!r} is the live namespace (redis.namespace)"
        raise click.BadParameter(msg)
    if part is not None:
        index, count = (int(x) for x in part.split("/"))
        summary = asyncio.run(
            _ingest(settings, topic, from_ms, to_ms, namespace, batch_size, (index, count), quiet)
        )
        click.echo(json.dumps(summary), err=True)
        return
    if workers > 1:
        child = [
            "replay",
            "--topic",
            topic,
            "--namespace",
            namespace,
            "--batch-size",
            str(batch_size),
        ]
        child += ["--from", str(from_ms)] if from_ms is not None else []
        child += ["--to", str(to_ms)] if to_ms is not None else []
        child += ["--model", model_name] if model_name else []
        config = ctx.find_root().obj.get("config")
        _spawn((["--config", str(config)] if config else []) + child, workers)
    else:
        summary = asyncio.run(
            _ingest(settings, topic, from_ms, to_ms, namespace, batch_size, None, quiet)
        )
        if not quiet:
            click.echo(json.dumps(summary), err=True)
    windows = _finish(settings, namespace, alerts_out, alerts_topic)
    click.echo(
        json.dumps(
            {"namespace": namespace, "topic": topic, "from_ms": from_ms, "to_ms": to_ms, **windows}
        )
    )


def default_namespace(topic: str, from_ms: int | None, to_ms: int | None) -> str:
    """A stable namespace per (topic, range): rerunning the same replay resumes it."""
    digest = hashlib.sha256(f"{topic}|{from_ms}|{to_ms}".encode()).hexdigest()[:10]
    return f"replay-{digest}"


def _spawn(args: Sequence[str], workers: int) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "stream.cli", *args, "--part", f"{i}/{workers}", "--quiet"],
            env=os.environ.copy(),
        )
        for i in range(workers)
    ]
    codes = [p.wait() for p in procs]
    if any(codes):
        msg = f"replay worker(s) failed with exit codes {codes}"
        raise DriftstreamError(msg)


async def _ingest(
    settings: Settings,
    topic: str,
    from_ms: int | None,
    to_ms: int | None,
    namespace: str,
    batch_size: int,
    part: tuple[int, int] | None,
    quiet: bool,
) -> dict[str, object]:
    from stream.adapters.kafka import client_options
    from stream.adapters.kafka_range import PartitionRange, plan_range, read_range
    from stream.adapters.redis_store import RedisSketchStore, redis_client
    from stream.adapters.redis_windows import RedisWindowStore
    from stream.contract import Limits
    from stream.pipeline.ingest import IngestLimits
    from stream.pipeline.ports import RecordBatch
    from stream.pipeline.replay import Progress, RangeClock, ingest_range, part_of
    from stream.runtime import SystemClock

    opts = client_options(settings.kafka)
    ranges = await plan_range(opts, topic, from_ms, to_ms)
    if part is not None:
        mine = set(part_of([r.partition for r in ranges], *part))
        ranges = [r for r in ranges if r.partition in mine]
    for r in ranges:
        for note in r.notes:
            click.echo(f"partition {r.partition}: {note}", err=True)
    # The replay's event-time clock is its range end (never the wall clock during the
    # replay): an open-ended range ends where it was planned, now.
    event_clock = RangeClock(from_ms, to_ms if to_ms is not None else SystemClock().now_ms())
    client = redis_client(settings.redis)
    store = RedisSketchStore(client, namespace)
    windows = RedisWindowStore(client, namespace)
    by_part = {r.partition: r for r in ranges}

    def batches(seeks: Mapping[int, int]) -> AsyncIterator[Mapping[int, RecordBatch]]:
        resumed = [
            PartitionRange(p, max(seeks[p], r.start), r.end, r.notes) for p, r in by_part.items()
        ]
        return read_range(opts, topic, resumed, max_records=batch_size)

    last = [0.0]

    def show(p: Progress) -> None:
        import time

        now = time.monotonic()
        if not quiet and now - last[0] >= 1.0:
            last[0] = now
            click.echo(f"\r{p.line()}", err=True, nl=False)

    summary = await ingest_range(
        settings.models,
        topic=topic,
        namespace=namespace,
        store=store,
        windows=windows,
        batches=batches,
        starts={r.partition: r.start for r in ranges},
        total=sum(r.size for r in ranges),
        clock=SystemClock(),
        limits=Limits.from_settings(settings.ingest),
        allowed_lateness_ms=settings.ingest.allowed_lateness_ms,
        flush_every_events=max(settings.ingest.flush_every_events, 100_000),
        progress=show,
        event_clock=event_clock,
        ingest_limits=IngestLimits.from_settings(settings.ingest),
    )
    if not quiet:
        click.echo("", err=True)
    return {
        "records": summary.records,
        "accepted": summary.accepted,
        "rejected": summary.rejected,
        "late": summary.late,
        "partitions": list(summary.partitions),
    }


def _finish(
    settings: Settings, namespace: str, alerts_out: str | None, alerts_topic: str | None
) -> dict[str, object]:
    """Roll up, evaluate every new window in time order, then hand the alerts out."""
    from stream.adapters.alerts import AlertPublisher
    from stream.adapters.kafka_tools import sync_options
    from stream.adapters.redis_eval import RedisEvaluationStore
    from stream.adapters.redis_store import redis_client
    from stream.adapters.redis_windows import RedisWindowStore
    from stream.pipeline.evaluate import Evaluator, alert_encoder
    from stream.pipeline.replay import roll_up_all

    client = redis_client(settings.redis)
    windows = RedisWindowStore(client, namespace)
    rolled = roll_up_all(settings.models, windows)
    evals = RedisEvaluationStore(
        client, namespace, windows, reference_namespace=settings.redis.namespace
    )
    evaluator = Evaluator(evals, encode=alert_encoder(settings))
    alerts: dict[str, int] = {}
    for model, result in rolled.items():
        spec = settings.models.model(model)
        for window in (*result.hours, *result.days):
            evaluator.evaluate(spec, window)
        pending = evals.outbox(model)
        alerts[model] = len(pending)
        if alerts_out and pending:
            with open(alerts_out, "ab") as fh:  # noqa: PTH123 - a plain append of JSON lines
                fh.writelines(a + b"\n" for a in pending)
        if alerts_topic and pending:
            AlertPublisher(evals, alerts_topic, sync_options(settings.kafka)).publish(model)
        elif pending:
            evals.ack(model, len(pending))
    return {
        "hours": {m: len(r.hours) for m, r in rolled.items()},
        "days": {m: len(r.days) for m, r in rolled.items()},
        "alerts": alerts,
    }


@click.group()
def namespace() -> None:
    """Redis namespaces (live, and one per replay)."""


@namespace.command("clean")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask (required without a terminal).")
@click.pass_context
def clean(ctx: click.Context, name: str, yes: bool) -> None:
    """Delete every key of namespace NAME (refuses the live namespace)."""
    from stream.adapters.redis_keys import Keys
    from stream.adapters.redis_store import redis_client

    settings = settings_from(ctx)
    if name == settings.redis.namespace:
        msg = f"{name!r} is the live namespace (redis.namespace); refusing to clean it"
        raise DriftstreamError(msg)
    if not yes:
        if not sys.stdin.isatty():
            msg = "pass --yes to clean without a terminal"
            raise click.UsageError(msg)
        click.confirm(f"delete every key of namespace {name!r}?", abort=True)
    client = redis_client(settings.redis)
    deleted = 0
    batch: list[bytes] = []
    for key in client.scan_iter(match=Keys(name).pattern(), count=1000):
        batch.append(key)
        if len(batch) >= 1000:
            deleted += int(client.delete(*batch))
            batch = []
    if batch:
        deleted += int(client.delete(*batch))
    click.echo(f"deleted {deleted} keys of namespace {name!r}")
