"""Categorical measures: exact agreement with scipy, edge cases, invariants."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import jensenshannon
from scipy.stats import chi2_contingency

from stream.core.measures import categorical as C
from stream.core.measures import divergence as D
from stream.core.sketch import CategoricalSketch

SEED_REF = {"mobile": 30_299, "desktop": 65_551 - 30_299}
SEED_WIN = {"mobile": 3_187, "desktop": 6_703 - 3_187}


def test_seed_chi_square_with_yates() -> None:
    m = C.chi_square(C.CategoricalPair.from_counts(SEED_REF, SEED_WIN))
    assert m.value == pytest.approx(4.23, abs=0.005)
    assert m.p_value == pytest.approx(0.0396, abs=1e-4)
    assert m.method == "chi2 yates"


@pytest.mark.parametrize("yates", [True, False])
@pytest.mark.parametrize("k", [2, 3, 12])
def test_chi_square_equals_scipy(k: int, yates: bool) -> None:
    g = np.random.default_rng(k)
    for _ in range(5):
        r, w = g.integers(1, 5000, k), g.integers(1, 800, k)
        stat, p, dof, _ = chi2_contingency(np.vstack([r, w]), correction=yates)
        c = D.chi_square_counts(r, w, yates=yates)
        assert c.statistic == pytest.approx(stat, rel=1e-9)
        assert c.p_value == pytest.approx(p, rel=1e-9)
        assert c.dof == dof
        assert c.cramers_v == pytest.approx(math.sqrt(stat / (r.sum() + w.sum())), rel=1e-12)


def test_js_equals_scipy_base2() -> None:
    g = np.random.default_rng(1)
    for _ in range(10):
        r, w = g.integers(0, 100, 7), g.integers(0, 100, 7)
        assert D.js_counts(r, w) == pytest.approx(jensenshannon(r, w, base=2), abs=1e-12)


def test_other_mass_is_one_extra_category() -> None:
    pair = C.CategoricalPair.from_counts({"a": 50, "b": 30}, {"a": 50}, ref_other=20, win_other=50)
    assert pair.labels == ("a", "b", C.OTHER)
    assert pair.ref.tolist() == [50, 30, 20] and pair.win.tolist() == [50, 0, 50]
    assert not pair.ref_exact and not pair.win_exact
    assert C.linf(pair).value == pytest.approx(0.3)
    # "other" is never reported as an unseen or vanished category.
    assert C.unseen(pair).value == 0.0
    assert dict(C.vanished(pair).detail) == {"b": 0.3}


def test_unseen_and_vanished() -> None:
    ref = {"a": 700, "b": 295, "rare": 5}
    win = {"a": 80, "new1": 15, "new2": 5, "rare": 0}
    pair = C.CategoricalPair.from_counts(ref, win)
    u = C.unseen(pair)
    assert u.value == pytest.approx(0.2) and set(u.detail) == {"new1", "new2"}
    assert u.p_value < 1e-9 and u.ci_low < 0.2 < u.ci_high
    v = C.vanished(pair)
    # "rare" (0.5%) meets the 0.5% floor; absent in 100 draws is unsurprising for it alone.
    assert v.value == pytest.approx(0.3) and set(v.detail) == {"b", "rare"}
    assert v.p_value < 1e-9
    alone = C.vanished(C.CategoricalPair.from_counts({"a": 995, "rare": 5}, {"a": 100}))
    assert alone.value == pytest.approx(0.005) and alone.p_value > 0.5


def test_null_rate_change_counts_type_errors() -> None:
    pair = C.CategoricalPair.from_counts({"a": 95}, {"a": 80}, ref_missing=5, win_missing=20)
    m = C.null_rate_change(pair)
    assert m.value == pytest.approx(0.15) and m.p_value < 0.01 and m.ci_low < 0.15 < m.ci_high


def test_empty_window_is_nan_not_an_exception() -> None:
    pair = C.CategoricalPair.from_counts({"a": 10, "b": 5}, {})
    for f in (C.js_distance, C.linf, C.psi, C.chi_square, C.cramers_v, C.unseen, C.vanished):
        assert math.isnan(f(pair).value), f.__name__
    assert math.isnan(C.p_share_moved(pair).value)
    assert math.isnan(C.null_rate_change(C.CategoricalPair.from_counts({"a": 1}, {})).value)
    only_nulls = C.CategoricalPair.from_counts({"a": 10}, {}, win_missing=4)
    assert C.null_rate_change(only_nulls).value == 1.0


def test_large_sample_harmless_drift_is_significant_but_small() -> None:
    # The design's point: the seed's χ² is "significant", the effect is tiny.
    pair = C.CategoricalPair.from_counts(SEED_REF, SEED_WIN)
    assert C.cramers_v(pair).value < 0.01
    assert C.linf(pair).value == pytest.approx(0.0132, abs=1e-4)


def test_category_shifts_top_movers() -> None:
    pair = C.CategoricalPair.from_counts(SEED_REF | {"tablet": 10}, SEED_WIN | {"tablet": 40})
    cs = C.category_shifts(pair, top=2)
    assert list(cs.shifts)[0] in {"mobile", "desktop"}
    mob = C.category_shifts(pair, top=3).shifts["tablet"]
    assert mob.p_drift > 0.999 and mob.method == "exact"


def _zipf(g: np.random.Generator, n: int, boost: float = 0.0) -> list[str]:
    v = np.minimum(g.zipf(1.3, n), 5000)
    v = np.where(g.random(n) < boost, 3, v)
    return [f"c{x}" for x in v]


def test_sampled_sketches_compare_only_exact_counts() -> None:
    # Beyond the cap the sketches keep hash samples of categories; every count the
    # pair compares must still be exact, "other" covering the same rest on both sides.
    g = np.random.default_rng(0)
    a, b = _zipf(g, 100_000), _zipf(g, 20_000)
    ref = CategoricalSketch.zero(max_exact=256).update(a)
    win = CategoricalSketch.zero(max_exact=256).update(b)
    assert not ref.is_exact and not win.is_exact
    pair = C.CategoricalPair.of(ref, win)
    ca, cb = Counter(a), Counter(b)
    named = [(i, lab) for i, lab in enumerate(pair.labels) if lab != C.OTHER]
    assert len(named) > 50
    assert all(pair.ref[i] == ca[lab] and pair.win[i] == cb[lab] for i, lab in named)
    assert pair.n_ref == 100_000 and pair.n_win == 20_000
    for f in (C.js_distance, C.psi, C.chi_square, C.linf, C.unseen):
        assert f(pair).p_value > 0.01, f.__name__  # same distribution: quiet


def test_exact_sketches_match_plain_counts() -> None:
    a = ["ios"] * 60 + ["web"] * 40 + [None] * 5
    b = ["ios"] * 45 + ["web"] * 50 + ["tv"] * 5
    p = C.CategoricalPair.from_values(a, b)
    q = C.CategoricalPair.from_counts(
        {"ios": 60, "web": 40}, {"ios": 45, "web": 50, "tv": 5}, ref_missing=5
    )
    assert p.labels == q.labels and p.ref.tolist() == q.ref.tolist()
    assert p.win.tolist() == q.win.tolist() and p.ref_missing == 5


counts = st.lists(st.integers(0, 500), min_size=1, max_size=8)


@settings(max_examples=80, deadline=None)
@given(counts, counts)
def test_invariants(r: list[int], w: list[int]) -> None:
    k = max(len(r), len(w))
    a, b = np.array(r + [0] * (k - len(r))), np.array(w + [0] * (k - len(w)))
    if a.sum() == 0 or b.sum() == 0:
        assert math.isnan(D.js_counts(a, b))
        return
    for f in (D.js_counts, D.hellinger_counts, D.psi_counts):
        assert f(a, b) == pytest.approx(f(b, a), abs=1e-12), f.__name__  # symmetric
        assert f(a, a) == pytest.approx(0.0, abs=1e-12)
    assert 0 <= D.js_counts(a, b) <= 1 and 0 <= D.hellinger_counts(a, b) <= 1
    assert D.psi_counts(a, b) >= 0
    linf, _ = D.linf_counts(a, b)
    assert 0 <= linf <= 1 and linf == pytest.approx(D.linf_counts(b, a)[0])
    chi, back = D.chi_square_counts(a, b), D.chi_square_counts(b, a)
    assert chi.statistic == pytest.approx(back.statistic, rel=1e-9, abs=1e-12)
    assert 0 <= chi.cramers_v <= 1 + 1e-12
