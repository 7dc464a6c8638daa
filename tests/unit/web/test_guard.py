"""The web guard in front of every route: token, sessions, redirects, headers, errors.

A real aiohttp server on loopback with the guard's middleware and stand-in routes; the
worker wiring (faust's routes off, the dashboard behind it) is proven on a real worker
in ``tests/e2e/test_dashboard.py``.
"""

from __future__ import annotations

import asyncio
import doctest
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

import stream.web.auth
from stream.web.auth import COOKIE, SessionGate
from stream.web.guard import Guard, Revocations
from stream.web.links import Links

TOKEN = "tok-S3CRET"  # noqa: S105 - a test token
HEADERS = ("Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options")


class Clock:
    def __init__(self) -> None:
        self.ms = 1_000_000

    def __call__(self) -> int:
        return self.ms


def app_with(guard: Guard) -> web.Application:
    async def html(request: web.Request) -> web.Response:
        return web.Response(text="<p>models</p>", content_type="text/html")

    async def api(request: web.Request) -> web.Response:
        return web.json_response([{"name": "m"}])

    async def boom(request: web.Request) -> web.Response:
        msg = "kaboom with internals"
        raise RuntimeError(msg)

    app = web.Application(middlewares=[guard.middleware])
    app.router.add_get("/health", api)
    app.router.add_get("/models", html)
    app.router.add_get("/models/{m}", html)
    app.router.add_get("/api/models", api)
    app.router.add_get("/router/{key}/", boom)  # like faust's router on a bad key
    return app


Scenario = Callable[[TestClient[Any, Any], Clock, set[str]], Awaitable[None]]


def serve(scenario: Scenario, *, token: str | None = TOKEN, prefix: str = "", **kw: Any) -> None:
    clock, revoked = Clock(), set[str]()
    gate = SessionGate(token, ttl_ms=3_600_000)
    guard = Guard(
        gate,
        Revocations(lambda n, _exp: revoked.add(n), lambda n: n in revoked),
        links=Links(prefix, session=gate.enabled),
        clock_ms=clock,
        **kw,
    )

    async def main() -> None:
        async with TestClient(TestServer(app_with(guard))) as client:
            await scenario(client, clock, revoked)

    asyncio.run(main())


def test_doctests() -> None:
    assert doctest.testmod(stream.web.auth).failed == 0


def test_no_route_answers_without_the_token() -> None:
    async def scenario(c: TestClient[Any, Any], clock: Clock, revoked: set[str]) -> None:
        for path in ("/models", "/models/x", "/", "/router/", "/router/x/", "/table/", "/nope"):
            r = await c.get(path, allow_redirects=False)
            assert r.status == 401, path
            assert "models</p>" not in await r.text()
            assert all(h in r.headers for h in HEADERS), path
        r = await c.get("/api/models")
        assert r.status == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")
        assert (await c.get("/api/models", headers={"Authorization": "Bearer x"})).status == 401
        assert (await c.get("/health")).status == 200  # probes stay open
        r = await c.get("/models")
        page = await r.text()
        assert 'method="post"' in page and 'name="next" value="/models"' in page

    serve(scenario)


def test_bearer_reads_and_errors_are_clean() -> None:
    async def scenario(c: TestClient[Any, Any], clock: Clock, revoked: set[str]) -> None:
        auth = {"Authorization": f"Bearer {TOKEN}"}
        r = await c.get("/api/models", headers=auth)
        assert r.status == 200 and await r.json() == [{"name": "m"}]
        r = await c.get("/router/x/", headers=auth)
        assert r.status == 500 and "kaboom" not in await r.text()
        r = await c.get("/nope", headers=auth)
        assert r.status == 404 and "Not found" in await r.text()
        r = await c.get("/api/nope", headers=auth)
        assert r.status == 404 and "error" in await r.json()
        r = await c.get("/", headers=auth, allow_redirects=False)
        assert r.status == 302 and r.headers["Location"] == "/models"

    serve(scenario)


def test_token_in_url_becomes_a_cookie_and_leaves_the_url() -> None:
    async def scenario(c: TestClient[Any, Any], clock: Clock, revoked: set[str]) -> None:
        r = await c.get("/api/models?token=wrong")
        assert r.status == 401
        r = await c.get(f"/models/m?window=hour:2026-01-01T00&token={TOKEN}", allow_redirects=False)
        assert r.status == 303
        assert r.headers["Location"] == "/p/models/m?window=hour:2026-01-01T00"
        cookie = r.headers["Set-Cookie"]
        assert TOKEN not in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
        assert "Secure" not in cookie  # plain http, base URL http, no proxy header
        assert "Path=/p/" in cookie
        r = await c.get(f"/api/models?token={TOKEN}", allow_redirects=False)
        assert r.status == 303 and "token" not in r.headers["Location"]
        # Behind the proxy the browser sends it for /p/…; the proxy strips /p.
        session = cookie.split(";")[0]
        r = await c.get("/api/models", headers={"Cookie": session})
        assert r.status == 200

    serve(scenario, prefix="/p")


@pytest.mark.parametrize(
    ("mode", "headers", "https_base", "secure"),
    [
        ("auto", {}, False, False),
        ("auto", {"X-Forwarded-Proto": "https"}, False, True),
        ("auto", {}, True, True),
        ("always", {}, False, True),
        ("never", {"X-Forwarded-Proto": "https"}, True, False),
    ],
)
def test_secure_cookie(mode: str, headers: dict[str, str], https_base: bool, secure: bool) -> None:
    async def scenario(c: TestClient[Any, Any], clock: Clock, revoked: set[str]) -> None:
        r = await c.post(
            "/login", data={"token": TOKEN, "next": "/models"}, headers=headers,
            allow_redirects=False,
        )  # fmt: skip
        assert r.status == 303
        assert ("; Secure" in r.headers["Set-Cookie"]) is secure

    serve(scenario, secure_cookies=mode, base_is_https=https_base)


def test_login_logout_expiry_and_revocation() -> None:
    async def scenario(c: TestClient[Any, Any], clock: Clock, revoked: set[str]) -> None:
        r = await c.post("/login", data={"token": "wrong", "next": "/models"})
        assert r.status == 401 and "not right" in await r.text()
        r = await c.post(
            "/login", data={"token": TOKEN, "next": "https://evil.example/"},
            allow_redirects=False,
        )  # fmt: skip
        assert r.status == 303 and r.headers["Location"] == "/models"  # no open redirect
        assert (await c.get("/models")).status == 200
        stolen = c.session.cookie_jar.filter_cookies(c.make_url("/"))[COOKIE].value

        r = await c.get("/logout", allow_redirects=False)
        assert r.status == 303 and r.headers["Location"] == "/login"
        assert "Max-Age=0" in r.headers["Set-Cookie"]
        assert len(revoked) == 1
        assert (await c.get("/models")).status == 401
        # A copy of the cookie taken before logout is dead too (revoked, not just cleared).
        r = await c.get("/models", headers={"Cookie": f"{COOKIE}={stolen}"})
        assert r.status == 401

        await c.post("/login", data={"token": TOKEN})
        assert (await c.get("/models")).status == 200
        clock.ms += 3_600_000  # the session's ttl
        assert (await c.get("/models")).status == 401

    serve(scenario)


def test_open_without_a_token_but_still_headers() -> None:
    async def scenario(c: TestClient[Any, Any], clock: Clock, revoked: set[str]) -> None:
        r = await c.get("/models")
        assert r.status == 200
        csp = r.headers["Content-Security-Policy"]
        assert "script-src" not in csp and "default-src 'none'" in csp
        assert "frame-ancestors 'none'" in csp and "'unsafe-inline'" not in csp
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["Referrer-Policy"] == "no-referrer"
        assert (await c.get("/router/x/", allow_redirects=False)).status == 500

    serve(scenario, token=None)


def test_session_secret_rotation() -> None:
    old = SessionGate("t", secret="one")
    cookie = old.issue(1_000)
    assert SessionGate("t", secret="two").verify(cookie, 2_000) is None  # rotated: revoked
    assert SessionGate("t", secret="two", previous_secret="one").verify(cookie, 2_000)
    assert SessionGate("t2").verify(SessionGate("t").issue(1_000), 2_000) is None
    assert SessionGate(None).verify(cookie, 2_000) is None
    for bad in ("", "v1", "v1.x.n.m", "v2.1000.n.m", cookie + "0", "v1.1000.n-1.m"):
        assert old.verify(bad, 2_000) is None
