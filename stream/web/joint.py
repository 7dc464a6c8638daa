"""The joint member seen by people: correlation heatmaps and the reconstruction-error series.

For a model with a joint sketch (two or more numeric features, ``joint.enabled``), the
model page, a joint alert's page (``?feature=joint``) and the report show one card:

* three heatmaps of the pairwise correlations, reference | window | Δρ (window −
  reference), blue for negative and red for positive, the pairs whose change is past
  the correlation test's threshold outlined (when that test breached);
* the joint decision of the window against the reference: its reasons, the pairs whose
  correlation moved most (ρ before/after, Δρ with its 95% interval, z) and the columns
  adding most to the PCA reconstruction error;
* the reconstruction error's increase over what the reference expects, window by
  window, with its threshold (the ``pca_error`` metric of the stored decisions).

Same conventions as :mod:`.svg` and :mod:`.charts`: server-side SVG strings, no
script, ``data-*`` attributes with the numbers drawn, ``<title>`` tooltips. Whatever
cannot be shown (no joint sketch in the reference, the window's rollup expired,
columns changed) is said in the card, never an empty chart.

>>> diverging_color(0.0), diverging_color(1.0), diverging_color(-1.0), diverging_color(None)
('#f8fafc', '#b91c1c', '#1d4ed8', '#eceff3')
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

import numpy as np
import numpy.typing as npt

from stream.catalog import JOINT_MEMBER, ModelSpec
from stream.core.measures.joint import JointView
from stream.core.sketch import JointSketch, SketchDecodeError, loads
from stream.core.sketch.joint import indicator_name
from stream.core.window import Scale, WindowKey
from stream.pipeline.ports import JOINT_KEY
from stream.web.charts import series_svg
from stream.web.links import Links
from stream.web.ports import DashboardReader, Evals
from stream.web.summaries import MetricSeries, metric_series
from stream.web.svg import FONT, fmt

__all__ = [
    "JointPanel",
    "corr_heatmap_svg",
    "diverging_color",
    "joint_panel",
    "joint_section",
]

_NEG = (0x1D, 0x4E, 0xD8)
_MID = (0xF8, 0xFA, 0xFC)
_POS = (0xB9, 0x1C, 0x1C)
_EMPTY = "#eceff3"
_REFERENCE = "reference"
_TITLES = {
    "reference": "reference ρ",
    "window": "window ρ",
    "delta": "Δρ (window − reference)",
}


@dataclass(frozen=True)
class JointPanel:
    """What the joint card shows for one model and window (built by :func:`joint_panel`)."""

    model: str
    scale: Scale
    window: str | None
    columns: tuple[str, ...]
    excluded: tuple[str, ...]
    reference: npt.NDArray[np.float64] | None  # ρ of the reference, None when not stored
    current: npt.NDArray[np.float64] | None  # ρ of the window, None when not stored
    rows_reference: int
    rows_window: int
    decision: Mapping[str, Any] | None  # the window's joint decision vs the reference
    error: MetricSeries | None  # the pca_error metric, window by window
    notes: tuple[str, ...]  # what cannot be shown, and why

    @property
    def delta(self) -> npt.NDArray[np.float64] | None:
        """Window ρ − reference ρ (None unless both are there)."""
        if self.reference is None or self.current is None:
            return None
        return self.current - self.reference


def _view(blob: bytes | None, columns: tuple[str, ...]) -> tuple[JointView | None, str]:
    """The stored sketch as a view, or None and why not."""
    if blob is None:
        return None, "not stored"
    try:
        sketch = loads(blob)
    except SketchDecodeError as e:
        return None, f"unreadable ({e})"
    if not isinstance(sketch, JointSketch):
        return None, "not a joint sketch"
    if sketch.columns != columns and sketch.numeric == columns:
        sketch = sketch.without_indicators()  # the reference predates joint.indicators
    if sketch.columns != columns:
        return None, f"over other columns ({', '.join(sketch.columns)}): the config changed"
    return JointView.of(sketch), ""


def joint_panel(
    reader: DashboardReader,
    spec: ModelSpec,
    window: WindowKey | None,
    evals: Evals,
    starts: Sequence[int],
    scale: Scale,
) -> JointPanel | None:
    """The joint card's data; None when the model has no joint member (off, < 2 numeric)."""
    columns, excluded = spec.joint_columns
    if not columns:
        return None
    notes: list[str] = []
    ref_blob = reader.reference_sketch(spec, JOINT_KEY)
    numeric = columns
    columns = (*numeric, *(indicator_name(f, c) for f, c in spec.joint_indicators))
    ref, why = _view(ref_blob, columns)
    if ref is None and columns != numeric:
        ref, _ = _view(ref_blob, numeric)
        if ref is not None:
            columns = numeric
            notes.append(
                "reference has no indicator columns (built before joint.indicators): "
                "rebuild it (driftstream reference build) to compare categories"
            )
    if ref is None:
        notes.append(
            f"reference joint sketch {why}: rebuild the reference "
            "(driftstream reference build) to compare correlations"
        )
    cur: JointView | None = None
    decision: Mapping[str, Any] | None = None
    if window is not None:
        cur, why = _view(reader.window_sketch(spec.name, window, JOINT_KEY), columns)
        if cur is None:
            notes.append(f"joint sketch of {window} {why} (rolled-up windows expire)")
        decision = next(
            (
                d
                for d in evals.get(window.start_ms, {}).get(_REFERENCE, [])
                if d.get("feature") == JOINT_MEMBER
            ),
            None,
        )
        if decision is None:
            notes.append(f"no joint decision stored for {window} against the reference")
    series = metric_series(evals, starts, scale, JOINT_MEMBER, _REFERENCE, "pca_error")
    if not any(p.value is not None for p in series.points):
        notes.append("no window has a reconstruction-error measure yet")
    return JointPanel(
        model=spec.name,
        scale=scale,
        window=None if window is None else str(window),
        columns=columns,
        excluded=excluded,
        reference=None if ref is None else ref.corr,
        current=None if cur is None else cur.corr,
        rows_reference=0 if ref is None else ref.rows,
        rows_window=0 if cur is None else cur.rows,
        decision=decision,
        error=series,
        notes=tuple(notes),
    )


def diverging_color(v: float | None) -> str:
    """Blue (−1) → near white (0) → red (+1); values past ±1 saturate; grey for none."""
    if v is None or not math.isfinite(v):
        return _EMPTY
    t = min(1.0, abs(v))
    end = _POS if v > 0 else _NEG
    r, g, b = (round(m + (e - m) * t) for m, e in zip(_MID, end, strict=True))
    return f"#{r:02x}{g:02x}{b:02x}"


def corr_heatmap_svg(
    columns: Sequence[str],
    matrix: npt.NDArray[np.float64] | None,
    *,
    kind: str,
    marked: Sequence[tuple[str, str]] = (),
    size: int = 300,
) -> str:
    """A k×k correlation (or Δρ) heatmap; ``marked`` pairs are outlined."""
    k = len(columns)
    title = _TITLES.get(kind, kind)
    cs = max(4, min(22, (size - 90) // max(1, k)))
    labels = cs >= 8
    ml = 8 + (min(90, 6 * max(len(c) for c in columns)) if labels else 0)
    mt = 22 + (min(80, 6 * max(len(c) for c in columns)) if labels else 0)
    w, h = ml + cs * k + 8, mt + cs * k + 8
    head = (
        f'<svg class="chart joint-heatmap" xmlns="http://www.w3.org/2000/svg" width="{w}" '
        f'height="{h}" viewBox="0 0 {w} {h}" {FONT} font-size="{min(11, max(7, cs - 3))}" '
        f'data-kind="{escape(kind)}" data-columns="{escape(",".join(columns))}" '
        f'role="img" aria-label="{escape(title)}">'
        f'<text x="4" y="12" fill="#334155" font-weight="600">{escape(title)}</text>'
    )
    if matrix is None:
        return head + f'<text x="4" y="{mt + 14}" fill="#64748b">not available</text></svg>'
    marks = {frozenset(p) for p in marked}
    out = [head]
    if labels:
        for i, c in enumerate(columns):
            y = mt + cs * i + cs / 2 + 3
            x = ml + cs * i + cs / 2
            out.append(
                f'<text x="{ml - 4}" y="{y:.1f}" text-anchor="end" fill="#334155">'
                f"{escape(c)}</text>"
                f'<text x="{x:.1f}" y="{mt - 4}" transform="rotate(-60 {x:.1f} {mt - 4})" '
                f'fill="#334155">{escape(c)}</text>'
            )
    for i, a in enumerate(columns):
        for j, b in enumerate(columns):
            v = float(matrix[i, j])
            shown = round(v, 3) if math.isfinite(v) else None
            outline = frozenset((a, b)) in marks and i != j
            stroke = ' stroke="#0f172a" stroke-width="2"' if outline else ""
            out.append(
                f'<rect x="{ml + cs * j}" y="{mt + cs * i}" width="{cs}" height="{cs}" '
                f'fill="{diverging_color(shown)}"{stroke} data-pair="{escape(a)}~{escape(b)}" '
                f'data-value="{"" if shown is None else shown}"'
                + (' data-marked="1"' if outline else "")
                + f"><title>{escape(a)} ~ {escape(b)}: {escape(title)} {fmt(shown)}</title></rect>"
            )
    out.append("</svg>")
    return "".join(out)


def _signed(v: Any, digits: int = 2) -> str:
    return f"{v:+.{digits}f}" if isinstance(v, int | float) and math.isfinite(v) else "–"


def _hint_pairs(decision: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    """The decision's pair hints of the expected shape (others are skipped, not fatal)."""
    pairs = ((decision or {}).get("details") or {}).get("pairs") or []
    return [
        p
        for p in pairs
        if isinstance(p, Mapping) and isinstance(p.get("pair"), list) and len(p["pair"]) == 2
    ]


def _moved_pairs(decision: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """The hinted pairs past the correlation test's threshold, when that test breached."""
    if not decision or "corr_change" not in (decision.get("ranked") or []):
        return []
    m = (decision.get("metrics") or {}).get("corr_change") or []
    thr = m[1] if len(m) > 1 and isinstance(m[1], int | float) else math.inf
    return [
        (str(p["pair"][0]), str(p["pair"][1]))
        for p in _hint_pairs(decision)
        if isinstance(p.get("delta"), int | float) and abs(p["delta"]) >= thr
    ]


def _pairs_table(decision: Mapping[str, Any]) -> str:
    pairs = _hint_pairs(decision)
    if not pairs:
        return '<p class="empty">No pair measured in this window.</p>'
    rows = []
    for p in pairs:
        a, b = (str(x) for x in p["pair"])
        lo, hi = (list(p.get("ci") or []) + [None, None])[:2]
        rows.append(
            f'<tr data-pair="{escape(a)}~{escape(b)}"><td>{escape(a)} ~ {escape(b)}</td>'
            f'<td class="num">{_signed(p.get("rho_reference"))}</td>'
            f'<td class="num">{_signed(p.get("rho_window"))}</td>'
            f'<td class="num">{_signed(p.get("delta"))}</td>'
            f'<td class="num">[{_signed(lo)}, {_signed(hi)}]</td>'
            f'<td class="num">{_signed(p.get("z"), 1)}</td></tr>'
        )
    return (
        '<table data-table="joint-pairs"><thead><tr><th>pair</th><th>ρ reference</th>'
        "<th>ρ window</th><th>Δρ</th><th>Δρ 95%</th><th>z</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
    )


def _columns_table(decision: Mapping[str, Any]) -> str:
    details = decision.get("details") or {}
    cols = [c for c in details.get("columns") or [] if isinstance(c, Mapping) and "column" in c]
    if "reconstruction_error" not in details:
        return '<p class="empty">No reconstruction error in this window (no PCA axes).</p>'
    head = (
        f'<p class="sub">PCA reconstruction error {fmt(details["reconstruction_error"])} '
        f"(expected {fmt(details.get('expected_error'))})"
        + (
            f"; matrix distance (RMS Δρ) {fmt(details['matrix_distance'])}"
            if details.get("matrix_distance") is not None
            else ""
        )
        + "</p>"
    )
    if not cols:
        return head + '<p class="empty">No column adds to the error beyond the reference.</p>'
    rows = "".join(
        f'<tr data-column="{escape(c["column"])}"><td>{escape(c["column"])}</td>'
        f'<td class="num">{fmt(c.get("increase"))}</td></tr>'
        for c in cols
    )
    return (
        head + '<table data-table="joint-columns"><thead><tr><th>column</th>'
        f"<th>added error</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def joint_section(panel: JointPanel, links: Links) -> str:
    """The joint card (model page, joint alert page, report)."""
    d = panel.decision
    pairs = _moved_pairs(d)
    maps = "".join(
        f'<div class="chart-box">{corr_heatmap_svg(panel.columns, m, kind=kind, marked=pairs)}'
        "</div>"
        for kind, m in (
            ("reference", panel.reference),
            ("window", panel.current),
            ("delta", panel.delta),
        )
    )
    if d is None:
        verdict = '<span class="chip none">not judged</span>'
        body = ""
    else:
        breach = bool(d.get("breach"))
        verdict = (
            f'<span class="chip breach {escape(str(d.get("severity") or ""))}">joint drift</span>'
            if breach
            else '<span class="chip ok">no joint drift</span>'
        )
        reasons = "".join(f"<li>{escape(str(r))}</li>" for r in d.get("reasons") or [])
        body = (
            (f'<ul class="reasons">{reasons}</ul>' if reasons else "")
            + "<h3>Pairs whose correlation moved most</h3>"
            + _pairs_table(d)
            + "<h3>Columns adding most to the reconstruction error</h3>"
            + _columns_table(d)
        )

    def link(w: str) -> str | None:
        return links.model(panel.model, window=w, feature=JOINT_MEMBER)

    series = series_svg(panel.error, scale=panel.scale, focus_window=panel.window, link=link)
    notes = "".join(f'<p class="empty" data-note="joint">{escape(n)}</p>' for n in panel.notes)
    over = (
        f'<p class="sub">{len(panel.excluded)} numeric columns not in the joint sketch (over '
        f"joint.max_columns or outside joint.columns) are not checked: "
        f"{escape(', '.join(panel.excluded))}</p>"
        if panel.excluded
        else ""
    )
    rows = f"{fmt(panel.rows_reference)} reference rows, {fmt(panel.rows_window)} window rows"
    return (
        f'<section class="card" id="joint" data-joint-window="{escape(panel.window or "")}">'
        f'<div class="card-head"><h2>Joint: how the numeric columns move together'
        f"{' · ' + escape(panel.window) if panel.window else ''}</h2>{verdict}"
        f'<span class="label">{rows}</span></div>{over}{notes}'
        f'<div class="joint-maps">{maps}</div>{body}'
        "<h3>PCA reconstruction error: increase over the reference's expected error, "
        f'with its threshold</h3><div class="chart-box">{series}</div></section>'
    )
