"""The range reader's callers: closed on a failing loop body, batch size bounded."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Sequence
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

import stream.adapters.kafka_range as kr
from stream import wiring
from stream.adapters.kafka_range import PartitionRange
from stream.cli import cli
from stream.commands.reference import _from_topic
from stream.pipeline.ports import RecordBatch


class BuilderDown(Exception):
    """The reference builder failed on a batch."""


class FailingBuilder:
    def add(self, values: list[bytes], times: list[int]) -> None:
        raise BuilderDown


def test_reference_from_a_topic_closes_the_reader_when_a_batch_fails(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    closed: list[bool] = []

    async def plan(options: Any, topic: str, a: Any, b: Any) -> list[PartitionRange]:
        return [PartitionRange(0, 0, 10)]

    async def read(
        rd: Any, topic: str, ranges: Sequence[PartitionRange], **kw: Any
    ) -> AsyncGenerator[dict[int, RecordBatch], None]:
        try:
            for i in range(10):
                yield {0: RecordBatch(0, [b"{}"], np.array([i]), np.array([i]))}
        finally:
            closed.append(True)

    monkeypatch.setattr(kr, "plan_range", plan)
    monkeypatch.setattr(kr, "read_range", read)
    monkeypatch.setattr(wiring, "kafka_aio", lambda settings: {})
    monkeypatch.setattr(wiring, "kafka_rd", lambda settings: {})

    async def main() -> None:
        with pytest.raises(BuilderDown):
            await _from_topic(FailingBuilder(), None, "t", None, None, lambda *a: None)  # type: ignore[arg-type]
        assert closed == [True]  # now, not at the event loop's teardown

    asyncio.run(main())


@pytest.mark.parametrize("size", ["0", "1000001"])
def test_replay_batch_size_past_librdkafkas_bound_is_a_usage_error(size: str) -> None:
    out = CliRunner().invoke(
        cli, ["replay", "--from", "2026-01-01", "--to", "2026-01-02", "--batch-size", size]
    )
    assert out.exit_code == 2
    assert "--batch-size" in out.output and "1<=x<=1000000" in out.output
