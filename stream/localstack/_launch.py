"""A fresh stack's servers: wipe the last run's data, write the configs, start, wait."""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ._kafka import KafkaFiles, format_storage, start_broker, wait_broker, write_config
from ._prepare import Prepared
from ._redis import RedisFiles, start_redis, wait_redis
from ._secure import (
    kafka_secure_properties,
    make_tls,
    redis_acl,
    redis_tls_args,
    scram_format_args,
)
from ._status import _stop_processes

if TYPE_CHECKING:
    from ._stack import LocalStack

__all__ = ["launch"]


def launch(
    stack: LocalStack,
    stack_dir: Path,
    prepared: Prepared,
    *,
    jvm_opts: Sequence[str],
    kafka_properties: Mapping[str, str] | None,
    timeout_s: float,
) -> None:
    """Start the servers of a new ``stack`` (ports, ids and credentials chosen) in ``stack_dir``.

    1. Wipe the previous run's Kafka and Redis data and certificates.
    2. A secured stack: make its CA and certificates, the SASL_SSL listener's
       properties, Redis' ACL users and TLS arguments, the SCRAM users to format.
    3. Start Redis, write the broker's config, format its storage, start the broker.
    4. Wait until both answer (``timeout_s`` each).

    Sets ``stack.redis_pid`` and ``stack.kafka_pid``. A failure stops whatever this
    started and re-raises.
    """
    sasl_port, die_with_parent = stack.sasl_port, stack.die_with_parent
    kafka_files, redis_files = KafkaFiles(stack_dir), RedisFiles(stack_dir)
    shutil.rmtree(kafka_files.root, ignore_errors=True)
    shutil.rmtree(redis_files.root, ignore_errors=True)
    shutil.rmtree(stack.tls_files_dir, ignore_errors=True)
    props = dict(kafka_properties or {})
    redis_extra: list[str] = []
    scram: list[str] = []
    if stack.credentials is not None:
        tls = make_tls(stack.tls_files_dir)
        secure_props = kafka_secure_properties(
            port=stack.kafka_port,
            sasl_port=sasl_port,
            controller_port=stack.controller_port,
            tls=tls,
        )
        props = {**secure_props, **props}
        redis_files.root.mkdir(parents=True, exist_ok=True)
        acl = redis_acl(redis_files.root / "users.acl", stack.credentials)
        redis_extra = redis_tls_args(stack.redis_port, tls, acl)
        scram = scram_format_args(stack.credentials)
    try:
        # Redis starts in milliseconds; launch it first so it is ready while
        # the JVM formats storage and boots.
        stack.redis_pid = start_redis(
            prepared.redis_server,
            redis_files,
            stack.redis_port,
            die_with_parent=die_with_parent,
            extra=redis_extra,
        )
        write_config(
            kafka_files,
            port=stack.kafka_port,
            controller_port=stack.controller_port,
            overrides=props,
        )
        format_storage(prepared.java, prepared.libs, kafka_files, stack.cluster_id, scram)
        stack.kafka_pid = start_broker(
            prepared.java,
            prepared.libs,
            kafka_files,
            jvm_opts=jvm_opts,
            die_with_parent=die_with_parent,
        )
        wait_redis(
            stack.redis_pid,
            stack.redis_port,
            redis_files,
            timeout_s,
            secure=stack.redis_probe,
        )
        wait_broker(stack.kafka_pid, stack.kafka_port, kafka_files, timeout_s)
    except BaseException:
        _stop_processes(stack, timeout_s=10.0)
        raise
