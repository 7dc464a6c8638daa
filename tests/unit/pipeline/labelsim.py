"""A label plane over in-memory ports, and a fortnight judged over them (label tests)."""

from __future__ import annotations

from stream.catalog import Catalog, ModelSpec
from stream.contract import Limits
from stream.core.alert import Alert
from stream.core.window import DAY, DAY_MS, HOUR_MS, WindowKey
from stream.core.window import HOUR as HOUR_SCALE
from stream.pipeline.health_eval import HealthEvaluator
from stream.pipeline.labelplane import LabelPlane
from stream.pipeline.memory import ListDeadLetters, ManualClock, MemoryHealthStore, MemoryLabelStore
from stream.pipeline.ports import LabelHourWrite, LabelWrite, StoredWindow

HOUR = 3_600_000


def label_plane(
    catalog: Catalog, store: MemoryLabelStore, letters: ListDeadLetters, every: int = 50
) -> LabelPlane:
    """Flushes every ``every`` events (never on the interval); labels ≤ 1 h ahead."""
    return LabelPlane(
        catalog,
        topic="labels",
        store=store,
        dead_letters=letters,
        clock=ManualClock(0),
        limits=Limits(max_future_ms=HOUR),
        flush_every_events=every,
        flush_interval_ms=10**12,
    )


def judge_fortnight(
    store: MemoryHealthStore,
    ev: HealthEvaluator,
    spec: ModelSpec,
    writes: list[LabelHourWrite],
    *,
    t0: int,
    days: int,
    rate: int,
) -> list[Alert]:
    """Flush ``writes`` as one label partition's state, then evaluate every hour window
    (and each day window as its last hour closes) in order: the triggered alerts."""
    token, _ = store.label_store.claim(spec.name, 0)
    store.label_store.flush(
        [LabelWrite(spec.name, 0, token, 1, t0 + (days + 3) * DAY_MS, (), tuple(writes), {}, 0)]
    )
    for h in range(days * 24):
        start = t0 + h * HOUR_MS
        keys = [WindowKey(HOUR_SCALE, start)]
        if (h + 1) % 24 == 0:
            keys.append(WindowKey(DAY, start + HOUR_MS - DAY_MS))
        for key in keys:
            window = StoredWindow(key, rate if key.scale == HOUR_SCALE else 24 * rate, 0, {})
            store.windows.create_window(spec.name, window)
            ev.evaluate(spec, window)
    alerts = map(Alert.from_json, store.outbox(spec.name))
    return [a for a in alerts if a.status == "triggered"]
