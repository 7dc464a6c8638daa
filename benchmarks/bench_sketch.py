"""Sketch benchmarks: update, merge and codec rates, sizes, and datasketches' KLL side by side.

Run: ``.venv/bin/python benchmarks/bench_sketch.py`` (about a minute). Every figure is
the best of several repeats, because the machine is shared and noisy; ratios between
lines measured in the same run are the meaningful part.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable

import datasketches
import numpy as np

from stream.core.sketch import CategoricalSketch, NumericSketch, dumps, loads
from stream.core.sketch._moments import MomentAccumulator
from stream.core.sketch._wire import Writer

RNG = np.random.default_rng(2026)
M = 1_000_000


def best(fn: Callable[[], object], repeat: int = 5) -> float:
    """Best wall time of ``repeat`` runs, in seconds."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds / 1e6:8.1f} M/s"


def numeric_updates() -> None:
    print("== numeric update (values/s, one core) ==")
    data = {
        "normal": RNG.normal(100.0, 15.0, M),
        "lognormal": RNG.lognormal(3.0, 1.0, M),
        "normal±": RNG.normal(0.0, 1.0, M),
        "ints": RNG.poisson(4.0, M).astype(np.float64),
    }
    for name, x in data.items():
        one = best(lambda x=x: NumericSketch.zero().update(x))
        batches = np.split(x, 100)

        def small(batches: list[np.ndarray] = batches) -> None:
            s = NumericSketch.zero()
            for b in batches:
                s.update(b)

        kll_one = best(lambda x=x: datasketches.kll_doubles_sketch(200).update(x))

        def kll_small(batches: list[np.ndarray] = batches) -> None:
            k = datasketches.kll_doubles_sketch(200)
            for b in batches:
                k.update(b)

        print(
            f"  {name:10s} 1M batch {rate(M, one)} | 10k batches {rate(M, best(small))}"
            f" || KLL(k=200) 1M batch {rate(M, kll_one)} | 10k batches {rate(M, best(kll_small))}"
        )
    # Where the time goes, for the 1M normal batch (32k-value chunks as in update()).
    x = data["normal±"]
    chunks = np.split(x, range(1 << 15, M, 1 << 15))
    t_sort = best(lambda: [np.sort(c) for c in chunks])
    sorted_mags = [np.sort(np.abs(c)) for c in chunks]

    def moments() -> None:
        acc = MomentAccumulator(1 << 15)
        for a in sorted_mags:
            acc.add_sorted(a, 0, 0)
        acc.fold()

    t_mom = best(moments)
    t_all = best(lambda: NumericSketch.zero().update(x))
    rest = t_all - t_sort - t_mom
    print(
        f"  breakdown (normal±, 1M): total {t_all * 1e3:.1f} ms = sort {t_sort * 1e3:.1f}"
        f" + exact moments {t_mom * 1e3:.1f} + buckets/specials/overhead {rest * 1e3:.1f}"
    )


def categorical_updates() -> None:
    print("== categorical update (values/s, one core) ==")
    cats = [f"category-{i}" for i in range(50)]
    few = [cats[i] for i in RNG.integers(0, 50, M).tolist()]
    many = [f"user-{i}" for i in RNG.integers(0, 10 * M, M).tolist()]
    for name, values in (("50 categories", few), ("high-cardinality", many)):
        one = best(lambda v=values: CategoricalSketch.zero().update(v), repeat=3)

        def small(values: list[str] = values) -> None:
            s = CategoricalSketch.zero()
            for i in range(0, M, 10_000):
                s.update(values[i : i + 10_000])

        print(f"  {name:17s} 1M batch {rate(M, one)} | 10k batches {rate(M, best(small, 3))}")


def merges_and_codec() -> None:
    print("== merge 24 hourly sketches, serialize / deserialize ==")
    hours = [NumericSketch.zero().update(RNG.normal(100, 15, 100_000)) for _ in range(24)]
    cat_hours = [
        CategoricalSketch.zero().update([f"c{i}" for i in RNG.integers(0, 50, 50_000).tolist()])
        for _ in range(24)
    ]
    big_hours = [
        CategoricalSketch.zero().update([f"u{i}" for i in RNG.integers(0, 10**7, 20_000).tolist()])
        for _ in range(24)
    ]

    def fold(items: list[NumericSketch] | list[CategoricalSketch]) -> None:
        acc = items[0]
        for s in items[1:]:
            acc = acc.merge(s)  # type: ignore[arg-type]

    for name, items in (
        ("numeric (100k values/hour)", hours),
        ("categorical 50 categories", cat_hours),
        ("categorical beyond cap", big_hours),
    ):
        blobs = [dumps(s) for s in items]
        t_merge = best(lambda items=items: fold(items))
        t_ser = best(lambda items=items: [dumps(s) for s in items])
        t_de = best(lambda blobs=blobs: [loads(b) for b in blobs])
        size = sum(map(len, blobs)) / len(blobs)
        print(
            f"  {name:27s} merge 24: {t_merge * 1e3:6.2f} ms | serialize {24 / t_ser:8.0f}/s"
            f" | deserialize {24 / t_de:8.0f}/s | {size:7.0f} B/sketch"
        )


def sizes() -> None:
    print("== serialized bytes per feature-hour (zlib used only when it saves >= 1/8) ==")
    for n in (1_000, 100_000, 10_000_000):
        row = []
        for name, gen in (
            ("normal", lambda n: RNG.normal(100, 15, n)),
            ("normal(0,1)", lambda n: RNG.normal(0, 1, n)),
            ("lognormal", lambda n: RNG.lognormal(3, 1.5, n)),
        ):
            s = NumericSketch.zero().update(gen(n))
            w = Writer()
            s.write_payload(w)
            raw, packed = len(w.getvalue()), len(zlib.compress(w.getvalue(), 6))
            row.append(f"{name} {len(s.to_bytes()):6d} B (raw {raw}, zlib {packed})")
        kll = datasketches.kll_doubles_sketch(200)
        kll.update(RNG.normal(100, 15, n))
        print(f"  n={n:>10,}: " + " | ".join(row) + f" | KLL {len(kll.serialize())} B")


if __name__ == "__main__":
    print(f"numpy {np.__version__}, datasketches {getattr(datasketches, '__version__', '?')}")
    numeric_updates()
    categorical_updates()
    merges_and_codec()
    sizes()
