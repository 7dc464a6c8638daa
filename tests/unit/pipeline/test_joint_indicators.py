"""Categorical indicators end to end in memory: events → parser → joint sketch → decision.

Reference: 3 days at 1,500 events/hour of 4 numeric and 2 categorical features, with
``c0 = a`` tied to ``n0`` (ρ ≈ +0.6) and ``c1 = u`` tied to ``c0 = a`` (ρ ≈ +0.7).
Each flip below keeps every marginal (n0's distribution, every category's share) and
reverses one association: the joint member pages naming that pair; quiet hours do not.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from stream.catalog import ModelSpec
from stream.core.calibrate import alpha_per_test
from stream.core.joint import JointCalibration, align_indicators, calibrate_joint, decide_joint
from stream.core.sketch import JointSketch
from stream.core.window import HOUR_MS
from stream.pipeline.reference import ReferenceBuilder

PER_HOUR = 1_500
REF_HOURS = 72
START = 1_767_225_600_000  # 2026-01-01T00:00Z
ALPHA = alpha_per_test(1.0, 6 * 4 + 2, "hour")
RAW = {
    "name": "m",
    "features": {
        **{f"n{i}": "numeric" for i in range(4)},
        "c0": "categorical",
        "c1": "categorical",
    },
    "joint": {"indicators": {"c0": ["a", "b"], "c1": ["u"]}},
}
SPEC = ModelSpec.model_validate(RAW)


def _events(
    rng: np.random.Generator, hour: int, num_cat: float, cat_cat: float, model: str = "m"
) -> list[bytes]:
    n = PER_HOUR
    x = rng.standard_normal((n, 4))
    a = num_cat * 0.8 * x[:, 0] + 0.6 * rng.standard_normal(n) > 0  # P(a) = 1/2 always
    c0 = np.where(a, "a", np.where(rng.random(n) < 0.5, "b", "c"))
    same = rng.random(n) < 0.85
    u = np.where(same, a, ~a) if cat_cat > 0 else np.where(same, ~a, a)  # P(u) = 1/2
    c1 = np.where(u, "u", "v")
    ts = START + hour * HOUR_MS + np.sort(rng.integers(0, HOUR_MS, n))
    return [
        json.dumps(
            {
                "model": model,
                "ts": int(ts[i]),
                "features": {
                    **{f"n{j}": float(x[i, j]) for j in range(4)},
                    "c0": str(c0[i]),
                    "c1": str(c1[i]),
                },
            }  # fmt: skip
        ).encode()
        for i in range(n)
    ]


def _hours(
    seed: int, hours: range, num_cat: float = 1.0, cat_cat: float = 1.0
) -> dict[int, JointSketch]:
    rng = np.random.default_rng(seed)
    builder = ReferenceBuilder(SPEC, "t")
    for h in hours:
        events = _events(rng, h, num_cat, cat_cat)
        builder.add(events, [START + h * HOUR_MS] * len(events))
    return builder.build().joint_hours


@pytest.fixture(scope="module")
def reference() -> tuple[JointSketch, JointCalibration]:
    hours = _hours(1, range(REF_HOURS))
    ref = JointSketch.zero(*next(iter(hours.values())).layout)
    for s in hours.values():
        ref = ref.merge(s)
    return ref, calibrate_joint(hours, "hour")


def test_reference_holds_the_declared_indicators(
    reference: tuple[JointSketch, JointCalibration],
) -> None:
    ref, cal = reference
    assert ref.columns == ("n0", "n1", "n2", "n3", "c0=a", "c0=b", "c1=u")
    assert ref.rows == REF_HOURS * PER_HOUR
    assert ref.correlation(0, 4) == pytest.approx(0.64, abs=0.05)
    assert ref.correlation(4, 6) == pytest.approx(0.7, abs=0.05)
    assert cal.n_windows == REF_HOURS


@pytest.mark.parametrize(
    ("flip", "pair"),
    [({"num_cat": -1.0}, ["n0", "c0=a"]), ({"cat_cat": -1.0}, ["c0=a", "c1=u"])],
)
def test_an_association_flip_pages_naming_the_pair(
    reference: tuple[JointSketch, JointCalibration], flip: dict[str, float], pair: list[str]
) -> None:
    ref, cal = reference
    (win,) = _hours(7, range(REF_HOURS, REF_HOURS + 1), **flip).values()
    d = decide_joint(ref, win, cal, alpha=ALPHA)
    assert d.breach and d.decisive
    assert d.details["pairs"][0]["pair"] == pair
    assert "~".join(pair) in d.reasons[0]


def test_quiet_hours_do_not_page(reference: tuple[JointSketch, JointCalibration]) -> None:
    ref, cal = reference
    windows = _hours(9, range(REF_HOURS, REF_HOURS + 24))
    decisions = [decide_joint(ref, w, cal, alpha=ALPHA) for w in windows.values()]
    assert len(decisions) == 24 and all(d.metrics for d in decisions)  # all judged
    assert [d for d in decisions if d.breach] == []


def test_a_reference_built_before_indicators_judges_numeric_columns_only(
    reference: tuple[JointSketch, JointCalibration],
) -> None:
    ref, _ = reference
    old = ref.without_indicators()  # what a reference built before this change holds
    (win,) = _hours(7, range(REF_HOURS, REF_HOURS + 1), num_cat=-1.0).values()
    aligned, why = align_indicators(old, win)
    assert why is not None and "rebuild" in why and "3 indicator column(s)" in why
    assert aligned.columns == old.columns
    old.check_compatible(aligned)
    assert not decide_joint(old, aligned, None, alpha=ALPHA).breach  # numbers did not move
    # Same layouts: nothing to say, nothing dropped.
    assert align_indicators(ref, win) == (win, None)


@pytest.mark.parametrize(
    ("joint", "error"),
    [
        ({"indicators": {"n0": ["a"]}}, "'n0' is not a categorical feature"),
        ({"indicators": {"c0": []}}, "one or more distinct categories"),
        ({"indicators": {"c0": ["a", "a"]}}, "one or more distinct categories"),
        ({"indicators": {"c0": ["a", "b"]}, "max_categories": 1}, "over joint.max_categories"),
        ({"indicators": {"c0": ["a"], "c1": ["u"]}, "max_indicators": 1}, "max_indicators = 1"),
    ],
)
def test_declared_indicators_are_checked(joint: dict[str, object], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        ModelSpec.model_validate(RAW | {"joint": joint})


def test_indicators_need_the_joint_member_on() -> None:
    assert SPEC.joint_indicators == (("c0", "a"), ("c0", "b"), ("c1", "u"))
    with pytest.raises(ValueError, match="declared but the joint member is off"):
        ModelSpec.model_validate(RAW | {"joint": {**RAW["joint"], "enabled": False}})
    one = {"n0": "numeric", "c0": "categorical"}
    with pytest.raises(ValueError, match="declared but the joint member is off"):
        ModelSpec.model_validate(RAW | {"features": one})
    assert ModelSpec.model_validate(RAW | {"joint": {}}).joint_indicators == ()


def test_ingest_and_rollup_of_any_partitioning_equal_one_sketch_with_indicators() -> None:
    from stream.core.sketch.joint import indicator_values
    from stream.pipeline.memory import MemorySketchStore, MemoryWindowStore
    from stream.pipeline.ports import JOINT_KEY
    from stream.pipeline.rollup import roll_up
    from stream.synth import Drift, SyntheticStream
    from tests.unit.pipeline.test_joint_pipeline import FEATS, _ingest
    from tests.unit.pipeline.test_rollup import store_partition

    spec = ModelSpec.model_validate(
        {"name": "m", "features": FEATS, "joint": {"indicators": {"c": ["c0", "c2"]}}}
    )
    gen = SyntheticStream(
        spec, start_ms=START, events_per_hour=900, seed=2,
        drifts=[Drift("c", "null", 0.1, 0), Drift("d", "null", 0.2, 0)],
    )  # fmt: skip
    n = 2_000
    ts, cols = gen.columns(0, n)
    hour = START + HOUR_MS
    rows = (ts >= hour) & (ts < hour + HOUR_MS)
    x = np.array([[np.nan if v is None else v for v in cols[c]] for c in "abd"]).T[rows]
    cats = np.asarray(cols["c"], dtype=object)[rows]
    nulls = np.array([v is None for v in cats])
    inds = [indicator_values(cats, nulls, c) for c in ("c0", "c2")]
    direct = JointSketch.zero(("a", "b", "d"), (), (("c", "c0"), ("c", "c2")))
    direct.update(np.column_stack([x, *inds]))
    blobs = []
    for parts in (1, 3):
        sketches = MemorySketchStore()
        fw = MemoryWindowStore(sketches)
        for p, hours in _ingest(spec, gen, n, parts).items():
            store_partition(p, START + 10 * HOUR_MS, hours, sketches)
            fw.add_pending("m", list(hours))
        windows = {w.key.start_ms: w for w in roll_up(spec, fw).hours}
        blobs.append(windows[hour].sketches[JOINT_KEY])
    assert blobs[0] == blobs[1] == direct.to_bytes()
    got = JointSketch.from_bytes(blobs[0])
    assert got.columns[3:] == ("c=c0", "c=c2")
    assert 0 < got.missing(3) < got.rows  # c's nulls are missing for its indicators


def test_evaluator_says_once_that_an_old_reference_has_no_indicator_columns() -> None:
    from tests.unit.pipeline.evalsim import Scenario, reference_for, run_scenario, wide_spec

    old = wide_spec("m", numeric=3, categorical=1)
    new = wide_spec("m", numeric=3, categorical=1, joint={"indicators": {"c0": ["c0", "c1"]}})
    ref_sketches, cal, _ = reference_for(old, Scenario("ref", per_hour=300))
    run = run_scenario(new, Scenario("s", days=1, per_hour=300), (ref_sketches, cal))
    said = [n for n in run.notes if "categorical indicators not judged" in n]
    assert len(said) == 1 and "rebuild" in said[0] and "2 indicator column(s)" in said[0]
    judged = [
        d
        for (_, _k, b), ds in run.store.committed.items()
        for d in ds
        if d["feature"] == "joint" and b == "reference" and d["metrics"]
    ]
    assert len(judged) == 24 + 1  # still judged on the numeric columns, every window
    assert not [n for n in run.notes if "not comparable" in n]
