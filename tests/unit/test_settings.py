"""Settings: TOML + DRIFTSTREAM_* env, one-line ConfigErrors naming the key, hidden secrets."""

from __future__ import annotations

import doctest
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

import stream.settings
from stream.errors import ConfigError
from stream.settings import (
    CONFIG_ENV,
    ENV_ALIASES,
    Settings,
    describe,
    env_names,
    load_settings,
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "deploy" / "config" / "driftstream.example.toml"


def write(tmp_path: Path, text: str, name: str = "driftstream.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def error(path: Path | None, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load_settings(path, env=env or {})
    message = str(info.value)
    assert "\n" not in message, "errors are one line"
    return message


def test_doctests() -> None:
    assert doctest.testmod(stream.settings).failed == 0


# ---------------------------------------------------------------- defaults and loading


def test_defaults_suit_local_use() -> None:
    s = load_settings(None, env={})
    assert s.kafka.bootstrap_servers == "127.0.0.1:9092"
    assert s.redis.url.get_secret_value() == "redis://127.0.0.1:6379/0"
    assert s.kafka.security_protocol == "PLAINTEXT"
    assert s.web.token is None
    assert s.models.names == ()


def test_settings_are_frozen() -> None:
    s = load_settings(None, env={})
    with pytest.raises(ValidationError):
        s.web.port = 1  # type: ignore[misc]
    with pytest.raises(ValidationError):
        s.kafka = s.kafka  # type: ignore[misc]


def test_example_config_loads_with_its_model() -> None:
    s = load_settings(EXAMPLE, env={})
    spec = s.models.model("fraud-v3")
    assert [f.name for f in spec.features] == ["amount", "n_items", "country", "device"]
    assert spec.numeric_features == ("amount", "n_items", "prediction")
    assert spec.categorical_features == ("country", "device")
    assert spec.prediction is not None and spec.prediction.kind == "numeric"
    # relative reference paths are relative to the config file
    assert spec.reference is not None and spec.reference.source == "file"
    assert Path(spec.reference.path) == EXAMPLE.parent / "reference" / "fraud-v3.ndjson"


def test_example_config_sets_every_section_key_explicitly_or_commented() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    for row in describe():
        if row.key.startswith("models."):
            continue
        key = row.key.split(".", 1)[1]
        assert f"{key} =" in text, f"{row.key} is not shown in the example config"


def test_config_path_from_env(tmp_path: Path) -> None:
    path = write(tmp_path, "[web]\nport = 9001\n")
    assert load_settings(None, env={CONFIG_ENV: str(path)}).web.port == 9001


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    assert error(missing) == f"{missing}: config file not found"


def test_toml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    msg = error(write(tmp_path, "[web\nport = 1\n"))
    assert "TOML syntax error" in msg and "line 1" in msg and "driftstream.toml" in msg


def test_duplicate_feature_in_toml_is_reported_with_its_line(tmp_path: Path) -> None:
    text = '[models.m.features]\namount = "numeric"\namount = "categorical"\n'
    msg = error(write(tmp_path, text))
    assert "TOML syntax error" in msg and "line 3" in msg


# ---------------------------------------------------------------- one-line errors


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '[models.fraud-v3.features]\namount = "numbr"\n',
            "models.fraud-v3.features.amount.kind: must be 'numeric' or 'categorical', got 'numbr'",
        ),
        (
            '[models.m.features]\namount = { kind = "numeric", seasonl = true }\n',
            "models.m.features.amount.seasonl: unknown key (did you mean 'seasonal'?)",
        ),
        ('[kafka]\nbootstrap_server = "a:1"\n', "kafka.bootstrap_server: unknown key (did you"),
        ("[kafak]\nx = 1\n", "kafak: unknown key (did you mean 'kafka'?)"),
        ('[web]\nport = "8080"\n', "web.port: must be an integer, got '8080'"),
        ("[web]\nport = 70000\n", "web.port: must be less than or equal to 65535, got 70000"),
        ("[evaluate]\nhour_enabled = 1\n", "evaluate.hour_enabled: must be true or false, got 1"),
        (
            '[models.m]\nprediction = "numeric"\n[models.m.features]\nprediction = "numeric"\n',
            "models.m.prediction.name: duplicate feature 'prediction'",
        ),
        ("[models.m]\n", "models.m.features: required key is missing"),
        (
            '[models.m]\nreference = { source = "s3" }\n[models.m.features]\na = "numeric"\n',
            "models.m.reference: source must be 'file', 'topic', 'redis', got 's3'",
        ),
        (
            '[models.m]\nreference = { source = "file" }\n[models.m.features]\na = "numeric"\n',
            "models.m.reference.path: required key is missing",
        ),
        (
            '[models.m.features]\na = "numeric"\n[models.m.alerts]\nwindows = ["hour", "week"]\n',
            "models.m.alerts.windows[1]: must be 'hour' or 'day', got 'week'",
        ),
        ("[models.m.features]\na = 3\n", "models.m.features.a: must be a table, got 3"),
        (
            '[kafka]\nsecurity_protocol = "SASL_SSL"\n',
            "kafka.sasl_mechanism: required with security_protocol SASL_SSL",
        ),
        ('[topics]\nalerts = "features"\n', "topics.alerts: topic 'features' is already used"),
        ("[ingest]\nmax_value_bytes = 100000\n", "ingest.max_value_bytes: 100000 exceeds"),
    ],
)
def test_file_errors_name_the_key_path(tmp_path: Path, text: str, expected: str) -> None:
    msg = error(write(tmp_path, text))
    assert msg.startswith(expected), msg
    assert msg.endswith(f"(in {tmp_path / 'driftstream.toml'})")


def test_several_errors_report_the_first_and_a_count(tmp_path: Path) -> None:
    msg = error(write(tmp_path, '[web]\nport = "x"\nhost = 3\n'))
    assert msg.startswith("web.host: must be a string, got 3") and msg.endswith("(+1 more)")


# ---------------------------------------------------------------- environment


def test_env_overrides_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[web]\nport = 9001\nhost = "10.0.0.1"\n')
    s = load_settings(path, env={"DRIFTSTREAM_WEB__PORT": "9002"})
    assert (s.web.port, s.web.host) == (9002, "10.0.0.1")


@pytest.mark.parametrize(
    ("var", "value", "get"),
    [
        (
            "DRIFTSTREAM_KAFKA__BOOTSTRAP_SERVERS",
            "k1:9092,k2:9092",
            lambda s: s.kafka.bootstrap_servers,
        ),
        ("DRIFTSTREAM_KAFKA_BOOTSTRAP", "k1:9092", lambda s: s.kafka.bootstrap_servers),
        ("DRIFTSTREAM_REDIS_URL", "redis://r:6380/2", lambda s: s.redis.url.get_secret_value()),
        ("DRIFTSTREAM_EVALUATE__DAY_ENABLED", "false", lambda s: s.evaluate.day_enabled),
        ("DRIFTSTREAM_EVALUATE__DAY_ENABLED", "0", lambda s: s.evaluate.day_enabled),
        ("DRIFTSTREAM_INGEST__MAX_PAST_MS", "1_000", lambda s: s.ingest.max_past_ms),
        ("DRIFTSTREAM_ALERTS__RUNBOOK_URL", "", lambda s: s.alerts.runbook_url),
    ],
)
def test_env_values_are_typed(var: str, value: str, get: object) -> None:
    s = load_settings(None, env={var: value})
    expected = {
        "k1:9092,k2:9092": "k1:9092,k2:9092",
        "k1:9092": "k1:9092",
        "redis://r:6380/2": "redis://r:6380/2",
        "false": False,
        "0": False,
        "1_000": 1000,
        "": None,
    }[value]
    assert get(s) == expected  # type: ignore[operator]


def test_aliases_map_to_real_keys() -> None:
    names = env_names()
    for alias, target in ENV_ALIASES.items():
        assert names[alias] == target
        section, key = target
        assert key in type(getattr(Settings(), section)).model_fields


def test_alias_and_canonical_must_agree() -> None:
    same = {"DRIFTSTREAM_KAFKA_BOOTSTRAP": "a:1", "DRIFTSTREAM_KAFKA__BOOTSTRAP_SERVERS": "a:1"}
    assert load_settings(None, env=same).kafka.bootstrap_servers == "a:1"
    differ = {"DRIFTSTREAM_KAFKA_BOOTSTRAP": "a:1", "DRIFTSTREAM_KAFKA__BOOTSTRAP_SERVERS": "b:1"}
    assert "disagree" in error(None, differ)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"DRIFTSTREAM_WEB__PORT": "http"},
            "web.port: must be an integer, got 'http' (from env DRIFTSTREAM_WEB__PORT)",
        ),
        (
            {"DRIFTSTREAM_EVALUATE__DAY_ENABLED": "maybe"},
            "evaluate.day_enabled: must be true or false, got 'maybe' "
            "(from env DRIFTSTREAM_EVALUATE__DAY_ENABLED)",
        ),
        (
            {"DRIFTSTREAM_KAFKA__SECURITY_PROTOCOL": "TLS"},
            "kafka.security_protocol: must be 'PLAINTEXT', 'SSL', 'SASL_PLAINTEXT' or "
            "'SASL_SSL', got 'TLS' (from env DRIFTSTREAM_KAFKA__SECURITY_PROTOCOL)",
        ),
        (
            {"DRIFTSTREAM_KAFKA_BOOTSTRAP": "no-port"},
            "kafka.bootstrap_servers: must match pattern",
        ),
        (
            {"DRIFTSTREAM_KAFKA__BOOTSTRAP_SERVRES": "a:1"},
            "DRIFTSTREAM_KAFKA__BOOTSTRAP_SERVRES: unknown setting "
            "(did you mean DRIFTSTREAM_KAFKA__BOOTSTRAP_SERVERS?)",
        ),
        (
            {"DRIFTSTREAM_WEB_PORT": "1"},
            "DRIFTSTREAM_WEB_PORT: unknown setting (did you mean DRIFTSTREAM_WEB__PORT?)",
        ),
        ({"DRIFTSTREAM_MODELS__M": "x"}, "DRIFTSTREAM_MODELS__M: models are configured in"),
    ],
)
def test_env_errors_name_the_variable(env: dict[str, str], expected: str) -> None:
    msg = error(None, env)
    assert msg.startswith(expected), msg
    assert next(iter(env)) in msg


def test_other_tools_may_share_the_prefix() -> None:
    # localstack, tests and jar caches use these; they are not settings.
    env = {
        "DRIFTSTREAM_STACK_KAFKA_PORT": "1",
        "DRIFTSTREAM_KAFKA_JVM_OPTS": "-Xmx1g",
        "DRIFTSTREAM_TEST_KAFKA_BOOTSTRAP": "x",
        "DRIFTSTREAM_CACHE_DIR": "/tmp",
        "PATH": "/bin",
    }
    assert load_settings(None, env=env) == load_settings(None, env={})


def test_every_env_name_accepts_its_default_as_text() -> None:
    defaults = load_settings(None, env={})
    for var, (section, key) in env_names().items():
        value = getattr(getattr(defaults, section), key)
        if value is None or (isinstance(value, SecretStr) and var in ENV_ALIASES):
            continue
        if isinstance(value, SecretStr):
            text = value.get_secret_value()
        elif isinstance(value, bool):
            text = str(value).lower()
        else:
            text = str(value)
        assert load_settings(None, env={var: text}) == defaults, var


# ---------------------------------------------------------------- secrets


def test_secrets_are_hidden(tmp_path: Path) -> None:
    text = (
        '[kafka]\nsecurity_protocol = "SASL_SSL"\nsasl_mechanism = "PLAIN"\n'
        'sasl_username = "u"\nsasl_password = "kafka-pw-123"\n'
    )
    env = {
        "DRIFTSTREAM_REDIS_URL": "redis://user:redis-pw-456@r:6379/0",
        "DRIFTSTREAM_REDIS__PASSWORD": "acl-pw-789",
        "DRIFTSTREAM_WEB__TOKEN": "token-000",
    }
    s = load_settings(write(tmp_path, text), env=env)
    shown = repr(s) + str(s) + repr(s.redacted()) + s.model_dump_json()
    for secret in ("kafka-pw-123", "redis-pw-456", "acl-pw-789", "token-000"):
        assert secret not in shown
    assert "redis://user:***@r:6379/0" in shown
    assert s.kafka.sasl_password is not None
    assert s.kafka.sasl_password.get_secret_value() == "kafka-pw-123"
    assert s.redis.url.get_secret_value() == "redis://user:redis-pw-456@r:6379/0"


def test_secret_values_stay_out_of_error_messages(tmp_path: Path) -> None:
    msg = error(None, {"DRIFTSTREAM_REDIS_URL": "http://u:hunter2@r"})
    assert "hunter2" not in msg and msg.startswith("redis.url: must start with redis://")
    msg = error(write(tmp_path, "[web]\ntoken = 12345678\n"))
    assert "12345678" not in msg and msg.startswith("web.token: must be a string")


# ---------------------------------------------------------------- reference table


def test_describe_covers_every_field_with_a_description() -> None:
    rows = list(describe())
    keys = [r.key for r in rows]
    assert len(keys) == len(set(keys))
    for r in rows:
        assert r.description, r.key
        assert r.type, r.key
    env_rows = {r.env: r.key for r in rows if r.env}
    assert set(env_rows) == set(env_names()) - set(ENV_ALIASES)
    for var, key in env_rows.items():
        assert ".".join(env_names()[var]) == key
    assert Settings.describe() == list(describe())
    by_key = {r.key: r for r in rows}
    assert by_key["web.port"].default == "8080"
    assert by_key["models.<model>.features.<feature>.kind"].default == "(required)"
    assert by_key["models.<model>.alerts.windows"].default == '["hour", "day"]'
