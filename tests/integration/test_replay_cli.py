"""A backfill as a new user runs it: ``produce --file`` history, then ``replay --from/--to``.

Nothing ends silently empty: an empty range, mostly rejected records and an inverted
range each say so in one line; ``--alerts-out`` is always written; a changed config
never resumes an old default namespace.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from stream.cli import main

pytestmark = pytest.mark.integration

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
START_MS = 1_767_225_600_000  # 2026-01-01T00:00Z, long before "now": history
CONFIG = """
[redis]
namespace = "{ns}"
[models.m]
[models.m.features]
x = "numeric"
c = "categorical"
"""


@pytest.fixture
def env(
    tmp_path: Path,
    kafka_bootstrap: str,
    redis_url: str,
    redis_namespace: str,
    new_topic: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, Any]:
    config = tmp_path / "c.toml"
    config.write_text(CONFIG.format(ns=redis_namespace))
    topic = new_topic(2)
    monkeypatch.setenv("DRIFTSTREAM_CONFIG", str(config))
    monkeypatch.setenv("DRIFTSTREAM_KAFKA_BOOTSTRAP", kafka_bootstrap)
    monkeypatch.setenv("DRIFTSTREAM_REDIS_URL", redis_url)
    monkeypatch.setenv("DRIFTSTREAM_TOPICS__FEATURES", topic)
    history = tmp_path / "history.jsonl"
    events = [
        {
            "model": "m",
            "ts": START_MS + i * 60_000 if i % 2 else f"2026-01-01T{i // 60:02d}:{i % 60:02d}:00Z",
            "features": {"x": float(i % 7), "c": "ab"[i % 2]},
        }
        for i in range(3 * 60)  # three hours, one event a minute
    ]
    history.write_text("".join(json.dumps(e) + "\n" for e in events))
    return {"topic": topic, "history": history, "tmp": tmp_path, "config": config}


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = main(list(args))
    out, err = capsys.readouterr()
    return rc, out, err


def clean(capsys: pytest.CaptureFixture[str], namespace: str) -> None:
    assert run(capsys, "namespace", "clean", namespace, "--yes")[0] == 0


def test_backfill_from_a_file_is_found_by_event_time(
    env: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    rc, out, err = run(capsys, "produce", "--file", str(env["history"]))
    assert rc == 0, err
    assert "record time: each event's ts for 180 event(s)" in err
    alerts = env["tmp"] / "alerts.jsonl"
    # Date-only values are accepted (midnight UTC).
    rc, out, err = run(
        capsys, "replay", "--from", "2026-01-01", "--to", "2026-01-02", "--alerts-out", str(alerts)
    )
    assert rc == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    assert result["hours"] == {"m": 3}
    (summary,) = [json.loads(ln) for ln in err.splitlines() if ln.startswith("{")]
    assert summary["accepted"] == 180
    assert alerts.exists() and alerts.read_bytes() == b""  # no alert: written, empty
    clean(capsys, result["namespace"])


def test_an_empty_range_is_an_error_naming_the_record_times(
    env: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    rc, _, err = run(capsys, "produce", "--file", str(env["history"]), "--record-time", "send")
    assert rc == 0, err
    assert "record time: the send time" in err
    alerts = env["tmp"] / "alerts.jsonl"
    rc, out, err = run(
        capsys,
        "replay",
        "--from", "2026-01-01T00:00Z",
        "--to", "2026-01-02T00:00Z",
        "--alerts-out", str(alerts),
    )  # fmt: skip
    assert rc == 1 and out == ""
    (line,) = err.strip().splitlines()
    assert line.startswith("driftstream: error: replay: no record of topic")
    assert "[2026-01-01T00:00:00Z, 2026-01-02T00:00:00Z)" in line
    assert "its records are stamped" in line and "record time" in line
    assert alerts.read_bytes() == b""


def test_most_records_rejected_says_why_and_what_to_change(
    env: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    # Send-time records of two-week-old... here year-old events: every ts is out of bounds.
    assert run(capsys, "produce", "--file", str(env["history"]), "--record-time", "send")[0] == 0
    rc, out, err = run(capsys, "replay")
    assert rc == 0, err
    warning = [ln for ln in err.splitlines() if ln.startswith("replay: warning:")]
    assert len(warning) == 1, err
    assert "180 of 180 record(s) (100%) rejected: ts_out_of_bounds 180" in warning[0]
    assert "ingest.max_past_ms=7d" in warning[0] and "produce --file" in warning[0]
    clean(capsys, json.loads(out.strip().splitlines()[-1])["namespace"])


def test_inverted_or_bad_ranges_are_usage_errors(
    env: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    rc, _, err = run(capsys, "replay", "--from", "2026-01-02", "--to", "2026-01-01")
    assert rc == 2 and "is not before --to" in err
    rc, _, err = run(capsys, "replay", "--from", "2026-01-01", "--to", "2026-01-01")
    assert rc == 2 and "would be empty" in err
    rc, _, err = run(capsys, "replay", "--from", "yesterday")
    assert rc == 2 and "expected epoch ms, ISO-8601" in err


def test_a_changed_config_does_not_resume_the_old_namespace(
    env: dict[str, Any], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run(capsys, "produce", "--file", str(env["history"]))[0] == 0
    args = ("replay", "--from", "2026-01-01", "--to", "2026-01-02", "--quiet")
    rc, out, err = run(capsys, *args)
    assert rc == 0, err
    first = json.loads(out)["namespace"]
    rc, out, _ = run(capsys, *args)
    assert json.loads(out)["namespace"] == first  # same replay, same settings: resumes
    monkeypatch.setenv("DRIFTSTREAM_INGEST__MAX_PAST_MS", str(30 * DAY_MS))
    rc, out, err = run(capsys, *args)
    assert rc == 0, err
    second = json.loads(out)["namespace"]
    assert second != first
    env["config"].write_text(
        CONFIG.format(ns=f"x{uuid.uuid4().hex[:6]}").replace('c = "categorical"', "")
    )
    rc, out, _ = run(capsys, *args)
    assert json.loads(out)["namespace"] not in (first, second)
    for ns in (first, second, json.loads(out)["namespace"]):
        clean(capsys, ns)


def test_records_of_unconfigured_models_are_named(
    env: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    path = env["tmp"] / "other.jsonl"
    lines = [{"model": "fraud-v2", "ts": START_MS + i, "features": {"x": 1}} for i in range(30)]
    lines += [{"model": "m", "ts": START_MS + i, "features": {"x": 1}} for i in range(10)]
    path.write_text("".join(json.dumps(e) + "\n" for e in lines))
    assert run(capsys, "produce", "--file", str(path))[0] == 0
    rc, out, err = run(capsys, "replay", "--from", "2026-01-01", "--to", "2026-01-02")
    assert rc == 0, err
    (warning,) = [ln for ln in err.splitlines() if ln.startswith("replay: warning:")]
    assert "30 of 40 record(s) name a model that is not configured: 'fraud-v2' 30" in warning
    (summary,) = [json.loads(ln) for ln in err.splitlines() if ln.startswith("{")]
    assert summary["unknown_models"] == {"fraud-v2": 30}
    clean(capsys, json.loads(out.strip().splitlines()[-1])["namespace"])


def test_status_of_a_replay_namespace_measures_the_replayed_range(
    env: dict[str, Any], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run(capsys, "produce", "--file", str(env["history"]), "--partitions", "2")[0] == 0
    rc, out, err = run(capsys, "replay", "--from", "2026-01-01", "--to", "2026-01-02", "--quiet")
    assert rc == 0, err
    ns = json.loads(out)["namespace"]
    # The live consumer group never read this topic: its lag is every record.
    rc, out, err = run(capsys, "status", "--json")
    assert rc == 0, err
    assert json.loads(out)["kafka"]["total_lag"] == 180
    rc, out, err = run(capsys, "status", "--namespace", ns, "--json")
    assert rc == 0, err
    report = json.loads(out)
    kafka = report["kafka"]
    assert kafka["topic"] == env["topic"] and kafka["group"].startswith("none (replay of ")
    assert kafka["replay"] == {"from_ms": START_MS, "to_ms": START_MS + DAY_MS}
    assert kafka["total_lag"] == 0
    assert {p: v["end"] for p, v in kafka["partitions"].items()} == {"0": 90, "1": 90}
    (m,) = report["models"]
    assert [p["behind"] for p in m["partitions"]] == [0, 0]
    rc, out, _ = run(capsys, "status", "--namespace", ns)
    assert "lag      0 records over 2 partition(s)" in out
    assert "consumer group none (replay of 2026-01-01T00:00:00Z .. 2026-01-02T00:00:00Z)" in out
    clean(capsys, ns)
