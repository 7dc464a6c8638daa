"""The worker's label consumer: the labels topic, in batches, exactly once.

Started by :func:`stream.runtime.build_app` only when a model declares a
``labels`` table (its adapters come from :mod:`stream.wiring`). It is its own
group member (group ``<consumer.group_id>.labels``) on ``topics.labels``; the
state protocol is the label plane's (stream.pipeline.labelplane). Any Redis error
or fencing is recovered like a crash: forget memory, claim again, seek to the
stored offsets.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any

import redis
from aiokafka.errors import KafkaError

from stream import wiring
from stream.pipeline.health import Health
from stream.pipeline.health_eval import HealthEvaluator
from stream.pipeline.ports import StaleWriterError
from stream.settings import Settings

__all__ = ["LabelService"]

log = logging.getLogger("driftstream.labels")

RETRY_BASE_S = 0.2
RETRY_MAX_S = 10.0
STOP_STEP_S = 8.0
RESUME_EVERY_S = 1.0
#: How long an idle tick waits for the brokers' end offsets before marking nothing idle.
LAG_TIMEOUT_S = 5.0


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class LabelService:
    """Consumes ``topics.labels`` into the label plane until :meth:`stop`."""

    def __init__(
        self,
        settings: Settings,
        client: redis.Redis,
        namespace: str,
        health: Health | None = None,
    ) -> None:
        self.health = health  # the worker's /health: "labels: …" while batches fail
        opts = wiring.kafka_aio(settings)
        self.store = wiring.label_store(client, namespace)
        self.dead_letters = wiring.dead_letter_sink(settings, opts)
        self.plane = wiring.label_plane(
            settings, store=self.store, dead_letters=self.dead_letters, commit=self._commit
        )
        self.consumer = wiring.consumer(
            settings,
            settings.topics.labels,
            group=f"{settings.consumer.group_id}.labels",
            options=opts,
            on_assign=self._assign,
            on_revoke=self._revoke,
            sized=False,
        )
        self._stopping = asyncio.Event()
        self._needs_reclaim = False
        self.settings = settings
        self.health_eval: HealthEvaluator | None = None
        self._resumed_at = 0.0

    async def _commit(self, positions: Mapping[int, int]) -> bool:
        try:
            await self.consumer.commit(positions)
        except KafkaError as exc:  # monitoring only: the store holds the real offsets
            log.warning("labels: offset commit (lag monitoring) failed: %s", exc)
            return False
        return True

    async def _assign(self, parts: Any, start: Any) -> dict[int, int]:
        delay = RETRY_BASE_S
        while not self._stopping.is_set():
            try:
                return await self.plane.assign(parts, start)
            except redis.RedisError as exc:
                log.error("labels: claiming %s failed (%s); retrying", list(parts), exc)
                await self._pause(delay)
                delay = min(delay * 2, RETRY_MAX_S)
        return {}

    async def _revoke(self, parts: Any) -> None:
        try:
            await self.plane.revoke(parts)
        except (redis.RedisError, KafkaError, StaleWriterError) as exc:
            log.error("labels: flush on revocation failed (%s); the next owner re-reads", exc)
            for p in parts:
                self.plane.states.pop(p, None)

    async def _pause(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
        except TimeoutError:
            pass

    async def run(self) -> None:
        """Consume until :meth:`stop`; then flush and leave the group."""
        delay = RETRY_BASE_S
        while not self._stopping.is_set():
            try:
                await self.dead_letters.start()
                await self.consumer.start()
                break
            except KafkaError as exc:
                log.error("labels: kafka unavailable at start (%s); retrying", exc)
                await self._pause(delay)
                delay = min(delay * 2, RETRY_MAX_S)
        try:
            while not self._stopping.is_set():
                try:
                    if self._needs_reclaim:
                        owned = sorted(self.plane.states)
                        starts = await self.consumer.start_offsets(owned)
                        self.consumer.seek(await self.plane.reclaim(starts))
                        self._needs_reclaim = False
                    batches = await self.consumer.getmany(timeout_ms=200)
                    if batches:
                        await self.plane.process(batches)
                    else:
                        await self.plane.tick(self._lag)
                    await self._resume()
                    delay = RETRY_BASE_S
                    if self.health is not None and "labels" in self.health.problems:
                        self.health.ok("labels", _now_ms())
                except (StaleWriterError, redis.RedisError, KafkaError, OSError) as exc:
                    log.error("labels: %s; re-reading state from Redis", exc)
                    if self.health is not None:
                        self.health.fail("labels", f"labels: {exc}", _now_ms())
                    self._needs_reclaim = True
                    await self._pause(delay)
                    delay = min(delay * 2, RETRY_MAX_S)
        finally:
            await self._shutdown()

    async def _lag(self) -> Mapping[int, int]:
        """Records behind each owned label partition's end; {} (nothing idle) if unknown."""
        try:
            return await asyncio.wait_for(self.consumer.lag(), timeout=LAG_TIMEOUT_S)
        except (KafkaError, TimeoutError, OSError) as exc:
            log.warning("labels: end offsets unknown (%s); no partition marked idle", exc)
            return {}

    async def _resume(self) -> None:
        """Judge the health windows that waited for labels (at most once a second)."""
        now = time.monotonic()
        if self.health_eval is None or now - self._resumed_at < RESUME_EVERY_S:
            return
        self._resumed_at = now
        evaluator = self.health_eval  # says what it judged in the worker log (its note)
        for spec in self.settings.models.specs():
            if spec.labels is None:
                continue
            try:
                await asyncio.to_thread(evaluator.resume, spec)
            except Exception as exc:  # noqa: BLE001 - the windows stay queued; retried
                log.error(
                    "model health of %s: judging the windows that waited for labels failed "
                    "(they stay queued; retried in %.0f s): %s",
                    spec.name, RESUME_EVERY_S, exc,
                )  # fmt: skip

    async def _shutdown(self) -> None:
        try:
            await asyncio.wait_for(self.plane.flush(), timeout=STOP_STEP_S)
        except (redis.RedisError, KafkaError, StaleWriterError, TimeoutError) as exc:
            log.error("labels: final flush failed (%s); the next owner re-reads", exc)
        for client in (self.consumer, self.dead_letters):
            try:
                await asyncio.wait_for(client.stop(), timeout=STOP_STEP_S)
            except (KafkaError, OSError, TimeoutError) as exc:
                log.error("labels: stopping a Kafka client failed: %s", exc)

    def stop(self) -> None:
        """Ask the loop to finish its batch, flush and leave."""
        self._stopping.set()
