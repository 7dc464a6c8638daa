"""docker-compose.yml is for users (no Docker engine here): check its structure statically."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
import yaml

from stream.settings import CONFIG_ENV, ENV_PREFIX, env_names, load_settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):  # ["K=V", ...] form
        return dict(item.split("=", 1) for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def _ports(service: dict[str, Any]) -> list[tuple[int, int]]:
    """(host port, container port) of each published port."""
    out = []
    for spec in service.get("ports") or []:
        if isinstance(spec, dict):
            out.append((int(spec["published"]), int(spec["target"])))
            continue
        parts = str(spec).split("/")[0].split(":")
        assert len(parts) in (2, 3), f"port {spec!r}: publish it explicitly as host:container"
        out.append((int(parts[-2]), int(parts[-1])))
    return out


def _config_file(service: dict[str, Any]) -> Path | None:
    """The repo file mounted where the service's DRIFTSTREAM_CONFIG points."""
    target = _env(service).get(CONFIG_ENV)
    if target is None:
        return None
    for vol in service.get("volumes") or []:
        source, _, rest = str(vol).partition(":")
        if rest.split(":")[0] == target:
            return (ROOT / source).resolve()
    pytest.fail(f"{CONFIG_ENV}={target} is not mounted into the service")


def _settings(service: dict[str, Any]) -> Any:
    env = {k: v for k, v in _env(service).items() if k != CONFIG_ENV}
    return load_settings(_config_file(service), env=env)


def test_expected_services(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"kafka", "redis", "worker", "producer"} <= set(services)
    assert services["kafka"]["image"] == "apache/kafka:4.1.1"
    assert services["redis"]["image"].startswith("redis:7")
    assert "--appendonly" in services["redis"]["command"]
    assert services["redis"]["command"][services["redis"]["command"].index("--appendonly") + 1] == (
        "yes"
    )
    assert services["worker"]["command"] == ["driftstream", "worker"]
    assert services["producer"]["profiles"] == ["demo"]
    assert services["producer"]["command"][:3] == ["driftstream", "produce", "--synthetic"]


def test_every_driftstream_variable_is_a_real_setting(compose: dict[str, Any]) -> None:
    known = set(env_names()) | {CONFIG_ENV}
    used = {
        (name, var)
        for name, svc in compose["services"].items()
        for var in _env(svc)
        if var.startswith(ENV_PREFIX)
    }
    assert used, "the compose file should configure driftstream through DRIFTSTREAM_* names"
    unknown = sorted(f"{name}: {var}" for name, var in used if var not in known)
    assert not unknown, unknown


@pytest.mark.parametrize("service", ["worker", "producer"])
def test_driftstream_services_load_their_settings(compose: dict[str, Any], service: str) -> None:
    settings = _settings(compose["services"][service])
    assert "fraud-v3" in settings.models
    host, port = settings.kafka.bootstrap_servers.split(",")[0].rsplit(":", 1)
    assert host in compose["services"], f"bootstrap host {host!r} is not a compose service"
    advertised = _env(compose["services"]["kafka"])["KAFKA_ADVERTISED_LISTENERS"]
    assert f"//{host}:{port}" in advertised


def test_worker_reaches_redis_service(compose: dict[str, Any]) -> None:
    url = _settings(compose["services"]["worker"]).redis.url.get_secret_value()
    host = url.split("://", 1)[1].split("/")[0].rsplit("@", 1)[-1].split(":")[0]
    assert host == "redis" and "redis" in compose["services"]


def test_worker_web_port_is_published(compose: dict[str, Any]) -> None:
    worker = compose["services"]["worker"]
    settings = _settings(worker)
    assert settings.web.host == "0.0.0.0"  # noqa: S104 - must listen beyond the container
    assert settings.web.port in {container for _, container in _ports(worker)}


def test_published_ports_do_not_clash(compose: dict[str, Any]) -> None:
    seen: dict[int, str] = {}
    for name, svc in compose["services"].items():
        for host, _ in _ports(svc):
            assert host not in seen, f"host port {host}: {seen[host]} and {name}"
            seen[host] = name


def test_named_volumes_are_declared(compose: dict[str, Any]) -> None:
    declared = set(compose.get("volumes") or {})
    for name, svc in compose["services"].items():
        for vol in svc.get("volumes") or []:
            source = str(vol).split(":")[0]
            if source.startswith((".", "/", "~")):
                assert (ROOT / source).exists() or source.startswith(("/", "~")), (name, vol)
            else:
                assert source in declared, f"{name}: volume {source!r} is not declared"


def test_depends_on_references_exist(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, svc in services.items():
        deps = svc.get("depends_on") or []
        for dep in deps if isinstance(deps, list) else list(deps):
            assert dep in services, f"{name} depends on unknown service {dep!r}"
            if isinstance(deps, dict) and deps[dep].get("condition") == "service_healthy":
                assert "healthcheck" in services[dep], f"{dep} has no healthcheck"


def test_kafka_is_a_single_kraft_node(compose: dict[str, Any]) -> None:
    env = _env(compose["services"]["kafka"])
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    node = env["KAFKA_NODE_ID"]
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"].startswith(f"{node}@kafka:")
    cluster_id = env["CLUSTER_ID"]
    raw = base64.urlsafe_b64decode(cluster_id + "==")
    assert len(raw) == 16
    assert base64.urlsafe_b64encode(raw).decode().rstrip("=") == cluster_id
    listeners = {x.split("://")[0] for x in env["KAFKA_LISTENERS"].split(",")}
    protocol_map = dict(
        x.split(":") for x in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(",")
    )
    assert listeners <= set(protocol_map)
    assert env["KAFKA_CONTROLLER_LISTENER_NAMES"] in listeners
