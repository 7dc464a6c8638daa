"""Kafka or Redis down: every command fails the same way, in one line naming the backend
and its address (each command pointed at a closed loopback port, the other backend up)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from stream.cli import main
from tests.integration.worker_harness import free_port

pytestmark = pytest.mark.integration

CONFIG = """
[models.m]
[models.m.features]
x = "numeric"
"""

# (command line, the backends it needs)
COMMANDS: list[tuple[tuple[str, ...], tuple[str, ...]]] = [
    # Redis down at start: the worker stays up, 503 naming Redis (test_event_time.py)
    (("worker",), ("kafka",)),
    (("produce", "--synthetic", "--count", "10"), ("kafka",)),
    (("topics", "create"), ("kafka",)),
    (("replay",), ("kafka", "redis")),
    (("reference", "build", "--model", "m", "--file", "{events}"), ("redis",)),
    (("reference", "build", "--model", "m", "--topic", "t"), ("kafka", "redis")),
    (("reference", "list"), ("redis",)),
    (("reference", "show", "--model", "m"), ("redis",)),
    (("namespace", "clean", "replay-x", "--yes"), ("redis",)),
    (("report", "--model", "m", "--window", "hour:2026-01-01T00", "--out", "{out}"), ("redis",)),
    (("forward", "webhook", "--url", "http://127.0.0.1:9/hook"), ("kafka", "redis")),
    (("alerts", "tail", "--timeout", "1"), ("kafka",)),
    (("status",), ("kafka", "redis")),
]
CASES = [(args, backend) for args, needs in COMMANDS for backend in needs]


@pytest.mark.parametrize(
    ("args", "backend"), CASES, ids=[f"{' '.join(a[:2])}-{b}" for a, b in CASES]
)
def test_a_backend_down_is_one_line_naming_it_and_its_address(
    args: tuple[str, ...],
    backend: str,
    tmp_path: Path,
    kafka_bootstrap: str,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for var in list(os.environ):
        if var.startswith("DRIFTSTREAM_") and not var.startswith("DRIFTSTREAM_TEST_"):
            monkeypatch.delenv(var)
    config = tmp_path / "c.toml"
    config.write_text(CONFIG)
    events = tmp_path / "events.jsonl"
    events.write_text('{"model": "m", "ts": 0, "features": {"x": 1}}\n')
    port = free_port()
    monkeypatch.setenv("DRIFTSTREAM_CONFIG", str(config))
    monkeypatch.setenv("DRIFTSTREAM_KAFKA_BOOTSTRAP", kafka_bootstrap)
    monkeypatch.setenv("DRIFTSTREAM_REDIS_URL", redis_url)
    if backend == "kafka":
        monkeypatch.setenv("DRIFTSTREAM_KAFKA_BOOTSTRAP", f"127.0.0.1:{port}")
        expect = f"driftstream: error: kafka: cannot reach a bootstrap server (127.0.0.1:{port}: "
    else:
        monkeypatch.setenv("DRIFTSTREAM_REDIS_URL", f"redis://127.0.0.1:{port}/0")
        expect = f"driftstream: error: redis: cannot reach redis://127.0.0.1:{port}/0 ("
    argv = [a.format(events=events, out=tmp_path / "r.html") for a in args]
    capsys.readouterr()
    t0 = time.monotonic()
    rc = main(argv)
    elapsed = time.monotonic() - t0
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("driftstream: ")]
    assert rc == 1, err
    assert len(lines) == 1 and lines[0].startswith(expect), err
    assert "Traceback" not in err and "unexpected error" not in err
    print(f"{' '.join(args[:2])} with {backend} down: {elapsed:.2f}s")
