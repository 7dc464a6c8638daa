"""Multiclass model health over the in-memory stores: class shift, accuracy and macro-F1 drops."""

from __future__ import annotations

from typing import Any

import numpy as np

from stream.catalog import ModelSpec
from stream.core.alert import Alert, build_alert
from stream.core.lifecycle import AlertEvent
from stream.core.multiclass import MulticlassPerformance
from stream.core.window import DAY, DAY_MS, WindowKey
from stream.pipeline.health_eval import NO_MULTICLASS_ESTIMATE, HealthEvaluator, HealthVerdict
from stream.pipeline.memory import MemoryHealthStore
from stream.pipeline.ports import LabelHourWrite, LabelWrite, StoredWindow
from stream.web.performance import performance_panel, performance_series

T0 = 1_767_225_600_000
N = 20_000
CLASSES = ["a", "b", "c"]
SHARES = (0.5, 0.3, 0.2)
ACC = 0.85
SPEC = ModelSpec.model_validate(
    {
        "name": "m",
        "features": {"x": "numeric"},
        "labels": {"classes": CLASSES, "max_label_delay_ms": 2 * DAY_MS},
        "alerts": {"windows": ["day"]},
    }
)
ARRIVAL = (0.23, 0.51, 0.26)  # labels 1–48 h late: share arriving on day 0, 1, 2


def _draw(rng: np.random.Generator, shares: tuple[float, ...], acc: float) -> MulticlassPerformance:
    true = rng.choice(3, size=N, p=shares)
    wrong = (true + rng.integers(1, 3, size=N)) % 3
    pred = np.where(rng.random(N) < acc, true, wrong)
    out = MulticlassPerformance.zero(3)
    out.update(true, pred)
    return out


def _cells(start: int, rng: np.random.Generator, shares: tuple[float, ...], acc: float) -> list:
    cells = []
    for day, share in enumerate(ARRIVAL):
        true = rng.choice(3, size=int(share * N), p=shares)
        wrong = (true + rng.integers(1, 3, size=true.size)) % 3
        pred = np.where(rng.random(true.size) < acc, true, wrong)
        st = MulticlassPerformance.zero(3)
        st.update(true, pred)
        cells.append(LabelHourWrite(start, st.to_bytes(), (), start + day * DAY_MS))
    return cells


def _encode(e: AlertEvent) -> bytes:
    return build_alert(e, dashboard_base="https://d.example.com").to_json()


def _run(
    shares: tuple[float, ...] = SHARES,
    acc: float = ACC,
    days: int = 14,
    *,
    behind: int = 0,
    replay: bool = False,
) -> tuple[MemoryHealthStore, list[Alert], list[HealthVerdict]]:
    """``days`` day windows; from day 10 on the labels follow ``shares`` and ``acc``.

    Live: the label consumer has ingested the labels that arrived through the window's
    judging bound, less ``behind`` days (then the evaluator waits, and resumes when it
    catches up at the end). Replay: every label first, then the windows, not waiting.
    """
    rng = np.random.default_rng(7)
    store = MemoryHealthStore()
    store.put_reference_multiclass("m", _draw(rng, SHARES, ACC))
    ev = HealthEvaluator(store, _encode, wait_for_labels=not replay)
    cells = [
        _cells(T0 + d * DAY_MS, rng, *((shares, acc) if d >= 10 else (SHARES, ACC)))
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


def test_a_stationary_multiclass_fortnight_pages_nothing_and_says_there_is_no_estimate() -> None:
    store, alerts, verdicts = _run()
    assert alerts == []
    judged = _decided(store)
    # class share, accuracy, macro F1: days 0..12 at the 50 % point, 0..11 final.
    assert len(judged) == (13 + 12) * 3
    assert {d["metric"] for d in judged} == {"class_share", "accuracy", "macro_f1"}
    assert not any(d["breach"] for d in judged)
    assert all(d["kind"] in ("label", "performance") for d in judged)
    # No estimate before labels: said on every window, never silently.
    assert all(NO_MULTICLASS_ESTIMATE in v.skipped for v in verdicts if not v.waiting)


def test_a_class_share_shift_pages_a_label_alert_naming_the_class() -> None:
    _, alerts, _ = _run(shares=(0.4, 0.3, 0.3))
    label = [a for a in alerts if a.kind == "label"]
    assert [(a.status, a.window.start_ms) for a in label] == [("triggered", T0 + 11 * DAY_MS)]
    f = label[0].features[0]
    assert f.name == "label:class_share" and f.p_drift >= 0.99
    moved = f.reasons[-1].split(": class ")[1].split()[0]
    true = {"a": -0.1, "c": 0.1}[moved]  # shares 0.5/0.3/0.2 → 0.4/0.3/0.3
    assert f.ci_low <= true <= f.ci_high
    assert str(WindowKey(DAY, T0 + 10 * DAY_MS)) in f.reasons[-1]
    # The classifier is as good per class: accuracy does not move.
    perf = {f.name for a in alerts if a.kind == "performance" for f in a.features if f.breach}
    assert "performance:accuracy" not in perf


def test_an_accuracy_drop_pages_on_accuracy_and_macro_f1_not_on_class_shares() -> None:
    _, alerts, _ = _run(acc=0.75)
    assert [a.kind for a in alerts if a.status == "triggered"] == ["performance"]
    names = {f.name for a in alerts for f in a.features if f.breach}
    assert {"performance:accuracy", "performance:macro_f1"} <= names
    assert not any(n.startswith("label:") for n in names)


def test_the_panel_shows_multiclass_figures_and_says_what_it_does_not_show() -> None:
    store, _, _ = _run(days=4)
    keys = [WindowKey(DAY, T0 + d * DAY_MS) for d in range(4)]
    series = performance_series(store, SPEC, keys)
    assert series["multiclass"] and series["classes"] == CLASSES
    assert abs(series["reference"]["accuracy"] - ACC) < 0.01
    for p in series["points"]:
        assert p["labels"] == sum(int(s * N) for s in ARRIVAL)
        assert abs(p["accuracy"] - ACC) < 0.02 and p["macro_f1"] is not None
    html = performance_panel(series)
    assert "no estimate before labels" in html and "macro F1" in html
    assert html.count("<tr>") == 1 + 1 + 4


def test_no_multiclass_reference_is_said() -> None:
    store = MemoryHealthStore()
    v = HealthEvaluator(store, _encode).evaluate(SPEC, StoredWindow(WindowKey(DAY, T0), 10, 0, {}))
    assert v is not None and "no labelled reference" in v.skipped[0]


def test_live_with_a_lagging_label_consumer_decides_as_a_replay() -> None:
    shifted = {"shares": (0.4, 0.3, 0.3), "acc": 0.78}
    replay, replay_alerts, _ = _run(**shifted, replay=True)  # type: ignore[arg-type]
    assert replay_alerts, "the shift must page"
    for behind in (0, 1, 2):
        live, _, verdicts = _run(**shifted, behind=behind)  # type: ignore[arg-type]
        assert live.decided == replay.decided, behind
        assert live.outbox("m") == replay.outbox("m"), behind
        assert any(v.waiting for v in verdicts) == (behind > 0)
