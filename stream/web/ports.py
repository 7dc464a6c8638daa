"""What the web layer reads and asks of the rest of driftstream: its ports (no I/O here).

``stream.web`` imports no storage client, no adapter and not the runtime (an
import-linter contract holds it): the composition root (``stream.runtime``, the
``report`` command) builds adapters that satisfy these protocols structurally and
passes them in.

* :class:`DashboardReader` — the raw reads of one namespace (the Redis adapter is
  ``stream.adapters.redis_dashboard.RedisDashboard``; the offline check's is
  :class:`stream.web.offline.OfflineReader`). Everything the pages show is built from
  these reads by :class:`stream.web.data.DashboardData`.
* :class:`DashboardSource` — opens a reader on a namespace the deployment has (the live
  one, or a replay's), or says there is none (``?namespace=``).
* :class:`SessionStore` — where logged-out session nonces are kept.
* :class:`WorkerStatus` — what ``/health`` and ``/metrics`` report of the worker.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Protocol

from stream.catalog import ModelSpec
from stream.core.window import Scale, WindowKey

__all__ = [
    "NAMESPACE_PATTERN",
    "DashboardReader",
    "DashboardSource",
    "Evals",
    "SessionStore",
    "WorkerStatus",
    "valid_namespace",
]

Evals = dict[int, dict[str, list[dict[str, Any]]]]
"""Stored decisions of windows: start ms → baseline → ``Decision.to_dict()`` dicts."""

NAMESPACE_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
"""A namespace as ``redis.namespace`` accepts it: no braces, bars or globs (no key injection)."""


def valid_namespace(text: str) -> bool:
    """``text`` has the shape of a namespace (whether it exists is the source's to say).

    >>> valid_namespace("replay-1a2b3c4d5e"), valid_namespace("x}|*"), valid_namespace("")
    (True, False, False)
    """
    return NAMESPACE_PATTERN.fullmatch(text) is not None


class DashboardReader(Protocol):
    """Read-only raw state of one namespace."""

    @property
    def namespace(self) -> str:
        """The namespace read (``live``'s name, or a replay's)."""
        ...

    def evaluated(self, model: str, scale: Scale) -> list[int]:
        """Starts of the evaluated windows of a scale, ascending."""
        ...

    def evals(self, model: str, scale: Scale, starts: Sequence[int]) -> Evals:
        """Stored decisions of windows: start → baseline → decision dicts."""
        ...

    def counts(self, model: str, scale: Scale, starts: Sequence[int]) -> dict[int, tuple[int, int]]:
        """(events, late) of the rolled-up windows that are still stored."""
        ...

    def history(self, model: str) -> list[dict[str, Any]]:
        """The model's recent alert events (alerts-topic JSON), oldest first."""
        ...

    def states(self, model: str) -> list[dict[str, Any]]:
        """Alert lifecycle states of every (scale, baseline)."""
        ...

    def reference_sketch(self, spec: ModelSpec, feature: str) -> bytes | None:
        """The encoded reference sketch of a feature, if stored."""
        ...

    def window_sketch(self, model: str, window: WindowKey, feature: str) -> bytes | None:
        """The encoded sketch of a feature in a rolled-up window, if still stored."""
        ...

    def reference_meta(self, spec: ModelSpec) -> dict[str, Any] | None:
        """Provenance of the model's reference (events, span, version...)."""
        ...

    def pending(self, model: str, window: WindowKey) -> tuple[str, str] | None:
        """What the store knows of a window without decisions: (state, detail) or None.

        ``("failed", error)``: given up on after ``evaluate.max_attempts``;
        ``("waiting", attempts)``: rolled up, not evaluated yet (unfinished attempts);
        ``("skipped", why)``: not judged, and why (an offline check's small window).
        """
        ...


class DashboardSource(Protocol):
    """The namespaces a dashboard may show."""

    @property
    def live(self) -> str:
        """The deployment's own namespace (``redis.namespace``): shown by default."""
        ...

    def open(self, namespace: str) -> DashboardReader | None:
        """A reader on ``namespace``: the live one or a replay's; None when there is none.

        Callers pass only names :func:`valid_namespace` accepts.
        """
        ...


class SessionStore(Protocol):
    """Revoked session nonces (shared by every worker)."""

    def revoke(self, nonce: str, expires_ms: int) -> None:
        """Keep ``nonce`` revoked until ``expires_ms``."""
        ...

    def is_revoked(self, nonce: str) -> bool:
        """``nonce`` was logged out."""
        ...


class WorkerStatus(Protocol):
    """What ``/health`` and ``/metrics`` say about the worker serving the pages."""

    def health(self) -> tuple[bool, dict[str, Any]]:
        """(healthy, details): unhealthy whenever the worker cannot make progress."""
        ...

    def metrics(self) -> bytes:
        """The Prometheus text exposition of the worker's counters."""
        ...
