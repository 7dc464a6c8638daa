"""The import-linter contracts fence what docs/architecture.md says they fence.

Each probe copies ``stream/`` and pyproject.toml to a temporary directory, adds
one forbidden import in a new module there (imported by nobody, so exactly the
contracts that fence it break) or at the end of a named module, and runs
``lint-imports`` on the copy: the named contracts must come out BROKEN and every
other one KEPT. On the unchanged copy every contract is KEPT, so a probe's failure
is the probe's doing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).parent / "lint-imports"
CONTRACTS = {
    c["name"]: c["id"]
    for c in tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"][
        "contracts"
    ]
}
_STATUS = re.compile(r"^(?P<name>.+) (?P<status>KEPT|BROKEN)(?: \(\d+ ignored imports?\))?$")


def _copy(dest: Path) -> Path:
    shutil.copytree(ROOT / "stream", dest / "stream", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", dest / "pyproject.toml")
    return dest


def _lint(tree: Path) -> dict[str, str]:
    """Contract id → KEPT / BROKEN for the package in ``tree`` (its own copy, not ours)."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    r = subprocess.run(
        [str(LINT), "--no-cache", "--no-logo", "pyproject.toml"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    found = {
        CONTRACTS[m["name"]]: m["status"]
        for line in r.stdout.splitlines()
        if (m := _STATUS.match(line.strip())) and m["name"] in CONTRACTS
    }
    assert set(found) == set(CONTRACTS.values()), r.stdout + r.stderr
    assert (r.returncode == 0) == all(s == "KEPT" for s in found.values()), r.stdout
    return found


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _copy(tmp_path_factory.mktemp("clean"))


def test_every_contract_kept_on_the_clean_tree(clean: Path) -> None:
    assert _lint(clean) == dict.fromkeys(CONTRACTS.values(), "KEPT")


# (where the new module goes, what it imports, the contracts that must break)
PROBES = [
    ("core", "import stream.settings", {"core", "layers"}),
    ("core", "import stream.catalog", {"core", "layers"}),
    ("core", "import redis", {"core"}),
    ("contract", "import redis", {"contract"}),
    ("contract", "import stream.settings", {"contract", "layers"}),
    ("contract", "import stream.pipeline.ports", {"contract", "layers"}),
    ("pipeline", "import stream.localstack", {"pipeline", "layers"}),
    ("pipeline", "import stream.settings", {"pipeline", "layers"}),
    ("pipeline", "import stream.synth", {"pipeline", "layers"}),
    ("pipeline", "import stream.adapters.redis_keys", {"pipeline", "layers"}),
    ("pipeline", "import redis", {"pipeline"}),
    ("adapters", "import stream.runtime", {"layers"}),
    ("adapters", "import stream.commands", {"layers"}),
    ("web", "import redis", {"web"}),
    ("web", "import stream.adapters.redis_keys", {"web", "layers"}),
    ("web", "import stream.runtime", {"web", "layers"}),
    ("settings", "import stream.adapters.redis_keys", {"layers"}),
    ("localstack", "import stream.synth", {"layers"}),
    ("catalog", "import stream.contract", {"layers"}),
    # The ports' planes, and which adapters may import each (an existing module, appended to).
    ("pipeline/ports/data.py", "import stream.pipeline.ports.labels", {"ports"}),
    ("pipeline/ports/windows.py", "import stream.pipeline.ports.labels", {"ports"}),
    ("pipeline/ports/alerts.py", "import stream.pipeline.ports.data", {"ports"}),
    ("adapters", "import stream.pipeline.ports", {"adapter-ports"}),
    ("adapters/forward.py", "import stream.pipeline.ports.data", {"data-ports"}),
    ("adapters/kafka.py", "import stream.pipeline.ports.windows", {"window-ports"}),
    ("adapters/redis_store.py", "import stream.pipeline.ports.labels", {"label-ports"}),
    ("adapters/redis_labels.py", "import stream.pipeline.ports.alerts", {"alert-ports"}),
    ("adapters/redis_eval.py", "import stream.pipeline.ports.stats", {"stats-ports"}),
]


@pytest.mark.parametrize(
    ("where", "line", "broken"), PROBES, ids=[f"{w}: {i}" for w, i, _ in PROBES]
)
def test_a_forbidden_import_breaks_its_contracts(
    tmp_path: Path, where: str, line: str, broken: set[str]
) -> None:
    tree = _copy(tmp_path)
    if where.endswith(".py"):  # the import goes into that module
        target = tree / "stream" / where
        target.write_text(target.read_text() + f"\n{line}  # probe\n")
    else:
        (tree / "stream" / where / "_layer_probe.py").write_text(f'"""Probe."""\n\n{line}\n')
    got = _lint(tree)
    assert {c for c, s in got.items() if s == "BROKEN"} == broken


def test_a_top_level_module_outside_every_layer_breaks_the_layers(tmp_path: Path) -> None:
    # The layers contract is exhaustive: a new module of stream/ is placed on purpose.
    tree = _copy(tmp_path)
    (tree / "stream" / "newthing.py").write_text('"""Probe."""\n')
    got = _lint(tree)
    assert {c for c, s in got.items() if s == "BROKEN"} == {"layers"}


def test_web_and_layers_hold_without_exceptions(clean: Path, tmp_path: Path) -> None:
    tree = _copy(tmp_path)
    config = tree / "pyproject.toml"
    text = re.sub(r"\nignore_imports = \[[^\]]*\]\n", "\n", config.read_text())
    assert "ignore_imports" not in text.split("[tool.importlinter]")[1]
    config.write_text(text)
    assert _lint(tree) == dict.fromkeys(CONTRACTS.values(), "KEPT")
