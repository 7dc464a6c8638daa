"""Pydantic validation errors → one line naming the key path and where the value came from."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from stream.catalog import Catalog, FeatureSpec, ModelSpec
from stream.redact import scrub_urls
from stream.settings._model import Settings, unwrap

__all__ = ["one_line"]

_TYPE_WORDS = {
    "int_type": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "bool_type": "true or false",
    "string_type": "a string",
    "dict_type": "a table",
    "model_type": "a table",
    "model_attributes_type": "a table",
    "tuple_type": "a list",
    "list_type": "a list",
    "mapping_type": "a table",
}
_SECRET_KEYS = {
    "sasl_password",
    "password",
    "token",
    "url",
    "session_secret",
    "session_secret_previous",
}
_KEY_PREFIX = re.compile(r"^([A-Za-z_][\w.\-]*): (.*)$")


def one_line(exc: ValidationError, origins: Mapping[tuple[str, ...], str], where: str) -> str:
    errors = exc.errors(include_url=False)
    first = _format(errors[0], origins, where)
    more = len({_clean_loc(e["loc"]) for e in errors}) - 1
    return first + (f" (+{more} more)" if more > 0 else "")


def _clean_loc(loc: tuple[int | str, ...]) -> tuple[str, ...]:
    # Drop discriminator tags ('reference', 'file', 'path') and union member labels.
    out: list[str] = []
    for i, part in enumerate(loc):
        prev = loc[i - 1] if i else None
        if prev == "reference" and part in ("file", "topic", "redis"):
            continue
        if isinstance(part, str) and (part.startswith("literal[") or part in ("bool", "str")):
            continue
        out.append(f"[{part}]" if isinstance(part, int) else str(part))
    return tuple(out)


def _format(err: ErrorDetails, origins: Mapping[tuple[str, ...], str], where: str) -> str:
    loc = list(_clean_loc(err["loc"]))
    kind, msg, value = err["type"], err["msg"], err.get("input")
    secret = bool(loc) and loc[-1] in _SECRET_KEYS
    got = "" if secret else f", got {_describe_input(value)}"
    if kind == "extra_forbidden":
        problem = "unknown key" + _suggest(err["loc"])
    elif kind == "missing":
        problem = "required key is missing"
    elif kind == "union_tag_not_found":
        problem = "missing 'source' (one of 'file', 'topic', 'redis')"
    elif kind == "union_tag_invalid":
        ctx = err.get("ctx", {})
        problem = f"source must be {ctx.get('expected_tags')}, got {ctx.get('tag')!r}"
    elif kind in _TYPE_WORDS:
        problem = f"must be {_TYPE_WORDS[kind]}{got}"
    elif kind == "value_error":
        problem = msg.removeprefix("Value error, ")
        m = _KEY_PREFIX.match(problem)
        if m:
            loc.extend(m.group(1).split("."))
            problem = m.group(2)
    elif msg.startswith("Input should be "):
        problem = "must be " + msg.removeprefix("Input should be ") + got
    elif msg.startswith("String should "):
        problem = "must " + msg.removeprefix("String should ") + got
    else:
        problem = msg[:1].lower() + msg[1:] + got
    key = _join_key(loc)
    source = where
    for n in range(len(loc), 0, -1):
        var = origins.get(tuple(loc[:n]))
        if var:
            source = f" (from env {var})"
            break
    return f"{key}: {problem}{source}"


def _join_key(parts: list[str]) -> str:
    """``models."bad name".alerts.windows[1]``: TOML-style dotted key of an error location."""
    text = ""
    for part in parts:
        if part.startswith("["):
            text += part
        else:
            bare = re.fullmatch(r"[A-Za-z0-9_-]+", part)
            text += ("." if text else "") + (part if bare else f'"{part}"')
    return text or "(top level)"


def _describe_input(value: Any) -> str:
    text = scrub_urls(repr(value))
    if isinstance(value, dict):
        text = "a table"
    elif isinstance(value, list):
        text = "a list"
    return text if len(text) <= 60 else text[:57] + "..."


def _suggest(loc: tuple[int | str, ...]) -> str:
    """' (did you mean ...?)' from the keys allowed where ``loc``'s last part was found."""
    model: Any = Settings
    for part in loc[:-1]:
        model = _child_model(model, part)
        if model is None:
            return ""
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return ""
    close = difflib.get_close_matches(str(loc[-1]), list(model.model_fields), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _child_model(model: Any, part: int | str) -> Any:
    if model is Catalog:
        return ModelSpec
    if model is ModelSpec and part in ("features", "prediction"):
        return "features" if part == "features" else FeatureSpec
    if model == "features":
        return FeatureSpec
    if isinstance(model, type) and issubclass(model, BaseModel):
        field = model.model_fields.get(str(part))
        if field is None:
            return None
        base, _ = unwrap(field.annotation)
        return base if isinstance(base, type) and issubclass(base, BaseModel) else None
    return None
