"""stream.redact: no password, token or key survives in any URL form we print."""

from __future__ import annotations

import doctest

import pytest
from hypothesis import given
from hypothesis import strategies as st

import stream.redact
from stream.redact import MASK, redact_url, scrub, scrub_urls
from stream.settings import load_settings

# Anything urllib keeps inside the userinfo: '@' and ':' included, not '/', '?', '#'.
USERINFO_CHARS = st.characters(blacklist_characters="/?#", blacklist_categories=("Cs",))
QUERY_CHARS = st.characters(blacklist_characters="&#", blacklist_categories=("Cs",))


def test_doctests() -> None:
    assert doctest.testmod(stream.redact).failed == 0


@given(password=st.text(USERINFO_CHARS, min_size=1, max_size=40))
def test_userinfo_password_masked_whatever_it_holds(password: str) -> None:
    url = f"rediss://app:{password}@cache.internal:6380/2"
    assert redact_url(url) == f"rediss://app:{MASK}@cache.internal:6380/2"


@given(password=st.text(QUERY_CHARS, min_size=1, max_size=40))
def test_query_password_masked(password: str) -> None:
    url = f"redis://h:6379/0?username=app&password={password}&db=1"
    assert redact_url(url) == f"redis://h:6379/0?username=app&password={MASK}&db=1"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:S3CRET@h/0", "redis://:***@h/0"),
        ("redis://S3CRET@h/0", "redis://***@h/0"),
        ("redis://u:p@ssS3CRET@h/0", "redis://u:***@h/0"),
        ("unix:///run/redis.sock?password=S3CRET&db=0", "unix:///run/redis.sock?password=***&db=0"),
        ("https://x.example/hook?token=S3CRET#top", "https://x.example/hook?token=***#top"),
        (
            "https://x/y?routing_key=S3CRET&api_key=S3CRET",
            "https://x/y?routing_key=***&api_key=***",
        ),
        ("redis://[::1]:6379/0", "redis://[::1]:6379/0"),
        ("redis://h:6379/0", "redis://h:6379/0"),
        ("not a url", "not a url"),
    ],
)
def test_forms(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_scrub_masks_urls_in_text_and_known_values() -> None:
    text = "connect redis://u:S3CRET@h:1/0 failed; server said: bad pass S3CRETX for u"
    out = scrub(text, ["S3CRETX", "S3CRET"])
    assert "S3CRET" not in out
    assert out == "connect redis://u:***@h:1/0 failed; server said: bad pass *** for u"
    assert scrub_urls("see http://a/b?password=x") == "see http://a/b?password=***"


def test_settings_show_redis_url_masked_in_every_form() -> None:
    for url in (
        "redis://h:6379/0?password=S3CRET",
        "redis://u:p@ssS3CRET@h/0",
        "rediss://u:S3CRET@h:6380/0?password=S3CRET",
    ):
        s = load_settings(None, env={"DRIFTSTREAM_REDIS__URL": url})
        assert "S3CRET" not in str(s.redis.url)
        assert "S3CRET" not in repr(s)
        assert "S3CRET" not in str(s.redacted())


@pytest.mark.parametrize("key", ["DASHBOARD_BASE_URL", "RUNBOOK_URL"])
def test_alert_links_refuse_credentials(key: str) -> None:
    from stream.errors import ConfigError

    for bad in ("https://u:S3CRET@dash.example/", "https://dash.example/?token=S3CRET"):
        with pytest.raises(ConfigError) as info:
            load_settings(None, env={f"DRIFTSTREAM_ALERTS__{key}": bad})
        assert "S3CRET" not in str(info.value)
        assert "must not carry credentials" in str(info.value)
