"""The control plane over the in-memory ports: seal notices → rollups, idempotent."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stream.catalog import Catalog, ModelSpec
from stream.contract import Limits
from stream.core.window import DAY, HOUR, HOUR_MS, WindowKey
from stream.pipeline.control import ControlPlane
from stream.pipeline.dataplane import DataPlane
from stream.pipeline.ingest import IngestLimits
from stream.pipeline.memory import (
    ListDeadLetters,
    ListNotices,
    ManualClock,
    MemorySketchStore,
    MemoryWindowStore,
)
from stream.pipeline.ports import FlushWrite, HourWrite, RawRecord, SealNotice, StoredWindow
from stream.synth import SyntheticStream

SPEC = ModelSpec.model_validate(
    {"name": "m", "prediction": "numeric", "features": {"x": "numeric", "c": "categorical"}}
)
CATALOG = Catalog.of(SPEC)
T0 = 1_767_225_600_000  # 2026-01-01T00:00Z


def _ingest(hours: int = 30, per_hour: int = 40) -> tuple[MemorySketchStore, list[SealNotice]]:
    """``hours`` of events over two partitions through the data plane, sealed to the end."""
    gen = SyntheticStream(SPEC, start_ms=T0, events_per_hour=per_hour, seed=2)
    records: dict[int, list[RawRecord]] = {0: [], 1: []}
    for i, e in enumerate(gen.events(0, hours * per_hour)):
        records[i % 2].append(RawRecord(i % 2, i // 2, T0, orjson.dumps(e)))
    store, notices = MemorySketchStore(), ListNotices()
    plane = DataPlane(
        CATALOG,
        topic="t",
        namespace="ns",
        store=store,
        dead_letters=ListDeadLetters(),
        notices=notices,
        clock=ManualClock(T0),
        limits=Limits(max_past_ms=10**13, max_future_ms=10**13),
        allowed_lateness_ms=0,
        flush_every_events=10**9,
        flush_interval_ms=10**9,
        idle_partition_timeout_ms=10**9,
        ingest_limits=IngestLimits(watermark_min_events=5),
    )

    async def run() -> None:
        await plane.assign([0, 1], {0: 0, 1: 0})
        await plane.process(records)
        for states in plane.states.values():
            for state in states.values():
                state.go_idle()
        await plane.flush()

    asyncio.run(run())
    return store, notices.got


STORE, NOTICES = _ingest()


class Plane:
    """A control plane over a fresh window store, recording what it hands on."""

    def __init__(self, store: MemorySketchStore = STORE) -> None:
        self.windows = MemoryWindowStore(store)
        self.reported: list[tuple[str, WindowKey]] = []
        self.passes: list[str] = []
        self.control = ControlPlane(
            CATALOG,
            "ns",
            self.windows,
            on_window=lambda m, w: self.reported.append((m, w.key)),
            after_model=self.passes.append,
        )

    def stored(self, scale: str) -> dict[WindowKey, StoredWindow]:
        return {k: w for (_, k), w in self.windows.windows.items() if k.scale == scale}


ONE_BATCH = Plane()
ONE_BATCH.control.on_notices(NOTICES)


def test_one_batch_of_notices_rolls_up_every_complete_hour_and_day() -> None:
    hours, days = ONE_BATCH.stored(HOUR), ONE_BATCH.stored(DAY)
    assert sorted(k.start_ms for k in hours) == [T0 + h * HOUR_MS for h in range(30)]
    assert sorted(k.start_ms for k in days) == [T0]  # the second day is not over
    assert sum(w.events for w in hours.values()) == 30 * 40
    assert days[WindowKey(DAY, T0)].events == 24 * 40
    assert len(ONE_BATCH.reported) == len(set(ONE_BATCH.reported)) == 31


def test_a_redelivered_batch_changes_nothing_and_reports_nothing() -> None:
    plane = Plane()
    plane.control.on_notices(NOTICES)
    before = dict(plane.windows.windows)
    results = plane.control.on_notices(NOTICES)  # a crash after the pass: delivered again
    assert results["m"].hours == () and results["m"].days == ()
    assert plane.windows.windows == before
    assert len(plane.reported) == 31
    assert plane.control.stats.notices == 2 * len(NOTICES)
    assert plane.control.stats.hours_rolled == 30 and plane.control.stats.days_rolled == 1
    assert plane.passes == ["m", "m"]


@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_any_grouping_duplication_and_order_of_notices_gives_the_same_windows(
    data: st.DataObject,
) -> None:
    notices = data.draw(st.permutations(NOTICES))
    extra = data.draw(st.lists(st.sampled_from(NOTICES), max_size=10))
    stream = [*notices, *extra]
    cuts = sorted(data.draw(st.sets(st.integers(1, len(stream) - 1), max_size=8)))
    plane = Plane()
    for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        plane.control.on_notices(stream[a:b])
    assert plane.stored(HOUR) == ONE_BATCH.stored(HOUR)
    assert plane.stored(DAY) == ONE_BATCH.stored(DAY)  # every hour in it, whatever the batches
    assert sorted(plane.reported) == sorted(set(plane.reported))  # each window once


def test_notices_of_other_namespaces_and_models_are_counted_not_rolled() -> None:
    plane = Plane()
    foreign = [
        SealNotice("elsewhere", "m", 0, T0, 5, 0, T0 + HOUR_MS),
        SealNotice("ns", "unknown", 0, T0, 5, 0, T0 + HOUR_MS),
    ]
    assert plane.control.on_notices(foreign) == {}
    assert plane.control.stats.foreign_notices == 2 and plane.control.stats.notices == 2
    assert plane.windows.windows == {} and plane.passes == []


def test_an_empty_hour_notice_completes_an_hour_another_partition_has_data_in() -> None:
    store = MemorySketchStore()
    t0, _ = store.claim("m", 0)
    t1, _ = store.claim("m", 1)
    hour = HourWrite(T0, 3, {}, sealed=True, undeclared={})

    def write(p: int, token: str, hours: tuple[HourWrite, ...]) -> FlushWrite:
        return FlushWrite("m", p, token, 9, T0, T0 + HOUR_MS, (), False, hours, {}, ())

    plane = Plane(store)
    store.flush([write(0, t0, (hour,))])
    plane.control.on_notices([SealNotice("ns", "m", 0, T0, 3, 0, T0 + HOUR_MS)])
    assert plane.windows.pending_hours("m") == [T0]  # partition 1 has not sealed T0 yet
    assert plane.reported == []
    store.flush([write(1, t1, ())])
    plane.control.on_notices([SealNotice("ns", "m", 1, T0, 0, 0, T0 + HOUR_MS)])
    assert plane.reported == [("m", WindowKey(HOUR, T0))]
    assert plane.windows.window("m", WindowKey(HOUR, T0)) is not None


def test_a_day_window_holds_every_hour_whatever_batches_the_notices_came_in() -> None:
    plane = Plane()
    ordered = sorted(NOTICES, key=lambda n: (n.hour_ms, n.partition))
    split = next(i for i, n in enumerate(ordered) if n.hour_ms == T0 + 23 * HOUR_MS)
    plane.control.on_notices(ordered[:split])
    plane.control.on_notices(ordered[split:])
    assert plane.stored(DAY) == ONE_BATCH.stored(DAY)


def test_a_window_made_before_a_crash_in_evaluation_is_evaluated_after_redelivery() -> None:
    plane = Plane()
    crashed: list[WindowKey] = []

    def crash_once(model: str, window: StoredWindow) -> None:
        if not crashed:
            crashed.append(window.key)
            msg = "worker killed mid-evaluation"
            raise RuntimeError(msg)
        plane.reported.append((model, window.key))

    plane.control.on_window = crash_once
    with pytest.raises(RuntimeError):
        plane.control.on_notices(NOTICES)
    assert plane.windows.window("m", crashed[0]) is not None  # made, never evaluated
    plane.control.on_notices(NOTICES)  # the batch is delivered again
    assert plane.reported[0] == ("m", crashed[0])  # first, in time order
    assert sorted(plane.reported) == sorted(set(plane.reported))  # each window once
    assert len(plane.reported) == 31 and plane.control.stats.windows_resumed == 31
    assert plane.windows.unevaluated("m") == []
    plane.control.on_notices(NOTICES)  # and again: nothing left to hand on
    assert len(plane.reported) == 31


def test_a_window_whose_evaluation_always_raises_is_marked_failed_and_stops_blocking(
    caplog: pytest.LogCaptureFixture,
) -> None:
    plane = Plane()
    plane.control.max_attempts = 3
    bad: list[WindowKey] = []

    def poisoned(model: str, window: StoredWindow) -> None:
        if not bad:
            bad.append(window.key)
        if window.key == bad[0]:
            msg = "cannot decode sketch"
            raise ValueError(msg)
        plane.reported.append((model, window.key))

    plane.control.on_window = poisoned
    for _ in range(2):  # attempts 1 and 2: the error propagates, the window blocks the rest
        with pytest.raises(ValueError, match="cannot decode"):
            plane.control.on_notices(NOTICES)
        assert plane.reported == [] and bad[0] in plane.windows.unevaluated("m")
    with caplog.at_level("ERROR", logger="driftstream.control"):
        plane.control.on_notices(NOTICES)  # attempt 3: given up on, the others go on
    assert plane.control.stats.windows_failed == 1 and plane.control.stats.eval_errors == 3
    assert plane.windows.failed_windows("m") == {bad[0]: "ValueError: cannot decode sketch"}
    assert bad[0] not in plane.windows.unevaluated("m")
    assert len(plane.reported) == 30 and ("m", bad[0]) not in plane.reported
    line = caplog.records[-1].getMessage()
    assert "m" in line and str(bad[0]) in line and "cannot decode sketch" in line
    assert "evaluate.max_attempts" in line
    plane.control.on_notices(NOTICES)  # nothing left, nothing retried
    assert len(plane.reported) == 30 and plane.control.stats.eval_errors == 3


class _ProcessEnded(BaseException):
    """The process ending mid-evaluation (kill -9, out of memory): no handler runs."""


def _restarted(plane: Plane) -> ControlPlane:
    """A new process's control plane over the same (stored) windows."""
    return ControlPlane(
        CATALOG,
        "ns",
        plane.windows,
        on_window=lambda m, w: plane.reported.append((m, w.key)),
        max_attempts=3,
    )


def test_a_window_that_ends_its_process_three_times_is_marked_failed_on_the_next_start(
    caplog: pytest.LogCaptureFixture,
) -> None:
    plane = Plane()
    bad: list[WindowKey] = []

    def fatal(model: str, window: StoredWindow) -> None:
        if not bad:
            bad.append(window.key)
        if window.key == bad[0]:
            raise _ProcessEnded
        plane.reported.append((model, window.key))

    for _ in range(3):  # three processes, each killed while evaluating the same window
        control = _restarted(plane)
        control.on_window = fatal
        with pytest.raises(_ProcessEnded):
            control.on_notices(NOTICES)
        assert bad[0] in plane.windows.unevaluated("m")
    control = _restarted(plane)  # the fourth process does not try it again
    control.on_window = fatal
    with caplog.at_level("ERROR", logger="driftstream.control"):
        control.on_notices(NOTICES)
    reason = plane.windows.failed_windows("m")[bad[0]]
    assert reason.startswith("evaluation did not finish in 3 attempts (the process stopped")
    assert control.stats.windows_failed == 1 and control.stats.eval_errors == 0
    assert bad[0] not in plane.windows.unevaluated("m") and plane.windows.attempts == {}
    assert len(plane.reported) == 30 and ("m", bad[0]) not in plane.reported
    assert "evaluate.max_attempts = 3" in caplog.records[-1].getMessage()


def test_failed_attempts_survive_a_restart_and_a_finished_window_forgets_them() -> None:
    plane = Plane()
    bad: list[WindowKey] = []
    fail = [True]

    def flaky(model: str, window: StoredWindow) -> None:
        if not bad:
            bad.append(window.key)
        if window.key == bad[0] and fail[0]:
            msg = "redis timed out"
            raise TimeoutError(msg)
        plane.reported.append((model, window.key))

    for _ in range(2):  # two failed attempts, each in its own process
        control = _restarted(plane)
        control.on_window = flaky
        with pytest.raises(TimeoutError):
            control.on_notices(NOTICES)
    assert plane.windows.attempts == {("m", bad[0]): 2}
    fail[0] = False  # the cause went away: the third attempt succeeds and clears the count
    control = _restarted(plane)
    control.on_window = flaky
    control.on_notices(NOTICES)
    assert plane.windows.failed_windows("m") == {} and plane.windows.attempts == {}
    assert len(plane.reported) == 31

    again = Plane()  # the same two failures, then a third in a new process: given up on
    bad.clear()
    fail[0] = True
    for expect_raise in (True, True, False):
        control = _restarted(again)
        control.on_window = flaky
        if expect_raise:
            with pytest.raises(TimeoutError):
                control.on_notices(NOTICES)
        else:
            control.on_notices(NOTICES)
    assert again.windows.failed_windows("m") == {bad[0]: "TimeoutError: redis timed out"}
