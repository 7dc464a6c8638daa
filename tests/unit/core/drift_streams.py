"""Seeded synthetic feature streams for the decision tests, built as sketches (no Kafka).

The shape follows the design brief's prototype: a reference of 7 days × 24 hours of
~74 events, then live hours of ~1,500 events. Ten features: six numeric families
(lognormal, normal, counts, bounded, bimodal, heavy-tailed) and four categorical ones
(3, 12 Zipf, 5 and 2 categories). ``shift`` moves a numeric feature by that many of its
standard deviations; categorical features take explicit shares.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping

import numpy as np

from stream.core.calibrate import ModelCalibration, calibrate_feature, calibrate_model
from stream.core.nullspread import Sketch
from stream.core.sketch import CategoricalSketch, NumericSketch
from stream.core.vocabulary import Kind
from stream.core.window import DAY_MS, HOUR_MS

T0 = 1_767_225_600_000  # 2026-01-01T00:00Z: the reference week starts here
LIVE0 = T0 + 7 * DAY_MS  # live stream starts right after it
REF_RATE, LIVE_RATE = 74, 1_500
Gen = Callable[[np.random.Generator, int, float], np.ndarray]

# Each numeric family moves by `shift` of its own standard deviation.
NUMERIC: dict[str, Gen] = {
    "amount": lambda g, n, s: g.lognormal(3.0, 1.0, n) + s * 25.0,
    "age": lambda g, n, s: g.normal(40.0 + 10.0 * s, 10.0, n),
    "items": lambda g, n, s: g.poisson(3.0, n) + s * np.sqrt(3.0),
    "score": lambda g, n, s: g.beta(2.0, 5.0, n) + 0.16 * s,
    "bimodal": lambda g, n, s: (
        np.where(g.random(n) < 0.5, -2.0, 2.0) + g.normal(0, 0.5, n) + 2.06 * s
    ),
    "latency": lambda g, n, s: g.standard_t(5.0, n) + 1.29 * s,
}
CATEGORICAL: dict[str, tuple[list[str], list[float]]] = {
    "device": (["mobile", "desktop", "tablet"], [0.46, 0.44, 0.10]),
    "country": (
        [f"c{i:02d}" for i in range(12)],
        list(1 / np.arange(1, 13) / np.sum(1 / np.arange(1, 13))),
    ),
    "plan": (["free", "pro", "team", "enterprise", "edu"], [0.5, 0.25, 0.12, 0.08, 0.05]),
    "flag": (["y", "n"], [0.3, 0.7]),
}
KINDS: dict[str, Kind] = {
    **{f: "numeric" for f in NUMERIC},
    **{f: "categorical" for f in CATEGORICAL},
}


def numeric(
    g: np.random.Generator, feature: str, n: int, shift: float = 0.0, null: float = 0.0
) -> NumericSketch:
    """One window of a numeric feature; ``null`` is the share of missing values."""
    k = int(g.binomial(n, null)) if null > 0 else 0
    return NumericSketch.zero().update(NUMERIC[feature](g, n - k, shift), nulls=k)


def categorical(
    g: np.random.Generator,
    feature: str,
    n: int,
    shares: Mapping[str, float] | None = None,
) -> CategoricalSketch:
    """One window of a categorical feature, optionally with other category shares."""
    labels, probs = CATEGORICAL[feature]
    if shares is not None:
        labels, probs = list(shares), list(shares.values())
    counts = g.multinomial(n, np.asarray(probs) / np.sum(probs))
    values = np.repeat(np.asarray(labels, dtype=object), counts)
    return CategoricalSketch.zero().update(values.tolist())


def window(g: np.random.Generator, feature: str, n: int) -> Sketch:
    """A no-drift window of any feature."""
    return numeric(g, feature, n) if feature in NUMERIC else categorical(g, feature, n)


def seasonal(g: np.random.Generator, start_ms: int, n: int, shift: float = 0.0) -> NumericSketch:
    """A strongly seasonal feature: daily cycle of the mean, amplitude 1.5σ."""
    hod = (start_ms // HOUR_MS) % 24
    mean = 1.5 * np.sin(2 * np.pi * hod / 24) + shift
    return NumericSketch.zero().update(g.normal(mean, 1.0, n))


def merge(sketches: list[Sketch]) -> Sketch:
    """Merge of a non-empty list."""
    out = sketches[0]
    for s in sketches[1:]:
        out = out.merge(s)  # type: ignore[arg-type]
    return out


@functools.cache
def reference_hours() -> dict[int, dict[str, Sketch]]:
    """The reference week: hour start → feature → sketch (``seasonal`` included)."""
    g = np.random.default_rng(20260101)
    hours: dict[int, dict[str, Sketch]] = {}
    for i in range(7 * 24):
        t = T0 + i * HOUR_MS
        n = int(g.poisson(REF_RATE))
        row: dict[str, Sketch] = {f: window(g, f, n) for f in KINDS}
        row["seasonal"] = seasonal(g, t, n)
        hours[t] = row
    return hours


@functools.cache
def reference(feature: str) -> Sketch:
    """The merged reference of one feature."""
    hours = reference_hours()
    return merge([hours[t][feature] for t in sorted(hours)])


@functools.cache
def calibration() -> ModelCalibration:
    """Hour and day calibrations against the reference, for the ten stationary features."""
    hours = reference_hours()
    stationary = {t: {f: row[f] for f in KINDS} for t, row in hours.items()}
    return calibrate_model(
        "m",
        KINDS,
        stationary,
        baselines=("reference",),
        live_n={"hour": LIVE_RATE, "day": 24 * LIVE_RATE},
    )


@functools.cache
def seasonal_calibration(baseline: str) -> object:
    """The seasonal feature's hourly calibration for one baseline."""
    hours = {t: row["seasonal"] for t, row in reference_hours().items()}
    return calibrate_feature(
        "seasonal",
        "numeric",
        hours,
        baseline=baseline,  # type: ignore[arg-type]
        live_n=LIVE_RATE,
    )
