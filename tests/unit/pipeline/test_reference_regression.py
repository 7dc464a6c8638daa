"""A regression reference's labels become its error-moment state (the baseline of its health)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import orjson

from stream.catalog import ModelSpec
from stream.core.regression import RegressionPerformance
from stream.pipeline.reference import ReferenceBuilder, csv_events

SPEC = ModelSpec.model_validate(
    {
        "name": "m",
        "features": {"x": "numeric"},
        "prediction": "numeric",
        "labels": {"kind": "regression"},
    }
)


def test_labelled_events_fold_into_the_reference_regression_state() -> None:
    rng = np.random.default_rng(4)
    y = rng.normal(20.0, 5.0, 2000)
    p = y + rng.normal(0.0, 1.0, 2000)

    def event(t: object, q: object) -> bytes:
        body = {"model": "m", "ts": 0, "features": {"x": 1.0}, "prediction": q}
        return orjson.dumps(body if t is None else body | {"label": t})

    values = [event(float(a), float(b)) for a, b in zip(y, p, strict=True)]
    values += [event(None, 1.0), event("12", 1.0), event(1.0, "x"), event(True, 1.0)]
    values += [event(1e60, 1.0), event(2.0, None)]
    b = ReferenceBuilder(SPEC, "training")
    b.add(values[:700])
    b.add(values[700:])  # batching does not matter: exact sums
    ref = b.build()
    expected = RegressionPerformance()
    expected.update(y, p)
    assert ref.regression is not None and ref.regression.spread is not None  # one hour: τ² = 0
    assert replace(ref.regression, spread=None) == expected
    assert ref.performance is None and ref.multiclass is None
    assert (ref.unlabelled, ref.label_rejected) == (1, 5)
    summary = ref.describe()
    assert summary["labels"] == 2000 and summary["mae"] == expected.mae
    assert summary["rmse"] == expected.rmse and abs(summary["rmse"] - 1.0) < 0.05
    assert "auc" not in summary and "accuracy" not in summary


def test_a_csv_reference_reads_numeric_targets() -> None:
    rows = ["x,prediction,label", "1.0,2.5,2.0", "2.0,3.0,3.5", "3.0,1.0,n/a"]
    values = list(csv_events(rows, "m", SPEC))
    assert orjson.loads(values[0])["label"] == 2.0
    b = ReferenceBuilder(SPEC, "csv")
    b.add(values)
    ref = b.build()
    assert ref.regression is not None and ref.regression.n == 2
    assert ref.regression.mae == 0.5 and ref.label_rejected == 1
