"""driftstream against secured servers, as production runs it.

The session's ``secure_stack``: Kafka with a SASL_SSL listener (SCRAM-SHA-512 user made
by the Kafka tools) and redis-server speaking TLS only, whose ``default`` user is off
and whose ``driftstream`` ACL user may touch ``ds:*`` keys only. Every command here
runs as a real process configured the way a deployment is (``DRIFTSTREAM_*`` variables,
CA file, users, passwords) — no plaintext path is left open to it.

One run feeds the tests: a reference built from a topic, 30,000 events ingested by a
worker that is SIGKILLed after its first flush and restarted, alerts published; the same
events through an uninterrupted worker on the plaintext stack give the state it must
equal byte for byte.
"""

from __future__ import annotations

import json
import signal
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from kafka.admin import KafkaAdminClient, NewTopic

from stream.adapters.kafka_tools import produce
from stream.adapters.redis_client import RedisPermissionError, redis_client
from stream.adapters.redis_keys import Keys
from stream.localstack import LocalStack
from stream.settings import load_settings
from stream.synth import Drift, SyntheticStream
from stream.wiring import kafka_sync
from tests.integration.test_replay import windows
from tests.integration.worker_harness import (
    DRIFTSTREAM,
    START_MS,
    Deployment,
    end_offsets,
    read_topic,
    spec,
    state,
    stored_offsets,
    wait_until,
)

pytestmark = pytest.mark.integration

N_EVENTS = 30_000
PER_HOUR = 3_000  # 10 hours; `amount` shifts by 1 sd from hour 3
PARTITIONS = 3
HOUR = 3_600_000
REF_HOURS = 48
REF_START = START_MS - REF_HOURS * HOUR


def _admin_redis(stack: LocalStack) -> redis.Redis:
    assert stack.credentials is not None and stack.ca_file is not None
    return redis.Redis(
        host="127.0.0.1",
        port=stack.redis_port,
        ssl=True,
        ssl_ca_certs=str(stack.ca_file),
        username="admin",
        password=stack.credentials.redis_admin_password,
    )


def _secrets(stack: LocalStack) -> list[str]:
    c = stack.credentials
    assert c is not None
    return [c.kafka_password, c.redis_password, c.redis_admin_password]


def _cli(env: dict[str, str], *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [DRIFTSTREAM, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def _create(options: dict[str, Any], names: list[str], partitions: int) -> None:
    admin = KafkaAdminClient(**options)
    try:
        admin.create_topics(
            [NewTopic(n, num_partitions=partitions, replication_factor=1) for n in names]
        )
    finally:
        admin.close()


@pytest.fixture(scope="module")
def secured_run(
    secure_stack: LocalStack,
    kafka_bootstrap: str,
    redis_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, Any]]:
    suffix = uuid.uuid4().hex[:8]
    names = {k: f"sec-{k}-{suffix}" for k in ("features", "dead_letter", "sealed", "alerts", "ref")}
    secure_env = secure_stack.env(secrets=True)
    workdir = tmp_path_factory.mktemp("secured")
    d = Deployment(
        bootstrap=secure_stack.client_bootstrap,
        redis_url=secure_stack.redis_url,
        features=names["features"],
        dead_letter=names["dead_letter"],
        sealed=names["sealed"],
        namespace=f"s{suffix}",
        workdir=workdir,
        partitions=PARTITIONS,
        overrides={
            **secure_env,
            "DRIFTSTREAM_TOPICS__ALERTS": names["alerts"],
            "DRIFTSTREAM_TOPICS__PARTITIONS": str(PARTITIONS),
        },
    )
    env = d.env()
    kafka_opts = kafka_sync(load_settings(None, env=env))
    assert kafka_opts["security_protocol"] == "SASL_SSL"
    admin_r = _admin_redis(secure_stack)
    gen = SyntheticStream(
        spec(), start_ms=START_MS, events_per_hour=PER_HOUR, seed=5,
        drifts=[Drift("amount", "shift", 1.0, START_MS + 3 * HOUR)],
    )  # fmt: skip
    records = list(gen.records(N_EVENTS))
    plain: Deployment | None = None
    try:
        # Topics: the CLI for the deployment's own, then a reference topic.
        created = _cli(env, "topics", "create")
        assert created.returncode == 0, created.stderr
        _create(kafka_opts, [names["ref"]], 1)
        ref_gen = SyntheticStream(spec(), start_ms=REF_START, events_per_hour=300, seed=3)
        ref = list(ref_gen.records(REF_HOURS * 300))
        produce(kafka_opts, names["ref"], ref)
        built = _cli(
            env, "reference", "build", "--model", "fraud-v3", "--topic", names["ref"],
            "--from", str(REF_START), "--to", str(START_MS),
            "--live-events-per-hour", str(PER_HOUR),
        )  # fmt: skip
        assert built.returncode == 0, built.stderr

        produce(kafka_opts, names["features"], records, partitions=PARTITIONS)
        ends = {p: n for p, n in enumerate([N_EVENTS // PARTITIONS] * PARTITIONS)}
        # A worker killed after its first flush, then a fresh one: exactly once.
        first = d.start_worker()
        wait_until(
            lambda: sum(stored_offsets(admin_r, d.namespace, PARTITIONS).values()) > 0,
            300,
            f"a first flush\n{d.logs()}",
        )
        d.kill(first)
        d.start_worker()
        wait_until(
            lambda: stored_offsets(admin_r, d.namespace, PARTITIONS) == ends,
            300,
            f"every offset stored\n{d.logs()}",
        )
        wait_until(
            lambda: admin_r.zcard(Keys(d.namespace).evaluations("fraud-v3", "hour")) >= 8,
            300,
            f"8 evaluated hours\n{d.logs()}",
        )
        wait_until(
            lambda: (
                not admin_r.llen(Keys(d.namespace).alerts_outbox("fraud-v3"))
                and bool(admin_r.llen(Keys(d.namespace).alert_history("fraud-v3")))
            ),
            120,
            f"alerts decided and published\n{d.logs()}",
        )
        d.stop_all()

        # The same events, plaintext, one uninterrupted worker.
        pnames = {k: f"plain-{k}-{suffix}" for k in ("features", "dead_letter", "sealed")}
        plain = Deployment(
            bootstrap=kafka_bootstrap,
            redis_url=redis_url,
            features=pnames["features"],
            dead_letter=pnames["dead_letter"],
            sealed=pnames["sealed"],
            namespace=d.namespace,  # same namespace, other server: names compare equal
            workdir=tmp_path_factory.mktemp("plain"),
            partitions=PARTITIONS,
        )
        plain_opts: dict[str, Any] = {"bootstrap_servers": [kafka_bootstrap]}
        _create(plain_opts, list(pnames.values()), PARTITIONS)
        produce(plain_opts, pnames["features"], records, partitions=PARTITIONS)
        plain_r = redis.Redis.from_url(redis_url)
        plain.start_worker()
        wait_until(
            lambda: stored_offsets(plain_r, plain.namespace, PARTITIONS) == ends,
            300,
            f"plaintext offsets\n{plain.logs()}",
        )
        plain.stop_all()
        assert end_offsets(kafka_bootstrap, pnames["features"], PARTITIONS) == ends
        yield {
            "d": d,
            "env": env,
            "names": names,
            "kafka_opts": kafka_opts,
            "redis": admin_r,
            "secure_state": state(admin_r, d.namespace),
            "plain_state": state(plain_r, plain.namespace),
            "workdir": workdir,
        }
        for k in plain_r.scan_iter(match=Keys(plain.namespace).pattern(), count=1000):
            plain_r.delete(k)
        plain_r.close()
    finally:
        d.stop_all()
        if plain is not None:
            plain.stop_all()
        admin_r.close()


def test_worker_ingests_exactly_once_over_sasl_ssl_and_tls_acl(
    secured_run: dict[str, Any],
) -> None:
    secure, plain = secured_run["secure_state"], secured_run["plain_state"]
    hours = {k: v for k, v in secure.items() if ":h:" in k}
    assert sum(int(v[b"events"]) for v in hours.values()) == N_EVENTS
    assert secure == plain  # killed + restarted over TLS = uninterrupted plaintext, byte for byte
    logs = secured_run["d"].logs()
    assert "NOPERM" not in logs and "permission denied" not in logs


def test_alerts_published_over_sasl_ssl(secured_run: dict[str, Any]) -> None:
    opts = secured_run["kafka_opts"]  # its bootstrap_servers and SASL_SSL settings
    records = read_topic(opts["bootstrap_servers"][0], secured_run["names"]["alerts"], **opts)
    alerts = [json.loads(m.value) for m in records]
    triggered = [a for a in alerts if a["status"] == "triggered"]
    assert triggered, alerts
    assert any(f["name"] == "amount" for a in triggered for f in a["features"])


def test_status_report_and_replay_over_the_secured_stack(
    secured_run: dict[str, Any], secure_stack: LocalStack
) -> None:
    env, r, d = secured_run["env"], secured_run["redis"], secured_run["d"]
    status = _cli(env, "status")
    assert status.returncode == 0, status.stderr
    assert "fraud-v3" in status.stdout
    out = Path(secured_run["workdir"]) / "report.html"
    hour = "hour:2026-01-01T05"
    report = _cli(env, "report", "--model", "fraud-v3", "--window", hour, "--out", str(out))
    assert report.returncode == 0, report.stderr
    assert out.stat().st_size > 10_000

    ns = f"r{uuid.uuid4().hex[:8]}"
    replay = _cli(
        env, "replay", "--from", str(START_MS), "--to", str(START_MS + 10 * HOUR),
        "--namespace", ns, "--quiet",
    )  # fmt: skip
    assert replay.returncode == 0, replay.stderr
    live = {k.replace("NS:", ""): v for k, v in windows(r, d.namespace).items() if ":w:hour:" in k}
    replayed = {k.replace("NS:", ""): v for k, v in windows(r, ns).items() if ":w:hour:" in k}
    assert len(live) >= 8
    assert {k: replayed.get(k) for k in live} == live  # the same windows, byte for byte
    for result in (status, report, replay):
        text = result.stdout + result.stderr
        assert not [s for s in _secrets(secure_stack) if s in text]


def test_wrong_credentials_are_one_line_naming_server_and_mechanism(
    secured_run: dict[str, Any], secure_stack: LocalStack
) -> None:
    env = secured_run["env"]
    planted = "WrongPa55-S3CRET"
    bad_kafka = {**env, "DRIFTSTREAM_KAFKA__SASL_PASSWORD": planted}
    bad_redis = {**env, "DRIFTSTREAM_REDIS__PASSWORD": planted}
    cases = [
        (bad_kafka, ("topics", "create"), "kafka at 127.0.0.1:", "SCRAM-SHA-512"),
        (bad_kafka, ("status",), "kafka at 127.0.0.1:", "SCRAM-SHA-512"),
        (bad_redis, ("status",), "redis at rediss://127.0.0.1:", "AUTH"),
        (
            bad_redis,
            ("report", "--model", "fraud-v3", "--window", "hour:2026-01-01T05", "--out", "x.html"),
            "redis at rediss://127.0.0.1:",
            "AUTH",
        ),
    ]
    for environ, args, server, mechanism in cases:
        done = _cli(environ, *args, timeout=60)
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 1, (args, done.stderr)
        assert len(lines) == 1, (args, done.stderr)
        assert lines[0].startswith("driftstream: error: "), lines
        assert server in lines[0] and mechanism in lines[0], lines
        assert "Traceback" not in done.stderr
        leaked = [s for s in [planted, *_secrets(secure_stack)] if s in done.stdout + done.stderr]
        assert not leaked, args


def test_acl_user_is_limited_to_driftstream_keys(
    secured_run: dict[str, Any], secure_stack: LocalStack
) -> None:
    settings = load_settings(None, env=secured_run["env"])
    client = redis_client(settings.redis)
    try:
        assert client.ping()
        with pytest.raises(RedisPermissionError) as info:
            client.get("someone-else:key")
        assert "user 'driftstream'" in str(info.value)
        assert "permission denied" in str(info.value)
    finally:
        client.close()


def test_stack_up_secure_prints_no_password(secure_stack: LocalStack) -> None:
    text = "\n".join(secure_stack.describe())
    assert "SASL_SSL" in text and "rediss://" in text
    assert not [s for s in _secrets(secure_stack) if s in text]
    assert secure_stack.stack_dir is not None
    env_file = secure_stack.stack_dir / "secure.env"
    assert env_file.stat().st_mode & 0o077 == 0  # passwords: owner-only
    assert (secure_stack.stack_dir / "stack.json").stat().st_mode & 0o077 == 0


def test_webhook_forwarder_delivers_the_alerts_over_sasl_ssl(
    secured_run: dict[str, Any], secure_stack: LocalStack
) -> None:
    """``forward webhook`` reads the alerts topic over SASL_SSL, dedupes in TLS Redis."""
    from tests.integration.test_forward import Receiver

    alerts_topic = secured_run["names"]["alerts"]
    opts = secured_run["kafka_opts"]
    published = [m.value for m in read_topic(opts["bootstrap_servers"][0], alerts_topic, **opts)]
    assert published
    receiver = Receiver()
    args = ("forward", "webhook", "--url", receiver.url, "--topic", alerts_topic)
    try:
        with subprocess.Popen(
            [DRIFTSTREAM, *args], env=secured_run["env"], text=True,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        ) as proc:  # fmt: skip
            try:
                wait_until(
                    lambda: len(receiver.bodies()) >= len(published), 90, "every alert delivered"
                )
            finally:
                proc.send_signal(signal.SIGTERM)
                log, _ = proc.communicate(timeout=60)
    finally:
        receiver.close()
    assert proc.returncode == 0, log
    assert sorted(receiver.bodies()) == sorted(published)  # the alert JSON, byte for byte
    assert not [s for s in _secrets(secure_stack) if s in log]
