"""No command prints a secret: every CLI command, run for real, with planted secrets.

Against the secured stack, a Redis ACL user whose password holds ``@`` and ``:`` is
given in every form a user may write it — URL userinfo, ``?username=&password=`` in
the URL, the ``redis.username``/``redis.password`` settings — together with the SCRAM
password, the web token and session secret and a PagerDuty routing key. Each command's
whole output (stdout, stderr, worker log) is searched for every secret and for the
marker every planted value carries (``S3CRET``), so half-masked forms such as
``u:***@ssS3CRET@host`` are caught too.

Not run here: ``demo`` (it starts its own plaintext stack; covered by its own test)
and ``stack up``/``down`` (tests/integration/test_secured.py checks ``stack up
--secure``'s output).
"""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from stream.localstack import LocalStack
from tests.integration.worker_harness import DRIFTSTREAM, MODEL_TOML, free_port, wait_until

pytestmark = pytest.mark.integration

MARK = "S3CRET"
COMMANDS: list[tuple[str, ...]] = [
    ("config", "check"),
    ("config", "check", "--json"),
    ("config", "reference"),
    ("topics", "create"),
    ("status",),
    ("status", "--json"),
    ("produce", "--synthetic", "--count", "200"),
    ("reference", "list"),
    ("reference", "show", "--model", "fraud-v3"),
    ("report", "--model", "fraud-v3", "--window", "hour:2026-01-01T00", "--out", "r.html"),
    ("replay", "--from", "1767225600000", "--to", "1767229200000", "--quiet"),
    ("namespace", "clean", "replay-none"),
    ("init", "--force", "init.toml"),
]
DAEMONS: list[tuple[str, ...]] = [
    ("alerts", "tail"),
    ("forward", "pagerduty", "--url", "http://127.0.0.1:9/v2/enqueue"),
]


@pytest.fixture(scope="module")
def planted(
    secure_stack: LocalStack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, object]]:
    creds, ca = secure_stack.credentials, secure_stack.ca_file
    assert creds is not None and ca is not None
    suffix = uuid.uuid4().hex[:6]
    user, password = f"planted{suffix}", f"p@ss:{MARK}-{suffix}"
    admin = redis.Redis(
        port=secure_stack.redis_port, ssl=True, ssl_ca_certs=str(ca),
        username="admin", password=creds.redis_admin_password,
    )  # fmt: skip
    admin.acl_setuser(
        user, enabled=True, passwords=[f"+{password}"], keys=["ds:*"], channels=["*"],
        commands=["+@all"],
    )  # fmt: skip
    workdir = tmp_path_factory.mktemp("secrets")
    config = workdir / "driftstream.toml"
    config.write_text(
        f'[topics]\nfeatures = "secrets-{suffix}"\npartitions = 1\n'
        f'[redis]\nnamespace = "n{suffix}"\n' + MODEL_TOML
    )
    port = secure_stack.redis_port
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("DRIFTSTREAM_")}
    base = {
        **inherited,
        **secure_stack.env(secrets=True),
        "DRIFTSTREAM_CONFIG": str(config),
        "DRIFTSTREAM_WEB__TOKEN": f"tok-{MARK}-{suffix}",
        "DRIFTSTREAM_WEB__SESSION_SECRET": f"sess-{MARK}-{suffix}",
        "DRIFTSTREAM_PAGERDUTY_ROUTING_KEY": f"rk-{MARK}-{suffix}",
        "DRIFTSTREAM_WEB__PORT": "0",
    }
    for k in (
        "DRIFTSTREAM_REDIS__USERNAME",
        "DRIFTSTREAM_REDIS__PASSWORD",
        "DRIFTSTREAM_REDIS_URL",
    ):
        base.pop(k, None)
    forms = {
        "userinfo": {"DRIFTSTREAM_REDIS__URL": f"rediss://{user}:{password}@127.0.0.1:{port}/0"},
        "query": {
            "DRIFTSTREAM_REDIS__URL": (
                f"rediss://127.0.0.1:{port}/0?username={user}&password={password}"
            )
        },
        "settings": {
            "DRIFTSTREAM_REDIS__URL": f"rediss://127.0.0.1:{port}/0",
            "DRIFTSTREAM_REDIS__USERNAME": user,
            "DRIFTSTREAM_REDIS__PASSWORD": password,
        },
    }
    secrets = [
        password,
        creds.kafka_password,
        creds.redis_password,
        creds.redis_admin_password,
        str(base["DRIFTSTREAM_WEB__TOKEN"]),
        str(base["DRIFTSTREAM_WEB__SESSION_SECRET"]),
        str(base["DRIFTSTREAM_PAGERDUTY_ROUTING_KEY"]),
        MARK,
    ]
    try:
        yield {"base": base, "forms": forms, "secrets": secrets, "workdir": workdir}
    finally:
        for key in admin.scan_iter(match=f"ds:{{n{suffix}|*", count=1000):
            admin.delete(key)
        admin.acl_deluser(user)
        admin.close()


def _leaks(text: str, secrets: list[str]) -> list[str]:
    return [s for s in secrets if s in text]


def _run(env: dict[str, str], cwd: Path, args: tuple[str, ...]) -> str:
    done = subprocess.run(
        [DRIFTSTREAM, *args], env=env, cwd=cwd, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    return f"$ driftstream {' '.join(args)} (exit {done.returncode})\n{done.stdout}{done.stderr}"


def _daemon(env: dict[str, str], cwd: Path, args: tuple[str, ...], seconds: float) -> str:
    with subprocess.Popen(
        [DRIFTSTREAM, *args], env=env, cwd=cwd, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    ) as proc:  # fmt: skip
        time.sleep(seconds)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    return f"$ driftstream {' '.join(args)}\n{out}"


@pytest.mark.parametrize("form", ["userinfo", "query", "settings"])
def test_every_command_keeps_planted_secrets_out_of_its_output(
    planted: dict[str, object], form: str
) -> None:
    base = dict(planted["base"])  # type: ignore[call-overload]
    env = {**base, **planted["forms"][form]}  # type: ignore[index]
    secrets: list[str] = planted["secrets"]  # type: ignore[assignment]
    cwd: Path = planted["workdir"]  # type: ignore[assignment]
    outputs = [_run(env, cwd, args) for args in COMMANDS]
    # The forms must work, not just hide: the ACL user really logged in.
    status = next(o for o in outputs if o.startswith("$ driftstream status (exit 0)"))
    assert "fraud-v3" in status, "\n".join(outputs)
    outputs += [_daemon(env, cwd, args, 6.0) for args in DAEMONS]
    text = "\n".join(outputs)
    assert not _leaks(text, secrets), text


def test_worker_logs_and_web_answers_keep_secrets_out(planted: dict[str, object]) -> None:
    base = dict(planted["base"])  # type: ignore[call-overload]
    env = {**base, **planted["forms"]["userinfo"]}  # type: ignore[index]
    port = free_port()
    env["DRIFTSTREAM_WEB__PORT"] = str(port)
    env["DRIFTSTREAM_CONSUMER__GROUP_ID"] = f"g{uuid.uuid4().hex[:6]}"
    secrets: list[str] = planted["secrets"]  # type: ignore[assignment]
    token = str(env["DRIFTSTREAM_WEB__TOKEN"])
    cwd: Path = planted["workdir"]  # type: ignore[assignment]
    with subprocess.Popen(
        [DRIFTSTREAM, "worker"], env=env, cwd=cwd, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    ) as proc:  # fmt: skip

        def answers() -> bool:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/health")
                ok = conn.getresponse().status in (200, 503)
                conn.close()
                return ok
            except OSError:
                return False

        try:
            wait_until(answers, 300, "the worker's web server")
            bodies = []
            for label, path, headers in (
                ("token in URL", f"/api/models?token={token}", {}),
                ("bearer", "/api/models", {"Authorization": f"Bearer {token}"}),
                ("health", "/health", {}),
                ("metrics", "/metrics", {}),
                ("no token", "/models", {}),
            ):
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                conn.request("GET", path, headers=headers)
                resp = conn.getresponse()
                # What came back (status, headers incl. Location, body), not what we sent.
                bodies.append(f"{label} {resp.status} {resp.getheaders()} {resp.read()!r}")
                conn.close()
        finally:
            proc.send_signal(signal.SIGTERM)
            log, _ = proc.communicate(timeout=60)
    text = log + "\n".join(bodies)
    assert "Authenticated as driftstream via SCRAM-SHA-512" in log  # it really ran secured
    assert not _leaks(text, secrets), text
