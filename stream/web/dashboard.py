"""The dashboard and its JSON API as faust web views (read-only): one route table.

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

Every route also takes ``?namespace=``: a replay's namespace instead of the live one
(``driftstream replay`` alerts link there). Only a name of namespace shape that the
deployment has (the live one, or one a replay wrote its range to) is read; anything
else is a 400 or a 404, never a Redis key built from it. Its pages say which namespace
they show and link back to live.

:data:`ROUTES` is the table: a path, what to read (``build``, in a thread so the
worker's event loop keeps ingesting) and how to answer (JSON, or an HTML page). One
view class, :class:`DashboardView`, answers every route: it opens the namespace, parses
the query, maps NotFound/BadRequest to 404/400 (HTML or JSON alike). With ``web.token``
set every route here needs it: :mod:`.guard` checks it in front of all routes (``/``
redirects to ``/models``; ``/login``, ``/logout`` live there too).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import faust
from faust.web import Request, Response, View

from stream.catalog import Catalog
from stream.core.vocabulary import Scale
from stream.core.window import DAY, HOUR, TRAILING_DAY, WindowKey
from stream.errors import BadRequestError
from stream.web import pages, performance
from stream.web.data import DashboardData, NotFoundError
from stream.web.links import Links
from stream.web.ports import DashboardSource, valid_namespace
from stream.web.summaries import ALL, plain

__all__ = ["BASELINES", "ROUTES", "DashboardView", "Route", "register_dashboard"]

BASELINES = (ALL, "reference", "previous", "seasonal")
MAX_LIMIT = 2000


@dataclass(frozen=True)
class Query:
    """The parsed query string of one request (each getter raises BadRequestError)."""

    raw: Mapping[str, str]

    def text(self, name: str) -> str | None:
        """A free-text parameter (feature, metric), None when empty."""
        return self.raw.get(name) or None

    def window(self) -> WindowKey | None:
        """``?window=hour:2026-01-05T13``."""
        text = self.raw.get("window")
        if not text:
            return None
        try:
            key = WindowKey.parse(text)
        except ValueError as exc:
            raise BadRequestError(str(exc)) from None
        # A trailing day is evaluated, not stored: it opens the hour that closed it.
        return key.closing_hour() if key.scale == TRAILING_DAY else key

    def scale(self, default: Scale | None = HOUR) -> Scale | None:
        """``?scale=hour|day``."""
        text = self.raw.get("scale")
        if not text:
            return default
        if text not in (HOUR, DAY):
            msg = f"bad scale {text!r} (expected 'hour' or 'day')"
            raise BadRequestError(msg)
        return HOUR if text == HOUR else DAY

    def baseline(self) -> str:
        """``?baseline=all|reference|previous|seasonal``."""
        b = self.raw.get("baseline") or ALL
        if b not in BASELINES:
            msg = f"bad baseline {b!r} (expected one of {', '.join(BASELINES)})"
            raise BadRequestError(msg)
        return b

    def limit(self) -> int | None:
        """``?limit=1..2000``."""
        text = self.raw.get("limit")
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


@dataclass(frozen=True)
class Call:
    """What a route's ``build`` gets: the namespace's data, the query, the path's names."""

    data: DashboardData
    q: Query
    path: Mapping[str, str]

    @property
    def model(self) -> str:
        """The ``{model}`` of the path."""
        return self.path["model"]


Build = Callable[[Call], Any]
Render = Callable[[Any, DashboardData, Links], str]


@dataclass(frozen=True)
class Route:
    """One path of the dashboard: what it reads and, for a page, how it renders."""

    path: str
    build: Build
    page: Render | None = None  # None: the value is the JSON answer


def _model_page(c: Call) -> Any:
    return c.data.model_page(
        c.model,
        window=c.q.window(),
        feature=c.q.text("feature"),
        baseline=c.q.baseline(),
        metric=c.q.text("metric"),
        scale=c.q.scale(None),
    )


def _heatmap(c: Call) -> Any:
    w = c.q.window()
    scale = w.stored_scale if w is not None else (c.q.scale() or HOUR)
    focus = None if w is None else w.start_ms
    return c.data.heatmap(c.model, scale, c.q.baseline(), focus_ms=focus, limit=c.q.limit())


def _decisions(c: Call) -> Any:
    w = c.q.window()
    if w is None:
        msg = "window is required, e.g. ?window=hour:2026-01-05T13"
        raise BadRequestError(msg)
    return c.data.decisions(c.model, w)


def _feature(c: Call) -> Any:
    return c.data.feature(
        c.model,
        c.path["feature"],
        c.q.window(),
        c.q.baseline(),
        c.q.text("metric"),
        scale=c.q.scale() or HOUR,
    )


ROUTES: tuple[Route, ...] = (
    Route(
        "/models",
        lambda c: c.data.models(),
        page=lambda ms, data, links: pages.models_page(ms, data.namespace, links),
    ),
    Route("/models/{model}", _model_page, page=lambda p, _, links: pages.model_page(p, links)),
    Route("/api/models", lambda c: c.data.models()),
    Route("/api/models/{model}", lambda c: c.data.model_summary(c.model)),
    Route("/api/models/{model}/windows", lambda c: c.data.windows(c.model, c.q.scale() or HOUR)),
    Route("/api/models/{model}/heatmap", _heatmap),
    Route("/api/models/{model}/decisions", _decisions),
    Route("/api/models/{model}/features/{feature}", _feature),
    Route("/api/models/{model}/alerts", lambda c: c.data.alerts(c.model)),
    Route("/api/models/{model}/page", _model_page),
    Route("/api/models/{model}/performance", performance.build),
    Route("/models/{model}/performance", performance.build, page=performance.page),
)
"""Every dashboard route. A new page: a ``Route`` here, its read in :mod:`.data`, its
HTML in :mod:`.pages` (see docs/architecture.md, "Where things go")."""


@dataclass(frozen=True)
class Dashboard:
    """What every view of one worker shares: the namespaces, the catalog, the links."""

    source: DashboardSource
    catalog: Catalog
    links: Links
    live: DashboardData

    def open(self, raw: Mapping[str, str]) -> tuple[DashboardData, Links]:
        """The data and links of the requested namespace (runs in a thread: it may read)."""
        ns = raw.get("namespace") or self.source.live
        if ns == self.source.live:
            return self.live, self.links
        if not valid_namespace(ns):
            msg = f"bad namespace {ns!r} (letters, digits, '.', '_' and '-', at most 64)"
            raise BadRequestError(msg)
        reader = self.source.open(ns)
        if reader is None:
            msg = (
                f"no namespace {ns!r}: the live one is {self.source.live!r}; a replay's "
                "exists once `driftstream replay` has written it"
            )
            raise NotFoundError(msg)
        return DashboardData(reader, self.catalog), dataclasses.replace(self.links, namespace=ns)


class DashboardView(View):
    """The one view of every route: open the namespace, read, answer (404/400 alike)."""

    page_route: ClassVar[Route]
    dashboard: ClassVar[Dashboard]

    async def get(self, request: Request, **path: Any) -> Response:
        """Answer a GET of this view's route."""
        raw = {str(k): str(v) for k, v in request.query.items()}
        board = self.dashboard
        opened: list[tuple[DashboardData, Links]] = []

        def read() -> Any:
            opened.append(board.open(raw))
            call = Call(opened[0][0], Query(raw), {k: str(v) for k, v in path.items()})
            return self.page_route.build(call)

        try:
            value = await asyncio.to_thread(read)
        except (NotFoundError, BadRequestError) as exc:
            status = 404 if isinstance(exc, NotFoundError) else 400
            if self.page_route.page is None:
                return self.json({"error": str(exc)}, status=status)
            title = "Not found" if status == 404 else "Bad request"
            ns, links = (opened[0][0].namespace, opened[0][1]) if opened else (None, board.links)
            page = pages.message_page(
                title, str(exc), namespace=ns or board.source.live, links=links
            )
            return self.html(page, status=status)
        data, links = opened[0]
        if self.page_route.page is None:
            return self.json(plain(value))
        return self.html(self.page_route.page(value, data, links))


def register_dashboard(
    app: faust.App, source: DashboardSource, catalog: Catalog, *, links: Links
) -> None:
    """Attach the dashboard pages and the JSON API to a worker's faust app.

    ``links.base`` is the path the pages' own links start with: the path of
    ``alerts.dashboard_base_url`` when a reverse proxy serves the dashboard under one
    (and strips it before the worker), so page links and alert links agree. Who may
    read is decided before any view runs (:mod:`stream.web.guard`).
    """
    live = source.open(source.live)
    if live is None:  # a source that cannot open its own namespace is a wiring bug
        msg = f"web: the dashboard source cannot open its live namespace {source.live!r}"
        raise TypeError(msg)
    board = Dashboard(source, catalog, links, DashboardData(live, catalog))
    for route in ROUTES:
        name = "View" + "".join(p.strip("{}").title() for p in route.path.split("/"))
        view = type(name, (DashboardView,), {"page_route": route, "dashboard": board})
        app.page(route.path)(view)

    @app.page("/dashboard")
    class DashboardRedirect(View):
        async def get(self, request: Request) -> Response:
            return self.text("", status=302, headers={"Location": str(links.models())})
