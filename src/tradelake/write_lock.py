"""The data home's write lock: one writer at a time stages, marks and refreshes.

Two ``tradelake ingest`` processes (or an ingest and a replay) that overlap would assign
versions against each other's half-staged files and publish the feature store over each other.
The writer therefore holds an exclusive ``flock(2)`` on ``<home>/.tradelake.lock`` from before it
stages until the refresh that serves its files has been published. A second writer waits,
saying once who holds the lock, and gives up after ``[features] lock_timeout`` seconds with a
:class:`WriteLockTimeout` (a :class:`~tradelake.errors.StoreBusyError`, transient: running it
again later works). Readers never take it: they read the last published catalog (see
:mod:`tradelake.features.catalog`).

The kernel releases a ``flock`` when its holder exits, however it exits (``kill -9``
included), so a crashed writer never leaves the home locked. The holder's pid and command are
written into the lock file only to name it in the waiting message.
"""

from __future__ import annotations

import fcntl
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tradelake.errors import StoreBusyError

LOCK_FILE = ".tradelake.lock"
POLL_S = 0.05


class WriteLockTimeout(StoreBusyError):
    """Another process kept the data home's write lock longer than the configured timeout
    (transient: the watcher and the scheduler retry the batch later)."""


class WriteLock:
    """An exclusive, re-entrant (within one object) cross-process lock on one data home."""

    def __init__(
        self,
        path: Path,
        *,
        timeout_s: float,
        notify: Callable[[str], None] | None = None,
    ) -> None:
        self.path = Path(path)
        self.timeout_s = timeout_s
        self.notify = notify or _stderr_line
        self._depth = 0
        self._fd: int | None = None
        self._guard = threading.RLock()

    @contextmanager
    def held(self) -> Iterator[None]:
        """Hold the lock for the block (waiting for another holder first, see the module)."""
        with self._guard:
            if self._depth == 0:
                self._fd = self._acquire()
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0 and self._fd is not None:
                    fd, self._fd = self._fd, None
                    os.close(fd)  # closing the descriptor releases the flock

    def _acquire(self) -> int:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            if not _try_lock(fd):
                self._wait(fd)
            os.ftruncate(fd, 0)
            os.pwrite(fd, _holder().encode(), 0)
            return fd
        except BaseException:
            os.close(fd)
            raise

    def _wait(self, fd: int) -> None:
        holder = _read_holder(self.path)
        self.notify(
            f"waiting for {holder} to finish writing {self.path.parent} "
            f"(up to {self.timeout_s:g} s)"
        )
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            time.sleep(POLL_S)
            if _try_lock(fd):
                return
        raise WriteLockTimeout(
            f"{self.path.parent} is still being written by {holder} after {self.timeout_s:g} s; "
            "run the command again when it is done, or raise [features] lock_timeout "
            "(TRADELAKE_FEATURES__LOCK_TIMEOUT)."
        )


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _holder() -> str:
    command = " ".join(os.path.basename(a) if i == 0 else a for i, a in enumerate(sys.argv))
    return f"pid {os.getpid()} ({command[:200]})"


def _read_holder(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        text = ""
    return text or "another tradelake process"


def _stderr_line(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()
