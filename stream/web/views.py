"""Worker web views on faust's web server: ``/health``, ``/metrics`` and the dashboard."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import faust
import redis
from faust.web import Request, Response, View
from faust.web.drivers.aiohttp import Web as AiohttpWeb
from pydantic import SecretStr

from stream.adapters.prometheus import IngestCollector, render
from stream.adapters.prometheus_labels import LabelCollector
from stream.adapters.redis_keys import Keys
from stream.settings import Settings
from stream.web.auth import SessionGate
from stream.web.dashboard import register_dashboard
from stream.web.guard import Guard, Revocations, disable_faust_routes
from stream.web.links import Links

if TYPE_CHECKING:
    from stream.runtime import IngestService

__all__ = ["build_guard", "health_report", "register_views"]


def health_report(service: IngestService, now_ms: int) -> tuple[bool, dict[str, Any]]:
    """(healthy, details): unhealthy whenever the worker cannot make progress.

    The causes and their order are ``stream.pipeline.health``'s.
    """
    plane = service.plane
    problem = service.health_problem(now_ms)
    body = {
        "status": "ok" if problem is None else "unhealthy",
        "problem": problem,
        "partitions": plane.assigned,
        "last_flush_ms": plane.stats.last_flush_ms,
        "events_consumed": plane.stats.consumed,
        "namespace": service.namespace,
    }
    return problem is None, body


def register_views(app: faust.App, service: IngestService) -> None:
    """Attach the views of one worker to its faust app, all behind :mod:`.guard`."""
    disable_faust_routes(app)  # before the first page: faust builds its routes then
    guard = build_guard(service.settings, service.redis, service.namespace)
    collector = IngestCollector(
        stats=lambda: service.plane.stats,
        lag=lambda: dict(service.lag),
        health=lambda: {
            "redis": service.health.redis_errors,
            "kafka": service.health.kafka_errors,
        },
        late_hours=service.plane.late_by_hour,
        healthy=lambda: service.health_problem(service.clock.now_ms()) is None,
    )

    @app.page("/health")
    class HealthView(View):
        async def get(self, request: Request) -> Response:
            healthy, body = health_report(service, service.clock.now_ms())
            return self.json(body, status=200 if healthy else 503)

    @app.page("/metrics")
    class MetricsView(View):
        async def get(self, request: Request) -> Response:
            more = (
                []
                if service.labels is None
                else [LabelCollector(lambda: service.labels.plane.stats)]
            )
            return self.bytes(render(collector, *more), content_type="text/plain; version=0.0.4")

    register_dashboard(
        app, service.redis, service.namespace, service.settings.models, links=guard.links
    )
    server = app.web
    if not isinstance(server, AiohttpWeb):  # faust's only driver; a new one must be guarded
        msg = f"web: unsupported faust web driver {type(server).__name__}"
        raise TypeError(msg)
    server.web_app.middlewares.append(guard.middleware)


def build_guard(settings: Settings, client: redis.Redis, namespace: str) -> Guard:
    """The worker's :class:`Guard`: token and sessions from ``web``, revocations in Redis."""
    web, base = settings.web, settings.alerts.dashboard_base_url
    gate = SessionGate(
        _plain(web.token),
        ttl_ms=web.session_ttl_ms,
        secret=_plain(web.session_secret),
        previous_secret=_plain(web.session_secret_previous),
    )
    keys = Keys(namespace)

    def revoke(nonce: str, expires_ms: int) -> None:
        ttl = max(expires_ms - time.time_ns() // 1_000_000, 1)
        client.set(keys.session_revoked(nonce), b"1", px=ttl)

    def is_revoked(nonce: str) -> bool:
        return bool(client.exists(keys.session_revoked(nonce)))

    return Guard(
        gate,
        Revocations(revoke, is_revoked),
        links=Links(urlsplit(base).path.rstrip("/"), session=gate.enabled),
        clock_ms=lambda: time.time_ns() // 1_000_000,
        secure_cookies=web.secure_cookies,
        base_is_https=base.startswith("https://"),
    )


def _plain(secret: SecretStr | None) -> str | None:
    return None if secret is None else secret.get_secret_value()
