"""Regression model health on real Kafka + Redis: error and target shifts page, stationary not.

Three regression models share the labels topic. Their references are built from
labelled events (numeric target + numeric prediction) and saved as the CLI does;
a day window of predictions each is rolled up; the worker's label consumer
(``LabelService``) ingests the day's labels (1–5 h late, with a non-numeric label
and a non-finite-looking prediction per model that are dead-lettered) and
resumes the queued health evaluations. ``rg-worse``: the error sd grows 30 %
(a performance alert on MAE and RMSE, no label alert); ``rg-moved``: the target
moves 0.3 sd with the same error (a label alert, no performance alert);
``rg-still``: no alert, its decisions judged, not skipped.
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
from stream.pipeline.health_eval import NO_REGRESSION_ESTIMATE
from stream.pipeline.ports import StoredWindow
from stream.pipeline.reference import ReferenceBuilder
from stream.runtime_labels import LabelService
from stream.web.performance import performance_panel, performance_series
from tests.integration.worker_harness import label_consumer_settings, read_topic, send

pytestmark = pytest.mark.integration

T0 = 1_767_225_600_000
N = 4_000
MU, SD, NOISE = 200.0, 40.0, 8.0


def _spec(name: str) -> ModelSpec:
    return ModelSpec.model_validate(
        {
            "name": name,
            "features": {"x": "numeric"},
            "prediction": "numeric",
            "labels": {"kind": "regression", "max_label_delay_ms": 6 * HOUR_MS},
            "alerts": {"windows": ["day"]},
        }
    )


STILL, WORSE, MOVED = _spec("rg-still"), _spec("rg-worse"), _spec("rg-moved")
LIVE = {STILL.name: (MU, NOISE), WORSE.name: (MU, 1.3 * NOISE), MOVED.name: (MU + 0.3 * SD, NOISE)}


def _draw(rng: np.random.Generator, mu: float, noise: float) -> tuple[np.ndarray, np.ndarray]:
    y = rng.normal(mu, SD, N)
    return y, y + rng.normal(0.0, noise, N)


def test_regression_shifts_page_by_kind_and_a_stationary_stream_does_not(
    kafka_bootstrap: str,
    redis_client: redis.Redis,
    redis_url: str,
    redis_namespace: str,
    new_topic: object,
) -> None:
    labels_topic = new_topic(2)  # type: ignore[operator]
    dead = new_topic(1)  # type: ignore[operator]
    ns, r = redis_namespace, redis_client
    specs = (STILL, WORSE, MOVED)
    settings = label_consumer_settings(
        kafka_bootstrap, labels_topic, dead, ns, *specs, redis_url=redis_url
    )
    rng = np.random.default_rng(11)
    windows = RedisWindowStore(r, ns)
    notes: list[str] = []
    health = wiring.health_evaluator(settings, r, ns, windows, note=notes.append)
    assert health is not None
    values: list[tuple[bytes, int]] = []
    for spec in specs:
        # The reference: labelled events, built and saved as `reference build` does.
        y, p = _draw(rng, MU, NOISE)
        builder = ReferenceBuilder(spec, "training")
        builder.add(
            [
                orjson.dumps(
                    {
                        "model": spec.name,
                        "ts": T0 - DAY_MS,
                        "features": {"x": 1.0},
                        "prediction": float(b),
                        "label": float(a),
                    }
                )
                for a, b in zip(y, p, strict=True)
            ]
        )
        ref = builder.build()
        assert ref.regression is not None and ref.regression.n == N
        described = ref.describe()
        assert abs(described["rmse"] - NOISE) < 0.5 and described["mae"] < described["rmse"]
        RedisReferences(r, ns).save(ref)
        window = StoredWindow(WindowKey(DAY, T0), N, 0, {})
        windows.create_window(spec.name, window)
        verdict = health.evaluate(spec, window)  # no label consumer yet: queued
        assert verdict is not None and verdict.waiting
        # The day's labels, 1–5 h late, keyed by id.
        y, p = _draw(rng, *LIVE[spec.name])
        ts = T0 + (np.arange(N) * DAY_MS) // N
        late = rng.integers(HOUR_MS, 5 * HOUR_MS, N)
        values += [
            (
                orjson.dumps(
                    {
                        "model": spec.name,
                        "id": f"p{i}",
                        "ts": int(ts[i]),
                        "label": float(y[i]),
                        "prediction": float(p[i]),
                    }
                ),
                int(ts[i] + late[i]),
            )
            for i in range(N)
        ]
        # Values that are not numbers: dead-lettered with their reason.
        for rid, label, pred in (("u", "n/a", 1.0), ("v", 3.0, "NaN")):
            values.append(
                (
                    orjson.dumps(
                        {
                            "model": spec.name,
                            "id": rid,
                            "ts": T0,
                            "label": label,
                            "prediction": pred,
                        }
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
            health.store.deferred(s.name, DAY) for s in specs
        ):
            await asyncio.sleep(0.2)
        service.stop()
        await task

    asyncio.run(consume())
    for spec in specs:
        assert health.store.deferred(spec.name, DAY) == []
    outbox = {
        s.name: [Alert.from_json(a) for a in r.lrange(Keys(ns).alerts_outbox(s.name), 0, -1)]
        for s in specs
    }
    assert outbox[STILL.name] == []
    # The error grew 30 %: MAE and RMSE page, the target did not move.
    (worse,) = outbox[WORSE.name]
    assert (worse.kind, worse.status, worse.window.start_ms) == ("performance", "triggered", T0)
    by = {f.name: f for f in worse.features if f.breach}
    assert set(by) == {"performance:mae", "performance:rmse"}
    true_rmse = 0.3 * NOISE  # RMSE of N(0, s) is s
    assert by["performance:rmse"].ci_low <= true_rmse <= by["performance:rmse"].ci_high
    # The target moved 0.3 sd: a label alert, the error is unchanged.
    (moved,) = outbox[MOVED.name]
    assert (moved.kind, moved.status) == ("label", "triggered")
    (f,) = [f for f in moved.features if f.breach]
    assert f.name == "label:mean_shift" and f.p_drift >= 0.99
    assert f.ci_low <= 0.3 * SD <= f.ci_high, f.reasons
    # The stationary model was judged, and the missing estimate said.
    k = health.store.regression_labels(STILL.name, WindowKey(DAY, T0), T0 + DAY_MS)
    assert 0.5 < k.n / N < 1.0
    said = [n for n in notes if n.startswith(f"model health of {STILL.name}")]
    assert any(NO_REGRESSION_ESTIMATE in n for n in said)
    # Dead letters: one per source record, with the reason and the bytes.
    letters: dict[tuple[bytes, bytes], tuple[bytes, bytes]] = {}
    for m in read_topic(kafka_bootstrap, dead):
        h = dict(m.headers)
        letters[(h["ds-partition"], h["ds-offset"])] = (h["ds-reason"], m.value)
    assert sorted(reason for reason, _ in letters.values()) == sorted(
        [b"bad_label", b"bad_prediction"] * 3
    )
    # Seen by people: status and the performance panel read MAE and RMSE per day.
    for spec in specs:
        lab = _labels(settings, ns, spec.name, T0)
        assert lab["rejected"] == {"bad_label": 1, "bad_prediction": 1}
        day = lab["coverage"][-1]
        assert day["window_ms"] == T0 and day["labels"] == N and day["coverage"] == 1.0
        noise = LIVE[spec.name][1]
        assert abs(day["rmse"] - noise) < 0.05 * noise and day["mae"] < day["rmse"]
        line = _labels_line(lab)[2]
        assert f"MAE {day['mae']:.4g} RMSE {day['rmse']:.4g}" in line
        series = performance_series(health.store, spec, [WindowKey(DAY, T0)])  # type: ignore[arg-type]
        (point,) = series["points"]
        assert point["labels"] == N and point["rmse"] == day["rmse"]
        assert "RMSE (95 %)" in performance_panel(series)
