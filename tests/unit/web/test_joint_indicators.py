"""The joint card with categorical indicator columns, and with a reference that predates them."""

from __future__ import annotations

import numpy as np

from stream.catalog import Catalog, ModelSpec
from stream.core.joint import decide_joint
from stream.core.sketch import JointSketch
from stream.core.sketch.joint import indicator_values
from stream.core.window import WindowKey
from stream.web import pages
from stream.web.data import DashboardData
from stream.web.links import Links
from tests.unit.web.test_joint import COLS, FLIP, HOURS, Reader, _rect, _rows, _value

SPEC = ModelSpec.model_validate(
    {
        "name": "m",
        "features": {c: "numeric" for c in COLS} | {"c0": "categorical"},
        "joint": {"indicators": {"c0": ["a"]}},
    }
)
LAYOUT = (COLS, (), (("c0", "a"),))


def _sketch(sign: float, n: int, seed: int) -> JointSketch:
    """n2 and c0=a tied with the sign given (ρ ≈ ±0.6), n0~n1 at +0.6 throughout."""
    x = _rows(0.6, n, seed)
    z = (x[:, 2] - 10.0) / 3.0
    noise = np.random.default_rng(seed + 100).normal(size=n)
    cats = np.where(sign * z + 0.6 * noise > 0, "a", "b").astype(object)
    cols = [x[:, j] for j in range(len(COLS))]
    cols.append(indicator_values(cats, np.zeros(n, bool), "a"))
    return JointSketch.zero(*LAYOUT).update_columns(cols, n)


class IndicatorReader(Reader):
    def __init__(self, *, old_reference: bool = False) -> None:
        super().__init__()
        ref = _sketch(1.0, 6_000, 1)
        self.ref = ref.without_indicators() if old_reference else ref
        self.wins = {
            s: _sketch(-1.0 if s == FLIP else 1.0, 1_500, 2 + i) for i, s in enumerate(HOURS)
        }
        base = self.ref
        self.decisions = {
            s: decide_joint(
                base, w if not old_reference else w.without_indicators(), None, alpha=1e-3
            ).to_dict()
            for s, w in self.wins.items()
        }


def test_the_card_draws_indicator_cells_and_names_the_pair() -> None:
    data = DashboardData(IndicatorReader(), Catalog.of(SPEC))
    page = data.model_page("m", window=WindowKey("hour", FLIP), feature="joint")
    card = pages.model_page(page, Links("")).split('id="joint"', 1)[1]
    assert _value(_rect(card, "reference", "n2~c0=a")) > 0.4
    assert _value(_rect(card, "window", "n2~c0=a")) < -0.4
    first = card.split('data-table="joint-pairs"', 1)[1].split("<tbody>", 1)[1]
    assert first.startswith('<tr data-pair="n2~c0=a">')
    assert "rebuild" not in card


def test_a_reference_without_indicators_is_said_and_the_numbers_still_drawn() -> None:
    data = DashboardData(IndicatorReader(old_reference=True), Catalog.of(SPEC))
    page = data.model_page("m", window=WindowKey("hour", FLIP), feature="joint")
    card = pages.model_page(page, Links("")).split('id="joint"', 1)[1]
    assert "reference has no indicator columns" in card and "rebuild" in card
    assert 0.5 < _value(_rect(card, "window", "n0~n1")) < 0.7
    assert 'data-pair="n2~c0=a"' not in card
