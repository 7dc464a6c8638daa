"""Event-time windows: integer milliseconds since the epoch, UTC, everywhere inside.

A window is named by its scale and its start: ``WindowKey("hour", start_ms)``.
Hours and days are aligned to UTC; a day holds exactly 24 hours.

>>> k = WindowKey.containing(HOUR, 1_767_618_245_123)
>>> k.start_ms, k.end_ms - k.start_ms
(1767618000000, 3600000)
>>> str(k)
'hour:2026-01-05T13'
>>> WindowKey.parse('day:2026-01-05').start_ms
1767571200000
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

__all__ = [
    "DAY",
    "DAY_MS",
    "HOUR",
    "HOUR_MS",
    "Scale",
    "WindowKey",
    "floor_to",
    "hour_starts",
    "iso_ms",
]

Scale = Literal["hour", "day"]
HOUR: Scale = "hour"
DAY: Scale = "day"
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
_SCALE_MS: dict[str, int] = {HOUR: HOUR_MS, DAY: DAY_MS}
_FORMATS: dict[str, str] = {HOUR: "%Y-%m-%dT%H", DAY: "%Y-%m-%d"}


def floor_to(ts_ms: int, width_ms: int) -> int:
    """Start of the width-aligned window holding ``ts_ms`` (floor, also for negatives).

    >>> floor_to(7_199_999, HOUR_MS), floor_to(-1, HOUR_MS)
    (3600000, -3600000)
    """
    return ts_ms - (ts_ms % width_ms)


def hour_starts(ts_ms: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Vectorised hour start of each event time (int64 ms).

    >>> hour_starts(np.array([0, 3_599_999, 3_600_000], dtype=np.int64)).tolist()
    [0, 0, 3600000]
    """
    return ts_ms - np.mod(ts_ms, HOUR_MS)


def iso_ms(ts_ms: int) -> str:
    """RFC 3339 UTC text of an epoch-millisecond time, with milliseconds.

    >>> iso_ms(1_767_618_245_123)
    '2026-01-05T13:04:05.123Z'
    """
    t = dt.datetime.fromtimestamp(ts_ms / 1000, tz=dt.UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts_ms % 1000:03d}Z"


@dataclass(frozen=True, order=True, slots=True)
class WindowKey:
    """A UTC-aligned event-time window: ``scale`` ("hour" or "day") and ``start_ms``."""

    scale: Scale
    start_ms: int

    def __post_init__(self) -> None:
        width = _SCALE_MS.get(self.scale)
        if width is None:
            msg = f"unknown window scale {self.scale!r} (expected 'hour' or 'day')"
            raise ValueError(msg)
        if self.start_ms % width:
            msg = f"{self.scale} window start {self.start_ms} is not aligned to {width} ms"
            raise ValueError(msg)

    @property
    def width_ms(self) -> int:
        """Length of the window in milliseconds."""
        return _SCALE_MS[self.scale]

    @property
    def end_ms(self) -> int:
        """Exclusive end of the window."""
        return self.start_ms + self.width_ms

    @classmethod
    def containing(cls, scale: Scale, ts_ms: int) -> WindowKey:
        """The window of ``scale`` that holds event time ``ts_ms``."""
        return cls(scale, floor_to(ts_ms, _SCALE_MS[scale]))

    def previous(self, n: int = 1) -> WindowKey:
        """The window ``n`` widths earlier (``n=168`` hours: same hour last week)."""
        return WindowKey(self.scale, self.start_ms - n * self.width_ms)

    def hours(self) -> list[WindowKey]:
        """The hour windows this window covers (itself for an hour)."""
        return [WindowKey(HOUR, s) for s in range(self.start_ms, self.end_ms, HOUR_MS)]

    def __str__(self) -> str:
        t = dt.datetime.fromtimestamp(self.start_ms / 1000, tz=dt.UTC)
        return f"{self.scale}:{t.strftime(_FORMATS[self.scale])}"

    @classmethod
    def parse(cls, text: str) -> WindowKey:
        """Inverse of ``str()``: ``'hour:2026-01-05T13'`` or ``'day:2026-01-05'``."""
        scale, _, stamp = text.partition(":")
        fmt = _FORMATS.get(scale)
        if fmt is None or not stamp:
            msg = f"bad window {text!r} (expected 'hour:YYYY-MM-DDTHH' or 'day:YYYY-MM-DD')"
            raise ValueError(msg)
        try:
            t = dt.datetime.strptime(stamp, fmt).replace(tzinfo=dt.UTC)
        except ValueError as exc:
            msg = f"bad window {text!r}: {exc}"
            raise ValueError(msg) from None
        return cls(scale, int(t.timestamp()) * 1000)  # type: ignore[arg-type]
