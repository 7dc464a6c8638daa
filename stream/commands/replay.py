"""``driftstream replay`` and ``driftstream namespace clean``."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncGenerator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from stream.adapters.redis_keys import Keys
from stream.catalog import Catalog
from stream.commands.deadletter import safe_bytes
from stream.commands.options import number
from stream.commands.rejections import rejection_line
from stream.commands.run import model_of, reachable, settings_from
from stream.commands.timeargs import TIME_HELP, time_range, utc
from stream.errors import DriftstreamError
from stream.pipeline.gc_tuning import lean_gc, settle
from stream.settings import Settings

if TYPE_CHECKING:
    from stream.core.window import WindowKey
    from stream.pipeline.ports import StoredWindow
    from stream.pipeline.replay import SealedParts

__all__ = ["namespace", "replay"]

WINDOW_MEMO = 4096
"""Windows a replay's evaluation keeps in memory (seasonal baselines are 168 hours back)."""
DECODE_CACHE = 32_768
"""Decoded sketches shared by a replay's rollup and evaluation (columns × windows)."""
COMMIT_EVERY = 64
"""Windows whose evaluation commits are written together (one MULTI/EXEC)."""
MEASURE_AHEAD = 16
"""Windows whose pairs are measured in one array pass before they are judged in order."""


@click.command()
@click.option("--topic", help="Topic to replay (default: topics.features).")
@click.option("--from", "from_text", help=f"Range start: {TIME_HELP} (default: earliest).")
@click.option("--to", "to_text", help="Range end, exclusive (default: the current end).")
@click.option("--model", "model_name", help="Replay only this model.")
@click.option(
    "--namespace",
    "ns",
    help="Redis namespace (default: derived from topic, range and the model/ingest settings).",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Processes to split partitions over.",
)
@number(
    "--batch-size",
    click.IntRange(1, 1_000_000),
    "Records per fetch (librdkafka's bound: 1,000,000).",
    20_000,
)
@click.option(
    "--alerts-out",
    type=click.Path(dir_okay=False),
    help="Write alerts (JSON lines) here; always written (empty when no alert).",
)
@click.option(
    "--alerts-topic", help="Publish alerts to this topic (never the live alerts topic by default)."
)
@click.option("--part", hidden=True, help="i/N: this process replays partitions p with p % N == i.")
@click.option("--quiet", is_flag=True, help="No progress on stderr.")
@click.pass_context
@lean_gc
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
    --from/--to select records by their Kafka timestamp (`produce --file` sets it
    to each event's ts). Rerunning the same replay with the same model and ingest
    settings resumes its namespace; changed settings get a new one.

    \b
    Example:
      driftstream replay --from 2026-01-01T00:00Z --to 2026-01-08T00:00Z \
          --alerts-out alerts.jsonl
    """
    settings = settings_from(ctx)
    if model_name:
        spec = model_of(settings, model_name)
        settings = settings.model_copy(update={"models": Catalog.of(spec)})
    topic = topic or settings.topics.features
    from_ms, to_ms = time_range(from_text, to_text)
    if alerts_topic and alerts_topic == settings.topics.alerts:
        msg = f"--alerts-topic: {alerts_topic!r} is the live alerts topic; replays never page"
        raise click.BadParameter(msg)
    namespace = ns or default_namespace(topic, from_ms, to_ms, settings_digest(settings))
    if namespace == settings.redis.namespace:
        msg = f"--namespace: {namespace!r} is the live namespace (redis.namespace)"
        raise click.BadParameter(msg)
    reachable(settings, kafka=True, redis=True)
    if part is not None:
        index, count = (int(x) for x in part.split("/"))
        summary = asyncio.run(
            _ingest(settings, topic, from_ms, to_ms, namespace, batch_size, (index, count), quiet)
        )
        click.echo(json.dumps(summary))  # read by the parent process
        return
    if alerts_out:
        Path(alerts_out).write_bytes(b"")  # always written: empty unless alerts follow
    sealed: SealedParts | None = None
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
        summary = _spawn((["--config", str(config)] if config else []) + child, workers)
    else:
        # One process ingests and rolls up: the rollup merges the sketches ingest sealed.
        from stream.pipeline.replay import SealedParts  # the pipeline: kept out of --help

        sealed = SealedParts()
        summary = asyncio.run(
            _ingest(settings, topic, from_ms, to_ms, namespace, batch_size, None, quiet, sealed)
        )
    if not quiet:
        click.echo(json.dumps(summary), err=True)
    _say_what_was_lost(summary, settings)
    if topic == settings.topics.features and _labelled(settings):
        labels = asyncio.run(_ingest_labels(settings, from_ms, to_ms, namespace, batch_size))
        if not quiet:
            click.echo(json.dumps({"labels": labels}), err=True)
    windows = _finish(settings, namespace, alerts_out, alerts_topic, quiet, sealed)
    click.echo(
        json.dumps(
            {"namespace": namespace, "topic": topic, "from_ms": from_ms, "to_ms": to_ms, **windows}
        )
    )


def default_namespace(topic: str, from_ms: int | None, to_ms: int | None, config: str = "") -> str:
    """A stable namespace per (topic, range, settings): the same replay rerun resumes it.

    ``config`` is :func:`settings_digest`: a replay after a change of the models or
    ingest settings starts afresh instead of silently resuming a stale result.
    """
    digest = hashlib.sha256(f"{topic}|{from_ms}|{to_ms}|{config}".encode()).hexdigest()[:10]
    return f"replay-{digest}"


def settings_digest(settings: Settings) -> str:
    """A digest of what shapes a replay's result: models (features, alerts) and ingest rules."""
    shape = settings.model_dump(mode="json", include={"models", "ingest", "evaluate"})
    return hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()[:16]


def _spawn(args: Sequence[str], workers: int) -> dict[str, Any]:
    """Run the parts; their summaries (one JSON line each on stdout) added up."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "stream.cli", *args, "--part", f"{i}/{workers}", "--quiet"],
            env=os.environ.copy(),
            stdout=subprocess.PIPE,
        )
        for i in range(workers)
    ]
    outs = [p.communicate()[0] for p in procs]
    codes = [p.returncode for p in procs]
    if any(codes):
        msg = f"replay worker(s) failed with exit codes {codes}"
        raise DriftstreamError(msg)
    total: dict[str, Any] = {
        "records": 0,
        "accepted": 0,
        "rejected": {},
        "unknown_model": 0,
        "unknown_models": {},
        "late": 0,
        "partitions": [],
    }
    for out in outs:
        part = json.loads(out.decode().strip().splitlines()[-1])
        for key in ("records", "accepted", "unknown_model", "late"):
            total[key] += part[key]
        for reason, n in part["rejected"].items():
            total["rejected"][reason] = total["rejected"].get(reason, 0) + n
        for name, n in part["unknown_models"].items():
            total["unknown_models"][name] = total["unknown_models"].get(name, 0) + n
        total["partitions"] = sorted([*total["partitions"], *part["partitions"]])
    return total


def _say_what_was_lost(summary: Mapping[str, Any], settings: Settings) -> None:
    """One line when most records were rejected or none was for a configured model."""

    def shown(name: str) -> str:
        return repr(safe_bytes(name.encode(), 60))

    records = int(summary["records"])
    rejected: dict[str, int] = summary["rejected"]
    if records and 2 * sum(rejected.values()) > records:
        click.echo(
            f"replay: warning: {rejection_line(rejected, records, settings.ingest)}", err=True
        )
    elif records and 2 * summary["unknown_model"] > records:
        names = sorted(summary["unknown_models"].items(), key=lambda kv: (-kv[1], kv[0]))
        click.echo(
            f"replay: warning: {summary['unknown_model']:,} of {records:,} record(s) name a "
            f"model that is not configured: {', '.join(f'{shown(m)} {n:,}' for m, n in names[:5])}"
            f" (configured: {', '.join(settings.models.names)}; models.<name> in the config)",
            err=True,
        )


async def _ingest(
    settings: Settings,
    topic: str,
    from_ms: int | None,
    to_ms: int | None,
    namespace: str,
    batch_size: int,
    part: tuple[int, int] | None,
    quiet: bool,
    sealed: SealedParts | None = None,
) -> dict[str, object]:
    # The composition root and the pipeline load Kafka, Redis and scipy: kept out of --help.
    from stream import wiring
    from stream.adapters.kafka_range import PartitionRange, plan_range, read_range
    from stream.adapters.redis_replay import save_replay_range
    from stream.contract import Limits
    from stream.pipeline.ingest import IngestLimits
    from stream.pipeline.ports import RecordBatch
    from stream.pipeline.replay import KeepSealed, Progress, RangeClock, ingest_range, part_of

    settle()
    opts = wiring.kafka_aio(settings)
    rd = wiring.kafka_rd(settings)
    ranges = await plan_range(opts, topic, from_ms, to_ms)
    if not any(r.size for r in ranges):
        raise DriftstreamError(await _nothing_in_range(opts, topic, from_ms, to_ms))
    if part is not None:
        mine = set(part_of([r.partition for r in ranges], *part))
        ranges = [r for r in ranges if r.partition in mine]
    for r in ranges:
        for note in r.notes:
            click.echo(f"partition {r.partition}: {note}", err=True)
    # The replay's event-time clock is its range end (never the wall clock during the
    # replay): an open-ended range ends where it was planned, now.
    clock = wiring.SystemClock()
    event_clock = RangeClock(from_ms, to_ms if to_ms is not None else clock.now_ms())
    client = wiring.connect_redis(settings)
    save_replay_range(
        client, namespace, topic, from_ms, to_ms, {r.partition: (r.start, r.end) for r in ranges}
    )
    plain = wiring.sketch_store(settings, client, namespace, live=False)
    store = plain if sealed is None else KeepSealed(plain, sealed)
    windows = wiring.window_store(settings, client, namespace, live=False)
    by_part = {r.partition: r for r in ranges}

    def batches(seeks: Mapping[int, int]) -> AsyncGenerator[Mapping[int, RecordBatch], None]:
        resumed = [
            PartitionRange(p, max(seeks[p], r.start), r.end, r.notes) for p, r in by_part.items()
        ]
        return read_range(rd, topic, resumed, max_records=batch_size)

    last = [0.0]

    def show(p: Progress) -> None:
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
        clock=clock,
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
        "unknown_model": summary.unknown_model,
        "unknown_models": dict(summary.unknown_models),
        "late": summary.late,
        "partitions": list(summary.partitions),
    }


def _labelled(settings: Settings) -> bool:
    return any(spec.labels is not None for spec in settings.models.specs())


async def _ingest_labels(
    settings: Settings,
    from_ms: int | None,
    to_ms: int | None,
    namespace: str,
    batch_size: int,
) -> dict[str, object]:
    """The labels topic over the range's labels: [from, to + the longest label delay).

    Labels arrive after their predictions, so the labels of the range's windows
    are on the labels topic up to ``max_label_delay_ms`` after its end. Labels of
    predictions outside the range land in windows the replay has not made (their
    state is kept, never judged).
    """
    from stream import wiring
    from stream.adapters.kafka_range import PartitionRange, plan_range, read_range
    from stream.contract import Limits
    from stream.pipeline.ports import RecordBatch
    from stream.pipeline.replay import ingest_labels_range

    topic = settings.topics.labels
    delay = max(s.labels.max_label_delay_ms for s in settings.models.specs() if s.labels)
    opts = wiring.kafka_aio(settings)
    rd = wiring.kafka_rd(settings)
    ranges = await plan_range(opts, topic, from_ms, None if to_ms is None else to_ms + delay)
    if not any(r.size for r in ranges):
        click.echo(
            f"replay: no label on {topic!r} in the range (+ max_label_delay_ms): "
            "windows are judged on their estimate only",
            err=True,
        )
    for r in ranges:
        for note in r.notes:
            click.echo(f"labels partition {r.partition}: {note}", err=True)
    client = wiring.connect_redis(settings)
    by_part = {r.partition: r for r in ranges}

    def batches(seeks: Mapping[int, int]) -> AsyncGenerator[Mapping[int, RecordBatch], None]:
        resumed = [
            PartitionRange(p, max(seeks[p], r.start), r.end, r.notes) for p, r in by_part.items()
        ]
        return read_range(rd, topic, resumed, max_records=batch_size)

    summary = await ingest_labels_range(
        settings.models,
        topic=topic,
        store=wiring.label_store(client, namespace),
        batches=batches,
        starts={r.partition: r.start for r in ranges},
        clock=wiring.SystemClock(),
        limits=Limits.from_settings(settings.ingest),
        flush_every_events=max(settings.ingest.flush_every_events, 100_000),
    )
    return {
        "records": summary.records,
        "outcomes": dict(summary.outcomes),
        "rejected": dict(summary.rejected),
        "unknown_model": summary.unknown_model,
    }


async def _nothing_in_range(
    opts: Mapping[str, Any], topic: str, from_ms: int | None, to_ms: int | None
) -> str:
    """Why a range is empty, in one line: the topic's record-time span, what to change."""
    from stream.adapters.kafka_range import record_time_span

    asked = f"[{'earliest' if from_ms is None else utc(from_ms)}, "
    asked += f"{'end' if to_ms is None else utc(to_ms)})"
    span = await record_time_span(opts, topic)
    if span is None:
        return f"replay: topic {topic!r} holds no record (produce events first)"
    first, last = span
    return (
        f"replay: no record of topic {topic!r} in {asked}: its records are stamped "
        f"{utc(first)} .. {utc(last)} (Kafka record time). --from/--to select by record "
        "time; records sent with the send time (`produce --record-time send`, or a producer "
        "that sets none) are found there, not at their events' ts"
    )


def _finish(
    settings: Settings,
    namespace: str,
    alerts_out: str | None,
    alerts_topic: str | None,
    quiet: bool = False,
    sealed: SealedParts | None = None,
) -> dict[str, object]:
    """Roll up, evaluate every new window in time order, then hand the alerts out.

    ``sealed``: the sketches this process's ingest sealed (one process), merged as they
    are instead of decoded from the bytes read back.
    """
    from stream import wiring  # Kafka, Redis and scipy: kept out of --help
    from stream.pipeline.replay import roll_up_all

    settle()
    client = wiring.connect_redis(settings)
    # A replay's windows never expire and are create-only: kept in memory as written.
    windows = wiring.window_store(settings, client, namespace, live=False, memo=WINDOW_MEMO)
    # Commits are queued and written COMMIT_EVERY windows at a time, each batch in one
    # MULTI/EXEC before its windows are marked evaluated (a crash in between evaluates
    # them again, which the lifecycle makes a no-op, as live).
    evaluation = wiring.evaluation(
        settings, client, namespace, windows, alert_namespace=namespace, deferred=True, live=False
    )
    evaluator = evaluation.evaluator
    # One decode cache for the rollup and the evaluation: the rollup's merged sketches
    # are judged as they are, never decoded again from their bytes.
    evaluator.cache_size = max(evaluator.cache_size, DECODE_CACHE)
    rollup = _PhaseProgress(
        "rolling up sealed hours into hour/day windows", "window(s)", None, quiet
    )
    rolled = roll_up_all(
        settings.models,
        windows,
        on_window=lambda _m, _w: rollup.step(),
        decoding=evaluator,
        sealed=sealed,
    )
    rollup.done()
    evals = evaluation.store
    # Model health as live (runtime._with_health): after each window's feature evaluation,
    # against the reference in the live namespace.
    health = wiring.health_evaluator(
        settings,
        client,
        namespace,
        windows,
        reference_namespace=settings.redis.namespace,
        wait_for_labels=False,
        live=False,
    )
    alerts: dict[str, int] = {}
    # Every window not evaluated yet: this rollup's, and any an interrupted run left.
    todo = {model: windows.unevaluated(model) for model in rolled}
    evaluating = _PhaseProgress("evaluating", "window(s)", sum(map(len, todo.values())), quiet)
    for model, keys in todo.items():
        spec = settings.models.model(model)
        done: list[WindowKey] = []
        loaded: dict[WindowKey, StoredWindow | None] = {}
        for at, key in enumerate(keys):
            if at % MEASURE_AHEAD == 0:  # the next windows' pairs, measured together
                chunk = keys[at : at + MEASURE_AHEAD]
                loaded = {k: windows.window(model, k) for k in chunk}
                evaluator.measure_ahead(spec, [w for w in loaded.values() if w is not None])
            window = loaded[key]
            if window is not None:  # replay windows never expire; None only if deleted by hand
                evaluator.evaluate(spec, window)
                if health and spec.labels:
                    evals.flush()  # health alerts follow the window's feature alerts
                judged = health.evaluate(spec, window) if health and spec.labels else None
                for why in judged.skipped if judged is not None else ():
                    if not quiet:
                        click.echo(f"model health of {model} {key}: {why}", err=True)
            done.append(key)
            if len(done) >= COMMIT_EVERY:
                evals.flush()
                windows.mark_all_evaluated(model, done)
                done = []
            evaluating.step()
        evals.flush()
        windows.mark_all_evaluated(model, done)
        pending = evals.outbox(model)
        alerts[model] = len(pending)
        if alerts_out and pending:
            with open(alerts_out, "ab") as fh:  # noqa: PTH123 - a plain append of JSON lines
                fh.writelines(a + b"\n" for a in pending)
        if alerts_topic and pending:
            wiring.alert_publisher(settings, evals, alerts_topic).publish(model)
        elif pending:
            evals.ack(model, len(pending))
    evaluating.done()
    return {
        "hours": {m: len(r.hours) for m, r in rolled.items()},
        "days": {m: len(r.days) for m, r in rolled.items()},
        "alerts": alerts,
    }


class _PhaseProgress:
    """One progress line of a phase (count, rate, ETA) on stderr, at most once a second."""

    def __init__(self, phase: str, unit: str, total: int | None, quiet: bool) -> None:
        self.phase, self.unit, self.total, self.quiet = phase, unit, total, quiet
        self.done_n, self.started = 0, time.monotonic()
        self.last = self.started
        self.shown = False
        if not quiet and total != 0:
            of = "" if total is None else f" {total:,} {unit}"
            click.echo(f"{phase}{of}...", err=True)

    def step(self) -> None:
        self.done_n += 1
        now = time.monotonic()
        if not self.quiet and now - self.last >= 1.0:
            self.last, self.shown = now, True
            click.echo(f"\r{self.line(now)}", err=True, nl=False)

    def line(self, now: float) -> str:
        elapsed = max(now - self.started, 1e-9)
        rate = self.done_n / elapsed
        if self.total is None:
            return f"{self.phase}: {self.done_n:,} {self.unit}  {rate:,.1f}/s"
        eta = (self.total - self.done_n) / rate if rate else float("inf")
        return (
            f"{self.phase}: {self.done_n:,}/{self.total:,} {self.unit}  {rate:,.1f}/s  "
            f"ETA {eta:,.0f}s"
        )

    def done(self) -> None:
        if self.shown:
            click.echo(f"\r{self.line(time.monotonic())}", err=True)
        if not self.quiet and self.total is None:
            took = time.monotonic() - self.started
            click.echo(f"{self.phase}: {self.done_n:,} {self.unit} in {took:,.1f}s", err=True)


@click.group()
def namespace() -> None:
    """Redis namespaces (live, and one per replay)."""


@namespace.command("clean")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask (required without a terminal).")
@click.pass_context
def clean(ctx: click.Context, name: str, yes: bool) -> None:
    """Delete every key of namespace NAME (refuses the live namespace)."""
    from stream import wiring  # Kafka, Redis and scipy: kept out of --help

    settings = settings_from(ctx)
    if name == settings.redis.namespace:
        msg = f"{name!r} is the live namespace (redis.namespace); refusing to clean it"
        raise DriftstreamError(msg)
    if not yes:
        if not sys.stdin.isatty():
            msg = "pass --yes to clean without a terminal"
            raise click.UsageError(msg)
        click.confirm(f"delete every key of namespace {name!r}?", abort=True)
    reachable(settings, redis=True)
    client = wiring.connect_redis(settings)
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
