"""Shared fixtures: a real Kafka broker and a real Redis, started once per session.

The stack starts lazily, the first time a test asks for ``stack`` (or a fixture
built on it), so unit tests never start a JVM. It is a *private* stack in a
pytest temp directory, never the user's ``driftstream stack up`` stack, and it
is stopped at the end of the session (and SIGTERMed by the kernel if pytest is
killed). To run against servers that already run, set both
``DRIFTSTREAM_TEST_KAFKA_BOOTSTRAP`` and ``DRIFTSTREAM_TEST_REDIS_URL``.

A stack that cannot start is an error, never a skip: the tests start what they need.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable, Iterator, Mapping

import pytest
import redis
from hypothesis import HealthCheck, settings
from kafka.admin import KafkaAdminClient

from stream.localstack import LocalStack, RedisCluster

ENV_TEST_BOOTSTRAP = "DRIFTSTREAM_TEST_KAFKA_BOOTSTRAP"
ENV_TEST_REDIS_URL = "DRIFTSTREAM_TEST_REDIS_URL"

NewTopic = Callable[..., str]

# No test passes or fails on wall-clock time: hypothesis's per-example deadline (200 ms)
# and its too_slow health check fail a correct test on a loaded machine. A test's own
# ``@settings`` keep their other choices; this profile only turns off the time checks.
settings.register_profile(
    "driftstream", deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("driftstream")


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """The session's Kafka + Redis: attached via env, else a private stack started now."""
    bootstrap = os.environ.get(ENV_TEST_BOOTSTRAP, "")
    redis_url = os.environ.get(ENV_TEST_REDIS_URL, "")
    if bootstrap or redis_url:
        if not (bootstrap and redis_url):
            pytest.fail(f"set both {ENV_TEST_BOOTSTRAP} and {ENV_TEST_REDIS_URL}, or neither")
        attached = LocalStack.attach(bootstrap, redis_url)
        report = attached.status()
        if not report.running:
            pytest.fail(f"attached stack is not answering: {'; '.join(report.describe())}")
        yield attached
        return
    private = LocalStack.start(tmp_path_factory.mktemp("stack"), die_with_parent=True)
    try:
        yield private
    finally:
        private.stop()


@pytest.fixture(scope="session")
def secure_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """A second, secured stack (SASL_SSL SCRAM-SHA-512 Kafka, TLS + ACL Redis).

    Started lazily, once per session, only when a test asks for it (it is a second JVM);
    certificates and users are made at start (``stream.localstack._secure``).
    """
    secured = LocalStack.start(
        tmp_path_factory.mktemp("secure-stack"), die_with_parent=True, secure=True
    )
    try:
        yield secured
    finally:
        secured.stop()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster]:
    """A local 3-master Redis Cluster, started lazily once per session for the tests that ask."""
    cluster = RedisCluster.start(tmp_path_factory.mktemp("redis-cluster"), die_with_parent=True)
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def kafka_bootstrap(stack: LocalStack) -> str:
    """Bootstrap servers of the session's broker, ``host:port``."""
    return stack.bootstrap


@pytest.fixture(scope="session")
def redis_url(stack: LocalStack) -> str:
    """``redis://host:port/0`` of the session's Redis."""
    return stack.redis_url


def _slug(text: str, limit: int = 60) -> str:
    # Kafka topic names allow [A-Za-z0-9._-] only; test ids carry brackets and spaces.
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:limit] or "t"


@pytest.fixture
def new_topic(kafka_bootstrap: str, request: pytest.FixtureRequest) -> Iterator[NewTopic]:
    """Factory: ``new_topic(partitions=1, config=None) -> name`` of a fresh, ready topic.

    Names are unique per call (test name + random suffix); the topics are deleted
    after the test, so an attached long-lived broker does not fill up.
    """
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap, client_id="driftstream-tests")
    created: list[str] = []

    def make(partitions: int = 1, *, config: Mapping[str, str] | None = None) -> str:
        name = f"test-{_slug(request.node.name)}-{uuid.uuid4().hex[:8]}"
        spec = {
            "num_partitions": partitions,
            "replication_factor": 1,
            "configs": dict(config or {}),
        }
        # wait_for_metadata: every partition has a leader before the test produces.
        admin.create_topics({name: spec}, wait_for_metadata=True)
        created.append(name)
        return name

    try:
        yield make
    finally:
        try:
            if created:
                admin.delete_topics(created)
        finally:
            admin.close()


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    """A bytes-in/bytes-out client of the session's Redis, closed after the test."""
    client = redis.Redis.from_url(redis_url)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def redis_namespace(redis_client: redis.Redis) -> Iterator[str]:
    """A namespace token unique to this test, e.g. ``t3f9a0c1d2e``.

    Use it as the driftstream namespace (``Keys(ns)``) or a key prefix; every key
    containing the token is deleted after the test.
    """
    namespace = f"t{uuid.uuid4().hex[:10]}"
    try:
        yield namespace
    finally:
        keys = list(redis_client.scan_iter(match=f"*{namespace}*", count=1000))
        if keys:
            redis_client.delete(*keys)
