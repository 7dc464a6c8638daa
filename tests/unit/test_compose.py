"""docker-compose.yml and the Dockerfile are for users (no Docker engine here): check their
structure statically."""

from __future__ import annotations

import base64
import fnmatch
import json
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from stream.settings import CONFIG_ENV, ENV_PREFIX, env_names, load_settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        text = pending + line
        pending = ""
        word, _, rest = text.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def final_stage() -> list[tuple[str, str]]:
    steps = dockerfile()
    last = max(i for i, (word, _) in enumerate(steps) if word == "FROM")
    return steps[last:]


def exec_form(instruction: str) -> list[str]:
    """The JSON (exec) form of ENTRYPOINT/CMD in the final stage."""
    (args,) = [rest for word, rest in final_stage() if word == instruction]
    value = json.loads(args)
    assert isinstance(value, list), f"{instruction} must use the exec (JSON) form"
    return [str(v) for v in value]


def image_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for word, rest in final_stage():
        if word == "ENV":
            for item in shlex.split(rest):
                key, _, value = item.partition("=")
                env[key] = value
    return env


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
    """(host port, container port) of each published port (each port of a host range)."""
    out = []
    for spec in service.get("ports") or []:
        if isinstance(spec, dict):
            out.append((int(spec["published"]), int(spec["target"])))
            continue
        parts = str(spec).split("/")[0].split(":")
        assert len(parts) in (2, 3), f"port {spec!r}: publish it explicitly as host:container"
        low, _, high = parts[-2].partition("-")
        out += [(h, int(parts[-1])) for h in range(int(low), int(high or low) + 1)]
    return out


def _argv(service: dict[str, Any]) -> list[str]:
    """What the container runs: the image's ENTRYPOINT + the service's command."""
    if "image" in service and "build" not in service:
        return list(service.get("entrypoint") or []) + list(service.get("command") or [])
    entry = service.get("entrypoint") or exec_form("ENTRYPOINT")
    return list(entry) + list(service.get("command") or exec_form("CMD"))


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
    env = {k: v for k, v in {**image_env(), **_env(service)}.items() if k != CONFIG_ENV}
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
    assert _argv(services["worker"]) == ["driftstream", "worker"]
    assert services["producer"]["profiles"] == ["demo"]
    assert _argv(services["producer"])[:3] == ["driftstream", "produce", "--synthetic"]
    assert _argv(services["topics"]) == ["driftstream", "topics", "create"]
    assert "profiles" not in services["worker"] and "profiles" not in services["topics"]


def test_driftstream_commands_exist() -> None:
    from stream.cli import cli

    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    for name, svc in data["services"].items():
        if "build" not in svc:
            continue
        argv = _argv(svc)
        assert argv[0] == "driftstream", name
        group: Any = cli
        for word in argv[1:]:
            if word.startswith("-") or not hasattr(group, "commands"):
                break
            assert word in group.commands, f"{name}: no command {word!r}"
            group = group.commands[word]


def test_worker_waits_for_topics_and_redis(compose: dict[str, Any]) -> None:
    deps = compose["services"]["worker"]["depends_on"]
    assert deps["topics"]["condition"] == "service_completed_successfully"
    assert deps["redis"]["condition"] == "service_healthy"


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
    # A host port range: `--scale worker=N` needs one host port per replica.
    assert len(_ports(worker)) >= 3


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


# ---------------------------------------------------------------- Dockerfile, .dockerignore
def test_dockerfile_builds_a_non_root_worker_image() -> None:
    steps = dockerfile()
    assert {rest.split()[0] for word, rest in steps if word == "FROM"} == {"python:3.11-slim"}
    final = final_stage()
    installs = [r for w, r in steps if w == "RUN" and "pip install" in r]
    assert installs and all(r.split()[-1] == "." for r in installs)  # `pip install .`
    (user,) = [rest for word, rest in final if word == "USER"]
    assert user.split(":")[0] not in ("0", "root")
    assert exec_form("ENTRYPOINT") == ["driftstream"]
    assert exec_form("CMD") == ["worker"]
    env = image_env()
    assert env["DRIFTSTREAM_WEB__HOST"] == "0.0.0.0"  # noqa: S104 - reachable from outside
    exposed = {int(p.split("/")[0]) for w, r in final if w == "EXPOSE" for p in r.split()}
    assert int(env["DRIFTSTREAM_WEB__PORT"]) in exposed
    (health,) = [rest for word, rest in final if word == "HEALTHCHECK"]
    assert "/health" in health and "DRIFTSTREAM_WEB__PORT" in health
    known = set(env_names()) | {CONFIG_ENV}
    assert {k for k in env if k.startswith(ENV_PREFIX)} <= known


def test_image_workdir_is_writable_by_its_user() -> None:
    # Commands given relative paths (`init`, `report --out`) write to the working directory.
    final = final_stage()
    (workdir,) = [rest for word, rest in final if word == "WORKDIR"]
    runs = " ".join(rest for word, rest in final if word == "RUN")
    assert f"chown driftstream:driftstream {workdir}" in runs
    assert "--uid 10001" in runs


def test_image_default_config_loads() -> None:
    env = image_env()
    copies = [rest.split() for word, rest in final_stage() if word == "COPY"]
    sources = {parts[1]: parts[0] for parts in copies if len(parts) == 2}
    config = ROOT / sources[env[CONFIG_ENV]]
    settings = load_settings(config, env={k: v for k, v in env.items() if k != CONFIG_ENV})
    assert settings.web.host == "0.0.0.0"  # noqa: S104
    assert settings.models.names


def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule, simplified: the last pattern matching the path or a parent wins."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    verdict = False
    for pat in patterns:
        negate = pat.startswith("!")
        pat = pat.lstrip("!").rstrip("/")
        if any(fnmatch.fnmatchcase(p, pat) for p in prefixes):
            verdict = not negate
    return verdict


def test_dockerignore_keeps_what_the_build_copies() -> None:
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    copied = []
    for word, rest in dockerfile():
        if word == "COPY" and not rest.startswith("--from"):
            copied += rest.split()[:-1]
    assert copied
    for src in copied:
        target = ROOT / src
        assert target.exists(), src
        files = [target] if target.is_file() else [p for p in target.rglob("*.py")][:50]
        for f in files or [target]:
            rel = f.relative_to(ROOT).as_posix()
            assert not _ignored(rel, patterns), f"{rel} is copied but .dockerignore drops it"
    assert not _ignored("stream/commands/starter.toml", patterns)
    for heavy in (".venv/bin/python", ".git/HEAD", "tests/conftest.py", "deploy/local/pom.xml"):
        assert _ignored(heavy, patterns), f"{heavy} should stay out of the build context"
