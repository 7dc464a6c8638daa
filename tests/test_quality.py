"""ruff, mypy --strict and the import-linter contracts run as tests, so CI holds them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, check=False)


def test_ruff_lint() -> None:
    r = _run(str(BIN / "ruff"), "check", "stream", "tests", "benchmarks")
    assert r.returncode == 0, r.stdout + r.stderr


def test_ruff_format() -> None:
    r = _run(str(BIN / "ruff"), "format", "--check", "stream", "tests", "benchmarks")
    assert r.returncode == 0, r.stdout + r.stderr


def test_mypy_strict() -> None:
    r = _run(sys.executable, "-m", "mypy")
    assert r.returncode == 0, r.stdout + r.stderr


def test_import_contracts() -> None:
    r = _run(str(BIN / "lint-imports"))
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("module", ["stream.core", "stream.core.window"])
def test_core_has_no_io_imports(module: str) -> None:
    # A second, cheap line of defence next to import-linter.
    r = _run(
        sys.executable,
        "-c",
        f"import sys, {module}; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'kafka', 'redis', 'aiokafka', 'faust'}))",
    )
    assert r.returncode == 0 and r.stdout.strip() == "[]", r.stdout + r.stderr
