"""Tables on disk (CSV, JSONL, Parquet) read in chunks of columns, in bounded memory.

Each reader yields :class:`~stream.pipeline.tabular.Chunk` objects of at most
``chunk_rows`` rows, so a file larger than memory is read in constant space; what a
cell means is decided by :mod:`stream.pipeline.tabular`. ``.csv.gz`` and ``.jsonl.gz``
are read through gzip. Parquet needs pyarrow
(``pip install 'driftstream[parquet]'``); CSV and JSONL need nothing.

JSONL lines are flat objects (``{"age": 31, "country": "DE"}``) or driftstream
events (``{"model": …, "ts": …, "features": {…}, "prediction": …}``), which are
flattened to their features plus ``ts`` and ``prediction``; events of another model
than the one checked are skipped and counted.
"""

from __future__ import annotations

import csv
import gzip
import io
import itertools
import re
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, cast

import msgspec
import numpy as np

from stream.errors import DriftstreamError
from stream.pipeline.tabular import Chunk

__all__ = ["CHUNK_ROWS", "Table", "TableError", "open_table", "safe_name"]

CHUNK_ROWS = 50_000
"""Rows per chunk: ~50 MB of Python objects for 20 CSV columns."""
_DECODE = msgspec.json.Decoder()


class TableError(DriftstreamError):
    """A table file cannot be read (missing, empty, unknown format, no pyarrow)."""


_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]")


def safe_name(name: str, taken: Collection[str]) -> str:
    """A feature name (letters, digits, ``_ . -``; ≤ 128) for a column, unique in ``taken``.

    >>> safe_name("annual income (€)", []), safe_name("x", ["x"]), safe_name("", [])
    ('annual_income____', 'x_2', 'column')
    """
    out = _UNSAFE.sub("_", name.strip())[:128] or "column"
    if out[0] in ".-":
        out = "_" + out[:127]
    base, i = out, 2
    while out in taken:
        out = f"{base[:120]}_{i}"
        i += 1
    return out


@dataclass
class Table:
    """One file: its format, column names, and counters the reader fills in.

    ``columns`` are the names chunks use: the file's, made valid feature names
    (:func:`safe_name`); ``renamed`` maps an original name to its new one (a repeated
    name: its first column), ``changes`` lists every rename for the user.
    """

    path: Path
    source: str
    columns: list[str]
    skipped_models: dict[str, int] = field(default_factory=dict)
    renamed: dict[str, str] = field(default_factory=dict)
    changes: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def of(cls, path: Path, source: str, names: Iterable[str]) -> Table:
        """A table whose columns are ``names`` made valid and unique."""
        table = cls(path, source, [])
        for name in names:
            table.add_column(name)
        return table

    def add_column(self, name: str) -> str:
        """Register a column of the file; its name in chunks."""
        safe = safe_name(name, self.columns)
        if safe != name:
            self.changes.append((name, safe))
            if name not in self.columns:  # a repeated name keeps pointing at its first column
                self.renamed.setdefault(name, safe)
        self.columns.append(safe)
        return safe

    def name_of(self, name: str) -> str:
        """The chunk name of a column given by its name in the file (or already safe)."""
        return self.renamed.get(name, name)

    def chunks(self, chunk_rows: int = CHUNK_ROWS, model: str | None = None) -> Iterator[Chunk]:
        """The rows in chunks (``model``: keep only that model's events in event JSONL)."""
        if self.source == "csv":
            return _csv_chunks(self, chunk_rows)
        if self.source == "jsonl":
            return _guarded(self.path, _jsonl_chunks(self, chunk_rows, model))
        return _parquet_chunks(self, chunk_rows)


def open_table(path: Path) -> Table:
    """Open ``path`` by its suffix and read its column names (one clear error otherwise)."""
    if not path.is_file():
        msg = f"{path}: no such file"
        raise TableError(msg)
    suffixes = [x.lower() for x in path.suffixes[-2:]]
    suffix = (
        suffixes[-2] if suffixes[-1:] == [".gz"] and len(suffixes) == 2 else path.suffix.lower()
    )
    if suffix == ".csv":
        try:
            with _text(path) as fh:
                header = next(csv.reader(fh), None)
        except (csv.Error, UnicodeDecodeError, OSError, EOFError) as exc:
            msg = f"{path}: header row: {exc}"
            raise TableError(msg) from None
        if not header:
            msg = f"{path}: empty file (no header row)"
            raise TableError(msg)
        return Table.of(path, "csv", header)
    if suffix in (".jsonl", ".ndjson", ".json"):
        return Table.of(path, "jsonl", _jsonl_columns(path))
    if suffix in (".parquet", ".pq"):
        pq = _pyarrow_parquet(path)
        try:
            schema = pq.read_schema(path)
        except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for a bad file
            msg = f"{path}: not a readable Parquet file ({exc})"
            raise TableError(msg) from None
        return Table.of(path, "parquet", list(schema.names))
    msg = (
        f"{path}: unknown format {suffix or '(no suffix)'!r}: use .csv, .jsonl or .parquet "
        "(.csv.gz and .jsonl.gz too)"
    )
    raise TableError(msg)


def _binary(path: Path) -> IO[bytes]:
    """The file's bytes, gunzipped on the fly for ``.gz``."""
    if path.suffix.lower() == ".gz":
        return cast("IO[bytes]", gzip.open(path, "rb"))
    return path.open("rb")


def _text(path: Path) -> IO[str]:
    """The file as text for the csv module (UTF-8, an Excel BOM dropped; ``.gz`` too)."""
    return io.TextIOWrapper(_binary(path), encoding="utf-8-sig", newline="")


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
    with _text(table.path) as fh:
        reader = csv.reader(fh)
        first = 1
        try:
            next(reader, None)
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
        except (csv.Error, UnicodeDecodeError, OSError, EOFError) as exc:
            # A field over csv.field_size_limit(), a NUL byte, not UTF-8: the file is broken.
            msg = f"{table.path}: line {reader.line_num}: {exc}"
            raise TableError(msg) from None


def _guarded(path: Path, chunks: Iterator[Chunk]) -> Iterator[Chunk]:
    """A file that cannot be read on (a broken .gz, a read error) is one clear error."""
    try:
        yield from chunks
    except (OSError, EOFError) as exc:
        msg = f"{path}: {exc}"
        raise TableError(msg) from None


def _jsonl_columns(path: Path, sample: int = 1_000) -> list[str]:
    try:
        return _jsonl_names(path, sample)
    except (OSError, EOFError) as exc:
        msg = f"{path}: {exc}"
        raise TableError(msg) from None


def _jsonl_names(path: Path, sample: int) -> list[str]:
    names: dict[str, None] = {}
    seen = 0
    with _binary(path) as fh:
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
    with _binary(table.path) as fh:
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
    keys: dict[str, str] = {}  # key in the file → column name
    for r in rows:
        for k in r:
            if k not in keys:
                known = table.name_of(k)
                keys[k] = known if known in table.columns else table.add_column(k)
    cols = {name: [r.get(k) for r in rows] for k, name in keys.items()}
    return Chunk(first, len(rows), cols, "jsonl", bad_rows=bad)


def _parquet_chunks(table: Table, chunk_rows: int) -> Iterator[Chunk]:
    pq = _pyarrow_parquet(table.path)
    import pyarrow as pa  # noqa: PLC0415 - optional extra, present when pq imported
    import pyarrow.compute as pc  # noqa: PLC0415

    first = 1
    for batch in pq.ParquetFile(table.path).iter_batches(batch_size=chunk_rows):
        cols: dict[str, Any] = {}
        nulls: dict[str, Any] = {}
        for raw, col in zip(batch.schema.names, batch.columns, strict=True):
            name = table.name_of(raw)
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
