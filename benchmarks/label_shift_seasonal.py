"""Binary label shift and performance drops on a seasonal stream: pooled reference vs its spread.

A binary classifier whose positive share follows a daily cycle (``--amp``, default
0.10 ± 0.02; the scores' separation ± 15 % with it, so AUC and accuracy cycle too),
stationary from day to day. The reference: 7 days of the same stream, kept per
hour. Two judgings side by side, same draws:

- before: the pooled reference state (no spread; the two-sided share test);
- after: the reference with its between-window spread (Q-gated τ² per measure and
  scale, :func:`stream.core.performance.spread_of`).

Prints, per rate, cycle and seed: (1) the pure ``label_shift`` breaches over 336
hour windows of the fortnight; (2) through the health evaluator (hour and day
windows, labels 1–48 h late, coverage stages, lifecycles): the paged measures, and
for ``--shift`` (from day 10) the hours from onset to the first ``label`` page.

Run: ``.venv/bin/python benchmarks/label_shift_seasonal.py [--seeds 3] [--rates 150 1500]``
"""

from __future__ import annotations

import argparse
from collections import Counter

import numpy as np

from stream.catalog import ModelSpec
from stream.core.alert import Alert, build_alert
from stream.core.lifecycle import AlertEvent
from stream.core.model_health import label_shift
from stream.core.performance import BinaryPerformance, merge_all, spread_of
from stream.core.window import DAY, DAY_MS, HOUR, HOUR_MS, WindowKey
from stream.pipeline.health_eval import HealthEvaluator
from stream.pipeline.memory import MemoryHealthStore
from stream.pipeline.ports import LabelHourWrite, LabelWrite, StoredWindow

T0 = 1_767_225_600_000
DAYS, ONSET = 14, 10
SPEC = ModelSpec.model_validate(
    {"name": "m", "features": {"x": "numeric"}, "labels": {"max_label_delay_ms": 2 * DAY_MS}}
)


def draw(
    rng: np.random.Generator, n: int, start: int, amp: float, shift: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    phase = 2 * np.pi * (start % DAY_MS) / DAY_MS
    y = rng.random(n) < 0.10 + amp * np.sin(phase) + shift
    gap = 0.2 * (1.0 + (7.5 * amp) * np.cos(phase))
    s = np.clip(rng.normal(np.where(y, 0.5 + gap, 0.5 - gap), 0.15), 0.0, 1.0)
    return s, y


def _encode(e: AlertEvent) -> bytes:
    return build_alert(e, dashboard_base="https://d.example.com").to_json()


Live = dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]
"""Hour start → (scores, positive, label arrival ms) of the fortnight."""


def fortnight(
    rate: int, seed: int, amp: float, shift: float
) -> tuple[dict[int, BinaryPerformance], Live]:
    rng = np.random.default_rng(seed)
    hours = {}
    for h in range(7 * 24):
        start = T0 - 7 * DAY_MS + h * HOUR_MS
        st = BinaryPerformance.zero()
        st.update(*draw(rng, rate, start, amp), threshold=0.5)
        hours[start] = st
    live: Live = {}
    for h in range(DAYS * 24):
        start = T0 + h * HOUR_MS
        sh = shift if start >= T0 + ONSET * DAY_MS else 0.0
        s, y = draw(rng, rate, start, amp, sh)
        live[start] = (s, y, start + rng.integers(HOUR_MS, 49 * HOUR_MS, rate))
    return hours, live


def pure_breaches(ref_hours: dict[int, BinaryPerformance], live: Live) -> tuple[int, int]:
    pooled = merge_all(ref_hours.values())
    tau2 = spread_of(ref_hours).tau2("hour", "positive_share")
    before = after = 0
    for s, y, _ in live.values():
        win = BinaryPerformance.zero()
        win.update(s, y, threshold=0.5)
        before += label_shift(pooled, win).breach
        after += label_shift(pooled, win, tau2=tau2).breach
    return before, after


def evaluate(
    rate: int,
    ref_hours: dict[int, BinaryPerformance],
    live: Live,
    *,
    pooled: bool,
) -> list[Alert]:
    ref = merge_all(ref_hours.values())
    ref.spread = None if pooled else spread_of(ref_hours)
    store = MemoryHealthStore()
    store.put_reference_performance("m", ref)
    ev = HealthEvaluator(store, _encode, wait_for_labels=False)
    token, _ = store.label_store.claim("m", 0)
    writes = []
    for start, (s, y, arrive) in live.items():
        day = arrive - arrive % DAY_MS
        for d in np.unique(day).tolist():
            st = BinaryPerformance.zero()
            st.update(s[day == d], y[day == d], threshold=0.5)
            writes.append(LabelHourWrite(start, st.to_bytes(), (), d))
    store.label_store.flush(
        [LabelWrite("m", 0, token, 1, T0 + (DAYS + 3) * DAY_MS, (), tuple(writes), {}, 0)]
    )
    for h in range(DAYS * 24):
        start = T0 + h * HOUR_MS
        keys = [WindowKey(HOUR, start)]
        if (h + 1) % 24 == 0:
            keys.append(WindowKey(DAY, start + HOUR_MS - DAY_MS))
        for key in keys:
            window = StoredWindow(key, rate if key.scale == HOUR else 24 * rate, 0, {})
            store.windows.create_window("m", window)
            ev.evaluate(SPEC, window)
    return [a for a in map(Alert.from_json, store.outbox("m")) if a.status == "triggered"]


def _summary(alerts: list[Alert], shift: float) -> str:
    c = Counter(f.name for a in alerts for f in a.features)
    out = ", ".join(f"{k} {v}" for k, v in sorted(c.items())) or "none"
    if shift:
        onset = T0 + ONSET * DAY_MS
        firsts = [
            a.first_seen_ms
            for a in alerts
            if any(f.name == "label:positive_share" for f in a.features)
            and a.first_seen_ms >= onset
        ]
        out += (
            f"; first label page {(min(firsts) - onset) / HOUR_MS:.0f} h"
            if firsts
            else "; no label page after onset"
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--rates", type=int, nargs="+", default=[150, 1500])
    ap.add_argument("--amp", type=float, default=0.02)
    ap.add_argument("--shift", type=float, default=0.0)
    ap.add_argument("--pure-only", action="store_true")
    a = ap.parse_args()
    for rate in a.rates:
        for amp in (a.amp, 0.0):
            for seed in range(a.seeds):
                ref_hours, live = fortnight(rate, seed, amp, a.shift)
                b, af = pure_breaches(ref_hours, live)
                line = f"rate {rate} amp {amp} seed {seed}: hour breaches {b} -> {af} of 336"
                if not a.pure_only:
                    before = _summary(evaluate(rate, ref_hours, live, pooled=True), a.shift)
                    after = _summary(evaluate(rate, ref_hours, live, pooled=False), a.shift)
                    line += f" | pages before: {before} | after: {after}"
                print(line, flush=True)


if __name__ == "__main__":
    main()
