"""Every HTTP answer of a worker passes here: the token, sessions, headers, errors.

One aiohttp middleware in front of all routes (ours and faust's own), so no route can
forget the token:

1. ``/health`` and ``/metrics`` stay open (probes, Prometheus).
2. ``/login`` (GET: the form; POST: the token → a session cookie → back to ``next``)
   and ``/logout`` (revokes the session, clears the cookie).
3. With a token set, anything else needs the Bearer header or a live session, else
   401 (JSON under ``/api/``, the login form elsewhere) — unknown paths included, so
   nothing about the server is told before the token. A ``?token=`` in any URL is
   answered with the cookie and a 303 to the same URL without it.
4. ``/`` is the dashboard (a redirect to the models page).
5. Errors: unknown paths are a plain 404, any exception a generic 500 (logged here,
   never shown); every answer gets the security headers (CSP with no script at all,
   ``frame-ancestors 'none'``, nosniff, no referrer) and ``Cache-Control: no-store``.

faust's built-in ``/router``, ``/table``, ``/graph`` and ``/performance`` blueprints are
switched off by :func:`disable_faust_routes` before the web server exists.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import faust
from aiohttp import web

from stream.web import pages
from stream.web.auth import COOKIE, SessionGate
from stream.web.links import Links

__all__ = [
    "OPEN_PATHS",
    "Guard",
    "Revocations",
    "disable_faust_routes",
    "security_headers",
]

log = logging.getLogger("driftstream.web")

OPEN_PATHS = frozenset({"/health", "/metrics"})
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Revocations:
    """Where revoked session nonces live (Redis in a worker: every worker sees them)."""

    revoke: Callable[[str, int], None]  # (nonce, expires_ms)
    is_revoked: Callable[[str], bool]


def disable_faust_routes(app: faust.App) -> None:
    """Switch off faust's own blueprints (call before any ``app.page``)."""
    conf: Any = app.conf
    conf.web_router_enabled = False
    conf.web_tables_enabled = False
    conf.web_graph_enabled = False
    conf.web_metrics_enabled = False
    conf.web_stats_enabled = False


def _style_hash() -> str:
    """CSP source of the one inline ``<style>`` block the pages carry (no inline script)."""
    html = pages.shell("", "", namespace="", links=Links(""))
    m = re.search(r"<style>(.*?)</style>", html, re.DOTALL)
    body = m.group(1) if m else ""
    digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
    return f"'sha256-{digest}'"


def security_headers() -> dict[str, str]:
    """Headers every answer carries."""
    csp = (
        "default-src 'none'; "
        f"style-src {_style_hash()}; "
        "img-src 'self' data:; "
        "form-action 'self'; "
        "frame-ancestors 'none'; "
        "base-uri 'none'"
    )
    return {
        "Content-Security-Policy": csp,
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
    }


def _safe_next(value: str | None, default: str) -> str:
    """A local path to go back to after login (never another site: no open redirect)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return default
    return value


class Guard:
    """The middleware and the two auth routes of one worker's web server."""

    def __init__(
        self,
        gate: SessionGate,
        revocations: Revocations,
        *,
        links: Links,
        clock_ms: Callable[[], int],
        secure_cookies: str = "auto",
        base_is_https: bool = False,
    ) -> None:
        self.gate = gate
        self.revocations = revocations
        self.links = links
        self.clock_ms = clock_ms
        self.secure_cookies = secure_cookies
        self.base_is_https = base_is_https
        self.headers = security_headers()
        self.prefix = links.base or ""

    # -- helpers ------------------------------------------------------------------------
    def _secure(self, request: web.Request) -> bool:
        if self.secure_cookies != "auto":
            return self.secure_cookies == "always"
        proto = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
        return request.secure or proto == "https" or self.base_is_https

    def _cookie(self, request: web.Request, value: str, max_age_s: int) -> str:
        path = self.prefix + "/" if self.prefix else "/"
        secure = "; Secure" if self._secure(request) else ""
        return f"{COOKIE}={value}; Path={path}; HttpOnly; SameSite=Lax; Max-Age={max_age_s}{secure}"

    def _here(self, request: web.Request, *, drop_token: bool = False) -> str:
        url = request.rel_url
        if drop_token:
            url = url.with_query([(k, v) for k, v in url.query.items() if k != "token"])
        return f"{self.prefix}{url}"

    async def _session(self, request: web.Request) -> str | None:
        """The nonce of the request's live session, or None."""
        nonce = self.gate.verify(request.cookies.get(COOKIE), self.clock_ms())
        if nonce is None:
            return None
        revoked = await asyncio.to_thread(self.revocations.is_revoked, nonce)
        return None if revoked else nonce

    def _login_form(self, request: web.Request, status: int, error: str = "") -> web.Response:
        page = pages.login_page(
            next_url=self._here(request) if request.path != "/login" else "",
            namespace="–",  # nothing about the server before the token
            links=self.links,
            error=error,
        )
        return web.Response(text=page, status=status, content_type="text/html")

    def _unauthorized(self, request: web.Request) -> web.StreamResponse:
        if request.path.startswith("/api/"):
            return web.json_response(
                {"error": "unauthorized: send Authorization: Bearer <token>"},
                status=401,
                headers={"WWW-Authenticate": 'Bearer realm="driftstream"'},
            )
        return self._login_form(request, 401)

    def _redirect(
        self, location: str, status: int = 303, cookie: str | None = None
    ) -> web.Response:
        headers = {"Location": location}
        if cookie is not None:
            headers["Set-Cookie"] = cookie
        return web.Response(status=status, headers=headers)

    def _open_session(self, request: web.Request, location: str) -> web.Response:
        value = self.gate.issue(self.clock_ms())
        cookie = self._cookie(request, value, self.gate.ttl_ms // 1000)
        return self._redirect(location, cookie=cookie)

    # -- routes -------------------------------------------------------------------------
    async def _login(self, request: web.Request) -> web.StreamResponse:
        models = self.links.models() or "/models"
        if request.method == "POST":
            form = await request.post()
            token = form.get("token")
            target = _safe_next(str(form.get("next") or ""), models)
            if self.gate.token_ok(token if isinstance(token, str) else None):
                return self._open_session(request, target)
            return self._login_form(request, 401, "That token is not right.")
        if not self.gate.enabled or await self._session(request) is not None:
            return self._redirect(models, 302)
        return self._login_form(request, 200)

    async def _logout(self, request: web.Request) -> web.StreamResponse:
        cookie = request.cookies.get(COOKIE)
        nonce = self.gate.verify(cookie, self.clock_ms())
        if nonce is not None and cookie is not None:
            expires = self.gate.expires_ms(cookie)
            await asyncio.to_thread(self.revocations.revoke, nonce, expires)
        target = f"{self.prefix}/login" if self.gate.enabled else (self.links.models() or "/")
        return self._redirect(target, cookie=self._cookie(request, "", 0))

    async def _route(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if path in OPEN_PATHS:
            return await handler(request)
        if path == "/login":
            return await self._login(request)
        if path == "/logout":
            return await self._logout(request)
        if self.gate.enabled:
            if "token" in request.query:
                if not self.gate.token_ok(request.query.get("token")):
                    return self._unauthorized(request)
                return self._open_session(request, self._here(request, drop_token=True))
            if not self.gate.bearer_ok(request.headers) and await self._session(request) is None:
                return self._unauthorized(request)
        if path == "/":
            return self._redirect(self.links.models() or "/models", 302)
        return await handler(request)

    async def _answer(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await self._route(request, handler)
        except web.HTTPException as exc:
            if exc.status >= 500:
                log.error("%s %s: %s", request.method, request.path, exc.reason)
            if request.path.startswith("/api/") or exc.status != 404:
                return web.json_response({"error": exc.reason}, status=exc.status)
            page = pages.message_page(
                "Not found", f"No page at {request.path}.", namespace="–", links=self.links
            )
            return web.Response(text=page, status=404, content_type="text/html")
        except Exception:
            log.exception("%s %s failed", request.method, request.path)
            return web.json_response({"error": "internal error (see the worker log)"}, status=500)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """The aiohttp middleware: route, guard, headers."""
        response = await self._answer(request, handler)
        for name, value in self.headers.items():
            response.headers.setdefault(name, value)
        return response
