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
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import polars as pl
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response

from tradelake.analytics.risk import Unit
from tradelake.columns import json_row
from tradelake.console import json_document
from tradelake.errors import StoreBusyError, TradelakeError
from tradelake.platform import Platform
from tradelake.stream.settings import StreamSettings
from tradelake.web.access import viewer_required
from tradelake.web.setups import SIMILAR_K, UPLOAD_SCHEMA, read_upload, setup_report
from tradelake.web.thumbnail import thumbnail

if TYPE_CHECKING:
    from tradelake.features.entry_view import EntryView

Rows = list[dict[str, Any]]
Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])
Dimension = Literal["all", "account", "instrument", "weekday", "hour"]


def frame_rows(frame: pl.DataFrame) -> Rows:
    """A frame as ``--json`` prints it."""
    return [json_row(row) for row in frame.iter_rows(named=True)]


class CliJSONResponse(JSONResponse):
    """The body ``--json`` prints (:func:`tradelake.console.json_document`), compact."""

    def render(self, content: Any) -> bytes:
        return json_document(content, indent=None).encode("utf-8")


def platform_rows(call: Callable[[], pl.DataFrame | Rows]) -> CliJSONResponse:
    """Run a platform read; its expected failures become HTTP errors that say what to do."""
    try:
        result = call()
    except StoreBusyError as exc:
        raise HTTPException(503, str(exc)) from exc
    except TradelakeError as exc:
        raise HTTPException(409, str(exc)) from exc
    return CliJSONResponse(frame_rows(result) if isinstance(result, pl.DataFrame) else result)


def api_router(platform: Platform, settings: StreamSettings) -> APIRouter:
    """``/api/pnl/daily``, ``/api/stats``, ``/api/round_trips`` (and one by id),
    ``/api/feeds``, ``/api/quality``, ``/api/reconciliation``, ``/api/models`` (versions,
    champions, drift), ``POST /api/setups/classify`` and frame thumbnails (viewer token)."""
    viewer = Depends(viewer_required(settings))
    router = APIRouter(prefix="/api", tags=["desk"], dependencies=[viewer])

    def rows(path: str, summary: str) -> Callable[[Endpoint], Endpoint]:
        """A GET answering rows as ``--json`` prints them (documented as a list of objects)."""
        return router.get(path, response_model=Rows, summary=summary)

    @rows("/pnl/daily", "Daily P&L by session date, account and contract")
    def pnl_daily(
        account: str | None = None,
        instrument: str | None = None,
        date_from: date | None = Query(None, alias="from"),
        date_to: date | None = Query(None, alias="to"),
        unit: Unit = Query("money", description="r: also in R (net_r, gross_r, risk)"),
    ) -> CliJSONResponse:
        return platform_rows(
            lambda: platform.daily_pnl(
                account=account,
                instrument=instrument,
                date_from=date_from,
                date_to=date_to,
                unit=unit,
            )
        )

    @rows("/stats", "Journal statistics overall or by a dimension")
    def stats(by: Dimension = "all") -> CliJSONResponse:
        return platform_rows(lambda: platform.statistics(by))

    @rows("/round_trips", "Round trips, newest first")
    def round_trips(
        account: str | None = None,
        symbol: str | None = None,
        date_from: date | None = Query(None, alias="from"),
        date_to: date | None = Query(None, alias="to"),
        limit: int = Query(1000, ge=1, le=100_000),
        unit: Unit = Query("money", description="r: also in R (net_r, gross_r, risk)"),
    ) -> CliJSONResponse:
        return platform_rows(
            lambda: platform.round_trips(
                account=account,
                symbol=symbol,
                date_from=date_from,
                date_to=date_to,
                limit=limit,
                unit=unit,
            )
        )

    @router.get("/round_trips/{round_trip_id}", summary="One round trip as known at its entry")
    def round_trip(round_trip_id: str) -> CliJSONResponse:
        """Its fills, the entry's point-in-time features (the chart frame closest before
        entry, option-chain shape, news) and the signal ensemble champion's probability."""
        try:
            view, score = platform.entry_view(round_trip_id)
        except StoreBusyError as exc:
            raise HTTPException(503, str(exc)) from exc
        except TradelakeError as exc:
            raise HTTPException(404, str(exc)) from exc
        return CliJSONResponse(entry_document(view, score))

    @rows("/models", "Every registered model version (tradelake model list --json)")
    def models() -> CliJSONResponse:
        return platform_rows(lambda: [v.to_dict() for v in platform.models()])

    @rows("/models/champions", "Each desk model's champion and metrics")
    def champions() -> CliJSONResponse:
        return platform_rows(lambda: [c.to_dict() for c in platform.model_champions()])

    @rows("/models/drift", "Each model's latest drift check, per feature")
    def drift() -> CliJSONResponse:
        return platform_rows(platform.model_drift)

    @router.post(
        "/setups/classify",
        summary="A screenshot's pattern and its most similar past frames with outcomes",
        openapi_extra=UPLOAD_SCHEMA,
    )
    async def classify_setup(request: Request, k: int = Query(SIMILAR_K, ge=1, le=50)) -> Any:
        """Upload a PNG/JPEG as multipart field ``image``; nothing is stored."""
        data, name = await read_upload(request, settings.max_frame_bytes)
        return CliJSONResponse(await setup_report(platform, data, name, k))

    @router.get(
        "/frames/{frame_id}/thumbnail",
        summary="A stored chart frame, 320 pixels wide (PNG)",
        response_class=Response,
        responses={200: {"content": {"image/png": {}}}},
    )
    def frame_thumbnail(frame_id: str) -> Response:
        try:
            data = platform.frame_image(frame_id)
        except TradelakeError as exc:
            raise HTTPException(404, str(exc)) from exc
        return png_thumbnail(data, f"frame {frame_id}")

    @rows("/feeds", "Each feed's last run, success, error and lag")
    def feeds() -> CliJSONResponse:
        return platform_rows(platform.feed_status)

    @rows("/quality", "Newest data-quality results, quarantined rows by rule")
    def quality(rejected: bool = False, last: int = Query(20, ge=1, le=10_000)) -> CliJSONResponse:
        return platform_rows(lambda: platform.data_quality(rejected_only=rejected, last=last))

    @rows("/reconciliation", "Round trips against the ATAS Journal sheet")
    def reconciliation(all_rows: bool = Query(False, alias="all")) -> CliJSONResponse:
        return platform_rows(lambda: platform.reconciliation(differences_only=not all_rows))

    @router.get("/alerts/{alert_id}/lineage", summary="Alert → signal → frame → landed image")
    def alert_lineage(alert_id: str) -> dict[str, Any]:
        try:
            return platform.alert_chain(alert_id).to_dict()
        except TradelakeError as exc:
            raise HTTPException(404, str(exc)) from exc

    @router.get(
        "/alerts/{alert_id}/thumbnail",
        summary="The frame an alert fired on, 320 pixels wide (PNG)",
        response_class=Response,
        responses={200: {"content": {"image/png": {}}}},
    )
    def alert_thumbnail(alert_id: str) -> Response:
        try:
            data, _ = platform.alert_frame(alert_id)
        except TradelakeError as exc:
            raise HTTPException(404, str(exc)) from exc
        return png_thumbnail(data, f"alert {alert_id}'s frame")

    return router


def png_thumbnail(data: bytes, what: str) -> Response:
    """A landed frame as a cacheable thumbnail (frames never change: content-addressed)."""
    try:
        png = thumbnail(data)
    except ValueError as exc:
        raise HTTPException(409, f"{what}: {exc}") from exc
    return Response(png, media_type="image/png", headers={"Cache-Control": "max-age=86400"})


def entry_document(view: EntryView, score: dict[str, Any]) -> dict[str, Any]:
    """``/api/round_trips/{id}``: the trade page's numbers, typed as ``--json`` types them."""
    return {
        "round_trip": json_row(view.trip),
        "fills": frame_rows(view.fills),
        "frame": None if view.frame is None else json_row(view.frame),
        "entry_features": json_row(view.features),
        "news": frame_rows(view.news),
        "ensemble": score,
    }
