"""Forwarders against a real Kafka + Redis and a local HTTP receiver that can misbehave.

The receiver (stdlib ``http.server`` on 127.0.0.1) records what it accepted and can
answer 500 or drop the connection; the forwarder runs in-process (or, once, as the
real CLI in a subprocess). Deadlines below are hang guards only, never assertions.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import redis
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.producer.future import FutureRecordMetadata

from stream.adapters.forward import HttpPoster, KafkaAlertSource, RedisDeliveryLog
from stream.adapters.redis_keys import Keys
from stream.core.alert import Alert
from stream.pipeline.forward import (
    Backoff,
    Forwarder,
    ForwardStats,
    Renderer,
    alertmanager_renderer,
    pagerduty_renderer,
    webhook_renderer,
)
from tests.integration.worker_harness import wait_until
from tests.unit.pipeline.test_forward import T0, lifecycle_alerts

DRIFTSTREAM = str(Path(sys.executable).parent / "driftstream")
KEY = "PDKEY-0123456789abcdef0123456789ab"
TTL_S = 7 * 24 * 3600


class Receiver:
    """Records accepted requests; ``plan`` scripts the next answers ("ok", "500", "drop")."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.accepted: list[tuple[str, bytes]] = []
        self.attempts = 0
        self.plan: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    receiver.attempts += 1
                    action = receiver.plan.pop(0) if receiver.plan else "ok"
                    if action == "ok":
                        receiver.accepted.append((self.path, body))
                if action == "drop":
                    self.close_connection = True  # no response at all
                    return
                status, reply = (202, b'{"status":"success"}') if action == "ok" else (500, body)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)  # a 500 echoes the request: secrets must not be logged

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/v2/enqueue"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def bodies(self) -> list[bytes]:
        with self.lock:
            return [b for _, b in self.accepted]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    try:
        yield r
    finally:
        r.close()


def produce(bootstrap: str, topic: str, values: list[tuple[bytes, bytes]]) -> None:
    """Send (key, value) pairs in order and wait for every acknowledgement."""
    producer = KafkaProducer(bootstrap_servers=[bootstrap], acks="all")
    try:
        futures: list[FutureRecordMetadata] = [
            producer.send(topic, key=k, value=v) for k, v in values
        ]
        producer.flush()
        for f in futures:
            f.get(timeout=30)
    finally:
        producer.close()


def keyed(alerts: list[Alert]) -> list[tuple[bytes, bytes]]:
    return [(a.dedup_key.encode(), a.to_json()) for a in alerts]


def committed(bootstrap: str, group: str, topic: str, partitions: int = 2) -> dict[int, int]:
    """The group's committed offsets (a non-member consumer only reads them)."""
    consumer = KafkaConsumer(bootstrap_servers=[bootstrap], group_id=group)
    try:
        got = {p: consumer.committed(TopicPartition(topic, p)) for p in range(partitions)}
    finally:
        consumer.close(autocommit=False)
    return {p: o for p, o in got.items() if o is not None}


def end_offsets(bootstrap: str, topic: str, partitions: int) -> dict[int, int]:
    consumer = KafkaConsumer(bootstrap_servers=[bootstrap])
    try:
        ends = consumer.end_offsets([TopicPartition(topic, p) for p in range(partitions)])
    finally:
        consumer.close()
    return {tp.partition: o for tp, o in ends.items() if o}


def run_forwarder(
    bootstrap: str,
    redis_url: str,
    *,
    topic: str,
    group: str,
    namespace: str,
    url: str,
    render: Renderer,
    until: Callable[[ForwardStats], bool],
    what: str,
    stop: Callable[[], bool] = lambda: False,
    timeout_s: float = 300,
) -> ForwardStats:
    """One forwarder process's worth of adapters and loop, stopped by ``until``/``stop``.

    ``timeout_s`` is a hang guard only (a loaded machine can take long to join the group
    and fetch the first records): when it expires the test fails naming ``what``.
    """
    deadline = time.monotonic() + timeout_s
    client = redis.Redis.from_url(redis_url)
    source = KafkaAlertSource(topic, group_id=group, options={"bootstrap_servers": [bootstrap]})
    forwarder = Forwarder(
        source=source,
        # generous: a 202 that is merely slow on a loaded machine must not count as a failure
        poster=HttpPoster(url, timeout_s=60),
        delivery_log=RedisDeliveryLog(client, Keys(namespace), group, TTL_S),
        render=render,
        backoff=Backoff(initial_s=0.005, max_s=0.02),
        sleep=time.sleep,
        stopping=lambda: stop() or time.monotonic() > deadline,
        rng=random.Random(1),
        poll_timeout_ms=200,
        secrets=(KEY,),
    )
    try:
        stats = forwarder.run(until)
    finally:
        source.close()
        client.close()
    assert time.monotonic() <= deadline, (
        f"timed out after {timeout_s:.0f}s waiting for {what}: {stats}"
    )
    return stats


def group_name() -> str:
    return f"driftstream-forward-test-{uuid.uuid4().hex[:8]}"


def test_pagerduty_gets_each_alert_once_despite_a_resent_id_500s_and_dropped_connections(
    kafka_bootstrap: str,
    redis_url: str,
    redis_client: redis.Redis,
    redis_namespace: str,
    new_topic: Callable[..., str],
    receiver: Receiver,
) -> None:
    topic = new_topic(2)
    fraud, churn = lifecycle_alerts("fraud-v3"), lifecycle_alerts("churn-v1")
    # A worker crash re-published fraud's trigger (same alert id); one message is junk.
    values = keyed([fraud[0], churn[0]]) + [(b"junk", b"{not json")] + keyed([fraud[0], *fraud[1:]])
    values += keyed(churn[1:])
    produce(kafka_bootstrap, topic, values)
    receiver.plan = ["500", "drop", "500"]
    group = group_name()

    stats = run_forwarder(
        kafka_bootstrap,
        redis_url,
        topic=topic,
        group=group,
        namespace=redis_namespace,
        url=receiver.url,
        render=pagerduty_renderer(KEY),
        until=lambda s: s.polled >= len(values),
        what=f"the forwarder to poll all {len(values)} records",
    )

    events = [json.loads(b) for b in receiver.bodies()]
    sent = [(e["dedup_key"], e["event_action"]) for e in events]
    expected = {
        (a.dedup_key, "trigger" if a.status == "triggered" else "resolve") for a in fraud + churn
    }
    assert sorted(sent) == sorted(expected) and len(sent) == 4  # exactly once each
    for a in (fraud[0], churn[0]):  # per alert: trigger before resolve
        assert sent.index((a.dedup_key, "trigger")) < sent.index((a.dedup_key, "resolve"))
    trig = next(e for e in events if e["dedup_key"] == fraud[0].dedup_key and "payload" in e)
    assert trig["routing_key"] == KEY
    assert trig["payload"]["summary"] == fraud[0].summary
    assert trig["payload"]["source"] == "driftstream/fraud-v3"
    assert trig["payload"]["severity"] == fraud[0].severity
    assert [link["href"] for link in trig["links"]] == [
        fraud[0].dashboard_url,
        fraud[0].runbook_url,
    ]
    assert (stats.duplicates, stats.malformed, stats.delivered) == (1, 1, 4)
    assert receiver.attempts == 4 + 3  # every failure was retried, nothing given up
    assert committed(kafka_bootstrap, group, topic) == end_offsets(kafka_bootstrap, topic, 2)
    key = Keys(redis_namespace).forwarded(group, fraud[0].alert_id)
    assert 0 < redis_client.ttl(key) <= TTL_S


def test_alertmanager_receives_webhook_v4_payloads(
    kafka_bootstrap: str,
    redis_url: str,
    redis_namespace: str,
    new_topic: Callable[..., str],
    receiver: Receiver,
) -> None:
    topic = new_topic(1)
    fraud = lifecycle_alerts("fraud-v3")
    later = lifecycle_alerts("fraud-v3", start_ms=T0 + 5 * 3_600_000)
    alerts = [fraud[0], later[0], fraud[1], later[1]]
    produce(kafka_bootstrap, topic, keyed(alerts))
    run_forwarder(
        kafka_bootstrap,
        redis_url,
        topic=topic,
        group=group_name(),
        namespace=redis_namespace,
        url=receiver.url,
        render=alertmanager_renderer("ops-team", "https://drift.example.com"),
        until=lambda s: s.polled >= len(alerts),
        what=f"the forwarder to poll all {len(alerts)} alerts",
    )
    bodies = [json.loads(b) for b in receiver.bodies()]
    # Two triggers share a body; each resolve repeats a dedup key, so starts its own.
    assert [[x["labels"]["dedup_key"] for x in b["alerts"]] for b in bodies] == [
        [fraud[0].dedup_key, later[0].dedup_key],
        [fraud[1].dedup_key, later[1].dedup_key],
    ]
    firing, resolved = bodies
    assert firing["version"] == "4" and firing["receiver"] == "ops-team"
    assert (firing["status"], resolved["status"]) == ("firing", "resolved")
    assert firing["externalURL"] == "https://drift.example.com"
    assert firing["groupKey"] == '{}:{alertname="FeatureDrift", model="fraud-v3", scale="hour"}'
    for body, status, sent in ((firing, "firing", alerts[:2]), (resolved, "resolved", alerts[2:])):
        for item, alert in zip(body["alerts"], sent, strict=True):
            assert item["status"] == status
            assert item["labels"]["model"] == "fraud-v3"
            assert item["labels"]["severity"] == alert.severity
            assert item["annotations"]["summary"] == alert.summary
            assert item["annotations"]["runbook_url"] == alert.runbook_url
            assert item["startsAt"] == alert.first_seen
            assert item["endsAt"] == (
                "0001-01-01T00:00:00Z" if status == "firing" else alert.window.end
            )
            assert len(item["fingerprint"]) == 16
    assert firing["alerts"][0]["fingerprint"] != firing["alerts"][1]["fingerprint"]


def test_a_restart_mid_way_loses_nothing_and_repeats_nothing(
    kafka_bootstrap: str,
    redis_url: str,
    redis_namespace: str,
    new_topic: Callable[..., str],
    receiver: Receiver,
) -> None:
    topic = new_topic(1)
    alerts = lifecycle_alerts("fraud-v3") + lifecycle_alerts("churn-v1") + lifecycle_alerts("ads")
    produce(kafka_bootstrap, topic, keyed(alerts))
    group = group_name()
    common: dict[str, Any] = {
        "topic": topic,
        "group": group,
        "namespace": redis_namespace,
        "url": receiver.url,
        "render": webhook_renderer(),
    }
    # The receiver takes two alerts, then fails everything: the first forwarder gives up
    # (is stopped) while retrying the third and must not have committed past it.
    receiver.plan = ["ok", "ok"] + ["500"] * 1000

    def enough() -> bool:
        with receiver.lock:
            return receiver.attempts >= 6

    run_forwarder(
        kafka_bootstrap,
        redis_url,
        **common,
        until=lambda _: False,
        stop=enough,
        what="the receiver to see 6 attempts (2 delivered, then failures)",
    )
    assert receiver.bodies() == [a.to_json() for a in alerts[:2]]
    assert committed(kafka_bootstrap, group, topic) == {0: 2}

    with receiver.lock:
        receiver.plan = []
    stats = run_forwarder(
        kafka_bootstrap,
        redis_url,
        **common,
        until=lambda s: s.polled >= len(alerts) - 2,
        what=f"the restarted forwarder to poll the {len(alerts) - 2} alerts left",
    )
    assert receiver.bodies() == [a.to_json() for a in alerts]  # each once, in topic order
    assert stats.duplicates == 0
    assert committed(kafka_bootstrap, group, topic) == {0: len(alerts)}


def test_cli_forwards_to_pagerduty_and_never_prints_the_routing_key(
    kafka_bootstrap: str,
    redis_url: str,
    redis_namespace: str,
    new_topic: Callable[..., str],
    receiver: Receiver,
    tmp_path: Path,
) -> None:
    topic = new_topic(1)
    alerts = lifecycle_alerts("fraud-v3")
    produce(kafka_bootstrap, topic, keyed(alerts))
    receiver.plan = ["500"]  # its body echoes the request, routing key included
    group = group_name()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRIFTSTREAM_")} | {
        "DRIFTSTREAM_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "DRIFTSTREAM_REDIS_URL": redis_url,
        "DRIFTSTREAM_PAGERDUTY_ROUTING_KEY": KEY,
    }
    args = [DRIFTSTREAM, "forward", "pagerduty", "--url", receiver.url, "--topic", topic]
    args += ["--group", group, "--namespace", redis_namespace]
    args += ["--backoff-initial", "0.01", "--backoff-max", "0.05"]
    err = tmp_path / "stderr.txt"
    with err.open("wb") as stderr:
        proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=stderr)
        try:
            wait_until(lambda: len(receiver.bodies()) >= 2, 300, "two PagerDuty events")
            wait_until(
                lambda: committed(kafka_bootstrap, group, topic) == {0: 2}, 300, "the commit"
            )
        finally:
            proc.send_signal(signal.SIGTERM)
            out, _ = proc.communicate(timeout=120)  # a hang guard only
    log = err.read_text()
    assert proc.returncode == 0, log
    actions = [json.loads(b)["event_action"] for b in receiver.bodies()]
    assert actions == ["trigger", "resolve"]
    assert KEY not in log and KEY.encode() not in out
    assert "HTTP 500" in log and "***" in log
    assert "stopped: polled 2, delivered 2" in log
