"""URLs of the dashboard's views (one place, so alert links and page links agree)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, urlencode

from stream.web.summaries import ALL

__all__ = ["Links"]


@dataclass(frozen=True)
class Links:
    """URLs of the dashboard views; ``base=None`` makes every link ``None`` (the report).

    >>> Links("").model("fraud-v3", window="hour:2026-01-05T13", feature="amount")
    '/models/fraud-v3?window=hour:2026-01-05T13&feature=amount'
    >>> Links(None).model("fraud-v3") is None
    True
    >>> Links("", namespace="replay-1a2b").model("fraud-v3", window="day:2026-01-05")
    '/models/fraud-v3?window=day:2026-01-05&namespace=replay-1a2b'
    """

    base: str | None = ""
    session: bool = False  # pages behind the token show a "Log out" link
    namespace: str | None = None  # a replay's namespace: every link stays in it

    def _query(self, params: dict[str, str]) -> str:
        if self.namespace:
            params = {**params, "namespace": self.namespace}
        return f"?{urlencode(params, safe=':')}" if params else ""

    def logout(self) -> str | None:
        """Ends the browser's session (only when the dashboard has a token)."""
        return None if self.base is None or not self.session else f"{self.base}/logout"

    def models(self) -> str | None:
        """The models list."""
        return None if self.base is None else f"{self.base}/models" + self._query({})

    def live(self) -> str | None:
        """The models list of the live namespace (the way back from a replay's)."""
        return None if self.base is None else f"{self.base}/models"

    def model(
        self,
        model: str,
        *,
        window: str | None = None,
        feature: str | None = None,
        baseline: str | None = None,
        metric: str | None = None,
        scale: str | None = None,
    ) -> str | None:
        """A model page, optionally focused on a window, a feature, a baseline, a metric."""
        if self.base is None:
            return None
        params = {
            k: v
            for k, v in (
                ("window", window),
                ("feature", feature),
                ("baseline", None if baseline == ALL else baseline),
                ("metric", metric),
                ("scale", scale),
            )
            if v
        }
        return f"{self.base}/models/{quote(model, safe='')}" + self._query(params)
