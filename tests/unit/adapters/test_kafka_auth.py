"""One translation of the Kafka settings, rendered for each client library."""

from __future__ import annotations

import ssl

import faust
import pytest

from stream.adapters.kafka_auth import (
    KafkaAccess,
    aiokafka_options,
    faust_credentials,
    kafka_access,
    kafka_python_options,
    librdkafka_options,
)
from stream.settings import load_settings

SASL_SSL = {
    "DRIFTSTREAM_KAFKA__BOOTSTRAP_SERVERS": "k1:9093,k2:9093",
    "DRIFTSTREAM_KAFKA__SECURITY_PROTOCOL": "SASL_SSL",
    "DRIFTSTREAM_KAFKA__SASL_MECHANISM": "SCRAM-SHA-512",
    "DRIFTSTREAM_KAFKA__SASL_USERNAME": "drift",
    "DRIFTSTREAM_KAFKA__SASL_PASSWORD": "s3cret",
}


def _access(env: dict[str, str]) -> KafkaAccess:
    return kafka_access(load_settings(None, env).kafka)


def test_plaintext_renders_the_servers_each_library_expects() -> None:
    access = _access({"DRIFTSTREAM_KAFKA__BOOTSTRAP_SERVERS": "a:1,b:2"})
    client_id = access.client_id
    assert aiokafka_options(access) == {
        "bootstrap_servers": "a:1,b:2",
        "client_id": client_id,
        "security_protocol": "PLAINTEXT",
    }
    assert kafka_python_options(access) == {
        "bootstrap_servers": ["a:1", "b:2"],
        "client_id": client_id,
        "security_protocol": "PLAINTEXT",
    }
    assert faust_credentials(access) is None


def test_sasl_ssl_reaches_every_client_and_the_password_is_not_in_the_repr() -> None:
    access = _access(SASL_SSL)
    assert access.tls and access.sasl
    assert "s3cret" not in repr(access)
    aio = aiokafka_options(access)
    assert aio["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (aio["sasl_plain_username"], aio["sasl_plain_password"]) == ("drift", "s3cret")
    assert isinstance(aio["ssl_context"], ssl.SSLContext)
    sync = kafka_python_options(access)
    assert sync["bootstrap_servers"] == ["k1:9093", "k2:9093"]
    assert (sync["sasl_plain_username"], sync["sasl_plain_password"]) == ("drift", "s3cret")
    assert "ssl_context" not in sync  # kafka-python takes file paths, none configured here
    creds = faust_credentials(access)
    assert isinstance(creds, faust.SASLCredentials)
    assert (creds.username, creds.password, creds.mechanism.value) == (
        "drift",
        "s3cret",
        "SCRAM-SHA-512",
    )


def test_tls_files_go_to_kafka_python_as_paths() -> None:
    access = KafkaAccess(("k:9093",), "c", "SSL", cafile="/ca.pem", certfile="/c.pem")
    sync = kafka_python_options(access)
    assert (sync["ssl_cafile"], sync["ssl_certfile"]) == ("/ca.pem", "/c.pem")
    assert "ssl_keyfile" not in sync and "sasl_mechanism" not in sync


def test_librdkafka_gets_the_same_servers_login_and_tls_files() -> None:
    plain = _access({"DRIFTSTREAM_KAFKA__BOOTSTRAP_SERVERS": "a:1,b:2"})
    assert librdkafka_options(plain) == {
        "bootstrap.servers": "a:1,b:2",
        "client.id": plain.client_id,
        "security.protocol": "plaintext",
    }
    rd = librdkafka_options(_access(SASL_SSL))
    assert rd["bootstrap.servers"] == "k1:9093,k2:9093"
    assert rd["security.protocol"] == "sasl_ssl"
    assert (rd["sasl.mechanism"], rd["sasl.username"], rd["sasl.password"]) == (
        "SCRAM-SHA-512",
        "drift",
        "s3cret",
    )
    assert rd["ssl.endpoint.identification.algorithm"] == "https"  # host name checked
    assert "ssl.ca.location" not in rd  # none configured: the system store
    tls = librdkafka_options(
        KafkaAccess(("k:9093",), "c", "SSL", cafile="/ca.pem", certfile="/c.pem", keyfile="/k")
    )
    assert (tls["ssl.ca.location"], tls["ssl.certificate.location"], tls["ssl.key.location"]) == (
        "/ca.pem",
        "/c.pem",
        "/k",
    )
    assert "sasl.mechanism" not in tls


def test_librdkafka_accepts_every_property_it_is_given() -> None:
    """Each rendered name is a real librdkafka property (a typo fails at construction)."""
    import confluent_kafka as ck

    for env in ({"DRIFTSTREAM_KAFKA__BOOTSTRAP_SERVERS": "127.0.0.1:1"}, SASL_SSL):
        opts = librdkafka_options(_access(env))
        consumer = ck.Consumer({**opts, "group.id": "g"})
        consumer.close()
    bad = {**librdkafka_options(_access(SASL_SSL)), "group.id": "g", "sasl.mechanism": "NOPE"}
    with pytest.raises(ck.KafkaException, match="sasl.mechanism|NOPE"):
        ck.Consumer(bad).close()
