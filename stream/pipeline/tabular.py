"""Rows of a table (CSV, JSONL, Parquet) → the contract's columns, and column kinds inferred.

``driftstream check`` reads files, not Kafka records, so instead of JSON events it gets
chunks of columns (:class:`Chunk`, from :mod:`stream.adapters.tables`). This module
turns a chunk into the same :class:`~stream.contract.ModelBlock` the event contract
produces, cell by cell under the contract's rules (``stream.contract`` docstring, rule 5
and 7) so a value counts the same way in a file as in an event:

- **numeric**: a number; CSV text is parsed as a float, an empty cell is a null;
  a JSON boolean or a text that is not a number rejects the row (``wrong_type``).
  ``nan``/``inf`` text (and NaN in Parquet) is kept: the sketch counts NaN with the
  nulls and ±inf outside the reference range, exactly.
- **categorical**: text, integers as decimal text, booleans as ``true``/``false``;
  an empty CSV cell is a null; a float rejects the row (``wrong_type``); text longer
  than ``max_value_bytes`` rejects it (``oversized``).
- **time** (``--ts``): integer epoch ms or ISO-8601 with an offset; anything else,
  an empty cell included, rejects the row (``bad_ts``).
- a CSV row with more or fewer fields than the header is rejected (``bad_row``).

Rejected rows are counted by reason with the first examples (row number and column),
never dropped silently.

Kind inference (no config): a column is **numeric** when every non-empty value of the
sample (the first chunk of the reference) is a number — CSV text that parses as a
float, JSON numbers (not booleans), Parquet integer/float columns — and
**categorical** otherwise. The time column is not a feature; a column with no value
in the sample cannot be inferred and is left out with a note. ``--numeric COL`` /
``--categorical COL`` override the rule (e.g. a numeric code such as a zip code).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from stream.contract import CategoricalColumn, ModelBlock, NumericColumn, canonical_category
from stream.contract._time import MAX_EPOCH_MS, parse_iso_ms_many
from stream.core.vocabulary import Kind as FeatureKind

__all__ = [
    "BAD_ROW",
    "Cells",
    "Chunk",
    "Inferred",
    "Rejects",
    "chunk_block",
    "infer_kinds",
]

BAD_ROW = "bad_row"
"""A CSV row whose field count differs from the header's."""
EXAMPLES = 3
"""Example rejections kept per reason."""

Cells = Sequence[Any] | npt.NDArray[Any]
"""One column of a chunk: Python values (``str`` for CSV, JSON values for JSONL) or,
for Parquet numeric columns, a float64 array (NaN where null) with a null mask."""


@dataclass(frozen=True, slots=True, eq=False)
class Chunk:
    """Consecutive rows of a table as columns.

    Attributes:
        first_row: 1-based data row number of the first row (for messages).
        n: Rows in the chunk.
        columns: Column name → cells (a missing column is absent from the mapping).
        nulls: Null masks of array columns (Parquet).
        bad_rows: Positions of rows the reader could not split into the header's
            fields (CSV), with a detail line each; their cells are placeholders.
        source: ``csv``, ``jsonl`` or ``parquet`` (the cell rules differ).
    """

    first_row: int
    n: int
    columns: Mapping[str, Cells]
    source: Literal["csv", "jsonl", "parquet"]
    nulls: Mapping[str, npt.NDArray[np.bool_]] = field(default_factory=dict)
    bad_rows: Mapping[int, str] = field(default_factory=dict)


@dataclass
class Rejects:
    """Rows rejected, by reason, with the first few examples."""

    counts: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """Rows rejected for any reason."""
        return sum(self.counts.values())

    def add(self, reason: str, count: int, details: Sequence[str]) -> None:
        """Count ``count`` rows rejected for ``reason``; keep the first examples."""
        if count <= 0:
            return
        self.counts[reason] = self.counts.get(reason, 0) + count
        kept = self.examples.setdefault(reason, [])
        kept.extend(details[: max(0, EXAMPLES - len(kept))])

    def merge(self, other: Rejects) -> None:
        """Add ``other``'s counts and examples."""
        for reason, n in other.counts.items():
            self.add(reason, n, other.examples.get(reason, []))

    def line(self) -> str:
        """``wrong_type 3 (row 7, column 'age': …); bad_ts 1 (…)``."""
        return "; ".join(
            f"{r} {n:,} ({'; '.join(self.examples.get(r, []))})"
            for r, n in sorted(self.counts.items(), key=lambda kv: -kv[1])
        )


@dataclass(frozen=True)
class Inferred:
    """Kinds of the columns, and the columns left out with the reason."""

    kinds: dict[str, FeatureKind]
    skipped: dict[str, str]


def _is_number(v: Any) -> bool:
    return type(v) in (int, float)


def _parses(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def infer_kinds(
    sample: Chunk,
    *,
    exclude: Sequence[str] = (),
    numeric: Sequence[str] = (),
    categorical: Sequence[str] = (),
) -> Inferred:
    """Kind of every column of ``sample`` (module docstring: the rule), overrides applied.

    >>> c = Chunk(1, 3, {"a": ["1", "2.5", ""], "b": ["x", "1", "y"], "t": ["", "", ""]}, "csv")
    >>> inf = infer_kinds(c, categorical=["t"])
    >>> inf.kinds, inf.skipped
    ({'a': 'numeric', 'b': 'categorical', 't': 'categorical'}, {})
    >>> infer_kinds(c).skipped
    {'t': 'no value in the first 3 rows: give --numeric t or --categorical t'}
    """
    kinds: dict[str, FeatureKind] = {}
    skipped: dict[str, str] = {}
    for name, cells in sample.columns.items():
        if name in exclude:
            continue
        if name in numeric:
            kinds[name] = "numeric"
            continue
        if name in categorical:
            kinds[name] = "categorical"
            continue
        if isinstance(cells, np.ndarray):  # Parquet numeric column
            kinds[name] = "numeric"
            continue
        if sample.source == "csv":
            present = [v for v in cells if v != ""]
            is_num = all(_parses(v) for v in present)
        else:
            present = [v for v in cells if v is not None]
            is_num = all(_is_number(v) for v in present)
        if not present:
            skipped[name] = (
                f"no value in the first {sample.n:,} rows: give --numeric {name} "
                f"or --categorical {name}"
            )
            continue
        kinds[name] = "numeric" if is_num else "categorical"
    return Inferred(kinds, skipped)


@dataclass
class _Rows:
    """Rows still accepted in a chunk, and why the others were rejected."""

    ok: npt.NDArray[np.bool_]
    first_row: int
    reasons: dict[str, list[str]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def reject(self, bad: npt.NDArray[np.bool_], reason: str, what: str) -> None:
        """Reject the rows of ``bad`` that are still accepted (first reason wins)."""
        new = bad & self.ok
        n = int(np.count_nonzero(new))
        if not n:
            return
        self.ok &= ~new
        self.counts[reason] = self.counts.get(reason, 0) + n
        idx = np.flatnonzero(new)[:EXAMPLES].tolist()
        self.reasons.setdefault(reason, []).extend(
            f"row {self.first_row + i:,}: {what}" for i in idx
        )


def _numeric(
    cells: Cells, nulls: npt.NDArray[np.bool_] | None, source: str, rows: _Rows, name: str
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    if isinstance(cells, np.ndarray):
        values = cells.astype(np.float64, copy=False)
        mask = np.zeros(values.shape[0], np.bool_) if nulls is None else nulls
        return values, mask
    n = len(cells)
    if source == "csv":
        try:  # fast path: every cell a number (C loop)
            return np.array(cells, dtype=np.float64), np.zeros(n, np.bool_)
        except ValueError:
            pass
        texts = np.array(cells, dtype=object)
        mask = texts == ""
        texts[mask] = "nan"
        try:  # every cell a number or empty
            return texts.astype(np.float64), mask
        except ValueError:
            pass
        bad = np.zeros(n, np.bool_)
        values = np.full(n, math.nan)
        for i, v in enumerate(cells):
            if mask[i]:
                continue
            try:
                values[i] = float(v)
            except ValueError:
                bad[i] = True
        first = str(cells[int(np.flatnonzero(bad)[0])]) if bad.any() else ""
        rows.reject(bad, "wrong_type", f"column {name!r}: not a number ({first[:40]!r})")
        return values, mask | bad
    mask = np.fromiter((v is None for v in cells), np.bool_, n)
    kinds = np.fromiter((type(v) in (int, float) or v is None for v in cells), np.bool_, n)
    values = np.full(n, math.nan)
    good = np.flatnonzero(kinds & ~mask)
    try:
        values[good] = [float(cells[i]) for i in good.tolist()]
    except OverflowError:  # an integer beyond float range: the contract's wrong_type
        for i in good.tolist():
            try:
                values[i] = float(cells[i])
            except OverflowError:
                kinds[i] = False
    rows.reject(~kinds, "wrong_type", f"column {name!r}: numeric, got a non-number")
    return values, mask | ~kinds


def _categorical(
    cells: Cells,
    nulls: npt.NDArray[np.bool_] | None,
    source: str,
    rows: _Rows,
    name: str,
    max_bytes: int,
) -> tuple[npt.NDArray[np.object_], npt.NDArray[np.bool_]]:
    n = len(cells)
    out = np.empty(n, dtype=object)
    if isinstance(cells, np.ndarray):  # a Parquet number column declared categorical
        absent = np.zeros(n, np.bool_) if nulls is None else nulls
        cells = [
            None if m else str(int(v)) if float(v).is_integer() else float(v)
            for v, m in zip(cells.tolist(), absent.tolist(), strict=True)
        ]
    if source == "csv":
        out = np.array(cells, dtype=object)
        mask = out == ""
        out[mask] = None
    else:
        bad = np.zeros(n, np.bool_)
        vals: list[str | None] = []
        for i, v in enumerate(cells):
            try:
                vals.append(canonical_category(v))
            except ValueError:
                vals.append(None)
                bad[i] = True
        out[:] = vals
        rows.reject(bad, "wrong_type", f"column {name!r}: categorical, got a float/array/object")
        mask = np.fromiter((v is None for v in vals), np.bool_, n)
    # Character count bounds the UTF-8 length from below: only long texts are encoded.
    chars = np.fromiter((0 if v is None else len(v) for v in out), np.int64, n)
    longish = chars * 4 > max_bytes
    if longish.any():
        over = np.zeros(n, np.bool_)
        for i in np.flatnonzero(longish).tolist():
            over[i] = len(str(out[i]).encode()) > max_bytes
        rows.reject(over, "oversized", f"column {name!r}: text over {max_bytes} bytes")
    return out, mask


def _times(cells: Cells, source: str, rows: _Rows, name: str) -> npt.NDArray[np.int64]:
    n = len(cells)
    if isinstance(cells, np.ndarray):  # Parquet timestamps, already epoch ms
        return cells.astype(np.int64, copy=False)
    out = np.zeros(n, np.int64)
    ok = np.zeros(n, np.bool_)
    texts: list[str] = []
    at: list[int] = []
    for i, v in enumerate(cells):
        if source == "csv" and isinstance(v, str) and v.lstrip("-").isdigit():
            v = int(v)
        if type(v) is int:
            if -MAX_EPOCH_MS < v < MAX_EPOCH_MS:
                out[i], ok[i] = v, True
        elif isinstance(v, str) and v:
            texts.append(v)
            at.append(i)
    if texts:
        ms, good = parse_iso_ms_many(texts)
        idx = np.asarray(at, np.int64)
        out[idx[good]] = ms[good]
        ok[idx[good]] = True
    rows.reject(
        ~ok, "bad_ts", f"column {name!r}: not epoch ms or ISO-8601 with a UTC offset (or empty)"
    )
    return out


def chunk_block(
    chunk: Chunk,
    model: str,
    kinds: Mapping[str, FeatureKind],
    *,
    ts_column: str | None,
    max_value_bytes: int = 1_024,
) -> tuple[ModelBlock | None, Rejects]:
    """The accepted rows of ``chunk`` as a model block (None if none), and the rejects.

    A declared column missing from the chunk is all nulls (the contract's absent key).
    Without ``ts_column`` every row's time is 0: the whole table is one window.
    """
    rows = _Rows(np.ones(chunk.n, np.bool_), chunk.first_row)
    if chunk.bad_rows:
        bad = np.zeros(chunk.n, np.bool_)
        bad[list(chunk.bad_rows)] = True
        first = sorted(chunk.bad_rows)[:EXAMPLES]
        rows.counts[BAD_ROW] = len(chunk.bad_rows)
        rows.reasons[BAD_ROW] = [f"row {chunk.first_row + i:,}: {chunk.bad_rows[i]}" for i in first]
        rows.ok &= ~bad
    numeric: dict[str, NumericColumn] = {}
    categorical: dict[str, CategoricalColumn] = {}
    for name, kind in kinds.items():
        cells = chunk.columns.get(name)
        if cells is None:
            if kind == "numeric":
                numeric[name] = NumericColumn(np.full(chunk.n, math.nan), np.ones(chunk.n, bool))
            else:
                categorical[name] = CategoricalColumn(
                    np.full(chunk.n, None, dtype=object), np.ones(chunk.n, bool)
                )
        elif kind == "numeric":
            numeric[name] = NumericColumn(
                *_numeric(cells, chunk.nulls.get(name), chunk.source, rows, name)
            )
        else:
            categorical[name] = CategoricalColumn(
                *_categorical(
                    cells, chunk.nulls.get(name), chunk.source, rows, name, max_value_bytes
                )
            )
    if ts_column is not None:
        ts = _times(chunk.columns.get(ts_column, [None] * chunk.n), chunk.source, rows, ts_column)
    else:
        ts = np.zeros(chunk.n, np.int64)
    rejects = Rejects()
    for reason, n in rows.counts.items():
        rejects.add(reason, n, rows.reasons.get(reason, []))
    keep = np.flatnonzero(rows.ok)
    if keep.size == 0:
        return None, rejects
    whole = keep.size == chunk.n
    pos = np.arange(keep.size, dtype=np.int64)
    block = ModelBlock(
        model=model,
        rows=pos,
        offsets=pos,
        ts_ms=ts if whole else ts[keep],
        ids=np.full(keep.size, None, dtype=object),
        numeric={
            n: c if whole else NumericColumn(c.values[keep], c.nulls[keep])
            for n, c in numeric.items()
        },
        categorical={
            n: c if whole else CategoricalColumn(c.values[keep], c.nulls[keep])
            for n, c in categorical.items()
        },
    )
    return block, rejects
