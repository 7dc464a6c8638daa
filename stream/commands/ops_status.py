"""What ``status`` and ``alerts tail`` print: one report dict, its text form, alert lines."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click

from stream.errors import DriftstreamError
from stream.settings import Settings

__all__ = ["alert_line", "gather", "render", "when"]

MAX_FEATURES_SHOWN = 4
LATE_HOURS_SHOWN = 6
UNKNOWN_SHOWN = 10
COVERAGE_DAYS = 3


def when(ms: int | None) -> str:
    """Compact UTC time for tables: ``2026-01-05T13:00Z`` (seconds when not whole minutes).

    >>> when(1_767_618_000_000), when(1_767_618_005_250), when(None)
    ('2026-01-05T13:00Z', '2026-01-05T13:00:05.250Z', '-')
    """
    from stream.core.window import format_iso_ms

    if ms is None:
        return "-"
    text = format_iso_ms(ms)
    return text[:16] + "Z" if text.endswith(":00.000Z") else text


def gather(
    settings: Settings, models: Sequence[str], namespace: str
) -> tuple[dict[str, Any], DriftstreamError | None]:
    """The status report (JSON-able) and the first backend problem, if any.

    Redis is required (its error is raised); a Kafka problem is reported in the
    ``kafka.error`` field and returned, so the Redis part is still shown.
    """
    from stream import wiring  # Kafka, Redis and scipy: kept out of --help
    from stream.adapters.kafka_ops import KafkaUnavailableError, group_lag
    from stream.adapters.redis_status import read_states

    topic, group = settings.topics.features, settings.consumer.group_id
    problem: DriftstreamError | None = None
    kafka: dict[str, Any] = {"topic": topic, "group": group, "error": None}
    end: dict[int, int] = {}
    try:
        lag = group_lag(wiring.kafka_sync(settings), topic, group)
        end = dict(lag.end)
        kafka["partitions"] = {
            str(p): {"end": lag.end[p], "committed": lag.committed.get(p), "lag": lag.lag(p)}
            for p in sorted(lag.end)
        }
        kafka["total_lag"] = lag.total
    except KafkaUnavailableError as exc:
        kafka["error"] = str(exc)
        problem = exc
    states = read_states(settings.redis, namespace, models)
    out: list[dict[str, Any]] = []
    for st in states:
        out.append(
            {
                "model": st.model,
                "partitions": [
                    {
                        "partition": p.partition,
                        "offset": p.offset,
                        "behind": None
                        if p.offset is None or p.partition not in end
                        else max(0, end[p.partition] - p.offset),
                        "watermark_ms": p.watermark_ms,
                        "sealed_through_ms": p.sealed_through_ms,
                        "idle": p.idle,
                        "open_hours": list(p.open_hours),
                        "late": {str(h): n for h, n in p.late.items()},
                        "undeclared_overflow": p.undeclared_overflow,
                        "rejected": dict(p.rejected),
                        "unknown_models": dict(p.unknown_models),
                    }
                    for p in st.partitions
                ],
                "late_by_hour": _late_by_hour(st.partitions),
                "complete_through_ms": st.complete_through_ms,
                "last_sealed_hour_ms": st.last_sealed_hour_ms,
                "rollup": {
                    "last_hour_ms": st.last_hour_ms,
                    "last_day_ms": st.last_day_ms,
                    "pending_hours": st.pending_hours,
                    "pending_days": st.pending_days,
                },
                "evaluated": dict(st.last_evaluated),
                "references": list(st.references),
                "alerts": {
                    "open": [
                        {
                            "scale": a.scale,
                            "baseline": a.baseline,
                            "dedup_key": a.open.dedup_key,
                            "severity": a.open.severity,
                            "first_seen_ms": a.open.first_seen_ms,
                            "features": list(a.open.members),
                            "clean_windows": a.open.clean,
                        }
                        for a in st.open_alerts
                        if a.open is not None
                    ],
                    "unpublished": st.unpublished_alerts,
                },
            }
        )
    if states:
        failed = _failed_windows(settings, namespace)
        for st, m in zip(states, out, strict=True):
            m["failed_windows"] = failed(st.model)
    for st, m in zip(states, out, strict=True):
        spec = settings.models.get(st.model)
        if spec is not None and spec.labels is not None:
            m["labels"] = _labels(settings, namespace, st.model, st.last_day_ms)
    report = {"namespace": namespace, "kafka": kafka, "models": out}
    return report | {"unknown_models": _unknown_models(out)}, problem


def _failed_windows(settings: Settings, namespace: str) -> Any:
    """``model → {window: last error}``: windows given up on after ``evaluate.max_attempts``."""
    from stream import wiring

    windows = wiring.window_store(settings, wiring.connect_redis(settings), namespace)

    def failed(model: str) -> dict[str, str]:
        found = windows.failed_windows(model)
        return {str(k): found[k] for k in sorted(found, key=lambda k: (k.start_ms, k.scale))}

    return failed


def _labels(
    settings: Settings, namespace: str, model: str, last_day_ms: int | None
) -> dict[str, Any]:
    """Label counters, delay percentiles and the coverage of the last day windows."""
    from stream import wiring
    from stream.core.window import DAY, DAY_MS, WindowKey
    from stream.pipeline.labels import DELAY_PREFIX, delay_percentiles

    client = wiring.connect_redis(settings)
    store = wiring.label_store(client, namespace)
    windows = wiring.window_store(settings, client, namespace)
    counters, newest = store.counters(model)
    pct = delay_percentiles(counters)
    coverage = []
    rules = settings.models.model(model).labels
    if last_day_ms is not None:
        for start in range(last_day_ms - (COVERAGE_DAYS - 1) * DAY_MS, last_day_ms + 1, DAY_MS):
            w = windows.window(model, WindowKey(DAY, start))
            extra: dict[str, Any] = {}
            if rules is not None and rules.multiclass:  # multiclass: its realized figures too
                mc = store.multiclass_window(model, start, start + DAY_MS, len(rules.classes))
                n = mc.n
                extra = {"accuracy": mc.accuracy, "macro_f1": mc.macro_f1()}
            elif rules is not None and rules.regression:  # regression: MAE and RMSE
                rg = store.regression_window(model, start, start + DAY_MS)
                n = rg.n
                extra = {"mae": rg.mae, "rmse": rg.rmse}
            else:
                n = store.window(model, start, start + DAY_MS).n
            preds = None if w is None else w.events
            coverage.append(
                {
                    "window_ms": start,
                    "predictions": preds,
                    "labels": n,
                    "coverage": None if not preds else round(n / preds, 4),
                }
                | extra
            )
    return {
        "applied": counters.get("applied", 0),
        "duplicate": counters.get("duplicate", 0),
        "label_too_late": counters.get("label_too_late", 0),
        "rejected": {
            k[len("rejected:") :]: v for k, v in counters.items() if k.startswith("rejected:")
        },
        "delay_hours": {f"p{round(q * 100)}": v for q, v in pct.items()},
        "delay_buckets": {k: v for k, v in counters.items() if k.startswith(DELAY_PREFIX)},
        "newest_record_ms": newest,
        "coverage": coverage,
        "deferred": _deferred(settings, client, namespace, model, windows),
    }


def _deferred(
    settings: Settings, client: Any, namespace: str, model: str, windows: Any
) -> dict[str, Any]:
    """Health windows waiting for the label consumer: how many, the oldest, and why."""
    from stream import wiring
    from stream.core.window import DAY_MS, floor_to
    from stream.pipeline.health_eval import waiting_for

    evaluator = wiring.health_evaluator(settings, client, namespace, windows)
    spec = settings.models.model(model)
    if evaluator is None:  # pragma: no cover - the model declares labels
        return {"windows": [], "waiting_for": None}
    store = evaluator.store
    queued = [k for scale in spec.alerts.windows for k in store.deferred(model, scale)]
    queued.sort(key=lambda k: (k.start_ms, k.scale))
    why = None
    if queued:
        why = waiting_for(store.label_progress(model), floor_to(queued[0].end_ms, DAY_MS))
    return {"windows": [str(k) for k in queued], "waiting_for": why}


def _labels_line(lab: dict[str, Any]) -> list[str]:
    """Label counts and delay percentiles; health windows waiting; coverage by day window."""
    d = lab["delay_hours"]

    def h(v: float | None) -> str:
        return "-" if v is None else ("> 720 h" if v == float("inf") else f"≤ {v:g} h")

    rej = sum(lab["rejected"].values())
    head = (
        f"  labels   {lab['applied']:,} applied, {lab['duplicate']:,} duplicate, "
        f"{lab['label_too_late']:,} too late, {rej:,} rejected; delay p50 {h(d['p50'])}, "
        f"p90 {h(d['p90'])}, p99 {h(d['p99'])}; newest label {when(lab['newest_record_ms'])}"
    )
    dq = lab["deferred"]["windows"]
    wait = (
        f"  health   {len(dq)} window(s) waiting for labels (oldest {dq[0]}): "
        f"{lab['deferred']['waiting_for'] or 'covered now, judged on the next label batch'}"
        if dq
        else "  health   no window waiting for the label consumer"
    )
    cov = lab["coverage"]
    if not cov:
        return [head, wait, "  coverage no day window rolled up yet"]
    each = ", ".join(
        f"{when(c['window_ms'])[:10]} "
        + ("-" if c["coverage"] is None else f"{100 * c['coverage']:.0f} %")
        + f" ({c['labels']:,}/{c['predictions'] or 0:,})"
        + (
            f" accuracy {_fig(c['accuracy'])} macro-F1 {_fig(c['macro_f1'])}"
            if "macro_f1" in c
            else f" MAE {_num(c['mae'])} RMSE {_num(c['rmse'])}"
            if "rmse" in c
            else ""
        )
        for c in cov
    )
    return [head, wait, f"  coverage labels/predictions by day window: {each}"]


def _fig(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"


def _num(v: float | None) -> str:
    return "-" if v is None else f"{v:.4g}"


def _unknown_models(models: Sequence[dict[str, Any]]) -> dict[str, int]:
    """Events naming no configured model, by name, over every partition read."""
    total: dict[str, int] = {}
    for m in models:
        for p in m["partitions"]:
            for name, n in p["unknown_models"].items():
                total[name] = total.get(name, 0) + n
    return dict(sorted(total.items(), key=lambda kv: (-kv[1], kv[0])))


def _unknown_line(unknown: dict[str, int]) -> list[str]:
    """One line: events naming a model not configured, by name (largest first)."""
    from stream.pipeline.ingest import UNKNOWN_OTHER

    if not unknown:
        return ["unknown  0 events name a model not configured here"]
    names = list(unknown.items())
    each = ", ".join(
        f"{'other names' if n == UNKNOWN_OTHER else repr(n)} {c:,}"
        for n, c in names[:UNKNOWN_SHOWN]
    )
    more = f", +{len(names) - UNKNOWN_SHOWN} more" if len(names) > UNKNOWN_SHOWN else ""
    return [
        f"unknown  {sum(unknown.values()):,} event(s) name a model not configured here "
        f"(counted, not dead-lettered; models.<name> to monitor it): {each}{more}"
    ]


def _late_by_hour(parts: Sequence[Any]) -> dict[str, int]:
    """Late events per hour summed over partitions (hour start ms as text → count)."""
    out: dict[int, int] = {}
    for p in parts:
        for h, n in p.late.items():
            out[h] = out.get(h, 0) + n
    return {str(h): out[h] for h in sorted(out)}


def _late_line(m: dict[str, Any]) -> str:
    late = {int(h): n for h, n in m["late_by_hour"].items()}
    over = sum(p["undeclared_overflow"] for p in m["partitions"])
    if not late:
        text = "  late     0 events (late events are counted per hour, never merged later)"
    else:
        recent = sorted(late)[-LATE_HOURS_SHOWN:]
        each = ", ".join(f"{when(h)[:13]}Z {late[h]:,}" for h in reversed(recent))
        more = " …" if len(late) > LATE_HOURS_SHOWN else ""
        text = (
            f"  late     {sum(late.values()):,} event(s) for sealed hours, not in any "
            f"sketch ({each}{more})"
        )
    rejected: dict[str, int] = {}
    for p in m["partitions"]:
        for reason, n in p["rejected"].items():
            rejected[reason] = rejected.get(reason, 0) + n
    if rejected:
        each = ", ".join(f"{r} {n:,}" for r, n in sorted(rejected.items()))
        text += (
            f"\n  rejected {sum(rejected.values()):,} record(s) dead-lettered on these "
            f"partitions ({each})"
        )
    if over:
        text += (
            f"\n  undeclared {over:,} key occurrence(s) beyond ingest.max_undeclared_keys "
            "in open hours (counted, not named)"
        )
    return text


def render(report: dict[str, Any]) -> list[str]:
    """Text lines of a :func:`gather` report."""
    k = report["kafka"]
    lines = [f"namespace {report['namespace']} · topic {k['topic']} · consumer group {k['group']}"]
    if k["error"]:
        lines.append(f"lag      unavailable ({k['error']})")
    else:
        parts = k["partitions"]
        each = ", ".join(f"p{p} {v['lag']:,}" for p, v in list(parts.items())[:12])
        more = " …" if len(parts) > 12 else ""
        lines.append(
            f"lag      {k['total_lag']:,} records over {len(parts)} partition(s) ({each}{more})"
        )
    lines += _unknown_line(report.get("unknown_models") or {})
    for m in report["models"]:
        lines += ["", f"model {m['model']}", *_partition_table(m["partitions"])]
        through = m["complete_through_ms"]
        lines.append(
            f"  sealed   last hour {when(m['last_sealed_hour_ms'])}"
            + ("" if through is None else f" (complete through {when(through)})")
        )
        lines += _late_line(m).split("\n")
        r = m["rollup"]
        lines.append(
            f"  rollup   last hour window {when(r['last_hour_ms'])}, last day window "
            f"{when(r['last_day_ms'])}; waiting: {r['pending_hours']} hour(s), "
            f"{r['pending_days']} day(s)"
        )
        ev = m["evaluated"]
        lines.append(f"  evaluated hour {when(ev.get('hour'))}, day {when(ev.get('day'))}")
        failed = m.get("failed_windows") or {}
        if failed:
            first, error = next(iter(failed.items()))
            lines.append(
                f"  failed   {len(failed)} window(s) not evaluated after evaluate.max_attempts "
                f"failed attempts, skipped (first {first}: {error})"
            )
        lines.append(f"  references {', '.join(m['references']) or 'none stored'}")
        if "labels" in m:
            lines += _labels_line(m["labels"])
        a = m["alerts"]
        head = f"  alerts   {len(a['open'])} open"
        if a["unpublished"]:
            head += f", {a['unpublished']} event(s) not yet published"
        lines.append(head)
        for o in a["open"]:
            lines.append(
                f"    {o['scale']}/{o['baseline']} {o['severity']} since "
                f"{when(o['first_seen_ms'])}: {', '.join(o['features']) or '-'}  {o['dedup_key']}"
            )
    return lines


def _partition_table(parts: list[dict[str, Any]]) -> list[str]:
    if not parts:
        return ["  no ingest state yet (no worker has claimed a partition of this model)"]
    rows = [("part", "offset", "behind", "watermark", "sealed through", "state")]
    for p in parts:
        state = "idle" if p["idle"] else "active"
        if p["open_hours"]:
            state += ", open " + " ".join(when(h)[11:] for h in p["open_hours"][:3])
        rows.append(
            (
                str(p["partition"]),
                "-" if p["offset"] is None else f"{p['offset']:,}",
                "-" if p["behind"] is None else f"{p['behind']:,}",
                when(p["watermark_ms"]),
                when(p["sealed_through_ms"]),
                state,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    return [
        "  "
        + "  ".join(
            c.rjust(widths[i]) if i < 3 else c.ljust(widths[i]) for i, c in enumerate(r[:5])
        )
        + "  "
        + r[5]
        for r in rows
    ]


def alert_line(raw: bytes, where: str) -> str:
    """One line for an alerts-topic value; unparsable values say where they are.

    The window start (a trailing day's end), status, severity, model, scale/baseline,
    what moved in the top features in the alert's own words
    (``income mean 55,576 → 76,379 (+0.70 sd)``, as in its summary;
    :func:`stream.core.alert_text.change`), and the dedup key.
    """
    from stream.core.alert import Alert
    from stream.core.alert_text import change

    try:
        a = Alert.from_json(raw)
    except (ValueError, KeyError, TypeError) as exc:
        return f"? {where}: not an alert ({type(exc).__name__}): {raw[:120]!r}"
    feats = [
        f"{f.name} {change(f) or f'{f.effect_metric}={f.effect:.3g}'}"
        for f in a.features[:MAX_FEATURES_SHOWN]
    ]
    if len(a.features) > MAX_FEATURES_SHOWN:
        feats.append(f"+{len(a.features) - MAX_FEATURES_SHOWN} more")
    status = click.style(
        f"{a.status.upper():9}", fg="red" if a.status == "triggered" else "green", bold=True
    )
    # A trailing day is listed at the hour that closed it (when it paged), not 24 h earlier.
    at = a.window.end_ms if a.window.scale == "trailing_day" else a.window.start_ms
    return (
        f"{when(at)} {status} {a.severity:8} {a.model} "
        f"{a.window.scale}/{a.baseline}: {'; '.join(feats) or '-'}  {a.dedup_key}"
    )
