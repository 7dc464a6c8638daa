"""The local stack: one Apache Kafka node (KRaft) and one Redis, on loopback ports.

Development, the demo and the test suite run against real servers started by
this package, never against mocks or Docker::

    python -m stream.localstack prepare   # java/mvn checked, redis-server installed, jars cached
    python -m stream.localstack up        # idempotent; prints DRIFTSTREAM_* exports
    python -m stream.localstack status
    python -m stream.localstack down      # no process left behind

The Kafka jars come from Maven Central through ``deploy/local/pom.xml`` into
``~/.cache/driftstream/kafka-<version>/libs``; redis-server is Debian's.

>>> stack = LocalStack.attach("127.0.0.1:9092", "redis://127.0.0.1:6379/0")
>>> stack.env()["DRIFTSTREAM_KAFKA_BOOTSTRAP"], stack.managed
('127.0.0.1:9092', False)
"""

from __future__ import annotations

from pathlib import Path

from ._cluster import RedisCluster
from ._config import KafkaDist, default_cache_dir, default_stack_dir, kafka_dist
from ._prepare import Prepared, prepare
from ._stack import ENV_BOOTSTRAP, ENV_REDIS_URL, LocalStack
from ._status import StackStatus

__all__ = [
    "ENV_BOOTSTRAP",
    "ENV_REDIS_URL",
    "KafkaDist",
    "RedisCluster",
    "LocalStack",
    "Prepared",
    "StackStatus",
    "default_cache_dir",
    "default_stack_dir",
    "down",
    "kafka_dist",
    "prepare",
    "status",
    "up",
]

up = LocalStack.start
"""Start the stack or reuse the running one: ``LocalStack.start``."""


def down(stack_dir: Path | None = None, timeout_s: float = 30.0) -> LocalStack | None:
    """Stop the stack recorded in ``stack_dir``; return it, or None when none was recorded."""
    stack = LocalStack.load(stack_dir)
    if stack is not None:
        stack.stop(timeout_s=timeout_s)
    return stack


def status(stack_dir: Path | None = None) -> StackStatus | None:
    """Probe the stack recorded in ``stack_dir``; None when none was recorded."""
    stack = LocalStack.load(stack_dir)
    return None if stack is None else stack.status()
