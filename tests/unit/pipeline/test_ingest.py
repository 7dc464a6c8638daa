"""The ingest state machine: exactly-once under crashes, batch-boundary independence, sealing."""

from __future__ import annotations

import numpy as np
import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from stream.catalog import Catalog, ModelSpec
from stream.contract import Limits, parse_batch
from stream.core.window import HOUR_MS
from stream.pipeline.ingest import PartitionIngest, seek_offset
from stream.pipeline.ports import PartitionSnapshot
from stream.synth import Drift, SyntheticStream
from tests.unit.pipeline.memstore import MemoryStore

SPEC = ModelSpec.model_validate(
    {
        "name": "m",
        "prediction": "numeric",
        "features": {"x": "numeric", "y": "numeric", "c": "categorical"},
    }
)
CATALOG = Catalog.of(SPEC)
LIMITS = Limits(max_past_ms=10**13, max_future_ms=10**13)
LATENESS = 10 * 60_000


def _records(n: int, seed: int = 3) -> list[bytes]:
    gen = SyntheticStream(
        SPEC,
        start_ms=1_767_225_600_000,
        events_per_hour=400,
        seed=seed,
        drifts=[Drift("y", "null", 0.5, 1_767_225_600_000 + 2 * HOUR_MS)],
    )
    events = gen.events(0, n)
    rng = np.random.default_rng(seed)
    # Shuffle event times locally so some events arrive late and some hours reopen.
    for e in events:
        e["ts"] = int(e["ts"]) + int(rng.integers(-40, 5)) * 60_000
    values = [orjson.dumps(e) for e in events]
    values[7] = b"{not json"
    return values


def _run(values: list[bytes], cuts: list[int], crashes: set[int]) -> MemoryStore:
    """Feed values in batches ending at ``cuts``; 'crash' (lose memory) after batches in crashes."""
    store = MemoryStore()

    def claim() -> PartitionIngest:
        token, snap = store.claim("m", 0)
        return PartitionIngest.restore(
            SPEC, 0, token, snap, namespace="t", allowed_lateness_ms=LATENESS
        )

    state = claim()
    pending_crashes = set(crashes)
    pos = 0
    bounds = sorted({c for c in cuts if 0 < c < len(values)} | {len(values)})
    i = 0
    while pos < len(values):
        end = bounds[i]
        offsets = np.arange(pos, end, dtype=np.int64)
        batch = parse_batch(
            values[pos:end],
            np.full(end - pos, 1_767_225_600_000, np.int64),
            offsets,
            0,
            CATALOG,
            LIMITS,
        )
        state.apply(batch.blocks.get("m"), end - 1)
        if i in pending_crashes:
            pending_crashes.discard(i)
            # Crash before the flush: the batch's effect is lost and must be re-read.
            state = claim()
            pos = seek_offset([state], 0)
            i = next(k for k, b in enumerate(bounds) if b > pos)
            continue
        write = state.pending_write()
        if write is not None:
            store.flush([write])
            state.flushed()
        pos = end
        i += 1
    return store


VALUES = _records(1500)
BASELINE = _run(VALUES, [], set())


def test_baseline_seals_hours_and_counts_late_events() -> None:
    part = BASELINE.parts[("m", 0)]
    assert part.offset == len(VALUES)
    assert part.sealed is not None and len(part.open_hours) >= 1
    assert sum(part.late.values()) > 0  # the local shuffle produced late events
    events = sum(hw.events for hw in part.hours.values())
    assert events + sum(part.late.values()) == len(VALUES) - 1  # one record is bad JSON
    assert [n.hour_ms for n in part.outbox] == sorted(n.hour_ms for n in part.outbox)


@settings(max_examples=25, deadline=None)
@given(
    cuts=st.lists(st.integers(1, 1499), max_size=12),
    crashes=st.sets(st.integers(0, 12), max_size=4),
)
def test_crashes_and_batch_boundaries_do_not_change_stored_state(
    cuts: list[int], crashes: set[int]
) -> None:
    store = _run(VALUES, cuts, crashes)
    assert store.hour_state() == BASELINE.hour_state()
    a, b = store.parts[("m", 0)], BASELINE.parts[("m", 0)]
    assert (a.offset, a.watermark, a.sealed, a.open_hours, a.late) == (
        b.offset,
        b.watermark,
        b.sealed,
        b.open_hours,
        b.late,
    )


def test_a_fenced_out_writer_cannot_overwrite_the_new_owner() -> None:
    store = MemoryStore()
    token, snap = store.claim("m", 0)
    old = PartitionIngest.restore(SPEC, 0, token, snap, namespace="t", allowed_lateness_ms=0)
    store.claim("m", 0)  # another worker takes the partition
    batch = parse_batch(VALUES[:10], np.zeros(10, np.int64), np.arange(10), 0, CATALOG, LIMITS)
    old.apply(batch.blocks["m"], 9)
    write = old.pending_write()
    assert write is not None
    try:
        store.flush([write])
    except Exception as exc:  # noqa: BLE001 - asserting the type below
        assert type(exc).__name__ == "StaleWriterError"
    else:
        msg = "stale flush was accepted"
        raise AssertionError(msg)
    assert store.parts[("m", 0)].offset is None


def test_idle_partition_force_seal_emits_notices() -> None:
    snap = PartitionSnapshot(None, None, None, False, {}, {}, ())
    state = PartitionIngest.restore(SPEC, 0, "t", snap, namespace="t", allowed_lateness_ms=HOUR_MS)
    batch = parse_batch(VALUES[:20], np.zeros(20, np.int64), np.arange(20), 0, CATALOG, LIMITS)
    state.apply(batch.blocks["m"], 19)
    assert state.hours and not state.outbox
    state.force_seal(max(state.hours) + HOUR_MS)
    assert not state.hours
    assert [n.events for n in state.outbox] and sum(n.events for n in state.outbox) == 19
