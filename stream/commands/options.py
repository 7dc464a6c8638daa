"""Option declarations the commands share (one shape, one place)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

__all__ = ["number"]

F = TypeVar("F", bound=Callable[..., Any])


def number(
    name: str, kind: click.ParamType, help_: str, default: float | None = None
) -> Callable[[F], F]:
    """A numeric option of type ``kind``; a default, when given, is shown in ``--help``."""
    if default is None:
        return click.option(name, type=kind, help=help_)
    return click.option(name, type=kind, default=default, show_default=True, help=help_)
