"""Time options of the commands (``--from``/``--to``): one parser, one range check.

>>> parse_time("1767225600000", "--from"), parse_time("2026-01-01T00:00Z", "--from")
(1767225600000, 1767225600000)
>>> parse_time("2026-01-01", "--from")  # a date alone is that day's midnight UTC
1767225600000
"""

from __future__ import annotations

import datetime as dt

import click

__all__ = ["TIME_HELP", "parse_time", "time_range", "utc"]

TIME_HELP = "epoch ms, ISO-8601 with an offset (2026-01-01T00:00Z) or a date (UTC midnight)"


def parse_time(value: str | None, option: str) -> int | None:
    """Epoch ms from epoch ms, ISO-8601 with an offset, or a date alone (midnight UTC)."""
    from stream.contract import parse_iso_ms

    if value is None:
        return None
    text = value.strip()
    if text.lstrip("-").isdigit():
        return int(text)
    if len(text) == 10:
        try:
            day = dt.date.fromisoformat(text)
        except ValueError:
            pass
        else:
            return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp()) * 1000
    ms = parse_iso_ms(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    if ms is None:
        msg = (
            f"expected epoch ms, ISO-8601 with a UTC offset (2026-01-01T00:00Z) "
            f"or a date (2026-01-01), got {value!r}"
        )
        raise click.BadParameter(msg, param_hint=option)
    return ms


def time_range(from_text: str | None, to_text: str | None) -> tuple[int | None, int | None]:
    """``--from``/``--to`` parsed; an empty or inverted range is a usage error."""
    from_ms = parse_time(from_text, "--from")
    to_ms = parse_time(to_text, "--to")
    if from_ms is not None and to_ms is not None and from_ms >= to_ms:
        msg = (
            f"--from {utc(from_ms)} is not before --to {utc(to_ms)}: "
            "the range [from, to) would be empty"
        )
        raise click.UsageError(msg)
    return from_ms, to_ms


def utc(ms: int) -> str:
    """``2026-01-01T00:00:00Z`` for epoch ms (seconds shown, milliseconds dropped)."""
    t = dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")
