"""``driftstream check`` on big CSVs: rows/s and peak RSS, side by side with Evidently.

Generates a reference and a current CSV of 20 columns (16 numeric, 4 categorical; the
current set shifts one numeric column by 0.2 σ and one category's share) with pyarrow,
then runs the real CLI in a child process and reads the child's peak RSS
(``RUSAGE_CHILDREN`` of a fresh wrapper per run). Bounded memory shows as a peak RSS
that does not grow with the file size.

Evidently is never a dependency: give ``--evidently-python`` the interpreter of a
throwaway venv with ``evidently`` installed; its default ``DataDriftPreset`` runs on
the same files (loaded with pandas, as Evidently needs them in memory), and the JSON
line records its time and peak RSS too.

    python benchmarks/bench_check.py --rows 1000000 --ref-rows 1000000
    python benchmarks/bench_check.py --rows 10000000 --ref-rows 1000000 \
        --evidently-python /tmp/ev/bin/python --evidently-max-rows 1000000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

NUMERIC, CATEGORICAL = 16, 4
CHUNK = 500_000
DRIFTSTREAM = str(Path(sys.executable).parent / "driftstream")

# A child that runs a command and prints its peak RSS (KiB): one fresh process per run,
# so an earlier, bigger run never shows in a later measurement.
_RSS = (
    "import resource, subprocess, sys, time\n"
    "t = time.perf_counter()\n"
    "rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode\n"
    "u = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "print(rc, time.perf_counter() - t, u.ru_maxrss, u.ru_utime + u.ru_stime)\n"
)

_EVIDENTLY = """
import sys, time, resource
import pandas as pd
from evidently import Report
from evidently.presets import DataDriftPreset
t = time.perf_counter()
ref = pd.read_csv(sys.argv[1], nrows=int(sys.argv[3]))
cur = pd.read_csv(sys.argv[2], nrows=int(sys.argv[3]))
loaded = time.perf_counter() - t
result = Report([DataDriftPreset()]).run(cur, ref)
drifted = []
for m in result.dict()["metrics"]:
    c = m["config"]
    if c.get("type", "").endswith("ValueDrift"):
        v, thr = float(m["value"]), float(c["threshold"])
        if (v < thr) if "p_value" in c["method"] else (v >= thr):
            drifted.append(c["column"])
print(loaded, time.perf_counter() - t, ",".join(drifted))
"""


def generate(path: Path, rows: int, seed: int, drift: bool) -> None:
    """Write ``rows`` rows of 20 columns in chunks (constant memory)."""
    if path.exists() and path.stat().st_size > 0:
        return
    rng = np.random.default_rng(seed)
    cats = [np.array([f"c{k}_{i}" for i in range(5 + 10 * k)]) for k in range(CATEGORICAL)]
    writer = None
    tmp = path.with_suffix(".tmp")
    for first in range(0, rows, CHUNK):
        n = min(CHUNK, rows - first)
        cols = {}
        for j in range(NUMERIC):
            if j % 4 == 0:
                x = rng.normal(0.0, 1.0, n) + (0.2 if drift and j == 0 else 0.0)
            elif j % 4 == 1:
                x = rng.lognormal(3.0, 0.7, n)
            elif j % 4 == 2:
                x = rng.uniform(0, 100, n)
            else:
                x = rng.poisson(4, n).astype(np.float64)
            cols[f"num_{j}"] = np.round(x, 4)
        for k in range(CATEGORICAL):
            size = len(cats[k])
            p = np.full(size, 1.0 / size)
            if drift and k == 0:
                p[0] += 0.1
                p /= p.sum()
            cols[f"cat_{k}"] = cats[k][rng.choice(size, n, p=p)]
        table = pa.table(cols)
        if writer is None:
            writer = pacsv.CSVWriter(str(tmp), table.schema)
        writer.write_table(table)
    assert writer is not None
    writer.close()
    tmp.rename(path)


def measure(cmd: list[str]) -> tuple[int, float, float, float]:
    """(exit code, seconds, peak RSS MiB, CPU seconds) of ``cmd`` in a fresh child."""
    out = subprocess.run(
        [sys.executable, "-c", _RSS, *cmd], check=True, capture_output=True, text=True
    ).stdout.split()
    return int(out[0]), float(out[1]), int(out[2]) / 1024, float(out[3])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=200_000, help="current rows")
    ap.add_argument("--ref-rows", type=int, default=200_000, help="reference rows")
    ap.add_argument(
        "--dir", type=Path, default=Path(tempfile.gettempdir()) / "driftstream-bench-check"
    )
    ap.add_argument("--evidently-python", help="python of a venv with evidently installed")
    ap.add_argument("--evidently-max-rows", type=int, default=1_000_000)
    args = ap.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    ref = args.dir / f"ref-{args.ref_rows}.csv"
    cur = args.dir / f"cur-{args.rows}.csv"
    t = time.perf_counter()
    generate(ref, args.ref_rows, 1, drift=False)
    generate(cur, args.rows, 2, drift=True)
    gen_s = time.perf_counter() - t
    out = args.dir / f"check-{args.rows}.json"
    code, secs, rss, cpu = measure(
        [DRIFTSTREAM, "check", "--reference", str(ref), "--current", str(cur), "--json", str(out)]
    )
    doc = json.loads(out.read_text())
    rows = args.rows + args.ref_rows
    result: dict[str, object] = {
        "rows_current": args.rows,
        "rows_reference": args.ref_rows,
        "columns": NUMERIC + CATEGORICAL,
        "csv_mb": round((ref.stat().st_size + cur.stat().st_size) / 2**20),
        "generate_s": round(gen_s, 1),
        "check_exit": code,
        "check_s": round(secs, 1),
        "check_cpu_s": round(cpu, 1),
        "check_rows_per_s": round(rows / secs),
        "check_rows_per_cpu_s": round(rows / cpu),
        "check_peak_rss_mb": round(rss),
        "drifted": doc["drifted_features"],
        "phases": [n for n in doc["notes"] if n.startswith("read and sketched")],
    }
    if args.evidently_python:
        n = min(args.evidently_max_rows, args.rows, args.ref_rows)
        ev_out = subprocess.run(
            [
                sys.executable,
                "-c",
                _RSS.replace("stdout=subprocess.DEVNULL", "stdout=sys.stderr"),
                args.evidently_python,
                "-c",
                _EVIDENTLY,
                str(ref),
                str(cur),
                str(n),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        ev_code, ev_s, ev_rss, ev_cpu = ev_out.stdout.split()
        loaded, _, drifted = (ev_out.stderr.strip().splitlines()[-1].split(maxsplit=2) + [""])[:3]
        result["evidently"] = {
            "rows_each": n,
            "exit": int(ev_code),
            "s": round(float(ev_s), 1),
            "load_s": round(float(loaded), 1),
            "cpu_s": round(float(ev_cpu), 1),
            "rows_per_s": round(2 * n / float(ev_s)),
            "rows_per_cpu_s": round(2 * n / float(ev_cpu)),
            "peak_rss_mb": round(int(ev_rss) / 1024),
            "drifted_columns": drifted.split(",") if drifted else [],
        }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
