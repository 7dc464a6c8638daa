"""``driftstream dead-letter tail|stats``: the records the event contract rejected.

Each dead letter is the original record value, keyed ``topic:partition:offset``,
with the reason and a one-line detail in headers (``KafkaDeadLetterSink``). Both
commands read without a consumer group: nothing is committed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import click

from stream.commands.ops_status import when
from stream.commands.run import reachable, settings_from
from stream.commands.tailing import follow, tail_options

__all__ = ["Letter", "ReasonStats", "dead_letter", "safe_bytes"]

SHOW_BYTES = 160


def safe_bytes(raw: bytes | None, limit: int = SHOW_BYTES) -> str:
    r"""Bytes as one printable line: UTF-8 text with escapes, cut at ``limit`` bytes.

    >>> safe_bytes(b'{"a": "\xff\n\x1b[31m"}')
    '{"a": "\\xff\\n\\x1b[31m"}'
    >>> safe_bytes(b"x" * 10, limit=4), safe_bytes(None)
    ('xxxx... (10 bytes)', '(tombstone)')
    """
    if raw is None:
        return "(tombstone)"
    text = raw[:limit].decode("utf-8", "backslashreplace")  # invalid bytes become \\xNN
    out = "".join(c if c.isprintable() else _escape(c) for c in text)
    return out + (f"... ({len(raw):,} bytes)" if len(raw) > limit else "")


def _escape(c: str) -> str:
    named = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(c)
    if named is not None:
        return named
    return f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}"


@dataclass(frozen=True)
class Letter:
    """One dead letter as read back: where it came from, why, and the original bytes."""

    reason: str
    detail: str
    source: str
    timestamp_ms: int
    raw: bytes | None
    at: str

    @classmethod
    def of(cls, headers: Sequence[tuple[str, bytes]], raw: bytes | None, at: str) -> Letter:
        """From the record's headers (missing ones read as ``?``)."""
        h: Mapping[str, str] = {k: v.decode("utf-8", "replace") for k, v in headers}
        ts = h.get("ds-timestamp-ms", "")
        return cls(
            reason=h.get("ds-reason", "?"),
            detail=h.get("ds-detail", ""),
            source=f"{h.get('ds-topic', '?')}/{h.get('ds-partition', '?')}"
            f"@{h.get('ds-offset', '?')}",
            timestamp_ms=int(ts) if ts.lstrip("-").isdigit() else -1,
            raw=raw,
            at=at,
        )

    def line(self) -> str:
        """``reason  topic/partition@offset  detail  | raw bytes``."""
        ts = when(self.timestamp_ms) if self.timestamp_ms >= 0 else "-"
        return f"{ts}  {self.reason}  {self.source}  {self.detail}  | {safe_bytes(self.raw)}"

    def to_json(self) -> dict[str, Any]:
        """JSON-able form; the raw bytes as escaped text (never decoded lossy)."""
        return {
            "reason": self.reason,
            "detail": self.detail,
            "source": self.source,
            "timestamp_ms": self.timestamp_ms,
            "dead_letter": self.at,
            "raw": safe_bytes(self.raw, limit=1 << 20),
        }


@dataclass
class ReasonStats:
    """Counts by reason and by source topic, with the first letter of each reason."""

    total: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)
    by_source_topic: dict[str, int] = field(default_factory=dict)
    samples: dict[str, Letter] = field(default_factory=dict)
    first_ms: int | None = None
    last_ms: int | None = None

    def add(self, letter: Letter) -> None:
        """Count one letter."""
        self.total += 1
        self.by_reason[letter.reason] = self.by_reason.get(letter.reason, 0) + 1
        topic = letter.source.rsplit("/", 1)[0]
        self.by_source_topic[topic] = self.by_source_topic.get(topic, 0) + 1
        self.samples.setdefault(letter.reason, letter)
        if letter.timestamp_ms >= 0:
            t = letter.timestamp_ms
            self.first_ms = t if self.first_ms is None else min(self.first_ms, t)
            self.last_ms = t if self.last_ms is None else max(self.last_ms, t)

    def lines(self, topic: str) -> list[str]:
        """A readable summary: total, span, then one line per reason with a sample."""
        if not self.total:
            return [f"{topic}: no dead letter (every record read so far met the contract)"]
        out = [
            f"{topic}: {self.total:,} dead letter(s), records from {when(self.first_ms)} "
            f"to {when(self.last_ms)}; from "
            + ", ".join(f"{t} {n:,}" for t, n in sorted(self.by_source_topic.items()))
        ]
        for reason, n in sorted(self.by_reason.items(), key=lambda kv: (-kv[1], kv[0])):
            s = self.samples[reason]
            out.append(f"  {reason:18s} {n:>9,}  e.g. {s.source}: {s.detail}")
        return out


@click.group("dead-letter")
def dead_letter() -> None:
    """Records the event contract rejected (topics.dead_letter): follow them, count them."""


def _topic_option(f: Any) -> Any:
    return click.option("--topic", help="Topic to read (default: topics.dead_letter).")(f)


@dead_letter.command("tail")
@tail_options("letter", "One JSON object per letter.", "topics.dead_letter")
@click.pass_context
def tail_cmd(ctx: click.Context, /, as_json: bool, topic: str | None, **reading: Any) -> None:
    r"""Follow rejected records: time, reason, source, detail, original bytes.

    One line each: record time, reason, source topic/partition@offset, the detail,
    and the original bytes printed safely (escaped, cut at 160 bytes).

    \b
    Examples:
      driftstream dead-letter tail --from-beginning --timeout 5
      driftstream dead-letter tail --json --max 10 | jq .reason
    """
    settings = settings_from(ctx)
    reachable(settings, kafka=True)

    def show(rec: Any, where: str) -> bool:
        letter = Letter.of(rec.headers, rec.value, where)
        click.echo(json.dumps(letter.to_json()) if as_json else letter.line())
        return True

    follow(settings, topic or settings.topics.dead_letter, noun="letter", show=show, **reading)


@dead_letter.command("stats")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=30.0,
    show_default=True,
    help="Reading stops at the end of the topic as it was at the start; fail if Kafka "
    "sends nothing for S seconds before that.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@_topic_option
@click.pass_context
def stats_cmd(ctx: click.Context, timeout: float, as_json: bool, topic: str | None) -> None:
    r"""Count every retained dead letter by reason and source topic, with a sample of each.

    \b
    Example:
      driftstream dead-letter stats
    """
    from stream import wiring  # Kafka, Redis and scipy: kept out of --help
    from stream.adapters.kafka_ops import tail

    settings = settings_from(ctx)
    reachable(settings, kafka=True)
    name = topic or settings.topics.dead_letter
    stats = ReasonStats()
    records = tail(
        wiring.kafka_sync(settings), name, from_beginning=True, idle_timeout_s=timeout, to_end=True
    )
    try:
        for rec in records:
            stats.add(Letter.of(rec.headers, rec.value, f"{name}/{rec.partition}@{rec.offset}"))
    finally:
        records.close()
    if as_json:
        report = {
            "topic": name,
            "total": stats.total,
            "by_reason": stats.by_reason,
            "by_source_topic": stats.by_source_topic,
            "first_ms": stats.first_ms,
            "last_ms": stats.last_ms,
            "samples": {r: s.to_json() for r, s in stats.samples.items()},
        }
        click.echo(json.dumps(report, indent=2, sort_keys=True))
    else:
        for line in stats.lines(name):
            click.echo(line)
