"""Who may read the dashboard: the token, and the sessions it opens (pure, no I/O).

With ``web.token`` unset everything is open (a loopback or private deployment). With
it set, every route except ``/health`` and ``/metrics`` needs one of:

1. ``Authorization: Bearer <token>`` (curl, scripts, a reverse proxy);
2. a session cookie, opened by posting the token to ``/login`` (or, once, by a
   ``?token=`` link, which is answered with the cookie and a redirect to the same URL
   without the token, so it never stays in the address bar or the history).

A session cookie is ``v1.<issued ms>.<nonce>.<mac>``: an HMAC-SHA256, under the
session secret, of when it was issued and a random nonce. It never holds the token.
It expires after ``web.session_ttl_ms``; ``/logout`` revokes its nonce (the server
keeps revoked nonces until they would have expired anyway); changing
``web.session_secret`` revokes every session without changing the token, and the
previous secret (``web.session_secret_previous``) still verifies while sessions
signed with it expire, so a rotation logs nobody out. Without a session secret the
key is derived from the token: every worker agrees, and a new token ends every
session. Comparisons are constant-time.

>>> gate = SessionGate("s3cret", ttl_ms=60_000)
>>> gate.bearer_ok({"Authorization": "Bearer s3cret"}), gate.token_ok("nope")
(True, False)
>>> cookie = gate.issue(now_ms=1_000, nonce="n1")
>>> gate.verify(cookie, now_ms=2_000), gate.verify(cookie, now_ms=61_001)
('n1', None)
>>> gate.verify(cookie.replace("v1.1000", "v1.9000"), now_ms=2_000) is None
True
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping

__all__ = ["COOKIE", "SessionGate"]

COOKIE = "driftstream_session"
_VERSION = "v1"
_KEY_SALT = b"driftstream-dashboard-session-v1"


def _key(secret: str) -> bytes:
    return hmac.new(secret.encode(), _KEY_SALT, hashlib.sha256).digest()


class SessionGate:
    """Checks tokens and signs/verifies session cookies (``token=None``: open)."""

    def __init__(
        self,
        token: str | None,
        *,
        ttl_ms: int = 12 * 3_600_000,
        secret: str | None = None,
        previous_secret: str | None = None,
    ) -> None:
        self._token = token or None
        self.ttl_ms = ttl_ms
        base = secret or (f"token:{token}" if token else "")
        self._keys = [_key(base)] + ([_key(previous_secret)] if previous_secret else [])

    @property
    def enabled(self) -> bool:
        """A token is configured."""
        return self._token is not None

    def token_ok(self, offered: str | None) -> bool:
        """``offered`` is the token (constant-time)."""
        if self._token is None or offered is None:
            return False
        return hmac.compare_digest(offered.encode(), self._token.encode())

    def bearer_ok(self, headers: Mapping[str, str]) -> bool:
        """The request carries ``Authorization: Bearer <token>``."""
        auth = headers.get("Authorization") or headers.get("authorization") or ""
        scheme, _, value = auth.partition(" ")
        return scheme.lower() == "bearer" and self.token_ok(value.strip())

    def _mac(self, key: bytes, issued_ms: int, nonce: str) -> str:
        return hmac.new(key, f"{_VERSION}.{issued_ms}.{nonce}".encode(), "sha256").hexdigest()

    def issue(self, now_ms: int, nonce: str | None = None) -> str:
        """A new session cookie value, issued now."""
        nonce = nonce or secrets.token_hex(16)
        return f"{_VERSION}.{now_ms}.{nonce}.{self._mac(self._keys[0], now_ms, nonce)}"

    def verify(self, cookie: str | None, now_ms: int) -> str | None:
        """The session's nonce when ``cookie`` is genuine and unexpired, else None.

        Revocation is the caller's: it checks the nonce against its revoked set.
        """
        if self._token is None or not cookie:
            return None
        parts = cookie.split(".")
        if len(parts) != 4 or parts[0] != _VERSION or not parts[1].isdigit():
            return None
        issued, nonce, mac = int(parts[1]), parts[2], parts[3]
        if not (issued <= now_ms < issued + self.ttl_ms) or not nonce.isalnum():
            return None
        for key in self._keys:
            if hmac.compare_digest(mac.encode(), self._mac(key, issued, nonce).encode()):
                return nonce
        return None

    def expires_ms(self, cookie: str) -> int:
        """When a cookie that :meth:`verify` accepted stops being valid."""
        return int(cookie.split(".")[1]) + self.ttl_ms
