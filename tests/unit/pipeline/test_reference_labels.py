"""A reference's labels become its performance state (the baseline of health decisions)."""

from __future__ import annotations

import io
from dataclasses import replace

import numpy as np
import orjson

from stream.catalog import ModelSpec
from stream.core.performance import BinaryPerformance
from stream.pipeline.reference import ReferenceBuilder, csv_events

SPEC = ModelSpec.model_validate(
    {
        "name": "m",
        "features": {"x": "numeric"},
        "prediction": "numeric",
        "labels": {"positive": "fraud", "negative": "ok", "threshold": 0.5},
    }
)


def test_labelled_events_fold_into_the_reference_performance() -> None:
    rng = np.random.default_rng(2)
    y = rng.random(3000) < 0.2
    s = np.clip(rng.normal(np.where(y, 0.7, 0.3), 0.15), 0, 1)
    values = [
        orjson.dumps(
            {
                "model": "m",
                "ts": 0,
                "features": {"x": 1.0},
                "prediction": float(si),
                "label": "fraud" if yi else "ok",
            }
        )
        for si, yi in zip(s, y, strict=True)
    ]
    values += [
        orjson.dumps({"model": "m", "ts": 0, "features": {"x": 1.0}, "prediction": 0.2}),
        orjson.dumps(
            {"model": "m", "ts": 0, "features": {"x": 1.0}, "prediction": 0.2, "label": "?"}
        ),
        orjson.dumps(
            {"model": "m", "ts": 0, "features": {"x": 1.0}, "prediction": 2, "label": "ok"}
        ),
    ]
    b = ReferenceBuilder(SPEC, "training")
    b.add(values)
    ref = b.build()
    expected = BinaryPerformance.zero()
    expected.update(s, y, threshold=0.5)
    # The reference carries its between-window spread (one hour here: no fit, τ² = 0).
    assert ref.performance is not None and ref.performance.spread is not None
    assert replace(ref.performance, spread=None) == expected
    assert (ref.unlabelled, ref.label_rejected) == (1, 2)
    summary = ref.describe()
    assert summary["labels"] == 3000 and summary["auc"] == expected.auc()


def test_a_label_column_of_a_csv_reference_reaches_the_events() -> None:
    text = "x,prediction,label\n1.5,0.9,fraud\n2.5,0.1,ok\n3.5,0.2,\n"
    events = [orjson.loads(e) for e in csv_events(io.StringIO(text), "m", SPEC)]
    assert [e.get("label") for e in events] == ["fraud", "ok", None]
    b = ReferenceBuilder(SPEC, "training")
    b.add(list(csv_events(io.StringIO(text), "m", SPEC)))
    ref = b.build()
    assert ref.performance is not None and ref.performance.n == 2
    assert ref.performance.tp == 1 and ref.performance.tn == 1 and ref.unlabelled == 1
