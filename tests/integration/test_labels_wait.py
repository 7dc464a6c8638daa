"""Live model health waits for the label consumer (real Kafka + Redis, in-process).

A day window's health evaluation is queued while no label partition covers its
judging bound; the worker's label consumer (``LabelService``) ingests the labels
and resumes it: judged once, on every label that arrived before the bound.
"""

from __future__ import annotations

import asyncio
import time

import numpy as np
import orjson
import pytest
import redis

from stream import wiring
from stream.adapters.redis_eval import reference_name
from stream.adapters.redis_keys import Keys
from stream.adapters.redis_refs import PERFORMANCE
from stream.adapters.redis_windows import RedisWindowStore
from stream.catalog import ModelSpec
from stream.core.performance import BinaryPerformance
from stream.core.sketch import NumericSketch
from stream.core.window import DAY, DAY_MS, HOUR_MS, WindowKey
from stream.pipeline.ports import StoredWindow
from stream.runtime_labels import LabelService
from tests.integration.worker_harness import label_consumer_settings, send

pytestmark = pytest.mark.integration

T0 = 1_767_225_600_000
N = 3_000
SPEC = ModelSpec.model_validate(
    {
        "name": "wait-m",
        "features": {"x": "numeric"},
        "prediction": "numeric",
        "labels": {"max_label_delay_ms": 6 * HOUR_MS},
        "alerts": {"windows": ["day"]},
    }
)


def _scores(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 1, N)
    s = np.round(1 / (1 + np.exp(-(-3.0 + 1.7 * z))), 6)
    return s, rng.random(N) < s


def test_a_window_waits_for_the_label_consumer_then_is_judged_once(
    kafka_bootstrap: str,
    redis_client: redis.Redis,
    redis_namespace: str,
    new_topic: object,
) -> None:
    labels_topic = new_topic(2)  # type: ignore[operator]
    dead = new_topic(1)  # type: ignore[operator]
    ns, r = redis_namespace, redis_client
    settings = label_consumer_settings(kafka_bootstrap, labels_topic, dead, ns, SPEC)
    s, y = _scores(1)
    ref = BinaryPerformance.zero()
    ref.update(s, y, threshold=0.5)
    r.hset(Keys(ns).reference(SPEC.name, reference_name(SPEC)), PERFORMANCE, ref.to_bytes())
    windows = RedisWindowStore(r, ns)
    s, y = _scores(2)
    sketch = NumericSketch.zero()
    sketch.update(s)
    window = StoredWindow(WindowKey(DAY, T0), N, 0, {"prediction": sketch.to_bytes()})
    windows.create_window(SPEC.name, window)
    notes: list[str] = []
    health = wiring.health_evaluator(settings, r, ns, windows, note=notes.append)
    assert health is not None

    verdict = health.evaluate(SPEC, window)  # no label consumer yet: queued
    assert verdict is not None and verdict.waiting and not verdict.decisions
    assert "waiting for the label consumer to claim" in verdict.skipped[0]
    assert health.store.deferred(SPEC.name, DAY) == [window.key]
    assert health.waiting() == {SPEC.name: 1}  # /metrics: driftstream_health_waiting_windows
    assert r.get(Keys(ns).health_decisions(SPEC.name, DAY, T0)) is None

    # The day's labels, 1–5 h late: those of the day's last hours arrive after the
    # judging bound (T0 + 1 day), and take the consumer's newest record past it.
    rng = np.random.default_rng(3)
    late = rng.integers(HOUR_MS, 5 * HOUR_MS, N)
    ts = T0 + (np.arange(N) * DAY_MS) // N
    values = [
        (
            orjson.dumps(
                {
                    "model": SPEC.name,
                    "id": f"p{i}",
                    "ts": int(ts[i]),
                    "label": int(y[i]),
                    "prediction": float(s[i]),
                }
            ),
            int(ts[i] + late[i]),
        )
        for i in range(N)
    ]
    values.sort(key=lambda v: v[1])
    send(kafka_bootstrap, labels_topic, values, partitions=2)

    async def consume() -> None:
        service = LabelService(settings, r, ns)
        service.health_eval = health
        task = asyncio.create_task(service.run())
        deadline = time.monotonic() + 300  # a hang guard only
        while health.store.deferred(SPEC.name, DAY) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        service.stop()
        await task

    asyncio.run(consume())
    assert health.store.deferred(SPEC.name, DAY) == [], f"still waiting after 300 s: {notes}"
    raw = r.get(Keys(ns).health_decisions(SPEC.name, DAY, T0))
    assert raw is not None
    decided = orjson.loads(raw)
    shift = [d for d in decided if d["kind"] == "label"]
    # What a replay counts: the labels whose record time is before the bound.
    before = int(np.sum(ts + late < T0 + DAY_MS))
    assert 0.5 < before / N < 0.9
    assert len(shift) == 1
    assert f"coverage {100 * before / N:.0f} %, judged at 50 %" in shift[0]["reason"]
    assert health.store.labels(SPEC.name, window.key, T0 + DAY_MS).n == before
    assert health.counts == {"deferred": 1, "resumed": 1} and health.waiting() == {}
    said = [n for n in notes if n.startswith(f"model health of {SPEC.name} {window.key}: ")]
    assert any("judged after waiting for labels" in n for n in said)
    assert health.resume(SPEC) == []  # judged once: nothing left queued
