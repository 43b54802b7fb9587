"""Replace a file in one step: write a temp sibling, optionally fsync it, rename it over.

Readers (and a process restarted after a crash) see the old file or the new one, never half of
one, because ``os.replace`` within a directory is atomic on POSIX. Staging, feed state, the
processed markers and the embedding cache all write this way. (Landing does not: it must never
replace, so it hard-links instead; see :mod:`tradelake.landing.local`.)

A process killed inside the block leaves its temp file behind. Every temp file is named
``.<target name>.<host>-<pid>-<random>.tmp`` (:func:`temp_path`), so :func:`sweep_temp_files`,
run at the start of ingest, replay and watch, can tell a dead writer's leftover from a file a
live process is still writing.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import re
import socket
import sys
import time
import uuid
from collections.abc import Iterable, Iterator
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
    tmp = temp_path(target)
    try:
        yield tmp
        if durable:
            with open(tmp, "rb") as handle:
                os.fsync(handle.fileno())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


# A temp file lives for the milliseconds between its write and its rename; one untouched for
# this long is a leftover even if its writer's pid now belongs to another process.
STALE_AFTER_S = 3600.0
_HOST = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]
_TEMP_NAME = re.compile(r"^\..+\.(?:(?P<host>[0-9a-f]{8})-(?P<pid>\d+)-)?[0-9a-f]{32}\.tmp$")


def temp_path(target: Path) -> Path:
    """A fresh temp name next to ``target`` that says which host and process writes it."""
    return target.parent / f".{target.name}.{_HOST}-{os.getpid()}-{uuid.uuid4().hex}.tmp"


def sweep_temp_files(roots: Iterable[Path], *, stale_after_s: float = STALE_AFTER_S) -> list[Path]:
    """Remove the temp files killed writers left under ``roots``; return what was removed.

    A temp file is a leftover when its writer ran on this host and is no longer alive, or when
    it has not been modified for ``stale_after_s`` (a writer on another host sharing the folder,
    a reused pid, or a name from before writers recorded their pid). Files not named by
    :func:`temp_path` are never touched.
    """
    removed = []
    now = time.time()
    for root in roots:
        if not root.is_dir():
            continue
        for path in root.rglob(".*.tmp"):
            match = _TEMP_NAME.match(path.name)
            if match is None or not _is_leftover(path, match, now, stale_after_s):
                continue
            try:
                path.unlink()
            except FileNotFoundError:  # its writer renamed or removed it meanwhile
                continue
            removed.append(path)
    return removed


def _is_leftover(path: Path, match: re.Match[str], now: float, stale_after_s: float) -> bool:
    if match["host"] == _HOST and not _alive(int(match["pid"])):
        return True
    try:
        return now - path.stat().st_mtime > stale_after_s
    except FileNotFoundError:
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    return True


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
