"""Multiclass label ingest over in-memory ports: classes, dead letters, exactly once."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import numpy as np
import orjson
import pytest
from pydantic import ValidationError

from stream.catalog import Catalog, ModelSpec
from stream.core.multiclass import MulticlassPerformance
from stream.core.performance import BinaryPerformance
from stream.pipeline.labelplane import LabelPlane
from stream.pipeline.labels import decode_state
from stream.pipeline.memory import ListDeadLetters, MemoryLabelStore
from stream.pipeline.ports import RecordBatch
from stream.settings import load_settings
from tests.unit.pipeline.labelsim import label_plane

HOUR = 3_600_000
DAY = 24 * HOUR
T0 = 1_767_225_600_000
DELAY = 48 * HOUR
CLASSES = ["cat", "dog", "bird"]

SPEC = ModelSpec.model_validate(
    {
        "name": "mc",
        "features": {"x": "numeric"},
        "labels": {"classes": CLASSES, "max_label_delay_ms": DELAY},
    }
)
BINARY = ModelSpec.model_validate(
    {"name": "b", "features": {"x": "numeric"}, "labels": {"max_label_delay_ms": DELAY}}
)
CATALOG = Catalog.of(SPEC, BINARY)


def _plane(store: MemoryLabelStore, letters: ListDeadLetters) -> LabelPlane:
    return label_plane(CATALOG, store, letters)


def _label(i: int, ts: int, label: object, pred: object, model: str = "mc") -> bytes:
    return orjson.dumps(
        {"model": model, "id": f"e{i}", "ts": ts, "label": label, "prediction": pred}
    )


def _stream(n: int = 500, seed: int = 5) -> list[tuple[bytes, int]]:
    rng = random.Random(seed)
    out: list[tuple[bytes, int]] = []
    for i in range(n):
        ts = T0 + i * 90_000
        t = rng.choices(CLASSES, weights=[0.5, 0.3, 0.2])[0]
        p = t if rng.random() < 0.8 else rng.choice(CLASSES)
        rec = ts + rng.randrange(HOUR, 47 * HOUR)
        out.append((_label(i, ts, t, p), rec))
        if i % 41 == 0:  # a duplicate: the first wins
            out.append((_label(i, ts, "bird", "cat"), rec + 1000))
        if i % 59 == 0:  # too late
            out.append((_label(n + i, ts, "dog", "dog"), ts + DELAY + 1))
    out.sort(key=lambda v: v[1])
    out[7:7] = [
        (_label(9001, T0, "horse", "cat"), T0 + HOUR),  # a class not declared
        (_label(9002, T0, "cat", "horse"), T0 + HOUR),  # a predicted class not declared
        (orjson.dumps({"model": "mc", "id": "z", "ts": T0, "label": "cat"}), T0 + HOUR),
        (_label(9003, T0, 1.5, "cat"), T0 + HOUR),  # not a category value
        (_label(9004, T0, 1, 0.9, model="b"), T0 + HOUR),  # binary, beside it: unchanged
    ]
    return out


def _batches(values: list[tuple[bytes, int]], size: int) -> list[RecordBatch]:
    return [
        RecordBatch(
            0,
            [v for v, _ in values[lo : lo + size]],
            np.asarray([t for _, t in values[lo : lo + size]], np.int64),
            np.arange(lo, lo + len(values[lo : lo + size]), dtype=np.int64),
        )
        for lo in range(0, len(values), size)
    ]


async def _run(
    store: MemoryLabelStore, values: list[tuple[bytes, int]], size: int, crash_after: int = -1
) -> ListDeadLetters:
    letters = ListDeadLetters()
    plane = _plane(store, letters)
    await plane.assign([0], {0: 0})
    for i, b in enumerate(_batches(values, size)):
        if i == crash_after:  # forget memory without flushing, claim again, re-read
            plane = _plane(store, letters)
            seek = await plane.assign([0], {0: 0})
            for b2 in _batches(values, size):
                if int(b2.offsets[-1]) >= seek[0]:
                    await plane.process({0: b2})
            await plane.flush()
            return letters
        await plane.process({0: b})
    await plane.flush()
    return letters


def _dump(store: MemoryLabelStore) -> dict[tuple[str, int], tuple[object, ...]]:
    return {
        k: (p.next_offset, p.newest_record_ms, p.open_hours, p.hours, p.seen, p.counters)
        for k, p in store.parts.items()
    }


def test_classes_make_a_multiclass_model_and_bad_declarations_are_refused() -> None:
    assert SPEC.labels is not None and SPEC.labels.kind == "multiclass"
    assert SPEC.labels.class_index() == {"cat": 0, "dog": 1, "bird": 2}
    assert BINARY.labels is not None and BINARY.labels.kind == "binary"
    for bad in (
        {"classes": ["a"]},
        {"classes": [1, "1"]},
        {"kind": "multiclass"},
        {"kind": "binary", "classes": ["a", "b"]},
        {"classes": [str(i) for i in range(257)]},
    ):
        with pytest.raises(ValidationError):
            ModelSpec.model_validate({"name": "x", "features": {"x": "numeric"}, "labels": bad})


def test_multiclass_labels_fold_into_a_confusion_state_per_cell() -> None:
    values = _stream()
    store = MemoryLabelStore()
    letters = asyncio.run(_run(store, values, 64))
    c = store.parts[("mc", 0)].counters
    assert c["duplicate"] == len(range(0, 500, 41))
    assert c["label_too_late"] == len(range(0, 500, 59))
    assert c["applied"] == 500
    assert c["rejected:unknown_class"] == 2  # "horse", and 1.5 (not a category value)
    assert c["rejected:bad_prediction"] == 1
    assert c["rejected:missing_prediction"] == 1
    reasons = sorted(d.reason for d in letters.got)
    assert reasons == ["bad_prediction", "missing_prediction", "unknown_class", "unknown_class"]
    detail = {d.reason: d.detail for d in letters.got}
    assert "not one of the declared classes" in detail["bad_prediction"]
    # Every cell is a 3-class confusion state; together they hold every applied label.
    states = [decode_state(SPEC.labels, b) for b in store.parts[("mc", 0)].hours.values()]
    assert all(isinstance(s, MulticlassPerformance) and s.classes == 3 for s in states)
    total = store.multiclass_window("mc", T0 - DAY, T0 + 30 * DAY, 3)
    assert total.n == 500
    expected = MulticlassPerformance.zero(3)
    idx = SPEC.labels.class_index()  # type: ignore[union-attr]
    seen: set[str] = set()
    for raw, rec in values:
        e = orjson.loads(raw)
        if e["model"] != "mc" or e["id"] in seen or e.get("prediction") is None:
            continue
        if e["label"] not in idx or e["prediction"] not in idx or rec - e["ts"] > DELAY:
            continue
        seen.add(e["id"])
        expected.update([idx[e["label"]]], [idx[e["prediction"]]])
    assert total == expected
    # The binary model beside it keeps its binary state.
    (blob,) = store.parts[("b", 0)].hours.values()
    assert BinaryPerformance.from_bytes(blob).n == 1


@pytest.mark.parametrize("size", [1, 17, 1000])
def test_the_same_store_whatever_the_batching(size: int) -> None:
    values = _stream()
    one, other = MemoryLabelStore(), MemoryLabelStore()
    asyncio.run(_run(one, values, 64))
    asyncio.run(_run(other, values, size))
    assert _dump(one) == _dump(other)


def test_a_crash_before_a_flush_ends_as_an_uninterrupted_run() -> None:
    values = _stream()
    clean, crashed = MemoryLabelStore(), MemoryLabelStore()
    asyncio.run(_run(clean, values, 16))
    # Flushes every 50 events: batches 4-6 (48 labels) are applied in memory only.
    asyncio.run(_run(crashed, values, 16, crash_after=7))
    assert _dump(clean) == _dump(crashed)


def test_a_state_of_another_class_count_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="declares 3"):
        decode_state(SPEC.labels, MulticlassPerformance.zero(4).to_bytes())


def test_a_toml_config_declares_classes_and_coverage_points(tmp_path: Path) -> None:
    path = tmp_path / "driftstream.toml"
    path.write_text(
        '[models.s]\nfeatures = { x = "numeric" }\n[models.s.labels]\n'
        'classes = ["cat", "dog", 3]\njudge_at = [0.5, 0.9]\n'
        '[models.b]\nfeatures = { x = "numeric" }\n[models.b.labels]\njudge_at = [0.6]\n'
    )
    models = load_settings(path, env={}).models
    s, b = models.model("s").labels, models.model("b").labels
    assert s is not None and s.classes == ("cat", "dog", 3) and s.judge_at == (0.5, 0.9)
    assert b is not None and b.kind == "binary" and b.judge_at == (0.6,)
