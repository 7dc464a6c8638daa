"""Event-time parsing: ISO-8601 text with an offset, or integer epoch milliseconds.

The scalar :func:`parse_iso_ms` is the definition (``datetime.fromisoformat``, offset required,
truncated to the millisecond). :func:`parse_iso_ms_many` is a vectorised fast path that claims
only the common shapes ``YYYY-MM-DDTHH:MM:SS[.fff|.ffffff](Z|±HH:MM)`` with every field in
range, and leaves everything else to :func:`parse_iso_ms`, so both always agree.

>>> parse_iso_ms("2026-01-05T13:04:05.123Z"), parse_iso_ms("2026-01-05T14:04:05.123456+01:00")
(1767618245123, 1767618245123)
>>> parse_iso_ms("2026-01-05T13:04:05") is None  # no offset: ambiguous
True
>>> ms, ok = parse_iso_ms_many(["2026-01-05T13:04:05.123Z", "not a time"])
>>> ms[0].item(), ok.tolist()
(1767618245123, [True, False])
"""

from __future__ import annotations

import datetime as dt
from typing import Final

import numpy as np
import numpy.typing as npt

__all__ = ["MAX_EPOCH_MS", "parse_iso_ms", "parse_iso_ms_many"]

_EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_ONE_MS: Final = dt.timedelta(milliseconds=1)
#: Integer ``ts`` values must lie within ±2**62 ms (keeps int64 arithmetic exact).
MAX_EPOCH_MS: Final = 2**62

# Length of the string → (fraction digits, offset suffix?) for the shapes claimed.
_SHAPES: Final = {
    20: (0, False),
    24: (3, False),
    27: (6, False),
    25: (0, True),
    29: (3, True),
    32: (6, True),
}
_DIGITS = (0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18)
_MONTH_DAYS = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)
_PUNCT = ((4, "-"), (7, "-"), (10, "T"), (13, ":"), (16, ":"))


def parse_iso_ms(text: str) -> int | None:
    """Epoch ms of ISO-8601 text with a UTC offset (truncated to ms); None when invalid."""
    try:
        t = dt.datetime.fromisoformat(text)
        if t.tzinfo is None or t.utcoffset() is None:
            return None
        return (t - _EPOCH) // _ONE_MS
    except (ValueError, OverflowError, TypeError):
        return None


def parse_iso_ms_many(texts: list[str]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """Vectorised :func:`parse_iso_ms`: (epoch ms, parsed?) per text; unparsed ms are 0.

    Texts of the claimed shapes are parsed with numpy; the rest go through :func:`parse_iso_ms`.
    """
    n = len(texts)
    out = np.zeros(n, dtype=np.int64)
    ok = np.zeros(n, dtype=np.bool_)
    if n == 0:
        return out, ok
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=n)
    rest = np.ones(n, dtype=np.bool_)
    first = int(lengths[0])
    if first in _SHAPES and bool((lengths == first).all()):  # one shape: no regrouping
        out, ok = _parse_shape(texts, first, *_SHAPES[first])
        rest = ~ok
        out[rest] = 0
        uniform: list[int] = []
    else:
        uniform = np.unique(lengths).tolist()
    for length in uniform:
        shape = _SHAPES.get(length)
        if shape is None:
            continue
        idx = np.flatnonzero(lengths == length)
        group = [texts[i] for i in idx.tolist()]
        ms, good = _parse_shape(group, length, *shape)
        out[idx[good]] = ms[good]
        ok[idx[good]] = True
        rest[idx[good]] = False
    for i in np.flatnonzero(rest).tolist():
        v = parse_iso_ms(texts[i])
        if v is not None:
            out[i], ok[i] = v, True
    return out, ok


def _parse_shape(
    group: list[str], length: int, frac: int, offset: bool
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    m = len(group)
    try:
        buf = "".join(group).encode("ascii")
    except UnicodeEncodeError:  # non-ASCII: leave the whole group to the scalar parser
        return np.zeros(m, dtype=np.int64), np.zeros(m, dtype=np.bool_)
    c = np.frombuffer(buf, dtype=np.uint8).reshape(m, length)
    d = c - np.uint8(48)  # uint8 wraps: non-digits become > 9

    def num(*cols: int) -> npt.NDArray[np.int64]:
        v = d[:, cols[0]].astype(np.int64)
        for j in cols[1:]:
            v = v * 10 + d[:, j]
        return v

    digit_cols = [*_DIGITS, *range(20, 20 + frac)]
    tail = 19 + (frac + 1 if frac else 0)
    if offset:
        digit_cols += [tail + 1, tail + 2, tail + 4, tail + 5]
    good: npt.NDArray[np.bool_] = np.all(d[:, digit_cols] <= 9, axis=1)
    for pos, ch in _PUNCT:
        good &= c[:, pos] == ord(ch)
    if frac:
        good &= c[:, 19] == ord(".")
    off_ms: npt.NDArray[np.int64] | int = 0
    if offset:
        sign = c[:, tail]
        good &= ((sign == ord("+")) | (sign == ord("-"))) & (c[:, tail + 3] == ord(":"))
        oh, om = num(tail + 1, tail + 2), num(tail + 4, tail + 5)
        good &= (oh <= 23) & (om <= 59)
        off_ms = np.where(sign == ord("-"), -1, 1) * (oh * 3_600_000 + om * 60_000)
    else:
        good &= c[:, tail] == ord("Z")
    year, month, day = num(0, 1, 2, 3), num(5, 6), num(8, 9)
    hour, minute, second = num(11, 12), num(14, 15), num(17, 18)
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    dim = _MONTH_DAYS[np.clip(month, 0, 12)] + ((month == 2) & leap)
    good &= (year >= 1) & (month >= 1) & (month <= 12) & (day >= 1) & (day <= dim)
    good &= (hour <= 23) & (minute <= 59) & (second <= 59)
    milli = num(20, 21, 22) if frac else 0
    secs = hour * 3600 + minute * 60 + second
    ms = _days_from_civil(year, month, day) * 86_400_000 + secs * 1000 + milli - off_ms
    return ms.astype(np.int64, copy=False), good


def _days_from_civil(
    y: npt.NDArray[np.int64], m: npt.NDArray[np.int64], d: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm)."""
    y = y - (m <= 2)
    era = np.floor_divide(y, 400)
    yoe = y - era * 400
    mp = (m + 9) % 12
    doy = (153 * mp + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    days: npt.NDArray[np.int64] = era * 146_097 + doe - 719_468
    return days
