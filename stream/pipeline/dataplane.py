"""The data plane's batch loop, over ports: parse → apply → (periodically) flush.

The worker's ``IngestService`` (stream/runtime.py) drives it: it calls
:meth:`DataPlane.assign` and :meth:`DataPlane.revoke` from the Kafka consumer's
rebalance listener and :meth:`DataPlane.process` with each ``getmany`` result;
a replay (``stream.pipeline.replay.ingest_range``) drives it over a range.
One flush (``DataPlane.flush``) runs these steps in this order; each is safe
to crash after:

1. **Dead letters** of everything applied so far are sent and acknowledged,
   before any offset past them is stored (a crash re-reads and re-sends them:
   at least once, never lost).
2. **State**: every changed (model, partition) is written to the store in one
   atomic, fenced call each (see ``stream.pipeline.ingest``).
3. **Notices** waiting in the outboxes are published, then dropped from memory;
   the next flush stores the shorter outbox.
4. **Commit** the consumed offsets to the Kafka group, for lag monitoring only:
   the store's offsets are the truth a new owner seeks to.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence

import numpy as np

from stream.catalog import Catalog
from stream.contract import Limits, ParsedBatch, parse_batch
from stream.core.sketch.params import SketchParams
from stream.pipeline.ingest import (
    TOO_MANY_OPEN_HOURS,
    IngestLimits,
    PartitionIngest,
    seek_offset,
)
from stream.pipeline.ports import (
    Clock,
    DeadLetter,
    DeadLetterSink,
    EventClock,
    IngestStats,
    NoticeSink,
    RawRecord,
    RecordBatch,
    SketchStore,
)

__all__ = ["DataPlane"]

#: Distinct unknown model names counted by name (hostile input is bounded).
MAX_UNKNOWN_NAMES = 100


class DataPlane:
    """Per-worker ingest: the states of every (model, partition) this worker owns."""

    def __init__(
        self,
        catalog: Catalog,
        *,
        topic: str,
        namespace: str,
        store: SketchStore,
        dead_letters: DeadLetterSink,
        notices: NoticeSink,
        clock: Clock,
        limits: Limits,
        allowed_lateness_ms: int,
        flush_every_events: int,
        flush_interval_ms: int,
        idle_partition_timeout_ms: int,
        params: SketchParams | None = None,
        commit: Callable[[Mapping[int, int]], Awaitable[bool]] | None = None,
        event_clock: EventClock | None = None,
        ingest_limits: IngestLimits | None = None,
    ) -> None:
        """Wire the data plane; ``event_clock`` bounds event times.

        ``event_clock`` is the wall clock live and the range in a replay
        (``ts_in_future`` / ``ts_out_of_bounds``); None applies only the
        record-timestamp bounds. ``clock`` paces flushes and idle
        detection (wall clock; never event time).
        """
        self.catalog = catalog
        self.topic = topic
        self.namespace = namespace
        self.store = store
        self.dead_letters = dead_letters
        self.notices = notices
        self.clock = clock
        self.limits = limits
        self.allowed_lateness_ms = allowed_lateness_ms
        self.flush_every_events = flush_every_events
        self.flush_interval_ms = flush_interval_ms
        self.idle_partition_timeout_ms = idle_partition_timeout_ms
        self.params = params or SketchParams()
        self.event_clock = event_clock
        self.ingest_limits = ingest_limits or IngestLimits()
        self._commit = commit
        self.states: dict[int, dict[str, PartitionIngest]] = {}
        # Partitions the group gave us; a failed claim leaves them owned but stateless.
        self.owned: set[int] = set()
        self.stats = IngestStats()
        self._letters: list[DeadLetter] = []
        self._since_flush = 0
        self._last_flush_ms = clock.now_ms()
        # Wall-clock time of the last record of each (partition, model).
        self._last_record_ms: dict[tuple[int, str], int] = {}
        self._lock = asyncio.Lock()
        self._committed: dict[int, int] = {}
        # Claim generations: a batch fetched before its partition's latest claim was
        # read from the old position and must not be folded into the restored state.
        self._claims = 0
        self._claimed_at: dict[int, int] = {}
        # The offset each claimed partition continues from (the seek, then each batch).
        self._next: dict[int, int] = {}

    # -- rebalance ----------------------------------------------------------------
    async def assign(self, partitions: Sequence[int], start: Mapping[int, int]) -> dict[int, int]:
        """Claim ``partitions`` for every model; return the offset to seek each to.

        ``start`` is where a model with no stored state begins (the reset policy).
        """
        seeks: dict[int, int] = {}
        async with self._lock:
            self.owned.update(partitions)
            for p in partitions:
                states = {}
                for spec in self.catalog.specs():
                    token, snap = await asyncio.to_thread(self.store.claim, spec.name, p)
                    states[spec.name] = PartitionIngest.restore(
                        spec,
                        p,
                        token,
                        snap,
                        namespace=self.namespace,
                        allowed_lateness_ms=self.allowed_lateness_ms,
                        params=self.params,
                        limits=self.ingest_limits,
                    )
                self.states[p] = states
                now = self.clock.now_ms()
                for name in states:
                    self._last_record_ms[(p, name)] = now
                seeks[p] = seek_offset(list(states.values()), start[p])
            await self._publish_outboxes()
            # After the last await: the caller seeks before anything else runs, so a
            # fetch that began before this point is older than the seek.
            self._claims += 1
            for p in partitions:
                self._claimed_at[p] = self._claims
                self._next[p] = seeks[p]
        return seeks

    @property
    def claims(self) -> int:
        """The claim generation: read it before a fetch, pass it to :meth:`process`."""
        return self._claims

    async def reclaim(self, start: Mapping[int, int]) -> dict[int, int]:
        """Forget everything in memory and claim the owned partitions again.

        After a store outage the store may have lost recent writes (or a flush may
        have half-succeeded across partitions): recovering exactly like a crash,
        from what the store holds, is the one path that is always correct.
        """
        async with self._lock:
            owned = sorted(self.owned)
            self.states.clear()
            self._letters = []
            self._since_flush = 0
        return await self.assign(owned, start)

    async def revoke(self, partitions: Sequence[int]) -> None:
        """Flush, then forget ``partitions`` (another worker will claim them)."""
        async with self._lock:
            await self._flush_locked()
            self.forget(partitions)

    def forget(self, partitions: Sequence[int]) -> None:
        """Drop ``partitions`` from memory without flushing: owned, states, idle clocks.

        For a revocation whose flush failed: nothing is lost, the next owner resumes
        from the offsets the store holds.
        """
        for p in partitions:
            self.owned.discard(p)
            for name in self.states.pop(p, {}):
                self._last_record_ms.pop((p, name), None)

    # -- the batch path -------------------------------------------------------------
    async def process(
        self,
        batches: Mapping[int, RecordBatch | Sequence[RawRecord]],
        fetched_at: int | None = None,
    ) -> dict[int, int]:
        """Parse and apply one ``getmany`` result; flush when a limit is reached.

        ``fetched_at`` is :attr:`claims` read before the fetch began. A partition
        claimed since then was restored from the store and seeked: its records in
        this batch come from the old position, and folding them would skip (or
        double count) what lies between. They are dropped, and the returned offsets
        are where the caller must seek those partitions back to (the fetch may
        already have moved past the claim's seek) before its next fetch.
        """
        rewind: dict[int, int] = {}
        async with self._lock:
            now = self.clock.now_ms()
            for p, records in batches.items():
                if len(records) and p in self.states:
                    if fetched_at is not None and self._claimed_at.get(p, 0) > fetched_at:
                        self.stats.stale_records += len(records)
                        rewind[p] = self._next[p]
                        continue
                    batch = (
                        records if isinstance(records, RecordBatch) else RecordBatch.of(p, records)
                    )
                    for model in self._apply(p, batch):
                        self._last_record_ms[(p, model)] = now
            self._seal_idle(now)
            due = self._since_flush >= self.flush_every_events or (
                now - self._last_flush_ms >= self.flush_interval_ms
            )
            if rewind:
                # No flush now: a failing flush would raise before the caller seeks
                # back, and the next fetch would then skip what was dropped.
                return rewind
            if due:
                await self._flush_locked()
            return {}

    def _apply(self, partition: int, records: RecordBatch) -> list[str]:
        """Parse and fold one batch; return the models that had events in it."""
        batch = parse_batch(
            records.values,
            records.timestamps_ms,
            records.offsets,
            partition=partition,
            catalog=self.catalog,
            limits=self.limits,
            now_ms=self.event_clock.now_ms() if self.event_clock is not None else None,
            since_ms=self.event_clock.since_ms() if self.event_clock is not None else None,
        )
        self._count(batch)
        last = records.last_offset
        by_model: dict[str, dict[str, int]] = {}
        for (m, f), n in batch.undeclared.items():
            by_model.setdefault(m, {})[f] = n
        states = self.states[partition]
        if batch.rejections and states:
            # Contract rejections belong to the partition, not to a model: the first
            # model's state counts them, exactly once (stored with its offset).
            next(iter(states.values())).count_rejected(
                [r.offset for r in batch.rejections], [r.reason for r in batch.rejections]
            )
        if batch.unknown_models and states:  # the same state counts them, by name
            next(iter(states.values())).count_unknown_models(last, batch.unknown_models)
        refused: list[int] = []
        for model, state in states.items():
            late_before = sum(state.late.values())
            over_before = state.undeclared_overflow
            refused += state.apply(batch.blocks.get(model), last, by_model.get(model)).tolist()
            late = sum(state.late.values()) - late_before
            if late:
                self.stats.late += late
                self.stats.late_by_model[model] = self.stats.late_by_model.get(model, 0) + late
            self.stats.undeclared_overflow += state.undeclared_overflow - over_before
        self.stats.positions[partition] = last + 1
        self._next[partition] = last + 1
        self._since_flush += len(records)
        self._letters.extend(DeadLetter.of(r, self.topic) for r in batch.rejections)
        if refused:
            self._refuse(records, sorted(refused))
        return list(batch.blocks)

    def _refuse(self, records: RecordBatch, offsets: list[int]) -> None:
        """Dead-letter events the ingest state refused (too many open hours)."""
        self.stats.rejected[TOO_MANY_OPEN_HOURS] = self.stats.rejected.get(
            TOO_MANY_OPEN_HOURS, 0
        ) + len(offsets)
        self.stats.accepted -= len(offsets)
        rows = np.searchsorted(records.offsets, np.asarray(offsets, dtype=np.int64))
        cap = self.ingest_limits.max_open_hours
        for off, row in zip(offsets, rows.tolist(), strict=True):
            raw = records.values[row]
            self._letters.append(
                DeadLetter(
                    reason=TOO_MANY_OPEN_HOURS,
                    detail=f"event would open more than {cap} unsealed hours "
                    "(ingest.max_open_hours)",
                    raw=raw if raw is not None else b"",
                    topic=self.topic,
                    partition=records.partition,
                    offset=off,
                    timestamp_ms=int(records.timestamps_ms[row]),
                )
            )

    def _count(self, batch: ParsedBatch) -> None:
        s = self.stats
        s.batches += 1
        s.batch_records += batch.n_records
        s.consumed += batch.n_records
        s.accepted += batch.accepted
        s.unknown_model += sum(batch.unknown_models.values())
        for name, n in batch.unknown_models.items():
            key = (
                name
                if name in s.unknown_models or len(s.unknown_models) < MAX_UNKNOWN_NAMES
                else "…"
            )
            s.unknown_models[key] = s.unknown_models.get(key, 0) + n
        for r in batch.rejections:
            s.rejected[r.reason] = s.rejected.get(r.reason, 0) + 1

    def _seal_idle(self, now: int, behind: Mapping[int, int] | None = None) -> None:
        # A (partition, model) that received nothing for the idle timeout seals the
        # hours the wall clock has passed (end + allowed lateness), so evaluation does
        # not wait on it forever; the hour still under way stays open. Not while the
        # brokers say records are still to fetch (``behind``): a fetch that has not
        # answered yet is not a quiet partition.
        for (p, model), last in self._last_record_ms.items():
            if now - last < self.idle_partition_timeout_ms:
                continue
            if behind is not None and behind.get(p, 0) > 0:
                continue
            state = self.states.get(p, {}).get(model)
            if state is not None:
                state.go_idle(now)

    # -- flush ------------------------------------------------------------------------
    async def flush(self) -> None:
        """Run the flush protocol (module docstring) now."""
        async with self._lock:
            await self._flush_locked()

    async def tick(self, behind: Mapping[int, int] | None = None) -> None:
        """Called when ``getmany`` returned nothing: interval flushes and idle seals.

        ``behind``: records still to fetch per partition (the last lag the brokers gave);
        a partition with some is not sealed as idle.
        """
        async with self._lock:
            now = self.clock.now_ms()
            self._seal_idle(now, behind)
            if now - self._last_flush_ms >= self.flush_interval_ms:
                await self._flush_locked()

    async def _flush_locked(self) -> None:
        started = time.perf_counter()
        if self._letters:
            await self.dead_letters.send(self._letters)
            self._letters = []
        dirty = [s for states in self.states.values() for s in states.values() if s.dirty]
        writes = [w for s in dirty if (w := s.pending_write())]
        if writes:
            try:
                await asyncio.to_thread(self.store.flush, writes)
            except Exception:
                self.stats.flush_errors += 1
                raise
            # The store answered (health reads this even while Kafka steps below hang).
            self.stats.last_flush_ms = self.clock.now_ms()
        for s in dirty:
            s.flushed()
        await self._publish_outboxes()
        if self._commit is not None and self.stats.positions != self._committed:
            positions = dict(self.stats.positions)
            if await self._commit(positions):  # not acknowledged: the next flush tries again
                self._committed = positions
        self._since_flush = 0
        self._last_flush_ms = self.clock.now_ms()
        if not writes:
            return  # nothing reached Redis: not a flush (health must not think Redis answered)
        self.stats.flushes += 1
        self.stats.flush_latency.observe(time.perf_counter() - started)

    async def _publish_outboxes(self) -> None:
        pending = [(s, len(s.outbox)) for st in self.states.values() for s in st.values()]
        notices = [n for s, k in pending for n in s.outbox[:k]]
        if not notices:
            return
        await self.notices.publish(notices)
        for s, k in pending:
            s.published(k)
        self.stats.notices += len(notices)

    def late_by_hour(self, hours: int = 48) -> dict[tuple[str, int], int]:
        """Late events per (model, hour) on the partitions owned now, latest ``hours`` hours.

        Counts as of the last restore plus what arrived since (the store holds the
        same numbers per partition: ``late`` hashes).
        """
        out: dict[tuple[str, int], int] = {}
        for states in self.states.values():
            for model, state in states.items():
                for h, n in state.late.items():
                    out[(model, h)] = out.get((model, h), 0) + n
        recent = sorted({h for _, h in out}, reverse=True)[:hours]
        return {k: n for k, n in sorted(out.items()) if k[1] in recent}

    @property
    def assigned(self) -> list[int]:
        """Partitions this worker owns now."""
        return sorted(self.owned)
