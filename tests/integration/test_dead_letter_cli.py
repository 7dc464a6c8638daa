"""``driftstream dead-letter tail|stats`` read what the ingest's dead-letter sink wrote."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from stream.adapters.kafka import KafkaDeadLetterSink
from stream.adapters.kafka_ops import tail
from stream.adapters.kafka_tools import produce
from stream.catalog import Catalog
from stream.cli import main
from stream.contract import Limits, parse_batch
from stream.pipeline.ports import DeadLetter
from stream.settings import load_settings

pytestmark = pytest.mark.integration

CONFIG = """
[models.m]
[models.m.features]
x = "numeric"
"""
BAD = [
    b'{"model": "m", "ts": 1767225600000, "features": {"x": "n/a"}}',
    b'{"model": "m", "ts": 1767225600000, "features": {"x": "12"}}',
    b"\xff\xfe not utf-8 \x1b[31m",
    b'{"model": "m", "ts": "yesterday", "features": {"x": 1}}',
]


@pytest.fixture
def letters(
    tmp_path: Path, kafka_bootstrap: str, new_topic: Any, monkeypatch: pytest.MonkeyPatch
) -> str:
    """The contract's rejections of BAD, sent by the worker's dead-letter sink."""
    config = tmp_path / "c.toml"
    config.write_text(CONFIG)
    dlq = new_topic(1)
    monkeypatch.setenv("DRIFTSTREAM_CONFIG", str(config))
    monkeypatch.setenv("DRIFTSTREAM_KAFKA_BOOTSTRAP", kafka_bootstrap)
    monkeypatch.setenv("DRIFTSTREAM_TOPICS__DEAD_LETTER", dlq)
    catalog: Catalog = load_settings(config).models
    n = len(BAD)
    batch = parse_batch(
        BAD, np.full(n, 1767225600000, np.int64), np.arange(40, 40 + n), 3, catalog, Limits()
    )
    dead = [
        DeadLetter(r.reason, r.detail, r.raw or b"", "features", r.partition, r.offset, r.ts_ms)
        for r in batch.rejections
    ]
    assert len(dead) == n

    async def send() -> None:
        sink = KafkaDeadLetterSink(dlq, {"bootstrap_servers": kafka_bootstrap})
        await sink.start()
        try:
            await sink.send(dead)
        finally:
            await sink.stop()

    asyncio.run(send())
    return dlq


def test_tail_prints_reason_source_and_safe_bytes(
    letters: str, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    # --max, not a short idle --timeout: a slow fetch must not cut the output short
    assert main(["dead-letter", "tail", "--from-beginning", "--max", "4", "--timeout", "120"]) == 0
    out, err = capsys.readouterr()
    assert f"reading {letters} from the oldest retained letter" in err
    lines = out.splitlines()
    assert len(lines) == 4
    assert "wrong_type  features/3@40  " in lines[0] and "x" in lines[0] and "n/a" in lines[0]
    assert lines[0].startswith("2026-01-01T00:00Z")
    # Undecodable bytes and terminal escapes are printed escaped, on one line.
    assert "not_utf8  features/3@42" in lines[2]
    assert "| \\xff\\xfe not utf-8 \\x1b[31m" in lines[2] and "\x1b" not in out
    assert "bad_ts  features/3@43" in lines[3]

    assert main(["dead-letter", "tail", "--from-beginning", "--json", "--max", "1"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["reason"] == "wrong_type" and first["source"] == "features/3@40"
    assert first["dead_letter"] == f"{letters}/0@0" and '"n/a"' in first["raw"]


def test_stats_counts_by_reason_with_a_sample(
    letters: str, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["dead-letter", "stats"]) == 0  # reads to the end offsets, then stops
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{letters}: 4 dead letter(s), records from 2026-01-01T00:00Z")
    assert "from features 4" in out[0]
    assert out[1].split()[:2] == ["wrong_type", "2"] and "e.g. features/3@40" in out[1]
    assert {ln.split()[0] for ln in out[2:]} == {"not_utf8", "bad_ts"}
    assert main(["dead-letter", "stats", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["by_reason"] == {"wrong_type": 2, "not_utf8": 1, "bad_ts": 1}


def test_stats_of_an_empty_topic_says_so(
    letters: str, new_topic: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = new_topic(1)
    capsys.readouterr()
    assert main(["dead-letter", "stats", "--topic", empty, "--timeout", "1"]) == 0
    assert f"{empty}: no dead letter" in capsys.readouterr().out


def test_tail_to_end_stops_at_the_end_offsets_taken_at_start(
    letters: str, kafka_bootstrap: str
) -> None:
    """What ``dead-letter stats`` reads: the topic as it was at the start, then it stops."""
    options = {"bootstrap_servers": [kafka_bootstrap]}
    # 600 s is a hang guard only: with to_end, the reading ends at the snapshot
    records = tail(options, letters, from_beginning=True, idle_timeout_s=600, to_end=True)
    try:
        got = [next(records)]  # the start positions and the end snapshot are fixed now
        produce(options, letters, [b"sent after the start"], partitions=1)
        got += list(records)
    finally:
        records.close()
    assert [r.offset for r in got] == [0, 1, 2, 3]
    assert b"sent after the start" not in [r.value for r in got]
