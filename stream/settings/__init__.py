"""Settings: one frozen, typed object from a TOML file plus ``DRIFTSTREAM_*`` env variables.

Precedence: defaults < config file < environment. Nested keys use a double underscore
(``DRIFTSTREAM_KAFKA__BOOTSTRAP_SERVERS``); the local stack's short names
``DRIFTSTREAM_KAFKA_BOOTSTRAP`` and ``DRIFTSTREAM_REDIS_URL`` are accepted as aliases.
Models (``[models.*]``, see :mod:`stream.catalog`) come from the file only.

Every problem is one :class:`~stream.errors.ConfigError` line naming the key path and,
for env values, the variable. Unknown keys are errors. Secrets never appear in ``repr``,
:meth:`Settings.redacted` or error messages.

>>> s = load_settings(None, env={"DRIFTSTREAM_WEB__PORT": "9000"})
>>> s.web.port, s.kafka.bootstrap_servers
(9000, '127.0.0.1:9092')
>>> load_settings(None, env={"DRIFTSTREAM_WEB__PORT": "http"})
Traceback (most recent call last):
...
stream.errors.ConfigError: web.port: must be an integer, got 'http' (from env DRIFTSTREAM_WEB__PORT)
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from stream.errors import ConfigError
from stream.settings._describe import ConfigRow, describe
from stream.settings._env import (
    CONFIG_ENV,
    ENV_ALIASES,
    ENV_PREFIX,
    env_names,
    overlay_env,
    resolve_paths,
)
from stream.settings._errors import one_line
from stream.settings._model import (
    AlertsSettings,
    ConsumerSettings,
    EvaluateSettings,
    IngestSettings,
    KafkaSettings,
    RedisSettings,
    RedisUrl,
    Settings,
    TopicsSettings,
    WebSettings,
)

__all__ = [
    "CONFIG_ENV",
    "ENV_ALIASES",
    "ENV_PREFIX",
    "AlertsSettings",
    "ConfigRow",
    "ConsumerSettings",
    "EvaluateSettings",
    "IngestSettings",
    "KafkaSettings",
    "RedisSettings",
    "RedisUrl",
    "Settings",
    "TopicsSettings",
    "WebSettings",
    "describe",
    "env_names",
    "load_settings",
]


def load_settings(path: str | Path | None, env: Mapping[str, str] | None = None) -> Settings:
    """Load settings from a TOML file (optional) overlaid with ``DRIFTSTREAM_*`` variables.

    Args:
        path: Config file; None reads ``$DRIFTSTREAM_CONFIG`` when set, else defaults only.
        env: Environment to read (default ``os.environ``).

    Returns:
        The validated, frozen settings.

    Raises:
        ConfigError: One line naming the key (and variable or file) and the problem.
    """
    environ = os.environ if env is None else env
    if path is None and environ.get(CONFIG_ENV):
        path = environ[CONFIG_ENV]
    data: dict[str, Any] = {}
    where = ""
    if path is not None:
        p = Path(path)
        where = f" (in {p})"
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            msg = f"{p}: config file not found"
            raise ConfigError(msg) from None
        except (OSError, UnicodeDecodeError) as exc:
            msg = f"{p}: cannot read config file: {exc}"
            raise ConfigError(msg) from None
        except tomllib.TOMLDecodeError as exc:
            msg = f"{p}: TOML syntax error: {exc}"
            raise ConfigError(msg) from None
        resolve_paths(data, p.parent)
    origins = overlay_env(data, environ)
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(one_line(exc, origins, where)) from None
