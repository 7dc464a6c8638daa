"""The dashboard's route table and its ``?namespace=`` (over in-memory readers)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from stream.catalog import Catalog, ModelSpec
from stream.core.window import Scale, WindowKey
from stream.errors import BadRequestError
from stream.web import dashboard
from stream.web.dashboard import Call, Dashboard, Query
from stream.web.data import DashboardData, NotFoundError
from stream.web.links import Links
from stream.web.ports import Evals

T0 = 1_767_225_600_000
SPEC = ModelSpec.model_validate({"name": "m", "features": {"x": "numeric"}})


class Reader:
    """One namespace with one evaluated hour (or none)."""

    def __init__(
        self,
        namespace: str,
        evaluated: bool,
        pending: tuple[str, str] | None = None,
        stored: bool = False,
    ) -> None:
        self._ns = namespace
        self._starts = [T0] if evaluated else []
        self._pending = pending
        self._stored = [T0] if stored or evaluated else []

    @property
    def namespace(self) -> str:
        return self._ns

    def evaluated(self, model: str, scale: Scale) -> list[int]:
        return list(self._starts) if scale == "hour" else []

    def evals(self, model: str, scale: Scale, starts: Sequence[int]) -> Evals:
        d = {"feature": "x", "breach": True, "ratio": 2.0, "effect_metric": "ks", "metrics": {}}
        return {s: ({"reference": [dict(d)]} if s in self._starts else {}) for s in starts}

    def counts(self, model: str, scale: Scale, starts: Sequence[int]) -> dict[int, tuple[int, int]]:
        return {s: (10, 0) for s in starts if s in self._stored}

    def history(self, model: str) -> list[dict[str, Any]]:
        return []

    def states(self, model: str) -> list[dict[str, Any]]:
        return []

    def reference_sketch(self, spec: ModelSpec, feature: str) -> bytes | None:
        return None

    def window_sketch(self, model: str, window: WindowKey, feature: str) -> bytes | None:
        return None

    def reference_meta(self, spec: ModelSpec) -> dict[str, Any] | None:
        return None

    def pending(self, model: str, window: WindowKey) -> tuple[str, str] | None:
        return self._pending


class Source:
    """The live namespace and one replay's."""

    live = "ds"

    def __init__(self) -> None:
        self.opened: list[str] = []

    def open(self, namespace: str) -> Reader | None:
        self.opened.append(namespace)
        if namespace == "ds":
            return Reader("ds", evaluated=False)
        return Reader(namespace, evaluated=True) if namespace == "replay-1a2b" else None


def _board() -> tuple[Dashboard, Source]:
    source = Source()
    catalog = Catalog.of(SPEC)
    live = DashboardData(Reader("ds", evaluated=False), catalog)
    return Dashboard(source, catalog, Links(""), live), source


def test_without_a_namespace_the_live_one_is_read_and_links_stay_plain() -> None:
    board, source = _board()
    data, links = board.open({})
    assert data is board.live and links.namespace is None
    assert board.open({"namespace": "ds"})[0] is board.live
    assert source.opened == []  # the live namespace needs no look-up


def test_a_replay_namespace_is_read_and_every_link_stays_in_it() -> None:
    board, _ = _board()
    data, links = board.open({"namespace": "replay-1a2b"})
    assert data.namespace == "replay-1a2b"
    assert links.model("m", window="hour:2026-01-01T00") == (
        "/models/m?window=hour:2026-01-01T00&namespace=replay-1a2b"
    )
    route = next(r for r in dashboard.ROUTES if r.path == "/api/models/{model}/decisions")
    q = Query({"window": "hour:2026-01-01T00"})
    assert route.build(Call(data, q, {"model": "m"}))["rows"]
    with pytest.raises(NotFoundError, match="was not evaluated"):
        route.build(Call(board.live, q, {"model": "m"}))  # live never saw it


@pytest.mark.parametrize("bad", ["x}|*", "a:b", "ds|m", "", "x" * 65, "a b", "ns\n"])
def test_a_namespace_of_the_wrong_shape_is_refused_before_any_read(bad: str) -> None:
    board, source = _board()
    if bad == "":
        assert board.open({"namespace": bad})[0] is board.live  # empty = not given
        return
    with pytest.raises(BadRequestError, match="bad namespace"):
        board.open({"namespace": bad})
    assert source.opened == []


def test_an_unknown_namespace_is_not_found() -> None:
    board, source = _board()
    with pytest.raises(NotFoundError, match="no namespace 'replay-0000'"):
        board.open({"namespace": "replay-0000"})
    assert source.opened == ["replay-0000"]


def test_every_route_has_one_view_and_pages_render_html() -> None:
    paths = [r.path for r in dashboard.ROUTES]
    assert len(paths) == len(set(paths)) == 12
    pages = {"/models", "/models/{model}", "/models/{model}/performance"}
    assert {r.path for r in dashboard.ROUTES if r.page is not None} == pages
    assert all(p.startswith("/api/") for p in paths if p not in pages)


def test_the_replay_page_names_its_namespace_and_links_back_to_live() -> None:
    board, _ = _board()
    data, links = board.open({"namespace": "replay-1a2b"})
    route = next(r for r in dashboard.ROUTES if r.path == "/models/{model}")
    assert route.page is not None
    html = route.page(route.build(Call(data, Query({}), {"model": "m"})), data, links)
    assert 'class="replay-ns" data-namespace="replay-1a2b"' in html
    assert 'href="/models">Live dashboard</a>' in html
    assert "This window was not evaluated" not in html
    live_html = route.page(
        route.build(Call(board.live, Query({}), {"model": "m"})), board.live, board.links
    )
    assert 'class="replay-ns"' not in live_html


@pytest.mark.parametrize(
    ("pending", "stored", "said"),
    [
        (
            ("failed", "ValueError: cannot decode sketch"),
            True,
            "its evaluation failed evaluate.max_attempts times and was skipped "
            "(driftstream status lists it): ValueError: cannot decode sketch",
        ),
        (("waiting", "2"), True, "waiting to be evaluated: 2 unfinished attempt(s) so far"),
        (("waiting", "0"), True, "waiting to be evaluated: rolled up, the worker evaluates it"),
        (None, False, "no rollup of this window is stored: no event arrived in it"),
        (None, True, "rolled up, with no decision stored: its decisions expired"),
    ],
)
def test_a_window_without_decisions_says_why(
    pending: tuple[str, str] | None, stored: bool, said: str
) -> None:
    reader = Reader("ds", evaluated=False, pending=pending, stored=stored)
    data = DashboardData(reader, Catalog.of(SPEC))
    route = next(r for r in dashboard.ROUTES if r.path == "/models/{model}")
    assert route.page is not None
    q = Query({"window": "hour:2026-01-01T00"})
    html = route.page(route.build(Call(data, q, {"model": "m"})), data, Links(""))
    assert "This window was not evaluated: " + said in html
