"""Where a model's reference profile comes from: a file, a topic's time range, or Redis."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from stream.catalog._fields import _STRICT

__all__ = ["FileReference", "RedisReference", "ReferenceSpec", "TopicReference"]


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
