"""``driftstream report``: a self-contained HTML report of one window of one model.

Reads a live or replay namespace (read-only) and writes one HTML file with inline
CSS and SVG: heatmaps around the window, every feature's distribution against the
reference, its top metric over time with the threshold, and the numbers behind them.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from stream.commands.run import reachable, settings_from
from stream.errors import ConfigError, DriftstreamError

if TYPE_CHECKING:
    from stream.core.window import WindowKey
    from stream.settings import Settings

__all__ = ["report"]


class ReportError(DriftstreamError):
    """Nothing to report (no such window in the namespace)."""


@click.command()
@click.option("--model", "model_name", required=True, help="Model to report on.")
@click.option(
    "--window",
    "window_text",
    required=True,
    help="Window: 'hour:YYYY-MM-DDTHH' or 'day:YYYY-MM-DD' (UTC).",
)
@click.option("--namespace", help="Redis namespace (default: redis.namespace; or a replay's).")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    required=True,
    help="HTML file to write.",
)
@click.pass_context
def report(
    ctx: click.Context, model_name: str, window_text: str, namespace: str | None, out: Path
) -> None:
    r"""Write a self-contained HTML drift report of one window (inline SVG, no links out).

    \b
    Examples:
      driftstream report --model fraud-v3 --window day:2026-01-08 --out report.html
      driftstream report --model fraud-v3 --window hour:2026-01-08T13 \
          --namespace replay-1a2b3c4d5e --out replay.html
    """
    from stream import wiring  # Kafka, Redis and scipy: kept out of --help
    from stream.adapters.redis_dashboard import RedisDashboard
    from stream.core.window import WindowKey
    from stream.web.data import DashboardData, NotFoundError
    from stream.web.report import report_html

    settings = settings_from(ctx)
    try:
        window = WindowKey.parse(window_text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--window") from None
    if settings.models.get(model_name) is None:
        known = ", ".join(settings.models.names) or "none"
        msg = f"models: no model {model_name!r} is configured (configured: {known})"
        raise ConfigError(msg)
    ns = namespace or settings.redis.namespace
    reachable(settings, redis=True)
    client = wiring.connect_redis(settings)
    try:
        reader = RedisDashboard(client, ns, reference_namespace=settings.redis.namespace)
        data = DashboardData(reader, settings.models)
        try:
            content = data.report(model_name, window)
        except NotFoundError as exc:
            raise ReportError(str(exc)) from None
        panels = _performance(settings, client, ns, model_name, window)
    finally:
        client.close()
    html = report_html(content, generated_ms=time.time_ns() // 1_000_000, panels=panels)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    if panels:
        click.echo("with the model-performance panel (labels, estimated, realized)", err=True)
    rows = content["window"].rows
    drifted = sorted({str(r["feature"]) for r in rows if r["breach"]})
    click.echo(
        f"wrote {out} ({len(html.encode()):,} bytes): {model_name} {window}, "
        f"{len(content['features'])} features, "
        + (f"drift in {', '.join(drifted)}" if drifted else "no drift")
    )


#: Day windows the performance panel shows, ending with the report's (day) window.
PERFORMANCE_DAYS = 14


def _performance(
    settings: Settings, client: Any, namespace: str, model: str, window: WindowKey
) -> list[str]:
    """The performance panel of a model with labels (none for a model without)."""
    from stream import wiring
    from stream.adapters.redis_health import RedisHealthStore
    from stream.core.window import DAY, DAY_MS, WindowKey, floor_to
    from stream.web.performance import performance_panel, performance_series

    spec = settings.models.model(model)
    if spec.labels is None:
        return []
    windows = wiring.window_store(settings, client, namespace)
    store = RedisHealthStore(
        client,
        namespace,
        windows,
        wiring.label_store(client, namespace),
        settings.redis.namespace,
    )
    last = floor_to(window.start_ms, DAY_MS)
    keys = [WindowKey(DAY, last - i * DAY_MS) for i in range(PERFORMANCE_DAYS - 1, -1, -1)]
    keys = [k for k in keys if windows.window(model, k) is not None]
    return [performance_panel(performance_series(store, spec, keys))]
