"""Rollups: sealed partition-hours → model hour windows → model day windows.

A pass for one model runs these steps; every step is idempotent, so a pass can
be repeated (a duplicate seal notice, a restart mid-pass) without changing
anything or reporting a window twice:

1. **Progress.** The model's hour H is complete when every partition that has
   ingest state for the model has sealed H (its seal point ≥ H's end), idle
   ones included (they seal by the wall clock). A claimed partition that sealed
   nothing yet holds everything back (``complete_through``).
2. **Hours.** Each pending hour (an hour some partition sealed with data) that
   is complete is merged across partitions, feature by feature, and written as
   the model's hour window with a create-only write: the first writer wins, a
   repeat writes nothing and is not reported.
3. **Days.** A day whose end every partition has passed is merged from its hour
   windows and written the same way. It is written once, so before step 2 every
   hour of a complete day that holds data in the store is made pending, whether
   or not its seal notice came in yet (a notice can come in a later batch than
   the pass that finds the day complete): a day window always holds every hour
   of the day that has data (``_catch_up``).

Merges are exact and order-free (the sketches' laws), so the windows are the
same bytes whatever the partitioning, the worker count or the pass timing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from stream.catalog import ModelSpec
from stream.core.sketch import JointSketch, NumericSketch
from stream.core.sketch.params import Sketch, SketchParams, merge_sketches
from stream.core.window import DAY, DAY_MS, HOUR, HOUR_MS, WindowKey, floor_to
from stream.pipeline.ingest import joint_zero
from stream.pipeline.ports import JOINT_KEY, StoredWindow, WindowStore

__all__ = ["Decoding", "RollupResult", "complete_through", "roll_up"]


@dataclass(frozen=True, slots=True)
class RollupResult:
    """Windows this pass created, in time order (hours, then days)."""

    hours: tuple[StoredWindow, ...]
    days: tuple[StoredWindow, ...]


class Parts(Protocol):
    """Where a rollup decodes partition-hours (a replay: the sketches ingest sealed)."""

    def load(self, kind: str, blob: bytes) -> Sketch:
        """``blob`` of a column of ``kind``, decoded."""
        ...

    def load_joint(self, blob: bytes) -> JointSketch:
        """A joint sketch's blob, decoded."""
        ...


class Decoding(Protocol):
    """Where a rollup decodes blobs and hands on what it merged (the evaluator's cache).

    ``load(kind, blob)`` is ``blob`` decoded (a cache may answer it); ``remember(kind,
    blob, sketch)`` tells it that ``sketch`` is what ``blob`` decodes to. Sketches are
    values with a canonical encoding (equal state, equal bytes, and decoding gives the
    same state back), so a merged sketch judged as it is gives the decisions its bytes
    decoded would.
    """

    def load(self, kind: str, blob: bytes) -> Sketch:
        """``blob`` of a column of ``kind``, decoded."""
        ...

    def remember(self, kind: str, blob: bytes, sketch: Sketch) -> None:
        """``sketch`` is ``blob`` decoded: it need not be decoded again."""
        ...

    def load_joint(self, blob: bytes) -> JointSketch:
        """A joint sketch's blob, decoded."""
        ...

    def remember_joint(self, blob: bytes, joint: JointSketch) -> None:
        """``joint`` is ``blob`` decoded."""
        ...


@dataclass(frozen=True, slots=True)
class _Plain:
    """No cache: every blob decoded, nothing handed on."""

    params: SketchParams

    def load(self, kind: str, blob: bytes) -> Sketch:
        return self.params.load(kind, blob)

    def remember(self, kind: str, blob: bytes, sketch: Sketch) -> None:
        return None

    def load_joint(self, blob: bytes) -> JointSketch:
        return JointSketch.from_bytes(blob)

    def remember_joint(self, blob: bytes, joint: JointSketch) -> None:
        return None


def _merge(
    spec: ModelSpec,
    parts: Sequence[Mapping[str, bytes]],
    params: SketchParams,
    decoding: Decoding,
    parts_from: Parts,
    *,
    cached: bool,
) -> dict[str, bytes]:
    """The merge of ``parts``, column by column; each merged sketch is handed on.

    ``cached``: the parts are windows (a day's hours), decoded through the cache;
    partition-hours are read once, so they come from ``parts_from`` (not cached).
    """
    source: Parts = decoding if cached else parts_from
    load, load_joint = source.load, source.load_joint
    out: dict[str, bytes] = {}
    for name, kind in spec.kinds.items():
        loaded = [load(kind, blob) for blobs in parts if (blob := blobs.get(name)) is not None]
        whole = _merge_all(loaded) if loaded else params.zero(kind)
        out[name] = whole.to_bytes()
        decoding.remember(kind, out[name], whole)
    joint = joint_zero(spec)
    if joint is not None:
        for blobs in parts:
            blob = blobs.get(JOINT_KEY)
            if blob is None:
                continue
            part = load_joint(blob)
            # Parts over other columns (stored before a config change) are left out:
            # the window's joint rows then fall short of its events, which is reported.
            if (part.columns, part.excluded) == (joint.columns, joint.excluded):
                joint = joint.merge(part)
        out[JOINT_KEY] = joint.to_bytes()
        decoding.remember_joint(out[JOINT_KEY], joint)
    return out


def _merge_all(sketches: list[Sketch]) -> Sketch:
    """The merge of ``sketches`` in order (numeric ones in one pass: the same sketch)."""
    if all(isinstance(s, NumericSketch) for s in sketches):
        return NumericSketch.merge_all(sketches)  # type: ignore[arg-type]
    merged = sketches[0]
    for s in sketches[1:]:
        merged = merge_sketches(merged, s)
    return merged


def complete_through(progress: Mapping[int, tuple[int | None, bool]]) -> int | None:
    """Time through which the model's windows are final; None while that is unknown.

    Every partition with a seal point must have sealed it, idle ones included: an
    idle partition seals by the wall clock (hour end + allowed lateness passed), so
    it holds rollups back only as long as an event could still be on time there,
    and an event that comes later is counted late, never merged after its window
    was written. Active partitions that sealed nothing yet hold everything back;
    idle ones that never saw the model hold nothing back. With every partition
    idle (a replay's end), all they sealed is final.

    >>> complete_through({0: (7_200_000, False), 1: (3_600_000, False), 2: (None, True)})
    3600000
    >>> complete_through({0: (7_200_000, False), 1: (3_600_000, True)})
    3600000
    >>> complete_through({0: (None, False), 1: (3_600_000, False)}) is None
    True
    >>> complete_through({0: (7_200_000, True), 1: (None, True)})
    7200000
    """
    active = [s for s, idle in progress.values() if not idle]
    sealed = [s for s, _ in progress.values() if s is not None]
    if active:
        if any(s is None for s in active):
            return None
        return min(sealed)
    return max(sealed) if sealed else None


def _catch_up(model: str, store: WindowStore, through: int) -> None:
    """Step 2's prelude: a complete day's hours with data become pending, notices or not.

    A day is written once, so every hour of it that holds data must have its hour
    window first. A seal notice can come in a later batch than the pass that finds
    the day complete (one flush's notices split over two batches, an outbox
    published again by a new owner); those hours are complete too (the day is), so
    they are rolled up now, in time order with the rest, and their notice later
    finds the window made. Only days about to be written are looked at: days with
    hour windows or pending hours, and no day window yet.
    """
    days = {floor_to(h, DAY_MS) for h in store.pending_hours(model)}
    days.update(store.pending_days(model))
    for d in sorted(days):
        if d + DAY_MS > through:
            break
        store.add_pending(model, store.data_hours(model, d, d + DAY_MS))


def roll_up(
    spec: ModelSpec,
    store: WindowStore,
    params: SketchParams | None = None,
    on_window: Callable[[StoredWindow], None] | None = None,
    decoding: Decoding | None = None,
    sealed: Parts | None = None,
) -> RollupResult:
    """One idempotent rollup pass for ``spec`` (module docstring, steps 1–3).

    ``on_window`` is called with each window created (progress of long passes).
    ``decoding``: decode through a cache and hand the merged sketches on (a replay's
    evaluator: the day merges and the evaluation then decode no hour again);
    ``sealed``: where partition-hours are decoded (a replay's ingest hands its sketches).
    """
    p = params or SketchParams()
    dec = decoding if decoding is not None else _Plain(p)
    parts_from = sealed if sealed is not None else _Plain(p)
    through = complete_through(store.progress(spec.name))
    if through is None:
        return RollupResult((), ())
    _catch_up(spec.name, store, through)
    hours = []
    for h in store.pending_hours(spec.name):
        if h + HOUR_MS > through:
            break
        parts = store.partition_hours(spec.name, h)
        window = StoredWindow(
            key=WindowKey(HOUR, h),
            events=sum(n for n, _ in parts),
            late=store.late_count(spec.name, h),
            sketches=_merge(spec, [blobs for _, blobs in parts], p, dec, parts_from, cached=False),
        )
        if store.create_window(spec.name, window):
            hours.append(window)
            if on_window is not None:
                on_window(window)
    days = []
    for d in store.pending_days(spec.name):
        if d + DAY_MS > through:
            break
        stored = [
            store.window(spec.name, WindowKey(HOUR, h)) for h in range(d, d + DAY_MS, HOUR_MS)
        ]
        present = [w for w in stored if w is not None]
        window = StoredWindow(
            key=WindowKey(DAY, floor_to(d, DAY_MS)),
            events=sum(w.events for w in present),
            late=sum(w.late for w in present),
            sketches=_merge(spec, [w.sketches for w in present], p, dec, parts_from, cached=True),
        )
        if store.create_window(spec.name, window):
            days.append(window)
            if on_window is not None:
                on_window(window)
    return RollupResult(tuple(hours), tuple(days))
