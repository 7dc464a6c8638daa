"""How an alert says what moved: direction and units, not a metric's bare number.

``mean_shift 0.698`` becomes ``mean 55,576 → 76,379 (+0.70 sd)``; a categorical
feature's top move becomes ``share of 'pro' 12.0 % → 18.0 % (+6.0 points)``; a
null-rate change ``null share 2.0 % → 14.0 % (+12.0 points)``. The before → after
values are the decision's :class:`~stream.core.before_after.BeforeAfter`; decisions
stored without them (older versions) keep the shorter text (``mean +0.70 sd``).
:func:`change` reads a :class:`Decision` or an alert's ``FeatureDrift`` alike, so
``alerts tail`` speaks the alert's own words.

:func:`signed` makes an alert's ``effect`` and ``magnitude`` agree in sign: signed
metrics (shifts, null-rate change) carry the direction in both, distances (JS, L∞,
PSI, ...) are sizes, so the magnitude is shown as a size too and the direction lives
in the text.

>>> from stream.core.decide import Decision
>>> d = Decision("income", True, 0.698, "mean_shift", 0.1, 1e-9, 1.0, 1.0, -0.698,
...              (-0.75, -0.64), "warning", (), {"mean_shift": (-0.698, 0.1, 1e-9)},
...              "numeric", 150, 6.98, ("mean_shift",))
>>> change(d)
'mean -0.70 sd'
>>> from dataclasses import replace
>>> from stream.core.before_after import BeforeAfter
>>> change(replace(d, values=BeforeAfter("mean", 76379.4, 55576.2)))
'mean 76,379 → 55,576 (-0.70 sd)'
>>> signed(d)[:2]
(-0.698, -0.698)
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Protocol

from stream.core.before_after import BeforeAfter, span
from stream.core.decide import Decision

__all__ = ["change", "signed"]

#: Metrics whose value has a direction (window minus reference).
SIGNED = re.compile(r"^(mean_shift|q\d\d_shift|null_rate_change)$")
_SHARE_NOTE = re.compile(r"^share of (.+?) ([+-]\d+(?:\.\d+)?) points")


class Judged(Protocol):
    """What :func:`change` reads: a :class:`Decision` or an alert's feature entry."""

    @property
    def effect_metric(self) -> str: ...
    @property
    def effect(self) -> float: ...
    @property
    def threshold(self) -> float: ...
    @property
    def magnitude(self) -> float: ...
    @property
    def reasons(self) -> tuple[str, ...]: ...
    @property
    def metrics(self) -> Mapping[str, tuple[float, float, float]]: ...
    @property
    def values(self) -> BeforeAfter | None: ...


def _value(d: Judged, metric: str) -> float:
    got = d.metrics.get(metric)
    value = got[0] if got is not None else d.magnitude
    return value if math.isfinite(value) else d.magnitude


def _moved(d: Judged, quantity: str) -> str | None:
    """``before → after`` when the decision carries that quantity's values."""
    v = d.values
    return span(v) if v is not None and v.quantity == quantity else None


def change(d: Judged) -> str:
    """What moved, with direction, unit and before → after values when known.

    Empty when nothing finite is known.
    """
    metric = d.effect_metric
    if metric == "mean_shift":
        v = _value(d, metric)
        if not math.isfinite(v):
            return "mean: no spread to compare"
        moved = _moved(d, "mean")
        return f"mean {moved} ({v:+.2f} sd)" if moved else f"mean {v:+.2f} sd"
    mean = _moved(d, "mean")
    also = f"; mean {mean}" if mean else ""
    if re.match(r"^q\d\d_shift$", metric):
        v = _value(d, metric)
        return (f"{metric[:3]} {v:+.2f} (reference scale)" if math.isfinite(v) else metric) + also
    if metric == "null_rate_change":
        v = _value(d, metric)
        nulls = _moved(d, "null_share")
        if nulls and math.isfinite(v):
            return f"null share {nulls} ({100 * v:+.1f} points)"
        return f"null share {100 * v:+.1f} points" if math.isfinite(v) else "null share changed"
    share = d.values if d.values is not None and d.values.quantity == "share" else None
    if share is not None:
        points = 100 * (share.window - share.baseline)
        return f"share of {share.category!r} {span(share)} ({points:+.1f} points)"
    for reason in d.reasons:
        m = _SHARE_NOTE.match(reason)
        if m:
            return f"share of {m.group(1)} {m.group(2)} points"
    for reason in d.reasons:
        if reason.startswith(("mostly null", "no valid values", "new categories", "vanished")):
            return reason
    if math.isfinite(d.effect):
        return f"{metric} {d.effect:.3g} (threshold {d.threshold:.3g}){also}"
    return ""


def signed(d: Decision) -> tuple[float, float, float, float]:
    """(effect, magnitude, ci_low, ci_high) with effect and magnitude of one sign."""
    effect, mag, lo, hi = d.effect, d.magnitude, d.ci[0], d.ci[1]
    if SIGNED.match(d.effect_metric):
        if math.isfinite(mag) and math.isfinite(effect) and mag != 0:
            effect = math.copysign(abs(effect), mag)
        return effect, mag, lo, hi
    if math.isfinite(mag) and mag < 0:  # a size: the largest move, direction in the text
        return effect, -mag, -hi, -lo
    return effect, mag, lo, hi
