"""The model registry: which models exist, their features, reference profile and alert rules.

Pure: frozen pydantic models validated from plain data (the ``[models.*]`` tables of the
config file, which :mod:`stream.settings` reads). Nothing here touches a file, Kafka or Redis.

TOML shape, short and long feature forms::

    [models.fraud-v3]
    prediction = "numeric"                 # or { name = "score", kind = "numeric" }

    [models.fraud-v3.features]
    amount = "numeric"
    n_items = { kind = "numeric", seasonal = false, thresholds = { psi = 0.3 } }
    country = "categorical"

>>> spec = ModelSpec.model_validate(
...     {"name": "fraud-v3", "prediction": "numeric",
...      "features": {"amount": "numeric", "country": "categorical"}})
>>> spec.numeric_features, spec.categorical_features
(('amount', 'prediction'), ('country',))
>>> spec.kind_of("country")
'categorical'
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterator, Mapping
from typing import Annotated, Any, Literal, TypeAlias

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    RootModel,
    Strict,
    TypeAdapter,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)

from stream.core.vocabulary import Baseline, Kind, Scale

__all__ = [
    "PREDICTION_KEY",
    "AlertRules",
    "Catalog",
    "FeatureSpec",
    "FileReference",
    "JOINT_MEMBER",
    "JointRules",
    "LabelSpec",
    "ModelSpec",
    "RedisReference",
    "ReferenceSpec",
    "Severity",
    "TopicReference",
    "metric_names",
]

Severity: TypeAlias = Literal["critical", "error", "warning", "info"]

#: Event key that carries the prediction (DESIGN "Event contract"); its column name is
#: ``ModelSpec.prediction.name``.
PREDICTION_KEY = "prediction"

MODEL_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
FEATURE_NAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}$"
_STRICT = ConfigDict(strict=True, frozen=True, extra="forbid")

ModelName = Annotated[str, Field(pattern=MODEL_NAME_PATTERN)]
FeatureName = Annotated[str, Field(pattern=FEATURE_NAME_PATTERN)]
PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]


class FeatureSpec(BaseModel):
    """One monitored column of a model: a feature, or the model's prediction."""

    model_config = _STRICT

    name: FeatureName = Field(description="Feature key inside the event's `features` object.")
    kind: Kind = Field(
        description="'numeric' (log-bucket sketch) or 'categorical' (counts per value)."
    )
    seasonal: Literal[True, False, "auto"] = Field(
        default="auto",
        description="Compare with the same hour/day last week: true, false, or 'auto' "
        "(on when the reference shows daily/weekly cycles).",
    )
    thresholds: Mapping[str, PositiveFloat] = Field(
        default_factory=dict,
        description="Per-measure threshold overrides by registry name, e.g. { psi = 0.3 }; "
        "unset measures are calibrated from the reference.",
    )

    @model_validator(mode="after")
    def _known_metrics(self) -> FeatureSpec:
        if not self.thresholds:
            return self
        allowed = metric_names(self.kind)
        unknown = sorted(set(self.thresholds) - allowed)
        if unknown:
            msg = (
                f"thresholds: unknown {self.kind} measure {unknown[0]!r} "
                f"(known: {', '.join(sorted(allowed))})"
            )
            raise ValueError(msg)
        return self


@functools.cache
def metric_names(kind: Kind) -> frozenset[str]:
    """Names of the drift measures for ``kind`` (the measures registry's short names).

    Imported on first use: only configs with threshold overrides pay for scipy here.
    """
    from stream.core.measures.registry import specs  # here: keeps settings loading light

    return frozenset(spec.name for spec in specs(kind))


def _feature_input(name: str, value: Any) -> Any:
    """Short form ``"numeric"`` or long form table → FeatureSpec input with its name."""
    if isinstance(value, str):
        return {"name": name, "kind": value}
    if isinstance(value, Mapping):
        return {"name": name, **value}
    return value  # let pydantic report the wrong type at this key


_FEATURE_TABLE: TypeAdapter[dict[str, FeatureSpec]] = TypeAdapter(dict[str, FeatureSpec])


def _ms_from_datetime(value: Any) -> Any:
    """Accept a TOML offset datetime for a millisecond field (naive times are refused)."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            msg = "datetime needs a UTC offset (e.g. 2026-01-05T00:00:00Z)"
            raise ValueError(msg)
        return (value - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(milliseconds=1)
    return value


class FileReference(BaseModel):
    """Reference profile read from a file (sketches or events) built from the training set."""

    model_config = _STRICT

    source: Literal["file"] = Field(description="Reference comes from a file.")
    path: str = Field(
        min_length=1, description="File path; relative paths are relative to the config file."
    )
    version: str | None = Field(
        default=None, description="Version label; changing it invalidates calibrations."
    )


class TopicReference(BaseModel):
    """Reference profile built from a time range of a Kafka topic."""

    model_config = _STRICT

    source: Literal["topic"] = Field(description="Reference comes from a topic time range.")
    topic: str | None = Field(
        default=None, min_length=1, description="Topic to read (default: topics.features)."
    )
    start_ms: int = Field(description="Range start, epoch ms UTC (or an offset datetime).")
    end_ms: int = Field(description="Range end (exclusive), epoch ms UTC (or offset datetime).")
    version: str | None = Field(
        default=None, description="Version label; changing it invalidates calibrations."
    )

    @field_validator("start_ms", "end_ms", mode="before")
    @classmethod
    def _datetimes(cls, value: Any) -> Any:
        return _ms_from_datetime(value)

    @model_validator(mode="after")
    def _ordered(self) -> TopicReference:
        if self.end_ms <= self.start_ms:
            msg = f"end_ms: must be after start_ms ({self.end_ms} <= {self.start_ms})"
            raise ValueError(msg)
        return self


class RedisReference(BaseModel):
    """Reference profile already stored in Redis under a name (e.g. by ``reference build``)."""

    model_config = _STRICT

    source: Literal["redis"] = Field(description="Reference is stored in Redis.")
    name: str = Field(min_length=1, description="Stored reference name.")
    version: str | None = Field(
        default=None, description="Version label; changing it invalidates calibrations."
    )


ReferenceSpec = Annotated[
    FileReference | TopicReference | RedisReference, Field(discriminator="source")
]


class AlertRules(BaseModel):
    """When a model's drift decisions become an alert, and when the alert resolves."""

    model_config = _STRICT

    consecutive_breaches: int = Field(
        default=2, ge=1, description="Breaching windows in a row (same scale) before triggering."
    )
    resolve_after: int = Field(
        default=3, ge=1, description="Clean windows in a row before a 'resolved' alert."
    )
    cooldown_ms: int = Field(
        default=3_600_000, ge=0, description="After resolving, no new trigger for this long."
    )
    severity: Severity = Field(
        default="warning",
        description="Minimum alert severity (critical, error, warning or info); an effect "
        "at least twice its threshold or a broken pipeline raises it to critical.",
    )
    page_on_decisive: bool = Field(
        default=True,
        description="A window whose evidence alone clears the stricter one-window bound "
        "(half the false-alarm budget) pages at once; marginal breaches still need "
        "consecutive_breaches windows.",
    )
    sequential: bool = Field(
        default=True,
        description="Per-feature CUSUM over hourly z-scores (reference and seasonal "
        "baselines) to page slow ramps no single window shows; its false-alarm rate is "
        "set from false_alarm_budget.",
    )
    trailing_day: bool = Field(
        default=True,
        description="Also judge the trailing 24 h (the last 24 hour windows merged) "
        "against the reference every hour, so day-scale drifts page hours after onset; "
        "needs 'day' in windows; its level accounts for the windows' overlap.",
    )
    false_alarm_budget: PositiveFloat = Field(
        default=1.0,
        description="Target expected false alerts per model per 30 days on a no-drift "
        "stream; thresholds are calibrated to it (with multiple-testing control).",
    )
    min_window_events: int = Field(
        default=100, ge=1, description="Windows with fewer events are not evaluated."
    )
    windows: tuple[Scale, ...] = Field(
        default=("hour", "day"),
        min_length=1,
        strict=False,
        description="Window scales evaluated for this model.",
    )
    baselines: tuple[Baseline, ...] = Field(
        default=("reference", "previous", "seasonal"),
        min_length=1,
        strict=False,
        description="Baselines compared with: reference, previous window, seasonal "
        "(same hour/day last week, for seasonal features).",
    )
    runbook_url: str | None = Field(
        default=None, description="Runbook link for this model (default: alerts.runbook_url)."
    )

    @field_validator("windows", "baselines")
    @classmethod
    def _unique(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            msg = f"duplicate entries in {list(value)}"
            raise ValueError(msg)
        return value


JOINT_MEMBER = "joint"
"""Name of the model-level multivariate member in decisions and alerts."""


class JointRules(BaseModel):
    """The model-level ``joint`` member: co-moments of the numeric features together."""

    model_config = _STRICT

    enabled: bool = Field(
        default=True,
        description="Keep exact co-moments of the numeric features (needs two or more) and "
        "judge correlation changes and PCA reconstruction error as the member 'joint'.",
    )
    max_columns: int = Field(
        default=32,
        ge=2,
        le=256,
        description="Numeric features in the joint sketch, in declaration order; the rest "
        "are named in its decisions as not checked (cost grows with its square: see "
        "docs/benchmarks.md, joint drift).",
    )
    columns: tuple[str, ...] | None = Field(
        default=None,
        strict=False,
        description="The numeric features in the joint sketch, in this order (a declared "
        "group, at most max_columns); default: the first max_columns numeric features.",
    )
    indicators: Mapping[str, Annotated[tuple[str, ...], Strict(False)]] = Field(
        default_factory=dict,
        description="Categorical feature → categories judged as 0/1 indicator columns "
        "'feature=category' in the joint sketch (after the numeric ones), so correlation "
        "flips between a number and a category, or two categories, can page. Declared, not "
        "learned: every worker and the reference must sum the same columns from the first "
        "event (default: none).",
    )
    max_indicators: int = Field(
        default=16,
        ge=0,
        le=128,
        description="Most indicator columns (all features together) in joint.indicators; "
        "each adds a column to the joint sketch, whose cost grows with its square.",
    )
    max_categories: int = Field(
        default=8,
        ge=1,
        le=64,
        description="Most categories one feature may list in joint.indicators.",
    )
    min_corr_change: PositiveFloat = Field(
        default=0.1,
        le=2.0,
        description="Practical floor: smallest |change| of a pair's correlation that can page.",
    )
    min_error_increase: PositiveFloat = Field(
        default=0.1,
        description="Practical floor: smallest relative increase of the PCA reconstruction "
        "error that can page.",
    )


class LabelSpec(BaseModel):
    """The model's ground truth: what its labels are and how late they may come.

    Label events (``topics.labels``) carry ``{"model", "id", "ts", "label",
    "prediction"}`` where ``ts`` is the *prediction's* event time; only models with
    a ``labels`` table have their labels consumed.
    """

    model_config = _STRICT

    kind: Literal["binary", "multiclass", "regression"] = Field(
        default="binary",
        description="Task kind: 'binary' (score in [0, 1] vs a 0/1 label), 'multiclass' "
        "(predicted class vs the label, over `classes`; set by declaring `classes`) or "
        "'regression' (a numeric prediction vs the numeric observed target).",
    )
    classes: tuple[str | int | bool, ...] = Field(
        default=(),
        strict=False,
        description="Multiclass: the class values (2 to 256, compared as category text); "
        "labels and predictions outside it are dead-lettered unknown_class / bad_prediction.",
    )
    positive: str | int | bool = Field(
        default=1,
        description="Label value of the positive class (compared as category text: "
        "1, '1' are one value; true is 'true').",
    )
    negative: str | int | bool = Field(
        default=0,
        description="Label value of the negative class; any other label is bad_label.",
    )
    threshold: float = Field(
        default=0.5, ge=0.0, le=1.0, description="Decision threshold: score >= it is positive."
    )
    max_label_delay_ms: int = Field(
        default=7 * 86_400_000,
        ge=1,
        description="Labels whose record time is later than their prediction's event time "
        "+ this are counted as label_too_late and not applied.",
    )
    judge_at: tuple[float, ...] = Field(
        default=(0.5, 0.9),
        strict=False,
        description="Label coverage points (labels / predictions of a window, counting the "
        "labels arrived by the judging day's start) at which a window is judged before its "
        "final judgement at max_label_delay_ms; () judges only the final labels.",
    )

    @field_validator("judge_at")
    @classmethod
    def _points(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if any(not 0.0 < x <= 1.0 for x in v) or list(v) != sorted(set(v)):
            msg = "judge_at: increasing coverage shares in (0, 1]"
            raise ValueError(msg)
        return v

    @model_validator(mode="before")
    @classmethod
    def _kind_from_classes(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and data.get("classes") and "kind" not in data:
            return {**data, "kind": "multiclass"}
        return data

    @model_validator(mode="after")
    def _classes(self) -> LabelSpec:
        if self.kind == "regression":
            for name in ("classes", "positive", "negative", "threshold"):
                if name in self.model_fields_set:
                    msg = (
                        f"{name}: not for kind = 'regression' (labels are the numeric observed "
                        "target; positive/negative/threshold are binary, classes multiclass)"
                    )
                    raise ValueError(msg)
            return self
        if self.kind == "binary":
            if self.classes:
                msg = "classes: only for kind = 'multiclass' (binary uses positive/negative)"
                raise ValueError(msg)
            return self
        if not 2 <= len(self.classes) <= 256:
            msg = f"classes: 2 to 256 class values for a multiclass model, got {len(self.classes)}"
            raise ValueError(msg)
        texts = [_class_text(c) for c in self.classes]
        if len(set(texts)) != len(texts):
            msg = "classes: each class once (1 and '1' are the same class)"
            raise ValueError(msg)
        return self

    @property
    def multiclass(self) -> bool:
        """Whether the model is judged as multiclass (declares ``classes``)."""
        return self.kind == "multiclass"

    @property
    def regression(self) -> bool:
        """Whether the model is judged as regression (``kind = "regression"``)."""
        return self.kind == "regression"

    def class_index(self) -> dict[str, int]:
        """Canonical class text → class index (multiclass)."""
        return {_class_text(c): i for i, c in enumerate(self.classes)}

    def class_names(self) -> list[str]:
        """The classes as category text, in declared order (multiclass)."""
        return [_class_text(c) for c in self.classes]


def _class_text(value: str | int | bool) -> str:
    """A class value as category text (as stream.contract.canonical_category: 1 is '1')."""
    if type(value) is bool:
        return "true" if value else "false"
    return str(value)


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
