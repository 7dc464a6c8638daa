"""The model-performance panel: realized, estimated, reference band, label coverage.

Per window over time (issue 15): the realized AUC with its 95 % interval, the
estimated AUC (CBPE, before labels), the reference AUC ± the drop floor, and the
share of the window's predictions that have a label.

Read through :class:`PerformanceReader` (the Redis health store in production); the
series is built here and drawn as inline SVG plus a table, so the dashboard and
``driftstream report`` show the same thing. A model without labels, or without a
labelled reference, gets a one-line "why not" instead of an empty chart.

A multiclass model (``labels.classes``) gets a table instead: per window its
labels, coverage, realized accuracy and macro F1 against the reference's, and a
line saying what is not shown (no chart, no AUC, no estimate before labels).
A regression model (``labels.kind = "regression"``) gets one too: per window its
labels, coverage, MAE and RMSE (95 % intervals), bias and target mean against the
reference's, and the same kind of line (no chart, no estimate before labels).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from html import escape
from typing import Any, Protocol, runtime_checkable

from stream.catalog import ModelSpec
from stream.core.multiclass import MulticlassPerformance, macro_f1_se
from stream.core.performance import BinaryPerformance
from stream.core.regression import RegressionPerformance
from stream.core.window import DAY, WindowKey
from stream.web import pages
from stream.web.data import DashboardData
from stream.web.links import Links
from stream.web.svg import FONT, fmt, pct

__all__ = [
    "PerfPoint",
    "PerformanceReader",
    "PerformanceSource",
    "performance_of",
    "performance_panel",
    "performance_series",
]

Z95 = 1.959964
DAYS_SHOWN = 30
"""Day windows the dashboard's panel shows (the newest evaluated)."""
AUC_FLOOR = 0.03
"""Half-width of the reference band (the realized-AUC drop floor of the health evaluator)."""


class PerformanceReader(Protocol):
    """What the panel reads (``RedisHealthStore`` implements it)."""

    def reference_performance(self, spec: ModelSpec) -> BinaryPerformance | None:
        """The labelled reference's performance state."""
        ...

    def labels(
        self, model: str, key: WindowKey, arrived_before_ms: int | None = None
    ) -> BinaryPerformance:
        """The window's labels, merged."""
        ...

    def predictions(self, model: str, key: WindowKey) -> int | None:
        """Predictions (events) of the rolled-up window."""
        ...

    def reference_multiclass(self, spec: ModelSpec) -> MulticlassPerformance | None:
        """The labelled reference's multiclass state (a multiclass model)."""
        ...

    def multiclass_labels(
        self, model: str, key: WindowKey, classes: int, arrived_before_ms: int | None = None
    ) -> MulticlassPerformance:
        """A multiclass model's window labels, merged."""
        ...

    def reference_regression(self, spec: ModelSpec) -> RegressionPerformance | None:
        """The labelled reference's regression state (a regression model)."""
        ...

    def regression_labels(
        self, model: str, key: WindowKey, arrived_before_ms: int | None = None
    ) -> RegressionPerformance:
        """A regression model's window labels, merged."""
        ...

    def decisions(self, model: str, key: WindowKey) -> list[dict[str, Any]]:
        """The model-health decisions committed for the window."""
        ...


@runtime_checkable
class PerformanceSource(Protocol):
    """A dashboard reader that can also read model performance (the Redis one)."""

    def performance_reader(self) -> PerformanceReader:
        """The namespace's performance reader."""
        ...


def performance_of(reader: object, spec: ModelSpec, keys: Sequence[WindowKey]) -> dict[str, Any]:
    """The series through a dashboard reader, or why it cannot have one."""
    if not isinstance(reader, PerformanceSource):
        return {"model": spec.name, "why": "this view has no label store (offline check)"}
    return performance_series(reader.performance_reader(), spec, keys)


@dataclass(frozen=True)
class PerfPoint:
    """One window of the panel."""

    window: str
    start_ms: int
    predictions: int | None
    labels: int
    coverage: float | None
    auc: float | None
    auc_low: float | None
    auc_high: float | None
    accuracy: float | None
    estimated_auc: float | None
    estimated_accuracy: float | None


def performance_series(
    reader: PerformanceReader, spec: ModelSpec, keys: Sequence[WindowKey]
) -> dict[str, Any]:
    """The panel's data: reference values and one :class:`PerfPoint` per window."""
    if spec.labels is None:
        return {"model": spec.name, "why": "no labels declared (models.<name>.labels)"}
    if spec.labels.multiclass:
        return multiclass_series(reader, spec, keys)
    if spec.labels.regression:
        return regression_series(reader, spec, keys)
    ref = reader.reference_performance(spec)
    if ref is None or ref.n == 0:
        return _no_reference(spec)
    points = []
    for key in keys:
        lab = reader.labels(spec.name, key)
        preds = reader.predictions(spec.name, key)
        auc, se = lab.auc(), lab.auc_se()
        est = {
            d["metric"]: float(d["value"])
            for d in reader.decisions(spec.name, key)
            if d.get("kind") == "estimated"
        }
        points.append(
            PerfPoint(
                window=str(key),
                start_ms=key.start_ms,
                predictions=preds,
                labels=lab.n,
                coverage=lab.n / preds if preds else None,
                auc=auc,
                auc_low=None if auc is None or se is None else auc - Z95 * se,
                auc_high=None if auc is None or se is None else auc + Z95 * se,
                accuracy=lab.accuracy,
                estimated_auc=est.get("auc"),
                estimated_accuracy=est.get("accuracy"),
            )
        )
    return {
        "model": spec.name,
        "why": None,
        "reference": {"auc": ref.auc(), "accuracy": ref.accuracy, "n": ref.n},
        "band": AUC_FLOOR,
        "points": [asdict(p) for p in points],
    }


MULTICLASS_NOTE = (
    "multiclass model: realized accuracy and macro F1 (95 % interval) by window; no chart, "
    "no AUC and no estimate before labels (labels carry the predicted class, not probabilities)"
)


def multiclass_series(
    reader: PerformanceReader, spec: ModelSpec, keys: Sequence[WindowKey]
) -> dict[str, Any]:
    """A multiclass model's panel data: reference figures and one row per window."""
    assert spec.labels is not None  # noqa: S101 - the caller checked it
    k = len(spec.labels.classes)
    ref = reader.reference_multiclass(spec)
    if ref is None or ref.n == 0:
        return _no_reference(spec)
    points = []
    for key in keys:
        lab = reader.multiclass_labels(spec.name, key, k)
        preds = reader.predictions(spec.name, key)
        acc, f1 = lab.accuracy, lab.macro_f1()
        acc_se = None if acc is None else (acc * (1 - acc) / lab.n) ** 0.5
        points.append(
            _row(key, preds, lab.n)
            | {
                "accuracy": acc,
                "accuracy_half": None if acc_se is None else Z95 * acc_se,
                "macro_f1": f1,
                "macro_f1_half": None if f1 is None else Z95 * macro_f1_se(lab),
            }
        )
    return {
        "model": spec.name,
        "why": None,
        "multiclass": True,
        "note": MULTICLASS_NOTE,
        "classes": spec.labels.class_names(),
        "reference": {"accuracy": ref.accuracy, "macro_f1": ref.macro_f1(), "n": ref.n},
        "points": points,
    }


REGRESSION_NOTE = (
    "regression model: realized MAE and RMSE (95 % interval), bias (prediction − target) and "
    "the target's mean by window; no chart and no estimate before labels (labels carry a "
    "point prediction, not a predictive distribution)"
)


def _no_reference(spec: ModelSpec) -> dict[str, Any]:
    return {"model": spec.name, "why": "no labelled reference: add 'label' to the reference"}


def _row(key: WindowKey, preds: int | None, labels: int) -> dict[str, Any]:
    """A table row's window, predictions, labels and coverage (multiclass, regression)."""
    return {
        "window": str(key),
        "start_ms": key.start_ms,
        "predictions": preds,
        "labels": labels,
        "coverage": labels / preds if preds else None,
    }


def regression_series(
    reader: PerformanceReader, spec: ModelSpec, keys: Sequence[WindowKey]
) -> dict[str, Any]:
    """A regression model's panel data: reference figures and one row per window."""
    ref = reader.reference_regression(spec)
    if ref is None or ref.n == 0:
        return _no_reference(spec)
    figures = {
        "mae": ref.mae,
        "rmse": ref.rmse,
        "bias": ref.bias,
        "target_mean": ref.target_mean,
        "target_sd": ref.target_sd,
        "n": ref.n,
    }
    return {
        "model": spec.name,
        "why": None,
        "regression": True,
        "note": REGRESSION_NOTE,
        "reference": figures,
        "points": [_regression_row(reader, spec.name, key) for key in keys],
    }


def _regression_row(reader: PerformanceReader, model: str, key: WindowKey) -> dict[str, Any]:
    lab = reader.regression_labels(model, key)
    two = lab.n >= 2  # an interval needs a spread
    return _row(key, reader.predictions(model, key), lab.n) | {
        "mae": lab.mae,
        "mae_half": Z95 * lab.mae_se() if two else None,
        "rmse": lab.rmse,
        "rmse_half": Z95 * lab.rmse_se() if two else None,
        "bias": lab.bias,
        "target_mean": lab.target_mean,
    }


def _ci(v: float | None, half: float | None) -> str:
    """A value and its 95 % half-width (``–`` for none), as every performance table shows it."""
    return fmt(v) + ("" if v is None or half is None else f" ± {fmt(half)}")


def _regression_table(series: dict[str, Any]) -> str:
    ref = series["reference"]
    head = (
        "<tr><th>window</th><th>predictions</th><th>labels</th><th>coverage</th>"
        "<th>MAE (95 %)</th><th>RMSE (95 %)</th><th>bias</th><th>target mean</th></tr>"
    )
    rows = [
        f"<tr><td>reference</td><td></td><td>{fmt(ref.get('n'))}</td><td></td>"
        f"<td>{fmt(ref.get('mae'))}</td><td>{fmt(ref.get('rmse'))}</td>"
        f"<td>{fmt(ref.get('bias'))}</td><td>{fmt(ref.get('target_mean'))}</td></tr>"
    ]
    for p in series["points"]:
        rows.append(
            f"<tr><td>{escape(p['window'])}</td><td>{fmt(p['predictions'])}</td>"
            f"<td>{fmt(p['labels'])}</td><td>{pct(p['coverage'])}</td>"
            f"<td>{_ci(p['mae'], p['mae_half'])}</td><td>{_ci(p['rmse'], p['rmse_half'])}</td>"
            f"<td>{fmt(p['bias'])}</td><td>{fmt(p['target_mean'])}</td></tr>"
        )
    return f'<table class="perf regression">{head}{"".join(rows)}</table>'


def _multiclass_table(series: dict[str, Any]) -> str:
    ref = series["reference"]
    head = (
        "<tr><th>window</th><th>predictions</th><th>labels</th><th>coverage</th>"
        "<th>accuracy (95 %)</th><th>macro F1 (95 %)</th></tr>"
    )
    rows = [
        f"<tr><td>reference</td><td></td><td>{fmt(ref.get('n'))}</td><td></td>"
        f"<td>{fmt(ref.get('accuracy'))}</td><td>{fmt(ref.get('macro_f1'))}</td></tr>"
    ]
    for p in series["points"]:
        rows.append(
            f"<tr><td>{escape(p['window'])}</td><td>{fmt(p['predictions'])}</td>"
            f"<td>{fmt(p['labels'])}</td><td>{pct(p['coverage'])}</td>"
            f"<td>{_ci(p['accuracy'], p['accuracy_half'])}</td>"
            f"<td>{_ci(p['macro_f1'], p['macro_f1_half'])}</td></tr>"
        )
    return f'<table class="perf multiclass">{head}{"".join(rows)}</table>'


def performance_panel(series: dict[str, Any], *, width: int = 720, height: int = 260) -> str:
    """The panel as an HTML section (inline SVG chart and a table)."""
    title = "<h3>Model performance: realized (95 % interval), estimated, reference band</h3>"
    if series.get("why"):
        return f'<section class="card perf">{title}<p>{escape(series["why"])}</p></section>'
    if series.get("multiclass") or series.get("regression"):
        table = _regression_table(series) if series.get("regression") else None
        return (
            f'<section class="card perf" data-points="{len(series["points"])}">{title}'
            f"<p>{escape(series['note'])}</p>{table or _multiclass_table(series)}</section>"
        )
    pts = series["points"]
    if not pts:
        return f'<section class="card perf">{title}<p>no window rolled up yet</p></section>'
    ref = series["reference"]
    return (
        f'<section class="card perf" data-points="{len(pts)}">{title}'
        + _chart(pts, ref.get("auc"), series["band"], width, height)
        + _table(pts, ref)
        + "</section>"
    )


def _chart(
    pts: Sequence[dict[str, Any]], ref_auc: float | None, band: float, width: int, height: int
) -> str:
    ml, mr, mt, cov_h, gap = 46, 12, 14, 40, 22
    ph = height - mt - cov_h - gap - 20
    pw = width - ml - mr
    vals = [
        v
        for p in pts
        for v in (p["auc_low"], p["auc_high"], p["estimated_auc"], p["auc"])
        if v is not None
    ]
    if ref_auc is not None:
        vals += [ref_auc - band, ref_auc + band]
    lo = max(0.0, min(vals, default=0.5) - 0.02)
    hi = min(1.0, max(vals, default=1.0) + 0.02)
    if hi - lo < 0.05:
        lo, hi = lo - 0.025, hi + 0.025
    step = pw / max(1, len(pts))

    def x(i: int) -> float:
        return ml + step * (i + 0.5)

    def y(v: float) -> float:
        return mt + ph * (1 - (v - lo) / (hi - lo))

    out = [
        f'<svg class="chart perf" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" {FONT} font-size="11" '
        'role="img" aria-label="AUC over windows">'
    ]
    for t in (lo, (lo + hi) / 2, hi):
        out.append(
            f'<text x="{ml - 4}" y="{y(t) + 4:.1f}" text-anchor="end" fill="#64748b">{t:.2f}</text>'
        )
    if ref_auc is not None:
        top, bot = y(min(hi, ref_auc + band)), y(max(lo, ref_auc - band))
        out.append(
            f'<rect class="ref-band" x="{ml}" y="{top:.1f}" width="{pw}" '
            f'height="{bot - top:.1f}" fill="#e2e8f0"/>'
            f'<line x1="{ml}" x2="{ml + pw}" y1="{y(ref_auc):.1f}" y2="{y(ref_auc):.1f}" '
            'stroke="#64748b" stroke-dasharray="2 2"/>'
        )
    est = [(x(i), y(p["estimated_auc"])) for i, p in enumerate(pts) if p["estimated_auc"]]
    if est:
        path = " ".join(f"{a:.1f},{b:.1f}" for a, b in est)
        out.append(
            f'<polyline class="estimated" points="{path}" fill="none" stroke="#7c3aed" '
            'stroke-width="1.5" stroke-dasharray="5 3"/>'
        )
    for i, p in enumerate(pts):
        if p["auc"] is None:
            continue
        if p["auc_low"] is not None and p["auc_high"] is not None:
            out.append(
                f'<line x1="{x(i):.1f}" x2="{x(i):.1f}" y1="{y(min(hi, p["auc_high"])):.1f}" '
                f'y2="{y(max(lo, p["auc_low"])):.1f}" stroke="#0f766e"/>'
            )
        out.append(
            f'<circle class="realized" cx="{x(i):.1f}" cy="{y(p["auc"]):.1f}" r="3" '
            f'fill="#0f766e"><title>{escape(p["window"])}: AUC {p["auc"]:.3f}</title></circle>'
        )
    base = mt + ph + gap + cov_h
    out.append(
        f'<text x="{ml - 4}" y="{base - cov_h / 2 + 4:.1f}" text-anchor="end" '
        'fill="#64748b">cov.</text>'
    )
    for i, p in enumerate(pts):
        c = p["coverage"] or 0.0
        h = cov_h * min(1.0, c)
        out.append(
            f'<rect class="coverage" x="{x(i) - step * 0.35:.1f}" y="{base - h:.1f}" '
            f'width="{step * 0.7:.1f}" height="{h:.1f}" fill="#94a3b8">'
            f"<title>{escape(p['window'])}: {pct(p['coverage'])} labelled</title></rect>"
        )
    every = max(1, len(pts) // 8)
    for i, p in enumerate(pts):
        if i % every == 0:
            out.append(
                f'<text x="{x(i):.1f}" y="{base + 14}" text-anchor="middle" fill="#64748b">'
                f"{escape(p['window'].partition(':')[2][5:])}</text>"
            )
    out.append("</svg>")
    return "".join(out)


def _table(pts: Sequence[dict[str, Any]], ref: dict[str, Any]) -> str:
    head = (
        "<tr><th>window</th><th>predictions</th><th>labels</th><th>coverage</th>"
        "<th>AUC (95 %)</th><th>est. AUC</th><th>accuracy</th><th>est. accuracy</th></tr>"
    )
    rows = [
        "<tr><td>reference</td><td></td>"
        f"<td>{fmt(ref.get('n'))}</td><td></td><td>{fmt(ref.get('auc'))}</td><td></td>"
        f"<td>{fmt(ref.get('accuracy'))}</td><td></td></tr>"
    ]
    for p in pts:
        ci = (
            f" [{p['auc_low']:.3f}, {p['auc_high']:.3f}]"
            if p["auc_low"] is not None and p["auc_high"] is not None
            else ""
        )
        rows.append(
            f"<tr><td>{escape(p['window'])}</td><td>{fmt(p['predictions'])}</td>"
            f"<td>{fmt(p['labels'])}</td><td>{pct(p['coverage'])}</td>"
            f"<td>{fmt(p['auc'])}{ci}</td><td>{fmt(p['estimated_auc'])}</td>"
            f"<td>{fmt(p['accuracy'])}</td><td>{fmt(p['estimated_accuracy'])}</td></tr>"
        )
    return f'<table class="perf">{head}{"".join(rows)}</table>'


def build(c: Any) -> dict[str, Any]:
    """The dashboard route's value (``c``: its ``Call``): the newest evaluated day windows."""
    return dashboard_series(c.data, c.model)


def dashboard_series(data: DashboardData, model: str) -> dict[str, Any]:
    """The panel's series of a model in the dashboard's namespace."""
    spec = data.spec(model)
    starts = data.evaluated(model, DAY)[-DAYS_SHOWN:]
    return performance_of(data.reader, spec, [WindowKey(DAY, s) for s in starts])


def page(series: dict[str, Any], data: DashboardData, links: Links) -> str:
    """The dashboard page of the panel."""
    model = str(series["model"])
    return pages.shell(
        f"{model} · performance — driftstream",
        f"<h1>{escape(model)}<small>performance</small></h1>" + performance_panel(series),
        namespace=data.namespace,
        links=links,
        crumbs=[("models", links.models()), (model, links.model(model)), ("performance", None)],
        page="performance",
    )
