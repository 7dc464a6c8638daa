"""CategoricalSketch: exact regime, bottom-k sample beyond the cap, estimates and bounds."""

from __future__ import annotations

import hashlib
import math
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stream.core.sketch import CategoricalSketch


def _rank(v: str) -> int:
    d = hashlib.blake2b(v.encode("utf-8", "surrogatepass"), digest_size=16).digest()
    return int.from_bytes(d[:8], "big")


def _zipf_values(n: int, distinct: int, seed: int) -> list[str]:
    ids = np.random.default_rng(seed).zipf(1.2, size=n) % distinct
    return [f"cat-{i}" for i in ids.tolist()]


def test_exact_regime_counts_everything() -> None:
    s = CategoricalSketch.zero().update(["a", "b", "a", None, "", "ü"], nulls=2, type_errors=1)
    assert s.is_exact and s.counts() == {"a": 2, "": 1, "b": 1, "ü": 1}
    assert (s.count, s.nulls, s.type_errors, s.total, s.other) == (5, 3, 1, 9, 0)
    assert s.distinct == 4.0
    assert s.estimate("a") == 2.0 and s.estimate("zzz") == 0.0


def test_non_strings_are_type_errors_and_numpy_strings_are_plain() -> None:
    s = CategoricalSketch.zero().update(["a", 3, b"x", None, 2.5])  # type: ignore[list-item]
    assert (s.count, s.type_errors, s.nulls) == (1, 3, 1)
    t = CategoricalSketch.zero().update(np.array(["a", "b", "a"]))
    assert t.counts() == {"a": 2, "b": 1} and all(type(k) is str for k in t.counts())
    u = CategoricalSketch.zero().update(np.array(["a", None], dtype=object))
    assert (u.count, u.nulls) == (1, 1)
    assert t.to_bytes() == CategoricalSketch.zero().update(["a", "b", "a"]).to_bytes()


def test_validation() -> None:
    for bad in (0, -1, 1 << 17, 2.0):
        with pytest.raises(ValueError, match="max_exact"):
            CategoricalSketch.zero(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=">= 0"):
        CategoricalSketch.zero().update([], nulls=-1)


def test_cap_is_inclusive() -> None:
    values = [f"v{i}" for i in range(8)]
    assert CategoricalSketch.zero(8).update(values).is_exact
    over = CategoricalSketch.zero(8).update([*values, "v8"])
    assert not over.is_exact and len(over.counts()) == 8


def test_beyond_the_cap_the_kept_values_are_the_bottom_k_with_exact_counts() -> None:
    values = _zipf_values(20_000, 3_000, seed=1)
    truth = Counter(values)
    s = CategoricalSketch.zero(128)
    for i in range(0, len(values), 1_000):
        s.update(values[i : i + 1_000])
    expected = sorted(truth, key=lambda v: (_rank(v), v))[:128]
    assert set(s.counts()) == set(expected)
    assert all(s.counts()[v] == truth[v] for v in expected)
    assert s.other == len(values) - sum(truth[v] for v in expected)
    assert s.count == len(values) and not s.is_exact


def test_estimates_beyond_the_cap() -> None:
    values = _zipf_values(50_000, 5_000, seed=2)
    truth = Counter(values)
    s = CategoricalSketch.zero(256).update(values)
    kth = max((_rank(v), v) for v in s.counts())
    width = s.table_shape[1]
    errors = []
    for v, c in truth.items():
        est = s.estimate(v)
        if v in s.counts():
            assert est == c
        else:
            assert c <= est <= s.other  # Count-Min never under-estimates
            errors.append((est - c) / s.other)
    # Values ranked below the threshold that never occurred are known to be absent.
    unseen = [f"nope-{i}" for i in range(2_000)]
    below = [u for u in unseen if (_rank(u), u) < kth]
    assert below and all(s.estimate(u) == 0.0 for u in below)
    # Bound: over-estimate ≤ e/w·other with probability ≥ 1 − e^-4 per value.
    share_within = np.mean(np.array(errors) <= math.e / width)
    assert share_within >= 1 - math.exp(-4) - 0.02
    # The heavy hitters are estimated well even when they are not in the sample.
    for v, c in truth.most_common(5):
        assert s.estimate(v) <= c + math.e / width * s.other


def test_distinct_estimate() -> None:
    for distinct, k in ((20_000, 1024), (5_000, 256)):
        values = [f"id{i}" for i in range(distinct)] * 2
        s = CategoricalSketch.zero(k).update(values)
        assert abs(s.distinct / distinct - 1) < 4 / math.sqrt(k - 2)


def test_counts_are_sorted_by_count_then_value() -> None:
    s = CategoricalSketch.zero().update(["b", "c", "a", "c"])
    assert list(s.counts()) == ["c", "a", "b"]


def test_copy_and_equality() -> None:
    s = CategoricalSketch.zero(4).update(["a", "b", "c", "d", "e", "f"])
    c = s.copy()
    assert c == s and c.to_bytes() == s.to_bytes()
    c.update(["g"])
    assert c != s
    assert s != CategoricalSketch.zero(4) and s != 3
    assert "CategoricalSketch(" in repr(s)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(max_size=3), max_size=80), st.integers(1, 12))
def test_sample_invariants(values: list[str], k: int) -> None:
    s = CategoricalSketch.zero(k).update(values)
    truth = Counter(values)
    kept = s.counts()
    assert all(kept[v] == truth[v] for v in kept)
    assert s.other == len(values) - sum(kept.values()) >= 0
    assert s.is_exact == (len(truth) <= k)
    if s.is_exact:
        assert kept == dict(truth) and s.distinct == len(truth)
    else:
        assert len(kept) == k
        assert set(kept) == set(sorted(truth, key=lambda v: (_rank(v), v))[:k])
    for v in truth:
        assert s.estimate(v) >= truth[v]


@given(
    st.dictionaries(st.text(min_size=1, max_size=4), st.integers(1, 50), max_size=40),
    st.integers(0, 20),
    st.integers(1, 16),
)
def test_update_counts_equals_update_of_the_repeated_values(
    counts: dict[str, int], nulls: int, cap: int
) -> None:
    values = [v for v, c in counts.items() for _ in range(c)]
    a = CategoricalSketch.zero(cap).update(values, nulls=nulls)
    b = CategoricalSketch.zero(cap).update_counts(counts, nulls=nulls)
    assert a == b and a.to_bytes() == b.to_bytes()


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.text(max_size=3), min_size=0, max_size=12, unique=True),
    st.lists(st.integers(-1, 11), max_size=120),
    st.integers(1, 8),
    st.lists(st.text(max_size=3), max_size=30),
)
def test_update_codes_equals_update_of_the_values(
    cats: list[str], raw_codes: list[int], cap: int, before: list[str]
) -> None:
    # codes into the batch's distinct values (-1 = null), some categories unused
    codes = np.array([c if c < len(cats) else -1 for c in raw_codes], dtype=np.int32)
    values = [None if c < 0 else cats[c] for c in codes.tolist()]
    a = CategoricalSketch.zero(cap).update(before).update(values)
    b = CategoricalSketch.zero(cap).update(before).update_codes(codes, np.array(cats, dtype=object))
    assert a == b and a.to_bytes() == b.to_bytes()


def test_update_codes_refuses_codes_outside_the_categories() -> None:
    s = CategoricalSketch.zero()
    with pytest.raises(ValueError, match="codes must be in"):
        s.update_codes(np.array([0, 2], dtype=np.int32), ["a", "b"])
    with pytest.raises(ValueError, match="codes must be in"):
        s.update_codes(np.array([-2], dtype=np.int32), ["a"])
    assert s.total == 0
