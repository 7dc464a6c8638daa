"""Worker web views on faust's web server: ``/health``, ``/metrics`` and the dashboard.

What they read comes in through :mod:`.ports` (the composition root passes the worker's
status, the dashboard's namespaces and the session store): ``web`` imports no adapter,
no storage client and not the runtime.
"""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import faust
from faust.web import Request, Response, View
from faust.web.drivers.aiohttp import Web as AiohttpWeb
from pydantic import SecretStr

from stream.settings import Settings
from stream.web.auth import SessionGate
from stream.web.dashboard import register_dashboard
from stream.web.guard import Guard, Revocations, disable_faust_routes
from stream.web.links import Links
from stream.web.ports import DashboardSource, SessionStore, WorkerStatus

__all__ = ["build_guard", "register_views"]


def register_views(
    app: faust.App,
    settings: Settings,
    *,
    status: WorkerStatus,
    dashboards: DashboardSource,
    sessions: SessionStore,
) -> None:
    """Attach the views of one worker to its faust app, all behind :mod:`.guard`."""
    disable_faust_routes(app)  # before the first page: faust builds its routes then
    guard = build_guard(settings, sessions)

    @app.page("/health")
    class HealthView(View):
        async def get(self, request: Request) -> Response:
            healthy, body = status.health()
            return self.json(body, status=200 if healthy else 503)

    @app.page("/metrics")
    class MetricsView(View):
        async def get(self, request: Request) -> Response:
            return self.bytes(status.metrics(), content_type="text/plain; version=0.0.4")

    register_dashboard(app, dashboards, settings.models, links=guard.links)
    server = app.web
    if not isinstance(server, AiohttpWeb):  # faust's only driver; a new one must be guarded
        msg = f"web: unsupported faust web driver {type(server).__name__}"
        raise TypeError(msg)
    server.web_app.middlewares.append(guard.middleware)


def build_guard(settings: Settings, sessions: SessionStore) -> Guard:
    """The worker's :class:`Guard`: token and sessions from ``web``, revocations in ``sessions``."""
    web, base = settings.web, settings.alerts.dashboard_base_url
    gate = SessionGate(
        _plain(web.token),
        ttl_ms=web.session_ttl_ms,
        secret=_plain(web.session_secret),
        previous_secret=_plain(web.session_secret_previous),
    )
    return Guard(
        gate,
        Revocations(sessions.revoke, sessions.is_revoked),
        links=Links(urlsplit(base).path.rstrip("/"), session=gate.enabled),
        clock_ms=lambda: time.time_ns() // 1_000_000,
        secure_cookies=web.secure_cookies,
        base_is_https=base.startswith("https://"),
    )


def _plain(secret: SecretStr | None) -> str | None:
    return None if secret is None else secret.get_secret_value()
