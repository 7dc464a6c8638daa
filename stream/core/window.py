"""Event-time windows: integer milliseconds since the epoch, UTC, everywhere inside.

A window is named by its scale and its start: ``WindowKey("hour", start_ms)``.
Hours and days are aligned to UTC; a day holds exactly 24 hours. A
``trailing_day`` window is the 24 hours ending at an hour boundary (aligned to
the hour, 24 h wide): built from stored hour windows, evaluated every hour
(:mod:`stream.pipeline.trailing`), never rolled up or stored as a window.

>>> t = WindowKey(TRAILING_DAY, 1_767_618_000_000)
>>> str(t), t.end_ms - t.start_ms == DAY_MS, t.closing_hour()
('trailing_day:2026-01-05T13', True, WindowKey(scale='hour', start_ms=1767700800000))

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
from typing import Literal, TypeAlias

import numpy as np
import numpy.typing as npt

from stream.core.vocabulary import Scale

__all__ = [
    "DAY",
    "DAY_MS",
    "HOUR",
    "HOUR_MS",
    "Scale",
    "TRAILING_DAY",
    "WindowScale",
    "WindowKey",
    "floor_to",
    "hour_starts",
    "format_iso_ms",
    "lateness_split",
    "NO_TIME",
    "seal_point",
    "time_split",
    "watermark_marks",
    "TimeSplit",
]

HOUR: Scale = "hour"
DAY: Scale = "day"
WindowScale: TypeAlias = Literal["hour", "day", "trailing_day"]
"""A window key's scale: the rolled-up ``Scale`` s and the evaluated-only trailing day."""
TRAILING_DAY: WindowScale = "trailing_day"
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
_SCALE_MS: dict[str, int] = {HOUR: HOUR_MS, DAY: DAY_MS, TRAILING_DAY: DAY_MS}
_ALIGN_MS: dict[str, int] = {HOUR: HOUR_MS, DAY: DAY_MS, TRAILING_DAY: HOUR_MS}
_FORMATS: dict[str, str] = {HOUR: "%Y-%m-%dT%H", DAY: "%Y-%m-%d", TRAILING_DAY: "%Y-%m-%dT%H"}


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


def format_iso_ms(ts_ms: int) -> str:
    """RFC 3339 UTC text of an epoch-millisecond time, with milliseconds.

    >>> format_iso_ms(1_767_618_245_123)
    '2026-01-05T13:04:05.123Z'
    """
    t = dt.datetime.fromtimestamp(ts_ms / 1000, tz=dt.UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts_ms % 1000:03d}Z"


@dataclass(frozen=True, order=True, slots=True)
class WindowKey:
    """A UTC-aligned event-time window: ``scale`` ("hour", "day", "trailing_day"), ``start_ms``."""

    scale: WindowScale
    start_ms: int

    def __post_init__(self) -> None:
        align = _ALIGN_MS.get(self.scale)
        if align is None:
            msg = f"unknown window scale {self.scale!r} (expected 'hour', 'day' or 'trailing_day')"
            raise ValueError(msg)
        if self.start_ms % align:
            msg = f"{self.scale} window start {self.start_ms} is not aligned to {align} ms"
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
    def containing(cls, scale: WindowScale, ts_ms: int) -> WindowKey:
        """The window of ``scale`` that holds event time ``ts_ms``."""
        return cls(scale, floor_to(ts_ms, _SCALE_MS[scale]))

    def previous(self, n: int = 1) -> WindowKey:
        """The window ``n`` widths earlier (``n=168`` hours: same hour last week)."""
        return WindowKey(self.scale, self.start_ms - n * self.width_ms)

    @property
    def stored_scale(self) -> Scale:
        """The scale of a rolled-up (stored) window: ValueError for a trailing day."""
        if self.scale == HOUR or self.scale == DAY:
            return self.scale
        msg = f"a {self.scale} window is evaluated only, never stored (use its closing hour)"
        raise ValueError(msg)

    def closing_hour(self) -> WindowKey:
        """The last hour window inside this window (what closed it)."""
        return WindowKey(HOUR, self.end_ms - HOUR_MS)

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


def seal_point(max_event_ms: int, allowed_lateness_ms: int) -> int:
    """Hour boundary through which a partition is sealed once it saw ``max_event_ms``.

    Every hour ending at or before the returned time is final: the watermark
    (max event time − allowed lateness) has passed its end.

    >>> seal_point(3 * HOUR_MS + 5, 0), seal_point(3 * HOUR_MS + 5, 10)
    (10800000, 7200000)
    """
    return floor_to(max_event_ms - allowed_lateness_ms, HOUR_MS)


#: "No watermark yet" inside vectorised code (far below any real time, no overflow).
NO_TIME = int(np.iinfo(np.int64).min // 4)


def watermark_marks(
    ts_ms: npt.NDArray[np.int64], tail: tuple[int, ...], k: int
) -> tuple[npt.NDArray[np.int64], tuple[int, ...]]:
    """Per event, the least of the last ``k`` event times ending at it (offset order).

    ``tail`` holds the times of the (up to ``k - 1``) events before this batch, so
    the marks do not depend on batch boundaries. An event with fewer than ``k``
    events up to it gets :data:`NO_TIME`. The watermark is the running maximum of
    the marks: it passes a time only once ``k`` consecutive events are at or past
    it, so one outlier (or ``k - 1`` in a row) cannot move it.

    Returns ``(marks, new_tail)``.

    >>> marks, tail = watermark_marks(np.array([5, 9_999, 6, 7], dtype=np.int64), (3, 4), 3)
    >>> marks.tolist(), tail
    ([3, 4, 5, 6], (6, 7))
    >>> watermark_marks(np.array([5], dtype=np.int64), (), 3)[0].tolist() == [NO_TIME]
    True
    """
    if k <= 1:
        return ts_ms, ()
    full = np.concatenate([np.asarray(tail, dtype=np.int64), ts_ms])
    marks = np.full(ts_ms.size, NO_TIME, dtype=np.int64)
    if full.size >= k:
        mins = np.lib.stride_tricks.sliding_window_view(full, k).min(axis=1)
        # window j ends at full[j + k - 1], i.e. at batch event j + k - 1 - len(tail)
        first = k - 1 - len(tail)
        if first >= 0:
            marks[first:] = mins
        else:
            marks[:] = mins[-first:]
    new_tail = tuple(int(t) for t in full[-(k - 1) :].tolist())
    return marks, new_tail


@dataclass(frozen=True, slots=True)
class TimeSplit:
    """Event-time verdicts for one batch of one partition, in offset order.

    Attributes:
        late: Events whose hour was sealed before they arrived.
        sealed_prior: Seal point just before each event (:data:`NO_TIME` when none).
        watermark_ms: Watermark after the batch (None while there is none).
        sealed_ms: Seal point after the batch (None while there is none).
    """

    late: npt.NDArray[np.bool_]
    sealed_prior: npt.NDArray[np.int64]
    watermark_ms: int | None
    sealed_ms: int | None


def time_split(
    ts_ms: npt.NDArray[np.int64],
    marks: npt.NDArray[np.int64],
    watermark_before_ms: int | None,
    sealed_before_ms: int | None,
    allowed_lateness_ms: int,
) -> TimeSplit:
    """Lateness and seal points when the watermark is the running maximum of ``marks``.

    ``marks`` is ``ts_ms`` itself (the watermark is the max event time) or
    :func:`watermark_marks` (robust to outliers). The seal point before event *i*
    depends only on the events before it, so batch boundaries change nothing.

    >>> ts = np.array([0, 2 * HOUR_MS, 10, HOUR_MS + 1], dtype=np.int64)
    >>> s = time_split(ts, ts, None, None, 0)
    >>> s.late.tolist(), s.watermark_ms, s.sealed_ms
    ([False, False, True, True], 7200000, 7200000)
    """
    if ts_ms.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return TimeSplit(np.zeros(0, dtype=np.bool_), empty, watermark_before_ms, sealed_before_ms)
    running = np.maximum.accumulate(marks)
    # Watermark strictly before each event.
    prior = np.empty_like(running)
    prior[0] = watermark_before_ms if watermark_before_ms is not None else NO_TIME
    prior[1:] = running[:-1]
    if watermark_before_ms is not None:
        np.maximum(prior, watermark_before_ms, out=prior)
    shifted = prior - allowed_lateness_ms
    sealed_prior = np.where(prior > NO_TIME, shifted - np.mod(shifted, HOUR_MS), NO_TIME)
    if sealed_before_ms is not None:
        np.maximum(sealed_prior, sealed_before_ms, out=sealed_prior)
    late = hour_starts(ts_ms) + HOUR_MS <= sealed_prior
    top = int(running[-1])
    watermark_after: int | None = top if top > NO_TIME else None
    if watermark_before_ms is not None:
        watermark_after = max(top, watermark_before_ms)
    sealed_after = sealed_before_ms
    if watermark_after is not None:
        point = seal_point(watermark_after, allowed_lateness_ms)
        sealed_after = point if sealed_after is None else max(point, sealed_after)
    return TimeSplit(late, sealed_prior, watermark_after, sealed_after)


def lateness_split(
    ts_ms: npt.NDArray[np.int64],
    max_before_ms: int | None,
    sealed_before_ms: int | None,
    allowed_lateness_ms: int,
) -> tuple[npt.NDArray[np.bool_], int | None, int | None]:
    """Mark events whose hour was already sealed when they arrived (offset order).

    The seal point before event *i* depends only on the events before it in the
    partition, so the result is the same whatever the batch boundaries are
    (replay with another batch size gives the same late events as live).

    Returns ``(late, max_after_ms, sealed_after_ms)``.

    >>> ts = np.array([0, 2 * HOUR_MS, 10, HOUR_MS + 1], dtype=np.int64)
    >>> late, mx, sealed = lateness_split(ts, None, None, 0)
    >>> late.tolist(), mx, sealed
    ([False, False, True, True], 7200000, 7200000)
    """
    if ts_ms.size == 0:
        return np.zeros(0, dtype=np.bool_), max_before_ms, sealed_before_ms
    running = np.maximum.accumulate(ts_ms)
    # Max event time seen strictly before each event.
    prior = np.empty_like(running)
    prior[0] = max_before_ms if max_before_ms is not None else np.iinfo(np.int64).min // 2
    prior[1:] = running[:-1]
    if max_before_ms is not None:
        np.maximum(prior, max_before_ms, out=prior)
    sealed_prior = (prior - allowed_lateness_ms) - np.mod(prior - allowed_lateness_ms, HOUR_MS)
    if sealed_before_ms is not None:
        np.maximum(sealed_prior, sealed_before_ms, out=sealed_prior)
    late = hour_starts(ts_ms) + HOUR_MS <= sealed_prior
    max_after = int(running[-1]) if max_before_ms is None else max(int(running[-1]), max_before_ms)
    sealed_after = seal_point(max_after, allowed_lateness_ms)
    if sealed_before_ms is not None:
        sealed_after = max(sealed_after, sealed_before_ms)
    return late, max_after, sealed_after
