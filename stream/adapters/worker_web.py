"""What a worker's web views are given: its status, its dashboards and its sessions.

The web layer's ports (:mod:`stream.web.ports`) answered for one running worker:
:class:`WorkerWebStatus` reads the ingest service for ``/health`` and renders its
Prometheus counters for ``/metrics``; :func:`worker_web` builds it with the Redis
dashboard source and session store. The runtime (the composition root) calls it and
hands the result to ``register_views``. The service is typed by what is read of it, so
this module does not import the runtime above it.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol

from prometheus_client.registry import Collector

from stream.adapters.prometheus import ControlCollector, IngestCollector, render
from stream.adapters.prometheus_labels import HealthWaitCollector, LabelCollector
from stream.adapters.redis_dashboard import RedisNamespaces, RedisSessions

__all__ = ["WorkerWeb", "WorkerWebStatus", "worker_web"]


class _Service(Protocol):
    """What is read of ``stream.runtime.IngestService``."""

    namespace: str
    plane: Any
    health: Any
    clock: Any
    labels: Any
    control: Any
    lag: dict[int, int]
    redis: Any

    def health_problem(self, now_ms: int) -> str | None: ...


class WorkerWebStatus:
    """``/health`` and ``/metrics`` of one worker."""

    def __init__(self, service: _Service) -> None:
        self._service = service
        self._collector = IngestCollector(
            stats=lambda: service.plane.stats,
            lag=lambda: dict(service.lag),
            health=lambda: {
                "redis": service.health.redis_errors,
                "kafka": service.health.kafka_errors,
            },
            late_hours=service.plane.late_by_hour,
            healthy=lambda: service.health_problem(service.clock.now_ms()) is None,
        )

    def health(self) -> tuple[bool, dict[str, Any]]:
        """(healthy, details): unhealthy whenever the worker cannot make progress.

        The causes and their order are ``stream.pipeline.health``'s.
        """
        service = self._service
        plane = service.plane
        problem = service.health_problem(service.clock.now_ms())
        body = {
            "status": "ok" if problem is None else "unhealthy",
            "problem": problem,
            "partitions": plane.assigned,
            "last_flush_ms": plane.stats.last_flush_ms,
            "events_consumed": plane.stats.consumed,
            "namespace": service.namespace,
        }
        return problem is None, body

    def metrics(self) -> bytes:
        """The worker's counters (and the control plane's and label consumer's, when they run)."""
        labels = self._service.labels
        control = self._service.control
        more: list[Collector] = []
        if control is not None:
            more.append(ControlCollector(lambda: control.stats))
        if labels is not None:
            more.append(LabelCollector(lambda: labels.plane.stats))
            evaluator = labels.health_eval
            if evaluator is not None:
                more.append(HealthWaitCollector(lambda: dict(evaluator.counts), evaluator.waiting))
        return render(self._collector, *more)


class WorkerWeb(NamedTuple):
    """The keyword arguments of ``stream.web.views.register_views`` for a worker."""

    status: WorkerWebStatus
    dashboards: RedisNamespaces
    sessions: RedisSessions


def worker_web(service: _Service) -> WorkerWeb:
    """The web ports of a worker: its status, its namespaces, its sessions (all in Redis)."""
    return WorkerWeb(
        WorkerWebStatus(service),
        RedisNamespaces(service.redis, service.namespace),
        RedisSessions(service.redis, service.namespace),
    )
