"""What every catalog table shares: strict, frozen validation; a positive finite float."""

from __future__ import annotations

from typing import Annotated

from pydantic import ConfigDict, Field

__all__ = ["_STRICT", "PositiveFloat"]

_STRICT = ConfigDict(strict=True, frozen=True, extra="forbid")

PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]
