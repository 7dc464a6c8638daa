"""The fenced flush of the sketch and label stores (``FencedFlush``) on a real Redis.

A worker that lost a partition (another claimed it since) must not overwrite the
new owner's state; the other writes of the same flush still land, and the error
names exactly the refused partitions.
"""

from __future__ import annotations

import pytest
import redis

from stream.adapters.redis_labels import RedisLabelStore
from stream.adapters.redis_store import RedisSketchStore
from stream.pipeline.ports import FlushWrite, LabelWrite, StaleWriterError

pytestmark = pytest.mark.integration

HOUR = 1_700_000_000_000 // 3_600_000 * 3_600_000


def _write(token: str, partition: int, offset: int) -> FlushWrite:
    return FlushWrite(
        model="m",
        partition=partition,
        token=token,
        next_offset=offset,
        watermark_ms=HOUR,
        sealed_through_ms=None,
        open_hours=(),
        idle=False,
        hours=(),
        late={},
        notices=(),
    )


def _label_write(token: str, partition: int, offset: int) -> LabelWrite:
    return LabelWrite(
        model="m",
        partition=partition,
        token=token,
        next_offset=offset,
        newest_record_ms=HOUR,
        open_hours=(),
        hours=(),
        counters={"matched": offset},
        seen_ttl_ms=60_000,
    )


def test_sketch_store_refuses_a_stale_token_and_writes_the_rest(
    redis_client: redis.Redis, redis_namespace: str
) -> None:
    store = RedisSketchStore(redis_client, redis_namespace)
    old, _ = store.claim("m", 0)
    new, _ = store.claim("m", 0)  # another worker claimed partition 0 since
    mine, _ = store.claim("m", 1)
    store.flush([_write(new, 0, 10)])
    with pytest.raises(StaleWriterError, match=r"^partitions claimed by another worker: m/0$"):
        store.flush([_write(old, 0, 99), _write(mine, 1, 7)])
    assert store.claim("m", 0)[1].next_offset == 10  # the new owner's state is untouched
    assert store.claim("m", 1)[1].next_offset == 7  # the fresh write of the same flush landed
    store.flush([])  # nothing to write: no round trip, no error


def test_label_store_refuses_a_stale_token_and_writes_the_rest(
    redis_client: redis.Redis, redis_namespace: str
) -> None:
    store = RedisLabelStore(redis_client, redis_namespace)
    old, _ = store.claim("m", 0)
    new, _ = store.claim("m", 0)
    mine, _ = store.claim("m", 1)
    store.flush([_label_write(new, 0, 10)])
    with pytest.raises(
        StaleWriterError, match=r"^partitions claimed by another worker: m/0 \(labels\)$"
    ):
        store.flush([_label_write(old, 0, 99), _label_write(mine, 1, 7)])
    assert store.claim("m", 0)[1].next_offset == 10
    assert store.claim("m", 1)[1].next_offset == 7
