"""Regression model health: false alarms and detection delays through the health evaluator.

In process, over the in-memory stores (the same ``HealthEvaluator`` the worker and
replay run; hour and day windows, coverage stages, lifecycles): a 14-day stream at
``--rate`` labelled predictions an hour, every label arriving 1–48 h after its
prediction (uniform), each cell's state built from the labels of its (prediction
hour, arrival day). The reference: 7 days of the same stream. From ``--onset``
(day 10, 00:00) the scenario changes the error or the target. Errors: normal, or
Student-t(5) (``heavy``) with a gamma-distributed target (skewed, heavy tails).

Prints, per scenario and seed: alerts (kind, metric, the judging window) and, for
a change, the hours from onset to its first page.

``--floors``: instead, the share of stationary windows (``--windows`` of ``--rate``
labels against a 7-day reference, heavy-tailed) that breach at each candidate floor:
what the default floors (MAE/RMSE +10 %, mean shift 0.1 sd) buy over none.

Run: ``.venv/bin/python benchmarks/regression_detection.py [--seeds 3] [--rate 1500]``
     ``.venv/bin/python benchmarks/regression_detection.py --floors [--rate 150]``
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import numpy as np

from stream.catalog import ModelSpec
from stream.core.alert import Alert, build_alert
from stream.core.lifecycle import AlertEvent
from stream.core.regression import RegressionPerformance, merge_all, spread_of
from stream.core.window import DAY, DAY_MS, HOUR, HOUR_MS, WindowKey
from stream.pipeline.health_eval import HealthEvaluator
from stream.pipeline.memory import MemoryHealthStore
from stream.pipeline.ports import LabelHourWrite, LabelWrite, StoredWindow

T0 = 1_767_225_600_000
DAYS = 14
SPEC = ModelSpec.model_validate(
    {
        "name": "m",
        "features": {"x": "numeric"},
        "labels": {"kind": "regression", "max_label_delay_ms": 2 * DAY_MS},
    }
)

Draw = Callable[[np.random.Generator, int, int], tuple[np.ndarray, np.ndarray]]
"""(rng, labels, the hour's start ms) → (targets, predictions)."""


def _normal(mu: float = 50.0, noise: float = 2.0) -> Draw:
    def draw(rng: np.random.Generator, n: int, _: int) -> tuple[np.ndarray, np.ndarray]:
        y = rng.normal(mu, 10.0, n)
        return y, y + rng.normal(0.0, noise, n)

    return draw


def _heavy(shift: float = 0.0, scale: float = 1.0) -> Draw:
    def draw(rng: np.random.Generator, n: int, _: int) -> tuple[np.ndarray, np.ndarray]:
        y = rng.gamma(2.0, 5.0, n) + shift
        return y, y + scale * rng.standard_t(5, n)

    return draw


def seasonal(shift: float = 0.0, scale: float = 1.0) -> Draw:
    """A daily cycle: target mean 10 + 0.1·sin (within-hour sd 0.3), error sd ±30 %.

    Stationary from day to day; the hours differ: a pooled reference without the
    between-hour spread pages the cycle's peaks.
    """

    def draw(rng: np.random.Generator, n: int, start: int) -> tuple[np.ndarray, np.ndarray]:
        phase = 2 * np.pi * (start % DAY_MS) / DAY_MS
        y = rng.normal(10.0 + 0.1 * np.sin(phase) + shift, 0.3, n)
        return y, y + scale * (1.0 + 0.3 * np.cos(phase)) * rng.normal(0.0, 0.3, n)

    return draw


POOLED = [False]
"""``--pooled``: drop the reference's between-window spread (the judging before k15s)."""


def reference(base: Draw, rng: np.random.Generator, rate: int) -> RegressionPerformance:
    """7 days of ``base`` before T0, kept per hour: the merged state with its spread."""
    hours = {}
    for h in range(7 * 24):
        start = T0 - 7 * DAY_MS + h * HOUR_MS
        s = RegressionPerformance()
        s.update(*base(rng, rate, start))
        hours[start] = s
    out = merge_all(hours.values())
    out.spread = None if POOLED[0] else spread_of(hours)
    return out


def _encode(e: AlertEvent) -> bytes:
    return build_alert(e, dashboard_base="https://d.example.com").to_json()


def run(
    base: Draw, after: Draw, seed: int, rate: int, onset_day: int = 10
) -> tuple[list[Alert], int, int, dict[str, int]]:
    """Alerts, judgements made, judgements breaching (every metric, every scale) and
    breaching windows per scale and metric (each window's last judgement)."""
    rng = np.random.default_rng(seed)
    store = MemoryHealthStore()
    store.put_reference_regression("m", reference(base, rng, rate))
    ev = HealthEvaluator(store, _encode, wait_for_labels=False)
    token, _ = store.label_store.claim("m", 0)
    # Every label first (as a replay does): cells per (prediction hour, arrival day).
    writes = []
    for h in range(DAYS * 24):
        start = T0 + h * HOUR_MS
        draw = after if start >= T0 + onset_day * DAY_MS else base
        y, p = draw(rng, rate, start)
        arrive = start + rng.integers(0, HOUR_MS, rate) + rng.integers(HOUR_MS, 48 * HOUR_MS, rate)
        day = arrive - arrive % DAY_MS
        for d in np.unique(day).tolist():
            sel = day == d
            st = RegressionPerformance()
            st.update(y[sel], p[sel])
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
            n = rate if key.scale == HOUR else 24 * rate
            window = StoredWindow(key, n, 0, {})
            store.windows.create_window("m", window)
            ev.evaluate(SPEC, window)
    decided = [d for ds in store.decided.values() for d in ds]
    breaching = sum(1 for d in decided if d["breach"])
    windows: dict[str, int] = {}  # "<scale> <metric>" → windows whose last judgement breached
    for (_, key), ds in store.decided.items():
        for d in ds:
            if d["breach"]:
                name = f"{key.scale} {d['metric']}"
                windows[name] = windows.get(name, 0) + 1
    alerts = [Alert.from_json(a) for a in store.outbox("m")]
    return alerts, len(decided), breaching, dict(sorted(windows.items()))


def floor_scan(rate: int, windows: int) -> None:
    """Breaching share of stationary windows per floor (pure decisions, no evaluator)."""
    from stream.core.regression import error_increase, target_shift

    rng = np.random.default_rng(0)
    for name, draw in (("normal", _normal()), ("heavy", _heavy())):
        ref = RegressionPerformance()
        ref.update(*draw(rng, 7 * 24 * rate, T0))
        wins = []
        for _ in range(windows):
            w = RegressionPerformance()
            w.update(*draw(rng, rate, T0))
            wins.append(w)
        for floor in (0.0, 0.02, 0.05, 0.1):
            hits = {"mae": 0, "rmse": 0, "mean_shift": 0}
            for w in wins:
                for m in ("mae", "rmse"):
                    d = error_increase(ref, w, metric=m, floor=floor)  # type: ignore[arg-type]
                    hits[m] += bool(d and d.breach)
                t = target_shift(ref, w, floor=floor)
                hits["mean_shift"] += bool(t and t.breach)
            print(
                f"{name:6s} {rate} labels/window, floor {floor:.2f}: breaching windows "
                + ", ".join(f"{k} {v}/{windows}" for k, v in hits.items())
            )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--rate", type=int, default=1500)
    ap.add_argument("--floors", action="store_true", help="floor scan instead")
    ap.add_argument("--windows", type=int, default=5000)
    ap.add_argument("--only", default="", help="run the scenarios whose name has this text")
    ap.add_argument("--pooled", action="store_true", help="no between-window spread (before)")
    args = ap.parse_args()
    POOLED[0] = args.pooled
    if args.floors:
        floor_scan(args.rate, args.windows)
        return
    onset = T0 + 10 * DAY_MS
    scenarios: dict[str, tuple[Draw, Draw, bool]] = {
        "stationary normal": (_normal(), _normal(), False),
        "stationary heavy (gamma target, t5 error)": (_heavy(), _heavy(), False),
        "error +20 % (normal)": (_normal(), _normal(noise=2.4), True),
        "error +15 % (heavy)": (_heavy(), _heavy(scale=1.15), True),
        "error +5 % (below floor)": (_normal(), _normal(noise=2.1), False),
        "target mean +0.15 sd (normal)": (_normal(), _normal(mu=51.5), True),
        "target mean +0.3 sd (heavy)": (_heavy(), _heavy(shift=0.3 * 7.07), True),
        "target mean +0.05 sd (below floor)": (_normal(), _normal(mu=50.5), False),
        "stationary seasonal (daily cycle)": (seasonal(), seasonal(), False),
        "seasonal, target mean +0.3 (1 within-hour sd)": (seasonal(), seasonal(shift=0.3), True),
        "seasonal, error +50 %": (seasonal(), seasonal(scale=1.5), True),
    }
    for name, (base, after, change) in scenarios.items():
        if args.only and args.only not in name:
            continue
        for seed in range(args.seeds):
            alerts, judged, breaching, windows = run(base, after, seed, args.rate)
            trig = [a for a in alerts if a.status == "triggered"]
            what = [
                f"{a.kind}@{a.window.key}:{','.join(f.name for f in a.features if f.breach)}"
                for a in trig
            ]
            first = {
                a.kind: (a.window.end_ms - onset) / HOUR_MS for a in reversed(trig)
            }  # first page per kind, hours after onset
            print(
                f"{name:42s} seed {seed}: {len(trig)} triggered, {breaching}/{judged} "
                f"judgements breaching {windows or ''}"
                + (f"; first page per kind (h after onset, window end): {first}" if change else "")
                + (f"  {what[:6]}{' …' if len(what) > 6 else ''}" if trig else "")
            )


if __name__ == "__main__":
    main()
