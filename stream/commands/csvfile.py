"""A CSV of a model's rows for ``reference build`` and ``produce``: its header, checked."""

from __future__ import annotations

import csv
from pathlib import Path

import click

from stream.catalog import ModelSpec
from stream.errors import DriftstreamError

__all__ = ["checked_header"]


def checked_header(path: Path, spec: ModelSpec, *, allow_missing: bool, command: str) -> list[str]:
    """The header of ``path``; undeclared columns named on stderr, missing ones an error.

    (``pipeline.reference.csv_header_problems`` has the rule; ``allow_missing`` lets
    declared columns the header lacks through, as all-null.)
    """
    from stream.pipeline.reference import csv_header_problems

    with path.open(newline="") as fh:
        header = next(csv.reader([fh.readline()]), [])
    note, error = csv_header_problems(header, spec, str(path), allow_missing=allow_missing)
    if note:
        click.echo(f"{command}: {note}", err=True)
    if error:
        raise DriftstreamError(error)
    return header
