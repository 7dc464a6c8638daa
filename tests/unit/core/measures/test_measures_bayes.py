"""Bayesian share tests: the seed, exact vs Monte Carlo, Dirichlet marginals."""

from __future__ import annotations

import numpy as np
import pytest

from stream.core.measures.bayes import beta_posterior, dirichlet_shift, share_shift


def test_seed_mobile_share() -> None:
    s = share_shift(30_299, 65_551, 3_187, 6_703)
    assert s.p_drift == pytest.approx(0.98, abs=0.005)
    assert 100 * s.delta == pytest.approx(1.3, abs=0.05)
    assert s.ci_low < s.delta < s.ci_high and s.ci_low > 0
    assert s.method == "normal"
    # A 1.3-point move is barely "practical" at δ = 1 point, and not at 3 points.
    assert 0.5 < s.p_practical < 0.8
    assert share_shift(30_299, 65_551, 3_187, 6_703, threshold=0.03).p_practical < 0.01


@pytest.mark.parametrize(
    ("kr", "nr", "kw", "nw"),
    [(2, 20, 9, 20), (0, 50, 3, 40), (5, 65_551, 3, 6_703), (40, 100, 45, 90), (1, 3, 0, 0)],
)
def test_exact_path_matches_monte_carlo(kr: int, nr: int, kw: int, nw: int) -> None:
    s = share_shift(kr, nr, kw, nw, threshold=0.02)
    g = np.random.default_rng(11)
    d = g.beta(*beta_posterior(kw, nw), 200_000) - g.beta(*beta_posterior(kr, nr), 200_000)
    assert s.p_greater == pytest.approx((d > 0).mean(), abs=0.004)
    assert s.p_practical == pytest.approx((np.abs(d) > 0.02).mean(), abs=0.004)
    assert s.delta == pytest.approx(d.mean(), abs=0.003)
    spread = np.quantile(d, 0.975) - np.quantile(d, 0.025)
    assert s.ci_low == pytest.approx(np.quantile(d, 0.025), abs=0.01 * spread)
    assert s.ci_high == pytest.approx(np.quantile(d, 0.975), abs=0.01 * spread)


def test_normal_and_exact_agree_at_the_switch() -> None:
    from stream.core.measures import bayes

    args = (60.5, 140.5, 80.5, 120.5)
    n, e = bayes._normal_shift(*args, 0.05), bayes._exact_shift(*args, 0.05)
    assert n.p_greater == pytest.approx(e.p_greater, abs=0.01)
    assert n.ci_low == pytest.approx(e.ci_low, abs=0.005)
    assert n.p_practical == pytest.approx(e.p_practical, abs=0.01)


def test_uniform_prior_and_empty_sides() -> None:
    assert beta_posterior(0, 0, "uniform") == (1.0, 1.0)
    s = share_shift(0, 0, 0, 0)
    assert s.p_drift == pytest.approx(0.5) and s.ci_low < -0.9 and s.ci_high > 0.9


def test_dirichlet_marginals_and_any_moved() -> None:
    ref, win = [30_299, 35_252], [3_187, 3_516]
    d = dirichlet_shift(ref, win, threshold=0.01)
    # Two categories under Jeffreys Dir(½, ½) are the Beta(½, ½) test itself.
    one = share_shift(30_299, 65_551, 3_187, 6_703)
    assert d.shifts[0].p_drift == pytest.approx(one.p_drift, abs=1e-12)
    assert d.p_any == pytest.approx(d.shifts[0].p_practical)
    many = dirichlet_shift([500, 300, 150, 50], [420, 320, 180, 80], threshold=0.02)
    assert many.p_any_low <= many.p_any <= many.p_any_high
    assert sum(s.delta for s in many.shifts) == pytest.approx(0.0, abs=1e-12)
    subset = dirichlet_shift([500, 300, 150, 50], [420, 320, 180, 80], threshold=0.02, detail=[3])
    assert len(subset.shifts) == 1 and subset.p_any == many.p_any


def test_dirichlet_rejects_misaligned_vectors() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        dirichlet_shift([1, 2], [1])
