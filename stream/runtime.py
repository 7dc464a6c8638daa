"""Wiring: settings → adapters → pipeline, inside a faust-streaming worker process.

faust owns the process: lifecycle, signals (SIGTERM/SIGINT → graceful stop),
the web server (``/health``, ``/metrics``) and, later, the control-plane agents.
The features topic is NOT consumed through faust streams: a batch loop
(:class:`IngestService`) reads it in batches and drives the data plane (aiokafka is
the group member, librdkafka fetches: ``stream.adapters.kafka_fetch``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import faust
import redis
from aiokafka.client import AIOKafkaClient
from aiokafka.errors import KafkaError, NodeNotReadyError
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread, Transport

from stream import wiring
from stream.adapters.redis_store import decode_notice
from stream.adapters.redis_windows import RedisWindowStore
from stream.pipeline import gc_tuning
from stream.pipeline.control import ControlPlane
from stream.pipeline.evaluate import Evaluator
from stream.pipeline.health import Health, LogThrottle
from stream.pipeline.ports import StaleWriterError
from stream.runtime_labels import LabelService
from stream.settings import Settings
from stream.wiring import SystemClock

__all__ = ["Health", "IngestService", "build_app"]

log = logging.getLogger("driftstream.worker")

T = TypeVar("T")

RETRY_BASE_S = 0.2
RETRY_MAX_S = 10.0
LAG_REFRESH_MS = 3_000
SHUTDOWN_STEP_S = 8.0
FAUST_THREAD_SHUTDOWN_S = 10.0
#: How long faust's topic creation at start retries while Kafka comes back.
CONTROLLER_WAIT_S = 120.0


class IngestService:
    """The batch loop: getmany → data plane; retries outages with backoff, loses nothing."""

    def __init__(self, settings: Settings, *, namespace: str | None = None) -> None:
        self.settings = settings
        self.namespace = namespace or settings.redis.namespace
        self.health = Health(timeout_ms=settings.ingest.health_timeout_ms)
        self.throttle = LogThrottle(log)
        opts = wiring.kafka_aio(settings)
        self.redis = wiring.connect_redis(settings)
        self.store = wiring.sketch_store(settings, self.redis, self.namespace)
        self.dead_letters = wiring.dead_letter_sink(settings, opts)
        self.notices = wiring.notice_sink(settings, opts)
        self.plane = wiring.data_plane(
            settings,
            self.namespace,
            store=self.store,
            dead_letters=self.dead_letters,
            notices=self.notices,
            commit=self._commit,
        )
        self.consumer = wiring.features_consumer(
            settings, options=opts, on_assign=self._assign, on_revoke=self._revoke
        )
        self.clock = SystemClock()
        self.control: ControlPlane | None = None
        self.labels: Any = None  # a LabelService when a model declares labels (web reads it)
        self.lag: dict[int, int] = {}
        self._lag_at_ms = 0
        self._stopping = asyncio.Event()
        self._needs_flush = False
        self._needs_reclaim = False
        self._probe_at_ms = 0
        self._probe_s = min(LAG_REFRESH_MS, settings.ingest.health_timeout_ms // 3) / 1000
        self._seen_flush_ms = 0
        self._seen_consumed = 0

    async def _commit(self, positions: Mapping[int, int]) -> bool:
        try:
            await self.consumer.commit(positions)
        except KafkaError as exc:  # monitoring only: the store holds the real offsets
            self.health.fail("kafka", f"kafka: offset commit failed: {exc}", self.clock.now_ms())
            self._log(logging.WARNING, "commit", "offset commit (lag monitoring) failed: %s", exc)
            return False
        return True

    def _log(self, level: int, cause: str, msg: str, *args: object) -> None:
        self.throttle.log(level, cause, self.clock.now_ms(), msg, *args)

    async def _pause(self, seconds: float) -> None:
        """Back off, but wake up at once on :meth:`stop`."""
        try:
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
        except TimeoutError:
            pass

    async def _assign(self, parts: Any, start: Any) -> dict[int, int]:
        delay = RETRY_BASE_S
        while not self._stopping.is_set():
            try:
                seeks = await self.plane.assign(parts, start)
            except redis.RedisError as exc:
                cause = f"redis unavailable while claiming partitions {list(parts)}: {exc}"
                self.health.fail("claim", cause, self.clock.now_ms())
                self._log(logging.ERROR, "claim", "%s; retrying in %.1fs", cause, delay)
                await self._pause(delay)
                delay = min(delay * 2, RETRY_MAX_S)
            else:
                self.health.ok("claim", self.clock.now_ms())
                return seeks
        return {}  # stopping: nothing claimed, nothing to seek

    async def _revoke(self, parts: Any) -> None:
        try:
            await self.plane.revoke(parts)
        except (redis.RedisError, KafkaError, StaleWriterError) as exc:
            # Nothing is lost: the next owner resumes from the last stored offsets.
            log.error("flush on revocation failed (%s); the next owner re-reads", exc)
            self.plane.forget(parts)

    async def _start_clients(self) -> bool:
        """Start the producers and the consumer, retrying until Kafka answers or stop()."""
        delay = RETRY_BASE_S
        while not self._stopping.is_set():
            try:
                await self.dead_letters.start()
                await self.notices.start()
                await self.consumer.start()
            except KafkaError as exc:
                self.health.fail("kafka", f"kafka unavailable at start: {exc}", self.clock.now_ms())
                self._log(logging.ERROR, "kafka", "kafka unavailable at start (%s); retrying", exc)
                await self._pause(delay)
                delay = min(delay * 2, RETRY_MAX_S)
            else:
                self.health.ok("kafka", self.clock.now_ms())
                return True
        return False

    async def run(self) -> None:
        """Consume until :meth:`stop`; then flush and leave the group."""
        if not await self._start_clients():
            await self._shutdown()
            return
        delay = RETRY_BASE_S
        # The health watch runs beside the loop: a loop stuck in a Kafka call (no short
        # timeouts there) must still be seen, counted and reported.
        watch = asyncio.create_task(self._watch())
        try:
            while not self._stopping.is_set():
                try:
                    if self._needs_reclaim:
                        await self._reclaim()
                    if self._needs_flush:
                        await self.plane.flush()
                        self._needs_flush = False
                    # A rebalance can re-claim a partition while a fetch is under way:
                    # the data plane drops what was read from the old position, and
                    # the consumer seeks back (no await between the two).
                    fetched_at = self.plane.claims
                    batches = await self.consumer.getmany(timeout_ms=200)
                    if batches:
                        self.health.ok("kafka", self.clock.now_ms())
                        rewind = await self.plane.process(batches, fetched_at)
                        self.consumer.seek(rewind)
                        for p, off in sorted(rewind.items()):
                            got = batches[p]
                            log.warning(
                                "partition %d: dropped offsets %d..%d, fetched before its "
                                "re-claim; reading again from %d",
                                p,
                                int(got.offsets[0]),
                                got.last_offset,
                                off,
                            )
                    else:
                        await self.plane.tick(self.lag)
                    self._observe()
                    delay = RETRY_BASE_S
                except StaleWriterError as exc:
                    # Another member claimed a partition: a rebalance is under way. Nothing
                    # of ours was written; start again from the store (the revocation that
                    # follows drops what is no longer ours).
                    self._log(logging.ERROR, "fenced", "fenced out: %s; re-reading state", exc)
                    self._needs_reclaim = True
                    await self._pause(delay)
                    delay = min(delay * 2, RETRY_MAX_S)
                except (redis.RedisError, KafkaError, OSError) as exc:
                    kind = "redis" if isinstance(exc, redis.RedisError) else "kafka"
                    self.health.fail(kind, f"{kind} unavailable: {exc}", self.clock.now_ms())
                    # Redis trouble: recover like a crash, from what Redis holds.
                    # Kafka trouble (dead letters, notices): state is intact, retry the flush.
                    self._needs_reclaim |= kind == "redis"
                    self._needs_flush = True
                    self._log(logging.ERROR, kind, "%s error, retrying: %s", kind, exc)
                    await self._pause(delay)
                    delay = min(delay * 2, RETRY_MAX_S)
        finally:
            watch.cancel()
            await self._shutdown()

    async def _watch(self) -> None:
        while not self._stopping.is_set():
            try:
                await self._probe()
            except Exception as exc:  # noqa: BLE001 - the watch must outlive any surprise
                self.health.fail("kafka", f"health probe failed: {exc!r}", self.clock.now_ms())
                self._log(logging.ERROR, "probe", "health probe failed: %r", exc)
            self.throttle.flush(self.clock.now_ms())  # a cause gone quiet: its held count
            await self._pause(self._probe_s / 3)

    def _observe(self) -> None:
        """Record what the last step proved: a flush reached Redis, records were consumed."""
        now = self.clock.now_ms()
        stats = self.plane.stats
        if stats.last_flush_ms != self._seen_flush_ms:
            self._seen_flush_ms = stats.last_flush_ms
            self.health.ok("redis", now)
        if stats.consumed != self._seen_consumed or not any(self.lag.values()):
            self._seen_consumed = stats.consumed
            self.health.progressed(now)

    async def _probe(self) -> None:
        """Every few seconds: ask Redis (if no flush did) and Kafka (lag) for an answer."""
        now = self.clock.now_ms()
        if now - self._probe_at_ms < self._probe_s * 1000:
            return
        self._probe_at_ms = now
        redis_ok = self.health.redis_ok_ms
        if redis_ok is None or now - redis_ok >= self._probe_s * 1000:
            try:
                await asyncio.to_thread(self.store.ping)
            except redis.RedisError as exc:
                self.health.fail("redis", f"redis unavailable: {exc}", self.clock.now_ms())
                self._needs_reclaim = True
                self._log(logging.ERROR, "redis", "redis unavailable: %s", exc)
            else:
                self.health.ok("redis", self.clock.now_ms())
        try:
            self.lag = await asyncio.wait_for(self.consumer.lag(), timeout=self._probe_s)
        except (KafkaError, OSError, TimeoutError) as exc:
            why = str(exc) or type(exc).__name__
            self.health.fail("kafka", f"kafka unavailable: {why}", self.clock.now_ms())
            self._log(logging.ERROR, "kafka", "kafka unavailable: %s", why)
        else:
            self.health.ok("kafka", self.clock.now_ms())

    def health_problem(self, now_ms: int) -> str | None:
        """What /health reports: None when healthy (``stream.pipeline.health``)."""
        unclaimed = self.plane.owned - set(self.plane.states)
        return self.health.verdict(
            now_ms,
            unclaimed=unclaimed,
            lag=sum(self.lag.values()),
            redis_flush_ms=self.plane.stats.last_flush_ms or None,
        )

    async def _reclaim(self) -> None:
        owned = self.plane.assigned
        seeks = await self.plane.reclaim(await self.consumer.start_offsets(owned))
        self.consumer.seek(seeks)
        self._needs_reclaim = False
        self.health.ok("claim", self.clock.now_ms())
        log.warning("re-claimed partitions %s after a Redis outage; resuming at %s", owned, seeks)

    async def _shutdown(self) -> None:
        # Each step is bounded: with a backend down, stopping must not wait on it (the
        # next owner re-reads whatever was not flushed; nothing is lost).
        try:
            await asyncio.wait_for(self.plane.flush(), timeout=SHUTDOWN_STEP_S)
        except (redis.RedisError, KafkaError, StaleWriterError, TimeoutError) as exc:
            log.error("final flush failed (%s); the next owner re-reads", str(exc) or "timed out")
        for client in (self.consumer, self.notices, self.dead_letters):
            try:
                await asyncio.wait_for(client.stop(), timeout=SHUTDOWN_STEP_S)
            except (KafkaError, OSError, TimeoutError) as exc:
                log.error("stopping a Kafka client failed: %s", str(exc) or "timed out")
        self.throttle.flush(self.clock.now_ms(), everything=True)

    def stop(self) -> None:
        """Ask the loop to finish its batch, flush and leave."""
        self._stopping.set()


async def retry_start_step(
    step: Callable[[], Awaitable[T]],
    refresh: Callable[[], Awaitable[object]],
    *,
    what: str,
    wait_s: float,
    step_s: float = 1.0,
    stopping: Callable[[], bool] = lambda: False,
) -> T:
    """Run ``step``; on failure refresh Kafka metadata and retry, for up to ``wait_s``."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return await step()
        except Exception as exc:  # faust raises plain Exception here too
            if stopping() or time.monotonic() >= deadline:
                raise
            log.warning("%s failed (%s); retrying", what, str(exc) or type(exc).__name__)
        await asyncio.sleep(step_s)
        try:
            await refresh()
        except KafkaError:
            pass


def _patch_faust_topic_creation() -> None:
    """Make faust's topic creation at start survive a broker that just came back.

    faust creates its topics from its client's metadata, which right after a broker
    outage can list no broker (``Controller node not found``) or no controller
    (``NodeNotReadyError`` for node -1): the worker exited instead of starting.
    Retry (bounded) with fresh metadata.
    """
    original = Transport._really_create_topic  # noqa: SLF001 - no public hook
    if getattr(original, "driftstream_retries", False):
        return

    async def _really_create_topic(
        self: Any, owner: Any, client: Any, topic: str, *args: Any, **kwargs: Any
    ) -> None:
        await retry_start_step(
            lambda: original(self, owner, client, topic, *args, **kwargs),
            client.force_metadata_update,
            what=f"creating faust's topic {topic}",
            wait_s=CONTROLLER_WAIT_S,
            stopping=lambda: bool(owner.should_stop),
        )

    _really_create_topic.driftstream_retries = True  # type: ignore[attr-defined]
    setattr(Transport, "_really_create_topic", _really_create_topic)  # noqa: B010


def _patch_coordinator_lookup() -> None:
    """Make a group coordinator lookup with no broker known retry instead of dying.

    Right after start (or an outage) a metadata answer can list no broker ("No broker
    metadata found in MetadataResponse -- ignoring"). aiokafka's coordinator lookup then
    fails an ``assert`` ("Did we not perform bootstrap?"), which ends the consumer's
    coordination task for good: faust's consumer never joined its group, the app never
    became ready, and the worker stayed idle on /health "starting" (seen in the chaos
    test under load). Raise aiokafka's retriable ``NodeNotReadyError`` instead: its
    coordinator loop refreshes the metadata and asks again.
    """
    original = AIOKafkaClient.coordinator_lookup
    if getattr(original, "driftstream_retries", False):
        return

    async def coordinator_lookup(self: Any, coordinator_type: Any, coordinator_key: Any) -> Any:
        if self.get_random_node() is None:
            msg = "no broker in the cluster metadata yet (looking up a group coordinator)"
            raise NodeNotReadyError(msg)
        return await original(self, coordinator_type, coordinator_key)

    coordinator_lookup.driftstream_retries = True  # type: ignore[attr-defined]
    setattr(AIOKafkaClient, "coordinator_lookup", coordinator_lookup)  # noqa: B010


def _with_health(
    settings: Settings, service: IngestService, windows: RedisWindowStore, evaluator: Evaluator
) -> Any:
    """The control plane's window callback: feature evaluation, then model health."""
    health = wiring.health_evaluator(
        settings, service.redis, service.namespace, windows, note=log.info
    )

    def on_window(model: str, window: Any) -> object:
        spec = settings.models.model(model)
        verdict = evaluator.evaluate(spec, window)
        if health is not None and spec.labels is not None:
            judged = health.evaluate(spec, window)
            for why in judged.skipped if judged is not None and not judged.waiting else ():
                log.info("model health of %s %s: %s", model, window.key, why)
        return verdict

    return on_window, health


def build_app(settings: Settings, *, app_id: str | None = None) -> tuple[faust.App, IngestService]:
    """The faust app of a worker process, with the ingest loop and the web views."""
    from stream.adapters.worker_web import worker_web
    from stream.web.views import register_views  # web imports this module (IngestService)

    app = faust.App(
        app_id or f"driftstream-{settings.consumer.group_id}",
        broker_credentials=wiring.faust_broker_credentials(settings),
        broker=[f"kafka://{h.strip()}" for h in settings.kafka.bootstrap_servers.split(",")],
        web_host=settings.web.host,
        web_port=settings.web.port,
        web_enabled=True,
        store="memory://",
        # faust creates a data directory even with in-memory tables: keep it out of cwd.
        datadir=os.environ.get("DRIFTSTREAM_FAUST_DATADIR")
        or str(Path(tempfile.gettempdir()) / "driftstream-faust"),
        autodiscover=False,
        topic_replication_factor=settings.topics.replication_factor,
        # A SIGKILLed worker must leave faust's group quickly: a member killed in the
        # middle of a rebalance is waited for up to the rebalance timeout, which
        # otherwise defaults to faust's max poll interval (1000 s).
        broker_session_timeout=10.0,
        broker_heartbeat_interval=3.0,
        broker_rebalance_timeout=30.0,
    )
    # faust's consumer thread waits up to 60 s (mode's default) for its broker to answer
    # a LeaveGroup on shutdown; with the broker down, SIGTERM must not take that long.
    AIOKafkaConsumerThread.shutdown_timeout = FAUST_THREAD_SHUTDOWN_S
    _patch_faust_topic_creation()
    _patch_coordinator_lookup()
    service = IngestService(settings)
    windows = wiring.window_store(settings, service.redis, service.namespace)
    evaluation = wiring.evaluation(
        settings, service.redis, service.namespace, windows, warn=log.warning
    )
    publisher = wiring.alert_publisher(settings, evaluation.store)
    on_window, health = _with_health(settings, service, windows, evaluation.evaluator)
    control = ControlPlane(
        settings.models,
        service.namespace,
        windows,
        on_window=on_window,
        after_model=publisher.publish,
        max_attempts=settings.evaluate.max_attempts,
    )
    service.control = control
    sealed = app.topic(settings.topics.sealed, value_serializer="raw", key_serializer="raw")

    @app.task  # type: ignore[untyped-decorator]
    async def _ingest() -> None:
        gc_tuning.tune()  # the app is built and started: what exists now lives as long as it
        await service.run()

    if wiring.labels_wanted(settings):
        label_service = service.labels = LabelService(
            settings, service.redis, service.namespace, health=service.health
        )
        label_service.health_eval = health  # judges the windows that waited for labels

        @app.task  # type: ignore[untyped-decorator]
        async def _labels() -> None:
            await label_service.run()

    # Seal notices are few (one per partition-hour): faust's per-event path is fine here.
    @app.agent(sealed, concurrency=1)
    async def _sealed(stream: Any) -> None:
        async for values in stream.take(1000, within=1.0):
            notices = [decode_notice(v) for v in values]
            await asyncio.to_thread(control.on_notices, notices)

    async def _stop(app: faust.App, /, *_: Any, **__: Any) -> None:
        service.stop()
        if service.labels is not None:
            service.labels.stop()

    app.on_before_shutdown.connect(_stop)

    register_views(app, settings, **worker_web(service)._asdict())
    return app, service
