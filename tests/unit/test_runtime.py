"""The worker's faust app connects to Kafka with the configured security settings."""

from __future__ import annotations

import faust

from stream.runtime import faust_credentials
from stream.settings import load_settings


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
    creds = faust_credentials(s.kafka)
    assert isinstance(creds, faust.SASLCredentials)
    assert creds.username == "drift" and creds.password == "s3cret"
    assert creds.ssl_context is not None


def test_ssl_only_and_plaintext() -> None:
    ssl = load_settings(None, {"DRIFTSTREAM_KAFKA__SECURITY_PROTOCOL": "SSL"})
    assert isinstance(faust_credentials(ssl.kafka), faust.SSLCredentials)
    assert faust_credentials(load_settings(None, {}).kafka) is None
