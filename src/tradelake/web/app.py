"""The FastAPI app of ``tradelake serve``: frames in, alerts out, alert history.

- ``WS /ws/frames/{device}`` (producer token): an optional text message
  ``{"frame_id": ..., "ts": ...}`` then one binary message (PNG/JPEG) per frame; each frame is
  answered ``{"frame_id", "landing_id", "status", "error"}`` once it is landed and enqueued.
  A bad frame gets an ``error`` answer and the connection stays up.
- ``WS /ws/alerts`` and ``GET /api/alerts/stream`` (server-sent events; viewer token): every
  alert as JSON, pushed as it fires.
- ``GET /api/alerts?since=ISO`` (viewer token): history from the ``alerts`` table.
- ``GET /metrics`` (no token, like any Prometheus target: bind 127.0.0.1 or firewall it):
  this process's metrics (:mod:`tradelake.ops.metrics`); serving turns recording on.
- ``POST /api/score`` (viewer token; the ``alerts`` role): ``{"rows": [{feature: value}, ...]}``
  (entry features, see features/entry_features.py; a missing feature is missing) answered
  ``{"model_version", "probs", "take", "threshold"}`` by the signal ensemble's champion,
  hot-swapped when the alias moves (ml/signal_serving.py). 503 when there is no champion yet.

Tokens go in ``Authorization: Bearer <token>``; browsers, which cannot set that header on a
WebSocket or EventSource, may pass ``?token=``. A missing or wrong token gets HTTP 401 or
WebSocket close code 1008 (policy violation); a token of the other role gets 403 / 1008.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, HTTPException, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from tradelake.errors import ModelError
from tradelake.ops import metrics
from tradelake.stream.auth import Role, allowed
from tradelake.stream.gateway import FrameAnswer
from tradelake.stream.messages import parse_ts
from tradelake.stream.runtime import StreamRuntime
from tradelake.web.access import connection_token

if TYPE_CHECKING:
    from tradelake.platform import Platform

POLICY_VIOLATION = 1008
KEEPALIVE_S = 15.0
MAX_ALERTS = 2**62  # SQLite integers are 64-bit: a larger limit would be a 500


def create_app(runtime: StreamRuntime, platform: Platform | None = None) -> FastAPI:
    """The app over a started (or about to start) :class:`StreamRuntime`; with ``platform``,
    also the desk's pages and JSON API (:mod:`tradelake.web.desk`)."""
    app = FastAPI(title="tradelake stream", docs_url=None, redoc_url=None)
    settings = runtime.settings
    recorded = metrics.enable()

    async def admit(websocket: WebSocket, role: Role) -> bool:
        """Accept, then close with 1008 unless the token grants ``role`` (closing after the
        accept lets the client read the code and the reason)."""
        await websocket.accept()
        token = connection_token(websocket)
        if allowed(settings, role, token):
            return True
        reason = "missing token" if not token else f"token does not grant {role.value}"
        await websocket.close(code=POLICY_VIOLATION, reason=reason)
        return False

    def require_viewer(request: Request) -> None:
        token = connection_token(request)
        if not token:
            raise HTTPException(401, "missing token: send Authorization: Bearer <viewer token>")
        if not allowed(settings, Role.VIEWER, token):
            raise HTTPException(403, "this token cannot read alerts; use the viewer token")

    @app.get("/healthz")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "roles": list(runtime.roles), "clients": runtime.hub.clients}

    @app.get("/metrics")
    async def metrics_page() -> Response:
        body, content_type = metrics.exposition(recorded)
        return Response(body, media_type=content_type)

    @app.websocket("/ws/frames/{device}")
    async def frames(websocket: WebSocket, device: str) -> None:
        gateway = runtime.gateway
        if not await admit(websocket, Role.PRODUCER):
            return
        if gateway is None:
            await websocket.close(code=POLICY_VIOLATION, reason="this process has no gateway role")
            return
        meta: dict[str, Any] = {}
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    return
                if message.get("text") is not None:
                    try:
                        meta = _frame_meta(message["text"])
                    except ValueError as exc:
                        await websocket.send_json(
                            FrameAnswer(None, None, "error", str(exc)).to_dict()
                        )
                        meta = {}
                    continue
                data = message.get("bytes") or b""
                answer = await run_in_threadpool(
                    gateway.accept, device, data, frame_id=meta.get("frame_id"), ts=meta.get("ts")
                )
                meta = {}
                await websocket.send_json(answer.to_dict())
        except WebSocketDisconnect:
            return

    @app.websocket("/ws/alerts")
    async def alerts_ws(websocket: WebSocket) -> None:
        if not await admit(websocket, Role.VIEWER):
            return
        subscription = runtime.hub.subscribe()
        # Wait for the next alert and for the client at once: a client that leaves (or a
        # server shutting down) ends the handler even when no alert is coming.
        listening = asyncio.ensure_future(websocket.receive())
        try:
            while not subscription.lagged:
                alert = asyncio.ensure_future(subscription.queue.get())
                await asyncio.wait({listening, alert}, return_when=asyncio.FIRST_COMPLETED)
                if listening.done():
                    alert.cancel()
                    if listening.result()["type"] == "websocket.disconnect":
                        return
                    listening = asyncio.ensure_future(websocket.receive())  # ignore its text
                    continue
                await websocket.send_json(alert.result())
        except (WebSocketDisconnect, RuntimeError):
            return
        finally:
            listening.cancel()
            runtime.hub.unsubscribe(subscription)
        await websocket.close(code=1013, reason="client fell behind; fetch /api/alerts?since=")

    @app.get("/api/alerts/stream")
    async def alerts_sse(request: Request) -> StreamingResponse:
        require_viewer(request)
        subscription = runtime.hub.subscribe()

        async def events() -> AsyncIterator[str]:
            try:
                yield ": connected\n\n"
                while not subscription.lagged and not await request.is_disconnected():
                    payload = await subscription.next(KEEPALIVE_S)
                    if payload is None:
                        yield ": keep-alive\n\n"
                    else:
                        yield f"event: alert\ndata: {json.dumps(payload)}\n\n"
            finally:
                runtime.hub.unsubscribe(subscription)

        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        return StreamingResponse(events(), media_type="text/event-stream", headers=headers)

    @app.get("/api/alerts")
    async def alerts_history(
        request: Request,
        since: str | None = Query(None),
        limit: int = Query(1000, ge=1, le=MAX_ALERTS),
    ) -> list[dict[str, Any]]:
        require_viewer(request)
        try:
            start = parse_ts(since) if since else None
        except ValueError:
            raise HTTPException(
                422, f"since={since!r} is not ISO 8601, e.g. 2026-11-02T14:30:00Z"
            ) from None
        rows = await run_in_threadpool(runtime.store.since, start, limit)
        return [alert.to_dict() for alert in rows]

    @app.post("/api/score")
    async def score(request: Request) -> dict[str, Any]:
        require_viewer(request)
        if runtime.scorer is None:
            raise HTTPException(
                503, "this process serves no model: score on the alerts role (or --role all)"
            )
        try:
            body = await request.json()
        except json.JSONDecodeError as exc:
            raise HTTPException(422, f"body is not JSON ({exc.msg})") from None
        rows = body.get("rows") if isinstance(body, dict) else None
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise HTTPException(422, 'send {"rows": [{"chart_prob": 0.8, ...}, ...]}')
        try:
            scores = await run_in_threadpool(runtime.scorer.score, rows)
        except ModelError as exc:
            raise HTTPException(503, str(exc)) from None
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
        return scores.to_dict()

    if platform is not None:
        from tradelake.web.desk import mount_desk

        mount_desk(app, platform, settings)
    return app


def _frame_meta(text: str) -> dict[str, Any]:
    """The text message before a frame: ``frame_id`` and ``ts`` (ISO 8601 capture time)."""
    try:
        meta = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"frame header is not JSON ({exc.msg}); send {{frame_id, ts}}") from exc
    if not isinstance(meta, dict):
        raise ValueError('frame header must be a JSON object like {"frame_id": "...", "ts": "..."}')
    out: dict[str, Any] = {}
    if meta.get("frame_id"):
        out["frame_id"] = str(meta["frame_id"])
    if meta.get("ts"):
        try:
            ts: datetime = parse_ts(str(meta["ts"]))
        except ValueError as exc:
            raise ValueError(f"ts {meta['ts']!r} is not ISO 8601 ({exc})") from exc
        out["ts"] = ts
    return out
