"""``driftstream reference build|list|show`` against a real Redis."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest
import redis

from stream.adapters.redis_refs import RedisReferences
from stream.cli import main
from stream.core.sketch import CategoricalSketch, NumericSketch
from tests.integration.worker_harness import MODEL_TOML, START_MS, spec, synthetic_records

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
    assert main(["reference", "list"]) == 0
    assert json.loads(capsys.readouterr().out)["name"] == "training"
    assert main(["reference", "show", "--model", "fraud-v3"]) == 0
    shown = capsys.readouterr().out
    assert "amount" in shown and "numeric" in shown and "country" in shown


def test_build_from_csv(cli_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = cli_env / "train.csv"
    rows = ["ts,amount,n_items,score_a,score_b,country,device,prediction"]
    for i in range(200):
        rows.append(f"{START_MS + i * 1000},{i},{i % 7},0.5,,DE,mobile,0.1")
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
