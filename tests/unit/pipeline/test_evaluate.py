"""The evaluator's baselines over the in-memory evaluation store: which windows each judges."""

from __future__ import annotations

from typing import Any

import numpy as np

from stream.catalog import ModelSpec
from stream.core.sketch.params import SketchParams
from stream.core.window import DAY, DAY_MS, HOUR, WindowKey
from stream.pipeline.evaluate import Evaluator, seasonal_lag
from stream.pipeline.memory import MemoryEvaluationStore
from stream.pipeline.ports import StoredWindow

T0 = 1_767_225_600_000 + 30 * DAY_MS  # a Saturday; 30 days of room before it
N = 400
PARAMS = SketchParams()


def _spec(**alerts: Any) -> ModelSpec:
    """``plain`` judged against the reference and the previous window, ``cyclic`` seasonally."""
    return ModelSpec.model_validate(
        {
            "name": "m",
            "features": {
                "plain": {"kind": "numeric", "seasonal": False},
                "cyclic": {"kind": "numeric", "seasonal": True},
            },
            "reference": {"source": "redis", "name": "training"},
            "alerts": {"sequential": False, **alerts},
        }
    )


def _sketch(shift: float, seed: int) -> bytes:
    values = np.random.default_rng(seed).normal(10.0 + shift, 1.0, N)
    return PARAMS.zero("numeric").update(values).to_bytes()  # type: ignore[call-arg]


def _window(key: WindowKey, shift: float = 0.0, seed: int = 0, events: int = N) -> StoredWindow:
    blobs = {"plain": _sketch(shift, seed), "cyclic": _sketch(shift, seed + 1)}
    return StoredWindow(key, events, 0, blobs)


def _store(reference: bool = True) -> MemoryEvaluationStore:
    store = MemoryEvaluationStore()
    if reference:
        store.put_reference("m", {"plain": _sketch(0, 100), "cyclic": _sketch(0, 101)})
    return store


def _judged(store: MemoryEvaluationStore, key: WindowKey) -> dict[str, list[str]]:
    """Baseline → the features its stored decisions judged."""
    return {b: sorted(d["feature"] for d in ds) for b, ds in store.decisions("m", key).items()}


def test_a_first_window_has_only_the_reference_to_compare_with() -> None:
    store = _store()
    key = WindowKey(HOUR, T0)
    store.windows.create_window("m", _window(key))
    verdict = Evaluator(store, encode=repr_bytes).evaluate(_spec(), _window(key))
    assert set(verdict.decisions) == {"reference"}  # no previous, no last-week window yet
    # a seasonal feature is never judged against the reference (a night would look like drift)
    assert _judged(store, key) == {"reference": ["plain"]}


def test_the_previous_window_and_the_same_hour_last_week_are_the_other_baselines() -> None:
    store = _store()
    key = WindowKey(HOUR, T0)
    for earlier in (key.previous(1), key.previous(seasonal_lag(HOUR))):
        store.windows.create_window("m", _window(earlier, seed=7))
    store.windows.create_window("m", _window(key.previous(2), seed=8))  # neither: not read
    Evaluator(store, encode=repr_bytes).evaluate(_spec(), _window(key))
    assert seasonal_lag(HOUR) == 168
    assert _judged(store, key) == {
        "reference": ["plain"],
        "previous": ["plain"],
        "seasonal": ["cyclic"],
    }


def test_a_day_is_compared_with_the_same_weekday_a_week_earlier() -> None:
    store = _store(reference=False)
    key = WindowKey(DAY, T0)
    store.windows.create_window("m", _window(WindowKey(DAY, T0 - 7 * DAY_MS), seed=3))
    store.windows.create_window("m", _window(WindowKey(HOUR, T0 - 7 * DAY_MS), seed=4))
    Evaluator(store, encode=repr_bytes).evaluate(_spec(), _window(key))
    assert _judged(store, key) == {"seasonal": ["cyclic"]}  # no reference, no previous day


def test_an_empty_earlier_window_is_no_baseline() -> None:
    store = _store(reference=False)
    key = WindowKey(HOUR, T0)
    store.windows.create_window("m", _window(key.previous(1), events=0))
    verdict = Evaluator(store, encode=repr_bytes).evaluate(_spec(), _window(key))
    assert verdict.decisions == {} and store.committed == {}


def test_only_the_configured_baselines_and_scales_are_judged() -> None:
    store = _store()
    hour = WindowKey(HOUR, T0)
    store.windows.create_window("m", _window(hour.previous(1), seed=7))
    spec = _spec(baselines=["previous"], windows=["day"])
    evaluator = Evaluator(store, encode=repr_bytes)
    assert evaluator.evaluate(spec, _window(hour)).decisions == {}  # hours are not judged
    assert store.committed == {} and store.states == {}
    day = WindowKey(DAY, T0)
    store.windows.create_window("m", _window(day.previous(1), seed=9))
    evaluator.evaluate(spec, _window(day))
    assert _judged(store, day) == {"previous": ["plain"]}  # no reference though one is stored


def test_a_window_evaluated_twice_alerts_once() -> None:
    store = _store()
    spec = _spec(baselines=["reference"], consecutive_breaches=1)
    evaluator = Evaluator(store, encode=repr_bytes)
    key = WindowKey(HOUR, T0)
    first = evaluator.evaluate(spec, _window(key, shift=3.0))
    assert [e.status for e in first.events] == ["triggered"]
    assert store.outbox("m") == [repr_bytes(first.events[0])]
    again = evaluator.evaluate(spec, _window(key, shift=3.0))  # a redelivered window
    assert again.events == () and store.outbox("m") == [repr_bytes(first.events[0])]


def test_one_window_against_the_previous_one_never_pages_alone() -> None:
    store = _store(reference=False)
    spec = _spec(baselines=["previous"])
    evaluator = Evaluator(store, encode=repr_bytes)
    key = WindowKey(HOUR, T0)
    store.windows.create_window("m", _window(key.previous(1)))
    verdict = evaluator.evaluate(spec, _window(key, shift=5.0))
    decision = verdict.decisions["previous"][0]
    assert decision.breach and verdict.events == ()  # a breach, confirmed by the next window
    nxt = key.previous(-1)
    store.windows.create_window("m", _window(key, shift=5.0))
    store.windows.create_window("m", _window(nxt.previous(1), shift=5.0))
    later = evaluator.evaluate(spec, _window(nxt, shift=10.0, seed=5))
    assert [e.status for e in later.events] == ["triggered"]


def test_a_reference_against_itself_shows_no_drift() -> None:
    store = _store()
    key = WindowKey(HOUR, T0)
    same = StoredWindow(key, N, 0, dict(store.references["m"][0]))
    verdict = Evaluator(store, encode=repr_bytes).evaluate(_spec(), same)
    assert [d.breach for d in verdict.decisions["reference"]] == [False]


def repr_bytes(event: Any) -> bytes:
    """A stand-in alert encoding: the event's id."""
    return str(event.alert_id).encode()
