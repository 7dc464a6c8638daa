"""Multiclass class shares with the reference's spread (k15c): quiet when stationary.

The older rule (per class, two-sided P(shift) ≥ 0.99 with the move beyond a 2-pt floor
that 2.3 se of a 0.5 share outgrows) paged a stationary 3-class stream 13–31 times a
fortnight; these pin the new rule against it on the same windows.
"""

from __future__ import annotations

import numpy as np
import pytest

from stream.core.multiclass import (
    MulticlassPerformance,
    class_shift,
    merge_all,
    multiclass_drop,
    share_measure,
    spread_of,
)

T0 = 1_767_225_600_000
HOUR = 3_600_000
SHARES = (0.5, 0.3, 0.2)
BUDGET = 1 - 1 / 2_250  # health_eval.budget_confidence at the defaults


def draw(
    rng: np.random.Generator, n: int, shares: tuple[float, ...] = SHARES, acc: float = 0.85
) -> MulticlassPerformance:
    true = rng.choice(3, size=n, p=shares)
    wrong = (true + rng.integers(1, 3, size=n)) % 3
    out = MulticlassPerformance.zero(3)
    out.update(true, np.where(rng.random(n) < acc, true, wrong))
    return out


@pytest.mark.parametrize("n", [75, 150, 1500])
def test_stationary_windows_do_not_breach(n: int) -> None:
    rng = np.random.default_rng(n)
    ref = draw(rng, 25_200)
    wins = [draw(rng, n) for _ in range(600)]
    tau2 = [0.0, 0.0, 0.0]
    new = [class_shift(ref, w, tau2=tau2, confidence=BUDGET) for w in wins]
    assert sum(d.breach for d in new) == 0
    old = [class_shift(ref, w) for w in wins]
    assert sum(d.breach for d in old) >= 6  # ≈ 2–4 % of windows


def test_a_real_move_breaches_and_names_the_class() -> None:
    rng = np.random.default_rng(2)
    ref = draw(rng, 25_200)
    d = class_shift(
        ref, draw(rng, 1500, (0.4, 0.3, 0.3)), tau2=[0.0] * 3, confidence=BUDGET, names="abc"
    )
    assert d.breach and d.metric == "class_share" and d.reason.startswith("class ")
    assert abs(d.delta) == pytest.approx(0.1, abs=0.04) and "over 3 classes" in d.reason
    wide = class_shift(ref, draw(rng, 1500, (0.45, 0.3, 0.25)), tau2=[0.03**2] * 3)
    assert not wide.breach and "between-window sd" in wide.reason


def _hours(rng: np.random.Generator, rate: int, amp: float) -> dict[int, MulticlassPerformance]:
    out = {}
    for h in range(7 * 24):
        a = amp * np.sin(2 * np.pi * (h % 24) / 24)
        out[T0 + h * HOUR] = draw(rng, rate, (0.5 + a, 0.3 - a, 0.2))
    return out


def test_the_spread_sees_a_daily_cycle_in_the_shares_only_at_the_hour_scale() -> None:
    rng = np.random.default_rng(3)
    sp = spread_of(_hours(rng, 1500, 0.05), classes=3)
    assert sp.tau2("hour", share_measure(0)) == pytest.approx(0.05**2 / 2, rel=0.4)
    assert sp.tau2("day", share_measure(0)) == 0.0 and sp.tau2("hour", share_measure(2)) == 0.0
    flat = spread_of(_hours(rng, 1500, 0.0), classes=3)
    assert all(tau2 == 0.0 for _, _, tau2, *_ in flat.fits)
    assert flat.fitted("hour", "accuracy") and flat.fitted("day", "macro_f1")


def test_a_drop_adds_the_reference_tau2() -> None:
    rng = np.random.default_rng(4)
    ref, win = draw(rng, 25_200), draw(rng, 1500, acc=0.78)
    plain = multiclass_drop(ref, win, floor=0.03)
    wide = multiclass_drop(ref, win, floor=0.03, tau2=0.03**2)
    assert plain is not None and wide is not None and plain.breach and not wide.breach


def test_codec_v2_carries_the_spread_and_window_bytes_are_unchanged() -> None:
    rng = np.random.default_rng(5)
    hours = _hours(rng, 150, 0.05)
    ref = merge_all(hours.values(), 3)
    v1 = ref.to_bytes()
    assert v1[0] == 1 and MulticlassPerformance.from_bytes(v1).spread is None
    ref.spread = spread_of(hours, classes=3)
    v2 = ref.to_bytes()
    assert v2[0] == 2 and v2[1:].startswith(v1[1:])
    back = MulticlassPerformance.from_bytes(v2)
    assert back == ref and back.spread == ref.spread
    assert back.merge(back).spread is None
    with pytest.raises(ValueError, match="spread"):
        MulticlassPerformance.from_bytes(v2[:-3])
