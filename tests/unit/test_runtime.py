"""The worker's faust app connects to Kafka with the configured security settings."""

from __future__ import annotations

import faust

from stream.settings import load_settings
from stream.wiring import faust_broker_credentials


def test_sasl_settings_reach_faust() -> None:
    s = load_settings(
        None,
        {
            "DRIFTSTREAM_KAFKA__SECURITY_PROTOCOL": "SASL_SSL",
            "DRIFTSTREAM_KAFKA__SASL_MECHANISM": "SCRAM-SHA-512",
            "DRIFTSTREAM_KAFKA__SASL_USERNAME": "drift",
            "DRIFTSTREAM_KAFKA__SASL_PASSWORD": "s3cret",
        },
    )
    creds = faust_broker_credentials(s)
    assert isinstance(creds, faust.SASLCredentials)
    assert creds.username == "drift" and creds.password == "s3cret"
    assert creds.ssl_context is not None


def test_ssl_only_and_plaintext() -> None:
    ssl = load_settings(None, {"DRIFTSTREAM_KAFKA__SECURITY_PROTOCOL": "SSL"})
    assert isinstance(faust_broker_credentials(ssl), faust.SSLCredentials)
    assert faust_broker_credentials(load_settings(None, {})) is None


def test_consumer_fetch_settings_reach_aiokafka() -> None:
    from stream.runtime import IngestService

    s = load_settings(
        None,
        {
            "DRIFTSTREAM_CONSUMER__FETCH_MAX_WAIT_MS": "123",
            "DRIFTSTREAM_CONSUMER__FETCH_MIN_BYTES": "4567",
            "DRIFTSTREAM_CONSUMER__FETCH_MAX_BYTES": "8000000",
            "DRIFTSTREAM_CONSUMER__MAX_PARTITION_FETCH_BYTES": "2000000",
        },
    )
    config = IngestService(s).consumer._config  # what AIOKafkaConsumer(**config) gets
    assert config["fetch_max_wait_ms"] == 123
    assert config["fetch_min_bytes"] == 4567
    assert config["fetch_max_bytes"] == 8_000_000
    assert config["max_partition_fetch_bytes"] == 2_000_000


def test_health_timeout_setting_reaches_the_verdict() -> None:
    from stream.runtime import IngestService

    s = load_settings(None, {"DRIFTSTREAM_INGEST__HEALTH_TIMEOUT_MS": "4000"})
    service = IngestService(s)
    assert service.health.timeout_ms == 4000
    assert service.health_problem(0) == "starting"


def test_faust_topic_creation_is_retried_while_kafka_comes_back() -> None:
    # Right after a broker outage faust's metadata can list no broker or no
    # controller: it raised and the worker exited instead of starting.
    import asyncio

    import pytest

    from stream.runtime import retry_start_step

    calls: list[str] = []

    async def create() -> str:
        calls.append("create")
        if calls.count("create") < 3:
            msg = "Controller node not found"
            raise Exception(msg)  # noqa: TRY002 - what faust raises
        return "created"

    async def refresh() -> None:
        calls.append("refresh")

    got = asyncio.run(retry_start_step(create, refresh, what="t", wait_s=5.0, step_s=0.01))
    assert got == "created"
    assert calls == ["create", "refresh", "create", "refresh", "create"]
    calls.clear()
    with pytest.raises(Exception, match="Controller node not found"):  # bounded
        asyncio.run(retry_start_step(create, refresh, what="t", wait_s=0.0, step_s=0.01))
    assert calls == ["create"]


def test_a_coordinator_lookup_with_no_broker_known_is_retriable_not_fatal() -> None:
    # aiokafka asserted ("Did we not perform bootstrap?") and its coordination task died:
    # the worker stayed idle. Now a retriable error its coordinator loop retries on.
    import asyncio

    import pytest
    from aiokafka.client import AIOKafkaClient
    from aiokafka.errors import NodeNotReadyError

    from stream.runtime import _patch_coordinator_lookup

    _patch_coordinator_lookup()
    _patch_coordinator_lookup()  # idempotent: patched once

    async def lookup() -> None:
        client = AIOKafkaClient(bootstrap_servers="127.0.0.1:1")  # never bootstrapped
        assert client.get_random_node() is None
        await client.coordinator_lookup(0, "g")

    with pytest.raises(NodeNotReadyError) as err:
        asyncio.run(lookup())
    assert err.value.retriable
    assert getattr(AIOKafkaClient.coordinator_lookup, "driftstream_retries", False)
