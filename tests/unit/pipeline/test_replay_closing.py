"""A replay whose loop body fails (the store down) closes its range reader at once.

Without it the reader's consumer stays open until the event loop's teardown
finalises the generator (or never, when the process is killed first).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Mapping, Sequence

import orjson
import pytest

from stream.catalog import Catalog, ModelSpec
from stream.contract import Limits
from stream.pipeline.memory import ManualClock, MemorySketchStore, MemoryWindowStore
from stream.pipeline.ports import FlushWrite, RawRecord, RecordBatch
from stream.pipeline.replay import RangeClock, ingest_range
from stream.synth import SyntheticStream

SPEC = ModelSpec.model_validate(
    {"name": "m", "prediction": "numeric", "features": {"x": "numeric"}}
)
T0 = 1_767_225_600_000


class StoreDown(Exception):
    """Redis failed while the replay flushed."""


class FailingStore(MemorySketchStore):
    def flush(self, writes: Sequence[FlushWrite]) -> None:
        raise StoreDown


def test_a_failing_flush_closes_the_range_reader_before_the_error_leaves() -> None:
    events = SyntheticStream(SPEC, start_ms=T0, events_per_hour=30, seed=1).events(0, 20)
    records = [RawRecord(0, i, int(e["ts"]), orjson.dumps(e)) for i, e in enumerate(events)]
    closed: list[bool] = []

    async def batches(seeks: Mapping[int, int]) -> AsyncGenerator[Mapping[int, RecordBatch], None]:
        try:
            for i in range(seeks[0], len(records), 5):
                yield {0: RecordBatch.of(0, records[i : i + 5])}
        finally:
            closed.append(True)

    async def main() -> None:
        store = FailingStore()
        with pytest.raises(StoreDown):
            await ingest_range(
                Catalog.of(SPEC),
                topic="t",
                namespace="replay",
                store=store,
                windows=MemoryWindowStore(store),
                batches=batches,
                starts={0: 0},
                total=len(records),
                clock=ManualClock(T0),
                limits=Limits(),
                allowed_lateness_ms=0,
                flush_every_events=1,
                event_clock=RangeClock(T0, T0 + 3_600_000),
            )
        assert closed == [True]  # now, not at the event loop's teardown

    asyncio.run(main())
