"""How a desk page is drawn: the Jinja templates, the login gate, and cells as a person reads
them. Every page module renders through :class:`PageRenderer`, so a page without the viewer
cookie always redirects to ``/login`` and a number reads the same on every page.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import polars as pl
from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from tradelake.columns import is_money, is_price, json_row
from tradelake.errors import TradelakeError
from tradelake.platform import Platform
from tradelake.stream.settings import StreamSettings
from tradelake.web.access import is_viewer

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")
RECENT_ALERTS = 20
ALERT_WINDOW = timedelta(days=7)
AVERAGE_EXTRA_PLACES = 2  # an average price off the tick grid shows up to this many more


@dataclass(frozen=True)
class Section:
    """Rows for one block of a page, or the reason there are none (said on the page)."""

    rows: list[dict[str, Any]]
    error: str | None = None


def section(read: Callable[[], pl.DataFrame | list[dict[str, Any]]]) -> Section:
    """Run a platform read; an expected failure (no store yet, no feeds) becomes its message."""
    try:
        result = read()
    except TradelakeError as exc:
        return Section([], str(exc))
    if isinstance(result, pl.DataFrame):
        return Section([json_row(row) for row in result.iter_rows(named=True)])
    return Section([json_row(row) for row in result])


def cell(name: str, value: Any, price_decimals: int | None = None) -> str:
    """A value as a person reads it: money with cents and thousands, ratios to 3 places, and
    prices at the tick's precision where the page knows the instrument (``price_decimals``,
    :attr:`tradelake.instruments.InstrumentSpec.price_decimals`)."""
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if value.tzinfo else str(value)
    if isinstance(value, dict):  # counts by rule
        return ", ".join(f"{key} {count}" for key, count in value.items()) or "—"
    if isinstance(value, float):
        if is_money(name):
            return f"{value:,.2f}"
        if is_price(name) and price_decimals is not None and math.isfinite(value):
            return price_text(value, price_decimals)
        return f"{value:.1%}" if name == "win_rate" else f"{value:,.3f}"
    return str(value)


def price_text(value: float, decimals: int) -> str:
    """``value`` at ``decimals`` places (its tick's); a round trip's average price that falls
    between ticks (4500.125 from fills at 4500.00 and 4500.25) keeps up to
    :data:`AVERAGE_EXTRA_PLACES` more places rather than reading as a price nobody traded."""
    places = decimals
    while places < decimals + AVERAGE_EXTRA_PLACES and not math.isclose(
        round(value, places), value, rel_tol=0.0, abs_tol=1e-9
    ):
        places += 1
    return f"{value:,.{places}f}"


TEMPLATES.env.filters["cell"] = lambda value, name, price_decimals=None: cell(
    name, value, price_decimals
)


@dataclass(frozen=True)
class PageRenderer:
    """Renders a template for a viewer; anyone else is sent to ``/login?next=`` this page."""

    settings: StreamSettings

    def __call__(self, request: Request, name: str, status: int = 200, **context: Any) -> Response:
        if not is_viewer(self.settings, request):
            query = f"?{request.url.query}" if request.url.query else ""
            target = quote(request.url.path + query)
            return RedirectResponse(f"/login?next={target}", status_code=303)
        return TEMPLATES.TemplateResponse(request, name, {"page": name, **context}, status)


def recent_alerts(platform: Platform) -> Section:
    """The last alerts of the past week, oldest first (the pages list them newest first)."""
    since = datetime.now(UTC) - ALERT_WINDOW
    try:
        alerts = platform.alerts(since, limit=10_000)
    except (TradelakeError, OSError) as exc:
        return Section([], str(exc))
    return Section([alert.to_dict() for alert in alerts[-RECENT_ALERTS:]])
