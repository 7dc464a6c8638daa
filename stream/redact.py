"""Secrets never reach output: the one place that masks URLs and known secret values.

Every message, log line, ``config check``/``status`` text and JSON that may carry a
connection URL or a credential goes through :func:`redact_url` (a URL whose shape is
known) or :func:`scrub` (any text, given the secret values the process holds).

URL rules: the URL is split the way urllib (and so redis-py) splits it: the authority
ends at the first ``/``, ``?`` or ``#`` and the host follows its *last* ``@``. The
password part of the userinfo is masked whatever it contains (``@``, ``:``),
a userinfo without a ``:`` is masked whole (``redis://TOKEN@host``), and every query
parameter whose name looks like a credential (``password``, ``token``, ``key``, …) has
its value masked. User names stay visible: they are what an operator needs to check.

>>> redact_url("redis://u:p@ss:w0rd@host:6379/0")
'redis://u:***@host:6379/0'
>>> redact_url("rediss://host:6379/0?username=app&password=S3CRET&ssl_cert_reqs=required")
'rediss://host:6379/0?username=app&password=***&ssl_cert_reqs=required'
>>> redact_url("redis://:S3CRET@host/0"), redact_url("redis://S3CRET@host")
('redis://:***@host/0', 'redis://***@host')
>>> scrub("AUTH failed for S3CRET at host", ["S3CRET", "", None])
'AUTH failed for *** at host'
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["MASK", "SECRET_PARAM", "redact_url", "scrub", "scrub_urls"]

MASK = "***"
SECRET_PARAM = re.compile(
    r"pass|pwd|secret|token|key|auth|credential|signature|sig$", re.IGNORECASE
)
_URL = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")


def _split(url: str) -> tuple[str, str, str, str] | None:
    """(scheme://, userinfo or '', host part, rest) the way urllib (and redis-py) split."""
    head, sep, rest = url.partition("://")
    if not sep:
        return None
    end = len(rest)
    for ch in "/?#":
        i = rest.find(ch)
        if 0 <= i < end:
            end = i
    netloc, tail = rest[:end], rest[end:]
    userinfo, at, host = netloc.rpartition("@")
    return head + sep, userinfo if at else "", host if at else netloc, tail


def _mask_query(query: str) -> str:
    out = []
    for pair in query.split("&"):
        name, eq, value = pair.partition("=")
        out.append(f"{name}={MASK}" if eq and value and SECRET_PARAM.search(name) else pair)
    return "&".join(out)


def redact_url(url: str) -> str:
    """``url`` with its password and credential-like query values replaced by ``***``."""
    parts = _split(url)
    if parts is None:
        return url
    scheme, userinfo, host, tail = parts
    if userinfo:
        user, colon, _ = userinfo.partition(":")
        host = f"{user}:{MASK}@{host}" if colon else f"{MASK}@{host}"
    path, q, query = tail.partition("?")
    if q:
        query, hash_, frag = query.partition("#")
        tail = f"{path}?{_mask_query(query)}{hash_}{frag}"
    return scheme + host + tail


def scrub_urls(text: str) -> str:
    """Every URL inside free ``text`` redacted (library messages may quote one)."""
    return _URL.sub(lambda m: redact_url(m.group(0)), text)


def scrub(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with URLs redacted and every known secret value replaced by ``***``.

    Longer secrets are replaced first so one that contains another is masked whole;
    values shorter than 4 characters are masked only inside URLs (masking ``a`` in free
    text would shred the message and tell nothing anyway).
    """
    out = scrub_urls(text)
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        if len(secret) >= 4:
            out = out.replace(secret, MASK)
    return out
