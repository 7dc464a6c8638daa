"""The Kafka clients' retry-loop log lines are held to one per message per interval."""

from __future__ import annotations

import logging

import pytest

from stream.adapters.client_logs import CLIENT_LOGGERS, RepeatFilter


def test_a_repeated_client_line_goes_out_once_per_interval_with_the_count(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    log = logging.getLogger("test.client_logs.coordinator")
    f = RepeatFilter(10_000, clock=lambda: now[0])
    log.addFilter(f)
    try:
        with caplog.at_level(logging.ERROR, logger=log.name):
            for i in range(100):  # every 100 ms for 10 s, as aiokafka's coordinator
                now[0] = i * 0.1
                log.error("Group Coordinator Request failed: %s", "NodeNotReady")
            log.error("another message: %s", 1)  # its own line
            now[0] = 10.0
            log.error("Group Coordinator Request failed: %s", "NodeNotReady")
    finally:
        log.removeFilter(f)
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "Group Coordinator Request failed: NodeNotReady",
        "another message: 1",
        "Group Coordinator Request failed: NodeNotReady (99 more like it in the last 10s)",
    ]


def test_the_clients_retry_loggers_are_covered() -> None:
    """aiokafka's group coordinator and producer sender log from their retry loops."""
    assert "aiokafka.consumer.group_coordinator" in CLIENT_LOGGERS
    assert "aiokafka.producer.sender" in CLIENT_LOGGERS
    import aiokafka.consumer.group_coordinator as gc

    assert gc.log.name in CLIENT_LOGGERS
