"""Label ingest over in-memory ports: the contract, duplicates, late labels, exactly once."""

from __future__ import annotations

import asyncio
import random

import numpy as np
import orjson

from stream.catalog import Catalog, ModelSpec
from stream.core.performance import BinaryPerformance
from stream.pipeline.labelplane import LabelPlane
from stream.pipeline.memory import ListDeadLetters, ManualClock, MemoryLabelStore
from stream.pipeline.ports import RecordBatch, StaleWriterError
from tests.unit.pipeline.labelsim import label_plane

HOUR = 3_600_000
T0 = 1_767_225_600_000
DELAY = 48 * HOUR


def _dump(store: MemoryLabelStore) -> dict[tuple[str, int], tuple[object, ...]]:
    return {
        k: (p.next_offset, p.newest_record_ms, p.open_hours, p.hours, p.seen, p.counters)
        for k, p in store.parts.items()
    }


SPEC = ModelSpec.model_validate(
    {
        "name": "m",
        "features": {"x": "numeric"},
        "labels": {"positive": 1, "negative": 0, "threshold": 0.5, "max_label_delay_ms": DELAY},
    }
)
CATALOG = Catalog.of(
    SPEC, ModelSpec.model_validate({"name": "nolabels", "features": {"x": "numeric"}})
)


def _plane(store: MemoryLabelStore, letters: ListDeadLetters, every: int = 50) -> LabelPlane:
    return label_plane(CATALOG, store, letters, every)


def _label(i: int, ts: int, label: object = 1, score: object = 0.7, **extra: object) -> bytes:
    return orjson.dumps(
        {"model": "m", "id": f"e{i}", "ts": ts, "label": label, "prediction": score, **extra}
    )


def _stream(n: int = 600, seed: int = 3) -> list[tuple[bytes, int]]:
    """(value, record time): labels 1-47 h after their prediction, with duplicates, late, bad."""
    rng = random.Random(seed)
    out: list[tuple[bytes, int]] = []
    for i in range(n):
        ts = T0 + i * 60_000
        y = rng.random() < 0.2
        score = min(1.0, max(0.0, rng.gauss(0.7 if y else 0.3, 0.2)))
        rec = ts + rng.randrange(HOUR, 47 * HOUR)
        out.append((_label(i, ts, int(y), round(score, 4)), rec))
        if i % 37 == 0:  # a duplicate with another label: the first one wins
            out.append((_label(i, ts, int(not y), 0.5), rec + 1000))
        if i % 53 == 0:  # too late
            out.append((_label(n + i, ts, 1, 0.9), ts + DELAY + 1))
    out.sort(key=lambda v: v[1])
    out[10:10] = [
        (b"{nope", T0),
        (_label(9999, T0, "maybe"), T0),
        (orjson.dumps({"model": "m", "id": "z", "ts": T0, "label": 1}), T0),
        (_label(9998, T0, 1, 1.5), T0),
        (orjson.dumps({"model": "nolabels", "id": "z", "ts": T0, "label": 1}), T0),
    ]
    return out


def _batches(values: list[tuple[bytes, int]], size: int, start: int = 0) -> list[RecordBatch]:
    out = []
    for lo in range(start, len(values), size):
        chunk = values[lo : lo + size]
        out.append(
            RecordBatch(
                0,
                [v for v, _ in chunk],
                np.asarray([t for _, t in chunk], np.int64),
                np.arange(lo, lo + len(chunk), dtype=np.int64),
            )
        )
    return out


async def _run(
    store: MemoryLabelStore, values: list[tuple[bytes, int]], size: int
) -> ListDeadLetters:
    letters = ListDeadLetters()
    plane = _plane(store, letters)
    await plane.assign([0], {0: 0})
    for b in _batches(values, size):
        await plane.process({0: b})
    await plane.flush()
    return letters


def test_labels_are_counted_by_outcome_and_bad_ones_dead_lettered() -> None:
    values = _stream()
    store = MemoryLabelStore()
    letters = asyncio.run(_run(store, values, 64))
    part = store.parts[("m", 0)]
    c = part.counters
    assert c["duplicate"] == len(range(0, 600, 37))
    assert c["label_too_late"] == len(range(0, 600, 53))
    assert c["applied"] == 600
    reasons = sorted(d.reason for d in letters.got)
    assert reasons == ["bad_json", "bad_label", "bad_prediction", "missing_prediction"]
    assert sum(v for k, v in c.items() if k.startswith("rejected:")) == 4
    # Every applied label is in exactly one hour's state; the first of each duplicate won.
    total = BinaryPerformance.zero()
    for blob in part.hours.values():
        total = total.merge(BinaryPerformance.from_bytes(blob))
    assert total.n == 600
    assert sum(len(s) for s in part.seen.values()) == 600
    auc = total.auc()
    assert auc is not None and auc > 0.8


def test_batch_size_and_crashes_do_not_change_the_stored_state() -> None:
    values = _stream()
    ref = MemoryLabelStore()
    asyncio.run(_run(ref, values, 600))
    store = MemoryLabelStore()
    rng = random.Random(7)

    async def crashy() -> None:
        pos = 0
        while True:
            plane = _plane(store, ListDeadLetters(), every=rng.randrange(20, 90))
            seeks = await plane.assign([0], {0: 0})
            pos = seeks[0]
            if pos >= len(values):
                return
            stop = min(len(values), pos + rng.randrange(50, 200))
            for b in _batches(values[:stop], rng.randrange(5, 40), start=pos):
                await plane.process({0: b})
            if stop == len(values):
                await plane.flush()
            # else: the worker dies here; what was not flushed is lost and re-read

    asyncio.run(crashy())
    assert _dump(store) == _dump(ref)


def test_a_fenced_out_writer_cannot_overwrite_the_new_owner() -> None:
    store = MemoryLabelStore()

    async def go() -> None:
        a = _plane(store, ListDeadLetters())
        await a.assign([0], {0: 0})
        b = _plane(store, ListDeadLetters())
        await b.assign([0], {0: 0})
        await a.process({0: _batches([(_label(1, T0, 1), T0 + HOUR)], 10)[0]})
        try:
            await a.flush()
        except StaleWriterError:
            return
        msg = "stale writer was not fenced"
        raise AssertionError(msg)

    asyncio.run(go())
    assert store.parts[("m", 0)].next_offset is None


def test_an_idle_tick_marks_the_partitions_idle_only_once_all_is_flushed() -> None:
    """The label plane's ``idle`` time: what health evaluation waits for (health_eval)."""

    async def go() -> MemoryLabelStore:
        store = MemoryLabelStore()
        letters = ListDeadLetters()
        plane = _plane(store, letters)
        clock = plane.clock
        assert isinstance(clock, ManualClock)
        await plane.assign([0], {0: 0})
        (first, *_) = _batches(_stream(40), 10)
        await plane.process({0: first})  # not flushed yet (flush every 50 events)
        clock.ms = 5
        await plane.tick()
        assert store.parts[("m", 0)].idle_ms is None  # unflushed labels: not idle
        await plane.flush()
        clock.ms = 7
        await plane.tick()
        assert store.parts[("m", 0)].idle_ms == 7
        return store

    store = asyncio.run(go())
    assert store.parts[("m", 0)].next_offset == 10


def test_an_idle_tick_skips_a_partition_with_records_still_to_fetch() -> None:
    """An empty ``getmany`` right after an assignment is not the end of the partition."""

    async def go() -> MemoryLabelStore:
        store = MemoryLabelStore()
        plane = _plane(store, ListDeadLetters())
        clock = plane.clock
        assert isinstance(clock, ManualClock)
        await plane.assign([0, 1], {0: 0, 1: 0})
        await plane.flush()
        lags = {0: 0, 1: 40}

        async def lag() -> dict[int, int]:
            return dict(lags)

        clock.ms = 5
        await plane.tick(lag)
        assert store.parts[("m", 0)].idle_ms == 5
        assert store.parts[("m", 1)].idle_ms is None  # 40 records behind its end
        lags[1] = 0
        clock.ms = 5 + plane.flush_interval_ms
        await plane.tick(lag)
        assert store.parts[("m", 1)].idle_ms == clock.ms

        async def unknown() -> dict[int, int]:
            return {}  # the brokers did not answer: nothing is said idle

        clock.ms += plane.flush_interval_ms
        await plane.tick(unknown)
        assert store.parts[("m", 0)].idle_ms == 5 + plane.flush_interval_ms
        return store

    asyncio.run(go())


def test_rejections_are_counted_under_the_model_the_record_names() -> None:
    """Two labelled models on one partition: a bad label naming the second is its count;
    a record naming no model it can be read for (bad JSON) is the first model's."""
    second = ModelSpec.model_validate(
        {
            "name": "m2",
            "features": {"x": "numeric"},
            "labels": {"positive": 1, "negative": 0, "max_label_delay_ms": DELAY},
        }
    )
    catalog = Catalog.of(SPEC, second)
    store = MemoryLabelStore()
    letters = ListDeadLetters()
    values = [
        (_label(1, T0), T0),
        (orjson.dumps({"model": "m2", "id": "a", "ts": T0, "label": "maybe"}), T0),
        (orjson.dumps({"model": "m2", "id": "b", "ts": T0, "label": 1}), T0),
        (b"{nope", T0),
    ]

    async def run() -> None:
        plane = label_plane(catalog, store, letters, 50)
        await plane.assign([0], {0: 0})
        for b in _batches(values, 2):
            await plane.process({0: b})
        await plane.flush()

    asyncio.run(run())
    rejected = {
        name: {k: v for k, v in store.parts[(name, 0)].counters.items() if k.startswith("rej")}
        for name in ("m", "m2")
    }
    assert rejected == {
        "m": {"rejected:bad_json": 1},
        "m2": {"rejected:bad_label": 1, "rejected:missing_prediction": 1},
    }
    assert sorted(d.reason for d in letters.got) == [
        "bad_json",
        "bad_label",
        "missing_prediction",
    ]
