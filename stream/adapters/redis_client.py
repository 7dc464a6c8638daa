"""The one place Redis clients are built: URL, ACL user, TLS, and clear auth errors.

A refused credential is a :class:`RedisAuthError`: still a ``redis.AuthenticationError``
(so the worker's retry loop treats it like any outage) and a
:class:`~stream.errors.BackendAuthError`, whose one line names the server (URL with the
password masked), the user and the mechanism, never the secret. The same goes for an
ACL user that lacks a permission (:class:`RedisPermissionError`).
"""

from __future__ import annotations

from typing import Any, cast

import redis
from redis.cluster import RedisCluster
from redis.connection import Connection, SSLConnection, UnixDomainSocketConnection

from stream.errors import BackendAuthError
from stream.redact import redact_url, scrub

__all__ = ["RedisAuthError", "RedisPermissionError", "redis_client"]


class RedisAuthError(BackendAuthError, redis.AuthenticationError):
    """Redis refused the credentials (WRONGPASS, NOAUTH)."""


class RedisPermissionError(BackendAuthError, redis.exceptions.NoPermissionError):
    """The ACL user may not run a command or touch a key (NOPERM)."""


class _Explained:
    """Mixin: turn Redis' auth answers into one line naming server, user and mechanism."""

    driftstream_url: str = "redis://?"
    username: str | None
    password: str | None

    def _where(self) -> str:
        user = self.username or "default"
        how = "AUTH with ACL user and password" if self.username else "AUTH with a password"
        if not (self.username or self.password):
            how = "no credentials sent"
        return f"redis at {redact_url(self.driftstream_url)} (user {user!r}, {how})"

    def read_response(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().read_response(*args, **kwargs)  # type: ignore[misc]
        except redis.exceptions.NoPermissionError as exc:
            text = scrub(str(exc), [self.password])
            msg = f"{self._where()}: permission denied: {text}"
            raise RedisPermissionError(msg) from None
        except redis.AuthenticationError as exc:
            if isinstance(exc, BackendAuthError):
                raise
            text = scrub(str(exc), [self.password])
            msg = f"{self._where()}: authentication failed: {text}"
            raise RedisAuthError(msg) from None


class _TcpConnection(_Explained, Connection):
    pass


class _TlsConnection(_Explained, SSLConnection):
    pass


class _UnixConnection(_Explained, UnixDomainSocketConnection):
    pass


_CLASSES = {"redis": _TcpConnection, "rediss": _TlsConnection, "unix": _UnixConnection}


def redis_client(cfg: Any) -> redis.Redis:
    """A client from the ``redis`` settings section (URL, ACL user, TLS files)."""
    url = cfg.url.get_secret_value()
    scheme = url.partition("://")[0]
    conn_class = type(
        f"Driftstream{_CLASSES[scheme].__name__}",
        (_CLASSES[scheme],),
        {"driftstream_url": url},
    )
    kwargs: dict[str, Any] = {
        "socket_timeout": cfg.socket_timeout_ms / 1000,
        "socket_connect_timeout": cfg.socket_timeout_ms / 1000,
        "health_check_interval": 30,
        "connection_class": conn_class,
    }
    if cfg.username:
        kwargs["username"] = cfg.username
    if cfg.password is not None:
        kwargs["password"] = cfg.password.get_secret_value()
    if cfg.tls_ca_file:
        kwargs["ssl_ca_certs"] = cfg.tls_ca_file
    if cfg.tls_cert_file:
        kwargs["ssl_certfile"] = cfg.tls_cert_file
    if cfg.tls_key_file:
        kwargs["ssl_keyfile"] = cfg.tls_key_file
    if getattr(cfg, "cluster", False):
        # One client API for both: every multi-key script and MULTI/EXEC touches one
        # hash tag, so the cluster client runs the same calls (docs/deployment.md).
        return cast("redis.Redis", RedisCluster.from_url(url, **kwargs))
    return redis.Redis.from_url(url, **kwargs)
