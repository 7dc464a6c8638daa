"""Decision engine cost, side by side with another checkout of the code (default: none).

Times, in ONE run and on the same synthetic data:
  * reference calibration per column (a week of hours, all scales and baselines);
  * evaluation per model-hour: 50 columns (40 numeric, 10 categorical; a third of
    them seasonal, so every baseline is exercised) against the reference, the
    previous hour and the same hour last week — measures, decisions, lifecycle,
    encoded into an in-memory commit (Redis' MULTI/EXEC adds ~1 ms, see
    bench_evaluate.py for the real store).

``--against PATH`` runs the same worker with ``PATH`` (a ``git archive`` of another
commit) first on ``sys.path`` and prints the ratios, e.g.:

    mkdir -p /tmp/base && git archive b93db22 | tar -x -C /tmp/base
    .venv/bin/python benchmarks/bench_decide.py --against /tmp/base

``--per-pair`` also runs this checkout with ``Evaluator(batch=False)`` (every numeric
pair measured one by one, the exact reference path) and prints that ratio too.

The worker only uses APIs both versions have (SyntheticStream, calibrate_model,
Evaluator), and each version runs in its own process.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
START = 1_767_225_600_000
HOUR = 3_600_000


def worker(
    hours: int, per_hour: int, ref_per_hour: int, per_pair: bool = False
) -> dict[str, float]:
    import numpy as np

    from stream.catalog import ModelSpec
    from stream.core.calibrate import calibrate_model
    from stream.core.lifecycle import AlertState
    from stream.core.sketch.params import SketchParams, merge_sketches
    from stream.core.window import WindowKey
    from stream.pipeline.evaluate import Evaluator
    from stream.pipeline.ports import StoredWindow
    from stream.synth import SyntheticStream

    feats: dict[str, object] = {
        f"n{i}": {"kind": "numeric", "seasonal": i % 3 == 0} for i in range(40)
    } | {f"c{i}": {"kind": "categorical", "seasonal": i % 3 == 0} for i in range(10)}
    spec = ModelSpec.model_validate(
        {"name": "wide", "features": feats, "reference": {"source": "redis", "name": "t"}}
    )
    params = SketchParams()

    def hour_sketches(gen: SyntheticStream, n_hours: int) -> list[dict[str, object]]:
        out = []
        per = gen.events_per_hour
        for h in range(n_hours):
            _, cols = gen.columns(h * per, per)
            sk = {}
            for f, kind in spec.kinds.items():
                if kind == "numeric":
                    a = np.asarray([np.nan if v is None else v for v in cols[f]], np.float64)
                    sk[f] = params.zero(kind).update(a[~np.isnan(a)], nulls=int(np.isnan(a).sum()))
                else:
                    sk[f] = params.zero(kind).update(cols[f])
            out.append(sk)
        return out

    season = {f: 1.0 for f, v in feats.items() if v["seasonal"]}  # type: ignore[index]
    ref_gen = SyntheticStream(
        spec, start_ms=START - 7 * 24 * HOUR, events_per_hour=ref_per_hour, seed=3, seasonal=season
    )
    ref_hours = hour_sketches(ref_gen, 7 * 24)
    by_start = {START - 7 * 24 * HOUR + i * HOUR: sk for i, sk in enumerate(ref_hours)}
    t, c = time.perf_counter(), time.process_time()
    cal = calibrate_model(
        spec.name, spec.kinds, by_start, live_n={"hour": per_hour, "day": 24 * per_hour}
    )
    cal_s = time.perf_counter() - t
    cal_cpu = time.process_time() - c
    merged: dict[str, object] = {}
    for sk in ref_hours:
        for f, s in sk.items():
            merged[f] = s if f not in merged else merge_sketches(merged[f], s)  # type: ignore[arg-type]
    ref_bytes = {f: s.to_bytes() for f, s in merged.items()}  # type: ignore[attr-defined]

    class Store:
        def __init__(self) -> None:
            self.windows: dict[object, object] = {}
            self.states: dict[object, object] = {}
            self.commits = 0

        def window(self, model: str, key: object) -> object:
            return self.windows.get(key)

        def reference(self, s: object) -> object:
            return ref_bytes, cal

        def alert_state(self, model: str, scale: str, baseline: str) -> object:
            return self.states.get((scale, baseline))  # the port before alert_states

        def alert_states(self, model: str, scale: str, baselines: list[str]) -> object:
            return {b: self.states.get((scale, b)) for b in baselines}

        def commit(self, c) -> None:  # type: ignore[no-untyped-def]
            json.dumps([d.to_dict() for d in c.decisions])  # what the Redis store serialises
            json.dumps(c.state.to_dict())
            self.states[(c.window.scale, c.baseline)] = c.state
            self.commits += 1

    store = Store()
    # --per-pair: this checkout's exact per-pair path (Evaluator.batch = False).
    kw = {"batch": False} if per_pair else {}
    ev = Evaluator(store, encode=lambda e: e.alert_id.encode(), **kw)  # type: ignore[arg-type]
    # A week of live hours (so "same hour last week" exists), then the timed hours.
    gen = SyntheticStream(
        spec, start_ms=START - 168 * HOUR, events_per_hour=per_hour, seed=11, seasonal=season
    )
    live = hour_sketches(gen, 168 + hours)
    times: list[float] = []
    cpu: list[float] = []  # CPU time: less sensitive to other processes on a shared machine
    decisions = 0
    for i, sk in enumerate(live):
        key = WindowKey("hour", START - 168 * HOUR + i * HOUR)
        w = StoredWindow(key, per_hour, 0, {f: s.to_bytes() for f, s in sk.items()})
        store.windows[key] = w
        if i < 168:
            continue
        t, c = time.perf_counter(), time.process_time()
        verdict = ev.evaluate(spec, w)
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
        decisions += sum(len(v) for v in verdict.decisions.values())
    _ = AlertState
    return {
        "calibration_s_per_column": cal_s / len(spec.kinds),
        "calibration_cpu_s_per_column": cal_cpu / len(spec.kinds),
        "eval_ms_median": 1000 * statistics.median(times),
        "eval_ms_p90": 1000 * sorted(times)[int(0.9 * (len(times) - 1))],
        "eval_cpu_ms_median": 1000 * statistics.median(cpu),
        "decisions_per_hour": decisions / len(times),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hours", type=int, default=24)
    ap.add_argument("--per-hour", type=int, default=1_500)
    ap.add_argument("--ref-per-hour", type=int, default=200)
    ap.add_argument("--against", default="", help="another checkout to compare with")
    ap.add_argument("--repeat", type=int, default=1, help="alternate the checkouts this often")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument(
        "--per-pair", action="store_true", help="also run this checkout pair by pair (no batch)"
    )
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.hours, args.per_hour, args.ref_per_hour, args.per_pair)))
        return
    runs = {"this": str(ROOT)} | ({"against": args.against} if args.against else {})
    runs |= {"per-pair": str(ROOT)} if args.per_pair else {}
    every: dict[str, list[dict[str, float]]] = {name: [] for name in runs}
    for name, root in [kv for _ in range(args.repeat) for kv in runs.items()]:
        env = dict(os.environ, PYTHONPATH=root)
        cmd = [sys.executable, str(Path(__file__).resolve()), "--worker"]
        cmd += ["--hours", str(args.hours), "--per-hour", str(args.per_hour)]
        cmd += ["--ref-per-hour", str(args.ref_per_hour)]
        cmd += ["--per-pair"] if name == "per-pair" else []
        out = subprocess.run(cmd, env=env, cwd=root, capture_output=True, text=True, check=True)
        every[name].append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(name, root, every[name][-1], flush=True)
    # Interleaved runs share the machine's load swings; the medians are compared.
    results = {
        n: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for n, rs in every.items()
    }
    for other in ("against", "per-pair"):
        if other not in results:
            continue
        a, b = results[other], results["this"]
        keys = ("calibration_s_per_column", "calibration_cpu_s_per_column")
        keys += ("eval_ms_median", "eval_ms_p90", "eval_cpu_ms_median")
        for k in keys:
            print(f"{other} → this, {k}: {a[k]:.3f} → {b[k]:.3f} ({a[k] / b[k]:.2f}x faster)")


if __name__ == "__main__":
    main()
