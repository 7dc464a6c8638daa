"""A model's ground truth: ``LabelSpec`` (binary, multiclass or regression labels)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from stream.catalog._fields import _STRICT

__all__ = ["LabelSpec"]


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
