"""The health verdict and the outage-log throttle (pure, over explicit times)."""

from __future__ import annotations

import logging

import pytest

from stream.pipeline.health import Health, LogThrottle

T = 1_000_000


def test_starting_until_the_first_claim_and_names_why_a_claim_fails() -> None:
    h = Health(timeout_ms=10_000)
    assert h.verdict(T) == "starting"
    h.fail("claim", "redis unavailable while claiming partitions [0]: refused", T)
    assert h.verdict(T) == "starting: redis unavailable while claiming partitions [0]: refused"
    h.ok("claim", T + 1)
    h.ok("kafka", T + 1)
    assert h.verdict(T + 2) is None and h.redis_errors == 1


def test_a_failure_holds_until_that_backend_answers_again() -> None:
    h = Health(timeout_ms=10_000, started=True, redis_ok_ms=T, kafka_ok_ms=T)
    h.fail("kafka", "kafka unavailable: timed out", T)
    h.ok("redis", T + 100)  # another backend answering does not clear it
    assert h.verdict(T + 200) == "kafka unavailable: timed out"
    h.ok("kafka", T + 300)
    assert h.verdict(T + 400) is None


@pytest.mark.parametrize(
    ("redis_ok", "kafka_ok", "expected"),
    [
        (T - 10_001, T, "redis: no successful call for 10s"),
        (T, T - 12_000, "kafka: no answer from the brokers for 12s"),
        (T - 10_000, T - 10_000, None),
    ],
)
def test_silence_from_a_backend_is_an_outage(
    redis_ok: int, kafka_ok: int, expected: str | None
) -> None:
    h = Health(timeout_ms=10_000, started=True, redis_ok_ms=redis_ok, kafka_ok_ms=kafka_ok)
    assert h.verdict(T) == expected


def test_unclaimed_partitions_and_a_stalled_lag() -> None:
    h = Health(timeout_ms=10_000, started=True, redis_ok_ms=T, kafka_ok_ms=T, progress_ms=T)
    assert h.verdict(T, unclaimed={3, 1}) == "partitions [1, 3] assigned but not claimed in Redis"
    assert h.verdict(T + 5_000, lag=3_000) is None
    h.redis_ok_ms = h.kafka_ok_ms = T + 11_000
    assert h.verdict(T + 11_000, lag=3_000) == (
        "stalled: 3000 records waiting, nothing consumed for 11s"
    )
    assert h.verdict(T + 11_000, lag=0) is None


def test_throttle_logs_one_line_per_cause_per_interval_with_a_count(
    caplog: pytest.LogCaptureFixture,
) -> None:
    t = LogThrottle(logging.getLogger("test.throttle"), interval_ms=10_000)
    with caplog.at_level(logging.ERROR, logger="test.throttle"):
        logged = [
            t.log(logging.ERROR, "redis", T + i * 10, "redis down: %s", "x") for i in range(150)
        ]
        t.log(logging.ERROR, "kafka", T, "kafka down")
        t.log(logging.ERROR, "redis", T + 10_000, "redis down: %s", "y")
    assert logged.count(True) == 1
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "redis down: x",
        "kafka down",
        "redis down: y (149 more like it in the last 10s)",
    ]


def test_a_cause_that_goes_quiet_says_its_held_lines_once_on_flush(
    caplog: pytest.LogCaptureFixture,
) -> None:
    t = LogThrottle(logging.getLogger("test.throttle"), interval_ms=10_000)
    with caplog.at_level(logging.WARNING, logger="test.throttle"):
        for i in range(40):  # an outage: 40 lines in 4 s, then nothing
            t.log(logging.WARNING, "redis", T + i * 100, "redis down: attempt %d", i)
        t.log(logging.WARNING, "kafka", T, "kafka down")  # nothing held: nothing to say
        assert t.flush(T + 9_999) == 0  # not quiet for an interval yet
        assert t.flush(T + 10_000) == 1
        assert t.flush(T + 60_000) == 0  # said once
    lines = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert lines == [
        (logging.WARNING, "redis down: attempt 0"),
        (logging.WARNING, "kafka down"),
        (logging.WARNING, "redis down: attempt 39 (the last of 39 like it in 10s; none since)"),
    ]


def test_flush_everything_says_what_is_held_at_exit(caplog: pytest.LogCaptureFixture) -> None:
    t = LogThrottle(logging.getLogger("test.throttle"), interval_ms=10_000)
    with caplog.at_level(logging.ERROR, logger="test.throttle"):
        t.log(logging.ERROR, "claim", T, "claim failed")
        t.log(logging.ERROR, "claim", T + 1_000, "claim failed")
        assert t.flush(T + 2_000) == 0
        assert t.flush(T + 2_000, everything=True) == 1
    said = caplog.records[-1].getMessage()
    assert said == "claim failed (the last of 1 like it in 2s; none since)"


def test_a_loop_stuck_in_a_kafka_call_names_kafka_and_a_flush_counts_for_redis() -> None:
    # the last flush reached Redis, then a Kafka call (notices, commit) hung
    h = Health(timeout_ms=10_000, started=True, redis_ok_ms=T - 20_000, kafka_ok_ms=T - 12_000)
    assert h.verdict(T, redis_flush_ms=T - 11_000) == "kafka: no answer from the brokers for 12s"
    h.kafka_ok_ms = T
    assert h.verdict(T, redis_flush_ms=T - 3_000) is None
    assert h.verdict(T, redis_flush_ms=None) == "redis: no successful call for 20s"
