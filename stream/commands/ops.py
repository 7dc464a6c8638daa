"""Operator commands: ``init``, ``config check``, ``status``, ``alerts tail``.

Each prints for people by default and for programs with ``--json``; problems are
one ``driftstream: error: ...`` line (exit 1), usage mistakes exit 2.
"""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from stream.catalog import FileReference, RedisReference
from stream.commands.docs import config_reference
from stream.commands.run import model_of, settings_from
from stream.commands.tailing import follow, tail_options
from stream.commands.timeargs import utc
from stream.errors import ConfigError, DriftstreamError
from stream.settings import CONFIG_ENV, Settings, env_names, load_settings

if TYPE_CHECKING:
    from stream.adapters.redis_replay import ReplayRange

__all__ = ["alerts_group", "config_group", "init", "starter_config", "status"]

DEFAULT_PATH = "driftstream.toml"


def starter_config() -> str:
    """The commented starter config ``init`` writes (a copy of the example config)."""
    return resources.files("stream.commands").joinpath("starter.toml").read_text("utf-8")


# ---------------------------------------------------------------------------- init
@click.command()
@click.argument("path", required=False, default=DEFAULT_PATH, type=click.Path(path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite the file if it exists.")
@click.option(
    "--from",
    "from_path",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Declare --model from this file's columns (.csv, .jsonl, .parquet: the training "
    "data) instead of the example model.",
)
@click.option("--model", "model_name", metavar="NAME", help="--from: the model's name.")
def init(path: Path, force: bool, from_path: Path | None, model_name: str | None) -> None:
    r"""Write a commented starter config: every section, one example model.

    PATH defaults to ./driftstream.toml, which every command run in that directory
    reads when neither --config nor DRIFTSTREAM_CONFIG is given; a directory gets a
    driftstream.toml inside; '-' prints the config to stdout. An existing file is
    kept unless --force. With --from, the model is yours: its features and kinds
    come from the file's columns (numbers: numeric, anything else: categorical;
    `ts` the event time, `prediction` the model's output).

    \b
    Examples:
      driftstream init --from train.csv --model churn-v1
      driftstream init deploy/driftstream.toml
      driftstream -c deploy/driftstream.toml config check
    """
    text = starter_config()
    model = None
    if (from_path is None) != (model_name is None):
        msg = "--from FILE and --model NAME go together (the model's name: its events' \"model\")"
        raise click.UsageError(msg)
    if from_path is not None and model_name is not None:
        from stream.commands.starter_model import file_model, with_model

        model = file_model(from_path, model_name)
        text = with_model(text, model)
    if str(path) == "-":
        click.echo(text, nl=False)
        return
    if path.is_dir():
        path = path / DEFAULT_PATH
    try:
        with path.open("w" if force else "x", encoding="utf-8") as fh:
            fh.write(text)
    except FileExistsError:
        msg = f"{path}: already exists (use --force to overwrite)"
        raise DriftstreamError(msg) from None
    except OSError as exc:
        msg = f"{path}: cannot write: {exc.strerror or exc}"
        raise DriftstreamError(msg) from None
    click.echo(f"wrote {path}" + (f" ({model.summary()})" if model else ""))
    found = path.resolve() == (Path.cwd() / DEFAULT_PATH).resolve()
    check = "driftstream config check" if found else f"driftstream -c {path} config check"
    if model is not None:
        c = "" if found else f"-c {path} "
        click.echo(
            f"next: set [kafka] and [redis], run `{check}`, then `driftstream {c}reference "
            f"build --model {model.name} --file {model.path}`"
        )
    else:
        click.echo(f"next: set [kafka], [redis] and your [models.*] tables, then run `{check}`")
    if found:
        click.echo(f"(commands run here read ./{DEFAULT_PATH} without -c)")


# ---------------------------------------------------------------------------- config
@click.group("config")
def config_group() -> None:
    """Check the configuration; print its reference."""


config_group.add_command(config_reference)


@config_group.command("check")
@click.argument("path", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the redacted settings as JSON.")
@click.pass_context
def config_check(ctx: click.Context, path: Path | None, as_json: bool) -> None:
    r"""Load and validate a config (file + DRIFTSTREAM_* env); print a redacted summary.

    PATH defaults to --config / DRIFTSTREAM_CONFIG / ./driftstream.toml. Secrets are
    never printed.
    Exit status 1 with a one-line error naming the key when the config is invalid.

    \b
    Examples:
      driftstream config check deploy/driftstream.toml
      DRIFTSTREAM_WEB__PORT=9000 driftstream -c driftstream.toml config check --json
    """
    source = path or ctx.find_root().obj.get("config") or os.environ.get(CONFIG_ENV)
    if not source:
        msg = (
            f"no config file: give PATH, --config FILE, set {CONFIG_ENV} or run `driftstream init`"
        )
        raise click.UsageError(msg)
    settings = load_settings(source)
    if not settings.models.names:
        msg = "models: no model is configured; a worker would have nothing to monitor"
        raise ConfigError(msg)
    overrides = sorted(set(os.environ) & set(env_names()))
    warnings = _warnings(settings)
    if as_json:
        report = {
            "config": str(source),
            "env_overrides": overrides,
            "warnings": warnings,
            "settings": settings.redacted(),
        }
        click.echo(json.dumps(report, indent=2, sort_keys=True))
    else:
        click.echo(f"config   {source}")
        if overrides:
            click.echo(f"env      {', '.join(overrides)}")
        for line in _summary(settings):
            click.echo(line)
    for w in warnings:
        click.echo(f"warning: {w}", err=True)
    if not as_json:
        click.echo(f"ok: {len(settings.models.names)} model(s)")


def _summary(s: Settings) -> list[str]:
    k, r, t, c, w = s.kafka, s.redis, s.topics, s.consumer, s.web
    kafka = f"kafka    {k.bootstrap_servers} ({k.security_protocol}), client id {k.client_id}"
    if k.sasl_mechanism:
        secret = "set" if k.sasl_password is not None else "unset"
        kafka += f"; SASL {k.sasl_mechanism} user {k.sasl_username}, password {secret}"
    if k.ssl_cafile or k.ssl_certfile:
        kafka += f"; TLS ca {k.ssl_cafile or '-'}, cert {k.ssl_certfile or '-'}"
    redis = f"redis    {r.url} namespace {r.namespace}"
    if r.username or r.password is not None:
        secret = "set" if r.password is not None else "unset"
        redis += f"; ACL user {r.username or '(from URL)'}, password {secret}"
    if r.tls_ca_file or r.tls_cert_file:
        redis += f"; TLS ca {r.tls_ca_file or '-'}, cert {r.tls_cert_file or '-'}"
    lines = [
        kafka,
        redis,
        f"topics   features={t.features} labels={t.labels} alerts={t.alerts} "
        f"dead-letter={t.dead_letter} sealed={t.sealed}",
        f"consumer group {c.group_id}, batches of {c.batch_max_records}, "
        f"new partitions from {c.auto_offset_reset}",
        f"web      {w.host}:{w.port}, /api token {'set' if w.token is not None else 'unset'}",
        f"models   {', '.join(s.models.names)}",
    ]
    for spec in s.models.specs():
        feats = ", ".join(f"{f.name} ({f.kind})" for f in spec.features)
        if spec.prediction is not None:
            p = spec.prediction
            feats += (
                f"; prediction ({p.kind})"
                if p.name == "prediction"
                else (f"; prediction {p.name} ({p.kind})")
            )
        ref = spec.reference
        where: str = "none" if ref is None else ref.source
        if isinstance(ref, FileReference):
            where += f" {ref.path}"
        elif isinstance(ref, RedisReference):
            where += f" {ref.name}"
        a = spec.alerts
        lines += [
            f"  {spec.name}: {len(spec.features)} feature(s): {feats}",
            f"    reference {where}; windows {', '.join(a.windows)} vs "
            f"{', '.join(a.baselines)}; severity {a.severity}, "
            f"{a.consecutive_breaches} breach(es) to trigger, {a.resolve_after} to resolve",
        ]
    return lines


def _warnings(s: Settings) -> list[str]:
    """Things that load but will likely fail where this runs (files the config names)."""
    out = []
    for spec in s.models.specs():
        ref = spec.reference
        if isinstance(ref, FileReference):
            p = Path(ref.path)
            if not p.exists():
                out.append(f"models.{spec.name}.reference.path: {p} not found")
    files = {
        "kafka.ssl_cafile": s.kafka.ssl_cafile,
        "kafka.ssl_certfile": s.kafka.ssl_certfile,
        "kafka.ssl_keyfile": s.kafka.ssl_keyfile,
        "redis.tls_ca_file": s.redis.tls_ca_file,
        "redis.tls_cert_file": s.redis.tls_cert_file,
        "redis.tls_key_file": s.redis.tls_key_file,
    }
    for key, value in files.items():
        if value and not Path(value).exists():
            out.append(f"{key}: {value} not found here (fine if it exists where workers run)")
    return out


# ---------------------------------------------------------------------------- status
@click.command()
@click.option("--model", "model_name", help="Only this model (default: every configured model).")
@click.option("--namespace", help="Redis namespace (default: redis.namespace; or a replay's).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def status(
    ctx: click.Context, model_name: str | None, namespace: str | None, as_json: bool
) -> None:
    r"""Per model: partition ingest state, sealed hours, rollups, consumer lag, open alerts.

    Reads Redis and Kafka only (joins no consumer group, writes nothing). Exit status
    1 when Redis or Kafka cannot be read (what could be read is still printed). For a
    replay's namespace, "lag" is what is left of the replayed range.

    \b
    Examples:
      driftstream status
      driftstream status --model fraud-v3 --json | jq '.models[0].alerts'
    """
    from stream.commands.ops_status import gather, render

    settings = settings_from(ctx)
    if model_name is not None:
        names = [model_of(settings, model_name).name]
    else:
        names = list(settings.models.names)
        if not names:
            msg = "models: no model is configured; nothing to report"
            raise ConfigError(msg)
    ns = namespace or settings.redis.namespace
    replayed = _replay_range(settings, ns) if namespace else None
    report, problem = gather(settings, names, ns)
    if replayed is not None:
        # A replay namespace: progress is against the replayed range, not a group's lag.
        report["kafka"] = _replay_progress(report, replayed)
        from stream.adapters.kafka_ops import KafkaUnavailableError

        problem = None if isinstance(problem, KafkaUnavailableError) else problem
    if as_json:
        click.echo(json.dumps(report, indent=2, sort_keys=True))
    else:
        for line in render(report):
            click.echo(line)
    if problem is not None:
        raise problem


def _replay_range(settings: Settings, namespace: str) -> ReplayRange | None:
    import redis

    from stream import wiring  # Kafka, Redis and scipy: kept out of --help
    from stream.adapters.redis_replay import load_replay_range

    client = wiring.connect_redis(settings)
    try:
        return load_replay_range(client, namespace)
    except redis.RedisError:
        return None  # gather() reports Redis problems in its own line
    finally:
        client.close()


def _replay_progress(report: dict[str, Any], rr: ReplayRange) -> dict[str, Any]:
    """The ``kafka`` block of a replay namespace: records of the range not yet replayed."""
    done: dict[int, int] = {}
    for m in report["models"]:
        for p in m["partitions"]:
            if p["offset"] is not None:
                part = int(p["partition"])
                done[part] = min(done.get(part, p["offset"]), p["offset"])
                end = rr.ends.get(part)
                p["behind"] = None if end is None else max(0, end - p["offset"])
    parts = {}
    for part, end in rr.ends.items():
        at = done.get(part, rr.starts.get(part, end))
        parts[str(part)] = {"end": end, "committed": done.get(part), "lag": max(0, end - at)}
    span = (
        f"{'earliest' if rr.from_ms is None else utc(rr.from_ms)} .. "
        f"{'end' if rr.to_ms is None else utc(rr.to_ms)}"
    )
    return {
        "topic": rr.topic,
        "group": f"none (replay of {span})",
        "error": None,
        "replay": {"from_ms": rr.from_ms, "to_ms": rr.to_ms},
        "partitions": parts,
        "total_lag": sum(v["lag"] for v in parts.values()),
    }


# ---------------------------------------------------------------------------- alerts
@click.group("alerts")
def alerts_group() -> None:
    """The alerts topic that pagers consume."""


@alerts_group.command("tail")
@tail_options("alert", "Raw alert JSON, one per line.", "topics.alerts")
@click.pass_context
def alerts_tail(ctx: click.Context, /, as_json: bool, topic: str | None, **reading: Any) -> None:
    r"""Follow the alerts topic: one line per alert, or its raw JSON with --json.

    Reads without a consumer group: nothing is committed, pagers are not disturbed.

    \b
    Examples:
      driftstream alerts tail
      driftstream alerts tail --from-beginning --json --timeout 5 > alerts.jsonl
    """
    from stream.commands.ops_status import alert_line

    settings = settings_from(ctx)

    def show(rec: Any, where: str) -> bool:
        raw = rec.value or b""
        if not as_json:
            click.echo(alert_line(raw, where))
            return True
        try:
            click.echo(json.dumps(json.loads(raw), sort_keys=True, ensure_ascii=False))
        except ValueError:
            click.echo(f"skipped {where}: not JSON", err=True)
            return False
        return True

    follow(settings, topic or settings.topics.alerts, noun="alert", show=show, **reading)
