"""Detection table: time to page and false alerts per scenario, with the DEFAULT config.

Each scenario is a 14-day synthetic stream of a 13-column model (8 numeric, 4
categorical features and a numeric prediction) at 1,500 events/hour after a
calibrated 7-day reference with the same seasonality; drifts start at day 7,
13:00 UTC. Hour sketches are built straight from the synthetic columns (the
bytes ingest would store); reference calibration, evaluation of every hour and
day against every baseline, lifecycle and alert events are the production code
(``tests/unit/pipeline/evalsim.py``; tests/e2e/test_scenarios.py runs the same
scenarios on real Kafka + Redis).

Run: .venv/bin/python benchmarks/bench_detect.py [--days 14] [--only quiet,shift1]
(~20–40 s per scenario on a quiet machine).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stream.core.window import DAY_MS, HOUR_MS  # noqa: E402
from stream.synth import Drift  # noqa: E402
from tests.unit.pipeline.evalsim import (  # noqa: E402
    START,
    Scenario,
    reference_for,
    run_scenario,
    wide_spec,
)

ONSET = START + 7 * DAY_MS + 13 * HOUR_MS
SEASON = {"n0": 1.5, "n1": 1.0, "c0": 1.0, "prediction": 1.0}


def scenarios(days: int) -> list[Scenario]:
    def one(name: str, *drifts: Drift, seasonal: dict[str, float] | None = None) -> Scenario:
        return Scenario(name, tuple(drifts), seasonal or {}, days=days, onset_ms=ONSET)

    return [
        Scenario("quiet", days=days),
        Scenario("seasonal", seasonal=SEASON, days=days),
        one("shift 1 sd", Drift("n2", "shift", 1.0, ONSET)),
        one("shift 0.15 sd", Drift("n4", "shift", 0.15, ONSET)),
        one("shift 0.12 sd", Drift("n4", "shift", 0.12, ONSET)),
        one("shift 0.07 sd (below the 0.1-sd floor)", Drift("n4", "shift", 0.07, ONSET)),
        one("share +4 pts", Drift("c1", "share", 0.43, ONSET, category="c0")),
        # Day-scale at low traffic: no hour window can show these.
        replace(one("150/h: shift 0.25 sd", Drift("n4", "shift", 0.25, ONSET)), per_hour=150),
        Scenario("150/h: quiet", days=days, per_hour=150),
        replace(
            one("150/h: share +8 pts", Drift("c1", "share", 0.47, ONSET, category="c0")),
            per_hour=150,
        ),
        one("share +10 pts", Drift("c1", "share", 0.49, ONSET, category="c0")),
        one("95 % nulls (2 h)", Drift("n3", "null", 0.95, ONSET, ONSET + 2 * HOUR_MS)),
        one("new category 10 %", Drift("c2", "share", 0.10, ONSET, category="zz")),
        one("vanished feature", Drift("n6", "null", 1.0, ONSET)),
        one("ramp 0.5 sd / 4 days", Drift("n5", "ramp", 0.5, ONSET, ONSET + 4 * DAY_MS)),
        one(
            "seasonal + shift 1 sd",
            Drift("n0", "shift", 1.0, ONSET),
            seasonal=SEASON,
        ),
    ]


def trailing_cost(days: int, repeat: int) -> None:
    """evaluate + commit per model-hour with ``alerts.trailing_day`` on vs off, alternating."""
    on, off = wide_spec("cost"), wide_spec("cost", alerts={"trailing_day": False})
    sc = Scenario("quiet", days=days)
    sketches, cal, _ = reference_for(on, sc)
    got: dict[str, list[float]] = {"on": [], "off": []}
    for rep in range(repeat):
        order = [("off", off), ("on", on)] if rep % 2 == 0 else [("on", on), ("off", off)]
        for name, spec in order:
            run = run_scenario(spec, sc, (sketches, cal))
            got[name].append(1000 * statistics.median(run.eval_seconds[24:]))
    for name, ms in got.items():
        print(
            f"trailing day {name}: median ms per model-hour, per run: {[round(x, 1) for x in ms]}"
        )
    ratio = statistics.median(got["on"]) / statistics.median(got["off"])
    print(f"on / off: {ratio:.2f}x")


def sequential_rules(days: int) -> None:
    """Time to alarm of CUSUM slacks on the real hourly reference z-scores of feature n5.

    The streams run with the sequential rule off; each slack's limit comes from the
    same budget (``sequential_arl0``); a 0.5-sd/4-day ramp and steady shifts of 0.03,
    0.05 and 0.07 sd (all below the 0.1-sd floor) start at the usual onset.
    """
    import math

    from stream.core.cusum import cusum_limit
    from stream.pipeline.evaluate import sequential_arl0

    spec = wide_spec("seq", alerts={"sequential": False, "trailing_day": False})
    arl0 = sequential_arl0(wide_spec("seq"))
    cases = {
        "ramp": Drift("n5", "ramp", 0.5, ONSET, ONSET + 4 * DAY_MS),
        "step 0.03": Drift("n5", "shift", 0.03, ONSET),
        "step 0.05": Drift("n5", "shift", 0.05, ONSET),
        "step 0.07": Drift("n5", "shift", 0.07, ONSET),
        "quiet": None,
    }
    onset_hour = (ONSET - START) // HOUR_MS
    ref = None
    scores: dict[str, dict[str, list[tuple[float, float]]]] = {}
    for name, drift in cases.items():
        sc = Scenario(name, (drift,) if drift else (), days=days, onset_ms=ONSET)
        if ref is None:
            sk, cal, _ = reference_for(spec, sc)
            ref = (sk, cal)
        run = run_scenario(spec, sc, ref)
        per: dict[str, dict[int, tuple[float, float]]] = {}
        for (_, key, baseline), ds in run.store.committed.items():
            if key.scale == "hour" and baseline == "reference":
                for d in ds:
                    if d["kind"] == "numeric":
                        per.setdefault(d["feature"], {})[key.start_ms] = (d["z"], d["cusum_k"])
        scores[name] = {f: [v[h] for h in sorted(v)] for f, v in per.items()}

    def first_alarm(z: list[float], k: float, h: float) -> int | None:
        hi = lo = 0.0
        for i, x in enumerate(z):
            if x is None or not math.isfinite(x):
                continue
            hi, lo = max(0.0, hi + x - k), max(0.0, lo - x - k)
            if hi > h or lo > h:
                return i
        return None

    print("| slack k | ramp | step 0.03 sd | step 0.05 sd | step 0.07 sd | quiet (9 numeric) |")
    print("|---|---|---|---|---|---|")
    for label, fixed in (("½ floor (default)", None), ("1.0", 1.0), ("0.75", 0.75), ("0.5", 0.5)):
        cells = []
        for name in cases:
            if name == "quiet":
                alarms = 0
                for seq in scores[name].values():
                    k = seq[0][1] if fixed is None else fixed
                    h = cusum_limit(arl0, round(k, 2))
                    alarms += first_alarm([z for z, _ in seq], k, h) is not None
                cells.append(f"{alarms} alarms")
                continue
            seq = scores[name]["n5"]
            k = seq[0][1] if fixed is None else fixed
            h = cusum_limit(arl0, round(k, 2))
            z = [x for x, _ in seq]
            pre, post = first_alarm(z[:onset_hour], k, h), first_alarm(z[onset_hour:], k, h)
            cell = "—" if post is None else f"{post + 1} h"
            cells.append(cell + (" (+ false alarm before)" if pre is not None else ""))
        k0 = scores["ramp"]["n5"][0][1] if fixed is None else fixed
        print(f"| {label}, k = {k0:.2f} | " + " | ".join(cells) + " |", flush=True)


def trailing_merge(hours: int = 96) -> None:
    """Building trailing days: the cached two-stack merge vs merging 24 hours each time."""
    from stream.core.window import HOUR, WindowKey
    from stream.pipeline.memory import MemoryWindowStore
    from stream.pipeline.ports import StoredWindow
    from stream.pipeline.trailing import Part, TrailingBuilder
    from stream.synth import SyntheticStream
    from tests.unit.pipeline.evalsim import hour_sketches

    spec = wide_spec("merge", joint={"enabled": False})
    gen = SyntheticStream(spec, start_ms=START, events_per_hour=1_500, seed=1)
    store, decoded = MemoryWindowStore(), {}
    for h, (n, sk) in hour_sketches(spec, gen, hours).items():
        blobs = {f: s.to_bytes() for f, s in sk.items()}
        store.create_window("m", StoredWindow(WindowKey(HOUR, h), n, 0, blobs))
        decoded |= {blobs[f]: s for f, s in sk.items()}  # warm, as the evaluator's cache is

    def decode(_m: str, _name: str, blob: bytes) -> object:
        return decoded[blob]

    closing = [w for (_, k), w in sorted(store.windows.items()) if k.start_ms >= START + DAY_MS]
    for _ in range(2):
        builder = TrailingBuilder(store.window, decode)  # type: ignore[arg-type]
        t = time.perf_counter()
        for w in closing:
            builder.build("m", w)
        two = (time.perf_counter() - t) / len(closing) * 1000
        t = time.perf_counter()
        for w in closing:
            part = Part()
            for g in range(w.key.end_ms - DAY_MS, w.key.end_ms, HOUR_MS):
                hw = store.window("m", WindowKey(HOUR, g))
                assert hw is not None
                part = part + Part(hw.events, 0, 1, {f: decoded[b] for f, b in hw.sketches.items()})
        direct = (time.perf_counter() - t) / len(closing) * 1000
        print(f"per model-hour, 13 columns: two-stack {two:.2f} ms, direct {direct:.2f} ms "
              f"({direct / two:.1f}x)")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--days", type=int, default=14)
    ap.add_argument("--per-hour", type=int, default=1_500)
    ap.add_argument("--only", default="", help="comma-separated scenario names (prefixes)")
    ap.add_argument(
        "--trailing-cost", type=int, default=0, metavar="DAYS",
        help="instead: cost of the trailing day (on vs off) over DAYS of a quiet stream",
    )  # fmt: skip
    ap.add_argument(
        "--sequential-rules", type=int, default=0, metavar="DAYS",
        help="instead: time to alarm of CUSUM slacks on a ramp and sub-floor steps",
    )  # fmt: skip
    ap.add_argument(
        "--trailing-merge", action="store_true", help="instead: trailing-day merge cost"
    )
    args = ap.parse_args()
    if args.trailing_merge:
        trailing_merge()
        return
    if args.sequential_rules:
        sequential_rules(args.sequential_rules)
        return
    if args.trailing_cost:
        trailing_cost(args.trailing_cost, repeat=2)
        return
    spec = wide_spec("detect")
    chosen = [
        s
        for s in scenarios(args.days)
        if not args.only or any(s.name.startswith(p) for p in args.only.split(","))
    ]
    refs: dict[tuple[tuple[str, float], ...], tuple[object, object, float]] = {}
    print("| scenario | time to page | false alerts | first alert (scale/baseline) |")
    print("|---|---|---|---|")
    eval_ms: list[float] = []
    cal_s: list[float] = []
    for sc in chosen:
        per_hour = sc.per_hour if sc.name.startswith("150/h") else args.per_hour
        sc = Scenario(sc.name, sc.drifts, sc.seasonal, sc.days, per_hour, sc.onset_ms)
        key = (*sorted(sc.seasonal.items()), ("per_hour", float(per_hour)))
        if key not in refs:
            t = time.perf_counter()
            sketches, cal, _ = reference_for(spec, sc)
            refs[key] = (sketches, cal, time.perf_counter() - t)
            cal_s.append(refs[key][2])
        sketches, cal, _ = refs[key]
        run = run_scenario(spec, sc, (sketches, cal))  # type: ignore[arg-type]
        eval_ms.extend(1000 * x for x in run.eval_seconds)
        trig = sorted(run.triggered(), key=lambda e: (e.window.end_ms, e.window.scale))
        onset = sc.onset_ms
        false = [e for e in trig if onset is None or e.window.end_ms <= onset]
        pages = [e for e in trig if onset is not None and e.window.end_ms > onset]
        first = pages[0] if pages else None
        ttp = "—" if first is None else f"{(first.window.end_ms - onset) / HOUR_MS:.0f} h"  # type: ignore[operator]
        where = "" if first is None else f"{first.window.scale}/{first.baseline}"
        print(f"| {sc.name} | {ttp} | {len(false)} | {where} |", flush=True)
        for e in false[:3]:
            print(f"|   false: {e.window.scale}/{e.baseline} {e.window.start_ms} "
                  f"{[d.feature for d in e.decisions]} | | | |", flush=True)  # fmt: skip
    print()
    print(f"evaluate+commit per model-hour (13 columns, all baselines): median "
          f"{statistics.median(eval_ms):.1f} ms over {len(eval_ms)} hours")  # fmt: skip
    print(f"reference build + calibration: {statistics.median(cal_s):.1f} s (13 columns)")


if __name__ == "__main__":
    main()
