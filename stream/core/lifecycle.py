"""Alert lifecycle per (model, window scale, baseline): decisions in, alert events out.

``step(state, window, decisions, rules) -> (state, events)`` is a pure function of
values; the state is small and JSON-able (the pipeline keeps it in Redis). Per window:

1. A window at or before the last one processed changes nothing and emits nothing:
   replays and re-deliveries are idempotent.
2. Each feature's breach streak grows on a breaching window and resets on any other
   (successive *evaluated* windows: a window skipped for low traffic neither extends
   nor breaks a streak — the pipeline does not call ``step`` for it).
3. A feature is *confirmed* when its streak reaches ``rules.consecutive_breaches``;
   or at once when its breach is ``decisive`` (its evidence alone cleared the
   one-window bound, :mod:`.decide`) and ``rules.page_on_decisive`` is on; or when its
   sequential rule alarms (``cusum_arl0`` given: a CUSUM over the windows' z-scores,
   :mod:`.cusum`, for slow ramps that no single window shows).
   No open alert: when some feature is confirmed and the
   cooldown has passed, ONE alert opens for the model and scale, listing every
   confirmed feature, strongest first. Its dedup key hashes (model, scale, baseline,
   first breaching window's start); the alert id hashes (dedup key, status, window).
4. Open alert: a member stays while its effect is at least ``rearm`` × threshold
   (hysteresis: an effect hovering at the threshold does not flap) or while it was not
   judged; newly confirmed features join and re-emit ``triggered`` with the same dedup
   key, as does a severity escalation.
5. After ``rules.resolve_after`` clean windows in a row (no member left, no breach), a
   ``resolved`` event closes it; no new alert opens before ``cooldown_ms`` has passed.

>>> from stream.core.window import WindowKey
>>> k = dedup_key("fraud-v3", "hour", "reference", 1_767_618_000_000)
>>> k == dedup_key("fraud-v3", "hour", "reference", 1_767_618_000_000), len(k)
(True, 35)
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol, TypeAlias

import msgspec

from stream.core.cusum import CusumState, cusum_limit, cusum_update
from stream.core.decide import Decision
from stream.core.window import WindowKey

__all__ = [
    "REARM",
    "AlertEvent",
    "AlertState",
    "LifecycleRules",
    "OpenAlert",
    "RulesLike",
    "Status",
    "alert_id",
    "cusum_reason",
    "dedup_key",
    "step",
]

Status: TypeAlias = Literal["triggered", "resolved"]
REARM = 0.8
"""A member leaves an open alert when its effect falls below this × its threshold."""
_SEVERITY_ORDER = {"none": 0, "info": 1, "warning": 2, "error": 3, "critical": 4}


class RulesLike(Protocol):
    """The alert rules the lifecycle reads (``catalog.AlertRules`` satisfies it)."""

    @property
    def consecutive_breaches(self) -> int:
        """Breaching windows in a row before triggering."""

    @property
    def resolve_after(self) -> int:
        """Clean windows in a row before resolving."""

    @property
    def cooldown_ms(self) -> int:
        """No new trigger for this long after a resolve."""

    @property
    def severity(self) -> str:
        """Lowest severity of this model's alerts."""

    @property
    def page_on_decisive(self) -> bool:
        """A decisive breach pages in its first window (no confirmation needed)."""


@dataclass(frozen=True, slots=True)
class LifecycleRules:
    """Plain-value rules with the catalog's defaults (tests, replays, tools)."""

    consecutive_breaches: int = 2
    resolve_after: int = 3
    cooldown_ms: int = 3_600_000
    severity: str = "warning"
    page_on_decisive: bool = True


def _h(*parts: object) -> str:
    # sha256 of the parts: the same key in every process, version and platform.
    text = "\x1f".join(str(p) for p in parts)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def dedup_key(
    model: str, scale: str, baseline: str, first_window_ms: int, kind: str = "feature"
) -> str:
    """Deterministic dedup key of one alert: ``ds-`` + 32 hex digits.

    Model-health alerts (``kind`` label / performance) hash their kind too, so they
    never share a key with the feature alert of the same window.
    """
    if kind != "feature":
        return "ds-" + _h("dedup", model, scale, baseline, first_window_ms, kind)
    return "ds-" + _h("dedup", model, scale, baseline, first_window_ms)


def alert_id(dedup: str, status: Status, window_start_ms: int) -> str:
    """Deterministic id of one alert event (dedup key, status, window)."""
    return _h("alert", dedup, status, window_start_ms)


@dataclass(frozen=True, slots=True)
class OpenAlert:
    """The open alert of a (model, scale, baseline).

    Attributes:
        dedup_key: key shared by all its events.
        first_seen_ms: start of the first breaching window of the triggering streak.
        members: features currently in the alert.
        involved: every feature that was ever in it (listed again on resolve).
        severity: highest severity sent so far.
        clean: clean windows in a row.
    """

    dedup_key: str
    first_seen_ms: int
    members: tuple[str, ...]
    involved: tuple[str, ...]
    severity: str
    clean: int = 0


@dataclass(frozen=True, slots=True)
class AlertState:
    """Lifecycle state of one (model, scale, baseline); see :func:`step`.

    Attributes:
        model: model name.
        scale: window scale.
        baseline: baseline name.
        last_window_ms: start of the last window processed (None before the first).
        streaks: feature → (breaching windows in a row, start of the first of them).
        open: the open alert, if any.
        cooldown_until_ms: no new alert opens for a window starting before this.
        cusum: feature → its sequential (CUSUM) sums, when the rule is on.
        kind: ``feature`` (drift), or ``label`` / ``performance`` (model health).
    """

    model: str
    scale: str
    baseline: str
    last_window_ms: int | None = None
    streaks: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    open: OpenAlert | None = None
    cooldown_until_ms: int | None = None
    cusum: Mapping[str, CusumState] = field(default_factory=dict)
    kind: str = "feature"

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (sorted keys: equal states give equal JSON; ``kind`` unless feature).

        msgspec writes every field under its own name (tuples as lists, nested
        ``OpenAlert`` / ``CusumState`` as objects); the committed fixtures in
        ``tests/fixtures/wire`` pin the bytes.
        """
        out: dict[str, Any] = msgspec.to_builtins(self, order="sorted")
        if self.kind == "feature":
            del out["kind"]
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> AlertState:
        """Inverse of :meth:`to_dict` (``cusum`` and ``kind`` may be absent: older states)."""
        return msgspec.convert(d, cls, strict=False)


@dataclass(frozen=True)
class AlertEvent:
    """One lifecycle transition: an alert triggered (or grew), or resolved.

    Attributes:
        status: ``triggered`` or ``resolved``.
        alert_id: deterministic id of this event.
        dedup_key: key shared by every event of the alert.
        model: model name.
        scale: window scale.
        baseline: baseline compared with.
        window: the window that caused the event.
        first_seen_ms: start of the first breaching window.
        severity: alert severity (info|warning|error|critical).
        decisions: the alert's features in this window, strongest first.
        kind: ``feature``, ``label`` or ``performance`` (the state's kind).
    """

    status: Status
    alert_id: str
    dedup_key: str
    model: str
    scale: str
    baseline: str
    window: WindowKey
    first_seen_ms: int
    severity: str
    decisions: tuple[Decision, ...]
    kind: str = "feature"


def _judged(d: Decision | None) -> bool:
    return d is not None and (d.breach or bool(d.metrics))


def _rank(decisions: Sequence[Decision]) -> tuple[Decision, ...]:
    # The model-level joint member comes after the features: when a feature moved, it
    # is the cause to name first (the joint member, moved by it too, is grouped after).
    def key(d: Decision) -> tuple[bool, float, str]:
        r = d.ratio if math.isfinite(d.ratio) else 1e300
        return (d.kind == "joint", -r, d.feature)

    return tuple(sorted(decisions, key=key))


def _severity(base: str, decisions: Sequence[Decision]) -> str:
    levels = [base, *(d.severity for d in decisions if d.breach)]
    return max(levels, key=lambda s: _SEVERITY_ORDER.get(s, 0))


def cusum_reason(d: Decision, h: float) -> str:
    """The reason line of a feature confirmed by its sequential rule."""
    return (
        f"sustained drift: CUSUM of hourly z-scores (slack {d.cusum_k:.2f}) passed "
        f"its limit {h:.2f} (z this window {d.z:+.2f})"
    )


def _sequential(
    state: AlertState, window: WindowKey, decisions: Sequence[Decision], arl0: float | None
) -> tuple[dict[str, CusumState], dict[str, float]]:
    """New CUSUM sums per feature and the features that alarmed (→ their limit h)."""
    if arl0 is None:
        return dict(state.cusum), {}
    sums = dict(state.cusum)
    alarms: dict[str, float] = {}
    for d in decisions:
        # Numeric features only: a ramp is a numeric drift, and the z-scores of a
        # categorical distance at sparse counts (hundreds of values, ~100 events an
        # hour) are too far from normal for the CUSUM's in-control run length.
        if d.kind != "numeric" or not math.isfinite(d.z):
            continue
        h = cusum_limit(arl0, round(d.cusum_k, 2))
        sums[d.feature], alarm = cusum_update(
            sums.get(d.feature, CusumState()), d, h=h, window_ms=window.start_ms
        )
        if alarm:
            alarms[d.feature] = h
    return sums, alarms


def step(
    state: AlertState,
    window: WindowKey,
    decisions: Sequence[Decision],
    rules: RulesLike,
    *,
    rearm: float = REARM,
    cusum_arl0: float | None = None,
) -> tuple[AlertState, tuple[AlertEvent, ...]]:
    """Fold one evaluated window into the lifecycle (see the module docstring).

    ``cusum_arl0``: in-control average run length (windows) of each feature's
    sequential rule; None leaves the rule off (its sums are kept as they are).
    """
    if window.scale != state.scale:
        msg = f"window scale {window.scale!r} differs from the state's {state.scale!r}"
        raise ValueError(msg)
    if state.last_window_ms is not None and window.start_ms <= state.last_window_ms:
        return state, ()
    sums, alarms = _sequential(state, window, decisions, cusum_arl0)
    by_name = {
        d.feature: (
            replace(d, reasons=(cusum_reason(d, alarms[d.feature]), *d.reasons))
            if d.feature in alarms
            else d
        )
        for d in decisions
    }
    streaks = {
        d.feature: (
            state.streaks.get(d.feature, (0, window.start_ms))[0] + 1,
            state.streaks.get(d.feature, (0, window.start_ms))[1],
        )
        for d in decisions
        if d.breach
    }
    at_once = getattr(rules, "page_on_decisive", True)
    confirmed = sorted(
        {f for f, (n, _) in streaks.items() if n >= rules.consecutive_breaches}
        | {f for f, d in by_name.items() if d.breach and d.decisive and at_once}
        | set(alarms)
    )
    new = replace(state, last_window_ms=window.start_ms, streaks=streaks, cusum=sums)
    o = state.open

    def event(
        status: Status, features: Sequence[str], key: str, first: int, sev: str
    ) -> AlertEvent:
        ds = _rank([by_name[f] for f in features if f in by_name])
        aid = alert_id(key, status, window.start_ms)
        return AlertEvent(
            status,
            aid,
            key,
            state.model,
            state.scale,
            state.baseline,
            window,
            first,
            sev,
            ds,
            state.kind,
        )

    if o is None:
        cooled = state.cooldown_until_ms is None or window.start_ms >= state.cooldown_until_ms
        if not confirmed or not cooled:
            return new, ()
        first = min(streaks.get(f, (0, window.start_ms))[1] for f in confirmed)
        key = dedup_key(state.model, state.scale, state.baseline, first, state.kind)
        sev = _severity(rules.severity, [by_name[f] for f in confirmed])
        opened = OpenAlert(key, first, tuple(confirmed), tuple(confirmed), sev)
        return replace(new, open=opened), (event("triggered", confirmed, key, first, sev),)

    def stays(f: str) -> bool:
        d = by_name.get(f)
        return not _judged(d) or d is not None and (d.breach or d.ratio >= rearm)

    members = sorted({f for f in o.members if stays(f)} | set(confirmed))
    joined = set(members) - set(o.members)
    clean = o.clean + 1 if not members and not streaks else 0
    if clean >= rules.resolve_after:
        resolved = event("resolved", o.involved, o.dedup_key, o.first_seen_ms, o.severity)
        until = window.end_ms + rules.cooldown_ms
        return replace(new, open=None, cooldown_until_ms=until), (resolved,)
    sev = _severity(o.severity, [by_name[f] for f in members if f in by_name])
    involved = tuple(sorted(set(o.involved) | joined))
    kept = OpenAlert(o.dedup_key, o.first_seen_ms, tuple(members), involved, sev, clean)
    events: tuple[AlertEvent, ...] = ()
    if joined or _SEVERITY_ORDER.get(sev, 0) > _SEVERITY_ORDER.get(o.severity, 0):
        events = (event("triggered", members, o.dedup_key, o.first_seen_ms, sev),)
    return replace(new, open=kept), events
