"""The local stack's lifecycle, through the same entry points users run.

These start their own stacks in private directories (never the session stack,
never the user's): idempotent ``up``, ``down`` without leftovers, and the
one-line errors for a taken port, a broker that cannot start and missing tools.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from stream.errors import StackError
from stream.localstack import LocalStack
from stream.localstack._proc import check_port_free, pid_alive

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stream.localstack", *args],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _processes_mentioning(text: str) -> list[int]:
    """Live pids whose command line contains ``text`` (a private stack dir, a port)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            line = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in line and pid_alive(int(proc.name)):
            found.append(int(proc.name))
    return found


@pytest.fixture
def stack_dir(tmp_path: Path) -> Iterator[Path]:
    """A private stack directory; whatever a failing test left running is stopped."""
    where = tmp_path / "stack"
    yield where
    if (where / "stack.json").exists():
        _cli("down", "--stack-dir", str(where))


def test_cli_up_is_idempotent_and_down_leaves_no_process(stack_dir: Path) -> None:
    first = _cli("up", "--stack-dir", str(stack_dir))
    assert first.returncode == 0, first.stderr
    export = first.stdout.strip().splitlines()[-1]
    assert export.startswith("export DRIFTSTREAM_KAFKA_BOOTSTRAP=127.0.0.1:")
    assert all(line.startswith("#") for line in first.stdout.strip().splitlines()[:-1])
    state = json.loads((stack_dir / "stack.json").read_text())
    pids = [state["kafka"]["pid"], state["redis"]["pid"]]
    assert all(pid_alive(pid) for pid in pids)

    second = _cli("up", "--stack-dir", str(stack_dir))
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip().splitlines()[-1] == export
    assert "reused" in second.stdout
    assert json.loads((stack_dir / "stack.json").read_text()) == state

    # The Python API sees the same stack and reuses it too.
    again = LocalStack.start(stack_dir)
    assert again.reused
    assert (again.kafka_pid, again.redis_pid) == tuple(pids)
    assert f"export {' '.join(f'{k}={v}' for k, v in again.env().items())}" == export

    status = _cli("status", "--stack-dir", str(stack_dir))
    assert status.returncode == 0, status.stdout + status.stderr
    assert "kafka 4.1.1: running" in status.stdout

    down = _cli("down", "--stack-dir", str(stack_dir))
    assert down.returncode == 0, down.stderr
    assert not any(pid_alive(pid) for pid in pids)
    assert _processes_mentioning(str(stack_dir)) == []
    assert not (stack_dir / "stack.json").exists()
    for port in (state["kafka"]["port"], state["kafka"]["controller_port"], state["redis"]["port"]):
        check_port_free(port, "released", "-")
    assert _cli("status", "--stack-dir", str(stack_dir)).returncode == 3


@pytest.mark.parametrize("how", ["--kafka-port", "DRIFTSTREAM_STACK_REDIS_PORT"])
def test_port_clash_is_one_clear_line(stack_dir: Path, how: str) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        if how.startswith("--"):
            done = _cli("up", "--stack-dir", str(stack_dir), how, str(port))
        else:
            done = _cli("up", "--stack-dir", str(stack_dir), env={**os.environ, how: str(port)})
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert f"port {port} on 127.0.0.1 is already in use" in line
    assert line.startswith("driftstream: error: ")
    assert not (stack_dir / "stack.json").exists()
    assert _processes_mentioning(str(stack_dir)) == []


@pytest.mark.parametrize(
    ("options", "cause", "log_name"),
    [
        ({"jvm_opts": ["-XX:+NoSuchDriftstreamOption"]}, "Unrecognized VM option", "server.log"),
        ({"kafka_properties": {"num.network.threads": "lots"}}, "ConfigException", "format.log"),
    ],
    ids=["bad-jvm-option", "corrupt-server-properties"],
)
def test_broker_that_cannot_start_names_its_log_and_leaves_nothing(
    stack_dir: Path, options: dict[str, object], cause: str, log_name: str
) -> None:
    with pytest.raises(StackError) as caught:
        LocalStack.start(stack_dir, **options)
    message = str(caught.value)
    assert "\n" not in message
    assert cause in message
    assert str(stack_dir / "kafka" / "logs" / log_name) in message
    assert not (stack_dir / "stack.json").exists()
    # Redis starts first; a failed start must stop it again.
    assert _processes_mentioning(str(stack_dir)) == []


def test_missing_java_and_maven_is_one_clear_line(tmp_path: Path) -> None:
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    env = {
        **os.environ,
        "PATH": str(empty_bin),
        "DRIFTSTREAM_CACHE_DIR": str(tmp_path / "cache"),  # nothing cached: Maven is needed
    }
    done = _cli("prepare", env=env)
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert "missing java" in line
    assert "mvn" in line
    assert line.endswith("apt-get install -y openjdk-17-jre-headless maven")
