"""One Kafka 4 node in KRaft combined mode (broker + controller), from the cached jars."""

from __future__ import annotations

import base64
import os
import subprocess
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path

from stream.errors import StackError

from ._config import LOOPBACK
from ._probe import ProbeError, kafka_group_coordinator, kafka_metadata
from ._proc import exit_code, last_meaningful_line, pid_alive, spawn, terminate

__all__ = ["DEFAULT_JVM_OPTS", "KafkaFiles", "format_storage", "start_broker", "wait_broker"]

# Small but enough for tests and the demo; G1 with short pauses as Kafka's own
# kafka-server-start.sh does. ExitOnOutOfMemoryError: a dead broker is obvious,
# a thrashing one is not.
DEFAULT_JVM_OPTS: tuple[str, ...] = (
    "-Xms256m",
    "-Xmx512m",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
)

# Single node: every internal topic has one replica. Few internal partitions: the
# first consumer group otherwise waits for 50 __consumer_offsets partitions to load.
# auto.create.topics.enable=false: a typo'd topic fails loudly instead of appearing
# with the wrong partition count; tests and tools create topics explicitly.
# Unlimited retention: replay tests produce records with historical timestamps,
# which the default 7-day retention would delete under them.
BASE_PROPERTIES: dict[str, str] = {
    "process.roles": "broker,controller",
    "node.id": "1",
    "controller.listener.names": "CONTROLLER",
    "inter.broker.listener.name": "PLAINTEXT",
    "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
    "num.partitions": "1",
    "default.replication.factor": "1",
    "min.insync.replicas": "1",
    "offsets.topic.replication.factor": "1",
    "offsets.topic.num.partitions": "8",
    "transaction.state.log.replication.factor": "1",
    "transaction.state.log.min.isr": "1",
    "transaction.state.log.num.partitions": "4",
    "share.coordinator.state.topic.replication.factor": "1",
    "share.coordinator.state.topic.min.isr": "1",
    "group.initial.rebalance.delay.ms": "0",
    "auto.create.topics.enable": "false",
    "log.retention.ms": "-1",
}

_LOG4J2 = """\
# Written by stream.localstack: the broker's log, rolled at 20 MB, 3 files kept.
status = warn
name = driftstream-localstack
appender.file.type = RollingFile
appender.file.name = FILE
appender.file.fileName = {log}
appender.file.filePattern = {log}.%i
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d{{yyyy-MM-dd'T'HH:mm:ss.SSSZ}}] %p %m (%c)%n
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = 20MB
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 3
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
# One line per request is noise at INFO; failures still log at WARN/ERROR.
logger.request.name = kafka.request.logger
logger.request.level = WARN
"""


class KafkaFiles:
    """The broker's files inside the stack directory."""

    def __init__(self, stack_dir: Path) -> None:
        self.root = stack_dir / "kafka"
        self.properties = self.root / "server.properties"
        self.log4j = self.root / "log4j2.properties"
        self.data = self.root / "data"
        self.logs = self.root / "logs"
        self.server_log = self.logs / "server.log"
        self.stdout = self.logs / "kafka.out"
        self.format_log = self.logs / "format.log"


def new_cluster_id() -> str:
    """A random cluster id as Kafka's ``Uuid.randomUuid`` makes it (URL-safe base64, 22 chars)."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode("ascii").rstrip("=")
        # Kafka rejects ids that would be read as a command-line flag.
        if not text.startswith("-"):
            return text


def write_config(
    files: KafkaFiles,
    *,
    port: int,
    controller_port: int,
    overrides: Mapping[str, str] | None = None,
) -> None:
    """Write ``server.properties`` and ``log4j2.properties`` for a fresh node.

    Args:
        files: where to write.
        port: the PLAINTEXT (client) port.
        controller_port: the KRaft controller port.
        overrides: properties that replace or extend the defaults (e.g. tests that
            need auto topic creation, or a deliberately broken config).
    """
    files.logs.mkdir(parents=True, exist_ok=True)
    props = dict(BASE_PROPERTIES)
    props.update(
        {
            # 4.x dynamic quorum (KIP-853): bootstrap.servers, not the static voters
            # list, which `format --standalone` refuses.
            "controller.quorum.bootstrap.servers": f"{LOOPBACK}:{controller_port}",
            "listeners": f"PLAINTEXT://{LOOPBACK}:{port},CONTROLLER://{LOOPBACK}:{controller_port}",
            "advertised.listeners": f"PLAINTEXT://{LOOPBACK}:{port}",
            "log.dirs": str(files.data),
        }
    )
    props.update(overrides or {})
    lines = ["# Written by stream.localstack for one KRaft combined node; edits are lost."]
    lines += [f"{key}={value}" for key, value in props.items()]
    files.properties.write_text("\n".join(lines) + "\n")
    files.log4j.write_text(_LOG4J2.format(log=files.server_log))


def _classpath(libs: Path) -> str:
    return f"{libs}{os.sep}*"


def format_storage(
    java: str, libs: Path, files: KafkaFiles, cluster_id: str, extra: Sequence[str] = ()
) -> None:
    """Format the log dir as a one-voter dynamic quorum (``StorageTool format --standalone``).

    ``extra``: more ``format`` arguments, e.g. ``--add-scram`` to create SCRAM users.

    Raises:
        StackError: the tool failed; names its log and the line that says why.
    """
    cmd = [
        java,
        "-Xmx256m",
        f"-Dlog4j2.configurationFile={files.log4j}",
        "-cp",
        _classpath(libs),
        "kafka.tools.StorageTool",
        "format",
        "--standalone",
        "--cluster-id",
        cluster_id,
        "--config",
        str(files.properties),
        *extra,
    ]
    files.logs.mkdir(parents=True, exist_ok=True)
    with files.format_log.open("wb") as out:
        done = subprocess.run(
            cmd, cwd=files.root, stdin=subprocess.DEVNULL, stdout=out, stderr=out, check=False
        )
    if done.returncode != 0:
        msg = (
            f"formatting Kafka storage failed (exit {done.returncode}): "
            f"{last_meaningful_line(files.format_log)} (log: {files.format_log})"
        )
        raise StackError(msg)


def start_broker(
    java: str,
    libs: Path,
    files: KafkaFiles,
    *,
    jvm_opts: Sequence[str] = (),
    die_with_parent: bool = False,
) -> int:
    """Start ``kafka.Kafka server.properties`` detached; return its pid (not yet ready)."""
    cmd = [
        java,
        *DEFAULT_JVM_OPTS,
        *jvm_opts,  # after the defaults, so a caller's -Xmx wins
        f"-Dlog4j2.configurationFile={files.log4j}",
        f"-Dkafka.logs.dir={files.logs}",
        "-cp",
        _classpath(libs),
        "kafka.Kafka",
        str(files.properties),
    ]
    return spawn(cmd, log_path=files.stdout, cwd=files.root, die_with_parent=die_with_parent)


def _failure(files: KafkaFiles, what: str) -> StackError:
    why = last_meaningful_line(files.stdout, files.server_log)
    return StackError(f"Kafka broker {what}: {why} (log: {files.server_log}, {files.stdout})")


def wait_broker(pid: int, port: int, files: KafkaFiles, timeout_s: float) -> None:
    """Wait until the broker lists itself in Metadata and can coordinate consumer groups.

    The group-coordinator step creates ``__consumer_offsets`` now, so the first
    consumer group of a test or the demo does not meet COORDINATOR_NOT_AVAILABLE.
    On failure the broker is stopped, so a failed ``up`` leaves no process.

    Raises:
        StackError: the JVM exited or did not get ready in time; quotes the log.
    """
    deadline = time.monotonic() + timeout_s
    stage = "answer Metadata requests"
    while True:
        if not pid_alive(pid):
            raise _failure(files, f"exited during startup (exit {exit_code(pid)})")
        try:
            if stage.endswith("Metadata requests"):
                if kafka_metadata(LOOPBACK, port, timeout_s=2.0).broker_ids:
                    stage = "coordinate consumer groups"
                    continue
            elif kafka_group_coordinator(LOOPBACK, port, "driftstream-localstack") == 0:
                return
        except (OSError, ProbeError):
            pass  # not listening yet, still fenced, or offsets topic still loading
        if time.monotonic() > deadline:
            terminate(pid, name="kafka", timeout_s=10.0)
            where = f"{LOOPBACK}:{port}"
            raise _failure(files, f"did not {stage} on {where} within {timeout_s:.0f}s")
        time.sleep(0.1)
