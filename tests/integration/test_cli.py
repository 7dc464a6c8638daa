"""The CLI as an operator uses it: every command's --help, and real runs of the operator
commands (init, config check, status, alerts tail) against the session's Kafka + Redis."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
import redis
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.structs import OffsetAndMetadata

from stream.adapters.redis_eval import RedisEvaluationStore
from stream.adapters.redis_store import RedisSketchStore
from stream.adapters.redis_windows import RedisWindowStore
from stream.cli import cli, main
from stream.commands.ops import starter_config
from stream.commands.ops_status import when
from stream.core.alert import Alert, build_alert
from stream.core.alert_text import change
from stream.core.before_after import BeforeAfter
from stream.core.decide import Decision
from stream.core.lifecycle import AlertEvent, AlertState, LifecycleRules, OpenAlert, step
from stream.core.window import DAY_MS, HOUR_MS, WindowKey
from stream.pipeline.ports import EvaluationCommit, FlushWrite, HourWrite, StoredWindow
from stream.settings import load_settings
from tests.conftest import NewTopic
from tests.integration.worker_harness import (
    DRIFTSTREAM,
    START_MS,
    Deployment,
    end_offsets,
    free_port,
    send,
    synthetic_records,
    wait_until,
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "deploy" / "config" / "driftstream.example.toml"
MODEL = "fraud-v3"
NEW_COMMANDS = [("init",), ("config", "check"), ("status",), ("alerts", "tail")]


# ---------------------------------------------------------------------------- helpers
def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``driftstream ARGS`` in-process through the real entry point: (exit, stdout, stderr)."""
    capsys.readouterr()
    rc = main(list(args))
    out, err = capsys.readouterr()
    return rc, out, err


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("driftstream: error: "), err
    return lines[0]


def command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name, cmd in sorted(group.commands.items()):
        path = (*prefix, name)
        yield path
        if isinstance(cmd, click.Group):
            yield from command_paths(cmd, path)


def model_toml(extra: str = "") -> str:
    return f"""
{extra}
[models.{MODEL}]
prediction = "numeric"
reference = {{ source = "redis", name = "training" }}
[models.{MODEL}.features]
amount = "numeric"
country = "categorical"
"""


def decision(feature: str, ratio: float, kind: str = "numeric") -> Decision:
    return Decision(
        feature=feature,
        breach=ratio >= 1,
        effect=0.1 * ratio,
        effect_metric="mean_shift" if kind == "numeric" else "linf",
        threshold=0.1,
        p_value=1e-9,
        confidence=1.0,
        p_drift=0.99,
        magnitude=0.1 * ratio,
        ci=(0.1 * ratio - 0.02, 0.1 * ratio + 0.02),
        severity="critical" if ratio >= 2 else "warning",
        reasons=(f"{feature} moved",),
        metrics={"mean_shift": (0.1 * ratio, 0.1, 1e-9)},
        kind=kind,
        n_window=1500,
        ratio=ratio,
        ranked=("mean_shift",),
        values=BeforeAfter("mean", 55_576.2, 55_576.2 + 8_321.5 * ratio)
        if kind == "numeric"
        else BeforeAfter("share", 0.12, 0.12 + 0.04 * ratio, "DE"),
    )


def lifecycle_events() -> list[AlertEvent]:
    """A trigger then a resolve, from the real lifecycle."""
    state = AlertState(MODEL, "hour", "reference")
    rules = LifecycleRules(consecutive_breaches=2, resolve_after=1)
    out: list[AlertEvent] = []
    windows = [[decision("amount", 2.5), decision("country", 1.5, "categorical")]] * 2
    windows.append([decision("amount", 0.1), decision("country", 0.1, "categorical")])
    for i, ds in enumerate(windows):
        state, events = step(state, WindowKey("hour", START_MS + i * HOUR_MS), ds, rules)
        out.extend(events)
    assert [e.status for e in out] == ["triggered", "resolved"]
    return out


def alerts_json() -> list[bytes]:
    return [
        build_alert(e, dashboard_base="https://drift.example.com").to_json()
        for e in lifecycle_events()
    ]


def produce_values(bootstrap: str, topic: str, values: list[tuple[bytes | None, bytes]]) -> None:
    producer = KafkaProducer(bootstrap_servers=[bootstrap])
    try:
        for key, value in values:
            producer.send(topic, key=key, value=value)
        producer.flush()
    finally:
        producer.close()


@pytest.fixture
def env(
    monkeypatch: pytest.MonkeyPatch, kafka_bootstrap: str, redis_url: str
) -> pytest.MonkeyPatch:
    """The stack's address in the environment, as `driftstream stack up` prints it."""
    for var in list(os.environ):
        if var.startswith("DRIFTSTREAM_") and not var.startswith("DRIFTSTREAM_TEST_"):
            monkeypatch.delenv(var)
    monkeypatch.setenv("DRIFTSTREAM_KAFKA_BOOTSTRAP", kafka_bootstrap)
    monkeypatch.setenv("DRIFTSTREAM_REDIS_URL", redis_url)
    return monkeypatch


# ---------------------------------------------------------------------------- --help
def test_every_command_is_smoke_tested() -> None:
    paths = set(command_paths(cli))
    assert set(NEW_COMMANDS) <= paths
    assert {("worker",), ("stack", "up"), ("config", "reference")} <= paths


@pytest.mark.parametrize("path", [(), *command_paths(cli)], ids=lambda p: " ".join(p) or "root")
def test_help_works_for_every_command(
    capsys: pytest.CaptureFixture[str], path: tuple[str, ...]
) -> None:
    rc, out, err = run(capsys, *path, "--help")
    assert rc == 0, err
    assert out.startswith(f"Usage: driftstream {' '.join(path)}".rstrip()), out
    assert err == ""
    assert "\\b" not in out  # click's no-rewrap marker is not shown...
    if "Example" in out:  # ...and examples keep their lines
        after = out.split("Example", 1)[1].splitlines()[1]
        assert after.startswith("    ") and "driftstream " in after, out


def test_help_lists_config_reference_and_demo_explains_itself(
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, out, _ = run(capsys, "config", "--help")
    assert "reference  Print the config reference" in out
    _, out, _ = run(capsys, "demo", "--help")
    assert "module docstring" not in out
    for what in ("local Kafka + Redis", "reference", "planted drift", "worker", "alerts"):
        assert what in " ".join(out.split()), what


@pytest.mark.parametrize("path", NEW_COMMANDS, ids=" ".join)
def test_new_commands_show_an_example(
    capsys: pytest.CaptureFixture[str], path: tuple[str, ...]
) -> None:
    _, out, _ = run(capsys, *path, "-h")
    assert "Example" in out and "driftstream " in out.split("Example", 1)[1]


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = run(capsys, "status", "--no-such-option")
    assert rc == 2 and "No such option" in err
    rc, _, err = run(capsys, "alerts", "tail", "--max", "0")
    assert rc == 2 and "--max" in err


# ---------------------------------------------------------------------------- init
def test_starter_config_is_the_example_config() -> None:
    # The packaged copy (pip-installed workers have no deploy/ directory) must not drift.
    assert starter_config() == EXAMPLE.read_text(encoding="utf-8"), (
        "copy deploy/config/driftstream.example.toml to stream/commands/starter.toml"
    )


def test_init_writes_a_config_that_checks(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, env: pytest.MonkeyPatch
) -> None:
    env.chdir(tmp_path)
    rc, out, err = run(capsys, "init")
    assert rc == 0, err
    written = tmp_path / "driftstream.toml"
    assert written.read_text(encoding="utf-8") == starter_config()
    assert "config check" in out

    rc, _, err = run(capsys, "init")
    assert rc == 1
    assert "already exists (use --force" in one_error_line(err)

    written.write_text("# mine\n")
    rc, _, err = run(capsys, "init", "--force")
    assert rc == 0 and written.read_text(encoding="utf-8") == starter_config()

    sub = tmp_path / "conf"
    sub.mkdir()
    rc, _, _ = run(capsys, "init", str(sub))
    assert rc == 0 and (sub / "driftstream.toml").exists()

    rc, out, _ = run(capsys, "init", "-")
    assert rc == 0 and out == starter_config()

    rc, _, err = run(capsys, "init", str(tmp_path / "missing" / "x.toml"))
    assert rc == 1 and "cannot write" in one_error_line(err)

    rc, out, err = run(capsys, "-c", str(written), "config", "check")
    assert rc == 0, err
    assert "ok: 1 model(s)" in out and MODEL in out
    assert "reference.path" in err  # the example's reference file is not there: a warning


def test_init_from_a_training_csv_declares_that_model_and_its_reference_builds(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, env: pytest.MonkeyPatch
) -> None:
    env.chdir(tmp_path)
    env.setenv("DRIFTSTREAM_REDIS__NAMESPACE", f"init-{tmp_path.name[-8:]}")
    train = tmp_path / "train.csv"
    rows = ["ts,tenure,plan,a b,empty,label,prediction"]
    rows += [
        f"2026-01-01T{i % 24:02d}:00:00Z,{i % 37},{'pro' if i % 3 else 'basic'},{i},,{i % 2},0.{i}"
        for i in range(300)
    ]
    train.write_text("\n".join(rows) + "\n")
    rc, out, err = run(capsys, "init", "--from", str(train), "--model", "churn-v1")
    assert rc == 0, err
    assert "model 'churn-v1' from" in out and "1 numeric, 1 categorical, prediction numeric" in out
    assert "left out: ts (event time)" in out and "a b (not a valid feature name" in out
    assert "empty (no value in the first 300 rows: declare its kind by hand)" in out
    assert "label (labels: declare [models.churn-v1.labels]" in out
    assert "reference build --model churn-v1 --file" in out
    settings = load_settings(tmp_path / "driftstream.toml")
    assert list(settings.models.names) == ["churn-v1"]
    spec = settings.models.model("churn-v1")
    assert spec.kinds == {"tenure": "numeric", "plan": "categorical", "prediction": "numeric"}
    text = (tmp_path / "driftstream.toml").read_text(encoding="utf-8")
    assert "[models.churn-v1.alerts]" in text and "consecutive_breaches = 2" in text  # kept
    assert "fraud-v3" not in text  # the example model is gone
    rc, out, err = run(capsys, "config", "check")
    assert rc == 0 and "ok: 1 model(s)" in out, err
    rc, out, err = run(capsys, "reference", "build", "--model", "churn-v1", "--file", str(train))
    assert rc == 0, err  # the columns init declared are the file's: nothing missing
    assert "missing" not in err and "a b, empty, label" in err  # named, ignored

    rc, _, err = run(capsys, "init", "--from", str(train), "--force")
    assert rc == 2 and "--from FILE and --model NAME go together" in err


def test_commands_read_the_file_init_wrote(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, env: pytest.MonkeyPatch
) -> None:
    env.chdir(tmp_path)
    env.delenv("DRIFTSTREAM_CONFIG", raising=False)
    rc, out, _ = run(capsys, "init")
    assert rc == 0 and "`driftstream config check`" in out and "without -c" in out
    (tmp_path / "driftstream.toml").write_text(model_toml())
    rc, out, err = run(capsys, "config", "check")  # no -c, no DRIFTSTREAM_CONFIG
    assert rc == 0, err
    assert "config   driftstream.toml" in out and "ok: 1 model(s)" in out
    rc, _, err = run(capsys, "reference", "list")
    assert rc == 0, err  # the same file names the model; nothing stored yet
    # An explicit --config still wins.
    other = tmp_path / "other.toml"
    other.write_text(model_toml().replace(MODEL, "other-model"))
    rc, out, _ = run(capsys, "-c", str(other), "config", "check")
    assert rc == 0 and "other-model" in out


# ---------------------------------------------------------------------------- config check
def test_config_check_summarises_without_secrets(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, env: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "prod.toml"
    path.write_text(
        model_toml(
            """
[kafka]
bootstrap_servers = "kafka-0:9093,kafka-1:9093"
security_protocol = "SASL_SSL"
sasl_mechanism = "SCRAM-SHA-512"
sasl_username = "driftstream"
ssl_cafile = "/etc/driftstream/tls/kafka-ca.pem"
[redis]
url = "rediss://:url-secret-9@redis:6380/0"
username = "driftstream"
"""
        )
    )
    env.setenv("DRIFTSTREAM_KAFKA__SASL_PASSWORD", "kafka-secret-7")
    env.setenv("DRIFTSTREAM_REDIS__PASSWORD", "redis-secret-8")
    env.setenv("DRIFTSTREAM_WEB__TOKEN", "web-secret-6")
    env.delenv("DRIFTSTREAM_KAFKA_BOOTSTRAP")
    env.delenv("DRIFTSTREAM_REDIS_URL")
    rc, out, err = run(capsys, "config", "check", str(path))
    assert rc == 0, err
    assert "SASL_SSL" in out and "SCRAM-SHA-512" in out and "password set" in out
    assert "rediss://:***@redis:6380/0" in out
    assert "DRIFTSTREAM_KAFKA__SASL_PASSWORD" in out  # which variables override the file
    assert "kafka-ca.pem not found here" in err
    rc, js, _ = run(capsys, "-c", str(path), "config", "check", "--json")
    assert rc == 0
    report = json.loads(js)
    assert report["settings"]["kafka"]["sasl_mechanism"] == "SCRAM-SHA-512"
    assert report["settings"]["models"][MODEL]["features"][0]["name"] == "amount"
    for secret in ("kafka-secret-7", "redis-secret-8", "web-secret-6", "url-secret-9"):
        assert secret not in out + js + err


@pytest.mark.parametrize(
    ("toml", "env_vars", "expect"),
    [
        ("[web]\nport = 'http'\n", {}, "web.port"),
        ("[kafka]\nbootstrap = 'x:1'\n", {}, "bootstrap"),
        ("[web\n", {}, "TOML syntax error"),
        ("", {"DRIFTSTREAM_INGEST__FLUSH_INTERVAL_MS": "soon"}, "DRIFTSTREAM_INGEST__FLUSH"),
        ("[kafka]\nsecurity_protocol = 'SASL_SSL'\n", {}, "sasl_mechanism"),
        (None, {}, "models: no model is configured"),
    ],
    ids=["bad-type", "unknown-key", "syntax", "bad-env", "sasl-needs-mechanism", "no-models"],
)
def test_config_check_fails_with_one_line(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    env: pytest.MonkeyPatch,
    toml: str | None,
    env_vars: dict[str, str],
    expect: str,
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("" if toml is None else toml + model_toml())
    for k, v in env_vars.items():
        env.setenv(k, v)
    rc, out, err = run(capsys, "config", "check", str(path))
    assert rc == 1 and out == ""
    assert expect in one_error_line(err)


def test_config_check_needs_a_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, env: pytest.MonkeyPatch
) -> None:
    rc, _, err = run(capsys, "config", "check")
    assert rc == 2 and "no config file" in err
    rc, _, err = run(capsys, "config", "check", str(tmp_path / "nope.toml"))
    assert rc == 1 and "config file not found" in one_error_line(err)
    env.setenv("DRIFTSTREAM_CONFIG", str(EXAMPLE))
    rc, out, _ = run(capsys, "config", "check")
    assert rc == 0 and str(EXAMPLE) in out


# ---------------------------------------------------------------------------- status
@pytest.fixture
def seeded(
    tmp_path: Path,
    env: pytest.MonkeyPatch,
    kafka_bootstrap: str,
    redis_client: redis.Redis,
    redis_namespace: str,
    new_topic: NewTopic,
) -> dict[str, Any]:
    """A features topic with records and group commits, and Redis state for two partitions
    written through the real stores (the calls a worker, rollups and evaluation make)."""
    features = new_topic(2)
    group = f"g-{redis_namespace}"
    producer = KafkaProducer(bootstrap_servers=[kafka_bootstrap])
    for p, n in ((0, 30), (1, 20)):
        for _ in range(n):
            producer.send(features, value=b"{}", partition=p)
    producer.flush()
    producer.close()
    consumer = KafkaConsumer(bootstrap_servers=[kafka_bootstrap], group_id=group)
    try:
        consumer.commit({TopicPartition(features, 0): OffsetAndMetadata(25, "", -1)})
    finally:
        consumer.close()

    h = START_MS + 5 * HOUR_MS
    store = RedisSketchStore(redis_client, redis_namespace)
    for part, offset, sealed, idle in ((0, 25, h, False), (1, 20, h + HOUR_MS, True)):
        token, _ = store.claim(MODEL, part)
        store.flush(
            [
                FlushWrite(
                    model=MODEL,
                    partition=part,
                    token=token,
                    next_offset=offset,
                    watermark_ms=sealed + 90_000,
                    sealed_through_ms=sealed,
                    open_hours=(sealed,),
                    idle=idle,
                    hours=(HourWrite(sealed, 7, {}, False, {}, 9 if part == 0 else 0),),
                    late={h - HOUR_MS: 4} if part == 0 else {},
                    notices=(),
                    rejected={"bad_json": 2, "ts_in_future": 1} if part == 0 else {},
                )
            ]
        )
    windows = RedisWindowStore(redis_client, redis_namespace)
    for key in (WindowKey("hour", h - 2 * HOUR_MS), WindowKey("hour", h - HOUR_MS)):
        windows.add_pending(MODEL, [key.start_ms])
        assert windows.create_window(MODEL, StoredWindow(key, 100, 0, {}))
    windows.add_pending(MODEL, [h])  # sealed by one partition only: waits
    # A window whose evaluation kept raising, given up on after evaluate.max_attempts.
    windows.mark_failed(MODEL, WindowKey("hour", h - 3 * HOUR_MS), "ValueError: boom")
    day = START_MS - DAY_MS
    assert windows.create_window(MODEL, StoredWindow(WindowKey("day", day), 2400, 3, {}))

    evaluations = RedisEvaluationStore(redis_client, redis_namespace, windows)
    open_state = AlertState(
        MODEL,
        "hour",
        "reference",
        last_window_ms=h - HOUR_MS,
        open=OpenAlert("ds-0123456789abcdef", h - 2 * HOUR_MS, ("amount",), ("amount",), "warning"),
    )
    last = WindowKey("hour", h - HOUR_MS)
    evaluations.commit(EvaluationCommit(MODEL, last, "reference", [], open_state, [b"x"]))
    quiet = AlertState(MODEL, "hour", "previous", last_window_ms=h - HOUR_MS)
    evaluations.commit(EvaluationCommit(MODEL, last, "previous", [], quiet, []))

    config = tmp_path / "status.toml"
    config.write_text(
        model_toml(
            f"""
[topics]
features = "{features}"
[consumer]
group_id = "{group}"
[redis]
namespace = "{redis_namespace}"
"""
        )
    )
    return {"config": config, "hour": h, "day": day, "group": group, "features": features}


def test_status_json_reports_ingest_rollup_lag_and_alerts(
    capsys: pytest.CaptureFixture[str], seeded: dict[str, Any]
) -> None:
    h = seeded["hour"]
    rc, out, err = run(capsys, "-c", str(seeded["config"]), "status", "--json")
    assert rc == 0, err
    report = json.loads(out)
    kafka = report["kafka"]
    assert kafka["error"] is None and kafka["group"] == seeded["group"]
    assert kafka["partitions"]["0"] == {"end": 30, "committed": 25, "lag": 5}
    assert kafka["partitions"]["1"] == {"end": 20, "committed": None, "lag": 20}
    assert kafka["total_lag"] == 5 + 20
    (m,) = report["models"]
    assert m["model"] == MODEL
    p0, p1 = m["partitions"]
    assert (p0["offset"], p0["behind"], p0["idle"], p0["sealed_through_ms"]) == (25, 5, False, h)
    assert (p1["offset"], p1["behind"], p1["idle"]) == (20, 0, True)
    assert p0["open_hours"] == [h] and p0["watermark_ms"] == h + 90_000
    # The active partition holds the model back; the idle one does not.
    assert m["complete_through_ms"] == h
    assert m["last_sealed_hour_ms"] == h - HOUR_MS
    assert m["rollup"] == {
        "last_hour_ms": h - HOUR_MS,
        "last_day_ms": seeded["day"],
        "pending_hours": 1,
        "pending_days": 1,
    }
    assert m["evaluated"] == {"hour": h - HOUR_MS, "day": None}
    assert m["failed_windows"] == {"hour:2026-01-01T02": "ValueError: boom"}
    assert m["late_by_hour"] == {str(h - HOUR_MS): 4}
    assert p0["late"] == {str(h - HOUR_MS): 4} and p1["late"] == {}
    assert (p0["undeclared_overflow"], p1["undeclared_overflow"]) == (9, 0)
    assert p0["rejected"] == {"bad_json": 2, "ts_in_future": 1} and p1["rejected"] == {}
    assert m["alerts"]["unpublished"] == 1
    assert m["alerts"]["open"] == [
        {
            "scale": "hour",
            "baseline": "reference",
            "dedup_key": "ds-0123456789abcdef",
            "severity": "warning",
            "first_seen_ms": h - 2 * HOUR_MS,
            "features": ["amount"],
            "clean_windows": 0,
        }
    ]


def test_status_text_is_readable(
    capsys: pytest.CaptureFixture[str], seeded: dict[str, Any]
) -> None:
    rc, out, err = run(capsys, "-c", str(seeded["config"]), "status", "--model", MODEL)
    assert rc == 0, err
    assert "lag      25 records over 2 partition(s) (p0 5, p1 20)" in out
    assert f"model {MODEL}" in out
    assert "last hour 2026-01-01T04:00Z (complete through 2026-01-01T05:00Z)" in out
    assert "last hour window 2026-01-01T04:00Z, last day window 2025-12-31T00:00Z" in out
    assert "waiting: 1 hour(s), 1 day(s)" in out
    assert "late     4 event(s) for sealed hours, not in any sketch (2026-01-01T04Z 4)" in out
    assert "undeclared 9 key occurrence(s) beyond ingest.max_undeclared_keys" in out
    assert (
        "rejected 3 record(s) dead-lettered on these partitions (bad_json 2, ts_in_future 1)" in out
    )
    assert "1 open, 1 event(s) not yet published" in out
    assert (
        "failed   1 window(s) not evaluated after evaluate.max_attempts failed attempts, "
        "skipped (first hour:2026-01-01T02: ValueError: boom)"
    ) in out
    assert "hour/reference warning since 2026-01-01T03:00Z: amount  ds-0123456789abcdef" in out
    table = out.split(f"model {MODEL}\n", 1)[1].splitlines()
    assert table[0].split() == [
        "part",
        "offset",
        "behind",
        "watermark",
        "sealed",
        "through",
        "state",
    ]
    assert table[1].split()[:3] == ["0", "25", "5"] and "active, open 05:00Z" in table[1]
    assert table[2].split()[:3] == ["1", "20", "0"] and "idle" in table[2]


def test_status_without_state_and_with_backends_down(
    capsys: pytest.CaptureFixture[str], seeded: dict[str, Any], env: pytest.MonkeyPatch
) -> None:
    config = str(seeded["config"])
    rc, out, _ = run(capsys, "-c", config, "status", "--namespace", "nothing-here")
    assert rc == 0 and "no ingest state yet" in out and "0 open" in out
    rc, _, err = run(capsys, "-c", config, "status", "--model", "nope")
    assert rc == 1 and "unknown model 'nope'" in one_error_line(err)

    # Kafka down: the Redis part is still shown, then one error line, exit 1.
    # It fails fast: the error is the TCP pre-check's (stream.adapters.reach, a refused
    # connect, at most CONNECT_TIMEOUT_S per server), not kafka-python's after its own
    # bootstrap timeout, whose line would read "cannot reach <servers>: <exception>".
    port = free_port()
    env.setenv("DRIFTSTREAM_KAFKA_BOOTSTRAP", f"127.0.0.1:{port}")
    rc, out, err = run(capsys, "-c", config, "status")
    line = one_error_line(err)
    assert rc == 1 and f"kafka: cannot reach a bootstrap server (127.0.0.1:{port}: " in line
    assert "refused" in line.lower(), line
    assert "lag      unavailable" in out and "1 open" in out

    env.setenv("DRIFTSTREAM_REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
    rc, out, err = run(capsys, "-c", config, "status", "--json")
    assert rc == 1 and "redis: cannot reach" in one_error_line(err) and out == ""


def test_status_after_a_real_worker_run(
    tmp_path: Path, kafka_bootstrap: str, redis_url: str, redis_namespace: str
) -> None:
    """A real worker ingests a short stream; `status` (a real process) sees it caught up."""
    partitions = 3
    topics = {
        "features": f"cli-feat-{redis_namespace}",
        "dead_letter": f"cli-dlq-{redis_namespace}",
        "sealed": f"cli-sealed-{redis_namespace}",
    }
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        admin.create_topics(
            {
                topics["features"]: {"num_partitions": partitions, "replication_factor": 1},
                topics["dead_letter"]: {"num_partitions": 1, "replication_factor": 1},
                topics["sealed"]: {"num_partitions": 1, "replication_factor": 1},
            },
            wait_for_metadata=True,
        )
        send(
            kafka_bootstrap,
            topics["features"],
            synthetic_records(9_000, events_per_hour=2_000),
            partitions,
        )
        d = Deployment(
            kafka_bootstrap,
            redis_url,
            workdir=tmp_path,
            namespace=redis_namespace,
            partitions=partitions,
            **topics,
        )
        d.start_worker()
        ends = end_offsets(kafka_bootstrap, topics["features"], partitions)

        def status() -> dict[str, Any]:
            r = d.cli("status", "--json")
            assert r.returncode == 0, r.stderr
            return dict(json.loads(r.stdout))

        def caught_up() -> bool:
            m = status()["models"][0]
            parts = {p["partition"]: p for p in m["partitions"]}
            return (
                len(parts) == partitions
                and all(parts[p]["offset"] == ends[p] for p in range(partitions))
                and m["rollup"]["last_hour_ms"] is not None
            )

        try:
            wait_until(caught_up, 300, "the worker to ingest everything and roll up an hour")
        except AssertionError:
            print(d.logs())
            raise
        finally:
            d.stop_all()
        report = status()
        m = report["models"][0]
        assert all(p["behind"] == 0 for p in m["partitions"])
        assert m["last_sealed_hour_ms"] is not None and m["last_sealed_hour_ms"] >= START_MS
        assert m["rollup"]["last_hour_ms"] <= m["last_sealed_hour_ms"]
        assert report["kafka"]["error"] is None
        # Commits to the group are for monitoring; after the final flush they reach the end.
        assert report["kafka"]["total_lag"] == 0
    finally:
        admin.delete_topics(list(topics.values()))
        admin.close()


# ---------------------------------------------------------------------------- alerts tail
@pytest.fixture
def alerts_topic(
    tmp_path: Path, env: pytest.MonkeyPatch, new_topic: NewTopic, kafka_bootstrap: str
) -> tuple[str, Path, list[bytes]]:
    topic = new_topic(1)
    values = alerts_json()
    keyed = [(json.loads(v)["dedup_key"].encode(), v) for v in values]
    produce_values(kafka_bootstrap, topic, [keyed[0], (None, b"not json"), keyed[1]])
    config = tmp_path / "alerts.toml"
    config.write_text(model_toml(f'[topics]\nalerts = "{topic}"\n'))
    return topic, config, values


def test_alerts_tail_pretty(
    capsys: pytest.CaptureFixture[str], alerts_topic: tuple[str, Path, list[bytes]]
) -> None:
    topic, config, values = alerts_topic
    first = Alert.from_json(values[0])
    # --max 3 (every record is a line here), not a short idle --timeout: a slow first
    # fetch on a loaded machine must not cut the output short. 120 s is a hang guard.
    rc, out, err = run(
        capsys, "-c", str(config), "alerts", "tail", "--from-beginning", "--max", "3",
        "--timeout", "120",
    )  # fmt: skip
    assert rc == 0, err
    lines = out.splitlines()
    assert len(lines) == 3
    assert lines[0].split()[:5] == [
        when(first.window.start_ms),
        "TRIGGERED",
        "critical",
        MODEL,
        "hour/reference:",
    ]
    # The alert's own words (as in its summary), not "amount mean_shift=0.25 (2.5x)".
    said = "amount mean 55,576 → 76,380 (+0.25 sd); country share of 'DE' 12.0 % → 18.0 % "
    said += "(+6.0 points)"
    assert said in lines[0] and first.dedup_key in lines[0], lines[0]
    assert said in first.summary
    assert "mean_shift=" not in lines[0]
    assert lines[1].startswith(f"? {topic}/0@1: not an alert")
    assert lines[2].split()[1] == "RESOLVED" and first.dedup_key in lines[2]
    assert f"reading {topic} from the oldest retained alert" in err

    rc, out, _ = run(capsys, "-c", str(config), "alerts", "tail", "--from-beginning", "--max", "1")
    assert rc == 0 and len(out.splitlines()) == 1 and "TRIGGERED" in out

    # --timeout stops a tail that sees nothing: from now on, no new alert arrives
    rc, out, err = run(capsys, "-c", str(config), "alerts", "tail", "--timeout", "1")
    assert rc == 0 and out == "", err


def test_alerts_tail_json_is_the_raw_alerts(
    capsys: pytest.CaptureFixture[str], alerts_topic: tuple[str, Path, list[bytes]]
) -> None:
    topic, config, values = alerts_topic
    # --max 2 (the not-JSON record is skipped, not counted); 120 s is a hang guard only
    rc, out, err = run(
        capsys, "-c", str(config), "alerts", "tail", "--from-beginning", "--json", "--max", "2",
        "--timeout", "120",
    )  # fmt: skip
    assert rc == 0, err
    got = [json.loads(line) for line in out.splitlines()]
    assert got == [json.loads(v) for v in values]
    assert Alert.from_dict(got[0]).status == "triggered"
    assert f"skipped {topic}/0@1: not JSON" in err


def test_alerts_tail_follows_new_alerts(
    alerts_topic: tuple[str, Path, list[bytes]], kafka_bootstrap: str, redis_url: str
) -> None:
    """From the end by default: old alerts are not shown, a new one is (real process)."""
    topic, config, values = alerts_topic
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("DRIFTSTREAM_")},
        "DRIFTSTREAM_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "DRIFTSTREAM_REDIS_URL": redis_url,
    }
    proc = subprocess.Popen(
        [
            DRIFTSTREAM,
            "-c",
            str(config),
            "alerts",
            "tail",
            "--json",
            "--max",
            "1",
            "--timeout",
            "180",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        seen = [proc.stderr.readline() for _ in range(1)]
        while "reading" not in seen[-1] and seen[-1] and len(seen) < 50:
            seen.append(proc.stderr.readline())
        assert f"reading {topic} from now" in seen[-1], seen
        produce_values(kafka_bootstrap, topic, [(None, values[1])])
        out, err = proc.communicate(timeout=240)  # hang guards only, both
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert [json.loads(line) for line in out.splitlines()] == [json.loads(values[1])]


def test_alerts_tail_missing_topic(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, env: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "c.toml"
    config.write_text(model_toml('[topics]\nalerts = "no-such-alerts-topic"\n'))
    rc, out, err = run(capsys, "-c", str(config), "alerts", "tail", "--timeout", "1")
    assert rc == 1 and out == ""
    assert "topic 'no-such-alerts-topic' does not exist" in one_error_line(err)


def test_alert_line_of_non_finite_numbers() -> None:
    from stream.commands.ops_status import alert_line

    d = json.loads(alerts_json()[0])
    f = d["features"][0]
    f["effect"] = f["magnitude"] = None  # non-finite numbers are null in the JSON
    f["metrics"] = {}
    del f["values"]
    line = click.unstyle(alert_line(json.dumps(d).encode(), "t/0@0"))
    assert line.startswith(f"{when(d['window']['start_ms'])} TRIGGERED")
    assert "amount mean: no spread to compare;" in line
    assert change(Alert.from_dict(d).features[0]) == "mean: no spread to compare"
