"""Tables on disk (CSV, JSONL, Parquet) read in chunks of columns, in bounded memory.

Each reader yields :class:`~stream.pipeline.tabular.Chunk` objects of at most
``chunk_rows`` rows, so a file larger than memory is read in constant space; what a
cell means is decided by :mod:`stream.pipeline.tabular`. Parquet needs pyarrow
(``pip install 'driftstream[parquet]'``); CSV and JSONL need nothing.

JSONL lines are flat objects (``{"age": 31, "country": "DE"}``) or driftstream
events (``{"model": …, "ts": …, "features": {…}, "prediction": …}``), which are
flattened to their features plus ``ts`` and ``prediction``; events of another model
than the one checked are skipped and counted.
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from stream.errors import DriftstreamError
from stream.pipeline.tabular import Chunk

__all__ = ["CHUNK_ROWS", "Table", "TableError", "open_table"]

CHUNK_ROWS = 50_000
"""Rows per chunk: ~50 MB of Python objects for 20 CSV columns."""
_DECODE = msgspec.json.Decoder()


class TableError(DriftstreamError):
    """A table file cannot be read (missing, empty, unknown format, no pyarrow)."""


@dataclass
class Table:
    """One file: its format, column names, and counters the reader fills in."""

    path: Path
    source: str
    columns: list[str]
    skipped_models: dict[str, int] = field(default_factory=dict)

    def chunks(self, chunk_rows: int = CHUNK_ROWS, model: str | None = None) -> Iterator[Chunk]:
        """The rows in chunks (``model``: keep only that model's events in event JSONL)."""
        if self.source == "csv":
            return _csv_chunks(self, chunk_rows)
        if self.source == "jsonl":
            return _jsonl_chunks(self, chunk_rows, model)
        return _parquet_chunks(self, chunk_rows)


def open_table(path: Path) -> Table:
    """Open ``path`` by its suffix and read its column names (one clear error otherwise)."""
    if not path.is_file():
        msg = f"{path}: no such file"
        raise TableError(msg)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with path.open(newline="", encoding="utf-8") as fh:
            header = next(csv.reader(fh), None)
        if not header:
            msg = f"{path}: empty file (no header row)"
            raise TableError(msg)
        return Table(path, "csv", [h.strip() for h in header])
    if suffix in (".jsonl", ".ndjson", ".json"):
        return Table(path, "jsonl", _jsonl_columns(path))
    if suffix in (".parquet", ".pq"):
        pq = _pyarrow_parquet(path)
        try:
            schema = pq.read_schema(path)
        except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for a bad file
            msg = f"{path}: not a readable Parquet file ({exc})"
            raise TableError(msg) from None
        return Table(path, "parquet", list(schema.names))
    msg = f"{path}: unknown format {suffix or '(no suffix)'!r}: use .csv, .jsonl or .parquet"
    raise TableError(msg)


def _pyarrow_parquet(path: Path) -> Any:
    try:
        import pyarrow.parquet as pq  # noqa: PLC0415 - optional extra
    except ImportError:
        msg = f"{path}: reading Parquet needs pyarrow: pip install 'driftstream[parquet]'"
        raise TableError(msg) from None
    return pq


def _csv_chunks(table: Table, chunk_rows: int) -> Iterator[Chunk]:
    names = table.columns
    width = len(names)
    with table.path.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        next(reader, None)
        first = 1
        while True:
            rows = list(itertools.islice(reader, chunk_rows))
            if not rows:
                return
            bad: dict[int, str] = {}
            if len(set(map(len, rows))) != 1 or len(rows[0]) != width:
                for i, r in enumerate(rows):
                    if len(r) != width:
                        bad[i] = f"{len(r)} fields, the header has {width}"
                        rows[i] = [""] * width
            cols = dict(zip(names, zip(*rows, strict=True), strict=True))
            yield Chunk(first, len(rows), cols, "csv", bad_rows=bad)
            first += len(rows)


def _jsonl_columns(path: Path, sample: int = 1_000) -> list[str]:
    names: dict[str, None] = {}
    seen = 0
    with path.open("rb") as fh:
        for line in fh:
            if not line.strip():
                continue
            try:
                obj = _DECODE.decode(line)
            except msgspec.DecodeError:
                continue
            if isinstance(obj, dict):
                names.update(dict.fromkeys(_flatten(obj)))
            seen += 1
            if seen >= sample:
                break
    if seen == 0:
        msg = f"{path}: empty file (no JSON line)"
        raise TableError(msg)
    return list(names)


def _flatten(obj: dict[str, Any]) -> dict[str, Any]:
    """An event's features plus ts and prediction; a flat row as it is."""
    feats = obj.get("features")
    if isinstance(feats, dict) and "model" in obj:
        row = dict(feats)
        for key in ("ts", "prediction"):
            if key in obj:
                row[key] = obj[key]
        return row
    return obj


def _jsonl_chunks(table: Table, chunk_rows: int, model: str | None) -> Iterator[Chunk]:
    with table.path.open("rb") as fh:
        first = 1
        lineno = 0
        rows: list[dict[str, Any]] = []
        bad: dict[int, str] = {}
        for line in fh:
            lineno += 1
            if not line.strip():
                continue
            try:
                obj = _DECODE.decode(line)
            except msgspec.DecodeError as exc:
                bad[len(rows)] = f"line {lineno}: not JSON ({exc})"
                rows.append({})
                obj = None
            if obj is not None and not isinstance(obj, dict):
                bad[len(rows)] = f"line {lineno}: not a JSON object"
                rows.append({})
            elif obj is not None:
                other = obj.get("model") if isinstance(obj.get("features"), dict) else None
                if model is not None and other is not None and other != model:
                    table.skipped_models[str(other)] = table.skipped_models.get(str(other), 0) + 1
                    continue
                rows.append(_flatten(obj))
            if len(rows) >= chunk_rows:
                yield _json_chunk(table, rows, first, bad)
                first += len(rows)
                rows, bad = [], {}
        if rows:
            yield _json_chunk(table, rows, first, bad)


def _json_chunk(table: Table, rows: list[dict[str, Any]], first: int, bad: dict[int, str]) -> Chunk:
    names = dict.fromkeys(table.columns)
    for r in rows:
        for k in r:
            if k not in names:
                names[k] = None
                table.columns.append(k)
    cols = {name: [r.get(name) for r in rows] for name in names}
    return Chunk(first, len(rows), cols, "jsonl", bad_rows=bad)


def _parquet_chunks(table: Table, chunk_rows: int) -> Iterator[Chunk]:
    pq = _pyarrow_parquet(table.path)
    import pyarrow as pa  # noqa: PLC0415 - optional extra, present when pq imported
    import pyarrow.compute as pc  # noqa: PLC0415

    first = 1
    for batch in pq.ParquetFile(table.path).iter_batches(batch_size=chunk_rows):
        cols: dict[str, Any] = {}
        nulls: dict[str, Any] = {}
        for name, col in zip(batch.schema.names, batch.columns, strict=True):
            t = col.type
            if pa.types.is_timestamp(t):
                ms = pc.cast(col, pa.timestamp("ms", tz=t.tz), safe=False)
                cols[name] = [
                    None if v is None else int(v) for v in pc.cast(ms, pa.int64()).to_pylist()
                ]
            elif pa.types.is_integer(t) or pa.types.is_floating(t):
                mask = np.asarray(col.is_null().to_numpy(zero_copy_only=False), np.bool_)
                filled = pc.fill_null(pc.cast(col, pa.float64()), 0.0)
                cols[name] = np.asarray(filled.to_numpy(zero_copy_only=False), np.float64)
                nulls[name] = mask
            else:
                cols[name] = col.to_pylist()
        yield Chunk(first, batch.num_rows, cols, "parquet", nulls=nulls)
        first += batch.num_rows
