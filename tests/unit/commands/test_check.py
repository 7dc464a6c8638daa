"""``driftstream check``: two files → verdicts, JSON, HTML and an exit code; no servers."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

import stream
from stream.cli import main

SCHEMAS = Path(stream.__file__).parent / "core" / "schemas"
T0 = 1_767_225_600_000


def _write(path: Path, n: int, *, shift: float = 0.0, seed: int = 0, hours: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["age", "income", "country", "zip", *(["ts"] if hours else [])])
        shares = [0.5, 0.3, 0.2] if shift == 0 else [0.3, 0.3, 0.4]
        for i in range(n):
            row = [
                round(float(rng.normal(40 + 10 * shift, 10)), 1),
                round(float(rng.lognormal(10, 0.5)), 2),
                str(rng.choice(["DE", "FR", "US"], p=shares)),
                str(rng.choice([10115, 80331, 20095])),
            ]
            if hours:
                row.append(str(T0 + (i * hours * 3_600_000) // n))
            w.writerow(row)
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("check")
    return {
        "ref": _write(d / "ref.csv", 6_000, seed=1),
        "same": _write(d / "same.csv", 2_000, seed=2),
        "shifted": _write(d / "shifted.csv", 2_000, shift=0.5, seed=3),
    }


def _validator() -> Draft202012Validator:
    check = json.loads((SCHEMAS / "check.schema.json").read_text())
    alert = json.loads((SCHEMAS / "alert.schema.json").read_text())
    Draft202012Validator.check_schema(check)
    registry = Registry().with_resource(alert["$id"], Resource.from_contents(alert))
    return Draft202012Validator(check, registry=registry)


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["check", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_two_csvs_give_a_report_in_one_command_with_no_config(
    files: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DRIFTSTREAM_CONFIG", raising=False)
    html, out = tmp_path / "r.html", tmp_path / "r.json"
    code, text, err = _run(
        ["--reference", str(files["ref"]), "--current", str(files["shifted"])]
        + ["--html", str(html), "--json", str(out)],
        capsys,
    )
    assert code == 1, text + err
    assert "inferred from" in text and "3 numeric, 1 categorical" in text
    rows = {line.split()[0]: line for line in text.splitlines() if line[:1].isalpha()}
    assert "DRIFT" in rows["age"] and "mean +" in rows["age"] and "(up)" in rows["age"]
    assert "DRIFT" in rows["country"] and "pts" in rows["country"]
    assert " ok " in rows["income"]
    assert "→ exit 1" in text
    doc = json.loads(out.read_text())
    _validator().validate(doc)
    assert doc["mode"] == "all" and doc["exit_code"] == 1
    assert set(doc["drifted_features"]) >= {"age", "country"}
    assert "income" not in doc["drifted_features"]
    # The zip codes look numeric: the rule says numeric, --categorical overrides it.
    assert {c["name"]: c["kind"] for c in doc["columns"]}["zip"] == "numeric"
    page = html.read_text()
    assert page.startswith("<!doctype html") or page.lower().startswith("<!doctype html")
    assert "<svg" in page and "Drift report" in page
    # The joint card (issue 16): three correlation heatmaps over the numeric columns.
    assert page.count('class="chart joint-heatmap"') == 3 and "not available" not in page
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in page and "<script src" not in page


def test_no_drift_exits_0_and_overrides_apply(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r.json"
    code, text, err = _run(
        ["--reference", str(files["ref"]), "--current", str(files["same"])]
        + ["--categorical", "zip", "--ignore", "income", "--json", str(out)],
        capsys,
    )
    assert code == 0, text + err
    assert "no drift in 3 features → exit 0" in text
    doc = json.loads(out.read_text())
    _validator().validate(doc)
    assert {c["name"]: (c["kind"], c["from"]) for c in doc["columns"]} == {
        "age": ("numeric", "inferred"),
        "country": ("categorical", "inferred"),
        "zip": ("categorical", "option"),
    }


def test_fail_on_critical_ignores_warnings(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r.json"
    code, text, _ = _run(
        ["--reference", str(files["ref"]), "--current", str(files["shifted"])]
        + ["--fail-on", "critical", "--json", str(out)],
        capsys,
    )
    doc = json.loads(out.read_text())
    critical = [f["name"] for f in doc["features"] if f["severity"] == "critical"]
    assert code == (1 if critical else 0)
    assert doc["failing_features"] == critical


def test_time_column_judges_hour_and_day_windows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ref = _write(tmp_path / "ref.csv", 7_200, seed=4, hours=48)
    cur = _write(tmp_path / "cur.csv", 3_000, seed=5, shift=0.5, hours=30)
    out = tmp_path / "r.json"
    code, text, err = _run(
        ["--reference", str(ref), "--current", str(cur), "--json", str(out)], capsys
    )
    assert code == 1, text + err
    doc = json.loads(out.read_text())
    assert doc["ts_column"] == "ts" and doc["mode"] == "both"
    scales = [w["scale"] for w in doc["windows"]]
    assert scales.count("hour") == 30 and scales.count("day") == 1
    assert any("day 2026-01-02: not judged as a day" in n for n in doc["notes"])
    assert "time column 'ts' used" in text
    assert doc["alerts"], "a sustained shift opens an alert, as live would"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "empty file (no header row)"),
        ("age,income,country,zip\n", "no data rows"),
        ("age,income,country,zip\nold,1,DE,1\nyoung,2,FR,2\n", "all 2 rows rejected: wrong_type 2"),
    ],
)
def test_nothing_to_judge_is_one_line_and_exit_2(
    files: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: str,
    message: str,
) -> None:
    cur = tmp_path / "cur.csv"
    cur.write_text(content)
    code, _, err = _run(["--reference", str(files["ref"]), "--current", str(cur)], capsys)
    assert code == 2
    (line,) = err.strip().splitlines()
    assert line.startswith("driftstream: error: ") and message in line


def test_too_few_rows_says_so(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(
        ["--reference", str(files["ref"]), "--current", str(files["same"]), "--min-rows", "5000"],
        capsys,
    )
    assert code == 2
    assert "nothing judged: the largest window has 2,000 rows, fewer than 5000" in err


def test_usage_errors_exit_2(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(
        ["--reference", str(files["ref"]), "--current", str(files["same"]), "--window", "hour"],
        capsys,
    )
    assert code == 2 and "needs a time column" in err
    code, _, err = _run(["--reference", "nope.csv", "--current", str(files["same"])], capsys)
    assert code == 2 and "nope.csv: no such file" in err


def test_the_two_files_can_be_given_as_arguments(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    ref, cur = str(files["ref"]), str(files["shifted"])

    def report(args: list[str]) -> tuple[int, list[str]]:  # without the timing note
        code, out, _ = _run([*args, "--window", "all"], capsys)
        return code, [line for line in out.splitlines() if "read and sketched" not in line]

    flags = report(["--reference", ref, "--current", cur])
    assert flags[0] == 1 and any(line.startswith("age ") for line in flags[1])
    assert report([ref, cur]) == flags  # the same report
    assert report(["--reference", ref, cur]) == flags
    code, _, err = _run([ref], capsys)
    assert code == 2 and "missing CURRENT: driftstream check REFERENCE CURRENT" in err
    code, _, err = _run([], capsys)
    assert code == 2 and "missing REFERENCE and CURRENT" in err
    code, _, err = _run([ref, cur, cur], capsys)
    assert code == 2 and "one file too many" in err


def test_parquet_matches_csv_and_needs_pyarrow(
    files: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    paths = {}
    for name in ("ref", "shifted"):
        table = pacsv.read_csv(
            files[name],
            convert_options=pacsv.ConvertOptions(column_types={"country": pa.string()}),
        )
        paths[name] = tmp_path / f"{name}.parquet"
        pq.write_table(table, paths[name])
    docs: list[dict[str, Any]] = []
    for ref, cur in ((files["ref"], files["shifted"]), (paths["ref"], paths["shifted"])):
        out = tmp_path / f"{ref.suffix[1:]}.json"
        code, text, err = _run(
            ["--reference", str(ref), "--current", str(cur), "--json", str(out)], capsys
        )
        assert code == 1, text + err
        docs.append(json.loads(out.read_text()))
    assert docs[0]["windows"] == docs[1]["windows"]  # same cells, same decisions
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    code, _, err = _run(["--reference", str(paths["ref"]), "--current", str(files["same"])], capsys)
    assert code == 2
    assert "reading Parquet needs pyarrow: pip install 'driftstream[parquet]'" in err


def test_a_configured_model_is_honoured(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "c.toml"
    config.write_text(
        """
[models.people]
reference = { source = "file", path = "ref.csv" }
[models.people.features]
age = { kind = "numeric", thresholds = { mean_shift = 5.0 } }
zip = "categorical"
missing = "numeric"
"""
    )
    out = tmp_path / "r.json"
    code = main(
        ["--config", str(config), "check", "--reference", str(files["ref"])]
        + ["--current", str(files["shifted"]), "--json", str(out)]
    )
    text = capsys.readouterr().out
    doc = json.loads(out.read_text())
    assert doc["model"] == "people"
    assert [(c["name"], c["kind"], c["from"]) for c in doc["columns"]] == [
        ("age", "numeric", "config"),
        ("zip", "categorical", "config"),
        ("missing", "numeric", "config"),
    ]
    assert any("'missing' is not in" in n for n in doc["notes"])
    assert any(
        "not checked (not in the reference or the model): 'income', 'country'" in n
        for n in doc["notes"]
    )
    (age,) = [d for d in doc["windows"][0]["decisions"] if d["feature"] == "age"]
    assert age["metrics"]["mean_shift"][1] == 5.0  # the config's threshold, not the floor
    assert "model 'people'" in text
    assert code in (0, 1)


def test_jsonl_rows_and_whole_set_with_a_time_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = np.random.default_rng(7)

    def rows(n: int, shift: float) -> list[str]:
        return [
            json.dumps(
                {
                    "ts": T0 + i * 60_000,
                    "x": float(rng.normal(shift, 1)),
                    "flag": bool(rng.random() < 0.3),
                    "n": int(rng.integers(0, 5)),
                }
            )
            for i in range(n)
        ]

    ref, cur = tmp_path / "ref.jsonl", tmp_path / "cur.jsonl"
    ref.write_text("\n".join(rows(3_000, 0.0)) + "\n")
    cur.write_text("\n".join([*rows(1_000, 1.0), "{not json", "[1, 2]"]) + "\n")
    out = tmp_path / "r.json"
    code, text, err = _run(
        ["--reference", str(ref), "--current", str(cur), "--window", "all", "--json", str(out)],
        capsys,
    )
    assert code == 1, text + err
    doc = json.loads(out.read_text())
    _validator().validate(doc)
    assert {c["name"]: c["kind"] for c in doc["columns"]} == {
        "x": "numeric",
        "flag": "categorical",
        "n": "numeric",
    }
    assert doc["mode"] == "all" and [w["key"] for w in doc["windows"]] == ["all"]
    assert doc["current"]["rejected"] == {"bad_row": 2}
    assert any("not JSON" in e for e in doc["current"]["rejected_examples"]["bad_row"])
    assert doc["drifted_features"] == ["x"]


def test_empty_and_small_hours_are_said(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = np.random.default_rng(8)
    cur = tmp_path / "cur.csv"
    with cur.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["age", "income", "country", "zip", "ts"])
        for hour, n in ((0, 300), (1, 300), (3, 300), (4, 20)):  # hour 2 empty, hour 4 small
            for i in range(n):
                ts = T0 + hour * 3_600_000 + i * 1_000
                w.writerow([rng.normal(40, 10), rng.lognormal(10, 0.5), "DE", 10115, ts])
    out = tmp_path / "r.json"
    code, text, err = _run(
        ["--reference", str(files["ref"]), "--current", str(cur), "--window", "hour"]
        + ["--json", str(out)],
        capsys,
    )
    assert code in (0, 1), err
    notes = json.loads(out.read_text())["notes"]
    assert "1 hour(s) with no rows, so no window: 2026-01-01T02" in notes
    assert "1 window(s) not judged, fewer than 100 rows (--min-rows): hour:2026-01-01T04" in notes
    assert "note: 1 hour(s) with no rows" in text


def test_header_names_bom_and_broken_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = np.random.default_rng(9)

    def table(path: Path, n: int, shift: float) -> Path:
        with path.open("w", newline="", encoding="utf-8-sig") as fh:  # Excel's BOM
            w = csv.writer(fh)
            w.writerow(["annual income (€)", "x", "x", "event time"])
            for i in range(n):
                w.writerow(
                    [rng.normal(shift, 1), rng.normal(), "a", f"2026-01-01T00:{i % 60:02d}:00Z"]
                )
        return path

    ref, cur = table(tmp_path / "ref.csv", 1_000, 0.0), table(tmp_path / "cur.csv", 500, 2.0)
    out = tmp_path / "r.json"
    code, text, err = _run(
        ["--reference", str(ref), "--current", str(cur), "--ts", "event time"]
        + ["--categorical", "x", "--json", str(out)],
        capsys,
    )
    assert code == 1, text + err
    doc = json.loads(out.read_text())
    assert [(c["name"], c["kind"]) for c in doc["columns"]] == [
        ("annual_income____", "numeric"),
        ("x", "categorical"),
        ("x_2", "categorical"),
    ]
    assert doc["ts_column"] == "event_time"
    assert "annual_income____" in doc["drifted_features"]
    assert "'annual income (€)' → 'annual_income____'" in text
    broken = tmp_path / "broken.csv"
    broken.write_text("a,b\n1," + "x" * 200_000 + "\n")
    code, _, err = _run(["--reference", str(ref), "--current", str(broken)], capsys)
    assert code == 2
    (line,) = err.strip().splitlines()
    assert "broken.csv: line 2: field larger than field limit" in line


def test_parquet_timestamps_give_the_windows_of_csv_epoch_ms(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    csvs = {
        "ref": _write(tmp_path / "ref.csv", 4_800, seed=10, hours=48),
        "cur": _write(tmp_path / "cur.csv", 1_200, seed=11, shift=0.5, hours=6),
    }
    docs = []
    for kind in ("csv", "parquet"):
        paths = dict(csvs)
        if kind == "parquet":
            for name, path in csvs.items():
                t = pacsv.read_csv(path)
                i = t.schema.get_field_index("ts")
                t = t.set_column(i, "ts", pc.cast(t["ts"], pa.timestamp("ms", tz="UTC")))
                paths[name] = tmp_path / f"{name}.parquet"
                pq.write_table(t, paths[name])
        out = tmp_path / f"{kind}.json"
        code, text, err = _run(
            ["--reference", str(paths["ref"]), "--current", str(paths["cur"])]
            + ["--json", str(out)],
            capsys,
        )
        assert code == 1, text + err
        docs.append(json.loads(out.read_text()))
    assert [w["key"] for w in docs[1]["windows"]][:2] == [
        "hour:2026-01-01T00",
        "hour:2026-01-01T01",
    ]
    assert docs[0]["windows"] == docs[1]["windows"]


def test_gzipped_files_read_like_plain_ones(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import gzip

    docs = []
    for gz in (False, True):
        paths = {}
        for name in ("ref", "shifted"):
            paths[name] = files[name]
            if gz:
                paths[name] = tmp_path / f"{name}.csv.gz"
                paths[name].write_bytes(gzip.compress(files[name].read_bytes()))
        out = tmp_path / f"{gz}.json"
        code, text, err = _run(
            ["--reference", str(paths["ref"]), "--current", str(paths["shifted"])]
            + ["--json", str(out)],
            capsys,
        )
        assert code == 1, text + err
        docs.append(json.loads(out.read_text()))
    assert docs[0]["windows"] == docs[1]["windows"]
    assert docs[1]["current"]["format"] == "csv"
    bad = tmp_path / "bad.csv.gz"
    bad.write_bytes(b"not gzip at all")
    code, _, err = _run(["--reference", str(files["ref"]), "--current", str(bad)], capsys)
    assert code == 2 and "bad.csv.gz" in err and len(err.strip().splitlines()) == 1
