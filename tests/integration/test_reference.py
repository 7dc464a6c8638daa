"""``driftstream reference build|list|show`` against a real Redis."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis

from stream.adapters.redis_refs import RedisReferences
from stream.cli import main
from stream.core.sketch import CategoricalSketch, NumericSketch
from tests.integration.worker_harness import MODEL_TOML, START_MS, send, spec, synthetic_records

pytestmark = pytest.mark.integration


@pytest.fixture
def cli_env(
    tmp_path: Path, redis_url: str, redis_namespace: str, monkeypatch: pytest.MonkeyPatch
) -> Path:
    config = tmp_path / "c.toml"
    config.write_text(f'[redis]\nnamespace = "{redis_namespace}"\n{MODEL_TOML}')
    monkeypatch.setenv("DRIFTSTREAM_CONFIG", str(config))
    monkeypatch.setenv("DRIFTSTREAM_REDIS_URL", redis_url)
    return tmp_path


def test_build_from_jsonl_then_list_and_show(
    cli_env: Path,
    redis_client: redis.Redis,
    redis_namespace: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = cli_env / "train.jsonl"
    records = synthetic_records(5_000, seed=3, events_per_hour=1_000)
    path.write_bytes(b"\n".join(v for v, _ in records) + b"\n{broken\n")
    assert (
        main(["reference", "build", "--model", "fraud-v3", "--file", str(path), "--version", "v7"])
        == 0
    )
    meta = json.loads(capsys.readouterr().out)
    assert meta["events"] == 5_000 and meta["rejected"] == 1 and meta["hours"] == 5
    assert meta["version"] == "v7" and meta["first_hour"].startswith("2026-01-01T00")
    ref = RedisReferences(redis_client, redis_namespace).load(spec(), "training")
    assert ref is not None and sorted(ref.hours) == [START_MS + h * 3_600_000 for h in range(5)]
    amount = ref.sketches["amount"]
    assert isinstance(amount, NumericSketch) and amount.count == 5_000
    assert isinstance(ref.sketches["country"], CategoricalSketch)
    # The joint sketch (numeric features together) is stored with its hours and calibrated.
    assert ref.joint is not None and ref.joint.rows == 5_000 and len(ref.joint_hours) == 5
    cal = RedisReferences(redis_client, redis_namespace).calibration("fraud-v3", "training")
    assert cal is not None and set(cal["joint"]) == {"hour", "day"}
    assert main(["reference", "list"]) == 0
    assert json.loads(capsys.readouterr().out)["name"] == "training"
    assert main(["reference", "show", "--model", "fraud-v3"]) == 0
    shown = capsys.readouterr().out
    assert "amount" in shown and "numeric" in shown and "country" in shown


def test_build_from_csv(cli_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = cli_env / "train.csv"
    rows = ["ts,amount,n_items,score_a,score_b,country,device,prediction"]
    for i in range(200):
        rows.append(f"{START_MS + i * 1000},{i},{i % 7},0.5,{i % 3},DE,mobile,0.1")
    path.write_text("\n".join(rows) + "\n")
    assert main(["reference", "build", "--model", "fraud-v3", "--file", str(path)]) == 0
    meta = json.loads(capsys.readouterr().out)
    assert meta["events"] == 200 and meta["rejected"] == 0


def test_unknown_model_and_missing_reference_are_one_line_errors(
    cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = cli_env / "x.jsonl"
    path.write_bytes(orjson.dumps({"model": "fraud-v3", "features": {}}))
    assert main(["reference", "build", "--model", "nope", "--file", str(path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("driftstream: error: --model: unknown model 'nope'") and "\n" not in err
    assert main(["reference", "show", "--model", "fraud-v3", "--name", "absent"]) == 1
    assert "no reference 'absent'" in capsys.readouterr().err


HEADER = "ts,amount,n_items,score_a,score_b,country,device,prediction"


def _csv(path: Path, header: str, row: str, n: int = 200) -> Path:
    path.write_text(header + "\n" + "".join(row.format(i=i) + "\n" for i in range(n)))
    return path


def test_csv_missing_a_declared_column_is_an_error_listing_the_columns(
    cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The score under another name, and no n_items column.
    header = "ts,amount,score_a,score_b,country,device,model_score"
    path = _csv(cli_env / "train.csv", header, "{i},1.5,0.5,0.2,DE,mobile,0.9")
    assert main(["reference", "build", "--model", "fraud-v3", "--file", str(path)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.strip().splitlines()
    assert "column(s) not declared by model 'fraud-v3', ignored: model_score" in lines[0]
    assert lines[1].startswith("driftstream: error: ") and len(lines) == 2
    assert "declared column(s) missing from the header: n_items, prediction" in lines[1]
    assert "--allow-null-columns" in lines[1]
    # Told: stored with the missing columns all-null.
    args = ["reference", "build", "--model", "fraud-v3", "--file", str(path)]
    assert main([*args, "--allow-null-columns", "--quiet"]) == 0
    assert json.loads(capsys.readouterr().out)["events"] == 200


def test_rejected_rows_are_counted_by_reason_with_a_sample(
    cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [
        f"{START_MS + i},{'n/a' if i % 4 == 0 else i},1,0.5,0.2,DE,mobile,0.1" for i in range(40)
    ]
    path = cli_env / "train.csv"
    path.write_text(HEADER + "\n" + "\n".join(rows) + "\n")
    assert main(["reference", "build", "--model", "fraud-v3", "--file", str(path)]) == 0
    out, err = capsys.readouterr()
    meta = json.loads(out)
    assert meta["events"] == 30 and meta["rejected"] == 10
    assert meta["rejected_by_reason"] == {"wrong_type": 10}
    assert "reference build: 10 of 40 record(s) (25%) rejected: wrong_type 10" in err
    samples = [ln for ln in err.splitlines() if ln.startswith("  e.g. ")]
    assert len(samples) == 3
    assert samples[0].startswith("  e.g. line 2: wrong_type: ") and "amount" in samples[0]
    assert "n/a" in samples[0]


def test_an_all_null_column_is_refused_unless_told(
    cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _csv(cli_env / "train.csv", HEADER, "{i},1.5,1,0.5,,DE,mobile,0.1")
    args = ["reference", "build", "--model", "fraud-v3", "--file", str(path)]
    assert main(args) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("driftstream: error: ") and "\n" not in err
    assert "column(s) score_b are null in all 200 event(s)" in err
    assert main([*args, "--allow-null-columns"]) == 0


def test_topic_range_takes_iso_times_and_reference_version_is_honoured(
    cli_env: Path,
    kafka_bootstrap: str,
    new_topic: Any,
    redis_client: redis.Redis,
    redis_namespace: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = cli_env / "c.toml"
    config.write_text(
        config.read_text().replace(
            'reference = { source = "redis", name = "training" }',
            'reference = { source = "redis", name = "jan", version = "2026.1" }',
        )
    )
    monkeypatch.setenv("DRIFTSTREAM_KAFKA_BOOTSTRAP", kafka_bootstrap)
    topic = new_topic(1)
    send(kafka_bootstrap, topic, synthetic_records(3_000, events_per_hour=1_000), 1)
    args = ["reference", "build", "--model", "fraud-v3", "--topic", topic]
    assert main([*args, "--from", "2026-01-01T01:00Z", "--to", "2026-01-01T02:00:00+00:00"]) == 0
    meta = json.loads(capsys.readouterr().out)
    assert meta["events"] == 1_000 and meta["hours"] == 1
    assert meta["name"] == "jan" and meta["version"] == "2026.1"
    assert meta["first_hour"].startswith("2026-01-01T01")
    assert RedisReferences(redis_client, redis_namespace).load(spec(), "jan") is not None
    assert main([*args, "--from", "2026-01-02", "--to", "2026-01-01"]) == 2
    assert "is not before --to" in capsys.readouterr().err


def test_a_csv_without_ts_has_no_1970_span(
    cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    header = HEADER.removeprefix("ts,")
    path = _csv(cli_env / "train.csv", header, "{i},1,0.5,0.2,DE,mobile,0.1")
    assert main(["reference", "build", "--model", "fraud-v3", "--file", str(path)]) == 0
    meta = json.loads(capsys.readouterr().out)
    assert meta["events"] == 200 and meta["first_hour"] is None and meta["last_hour"] is None
    assert main(["reference", "show", "--model", "fraud-v3"]) == 0
    assert "1970" not in capsys.readouterr().out


def test_a_labelled_reference_stores_its_performance(
    tmp_path: Path,
    redis_url: str,
    redis_namespace: str,
    redis_client: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = tmp_path / "c.toml"
    labels = "[models.fraud-v3.labels]\npositive = 1\nnegative = 0\n"
    config.write_text(f'[redis]\nnamespace = "{redis_namespace}"\n{labels}{MODEL_TOML}')
    monkeypatch.setenv("DRIFTSTREAM_CONFIG", str(config))
    monkeypatch.setenv("DRIFTSTREAM_REDIS_URL", redis_url)
    lines = []
    for i, (value, _) in enumerate(synthetic_records(2_000, seed=4, events_per_hour=1_000)):
        ev = orjson.loads(value)
        score = min(1.0, max(0.0, float(ev["prediction"])))
        ev["prediction"] = score
        ev["label"] = int(score > 0.5) if i % 4 else int(score <= 0.5)
        lines.append(orjson.dumps(ev))
    path = tmp_path / "train.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    assert main(["reference", "build", "--model", "fraud-v3", "--file", str(path)]) == 0
    meta = json.loads(capsys.readouterr().out)
    assert meta["labels"] == 2_000 and meta["unlabelled"] == 0
    ref = RedisReferences(redis_client, redis_namespace).load(spec(), "training")
    assert ref is not None and ref.performance is not None
    assert ref.performance.n == 2_000
    assert ref.performance.accuracy == pytest.approx(0.75, abs=0.001)
