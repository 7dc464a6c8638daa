"""A registered model (``ModelSpec``) and the registry of all of them (``Catalog``)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    RootModel,
    TypeAdapter,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)

from stream.catalog._fields import _STRICT
from stream.catalog.features import FeatureSpec
from stream.catalog.labels import LabelSpec
from stream.catalog.references import ReferenceSpec
from stream.catalog.rules import JOINT_MEMBER, AlertRules, JointRules
from stream.core.vocabulary import Baseline, Kind

__all__ = ["MODEL_NAME_PATTERN", "PREDICTION_KEY", "Catalog", "ModelName", "ModelSpec"]

#: Event key that carries the prediction (DESIGN "Event contract"); its column name is
#: ``ModelSpec.prediction.name``.
PREDICTION_KEY = "prediction"

MODEL_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"

ModelName = Annotated[str, Field(pattern=MODEL_NAME_PATTERN)]


def _feature_input(name: str, value: Any) -> Any:
    """Short form ``"numeric"`` or long form table → FeatureSpec input with its name."""
    if isinstance(value, str):
        return {"name": name, "kind": value}
    if isinstance(value, Mapping):
        return {"name": name, **value}
    return value  # let pydantic report the wrong type at this key


_FEATURE_TABLE: TypeAdapter[dict[str, FeatureSpec]] = TypeAdapter(dict[str, FeatureSpec])


class ModelSpec(BaseModel):
    """A registered model: features (+ optional prediction), reference and alert rules."""

    model_config = _STRICT

    name: ModelName = Field(description="Model name, as in the event's `model` field.")
    features: tuple[FeatureSpec, ...] = Field(
        min_length=1,
        description='Features: `name = "numeric"|"categorical"` or a table '
        "{ kind, seasonal, thresholds }.",
    )
    prediction: FeatureSpec | None = Field(
        default=None,
        description='Monitor the event\'s `prediction` like a feature: "numeric", '
        '"categorical" or { name, kind, seasonal, thresholds } (name defaults to '
        "'prediction').",
    )
    reference: ReferenceSpec | None = Field(
        default=None,
        description='Reference profile: { source = "file", path } | { source = "topic", '
        'start_ms, end_ms } | { source = "redis", name }; plus version.',
    )
    alerts: AlertRules = Field(default_factory=AlertRules, description="Alert rules.")
    joint: JointRules = Field(
        default_factory=JointRules, description="Multivariate (joint) drift member."
    )
    labels: LabelSpec | None = Field(
        default=None,
        description="Ground truth: { kind, positive, threshold, max_label_delay_ms } or "
        "{ classes, max_label_delay_ms } (multiclass) or { kind = 'regression', "
        "max_label_delay_ms } (regression); absent: the model's labels are not consumed.",
    )

    @field_validator("features", mode="wrap")
    @classmethod
    def _feature_table(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        # The TOML table form keeps error locations by feature name (features.amount.kind).
        if isinstance(value, Mapping):
            table = {str(k): _feature_input(str(k), v) for k, v in value.items()}
            return handler(tuple(_FEATURE_TABLE.validate_python(table).values()))
        return handler(value)

    @field_validator("prediction", mode="before")
    @classmethod
    def _prediction_short(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"name": PREDICTION_KEY, "kind": value}
        if isinstance(value, Mapping) and "name" not in value:
            return {"name": PREDICTION_KEY, **value}
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ModelSpec:
        seen: set[str] = set()
        for f in self.monitored:
            if f.name in seen:
                where = "prediction.name" if f is self.prediction else "features"
                msg = f"{where}: duplicate feature {f.name!r}"
                raise ValueError(msg)
            seen.add(f.name)
        chosen = self.joint.columns
        if self.joint.enabled and chosen is not None:
            numeric = {f.name for f in self.features if f.kind == "numeric"}
            bad = [c for c in chosen if c not in numeric]
            if bad or len(set(chosen)) != len(chosen) or not 2 <= len(chosen):
                msg = "joint.columns: needs two or more distinct numeric features of the model" + (
                    f"; not numeric features: {bad}" if bad else ""
                )
                raise ValueError(msg)
            if len(chosen) > self.joint.max_columns:
                msg = (
                    f"joint.columns: {len(chosen)} columns over joint.max_columns = "
                    f"{self.joint.max_columns}: raise it or name fewer"
                )
                raise ValueError(msg)
        self._check_indicators()
        if self.joint.enabled and JOINT_MEMBER in seen and len(self.joint_columns[0]) >= 2:
            msg = (
                f"features: {JOINT_MEMBER!r} is the name of the joint member: rename the "
                "feature or set joint.enabled = false"
            )
            raise ValueError(msg)
        explicit = "baselines" in self.alerts.model_fields_set
        if self.reference is None and explicit and "reference" in self.alerts.baselines:
            msg = "alerts.baselines: 'reference' needs a [reference] table for this model"
            raise ValueError(msg)
        return self

    def _check_indicators(self) -> None:
        rules = self.joint
        if rules.indicators and not self.joint_columns[0]:
            msg = (
                "joint.indicators: declared but the joint member is off (joint.enabled = "
                "false, or fewer than two numeric features): remove them or turn it on"
            )
            raise ValueError(msg)
        categorical = set(self.categorical_features)
        for feature, cats in rules.indicators.items():
            if feature not in categorical:
                msg = f"joint.indicators: {feature!r} is not a categorical feature of the model"
                raise ValueError(msg)
            if not cats or len(set(cats)) != len(cats):
                msg = f"joint.indicators.{feature}: needs one or more distinct categories"
                raise ValueError(msg)
            if len(cats) > rules.max_categories:
                msg = (
                    f"joint.indicators.{feature}: {len(cats)} categories over "
                    f"joint.max_categories = {rules.max_categories}: raise it or name fewer"
                )
                raise ValueError(msg)
        total = sum(len(c) for c in rules.indicators.values())
        if total > rules.max_indicators:
            msg = (
                f"joint.indicators: {total} indicator columns over joint.max_indicators = "
                f"{rules.max_indicators}: raise it or name fewer"
            )
            raise ValueError(msg)
        if self.joint.enabled and len(self.joint_columns[0]) + total > 256:
            msg = "joint: numeric columns plus indicators over 256 columns: name fewer"
            raise ValueError(msg)
        names = {f.name for f in self.monitored}
        clash = [
            f"{f}={c}" for f, cs in rules.indicators.items() for c in cs if f"{f}={c}" in names
        ]
        if clash:
            msg = f"joint.indicators: {clash[0]!r} is also a feature's name: rename one"
            raise ValueError(msg)

    @property
    def joint_indicators(self) -> tuple[tuple[str, str], ...]:
        """(feature, category) of each indicator column, in declaration order; () when off.

        Off when the joint member is (fewer than two numeric features) or none are declared.
        """
        if not self.joint_columns[0]:
            return ()
        return tuple((f, c) for f, cats in self.joint.indicators.items() for c in cats)

    @property
    def joint_columns(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(columns in the joint sketch, numeric features over the cap); both empty when off.

        ``joint.columns`` when declared, else numeric features (not the prediction) in
        declaration order up to ``joint.max_columns``; fewer than two means no joint member.
        """
        numeric = tuple(f.name for f in self.features if f.kind == "numeric")
        if not self.joint.enabled or len(numeric) < 2:
            return (), ()
        chosen = self.joint.columns
        if chosen is not None:
            return tuple(chosen), tuple(n for n in numeric if n not in chosen)
        cap = self.joint.max_columns
        return numeric[:cap], numeric[cap:]

    @property
    def monitored(self) -> tuple[FeatureSpec, ...]:
        """Every monitored column: the features, then the prediction when declared."""
        if self.prediction is None:
            return self.features
        return (*self.features, self.prediction)

    @property
    def numeric_features(self) -> tuple[str, ...]:
        """Names of numeric columns (prediction included when numeric), declaration order."""
        return tuple(f.name for f in self.monitored if f.kind == "numeric")

    @property
    def categorical_features(self) -> tuple[str, ...]:
        """Names of categorical columns (prediction included when categorical)."""
        return tuple(f.name for f in self.monitored if f.kind == "categorical")

    @property
    def kinds(self) -> dict[str, Kind]:
        """Column name → kind, for every monitored column."""
        return {f.name: f.kind for f in self.monitored}

    @property
    def baselines(self) -> tuple[Baseline, ...]:
        """Baselines that apply: 'reference' only when a reference is configured."""
        return tuple(b for b in self.alerts.baselines if b != "reference" or self.reference)

    def feature(self, name: str) -> FeatureSpec:
        """The monitored column called ``name`` (KeyError names the model when absent)."""
        for f in self.monitored:
            if f.name == name:
                return f
        msg = f"model {self.name!r} has no feature {name!r}"
        raise KeyError(msg)

    def kind_of(self, name: str) -> Kind:
        """Kind of the monitored column ``name``."""
        return self.feature(name).kind


class Catalog(RootModel[dict[str, ModelSpec]]):
    """All registered models by name; the ``[models]`` table of the config.

    >>> cat = Catalog.model_validate({"m1": {"features": {"x": "numeric"}}})
    >>> cat.names, "m1" in cat, cat.get("nope") is None
    (('m1',), True, True)
    """

    model_config = ConfigDict(strict=True, frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _inject_names(cls, value: Any) -> Any:
        # The table key is the model's name: [models.fraud-v3] → ModelSpec(name="fraud-v3").
        if isinstance(value, Mapping):
            return {
                k: ({"name": k, **v} if isinstance(v, Mapping) and "name" not in v else v)
                for k, v in value.items()
            }
        return value

    @model_validator(mode="after")
    def _names_match_keys(self) -> Catalog:
        for key, spec in self.root.items():
            if spec.name != key:
                msg = f"{key}.name: {spec.name!r} differs from its table name {key!r}"
                raise ValueError(msg)
        return self

    @classmethod
    def of(cls, *models: ModelSpec) -> Catalog:
        """A catalog of the given specs (names must be unique)."""
        root: dict[str, ModelSpec] = {}
        for m in models:
            if m.name in root:
                msg = f"duplicate model {m.name!r}"
                raise ValueError(msg)
            root[m.name] = m
        return cls(root)

    @property
    def names(self) -> tuple[str, ...]:
        """Model names in declaration order."""
        return tuple(self.root)

    def get(self, name: str) -> ModelSpec | None:
        """The model called ``name``, or None."""
        return self.root.get(name)

    def model(self, name: str) -> ModelSpec:
        """The model called ``name``; KeyError lists the known names when absent."""
        spec = self.root.get(name)
        if spec is None:
            msg = f"unknown model {name!r} (known: {', '.join(self.root) or 'none'})"
            raise KeyError(msg)
        return spec

    def __contains__(self, name: object) -> bool:
        return name in self.root

    def specs(self) -> Iterator[ModelSpec]:
        """The model specs in declaration order."""
        return iter(self.root.values())

    def __len__(self) -> int:
        return len(self.root)
