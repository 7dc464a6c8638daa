"""The config reference: (key, type, default, description, env) rows from the models."""

from __future__ import annotations

import types
import typing
from collections.abc import Iterator, Mapping
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, SecretStr

from stream.catalog import (
    AlertRules,
    FeatureSpec,
    FileReference,
    JointRules,
    ModelSpec,
    RedisReference,
    TopicReference,
)
from stream.settings._env import ENV_PREFIX
from stream.settings._model import sections, unwrap

__all__ = ["ConfigRow", "describe"]


class ConfigRow(NamedTuple):
    """One row of the config reference (README table)."""

    key: str
    type: str
    default: str
    description: str
    env: str


def describe() -> Iterator[ConfigRow]:
    """Rows (key, type, default, description, env variable) for every setting.

    >>> row = next(r for r in describe() if r.key == "web.port")
    >>> row.type, row.default, row.env
    ('int', '8080', 'DRIFTSTREAM_WEB__PORT')
    """
    for section, model in sections().items():
        yield from _rows(model, section, env=True)
    yield from _rows(ModelSpec, "models.<model>", env=False, skip=("name", "alerts", "joint"))
    yield from _rows(FeatureSpec, "models.<model>.features.<feature>", env=False, skip=("name",))
    seen: set[str] = set()
    for ref in (FileReference, TopicReference, RedisReference):
        for row in _rows(ref, "models.<model>.reference", env=False):
            if row.key not in seen:
                seen.add(row.key)
                yield (
                    row._replace(type="'file' | 'topic' | 'redis'")
                    if row.key.endswith(".source")
                    else row
                )
    yield from _rows(AlertRules, "models.<model>.alerts", env=False)
    yield from _rows(JointRules, "models.<model>.joint", env=False)


def _rows(
    model: type[BaseModel], prefix: str, *, env: bool, skip: tuple[str, ...] = ()
) -> Iterator[ConfigRow]:
    for key, field in model.model_fields.items():
        if key in skip:
            continue
        if field.is_required():
            shown = "(required)"
        elif field.default_factory is not None:
            shown = _toml_value(field.default_factory())  # type: ignore[call-arg]
        else:
            shown = _toml_value(field.default)
        name = f"{ENV_PREFIX}{prefix.upper()}__{key.upper()}" if env else ""
        yield ConfigRow(
            f"{prefix}.{key}", _type_name(field.annotation), shown, field.description or "", name
        )


def _toml_value(value: Any) -> str:
    """A default as it would be written in the config file."""
    if value is None:
        return "(unset)"
    if isinstance(value, SecretStr):
        return str(value)
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, BaseModel | dict):
        return "{}" if isinstance(value, dict) and not value else ""
    return str(value)


def _type_name(annotation: Any) -> str:
    base, optional = unwrap(annotation)
    origin = typing.get_origin(base)
    if origin is Literal:
        text = " | ".join(
            repr(a).lower() if isinstance(a, bool) else repr(a) for a in typing.get_args(base)
        )
    elif origin is tuple:
        text = f"list of {_type_name(typing.get_args(base)[0])}"
    elif origin in (dict, Mapping, typing.get_origin(Mapping[str, int])):
        text = "table"
    elif origin in (typing.Union, types.UnionType):
        text = "table"
    elif isinstance(base, type) and issubclass(base, SecretStr):
        text = "secret string"
    elif isinstance(base, type) and issubclass(base, BaseModel):
        text = "table"
    elif isinstance(base, type):
        text = {"str": "string"}.get(base.__name__, base.__name__)
    else:
        text = str(base)
    return text + (" (optional)" if optional else "")
