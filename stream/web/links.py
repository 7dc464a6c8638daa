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
    """

    base: str | None = ""
    session: bool = False  # pages behind the token show a "Log out" link

    def logout(self) -> str | None:
        """Ends the browser's session (only when the dashboard has a token)."""
        return None if self.base is None or not self.session else f"{self.base}/logout"

    def models(self) -> str | None:
        """The models list."""
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
        query = urlencode(params, safe=":") if params else ""
        return f"{self.base}/models/{quote(model, safe='')}" + (f"?{query}" if query else "")
