"""The alerts topic: publishing the evaluation outbox with an idempotent producer."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from kafka import KafkaProducer

from stream.adapters.redis_eval import RedisEvaluationStore

__all__ = ["AlertPublisher"]


class AlertPublisher:
    """Sends a model's committed alerts (keyed by dedup key), then acknowledges them.

    A crash between the send and the acknowledgement re-sends the same messages
    (same alert ids): at least once, never lost; consumers drop ids they saw.
    """

    def __init__(self, store: RedisEvaluationStore, topic: str, options: Mapping[str, Any]) -> None:
        self._store = store
        self.topic = topic
        self._options = dict(options)
        self._producer: KafkaProducer | None = None
        self.sent = 0

    def _client(self) -> KafkaProducer:
        if self._producer is None:
            self._producer = KafkaProducer(enable_idempotence=True, acks="all", **self._options)
        return self._producer

    def publish(self, model: str) -> int:
        """Publish the model's outbox; returns how many alerts went out."""
        pending = self._store.outbox(model)
        if not pending:
            return 0
        producer = self._client()
        futures = [
            producer.send(self.topic, key=str(json.loads(v)["dedup_key"]).encode(), value=v)
            for v in pending
        ]
        producer.flush()
        for f in futures:
            f.get(timeout=30)
        self._store.ack(model, len(pending))
        self.sent += len(pending)
        return len(pending)

    def close(self) -> None:
        """Flush and close the producer."""
        if self._producer is not None:
            self._producer.close()
            self._producer = None
