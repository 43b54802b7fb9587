"""Replace a file in one step: write a temp sibling, optionally fsync it, rename it over.

Readers (and a process restarted after a crash) see the old file or the new one, never half of
one, because ``os.replace`` within a directory is atomic on POSIX. Staging, feed state, the
processed markers and the embedding cache all write this way. (Landing does not: it must never
replace, so it hard-links instead; see :mod:`tradelake.landing.local`.)
"""

from __future__ import annotations

import ctypes
import os
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import polars as pl

    from tradelake.errors import TradelakeError


@contextmanager
def replacing(target: Path, *, durable: bool = False) -> Iterator[Path]:
    """Yield a temp path next to ``target``; when the block succeeds, move it onto ``target``.

    ``durable=True`` fsyncs the temp file before the rename, so the new content survives a power
    loss and not only a process crash. On an exception the temp file is removed and the
    exception propagates; ``target`` is untouched.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.{uuid.uuid4().hex}.tmp"
    try:
        yield tmp
        if durable:
            with open(tmp, "rb") as handle:
                os.fsync(handle.fileno())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(target: Path, text: str, *, durable: bool = False) -> None:
    """Replace ``target`` with ``text`` (UTF-8) in one step."""
    with replacing(target, durable=durable) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_parquet(target: Path, frame: pl.DataFrame, error: type[TradelakeError]) -> Path:
    """Replace ``target`` with ``frame`` as zstd Parquet (with statistics); a failing disk
    raises ``error`` (the caller's layer) naming the file and what to check."""
    try:
        with replacing(target) as tmp:
            frame.write_parquet(tmp, compression="zstd", statistics=True)
    except OSError as exc:
        raise error(f"could not write {target}: {exc}; check free space and rights.") from exc
    return target


def sync_filesystem(path: Path) -> None:
    """Make every write on the filesystem holding ``path`` durable: ``syncfs(2)`` on Linux,
    ``sync(2)`` elsewhere.

    A step that wrote hundreds of files (an export's staged partitions) calls this once before
    the record that says it is done: one call costs a few milliseconds where an fsync per file
    cost about 0.5 ms each, and it also persists the renames, which a file's fsync does not.
    """
    if sys.platform == "linux":
        fd = os.open(path, os.O_RDONLY)
        try:
            if _libc().syncfs(fd) == 0:
                return
        finally:
            os.close(fd)
    os.sync()


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)
