"""Wrong Kafka credentials are one clear line, not a 30-second "Unable to bootstrap".

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
from typing import Any

from aiokafka.conn import create_conn
from aiokafka.errors import KafkaError, SaslAuthenticationFailed
from aiokafka.helpers import create_ssl_context

from stream.errors import BackendAuthError
from stream.redact import scrub

__all__ = ["KafkaAuthError", "verify_credentials"]

_TIMEOUT_MS = 10_000
_CLOSE_TICKS = 5
_checked: set[str] = set()


class KafkaAuthError(BackendAuthError):
    """The broker refused our SASL credentials or we do not trust its certificate."""


def _fingerprint(kafka: Any) -> str:
    secret = kafka.sasl_password.get_secret_value() if kafka.sasl_password else ""
    parts = (
        kafka.bootstrap_servers,
        kafka.security_protocol,
        kafka.sasl_mechanism or "",
        kafka.sasl_username or "",
        hashlib.sha256(secret.encode()).hexdigest(),
        kafka.ssl_cafile or "",
        kafka.ssl_certfile or "",
    )
    return "|".join(parts)


async def _login(kafka: Any, host: str, port: int) -> None:
    ctx = None
    if kafka.security_protocol in ("SSL", "SASL_SSL"):
        ctx = create_ssl_context(
            cafile=kafka.ssl_cafile, certfile=kafka.ssl_certfile, keyfile=kafka.ssl_keyfile
        )
    try:
        conn = await create_conn(
            host,
            port,
            client_id=kafka.client_id,
            security_protocol=kafka.security_protocol,
            ssl_context=ctx,
            sasl_mechanism=kafka.sasl_mechanism or "PLAIN",
            sasl_plain_username=kafka.sasl_username,
            sasl_plain_password=(
                kafka.sasl_password.get_secret_value() if kafka.sasl_password else None
            ),
            request_timeout_ms=_TIMEOUT_MS,
        )
        conn.close()
    finally:
        # aiokafka closes its (TLS) transport asynchronously, also when the login failed:
        # let the loop finish that before asyncio.run() tears it down.
        for _ in range(_CLOSE_TICKS):
            await asyncio.sleep(0.01)


def _check(kafka: Any) -> KafkaAuthError | None:
    how = kafka.security_protocol
    if kafka.sasl_mechanism:
        how += f" {kafka.sasl_mechanism} as user {kafka.sasl_username!r}"
    secret = kafka.sasl_password.get_secret_value() if kafka.sasl_password else None
    for server in kafka.bootstrap_servers.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            asyncio.run(asyncio.wait_for(_login(kafka, host, int(port)), _TIMEOUT_MS / 1000))
        except SaslAuthenticationFailed as exc:
            text = scrub(str(exc), [secret])
            return KafkaAuthError(f"kafka at {server} ({how}): login refused: {text}")
        except ssl.SSLCertVerificationError as exc:
            ca = kafka.ssl_cafile or "the system CA store"
            msg = (
                f"kafka at {server} ({how}): TLS certificate not trusted by {ca}: "
                f"{exc.verify_message}"
            )
            return KafkaAuthError(msg)
        except (OSError, TimeoutError, KafkaError):
            continue  # not reachable: the clients' own errors and retries say so
        return None
    return None


def verify_credentials(kafka: Any) -> None:
    """Raise :class:`KafkaAuthError` when a secured broker refuses these settings.

    Raises:
        KafkaAuthError: one line naming server, protocol, mechanism and user.
    """
    if kafka.security_protocol == "PLAINTEXT":
        return
    key = _fingerprint(kafka)
    if key in _checked:
        return
    # Its own thread and event loop: callers may already run inside one.
    with ThreadPoolExecutor(1, thread_name_prefix="driftstream-kafka-auth") as pool:
        problem = pool.submit(_check, kafka).result()
    if problem is not None:
        raise problem
    _checked.add(key)
