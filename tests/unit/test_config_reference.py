"""The README's config reference is the one generated from the settings model."""

from __future__ import annotations

from pathlib import Path

from stream.commands.docs import END, START, reference_block, reference_table
from stream.settings import describe, env_names

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_block_equals_the_generated_one() -> None:
    text = README.read_text(encoding="utf-8")
    assert text.count(START) == 1 and text.count(END) == 1
    block = text[text.index(START) : text.index(END) + len(END)]
    assert block == reference_block(), (
        "README config reference is stale: run `driftstream config reference --update README.md`"
    )
    assert "## Configuration reference" in text[: text.index(START)]


def test_table_has_one_row_per_setting_and_every_variable() -> None:
    rows = reference_table().splitlines()[2:]
    assert len(rows) == len(list(describe()))
    canonical = {n for n in env_names() if "__" in n}
    assert canonical == {n for n in canonical if f"`{n}`" in reference_table()}
    for row in rows:
        # Five cells whatever the content: pipes inside cells are escaped.
        assert row.replace("\\|", "").count("|") == 6, row
