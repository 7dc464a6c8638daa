"""Are Kafka and Redis there? One line naming the backend and its address, in seconds.

Commands check the backends they need before their clients start: a client library
left alone waits its own timeouts (kafka-python's admin 30 s) and then fails with
its own exception name. :func:`explain` turns the client errors that still escape
mid-run into the same kind of line.
"""

from __future__ import annotations

import socket
from typing import Any

import redis

from stream.adapters.redis_client import redis_client
from stream.errors import BackendUnavailableError

__all__ = [
    "BackendUnavailableError",
    "check_kafka",
    "check_redis",
    "explain",
    "kafka_down",
    "redis_down",
    "unreachable",
]

CONNECT_TIMEOUT_S = 3.0


def unreachable(servers: list[str]) -> str | None:
    """None when a bootstrap server accepts TCP, else why not (fails in ms, not seconds)."""
    problem = "no bootstrap servers"
    for server in servers:
        host, _, port = server.strip().rpartition(":")
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S):
                return None
        except (OSError, ValueError) as exc:
            problem = f"{server}: {getattr(exc, 'strerror', None) or exc}"
    return problem


def kafka_down(problem: str) -> BackendUnavailableError:
    """``kafka: cannot reach a bootstrap server (host:port: why)``, naming the setting."""
    return BackendUnavailableError(
        f"kafka: cannot reach a bootstrap server ({problem}); "
        "check kafka.bootstrap_servers / DRIFTSTREAM_KAFKA_BOOTSTRAP"
    )


def redis_down(cfg: Any, problem: object) -> BackendUnavailableError:
    """``redis: cannot reach redis://host:port/db (why)``; the URL's password is masked."""
    why = str(problem).strip().rstrip(".") or type(problem).__name__
    return BackendUnavailableError(
        f"redis: cannot reach {cfg.url} ({why}); check redis.url / DRIFTSTREAM_REDIS_URL"
    )


def check_kafka(kafka: Any) -> None:
    """Raise :class:`BackendUnavailableError` unless a bootstrap server of ``kafka`` accepts TCP."""
    down = unreachable(str(kafka.bootstrap_servers).split(","))
    if down is not None:
        raise kafka_down(down)


def check_redis(cfg: Any) -> None:
    """Raise :class:`BackendUnavailableError` unless Redis at ``cfg.url`` answers PING."""
    client = redis_client(cfg)
    try:
        client.ping()
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise redis_down(cfg, exc) from None
    except redis.RedisError as exc:
        msg = f"redis: {cfg.url}: {exc}"
        raise BackendUnavailableError(msg) from None
    finally:
        client.close()


def explain(exc: BaseException, settings: Any) -> str | None:
    """One line for a client library's connection error, or None when ``exc`` is not one."""
    if settings is None:
        return None
    if isinstance(exc, (redis.ConnectionError, redis.TimeoutError)):
        return str(redis_down(settings.redis, exc))
    module = type(exc).__module__
    if module.startswith(("kafka.", "aiokafka.")) and (
        "Connection" in type(exc).__name__
        or "Timeout" in type(exc).__name__
        or "NoBrokers" in type(exc).__name__
    ):
        problem = f"{settings.kafka.bootstrap_servers}: {type(exc).__name__} {exc}".strip()
        return str(kafka_down(problem))
    return None
