"""Worker web views on faust's web server: ``/health``, ``/metrics`` and the dashboard."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import faust
from faust.web import Request, Response, View

from stream.adapters.prometheus import IngestCollector, render
from stream.web.dashboard import register_dashboard

if TYPE_CHECKING:
    from stream.runtime import IngestService

__all__ = ["health_report", "register_views"]


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
    """Attach the views of one worker to its faust app."""
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
            return self.bytes(render(collector), content_type="text/plain; version=0.0.4")

    token = service.settings.web.token
    register_dashboard(
        app,
        service.redis,
        service.namespace,
        service.settings.models,
        token.get_secret_value() if token is not None else None,
        prefix=urlsplit(service.settings.alerts.dashboard_base_url).path,
    )
