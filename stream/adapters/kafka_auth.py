"""Kafka credentials: ONE translation of the ``kafka`` settings, and its login check.

:func:`kafka_access` turns the settings into a client-neutral :class:`KafkaAccess`
(servers, protocol, SASL login, TLS files); thin renderers give each client library
its keyword arguments (:func:`aiokafka_options`, :func:`kafka_python_options`,
:func:`faust_credentials`, :func:`librdkafka_options` for the worker's fetcher).
Nothing else reads the security settings.

Wrong credentials are one clear line, not a 30-second "Unable to bootstrap".
kafka-python and aiokafka log a refused SASL login and keep retrying until their
bootstrap timeout, then report only that no broker answered. Before the first client
of a secured configuration is built, :func:`verify_credentials` opens ONE connection
to the first bootstrap server that answers and performs the TLS handshake and the SASL
login itself; a definite refusal raises :class:`KafkaAuthError` naming the server, the
protocol, the mechanism and the user (never the password). Anything else (the broker
is down, a timeout) is left to the clients' own retries and errors. Done once per
process and configuration; plaintext configurations are not checked.
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import faust
from aiokafka.conn import create_conn
from aiokafka.errors import KafkaError, SaslAuthenticationFailed
from aiokafka.helpers import create_ssl_context

from stream.errors import BackendAuthError
from stream.redact import scrub

__all__ = [
    "KafkaAccess",
    "KafkaAuthError",
    "aiokafka_options",
    "faust_credentials",
    "kafka_access",
    "kafka_python_options",
    "librdkafka_options",
    "ssl_context",
    "verify_credentials",
]

_TIMEOUT_MS = 10_000
_CLOSE_TICKS = 5
_checked: set[str] = set()


class KafkaAuthError(BackendAuthError):
    """The broker refused our SASL credentials or we do not trust its certificate."""


@dataclass(frozen=True)
class KafkaAccess:
    """How to reach and log in to Kafka, said once and for every client library."""

    servers: tuple[str, ...]
    client_id: str
    protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    cafile: str | None = None
    certfile: str | None = None
    keyfile: str | None = None

    @property
    def tls(self) -> bool:
        """Whether connections are TLS (``SSL`` or ``SASL_SSL``)."""
        return self.protocol in ("SSL", "SASL_SSL")

    @property
    def sasl(self) -> bool:
        """Whether connections log in with SASL (``SASL_PLAINTEXT`` or ``SASL_SSL``)."""
        return self.protocol.startswith("SASL")

    @property
    def bootstrap(self) -> str:
        """The servers as the settings spell them: ``host:port,host:port``."""
        return ",".join(self.servers)


def kafka_access(kafka: Any) -> KafkaAccess:
    """The ``kafka`` settings section as a :class:`KafkaAccess` (pure: no connection)."""
    return KafkaAccess(
        servers=tuple(kafka.bootstrap_servers.split(",")),
        client_id=kafka.client_id,
        protocol=kafka.security_protocol,
        sasl_mechanism=kafka.sasl_mechanism,
        username=kafka.sasl_username,
        password=kafka.sasl_password.get_secret_value() if kafka.sasl_password else None,
        cafile=kafka.ssl_cafile,
        certfile=kafka.ssl_certfile,
        keyfile=kafka.ssl_keyfile,
    )


def ssl_context(access: KafkaAccess) -> ssl.SSLContext | None:
    """The TLS context of a TLS configuration (its CA and client files), else None."""
    if not access.tls:
        return None
    context: ssl.SSLContext = create_ssl_context(
        cafile=access.cafile, certfile=access.certfile, keyfile=access.keyfile
    )
    return context


def _sasl_options(access: KafkaAccess) -> dict[str, Any]:
    if not access.sasl_mechanism:
        return {}
    opts: dict[str, Any] = {
        "sasl_mechanism": access.sasl_mechanism,
        "sasl_plain_username": access.username,
    }
    if access.password is not None:
        opts["sasl_plain_password"] = access.password
    return opts


def aiokafka_options(access: KafkaAccess) -> dict[str, Any]:
    """Keyword arguments for aiokafka clients (TLS as an SSL context)."""
    opts: dict[str, Any] = {
        "bootstrap_servers": access.bootstrap,
        "client_id": access.client_id,
        "security_protocol": access.protocol,
        **_sasl_options(access),
    }
    if access.tls:
        opts["ssl_context"] = ssl_context(access)
    return opts


def kafka_python_options(access: KafkaAccess) -> dict[str, Any]:
    """Keyword arguments for kafka-python clients (TLS as file paths)."""
    opts: dict[str, Any] = {
        "bootstrap_servers": list(access.servers),
        "client_id": access.client_id,
        "security_protocol": access.protocol,
        **_sasl_options(access),
    }
    for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
        value = getattr(access, name.removeprefix("ssl_"))
        if value:
            opts[name] = value
    return opts


def librdkafka_options(access: KafkaAccess) -> dict[str, Any]:
    """confluent-kafka (librdkafka) properties: the same servers, SASL login and TLS files.

    TLS verifies the broker's certificate against ``cafile`` (or the system store) and
    its host name, as the aiokafka context does.
    """
    opts: dict[str, Any] = {
        "bootstrap.servers": access.bootstrap,
        "client.id": access.client_id,
        "security.protocol": access.protocol.lower(),
    }
    if access.sasl_mechanism:
        opts["sasl.mechanism"] = access.sasl_mechanism
        if access.username is not None:
            opts["sasl.username"] = access.username
        if access.password is not None:
            opts["sasl.password"] = access.password
    if access.tls:
        opts["ssl.endpoint.identification.algorithm"] = "https"
        for key, value in (
            ("ssl.ca.location", access.cafile),
            ("ssl.certificate.location", access.certfile),
            ("ssl.key.location", access.keyfile),
        ):
            if value:
                opts[key] = value
    return opts


def faust_credentials(access: KafkaAccess) -> Any:
    """Credentials for faust's own Kafka connections: the same SASL/TLS as ours."""
    context = ssl_context(access)
    if access.sasl:
        return faust.SASLCredentials(
            username=access.username,
            password=access.password,
            mechanism=access.sasl_mechanism or "PLAIN",
            ssl_context=context,
        )
    if context is not None:
        return faust.SSLCredentials(context)
    return None


def _fingerprint(access: KafkaAccess) -> str:
    parts = (
        access.bootstrap,
        access.protocol,
        access.sasl_mechanism or "",
        access.username or "",
        hashlib.sha256((access.password or "").encode()).hexdigest(),
        access.cafile or "",
        access.certfile or "",
    )
    return "|".join(parts)


async def _login(access: KafkaAccess, host: str, port: int) -> None:
    opts = aiokafka_options(access)
    del opts["bootstrap_servers"]
    opts.setdefault("sasl_mechanism", "PLAIN")
    try:
        conn = await create_conn(host, port, request_timeout_ms=_TIMEOUT_MS, **opts)
        conn.close()
    finally:
        # aiokafka closes its (TLS) transport asynchronously, also when the login failed:
        # let the loop finish that before asyncio.run() tears it down.
        for _ in range(_CLOSE_TICKS):
            await asyncio.sleep(0.01)


def _check(access: KafkaAccess) -> KafkaAuthError | None:
    how = access.protocol
    if access.sasl_mechanism:
        how += f" {access.sasl_mechanism} as user {access.username!r}"
    for server in access.servers:
        host, _, port = server.strip().rpartition(":")
        try:
            asyncio.run(asyncio.wait_for(_login(access, host, int(port)), _TIMEOUT_MS / 1000))
        except SaslAuthenticationFailed as exc:
            text = scrub(str(exc), [access.password])
            return KafkaAuthError(f"kafka at {server} ({how}): login refused: {text}")
        except ssl.SSLCertVerificationError as exc:
            ca = access.cafile or "the system CA store"
            msg = (
                f"kafka at {server} ({how}): TLS certificate not trusted by {ca}: "
                f"{exc.verify_message}"
            )
            return KafkaAuthError(msg)
        except (OSError, TimeoutError, KafkaError):
            continue  # not reachable: the clients' own errors and retries say so
        return None
    return None


def verify_credentials(access: KafkaAccess) -> None:
    """Raise :class:`KafkaAuthError` when a secured broker refuses these settings.

    Raises:
        KafkaAuthError: one line naming server, protocol, mechanism and user.
    """
    if access.protocol == "PLAINTEXT":
        return
    key = _fingerprint(access)
    if key in _checked:
        return
    # Its own thread and event loop: callers may already run inside one.
    with ThreadPoolExecutor(1, thread_name_prefix="driftstream-kafka-auth") as pool:
        problem = pool.submit(_check, access).result()
    if problem is not None:
        raise problem
    _checked.add(key)
