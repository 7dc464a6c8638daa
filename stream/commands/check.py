"""``driftstream check``: the live drift decisions on two files, with no servers.

Wiring only: files are read by :mod:`stream.adapters.tables`, folded and judged by
:mod:`stream.pipeline.offline` (the live sketches, rollup, calibration and evaluator),
reported by :mod:`.check_output` and, with ``--html``, by the dashboard's report.
Exit codes: 0 no drift, 1 drift (at ``--fail-on``), 2 error or nothing to judge.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import click

from stream.catalog import ModelSpec
from stream.commands.options import number
from stream.commands.run import model_of, settings_from
from stream.core.window import DAY_MS, HOUR_MS, format_iso_ms
from stream.errors import DriftstreamError
from stream.settings import AlertsSettings

if TYPE_CHECKING:
    from stream.adapters.tables import Table
    from stream.pipeline.offline import CheckRun, Folded, Mode
    from stream.pipeline.tabular import Chunk

__all__ = ["check"]

F = TypeVar("F", bound=Callable[..., Any])

EXIT_ERROR = 2
INFERRED_MODEL = "check"


class CheckError(DriftstreamError):
    """Nothing to judge: an empty file, every row rejected, no window large enough."""


def _table(flag: str, dest: str, what: str) -> Callable[[F], F]:
    """A table path option (``--reference``, ``--current``); or the positional files."""
    return click.option(
        flag,
        dest,
        type=click.Path(dir_okay=False, path_type=Path),
        help=f"{what}: .csv, .jsonl or .parquet (or the first/second FILES).",
    )


def _tables(
    files: tuple[Path, ...], ref_path: Path | None, cur_path: Path | None
) -> tuple[Path, Path]:
    """The reference and current paths: ``check REF CUR``, the flags, or one of each."""
    rest = list(files)
    if ref_path is None and rest:
        ref_path = rest.pop(0)
    if cur_path is None and rest:
        cur_path = rest.pop(0)
    if rest:
        msg = f"one file too many: {' '.join(map(str, rest))} (check takes REFERENCE CURRENT)"
        raise click.UsageError(msg)
    if ref_path is None or cur_path is None:
        missing = "REFERENCE and CURRENT" if ref_path is None else "CURRENT"
        msg = f"missing {missing}: driftstream check REFERENCE CURRENT (e.g. train.csv batch.csv)"
        raise click.UsageError(msg)
    return ref_path, cur_path


def _columns(flag: str, help_: str) -> Callable[[F], F]:
    """A repeatable column-name option (``--numeric``, ``--categorical``, ``--ignore``)."""
    return click.option(flag, flag.lstrip("-"), multiple=True, metavar="COLUMN", help=help_)


@click.command()
@click.argument(
    "files",
    nargs=-1,
    metavar="[REFERENCE CURRENT]",
    type=click.Path(dir_okay=False, path_type=Path),
)
@_table("--reference", "ref_path", "Reference table (training data)")
@_table("--current", "cur_path", "Current table (the batch to judge)")
@click.option(
    "--model", "model_name", metavar="NAME", help="Use this configured model's features and rules."
)
@click.option(
    "--infer", is_flag=True, help="Infer column kinds even when a config declares models."
)
@click.option(
    "--ts",
    "ts_column",
    metavar="COLUMN",
    help="Event-time column (epoch ms or ISO-8601 with offset); default 'ts' when present.",
)
@click.option(
    "--window",
    "window",
    type=click.Choice(["hour", "day", "all"]),
    help="Judge hour windows, day windows, or the whole current set as one "
    "(default: hours and days with a time column, else all).",
)
@_columns("--numeric", "Treat COLUMN as numeric (repeatable).")
@_columns("--categorical", "Treat COLUMN as categorical (repeatable).")
@_columns("--ignore", "Leave COLUMN out (repeatable), e.g. ids.")
@number(
    "--min-rows",
    click.IntRange(1),
    "Windows with fewer rows are not judged (default: alerts.min_window_events, 100).",
)
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the self-contained HTML report (as `driftstream report`).",
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the result as JSON (stream/core/schemas/check.schema.json).",
)
@click.option(
    "--fail-on",
    type=click.Choice(["warning", "critical"]),
    default="warning",
    show_default=True,
    help="Lowest drift severity that exits 1.",
)
@click.option("--chunk-rows", type=click.IntRange(1), default=50_000, hidden=True)
@click.pass_context
def check(ctx: click.Context, /, **opts: Any) -> None:
    """Judge drift between two files with the live decisions: no Kafka, no Redis.

    Exit code 0: no drift; 1: drift at --fail-on severity or above; 2: error or
    nothing to judge.

    \b
    Examples:
      driftstream check train.csv batch.csv
      driftstream check --reference train.parquet --current today.parquet
          --ts event_time --html report.html --json result.json --fail-on critical
    """  # noqa: D301 - click needs a real \b (backspace) to keep the examples' lines
    opts["ref_path"], opts["cur_path"] = _tables(
        opts.pop("files"), opts["ref_path"], opts["cur_path"]
    )
    try:
        code = _run(ctx, **opts)
    except DriftstreamError as exc:
        if ctx.find_root().obj.get("debug"):
            traceback.print_exc()
        click.echo(f"driftstream: error: {exc}", err=True)
        ctx.exit(EXIT_ERROR)
    ctx.exit(code)


def _run(
    ctx: click.Context,
    *,
    ref_path: Path,
    cur_path: Path,
    model_name: str | None,
    infer: bool,
    ts_column: str | None,
    window: str | None,
    numeric: tuple[str, ...],
    categorical: tuple[str, ...],
    ignore: tuple[str, ...],
    min_rows: int | None,
    html_path: Path | None,
    json_path: Path | None,
    fail_on: str,
    chunk_rows: int,
) -> int:
    from stream.adapters.tables import open_table
    from stream.commands.check_output import check_document, summary_lines
    from stream.core.alert import build_alert
    from stream.core.lifecycle import AlertEvent
    from stream.pipeline.offline import calibrate, evaluate, fold

    both = set(numeric) & set(categorical)
    if both:
        msg = f"--numeric and --categorical both name {sorted(both)[0]!r}"
        raise click.UsageError(msg)
    ref_t, cur_t = open_table(ref_path), open_table(cur_path)
    notes: list[str] = []
    # Options may name columns as the file does; chunks use valid feature names.
    numeric = tuple(ref_t.name_of(c) for c in numeric)
    categorical = tuple(ref_t.name_of(c) for c in categorical)
    ignore = tuple(ref_t.name_of(c) for c in ignore)
    renamed = dict.fromkeys([*ref_t.changes, *cur_t.changes])
    if renamed:
        shown = ", ".join(f"{a!r} → {b!r}" for a, b in list(renamed)[:5])
        notes.append(f"columns renamed to valid feature names: {shown}")
    if ts_column is not None:
        ts_column = cur_t.name_of(ts_column)
    if ts_column is None and "ts" in cur_t.columns:
        ts_column = "ts"  # a time column is never a feature
        if window != "all":
            notes.append(
                "time column 'ts' used (--ts COLUMN to choose one; --window all: one window)"
            )
    if ts_column is not None and ts_column not in cur_t.columns:
        msg = f"--ts: no column {ts_column!r} in {cur_path} (columns: {', '.join(cur_t.columns)})"
        raise CheckError(msg)
    if window in ("hour", "day") and ts_column is None:
        msg = "--window hour/day needs a time column: give --ts COLUMN"
        raise click.UsageError(msg)
    mode = cast("Mode", window or ("both" if ts_column is not None else "all"))
    spec, columns, skipped, source = _model(
        ctx, model_name, infer, ref_t, cur_t, ts_column, numeric, categorical, ignore, chunk_rows
    )
    if min_rows is not None:
        spec = spec.model_copy(
            update={"alerts": spec.alerts.model_copy(update={"min_window_events": min_rows})}
        )
    monitored = {str(c["name"]) for c in columns} | {ts_column} | set(ignore) | set(skipped)
    extra = [c for c in cur_t.columns if c not in monitored]
    if extra and cur_t.source != "jsonl":  # JSONL columns are only known once read
        notes.append(
            f"columns of {cur_path} not checked (not in the reference or the model): "
            + ", ".join(repr(c) for c in extra[:10])
            + (f" and {len(extra) - 10} more" if len(extra) > 10 else "")
        )
    for col in columns:
        if col["name"] not in cur_t.columns:
            notes.append(
                f"column {col['name']!r} is not in {cur_path}: all its values count as null"
            )
    ref_ts = ts_column if ts_column in ref_t.columns else None
    if ts_column is not None and ref_ts is None:
        notes.append(
            f"the reference has no {ts_column!r} column: it is one window (calibration from "
            "resampling only)"
        )
    started = time.monotonic()
    reference = fold(
        spec, _progress(ref_t.chunks(chunk_rows, spec.name), ref_path), ts_column=ref_ts,
        name="reference",
    )  # fmt: skip
    _nothing(reference, ref_path)
    # One window: the current set's times do not matter, and one sketch per column
    # (instead of one per column and hour) keeps memory flat however long it spans.
    current = fold(
        spec, _progress(cur_t.chunks(chunk_rows, spec.name), cur_path),
        ts_column=ts_column if mode != "all" else None, name="current",
    )  # fmt: skip
    _nothing(current, cur_path)
    read_s = time.monotonic() - started
    for t, path in ((ref_t, ref_path), (cur_t, cur_path)):
        if t.skipped_models:
            other = ", ".join(f"{m} {n:,}" for m, n in sorted(t.skipped_models.items()))
            notes.append(f"{path}: events of other models skipped ({other})")
    notes.extend(_time_notes(current, ts_column if mode != "all" else None))
    live_n = {"day": current.accepted} if mode == "all" else None
    calibration = calibrate(spec, reference.ref, mode, live_n=live_n)
    cal_s = time.monotonic() - started - read_s

    base = _dashboard_base(ctx)

    def encode(event: AlertEvent) -> bytes:
        return build_alert(
            event, dashboard_base=base, runbook_url=spec.alerts.runbook_url
        ).to_json()

    run = evaluate(spec, reference.ref, calibration, current, mode, encode)
    judge_s = time.monotonic() - started - read_s - cal_s
    notes.extend(_unjudged_days(run, current, mode))
    notes.extend(_thin_windows(run, current, mode))
    rows = reference.rows + current.rows
    notes.append(
        f"read and sketched {rows:,} rows in {read_s:.1f} s ({rows / max(read_s, 1e-9):,.0f} "
        f"rows/s); calibration {cal_s:.1f} s; decisions {judge_s:.1f} s"
    )
    tables = {
        "reference": {"path": str(ref_path), "format": ref_t.source},
        "current": {"path": str(cur_path), "format": cur_t.source},
    }
    doc = check_document(
        run,
        reference=reference,
        current=current,
        tables=tables,
        columns=columns,
        skipped=skipped,
        mode=mode,
        ts_column=ts_column,
        fail_on=fail_on,
        notes=notes,
    )
    click.echo(f"driftstream check: model {spec.name!r} ({source})")
    for line in summary_lines(doc):
        click.echo(line)
    judged = [f for f in doc["features"] if f["verdict"] != "not judged"]
    if not judged:
        n = max((w["events"] for w in doc["windows"]), default=0)
        msg = (
            f"nothing judged: the largest window has {n:,} rows, fewer than "
            f"{spec.alerts.min_window_events} (--min-rows to lower it)"
            if doc["windows"]
            else "nothing judged: no window with rows"
        )
        raise CheckError(msg)
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        click.echo(f"wrote {json_path}")
    if html_path is not None:
        _html(run, doc, html_path, mode)
    return int(doc["exit_code"])


def _progress(chunks: Iterator[Chunk], path: Path) -> Iterator[Chunk]:
    """Rows read so far on a terminal's stderr, every few seconds (big files)."""
    tty = sys.stderr.isatty()
    last = time.monotonic()
    rows = 0
    for chunk in chunks:
        rows += chunk.n
        if tty and time.monotonic() - last > 3.0:
            last = time.monotonic()
            click.echo(f"\rreading {path}: {rows:,} rows", err=True, nl=False)
        yield chunk
    if tty and rows:
        click.echo("\r" + " " * 60 + "\r", err=True, nl=False)


def _time_notes(current: Folded, ts_column: str | None) -> list[str]:
    if ts_column is None or not current.hour_events:
        return []
    first, last = min(current.hour_events), max(current.hour_events)
    out = [f"current data spans {format_iso_ms(first)[:13]}h to {format_iso_ms(last)[:13]}h UTC"]
    if 0 <= first and last < 10**11:  # before 1973 in ms: likely epoch seconds
        out.append(
            f"{ts_column!r} looks like epoch seconds: times are read as epoch milliseconds "
            "or ISO-8601 with an offset"
        )
    return out


def _unjudged_days(run: CheckRun, current: Folded, mode: str) -> list[str]:
    """Days with data that were not judged as a day: the data ends before the day does."""
    if mode not in ("both", "day") or "day" not in run.spec.alerts.windows:
        return []
    judged = {w.key.start_ms for w in run.windows if w.key.scale == "day"}
    days = sorted({h - h % DAY_MS for h in current.hour_events} - judged)
    return [
        f"day {format_iso_ms(d)[:10]}: not judged as a day, the data ends before the day does "
        "(as live and replay; its hours are judged)"
        if mode == "both"
        else f"day {format_iso_ms(d)[:10]}: not judged, the data ends before the day does"
        for d in days
    ]


def _thin_windows(run: CheckRun, current: Folded, mode: str) -> list[str]:
    """Hours with no rows inside the current span, and windows too small to judge."""
    out = []
    if mode != "all" and current.hour_events:
        first, last = min(current.hour_events), max(current.hour_events)
        empty = [h for h in range(first, last, HOUR_MS) if h not in current.hour_events]
        if empty:
            shown = ", ".join(format_iso_ms(h)[:13] for h in empty[:3])
            more = f" and {len(empty) - 3} more" if len(empty) > 3 else ""
            out.append(f"{len(empty)} hour(s) with no rows, so no window: {shown}{more}")
    small = [
        w
        for w, v in zip(run.windows, run.verdicts, strict=True)
        if w.events < run.spec.alerts.min_window_events
        or not any(ds for ds in v.decisions.values())
    ]
    if small:
        shown = ", ".join(str(w.key) if mode != "all" else "all" for w in small[:3])
        out.append(
            f"{len(small)} window(s) not judged, fewer than "
            f"{run.spec.alerts.min_window_events} rows (--min-rows): {shown}"
            + (f" and {len(small) - 3} more" if len(small) > 3 else "")
        )
    return out


def _nothing(folded: Folded, path: Path) -> None:
    if folded.rows == 0:
        msg = f"{path}: no data rows"
        raise CheckError(msg)
    if folded.accepted == 0:
        msg = f"{path}: all {folded.rows:,} rows rejected: {folded.rejects.line()}"
        raise CheckError(msg)


def _dashboard_base(ctx: click.Context) -> str:
    """Alerts' dashboard links: the config's ``alerts.dashboard_base_url``, or its default.

    The offline check serves no dashboard, but its alerts are the live ones (same schema, same
    ids), so their links point where the deployment's dashboard would be.
    """
    if ctx.find_root().obj.get("config") is None:
        return AlertsSettings().dashboard_base_url
    return settings_from(ctx).alerts.dashboard_base_url


def _model(
    ctx: click.Context,
    model_name: str | None,
    infer: bool,
    ref_t: Table,
    cur_t: Table,
    ts_column: str | None,
    numeric: tuple[str, ...],
    categorical: tuple[str, ...],
    ignore: tuple[str, ...],
    chunk_rows: int,
) -> tuple[ModelSpec, list[dict[str, Any]], dict[str, str], str]:
    """The model spec: the configured one, or one inferred from the reference's first rows."""
    from stream.pipeline.tabular import infer_kinds

    if model_name is not None and infer:
        msg = "give --model or --infer, not both"
        raise click.UsageError(msg)
    configured = not infer and (
        model_name is not None or ctx.find_root().obj.get("config") is not None
    )
    if configured:
        settings = settings_from(ctx)
        if model_name is None and len(settings.models) != 1:
            names = ", ".join(settings.models.names) or "none"
            msg = (
                f"--model: the config declares {len(settings.models)} models ({names}); "
                "name one, or --infer"
            )
            raise click.UsageError(msg)
        spec = model_of(settings, model_name)
        cols = [{"name": f.name, "kind": f.kind, "from": "config"} for f in spec.monitored]
        return spec, cols, {}, f"from the config: {len(cols)} columns"
    sample = next(iter(ref_t.chunks(min(chunk_rows, 10_000), None)), None)
    if sample is None:
        msg = f"{ref_t.path}: no data rows"
        raise CheckError(msg)
    exclude = [*ignore, *([ts_column] if ts_column else [])]
    inferred = infer_kinds(sample, exclude=exclude, numeric=numeric, categorical=categorical)
    unknown = sorted((set(numeric) | set(categorical) | set(ignore)) - set(ref_t.columns))
    if unknown:
        msg = f"--numeric/--categorical/--ignore: no column {unknown[0]!r} in {ref_t.path}"
        raise click.UsageError(msg)
    if not inferred.kinds:
        msg = f"{ref_t.path}: no column to check ({len(ref_t.columns)} columns, all left out)"
        raise CheckError(msg)
    spec = ModelSpec.model_validate(
        {
            "name": INFERRED_MODEL,
            "features": dict(inferred.kinds),
            "reference": {"source": "file", "path": str(ref_t.path)},
        }
    )
    cols = [
        {
            "name": n,
            "kind": k,
            "from": "option" if n in numeric or n in categorical else "inferred",
        }
        for n, k in inferred.kinds.items()
    ]
    n_num = sum(1 for c in cols if c["kind"] == "numeric")
    how = f"inferred from {ref_t.path}: {n_num} numeric, {len(cols) - n_num} categorical"
    return spec, cols, dict(inferred.skipped), how


def _html(run: CheckRun, doc: dict[str, Any], path: Path, mode: str) -> None:
    from stream.web.offline import OfflineData
    from stream.web.report import report_html

    # The window the report centres on: the whole set, else the window with most drift.
    ranked = sorted(
        run.windows,
        key=lambda w: (
            sum(d["breach"] for ds in run.store.decisions.get(w.key, {}).values() for d in ds),
            w.key.scale == "day",
            w.key.start_ms,
        ),
    )
    focus = ranked[-1].key
    meta = {
        "name": str(doc["reference"]["path"]),
        "events": doc["reference"]["accepted"],
    }
    label = f"check: {doc['current']['path']}" + (" (whole set)" if mode == "all" else "")
    data = OfflineData(run, label, meta)
    html = report_html(data.report(run.spec.name, focus), generated_ms=time.time_ns() // 1_000_000)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    click.echo(f"wrote {path} ({len(html.encode()):,} bytes, window {focus})")
