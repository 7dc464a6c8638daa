"""Stationary false pages of the model-health measures over a fortnight (k15c).

Binary: the k15t stream (``label_shift_seasonal.draw``: positive share 0.10, with or
without a ± 0.02 daily cycle and the scores' separation ± 15 % with it), its windows
now carrying the prediction sketch, so the CBPE estimate (``estimated:auc``,
``estimated:accuracy``) is judged on every hour and day window as the worker does.
Multiclass: 3 classes, shares 0.5 / 0.3 / 0.2 (with a cycle: ± 0.05 moved between the
first two), accuracy 0.85 (with a cycle: ± 0.03).

Each fortnight runs through the production :class:`HealthEvaluator` (hour and day
windows, labels 1–48 h late, coverage stages, lifecycles) twice on the same draws:
``old`` = the reference as stored before k15c (binary: k15t's spread without the
calibration/estimate fits; multiclass: no spread), ``new`` = the reference the
builder stores now. Prints the triggered alerts per measure, and with ``--shift``
(from day 10) the hours from onset to the first page of the measure it moves.

Run: ``.venv/bin/python benchmarks/health_false_pages.py [--kind binary|multiclass]
[--stream k15t|calibrated] [--seeds 0 1 2] [--rates 150 1500] [--shift …]``
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from label_shift_seasonal import draw  # noqa: E402

from stream.catalog import ModelSpec  # noqa: E402
from stream.core.alert import Alert, build_alert  # noqa: E402
from stream.core.lifecycle import AlertEvent  # noqa: E402
from stream.core.multiclass import MulticlassPerformance  # noqa: E402
from stream.core.multiclass import merge_all as merge_multi  # noqa: E402
from stream.core.performance import BinaryPerformance, Spread, merge_all, spread_of  # noqa: E402
from stream.core.sketch import NumericSketch  # noqa: E402
from stream.core.window import DAY, DAY_MS, HOUR, HOUR_MS, WindowKey  # noqa: E402
from stream.pipeline.health_eval import HealthEvaluator  # noqa: E402
from stream.pipeline.memory import MemoryHealthStore  # noqa: E402
from stream.pipeline.ports import LabelHourWrite, LabelWrite, StoredWindow  # noqa: E402

T0 = 1_767_225_600_000
DAYS, ONSET = 14, 10
BINARY = ModelSpec.model_validate(
    {
        "name": "m",
        "features": {"x": "numeric"},
        "prediction": "numeric",
        "labels": {"max_label_delay_ms": 2 * DAY_MS},
    }
)
MULTI = ModelSpec.model_validate(
    {
        "name": "m",
        "features": {"x": "numeric"},
        "labels": {"classes": ["a", "b", "c"], "max_label_delay_ms": 2 * DAY_MS},
    }
)
K15T_MEASURES = {"positive_share", "auc", "accuracy"}
"""What a k15t-built binary reference's spread holds (no calibration, no estimate)."""


def _encode(e: AlertEvent) -> bytes:
    return build_alert(e, dashboard_base="https://d.example.com").to_json()


STREAM = {"name": "k15t"}
"""Which binary stream: 'k15t' (scores that are not probabilities: ECE ≈ 0.26) or
'calibrated' (a logistic model calibrated at the reference: ECE ≈ 0)."""


def draw_calibrated(
    rng: np.random.Generator, n: int, start: int, amp: float, shift: str | None
) -> tuple[np.ndarray, np.ndarray]:
    """s = σ(−2.2 + 1.7 z); y ~ σ(−2.2 + 1.7 z + the cycle + the shift): a calibrated model
    whose outcome odds cycle over the day (amp 0.02: ± 0.25 in logit, the scores ± 0.15)."""
    phase = 2 * np.pi * (start % DAY_MS) / DAY_MS
    z = rng.normal(0.0, 1.0, n)
    c = amp / 0.02 * np.sin(phase)
    s = 1 / (1 + np.exp(-(-2.2 + 0.15 * c + 1.7 * z)))
    lift = {"up": 0.5, "down": -0.5}.get(shift or "", 0.0)
    y = rng.random(n) < 1 / (1 + np.exp(-(-2.2 + 0.25 * c + lift + 1.7 * z)))
    return s, y


def draw_binary(
    rng: np.random.Generator, n: int, start: int, amp: float, shift: str | None
) -> tuple[np.ndarray, np.ndarray]:
    if STREAM["name"] == "calibrated":
        return draw_calibrated(rng, n, start, amp, shift)
    s, y = draw(rng, n, start, amp)
    if shift == "calibration":  # concept drift: 5 % of outcomes drawn at the base rate
        flip = rng.random(n) < 0.05
        y = np.where(flip, rng.random(n) < 0.10, y)
    elif shift == "share":
        s, y = draw(rng, n, start, amp, 0.05)
    elif shift == "odds":  # 30 % of the negatives scored ≥ 0.5 turn positive: P(y | s) moves
        y = y | ((s >= 0.5) & (rng.random(n) < 0.3))
    elif shift == "scores":  # the scores 0.1 lower, the same outcomes: P(y | s) moves
        s = np.clip(s - 0.1, 0.0, 1.0)
    return s, y


def draw_multi(
    rng: np.random.Generator, n: int, start: int, amp: float, shift: str | None
) -> tuple[np.ndarray, np.ndarray]:
    phase = 2 * np.pi * (start % DAY_MS) / DAY_MS
    a = 0.05 * (amp > 0) * np.sin(phase)
    shares = [0.5 + a, 0.3 - a, 0.2]
    if shift == "share":
        shares = [shares[0] - 0.1, shares[1], shares[2] + 0.1]
    acc = 0.85 + 0.03 * (amp > 0) * np.cos(phase) - (0.1 if shift == "accuracy" else 0.0)
    true = rng.choice(3, size=n, p=shares)
    wrong = (true + rng.integers(1, 3, size=n)) % 3
    return true, np.where(rng.random(n) < acc, true, wrong)


def fortnight(
    kind: str, rate: int, seed: int, amp: float, shift: str | None
) -> tuple[MemoryHealthStore, MemoryHealthStore, ModelSpec, list, dict[int, bytes]]:
    """(old store, new store, spec, label writes, hour → prediction sketch bytes)."""
    rng = np.random.default_rng(seed)
    binary = kind == "binary"
    gen = draw_binary if binary else draw_multi
    hours: dict = {}
    for h in range(7 * 24):
        start = T0 - 7 * DAY_MS + h * HOUR_MS
        a, b = gen(rng, rate, start, amp, None)
        st = BinaryPerformance.zero() if binary else MulticlassPerformance.zero(3)
        if binary:
            st.update(a, b, threshold=0.5)
        else:
            st.update(b, a)  # (true, predicted)
        hours[start] = st
    old, new = MemoryHealthStore(), MemoryHealthStore()
    if binary:
        ref = merge_all(hours.values())
        ref.spread = spread_of(hours)
        k15t = BinaryPerformance.from_bytes(ref.to_bytes())
        k15t.spread = Spread(tuple(f for f in ref.spread.fits if f[1] in K15T_MEASURES))
        old.put_reference_performance("m", k15t)
        new.put_reference_performance("m", ref)
    else:
        mref = merge_multi(hours.values(), 3)
        old.put_reference_multiclass("m", mref)
        mref2 = MulticlassPerformance.from_bytes(mref.to_bytes())
        from stream.core.multiclass import spread_of as multi_spread

        mref2.spread = multi_spread(hours, classes=3)
        new.put_reference_multiclass("m", mref2)
    writes, sketches = [], {}
    for h in range(DAYS * 24):
        start = T0 + h * HOUR_MS
        a, b = gen(rng, rate, start, amp, shift if start >= T0 + ONSET * DAY_MS else None)
        arrive = start + rng.integers(HOUR_MS, 49 * HOUR_MS, rate)
        day = arrive - arrive % DAY_MS
        if binary:
            sketches[start] = NumericSketch.zero().update(a).to_bytes()
        for d in np.unique(day).tolist():
            m = day == d
            st = BinaryPerformance.zero() if binary else MulticlassPerformance.zero(3)
            if binary:
                st.update(a[m], b[m], threshold=0.5)
            else:
                st.update(b[m], a[m])
            writes.append(LabelHourWrite(start, st.to_bytes(), (), d))
    return old, new, BINARY if binary else MULTI, writes, sketches


def judge(
    store: MemoryHealthStore, spec: ModelSpec, writes: list, sketches: dict[int, bytes], rate: int
) -> list[Alert]:
    ev = HealthEvaluator(store, _encode, wait_for_labels=False)
    token, _ = store.label_store.claim("m", 0)
    store.label_store.flush(
        [LabelWrite("m", 0, token, 1, T0 + (DAYS + 3) * DAY_MS, (), tuple(writes), {}, 0)]
    )
    pred = spec.prediction.name if spec.prediction is not None else None
    for h in range(DAYS * 24):
        start = T0 + h * HOUR_MS
        keys = [WindowKey(HOUR, start)]
        if (h + 1) % 24 == 0:
            keys.append(WindowKey(DAY, start + HOUR_MS - DAY_MS))
        for key in keys:
            blobs = {}
            if pred is not None:
                hs = range(key.start_ms, key.end_ms, HOUR_MS)
                sk = NumericSketch.merge_all([NumericSketch.from_bytes(sketches[x]) for x in hs])
                blobs[pred] = sk.to_bytes()
            window = StoredWindow(key, rate if key.scale == HOUR else 24 * rate, 0, blobs)
            store.windows.create_window("m", window)
            ev.evaluate(spec, window)
    return [a for a in map(Alert.from_json, store.outbox("m")) if a.status == "triggered"]


def summary(alerts: list[Alert], watch: str | None) -> str:
    c = Counter(f.name for a in alerts for f in a.features)
    out = ", ".join(f"{k} {v}" for k, v in sorted(c.items())) or "none"
    if watch:
        onset = T0 + ONSET * DAY_MS
        firsts = [
            a.first_seen_ms
            for a in alerts
            if any(f.name == watch for f in a.features) and a.first_seen_ms >= onset
        ]
        out += f"; first {watch} {(min(firsts) - onset) / HOUR_MS:.0f} h" if firsts else "; none"
    return out


WATCH = {
    ("binary", "calibration"): "performance:calibration",
    ("binary", "scores"): "performance:calibration",
    ("binary", "odds"): "performance:calibration",
    ("binary", "up"): "performance:calibration",
    ("binary", "down"): "performance:calibration",
    ("binary", "share"): "label:positive_share",
    ("multiclass", "share"): "label:class_share",
    ("multiclass", "accuracy"): "performance:accuracy",
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kind", choices=["binary", "multiclass"], default="binary")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--rates", type=int, nargs="+", default=[150, 1500])
    ap.add_argument("--amps", type=float, nargs="+", default=[0.02, 0.0])
    ap.add_argument(
        "--shift",
        choices=["calibration", "odds", "scores", "up", "down", "share", "accuracy"],
        default=None,
    )
    ap.add_argument("--stream", choices=["k15t", "calibrated"], default="k15t")
    a = ap.parse_args()
    STREAM["name"] = a.stream
    watch = WATCH.get((a.kind, a.shift)) if a.shift else None
    for rate in a.rates:
        for amp in a.amps:
            for seed in a.seeds:
                old, new, spec, writes, sketches = fortnight(a.kind, rate, seed, amp, a.shift)
                before = summary(judge(old, spec, writes, sketches, rate), watch)
                after = summary(judge(new, spec, writes, sketches, rate), watch)
                print(
                    f"{a.kind} rate {rate} cycle {amp} seed {seed} | old: {before} | new: {after}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
