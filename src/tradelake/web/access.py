"""Who may read the desk: the stream's viewer token, from a header, ``?token=`` or a cookie.

Scripts send ``Authorization: Bearer <token>``; a browser cannot set that header on an
``EventSource`` or WebSocket, so after the login form the token rides in an HttpOnly cookie
(script on the page never sees it) and, for old clients, ``?token=``. The viewer role only
reads: nothing under ``/api`` or the pages changes data.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import HTTPException
from starlette.requests import HTTPConnection

from tradelake.stream.auth import Role, allowed, bearer
from tradelake.stream.settings import StreamSettings

COOKIE = "tradelake_token"


def connection_token(conn: HTTPConnection) -> str | None:
    """The token a request or WebSocket carries: header first, then query, then cookie."""
    return (
        bearer(conn.headers.get("authorization"))
        or conn.query_params.get("token")
        or conn.cookies.get(COOKIE)
    )


def is_viewer(settings: StreamSettings, conn: HTTPConnection) -> bool:
    return allowed(settings, Role.VIEWER, connection_token(conn))


def viewer_required(settings: StreamSettings) -> Callable[[HTTPConnection], None]:
    """A FastAPI dependency: 401 without a token, 403 with one that is not the viewer's."""

    def require(conn: HTTPConnection) -> None:
        token = connection_token(conn)
        if not token:
            raise HTTPException(401, "missing token: send Authorization: Bearer <viewer token>")
        if not allowed(settings, Role.VIEWER, token):
            raise HTTPException(403, "this token cannot read the desk; use the viewer token")

    return require
