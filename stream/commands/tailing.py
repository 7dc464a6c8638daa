"""Following a topic from the command line: ``alerts tail`` and ``dead-letter tail``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from stream.settings import Settings

__all__ = ["follow", "tail_options"]

F = TypeVar("F", bound=Callable[..., Any])


def tail_options(noun: str, json_help: str, topic_setting: str) -> Callable[[F], F]:
    """``--from-beginning --json --max --timeout --topic`` of a ``tail`` command."""
    options = [
        click.option(
            "--from-beginning", is_flag=True, help=f"Start at the oldest retained {noun}."
        ),
        click.option("--json", "as_json", is_flag=True, help=json_help),
        click.option("--max", "max_n", type=click.IntRange(min=1), help=f"Stop after N {noun}s."),
        click.option(
            "--timeout",
            type=click.FloatRange(min=0, min_open=True),
            help=f"Stop after S seconds without a new {noun} (default: follow until Ctrl-C).",
        ),
        click.option("--topic", help=f"Topic to read (default: {topic_setting})."),
    ]

    def apply(f: F) -> F:
        for option in reversed(options):
            f = option(f)
        return f

    return apply


def follow(
    settings: Settings,
    topic: str,
    *,
    noun: str,
    show: Callable[[Any, str], bool],
    from_beginning: bool,
    timeout: float | None,
    max_n: int | None,
) -> None:
    """Read ``topic`` without a consumer group and ``show`` each record until done.

    ``show(record, where)`` prints one record (``where`` is ``topic/partition@offset``)
    and returns whether it counts towards ``max_n``. Stops after ``max_n`` shown
    records, after ``timeout`` seconds without a record, or on Ctrl-C. The last
    three are the values of :func:`tail_options`' ``--from-beginning``,
    ``--timeout`` and ``--max``.
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
