"""What the dashboard, the API and the report show, built from a :class:`DashboardReader`.

Reads go through the read port (:mod:`.ports`): a Redis adapter in a worker and in
``driftstream report``, the offline check's run in ``driftstream check --html``. This
module does no I/O itself. Shapes are built by the pure helpers in :mod:`.summaries`
and :mod:`.distributions`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from stream.catalog import JOINT_MEMBER, Catalog, ModelSpec
from stream.core.sketch import CategoricalSketch, NumericSketch, SketchDecodeError, loads
from stream.core.vocabulary import Scale
from stream.core.window import DAY, DAY_MS, HOUR, HOUR_MS, WindowKey
from stream.errors import NotFoundError
from stream.pipeline.evaluate import seasonal_lag
from stream.web import joint as joint_view
from stream.web import summaries
from stream.web.distributions import distribution
from stream.web.ports import DashboardReader, Evals
from stream.web.summaries import ALL, FeatureDetail, Heatmap, WindowInfo

__all__ = ["DAY_LIMIT", "HOUR_LIMIT", "DashboardData", "Evals", "NotFoundError"]

HOUR_LIMIT = 168
"""Hour windows in a heatmap (a week)."""
DAY_LIMIT = 60
"""Day windows in a heatmap."""
STRIP = 48
"""Hours in a model's overview strip on the models page."""
REPORT_HOURS = 48
"""Hours around an hour window in a report."""
REPORT_DAYS = 14
"""Days around a window in a report."""


class DashboardData:
    """What the pages show of one namespace (``live``, or a replay's), read through a port."""

    def __init__(self, reader: DashboardReader, catalog: Catalog) -> None:
        self.reader = reader
        self.namespace = reader.namespace
        self.catalog = catalog
        self.evaluated = reader.evaluated
        self.evals = reader.evals
        self.counts = reader.counts
        self.history = reader.history
        self.states = reader.states
        self.reference_meta = reader.reference_meta

    def spec(self, model: str) -> ModelSpec:
        """The model's spec (NotFoundError when not configured)."""
        if model not in self.catalog:
            msg = f"no model {model!r} in this deployment's catalog"
            raise NotFoundError(msg)
        return self.catalog.model(model)

    @staticmethod
    def _sketch(blob: bytes | None) -> NumericSketch | CategoricalSketch | None:
        if blob is None:
            return None
        try:
            sketch = loads(blob)
        except SketchDecodeError:
            return None
        return sketch if isinstance(sketch, NumericSketch | CategoricalSketch) else None

    # -- what the API and pages show ---------------------------------------------------
    def models(self) -> list[dict[str, Any]]:
        """Every configured model with its windows, open alerts and a recent-hours strip."""
        return [self.model_summary(spec.name) for spec in self.catalog.specs()]

    def model_summary(self, model: str) -> dict[str, Any]:
        """One model: features, evaluated windows per scale, open alerts, recent drift."""
        spec = self.spec(model)
        scales: dict[str, Any] = {}
        hours: list[int] = []
        for scale in (HOUR, DAY):
            starts = self.evaluated(model, scale)
            if scale == HOUR:
                hours = starts
            scales[scale] = {
                "count": len(starts),
                "first": str(WindowKey(scale, starts[0])) if starts else None,
                "last": str(WindowKey(scale, starts[-1])) if starts else None,
            }
        recent = hours[-STRIP:]
        evals = self.evals(model, HOUR, recent)
        strip = []
        for s in recent:
            decided = [(b, d) for b, ds in evals.get(s, {}).items() for d in ds]
            ratios = [r for r in (summaries.cell_of(d, b).ratio for b, d in decided) if r]
            strip.append(
                {
                    "window": str(WindowKey(HOUR, s)),
                    "max_ratio": max(ratios) if ratios else None,
                    "breaches": sorted({str(d["feature"]) for _, d in decided if d.get("breach")}),
                }
            )
        open_alerts = [
            {
                "scale": st["scale"],
                "baseline": st["baseline"],
                "dedup_key": st["open"]["dedup_key"],
                "first_seen": str(WindowKey(st["scale"], st["open"]["first_seen_ms"])),
                "members": list(st["open"]["members"]),
                "severity": st["open"]["severity"],
            }
            for st in self.states(model)
            if st.get("open")
        ]
        return {
            "name": model,
            "namespace": self.namespace,
            "features": [{"name": f.name, "kind": f.kind} for f in spec.monitored],
            "baselines": list(spec.baselines),
            "scales": list(spec.alerts.windows),
            "windows": scales,
            "open_alerts": open_alerts,
            "recent": strip,
        }

    def windows(self, model: str, scale: Scale) -> list[dict[str, Any]]:
        """Evaluated windows of a scale: events and, per baseline, breaches and top ratio."""
        self.spec(model)
        starts = self.evaluated(model, scale)
        evals = self.evals(model, scale, starts)
        counts = self.counts(model, scale, starts)
        out = []
        for s in starts:
            per: dict[str, Any] = {}
            for b, ds in evals.get(s, {}).items():
                ratios = [r for r in (summaries.cell_of(d, b).ratio for d in ds) if r is not None]
                per[b] = {
                    "breaches": sorted(str(d["feature"]) for d in ds if d.get("breach")),
                    "max_ratio": max(ratios) if ratios else None,
                }
            ev, late = counts.get(s, (None, None))
            key = WindowKey(scale, s)
            out.append(
                {
                    "key": str(key),
                    "start_ms": s,
                    "end_ms": key.end_ms,
                    "events": ev,
                    "late": late,
                    "baselines": per,
                }
            )
        return out

    def decisions(self, model: str, window: WindowKey) -> dict[str, Any]:
        """Every decision of one window, per baseline, plus the window's counts."""
        self.spec(model)
        evals = self.evals(model, window.stored_scale, [window.start_ms])
        per = evals.get(window.start_ms, {})
        if not per:
            msg = f"window {window} of {model!r} was not evaluated"
            raise NotFoundError(msg)
        ev, late = self.counts(model, window.stored_scale, [window.start_ms]).get(
            window.start_ms, (None, None)
        )
        return {
            "model": model,
            "window": str(window),
            "start_ms": window.start_ms,
            "end_ms": window.end_ms,
            "events": ev,
            "late": late,
            "decisions": per,
            "rows": summaries.window_rows(per),
        }

    def heatmap(
        self,
        model: str,
        scale: Scale,
        baseline: str = ALL,
        *,
        focus_ms: int | None = None,
        limit: int | None = None,
        starts: Sequence[int] | None = None,
        evals: Evals | None = None,
    ) -> Heatmap:
        """Features × windows of ``scale`` with the alerts of that scale."""
        spec = self.spec(model)
        if starts is None:
            lim = limit or (HOUR_LIMIT if scale == HOUR else DAY_LIMIT)
            starts = summaries.pick_range(self.evaluated(model, scale), focus_ms, lim)
        loaded = evals if evals is not None else self.evals(model, scale, starts)
        counts = self.counts(model, scale, starts)
        hm = summaries.heatmap(
            loaded,
            starts,
            [f.name for f in spec.monitored],
            scale,
            baseline,
            events={s: c[0] for s, c in counts.items()},
        )
        alerts = summaries.alert_tracks(self.history(model), self.states(model), scale, baseline)
        return dataclasses.replace(hm, model=model, focus=focus_ms, alerts=alerts)

    def alerts(self, model: str) -> dict[str, Any]:
        """Open alerts (lifecycle state) and recent alert events."""
        self.spec(model)
        states = self.states(model)
        history = self.history(model)
        return {
            "model": model,
            "open": [s for s in states if s.get("open")],
            "tracks": {
                scale: summaries.alert_tracks(history, states, scale, ALL) for scale in (HOUR, DAY)
            },
            "history": history,
        }

    def feature(
        self,
        model: str,
        feature: str,
        window: WindowKey | None = None,
        baseline: str = ALL,
        metric: str | None = None,
        *,
        scale: Scale = HOUR,
        evals: Evals | None = None,
        starts: Sequence[int] | None = None,
    ) -> FeatureDetail:
        """One feature in one window: distributions, a metric over time, the numbers."""
        spec = self.spec(model)
        try:
            kind = spec.kind_of(feature)
        except KeyError:
            msg = f"model {model!r} has no feature {feature!r}"
            raise NotFoundError(msg) from None
        sc: Scale = window.stored_scale if window is not None else scale
        if starts is None:
            lim = HOUR_LIMIT if sc == HOUR else DAY_LIMIT
            focus = None if window is None else window.start_ms
            starts = summaries.pick_range(self.evaluated(model, sc), focus, lim)
        if window is None and starts:
            window = WindowKey(sc, starts[-1])
        loaded = evals if evals is not None else self.evals(model, sc, starts)
        focus_ms = None if window is None else window.start_ms
        if focus_ms is not None and focus_ms not in loaded:
            loaded = {**loaded, **self.evals(model, sc, [focus_ms])}
        chosen = summaries.pick_baseline(loaded, focus_ms, feature, baseline)
        m = None
        if chosen is not None:
            m = metric or summaries.pick_metric(loaded, focus_ms, feature, chosen)
        per = loaded.get(focus_ms, {}) if focus_ms is not None else {}
        rows = [r for r in summaries.window_rows(per) if r["feature"] == feature]
        metrics = sorted(
            {
                name
                for ds in per.values()
                for d in ds
                if d.get("feature") == feature
                for name in d.get("metrics", {})
            }
        )
        series = (
            summaries.metric_series(loaded, starts, sc, feature, chosen, m)
            if chosen is not None and m is not None
            else None
        )
        return FeatureDetail(
            model=model,
            feature=feature,
            kind=kind,
            scale=sc,
            window=None if window is None else str(window),
            baseline=chosen,
            metric=m,
            metrics=metrics,
            decisions=rows,
            distribution=self._distribution(spec, feature, window, chosen),
            series=series,
        )

    def _distribution(
        self, spec: ModelSpec, feature: str, window: WindowKey | None, baseline: str | None
    ) -> dict[str, Any]:
        series: list[tuple[str, NumericSketch | CategoricalSketch]] = []
        ref = self._sketch(self.reader.reference_sketch(spec, feature))
        if ref is not None:
            series.append(("reference", ref))
        if window is not None:
            lag = _lag(baseline, window.stored_scale)
            if lag is not None:
                earlier = window.previous(lag)
                base = self._sketch(self.reader.window_sketch(spec.name, earlier, feature))
                if base is not None:
                    series.append((f"{baseline} ({earlier})", base))
            win = self._sketch(self.reader.window_sketch(spec.name, window, feature))
            if win is not None:
                series.append(("window", win))
        kinds = {type(s) for _, s in series}
        if len(kinds) > 1:  # a kind changed since the reference: show the window only
            series = [(n, s) for n, s in series if n == "window"]
        out = distribution(series)
        out["window_stored"] = any(n == "window" for n, _ in series)
        return out

    def _window_info(self, model: str, window: WindowKey, evals: Evals) -> WindowInfo:
        per = (
            evals.get(window.start_ms)
            or self.evals(model, window.stored_scale, [window.start_ms])[window.start_ms]
        )
        counts = self.counts(model, window.stored_scale, [window.start_ms])
        ev, late = counts.get(window.start_ms, (None, None))
        stored = window.start_ms in counts
        return WindowInfo(
            key=str(window),
            start_ms=window.start_ms,
            end_ms=window.end_ms,
            events=ev,
            late=late,
            stored=stored,
            evaluated=bool(per),
            rows=summaries.window_rows(per),
            why_not=None
            if per
            else summaries.why_not_evaluated(stored, self.reader.pending(model, window)),
        )

    def _alert_tracks(self, model: str) -> dict[str, list[dict[str, Any]]]:
        history, states = self.history(model), self.states(model)
        return {sc: summaries.alert_tracks(history, states, sc, ALL) for sc in (HOUR, DAY)}

    def report(self, model: str, window: WindowKey) -> dict[str, Any]:
        """Everything a report of one window shows: heatmaps, every feature, the numbers."""
        spec = self.spec(model)
        loaded: dict[str, tuple[list[int], Evals]] = {}
        heatmaps: dict[str, Heatmap] = {}
        for sc in (HOUR, DAY):
            starts = _report_range(self.evaluated(model, sc), window, sc)
            evals = self.evals(model, sc, starts)
            loaded[sc] = (starts, evals)
            heatmaps[sc] = self.heatmap(
                model, sc, ALL, focus_ms=window.start_ms, starts=starts, evals=evals
            )
        starts, evals = loaded[window.stored_scale]
        info = self._window_info(model, window, evals)
        if not info.evaluated and not info.stored:
            msg = f"no data for {window} of {model!r} in namespace {self.namespace!r}"
            raise NotFoundError(msg)
        rows = info.rows
        order = {f.name: i for i, f in enumerate(spec.monitored)}
        # Strongest first: the features that drifted lead the report.
        ranked = sorted(
            order,
            key=lambda f: next(
                (i for i, r in enumerate(rows) if r["feature"] == f), len(rows) + order[f]
            ),
        )
        features = [
            self.feature(
                model, f, window, ALL, scale=window.stored_scale, evals=evals, starts=starts
            )
            for f in ranked
        ]
        return {
            "model": self.model_summary(model),
            "namespace": self.namespace,
            "reference": self.reference_meta(spec),
            "window": info,
            "heatmaps": heatmaps,
            "alerts": self._alert_tracks(model),
            "features": features,
            "joint": joint_view.joint_panel(
                self.reader, spec, window, evals, starts, window.stored_scale
            ),
        }

    def model_page(
        self,
        model: str,
        *,
        window: WindowKey | None = None,
        feature: str | None = None,
        baseline: str = ALL,
        metric: str | None = None,
        scale: Scale | None = None,
    ) -> dict[str, Any]:
        """Everything the model page shows: both heatmaps, the window and the feature."""
        spec = self.spec(model)
        focus_scale: Scale = window.stored_scale if window is not None else (scale or HOUR)
        focus_ms = None if window is None else window.start_ms
        heatmaps: dict[str, Heatmap] = {}
        loaded: dict[str, tuple[list[int], Evals]] = {}
        for sc in (HOUR, DAY):
            lim = HOUR_LIMIT if sc == HOUR else DAY_LIMIT
            starts = summaries.pick_range(self.evaluated(model, sc), _centre(window, sc), lim)
            evals = self.evals(model, sc, starts)
            loaded[sc] = (starts, evals)
            heatmaps[sc] = self.heatmap(
                model, sc, baseline, focus_ms=focus_ms, starts=starts, evals=evals
            )
        starts, evals = loaded[focus_scale]
        if window is None and starts:
            window = WindowKey(focus_scale, starts[-1])
        win_info: WindowInfo | None = None
        joint = joint_view.joint_panel(self.reader, spec, window, evals, starts, focus_scale)
        if window is not None:
            win_info = self._window_info(model, window, evals)
            if feature is None:
                top = [
                    r
                    for r in win_info.rows
                    if baseline in (ALL, r["baseline"])
                    and (r["feature"] != JOINT_MEMBER or joint is not None)
                ]
                feature = str(top[0]["feature"]) if top else None
        if feature is None and spec.monitored:
            feature = spec.monitored[0].name
        detail = None
        if feature == JOINT_MEMBER and joint is not None:
            feature = None  # the joint member's page: its card instead of a feature's plots
        if feature is not None:
            detail = self.feature(
                model,
                feature,
                window,
                baseline,
                metric,
                scale=focus_scale,
                evals=evals,
                starts=starts,
            )
        return {
            "model": self.model_summary(model),
            "alerts": self._alert_tracks(model),
            "namespace": self.namespace,
            "reference": self.reference_meta(spec),
            "scale": focus_scale,
            "baseline": baseline,
            "baselines": [ALL, *spec.baselines],
            "window": win_info,
            "heatmaps": heatmaps,
            "feature": detail,
            "joint": joint,
        }


def _report_range(evaluated: Sequence[int], window: WindowKey, scale: Scale) -> list[int]:
    """The windows of ``scale`` a report shows around ``window``."""
    if scale == HOUR and window.stored_scale == DAY:  # the day's own hours
        return [s for s in evaluated if window.start_ms <= s < window.end_ms]
    limit = REPORT_HOURS if scale == HOUR else REPORT_DAYS
    return summaries.pick_range(evaluated, _centre(window, scale), limit)


def _centre(window: WindowKey | None, scale: Scale) -> int | None:
    """Where a heatmap of ``scale`` centres to show ``window``: its day, or its last hour."""
    if window is None:
        return None
    if scale == window.stored_scale:
        return window.start_ms
    if scale == DAY:
        return window.start_ms - window.start_ms % DAY_MS
    return window.end_ms - HOUR_MS


def _lag(baseline: str | None, scale: Scale) -> int | None:
    """Windows back to a window-vs-window baseline (None for the reference)."""
    if baseline == "previous":
        return 1
    if baseline == "seasonal":
        return seasonal_lag(scale)
    return None
