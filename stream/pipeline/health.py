"""What ``/health`` says, and outage logs that do not flood: pure state over a clock.

The worker is healthy only while it can make progress. It is unhealthy (one
line saying why, first cause wins) when:

1. it has not claimed its first assignment yet (``starting``, with the reason a
   claim is failing if one is);
2. a backend call failed and has not succeeded since (``redis …``, ``kafka …``;
   ``labels …``: the label consumer's last batch failed);
3. Redis or Kafka has not answered for ``timeout_ms`` (a hung socket or a broker
   that is down: aiokafka retries silently, so silence itself is the signal);
4. a partition the group assigned is not claimed;
5. records are waiting (lag > 0) and nothing was consumed for ``timeout_ms``.

Successes are recorded only when a backend really answered: an empty flush
that touched nothing does not count as Redis being reachable.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass, field

__all__ = ["Health", "LogThrottle"]

KINDS = ("claim", "redis", "kafka", "labels")


@dataclass(slots=True)
class Health:
    """Backend outcomes of one worker and the verdict derived from them."""

    timeout_ms: int = 10_000
    started: bool = False
    problems: dict[str, str] = field(default_factory=dict)
    redis_errors: int = 0
    kafka_errors: int = 0
    redis_ok_ms: int | None = None
    kafka_ok_ms: int | None = None
    progress_ms: int | None = None
    since_ms: int | None = None

    def fail(self, kind: str, problem: str, now_ms: int) -> None:
        """A ``kind`` call ("claim", "redis", "kafka") failed; unhealthy until it succeeds."""
        if not self.problems:
            self.since_ms = now_ms
        self.problems[kind] = problem
        if kind in ("claim", "redis"):
            self.redis_errors += 1
        elif kind == "kafka":
            self.kafka_errors += 1

    def ok(self, kind: str, now_ms: int) -> None:
        """A ``kind`` call succeeded (for "claim": every assigned partition is claimed)."""
        self.problems.pop(kind, None)
        if kind == "claim":
            self.started = True
            self.problems.pop("redis", None)
            self.redis_ok_ms = now_ms
        elif kind == "redis":
            self.redis_ok_ms = now_ms
        elif kind == "kafka":
            self.kafka_ok_ms = now_ms
        if not self.problems:
            self.since_ms = None

    def progressed(self, now_ms: int) -> None:
        """Records were consumed, or none were waiting."""
        self.progress_ms = now_ms

    def verdict(
        self,
        now_ms: int,
        *,
        unclaimed: Collection[int] = (),
        lag: int = 0,
        redis_flush_ms: int | None = None,
    ) -> str | None:
        """None when healthy, else one line naming the cause (module docstring).

        ``redis_flush_ms``: when a flush last reached the store (also an answer).
        """
        first = next((self.problems[k] for k in KINDS if k in self.problems), None)
        if not self.started:
            return f"starting: {first}" if first else "starting"
        if first:
            return first
        limit = self.timeout_ms
        # Kafka first: its client calls have no short timeouts, so a loop stuck in one
        # leaves both backends silent; Redis calls fail fast (socket timeout) instead.
        if self.kafka_ok_ms is not None and now_ms - self.kafka_ok_ms > limit:
            return f"kafka: no answer from the brokers for {(now_ms - self.kafka_ok_ms) // 1000}s"
        redis_ok = max(self.redis_ok_ms or 0, redis_flush_ms or 0) or None
        if redis_ok is not None and now_ms - redis_ok > limit:
            return f"redis: no successful call for {(now_ms - redis_ok) // 1000}s"
        if unclaimed:
            return f"partitions {sorted(unclaimed)} assigned but not claimed in Redis"
        if lag > 0 and self.progress_ms is not None and now_ms - self.progress_ms > limit:
            idle_s = (now_ms - self.progress_ms) // 1000
            return f"stalled: {lag} records waiting, nothing consumed for {idle_s}s"
        return None


@dataclass(slots=True)
class LogThrottle:
    """One log line per cause per interval, with how many were held back since.

    A cause that goes quiet with lines held back is said by :meth:`flush` (called on a
    timer): the last held line with its count, so an outage that ends without another
    line of its kind still shows how many there were.
    """

    logger: logging.Logger
    interval_ms: int = 10_000
    _last: dict[str, int] = field(default_factory=dict)
    _held: dict[str, int] = field(default_factory=dict)
    _pending: dict[str, tuple[int, str, tuple[object, ...]]] = field(default_factory=dict)

    def admit(
        self,
        cause: str,
        now_ms: int,
        line: tuple[int, str, tuple[object, ...]] | None = None,
    ) -> tuple[int, int] | None:
        """Whether a line of ``cause`` goes out now: None holds it back (counted).

        Otherwise (lines held back since the last one went out, seconds since then).
        ``line`` (level, message, args) is what :meth:`flush` says for a held line.
        """
        last = self._last.get(cause)
        if last is not None and now_ms - last < self.interval_ms:
            self._held[cause] = self._held.get(cause, 0) + 1
            if line is not None:
                self._pending[cause] = line
            return None
        self._last[cause] = now_ms
        self._pending.pop(cause, None)
        return self._held.pop(cause, 0), (now_ms - (now_ms if last is None else last)) // 1000

    def log(self, level: int, cause: str, now_ms: int, msg: str, *args: object) -> bool:
        """Log ``msg`` unless ``cause`` was logged within the interval; True if logged."""
        got = self.admit(cause, now_ms, (level, msg, args))
        if got is None:
            return False
        held, since_s = got
        if held:
            msg += " (%d more like it in the last %ds)"
            args = (*args, held, since_s)
        self.logger.log(level, msg, *args)
        return True

    def flush(self, now_ms: int, *, everything: bool = False) -> int:
        """Say the held lines of causes quiet for an interval (all with ``everything``).

        Each cause gets one line: its last held message and how many were held since
        the last line went out. Returns how many causes were said.
        """
        said = 0
        for cause in list(self._held):
            last = self._last.get(cause, now_ms)
            if not everything and now_ms - last < self.interval_ms:
                continue
            held = self._held.pop(cause)
            line = self._pending.pop(cause, None)
            if line is None:
                continue
            level, msg, args = line
            since_s = max(0, now_ms - last) // 1000
            self.logger.log(
                level, msg + " (the last of %d like it in %ds; none since)", *args, held, since_s
            )
            self._last[cause] = now_ms
            said += 1
        return said
