"""The README's config reference, generated from the settings model so it cannot drift.

``driftstream config reference`` prints the block; ``--update README.md`` rewrites
the part between the markers; ``--check README.md`` fails when it is stale (a test
runs the same comparison).
"""

from __future__ import annotations

from pathlib import Path

import click

from stream.errors import DriftstreamError
from stream.settings import describe

__all__ = ["END", "START", "config_reference", "reference_block", "reference_table", "splice"]

START = "<!-- config-reference:start -->"
END = "<!-- config-reference:end -->"
_NOTE = (
    "<!-- generated from stream/settings by `driftstream config reference --update README.md`;"
    " do not edit by hand -->"
)


def _cell(text: str) -> str:
    # A pipe ends a cell even inside a code span (GitHub-flavoured tables).
    return text.replace("|", "\\|").replace("\n", " ")


def reference_table() -> str:
    """The markdown table: key, type, default, environment variable, description.

    >>> print(reference_table().splitlines()[0])
    | key | type | default | environment variable | description |
    """
    lines = [
        "| key | type | default | environment variable | description |",
        "|---|---|---|---|---|",
    ]
    for row in describe():
        d = row.default
        default = d if d in ("", "(unset)", "(required)") else f"`{_cell(d)}`"
        env = f"`{row.env}`" if row.env else "file only"
        lines.append(
            f"| `{_cell(row.key)}` | {_cell(row.type)} | {default} | {env} "
            f"| {_cell(row.description)} |"
        )
    return "\n".join(lines) + "\n"


def reference_block() -> str:
    """The table between the README markers (markers included)."""
    return f"{START}\n{_NOTE}\n\n{reference_table()}\n{END}"


def splice(text: str, block: str) -> str:
    """``text`` with the part from START to END replaced by ``block``.

    >>> splice("a " + START + " old " + END + " b", START + " new " + END)
    'a <!-- config-reference:start --> new <!-- config-reference:end --> b'
    """
    i, j = text.find(START), text.find(END)
    if i < 0 or j < i:
        msg = f"no {START} ... {END} markers"
        raise DriftstreamError(msg)
    return text[:i] + block + text[j + len(END) :]


@click.command("reference")
@click.option(
    "--update",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Rewrite the block between the markers in this file.",
)
@click.option(
    "--check",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Exit 1 when this file's block differs from the generated one.",
)
def config_reference(update: Path | None, check: Path | None) -> None:
    r"""Print the config reference (markdown) generated from the settings model.

    \b
    Examples:
      driftstream config reference
      driftstream config reference --update README.md
    """
    block = reference_block()
    for path, write in ((update, True), (check, False)):
        if path is None:
            continue
        text = path.read_text(encoding="utf-8")
        new = splice(text, block)
        if new == text:
            click.echo(f"{path}: config reference is up to date")
        elif write:
            path.write_text(new, encoding="utf-8")
            click.echo(f"{path}: config reference updated")
        else:
            msg = (
                f"{path}: config reference is stale; "
                f"run `driftstream config reference --update {path}`"
            )
            raise DriftstreamError(msg)
    if update is None and check is None:
        click.echo(block)
