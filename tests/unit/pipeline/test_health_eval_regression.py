"""Regression model health over the in-memory stores: target mean shift, MAE and RMSE increase."""

from __future__ import annotations

from typing import Any

import numpy as np

from stream.catalog import ModelSpec
from stream.core.alert import Alert, build_alert
from stream.core.lifecycle import AlertEvent
from stream.core.regression import RegressionPerformance
from stream.core.window import DAY, DAY_MS, WindowKey
from stream.pipeline.health_eval import NO_REGRESSION_ESTIMATE, HealthEvaluator, HealthVerdict
from stream.pipeline.memory import MemoryHealthStore
from stream.pipeline.ports import LabelHourWrite, LabelWrite, StoredWindow
from stream.web.performance import performance_panel, performance_series

T0 = 1_767_225_600_000
N = 20_000
MU, SD, NOISE = 50.0, 10.0, 2.0
SPEC = ModelSpec.model_validate(
    {
        "name": "m",
        "features": {"x": "numeric"},
        "labels": {"kind": "regression", "max_label_delay_ms": 2 * DAY_MS},
        "alerts": {"windows": ["day"]},
    }
)
ARRIVAL = (0.23, 0.51, 0.26)  # labels 1–48 h late: share arriving on day 0, 1, 2


def _draw(rng: np.random.Generator, n: int, mu: float, noise: float) -> RegressionPerformance:
    y = rng.normal(mu, SD, n)
    out = RegressionPerformance()
    out.update(y, y + rng.normal(0.0, noise, n))
    return out


def _cells(start: int, rng: np.random.Generator, mu: float, noise: float) -> list[LabelHourWrite]:
    return [
        LabelHourWrite(
            start, _draw(rng, int(share * N), mu, noise).to_bytes(), (), start + day * DAY_MS
        )
        for day, share in enumerate(ARRIVAL)
    ]


def _encode(e: AlertEvent) -> bytes:
    return build_alert(e, dashboard_base="https://d.example.com").to_json()


def _run(
    mu: float = MU,
    noise: float = NOISE,
    days: int = 14,
    *,
    behind: int = 0,
    replay: bool = False,
    seed: int = 7,
) -> tuple[MemoryHealthStore, list[Alert], list[HealthVerdict]]:
    """``days`` day windows; from day 10 on the target mean is ``mu`` and the error sd ``noise``.

    Live: the label consumer has ingested the labels that arrived through the window's
    judging bound, less ``behind`` days (then the evaluator waits, and resumes when it
    catches up at the end). Replay: every label first, then the windows, not waiting.
    """
    rng = np.random.default_rng(seed)
    store = MemoryHealthStore()
    store.put_reference_regression("m", _draw(rng, N, MU, NOISE))
    ev = HealthEvaluator(store, _encode, wait_for_labels=not replay)
    cells = [
        _cells(T0 + d * DAY_MS, rng, *((mu, noise) if d >= 10 else (MU, NOISE)))
        for d in range(days)
    ]
    pending: list[LabelHourWrite] = []
    verdicts = []
    offset = 0

    def ingest_through(day_ms: int) -> None:
        nonlocal pending, offset
        token, _ = store.label_store.claim("m", 0)
        now = tuple(c for c in pending if c.arrived_day_ms <= day_ms)
        pending = [c for c in pending if c.arrived_day_ms > day_ms]
        offset += len(now)
        store.label_store.flush([LabelWrite("m", 0, token, offset, day_ms, (), now, {}, 0)])

    if replay:
        pending = [c for day in cells for c in day]
        ingest_through(T0 + (days + 3) * DAY_MS)
    for d in range(days):
        start = T0 + d * DAY_MS
        if not replay:
            pending.extend(cells[d])
            ingest_through(start + DAY_MS - behind * DAY_MS)
        window = StoredWindow(WindowKey(DAY, start), N, 0, {})
        store.windows.create_window("m", window)
        v = ev.evaluate(SPEC, window)
        assert v is not None
        verdicts.append(v)
    ingest_through(T0 + (days + 3) * DAY_MS)
    verdicts += ev.resume(SPEC)
    return store, [Alert.from_json(a) for a in store.outbox("m")], verdicts


def _decided(store: MemoryHealthStore) -> list[dict[str, Any]]:
    return [d for ds in store.decided.values() for d in ds]


def test_stationary_regression_fortnights_page_nothing_and_say_there_is_no_estimate() -> None:
    for seed in (7, 8, 9):
        store, alerts, verdicts = _run(seed=seed)
        assert alerts == [], seed
        judged = _decided(store)
        # mean shift, MAE, RMSE: days 0..12 at the 50 % point, 0..11 final.
        assert len(judged) == (13 + 12) * 3
        assert {d["metric"] for d in judged} == {"mean_shift", "mae", "rmse"}
        assert not any(d["breach"] for d in judged)
        assert all(NO_REGRESSION_ESTIMATE in v.skipped for v in verdicts if not v.waiting)


def test_an_error_increase_pages_performance_not_label() -> None:
    _, alerts, _ = _run(noise=NOISE * 1.2)  # +20 % MAE and RMSE
    assert [a.kind for a in alerts if a.status == "triggered"] == ["performance"]
    (trig,) = [a for a in alerts if a.status == "triggered"]
    assert (
        trig.window.start_ms == T0 + 11 * DAY_MS
    )  # day 10 first judged (50 % point) when day 11 closes
    by = {f.name: f for f in trig.features if f.breach}
    assert {"performance:mae", "performance:rmse"} <= set(by)
    mae = by["performance:mae"]
    true = 0.2 * NOISE * np.sqrt(2 / np.pi)  # MAE of N(0, s) is s·√(2/π)
    assert mae.ci_low <= true <= mae.ci_high and mae.p_drift >= 0.99
    assert str(WindowKey(DAY, T0 + 10 * DAY_MS)) in mae.reasons[-1]


def test_a_target_mean_shift_pages_a_label_alert_not_performance() -> None:
    _, alerts, _ = _run(mu=MU + 0.15 * SD)  # the target moves 0.15 sd; the error does not
    assert [a.kind for a in alerts if a.status == "triggered"] == ["label"]
    f = next(f for a in alerts if a.kind == "label" for f in a.features if f.breach)
    assert f.name == "label:mean_shift" and f.p_drift >= 0.99
    assert f.ci_low <= 0.15 * SD <= f.ci_high


def test_the_panel_shows_mae_and_rmse_per_window_and_says_what_it_does_not_show() -> None:
    store, _, _ = _run(days=4)
    keys = [WindowKey(DAY, T0 + d * DAY_MS) for d in range(4)]
    series = performance_series(store, SPEC, keys)
    assert series["regression"]
    assert abs(series["reference"]["rmse"] - NOISE) < 0.05
    for p in series["points"]:
        assert p["labels"] == sum(int(s * N) for s in ARRIVAL)
        assert abs(p["rmse"] - NOISE) < 0.05 and p["mae_half"] > 0
        assert abs(p["mae"] - NOISE * np.sqrt(2 / np.pi)) < 0.05
    html = performance_panel(series)
    assert "no estimate before labels" in html and "RMSE (95 %)" in html
    assert html.count("<tr>") == 1 + 1 + 4


def test_no_regression_reference_is_said() -> None:
    store = MemoryHealthStore()
    v = HealthEvaluator(store, _encode).evaluate(SPEC, StoredWindow(WindowKey(DAY, T0), 10, 0, {}))
    assert v is not None and "no labelled reference" in v.skipped[0]


def test_live_with_a_lagging_label_consumer_decides_as_a_replay() -> None:
    shifted = {"mu": MU + 0.15 * SD, "noise": NOISE * 1.15}
    replay, replay_alerts, _ = _run(**shifted, replay=True)  # type: ignore[arg-type]
    assert {a.kind for a in replay_alerts} == {"label", "performance"}
    for behind in (0, 1, 2):
        live, _, verdicts = _run(**shifted, behind=behind)  # type: ignore[arg-type]
        assert live.decided == replay.decided, behind
        assert live.outbox("m") == replay.outbox("m"), behind
        assert any(v.waiting for v in verdicts) == (behind > 0)
