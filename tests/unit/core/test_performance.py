"""Binary performance state: exact merges, the codec, and metrics against direct formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stream.core.performance import BINS, BinaryPerformance

SCORES = st.lists(
    st.tuples(st.integers(0, 1_000_000).map(lambda k: k / 1_000_000), st.booleans()),
    max_size=60,
)


def _state(rows: list[tuple[float, bool]], threshold: float = 0.5) -> BinaryPerformance:
    p = BinaryPerformance.zero()
    if rows:
        s, y = zip(*rows, strict=True)
        p.update(list(s), list(y), threshold=threshold)
    return p


@settings(max_examples=200, deadline=None)
@given(SCORES, SCORES, SCORES)
def test_merge_is_exact_associative_and_commutative(
    a: list[tuple[float, bool]], b: list[tuple[float, bool]], c: list[tuple[float, bool]]
) -> None:
    x, y, z = _state(a), _state(b), _state(c)
    assert x.merge(y) == y.merge(x)
    assert x.merge(y).merge(z) == x.merge(y.merge(z))
    # Merging is the same as updating with the concatenated labels: bytes too.
    assert x.merge(y).merge(z).to_bytes() == _state(a + b + c).to_bytes()
    assert x.merge(BinaryPerformance.zero()) == x


@settings(max_examples=100, deadline=None)
@given(SCORES)
def test_codec_round_trips(rows: list[tuple[float, bool]]) -> None:
    p = _state(rows)
    assert BinaryPerformance.from_bytes(p.to_bytes()) == p


def test_codec_refuses_other_versions_and_truncation() -> None:
    blob = _state([(0.3, True)]).to_bytes()
    with pytest.raises(ValueError, match="version"):
        BinaryPerformance.from_bytes(b"\x09" + blob[1:])
    with pytest.raises(ValueError, match="histogram bytes"):
        BinaryPerformance.from_bytes(blob[:-8])


def test_metrics_equal_direct_formulas_on_binned_scores() -> None:
    rng = np.random.default_rng(4)
    y = rng.random(5000) < 0.3
    # Scores on bin centres: binning loses nothing, so AUC etc. are the textbook values.
    s = (
        np.clip(np.floor(rng.normal(np.where(y, 0.65, 0.35), 0.2) * BINS), 0, BINS - 1) + 0.5
    ) / BINS
    p = _state(list(zip(s.tolist(), y.tolist(), strict=True)))
    pos, neg = s[y], s[~y]
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    assert p.auc() == pytest.approx(wins / (pos.size * neg.size), abs=1e-12)
    loss = -np.mean(np.where(y, np.log(s), np.log(1 - s)))
    assert p.log_loss() == pytest.approx(loss, abs=1e-6)
    assert p.accuracy == pytest.approx(np.mean((s >= 0.5) == y))
    ece = (
        sum(
            abs(s[sel].sum() - y[sel].sum())
            for b in range(BINS)
            if (sel := (s * BINS).astype(int) == b).any()
        )
        / s.size
    )
    assert p.ece() == pytest.approx(ece, abs=1e-6)
    # Average precision at every distinct score (each bin holds one score value).
    ap, tp, fp = 0.0, 0, 0
    for v in np.unique(s)[::-1]:
        sel = s == v
        tp += int(y[sel].sum())
        fp += int((~y[sel]).sum())
        ap += int(y[sel].sum()) * tp / (tp + fp)
    assert p.pr_auc() == pytest.approx(ap / y.sum(), abs=1e-12)
    se = p.auc_se()
    assert se is not None and 0.005 < se < 0.02
    assert math.isclose(p.positive_share or 0, float(y.mean()))


def test_empty_and_one_class_windows_have_no_auc() -> None:
    assert BinaryPerformance.zero().auc() is None
    assert BinaryPerformance.zero().log_loss() is None
    assert _state([(0.2, False), (0.4, False)]).auc() is None
    assert _state([(0.2, False)]).pr_auc() is None
