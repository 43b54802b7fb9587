"""fsspec landing backend for object stores (``s3://``) and the in-memory test double.

S3 exclusive create is a conditional put (``If-None-Match: *``), which s3fs sends for
``pipe_file(..., mode="create")``; a 412 comes back as ``FileExistsError``. The ``memory://``
filesystem gets the same semantics from an existence check, which is enough for a test double
used by one process.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from tradelake.errors import LandingError
from tradelake.landing.backend import register_backend


class FsspecBackend:
    """Write-once objects on any fsspec filesystem that supports ``mode="create"``."""

    def __init__(self, url: str, storage_options: dict[str, Any]) -> None:
        self.url = url.rstrip("/")
        protocol = url.split("://", 1)[0]
        import fsspec  # here, not at module import: a local landing zone never needs it

        try:
            self.fs = fsspec.filesystem(protocol, **storage_options)
        except ImportError as exc:
            raise LandingError(
                f"landing URL {url} needs an extra package ({exc}); "
                "install it with: pip install 'tradelake[s3]'"
            ) from exc
        self.root = str(self.fs._strip_protocol(self.url)).rstrip("/")
        self.conditional_put = protocol == "s3"

    def create(self, key: str, data: bytes) -> bool:
        path = f"{self.root}/{key}"
        if not self.conditional_put:
            if self.fs.exists(path):
                return False
            self.fs.pipe_file(path, data)
            return True
        try:
            self.fs.pipe_file(path, data, mode="create")
        except FileExistsError:
            return False
        return True

    def read(self, key: str) -> bytes:
        data: bytes = self.fs.cat_file(f"{self.root}/{key}")
        return data

    def exists(self, key: str) -> bool:
        return bool(self.fs.exists(f"{self.root}/{key}"))

    def sweep_temp_files(self) -> list[str]:
        return []  # a put is one request: nothing is left half-written

    def keys(self, prefix: str) -> Iterator[str]:
        base = f"{self.root}/{prefix}".rstrip("/")
        if not self.fs.exists(base):
            return
        for path in self.fs.find(base):
            yield str(self.fs._strip_protocol(path))[len(self.root) + 1 :]


@register_backend("s3")
def _s3(url: str, options: dict[str, Any]) -> FsspecBackend:
    return FsspecBackend(url, options)


@register_backend("memory")
def _memory(url: str, options: dict[str, Any]) -> FsspecBackend:
    return FsspecBackend(url, options)
