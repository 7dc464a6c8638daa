"""``driftstream init --from FILE --model NAME``: the starter config with the user's model.

The model's columns come from the file's first rows by the rule ``driftstream check``
uses (:func:`stream.pipeline.tabular.infer_kinds`): a column whose every value parses
as a number is numeric, any other is categorical. ``ts`` is the event time, a
``prediction`` column the model's output, a ``label`` column is left for
``[models.NAME.labels]`` (named in a note). The starter's example model is replaced by
this one; its ``alerts`` table is kept under the new name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from stream.errors import DriftstreamError

__all__ = ["FileModel", "file_model", "with_model"]

EXAMPLE = "fraud-v3"
_BARE = re.compile(r"^[A-Za-z0-9_-]+$")
SAMPLE_ROWS = 10_000


@dataclass(frozen=True)
class FileModel:
    """What ``init`` learned from a file: columns by kind and what it left out, and why."""

    name: str
    path: Path
    features: dict[str, str]
    prediction: str | None = None
    left_out: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        """One line: the model, its columns by kind, what was left out."""
        n_num = sum(1 for k in self.features.values() if k == "numeric")
        parts = [f"{n_num} numeric", f"{len(self.features) - n_num} categorical"]
        if self.prediction:
            parts.append(f"prediction {self.prediction}")
        line = f"model {self.name!r} from {self.path}: {', '.join(parts)}"
        if self.left_out:
            line += "; left out: " + ", ".join(f"{c} ({why})" for c, why in self.left_out.items())
        return line


def file_model(path: Path, name: str) -> FileModel:
    """The columns of ``path`` (.csv, .jsonl, .parquet) as a model named ``name``."""
    from stream.adapters.tables import open_table
    from stream.catalog.models import MODEL_NAME_PATTERN
    from stream.pipeline.tabular import infer_kinds

    if not re.match(MODEL_NAME_PATTERN, name):
        msg = (
            f"--model {name!r}: a model name is 1-128 letters, digits, '.', '_' or '-', "
            'starting with a letter or digit (it is the events\' "model" value)'
        )
        raise DriftstreamError(msg)
    table = open_table(path)
    sample = next(iter(table.chunks(SAMPLE_ROWS, None)), None)
    if sample is None:
        msg = f"{path}: no data rows to learn the columns from"
        raise DriftstreamError(msg)
    left_out = {table.name_of("ts"): "event time"} if "ts" in table.columns else {}
    if "label" in table.columns:
        left_out["label"] = f"labels: declare [models.{_key(name)}.labels] to judge performance"
    for original, safe in table.changes:
        left_out[original] = f"not a valid feature name: rename it, e.g. to {safe}"
    inferred = infer_kinds(sample, exclude=list(left_out))
    for column in inferred.skipped:
        left_out[column] = f"no value in the first {sample.n:,} rows: declare its kind by hand"
    renamed = {safe for _, safe in table.changes}
    kinds: dict[str, str] = {c: k for c, k in inferred.kinds.items() if c not in renamed}
    prediction = kinds.pop("prediction", None)
    if not kinds:
        msg = f"{path}: no feature column found ({', '.join(table.columns) or 'no columns'})"
        raise DriftstreamError(msg)
    return FileModel(name, path, kinds, prediction, left_out)


def _key(name: str) -> str:
    """A TOML key: bare when it can be, else a basic string with TOML's escapes."""
    return name if _BARE.match(name) else _string(name)


def _string(text: str) -> str:
    """``text`` as a TOML basic string (quotes, backslashes and control characters escaped)."""
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _comment(text: str) -> str:
    """``text`` safe inside a TOML comment: no line breaks or control characters."""
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def with_model(starter: str, model: FileModel) -> str:
    """``starter`` with its example model replaced by ``model`` (alerts kept, renamed)."""
    head, sep, _ = starter.partition(f"[models.{EXAMPLE}]\n")
    alerts = starter.partition(f"[models.{EXAMPLE}.alerts]\n")[2]
    if not sep or not alerts:
        msg = f"the starter config has no [models.{EXAMPLE}] example to replace"
        raise DriftstreamError(msg)
    key = _key(model.name)
    lines = [f'[models.{key}]  # from {model.path}; the events\' "model" value']
    if model.prediction:
        lines.append(f'prediction = "{model.prediction}"')
    lines += [
        f'reference = {{ source = "redis", name = "training" }}  # stored by: driftstream '
        f"reference build --model {_comment(model.name)} --file {_comment(str(model.path))}",
        "",
        f"[models.{key}.features]",
        *(f'{_key(c)} = "{k}"' for c, k in model.features.items()),
    ]
    lines += [f"# left out: {_comment(c)} ({_comment(why)})" for c, why in model.left_out.items()]
    lines += ["", f"[models.{key}.alerts]"]
    return head + "\n".join(lines) + "\n" + alerts.replace(EXAMPLE, model.name)
