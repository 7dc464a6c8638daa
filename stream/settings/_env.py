"""``DRIFTSTREAM_*`` variables: names, typed conversion, overlay onto the file's data."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from stream.errors import ConfigError
from stream.settings._model import sections, unwrap

__all__ = [
    "CONFIG_ENV",
    "ENV_ALIASES",
    "ENV_PREFIX",
    "env_names",
    "overlay_env",
    "resolve_paths",
]

ENV_PREFIX = "DRIFTSTREAM_"
#: Names the config file when ``load_settings`` gets no path; not a setting itself.
CONFIG_ENV = "DRIFTSTREAM_CONFIG"
#: Short names printed by the local stack (``driftstream stack up``).
ENV_ALIASES: Mapping[str, tuple[str, str]] = {
    "DRIFTSTREAM_KAFKA_BOOTSTRAP": ("kafka", "bootstrap_servers"),
    "DRIFTSTREAM_REDIS_URL": ("redis", "url"),
}


def env_names() -> dict[str, tuple[str, str]]:
    """Every accepted settings variable → its (section, key), aliases included."""
    names = {
        f"{ENV_PREFIX}{section.upper()}__{key.upper()}": (section, key)
        for section, model in sections().items()
        for key in model.model_fields
    }
    names.update(ENV_ALIASES)
    return names


_PATH_KEYS = {
    "kafka": ("ssl_cafile", "ssl_certfile", "ssl_keyfile"),
    "redis": ("tls_ca_file", "tls_cert_file", "tls_key_file"),
}


def resolve_paths(data: dict[str, Any], base: Path) -> None:
    """Make relative file paths in the config relative to the config file's directory."""

    def fix(table: Any, key: str) -> None:
        if isinstance(table, dict) and isinstance(table.get(key), str) and table[key]:
            if not Path(table[key]).is_absolute():
                table[key] = str(base / table[key])

    for section, keys in _PATH_KEYS.items():
        for key in keys:
            fix(data.get(section), key)
    models = data.get("models")
    if isinstance(models, dict):
        for spec in models.values():
            ref = spec.get("reference") if isinstance(spec, dict) else None
            if isinstance(ref, dict) and ref.get("source") == "file":
                fix(ref, "path")


def overlay_env(data: dict[str, Any], environ: Mapping[str, str]) -> dict[tuple[str, ...], str]:
    """Write typed env values into ``data``; return key path → variable name for errors."""
    names = env_names()
    section_models = sections()
    origins: dict[tuple[str, ...], str] = {}
    # Canonical names are applied after aliases so they win; disagreeing pairs are errors.
    ordered = sorted(
        (k for k in environ if k.startswith(ENV_PREFIX)), key=lambda k: (k not in ENV_ALIASES, k)
    )
    for var in ordered:
        raw = environ[var]
        target = names.get(var)
        if target is None:
            _check_unknown_var(var, names)
            continue
        section, key = target
        field = section_models[section].model_fields[key]
        value = _from_env(raw, field.annotation, f"{section}.{key}", var)
        table = data.setdefault(section, {})
        if not isinstance(table, dict):
            msg = f"{section}: must be a table, got {type(table).__name__}"
            raise ConfigError(msg)
        previous = origins.get((section, key))
        if previous is not None and table.get(key) != value:
            msg = f"{section}.{key}: {previous} and {var} disagree; set only one"
            raise ConfigError(msg)
        table[key] = value
        origins[(section, key)] = var
    return origins


def _check_unknown_var(var: str, names: Mapping[str, tuple[str, str]]) -> None:
    """Fail on near misses of setting names; other DRIFTSTREAM_* names belong to other tools."""
    rest = var[len(ENV_PREFIX) :]
    section = rest.split("_", 1)[0].lower()
    flat = {n.replace("__", "_"): n for n in names}
    if "__" in rest or var in flat:
        if section == "models":
            msg = f"{var}: models are configured in the config file, not the environment"
            raise ConfigError(msg)
        guess = difflib.get_close_matches(var, list(names), n=1)
        hint = flat.get(var) or (guess[0] if guess else None)
        msg = f"{var}: unknown setting" + (f" (did you mean {hint}?)" if hint else "")
        raise ConfigError(msg)


def _from_env(raw: str, annotation: Any, key: str, var: str) -> Any:
    """Convert an env string to the field's type; None for an empty optional value."""
    base, optional = unwrap(annotation)
    text = raw.strip()
    if optional and text == "":
        return None
    try:
        if base is bool:
            low = text.lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            msg = "must be true or false"
            raise ValueError(msg)
        if base is int:
            return int(text)
        if base is float:
            return float(text)
    except ValueError:
        word = {bool: "true or false", int: "an integer", float: "a number"}[base]
        msg = f"{key}: must be {word}, got {raw!r} (from env {var})"
        raise ConfigError(msg) from None
    return raw
