"""The project's exceptions: one hierarchy, one base, names ending in ``Error``.

Every exception driftstream raises on purpose derives from :class:`DriftstreamError`,
whose message is one clear line naming what failed and where; the CLI prints that line
and adds the traceback only with ``--debug``. A class that callers also catch by a
standard type keeps it as a second base (a bad sketch is still a ``ValueError``, an
unknown dashboard name still a ``LookupError``), so no catch site changes.

This module imports nothing from the project: core, contract, pipeline, adapters and
web all raise from it. Errors that must also derive from a client library's exception
(``KafkaAuthError``, ``RedisAuthError``, ``RedisPermissionError``) live in their
adapters and derive from :class:`BackendAuthError`; errors private to one command
(``CheckError``, ``ReportError``, ``TableError``) derive from the base where they are.

::

    DriftstreamError
    ├── ConfigError                      invalid configuration (key and problem named)
    ├── StackError                       local Kafka + Redis stack: prepare, up, down
    │   └── ProbeError                   a server answered, but not as a ready one does
    ├── BackendAuthError                 Kafka or Redis refused our credentials
    ├── BackendUnavailableError          Kafka or Redis cannot be reached
    │   ├── KafkaUnavailableError        … Kafka (or the topic does not exist)
    │   └── RedisUnavailableError        … Redis could not be read
    ├── StaleWriterError                 a fenced flush lost its partition
    ├── DeliveryLogUnavailableError      the forwarder's delivery log did not answer
    ├── SketchDecodeError (ValueError)   bytes that are not a valid sketch
    ├── SketchMismatchError (ValueError) sketches with different parameters
    ├── NotFoundError (LookupError)      no such model, feature or window
    └── BadRequestError (ValueError)     a query parameter that does not parse
"""

from __future__ import annotations

__all__ = [
    "BackendAuthError",
    "BackendUnavailableError",
    "BadRequestError",
    "ConfigError",
    "DeliveryLogUnavailableError",
    "DriftstreamError",
    "KafkaUnavailableError",
    "NotFoundError",
    "ProbeError",
    "RedisUnavailableError",
    "SketchDecodeError",
    "SketchMismatchError",
    "StackError",
    "StaleWriterError",
]


class DriftstreamError(Exception):
    """Base of every error meant to be shown to a user as one line."""


class ConfigError(DriftstreamError):
    """Invalid configuration; the message names the key and the problem."""


class StackError(DriftstreamError):
    """The local Kafka + Redis stack could not be prepared, started or stopped."""


class ProbeError(StackError):
    """The server answered, but not as a ready server does."""


class BackendAuthError(DriftstreamError):
    """Kafka or Redis refused our credentials; the message names server and mechanism."""


class BackendUnavailableError(DriftstreamError):
    """Kafka or Redis cannot be reached; the message names which and where."""


class KafkaUnavailableError(BackendUnavailableError):
    """Kafka could not be reached, or the topic does not exist."""


class RedisUnavailableError(BackendUnavailableError):
    """Redis could not be read."""


class StaleWriterError(DriftstreamError):
    """A flush was refused: another worker claimed the partition since we loaded it."""


class DeliveryLogUnavailableError(DriftstreamError):
    """The delivery log's store did not answer; the loop retries with backoff."""


class SketchDecodeError(DriftstreamError, ValueError):
    """Bytes that are not a valid serialized sketch (corrupt, truncated, unknown version)."""


class SketchMismatchError(DriftstreamError, ValueError):
    """Two sketches with different parameters cannot be merged or compared bucket by bucket."""


class NotFoundError(DriftstreamError, LookupError):
    """No such model, feature or window (the dashboard answers 404)."""


class BadRequestError(DriftstreamError, ValueError):
    """A query parameter that does not parse (the dashboard answers 400)."""
