"""The Kafka clients' retry-loop log lines are held to one per call site per interval."""

from __future__ import annotations

import importlib
import logging
import pkgutil
import threading

import pytest

from stream.adapters.client_logs import CLIENT_LOGGERS, RepeatFilter


def _coordinator(log: logging.Logger) -> None:
    log.error("Group Coordinator Request failed: %s", "NodeNotReady")


def _emit(log: logging.Logger, i: int) -> None:
    # One call site, its text varying per call (kafka-python formats its own messages).
    log.error(f"Bootstrap attempt failed: {i % 7} (backoff 0.{i}0 secs)")  # noqa: G004


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
                _coordinator(log)
            log.error("another message: %s", 1)  # another call site: its own line
            for i in range(50):
                _emit(log, i)
            log.error("100 % of nothing")  # a literal % and no args
            now[0] = 10.0
            _coordinator(log)
            now[0] = 20.0
            for i in range(50, 52):
                _emit(log, i)
    finally:
        log.removeFilter(f)
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "Group Coordinator Request failed: NodeNotReady",
        "another message: 1",
        "Bootstrap attempt failed: 0 (backoff 0.00 secs)",
        "100 % of nothing",
        "Group Coordinator Request failed: NodeNotReady (99 more like it in the last 10s)",
        "Bootstrap attempt failed: 1 (backoff 0.500 secs) (49 more like it in the last 10s)",
    ]
    assert len(f._throttle._last) == 4  # one key per call site, not per text


def test_a_call_site_that_goes_quiet_is_said_by_the_timer_and_at_exit(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    log = logging.getLogger("test.client_logs.quiet")
    f = RepeatFilter(10_000, clock=lambda: now[0])
    log.addFilter(f)
    try:
        with caplog.at_level(logging.WARNING):
            for i in range(30):  # an outage that ends after 3 s: no line of its kind since
                now[0] = i * 0.1
                _coordinator(log)
            now[0] = 5.0
            for i in (1, 2):  # one call site
                log.warning("a reconnect: %s", i)
            assert f.flush() == 0  # neither quiet for an interval yet
            now[0] = 12.0
            assert f.flush() == 1  # the coordinator's 29, not the reconnect (5 s ago)
            assert f.flush() == 0
            f.close()  # at exit: whatever is still held
    finally:
        log.removeFilter(f)
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "Group Coordinator Request failed: NodeNotReady",
        "a reconnect: 1",
        "test.client_logs.quiet: Group Coordinator Request failed: NodeNotReady"
        " (the last of 29 like it in 12s; none since)",
        "test.client_logs.quiet: a reconnect: 2 (the last of 1 like it in 7s; none since)",
    ]


def test_the_timer_thread_flushes_on_its_own() -> None:
    now = [0.0]
    f = RepeatFilter(50, clock=lambda: now[0])  # a 50 ms interval
    said: list[str] = []
    f._throttle.logger = logging.getLogger("test.client_logs.timer")
    handler = logging.Handler()
    handler.emit = lambda r: said.append(r.getMessage())  # type: ignore[method-assign]
    f._throttle.logger.addHandler(handler)
    log = logging.getLogger("test.client_logs.timer_src")
    log.addFilter(f)
    try:
        _coordinator(log)
        _coordinator(log)  # held
        now[0] = 1.0
        f.start()
        for _ in range(200):  # the thread wakes every 50 ms
            if said:
                break
            threading.Event().wait(0.01)
    finally:
        f._stop.set()
        log.removeFilter(f)
        f._throttle.logger.removeHandler(handler)
    assert said == [
        "test.client_logs.timer_src: Group Coordinator Request failed: NodeNotReady"
        " (the last of 1 like it in 1s; none since)"
    ]


def test_every_client_logger_is_covered() -> None:
    """Every logger aiokafka and kafka-python create carries the filter."""
    for package in ("aiokafka", "kafka"):
        root = importlib.import_module(package)
        for mod in pkgutil.walk_packages(root.__path__, f"{package}."):
            if mod.name.endswith("__main__") or ".cli" in mod.name or ".benchmarks" in mod.name:
                continue
            try:
                importlib.import_module(mod.name)
            except ImportError:
                continue  # optional extras not installed
    clients = {
        name
        for name, logger in logging.Logger.manager.loggerDict.items()
        if isinstance(logger, logging.Logger)
        and (name == "aiokafka" or name.startswith(("aiokafka.", "kafka.")))
    }
    missing = sorted(clients - set(CLIENT_LOGGERS))
    assert not missing, f"client loggers not throttled: {missing}"
