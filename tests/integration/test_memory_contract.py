"""One contract, two implementations: the in-memory ports behave like the Redis adapters.

Every test runs twice, against ``stream.pipeline.memory`` and against the Redis
adapters on the session's Redis, so the fakes the fast tests use cannot drift
from what production does. ``-k fake`` runs the in-memory half alone, without servers.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from stream.adapters.redis_eval import RedisEvaluationStore
from stream.adapters.redis_health import RedisHealthStore
from stream.adapters.redis_labels import RedisLabelStore
from stream.adapters.redis_refs import RedisReferences
from stream.adapters.redis_store import RedisSketchStore
from stream.adapters.redis_windows import RedisWindowStore
from stream.catalog import ModelSpec
from stream.core.calibrate import ModelCalibration, calibrate_model
from stream.core.decide import Decision
from stream.core.lifecycle import AlertState
from stream.core.performance import BinaryPerformance
from stream.core.sketch.params import Sketch, SketchParams, merge_sketches
from stream.core.window import DAY, DAY_MS, HOUR, HOUR_MS, WindowKey
from stream.pipeline.memory import (
    MemoryEvaluationStore,
    MemoryHealthStore,
    MemoryLabelStore,
    MemorySketchStore,
    MemoryWindowStore,
)
from stream.pipeline.ports import (
    EvaluationCommit,
    FlushWrite,
    HealthCommit,
    HourWrite,
    LabelHourWrite,
    LabelWrite,
    SealNotice,
    StaleWriterError,
    StoredWindow,
)
from stream.pipeline.reference import Reference
from stream.pipeline.rollup import RollupResult, roll_up

T0 = 1_767_225_600_000  # 2026-01-01T00:00Z
SPEC = ModelSpec.model_validate({"name": "m", "features": {"x": "numeric"}})


@dataclass
class Backend:
    """The three stores of one implementation, plus how a reference is stored there."""

    sketches: Any
    windows: Any
    evals: Any
    save_reference: Callable[[Reference, ModelCalibration | None], None]
    labels: Any
    health: Any


def _memory() -> Backend:
    sketches = MemorySketchStore()
    windows = MemoryWindowStore(sketches)
    evals = MemoryEvaluationStore(windows)

    labels = MemoryLabelStore()
    health = MemoryHealthStore(windows, labels, evals.outboxes)

    def save(ref: Reference, cal: ModelCalibration | None) -> None:
        evals.put_reference(ref.model, {f: s.to_bytes() for f, s in ref.sketches.items()}, cal)
        if ref.performance is not None:
            health.put_reference_performance(ref.model, ref.performance)

    return Backend(sketches, windows, evals, save, labels, health)


def _redis(request: pytest.FixtureRequest) -> Backend:
    client = request.getfixturevalue("redis_client")
    ns = request.getfixturevalue("redis_namespace")
    windows = RedisWindowStore(client, ns)
    refs = RedisReferences(client, ns)

    def save(ref: Reference, cal: ModelCalibration | None) -> None:
        refs.save(ref, None if cal is None else cal.to_dict())

    evals = RedisEvaluationStore(client, ns, windows)
    labels = RedisLabelStore(client, ns)
    health = RedisHealthStore(client, ns, windows, labels)
    return Backend(RedisSketchStore(client, ns), windows, evals, save, labels, health)


@pytest.fixture(params=["fake", "redis"])
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    """The in-memory fakes, or the Redis adapters on a namespace of the session's Redis."""
    yield _memory() if request.param == "fake" else _redis(request)


def _write(
    model: str,
    partition: int,
    token: str,
    *,
    offset: int | None = 10,
    sealed: int | None = None,
    idle: bool = False,
    hours: tuple[HourWrite, ...] = (),
    open_hours: tuple[int, ...] = (),
    late: dict[int, int] | None = None,
    notices: tuple[SealNotice, ...] = (),
    rejected: dict[str, int] | None = None,
) -> FlushWrite:
    return FlushWrite(
        model,
        partition,
        token,
        next_offset=offset,
        watermark_ms=None if offset is None else T0 + offset,
        sealed_through_ms=sealed,
        open_hours=open_hours,
        idle=idle,
        hours=hours,
        late=late or {},
        notices=notices,
        recent_ms=(T0 + 1, T0 + 2) if offset else (),
        rejected=rejected or {},
    )


def _hour(h: int, events: int, sealed: bool = False, **sketches: bytes) -> HourWrite:
    return HourWrite(h, events, sketches, sealed=sealed, undeclared={})


# -- SketchStore ---------------------------------------------------------------------------


def test_a_first_claim_finds_nothing_stored(backend: Backend) -> None:
    token, snap = backend.sketches.claim("m", 0)
    assert token
    assert (snap.next_offset, snap.watermark_ms, snap.sealed_through_ms, snap.idle) == (
        None,
        None,
        None,
        False,
    )
    assert (dict(snap.hours), dict(snap.late), snap.pending_notices) == ({}, {}, ())
    assert (snap.recent_ms, dict(snap.rejected)) == ((), {})


def test_a_claim_reads_back_everything_the_last_flush_stored(backend: Backend) -> None:
    token, _ = backend.sketches.claim("m", 3)
    notice = SealNotice("ns", "m", 3, T0, 5, 1, T0 + HOUR_MS)
    open_hour = HourWrite(
        T0 + HOUR_MS, 7, {"x": b"sk"}, sealed=False, undeclared={"k": 2}, undeclared_overflow=4
    )
    backend.sketches.flush(
        [
            _write(
                "m",
                3,
                token,
                offset=42,
                sealed=T0 + HOUR_MS,
                hours=(_hour(T0, 5, True, x=b"old"), open_hour),
                open_hours=(T0 + HOUR_MS,),
                late={T0: 1},
                notices=(notice,),
                rejected={"bad_json": 2},
            )
        ]
    )
    token2, snap = backend.sketches.claim("m", 3)
    assert token2 != token
    assert (snap.next_offset, snap.watermark_ms, snap.sealed_through_ms, snap.idle) == (
        42,
        T0 + 42,
        T0 + HOUR_MS,
        False,
    )
    assert dict(snap.hours) == {T0 + HOUR_MS: open_hour}  # open hours only, as not sealed
    assert dict(snap.late) == {T0: 1}
    assert snap.pending_notices == (notice,)
    assert snap.recent_ms == (T0 + 1, T0 + 2)
    assert dict(snap.rejected) == {"bad_json": 2}


def test_a_stale_writer_is_fenced_out_and_the_other_writes_of_its_call_land(
    backend: Backend,
) -> None:
    old, _ = backend.sketches.claim("m", 0)
    current, _ = backend.sketches.claim("m", 0)  # another worker claimed partition 0
    mine, _ = backend.sketches.claim("m", 1)
    with pytest.raises(StaleWriterError, match="m/0"):
        backend.sketches.flush([_write("m", 0, old, offset=99), _write("m", 1, mine, offset=7)])
    assert backend.sketches.claim("m", 0)[1].next_offset is None
    assert backend.sketches.claim("m", 1)[1].next_offset == 7
    assert current != old


def test_a_write_to_a_partition_never_claimed_is_refused(backend: Backend) -> None:
    with pytest.raises(StaleWriterError):
        backend.sketches.flush([_write("m", 5, "no-such-token")])


def test_hour_fields_merge_by_name_and_counters_are_set_per_key(backend: Backend) -> None:
    token, _ = backend.sketches.claim("m", 0)
    first = HourWrite(T0, 3, {"x": b"a", "y": b"b"}, sealed=False, undeclared={"k": 1, "j": 1})
    first = HourWrite(T0, 3, first.sketches, False, first.undeclared, undeclared_overflow=5)
    backend.sketches.flush(
        [_write("m", 0, token, hours=(first,), open_hours=(T0,), late={T0: 2, T0 + 1: 1})]
    )
    second = HourWrite(T0, 4, {"x": b"c"}, sealed=False, undeclared={"k": 3})
    backend.sketches.flush(
        [
            _write(
                "m",
                0,
                token,
                hours=(second,),
                open_hours=(T0,),
                late={T0: 3},
                rejected={"bad_json": 1},
            )
        ]
    )
    backend.sketches.flush([_write("m", 0, token, open_hours=(T0,), rejected={"wrong_type": 2})])
    hour = backend.sketches.claim("m", 0)[1].hours[T0]
    assert hour.events == 4
    assert dict(hour.sketches) == {"x": b"c", "y": b"b"}  # y was not in the write: kept
    assert dict(hour.undeclared) == {"k": 3, "j": 1}
    assert hour.undeclared_overflow == 5  # a write without overflow leaves it
    snap = backend.sketches.claim("m", 0)[1]
    assert dict(snap.late) == {T0: 3, T0 + 1: 1}
    assert dict(snap.rejected) == {"bad_json": 1, "wrong_type": 2}


def test_the_outbox_is_replaced_whole(backend: Backend) -> None:
    token, _ = backend.sketches.claim("m", 0)
    a, b = (SealNotice("ns", "m", 0, T0 + i * HOUR_MS, 1, 0, T0) for i in range(2))
    backend.sketches.flush([_write("m", 0, token, notices=(a, b))])
    backend.sketches.flush([_write("m", 0, token, notices=(b,))])
    assert backend.sketches.claim("m", 0)[1].pending_notices == (b,)
    token, _ = backend.sketches.claim("m", 0)
    backend.sketches.flush([_write("m", 0, token)])
    assert backend.sketches.claim("m", 0)[1].pending_notices == ()


# -- WindowStore ---------------------------------------------------------------------------


def test_progress_lists_every_claimed_partition(backend: Backend) -> None:
    backend.sketches.claim("m", 0)  # claimed, nothing flushed: holds rollups back
    token, _ = backend.sketches.claim("m", 1)
    backend.sketches.flush([_write("m", 1, token, sealed=T0 + HOUR_MS, idle=True)])
    backend.sketches.claim("other", 2)
    assert backend.windows.progress("m") == {0: (None, False), 1: (T0 + HOUR_MS, True)}
    assert backend.windows.progress("nobody") == {}


def test_partition_hours_and_late_counts_sum_over_partitions(backend: Backend) -> None:
    for p, n in ((0, 3), (1, 4), (2, 0)):
        token, _ = backend.sketches.claim("m", p)
        hours = (_hour(T0, n, True, x=f"s{p}".encode()),) if n else ()
        backend.sketches.flush([_write("m", p, token, hours=hours, late={T0: p})])
    parts = backend.windows.partition_hours("m", T0)
    assert sorted((n, dict(s)) for n, s in parts) == [(3, {"x": b"s0"}), (4, {"x": b"s1"})]
    assert backend.windows.partition_hours("m", T0 + HOUR_MS) == []
    assert backend.windows.late_count("m", T0) == 0 + 1 + 2
    assert backend.windows.late_count("m", T0 + HOUR_MS) == 0


def test_windows_are_create_only_and_keep_the_pending_sets(backend: Backend) -> None:
    w = backend.windows
    h1, h2 = T0 + HOUR_MS, T0 + 2 * HOUR_MS
    w.add_pending("m", [h2, h1])
    w.add_pending("m", [h1])
    assert w.pending_hours("m") == [h1, h2]
    assert w.pending_days("m") == []
    window = StoredWindow(WindowKey(HOUR, h1), 9, 2, {"x": b"merged", "y": b"other"})
    assert w.create_window("m", window) is True
    assert w.create_window("m", StoredWindow(window.key, 1, 0, {"x": b"later"})) is False
    assert w.window("m", window.key) == window
    assert w.window("m", WindowKey(HOUR, h2)) is None
    assert w.pending_hours("m") == [h2]
    assert w.pending_days("m") == [T0]
    w.add_pending("m", [h1])  # a duplicate notice of an hour already rolled up
    assert w.pending_hours("m") == [h2]
    day = StoredWindow(WindowKey(DAY, T0), 9, 2, {"x": b"day"})
    assert w.create_window("m", day) is True
    assert w.pending_days("m") == []
    # An hour window created after its day window marks the day pending again, and the
    # day's create-only write then leaves it pending (the Lua script's rule, kept).
    assert w.create_window("m", StoredWindow(WindowKey(HOUR, h2), 1, 0, {})) is True
    assert w.pending_days("m") == [T0]
    assert w.create_window("m", day) is False
    assert w.pending_days("m") == [T0]
    assert w.window("m", WindowKey(HOUR, h2)) == StoredWindow(WindowKey(HOUR, h2), 1, 0, {})
    assert w.pending_hours("other") == [] and w.window("other", day.key) is None
    assert WindowKey(DAY, T0 + DAY_MS) != day.key


def test_data_hours_are_the_hours_some_partition_stored_events_in(backend: Backend) -> None:
    stored = {0: (_hour(T0, 3, True), _hour(T0 + 2 * HOUR_MS, 0, True)), 1: (), 2: ()}
    stored[1] = (_hour(T0 + 5 * HOUR_MS, 4, True), _hour(T0 + 2 * HOUR_MS, 0, True))
    stored[2] = (_hour(T0 + DAY_MS, 1, True),)
    for p, hours in stored.items():
        token, _ = backend.sketches.claim("m", p)
        backend.sketches.flush([_write("m", p, token, hours=hours)])
    backend.sketches.claim("m", 3)  # claimed, nothing stored
    w = backend.windows
    assert w.data_hours("m", T0, T0 + DAY_MS) == [T0, T0 + 5 * HOUR_MS]  # empty hours left out
    assert w.data_hours("m", T0 + HOUR_MS, T0 + 5 * HOUR_MS) == []  # [start, end)
    assert w.data_hours("m", T0 + DAY_MS, T0 + 2 * DAY_MS) == [T0 + DAY_MS]
    assert w.data_hours("other", T0, T0 + DAY_MS) == []


def test_a_day_is_rolled_up_with_every_hour_that_has_data_notice_or_not(
    backend: Backend,
) -> None:
    # Two partitions sealed the whole day; only hour 0's seal notice has come in so
    # far (hour 23's is in a later batch). The day window must still hold hour 23.
    last = T0 + 23 * HOUR_MS
    for p, h, n in ((0, T0, 3), (1, last, 4)):
        token, _ = backend.sketches.claim("m", p)
        write = _write("m", p, token, sealed=T0 + DAY_MS, hours=(_hour(h, n, True),))
        backend.sketches.flush([write])
    w = backend.windows
    w.add_pending("m", [T0])
    made = roll_up(SPEC, w)
    assert [x.key for x in made.hours] == [WindowKey(HOUR, T0), WindowKey(HOUR, last)]
    assert [(x.key, x.events) for x in made.days] == [(WindowKey(DAY, T0), 7)]
    assert w.pending_hours("m") == [] and w.pending_days("m") == []
    w.add_pending("m", [last])  # hour 23's notice, at last: nothing left to do
    assert roll_up(SPEC, w) == RollupResult((), ())
    assert w.pending_hours("m") == []


def test_created_windows_wait_to_be_evaluated_until_marked(backend: Backend) -> None:
    w = backend.windows
    h1, h2 = T0 + HOUR_MS, T0 + 2 * HOUR_MS
    assert w.unevaluated("m") == []
    for key in (WindowKey(HOUR, h2), WindowKey(DAY, T0), WindowKey(HOUR, h1)):
        assert w.create_window("m", StoredWindow(key, 1, 0, {})) is True
    assert w.create_window("m", StoredWindow(WindowKey(HOUR, h1), 2, 0, {})) is False
    assert w.unevaluated("m") == [WindowKey(HOUR, h1), WindowKey(HOUR, h2), WindowKey(DAY, T0)]
    w.mark_evaluated("m", WindowKey(HOUR, h1))
    w.mark_evaluated("m", WindowKey(HOUR, h1))  # twice: no error
    w.mark_evaluated("m", WindowKey(DAY, T0 + DAY_MS))  # never created: no error
    assert w.unevaluated("m") == [WindowKey(HOUR, h2), WindowKey(DAY, T0)]
    assert w.create_window("m", StoredWindow(WindowKey(HOUR, h1), 2, 0, {})) is False
    assert w.unevaluated("m") == [WindowKey(HOUR, h2), WindowKey(DAY, T0)]  # not re-listed
    assert w.unevaluated("other") == []


def test_a_window_marked_failed_leaves_the_list_and_keeps_its_error(backend: Backend) -> None:
    w = backend.windows
    h1, h2 = T0 + HOUR_MS, T0 + 2 * HOUR_MS
    for key in (WindowKey(HOUR, h1), WindowKey(HOUR, h2)):
        w.create_window("m", StoredWindow(key, 1, 0, {}))
    assert w.failed_windows("m") == {}
    w.mark_failed("m", WindowKey(HOUR, h1), "ValueError: bad sketch")
    assert w.unevaluated("m") == [WindowKey(HOUR, h2)]
    assert w.failed_windows("m") == {WindowKey(HOUR, h1): "ValueError: bad sketch"}
    assert w.failed_windows("other") == {}


def test_unfinished_attempts_are_counted_until_the_window_is_evaluated_or_failed(
    backend: Backend,
) -> None:
    w = backend.windows
    h1, h2 = WindowKey(HOUR, T0 + HOUR_MS), WindowKey(HOUR, T0 + 2 * HOUR_MS)
    for key in (h1, h2):
        w.create_window("m", StoredWindow(key, 1, 0, {}))
    assert [w.start_attempt("m", h1) for _ in range(3)] == [1, 2, 3]
    assert w.start_attempt("m", h2) == 1 and w.start_attempt("other", h1) == 1
    w.mark_evaluated("m", h1)
    assert w.start_attempt("m", h1) == 1  # evaluated: its count is gone
    w.mark_failed("m", h2, "ValueError: bad sketch")
    assert w.start_attempt("m", h2) == 1  # failed: gone too


# -- EvaluationStore -------------------------------------------------------------------------


def _reference() -> tuple[Reference, ModelCalibration]:
    params = SketchParams()
    hours: dict[int, dict[str, Sketch]] = {
        T0 + i * HOUR_MS: {"x": params.zero("numeric").update(np.arange(50.0) + i)}  # type: ignore[call-arg]
        for i in range(30)
    }
    merged = params.zero("numeric")
    for row in hours.values():
        merged = merge_sketches(merged, row["x"])
    cal = calibrate_model("m", SPEC.kinds, hours, draws=50)
    return Reference("m", "training", {"x": merged}, hours, 1_500, 0), cal


def test_the_reference_reads_back_with_its_calibration(backend: Backend) -> None:
    other = ModelSpec.model_validate({"name": "n", "features": {"x": "numeric"}})
    assert backend.evals.reference(other) is None
    ref, cal = _reference()
    backend.save_reference(ref, cal)
    got = backend.evals.reference(SPEC)
    assert got is not None
    sketches, stored_cal = got
    assert dict(sketches) == {"x": ref.sketches["x"].to_bytes()}
    assert stored_cal is not None and stored_cal.to_dict() == cal.to_dict()


def test_commit_keeps_decisions_states_and_the_outbox_until_acked(backend: Backend) -> None:
    ev = backend.evals
    key = WindowKey(HOUR, T0)
    assert ev.alert_states("m", HOUR, ["reference", "previous"]) == {
        "reference": None,
        "previous": None,
    }
    assert ev.decisions("m", key) == {}
    decision = Decision(
        "x", True, 0.4, "mean_shift", 0.1, 0.01, 0.99, 0.97, 0.4, (0.3, 0.5), "warning", ("r",)
    )
    state = AlertState("m", HOUR, "reference")
    ev.commit(EvaluationCommit("m", key, "reference", [decision], state, [b"a1", b"a2"]))
    ev.commit(EvaluationCommit("m", key, "previous", [], AlertState("m", HOUR, "previous"), []))
    ev.commit(EvaluationCommit("m", WindowKey(HOUR, T0 + HOUR_MS), "reference", [], state, [b"a3"]))
    assert ev.decisions("m", key) == {
        "reference": [json.loads(json.dumps(decision.to_dict()))],
        "previous": [],
    }
    states = ev.alert_states("m", HOUR, ["reference", "previous"])
    assert states["reference"].to_dict() == state.to_dict()
    assert states["previous"].to_dict() == AlertState("m", HOUR, "previous").to_dict()
    assert ev.outbox("m") == [b"a1", b"a2", b"a3"]
    ev.ack("m", 2)
    assert ev.outbox("m") == [b"a3"]
    ev.ack("m", 0)
    assert ev.outbox("m") == [b"a3"]
    assert ev.outbox("other") == []


# -- LabelStore ----------------------------------------------------------------------------


def _labels(
    partition: int,
    token: str,
    hours: tuple[LabelHourWrite, ...] = (),
    counters: dict[str, int] | None = None,
    open_hours: tuple[tuple[int, int], ...] = (),
    offset: int = 5,
) -> LabelWrite:
    return LabelWrite(
        "m", partition, token, offset, T0 + offset, open_hours, hours, counters or {}, 0
    )


def test_labels_claim_reads_back_what_the_last_flush_stored(backend: Backend) -> None:
    token, snap = backend.labels.claim("m", 0)
    assert (snap.next_offset, snap.newest_record_ms, dict(snap.hours), dict(snap.counters)) == (
        None,
        None,
        {},
        {},
    )
    hours = (LabelHourWrite(T0, b"p0", (1, 2)), LabelHourWrite(T0 + HOUR_MS, b"p1", (3,)))
    # The open cells (hour, arrival day): one with a state, one never written (not in
    # the snapshot).
    opened = ((T0 + HOUR_MS, 0), (T0 + 2 * HOUR_MS, 0))
    backend.labels.flush([_labels(0, token, hours, {"applied": 3}, opened, offset=9)])
    _, snap = backend.labels.claim("m", 0)
    assert (snap.next_offset, snap.newest_record_ms) == (9, T0 + 9)
    assert dict(snap.hours) == {(T0 + HOUR_MS, 0): b"p1"}  # open cells only
    assert dict(snap.counters) == {"applied": 3}


def test_labels_counters_are_set_per_name_and_hour_states_replaced(backend: Backend) -> None:
    token, _ = backend.labels.claim("m", 0)
    first = (LabelHourWrite(T0, b"old", (1,)),)
    cell = ((T0, 0),)
    backend.labels.flush([_labels(0, token, first, {"applied": 1, "duplicate": 4}, cell)])
    second = (LabelHourWrite(T0, b"new", (2,)),)
    backend.labels.flush([_labels(0, token, second, {"applied": 2}, cell)])
    _, snap = backend.labels.claim("m", 0)
    assert dict(snap.hours) == {(T0, 0): b"new"}
    assert dict(snap.counters) == {"applied": 2, "duplicate": 4}


def test_labels_window_counts_the_cells_that_arrived_before_the_bound(backend: Backend) -> None:
    from stream.core.performance import BinaryPerformance

    token, _ = backend.labels.claim("m", 0)
    day = 86_400_000
    early, late = BinaryPerformance.zero(), BinaryPerformance.zero()
    early.update(np.array([0.9, 0.1]), np.array([True, False]), threshold=0.5)
    late.update(np.array([0.8]), np.array([True]), threshold=0.5)
    cells = (
        LabelHourWrite(T0, early.to_bytes(), (1, 2), T0),
        LabelHourWrite(T0, late.to_bytes(), (), T0 + day),
    )
    opened = ((T0, T0), (T0, T0 + day))
    backend.labels.flush([_labels(0, token, cells, {"applied": 3}, opened)])
    assert backend.labels.window("m", T0, T0 + day).n == 3
    assert backend.labels.window("m", T0, T0 + day, T0 + day).n == 2
    assert backend.labels.window("m", T0, T0 + day, T0).n == 0
    _, snap = backend.labels.claim("m", 0)
    assert set(snap.hours) == {(T0, T0), (T0, T0 + day)}


def test_labels_seen_answers_the_flushed_ids_of_each_hour(backend: Backend) -> None:
    token, _ = backend.labels.claim("m", 0)
    hours = (LabelHourWrite(T0, b"s", (11, 12)), LabelHourWrite(T0 + HOUR_MS, b"s", (13,)))
    backend.labels.flush([_labels(0, token, hours)])
    backend.labels.flush([_labels(0, token, (LabelHourWrite(T0, b"s", (14,)),))])
    asked = {
        T0: np.array([10, 11, 14], dtype=np.int64),
        T0 + HOUR_MS: np.array([11, 12], dtype=np.int64),
        T0 + 2 * HOUR_MS: np.array([13], dtype=np.int64),
    }
    got = backend.labels.seen("m", 0, asked)
    assert {h: a.tolist() for h, a in got.items()} == {T0: [11, 14]}
    assert backend.labels.seen("m", 7, asked) == {}  # a partition never claimed
    assert backend.labels.seen("m", 0, {}) == {}


def test_labels_a_stale_writer_is_fenced_out_and_the_rest_lands(backend: Backend) -> None:
    old, _ = backend.labels.claim("m", 0)
    backend.labels.claim("m", 0)
    mine, _ = backend.labels.claim("m", 1)
    with pytest.raises(StaleWriterError, match="m/0"):
        backend.labels.flush([_labels(0, old), _labels(1, mine, offset=3)])
    assert backend.labels.claim("m", 0)[1].next_offset is None
    assert backend.labels.claim("m", 1)[1].next_offset == 3
    with pytest.raises(StaleWriterError):
        backend.labels.flush([_labels(4, "never-claimed")])


# -- HealthStore -----------------------------------------------------------------------------


def _performance(n: int, seed: int) -> BinaryPerformance:
    rng = np.random.default_rng(seed)
    perf = BinaryPerformance.zero()
    perf.update(rng.random(n), rng.random(n) < 0.3, threshold=0.5)
    return perf


def test_health_reads_the_reference_performance(backend: Backend) -> None:
    other = ModelSpec.model_validate({"name": "n", "features": {"x": "numeric"}})
    assert backend.health.reference_performance(other) is None  # (Redis caches a miss)
    ref, cal = _reference()
    ref.performance = _performance(200, 1)
    backend.save_reference(ref, cal)
    got = backend.health.reference_performance(SPEC)
    assert got is not None and got.to_bytes() == ref.performance.to_bytes()


def test_health_labels_merge_partitions_and_hours_of_the_window(backend: Backend) -> None:
    day = WindowKey(DAY, T0)
    parts = {
        (0, T0): _performance(50, 2),
        (0, T0 + 5 * HOUR_MS): _performance(60, 3),
        (1, T0 + 23 * HOUR_MS): _performance(70, 4),
        (1, T0 + DAY_MS): _performance(80, 5),  # the next day: not in the window
    }
    for p in (0, 1):
        token, _ = backend.labels.claim("m", p)
        hours = tuple(
            LabelHourWrite(h, perf.to_bytes(), ()) for (q, h), perf in parts.items() if q == p
        )
        backend.labels.flush([_labels(p, token, hours)])
    got = backend.health.labels("m", day)
    want = BinaryPerformance.zero()
    for (_, h), perf in sorted(parts.items()):
        if h < T0 + DAY_MS:
            want = want.merge(perf)
    assert got.to_bytes() == want.to_bytes() and got.n == 180
    assert backend.health.labels("m", WindowKey(DAY, T0 + 2 * DAY_MS)).n == 0


def test_health_predictions_states_and_the_shared_alert_outbox(backend: Backend) -> None:
    day = WindowKey(DAY, T0)
    assert backend.health.predictions("m", day) is None
    backend.windows.create_window("m", StoredWindow(day, 1234, 0, {}))
    assert backend.health.predictions("m", day) == 1234
    assert backend.health.health_states("m", DAY) == {}
    label = AlertState("m", DAY, "label")
    perf = AlertState("m", DAY, "performance", last_window_ms=T0)
    backend.evals.commit(
        EvaluationCommit("m", day, "reference", [], AlertState("m", DAY, "reference"), [b"f1"])
    )
    backend.health.commit(
        HealthCommit("m", day, [], {"label": label, "performance": perf}, [b"h1", b"h2"])
    )
    states = backend.health.health_states("m", DAY)
    assert {k: s.to_dict() for k, s in states.items()} == {
        "label": label.to_dict(),
        "performance": perf.to_dict(),
    }
    assert backend.health.health_states("m", HOUR) == {}
    assert backend.evals.outbox("m") == [b"f1", b"h1", b"h2"]  # one alert outbox per model


def test_health_label_progress_and_idle_marks_are_fenced(backend: Backend) -> None:
    """What the health evaluation waits on: per claimed partition, newest and idle time."""
    assert backend.health.label_progress("m") == {}
    t0, _ = backend.labels.claim("m", 0)
    t1, _ = backend.labels.claim("m", 1)
    backend.labels.flush([_labels(0, t0, offset=7)])
    assert backend.health.label_progress("m") == {0: (T0 + 7, None), 1: (None, None)}
    assert backend.labels.mark_idle("m", 1, t1, T0 + 99)
    assert not backend.labels.mark_idle("m", 1, "stale", T0 + 500)  # fenced: nothing written
    assert backend.health.label_progress("m") == {0: (T0 + 7, None), 1: (None, T0 + 99)}


def test_health_deferred_windows_queue_and_leave_with_their_commit_once(
    backend: Backend,
) -> None:
    days = [WindowKey(DAY, T0 + d * DAY_MS) for d in (2, 0, 1)]
    hour = WindowKey(HOUR, T0)
    for key in [*days, days[0], hour]:  # a window queued twice is queued once
        backend.health.defer("m", key)
    assert backend.health.deferred("m", DAY) == sorted(days, key=lambda k: k.start_ms)
    assert backend.health.deferred("m", HOUR) == [hour]
    first = WindowKey(DAY, T0)
    c = HealthCommit("m", first, [], {}, [b"h1"], {T0: 1}, True)
    assert backend.health.commit(c)
    assert not backend.health.commit(c)  # judged already (another worker): nothing written
    assert backend.health.deferred("m", DAY) == [days[2], days[0]]
    assert backend.evals.outbox("m") == [b"h1"]
    assert backend.health.judged("m", DAY) == {T0: 1}
    # A live commit of a window never queued (a replay's) is not refused.
    assert backend.health.commit(HealthCommit("m", WindowKey(DAY, T0 + 5 * DAY_MS), [], {}, []))
    assert backend.health.window("m", first) is None
