"""The staged files this process wrote itself, kept in memory for the refresh that follows.

An ingest stages an export and then refreshes the feature store, which needs those same rows
(natural keys to decide whether ``main.<latest>`` can stay a view, fills for the round trips).
Reading back hundreds of just-written partition files costs about a tenth of a second per
table at 200,000 fills; handing over the frames costs nothing. A frame is only used while the
file on disk is still the one this process wrote (same size and modification time): a file
replaced by another process, or by replay, is read from disk. Bounded by rows, oldest first out.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import polars as pl

DEFAULT_ROWS = 1_000_000


def file_stamp(path: Path) -> str:
    """``size:mtime_ns``: how the feature store tells a rewritten file from the one it saw."""
    stat = path.stat()
    return f"{stat.st_size}:{stat.st_mtime_ns}"


class RecentParts:
    """A thread-safe, row-bounded map of staged file path -> (stamp, frame) for one process."""

    def __init__(self, max_rows: int = DEFAULT_ROWS) -> None:
        self.max_rows = max_rows
        self._parts: OrderedDict[str, tuple[str, pl.DataFrame]] = OrderedDict()
        self._rows = 0
        self._lock = threading.Lock()

    def remember(self, path: Path, frame: pl.DataFrame) -> None:
        """Keep ``frame`` as the content of ``path``, just written (too large: not kept)."""
        if frame.height > self.max_rows:
            return
        entry = (file_stamp(path), frame)
        with self._lock:
            self._drop(str(path))
            self._parts[str(path)] = entry
            self._rows += frame.height
            while self._rows > self.max_rows:
                self._drop(next(iter(self._parts)))

    def forget(self, path: Path) -> None:
        with self._lock:
            self._drop(str(path))

    def read(self, paths: Sequence[str | Path], columns: Sequence[str]) -> pl.DataFrame:
        """``columns`` of every row of ``paths`` (in no particular order): from memory where the
        file is still the one remembered, else from disk (one multi-file read)."""
        with self._lock:
            known = {str(p): self._parts.get(str(p)) for p in paths}
        pieces: list[pl.DataFrame] = []
        unknown: list[str] = []
        for path, entry in known.items():
            if entry is not None and entry[0] == file_stamp(Path(path)):
                pieces.append(entry[1].select(columns))
            else:
                unknown.append(path)
        if unknown:
            pieces.append(pl.read_parquet(unknown, columns=list(columns), hive_partitioning=False))
        return pl.concat(pieces, how="vertical", rechunk=False) if pieces else pl.DataFrame()

    def _drop(self, key: str) -> None:
        entry = self._parts.pop(key, None)
        if entry is not None:
            self._rows -= entry[1].height
