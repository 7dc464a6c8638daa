"""Model-health decisions through the drift alert lifecycle (pure).

A window's :class:`~stream.core.model_health.HealthDecision` values become
lifecycle :class:`~stream.core.decide.Decision` values named ``<kind>:<metric>``
(``label:positive_share``, ``performance:auc``, ``estimated:auc``...), so
health alerts get the same dedup keys, grouping, resolution, cooldown,
alert schema (v2, with ``kind``) and forwarders as feature drift. Two
lifecycles per (model, scale): ``label`` and ``performance`` (realized and
estimated together), each against the ``reference`` baseline; their dedup keys
hash the kind, so they never merge with the window's feature alert. A breach is
decisive (it pages on its window): its confidence bar (0.99 by default) is the
decision's own.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from stream.core.decide import Decision
from stream.core.lifecycle import AlertEvent, AlertState, RulesLike, step
from stream.core.model_health import HealthDecision
from stream.core.window import WindowKey

__all__ = ["health_state", "health_step", "to_decision"]

_LIFECYCLE = {"label": "label", "performance": "performance", "estimated": "performance"}


def to_decision(h: HealthDecision) -> Decision:
    """The lifecycle's view of one health decision.

    The effect is one-sided when the decision says which way is bad (``adverse``):
    an error below the reference, or an AUC above it, is a clean window (effect 0),
    so an open alert resolves once a retrained model beats the reference.
    """
    effect = max(h.adverse * h.delta, 0.0) if h.adverse else abs(h.delta)
    ratio = effect / h.floor if h.floor > 0 else (math.inf if h.breach else 0.0)
    return Decision(
        feature=f"{h.kind}:{h.metric}",
        breach=h.breach,
        effect=effect,
        effect_metric=h.metric,
        threshold=h.floor,
        p_value=1.0 - h.confidence,
        confidence=h.confidence,
        p_drift=h.confidence,
        magnitude=h.delta,
        ci=(h.ci_low, h.ci_high),
        severity="critical" if h.breach else "none",
        reasons=(h.reason,),
        metrics={h.metric: (h.value, h.reference, 1.0 - h.confidence)},
        kind=h.kind,
        n_window=h.n,
        ratio=ratio,
        ranked=(h.metric,) if h.breach else (),
        decisive=h.breach,
    )


def health_state(model: str, scale: str, kind: str) -> AlertState:
    """A fresh lifecycle state of one (model, scale, kind) against the reference."""
    return AlertState(model=model, scale=scale, baseline="reference", kind=kind)


def health_step(
    states: dict[str, AlertState],
    model: str,
    window: WindowKey,
    decisions: Sequence[HealthDecision],
    rules: RulesLike,
) -> tuple[dict[str, AlertState], tuple[AlertEvent, ...]]:
    """Fold one window's health decisions into the ``label`` and ``performance`` lifecycles."""
    out = dict(states)
    events: list[AlertEvent] = []
    for kind in ("label", "performance"):
        mine = [to_decision(h) for h in decisions if _LIFECYCLE[h.kind] == kind]
        if not mine:
            continue
        state = out.get(kind) or health_state(model, window.scale, kind)
        out[kind], got = step(state, window, mine, rules)
        events.extend(got)
    return out, tuple(events)
