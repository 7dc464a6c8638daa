"""A model's monitored columns: ``FeatureSpec`` (name, kind, seasonality, thresholds)."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import BaseModel, Field, model_validator

from stream.catalog._fields import _STRICT, PositiveFloat
from stream.core.vocabulary import Kind

__all__ = ["FEATURE_NAME_PATTERN", "FeatureName", "FeatureSpec", "metric_names"]

FEATURE_NAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}$"

FeatureName = Annotated[str, Field(pattern=FEATURE_NAME_PATTERN)]


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
