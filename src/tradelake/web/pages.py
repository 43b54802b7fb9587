"""The desk's pages, rendered on the server with Jinja (no build step, no CDN).

*Today* (KPI strip, live alerts, latest signal per screen), *P&L* (calendar, equity curve
with drawdown, daily table with totals, filters, $ / R), *Journal* (statistics by instrument,
hour and weekday; round trips in $ or R, each linking to its *trade* page: fills, chart frame,
option chain and news at entry, ensemble probability), *Setups* (a screenshot's pattern and
similar past frames with outcomes), *Models* (champions, versions, drift) and *Data* (feeds,
data quality, reconciliation differences). The $ / R toggle is a query parameter
(``?unit=r``), so it works without JavaScript. Each
page reads the same :class:`~tradelake.platform.Platform` methods as the JSON API and the CLI,
typed by :func:`tradelake.columns.json_row`, so a number on a page is the number ``--json``
prints. Pages need the viewer token in the login cookie; without it they redirect to
``/login``.

This module holds the login and the desk's overview pages; the trade page
(:mod:`~tradelake.web.trade_page`) and Setups (:mod:`~tradelake.web.setups_page`) are their
own modules, and all of them draw through :mod:`tradelake.web.rendering`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from tradelake.analytics.risk import Unit
from tradelake.platform import Platform
from tradelake.stream.auth import Role, allowed
from tradelake.stream.settings import StreamSettings
from tradelake.web import charts
from tradelake.web.access import COOKIE
from tradelake.web.rendering import TEMPLATES, PageRenderer, Section, recent_alerts, section
from tradelake.web.setups_page import setups_router
from tradelake.web.trade_page import trade_router

ROUND_TRIPS_SHOWN = 200
COOKIE_MAX_AGE_S = 12 * 3600  # one trading day; log in again tomorrow
JOURNAL_DIMENSIONS = ("instrument", "hour", "weekday")
UNITS = ("money", "r")
TOTALLED = ("gross_pnl", "commission", "net_pnl", "fills", "round_trips")
KPI_COLUMNS = ("net_total", "win_rate", "profit_factor", "avg_win", "avg_loss", "max_drawdown")


def pages_router(platform: Platform, settings: StreamSettings) -> APIRouter:
    """Every desk page (the trade page and Setups included), behind the login cookie."""
    router = APIRouter(include_in_schema=False)
    render = PageRenderer(settings)

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
        alerts = recent_alerts(platform)
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
        unit: str = "money",
    ) -> Response:
        chosen = _unit(unit)
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
                    unit=chosen,
                )
            )
        net = "net_r" if chosen == "r" else "net_pnl"
        per_day = [(date.fromisoformat(str(r["session_date"])), r[net]) for r in daily.rows]
        summed = TOTALLED + (("gross_r", "net_r") if chosen == "r" else ())
        totals = {key: round(sum(r[key] or 0 for r in daily.rows), 2) for key in summed}
        points = charts.equity_curve(per_day)
        return render(
            request,
            "pnl.html",
            daily=daily,
            totals=totals,
            filters=filters,
            unit=chosen,
            net=net,
            toggle={u: _with_query(request, unit=u) for u in UNITS},
            months=charts.calendar(per_day),
            equity_svg=charts.equity_svg(points),
            max_drawdown=min((p.drawdown for p in points), default=0.0),
        )

    @router.get("/journal", response_class=HTMLResponse)
    def journal(request: Request, unit: str = "money") -> Response:
        chosen = _unit(unit)
        breakdowns = {
            dim: section(lambda dim=dim: platform.statistics(dim))  # type: ignore[misc]
            for dim in JOURNAL_DIMENSIONS
        }
        trips = section(lambda: platform.round_trips(limit=ROUND_TRIPS_SHOWN, unit=chosen))
        return render(
            request,
            "journal.html",
            breakdowns=breakdowns,
            trips=trips,
            unit=chosen,
            toggle={u: _with_query(request, unit=u) for u in UNITS},
        )

    @router.get("/models", response_class=HTMLResponse)
    def models(request: Request) -> Response:
        return render(
            request,
            "models.html",
            champions=section(lambda: [c.to_dict() for c in platform.model_champions()]),
            versions=section(lambda: [_version_row(v.to_dict()) for v in platform.models()]),
            drift=section(platform.model_drift),
        )

    @router.get("/data", response_class=HTMLResponse)
    def data(request: Request) -> Response:
        return render(
            request,
            "data.html",
            feeds=section(platform.feed_status),
            quality=section(lambda: platform.data_quality()),
            recon=section(lambda: platform.reconciliation(differences_only=True)),
        )

    router.include_router(trade_router(platform, render))
    router.include_router(setups_router(platform, settings, render))
    return router


def _unit(text: str) -> Unit:
    """The page's unit (anything but ``r`` shows money, so a bad link still renders)."""
    return "r" if text == "r" else "money"


def _with_query(request: Request, **changes: str) -> str:
    """This page's URL with ``changes`` to its query (the $ / R toggle keeps the filters)."""
    query = dict(request.query_params) | changes
    return f"{request.url.path}?{urlencode(query)}"


def _version_row(version: dict[str, Any]) -> dict[str, Any]:
    """A registered version as the Models page lists it (metrics as one text cell)."""
    metrics = ", ".join(f"{k}={m:.4g}" for k, m in sorted(version["metrics"].items()))
    created = datetime.fromtimestamp(version["created_ms"] / 1000, UTC)
    return {
        "name": version["name"],
        "version": version["version"],
        "aliases": ", ".join(version["aliases"]),
        "created": created,
        "metrics": metrics,
    }


def _day(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


def _local(target: str) -> str:
    """Only a path on this server: a login link must not redirect anywhere else."""
    return target if target.startswith("/") and not target.startswith("//") else "/"
