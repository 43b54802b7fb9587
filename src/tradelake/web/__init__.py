"""The web layer: the FastAPI app behind ``tradelake serve`` (gateway, alert feed, history)."""

from tradelake.web.app import create_app

__all__ = ["create_app"]
