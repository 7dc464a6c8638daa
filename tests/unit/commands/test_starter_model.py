"""``init --from``: the starter config with a model learned from a file, always valid TOML."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from stream.commands.ops import starter_config
from stream.commands.starter_model import file_model, with_model
from stream.errors import DriftstreamError


def _csv(tmp_path: Path, header: str, rows: list[str]) -> Path:
    path = tmp_path / "train.csv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def test_odd_column_names_and_paths_never_break_the_toml(tmp_path: Path) -> None:
    header = 'ts,amount,"x\ny = 1",café 😀,"a""b",plan'
    rows = [f"2026-01-01T00:00:0{i}Z,{i}.5,1,2,3,{'ab'[i % 2]}" for i in range(6)]
    odd_dir = tmp_path / "dir # with\ta tab"
    odd_dir.mkdir()
    path = _csv(odd_dir, header, rows)
    model = file_model(path, "churn.v1")  # a dot: a quoted key, not a table path
    text = with_model(starter_config(), model)
    doc = tomllib.loads(text)  # raises on any escape or comment injection
    table = doc["models"]["churn.v1"]
    assert table["features"] == {"amount": "numeric", "plan": "categorical"}
    assert "y" not in table and "y" not in doc  # the newline stayed inside a comment
    assert set(model.left_out) == {"ts", "x\ny = 1", "café 😀", 'a"b'}
    assert table["alerts"]["consecutive_breaches"] == 2


def test_a_model_name_the_config_would_refuse_is_refused_at_once(tmp_path: Path) -> None:
    path = _csv(tmp_path, "x", ["1", "2"])
    for bad in ("m😀", 'we"ird', "", "-lead", "a b"):
        with pytest.raises(DriftstreamError, match="a model name is 1-128 letters"):
            file_model(path, bad)


def test_a_csv_cell_that_is_not_a_json_number_is_sent_as_text() -> None:
    import json

    from stream.catalog import ModelSpec
    from stream.pipeline.reference import csv_events

    spec = ModelSpec.model_validate({"name": "m", "features": {"x": "numeric"}})
    rows = ["x", "1.5", "inf", "-Infinity", "nan", "oops"]
    events = [json.loads(e) for e in csv_events(rows, "m", spec)]  # valid JSON, every one
    assert [e["features"]["x"] for e in events] == [1.5, "inf", "-Infinity", "nan", "oops"]


def test_a_malformed_client_log_call_is_held_not_raised() -> None:
    import logging

    from stream.adapters.client_logs import RepeatFilter

    f = RepeatFilter(10_000, clock=lambda: 0.0)
    bad = logging.LogRecord("kafka.x", logging.ERROR, __file__, 1, "%d items", ("many",), None)
    assert f.filter(bad) is True  # no TypeError inside the client's own call
    assert f.filter(bad) is False  # held, its text kept for the flush
