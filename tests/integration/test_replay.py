"""Replay = live: the same windows from live workers, 1 or 3 replay processes, any batch
size; and a replay never touches live state."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import redis
from kafka import TopicPartition
from kafka.admin import KafkaAdminClient

from stream.cli import main
from tests.integration.test_worker import PARTITIONS, baseline, topics  # noqa: F401 - fixtures
from tests.integration.worker_harness import Deployment, send, state, synthetic_records, wait_until

pytestmark = pytest.mark.integration


def windows(r: redis.Redis, namespace: str) -> dict[str, dict[bytes, bytes]]:
    """Model windows: sketches and event counts (the late count is as of rollup time)."""
    out = {}
    for key in r.scan_iter(match=f"ds:{{{namespace}|fraud-v3}}:w:*"):
        fields = r.hgetall(key)
        fields.pop(b"late", None)
        out[key.decode().replace(namespace, "NS")] = fields
    return out


def _groups(bootstrap: str) -> set[str]:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        return {g["group_id"] for g in admin.list_groups()}
    finally:
        admin.close()


def _replay(
    d: Deployment,
    redis_url: str,
    args: list[str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> dict[str, Any]:
    for k, v in d.env().items():
        if k.startswith("DRIFTSTREAM_"):
            monkeypatch.setenv(k, v)
    assert main(["replay", "--topic", d.features, "--quiet", *args]) == 0, capsys.readouterr().err
    return dict(json.loads(capsys.readouterr().out.strip().splitlines()[-1]))


def test_replay_matches_live_and_itself(
    baseline: tuple[Deployment, dict[str, Any]],  # noqa: F811
    redis_url: str,
    kafka_bootstrap: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    live, live_state = baseline
    r = redis.Redis.from_url(redis_url)
    wait_until(lambda: len(windows(r, live.namespace)) >= 2, 300, f"live rollups\n{live.logs()}")
    live_windows = windows(r, live.namespace)
    groups_before = _groups(kafka_bootstrap)

    one, three = f"rp{uuid.uuid4().hex[:8]}", f"rp{uuid.uuid4().hex[:8]}"
    try:
        summary = _replay(live, redis_url, ["--namespace", one], monkeypatch, capsys)
        assert summary["hours"] == {"fraud-v3": 3}
        _replay(
            live,
            redis_url,
            ["--namespace", three, "--workers", "3", "--batch-size", "777"],
            monkeypatch,
            capsys,
        )
        a, b = windows(r, one), windows(r, three)
        assert len(a) == 3 and a == b
        # Every window live rolled up is byte-identical in the replay.
        assert live_windows and all(a[k] == v for k, v in live_windows.items())
        # Isolation: live keys unchanged, no consumer group joined.
        assert state(r, live.namespace) == live_state
        # No group joined: nothing new listed. A group may vanish meanwhile, not by the
        # replay: the broker drops empty groups whose topics earlier tests deleted at its
        # periodic offsets cleanup (offsets.retention.check.interval.ms, every 10 min).
        joined = _groups(kafka_bootstrap) - groups_before
        assert not joined, joined
    finally:
        for ns in (one, three):
            monkeypatch.setenv("DRIFTSTREAM_REDIS__NAMESPACE", live.namespace)
            assert main(["namespace", "clean", ns, "--yes"]) == 0
    assert not windows(r, one)


def test_replay_says_so_when_partitions_are_empty_or_truncated(
    kafka_bootstrap: str,
    redis_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    new_topic: Any,
) -> None:
    topic = new_topic(3)
    send(kafka_bootstrap, topic, [v for v, _ in synthetic_records(300)], partitions=1)
    d = Deployment(
        bootstrap=kafka_bootstrap,
        redis_url=redis_url,
        features=topic,
        dead_letter=f"{topic}-dlq",
        sealed=f"{topic}-sealed",
        namespace=f"t{uuid.uuid4().hex[:8]}",
        workdir=tmp_path,
    )
    for k, v in d.env().items():
        if k.startswith("DRIFTSTREAM_"):
            monkeypatch.setenv(k, v)
    # Records below offset 100 of partition 0 are deleted (as retention would).
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        admin.delete_records({TopicPartition(topic, 0): 100})
    finally:
        admin.close()
    ns = f"rp{uuid.uuid4().hex[:8]}"
    assert main(["replay", "--topic", topic, "--namespace", ns, "--from", "0"]) == 0
    captured = capsys.readouterr()
    assert "partition 1: empty partition" in captured.err
    assert "partition 2: empty partition" in captured.err
    assert "partition 0: records before offset 100 are no longer retained" in captured.err
    (summary,) = [json.loads(ln) for ln in captured.err.splitlines() if ln.startswith("{")]
    assert summary["records"] == 200  # went on with what exists
    assert json.loads(captured.out.strip().splitlines()[-1])["hours"] == {"fraud-v3": 1}
    assert main(["namespace", "clean", ns, "--yes"]) == 0
