"""The Kafka clients' own log lines: one per message per interval, with a count.

aiokafka and kafka-python log from their retry loops: while the brokers are down or
metadata lists no broker, aiokafka's group coordinator logs "Group Coordinator Request
failed" every ~100 ms. The worker's own lines keep to one per cause per 10 s
(:class:`stream.pipeline.health.LogThrottle`); :func:`throttle_client_logs` holds the
clients' repeats to the same rate: a line from the same call site (logger, level,
source line — kafka-python formats its messages itself, so the text varies) that went
out within the interval is dropped and counted, and the next one that goes out says
how many were held back. Keys are call sites: a bounded set, however long an outage.
A call site that goes quiet with lines held back is said by a timer (one daemon thread,
every interval) and at exit: its last held line, with the count.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections.abc import Callable

from stream.pipeline.health import LogThrottle

__all__ = ["CLIENT_LOGGERS", "RepeatFilter", "throttle_client_logs"]

#: Every logger aiokafka and kafka-python create (a filter applies to the records of its
#: own logger only, so each is named; tests/unit/adapters/test_client_logs.py fails when
#: a client version adds one).
CLIENT_LOGGERS = (
    "aiokafka",
    "aiokafka.admin.client",
    "aiokafka.cluster",
    "aiokafka.conn",
    "aiokafka.consumer.consumer",
    "aiokafka.consumer.fetcher",
    "aiokafka.consumer.group_coordinator",
    "aiokafka.consumer.subscription_state",
    "aiokafka.coordinator.assignors.abstract",
    "aiokafka.coordinator.assignors.range",
    "aiokafka.coordinator.assignors.roundrobin",
    "aiokafka.coordinator.assignors.sticky.partition_movements",
    "aiokafka.coordinator.assignors.sticky.sticky_assignor",
    "aiokafka.helpers",
    "aiokafka.producer.producer",
    "aiokafka.producer.sender",
    "kafka",
    "kafka.admin._acls",
    "kafka.admin._cluster",
    "kafka.admin._configs",
    "kafka.admin._groups",
    "kafka.admin._partitions",
    "kafka.admin._topics",
    "kafka.admin._transactions",
    "kafka.admin._users",
    "kafka.admin.client",
    "kafka.cluster",
    "kafka.consumer.fetcher",
    "kafka.consumer.group",
    "kafka.consumer.subscription_state",
    "kafka.coordinator",
    "kafka.coordinator.assignors.range",
    "kafka.coordinator.assignors.roundrobin",
    "kafka.coordinator.assignors.sticky.partition_movements",
    "kafka.coordinator.assignors.sticky.sticky_assignor",
    "kafka.coordinator.consumer",
    "kafka.coordinator.heartbeat",
    "kafka.future",
    "kafka.metrics.dict_reporter",
    "kafka.metrics.metrics",
    "kafka.net.compat",
    "kafka.net.connection",
    "kafka.net.http_connect",
    "kafka.net.inet",
    "kafka.net.manager",
    "kafka.net.metrics",
    "kafka.net.sasl.msk",
    "kafka.net.sasl.oauth",
    "kafka.net.sasl.plain",
    "kafka.net.sasl.scram",
    "kafka.net.sasl.sspi",
    "kafka.net.selector",
    "kafka.net.socks5",
    "kafka.net.transport",
    "kafka.producer.kafka",
    "kafka.producer.producer_batch",
    "kafka.producer.record_accumulator",
    "kafka.producer.sender",
    "kafka.producer.transaction_manager",
    "kafka.protocol",
    "kafka.protocol.parser",
)


class RepeatFilter(logging.Filter):
    """Lets one record per call site (logger, level, source line) through per interval.

    Thread-safe: the clients log from their own threads (aiokafka's loop, faust's
    consumer thread, kafka-python's I/O threads).
    """

    def __init__(
        self, interval_ms: int = 10_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self._throttle = LogThrottle(logging.getLogger(__name__), interval_ms)
        self._clock = clock
        self._lock = threading.Lock()
        self._timer: threading.Thread | None = None
        self._stop = threading.Event()

    def filter(self, record: logging.LogRecord) -> bool:
        """False for a repeat within the interval; the next line out carries the count."""
        cause = f"{record.name}|{record.levelno}|{record.pathname}:{record.lineno}"
        try:
            text = record.getMessage()
        except (TypeError, ValueError):  # a malformed client call: logging reports it later
            text = str(record.msg)
        line = (record.levelno, "%s: %s", (record.name, text))
        with self._lock:
            got = self._throttle.admit(cause, int(self._clock() * 1000), line)
        if got is None:
            return False
        held, since_s = got
        if held:  # formatted here: the message may hold a literal "%" and no args
            record.msg = f"{record.getMessage()} ({held} more like it in the last {since_s}s)"
            record.args = ()
        return True

    def flush(self, *, everything: bool = False) -> int:
        """Say the held lines of call sites quiet for an interval (all: ``everything``)."""
        with self._lock:
            return self._throttle.flush(int(self._clock() * 1000), everything=everything)

    def start(self) -> None:
        """Flush every interval from a daemon thread, and everything at exit (idempotent)."""
        if self._timer is not None:
            return
        self._timer = threading.Thread(target=self._run, name="client-log-flush", daemon=True)
        self._timer.start()
        atexit.register(self.close)

    def close(self) -> None:
        """Stop the timer and say whatever is still held."""
        self._stop.set()
        if self._timer is not None and self._timer is not threading.current_thread():
            self._timer.join(timeout=1.0)
        self.flush(everything=True)

    def _run(self) -> None:
        while not self._stop.wait(self._throttle.interval_ms / 1000):
            self.flush()


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
    shared.start()
    return shared
