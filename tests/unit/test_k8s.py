"""deploy/k8s manifests are for users (no cluster here): check their structure statically.

Kinds and API versions, selectors against pod labels, probe and Service ports against
container ports, every variable against the settings' names, every ConfigMap/Secret
reference against what the manifests define, and the ConfigMap's TOML loaded with the
environment a pod would have.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from stream.cli import cli
from stream.commands.forward import ROUTING_KEY_ENV
from stream.settings import CONFIG_ENV, Settings, env_names, load_settings
from tests.unit.test_compose import exec_form, final_stage

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
API_VERSIONS = {
    "Namespace": "v1",
    "ConfigMap": "v1",
    "Secret": "v1",
    "Service": "v1",
    "Deployment": "apps/v1",
    "PodDisruptionBudget": "policy/v1",
    "Kustomization": "kustomize.config.k8s.io/v1beta1",
}
NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
#: Variables that are not settings but are read by a command (the forwarder's key).
COMMAND_VARIABLES = {CONFIG_ENV, ROUTING_KEY_ENV}


def _load() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if doc is not None:
                out.append((path.name, doc))
    return out


DOCS = _load()


def of_kind(kind: str) -> list[dict[str, Any]]:
    return [d for _, d in DOCS if d["kind"] == kind]


def named(kind: str, name: str) -> dict[str, Any]:
    found = [d for d in of_kind(kind) if d["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: defined {len(found)} times"
    return found[0]


def containers(deploy: dict[str, Any]) -> list[dict[str, Any]]:
    return list(deploy["spec"]["template"]["spec"]["containers"])


def deployment_ids() -> list[str]:
    return [d["metadata"]["name"] for d in of_kind("Deployment")]


def secret_data(secret: dict[str, Any]) -> dict[str, str]:
    data = dict(secret.get("stringData") or {})
    assert not secret.get("data"), "keep placeholders readable: use stringData"
    return data


def pod_env(deploy: dict[str, Any], container: dict[str, Any]) -> dict[str, str]:
    """The DRIFTSTREAM_* environment the container gets (Secret values: the placeholders)."""
    env: dict[str, str] = {}
    for src in container.get("envFrom") or []:
        env.update(named("ConfigMap", src["configMapRef"]["name"])["data"])
    for item in container.get("env") or []:
        if "value" in item:
            env[item["name"]] = str(item["value"])
            continue
        ref = item["valueFrom"]
        if "secretKeyRef" in ref:
            r = ref["secretKeyRef"]
            env[item["name"]] = secret_data(named("Secret", r["name"]))[r["key"]]
        else:
            r = ref["configMapKeyRef"]
            env[item["name"]] = named("ConfigMap", r["name"])["data"][r["key"]]
    return env


def mounted_files(deploy: dict[str, Any], container: dict[str, Any]) -> dict[str, str]:
    """Path in the container → content, for every ConfigMap/Secret file mounted."""
    volumes = {v["name"]: v for v in deploy["spec"]["template"]["spec"]["volumes"]}
    files: dict[str, str] = {}
    for m in container.get("volumeMounts") or []:
        vol = volumes[m["name"]]
        if "configMap" in vol:
            data = named("ConfigMap", vol["configMap"]["name"])["data"]
            items = vol["configMap"].get("items")
        elif "secret" in vol:
            data = secret_data(named("Secret", vol["secret"]["secretName"]))
            items = vol["secret"].get("items")
        else:
            continue
        paths = {i["key"]: i["path"] for i in items} if items else {k: k for k in data}
        if "subPath" in m:
            key = next(k for k, p in paths.items() if p == m["subPath"])
            files[m["mountPath"]] = data[key]
        else:
            for key, rel in paths.items():
                files[f"{m['mountPath'].rstrip('/')}/{rel}"] = data[key]
    return files


def pod_settings(
    deploy: dict[str, Any], container: dict[str, Any], tmp_path: Path
) -> tuple[Settings, dict[str, str]]:
    """Load the settings as the pod would: its config file, its environment."""
    env = pod_env(deploy, container)
    files = mounted_files(deploy, container)
    config = tmp_path / "driftstream.toml"
    config.write_text(files[env[CONFIG_ENV]], encoding="utf-8")
    settings_env = {k: v for k, v in env.items() if k not in COMMAND_VARIABLES}
    return load_settings(config, env=settings_env), files


def _walk_refs(node: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("secretKeyRef", "configMapKeyRef", "configMapRef", "secretRef"):
                yield key, value
            yield from _walk_refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk_refs(item)


# ---------------------------------------------------------------------------- all manifests
def test_expected_manifests() -> None:
    kinds = {d["kind"] for _, d in DOCS}
    assert {"Deployment", "ConfigMap", "Secret", "Service", "PodDisruptionBudget"} <= kinds
    assert "driftstream-worker" in deployment_ids()


@pytest.mark.parametrize(("file", "doc"), DOCS, ids=[f"{f}:{d['kind']}" for f, d in DOCS])
def test_kind_api_version_and_name(file: str, doc: dict[str, Any]) -> None:
    assert doc["kind"] in API_VERSIONS, f"{file}: unexpected kind {doc['kind']}"
    assert doc["apiVersion"] == API_VERSIONS[doc["kind"]], file
    if doc["kind"] != "Kustomization":
        assert NAME.match(doc["metadata"]["name"]), doc["metadata"]["name"]
        assert doc["metadata"]["labels"]["app.kubernetes.io/name"] == "driftstream"


def test_kustomization_lists_every_manifest() -> None:
    (kust,) = of_kind("Kustomization")
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kust["resources"]) == files
    (ns,) = of_kind("Namespace")
    assert kust["namespace"] == ns["metadata"]["name"]


def test_every_reference_resolves() -> None:
    for file, doc in DOCS:
        for kind, ref in _walk_refs(doc):
            if kind == "configMapRef":
                named("ConfigMap", ref["name"])
            elif kind == "secretRef":
                named("Secret", ref["name"])
            elif kind == "configMapKeyRef":
                assert ref["key"] in named("ConfigMap", ref["name"])["data"], (file, ref)
            else:
                assert ref["key"] in secret_data(named("Secret", ref["name"])), (file, ref)


# ---------------------------------------------------------------------------- deployments
@pytest.mark.parametrize("name", deployment_ids())
def test_selector_matches_pod_labels(name: str) -> None:
    spec = named("Deployment", name)["spec"]
    labels = spec["template"]["metadata"]["labels"]
    assert spec["selector"]["matchLabels"].items() <= labels.items()
    for c in spec["template"]["spec"].get("topologySpreadConstraints") or []:
        assert c["labelSelector"]["matchLabels"].items() <= labels.items()


@pytest.mark.parametrize("name", deployment_ids())
def test_runs_a_driftstream_command_as_non_root(name: str) -> None:
    deploy = named("Deployment", name)
    pod = deploy["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["automountServiceAccountToken"] is False
    for c in containers(deploy):
        sc = c["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"]["drop"] == ["ALL"]
        assert sc["readOnlyRootFilesystem"] is True
        assert {"cpu", "memory"} <= set(c["resources"]["requests"])
        assert "memory" in c["resources"]["limits"]
        assert "command" not in c, "keep the image's ENTRYPOINT (driftstream)"
        argv = exec_form("ENTRYPOINT") + list(c["args"])
        group: Any = cli
        for word in argv[1:]:
            if word.startswith("-") or not hasattr(group, "commands"):
                break
            assert word in group.commands, f"{name}: no command {word!r}"
            group = group.commands[word]


@pytest.mark.parametrize("name", deployment_ids())
def test_every_variable_is_a_setting(name: str) -> None:
    known = set(env_names()) | COMMAND_VARIABLES
    for c in containers(named("Deployment", name)):
        names = set(pod_env(named("Deployment", name), c))
        assert names, "configure driftstream through DRIFTSTREAM_* variables"
        assert names <= known, sorted(names - known)


@pytest.mark.parametrize("name", deployment_ids())
def test_config_loads_as_the_pod_sees_it(name: str, tmp_path: Path) -> None:
    deploy = named("Deployment", name)
    for c in containers(deploy):
        settings, files = pod_settings(deploy, c, tmp_path)
        assert settings.models.names
        # Kafka SASL over TLS and Redis TLS + ACL, secrets from the Secret only.
        k, r = settings.kafka, settings.redis
        assert k.security_protocol == "SASL_SSL" and k.sasl_mechanism
        assert k.sasl_password is not None and r.password is not None and r.username
        assert r.url.get_secret_value().startswith("rediss://")
        for path in (k.ssl_cafile, k.ssl_certfile, k.ssl_keyfile, r.tls_ca_file):
            if path:
                assert path in files, f"{path} is configured but not mounted"
        text = files[pod_env(deploy, c)[CONFIG_ENV]]
        assert "password" not in {
            line.split("=")[0].strip() for line in text.splitlines() if "=" in line
        }, "passwords belong in the Secret, not the ConfigMap"


def test_worker_probes_ports_and_replicas(tmp_path: Path) -> None:
    deploy = named("Deployment", "driftstream-worker")
    (c,) = containers(deploy)
    settings, _ = pod_settings(deploy, c, tmp_path)
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert settings.web.port in ports.values()
    assert settings.web.host == "0.0.0.0"  # noqa: S104 - probes come from the kubelet
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        get = c[probe]["httpGet"]
        assert get["path"] == "/health"
        port = get["port"]
        assert (ports.get(port) if isinstance(port, str) else port) == settings.web.port
    # Liveness gives up later than readiness: an outage the worker rides out is no restart.
    live, ready = c["livenessProbe"], c["readinessProbe"]
    assert (
        live["periodSeconds"] * live["failureThreshold"]
        > ready["periodSeconds"] * ready["failureThreshold"]
    )
    annotations = deploy["spec"]["template"]["metadata"]["annotations"]
    assert int(annotations["prometheus.io/port"]) == settings.web.port
    # replicas = consumers; more than the features topic's partitions would idle.
    assert 1 <= deploy["spec"]["replicas"] <= settings.topics.partitions
    assert deploy["spec"]["strategy"]["rollingUpdate"]["maxSurge"] == 0
    assert c["args"] == exec_form("CMD")


def test_writable_mounts_cover_the_image_workdir() -> None:
    (workdir,) = [rest for word, rest in final_stage() if word == "WORKDIR"]
    deploy = named("Deployment", "driftstream-worker")
    (c,) = containers(deploy)
    volumes = {v["name"]: v for v in deploy["spec"]["template"]["spec"]["volumes"]}
    writable = {m["mountPath"] for m in c["volumeMounts"] if "emptyDir" in volumes[m["name"]]}
    # /tmp: faust's data directory (runtime.build_app) under a read-only root filesystem.
    assert {workdir, "/tmp"} <= writable  # noqa: S108 - the container's own /tmp


# ---------------------------------------------------------------------------- the rest
def test_service_and_pdb_select_the_workers() -> None:
    deploy = named("Deployment", "driftstream-worker")
    labels = deploy["spec"]["template"]["metadata"]["labels"]
    (c,) = containers(deploy)
    names = {p["name"]: p["containerPort"] for p in c["ports"]}
    for svc in of_kind("Service"):
        assert svc["spec"]["selector"].items() <= labels.items()
        for port in svc["spec"]["ports"]:
            target = port["targetPort"]
            assert target in names if isinstance(target, str) else target in names.values()
    (pdb,) = of_kind("PodDisruptionBudget")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert pdb["spec"]["maxUnavailable"] == 1
    assert deploy["spec"]["replicas"] > 1, "a PDB of one replica blocks every node drain"


def test_secrets_are_placeholders() -> None:
    for secret in of_kind("Secret"):
        assert secret["type"] == "Opaque"
        for key, value in secret_data(secret).items():
            assert "CHANGE-ME" in value, f"{secret['metadata']['name']}/{key}: not a placeholder"
    keys = set(secret_data(named("Secret", "driftstream-secrets")))
    assert {"kafka-sasl-password", "redis-password", "web-token", "pagerduty-routing-key"} <= keys
