"""The forwarder loop over in-memory fakes: order, retries, dedupe, commits, rejections."""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pytest

from stream.core.alert import Alert, build_alert
from stream.core.decide import Decision
from stream.core.lifecycle import AlertState, LifecycleRules, step
from stream.core.window import HOUR_MS, WindowKey
from stream.pipeline.forward import (
    Backoff,
    Forwarder,
    Renderer,
    alertmanager_renderer,
    pagerduty_renderer,
    parse_alert,
    webhook_renderer,
)
from stream.pipeline.ports import AlertRecord, DeliveryLogUnavailableError, PostResult

T0 = 1_767_618_000_000  # 2026-01-05T13:00Z
BASE = "https://drift.example.com"
RUNBOOK = "https://runbooks.example.com/drift"
KEY = "R0UTINGKEY0123456789abcdefabcdef"


def decision(feature: str, ratio: float) -> Decision:
    return Decision(
        feature=feature,
        breach=ratio >= 1,
        effect=0.1 * ratio,
        effect_metric="mean_shift",
        threshold=0.1,
        p_value=1e-12,
        confidence=1.0,
        p_drift=0.999,
        magnitude=0.1 * ratio,
        ci=(0.1 * ratio - 0.02, 0.1 * ratio + 0.02),
        severity="critical" if ratio >= 2 else "warning",
        reasons=(f"mean_shift {0.1 * ratio:.2f} beyond 0.1",),
        metrics={"mean_shift": (0.1 * ratio, 0.1, 1e-12)},
        kind="numeric",
        n_window=1500,
        ratio=ratio,
        ranked=("mean_shift",),
    )


def lifecycle_alerts(model: str, *, start_ms: int = T0, scale: str = "hour") -> list[Alert]:
    """A trigger and its resolve, built by the real lifecycle and alert builder."""
    rules = LifecycleRules(consecutive_breaches=1, resolve_after=1)
    state = AlertState(model, scale, "reference")
    out: list[Alert] = []
    for i, ratio in enumerate((2.5, 0.1)):
        window = WindowKey(scale, start_ms + i * HOUR_MS * (24 if scale == "day" else 1))
        state, events = step(state, window, [decision("amount", ratio)], rules)
        out.extend(build_alert(e, dashboard_base=BASE, runbook_url=RUNBOOK) for e in events)
    assert [a.status for a in out] == ["triggered", "resolved"]
    return out


# ---------------------------------------------------------------- fakes


class FakeSource:
    def __init__(
        self, values: Iterable[bytes | None | tuple[int, bytes | None]], journal: list[str]
    ):
        self.records: list[AlertRecord] = []
        next_offset: dict[int, int] = {}
        for v in values:
            part, value = v if isinstance(v, tuple) else (0, v)
            off = next_offset.get(part, 0)
            next_offset[part] = off + 1
            self.records.append(AlertRecord(part, off, value))
        self.pos = 0
        self.committed: dict[int, int] = {}
        self.journal = journal

    def poll(self, timeout_ms: int, max_records: int) -> Sequence[AlertRecord]:
        out = self.records[self.pos : self.pos + max_records]
        self.pos += len(out)
        return out

    def commit(self, offsets: Mapping[int, int]) -> None:
        self.journal.append(f"commit {dict(sorted(offsets.items()))}")
        self.committed.update(offsets)


class FakePoster:
    """Answers from a script (status or None for "no response"), then 202."""

    def __init__(self, journal: list[str], script: Iterable[int | None] = ()) -> None:
        self.script = list(script)
        self.bodies: list[bytes] = []
        self.journal = journal
        self.detail = ""
        self.retry_after: float | None = None

    def post(self, body: bytes) -> PostResult:
        status = self.script.pop(0) if self.script else 202
        self.journal.append(f"post {status}")
        if status is not None and 200 <= status < 300:
            self.bodies.append(body)
        return PostResult(status, self.detail, self.retry_after)


class FakeLog:
    def __init__(self, known: Iterable[str] = (), outages: int = 0) -> None:
        self.ids = set(known)
        self.outages = outages

    def delivered(self, alert_ids: Sequence[str]) -> set[str]:
        if self.outages:
            self.outages -= 1
            msg = "connection refused"
            raise DeliveryLogUnavailableError(msg)
        return self.ids & set(alert_ids)

    def remember(self, alert_ids: Sequence[str]) -> None:
        self.ids.update(alert_ids)


class FakeRejects:
    def __init__(self) -> None:
        self.got: list[tuple[list[AlertRecord], str, str]] = []

    def reject(self, records: Sequence[AlertRecord], reason: str, detail: str) -> None:
        self.got.append((list(records), reason, detail))


class Stopper:
    """Stops after ``after`` sleeps; records every sleep."""

    def __init__(self, after: int | None = None) -> None:
        self.after = after
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    def stopping(self) -> bool:
        return self.after is not None and len(self.sleeps) >= self.after


def forwarder(
    source: FakeSource,
    poster: FakePoster,
    log: FakeLog,
    render: Renderer | None = None,
    stopper: Stopper | None = None,
    **kw: Any,
) -> Forwarder:
    s = stopper or Stopper()
    return Forwarder(
        source=source,
        poster=poster,
        delivery_log=log,
        render=render or webhook_renderer(),
        backoff=Backoff(initial_s=0.01, max_s=0.08),
        sleep=s.sleep,
        stopping=s.stopping,
        rng=random.Random(7),
        **kw,
    )


def drain(f: Forwarder, source: FakeSource) -> None:
    f.run(until=lambda _: source.pos >= len(source.records))


@pytest.fixture
def alerts() -> list[Alert]:
    return lifecycle_alerts("fraud-v3") + lifecycle_alerts("churn-v1")


# ---------------------------------------------------------------- delivery and commits


def test_every_alert_is_posted_once_in_topic_order_then_committed(alerts: list[Alert]) -> None:
    journal: list[str] = []
    source = FakeSource([a.to_json() for a in alerts], journal)
    poster, log = FakePoster(journal), FakeLog()
    f = forwarder(source, poster, log, max_records=3)
    drain(f, source)
    assert poster.bodies == [a.to_json() for a in alerts]  # webhook: the bytes as they are
    assert log.ids == {a.alert_id for a in alerts}
    assert journal == ["post 202"] * 3 + ["commit {0: 3}", "post 202", "commit {0: 4}"]
    assert (f.stats.delivered, f.stats.posts, f.stats.commits) == (4, 4, 2)


def test_a_re_sent_alert_id_is_not_delivered_twice(alerts: list[Alert]) -> None:
    journal: list[str] = []
    a, b, c, d = (x.to_json() for x in alerts)
    # b was delivered by an earlier run; a shows up again in the same batch and in a later one.
    source = FakeSource([a, b, a, c, d, a], journal)
    poster, log = FakePoster(journal), FakeLog(known=[alerts[1].alert_id])
    f = forwarder(source, poster, log, max_records=5)
    drain(f, source)
    assert poster.bodies == [a, c, d]
    assert f.stats.duplicates == 3
    assert source.committed == {0: 6}


def test_failures_are_retried_with_capped_jittered_backoff_and_nothing_is_dropped(
    alerts: list[Alert],
) -> None:
    journal: list[str] = []
    source = FakeSource([x.to_json() for x in alerts], journal)
    poster = FakePoster(journal, script=[500, None, 503, 502, 500, 200, 429])
    stopper = Stopper()
    f = forwarder(source, poster, FakeLog(), stopper=stopper)
    drain(f, source)
    assert poster.bodies == [x.to_json() for x in alerts]
    assert f.stats.failed_posts == 6
    # The first alert failed 5 times: delays double from 10 ms to the 80 ms cap, equal jitter.
    ceilings = [0.01, 0.02, 0.04, 0.08, 0.08]
    assert all(c / 2 <= s <= c for s, c in zip(stopper.sleeps[:5], ceilings, strict=True))
    assert 0.005 <= stopper.sleeps[5] <= 0.01  # the next alert starts its own backoff afresh
    # Nothing is committed until every alert of the batch got its 2xx.
    assert journal[-1] == "commit {0: 4}" and sum(e.startswith("commit") for e in journal) == 1


def test_seeded_jitter_is_reproducible() -> None:
    b = Backoff(initial_s=1.0, max_s=30.0)
    first = [b.delay(n, random.Random(3)) for n in range(8)]
    assert first == [b.delay(n, random.Random(3)) for n in range(8)]
    assert [b.ceiling(n) for n in range(7)] == [1, 2, 4, 8, 16, 30, 30]
    assert b.ceiling(10_000) == 30.0  # no overflow on a long outage


def test_retry_after_is_honoured_up_to_the_cap(alerts: list[Alert]) -> None:
    journal: list[str] = []
    source = FakeSource([alerts[0].to_json()], journal)
    poster = FakePoster(journal, script=[429, 429])
    poster.retry_after = 3600.0
    stopper = Stopper()
    drain(forwarder(source, poster, FakeLog(), stopper=stopper), source)
    assert stopper.sleeps == [0.08, 0.08]


def test_commits_never_pass_an_undelivered_alert(alerts: list[Alert]) -> None:
    journal: list[str] = []
    a, b, c, d = (x.to_json() for x in alerts)
    # Two partitions interleaved; the third alert (partition 0, offset 1) never gets through.
    source = FakeSource([(0, a), (1, b), (0, c), (1, d)], journal)
    poster = FakePoster(journal, script=[202, 202] + [503] * 100)
    log = FakeLog()
    forwarder(source, poster, log, stopper=Stopper(after=4)).run()
    assert poster.bodies == [a, b]
    assert source.committed == {0: 1, 1: 1}
    # A restart (same committed offsets) delivers the rest, and only the rest.
    rest = FakeSource([(0, a), (1, b), (0, c), (1, d)], journal)
    rest.records = [r for r in rest.records if r.offset >= source.committed[r.partition]]
    poster2 = FakePoster(journal)
    drain(forwarder(rest, poster2, log), rest)
    assert poster2.bodies == [c, d]


def test_stop_after_a_2xx_but_before_the_commit_does_not_resend(alerts: list[Alert]) -> None:
    journal: list[str] = []
    values = [x.to_json() for x in alerts[:2]]
    log = FakeLog()
    poster = FakePoster(journal, script=[202, 500])
    first = FakeSource(values, journal)
    forwarder(first, poster, log, stopper=Stopper(after=1)).run()
    assert first.committed == {0: 1}
    # Suppose the commit had been lost (crash): the re-read first alert is known and skipped.
    again = FakeSource(values, journal)
    poster2 = FakePoster(journal)
    drain(forwarder(again, poster2, log), again)
    assert poster2.bodies == [values[1]]


def test_delivery_log_outage_is_waited_out(alerts: list[Alert]) -> None:
    journal: list[str] = []
    source = FakeSource([alerts[0].to_json()], journal)
    poster, stopper = FakePoster(journal), Stopper()
    drain(forwarder(source, poster, FakeLog(outages=2), stopper=stopper), source)
    assert len(poster.bodies) == 1 and len(stopper.sleeps) == 2 and source.committed == {0: 1}


# ---------------------------------------------------------------- malformed and refused


def test_malformed_messages_are_logged_counted_and_skipped(
    alerts: list[Alert], caplog: pytest.LogCaptureFixture
) -> None:
    journal: list[str] = []
    firing = json.loads(alerts[0].to_json()) | {"status": "firing"}
    bad: list[bytes | None] = [None, b"\xff\xfe", b"not json", b"[1, 2]", b'{"alert_id": "x"}']
    bad.append(json.dumps(firing).encode())
    source = FakeSource([*bad, alerts[0].to_json()], journal)
    poster = FakePoster(journal)
    f = forwarder(source, poster, FakeLog())
    with caplog.at_level(logging.WARNING, logger="driftstream.forward"):
        drain(f, source)
    assert f.stats.malformed == 6 and poster.bodies == [alerts[0].to_json()]
    assert source.committed == {0: 7}
    lines = [r.getMessage() for r in caplog.records if "malformed" in r.getMessage()]
    assert len(lines) == 6 and all("\n" not in line for line in lines)
    assert "0@0: empty message" in lines[0] and "status 'firing'" in lines[5]


def test_parse_alert_accepts_exactly_the_alerts(alerts: list[Alert]) -> None:
    for a in alerts:
        assert parse_alert(a.to_json()) == a
    assert isinstance(parse_alert(b'{"window": 3}'), str)


def test_a_refused_payload_is_retried_forever_by_default_and_logged_loudly(
    alerts: list[Alert], caplog: pytest.LogCaptureFixture
) -> None:
    journal: list[str] = []
    source = FakeSource([alerts[0].to_json()], journal)
    poster = FakePoster(journal, script=[400] * 50)
    poster.detail = f'{{"status":"invalid event","echo":"{KEY}"}}'
    f = forwarder(
        source,
        poster,
        FakeLog(),
        render=pagerduty_renderer(KEY),
        stopper=Stopper(after=20),
        secrets=(KEY,),
    )
    with caplog.at_level(logging.WARNING, logger="driftstream.forward"):
        f.run()
    assert f.stats.failed_posts == 20 and f.stats.rejected == 0 and source.committed == {}
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 20 and "HTTP 400" in errors[0].getMessage()
    assert "fix the URL, key or payload" in errors[0].getMessage()
    assert all(KEY not in r.getMessage() for r in caplog.records)
    assert "***" in errors[0].getMessage()


def test_a_secret_cut_off_at_the_end_of_a_response_excerpt_is_hidden_too(
    alerts: list[Alert], caplog: pytest.LogCaptureFixture
) -> None:
    journal: list[str] = []
    source = FakeSource([alerts[0].to_json()], journal)
    poster = FakePoster(journal, script=[500])
    poster.detail = f'{{"echo":"{KEY}","again":"{KEY[:12]}'
    f = forwarder(source, poster, FakeLog(), secrets=(KEY,))
    with caplog.at_level(logging.WARNING, logger="driftstream.forward"):
        drain(f, source)
    (line,) = [r.getMessage() for r in caplog.records]
    assert KEY[:12] not in line and '"echo":"***","again":"***' in line


def test_a_refused_payload_is_dead_lettered_when_opted_in(alerts: list[Alert]) -> None:
    journal: list[str] = []
    values = [x.to_json() for x in alerts[:2]]
    source = FakeSource(values, journal)
    poster = FakePoster(journal, script=[422, 500, 422, 422])  # 500 in between: not a refusal
    rejects = FakeRejects()
    f = forwarder(source, poster, FakeLog(), rejects=rejects, reject_attempts=3)
    drain(f, source)
    assert [r.value for r in rejects.got[0][0]] == [values[0]] and rejects.got[0][1] == "HTTP 422"
    assert poster.bodies == [values[1]]
    assert (f.stats.rejected, f.stats.delivered, source.committed) == (1, 1, {0: 2})


def test_unauthorised_is_never_dead_lettered(alerts: list[Alert]) -> None:
    journal: list[str] = []
    source = FakeSource([alerts[0].to_json()], journal)
    poster = FakePoster(journal, script=[401] * 10)
    rejects = FakeRejects()
    f = forwarder(source, poster, FakeLog(), stopper=Stopper(after=8), rejects=rejects)
    f.run()
    assert rejects.got == [] and source.committed == {}


# ---------------------------------------------------------------- payloads


def test_pagerduty_events_trigger_then_resolve_by_dedup_key(alerts: list[Alert]) -> None:
    journal: list[str] = []
    source = FakeSource([x.to_json() for x in alerts[:2]], journal)
    poster = FakePoster(journal)
    drain(forwarder(source, poster, FakeLog(), render=pagerduty_renderer(KEY, source="ds")), source)
    trig, res = (json.loads(b) for b in poster.bodies)
    assert trig["event_action"] == "trigger" and res["event_action"] == "resolve"
    assert trig["dedup_key"] == res["dedup_key"] == alerts[0].dedup_key
    assert trig["routing_key"] == res["routing_key"] == KEY
    assert trig["payload"]["source"] == "ds" and trig["payload"]["severity"] == "critical"
    assert trig["payload"]["summary"] == alerts[0].summary
    assert [x["href"] for x in trig["links"]] == [alerts[0].dashboard_url, RUNBOOK]
    assert trig["payload"]["custom_details"]["alert_id"] == alerts[0].alert_id


def test_alertmanager_bodies_group_consecutive_alerts_of_one_model_and_scale() -> None:
    fraud = lifecycle_alerts("fraud-v3")
    fraud_later = lifecycle_alerts("fraud-v3", start_ms=T0 + 10 * HOUR_MS)
    churn = lifecycle_alerts("churn-v1")
    daily = lifecycle_alerts("fraud-v3", start_ms=T0 - 13 * HOUR_MS, scale="day")
    # trigger A, trigger B (same model and scale), resolve A (same dedup key: new body),
    # churn (other model), a day alert (other scale), then three more fraud ones (cap 2).
    stream = [fraud[0], fraud_later[0], fraud[1], churn[0], daily[0], fraud_later[1], *churn[1:]]
    journal: list[str] = []
    source = FakeSource([x.to_json() for x in stream], journal)
    poster = FakePoster(journal)
    render = alertmanager_renderer("ops", "https://drift.example.com", max_alerts=2)
    drain(forwarder(source, poster, FakeLog(), render=render), source)
    bodies = [json.loads(b) for b in poster.bodies]
    ids = [[a["labels"]["dedup_key"] for a in b["alerts"]] for b in bodies]
    assert ids == [
        [fraud[0].dedup_key, fraud_later[0].dedup_key],
        [fraud[1].dedup_key],
        [churn[0].dedup_key],
        [daily[0].dedup_key],
        [fraud_later[1].dedup_key],
        [churn[1].dedup_key],
    ]
    first = bodies[0]
    assert (first["version"], first["status"], first["receiver"]) == ("4", "firing", "ops")
    assert first["groupLabels"] == {
        "alertname": "FeatureDrift",
        "model": "fraud-v3",
        "scale": "hour",
    }
    assert bodies[1]["status"] == "resolved"
    assert bodies[1]["alerts"][0]["endsAt"] == fraud[1].window.end
    assert first["alerts"][0]["endsAt"] == "0001-01-01T00:00:00Z"
    assert len({a["fingerprint"] for a in first["alerts"]}) == 2
