"""``driftstream produce`` (file and synthetic) and ``topics create`` against a real broker."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stream.cli import main
from tests.integration.worker_harness import read_topic

pytestmark = pytest.mark.integration


def _count(bootstrap: str, topic: str) -> list[Any]:
    return read_topic(bootstrap, topic)


@pytest.fixture
def env(
    tmp_path: Path, kafka_bootstrap: str, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> Path:
    config = tmp_path / "c.toml"
    config.write_text('[models.m]\n[models.m.features]\nx = "numeric"\nc = "categorical"\n')
    monkeypatch.setenv("DRIFTSTREAM_CONFIG", str(config))
    monkeypatch.setenv("DRIFTSTREAM_KAFKA_BOOTSTRAP", kafka_bootstrap)
    monkeypatch.setenv("DRIFTSTREAM_REDIS_URL", redis_url)
    return tmp_path


def test_produce_from_a_jsonl_file(
    env: Path, kafka_bootstrap: str, new_topic: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    topic = new_topic(2)
    path = env / "events.jsonl"
    lines = [json.dumps({"model": "m", "ts": i, "features": {"x": i}}) for i in range(25)]
    path.write_text("\n".join(lines) + "\n\n")
    assert main(["produce", "--file", str(path), "--topic", topic]) == 0
    assert "sent 25 events" in capsys.readouterr().out
    got = sorted(m.value for m in _count(kafka_bootstrap, topic))
    assert got == sorted(line.encode() for line in lines)


def test_produce_from_a_csv_sends_the_models_events_at_their_event_time(
    env: Path, kafka_bootstrap: str, new_topic: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    topic = new_topic(1)
    path = env / "history.csv"
    path.write_text(
        "ts,x,c,row_id\n"
        "2026-01-01T00:00:00Z,1.5,a,17\n"
        "1767229200000,,b,18\n"  # an empty number: null
        "2026-01-01T02:00:00Z,oops,,19\n"  # not a number: sent as is, the contract rejects it
    )
    assert main(["produce", "--file", str(path), "--topic", topic]) == 0
    out = capsys.readouterr()
    assert "sent 3 events" in out.out
    assert "column(s) not declared by model 'm', ignored: row_id" in out.err
    records = sorted(_count(kafka_bootstrap, topic), key=lambda r: r.offset)
    events = [json.loads(r.value) for r in records]
    assert events == [
        {"model": "m", "features": {"x": 1.5, "c": "a"}, "ts": "2026-01-01T00:00:00Z"},
        {"model": "m", "features": {"x": None, "c": "b"}, "ts": 1767229200000},
        {"model": "m", "features": {"x": "oops", "c": None}, "ts": "2026-01-01T02:00:00Z"},
    ]
    assert [r.timestamp for r in records] == [1767225600000, 1767229200000, 1767232800000]


def test_produce_refuses_a_csv_without_a_declared_column(
    env: Path, kafka_bootstrap: str, new_topic: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    topic = new_topic(1)
    path = env / "history.csv"
    path.write_text("x\n1\n2\n")
    assert main(["produce", "--file", str(path), "--topic", topic]) == 1
    err = capsys.readouterr().err
    assert "declared column(s) missing from the header: c (header: x)" in err
    assert len(err.strip().splitlines()) == 1
    assert main(["produce", "--file", str(path), "--topic", topic, "--allow-null-columns"]) == 0
    err = capsys.readouterr().err
    assert "no 'ts' column: every event gets the send time" in err
    assert [json.loads(r.value)["features"] for r in _count(kafka_bootstrap, topic)] == [
        {"x": 1.0, "c": None},
        {"x": 2.0, "c": None},
    ]


def test_produce_synthetic_sets_record_time_to_event_time(
    env: Path, kafka_bootstrap: str, new_topic: Any
) -> None:
    topic = new_topic(3)
    code = main(
        ["produce", "--synthetic", "--count", "90", "--partitions", "3", "--topic", topic,
         "--start", "1767225600000", "--events-per-hour", "3600"]
    )  # fmt: skip
    assert code == 0
    records = _count(kafka_bootstrap, topic)
    assert len(records) == 90 and {r.partition for r in records} == {0, 1, 2}
    for r in records:
        assert json.loads(r.value)["ts"] == r.timestamp


def test_produce_needs_exactly_one_source(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["produce"]) == 2
    assert "exactly one of --synthetic or --file" in capsys.readouterr().err


def test_topics_create_is_idempotent(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    suffix = Path(env).name[-6:].replace("_", "-")
    monkeypatch.setenv("DRIFTSTREAM_TOPICS__FEATURES", f"feat-{suffix}")
    monkeypatch.setenv("DRIFTSTREAM_TOPICS__LABELS", f"labels-{suffix}")
    monkeypatch.setenv("DRIFTSTREAM_TOPICS__ALERTS", f"alerts-{suffix}")
    monkeypatch.setenv("DRIFTSTREAM_TOPICS__DEAD_LETTER", f"dlq-{suffix}")
    monkeypatch.setenv("DRIFTSTREAM_TOPICS__SEALED", f"sealed-{suffix}")
    assert main(["topics", "create", "--partitions", "2"]) == 0
    first = capsys.readouterr().out
    assert f"feat-{suffix}: created" in first
    assert main(["topics", "create"]) == 0
    assert f"feat-{suffix}: exists" in capsys.readouterr().out


def test_produce_file_stamps_records_with_event_time(
    env: Path, kafka_bootstrap: str, new_topic: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    import time

    topic = new_topic(1)
    path = env / "history.jsonl"
    lines = [
        json.dumps({"model": "m", "ts": 1_767_225_600_000, "features": {"x": 1}}),
        json.dumps({"model": "m", "ts": "2026-01-01T01:00:00.5+01:00", "features": {"x": 2}}),
        json.dumps({"model": "m", "features": {"x": 3}}),  # no ts: the send time
        "not json",
    ]
    path.write_text("\n".join(lines) + "\n")
    before = int(time.time() * 1000)
    assert main(["produce", "--file", str(path), "--topic", topic]) == 0
    err = capsys.readouterr().err
    assert "each event's ts for 2 event(s) (2026-01-01T00:00:00Z .. 2026-01-01T00:00:00Z)" in err
    assert "2 without a usable ts got the send time" in err
    stamps = [r.timestamp for r in sorted(_count(kafka_bootstrap, topic), key=lambda r: r.offset)]
    assert stamps[:2] == [1_767_225_600_000, 1_767_225_600_500]
    assert all(s >= before for s in stamps[2:])

    topic = new_topic(1)
    assert main(["produce", "--file", str(path), "--topic", topic, "--record-time", "send"]) == 0
    assert "record time: the send time" in capsys.readouterr().err
    assert all(r.timestamp >= before for r in _count(kafka_bootstrap, topic))


def test_produce_file_warns_when_events_are_past_the_topic_retention(
    env: Path, new_topic: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    week = str(7 * 24 * 3_600_000)
    topic = new_topic(1, config={"retention.ms": week})
    path = env / "history.jsonl"
    old = [
        json.dumps({"model": "m", "ts": 1_767_225_600_000 + i, "features": {"x": i}})
        for i in range(3)
    ]
    path.write_text("\n".join(old) + "\n")
    assert main(["produce", "--file", str(path), "--topic", topic]) == 0
    (warning,) = [ln for ln in capsys.readouterr().err.splitlines() if "warning" in ln]
    assert warning.startswith("produce: warning: 3 event(s) have a ts older than topic")
    assert "retention.ms (7d)" in warning and "--record-time send" in warning
    # Unlimited retention (the test broker's default): nothing to say.
    assert main(["produce", "--file", str(path), "--topic", new_topic(1)]) == 0
    assert "warning" not in capsys.readouterr().err
