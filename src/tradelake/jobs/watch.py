"""Watch the ``input/`` folder and ingest what arrives, never a file still being written.

Traders drop exports by hand or the OS copies them in over seconds. A file is taken only once
its size and mtime have stayed the same for ``settle_s`` *and* its format says it is whole
(:mod:`tradelake.jobs.completeness`: the zip central directory of an xlsx, the IEND chunk of a
PNG, the EOI marker of a JPEG). A file that stays incomplete for ``give_up_s`` is reported in
one line, once, and never landed; if it changes later (copied again), it is watched afresh.
Office lock files (``~$...``), hidden and partial names (``.part``, ``.tmp``) are ignored; a
folder named like a data file (``x.xlsx/``) is reported once.

The loop never dies on one file: a batch that fails with a :class:`TransientError` (the feature
store busy in another process) is handed out again after ``retry_s``; any other failure is
reported once and the file is not retried until it changes. Polling, rather than inotify, works
the same on local disks, network shares and containers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tradelake.errors import TradelakeError, TransientError
from tradelake.jobs.completeness import incomplete_reason
from tradelake.jobs.ingest import expand_paths

logger = logging.getLogger(__name__)

Snapshot = tuple[int, int]
Report = Callable[[str], None]
IGNORED_SUFFIXES = (".tmp", ".part", ".crdownload", ".partial")


@dataclass(frozen=True)
class WatchTiming:
    """How long a file must be quiet, how long an incomplete one is waited for, and how soon a
    batch that failed transiently is tried again (seconds; ``[watch]`` in tradelake.toml)."""

    settle_s: float = 1.0
    give_up_s: float = 120.0
    retry_s: float = 5.0


@dataclass
class FolderWatcher:
    """Finds files in ``folder`` that are complete and not yet handed out.

    ``report`` gets one line per problem a person must act on (a folder named like a data file,
    a file that never completed), once per version of the file.
    """

    folder: Path
    settle_s: float = 1.0
    give_up_s: float = 120.0
    report: Report = logger.warning
    _seen: dict[Path, tuple[Snapshot, float]] = field(default_factory=dict)
    _done: dict[Path, Snapshot] = field(default_factory=dict)
    _retry_at: dict[Path, float] = field(default_factory=dict)

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
            if clock < self._retry_at.get(path, clock):
                continue
            previous = self._seen.get(path)
            if previous is None or previous[0] != snap:
                self._seen[path] = (snap, clock)
                continue
            if clock - previous[1] < self.settle_s:
                continue
            if self._take(path, snap, clock - previous[1]):
                ready.append(path)
        return ready

    def retry_later(self, paths: Sequence[Path], delay_s: float, now: float | None = None) -> None:
        """Hand ``paths`` out again, unchanged, once ``delay_s`` has passed (transient failure)."""
        clock = time.monotonic() if now is None else now
        for path in paths:
            self._done.pop(path, None)
            self._retry_at[path] = clock + delay_s

    def _take(self, path: Path, snap: Snapshot, quiet_s: float) -> bool:
        """Whether a settled ``path`` is handed out now; reports what will never be."""
        if path.is_dir():
            self._done[path] = snap
            self.report(
                f"{path.name} is a folder, not a file; tradelake ingests files only: move "
                "the export itself into the folder."
            )
            return False
        reason = incomplete_reason(path)
        if reason is None:
            self._done[path] = snap
            self._retry_at.pop(path, None)
            return True
        if quiet_s >= self.give_up_s:
            self._done[path] = snap
            self.report(
                f"{path.name} is still incomplete after {quiet_s:.0f} s without change "
                f"({reason}); it is not ingested: copy the file again, or remove it."
            )
        return False


def watch(
    folder: Path,
    handle: Callable[[list[Path]], None],
    *,
    interval_s: float = 0.5,
    timing: WatchTiming | None = None,
    report: Report = logger.warning,
    should_stop: Callable[[], bool] = lambda: False,
) -> None:
    """Poll ``folder`` until ``should_stop()``; hand each batch of complete files to ``handle``.

    ``handle`` reports per-file outcomes itself; what it raises is reported here in one line
    (see the module docstring for what is retried), and the loop goes on.
    """
    times = timing or WatchTiming()
    watcher = FolderWatcher(folder, times.settle_s, times.give_up_s, report)
    while not should_stop():
        batch = watcher.ready()
        if batch:
            _hand_over(watcher, batch, handle, times.retry_s, report)
        time.sleep(interval_s)


def _hand_over(
    watcher: FolderWatcher,
    batch: list[Path],
    handle: Callable[[list[Path]], None],
    retry_s: float,
    report: Report,
) -> None:
    names = ", ".join(path.name for path in batch)
    try:
        handle(batch)
    except TransientError as exc:
        watcher.retry_later(batch, retry_s)
        report(f"{names}: not ingested yet ({exc}); trying again in {retry_s:g} s")
    except TradelakeError as exc:
        report(f"{names}: not ingested ({exc}); they are retried when they change")
    except Exception as exc:  # a bug must not stop the watch; the log has the traceback
        logger.exception("watch: ingesting %s failed", names)
        report(
            f"{names}: not ingested (unexpected {type(exc).__name__}: {exc}); a bug: report it "
            "with the log. They are retried when they change."
        )


def _snapshot(path: Path) -> Snapshot | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return (stat.st_size, stat.st_mtime_ns)
