"""A model's alert rules and its multivariate (``joint``) member's rules."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal, TypeAlias

from pydantic import BaseModel, Field, Strict, field_validator

from stream.catalog._fields import _STRICT, PositiveFloat
from stream.core.vocabulary import Baseline, Scale

__all__ = ["JOINT_MEMBER", "AlertRules", "JointRules", "Severity"]

Severity: TypeAlias = Literal["critical", "error", "warning", "info"]


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
