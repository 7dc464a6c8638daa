"""The label consumer on /health: a failing label batch makes the worker unhealthy."""

from __future__ import annotations

from stream.pipeline.health import Health


def _started() -> Health:
    h = Health(timeout_ms=10_000)
    h.ok("claim", 0)
    h.ok("kafka", 0)
    return h


def test_a_failing_label_consumer_is_named_until_a_batch_succeeds() -> None:
    h = _started()
    assert h.verdict(1_000) is None
    h.fail("labels", "labels: partitions claimed by another worker", 1_000)
    assert h.verdict(2_000) == "labels: partitions claimed by another worker"
    # Label failures are not Kafka or Redis errors of the feature path.
    assert (h.kafka_errors, h.redis_errors) == (0, 0)
    h.ok("labels", 3_000)
    assert h.verdict(3_000) is None
    assert h.kafka_ok_ms == 0  # a label success says nothing about the feature consumer


def test_a_feature_problem_is_named_before_a_label_problem() -> None:
    h = _started()
    h.fail("labels", "labels: x", 1_000)
    h.fail("kafka", "kafka: y", 1_000)
    assert h.verdict(1_000) == "kafka: y"
