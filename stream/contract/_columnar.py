"""The native columnar parse: a C pass claims the plainly valid records of a batch.

``stream.contract._native`` (built from ``native/fastparse.c`` by ``make install``)
scans each value once and writes the columns straight into buffers, without a Python
object per event or per number; a categorical column comes back as int32 codes into the
batch's distinct values (one ``str`` per distinct value), so its null mask and the
sketch's counts are integer operations. It claims only records inside a strict common subset of
the contract (see the C file's header: flat events, declared keys only, no escapes,
ordinary numbers and ISO times) and hands back every other position, which then takes
the msgspec fast path and, when that cannot prove it valid, the per-record reference
(:func:`stream.contract._record.check_record`). So the extension decides speed, never
results: the property tests run the same equivalence against the record path with and
without it. Event-time bounds are checked here, in numpy, as the msgspec path does.

Without a C compiler the install still succeeds: :data:`UNAVAILABLE` then says why, the
parser uses the msgspec path, and the worker logs that line once at start.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from stream.catalog import Catalog, ModelSpec
from stream.contract._codec import Columns
from stream.contract._types import Limits

try:
    import stream.contract._native as _native
except ImportError as exc:  # pragma: no cover - exercised only on machines without a compiler
    _native = None  # type: ignore[assignment]
    UNAVAILABLE: str | None = (
        f"native parse extension not built ({exc}); using the pure-Python parse "
        "(parse ~2x slower per event): run `make install` with a C compiler (gcc/cc)"
    )
else:
    UNAVAILABLE = None

__all__ = ["UNAVAILABLE", "NativeParse", "available"]

Int64s = npt.NDArray[np.int64]
#: One model's claimed records: (model name, positions in the batch, columns).
Part = tuple[str, Int64s, Columns]


def available() -> bool:
    """Whether the C extension is importable."""
    return _native is not None


def _kind(kind: str) -> int:
    return 0 if kind == "numeric" else 1


class NativeParse:
    """The catalog's models as the extension's spec, and the columns it returns.

    Args:
        catalog: The registered models.
        limits: Contract bounds.

    Raises:
        RuntimeError: When the extension is not built (check :func:`available` first).
    """

    def __init__(self, catalog: Catalog, limits: Limits) -> None:
        if _native is None:
            raise RuntimeError(UNAVAILABLE)
        self.limits = limits
        self._specs: list[ModelSpec] = list(catalog.specs())
        self._spec = tuple(
            (
                s.name.encode(),
                tuple(f.name.encode() for f in s.features),
                bytes(_kind(f.kind) for f in s.features),
                -1 if s.prediction is None else _kind(s.prediction.kind),
            )
            for s in self._specs
        )
        # Column names in the extension's order: features as declared, prediction last.
        self._names: list[tuple[list[str], list[str]]] = []
        for s in self._specs:
            cols = [*s.features, *([s.prediction] if s.prediction is not None else [])]
            self._names.append(
                (
                    [f.name for f in cols if f.kind == "numeric"],
                    [f.name for f in cols if f.kind != "numeric"],
                )
            )

    def parse(
        self,
        values: Sequence[bytes | None],
        rts: Int64s,
        now_ms: int | None,
        since_ms: int | None,
    ) -> tuple[list[Part], Int64s]:
        """Columns of the claimed records per model, and the unclaimed positions.

        Claimed records whose event time breaks a bound are flagged in ``Columns.bad``
        (the record path names the reason), exactly as the msgspec path flags them.
        """
        assert _native is not None  # noqa: S101 - checked in __init__
        vals = values if type(values) is list else list(values)
        unclaimed_buf, models = _native.parse(
            vals, self._spec, self.limits.max_event_bytes, self.limits.max_value_bytes
        )
        parts: list[Part] = []
        for spec, (num_names, cat_names), out in zip(self._specs, self._names, models, strict=True):
            if out is None:
                continue
            pos_buf, ts_buf, given_buf, num, cat, ids = out
            pos = np.frombuffer(pos_buf, dtype=np.int64)
            given = np.frombuffer(given_buf, dtype=np.bool_)
            record_ts = rts[pos]
            ts = np.where(given, np.frombuffer(ts_buf, dtype=np.int64), record_ts)
            bad = ~given & (record_ts < 0)  # no ts and no record timestamp: bad_ts
            bad |= _out_of_bounds(ts, record_ts, self.limits, now_ms, since_ms)
            coded = {k: _coded(c) for k, c in zip(cat_names, cat, strict=True)}
            cols = Columns(
                ts,
                _objects(ids),
                {
                    k: np.frombuffer(b, dtype=np.float64)
                    for k, b in zip(num_names, num, strict=True)
                },
                {k: v for k, (v, _, _) in coded.items()},
                {},
                bad,
                {k: (c, cats) for k, (_, c, cats) in coded.items()},
            )
            parts.append((spec.name, pos, cols))
        return parts, np.frombuffer(unclaimed_buf, dtype=np.int64)


def _coded(
    out: tuple[bytearray, list[str]],
) -> tuple[npt.NDArray[np.object_], npt.NDArray[np.int32], npt.NDArray[np.object_]]:
    """A coded column (codes, -1 = null; distinct values) → (values, codes, categories)."""
    buf, cats = out
    codes = np.frombuffer(buf, dtype=np.int32)
    table = np.empty(len(cats) + 1, dtype=object)  # the last entry (None) is code -1's
    table[:-1] = cats
    values: npt.NDArray[np.object_] = table[codes]
    return values, codes, table[:-1]


def _objects(items: list[Any]) -> npt.NDArray[np.object_]:
    out = np.empty(len(items), dtype=object)
    out[:] = items
    return out


def _out_of_bounds(
    ts: Int64s, record_ts: Int64s, limits: Limits, now_ms: int | None, since_ms: int | None
) -> npt.NDArray[np.bool_]:
    """The contract's event-time bounds (record timestamp, worker clock), vectorised."""
    has_ref = record_ts >= 0
    bad: npt.NDArray[np.bool_] = has_ref & (
        (ts > record_ts + limits.max_future_ms) | (ts < record_ts - limits.max_past_ms)
    )
    if now_ms is not None:
        bad |= ts > now_ms + limits.max_ahead_ms
    if since_ms is not None:
        bad |= ts < since_ms - limits.max_past_ms
    return bad
