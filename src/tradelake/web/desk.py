"""The desk on the stream app: JSON API, pages, and their static files (shipped in the
package: the desk may be offline, so nothing loads from a CDN)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from tradelake.platform import Platform
from tradelake.stream.settings import StreamSettings
from tradelake.web.api import api_router
from tradelake.web.pages import pages_router

STATIC = Path(__file__).parent / "static"


def mount_desk(app: FastAPI, platform: Platform, settings: StreamSettings) -> None:
    """Add ``/api/...``, the pages and ``/static`` to ``app``."""
    app.include_router(api_router(platform, settings))
    app.include_router(pages_router(platform, settings))
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
