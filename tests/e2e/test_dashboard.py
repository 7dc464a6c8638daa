"""The dashboard in headless Chromium, served by a real worker after a real drifting run.

Reference → drifting stream on Kafka → ``driftstream worker`` (which serves the
dashboard, behind a token) → Playwright drives Debian's Chromium: models page, model
heatmap, a click through to a feature, and the dashboard URL of a real alert from the
alerts topic. Screenshots go to ``test-artifacts/dashboard/``.
"""

from __future__ import annotations

import http.client
import json
import re
import tempfile
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import redis
from kafka.admin import KafkaAdminClient
from playwright.sync_api import BrowserContext, Page, sync_playwright

from stream.adapters.redis_keys import Keys
from stream.adapters.redis_refs import RedisReferences
from stream.pipeline.reference import ReferenceBuilder, calibration_of
from stream.synth import Drift, SyntheticStream
from tests.e2e.conftest import CHROMIUM_ARGS, LAUNCH_TIMEOUT_MS
from tests.integration.worker_harness import (
    START_MS,
    Deployment,
    free_port,
    read_topic,
    send,
    spec,
    wait_until,
)

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-artifacts" / "dashboard"
HOUR = 3_600_000
PER_HOUR = 2_000
HOURS = 18
TOKEN = "e2e-dashboard-token"
NAV_TIMEOUT_MS = 60_000


def _alerts(bootstrap: str, topic: str) -> list[dict[str, Any]]:
    return [json.loads(m.value) for m in read_topic(bootstrap, topic)]


def _get(url: str, token: str | None = None) -> tuple[int, Any]:
    req = urllib.request.Request(url)  # noqa: S310 - loopback http only
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        exc.close()  # its response holds the socket: close it, never leave it to the GC
        return exc.code, None


@pytest.fixture(scope="module")
def run(
    kafka_bootstrap: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """A finished real run: reference, 18 drifting hours, a worker serving the dashboard."""
    s = spec()
    suffix = uuid.uuid4().hex[:8]
    names = {
        n: f"dash-{n}-{suffix}" for n in ("features", "dead_letter", "sealed", "alerts", "replay")
    }
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    admin.create_topics(
        {
            v: {"num_partitions": 3 if k in ("features", "replay") else 1, "replication_factor": 1}
            for k, v in names.items()
        },
        wait_for_metadata=True,
    )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    d = Deployment(
        bootstrap=kafka_bootstrap,
        redis_url=redis_url,
        features=names["features"],
        dead_letter=names["dead_letter"],
        sealed=names["sealed"],
        namespace=f"t{uuid.uuid4().hex[:10]}",
        workdir=tmp_path_factory.mktemp("dashboard"),
        partitions=3,
        overrides={
            "DRIFTSTREAM_TOPICS__ALERTS": names["alerts"],
            "DRIFTSTREAM_WEB__PORT": str(port),
            "DRIFTSTREAM_WEB__TOKEN": TOKEN,
            "DRIFTSTREAM_ALERTS__DASHBOARD_BASE_URL": base,
        },
    )
    r = redis.Redis.from_url(redis_url)
    try:
        ref_gen = SyntheticStream(s, start_ms=START_MS - 7 * 24 * HOUR, events_per_hour=200, seed=1)
        builder = ReferenceBuilder(s, "training")
        total_ref = 7 * 24 * 200
        builder.add_synthetic(ref_gen, total_ref)
        ref = builder.build()
        RedisReferences(r, d.namespace).save(ref, calibration_of(ref, s, PER_HOUR))
        onset = START_MS + 12 * HOUR
        gen = SyntheticStream(
            s, start_ms=START_MS, events_per_hour=PER_HOUR, seed=5,
            drifts=[Drift("amount", "shift", 1.0, onset)],
        )  # fmt: skip
        send(kafka_bootstrap, names["features"], gen.records(HOURS * PER_HOUR), partitions=3)
        d.start_worker()
        keys = Keys(d.namespace)
        wait_until(
            lambda: r.zcard(keys.evaluations("fraud-v3", "hour")) >= HOURS - 2,
            300,
            f"{HOURS - 2} evaluated hours\n{d.logs()}",
        )
        wait_until(lambda: bool(r.llen(keys.alert_history("fraud-v3"))), 300, "alert history")
        wait_until(lambda: bool(_alerts(kafka_bootstrap, names["alerts"])), 300, "an alert")
        yield {
            "base": base,
            "alerts": _alerts(kafka_bootstrap, names["alerts"]),
            "onset": onset,
            "namespace": d.namespace,
            "deployment": d,
            "replay_topic": names["replay"],
            "bootstrap": kafka_bootstrap,
        }
    finally:
        d.stop_all()
        for k in r.scan_iter(match=Keys(d.namespace).pattern(), count=1000):
            r.delete(k)
        r.close()
        admin.delete_topics(list(names.values()))
        admin.close()


@pytest.fixture(scope="module")
def browser(chromium: Path) -> Iterator[BrowserContext]:
    """A fresh headless Chromium profile (Debian's binary; never ``playwright install``)."""
    profile = tempfile.mkdtemp(prefix="driftstream-chromium-")
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            profile,
            executable_path=str(chromium),
            headless=True,
            args=list(CHROMIUM_ARGS),
            viewport={"width": 1280, "height": 900},
            timeout=LAUNCH_TIMEOUT_MS,
        )
        context.set_default_timeout(NAV_TIMEOUT_MS)
        try:
            yield context
        finally:
            context.close()


def _shot(page: Page, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def _attr_floats(page: Page, selector: str, attr: str) -> list[float]:
    values = page.eval_on_selector_all(selector, f"els => els.map(e => e.getAttribute('{attr}'))")
    return [float(v) for v in values if v not in (None, "")]


def test_api_and_health_respect_the_token(run: dict[str, Any]) -> None:
    base = run["base"]
    assert _get(f"{base}/health")[0] in (200, 503)  # open: probes never need the token
    assert _get(f"{base}/api/models")[0] == 401
    assert _get(f"{base}/api/models", "wrong")[0] == 401
    status, models = _get(f"{base}/api/models", TOKEN)
    assert status == 200 and [m["name"] for m in models] == ["fraud-v3"]
    status, hm = _get(f"{base}/api/models/fraud-v3/heatmap?scale=hour&baseline=reference", TOKEN)
    assert status == 200
    assert hm["features"][0] == "amount" and len(hm["windows"]) >= HOURS - 2
    amount = [c for c in hm["cells"][0] if c is not None]
    assert any(c["breach"] for c in amount) and all(c["ratio"] is not None for c in amount)
    status, alerts = _get(f"{base}/api/models/fraud-v3/alerts", TOKEN)
    assert status == 200 and alerts["history"]
    assert _get(f"{base}/api/models/nope", TOKEN)[0] == 404
    assert _get(f"{base}/api/models/fraud-v3/decisions?window=bad", TOKEN)[0] == 400


def _raw(url: str, token: str | None = None) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) without following redirects."""
    conn = http.client.HTTPConnection(urlsplit(url).netloc, timeout=30)
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    conn.request("GET", target, headers={"Authorization": f"Bearer {token}"} if token else {})
    resp = conn.getresponse()
    try:
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def test_every_route_is_behind_the_token_and_hardened(run: dict[str, Any]) -> None:
    """faust's own routes are off, nothing answers without the token, no 500 anywhere."""
    base = run["base"]
    faust_routes = ["/router/", "/router/x/", "/table/", "/table/x/", "/graph/", "/performance/"]
    for path in ["/", "/models", "/nope", *faust_routes]:
        status, headers, body = _raw(base + path)
        assert status == 401, path
        assert b"fraud-v3" not in body and b"OK" not in body, path
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"], path
        assert headers["X-Content-Type-Options"] == "nosniff", path
    for path in ["/nope", *faust_routes]:
        assert _raw(base + path, TOKEN)[0] == 404, path  # faust's routes are gone, no 500
    status, headers, _ = _raw(f"{base}/", TOKEN)
    assert status == 302 and headers["Location"] == "/models"  # / is the dashboard
    status, headers, _ = _raw(f"{base}/api/models?token={TOKEN}")
    assert status == 303 and headers["Location"] == "/api/models"  # token leaves the URL
    assert TOKEN not in headers["Set-Cookie"] and "HttpOnly" in headers["Set-Cookie"]
    assert _raw(f"{base}/metrics")[0] == 200


def test_models_to_model_to_feature(run: dict[str, Any], browser: BrowserContext) -> None:
    base = run["base"]
    page = browser.new_page()
    csp_errors: list[str] = []
    page.on(
        "console",
        lambda m: csp_errors.append(m.text) if "Content Security Policy" in m.text else None,
    )
    # Without the token: the login form, not the data.
    resp = page.goto(f"{base}/models")
    assert resp is not None and resp.status == 401
    assert page.locator("input[name=token]").count() == 1
    _shot(page, "01-login")
    page.fill("input[name=token]", TOKEN)
    page.click("button[type=submit]")
    page.wait_for_selector("table[data-table=models]")
    assert "token=" not in page.url  # the token went into a cookie, not the address bar
    assert page.locator("svg.strip rect").count() > 0
    _shot(page, "02-models")

    page.click("a.model-link")
    page.wait_for_selector("svg.heatmap[data-scale=hour]")
    hm = page.locator("svg.heatmap[data-scale=hour]")
    rows, cols = int(hm.get_attribute("data-rows") or 0), int(hm.get_attribute("data-cols") or 0)
    assert rows == 7 and cols >= HOURS - 2
    assert page.locator("svg.heatmap[data-scale=hour] rect.cell").count() == rows * cols
    ratios = _attr_floats(page, "svg.heatmap[data-scale=hour] rect.cell", "data-ratio")
    assert len(ratios) >= cols and max(ratios) > 1.0
    assert page.locator("svg.heatmap[data-scale=hour] rect.alert-span").count() >= 1
    assert page.locator("svg.heatmap[data-scale=day]").count() == 1
    _shot(page, "03-model")

    # Click the first breaching cell of `amount`: the page focuses that feature there.
    default = page.locator("main > div[data-model]").get_attribute("data-window")
    cell = page.locator(
        "svg.heatmap[data-scale=hour] rect.cell[data-feature=amount][data-breach=true]"
    ).first
    window = cell.get_attribute("data-window")
    assert window and window != default
    cell.click()
    page.wait_for_selector(f"section.feature[data-feature=amount][data-window='{window}']")
    assert "feature=amount" in page.url
    overlay = page.locator("section.feature svg.overlay")
    assert overlay.get_attribute("data-kind") == "numeric"
    masses = _attr_floats(page, "section.feature svg.overlay path.dist", "data-mass")
    assert len(masses) >= 2 and all(m > 0.9 for m in masses)  # reference and window
    values = _attr_floats(page, "section.feature svg.series circle.pt", "data-value")
    assert len(values) >= HOURS - 2
    assert page.locator("section.feature svg.series path.threshold").count() >= 1
    breach_pts = page.locator("section.feature svg.series circle.pt[data-breach=true]").count()
    assert breach_pts >= 1
    assert page.locator("table[data-table=distribution] tbody tr").count() >= 10
    assert page.locator("table[data-table=decisions] tbody tr").count() >= 1
    _shot(page, "04-feature-amount")

    # A categorical feature from the window table: bars instead of a histogram.
    page.click("table[data-table=window] a:text-is('country')")
    page.wait_for_selector("section.feature[data-feature=country]")
    assert page.locator("section.feature svg.overlay").get_attribute("data-kind") == "categorical"
    shares = _attr_floats(page, "section.feature svg.overlay rect.bar", "data-share")
    assert shares and max(shares) > 0
    _shot(page, "05-feature-country")

    # Log out: the session ends here and for any copy of its cookie.
    cookie = next(c for c in browser.cookies() if c["name"] == "driftstream_session")
    page.click("a.logout")
    page.wait_for_selector("input[name=token]")
    assert not [c for c in browser.cookies() if c["name"] == "driftstream_session"]
    resp = page.goto(f"{base}/models")
    assert resp is not None and resp.status == 401
    copy = f"driftstream_session={cookie['value']}"
    req = urllib.request.Request(f"{base}/api/models", headers={"Cookie": copy})  # noqa: S310
    with pytest.raises(urllib.error.HTTPError) as denied:
        urllib.request.urlopen(req, timeout=30)  # noqa: S310 - loopback http only
    denied.value.close()  # the error's response holds the socket
    assert denied.value.code == 401
    _shot(page, "07-logged-out")
    assert not csp_errors, csp_errors  # the pages need nothing the policy forbids
    page.close()


def test_alert_links_land_on_their_window_and_feature(
    run: dict[str, Any], browser: BrowserContext
) -> None:
    triggered = [a for a in run["alerts"] if a["status"] == "triggered"]
    assert triggered, run["alerts"]
    alert = triggered[0]
    feature = alert["features"][0]
    assert alert["dashboard_url"].startswith(run["base"] + "/models/fraud-v3?window=")
    page = browser.new_page()
    page.goto(f"{run['base']}/models?token={TOKEN}")  # this browser's cookie, as a user would
    targets = [(feature["dashboard_url"], feature["name"]), (alert["dashboard_url"], None)]
    for url, want_feature in targets:
        resp = page.goto(url)
        assert resp is not None and resp.status == 200, url
        main = page.locator("main > div[data-model]")
        assert main.get_attribute("data-window") == alert["window"]["key"]
        if want_feature:
            assert main.get_attribute("data-feature") == want_feature
            assert page.locator(f"section.feature[data-feature={want_feature}]").count() == 1
        scale = alert["window"]["scale"]
        focus = page.locator(f"svg.heatmap[data-scale={scale}] rect.focus")
        assert focus.get_attribute("data-window") == alert["window"]["key"]
        assert page.locator("section.feature svg.series circle.pt").count() >= 1
        assert page.locator(".alert-row").count() >= 1
    page.goto(feature["dashboard_url"])
    _shot(page, "06-alert-link")
    page.close()


def test_a_replay_alert_link_opens_the_replay_namespace(
    run: dict[str, Any], browser: BrowserContext, tmp_path: Path
) -> None:
    """#17: a replay's alert links to its own namespace, where its window was evaluated.

    The replayed hours are ten days after the live ones, on a topic the worker does not
    read: the live namespace never evaluated them (the old link said "This window was
    not evaluated"); the link must open the replay's namespace on the running worker.
    """
    d: Deployment = run["deployment"]
    start = START_MS + 10 * 24 * HOUR
    gen = SyntheticStream(
        spec(), start_ms=start, events_per_hour=PER_HOUR, seed=9,
        drifts=[Drift("amount", "shift", 1.0, start + 3 * HOUR)],
    )  # fmt: skip
    send(run["bootstrap"], run["replay_topic"], gen.records(6 * PER_HOUR), partitions=3)
    alerts_out = tmp_path / "replay-alerts.jsonl"
    done = d.cli(
        "replay", "--topic", run["replay_topic"], "--alerts-out", str(alerts_out), timeout=600
    )
    assert done.returncode == 0, done.stderr
    ns = json.loads(done.stdout.strip().splitlines()[-1])["namespace"]
    r = redis.Redis.from_url(d.redis_url)
    try:
        replayed = [json.loads(x) for x in alerts_out.read_text().splitlines()]
        triggered = [a for a in replayed if a["status"] == "triggered"]
        assert triggered, replayed
        alert = triggered[0]
        key = alert["window"]["key"]
        assert alert["dashboard_url"].startswith(run["base"] + "/models/fraud-v3?window=")
        assert alert["dashboard_url"].endswith(f"&namespace={ns}")
        # The live namespace never saw this window; the replay's evaluated it.
        live = f"{run['base']}/api/models/fraud-v3/decisions?window={key}"
        assert _get(live, TOKEN)[0] == 404
        status, decisions = _get(f"{live}&namespace={ns}", TOKEN)
        assert status == 200 and decisions["window"] == key and decisions["rows"]

        status, _, body = _raw(alert["dashboard_url"], TOKEN)
        html = body.decode()
        assert status == 200
        assert "This window was not evaluated" not in html
        assert f'data-namespace="{ns}"' in html and f'data-window="{key}"' in html
        assert 'data-table="window"' in html
        # Every link on the page stays in the replay's namespace (but the way back to live).
        hrefs = re.findall(r'href="([^"]*)"', html)
        inside = [h for h in hrefs if h.startswith("/models/")]
        assert inside and all(h.endswith(f"namespace={ns}") for h in inside), inside
        assert sorted({h for h in hrefs if h.startswith("/models")} - set(inside)) == [
            "/models",  # the banner's way back to live
            f"/models?namespace={ns}",  # home and crumbs
        ]

        # Namespaces are checked before anything is read.
        bad = f"{run['base']}/api/models/fraud-v3?namespace="
        assert _get(bad + "x%7D%7C%2A", TOKEN)[0] == 400  # x}|* : no key injection
        assert _get(bad + "replay-0000000000", TOKEN)[0] == 404  # no such replay
        assert _raw(f"{run['base']}/models?namespace=replay-0000000000", TOKEN)[0] == 404

        page = browser.new_page()
        page.goto(f"{run['base']}/models?token={TOKEN}")
        resp = page.goto(alert["features"][0]["dashboard_url"])
        assert resp is not None and resp.status == 200
        assert page.locator(".replay-ns").get_attribute("data-namespace") == ns
        main = page.locator("main > div[data-model]")
        assert main.get_attribute("data-window") == key
        scale = alert["window"]["scale"]
        focus = page.locator(f"svg.heatmap[data-scale={scale}] rect.focus")
        assert focus.get_attribute("data-window") == key
        assert page.locator("table[data-table=window] tbody tr").count() >= 1
        assert page.locator("section.feature svg.overlay path.dist").count() >= 2  # ref + window
        _shot(page, "08-replay-namespace")
        page.click(".replay-ns a")  # back to live
        page.wait_for_selector("table[data-table=models]")
        assert page.locator(".replay-ns").count() == 0
        page.close()
    finally:
        for k in r.scan_iter(match=f"ds:{{{ns}|*", count=1000):
            r.delete(k)
        r.close()
