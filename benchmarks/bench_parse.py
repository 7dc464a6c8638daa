"""Parse candidates side by side: a batch of raw JSON values → typed columns (issue 19).

Same events as ``bench_contract.py`` (12 features, ~320 bytes, batches of 10k). Every
candidate ends with what ingest needs: float64 per numeric column (NaN = null), object
arrays per categorical column, int64 event-time ms. Times are CPU seconds of this
process (``time.process_time``), best of ``--repeat`` rounds, candidates interleaved
within each round so they share the machine's noise. Only ``parse_batch`` applies the
whole contract; the library rows show what the decode alone would cost with each library.

Candidates:
  parse_batch                 the real parser (fast path, full contract checks): the C
                              extension claims the plain records, msgspec takes the rest
  parse_batch, pure Python    the same parser without the C extension (msgspec fast path)
  C columns alone             the extension's pass only (columns, no bounds, no assembly)
  C pass alone                the extension's call only (``_native.parse``, no numpy)
  C pass alone, baseline      the same call of another checkout's build (``--baseline DIR``)
  msgspec decode per record   typed tagged-union Struct decode only, one call per value
  msgspec decode, gc=False    same Structs built with gc=False (untracked by the GC)
  msgspec decode joined       one decode of b"[" + b",".join(values) + b"]" (gc=False)
  msgspec generic + columns   untyped dicts, then columns in Python (no checks)
  pyarrow.json + columns      Arrow's NDJSON reader, explicit schema, 1 thread
  simdjson + columns          pysimdjson per value, columns in Python
Optional libraries (pyarrow, pysimdjson) are benchmark-only; missing ones are reported.

Run: ``.venv/bin/python benchmarks/bench_parse.py [--repeat 7]``; ``--profile`` adds a
pyinstrument profile of parse_batch.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_contract import BATCH, CATEGORICAL, NUMERIC, T0, catalog, events

import stream.contract._codec as codec_mod
from stream.contract import ContractParser, _columnar
from stream.contract._time import parse_iso_ms_many
from stream.contract._types import Limits

try:  # benchmark-only candidates, not runtime dependencies
    import pyarrow as pa
    import pyarrow.json as pa_json
except ImportError:  # pragma: no cover
    pa = pa_json = None
try:
    import simdjson
except ImportError:  # pragma: no cover
    simdjson = None


def _typed_decoder(gc: bool) -> msgspec.json.Decoder[Any]:
    spec = catalog().model("fraud-v3")
    orig = codec_mod._struct  # noqa: SLF001
    codec_mod._struct = lambda n, f, r, **kw: orig(n, f, r, gc=gc, **kw)  # noqa: SLF001
    try:
        dec = codec_mod.build_decoder([codec_mod.build_codec(spec, 0, [], [])])
    finally:
        codec_mod._struct = orig  # noqa: SLF001
    assert dec is not None
    return dec


def _joined_decoder() -> msgspec.json.Decoder[Any]:
    union = _typed_decoder(gc=False).type
    return msgspec.json.Decoder(list[union])  # type: ignore[valid-type]


def _columns_from_dicts(objs: list[Any]) -> dict[str, Any]:
    feats = [o["features"] for o in objs]
    out: dict[str, Any] = {
        k: np.array([f.get(k) for f in feats], dtype=np.float64) for k in NUMERIC
    }
    out |= {k: np.array([f.get(k) for f in feats], dtype=object) for k in CATEGORICAL}
    out["prediction"] = np.array([o.get("prediction") for o in objs], dtype=np.float64)
    out["ts"] = parse_iso_ms_many([o["ts"] for o in objs])[0]
    return out


def _arrow(values: list[bytes]) -> Callable[[], Any] | None:
    if pa_json is None:
        return None
    feats = pa.struct(
        [(k, pa.float64()) for k in NUMERIC] + [(k, pa.string()) for k in CATEGORICAL]
    )
    schema = pa.schema(
        [
            ("model", pa.string()),
            ("ts", pa.string()),
            ("id", pa.string()),
            ("features", feats),
            ("prediction", pa.float64()),
        ]
    )
    parse = pa_json.ParseOptions(explicit_schema=schema, unexpected_field_behavior="error")
    read = pa_json.ReadOptions(use_threads=False, block_size=1 << 24)

    def run() -> Any:
        table = pa_json.read_json(
            io.BytesIO(b"\n".join(values)), read_options=read, parse_options=parse
        )
        f = table.column("features").combine_chunks()
        out: dict[str, Any] = {
            k: f.field(k).to_numpy(zero_copy_only=False) for k in NUMERIC + CATEGORICAL
        }
        out["prediction"] = table.column("prediction").to_numpy()
        out["ts"] = parse_iso_ms_many(table.column("ts").to_pylist())[0]
        return out

    return run


def _simdjson(values: list[bytes]) -> Callable[[], Any] | None:
    if simdjson is None:
        return None
    parser = simdjson.Parser()

    def run() -> Any:  # objects are views into the parser: copy out before the next parse
        cols: dict[str, list[Any]] = {k: [] for k in [*NUMERIC, *CATEGORICAL, "p", "ts"]}
        for v in values:
            doc = parser.parse(v)
            f = doc["features"]
            for k in NUMERIC:
                cols[k].append(f.get(k))
            for k in CATEGORICAL:
                cols[k].append(f.get(k))
            cols["p"].append(doc.get("prediction"))
            cols["ts"].append(doc["ts"])
            del doc, f
        out: dict[str, Any] = {k: np.array(cols[k], dtype=np.float64) for k in NUMERIC}
        out |= {k: np.array(cols[k], dtype=object) for k in CATEGORICAL}
        out["ts"] = parse_iso_ms_many(cols["ts"])[0]
        return out

    return run


def _raw_pass(mod: Any, native: _columnar.NativeParse, values: list[bytes]) -> Callable[[], Any]:
    """One build's extension pass alone: ``_native.parse``, no numpy around it."""
    lim, spec = native.limits, native._spec  # noqa: SLF001
    return lambda: mod.parse(values, spec, lim.max_event_bytes, lim.max_value_bytes)


def _baseline_pass(
    where: str, native: _columnar.NativeParse, values: list[bytes]
) -> Callable[[], Any] | None:
    """:func:`_raw_pass` of another checkout's build (``--baseline DIR``)."""
    if not where:
        return None
    found = sorted((Path(where) / "stream" / "contract").glob("_native*.so"))
    if not found:
        sys.exit(f"--baseline {where}: no stream/contract/_native*.so there (build it first)")
    loaded = importlib.util.spec_from_file_location("baseline._native", found[0])
    assert loaded is not None and loaded.loader is not None
    mod = importlib.util.module_from_spec(loaded)
    loaded.loader.exec_module(mod)
    return _raw_pass(mod, native, values)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7, help="timed rounds")
    ap.add_argument("--profile", action="store_true", help="pyinstrument of parse_batch")
    ap.add_argument(
        "--baseline",
        default="",
        help="a directory holding another checkout's stream/ with its built parse extension "
        "(e.g. main's): adds 'C pass alone, baseline', the same call of that build",
    )
    args = ap.parse_args()

    values = events(BATCH)
    rts = np.full(BATCH, T0, dtype=np.int64)
    offsets = np.arange(BATCH, dtype=np.int64)
    limits = Limits(max_past_ms=10**12, max_future_ms=10**12)
    parser = ContractParser(catalog(), limits, native=True)
    pure = ContractParser(catalog(), limits, native=False)
    native = _columnar.NativeParse(catalog(), limits)
    typed, typed_nogc, joined = _typed_decoder(True), _typed_decoder(False), _joined_decoder()
    generic = msgspec.json.Decoder()

    candidates: dict[str, Callable[[], Any] | None] = {
        "parse_batch": lambda: parser.parse(values, rts, offsets, 0, now_ms=T0 + 3_600_000),
        "parse_batch, pure Python": lambda: pure.parse(
            values, rts, offsets, 0, now_ms=T0 + 3_600_000
        ),
        "C columns alone": lambda: native.parse(values, rts, None, None),
        "C pass alone": _raw_pass(_columnar._native, native, values),  # noqa: SLF001
        "C pass alone, baseline": _baseline_pass(args.baseline, native, values),
        "msgspec decode per record": lambda: list(map(typed.decode, values)),
        "msgspec decode, gc=False": lambda: list(map(typed_nogc.decode, values)),
        "msgspec decode joined": lambda: joined.decode(b"[" + b",".join(values) + b"]"),
        "msgspec generic + columns": lambda: _columns_from_dicts(list(map(generic.decode, values))),
        "pyarrow.json + columns": _arrow(values),
        "simdjson + columns": _simdjson(values),
    }
    best: dict[str, float] = {}
    for fn in candidates.values():
        if fn is not None:
            fn()  # warm up (decoder caches, first-touch allocations)
    for _ in range(args.repeat):
        for name, fn in candidates.items():
            if fn is None:
                continue
            t = time.process_time()
            fn()
            best[name] = min(best.get(name, float("inf")), time.process_time() - t)
    mean_len = sum(map(len, values)) / len(values)
    print(f"{BATCH} events/batch, {mean_len:.0f} bytes/event, CPU best of {args.repeat}")
    print(f"{'candidate':28s} {'us/event':>9s} {'vs parse_batch':>15s}")
    ref = best["parse_batch"]
    for name in candidates:
        if name not in best:
            print(f"{name:28s} {'(not installed)':>9s}")
            continue
        us = best[name] / BATCH * 1e6
        print(f"{name:28s} {us:9.3f} {best[name] / ref:14.2f}x")
    if args.profile:
        from pyinstrument import Profiler

        prof = Profiler(interval=0.0002)
        with prof:
            for _ in range(20):
                parser.parse(values, rts, offsets, 0, now_ms=T0 + 3_600_000)
        print(prof.output_text(unicode=False, color=False, show_all=False))


if __name__ == "__main__":
    main()
