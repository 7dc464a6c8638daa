"""Health evaluation over the in-memory stores: windows as the control plane hands them over."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from stream.catalog import ModelSpec
from stream.core.alert import Alert, build_alert
from stream.core.lifecycle import AlertEvent
from stream.core.performance import BinaryPerformance
from stream.core.sketch import NumericSketch
from stream.core.window import DAY, DAY_MS, WindowKey
from stream.pipeline.health_eval import HealthEvaluator, judged_lag
from stream.pipeline.memory import MemoryHealthStore
from stream.pipeline.ports import HealthCommit, LabelHourWrite, LabelWrite, StoredWindow

T0 = 1_767_225_600_000
A, B = -3.0, 1.7
N = 20_000
SPEC = ModelSpec.model_validate(
    {
        "name": "m",
        "features": {"x": "numeric"},
        "prediction": "numeric",
        "labels": {"max_label_delay_ms": 2 * DAY_MS},
        "alerts": {"windows": ["day"]},
    }
)


def _store(ref: BinaryPerformance | None) -> MemoryHealthStore:
    store = MemoryHealthStore()
    if ref is not None:
        store.put_reference_performance("m", ref)
    return store


# Labels delayed 1–48 h arrive ~23 % on their prediction's day, ~51 % the next, the rest after.
ARRIVAL = (0.23, 0.51, 0.26)


def _day_cells(start: int, s: np.ndarray, y: np.ndarray) -> list[LabelHourWrite]:
    """A day's labels as cells (one prediction-hour, one cell per arrival day)."""
    cells = []
    cuts = np.cumsum([0, *ARRIVAL])
    for day, (lo, hi) in enumerate(zip(cuts[:-1], cuts[1:], strict=True)):
        sel = slice(int(lo * len(s)), int(hi * len(s)))
        labels = BinaryPerformance.zero()
        labels.update(s[sel], y[sel], threshold=0.5)
        cells.append(LabelHourWrite(start, labels.to_bytes(), (), start + day * DAY_MS))
    return cells


@dataclass
class _LabelConsumer:
    """The label plane of one partition, reading labels in arrival order."""

    store: MemoryHealthStore
    cells: list[LabelHourWrite] = field(default_factory=list)
    offset: int = 0

    def ingest_through(self, day_ms: int) -> None:
        """Flush every label that arrived by the start of ``day_ms``'s day (newest: then)."""
        token, _ = self.store.label_store.claim("m", 0)
        now = tuple(c for c in self.cells if c.arrived_day_ms <= day_ms)
        self.cells = [c for c in self.cells if c.arrived_day_ms > day_ms]
        self.offset += len(now)
        write = LabelWrite("m", 0, token, self.offset, day_ms, (), now, {}, 0)
        self.store.label_store.flush([write])


def _decided(store: MemoryHealthStore) -> list[dict[str, Any]]:
    return [d for ds in store.decided.values() for d in ds]


def _encode(e: AlertEvent) -> bytes:
    return build_alert(e, dashboard_base="https://d.example.com").to_json()


def _scores(rng: np.random.Generator, sigma: float, la: float, lb: float) -> tuple:
    z = rng.normal(0, sigma, N)
    s = 1 / (1 + np.exp(-(A + B * z)))
    return s, rng.random(N) < 1 / (1 + np.exp(-(la + lb * z)))


def _run(
    shift: dict[str, float] | None,
    days: int = 14,
    *,
    behind: int = -1,
    catch_up_every: int = 0,
    wait: bool = True,
    notes: list[str] | None = None,
) -> tuple[MemoryHealthStore, list[Alert]]:
    """``days`` day windows, evaluated as each closes.

    The label consumer has ingested the labels that arrived through the day ``-behind``
    days after the window (-1: one day ahead, past the window's judging bound), caught up
    fully every ``catch_up_every`` days (then ``resume``), and at the end.
    """
    rng = np.random.default_rng(21)
    s, y = _scores(rng, 1.0, A, B)
    ref = BinaryPerformance.zero()
    ref.update(s, y, threshold=0.5)
    store = _store(ref)
    ev = HealthEvaluator(
        store, _encode, wait_for_labels=wait, note=notes.append if notes is not None else None
    )
    consumer = _LabelConsumer(store)
    for d in range(days):
        start = T0 + d * DAY_MS
        kw = {"sigma": 1.0, "la": A, "lb": B} | (shift if shift and d >= 10 else {})
        s, y = _scores(rng, kw["sigma"], kw["la"], kw["lb"])
        consumer.cells.extend(_day_cells(start, s, y))
        consumer.ingest_through(start - behind * DAY_MS)
        sketch = NumericSketch.zero()
        sketch.update(s)
        window = StoredWindow(WindowKey(DAY, start), N, 0, {"prediction": sketch.to_bytes()})
        store.windows.create_window("m", window)
        verdict = ev.evaluate(SPEC, window)
        assert verdict is not None
        if catch_up_every and d % catch_up_every == catch_up_every - 1:
            consumer.ingest_through(start + 3 * DAY_MS)
            ev.resume(SPEC)
    consumer.ingest_through(T0 + (days + 3) * DAY_MS)
    ev.resume(SPEC)
    return store, [Alert.from_json(a) for a in store.outbox("m")]


def test_a_stationary_fortnight_pages_nothing() -> None:
    store, alerts = _run(None)
    assert alerts == []
    assert judged_lag(SPEC, DAY) == 2
    judged = [d for d in _decided(store) if d["kind"] != "estimated"]
    # label shift, AUC, accuracy, calibration: days 0..12 at 74 % coverage (the 50 %
    # point, judged the next day), days 0..11 on their final labels (two days later).
    assert len(judged) == (13 + 12) * 4
    reasons = [d["reason"] for d in judged]
    assert sum("judged at 50 %" in r for r in reasons) == 13 * 4
    assert sum("judged at final" in r for r in reasons) == 12 * 4
    assert not any(d["breach"] for d in judged)


def test_label_shift_pages_on_the_first_judgement_with_enough_coverage() -> None:
    _, alerts = _run({"la": A + 0.5})
    label = [a for a in alerts if a.kind == "label"]
    # Day 10's labels reach 74 % coverage when day 11 closes: the alert is stepped on
    # the judging window (day 11), its reason names day 10, one day before final.
    assert [(a.status, a.window.start_ms) for a in label] == [("triggered", T0 + 11 * DAY_MS)]
    # More positives below the threshold: accuracy at the threshold really falls, and
    # P(y | score) moved (calibration); the AUC does not.
    perf = {f.name for a in alerts if a.kind == "performance" for f in a.features if f.breach}
    assert perf <= {"performance:accuracy", "performance:calibration"}
    f = label[0].features[0]
    assert f.name == "label:positive_share" and f.p_drift >= 0.99
    assert f.ci_low <= 0.05 + 0.01 and f.ci_high >= 0.05 - 0.01
    assert str(WindowKey(DAY, T0 + 10 * DAY_MS)) in f.reasons[-1]
    assert "coverage 74 %, judged at 50 %" in f.reasons[-1]


def test_each_stage_of_a_window_is_judged_once_even_when_evaluated_again() -> None:
    """A crash between commit and ack, or a replay, evaluates a window again: no re-judging."""
    store, _ = _run(None, days=4)
    ev = HealthEvaluator(store, _encode)
    window = store.windows.window("m", WindowKey(DAY, T0 + 3 * DAY_MS))
    assert window is not None
    verdict = ev.evaluate(SPEC, window)
    assert verdict is not None
    assert [d.kind for d in verdict.decisions] == ["estimated", "estimated"]


def test_covariate_shift_pages_on_the_estimate_when_the_window_closes() -> None:
    _, alerts = _run({"sigma": 0.6})
    first = alerts[0]
    assert (first.kind, first.window.start_ms) == ("performance", T0 + 10 * DAY_MS)
    assert first.features[0].name.startswith("estimated:")


def test_concept_shift_pages_on_realized_performance_not_on_the_estimate() -> None:
    store, alerts = _run({"la": -2.62, "lb": 0.95})
    assert alerts, "the realized AUC drop must page"
    names = {f.name for a in alerts for f in a.features if f.breach}
    assert "performance:auc" in names and "performance:calibration" in names
    assert not any(n.startswith("estimated:") for n in names)
    estimated = [d for d in _decided(store) if d["kind"] == "estimated"]
    assert estimated and not any(d["breach"] for d in estimated)


def test_no_labelled_reference_is_said_not_silent() -> None:
    store = _store(None)
    verdict = HealthEvaluator(store, _encode).evaluate(
        SPEC, StoredWindow(WindowKey(DAY, T0), 10, 0, {})
    )
    assert verdict is not None and "no labelled reference" in verdict.skipped[0]


def test_a_window_whose_labels_are_below_the_first_point_is_judged_on_its_estimate_only() -> None:
    store, _ = _run(None, days=1)  # 23 % of day 0's labels arrived by its end: < 50 %
    assert all(d["kind"] == "estimated" for d in _decided(store))


SHIFTS = [None, {"la": A + 0.5}, {"la": -2.62, "lb": 0.95}, {"sigma": 0.6}]


@pytest.mark.parametrize("shift", SHIFTS, ids=["stationary", "label", "concept", "covariate"])
def test_a_lagging_label_consumer_defers_and_then_decides_as_replay(
    shift: dict[str, float] | None,
) -> None:
    """Replay = live whatever the label consumer's lag: decisions and alerts byte-equal."""
    replay, replay_alerts = _run(shift, behind=-3, wait=False)  # every label ingested first
    assert replay.decided
    for kw in ({}, {"behind": 1, "catch_up_every": 3}, {"behind": 2}, {"behind": 0}):
        live, alerts = _run(shift, **kw)  # type: ignore[arg-type]
        assert live.decided == replay.decided, kw
        assert live.outbox("m") == replay.outbox("m"), kw
        assert alerts == replay_alerts
        assert live.deferred("m", DAY) == []


def test_without_waiting_a_lagging_consumer_judges_on_fewer_labels() -> None:
    """The gap the wait closes: judged at once, a lagging consumer's decisions differ."""
    replay, _ = _run(None, behind=-3, wait=False)
    eager, _ = _run(None, behind=1, wait=False)
    assert eager.decided != replay.decided


def test_a_deferred_window_is_said_once_naming_what_it_waits_for() -> None:
    notes: list[str] = []
    store, _ = _run(None, days=4, behind=1, notes=notes)
    waits = [n for n in notes if "deferred: " in n]
    # every window waits (the consumer is a day behind): said once each
    assert len(waits) == 4
    assert sum("queued behind" in n for n in waits) == 3  # days 1–3, each behind the one before
    assert waits[0].startswith(f"model health of m {WindowKey(DAY, T0)}: deferred: waiting")
    assert "label partition(s) 0 at 2025-12-31T00:00:00.000Z" in waits[0]
    assert "judging bound 2026-01-02T00:00:00.000Z" in waits[0]
    assert sum("judged after waiting for labels" in n for n in notes) == 4
    assert store.deferred("m", DAY) == []


def test_the_queue_survives_a_restart() -> None:
    """Deferred windows are stored: a new evaluator (a restarted worker) judges them."""
    store, _ = _run(None, days=3, behind=1)
    fresh, _ = _run(None, days=3, behind=-3, wait=False)
    assert store.decided == fresh.decided
    # The same, with the final resume by a new evaluator after the queue was left.
    notes: list[str] = []
    lagging = _store(None)
    ev = HealthEvaluator(lagging, _encode, note=notes.append)
    rng = np.random.default_rng(21)
    s, y = _scores(rng, 1.0, A, B)
    ref = BinaryPerformance.zero()
    ref.update(s, y, threshold=0.5)
    lagging.put_reference_performance("m", ref)
    consumer = _LabelConsumer(lagging)
    for d in range(3):
        start = T0 + d * DAY_MS
        s, y = _scores(rng, 1.0, A, B)
        consumer.cells.extend(_day_cells(start, s, y))
        consumer.ingest_through(start - 3 * DAY_MS)  # far behind: nothing covered
        sketch = NumericSketch.zero()
        sketch.update(s)
        window = StoredWindow(WindowKey(DAY, start), N, 0, {"prediction": sketch.to_bytes()})
        lagging.windows.create_window("m", window)
        verdict = ev.evaluate(SPEC, window)
        assert verdict is not None and verdict.waiting
    assert len(lagging.deferred("m", DAY)) == 3 and not lagging.decided
    assert ev.waiting() == {"m": 3} and ev.counts == {"deferred": 3, "resumed": 0}
    consumer.ingest_through(T0 + 6 * DAY_MS)
    done = HealthEvaluator(lagging, _encode).resume(SPEC)  # the restarted worker
    # The first worker's view: the windows were judged elsewhere, so none waits any more.
    assert ev.resume(SPEC) == [] and ev.waiting() == {}
    assert [v.window for v in done] == [WindowKey(DAY, T0 + d * DAY_MS) for d in range(3)]
    assert lagging.decided == fresh.decided


def test_an_idle_label_partition_covers_the_bound() -> None:
    """No label after the bound, but the partition was found idle at its end past it."""
    notes: list[str] = []
    store, _ = _run(None, days=2, behind=1, notes=notes)  # judged at the end's catch-up
    assert store.decided
    store2 = _store(store.reference_performance(SPEC))
    ev = HealthEvaluator(store2, _encode)
    token, _ = store2.label_store.claim("m", 0)
    window = StoredWindow(WindowKey(DAY, T0), 10, 0, {})
    store2.windows.create_window("m", window)
    verdict = ev.evaluate(SPEC, window)
    assert verdict is not None and verdict.waiting
    assert "0 at no label yet" in verdict.skipped[0]
    assert store2.label_store.mark_idle("m", 0, token, T0 + DAY_MS - 1)
    assert ev.resume(SPEC) == [] and store2.deferred("m", DAY) == [window.key]
    assert not store2.label_store.mark_idle("m", 0, "stale", T0 + DAY_MS)  # fenced
    assert store2.label_store.mark_idle("m", 0, token, T0 + DAY_MS)
    (done,) = ev.resume(SPEC)
    assert done.window == window.key and store2.deferred("m", DAY) == []


def test_a_window_another_worker_judged_is_not_committed_again() -> None:
    store = _store(None)
    key = WindowKey(DAY, T0)
    c = HealthCommit("m", key, [], {}, [b"x"], {}, True)
    assert not store.commit(c)  # not queued: judged elsewhere
    assert store.outbox("m") == [] and not store.decided
    store.defer("m", key)
    store.defer("m", key)  # idempotent
    assert store.deferred("m", DAY) == [key]
    assert store.commit(c) and store.outbox("m") == [b"x"]
    assert not store.commit(c)


def test_waiting_windows_are_counted_until_judged() -> None:
    """What /metrics shows: windows waiting now, and deferred/resumed counts."""
    s, y = _scores(np.random.default_rng(21), 1.0, A, B)
    ref = BinaryPerformance.zero()
    ref.update(s, y, threshold=0.5)
    store = _store(ref)
    ev = HealthEvaluator(store, _encode)
    token, _ = store.label_store.claim("m", 0)
    window = StoredWindow(WindowKey(DAY, T0), 10, 0, {})
    store.windows.create_window("m", window)
    verdict = ev.evaluate(SPEC, window)
    assert verdict is not None and verdict.waiting
    assert ev.waiting() == {"m": 1} and ev.counts == {"deferred": 1, "resumed": 0}
    assert store.label_store.mark_idle("m", 0, token, T0 + DAY_MS)
    (done,) = ev.resume(SPEC)
    assert done.window == window.key
    assert ev.waiting() == {} and ev.counts == {"deferred": 1, "resumed": 1}


def test_waiting_is_read_without_the_judging_lock() -> None:
    """A /metrics scrape on the event loop never waits for a judgement in progress."""
    ev = HealthEvaluator(_store(None), _encode)
    with ev._lock:  # a judgement holding the lock (its Redis calls may be slow)
        done = threading.Event()
        t = threading.Thread(target=lambda: (ev.waiting(), done.set()))
        t.start()
        assert done.wait(5), "waiting() blocked on the judging lock"
    t.join()
