"""The composition root builds what the settings say, with no server (clients connect lazily)."""

from __future__ import annotations

from typing import Any

import click
from click.testing import CliRunner

from stream import wiring
from stream.commands.options import number
from stream.commands.tailing import tail_options
from stream.settings import load_settings

ENV = {
    "DRIFTSTREAM_REDIS__NAMESPACE": "live",
    "DRIFTSTREAM_EVALUATE__PARTITION_SKETCH_RETENTION_MS": "7200000",
    "DRIFTSTREAM_EVALUATE__MERGED_SKETCH_RETENTION_MS": "700000000",
    "DRIFTSTREAM_CONSUMER__FETCH_MAX_BYTES": "8000000",
}


async def _assign(parts: Any, start: Any) -> dict[int, int]:
    return {}


async def _revoke(parts: Any) -> None:
    return None


def test_the_live_namespace_expires_state_and_a_replay_namespace_keeps_it() -> None:
    s = load_settings(None, ENV)
    client = wiring.connect_redis(s)
    assert wiring.sketch_store(s, client, "live")._retention_ms == 7_200_000  # noqa: SLF001
    assert wiring.window_store(s, client, "live")._retention_ms == 700_000_000  # noqa: SLF001
    assert wiring.sketch_store(s, client, "r", live=False)._retention_ms == 0  # noqa: SLF001
    assert wiring.window_store(s, client, "r", live=False)._retention_ms == 0  # noqa: SLF001


def test_a_replay_evaluates_against_the_live_references() -> None:
    s = load_settings(None, ENV)
    client = wiring.connect_redis(s)
    windows = wiring.window_store(s, client, "replay-x", live=False)
    evaluation = wiring.evaluation(s, client, "replay-x", windows)
    assert evaluation.store.keys.namespace == "replay-x"
    assert evaluation.store._ref_keys.namespace == "live"  # noqa: SLF001
    assert evaluation.evaluator.warn is None


def test_the_label_consumer_keeps_aiokafka_fetch_sizes_and_the_features_one_takes_ours() -> None:
    s = load_settings(None, ENV)
    kw: dict[str, Any] = {"options": {}, "on_assign": _assign, "on_revoke": _revoke}
    features = wiring.consumer(s, "f", group="g", **kw)
    labels = wiring.consumer(s, "l", group="g.labels", sized=False, **kw)
    assert features._config["fetch_max_bytes"] == 8_000_000  # noqa: SLF001
    assert labels._config["fetch_max_bytes"] == 52_428_800  # noqa: SLF001 - BatchConsumer's
    assert labels._config["group_id"] == "g.labels"  # noqa: SLF001


def test_shared_options_read_as_before() -> None:
    @click.command()
    @tail_options("alert", "Raw alert JSON, one per line.", "topics.alerts")
    @number("--retries", click.IntRange(1), "Attempts.", 3)
    def cmd(**kw: Any) -> None:
        click.echo(repr(sorted(kw.items())))

    out = CliRunner().invoke(cmd, ["--help"]).output
    assert "Start at the oldest retained alert." in out
    assert "Stop after N alerts." in out
    assert "Topic to read (default: topics.alerts)." in out
    assert "Attempts.  [default: 3; x>=1]" in out
    got = CliRunner().invoke(cmd, ["--max", "2", "--json"]).output
    assert "('as_json', True)" in got and "('max_n', 2)" in got and "('retries', 3)" in got


def test_the_worker_fetches_features_with_librdkafka_sized_by_the_consumer_settings() -> None:
    s = load_settings(None, ENV)
    kw: dict[str, Any] = {"options": {}, "on_assign": _assign, "on_revoke": _revoke}
    features = wiring.features_consumer(s, **kw)
    assert features.topic == s.topics.features
    assert features._config["group_id"] == s.consumer.group_id  # noqa: SLF001 - aiokafka's
    rd = features._rd_config  # noqa: SLF001 - the fetcher's librdkafka properties
    assert rd["fetch.max.bytes"] == 8_000_000 == s.consumer.fetch_max_bytes
    assert rd["bootstrap.servers"] == s.kafka.bootstrap_servers
    assert rd["auto.offset.reset"] == s.consumer.auto_offset_reset
