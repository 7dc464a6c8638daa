"""What ``driftstream check`` says: the JSON document (check.schema.json) and the terminal table.

The JSON is built first; the terminal summary and the exit code are read from it, so
a pipeline and a person always see the same verdicts.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from stream import __version__
from stream.core.window import format_iso_ms
from stream.pipeline.offline import CheckRun, Folded

__all__ = ["SCHEMA_VERSION", "check_document", "effect_text", "failing", "summary_lines"]

SCHEMA_VERSION = 1
_SHARE = re.compile(r"share of (.+?) ([+-][0-9.]+) points")
_RANK = {"none": 0, "warning": 1, "critical": 2}
# Metrics whose value is a share of rows: shown in points (×100).
_POINTS = {"null_rate_change", "linf", "unseen", "out_of_range", "vanished"}


def _num(x: Any, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    return f"{x:+.{digits}g}" if isinstance(x, float) else str(x)


def effect_text(d: Mapping[str, Any]) -> str:
    """The top metric in words, with units and direction (``mean +0.52 σ (up)``)."""
    name = str(d.get("effect_metric") or "")
    metrics = d.get("metrics") or {}
    raw = (metrics.get(name) or [d.get("effect")])[0]
    if not name or raw is None:
        return "–"
    v = float(raw)
    up = "up" if v > 0 else "down" if v < 0 else "flat"
    if name == "mean_shift":
        return f"mean {v:+.3g} σ ({up})"
    if name.startswith("q") and name.endswith("_shift"):
        return f"p{name[1:3]} {v:+.3g} × ref IQR/1.349 ({up})"
    if name == "null_rate_change":
        return f"null share {100 * v:+.1f} pts ({up})"
    if name == "out_of_range":
        return f"{100 * v:.1f}% of rows outside the reference range"
    if name == "unseen":
        return f"{100 * v:.1f}% of rows in new categories"
    if name == "vanished":
        return f"{100 * v:.1f}% of reference rows in vanished categories"
    if name in ("linf", "js") and d.get("kind") == "categorical":
        for r in d.get("reasons") or []:  # the Beta posterior's line names the category
            m = _SHARE.match(str(r))
            if m:
                return f"share of {m.group(1)} {m.group(2)} pts"
        return f"top category share moved {100 * v:.1f} pts" if name == "linf" else f"js {v:.3g}"
    mean = metrics.get("mean_shift")
    hint = ""
    if mean and mean[0] is not None and float(mean[0]) != 0:
        hint = f", mean {'up' if float(mean[0]) > 0 else 'down'}"
    return f"{name} {v:.3g}{hint}"


def _interval(d: Mapping[str, Any]) -> str:
    mag, ci = d.get("magnitude"), d.get("ci") or [None, None]
    if mag is None:
        return "–"
    scale = 100.0 if d.get("kind") == "categorical" or d.get("effect_metric") in _POINTS else 1.0
    unit = " pts" if scale == 100.0 else ""
    lo, hi = ci
    inner = f" [{scale * lo:+.3g}, {scale * hi:+.3g}]" if lo is not None and hi is not None else ""
    return f"{scale * mag:+.3g}{inner}{unit}"


def _table_side(name: str, table: Mapping[str, Any], folded: Folded) -> dict[str, Any]:
    return {
        **table,
        "rows": folded.rows,
        "accepted": folded.accepted,
        "rejected": dict(sorted(folded.rejects.counts.items())),
        "rejected_examples": {k: list(v) for k, v in sorted(folded.rejects.examples.items())},
        "hours": len(folded.ref.hours),
        "role": name,
    }


def _window_label(key: Any, mode: str) -> str:
    return "all" if mode == "all" else str(key)


def check_document(
    run: CheckRun,
    *,
    reference: Folded,
    current: Folded,
    tables: Mapping[str, Mapping[str, Any]],
    columns: Sequence[Mapping[str, Any]],
    skipped: Mapping[str, str],
    mode: str,
    ts_column: str | None,
    fail_on: str,
    notes: Sequence[str],
) -> dict[str, Any]:
    """The JSON document of one check (``stream/core/schemas/check.schema.json``)."""
    windows = []
    per_feature: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
    for w in run.windows:
        decided = run.store.decisions.get(w.key, {})
        ds = []
        for baseline, decisions in sorted(decided.items()):
            for d in decisions:
                row = {"baseline": baseline, **d, "effect_text": effect_text(d)}
                ds.append(row)
                per_feature.setdefault(str(d["feature"]), []).append(
                    (_window_label(w.key, mode), baseline, row)
                )
        windows.append(
            {
                "key": _window_label(w.key, mode),
                "scale": "all" if mode == "all" else w.key.scale,
                "start": None if mode == "all" else format_iso_ms(w.key.start_ms),
                "end": None if mode == "all" else format_iso_ms(w.key.end_ms),
                "events": w.events,
                "evaluated": bool(decided),
                "decisions": ds,
            }
        )
    features = []
    for col in columns:
        name = str(col["name"])
        seen = per_feature.get(name, [])
        judged = [(k, b, d) for k, b, d in seen if not _not_judged(d)]
        drifted = [(k, b, d) for k, b, d in judged if d["breach"]]
        pool = drifted or judged or seen
        worst = (
            max(pool, key=lambda t: (_RANK[t[2]["severity"]], t[2].get("ratio") or 0.0))[2]
            if pool
            else None
        )
        severity = max(
            (d["severity"] for _, _, d in drifted), key=_RANK.__getitem__, default="none"
        )
        verdict = "drift" if drifted else "ok" if judged else "not judged"
        reason = (
            "; ".join(worst["reasons"][:2])
            if worst is not None and worst["reasons"]
            else "no window had this feature"
            if worst is None
            else _below(worst)
        )
        features.append(
            {
                "name": name,
                "kind": col["kind"],
                "verdict": verdict,
                "severity": severity,
                "windows_judged": len({k for k, _, _ in judged}),
                "windows_drifted": len({k for k, _, _ in drifted}),
                "worst": None
                if worst is None
                else {
                    "window": next(k for k, _, d in pool if d is worst),
                    "baseline": worst["baseline"],
                    "effect_metric": worst["effect_metric"],
                    "effect": worst["effect"],
                    "effect_text": worst["effect_text"],
                    "threshold": worst["threshold"],
                    "p_drift": worst["p_drift"],
                    "magnitude": worst["magnitude"],
                    "ci": worst["ci"],
                    "interval_text": _interval(worst),
                    "reason": reason,
                },
            }
        )
    drift = [f["name"] for f in features if f["verdict"] == "drift"]
    fails = [
        f["name"]
        for f in features
        if f["verdict"] == "drift" and _RANK[f["severity"]] >= _RANK[fail_on]
    ]
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": f"driftstream {__version__}",
        "model": run.spec.name,
        "mode": mode,
        "ts_column": ts_column,
        "fail_on": fail_on,
        "reference": _table_side("reference", tables["reference"], reference),
        "current": _table_side("current", tables["current"], current),
        "columns": [dict(c) for c in columns],
        "skipped_columns": dict(skipped),
        "windows": windows,
        "features": features,
        "alerts": [_alert(a) for a in run.store.outbox],
        "drift": bool(drift),
        "drifted_features": drift,
        "failing_features": fails,
        "exit_code": 1 if fails else 0,
        "notes": list(notes),
    }


def _alert(blob: bytes) -> dict[str, Any]:
    return dict(json.loads(blob))


def _below(d: Mapping[str, Any]) -> str:
    """Why an unbreached feature is fine: its strongest metric against its threshold."""
    eff, thr = d.get("effect"), d.get("threshold")
    if eff is None or thr is None:
        return "within thresholds"
    return f"{d['effect_metric']} {eff:.3g} below its threshold {thr:.3g}"


def _not_judged(d: Mapping[str, Any]) -> bool:
    return not d["breach"] and any("not judged" in r for r in d.get("reasons") or [])


def failing(doc: Mapping[str, Any]) -> bool:
    """Does the check fail at its ``fail_on`` severity (exit code 1)?"""
    return bool(doc["failing_features"])


def summary_lines(doc: Mapping[str, Any]) -> list[str]:
    """The terminal summary: sources, one row per feature, the verdict line."""
    out = []
    for side in ("reference", "current"):
        t = doc[side]
        line = f"{side:9s} {t['path']}: {t['rows']:,} rows, {t['accepted']:,} accepted"
        if t["rejected"]:
            ex = "; ".join(e for es in t["rejected_examples"].values() for e in es[:1])
            line += (
                f", rejected {sum(t['rejected'].values()):,} ({_reasons(t['rejected'])}; e.g. {ex})"
            )
        out.append(line)
    n_win = len(doc["windows"])
    if doc["mode"] == "all":
        out.append("window    the whole current set, against the reference")
    else:
        scales = sorted({w["scale"] for w in doc["windows"]})
        out.append(
            f"windows   {n_win} ({', '.join(scales) or 'none'}) by {doc['ts_column']!r}, "
            "against every configured baseline"
        )
    out.append("")
    out.append(
        f"{'feature':20s} {'verdict':12s} {'severity':8s} {'effect':40s} {'P(drift)':>8s}  "
        f"{'magnitude [95% interval]':32s} reason"
    )
    for f in doc["features"]:
        w = f["worst"] or {}
        verdict = f["verdict"].upper() if f["verdict"] == "drift" else f["verdict"]
        if doc["mode"] != "all" and f["windows_judged"]:
            verdict += f" {f['windows_drifted']}/{f['windows_judged']}"
        severity = f["severity"] if f["verdict"] == "drift" else "-"
        pd = w.get("p_drift")
        p_text = "–" if pd is None else f"{pd:.2f}"
        out.append(
            f"{f['name'][:20]:20s} {verdict:12s} {severity:8s} "
            f"{str(w.get('effect_text', '–'))[:40]:40s} {p_text:>8s}  "
            f"{str(w.get('interval_text', '–'))[:32]:32s} {w.get('reason', '')}"
        )
    for name, why in doc["skipped_columns"].items():
        out.append(f"{name[:20]:20s} {'skipped':12s} {why}")
    out.append("")
    for note in doc["notes"]:
        out.append(f"note: {note}")
    drifted = doc["drifted_features"]
    if drifted:
        out.append(
            f"drift in {len(drifted)} of {len(doc['features'])} features: {', '.join(drifted)}"
            + (
                f" → exit 1 (--fail-on {doc['fail_on']})"
                if doc["failing_features"]
                else f" → exit 0 (none at --fail-on {doc['fail_on']})"
            )
        )
    else:
        out.append(f"no drift in {len(doc['features'])} features → exit 0")
    return out


def _reasons(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{r} {n:,}" for r, n in sorted(counts.items(), key=lambda kv: -kv[1]))
