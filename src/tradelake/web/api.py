"""The desk's JSON API: the numbers behind every page, as the CLI's ``--json`` prints them.

Every endpoint reads through the :class:`~tradelake.platform.Platform` facade and types its
rows with :func:`tradelake.columns.json_row` (money to cents, ids as text), so
``GET /api/pnl/daily`` and ``tradelake pnl daily --json`` give the same values. All of them
need the viewer token and none changes anything. ``/api/alerts`` is served by the stream app
(:mod:`tradelake.web.app`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any, Literal

import polars as pl
from fastapi import APIRouter, Depends, HTTPException, Query

from tradelake.columns import json_row
from tradelake.errors import StoreBusyError, TradelakeError
from tradelake.platform import Platform
from tradelake.stream.settings import StreamSettings
from tradelake.web.access import viewer_required

Rows = list[dict[str, Any]]
Dimension = Literal["all", "account", "instrument", "weekday", "hour"]


def frame_rows(frame: pl.DataFrame) -> Rows:
    """A frame as ``--json`` prints it."""
    return [json_row(row) for row in frame.iter_rows(named=True)]


def platform_rows(call: Callable[[], pl.DataFrame | Rows]) -> Rows:
    """Run a platform read; its expected failures become HTTP errors that say what to do."""
    try:
        result = call()
    except StoreBusyError as exc:
        raise HTTPException(503, str(exc)) from exc
    except TradelakeError as exc:
        raise HTTPException(409, str(exc)) from exc
    return frame_rows(result) if isinstance(result, pl.DataFrame) else result


def api_router(platform: Platform, settings: StreamSettings) -> APIRouter:
    """``/api/pnl/daily``, ``/api/stats``, ``/api/round_trips``, ``/api/feeds``,
    ``/api/quality`` and ``/api/reconciliation`` (viewer token)."""
    viewer = Depends(viewer_required(settings))
    router = APIRouter(prefix="/api", tags=["desk"], dependencies=[viewer])

    @router.get("/pnl/daily", summary="Daily P&L by session date, account and contract")
    def pnl_daily(
        account: str | None = None,
        instrument: str | None = None,
        date_from: date | None = Query(None, alias="from"),
        date_to: date | None = Query(None, alias="to"),
    ) -> Rows:
        return platform_rows(
            lambda: platform.daily_pnl(
                account=account, instrument=instrument, date_from=date_from, date_to=date_to
            )
        )

    @router.get("/stats", summary="Journal statistics overall or by a dimension")
    def stats(by: Dimension = "all") -> Rows:
        return platform_rows(lambda: platform.statistics(by))

    @router.get("/round_trips", summary="Round trips, newest first")
    def round_trips(
        account: str | None = None,
        symbol: str | None = None,
        date_from: date | None = Query(None, alias="from"),
        date_to: date | None = Query(None, alias="to"),
        limit: int = Query(1000, ge=1, le=100_000),
    ) -> Rows:
        return platform_rows(
            lambda: platform.round_trips(
                account=account, symbol=symbol, date_from=date_from, date_to=date_to, limit=limit
            )
        )

    @router.get("/feeds", summary="Each feed's last run, success, error and lag")
    def feeds() -> Rows:
        return platform_rows(platform.feed_status)

    @router.get("/quality", summary="Newest data-quality results, quarantined rows by rule")
    def quality(rejected: bool = False, last: int = Query(20, ge=1, le=10_000)) -> Rows:
        return platform_rows(lambda: platform.data_quality(rejected_only=rejected, last=last))

    @router.get("/reconciliation", summary="Round trips against the ATAS Journal sheet")
    def reconciliation(all_rows: bool = Query(False, alias="all")) -> Rows:
        return platform_rows(lambda: platform.reconciliation(differences_only=not all_rows))

    @router.get("/alerts/{alert_id}/lineage", summary="Alert → signal → frame → landed image")
    def alert_lineage(alert_id: str) -> dict[str, Any]:
        try:
            return platform.alert_chain(alert_id).to_dict()
        except TradelakeError as exc:
            raise HTTPException(404, str(exc)) from exc

    return router
