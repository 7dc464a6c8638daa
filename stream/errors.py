"""Errors a user sees: one clear line each; the CLI adds the traceback only with ``--debug``."""

from __future__ import annotations

__all__ = ["BackendAuthError", "ConfigError", "DriftstreamError", "StackError"]


class DriftstreamError(Exception):
    """Base of every error meant to be shown to a user as one line."""


class ConfigError(DriftstreamError):
    """Invalid configuration; the message names the key and the problem."""


class StackError(DriftstreamError):
    """The local Kafka + Redis stack could not be prepared, started or stopped."""


class BackendAuthError(DriftstreamError):
    """Kafka or Redis refused our credentials; the message names server and mechanism."""
