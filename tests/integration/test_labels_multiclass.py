"""Multiclass model health on real Kafka + Redis: a class-share shift pages, stationary not.

Two multiclass models share the labels topic. Their references are built from
labelled events and saved as the CLI does; a day window of predictions each is
rolled up; the worker's label consumer (``LabelService``) ingests the day's
class labels (1–5 h late, with a few unknown classes that are dead-lettered) and
resumes the queued health evaluations. The shifted model's class shares move
0.5/0.3/0.2 → 0.35/0.3/0.35 with the classifier as good per class: a label alert;
the stationary one: no alert, and its decisions are judged, not skipped.
"""

from __future__ import annotations

import asyncio
import time

import numpy as np
import orjson
import pytest
import redis

from stream import wiring
from stream.adapters.redis_keys import Keys
from stream.adapters.redis_refs import RedisReferences
from stream.adapters.redis_windows import RedisWindowStore
from stream.catalog import ModelSpec
from stream.commands.ops_status import _labels, _labels_line
from stream.core.alert import Alert
from stream.core.window import DAY, DAY_MS, HOUR_MS, WindowKey
from stream.pipeline.health_eval import NO_MULTICLASS_ESTIMATE
from stream.pipeline.ports import StoredWindow
from stream.pipeline.reference import ReferenceBuilder
from stream.runtime_labels import LabelService
from stream.web.performance import performance_series
from tests.integration.worker_harness import label_consumer_settings, read_topic, send

pytestmark = pytest.mark.integration

T0 = 1_767_225_600_000
N = 4_000
CLASSES = ["cat", "dog", "bird"]
SHARES = [0.5, 0.3, 0.2]


def _spec(name: str) -> ModelSpec:
    return ModelSpec.model_validate(
        {
            "name": name,
            "features": {"x": "numeric"},
            "prediction": "categorical",
            "labels": {"classes": CLASSES, "max_label_delay_ms": 6 * HOUR_MS},
            "alerts": {"windows": ["day"]},
        }
    )


STILL, MOVED = _spec("mc-still"), _spec("mc-moved")


def _classes(rng: np.random.Generator, shares: list[float]) -> tuple[np.ndarray, np.ndarray]:
    true = rng.choice(3, size=N, p=shares)
    pred = np.where(rng.random(N) < 0.85, true, (true + rng.integers(1, 3, size=N)) % 3)
    return true, pred


def test_a_multiclass_label_shift_pages_and_a_stationary_stream_does_not(
    kafka_bootstrap: str,
    redis_client: redis.Redis,
    redis_url: str,
    redis_namespace: str,
    new_topic: object,
) -> None:
    labels_topic = new_topic(2)  # type: ignore[operator]
    dead = new_topic(1)  # type: ignore[operator]
    ns, r = redis_namespace, redis_client
    settings = label_consumer_settings(
        kafka_bootstrap, labels_topic, dead, ns, STILL, MOVED, redis_url=redis_url
    )
    rng = np.random.default_rng(11)
    windows = RedisWindowStore(r, ns)
    notes: list[str] = []
    health = wiring.health_evaluator(settings, r, ns, windows, note=notes.append)
    assert health is not None
    values: list[tuple[bytes, int]] = []
    for spec, shares in ((STILL, SHARES), (MOVED, [0.35, 0.3, 0.35])):
        # The reference: labelled events, built and saved as `reference build` does.
        true, pred = _classes(rng, SHARES)
        builder = ReferenceBuilder(spec, "training")
        builder.add(
            [
                orjson.dumps(
                    {
                        "model": spec.name,
                        "ts": T0 - DAY_MS,
                        "features": {"x": 1.0},
                        "prediction": CLASSES[p],
                        "label": CLASSES[t],
                    }
                )
                for t, p in zip(true, pred, strict=True)
            ]
        )
        RedisReferences(r, ns).save(builder.build())
        window = StoredWindow(WindowKey(DAY, T0), N, 0, {})
        windows.create_window(spec.name, window)
        verdict = health.evaluate(spec, window)  # no label consumer yet: queued
        assert verdict is not None and verdict.waiting
        # The day's labels, 1–5 h late, keyed by id.
        true, pred = _classes(rng, shares)
        ts = T0 + (np.arange(N) * DAY_MS) // N
        late = rng.integers(HOUR_MS, 5 * HOUR_MS, N)
        values += [
            (
                orjson.dumps(
                    {
                        "model": spec.name,
                        "id": f"p{i}",
                        "ts": int(ts[i]),
                        "label": CLASSES[true[i]],
                        "prediction": CLASSES[pred[i]],
                    }
                ),
                int(ts[i] + late[i]),
            )
            for i in range(N)
        ]
        # Class values the model does not declare: dead-lettered with their reason.
        values.append(
            (
                orjson.dumps(
                    {"model": spec.name, "id": "u", "ts": T0, "label": "cow", "prediction": "cat"}
                ),
                T0 + HOUR_MS,
            )
        )
    values.sort(key=lambda v: v[1])
    send(kafka_bootstrap, labels_topic, values, partitions=2)

    async def consume() -> None:
        service = LabelService(settings, r, ns)
        service.health_eval = health
        task = asyncio.create_task(service.run())
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and any(
            health.store.deferred(s.name, DAY) for s in (STILL, MOVED)
        ):
            await asyncio.sleep(0.2)
        service.stop()
        await task

    asyncio.run(consume())
    for spec in (STILL, MOVED):
        assert health.store.deferred(spec.name, DAY) == []
    outbox = {
        s.name: [Alert.from_json(a) for a in r.lrange(Keys(ns).alerts_outbox(s.name), 0, -1)]
        for s in (STILL, MOVED)
    }
    assert outbox[STILL.name] == []
    label = [a for a in outbox[MOVED.name] if a.kind == "label"]
    assert [(a.status, a.window.start_ms) for a in label] == [("triggered", T0)]
    f = label[0].features[0]
    assert f.name == "label:class_share" and f.p_drift >= 0.99
    moved = f.reasons[-1].split(": class ")[1].split()[0]
    true_move = {"cat": -0.15, "bird": 0.15}[moved]
    # The alert carries the move as a size (its direction is in the reason).
    assert f.ci_low <= abs(true_move) <= f.ci_high, f.reasons
    assert ("-" if true_move < 0 else "+") + f"{100 * abs(f.magnitude):.1f} pts" in f.reasons[-1]
    # The stationary model was judged (class share, accuracy, macro F1), not skipped.
    k = health.store.multiclass_labels(STILL.name, WindowKey(DAY, T0), 3, T0 + DAY_MS)
    assert 0.5 < k.n / N < 1.0
    said = [n for n in notes if n.startswith(f"model health of {STILL.name}")]
    assert any(NO_MULTICLASS_ESTIMATE in n for n in said)
    # Dead letters are at least once: one per source record, with the reason and the bytes.
    letters: dict[tuple[bytes, bytes], tuple[bytes, bytes]] = {}
    for m in read_topic(kafka_bootstrap, dead):
        h = dict(m.headers)
        letters[(h["ds-partition"], h["ds-offset"])] = (h["ds-reason"], m.value)
    assert sorted(reason for reason, _ in letters.values()) == [b"unknown_class"] * 2
    assert all(b'"cow"' in value for _, value in letters.values())
    counters, _ = wiring.label_store(r, ns).counters(MOVED.name)
    assert counters["applied"] == N
    # Seen by people: status and the performance panel read the multiclass figures.
    lab = _labels(settings, ns, MOVED.name, T0)
    day = lab["coverage"][-1]
    assert day["window_ms"] == T0 and day["labels"] == N and day["coverage"] == 1.0
    assert abs(day["accuracy"] - 0.85) < 0.03 and 0.7 < day["macro_f1"] < 1.0
    assert "accuracy 0.8" in _labels_line(lab)[2] and "macro-F1" in _labels_line(lab)[2]
    # Each model's rejections are counted under it (one "cow" record named each).
    still = _labels(settings, ns, STILL.name, T0)
    assert still["rejected"] == {"unknown_class": 1} == lab["rejected"]
    series = performance_series(health.store, MOVED, [WindowKey(DAY, T0)])  # type: ignore[arg-type]
    (point,) = series["points"]
    assert point["labels"] == N and point["accuracy"] == day["accuracy"]
