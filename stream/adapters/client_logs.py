"""The Kafka clients' own log lines: one per message per interval, with a count.

aiokafka and kafka-python log from their retry loops: while the brokers are down or
metadata lists no broker, aiokafka's group coordinator logs "Group Coordinator Request
failed" every ~100 ms. The worker's own lines keep to one per cause per 10 s
(:class:`stream.pipeline.health.LogThrottle`); :func:`throttle_client_logs` holds the
clients' repeats to the same rate: a line whose (logger, level, message template)
went out within the interval is dropped and counted, and the next one that goes out
says how many were held back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from stream.pipeline.health import LogThrottle

__all__ = ["CLIENT_LOGGERS", "RepeatFilter", "throttle_client_logs"]

#: The client modules that log from retry loops (a filter applies to the records of
#: its own logger only, so each is named).
CLIENT_LOGGERS = (
    "aiokafka",
    "aiokafka.cluster",
    "aiokafka.conn",
    "aiokafka.consumer.consumer",
    "aiokafka.consumer.fetcher",
    "aiokafka.consumer.group_coordinator",
    "aiokafka.producer.producer",
    "aiokafka.producer.sender",
    "kafka.cluster",
    "kafka.conn",
    "kafka.consumer.fetcher",
    "kafka.consumer.group",
    "kafka.coordinator.consumer",
    "kafka.net.connection",
    "kafka.net.manager",
    "kafka.producer.sender",
)


class RepeatFilter(logging.Filter):
    """Lets one record per (logger, level, template) through per interval."""

    def __init__(
        self, interval_ms: int = 10_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self._throttle = LogThrottle(logging.getLogger(__name__), interval_ms)
        self._clock = clock

    def filter(self, record: logging.LogRecord) -> bool:
        """False for a repeat within the interval; the next line out carries the count."""
        cause = f"{record.name}|{record.levelno}|{record.msg}"
        got = self._throttle.admit(cause, int(self._clock() * 1000))
        if got is None:
            return False
        held, since_s = got
        if held and isinstance(record.args, tuple):
            record.msg = f"{record.msg} (%d more like it in the last %ds)"
            record.args = (*record.args, held, since_s)
        return True


def throttle_client_logs(interval_ms: int = 10_000) -> RepeatFilter:
    """Install one :class:`RepeatFilter` on every client logger (idempotent)."""
    for name in CLIENT_LOGGERS:
        logger = logging.getLogger(name)
        for f in logger.filters:
            if isinstance(f, RepeatFilter):
                return f
    shared = RepeatFilter(interval_ms)
    for name in CLIENT_LOGGERS:
        logging.getLogger(name).addFilter(shared)
    return shared
