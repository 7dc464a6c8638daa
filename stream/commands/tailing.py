"""Following a topic from the command line: ``alerts tail`` and ``dead-letter tail``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from stream.settings import Settings

__all__ = ["follow"]


def follow(
    settings: Settings,
    topic: str,
    *,
    noun: str,
    from_beginning: bool,
    timeout: float | None,
    max_n: int | None,
    show: Callable[[Any, str], bool],
) -> None:
    """Read ``topic`` without a consumer group and ``show`` each record until done.

    ``show(record, where)`` prints one record (``where`` is ``topic/partition@offset``)
    and returns whether it counts towards ``max_n``. Stops after ``max_n`` shown
    records, after ``timeout`` seconds without a record, or on Ctrl-C.
    """
    from stream import wiring  # Kafka, Redis and scipy: kept out of --help
    from stream.adapters.kafka_ops import tail

    where = f"the oldest retained {noun}" if from_beginning else "now"
    records = tail(
        wiring.kafka_sync(settings),
        topic,
        from_beginning=from_beginning,
        idle_timeout_s=timeout,
        on_ready=lambda: click.echo(f"reading {topic} from {where} (Ctrl-C to stop)", err=True),
    )
    shown = 0
    try:
        for rec in records:
            if not show(rec, f"{topic}/{rec.partition}@{rec.offset}"):
                continue
            shown += 1
            if max_n is not None and shown >= max_n:
                break
    finally:
        records.close()
