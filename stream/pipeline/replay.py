"""Replay: a finished time range of a topic through the live ingest and rollup code.

A replay runs in its own Redis namespace and joins no consumer group, so it
never touches live keys or live offsets. The steps:

1. **Plan.** Per partition, the offsets of ``[from, to)`` (offsets for times).
2. **Ingest.** The same :class:`DataPlane` as live consumes the range; the
   partitions are claimed in the replay namespace, so an interrupted replay
   resumes from its stored offsets. Idle sealing is off: a replay's pace is
   not event time.
3. **Close.** The range is complete, so every partition seals its open hours
   (live would seal them when later events arrive).
4. **Roll up.** Seal notices feed the window store directly (no internal
   topic), then the same rollup pass as live merges hours and days.

Partitions can be split over several processes (``part_of``), each running
steps 1–3 for its share; one final pass runs step 4. Sketch merges are exact
and order-free, so 1 or N processes, any batch size and any speed give the
same windows.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from functools import partial

from stream.catalog import Catalog
from stream.contract import Limits
from stream.core.sketch import CategoricalSketch, JointSketch, NumericSketch
from stream.core.sketch.params import Sketch, SketchParams
from stream.pipeline.dataplane import DataPlane
from stream.pipeline.ingest import IngestLimits
from stream.pipeline.labelplane import LabelPlane
from stream.pipeline.ports import (
    Clock,
    DeadLetter,
    EventClock,
    FlushWrite,
    LabelStore,
    PartitionSnapshot,
    RecordBatch,
    SealNotice,
    SketchStore,
    StoredWindow,
    WindowStore,
)
from stream.pipeline.rollup import Decoding, RollupResult, roll_up

__all__ = [
    "RangeClock",
    "KeepSealed",
    "Progress",
    "ReplayNotices",
    "ReplaySummary",
    "SealedParts",
    "ingest_labels_range",
    "ingest_range",
    "roll_up_all",
]

NEVER_MS = 2**62


@dataclass
class Progress:
    """What a progress line reports."""

    done: int
    total: int
    started: float

    def line(self) -> str:
        """``events, %, events/s, ETA`` in one line."""
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = self.done / elapsed
        pct = 100.0 * self.done / self.total if self.total else 100.0
        eta = (self.total - self.done) / rate if rate > 0 else float("inf")
        return f"{self.done:,}/{self.total:,} records ({pct:5.1f}%)  {rate:,.0f}/s  ETA {eta:,.0f}s"


class SealedParts:
    """Sealed partition-hours' sketches as ingest left them, by their bytes.

    A one-process replay ingests and rolls up in the same process: the rollup merges
    these objects instead of decoding the bytes it reads back. Sketches are values with
    a canonical encoding, so an object and its bytes decoded judge and merge the same
    (tests/unit/pipeline/test_rollup.py). At most ``limit`` are kept (memory): the rest
    are decoded from their bytes as before, and so is any blob not found here.
    """

    def __init__(self, limit: int = 100_000, params: SketchParams | None = None) -> None:
        self.limit = limit
        self.params = params or SketchParams()
        self._kept: dict[bytes, Sketch | JointSketch] = {}
        self.taken = 0
        self.decoded = 0

    def keep(self, writes: Sequence[FlushWrite]) -> None:
        """The sealed hours of writes the store accepted."""
        for w in writes:
            for hw in w.hours:
                for name, blob in hw.sketches.items() if hw.final is not None else ():
                    final = hw.final.get(name) if hw.final is not None else None
                    if final is not None and len(self._kept) < self.limit:
                        self._kept[blob] = final

    def load(self, kind: str, blob: bytes) -> Sketch:
        """``blob`` decoded: the sketch ingest sealed, when kept."""
        kept = self._kept.get(blob)
        if isinstance(kept, NumericSketch if kind == "numeric" else CategoricalSketch):
            self.taken += 1
            return kept
        self.decoded += 1
        return self.params.load(kind, blob)

    def load_joint(self, blob: bytes) -> JointSketch:
        """A joint blob decoded: the sketch ingest sealed, when kept."""
        kept = self._kept.get(blob)
        if isinstance(kept, JointSketch):
            self.taken += 1
            return kept
        self.decoded += 1
        return JointSketch.from_bytes(blob)

    def clear(self) -> None:
        """Drop what is left (hours rolled up before, e.g. by an interrupted run)."""
        self._kept.clear()


class KeepSealed:
    """A ``SketchStore`` that also hands each accepted flush's sealed hours to ``parts``."""

    def __init__(self, store: SketchStore, parts: SealedParts) -> None:
        self._store = store
        self._parts = parts

    def claim(self, model: str, partition: int) -> tuple[str, PartitionSnapshot]:
        """As the store's."""
        return self._store.claim(model, partition)

    def flush(self, writes: Sequence[FlushWrite]) -> None:
        """As the store's; then the sealed hours are kept."""
        self._store.flush(writes)
        self._parts.keep(writes)


class ReplayNotices:
    """Seal notices go straight to the window store's pending hours."""

    def __init__(self, windows: WindowStore) -> None:
        self._windows = windows

    async def publish(self, notices: Sequence[SealNotice]) -> None:
        """Mark the sealed hours with data as pending rollup."""
        by_model: dict[str, list[int]] = {}
        for n in notices:
            if n.events:
                by_model.setdefault(n.model, []).append(n.hour_ms)
        for model, hours in by_model.items():
            self._windows.add_pending(model, hours)


@dataclass(frozen=True, slots=True)
class RangeClock:
    """A replay's event-time clock is its range, never the wall clock (deterministic)."""

    start_ms: int | None
    end_ms: int

    def now_ms(self) -> int:
        """The range end: later event times are ``ts_in_future``."""
        return self.end_ms

    def since_ms(self) -> int | None:
        """The range start: event times ``max_past_ms`` before it are out of bounds."""
        return self.start_ms


class CountingDeadLetters:
    """A replay's rejections are counted by reason (they were dead-lettered live)."""

    def __init__(self) -> None:
        self.by_reason: dict[str, int] = {}

    async def send(self, letters: Sequence[DeadLetter]) -> None:
        """Count the letters."""
        for d in letters:
            self.by_reason[d.reason] = self.by_reason.get(d.reason, 0) + 1


@dataclass(frozen=True)
class ReplaySummary:
    """What one ingest of a range did."""

    records: int
    accepted: int
    rejected: Mapping[str, int]
    late: int
    partitions: tuple[int, ...]
    unknown_model: int = 0
    unknown_models: Mapping[str, int] = field(default_factory=dict)


async def ingest_range(
    catalog: Catalog,
    *,
    topic: str,
    namespace: str,
    store: SketchStore,
    windows: WindowStore,
    batches: Callable[[Mapping[int, int]], AsyncGenerator[Mapping[int, RecordBatch], None]],
    starts: Mapping[int, int],
    total: int,
    clock: Clock,
    limits: Limits,
    allowed_lateness_ms: int,
    flush_every_events: int = 200_000,
    params: SketchParams | None = None,
    progress: Callable[[Progress], None] | None = None,
    event_clock: EventClock | None = None,
    ingest_limits: IngestLimits | None = None,
) -> ReplaySummary:
    """Steps 2–3 for the partitions in ``starts`` (partition → range start offset).

    ``batches(seek)`` yields record batches from the given per-partition offsets
    to the range's end. ``event_clock`` bounds event times: the range
    (:class:`RangeClock`, never the wall clock, so a replay is deterministic).
    """
    dead = CountingDeadLetters()
    plane = DataPlane(
        catalog,
        topic=topic,
        namespace=namespace,
        store=store,
        dead_letters=dead,
        notices=ReplayNotices(windows),
        clock=clock,
        limits=limits,
        allowed_lateness_ms=allowed_lateness_ms,
        flush_every_events=flush_every_events,
        flush_interval_ms=NEVER_MS,
        idle_partition_timeout_ms=NEVER_MS,
        params=params,
        event_clock=event_clock,
        ingest_limits=ingest_limits,
    )
    seeks = await plane.assign(sorted(starts), starts)
    prog = Progress(sum(max(0, seeks[p] - starts[p]) for p in starts), total, time.monotonic())
    # Closed here, also when processing fails: the reader's consumer closes at once.
    async with aclosing(batches(seeks)) as read:
        async for batch in read:
            await plane.process(batch)
            prog.done += sum(len(v) for v in batch.values())
            if progress is not None:
                progress(prog)
    for states in plane.states.values():
        for state in states.values():
            state.go_idle()  # the range is complete: nothing more will come
    await plane.flush()
    s = plane.stats
    return ReplaySummary(
        records=s.consumed,
        accepted=s.accepted,
        rejected=dict(dead.by_reason),
        late=s.late,
        partitions=tuple(sorted(starts)),
        unknown_model=s.unknown_model,
        unknown_models=dict(s.unknown_models),
    )


@dataclass(frozen=True)
class LabelReplaySummary:
    """What one ingest of the labels topic's range did."""

    records: int
    outcomes: Mapping[str, int]
    rejected: Mapping[str, int]
    unknown_model: int
    partitions: tuple[int, ...]


async def ingest_labels_range(
    catalog: Catalog,
    *,
    topic: str,
    store: LabelStore,
    batches: Callable[[Mapping[int, int]], AsyncGenerator[Mapping[int, RecordBatch], None]],
    starts: Mapping[int, int],
    clock: Clock,
    limits: Limits,
    flush_every_events: int = 200_000,
) -> LabelReplaySummary:
    """The labels topic's range through the live :class:`LabelPlane` (same state as live).

    Label state is keyed by prediction hour and arrival day, and duplicates and
    lateness are judged on record times, so the labels of a range end in the same
    state as the live consumer's; a resumed replay continues from its stored offsets.
    """
    dead = CountingDeadLetters()
    plane = LabelPlane(
        catalog,
        topic=topic,
        store=store,
        dead_letters=dead,
        clock=clock,
        limits=limits,
        flush_every_events=flush_every_events,
        flush_interval_ms=NEVER_MS,
    )
    seeks = await plane.assign(sorted(starts), starts)
    async with aclosing(batches(seeks)) as read:
        async for batch in read:
            await plane.process(batch)
    await plane.flush()
    s = plane.stats
    return LabelReplaySummary(
        records=s.consumed,
        outcomes=dict(s.outcomes),
        rejected=dict(dead.by_reason),
        unknown_model=s.unknown_model,
        partitions=tuple(sorted(starts)),
    )


def roll_up_all(
    catalog: Catalog,
    windows: WindowStore,
    params: SketchParams | None = None,
    on_window: Callable[[str, StoredWindow], None] | None = None,
    decoding: Decoding | None = None,
    sealed: SealedParts | None = None,
) -> dict[str, RollupResult]:
    """Step 4: one rollup pass per model (``on_window(model, window)`` per window made).

    ``decoding``: the evaluator's decode cache, so the windows' merged sketches are
    handed to the evaluation instead of decoded again from their bytes; ``sealed``:
    the partition-hours this process ingested, merged without decoding.
    """
    out = {}
    for spec in catalog.specs():
        each = None if on_window is None else partial(on_window, spec.name)
        out[spec.name] = roll_up(spec, windows, params, each, decoding, sealed)
    if sealed is not None:
        sealed.clear()
    return out


def part_of(partitions: Sequence[int], index: int, count: int) -> list[int]:
    """The partitions process ``index`` of ``count`` replays (round-robin, stable).

    >>> part_of(range(6), 1, 3)
    [1, 4]
    """
    return [p for p in partitions if p % count == index]
