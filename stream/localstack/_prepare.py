"""``prepare``: Java and Maven present, redis-server installed, Kafka jars cached.

Safe to run on every ``make test``: each step is skipped when already done, and
nothing ever prompts (CI has no stdin).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from stream.errors import StackError

from ._config import KafkaDist, default_cache_dir, kafka_dist
from ._proc import file_lock, now_ms

__all__ = ["MIN_JAVA", "Prepared", "find_java", "find_redis_server", "prepare"]

log = logging.getLogger("stream.localstack")

MIN_JAVA = 17
_MARKER = ".driftstream-complete"
_JAVA_VERSION_RE = re.compile(r'version "(\d+)(?:\.(\d+))?')
_APT_ENV = {"DEBIAN_FRONTEND": "noninteractive", "NEEDRESTART_MODE": "a"}


@dataclass(frozen=True, slots=True)
class Prepared:
    """Everything ``up`` needs to start the servers."""

    java: str
    redis_server: str
    libs: Path
    kafka_version: str


def _java_major(java: str) -> int | None:
    try:
        out = subprocess.run(
            [java, "-version"],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = _JAVA_VERSION_RE.search(out.stderr + out.stdout)
    if found is None:
        return None
    major = int(found.group(1))
    # Java 8 and older report "1.8.0_x".
    return int(found.group(2) or 0) if major == 1 else major


def _java_problem(java: str | None) -> str | None:
    if java is None:
        return f"java (Kafka 4 needs Java {MIN_JAVA}+)"
    major = _java_major(java)
    if major is None or major < MIN_JAVA:
        seen = "of unknown version" if major is None else f"is Java {major}"
        return f"java {MIN_JAVA}+ ({java} {seen})"
    return None


def _check_tools(need_maven: bool) -> tuple[str, str | None]:
    """Return (java, mvn); mvn only when jars must be fetched. One error names all gaps."""
    java = shutil.which("java")
    mvn = shutil.which("mvn")
    missing: list[str] = []
    packages: list[str] = []
    if (problem := _java_problem(java)) is not None:
        missing.append(problem)
        packages.append("openjdk-17-jre-headless")
    if need_maven and mvn is None:
        missing.append("mvn (Maven fetches the Kafka jars from Maven Central)")
        packages.append("maven")
    if missing or java is None:
        msg = f"missing {' and '.join(missing)}: apt-get install -y {' '.join(packages)}"
        raise StackError(msg)
    return java, mvn


def find_java() -> str:
    """Path of a ``java`` that is version 17 or newer.

    Raises:
        StackError: java is missing or too old, with the apt command that fixes it.
    """
    return _check_tools(need_maven=False)[0]


def _tail(text: str, lines: int = 1) -> str:
    kept = [line.strip() for line in text.splitlines() if line.strip()]
    return " | ".join(kept[-lines:]) if kept else "(no output)"


def _apt(*args: str) -> None:
    cmd = ["apt-get", *args]
    log.info("running %s", " ".join(cmd))
    out = subprocess.run(
        cmd,
        env={**os.environ, **_APT_ENV},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        msg = f"{' '.join(cmd)} failed (exit {out.returncode}): {_tail(out.stderr or out.stdout)}"
        raise StackError(msg)


def find_tool(binary: str, package: str, install: bool = True) -> str:
    """Path of ``binary``; installs Debian's ``package`` with apt-get when missing.

    Args:
        binary: the executable (``redis-server``, ``redis-cli``, ``openssl``).
        package: the Debian package that provides it.
        install: when False, a missing binary is an error instead of an install.

    Raises:
        StackError: missing and cannot be installed here (not root, no apt-get).
    """
    found = shutil.which(binary)
    if found is not None:
        return found
    hint = f"apt-get install -y {package}"
    if not install:
        msg = f"{binary} not found on PATH: {hint}"
        raise StackError(msg)
    if shutil.which("apt-get") is None:
        msg = f"{binary} not found on PATH and apt-get is unavailable; install {package} yourself"
        raise StackError(msg)
    if os.geteuid() != 0:
        msg = f"{binary} not found on PATH and installing it needs root: sudo {hint}"
        raise StackError(msg)
    _apt("update")
    _apt("install", "-y", "--no-install-recommends", package)
    # Debian installs to /usr/bin, which may be missing from a minimal CI PATH.
    found = shutil.which(binary) or shutil.which(binary, path="/usr/bin")
    if found is None:
        msg = f"{hint} succeeded but {binary} is still not on PATH"
        raise StackError(msg)
    return found


def find_redis_server(install: bool = True) -> str:
    """Path of ``redis-server``; installs Debian's package with apt-get when missing.

    Args:
        install: when False, a missing redis-server is an error instead of an install.

    Raises:
        StackError: missing and cannot be installed here (not root, no apt-get).
    """
    return find_tool("redis-server", "redis-server", install)


def _cached(dist: KafkaDist, libs: Path) -> bool:
    marker = libs / _MARKER
    try:
        recorded = json.loads(marker.read_text())
    except (OSError, ValueError):
        return False
    return (
        isinstance(recorded, dict)
        and recorded.get("pom_sha256") == dist.pom_sha256
        and (libs / f"kafka_2.13-{dist.version}.jar").is_file()
    )


def _fetch(dist: KafkaDist, libs: Path, mvn: str) -> None:
    staging = libs.with_name(f"libs.partial-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    cmd = [
        mvn,
        "-q",
        "-B",
        "-Dstyle.color=never",
        "-f",
        str(dist.pom),
        "dependency:copy-dependencies",
        f"-DoutputDirectory={staging}",
    ]
    log.info("fetching Kafka %s jars from Maven Central into %s", dist.version, libs)
    out = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        errors = [ln for ln in out.stdout.splitlines() if ln.startswith("[ERROR]")]
        detail = errors[0] if errors else _tail(out.stderr or out.stdout)
        msg = (
            f"fetching the Kafka jars with Maven failed (exit {out.returncode}): {detail} "
            f"(command: {' '.join(cmd)})"
        )
        raise StackError(msg)
    jars = sorted(p.name for p in staging.glob("*.jar"))
    (staging / _MARKER).write_text(
        json.dumps({"pom_sha256": dist.pom_sha256, "jars": len(jars), "fetched_ms": now_ms()})
    )
    # Swap in whole: a half-copied classpath must never look complete.
    shutil.rmtree(libs, ignore_errors=True)
    staging.rename(libs)


def prepare(cache_dir: Path | None = None, *, install_redis: bool = True) -> Prepared:
    """Check Java, install redis-server when missing, fetch the Kafka jars once.

    Args:
        cache_dir: where ``kafka-<version>/libs`` lives (default: ``default_cache_dir()``).
        install_redis: install Debian's redis-server with apt-get when it is missing.

    Returns:
        The java and redis-server binaries and the Kafka classpath directory.

    Raises:
        StackError: a tool is missing (the message says how to install it) or the
            fetch failed.
    """
    cache_dir = cache_dir or default_cache_dir()
    dist = kafka_dist()
    libs = dist.libs(cache_dir)
    java, mvn = _check_tools(need_maven=not _cached(dist, libs))
    with file_lock(dist.home(cache_dir) / ".lock"):
        # Re-checked under the lock: a concurrent prepare may have fetched meanwhile.
        if not _cached(dist, libs):
            if mvn is None:
                java, mvn = _check_tools(need_maven=True)
            if mvn is not None:
                _fetch(dist, libs, mvn)
    redis_server = find_redis_server(install=install_redis)
    return Prepared(java=java, redis_server=redis_server, libs=libs, kafka_version=dist.version)
