"""Multiclass health state and decisions (pure)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stream.core.multiclass import (
    MulticlassPerformance,
    class_shift,
    macro_f1_se,
    merge_all,
    multiclass_drop,
)

K = 4
pairs = st.lists(st.tuples(st.integers(0, K - 1), st.integers(0, K - 1)), max_size=60)


def _state(ps: list[tuple[int, int]]) -> MulticlassPerformance:
    s = MulticlassPerformance.zero(K)
    s.update([t for t, _ in ps], [p for _, p in ps])
    return s


@given(st.lists(pairs, min_size=1, max_size=5))
@settings(max_examples=60, deadline=None)
def test_merges_are_exact_and_order_free(chunks: list[list[tuple[int, int]]]) -> None:
    whole = _state([p for c in chunks for p in c])
    parts = [_state(c) for c in chunks]
    assert merge_all(parts, K) == whole
    assert merge_all(reversed(parts), K) == whole
    assert MulticlassPerformance.from_bytes(whole.to_bytes()) == whole


def test_bad_input_is_refused_with_a_reason() -> None:
    s = MulticlassPerformance.zero(3)
    with pytest.raises(ValueError, match="label class 3 outside 0..2"):
        s.update([3], [0])
    with pytest.raises(ValueError, match="2 labels but 1 predictions"):
        s.update([0, 1], [0])
    with pytest.raises(ValueError, match="3 classes vs 4"):
        s.merge(MulticlassPerformance.zero(4))
    with pytest.raises(ValueError, match="count bytes"):
        MulticlassPerformance.from_bytes(s.to_bytes()[:-1])
    with pytest.raises(ValueError, match="1 classes"):
        MulticlassPerformance.zero(1)
    assert s.n == 0 and s.accuracy is None and s.macro_f1() is None


def _sample(
    rng: np.random.Generator, n: int, prior: list[float], right: float
) -> MulticlassPerformance:
    """Labels drawn from ``prior``; the prediction is the label with prob. ``right``,
    else a uniformly drawn other class."""
    t = rng.choice(len(prior), n, p=prior)
    wrong = (t + rng.integers(1, len(prior), n)) % len(prior)
    p = np.where(rng.random(n) < right, t, wrong)
    s = MulticlassPerformance.zero(len(prior))
    s.update(t, p)
    return s


PRIOR = [0.4, 0.3, 0.2, 0.1]


def test_a_stationary_window_breaches_nothing() -> None:
    rng = np.random.default_rng(1)
    ref = _sample(rng, 50_000, PRIOR, 0.85)
    for _ in range(10):
        win = _sample(rng, 5_000, PRIOR, 0.85)
        assert not class_shift(ref, win).breach
        for metric in ("accuracy", "macro_f1"):
            d = multiclass_drop(ref, win, metric=metric)  # type: ignore[arg-type]
            assert d is not None and not d.breach


def test_a_class_prior_shift_pages_on_the_class_that_moved() -> None:
    rng = np.random.default_rng(2)
    ref = _sample(rng, 50_000, PRIOR, 0.85)
    win = _sample(rng, 5_000, [0.3, 0.3, 0.2, 0.2], 0.85)
    d = class_shift(ref, win, names=["a", "b", "c", "d"])
    assert d.breach and d.confidence >= 0.99
    # One stable name (one lifecycle measure); the class that moved most is in the reason.
    assert d.metric == "class_share"
    moved = d.reason.split()[1]
    assert moved in {"a", "d"}
    true = {"a": -0.1, "d": 0.1}[moved]
    assert d.ci_low <= true <= d.ci_high and d.delta == pytest.approx(true, abs=0.02)
    assert "2 class(es) moved" in d.reason


def test_an_accuracy_and_macro_f1_drop_pages() -> None:
    rng = np.random.default_rng(3)
    ref = _sample(rng, 50_000, PRIOR, 0.85)
    win = _sample(rng, 5_000, PRIOR, 0.75)
    assert not class_shift(ref, win).breach  # same class shares
    acc = multiclass_drop(ref, win, metric="accuracy")
    f1 = multiclass_drop(ref, win, metric="macro_f1")
    assert acc is not None and acc.breach and acc.delta == pytest.approx(-0.10, abs=0.02)
    assert f1 is not None and f1.breach and f1.confidence >= 0.99


def test_the_macro_f1_standard_error_matches_its_spread_over_samples() -> None:
    """The delta-method SE against the standard deviation of 400 simulated windows."""
    rng = np.random.default_rng(4)
    windows = [_sample(rng, 2_000, PRIOR, 0.8) for _ in range(400)]
    spread = float(np.std([w.macro_f1() for w in windows], ddof=1))
    se = float(np.median([macro_f1_se(w) for w in windows]))
    assert se == pytest.approx(spread, rel=0.15)
