"""Stored decisions and alert events → what the dashboard shows (plain dicts): pure.

Inputs are what Redis holds, already decoded: ``evals`` maps a window start to
``{baseline: [Decision.to_dict(), ...]}``, alert events are alerts-topic JSON dicts and
lifecycle states are ``AlertState.to_dict()`` dicts. Every function here returns
JSON-able values (no NaN: missing numbers are ``None``), so the API serves them as is
and the pages render them.

>>> d = {"feature": "amount", "breach": True, "ratio": 2.5, "severity": "critical",
...      "effect_metric": "ks", "effect": 0.25, "threshold": 0.1, "p_value": 0.0,
...      "metrics": {"ks": [0.25, 0.1, 0.0]}}
>>> hm = heatmap({0: {"reference": [d]}}, [0], ["amount", "country"], "hour", "all")
>>> hm.cells[0][0].ratio, hm.cells[1][0] is None
(2.5, True)

The heatmap and the metric series are small frozen dataclasses (:class:`Heatmap`,
:class:`Cell`, :class:`HeatWindow`, :class:`MetricSeries`, :class:`SeriesPoint`): the
SVG builders read typed fields, and :func:`plain` turns them into the JSON the API
serves (the same keys, in the same order, as the dicts they replaced).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from stream.core.vocabulary import Scale
from stream.core.window import WindowKey

__all__ = [
    "ALL",
    "Cell",
    "FeatureDetail",
    "HeatWindow",
    "Heatmap",
    "MetricSeries",
    "SeriesPoint",
    "WindowInfo",
    "alert_tracks",
    "cell_of",
    "heatmap",
    "metric_series",
    "pick_baseline",
    "pick_metric",
    "pick_range",
    "plain",
    "window_rows",
]

ALL = "all"
"""Baseline selector meaning: the strongest decision of every baseline."""
Evals = Mapping[int, Mapping[str, Sequence[Mapping[str, Any]]]]
_SEVERITY = {"none": 0, "info": 1, "warning": 2, "error": 3, "critical": 4}


def _f(x: Any) -> float | None:
    if x is None:
        return None
    v = float(x)
    return v if math.isfinite(v) else None


def _rank(d: Mapping[str, Any]) -> tuple[int, float]:
    ratio = _f(d.get("ratio"))
    return (1 if d.get("breach") else 0, -1.0 if ratio is None else ratio)


def plain(value: Any) -> Any:
    """JSON-able values: view-model dataclasses as dicts (field order), tuples as lists.

    >>> plain({"w": [HeatWindow("hour:2026-01-01T00", 0, None)]})
    {'w': [{'key': 'hour:2026-01-01T00', 'start_ms': 0, 'events': None}]}
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


@dataclass(frozen=True)
class Cell:
    """A heatmap cell: one decision's effect/threshold ratio and verdict."""

    ratio: float | None
    breach: bool
    severity: str
    baseline: str
    metric: str
    effect: float | None
    threshold: float | None
    p_value: float | None
    judged: bool


@dataclass(frozen=True)
class HeatWindow:
    """A heatmap column: a window and its event count (None: no longer stored)."""

    key: str
    start_ms: int
    events: int | None


@dataclass(frozen=True)
class Heatmap:
    """Features × windows of drift cells, with the alerts of that scale.

    ``cells[row][col]`` is None where the feature was not judged against the baseline.
    ``model``, ``focus`` and ``alerts`` are filled in by the reader's heatmap.
    """

    scale: Scale
    baseline: str
    features: list[str]
    windows: list[HeatWindow]
    cells: list[list[Cell | None]]
    model: str | None = None
    focus: int | None = None
    alerts: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class SeriesPoint:
    """One window of a metric series."""

    window: str
    start_ms: int
    value: float | None
    threshold: float | None
    p_value: float | None
    ratio: float | None
    breach: bool  # this metric is among the ranked breaching ones
    feature_breach: bool
    n_window: int | None


@dataclass(frozen=True)
class MetricSeries:
    """One metric of one feature against one baseline, window by window."""

    feature: str
    baseline: str
    metric: str
    points: list[SeriesPoint]


@dataclass(frozen=True)
class WindowInfo:
    """The focused window of a page or a report: its counts and every decision's row."""

    key: str
    start_ms: int
    end_ms: int
    events: int | None
    late: int | None
    stored: bool  # the window's rollup is still stored
    evaluated: bool
    rows: list[dict[str, Any]]  # :func:`window_rows`
    why_not: str | None = None  # not evaluated: why (:func:`why_not_evaluated`)


@dataclass(frozen=True)
class FeatureDetail:
    """One feature in one window: distributions, a metric over time, the numbers."""

    model: str
    feature: str
    kind: str
    scale: str
    window: str | None
    baseline: str | None  # the baseline shown (the requested one, else the strongest)
    metric: str | None
    metrics: list[str]  # every metric measured in the window
    decisions: list[dict[str, Any]]  # this feature's rows of :func:`window_rows`
    distribution: dict[str, Any]  # :func:`stream.web.distributions.distribution`
    series: MetricSeries | None


def cell_of(decision: Mapping[str, Any], baseline: str) -> Cell:
    """The heatmap cell of one decision: its effect/threshold ratio and verdict."""
    return Cell(
        ratio=_f(decision.get("ratio")),
        breach=bool(decision.get("breach")),
        severity=str(decision.get("severity") or "none"),
        baseline=baseline,
        metric=str(decision.get("effect_metric") or ""),
        effect=_f(decision.get("effect")),
        threshold=_f(decision.get("threshold")),
        p_value=_f(decision.get("p_value")),
        judged=_f(decision.get("ratio")) is not None or bool(decision.get("breach")),
    )


def _decision(
    per_baseline: Mapping[str, Sequence[Mapping[str, Any]]], feature: str, baseline: str
) -> tuple[str, Mapping[str, Any]] | None:
    found = [
        (b, d)
        for b, ds in sorted(per_baseline.items())
        if baseline in (ALL, b)
        for d in ds
        if d.get("feature") == feature
    ]
    if not found:
        return None
    return max(found, key=lambda bd: _rank(bd[1]))


def pick_range(starts: Sequence[int], focus_ms: int | None, limit: int) -> list[int]:
    """At most ``limit`` consecutive window starts: the latest, or around ``focus_ms``.

    The focus sits three quarters of the way along, so what led up to it shows.

    >>> pick_range(list(range(10)), None, 3), pick_range(list(range(10)), 4, 4)
    ([7, 8, 9], [2, 3, 4, 5])
    """
    ordered = sorted(starts)
    if len(ordered) <= limit:
        return ordered
    if focus_ms is None:
        return ordered[-limit:]
    i = next((k for k, s in enumerate(ordered) if s >= focus_ms), len(ordered) - 1)
    lo = max(0, i - (limit * 3) // 4 + 1)
    hi = min(len(ordered), lo + limit)
    return ordered[max(0, hi - limit) : hi]


def heatmap(
    evals: Evals,
    starts: Sequence[int],
    features: Sequence[str],
    scale: Scale,
    baseline: str,
    *,
    events: Mapping[int, int] | None = None,
) -> Heatmap:
    """Features × windows of drift scores (effect/threshold of the top metric)."""
    cells: list[list[Cell | None]] = []
    for feat in features:
        row: list[Cell | None] = []
        for start in starts:
            hit = _decision(evals.get(start, {}), feat, baseline)
            row.append(None if hit is None else cell_of(hit[1], hit[0]))
        cells.append(row)
    return Heatmap(
        scale=scale,
        baseline=baseline,
        features=list(features),
        windows=[
            HeatWindow(str(WindowKey(scale, s)), s, None if events is None else events.get(s))
            for s in starts
        ],
        cells=cells,
    )


def alert_tracks(
    history: Sequence[Mapping[str, Any]],
    states: Sequence[Mapping[str, Any]],
    scale: str,
    baseline: str,
) -> list[dict[str, Any]]:
    """One entry per alert (dedup key) of ``scale``: its span, status and events.

    ``status`` is ``open`` while the lifecycle state holds it, ``resolved`` once a
    resolved event was seen, else ``closed`` (history trimmed or state reset).
    """
    out: dict[str, dict[str, Any]] = {}
    for ev in history:
        w = ev.get("window") or {}
        if w.get("scale") != scale or baseline not in (ALL, ev.get("baseline")):
            continue
        a = out.setdefault(
            str(ev["dedup_key"]),
            {
                "dedup_key": str(ev["dedup_key"]),
                "baseline": ev.get("baseline"),
                "first_seen_ms": int(ev.get("first_seen_ms") or w.get("start_ms") or 0),
                "severity": "none",
                "status": "closed",
                "end_ms": None,
                "members": [],
                "events": [],
            },
        )
        names = [str(f["name"]) for f in ev.get("features", [])]
        a["events"].append(
            {
                "status": ev.get("status"),
                "window": w.get("key"),
                "start_ms": w.get("start_ms"),
                "features": names,
                "summary": ev.get("summary"),
                "dashboard_url": ev.get("dashboard_url"),
            }
        )
        if _SEVERITY.get(str(ev.get("severity")), 0) > _SEVERITY.get(a["severity"], 0):
            a["severity"] = str(ev.get("severity"))
        a["members"] = sorted(set(a["members"]) | set(names))
        if ev.get("status") == "resolved":
            a["status"], a["end_ms"] = "resolved", w.get("start_ms")
    for st in states:
        o = st.get("open")
        if st.get("scale") != scale or baseline not in (ALL, st.get("baseline")) or not o:
            continue
        a = out.setdefault(
            str(o["dedup_key"]),
            {
                "dedup_key": str(o["dedup_key"]),
                "baseline": st.get("baseline"),
                "first_seen_ms": int(o["first_seen_ms"]),
                "severity": str(o.get("severity") or "none"),
                "end_ms": None,
                "members": [],
                "events": [],
            },
        )
        a["status"], a["end_ms"] = "open", None
        a["members"] = sorted(set(a["members"]) | set(o.get("members", [])))
    return sorted(out.values(), key=lambda a: (a["first_seen_ms"], a["dedup_key"]))


def pick_baseline(evals: Evals, start: int | None, feature: str, requested: str) -> str | None:
    """The baseline a feature panel shows: the requested one, else the window's strongest."""
    if requested != ALL:
        return requested
    if start is not None:
        hit = _decision(evals.get(start, {}), feature, ALL)
        if hit is not None:
            return hit[0]
    for per in evals.values():
        for b, ds in sorted(per.items()):
            if any(d.get("feature") == feature for d in ds):
                return b
    return None


def pick_metric(evals: Evals, start: int | None, feature: str, baseline: str) -> str | None:
    """The focused decision's top metric, else any metric the feature was measured with."""
    candidates = [start] if start is not None else []
    candidates += sorted(evals, reverse=True)
    for s in candidates:
        for d in evals.get(s, {}).get(baseline, []):
            if d.get("feature") != feature:
                continue
            if d.get("effect_metric") and d.get("ratio") is not None:
                return str(d["effect_metric"])
            if d.get("metrics"):
                return str(sorted(d["metrics"])[0])
    return None


def metric_series(
    evals: Evals,
    starts: Sequence[int],
    scale: Scale,
    feature: str,
    baseline: str,
    metric: str,
) -> MetricSeries:
    """One metric of one feature against one baseline, window by window, with thresholds."""
    points = []
    for s in starts:
        d = next(
            (x for x in evals.get(s, {}).get(baseline, []) if x.get("feature") == feature), None
        )
        if d is None:
            continue
        m = (d.get("metrics") or {}).get(metric)
        value, threshold, p = (m + [None, None, None])[:3] if m else (None, None, None)
        v, t = _f(value), _f(threshold)
        points.append(
            SeriesPoint(
                window=str(WindowKey(scale, s)),
                start_ms=s,
                value=v,
                threshold=t,
                p_value=_f(p),
                ratio=None if v is None or not t else abs(v) / t,
                breach=bool(d.get("breach")) and metric in (d.get("ranked") or []),
                feature_breach=bool(d.get("breach")),
                n_window=d.get("n_window"),
            )
        )
    return MetricSeries(feature, baseline, metric, points)


def window_rows(per_baseline: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[dict[str, Any]]:
    """Every decision of one window as table rows, strongest first."""
    rows = []
    for b, ds in sorted(per_baseline.items()):
        for d in ds:
            rows.append(
                {
                    **plain(cell_of(d, b)),
                    "feature": d.get("feature"),
                    "kind": d.get("kind"),
                    "p_drift": _f(d.get("p_drift")),
                    "magnitude": _f(d.get("magnitude")),
                    "ci": [_f(x) for x in (d.get("ci") or [None, None])],
                    "n_window": d.get("n_window"),
                    "reasons": list(d.get("reasons") or []),
                    "metrics": {
                        str(name): [_f(x) for x in (list(v) + [None, None, None])[:3]]
                        for name, v in sorted((d.get("metrics") or {}).items())
                    },
                }
            )
    return sorted(rows, key=lambda r: (-_rank(r)[0], -_rank(r)[1], r["feature"], r["baseline"]))


def why_not_evaluated(stored: bool, pending: tuple[str, str] | None) -> str:
    """One line: why a window has no decisions, from what the store knows of it."""
    state, detail = pending if pending is not None else ("", "")
    if state == "failed":
        return (
            "its evaluation failed evaluate.max_attempts times and was skipped "
            f"(driftstream status lists it): {detail}"
        )
    if state == "waiting":
        tries = int(detail or 0)
        if tries:
            return (
                f"waiting to be evaluated: {tries} unfinished attempt(s) so far; the worker "
                "retries it before the model's later windows"
            )
        return "waiting to be evaluated: rolled up, the worker evaluates it next"
    if state == "skipped":
        return f"not judged: {detail}"
    if not stored:
        return (
            "no rollup of this window is stored: no event arrived in it, its hours are not "
            "sealed yet, or it expired (evaluate.decision_retention_ms)"
        )
    return (
        "rolled up, with no decision stored: its decisions expired "
        "(evaluate.decision_retention_ms) or were never written in this namespace"
    )
