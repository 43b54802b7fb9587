"""Landing: raw bytes exactly as received, content-addressed and append-only."""

from tradelake.landing.store import LandingObject, LandingStore, PutResult

__all__ = ["LandingObject", "LandingStore", "PutResult"]
