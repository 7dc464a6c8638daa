"""Accuracy against exact computation on raw data, for the shapes features really have.

Quantiles: within α relative error of ``np.quantile(method="lower")`` (the sketch's
rank convention). CDF: off by at most the share of the bucket holding x. KS distance
from two sketches' aligned bucket keys: within 0.005 of ``scipy.stats.ks_2samp``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from scipy import stats

from stream.core.sketch import NumericSketch

N = 40_000
ALPHA = 0.01
Q = np.array([0.0, 0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1.0])

Gen = Callable[[np.random.Generator, int], np.ndarray]
DISTRIBUTIONS: dict[str, Gen] = {
    "normal": lambda r, n: r.normal(50.0, 10.0, n),
    "lognormal": lambda r, n: r.lognormal(3.0, 1.5, n),
    "bimodal": lambda r, n: np.where(r.random(n) < 0.3, r.normal(-20, 2, n), r.normal(40, 5, n)),
    "integer_counts": lambda r, n: r.poisson(3.0, n).astype(np.float64),
    "bounded_01": lambda r, n: r.beta(0.5, 0.5, n),
    "pareto": lambda r, n: r.pareto(1.1, n) + 1.0,
    "cauchy": lambda r, n: r.standard_cauchy(n),
    "constant": lambda r, n: np.full(n, 42.5),
    "mostly_null": lambda r, n: np.where(r.random(n) < 0.97, np.nan, r.exponential(2.0, n)),
}


def _finite(x: np.ndarray) -> np.ndarray:
    return x[np.isfinite(x)]


@pytest.mark.parametrize("name", sorted(DISTRIBUTIONS))
def test_quantiles_within_relative_accuracy(name: str) -> None:
    x = DISTRIBUTIONS[name](np.random.default_rng(sum(map(ord, name))), N)
    s = NumericSketch.zero(ALPHA).update(x)
    f = _finite(x)
    assert s.count == f.size and s.nans == x.size - f.size
    assert not s.collapsed_low_tail
    est = s.quantile(Q)
    exact = np.quantile(f, Q, method="lower")
    err = np.abs(est - exact)
    assert np.all(err <= ALPHA * np.abs(exact) * (1 + 1e-9)), (name, est, exact)
    assert s.mean == pytest.approx(float(np.mean(f)), rel=1e-9, abs=1e-12)
    assert s.std == pytest.approx(float(np.std(f)), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("name", sorted(DISTRIBUTIONS))
def test_cdf_is_within_one_bucket(name: str) -> None:
    x = DISTRIBUTIONS[name](np.random.default_rng(1 + sum(map(ord, name))), N)
    s = NumericSketch.zero(ALPHA).update(x)
    f = np.sort(_finite(x))
    keys, counts = s.signed_keys()
    lower, upper = s.bucket_bounds(keys)
    probes = np.quantile(f, np.linspace(0, 1, 101))
    probes = np.concatenate([probes, probes * 1.003, [f[0] - 1.0, f[-1] + 1.0]])
    ecdf = np.searchsorted(f, probes, side="right") / f.size
    est = s.cdf(probes)
    # The only uncertainty is the bucket that holds the probe.
    holder = np.clip(np.searchsorted(upper, probes, side="left"), 0, keys.size - 1)
    slack = counts[holder] / f.size + 1e-12
    assert np.all(np.abs(est - ecdf) <= slack), name
    # Exact at bucket edges (upper edges of positive buckets are inclusive).
    pos_edges = upper[keys > 0]
    exact_at_edges = np.searchsorted(f, pos_edges, side="right") / f.size
    cum = np.cumsum(counts)[keys > 0] / f.size
    assert np.allclose(cum, exact_at_edges, rtol=0, atol=1e-15)


def _ks_from_keys(a: NumericSketch, b: NumericSketch) -> float:
    """KS distance evaluated at every bucket boundary of the aligned key sets."""
    ka, ca = a.signed_keys()
    kb, cb = b.signed_keys()
    keys = np.union1d(ka, kb)
    fa = np.zeros(keys.size)
    fb = np.zeros(keys.size)
    fa[np.searchsorted(keys, ka)] = ca
    fb[np.searchsorted(keys, kb)] = cb
    return float(np.max(np.abs(np.cumsum(fa) / a.count - np.cumsum(fb) / b.count)))


@pytest.mark.parametrize(
    ("name", "shift"),
    [
        ("normal", 0.0),
        ("normal", 0.5),
        ("lognormal", 0.2),
        ("bimodal", 1.0),
        ("pareto", 0.05),
        ("cauchy", 0.3),
        ("bounded_01", 0.02),
        ("integer_counts", 1.0),
    ],
)
def test_ks_from_sketches_matches_scipy(name: str, shift: float) -> None:
    gen = DISTRIBUTIONS[name]
    ra, rb = np.random.default_rng(100), np.random.default_rng(200)
    a_raw, b_raw = gen(ra, N), gen(rb, N // 2) + shift
    a = NumericSketch.zero(ALPHA).update(a_raw)
    b = NumericSketch.zero(ALPHA).update(b_raw)
    exact = stats.ks_2samp(_finite(a_raw), _finite(b_raw)).statistic
    assert abs(_ks_from_keys(a, b) - exact) <= 0.005, name


def test_mostly_null_counts() -> None:
    x = DISTRIBUTIONS["mostly_null"](np.random.default_rng(9), N)
    s = NumericSketch.zero().update(x[np.isfinite(x)], nulls=int(np.isnan(x).sum()))
    assert s.nulls == int(np.isnan(x).sum()) and s.total == N and s.nans == 0
