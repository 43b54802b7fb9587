"""The landing backend seam: a tiny write-once key/value protocol and its registry.

A backend only needs to create an object exclusively, read it back, and list keys. There is
deliberately no overwrite and no delete in the protocol, so no caller can do either.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Protocol


class LandingBackend(Protocol):
    """Write-once object storage rooted at one URL."""

    url: str

    def create(self, key: str, data: bytes) -> bool:
        """Store ``data`` under ``key`` unless it exists; True if this call created it."""
        ...

    def read(self, key: str) -> bytes:
        """Return the bytes stored under ``key`` (``FileNotFoundError`` if absent)."""
        ...

    def exists(self, key: str) -> bool:
        """Whether ``key`` holds an object."""
        ...

    def keys(self, prefix: str) -> Iterator[str]:
        """Every key under ``prefix`` (relative to the root), in no particular order."""
        ...

    def sweep_temp_files(self) -> list[str]:
        """Remove the temp files a killed writer left behind (never an object); return them.
        A store whose puts are atomic by themselves (S3, memory) has none."""
        ...


BackendFactory = Callable[[str, dict[str, Any]], LandingBackend]
BACKENDS: dict[str, BackendFactory] = {}


def register_backend(scheme: str) -> Callable[[BackendFactory], BackendFactory]:
    """Register a backend factory for a URL scheme (``file``, ``s3``, ``memory``)."""

    def decorate(factory: BackendFactory) -> BackendFactory:
        BACKENDS[scheme] = factory
        return factory

    return decorate


def open_backend(url: str, storage_options: dict[str, Any] | None = None) -> LandingBackend:
    """Pick the backend for ``url`` by its scheme; a bare path is the local filesystem."""
    from tradelake.landing import fsspec_backend, local  # noqa: F401  (registration)

    scheme = url.split("://", 1)[0] if "://" in url else "file"
    try:
        factory = BACKENDS[scheme]
    except KeyError:
        known = ", ".join(sorted(BACKENDS))
        raise ValueError(f"no landing backend for {scheme}:// URLs; use one of: {known}") from None
    return factory(url, storage_options or {})
