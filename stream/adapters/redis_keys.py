"""Every Redis key driftstream writes, in one place.

Keys of one (namespace, model, partition) share the hash tag ``{ns|model|p}``,
so the atomic flush of a partition touches one Redis Cluster slot. Model-level
state (rolled-up hours and days, alert state) shares ``{ns|model}``.

>>> k = Keys("live")
>>> k.partition("fraud-v3", 4)
'ds:{live|fraud-v3|4}:part'
>>> k.partition_hour("fraud-v3", 4, 3_600_000)
'ds:{live|fraud-v3|4}:h:3600000'
>>> k.model_window("fraud-v3", "day", 0)
'ds:{live|fraud-v3}:w:day:0'
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PREFIX", "Keys"]

PREFIX = "ds"


@dataclass(frozen=True, slots=True)
class Keys:
    """Key templates for one namespace (``live``, or a replay's own namespace)."""

    namespace: str

    def _p(self, model: str, partition: int) -> str:
        return f"{PREFIX}:{{{self.namespace}|{model}|{partition}}}"

    def _m(self, model: str) -> str:
        return f"{PREFIX}:{{{self.namespace}|{model}}}"

    # -- per (model, partition): written only by the atomic flush ---------------
    def partition(self, model: str, partition: int) -> str:
        """HASH: next offset, watermark, sealed-through, open hours, writer token."""
        return f"{self._p(model, partition)}:part"

    def partition_hour(self, model: str, partition: int, hour_ms: int) -> str:
        """HASH: one field per feature (sketch bytes) plus event and late counters."""
        return f"{self._p(model, partition)}:h:{hour_ms}"

    def partition_late(self, model: str, partition: int) -> str:
        """HASH: hour start → events that arrived after the hour was sealed."""
        return f"{self._p(model, partition)}:late"

    def partition_outbox(self, model: str, partition: int) -> str:
        """LIST: "hour sealed" notices written by a flush, deleted once published."""
        return f"{self._p(model, partition)}:outbox"

    # -- per model: rollups, evaluation and alert state -------------------------
    def model_window(self, model: str, scale: str, start_ms: int) -> str:
        """HASH: rolled-up sketches of a model window (one field per feature)."""
        return f"{self._m(model)}:w:{scale}:{start_ms}"

    def model_windows(self, model: str, scale: str) -> str:
        """Glob matching every rolled-up window of a model at one scale.

        >>> Keys("live").model_windows("fraud-v3", "hour")
        'ds:{live|fraud-v3}:w:hour:*'
        """
        return f"{self._m(model)}:w:{scale}:*"

    def model_partitions(self, model: str) -> str:
        """SET: partitions that have ingest state for the model (added on claim)."""
        return f"{self._m(model)}:partitions"

    def model_pending(self, model: str, scale: str) -> str:
        """ZSET: windows of a scale waiting for rollup, scored by start."""
        return f"{self._m(model)}:pending:{scale}"

    def model_meta(self, model: str) -> str:
        """HASH: model-level progress (last rolled-up hour, last evaluated window...)."""
        return f"{self._m(model)}:meta"

    def reference(self, model: str, name: str) -> str:
        """HASH: a reference profile's sketches and provenance."""
        return f"{self._m(model)}:ref:{name}"

    def references(self, model: str) -> str:
        """SET: names of the model's stored references."""
        return f"{self._m(model)}:refs"

    def alerts(self, model: str) -> str:
        """HASH: open alert state of a model, by dedup key."""
        return f"{self._m(model)}:alerts"

    def evaluations(self, model: str, scale: str) -> str:
        """ZSET: evaluated windows of a scale, scored by window start."""
        return f"{self._m(model)}:eval:{scale}"

    def evaluation(self, model: str, scale: str, start_ms: int) -> str:
        """HASH: baseline → JSON list of the window's decisions."""
        return f"{self._m(model)}:ev:{scale}:{start_ms}"

    def alerts_outbox(self, model: str) -> str:
        """LIST: alert events committed but not yet acknowledged by the alerts topic."""
        return f"{self._m(model)}:alerts:outbox"

    def health_states(self, model: str) -> str:
        """HASH: ``<scale>/<kind>`` → model-health lifecycle state (label, performance)."""
        return f"{self._m(model)}:health"

    def health_decisions(self, model: str, scale: str, start_ms: int) -> str:
        """STRING: JSON list of a window's model-health decisions."""
        return f"{self._m(model)}:hd:{scale}:{start_ms}"

    def alert_history(self, model: str) -> str:
        """LIST: the model's last alert events (alerts-topic JSON), oldest first, capped."""
        return f"{self._m(model)}:alerts:history"

    # -- forwarders: one hash tag per consumer group ----------------------------
    def forwarded(self, group: str, alert_id: str) -> str:
        """STRING with a TTL: the forwarder group ``group`` delivered ``alert_id``.

        >>> Keys("live").forwarded("driftstream-forward-pagerduty", "ab12")
        'ds:{live|fwd|driftstream-forward-pagerduty}:sent:ab12'
        """
        return f"{PREFIX}:{{{self.namespace}|fwd|{group}}}:sent:{alert_id}"

    # -- dashboard sessions -----------------------------------------------------
    def session_revoked(self, nonce: str) -> str:
        """STRING with a TTL: a logged-out dashboard session (until it would expire).

        >>> Keys("live").session_revoked("9f3a")
        'ds:{live|web}:revoked:9f3a'
        """
        return f"{PREFIX}:{{{self.namespace}|web}}:revoked:{nonce}"

    def replay_range(self) -> str:
        """HASH: what a replay namespace replays (topic, range, per-partition end offsets).

        >>> Keys("replay-1a2b").replay_range()
        'ds:{replay-1a2b|~replay}:range'
        """
        return f"{PREFIX}:{{{self.namespace}|~replay}}:range"

    def pattern(self) -> str:
        """Glob matching every key of this namespace (for ``namespace clean``)."""
        return f"{PREFIX}:{{{self.namespace}|*"
