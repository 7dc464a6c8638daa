"""``driftstream forward pagerduty|alertmanager|webhook``: the alerts topic → a pager."""

from __future__ import annotations

import logging
import random
import signal
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from stream.commands.options import number
from stream.commands.run import reachable, settings_from
from stream.errors import ConfigError

if TYPE_CHECKING:
    from stream.pipeline.forward import Renderer

__all__ = ["PAGERDUTY_URL", "ROUTING_KEY_ENV", "forward"]

PAGERDUTY_URL = "https://events.pagerduty.com/v2/enqueue"
ROUTING_KEY_ENV = "DRIFTSTREAM_PAGERDUTY_ROUTING_KEY"
DEDUPE_TTL_HOURS = 7 * 24

log = logging.getLogger("driftstream.forward")
F = TypeVar("F", bound=Callable[..., Any])


def _delivery_options(url_default: str | None) -> Callable[[F], F]:
    """The options every forwarder shares."""
    url_help = "Receiver URL." + (f" [default: {url_default}]" if url_default else "")
    options = [
        click.option("--url", default=url_default, required=url_default is None, help=url_help),
        click.option("--group", help="Consumer group [default: driftstream-forward-<kind>]."),
        click.option("--topic", help="Alerts topic [default: topics.alerts]."),
        click.option(
            "--namespace", help="Redis namespace of the delivery log [default: redis.namespace]."
        ),
        number(
            "--dedupe-ttl-hours",
            click.IntRange(1),
            "How long delivered alert ids are remembered.",
            DEDUPE_TTL_HOURS,
        ),
        click.option(
            "--start",
            type=click.Choice(["earliest", "latest"]),
            default="earliest",
            show_default=True,
            help="Where a group without committed offsets begins.",
        ),
        number("--timeout", click.FloatRange(0.1), "HTTP s.", 10.0),
        number(
            "--backoff-initial",
            click.FloatRange(0.0),
            "First retry delay (s); doubles per attempt, jittered.",
            0.5,
        ),
        number("--backoff-max", click.FloatRange(0.0), "Retry delay cap (s).", 60.0),
        click.option(
            "--dead-letter-topic",
            help="Park payloads refused as invalid (HTTP 400/413/422) here instead of "
            "retrying them forever.",
        ),
        number(
            "--reject-attempts",
            click.IntRange(1),
            "Attempts before a refused payload is dead-lettered.",
            3,
        ),
    ]

    def apply(f: F) -> F:
        for option in reversed(options):
            f = option(f)
        return f

    return apply


@click.group()
def forward() -> None:
    r"""Forward the alerts topic to PagerDuty, an Alertmanager-style receiver or a webhook.

    At least once: a failed POST (non-2xx, no response) is retried with capped,
    jittered backoff and never dropped; offsets are committed only after a 2xx.
    Alert ids already delivered (kept in Redis for --dedupe-ttl-hours) are not sent
    again. Messages that are not alerts are logged, counted and skipped.
    """


@forward.command("pagerduty")
@_delivery_options(PAGERDUTY_URL)
@click.option(
    "--routing-key",
    envvar=ROUTING_KEY_ENV,
    show_envvar=True,
    help="Events API v2 integration key (secret; prefer the environment variable).",
)
@click.option("--source", help="payload.source [default: driftstream/<model>].")
@click.pass_context
def pagerduty(
    ctx: click.Context, /, routing_key: str | None, source: str | None, **opts: Any
) -> None:
    r"""One PagerDuty Events API v2 event per alert (trigger / resolve by dedup key).

    \b
    Example:
      DRIFTSTREAM_PAGERDUTY_ROUTING_KEY=... driftstream forward pagerduty
    """
    from stream.pipeline.forward import pagerduty_renderer

    if not routing_key or not routing_key.strip():
        msg = f"pagerduty: no routing key; set {ROUTING_KEY_ENV} (or --routing-key)"
        raise ConfigError(msg)
    key = routing_key.strip()
    _run(ctx, "pagerduty", pagerduty_renderer(key, source=source), opts, secrets=(key,))


@forward.command("alertmanager")
@_delivery_options(None)
@click.option("--receiver", default="driftstream", show_default=True, help="Payload receiver.")
@click.option("--external-url", help="Payload externalURL [default: alerts.dashboard_base_url].")
@click.option(
    "--max-alerts",
    type=click.IntRange(1),
    default=64,
    show_default=True,
    help="Most alerts in one payload.",
)
@click.pass_context
def alertmanager(
    ctx: click.Context,
    /,
    receiver: str,
    external_url: str | None,
    max_alerts: int,
    **opts: Any,
) -> None:
    r"""Alertmanager webhook (version 4) payloads, alerts polled together batched by model.

    For receivers of Alertmanager's webhook_config format, not Alertmanager's own API.

    \b
    Example:
      driftstream forward alertmanager --url http://am-bridge:9095/hook
    """
    from stream.pipeline.forward import alertmanager_renderer

    settings = settings_from(ctx)
    render = alertmanager_renderer(
        receiver, external_url or settings.alerts.dashboard_base_url, max_alerts=max_alerts
    )
    _run(ctx, "alertmanager", render, opts)


@forward.command("webhook")
@_delivery_options(None)
@click.pass_context
def webhook(ctx: click.Context, /, **opts: Any) -> None:
    r"""POST each alert's JSON as it is on the topic.

    \b
    Example:
      driftstream forward webhook --url https://hooks.example.com/drift
    """
    from stream.pipeline.forward import webhook_renderer

    _run(ctx, "webhook", webhook_renderer(), opts)


def _log_to_stderr(debug: bool) -> None:
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("driftstream forward: %(levelname)s %(message)s"))
        log.addHandler(handler)
        log.propagate = False
    log.setLevel(logging.DEBUG if debug else logging.INFO)


def _run(
    ctx: click.Context,
    kind: str,
    render: Renderer,
    opts: dict[str, Any],
    *,
    secrets: tuple[str, ...] = (),
) -> None:
    from stream import wiring  # Kafka, Redis and scipy: kept out of --help
    from stream.adapters.forward import HttpPoster, safe_url
    from stream.pipeline.forward import Backoff, Forwarder

    settings = settings_from(ctx)
    _log_to_stderr(bool(ctx.find_root().obj.get("debug")))
    group = opts["group"] or f"driftstream-forward-{kind}"
    topic = opts["topic"] or settings.topics.alerts
    namespace = opts["namespace"] or settings.redis.namespace
    url = str(opts["url"])
    poster = HttpPoster(url, timeout_s=opts["timeout"])

    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())

    reachable(settings, kafka=True, redis=True)
    client = wiring.connect_redis(settings)
    source = wiring.alert_source(settings, topic, group, opts["start"])
    dead = opts["dead_letter_topic"]
    rejects = wiring.reject_sink(settings, dead, topic) if dead else None
    forwarder = Forwarder(
        source=source,
        poster=poster,
        delivery_log=wiring.delivery_log(client, namespace, group, opts["dedupe_ttl_hours"]),
        render=render,
        backoff=Backoff(opts["backoff_initial"], opts["backoff_max"]),
        rejects=rejects,
        reject_attempts=opts["reject_attempts"],
        sleep=stop.wait,
        stopping=stop.is_set,
        # Jitter is there to spread many forwarders' retries apart: entropy, not a seed.
        rng=random.Random(),  # noqa: S311
        secrets=secrets,
    )
    log.info(
        "forwarding %s to %s %s as group %s%s",
        topic,
        kind,
        safe_url(url),
        group,
        f"; refused payloads go to {dead}" if dead else "; refused payloads are retried forever",
    )
    try:
        forwarder.run()
    finally:
        source.close()
        if rejects is not None:
            rejects.close()
        client.close()
        log.info("stopped: %s", forwarder.stats.line())
