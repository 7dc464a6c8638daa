"""Trailing days: built from stored hours (any cache state, same bytes), judged every hour."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from stream.core.alert import TRAILING_SCHEMA_VERSION, alert_schema, build_alert
from stream.core.calibrate import model_alpha
from stream.core.sketch.params import SketchParams
from stream.core.trailing import TRAILING_MIN_HOURS, excursion_rate, trailing_alpha
from stream.core.window import DAY_MS, HOUR, HOUR_MS, TRAILING_DAY, WindowKey
from stream.pipeline.memory import MemoryWindowStore
from stream.pipeline.ports import StoredWindow
from stream.pipeline.trailing import TrailingBuilder
from stream.synth import Drift
from tests.unit.pipeline.evalsim import START, Scenario, run_scenario, wide_spec

PARAMS = SketchParams()
KINDS = {"x": "numeric", "c": "categorical"}


def _hours(present: list[bool], seed: int = 0) -> MemoryWindowStore:
    store = MemoryWindowStore()
    rng = np.random.default_rng(seed)
    for i, here in enumerate(present):
        if not here:
            continue
        n = int(rng.integers(1, 40))
        x = PARAMS.zero("numeric").update(rng.normal(size=n), nulls=int(rng.integers(0, 3)))  # type: ignore[call-arg]
        c = PARAMS.zero("categorical").update([f"v{k}" for k in rng.integers(0, 5, size=n)])  # type: ignore[arg-type]
        w = StoredWindow(
            WindowKey(HOUR, START + i * HOUR_MS), n, i % 3, {"x": x.to_bytes(), "c": c.to_bytes()}
        )
        store.create_window("m", w)
    return store


def _direct(store: MemoryWindowStore, end_ms: int) -> tuple[int, int, dict[str, bytes]]:
    """The trailing day ending at ``end_ms`` as one left-to-right merge of its stored hours."""
    events = late = 0
    merged: dict[str, object] = {}
    for h in range(end_ms - DAY_MS, end_ms, HOUR_MS):
        w = store.window("m", WindowKey(HOUR, h))
        if w is None:
            continue
        events, late = events + w.events, late + w.late
        for name, blob in w.sketches.items():
            s = PARAMS.load(KINDS[name], blob)
            merged[name] = s if name not in merged else merged[name].merge(s)  # type: ignore[attr-defined]
    return events, late, {n: s.to_bytes() for n, s in sorted(merged.items())}  # type: ignore[attr-defined]


def _builder(store: MemoryWindowStore) -> TrailingBuilder:
    return TrailingBuilder(store.window, lambda _m, name, blob: PARAMS.load(KINDS[name], blob))


@settings(max_examples=25, deadline=None)
@given(
    present=st.lists(st.booleans(), min_size=72, max_size=72),
    begin=st.integers(0, 40),
    skip=st.sets(st.integers(0, 71), max_size=6),
)
def test_the_cached_two_stack_merge_equals_the_direct_merge_of_the_stored_hours(
    present: list[bool], begin: int, skip: set[int]
) -> None:
    # Whatever hour a builder starts at (a new process), and whichever hours it is not
    # asked about (hours without data are never evaluated), each trailing day is the same
    # bytes as merging its stored hours directly: replay = live.
    present[begin] = True
    store = _hours(present)
    warm = _builder(store)
    for i in range(begin, 72):
        closing = store.window("m", WindowKey(HOUR, START + i * HOUR_MS))
        if closing is None or i in skip:
            continue
        built = warm.build("m", closing)
        cold = _builder(store).build("m", closing)
        end = START + (i + 1) * HOUR_MS
        events, late, blobs = _direct(store, end)
        for got in (built, cold):
            window = got.stored()
            assert window.key == WindowKey(TRAILING_DAY, end - DAY_MS)
            assert (window.events, window.late, dict(window.sketches)) == (events, late, blobs)
            assert got.part.hours == sum(present[max(0, i - 23) : i + 1])


def test_a_warm_builder_merges_about_two_parts_an_hour() -> None:
    store = _hours([True] * 96)
    b = _builder(store)
    for i in range(24, 96):
        b.build("m", store.window("m", WindowKey(HOUR, START + i * HOUR_MS)))  # type: ignore[arg-type]
    # 72 hours: 2 merges each, plus three days' 23 suffix merges (direct: 23 a window).
    assert b.merges <= 72 * 2 + 3 * 23 < 72 * 23 / 3


@pytest.mark.parametrize("alpha_day", [1e-2, 1.8e-4, 1e-6])
def test_trailing_level_spends_the_days_budget_per_excursion(alpha_day: float) -> None:
    a = trailing_alpha(alpha_day)
    assert excursion_rate(a) * 24 == pytest.approx(alpha_day, rel=1e-6)
    # Stricter than one calendar day, looser than Bonferroni over 24 windows.
    assert alpha_day / 24 < a < alpha_day


def test_excursion_rate_of_independent_windows_is_a_breach_after_a_non_breach() -> None:
    assert excursion_rate(0.05, 0.0) == pytest.approx(0.05 * 0.95, rel=1e-8)
    # Nearly identical windows: almost every breach continues one already under way.
    assert excursion_rate(0.05, 0.999) < 0.05 * 0.1


SPEC = wide_spec("t", numeric=3, categorical=1, joint={"enabled": False})
ONSET = START + 7 * DAY_MS + 13 * HOUR_MS


@pytest.fixture(scope="module")
def drifted() -> tuple[Scenario, object]:
    sc = Scenario("t", (Drift("n1", "shift", 0.12, ONSET),), days=9, per_hour=1500, onset_ms=ONSET)
    return sc, run_scenario(SPEC, sc)


def test_a_day_scale_shift_pages_on_the_trailing_day_hours_after_onset(
    drifted: tuple[Scenario, object],
) -> None:
    _, run = drifted
    trig = [e for e in run.triggered() if e.window.scale == TRAILING_DAY]  # type: ignore[attr-defined]
    assert trig, "the 0.12-sd shift never paged on a trailing day"
    first = min(trig, key=lambda e: e.window.end_ms)
    assert all(e.window.end_ms > ONSET for e in trig)  # nothing before the onset
    # The window's effect is the shift times the share of its hours after the onset: 0.12 sd
    # reaches the 0.1-sd floor with 20 of 24 hours drifted; the calendar day holding the
    # onset has 11 of them, so days page only when the next one closes, 35 h after onset.
    assert ONSET < first.window.end_ms <= ONSET + 21 * HOUR_MS
    days = [e.window.end_ms for e in run.triggered() if e.window.scale == "day"]  # type: ignore[attr-defined]
    assert not days or min(days) >= ONSET + 35 * HOUR_MS
    assert first.decisions[0].feature == "n1" and first.baseline == "reference"
    # Every hour from the first one with enough hours was judged, after the onset too.
    judged = sorted(
        k.start_ms
        for (_, k, b) in run.store.committed
        if k.scale == TRAILING_DAY  # type: ignore[attr-defined]
    )
    assert judged[0] == START + (TRAILING_MIN_HOURS - 24) * HOUR_MS
    # The hours before that were said once, not skipped silently.
    said = [n for n in run.notes if "trailing day not judged" in n]  # type: ignore[attr-defined]
    assert len(said) == 1 and "fewer than 18 of its 24 hours" in said[0]
    assert judged == list(range(judged[0], judged[-1] + HOUR_MS, HOUR_MS))


def test_a_trailing_alert_validates_as_schema_v4_and_links_the_closing_hour(
    drifted: tuple[Scenario, object],
) -> None:
    _, run = drifted
    event = next(e for e in run.triggered() if e.window.scale == TRAILING_DAY)  # type: ignore[attr-defined]
    alert = build_alert(event, dashboard_base="https://dash.example")
    doc = json.loads(alert.to_json())
    Draft202012Validator(alert_schema()).validate(doc)
    assert doc["schema_version"] == TRAILING_SCHEMA_VERSION
    assert doc["window"]["scale"] == "trailing_day"
    assert doc["window"]["end_ms"] - doc["window"]["start_ms"] == DAY_MS
    closing = str(event.window.closing_hour())
    assert f"window={closing}" in doc["dashboard_url"]
    assert all(f"window={closing}" in f["dashboard_url"] for f in doc["features"])


def test_evaluating_an_hour_again_changes_no_trailing_state(
    drifted: tuple[Scenario, object],
) -> None:
    _, run = drifted
    store = run.store  # type: ignore[attr-defined]
    from stream.pipeline.evaluate import Evaluator

    last = max(k for (_, k) in store.windows.windows if k.scale == HOUR)
    before = store.alert_states("t", TRAILING_DAY, ("reference",))
    again = Evaluator(store, encode=lambda e: e.alert_id.encode()).evaluate(
        SPEC, store.windows.window("t", last)
    )
    assert again.trailing_key == WindowKey(TRAILING_DAY, last.end_ms - DAY_MS)
    assert [e for e in again.events if e.scale == TRAILING_DAY] == []
    assert store.alert_states("t", TRAILING_DAY, ("reference",)) == before


def test_the_trailing_day_is_off_with_its_setting_or_without_day_windows() -> None:
    for alerts in ({"trailing_day": False}, {"windows": ["hour"]}):
        spec = wide_spec("off", numeric=1, categorical=0, alerts=alerts, joint={"enabled": False})
        run = run_scenario(spec, Scenario("q", days=2, per_hour=200))
        assert not [k for (_, k, _) in run.store.committed if k.scale == TRAILING_DAY]


def test_trailing_alpha_at_the_detection_models_budget() -> None:
    # The figure docs/architecture.md quotes: 13 columns, three baselines.
    a = model_alpha(1.0, wide_spec().kinds, "day", n_streams=3)
    assert 9 < a / trailing_alpha(a) < 14


def test_forwarders_and_alerts_tail_read_a_trailing_alert(
    drifted: tuple[Scenario, object],
) -> None:
    from stream.commands.ops_status import alert_line, when
    from stream.core.alert import Alert, alertmanager_payload, pagerduty_event
    from stream.pipeline.forward import parse_alert

    _, run = drifted
    event = next(e for e in run.triggered() if e.window.scale == TRAILING_DAY)  # type: ignore[attr-defined]
    raw = build_alert(event, dashboard_base="https://dash.example").to_json()
    alert = parse_alert(raw)
    assert isinstance(alert, Alert) and alert.window.scale == TRAILING_DAY
    pd = pagerduty_event(alert, "R" * 32)
    assert pd["dedup_key"] == alert.dedup_key and "trailing_day" in pd["payload"]["class"]
    am = alertmanager_payload([alert], "r", "https://dash.example")
    assert am["alerts"][0]["labels"]["scale"] == "trailing_day"
    assert "window=hour:" in am["alerts"][0]["generatorURL"]
    line = alert_line(raw, "p0@1")
    assert "trailing_day/reference" in line and alert.dedup_key in line
    # Listed at the hour that closed the window (when it paged), not 24 h before.
    assert line.startswith(when(alert.window.end_ms) + " ")
