"""``driftstream check`` = produce + replay: the same events give the same decisions.

On the real stack: a reference is built from a JSONL file into Redis
(``reference build``), the current events go to Kafka (``produce --file``) and through
``replay``; ``check`` reads the same two files (and the current set again as a CSV)
with no server. Every decision of every window and baseline must be equal, field
for field, and so must the would-be alert ids.
"""

from __future__ import annotations

import csv
import json
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis

from stream.adapters.redis_eval import RedisEvaluationStore
from stream.adapters.redis_keys import Keys
from stream.adapters.redis_windows import RedisWindowStore
from stream.cli import main
from stream.core.window import WindowKey
from stream.synth import Drift, SyntheticStream
from tests.integration.worker_harness import START_MS, Deployment, spec

pytestmark = pytest.mark.integration

REF_PER_HOUR, REF_HOURS = 100, 72
CUR_PER_HOUR, CUR_HOURS = 400, 30
ONSET = START_MS + 18 * 3_600_000


def _events(path: Path, gen: SyntheticStream, n: int) -> list[dict[str, Any]]:
    events = [orjson.loads(e) for e in gen.encoded(0, n)]
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    return events


def _as_csv(path: Path, events: list[dict[str, Any]]) -> None:
    names = [f.name for f in spec().features]
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["ts", *names, "prediction"])
        for e in events:
            row = [e["features"].get(n) for n in names] + [e.get("prediction")]
            w.writerow([e["ts"], *("" if v is None else v for v in row)])


def test_check_gives_the_decisions_of_produce_and_replay(
    kafka_bootstrap: str,
    redis_url: str,
    new_topic: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    s = spec()
    ref_gen = SyntheticStream(
        s, start_ms=START_MS - REF_HOURS * 3_600_000, events_per_hour=REF_PER_HOUR, seed=5
    )
    cur_gen = SyntheticStream(
        s,
        start_ms=START_MS,
        events_per_hour=CUR_PER_HOUR,
        seed=6,
        drifts=[Drift("amount", "shift", 1.0, ONSET), Drift("n_items", "null", 0.4, ONSET)],
    )
    ref_file, cur_file, cur_csv = tmp_path / "ref.jsonl", tmp_path / "cur.jsonl", tmp_path / "c.csv"
    _events(ref_file, ref_gen, REF_PER_HOUR * REF_HOURS)
    _as_csv(cur_csv, _events(cur_file, cur_gen, CUR_PER_HOUR * CUR_HOURS))

    topic = new_topic(3)
    d = Deployment(
        bootstrap=kafka_bootstrap,
        redis_url=redis_url,
        features=topic,
        dead_letter=f"{topic}-dlq",
        sealed=f"{topic}-sealed",
        namespace=f"t{uuid.uuid4().hex[:8]}",
        workdir=tmp_path,
    )
    for k, v in d.env().items():
        if k.startswith("DRIFTSTREAM_"):
            monkeypatch.setenv(k, v)
    ns = f"rp{uuid.uuid4().hex[:8]}"
    alerts_out = tmp_path / "alerts.jsonl"
    r = redis.Redis.from_url(redis_url)
    try:
        assert main(["reference", "build", "--model", "fraud-v3", "--file", str(ref_file)]) == 0
        assert main(["produce", "--file", str(cur_file), "--topic", topic]) == 0
        assert (
            main(
                ["replay", "--topic", topic, "--from", "0", "--namespace", ns, "--quiet"]
                + ["--alerts-out", str(alerts_out)]
            )
            == 0
        ), capsys.readouterr().err
        capsys.readouterr()
        evals = RedisEvaluationStore(r, ns, RedisWindowStore(r, ns))

        docs = []
        for current in (cur_file, cur_csv):
            out = tmp_path / f"{current.suffix[1:]}.json"
            code = main(
                ["check", "--model", "fraud-v3", "--reference", str(ref_file)]
                + ["--current", str(current), "--ts", "ts", "--json", str(out)]
            )
            printed = capsys.readouterr()
            assert code == 1, printed.out + printed.err  # the drift is found
            docs.append(json.loads(out.read_text()))
        replayed = {
            w["key"]: evals.decisions("fraud-v3", WindowKey.parse(w["key"]))
            for w in docs[0]["windows"]
        }
    finally:
        main(["namespace", "clean", ns, "--yes"])
        for k in r.scan_iter(match=Keys(d.namespace).pattern(), count=1000):
            r.delete(k)

    jsonl_doc, csv_doc = docs
    assert jsonl_doc["current"]["accepted"] == CUR_PER_HOUR * CUR_HOURS
    assert jsonl_doc["reference"]["accepted"] == REF_PER_HOUR * REF_HOURS
    # 30 hours and the one complete day, as replay rolled them up.
    assert [w["scale"] for w in jsonl_doc["windows"]].count("hour") == CUR_HOURS
    assert [w["scale"] for w in jsonl_doc["windows"]].count("day") == 1
    compared = 0
    for w in jsonl_doc["windows"]:
        mine: dict[str, list[dict[str, Any]]] = {}
        for dec in w["decisions"]:
            row = {k: v for k, v in dec.items() if k not in ("baseline", "effect_text")}
            mine.setdefault(dec["baseline"], []).append(row)
        assert mine == replayed[w["key"]], w["key"]
        compared += sum(len(v) for v in mine.values())
    assert compared >= CUR_HOURS * 7  # every feature of every hour, at least vs the reference
    # The CSV of the same events gives the same decisions as the events.
    assert csv_doc["windows"] == jsonl_doc["windows"]
    # Both found the drift after the onset, and only there.
    drifted = {f["name"] for f in jsonl_doc["features"] if f["verdict"] == "drift"}
    assert {"amount", "n_items"} <= drifted
    # The would-be alerts are the alerts replay wrote (ids are deterministic).
    replay_ids = [json.loads(line)["alert_id"] for line in alerts_out.read_text().splitlines()]
    assert [a["alert_id"] for a in jsonl_doc["alerts"]] == replay_ids
    assert replay_ids
