"""What runs: a stack's processes probed, told apart from others, and stopped."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from ._kafka import KafkaFiles
from ._proc import cmdline, pid_alive, terminate

if TYPE_CHECKING:
    from ._stack import LocalStack

__all__ = ["StackStatus"]


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="seconds")


@dataclass(frozen=True, slots=True)
class StackStatus:
    """What runs: per server, is the process alive and does it answer."""

    stack: LocalStack
    kafka_alive: bool
    kafka_answers: bool
    redis_alive: bool
    redis_answers: bool

    @property
    def running(self) -> bool:
        """Both servers alive and answering."""
        return self.kafka_alive and self.kafka_answers and self.redis_alive and self.redis_answers

    def describe(self) -> list[str]:
        """Human-readable lines, ending with the ``export`` line when running."""

        def word(alive: bool, answers: bool) -> str:
            if alive and answers:
                return "running"
            return "not answering" if alive else "stopped"

        s = self.stack
        kafka = word(self.kafka_alive, self.kafka_answers)
        redis = word(self.redis_alive, self.redis_answers)
        name = f"kafka {s.kafka_version}" if s.kafka_version else "kafka"
        lines = [
            f"{name}: {kafka} on {s.client_bootstrap} (pid {s.kafka_pid})",
            f"redis: {redis} on {s.redis_url} (pid {s.redis_pid})",
        ]
        if s.stack_dir is not None:
            lines.append(f"started {_iso(s.started_ms)}; files and logs in {s.stack_dir}")
        if self.running:
            lines.append("export " + " ".join(f"{k}={v}" for k, v in s.env().items()))
        return lines


def _is_kafka(stack: LocalStack, pid: int) -> bool:
    # Guards against pid reuse: only signal a JVM running *this* stack's config.
    if stack.stack_dir is None or not pid_alive(pid):
        return False
    line = cmdline(pid)
    return "kafka.Kafka" in line and str(KafkaFiles(stack.stack_dir).properties) in line


def _is_redis(stack: LocalStack, pid: int) -> bool:
    # redis-server rewrites its title to "redis-server 127.0.0.1:<port>".
    if not pid_alive(pid):
        return False
    line = cmdline(pid)
    return "redis-server" in line and f":{stack.redis_port}" in line


def _stop_processes(stack: LocalStack, timeout_s: float) -> None:
    # Kafka first: it may still write to clients, Redis holds no Kafka state.
    if stack.kafka_pid is not None and _is_kafka(stack, stack.kafka_pid):
        terminate(stack.kafka_pid, name="kafka", timeout_s=timeout_s)
    if stack.redis_pid is not None and _is_redis(stack, stack.redis_pid):
        terminate(stack.redis_pid, name="redis-server", timeout_s=timeout_s)
