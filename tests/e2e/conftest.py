"""End-to-end fixtures: a headless Chromium for the dashboard test.

Chromium comes from Debian (``apt-get install chromium``) when ``/usr/bin/chromium`` is
missing, the way the local stack installs ``redis-server``: the suite starts what it
needs, in CI as root with no stdin. Playwright drives that binary; its own browser
downloads (``playwright install``) are never used.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
PACKAGES = ("chromium", "fonts-liberation")
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
APT_TIMEOUT_S = 900
# Playwright's 30 s defaults (browser start, each step) are hang guards: a loaded
# 2-core machine can start Chromium or lay out a page slower than that.
LAUNCH_TIMEOUT_MS = 120_000


def _apt(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    return subprocess.run(
        ["apt-get", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=APT_TIMEOUT_S,
        check=False,
    )


def ensure_chromium() -> Path:
    """``/usr/bin/chromium``, installed with apt-get first when missing (needs root)."""
    if CHROMIUM.exists():
        return CHROMIUM
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        pytest.fail(f"{CHROMIUM} is missing; install Debian's chromium (as root: apt-get)")
    install = ("install", "-y", "--no-install-recommends", *PACKAGES)
    done = _apt(*install)
    if done.returncode != 0:  # stale or empty package lists: refresh once and retry
        _apt("update")
        done = _apt(*install)
    if done.returncode != 0 or not CHROMIUM.exists():
        pytest.fail(f"apt-get install {' '.join(PACKAGES)} failed:\n{done.stderr[-2000:]}")
    return CHROMIUM


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Path of a Chromium binary for Playwright's ``executable_path``."""
    return ensure_chromium()
