"""Sketches → plotted distributions: shares add up, shifts show, categories fold."""

from __future__ import annotations

import numpy as np
import pytest

from stream.core.sketch import CategoricalSketch, NumericSketch
from stream.web.distributions import (
    OTHER,
    categorical_distribution,
    distribution,
    numeric_distribution,
)


def _numeric(values: np.ndarray, nulls: int = 0) -> NumericSketch:
    return NumericSketch.zero().update(values, nulls=nulls)


def test_numeric_shares_and_tails_add_up_to_one() -> None:
    rng = np.random.default_rng(7)
    ref = _numeric(rng.normal(10.0, 1.0, 20_000))
    win = _numeric(rng.normal(11.0, 1.0, 5_000), nulls=50)
    d = numeric_distribution([("reference", ref), ("window", win)], bins=30)
    assert len(d["edges"]) == 31
    for s in d["series"]:
        assert sum(s["shares"]) + s["below"] + s["above"] == pytest.approx(1.0, abs=1e-9)
        assert len(s["shares"]) == 30
    # The shift shows: the window's mode sits to the right of the reference's.
    modes = [int(np.argmax(s["shares"])) for s in d["series"]]
    assert modes[1] > modes[0]
    stats = d["series"][1]["stats"]
    assert stats["count"] == 5_000 and stats["nulls"] == 50
    assert stats["null_share"] == pytest.approx(50 / 5_050)
    assert stats["p50"] == pytest.approx(11.0, abs=0.1)
    assert stats["mean"] == pytest.approx(11.0, abs=0.05)


def test_numeric_histogram_is_close_to_numpy() -> None:
    rng = np.random.default_rng(1)
    xs = rng.uniform(100.0, 200.0, 50_000)
    d = numeric_distribution([("window", _numeric(xs))], bins=10)
    expected, _ = np.histogram(xs, bins=np.array(d["edges"]))
    got = np.array(d["series"][0]["shares"]) * xs.size
    # Log buckets are 2% wide here: bins of width ~10 agree within a few percent.
    assert np.allclose(got, expected, rtol=0.06, atol=60)


def test_constant_and_empty_numeric_sketches() -> None:
    const = numeric_distribution([("window", _numeric(np.full(100, 5.0)))])
    assert const["edges"][0] < 5.0 < const["edges"][-1]
    assert sum(const["series"][0]["shares"]) == pytest.approx(1.0)
    empty = numeric_distribution([("window", NumericSketch.zero())])
    assert empty["edges"] == [] and empty["series"][0]["stats"]["mean"] is None


def test_categorical_top_categories_and_other() -> None:
    ref = CategoricalSketch.zero().update(["a"] * 50 + ["b"] * 30 + ["c"] * 20)
    win = CategoricalSketch.zero().update(["a"] * 20 + ["b"] * 30 + ["new"] * 50 + [None] * 10)
    d = categorical_distribution([("reference", ref), ("window", win)], top=3)
    assert d["categories"] == ["a", "new", "b", OTHER]
    ref_s, win_s = (s["shares"] for s in d["series"])
    assert ref_s == pytest.approx([0.5, 0.0, 0.3, 0.2])
    assert win_s == pytest.approx([0.2, 0.5, 0.3, 0.0])
    assert d["series"][1]["stats"]["nulls"] == 10


def test_distribution_dispatches_on_kind() -> None:
    assert distribution([])["kind"] == "none"
    assert distribution([("w", _numeric(np.arange(10.0)))])["kind"] == "numeric"
    assert distribution([("w", CategoricalSketch.zero().update(["x"]))])["kind"] == "categorical"
