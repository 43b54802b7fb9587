"""The desk's Setups page, ``/setups``: pick an alert's or a stored frame (GET) or upload a
screenshot (POST) and see its pattern and the most similar past frames with what the desk
traded after each (the work is :mod:`tradelake.web.setups`, shared with the JSON API).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from tradelake.platform import Platform
from tradelake.stream.settings import StreamSettings
from tradelake.web.access import is_viewer
from tradelake.web.rendering import PageRenderer, recent_alerts
from tradelake.web.setups import SIMILAR_K, picked_image, read_upload, setup_report

MAX_SIMILAR_K = 50


def setups_router(platform: Platform, settings: StreamSettings, render: PageRenderer) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    def page(
        request: Request, report: dict[str, Any] | None, error: str | None, status: int = 200
    ) -> Response:
        alerts = recent_alerts(platform)
        return render(
            request,
            "setups.html",
            status=status,
            report=report,
            error=error,
            alerts=list(reversed(alerts.rows)),
        )

    @router.get("/setups", response_class=HTMLResponse)
    async def setups(
        request: Request, alert: str | None = None, frame: str | None = None, k: int = SIMILAR_K
    ) -> Response:
        report, error = None, None
        if alert or frame:
            try:
                data = picked_image(platform, alert=alert, frame=frame)
                report = await setup_report(platform, data, alert or frame or "", _k(k))
            except HTTPException as exc:
                error = str(exc.detail)
        return page(request, report, error)

    @router.post("/setups", response_class=HTMLResponse)
    async def setups_upload(request: Request) -> Response:
        if not is_viewer(settings, request):
            return render(request, "setups.html")  # the login redirect
        try:
            data, name = await read_upload(request, settings.max_frame_bytes)
            report = await setup_report(platform, data, name, SIMILAR_K)
        except HTTPException as exc:
            return page(request, None, str(exc.detail), exc.status_code)
        return page(request, report, None)

    return router


def _k(k: int) -> int:
    return min(max(k, 1), MAX_SIMILAR_K)
