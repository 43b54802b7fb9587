"""Watch the ``input/`` folder and ingest what arrives, never a file still being written.

Traders drop exports by hand or the OS copies them in over seconds. A file is taken only once
its size and mtime have stayed the same for ``settle_s`` *and* it opens as what its source
expects (a half-copied ``.xlsx`` has no zip central directory yet, so it fails that test and is
retried on the next scan). Office lock files (``~$...``) and hidden/partial names are ignored.
Polling, rather than inotify, works the same on local disks, network shares and containers.
"""

from __future__ import annotations

import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tradelake.jobs.ingest import expand_paths

Snapshot = tuple[int, int]
IGNORED_SUFFIXES = (".tmp", ".part", ".crdownload", ".partial")


@dataclass
class FolderWatcher:
    """Finds files in ``folder`` that are complete and not yet handed out."""

    folder: Path
    settle_s: float = 1.0
    _seen: dict[Path, tuple[Snapshot, float]] = field(default_factory=dict)
    _done: dict[Path, Snapshot] = field(default_factory=dict)

    def ready(self, now: float | None = None) -> list[Path]:
        """Files that became complete since the last call (each returned once per version)."""
        clock = time.monotonic() if now is None else now
        ready = []
        for path in expand_paths([self.folder]) if self.folder.exists() else []:
            if path.suffix.lower() in IGNORED_SUFFIXES:
                continue
            snap = _snapshot(path)
            if snap is None or self._done.get(path) == snap:
                continue
            previous = self._seen.get(path)
            if previous is None or previous[0] != snap:
                self._seen[path] = (snap, clock)
                continue
            if clock - previous[1] >= self.settle_s and _complete(path):
                self._done[path] = snap
                ready.append(path)
        return ready


def watch(
    folder: Path,
    handle: Callable[[list[Path]], None],
    *,
    interval_s: float = 0.5,
    settle_s: float = 1.0,
    should_stop: Callable[[], bool] = lambda: False,
) -> None:
    """Poll ``folder`` until ``should_stop()``; hand each batch of complete files to ``handle``."""
    watcher = FolderWatcher(folder, settle_s=settle_s)
    while not should_stop():
        batch = watcher.ready()
        if batch:
            handle(batch)
        time.sleep(interval_s)


def _snapshot(path: Path) -> Snapshot | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return (stat.st_size, stat.st_mtime_ns)


def _complete(path: Path) -> bool:
    """Whether the file is readable as a whole (zip-based formats need their end record)."""
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        try:
            with zipfile.ZipFile(path) as archive:
                return archive.testzip() is None
        except (zipfile.BadZipFile, OSError):
            # Still being written — or truly broken, which ingest reports once it settles.
            return _stable_for_long(path)
    return True


def _stable_for_long(path: Path, quiet_s: float = 10.0) -> bool:
    """A broken file that has not changed for ``quiet_s`` is handed to ingest to be reported."""
    try:
        return time.time() - path.stat().st_mtime >= quiet_s
    except OSError:
        return False
