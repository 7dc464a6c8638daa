"""Regression label ingest over in-memory ports: numeric targets, dead letters, exactly once."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import numpy as np
import orjson
import pytest
from pydantic import ValidationError

from stream.catalog import Catalog, ModelSpec
from stream.core.performance import BinaryPerformance
from stream.core.regression import RegressionPerformance
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

SPEC = ModelSpec.model_validate(
    {
        "name": "rg",
        "features": {"x": "numeric"},
        "labels": {"kind": "regression", "max_label_delay_ms": DELAY},
    }
)
BINARY = ModelSpec.model_validate(
    {"name": "b", "features": {"x": "numeric"}, "labels": {"max_label_delay_ms": DELAY}}
)
CATALOG = Catalog.of(SPEC, BINARY)


def _plane(store: MemoryLabelStore, letters: ListDeadLetters) -> LabelPlane:
    return label_plane(CATALOG, store, letters)


def _label(i: int, ts: int, label: object, pred: object, model: str = "rg") -> bytes:
    return orjson.dumps(
        {"model": model, "id": f"e{i}", "ts": ts, "label": label, "prediction": pred}
    )


BAD = [
    (_label(9001, T0, "12.5", 3.0), "bad_label"),  # a string, not a number
    (_label(9002, T0, True, 3.0), "bad_label"),  # a boolean
    (_label(9003, T0, 1e60, 3.0), "bad_label"),  # beyond ±1e50
    (_label(9004, T0, 2.0, 1e51), "bad_prediction"),
    (_label(9005, T0, 2.0, "7"), "bad_prediction"),
    (orjson.dumps({"model": "rg", "id": "z", "ts": T0, "label": 4.0}), "missing_prediction"),
    (_label(9006, T0, None, 3.0), "bad_label"),
]


def _stream(n: int = 500, seed: int = 5) -> list[tuple[bytes, int]]:
    rng = random.Random(seed)
    out: list[tuple[bytes, int]] = []
    for i in range(n):
        ts = T0 + i * 90_000
        y = rng.gauss(100.0, 15.0)
        p = y + rng.gauss(0.0, 3.0)
        label: object = round(y) if i % 7 == 0 else y  # integers are numbers too
        rec = ts + rng.randrange(HOUR, 47 * HOUR)
        out.append((_label(i, ts, label, p), rec))
        if i % 41 == 0:  # a duplicate: the first wins
            out.append((_label(i, ts, -5.0, 1e6), rec + 1000))
        if i % 59 == 0:  # too late
            out.append((_label(n + i, ts, 1.0, 1.0), ts + DELAY + 1))
    out.sort(key=lambda v: v[1])
    out[7:7] = [(raw, T0 + HOUR) for raw, _ in BAD]
    out.insert(9, (_label(9100, T0, 1, 0.9, model="b"), T0 + HOUR))  # binary beside it
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


def test_kind_regression_is_declared_and_contradictions_are_refused_by_field() -> None:
    assert SPEC.labels is not None and SPEC.labels.regression and not SPEC.labels.multiclass
    for bad, field in (
        ({"kind": "regression", "classes": ["a", "b"]}, "classes"),
        ({"kind": "regression", "positive": "yes"}, "positive"),
        ({"kind": "regression", "negative": 0}, "negative"),
        ({"kind": "regression", "threshold": 0.3}, "threshold"),
        ({"kind": "regresion"}, "kind"),
    ):
        with pytest.raises(ValidationError, match=field):
            ModelSpec.model_validate({"name": "x", "features": {"x": "numeric"}, "labels": bad})


def test_regression_labels_fold_into_exact_moments_per_cell() -> None:
    values = _stream()
    store = MemoryLabelStore()
    letters = asyncio.run(_run(store, values, 64))
    c = store.parts[("rg", 0)].counters
    assert c["duplicate"] == len(range(0, 500, 41))
    assert c["label_too_late"] == len(range(0, 500, 59))
    assert c["applied"] == 500
    want: dict[str, int] = {}
    for _, reason in BAD:
        want[reason] = want.get(reason, 0) + 1
    assert {k[9:]: v for k, v in c.items() if k.startswith("rejected:")} == want
    assert sorted(d.reason for d in letters.got) == sorted(r for _, r in BAD)
    details = sorted(d.detail for d in letters.got)
    assert "label '12.5': a number (the regression label)" in details
    assert "prediction 1e+51: a finite number within ±1e+50" in details
    assert "no label: a regression label is a number" in details
    states = [decode_state(SPEC.labels, b) for b in store.parts[("rg", 0)].hours.values()]
    assert all(isinstance(s, RegressionPerformance) for s in states)
    total = store.regression_window("rg", T0 - DAY, T0 + 30 * DAY)
    # The same state as folding the applied labels directly, in any order.
    seen: set[str] = set()
    ys: list[float] = []
    ps: list[float] = []
    for raw, rec in values:
        e = orjson.loads(raw)
        if (
            e["model"] != "rg"
            or e["id"] in seen
            or e["id"] in {"z", *(f"e{i}" for i in range(9001, 9007))}
        ):
            continue
        if rec - e["ts"] > DELAY:
            continue
        seen.add(e["id"])
        ys.append(float(e["label"]))
        ps.append(float(e["prediction"]))
    expected = RegressionPerformance()
    expected.update(ys[::-1], ps[::-1])
    assert total == expected and total.n == 500
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
    asyncio.run(_run(crashed, values, 16, crash_after=7))
    assert _dump(clean) == _dump(crashed)


def test_a_binary_state_under_a_regression_model_is_refused() -> None:
    with pytest.raises(ValueError, match="regression state"):
        decode_state(SPEC.labels, BinaryPerformance.zero().to_bytes())


def test_a_toml_config_declares_a_regression_model(tmp_path: Path) -> None:
    path = tmp_path / "driftstream.toml"
    path.write_text(
        '[models.r]\nfeatures = { x = "numeric" }\nprediction = "numeric"\n'
        '[models.r.labels]\nkind = "regression"\njudge_at = [0.5]\n'
    )
    r = load_settings(path, env={}).models.model("r").labels
    assert r is not None and r.regression and r.judge_at == (0.5,)
