"""Seeded synthetic feature events, for the demo, tests and benchmarks (pure, no I/O).

Every numeric feature is normal with its own mean and spread; every categorical
feature draws from a fixed skewed set of categories. Scheduled drifts change a
feature from an event time on; seasonality adds a daily and weekly cycle.
Event times advance evenly at ``events_per_hour`` (accelerated event time: a
week of events can be produced in seconds).

>>> from stream.catalog import ModelSpec
>>> spec = ModelSpec.model_validate({"name": "m", "features": {"x": "numeric", "c": "categorical"}})
>>> gen = SyntheticStream(spec, start_ms=0, events_per_hour=3600, seed=1)
>>> events = gen.events(0, 3)
>>> [e["ts"] for e in events], sorted(events[0]["features"])
([0, 1000, 2000], ['c', 'x'])
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import orjson
from scipy.special import ndtr

from stream.catalog import ModelSpec
from stream.core.window import DAY_MS

__all__ = ["Drift", "SyntheticStream", "feature_profile"]

WEEK_MS = 7 * DAY_MS


@dataclass(frozen=True, slots=True)
class Drift:
    """A scheduled change of one feature between ``start_ms`` and ``end_ms`` (exclusive).

    kinds: ``shift`` (mean + ``amount`` standard deviations), ``scale`` (spread ×
    ``amount``), ``null`` (share ``amount`` of values become null; 1.0: the feature
    vanished), ``share`` (category ``category`` takes share ``amount``, the others
    shrink in proportion; a category the feature never had is a new category),
    ``ramp`` (mean + ``amount`` standard deviations reached linearly at ``end_ms``
    and held after it — the one kind whose ``end_ms`` does not end it),
    ``correlate`` (a numeric feature's standard-normal draw becomes
    ``amount·z_partner + sqrt(1 − amount²)·z``: correlation ``amount`` with numeric
    feature ``partner``, both marginals unchanged; a later one overrides an earlier).
    """

    feature: str
    kind: Literal["shift", "scale", "null", "share", "ramp", "correlate"]
    amount: float
    start_ms: int
    end_ms: int | None = None
    category: str | None = None
    partner: str | None = None

    def active(
        self, ts: np.ndarray[Any, np.dtype[np.int64]]
    ) -> np.ndarray[Any, np.dtype[np.bool_]]:
        """Mask of the event times this drift applies to."""
        on = ts >= self.start_ms
        return on if self.end_ms is None or self.kind == "ramp" else on & (ts < self.end_ms)

    def progress(
        self, ts: np.ndarray[Any, np.dtype[np.int64]]
    ) -> np.ndarray[Any, np.dtype[np.float64]]:
        """A ramp's share of ``amount`` reached at each event time (0 before, 1 after the end)."""
        span = max(1, (self.end_ms or self.start_ms) - self.start_ms)
        return np.clip((ts - self.start_ms) / span, 0.0, 1.0)


def feature_profile(index: int) -> tuple[float, float, list[str], list[float]]:
    """Deterministic base distribution of the ``index``-th feature of a model.

    Returns (mean, std, categories, shares): numeric features use the first two,
    categorical ones the last two.
    """
    mean = 10.0 * (index + 1)
    std = 1.0 + index % 4
    k = 3 + index % 5
    weights = 1.0 / np.arange(1, k + 1)
    return mean, std, [f"c{j}" for j in range(k)], (weights / weights.sum()).tolist()


@dataclass(frozen=True)
class SyntheticStream:
    """Events of one model; the ``i``-th event is the same whatever batches ask for it."""

    spec: ModelSpec
    start_ms: int
    events_per_hour: int
    seed: int = 0
    drifts: Sequence[Drift] = ()
    seasonal: dict[str, float] = field(default_factory=dict)

    def times(self, first: int, n: int) -> np.ndarray[Any, np.dtype[np.int64]]:
        """Event times of events first..first+n (evenly spaced, integer ms)."""
        idx = np.arange(first, first + n, dtype=np.int64)
        return self.start_ms + (idx * 3_600_000) // self.events_per_hour

    def columns(self, first: int, n: int) -> tuple[np.ndarray[Any, Any], dict[str, Any]]:
        """Event times and per-feature values (NaN / None for nulls) of events first..first+n."""
        ts = self.times(first, n)
        # One generator per chunk of 4096 events keeps event i independent of batching.
        cols: dict[str, list[Any]] = {f.name: [] for f in self.spec.monitored}
        chunk = 4096
        for c0 in range(first // chunk * chunk, first + n, chunk):
            lo, hi = max(c0, first), min(c0 + chunk, first + n)
            rng = np.random.default_rng([self.seed, c0])
            block_ts = ts[lo - first : hi - first]
            drawn = {}
            for feat in self.spec.monitored:
                draws = rng.random(chunk)[lo - c0 : hi - c0]
                drawn[feat.name] = (draws, rng.standard_normal(chunk)[lo - c0 : hi - c0])
            for i, feat in enumerate(self.spec.monitored):
                draws, own = drawn[feat.name]
                normal = own
                for d in self.drifts:  # later drifts override earlier ones where active
                    if d.kind == "correlate" and d.feature == feat.name and d.partner in drawn:
                        mixed = d.amount * drawn[d.partner][1] + np.sqrt(1 - d.amount**2) * own
                        normal = np.where(d.active(block_ts), mixed, normal)
                cols[feat.name].extend(
                    self._values(i, feat.name, feat.kind, block_ts, draws, normal)
                )
        return ts, cols

    def _values(
        self,
        index: int,
        name: str,
        kind: str,
        ts: np.ndarray[Any, np.dtype[np.int64]],
        draws: np.ndarray[Any, np.dtype[np.float64]],
        normal: np.ndarray[Any, np.dtype[np.float64]],
    ) -> list[Any]:
        mean, std, cats, shares = feature_profile(index)
        amp = self.seasonal.get(name, 0.0)
        phase = 2 * np.pi * (ts % DAY_MS) / DAY_MS
        weekly = np.where((ts // DAY_MS + 3) % 7 >= 5, 1.0, 0.0)  # epoch day 0 was a Thursday
        season = amp * (np.sin(phase) + weekly)
        null = np.zeros(ts.shape, dtype=bool)
        drifts = [d for d in self.drifts if d.feature == name]
        if kind == "numeric":
            mu = np.full(ts.shape, mean) + season * std
            sd = np.full(ts.shape, std)
            for d in drifts:
                on = d.active(ts)
                if d.kind == "shift":
                    mu = np.where(on, mu + d.amount * std, mu)
                elif d.kind == "ramp":
                    mu = mu + d.amount * std * d.progress(ts)
                elif d.kind == "scale":
                    sd = np.where(on, sd * d.amount, sd)
                elif d.kind == "null":
                    null |= on & (draws < d.amount)
            values = mu + sd * normal
            return [
                None if z else float(v) for v, z in zip(values.tolist(), null.tolist(), strict=True)
            ]
        new = [d.category for d in drifts if d.kind == "share" and d.category not in (None, *cats)]
        cats = cats + sorted({c for c in new if c is not None})
        p = np.tile(np.asarray(shares + [0.0] * (len(cats) - len(shares))), (ts.size, 1))
        if amp:
            p[:, 0] = np.clip(p[:, 0] * (1 + 0.5 * amp * np.sin(phase)), 0.01, 0.99)
        for d in drifts:
            on = d.active(ts)
            if d.kind == "share" and d.category in cats:
                j = cats.index(d.category)
                rest = 1.0 - p[:, j : j + 1]
                scaled = p * ((1.0 - d.amount) / np.where(rest > 0, rest, 1.0))
                scaled[:, j] = d.amount
                p = np.where(on[:, None], scaled, p)
            elif d.kind == "null":
                null |= on & (draws < d.amount)
        p /= p.sum(axis=1, keepdims=True)
        uniform = ndtr(normal)  # Φ(z) of a standard normal is uniform, independent of ``draws``
        pick = (np.cumsum(p, axis=1) < uniform[:, None]).sum(axis=1)
        pick = np.minimum(pick, len(cats) - 1)
        return [None if z else cats[k] for k, z in zip(pick.tolist(), null.tolist(), strict=True)]

    def events(self, first: int, n: int) -> list[dict[str, Any]]:
        """Events first..first+n as dicts (the event contract's shape)."""
        ts, cols = self.columns(first, n)
        names = [f.name for f in self.spec.features]
        pred = self.spec.prediction.name if self.spec.prediction else None
        out = []
        for i, t in enumerate(ts.tolist()):
            ev: dict[str, Any] = {
                "model": self.spec.name,
                "ts": t,
                "id": f"{self.spec.name}-{first + i}",
                "features": {f: cols[f][i] for f in names},
            }
            if pred is not None:
                ev["prediction"] = cols[pred][i]
            out.append(ev)
        return out

    def encoded(self, first: int, n: int) -> list[bytes]:
        """Events first..first+n as JSON bytes."""
        return [orjson.dumps(e) for e in self.events(first, n)]

    def batches(self, total: int, batch: int = 10_000) -> Iterator[list[bytes]]:
        """All ``total`` events, ``batch`` at a time."""
        for first in range(0, total, batch):
            yield self.encoded(first, min(batch, total - first))

    def records(self, total: int, batch: int = 10_000) -> Iterator[tuple[bytes, int]]:
        """All ``total`` events as (JSON bytes, event time): record timestamp = event time."""
        for first in range(0, total, batch):
            n = min(batch, total - first)
            yield from zip(self.encoded(first, n), self.times(first, n).tolist(), strict=True)
