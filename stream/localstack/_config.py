"""Where the local stack keeps its files, and which Kafka it runs.

The Kafka version lives in one place, ``deploy/local/pom.xml``; this module reads
it from there so the cache directory, the fetch and the running broker agree.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from stream.errors import StackError

__all__ = [
    "ENV_CACHE_DIR",
    "ENV_STACK_DIR",
    "LOOPBACK",
    "KafkaDist",
    "default_cache_dir",
    "default_stack_dir",
    "kafka_dist",
    "pom_path",
]

ENV_CACHE_DIR = "DRIFTSTREAM_CACHE_DIR"
ENV_STACK_DIR = "DRIFTSTREAM_STACK_DIR"
# Loopback only: the local stack has no authentication, so it must not listen on
# an interface other machines can reach.
LOOPBACK = "127.0.0.1"

# stream/localstack/_config.py -> repository root (the package is installed editable).
_REPO_ROOT = Path(__file__).resolve().parents[2]
_POM_RELATIVE = Path("deploy") / "local" / "pom.xml"


def default_cache_dir() -> Path:
    """``$DRIFTSTREAM_CACHE_DIR`` or ``~/.cache/driftstream``: downloaded jars, outside git."""
    value = os.environ.get(ENV_CACHE_DIR)
    return Path(value).expanduser() if value else Path.home() / ".cache" / "driftstream"


def default_stack_dir() -> Path:
    """``$DRIFTSTREAM_STACK_DIR`` or ``~/.cache/driftstream/stack``: the user's own stack."""
    value = os.environ.get(ENV_STACK_DIR)
    return Path(value).expanduser() if value else Path.home() / ".cache" / "driftstream" / "stack"


def pom_path() -> Path:
    """Locate ``deploy/local/pom.xml`` in the source checkout this package runs from.

    Raises:
        StackError: the package is not running from a checkout (e.g. a wheel install).
    """
    pom = _REPO_ROOT / _POM_RELATIVE
    if not pom.is_file():
        msg = (
            f"{_POM_RELATIVE} not found at {pom}; the local stack runs from a source "
            "checkout (pip install -e .)"
        )
        raise StackError(msg)
    return pom


@dataclass(frozen=True, slots=True)
class KafkaDist:
    """The broker build pinned by the pom: version, and a digest that changes with the pom."""

    pom: Path
    version: str
    pom_sha256: str

    def home(self, cache_dir: Path) -> Path:
        """``<cache>/kafka-<version>``: one directory per pinned version."""
        return cache_dir / f"kafka-{self.version}"

    def libs(self, cache_dir: Path) -> Path:
        """The classpath directory Maven copies the jars into."""
        return self.home(cache_dir) / "libs"


_VERSION_RE = re.compile(r"<kafka\.version>\s*([0-9A-Za-z.\-]+)\s*</kafka\.version>")


def kafka_dist(pom: Path | None = None) -> KafkaDist:
    """Read the pinned Kafka version from the pom.

    Raises:
        StackError: the pom has no ``<kafka.version>`` property.
    """
    pom = pom or pom_path()
    text = pom.read_bytes()
    # A regex, not an XML parser: we only need one property of our own file.
    found = _VERSION_RE.search(text.decode("utf-8"))
    if found is None:
        msg = f"{pom} has no <kafka.version> property"
        raise StackError(msg)
    return KafkaDist(pom=pom, version=found.group(1), pom_sha256=hashlib.sha256(text).hexdigest())
