"""docs/architecture.md stays the map: listed repetition, and paths that exist.

1. Every pair `duplicates --repo stream` finds is named in the one "Deliberate
   repetition" section (both file names in one entry), so a new unlisted
   duplicate fails the suite. `duplicates` is a machine tool, not a project
   dependency: without it on PATH the check is skipped with that reason.
2. Every path the "Where a new … goes" section cites exists in the tree.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "architecture.md"

# D12 core/sketch/categorical.py:171-181 ~ core/sketch/numeric.py:142-152 shape
ROW = re.compile(r"^D\d+\s+(\S+?):\d+-\d+\s+~\s+(\S+?):\d+-\d+\b")
# A cited path: `stream/...`, `tests/...`, `docs/...`, `native/...`, or a root file.
CITED = re.compile(
    r"`((?:stream|tests|docs|native|benchmarks|deploy)/[\w./<>*-]+|"
    r"pyproject\.toml|README\.md|Makefile|setup\.py)"
)


def _section(title: str) -> list[str]:
    """The entries of the one `## <title>` section: bullets joined with their continuation."""
    lines = DOC.read_text().splitlines()
    starts = [i for i, line in enumerate(lines) if line.strip() == f"## {title}"]
    assert len(starts) == 1, f"docs/architecture.md needs exactly one '## {title}'"
    body: list[str] = []
    for line in lines[starts[0] + 1 :]:
        if line.startswith("## "):
            break
        body.append(line)
    entries: list[str] = []
    for line in body:
        if re.match(r"^\s*(?:[-*]|\d+\.)\s", line) or not entries or not line.strip():
            entries.append(line)
        else:
            entries[-1] += " " + line.strip()
    return [e for e in entries if e.strip()]


def _duplicate_pairs() -> list[tuple[str, str, str]]:
    exe = shutil.which("duplicates")
    if exe is None:
        pytest.skip("the `duplicates` machine tool is not on PATH (not a project dependency)")
    out = subprocess.run(
        [exe, "--repo", "stream", "--most", "200", "--seconds", "120"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "incomplete:" not in out, f"duplicates did not read the whole tree:\n{out}"
    assert "more pairs)" not in out, f"more than 200 pairs: --most cut the list:\n{out}"
    pairs = []
    for line in out.splitlines():
        m = ROW.match(line)
        if m:
            pairs.append((m.group(1), m.group(2), line))
    if not pairs:
        assert out.startswith("no duplicates"), f"unparsed duplicates output:\n{out}"
    return pairs


def _names(entry: str, path: str) -> bool:
    """The entry names the file (`core/alert.py` or `stream/core/alert.py`, not a longer path)."""
    return re.search(rf"(?<![\w/.])(?:stream/)?{re.escape(path)}(?!\w)", entry) is not None


def test_every_duplicate_pair_is_listed_as_deliberate() -> None:
    entries = _section("Deliberate repetition")
    missing = [
        row
        for a, b, row in _duplicate_pairs()
        if not any(_names(e, a) and _names(e, b) for e in entries)
    ]
    assert not missing, (
        "pairs not listed in docs/architecture.md 'Deliberate repetition' "
        "(remove the repetition, or add one entry naming both files and why):\n"
        + "\n".join(missing)
    )


def test_paths_in_where_a_new_thing_goes_exist() -> None:
    text = "\n".join(_section("Where a new thing goes"))
    cited = set(CITED.findall(text))
    assert len(cited) > 20, f"the section cites few paths: {sorted(cited)}"
    absent = []
    for path in sorted(cited):
        if "<" in path or "*" in path:  # a pattern (`adapters/<backend>_*.py`): its folder
            path = path.split("<")[0].split("*")[0].rsplit("/", 1)[0]
        if not (ROOT / path.rstrip("/.")).exists():
            absent.append(path)
    assert not absent, f"'Where a new thing goes' cites paths that do not exist: {absent}"
