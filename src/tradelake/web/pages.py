"""The desk's pages, rendered on the server with Jinja (no build step, no CDN).

*Today* (KPI strip, live alerts, latest signal per screen), *P&L* (calendar, equity curve
with drawdown, daily table with totals, filters), *Journal* (statistics by instrument, hour
and weekday; round trips) and *Data* (feeds, data quality, reconciliation differences). Each
page reads the same :class:`~tradelake.platform.Platform` methods as the JSON API and the CLI,
typed by :func:`tradelake.columns.json_row`, so a number on a page is the number ``--json``
prints. Pages need the viewer token in the login cookie; without it they redirect to
``/login``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

import polars as pl
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from tradelake.columns import is_money, json_row
from tradelake.errors import TradelakeError
from tradelake.platform import Platform
from tradelake.stream.auth import Role, allowed
from tradelake.stream.settings import StreamSettings
from tradelake.web import charts
from tradelake.web.access import COOKIE, is_viewer

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")
RECENT_ALERTS = 20
ALERT_WINDOW = timedelta(days=7)
ROUND_TRIPS_SHOWN = 200
COOKIE_MAX_AGE_S = 12 * 3600  # one trading day; log in again tomorrow
JOURNAL_DIMENSIONS = ("instrument", "hour", "weekday")
KPI_COLUMNS = ("net_total", "win_rate", "profit_factor", "avg_win", "avg_loss", "max_drawdown")


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


def cell(name: str, value: Any) -> str:
    """A value as a person reads it: money with cents and thousands, ratios to 3 places."""
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if value.tzinfo else str(value)
    if isinstance(value, dict):  # counts by rule
        return ", ".join(f"{key} {count}" for key, count in value.items()) or "—"
    if isinstance(value, float):
        if is_money(name):
            return f"{value:,.2f}"
        return f"{value:.1%}" if name == "win_rate" else f"{value:,.3f}"
    return str(value)


TEMPLATES.env.filters["cell"] = lambda value, name: cell(name, value)


def pages_router(platform: Platform, settings: StreamSettings) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    def render(request: Request, name: str, status: int = 200, **context: Any) -> Response:
        if not is_viewer(settings, request):
            query = f"?{request.url.query}" if request.url.query else ""
            target = quote(request.url.path + query)
            return RedirectResponse(f"/login?next={target}", status_code=303)
        return TEMPLATES.TemplateResponse(request, name, {"page": name, **context}, status)

    @router.get("/login", response_class=HTMLResponse)
    def login_form(request: Request, next: str = "/") -> Response:
        return TEMPLATES.TemplateResponse(request, "login.html", {"next": _local(next)})

    @router.post("/login", response_class=HTMLResponse)
    async def login(request: Request) -> Response:
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        token = (form.get("token") or [""])[0].strip()
        target = _local((form.get("next") or ["/"])[0])
        if not allowed(settings, Role.VIEWER, token):
            error = "That is not the viewer token." if token else "Enter the viewer token."
            context = {"next": target, "error": error}
            return TEMPLATES.TemplateResponse(request, "login.html", context, 401)
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            COOKIE, token, max_age=COOKIE_MAX_AGE_S, httponly=True, samesite="strict", path="/"
        )
        return response

    @router.post("/logout")
    def logout() -> Response:
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    @router.get("/", response_class=HTMLResponse)
    def today(request: Request) -> Response:
        kpis = section(lambda: platform.statistics("all"))
        alerts = _recent_alerts(platform)
        latest: dict[str, dict[str, Any]] = {}
        for alert in reversed(alerts.rows):  # newest first: the first seen per device wins
            latest.setdefault(alert["device"], alert)
        return render(
            request, "today.html", kpis=kpis, kpi_columns=KPI_COLUMNS, alerts=alerts, latest=latest
        )

    @router.get("/pnl", response_class=HTMLResponse)
    def pnl(
        request: Request,
        account: str | None = None,
        instrument: str | None = None,
        date_from: str | None = None,
        date_to: str | None = None,
    ) -> Response:
        filters = {
            "account": account or "",
            "instrument": instrument or "",
            "date_from": date_from or "",
            "date_to": date_to or "",
        }
        try:
            start, end = _day(date_from), _day(date_to)
        except ValueError:
            daily = Section([], "Dates are YYYY-MM-DD, e.g. 2026-11-02.")
        else:
            daily = section(
                lambda: platform.daily_pnl(
                    account=account or None,
                    instrument=instrument or None,
                    date_from=start,
                    date_to=end,
                )
            )
        per_day = [(date.fromisoformat(str(r["session_date"])), r["net_pnl"]) for r in daily.rows]
        totals = {
            key: round(sum(r[key] or 0 for r in daily.rows), 2)
            for key in ("gross_pnl", "commission", "net_pnl", "fills", "round_trips")
        }
        points = charts.equity_curve(per_day)
        return render(
            request,
            "pnl.html",
            daily=daily,
            totals=totals,
            filters=filters,
            months=charts.calendar(per_day),
            equity_svg=charts.equity_svg(points),
            max_drawdown=min((p.drawdown for p in points), default=0.0),
        )

    @router.get("/journal", response_class=HTMLResponse)
    def journal(request: Request) -> Response:
        breakdowns = {
            dim: section(lambda dim=dim: platform.statistics(dim))  # type: ignore[misc]
            for dim in JOURNAL_DIMENSIONS
        }
        trips = section(lambda: platform.round_trips(limit=ROUND_TRIPS_SHOWN))
        return render(request, "journal.html", breakdowns=breakdowns, trips=trips)

    @router.get("/data", response_class=HTMLResponse)
    def data(request: Request) -> Response:
        return render(
            request,
            "data.html",
            feeds=section(platform.feed_status),
            quality=section(lambda: platform.data_quality()),
            recon=section(lambda: platform.reconciliation(differences_only=True)),
        )

    return router


def _recent_alerts(platform: Platform) -> Section:
    """The last alerts of the past week, oldest first (the page lists them newest first)."""
    since = datetime.now(UTC) - ALERT_WINDOW
    try:
        alerts = platform.alerts(since, limit=10_000)
    except (TradelakeError, OSError) as exc:
        return Section([], str(exc))
    return Section([alert.to_dict() for alert in alerts[-RECENT_ALERTS:]])


def _day(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


def _local(target: str) -> str:
    """Only a path on this server: a login link must not redirect anywhere else."""
    return target if target.startswith("/") and not target.startswith("//") else "/"
