"""``driftstream report`` on a real Redis state: real windows, real evaluations, real alerts.

The state is built with the production adapters (no Kafka needed): a calibrated
reference, 30 hour windows of a stream whose ``amount`` shifts at hour 20, and the
first day, each evaluated by the real :class:`Evaluator` into Redis. The report is
then parsed: plots present, numbers equal to the stored decisions, nothing external.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import redis

from stream.adapters.redis_eval import RedisEvaluationStore
from stream.adapters.redis_keys import Keys
from stream.adapters.redis_refs import RedisReferences
from stream.adapters.redis_windows import RedisWindowStore
from stream.catalog import Catalog, ModelSpec
from stream.cli import main
from stream.core.sketch.params import Sketch, merge_sketches
from stream.core.window import DAY, HOUR, HOUR_MS, WindowKey
from stream.pipeline.evaluate import Evaluator, alert_encoder
from stream.pipeline.ports import StoredWindow
from stream.pipeline.reference import ReferenceBuilder, calibration_of
from stream.settings import Settings
from stream.synth import Drift, SyntheticStream
from stream.web.svg import fmt
from tests.integration.worker_harness import MODEL_TOML, START_MS

PER_HOUR = 1_000
HOURS = 30
ONSET = START_MS + 20 * HOUR_MS
DAY_KEY = WindowKey(DAY, START_MS)


def _spec() -> ModelSpec:
    return ModelSpec.model_validate(
        {
            "name": "fraud-v3",
            "prediction": "numeric",
            "reference": {"source": "redis", "name": "training"},
            "features": {
                "amount": "numeric",
                "n_items": "numeric",
                "score_a": "numeric",
                "score_b": "numeric",
                "country": "categorical",
                "device": "categorical",
            },
            "alerts": {"baselines": ["reference", "previous"]},
        }
    )


def _hours(spec: ModelSpec, gen: SyntheticStream, total: int) -> dict[int, dict[str, Sketch]]:
    builder = ReferenceBuilder(spec, "scratch")
    for first in range(0, total, 10_000):
        n = min(10_000, total - first)
        builder.add(gen.encoded(first, n), gen.times(first, n).tolist())
    return builder.build().hours


def _build_state(r: redis.Redis, ns: str) -> None:
    spec = _spec()
    ref_gen = SyntheticStream(spec, start_ms=START_MS - 7 * 24 * HOUR_MS, events_per_hour=100)
    builder = ReferenceBuilder(spec, "training", version="test")
    total_ref = 7 * 24 * 100
    builder.add(ref_gen.encoded(0, total_ref), ref_gen.times(0, total_ref).tolist())
    ref = builder.build()
    RedisReferences(r, ns).save(ref, calibration_of(ref, spec, PER_HOUR))

    live = SyntheticStream(
        spec, start_ms=START_MS, events_per_hour=PER_HOUR, seed=3,
        drifts=[Drift("amount", "shift", 1.0, ONSET)],
    )  # fmt: skip
    hours = _hours(spec, live, HOURS * PER_HOUR)
    windows = RedisWindowStore(r, ns)
    settings = Settings.model_validate(
        {"models": Catalog.of(spec), "alerts": {"dashboard_base_url": "https://dash.example"}}
    )
    evaluator = Evaluator(RedisEvaluationStore(r, ns, windows), encode=alert_encoder(settings))
    day: dict[str, Sketch] = {}
    for h in sorted(hours):
        w = StoredWindow(
            WindowKey(HOUR, h), PER_HOUR, 0, {c: s.to_bytes() for c, s in hours[h].items()}
        )
        assert windows.create_window(spec.name, w)
        evaluator.evaluate(spec, w)
        if h < DAY_KEY.end_ms:
            for c, s in hours[h].items():
                day[c] = merge_sketches(day[c], s) if c in day else s
    d = StoredWindow(DAY_KEY, 24 * PER_HOUR, 0, {c: s.to_bytes() for c, s in day.items()})
    assert windows.create_window(spec.name, d)
    evaluator.evaluate(spec, d)


@pytest.fixture(scope="module")
def state(redis_url: str) -> Iterator[str]:
    """One namespace with the state, shared by this module's tests (read-only for them)."""
    ns = f"t{uuid.uuid4().hex[:10]}"
    r = redis.Redis.from_url(redis_url)
    try:
        _build_state(r, ns)
        yield ns
    finally:
        for k in r.scan_iter(match=Keys(ns).pattern(), count=1000):
            r.delete(k)
        r.close()


@pytest.fixture
def config(tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "driftstream.toml"
    # The configured namespace is NOT the state's: --namespace must choose it.
    path.write_text(f'[redis]\nnamespace = "elsewhere"\n{MODEL_TOML}')
    monkeypatch.setenv("DRIFTSTREAM_REDIS_URL", redis_url)
    return path


class _Doc(HTMLParser):
    """Tags with attributes, and the text, of an HTML document."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def having(self, tag: str, cls: str) -> list[dict[str, str]]:
        return [a for t, a in self.tags if t == tag and cls in a.get("class", "").split()]


def _report(config: Path, ns: str, window: str, out: Path) -> tuple[int, _Doc]:
    code = main(
        ["-c", str(config), "report", "--model", "fraud-v3", "--window", window,
         "--namespace", ns, "--out", str(out)]
    )  # fmt: skip
    doc = _Doc()
    if out.exists():
        doc.feed(out.read_text(encoding="utf-8"))
    return code, doc


def _decisions(r: redis.Redis, ns: str, key: WindowKey) -> dict[str, list[dict[str, Any]]]:
    blob = r.hgetall(Keys(ns).evaluation("fraud-v3", key.scale, key.start_ms))
    return {b.decode(): json.loads(v) for b, v in blob.items()}  # type: ignore[union-attr]


def test_day_report_has_the_plots_and_the_stored_numbers(
    state: str, config: Path, redis_client: redis.Redis, tmp_path: Path
) -> None:
    code, doc = _report(config, state, str(DAY_KEY), tmp_path / "day.html")
    assert code == 0
    text = " ".join(doc.text)
    # Self-contained: no scripts, stylesheets, images or links leaving the file.
    assert not [t for t, _ in doc.tags if t in ("script", "link", "img", "iframe")]
    for _, attrs in doc.tags:
        for name in ("href", "src"):
            assert not attrs.get(name, "#").split("#")[0], attrs
    assert any(t == "style" for t, _ in doc.tags)

    heatmaps = {a["data-scale"]: a for a in doc.having("svg", "heatmap")}
    assert set(heatmaps) == {"hour", "day"}
    assert heatmaps["hour"]["data-cols"] == "24"  # the day's own hours
    assert heatmaps["hour"]["data-rows"] == "7"
    cells = doc.having("rect", "cell")
    assert any(c.get("data-breach") == "true" and c["data-feature"] == "amount" for c in cells)
    overlays = doc.having("svg", "overlay")
    assert len(overlays) == 7
    assert {o["data-kind"] for o in overlays} == {"numeric", "categorical"}
    assert len(doc.having("path", "dist")) >= 2 * 5 and doc.having("rect", "bar")
    series = doc.having("svg", "series")
    # One per feature, plus the joint member's reconstruction error (issue 16).
    assert len(series) == 8
    assert [s["data-metric"] for s in series].count("pca_error") == 1
    assert len(doc.having("svg", "joint-heatmap")) == 3

    # The numbers are the stored decisions of that window.
    stored = _decisions(redis_client, state, DAY_KEY)
    amount = next(d for d in stored["reference"] if d["feature"] == "amount")
    assert amount["breach"]
    assert fmt(amount["effect"]) in text and fmt(amount["threshold"]) in text
    assert amount["effect_metric"] in text
    assert f"{24 * PER_HOUR:,}" in text  # events of the day
    sections = [a for t, a in doc.tags if t == "section" and a.get("data-feature")]
    assert sections[0]["data-feature"] == "amount"  # the drifted feature leads
    assert {s["data-feature"] for s in sections} == {f.name for f in _spec().monitored}


def test_hour_report_and_its_alert(
    state: str, config: Path, redis_client: redis.Redis, tmp_path: Path
) -> None:
    history = [
        json.loads(x)
        for x in redis_client.lrange(Keys(state).alert_history("fraud-v3"), 0, -1)  # type: ignore[union-attr]
    ]
    triggered = [a for a in history if a["status"] == "triggered" and a["window"]["scale"] == HOUR]
    assert triggered
    key = WindowKey.parse(triggered[0]["window"]["key"])
    assert key.start_ms >= ONSET
    code, doc = _report(config, state, str(key), tmp_path / "hour.html")
    assert code == 0
    text = " ".join(doc.text)
    assert "open" in text or "resolved" in text
    assert [a for a in doc.having("div", "alert-row")]
    focus = doc.having("rect", "focus")
    assert focus and focus[0]["data-window"] == str(key)
    pts = doc.having("circle", "pt")
    assert any(p["data-window"] == str(key) and p["data-breach"] == "true" for p in pts)


def test_report_errors_are_one_line(
    state: str, config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _ = _report(config, state, "week:2026-01-01", tmp_path / "x.html")
    assert code == 2
    code, _ = _report(config, state, "day:2025-06-01", tmp_path / "y.html")
    err = capsys.readouterr().err
    assert code == 1 and "no data for day:2025-06-01" in err
    assert not (tmp_path / "y.html").exists()
    code = main(["-c", str(config), "report", "--model", "nope", "--window", str(DAY_KEY),
                 "--out", str(tmp_path / "z.html")])  # fmt: skip
    assert code == 1 and "no model 'nope'" in capsys.readouterr().err


def test_the_dashboard_reads_why_a_window_has_no_decisions(redis_client: redis.Redis) -> None:
    from stream.adapters.redis_dashboard import RedisDashboard

    ns = f"t{uuid.uuid4().hex[:10]}"
    windows = RedisWindowStore(redis_client, ns)
    failed, waiting, fresh, none = (WindowKey(HOUR, START_MS + i * HOUR_MS) for i in range(4))
    for key in (failed, waiting, fresh):
        windows.create_window("fraud-v3", StoredWindow(key, 100, 0, {}))
    windows.start_attempt("fraud-v3", waiting)
    windows.start_attempt("fraud-v3", waiting)
    windows.mark_failed("fraud-v3", failed, "ValueError: boom")
    board = RedisDashboard(redis_client, ns)
    try:
        assert board.pending("fraud-v3", failed) == ("failed", "ValueError: boom")
        assert board.pending("fraud-v3", waiting) == ("waiting", "2")
        assert board.pending("fraud-v3", fresh) == ("waiting", "0")
        assert board.pending("fraud-v3", none) is None
        windows.mark_evaluated("fraud-v3", waiting)
        assert board.pending("fraud-v3", waiting) is None
    finally:
        for k in redis_client.scan_iter(match=Keys(ns).pattern(), count=1000):
            redis_client.delete(k)
