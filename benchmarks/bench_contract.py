"""Side-by-side parse benchmark: raw Kafka values → per-model columns, batches of 10k.

Events are ~330 bytes with 12 features (8 numeric, 4 categorical) plus a prediction, as
the DESIGN's measurements. Every candidate ends with the same thing ingest needs:
float64 arrays (NaN = null) per numeric feature, object arrays per categorical feature,
event times as int64 ms. Run: ``.venv/bin/python benchmarks/bench_contract.py``.

Candidates:
  orjson per record     orjson.loads each value, columns built in Python per event/feature
  msgspec joined        one typed decode of b"[" + b",".join(values) + b"]"
  msgspec per record    typed tagged-union decode per value (the parser's fast path)
  polars read_ndjson    one NDJSON read of the joined batch, unnest features
  parse_batch fast      the real parser (fast path, full contract checks)
  parse_batch record    the real parser, per-record reference path only (fast=False)
  parse_batch mixed     fast path on a batch with 5% unknown models + 1% bad records
"""

from __future__ import annotations

import argparse
import io
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

import msgspec
import numpy as np
import orjson

try:  # polars is a benchmark-only candidate, not a runtime dependency
    import polars as pl
except ImportError:  # pragma: no cover
    pl = None

from stream.catalog import Catalog
from stream.contract import ContractParser, parse_iso_ms
from stream.contract._codec import build_codec, build_decoder, extract
from stream.contract._types import Limits

NUMERIC = ["amount", "n_items", "age_days", "score_a", "score_b", "vel_1h", "vel_24h", "dist_km"]
CATEGORICAL = ["country", "device", "channel", "merchant_cat"]
BATCH = 10_000
T0 = 1_767_618_245_123


def catalog() -> Catalog:
    features = {n: "numeric" for n in NUMERIC} | {c: "categorical" for c in CATEGORICAL}
    return Catalog.model_validate({"fraud-v3": {"features": features, "prediction": "numeric"}})


def events(
    n: int, seed: int = 7, bad_share: float = 0.0, unknown_share: float = 0.0
) -> list[bytes]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        feats: dict[str, Any] = {k: round(rng.lognormvariate(3, 1), 4) for k in NUMERIC}
        feats["n_items"] = rng.randint(1, 9)
        feats["country"] = rng.choice(["DE", "FR", "US", "GB", "ES"])
        feats["device"] = rng.choice(["mobile", "desktop", "tablet"])
        feats["channel"] = rng.choice(["web", "app", "pos"])
        feats["merchant_cat"] = rng.choice(["5411", "5812", "5999", "4111"])
        ms = T0 + i * 37
        ev = {
            "model": "fraud-v3",
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000))
            + f".{ms % 1000:03d}Z",
            "id": f"evt-{seed:02d}-{i:012d}",
            "features": feats,
            "prediction": round(rng.random(), 6),
        }
        u = rng.random()
        if u < unknown_share:
            ev["model"] = "someone-elses-model"
        elif u < unknown_share + bad_share:
            feats["amount"] = "12.5"
        out.append(orjson.dumps(ev))
    return out


def orjson_columns(values: list[bytes]) -> dict[str, Any]:
    cols: dict[str, list[Any]] = {k: [] for k in NUMERIC + CATEGORICAL + ["prediction"]}
    ts = []
    for v in values:
        e = orjson.loads(v)
        f = e["features"]
        for k in NUMERIC:
            x = f.get(k)
            cols[k].append(None if x is None else float(x))
        for k in CATEGORICAL:
            cols[k].append(f.get(k))
        cols["prediction"].append(e.get("prediction"))
        ts.append(parse_iso_ms(e["ts"]))
    out: dict[str, Any] = {k: np.array(cols[k], dtype=np.float64) for k in NUMERIC}
    out |= {k: np.array(cols[k], dtype=object) for k in CATEGORICAL}
    out["ts"] = np.array(ts, dtype=np.int64)
    return out


def polars_columns(values: list[bytes]) -> dict[str, Any]:
    df = pl.read_ndjson(io.BytesIO(b"\n".join(values))).unnest("features")
    out: dict[str, Any] = {k: df[k].cast(pl.Float64).to_numpy() for k in NUMERIC}
    out |= {k: df[k].to_numpy() for k in CATEGORICAL}
    out["ts"] = (
        df["ts"].str.to_datetime("%Y-%m-%dT%H:%M:%S%.3fZ", time_unit="ms").dt.epoch("ms").to_numpy()
    )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7, help="timed runs per candidate")
    args = ap.parse_args()

    cat = catalog()
    values = events(BATCH)
    mixed = events(BATCH, seed=8, bad_share=0.01, unknown_share=0.05)
    rts = np.full(BATCH, T0, dtype=np.int64)
    offsets = np.arange(BATCH, dtype=np.int64)
    limits = Limits(max_past_ms=10**12, max_future_ms=10**12)
    spec = cat.model("fraud-v3")
    codec = build_codec(spec, 0, [], [])
    joined = msgspec.json.Decoder(list[codec.event_type])
    single = build_decoder([codec])
    assert single is not None
    parser = ContractParser(cat, limits)

    def msgspec_joined() -> Any:
        evs = joined.decode(b"[" + b",".join(values) + b"]")
        return extract(codec, evs, rts, limits, None)

    def msgspec_per_record() -> Any:
        dec = single.decode
        return extract(codec, [dec(v) for v in values], rts, limits, None)

    candidates: dict[str, Callable[[], Any] | None] = {
        "orjson per record": lambda: orjson_columns(values),
        "msgspec joined": msgspec_joined,
        "msgspec per record": msgspec_per_record,
        "polars read_ndjson": (lambda: polars_columns(values)) if pl is not None else None,
        "parse_batch fast": lambda: parser.parse(values, rts, offsets, 0),
        "parse_batch record": lambda: parser.parse(values, rts, offsets, 0, fast=False),
        "parse_batch mixed": lambda: parser.parse(mixed, rts, offsets, 0),
    }
    mean_len = sum(map(len, values)) / len(values)
    print(f"{BATCH} events/batch, {mean_len:.0f} bytes/event, best and median of {args.repeat}")
    print(f"{'candidate':22s} {'best ev/s':>12s} {'median ev/s':>12s}")
    for name, fn in candidates.items():
        if fn is None:
            print(f"{name:22s} {'(not installed)':>12s}")
            continue
        fn()  # warm up (decoder caches, first-touch allocations)
        times = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        best, med = BATCH / min(times), BATCH / statistics.median(times)
        print(f"{name:22s} {best:12,.0f} {med:12,.0f}")


if __name__ == "__main__":
    main()
