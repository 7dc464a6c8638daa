"""The optional dashboard token: who may read the dashboard and its API.

With ``web.token`` unset everything is open (a loopback or private deployment). With
it set, the dashboard pages and ``/api/*`` need one of:

1. ``Authorization: Bearer <token>`` (curl, scripts, a reverse proxy);
2. ``?token=<token>`` in the URL (a browser, the first time; the answer sets 3.);
3. the ``driftstream_token`` cookie: an HMAC of the token, not the token itself,
   ``HttpOnly; SameSite=Lax`` so a link from a pager still carries it.

``/health`` and ``/metrics`` stay open (probes and Prometheus). Comparisons are
constant-time.

>>> gate = TokenGate("s3cret")
>>> gate.allows({"Authorization": "Bearer s3cret"}, {}, {})
True
>>> gate.allows({}, {"token": "nope"}, {}), gate.allows({}, {}, {COOKIE: gate.cookie_value()})
(False, True)
>>> TokenGate(None).allows({}, {}, {})
True
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

__all__ = ["COOKIE", "TokenGate"]

COOKIE = "driftstream_token"
_COOKIE_SALT = b"driftstream-dashboard-cookie-v1"


class TokenGate:
    """Checks a request's credentials against the configured token (None: open)."""

    def __init__(self, token: str | None) -> None:
        self._token = token or None

    @property
    def enabled(self) -> bool:
        """A token is configured."""
        return self._token is not None

    def cookie_value(self) -> str:
        """What the cookie holds: an HMAC of the token (the token never sits in a cookie)."""
        if self._token is None:
            return ""
        return hmac.new(self._token.encode(), _COOKIE_SALT, hashlib.sha256).hexdigest()

    def _same(self, offered: str | None, expected: str) -> bool:
        return offered is not None and hmac.compare_digest(offered.encode(), expected.encode())

    def by_query(self, query: Mapping[str, str]) -> bool:
        """The URL carries the right ``token``."""
        return self._token is not None and self._same(query.get("token"), self._token)

    def allows(
        self,
        headers: Mapping[str, str],
        query: Mapping[str, str],
        cookies: Mapping[str, str],
    ) -> bool:
        """True when the request may read (always, without a token)."""
        if self._token is None:
            return True
        auth = headers.get("Authorization") or headers.get("authorization") or ""
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and self._same(value.strip(), self._token):
            return True
        return self.by_query(query) or self._same(cookies.get(COOKIE), self.cookie_value())
