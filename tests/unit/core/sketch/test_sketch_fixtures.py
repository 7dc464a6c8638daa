"""Committed version-1 bytes must keep loading, with the same statistics, in every later version.

``fixtures/v1/*.bin`` are sketches serialized by format version 1 and
``fixtures/v1/expected.json`` their statistics (floats as ``float.hex``). They are
written once, on demand, never by the test run::

    .venv/bin/python -m tests.unit.core.sketch.test_sketch_fixtures --write

The inputs use only IEEE-exact arithmetic (no RNG, no libm), so rebuilding them gives
the same values on any machine. While version 1 is the current format, the test also
checks that today's encoder still writes exactly the committed payloads.
"""

from __future__ import annotations

import json
import sys
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from stream.core.sketch import FORMAT_VERSION, CategoricalSketch, NumericSketch, dumps, loads

FIXTURES = Path(__file__).parent / "fixtures" / "v1"
QUANTILES = [0.0, 0.1, 0.5, 0.9, 1.0]
PROBES = ["DE", "FR", "v7", "v499", "never-seen"]
_SCALES = [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6]


def _numeric_mixed() -> NumericSketch:
    ordinary = [(i * 7919 % 10007) / 37.0 - 100.0 for i in range(20_000)]
    special = [np.nan] * 3 + [np.inf] * 2 + [-np.inf] + [0.0] * 5 + [-0.0]
    tails = [1e300, -1e-300, 5e-324]
    return NumericSketch.zero().update(np.array(ordinary + special + tails), nulls=11)


def _numeric_collapsed() -> NumericSketch:
    values = [(i % 1000 + 1) * _SCALES[i % 13] for i in range(13_000)]
    return NumericSketch.zero(0.02, max_buckets=64).update(np.array(values))


def _categorical_exact() -> CategoricalSketch:
    values = ["DE"] * 50 + ["FR"] * 20 + ["US", "ü", "", "\ud800"] + [None] * 3
    return CategoricalSketch.zero().update(values, nulls=2, type_errors=4)


def _categorical_sampled() -> CategoricalSketch:
    values = [f"v{i * 31 % 500}" for i in range(5_000)] + ["DE"] * 3_000
    return CategoricalSketch.zero(32).update(values)


BUILDERS: dict[str, Callable[[], NumericSketch | CategoricalSketch]] = {
    "numeric_empty": NumericSketch.zero,
    "numeric_mixed": _numeric_mixed,
    "numeric_collapsed": _numeric_collapsed,
    "categorical_empty": CategoricalSketch.zero,
    "categorical_exact": _categorical_exact,
    "categorical_sampled": _categorical_sampled,
}


def _h(x: float) -> str:
    return float(x).hex()


def statistics(s: NumericSketch | CategoricalSketch) -> dict[str, object]:
    """What a reader of the bytes must get back, as JSON-safe exact values."""
    if isinstance(s, NumericSketch):
        keys, counts = s.signed_keys()
        return {
            "type": "numeric",
            "params": [_h(s.relative_accuracy), s.max_buckets],
            "counts": [s.total, s.count, s.nulls, s.nans, s.pos_inf, s.neg_inf, s.zeros],
            "extremes": [_h(s.min), _h(s.max)],
            "moments": [_h(s.mean), _h(s.variance), _h(s.std)],
            "quantiles": [_h(v) for v in s.quantile(np.array(QUANTILES)).tolist()],
            "buckets": [keys.tolist(), counts.tolist()],
            "collapsed": s.collapsed_low_tail,
        }
    return {
        "type": "categorical",
        "params": [s.max_exact],
        "counts": [s.total, s.count, s.nulls, s.type_errors, s.other],
        "exact": s.is_exact,
        "distinct": _h(s.distinct),
        "kept": sorted(s.counts().items()),
        "estimates": [_h(s.estimate(v)) for v in PROBES],
    }


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_version_1_bytes_still_load(name: str) -> None:
    blob = (FIXTURES / f"{name}.bin").read_bytes()
    expected = json.loads((FIXTURES / "expected.json").read_text())[name]
    sketch = loads(blob)
    assert json.loads(json.dumps(statistics(sketch))) == expected
    if FORMAT_VERSION == 1:
        # Still the current format: the encoder must not have drifted either. Payloads
        # are compared uncompressed: zlib output may differ between zlib builds.
        fresh = BUILDERS[name]()
        assert fresh == sketch
        assert _payload(dumps(fresh)) == _payload(blob)
        if not blob[5] & 1:
            assert dumps(fresh) == blob


def _payload(frame: bytes) -> bytes:
    body = frame[6:-4]
    return zlib.decompress(body) if frame[5] & 1 else body


def write() -> None:
    """Regenerate the fixture files (on demand only; commit the result deliberately)."""
    FIXTURES.mkdir(parents=True, exist_ok=True)
    expected = {}
    for name, build in sorted(BUILDERS.items()):
        sketch = build()
        (FIXTURES / f"{name}.bin").write_bytes(dumps(sketch))
        expected[name] = statistics(sketch)
    (FIXTURES / "expected.json").write_text(json.dumps(expected, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python -m tests.unit.core.sketch.test_sketch_fixtures --write")
    write()
