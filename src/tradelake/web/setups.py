"""The Setups page's work: a screenshot in, its pattern and the most similar past frames out,
each with what the desk traded after it (:mod:`tradelake.features.setup_outcomes`).

The image comes from an upload (``multipart/form-data``, field ``image``) or is picked from
what is stored: an alert's frame or any frame of ``img_signals``. Nothing is landed or
written: classifying an upload changes nothing, so the viewer token may do it. Uploads are
bounded by ``[stream] max_frame_bytes`` (what the gateway accepts per frame), checked on the
declared length before the body is read and on the bytes after.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import HTTPException, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from tradelake.columns import json_row
from tradelake.errors import TradelakeError
from tradelake.platform import Platform

FIELD = "image"
FORM_OVERHEAD = 64 * 1024  # multipart boundaries and headers around the file
SIMILAR_K = 5
UPLOAD_SCHEMA: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": [FIELD],
                    "properties": {FIELD: {"type": "string", "format": "binary"}},
                }
            }
        },
    }
}


async def read_upload(request: Request, limit: int) -> tuple[bytes, str]:
    """The uploaded image's bytes and file name; 413 past ``limit`` bytes, 422 without one."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise HTTPException(400, "Content-Length is not a number")
        if int(declared) > limit + FORM_OVERHEAD:
            raise HTTPException(
                413, f"the image is larger than {limit:,} bytes; send a smaller one"
            )
    form = await request.form(max_files=1, max_fields=4)
    upload = form.get(FIELD)
    if not isinstance(upload, UploadFile):
        raise HTTPException(
            422, f"send the screenshot as multipart/form-data field {FIELD!r} (PNG or JPEG)"
        )
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise _too_large(limit)
    if not data:
        raise HTTPException(422, "the uploaded image is empty")
    return data, upload.filename or "upload"


def _too_large(limit: int) -> HTTPException:
    return HTTPException(413, f"the image is larger than {limit:,} bytes; send a smaller one")


def picked_image(platform: Platform, *, alert: str | None, frame: str | None) -> bytes:
    """A stored screenshot: an alert's frame or an ``img_signals`` frame (404 if none)."""
    try:
        if alert:
            return platform.alert_frame(alert)[0]
        if frame:
            return platform.frame_image(frame)
    except TradelakeError as exc:
        raise HTTPException(404, str(exc)) from exc
    raise HTTPException(422, "pick a screenshot: ?alert=ALERT_ID or ?frame=FRAME_ID")


async def setup_report(platform: Platform, data: bytes, name: str, k: int) -> dict[str, Any]:
    """The pattern of ``data`` (as ``vision classify``), its ``k`` most similar stored frames
    (as ``vision similar``) and each one's outcome; ``similar_error`` says why there are none
    (no frames stored yet). An image that is not a chart screenshot is a 422."""
    result = await run_in_threadpool(platform.classify_image, data, name)
    if result.error is not None:
        raise HTTPException(422, f"{name}: {result.error}")
    report: dict[str, Any] = result.to_dict()
    report["model_version"] = platform.chart_classifier().model_version
    try:
        similar = await run_in_threadpool(lambda: platform.similar_to(data, name, k=k))
    except TradelakeError as exc:
        report["similar"], report["similar_error"] = [], str(exc)
        return report
    outcomes = await run_in_threadpool(
        platform.setup_outcomes, [(m.device, m.ts) for m in similar.matches]
    )
    report["searched"] = similar.searched
    report["similar"] = [
        json_row(asdict(match)) | {"outcome": json_row(asdict(outcome))}
        for match, outcome in zip(similar.matches, outcomes, strict=True)
    ]
    report["similar_error"] = None
    return report
