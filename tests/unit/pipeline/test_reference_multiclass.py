"""A multiclass reference's labels become its confusion state (the baseline of its health)."""

from __future__ import annotations

import numpy as np
import orjson

from stream.catalog import ModelSpec
from stream.core.multiclass import MulticlassPerformance
from stream.pipeline.reference import ReferenceBuilder

SPEC = ModelSpec.model_validate(
    {
        "name": "m",
        "features": {"x": "numeric"},
        "prediction": "categorical",
        "labels": {"classes": ["a", "b", 3]},
    }
)
NAMES = ["a", "b", 3]


def test_labelled_events_fold_into_the_reference_confusion_state() -> None:
    rng = np.random.default_rng(4)
    true = rng.choice(3, size=2000, p=[0.5, 0.3, 0.2])
    pred = np.where(rng.random(2000) < 0.8, true, (true + 1) % 3)

    def event(t: object, p: object, **extra: object) -> bytes:
        body = {"model": "m", "ts": 0, "features": {"x": 1.0}, "prediction": p, **extra}
        return orjson.dumps(body if t is None else body | {"label": t})

    values = [event(NAMES[t], NAMES[p]) for t, p in zip(true, pred, strict=True)]
    values += [event(None, "a"), event("zebra", "a"), event("a", "zebra"), event("a", 1.5)]
    b = ReferenceBuilder(SPEC, "training")
    b.add(values)
    ref = b.build()
    expected = MulticlassPerformance.zero(3)
    expected.update(true, pred)
    assert ref.multiclass is not None and ref.performance is None
    assert MulticlassPerformance(ref.multiclass.counts) == expected
    assert ref.multiclass.spread is not None  # k15c: the between-window spread travels with it
    assert (ref.unlabelled, ref.label_rejected) == (1, 3)
    summary = ref.describe()
    assert summary["labels"] == 2000 and abs(summary["accuracy"] - expected.accuracy) < 1e-12
    assert "macro_f1" in summary and "auc" not in summary
    assert summary["between_window_sd"]["hour/class_share:0"] == 0.0  # one hour: nothing fitted
