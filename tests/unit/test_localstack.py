"""stream.localstack without starting Kafka: config, state file, errors, probes, processes."""

from __future__ import annotations

import doctest
import json
import os
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import stream.localstack
from stream import cli
from stream.errors import StackError
from stream.localstack import (
    LocalStack,
    _config,
    _kafka,
    _prepare,
    _probe,
    _proc,
    kafka_dist,
)
from stream.localstack._commands import run

# -- configuration ---------------------------------------------------------------------


def test_package_doctest() -> None:
    result = doctest.testmod(stream.localstack)
    assert result.attempted > 0 and result.failed == 0


def test_kafka_version_comes_from_the_pom() -> None:
    dist = kafka_dist()
    assert dist.pom == _config.pom_path()
    assert dist.version == "4.1.1"
    assert dist.libs(Path("/c")) == Path("/c/kafka-4.1.1/libs")


def test_pom_edit_changes_the_digest_and_missing_version_is_an_error(tmp_path: Path) -> None:
    pom = tmp_path / "pom.xml"
    text = _config.pom_path().read_text()
    pom.write_text(text)
    same = kafka_dist(pom)
    pom.write_text(text.replace("<log4j.version>", "<!-- edited --><log4j.version>"))
    assert kafka_dist(pom).pom_sha256 != same.pom_sha256
    pom.write_text("<project/>")
    with pytest.raises(StackError, match="no <kafka.version>"):
        kafka_dist(pom)


def test_missing_pom_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(_config, "_REPO_ROOT", tmp_path)
    with pytest.raises(StackError, match=r"deploy/local/pom.xml not found .*pip install -e"):
        _config.pom_path()


def test_default_dirs_follow_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DRIFTSTREAM_CACHE_DIR", str(tmp_path / "c"))
    monkeypatch.setenv("DRIFTSTREAM_STACK_DIR", str(tmp_path / "s"))
    assert _config.default_cache_dir() == tmp_path / "c"
    assert _config.default_stack_dir() == tmp_path / "s"
    monkeypatch.delenv("DRIFTSTREAM_STACK_DIR")
    assert _config.default_stack_dir() == Path.home() / ".cache" / "driftstream" / "stack"


def test_cluster_ids_look_like_kafkas() -> None:
    ids = {_kafka.new_cluster_id() for _ in range(200)}
    assert len(ids) == 200
    assert all(len(i) == 22 and not i.startswith("-") for i in ids)
    assert all(
        set(i) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        for i in ids
    )


def test_server_properties_for_one_kraft_node(tmp_path: Path) -> None:
    files = _kafka.KafkaFiles(tmp_path)
    _kafka.write_config(
        files, port=9101, controller_port=9102, overrides={"auto.create.topics.enable": "true"}
    )
    lines = files.properties.read_text().splitlines()
    props = dict(line.split("=", 1) for line in lines if not line.startswith("#"))
    assert props["process.roles"] == "broker,controller"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:9101,CONTROLLER://127.0.0.1:9102"
    assert props["controller.quorum.bootstrap.servers"] == "127.0.0.1:9102"
    assert "controller.quorum.voters" not in props  # format --standalone refuses it
    assert props["log.dirs"] == str(files.data)
    assert props["offsets.topic.replication.factor"] == "1"
    assert props["group.initial.rebalance.delay.ms"] == "0"
    assert props["auto.create.topics.enable"] == "true"  # the override wins
    assert str(files.server_log) in files.log4j.read_text()


# -- ports and processes ---------------------------------------------------------------


def test_free_ports_are_distinct_and_skip_excluded() -> None:
    first = _proc.free_ports(3)
    assert len(set(first)) == 3
    assert not set(_proc.free_ports(3, exclude=first)) & set(first)


def test_a_taken_port_is_one_line_naming_it() -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        with pytest.raises(StackError) as caught:
            _proc.check_port_free(port, "kafka", "--kafka-port")
    assert str(caught.value).startswith(f"kafka port {port} on 127.0.0.1 is already in use")
    assert "\n" not in str(caught.value)
    _proc.check_port_free(port, "kafka", "--kafka-port")  # free again once closed
    with pytest.raises(StackError, match="not a valid TCP port"):
        _proc.check_port_free(70000, "redis", "--redis-port")


@pytest.mark.parametrize("graceful", [True, False])
def test_terminate_stops_a_spawned_server_and_reaps_it(tmp_path: Path, graceful: bool) -> None:
    pid = _proc.spawn(["sleep", "60"], log_path=tmp_path / "out.log", cwd=tmp_path)
    assert _proc.pid_alive(pid)
    assert os.getpgid(pid) == pid  # its own session, so the group signal is contained
    _proc.terminate(pid, name="sleep", timeout_s=5.0, graceful=graceful)
    assert not _proc.pid_alive(pid)


def test_terminate_escalates_to_sigkill(tmp_path: Path) -> None:
    script = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('up', flush=True); time.sleep(60)"
    )
    log = tmp_path / "out.log"
    pid = _proc.spawn([sys.executable, "-c", script], log_path=log, cwd=tmp_path)
    while "up" not in log.read_text():  # wait until SIGTERM is ignored
        assert _proc.pid_alive(pid)
        time.sleep(0.01)
    _proc.terminate(pid, name="stubborn", timeout_s=0.2)
    assert not _proc.pid_alive(pid)


def test_last_meaningful_line_quotes_the_cause(tmp_path: Path) -> None:
    out, server = tmp_path / "kafka.out", tmp_path / "server.log"
    out.write_text("Error occurred during initialization of VM\nToo small maximum heap\n")
    assert _proc.last_meaningful_line(out) == "Too small maximum heap"
    server.write_text(
        "[t] INFO starting (kafka.Kafka$)\n"
        "[t] ERROR Exiting Kafka due to fatal exception (kafka.Kafka$)\n"
        "org.apache.kafka.common.config.ConfigException: Invalid value x for y\n"
        "\tat org.apache.kafka.Foo.bar(Foo.java:1)\n"
        "\t... 3 more\n"
    )
    assert _proc.last_meaningful_line(out, server).startswith(
        "org.apache.kafka.common.config.ConfigException"
    )
    assert _proc.last_meaningful_line(tmp_path / "absent.log") == "(log is empty)"
    server.write_text("Exception: " + "x" * 1000 + "\n")
    assert len(_proc.last_meaningful_line(server)) == 300


# -- the stack value and its state file ------------------------------------------------


def test_restart_after_a_crash_keeps_the_previous_ports_when_free() -> None:
    k, c, r = _proc.free_ports(3)
    assert _proc.choose_ports((None, None, None), (k, c, r)) == (k, c, r)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", k))
        squatter.listen()
        kafka, controller, redis = _proc.choose_ports((None, None, None), (k, c, r))
    assert kafka != k and (controller, redis) == (c, r)
    assert _proc.choose_ports((None, None, 7))[2] == 7  # a requested port is kept as given


def test_attach_parses_addresses_and_refuses_lifecycle() -> None:
    stack = LocalStack.attach("kafka-1:9092,kafka-2:9092", "redis://cache:6380/2")
    assert (stack.kafka_port, stack.redis_port, stack.managed) == (9092, 6380, False)
    assert stack.env() == {
        "DRIFTSTREAM_KAFKA_BOOTSTRAP": "kafka-1:9092,kafka-2:9092",
        "DRIFTSTREAM_REDIS_URL": "redis://cache:6380/2",
    }
    for action in (stack.stop, stack.restart_redis, stack.stop_redis, stack.start_redis):
        with pytest.raises(StackError, match="attached"):
            action()
    with pytest.raises(StackError, match="cannot attach"):
        LocalStack.attach("no-port", "redis://x:1/0")


def test_status_of_servers_that_do_not_answer() -> None:
    kafka_port, redis_port = _proc.free_ports(2)
    report = LocalStack.attach(
        f"127.0.0.1:{kafka_port}", f"redis://127.0.0.1:{redis_port}/0"
    ).status()
    assert not report.running
    assert report.describe()[0].startswith("kafka: stopped on 127.0.0.1:")
    assert not any(line.startswith("export") for line in report.describe())


def _recorded(stack_dir: Path, **changes: object) -> LocalStack:
    stack = LocalStack(
        bootstrap="127.0.0.1:1",
        redis_url="redis://127.0.0.1:2/0",
        stack_dir=stack_dir,
        kafka_port=1,
        controller_port=3,
        redis_port=2,
        kafka_pid=999_999_999,  # beyond pid_max: never a live process
        redis_pid=None,
        kafka_version="4.1.1",
        cluster_id="abc",
        started_ms=1_767_571_200_000,
        redis_server="/usr/bin/redis-server",
    )
    for key, value in changes.items():
        setattr(stack, key, value)
    return stack


def test_state_file_round_trip_and_describe(tmp_path: Path) -> None:
    stack = _recorded(tmp_path)
    stack._save()
    loaded = LocalStack.load(tmp_path)
    assert loaded == stack
    lines = stack.describe()
    assert (
        lines[-1]
        == "export DRIFTSTREAM_KAFKA_BOOTSTRAP=127.0.0.1:1 DRIFTSTREAM_REDIS_URL=redis://127.0.0.1:2/0"
    )
    assert all(line.startswith("# ") for line in lines[:-1])  # eval "$(stack up)" is safe
    assert "2026-01-05T00:00:00+00:00" in lines[2]
    assert not stack.status().running


def test_unreadable_or_foreign_state_is_a_clear_error(tmp_path: Path) -> None:
    assert LocalStack.load(tmp_path) is None
    (tmp_path / "stack.json").write_text("{not json")
    with pytest.raises(StackError, match="unreadable stack state"):
        LocalStack.load(tmp_path)
    (tmp_path / "stack.json").write_text(json.dumps({"format": 99}))
    with pytest.raises(StackError, match="another driftstream version"):
        LocalStack.load(tmp_path)


def test_stop_of_dead_recorded_stack_just_forgets_it(tmp_path: Path) -> None:
    stack = _recorded(tmp_path)
    stack._save()
    assert stream.localstack.status(tmp_path) is not None
    assert stream.localstack.down(tmp_path) == stack
    assert not (tmp_path / "stack.json").exists()
    assert stream.localstack.down(tmp_path) is None
    assert stream.localstack.status(tmp_path) is None


def test_start_refuses_a_foreign_non_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("user data")
    with pytest.raises(StackError, match="not created by driftstream"):
        LocalStack.start(tmp_path)
    assert (tmp_path / "precious.txt").exists()


# -- prepare: tools --------------------------------------------------------------------


@pytest.fixture
def fake_bin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An otherwise empty PATH directory, so tests control which tools exist."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    yield bin_dir


def _fake_java(bin_dir: Path, version: str) -> None:
    java = bin_dir / "java"
    java.write_text(f"#!/bin/sh\necho 'openjdk version \"{version}\" 2024-01-01' >&2\n")
    java.chmod(0o755)


def test_prepare_names_every_missing_tool_and_the_fix(fake_bin: Path, tmp_path: Path) -> None:
    with pytest.raises(StackError) as caught:
        _prepare.prepare(tmp_path / "cache")
    message = str(caught.value)
    assert message.startswith("missing java")
    assert "and mvn" in message
    assert message.endswith("apt-get install -y openjdk-17-jre-headless maven")


@pytest.mark.parametrize(("version", "reported"), [("11.0.22", "Java 11"), ("1.8.0_392", "Java 8")])
def test_old_java_is_refused(fake_bin: Path, version: str, reported: str) -> None:
    _fake_java(fake_bin, version)
    with pytest.raises(StackError, match=rf"missing java 17\+ \(.*is {reported}\)"):
        _prepare.find_java()


def test_java_17_passes_and_cached_jars_need_no_maven(fake_bin: Path, tmp_path: Path) -> None:
    _fake_java(fake_bin, "17.0.15")
    assert _prepare.find_java() == str(fake_bin / "java")
    dist = kafka_dist()
    libs = dist.libs(tmp_path)
    libs.mkdir(parents=True)
    (libs / f"kafka_2.13-{dist.version}.jar").touch()
    (libs / ".driftstream-complete").write_text(json.dumps({"pom_sha256": dist.pom_sha256}))
    # No mvn on PATH, jars cached: only redis-server is missing now.
    with pytest.raises(StackError, match="redis-server not found on PATH: apt-get install"):
        _prepare.prepare(tmp_path, install_redis=False)


def test_installing_redis_needs_root(fake_bin: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    apt = fake_bin / "apt-get"
    apt.write_text("#!/bin/sh\nexit 99\n")
    apt.chmod(0o755)
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(StackError, match="needs root: sudo apt-get install -y redis-server"):
        _prepare.find_redis_server()


# -- wire probes against tiny fake servers ---------------------------------------------


def _serve_once(reply: Callable[[bytes], bytes]) -> tuple[int, list[bytes]]:
    server = socket.create_server(("127.0.0.1", 0))
    seen: list[bytes] = []

    def handle() -> None:
        with server, server.accept()[0] as conn:
            data = conn.recv(4096)
            seen.append(data)
            conn.sendall(reply(data))

    threading.Thread(target=handle, daemon=True).start()
    return server.getsockname()[1], seen


def test_kafka_metadata_probe_speaks_metadata_v4() -> None:
    def reply(request: bytes) -> bytes:
        correlation = request[8:12]
        body = (
            correlation
            + struct.pack(">i", 0)  # throttle
            + struct.pack(">i", 1)  # one broker
            + struct.pack(">ih", 1, 9)
            + b"127.0.0.1"
            + struct.pack(">ih", 9092, -1)  # port, rack = null
            + struct.pack(">h", 3)
            + b"cid"
            + struct.pack(">i", 1)  # controller
            + struct.pack(">i", 0)  # no topics
        )
        return struct.pack(">i", len(body)) + body

    port, seen = _serve_once(reply)
    meta = _probe.kafka_metadata("127.0.0.1", port)
    assert meta == _probe.KafkaMetadata(cluster_id="cid", broker_ids=(1,), controller_id=1)
    assert struct.unpack(">hh", seen[0][4:8]) == (3, 4)  # api key Metadata, version 4


def test_kafka_probe_rejects_a_truncated_answer() -> None:
    port, _ = _serve_once(lambda req: struct.pack(">i", 6) + req[8:12] + b"\x00\x00")
    with pytest.raises(_probe.ProbeError, match="malformed Metadata"):
        _probe.kafka_metadata("127.0.0.1", port)


def test_redis_probe_returns_the_reply_line() -> None:
    port, seen = _serve_once(lambda req: b"-LOADING Redis is loading the dataset in memory\r\n")
    assert _probe.redis_ping("127.0.0.1", port).startswith("-LOADING")
    assert seen == [b"*1\r\n$4\r\nPING\r\n"]


# -- command line ----------------------------------------------------------------------


def test_cli_status_and_down_without_a_stack(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["status", "--stack-dir", str(tmp_path)]) == 3
    assert run(["down", "--stack-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"no stack recorded in {tmp_path}" in out


def test_cli_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = run(["up", "--stack-dir", str(tmp_path), "--kafka-property", "no-equals-sign"])
    assert code == 1
    err = capsys.readouterr().err
    assert err == "driftstream: error: --kafka-property expects KEY=VALUE, got 'no-equals-sign'\n"


def test_driftstream_stack_group_has_up_down_status() -> None:
    assert set(cli.stack.commands) == {"up", "down", "status"}
