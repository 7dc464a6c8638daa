"""The control plane: seal notices → rollups → (evaluation) for one namespace.

Runs in whichever worker faust gives the internal ``sealed`` topic to, one
notice batch at a time (agent concurrency 1: faust-streaming issue #606 shows
offsets committed past in-flight messages with more). Everything it does is
idempotent — a notice delivered twice, or a batch re-delivered after a crash,
changes nothing — so at-least-once delivery of notices is enough.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from stream.catalog import Catalog
from stream.core.sketch.params import SketchParams
from stream.core.window import WindowKey
from stream.pipeline.ports import SealNotice, StoredWindow, WindowStore
from stream.pipeline.rollup import RollupResult, roll_up

__all__ = ["ControlPlane", "ControlStats"]

log = logging.getLogger("driftstream.control")


@dataclass(slots=True)
class ControlStats:
    """Counters of the control plane (on /metrics as ``driftstream_control_total{event}``)."""

    notices: int = 0
    foreign_notices: int = 0
    hours_rolled: int = 0
    days_rolled: int = 0
    windows_resumed: int = 0
    windows_expired: int = 0
    eval_errors: int = 0
    """Evaluations that raised (each attempt)."""
    windows_failed: int = 0
    """Windows given up on after ``max_attempts`` failed evaluations (logged, recorded)."""


@dataclass
class ControlPlane:
    """Turns seal notices into rolled-up windows and hands each new window on."""

    catalog: Catalog
    namespace: str
    windows: WindowStore
    on_window: Callable[[str, StoredWindow], object] | None = None
    after_model: Callable[[str], object] | None = None
    params: SketchParams = field(default_factory=SketchParams)
    stats: ControlStats = field(default_factory=ControlStats)
    max_attempts: int = 3
    """Evaluations of one window that may fail (raise, or end with the process) before it
    is marked failed and skipped."""

    def on_notices(self, notices: Sequence[SealNotice]) -> dict[str, RollupResult]:
        """Record the sealed hours, run a rollup pass per touched model, hand on new windows."""
        touched: dict[str, list[int]] = {}
        for n in notices:
            self.stats.notices += 1
            if n.namespace != self.namespace or n.model not in self.catalog:
                self.stats.foreign_notices += 1
                continue
            hours = touched.setdefault(n.model, [])
            if n.events:
                hours.append(n.hour_ms)
        results = {}
        for model, hours in sorted(touched.items()):
            self.windows.add_pending(model, sorted(set(hours)))
            result = roll_up(self.catalog.model(model), self.windows, self.params)
            self.stats.hours_rolled += len(result.hours)
            self.stats.days_rolled += len(result.days)
            self._hand_on(model, result)
            if self.after_model is not None:
                self.after_model(model)
            results[model] = result
        return results

    def _hand_on(self, model: str, result: RollupResult) -> None:
        """Every window not handed on yet — this pass's, and any a crash left — in order.

        The store lists the windows created and not yet marked evaluated (written
        with the window, in one Lua call), so a crash between a window's creation
        and its evaluation leaves it listed and the next pass evaluates it.
        Evaluation is idempotent per window (decisions overwrite by window; the
        lifecycle skips a window it has folded in), so evaluating one twice is safe.
        """
        made = {w.key: w for w in (*result.hours, *result.days)}
        for key in self.windows.unevaluated(model):
            window = made.get(key) or self.windows.window(model, key)
            if window is None:
                self.stats.windows_expired += 1
                log.warning(
                    "%s window %s of %s expired before it was evaluated: not evaluated "
                    "(window retention shorter than the time to evaluate it)",
                    key.scale,
                    key.start_ms,
                    model,
                )
            elif key not in made:
                self.stats.windows_resumed += 1
            if window is not None and self.on_window is not None:
                n = self.windows.start_attempt(model, key)
                if n > self.max_attempts:  # the earlier attempts ended with their process
                    reason = (
                        f"evaluation did not finish in {n - 1} attempts (the process "
                        "stopped during each: crashed, killed or out of memory)"
                    )
                    self._fail(model, key, n - 1, reason)
                    continue
                try:
                    self.on_window(model, window)
                except Exception as exc:
                    if not self._give_up(model, key, exc, n):
                        raise
                    continue
            self.windows.mark_evaluated(model, key)

    def _give_up(self, model: str, key: WindowKey, exc: Exception, n: int) -> bool:
        """Count a failed evaluation; True (recorded, logged) once it reached ``max_attempts``.

        Below the cap the error propagates (the batch is retried, this window first).
        At the cap the window is marked failed in the store with its error, counted
        and logged, so it no longer blocks the model's later windows. ``n`` is the
        store's count of unfinished attempts (:meth:`WindowStore.start_attempt`): it
        survives restarts, so a window that kills its process is given up on too.
        """
        self.stats.eval_errors += 1
        if n < self.max_attempts:
            log.warning(
                "evaluation of %s %s failed (attempt %d of %d, will retry): %s",
                model, key, n, self.max_attempts, exc,
            )  # fmt: skip
            return False
        self._fail(model, key, n, f"{type(exc).__name__}: {exc}")
        return True

    def _fail(self, model: str, key: WindowKey, n: int, reason: str) -> None:
        self.windows.mark_failed(model, key, reason)
        self.stats.windows_failed += 1
        log.error(
            "evaluation of %s %s failed %d times: window marked failed and skipped "
            "(evaluate.max_attempts = %d): %s",
            model, key, n, self.max_attempts, reason,
        )  # fmt: skip
