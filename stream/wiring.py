"""The composition root: settings → adapters → pipeline objects, for the worker and every command.

Every adapter that the settings configure is built here, by a typed factory, and
nowhere else: the worker (:mod:`stream.runtime`, :mod:`stream.runtime_labels`) and the
commands (:mod:`stream.commands`) ask this module for a Redis client, a store, the
Kafka client options, an evaluator or an alert publisher; none of them reads the
security settings or chooses a retention itself. A new backend's wiring goes here
(docs/architecture.md, "Composition root").

Importing this module loads the Kafka and Redis clients and the evaluation pipeline
(about a second): commands import it inside their function body, so
``driftstream --help`` stays fast (measured in docs/architecture.md).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict

import redis

from stream.adapters.alerts import AlertPublisher
from stream.adapters.forward import KafkaAlertSource, KafkaRejectSink, RedisDeliveryLog
from stream.adapters.kafka import BatchConsumer, KafkaDeadLetterSink, KafkaNoticeSink
from stream.adapters.kafka_auth import (
    KafkaAccess,
    aiokafka_options,
    faust_credentials,
    kafka_access,
    kafka_python_options,
    librdkafka_options,
    verify_credentials,
)
from stream.adapters.kafka_fetch import FetchingConsumer
from stream.adapters.redis_client import redis_client
from stream.adapters.redis_eval import RedisEvaluationStore
from stream.adapters.redis_health import RedisHealthStore
from stream.adapters.redis_keys import Keys
from stream.adapters.redis_labels import RedisLabelStore
from stream.adapters.redis_refs import RedisReferences
from stream.adapters.redis_store import RedisSketchStore
from stream.adapters.redis_windows import RedisWindowStore
from stream.contract import Limits
from stream.core.sketch.params import SketchParams
from stream.pipeline.dataplane import DataPlane
from stream.pipeline.evaluate import Evaluator, alert_encoder
from stream.pipeline.health_eval import HealthEvaluator
from stream.pipeline.ingest import IngestLimits
from stream.pipeline.labelplane import LabelPlane
from stream.pipeline.ports import DeadLetterSink, LabelStore, NoticeSink, SketchStore
from stream.settings import Settings

__all__ = [
    "Evaluation",
    "SystemClock",
    "alert_publisher",
    "alert_source",
    "dead_letter_sink",
    "delivery_log",
    "evaluation",
    "faust_broker_credentials",
    "health_evaluator",
    "kafka_aio",
    "kafka_sync",
    "kafka_verified",
    "label_plane",
    "label_store",
    "labels_wanted",
    "notice_sink",
    "connect_redis",
    "consumer",
    "data_plane",
    "references",
    "reject_sink",
    "sketch_store",
    "window_store",
]


class SystemClock:
    """Wall-clock ms: flush pacing, idle detection and live event-time bounds."""

    def now_ms(self) -> int:
        """Current UTC time in integer milliseconds."""
        return time.time_ns() // 1_000_000

    def since_ms(self) -> int:
        """Live, the event-time clock's earliest reading is now too."""
        return self.now_ms()


# -- Kafka ------------------------------------------------------------------------------
def kafka_verified(settings: Settings) -> KafkaAccess:
    """The Kafka access of these settings; a secured configuration's login is checked first.

    Raises:
        KafkaAuthError: the broker refused the credentials (one line, no password).
    """
    access = kafka_access(settings.kafka)
    verify_credentials(access)
    return access


def kafka_aio(settings: Settings) -> dict[str, Any]:
    """Keyword arguments of aiokafka clients (consumers, producers, range planning)."""
    return aiokafka_options(kafka_verified(settings))


def kafka_rd(settings: Settings) -> dict[str, Any]:
    """The same access as librdkafka properties (range reads; ``kafka_aio`` checks it)."""
    return librdkafka_options(kafka_access(settings.kafka))


def kafka_sync(settings: Settings) -> dict[str, Any]:
    """Keyword arguments of kafka-python clients (admin, tail, alert producer)."""
    return kafka_python_options(kafka_verified(settings))


def faust_broker_credentials(settings: Settings) -> Any:
    """The ``broker_credentials`` of faust's own clients: the same SASL/TLS as ours."""
    return faust_credentials(kafka_access(settings.kafka))


def dead_letter_sink(settings: Settings, options: dict[str, Any]) -> KafkaDeadLetterSink:
    """The dead-letter producer (``topics.dead_letter``) over aiokafka ``options``."""
    return KafkaDeadLetterSink(settings.topics.dead_letter, options)


def notice_sink(settings: Settings, options: dict[str, Any]) -> KafkaNoticeSink:
    """The seal-notice producer (``topics.sealed``) over aiokafka ``options``."""
    return KafkaNoticeSink(settings.topics.sealed, options)


Commit = Callable[[Mapping[int, int]], Awaitable[bool]]


class _FetchSizes(TypedDict, total=False):
    fetch_max_bytes: int
    fetch_min_bytes: int
    max_partition_fetch_bytes: int


def consumer(
    settings: Settings,
    topic: str,
    *,
    group: str,
    options: dict[str, Any],
    on_assign: Callable[[Sequence[int], Mapping[int, int]], Awaitable[Mapping[int, int]]],
    on_revoke: Callable[[Sequence[int]], Awaitable[None]],
    sized: bool = True,
    rdkafka: dict[str, Any] | None = None,
) -> BatchConsumer:
    """A batch consumer of ``topic`` in ``group`` per the ``consumer`` settings.

    ``sized=False`` leaves the fetch sizes at aiokafka's defaults (the label
    consumer: labels are few and small). With ``rdkafka`` (librdkafka properties)
    the records are fetched by librdkafka, aiokafka staying the group member
    (:class:`FetchingConsumer`, the worker's features consumer).
    """
    c = settings.consumer
    sizes: _FetchSizes = {}
    if sized:
        sizes = {
            "fetch_max_bytes": c.fetch_max_bytes,
            "fetch_min_bytes": c.fetch_min_bytes,
            "max_partition_fetch_bytes": c.max_partition_fetch_bytes,
        }
    kwargs: dict[str, Any] = {
        "group_id": group,
        "options": options,
        "on_assign": on_assign,
        "on_revoke": on_revoke,
        "reset": c.auto_offset_reset,
        "max_records": c.batch_max_records,
        "fetch_max_wait_ms": c.fetch_max_wait_ms,
        **sizes,
    }
    if rdkafka is not None:
        return FetchingConsumer(topic, rdkafka=rdkafka, **kwargs)
    return BatchConsumer(topic, **kwargs)


def features_consumer(
    settings: Settings,
    *,
    options: dict[str, Any],
    on_assign: Callable[[Sequence[int], Mapping[int, int]], Awaitable[Mapping[int, int]]],
    on_revoke: Callable[[Sequence[int]], Awaitable[None]],
) -> BatchConsumer:
    """The worker's features consumer: aiokafka in the group, librdkafka fetching.

    ``options`` are the aiokafka keyword arguments (already credential-checked); the
    fetcher gets the same access rendered for librdkafka (``kafka_auth``).
    """
    return consumer(
        settings,
        settings.topics.features,
        group=settings.consumer.group_id,
        options=options,
        on_assign=on_assign,
        on_revoke=on_revoke,
        rdkafka=librdkafka_options(kafka_access(settings.kafka)),
    )


# -- Redis ------------------------------------------------------------------------------
def connect_redis(settings: Settings) -> redis.Redis:
    """A client from the ``redis`` settings (URL, ACL user, TLS files, cluster)."""
    return redis_client(settings.redis)


def sketch_store(
    settings: Settings, client: Any, namespace: str, *, live: bool = True
) -> RedisSketchStore:
    """Partition sketches of ``namespace``.

    The live namespace expires sealed partition sketches after
    ``evaluate.partition_sketch_retention_ms``; a replay's (``live=False``) keeps them
    until ``namespace clean``.
    """
    retention = settings.evaluate.partition_sketch_retention_ms if live else 0
    return RedisSketchStore(client, namespace, sealed_retention_ms=retention)


def window_store(
    settings: Settings, client: Any, namespace: str, *, live: bool = True, memo: int = 0
) -> RedisWindowStore:
    """Merged hour/day windows of ``namespace`` (retention as :func:`sketch_store`).

    ``memo``: a replay's windows (never expiring) kept in memory, that many at most.
    """
    retention = settings.evaluate.merged_sketch_retention_ms if live else 0
    return RedisWindowStore(client, namespace, retention_ms=retention, memo=memo)


def label_store(client: Any, namespace: str) -> RedisLabelStore:
    """Labels joined to predictions, per model, in ``namespace``."""
    return RedisLabelStore(client, namespace)


def references(settings: Settings, client: Any | None = None) -> RedisReferences:
    """Stored references, in the live namespace (replays read them there too)."""
    return RedisReferences(client or connect_redis(settings), settings.redis.namespace)


# -- planes ----------------------------------------------------------------------------
class _Pacing(TypedDict):
    clock: SystemClock
    limits: Limits
    flush_every_events: int
    flush_interval_ms: int


def _pacing(settings: Settings) -> _Pacing:
    """What both planes share: the wall clock, the contract's limits, flush pacing."""
    ing = settings.ingest
    return {
        "clock": SystemClock(),
        "limits": Limits.from_settings(ing),
        "flush_every_events": ing.flush_every_events,
        "flush_interval_ms": ing.flush_interval_ms,
    }


def data_plane(
    settings: Settings,
    namespace: str,
    *,
    store: SketchStore,
    dead_letters: DeadLetterSink,
    notices: NoticeSink,
    commit: Commit,
) -> DataPlane:
    """The live data plane of ``topics.features`` (event time bounded by the wall clock)."""
    ing = settings.ingest
    return DataPlane(
        settings.models,
        topic=settings.topics.features,
        namespace=namespace,
        store=store,
        dead_letters=dead_letters,
        notices=notices,
        allowed_lateness_ms=ing.allowed_lateness_ms,
        idle_partition_timeout_ms=ing.idle_partition_timeout_ms,
        params=SketchParams(),
        commit=commit,
        # Event time is bounded by the wall clock (ts_in_future), not only by the
        # producer-set record timestamp.
        event_clock=SystemClock(),
        ingest_limits=IngestLimits.from_settings(ing),
        **_pacing(settings),
    )


def label_plane(
    settings: Settings, *, store: LabelStore, dead_letters: DeadLetterSink, commit: Commit
) -> LabelPlane:
    """The label plane of ``topics.labels``."""
    return LabelPlane(
        settings.models,
        topic=settings.topics.labels,
        store=store,
        dead_letters=dead_letters,
        commit=commit,
        **_pacing(settings),
    )


# -- evaluation -------------------------------------------------------------------------
@dataclass(frozen=True)
class Evaluation:
    """A namespace's evaluation store and the evaluator writing into it."""

    store: RedisEvaluationStore
    evaluator: Evaluator


def evaluation(
    settings: Settings,
    client: Any,
    namespace: str,
    windows: RedisWindowStore,
    *,
    warn: Callable[[str], None] | None = None,
    alert_namespace: str | None = None,
    deferred: bool = False,
    live: bool = True,
) -> Evaluation:
    """Evaluations of ``namespace``; references are read from the live namespace.

    ``warn`` is told each evaluation note once (the worker logs them);
    ``alert_namespace`` (a replay's) goes into the alerts' dashboard links;
    ``deferred`` (a replay's): commits are queued until ``store.flush()``;
    decisions expire after ``evaluate.decision_retention_ms``, a replay's (``live=False``)
    are kept as its windows are.
    """
    store = RedisEvaluationStore(
        client,
        namespace,
        windows,
        reference_namespace=settings.redis.namespace,
        deferred=deferred,
        retention_ms=settings.evaluate.decision_retention_ms if live else 0,
    )
    encode = alert_encoder(settings, namespace=alert_namespace)
    return Evaluation(store, Evaluator(store, encode=encode, warn=warn))


def alert_publisher(
    settings: Settings, store: RedisEvaluationStore, topic: str | None = None
) -> AlertPublisher:
    """Publishes a model's alert outbox to ``topic`` (default: ``topics.alerts``)."""
    return AlertPublisher(store, topic or settings.topics.alerts, kafka_sync(settings))


def labels_wanted(settings: Settings) -> bool:
    """Whether any model declares labels (else the labels topic is not consumed)."""
    return any(spec.labels is not None for spec in settings.models.specs())


def health_evaluator(
    settings: Settings,
    client: Any,
    namespace: str,
    windows: RedisWindowStore,
    reference_namespace: str | None = None,
    *,
    wait_for_labels: bool = True,
    note: Callable[[str], None] | None = None,
    live: bool = True,
) -> HealthEvaluator | None:
    """The model-health evaluator, when a model declares labels (else None).

    Live it waits for the label consumer; a replay (all labels ingested first) does not.
    Health decisions expire as feature decisions do (:func:`evaluation`).
    """
    if not labels_wanted(settings):
        return None
    store = RedisHealthStore(
        client,
        namespace,
        windows,
        label_store(client, namespace),
        reference_namespace,
        retention_ms=settings.evaluate.decision_retention_ms if live else 0,
    )
    return HealthEvaluator(
        store, alert_encoder(settings), wait_for_labels=wait_for_labels, note=note
    )


# -- forwarders -------------------------------------------------------------------------
def alert_source(settings: Settings, topic: str, group: str, reset: str) -> KafkaAlertSource:
    """The forwarder's consumer of ``topic`` in consumer group ``group``."""
    return KafkaAlertSource(topic, group_id=group, options=kafka_sync(settings), reset=reset)


def reject_sink(settings: Settings, topic: str, source_topic: str) -> KafkaRejectSink:
    """Where a forwarder parks payloads its receiver refused (``--dead-letter-topic``)."""
    return KafkaRejectSink(topic, source_topic, kafka_sync(settings))


def delivery_log(client: Any, namespace: str, group: str, ttl_hours: int) -> RedisDeliveryLog:
    """Alert ids forwarder group ``group`` delivered, remembered for ``ttl_hours``."""
    return RedisDeliveryLog(client, Keys(namespace), group, ttl_hours * 3600)
