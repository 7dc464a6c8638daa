"""The private hooks driftstream patches in faust and aiokafka are still what we patch.

stream.runtime patches three private places (no public hook exists): faust's topic
creation at start (``Transport._really_create_topic``), aiokafka's group coordinator
lookup (``AIOKafkaClient.coordinator_lookup``) and the shutdown wait of faust's consumer
thread (``AIOKafkaConsumerThread.shutdown_timeout``). pyproject pins both libraries to a
minor range; these tests fail on an upgrade that renames or reshapes a hook, or that
fixes upstream what a patch works around — either way, re-read the patch before bumping.
"""

from __future__ import annotations

import inspect

from aiokafka.client import AIOKafkaClient
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread, Transport


def _params(fn: object) -> list[str]:
    return list(inspect.signature(fn).parameters)  # type: ignore[arg-type]


def _unpatched(fn: object) -> object:
    """The library's own function (the patches wrap it and keep it in a closure)."""
    if not getattr(fn, "driftstream_retries", False):
        return fn
    cells = [c.cell_contents for c in getattr(fn, "__closure__", None) or ()]
    return next(c for c in cells if callable(c) and not getattr(c, "driftstream_retries", False))


def test_faust_topic_creation_hook_has_the_arguments_the_patch_passes() -> None:
    original = _unpatched(Transport._really_create_topic)  # noqa: SLF001 - what we patch
    assert _params(original)[:4] == ["self", "owner", "client", "topic"]
    assert inspect.iscoroutinefunction(original)


def test_aiokafka_coordinator_lookup_still_asserts_on_an_unbootstrapped_client() -> None:
    original = _unpatched(AIOKafkaClient.coordinator_lookup)
    assert _params(original) == ["self", "coordinator_type", "coordinator_key"]
    assert callable(AIOKafkaClient.get_random_node)
    # The bug the patch works around; if upstream fixed it, the patch can go.
    assert "Did we not perform bootstrap" in inspect.getsource(original)  # type: ignore[arg-type]


def test_faust_consumer_thread_has_a_shutdown_timeout_to_shorten() -> None:
    assert isinstance(AIOKafkaConsumerThread.shutdown_timeout, float | int)
