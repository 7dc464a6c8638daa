"""What a feature's headline quantity was in the baseline and is in the window.

A decision says *how far* a feature moved (``mean +0.70 sd``); a person also wants
*from what to what*: ``mean 55,576 → 76,379``. :class:`BeforeAfter` carries those two
values for one quantity — the mean of a numeric feature, the share of one category
(the one the decision's share posterior names), or the null share — and
:func:`human` / :func:`span` write them for people (thousands separators, a few
significant digits, enough digits that two different values never read the same).

>>> span(BeforeAfter("mean", 55576.2, 76379.4))
'55,576 → 76,379'
>>> span(BeforeAfter("share", 0.12, 0.18, "pro"))
'12.0 % → 18.0 %'
>>> human(0.000123456), human(-1234567.8), human(12.3456)
('0.000123', '-1,234,568', '12.35')
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

__all__ = ["BeforeAfter", "Quantity", "human", "span"]

Quantity: TypeAlias = Literal["mean", "share", "null_share"]
_SIG = 4  # significant digits for values of 1 and more (below: 3)
_MORE = 4  # digits added at most so that two different values read differently


@dataclass(frozen=True, slots=True)
class BeforeAfter:
    """One quantity in the baseline and in the window.

    Attributes:
        quantity: ``mean`` (numeric feature), ``share`` (of ``category`` among the
            feature's valid values) or ``null_share`` (nulls and type errors over all).
        baseline: its value in the baseline (reference, previous or seasonal window).
        window: its value in the judged window.
        category: the category of a ``share``; None otherwise.
    """

    quantity: Quantity
    baseline: float
    window: float
    category: str | None = None

    @property
    def is_share(self) -> bool:
        """A share in [0, 1] (written in percent), not a value in the feature's unit."""
        return self.quantity != "mean"

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (``category`` only for a share)."""
        out: dict[str, Any] = {
            "quantity": self.quantity,
            "baseline": self.baseline,
            "window": self.window,
        }
        if self.category is not None:
            out["category"] = self.category
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> BeforeAfter:
        """Inverse of :meth:`to_dict`."""
        q = str(d["quantity"])
        if q not in ("mean", "share", "null_share"):
            msg = f"unknown before/after quantity {q!r}"
            raise ValueError(msg)
        cat = d.get("category")
        base, win = float(d["baseline"]), float(d["window"])
        return cls(q, base, win, None if cat is None else str(cat))  # type: ignore[arg-type]

    @classmethod
    def of(
        cls, quantity: Quantity, baseline: float, window: float, category: str | None = None
    ) -> BeforeAfter | None:
        """The pair, or None when either value is not finite (nothing to say)."""
        if not (math.isfinite(baseline) and math.isfinite(window)):
            return None
        return cls(quantity, float(baseline), float(window), category)


def _decimals(x: float, sig: int) -> int:
    if x == 0 or not math.isfinite(x):
        return 0
    return max(0, sig - 1 - math.floor(math.log10(abs(x))))


def _fixed(x: float, decimals: int) -> str:
    text = f"{x:,.{decimals}f}"
    return text[1:] if text.startswith("-") and not text.strip("-0.,") else text  # no "-0.0"


def human(x: float) -> str:
    """A number for people: ``55,576``, ``12.35``, ``0.000123`` (``n/a`` when not finite).

    Values of 1 and more keep 4 significant digits but never drop integer digits
    (thousands separators); smaller ones keep 3; beyond 10¹⁵ or below 10⁻⁶ in
    scientific notation.
    """
    if not math.isfinite(x):
        return "n/a"
    a = abs(x)
    if a != 0 and (a >= 1e15 or a < 1e-6):
        return f"{x:.3g}"
    return _fixed(x, _decimals(x, _SIG if a >= 1 else 3))


def _pair(a: float, b: float, *, percent: bool = False) -> tuple[str, str]:
    """Both values with the same decimals (set by the larger), enough that they differ."""
    x, y = (100.0 * a, 100.0 * b) if percent else (a, b)
    if any(v != 0 and (abs(v) >= 1e15 or abs(v) < 1e-6) for v in (x, y)):
        return human(x), human(y)
    big = max(abs(x), abs(y))
    if percent:  # one decimal of a percent; two significant digits below 1 %
        d = 1 if big >= 1 else _decimals(big, 2)
    else:
        d = _decimals(big, _SIG if big >= 1 else 3)
    sa, sb = _fixed(x, d), _fixed(y, d)
    for extra in range(1, _MORE + 1):
        if sa != sb or x == y:
            break
        sa, sb = _fixed(x, d + extra), _fixed(y, d + extra)
    return sa, sb


def span(v: BeforeAfter) -> str:
    """``before → after`` (shares in percent)."""
    if v.is_share:
        a, b = _pair(v.baseline, v.window, percent=True)
        return f"{a} % → {b} %"
    a, b = _pair(v.baseline, v.window)
    return f"{a} → {b}"
