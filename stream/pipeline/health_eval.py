"""Model-health evaluation of rolled-up windows, over a port (labels, reference, alerts).

Called beside the feature evaluator for every window of a model with a
``labels`` table. For a window W of scale S:

1. **Estimated performance (before labels)**, for W itself: the prediction
   column's sketch of W against the reference's labelled state (CBPE,
   :func:`stream.core.model_health.estimate`), so a covariate shift that lowers
   expected performance can page when W closes, before any of its labels.
2. **Label shift and realized performance**, for the window ``lag`` windows
   back, where ``lag`` = ceil(``max_label_delay_ms`` / S): by then every label
   that can still count has arrived (later ones are ``label_too_late``), so the
   window is judged once, on its final labels. Its label coverage (labels /
   predictions) goes with the decisions.
3. **Lifecycle and commit**: the decisions step the ``label`` and
   ``performance`` lifecycles (:mod:`stream.core.health_alerts`); decisions,
   states and alert events are committed together; the events go to the same
   outbox the feature alerts use, so the same publisher and forwarders carry them.

Windows without a reference performance (no labelled reference), without
labels, or without the prediction sketch are skipped with the reason in
``HealthVerdict.skipped`` (logged by the caller): never a silent nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Literal

from stream.catalog import ModelSpec
from stream.core.health_alerts import health_step
from stream.core.lifecycle import AlertEvent
from stream.core.model_health import (
    HealthDecision,
    estimate,
    estimated_drop,
    label_shift,
    performance_drop,
    sketch_score_counts,
)
from stream.core.sketch import NumericSketch
from stream.core.window import DAY_MS, HOUR, HOUR_MS
from stream.pipeline.ports import HealthCommit, HealthStore, StoredWindow

__all__ = ["HealthEvaluator", "HealthVerdict", "judged_lag"]

_METRICS: tuple[Literal["auc", "accuracy"], ...] = ("auc", "accuracy")


@dataclass(frozen=True)
class HealthVerdict:
    """What one evaluation decided (and what it could not judge, with the reason)."""

    model: str
    decisions: tuple[HealthDecision, ...]
    events: tuple[AlertEvent, ...]
    skipped: tuple[str, ...] = ()
    coverage: float | None = None


def judged_lag(spec: ModelSpec, scale: str) -> int:
    """Windows between a window closing and its labels being judged (final coverage)."""
    width = HOUR_MS if scale == HOUR else DAY_MS
    delay = spec.labels.max_label_delay_ms if spec.labels is not None else 0
    return max(1, math.ceil(delay / width))


@dataclass
class HealthEvaluator:
    """Steps 1–3 for one namespace; the caller publishes the outbox."""

    store: HealthStore
    encode: Callable[[AlertEvent], bytes]
    floors: dict[str, float] = field(
        default_factory=lambda: {"label": 0.02, "auc": 0.03, "accuracy": 0.03}
    )
    confidence: float = 0.99

    def evaluate(self, spec: ModelSpec, window: StoredWindow) -> HealthVerdict | None:
        """Judge ``window`` (estimate) and the window ``judged_lag`` back (labels)."""
        rules = spec.labels
        if rules is None or window.key.scale not in spec.alerts.windows:
            return None
        skipped: list[str] = []
        ref = self.store.reference_performance(spec)
        if ref is None or ref.n == 0:
            return HealthVerdict(
                spec.name, (), (), ("no labelled reference: add 'label' to the reference",)
            )
        decisions: list[HealthDecision] = []
        pred = spec.prediction
        blob = window.sketches.get(pred.name) if pred is not None else None
        if pred is None or pred.kind != "numeric" or blob is None:
            skipped.append("estimate: the model declares no numeric prediction column")
        else:
            sketch = NumericSketch.from_bytes(blob)
            if sketch.count >= spec.alerts.min_window_events:
                counts = sketch_score_counts(sketch)
                est = estimate(ref, counts, threshold=rules.threshold)
                for metric in _METRICS:
                    d = estimated_drop(
                        ref,
                        est,
                        metric=metric,
                        floor=self.floors[metric],
                        confidence=self.confidence,
                    )
                    if d is not None:
                        decisions.append(d)
            else:
                skipped.append(f"estimate: {sketch.count} predictions < alerts.min_window_events")
        judged = window.key.previous(judged_lag(spec, window.key.scale))
        win = self.store.labels(spec.name, judged)
        preds = self.store.predictions(spec.name, judged)
        coverage = win.n / preds if preds else None
        if win.n >= spec.alerts.min_window_events:
            shift = label_shift(ref, win, floor=self.floors["label"], confidence=self.confidence)
            decisions.append(
                replace(shift, reason=f"{judged} (coverage {_pct(coverage)}): {shift.reason}")
            )
            for metric in _METRICS:
                d = performance_drop(
                    ref, win, metric=metric, floor=self.floors[metric], confidence=self.confidence
                )
                if d is not None:
                    decisions.append(
                        replace(d, reason=f"{judged} (coverage {_pct(coverage)}): {d.reason}")
                    )
        else:
            skipped.append(
                f"labels of {judged}: {win.n} < alerts.min_window_events "
                f"(coverage {_pct(coverage)})"
            )
        states = self.store.health_states(spec.name, window.key.scale)
        labels = [d for d in decisions if d.kind == "label"]
        perf = [d for d in decisions if d.kind != "label"]
        events: list[AlertEvent] = []
        # The performance lifecycle steps on W (its estimate, and the realized drop of
        # the judged window, whose reason names it); the label lifecycle on the judged
        # window. Each sees its windows in order.
        if perf:
            states, got = health_step(states, spec.name, window.key, perf, spec.alerts)
            events.extend(got)
        if labels:
            states, got = health_step(states, spec.name, judged, labels, spec.alerts)
            events.extend(got)
        self.store.commit(
            HealthCommit(spec.name, window.key, decisions, states, [self.encode(e) for e in events])
        )
        return HealthVerdict(spec.name, tuple(decisions), tuple(events), tuple(skipped), coverage)


def _pct(share: float | None) -> str:
    return "n/a" if share is None else f"{100 * share:.0f} %"
