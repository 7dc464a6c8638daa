"""The label consumer's batch loop, over ports: parse → look up → apply → flush.

The same protocol as the feature data plane (stream.pipeline.dataplane): one
flush sends the dead letters first, then writes every changed (model,
partition) in one atomic, fenced store call each, then commits the consumed
offsets to the Kafka group (monitoring only: the store's offsets are the truth).
Only models with a ``labels`` table have label state.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence

from stream.catalog import Catalog
from stream.contract import Limits
from stream.pipeline.labels import DELAY_PREFIX, PartitionLabels, parse_labels
from stream.pipeline.ports import (
    Clock,
    DeadLetter,
    DeadLetterSink,
    LabelStats,
    LabelStore,
    RecordBatch,
)

__all__ = ["LabelPlane"]

#: Duplicate-id sets outlive the model's label delay by this much.
SEEN_TTL_SLACK_MS = 86_400_000


class LabelPlane:
    """Per-worker label ingest: the label states of every (model, partition) it owns."""

    def __init__(
        self,
        catalog: Catalog,
        *,
        topic: str,
        store: LabelStore,
        dead_letters: DeadLetterSink,
        clock: Clock,
        limits: Limits,
        flush_every_events: int,
        flush_interval_ms: int,
        commit: Callable[[Mapping[int, int]], Awaitable[bool]] | None = None,
    ) -> None:
        self.catalog = catalog
        self.topic = topic
        self.store = store
        self.dead_letters = dead_letters
        self.clock = clock
        self.limits = limits
        self.flush_every_events = flush_every_events
        self.flush_interval_ms = flush_interval_ms
        self._commit = commit
        self.models = [s for s in catalog.specs() if s.labels is not None]
        self.states: dict[int, dict[str, PartitionLabels]] = {}
        self.stats = LabelStats()
        self._letters: list[DeadLetter] = []
        self._since_flush = 0
        self._last_flush_ms = clock.now_ms()
        self._last_idle_ms: int | None = None
        self._committed: dict[int, int] = {}
        self._lock = asyncio.Lock()

    async def assign(self, partitions: Sequence[int], start: Mapping[int, int]) -> dict[int, int]:
        """Claim ``partitions`` for every labelled model; return where to seek each."""
        seeks: dict[int, int] = {}
        async with self._lock:
            for p in partitions:
                states = {}
                for spec in self.models:
                    token, snap = await asyncio.to_thread(self.store.claim, spec.name, p)
                    states[spec.name] = PartitionLabels.restore(spec, p, token, snap)
                self.states[p] = states
                known = [s.next_offset for s in states.values() if s.next_offset is not None]
                seeks[p] = min([*known, start[p]] if len(known) < len(states) else known)
        return seeks

    async def revoke(self, partitions: Sequence[int]) -> None:
        """Flush, then forget ``partitions``."""
        async with self._lock:
            await self._flush_locked()
            for p in partitions:
                self.states.pop(p, None)

    async def reclaim(self, start: Mapping[int, int]) -> dict[int, int]:
        """Forget memory and claim again (after a store failure: recover like a crash)."""
        async with self._lock:
            owned = sorted(self.states)
            self.states.clear()
            self._letters = []
            self._since_flush = 0
        return await self.assign(owned, start)

    async def process(self, batches: Mapping[int, RecordBatch]) -> None:
        """Parse and apply one ``getmany`` result; flush when a limit is reached."""
        async with self._lock:
            for p, batch in batches.items():
                if len(batch) and p in self.states:
                    await self._apply(p, batch)
            now = self.clock.now_ms()
            if self._since_flush >= self.flush_every_events or (
                now - self._last_flush_ms >= self.flush_interval_ms
            ):
                await self._flush_locked()

    async def tick(self, lag: Callable[[], Awaitable[Mapping[int, int]]] | None = None) -> None:
        """``getmany`` returned nothing: flush on the interval; say the partitions are idle.

        An empty ``getmany`` does not mean the end: right after an assignment or a seek
        the fetch may simply not have answered yet. So with everything flushed, a
        partition is marked idle only where ``lag`` (records behind the end, asked of
        the brokers) says 0: its ``idle`` time (wall clock, at most once per flush
        interval) tells health evaluation that no label before it is still to come
        (stream.pipeline.health_eval). Without ``lag`` (tests) every partition counts
        as at its end.
        """
        async with self._lock:
            now = self.clock.now_ms()
            if now - self._last_flush_ms >= self.flush_interval_ms:
                await self._flush_locked()
            clean = not self._letters and not any(
                s.dirty for st in self.states.values() for s in st.values()
            )
            if clean and (
                self._last_idle_ms is None or now - self._last_idle_ms >= self.flush_interval_ms
            ):
                behind = await lag() if lag is not None else {}
                for p, states in sorted(self.states.items()):
                    if behind.get(p, 0) > 0 or (lag is not None and p not in behind):
                        continue  # records still to fetch: not at its end
                    for name, state in states.items():
                        await asyncio.to_thread(self.store.mark_idle, name, p, state.token, now)
                self._last_idle_ms = now

    async def _apply(self, partition: int, batch: RecordBatch) -> None:
        parsed = parse_labels(
            batch.values,
            batch.timestamps_ms,
            batch.offsets,
            partition=partition,
            catalog=self.catalog,
            limits=self.limits,
        )
        s = self.stats
        s.consumed += parsed.n_records
        s.unknown_model += sum(parsed.unknown_models.values())
        for r in parsed.rejections:
            s.rejected[r.reason] = s.rejected.get(r.reason, 0) + 1
        states = self.states[partition]
        if parsed.rejections and states:
            # Under the model the record named; a record naming none readable (bad JSON,
            # no model) under the partition's first labelled model: counted once.
            first = next(iter(states))
            by_model: dict[str, tuple[list[int], list[str]]] = {}
            for r, named in zip(parsed.rejections, parsed.rejected_models, strict=True):
                offs, reasons = by_model.setdefault(named if named in states else first, ([], []))
                offs.append(r.offset)
                reasons.append(r.reason)
            for name, (offs, reasons) in by_model.items():
                states[name].count_rejected(offs, reasons)
        last = batch.last_offset
        for name, state in states.items():
            block = state.fresh(parsed.blocks.get(name))
            lookups = state.lookups(block)
            stored = (
                await asyncio.to_thread(self.store.seen, name, partition, lookups)
                if lookups
                else {}
            )
            before = dict(state.counters)
            state.apply(block, last, stored)
            for k, v in state.counters.items():
                if not k.startswith(("rejected:", DELAY_PREFIX)) and v != before.get(k, 0):
                    s.outcomes[k] = s.outcomes.get(k, 0) + v - before.get(k, 0)
        s.positions[partition] = last + 1
        self._since_flush += len(batch)
        self._letters.extend(DeadLetter.of(r, self.topic) for r in parsed.rejections)

    async def flush(self) -> None:
        """Run the flush protocol now."""
        async with self._lock:
            await self._flush_locked()

    async def _flush_locked(self) -> None:
        if self._letters:
            await self.dead_letters.send(self._letters)
            self._letters = []
        dirty = [s for st in self.states.values() for s in st.values() if s.dirty]
        writes = [
            w
            for s in dirty
            if (w := s.pending_write(s.rules.max_label_delay_ms + SEEN_TTL_SLACK_MS))
        ]
        if writes:
            await asyncio.to_thread(self.store.flush, writes)
            self.stats.flushes += 1
        for s in dirty:
            s.flushed()
        if self._commit is not None and self.stats.positions != self._committed:
            positions = dict(self.stats.positions)
            if await self._commit(positions):  # not acknowledged: the next flush tries again
                self._committed = positions
        self._since_flush = 0
        self._last_flush_ms = self.clock.now_ms()
