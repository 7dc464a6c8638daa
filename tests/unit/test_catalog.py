"""The model registry: feature forms, lookups, references and alert rules."""

from __future__ import annotations

import datetime as dt
import doctest
from typing import Any

import pytest
from pydantic import ValidationError

import stream.catalog
from stream.catalog import (
    AlertRules,
    Catalog,
    FeatureSpec,
    FileReference,
    ModelSpec,
    TopicReference,
)

FRAUD: dict[str, Any] = {
    "prediction": "numeric",
    "features": {
        "amount": "numeric",
        "n_items": {"kind": "numeric", "seasonal": False},
        "country": "categorical",
        "device": {"kind": "categorical", "thresholds": {"psi": 0.25}},
    },
}


def catalog(**models: dict[str, Any]) -> Catalog:
    return Catalog.model_validate(models)


def test_doctests() -> None:
    assert doctest.testmod(stream.catalog).failed == 0


def test_short_and_long_feature_forms() -> None:
    spec = catalog(**{"fraud-v3": FRAUD}).model("fraud-v3")
    assert spec.name == "fraud-v3"
    assert [f.name for f in spec.features] == ["amount", "n_items", "country", "device"]
    assert spec.feature("amount") == FeatureSpec(name="amount", kind="numeric")
    assert spec.feature("amount").seasonal == "auto"
    assert spec.feature("n_items").seasonal is False
    assert dict(spec.feature("device").thresholds) == {"psi": 0.25}


def test_prediction_is_a_monitored_column() -> None:
    spec = catalog(m=FRAUD).model("m")
    assert spec.prediction == FeatureSpec(name="prediction", kind="numeric")
    assert spec.numeric_features == ("amount", "n_items", "prediction")
    assert spec.categorical_features == ("country", "device")
    assert spec.kinds == {
        "amount": "numeric",
        "n_items": "numeric",
        "country": "categorical",
        "device": "categorical",
        "prediction": "numeric",
    }
    assert spec.kind_of("prediction") == "numeric"
    named = catalog(m={**FRAUD, "prediction": {"name": "score", "kind": "categorical"}})
    assert named.model("m").categorical_features == ("country", "device", "score")
    long = catalog(m={**FRAUD, "prediction": {"kind": "numeric", "seasonal": True}})
    assert long.model("m").monitored[-1] == FeatureSpec(
        name="prediction", kind="numeric", seasonal=True
    )


def test_model_without_prediction() -> None:
    spec = catalog(m={"features": {"x": "numeric"}}).model("m")
    assert spec.prediction is None
    assert spec.monitored == spec.features


def test_lookups() -> None:
    cat = catalog(a={"features": {"x": "numeric"}}, b={"features": {"y": "categorical"}})
    assert cat.names == ("a", "b")
    assert len(cat) == 2 and "a" in cat and "zz" not in cat
    assert cat.get("zz") is None
    assert [s.name for s in cat.specs()] == ["a", "b"]
    with pytest.raises(KeyError, match="unknown model 'zz' \\(known: a, b\\)"):
        cat.model("zz")
    with pytest.raises(KeyError, match="model 'a' has no feature 'q'"):
        cat.model("a").feature("q")


def test_catalog_of_specs() -> None:
    a = ModelSpec.model_validate({"name": "a", "features": {"x": "numeric"}})
    assert Catalog.of(a).model("a") is a
    with pytest.raises(ValueError, match="duplicate model 'a'"):
        Catalog.of(a, a)


def test_specs_are_frozen() -> None:
    spec = catalog(m=FRAUD).model("m")
    with pytest.raises(ValidationError):
        spec.name = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("model", "loc", "fragment"),
    [
        ({"features": {"a": "numbr"}}, ("m", "features", "a", "kind"), "'numeric' or"),
        ({"features": {}}, ("m", "features"), "at least 1"),
        ({"features": {"a b": "numeric"}}, ("m", "features", "a b", "name"), "pattern"),
        (
            {"features": {"a": {"kind": "numeric", "seasonal": "yes"}}},
            ("m", "features", "a", "seasonal"),
            "True, False or 'auto'",
        ),  # noqa: E501
        (
            {"features": {"a": {"kind": "numeric", "thresholds": {"linf": 1.0}}}},
            ("m", "features", "a"),
            "unknown numeric measure 'linf'",
        ),  # noqa: E501
        (
            {"features": {"a": {"kind": "numeric", "thresholds": {"psi": -1.0}}}},
            ("m", "features", "a", "thresholds", "psi"),
            "greater than 0",
        ),  # noqa: E501
        (
            {"features": {"a": "numeric"}, "prediction": "text"},
            ("m", "prediction", "kind"),
            "'numeric' or",
        ),  # noqa: E501
        (
            {"features": {"prediction": "numeric"}, "prediction": "numeric"},
            ("m",),
            "duplicate feature 'prediction'",
        ),  # noqa: E501
        ({"features": {"a": "numeric"}, "owner": "me"}, ("m", "owner"), "Extra inputs"),
    ],
)
def test_invalid_models(model: dict[str, Any], loc: tuple[str, ...], fragment: str) -> None:
    with pytest.raises(ValidationError) as info:
        catalog(m=model)
    first = info.value.errors()[0]
    assert first["loc"] == loc
    assert fragment in first["msg"]


def test_model_name_must_be_safe_for_keys() -> None:
    with pytest.raises(ValidationError, match="pattern"):
        catalog(**{"bad name": {"features": {"a": "numeric"}}})
    with pytest.raises(ValidationError, match="differs from its table name"):
        catalog(a={"name": "b", "features": {"a": "numeric"}})


def test_references() -> None:
    spec = catalog(
        m={"features": {"a": "numeric"}, "reference": {"source": "file", "path": "r.ndjson"}}
    ).model("m")
    assert spec.reference == FileReference(source="file", path="r.ndjson")
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    topic = catalog(
        m={
            "features": {"a": "numeric"},
            "reference": {
                "source": "topic",
                "start_ms": start,
                "end_ms": 1_767_312_000_000,
                "version": "v2",
            },
        }
    ).model("m")
    assert topic.reference == TopicReference(
        source="topic", start_ms=1_767_225_600_000, end_ms=1_767_312_000_000, version="v2"
    )
    redis = catalog(
        m={"features": {"a": "numeric"}, "reference": {"source": "redis", "name": "train"}}
    )
    assert redis.model("m").reference is not None


@pytest.mark.parametrize(
    ("reference", "fragment"),
    [
        ({"source": "topic", "start_ms": 5, "end_ms": 5}, "must be after start_ms"),
        ({"source": "topic", "start_ms": dt.datetime(2026, 1, 1), "end_ms": 9}, "UTC offset"),  # noqa: DTZ001
        ({"source": "redis"}, "Field required"),
        ({"path": "x"}, "Unable to extract tag"),
    ],
)
def test_bad_references(reference: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValidationError, match=fragment):
        catalog(m={"features": {"a": "numeric"}, "reference": reference})


def test_threshold_names_are_the_measure_registry_names() -> None:
    from stream.core.measures.registry import specs

    for kind in ("numeric", "categorical"):
        assert stream.catalog.metric_names(kind) == {s.name for s in specs(kind)}
    spec = catalog(m={"features": {"a": {"kind": "numeric", "thresholds": {"ks": 0.1}}}})
    assert dict(spec.model("m").feature("a").thresholds) == {"ks": 0.1}


def test_alert_rules_defaults_and_baselines() -> None:
    rules = AlertRules()
    assert rules.consecutive_breaches >= 1 and rules.resolve_after >= 1
    assert rules.windows == ("hour", "day")
    # Without a reference the default baselines simply skip it ...
    spec = catalog(m={"features": {"a": "numeric"}}).model("m")
    assert spec.baselines == ("previous", "seasonal")
    # ... but asking for it explicitly is an error.
    with pytest.raises(ValidationError, match="'reference' needs a"):
        catalog(m={"features": {"a": "numeric"}, "alerts": {"baselines": ["reference"]}})


@pytest.mark.parametrize(
    ("alerts", "fragment"),
    [
        ({"windows": ["hour", "hour"]}, "duplicate entries"),
        ({"windows": []}, "at least 1"),
        ({"consecutive_breaches": 0}, "greater than or equal to 1"),
        ({"severity": "page"}, "'critical', 'error', 'warning' or 'info'"),
        ({"false_alarm_budget": 0.0}, "greater than 0"),
        ({"cooldown_ms": 1.5}, "valid integer"),
    ],
)
def test_bad_alert_rules(alerts: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValidationError, match=fragment):
        catalog(m={"features": {"a": "numeric"}, "alerts": alerts})
