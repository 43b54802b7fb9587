"""The desk's per-trade page, ``/trades/{round_trip_id}``: one round trip as the desk could
see it at entry (fills, the chart frame, option chain and news, the ensemble's probability),
from the same document as ``/api/round_trips/{id}`` (:func:`tradelake.web.api.entry_document`).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from tradelake.errors import TradelakeError
from tradelake.features.entry_features import CHAIN_COLUMNS
from tradelake.platform import Platform
from tradelake.web.api import entry_document
from tradelake.web.rendering import PageRenderer


def trade_router(platform: Platform, render: PageRenderer) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/trades/{round_trip_id}", response_class=HTMLResponse)
    def trade(request: Request, round_trip_id: str) -> Response:
        try:
            view, score = platform.entry_view(round_trip_id)
        except TradelakeError as exc:
            return render(request, "trade.html", status=404, error=str(exc), doc=None)
        doc = entry_document(view, score)
        entry = doc["entry_features"]
        chain = {c: entry.get(c) for c in (*CHAIN_COLUMNS, "chain_age_s")}
        return render(
            request,
            "trade.html",
            error=None,
            doc=doc,
            chain=chain,
            price_decimals=view.price_decimals,
        )

    return router
