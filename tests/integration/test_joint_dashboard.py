"""The joint card read from the suite's real Redis: reference and window written by the adapters."""

from __future__ import annotations

import json

import pytest
import redis

from stream.adapters.redis_dashboard import RedisDashboard
from stream.adapters.redis_eval import reference_name
from stream.adapters.redis_keys import Keys
from stream.adapters.redis_refs import RedisReferences
from stream.adapters.redis_windows import RedisWindowStore
from stream.catalog import Catalog
from stream.core.window import WindowKey
from stream.pipeline.ports import JOINT_KEY, StoredWindow
from stream.pipeline.reference import Reference
from stream.web import pages
from stream.web.data import DashboardData
from stream.web.links import Links
from tests.unit.web.test_joint import FLIP, HOURS, SPEC, Reader

pytestmark = pytest.mark.integration


def test_a_joint_alert_page_reads_its_sketches_from_redis(
    redis_client: redis.Redis, redis_namespace: str
) -> None:
    mem = Reader()  # real sketches and real joint decisions, written through the adapters
    RedisReferences(redis_client, redis_namespace).save(
        Reference(
            model="m",
            name=reference_name(SPEC),
            sketches={},
            hours={},
            events=mem.ref.rows,
            rejected=0,
            joint=mem.ref,
        )
    )
    store = RedisWindowStore(redis_client, redis_namespace)
    keys = Keys(redis_namespace)
    for start in HOURS:
        w = mem.wins[start]
        window = StoredWindow(WindowKey("hour", start), w.rows, 0, {JOINT_KEY: w.to_bytes()})
        assert store.create_window("m", window)
        redis_client.hset(
            keys.evaluation("m", "hour", start),
            "reference",
            json.dumps(mem.evals("m", "hour", [start])[start]["reference"]),
        )
        redis_client.zadd(keys.evaluations("m", "hour"), {str(start): start})
    data = DashboardData(RedisDashboard(redis_client, redis_namespace), Catalog.of(SPEC))
    page = data.model_page("m", window=WindowKey("hour", FLIP), feature="joint")
    html = pages.model_page(page, Links(""))
    card = html.split('id="joint"', 1)[1]
    assert 'data-note="joint"' not in card  # reference and window sketches both read
    delta = card.split('data-kind="delta"', 1)[1].split("</svg>", 1)[0]
    rect = delta.split('data-pair="n0~n1"', 1)[1].split(">", 1)[0]
    assert float(rect.split('data-value="', 1)[1].split('"', 1)[0]) < -1.0
    assert '<tr data-pair="n0~n1">' in card
