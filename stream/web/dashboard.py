"""The dashboard and its JSON API as faust web views (read-only).

Pages (HTML, server-side SVG, no JavaScript, no CDN):

* ``/models`` — every model with its open alerts and the last hours' drift;
* ``/models/{model}?window=&feature=&baseline=&metric=&scale=`` — hourly and daily
  heatmaps, the focused feature in the focused window (distribution overlay, metric
  over time, numbers) and the window's table. Alert links land here.

API (JSON, the same dicts the pages render):

* ``/api/models``, ``/api/models/{model}``
* ``/api/models/{model}/windows?scale=hour|day``
* ``/api/models/{model}/heatmap?scale=&baseline=&window=&limit=``
* ``/api/models/{model}/decisions?window=hour:2026-01-05T13``
* ``/api/models/{model}/features/{feature}?window=&baseline=&metric=``
* ``/api/models/{model}/alerts``
* ``/api/models/{model}/page?window=&feature=&baseline=&metric=&scale=``

Redis reads run in a thread so the worker's event loop keeps ingesting. With
``web.token`` set every route here needs it: :mod:`.guard` checks it in front of all
routes (``/`` redirects to ``/models``; ``/login``, ``/logout`` live there too).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import faust
import redis
from faust.web import Request, Response, View

from stream.catalog import Catalog
from stream.core.vocabulary import Scale
from stream.core.window import DAY, HOUR, WindowKey
from stream.errors import BadRequestError
from stream.web import pages
from stream.web.data import DashboardData, NotFoundError
from stream.web.summaries import ALL

__all__ = ["BASELINES", "register_dashboard"]

BASELINES = (ALL, "reference", "previous", "seasonal")
MAX_LIMIT = 2000
T = TypeVar("T")


def _query(request: Request) -> dict[str, str]:
    return {str(k): str(v) for k, v in request.query.items()}


def _window(q: Mapping[str, str]) -> WindowKey | None:
    text = q.get("window")
    if not text:
        return None
    try:
        return WindowKey.parse(text)
    except ValueError as exc:
        raise BadRequestError(str(exc)) from None


def _scale(q: Mapping[str, str], default: Scale | None = HOUR) -> Scale | None:
    text = q.get("scale")
    if not text:
        return default
    if text not in (HOUR, DAY):
        msg = f"bad scale {text!r} (expected 'hour' or 'day')"
        raise BadRequestError(msg)
    return HOUR if text == HOUR else DAY


def _baseline(q: Mapping[str, str]) -> str:
    b = q.get("baseline") or ALL
    if b not in BASELINES:
        msg = f"bad baseline {b!r} (expected one of {', '.join(BASELINES)})"
        raise BadRequestError(msg)
    return b


def _limit(q: Mapping[str, str]) -> int | None:
    text = q.get("limit")
    if not text:
        return None
    try:
        n = int(text)
    except ValueError:
        n = 0
    if not 1 <= n <= MAX_LIMIT:
        msg = f"bad limit {text!r} (expected 1..{MAX_LIMIT})"
        raise BadRequestError(msg)
    return n


def register_dashboard(
    app: faust.App,
    client: redis.Redis,
    namespace: str,
    catalog: Catalog,
    *,
    links: pages.Links,
) -> None:
    """Attach the dashboard pages and the JSON API to a worker's faust app.

    ``links.base`` is the path the pages' own links start with: the path of
    ``alerts.dashboard_base_url`` when a reverse proxy serves the dashboard under one
    (and strips it before the worker), so page links and alert links agree. Who may
    read is decided before any view runs (:mod:`stream.web.guard`).
    """
    data = DashboardData(client, namespace, catalog)

    async def answer(
        view: View, request: Request, build: Callable[[], T], render: Callable[[T], Response]
    ) -> Response:
        """Read in a thread; map NotFound/BadRequest to 404/400 (HTML or JSON alike)."""
        html = not request.url.path.startswith("/api/")
        try:
            value = await asyncio.to_thread(build)
        except (NotFoundError, BadRequestError) as exc:
            status = 404 if isinstance(exc, NotFoundError) else 400
            if html:
                title = "Not found" if status == 404 else "Bad request"
                page = pages.message_page(title, str(exc), namespace=namespace, links=links)
                return view.html(page, status=status)
            return view.json({"error": str(exc)}, status=status)
        return render(value)

    @app.page("/models")
    class ModelsPage(View):
        async def get(self, request: Request) -> Response:
            return await answer(
                self,
                request,
                data.models,
                lambda ms: self.html(pages.models_page(ms, namespace, links)),
            )

    @app.page("/dashboard")
    class DashboardRedirect(View):
        async def get(self, request: Request) -> Response:
            return self.text("", status=302, headers={"Location": str(links.models())})

    @app.page("/models/{model}")
    class ModelPage(View):
        async def get(self, request: Request, model: str) -> Response:
            q = _query(request)

            def build() -> dict[str, Any]:
                return data.model_page(
                    model,
                    window=_window(q),
                    feature=q.get("feature") or None,
                    baseline=_baseline(q),
                    metric=q.get("metric") or None,
                    scale=_scale(q, None),
                )

            return await answer(
                self, request, build, lambda page: self.html(pages.model_page(page, links))
            )

    @app.page("/api/models")
    class ModelsApi(View):
        async def get(self, request: Request) -> Response:
            return await answer(self, request, data.models, self.json)

    @app.page("/api/models/{model}")
    class ModelApi(View):
        async def get(self, request: Request, model: str) -> Response:
            return await answer(self, request, lambda: data.model_summary(model), self.json)

    @app.page("/api/models/{model}/windows")
    class WindowsApi(View):
        async def get(self, request: Request, model: str) -> Response:
            q = _query(request)
            return await answer(
                self, request, lambda: data.windows(model, _scale(q) or HOUR), self.json
            )

    @app.page("/api/models/{model}/heatmap")
    class HeatmapApi(View):
        async def get(self, request: Request, model: str) -> Response:
            q = _query(request)

            def build() -> dict[str, Any]:
                w = _window(q)
                scale = w.scale if w is not None else (_scale(q) or HOUR)
                focus = None if w is None else w.start_ms
                return data.heatmap(model, scale, _baseline(q), focus_ms=focus, limit=_limit(q))

            return await answer(self, request, build, self.json)

    @app.page("/api/models/{model}/decisions")
    class DecisionsApi(View):
        async def get(self, request: Request, model: str) -> Response:
            q = _query(request)

            def build() -> dict[str, Any]:
                w = _window(q)
                if w is None:
                    msg = "window is required, e.g. ?window=hour:2026-01-05T13"
                    raise BadRequestError(msg)
                return data.decisions(model, w)

            return await answer(self, request, build, self.json)

    @app.page("/api/models/{model}/features/{feature}")
    class FeatureApi(View):
        async def get(self, request: Request, model: str, feature: str) -> Response:
            q = _query(request)

            def build() -> dict[str, Any]:
                return data.feature(
                    model,
                    feature,
                    _window(q),
                    _baseline(q),
                    q.get("metric") or None,
                    scale=_scale(q) or HOUR,
                )

            return await answer(self, request, build, self.json)

    @app.page("/api/models/{model}/alerts")
    class AlertsApi(View):
        async def get(self, request: Request, model: str) -> Response:
            return await answer(self, request, lambda: data.alerts(model), self.json)

    @app.page("/api/models/{model}/page")
    class PageApi(View):
        async def get(self, request: Request, model: str) -> Response:
            q = _query(request)

            def build() -> dict[str, Any]:
                return data.model_page(
                    model,
                    window=_window(q),
                    feature=q.get("feature") or None,
                    baseline=_baseline(q),
                    metric=q.get("metric") or None,
                    scale=_scale(q, None),
                )

            return await answer(self, request, build, self.json)
