"""README.md "From your own data", run literally: its config block becomes
./driftstream.toml, its commands run as written (real processes, the session's Kafka
and Redis given through the environment, as a user's shell would), on a training CSV
and a week of JSONL history with one planted drift."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.integration.worker_harness import DRIFTSTREAM, free_port, wait_until

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
HOUR_MS = 3_600_000
TRAIN_START_MS = 1_764_547_200_000  # 2025-12-01T00:00Z
HISTORY_START_MS = 1_767_225_600_000  # 2026-01-01T00:00Z
HISTORY_DAYS = 7
DRIFT_START_MS = HISTORY_START_MS + 3 * 24 * HOUR_MS  # 2026-01-04T00:00Z: income +0.7 sd
REGIONS = [f"r{i:02d}" for i in range(60)]


def blocks() -> dict[str, str]:
    """The fenced block after each ``<!-- walkthrough:NAME -->`` marker of README.md."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    found = dict(re.findall(r"<!-- walkthrough:(\w+) -->\n```\w*\n(.*?)```", text, re.S))
    assert set(found) == {"config", "run", "live"}, found.keys()
    return found


def commands(block: str) -> list[list[str]]:
    out = []
    for line in block.splitlines():
        argv = shlex.split(line, comments=True)
        if argv:
            assert argv[0] == "driftstream", line
            out.append([DRIFTSTREAM, *argv[1:]])
    return out


def iso(ms: int) -> str:
    return np.datetime_as_string(np.datetime64(ms, "ms"), unit="s") + "Z"


def rows(rng: np.random.Generator, n: int, income_mean: float) -> dict[str, Any]:
    income = rng.normal(income_mean, 15_000, n).round(1)
    return {
        "tenure_months": rng.gamma(2.0, 12.0, n).astype(int),
        "income": np.where(rng.random(n) < 0.05, np.nan, income),
        "plan": rng.choice(["basic", "plus", "pro"], n, p=[0.6, 0.3, 0.1]),
        "region": rng.choice(REGIONS, n),
        "prediction": rng.beta(2, 5, n).round(3),
    }


def write_user_files(workdir: Path) -> None:
    """The user's own files: train.csv (two weeks, ts column) and history.jsonl."""
    rng = np.random.default_rng(17)
    n = 20_000
    ts = TRAIN_START_MS + np.sort(rng.integers(0, 14 * 24 * HOUR_MS, n))
    r = rows(rng, n, 55_000)
    lines = ["ts,tenure_months,income,plan,region,prediction"]
    for i in range(n):
        inc = "" if np.isnan(r["income"][i]) else str(r["income"][i])
        lines.append(
            f"{iso(int(ts[i]))},{r['tenure_months'][i]},{inc},{r['plan'][i]},"
            f"{r['region'][i]},{r['prediction'][i]}"
        )
    (workdir / "train.csv").write_text("\n".join(lines) + "\n")

    per_hour = 150
    with (workdir / "history.jsonl").open("w") as fh:
        for h in range(HISTORY_DAYS * 24):
            start = HISTORY_START_MS + h * HOUR_MS
            r = rows(rng, per_hour, 65_500 if start >= DRIFT_START_MS else 55_000)
            offsets = np.sort(rng.integers(0, HOUR_MS, per_hour))
            for i in range(per_hour):
                inc = r["income"][i]
                event = {
                    "model": "churn-v1",
                    "ts": iso(start + int(offsets[i])),
                    "features": {
                        "tenure_months": int(r["tenure_months"][i]),
                        "income": None if np.isnan(inc) else float(inc),
                        "plan": str(r["plan"][i]),
                        "region": str(r["region"][i]),
                    },
                    "prediction": float(r["prediction"][i]),
                }
                fh.write(json.dumps(event) + "\n")


def test_readme_walkthrough_from_own_files_to_alerts_and_dashboard(
    tmp_path: Path, kafka_bootstrap: str, redis_url: str
) -> None:
    steps = blocks()
    write_user_files(tmp_path)
    (tmp_path / "driftstream.toml").write_text(steps["config"])
    suffix = uuid.uuid4().hex[:8]
    web_port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRIFTSTREAM_")}
    env.update(
        DRIFTSTREAM_KAFKA_BOOTSTRAP=kafka_bootstrap,
        DRIFTSTREAM_REDIS_URL=redis_url,
        # Private names on the shared session stack; the README's commands are unchanged.
        DRIFTSTREAM_REDIS__NAMESPACE=f"walk-{suffix}",
        DRIFTSTREAM_TOPICS__FEATURES=f"walk-features-{suffix}",
        DRIFTSTREAM_TOPICS__LABELS=f"walk-labels-{suffix}",
        DRIFTSTREAM_TOPICS__ALERTS=f"walk-alerts-{suffix}",
        DRIFTSTREAM_TOPICS__DEAD_LETTER=f"walk-dlq-{suffix}",
        DRIFTSTREAM_TOPICS__SEALED=f"walk-sealed-{suffix}",
        DRIFTSTREAM_TOPICS__PARTITIONS="2",
        DRIFTSTREAM_WEB__PORT=str(web_port),
    )
    env.pop("DRIFTSTREAM_CONFIG", None)  # commands find ./driftstream.toml themselves

    def run(argv: list[str]) -> subprocess.CompletedProcess[str]:
        t0 = time.monotonic()
        done = subprocess.run(
            argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False
        )
        assert done.returncode == 0, f"{shlex.join(argv[1:])}\n{done.stdout}\n{done.stderr}"
        print(f"{shlex.join(argv[1:3])}: {time.monotonic() - t0:.1f}s")
        return done

    # 2. reference, history, replay, report: each command exactly as the README has it.
    outputs = {" ".join(argv[1:3]): run(argv) for argv in commands(steps["run"])}
    assert "ok: 1 model(s)" in outputs["config check"].stdout
    ref = json.loads(outputs["reference build"].stdout)
    assert ref["events"] == 20_000 and ref["rejected"] == 0 and ref["version"] == "2025-12"
    assert (
        f"record time: each event's ts for {HISTORY_DAYS * 24 * 150} event(s)"
        in outputs["produce --file"].stderr
    )
    replayed = json.loads(outputs["replay --from"].stdout.strip().splitlines()[-1])
    assert replayed["namespace"] == "replay-history"
    assert replayed["hours"]["churn-v1"] == HISTORY_DAYS * 24
    progress = outputs["replay --from"].stderr
    assert "warning" not in progress
    # Every phase says what it is doing: the read, the rollup, the evaluation.
    windows = HISTORY_DAYS * 24 + HISTORY_DAYS
    assert f"rolling up sealed hours into hour/day windows: {windows} window(s) in " in progress
    assert f"evaluating {windows} window(s)..." in progress

    alerts = [json.loads(x) for x in (tmp_path / "alerts.jsonl").read_text().splitlines()]
    triggered = [a for a in alerts if a["status"] == "triggered"]
    assert triggered, alerts
    # A window pages when it ends (a trailing day starts 24 h before): order by end.
    first = min(triggered, key=lambda a: a["window"]["end_ms"])
    # The planted drift is found, and nothing fires before it.
    assert first["window"]["end_ms"] > DRIFT_START_MS
    assert "income" in {f["name"] for f in first["features"]}
    report = (tmp_path / "report.html").read_text()
    assert "income" in report and "<svg" in report

    # 3. live: the worker ingests the same topic, publishes alerts, serves the dashboard.
    (live,) = commands(steps["live"])
    log = (tmp_path / "worker.log").open("wb")
    # The history is older than ingest.max_past_ms before the wall clock: as the README
    # says, the live worker takes such a backfill only with the bound raised.
    live_env = {**env, "DRIFTSTREAM_INGEST__MAX_PAST_MS": "315360000000"}
    worker = subprocess.Popen(
        live, cwd=tmp_path, env=live_env, stdout=log, stderr=subprocess.STDOUT
    )
    try:

        def alerts_published() -> bool:
            done = subprocess.run(
                [DRIFTSTREAM, "alerts", "tail", "--from-beginning", "--timeout", "2", "--json"],
                cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False,
            )  # fmt: skip
            return done.returncode == 0 and '"triggered"' in done.stdout

        try:
            t0 = time.monotonic()
            wait_until(alerts_published, 300, "the live worker to publish the drift alert")
            print(f"live worker to the first alert: {time.monotonic() - t0:.1f}s")
        except AssertionError:
            print((tmp_path / "worker.log").read_text()[-5000:])
            raise
        url = f"http://127.0.0.1:{web_port}/models/churn-v1"
        with urllib.request.urlopen(url, timeout=30) as resp:  # noqa: S310 - loopback
            page = resp.read().decode()
        assert resp.status == 200 and "churn-v1" in page and "income" in page
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
        log.close()
        subprocess.run(
            [DRIFTSTREAM, "namespace", "clean", "replay-history", "--yes"],
            cwd=tmp_path, env=env, capture_output=True, timeout=60, check=False,
        )  # fmt: skip
