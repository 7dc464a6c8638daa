"""A newcomer with two CSVs and no event JSON: training data and history, to alerts.

``init --from train.csv`` declares the model from the training file's columns,
``reference build`` stores it, ``produce --file history.csv`` sends the history as the
model's events and ``replay`` finds the drift planted in it — real processes, the
session's Kafka and Redis through the environment, no config written by hand.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import uuid
from pathlib import Path

import numpy as np
import pytest

from tests.integration.test_readme_walkthrough import HOUR_MS, TRAIN_START_MS, iso, rows
from tests.integration.worker_harness import DRIFTSTREAM

pytestmark = pytest.mark.integration

HISTORY_START_MS = 1_767_225_600_000  # 2026-01-01T00:00Z
DAYS = 4
DRIFT_START_MS = HISTORY_START_MS + 2 * 24 * HOUR_MS  # 2026-01-03T00:00Z: income +0.7 sd
HEADER = "ts,tenure_months,income,plan,region,prediction"


def _csv_rows(r: dict[str, np.ndarray], ts: list[int]) -> list[str]:
    out = []
    for i, t in enumerate(ts):
        inc = "" if np.isnan(r["income"][i]) else str(r["income"][i])
        out.append(
            f"{iso(t)},{r['tenure_months'][i]},{inc},{r['plan'][i]},"
            f"{r['region'][i]},{r['prediction'][i]}"
        )
    return out


def _write(workdir: Path) -> None:
    rng = np.random.default_rng(23)
    n = 12_000
    ts = TRAIN_START_MS + np.sort(rng.integers(0, 14 * 24 * HOUR_MS, n))
    train = _csv_rows(rows(rng, n, 55_000), [int(t) for t in ts])
    (workdir / "train.csv").write_text("\n".join([HEADER, *train]) + "\n")
    history = [HEADER]
    for h in range(DAYS * 24):
        start = HISTORY_START_MS + h * HOUR_MS
        r = rows(rng, 150, 65_500 if start >= DRIFT_START_MS else 55_000)
        stamps = [start + int(o) for o in np.sort(rng.integers(0, HOUR_MS, 150))]
        history += _csv_rows(r, stamps)
    (workdir / "history.csv").write_text("\n".join(history) + "\n")


def test_two_csvs_to_alerts_with_no_config_written_by_hand(
    tmp_path: Path, kafka_bootstrap: str, redis_url: str
) -> None:
    _write(tmp_path)
    suffix = uuid.uuid4().hex[:8]
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRIFTSTREAM_")}
    env.update(
        DRIFTSTREAM_KAFKA_BOOTSTRAP=kafka_bootstrap,
        DRIFTSTREAM_REDIS_URL=redis_url,
        DRIFTSTREAM_REDIS__NAMESPACE=f"csvwalk-{suffix}",
        DRIFTSTREAM_TOPICS__FEATURES=f"csvwalk-features-{suffix}",
        DRIFTSTREAM_TOPICS__LABELS=f"csvwalk-labels-{suffix}",
        DRIFTSTREAM_TOPICS__ALERTS=f"csvwalk-alerts-{suffix}",
        DRIFTSTREAM_TOPICS__DEAD_LETTER=f"csvwalk-dlq-{suffix}",
        DRIFTSTREAM_TOPICS__SEALED=f"csvwalk-sealed-{suffix}",
        DRIFTSTREAM_TOPICS__PARTITIONS="2",
    )

    def run(line: str) -> subprocess.CompletedProcess[str]:
        argv = [DRIFTSTREAM, *shlex.split(line)]
        done = subprocess.run(
            argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False
        )
        assert done.returncode == 0, f"{line}\n{done.stdout}\n{done.stderr}"
        return done

    made = run("init --from train.csv --model churn-v1")
    assert "model 'churn-v1' from train.csv: 2 numeric, 2 categorical, prediction numeric" in (
        made.stdout
    )
    assert "left out: ts (event time)" in made.stdout
    assert "ok: 1 model(s)" in run("config check").stdout
    run("topics create")
    ref = json.loads(run("reference build --model churn-v1 --file train.csv").stdout)
    assert ref["events"] == 12_000 and ref["rejected"] == 0
    sent = run("produce --file history.csv --model churn-v1")
    assert f"sent {DAYS * 24 * 150} events" in sent.stdout
    assert f"record time: each event's ts for {DAYS * 24 * 150} event(s)" in sent.stderr
    run(
        f"replay --from 2026-01-01 --to 2026-01-0{1 + DAYS} --namespace replay-csv "
        "--alerts-out alerts.jsonl"
    )
    alerts = [json.loads(x) for x in (tmp_path / "alerts.jsonl").read_text().splitlines()]
    triggered = [a for a in alerts if a["status"] == "triggered"]
    assert triggered, alerts
    first = min(triggered, key=lambda a: a["window"]["end_ms"])
    assert first["window"]["end_ms"] > DRIFT_START_MS  # nothing before the drift
    assert "income" in {f["name"] for f in first["features"]}
