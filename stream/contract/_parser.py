"""Batch parsing: raw record values of one partition → per-model columns + rejections."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from stream.catalog import Catalog, ModelSpec
from stream.contract import _columnar
from stream.contract._codec import Columns, ModelCodec, build_codec, build_decoder, extract
from stream.contract._record import Accepted, Rejected, check_record
from stream.contract._types import (
    REASONS,
    UNKNOWN_MODEL,
    CategoricalColumn,
    Limits,
    ModelBlock,
    NumericColumn,
    ParsedBatch,
    Rejection,
)

__all__ = ["ContractParser", "parse_batch"]

#: Distinct unknown model names reported per batch; the rest (and absurdly long names)
#: are counted under OTHER_MODELS so a hostile topic cannot explode metric cardinality.
MAX_UNKNOWN_NAMES: Final = 100
MAX_NAME_CHARS: Final = 128
OTHER_MODELS: Final = "<other>"
#: Undeclared keys the fast path learns per model (beyond that, such events take the
#: slower record path: same results, more CPU).
MAX_LEARNED_FEATURES: Final = 32
MAX_LEARNED_TOP_LEVEL: Final = 16


_Groups = dict[type[Any], tuple[list[int], list[Any]]]
_log = logging.getLogger(__name__)
_WARNED: list[bool] = []


class ContractParser:
    """Parses batches against a catalog; reusable, and fast after the first batch.

    The fast path has two stages: the C extension (:mod:`stream.contract._columnar`)
    claims the plainly valid records, the msgspec typed decode takes the rest; whatever
    neither can prove valid goes to the per-record reference. The parser caches typed
    decoders and learns undeclared keys it meets so that their events stay on the msgspec
    path. All of this changes speed only, never results (property-tested to agree with the
    record path, with and without the extension).

    Args:
        catalog: The registered models.
        limits: Contract bounds (``Limits.from_settings(settings.ingest)``).
        native: Use the C extension: None when it is built (one warning line per process
            when it is not), True to require it, False never.

    Raises:
        RuntimeError: ``native=True`` and the extension is not built.
    """

    def __init__(
        self, catalog: Catalog, limits: Limits | None = None, *, native: bool | None = None
    ) -> None:
        self.catalog = catalog
        self.limits = limits or Limits()
        self._native: _columnar.NativeParse | None = None
        if native or (native is None and _columnar.available()):
            self._native = _columnar.NativeParse(catalog, self.limits)
        elif native is None and not _WARNED:
            _WARNED.append(True)
            _log.warning("%s", _columnar.UNAVAILABLE)
        self._learned_features: dict[str, list[str]] = {m: [] for m in catalog.names}
        self._learned_top: dict[str, list[str]] = {m: [] for m in catalog.names}
        self._codecs: dict[type[Any], ModelCodec] = {}
        self._decoder: Any = None
        self._rebuild()

    def _rebuild(self) -> None:
        codecs = [
            build_codec(spec, i, self._learned_features[spec.name], self._learned_top[spec.name])
            for i, spec in enumerate(self.catalog.specs())
        ]
        self._codecs = {c.event_type: c for c in codecs}
        self._decoder = build_decoder(codecs)

    def _learn(self, acc: Accepted) -> bool:
        """Remember undeclared keys so later events carrying them stay on the fast path."""
        changed = False
        for keys, known, cap in (
            (acc.undeclared, self._learned_features[acc.model], MAX_LEARNED_FEATURES),
            (acc.extra_keys, self._learned_top[acc.model], MAX_LEARNED_TOP_LEVEL),
        ):
            for key in keys:
                if key not in known and len(known) < cap and _learnable(key):
                    known.append(key)
                    changed = True
        return changed

    def parse(
        self,
        values: Sequence[bytes | None],
        timestamps_ms: Sequence[int] | npt.NDArray[np.int64],
        offsets: Sequence[int] | npt.NDArray[np.int64],
        partition: int,
        *,
        now_ms: int | None = None,
        since_ms: int | None = None,
        fast: bool = True,
    ) -> ParsedBatch:
        """Parse one batch of one partition.

        Args:
            values: Record values (bytes; None for tombstones), in offset order.
            timestamps_ms: Kafka record timestamps (ms; -1 when absent).
            offsets: Kafka offsets.
            partition: The partition the batch came from.
            now_ms: The worker's clock: event times later than it + ``max_ahead_ms``
                are ``ts_in_future`` (None: no clock bound). The module never reads a
                wall clock; the caller passes it (a replay passes its range end).
            since_ms: The clock's earliest reading (live: ``now_ms``; a replay: its
                range start): event times earlier than it - ``max_past_ms`` are
                ``ts_out_of_bounds`` (None: only the record timestamp bounds the past).
            fast: Use the batch fast path (False: the per-record reference path only).

        Returns:
            The :class:`ParsedBatch`; never raises on bad input data.
        """
        n = len(values)
        rts = np.asarray(timestamps_ms, dtype=np.int64).reshape(n)
        offs = np.asarray(offsets, dtype=np.int64).reshape(n)
        if fast and self._decoder is not None:
            parts, slow = self._fast(values, rts, (since_ms, now_ms))
        else:
            parts, slow = [], list(range(n))
        rejections: list[Rejection] = []
        unknown: Counter[str] = Counter()
        rows: dict[str, list[tuple[int, Accepted]]] = {}
        relearn = False
        for i in slow:
            raw = values[i]
            out = check_record(
                raw, int(rts[i]), self.catalog, self.limits, now_ms, since_ms=since_ms
            )
            if isinstance(out, Accepted):
                rows.setdefault(out.model, []).append((i, out))
                if fast:
                    relearn |= self._learn(out)
            elif isinstance(out, Rejected):
                raw_bytes = None if raw is None else bytes(raw)
                rejections.append(
                    Rejection(
                        out.reason, out.detail, raw_bytes, partition, int(offs[i]), int(rts[i])
                    )
                )
            else:
                name = out.model
                if len(name) > MAX_NAME_CHARS or (
                    name not in unknown and len(unknown) >= MAX_UNKNOWN_NAMES
                ):
                    name = OTHER_MODELS
                unknown[name] += 1
        if relearn:
            self._rebuild()
        blocks, undeclared = self._assemble(parts, rows, offs)
        counts = dict.fromkeys(("accepted", UNKNOWN_MODEL, *REASONS), 0)
        counts["accepted"] = sum(len(b) for b in blocks.values())
        counts[UNKNOWN_MODEL] = sum(unknown.values())
        for r in rejections:
            counts[r.reason] += 1
        return ParsedBatch(
            partition=partition,
            n_records=n,
            blocks=blocks,
            rejections=tuple(rejections),
            unknown_models=dict(unknown),
            undeclared=undeclared,
            counts=counts,
            next_offset=int(offs.max()) + 1 if n else None,
        )

    def _fast(
        self,
        values: Sequence[bytes | None],
        rts: npt.NDArray[np.int64],
        clock: tuple[int | None, int | None],
    ) -> tuple[list[_columnar.Part], list[int]]:
        parts: list[_columnar.Part] = []
        slow: list[int] = []
        if self._native is None:
            return self._typed(values, rts, clock, None, parts, slow)
        claimed, unclaimed = self._native.parse(values, rts, clock[1], clock[0])
        for name, pos, cols in claimed:
            if cols.bad.any():
                slow.extend(pos[cols.bad].tolist())
            parts.append((name, pos, cols))
        if len(unclaimed):
            rest = [values[i] for i in unclaimed.tolist()]
            return self._typed(rest, rts[unclaimed], clock, unclaimed, parts, slow)
        slow.sort()
        return parts, slow

    def _typed(
        self,
        values: Sequence[bytes | None],
        rts: npt.NDArray[np.int64],
        clock: tuple[int | None, int | None],
        where: npt.NDArray[np.int64] | None,
        parts: list[_columnar.Part],
        slow: list[int],
    ) -> tuple[list[_columnar.Part], list[int]]:
        """The msgspec stage over ``values`` (at batch positions ``where``; None: all)."""
        try:
            longest: int | None = max(map(len, values), default=0)  # type: ignore[arg-type]
        except TypeError:  # a tombstone (None): the record path rejects it
            longest = None
        groups, failed = self._decode(values, longest)
        for typ, (idx, events) in groups.items():
            codec = self._codecs[typ]
            # positions ascending and unique: n of them are 0..n-1
            n_idx = len(idx)
            pos = (
                np.arange(n_idx, dtype=np.int64)
                if n_idx == len(values)
                else np.asarray(idx, dtype=np.int64)
            )
            cols = extract(
                codec,
                events,
                rts[pos],
                self.limits,
                clock[1],
                since_ms=clock[0],
                longest_raw=longest,
            )
            if cols.bad.any():
                failed.extend(pos[cols.bad].tolist())
            parts.append((codec.spec.name, pos if where is None else where[pos], cols))
        slow.extend(failed if where is None else where[failed].tolist())
        slow.sort()
        return parts, slow

    def _decode(
        self, values: Sequence[bytes | None], longest: int | None
    ) -> tuple[_Groups, list[int]]:
        """Typed decode, grouped by model Struct; positions that need the record path.

        ``longest``: byte length of the longest value (None: the batch has a tombstone).
        """
        decode = self._decoder.decode
        limit = self.limits.max_event_bytes
        try:  # the common clean batch: one C-level pass, no per-record bookkeeping
            if longest is None or longest > limit:
                raise OverflowError
            decoded = list(map(decode, values))
        except Exception:  # noqa: BLE001 - isolate the bad records one by one below
            decoded = None
        groups: _Groups = {}
        slow: list[int] = []
        if decoded is not None:
            kinds = set(map(type, decoded))
            if len(kinds) == 1:
                return {kinds.pop(): (list(range(len(decoded))), decoded)}, slow
            for i, event in enumerate(decoded):
                group = groups.setdefault(type(event), ([], []))
                group[0].append(i)
                group[1].append(event)
            return groups, slow
        for i, raw in enumerate(values):
            try:
                if len(raw) > limit:  # type: ignore[arg-type]  # None → TypeError → slow
                    slow.append(i)
                    continue
                event = decode(raw)
            except Exception:  # noqa: BLE001 - the record path classifies every failure
                slow.append(i)
                continue
            group = groups.setdefault(type(event), ([], []))
            group[0].append(i)
            group[1].append(event)
        return groups, slow

    def _assemble(
        self,
        parts: list[_columnar.Part],
        rows: dict[str, list[tuple[int, Accepted]]],
        offs: npt.NDArray[np.int64],
    ) -> tuple[dict[str, ModelBlock], dict[tuple[str, str], int]]:
        fast_by_model: dict[str, list[tuple[npt.NDArray[np.int64], Columns]]] = {}
        for name, pos, cols in parts:
            fast_by_model.setdefault(name, []).append((pos, cols))
        blocks: dict[str, ModelBlock] = {}
        undeclared: Counter[tuple[str, str]] = Counter()
        for spec in self.catalog.specs():
            pieces: list[_Piece] = []
            for pos, cols in fast_by_model.get(spec.name, ()):
                keep = ~cols.bad
                if keep.any():
                    pieces.append(_piece_from_columns(pos, cols, keep))
                    for key, present in cols.undeclared.items():
                        c = int(np.count_nonzero(present & keep))
                        if c:
                            undeclared[(spec.name, key)] += c
            slow_rows = rows.get(spec.name)
            if slow_rows:
                pieces.append(_piece_from_rows(spec, slow_rows))
                for _, acc in slow_rows:
                    for key in acc.undeclared:
                        undeclared[(spec.name, key)] += 1
            if pieces:
                blocks[spec.name] = _block(spec, pieces, offs)
        return blocks, dict(sorted(undeclared.items()))


_Coded = dict[str, tuple[npt.NDArray[np.int32], npt.NDArray[np.object_]]]
_Piece = tuple[
    npt.NDArray[np.int64],
    npt.NDArray[np.int64],
    npt.NDArray[np.object_],
    dict[str, npt.NDArray[np.float64]],
    dict[str, npt.NDArray[np.object_]],
    _Coded,
]


def _piece_from_columns(
    pos: npt.NDArray[np.int64], cols: Columns, keep: npt.NDArray[np.bool_]
) -> _Piece:
    if keep.all():  # the common clean batch: the columns as they are, no copies
        return pos, cols.ts_ms, cols.ids, cols.numeric, cols.categorical, cols.codes
    return (
        pos[keep],
        cols.ts_ms[keep],
        cols.ids[keep],
        {k: v[keep] for k, v in cols.numeric.items()},
        {k: v[keep] for k, v in cols.categorical.items()},
        {k: (c[keep], cats) for k, (c, cats) in cols.codes.items()},
    )


def _piece_from_rows(spec: ModelSpec, rows: list[tuple[int, Accepted]]) -> _Piece:
    accs = [a for _, a in rows]
    numeric = {
        name: np.array([a.values[name] for a in accs], dtype=np.float64)
        for name in spec.numeric_features
    }
    categorical = {
        name: np.array([a.values[name] for a in accs], dtype=object)
        for name in spec.categorical_features
    }
    return (
        np.array([i for i, _ in rows], dtype=np.int64),
        np.array([a.ts_ms for a in accs], dtype=np.int64),
        np.array([a.event_id for a in accs], dtype=object),
        numeric,
        categorical,
        {},
    )


def _block(spec: ModelSpec, pieces: list[_Piece], offs: npt.NDArray[np.int64]) -> ModelBlock:
    coded: _Coded = {}
    if len(pieces) == 1:
        pos, ts, ids, num, cat, coded = pieces[0]
    else:  # the C pass's codes are per piece: the merged column has values only
        pos = np.concatenate([p[0] for p in pieces])
        order = np.argsort(pos, kind="stable")
        pos = pos[order]
        ts = np.concatenate([p[1] for p in pieces])[order]
        ids = np.concatenate([p[2] for p in pieces])[order]
        num = {k: np.concatenate([p[3][k] for p in pieces])[order] for k in pieces[0][3]}
        cat = {k: np.concatenate([p[4][k] for p in pieces])[order] for k in pieces[0][4]}
    numeric = {k: NumericColumn(v, np.isnan(v)) for k, v in num.items()}
    categorical = {
        k: CategoricalColumn(v, _is_none(v))
        if k not in coded
        else CategoricalColumn(v, coded[k][0] < 0, *coded[k])
        for k, v in cat.items()
    }
    return ModelBlock(spec.name, pos, offs[pos], ts, ids, numeric, categorical)


def _learnable(key: str) -> bool:
    """Whether a key can be a msgspec field name: short, no quotes, backslashes, controls."""
    return 0 < len(key) <= MAX_NAME_CHARS and not any(c in '"\\' or c < " " for c in key)


def _is_none(values: npt.NDArray[np.object_]) -> npt.NDArray[np.bool_]:
    mask: npt.NDArray[np.bool_] = np.equal(values, None)  # type: ignore[call-overload]
    return mask


_PARSERS: dict[int, tuple[Catalog, Limits, ContractParser]] = {}


def parse_batch(
    values: Sequence[bytes | None],
    timestamps_ms: Sequence[int] | npt.NDArray[np.int64],
    offsets: Sequence[int] | npt.NDArray[np.int64],
    partition: int,
    catalog: Catalog,
    limits: Limits | None = None,
    *,
    now_ms: int | None = None,
    since_ms: int | None = None,
) -> ParsedBatch:
    """Parse one batch of one partition (a cached :class:`ContractParser` per catalog).

    See :meth:`ContractParser.parse`; long-running code can hold its own parser instead.
    """
    lim = limits or Limits()
    cached = _PARSERS.get(id(catalog))
    if cached is None or cached[0] is not catalog or cached[1] != lim:
        if len(_PARSERS) > 8:
            _PARSERS.clear()
        cached = _PARSERS[id(catalog)] = (catalog, lim, ContractParser(catalog, lim))
    return cached[2].parse(
        values, timestamps_ms, offsets, partition, now_ms=now_ms, since_ms=since_ms
    )
